/* The training loop, on-line probes, checkpoints and resumption (see sj_train.h). */
#include "model/sj_train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/signal.h"
#include "model/probe.h"

/* The on-line probes: a linear classifier on z_AGG and a linear regressor of the
 * first relative action from the first two encodings, trained on detached features
 * with their own AdamW. Each batch is scored before the probes learn from it. */
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
} Probes;

static void probes_init(Probes *pr, const SjModel *m, int B, double lr) {
    memset(pr, 0, sizeof *pr);
    pr->E = sj_model_agg_dim(m), pr->D = sj_model_enc_dim(m);
    pr->A = sj_model_shape(m)->action_dim, pr->K = sj_model_shape(m)->n_classes, pr->B = B;
    nn_params_init(&pr->p);
    pr->cls = nn_linear_register(&pr->p, "probe.cls", pr->E, pr->K, 1);
    pr->act = nn_linear_register(&pr->p, "probe.act", 2 * pr->D, pr->A, 1);
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
    float *bufs[] = {pr->logits, pr->probs, pr->dlogits, pr->xin, pr->pred, pr->dpred, pr->target, pr->r2_y, pr->r2_p};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) wm_free(bufs[i]);
}

static void probes_step(Probes *pr, const SjStepOut *o, const SjBatch *b, int M) {
    int B = b->n;
    size_t D = (size_t)pr->D, A = (size_t)pr->A;
    nn_store_zero_grad(&pr->s, &pr->p);
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
        memcpy(pr->target + (size_t)i * A, b->actions + (size_t)i * (size_t)(b->t - 1) * A, A * sizeof(float));
    }
    nn_linear_forward(pr->pred, pr->xin, w + pr->act.w, w + pr->act.b, B, 2 * pr->D, pr->A);
    if (pr->r2_n + (size_t)B > pr->r2_cap) {
        pr->r2_cap = 2 * (pr->r2_n + (size_t)B);
        pr->r2_y = wm_realloc(pr->r2_y, pr->r2_cap * A, sizeof(float));
        pr->r2_p = wm_realloc(pr->r2_p, pr->r2_cap * A, sizeof(float));
    }
    memcpy(pr->r2_y + pr->r2_n * A, pr->target, (size_t)B * A * sizeof(float));
    memcpy(pr->r2_p + pr->r2_n * A, pr->pred, (size_t)B * A * sizeof(float));
    pr->r2_n += (size_t)B;
    memset(pr->dpred, 0, (size_t)B * A * sizeof(float));
    nn_mse_backward(pr->dpred, 1.0f, pr->pred, pr->target, (size_t)B * A);
    nn_linear_backward(NULL, pr->s.grad + pr->act.w, pr->s.grad + pr->act.b, pr->dpred, pr->xin, w + pr->act.w, B,
                       2 * pr->D, pr->A);
    nn_adamw_step(&pr->opt, &pr->p, &pr->s);
}

/* Interval metrics, then reset. */
static void probes_take(Probes *pr, double *acc, double *r2) {
    *acc = pr->seen ? (double)pr->correct / (double)pr->seen : 0;
    *r2 = pr->r2_n > 1 ? sj_r2_score(pr->r2_y, pr->r2_p, pr->r2_n, pr->A) : 0;
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

/* Keeps the log's header and rows up to `step` (a resumed run rewrites what follows). */
static int open_log(const char *dir, int64_t step, FILE **out, char *err, size_t errsz) {
    char path[1100];
    wm_path_join(path, sizeof path, dir, SJ_LOG_FILE);
    static const char *header = "step,loss,lr,tau,seq_per_s,data_wait,probe_top1,probe_r2,grad_norm\n";
    WmBuf keep = {0};
    wm_buf_puts(&keep, header);
    if (step > 0) {
        char *old;
        size_t len;
        if (wm_read_file(path, &old, &len, NULL, 0) == WM_OK) {
            char *line = strchr(old, '\n');
            while (line && line[1]) {
                char *next = strchr(line + 1, '\n');
                long long s = atoll(line + 1);
                if (s > step || !next) break;
                wm_buf_append(&keep, line + 1, (size_t)(next - line));
                line = next;
            }
            wm_free(old);
        }
    }
    int rc = wm_write_file_atomic(path, keep.data, keep.len, err, errsz);
    wm_buf_free(&keep);
    if (rc) return rc;
    *out = fopen(path, "a");
    if (!*out) return wm_errf(err, errsz, WM_ERR_IO, "cannot append to '%s': %s", path, strerror(errno));
    return WM_OK;
}

int sj_train_run(const SjTrainSetup *su, const SjSource *src, SjTrainResult *res, char *err, size_t errsz) {
    memset(res, 0, sizeof *res);
    const SjTrainConfig *tc = &su->train;
    int B = tc->batch, M = tc->m_train;
    int rc = wm_mkdirs(tc->out, err, errsz);
    if (rc) return rc;
    SjModel *m = sj_model_create(&su->model, &su->shape, (uint64_t)tc->seed, err, errsz);
    if (!m) return WM_ERR_ARG;
    sj_model_set_optim(m, &su->optim);
    sj_model_bind(m, B, M, 1);
    Probes pr;
    probes_init(&pr, m, B, tc->probe_lr);
    WmRng drop;
    wm_rng_seed(&drop, (uint64_t)tc->seed, 0xd20bu);
    int64_t step = 0;
    SjCkptState cst = ckpt_state(&pr, &drop);
    SjCkptMeta cmeta = ckpt_meta(su);
    if (su->resume && (rc = sj_ckpt_resume(tc->out, su->config_text, m, &cst, &step, err, errsz))) goto out;
    FILE *log = NULL;
    if ((rc = open_log(tc->out, step, &log, err, errsz))) goto out;
    if (step) wm_info("train: %zu parameters, batch %d, M %d, %d steps, resuming after step %lld", sj_model_param_count(m), B,
                      M, tc->steps, (long long)step);
    else wm_info("train: %zu parameters, batch %d, M %d, %d steps", sj_model_param_count(m), B, M, tc->steps);
    int64_t total = tc->steps, warm = (int64_t)llround(su->optim.warmup * (double)total);
    WmProgress prog;
    if (!su->quiet) wm_progress_start(&prog, "train", total, "step");
    double t_int = wm_now(), wait_int = 0, loss_sum = 0, gn_sum = 0, t_all = t_int, wait_all = 0;
    int n_int = 0;
    int64_t start = step, saved_step = step;
    double probe_acc = NAN, probe_r2 = NAN;
    char extra[96];
    while (step < total) {
        SjBatch b;
        double t0 = wm_now();
        rc = src->next(src->ctx, step, &b, err, errsz);
        double waited = wm_now() - t0;
        wait_int += waited, wait_all += waited;
        if (rc) break;
        if (b.n != B || b.t < M + 1) {
            if (src->release) src->release(src->ctx);
            rc = wm_errf(err, errsz, WM_ERR_MISMATCH, "data source gave %d sequences of %d views; training needs %d of at least %d",
                         b.n, b.t, B, M + 1);
            break;
        }
        double lr = nn_lr_schedule(step, warm, total, su->optim.lr, su->optim.min_lr);
        double tau = su->model.ema ? nn_ema_tau((double)step / (double)total, su->model.ema_base) : 0.0;
        SjStepOut o;
        sj_model_train_step(m, b.pixels, b.actions, B, b.t, M, &drop, &o);
        if (!isfinite(o.loss)) {
            if (src->release) src->release(src->ctx);
            rc = wm_errf(err, errsz, WM_ERR_NUMERIC,
                         "the loss is %s at step %lld; stopped, keeping the last checkpoint (step %lld) in '%s'",
                         isnan(o.loss) ? "NaN" : "infinite", (long long)step + 1, (long long)saved_step, tc->out);
            break;
        }
        probes_step(&pr, &o, &b, M);
        sj_model_update(m, lr, tau);
        if (src->release) src->release(src->ctx);
        step++;
        loss_sum += o.loss, gn_sum += o.grad_norm, n_int++;
        res->last_loss = o.loss;
        SjStepInfo info = {step, total, o.loss, o.grad_norm, lr, tau, probe_acc, probe_r2, 0};
        if (step % tc->log_every == 0 || step == total) {
            double now = wm_now(), acc, r2;
            probes_take(&pr, &acc, &r2);
            info.probe_top1 = probe_acc = acc, info.probe_r2 = probe_r2 = r2, info.logged = 1;
            double sps = (double)n_int * B / (now - t_int);
            fprintf(log, "%lld,%.6f,%.6g,%.6f,%.2f,%.3f,%.4f,%.4f,%.4g\n", (long long)step, loss_sum / n_int, lr, tau, sps,
                    wait_int / (now - t_int), acc, r2, gn_sum / n_int);
            fflush(log);
            t_int = now, wait_int = 0, loss_sum = 0, gn_sum = 0, n_int = 0;
        }
        if (!su->quiet) {
            snprintf(extra, sizeof extra, "loss %.4f", o.loss);
            wm_progress_update(&prog, step, extra);
        }
        int stop = wm_interrupted() != 0, asked = su->on_step && su->on_step(su->on_step_ctx, m, &info) != 0;
        if (stop || asked || (tc->ckpt_every && step % tc->ckpt_every == 0) || step == total) {
            if ((rc = sj_ckpt_save(tc->out, m, &cmeta, &cst, step, err, errsz))) break;
            saved_step = step;
        }
        if (asked && !stop) {
            res->stopped = 1;
            break;
        }
        if (stop) {
            res->interrupted = 1;
            wm_warn("train: interrupted; checkpoint of step %lld saved in '%s'", (long long)step, tc->out);
            break;
        }
    }
    if (!su->quiet) wm_progress_finish(&prog, NULL);
    double el = wm_now() - t_all;
    res->steps_done = step;
    res->seq_per_s = el > 0 ? (double)(step - start) * B / el : 0;
    res->wait_share = el > 0 ? wait_all / el : 0;
    wm_path_join(res->checkpoint, sizeof res->checkpoint, tc->out, SJ_CKPT_FILE);
    if (!rc)
        wm_info("train: %lld steps, %.1f sequences/s, waited for data %.1f%% of the time", (long long)(step - start),
                res->seq_per_s, 100 * res->wait_share);
    fclose(log);
out:
    probes_free(&pr);
    sj_model_destroy(m);
    return rc;
}
