/* The C interface of libseqjepa.so over the library's layers (see seqjepa.h). Every
 * argument a caller passes is checked here and turned into a message, since the
 * layers below treat a bad lane or a missing reset as a bug (an assert). */
#include "capi/seqjepa.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/safetensors.h"
#include "data/rollout.h"
#include "envs/env.h"
#include "model/sj_model.h"
#include "model/sj_train.h"
#include "nn/nn.h"
#include "run/runcfg.h"

#define SJC_MAX_LANES 4096

struct SjcEnv {
    RunConfig rc;
    Env *env;
    pthread_t owner;
    pid_t pid;
    int episode; /* lane 0 holds an episode started by sjc_env_reset */
    SjcSpec spec;
};

struct SjcAgent {
    Agent *agent;
    const SjcEnv *env;
};

struct SjcTensors {
    WmStFile *f;
};

struct SjcModel {
    SjModel *m;
    int64_t step;
    pid_t pid;
};

int sjc_abi(void) {
    return SJC_ABI;
}

const char *sjc_version(void) {
    return SEQJEPA_VERSION;
}

static int set_err(char *err, size_t errsz, int code, const char *msg) {
    return wm_errf(err, errsz, code, "%s", msg);
}

/* The env may be used only by the thread (and process) that made it. */
static int env_usable(const SjcEnv *e, const char *what, char *err, size_t errsz) {
    if (!e) return wm_errf(err, errsz, WM_ERR_ARG, "%s: no environment (NULL handle)", what);
    if (e->pid != getpid())
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "%s: this environment was created in another process (before a fork); "
                       "create environments in the process that uses them",
                       what);
    if (!pthread_equal(e->owner, pthread_self()))
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "%s: this environment belongs to the thread that created it (its GL "
                       "context is bound there); use one environment per thread",
                       what);
    return WM_OK;
}

/* ---- environments ---- */

static pid_t g_gl_pid; /* the process whose worlds use OpenGL (0: none yet) */
static pthread_mutex_t g_gl_lock = PTHREAD_MUTEX_INITIALIZER;

SjcEnv *sjc_env_create(const char *config_path, int n_over, const char *const *over, int lanes,
                       char *err, size_t errsz) {
    if (lanes < 1 || lanes > SJC_MAX_LANES) {
        wm_errf(err, errsz, WM_ERR_RANGE, "lanes must be in 1..%d, got %d", SJC_MAX_LANES, lanes);
        return NULL;
    }
    if (n_over < 0 || (n_over > 0 && !over)) {
        set_err(err, errsz, WM_ERR_ARG, "bad override list");
        return NULL;
    }
    for (int i = 0; i < n_over; i++)
        if (!over[i]) {
            wm_errf(err, errsz, WM_ERR_ARG, "override %d is NULL", i);
            return NULL;
        }
    SjcEnv *e = wm_new(SjcEnv, 1);
    const char *path = config_path && *config_path ? config_path : NULL;
    if (run_config_load(&e->rc, path, n_over, (char **)over, err, errsz)) {
        wm_free(e);
        return NULL;
    }
    /* OpenGL (Mesa's llvmpipe above all) keeps per-process state and threads that a
     * forked child inherits half-alive: rendering there waits forever. Refuse instead. */
    int gl = env_config_info(&e->rc.env).uses_gl;
    pthread_mutex_lock(&g_gl_lock);
    pid_t gl_pid = g_gl_pid;
    if (gl && !gl_pid) g_gl_pid = getpid();
    pthread_mutex_unlock(&g_gl_lock);
    if (gl && gl_pid && gl_pid != getpid()) {
        set_err(err, errsz, WM_ERR_ARG,
                "this process was forked from one that had already rendered with OpenGL, which "
                "cannot render again in the child; start such processes with 'spawn' (for a "
                "PyTorch DataLoader: multiprocessing_context='spawn'), or make the first "
                "rendering world only after forking");
        wm_free(e);
        return NULL;
    }
    if (env_create(&e->rc.env, lanes, &e->env, err, errsz)) {
        wm_free(e);
        return NULL;
    }
    e->owner = pthread_self();
    e->pid = getpid();
    const EnvSpec *sp = env_spec(e->env);
    e->spec = (SjcSpec){sp->height,     sp->width,     sp->channels, sp->action_dim,
                        sp->latent_dim, sp->n_classes, lanes,        e->rc.env.kind,
                        sp->layout.family, sp->layout.act_rot};
    return e;
}

void sjc_env_destroy(SjcEnv *e) {
    if (!e) return;
    /* A copy inherited through fork holds another process's threads and context:
     * leave it alone (the memory goes with the process). */
    if (e->pid != getpid()) return;
    env_destroy(e->env);
    wm_free(e);
}

void sjc_env_spec(const SjcEnv *e, SjcSpec *out) {
    if (e && out) *out = e->spec;
}

const char *sjc_world_name(int kind) {
    return kind >= 0 && kind < ENV_KIND_COUNT ? env_kind_name(kind) : NULL;
}

const char *sjc_env_name(const SjcEnv *e, int what, int i) {
    if (!e || i < 0) return NULL;
    const EnvSpec *sp = env_spec(e->env);
    if (what == 0) return i < sp->action_dim ? sp->action_names[i] : NULL;
    if (what == 1) return i < sp->latent_dim ? sp->latent_names[i] : NULL;
    if (what == 2) return i < sp->n_classes ? env_class_name(e->env, i) : NULL;
    return NULL;
}

size_t sjc_env_config_text(const SjcEnv *e, char *out, size_t outsz) {
    if (!e) return 0;
    WmBuf b = {0};
    run_config_text(&e->rc, &b);
    size_t n = b.len;
    if (out && outsz) snprintf(out, outsz, "%s", b.data ? b.data : "");
    wm_buf_free(&b);
    return n;
}

static int observe0(SjcEnv *e, uint8_t *pixels, float *latent, int32_t *label, int32_t *instance,
                    const char *what, char *err, size_t errsz) {
    EnvObs o = {pixels, latent, 0, 0};
    int lane = 0;
    int rc = env_observe(e->env, 1, &lane, &o);
    if (rc) return wm_errf(err, errsz, rc, "%s: rendering failed (%s)", what, wm_status_name(rc));
    if (label) *label = o.label;
    if (instance) *instance = o.instance;
    return WM_OK;
}

int sjc_env_reset(SjcEnv *e, uint64_t seed, int split, uint8_t *pixels, float *latent,
                  int32_t *label, int32_t *instance, char *err, size_t errsz) {
    int rc = env_usable(e, "reset", err, errsz);
    if (rc) return rc;
    if (split != ENV_SPLIT_TRAIN && split != ENV_SPLIT_HELDOUT)
        return wm_errf(err, errsz, WM_ERR_ARG, "reset: split must be 0 (train) or 1 (held-out), got %d", split);
    if (!pixels) return set_err(err, errsz, WM_ERR_ARG, "reset: no pixel buffer");
    e->episode = 0;
    rc = env_reset(e->env, 0, seed, split, NULL);
    if (rc)
        return wm_errf(err, errsz, rc, "reset: the world refused the reset (%s)%s", wm_status_name(rc),
                       split == ENV_SPLIT_HELDOUT ? "; the held-out split is empty when env.heldout is 0" : "");
    rc = observe0(e, pixels, latent, label, instance, "reset", err, errsz);
    if (!rc) e->episode = 1;
    return rc;
}

int sjc_env_step(SjcEnv *e, const float *action, int n_action, uint8_t *pixels, float *latent,
                 int32_t *label, int32_t *instance, char *err, size_t errsz) {
    int rc = env_usable(e, "step", err, errsz);
    if (rc) return rc;
    if (!e->episode)
        return set_err(err, errsz, WM_ERR_ARG,
                       "step: no episode; call reset first (a rollout also ends the episode)");
    if (!action || n_action != e->spec.action_dim)
        return wm_errf(err, errsz, WM_ERR_ARG, "step: the action must have %d components, got %d",
                       e->spec.action_dim, action ? n_action : 0);
    if (!pixels) return set_err(err, errsz, WM_ERR_ARG, "step: no pixel buffer");
    for (int i = 0; i < n_action; i++)
        if (!isfinite(action[i]))
            return wm_errf(err, errsz, WM_ERR_NUMERIC, "step: action component %d (%s) is %g", i,
                           env_spec(e->env)->action_names[i], (double)action[i]);
    const EnvSpec *sp = env_spec(e->env);
    if (sp->layout.family == ENV_FAMILY_OBJECT) { /* checked here too, so the world logs nothing */
        int r0 = sp->layout.act_rot;
        WM_ASSERT(r0 >= 0 && r0 + 4 <= n_action);
        double n2 = 0;
        for (int i = r0; i < r0 + 4; i++) n2 += (double)action[i] * action[i];
        if (fabs(sqrt(n2) - 1) > 1e-3)
            return wm_errf(err, errsz, WM_ERR_ARG,
                           "step: the rotation (%s %s %s %s) must be a unit quaternion; its norm is %g",
                           sp->action_names[r0], sp->action_names[r0 + 1], sp->action_names[r0 + 2],
                           sp->action_names[r0 + 3], sqrt(n2));
    }
    rc = env_step(e->env, 0, action, NULL);
    if (rc) return wm_errf(err, errsz, rc, "step: the world refused the action (%s)", wm_status_name(rc));
    return observe0(e, pixels, latent, label, instance, "step", err, errsz);
}

int sjc_env_render(SjcEnv *e, uint8_t *pixels, char *err, size_t errsz) {
    int rc = env_usable(e, "render", err, errsz);
    if (rc) return rc;
    if (!e->episode) return set_err(err, errsz, WM_ERR_ARG, "render: no episode; call reset first");
    if (!pixels) return set_err(err, errsz, WM_ERR_ARG, "render: no pixel buffer");
    return observe0(e, pixels, NULL, NULL, NULL, "render", err, errsz);
}

/* ---- agents and rollouts ---- */

SjcAgent *sjc_agent_create(SjcEnv *e, int n_over, const char *const *over, char *err,
                           size_t errsz) {
    if (env_usable(e, "agent", err, errsz)) return NULL;
    if (n_over < 0 || (n_over > 0 && !over)) {
        set_err(err, errsz, WM_ERR_ARG, "agent: bad override list");
        return NULL;
    }
    RunConfig *rc = wm_new(RunConfig, 1);
    *rc = e->rc;
    int r = WM_OK;
    for (int i = 0; i < n_over && !r; i++) {
        if (!over[i]) {
            r = wm_errf(err, errsz, WM_ERR_ARG, "agent: override %d is NULL", i);
            break;
        }
        const char *eq = strchr(over[i], '='), *dot = strchr(over[i], '.');
        char buf[WM_CFG_STR_MAX + 128];
        if (dot && (!eq || dot < eq)) {
            if (strncmp(over[i], "agent.", 6)) {
                r = wm_errf(err, errsz, WM_ERR_ARG, "agent: '%s' is not an [agent] key", over[i]);
                break;
            }
            snprintf(buf, sizeof buf, "%s", over[i]);
        } else {
            snprintf(buf, sizeof buf, "agent.%s", over[i]);
        }
        r = wm_cfg_override(&run_schema, rc, buf, err, errsz);
    }
    SjcAgent *a = NULL;
    if (!r) {
        Agent *ag;
        if (!ag_create(&rc->agent, &rc->env, env_spec(e->env), env_lanes(e->env), &ag, err, errsz)) {
            a = wm_new(SjcAgent, 1);
            a->agent = ag;
            a->env = e;
        }
    }
    wm_free(rc);
    return a;
}

void sjc_agent_destroy(SjcAgent *a) {
    if (!a) return;
    if (a->env && a->env->pid != getpid()) return;
    ag_destroy(a->agent);
    wm_free(a);
}

const char *sjc_agent_kind(const SjcAgent *a) {
    return a ? ag_kind_name(ag_kind(a->agent)) : NULL;
}

int sjc_rollout(SjcEnv *e, SjcAgent *a, uint64_t seed, int split, uint64_t first, int n, int views,
                uint8_t *images, float *actions, float *latents, int32_t *labels,
                int32_t *instances, char *err, size_t errsz) {
    int rc = env_usable(e, "rollout", err, errsz);
    if (rc) return rc;
    if (!a || a->env != e)
        return set_err(err, errsz, WM_ERR_ARG, "rollout: the agent was not made for this environment");
    if (split != ENV_SPLIT_TRAIN && split != ENV_SPLIT_HELDOUT)
        return wm_errf(err, errsz, WM_ERR_ARG, "rollout: split must be 0 (train) or 1 (held-out), got %d", split);
    if (n < 0 || views < 1)
        return wm_errf(err, errsz, WM_ERR_ARG, "rollout: need n >= 0 sequences of views >= 1 (got %d, %d)", n, views);
    if (!images || !actions || !latents || !labels || !instances)
        return set_err(err, errsz, WM_ERR_ARG, "rollout: every output buffer is required");
    if (n == 0) return WM_OK;
    const EnvSpec *sp = env_spec(e->env);
    AgBatch b = {
        .n = n, .t = views, .h = sp->height, .w = sp->width, .c = sp->channels,
        .action_dim = sp->action_dim, .latent_dim = sp->latent_dim, .scene_size = 0,
        .pixels = images, .actions = actions, .latents = latents, .labels = labels,
        .instances = instances,
    };
    e->episode = 0; /* every lane, lane 0 included, gets reset */
    return ag_rollout(e->env, a->agent, seed, split, first, n, &b, err, errsz);
}

/* ---- tensors ---- */

SjcTensors *sjc_tensors_open(const char *path, char *err, size_t errsz) {
    if (!path) {
        set_err(err, errsz, WM_ERR_ARG, "no path");
        return NULL;
    }
    WmStFile *f = NULL;
    if (wm_st_open(path, &f, err, errsz)) return NULL;
    SjcTensors *t = wm_new(SjcTensors, 1);
    t->f = f;
    return t;
}

void sjc_tensors_close(SjcTensors *t) {
    if (!t) return;
    wm_st_close(t->f);
    wm_free(t);
}

int sjc_tensors_count(const SjcTensors *t) {
    return t ? wm_st_count(t->f) : 0;
}

int sjc_tensors_at(const SjcTensors *t, int i, const char **name, int *dtype, int *ndim,
                   int64_t *shape, const void **data, int64_t *nbytes) {
    if (!t || i < 0 || i >= wm_st_count(t->f)) return -1;
    const WmStTensor *x = wm_st_at(t->f, i);
    if (name) *name = x->name;
    if (dtype) *dtype = (int)x->dtype;
    if (ndim) *ndim = x->ndim;
    if (shape)
        for (int k = 0; k < x->ndim; k++) shape[k] = (int64_t)x->shape[k];
    if (data) *data = x->data;
    if (nbytes) *nbytes = (int64_t)x->nbytes;
    return 0;
}

int sjc_tensors_meta_count(const SjcTensors *t) {
    return t ? wm_st_meta_count(t->f) : 0;
}

const char *sjc_tensors_meta(const SjcTensors *t, int i, int what) {
    if (!t || i < 0 || i >= wm_st_meta_count(t->f) || what < 0 || what > 1) return NULL;
    return wm_st_meta_at(t->f, i, what);
}

/* ---- models ---- */

static pid_t g_runtime_pid;
static pthread_t g_runtime_owner;
static pthread_mutex_t g_runtime_lock = PTHREAD_MUTEX_INITIALIZER;

int sjc_runtime_init(int threads, char *err, size_t errsz) {
    pthread_mutex_lock(&g_runtime_lock);
    int rc = WM_OK;
    if (g_runtime_pid && g_runtime_pid != getpid())
        rc = set_err(err, errsz, WM_ERR_ARG,
                     "the model engine was started in the parent process before a fork; load "
                     "models in the process that uses them, before it forks, or only after");
    else {
        nn_runtime_init(threads);
        g_runtime_pid = getpid();
        g_runtime_owner = pthread_self();
    }
    pthread_mutex_unlock(&g_runtime_lock);
    return rc;
}

static int runtime_ready(char *err, size_t errsz) {
    pthread_mutex_lock(&g_runtime_lock);
    pid_t pid = g_runtime_pid;
    pthread_mutex_unlock(&g_runtime_lock);
    if (!pid) return sjc_runtime_init(0, err, errsz);
    if (pid != getpid())
        return set_err(err, errsz, WM_ERR_ARG,
                       "the model engine was started in the parent process before a fork; "
                       "models cannot run in this child process");
    return WM_OK;
}

SjcModel *sjc_model_load(const char *path, char *err, size_t errsz) {
    if (!path) {
        set_err(err, errsz, WM_ERR_ARG, "no path");
        return NULL;
    }
    if (runtime_ready(err, errsz)) return NULL;
    SjModel *m = NULL;
    int64_t step = 0;
    if (sj_checkpoint_load(path, &m, NULL, &step, err, errsz)) return NULL;
    SjcModel *h = wm_new(SjcModel, 1);
    h->m = m;
    h->step = step;
    h->pid = getpid();
    return h;
}

void sjc_model_destroy(SjcModel *m) {
    if (!m || m->pid != getpid()) return;
    sj_model_destroy(m->m);
    wm_free(m);
}

void sjc_model_info(const SjcModel *m, int32_t *img_h, int32_t *img_w, int32_t *action_dim,
                    int32_t *enc_dim, int32_t *agg_dim, int64_t *step) {
    if (!m) return;
    const SjShape *sh = sj_model_shape(m->m);
    if (img_h) *img_h = sh->img_h;
    if (img_w) *img_w = sh->img_w;
    if (action_dim) *action_dim = sh->action_dim;
    if (enc_dim) *enc_dim = sj_model_enc_dim(m->m);
    if (agg_dim) *agg_dim = sj_model_agg_dim(m->m);
    if (step) *step = m->step;
}

int sjc_model_embed(SjcModel *model, const uint8_t *views, const float *actions, int n, int m,
                    float *z, float *z_agg, char *err, size_t errsz) {
    if (!model) return set_err(err, errsz, WM_ERR_ARG, "embed: no model (NULL handle)");
    if (model->pid != getpid())
        return set_err(err, errsz, WM_ERR_ARG,
                       "embed: this model was loaded in another process (before a fork)");
    int rc = runtime_ready(err, errsz);
    if (rc) return rc;
    if (n < 1 || m < 1 || m > 64)
        return wm_errf(err, errsz, WM_ERR_ARG, "embed: need n >= 1 sequences of 1 to 64 views (got %d, %d)", n, m);
    if (!views || (m > 1 && !actions))
        return set_err(err, errsz, WM_ERR_ARG, "embed: views and actions are required");
    SjModel *sm = model->m;
    int D = sj_model_enc_dim(sm), E = sj_model_agg_dim(sm), A = sj_model_shape(sm)->action_dim;
    const int chunk = 64;
    sj_model_bind(sm, chunk, m, 0);
    if ((int64_t)n * m > INT_MAX / 2)
        return wm_errf(err, errsz, WM_ERR_RANGE, "embed: %d sequences of %d views are too many for one call", n, m);
    size_t nz = (size_t)n * (size_t)m * (size_t)D;
    float *zz = z ? z : wm_try_calloc(nz, sizeof(float));
    if (!zz) return wm_errf(err, errsz, WM_ERR_NOMEM, "embed: not enough memory for %d sequences", n);
    sj_model_encode(sm, views, n * m, zz);
    for (int b0 = 0; b0 < n && z_agg; b0 += chunk) {
        int nb = n - b0 < chunk ? n - b0 : chunk;
        sj_model_aggregate(sm, zz + (size_t)b0 * (size_t)m * (size_t)D,
                           actions ? actions + (size_t)b0 * (size_t)(m - 1) * (size_t)A : NULL, nb, m,
                           0, z_agg + (size_t)b0 * (size_t)E);
    }
    if (!z) wm_free(zz);
    return WM_OK;
}
