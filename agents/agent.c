/* The policies of agents/agent.h, common part: create and destroy, path files, and the
 * dispatch to the world family's policies (agents/object.c, agents/glimpse.c) and to
 * human input (agents/human.c). Compiled against envs/env.h alone. */
#include "agents/agent_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"

WM_CFG_FIELDS(AgentConfig, AGENT_FIELDS);

#define AGENT_STREAM 0xa9e47ULL

static const char *const kind_names[AG_KIND_COUNT_] = {
    "auto", "iid", "rotate", "so3", "walk", "loop", "saliency", "uniform", "path", "human"};

const char *ag_kind_name(int kind) {
    return kind >= 0 && kind < AG_KIND_COUNT_ ? kind_names[kind] : "?";
}
/* "a, b or c": the names of the kinds in the mask. */
static void kinds_text(unsigned mask, char *out, size_t outsz) {
    int n = 0, total = 0;
    for (int k = 0; k < AG_KIND_COUNT_; k++) total += !!(mask & AG_KIND_BIT(k));
    out[0] = 0;
    for (int k = 0; k < AG_KIND_COUNT_; k++) {
        if (!(mask & AG_KIND_BIT(k))) continue;
        size_t len = strlen(out);
        snprintf(out + len, outsz - len, "%s%s", n == 0 ? "" : n == total - 1 ? " or " : ", ", kind_names[k]);
        n++;
    }
}

int ag_kind(const Agent *a) {
    return a->kind;
}
int ag_lanes(const Agent *a) {
    return a->lanes;
}

/* ---- Path files -------------------------------------------------------------------- */

/* One action per line; '#' starts a comment; the family normalises each action. */
static int load_path(Agent *a, const char *file, char *err, size_t errsz) {
    char *text = NULL;
    size_t len = 0;
    int rc = wm_read_file(file, &text, &len, err, errsz);
    if (rc) return wm_err_prefix(err, errsz, rc, "agent.path: ");
    int cap = 16, lineno = 0;
    a->path = wm_new(float, (size_t)cap * a->adim);
    for (char *line = text; line && *line && !rc;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        double v[ENV_MAX_DIM];
        int n = 0;
        char *p = line;
        for (;;) {
            while (*p == ' ' || *p == '\t' || *p == '\r' || *p == ',')
                p++;
            if (!*p) break;
            char *end;
            double x = strtod(p, &end);
            if (end == p || (*end && !strchr(" \t\r,", *end))) {
                rc = wm_errf(err, errsz, WM_ERR_PARSE, "%s:%d: '%.32s' is not a number", file,
                             lineno, p);
                break;
            }
            if (!isfinite(x)) {
                rc =
                    wm_errf(err, errsz, WM_ERR_NUMERIC, "%s:%d: %g is not finite", file, lineno, x);
                break;
            }
            if (n < ENV_MAX_DIM) v[n] = x;
            n++;
            p = end;
        }
        if (rc || n == 0) {
            line = next;
            continue;
        }
        if (n != a->adim) {
            rc = wm_errf(err, errsz, WM_ERR_PARSE,
                         "%s:%d: expected %d numbers (this world's action size), found %d", file,
                         lineno, a->adim, n);
            break;
        }
        rc = a->fam->path_action(a, v, file, lineno, err, errsz);
        if (rc) break;
        if (a->path_n == cap) {
            cap *= 2;
            a->path = wm_realloc(a->path, (size_t)cap * a->adim, sizeof(float));
        }
        for (int k = 0; k < a->adim; k++)
            a->path[(size_t)a->path_n * a->adim + k] = (float)v[k];
        a->path_n++;
        line = next;
    }
    wm_free(text);
    if (!rc && a->path_n == 0)
        rc = wm_errf(err, errsz, WM_ERR_PARSE, "agent.path: '%s' holds no actions", file);
    return rc;
}

/* ---- Create / destroy -------------------------------------------------------------- */

void ag_destroy(Agent *a) {
    if (!a) return;
    if (a->lane)
        for (int i = 0; i < a->lanes; i++)
            wm_free(a->lane[i].loop);
    wm_free(a->lane);
    wm_free(a->ior_maps);
    wm_free(a->queues);
    wm_free(a->path);
    if (a->has_mutex) pthread_mutex_destroy(&a->mu);
    wm_free(a);
}

static const AgFamily *family_of(int family) {
    switch (family) {
    case ENV_FAMILY_OBJECT:
        return &ag_object_family;
    case ENV_FAMILY_GLIMPSE:
        return &ag_glimpse_family;
    default:
        return NULL;
    }
}

int ag_create(const AgentConfig *cfg, const EnvConfig *ecfg, const EnvSpec *spec, int lanes,
              Agent **out, char *err, size_t errsz) {
    *out = NULL;
    if (lanes < 1)
        return wm_errf(err, errsz, WM_ERR_ARG, "agent: lanes must be at least 1, got %d", lanes);
    const AgFamily *fam = family_of(spec->layout.family);
    if (!fam)
        return wm_errf(err, errsz, WM_ERR_ARG, "agent: no policies for world family %d",
                       spec->layout.family);
    Agent *a = wm_new(Agent, 1);
    a->cfg = *cfg;
    a->ecfg = *ecfg;
    a->lay = spec->layout;
    a->fam = fam;
    a->lanes = lanes;
    a->adim = spec->action_dim;
    a->kind = cfg->kind == AG_AUTO ? fam->auto_kind : cfg->kind;
    int rc = fam->create(a, spec, err, errsz);
    if (!rc && !(fam->kinds & AG_KIND_BIT(a->kind))) {
        const AgFamily *other = NULL;
        for (int f = 0; f < ENV_FAMILY_COUNT && !other; f++)
            if (family_of(f)->kinds & AG_KIND_BIT(a->kind)) other = family_of(f);
        char kinds[256];
        kinds_text(fam->kinds, kinds, sizeof kinds);
        rc = wm_errf(err, errsz, WM_ERR_ARG, "agent: kind = %s runs in %s, not %s (use %s)",
                     kind_names[a->kind], other ? other->worlds : "no world",
                     env_kind_name(ecfg->kind), kinds);
    }
    if (!rc && a->kind == AG_PATH) {
        if (!cfg->path[0])
            rc = wm_errf(err, errsz, WM_ERR_ARG, "agent: kind = path needs agent.path (a file)");
        else
            rc = load_path(a, cfg->path, err, errsz);
    }
    if (rc) {
        ag_destroy(a);
        return rc;
    }
    a->lane = wm_new(AgLane, (size_t)lanes);
    if (a->kind == AG_SALIENCY || a->kind == AG_UNIFORM) {
        size_t s2 = (size_t)a->s * a->s, count;
        if (!wm_size_mul(s2, (size_t)lanes, &count) ||
            !(a->ior_maps = wm_try_calloc(count, sizeof(float)))) {
            rc = wm_errf(err, errsz, WM_ERR_NOMEM,
                         "agent: not enough memory for %d lanes of %dx%d fixation maps", lanes,
                         a->s, a->s);
            ag_destroy(a);
            return rc;
        }
        for (int i = 0; i < lanes; i++)
            a->lane[i].ior = a->ior_maps + (size_t)i * s2;
    }
    if (a->kind == AG_HUMAN) {
        a->queues = wm_new(AgEvent, (size_t)lanes * AG_QUEUE_CAP);
        for (int i = 0; i < lanes; i++)
            a->lane[i].queue = a->queues + (size_t)i * AG_QUEUE_CAP;
        pthread_mutex_init(&a->mu, NULL);
        a->has_mutex = 1;
    }
    *out = a;
    return WM_OK;
}

/* ---- Begin / next ------------------------------------------------------------------ */

int ag_begin(Agent *a, int lane, uint64_t seed, Env *env, int n_views) {
    WM_ASSERT(lane >= 0 && lane < a->lanes);
    AgLane *L = &a->lane[lane];
    wm_rng_seed(&L->rng, seed, AGENT_STREAM);
    L->n_views = n_views;
    L->t = 0;
    L->path_pos = 0;
    L->begun = 1;
    if (a->kind == AG_LOOP) {
        int len = a->cfg.loop_len;
        if (len == 0) {
            if (n_views < 1) return WM_ERR_ARG; /* half of an open-ended sequence */
            len = (n_views - 1) / 2;
            if (len < 1) len = 1;
        }
        if (len > L->loop_cap) {
            L->loop = wm_realloc(L->loop, (size_t)len * a->adim, sizeof(float));
            L->loop_cap = len;
        }
        L->loop_len = len;
        return WM_OK;
    }
    return a->fam->begin(a, lane, env);
}

int ag_next_action(Agent *a, int lane, Env *env, float *action) {
    WM_ASSERT(lane >= 0 && lane < a->lanes);
    AgLane *L = &a->lane[lane];
    WM_ASSERT(L->begun);
    int rc = WM_OK, t = L->t++;
    switch (a->kind) {
    case AG_LOOP: {
        int len = L->loop_len, j = t % (2 * len);
        float *store = L->loop;
        if (j < len) {
            rc = a->fam->loop_step(a, lane, env, action);
            memcpy(store + (size_t)j * a->adim, action, sizeof(float) * (size_t)a->adim);
        } else {
            /* Undo step 2*len-1-j (exact in float). */
            a->fam->undo(a, store + (size_t)(2 * len - 1 - j) * a->adim, action);
        }
        break;
    }
    case AG_PATH: {
        const float *src = a->path + (size_t)(L->path_pos % a->path_n) * a->adim;
        L->path_pos = (L->path_pos + 1) % a->path_n;
        a->fam->path_step(a, lane, env, src, action);
        break;
    }
    case AG_HUMAN: {
        AgEvent ev;
        int have = ag_human_pop(a, lane, &ev);
        a->fam->identity(a, action);
        if (have) a->fam->event(a, lane, env, &ev, action);
        break;
    }
    default:
        rc = a->fam->next(a, lane, env, action);
    }
    return rc;
}

int ag_step(Agent *a, int lane, Env *env, float *action) {
    int rc = ag_next_action(a, lane, env, action);
    return rc ? rc : env_step(env, lane, action, NULL);
}
