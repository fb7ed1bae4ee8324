/* The steps that several commands share: on-line training of a run config, rolling
 * out evaluation data, and probing a model on it. train, eval and the benchmarks
 * call these; they print nothing but the progress bar and log lines. */
#ifndef CLI_PIPELINE_H
#define CLI_PIPELINE_H

#include "agents/rollout.h"
#include "cli/runcfg.h"
#include "model/sj_eval.h"
#include "model/sj_train.h"

/* Trains rc on-line (resume from rc->train.out when resume). */
int pl_train(const RunConfig *rc, int resume, int quiet, SjTrainResult *res, char *err, size_t errsz);

/* Evaluation data: sequences of training objects (probe fitting) and held-out ones
 * (scoring), eval.m_max + 1 views each, with cumulative actions. */
typedef struct {
    AgBatch tr, te;
    float *cum_tr, *cum_te; /* [n, m_max, A] */
    EnvSpec spec;
} PlEvalData;
int pl_eval_data(const RunConfig *rc, const AgentConfig *agent, int n_train, int n_test, PlEvalData *d, char *err,
                 size_t errsz);
void pl_eval_data_free(PlEvalData *d);
/* Checks that the model was built for this world (view size, action dim, classes). */
int pl_check_shape(const SjModel *m, const EnvSpec *sp, const char *what, char *err, size_t errsz);
/* Runs the probes of model/sj_eval.h. */
int pl_eval(SjModel *m, const RunConfig *rc, const PlEvalData *d, SjEvalResult *res, char *err, size_t errsz);

#endif
