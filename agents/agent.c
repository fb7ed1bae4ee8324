/* The action policies of agents/agent.h for the objects3d and saccade worlds. */
#include "agents/agent.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/quat.h"
#include "core/rng.h"
#include "envs/objects3d.h"
#include "envs/saccade.h"

WM_CFG_FIELDS(AgentConfig, AGENT_FIELDS);

#define QUEUE_CAP    256
#define AGENT_STREAM 0xa9e47ULL
#define DEG          (M_PI / 180.0)

typedef struct {
    WmRng rng;
    int n_views, t, begun;
    int loop_len; /* this sequence's loop length */
    int path_pos;
    double axis[3]; /* walk: current rotation axis */
    float *loop;    /* the loop's outgoing actions, to undo */
    int loop_cap;
    float *ior;     /* saccade: the fixation map with earlier fixations inhibited */
    AgEvent *queue; /* human */
    int qhead, qcount;
} AgLane;

struct Agent {
    AgentConfig cfg;
    EnvConfig ecfg;
    int kind, world, lanes, adim;
    EnvO3ActionLayout lay;
    int s; /* saccade scene side */
    int32_t shift;
    float *path;
    int path_n;
    AgLane *lane;
    float *ior_maps;
    AgEvent *queues;
    int has_mutex;
    pthread_mutex_t mu;
};

static const char *const kind_names[AG_KIND_COUNT_] = {
    "auto", "iid", "rotate", "so3", "walk", "loop", "saliency", "uniform", "path", "human"};

const char *ag_kind_name(int kind) {
    return kind >= 0 && kind < AG_KIND_COUNT_ ? kind_names[kind] : "?";
}
int ag_kind(const Agent *a) {
    return a->kind;
}
int ag_lanes(const Agent *a) {
    return a->lanes;
}

/* ---- Path files -------------------------------------------------------------------- */

/* One action per line; '#' starts a comment. Rotations are normalised and canonicalised;
 * saccade displacements are rounded to the fixation grid. */
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
        if (a->world == ENV_KIND_OBJECTS3D) {
            double q[4] = {v[0], v[1], v[2], v[3]};
            double norm = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
            if (norm < 1e-6) {
                rc = wm_errf(err, errsz, WM_ERR_RANGE, "%s:%d: the rotation w x y z is zero", file,
                             lineno);
                break;
            }
            wm_quat_normalize(q);
            wm_quat_canon(q);
            for (int k = 0; k < 4; k++)
                v[k] = q[k];
        } else {
            for (int k = 0; k < 2; k++) {
                if (fabs(v[k]) > 1) {
                    rc = wm_errf(err, errsz, WM_ERR_RANGE,
                                 "%s:%d: displacement %g is outside [-1, 1] (shares of the scene)",
                                 file, lineno, v[k]);
                    break;
                }
                v[k] = nearbyint(v[k] * ENV_SACCADE_GRID) / ENV_SACCADE_GRID;
            }
            if (rc) break;
        }
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

Agent *ag_create(const AgentConfig *cfg, const EnvConfig *ecfg, const EnvSpec *spec, int lanes,
                 char *err, size_t errsz) {
    if (lanes < 1) {
        wm_errf(err, errsz, WM_ERR_ARG, "agent: lanes must be at least 1, got %d", lanes);
        return NULL;
    }
    Agent *a = wm_new(Agent, 1);
    a->cfg = *cfg;
    a->ecfg = *ecfg;
    a->world = ecfg->kind;
    a->lanes = lanes;
    a->adim = spec->action_dim;
    a->kind = cfg->kind;
    if (a->kind == AG_AUTO) a->kind = a->world == ENV_KIND_OBJECTS3D ? AG_IID : AG_SALIENCY;
    int rc = WM_OK;
    int o3_only = a->kind == AG_IID || a->kind == AG_ROTATE || a->kind == AG_SO3;
    int sac_only = a->kind == AG_SALIENCY || a->kind == AG_UNIFORM;
    if (a->world == ENV_KIND_OBJECTS3D) {
        a->lay = env_objects3d_action_layout(ecfg);
        if (a->lay.dim != spec->action_dim)
            rc = wm_errf(err, errsz, WM_ERR_MISMATCH,
                         "agent: the objects3d config gives %d action values, the env spec %d",
                         a->lay.dim, spec->action_dim);
        else if (sac_only)
            rc = wm_errf(err, errsz, WM_ERR_ARG,
                         "agent: kind = %s moves the eye in the saccade world, not objects3d "
                         "(use iid, rotate, so3, walk, loop, path or human)",
                         kind_names[a->kind]);
    } else {
        a->s = ecfg->scene_size;
        a->shift = (int32_t)lrint(cfg->max_shift * ENV_SACCADE_GRID);
        if (spec->action_dim != 2)
            rc = wm_errf(err, errsz, WM_ERR_MISMATCH,
                         "agent: saccade actions have 2 values, the env spec says %d",
                         spec->action_dim);
        else if (o3_only)
            rc = wm_errf(err, errsz, WM_ERR_ARG,
                         "agent: kind = %s rotates objects3d, not the saccade world (use "
                         "saliency, uniform, walk, loop, path or human)",
                         kind_names[a->kind]);
        else if ((a->kind == AG_WALK || a->kind == AG_LOOP) && a->shift < 1)
            rc = wm_errf(err, errsz, WM_ERR_RANGE,
                         "agent: max_shift %g is below one fixation-grid step (1/%d)",
                         cfg->max_shift, ENV_SACCADE_GRID);
    }
    if (!rc && a->kind == AG_PATH) {
        if (!cfg->path[0])
            rc = wm_errf(err, errsz, WM_ERR_ARG, "agent: kind = path needs agent.path (a file)");
        else
            rc = load_path(a, cfg->path, err, errsz);
    }
    if (rc) {
        ag_destroy(a);
        return NULL;
    }
    a->lane = wm_new(AgLane, (size_t)lanes);
    if (a->kind == AG_SALIENCY || a->kind == AG_UNIFORM) {
        size_t s2 = (size_t)a->s * a->s, count;
        if (!wm_size_mul(s2, (size_t)lanes, &count) ||
            !(a->ior_maps = wm_try_calloc(count, sizeof(float)))) {
            wm_errf(err, errsz, WM_ERR_NOMEM,
                    "agent: not enough memory for %d lanes of %dx%d fixation maps", lanes, a->s,
                    a->s);
            ag_destroy(a);
            return NULL;
        }
        for (int i = 0; i < lanes; i++)
            a->lane[i].ior = a->ior_maps + (size_t)i * s2;
    }
    if (a->kind == AG_HUMAN) {
        a->queues = wm_new(AgEvent, (size_t)lanes * QUEUE_CAP);
        for (int i = 0; i < lanes; i++)
            a->lane[i].queue = a->queues + (size_t)i * QUEUE_CAP;
        pthread_mutex_init(&a->mu, NULL);
        a->has_mutex = 1;
    }
    return a;
}

/* ---- Saccade helpers --------------------------------------------------------------- */

static void current_grid(const Env *env, int lane, int32_t k[2]) {
    float lat[ENV_MAX_DIM];
    env_latent(env, lane, lat);
    /* Latents are k / GRID exactly, so this recovers k exactly. */
    k[0] = (int32_t)lrintf(lat[0] * ENV_SACCADE_GRID);
    k[1] = (int32_t)lrintf(lat[1] * ENV_SACCADE_GRID);
}

static int32_t clamp_grid(int64_t k) {
    return (int32_t)(k < 0 ? 0 : k > ENV_SACCADE_GRID ? ENV_SACCADE_GRID : k);
}

static void saccade_action(const int32_t from[2], const int32_t to[2], float *action) {
    action[0] = (float)(to[0] - from[0]) / ENV_SACCADE_GRID;
    action[1] = (float)(to[1] - from[1]) / ENV_SACCADE_GRID;
}

/* Zeroes the inhibited region around the pixel holding grid point k. */
static void inhibit(const Agent *a, float *map, const int32_t k[2]) {
    int shape = a->ecfg.ior, r = a->ecfg.ior_radius, s = a->s;
    if (shape == ENV_IOR_NONE) return;
    int py = env_saccade_pixel(k[0], s), px = env_saccade_pixel(k[1], s);
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

static int next_fixation(Agent *a, int lane, const Env *env, float *action) {
    AgLane *L = &a->lane[lane];
    size_t s2 = (size_t)a->s * a->s;
    int32_t cur[2], to[2];
    current_grid(env, lane, cur);
    int64_t p = env_saccade_sample(L->ior, s2, wm_rng_uniform(&L->rng));
    if (p < 0) {
        /* Every pixel has been inhibited: start over, keeping only the current fixation
         * inhibited. */
        int rc = fill_map(a, env, lane, L->ior);
        if (rc) return rc;
        inhibit(a, L->ior, cur);
        p = env_saccade_sample(L->ior, s2, wm_rng_uniform(&L->rng));
        if (p < 0) { /* the inhibited region covers the whole scene */
            fill_map(a, env, lane, L->ior);
            p = env_saccade_sample(L->ior, s2, wm_rng_uniform(&L->rng));
        }
        WM_ASSERT(p >= 0);
    }
    to[0] = env_saccade_grid_of_pixel((int)(p / a->s), a->s);
    to[1] = env_saccade_grid_of_pixel((int)(p % a->s), a->s);
    inhibit(a, L->ior, to);
    saccade_action(cur, to, action);
    return WM_OK;
}

/* A displacement within +-shift per axis that keeps the fixation inside the scene. */
static void random_shift(Agent *a, AgLane *L, const int32_t cur[2], int32_t to[2]) {
    for (int d = 0; d < 2; d++) {
        int64_t lo = -a->shift, hi = a->shift;
        if (cur[d] + lo < 0) lo = -cur[d];
        if (cur[d] + hi > ENV_SACCADE_GRID) hi = ENV_SACCADE_GRID - cur[d];
        to[d] = clamp_grid(cur[d] + lo + (int64_t)wm_rng_below(&L->rng, (uint32_t)(hi - lo + 1)));
    }
}

/* ---- Rotation helpers -------------------------------------------------------------- */

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
        action[a->lay.rot + k] = (float)q[k];
}

static void identity_action(const Agent *a, float *action) {
    memset(action, 0, sizeof(float) * (size_t)a->adim);
    if (a->world == ENV_KIND_OBJECTS3D) action[a->lay.rot] = 1.0f;
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
    switch (a->kind) {
    case AG_LOOP: {
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
        break;
    }
    case AG_WALK:
        if (a->world == ENV_KIND_OBJECTS3D) random_unit(&L->rng, L->axis);
        break;
    case AG_SALIENCY:
    case AG_UNIFORM: {
        int rc = fill_map(a, env, lane, L->ior);
        if (rc) return rc;
        int32_t k[2];
        if (a->kind == AG_UNIFORM) {
            /* The env drew the first fixation from its saliency map; draw it flat instead. */
            int64_t p = env_saccade_sample(L->ior, (size_t)a->s * a->s, wm_rng_uniform(&L->rng));
            k[0] = env_saccade_grid_of_pixel((int)(p / a->s), a->s);
            k[1] = env_saccade_grid_of_pixel((int)(p % a->s), a->s);
            rc = env_set_state(env, lane, (double[2]){(double)k[0] / ENV_SACCADE_GRID, (double)k[1] / ENV_SACCADE_GRID});
            if (rc) return rc;
        }
        current_grid(env, lane, k);
        inhibit(a, L->ior, k);
        break;
    }
    default:
        break;
    }
    return WM_OK;
}

static int human_action(Agent *a, int lane, Env *env, float *action) {
    AgLane *L = &a->lane[lane];
    AgEvent ev;
    int have = 0;
    pthread_mutex_lock(&a->mu);
    if (L->qcount > 0) {
        ev = L->queue[L->qhead];
        L->qhead = (L->qhead + 1) % QUEUE_CAP;
        L->qcount--;
        have = 1;
    }
    pthread_mutex_unlock(&a->mu);
    identity_action(a, action);
    if (!have) return WM_OK;
    switch (ev.type) {
    case AG_EVENT_ROTATE: {
        double axis[3] = {ev.v[0], ev.v[1], ev.v[2]}, q[4];
        double n = sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]);
        for (int k = 0; k < 3; k++)
            axis[k] /= n;
        wm_quat_from_axis_angle(q, axis, ev.v[3]);
        if (ev.v[4] == 0) {
            /* A world-frame turn R gives q' = R q, so the body-frame action is q^-1 R q. */
            double lat[ENV_O3_LATENT_DIM], cur[4], t[4];
            env_get_state(env, lane, lat);
            for (int k = 0; k < 4; k++)
                cur[k] = lat[ENV_O3_LAT_QW + k];
            wm_quat_mul(t, q, cur);
            wm_quat_relative(q, cur, t);
        }
        put_rotation(a, q, action);
        break;
    }
    case AG_EVENT_TRANSLATE:
        for (int k = 0; k < 3; k++)
            action[a->lay.trans + k] = (float)ev.v[k];
        break;
    case AG_EVENT_LOOK_AT:
    case AG_EVENT_LOOK_BY: {
        int32_t cur[2], to[2];
        current_grid(env, lane, cur);
        for (int d = 0; d < 2; d++) {
            int64_t k = (int64_t)nearbyint(ev.v[d] * ENV_SACCADE_GRID);
            to[d] = clamp_grid(ev.type == AG_EVENT_LOOK_AT ? k : cur[d] + k);
        }
        saccade_action(cur, to, action);
        break;
    }
    }
    return WM_OK;
}

int ag_next_action(Agent *a, int lane, Env *env, float *action) {
    WM_ASSERT(lane >= 0 && lane < a->lanes);
    AgLane *L = &a->lane[lane];
    WM_ASSERT(L->begun);
    int rc = WM_OK, t = L->t++;
    double q[4];
    switch (a->kind) {
    case AG_IID: {
        double cur[ENV_O3_LATENT_DIM], nxt[ENV_O3_LATENT_DIM];
        env_get_state(env, lane, cur);
        env_objects3d_sample_latent(&a->ecfg, &L->rng, nxt);
        if (!a->cfg.redraw_colors)
            for (int k = ENV_O3_LAT_FLOOR_HUE; k < ENV_O3_LATENT_DIM; k++)
                nxt[k] = cur[k];
        env_objects3d_relative_action(&a->ecfg, cur, nxt, action);
        /* What the action does not carry is set directly, as 3DIEBench redraws it. */
        double mix[ENV_O3_LATENT_DIM];
        memcpy(mix, nxt, sizeof mix);
        for (int k = 0; k < 4; k++)
            mix[ENV_O3_LAT_QW + k] = cur[ENV_O3_LAT_QW + k];
        if (a->lay.trans >= 0)
            for (int k = 0; k < 3; k++)
                mix[ENV_O3_LAT_TX + k] = cur[ENV_O3_LAT_TX + k];
        if (a->lay.color >= 0)
            for (int k = 0; k < ENV_O3_COLOR_DIM; k++)
                mix[ENV_O3_LAT_FLOOR_HUE + k] = cur[ENV_O3_LAT_FLOOR_HUE + k];
        rc = env_set_state(env, lane, mix);
        break;
    }
    case AG_ROTATE:
        wm_quat_random_within(q, &L->rng, a->cfg.max_angle * DEG);
        put_rotation(a, q, action);
        break;
    case AG_SO3:
        wm_quat_random(q, &L->rng);
        put_rotation(a, q, action);
        break;
    case AG_WALK:
        if (a->world == ENV_KIND_OBJECTS3D) {
            /* Turn the axis about a random perpendicular by up to `turn`, then step. */
            double u[3], *ax = L->axis, tq[4], nax[3];
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
        } else {
            int32_t cur[2], to[2];
            current_grid(env, lane, cur);
            random_shift(a, L, cur, to);
            saccade_action(cur, to, action);
        }
        break;
    case AG_LOOP: {
        int len = L->loop_len, j = t % (2 * len);
        float *store = L->loop;
        if (j < len) {
            if (a->world == ENV_KIND_OBJECTS3D) {
                wm_quat_random_within(q, &L->rng, a->cfg.max_angle * DEG);
                put_rotation(a, q, action);
            } else {
                int32_t cur[2], to[2];
                current_grid(env, lane, cur);
                random_shift(a, L, cur, to);
                saccade_action(cur, to, action);
            }
            memcpy(store + (size_t)j * a->adim, action, sizeof(float) * (size_t)a->adim);
        } else {
            /* Undo step 2*len-1-j: the conjugate rotation, or the opposite displacement
             * (both exact in float). */
            const float *src = store + (size_t)(2 * len - 1 - j) * a->adim;
            if (a->world == ENV_KIND_OBJECTS3D) {
                memset(action, 0, sizeof(float) * (size_t)a->adim);
                action[a->lay.rot] = src[a->lay.rot];
                for (int k = 1; k < 4; k++)
                    action[a->lay.rot + k] = -src[a->lay.rot + k];
            } else {
                action[0] = -src[0];
                action[1] = -src[1];
            }
        }
        break;
    }
    case AG_SALIENCY:
    case AG_UNIFORM:
        rc = next_fixation(a, lane, env, action);
        break;
    case AG_PATH: {
        const float *src = a->path + (size_t)(L->path_pos % a->path_n) * a->adim;
        L->path_pos = (L->path_pos + 1) % a->path_n;
        if (a->world == ENV_KIND_SACCADE) {
            /* Clamp so that the recorded action is the displacement actually made. */
            int32_t cur[2], to[2];
            current_grid(env, lane, cur);
            for (int d = 0; d < 2; d++)
                to[d] = clamp_grid(cur[d] + (int64_t)lrintf(src[d] * ENV_SACCADE_GRID));
            saccade_action(cur, to, action);
        } else {
            memcpy(action, src, sizeof(float) * (size_t)a->adim);
        }
        break;
    }
    case AG_HUMAN:
        rc = human_action(a, lane, env, action);
        break;
    default:
        WM_ASSERT(!"unknown agent kind");
    }
    return rc;
}

int ag_step(Agent *a, int lane, Env *env, float *action) {
    int rc = ag_next_action(a, lane, env, action);
    return rc ? rc : env_step(env, lane, action, NULL);
}

int ag_human_push(Agent *a, int lane, const AgEvent *ev) {
    if (a->kind != AG_HUMAN || lane < 0 || lane >= a->lanes) return WM_ERR_ARG;
    for (int k = 0; k < 5; k++)
        if (!isfinite(ev->v[k])) return WM_ERR_ARG;
    switch (ev->type) {
    case AG_EVENT_ROTATE:
        if (a->world != ENV_KIND_OBJECTS3D) return WM_ERR_ARG;
        if (ev->v[0] * ev->v[0] + ev->v[1] * ev->v[1] + ev->v[2] * ev->v[2] < 1e-18)
            return WM_ERR_ARG;
        break;
    case AG_EVENT_TRANSLATE:
        if (a->world != ENV_KIND_OBJECTS3D || a->lay.trans < 0) return WM_ERR_ARG;
        break;
    case AG_EVENT_LOOK_AT:
    case AG_EVENT_LOOK_BY:
        if (a->world != ENV_KIND_SACCADE) return WM_ERR_ARG;
        break;
    default:
        return WM_ERR_ARG;
    }
    AgLane *L = &a->lane[lane];
    int rc = WM_OK;
    pthread_mutex_lock(&a->mu);
    if (L->qcount == QUEUE_CAP) {
        rc = WM_ERR_RANGE;
    } else {
        L->queue[(L->qhead + L->qcount) % QUEUE_CAP] = *ev;
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
