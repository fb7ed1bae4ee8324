/* The policies of agents/agent.h for the glimpse family of worlds (ENV_FAMILY_GLIMPSE:
 * saccade): saliency, uniform, walk, loop, path and human fixations, on the fixation
 * grid that envs/env.h describes. Every action is a difference of grid points, so
 * summed actions equal the final minus the first latent bit for bit. */
#include <math.h>
#include <string.h>

#include "agents/agent_impl.h"
#include "core/err.h"

static int create(Agent *a, const EnvSpec *spec, char *err, size_t errsz) {
    int grid = a->lay.grid;
    a->s = a->lay.scene_size;
    a->shift = (int32_t)lrint(a->cfg.max_shift * grid);
    if (spec->action_dim != 2 || grid < 1 || a->s < 1)
        return wm_errf(err, errsz, WM_ERR_MISMATCH,
                       "agent: saccade actions have 2 values, the env spec says %d",
                       spec->action_dim);
    if ((a->kind == AG_WALK || a->kind == AG_LOOP) && a->shift < 1)
        return wm_errf(err, errsz, WM_ERR_RANGE,
                       "agent: max_shift %g is below one fixation-grid step (1/%d)",
                       a->cfg.max_shift, grid);
    return WM_OK;
}

static void current_grid(const Agent *a, const Env *env, int lane, int32_t k[2]) {
    float lat[ENV_MAX_DIM];
    env_latent(env, lane, lat);
    /* Latents are k / grid exactly, so this recovers k exactly. */
    k[0] = (int32_t)lrintf(lat[0] * a->lay.grid);
    k[1] = (int32_t)lrintf(lat[1] * a->lay.grid);
}

static int32_t clamp_grid(const Agent *a, int64_t k) {
    return (int32_t)(k < 0 ? 0 : k > a->lay.grid ? a->lay.grid : k);
}

static void grid_action(const Agent *a, const int32_t from[2], const int32_t to[2],
                        float *action) {
    action[0] = (float)(to[0] - from[0]) / a->lay.grid;
    action[1] = (float)(to[1] - from[1]) / a->lay.grid;
}

/* Zeroes the inhibited region around the pixel holding grid point k. */
static void inhibit(const Agent *a, float *map, const int32_t k[2]) {
    int shape = a->ecfg.ior, r = a->ecfg.ior_radius, s = a->s;
    if (shape == ENV_IOR_NONE) return;
    int py = env_grid_pixel(k[0], s, a->lay.grid), px = env_grid_pixel(k[1], s, a->lay.grid);
    int y0 = py - r < 0 ? 0 : py - r, y1 = py + r > s - 1 ? s - 1 : py + r;
    int x0 = px - r < 0 ? 0 : px - r, x1 = px + r > s - 1 ? s - 1 : px + r;
    for (int y = y0; y <= y1; y++) {
        for (int x = x0; x <= x1; x++) {
            int dy = y - py, dx = x - px;
            if (shape == ENV_IOR_DISC && dy * dy + dx * dx > r * r) continue;
            map[(size_t)y * s + x] = 0;
        }
    }
}

/* The fixation map before any inhibition: the scene's saliency, or flat. */
static int fill_map(const Agent *a, const Env *env, int lane, float *map) {
    size_t s2 = (size_t)a->s * a->s;
    if (a->kind == AG_UNIFORM) {
        for (size_t i = 0; i < s2; i++)
            map[i] = 1.0f;
        return WM_OK;
    }
    EnvScene sc;
    int rc = env_scene(env, lane, &sc);
    if (rc) return rc;
    WM_ASSERT(sc.size == a->s);
    memcpy(map, sc.saliency, s2 * sizeof(float));
    return WM_OK;
}

static void pixel_grid(const Agent *a, int64_t p, int32_t k[2]) {
    k[0] = env_grid_of_pixel((int)(p / a->s), a->s, a->lay.grid);
    k[1] = env_grid_of_pixel((int)(p % a->s), a->s, a->lay.grid);
}

static int next_fixation(Agent *a, int lane, const Env *env, float *action) {
    AgLane *L = &a->lane[lane];
    size_t s2 = (size_t)a->s * a->s;
    int32_t cur[2], to[2];
    current_grid(a, env, lane, cur);
    int64_t p = wm_rng_pick(L->ior, s2, wm_rng_uniform(&L->rng));
    if (p < 0) {
        /* Every pixel has been inhibited: start over, keeping only the current fixation
         * inhibited. */
        int rc = fill_map(a, env, lane, L->ior);
        if (rc) return rc;
        inhibit(a, L->ior, cur);
        p = wm_rng_pick(L->ior, s2, wm_rng_uniform(&L->rng));
        if (p < 0) { /* the inhibited region covers the whole scene */
            fill_map(a, env, lane, L->ior);
            p = wm_rng_pick(L->ior, s2, wm_rng_uniform(&L->rng));
        }
        WM_ASSERT(p >= 0);
    }
    pixel_grid(a, p, to);
    inhibit(a, L->ior, to);
    grid_action(a, cur, to, action);
    return WM_OK;
}

/* walk and loop: a displacement within +-shift per axis that keeps the fixation inside
 * the scene. */
static int shift_step(Agent *a, int lane, Env *env, float *action) {
    AgLane *L = &a->lane[lane];
    int32_t cur[2], to[2];
    current_grid(a, env, lane, cur);
    for (int d = 0; d < 2; d++) {
        int64_t lo = -a->shift, hi = a->shift;
        if (cur[d] + lo < 0) lo = -cur[d];
        if (cur[d] + hi > a->lay.grid) hi = a->lay.grid - cur[d];
        to[d] = clamp_grid(
            a, cur[d] + lo + (int64_t)wm_rng_below(&L->rng, (uint32_t)(hi - lo + 1)));
    }
    grid_action(a, cur, to, action);
    return WM_OK;
}

static void identity(const Agent *a, float *action) {
    memset(action, 0, sizeof(float) * (size_t)a->adim);
}

/* Displacements are rounded to the fixation grid. */
static int path_action(const Agent *a, double *v, const char *file, int line, char *err,
                       size_t errsz) {
    for (int k = 0; k < 2; k++) {
        if (fabs(v[k]) > 1)
            return wm_errf(err, errsz, WM_ERR_RANGE,
                           "%s:%d: displacement %g is outside [-1, 1] (shares of the scene)",
                           file, line, v[k]);
        v[k] = nearbyint(v[k] * a->lay.grid) / a->lay.grid;
    }
    return WM_OK;
}

static int begin(Agent *a, int lane, Env *env) {
    if (a->kind != AG_SALIENCY && a->kind != AG_UNIFORM) return WM_OK;
    AgLane *L = &a->lane[lane];
    int rc = fill_map(a, env, lane, L->ior);
    if (rc) return rc;
    int32_t k[2];
    if (a->kind == AG_UNIFORM) {
        /* The env drew the first fixation from its saliency map; draw it flat instead. */
        int64_t p = wm_rng_pick(L->ior, (size_t)a->s * a->s, wm_rng_uniform(&L->rng));
        pixel_grid(a, p, k);
        rc = env_set_state(env, lane,
                           (double[2]){(double)k[0] / a->lay.grid, (double)k[1] / a->lay.grid});
        if (rc) return rc;
    }
    current_grid(a, env, lane, k);
    inhibit(a, L->ior, k);
    return WM_OK;
}

static int next(Agent *a, int lane, Env *env, float *action) {
    switch (a->kind) {
    case AG_SALIENCY:
    case AG_UNIFORM:
        return next_fixation(a, lane, env, action);
    case AG_WALK:
        return shift_step(a, lane, env, action);
    default:
        WM_ASSERT(!"glimpse agent: unknown kind");
        return WM_ERR_ARG;
    }
}

/* The opposite displacement. */
static void undo(const Agent *a, const float *out, float *action) {
    (void)a;
    action[0] = -out[0];
    action[1] = -out[1];
}

/* Clamped, so that the recorded action is the displacement actually made. */
static void path_step(Agent *a, int lane, Env *env, const float *src, float *action) {
    int32_t cur[2], to[2];
    current_grid(a, env, lane, cur);
    for (int d = 0; d < 2; d++)
        to[d] = clamp_grid(a, cur[d] + (int64_t)lrintf(src[d] * a->lay.grid));
    grid_action(a, cur, to, action);
}

static int event_ok(const Agent *a, const AgEvent *ev) {
    (void)a;
    return ev->type == AG_EVENT_LOOK_AT || ev->type == AG_EVENT_LOOK_BY;
}

static void event(Agent *a, int lane, Env *env, const AgEvent *ev, float *action) {
    int32_t cur[2], to[2];
    current_grid(a, env, lane, cur);
    for (int d = 0; d < 2; d++) {
        int64_t k = (int64_t)nearbyint(ev->v[d] * a->lay.grid);
        to[d] = clamp_grid(a, ev->type == AG_EVENT_LOOK_AT ? k : cur[d] + k);
    }
    grid_action(a, cur, to, action);
}

const AgFamily ag_glimpse_family = {
    .worlds = "saccade",
    .auto_kind = AG_SALIENCY,
    .kinds = AG_KIND_BIT(AG_SALIENCY) | AG_KIND_BIT(AG_UNIFORM) | AG_KIND_BIT(AG_WALK) | AG_KIND_BIT(AG_LOOP) |
             AG_KIND_BIT(AG_PATH) | AG_KIND_BIT(AG_HUMAN),
    .create = create,
    .path_action = path_action,
    .begin = begin,
    .next = next,
    .loop_step = shift_step,
    .undo = undo,
    .path_step = path_step,
    .identity = identity,
    .event_ok = event_ok,
    .event = event,
};
