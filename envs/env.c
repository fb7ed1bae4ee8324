/* The env contract's dispatch: config table, argument checks, the world vtables. */
#include "envs/env.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "envs/env_impl.h"
#include "envs/saccade.h"

WM_CFG_FIELDS(EnvConfig, ENV_FIELDS);

const EnvVtable *env_vtable(int kind) {
    static const EnvVtable *const worlds[ENV_KIND_COUNT] = {
        [ENV_KIND_OBJECTS3D] = &env_objects3d_vtable,
        [ENV_KIND_SACCADE] = &env_saccade_vtable,
    };
    WM_ASSERT(kind >= 0 && kind < ENV_KIND_COUNT);
    return worlds[kind];
}

const char *env_kind_name(int kind) { return env_vtable(kind)->name; }
const EnvTraits *env_traits(int kind) { return &env_vtable(kind)->traits; }

int env_kind_find(const char *name) {
    for (int k = 0; k < ENV_KIND_COUNT; k++)
        if (!strcmp(env_vtable(k)->name, name)) return k;
    return -1;
}

EnvConfigInfo env_config_info(const EnvConfig *cfg) {
    return env_vtable(cfg->kind)->config_info(cfg);
}

int env_create(const EnvConfig *cfg, int lanes, Env **out, char *err, size_t errsz) {
    *out = NULL;
    if (lanes < 1 || lanes > 1 << 20)
        return wm_errf(err, errsz, WM_ERR_ARG, "env: lanes must be in [1, 1048576], got %d", lanes);
    const EnvVtable *vt = env_vtable(cfg->kind);
    Env *e = wm_new(Env, 1);
    e->vt = vt;
    e->cfg = *cfg;
    e->lanes = lanes;
    int rc = vt->create(e, cfg, err, errsz);
    if (rc != WM_OK) {
        wm_free(e);
        return rc;
    }
    WM_ASSERT(e->spec.action_dim > 0 && e->spec.action_dim <= ENV_MAX_DIM);
    WM_ASSERT(e->spec.latent_dim > 0 && e->spec.latent_dim <= ENV_MAX_DIM);
    *out = e;
    return WM_OK;
}

void env_destroy(Env *e) {
    if (!e) return;
    e->vt->destroy(e);
    wm_free(e);
}

int env_reads_key(const EnvConfig *c, const WmCfgField *f) {
    static const char *const worlds[ENV_KIND_COUNT] = {[ENV_KIND_OBJECTS3D] = "objects3d: ",
                                                       [ENV_KIND_SACCADE] = "saccade: "};
    const int reads[ENV_KIND_COUNT] = {
        [ENV_KIND_OBJECTS3D] = c->kind == ENV_KIND_OBJECTS3D || c->source == ENV_SOURCE_OBJECTS3D,
        [ENV_KIND_SACCADE] = c->kind == ENV_KIND_SACCADE};
    for (int w = 0; w < ENV_KIND_COUNT; w++)
        if (f->help && !strncmp(f->help, worlds[w], strlen(worlds[w]))) return reads[w];
    return 1;
}

const EnvSpec *env_spec(const Env *e) { return &e->spec; }
int env_lanes(const Env *e) { return e->lanes; }

static int observe_one(Env *e, int lane, EnvObs *out) {
    if (!out) return WM_OK;
    return e->vt->observe(e, 1, &lane, out);
}

int env_reset(Env *e, int lane, uint64_t seed, int split, EnvObs *out) {
    WM_ASSERT(lane >= 0 && lane < e->lanes);
    WM_ASSERT(split == ENV_SPLIT_TRAIN || split == ENV_SPLIT_HELDOUT);
    int rc = e->vt->reset(e, lane, seed, split);
    return rc ? rc : observe_one(e, lane, out);
}

int env_step(Env *e, int lane, const float *action, EnvObs *out) {
    WM_ASSERT(lane >= 0 && lane < e->lanes);
    int rc = e->vt->step(e, lane, action);
    return rc ? rc : observe_one(e, lane, out);
}

int env_observe(Env *e, int n, const int *lanes, EnvObs *outs) {
    for (int i = 0; i < n; i++) WM_ASSERT(lanes[i] >= 0 && lanes[i] < e->lanes);
    return e->vt->observe(e, n, lanes, outs);
}

void env_latent(const Env *e, int lane, float *latent) {
    WM_ASSERT(lane >= 0 && lane < e->lanes);
    e->vt->latent(e, lane, latent);
}

int env_scene(const Env *e, int lane, EnvScene *out) {
    WM_ASSERT(lane >= 0 && lane < e->lanes);
    if (!e->vt->scene) return WM_ERR_ARG;
    return e->vt->scene(e, lane, out);
}

void env_compose_actions(const EnvConfig *cfg, int action_dim, const float *actions, int n,
                         float *out) {
    WM_ASSERT(n >= 0);
    env_vtable(cfg->kind)->compose(cfg, action_dim, actions, n, out);
}

void env_relative_action(const EnvConfig *cfg, const float *from, const float *to, float *out) {
    env_vtable(cfg->kind)->relative(cfg, from, to, out);
}

int env_sample_state(const EnvConfig *cfg, WmRng *r, double *latent) {
    const EnvVtable *vt = env_vtable(cfg->kind);
    if (!vt->sample_state) return WM_ERR_ARG;
    return vt->sample_state(cfg, r, latent);
}

void env_state_action(const EnvConfig *cfg, const double *from, const double *to, float *out) {
    env_vtable(cfg->kind)->state_action(cfg, from, to, out);
}

int env_set_state(Env *e, int lane, const double *latent) {
    WM_ASSERT(lane >= 0 && lane < e->lanes);
    return e->vt->set_state(e, lane, latent);
}

void env_get_state(const Env *e, int lane, double *latent) {
    WM_ASSERT(lane >= 0 && lane < e->lanes);
    e->vt->get_state(e, lane, latent);
}

int env_view(const Env *e, int lane, struct RdView *view) {
    WM_ASSERT(lane >= 0 && lane < e->lanes);
    if (!e->vt->view) return WM_ERR_ARG;
    if (view) e->vt->view(e, lane, view);
    return WM_OK;
}

const char *env_class_name(const Env *e, int label) {
    return e->vt->class_name(e, label);
}

void env_equiv_targets(const EnvSpec *sp, const float *lat, const float *act, size_t n, int t, float *out) {
    const EnvLayout *l = &sp->layout;
    int A = sp->action_dim, L = sp->latent_dim, r = l->act_rot, p = l->lat_rot;
    memcpy(out, act, n * (size_t)(t - 1) * (size_t)A * sizeof *out);
    if (l->family != ENV_FAMILY_OBJECT || r < 0 || p < 0) return;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k + 1 < t; k++) {
            const float *a = lat + (i * (size_t)t + (size_t)k) * (size_t)L + p, *b = a + L;
            /* the w of q_k^-1 q_{k+1}; canonicalisation flipped the action's sign where it is < 0 */
            if ((double)a[0] * b[0] + (double)a[1] * b[1] + (double)a[2] * b[2] + (double)a[3] * b[3] >= 0) continue;
            float *o = out + (i * (size_t)(t - 1) + (size_t)k) * (size_t)A + r;
            for (int j = 0; j < 4; j++) o[j] = -o[j];
        }
}
