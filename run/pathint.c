/* Poses and retrieval sequences (see pathint.h). */
#include "run/pathint.h"

#include <math.h>
#include <string.h>

#include "agents/agent.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/quat.h"
#include "envs/objects3d.h"

int pl_pose_dim(const EnvSpec *sp) { return sp->layout.family == ENV_FAMILY_OBJECT ? 9 : 2; }

static void quat_mat(const double q[4], float *out) {
    double m[9];
    wm_quat_to_mat3(q, m);
    for (int j = 0; j < 9; j++) out[j] = (float)m[j];
}

void pl_pose_features(const EnvSpec *sp, const float *lat, size_t n, float *out) {
    const EnvLayout *l = &sp->layout;
    int L = sp->latent_dim, P = pl_pose_dim(sp);
    for (size_t i = 0; i < n; i++) {
        const float *x = lat + i * (size_t)L;
        if (l->family == ENV_FAMILY_OBJECT) {
            double q[4] = {x[l->lat_rot], x[l->lat_rot + 1], x[l->lat_rot + 2], x[l->lat_rot + 3]};
            wm_quat_normalize(q);
            quat_mat(q, out + i * (size_t)P);
        } else {
            out[i * 2] = x[0], out[i * 2 + 1] = x[1];
        }
    }
}

void pl_pose_after(const EnvSpec *sp, const float *x, const float *a, float *out) {
    const EnvLayout *l = &sp->layout;
    if (l->family == ENV_FAMILY_OBJECT) {
        double q[4] = {x[l->lat_rot], x[l->lat_rot + 1], x[l->lat_rot + 2], x[l->lat_rot + 3]};
        double r[4] = {a[l->act_rot], a[l->act_rot + 1], a[l->act_rot + 2], a[l->act_rot + 3]}, o[4];
        wm_quat_mul(o, q, r); /* q_{i+1} = q_i * q_rel */
        wm_quat_normalize(o);
        quat_mat(o, out);
    } else {
        out[0] = x[0] + a[0], out[1] = x[1] + a[1];
    }
}

double pl_action_only_score(const EnvConfig *ec, const EnvSpec *sp, const float *x, const float *a) {
    const EnvLayout *l = &sp->layout;
    if (l->family != ENV_FAMILY_OBJECT) {
        double y = x[0] - a[0], xx = x[1] - a[1];
        return y >= 0 && y <= 1 && xx >= 0 && xx <= 1;
    }
    if (ec->rotation != 0) return 1; /* so3, yaw: uniform, the action says nothing of the next pose */
    double q[4] = {x[l->lat_rot], x[l->lat_rot + 1], x[l->lat_rot + 2], x[l->lat_rot + 3]};
    double r[4] = {a[l->act_rot], a[l->act_rot + 1], a[l->act_rot + 2], a[l->act_rot + 3]}, ri[4], prev[4], e[3];
    wm_quat_normalize(q);
    wm_quat_normalize(r);
    wm_quat_conj(ri, r);
    wm_quat_mul(prev, q, ri); /* q_i = q_{i+1} * q_rel^-1 */
    wm_quat_to_euler_xyz(prev, e);
    double lim = ENV_O3_EULER_MAX + 1e-6;
    if (fabs(e[0]) > lim || fabs(e[1]) > lim || fabs(e[2]) > lim) return 0;
    /* uniform in Euler angles is a density 1 / cos(ey) against the uniform measure on rotations */
    return 1 / fmax(cos(e[1]), 1e-9);
}

AgentConfig pl_retr_agent(const RunConfig *rc) {
    AgentConfig a = rc->agent;
    if (env_traits(rc->env.kind)->family == ENV_FAMILY_OBJECT) {
        a.kind = AG_IID;
        a.redraw_colors = 0;
    } else {
        a.kind = AG_UNIFORM;
    }
    return a;
}

EnvConfig pl_retr_env(const RunConfig *rc) {
    EnvConfig e = rc->env;
    if (env_traits(e.kind)->family != ENV_FAMILY_OBJECT) e.ior = ENV_IOR_NONE;
    return e;
}

int pl_retr_data(const RunConfig *rc, PlRetrData *d, char *err, size_t errsz) {
    memset(d, 0, sizeof *d);
    AgentConfig ac = pl_retr_agent(rc);
    EnvConfig ec = pl_retr_env(rc);
    int n = rc->eval.retr_seqs, rm = rc->eval.retr_m_max, k = rc->eval.retr_k;
    int t = rm + 1 + (rc->eval.retr_pool > k ? rc->eval.retr_pool : k);
    Env *env;
    int r = env_create(&ec, 64, &env, err, errsz);
    if (r) return r;
    const EnvSpec *sp = env_spec(env);
    Agent *ag = NULL;
    r = ag_create(&ac, &ec, sp, 64, &ag, err, errsz);
    if (!r) r = ag_batch_alloc(&d->b, sp, n, t, 0, err, errsz);
    if (!r) r = ag_rollout(env, ag, (uint64_t)rc->eval.seed, ENV_SPLIT_HELDOUT, 0, n, &d->b, err, errsz);
    if (!r) {
        int P = d->pose_dim = pl_pose_dim(sp), L = sp->latent_dim, A = sp->action_dim;
        d->pose = wm_new(float, (size_t)n * (size_t)t * (size_t)P);
        d->pose_next = wm_new(float, (size_t)n * (size_t)(t - 1) * (size_t)P);
        pl_pose_features(sp, d->b.latents, (size_t)n * (size_t)t, d->pose);
        for (size_t i = 0; i < (size_t)n; i++)
            for (size_t v = 0; v + 1 < (size_t)t; v++)
                pl_pose_after(sp, d->b.latents + (i * (size_t)t + v) * (size_t)L,
                              d->b.actions + (i * (size_t)(t - 1) + v) * (size_t)A,
                              d->pose_next + (i * (size_t)(t - 1) + v) * (size_t)P);
        d->action_only = wm_new(float, (size_t)n * (size_t)(t - 1) * (size_t)t);
        for (size_t i = 0; i < (size_t)n; i++)
            for (size_t v = 0; v + 1 < (size_t)t; v++)
                for (size_t j = 0; j < (size_t)t; j++)
                    d->action_only[(i * (size_t)(t - 1) + v) * (size_t)t + j] = (float)pl_action_only_score(
                        &ec, sp, d->b.latents + (i * (size_t)t + j) * (size_t)L,
                        d->b.actions + (i * (size_t)(t - 1) + v) * (size_t)A);
        /* Candidates of M: view M+1 (index M), then the first k later views the action
         * a_M could have led to. */
        d->cand = wm_new(int32_t, (size_t)n * (size_t)rm * (size_t)(k + 1));
        for (size_t i = 0; i < (size_t)n; i++)
            for (int M = 1; M <= rm; M++) {
                int32_t *c = d->cand + (i * (size_t)rm + (size_t)(M - 1)) * (size_t)(k + 1);
                const float *ao = d->action_only + (i * (size_t)(t - 1) + (size_t)(M - 1)) * (size_t)t;
                int got = 0;
                c[0] = M;
                for (int v = M + 1; v < t && got < k; v++)
                    if (ao[v] > 0) c[++got] = v;
                if (got < k) c[0] = -1;
            }
        d->split = (SjRetrSplit){n, t, d->b.pixels, d->b.actions, d->pose, d->pose_next, P, d->action_only, d->cand, rm, k};
    }
    ag_destroy(ag);
    env_destroy(env);
    if (r) pl_retr_data_free(d);
    return r;
}

void pl_retr_data_free(PlRetrData *d) {
    ag_batch_free(&d->b);
    wm_free(d->pose);
    wm_free(d->pose_next);
    wm_free(d->action_only);
    wm_free(d->cand);
    memset(d, 0, sizeof *d);
}
