/* The run's step callback: observers, then the one stop decision (run/steps.h). */
#include "run/steps.h"

#include "core/err.h"
#include "core/signal.h"

void run_steps_observe(RunSteps *s, RunObserveFn fn, void *ctx) {
    WM_ASSERT(s->n < RUN_MAX_OBSERVERS);
    s->fn[s->n] = fn, s->ctx[s->n++] = ctx;
}

void run_stop_ask(RunSteps *s) {
    atomic_store(&s->asked, 1);
}

int run_steps_fn(void *ctx, SjModel *m, const SjStepInfo *in) {
    RunSteps *s = ctx;
    for (int i = 0; i < s->n; i++) s->fn[i](s->ctx[i], m, in);
    if (wm_interrupted()) return SJ_STOP_INTERRUPTED;
    if (atomic_load(&s->asked) || (s->limit > 0 && in->step >= s->limit)) return SJ_STOP_ASKED;
    return SJ_GO;
}

void run_steps_attach(RunSteps *s, SjTrainSetup *su) {
    su->on_step = run_steps_fn, su->on_step_ctx = s;
}
