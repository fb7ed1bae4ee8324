/* Pose probe and next-view retrieval (see sj_pathint.h). */
#include "model/sj_pathint.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "model/probe.h"

#define CHUNK 64

double sj_pose_probe(const float *xtr, const float *ytr, size_t ntr, const float *xte, const float *yte, size_t nte,
                     int d, int p) {
    SjLinearProbe pr;
    if (sj_ridge_fit(&pr, xtr, ytr, ntr, d, p)) return NAN;
    float *pred = wm_new(float, nte * (size_t)p);
    sj_probe_predict(&pr, xte, nte, pred);
    double r2 = sj_r2_score(yte, pred, nte, p);
    wm_free(pred);
    sj_probe_free(&pr);
    return r2;
}

static double similarity(const float *a, const float *b, int d, int sim) {
    double ab = 0, aa = 0, bb = 0;
    if (sim == SJ_SIM_DISTANCE) {
        for (int j = 0; j < d; j++) ab += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
        return -sqrt(ab);
    }
    for (int j = 0; j < d; j++) ab += (double)a[j] * b[j], aa += (double)a[j] * a[j], bb += (double)b[j] * b[j];
    return ab / fmax(sqrt(aa) * sqrt(bb), 1e-30);
}

/* Credit of the first of k1 scores: 1 when strictly highest, 1/t when t tie at the top. */
static double credit(const double *sc, int k1) {
    int ties = 1;
    for (int j = 1; j < k1; j++) {
        if (sc[j] > sc[0]) return 0;
        if (sc[j] == sc[0]) ties++;
    }
    return 1.0 / ties;
}

double sj_retrieval_top1(const float *query, const float *cand, size_t n, int k1, int d, int sim) {
    WM_ASSERT(k1 >= 1 && d >= 1);
    double total = 0, *sc = wm_new(double, (size_t)k1);
    for (size_t i = 0; i < n; i++) {
        const float *q = query + i * (size_t)d, *c = cand + i * (size_t)k1 * (size_t)d;
        for (int j = 0; j < k1; j++) sc[j] = similarity(q, c + (size_t)j * (size_t)d, d, sim);
        total += credit(sc, k1);
    }
    wm_free(sc);
    return n ? total / (double)n : NAN;
}

static int check(const SjRetrSplit *s, int m_max, int k, char *err, size_t errsz) {
    if (m_max < 1 || k < 1 || s->t < m_max + 1 + k)
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "retrieval: M up to %d with %d distractors needs sequences of %d views (have %d)", m_max, k,
                       m_max + 1 + k, s->t);
    if (s->n < 1) return wm_errf(err, errsz, WM_ERR_ARG, "retrieval: no sequences");
    if (s->cand && (k != s->cand_k || m_max > s->cand_m))
        return wm_errf(err, errsz, WM_ERR_ARG, "retrieval: candidates listed for M <= %d and %d distractors, asked %d and %d",
                       s->cand_m, s->cand_k, m_max, k);
    return WM_OK;
}

/* View index of candidate j of sequence i at M (-1: the sequence is left out at M). */
static int cand_view(const SjRetrSplit *s, int i, int M, int j) {
    if (!s->cand) return M + j;
    const int32_t *c = s->cand + ((size_t)i * (size_t)s->cand_m + (size_t)(M - 1)) * (size_t)(s->cand_k + 1);
    return c[0] < 0 ? -1 : c[j];
}

int sj_retrieval_count(const SjRetrSplit *s, int M) {
    int n = 0;
    for (int i = 0; i < s->n; i++) n += cand_view(s, i, M, 0) >= 0;
    return n;
}

/* Top-1 at M over the sequences scored there: queries q [n, d] (row i for sequence i),
 * candidates taken from src [n, per, d] at the views cand_view lists (row index view -
 * shift: per = t and shift = 0 for views, per = t - 1 for per-action arrays). */
static double score_at(const SjRetrSplit *s, int M, int k, const float *q, const float *src, int per, int d, int sim) {
    int k1 = k + 1, nu = 0;
    float *qu = wm_new(float, (size_t)s->n * (size_t)d), *cu = wm_new(float, (size_t)s->n * (size_t)k1 * (size_t)d);
    for (int i = 0; i < s->n; i++) {
        if (cand_view(s, i, M, 0) < 0) continue;
        memcpy(qu + (size_t)nu * d, q + (size_t)i * d, (size_t)d * sizeof(float));
        for (int j = 0; j < k1; j++) {
            int v = cand_view(s, i, M, j);
            WM_ASSERT(v >= 0 && v < per);
            memcpy(cu + ((size_t)nu * k1 + (size_t)j) * d, src + ((size_t)i * per + (size_t)v) * d, (size_t)d * sizeof(float));
        }
        nu++;
    }
    double r = nu ? sj_retrieval_top1(qu, cu, (size_t)nu, k1, d, sim) : NAN;
    wm_free(qu), wm_free(cu);
    return r;
}

/* rows [n, d]: row `first` of each sequence's [t, d] block. */
static void gather_row(const float *src, int n, int t, int d, int first, float *out) {
    for (int i = 0; i < n; i++)
        memcpy(out + (size_t)i * (size_t)d, src + ((size_t)i * (size_t)t + (size_t)first) * (size_t)d,
               (size_t)d * sizeof(float));
}

int sj_retrieval_run(SjModel *m, const SjRetrSplit *s, int m_max, int k, double *top1, double *copy, char *err,
                     size_t errsz) {
    int rc = check(s, m_max, k, err, errsz);
    if (rc) return rc;
    const SjShape *sh = sj_model_shape(m);
    int D = sj_model_enc_dim(m), E = sj_model_agg_dim(m), A = sh->action_dim, t = s->t, n = s->n;
    size_t nt = (size_t)n * (size_t)t;
    sj_model_bind(m, CHUNK, m_max, 0);
    float *z = wm_new(float, nt * (size_t)D), *zt = wm_new(float, nt * (size_t)D);
    sj_model_encode(m, s->pixels, (int)nt, z);
    sj_model_encode_target(m, s->pixels, (int)nt, zt);
    float *zc = wm_new(float, (size_t)CHUNK * (size_t)m_max * (size_t)D);
    float *ac = wm_new(float, (size_t)CHUNK * (size_t)m_max * (size_t)A), *an = wm_new(float, (size_t)CHUNK * (size_t)A);
    float *agg = wm_new(float, (size_t)CHUNK * (size_t)E), *zh = wm_new(float, (size_t)n * (size_t)D);
    float *last = wm_new(float, (size_t)n * (size_t)D);
    for (int M = 1; M <= m_max; M++) {
        for (int b0 = 0; b0 < n; b0 += CHUNK) {
            int nb = n - b0 < CHUNK ? n - b0 : CHUNK;
            for (int b = 0; b < nb; b++) {
                size_t seq = (size_t)(b0 + b);
                memcpy(zc + (size_t)b * M * D, z + seq * t * D, (size_t)M * D * sizeof(float));
                const float *acts = s->actions + seq * (size_t)(t - 1) * A;
                if (M > 1) memcpy(ac + (size_t)b * (M - 1) * A, acts, (size_t)(M - 1) * A * sizeof(float));
                memcpy(an + (size_t)b * A, acts + (size_t)(M - 1) * A, (size_t)A * sizeof(float));
            }
            sj_model_aggregate(m, zc, ac, nb, M, 0, agg);
            sj_model_predict(m, agg, an, nb, zh + (size_t)b0 * D);
        }
        top1[M] = score_at(s, M, k, zh, zt, t, D, SJ_SIM_COSINE);
        if (copy) {
            gather_row(zt, n, t, D, M - 1, last);
            copy[M] = score_at(s, M, k, last, zt, t, D, SJ_SIM_COSINE);
        }
    }
    wm_free(z), wm_free(zt), wm_free(zc), wm_free(ac), wm_free(an), wm_free(agg), wm_free(zh), wm_free(last);
    return WM_OK;
}

int sj_retrieval_oracle(const SjRetrSplit *s, int m_max, int k, double *top1, char *err, size_t errsz) {
    int rc = check(s, m_max, k, err, errsz);
    if (rc) return rc;
    if (!s->pose || !s->pose_next || s->pose_dim < 1)
        return wm_errf(err, errsz, WM_ERR_ARG, "retrieval oracle: the sequences carry no poses");
    int P = s->pose_dim, n = s->n, t = s->t;
    float *q = wm_new(float, (size_t)n * (size_t)P);
    for (int M = 1; M <= m_max; M++) {
        gather_row(s->pose_next, n, t - 1, P, M - 1, q);
        top1[M] = score_at(s, M, k, q, s->pose, t, P, SJ_SIM_DISTANCE);
    }
    wm_free(q);
    return WM_OK;
}

int sj_retrieval_action_only(const SjRetrSplit *s, int m_max, int k, double *top1, char *err, size_t errsz) {
    int rc = check(s, m_max, k, err, errsz);
    if (rc) return rc;
    if (!s->action_only) return wm_errf(err, errsz, WM_ERR_ARG, "retrieval: no action-only scores");
    int t = s->t, k1 = k + 1;
    double *sc = wm_new(double, (size_t)k1);
    for (int M = 1; M <= m_max; M++) {
        double total = 0;
        int nu = 0;
        for (int i = 0; i < s->n; i++) {
            if (cand_view(s, i, M, 0) < 0) continue;
            const float *row = s->action_only + ((size_t)i * (size_t)(t - 1) + (size_t)(M - 1)) * (size_t)t;
            for (int j = 0; j < k1; j++) sc[j] = row[cand_view(s, i, M, j)];
            total += credit(sc, k1);
            nu++;
        }
        top1[M] = nu ? total / nu : NAN;
    }
    wm_free(sc);
    return WM_OK;
}
