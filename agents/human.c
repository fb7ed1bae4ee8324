/* Human input (agents/agent.h): a queue of events per lane, pushed from any thread and
 * turned into actions by the world family's policies when the lane steps. */
#include <math.h>

#include "agents/agent_impl.h"
#include "core/err.h"

int ag_human_push(Agent *a, int lane, const AgEvent *ev) {
    if (a->kind != AG_HUMAN || lane < 0 || lane >= a->lanes) return WM_ERR_ARG;
    for (int k = 0; k < 5; k++)
        if (!isfinite(ev->v[k])) return WM_ERR_ARG;
    if (!a->fam->event_ok(a, ev)) return WM_ERR_ARG;
    AgLane *L = &a->lane[lane];
    int rc = WM_OK;
    pthread_mutex_lock(&a->mu);
    if (L->qcount == AG_QUEUE_CAP) {
        rc = WM_ERR_RANGE;
    } else {
        L->queue[(L->qhead + L->qcount) % AG_QUEUE_CAP] = *ev;
        L->qcount++;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int ag_human_pending(Agent *a, int lane) {
    if (a->kind != AG_HUMAN || lane < 0 || lane >= a->lanes) return 0;
    pthread_mutex_lock(&a->mu);
    int n = a->lane[lane].qcount;
    pthread_mutex_unlock(&a->mu);
    return n;
}

int ag_human_pop(Agent *a, int lane, AgEvent *ev) {
    AgLane *L = &a->lane[lane];
    int have = 0;
    pthread_mutex_lock(&a->mu);
    if (L->qcount > 0) {
        *ev = L->queue[L->qhead];
        L->qhead = (L->qhead + 1) % AG_QUEUE_CAP;
        L->qcount--;
        have = 1;
    }
    pthread_mutex_unlock(&a->mu);
    return have;
}
