/* Evaluation on frozen features (DESIGN section 5): probes trained on sequences of
 * training objects/images and scored on sequences of held-out ones.
 *   invariance:       linear classifier of the class from z (first view) and from
 *                     z_AGG of M views, M = 1..m_max (top-1);
 *   pose (the gate):  ridge from z of one view to its absolute pose (R^2); with `mlp`
 *                     set, also the regressor below (MLP or ridge) on the same rows:
 *                     pose that the encoder carries, but not linearly;
 *   equivariance:     regressor of the relative action a_1 from concat(z_1, z_2) (R^2);
 *   path integration: next-view retrieval by the model's own predictor after M views
 *                     and a_M among views of the same object at independent poses,
 *                     M = 1..retr_m_max (top-1; model/sj_pathint.h), with the score of
 *                     copying the last view.
 * Regressors are ridge; with `mlp` set (rotations) an MLP (2 x hidden) is also fitted
 * and used when it does better on a validation fifth of the training rows. */
#ifndef SJ_EVAL_H
#define SJ_EVAL_H

#include <stdint.h>

#include "core/json.h"
#include "core/progress.h"
#include "model/sj_model.h"
#include "model/sj_pathint.h"

#define SJ_EVAL_MAX_M 32

typedef struct {
    int n, t;                /* sequences, views each (t >= m_max + 1) */
    const uint8_t *pixels;   /* [n, t, H, W, 3] */
    const float *actions;    /* [n, t-1, A] */
    const int32_t *labels;   /* [n] */
    const float *latents;    /* [n, t, latent_dim]: the true state of each view (may be NULL) */
    int latent_dim;
    const float *pose;       /* [n, t, pose_dim]: each view's pose, the pose probe's target (may be NULL) */
    int pose_dim;
    const float *equiv;      /* [n, t-1, A]: the equivariance row's target for each action, the action
                              * as a continuous function of the poses (NULL: the actions as they are) */
} SjEvalSplit;

typedef struct {
    int m_max;
    int mlp, mlp_hidden, mlp_epochs;
    uint64_t seed;
    int want_pca; /* fill pca_z / pca_agg (free with sj_eval_result_free) */
    /* Optional: the next-view retrieval sequences, scored for M = 1..retr_m_max with
     * retr_k distractors each. */
    const SjRetrSplit *retr;
    int retr_m_max, retr_k;
    /* > 0: also measure the prediction loss 1 - cos(z_hat, target) on the test split with
     * loss_m observed views, the same with each sequence's a_M replaced by another
     * sequence's (what the prediction owes to the action), and two references that use
     * no input: copying view loss_m's target encoding, and predicting the mean target
     * encoding (a constant). */
    int loss_m;
    /* When set, advanced by sj_eval_work units as the work gets done (the caller starts
     * it with the sum of the runs it plans). */
    WmProgress *progress;
} SjEvalSpec;

/* Metrics that a run or control does not measure are NaN. */
typedef struct {
    int m_max;
    double top1_z;
    double top1_agg[SJ_EVAL_MAX_M + 1];   /* index M */
    double pose_r2;       /* pose from z of one view (held-out objects), ridge */
    double pose_mlp_r2;   /* the same by the MLP-or-ridge regressor (spec->mlp only) */
    double equiv_r2;
    int retr_m_max, retr_k;
    double retr_top1[SJ_EVAL_MAX_M + 1]; /* index M: next-view retrieval top-1 */
    double retr_copy[SJ_EVAL_MAX_M + 1]; /* the same, copying view M's target encoding */
    int loss_m;           /* views observed for the two losses (0: not measured) */
    double loss;          /* mean 1 - cos(z_hat, f_target(x_{M+1})) on the test split */
    double loss_other;    /* the same with a_M of the next sequence of the split (n > 1) */
    double loss_copy;     /* mean 1 - cos(f_target(x_M), f_target(x_{M+1})): copying the last view */
    double loss_mean;     /* mean 1 - cos(mean target encoding, f_target(x_{M+1})): a constant */
    double *pca_z;        /* [n_test, 2]: first-view encodings of held-out sequences */
    double *pca_agg;      /* [n_test, 2]: z_AGG(m_max) of held-out sequences */
    int n_pca;
    double seconds;
} SjEvalResult;

void sj_eval_result_free(SjEvalResult *r);
/* Every metric NaN (not measured), for controls that fill only some. */
void sj_eval_result_blank(SjEvalResult *r, int m_max);

/* Progress units that sj_eval_run (and sj_eval_oracle_result) will report for these
 * splits: a chunk of sequences through the model, or one probe fit. */
int sj_eval_work(const SjEvalSpec *spec, const SjEvalSplit *train, const SjEvalSplit *test);
int sj_eval_oracle_work(const SjEvalSpec *spec, const SjEvalSplit *train, const SjEvalSplit *test);

/* The chance control: top-1 of guessing among n_classes (1 / n_classes), R^2 of
 * predicting the mean (0), retrieval among retr_k + 1 candidates (1 / (retr_k + 1),
 * M = 1..retr_m_max; none when retr_m_max is 0); the rest NaN. */
void sj_eval_chance(SjEvalResult *r, int m_max, int n_classes, int retr_m_max, int retr_k);
/* The noise control: the pose probes and the retrieval scorer fed Gaussian noise of dim
 * dimensions (seed spec->seed) in place of features, on the same rows: what the probes
 * read from nothing (R^2 about 0, retrieval about chance, on as many sequences per M as the
 * models are scored on); the rest NaN. */
void sj_eval_noise_result(const SjEvalSpec *spec, const SjEvalSplit *train, const SjEvalSplit *test, int dim,
                          SjEvalResult *out);
/* The action-only control: retrieval by the best reader of a_M alone
 * (sj_retrieval_action_only; needs spec->retr with action_only); the rest NaN. */
int sj_eval_action_only_result(const SjEvalSpec *spec, SjEvalResult *out, char *err, size_t errsz);
/* The oracle control: the same probes fed the ground truth instead of features:
 * equivariance from the true latents of views 1 and 2 (NaN without latents), the pose
 * probe from the true poses (its ceiling on this data), retrieval with true poses
 * (sj_retrieval_oracle, when spec->retr carries poses); the rest NaN. */
int sj_eval_oracle_result(const SjEvalSpec *spec, const SjEvalSplit *train, const SjEvalSplit *test, int action_dim,
                          SjEvalResult *out, char *err, size_t errsz);

int sj_eval_run(SjModel *m, const SjEvalSpec *spec, const SjEvalSplit *train, const SjEvalSplit *test,
                SjEvalResult *out, char *err, size_t errsz);

/* The fields of one result into the object w has open (eval.json; NaN as null). */
void sj_eval_json_fields(const SjEvalResult *r, WmJsonW *w);

/* Results tables: one row per metric, one column per model or control, so that a
 * number never stands without its references. The metric rows are listed once in
 * sj_eval.c (a new probe is one more entry there); the columns are whatever the caller
 * evaluated (the model, a randomly initialised one, chance, the oracle, ...). */
typedef struct {
    const char *name;        /* column heading: "model", "random init", "chance", ... */
    const char *about;       /* one sentence on what it is, for the legend (may be NULL) */
    const SjEvalResult *r;
} SjEvalColumn;
/* Markdown: one table per group of metrics (invariance, pose and equivariance, path
 * integration, prediction loss), each with a line saying what its rows measure, then
 * the columns' legend; NaN shows as a dash. glimpses: the world is an eye moving over
 * images (the saccade world), so the lines speak of images, glimpses, saccades and
 * fixations; 0: of objects, views, actions and poses. */
void sj_eval_markdown_table(const SjEvalColumn *cols, int ncols, int glimpses, WmBuf *md);
/* JSON object {"column name": {metric: value or null, ...}, ...}. */
void sj_eval_json_table(const SjEvalColumn *cols, int ncols, WmJsonW *w);

#endif
