/* Glimpse sampling (bilinear, zero outside the scene) and image resampling for the
 * saccade world. The sampling convention is written out in envs/saccade.h and matched by
 * tests/ref/saccade_ref.py. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "envs/saccade.h"

/* Widest window and output the stack buffers below hold (the config caps both here). */
#define GLIMPSE_MAX 512

static inline uint8_t to_u8(float v) {
    v = v < 0 ? 0 : v > 255 ? 255 : v;
    return (uint8_t)(v + 0.5f);
}

/* GCC/Clang vector types, 16 values per operation: portable (the compiler splits them
 * into whatever registers the target has) and fully vectorised at -O2 on SSE2, including
 * the float -> int32 -> int16 -> uint8 narrowing (unpacks and packuswb). */
typedef float V16f __attribute__((vector_size(64)));
typedef int32_t V16i __attribute__((vector_size(64)));
typedef int16_t V16s __attribute__((vector_size(32)));
typedef uint8_t V16b __attribute__((vector_size(16)));

/* (Vectors go through pointers: passing 64-byte vectors by value would tie these
 * helpers to an ABI the target may not have.) */
static inline void blend2(float *out, const float *p, const float *q, float wp, float wq) {
    V16f a, b;
    memcpy(&a, p, sizeof a);
    memcpy(&b, q, sizeof b);
    a = wp * a + wq * b;
    memcpy(out, &a, sizeof a);
}
static inline void bytes_to_floats(float *out, const uint8_t *p) {
    V16b v;
    memcpy(&v, p, sizeof v);
    /* Widening in steps keeps it in vector registers (a direct byte -> float conversion
     * is done one lane at a time). */
    V16s h = __builtin_convertvector(v, V16s);
    V16f f = __builtin_convertvector(__builtin_convertvector(h, V16i), V16f);
    memcpy(out, &f, sizeof f);
}
/* Values are convex combinations of bytes with non-negative weights, so they lie in
 * [0, 255] up to a few ulps: adding one half and truncating rounds to nearest and stays
 * within [0, 255]. */
static inline void blend2_bytes(uint8_t *out, const float *p, const float *q, float wp, float wq) {
    V16f a, b;
    memcpy(&a, p, sizeof a);
    memcpy(&b, q, sizeof b);
    a = wp * a + wq * b + 0.5f;
    V16s h = __builtin_convertvector(__builtin_convertvector(a, V16i), V16s);
    V16b v = __builtin_convertvector(h, V16b);
    memcpy(out, &v, sizeof v);
}

/* Scene row r, columns from lo (m bytes), as floats at dst + off; zeros elsewhere up to
 * w16. */
static void window_row(float *dst, const uint8_t *img, int s, int r, int lo, int off, int m,
                       int w16) {
    if (r < 0 || r >= s || m <= 0) {
        memset(dst, 0, sizeof(float) * (size_t)w16);
        return;
    }
    const uint8_t *src = img + ((size_t)r * s + lo) * 3;
    memset(dst, 0, sizeof(float) * (size_t)off);
    int k = 0;
    for (; k + 16 <= m; k += 16)
        bytes_to_floats(dst + off + k, src + k);
    for (; k < m; k++)
        dst[off + k] = src[k];
    memset(dst + off + m, 0, sizeof(float) * (size_t)(w16 - off - m));
}

/* n == f: every output pixel has the same sub-pixel offset, so the weights are four
 * constants. Window rows are converted to floats once each (zeros outside the scene);
 * each output row is then a vertical blend of two of them and a horizontal blend of
 * neighbouring pixels, both plain vector loops. */
static void glimpse_translate(const uint8_t *img, int s, double y, double x, int f, uint8_t *out) {
    double oy = y - 0.5 * f, ox = x - 0.5 * f; /* sample i sits at pixel index oy + i */
    double fy = floor(oy), fx = floor(ox);
    if (fy < -f - 1 || fy > s || fx < -f - 1 || fx > s) {
        memset(out, 0, (size_t)f * f * 3);
        return;
    }
    int r0 = (int)fy, c0 = (int)fx;
    float wb = (float)(oy - fy), wa = 1.0f - wb, bx = (float)(ox - fx), ax = 1.0f - bx;
    /* Window columns c0 .. c0+f: 3(f+1) floats per row, rounded up to whole vectors (and
     * the horizontal pass reads 3 past its last output). */
    int n3 = 3 * f, w16 = (3 * (f + 1) + 15) & ~15;
    float rows[2][3 * (GLIMPSE_MAX + 1) + 32], v[3 * (GLIMPSE_MAX + 1) + 32];
    int lo = c0 < 0 ? 0 : c0, hi = c0 + f < s - 1 ? c0 + f : s - 1;
    int off = 3 * (lo - c0), m = 3 * (hi - lo + 1);
    window_row(rows[0], img, s, r0, lo, off, m, w16);
    for (int i = 0; i < f; i++) {
        const float *a = rows[i & 1];
        float *b = rows[(i + 1) & 1];
        window_row(b, img, s, r0 + i + 1, lo, off, m, w16);
        for (int k = 0; k < w16; k += 16)
            blend2(v + k, a + k, b + k, wa, wb);
        uint8_t *o = out + (size_t)i * n3;
        int k = 0;
        for (; k + 16 <= n3; k += 16)
            blend2_bytes(o + k, v + k, v + k + 3, ax, bx);
        for (; k < n3; k++)
            o[k] = to_u8(ax * v[k] + bx * v[k + 3]);
    }
}

void env_saccade_glimpse(const uint8_t *img, int s, double y, double x, int f, int n,
                         uint8_t *out) {
    WM_ASSERT(s > 0 && f > 0 && n > 0 && f <= GLIMPSE_MAX && n <= GLIMPSE_MAX);
    if (!isfinite(y) || !isfinite(x)) { /* nowhere: nothing to see */
        memset(out, 0, (size_t)n * n * 3);
        return;
    }
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
    /* Per output value (pixel j, channel ch): the window value left of its sample point,
     * counted from column cbase, and the two weights. Offsets grow with j and stay within
     * [0, 3f]. */
    int cbase = (int)cfirst, n3 = 3 * n;
    int idx[3 * GLIMPSE_MAX];
    float w0[3 * GLIMPSE_MAX], w1[3 * GLIMPSE_MAX];
    for (int j = 0; j < n; j++) {
        double p = ox + j * step, c = floor(p);
        for (int ch = 0; ch < 3; ch++) {
            idx[3 * j + ch] = 3 * ((int)c - cbase) + ch;
            w1[3 * j + ch] = (float)(p - c);
            w0[3 * j + ch] = 1.0f - (float)(p - c);
        }
    }
    /* Window columns cbase .. cbase + span as a float row (zeros outside the scene). Each
     * source row is resampled horizontally once and kept while output rows use it (two
     * at a time); an output row is then one vector blend of two of them. */
    int span = idx[n3 - 1] / 3 + 1;
    WM_ASSERT(idx[0] == 0 && span <= GLIMPSE_MAX + 1);
    int w16 = (3 * (span + 1) + 15) & ~15;
    float raw[3 * (GLIMPSE_MAX + 2) + 32], rows[2][3 * GLIMPSE_MAX + 32];
    int have[2] = {INT_MIN, INT_MIN}; /* scene row held in rows[k] */
    int lo = cbase < 0 ? 0 : cbase, hi = cbase + span < s - 1 ? cbase + span : s - 1;
    int off = 3 * (lo - cbase), m = 3 * (hi - lo + 1);
    for (int i = 0; i < n; i++) {
        uint8_t *o = out + (size_t)i * n3;
        double p = oy + i * step, r = floor(p);
        int ra = (int)r;
        const float *row[2] = {NULL, NULL};
        for (int t = 0; t < 2; t++) {
            int want = ra + t, k = have[0] == want ? 0 : have[1] == want ? 1 : -1;
            if (k < 0) {
                /* Replace the row that is not the other one needed. */
                k = t == 0 ? (have[1] == ra + 1 ? 0 : 1) : (row[0] == rows[0] ? 1 : 0);
                window_row(raw, img, s, want, lo, off, m, w16);
                float *h = rows[k];
                for (int q = 0; q < n3; q++)
                    h[q] = w0[q] * raw[idx[q]] + w1[q] * raw[idx[q] + 3];
                have[k] = want;
            }
            row[t] = rows[k];
        }
        float wb = (float)(p - r), wa = 1.0f - wb;
        int k = 0;
        for (; k + 16 <= n3; k += 16)
            blend2_bytes(o + k, row[0] + k, row[1] + k, wa, wb);
        for (; k < n3; k++)
            o[k] = to_u8(wa * row[0][k] + wb * row[1][k]);
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
