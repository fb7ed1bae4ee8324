/* The stable C interface of libseqjepa.so (what python/seqjepa/ calls through ctypes):
 * opaque handles, plain C types, and one rule for errors: every call that can fail
 * takes (err, errsz) and returns a non-zero status (or NULL) with a sentence in err.
 * Nothing here asserts on a caller's argument or on the contents of a file.
 *
 *   char err[1024];
 *   const char *over[] = {"env.size=32", "agent.kind=walk"};
 *   SjcEnv *e = sjc_env_create("configs/objects3d-quick.ini", 2, over, 64, err, sizeof err);
 *   SjcSpec sp; sjc_env_spec(e, &sp);
 *   sjc_env_reset(e, 7, 0, pixels, latent, &label, &instance, err, sizeof err);
 *   sjc_env_step(e, action, sp.action_dim, pixels, latent, &label, &instance, err, sizeof err);
 *   SjcAgent *a = sjc_agent_create(e, 0, NULL, err, sizeof err);
 *   sjc_rollout(e, a, seed, 0, first, B, T, images, actions, latents, labels, instances, ...);
 *
 * Threads: an SjcEnv (and the agents made for it) belongs to the thread that created it
 * (objects3d binds a GL context to it); distinct envs may run on distinct threads. A
 * process that forks must create its envs and models in the child. */
#ifndef SJC_SEQJEPA_H
#define SJC_SEQJEPA_H

#include <stddef.h>
#include <stdint.h>

/* Bumped whenever a struct or signature below changes. */
#define SJC_ABI 2
int sjc_abi(void);
const char *sjc_version(void);

/* ---- environments ---- */

typedef struct SjcEnv SjcEnv;

typedef struct {
    int32_t height, width, channels; /* observations: uint8 [height, width, channels] */
    int32_t action_dim, latent_dim, n_classes;
    int32_t lanes;  /* sequences rendered together by sjc_rollout */
    int32_t kind;   /* the world: sjc_world_name(kind) */
    int32_t family; /* 0: an object turned before a camera, 1: an eye over a scene */
    int32_t act_rot; /* family 0: where the action's unit quaternion (w x y z) starts */
} SjcSpec;

/* The name of world kind `kind` ("objects3d", "saccade", ...); NULL past the last. */
const char *sjc_world_name(int kind);

/* A world from an INI file (NULL or "": the defaults) with "section.key=value"
 * overrides applied in order, rolling out `lanes` >= 1 sequences together. Unknown
 * sections or keys, bad values and worlds that cannot be built are errors. */
SjcEnv *sjc_env_create(const char *config_path, int n_over, const char *const *over, int lanes,
                       char *err, size_t errsz);
void sjc_env_destroy(SjcEnv *e);
void sjc_env_spec(const SjcEnv *e, SjcSpec *out);
/* Names of action component i (what = 0), latent component i (what = 1) or class i
 * (what = 2); NULL when out of range. Valid while e lives. */
const char *sjc_env_name(const SjcEnv *e, int what, int i);
/* The resolved configuration as INI text; copies at most outsz bytes (with the
 * terminating zero) and returns the full length. */
size_t sjc_env_config_text(const SjcEnv *e, char *out, size_t outsz);

/* The interactive episode (lane 0). reset picks an object or image of split (0 train,
 * 1 held-out) and an initial state from seed; step applies one relative action of
 * n_action floats (must be the spec's action_dim). Each writes the new observation:
 * pixels [H, W, C] (may be NULL), latent [latent_dim] (may be NULL), *label and
 * *instance (may be NULL). Stepping before a reset, or after sjc_rollout (which uses
 * every lane), is an error; so is an action the world refuses (non-finite, a rotation
 * that is not a unit quaternion). */
int sjc_env_reset(SjcEnv *e, uint64_t seed, int split, uint8_t *pixels, float *latent,
                  int32_t *label, int32_t *instance, char *err, size_t errsz);
int sjc_env_step(SjcEnv *e, const float *action, int n_action, uint8_t *pixels, float *latent,
                 int32_t *label, int32_t *instance, char *err, size_t errsz);
/* Renders the episode's current state again. */
int sjc_env_render(SjcEnv *e, uint8_t *pixels, char *err, size_t errsz);

/* ---- agents and batched rollouts ---- */

typedef struct SjcAgent SjcAgent;

/* A policy for e: the env's [agent] section with "agent.key=value" (or "key=value")
 * overrides. */
SjcAgent *sjc_agent_create(SjcEnv *e, int n_over, const char *const *over, char *err,
                           size_t errsz);
void sjc_agent_destroy(SjcAgent *a);
/* The policy's resolved name ("iid", "walk", ...). */
const char *sjc_agent_kind(const SjcAgent *a);

/* Sequences first .. first+n-1 of (seed, split), `views` >= 1 views each, written
 * straight into the caller's C-ordered buffers (no copy):
 *   images uint8 [n, views, H, W, C], actions float [n, views-1, action_dim],
 *   latents float [n, views, latent_dim], labels int32 [n], instances int32 [n].
 * Sequence i is the same bytes as `seqjepa gen` writes for index i of that seed and
 * split, whatever n, first or the lane count. The agent must have been made for e. */
int sjc_rollout(SjcEnv *e, SjcAgent *a, uint64_t seed, int split, uint64_t first, int n, int views,
                uint8_t *images, float *actions, float *latents, int32_t *labels,
                int32_t *instances, char *err, size_t errsz);

/* ---- checkpoints (any .safetensors file) ---- */

typedef struct SjcTensors SjcTensors;

/* Maps the file and checks its header against its size. */
SjcTensors *sjc_tensors_open(const char *path, char *err, size_t errsz);
void sjc_tensors_close(SjcTensors *t);
int sjc_tensors_count(const SjcTensors *t);
/* Tensor i: name, dtype (0 u8, 1 i32, 2 i64, 3 f32, 4 f64), ndim <= 8, shape, and a
 * pointer to nbytes of little-endian data inside the mapping (valid until close).
 * Returns 0, or -1 when i is out of range. */
int sjc_tensors_at(const SjcTensors *t, int i, const char **name, int *dtype, int *ndim,
                   int64_t *shape, const void **data, int64_t *nbytes);
int sjc_tensors_meta_count(const SjcTensors *t);
/* Metadata entry i's key (what = 0) or value (what = 1); NULL when out of range. */
const char *sjc_tensors_meta(const SjcTensors *t, int i, int what);

/* ---- models ---- */

typedef struct SjcModel SjcModel;

/* Threads for the model engine (<= 0: one per core), used by the thread that calls
 * it; call before loading models (optional: the first load starts one per core). */
int sjc_runtime_init(int threads, char *err, size_t errsz);

/* A model from a checkpoint written by `seqjepa train`. */
SjcModel *sjc_model_load(const char *path, char *err, size_t errsz);
void sjc_model_destroy(SjcModel *m);
/* img_h, img_w, action_dim, encoder width D, aggregate width E, training step. */
void sjc_model_info(const SjcModel *m, int32_t *img_h, int32_t *img_w, int32_t *action_dim,
                    int32_t *enc_dim, int32_t *agg_dim, int64_t *step);
/* Eval-mode encodings and aggregates of n sequences of m views: views uint8
 * [n, m, H, W, 3], actions float [n, m-1, A] -> z [n, m, D] (may be NULL) and
 * z_agg [n, E] (may be NULL). 1 <= m <= 64. */
int sjc_model_embed(SjcModel *model, const uint8_t *views, const float *actions, int n, int m,
                    float *z, float *z_agg, char *err, size_t errsz);

#endif
