/* A pthread pool with static, ordered chunking (see pool.h). */
#include "core/pool.h"

#include <pthread.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"

struct WmPool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    uint64_t generation;
    int pending;
    int quit;
    WmPoolFn fn;
    void *ctx;
    int64_t total;
    int chunks;
};

typedef struct {
    WmPool *p;
    int id;
} Worker;

static void run_chunk(WmPool *p, int id) {
    if (id >= p->chunks) return;
    int64_t b = p->total * id / p->chunks, e = p->total * (id + 1) / p->chunks;
    if (b < e) p->fn(p->ctx, b, e, id);
}

static void *worker_main(void *arg) {
    Worker *w = arg;
    WmPool *p = w->p;
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->start, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        run_chunk(p, w->id);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
    wm_free(w);
    return NULL;
}

int wm_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

WmPool *wm_pool_create(int nthreads) {
    WmPool *p = wm_new(WmPool, 1);
    p->n = nthreads > 0 ? nthreads : wm_cpu_count();
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = wm_new(pthread_t, (size_t)p->n);
    for (int i = 1; i < p->n; i++) {
        Worker *w = wm_new(Worker, 1);
        w->p = p;
        w->id = i;
        WM_ASSERT(pthread_create(&p->threads[i], NULL, worker_main, w) == 0);
    }
    return p;
}

void wm_pool_destroy(WmPool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    wm_free(p->threads);
    wm_free(p);
}

int wm_pool_size(const WmPool *p) { return p ? p->n : 1; }

void wm_pool_for(WmPool *p, int64_t n, WmPoolFn fn, void *ctx) {
    if (n <= 0) return;
    if (!p || p->n == 1 || n == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->total = n;
    p->chunks = n < p->n ? (int)n : p->n;
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    run_chunk(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->pending) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
