/* Batches of sequences from an Env driven by an Agent: what the on-line trainer's
 * producer thread, dataset generation, the benchmarks and the probes all consume, and the
 * exact cumulative actions between any two views.
 *
 *   AgBatch b;
 *   ag_batch_alloc(&b, env_spec(env), B, T, 0, err, sizeof err);
 *   ag_rollout(env, agent, seed, ENV_SPLIT_TRAIN, first_seq, B, &b, err, sizeof err);
 *
 * Sequence i of (seed, split) is a pure function of (config, seed, split, i): the same
 * bytes whatever the batch size, the Env's lane count, the thread or what ran before. */
#ifndef AG_ROLLOUT_H
#define AG_ROLLOUT_H

#include <stddef.h>
#include <stdint.h>

#include "agents/agent.h"
#include "envs/env.h"

/* All arrays C-ordered, shapes as numpy would write them. */
typedef struct {
    int n, t;    /* capacity: sequences, views per sequence */
    int h, w, c; /* view pixels */
    int action_dim, latent_dim;
    int scene_size;     /* saccade scenes recorded at this side (0: none) */
    uint8_t *pixels;    /* [n, t, h, w, c] */
    float *actions;     /* [n, t-1, action_dim]: action k leads from view k to view k+1 */
    float *latents;     /* [n, t, latent_dim]: absolute state of each view */
    int32_t *labels;    /* [n] class */
    int32_t *instances; /* [n] object instance or scene/image index */
    uint8_t *scenes;    /* [n, S, S, 3] saccade scene of each sequence (scene_size > 0) */
    float *saliency;    /* [n, S, S] its saliency map (scene_size > 0) */
} AgBatch;

/* Allocates a batch of n sequences of t >= 1 views for worlds with this spec; a
 * scene_size > 0 (the saccade world's env.scene_size) also records scenes and saliency.
 * WM_ERR_NOMEM (with err) when it does not fit. */
int ag_batch_alloc(AgBatch *b, const EnvSpec *spec, int n, int t, int scene_size, char *err,
                   size_t errsz);
void ag_batch_free(AgBatch *b);

/* The streams of sequence `index` of (seed, split): env_reset gets *env_seed, ag_begin
 * gets *agent_seed. Use this to drive a single lane by hand the same way. */
void ag_sequence_seeds(uint64_t seed, int split, uint64_t index, uint64_t *env_seed,
                       uint64_t *agent_seed);

/* Rolls out sequences first .. first+n-1 of (seed, split) into rows 0..n-1 of b (n <=
 * b->n, b->t views each), using lanes 0 .. env_lanes-1 in chunks: every chunk is reset,
 * begun, and then rendered one time step at a time with one env_observe call for all of
 * its lanes. Errors (an empty held-out split, a world that refuses an action) name the
 * sequence. */
int ag_rollout(Env *env, Agent *agent, uint64_t seed, int split, uint64_t first, int n, AgBatch *b,
               char *err, size_t errsz);

#endif
