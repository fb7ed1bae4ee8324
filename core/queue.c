/* Single-producer, single-consumer slot ring with a mutex and two conditions. */
#include "core/clock.h"
#include "core/queue.h"

#include <pthread.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/progress.h"

struct WmQueue {
    unsigned char *mem;
    size_t slot_size;
    int n;
    int head;  /* next slot the consumer takes */
    int count; /* published, not yet released */
    int filling, taken;
    int closed;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

WmQueue *wm_queue_create(int nslots, size_t slot_size) {
    WM_ASSERT(nslots >= 1);
    WmQueue *q = wm_new(WmQueue, 1);
    q->mem = wm_calloc((size_t)nslots, slot_size);
    q->slot_size = slot_size;
    q->n = nslots;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    return q;
}

void wm_queue_destroy(WmQueue *q) {
    if (!q) return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    wm_free(q->mem);
    wm_free(q);
}

void *wm_queue_acquire_free(WmQueue *q) {
    pthread_mutex_lock(&q->mu);
    WM_ASSERT(!q->filling);
    while (!q->closed && q->count == q->n) pthread_cond_wait(&q->cv, &q->mu);
    void *slot = NULL;
    if (!q->closed) {
        slot = q->mem + (size_t)((q->head + q->count) % q->n) * q->slot_size;
        q->filling = 1;
    }
    pthread_mutex_unlock(&q->mu);
    return slot;
}

void wm_queue_publish(WmQueue *q) {
    pthread_mutex_lock(&q->mu);
    WM_ASSERT(q->filling);
    q->filling = 0;
    q->count++;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void *wm_queue_take(WmQueue *q, double *wait_s) {
    double t0 = wm_now();
    pthread_mutex_lock(&q->mu);
    WM_ASSERT(!q->taken);
    while (!q->closed && q->count == 0) pthread_cond_wait(&q->cv, &q->mu);
    void *slot = NULL;
    if (q->count > 0) {
        slot = q->mem + (size_t)q->head * q->slot_size;
        q->taken = 1;
    }
    pthread_mutex_unlock(&q->mu);
    if (wait_s) *wait_s += wm_now() - t0;
    return slot;
}

void wm_queue_release(WmQueue *q) {
    pthread_mutex_lock(&q->mu);
    WM_ASSERT(q->taken);
    q->taken = 0;
    q->head = (q->head + 1) % q->n;
    q->count--;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void wm_queue_close(WmQueue *q) {
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void wm_queue_for_each_slot(WmQueue *q, void (*fn)(void *slot)) {
    for (int i = 0; i < q->n; i++) fn(q->mem + (size_t)i * q->slot_size);
}
