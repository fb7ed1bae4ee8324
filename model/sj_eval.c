/* Frozen-feature evaluation (see sj_eval.h). */
#include "model/sj_eval.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/progress.h"
#include "model/probe.h"

#define CHUNK 64

typedef struct {
    float *z;     /* [n, t, D] */
    float *agg[3][SJ_EVAL_MAX_M + 1]; /* [variant][M] -> [n, E]; variant 0 plain, 1 zero actions, 2 zero features */
} Feats;

static void features(SjModel *m, const SjEvalSplit *s, int m_max, int variants, Feats *f) {
    int D = sj_model_enc_dim(m), E = sj_model_agg_dim(m), A = sj_model_shape(m)->action_dim;
    size_t px = (size_t)sj_model_shape(m)->img_h * (size_t)sj_model_shape(m)->img_w * 3;
    f->z = wm_new(float, (size_t)s->n * (size_t)s->t * (size_t)D);
    sj_model_encode(m, s->pixels, s->n * s->t, f->z);
    (void)px;
    float *zc = wm_new(float, (size_t)CHUNK * (size_t)m_max * (size_t)D);
    float *ac = wm_new(float, (size_t)CHUNK * (size_t)m_max * (size_t)A);
    for (int v = 0; v < variants; v++)
        for (int M = 1; M <= m_max; M++) f->agg[v][M] = wm_new(float, (size_t)s->n * (size_t)E);
    for (int b0 = 0; b0 < s->n; b0 += CHUNK) {
        int nb = s->n - b0 < CHUNK ? s->n - b0 : CHUNK;
        for (int M = 1; M <= m_max; M++) {
            for (int b = 0; b < nb; b++) {
                memcpy(zc + (size_t)b * M * D, f->z + (size_t)(b0 + b) * s->t * D, (size_t)M * D * sizeof(float));
                if (M > 1)
                    memcpy(ac + (size_t)b * (M - 1) * A, s->actions + (size_t)(b0 + b) * (s->t - 1) * A,
                           (size_t)(M - 1) * A * sizeof(float));
            }
            static const int flags[3] = {0, SJ_ZERO_ACTIONS, SJ_ZERO_FEATURES};
            for (int v = 0; v < variants; v++)
                sj_model_aggregate(m, zc, ac, nb, M, flags[v], f->agg[v][M] + (size_t)b0 * E);
        }
    }
    wm_free(zc);
    wm_free(ac);
}

static void feats_free(Feats *f) {
    wm_free(f->z);
    for (int v = 0; v < 3; v++)
        for (int M = 0; M <= SJ_EVAL_MAX_M; M++) wm_free(f->agg[v][M]);
}

/* A fitted regression probe of either kind. */
typedef struct {
    SjMlpProbe *mlp;
    SjLinearProbe lin;
    int ok, used_mlp;
} Reg;

/* Ridge, or (when spec->mlp) whichever of the MLP and ridge scores the higher R^2 on
 * the last 20% of the training rows, refitted on all of them: an MLP that overfits a
 * small probe set would otherwise report a negative R^2 where a linear read-out of
 * the same features does better. The choice never looks at the test rows. */
static void reg_fit(Reg *r, const SjEvalSpec *sp, const float *x, const float *y, size_t n, int din, int dout) {
    memset(r, 0, sizeof *r);
    int use_mlp = sp->mlp;
    size_t nfit = n - n / 5, nval = n - nfit;
    if (use_mlp && nval >= 8) {
        float *pred = wm_new(float, nval * (size_t)dout);
        const float *xv = x + nfit * (size_t)din, *yv = y + nfit * (size_t)dout;
        SjMlpProbe *m = sj_mlp_fit(x, y, nfit, din, dout, sp->mlp_hidden, sp->mlp_epochs, sp->seed);
        sj_mlp_predict(m, xv, nval, pred);
        double r2_mlp = sj_r2_score(yv, pred, nval, dout), r2_lin = -INFINITY;
        sj_mlp_free(m);
        SjLinearProbe lin;
        if (sj_ridge_fit(&lin, x, y, nfit, din, dout) == 0) {
            sj_probe_predict(&lin, xv, nval, pred);
            r2_lin = sj_r2_score(yv, pred, nval, dout);
        }
        sj_probe_free(&lin);
        wm_free(pred);
        use_mlp = r2_mlp >= r2_lin;
    }
    r->used_mlp = use_mlp;
    if (use_mlp) r->mlp = sj_mlp_fit(x, y, n, din, dout, sp->mlp_hidden, sp->mlp_epochs, sp->seed), r->ok = 1;
    else r->ok = sj_ridge_fit(&r->lin, x, y, n, din, dout) == 0;
}

static void reg_predict(Reg *r, const float *x, size_t n, float *out) {
    if (r->mlp) sj_mlp_predict(r->mlp, x, n, out);
    else if (r->ok) sj_probe_predict(&r->lin, x, n, out);
}

static void reg_free(Reg *r) {
    sj_mlp_free(r->mlp);
    sj_probe_free(&r->lin);
}

/* Regression probe trained on (xtr, ytr), scored by R^2 on each of nte test inputs. */
static void regress(const SjEvalSpec *sp, const float *xtr, const float *ytr, size_t ntr, int din, int dout,
                    const float *const *xte, int nte, const float *yte, size_t n_te, double *r2) {
    float *pred = wm_new(float, n_te * (size_t)dout);
    Reg r;
    reg_fit(&r, sp, xtr, ytr, ntr, din, dout);
    for (int k = 0; k < nte && r.ok; k++) {
        reg_predict(&r, xte[k], n_te, pred);
        r2[k] = sj_r2_score(yte, pred, n_te, dout);
    }
    reg_free(&r);
    wm_free(pred);
}

static double mean_err(const float *pred, const float *y, size_t n, int d, size_t ystride) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double e = 0;
        for (int j = 0; j < d; j++) {
            double t = pred[i * (size_t)d + (size_t)j] - y[i * ystride + (size_t)j];
            e += t * t;
        }
        s += sqrt(e);
    }
    return n ? s / (double)n : 0;
}

static double classify(const float *xtr, const int32_t *ytr, size_t ntr, const float *xte, const int32_t *yte,
                       size_t nte, int din, int k) {
    SjLinearProbe p;
    sj_logreg_fit(&p, xtr, ytr, ntr, din, k, 300, 1e-4);
    float *lg = wm_new(float, nte * (size_t)k);
    sj_probe_predict(&p, xte, nte, lg);
    double acc = sj_top1(lg, yte, nte, k);
    wm_free(lg);
    sj_probe_free(&p);
    return acc;
}

/* rows [n, a | b] from two row-major arrays with strides. */
static float *concat_rows(const float *a, size_t sa, int da, const float *b, size_t sb, int db, size_t n) {
    float *o = wm_new(float, n * (size_t)(da + db));
    for (size_t i = 0; i < n; i++) {
        memcpy(o + i * (size_t)(da + db), a + i * sa, (size_t)da * sizeof(float));
        memcpy(o + i * (size_t)(da + db) + da, b + i * sb, (size_t)db * sizeof(float));
    }
    return o;
}

int sj_eval_run(SjModel *m, const SjEvalSpec *sp, const SjEvalSplit *tr, const SjEvalSplit *te,
                SjEvalResult *out, char *err, size_t errsz) {
    memset(out, 0, sizeof *out);
    int M_max = sp->m_max;
    if (M_max < 1 || M_max > SJ_EVAL_MAX_M || tr->t < M_max + 1 || te->t < M_max + 1)
        return wm_errf(err, errsz, WM_ERR_ARG, "eval: m_max = %d needs sequences of at least %d views (have %d, %d)",
                       M_max, M_max + 1, tr->t, te->t);
    if (tr->n < 8 || te->n < 8) return wm_errf(err, errsz, WM_ERR_ARG, "eval: too few sequences (%d train, %d test)", tr->n, te->n);
    double t0 = wm_now();
    out->m_max = M_max;
    const SjShape *sh = sj_model_shape(m);
    int D = sj_model_enc_dim(m), E = sj_model_agg_dim(m), A = sh->action_dim, K = sh->n_classes, C = sp->cum_dim;
    sj_model_bind(m, CHUNK, M_max, 0);
    Feats ftr = {0}, fte = {0}, floops = {0};
    features(m, tr, M_max, 1, &ftr);
    features(m, te, M_max, 3, &fte);
    if (sp->loops) features(m, sp->loops, M_max, 1, &floops);
    size_t ntr = (size_t)tr->n, nte = (size_t)te->n;
    size_t zs_tr = (size_t)tr->t * (size_t)D, zs_te = (size_t)te->t * (size_t)D;

    /* Invariance: class from z of the first view, and from z_AGG(M). */
    float *z1tr = concat_rows(ftr.z, zs_tr, D, ftr.z, zs_tr, 0, ntr), *z1te = concat_rows(fte.z, zs_te, D, fte.z, zs_te, 0, nte);
    out->top1_z = classify(z1tr, tr->labels, ntr, z1te, te->labels, nte, D, K);
    for (int M = 1; M <= M_max; M++)
        out->top1_agg[M] = classify(ftr.agg[0][M], tr->labels, ntr, fte.agg[0][M], te->labels, nte, E, K);
    wm_free(z1tr), wm_free(z1te);

    /* Equivariance: a_1 from concat(z_1, z_2). */
    float *etr = concat_rows(ftr.z, zs_tr, D, ftr.z + D, zs_tr, D, ntr), *ete = concat_rows(fte.z, zs_te, D, fte.z + D, zs_te, D, nte);
    float *a1tr = concat_rows(tr->actions, (size_t)(tr->t - 1) * A, A, tr->actions, 0, 0, ntr);
    float *a1te = concat_rows(te->actions, (size_t)(te->t - 1) * A, A, te->actions, 0, 0, nte);
    const float *xs[3] = {ete};
    regress(sp, etr, a1tr, ntr, 2 * D, A, xs, 1, a1te, nte, &out->equiv_r2);
    wm_free(etr), wm_free(ete), wm_free(a1tr), wm_free(a1te);

    /* Path integration: cumulative action from concat(z_AGG(M), a_M). */
    for (int M = 1; M <= M_max; M++) {
        size_t as_tr = (size_t)(tr->t - 1) * A, as_te = (size_t)(te->t - 1) * A;
        float *xtr = concat_rows(ftr.agg[0][M], (size_t)E, E, tr->actions + (size_t)(M - 1) * A, as_tr, A, ntr);
        float *x0 = concat_rows(fte.agg[0][M], (size_t)E, E, te->actions + (size_t)(M - 1) * A, as_te, A, nte);
        float *x1 = concat_rows(fte.agg[1][M], (size_t)E, E, te->actions + (size_t)(M - 1) * A, as_te, A, nte);
        float *x2 = concat_rows(fte.agg[2][M], (size_t)E, E, te->actions + (size_t)(M - 1) * A, as_te, A, nte);
        float *ytr = concat_rows(tr->cum + (size_t)(M - 1) * C, (size_t)M_max * C, C, tr->cum, 0, 0, ntr);
        float *yte = concat_rows(te->cum + (size_t)(M - 1) * C, (size_t)M_max * C, C, te->cum, 0, 0, nte);
        Reg reg;
        reg_fit(&reg, sp, xtr, ytr, ntr, E + A, C);
        float *pred = wm_new(float, nte * (size_t)C);
        const float *xt[3] = {x0, x1, x2};
        double *dst[3] = {&out->pi_r2[M], &out->pi_r2_zero_act[M], &out->pi_r2_zero_feat[M]};
        for (int k = 0; k < 3 && reg.ok; k++) {
            reg_predict(&reg, xt[k], nte, pred);
            *dst[k] = sj_r2_score(yte, pred, nte, C);
            if (k == 0 && M == sp->loop_m) out->open_err = mean_err(pred, yte, nte, C, (size_t)C);
        }
        if (sp->loops && M == sp->loop_m && reg.ok) {
            const SjEvalSplit *lp = sp->loops;
            size_t nl = (size_t)lp->n;
            float *xl = concat_rows(floops.agg[0][M], (size_t)E, E, lp->actions + (size_t)(M - 1) * A, (size_t)(lp->t - 1) * A, A, nl);
            float *pl = wm_new(float, nl * (size_t)C);
            reg_predict(&reg, xl, nl, pl);
            out->loop_err = mean_err(pl, lp->cum + (size_t)(M - 1) * C, nl, C, (size_t)M_max * C);
            wm_free(xl), wm_free(pl);
        }
        wm_free(pred);
        reg_free(&reg);
        wm_free(xtr), wm_free(x0), wm_free(x1), wm_free(x2), wm_free(ytr), wm_free(yte);
    }
    if (sp->want_pca) {
        out->n_pca = te->n;
        out->pca_z = wm_new(double, 2 * nte);
        out->pca_agg = wm_new(double, 2 * nte);
        float *z1 = concat_rows(fte.z, zs_te, D, fte.z, zs_te, 0, nte);
        sj_pca2(z1, nte, D, out->pca_z);
        sj_pca2(fte.agg[0][M_max], nte, E, out->pca_agg);
        wm_free(z1);
    }
    feats_free(&ftr);
    feats_free(&fte);
    feats_free(&floops);
    out->seconds = wm_now() - t0;
    return WM_OK;
}

void sj_eval_json(const SjEvalResult *r, WmBuf *o) {
    wm_buf_printf(o, "{\"top1_z\": %.6f, \"equivariance_r2\": %.6f, \"m_max\": %d,\n \"top1_agg\": [", r->top1_z,
                  r->equiv_r2, r->m_max);
    for (int M = 1; M <= r->m_max; M++) wm_buf_printf(o, "%s%.6f", M > 1 ? ", " : "", r->top1_agg[M]);
    const double *arr[3] = {r->pi_r2, r->pi_r2_zero_act, r->pi_r2_zero_feat};
    static const char *names[3] = {"pathint_r2", "pathint_r2_zero_actions", "pathint_r2_zero_features"};
    for (int k = 0; k < 3; k++) {
        wm_buf_printf(o, "],\n \"%s\": [", names[k]);
        for (int M = 1; M <= r->m_max; M++) wm_buf_printf(o, "%s%.6f", M > 1 ? ", " : "", arr[k][M]);
    }
    wm_buf_printf(o, "],\n \"seconds\": %.2f}", r->seconds);
}

void sj_eval_markdown(const SjEvalResult *r, WmBuf *md) {
    wm_buf_printf(md, "| metric | value |\n|---|---|\n| top-1 from z (first view) | %.3f |\n"
                      "| equivariance R^2 (a_1 from z_1, z_2) | %.3f |\n\n",
                  r->top1_z, r->equiv_r2);
    wm_buf_puts(md, "| M | top-1 from z_AGG | path-int. R^2 | R^2, actions zeroed | R^2, features zeroed |\n"
                    "|---|---|---|---|---|\n");
    for (int M = 1; M <= r->m_max; M++)
        wm_buf_printf(md, "| %d | %.3f | %.3f | %.3f | %.3f |\n", M, r->top1_agg[M], r->pi_r2[M], r->pi_r2_zero_act[M],
                      r->pi_r2_zero_feat[M]);
}

void sj_eval_result_free(SjEvalResult *r) {
    wm_free(r->pca_z);
    wm_free(r->pca_agg);
    r->pca_z = r->pca_agg = NULL;
}

int sj_eval_oracle(const SjEvalSpec *sp, const SjEvalSplit *tr, const SjEvalSplit *te, int A, double *r2, char *err,
                   size_t errsz) {
    int M_max = sp->m_max, C = sp->cum_dim;
    if (M_max < 1 || M_max > SJ_EVAL_MAX_M || tr->t < M_max + 1 || te->t < M_max + 1)
        return wm_errf(err, errsz, WM_ERR_ARG, "oracle: sequences too short for m_max = %d", M_max);
    size_t ntr = (size_t)tr->n, nte = (size_t)te->n;
    for (int M = 1; M <= M_max; M++) {
        /* the first M actions of each sequence are contiguous */
        float *xtr = concat_rows(tr->actions, (size_t)(tr->t - 1) * A, M * A, tr->actions, 0, 0, ntr);
        float *xte = concat_rows(te->actions, (size_t)(te->t - 1) * A, M * A, te->actions, 0, 0, nte);
        float *ytr = concat_rows(tr->cum + (size_t)(M - 1) * C, (size_t)M_max * C, C, tr->cum, 0, 0, ntr);
        float *yte = concat_rows(te->cum + (size_t)(M - 1) * C, (size_t)M_max * C, C, te->cum, 0, 0, nte);
        const float *xs[1] = {xte};
        r2[M] = 0;
        regress(sp, xtr, ytr, ntr, M * A, C, xs, 1, yte, nte, &r2[M]);
        wm_free(xtr), wm_free(xte), wm_free(ytr), wm_free(yte);
    }
    return WM_OK;
}
