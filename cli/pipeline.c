/* Shared command steps (see pipeline.h). */
#include "cli/pipeline.h"

#include <stdio.h>
#include <string.h>

#include "agents/dataset.h"
#include "agents/stream.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/progress.h"

typedef struct {
    AgStream *s;
} Src;

static int src_next(void *ctx, int64_t step, SjBatch *out, char *err, size_t errsz) {
    const AgBatch *b = ag_stream_next(((Src *)ctx)->s, step, err, errsz);
    if (!b) return WM_ERR_ARG;
    *out = (SjBatch){b->pixels, b->actions, b->labels, b->n, b->t};
    return WM_OK;
}

static void src_release(void *ctx) { ag_stream_release(((Src *)ctx)->s); }

int pl_use_data(RunConfig *rc, char *err, size_t errsz) {
    if (!rc->train.data[0]) return WM_OK;
    /* The first open reads every file once: sizes and CRC-32 as the manifest says. */
    Dataset *ds = ds_open(rc->train.data, DS_OPEN_VERIFY, err, errsz);
    if (!ds) return WM_ERR_ARG;
    const DsConfig *dc = ds_config(ds);
    DsConfig mine = {rc->env, rc->agent, rc->gen};
    ds_config_normalize(&mine);
    WmBuf a = {0}, b = {0};
    wm_cfg_dump(ds_config_schema(), &mine, &a);
    wm_cfg_dump(ds_config_schema(), dc, &b);
    if (strcmp(a.data, b.data))
        wm_info("data: the [env], [agent] and [gen] sections of '%s' replace those of the config", rc->train.data);
    wm_buf_free(&a), wm_buf_free(&b);
    rc->env = dc->env, rc->agent = dc->agent, rc->gen = dc->gen;
    ds_close(ds);
    return WM_OK;
}

typedef struct {
    Dataset *ds;
    AgBatch b;
    uint64_t seed;
} DataSrc;

static int data_next(void *ctx, int64_t step, SjBatch *out, char *err, size_t errsz) {
    DataSrc *s = ctx;
    int r = ds_batch(s->ds, DS_SPLIT_TRAIN, s->seed, step, &s->b, err, errsz);
    if (r) return r;
    *out = (SjBatch){s->b.pixels, s->b.actions, s->b.labels, s->b.n, s->b.t};
    return WM_OK;
}

static int train_from_data(const RunConfig *rc, int resume, int quiet, SjTrainResult *res, char *err, size_t errsz) {
    DataSrc src = {ds_open(rc->train.data, DS_OPEN_SHAPES, err, errsz), {0}, (uint64_t)rc->train.seed};
    if (!src.ds) return WM_ERR_ARG;
    const EnvSpec *sp = ds_spec(src.ds);
    int M = rc->train.m_train, r = WM_OK;
    if (ds_views(src.ds) < M + 1)
        r = wm_errf(err, errsz, WM_ERR_RANGE, "the dataset '%s' has %d views per sequence; train.m_train = %d needs at least %d",
                    rc->train.data, ds_views(src.ds), M, M + 1);
    else if (ds_count(src.ds, DS_SPLIT_TRAIN) < 1)
        r = wm_errf(err, errsz, WM_ERR_RANGE, "the dataset '%s' has no training sequences", rc->train.data);
    if (!r) r = ag_batch_alloc(&src.b, sp, rc->train.batch, M + 1, 0, err, errsz);
    if (!r) {
        wm_info("train: from '%s': %lld sequences of %d views (windows of %d)", rc->train.data,
                (long long)ds_count(src.ds, DS_SPLIT_TRAIN), ds_views(src.ds), M + 1);
        WmBuf text = {0};
        run_config_text(rc, &text);
        SjTrainSetup su = {.model = rc->model, .optim = rc->optim, .train = rc->train,
                           .shape = {sp->height, sp->width, sp->action_dim, sp->n_classes},
                           .config_text = text.data, .resume = resume, .quiet = quiet};
        SjSource source = {data_next, NULL, &src};
        r = sj_train_run(&su, &source, res, err, errsz);
        wm_buf_free(&text);
    }
    ag_batch_free(&src.b);
    ds_close(src.ds);
    return r;
}

int pl_train(const RunConfig *rc, int resume, int quiet, SjTrainResult *res, char *err, size_t errsz) {
    if (rc->train.data[0]) return train_from_data(rc, resume, quiet, res, err, errsz);
    AgStream *st = ag_stream_create(&rc->env, &rc->agent, rc->train.batch, rc->train.m_train + 1,
                                    rc->train.batch < 64 ? rc->train.batch : 64, rc->train.queue,
                                    (uint64_t)rc->train.seed, ENV_SPLIT_TRAIN, err, errsz);
    if (!st) return WM_ERR_ARG;
    const EnvSpec *sp = ag_stream_spec(st);
    WmBuf text = {0};
    run_config_text(rc, &text);
    SjTrainSetup su = {.model = rc->model, .optim = rc->optim, .train = rc->train,
                       .shape = {sp->height, sp->width, sp->action_dim, sp->n_classes},
                       .config_text = text.data, .resume = resume, .quiet = quiet};
    Src src = {st};
    SjSource source = {src_next, src_release, &src};
    int r = sj_train_run(&su, &source, res, err, errsz);
    ag_stream_destroy(st);
    wm_buf_free(&text);
    return r;
}

static void cumulative(const EnvConfig *ec, const AgBatch *b, int M, float **cum) {
    int A = b->action_dim;
    *cum = wm_new(float, (size_t)b->n * (size_t)M * (size_t)A);
    for (int i = 0; i < b->n; i++)
        for (int k = 1; k <= M; k++)
            ag_cumulative_action(ec, A, b->actions + (size_t)i * (size_t)M * A, k,
                                 *cum + ((size_t)i * M + (size_t)(k - 1)) * A);
}

static int make_split(Env *env, Agent *ag, const RunConfig *rc, int split, int n, AgBatch *b, float **cum, char *err,
                      size_t errsz) {
    int M = rc->eval.m_max;
    int r = ag_batch_alloc(b, env_spec(env), n, M + 1, 0, err, errsz);
    if (!r) r = ag_rollout(env, ag, (uint64_t)rc->eval.seed, split, 0, n, b, err, errsz);
    if (r) return r;
    cumulative(&rc->env, b, M, cum);
    return WM_OK;
}

static int eval_from_data(const RunConfig *rc, int n_train, int n_test, PlEvalData *d, char *err, size_t errsz) {
    Dataset *ds = ds_open(rc->train.data, DS_OPEN_SHAPES, err, errsz);
    if (!ds) return WM_ERR_ARG;
    int M = rc->eval.m_max, r = WM_OK;
    int64_t ntr = ds_count(ds, DS_SPLIT_TRAIN), nte = ds_count(ds, DS_SPLIT_VAL);
    if (ds_views(ds) < M + 1)
        r = wm_errf(err, errsz, WM_ERR_RANGE, "the dataset '%s' has %d views per sequence; eval.m_max = %d needs %d (set eval.m_max <= %d)",
                    rc->train.data, ds_views(ds), M, M + 1, ds_views(ds) - 1);
    else if (ntr < 1 || nte < 1)
        r = wm_errf(err, errsz, WM_ERR_RANGE, "the dataset '%s' has %lld train and %lld val sequences; the probes need both (gen.val_seqs > 0)",
                    rc->train.data, (long long)ntr, (long long)nte);
    if (!r) {
        if (n_train > ntr) n_train = (int)ntr;
        if (n_test > nte) n_test = (int)nte;
        d->spec = *ds_spec(ds);
        memset(d->spec.action_names, 0, sizeof d->spec.action_names); /* they live in ds */
        memset(d->spec.latent_names, 0, sizeof d->spec.latent_names);
        d->spec.class_names_hint = NULL;
        r = ag_batch_alloc(&d->tr, ds_spec(ds), n_train, M + 1, 0, err, errsz);
        if (!r) r = ag_batch_alloc(&d->te, ds_spec(ds), n_test, M + 1, 0, err, errsz);
        if (!r) r = ds_read(ds, DS_SPLIT_TRAIN, 0, n_train, 0, &d->tr, err, errsz);
        if (!r) r = ds_read(ds, DS_SPLIT_VAL, 0, n_test, 0, &d->te, err, errsz);
    }
    if (!r) {
        cumulative(&ds_config(ds)->env, &d->tr, M, &d->cum_tr);
        cumulative(&ds_config(ds)->env, &d->te, M, &d->cum_te);
        wm_info("eval: %d + %d sequences of %d views from '%s'", n_train, n_test, M + 1, rc->train.data);
    }
    ds_close(ds);
    if (r) pl_eval_data_free(d);
    return r;
}

int pl_eval_data(const RunConfig *rc, const AgentConfig *agent, int n_train, int n_test, PlEvalData *d, char *err,
                 size_t errsz) {
    memset(d, 0, sizeof *d);
    if (rc->train.data[0] && !agent) return eval_from_data(rc, n_train, n_test, d, err, errsz);
    Env *env = env_create(&rc->env, 64, err, errsz);
    if (!env) return WM_ERR_ARG;
    Agent *ag = ag_create(agent ? agent : &rc->agent, &rc->env, env_spec(env), 64, err, errsz);
    int r = ag ? WM_OK : WM_ERR_ARG;
    if (!r) {
        d->spec = *env_spec(env);
        double t0 = wm_now();
        r = make_split(env, ag, rc, ENV_SPLIT_TRAIN, n_train, &d->tr, &d->cum_tr, err, errsz);
        if (!r) r = make_split(env, ag, rc, ENV_SPLIT_HELDOUT, n_test, &d->te, &d->cum_te, err, errsz);
        if (!r) wm_info("eval: %d + %d sequences of %d views in %.1f s", n_train, n_test, rc->eval.m_max + 1, wm_now() - t0);
    }
    ag_destroy(ag);
    env_destroy(env);
    if (r) pl_eval_data_free(d);
    return r;
}

void pl_eval_data_free(PlEvalData *d) {
    ag_batch_free(&d->tr);
    ag_batch_free(&d->te);
    wm_free(d->cum_tr);
    wm_free(d->cum_te);
    memset(d, 0, sizeof *d);
}

int pl_check_shape(const SjModel *m, const EnvSpec *sp, const char *what, char *err, size_t errsz) {
    const SjShape *sh = sj_model_shape(m);
    if (sp->height != sh->img_h || sp->width != sh->img_w || sp->action_dim != sh->action_dim ||
        sp->n_classes != sh->n_classes)
        return wm_errf(err, errsz, WM_ERR_MISMATCH,
                       "'%s' was trained on %dx%d views with %d action dims and %d classes; this config gives %dx%d, %d, %d",
                       what, sh->img_h, sh->img_w, sh->action_dim, sh->n_classes, sp->height, sp->width, sp->action_dim,
                       sp->n_classes);
    return WM_OK;
}

int pl_eval(SjModel *m, const RunConfig *rc, const PlEvalData *d, SjEvalResult *res, char *err, size_t errsz) {
    SjEvalSpec spec = {.m_max = rc->eval.m_max, .cum_dim = d->spec.action_dim, .mlp = rc->env.kind == 0,
                       .mlp_hidden = rc->eval.mlp_hidden, .mlp_epochs = rc->eval.mlp_epochs,
                       .seed = (uint64_t)rc->eval.seed};
    SjEvalSplit s_tr = {d->tr.n, d->tr.t, d->tr.pixels, d->tr.actions, d->tr.labels, d->cum_tr};
    SjEvalSplit s_te = {d->te.n, d->te.t, d->te.pixels, d->te.actions, d->te.labels, d->cum_te};
    return sj_eval_run(m, &spec, &s_tr, &s_te, res, err, errsz);
}
