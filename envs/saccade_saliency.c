/* Bottom-up saliency maps for the saccade world: centre-surround contrast energy
 * (intensity and two colour-opponent channels) or the spectral residual, as probability
 * maps. */
#include <math.h>
#include <string.h>

#include "core/err.h"
#include "envs/saccade.h"

#define SR_SIDE 64 /* the spectral residual works at this resolution, as Hou & Zhang */
/* Share of the mass spread evenly, so every pixel can be fixated. */
#define SAL_FLOOR 1e-3

size_t env_saliency_work_floats(int s) {
    size_t s2 = (size_t)s * s;
    size_t contrast = 8 * s2;
    size_t spectral = s2 + 4 * SR_SIDE * SR_SIDE;
    return contrast > spectral ? contrast : spectral;
}

/* Mean over the (2r+1)-wide window clipped to the image, along rows (in -> out). The
 * clipped mean treats the border like the inside, so edges are not salient by
 * themselves. */
static void box_rows(const float *in, float *out, int w, int h, int r) {
    double pre[1025];
    WM_ASSERT(w <= 1024);
    for (int y = 0; y < h; y++) {
        const float *a = in + (size_t)y * w;
        float *o = out + (size_t)y * w;
        pre[0] = 0;
        for (int x = 0; x < w; x++)
            pre[x + 1] = pre[x] + a[x];
        for (int x = 0; x < w; x++) {
            int lo = x - r < 0 ? 0 : x - r, hi = x + r + 1 > w ? w : x + r + 1;
            o[x] = (float)((pre[hi] - pre[lo]) / (hi - lo));
        }
    }
}

/* The same along columns, with a running sum over rows so memory is read in order. */
static void box_cols(const float *in, float *out, int w, int h, int r) {
    double acc[1024];
    WM_ASSERT(w <= 1024);
    for (int x = 0; x < w; x++)
        acc[x] = 0;
    int top = 0, bot = 0; /* rows [top, bot) are in acc */
    for (int y = 0; y < h; y++) {
        int lo = y - r < 0 ? 0 : y - r, hi = y + r + 1 > h ? h : y + r + 1;
        for (; bot < hi; bot++)
            for (int x = 0; x < w; x++)
                acc[x] += in[(size_t)bot * w + x];
        for (; top < lo; top++)
            for (int x = 0; x < w; x++)
                acc[x] -= in[(size_t)top * w + x];
        double inv = 1.0 / (hi - lo);
        for (int x = 0; x < w; x++)
            out[(size_t)y * w + x] = (float)(acc[x] * inv);
    }
}

/* Two box passes per axis: a tent-shaped blur of radius 2r, close to a Gaussian. */
static void blur(const float *in, float *out, float *tmp, int w, int h, int r) {
    box_rows(in, tmp, w, h, r);
    box_rows(tmp, out, w, h, r);
    box_cols(out, tmp, w, h, r);
    box_cols(tmp, out, w, h, r);
}

/* Scales a feature map to peak 1 and weights it by (1 - mean/max)^2 (after Itti & Koch's
 * normalisation): a map with one strong peak counts fully, a map busy everywhere counts
 * little. Adds into acc. */
static void normalise_add(const float *m, float *acc, size_t count) {
    float mx = 0;
    double sum = 0;
    for (size_t i = 0; i < count; i++) {
        if (m[i] > mx) mx = m[i];
        sum += m[i];
    }
    if (mx <= 1e-6f) return;
    double mean = sum / count;
    double g = (1 - mean / mx) * (1 - mean / mx) / mx;
    for (size_t i = 0; i < count; i++)
        acc[i] += (float)(g * m[i]);
}

/* Turns a non-negative map into a distribution with a small even floor. */
static void to_distribution(float *m, size_t count) {
    double sum = 0;
    for (size_t i = 0; i < count; i++)
        sum += m[i] > 0 ? m[i] : 0;
    double even = 1.0 / count;
    if (!(sum > 0)) {
        for (size_t i = 0; i < count; i++)
            m[i] = (float)even;
        return;
    }
    double a = (1 - SAL_FLOOR) / sum, b = SAL_FLOOR * even;
    double total = 0;
    for (size_t i = 0; i < count; i++) {
        m[i] = (float)((m[i] > 0 ? m[i] : 0) * a + b);
        total += m[i];
    }
    /* The float rounding leaves the sum within a few ulps of 1; fold it back in. */
    float fix = (float)(1.0 / total);
    for (size_t i = 0; i < count; i++)
        m[i] *= fix;
}

static int scaled_radius(int s, double r96) {
    int r = (int)lrint(r96 * s / 96.0);
    return r < 1 ? 1 : r;
}

/* Colour and intensity contrast energy across scales: for each channel (intensity,
 * red-green, blue-yellow) the squared differences between two centre scales and three
 * surrounds (two local, and the whole scene's mean), each channel's map weighted by how
 * peaked it is. Squaring makes the map's mass follow strong contrast: a lone bright
 * object gets most of it, its thin halo little. */
static void saliency_contrast(const uint8_t *img, int s, float *out, float *work) {
    size_t n = (size_t)s * s;
    float *chan = work, *tmp = work + n, *fmap = work + 2 * n, *b[4];
    for (int k = 0; k < 4; k++)
        b[k] = work + (3 + k) * n;
    /* Centre radii 1, 2 and surround radii 8, 16 at 96 px, scaled with the scene. */
    const int rad[4] = {scaled_radius(s, 1), scaled_radius(s, 2), scaled_radius(s, 8),
                        scaled_radius(s, 16)};
    memset(out, 0, sizeof(float) * n);
    for (int c = 0; c < 3; c++) {
        double mean = 0;
        for (size_t i = 0; i < n; i++) {
            float r = img[3 * i] * (1.0f / 255), g = img[3 * i + 1] * (1.0f / 255),
                  bl = img[3 * i + 2] * (1.0f / 255);
            chan[i] = c == 0 ? (r + g + bl) / 3 : c == 1 ? r - g : bl - (r + g) / 2;
            mean += chan[i];
        }
        float gm = (float)(mean / n);
        for (int k = 0; k < 4; k++)
            blur(chan, b[k], tmp, s, s, rad[k]);
        for (size_t i = 0; i < n; i++) {
            float acc = 0;
            for (int k = 0; k < 2; k++) {
                float d1 = b[k][i] - b[2][i], d2 = b[k][i] - b[3][i], d3 = b[k][i] - gm;
                acc += d1 * d1 + d2 * d2 + d3 * d3;
            }
            fmap[i] = acc;
        }
        normalise_add(fmap, out, n);
    }
    blur(out, fmap, tmp, s, s, rad[0]);
    memcpy(out, fmap, sizeof(float) * n);
    to_distribution(out, n);
}

/* In-place radix-2 FFT of length SR_SIDE over elements `stride` apart; inverse when
 * sign > 0 (unscaled). */
static void fft64(float *re, float *im, int stride, int sign) {
    const int n = SR_SIDE;
    for (int i = 1, j = 0; i < n; i++) {
        int bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            float t = re[i * stride];
            re[i * stride] = re[j * stride], re[j * stride] = t;
            t = im[i * stride];
            im[i * stride] = im[j * stride], im[j * stride] = t;
        }
    }
    for (int len = 2; len <= n; len <<= 1) {
        double ang = sign * 2 * M_PI / len;
        for (int k = 0; k < len / 2; k++) {
            float wr = (float)cos(ang * k), wi = (float)sin(ang * k);
            for (int i = k; i < n; i += len) {
                int a = i * stride, b = (i + len / 2) * stride;
                float xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
                re[b] = re[a] - xr, im[b] = im[a] - xi;
                re[a] += xr, im[a] += xi;
            }
        }
    }
}

static void fft2(float *re, float *im, int sign) {
    for (int r = 0; r < SR_SIDE; r++)
        fft64(re + r * SR_SIDE, im + r * SR_SIDE, 1, sign);
    for (int c = 0; c < SR_SIDE; c++)
        fft64(re + c, im + c, SR_SIDE, sign);
}

/* Bilinear between pixel centres with clamped edges, single channel, m x m -> d x d. */
static void resize_gray(const float *in, int m, float *out, int d) {
    double sc = (double)m / d;
    for (int i = 0; i < d; i++) {
        double py = (i + 0.5) * sc - 0.5, fy = floor(py);
        int y0 = (int)fy, y1 = y0 + 1;
        float wy = (float)(py - fy);
        y0 = y0 < 0 ? 0 : y0 > m - 1 ? m - 1 : y0;
        y1 = y1 < 0 ? 0 : y1 > m - 1 ? m - 1 : y1;
        for (int j = 0; j < d; j++) {
            double px = (j + 0.5) * sc - 0.5, fx = floor(px);
            int x0 = (int)fx, x1 = x0 + 1;
            float wx = (float)(px - fx);
            x0 = x0 < 0 ? 0 : x0 > m - 1 ? m - 1 : x0;
            x1 = x1 < 0 ? 0 : x1 > m - 1 ? m - 1 : x1;
            float a = in[y0 * m + x0] * (1 - wx) + in[y0 * m + x1] * wx;
            float b = in[y1 * m + x0] * (1 - wx) + in[y1 * m + x1] * wx;
            out[(size_t)i * d + j] = a * (1 - wy) + b * wy;
        }
    }
}

/* Area average of an s x s map down to d x d (s >= d). */
static void shrink_gray(const float *in, int s, float *out, int d) {
    double sc = (double)s / d;
    for (int i = 0; i < d; i++) {
        double ylo = i * sc, yhi = (i + 1) * sc;
        for (int j = 0; j < d; j++) {
            double xlo = j * sc, xhi = (j + 1) * sc, acc = 0;
            for (int y = (int)ylo; y < s && y < yhi; y++) {
                double wy = fmin(yhi, y + 1.0) - fmax(ylo, (double)y);
                for (int x = (int)xlo; x < s && x < xhi; x++) {
                    double wx = fmin(xhi, x + 1.0) - fmax(xlo, (double)x);
                    acc += wy * wx * in[(size_t)y * s + x];
                }
            }
            out[i * d + j] = (float)(acc / (sc * sc));
        }
    }
}

static void saliency_spectral(const uint8_t *img, int s, float *out, float *work) {
    const int d = SR_SIDE, dd = SR_SIDE * SR_SIDE;
    size_t n = (size_t)s * s;
    float *gray = work, *re = work + n, *im = re + dd, *la = im + dd, *ph = la + dd;
    for (size_t i = 0; i < n; i++)
        gray[i] = (img[3 * i] + img[3 * i + 1] + img[3 * i + 2]) * (1.0f / 765);
    if (s >= d)
        shrink_gray(gray, s, re, d);
    else
        resize_gray(gray, s, re, d);
    memset(im, 0, sizeof(float) * dd);
    fft2(re, im, -1);
    for (int i = 0; i < dd; i++) {
        la[i] = logf(hypotf(re[i], im[i]) + 1e-8f);
        ph[i] = atan2f(im[i], re[i]);
    }
    /* Residual = log amplitude minus its 3x3 local mean (the spectrum wraps around). */
    for (int y = 0; y < d; y++) {
        for (int x = 0; x < d; x++) {
            float m = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                    m += la[((y + dy + d) % d) * d + (x + dx + d) % d];
            float r = la[y * d + x] - m / 9;
            float mag = expf(r);
            re[y * d + x] = mag * cosf(ph[y * d + x]);
            im[y * d + x] = mag * sinf(ph[y * d + x]);
        }
    }
    fft2(re, im, +1);
    for (int i = 0; i < dd; i++)
        la[i] = re[i] * re[i] + im[i] * im[i];
    blur(la, ph, re, d, d, 2);
    resize_gray(ph, d, out, s);
    to_distribution(out, n);
}

void env_saliency(const uint8_t *image, int s, int method, float *out, float *work) {
    WM_ASSERT(s >= 1 && s <= 1024);
    size_t n = (size_t)s * s;
    switch (method) {
    case ENV_SALIENCY_CONTRAST:
        saliency_contrast(image, s, out, work);
        break;
    case ENV_SALIENCY_SPECTRAL:
        saliency_spectral(image, s, out, work);
        break;
    default:
        WM_ASSERT(method == ENV_SALIENCY_UNIFORM);
        for (size_t i = 0; i < n; i++)
            out[i] = (float)(1.0 / n);
        break;
    }
}
