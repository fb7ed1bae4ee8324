/* The policies of agents/agent.h for the object family of worlds (ENV_FAMILY_OBJECT:
 * objects3d): iid, rotate, so3, walk, loop, path and human rotations, built on the
 * layout and the action algebra of envs/env.h alone. */
#include <math.h>
#include <string.h>

#include "agents/agent_impl.h"
#include "core/err.h"
#include "core/quat.h"

#define DEG (M_PI / 180.0)

static int create(Agent *a, const EnvSpec *spec, char *err, size_t errsz) {
    const EnvLayout *l = &a->lay;
    if (l->act_rot < 0 || l->act_rot + 4 > spec->action_dim || l->lat_rot < 0 ||
        spec->latent_dim > ENV_MAX_DIM)
        return wm_errf(err, errsz, WM_ERR_MISMATCH,
                       "agent: the env spec (%d action values) holds no relative rotation",
                       spec->action_dim);
    return WM_OK;
}

static void random_unit(WmRng *r, double v[3]) {
    double n;
    do {
        for (int k = 0; k < 3; k++)
            v[k] = wm_rng_normal(r);
        n = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    } while (n < 1e-9);
    for (int k = 0; k < 3; k++)
        v[k] /= n;
}

static void put_rotation(const Agent *a, const double q_in[4], float *action) {
    double q[4] = {q_in[0], q_in[1], q_in[2], q_in[3]};
    wm_quat_canon(q);
    memset(action, 0, sizeof(float) * (size_t)a->adim);
    for (int k = 0; k < 4; k++)
        action[a->lay.act_rot + k] = (float)q[k];
}

static void identity(const Agent *a, float *action) {
    memset(action, 0, sizeof(float) * (size_t)a->adim);
    action[a->lay.act_rot] = 1.0f;
}

/* Rotations are normalised and canonicalised. */
static int path_action(const Agent *a, double *v, const char *file, int line, char *err,
                       size_t errsz) {
    double *q = v + a->lay.act_rot;
    double norm = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    if (norm < 1e-6)
        return wm_errf(err, errsz, WM_ERR_RANGE, "%s:%d: the rotation w x y z is zero", file,
                       line);
    wm_quat_normalize(q);
    wm_quat_canon(q);
    return WM_OK;
}

static int begin(Agent *a, int lane, Env *env) {
    (void)env;
    if (a->kind == AG_WALK) random_unit(&a->lane[lane].rng, a->lane[lane].axis);
    return WM_OK;
}

/* iid: a fresh absolute state; the action is the relative transform, and what the
 * action does not carry is set on the env directly, as 3DIEBench redraws it. */
static int iid(Agent *a, int lane, Env *env, float *action) {
    AgLane *L = &a->lane[lane];
    const EnvLayout *l = &a->lay;
    const EnvSpec *spec = env_spec(env);
    int n = spec->latent_dim;
    double cur[ENV_MAX_DIM], nxt[ENV_MAX_DIM], mix[ENV_MAX_DIM];
    env_get_state(env, lane, cur);
    int rc = env_sample_state(&a->ecfg, &L->rng, nxt);
    if (rc) return rc;
    if (!a->cfg.redraw_colors)
        for (int k = 0; k < n; k++)
            if (k < l->lat_rot || k >= l->lat_rot + 4) nxt[k] = cur[k];
    env_state_action(&a->ecfg, cur, nxt, action);
    memcpy(mix, nxt, sizeof(double) * (size_t)n);
    for (int k = 0; k < 4; k++)
        mix[l->lat_rot + k] = cur[l->lat_rot + k];
    if (l->act_trans >= 0)
        for (int k = 0; k < 3; k++)
            mix[l->lat_trans + k] = cur[l->lat_trans + k];
    if (l->act_color >= 0)
        for (int k = 0; k < l->color_dim; k++)
            mix[l->lat_color + k] = cur[l->lat_color + k];
    return env_set_state(env, lane, mix);
}

/* walk: turn the axis about a random perpendicular by up to `turn`, then step. */
static void walk(Agent *a, AgLane *L, float *action) {
    double u[3], *ax = L->axis, tq[4], nax[3], q[4];
    random_unit(&L->rng, u);
    double dot = u[0] * ax[0] + u[1] * ax[1] + u[2] * ax[2];
    for (int k = 0; k < 3; k++)
        u[k] -= dot * ax[k];
    double n = sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
    if (n > 1e-9) {
        for (int k = 0; k < 3; k++)
            u[k] /= n;
        wm_quat_from_axis_angle(tq, u, wm_rng_uniform(&L->rng) * a->cfg.turn * DEG);
        wm_quat_rotate(tq, ax, nax);
        n = sqrt(nax[0] * nax[0] + nax[1] * nax[1] + nax[2] * nax[2]);
        for (int k = 0; k < 3; k++)
            ax[k] = nax[k] / n;
    }
    wm_quat_from_axis_angle(q, ax, wm_rng_uniform(&L->rng) * a->cfg.max_angle * DEG);
    put_rotation(a, q, action);
}

static int loop_step(Agent *a, int lane, Env *env, float *action) {
    (void)env;
    double q[4];
    wm_quat_random_within(q, &a->lane[lane].rng, a->cfg.max_angle * DEG);
    put_rotation(a, q, action);
    return WM_OK;
}

static int next(Agent *a, int lane, Env *env, float *action) {
    AgLane *L = &a->lane[lane];
    double q[4];
    switch (a->kind) {
    case AG_IID:
        return iid(a, lane, env, action);
    case AG_ROTATE:
        return loop_step(a, lane, env, action);
    case AG_SO3:
        wm_quat_random(q, &L->rng);
        put_rotation(a, q, action);
        return WM_OK;
    case AG_WALK:
        walk(a, L, action);
        return WM_OK;
    default:
        WM_ASSERT(!"object agent: unknown kind");
        return WM_ERR_ARG;
    }
}

/* The conjugate rotation. */
static void undo(const Agent *a, const float *out, float *action) {
    int r = a->lay.act_rot;
    memset(action, 0, sizeof(float) * (size_t)a->adim);
    action[r] = out[r];
    for (int k = 1; k < 4; k++)
        action[r + k] = -out[r + k];
}

static void path_step(Agent *a, int lane, Env *env, const float *src, float *action) {
    (void)lane, (void)env;
    memcpy(action, src, sizeof(float) * (size_t)a->adim);
}

static int event_ok(const Agent *a, const AgEvent *ev) {
    switch (ev->type) {
    case AG_EVENT_ROTATE:
        return ev->v[0] * ev->v[0] + ev->v[1] * ev->v[1] + ev->v[2] * ev->v[2] >= 1e-18;
    case AG_EVENT_TRANSLATE:
        return a->lay.act_trans >= 0;
    default:
        return 0;
    }
}

static void event(Agent *a, int lane, Env *env, const AgEvent *ev, float *action) {
    if (ev->type == AG_EVENT_TRANSLATE) {
        for (int k = 0; k < 3; k++)
            action[a->lay.act_trans + k] = (float)ev->v[k];
        return;
    }
    double axis[3] = {ev->v[0], ev->v[1], ev->v[2]}, q[4];
    double n = sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]);
    for (int k = 0; k < 3; k++)
        axis[k] /= n;
    wm_quat_from_axis_angle(q, axis, ev->v[3]);
    if (ev->v[4] == 0) {
        /* A world-frame turn R gives q' = R q, so the body-frame action is q^-1 R q. */
        double lat[ENV_MAX_DIM], cur[4], t[4];
        env_get_state(env, lane, lat);
        for (int k = 0; k < 4; k++)
            cur[k] = lat[a->lay.lat_rot + k];
        wm_quat_mul(t, q, cur);
        wm_quat_relative(q, cur, t);
    }
    put_rotation(a, q, action);
}

const AgFamily ag_object_family = {
    .worlds = "objects3d",
    .auto_kind = AG_IID,
    .kinds = AG_KIND_BIT(AG_IID) | AG_KIND_BIT(AG_ROTATE) | AG_KIND_BIT(AG_SO3) | AG_KIND_BIT(AG_WALK) |
             AG_KIND_BIT(AG_LOOP) | AG_KIND_BIT(AG_PATH) | AG_KIND_BIT(AG_HUMAN),
    .create = create,
    .path_action = path_action,
    .begin = begin,
    .next = next,
    .loop_step = loop_step,
    .undo = undo,
    .path_step = path_step,
    .identity = identity,
    .event_ok = event_ok,
    .event = event,
};
