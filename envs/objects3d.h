/* The objects3d world (3DIEBench-like): an object on a floor under a sun and a spot
 * light, seen by a fixed camera. This header fixes the latent and action layouts, their
 * ranges, and the exact rules that agents use to sample absolute latents and to turn
 * two absolute latents into the relative action between them.
 *
 * Latent (always ENV_O3_LATENT_DIM values, absolute):
 *   [qw qx qy qz | floor_hue | spot_theta spot_phi | spot_hue | tx ty tz]
 *   q: object rotation, unit quaternion (w,x,y,z) with w >= 0 (core/quat.h);
 *   hues in [0,1) (a circle); spot_theta the light's angle from the vertical
 *   (sampled in [0, pi/4]); spot_phi its azimuth in [0, 2pi) (a circle);
 *   t: object translation in world units (sampled in [-translate, translate]^3).
 *
 * Action (relative; dim 4, 7, 8 or 11 depending on the config):
 *   [q_rel(4)] + [dt(3)       if env.translate_actions]
 *              + [d_floor_hue d_spot_theta d_spot_phi d_spot_hue   if env.color_actions]
 *   q_rel = q_i^-1 * q_{i+1}, canonicalised to w >= 0.
 *
 * Composition (env_step), exact by construction:
 *   q'     = canon(q * normalize(q_rel))
 *   t'     = t + dt                                  (a plain sum, never clamped)
 *   hue'   = wrap1(hue + d_hue)                      (mod 1)
 *   phi'   = wrap2pi(phi + d_phi)                    (mod 2pi)
 *   theta' = theta + d_theta                         (a plain sum, never clamped)
 * The renderer accepts any theta and t, so no clamping is needed for the step to be
 * well defined; agents keep the state in range by how they choose actions (a theta or
 * t outside the sampled box is legal, just outside the training distribution).
 * Latents not carried by the action (colours when color_actions is off, t when
 * translate_actions is off) stay as they are unless set with env_objects3d_set_latent,
 * which is how the 3DIEBench protocol changes them per view. */
#ifndef ENV_OBJECTS3D_H
#define ENV_OBJECTS3D_H

#include <stdint.h>

#include "core/rng.h"
#include "envs/env.h"

/* The renderer's mesh type, for the accessor at the end (render/mesh.h). */
struct RdMesh;

enum {
    ENV_O3_LAT_QW = 0,
    ENV_O3_LAT_QX,
    ENV_O3_LAT_QY,
    ENV_O3_LAT_QZ,
    ENV_O3_LAT_FLOOR_HUE,
    ENV_O3_LAT_SPOT_THETA,
    ENV_O3_LAT_SPOT_PHI,
    ENV_O3_LAT_SPOT_HUE,
    ENV_O3_LAT_TX,
    ENV_O3_LAT_TY,
    ENV_O3_LAT_TZ,
    ENV_O3_LATENT_DIM
};

/* Number of colour/light latents (floor hue .. spot hue), in latent order; the colour
 * part of an action has the same order. */
#define ENV_O3_COLOR_DIM 4

/* Ranges used when sampling (see env_objects3d_sample_latent). */
#define ENV_O3_EULER_MAX   1.5707963267948966  /* |Euler angle| <= pi/2 per axis */
#define ENV_O3_THETA_MAX   0.78539816339744831 /* spot theta in [0, pi/4] */
#define ENV_O3_TWO_PI      6.2831853071795865
#define ENV_O3_CAMERA_DIST 2.5

/* Where each part sits in an action vector; an absent part has offset -1. */
typedef struct {
    int dim;   /* action_dim: 4, 7, 8 or 11 */
    int rot;   /* always 0: q_rel (w,x,y,z) */
    int trans; /* dt (3) or -1 */
    int color; /* d_floor_hue, d_spot_theta, d_spot_phi, d_spot_hue (4) or -1 */
} EnvO3ActionLayout;

EnvO3ActionLayout env_objects3d_action_layout(const EnvConfig *cfg);

/* Draws an absolute latent the 3DIEBench way, every component independently:
 * rotation from extrinsic XYZ Euler angles uniform in [-pi/2, pi/2]^3 (cfg->rotation
 * euler) or uniform over SO(3) (so3), canonicalised to w >= 0; hues uniform in [0,1);
 * theta uniform in [0, pi/4]; phi uniform in [0, 2pi); t uniform in
 * [-cfg->translate, cfg->translate]^3 (all zero when translate is 0). */
void env_objects3d_sample_latent(const EnvConfig *cfg, WmRng *r, double lat[ENV_O3_LATENT_DIM]);

/* The relative action that takes latent `from` to latent `to` (layout from cfg):
 * q_rel = canon(from_q^-1 * to_q), dt = to_t - from_t, colour deltas = to - from
 * (plain differences, not wrapped, so composing them lands on `to` exactly up to
 * rounding). Components of `to` not carried by the action are ignored. */
void env_objects3d_relative_action(const EnvConfig *cfg, const double from[ENV_O3_LATENT_DIM],
                                   const double to[ENV_O3_LATENT_DIM], float *action);

/* The step rule above: out = lat composed with action. out may alias lat. */
void env_objects3d_compose(const EnvConfig *cfg, const double lat[ENV_O3_LATENT_DIM],
                           const float *action, double out[ENV_O3_LATENT_DIM]);

/* The spec of an objects3d world of cfg with n_classes classes, without creating it
 * (no GL): what readers of stored views of this world describe them with. */
void env_objects3d_spec(const EnvConfig *cfg, int n_classes, EnvSpec *s);

/* Sets / reads one lane's absolute latent in double precision. set_latent
 * canonicalises q and wraps hues and phi; it returns WM_ERR_ARG (with no change) for a
 * non-finite value or a quaternion far from unit norm. */
int env_objects3d_set_latent(Env *e, int lane, const double lat[ENV_O3_LATENT_DIM]);
void env_objects3d_get_latent(const Env *e, int lane, double lat[ENV_O3_LATENT_DIM]);

/* Puts object (class, instance) in the lane, keeping its latent; for viewers and
 * tools that choose objects. Returns WM_ERR_ARG when either is out of range. The
 * split of an instance is ENV_SPLIT_HELDOUT when instance >= env_objects3d_train_instances. */
int env_objects3d_set_object(Env *e, int lane, int cls, int instance);
int env_objects3d_train_instances(const Env *e);

/* Render threads (GL contexts) this world uses. */
int env_objects3d_render_threads(const Env *e);

/* Number of procedural shape families of the default (mixed) class set, and the name of
 * its family c ("vase", ...); env_objects3d_class_name covers every set. */
int env_objects3d_family_count(void);
const char *env_objects3d_family_name(int c);
/* The name of class c of this world (a family, or an OBJ file / folder name). */
const char *env_objects3d_class_name(const Env *e, int c);

/* The lane's object mesh in object coordinates (normalised to the unit sphere), valid
 * until the lane is reset. */
const struct RdMesh *env_objects3d_mesh(const Env *e, int lane);

#endif
