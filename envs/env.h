/* The environment contract: worlds that produce observations under known relative
 * actions. One Env holds `lanes` independent states so that many sequences can be
 * stepped and then rendered together (batched rendering is where speed comes from).
 *
 *   Env *e; env_create(&cfg, lanes, &e, err, sizeof err);
 *   env_reset(e, lane, seed, ENV_SPLIT_TRAIN, NULL);   // state only
 *   env_step(e, lane, action, NULL);                    // relative action
 *   env_observe(e, n, lanes, obs);                      // render n lanes at once
 *
 * Same config, seed and actions give the same bytes. */
#ifndef ENV_H
#define ENV_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/rng.h"

/* [env] section. Keys for one world are ignored by the other; their help opens with
 * the world's name ("saccade: "), which is how saved run configs leave them out. */
#define ENV_FIELDS(X, S)                                                                           \
    X(S, ENUM, kind, "objects3d", 0, 0, "objects3d|saccade", "which world")                        \
    X(S, INT, size, "64", 8, 512, NULL, "observation side in pixels (objects3d render, saccade glimpse output)") \
    /* objects3d */                                                                                \
    X(S, INT, n_classes, "16", 1, 64, NULL, "objects3d: procedural shape families used (the first ones of the class set)") \
    X(S, ENUM, classes, "mixed", 0, 0, "mixed|asymmetric", "objects3d: class set; mixed: the 20 original families (many turn symmetrically); asymmetric: 16 families with a canonical orientation, pose visible from one view") \
    X(S, INT, instances, "50", 1, 100000, NULL, "objects3d: instances per class")                  \
    X(S, REAL, heldout, "0.2", 0, 0.9, NULL, "share of instances (or images) held out for evaluation") \
    X(S, ENUM, rotation, "euler", 0, 0, "euler|so3|yaw", "objects3d: euler = extrinsic XYZ in [-pi/2, pi/2]; so3 = any rotation; yaw = about the vertical axis only, any angle (a turntable: one degree of freedom)") \
    X(S, REAL, translate, "0", 0, 1, NULL, "objects3d: max |translation| of the object per axis (0: fixed at the origin)") \
    X(S, BOOL, color_actions, "false", 0, 0, NULL, "objects3d: actions also carry floor/spot hue and spot angle deltas") \
    X(S, BOOL, translate_actions, "false", 0, 0, NULL, "objects3d: actions also carry the translation delta") \
    X(S, STR, obj, "", 0, 0, NULL, "objects3d: OBJ file or folder of OBJ files used in place of procedural shapes") \
    X(S, STR, assets, "assets", 0, 0, NULL, "folder holding shaders/ (relative to the working folder; left at assets and not there, the assets/ beside the program)") \
    X(S, INT, render_threads, "0", 0, 64, NULL, "objects3d: render threads, each with its own GL context (0: one per core on a CPU rasteriser, 1 on a GPU)") \
    /* saccade */                                                                                  \
    X(S, INT, scene_size, "96", 16, 1024, NULL, "saccade: scene side S in pixels")                 \
    X(S, INT, fovea, "32", 4, 512, NULL, "saccade: glimpse side f in scene pixels")                \
    X(S, ENUM, source, "procedural", 0, 0, "procedural|objects3d|folder", "saccade: where scenes come from") \
    X(S, STR, folder, "", 0, 0, NULL, "saccade: image folder with one sub-folder per class")       \
    X(S, INT, n_scenes, "1000", 1, 10000000, NULL, "saccade: procedural scenes in the pool")       \
    X(S, ENUM, saliency, "contrast", 0, 0, "contrast|spectral|uniform", "saccade: saliency map")   \
    X(S, ENUM, ior, "square", 0, 0, "square|disc|none", "saccade: inhibition-of-return shape")     \
    X(S, INT, ior_radius, "16", 0, 512, NULL, "saccade: inhibition-of-return radius in scene pixels")

WM_CFG_STRUCT(EnvConfig, ENV_FIELDS);
WM_CFG_FIELDS_DECL(EnvConfig);

/* Whether a run of the world c describes reads a config key: a key whose help opens
 * with a world's name ("saccade: ", "objects3d: ") is read by that world alone (the
 * objects3d keys also by saccades over objects3d scenes, env.source = objects3d);
 * others by both. Saved configs leave out the keys a run does not read. */
int env_reads_key(const EnvConfig *c, const WmCfgField *f);

/* The worlds, in the order of the [env] kind key. */
enum { ENV_KIND_OBJECTS3D = 0, ENV_KIND_SACCADE = 1, ENV_KIND_COUNT };
/* "objects3d" or "saccade"; kind in [0, ENV_KIND_COUNT). */
const char *env_kind_name(int kind);
/* The kind named `name` (as env_kind_name spells it), or -1 for none. */
int env_kind_find(const char *name);

/* Inhibition-of-return shapes, in the order of the [env] ior key. */
enum { ENV_IOR_SQUARE = 0, ENV_IOR_DISC = 1, ENV_IOR_NONE = 2 };

enum { ENV_SPLIT_TRAIN = 0, ENV_SPLIT_HELDOUT = 1 };
#define ENV_MAX_DIM 16

/* World families: the shape of a world's states and actions, which is all that agents
 * (agents/, one file per family) and the front ends build on. A new world of an
 * existing family needs no new agent.
 *   ENV_FAMILY_OBJECT   an object turned (and moved, relit) before a camera: the action
 *                       holds a relative rotation q_rel (w x y z), composed as a
 *                       quaternion product, and optional translation and colour deltas,
 *                       summed; the state holds the absolute quaternion (w >= 0) and the
 *                       same parts; env_sample_state draws independent states.
 *   ENV_FAMILY_GLIMPSE  an eye moving over a scene: state (y, x) and action (dy, dx) as
 *                       shares of the scene side, on a grid of `grid` steps per side;
 *                       env_scene gives each lane's scene and saliency map. */
enum { ENV_FAMILY_OBJECT = 0, ENV_FAMILY_GLIMPSE = 1, ENV_FAMILY_COUNT };

/* What holds for every Env of world `kind`, known without creating one: its family
 * (whose action holds a rotation for ENV_FAMILY_OBJECT, which the front ends probe with
 * an MLP), and whether it renders through its own pool of render threads (so that one
 * generator worker keeps every core busy; otherwise a worker per core). */
typedef struct {
    int family;
    int own_threads;
} EnvTraits;
const EnvTraits *env_traits(int kind);

/* What a config implies for its world without making one: the class count (-1 where it
 * depends on files, an OBJ or image folder), the side of the scene each lane holds
 * (0: none; datasets store it beside the views), and whether making the world renders
 * with OpenGL (a process forked after that cannot render again). */
typedef struct {
    int n_classes;
    int scene_size;
    int uses_gl;
} EnvConfigInfo;
EnvConfigInfo env_config_info(const EnvConfig *cfg);

typedef struct {
    int family; /* ENV_FAMILY_* */
    /* object family: where each part sits in the action and in the latent (-1: absent) */
    int act_rot, act_trans, act_color; /* 4, 3 and color_dim values */
    int lat_rot, lat_trans, lat_color;
    int color_dim;
    /* glimpse family: grid steps per scene side (a power of two), scene side in pixels */
    int grid, scene_size;
} EnvLayout;

/* Glimpse grids: the scene pixel (of s) holding grid coordinate k, and the grid
 * coordinate nearest to the centre of pixel p (halves round up). */
static inline int env_grid_pixel(int32_t k, int s, int grid) {
    int p = (int)(((int64_t)k * s) / grid);
    return p < s ? p : s - 1;
}
static inline int32_t env_grid_of_pixel(int p, int s, int grid) {
    return (int32_t)(((int64_t)(2 * p + 1) * grid + s) / (2 * (int64_t)s));
}

typedef struct {
    int height, width, channels; /* observation pixels, uint8 HxWxC */
    int action_dim;
    int latent_dim;
    int n_classes;
    const char *action_names[ENV_MAX_DIM]; /* meaning of each action component */
    const char *latent_names[ENV_MAX_DIM];
    const char *class_names_hint; /* free text, e.g. "procedural shape family" */
    EnvLayout layout;             /* the world's family and where things sit */
} EnvSpec;

typedef struct {
    uint8_t *pixels; /* caller's buffer, height*width*channels */
    float *latent;   /* caller's buffer, latent_dim (may be NULL) */
    int label;       /* class */
    int instance;    /* object instance or image index */
} EnvObs;

typedef struct Env Env;

/* lanes >= 1. Makes *out, or returns why not (WM_ERR_ARG for a value the world
 * refuses, WM_ERR_IO for an unreadable file or folder, WM_ERR_GL when OpenGL fails,
 * ...) with the reason in err and *out NULL. */
int env_create(const EnvConfig *cfg, int lanes, Env **out, char *err, size_t errsz);
void env_destroy(Env *e);
const EnvSpec *env_spec(const Env *e);
int env_lanes(const Env *e);

/* Picks a new object or image (from the train or held-out split) and an initial
 * state for one lane, all from seed. out may be NULL (state only). */
int env_reset(Env *e, int lane, uint64_t seed, int split, EnvObs *out);
/* Applies a relative action (action_dim floats) to one lane. out may be NULL. */
int env_step(Env *e, int lane, const float *action, EnvObs *out);
/* Renders the current state of n lanes into outs[i] (batched where possible). */
int env_observe(Env *e, int n, const int *lanes, EnvObs *outs);
/* The current absolute latent of a lane (latent_dim floats). */
void env_latent(const Env *e, int lane, float *latent);

/* The action algebra of cfg's world (no Env needed; each world states its rules in
 * its header). env_compose_actions: the single action equivalent to applying
 * actions[0..n-1] (action_dim floats each) in order, as env_step composes them
 * (n = 0: the identity). env_relative_action: the action that takes absolute latent
 * `from` to latent `to` (latent_dim floats each, as recorded). */
void env_compose_actions(const EnvConfig *cfg, int action_dim, const float *actions, int n,
                         float *out);
void env_relative_action(const EnvConfig *cfg, const float *from, const float *to, float *out);

/* The equivariance targets (the evaluation's equivariance row and the trainer's on-line
 * action probe regress them): each relative action as a continuous function of the
 * two views' poses, the form in which the paper's probe reads it. Objects: the rotation
 * part is q_k^-1 q_{k+1} of the views' own quaternions (w >= 0 each) without the action's
 * canonicalisation, which turns it to the other sign where the turn passes half a turn
 * (a jump no regressor from the two views can follow; continuous wherever the views'
 * quaternions are: the Euler box and the turntable, not env.rotation = so3, whose poses
 * take both signs); the other parts as they are.
 * Glimpses: the saccades as they are. latents [n, t, latent_dim], actions and out
 * [n, t-1, action_dim]. */
void env_equiv_targets(const EnvSpec *sp, const float *latents, const float *actions, size_t n, int t, float *out);

/* Object family: draws an absolute state (latent_dim doubles) the world's way from r
 * (WM_ERR_ARG for a world without a sampler), and the action that takes state `from`
 * to state `to` (doubles, as env_get_state gives them). */
int env_sample_state(const EnvConfig *cfg, WmRng *r, double *latent);
void env_state_action(const EnvConfig *cfg, const double *from, const double *to, float *out);

/* A lane's absolute state (latent_dim doubles), for agents and viewers that place
 * views themselves. set returns WM_ERR_ARG (and changes nothing) for a state the
 * world cannot take (non-finite, a quaternion far from unit norm, a lane never reset
 * in a world that needs one); each world says how it rounds or wraps the rest. */
int env_set_state(Env *e, int lane, const double *latent);
void env_get_state(const Env *e, int lane, double *latent);

/* A name for class `label` of this Env (a shape family, an OBJ or image folder name,
 * a pair of scene parts); NULL when label is out of range or the world has none. */
const char *env_class_name(const Env *e, int label);

/* Saccade world only: the lane's scene (S*S*3 bytes) and saliency map (S*S floats
 * summing to 1), valid until the next reset of that lane. Returns WM_ERR_ARG for
 * worlds without scenes. */
typedef struct {
    const uint8_t *image;
    const float *saliency;
    int size;
} EnvScene;
int env_scene(const Env *e, int lane, EnvScene *out);

/* Worlds that render a 3D scene: the lane's current view as render/scene.h takes it
 * (its `out` left NULL), so that a viewer can draw it at another size (view NULL:
 * only whether the world has one; a lane must have been reset otherwise). Returns
 * WM_ERR_ARG for worlds without one. */
struct RdView;
int env_view(const Env *e, int lane, struct RdView *view);

#endif
