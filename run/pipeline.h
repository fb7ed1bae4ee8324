/* The steps that several commands share: on-line training of a run config, rolling
 * out evaluation data, and probing a model on it. train, eval and the benchmarks
 * call these; they print nothing but the progress bar and log lines. */
#ifndef RUN_PIPELINE_H
#define RUN_PIPELINE_H

#include "data/rollout.h"
#include "run/pathint.h"
#include "run/runcfg.h"
#include "model/sj_eval.h"
#include "model/sj_train.h"

/* The trainer's view of a batch of rollouts (pixels, actions, labels; n sequences of
 * t views) of a world of spec sp: the one adapter from data/ to model/, used by train
 * and the viewer. targets: room for [n, t-1, action_dim] floats, where the on-line
 * action probe's targets are written (env_equiv_targets: the equivariance row's), or
 * NULL (the probe then reads the actions as they are). */
SjBatch pl_batch(const EnvSpec *sp, const AgBatch *b, float *targets);

/* When rc->pipe.data names a dataset (seqjepa gen): replaces rc's [env], [agent] and
 * [gen] sections with those the dataset was generated with, so that training,
 * evaluation, checkpoints and reports describe the data actually used (logged when
 * they differed). Does nothing when train.data is empty. Errors name the folder. */
int pl_use_data(RunConfig *rc, char *err, size_t errsz);
/* Logs why a config's supervised bound was dropped (RunConfig.supervised_dropped), if it was. */
void pl_supervised_note(const RunConfig *rc, const char *cmd);

/* The files the program writes into a run folder (train, eval, reports), NULL-ended:
 * what --force clears and what marks a folder as holding a run. */
extern const char *const pl_run_files[];

/* Makes dir ready for a training run. A folder holding any of pl_run_files is refused
 * (the error names the folder and the files) unless resume (the run continues there)
 * or force (those files are deleted first; other files are left alone). */
int pl_prepare_run_dir(const char *dir, int resume, int force, char *err, size_t errsz);

/* Trains rc on-line, or from the dataset rc->pipe.data when set (memory-mapped
 * shards, a shuffled pass per epoch; see ds_batch), resuming from rc->train.out when
 * resume. */
int pl_train(const RunConfig *rc, int resume, int quiet, SjTrainResult *res, char *err, size_t errsz);

/* Evaluation data: sequences of training objects (probe fitting) and held-out ones
 * (scoring), eval.m_max + 1 views each, with each view's pose and each action's
 * equivariance target (run/pathint.h). Rolled out on-line with seed eval.seed, or, when rc->pipe.data is set and agent is NULL,
 * the first n_train sequences of the dataset's train/ and n_test of its val/ (fewer
 * when the dataset holds fewer; the first eval.m_max + 1 views of each). The
 * retrieval sequences (pl_retr_data) are always rolled out on-line. */
typedef struct {
    AgBatch tr, te;
    float *pose_tr, *pose_te; /* [n, t, pose_dim] */
    int pose_dim;
    float *equiv_tr, *equiv_te; /* [n, t-1, action_dim]: the equivariance row's targets (env_equiv_targets) */
    PlRetrData retr;
    EnvSpec spec;
} PlEvalData;
int pl_eval_data(const RunConfig *rc, const AgentConfig *agent, int n_train, int n_test, PlEvalData *d, char *err,
                 size_t errsz);
void pl_eval_data_free(PlEvalData *d);
/* Checks that the model was built for this world (view size, action dim, classes). */
int pl_check_shape(const SjModel *m, const EnvSpec *sp, const char *what, char *err, size_t errsz);
/* Runs the probes of model/sj_eval.h. */
int pl_eval(SjModel *m, const RunConfig *rc, const PlEvalData *d, SjEvalResult *res, char *err, size_t errsz);

/* The model beside its controls, all scored on the same data by the same probes: the
 * columns of every results table (sj_eval_markdown_table): the model, the same config
 * randomly initialised (from train.seed, as training starts), the no-action model when
 * one is given, the supervised upper bound when eval.supervised_pose records one,
 * noise in place of features, chance, the action-only reader, and the oracle (the probes fed the true latents and poses). A new control is
 * one more column added in pl_eval_table alone. */
enum { PL_MAX_COLUMNS = 8 };
typedef struct {
    int n;
    int model, random, no_action, supervised, noise, chance, action_only, oracle; /* column indices (-1: absent) */
    SjEvalColumn col[PL_MAX_COLUMNS];
    SjEvalResult res[PL_MAX_COLUMNS];
    char about[PL_MAX_COLUMNS][640];
} PlEvalTable;
/* Evaluates m (described by model_about) and the controls on d, with a progress bar
 * (rate and ETA) on stderr unless quiet; no_action (may be NULL) is a model of the same
 * world trained without action conditioning (described by no_action_about). The
 * model's column keeps the PCA of its features and the prediction losses. The table
 * refers to itself: don't copy it. */
int pl_eval_table(SjModel *m, const char *model_about, SjModel *no_action, const char *no_action_about,
                  const RunConfig *rc, const PlEvalData *d, int quiet, PlEvalTable *t, char *err, size_t errsz);
/* The probes' settings and the splits of d as model/sj_eval.h takes them (the spec
 * points into d). */
SjEvalSpec pl_eval_spec(const RunConfig *rc, const PlEvalData *d);
SjEvalSplit pl_eval_split(const PlEvalData *d, int test);
void pl_eval_table_free(PlEvalTable *t);

#endif
