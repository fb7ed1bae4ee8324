/* A training run's one step callback and what hangs on it (model/sj_train.h's
 * SjStepHooks). The metric sinks observe every step: the CSV log (log.csv in the run
 * folder), the progress bar, the viewer's plots. After them the run's one stop is
 * decided: a run ends before train.steps at the first of SIGINT/SIGTERM
 * (core/signal.h), a front end's request (run_stop_ask: the viewer's Esc), a step
 * limit. model/'s trainer sees one set of hooks and no signal. */
#ifndef RUN_STEPS_H
#define RUN_STEPS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "core/progress.h"
#include "model/sj_train.h"

/* The log inside a run folder (the checkpoints' names are in model/sj_ckpt.h). */
#define RUN_LOG_FILE "log.csv"

/* One observer of a run's steps. begin (may be NULL): before the first step, start
 * being the steps already done (a resumed run), with the model the first step trains
 * (it may load weights into it); an error ends the run before it trains. step: after every step, before the stop is decided; it may read or load
 * the model, or block (a pause). end (may be NULL): when training ends, also after an
 * error, for every observer whose begin succeeded. */
typedef struct {
    int (*begin)(void *ctx, SjModel *m, int64_t start, int64_t total, char *err, size_t errsz);
    void (*step)(void *ctx, SjModel *m, const SjStepInfo *in);
    void (*end)(void *ctx, const SjTrainResult *res);
    void *ctx;
} RunObserver;

enum { RUN_MAX_OBSERVERS = 8 };
typedef struct {
    RunObserver obs[RUN_MAX_OBSERVERS];
    int n, begun;
    atomic_int asked; /* run_stop_ask */
    int64_t limit;    /* stop after this step (0: none) */
} RunSteps;

/* Adds an observer (called in the order added). */
void run_steps_observe(RunSteps *s, RunObserver o);
/* Asks the run to stop after the step in progress (from any thread). */
void run_stop_ask(RunSteps *s);
/* Puts s into su's hooks. */
void run_steps_attach(RunSteps *s, SjTrainSetup *su);

/* The CSV log: a header, then one row per log interval (step, mean loss, lr, tau,
 * sequences/s, share of time waiting for data, on-line probe top-1 and R^2, mean
 * gradient norm). A resumed run keeps the rows up to its start and rewrites the rest. */
typedef struct {
    char path[1100];
    FILE *f;
    int batch;
    double t, wait, loss, grad_norm;
    int n;
} RunCsvLog;
RunObserver run_csv_log(RunCsvLog *c, const char *dir, int batch);

/* The progress bar on stderr, the step's loss beside it. */
typedef struct {
    WmProgress bar;
} RunProgressBar;
RunObserver run_progress_bar(RunProgressBar *p);

/* What every training run of the program keeps: log.csv in tc->out, and the progress
 * bar unless quiet. The sinks live in `sinks`, which must outlive the run. */
typedef struct {
    RunCsvLog csv;
    RunProgressBar bar;
} RunSinks;
void run_steps_standard(RunSteps *s, RunSinks *sinks, const SjTrainConfig *tc, int quiet);

#endif
