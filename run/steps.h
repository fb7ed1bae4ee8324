/* The one way a training run stops early, and the one step callback it is decided in.
 * A run stops before train.steps at the first of: SIGINT/SIGTERM (core/signal.h), a
 * front end's request (run_stop_ask: the viewer's quit), a step limit. What watches
 * the steps (the viewer's plots) observes them through the same callback; model/'s
 * trainer sees one SjStepFn and no signal. */
#ifndef RUN_STEPS_H
#define RUN_STEPS_H

#include <stdatomic.h>
#include <stdint.h>

#include "model/sj_train.h"

/* Called after every step, before the stop is decided; it may block (a pause). */
typedef void (*RunObserveFn)(void *ctx, SjModel *m, const SjStepInfo *in);

enum { RUN_MAX_OBSERVERS = 8 };
typedef struct {
    atomic_int asked; /* run_stop_ask */
    int64_t limit;    /* stop after this step (0: none) */
    int n;
    RunObserveFn fn[RUN_MAX_OBSERVERS];
    void *ctx[RUN_MAX_OBSERVERS];
} RunSteps;

/* Adds an observer (called in the order added). */
void run_steps_observe(RunSteps *s, RunObserveFn fn, void *ctx);
/* Asks the run to stop after the step in progress (any thread). */
void run_stop_ask(RunSteps *s);
/* The trainer's step callback over s (ctx = s): the observers, then the stop. */
int run_steps_fn(void *ctx, SjModel *m, const SjStepInfo *in);
/* Puts s into su's step callback. */
void run_steps_attach(RunSteps *s, SjTrainSetup *su);

#endif
