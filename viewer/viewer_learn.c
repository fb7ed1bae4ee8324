/* A world's learner in the viewer: the training stream with the person's sequences
 * mixed in, the trainer on its own thread (paused and stopped through sj_train's
 * per-step callback), and an analysis thread that evaluates weight snapshots for the
 * plots, so that neither the window nor the trainer waits for the other.
 *
 * Mixing the person's sequences in depends on when they act, so training in the viewer
 * is not bit-reproducible (`seqjepa train` is).
 *
 * Over 700 lines on purpose: the trainer thread and the analysis thread share the
 * learner's private state under one lock; split, that state would have to be exported. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "data/rollout.h"
#include "data/stream.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/progress.h"
#include "core/quat.h"
#include "core/safetensors.h"
#include "nn/nn.h"
#include "model/probe.h"
#include "run/steps.h"
#include "model/sj_model.h"
#include "model/sj_train.h"
#include "run/pipeline.h"
#include "viewer/viewer_impl.h"

#define RING_SEQS     64  /* recent training sequences the plots analyse */
#define RING_PER_STEP 4   /* sequences taken from each batch */
#define SNAP_PERIOD   0.5 /* seconds between weight snapshots at least */
#define AN_DUTY       0.3 /* share of one core the analysis may take at most */
#define TRAIN_NICE    10  /* thread priorities below the window's (nice 0) */
#define ANALYSIS_NICE 5
#define CURVE_MAX     2048
#define AN_CHUNK      32 /* sequences per eval pass */
#define PI_MIN_SEQS   16 /* before the path-integration probe is fitted */

/* The analysis thread's own copies and results. Per snapshot: the recent training
 * sequences' encodings, aggregates, PCA axes and the path-integration probe; per change
 * of the person's sequence: its encodings (cached by view), prediction and projections. */
typedef struct {
    SjModel *m;
    int64_t snap_step;
    uint64_t snap_ver;
    int ring_n;
    uint8_t *ring_px;
    float *ring_act, *ring_lat;
    int32_t *ring_lab;
    float *ring_z, *ring_agg, *zb, *ab, *pi_x, *pi_y, *pi_p;
    double *ring_zpc, *ring_aggpc;
    int axes_z, axes_agg;
    double *mu_z, *pc_z, *mu_agg, *pc_agg;
    SjLinearProbe pi;
    int pi_ready, pi_n;
    double pi_r2;
    /* the person's sequence */
    int user_n, user_label;
    uint64_t user_serial; /* serial of its first view */
    uint8_t *user_px;
    float *user_act, *user_lat, *user_z, user_agg[4096], zhat[4096], ztgt[4096];
    double user_zpc[2 * 80], user_aggpc[2];
    /* encodings by view serial, valid for cache_ver's snapshot */
    uint64_t cache_ver, *cache_serial;
    int cache_n;
    float *cache_z;
    /* results for publishing */
    double cos;
    int cos_m, have_agg, pi_valid;
    float pi_est[ENV_MAX_DIM], pi_true[ENV_MAX_DIM];
} Analysis;

struct RvLearner {
    RdViewerWorld w;
    SjModelConfig mcfg;
    SjOptimConfig ocfg;
    int threads, init_runtime;
    EnvSpec spec;
    int B, M, T, A, NL, D, E;
    size_t vpx; /* bytes per view */
    AgStream *stream;
    pthread_t train_th, an_th;
    int train_started, an_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* trainer: pause, runtime ready */
    pthread_cond_t an_cv; /* analysis: new work or stop */
    int paused, stop, an_stop, runtime_ready; /* stop: the window closed (waits end) */
    RunSteps steps;                           /* the trainer's step callback and stop */
    int64_t steps_run;
    /* data source */
    uint8_t *mix_px;
    float *mix_act;
    int32_t *mix_lab;
    float *probe_tgt; /* [B, T-1, A]: the on-line action probe's targets (pl_batch) */
    uint8_t *user_px;
    float *user_act, *user_lat;
    int user_n, user_label;
    uint64_t user_ver, user_mixed_ver;
    uint8_t *ring_px;
    float *ring_act, *ring_lat;
    int32_t *ring_lab;
    int ring_n, ring_next;
    /* snapshots and loads */
    SjModel *staged;
    int64_t staged_step;
    uint64_t staged_ver;
    double snap_due; /* the analysis asks for the next snapshot from then on */
    char load_path[1024];
    int load_pending;
    int start_ckpt; /* the snapshot holds --ckpt: the trainer's model starts from it */
    uint64_t user_serial;
    /* curves: points average `group` steps; pending sums fill the next point */
    int group, pend_n;
    double pend_x, pend_y;
    double t_prev;
    int prev_paused;
    /* what the plots show (under mu) */
    RvPlots pub;
    uint64_t version;
    char ckpt[1100];
    Analysis an;
};

/* ---------------------------------------------------------------- plots storage */

static void *grow(void *p, int *cap, int need, size_t elem) {
    if (need <= *cap) return p;
    int c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    return wm_realloc(p, (size_t)c, elem);
}

void rv_plots_free(RvPlots *p) {
    wm_free(p->loss_x), wm_free(p->loss_y), wm_free(p->probe_x), wm_free(p->probe_top1),
        wm_free(p->probe_r2);
    wm_free(p->z_pc), wm_free(p->z_col), wm_free(p->agg_pc), wm_free(p->agg_label);
    memset(p, 0, sizeof *p);
}

static void copy_bytes(void *dst, const void *src, size_t n) {
    if (n) memcpy(dst, src, n);
}

/* Copies src's scalars and arrays into dst, growing dst's arrays. */
static void plots_copy(RvPlots *dst, const RvPlots *src) {
    int cl = dst->cap_loss, cl2 = dst->cap_loss, cp = dst->cap_probe, cp2 = cp, cp3 = cp;
    dst->loss_x = grow(dst->loss_x, &cl, src->n_loss, sizeof(double));
    dst->loss_y = grow(dst->loss_y, &cl2, src->n_loss, sizeof(double));
    dst->probe_x = grow(dst->probe_x, &cp, src->n_probe, sizeof(double));
    dst->probe_top1 = grow(dst->probe_top1, &cp2, src->n_probe, sizeof(double));
    dst->probe_r2 = grow(dst->probe_r2, &cp3, src->n_probe, sizeof(double));
    int cz = dst->cap_z, cz2 = cz, ca = dst->cap_agg, ca2 = ca;
    dst->z_pc = grow(dst->z_pc, &cz, 2 * src->n_z, sizeof(double));
    dst->z_col = grow(dst->z_col, &cz2, 2 * src->n_z, sizeof(WmColor));
    dst->agg_pc = grow(dst->agg_pc, &ca, 2 * src->n_agg, sizeof(double));
    dst->agg_label = grow(dst->agg_label, &ca2, 2 * src->n_agg, sizeof(int));
    RvPlots keep = *dst;
    *dst = *src;
    dst->loss_x = keep.loss_x, dst->loss_y = keep.loss_y, dst->probe_x = keep.probe_x;
    dst->probe_top1 = keep.probe_top1, dst->probe_r2 = keep.probe_r2, dst->z_pc = keep.z_pc;
    dst->z_col = keep.z_col, dst->agg_pc = keep.agg_pc, dst->agg_label = keep.agg_label;
    dst->cap_loss = cl, dst->cap_probe = cp, dst->cap_z = cz, dst->cap_agg = ca;
    copy_bytes(dst->loss_x, src->loss_x, (size_t)src->n_loss * sizeof(double));
    copy_bytes(dst->loss_y, src->loss_y, (size_t)src->n_loss * sizeof(double));
    copy_bytes(dst->probe_x, src->probe_x, (size_t)src->n_probe * sizeof(double));
    copy_bytes(dst->probe_top1, src->probe_top1, (size_t)src->n_probe * sizeof(double));
    copy_bytes(dst->probe_r2, src->probe_r2, (size_t)src->n_probe * sizeof(double));
    copy_bytes(dst->z_pc, src->z_pc, (size_t)src->n_z * 2 * sizeof(double));
    copy_bytes(dst->z_col, src->z_col, (size_t)src->n_z * sizeof(WmColor));
    copy_bytes(dst->agg_pc, src->agg_pc, (size_t)src->n_agg * 2 * sizeof(double));
    copy_bytes(dst->agg_label, src->agg_label, (size_t)src->n_agg * sizeof(int));
}

/* Appends one step to the loss curve; past CURVE_MAX points, neighbours merge and
 * each point then averages twice as many steps. */
static void curve_add(RvLearner *l, double x, double y) {
    RvPlots *p = &l->pub;
    l->pend_x += x, l->pend_y += y, l->pend_n++;
    if (l->pend_n < l->group) return;
    if (p->n_loss == CURVE_MAX) {
        for (int i = 0; i < CURVE_MAX / 2; i++) {
            p->loss_x[i] = 0.5 * (p->loss_x[2 * i] + p->loss_x[2 * i + 1]);
            p->loss_y[i] = 0.5 * (p->loss_y[2 * i] + p->loss_y[2 * i + 1]);
        }
        p->n_loss = CURVE_MAX / 2;
        l->group *= 2;
    }
    p->loss_x[p->n_loss] = l->pend_x / l->pend_n;
    p->loss_y[p->n_loss] = l->pend_y / l->pend_n;
    p->n_loss++;
    l->pend_x = l->pend_y = 0, l->pend_n = 0;
}

static void probe_add(RvLearner *l, double x, double top1, double r2) {
    RvPlots *p = &l->pub;
    int c1 = p->cap_probe, c2 = c1, c3 = c1;
    p->probe_x = grow(p->probe_x, &c1, p->n_probe + 1, sizeof(double));
    p->probe_top1 = grow(p->probe_top1, &c2, p->n_probe + 1, sizeof(double));
    p->probe_r2 = grow(p->probe_r2, &c3, p->n_probe + 1, sizeof(double));
    p->cap_probe = c1;
    p->probe_x[p->n_probe] = x, p->probe_top1[p->n_probe] = top1, p->probe_r2[p->n_probe] = r2;
    p->n_probe++;
}

/* ---------------------------------------------------------------- checkpoints */

/* What the plots say of a checkpoint loaded at step. */
static void note_loaded(RvPlots *p, const char *path, int64_t step) {
    snprintf(p->note, sizeof p->note, "L: loaded %.280s", path);
    snprintf(p->loaded, sizeof p->loaded, "%.290s", path);
    p->loaded_at = step;
}

/* Under mu: a load requested with rv_learner_load, into m (the training model) or, when
 * m is NULL, into the snapshot alone. */
static void apply_load(RvLearner *l, SjModel *m, int64_t step) {
    char err[600];
    int rc = sj_ckpt_load_into(m ? m : l->staged, l->load_path, err, sizeof err);
    if (rc) {
        snprintf(l->pub.note, sizeof l->pub.note, "L: %.300s", err);
    } else {
        note_loaded(&l->pub, l->load_path, step);
        if (m) sj_model_copy_weights(l->staged, m);
        l->staged_step = step;
        l->staged_ver++;
        pthread_cond_broadcast(&l->an_cv);
    }
    l->load_pending = 0;
    l->version++;
}

/* ---------------------------------------------------------------- trainer */

/* Under mu: count sequences of batch b (from sequence step * count on) into the ring of
 * recent training sequences the plots analyse. */
static void ring_add(RvLearner *l, const AgBatch *b, int64_t step, int count) {
    size_t T = (size_t)l->T, A = (size_t)l->A, NL = (size_t)l->NL, vpx = l->vpx;
    for (int j = 0; j < count && j < b->n; j++) {
        size_t i = (size_t)((step * count + j) % b->n), r = (size_t)l->ring_next;
        memcpy(l->ring_px + r * T * vpx, b->pixels + i * T * vpx, T * vpx);
        memcpy(l->ring_act + r * (T - 1) * A, b->actions + i * (T - 1) * A, (T - 1) * A * sizeof(float));
        memcpy(l->ring_lat + r * T * NL, b->latents + i * T * NL, T * NL * sizeof(float));
        l->ring_lab[r] = b->labels[i];
        l->ring_next = (l->ring_next + 1) % RING_SEQS;
        if (l->ring_n < RING_SEQS) l->ring_n++;
    }
}

static int src_next(void *ctx, int64_t step, SjBatch *out, char *err, size_t errsz) {
    RvLearner *l = ctx;
    const AgBatch *b = NULL; /* taken while paused before the first step */
    pthread_mutex_lock(&l->mu);
    if (l->paused && !l->stop && l->steps_run == 0) {
        /* Paused before the first step: the plots analyse the first batch (as many of its
         * sequences as the ring holds) with the starting weights (--ckpt loaded by now)
         * while the trainer waits here; afterwards the step callback waits. */
        pthread_mutex_unlock(&l->mu);
        if (!(b = ag_stream_next(l->stream, step, err, errsz))) return WM_ERR_ARG;
        pthread_mutex_lock(&l->mu);
        ring_add(l, b, 0, RING_SEQS);
        l->staged_ver++; /* the same weights, analysed again with the ring filled */
        pthread_cond_broadcast(&l->an_cv);
        while (l->paused && !l->stop && l->steps_run == 0) {
            l->pub.state = RV_PAUSED;
            l->version++;
            pthread_cond_wait(&l->cv, &l->mu);
        }
    }
    const int ring_filled = b != NULL, stop = l->stop && l->steps_run == 0;
    pthread_mutex_unlock(&l->mu);
    if (stop) {
        if (b) ag_stream_release(l->stream);
        return wm_errf(err, errsz, WM_ERR_INTERRUPTED, "closed before the first step");
    }
    if (!b && !(b = ag_stream_next(l->stream, step, err, errsz))) return WM_ERR_ARG;
    size_t T = (size_t)l->T, A = (size_t)l->A, vpx = l->vpx;
    *out = pl_batch(&l->spec, b, l->probe_tgt); /* the trainer's own buffer: no lock */
    pthread_mutex_lock(&l->mu);
    if (!ring_filled) ring_add(l, b, step, RING_PER_STEP);
    /* The person's latest full sequence replaces the batch's last one, once. */
    int mix = l->user_n == l->T && l->user_ver != l->user_mixed_ver;
    if (mix) {
        size_t n = (size_t)b->n, last = n - 1;
        memcpy(l->mix_px, b->pixels, n * T * vpx);
        memcpy(l->mix_act, b->actions, n * (T - 1) * A * sizeof(float));
        memcpy(l->mix_lab, b->labels, n * sizeof(int32_t));
        memcpy(l->mix_px + last * T * vpx, l->user_px, T * vpx);
        memcpy(l->mix_act + last * (T - 1) * A, l->user_act, (T - 1) * A * sizeof(float));
        l->mix_lab[last] = l->user_label;
        env_equiv_targets(&l->spec, l->user_lat, l->user_act, 1, l->T, l->probe_tgt + last * (T - 1) * A);
        l->user_mixed_ver = l->user_ver;
        l->pub.mixed++;
        out->pixels = l->mix_px, out->actions = l->mix_act, out->labels = l->mix_lab;
    }
    pthread_mutex_unlock(&l->mu);
    return WM_OK;
}

static void src_release(void *ctx) {
    ag_stream_release(((RvLearner *)ctx)->stream);
}

static void snapshot(RvLearner *l, SjModel *m, int64_t step) {
    sj_model_copy_weights(l->staged, m);
    l->staged_step = step;
    l->staged_ver++;
    l->snap_due = INFINITY; /* until the analysis is ready for another */
    pthread_cond_broadcast(&l->an_cv);
}

/* Before the first step: --ckpt (read into the snapshot at start) and a load asked for
 * since go into the model now, so that the first step already trains them. */
static int on_begin(void *ctx, SjModel *m, int64_t start, int64_t total, char *err, size_t errsz) {
    RvLearner *l = ctx;
    (void)total, (void)err, (void)errsz;
    pthread_mutex_lock(&l->mu);
    if (l->start_ckpt) sj_model_copy_weights(m, l->staged), l->start_ckpt = 0;
    if (l->load_pending) apply_load(l, m, start);
    pthread_mutex_unlock(&l->mu);
    return WM_OK;
}

/* The plots' observer of the trainer's steps (run/steps.h); the window's Esc ends the
 * run through run_stop_ask. */
static void on_step(void *ctx, SjModel *m, const SjStepInfo *in) {
    RvLearner *l = ctx;
    double now = wm_now();
    pthread_mutex_lock(&l->mu);
    l->steps_run = in->step;
    RvPlots *p = &l->pub;
    p->state = RV_TRAINING, p->step = in->step, p->total = in->total;
    if (l->t_prev > 0 && !l->prev_paused) {
        double sps = l->B / fmax(now - l->t_prev, 1e-6);
        p->seq_per_s = p->seq_per_s > 0 ? 0.8 * p->seq_per_s + 0.2 * sps : sps;
    }
    l->prev_paused = 0;
    curve_add(l, (double)in->step, in->loss);
    if (in->logged) probe_add(l, (double)in->step, in->probe_top1, in->probe_r2);
    if (l->load_pending) apply_load(l, m, in->step);
    if (now >= l->snap_due || in->step == in->total) snapshot(l, m, in->step);
    l->version++;
    while (l->paused && !l->stop) {
        p->state = RV_PAUSED;
        l->prev_paused = 1;
        l->version++;
        pthread_cond_wait(&l->cv, &l->mu);
        if (l->load_pending) apply_load(l, m, in->step);
    }
    if (!l->stop) p->state = RV_TRAINING;
    l->t_prev = wm_now();
    pthread_mutex_unlock(&l->mu);
}

/* The window must not wait for the CPU behind training: the trainer (and the compute
 * threads it starts, which inherit this) and the analysis run at a lower priority and
 * take whatever the window leaves. Linux keeps a nice value per thread. */
static void lower_priority(int nice) {
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) != 0)
        wm_debug("view: could not lower a thread's priority");
}

static void *train_main(void *arg) {
    RvLearner *l = arg;
    lower_priority(TRAIN_NICE);
    if (l->init_runtime) nn_runtime_init(l->threads);
    pthread_mutex_lock(&l->mu);
    l->runtime_ready = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    SjTrainSetup su = {.model = l->mcfg,
                       .optim = l->ocfg,
                       .train = l->w.train,
                       .shape = {l->spec.height, l->spec.width, l->A, l->spec.n_classes},
                       .config_text = l->w.config_text,
                       };
    RunSinks sinks;
    run_steps_standard(&l->steps, &sinks, &l->w.train, 1);
    run_steps_observe(&l->steps, (RunObserver){.begin = on_begin, .step = on_step, .ctx = l});
    run_steps_attach(&l->steps, &su);
    SjSource src = {src_next, src_release, l};
    SjTrainResult res;
    char err[512] = "";
    int rc = sj_train_run(&su, &src, &res, err, sizeof err);
    pthread_mutex_lock(&l->mu);
    l->pub.state = rc ? RV_FAILED : RV_DONE;
    if (rc && rc != WM_ERR_INTERRUPTED) {
        snprintf(l->pub.note, sizeof l->pub.note, "training stopped: %.290s", err);
        wm_log(WM_LOG_ERROR, "view: training stopped: %s", err);
    }
    /* A checkpoint exists when the run ended well, or from before a failure. */
    if (res.steps_done > 0) snprintf(l->ckpt, sizeof l->ckpt, "%s", res.checkpoint);
    l->version++;
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---------------------------------------------------------------- analysis */

static WmColor latent_color(const RvLearner *l, const float *lat) {
    if (l->spec.layout.family == ENV_FAMILY_OBJECT) { /* the rotation part of the state */
        const float *r = lat + l->spec.layout.lat_rot;
        double q[4] = {r[0], r[1], r[2], r[3]};
        wm_quat_normalize(q);
        return wm_colormap(wm_quat_angle(q) / M_PI);
    }
    /* fixation (y, x): x runs red, y runs blue */
    double y = fmin(fmax(lat[0], 0), 1), x = fmin(fmax(lat[1], 0), 1);
    return (WmColor){(uint8_t)(40 + 215 * x), 70, (uint8_t)(40 + 215 * y)};
}

/* z_AGG of n sequences whose encodings are rows s*T + i of z (views 0..m-1 observed)
 * and whose actions are rows of act (T-1 per sequence), in chunks of AN_CHUNK. */
static void aggregate_rows(RvLearner *l, Analysis *a, const float *z, const float *act, int n,
                           int m, float *agg) {
    size_t D = (size_t)l->D, A = (size_t)l->A, T = (size_t)l->T, E = (size_t)l->E;
    for (int s0 = 0; s0 < n; s0 += AN_CHUNK) {
        int k = n - s0 < AN_CHUNK ? n - s0 : AN_CHUNK;
        for (int s = 0; s < k; s++) {
            memcpy(a->zb + (size_t)s * (size_t)m * D, z + (size_t)(s0 + s) * T * D,
                   (size_t)m * D * sizeof(float));
            if (m > 1)
                memcpy(a->ab + (size_t)s * (size_t)(m - 1) * A,
                       act + (size_t)(s0 + s) * (T - 1) * A, (size_t)(m - 1) * A * sizeof(float));
        }
        sj_model_aggregate(a->m, a->zb, a->ab, k, m, 0, agg + (size_t)s0 * E);
    }
}

/* Per snapshot: the recent training sequences' encodings, aggregates, PCA axes and the
 * path-integration probe. */
static void analyse_ring(RvLearner *l, Analysis *a) {
    int n = a->ring_n, T = l->T, M = l->M, A = l->A, D = l->D, E = l->E;
    size_t din = (size_t)E + (size_t)A;
    a->pi_ready = 0, a->axes_z = a->axes_agg = 0;
    if (n == 0) return;
    sj_model_encode(a->m, a->ring_px, n * T, a->ring_z);
    aggregate_rows(l, a, a->ring_z, a->ring_act, n, M, a->ring_agg);
    if (n >= PI_MIN_SEQS) {
        for (int s = 0; s < n; s++) {
            const float *act = a->ring_act + (size_t)s * (size_t)(T - 1) * (size_t)A;
            memcpy(a->pi_x + (size_t)s * din, a->ring_agg + (size_t)s * (size_t)E,
                   (size_t)E * sizeof(float));
            memcpy(a->pi_x + (size_t)s * din + E, act + (size_t)(M - 1) * (size_t)A,
                   (size_t)A * sizeof(float));
            env_compose_actions(&l->w.env, A, act, M, a->pi_y + (size_t)s * (size_t)A);
        }
        sj_probe_free(&a->pi);
        if (sj_ridge_fit(&a->pi, a->pi_x, a->pi_y, (size_t)n, (int)din, A) == 0) {
            sj_probe_predict(&a->pi, a->pi_x, (size_t)n, a->pi_p);
            a->pi_r2 = sj_r2_score(a->pi_y, a->pi_p, (size_t)n, A);
            a->pi_ready = 1, a->pi_n = n;
        }
    }
    if (n * T >= 3) {
        sj_pca2_axes(a->ring_z, (size_t)n * (size_t)T, D, a->mu_z, a->pc_z);
        sj_pca2_project(a->ring_z, (size_t)n * (size_t)T, D, a->mu_z, a->pc_z, a->ring_zpc);
        a->axes_z = 1;
    }
    if (n >= 3) {
        sj_pca2_axes(a->ring_agg, (size_t)n, E, a->mu_agg, a->pc_agg);
        sj_pca2_project(a->ring_agg, (size_t)n, E, a->mu_agg, a->pc_agg, a->ring_aggpc);
        a->axes_agg = 1;
    }
}

/* Per change of the person's sequence: encodings (each view once per snapshot), the
 * predicted-vs-target cosine of its last view, its path-integration estimate, and its
 * place in the PCA planes. */
static void analyse_user(RvLearner *l, Analysis *a) {
    int k = a->user_n, T = l->T, M = l->M, A = l->A, D = l->D, E = l->E;
    if (a->cache_ver != a->snap_ver) a->cache_n = 0, a->cache_ver = a->snap_ver;
    for (int i = 0; i < k; i++) {
        uint64_t serial = a->user_serial + (uint64_t)i;
        int hit = -1;
        for (int c = 0; c < a->cache_n; c++)
            if (a->cache_serial[c] == serial) hit = c;
        float *z = a->user_z + (size_t)i * (size_t)D;
        if (hit >= 0)
            memcpy(z, a->cache_z + (size_t)hit * (size_t)D, (size_t)D * sizeof(float));
        else
            sj_model_encode(a->m, a->user_px + (size_t)i * l->vpx, 1, z);
    }
    /* keep exactly the current views */
    for (int i = 0; i < k; i++)
        a->cache_serial[i] = a->user_serial + (uint64_t)i;
    memcpy(a->cache_z, a->user_z, (size_t)k * (size_t)D * sizeof(float));
    a->cache_n = k;
    int m = k - 1;
    a->cos = NAN, a->cos_m = 0, a->have_agg = 0, a->pi_valid = 0;
    if (k >= 2) {
        if (m > 1) memcpy(a->ab, a->user_act, (size_t)(m - 1) * (size_t)A * sizeof(float));
        sj_model_aggregate(a->m, a->user_z, a->ab, 1, m, 0, a->user_agg);
        sj_model_predict(a->m, a->user_agg, a->user_act + (size_t)(m - 1) * (size_t)A, 1, a->zhat);
        sj_model_encode_target(a->m, a->user_px + (size_t)m * l->vpx, 1, a->ztgt);
        double dot = 0, na = 0, nb = 0;
        for (int j = 0; j < D; j++)
            dot += (double)a->zhat[j] * a->ztgt[j], na += (double)a->zhat[j] * a->zhat[j],
                nb += (double)a->ztgt[j] * a->ztgt[j];
        a->cos = dot / fmax(sqrt(na * nb), 1e-12), a->cos_m = m;
        a->have_agg = m == M;
    }
    if (a->have_agg && a->pi_ready) {
        float x[4096 + ENV_MAX_DIM];
        memcpy(x, a->user_agg, (size_t)E * sizeof(float));
        memcpy(x + E, a->user_act + (size_t)(M - 1) * (size_t)A, (size_t)A * sizeof(float));
        sj_probe_predict(&a->pi, x, 1, a->pi_est);
        env_compose_actions(&l->w.env, A, a->user_act, M, a->pi_true);
        a->pi_valid = 1;
    }
    if (a->axes_z) sj_pca2_project(a->user_z, (size_t)k, D, a->mu_z, a->pc_z, a->user_zpc);
    if (a->axes_agg && a->have_agg)
        sj_pca2_project(a->user_agg, 1, E, a->mu_agg, a->pc_agg, a->user_aggpc);
    (void)T;
}

/* Under mu: the analysis into what the plots show. */
static void publish(RvLearner *l, Analysis *a) {
    RvPlots *p = &l->pub;
    int n = a->ring_n, T = l->T, k = a->user_n;
    p->snap_step = a->snap_step;
    p->n_z = p->n_z_user = 0;
    if (a->axes_z) {
        p->n_z = n * T + k, p->n_z_user = k;
        memcpy(p->z_pc, a->ring_zpc, (size_t)n * (size_t)T * 2 * sizeof(double));
        memcpy(p->z_pc + (size_t)n * (size_t)T * 2, a->user_zpc, (size_t)k * 2 * sizeof(double));
        for (int i = 0; i < p->n_z; i++)
            p->z_col[i] =
                latent_color(l, i < n * T ? a->ring_lat + (size_t)i * (size_t)l->NL
                                          : a->user_lat + (size_t)(i - n * T) * (size_t)l->NL);
    }
    p->n_agg = p->agg_user = 0;
    if (a->axes_agg) {
        p->agg_user = a->have_agg;
        p->n_agg = n + p->agg_user;
        memcpy(p->agg_pc, a->ring_aggpc, (size_t)n * 2 * sizeof(double));
        if (p->agg_user) memcpy(p->agg_pc + (size_t)n * 2, a->user_aggpc, 2 * sizeof(double));
        for (int i = 0; i < p->n_agg; i++)
            p->agg_label[i] = i < n ? a->ring_lab[i] : a->user_label;
    }
    p->cos = a->cos, p->cos_m = a->cos_m;
    p->pi_valid = a->pi_valid, p->pi_dim = l->A;
    if (a->pi_valid)
        memcpy(p->pi_est, a->pi_est, sizeof a->pi_est),
            memcpy(p->pi_true, a->pi_true, sizeof a->pi_true);
    p->pi_fit_n = a->pi_ready ? a->pi_n : 0, p->pi_fit_r2 = a->pi_ready ? a->pi_r2 : NAN;
    l->version++;
}

static void *an_main(void *arg) {
    RvLearner *l = arg;
    lower_priority(ANALYSIS_NICE);
    Analysis *a = &l->an;
    uint64_t seen_user = 0;
    size_t T = (size_t)l->T, A = (size_t)l->A, NL = (size_t)l->NL;
    double user_due = 0; /* the analysis keeps to AN_DUTY of a core */
    pthread_mutex_lock(&l->mu);
    for (;;) {
        int new_snap = l->staged_ver != a->snap_ver, new_user = l->user_ver != seen_user;
        if (l->an_stop) break;
        if (!new_snap && !(new_user && wm_now() >= user_due)) {
            if (new_user) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                double wait = user_due - wm_now() + 1e-4;
                ts.tv_sec += (time_t)wait;
                ts.tv_nsec += (long)((wait - floor(wait)) * 1e9);
                if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
                pthread_cond_timedwait(&l->an_cv, &l->mu, &ts);
            } else {
                pthread_cond_wait(&l->an_cv, &l->mu);
            }
            continue;
        }
        if (new_snap) {
            sj_model_copy_weights(a->m, l->staged);
            a->snap_step = l->staged_step, a->snap_ver = l->staged_ver;
            a->ring_n = l->ring_n;
            size_t n = (size_t)l->ring_n;
            memcpy(a->ring_px, l->ring_px, n * T * l->vpx);
            memcpy(a->ring_act, l->ring_act, n * (T - 1) * A * sizeof(float));
            memcpy(a->ring_lat, l->ring_lat, n * T * NL * sizeof(float));
            memcpy(a->ring_lab, l->ring_lab, n * sizeof(int32_t));
        }
        a->user_n = l->user_n, a->user_label = l->user_label, a->user_serial = l->user_serial;
        memcpy(a->user_px, l->user_px, (size_t)l->user_n * l->vpx);
        if (l->user_n > 1)
            memcpy(a->user_act, l->user_act, (size_t)(l->user_n - 1) * A * sizeof(float));
        memcpy(a->user_lat, l->user_lat, (size_t)l->user_n * NL * sizeof(float));
        seen_user = l->user_ver;
        pthread_mutex_unlock(&l->mu);
        double t0 = wm_now();
        if (new_snap) analyse_ring(l, a);
        analyse_user(l, a);
        double t1 = wm_now(), busy = t1 - t0;
        pthread_mutex_lock(&l->mu);
        publish(l, a);
        if (new_snap) l->snap_due = t1 + fmax(SNAP_PERIOD, busy / AN_DUTY - busy);
        user_due = t1 + busy / AN_DUTY - busy;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---------------------------------------------------------------- life cycle */

static void learner_free(RvLearner *l) {
    Analysis *a = &l->an;
    sj_model_destroy(a->m);
    sj_model_destroy(l->staged);
    sj_probe_free(&a->pi);
    void *bufs[] = {l->mix_px,   l->mix_act,      l->mix_lab,  l->probe_tgt,  l->user_px,    l->user_act,
                    l->user_lat, l->ring_px,      l->ring_act, l->ring_lat,   l->ring_lab,
                    a->ring_px,  a->ring_act,     a->ring_lat, a->ring_lab,   a->ring_z,
                    a->ring_agg, a->zb,           a->ab,       a->pi_x,       a->pi_y,
                    a->pi_p,     a->user_px,      a->user_act, a->user_lat,   a->user_z,
                    a->cache_z,  a->cache_serial, a->ring_zpc, a->ring_aggpc, a->mu_z,
                    a->pc_z,     a->mu_agg,       a->pc_agg};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        wm_free(bufs[i]);
    rv_plots_free(&l->pub);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    pthread_cond_destroy(&l->an_cv);
    wm_free(l);
}

int rv_learner_start(const RdViewerWorld *w, const SjModelConfig *model, const SjOptimConfig *optim, int threads,
                     int init_runtime, int paused, const char *ckpt, RvLearner **out, char *err, size_t errsz) {
    *out = NULL;
    RvLearner *l = wm_new(RvLearner, 1);
    l->w = *w, l->mcfg = *model, l->ocfg = *optim;
    l->threads = threads, l->init_runtime = init_runtime, l->paused = paused;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    pthread_cond_init(&l->an_cv, NULL);
    l->B = w->train.batch, l->M = w->train.m_train, l->T = l->M + 1;
    int rc = ag_stream_create(&w->env, &w->agent, l->B, l->T, l->B < 64 ? l->B : 64, w->pipe.queue,
                              (uint64_t)w->train.seed, ENV_SPLIT_TRAIN, &l->stream, err, errsz);
    if (rc) {
        learner_free(l);
        return rc;
    }
    l->spec = *ag_stream_spec(l->stream);
    l->A = l->spec.action_dim, l->NL = l->spec.latent_dim;
    l->vpx = (size_t)l->spec.height * (size_t)l->spec.width * 3;
    SjShape shape = {l->spec.height, l->spec.width, l->A, l->spec.n_classes};
    /* Built from the trainer's seed, the snapshot starts as the trainer's model does. */
    Analysis *a = &l->an;
    rc = sj_model_create(model, &shape, (uint64_t)w->train.seed, &l->staged, err, errsz);
    if (!rc) rc = sj_model_create(model, &shape, (uint64_t)w->train.seed, &a->m, err, errsz);
    /* --ckpt is read here, once: a file that does not fit the config ends the start with
     * its reason instead of a note in a window that trains an untrained model. */
    if (!rc && ckpt && (rc = sj_ckpt_load_into(l->staged, ckpt, err, errsz))) wm_err_prefix(err, errsz, rc, "--ckpt: ");
    if (!rc) {
        l->D = sj_model_enc_dim(a->m), l->E = sj_model_agg_dim(a->m);
        if (l->E > 4096 || l->D > 4096)
            rc = wm_errf(err, errsz, WM_ERR_ARG, "view: the plots handle tokens up to 4096 wide (this model: %d)",
                         l->E);
    }
    if (rc) {
        ag_stream_destroy(l->stream);
        learner_free(l);
        return rc;
    }
    sj_model_bind(a->m, AN_CHUNK, l->M, 0);
    size_t B = (size_t)l->B, T = (size_t)l->T, A = (size_t)l->A, NL = (size_t)l->NL, R = RING_SEQS;
    size_t D = (size_t)l->D, E = (size_t)l->E, vpx = l->vpx;
    l->mix_px = wm_new(uint8_t, B * T * vpx), l->mix_act = wm_new(float, B *(T - 1) * A);
    l->mix_lab = wm_new(int32_t, B), l->probe_tgt = wm_new(float, B * (T - 1) * A);
    l->user_px = wm_new(uint8_t, T * vpx), l->user_act = wm_new(float, T *A),
    l->user_lat = wm_new(float, T *NL);
    l->ring_px = wm_new(uint8_t, R * T * vpx), l->ring_act = wm_new(float, R *T *A);
    l->ring_lat = wm_new(float, R *T *NL), l->ring_lab = wm_new(int32_t, R);
    a->ring_px = wm_new(uint8_t, R * T * vpx), a->ring_act = wm_new(float, R *T *A);
    a->ring_lat = wm_new(float, R *T *NL), a->ring_lab = wm_new(int32_t, R);
    a->ring_z = wm_new(float, R *T *D), a->ring_agg = wm_new(float, R *E);
    a->zb = wm_new(float, AN_CHUNK *T *D), a->ab = wm_new(float, AN_CHUNK *T *A);
    a->pi_x = wm_new(float, R *(E + A)), a->pi_y = wm_new(float, R *A),
    a->pi_p = wm_new(float, R *A);
    a->user_px = wm_new(uint8_t, T * vpx), a->user_act = wm_new(float, T *A),
    a->user_lat = wm_new(float, T *NL);
    a->user_z = wm_new(float, T *D);
    a->cache_z = wm_new(float, T *D), a->cache_serial = wm_new(uint64_t, T);
    a->ring_zpc = wm_new(double, 2 * R * T), a->ring_aggpc = wm_new(double, 2 * R);
    a->mu_z = wm_new(double, D), a->pc_z = wm_new(double, 2 * D), a->mu_agg = wm_new(double, E);
    a->pc_agg = wm_new(double, 2 * E);
    RvPlots *p = &l->pub;
    p->snap_step = -1, p->cos = NAN, p->pi_fit_r2 = NAN;
    p->total = w->train.inverse_steps + w->train.steps;
    p->loss_x = wm_new(double, CURVE_MAX), p->loss_y = wm_new(double, CURVE_MAX),
    p->cap_loss = CURVE_MAX;
    p->cap_z = (int)((R + 1) * T), p->cap_agg = (int)(R + 1);
    p->z_pc = wm_new(double, 2 * (size_t)p->cap_z), p->z_col = wm_new(WmColor, (size_t)p->cap_z);
    p->agg_pc = wm_new(double, 2 * (size_t)p->cap_agg),
    p->agg_label = wm_new(int, (size_t)p->cap_agg);
    l->group = 1;
    l->staged_ver = 1; /* the initial weights (--ckpt's) are the first snapshot */
    if (ckpt) l->start_ckpt = 1, note_loaded(p, ckpt, 0);
    l->snap_due = INFINITY;
    WM_ASSERT(pthread_create(&l->train_th, NULL, train_main, l) == 0);
    l->train_started = 1;
    /* The analysis makes nn calls, so it starts once the runtime is set up. */
    pthread_mutex_lock(&l->mu);
    while (!l->runtime_ready)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    WM_ASSERT(pthread_create(&l->an_th, NULL, an_main, l) == 0);
    l->an_started = 1;
    *out = l;
    return WM_OK;
}

int64_t rv_learner_stop(RvLearner *l, char *ckpt, size_t ckptsz) {
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    run_stop_ask(&l->steps);
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->train_th, NULL);
    ag_stream_destroy(l->stream);
    pthread_mutex_lock(&l->mu);
    l->an_stop = 1;
    pthread_cond_broadcast(&l->an_cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->an_th, NULL);
    int64_t steps = l->steps_run;
    if (ckpt) snprintf(ckpt, ckptsz, "%s", l->ckpt);
    learner_free(l);
    return steps;
}

void rv_learner_set_paused(RvLearner *l, int paused) {
    pthread_mutex_lock(&l->mu);
    l->paused = paused;
    pthread_cond_broadcast(&l->cv);
    l->version++;
    pthread_mutex_unlock(&l->mu);
}

void rv_learner_set_sequence(RvLearner *l, int n, uint64_t serial, const uint8_t *px,
                             const float *act, const float *lat, int label) {
    WM_ASSERT(n >= 0 && n <= l->T && n <= 80);
    pthread_mutex_lock(&l->mu);
    l->user_n = n, l->user_label = label, l->user_serial = serial;
    memcpy(l->user_px, px, (size_t)n * l->vpx);
    if (n > 1) memcpy(l->user_act, act, (size_t)(n - 1) * (size_t)l->A * sizeof(float));
    memcpy(l->user_lat, lat, (size_t)n * (size_t)l->NL * sizeof(float));
    l->user_ver++;
    pthread_cond_broadcast(&l->an_cv);
    pthread_mutex_unlock(&l->mu);
}

void rv_learner_load(RvLearner *l, const char *path) {
    pthread_mutex_lock(&l->mu);
    snprintf(l->load_path, sizeof l->load_path, "%s", path);
    int st = l->pub.state;
    if (st == RV_DONE || st == RV_FAILED || l->steps_run == 0) {
        /* No trainer step is coming (or none ran yet): the snapshot takes it now, and a
         * trainer that has not begun takes it before its first step (on_begin), one that
         * has begun after it. */
        apply_load(l, NULL, l->steps_run);
        if (st != RV_DONE && st != RV_FAILED && !strncmp(l->pub.note, "L: loaded", 9))
            l->load_pending = 1;
    } else {
        l->load_pending = 1;
        snprintf(l->pub.note, sizeof l->pub.note, "L: loading %.290s", path);
    }
    pthread_cond_broadcast(&l->cv);
    l->version++;
    pthread_mutex_unlock(&l->mu);
}

uint64_t rv_learner_version(RvLearner *l) {
    pthread_mutex_lock(&l->mu);
    uint64_t v = l->version;
    pthread_mutex_unlock(&l->mu);
    return v;
}

void rv_learner_fetch(RvLearner *l, RvPlots *out) {
    pthread_mutex_lock(&l->mu);
    plots_copy(out, &l->pub);
    pthread_mutex_unlock(&l->mu);
}
