/* The producer thread behind agents/stream.h. */
#include "data/stream.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/queue.h"

typedef struct {
    AgBatch b;
    int64_t step;
    int rc;
    char err[512];
} Slot;

struct AgStream {
    EnvConfig ecfg;
    AgentConfig acfg;
    int batch, views, lanes, split;
    uint64_t seed;
    uint64_t stride, offset; /* batch k: sequences k*stride + offset .. + batch-1 */
    EnvSpec spec;
    WmQueue *q;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready, started, failed;
    int64_t first_step;
    char err[512];
};

static void free_slot(void *slot) { ag_batch_free(&((Slot *)slot)->b); }

static void *producer(void *arg) {
    AgStream *s = arg;
    char err[512] = "";
    Env *env = NULL;
    int rc = env_create(&s->ecfg, s->lanes, &env, err, sizeof err);
    Agent *ag = NULL;
    if (!rc) rc = ag_create(&s->acfg, &s->ecfg, env_spec(env), s->lanes, &ag, err, sizeof err);
    pthread_mutex_lock(&s->mu);
    if (!rc) s->spec = *env_spec(env);
    else s->failed = rc, snprintf(s->err, sizeof s->err, "%s", err);
    s->ready = 1;
    pthread_cond_broadcast(&s->cv);
    while (!s->failed && !s->started) pthread_cond_wait(&s->cv, &s->mu);
    int64_t step = s->first_step;
    pthread_mutex_unlock(&s->mu);
    while (ag) {
        Slot *slot = wm_queue_acquire_free(s->q);
        if (!slot) break; /* closed */
        if (!slot->b.pixels) slot->rc = ag_batch_alloc(&slot->b, &s->spec, s->batch, s->views, 0, slot->err, sizeof slot->err);
        if (!slot->rc)
            slot->rc = ag_rollout(env, ag, s->seed, s->split, (uint64_t)step * s->stride + s->offset, s->batch, &slot->b,
                                  slot->err, sizeof slot->err);
        slot->step = step++;
        wm_queue_publish(s->q);
        if (slot->rc) break;
    }
    ag_destroy(ag);
    env_destroy(env);
    return NULL;
}

int ag_stream_create(const EnvConfig *ecfg, const AgentConfig *acfg, int batch, int views, int lanes, int slots,
                     uint64_t seed, int split, AgStream **out, char *err, size_t errsz) {
    *out = NULL;
    AgStream *s = wm_new(AgStream, 1);
    s->ecfg = *ecfg, s->acfg = *acfg;
    s->batch = batch, s->views = views, s->lanes = lanes < 1 ? 1 : lanes > batch ? batch : lanes;
    s->seed = seed, s->split = split;
    s->stride = (uint64_t)batch, s->offset = 0;
    s->q = wm_queue_create(slots, sizeof(Slot));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    WM_ASSERT(pthread_create(&s->th, NULL, producer, s) == 0);
    pthread_mutex_lock(&s->mu);
    while (!s->ready) pthread_cond_wait(&s->cv, &s->mu);
    int failed = s->failed;
    pthread_mutex_unlock(&s->mu);
    if (failed) {
        int rc = wm_errf(err, errsz, failed, "%s", s->err);
        ag_stream_destroy(s);
        return rc;
    }
    *out = s;
    return WM_OK;
}

const EnvSpec *ag_stream_spec(const AgStream *s) { return &s->spec; }

void ag_stream_shard(AgStream *s, int global_batch, int offset) {
    pthread_mutex_lock(&s->mu);
    WM_ASSERT(!s->started && offset >= 0 && offset + s->batch <= global_batch);
    s->stride = (uint64_t)global_batch, s->offset = (uint64_t)offset;
    pthread_mutex_unlock(&s->mu);
}

const AgBatch *ag_stream_next(AgStream *s, int64_t step, char *err, size_t errsz) {
    pthread_mutex_lock(&s->mu);
    if (!s->started) {
        s->started = 1;
        s->first_step = step;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    Slot *slot = wm_queue_take(s->q, NULL);
    if (!slot) {
        wm_errf(err, errsz, WM_ERR_ARG, "data stream stopped");
        return NULL;
    }
    if (slot->rc) {
        wm_errf(err, errsz, slot->rc, "%s", slot->err);
        wm_queue_release(s->q);
        return NULL;
    }
    WM_ASSERT(slot->step == step);
    return &slot->b;
}

void ag_stream_release(AgStream *s) { wm_queue_release(s->q); }

void ag_stream_destroy(AgStream *s) {
    if (!s) return;
    wm_queue_close(s->q);
    pthread_mutex_lock(&s->mu);
    s->failed = 1; /* wakes a producer still waiting to start */
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    wm_queue_for_each_slot(s->q, free_slot);
    wm_queue_destroy(s->q);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    wm_free(s);
}
