/* What the pose probe and the next-view retrieval test need from a world: each view's
 * pose as probe features (the 9 rotation-matrix entries of an object's rotation, or the
 * fixation (y, x) of a glimpse), the pose an action leads to (the oracle's query), and
 * the retrieval sequences: held-out objects or scenes, poses drawn independently per
 * view, lights and colours fixed within a sequence (model/sj_pathint.h). */
#ifndef RUN_PATHINT_H
#define RUN_PATHINT_H

#include "data/rollout.h"
#include "model/sj_pathint.h"
#include "run/runcfg.h"

/* Pose features per view: 9 for the object family, 2 for glimpses. */
int pl_pose_dim(const EnvSpec *sp);
/* out [n, pose_dim] from latents [n, latent_dim]. */
void pl_pose_features(const EnvSpec *sp, const float *latents, size_t n, float *out);
/* out [pose_dim]: the pose of the state `latent` after the relative action `action`. */
void pl_pose_after(const EnvSpec *sp, const float *latent, const float *action, float *out);

/* The action-only reader's score of a view with pose latent `latent` following the
 * relative action `action`, from those two alone: the likelihood under the world's
 * pose prior of the previous state the action implies (objects: the density of the
 * Euler box at pose * action^-1, constant for so3; glimpses: 1 when the implied
 * previous fixation lies in the scene, else 0, a uniform prior over fixations). */
double pl_action_only_score(const EnvConfig *ec, const EnvSpec *sp, const float *latent, const float *action);

/* The world and agent of the retrieval sequences for rc's world, chosen so that every
 * view after the observed ones is an independent draw from one law (the candidates are
 * exchangeable, so a prediction that ignores a_M is at chance): objects, iid poses with
 * colours and lights kept for the whole sequence; glimpses, uniform fixations without
 * inhibition of return (with it, later fixations avoid earlier ones and are less
 * salient, which a model could tell without the action). */
AgentConfig pl_retr_agent(const RunConfig *rc);
EnvConfig pl_retr_env(const RunConfig *rc);

/* Retrieval data: eval.retr_seqs held-out sequences of eval.retr_m_max + 1 +
 * eval.retr_pool views (seed eval.seed), with poses, the oracle's queries, the
 * action-only scores, and the candidates of each M: the true view M+1, then the first
 * eval.retr_k later views that a_M could have led to (those whose pose a_M^-1 implies a
 * previous state the world's prior allows: pl_action_only_score > 0), so that the
 * action alone cannot rule a distractor out; a sequence with fewer is left out at that
 * M (sj_retrieval_count says how many remain). */
typedef struct {
    AgBatch b;
    float *pose, *pose_next; /* [n, t, P], [n, t-1, P] */
    float *action_only;      /* [n, t-1, t]: pl_action_only_score of view j after action i */
    int32_t *cand;           /* [n, retr_m_max, retr_k + 1]: candidate views (SjRetrSplit) */
    int pose_dim;
    SjRetrSplit split;       /* the above as model/sj_pathint.h takes them */
} PlRetrData;
int pl_retr_data(const RunConfig *rc, PlRetrData *d, char *err, size_t errsz);
void pl_retr_data_free(PlRetrData *d);

#endif
