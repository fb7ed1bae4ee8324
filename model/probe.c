/* Linear probes and metrics (see probe.h). */
#include "model/probe.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/rng.h"
#include "nn/nn.h"

double sj_r2_score(const float *y, const float *pred, size_t n, int d) {
    if (n == 0 || d <= 0) return 0;
    double total = 0, exact_const = 1;
    int varying = 0;
    for (int j = 0; j < d; j++) {
        double mean = 0;
        for (size_t i = 0; i < n; i++) mean += y[i * (size_t)d + (size_t)j];
        mean /= (double)n;
        double ss_res = 0, ss_tot = 0;
        for (size_t i = 0; i < n; i++) {
            double t = y[i * (size_t)d + (size_t)j], p = pred[i * (size_t)d + (size_t)j];
            ss_res += (t - p) * (t - p);
            ss_tot += (t - mean) * (t - mean);
        }
        if (ss_tot > 0) total += 1 - ss_res / ss_tot, varying++;
        else if (ss_res > 0) exact_const = 0;
    }
    return varying ? total / varying : exact_const;
}

double sj_top1(const float *logits, const int *labels, size_t n, int k) {
    if (!n) return 0;
    size_t hit = 0;
    for (size_t i = 0; i < n; i++) {
        const float *l = logits + i * (size_t)k;
        int best = 0;
        for (int c = 1; c < k; c++)
            if (l[c] > l[best]) best = c;
        hit += best == labels[i];
    }
    return (double)hit / (double)n;
}

void sj_probe_free(SjLinearProbe *p) {
    wm_free(p->mu);
    wm_free(p->sd);
    wm_free(p->w);
    wm_free(p->b);
    memset(p, 0, sizeof *p);
}

static void probe_alloc(SjLinearProbe *p, int din, int dout) {
    memset(p, 0, sizeof *p);
    p->din = din, p->dout = dout;
    p->mu = wm_new(float, (size_t)din);
    p->sd = wm_new(float, (size_t)din);
    p->w = wm_new(float, (size_t)din * (size_t)dout);
    p->b = wm_new(float, (size_t)dout);
}

/* Column means and standard deviations (a constant column gets sd 1). */
static void standardise_stats(SjLinearProbe *p, const float *x, size_t n) {
    for (int j = 0; j < p->din; j++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < n; i++) m += x[i * (size_t)p->din + (size_t)j];
        m /= (double)n;
        for (size_t i = 0; i < n; i++) {
            double t = x[i * (size_t)p->din + (size_t)j] - m;
            v += t * t;
        }
        v /= (double)n;
        p->mu[j] = (float)m;
        p->sd[j] = v > 1e-12 ? (float)sqrt(v) : 1.0f;
    }
}

static void standardise(const SjLinearProbe *p, const float *x, size_t n, double *out) {
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < p->din; j++)
            out[i * (size_t)p->din + (size_t)j] = ((double)x[i * (size_t)p->din + (size_t)j] - p->mu[j]) / p->sd[j];
}

void sj_probe_predict(const SjLinearProbe *p, const float *x, size_t n, float *out) {
    for (size_t i = 0; i < n; i++) {
        for (int o = 0; o < p->dout; o++) {
            double s = p->b[o];
            const float *w = p->w + (size_t)o * (size_t)p->din;
            for (int j = 0; j < p->din; j++)
                s += (double)w[j] * (((double)x[i * (size_t)p->din + (size_t)j] - p->mu[j]) / p->sd[j]);
            out[i * (size_t)p->dout + (size_t)o] = (float)s;
        }
    }
}

/* Solves (A + lam I) X = B for symmetric positive definite A [d,d], B [d,m] by
 * Cholesky; returns -1 if the factorisation fails. */
static int chol_solve(const double *A, double lam, const double *B, int d, int m, double *X) {
    double *L = wm_new(double, (size_t)d * (size_t)d);
    int rc = 0;
    for (int i = 0; i < d && !rc; i++) {
        for (int j = 0; j <= i; j++) {
            double s = A[(size_t)i * d + j] + (i == j ? lam : 0);
            for (int k = 0; k < j; k++) s -= L[(size_t)i * d + k] * L[(size_t)j * d + k];
            if (i == j) {
                if (s <= 0) {
                    rc = -1;
                    break;
                }
                L[(size_t)i * d + i] = sqrt(s);
            } else {
                L[(size_t)i * d + j] = s / L[(size_t)j * d + j];
            }
        }
    }
    if (!rc) {
        for (int c = 0; c < m; c++) {
            for (int i = 0; i < d; i++) { /* L z = b */
                double s = B[(size_t)i * m + c];
                for (int k = 0; k < i; k++) s -= L[(size_t)i * d + k] * X[(size_t)k * m + c];
                X[(size_t)i * m + c] = s / L[(size_t)i * d + i];
            }
            for (int i = d - 1; i >= 0; i--) { /* L^T x = z */
                double s = X[(size_t)i * m + c];
                for (int k = i + 1; k < d; k++) s -= L[(size_t)k * d + i] * X[(size_t)k * m + c];
                X[(size_t)i * m + c] = s / L[(size_t)i * d + i];
            }
        }
    }
    wm_free(L);
    return rc;
}

/* Fits centred ridge weights on rows [0, n) of standardised xs / y, penalty lam. */
static int ridge_solve(const double *xs, const float *y, size_t n, int din, int dout, double lam,
                       float *w, float *b) {
    double *ym = wm_new(double, (size_t)dout), *yc = wm_new(double, n * (size_t)dout);
    double *xm = wm_new(double, (size_t)din), *xc = wm_new(double, n * (size_t)din);
    for (size_t i = 0; i < n; i++)
        for (int o = 0; o < dout; o++) ym[o] += y[i * (size_t)dout + (size_t)o] / (double)n;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < din; j++) xm[j] += xs[i * (size_t)din + (size_t)j] / (double)n;
    for (size_t i = 0; i < n; i++) {
        for (int o = 0; o < dout; o++) yc[i * (size_t)dout + (size_t)o] = y[i * (size_t)dout + (size_t)o] - ym[o];
        for (int j = 0; j < din; j++) xc[i * (size_t)din + (size_t)j] = xs[i * (size_t)din + (size_t)j] - xm[j];
    }
    double *A = wm_new(double, (size_t)din * (size_t)din), *B = wm_new(double, (size_t)din * (size_t)dout);
    double *W = wm_new(double, (size_t)din * (size_t)dout);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, din, din, (int)n, 1.0, xc, din, xc, din, 0.0, A, din);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, din, dout, (int)n, 1.0, xc, din, yc, dout, 0.0, B, dout);
    int rc = chol_solve(A, lam * (double)n, B, din, dout, W);
    if (!rc) {
        for (int o = 0; o < dout; o++) {
            double s = ym[o];
            for (int j = 0; j < din; j++) {
                w[(size_t)o * din + j] = (float)W[(size_t)j * dout + o];
                s -= W[(size_t)j * dout + o] * xm[j];
            }
            b[o] = (float)s;
        }
    }
    wm_free(ym), wm_free(yc), wm_free(xm), wm_free(xc), wm_free(A), wm_free(B), wm_free(W);
    return rc;
}

int sj_ridge_fit(SjLinearProbe *p, const float *x, const float *y, size_t n, int din, int dout) {
    if (n < 2) return -1;
    probe_alloc(p, din, dout);
    standardise_stats(p, x, n);
    double *xs = wm_new(double, n * (size_t)din);
    standardise(p, x, n, xs);
    static const double grid[] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1};
    size_t nfit = n - n / 5, nval = n - nfit;
    double best = -INFINITY, best_lam = 1e-3;
    if (nfit >= 2 && nval >= 2) {
        float *pred = wm_new(float, nval * (size_t)dout);
        for (size_t g = 0; g < sizeof grid / sizeof grid[0]; g++) {
            if (ridge_solve(xs, y, nfit, din, dout, grid[g], p->w, p->b)) continue;
            sj_probe_predict(p, x + nfit * (size_t)din, nval, pred);
            double r2 = sj_r2_score(y + nfit * (size_t)dout, pred, nval, dout);
            if (r2 > best) best = r2, best_lam = grid[g];
        }
        wm_free(pred);
    }
    p->lambda = best_lam;
    int rc = ridge_solve(xs, y, n, din, dout, best_lam, p->w, p->b);
    for (double lam = best_lam * 10; rc && lam <= 1e6; lam *= 10) rc = ridge_solve(xs, y, n, din, dout, p->lambda = lam, p->w, p->b);
    wm_free(xs);
    return rc;
}

int sj_logreg_fit(SjLinearProbe *p, const float *x, const int *labels, size_t n, int din, int k,
                  int epochs, double wd) {
    if (n < 1 || k < 1) return -1;
    probe_alloc(p, din, k);
    standardise_stats(p, x, n);
    double *xs = wm_new(double, n * (size_t)din);
    standardise(p, x, n, xs);
    size_t np = (size_t)k * (size_t)din + (size_t)k;
    double *w = wm_new(double, np), *g = wm_new(double, np), *m = wm_new(double, np), *v = wm_new(double, np);
    double *logits = wm_new(double, n * (size_t)k);
    const double lr = 0.05, b1 = 0.9, b2 = 0.999;
    for (int t = 1; t <= epochs; t++) {
        /* logits = xs W^T + b; grad of mean cross-entropy. */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, k, din, 1.0, xs, din, w, din, 0.0, logits, k);
        for (size_t i = 0; i < n; i++) {
            double *l = logits + i * (size_t)k, mx = -INFINITY, s = 0;
            for (int c = 0; c < k; c++) l[c] += w[(size_t)k * din + c], mx = fmax(mx, l[c]);
            for (int c = 0; c < k; c++) s += (l[c] = exp(l[c] - mx));
            for (int c = 0; c < k; c++) l[c] = (l[c] / s - (c == labels[i])) / (double)n;
        }
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, din, (int)n, 1.0, logits, k, xs, din, 0.0, g, din);
        for (int c = 0; c < k; c++) {
            double s = 0;
            for (size_t i = 0; i < n; i++) s += logits[i * (size_t)k + (size_t)c];
            g[(size_t)k * din + c] = s;
        }
        double c1 = 1 - pow(b1, t), c2 = 1 - pow(b2, t);
        for (size_t i = 0; i < np; i++) {
            if (i < (size_t)k * din) g[i] += wd * w[i];
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            w[i] -= lr * (m[i] / c1) / (sqrt(v[i] / c2) + 1e-8);
        }
    }
    for (size_t i = 0; i < (size_t)k * din; i++) p->w[i] = (float)w[i];
    for (int c = 0; c < k; c++) p->b[c] = (float)w[(size_t)k * din + c];
    wm_free(xs), wm_free(w), wm_free(g), wm_free(m), wm_free(v), wm_free(logits);
    return 0;
}

struct SjMlpProbe {
    NnParams p;
    NnStore s;
    NnMlp *mlp;
    int din, dout;
    float *xmu, *xsd, *ymu, *ysd;
    float *xb, *yb, *out, *dout_buf;
};

#define MLP_BATCH 256

static void col_stats(const float *x, size_t n, int d, float *mu, float *sd) {
    for (int j = 0; j < d; j++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < n; i++) m += x[i * (size_t)d + (size_t)j];
        m /= (double)n;
        for (size_t i = 0; i < n; i++) v += (x[i * (size_t)d + (size_t)j] - m) * (x[i * (size_t)d + (size_t)j] - m);
        v /= (double)n;
        mu[j] = (float)m;
        sd[j] = v > 1e-12 ? (float)sqrt(v) : 1.0f;
    }
}

SjMlpProbe *sj_mlp_fit(const float *x, const float *y, size_t n, int din, int dout, int hidden, int epochs,
                       uint64_t seed) {
    SjMlpProbe *p = wm_new(SjMlpProbe, 1);
    p->din = din, p->dout = dout;
    nn_params_init(&p->p);
    NnMlpConfig c = {0};
    c.n_layers = 3;
    c.dims[0] = din, c.dims[1] = hidden, c.dims[2] = hidden, c.dims[3] = dout;
    c.bias[0] = c.bias[1] = c.bias[2] = 1;
    p->mlp = nn_mlp_create(&p->p, "probe", &c);
    nn_store_create(&p->s, &p->p, NN_STORE_GRAD | NN_STORE_ADAM);
    WmRng r;
    wm_rng_seed(&r, seed, 0x3a9);
    nn_store_init(&p->s, &p->p, &r);
    nn_mlp_bind(p->mlp, MLP_BATCH, 1);
    p->xmu = wm_new(float, (size_t)din), p->xsd = wm_new(float, (size_t)din);
    p->ymu = wm_new(float, (size_t)dout), p->ysd = wm_new(float, (size_t)dout);
    col_stats(x, n, din, p->xmu, p->xsd);
    col_stats(y, n, dout, p->ymu, p->ysd);
    p->xb = wm_new(float, (size_t)MLP_BATCH * (size_t)din);
    p->yb = wm_new(float, (size_t)MLP_BATCH * (size_t)dout);
    p->out = wm_new(float, (size_t)MLP_BATCH * (size_t)dout);
    p->dout_buf = wm_new(float, (size_t)MLP_BATCH * (size_t)dout);
    size_t *order = wm_new(size_t, n);
    for (size_t i = 0; i < n; i++) order[i] = i;
    NnAdamW opt = nn_adamw_default(1e-3f, 0);
    for (int e = 0; e < epochs; e++) {
        for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
            size_t j = (size_t)wm_rng_below(&r, (uint32_t)(i + 1));
            size_t t = order[i];
            order[i] = order[j], order[j] = t;
        }
        for (size_t s0 = 0; s0 < n; s0 += MLP_BATCH) {
            int nb = (int)(n - s0 < MLP_BATCH ? n - s0 : MLP_BATCH);
            for (int i = 0; i < nb; i++) {
                size_t r0 = order[s0 + (size_t)i];
                for (int j = 0; j < din; j++)
                    p->xb[(size_t)i * din + j] = (x[r0 * (size_t)din + (size_t)j] - p->xmu[j]) / p->xsd[j];
                for (int j = 0; j < dout; j++)
                    p->yb[(size_t)i * dout + j] = (y[r0 * (size_t)dout + (size_t)j] - p->ymu[j]) / p->ysd[j];
            }
            nn_store_zero_grad(&p->s, &p->p);
            nn_mlp_forward(p->mlp, p->out, p->xb, nb, &p->s, 1);
            memset(p->dout_buf, 0, (size_t)nb * (size_t)dout * sizeof(float));
            nn_mse_backward(p->dout_buf, 1.0f, p->out, p->yb, (size_t)nb * (size_t)dout);
            nn_mlp_backward(p->mlp, NULL, p->dout_buf, &p->s);
            nn_adamw_step(&opt, &p->p, &p->s);
        }
    }
    wm_free(order);
    return p;
}

void sj_mlp_predict(SjMlpProbe *p, const float *x, size_t n, float *out) {
    for (size_t s0 = 0; s0 < n; s0 += MLP_BATCH) {
        int nb = (int)(n - s0 < MLP_BATCH ? n - s0 : MLP_BATCH);
        for (int i = 0; i < nb; i++)
            for (int j = 0; j < p->din; j++)
                p->xb[(size_t)i * p->din + j] = (x[(s0 + (size_t)i) * (size_t)p->din + (size_t)j] - p->xmu[j]) / p->xsd[j];
        nn_mlp_forward(p->mlp, p->out, p->xb, nb, &p->s, 0);
        for (int i = 0; i < nb; i++)
            for (int j = 0; j < p->dout; j++)
                out[(s0 + (size_t)i) * (size_t)p->dout + (size_t)j] = p->out[(size_t)i * p->dout + j] * p->ysd[j] + p->ymu[j];
    }
}

void sj_mlp_free(SjMlpProbe *p) {
    if (!p) return;
    nn_mlp_destroy(p->mlp);
    nn_store_free(&p->s);
    nn_params_free(&p->p);
    float *b[] = {p->xmu, p->xsd, p->ymu, p->ysd, p->xb, p->yb, p->out, p->dout_buf};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) wm_free(b[i]);
    wm_free(p);
}

void sj_pca2_axes(const float *x, size_t n, int d, double *mu, double *pc) {
    double *cov = wm_new(double, (size_t)d * (size_t)d), *xc = wm_new(double, n * (size_t)d);
    memset(mu, 0, (size_t)d * sizeof(double));
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mu[j] += x[i * (size_t)d + (size_t)j] / (double)n;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) xc[i * (size_t)d + (size_t)j] = x[i * (size_t)d + (size_t)j] - mu[j];
    if (n > 0) cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, (int)n, 1.0, xc, d, xc, d, 0.0, cov, d);
    double *v = wm_new(double, (size_t)d), *w = wm_new(double, (size_t)d);
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < d; j++) v[j] = 1.0 + 0.01 * j; /* deterministic start */
        for (int it = 0; it < 300; it++) {
            cblas_dgemv(CblasRowMajor, CblasNoTrans, d, d, 1.0, cov, d, v, 1, 0.0, w, 1);
            if (k == 1) { /* deflate: remove the first component */
                double dot = 0;
                for (int j = 0; j < d; j++) dot += w[j] * pc[j];
                for (int j = 0; j < d; j++) w[j] -= dot * pc[j];
            }
            double nrm = 0;
            for (int j = 0; j < d; j++) nrm += w[j] * w[j];
            nrm = sqrt(nrm);
            if (nrm == 0) break;
            for (int j = 0; j < d; j++) v[j] = w[j] / nrm;
        }
        memcpy(pc + (size_t)k * d, v, (size_t)d * sizeof(double));
    }
    wm_free(cov), wm_free(xc), wm_free(v), wm_free(w);
}

void sj_pca2_project(const float *x, size_t n, int d, const double *mu, const double *pc, double *out) {
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            double s = 0;
            for (int j = 0; j < d; j++) s += (x[i * (size_t)d + (size_t)j] - mu[j]) * pc[(size_t)k * d + j];
            out[i * 2 + (size_t)k] = s;
        }
}

void sj_pca2(const float *x, size_t n, int d, double *out) {
    double *mu = wm_new(double, (size_t)d), *pc = wm_new(double, 2 * (size_t)d);
    sj_pca2_axes(x, n, d, mu, pc);
    sj_pca2_project(x, n, d, mu, pc, out);
    wm_free(mu), wm_free(pc);
}
