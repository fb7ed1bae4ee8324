/* Action policies for every world behind one contract. An Agent holds one policy and a
 * state per env lane; each sequence starts with ag_begin (right after env_reset) and
 * every step asks the agent for the next relative action:
 *
 *   Agent *a; ag_create(&acfg, &ecfg, env_spec(env), env_lanes(env), &a, err, sizeof err);
 *   env_reset(env, lane, env_seed, split, NULL);
 *   ag_begin(a, lane, agent_seed, env, T);          // T views, or 0 when open-ended
 *   for (int t = 0; t + 1 < T; t++) {
 *       ag_step(a, lane, env, action);               // chooses and applies the action
 *       env_observe(env, 1, &lane, &obs);
 *   }
 *
 * The action written by ag_step is exactly what the world applied: composing the
 * recorded actions reproduces the recorded latents (summed displacements for saccades,
 * bit for bit; the quaternion product for rotations). data/rollout.h batches this.
 * An Agent is not thread-safe (one per thread, like an Env), except ag_human_push. */
#ifndef AG_AGENT_H
#define AG_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "envs/env.h"

/* [agent] section. A key one world alone reads opens its help with the world's name
 * ("saccade: "), as in [env]. */
#define AGENT_FIELDS(X, S)                                                                         \
    X(S, ENUM, kind, "auto", 0, 0, "auto|iid|rotate|so3|walk|loop|saliency|uniform|path|human",    \
      "policy; auto: iid for objects3d (the 3DIEBench protocol), saliency for saccade")            \
    X(S, REAL, max_angle, "30", 0, 180, NULL,                                                      \
      "objects3d: largest rotation per step of rotate, walk and loop, degrees")                    \
    X(S, REAL, turn, "30", 0, 180, NULL,                                                           \
      "objects3d: largest change of walk's rotation axis per step, degrees")                       \
    X(S, REAL, max_shift, "0.25", 0, 1, NULL,                                                      \
      "saccade: largest displacement of walk and loop per saccade and axis, share of the scene side") \
    X(S, INT, loop_len, "0", 0, 1000000, NULL,                                                     \
      "loop: actions out before they are undone in reverse (0: half the sequence)")                \
    X(S, STR, path, "", 0, 0, NULL,                                                                \
      "path: text file, one action per line (action_dim numbers; rotations as w x y z)")           \
    X(S, BOOL, redraw_colors, "true", 0, 0, NULL,                                                  \
      "objects3d: iid draws hues, light and translation afresh every view as 3DIEBench does; "     \
      "false keeps them for the whole sequence")

WM_CFG_STRUCT(AgentConfig, AGENT_FIELDS);
WM_CFG_FIELDS_DECL(AgentConfig);

/* Policies, in the order of the kind key.
 *   iid       objects3d: every view's absolute latents drawn independently
 *             (env_sample_state); the action is the relative transform.
 *             Latents the action does not carry (hues, light, translation unless the
 *             config puts them in actions) are set on the env directly, as 3DIEBench.
 *   rotate    objects3d: relative rotation with a uniform axis and an angle uniform in
 *             [0, max_angle].
 *   so3       objects3d: relative rotation uniform over SO(3).
 *   walk      objects3d: a random walk whose axis turns by at most `turn` per step and
 *             whose angle is uniform in [0, max_angle]; saccade: displacements uniform
 *             within +-max_shift per axis, the fixation kept inside the scene.
 *   loop      both: loop_len random steps (as rotate / walk) then their inverses in
 *             reverse order, so the cumulative action is the identity after every
 *             2 * loop_len steps; repeats with fresh steps.
 *   saliency  saccade: each fixation drawn from the scene's saliency map with
 *             inhibition of return (env.ior shape, env.ior_radius pixels around every
 *             earlier fixation of the sequence, the map renormalised each time).
 *   uniform   saccade: as saliency over a flat map (the first fixation too).
 *   path      both: the actions of the file agent.path in order, restarting each
 *             sequence (saccade actions are rounded to the fixation grid).
 *   human     both: actions from events pushed with ag_human_push (identity / zero
 *             displacement when none is queued). */
enum {
    AG_AUTO = 0,
    AG_IID,
    AG_ROTATE,
    AG_SO3,
    AG_WALK,
    AG_LOOP,
    AG_SALIENCY,
    AG_UNIFORM,
    AG_PATH,
    AG_HUMAN,
    AG_KIND_COUNT_
};

typedef struct Agent Agent;

/* An agent for `lanes` lanes of a world with config ecfg and spec (env_spec of that
 * world) into *out. Errors (a policy that does not fit the world: WM_ERR_ARG; an
 * unreadable path file: WM_ERR_IO; a malformed one) come back as the status with the
 * reason in err and *out NULL. */
int ag_create(const AgentConfig *cfg, const EnvConfig *ecfg, const EnvSpec *spec, int lanes,
              Agent **out, char *err, size_t errsz);
void ag_destroy(Agent *a);
/* The policy actually running (auto resolved), and its name; the lane count. */
int ag_kind(const Agent *a);
int ag_lanes(const Agent *a);
const char *ag_kind_name(int kind);

/* Starts a sequence on `lane`, whose env state was just reset. seed gives the agent's
 * own stream for this sequence; n_views is the sequence length T (0: open-ended, which
 * loop with loop_len 0 cannot use). May set state the action does not carry (the first
 * fixation of the uniform policy). Returns WM_OK or an error code. */
int ag_begin(Agent *a, int lane, uint64_t seed, Env *env, int n_views);

/* Chooses the next action (action_dim floats) from the lane's current state without
 * applying it. The iid policy also sets, on env, the latents its action does not carry,
 * so env_step(env, lane, action) must follow before anything else touches the lane. */
int ag_next_action(Agent *a, int lane, Env *env, float *action);

/* ag_next_action followed by env_step: the usual way to advance a lane. */
int ag_step(Agent *a, int lane, Env *env, float *action);

/* Human input. Events are in world terms; the agent turns each into one action. */
typedef enum {
    AG_EVENT_ROTATE,    /* objects3d: v[0..2] unit axis, v[3] angle in radians, in the
                           world (camera) frame when v[4] == 0, the object's own frame
                           otherwise */
    AG_EVENT_TRANSLATE, /* objects3d with env.translate_actions: v[0..2] world units */
    AG_EVENT_LOOK_AT,   /* saccade: fixate (v[0], v[1]) = (y, x) as shares of the scene */
    AG_EVENT_LOOK_BY,   /* saccade: move the fixation by (v[0], v[1]) shares of the scene */
} AgEventType;

typedef struct {
    AgEventType type;
    double v[5];
} AgEvent;

/* Queues an event for the lane's next ag_next_action / ag_step (first in, first out, up
 * to 256 pending). Safe to call from another thread than the one stepping. WM_ERR_ARG
 * for an event the world cannot take (or a non-human agent), WM_ERR_RANGE when full. */
int ag_human_push(Agent *a, int lane, const AgEvent *ev);
/* Events waiting for the lane. */
int ag_human_pending(Agent *a, int lane);

#endif
