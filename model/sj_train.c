/* The training loop, on-line probes, checkpoints and resumption (see sj_train.h). */
#include "model/sj_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/dist.h"
#include "core/err.h"
#include "core/fs.h"
#include "model/probe.h"
#include "model/sj_inverse.h"

/* The on-line probes: a linear classifier on z_AGG and a linear regressor of the
 * first relative action from the first two encodings (in the form the batch's
 * probe_targets give it: the evaluation's equivariance target), trained on detached features
 * with their own AdamW. Each batch is scored before the probes learn from it.
 *
 * With train.inverse_steps, the same registry also holds the inverse warm-up's head
 * (model/sj_inverse.h; after the probes' tensors, so that the probes' start does not
 * change), stepped by an AdamW of its own at the warm-up's rate; its moments are saved
 * with the probes', its step count is the warm-up steps done. */
typedef struct {
    NnParams p;
    NnStore s;
    NnLinearP cls, act;
    NnAdamW opt;
    int E, D, A, K, B;
    float *logits, *probs, *dlogits, *xin, *pred, *dpred, *target;
    /* interval accumulators */
    int64_t seen, correct;
    float *r2_y, *r2_p;
    size_t r2_n, r2_cap;
    /* the inverse warm-up's head (iv.H 0: none), after the probes in the registry */
    size_t n_probe; /* the probes' parameters: [0, n_probe) of the registry */
    SjInverse iv;
    NnAdamW inv_opt;
} Probes;

static void probes_init(Probes *pr, const SjModel *m, int B, double lr, int H, int views) {
    memset(pr, 0, sizeof *pr);
    pr->E = sj_model_agg_dim(m), pr->D = sj_model_enc_dim(m);
    pr->A = sj_model_shape(m)->action_dim, pr->K = sj_model_shape(m)->n_classes, pr->B = B;
    nn_params_init(&pr->p);
    pr->cls = nn_linear_register(&pr->p, "probe.cls", pr->E, pr->K, 1);
    pr->act = nn_linear_register(&pr->p, "probe.act", 2 * pr->D, pr->A, 1);
    pr->n_probe = pr->p.n_param;
    if (H > 0) {
        sj_inverse_register(&pr->iv, &pr->p, m, H, B, views);
        pr->inv_opt = nn_adamw_default(0, 0);
    }
    nn_store_create(&pr->s, &pr->p, NN_STORE_GRAD | NN_STORE_ADAM);
    WmRng r;
    wm_rng_seed(&r, 0, 0x9b0be);
    nn_store_init(&pr->s, &pr->p, &r);
    pr->opt = nn_adamw_default((float)lr, 0);
    size_t b = (size_t)B;
    pr->logits = wm_new(float, b * (size_t)pr->K);
    pr->probs = wm_new(float, b * (size_t)pr->K);
    pr->dlogits = wm_new(float, b * (size_t)pr->K);
    pr->xin = wm_new(float, b * 2 * (size_t)pr->D);
    pr->pred = wm_new(float, b * (size_t)pr->A);
    pr->dpred = wm_new(float, b * (size_t)pr->A);
    pr->target = wm_new(float, b * (size_t)pr->A);
}

static void probes_free(Probes *pr) {
    nn_store_free(&pr->s);
    nn_params_free(&pr->p);
    if (pr->iv.H) sj_inverse_free(&pr->iv);
    float *bufs[] = {pr->logits, pr->probs, pr->dlogits, pr->xin, pr->pred, pr->dpred, pr->target, pr->r2_y, pr->r2_p};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) wm_free(bufs[i]);
}

/* Adds n rows of targets y and predictions p [n, A] to the interval's R^2. */
static void r2_add(Probes *pr, const float *y, const float *p, size_t n) {
    size_t A = (size_t)pr->A;
    if (pr->r2_n + n > pr->r2_cap) {
        pr->r2_cap = 2 * (pr->r2_n + n);
        pr->r2_y = wm_realloc(pr->r2_y, pr->r2_cap * A, sizeof(float));
        pr->r2_p = wm_realloc(pr->r2_p, pr->r2_cap * A, sizeof(float));
    }
    memcpy(pr->r2_y + pr->r2_n * A, y, n * A * sizeof(float));
    memcpy(pr->r2_p + pr->r2_n * A, p, n * A * sizeof(float));
    pr->r2_n += n;
}

/* Scores the batch and adds the probes' gradients of its mean losses (the caller zeroes
 * them, sums them over the parts of a step and makes the step). */
static void probes_grad(Probes *pr, const SjStepOut *o, const SjBatch *b, int M) {
    int B = b->n;
    size_t D = (size_t)pr->D, A = (size_t)pr->A;
    const float *w = pr->s.param;
    nn_linear_forward(pr->logits, o->z_agg, w + pr->cls.w, w + pr->cls.b, B, pr->E, pr->K);
    pr->correct += (int64_t)(sj_top1(pr->logits, b->labels, (size_t)B, pr->K) * B + 0.5);
    pr->seen += B;
    nn_xent_forward(pr->probs, pr->logits, b->labels, B, pr->K);
    memset(pr->dlogits, 0, (size_t)B * (size_t)pr->K * sizeof(float));
    nn_xent_backward(pr->dlogits, 1.0f, pr->probs, b->labels, B, pr->K);
    nn_linear_backward(NULL, pr->s.grad + pr->cls.w, pr->s.grad + pr->cls.b, pr->dlogits, o->z_agg, w + pr->cls.w,
                       B, pr->E, pr->K);
    for (int i = 0; i < B; i++) {
        memcpy(pr->xin + (size_t)i * 2 * D, o->z + (size_t)i * (size_t)M * D, D * sizeof(float));
        const float *second = M >= 2 ? o->z + ((size_t)i * (size_t)M + 1) * D : o->z_tgt + (size_t)i * D;
        memcpy(pr->xin + (size_t)i * 2 * D + D, second, D * sizeof(float));
        const float *y = b->probe_targets ? b->probe_targets : b->actions;
        memcpy(pr->target + (size_t)i * A, y + (size_t)i * (size_t)(b->t - 1) * A, A * sizeof(float));
    }
    nn_linear_forward(pr->pred, pr->xin, w + pr->act.w, w + pr->act.b, B, 2 * pr->D, pr->A);
    r2_add(pr, pr->target, pr->pred, (size_t)B);
    memset(pr->dpred, 0, (size_t)B * A * sizeof(float));
    nn_mse_backward(pr->dpred, 1.0f, pr->pred, pr->target, (size_t)B * A);
    nn_linear_backward(NULL, pr->s.grad + pr->act.w, pr->s.grad + pr->act.b, pr->dpred, pr->xin, w + pr->act.w, B,
                       2 * pr->D, pr->A);
}

/* Interval metrics over every rank's sequences (each rank holds as many), then reset.
 * A collective: every rank calls it at the same step; the figures are rank 0's. */
static void probes_take(Probes *pr, double *acc, double *r2) {
    double c[2] = {(double)pr->correct, (double)pr->seen};
    wm_dist_sum_f64(c, 2);
    *acc = c[1] > 0 ? c[0] / c[1] : 0;
    int R = wm_dist_size();
    size_t n = pr->r2_n, A = (size_t)pr->A;
    if (R > 1) {
        float *y = wm_dist_rank() == 0 ? wm_new(float, (size_t)R * n * A) : NULL;
        float *p = wm_dist_rank() == 0 ? wm_new(float, (size_t)R * n * A) : NULL;
        wm_dist_gather_f32(pr->r2_y, n * A, y, 0);
        wm_dist_gather_f32(pr->r2_p, n * A, p, 0);
        *r2 = y && n * (size_t)R > 1 ? sj_r2_score(y, p, n * (size_t)R, pr->A) : 0;
        wm_free(y), wm_free(p);
    } else {
        *r2 = n > 1 ? sj_r2_score(pr->r2_y, pr->r2_p, n, pr->A) : 0;
    }
    pr->seen = pr->correct = 0;
    pr->r2_n = 0;
}

/* ---------------------------------------------------------------- checkpoints */

/* What a checkpoint keeps of the trainer besides the model: the probes and the
 * dropout stream. */
static SjCkptState ckpt_state(Probes *pr, WmRng *drop) {
    return (SjCkptState){&pr->p, &pr->s, &pr->opt.step, drop->s};
}

static SjCkptMeta ckpt_meta(const SjTrainSetup *su) {
    return (SjCkptMeta){su->config_text, su->command, su->model.pixel_mean, su->model.pixel_std, su->shape};
}

/* Whether train.m_min makes M vary from step to step. */
static int m_varies(const SjTrainConfig *tc) {
    return tc->m_min > 0 && tc->m_min < tc->m_train;
}

int sj_train_step_m(const SjTrainConfig *tc, int64_t step) {
    if (!m_varies(tc)) return tc->m_train;
    uint64_t span = (uint64_t)(tc->m_train - tc->m_min + 1);
    return tc->m_min + (int)(wm_seed_derive(wm_seed_derive((uint64_t)tc->seed, 0x6d6du), (uint64_t)step) % span);
}

int sj_train_split(const SjTrainConfig *tc, int ranks, int *local, char *err, size_t errsz) {
    if (tc->steps == 0 && tc->inverse_steps == 0)
        return wm_errf(err, errsz, WM_ERR_RANGE,
                       "train.steps = 0 with no warm-up trains nothing: give train.steps >= 1, or train.inverse_steps "
                       "for the inverse warm-up alone");
    if (tc->m_min > tc->m_train)
        return wm_errf(err, errsz, WM_ERR_RANGE, "train.m_min = %d is above train.m_train = %d: the observed views per step are drawn from m_min..m_train",
                       tc->m_min, tc->m_train);
    if (tc->ranks > 1 && !wm_dist_built())
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "train.ranks = %d: this seqjepa was built without MPI (mpicc was not found when it was "
                       "compiled), so it trains in one process; install libopenmpi-dev and openmpi-bin ('make deps' "
                       "as root), rebuild, and start it with mpirun -np %d, or set train.ranks = 0",
                       tc->ranks, tc->ranks);
    if (tc->ranks > 0 && tc->ranks != ranks)
        return wm_errf(err, errsz, WM_ERR_ARG, "train.ranks = %d, but this run has %d process%s (start it with mpirun -np %d, or set train.ranks = 0)",
                       tc->ranks, ranks, ranks > 1 ? "es" : "", tc->ranks);
    int parts = ranks * tc->ghost;
    if (tc->batch % parts || tc->batch / parts < 2)
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "train.batch = %d does not split into %d rank%s x %d ghost batch%s (train.ghost) of at least 2 "
                       "sequences each: batch-norm needs 2; use a batch that is a multiple of %d",
                       tc->batch, ranks, ranks > 1 ? "s" : "", tc->ghost, tc->ghost > 1 ? "es" : "", 2 * parts);
    *local = tc->batch / ranks;
    return WM_OK;
}

/* ---------------------------------------------------------------- ranks */

/* One step's sub-batch g of G. */
static SjBatch sub_batch(const SjBatch *b, int g, int G, const SjShape *sh) {
    int n = b->n / G;
    size_t px = (size_t)sh->img_h * (size_t)sh->img_w * 3, first = (size_t)g * (size_t)n;
    size_t act = first * (size_t)(b->t - 1) * (size_t)sh->action_dim;
    return (SjBatch){b->pixels + first * (size_t)b->t * px, b->actions + act, b->labels + first, n, b->t,
                     b->probe_targets ? b->probe_targets + act : NULL};
}

/* Running statistics and counters (online and target registries), which follow part 0. */
typedef struct {
    float *buf[2];
    int64_t *count[2];
    size_t nb[2], nc[2];
} Buffers;

static void buffers_init(Buffers *k, SjModel *m) {
    memset(k, 0, sizeof *k);
    for (int t = 0; t < 2; t++) {
        k->nb[t] = sj_model_params(m, t)->n_buffer, k->nc[t] = sj_model_params(m, t)->n_counter;
        k->buf[t] = wm_new(float, k->nb[t] + 1);
        k->count[t] = wm_new(int64_t, k->nc[t] + 1);
    }
}
static void buffers_free(Buffers *k) {
    for (int t = 0; t < 2; t++) wm_free(k->buf[t]), wm_free(k->count[t]);
}
/* to_model 0: the model's into k; 1: k's into the model. */
static void buffers_copy(Buffers *k, SjModel *m, int to_model) {
    for (int t = 0; t < 2; t++) {
        NnStore *st = sj_model_store(m, t);
        if (k->nb[t]) {
            if (to_model) memcpy(st->buf, k->buf[t], k->nb[t] * sizeof(float));
            else memcpy(k->buf[t], st->buf, k->nb[t] * sizeof(float));
        }
        if (k->nc[t]) {
            if (to_model) memcpy(st->count, k->count[t], k->nc[t] * sizeof(int64_t));
            else memcpy(k->count[t], st->count, k->nc[t] * sizeof(int64_t));
        }
    }
}
static void buffers_bcast(SjModel *m) {
    for (int t = 0; t < 2; t++) {
        const NnParams *p = sj_model_params(m, t);
        NnStore *st = sj_model_store(m, t);
        if (p->n_buffer) wm_dist_bcast(st->buf, p->n_buffer * sizeof(float), 0);
        if (p->n_counter) wm_dist_bcast(st->count, p->n_counter * sizeof(int64_t), 0);
    }
}

/* The tensor of p holding element i of `kind`. */
static const char *tensor_at(const NnParams *p, NnKind kind, size_t i) {
    for (int k = 0; k < p->n; k++)
        if (p->t[k].kind == kind && i >= p->t[k].offset && i < p->t[k].offset + p->t[k].count) return p->t[k].name;
    return "?";
}

/* Compares n bytes with rank 0's copy; returns the first differing element of size
 * `elem` (or -1), agreed by all ranks: the lowest rank that differs is in *who. */
static int64_t differs_from_rank0(const void *mine, size_t n, size_t elem, void *scratch, int *who) {
    memcpy(scratch, mine, n);
    wm_dist_bcast(scratch, n, 0);
    int64_t at = -1;
    for (size_t i = 0; i < n / elem; i++)
        if (memcmp((const char *)mine + i * elem, (const char *)scratch + i * elem, elem)) {
            at = (int64_t)i;
            break;
        }
    int64_t all[2] = {at >= 0 ? -(int64_t)wm_dist_rank() : INT64_MIN, 0};
    wm_dist_max_i64(all, 1);
    *who = all[0] == INT64_MIN ? -1 : (int)-all[0];
    if (*who < 0) return -1;
    int64_t where = *who == wm_dist_rank() ? at : 0;
    wm_dist_bcast(&where, sizeof where, *who);
    return where;
}

/* train.check_ranks: every rank holds rank 0's bytes (model, moments, running
 * statistics, probes). */
static int check_ranks(SjModel *m, Probes *pr, int64_t step, char *err, size_t errsz) {
    for (int t = 0; t < 2; t++) {
        const NnParams *p = sj_model_params(m, t);
        NnStore *st = sj_model_store(m, t);
        size_t big = p->n_param > p->n_buffer ? p->n_param : p->n_buffer;
        void *scratch = wm_new(float, big + 1);
        struct {
            const void *data;
            size_t n, elem;
            NnKind kind;
            const char *what;
        } parts[] = {{st->param, p->n_param, sizeof(float), NN_PARAM, "parameter"},
                     {st->adam_m, t ? 0 : p->n_param, sizeof(float), NN_PARAM, "AdamW first moment of"},
                     {st->adam_v, t ? 0 : p->n_param, sizeof(float), NN_PARAM, "AdamW second moment of"},
                     {st->buf, p->n_buffer, sizeof(float), NN_BUFFER, "buffer"}};
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            if (!parts[k].n) continue;
            int who;
            int64_t at = differs_from_rank0(parts[k].data, parts[k].n * parts[k].elem, parts[k].elem, scratch, &who);
            if (who >= 0) {
                wm_free(scratch);
                return wm_errf(err, errsz, WM_ERR_MISMATCH,
                               "train.check_ranks: after step %lld rank %d differs from rank 0 in %s %s (element %lld)",
                               (long long)step, who, parts[k].what, tensor_at(p, parts[k].kind, (size_t)at), (long long)at);
            }
        }
        wm_free(scratch);
    }
    void *scratch = wm_new(float, pr->p.n_param + 1);
    int who;
    int64_t at = differs_from_rank0(pr->s.param, pr->p.n_param * sizeof(float), sizeof(float), scratch, &who);
    wm_free(scratch);
    if (who >= 0)
        return wm_errf(err, errsz, WM_ERR_MISMATCH, "train.check_ranks: after step %lld rank %d differs from rank 0 in probe parameter %s",
                       (long long)step, who, tensor_at(&pr->p, NN_PARAM, (size_t)at));
    return WM_OK;
}

int sj_train_run(const SjTrainSetup *su, const SjSource *src, SjTrainResult *res, char *err, size_t errsz) {
    memset(res, 0, sizeof *res);
    const SjTrainConfig *tc = &su->train;
    const int R = wm_dist_size(), rank = wm_dist_rank(), G = tc->ghost, P = R * G;
    int B = tc->batch, M = tc->m_train, Bl;
    const int64_t Ni = tc->inverse_steps; /* inverse warm-up steps, before the seq-JEPA steps */
    res->ranks = R;
    int rc = sj_train_split(tc, R, &Bl, err, errsz);
    if (rc) return rc;
    const int Bg = Bl / G, lead = rank == 0;
    if (lead && (rc = wm_mkdirs(tc->out, err, errsz))) return rc;
    SjModel *m;
    if ((rc = sj_model_create(&su->model, &su->shape, (uint64_t)tc->seed, &m, err, errsz))) return rc;
    sj_model_set_optim(m, &su->optim);
    sj_model_bind(m, Bg, Ni ? M + 1 : M, 1); /* the warm-up encodes all M+1 views */
    Probes pr;
    probes_init(&pr, m, Bg, tc->probe_lr, Ni ? tc->inverse_hidden : 0, M + 1);
    WmRng drop;
    wm_rng_seed(&drop, (uint64_t)tc->seed, 0xd20bu);
    const NnParams *mp = sj_model_params(m, 0);
    NnStore *ms = sj_model_store(m, 0);
    float *acc = G > 1 ? wm_new(float, mp->n_param) : NULL;
    Buffers part0;
    buffers_init(&part0, m);
    int64_t step = 0;
    SjCkptState cst = ckpt_state(&pr, &drop);
    SjCkptMeta cmeta = ckpt_meta(su);
    int who;
    if (su->resume) rc = sj_ckpt_resume(tc->out, su->config_text, su->config_schema, m, &cst, &step, err, errsz);
    else if (su->init && (rc = sj_ckpt_load_into(m, su->init, err, errsz)))
        wm_err_prefix(err, errsz, rc, "--init: ");
    if ((rc = wm_dist_agree(rc, &who)) && who != rank) err[0] = '\0';
    if (rc) goto out;
    char mtxt[40];
    if (m_varies(tc)) snprintf(mtxt, sizeof mtxt, "%d..%d per step", tc->m_min, M);
    else snprintf(mtxt, sizeof mtxt, "%d", M);
    char split[160] = "";
    if (P > 1)
        snprintf(split, sizeof split, " on %d rank%s x %d ghost batch%s (batch-norm over %d sequences)", R, R > 1 ? "s" : "",
                 G, G > 1 ? "es" : "", Bg);
    char invtxt[160] = "";
    if (Ni)
        snprintf(invtxt, sizeof invtxt, " %s %lld inverse warm-up steps (head of %d hidden units, peak learning rate %g)",
                 tc->steps ? "after" : "of seq-JEPA: the", (long long)Ni, tc->inverse_hidden, tc->inverse_lr);
    if (step) wm_info("train: %zu parameters, batch %d%s, M %s, %d steps%s, resuming after step %lld", sj_model_param_count(m), B,
                      split, mtxt, tc->steps, invtxt, (long long)step);
    else {
        char from[1100] = "";
        if (su->init) snprintf(from, sizeof from, ", starting from the weights of '%s'", su->init);
        wm_info("train: %zu parameters, batch %d%s, M %s, %d steps%s%s", sj_model_param_count(m), B, split, mtxt, tc->steps,
                invtxt, from);
    }
    int64_t total = Ni + tc->steps, warm = (int64_t)llround(su->optim.warmup * (double)tc->steps);
    int64_t warm_inv = (int64_t)llround(su->optim.warmup * (double)Ni);
    pr.inv_opt.step = step < Ni ? step : Ni; /* the head's AdamW steps so far */
    /* every rank calls the hooks (each decides its stop; run/steps.c writes the log and
     * the progress bar on rank 0 alone), and the ranks agree on their answers */
    const SjStepHooks *hk = &su->hooks;
    if (hk->begin) rc = hk->begin(hk->ctx, m, step, total, err, errsz);
    int begun = !rc;
    if ((rc = wm_dist_agree(rc, &who)) && who != rank) err[0] = '\0';
    if (rc) {
        if (begun && hk->end) hk->end(hk->ctx, res);
        goto out;
    }
    double t_all = wm_now(), wait_all = 0, ar_all = 0, sync_all = 0;
    int64_t start = step, saved_step = step;
    double probe_acc = NAN, probe_r2 = NAN;
    while (step < total) {
        const int inverse = step < Ni;
        if (Ni && step == Ni) { /* the warm-up is over: keep its model, start the optimiser afresh */
            char dir[1100];
            rc = WM_OK;
            if (lead && (rc = wm_path_join(dir, sizeof dir, tc->out, SJ_INVERSE_DIR)))
                rc = wm_errf(err, errsz, WM_ERR_ARG, "train.out path too long");
            if (lead && !rc && !(rc = wm_mkdirs(dir, err, errsz))) rc = sj_ckpt_save(dir, m, &cmeta, &cst, step, err, errsz);
            if ((rc = wm_dist_agree(rc, &who)) && who != rank) err[0] = '\0';
            if (rc) break;
            sj_model_reset_optim(m);
            if (lead) wm_info("train: inverse warm-up done (%lld steps, model kept in '%s'); seq-JEPA from here", (long long)Ni, dir);
        }
        SjBatch b;
        double t0 = wm_now();
        rc = src->next(src->ctx, step, &b, err, errsz);
        double waited = wm_now() - t0;
        wait_all += waited;
        int have = rc == WM_OK;
        if (!rc && (b.n != Bl || b.t < M + 1))
            rc = wm_errf(err, errsz, WM_ERR_MISMATCH, "data source gave %d sequences of %d views; training needs %d of at least %d",
                         b.n, b.t, Bl, M + 1);
        double lr = inverse ? nn_lr_schedule(step, warm_inv, Ni, tc->inverse_lr, su->optim.min_lr)
                            : nn_lr_schedule(step - Ni, warm, tc->steps, su->optim.lr, su->optim.min_lr);
        double tau = su->model.ema && !inverse ? nn_ema_tau((double)(step - Ni) / (double)tc->steps, su->model.ema_base) : 0.0;
        double loss = 0;
        SjStepOut o = {0};
        const int Ms = sj_train_step_m(tc, step);
        if (!rc) {
            nn_store_zero_grad(&pr.s, &pr.p);
            for (int g = 0; g < G; g++) {
                SjBatch sb = sub_batch(&b, g, G, &su->shape);
                /* One dropout stream per part and step when the batch is split (a part's
                 * draws must not depend on how many parts ran before it in this process). */
                WmRng part_rng, *rng = &drop;
                if (P > 1) {
                    wm_rng_seed(&part_rng, (uint64_t)tc->seed,
                                wm_seed_derive(0xd20bu, (uint64_t)step * (uint64_t)P + (uint64_t)(rank * G + g)));
                    rng = &part_rng;
                }
                if (inverse) {
                    loss += sj_inverse_grad(&pr.iv, m, &pr.s, &sb);
                    r2_add(&pr, pr.iv.target, pr.iv.out, (size_t)sb.n * (size_t)(pr.iv.views - 1));
                } else {
                    sj_model_train_step(m, sb.pixels, sb.actions, Bg, sb.t, Ms, rng, &o);
                    loss += o.loss;
                    probes_grad(&pr, &o, &sb, Ms);
                }
                if (G > 1) {
                    if (g == 0) memcpy(acc, ms->grad, mp->n_param * sizeof(float)), buffers_copy(&part0, m, 0);
                    else for (size_t i = 0; i < mp->n_param; i++) acc[i] += ms->grad[i];
                }
            }
            if (G > 1) memcpy(ms->grad, acc, mp->n_param * sizeof(float)), buffers_copy(&part0, m, 1);
        }
        if (have && src->release) src->release(src->ctx);
        /* The ranks agree to go on, or on the lowest rank that failed. */
        double ts = wm_now();
        int64_t failed = rc ? -(int64_t)rank : INT64_MIN;
        if (R > 1) wm_dist_max_i64(&failed, 1);
        sync_all += wm_now() - ts;
        if (failed != INT64_MIN) {
            int r0 = (int)-failed;
            if (r0 != rank) {
                if (!rc) rc = WM_ERR_ARG, err[0] = '\0';
                else wm_err_prefix(err, errsz, rc, "rank %d: ", rank);
            } else if (R > 1) {
                wm_err_prefix(err, errsz, rc, "rank %d: ", rank);
            }
            break;
        }
        double ta = wm_now();
        if (R > 1) {
            double l = loss;
            wm_dist_sum_f64(&l, 1);
            loss = l;
            wm_dist_sum_f32(ms->grad, mp->n_param);
            wm_dist_sum_f32(pr.s.grad, pr.p.n_param);
        }
        double tar = wm_now() - ta;
        ar_all += tar;
        if (R > 1 && (res->allreduce_min_s == 0 || tar < res->allreduce_min_s)) res->allreduce_min_s = tar;
        loss /= P;
        double grad_norm = o.grad_norm;
        if (P > 1) {
            const float inv = 1.0f / (float)P;
            for (size_t i = 0; i < mp->n_param; i++) ms->grad[i] *= inv;
            for (size_t i = 0; i < pr.p.n_param; i++) pr.s.grad[i] *= inv;
        }
        if (P > 1 || inverse) grad_norm = nn_grad_norm(ms, mp);
        if (!isfinite(loss)) {
            rc = wm_errf(err, errsz, WM_ERR_NUMERIC,
                         "the loss is %s at step %lld; stopped, keeping the last checkpoint (step %lld) in '%s'",
                         isnan(loss) ? "NaN" : "infinite", (long long)step + 1, (long long)saved_step, tc->out);
            if (!lead) err[0] = '\0';
            break;
        }
        if (inverse) {
            pr.inv_opt.lr = (float)lr;
            nn_adamw_step_range(&pr.inv_opt, &pr.p, &pr.s, pr.n_probe, pr.p.n_param);
            sj_model_update_encoder(m, lr);
        } else {
            nn_adamw_step_range(&pr.opt, &pr.p, &pr.s, 0, pr.n_probe);
            sj_model_update(m, lr, tau);
        }
        if (R > 1) buffers_bcast(m);
        step++;
        if (tc->check_ranks && R > 1 && (rc = check_ranks(m, &pr, step, err, errsz))) {
            if (!lead) err[0] = '\0';
            break;
        }
        res->last_loss = loss;
        SjStepInfo info = {step, total, loss, grad_norm, lr, tau, waited, probe_acc, probe_r2, 0, inverse};
        if (step % tc->log_every == 0 || step == total || step == Ni) {
            double pacc, r2;
            probes_take(&pr, &pacc, &r2);
            if (inverse) pacc = NAN; /* no class probe in the warm-up */
            info.probe_top1 = probe_acc = pacc, info.probe_r2 = probe_r2 = r2, info.logged = 1;
        }
        int stop = hk->step ? hk->step(hk->ctx, m, &info) : SJ_GO, stop_rank = stop ? rank : -1;
        if (R > 1) { /* the strongest reason any rank has, and the lowest rank that has one */
            int64_t a[2] = {stop, stop ? -(int64_t)rank : INT64_MIN};
            wm_dist_max_i64(a, 2);
            stop = (int)a[0], stop_rank = a[1] == INT64_MIN ? -1 : (int)-a[1];
        }
        if (stop || (tc->ckpt_every && step % tc->ckpt_every == 0) || step == total) {
            if (lead) rc = sj_ckpt_save(tc->out, m, &cmeta, &cst, step, err, errsz);
            if ((rc = wm_dist_agree(rc, &who)) && who != rank) err[0] = '\0';
            if (rc) break;
            saved_step = step;
        }
        if (stop == SJ_STOP_INTERRUPTED) {
            res->interrupted = 1;
            if (R > 1 && lead)
                wm_warn("train: interrupted (first seen on rank %d); checkpoint of step %lld saved in '%s'", stop_rank,
                        (long long)step, tc->out);
            else if (R == 1)
                wm_warn("train: interrupted; checkpoint of step %lld saved in '%s'", (long long)step, tc->out);
            break;
        }
        if (stop) {
            res->stopped = 1;
            break;
        }
    }
    double el = wm_now() - t_all;
    res->steps_done = step;
    res->steps_start = start;
    res->seq_per_s = el > 0 ? (double)(step - start) * B / el : 0;
    res->wait_share = el > 0 ? wait_all / el : 0;
    if (step > start) res->allreduce_s = ar_all / (double)(step - start), res->sync_s = sync_all / (double)(step - start);
    wm_path_join(res->checkpoint, sizeof res->checkpoint, tc->out, SJ_CKPT_FILE);
    if (begun && hk->end) hk->end(hk->ctx, res);
    if (!rc && step == start && !res->interrupted) {
        wm_info("train: the run already holds all %lld steps; nothing to train", (long long)step);
    } else if (!rc) {
        wm_info("train: %lld steps, %.1f sequences/s, waited for data %.1f%% of the time", (long long)(step - start),
                res->seq_per_s, 100 * res->wait_share);
        if (R > 1)
            wm_info("train: %d ranks: gradient sum across ranks (%zu + %zu floats) %.2f ms per step (fastest step %.2f ms), "
                    "waiting for the slowest rank %.2f ms per step",
                    R, mp->n_param, pr.p.n_param, 1e3 * res->allreduce_s, 1e3 * res->allreduce_min_s, 1e3 * res->sync_s);
    }
out:
    buffers_free(&part0);
    wm_free(acc);
    probes_free(&pr);
    sj_model_destroy(m);
    return rc;
}
