/* Frozen-feature evaluation (see sj_eval.h). */
#include "model/sj_eval.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/progress.h"
#include "core/rng.h"
#include "model/probe.h"
#include "model/sj_pathint.h"

#define CHUNK 64
/* Progress units of one regression probe fit (a chunk of sequences through the model
 * is 1): rough shares of the time, for the ETA. */
#define WORK_MLP 8
#define WORK_RIDGE 1

static void tick(const SjEvalSpec *sp, int units) {
    if (sp->progress) wm_progress_update(sp->progress, sp->progress->done + units, NULL);
}

static int chunks(const SjEvalSplit *s) { return (s->n + CHUNK - 1) / CHUNK; }
/* Chunks of n views through an encoder (CHUNK sequences' worth of views). */
static int chunks_n(int n) { return (n + CHUNK * 8 - 1) / (CHUNK * 8); }
static int reg_work(const SjEvalSpec *sp) { return sp->mlp ? WORK_MLP : WORK_RIDGE; }

typedef struct {
    float *z;                        /* [n, t, D] */
    float *agg[SJ_EVAL_MAX_M + 1];   /* [M] -> [n, E] */
} Feats;

static void features(SjModel *m, const SjEvalSpec *sp, const SjEvalSplit *s, int m_max, Feats *f) {
    int D = sj_model_enc_dim(m), E = sj_model_agg_dim(m), A = sj_model_shape(m)->action_dim;
    size_t px = (size_t)sj_model_shape(m)->img_h * (size_t)sj_model_shape(m)->img_w * 3;
    f->z = wm_new(float, (size_t)s->n * (size_t)s->t * (size_t)D);
    float *zc = wm_new(float, (size_t)CHUNK * (size_t)m_max * (size_t)D);
    float *ac = wm_new(float, (size_t)CHUNK * (size_t)m_max * (size_t)A);
    for (int M = 1; M <= m_max; M++) f->agg[M] = wm_new(float, (size_t)s->n * (size_t)E);
    for (int b0 = 0; b0 < s->n; b0 += CHUNK) {
        int nb = s->n - b0 < CHUNK ? s->n - b0 : CHUNK;
        size_t v0 = (size_t)b0 * (size_t)s->t;
        sj_model_encode(m, s->pixels + v0 * px, nb * s->t, f->z + v0 * (size_t)D);
        for (int M = 1; M <= m_max; M++) {
            for (int b = 0; b < nb; b++) {
                memcpy(zc + (size_t)b * M * D, f->z + (size_t)(b0 + b) * s->t * D, (size_t)M * D * sizeof(float));
                if (M > 1)
                    memcpy(ac + (size_t)b * (M - 1) * A, s->actions + (size_t)(b0 + b) * (s->t - 1) * A,
                           (size_t)(M - 1) * A * sizeof(float));
            }
            sj_model_aggregate(m, zc, ac, nb, M, 0, f->agg[M] + (size_t)b0 * E);
        }
        tick(sp, 1);
    }
    wm_free(zc);
    wm_free(ac);
}

static void feats_free(Feats *f) {
    wm_free(f->z);
    for (int M = 0; M <= SJ_EVAL_MAX_M; M++) wm_free(f->agg[M]);
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
    if (sp->mlp) tick(sp, WORK_MLP / 2);
    r->used_mlp = use_mlp;
    if (use_mlp) r->mlp = sj_mlp_fit(x, y, n, din, dout, sp->mlp_hidden, sp->mlp_epochs, sp->seed), r->ok = 1;
    else r->ok = sj_ridge_fit(&r->lin, x, y, n, din, dout) == 0;
    tick(sp, sp->mlp ? WORK_MLP - WORK_MLP / 2 : WORK_RIDGE);
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

static double classify(const SjEvalSpec *sp, const float *xtr, const int32_t *ytr, size_t ntr, const float *xte,
                       const int32_t *yte, size_t nte, int din, int k) {
    SjLinearProbe p;
    sj_logreg_fit(&p, xtr, ytr, ntr, din, k, 300, 1e-4);
    float *lg = wm_new(float, nte * (size_t)k);
    sj_probe_predict(&p, xte, nte, lg);
    double acc = sj_top1(lg, yte, nte, k);
    wm_free(lg);
    sj_probe_free(&p);
    tick(sp, 1);
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

/* The equivariance row: the regressor from x (one row per sequence, din wide) to each
 * sequence's first action, in the split's target form (split->equiv) where it has one. */
static void equivariance(const SjEvalSpec *sp, const SjEvalSplit *tr, const SjEvalSplit *te, int A, const float *xtr,
                         const float *xte, int din, double *r2) {
    const float *ya = tr->equiv ? tr->equiv : tr->actions, *yb = te->equiv ? te->equiv : te->actions;
    size_t ntr = (size_t)tr->n, nte = (size_t)te->n;
    float *ytr = concat_rows(ya, (size_t)(tr->t - 1) * A, A, ya, 0, 0, ntr);
    float *yte = concat_rows(yb, (size_t)(te->t - 1) * A, A, yb, 0, 0, nte);
    const float *xs[1] = {xte};
    regress(sp, xtr, ytr, ntr, din, A, xs, 1, yte, nte, r2);
    wm_free(ytr), wm_free(yte);
}

static int has_pose(const SjEvalSplit *tr, const SjEvalSplit *te) {
    return tr->pose && te->pose && tr->pose_dim == te->pose_dim && tr->pose_dim > 0;
}

/* The pose rows from features of every view (xtr [tr->n * tr->t, dim], likewise xte):
 * ridge (pose_r2) and, with spec->mlp, the regressor of the equivariance row
 * (pose_mlp_r2), which reads pose that a linear map of z cannot. */
static void pose_rows(const SjEvalSpec *sp, const float *xtr, const float *xte, int dim, const SjEvalSplit *tr,
                      const SjEvalSplit *te, SjEvalResult *out) {
    size_t ntr = (size_t)tr->n * (size_t)tr->t, nte = (size_t)te->n * (size_t)te->t;
    out->pose_r2 = sj_pose_probe(xtr, tr->pose, ntr, xte, te->pose, nte, dim, tr->pose_dim);
    tick(sp, 1);
    if (sp->mlp) regress(sp, xtr, tr->pose, ntr, dim, tr->pose_dim, &xte, 1, te->pose, nte, &out->pose_mlp_r2);
}

static double one_minus_cos(const float *a, const float *b, int d) {
    double ab = 0, aa = 0, bb = 0;
    for (int j = 0; j < d; j++) ab += (double)a[j] * b[j], aa += (double)a[j] * a[j], bb += (double)b[j] * b[j];
    return 1 - ab / fmax(sqrt(aa) * sqrt(bb), 1e-12);
}

/* The training loss on the test split with L observed views: z_hat from z_AGG(L)
 * (given) and a_L against the target encoding of view L+1; the same with a_L of the
 * next sequence of the split in place of its own (same actions, paired with other
 * sequences: the rise is what the prediction owes to the action; none for a model that
 * ignores it); and two references: copying
 * the target encoding of view L (what a model that ignores actions and context reaches
 * when consecutive views look alike) and predicting the mean target encoding of the
 * split (a constant: what a model reaches that ignores its input altogether). */
static void prediction_loss(SjModel *m, const SjEvalSplit *s, const float *agg, int L, SjEvalResult *out) {
    const SjShape *sh = sj_model_shape(m);
    int D = sj_model_enc_dim(m), E = sj_model_agg_dim(m), A = sh->action_dim;
    size_t px = (size_t)sh->img_h * (size_t)sh->img_w * 3;
    uint8_t *v = wm_new(uint8_t, (size_t)CHUNK * px);
    float *zt = wm_new(float, (size_t)s->n * D), *zl = wm_new(float, (size_t)CHUNK * D);
    float *zh = wm_new(float, (size_t)CHUNK * D), *a = wm_new(float, (size_t)CHUNK * A), *mean = wm_new(float, (size_t)D);
    double sl = 0, sc = 0, sm = 0, so = 0;
    for (int b0 = 0; b0 < s->n; b0 += CHUNK) {
        int nb = s->n - b0 < CHUNK ? s->n - b0 : CHUNK;
        float *t = zt + (size_t)b0 * D;
        for (int pass = 0; pass < 2; pass++) {
            for (int b = 0; b < nb; b++)
                memcpy(v + (size_t)b * px, s->pixels + ((size_t)(b0 + b) * s->t + (size_t)(L - pass)) * px, px);
            sj_model_encode_target(m, v, nb, pass ? zl : t);
        }
        for (int b = 0; b < nb; b++)
            memcpy(a + (size_t)b * A, s->actions + ((size_t)(b0 + b) * (s->t - 1) + (size_t)(L - 1)) * A, (size_t)A * sizeof(float));
        sj_model_predict(m, agg + (size_t)b0 * E, a, nb, zh);
        for (int b = 0; b < nb; b++) {
            sl += one_minus_cos(zh + (size_t)b * D, t + (size_t)b * D, D);
            sc += one_minus_cos(zl + (size_t)b * D, t + (size_t)b * D, D);
        }
        for (int b = 0; b < nb; b++) {
            size_t other = (size_t)(b0 + b + 1) % (size_t)s->n;
            memcpy(a + (size_t)b * A, s->actions + (other * (size_t)(s->t - 1) + (size_t)(L - 1)) * A,
                   (size_t)A * sizeof(float));
        }
        sj_model_predict(m, agg + (size_t)b0 * E, a, nb, zh);
        for (int b = 0; b < nb; b++) so += one_minus_cos(zh + (size_t)b * D, t + (size_t)b * D, D);
    }
    for (int i = 0; i < s->n; i++)
        for (int j = 0; j < D; j++) mean[j] += zt[(size_t)i * D + j] / (float)s->n;
    for (int i = 0; i < s->n; i++) sm += one_minus_cos(mean, zt + (size_t)i * D, D);
    out->loss = sl / s->n, out->loss_copy = sc / s->n, out->loss_mean = sm / s->n;
    out->loss_other = s->n > 1 ? so / s->n : NAN;
    wm_free(v), wm_free(zt), wm_free(zl), wm_free(zh), wm_free(a), wm_free(mean);
}

int sj_eval_run(SjModel *m, const SjEvalSpec *sp, const SjEvalSplit *tr, const SjEvalSplit *te,
                SjEvalResult *out, char *err, size_t errsz) {
    sj_eval_result_blank(out, sp->m_max);
    int M_max = sp->m_max;
    if (M_max < 1 || M_max > SJ_EVAL_MAX_M || tr->t < M_max + 1 || te->t < M_max + 1)
        return wm_errf(err, errsz, WM_ERR_ARG, "eval: m_max = %d needs sequences of at least %d views (have %d, %d)",
                       M_max, M_max + 1, tr->t, te->t);
    if (tr->n < 8 || te->n < 8) return wm_errf(err, errsz, WM_ERR_ARG, "eval: too few sequences (%d train, %d test)", tr->n, te->n);
    double t0 = wm_now();
    out->m_max = M_max;
    const SjShape *sh = sj_model_shape(m);
    int D = sj_model_enc_dim(m), E = sj_model_agg_dim(m), A = sh->action_dim, K = sh->n_classes;
    sj_model_bind(m, CHUNK, M_max, 0);
    Feats ftr = {0}, fte = {0};
    features(m, sp, tr, M_max, &ftr);
    features(m, sp, te, M_max, &fte);
    size_t ntr = (size_t)tr->n, nte = (size_t)te->n;
    size_t zs_tr = (size_t)tr->t * (size_t)D, zs_te = (size_t)te->t * (size_t)D;

    /* Invariance: class from z of the first view, and from z_AGG(M). */
    float *z1tr = concat_rows(ftr.z, zs_tr, D, ftr.z, zs_tr, 0, ntr), *z1te = concat_rows(fte.z, zs_te, D, fte.z, zs_te, 0, nte);
    out->top1_z = classify(sp, z1tr, tr->labels, ntr, z1te, te->labels, nte, D, K);
    for (int M = 1; M <= M_max; M++)
        out->top1_agg[M] = classify(sp, ftr.agg[M], tr->labels, ntr, fte.agg[M], te->labels, nte, E, K);
    wm_free(z1tr), wm_free(z1te);

    /* Equivariance: a_1 (in the split's target form) from concat(z_1, z_2). */
    float *etr = concat_rows(ftr.z, zs_tr, D, ftr.z + D, zs_tr, D, ntr), *ete = concat_rows(fte.z, zs_te, D, fte.z + D, zs_te, D, nte);
    equivariance(sp, tr, te, A, etr, ete, 2 * D, &out->equiv_r2);
    wm_free(etr), wm_free(ete);

    /* Pose (the equivariance probe's gate): ridge from z of every view to its pose, and
     * (spec->mlp) the non-linear regressor on the same rows. */
    if (has_pose(tr, te)) pose_rows(sp, ftr.z, fte.z, D, tr, te, out);

    /* Path integration: next-view retrieval by the model's own predictor. */
    if (sp->retr) {
        int rc = sj_retrieval_run(m, sp->retr, sp->retr_m_max, sp->retr_k, out->retr_top1, out->retr_copy, err, errsz);
        if (rc) {
            feats_free(&ftr);
            feats_free(&fte);
            return rc;
        }
        out->retr_m_max = sp->retr_m_max, out->retr_k = sp->retr_k;
        tick(sp, 2 * chunks_n(sp->retr->n * sp->retr->t));
    }
    if (sp->loss_m >= 1 && sp->loss_m <= M_max) {
        prediction_loss(m, te, fte.agg[sp->loss_m], sp->loss_m, out);
        out->loss_m = sp->loss_m;
        tick(sp, 1);
    }
    if (sp->want_pca) {
        out->n_pca = te->n;
        out->pca_z = wm_new(double, 2 * nte);
        out->pca_agg = wm_new(double, 2 * nte);
        float *z1 = concat_rows(fte.z, zs_te, D, fte.z, zs_te, 0, nte);
        sj_pca2(z1, nte, D, out->pca_z);
        sj_pca2(fte.agg[M_max], nte, E, out->pca_agg);
        wm_free(z1);
    }
    feats_free(&ftr);
    feats_free(&fte);
    out->seconds = wm_now() - t0;
    return WM_OK;
}

void sj_eval_json_fields(const SjEvalResult *r, WmJsonW *w) {
    wm_jw_key(w, "top1_z"), wm_jw_fixed(w, r->top1_z, 6);
    wm_jw_key(w, "pose_r2"), wm_jw_fixed(w, r->pose_r2, 6);
    wm_jw_key(w, "pose_mlp_r2"), wm_jw_fixed(w, r->pose_mlp_r2, 6);
    wm_jw_key(w, "equivariance_r2"), wm_jw_fixed(w, r->equiv_r2, 6);
    wm_jw_key(w, "m_max"), wm_jw_int(w, r->m_max);
    wm_jw_break(w, "\n "), wm_jw_key(w, "top1_agg"), wm_jw_arr(w);
    for (int M = 1; M <= r->m_max; M++) wm_jw_fixed(w, r->top1_agg[M], 6);
    wm_jw_end(w);
    wm_jw_break(w, "\n "), wm_jw_key(w, "retrieval_m_max"), wm_jw_int(w, r->retr_m_max);
    wm_jw_key(w, "retrieval_distractors"), wm_jw_int(w, r->retr_k);
    const double *arr[2] = {r->retr_top1, r->retr_copy};
    static const char *names[2] = {"retrieval_top1", "retrieval_copy_last_view"};
    for (int k = 0; k < 2; k++) {
        wm_jw_break(w, "\n "), wm_jw_key(w, names[k]), wm_jw_arr(w);
        for (int M = 1; M <= r->retr_m_max; M++) wm_jw_fixed(w, arr[k][M], 6);
        wm_jw_end(w);
    }
    wm_jw_break(w, "\n "), wm_jw_key(w, "loss_m"), wm_jw_int(w, r->loss_m);
    wm_jw_key(w, "loss"), wm_jw_fixed(w, r->loss, 6);
    wm_jw_key(w, "loss_other_action"), wm_jw_fixed(w, r->loss_other, 6);
    wm_jw_key(w, "loss_copy_last_view"), wm_jw_fixed(w, r->loss_copy, 6);
    wm_jw_key(w, "loss_mean_target"), wm_jw_fixed(w, r->loss_mean, 6);
    wm_jw_key(w, "seconds"), wm_jw_fixed(w, r->seconds, 2);
}

/* The metric rows of every results table, in order. A row is one value per column;
 * `from_m` > 0 repeats it for M = from_m..m_max (`retr`: ..retr_m_max). */
typedef double (*MetricGet)(const SjEvalResult *r, int M);
static double m_top1_z(const SjEvalResult *r, int M) { return (void)M, r->top1_z; }
static double m_top1_agg(const SjEvalResult *r, int M) { return r->top1_agg[M]; }
static double m_equiv(const SjEvalResult *r, int M) { return (void)M, r->equiv_r2; }
static double m_pose(const SjEvalResult *r, int M) { return (void)M, r->pose_r2; }
static double m_pose_mlp(const SjEvalResult *r, int M) { return (void)M, r->pose_mlp_r2; }
static double m_retr(const SjEvalResult *r, int M) { return r->retr_top1[M]; }
static double m_retr_copy(const SjEvalResult *r, int M) { return r->retr_copy[M]; }
static double m_loss(const SjEvalResult *r, int M) { return (void)M, r->loss; }
static double m_loss_other(const SjEvalResult *r, int M) { return (void)M, r->loss_other; }
static double m_loss_copy(const SjEvalResult *r, int M) { return (void)M, r->loss_copy; }
static double m_loss_mean(const SjEvalResult *r, int M) { return (void)M, r->loss_mean; }

enum { G_INVARIANCE, G_EQUIVARIANCE, G_PATHINT, G_LOSS, G_COUNT };
static const struct {
    int group;
    const char *label; /* %d: M */
    const char *key;   /* JSON key; %d: M */
    int from_m, retr;
    MetricGet get;
} metrics[] = {
    {G_INVARIANCE, "top-1 from z (view 1)", "top1_z", 0, 0, m_top1_z},
    {G_INVARIANCE, "top-1 from z_AGG, M = %d", "top1_agg_m%d", 1, 0, m_top1_agg},
    {G_EQUIVARIANCE, "pose R^2 from z (the gate)", "pose_r2", 0, 0, m_pose},
    {G_EQUIVARIANCE, "pose R^2 from z, MLP or ridge", "pose_mlp_r2", 0, 0, m_pose_mlp},
    {G_EQUIVARIANCE, "R^2 of a_1 from (z_1, z_2)", "equivariance_r2", 0, 0, m_equiv},
    /* M = 1 is kept: the model must still turn view 1's pose by a_1. */
    {G_PATHINT, "top-1, M = %d", "retrieval_top1_m%d", 1, 1, m_retr},
    {G_PATHINT, "copying view M, M = %d", "retrieval_copy_m%d", 1, 1, m_retr_copy},
    {G_LOSS, "the model's prediction", "loss", 0, 0, m_loss},
    {G_LOSS, "the same, a_M of another sequence", "loss_other_action", 0, 0, m_loss_other},
    {G_LOSS, "copying view M's target encoding", "loss_copy_last_view", 0, 0, m_loss_copy},
    {G_LOSS, "predicting the mean target encoding", "loss_mean_target", 0, 0, m_loss_mean},
};
enum { N_METRICS = sizeof metrics / sizeof metrics[0] };

static const char *group_intro(int g, int loss_m, int retr_k, int glimpses) {
    static char buf[1600];
    const char *item = glimpses ? "image" : "object", *view = glimpses ? "glimpse" : "view";
    const char *pose = glimpses ? "fixation" : "pose";
    switch (g) {
    case G_INVARIANCE:
        snprintf(buf, sizeof buf,
                 "Invariance: top-1 accuracy of a linear classifier of the %s class, trained on features of "
                 "training %ss and scored on held-out ones.",
                 glimpses ? "scene" : "object", item);
        return buf;
    case G_EQUIVARIANCE:
        snprintf(buf, sizeof buf,
                 "Pose and equivariance (held-out %ss): R^2 of ridge from z of one %s to its absolute pose (%s), the "
                 "gate of the next row: a relative %s can only be read from two encodings that carry each %s's "
                 "pose; the MLP row reads the same pose with the next row's regressor (an MLP with two hidden "
                 "layers, or ridge where that scores higher on a validation fifth of the training rows, and then "
                 "the two rows agree): pose the encoder carries, but not linearly; then R^2 of that regressor of "
                 "the relative %s a_1 from the encodings of %ss 1 and 2%s.",
                 item, view, glimpses ? "the fixation, y and x in the scene" : "the 9 rotation-matrix entries",
                 glimpses ? "saccade" : "action", view, glimpses ? "saccade" : "action", view,
                 glimpses ? "" : " (its rotation as q_1^-1 q_2 of the two views' quaternions, without the sign flip "
                                 "that keeps the action's w >= 0)");
        return buf;
    case G_PATHINT:
        snprintf(buf, sizeof buf,
                 "Path integration: next-view retrieval, top-1. The model sees %ss 1..M of a held-out %s with the "
                 "%s between them, its predictor gets a_M, and its prediction is compared (cosine) with the target "
                 "encodings of the true %s M+1 and of %d other %ss of the same %s%s, at independent %ss that a_M "
                 "could have led to (chance 1/%d). No probe is trained; only a prediction that %s %s M's %s by a_M "
                 "singles out %s M+1, so an untrained, action-blind or copying model scores chance; the action-only "
                 "column is the best a reader of a_M alone can do. M = 1 is not trivial: the %s of %s 1 must still "
                 "be %s by a_1. The copy rows query with %s M's own target encoding.",
                 view, item, glimpses ? "saccades" : "actions", view, retr_k, view, item,
                 glimpses ? "" : ", under the same lights and colours", pose, retr_k + 1,
                 glimpses ? "moves" : "turns", view, pose, view, pose, view, glimpses ? "moved" : "turned", view);
        return buf;
    default:
        snprintf(buf, sizeof buf,
                 "Prediction loss 1 - cos(prediction, target) on held-out sequences (M = %d observed %ss; the "
                 "target is the target encoder's encoding of %s M+1): the model's prediction; the same with each "
                 "sequence's a_M replaced by the next held-out sequence's (the rise over the first row is what the "
                 "prediction owes to the action; none for a model that ignores it); and two references that use "
                 "neither the action nor the context: copying %s M's own target encoding, and predicting the mean "
                 "target encoding (a constant).",
                 loss_m, view, view, view);
        return buf;
    }
}

/* The last M of metric k in column r, and over all columns. */
static int metric_last(int k, const SjEvalResult *r) {
    return metrics[k].from_m ? (metrics[k].retr ? r->retr_m_max : r->m_max) : 0;
}
static int table_last(int k, const SjEvalColumn *cols, int n) {
    int mm = 0;
    for (int c = 0; c < n; c++) mm = metric_last(k, cols[c].r) > mm ? metric_last(k, cols[c].r) : mm;
    return mm;
}

/* Column r's value of metric k at M (NaN beyond its range). */
static double metric_value(int k, const SjEvalResult *r, int M) {
    return M <= metric_last(k, r) ? metrics[k].get(r, M) : NAN;
}

/* Whether any column has a finite value in this metric row. */
static int row_has_value(const SjEvalColumn *cols, int n, int k, int M) {
    for (int c = 0; c < n; c++)
        if (isfinite(metric_value(k, cols[c].r, M))) return 1;
    return 0;
}

void sj_eval_markdown_table(const SjEvalColumn *cols, int ncols, int glimpses, WmBuf *md) {
    int loss_m = 0, retr_k = 0;
    for (int c = 0; c < ncols; c++) {
        if (cols[c].r->loss_m && !loss_m) loss_m = cols[c].r->loss_m;
        if (cols[c].r->retr_k && !retr_k) retr_k = cols[c].r->retr_k;
    }
    for (int g = 0; g < G_COUNT; g++) {
        int any = 0;
        for (int k = 0; k < N_METRICS; k++)
            if (metrics[k].group == g)
                for (int M = metrics[k].from_m; M <= table_last(k, cols, ncols); M++)
                    any |= row_has_value(cols, ncols, k, M);
        if (!any) continue;
        wm_buf_printf(md, "%s\n\n| |", group_intro(g, loss_m, retr_k, glimpses));
        for (int c = 0; c < ncols; c++) wm_buf_printf(md, " %s |", cols[c].name);
        wm_buf_puts(md, "\n|---|");
        for (int c = 0; c < ncols; c++) wm_buf_puts(md, "---|");
        wm_buf_puts(md, "\n");
        for (int k = 0; k < N_METRICS; k++) {
            if (metrics[k].group != g) continue;
            for (int M = metrics[k].from_m; M <= table_last(k, cols, ncols); M++) {
                if (!row_has_value(cols, ncols, k, M)) continue;
                wm_buf_puts(md, "| ");
                wm_buf_printf(md, metrics[k].label, M);
                wm_buf_puts(md, " |");
                for (int c = 0; c < ncols; c++) {
                    double v = metric_value(k, cols[c].r, M);
                    if (isfinite(v)) wm_buf_printf(md, " %.3f |", v);
                    else wm_buf_puts(md, " – |");
                }
                wm_buf_puts(md, "\n");
            }
        }
        wm_buf_puts(md, "\n");
    }
    int legend = 0;
    for (int c = 0; c < ncols; c++)
        if (cols[c].about) {
            wm_buf_printf(md, "%s- **%s**: %s\n", legend ? "" : "Columns:\n\n", cols[c].name, cols[c].about);
            legend = 1;
        }
}

void sj_eval_json_table(const SjEvalColumn *cols, int ncols, WmJsonW *w) {
    wm_jw_obj(w);
    for (int c = 0; c < ncols; c++) {
        const SjEvalResult *r = cols[c].r;
        wm_jw_break(w, "\n  "), wm_jw_key(w, cols[c].name), wm_jw_obj(w);
        for (int k = 0; k < N_METRICS; k++) {
            for (int M = metrics[k].from_m; M <= metric_last(k, r); M++) {
                char key[64];
                snprintf(key, sizeof key, metrics[k].key, M);
                wm_jw_key(w, key), wm_jw_fixed(w, metrics[k].get(r, M), 6);
            }
        }
        wm_jw_end(w);
    }
    wm_jw_end(w);
}

void sj_eval_result_blank(SjEvalResult *r, int m_max) {
    memset(r, 0, sizeof *r);
    r->m_max = m_max;
    r->top1_z = r->pose_r2 = r->pose_mlp_r2 = r->equiv_r2 = r->loss = r->loss_other = r->loss_copy =
        r->loss_mean = NAN;
    for (int M = 0; M <= SJ_EVAL_MAX_M; M++) r->top1_agg[M] = r->retr_top1[M] = r->retr_copy[M] = NAN;
}

void sj_eval_chance(SjEvalResult *r, int m_max, int n_classes, int retr_m_max, int retr_k) {
    sj_eval_result_blank(r, m_max);
    r->top1_z = 1.0 / n_classes;
    r->pose_r2 = r->pose_mlp_r2 = r->equiv_r2 = 0;
    for (int M = 1; M <= m_max && M <= SJ_EVAL_MAX_M; M++) r->top1_agg[M] = 1.0 / n_classes;
    if (retr_m_max > 0 && retr_k > 0) {
        r->retr_m_max = retr_m_max, r->retr_k = retr_k;
        for (int M = 1; M <= retr_m_max && M <= SJ_EVAL_MAX_M; M++) r->retr_top1[M] = 1.0 / (retr_k + 1);
    }
}

int sj_eval_work(const SjEvalSpec *sp, const SjEvalSplit *tr, const SjEvalSplit *te) {
    int w = chunks(tr) + chunks(te);
    w += 1 + sp->m_max;            /* classifiers */
    w += reg_work(sp);             /* equivariance */
    w += has_pose(tr, te) * (1 + (sp->mlp ? reg_work(sp) : 0)); /* pose rows */
    if (sp->retr) w += 2 * chunks_n(sp->retr->n * sp->retr->t);
    return w + (sp->loss_m >= 1 && sp->loss_m <= sp->m_max);
}

int sj_eval_oracle_work(const SjEvalSpec *sp, const SjEvalSplit *tr, const SjEvalSplit *te) {
    return (tr->latents && te->latents && tr->latent_dim == te->latent_dim) * reg_work(sp) +
           has_pose(tr, te) * (1 + (sp->mlp ? reg_work(sp) : 0));
}

void sj_eval_result_free(SjEvalResult *r) {
    wm_free(r->pca_z);
    wm_free(r->pca_agg);
    r->pca_z = r->pca_agg = NULL;
}

int sj_eval_oracle_result(const SjEvalSpec *sp, const SjEvalSplit *tr, const SjEvalSplit *te, int A, SjEvalResult *out,
                          char *err, size_t errsz) {
    sj_eval_result_blank(out, sp->m_max);
    if (sp->retr && sp->retr->pose) {
        int rc = sj_retrieval_oracle(sp->retr, sp->retr_m_max, sp->retr_k, out->retr_top1, err, errsz);
        if (rc) return rc;
        out->retr_m_max = sp->retr_m_max, out->retr_k = sp->retr_k;
    }
    if (has_pose(tr, te)) pose_rows(sp, tr->pose, te->pose, tr->pose_dim, tr, te, out);
    if (!tr->latents || !te->latents || tr->latent_dim != te->latent_dim || tr->t < 2 || te->t < 2) return WM_OK;
    /* Equivariance from the true latents of views 1 and 2 (contiguous in each row). */
    int L = tr->latent_dim;
    size_t ntr = (size_t)tr->n, nte = (size_t)te->n;
    float *xtr = concat_rows(tr->latents, (size_t)tr->t * L, 2 * L, tr->latents, 0, 0, ntr);
    float *xte = concat_rows(te->latents, (size_t)te->t * L, 2 * L, te->latents, 0, 0, nte);
    equivariance(sp, tr, te, A, xtr, xte, 2 * L, &out->equiv_r2);
    wm_free(xtr), wm_free(xte);
    return WM_OK;
}

static float *noise(WmRng *r, size_t n) {
    float *x = wm_new(float, n);
    for (size_t i = 0; i < n; i++) x[i] = (float)wm_rng_normal(r);
    return x;
}

void sj_eval_noise_result(const SjEvalSpec *sp, const SjEvalSplit *tr, const SjEvalSplit *te, int dim,
                          SjEvalResult *out) {
    sj_eval_result_blank(out, sp->m_max);
    WmRng r;
    wm_rng_seed(&r, sp->seed, 0x6e6f697365ULL);
    if (has_pose(tr, te)) {
        size_t ntr = (size_t)tr->n * (size_t)tr->t, nte = (size_t)te->n * (size_t)te->t;
        float *xtr = noise(&r, ntr * (size_t)dim), *xte = noise(&r, nte * (size_t)dim);
        SjEvalSpec quiet = *sp; /* not part of the caller's planned work */
        quiet.progress = NULL;
        pose_rows(&quiet, xtr, xte, dim, tr, te, out);
        wm_free(xtr), wm_free(xte);
    }
    if (sp->retr) {
        size_t k1 = (size_t)sp->retr_k + 1;
        for (int M = 1; M <= sp->retr_m_max && M <= SJ_EVAL_MAX_M; M++) {
            /* as many queries as the models are scored on at M */
            size_t n = (size_t)sj_retrieval_count(sp->retr, M);
            float *q = noise(&r, n * (size_t)dim), *c = noise(&r, n * k1 * (size_t)dim);
            out->retr_top1[M] = n ? sj_retrieval_top1(q, c, n, (int)k1, dim, SJ_SIM_COSINE) : NAN;
            wm_free(q), wm_free(c);
        }
        out->retr_m_max = sp->retr_m_max, out->retr_k = sp->retr_k;
    }
}

int sj_eval_action_only_result(const SjEvalSpec *sp, SjEvalResult *out, char *err, size_t errsz) {
    sj_eval_result_blank(out, sp->m_max);
    if (!sp->retr || !sp->retr->action_only) return WM_OK;
    int rc = sj_retrieval_action_only(sp->retr, sp->retr_m_max, sp->retr_k, out->retr_top1, err, errsz);
    if (!rc) out->retr_m_max = sp->retr_m_max, out->retr_k = sp->retr_k;
    return rc;
}
