/* Evaluation on frozen features (DESIGN section 5): probes trained on sequences of
 * training objects/images and scored on sequences of held-out ones.
 *   invariance:       linear classifier of the class from z (first view) and from
 *                     z_AGG of M views, M = 1..m_max (top-1);
 *   equivariance:     regressor of the relative action a_1 from concat(z_1, z_2) (R^2);
 *   path integration: regressor of the cumulative action from view 1 to view M+1
 *                     from concat(z_AGG(M), a_M), M = 1..m_max (R^2), and the same
 *                     probes applied to features computed with the action embeddings
 *                     zeroed, or the encodings zeroed (inference ablations).
 * Regressors are ridge; with `mlp` set (rotations) an MLP (2 x hidden) is also fitted
 * and used when it does better on a validation fifth of the training rows. */
#ifndef SJ_EVAL_H
#define SJ_EVAL_H

#include <stdint.h>

#include "model/sj_model.h"

#define SJ_EVAL_MAX_M 32

typedef struct {
    int n, t;                /* sequences, views each (t >= m_max + 1) */
    const uint8_t *pixels;   /* [n, t, H, W, 3] */
    const float *actions;    /* [n, t-1, A] */
    const int32_t *labels;   /* [n] */
    const float *cum;        /* [n, m_max, cum_dim]: action from view 1 to view M+1 */
} SjEvalSplit;

typedef struct {
    int m_max;
    int cum_dim;
    int mlp, mlp_hidden, mlp_epochs;
    uint64_t seed;
    /* Optional: closed-loop test sequences whose cumulative action at M = loop_m is the
     * identity; the path-integration probe of that M is applied to them too. */
    const SjEvalSplit *loops;
    int loop_m;
    int want_pca; /* fill pca_z / pca_agg (free with sj_eval_result_free) */
} SjEvalSpec;

typedef struct {
    int m_max;
    double top1_z;
    double top1_agg[SJ_EVAL_MAX_M + 1];   /* index M */
    double equiv_r2;
    double pi_r2[SJ_EVAL_MAX_M + 1];
    double pi_r2_zero_act[SJ_EVAL_MAX_M + 1];
    double pi_r2_zero_feat[SJ_EVAL_MAX_M + 1];
    double loop_err;      /* mean |prediction - truth| on the closed loops at loop_m */
    double open_err;      /* the same on ordinary held-out sequences at loop_m */
    double *pca_z;        /* [n_test, 2]: first-view encodings of held-out sequences */
    double *pca_agg;      /* [n_test, 2]: z_AGG(m_max) of held-out sequences */
    int n_pca;
    double seconds;
} SjEvalResult;

void sj_eval_result_free(SjEvalResult *r);

/* The oracle: the cumulative action regressed from the true actions a_1..a_M alone
 * (concatenated), M = 1..m_max; R^2 into r2[M]. */
int sj_eval_oracle(const SjEvalSpec *spec, const SjEvalSplit *train, const SjEvalSplit *test, int action_dim,
                   double *r2, char *err, size_t errsz);

int sj_eval_run(SjModel *m, const SjEvalSpec *spec, const SjEvalSplit *train, const SjEvalSplit *test,
                SjEvalResult *out, char *err, size_t errsz);

/* eval.json text (appended to out) and the Markdown table (appended to md). */
void sj_eval_json(const SjEvalResult *r, WmBuf *out);
void sj_eval_markdown(const SjEvalResult *r, WmBuf *md);

#endif
