/* Glimpse sampling (bilinear, zero outside the scene) and image resampling for the
 * saccade world. The sampling convention is written out in envs/saccade.h and matched by
 * tests/ref/saccade_ref.py. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "envs/saccade.h"

/* Widest window and output the stack buffers below hold (config caps both at 512). */
#define GLIMPSE_MAX 1024

static inline uint8_t to_u8(float v) {
    v = v < 0 ? 0 : v > 255 ? 255 : v;
    return (uint8_t)(v + 0.5f);
}

/* t[k] = wa * a[k] + wb * b[k] over m values; a row that lies outside is NULL (zero). */
static void blend_rows(float *restrict t, const uint8_t *restrict a, const uint8_t *restrict b,
                       float wa, float wb, int m) {
    if (a && b) {
        for (int k = 0; k < m; k++)
            t[k] = wa * (float)a[k] + wb * (float)b[k];
    } else if (a) {
        for (int k = 0; k < m; k++)
            t[k] = wa * (float)a[k];
    } else if (b) {
        for (int k = 0; k < m; k++)
            t[k] = wb * (float)b[k];
    } else {
        memset(t, 0, sizeof(float) * (size_t)m);
    }
}

/* n == f: every output pixel has the same sub-pixel offset, so the weights are four
 * constants and both passes are straight vector loops. */
static void glimpse_translate(const uint8_t *img, int s, double y, double x, int f, uint8_t *out) {
    double oy = y - 0.5 * f, ox = x - 0.5 * f; /* sample i sits at pixel index oy + i */
    double fy = floor(oy), fx = floor(ox);
    if (fy < -f - 1 || fy > s || fx < -f - 1 || fx > s) {
        memset(out, 0, (size_t)f * f * 3);
        return;
    }
    int r0 = (int)fy, c0 = (int)fx;
    float wb = (float)(oy - fy), wa = 1.0f - wb;
    float bx = (float)(ox - fx), ax = 1.0f - bx;
    /* Columns c0 .. c0+f of the blended row; those outside the scene stay zero. */
    float tmp[3 * (GLIMPSE_MAX + 1)];
    int lo = c0 < 0 ? 0 : c0, hi = c0 + f < s - 1 ? c0 + f : s - 1;
    int off = 3 * (lo - c0), m = 3 * (hi - lo + 1);
    for (int i = 0; i < f; i++) {
        uint8_t *o = out + (size_t)i * f * 3;
        int ra = r0 + i, rb = ra + 1;
        const uint8_t *pa = ra >= 0 && ra < s ? img + ((size_t)ra * s + lo) * 3 : NULL;
        const uint8_t *pb = rb >= 0 && rb < s ? img + ((size_t)rb * s + lo) * 3 : NULL;
        if ((!pa && !pb) || m <= 0) {
            memset(o, 0, (size_t)f * 3);
            continue;
        }
        memset(tmp, 0, sizeof(float) * 3 * (size_t)(f + 1));
        blend_rows(tmp + off, pa, pb, wa, wb, m);
        for (int k = 0; k < 3 * f; k++)
            o[k] = to_u8(ax * tmp[k] + bx * tmp[k + 3]);
    }
}

void env_saccade_glimpse(const uint8_t *img, int s, double y, double x, int f, int n,
                         uint8_t *out) {
    WM_ASSERT(s > 0 && f > 0 && n > 0 && f <= GLIMPSE_MAX && n <= GLIMPSE_MAX);
    if (n == f) {
        glimpse_translate(img, s, y, x, f, out);
        return;
    }
    double step = (double)f / n;
    double oy = y - 0.5 * f + 0.5 * step - 0.5, ox = x - 0.5 * f + 0.5 * step - 0.5;
    double cfirst = floor(ox), rfirst = floor(oy);
    if (cfirst < -f - 2 || cfirst > s + 1 || rfirst < -f - 2 || rfirst > s + 1) {
        memset(out, 0, (size_t)n * n * 3);
        return;
    }
    /* Per output column: its left neighbour relative to column cbase, and the weight of
     * the right one. Offsets grow with j and stay within [0, f]. */
    int cbase = (int)cfirst;
    int cidx[GLIMPSE_MAX];
    float cw[GLIMPSE_MAX];
    for (int j = 0; j < n; j++) {
        double p = ox + j * step, c = floor(p);
        cw[j] = (float)(p - c);
        cidx[j] = (int)c - cbase;
    }
    /* The blended row spans columns cbase .. cbase + span; outside the scene it is zero. */
    int span = cidx[n - 1] + 1;
    WM_ASSERT(cidx[0] == 0 && span <= GLIMPSE_MAX + 1);
    float tmp[3 * (GLIMPSE_MAX + 2)];
    int lo = cbase < 0 ? 0 : cbase, hi = cbase + span < s - 1 ? cbase + span : s - 1;
    int off = 3 * (lo - cbase), m = 3 * (hi - lo + 1);
    for (int i = 0; i < n; i++) {
        uint8_t *o = out + (size_t)i * n * 3;
        double p = oy + i * step, r = floor(p);
        int ra = (int)r, rb = ra + 1;
        const uint8_t *pa = ra >= 0 && ra < s ? img + ((size_t)ra * s + lo) * 3 : NULL;
        const uint8_t *pb = rb >= 0 && rb < s ? img + ((size_t)rb * s + lo) * 3 : NULL;
        if ((!pa && !pb) || m <= 0) {
            memset(o, 0, (size_t)n * 3);
            continue;
        }
        float wb = (float)(p - r), wa = 1.0f - wb;
        memset(tmp, 0, sizeof(float) * 3 * (size_t)(span + 1));
        blend_rows(tmp + off, pa, pb, wa, wb, m);
        for (int j = 0; j < n; j++) {
            const float *t = tmp + 3 * cidx[j];
            float w1 = cw[j], w0 = 1.0f - w1;
            for (int ch = 0; ch < 3; ch++)
                o[3 * j + ch] = to_u8(w0 * t[ch] + w1 * t[3 + ch]);
        }
    }
}

/* One axis of a resampling: output i is the weighted sum of `count` inputs from `first`. */
typedef struct {
    int first, count;
    float *w; /* count weights */
} Taps;

/* Area averaging when shrinking m -> d (each output integrates its footprint), bilinear
 * between pixel centres with edges clamped when growing. */
static float *taps_build(int m, int d, Taps *t) {
    double sc = (double)m / d;
    int maxc = sc > 1 ? (int)ceil(sc) + 1 : 2;
    float *w = wm_new(float, (size_t)d *maxc);
    for (int i = 0; i < d; i++) {
        t[i].w = w + (size_t)i * maxc;
        if (sc > 1) {
            double lo = i * sc, hi = (i + 1) * sc;
            int p0 = (int)floor(lo), p1 = (int)ceil(hi);
            if (p1 > m) p1 = m;
            t[i].first = p0;
            t[i].count = p1 - p0;
            WM_ASSERT(t[i].count <= maxc);
            for (int p = p0; p < p1; p++) {
                double ov = fmin(hi, p + 1.0) - fmax(lo, (double)p);
                t[i].w[p - p0] = (float)(ov / sc);
            }
        } else {
            double p = (i + 0.5) * sc - 0.5, c = floor(p);
            int a = (int)c, b = a + 1;
            float wb = (float)(p - c);
            if (a < 0) a = 0;
            if (b > m - 1) b = m - 1;
            if (a > m - 1) a = m - 1;
            t[i].first = a;
            t[i].count = b - a + 1;
            if (t[i].count == 1) {
                t[i].w[0] = 1.0f;
            } else {
                t[i].w[0] = 1.0f - wb;
                t[i].w[1] = wb;
            }
        }
    }
    return w;
}

void env_saccade_resample(const uint8_t *in, int sw, int sh, uint8_t *out, int d) {
    int m = sw < sh ? sw : sh;
    int ox = (sw - m) / 2, oy = (sh - m) / 2;
    Taps *tx = wm_new(Taps, (size_t)d), *ty = wm_new(Taps, (size_t)d);
    float *wx = taps_build(m, d, tx), *wy = taps_build(m, d, ty);
    /* Horizontal pass over the rows of the crop, then vertical. */
    float *h = wm_new(float, (size_t)m *d * 3);
    for (int r = 0; r < m; r++) {
        const uint8_t *row = in + ((size_t)(oy + r) * sw + ox) * 3;
        float *hr = h + (size_t)r * d * 3;
        for (int j = 0; j < d; j++) {
            float acc[3] = {0, 0, 0};
            for (int k = 0; k < tx[j].count; k++) {
                const uint8_t *p = row + (size_t)(tx[j].first + k) * 3;
                for (int ch = 0; ch < 3; ch++)
                    acc[ch] += tx[j].w[k] * (float)p[ch];
            }
            for (int ch = 0; ch < 3; ch++)
                hr[3 * j + ch] = acc[ch];
        }
    }
    for (int i = 0; i < d; i++) {
        for (int j = 0; j < d; j++) {
            float acc[3] = {0, 0, 0};
            for (int k = 0; k < ty[i].count; k++) {
                const float *p = h + ((size_t)(ty[i].first + k) * d + j) * 3;
                for (int ch = 0; ch < 3; ch++)
                    acc[ch] += ty[i].w[k] * p[ch];
            }
            for (int ch = 0; ch < 3; ch++)
                out[((size_t)i * d + j) * 3 + ch] = to_u8(acc[ch]);
        }
    }
    wm_free(h);
    wm_free(wx);
    wm_free(wy);
    wm_free(tx);
    wm_free(ty);
}
