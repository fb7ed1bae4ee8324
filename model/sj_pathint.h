/* The pose probe and the next-view retrieval test of path integration, on frozen
 * models. The pose probe gates the equivariance probe: a relative action can only be
 * read from two encodings that carry each view's pose. The retrieval test asks the
 * model's own predictor, after M observed views and the action a_M, to pick the true
 * view M+1 among views of the same object (same lights and colours) at independent
 * poses; no probe is trained, so only a model whose aggregate holds the current pose
 * and whose prediction turns it by a_M passes (docs/evaluation.md). */
#ifndef SJ_PATHINT_H
#define SJ_PATHINT_H

#include <stddef.h>
#include <stdint.h>

#include "model/sj_model.h"

/* Ridge (penalty chosen on a validation fifth of the training rows) from features
 * x [n, d] to the pose y [n, p] (the absolute latent: 9 rotation-matrix entries, or
 * the fixation), fitted on the training rows; returns the R^2 on the test rows (NaN
 * when the fit fails: fewer than 2 training rows). */
double sj_pose_probe(const float *xtr, const float *ytr, size_t ntr, const float *xte, const float *yte, size_t nte,
                     int d, int p);

/* How a query is compared with its candidates: cosine similarity (the training loss's
 * measure) or minus the Euclidean distance (the oracle's, on poses). */
enum { SJ_SIM_COSINE = 0, SJ_SIM_DISTANCE = 1 };

/* Top-1 retrieval: query [n, d] against candidates [n, k1, d] whose first row is the
 * true one. A query scores 1 when the true candidate is strictly the most similar;
 * when t candidates tie at the top and the true one is among them it scores 1/t (the
 * expectation of a random tie break), so features that say nothing score 1/k1 on
 * average and never more. Returns the mean over the n queries. */
double sj_retrieval_top1(const float *query, const float *cand, size_t n, int k1, int d, int sim);

/* Sequences for the retrieval test: t >= m_max + 1 + k views each, poses drawn
 * independently per view, everything else (object, colours, lights) fixed within a
 * sequence, so that the candidates differ in pose alone. The candidates of M are views
 * M+1..M+1+k (0-based M..M+k), or, with `cand`, the views it lists: for sequence i and
 * M, cand[(i * cand_m + M - 1) * (cand_k + 1) + j], j = 0..cand_k, the first being the
 * true view M+1 (index M), or -1 in the first place to leave the sequence out at that
 * M (the caller found too few distractors). */
typedef struct {
    int n, t;
    const uint8_t *pixels;   /* [n, t, H, W, 3] */
    const float *actions;    /* [n, t-1, A]: action i takes view i to view i+1 */
    const float *pose;       /* [n, t, P]: pose of each view (NULL: no oracle) */
    const float *pose_next;  /* [n, t-1, P]: the pose reached by applying action i to view i's true state */
    int pose_dim;
    /* [n, t-1, t] (may be NULL): how likely view j is to follow action i judged from the
     * action and view j's true pose alone, without view i's pose (the action-only
     * reader: what a model could find from a_M without integrating the path). */
    const float *action_only;
    const int32_t *cand;     /* [n, cand_m, cand_k + 1] or NULL */
    int cand_m, cand_k;
} SjRetrSplit;

/* Sequences scored at M (those cand does not leave out). */
int sj_retrieval_count(const SjRetrSplit *s, int M);

/* For M = 1..m_max: the model encodes views 1..M, aggregates them with a_1..a_{M-1},
 * predicts from z_AGG and a_M; the prediction is compared by cosine with the target
 * encoder's encodings of views M+1..M+1+k (view M+1 is the true one). top1[M] gets the
 * score; copy[M] (may be NULL) the same with the target encoding of view M as the
 * query (a model that copies the last view). Entries outside 1..m_max are untouched;
 * NaN where no sequence is scored. With cand, k must equal cand_k and m_max be at most
 * cand_m. */
int sj_retrieval_run(SjModel *m, const SjRetrSplit *s, int m_max, int k, double *top1, double *copy, char *err,
                     size_t errsz);

/* The action-only reader: candidate j of M scores action_only[M-1][j] (ties share the
 * credit); top1[M] as above. WM_ERR_ARG without action_only. */
int sj_retrieval_action_only(const SjRetrSplit *s, int m_max, int k, double *top1, char *err, size_t errsz);

/* The oracle: the query is pose_next of view M (view M's true pose turned by a_M), the
 * candidates the true poses of views M+1..M+1+k, compared by distance. */
int sj_retrieval_oracle(const SjRetrSplit *s, int m_max, int k, double *top1, char *err, size_t errsz);

#endif
