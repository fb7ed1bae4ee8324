/* The render farm (scene.h): worker threads, each with its own headless GL context
 * and scene, that render chunks of a batch of views in parallel. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/pool.h"
#include "render/ctx.h"
#include "render/scene.h"

typedef struct {
    pthread_t th;
    struct RdFarm *farm;
    int idx;
    int started;
    RdCtx *ctx;
    RdScene *scene;
    int rc;
    char err[512];
    int ready;
} Worker;

struct RdFarm {
    int nw;
    Worker *w;
    RdSceneDesc scene;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    unsigned long gen;
    int pending;
    int quit;
    /* the call in progress: views [next, n) remain, handed out `chunk` at a time */
    const RdView *views;
    int n, next, chunk;
    int scene_batch; /* views per pass of the workers' scenes */
    int software;
};

static void *worker_main(void *arg) {
    Worker *w = arg;
    RdFarm *f = w->farm;
    /* Screens round-robin over the process: two farms of one worker each (two
     * worlds rendering in two threads) still get separate rasterisers. */
    static _Atomic int next_screen;
    RdCtxDesc cd = {.kind = RD_CTX_HEADLESS, .screen = next_screen++};
    w->rc = rd_ctx_create(&cd, &w->ctx, w->err, sizeof w->err);
    if (!w->rc) w->rc = rd_scene_create(&f->scene, &w->scene, w->err, sizeof w->err);
    pthread_mutex_lock(&f->mu);
    w->ready = 1;
    unsigned long seen = f->gen;
    pthread_cond_broadcast(&f->cv_done);
    int alive = !w->rc;
    while (alive) {
        while (!f->quit && f->gen == seen)
            pthread_cond_wait(&f->cv_work, &f->mu);
        if (f->quit) break;
        seen = f->gen;
        int rc = WM_OK;
        /* Take chunks until none are left: a worker slowed by anything else on its
         * core takes fewer, so no one waits for it at the end. */
        while (f->next < f->n && !rc) {
            int b = f->next, e = b + f->chunk < f->n ? b + f->chunk : f->n;
            f->next = e;
            const RdView *views = f->views + b;
            pthread_mutex_unlock(&f->mu);
            rc = rd_scene_render(w->scene, views, e - b, w->err, sizeof w->err);
            pthread_mutex_lock(&f->mu);
        }
        w->rc = rc;
        if (--f->pending == 0) pthread_cond_broadcast(&f->cv_done);
    }
    pthread_mutex_unlock(&f->mu);
    rd_scene_destroy(w->scene);
    w->scene = NULL;
    rd_ctx_destroy(w->ctx);
    w->ctx = NULL;
    return NULL;
}

static int start_worker(RdFarm *f, int i, char *err, size_t errsz) {
    Worker *w = &f->w[i];
    w->farm = f;
    w->idx = i;
    if (pthread_create(&w->th, NULL, worker_main, w))
        return wm_errf(err, errsz, WM_ERR_GL, "cannot start render thread %d", i);
    w->started = 1;
    pthread_mutex_lock(&f->mu);
    while (!w->ready)
        pthread_cond_wait(&f->cv_done, &f->mu);
    pthread_mutex_unlock(&f->mu);
    if (w->rc) return wm_errf(err, errsz, w->rc, "%s", w->err);
    return WM_OK;
}

int rd_farm_create(const RdFarmDesc *d, RdFarm **out, char *err, size_t errsz) {
    *out = NULL;
    RdFarm *f = wm_new(RdFarm, 1);
    f->scene = d->scene;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv_work, NULL);
    pthread_cond_init(&f->cv_done, NULL);
    int max_w = d->workers > 0 ? d->workers : 64;
    f->w = wm_new(Worker, (size_t)max_w);
    /* The first worker tells whether rendering is on the CPU, which decides how many
     * more are worth having. */
    int rc = start_worker(f, 0, err, errsz);
    if (rc) goto fail;
    f->nw = 1;
    f->scene_batch = rd_scene_batch(f->w[0].scene);
    f->software = rd_ctx_is_software(f->w[0].ctx);
    int want = d->workers;
    if (want <= 0) {
        want = 1;
        if (f->software) {
            int screens = rd_headless_screens(NULL, 0);
            int cores = wm_cpu_count();
            want = cores < screens ? cores : screens;
            if (want < 1) want = 1;
        }
    }
    for (int i = 1; i < want; i++) {
        if ((rc = start_worker(f, i, err, errsz))) goto fail;
        f->nw = i + 1;
    }
    *out = f;
    return WM_OK;
fail:
    f->nw = max_w;
    rd_farm_destroy(f);
    return rc;
}

void rd_farm_destroy(RdFarm *f) {
    if (!f) return;
    pthread_mutex_lock(&f->mu);
    f->quit = 1;
    pthread_cond_broadcast(&f->cv_work);
    pthread_mutex_unlock(&f->mu);
    for (int i = 0; i < f->nw; i++)
        if (f->w[i].started) pthread_join(f->w[i].th, NULL);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv_work);
    pthread_cond_destroy(&f->cv_done);
    wm_free(f->w);
    wm_free(f);
}

int rd_farm_workers(const RdFarm *f) {
    return f->nw;
}

int rd_farm_render(RdFarm *f, const RdView *views, int n, char *err, size_t errsz) {
    if (n <= 0) return WM_OK;
    /* Chunks of at least 16 views (a pass has a fixed cost), about four per worker,
     * at most one pass each. */
    int batch = f->scene_batch;
    int chunk = (n + 4 * f->nw - 1) / (4 * f->nw);
    if (chunk < 16) chunk = 16;
    if (chunk > batch) chunk = batch;
    pthread_mutex_lock(&f->mu);
    f->views = views;
    f->n = n;
    f->next = 0;
    f->chunk = chunk;
    f->pending = f->nw;
    f->gen++;
    pthread_cond_broadcast(&f->cv_work);
    while (f->pending > 0)
        pthread_cond_wait(&f->cv_done, &f->mu);
    int rc = WM_OK;
    for (int i = 0; i < f->nw && !rc; i++)
        if (f->w[i].rc) rc = wm_errf(err, errsz, f->w[i].rc, "%s", f->w[i].err);
    pthread_mutex_unlock(&f->mu);
    return rc;
}
