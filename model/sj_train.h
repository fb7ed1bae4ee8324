/* Training seq-JEPA from a stream of batches, with on-line probes, atomic checkpoints, exact resumption, a clean stop when the step callback asks (the
 * run layer's one stop: Ctrl-C, a front end, a step limit; run/steps.h) and a hard stop
 * on a non-finite loss. Where the batches come from (an environment through a producer
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
    /* [n, t-1, A]: what the on-line action probe regresses, the evaluation's
     * equivariance target (env_equiv_targets); NULL: the actions as they are */
    const float *probe_targets;
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
    int64_t step, total;        /* steps done, steps planned (train.inverse_steps + train.steps) */
    double loss, grad_norm, lr, tau;
    double wait;                 /* seconds this step waited for its batch */
    double probe_top1, probe_r2; /* on-line probes over the last log interval (NaN before one ends) */
    int logged;                  /* this step closed a log interval (the probe figures are new) */
    int inverse;                 /* a step of the inverse warm-up (train.inverse_steps): loss is its
                                  * mean squared error, probe_r2 its head's R^2 on each batch before
                                  * learning from it, probe_top1 NaN */
} SjStepInfo;

typedef struct {
    int64_t steps_done;
    int64_t steps_start; /* the step this call started from (a resumed run's checkpoint) */
    double last_loss;
    double seq_per_s;
    double wait_share; /* share of step time spent waiting for data */
    int interrupted;   /* step said SJ_STOP_INTERRUPTED (checkpoint saved) */
    int stopped;       /* step said SJ_STOP_ASKED (checkpoint saved) */
    int ranks;         /* processes that trained together (wm_dist_size) */
    double allreduce_s; /* mean seconds per step summing the gradients across ranks */
    double allreduce_min_s; /* the fastest step's (the cost itself, on a loaded machine) */
    double sync_s;      /* mean seconds per step waiting for the slowest rank */
    char checkpoint[1024];
} SjTrainResult;

/* The trainer's one connection to what watches a run (run/steps.h: the CSV log, the
 * progress bar, the viewer's plots, the stop). begin: once the first step is known
 * (start: steps already done by a resumed run), with the model as the first step will
 * find it (it may load weights into it); an error stops before any step. step:
 * on the training thread after every step, with the model between steps: it may read
 * it (snapshot the weights, run eval passes) or load weights into it, and may block (a
 * pause); it returns SJ_GO, or why training stops now (a checkpoint is saved). end:
 * when training ends, with the result (also after an error), if begin was called. Each
 * may be NULL. */
enum { SJ_GO = 0, SJ_STOP_ASKED = 1, SJ_STOP_INTERRUPTED = 2 };
typedef struct {
    int (*begin)(void *ctx, SjModel *m, int64_t start, int64_t total, char *err, size_t errsz);
    int (*step)(void *ctx, SjModel *m, const SjStepInfo *info);
    void (*end)(void *ctx, const SjTrainResult *res);
    void *ctx;
} SjStepHooks;

/* The folder inside train.out that keeps the model as the inverse warm-up left it. */
#define SJ_INVERSE_DIR "inverse"

typedef struct {
    SjModelConfig model;
    SjOptimConfig optim;
    SjTrainConfig train;
    SjShape shape;
    const char *config_text; /* the resolved INI, stored in checkpoint metadata */
    const WmCfgSchema *config_schema; /* the schema config_text was written from; resume counts
                                       * its keys at their defaults as absent (may be NULL) */
    const char *command;     /* the command line that made the run (may be NULL), stored likewise */
    int resume;              /* continue from train.out's checkpoint */
    const char *init;        /* unless resuming: a checkpoint whose weights (online and target
                              * networks, running statistics) the run starts from; its optimiser
                              * state, step and schedules start afresh (may be NULL) */
    SjStepHooks hooks;
} SjTrainSetup;

/* Data-parallel runs (core/dist.h): rank r of R trains on sequences r*B/R ..
 * (r+1)*B/R - 1 of each global batch of train.batch = B sequences, split further into
 * train.ghost = G sub-batches; every sub-batch has its own batch-norm statistics (as
 * PyTorch's DistributedDataParallel, which keeps them per process) and its own
 * dropout stream, so R ranks with G ghosts compute what one process with R*G ghosts
 * computes. The gradients (model and on-line probes) are averaged over the R*G parts
 * with one sum across ranks each; running statistics follow part 0 (rank 0's, as DDP
 * broadcasts them). Rank 0 alone writes the log, the checkpoints and the progress.
 * Returns in *local the sequences per rank, or an error when B does not split into
 * R*G parts of at least 2 sequences, or when train.ranks asks for another R; also
 * refuses train.steps = 0 without train.inverse_steps, a train.m_min above train.m_train (the per-step shape, checked here so that
 * the run layer hears of it before it starts a data source). */
int sj_train_split(const SjTrainConfig *tc, int ranks, int *local, char *err, size_t errsz);

/* The observed views M of step `step` (counted from 0): train.m_train, or with
 * 1 <= train.m_min < train.m_train one of m_min..m_train drawn uniformly from the run
 * seed and the step alone, so every rank and a resumed run draw the same. The data
 * source still gives m_train + 1 views; a step with fewer observes the first M and
 * predicts view M+1. */
int sj_train_step_m(const SjTrainConfig *tc, int64_t step);

/* Runs training into setup->train.out (checkpoint.safetensors and its companion
 * checkpoint.state.safetensors; the hooks write what else a run keeps). Under mpirun every rank calls it with a
 * source of its own share (sj_train_split); they stop together (Ctrl-C, an error on
 * any rank: the others return an error with an empty err). Returns WM_OK (also when interrupted: see
 * res->interrupted), or an error: WM_ERR_NUMERIC names the step whose loss was not
 * finite (the last checkpoint is kept), others name the file or value. */
int sj_train_run(const SjTrainSetup *setup, const SjSource *src, SjTrainResult *res, char *err,
                 size_t errsz);


#endif
