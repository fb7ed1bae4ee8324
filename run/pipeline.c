/* Shared command steps (see pipeline.h). */
#include "run/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "data/dataset.h"
#include "data/stream.h"
#include "run/report.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/progress.h"

const char *const pl_run_files[] = {
    SJ_CKPT_FILE, SJ_STATE_FILE, SJ_LOG_FILE, "eval.json", "eval.md",
    /* eval's report (cli/report.h) and bench pathint's */
    RPT_FILE, RPT_FIGURES, "report.json", "pca_z.png", "pca_zagg.png", NULL};

int pl_prepare_run_dir(const char *dir, int resume, int force, char *err, size_t errsz) {
    char path[1100], found[600] = "";
    size_t len = 0;
    int n = 0;
    for (int i = 0; pl_run_files[i]; i++) {
        if (wm_path_join(path, sizeof path, dir, pl_run_files[i]))
            return wm_errf(err, errsz, WM_ERR_ARG, "train.out '%s' is too long", dir);
        if (!wm_path_exists(path)) continue;
        if (force) {
            if (remove(path))
                return wm_errf(err, errsz, WM_ERR_IO, "--force: cannot delete '%s': %s", path, strerror(errno));
            n++;
            continue;
        }
        if (len < sizeof found)
            len += (size_t)snprintf(found + len, sizeof found - len, "%s%s", n ? ", " : "", pl_run_files[i]);
        n++;
    }
    if (force && n) wm_info("train: --force: deleted %d file%s of the previous run in '%s'", n, n > 1 ? "s" : "", dir);
    if (!n || force || resume) return WM_OK;
    return wm_errf(err, errsz, WM_ERR_ARG,
                   "the run folder '%s' already holds a run (%s); continue it with --resume, replace it with "
                   "--force (deletes those files), or choose another train.out",
                   dir, found);
}

SjBatch pl_batch(const AgBatch *b) {
    return (SjBatch){b->pixels, b->actions, b->labels, b->n, b->t};
}

typedef struct {
    AgStream *s;
} Src;

static int src_next(void *ctx, int64_t step, SjBatch *out, char *err, size_t errsz) {
    const AgBatch *b = ag_stream_next(((Src *)ctx)->s, step, err, errsz);
    if (!b) return WM_ERR_ARG;
    *out = pl_batch(b);
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
    *out = pl_batch(&s->b);
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
                           .config_text = text.data, .command = rc->command, .resume = resume, .quiet = quiet};
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
                       .config_text = text.data, .command = rc->command, .resume = resume, .quiet = quiet};
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
            env_compose_actions(ec, A, b->actions + (size_t)i * (size_t)M * A, k,
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
    SjShape want = {sp->height, sp->width, sp->action_dim, sp->n_classes};
    return sj_shape_check(sj_model_shape(m), &want, what, err, errsz);
}

static SjEvalSpec eval_spec(const RunConfig *rc, const PlEvalData *d) {
    return (SjEvalSpec){.m_max = rc->eval.m_max, .cum_dim = d->spec.action_dim, .mlp = env_traits(rc->env.kind)->family == ENV_FAMILY_OBJECT,
                        .mlp_hidden = rc->eval.mlp_hidden, .mlp_epochs = rc->eval.mlp_epochs,
                        .seed = (uint64_t)rc->eval.seed};
}

static SjEvalSplit eval_split(const AgBatch *b, const float *cum) {
    return (SjEvalSplit){b->n, b->t, b->pixels, b->actions, b->labels, cum, b->latents, b->latent_dim};
}

int pl_eval(SjModel *m, const RunConfig *rc, const PlEvalData *d, SjEvalResult *res, char *err, size_t errsz) {
    SjEvalSpec spec = eval_spec(rc, d);
    SjEvalSplit s_tr = eval_split(&d->tr, d->cum_tr), s_te = eval_split(&d->te, d->cum_te);
    return sj_eval_run(m, &spec, &s_tr, &s_te, res, err, errsz);
}

static int add_column(PlEvalTable *t, const char *name) {
    WM_ASSERT(t->n < PL_MAX_COLUMNS);
    int i = t->n++;
    t->col[i] = (SjEvalColumn){name, t->about[i], &t->res[i]};
    sj_eval_result_blank(&t->res[i], 0);
    return i;
}

int pl_eval_table(SjModel *m, const char *model_about, const RunConfig *rc, const PlEvalData *d, int quiet,
                  PlEvalTable *t, char *err, size_t errsz) {
    memset(t, 0, sizeof *t);
    SjEvalSpec spec = eval_spec(rc, d);
    SjEvalSplit tr = eval_split(&d->tr, d->cum_tr), te = eval_split(&d->te, d->cum_te);
    int M = rc->eval.m_max, K = d->spec.n_classes;
    spec.loss_m = rc->train.m_train < M ? rc->train.m_train : M;
    spec.skip_trivial = 1; /* the tables leave M = 1 out of path integration */
    WmProgress prog;
    if (!quiet) {
        int64_t work = 2 * (int64_t)sj_eval_work(&spec, &tr, &te) + sj_eval_oracle_work(&spec, &tr, &te);
        wm_progress_start(&prog, "eval", work, "parts");
        spec.progress = &prog;
    }
    t->model = add_column(t, "model");
    snprintf(t->about[t->model], sizeof t->about[0], "%s", model_about);
    SjEvalSpec ms = spec;
    ms.want_pca = 1;
    int r = sj_eval_run(m, &ms, &tr, &te, &t->res[t->model], err, errsz);

    t->random = add_column(t, "random init");
    snprintf(t->about[t->random], sizeof t->about[0],
             "the same model config untrained, initialised from train.seed = %d as training starts; scored by the "
             "same probes on the same sequences", rc->train.seed);
    if (!r) {
        SjModel *u = sj_model_create(sj_model_config(m), sj_model_shape(m), (uint64_t)rc->train.seed, err, errsz);
        r = u ? sj_eval_run(u, &spec, &tr, &te, &t->res[t->random], err, errsz) : WM_ERR_ARG;
        sj_model_destroy(u);
    }

    t->chance = add_column(t, "chance");
    snprintf(t->about[t->chance], sizeof t->about[0],
             "guessing: 1/%d for top-1 (%d classes), 0 for R^2 (predicting the mean)", K, K);
    sj_eval_chance(&t->res[t->chance], M, K);

    t->oracle = add_column(t, "oracle");
    snprintf(t->about[t->oracle], sizeof t->about[0],
             "the same probes fed the ground truth instead of features: equivariance from the true latents of "
             "views 1 and 2, path integration from the true actions a_1..a_M (what these probes can reach on "
             "this data)");
    if (!r) r = sj_eval_oracle_result(&spec, &tr, &te, d->spec.action_dim, &t->res[t->oracle], err, errsz);
    if (!quiet) wm_progress_finish(&prog, NULL);
    if (r) pl_eval_table_free(t);
    return r;
}

void pl_eval_table_free(PlEvalTable *t) {
    for (int i = 0; i < t->n; i++) sj_eval_result_free(&t->res[i]);
    t->n = 0;
}
