/* Batched rollouts of agents in environments, and exact cumulative actions. */
#include "data/rollout.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/rng.h"


void ag_batch_free(AgBatch *b) {
    if (!b) return;
    wm_free(b->pixels);
    wm_free(b->actions);
    wm_free(b->latents);
    wm_free(b->labels);
    wm_free(b->instances);
    wm_free(b->scenes);
    wm_free(b->saliency);
    memset(b, 0, sizeof *b);
}

/* count elements of `size` bytes, or NULL when count overflowed or memory ran out. */
static void *try_array(size_t a, size_t b, size_t c, size_t size) {
    size_t ab, abc;
    if (!wm_size_mul(a, b, &ab) || !wm_size_mul(ab, c, &abc)) return NULL;
    return wm_try_calloc(abc ? abc : 1, size);
}

int ag_batch_alloc(AgBatch *b, const EnvSpec *spec, int n, int t, int scene_size, char *err,
                   size_t errsz) {
    WM_ASSERT(n >= 1 && t >= 1 && scene_size >= 0);
    memset(b, 0, sizeof *b);
    b->n = n, b->t = t;
    b->h = spec->height, b->w = spec->width, b->c = spec->channels;
    b->action_dim = spec->action_dim, b->latent_dim = spec->latent_dim;
    b->scene_size = scene_size;
    size_t view = (size_t)b->h * b->w * b->c, s2 = (size_t)scene_size * scene_size;
    b->pixels = try_array((size_t)n, (size_t)t, view, 1);
    b->actions = try_array((size_t)n, (size_t)(t - 1), (size_t)b->action_dim, sizeof(float));
    b->latents = try_array((size_t)n, (size_t)t, (size_t)b->latent_dim, sizeof(float));
    b->labels = try_array((size_t)n, 1, 1, sizeof(int32_t));
    b->instances = try_array((size_t)n, 1, 1, sizeof(int32_t));
    int ok = b->pixels && b->actions && b->latents && b->labels && b->instances;
    if (scene_size > 0) {
        b->scenes = try_array((size_t)n, s2, 3, 1);
        b->saliency = try_array((size_t)n, s2, 1, sizeof(float));
        ok = ok && b->scenes && b->saliency;
    }
    if (!ok) {
        ag_batch_free(b);
        return wm_errf(err, errsz, WM_ERR_NOMEM,
                       "not enough memory for a batch of %d sequences of %d views", n, t);
    }
    return WM_OK;
}

void ag_sequence_seeds(uint64_t seed, int split, uint64_t index, uint64_t *env_seed,
                       uint64_t *agent_seed) {
    uint64_t seq = wm_seed_derive(wm_seed_derive(seed, (uint64_t)split), index);
    *env_seed = wm_seed_derive(seq, 1);
    *agent_seed = wm_seed_derive(seq, 2);
}

int ag_rollout(Env *env, Agent *agent, uint64_t seed, int split, uint64_t first, int n, AgBatch *b,
               char *err, size_t errsz) {
    const EnvSpec *sp = env_spec(env);
    WM_ASSERT(n >= 0 && n <= b->n);
    WM_ASSERT(sp->height == b->h && sp->width == b->w && sp->channels == b->c);
    WM_ASSERT(sp->action_dim == b->action_dim && sp->latent_dim == b->latent_dim);
    int T = b->t, A = b->action_dim, Lt = b->latent_dim;
    int chunk = env_lanes(env) < ag_lanes(agent) ? env_lanes(env) : ag_lanes(agent);
    size_t view = (size_t)b->h * b->w * b->c, s2 = (size_t)b->scene_size * b->scene_size;
    EnvObs *obs = wm_new(EnvObs, (size_t)chunk);
    int *ids = wm_new(int, (size_t)chunk);
    int rc = WM_OK;
    for (int c0 = 0; c0 < n && !rc; c0 += chunk) {
        int m = n - c0 < chunk ? n - c0 : chunk;
        for (int j = 0; j < m && !rc; j++) {
            uint64_t idx = first + (uint64_t)(c0 + j), es, as;
            ag_sequence_seeds(seed, split, idx, &es, &as);
            ids[j] = j;
            rc = env_reset(env, j, es, split, NULL);
            if (rc) {
                wm_errf(err, errsz, rc, "sequence %llu: the environment refused a reset (%s)%s",
                        (unsigned long long)idx, wm_status_name(rc),
                        split == ENV_SPLIT_HELDOUT ? "; is env.heldout 0?" : "");
                break;
            }
            if (b->scene_size > 0) {
                EnvScene sc;
                rc = env_scene(env, j, &sc);
                if (rc || sc.size != b->scene_size) {
                    rc = wm_errf(err, errsz, rc ? rc : WM_ERR_MISMATCH,
                                 "sequence %llu: this world has no %dx%d scenes to record",
                                 (unsigned long long)idx, b->scene_size, b->scene_size);
                    break;
                }
                memcpy(b->scenes + (size_t)(c0 + j) * s2 * 3, sc.image, s2 * 3);
                memcpy(b->saliency + (size_t)(c0 + j) * s2, sc.saliency, s2 * sizeof(float));
            }
            rc = ag_begin(agent, j, as, env, T);
            if (rc)
                wm_errf(err, errsz, rc, "sequence %llu: the agent (%s) could not start (%s)",
                        (unsigned long long)idx, ag_kind_name(ag_kind(agent)), wm_status_name(rc));
        }
        for (int t = 0; t < T && !rc; t++) {
            for (int j = 0; j < m; j++) {
                size_t row = (size_t)(c0 + j) * T + t;
                obs[j].pixels = b->pixels + row * view;
                obs[j].latent = b->latents + row * Lt;
            }
            rc = env_observe(env, m, ids, obs);
            if (rc) {
                wm_errf(err, errsz, rc, "sequences %llu..%llu: rendering view %d failed (%s)",
                        (unsigned long long)(first + c0), (unsigned long long)(first + c0 + m - 1),
                        t, wm_status_name(rc));
                break;
            }
            for (int j = 0; j < m; j++) {
                if (t == 0) {
                    b->labels[c0 + j] = obs[j].label;
                    b->instances[c0 + j] = obs[j].instance;
                }
                WM_ASSERT(b->labels[c0 + j] == obs[j].label);
            }
            if (t + 1 == T) break;
            for (int j = 0; j < m && !rc; j++) {
                float *act = b->actions + ((size_t)(c0 + j) * (T - 1) + t) * A;
                rc = ag_step(agent, j, env, act);
                if (rc)
                    wm_errf(err, errsz, rc,
                            "sequence %llu, step %d: the %s agent's action failed (%s)",
                            (unsigned long long)(first + c0 + j), t, ag_kind_name(ag_kind(agent)),
                            wm_status_name(rc));
            }
        }
    }
    wm_free(obs);
    wm_free(ids);
    return rc;
}
