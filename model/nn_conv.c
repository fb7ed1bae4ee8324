/* Convolution and linear layers on GEMM, with direct-loop references. Convolutions
 * work on CNHW activations so that one GEMM covers a whole chunk of images:
 * out[co, nb*oh*ow] = W[co, ci*kh*kw] x col[ci*kh*kw, nb*oh*ow]. */
#include <string.h>

#include "core/err.h"
#include "model/nn_impl.h"

/* Largest im2col buffer, in reals: a chunk of images is lowered at a time so the
 * scratch stays bounded (and warm in cache) whatever the batch. */
#define COL_CHUNK_ELEMS ((size_t)1 << 22)

NnConv2d nn_conv2d_dims(int n, int ci, int h, int w, int co, int k, int stride, int pad) {
    NnConv2d d = {n, ci, h, w, co, k, k, stride, pad, 0, 0};
    WM_ASSERT(n > 0 && ci > 0 && co > 0 && k > 0 && stride > 0 && pad >= 0);
    d.oh = (h + 2 * pad - k) / stride + 1;
    d.ow = (w + 2 * pad - k) / stride + 1;
    WM_ASSERT(d.oh > 0 && d.ow > 0);
    return d;
}

static int is_pointwise(const NnConv2d *d) {
    return d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0;
}

static int chunk_images(const NnConv2d *d) {
    size_t per = (size_t)d->ci * d->kh * d->kw * d->oh * d->ow;
    size_t nb = COL_CHUNK_ELEMS / per;
    if (nb < 1) nb = 1;
    if (nb > (size_t)d->n) nb = (size_t)d->n;
    return (int)nb;
}

size_t nn_conv2d_scratch(const NnConv2d *d) {
    if (is_pointwise(d)) return 0;
    return (size_t)chunk_images(d) * d->ci * d->kh * d->kw * d->oh * d->ow;
}

double nn_conv2d_flops(const NnConv2d *d) {
    return 2.0 * d->co * d->ci * d->kh * d->kw * (double)d->n * d->oh * d->ow;
}

/* ---------------------------------------------------------------- im2col */

typedef struct {
    const NnConv2d *d;
    const NnReal *in;
    NnReal *col;
    int b0, nb;
} ColTask;

/* Rows r = (c, ki, kj) of the column matrix for images [b0, b0+nb). */
static void im2col_rows(void *ctx, int64_t r0, int64_t r1, int worker) {
    (void)worker;
    const ColTask *t = ctx;
    const NnConv2d *d = t->d;
    const int oh = d->oh, ow = d->ow, s = d->stride, p = d->pad, h = d->h, w = d->w;
    const size_t plane = (size_t)h * w, ncols = (size_t)t->nb * oh * ow;
    for (int64_t r = r0; r < r1; r++) {
        int c = (int)(r / (d->kh * d->kw)), kk = (int)(r % (d->kh * d->kw));
        int ki = kk / d->kw, kj = kk % d->kw;
        NnReal *dst = t->col + (size_t)r * ncols;
        /* valid output columns for this kj: 0 <= ox*s - p + kj < w */
        int ox0 = p - kj > 0 ? (p - kj + s - 1) / s : 0;
        int ox1 = (w - 1 + p - kj) >= 0 ? (w - 1 + p - kj) / s + 1 : 0;
        if (ox1 > ow) ox1 = ow;
        if (ox0 > ox1) ox0 = ox1;
        for (int b = 0; b < t->nb; b++) {
            const NnReal *src = t->in + ((size_t)c * d->n + t->b0 + b) * plane;
            for (int oy = 0; oy < oh; oy++, dst += ow) {
                int iy = oy * s - p + ki;
                if (iy < 0 || iy >= h) {
                    memset(dst, 0, sizeof(NnReal) * ow);
                    continue;
                }
                const NnReal *row = src + (size_t)iy * w;
                for (int ox = 0; ox < ox0; ox++)
                    dst[ox] = 0;
                if (s == 1) {
                    memcpy(dst + ox0, row + ox0 - p + kj, sizeof(NnReal) * (ox1 - ox0));
                } else {
                    for (int ox = ox0; ox < ox1; ox++)
                        dst[ox] = row[ox * s - p + kj];
                }
                for (int ox = ox1; ox < ow; ox++)
                    dst[ox] = 0;
            }
        }
    }
}

typedef struct {
    const NnConv2d *d;
    const NnReal *col;
    NnReal *din;
    int b0, nb;
} Col2ImTask;

/* Adds the column gradients back into input channels [c0, c1): each channel is
 * owned by one thread and summed in a fixed (ki, kj) order. */
static void col2im_channels(void *ctx, int64_t c0, int64_t c1, int worker) {
    (void)worker;
    const Col2ImTask *t = ctx;
    const NnConv2d *d = t->d;
    const int oh = d->oh, ow = d->ow, s = d->stride, p = d->pad, h = d->h, w = d->w;
    const size_t plane = (size_t)h * w, ncols = (size_t)t->nb * oh * ow;
    for (int64_t c = c0; c < c1; c++) {
        for (int ki = 0; ki < d->kh; ki++)
            for (int kj = 0; kj < d->kw; kj++) {
                const NnReal *src = t->col + (((size_t)c * d->kh + ki) * d->kw + kj) * ncols;
                int ox0 = p - kj > 0 ? (p - kj + s - 1) / s : 0;
                int ox1 = (w - 1 + p - kj) >= 0 ? (w - 1 + p - kj) / s + 1 : 0;
                if (ox1 > ow) ox1 = ow;
                for (int b = 0; b < t->nb; b++) {
                    NnReal *dst = t->din + ((size_t)c * d->n + t->b0 + b) * plane;
                    for (int oy = 0; oy < oh; oy++, src += ow) {
                        int iy = oy * s - p + ki;
                        if (iy < 0 || iy >= h) continue;
                        NnReal *row = dst + (size_t)iy * w;
                        const int off = kj - p;
                        if (s == 1) {
                            for (int ox = ox0; ox < ox1; ox++)
                                row[ox + off] += src[ox];
                        } else {
                            for (int ox = ox0; ox < ox1; ox++)
                                row[ox * s + off] += src[ox];
                        }
                    }
                }
            }
    }
}

/* ---------------------------------------------------------------- bias */

typedef struct {
    NnReal *x;
    const NnReal *bias;
    NnReal *dbias;
    size_t len; /* elements per channel */
} BiasTask;

static void bias_add_rows(void *ctx, int64_t c0, int64_t c1, int worker) {
    (void)worker;
    const BiasTask *t = ctx;
    for (int64_t c = c0; c < c1; c++) {
        NnReal *x = t->x + (size_t)c * t->len, b = t->bias[c];
        for (size_t i = 0; i < t->len; i++)
            x[i] += b;
    }
}

static void bias_grad_rows(void *ctx, int64_t c0, int64_t c1, int worker) {
    (void)worker;
    const BiasTask *t = ctx;
    for (int64_t c = c0; c < c1; c++) {
        const NnReal *x = t->x + (size_t)c * t->len;
        double acc = 0;
        for (size_t i = 0; i < t->len; i++)
            acc += x[i];
        t->dbias[c] += (NnReal)acc;
    }
}

/* ---------------------------------------------------------------- conv2d */

void nn_conv2d_forward(NnReal *out, const NnReal *in, const NnReal *w, const NnReal *bias,
                       const NnConv2d *d, NnReal *scratch) {
    const int K = d->ci * d->kh * d->kw;
    const size_t ohw = (size_t)d->oh * d->ow, ldo = (size_t)d->n * ohw;
    if (is_pointwise(d)) {
        nn_gemm(0, 0, d->co, (int)ldo, K, 1, w, K, in, (int)ldo, 0, out, (int)ldo);
    } else {
        int chunk = chunk_images(d);
        for (int b0 = 0; b0 < d->n; b0 += chunk) {
            int nb = d->n - b0 < chunk ? d->n - b0 : chunk;
            ColTask t = {d, in, scratch, b0, nb};
            nn_par_for(K, im2col_rows, &t);
            int ncols = (int)(nb * ohw);
            nn_gemm(0, 0, d->co, ncols, K, 1, w, K, scratch, ncols, 0, out + b0 * ohw, (int)ldo);
        }
    }
    if (bias) {
        BiasTask t = {out, bias, NULL, ldo};
        nn_par_for(d->co, bias_add_rows, &t);
    }
}

void nn_conv2d_backward(NnReal *din, NnReal *dw, NnReal *dbias, const NnReal *dout,
                        const NnReal *in, const NnReal *w, const NnConv2d *d, NnReal *scratch) {
    const int K = d->ci * d->kh * d->kw;
    const size_t ohw = (size_t)d->oh * d->ow, ldo = (size_t)d->n * ohw;
    if (dbias) {
        BiasTask t = {(NnReal *)dout, NULL, dbias, ldo};
        nn_par_for(d->co, bias_grad_rows, &t);
    }
    if (is_pointwise(d)) {
        if (dw) nn_gemm(0, 1, d->co, K, (int)ldo, 1, dout, (int)ldo, in, (int)ldo, 1, dw, K);
        if (din) nn_gemm(1, 0, K, (int)ldo, d->co, 1, w, K, dout, (int)ldo, 1, din, (int)ldo);
        return;
    }
    int chunk = chunk_images(d);
    for (int b0 = 0; b0 < d->n; b0 += chunk) {
        int nb = d->n - b0 < chunk ? d->n - b0 : chunk;
        int ncols = (int)(nb * ohw);
        const NnReal *dout_b = dout + b0 * ohw;
        if (dw) {
            ColTask t = {d, in, scratch, b0, nb};
            nn_par_for(K, im2col_rows, &t);
            nn_gemm(0, 1, d->co, K, ncols, 1, dout_b, (int)ldo, scratch, ncols, 1, dw, K);
        }
        if (din) {
            nn_gemm(1, 0, K, ncols, d->co, 1, w, K, dout_b, (int)ldo, 0, scratch, ncols);
            Col2ImTask t = {d, scratch, din, b0, nb};
            nn_par_for(d->ci, col2im_channels, &t);
        }
    }
}

void nn_conv2d_forward_naive(NnReal *out, const NnReal *in, const NnReal *w, const NnReal *bias,
                             const NnConv2d *d) {
    const size_t plane = (size_t)d->h * d->w, oplane = (size_t)d->oh * d->ow;
    for (int o = 0; o < d->co; o++)
        for (int b = 0; b < d->n; b++)
            for (int oy = 0; oy < d->oh; oy++)
                for (int ox = 0; ox < d->ow; ox++) {
                    double acc = bias ? bias[o] : 0;
                    for (int c = 0; c < d->ci; c++)
                        for (int ki = 0; ki < d->kh; ki++)
                            for (int kj = 0; kj < d->kw; kj++) {
                                int iy = oy * d->stride - d->pad + ki;
                                int ix = ox * d->stride - d->pad + kj;
                                if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w) continue;
                                acc +=
                                    (double)w[((size_t)(o * d->ci + c) * d->kh + ki) * d->kw + kj] *
                                    in[((size_t)c * d->n + b) * plane + (size_t)iy * d->w + ix];
                            }
                    out[((size_t)o * d->n + b) * oplane + (size_t)oy * d->ow + ox] = (NnReal)acc;
                }
}

void nn_conv2d_backward_naive(NnReal *din, NnReal *dw, NnReal *dbias, const NnReal *dout,
                              const NnReal *in, const NnReal *w, const NnConv2d *d) {
    const size_t plane = (size_t)d->h * d->w, oplane = (size_t)d->oh * d->ow;
    for (int o = 0; o < d->co; o++)
        for (int b = 0; b < d->n; b++)
            for (int oy = 0; oy < d->oh; oy++)
                for (int ox = 0; ox < d->ow; ox++) {
                    NnReal g = dout[((size_t)o * d->n + b) * oplane + (size_t)oy * d->ow + ox];
                    if (dbias) dbias[o] += g;
                    for (int c = 0; c < d->ci; c++)
                        for (int ki = 0; ki < d->kh; ki++)
                            for (int kj = 0; kj < d->kw; kj++) {
                                int iy = oy * d->stride - d->pad + ki;
                                int ix = ox * d->stride - d->pad + kj;
                                if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w) continue;
                                size_t wi = ((size_t)(o * d->ci + c) * d->kh + ki) * d->kw + kj;
                                size_t ii = ((size_t)c * d->n + b) * plane + (size_t)iy * d->w + ix;
                                if (dw) dw[wi] += g * in[ii];
                                if (din) din[ii] += g * w[wi];
                            }
                }
}

/* ---------------------------------------------------------------- linear */

void nn_linear_forward(NnReal *out, const NnReal *in, const NnReal *w, const NnReal *b, int n,
                       int fi, int fo) {
    nn_gemm(0, 1, n, fo, fi, 1, in, fi, w, fi, 0, out, fo);
    if (b)
        for (int i = 0; i < n; i++) {
            NnReal *o = out + (size_t)i * fo;
            for (int j = 0; j < fo; j++)
                o[j] += b[j];
        }
}

void nn_linear_backward(NnReal *din, NnReal *dw, NnReal *db, const NnReal *dout, const NnReal *in,
                        const NnReal *w, int n, int fi, int fo) {
    if (din) nn_gemm(0, 0, n, fi, fo, 1, dout, fo, w, fi, 1, din, fi);
    if (dw) nn_gemm(1, 0, fo, fi, n, 1, dout, fo, in, fi, 1, dw, fi);
    if (db)
        for (int i = 0; i < n; i++) {
            const NnReal *g = dout + (size_t)i * fo;
            for (int j = 0; j < fo; j++)
                db[j] += g[j];
        }
}

void nn_linear_forward_naive(NnReal *out, const NnReal *in, const NnReal *w, const NnReal *b, int n,
                             int fi, int fo) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < fo; j++) {
            double acc = b ? b[j] : 0;
            for (int k = 0; k < fi; k++)
                acc += (double)in[(size_t)i * fi + k] * w[(size_t)j * fi + k];
            out[(size_t)i * fo + j] = (NnReal)acc;
        }
}

void nn_linear_backward_naive(NnReal *din, NnReal *dw, NnReal *db, const NnReal *dout,
                              const NnReal *in, const NnReal *w, int n, int fi, int fo) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < fo; j++) {
            NnReal g = dout[(size_t)i * fo + j];
            if (db) db[j] += g;
            for (int k = 0; k < fi; k++) {
                if (din) din[(size_t)i * fi + k] += g * w[(size_t)j * fi + k];
                if (dw) dw[(size_t)j * fi + k] += g * in[(size_t)i * fi + k];
            }
        }
}
