/* A bounded ring of fixed-size slots between one producer thread and one consumer:
 * the producer fills a free slot and publishes it, the consumer takes slots in
 * order and gives them back. Used by the on-line trainer (rollouts -> batches). */
#ifndef WM_QUEUE_H
#define WM_QUEUE_H

#include <stddef.h>

typedef struct WmQueue WmQueue;

/* nslots >= 1 slots of slot_size bytes each (zeroed). */
WmQueue *wm_queue_create(int nslots, size_t slot_size);
void wm_queue_destroy(WmQueue *q);

/* Producer: a free slot to fill (blocks while all are full), or NULL once closed. */
void *wm_queue_acquire_free(WmQueue *q);
void wm_queue_publish(WmQueue *q);
/* Consumer: the next published slot, in order (blocks while none), or NULL once the
 * queue is closed and drained. *wait_s (may be NULL) adds the seconds spent waiting. */
void *wm_queue_take(WmQueue *q, double *wait_s);
void wm_queue_release(WmQueue *q);
/* Calls fn on every slot's memory (to free what slots point to before destroy). */
void wm_queue_for_each_slot(WmQueue *q, void (*fn)(void *slot));
/* Wakes both sides; acquire_free returns NULL from then on. */
void wm_queue_close(WmQueue *q);

#endif
