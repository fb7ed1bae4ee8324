/* Shared command steps (see pipeline.h). */
#include "run/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/stream.h"
#include "run/report.h"
#include "run/steps.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/dist.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/progress.h"

const char *const pl_run_files[] = {
    SJ_CKPT_FILE, SJ_STATE_FILE, RUN_LOG_FILE, "eval.json", "eval.md",
    /* a checkpoint save cut short (model/sj_ckpt.c writes NAME.next, then renames) */
    SJ_CKPT_FILE ".next", SJ_STATE_FILE ".next",
    /* eval's report (cli/report.h) and bench pathint's */
    RPT_FILE, RPT_FIGURES, "report.json", "pca_z.png", "pca_zagg.png",
    /* the model as the inverse warm-up left it (train.inverse_steps) */
    SJ_INVERSE_DIR "/" SJ_CKPT_FILE, SJ_INVERSE_DIR "/" SJ_STATE_FILE, SJ_INVERSE_DIR "/" SJ_CKPT_FILE ".next",
    SJ_INVERSE_DIR "/" SJ_STATE_FILE ".next", NULL};

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
    if (force && n) {
        if (!wm_path_join(path, sizeof path, dir, SJ_INVERSE_DIR)) rmdir(path); /* when emptied; else it stays */
        wm_info("train: --force: deleted %d file%s of the previous run in '%s'", n, n > 1 ? "s" : "", dir);
    }
    if (!n || force || resume) return WM_OK;
    return wm_errf(err, errsz, WM_ERR_ARG,
                   "the run folder '%s' already holds a run (%s); continue it with --resume, replace it with "
                   "--force (deletes those files), or choose another train.out",
                   dir, found);
}

SjBatch pl_batch(const EnvSpec *sp, const AgBatch *b, float *targets) {
    if (targets) env_equiv_targets(sp, b->latents, b->actions, (size_t)b->n, b->t, targets);
    return (SjBatch){b->pixels, b->actions, b->labels, b->n, b->t, targets};
}

typedef struct {
    AgStream *s;
    float *targets;
} Src;

static int src_next(void *ctx, int64_t step, SjBatch *out, char *err, size_t errsz) {
    Src *s = ctx;
    const AgBatch *b = ag_stream_next(s->s, step, err, errsz);
    if (!b) return WM_ERR_ARG;
    *out = pl_batch(ag_stream_spec(s->s), b, s->targets);
    return WM_OK;
}

static void src_release(void *ctx) { ag_stream_release(((Src *)ctx)->s); }

void pl_supervised_note(const RunConfig *rc, const char *cmd) {
    if (rc->supervised_dropped[0])
        wm_info("%s: no supervised column: the config's eval.supervised_pose was measured on its own world, "
                "and %s changed that world (set eval.supervised_pose to this world's bound to show one)",
                cmd, rc->supervised_dropped);
}

int pl_use_data(RunConfig *rc, char *err, size_t errsz) {
    if (!rc->pipe.data[0]) return WM_OK;
    /* The first open reads every file once: sizes and CRC-32 as the manifest says. */
    Dataset *ds;
    int r = ds_open_as(rc->pipe.data, DS_OPEN_VERIFY, &rc->env, &ds, err, errsz);
    if (r) return r;
    const DsConfig *dc = ds_config(ds);
    DsConfig mine = {rc->env, rc->agent, rc->gen};
    ds_config_normalize(&mine);
    WmBuf a = {0}, b = {0};
    wm_cfg_dump(ds_config_schema(), &mine, &a);
    wm_cfg_dump(ds_config_schema(), dc, &b);
    if (strcmp(a.data, b.data))
        wm_info("data: the [env], [agent] and [gen] sections of '%s' replace those of the config", rc->pipe.data);
    wm_buf_free(&a), wm_buf_free(&b);
    RunConfig *before = wm_new(RunConfig, 1);
    *before = *rc;
    rc->env = dc->env, rc->agent = dc->agent, rc->gen = dc->gen;
    char why[1100];
    snprintf(why, sizeof why, "the dataset '%s'", rc->pipe.data);
    run_config_world_changed(rc, before, why);
    wm_free(before);
    ds_close(ds);
    return WM_OK;
}

typedef struct {
    Dataset *ds;
    AgBatch b;
    float *targets;
    uint64_t seed;
    int first, n; /* this rank's rows of each global batch */
} DataSrc;

static int data_next(void *ctx, int64_t step, SjBatch *out, char *err, size_t errsz) {
    DataSrc *s = ctx;
    int r = ds_batch(s->ds, DS_SPLIT_TRAIN, s->seed, step, &s->b, err, errsz);
    if (r) return r;
    *out = pl_batch(ds_spec(s->ds), &s->b, s->targets);
    size_t px = (size_t)s->b.h * (size_t)s->b.w * (size_t)s->b.c, f = (size_t)s->first;
    size_t act = f * (size_t)(s->b.t - 1) * (size_t)s->b.action_dim;
    out->pixels += f * (size_t)s->b.t * px;
    out->actions += act;
    out->probe_targets += act;
    out->labels += f;
    out->n = s->n;
    return WM_OK;
}

/* The resolved config stored in checkpoints: the keys that say how a run is spread
 * (train.ranks, train.ghost, train.check_ranks) at their defaults, so that a run
 * resumes on any number of ranks (its batch-norm groups then follow the new layout,
 * as DDP's do on another world size; ranks x ghost kept equal continues exactly). */
static void stored_config_text(const RunConfig *rc, WmBuf *text) {
    static RunConfig c;
    c = *rc;
    c.train.ranks = 0, c.train.ghost = 1, c.train.check_ranks = 0;
    run_config_text(&c, text);
}

/* This rank's share of every global batch. */
static int local_batch(const RunConfig *rc, int *local, char *err, size_t errsz) {
    int r = sj_train_split(&rc->train, wm_dist_size(), local, err, errsz);
    if (r && wm_dist_rank() > 0) err[0] = '\0'; /* every rank found the same; rank 0 says it */
    return r;
}

/* Trains rc's model on the batches of source (a world of spec sp) with the standard
 * sinks, storing the resolved config in its checkpoints. */
static int train_on(const RunConfig *rc, const EnvSpec *sp, SjSource source, int resume, int quiet,
                    SjTrainResult *res, char *err, size_t errsz) {
    WmBuf text = {0};
    stored_config_text(rc, &text);
    SjTrainSetup su = {.model = rc->model, .optim = rc->optim, .train = rc->train,
                       .shape = {sp->height, sp->width, sp->action_dim, sp->n_classes},
                       .config_text = text.data, .config_schema = &run_schema, .command = rc->command, .resume = resume,
                       .init = rc->init};
    RunSteps steps = {0};
    RunSinks sinks;
    run_steps_standard(&steps, &sinks, &rc->train, quiet);
    run_steps_attach(&steps, &su);
    int r = sj_train_run(&su, &source, res, err, errsz);
    wm_buf_free(&text);
    return r;
}

static int train_from_data(const RunConfig *rc, int resume, int quiet, SjTrainResult *res, char *err, size_t errsz) {
    int local;
    int r = local_batch(rc, &local, err, errsz);
    if (r) return r;
    DataSrc src = {NULL, {0}, NULL, (uint64_t)rc->train.seed, wm_dist_rank() * local, local};
    r = ds_open_as(rc->pipe.data, DS_OPEN_SHAPES, &rc->env, &src.ds, err, errsz);
    if (r) return r;
    const EnvSpec *sp = ds_spec(src.ds);
    int M = rc->train.m_train;
    if (ds_views(src.ds) < M + 1)
        r = wm_errf(err, errsz, WM_ERR_RANGE, "the dataset '%s' has %d views per sequence; train.m_train = %d needs at least %d",
                    rc->pipe.data, ds_views(src.ds), M, M + 1);
    else if (ds_count(src.ds, DS_SPLIT_TRAIN) < 1)
        r = wm_errf(err, errsz, WM_ERR_RANGE, "the dataset '%s' has no training sequences", rc->pipe.data);
    if (!r) r = ag_batch_alloc(&src.b, sp, rc->train.batch, M + 1, 0, err, errsz);
    if (!r) {
        src.targets = wm_new(float, (size_t)rc->train.batch * (size_t)M * (size_t)sp->action_dim);
        wm_info("train: from '%s': %lld sequences of %d views (windows of %d)", rc->pipe.data,
                (long long)ds_count(src.ds, DS_SPLIT_TRAIN), ds_views(src.ds), M + 1);
        r = train_on(rc, sp, (SjSource){data_next, NULL, &src}, resume, quiet, res, err, errsz);
    }
    ag_batch_free(&src.b);
    wm_free(src.targets);
    ds_close(src.ds);
    return r;
}

int pl_train(const RunConfig *rc, int resume, int quiet, SjTrainResult *res, char *err, size_t errsz) {
    if (rc->pipe.data[0]) return train_from_data(rc, resume, quiet, res, err, errsz);
    /* Each rank rolls out its own share of every global batch (sequences of the same
     * seed, so the data does not depend on the number of ranks). */
    int local;
    int sr = local_batch(rc, &local, err, errsz);
    if (sr) return sr;
    AgStream *st = NULL;
    sr = ag_stream_create(&rc->env, &rc->agent, local, rc->train.m_train + 1, local < 64 ? local : 64,
                              rc->pipe.queue, (uint64_t)rc->train.seed, ENV_SPLIT_TRAIN, &st, err, errsz);
    if (sr) return sr;
    ag_stream_shard(st, rc->train.batch, wm_dist_rank() * local);
    Src src = {st, wm_new(float, (size_t)local * (size_t)rc->train.m_train * (size_t)ag_stream_spec(st)->action_dim)};
    int r = train_on(rc, ag_stream_spec(st), (SjSource){src_next, src_release, &src}, resume, quiet, res, err, errsz);
    wm_free(src.targets);
    ag_stream_destroy(st);
    return r;
}

/* Each view's pose and each action's equivariance target (run/pathint.h). */
static void targets(const EnvSpec *sp, const AgBatch *b, float **pose, float **equiv) {
    size_t nv = (size_t)b->n * (size_t)b->t, na = (size_t)b->n * (size_t)(b->t - 1);
    *pose = wm_new(float, nv * (size_t)pl_pose_dim(sp));
    pl_pose_features(sp, b->latents, nv, *pose);
    *equiv = wm_new(float, na * (size_t)sp->action_dim);
    env_equiv_targets(sp, b->latents, b->actions, (size_t)b->n, b->t, *equiv);
}

static int make_split(Env *env, Agent *ag, const RunConfig *rc, int split, int n, AgBatch *b, float **pose,
                      float **equiv, char *err, size_t errsz) {
    int M = rc->eval.m_max;
    int r = ag_batch_alloc(b, env_spec(env), n, M + 1, 0, err, errsz);
    if (!r) r = ag_rollout(env, ag, (uint64_t)rc->eval.seed, split, 0, n, b, err, errsz);
    if (r) return r;
    targets(env_spec(env), b, pose, equiv);
    return WM_OK;
}

static int eval_from_data(const RunConfig *rc, int n_train, int n_test, PlEvalData *d, char *err, size_t errsz) {
    Dataset *ds;
    int r = ds_open_as(rc->pipe.data, DS_OPEN_SHAPES, &rc->env, &ds, err, errsz);
    if (r) return r;
    int M = rc->eval.m_max;
    int64_t ntr = ds_count(ds, DS_SPLIT_TRAIN), nte = ds_count(ds, DS_SPLIT_VAL);
    if (ds_views(ds) < M + 1)
        r = wm_errf(err, errsz, WM_ERR_RANGE, "the dataset '%s' has %d views per sequence; eval.m_max = %d needs %d (set eval.m_max <= %d)",
                    rc->pipe.data, ds_views(ds), M, M + 1, ds_views(ds) - 1);
    else if (ntr < 1 || nte < 1)
        r = wm_errf(err, errsz, WM_ERR_RANGE, "the dataset '%s' has %lld train and %lld val sequences; the probes need both (gen.val_seqs > 0)",
                    rc->pipe.data, (long long)ntr, (long long)nte);
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
        targets(&d->spec, &d->tr, &d->pose_tr, &d->equiv_tr);
        targets(&d->spec, &d->te, &d->pose_te, &d->equiv_te);
        d->pose_dim = pl_pose_dim(&d->spec);
        wm_info("eval: %d + %d sequences of %d views from '%s'", n_train, n_test, M + 1, rc->pipe.data);
    }
    ds_close(ds);
    if (r) pl_eval_data_free(d);
    return r;
}

int pl_eval_data(const RunConfig *rc, const AgentConfig *agent, int n_train, int n_test, PlEvalData *d, char *err,
                 size_t errsz) {
    memset(d, 0, sizeof *d);
    if (rc->pipe.data[0] && !agent) {
        int r = eval_from_data(rc, n_train, n_test, d, err, errsz);
        if (!r) r = pl_retr_data(rc, &d->retr, err, errsz);
        if (r) pl_eval_data_free(d);
        return r;
    }
    Env *env;
    int r = env_create(&rc->env, 64, &env, err, errsz);
    if (r) return r;
    Agent *ag;
    r = ag_create(agent ? agent : &rc->agent, &rc->env, env_spec(env), 64, &ag, err, errsz);
    if (!r) {
        d->spec = *env_spec(env);
        double t0 = wm_now();
        d->pose_dim = pl_pose_dim(&d->spec);
        r = make_split(env, ag, rc, ENV_SPLIT_TRAIN, n_train, &d->tr, &d->pose_tr, &d->equiv_tr, err, errsz);
        if (!r) r = make_split(env, ag, rc, ENV_SPLIT_HELDOUT, n_test, &d->te, &d->pose_te, &d->equiv_te, err, errsz);
        if (!r) r = pl_retr_data(rc, &d->retr, err, errsz);
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
    wm_free(d->pose_tr);
    wm_free(d->pose_te);
    wm_free(d->equiv_tr);
    wm_free(d->equiv_te);
    pl_retr_data_free(&d->retr);
    memset(d, 0, sizeof *d);
}

int pl_check_shape(const SjModel *m, const EnvSpec *sp, const char *what, char *err, size_t errsz) {
    SjShape want = {sp->height, sp->width, sp->action_dim, sp->n_classes};
    return sj_shape_check(sj_model_shape(m), &want, what, err, errsz);
}

SjEvalSpec pl_eval_spec(const RunConfig *rc, const PlEvalData *d) {
    return (SjEvalSpec){.m_max = rc->eval.m_max, .mlp = env_traits(rc->env.kind)->family == ENV_FAMILY_OBJECT,
                        .mlp_hidden = rc->eval.mlp_hidden, .mlp_epochs = rc->eval.mlp_epochs,
                        .seed = (uint64_t)rc->eval.seed, .retr = d->retr.b.n ? &d->retr.split : NULL,
                        .retr_m_max = rc->eval.retr_m_max, .retr_k = rc->eval.retr_k};
}

SjEvalSplit pl_eval_split(const PlEvalData *d, int test) {
    const AgBatch *b = test ? &d->te : &d->tr;
    return (SjEvalSplit){b->n, b->t, b->pixels, b->actions, b->labels, b->latents, b->latent_dim,
                         test ? d->pose_te : d->pose_tr, d->pose_dim, test ? d->equiv_te : d->equiv_tr};
}

int pl_eval(SjModel *m, const RunConfig *rc, const PlEvalData *d, SjEvalResult *res, char *err, size_t errsz) {
    SjEvalSpec spec = pl_eval_spec(rc, d);
    SjEvalSplit s_tr = pl_eval_split(d, 0), s_te = pl_eval_split(d, 1);
    return sj_eval_run(m, &spec, &s_tr, &s_te, res, err, errsz);
}

static int add_column(PlEvalTable *t, const char *name) {
    WM_ASSERT(t->n < PL_MAX_COLUMNS);
    int i = t->n++;
    t->col[i] = (SjEvalColumn){name, t->about[i], &t->res[i]};
    sj_eval_result_blank(&t->res[i], 0);
    return i;
}

int pl_eval_table(SjModel *m, const char *model_about, SjModel *no_action, const char *no_action_about,
                  const RunConfig *rc, const PlEvalData *d, int quiet, PlEvalTable *t, char *err, size_t errsz) {
    memset(t, 0, sizeof *t);
    t->no_action = t->supervised = -1;
    SjEvalSpec spec = pl_eval_spec(rc, d);
    SjEvalSplit tr = pl_eval_split(d, 0), te = pl_eval_split(d, 1);
    int M = rc->eval.m_max, K = d->spec.n_classes;
    spec.loss_m = rc->train.m_train < M ? rc->train.m_train : M;
    WmProgress prog;
    if (!quiet) {
        int64_t work = (2 + (no_action != NULL)) * (int64_t)sj_eval_work(&spec, &tr, &te) +
                       sj_eval_oracle_work(&spec, &tr, &te);
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
        SjModel *u;
        r = sj_model_create(sj_model_config(m), sj_model_shape(m), (uint64_t)rc->train.seed, &u, err, errsz);
        if (!r) r = sj_eval_run(u, &spec, &tr, &te, &t->res[t->random], err, errsz);
        sj_model_destroy(u);
    }

    if (no_action) {
        t->no_action = add_column(t, "no-action");
        snprintf(t->about[t->no_action], sizeof t->about[0],
                 "a model of this world trained without action conditioning: %s", no_action_about);
        if (!r) r = sj_eval_run(no_action, &spec, &tr, &te, &t->res[t->no_action], err, errsz);
    }

    if (rc->eval.supervised_pose >= 0) {
        t->supervised = add_column(t, "supervised");
        snprintf(t->about[t->supervised], sizeof t->about[0],
                 "upper bound on the pose rows: a reader of one view trained with pose labels, as recorded in "
                 "eval.supervised_pose (measured by %s, not by this command)",
                 rc->eval.supervised_source[0] ? rc->eval.supervised_source : "an unnamed source");
        t->res[t->supervised].pose_r2 = rc->eval.supervised_pose;
        if (spec.mlp) t->res[t->supervised].pose_mlp_r2 = rc->eval.supervised_pose;
    }

    t->noise = add_column(t, "noise");
    snprintf(t->about[t->noise], sizeof t->about[0],
             "the pose probes and the retrieval scorer fed Gaussian noise (as wide as the model's z) in place of "
             "features: what they read from nothing");
    sj_eval_noise_result(&spec, &tr, &te, sj_model_enc_dim(m), &t->res[t->noise]);

    t->chance = add_column(t, "chance");
    snprintf(t->about[t->chance], sizeof t->about[0],
             "guessing: 1/%d for top-1 (%d classes), 0 for R^2 (predicting the mean), 1/%d for retrieval "
             "(%d candidates)", K, K, rc->eval.retr_k + 1, rc->eval.retr_k + 1);
    sj_eval_chance(&t->res[t->chance], M, K, spec.retr ? rc->eval.retr_m_max : 0, rc->eval.retr_k);

    t->action_only = add_column(t, "action only");
    snprintf(t->about[t->action_only], sizeof t->about[0],
             "retrieval by the best reader of a_M alone: each candidate scored by how likely its true pose is to "
             "follow a_M under the world's pose prior, without view M's pose (%s); what a model could reach "
             "from the action without integrating the path",
             env_traits(rc->env.kind)->family == ENV_FAMILY_OBJECT
                 ? (rc->env.rotation ? "uniform rotations: the action says nothing, chance"
                                     : "the density of the Euler box at the pose the action implies for view M")
                 : "the implied previous fixation inside the scene");
    if (!r) r = sj_eval_action_only_result(&spec, &t->res[t->action_only], err, errsz);

    t->oracle = add_column(t, "oracle");
    snprintf(t->about[t->oracle], sizeof t->about[0],
             "the ground truth in place of features: pose from the true pose (the probe's ceiling), equivariance "
             "from the true latents of views 1 and 2, retrieval with view M's true pose turned by a_M against the "
             "candidates' true poses (nearest wins)");
    if (!r) r = sj_eval_oracle_result(&spec, &tr, &te, d->spec.action_dim, &t->res[t->oracle], err, errsz);
    if (!quiet) wm_progress_finish(&prog, NULL);
    if (r) pl_eval_table_free(t);
    return r;
}

void pl_eval_table_free(PlEvalTable *t) {
    for (int i = 0; i < t->n; i++) sj_eval_result_free(&t->res[i]);
    t->n = 0;
}
