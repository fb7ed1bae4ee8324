/* Normalisation, activation, pooling, dropout, reshaping and loss ops. Loops that
 * touch whole activations split over the engine pool by channel or by element range;
 * every reduction runs in a fixed order inside one thread, so results do not depend
 * on timing.
 *
 * Over 700 lines on purpose: one section per op family, each a forward/backward pair
 * over the same split helpers of the engine pool; the families are short, and the
 * file is the engine's one place for elementwise and normalisation kernels. */
#include <math.h>
#include <string.h>

#include "core/err.h"
#include "nn/nn_impl.h"

/* ---------------------------------------------------------------- batch norm */

/* Channel j's element i lives at j*cs + i*is: 2d CNHW has cs = count, is = 1; 1d
 * [count, c] has cs = 1, is = c. */
typedef struct {
    NnReal *out, *mean, *rstd, *run_mean, *run_var;
    const NnReal *in, *res, *gamma, *beta;
    const NnBatchNorm *d;
    size_t cs, is;
} BnFwd;

/* Per-channel sums run in the lanes of a 512-bit vector of NnReal over blocks of
 * BN_BLOCK elements (32 terms per lane), each block's lanes then added into double
 * accumulators: vector speed, about double accuracy, and a fixed order. */
#define BN_LANES (64 / (int)sizeof(NnReal))
#define BN_BLOCK (BN_LANES * 32)
typedef NnReal BnVec __attribute__((vector_size(64), aligned(sizeof(NnReal))));
#ifdef NN_REAL_DOUBLE
typedef int64_t BnMask __attribute__((vector_size(64)));
#else
typedef int32_t BnMask __attribute__((vector_size(64)));
#endif
#define BN_LOAD(v, p) memcpy(&(v), (p), sizeof(v))

/* Sum of (x - k) and of its square, k = x[0]: shifting by a sample of the channel
 * keeps E[(x-k)^2] - E[x-k]^2 free of cancellation when the mean is large. */
NN_HOT static void bn_stats_contig(const NnReal *restrict x, size_t n, double *sum, double *sq,
                                   NnReal *shift) {
    const NnReal k = x[0];
    double ds[16] = {0}, dq[16] = {0};
    size_t i = 0;
    for (; i + BN_BLOCK <= n; i += BN_BLOCK) {
        BnVec s = {0}, q = {0};
        for (size_t j = i; j < i + BN_BLOCK; j += BN_LANES) {
            BnVec v;
            BN_LOAD(v, x + j);
            v -= k;
            s += v;
            q += v * v;
        }
        for (int l = 0; l < BN_LANES; l++) {
            ds[l] += s[l];
            dq[l] += q[l];
        }
    }
    double ts = 0, tq = 0;
    for (; i < n; i++) {
        double v = (double)x[i] - k;
        ts += v;
        tq += v * v;
    }
    for (int l = 0; l < BN_LANES; l++) {
        ts += ds[l];
        tq += dq[l];
    }
    *sum = ts;
    *sq = tq;
    *shift = k;
}

/* y = relu?((x - mu) * scale + b + r) */
NN_HOT static void bn_norm_contig(NnReal *restrict y, const NnReal *restrict x,
                                  const NnReal *restrict r, size_t n, NnReal mu, NnReal scale,
                                  NnReal b, int relu) {
    if (r && relu) {
        for (size_t i = 0; i < n; i++) {
            NnReal v = (x[i] - mu) * scale + b + r[i];
            y[i] = v > 0 ? v : 0;
        }
    } else if (r) {
        for (size_t i = 0; i < n; i++)
            y[i] = (x[i] - mu) * scale + b + r[i];
    } else if (relu) {
        for (size_t i = 0; i < n; i++) {
            NnReal v = (x[i] - mu) * scale + b;
            y[i] = v > 0 ? v : 0;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            y[i] = (x[i] - mu) * scale + b;
    }
}

/* The ReLU mask of a forward output that was not kept: rb = {scale, b} of that
 * forward, whose value (x - mu) * scale + b (bn_norm_contig's expression, so the same
 * bits) is positive exactly where its ReLU output was. */
static inline NnReal bn_masked(const NnReal *y, NnReal rsc, NnReal rbb, const NnReal *x,
                               const NnReal *dy, size_t i, NnReal mu) {
    if (y) return y[i] > 0 ? dy[i] : 0;
    NnReal v = (x[i] - mu) * rsc + rbb;
    return v > 0 ? dy[i] : 0;
}

/* Sums of g and g * xhat, g = dy masked by y > 0 when y is given, or by the rebuilt
 * mask when rb is (blocked as above). */
NN_HOT static void bn_grad_sums_contig(const NnReal *restrict dy, const NnReal *restrict y,
                                       const NnReal *rb, const NnReal *restrict x, size_t n,
                                       NnReal mu, NnReal rs, double *sum_g, double *sum_gx) {
    double dg[16] = {0}, dgx[16] = {0};
    const BnVec zero = {0};
    const NnReal rsc = rb ? rb[0] : 0, rbb = rb ? rb[1] : 0;
    size_t i = 0;
    for (; i + BN_BLOCK <= n; i += BN_BLOCK) {
        BnVec sg = {0}, sgx = {0};
        for (size_t j = i; j < i + BN_BLOCK; j += BN_LANES) {
            BnVec g, xv;
            BN_LOAD(g, dy + j);
            BN_LOAD(xv, x + j);
            if (y) {
                BnVec yv;
                BN_LOAD(yv, y + j);
                g = (BnVec)((BnMask)g & (yv > zero)); /* the ReLU mask */
            } else if (rb) {
                BnVec v = (xv - mu) * rsc + rbb;
                g = (BnVec)((BnMask)g & (v > zero));
            }
            sg += g;
            sgx += g * ((xv - mu) * rs);
        }
        for (int l = 0; l < BN_LANES; l++) {
            dg[l] += sg[l];
            dgx[l] += sgx[l];
        }
    }
    double tg = 0, tgx = 0;
    for (; i < n; i++) {
        NnReal g = y || rb ? bn_masked(y, rsc, rbb, x, dy, i, mu) : dy[i];
        tg += g;
        tgx += (double)g * (double)((x[i] - mu) * rs);
    }
    for (int l = 0; l < BN_LANES; l++) {
        tg += dg[l];
        tgx += dgx[l];
    }
    *sum_g = tg;
    *sum_gx = tgx;
}

/* dx (+)= a * (g - mg - xhat * mgx); dres (+)= g; "=" when assign. */
NN_HOT static void bn_grad_apply_contig(NnReal *restrict dx, NnReal *restrict dres,
                                        const NnReal *restrict dy, const NnReal *restrict y,
                                        const NnReal *rb, const NnReal *restrict x, size_t n,
                                        NnReal mu, NnReal rs, NnReal a, NnReal mg, NnReal mgx,
                                        int assign) {
    const NnReal keep = assign ? 0 : 1; /* 0 * dx would turn a stale NaN into NaN */
    const NnReal rsc = rb ? rb[0] : 0, rbb = rb ? rb[1] : 0;
    if ((y || rb) && dx && dres) {
        for (size_t i = 0; i < n; i++) {
            NnReal g = bn_masked(y, rsc, rbb, x, dy, i, mu), v = a * (g - mg - (x[i] - mu) * rs * mgx);
            dx[i] = keep != 0 ? dx[i] + v : v;
            dres[i] = keep != 0 ? dres[i] + g : g;
        }
        return;
    }
    if (dx) {
        if (y || rb)
            for (size_t i = 0; i < n; i++) {
                NnReal g = bn_masked(y, rsc, rbb, x, dy, i, mu), v = a * (g - mg - (x[i] - mu) * rs * mgx);
                dx[i] = keep != 0 ? dx[i] + v : v;
            }
        else
            for (size_t i = 0; i < n; i++) {
                NnReal v = a * (dy[i] - mg - (x[i] - mu) * rs * mgx);
                dx[i] = keep != 0 ? dx[i] + v : v;
            }
    }
    if (dres) {
        if (y || rb)
            for (size_t i = 0; i < n; i++) {
                NnReal g = bn_masked(y, rsc, rbb, x, dy, i, mu);
                dres[i] = keep != 0 ? dres[i] + g : g;
            }
        else
            for (size_t i = 0; i < n; i++)
                dres[i] = keep != 0 ? dres[i] + dy[i] : dy[i];
    }
}

static void bn_fwd_channels(void *ctx, int64_t j0, int64_t j1, int worker) {
    (void)worker;
    const BnFwd *t = ctx;
    const NnBatchNorm *d = t->d;
    const size_t n = (size_t)d->count, is = t->is;
    for (int64_t j = j0; j < j1; j++) {
        const NnReal *x = t->in + j * t->cs;
        NnReal *y = t->out + j * t->cs;
        double mean, rstd;
        if (d->train) {
            double sum = 0, sq = 0;
            NnReal k = x[0];
            if (is == 1) {
                bn_stats_contig(x, n, &sum, &sq, &k);
            } else {
                for (size_t i = 0; i < n; i++) {
                    double v = (double)x[i * is] - k;
                    sum += v;
                    sq += v * v;
                }
            }
            double shifted = sum / (double)n; /* mean - k */
            mean = shifted + k;
            double var = sq / (double)n - shifted * shifted;
            if (var < 0) var = 0;
            rstd = 1.0 / sqrt(var + d->eps);
            if (t->run_mean) {
                double m = d->momentum;
                double unbiased = n > 1 ? var * (double)n / (double)(n - 1) : var;
                t->run_mean[j] = (NnReal)((1 - m) * t->run_mean[j] + m * mean);
                t->run_var[j] = (NnReal)((1 - m) * t->run_var[j] + m * unbiased);
            }
        } else {
            mean = t->run_mean[j];
            rstd = 1.0 / sqrt((double)t->run_var[j] + d->eps);
        }
        t->mean[j] = (NnReal)mean;
        t->rstd[j] = (NnReal)rstd;
        const NnReal g = t->gamma ? t->gamma[j] : 1, b = t->beta ? t->beta[j] : 0;
        const NnReal scale = (NnReal)rstd * g, mu = (NnReal)mean;
        const NnReal *r = t->res ? t->res + j * t->cs : NULL;
        if (is == 1) {
            bn_norm_contig(y, x, r, n, mu, scale, b, d->relu);
        } else {
            for (size_t i = 0; i < n; i++) {
                size_t k = i * is;
                NnReal v = (x[k] - mu) * scale + b + (r ? r[k] : 0);
                y[k] = d->relu && v < 0 ? 0 : v;
            }
        }
    }
}

typedef struct {
    NnReal *din, *dres, *dgamma, *dbeta;
    const NnReal *dout, *out, *in, *mean, *rstd, *gamma;
    const NnReal *beta; /* with rebuild: the forward's beta, for its ReLU mask */
    const NnBatchNorm *d;
    size_t cs, is;
    int assign, rebuild;
} BnBwd;

static void bn_bwd_channels(void *ctx, int64_t j0, int64_t j1, int worker) {
    (void)worker;
    const BnBwd *t = ctx;
    const NnBatchNorm *d = t->d;
    const size_t n = (size_t)d->count, is = t->is;
    for (int64_t j = j0; j < j1; j++) {
        const NnReal *x = t->in + j * t->cs, *dy = t->dout + j * t->cs;
        const NnReal *y = d->relu && !t->rebuild ? t->out + j * t->cs : NULL;
        NnReal *dx = t->din ? t->din + j * t->cs : NULL;
        NnReal *dr = t->dres ? t->dres + j * t->cs : NULL;
        const NnReal mu = t->mean[j], rs = t->rstd[j];
        /* the forward's scale and shift (bn_apply_channels), for a rebuilt mask */
        const NnReal rbv[2] = {rs * (t->gamma ? t->gamma[j] : 1), t->beta ? t->beta[j] : 0};
        const NnReal *rb = t->rebuild ? rbv : NULL;
        double tg = 0, tgx = 0;
        if (is == 1) {
            bn_grad_sums_contig(dy, y, rb, x, n, mu, rs, &tg, &tgx);
        } else {
            for (size_t i = 0; i < n; i++) {
                size_t k = i * is;
                NnReal g = y || rb ? bn_masked(y, rbv[0], rbv[1], x, dy, k, mu) : dy[k];
                tg += g;
                tgx += (double)g * (double)((x[k] - mu) * rs);
            }
        }
        if (t->dgamma) t->dgamma[j] += (NnReal)tgx;
        if (t->dbeta) t->dbeta[j] += (NnReal)tg;
        /* eval mode: the statistics are constants, so only the affine part remains */
        const NnReal a = (t->gamma ? t->gamma[j] : 1) * rs;
        const NnReal mg = d->train ? (NnReal)(tg / (double)n) : 0;
        const NnReal mgx = d->train ? (NnReal)(tgx / (double)n) : 0;
        if (is == 1) {
            bn_grad_apply_contig(dx, dr, dy, y, rb, x, n, mu, rs, a, mg, mgx, t->assign);
        } else {
            for (size_t i = 0; i < n; i++) {
                size_t k = i * is;
                NnReal g = y || rb ? bn_masked(y, rbv[0], rbv[1], x, dy, k, mu) : dy[k],
                       v = a * (g - mg - (x[k] - mu) * rs * mgx);
                if (dx) dx[k] = t->assign ? v : dx[k] + v;
                if (dr) dr[k] = t->assign ? g : dr[k] + g;
            }
        }
    }
}

static void bn_forward(NnReal *out, NnReal *mean, NnReal *rstd, const NnReal *in,
                       const NnReal *residual, const NnReal *gamma, const NnReal *beta,
                       NnReal *run_mean, NnReal *run_var, const NnBatchNorm *d, size_t cs,
                       size_t is) {
    WM_ASSERT(d->c > 0 && d->count > 0);
    WM_ASSERT(d->train || (run_mean && run_var));
    WM_ASSERT(!run_mean == !run_var);
    BnFwd t = {out, mean, rstd, run_mean, run_var, in, residual, gamma, beta, d, cs, is};
    nn_par_for_work((size_t)d->c * d->count, d->c, bn_fwd_channels, &t);
}

/* The output loop of bn_fwd_channels with saved statistics (same expressions, so the
 * same bits). */
static void bn_apply_channels(void *ctx, int64_t j0, int64_t j1, int worker) {
    (void)worker;
    const BnFwd *t = ctx;
    const size_t n = (size_t)t->d->count;
    for (int64_t j = j0; j < j1; j++) {
        const NnReal g = t->gamma ? t->gamma[j] : 1, b = t->beta ? t->beta[j] : 0;
        bn_norm_contig(t->out + j * t->cs, t->in + j * t->cs, NULL, n, t->mean[j],
                       t->rstd[j] * g, b, t->d->relu);
    }
}

/* rebuild: out is not given; the ReLU mask comes from in, the statistics, gamma and
 * beta (a forward without a residual). */
static void bn_backward(NnReal *din, NnReal *dres, NnReal *dgamma, NnReal *dbeta,
                        const NnReal *dout, const NnReal *out, const NnReal *in, const NnReal *mean,
                        const NnReal *rstd, const NnReal *gamma, const NnReal *beta,
                        const NnBatchNorm *d, size_t cs, size_t is, int assign, int rebuild) {
    WM_ASSERT(!d->relu || out || rebuild);
    BnBwd t = {din,  dres, dgamma, dbeta, dout, out,    in,     mean,
               rstd, gamma, beta,  d,     cs,   is,     assign, rebuild};
    nn_par_for_work((size_t)d->c * d->count, d->c, bn_bwd_channels, &t);
}

void nn_batchnorm2d_forward(NnReal *out, NnReal *mean, NnReal *rstd, const NnReal *in,
                            const NnReal *residual, const NnReal *gamma, const NnReal *beta,
                            NnReal *run_mean, NnReal *run_var, const NnBatchNorm *d) {
    bn_forward(out, mean, rstd, in, residual, gamma, beta, run_mean, run_var, d, (size_t)d->count,
               1);
}

void nn_batchnorm2d_apply(NnReal *out, const NnReal *in, const NnReal *mean, const NnReal *rstd,
                          const NnReal *gamma, const NnReal *beta, const NnBatchNorm *d) {
    WM_ASSERT(d->c > 0 && d->count > 0);
    BnFwd t = {out, (NnReal *)mean, (NnReal *)rstd, NULL, NULL, in, NULL, gamma, beta, d,
               (size_t)d->count, 1};
    nn_par_for_work((size_t)d->c * d->count, d->c, bn_apply_channels, &t);
}

void nn_batchnorm2d_backward(NnReal *din, NnReal *dres, NnReal *dgamma, NnReal *dbeta,
                             const NnReal *dout, const NnReal *out, const NnReal *in,
                             const NnReal *mean, const NnReal *rstd, const NnReal *gamma,
                             const NnBatchNorm *d) {
    bn_backward(din, dres, dgamma, dbeta, dout, out, in, mean, rstd, gamma, NULL, d, (size_t)d->count,
                1, 0, 0);
}

void nn_bn2d_backward_assign(NnReal *din, NnReal *dres, NnReal *dgamma, NnReal *dbeta,
                             const NnReal *dout, const NnReal *out, const NnReal *in,
                             const NnReal *mean, const NnReal *rstd, const NnReal *gamma,
                             const NnBatchNorm *d) {
    bn_backward(din, dres, dgamma, dbeta, dout, out, in, mean, rstd, gamma, NULL, d, (size_t)d->count,
                1, 1, 0);
}

void nn_bn2d_backward_rebuild(NnReal *din, NnReal *dgamma, NnReal *dbeta, const NnReal *dout,
                              const NnReal *in, const NnReal *mean, const NnReal *rstd,
                              const NnReal *gamma, const NnReal *beta, const NnBatchNorm *d) {
    WM_ASSERT(d->relu && d->train);
    bn_backward(din, NULL, dgamma, dbeta, dout, NULL, in, mean, rstd, gamma, beta, d,
                (size_t)d->count, 1, 1, 1);
}

void nn_batchnorm1d_forward(NnReal *out, NnReal *mean, NnReal *rstd, const NnReal *in,
                            const NnReal *residual, const NnReal *gamma, const NnReal *beta,
                            NnReal *run_mean, NnReal *run_var, const NnBatchNorm *d) {
    bn_forward(out, mean, rstd, in, residual, gamma, beta, run_mean, run_var, d, 1, (size_t)d->c);
}

void nn_batchnorm1d_backward(NnReal *din, NnReal *dres, NnReal *dgamma, NnReal *dbeta,
                             const NnReal *dout, const NnReal *out, const NnReal *in,
                             const NnReal *mean, const NnReal *rstd, const NnReal *gamma,
                             const NnBatchNorm *d) {
    bn_backward(din, dres, dgamma, dbeta, dout, out, in, mean, rstd, gamma, NULL, d, 1, (size_t)d->c, 0,
                0);
}

/* ---------------------------------------------------------------- layer norm */

typedef struct {
    NnReal *out, *mean, *rstd, *din;
    const NnReal *in, *gamma, *beta, *dout;
    int f;
    float eps;
} LnTask;

static void ln_fwd_rows(void *ctx, int64_t r0, int64_t r1, int worker) {
    (void)worker;
    const LnTask *t = ctx;
    const int f = t->f;
    for (int64_t r = r0; r < r1; r++) {
        const NnReal *x = t->in + r * f;
        NnReal *y = t->out + r * f;
        double sum = 0;
        for (int i = 0; i < f; i++)
            sum += x[i];
        double mean = sum / f, var = 0;
        for (int i = 0; i < f; i++)
            var += (x[i] - mean) * (x[i] - mean);
        var /= f;
        double rstd = 1.0 / sqrt(var + t->eps);
        t->mean[r] = (NnReal)mean;
        t->rstd[r] = (NnReal)rstd;
        for (int i = 0; i < f; i++) {
            NnReal v = (NnReal)((x[i] - mean) * rstd);
            y[i] = t->gamma ? v * t->gamma[i] + t->beta[i] : v;
        }
    }
}

static void ln_bwd_rows(void *ctx, int64_t r0, int64_t r1, int worker) {
    (void)worker;
    const LnTask *t = ctx;
    const int f = t->f;
    for (int64_t r = r0; r < r1; r++) {
        const NnReal *x = t->in + r * f, *dy = t->dout + r * f;
        NnReal *dx = t->din + r * f;
        const double mu = t->mean[r], rs = t->rstd[r];
        double sg = 0, sgx = 0;
        for (int i = 0; i < f; i++) {
            double g = t->gamma ? (double)dy[i] * t->gamma[i] : dy[i];
            sg += g;
            sgx += g * (x[i] - mu) * rs;
        }
        sg /= f;
        sgx /= f;
        for (int i = 0; i < f; i++) {
            double g = t->gamma ? (double)dy[i] * t->gamma[i] : dy[i];
            double xh = (x[i] - mu) * rs;
            dx[i] += (NnReal)(rs * (g - sg - xh * sgx));
        }
    }
}

void nn_layernorm_forward(NnReal *out, NnReal *mean, NnReal *rstd, const NnReal *in,
                          const NnReal *gamma, const NnReal *beta, int n, int f, float eps) {
    WM_ASSERT(!gamma == !beta);
    LnTask t = {out, mean, rstd, NULL, in, gamma, beta, NULL, f, eps};
    nn_par_for_work((size_t)n * f, n, ln_fwd_rows, &t);
}

void nn_layernorm_backward(NnReal *din, NnReal *dgamma, NnReal *dbeta, const NnReal *dout,
                           const NnReal *in, const NnReal *mean, const NnReal *rstd,
                           const NnReal *gamma, int n, int f) {
    if (din) {
        LnTask t = {NULL, (NnReal *)mean, (NnReal *)rstd, din, in, gamma, NULL, dout, f, 0};
        nn_par_for_work((size_t)n * f, n, ln_bwd_rows, &t);
    }
    /* parameter gradients: rows in order, one thread */
    if (dgamma || dbeta)
        for (int r = 0; r < n; r++) {
            const NnReal *x = in + (size_t)r * f, *dy = dout + (size_t)r * f;
            for (int i = 0; i < f; i++) {
                if (dgamma) dgamma[i] += dy[i] * (x[i] - mean[r]) * rstd[r];
                if (dbeta) dbeta[i] += dy[i];
            }
        }
}

/* ---------------------------------------------------------------- elementwise */

typedef struct {
    NnReal *out;
    const NnReal *a, *b;
    NnReal *da;
} ElemTask;

static void relu_fwd_range(void *ctx, int64_t i0, int64_t i1, int worker) {
    (void)worker;
    const ElemTask *t = ctx;
    for (int64_t i = i0; i < i1; i++)
        t->out[i] = t->a[i] > 0 ? t->a[i] : 0;
}

static void relu_bwd_range(void *ctx, int64_t i0, int64_t i1, int worker) {
    (void)worker;
    const ElemTask *t = ctx; /* da += dout(a) where out(b) > 0 */
    for (int64_t i = i0; i < i1; i++)
        t->da[i] += t->b[i] > 0 ? t->a[i] : 0;
}

static void add_fwd_range(void *ctx, int64_t i0, int64_t i1, int worker) {
    (void)worker;
    const ElemTask *t = ctx;
    for (int64_t i = i0; i < i1; i++)
        t->out[i] = t->a[i] + t->b[i];
}

static void acc_range(void *ctx, int64_t i0, int64_t i1, int worker) {
    (void)worker;
    const ElemTask *t = ctx; /* da += a */
    for (int64_t i = i0; i < i1; i++)
        t->da[i] += t->a[i];
}

void nn_relu_forward(NnReal *out, const NnReal *in, size_t n) {
    ElemTask t = {out, in, NULL, NULL};
    nn_par_for_work(n, (int64_t)n, relu_fwd_range, &t);
}

void nn_relu_backward(NnReal *din, const NnReal *dout, const NnReal *out, size_t n) {
    ElemTask t = {NULL, dout, out, din};
    nn_par_for_work(n, (int64_t)n, relu_bwd_range, &t);
}

void nn_add_forward(NnReal *out, const NnReal *a, const NnReal *b, size_t n) {
    ElemTask t = {out, a, b, NULL};
    nn_par_for_work(n, (int64_t)n, add_fwd_range, &t);
}

void nn_add_backward(NnReal *da, NnReal *db, const NnReal *dout, size_t n) {
    if (da) {
        ElemTask t = {NULL, dout, NULL, da};
        nn_par_for_work(n, (int64_t)n, acc_range, &t);
    }
    if (db) {
        ElemTask t = {NULL, dout, NULL, db};
        nn_par_for_work(n, (int64_t)n, acc_range, &t);
    }
}

/* ---------------------------------------------------------------- pooling */

NnPool2d nn_maxpool2d_dims(int n, int c, int h, int w, int k, int stride, int pad) {
    NnPool2d d = {n, c, h, w, k, stride, pad, 0, 0};
    WM_ASSERT(n > 0 && c > 0 && k > 0 && stride > 0 && pad >= 0 && 2 * pad <= k);
    d.oh = (h + 2 * pad - k) / stride + 1;
    d.ow = (w + 2 * pad - k) / stride + 1;
    WM_ASSERT(d.oh > 0 && d.ow > 0);
    WM_ASSERT((size_t)n * c * h * w <= INT32_MAX);
    return d;
}

typedef struct {
    NnReal *out, *din;
    int32_t *argmax;
    const int32_t *cargmax;
    const NnReal *in, *dout;
    const NnPool2d *d;
} PoolTask;

static void maxpool_fwd_planes(void *ctx, int64_t p0, int64_t p1, int worker) {
    (void)worker;
    const PoolTask *t = ctx;
    const NnPool2d *d = t->d;
    const size_t plane = (size_t)d->h * d->w, oplane = (size_t)d->oh * d->ow;
    for (int64_t p = p0; p < p1; p++) {
        const NnReal *x = t->in + p * plane;
        NnReal *y = t->out + p * oplane;
        int32_t *am = t->argmax + p * oplane;
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                int best = -1;
                NnReal bv = 0;
                for (int ki = 0; ki < d->k; ki++) {
                    int iy = oy * d->stride - d->pad + ki;
                    if (iy < 0 || iy >= d->h) continue;
                    for (int kj = 0; kj < d->k; kj++) {
                        int ix = ox * d->stride - d->pad + kj;
                        if (ix < 0 || ix >= d->w) continue;
                        NnReal v = x[iy * d->w + ix];
                        if (best < 0 || v > bv || isnan(v)) {
                            best = iy * d->w + ix;
                            bv = v;
                        }
                    }
                }
                y[oy * d->ow + ox] = bv;
                am[oy * d->ow + ox] = (int32_t)(p * plane + best);
            }
    }
}

static void maxpool_bwd_planes(void *ctx, int64_t p0, int64_t p1, int worker) {
    (void)worker;
    const PoolTask *t = ctx;
    const size_t oplane = (size_t)t->d->oh * t->d->ow;
    for (int64_t p = p0; p < p1; p++)
        for (size_t i = p * oplane; i < (p + 1) * oplane; i++)
            t->din[t->cargmax[i]] += t->dout[i];
}

void nn_maxpool2d_forward(NnReal *out, int32_t *argmax, const NnReal *in, const NnPool2d *d) {
    PoolTask t = {out, NULL, argmax, NULL, in, NULL, d};
    nn_par_for_work((size_t)d->n * d->c * d->h * d->w, (int64_t)d->n * d->c, maxpool_fwd_planes, &t);
}

void nn_maxpool2d_backward(NnReal *din, const NnReal *dout, const int32_t *argmax,
                           const NnPool2d *d) {
    PoolTask t = {NULL, din, NULL, argmax, NULL, dout, d};
    nn_par_for_work((size_t)d->n * d->c * d->oh * d->ow, (int64_t)d->n * d->c, maxpool_bwd_planes, &t);
}

typedef struct {
    NnReal *out;
    const NnReal *in;
    int n, c, hw;
} AvgTask;

static void avg_fwd_channels(void *ctx, int64_t c0, int64_t c1, int worker) {
    (void)worker;
    const AvgTask *t = ctx;
    for (int64_t c = c0; c < c1; c++)
        for (int b = 0; b < t->n; b++) {
            const NnReal *x = t->in + ((size_t)c * t->n + b) * t->hw;
            double s = 0;
            for (int i = 0; i < t->hw; i++)
                s += x[i];
            t->out[(size_t)b * t->c + c] = (NnReal)(s / t->hw);
        }
}

static void avg_bwd_channels(void *ctx, int64_t c0, int64_t c1, int worker) {
    (void)worker;
    const AvgTask *t = ctx; /* out = din, in = dout */
    for (int64_t c = c0; c < c1; c++)
        for (int b = 0; b < t->n; b++) {
            NnReal *dx = t->out + ((size_t)c * t->n + b) * t->hw;
            NnReal g = t->in[(size_t)b * t->c + c] / (NnReal)t->hw;
            for (int i = 0; i < t->hw; i++)
                dx[i] += g;
        }
}

void nn_avgpool_forward(NnReal *out, const NnReal *in, int n, int c, int hw) {
    AvgTask t = {out, in, n, c, hw};
    nn_par_for_work((size_t)n * c * hw, c, avg_fwd_channels, &t);
}

void nn_avgpool_backward(NnReal *din, const NnReal *dout, int n, int c, int hw) {
    AvgTask t = {din, dout, n, c, hw};
    nn_par_for_work((size_t)n * c * hw, c, avg_bwd_channels, &t);
}

typedef struct {
    NnReal *out;
    const NnReal *in;
    int n, c, h, w, g;
    int backward; /* 0: out = the cells' means of in; 1: out (din) += in (dout) spread over each cell */
} GridTask;

/* Rows (or columns) of cell i of g over a side of s, as PyTorch's adaptive pool. */
static void grid_span(int i, int g, int s, int *lo, int *hi) {
    *lo = (int)(((long)i * s) / g);
    *hi = (int)((((long)i + 1) * s + g - 1) / g);
}

static void grid_channels(void *ctx, int64_t c0, int64_t c1, int worker) {
    (void)worker;
    const GridTask *t = ctx;
    const int g = t->g, cells = g * g;
    for (int64_t c = c0; c < c1; c++)
        for (int b = 0; b < t->n; b++) {
            const size_t plane = ((size_t)c * t->n + b) * t->h * t->w, row = ((size_t)b * t->c + c) * cells;
            for (int i = 0; i < g; i++) {
                int y0, y1;
                grid_span(i, g, t->h, &y0, &y1);
                for (int j = 0; j < g; j++) {
                    int x0, x1;
                    grid_span(j, g, t->w, &x0, &x1);
                    const int area = (y1 - y0) * (x1 - x0);
                    if (t->backward) {
                        NnReal *dx = t->out + plane;
                        const NnReal v = t->in[row + i * g + j] / (NnReal)area;
                        for (int y = y0; y < y1; y++)
                            for (int xx = x0; xx < x1; xx++)
                                dx[(size_t)y * t->w + xx] += v;
                    } else {
                        const NnReal *x = t->in + plane;
                        double s = 0;
                        for (int y = y0; y < y1; y++)
                            for (int xx = x0; xx < x1; xx++)
                                s += x[(size_t)y * t->w + xx];
                        t->out[row + i * g + j] = (NnReal)(s / area);
                    }
                }
            }
        }
}

void nn_gridpool_forward(NnReal *out, const NnReal *in, int n, int c, int h, int w, int g) {
    WM_ASSERT(g >= 1 && h >= g && w >= g);
    GridTask t = {out, in, n, c, h, w, g, 0};
    nn_par_for_work((size_t)n * c * h * w, c, grid_channels, &t);
}

void nn_gridpool_backward(NnReal *din, const NnReal *dout, int n, int c, int h, int w, int g) {
    WM_ASSERT(g >= 1 && h >= g && w >= g);
    GridTask t = {din, dout, n, c, h, w, g, 1};
    nn_par_for_work((size_t)n * c * h * w, c, grid_channels, &t);
}

void nn_images_to_cnhw(NnReal *out, const uint8_t *in, int n, int h, int w, int c,
                       const float *mean, const float *std) {
    const size_t plane = (size_t)h * w;
    for (int k = 0; k < c; k++) {
        const NnReal m = mean ? mean[k] : 0, s = std ? 1 / std[k] : 1;
        for (int b = 0; b < n; b++) {
            NnReal *dst = out + ((size_t)k * n + b) * plane;
            const uint8_t *src = in + (size_t)b * plane * c + k;
            for (size_t i = 0; i < plane; i++)
                dst[i] = ((NnReal)src[i * c] / 255 - m) * s;
        }
    }
}

/* ---------------------------------------------------------------- dropout */

void nn_dropout_forward(NnReal *out, uint8_t *mask, const NnReal *in, size_t n, float p,
                        WmRng *rng) {
    WM_ASSERT(p >= 0 && p < 1);
    if (p == 0) {
        if (out != in) memmove(out, in, n * sizeof *out);
        return;
    }
    WM_ASSERT(rng && mask);
    const NnReal scale = (NnReal)(1.0 / (1.0 - p));
    for (size_t i = 0; i < n; i++) {
        mask[i] = wm_rng_uniformf(rng) >= p;
        out[i] = mask[i] ? in[i] * scale : 0;
    }
}

void nn_dropout_backward(NnReal *din, const NnReal *dout, const uint8_t *mask, size_t n, float p) {
    if (p == 0) {
        for (size_t i = 0; i < n; i++)
            din[i] += dout[i];
        return;
    }
    const NnReal scale = (NnReal)(1.0 / (1.0 - p));
    for (size_t i = 0; i < n; i++)
        if (mask[i]) din[i] += dout[i] * scale;
}

/* ---------------------------------------------------------------- concat / slice */

void nn_concat_forward(NnReal *out, const NnReal *const *in, const int *f, int k, int n) {
    int fo = 0;
    for (int j = 0; j < k; j++)
        fo += f[j];
    for (int r = 0; r < n; r++) {
        NnReal *o = out + (size_t)r * fo;
        for (int j = 0; j < k; j++) {
            if (in[j])
                memcpy(o, in[j] + (size_t)r * f[j], sizeof *o * f[j]);
            else
                memset(o, 0, sizeof *o * f[j]);
            o += f[j];
        }
    }
}

void nn_concat_backward(NnReal *const *din, const NnReal *dout, const int *f, int k, int n) {
    int fo = 0;
    for (int j = 0; j < k; j++)
        fo += f[j];
    for (int r = 0; r < n; r++) {
        const NnReal *g = dout + (size_t)r * fo;
        for (int j = 0; j < k; j++) {
            if (din[j]) {
                NnReal *dx = din[j] + (size_t)r * f[j];
                for (int i = 0; i < f[j]; i++)
                    dx[i] += g[i];
            }
            g += f[j];
        }
    }
}

void nn_slice_forward(NnReal *out, const NnReal *in, int n, int fi, int off, int f) {
    WM_ASSERT(off >= 0 && off + f <= fi);
    for (int r = 0; r < n; r++)
        memcpy(out + (size_t)r * f, in + (size_t)r * fi + off, sizeof *out * f);
}

void nn_slice_backward(NnReal *din, const NnReal *dout, int n, int fi, int off, int f) {
    WM_ASSERT(off >= 0 && off + f <= fi);
    for (int r = 0; r < n; r++) {
        NnReal *dx = din + (size_t)r * fi + off;
        const NnReal *g = dout + (size_t)r * f;
        for (int i = 0; i < f; i++)
            dx[i] += g[i];
    }
}

/* ---------------------------------------------------------------- losses */

#define COS_EPS 1e-8

NnReal nn_cosine_loss_forward(NnReal *cache, const NnReal *a, const NnReal *t, int n, int d) {
    double loss = 0;
    for (int r = 0; r < n; r++) {
        const NnReal *x = a + (size_t)r * d, *y = t + (size_t)r * d;
        double w12 = 0, w1 = 0, w2 = 0;
        for (int i = 0; i < d; i++) {
            w12 += (double)x[i] * y[i];
            w1 += (double)x[i] * x[i];
            w2 += (double)y[i] * y[i];
        }
        cache[3 * r] = (NnReal)w12;
        cache[3 * r + 1] = (NnReal)w1;
        cache[3 * r + 2] = (NnReal)w2;
        loss += 1 - w12 / sqrt(fmax(w1 * w2, COS_EPS * COS_EPS));
    }
    return (NnReal)(loss / n);
}

void nn_cosine_loss_backward(NnReal *da, NnReal *dt, NnReal dloss, const NnReal *a, const NnReal *t,
                             const NnReal *cache, int n, int d) {
    for (int r = 0; r < n; r++) {
        const NnReal *x = a + (size_t)r * d, *y = t + (size_t)r * d;
        double w12 = cache[3 * r], w1 = cache[3 * r + 1], w2 = cache[3 * r + 2];
        double prod = w1 * w2, clamped = prod <= COS_EPS * COS_EPS;
        double n12 = sqrt(fmax(prod, COS_EPS * COS_EPS)), cosv = w12 / n12;
        double g = -(double)dloss / n; /* d loss / d cos */
        for (int i = 0; i < d; i++) {
            if (da)
                da[(size_t)r * d + i] +=
                    (NnReal)(g * (y[i] / n12 - (clamped ? 0 : cosv * x[i] / w1)));
            if (dt)
                dt[(size_t)r * d + i] +=
                    (NnReal)(g * (x[i] / n12 - (clamped ? 0 : cosv * y[i] / w2)));
        }
    }
}

#define VC_EPS 1e-4

/* ws: C [d*d], then the column means [d], then the column spreads sqrt(var + eps) [d]. */
NnReal nn_vc_loss_forward(NnReal *ws, const NnReal *z, int n, int d, NnReal wv, NnReal wc) {
    WM_ASSERT(n >= 2 && d >= 1);
    NnReal *cov = ws, *mean = ws + (size_t)d * d, *sd = mean + d;
    for (int j = 0; j < d; j++) {
        double s = 0;
        for (int r = 0; r < n; r++)
            s += z[(size_t)r * d + j];
        mean[j] = (NnReal)(s / n);
    }
    for (int i = 0; i < d; i++)
        for (int j = i; j < d; j++) {
            double s = 0;
            for (int r = 0; r < n; r++)
                s += ((double)z[(size_t)r * d + i] - mean[i]) * ((double)z[(size_t)r * d + j] - mean[j]);
            cov[(size_t)i * d + j] = cov[(size_t)j * d + i] = (NnReal)(s / (n - 1));
        }
    double v = 0, c = 0;
    for (int i = 0; i < d; i++) {
        sd[i] = (NnReal)sqrt((double)cov[(size_t)i * d + i] + VC_EPS);
        v += fmax(0.0, 1.0 - sd[i]);
        for (int j = 0; j < d; j++)
            if (j != i) c += (double)cov[(size_t)i * d + j] * cov[(size_t)i * d + j];
    }
    return (NnReal)((wv * v + wc * c) / d);
}

void nn_vc_loss_backward(NnReal *dz, NnReal dloss, const NnReal *z, const NnReal *ws, int n, int d, NnReal wv,
                         NnReal wc) {
    const NnReal *cov = ws, *mean = ws + (size_t)d * d, *sd = mean + d;
    /* d v / d z_rj = -(z_rj - mean_j) / ((n-1) sd_j) where sd_j < 1; d c / d z_r =
     * 4 / (n-1) (z_r - mean) C_off. Neither needs the centring's own gradient: both are
     * zero-mean over rows already. */
    double gv = (double)dloss * wv / d, gc = (double)dloss * wc / d * 4.0 / (n - 1);
    for (int r = 0; r < n; r++) {
        const NnReal *zr = z + (size_t)r * d;
        NnReal *g = dz + (size_t)r * d;
        for (int j = 0; j < d; j++) {
            double acc = 0;
            if (wc != 0)
                for (int i = 0; i < d; i++)
                    if (i != j) acc += ((double)zr[i] - mean[i]) * cov[(size_t)i * d + j];
            double grad = gc * acc;
            if (sd[j] < 1) grad -= gv * ((double)zr[j] - mean[j]) / ((n - 1) * (double)sd[j]);
            g[j] += (NnReal)grad;
        }
    }
}

NnReal nn_xent_forward(NnReal *probs, const NnReal *logits, const int32_t *labels, int n, int k) {
    double loss = 0;
    for (int r = 0; r < n; r++) {
        const NnReal *z = logits + (size_t)r * k;
        NnReal *p = probs + (size_t)r * k;
        WM_ASSERT(labels[r] >= 0 && labels[r] < k);
        double mx = z[0];
        for (int i = 1; i < k; i++)
            mx = fmax(mx, z[i]);
        double s = 0;
        for (int i = 0; i < k; i++)
            s += exp(z[i] - mx);
        for (int i = 0; i < k; i++)
            p[i] = (NnReal)(exp(z[i] - mx) / s);
        loss += -(z[labels[r]] - mx - log(s));
    }
    return (NnReal)(loss / n);
}

void nn_xent_backward(NnReal *dlogits, NnReal dloss, const NnReal *probs, const int32_t *labels,
                      int n, int k) {
    const NnReal g = dloss / (NnReal)n;
    for (int r = 0; r < n; r++) {
        NnReal *dz = dlogits + (size_t)r * k;
        const NnReal *p = probs + (size_t)r * k;
        for (int i = 0; i < k; i++)
            dz[i] += g * (p[i] - (i == labels[r] ? 1 : 0));
    }
}

NnReal nn_mse_forward(const NnReal *pred, const NnReal *target, size_t count) {
    double s = 0;
    for (size_t i = 0; i < count; i++) {
        double e = (double)pred[i] - target[i];
        s += e * e;
    }
    return (NnReal)(s / (double)count);
}

void nn_mse_backward(NnReal *dpred, NnReal dloss, const NnReal *pred, const NnReal *target,
                     size_t count) {
    const NnReal g = (NnReal)(2.0 * dloss / (double)count);
    for (size_t i = 0; i < count; i++)
        dpred[i] += g * (pred[i] - target[i]);
}
