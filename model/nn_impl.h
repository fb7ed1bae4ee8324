/* Shared internals of the nn_*.c files (not part of the public API): the parallel
 * loop over the engine's pool and the op timer used by the blocks. */
#ifndef NN_IMPL_H
#define NN_IMPL_H

#include <stdint.h>

#include "core/pool.h"
#include "model/nn.h"

/* fn over [0, n) in fixed contiguous chunks on the engine pool (inline when the
 * caller is not the pool's owner, or there is no pool). */
void nn_par_for(int64_t n, WmPoolFn fn, void *ctx);
/* Chunks below this many elements of work are not worth waking threads for. */
#define NN_PAR_MIN 16384

double nn_clock(void);

/* Formats a tensor or module name into out[NN_NAME_MAX]; a name that does not fit
 * is a bug. */
void nn_namef(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Adds the time since *t0 to prof (forward or backward bucket of kind) and resets *t0. */
static inline void nn_prof_tick(NnProfile *prof, int bwd, NnOpKind kind, double flop, double *t0) {
    if (!prof) return;
    double t = nn_clock();
    if (bwd) {
        prof->bwd_s[kind] += t - *t0;
        prof->bwd_flop[kind] += flop;
    } else {
        prof->fwd_s[kind] += t - *t0;
        prof->fwd_flop[kind] += flop;
    }
    *t0 = t;
}

#endif
