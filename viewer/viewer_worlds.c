/* The two worlds of a viewer session from one run config (see viewer.h). */
#include <stdio.h>

#include "core/err.h"
#include "core/pool.h"
#include "viewer/viewer.h"

int rd_viewer_worlds(const RunConfig *rc, RunConfig *other, RdViewerDesc *d, WmBuf *t0, WmBuf *t1,
                     char *err, size_t errsz) {
    if (rc->agent.kind == AG_HUMAN)
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "agent.kind = human: the training stream needs a policy (your own input is "
                       "the human one and is "
                       "mixed in); use auto or another policy");
    *other = *rc;
    other->env.kind = rc->env.kind == ENV_KIND_OBJECTS3D ? ENV_KIND_SACCADE : ENV_KIND_OBJECTS3D;
    other->agent.kind = AG_AUTO;
    if (snprintf(other->train.out, sizeof other->train.out, "%s-%s", rc->train.out,
                 env_kind_name(other->env.kind)) >= (int)sizeof other->train.out)
        return wm_errf(err, errsz, WM_ERR_ARG, "train.out '%s' is too long", rc->train.out);
    run_config_text(rc, t0);
    run_config_text(other, t1);
    d->worlds[0] = (RdViewerWorld){rc->env, rc->agent, rc->train, t0->data};
    d->worlds[1] = (RdViewerWorld){other->env, other->agent, other->train, t1->data};
    d->n_worlds = 2;
    d->model = rc->model, d->optim = rc->optim;
    int cores = wm_cpu_count();
    d->threads = rc->train.threads > 0 ? rc->train.threads : cores > 1 ? cores - 1 : 1;
    return WM_OK;
}
