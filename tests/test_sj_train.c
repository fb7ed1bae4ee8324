/* The trainer: same config gives the same run bit for bit; N steps straight equal
 * N/2, stop, resume, N/2; a NaN stops with the step named and the last checkpoint
 * kept; Ctrl-C saves and stops; damaged checkpoints give clear errors. The data is a
 * synthetic stream (a bright square moved by the actions), a pure function of the
 * step as the trainer requires. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/rng.h"
#include "core/signal.h"
#include "model/sj_inverse.h"
#include "model/sj_train.h"
#include "run/steps.h"
#include "tests/test.h"

enum { B = 4, T = 3, HW = 16, A = 2, K = 3 };

typedef struct {
    uint8_t pix[B * T * HW * HW * 3];
    float act[B * (T - 1) * A];
    int32_t lab[B];
    int64_t nan_at, sigint_at;
} Synth;

static int synth_next(void *ctx, int64_t step, SjBatch *out, char *err, size_t errsz) {
    Synth *s = ctx;
    WmRng r;
    wm_rng_seed(&r, 5, (uint64_t)step);
    memset(s->pix, 20, sizeof s->pix);
    for (int b = 0; b < B; b++) {
        int y = (int)wm_rng_below(&r, 8), x = (int)wm_rng_below(&r, 8);
        s->lab[b] = (int32_t)wm_rng_below(&r, K);
        for (int t = 0; t < T; t++) {
            int dy = (int)wm_rng_below(&r, 5) - 2, dx = (int)wm_rng_below(&r, 5) - 2;
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    uint8_t *p = s->pix + ((((size_t)b * T + t) * HW + (size_t)(y + i + 2)) * HW + (size_t)(x + j + 2)) * 3;
                    p[s->lab[b]] = 250;
                }
            if (t < T - 1) {
                s->act[(b * (T - 1) + t) * A] = (float)dy / HW;
                s->act[(b * (T - 1) + t) * A + 1] = (float)dx / HW;
                y = y + dy < 0 ? 0 : y + dy > 8 ? 8 : y + dy;
                x = x + dx < 0 ? 0 : x + dx > 8 ? 8 : x + dx;
            }
        }
    }
    if (step == s->nan_at) s->act[0] = NAN;
    if (step == s->sigint_at) raise(SIGINT);
    *out = (SjBatch){s->pix, s->act, s->lab, B, T, NULL};
    (void)err, (void)errsz;
    return WM_OK;
}

/* Training as the run layer drives it (run/steps.h): log.csv, the one stop (Ctrl-C, a
 * step limit) decided in the step callback, and an observer when a test sets one. */
static void (*watch_fn)(void *ctx, SjModel *m, const SjStepInfo *in);
static void *watch_ctx;
static int64_t watch_limit;

static int train(SjTrainSetup *su, const SjSource *src, SjTrainResult *res, char *err, size_t errsz) {
    RunSteps steps = {0};
    RunSinks sinks;
    run_steps_standard(&steps, &sinks, &su->train, 1);
    if (watch_fn) run_steps_observe(&steps, (RunObserver){.step = watch_fn, .ctx = watch_ctx});
    steps.limit = watch_limit;
    run_steps_attach(&steps, su);
    return sj_train_run(su, src, res, err, errsz);
}

static WmBuf dumps[32];
static int ndumps;
static int setup_precision = SJ_PREC_FP32; /* model.precision of the next setup */

static void setup_init(SjTrainSetup *su, const char *out, int steps) {
    memset(su, 0, sizeof *su);
    WmCfgSection secs[] = {{"model", SjModelConfig_fields, SjModelConfig_nfields, offsetof(SjTrainSetup, model), 0, NULL},
                           {"optim", SjOptimConfig_fields, SjOptimConfig_nfields, offsetof(SjTrainSetup, optim), 0, NULL},
                           {"train", SjTrainConfig_fields, SjTrainConfig_nfields, offsetof(SjTrainSetup, train), 0, NULL}};
    WmCfgSchema schema = {secs, 3};
    wm_cfg_defaults(&schema, su);
    su->model.width = 4, su->model.action_emb = 8, su->model.layers = 1, su->model.heads = 2;
    su->model.pred_hidden = 16;
    su->train.batch = B, su->train.m_train = T - 1, su->train.steps = steps, su->train.log_every = 1;
    su->train.seed = 3;
    int len = snprintf(su->train.out, sizeof su->train.out, "%s/%s", test_tmpdir(), out);
    WM_ASSERT(len > 0 && len < (int)sizeof su->train.out);
    su->shape = (SjShape){HW, HW, A, K};
    su->model.precision = setup_precision;
    WM_ASSERT(ndumps < (int)(sizeof dumps / sizeof dumps[0]));
    WmBuf *d = &dumps[ndumps++];
    wm_cfg_dump(&schema, su, d);
    su->config_text = d->data;
}

static char *slurp(const char *dir, const char *name) {
    char path[1100], *d = NULL;
    size_t n;
    wm_path_join(path, sizeof path, dir, name);
    if (wm_read_file(path, &d, &n, NULL, 0)) return wm_strdup("");
    return d;
}

/* Every tensor of a checkpoint file, byte for byte, and the stored step. (The files
 * differ in their stored config, which names each run's own folder.) */
static int same_file(const char *a, const char *b, const char *name) {
    char pa[1100], pb[1100], err[512];
    wm_path_join(pa, sizeof pa, a, name);
    wm_path_join(pb, sizeof pb, b, name);
    WmStFile *fa = NULL, *fb = NULL;
    int same = !wm_st_open(pa, &fa, err, sizeof err) && !wm_st_open(pb, &fb, err, sizeof err) &&
               wm_st_count(fa) == wm_st_count(fb) && !strcmp(wm_st_meta(fa, "step"), wm_st_meta(fb, "step"));
    for (int i = 0; same && i < wm_st_count(fa); i++) {
        const WmStTensor *x = wm_st_at(fa, i), *y = wm_st_find(fb, x->name);
        same = y && x->nbytes == y->nbytes && !memcmp(x->data, y->data, x->nbytes);
    }
    wm_st_close(fa);
    wm_st_close(fb);
    return same;
}

/* The per-step callback: an observer is called once per step with the step's figures
 * and the model; a snapshot taken with sj_model_copy_weights evaluates like the model; a
 * step limit stops with a checkpoint of that step, which resumes to the straight run. */
typedef struct {
    int calls, stop_at, logged;
    int64_t last_step;
    double last_loss;
    int finite, probes_seen;
    SjModel *snap;
    float z_live[2 * 256], z_snap[2 * 256], zt[2 * 256];
    uint8_t views[2 * HW * HW * 3];
} StepLog;

static void on_step(void *ctx, SjModel *m, const SjStepInfo *info) {
    StepLog *l = ctx;
    l->calls++;
    l->finite &= info->step == l->last_step + 1 && info->total == 8 && isfinite(info->loss) && info->lr > 0;
    l->last_step = info->step, l->last_loss = info->loss;
    if (info->logged) l->probes_seen += isfinite(info->probe_top1) && isfinite(info->probe_r2);
    if (info->step == 2) {
        sj_model_copy_weights(l->snap, m);
        sj_model_encode(m, l->views, 2, l->z_live);
        sj_model_encode(l->snap, l->views, 2, l->z_snap);
    }
}

static void test_on_step(const SjSource *src, const SjTrainSetup *straight) {
    char err[1024];
    SjTrainSetup su;
    SjTrainResult res;
    static StepLog l;
    setup_init(&su, "e", 8);
    l.stop_at = 5, l.finite = 1;
    for (size_t i = 0; i < sizeof l.views; i++) l.views[i] = (uint8_t)(i * 37 % 251);
    int mrc = sj_model_create(&su.model, &su.shape, 99, &l.snap, err, sizeof err);
    CHECK(mrc == WM_OK && l.snap != NULL, "%s", err);
    if (!l.snap) return;
    sj_model_bind(l.snap, B, T - 1, 0);
    /* Right after creation the target encoder is a copy of the online one. */
    float z0[2 * 256], z1[2 * 256];
    int D = sj_model_enc_dim(l.snap);
    CHECK(D <= 256);
    sj_model_encode(l.snap, l.views, 2, z0);
    sj_model_encode_target(l.snap, l.views, 2, z1);
    CHECK(!memcmp(z0, z1, (size_t)(2 * D) * sizeof(float)), "target encoder equals the online one at init");
    watch_fn = on_step, watch_ctx = &l, watch_limit = l.stop_at;
    CHECK(train(&su, src, &res, err, sizeof err) == WM_OK, "%s", err);
    watch_fn = NULL, watch_ctx = NULL, watch_limit = 0;
    CHECK(res.stopped && !res.interrupted && res.steps_done == 5 && l.calls == 5 && l.finite,
          "stopped by the callback at %lld after %d calls", (long long)res.steps_done, l.calls);
    CHECK(l.last_loss == res.last_loss && l.probes_seen == 5, "step figures (%d probe rows)", l.probes_seen);
    CHECK(!memcmp(l.z_live, l.z_snap, (size_t)(2 * D) * sizeof(float)), "a snapshot encodes as the live model");
    char ck[1100];
    int64_t st = -1;
    SjModel *m = NULL;
    wm_path_join(ck, sizeof ck, su.train.out, SJ_CKPT_FILE);
    CHECK(sj_checkpoint_load(ck, &m, NULL, &st, err, sizeof err) == WM_OK && st == 5, "checkpoint at the stop: %s", err);
    sj_model_destroy(m);
    /* After training the EMA target has moved away from the online encoder. */
    sj_model_encode(l.snap, l.views, 2, z0);
    sj_model_encode_target(l.snap, l.views, 2, z1);
    CHECK(memcmp(z0, z1, (size_t)(2 * D) * sizeof(float)) != 0, "target encoder differs after training");
    su.resume = 1;
    CHECK(train(&su, src, &res, err, sizeof err) == WM_OK && res.steps_done == 8, "%s", err);
    CHECK(same_file(straight->train.out, su.train.out, SJ_CKPT_FILE), "stopped and resumed equals the straight run");
    sj_model_destroy(l.snap);
}

/* The loss of the first logged step (log_every 1) of a run's log. */
static double first_loss(const char *dir) {
    char *log = slurp(dir, RUN_LOG_FILE), *line = strchr(log, '\n');
    double loss = NAN;
    if (!line || sscanf(line + 1, "%*d,%lf", &loss) != 1) loss = NAN;
    wm_free(log);
    return loss;
}

/* model.precision = bf16: refused with a clear error without AVX512_BF16; where the
 * CPU has it, a run is repeatable bit for bit, its first loss (same initial weights,
 * bf16 products) is within 1% of the float run's but not equal to it, and the
 * engine is back in float afterwards. */
static void test_bf16(const SjSource *src, const SjTrainSetup *fp32) {
    char err[1024];
    SjTrainSetup a, b;
    SjTrainResult ra, rb;
    setup_precision = SJ_PREC_BF16;
    setup_init(&a, "bf16a", 8);
    setup_init(&b, "bf16b", 8);
    setup_precision = SJ_PREC_FP32;
    int rc = train(&a, src, &ra, err, sizeof err);
    if (!nn_gemm_own_ok(1)) {
        CHECK(rc == WM_ERR_ARG && strstr(err, "AVX512_BF16"), "bf16 without AVX512_BF16 is refused: %s", err);
        return;
    }
    CHECK(rc == WM_OK && train(&b, src, &rb, err, sizeof err) == WM_OK, "bf16 runs: %s", err);
    CHECK(same_file(a.train.out, b.train.out, SJ_CKPT_FILE), "bf16: same checkpoint bit for bit");
    CHECK(nn_get_precision() == NN_PREC_FP32, "the engine is back in float after a bf16 run");
    double l16 = first_loss(a.train.out), l32 = first_loss(fp32->train.out);
    CHECK(isfinite(l16) && isfinite(l32) && fabs(l16 - l32) < 0.01 * fabs(l32) && l16 != l32,
          "first loss bf16 %.6f, float %.6f", l16, l32);
}

/* A model that cannot be built says why, with its status: from sj_model_create, from
 * the trainer (which passes it on), and from a checkpoint whose stored config asks for
 * it (a fault of the file). */
static void test_impossible_model(const SjSource *src, char *raw, size_t n) {
    char err[1024];
    SjTrainSetup su;
    SjTrainResult res;
    SjModel *m = (SjModel *)&su; /* any non-NULL value: a failure must clear it */
    setup_init(&su, "impossible", 2);
    su.model.heads = 3; /* token width 32 + 8 = 40 */
    CHECK(sj_model_create(&su.model, &su.shape, 1, &m, err, sizeof err) == WM_ERR_ARG && m == NULL &&
              strstr(err, "model.heads = 3") && strstr(err, "40"),
          "heads not dividing the width: %s", err);
    CHECK(train(&su, src, &res, err, sizeof err) == WM_ERR_ARG && strstr(err, "model.heads = 3"), "trainer: %s", err);
    setup_init(&su, "impossible", 2);
    snprintf(su.model.pixel_mean, sizeof su.model.pixel_mean, "0.5 zero 0.5");
    CHECK(sj_model_create(&su.model, &su.shape, 1, &m, err, sizeof err) == WM_ERR_PARSE && m == NULL &&
              strstr(err, "pixel_mean") && strstr(err, "zero"),
          "bad pixel_mean: %s", err);
    setup_init(&su, "impossible", 2);
    su.shape.img_h = su.shape.img_w = 4;
    CHECK(sj_model_create(&su.model, &su.shape, 1, &m, err, sizeof err) == WM_ERR_ARG && m == NULL &&
              strstr(err, "4x4") && strstr(err, "too small"),
          "images too small: %s", err);
    char *h2 = memmem(raw, n, "heads = 2", 9);
    CHECK(h2 != NULL);
    if (!h2) return;
    h2[8] = '3';
    char bad[1200];
    snprintf(bad, sizeof bad, "%s/heads.safetensors", test_tmpdir());
    wm_write_file_atomic(bad, raw, n, err, sizeof err);
    int64_t st;
    CHECK(sj_checkpoint_load(bad, &m, NULL, &st, err, sizeof err) == WM_ERR_FORMAT && m == NULL &&
              strstr(err, "model.heads = 3"),
          "checkpoint asking for an impossible model: %s", err);
    h2[8] = '2';
}

/* train.m_min: M drawn per step from the seed and the step (both values of 1..2 appear,
 * each value of 2..4 about a third of the time), a run with it trains and differs from
 * the fixed-M run, stopping and resuming gives the straight run's bits, and an m_min
 * above m_train is refused naming both. */
static void test_m_min(const SjSource *src, Synth *syn, const SjTrainSetup *fixed) {
    SjTrainConfig tc = fixed->train;
    tc.m_min = 0;
    int all_fixed = 1;
    for (int64_t s = 0; s < 64; s++) all_fixed &= sj_train_step_m(&tc, s) == tc.m_train;
    CHECK(all_fixed, "m_min 0: every step observes m_train views");
    tc.m_train = 4, tc.m_min = 2;
    int count[5] = {0}, again = 1;
    for (int64_t s = 0; s < 3000; s++) {
        int m = sj_train_step_m(&tc, s);
        if (m >= 0 && m <= 4) count[m]++;
        again &= m == sj_train_step_m(&tc, s);
    }
    CHECK(count[0] + count[1] == 0 && again, "m_min 2..4: no M below 2, the same draw twice");
    for (int m = 2; m <= 4; m++) CHECK(count[m] > 850 && count[m] < 1150, "M = %d drawn %d of 3000 times", m, count[m]);
    tc.seed++;
    int differs = 0;
    for (int64_t s = 0; s < 64; s++) differs |= sj_train_step_m(&tc, s) != sj_train_step_m(&fixed->train, s);
    CHECK(differs, "another seed draws another sequence of M");

    SjTrainSetup v, w;
    SjTrainResult rv, rw;
    char err[1024];
    setup_init(&v, "mmin", 8);
    v.train.m_min = 1;
    CHECK(train(&v, src, &rv, err, sizeof err) == WM_OK && rv.steps_done == 8 && isfinite(rv.last_loss), "%s", err);
    int ones = 0;
    for (int64_t s = 0; s < 8; s++) ones += sj_train_step_m(&v.train, s) == 1;
    CHECK(ones > 0 && ones < 8, "both M = 1 and M = 2 among the 8 steps (%d of M = 1)", ones);
    CHECK(!same_file(v.train.out, fixed->train.out, SJ_CKPT_FILE), "m_min 1 trains another model than M fixed at 2");
    setup_init(&w, "mmin-resumed", 8);
    w.train.m_min = 1;
    syn->sigint_at = 3;
    CHECK(train(&w, src, &rw, err, sizeof err) == WM_OK && rw.interrupted && rw.steps_done == 4, "%s", err);
    wm_signals_reset();
    syn->sigint_at = -1;
    w.resume = 1;
    CHECK(train(&w, src, &rw, err, sizeof err) == WM_OK && rw.steps_done == 8, "%s", err);
    CHECK(same_file(v.train.out, w.train.out, SJ_CKPT_FILE), "m_min 1, stopped and resumed: the straight run's checkpoint");
    setup_init(&w, "mmin-bad", 8);
    w.train.m_min = 3;
    CHECK(train(&w, src, &rw, err, sizeof err) == WM_ERR_RANGE && strstr(err, "train.m_min = 3") && strstr(err, "train.m_train = 2"),
          "%s", err);
}

/* The on-line action probe regresses the batch's probe_targets where the source gives
 * them. A source that gives the actions themselves (another buffer) trains the same
 * probes, bit for bit, as one that gives none, also with the batch split into ghost
 * batches (each part must read its own rows); one that gives other targets (each row
 * another sequence's actions) logs another R^2 and leaves the model unchanged. */
typedef struct {
    Synth *syn;
    int mode; /* 1: the actions copied; 2: the rows rotated by one sequence */
    float tgt[B * (T - 1) * A];
} TargetSrc;

static int target_next(void *ctx, int64_t step, SjBatch *out, char *err, size_t errsz) {
    TargetSrc *t = ctx;
    int r = synth_next(t->syn, step, out, err, errsz);
    size_t row = (size_t)(T - 1) * A;
    for (size_t b = 0; b < B; b++)
        memcpy(t->tgt + b * row, t->syn->act + (t->mode == 1 ? b : (b + 1) % B) * row, row * sizeof(float));
    out->probe_targets = t->tgt;
    return r;
}

/* The probe_r2 column of log.csv (8th), every data line. */
static void r2_column(const char *dir, char *out, size_t cap) {
    char *log = slurp(dir, RUN_LOG_FILE), *line = strchr(log, '\n');
    size_t n = 0;
    while (line && line[1]) {
        char *f = line + 1;
        for (int c = 0; c < 7 && f; c++) f = strchr(f, ',') ? strchr(f, ',') + 1 : NULL;
        char *e = f ? strchr(f, ',') : NULL;
        if (e && n + (size_t)(e - f) + 2 < cap) memcpy(out + n, f, (size_t)(e - f)), n += (size_t)(e - f), out[n++] = ';';
        line = strchr(line + 1, '\n');
    }
    out[n] = '\0';
    wm_free(log);
}

/* The phase column of log.csv (last), every data line, as one letter each (i, s). */
static void phase_column(const char *dir, char *out, size_t cap) {
    char *log = slurp(dir, RUN_LOG_FILE), *line = strchr(log, '\n');
    size_t n = 0;
    while (line && line[1] && n + 2 < cap) {
        char *end = strchr(line + 1, '\n'), *comma = line + 1, *last = NULL;
        while ((comma = strchr(comma, ',')) && (!end || comma < end)) last = ++comma;
        out[n++] = last && !strncmp(last, "inverse", 7) ? 'i' : last && !strncmp(last, "seqjepa", 7) ? 's' : '?';
        line = end;
    }
    out[n] = '\0';
    wm_free(log);
}

/* Tensors of `file` against a model built from su's config and seed (its start):
 * *enc_moved counts encoder.* tensors that differ, *other_moved the others of the
 * online registry that differ; *target_same is 1 when every target_encoder.* tensor
 * equals the encoder.* tensor of the same name in the file. Returns 0 if unreadable. */
static int compare_with_start(const SjTrainSetup *su, const char *file, int *enc_moved, int *other_moved,
                              int *target_same) {
    char err[512];
    SjModel *m;
    WmStFile *f;
    if (sj_model_create(&su->model, &su->shape, (uint64_t)su->train.seed, &m, err, sizeof err)) return 0;
    if (wm_st_open(file, &f, err, sizeof err)) {
        sj_model_destroy(m);
        return 0;
    }
    const NnParams *p = sj_model_params(m, 0);
    NnStore *s = sj_model_store(m, 0);
    int ok = 1;
    *enc_moved = *other_moved = 0, *target_same = 1;
    for (int k = 0; k < p->n; k++) {
        const NnTensor *t = &p->t[k];
        const WmStTensor *x = wm_st_find(f, t->name);
        if (!x) {
            ok = 0;
            continue;
        }
        const void *start = t->kind == NN_PARAM ? (const void *)(s->param + t->offset)
                            : t->kind == NN_BUFFER ? (const void *)(s->buf + t->offset)
                                                   : (const void *)(s->count + t->offset);
        int moved = memcmp(start, x->data, x->nbytes) != 0;
        if (!strncmp(t->name, "encoder.", 8)) {
            *enc_moved += moved;
            char tn[NN_NAME_MAX + 16];
            snprintf(tn, sizeof tn, "target_%s", t->name);
            const WmStTensor *y = wm_st_find(f, tn);
            *target_same &= y && y->nbytes == x->nbytes && !memcmp(y->data, x->data, x->nbytes);
        } else {
            *other_moved += moved;
        }
    }
    wm_st_close(f);
    sj_model_destroy(m);
    return ok;
}

/* The mean loss over the first and the last n warm-up rows of the log. */
static void loss_ends(const char *dir, int n, double *first, double *last) {
    char *log = slurp(dir, RUN_LOG_FILE), *line = strchr(log, '\n');
    double v[4096];
    int k = 0;
    while (line && line[1] && k < 4096) {
        char *c = strchr(line + 1, ','), *end = strchr(line + 1, '\n'), *ph = strstr(line + 1, ",inverse");
        if (ph && (!end || ph < end)) v[k++] = c ? atof(c + 1) : NAN;
        line = end;
    }
    *first = *last = 0;
    for (int i = 0; i < n && i < k; i++) *first += v[i] / n, *last += v[k - 1 - i] / n;
    wm_free(log);
}

/* The warm-up's gradient against finite differences of its loss: the largest
 * gradients of the encoder (every residual branch live: zero_init_residual off) and of
 * the head, each within 3% of (L(w + e) - L(w - e)) / 2e. The batch statistics make the
 * loss of the batch a function of the weights alone. */
static void test_inverse_grad(Synth *syn) {
    SjTrainSetup su;
    setup_init(&su, "inv-grad", 1);
    su.model.zero_init_residual = 0;
    char err[512];
    SjModel *m;
    CHECK(sj_model_create(&su.model, &su.shape, 3, &m, err, sizeof err) == WM_OK, "%s", err);
    if (!m) return;
    sj_model_bind(m, B, T, 1);
    NnParams p;
    nn_params_init(&p);
    SjInverse iv;
    sj_inverse_register(&iv, &p, m, 16, B, T);
    NnStore s;
    nn_store_create(&s, &p, NN_STORE_GRAD);
    WmRng r;
    wm_rng_seed(&r, 1, 2);
    nn_store_init(&s, &p, &r);
    SjBatch b;
    synth_next(syn, 0, &b, err, sizeof err);
    nn_store_zero_grad(&s, &p);
    sj_inverse_grad(&iv, m, &s, &b);
    const NnParams *mp = sj_model_params(m, 0);
    NnStore *ms = sj_model_store(m, 0);
    float *genc = wm_new(float, mp->n_param), *ghead = wm_new(float, p.n_param);
    memcpy(genc, ms->grad, mp->n_param * sizeof(float));
    memcpy(ghead, s.grad, p.n_param * sizeof(float));
    for (int side = 0; side < 2; side++) {
        float *w = side ? s.param : ms->param, *g = side ? ghead : genc;
        size_t n = side ? p.n_param : mp->n_param;
        int good = 0, tried = 0;
        for (int pick = 0; pick < 6; pick++) {
            size_t at = 0; /* the pick-th largest |g| (the earlier picks zeroed) */
            for (size_t i = 1; i < n; i++)
                if (fabsf(g[i]) > fabsf(g[at])) at = i;
            const float g0 = g[at], w0 = w[at], e = 1e-4f;
            w[at] = w0 + e;
            double lp = sj_inverse_grad(&iv, m, &s, &b);
            w[at] = w0 - e;
            double lm = sj_inverse_grad(&iv, m, &s, &b);
            w[at] = w0;
            double fd = (lp - lm) / (2.0 * e);
            tried++;
            good += fabs(fd - g0) <= 0.03 * fabs(g0) && g0 != 0;
            if (fabs(fd - g0) > 0.03 * fabs(g0)) fprintf(stderr, "  %s element %zu: gradient %.6g, finite difference %.6g\n",
                                                         side ? "head" : "encoder", at, g0, fd);
            g[at] = 0;
        }
        CHECK(good == tried, "%s: %d of %d gradients match finite differences", side ? "head" : "encoder", good, tried);
    }
    wm_free(genc), wm_free(ghead);
    nn_store_free(&s);
    nn_params_free(&p);
    sj_inverse_free(&iv);
    sj_model_destroy(m);
}

/* train.inverse_steps: a warm-up of the encoder and a head that regress each action from
 * the encodings of the two views it joins, then seq-JEPA. */
static void test_inverse(Synth *syn, const SjTrainSetup *plain) {
    SjSource src = {synth_next, NULL, syn};
    SjTrainSetup a, b;
    SjTrainResult r;
    char err[1024], ph[64], path[1100];
    setup_init(&a, "inv-a", 4);
    a.train.inverse_steps = 4;
    CHECK(train(&a, &src, &r, err, sizeof err) == WM_OK && r.steps_done == 8, "%s", err);
    phase_column(a.train.out, ph, sizeof ph);
    CHECK(!strcmp(ph, "iiiissss"), "log.csv: 4 warm-up rows, then 4 seq-JEPA rows (%s)", ph);
    char *log = slurp(a.train.out, RUN_LOG_FILE);
    CHECK(strstr(log, ",grad_norm,phase\n") && strstr(log, "\n4,") && strstr(strstr(log, "\n4,"), ",nan,"),
          "the warm-up's rows have no class-probe figure");
    wm_free(log);
    /* the warm-up's model, kept: the encoder moved, nothing else did (no decay on the
     * tensors the warm-up has no gradient for), the target encoder is the online one */
    int enc, other, tsame;
    snprintf(path, sizeof path, "%s/inverse/%s", a.train.out, SJ_CKPT_FILE);
    CHECK(compare_with_start(&a, path, &enc, &other, &tsame), "%s readable", path);
    CHECK(enc > 10 && other == 0 && tsame, "warm-up: %d encoder tensors moved, %d others, target = online %d", enc, other,
          tsame);
    SjModel *m = NULL;
    int64_t st = -1;
    CHECK(sj_checkpoint_load(path, &m, NULL, &st, err, sizeof err) == WM_OK && st == 4, "%s", err);
    sj_model_destroy(m);
    /* after the seq-JEPA steps everything has moved, and the run differs from one without
     * the warm-up */
    snprintf(path, sizeof path, "%s/%s", a.train.out, SJ_CKPT_FILE);
    CHECK(compare_with_start(&a, path, &enc, &other, &tsame) && other > 10, "seq-JEPA moved %d other tensors", other);
    setup_init(&b, "inv-none", 8);
    CHECK(train(&b, &src, &r, err, sizeof err) == WM_OK, "%s", err);
    CHECK(!same_file(a.train.out, b.train.out, SJ_CKPT_FILE), "the warm-up changes the run");
    /* inverse_steps 0 is the run as before: the 8-step run of the first test */
    CHECK(same_file(plain->train.out, b.train.out, SJ_CKPT_FILE) && same_file(plain->train.out, b.train.out, SJ_STATE_FILE),
          "no warm-up: the same bits as before");

    /* resumed inside the warm-up and at its last step: the straight run's bits */
    for (int stop = 2; stop <= 3; stop++) {
        char name[32];
        snprintf(name, sizeof name, "inv-resume-%d", stop);
        setup_init(&b, name, 4);
        b.train.inverse_steps = 4;
        syn->sigint_at = stop;
        CHECK(train(&b, &src, &r, err, sizeof err) == WM_OK && r.interrupted && r.steps_done == stop + 1, "%s", err);
        wm_signals_reset();
        syn->sigint_at = -1;
        b.resume = 1;
        CHECK(train(&b, &src, &r, err, sizeof err) == WM_OK && r.steps_done == 8, "%s", err);
        CHECK(same_file(a.train.out, b.train.out, SJ_CKPT_FILE) && same_file(a.train.out, b.train.out, SJ_STATE_FILE),
              "stopped after step %d of the warm-up and resumed: the straight run's checkpoint and state", stop + 1);
        snprintf(path, sizeof path, "%s/inverse", b.train.out);
        CHECK(same_file(path, b.train.out, SJ_CKPT_FILE) == 0 && wm_path_exists(path) == 1, "%s kept", path);
    }

    /* train.steps = 0: the warm-up alone, its model the run's checkpoint, equal to the
     * warm-up kept by the longer run; refused without a warm-up */
    setup_init(&b, "inv-alone", 0);
    b.train.inverse_steps = 4;
    CHECK(train(&b, &src, &r, err, sizeof err) == WM_OK && r.steps_done == 4, "%s", err);
    snprintf(path, sizeof path, "%s/inverse", a.train.out);
    CHECK(same_file(path, b.train.out, SJ_CKPT_FILE), "the warm-up alone: the model the longer run kept");
    setup_init(&b, "inv-nothing", 0);
    CHECK(train(&b, &src, &r, err, sizeof err) == WM_ERR_RANGE && strstr(err, "train.steps = 0"), "%s", err);

    /* two ghost batches: the warm-up sums its parts as seq-JEPA does */
    setup_init(&b, "inv-ghost", 4);
    b.train.inverse_steps = 4, b.train.ghost = 2;
    CHECK(train(&b, &src, &r, err, sizeof err) == WM_OK && r.steps_done == 8 && isfinite(r.last_loss), "%s", err);

    /* the head regresses the probe targets: equal to the actions, the same run; other
     * targets, another encoder */
    TargetSrc same = {syn, 1, {0}}, rot = {syn, 2, {0}};
    SjSource src_same = {target_next, NULL, &same}, src_rot = {target_next, NULL, &rot};
    setup_init(&b, "inv-tgt-same", 4);
    b.train.inverse_steps = 4;
    CHECK(train(&b, &src_same, &r, err, sizeof err) == WM_OK, "%s", err);
    CHECK(same_file(a.train.out, b.train.out, SJ_CKPT_FILE), "targets equal to the actions: the same warm-up");
    setup_init(&b, "inv-tgt-rot", 4);
    b.train.inverse_steps = 4;
    CHECK(train(&b, &src_rot, &r, err, sizeof err) == WM_OK, "%s", err);
    snprintf(path, sizeof path, "%s/inverse", a.train.out);
    char pb[1100];
    snprintf(pb, sizeof pb, "%s/inverse", b.train.out);
    CHECK(!same_file(path, pb, SJ_CKPT_FILE), "other targets: another warm-up");

    /* it learns: over 300 warm-up steps the loss of the last 3 log rows is below that of
     * the first 3 (each row 10 steps) */
    setup_init(&b, "inv-learn", 1);
    b.train.inverse_steps = 300, b.train.log_every = 10;
    CHECK(train(&b, &src, &r, err, sizeof err) == WM_OK, "%s", err);
    double first, last;
    loss_ends(b.train.out, 3, &first, &last);
    CHECK(last < 0.7 * first, "warm-up loss %.5f over its first 30 steps, %.5f over its last 30", first, last);
}

static void test_probe_targets(Synth *syn) {
    SjSource plain = {synth_next, NULL, syn};
    TargetSrc same = {syn, 1, {0}}, other = {syn, 2, {0}};
    SjSource src_same = {target_next, NULL, &same}, src_other = {target_next, NULL, &other};
    SjTrainSetup a, b, c;
    SjTrainResult r;
    char err[1024], ra[4096], rb[4096], rc[4096];
    setup_init(&a, "tgt-none", 6);
    setup_init(&b, "tgt-actions", 6);
    setup_init(&c, "tgt-other", 6);
    a.train.ghost = b.train.ghost = c.train.ghost = 2;
    CHECK(train(&a, &plain, &r, err, sizeof err) == WM_OK, "%s", err);
    CHECK(train(&b, &src_same, &r, err, sizeof err) == WM_OK, "%s", err);
    CHECK(train(&c, &src_other, &r, err, sizeof err) == WM_OK, "%s", err);
    r2_column(a.train.out, ra, sizeof ra);
    r2_column(b.train.out, rb, sizeof rb);
    r2_column(c.train.out, rc, sizeof rc);
    CHECK(strlen(ra) > 6 && !strcmp(ra, rb), "targets equal to the actions: the same probe R^2 (%s / %s)", ra, rb);
    CHECK(same_file(a.train.out, b.train.out, SJ_STATE_FILE), "... and the same probes, two ghost batches");
    CHECK(strcmp(ra, rc) != 0, "other targets: another probe R^2 (%s / %s)", ra, rc);
    CHECK(same_file(a.train.out, c.train.out, SJ_CKPT_FILE), "... and the same model (probes read detached features)");
}

int main(int argc, char **argv) {
    nn_blas_reexec(argc, argv);
    nn_runtime_init(2);
    wm_log_set_level(WM_LOG_WARN);
    wm_signals_install();
    char err[1024];
    Synth syn = {.nan_at = -1, .sigint_at = -1};
    SjSource src = {synth_next, NULL, &syn};
    SjTrainSetup a, b;
    SjTrainResult ra, rb;

    /* Two identical runs: identical logs and checkpoints. */
    setup_init(&a, "a", 8);
    setup_init(&b, "b", 8);
    CHECK(train(&a, &src, &ra, err, sizeof err) == WM_OK, "%s", err);
    CHECK(train(&b, &src, &rb, err, sizeof err) == WM_OK, "%s", err);
    CHECK(ra.steps_done == 8 && isfinite(ra.last_loss));
    char *la = slurp(a.train.out, RUN_LOG_FILE), *lb = slurp(b.train.out, RUN_LOG_FILE);
    /* Compare the deterministic columns (step, loss, lr, tau); throughput varies. */
    int lines = 0, same = 1;
    for (char *p = la, *q = lb; *p && *q; lines++) {
        char *pe = strchr(p, '\n'), *qe = strchr(q, '\n');
        if (!pe || !qe) break;
        int commas = 0;
        for (char *s = p, *t = q; s < pe && commas < 4; s++, t++) {
            same &= *s == *t;
            commas += *s == ',';
        }
        p = pe + 1, q = qe + 1;
    }
    CHECK(lines == 9 && same, "same loss curve bit for bit (%d lines)", lines);
    CHECK(same_file(a.train.out, b.train.out, SJ_CKPT_FILE) && same_file(a.train.out, b.train.out, SJ_STATE_FILE));
    wm_free(la), wm_free(lb);

    /* 4 steps, stopped by Ctrl-C, then resumed to 8: equals the straight run. */
    setup_init(&b, "c", 8);
    syn.sigint_at = 3;
    CHECK(train(&b, &src, &rb, err, sizeof err) == WM_OK && rb.interrupted && rb.steps_done == 4,
          "interrupted at %lld: %s", (long long)rb.steps_done, err);
    wm_signals_reset();
    syn.sigint_at = -1;
    b.resume = 1;
    CHECK(train(&b, &src, &rb, err, sizeof err) == WM_OK && rb.steps_done == 8, "%s", err);
    CHECK(same_file(a.train.out, b.train.out, SJ_CKPT_FILE), "resumed checkpoint equals the straight run");
    CHECK(same_file(a.train.out, b.train.out, SJ_STATE_FILE), "resumed optimiser state equals the straight run");
    la = slurp(a.train.out, RUN_LOG_FILE), lb = slurp(b.train.out, RUN_LOG_FILE);
    CHECK(strlen(la) > 0 && strlen(lb) > 0);
    wm_free(la), wm_free(lb);

    /* Resume under a different config is refused, naming the difference. */
    const char *mine = b.config_text;
    b.config_text = "[model]\nwidth = 8\n";
    CHECK(train(&b, &src, &rb, err, sizeof err) == WM_ERR_MISMATCH && strstr(err, "different config"), "%s", err);
    b.config_text = mine;

    /* Sections the schema marks as read after training (evaluation) do not block a
     * resume: one added since the run began still resumes, to the straight run's bits;
     * a training key that differs is still refused under that schema. */
    static const WmCfgSection later_sec[] = {{"notes", NULL, 0, 0, 1, NULL}};
    static const WmCfgSchema later = {later_sec, 1};
    setup_init(&b, "eval-added", 8);
    syn.sigint_at = 3;
    CHECK(train(&b, &src, &rb, err, sizeof err) == WM_OK && rb.interrupted && rb.steps_done == 4, "%s", err);
    wm_signals_reset();
    syn.sigint_at = -1;
    WmBuf added = {0};
    wm_buf_printf(&added, "%s\n[notes]\nseed = 7\nwhatever = 1\n", b.config_text);
    b.config_text = added.data, b.config_schema = &later, b.resume = 1;
    CHECK(train(&b, &src, &rb, err, sizeof err) == WM_OK && rb.steps_done == 8, "added [notes] resumes: %s", err);
    CHECK(same_file(a.train.out, b.train.out, SJ_CKPT_FILE), "resumed with [notes] added: the straight run's checkpoint");
    wm_buf_free(&added);
    b.config_text = "[model]\nwidth = 8\n[notes]\nseed = 7\n";
    CHECK(train(&b, &src, &rb, err, sizeof err) == WM_ERR_MISMATCH && strstr(err, "width = 8"), "%s", err);

    /* A run folder moved as a whole still resumes ([train] out says where it is, not how
     * it trains), and to the same bits as the straight run. */
    setup_init(&b, "before-move", 8);
    syn.sigint_at = 3;
    CHECK(train(&b, &src, &rb, err, sizeof err) == WM_OK && rb.interrupted && rb.steps_done == 4, "%s", err);
    wm_signals_reset();
    syn.sigint_at = -1;
    char moved[1100];
    snprintf(moved, sizeof moved, "%s/after-move", test_tmpdir());
    CHECK(rename(b.train.out, moved) == 0, "rename to %s", moved);
    setup_init(&b, "after-move", 8);
    b.resume = 1;
    CHECK(train(&b, &src, &rb, err, sizeof err) == WM_OK && rb.steps_done == 8, "moved folder resumes: %s", err);
    CHECK(same_file(a.train.out, b.train.out, SJ_CKPT_FILE), "resumed in the moved folder: the straight run's checkpoint");

    /* NaN at step 6 (with a checkpoint every 2 steps): error names the step, the step-6
     * checkpoint is the last good one (step 6 saved before the NaN step 7). */
    setup_init(&b, "d", 8);
    b.train.ckpt_every = 2;
    syn.nan_at = 6;
    int rc = train(&b, &src, &rb, err, sizeof err);
    CHECK(rc == WM_ERR_NUMERIC && strstr(err, "NaN at step 7") && strstr(err, "step 6"), "%s", err);
    syn.nan_at = -1;
    SjModel *m = NULL;
    int64_t st = -1;
    char ck[1100];
    wm_path_join(ck, sizeof ck, b.train.out, SJ_CKPT_FILE);
    CHECK(sj_checkpoint_load(ck, &m, NULL, &st, err, sizeof err) == WM_OK && st == 6, "%s", err);
    sj_model_destroy(m);

    /* Damaged checkpoints: truncated, a missing tensor, a wrong shape. */
    char *raw;
    size_t n;
    wm_path_join(ck, sizeof ck, a.train.out, SJ_CKPT_FILE);
    CHECK(wm_read_file(ck, &raw, &n, err, sizeof err) == WM_OK);
    char bad[1200];
    snprintf(bad, sizeof bad, "%s/trunc.safetensors", test_tmpdir());
    wm_write_file_atomic(bad, raw, n - 100, err, sizeof err);
    CHECK(sj_checkpoint_load(bad, &m, NULL, &st, err, sizeof err) != WM_OK && m == NULL && strstr(err, "trunc.safetensors"),
          "%s", err);
    /* rename one tensor: the loader names the one it misses */
    char *hit = memmem(raw, n, "\"predictor.3.bias\"", 18);
    CHECK(hit != NULL);
    if (hit) {
        memcpy(hit + 1, "predictor.3.bian", 16);
        snprintf(bad, sizeof bad, "%s/missing.safetensors", test_tmpdir());
        wm_write_file_atomic(bad, raw, n, err, sizeof err);
        CHECK(sj_checkpoint_load(bad, &m, NULL, &st, err, sizeof err) != WM_OK && strstr(err, "predictor.3.bias"), "%s", err);
        memcpy(hit + 1, "predictor.3.bias", 16);
    }
    /* a config whose width differs from the stored tensors: shapes disagree */
    char *w4 = memmem(raw, n, "width = 4", 9);
    CHECK(w4 != NULL);
    if (w4) {
        w4[8] = '5';
        snprintf(bad, sizeof bad, "%s/shape.safetensors", test_tmpdir());
        wm_write_file_atomic(bad, raw, n, err, sizeof err);
        CHECK(sj_checkpoint_load(bad, &m, NULL, &st, err, sizeof err) != WM_OK && strstr(err, "shape"), "%s", err);
        w4[8] = '4';
    }
    test_impossible_model(&src, raw, n);
    wm_free(raw);
    test_on_step(&src, &a);
    test_bf16(&src, &a);
    test_m_min(&src, &syn, &a);
    test_probe_targets(&syn);
    test_inverse(&syn, &a);
    test_inverse_grad(&syn);
    for (int i = 0; i < ndumps; i++) wm_buf_free(&dumps[i]);
    nn_runtime_shutdown();
    return TEST_DONE();
}
