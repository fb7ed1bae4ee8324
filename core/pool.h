/* A fixed pool of pthreads for parallel loops. Work is split into one contiguous
 * chunk per thread in a fixed order, so results that depend on how a loop is split
 * are the same from run to run for a given thread count. */
#ifndef WM_POOL_H
#define WM_POOL_H

#include <stdint.h>

typedef struct WmPool WmPool;

/* nthreads <= 0 means one per online core. The calling thread is one of them. */
WmPool *wm_pool_create(int nthreads);
void wm_pool_destroy(WmPool *p);
int wm_pool_size(const WmPool *p);
int wm_cpu_count(void);

/* fn(ctx, begin, end, worker) over [0, n) split into wm_pool_size chunks (fewer
 * when n is small); returns when all are done. Not reentrant: a task must not call
 * wm_pool_for on the same pool. A NULL pool runs fn(ctx, 0, n, 0) inline. */
typedef void (*WmPoolFn)(void *ctx, int64_t begin, int64_t end, int worker);
void wm_pool_for(WmPool *p, int64_t n, WmPoolFn fn, void *ctx);

#endif
