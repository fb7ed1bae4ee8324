/* Training seq-JEPA from a stream of batches, with on-line probes, a CSV log,
 * atomic checkpoints, exact resumption, a clean stop on Ctrl-C and a hard stop on a
 * non-finite loss. Where the batches come from (an environment through a producer
 * thread, or a dataset on disk) is the caller's business: the trainer asks its
 * source for the batch of step k, which must be a function of k alone so that a
 * resumed run sees exactly what an uninterrupted one would. */
#ifndef SJ_TRAIN_H
#define SJ_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "model/sj_ckpt.h"
#include "model/sj_config.h"
#include "model/sj_model.h"

typedef struct {
    const uint8_t *pixels;  /* [n, t, H, W, 3] */
    const float *actions;   /* [n, t-1, A] */
    const int32_t *labels;  /* [n] */
    int n, t;
} SjBatch;

typedef struct {
    /* Fills *out with the batch of `step` (blocking until it is ready); returns WM_OK
     * or an error with the reason in err. */
    int (*next)(void *ctx, int64_t step, SjBatch *out, char *err, size_t errsz);
    /* Called when the trainer is done with the batch from next (may be NULL). */
    void (*release)(void *ctx);
    void *ctx;
} SjSource;

/* What the trainer reports after each step to an on_step callback. */
typedef struct {
    int64_t step, total;        /* steps done, steps planned */
    double loss, grad_norm, lr, tau;
    double probe_top1, probe_r2; /* on-line probes over the last log interval (NaN before one ends) */
    int logged;                  /* this step closed a log interval (the probe figures are new) */
} SjStepInfo;

/* Called on the training thread after every step, with the model between steps: it may
 * read it (snapshot the weights, run eval passes) or load weights into it, and may block
 * (a pause). Returning non-zero stops training as Ctrl-C does: a checkpoint is saved. */
typedef int (*SjStepFn)(void *ctx, SjModel *m, const SjStepInfo *info);

typedef struct {
    SjModelConfig model;
    SjOptimConfig optim;
    SjTrainConfig train;
    SjShape shape;
    const char *config_text; /* the resolved INI, stored in checkpoint metadata */
    const char *command;     /* the command line that made the run (may be NULL), stored likewise */
    int resume;              /* continue from train.out's checkpoint */
    int quiet;               /* no progress bar */
    SjStepFn on_step;        /* may be NULL */
    void *on_step_ctx;
} SjTrainSetup;

typedef struct {
    int64_t steps_done;
    double last_loss;
    double seq_per_s;
    double wait_share; /* share of step time spent waiting for data */
    int interrupted;   /* stopped by SIGINT/SIGTERM (checkpoint saved) */
    int stopped;       /* stopped by on_step (checkpoint saved) */
    char checkpoint[1024];
} SjTrainResult;

/* Runs training into setup->train.out (log.csv, checkpoint.safetensors and its
 * companion checkpoint.state.safetensors). Returns WM_OK (also when interrupted: see
 * res->interrupted), or an error: WM_ERR_NUMERIC names the step whose loss was not
 * finite (the last checkpoint is kept), others name the file or value. */
int sj_train_run(const SjTrainSetup *setup, const SjSource *src, SjTrainResult *res, char *err,
                 size_t errsz);

/* The log inside a run folder (the checkpoints' names are in sj_ckpt.h). */
#define SJ_LOG_FILE "log.csv"


#endif
