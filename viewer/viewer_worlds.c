/* Every world of a viewer session from one run config (see viewer.h). */
#include <stdio.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/pool.h"
#include "viewer/viewer.h"

int rd_viewer_worlds(const RunConfig *rc, RdViewerDesc *d, RdViewerTexts *texts, char *err,
                     size_t errsz) {
    if (rc->agent.kind == AG_HUMAN)
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "agent.kind = human: the training stream needs a policy (your own input is "
                       "the human one and is "
                       "mixed in); use auto or another policy");
    RunConfig *w = wm_new(RunConfig, 1); /* large: off the stack */
    d->n_worlds = 0;
    for (int i = 0; i < ENV_KIND_COUNT; i++) {
        *w = *rc;
        if (i > 0) {
            int kind = i <= rc->env.kind ? i - 1 : i; /* the other kinds in order */
            w->env.kind = kind;
            w->agent.kind = AG_AUTO;
            if (snprintf(w->train.out, sizeof w->train.out, "%s-%s", rc->train.out,
                         env_kind_name(kind)) >= (int)sizeof w->train.out) {
                wm_free(w);
                return wm_errf(err, errsz, WM_ERR_ARG, "train.out '%s' is too long",
                               rc->train.out);
            }
        }
        texts->text[i].len = 0;
        run_config_text(w, &texts->text[i]);
        d->worlds[d->n_worlds++] = (RdViewerWorld){w->env, w->agent, w->train, w->pipe,
                                                  texts->text[i].data};
    }
    wm_free(w);
    d->model = rc->model, d->optim = rc->optim;
    int cores = wm_cpu_count();
    d->threads = rc->pipe.threads > 0 ? rc->pipe.threads : cores > 1 ? cores - 1 : 1;
    return WM_OK;
}

void rd_viewer_texts_free(RdViewerTexts *texts) {
    for (int i = 0; i < ENV_KIND_COUNT; i++)
        wm_buf_free(&texts->text[i]);
}
