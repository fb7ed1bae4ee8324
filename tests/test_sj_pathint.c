/* The pose probe and the retrieval scorer fed features whose answer is known: ideal
 * features (true rotation matrices mixed linearly into 128 dimensions, plus a little
 * noise) must score high, pure noise near nothing (R^2) or chance (retrieval); ties
 * share the credit, so constant features score exactly chance; and the oracle on
 * sequences whose poses follow the actions finds every next view. */
#include "core/alloc.h"
#include "core/err.h"
#include "core/quat.h"
#include "core/rng.h"
#include "model/sj_pathint.h"
#include "tests/test.h"

enum { F = 128, NTR = 3000, NTE = 1000, K = 7 };

/* A random 128 x 9 mixing matrix. */
static void mixing(WmRng *r, float *w) {
    for (int i = 0; i < F * 9; i++) w[i] = (float)wm_rng_normal(r);
}

static void random_rot(WmRng *r, float *m9) {
    double q[4], m[9];
    wm_quat_random(q, r);
    wm_quat_to_mat3(q, m);
    for (int j = 0; j < 9; j++) m9[j] = (float)m[j];
}

/* feature = W vec(R) + noise * N(0, 1) */
static void mix(WmRng *r, const float *w, const float *m9, double noise, float *out) {
    for (int i = 0; i < F; i++) {
        double s = 0;
        for (int j = 0; j < 9; j++) s += (double)w[i * 9 + j] * m9[j];
        out[i] = (float)(s + noise * wm_rng_normal(r));
    }
}

/* m9 = a * b as 3x3 row-major rotation matrices (the pose after a relative turn b). */
static void matmul3(const float *a, const float *b, float *out) {
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int k = 0; k < 3; k++) s += (double)a[i * 3 + k] * b[k * 3 + j];
            out[i * 3 + j] = (float)s;
        }
}

static void test_pose_probe(void) {
    WmRng r;
    wm_rng_seed(&r, 11, 0);
    float *w = wm_new(float, F * 9);
    mixing(&r, w);
    float *ytr = wm_new(float, NTR * 9), *yte = wm_new(float, NTE * 9);
    float *xtr = wm_new(float, NTR * F), *xte = wm_new(float, NTE * F);
    float *ntr = wm_new(float, NTR * F), *nte = wm_new(float, NTE * F);
    for (int i = 0; i < NTR + NTE; i++) {
        int te = i >= NTR;
        float *y = te ? yte + (i - NTR) * 9 : ytr + i * 9, *x = te ? xte + (i - NTR) * F : xtr + i * F;
        float *nz = te ? nte + (i - NTR) * F : ntr + i * F;
        random_rot(&r, y);
        mix(&r, w, y, 0.1, x);
        for (int j = 0; j < F; j++) nz[j] = (float)wm_rng_normal(&r);
    }
    double ideal = sj_pose_probe(xtr, ytr, NTR, xte, yte, NTE, F, 9);
    double noise = sj_pose_probe(ntr, ytr, NTR, nte, yte, NTE, F, 9);
    CHECK(ideal > 0.95, "pose probe on ideal features: %.4f", ideal);
    CHECK(noise < 0.05 && noise > -0.2, "pose probe on noise: %.4f", noise);
    CHECK(isnan(sj_pose_probe(xtr, ytr, 1, xte, yte, NTE, F, 9)), "one training row: no fit");
    wm_free(w), wm_free(ytr), wm_free(yte), wm_free(xtr), wm_free(xte), wm_free(ntr), wm_free(nte);
}

/* n sequences of t views at independent random poses with the relative turn between
 * consecutive views as the action (the iid protocol), in the shapes of SjRetrSplit. */
typedef struct {
    float *pose, *next, *act; /* [n,t,9], [n,t-1,9], [n,t-1,9] (the turn as a matrix) */
} Seqs;

static void make_seqs(WmRng *r, int n, int t, Seqs *s) {
    s->pose = wm_new(float, (size_t)n * t * 9);
    s->next = wm_new(float, (size_t)n * (t - 1) * 9);
    s->act = wm_new(float, (size_t)n * (t - 1) * 9);
    for (int i = 0; i < n; i++) {
        for (int v = 0; v < t; v++) random_rot(r, s->pose + ((size_t)i * t + v) * 9);
        for (int v = 0; v + 1 < t; v++) {
            const float *a = s->pose + ((size_t)i * t + v) * 9, *b = a + 9;
            float at[9], *rel = s->act + ((size_t)i * (t - 1) + v) * 9;
            for (int p = 0; p < 3; p++)
                for (int q = 0; q < 3; q++) at[p * 3 + q] = a[q * 3 + p];
            matmul3(at, b, rel); /* R_v^T R_{v+1} */
            matmul3(a, rel, s->next + ((size_t)i * (t - 1) + v) * 9);
        }
    }
}

static void seqs_free(Seqs *s) { wm_free(s->pose), wm_free(s->next), wm_free(s->act); }

static void test_retrieval_scores(void) {
    enum { N = 2000, K1 = K + 1 };
    WmRng r;
    wm_rng_seed(&r, 12, 0);
    float *w = wm_new(float, F * 9);
    mixing(&r, w);
    Seqs s;
    make_seqs(&r, N, K1 + 1, &s);
    /* Ideal features at M = 1: the query is view 1's pose turned by a_1, the candidates
     * views 2..9, all mixed into 128 dimensions with noise; cosine must find view 2. */
    float *q = wm_new(float, (size_t)N * F), *c = wm_new(float, (size_t)N * K1 * F);
    for (int i = 0; i < N; i++) {
        mix(&r, w, s.next + (size_t)i * K1 * 9, 0.1, q + (size_t)i * F);
        for (int j = 0; j < K1; j++) mix(&r, w, s.pose + ((size_t)i * (K1 + 1) + 1 + j) * 9, 0.1, c + ((size_t)i * K1 + j) * F);
    }
    double ideal = sj_retrieval_top1(q, c, N, K1, F, SJ_SIM_COSINE);
    CHECK(ideal > 0.95, "retrieval on ideal features: %.4f", ideal);
    /* Random features: chance, 1/8 (binomial sd over 2000 queries 0.0074). */
    for (size_t i = 0; i < (size_t)N * F; i++) q[i] = (float)wm_rng_normal(&r);
    for (size_t i = 0; i < (size_t)N * K1 * F; i++) c[i] = (float)wm_rng_normal(&r);
    double rnd = sj_retrieval_top1(q, c, N, K1, F, SJ_SIM_COSINE);
    CHECK(fabs(rnd - 1.0 / K1) < 0.04, "retrieval on random features: %.4f (chance %.4f)", rnd, 1.0 / K1);
    /* Copying the last view's ideal features: no better than chance. */
    for (int i = 0; i < N; i++) mix(&r, w, s.pose + (size_t)i * (K1 + 1) * 9, 0.1, q + (size_t)i * F);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < K1; j++) mix(&r, w, s.pose + ((size_t)i * (K1 + 1) + 1 + j) * 9, 0.1, c + ((size_t)i * K1 + j) * F);
    double cp = sj_retrieval_top1(q, c, N, K1, F, SJ_SIM_COSINE);
    CHECK(fabs(cp - 1.0 / K1) < 0.04, "copying the last view: %.4f", cp);
    /* Constant features: every candidate ties, exactly chance, never the first-wins 1. */
    for (size_t i = 0; i < (size_t)N * F; i++) q[i] = 1;
    for (size_t i = 0; i < (size_t)N * K1 * F; i++) c[i] = 1;
    CHECK_NEAR(sj_retrieval_top1(q, c, N, K1, F, SJ_SIM_COSINE), 1.0 / K1, 1e-12);
    CHECK_NEAR(sj_retrieval_top1(q, c, N, K1, F, SJ_SIM_DISTANCE), 1.0 / K1, 1e-12);
    /* The true candidate beaten by a copy of the query elsewhere: 0. */
    float q1[2] = {1, 0}, c1[6] = {0.9f, 0.1f, 1, 0, 0, 1};
    CHECK(sj_retrieval_top1(q1, c1, 1, 3, 2, SJ_SIM_COSINE) == 0);
    CHECK(sj_retrieval_top1(q1, c1, 1, 3, 2, SJ_SIM_DISTANCE) == 0);
    float c2[6] = {1, 0, 0.9f, 0.1f, 0, 1};
    CHECK(sj_retrieval_top1(q1, c2, 1, 3, 2, SJ_SIM_COSINE) == 1);
    seqs_free(&s);
    wm_free(w), wm_free(q), wm_free(c);
}

static void test_oracle(void) {
    enum { N = 300, MMAX = 4, T = MMAX + 1 + K };
    WmRng r;
    wm_rng_seed(&r, 13, 0);
    Seqs s;
    make_seqs(&r, N, T, &s);
    SjRetrSplit sp = {N, T, NULL, s.act, s.pose, s.next, 9, NULL, NULL, 0, 0};
    double top1[MMAX + 2];
    for (int M = 0; M < MMAX + 2; M++) top1[M] = -1;
    char err[256];
    CHECK(sj_retrieval_oracle(&sp, MMAX, K, top1, err, sizeof err) == WM_OK, "%s", err);
    for (int M = 1; M <= MMAX; M++) CHECK(top1[M] > 0.95, "oracle at M = %d: %.3f", M, top1[M]);
    CHECK(top1[0] == -1 && top1[MMAX + 1] == -1, "only M = 1..m_max written");
    /* Poses that do not follow the actions: the oracle's query says nothing, chance. */
    Seqs u;
    make_seqs(&r, N, T, &u);
    SjRetrSplit bad = {N, T, NULL, s.act, s.pose, u.next, 9, NULL, NULL, 0, 0};
    CHECK(sj_retrieval_oracle(&bad, MMAX, K, top1, err, sizeof err) == WM_OK, "%s", err);
    for (int M = 1; M <= MMAX; M++) CHECK(top1[M] < 0.25, "unrelated poses at M = %d: %.3f", M, top1[M]);
    SjRetrSplit shortseq = {N, MMAX + K, NULL, s.act, s.pose, s.next, 9, NULL, NULL, 0, 0};
    CHECK(sj_retrieval_oracle(&shortseq, MMAX, K, top1, err, sizeof err) == WM_ERR_ARG && strstr(err, "12 views"),
          "too short: %s", err);
    SjRetrSplit nopose = {N, T, NULL, s.act, NULL, NULL, 0, NULL, NULL, 0, 0};
    CHECK(sj_retrieval_oracle(&nopose, MMAX, K, top1, err, sizeof err) == WM_ERR_ARG, "no poses");
    /* Listed candidates: the oracle follows the list (the true view first), and a
     * sequence whose list opens with -1 is left out. */
    int32_t *cand = wm_new(int32_t, (size_t)N * MMAX * (K + 1));
    for (int i = 0; i < N; i++)
        for (int M = 1; M <= MMAX; M++) {
            int32_t *c = cand + ((size_t)i * MMAX + M - 1) * (K + 1);
            c[0] = i % 3 == 0 ? -1 : M;
            for (int j = 1; j <= K; j++) c[j] = T - j; /* the last K views, backwards */
        }
    SjRetrSplit listed = sp;
    listed.cand = cand, listed.cand_m = MMAX, listed.cand_k = K;
    CHECK(sj_retrieval_count(&listed, 1) == N - (N + 2) / 3 && sj_retrieval_count(&sp, 1) == N, "sequences scored");
    CHECK(sj_retrieval_oracle(&listed, MMAX, K, top1, err, sizeof err) == WM_OK, "%s", err);
    for (int M = 1; M <= MMAX; M++) CHECK(top1[M] > 0.95, "oracle on listed candidates at M = %d: %.3f", M, top1[M]);
    CHECK(sj_retrieval_oracle(&listed, MMAX, K - 1, top1, err, sizeof err) == WM_ERR_ARG && strstr(err, "listed"),
          "distractor count must match the list: %s", err);
    for (int i = 0; i < N * MMAX * (K + 1); i++) cand[i] = -1;
    CHECK(sj_retrieval_oracle(&listed, MMAX, K, top1, err, sizeof err) == WM_OK && isnan(top1[1]), "none scored: NaN");
    wm_free(cand);
    /* Action-only scores: the view after action i scores 1, every other 0 (a perfect
     * reader), then all equal (chance, by shared credit), then missing. */
    float *ao = wm_new(float, (size_t)N * (T - 1) * T);
    for (int i = 0; i < N; i++)
        for (int v = 0; v + 1 < T; v++)
            for (int j = 0; j < T; j++) ao[((size_t)i * (T - 1) + v) * T + j] = j == v + 1;
    sp.action_only = ao;
    CHECK(sj_retrieval_action_only(&sp, MMAX, K, top1, err, sizeof err) == WM_OK, "%s", err);
    for (int M = 1; M <= MMAX; M++) CHECK(top1[M] == 1, "perfect action-only scores at M = %d: %.3f", M, top1[M]);
    for (size_t i = 0; i < (size_t)N * (T - 1) * T; i++) ao[i] = 0.5f;
    CHECK(sj_retrieval_action_only(&sp, MMAX, K, top1, err, sizeof err) == WM_OK, "%s", err);
    for (int M = 1; M <= MMAX; M++) CHECK_NEAR(top1[M], 1.0 / (K + 1), 1e-12);
    CHECK(sj_retrieval_action_only(&nopose, MMAX, K, top1, err, sizeof err) == WM_ERR_ARG, "no scores");
    wm_free(ao);
    seqs_free(&s), seqs_free(&u);
}

int main(void) {
    test_pose_probe();
    test_retrieval_scores();
    test_oracle();
    return TEST_DONE();
}
