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

/* Contrast maps are computed at half the scene's side from 64 px up: a fixation map
 * needs no finer detail, and it is four times less work. */
static int work_side(int s) {
    return s >= 64 ? s / 2 : s;
}

size_t env_saliency_work_floats(int s) {
    size_t d = (size_t)work_side(s), d2 = d * d;
    size_t contrast = 8 * d2 + d + 64;
    size_t spectral = (size_t)s * s + 4 * SR_SIDE * SR_SIDE + 64;
    return contrast > spectral ? contrast : spectral;
}

/* 16 floats per operation (see envs/saccade_glimpse.c); n need not be a multiple. */
typedef float V16f __attribute__((vector_size(64)));

/* a += sign * b with sign +1 or -1: adds or subtracts b exactly (the product is exact). */
static void vec_acc(float *a, const float *b, float sign, int n) {
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        V16f x, y;
        memcpy(&x, a + k, sizeof x);
        memcpy(&y, b + k, sizeof y);
        x += sign * y;
        memcpy(a + k, &x, sizeof x);
    }
    for (; k < n; k++)
        a[k] += sign * b[k];
}

static void vec_scale(float *out, const float *a, float c, int n) {
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        V16f x;
        memcpy(&x, a + k, sizeof x);
        x *= c;
        memcpy(out + k, &x, sizeof x);
    }
    for (; k < n; k++)
        out[k] = a[k] * c;
}

/* Mean over the (2r+1)-tall window clipped to the image, down the columns of a d x d map,
 * with a running sum over rows (in -> out, acc: d floats). The clipped mean treats the
 * border like the inside, so edges are not salient by themselves. */
static void box_cols(const float *in, float *out, int d, int r, float *acc) {
    memset(acc, 0, sizeof(float) * (size_t)d);
    int top = 0, bot = 0; /* rows [top, bot) are in acc */
    for (int y = 0; y < d; y++) {
        int lo = y - r < 0 ? 0 : y - r, hi = y + r + 1 > d ? d : y + r + 1;
        for (; bot < hi; bot++)
            vec_acc(acc, in + (size_t)bot * d, 1.0f, d);
        for (; top < lo; top++)
            vec_acc(acc, in + (size_t)top * d, -1.0f, d);
        vec_scale(out + (size_t)y * d, acc, 1.0f / (float)(hi - lo), d);
    }
}

static void transpose(const float *in, float *out, int d) {
    for (int y0 = 0; y0 < d; y0 += 8)
        for (int x0 = 0; x0 < d; x0 += 8)
            for (int y = y0; y < y0 + 8 && y < d; y++)
                for (int x = x0; x < x0 + 8 && x < d; x++)
                    out[(size_t)x * d + y] = in[(size_t)y * d + x];
}

/* Two box passes per axis: a tent-shaped blur of radius 2r, close to a Gaussian (r = 0:
 * a copy). Columns, then the transpose's columns. */
static void blur(const float *in, float *out, float *tmp, float *acc, int d, int r) {
    if (r == 0) {
        memcpy(out, in, sizeof(float) * (size_t)d * d);
        return;
    }
    box_cols(in, tmp, d, r, acc);
    box_cols(tmp, out, d, r, acc);
    transpose(out, tmp, d);
    box_cols(tmp, out, d, r, acc);
    box_cols(out, tmp, d, r, acc);
    transpose(tmp, out, d);
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

/* Area average of an s x s map down to d x d (s >= d). */
static void shrink_gray(const float *in, int s, float *out, int d) {
    if (s == 2 * d) {
        for (int i = 0; i < d; i++) {
            const float *a = in + (size_t)2 * i * s, *b = a + s;
            for (int j = 0; j < d; j++)
                out[(size_t)i * d + j] =
                    0.25f * (a[2 * j] + a[2 * j + 1] + b[2 * j] + b[2 * j + 1]);
        }
        return;
    }
    double sc = (double)s / d;
    for (int i = 0; i < d; i++) {
        double ylo = i * sc, yhi = (i + 1) * sc;
        for (int j = 0; j < d; j++) {
            double xlo = j * sc, xhi = (j + 1) * sc, acc = 0;
            for (int y = (int)ylo; y < s && y < yhi; y++) {
                double wy = (y + 1.0 < yhi ? y + 1.0 : yhi) - (y > ylo ? y : ylo);
                for (int x = (int)xlo; x < s && x < xhi; x++) {
                    double wx = (x + 1.0 < xhi ? x + 1.0 : xhi) - (x > xlo ? x : xlo);
                    acc += wy * wx * in[(size_t)y * s + x];
                }
            }
            out[(size_t)i * d + j] = (float)(acc / (sc * sc));
        }
    }
}

/* Bilinear between pixel centres with clamped edges, single channel, m x m -> d x d
 * (d <= 1024). */
static void resize_gray(const float *in, int m, float *out, int d) {
    int x0[1024], x1[1024];
    float wx[1024];
    double sc = (double)m / d;
    WM_ASSERT(d <= 1024);
    for (int j = 0; j < d; j++) {
        double px = (j + 0.5) * sc - 0.5, fx = floor(px);
        int a = (int)fx, b = a + 1;
        wx[j] = (float)(px - fx);
        x0[j] = a < 0 ? 0 : a > m - 1 ? m - 1 : a;
        x1[j] = b < 0 ? 0 : b > m - 1 ? m - 1 : b;
    }
    for (int i = 0; i < d; i++) {
        double py = (i + 0.5) * sc - 0.5, fy = floor(py);
        int y0 = (int)fy, y1 = y0 + 1;
        float wy = (float)(py - fy);
        y0 = y0 < 0 ? 0 : y0 > m - 1 ? m - 1 : y0;
        y1 = y1 < 0 ? 0 : y1 > m - 1 ? m - 1 : y1;
        const float *r0 = in + (size_t)y0 * m, *r1 = in + (size_t)y1 * m;
        float *o = out + (size_t)i * d;
        for (int j = 0; j < d; j++) {
            float a = r0[x0[j]] + (r0[x1[j]] - r0[x0[j]]) * wx[j];
            float b = r1[x0[j]] + (r1[x1[j]] - r1[x0[j]]) * wx[j];
            o[j] = a + (b - a) * wy;
        }
    }
}

/* Colour and intensity contrast energy across scales: for each channel (intensity,
 * red-green, blue-yellow) the squared differences between two centre scales and three
 * surrounds (two local, and the whole scene's mean), each channel's map weighted by how
 * peaked it is. Squaring makes the map's mass follow strong contrast: a lone bright
 * object gets most of it, its thin halo little. Radii are in work pixels, for a 96 px
 * scene worked at 48: centres 0 (the pixel) and 1, surrounds 4 and 8 (tent blurs). */
static void saliency_contrast(const uint8_t *img, int s, float *out, float *work) {
    int d = work_side(s);
    size_t n = (size_t)s * s, m = (size_t)d * d;
    float *chan = work, *tmp = work + m, *fmap = work + 2 * m, *total = work + 7 * m, *b[4];
    float *acc = work + 8 * m;
    for (int k = 0; k < 4; k++)
        b[k] = work + (3 + k) * m;
    const double r48[4] = {0, 1, 4, 8};
    int rad[4];
    for (int k = 0; k < 4; k++) {
        rad[k] = (int)lrint(r48[k] * d / 48.0);
        if (k > 0 && rad[k] < 1) rad[k] = 1;
    }
    memset(total, 0, sizeof(float) * m);
    for (int c = 0; c < 3; c++) {
        /* The channel at full size (in `out`, free until the end), then at work size. */
        float *full = d == s ? chan : out;
        for (size_t i = 0; i < n; i++) {
            float r = img[3 * i] * (1.0f / 255), g = img[3 * i + 1] * (1.0f / 255),
                  bl = img[3 * i + 2] * (1.0f / 255);
            full[i] = c == 0 ? (r + g + bl) * (1.0f / 3) : c == 1 ? r - g : bl - 0.5f * (r + g);
        }
        if (d != s) shrink_gray(out, s, chan, d);
        double mean = 0;
        for (size_t i = 0; i < m; i++)
            mean += chan[i];
        float gm = (float)(mean / m);
        for (int k = 0; k < 4; k++)
            blur(chan, b[k], tmp, acc, d, rad[k]);
        for (size_t i = 0; i < m; i++) {
            float e = 0;
            for (int k = 0; k < 2; k++) {
                float d1 = b[k][i] - b[2][i], d2 = b[k][i] - b[3][i], d3 = b[k][i] - gm;
                e += d1 * d1 + d2 * d2 + d3 * d3;
            }
            fmap[i] = e;
        }
        normalise_add(fmap, total, m);
    }
    blur(total, fmap, tmp, acc, d, 1);
    if (d != s)
        resize_gray(fmap, d, out, s);
    else
        memcpy(out, fmap, sizeof(float) * n);
    to_distribution(out, n);
}

/* In-place radix-2 FFT of length SR_SIDE over elements `stride` apart, with the
 * twiddles tw (cos, sin of -2 pi k / SR_SIDE, k < SR_SIDE/2); conjugated when inverse
 * (unscaled). */
static void fft64(float *re, float *im, int stride, const float (*tw)[2], int inverse) {
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
        int step = n / len;
        for (int k = 0; k < len / 2; k++) {
            float wr = tw[k * step][0], wi = inverse ? -tw[k * step][1] : tw[k * step][1];
            for (int i = k; i < n; i += len) {
                int a = i * stride, b = (i + len / 2) * stride;
                float xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
                re[b] = re[a] - xr, im[b] = im[a] - xi;
                re[a] += xr, im[a] += xi;
            }
        }
    }
}

static void fft2(float *re, float *im, const float (*tw)[2], int inverse) {
    for (int r = 0; r < SR_SIDE; r++)
        fft64(re + r * SR_SIDE, im + r * SR_SIDE, 1, tw, inverse);
    for (int c = 0; c < SR_SIDE; c++)
        fft64(re + c, im + c, SR_SIDE, tw, inverse);
}

/* Hou & Zhang's spectral residual: at 64 x 64, the log amplitude spectrum minus its 3x3
 * local mean, recombined with the original phase, back-transformed and squared, then
 * smoothed (5 x 5, as OpenCV's implementation) and resized to the scene. */
static void saliency_spectral(const uint8_t *img, int s, float *out, float *work) {
    const int d = SR_SIDE, dd = SR_SIDE * SR_SIDE;
    size_t n = (size_t)s * s;
    float *gray = work, *re = work + n, *im = re + dd, *la = im + dd, *sm = la + dd;
    float *acc = sm + dd;
    float tw[SR_SIDE / 2][2];
    for (int k = 0; k < SR_SIDE / 2; k++) {
        tw[k][0] = (float)cos(-2 * M_PI * k / SR_SIDE);
        tw[k][1] = (float)sin(-2 * M_PI * k / SR_SIDE);
    }
    for (size_t i = 0; i < n; i++)
        gray[i] = (img[3 * i] + img[3 * i + 1] + img[3 * i + 2]) * (1.0f / 765);
    if (s >= d)
        shrink_gray(gray, s, re, d);
    else
        resize_gray(gray, s, re, d);
    memset(im, 0, sizeof(float) * dd);
    fft2(re, im, (const float(*)[2])tw, 0);
    for (int i = 0; i < dd; i++)
        la[i] = logf(hypotf(re[i], im[i]) + 1e-8f);
    /* Residual = log amplitude minus its 3x3 local mean (the spectrum wraps around); the
     * new spectrum keeps the phase: F * exp(residual) / |F|. */
    for (int y = 0; y < d; y++) {
        for (int x = 0; x < d; x++) {
            float mean = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                    mean += la[((y + dy + d) % d) * d + (x + dx + d) % d];
            int i = y * d + x;
            float amp = expf(la[i]), scale = amp > 0 ? expf(la[i] - mean / 9) / amp : 0;
            sm[i] = scale;
        }
    }
    for (int i = 0; i < dd; i++)
        re[i] *= sm[i], im[i] *= sm[i];
    fft2(re, im, (const float(*)[2])tw, 1);
    for (int i = 0; i < dd; i++)
        la[i] = re[i] * re[i] + im[i] * im[i];
    blur(la, sm, re, acc, d, 1);
    resize_gray(sm, d, out, s);
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
