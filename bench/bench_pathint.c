/* `seqjepa bench pathint`: the scripted path-integration benchmark. Trains each
 * variant on the same data stream (per seed), evaluates all of them on the same
 * held-out sequences beside the controls (random init, noise, chance, the supervised
 * pose bound when recorded, the oracle), and writes report.json, report.md and PNG
 * figures drawn by the program. Path integration is next-view retrieval by the
 * model's own predictor (model/sj_pathint.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/args.h"
#include "bench/bench.h"
#include "run/pipeline.h"
#include "run/report.h"
#include "core/canvas.h"
#include "core/clock.h"
#include "core/dist.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/png.h"
#include "core/progress.h"
#include "core/quat.h"
#include "core/signal.h"
#include "envs/objects3d.h"

static const char *usage =
    "usage: seqjepa bench pathint CONFIG --out DIR [--ckpt FILE] [--resume] [section.key=value ...]\n\n"
    "For each of bench.seeds seeds, trains every variant of bench.variants on the same data\n"
    "stream (seqjepa-m1 / seqjepa-m3: with actions, M_train 1 / 3; no-action: no action\n"
    "conditioning; no-ema; seqjepa: the config as is), adds a randomly initialised model\n"
    "(random) and the oracle (true poses in place of features), and evaluates all on the\n"
    "same held-out sequences beside noise and chance: top-1 from z and z_AGG, the pose\n"
    "probes (ridge, and for objects an MLP, from z to each view's pose), equivariance R^2,\n"
    "and the path-integration test: next-view retrieval by the model's own predictor after\n"
    "M = 1..eval.retr_m_max observed views and a_M, the true view M+1 among eval.retr_k\n"
    "other views of the same object (same lights) at independent poses (top-1, chance\n"
    "1/(retr_k+1)), with the score of copying the last view. eval.supervised_pose adds a\n"
    "recorded supervised pose bound as a row (left out when the command line changes the\n"
    "config's world, unless given there too). --ckpt evaluates a trained checkpoint (with\n"
    "the controls) instead of training. --resume continues every training whose run folder\n"
    "under DIR/runs/ holds a checkpoint (an interrupted bench, or more seeds than a\n"
    "finished one), with the same config as before; finished runs are only evaluated.\n"
    "Writes DIR/report.json, DIR/report.md, DIR/retrieval.png, DIR/loss.png,\n"
    "DIR/pca_z.png, DIR/pca_zagg.png; training runs go to DIR/runs/.\n";

#define MAX_VARIANTS 11
#define MAX_SEEDS 100

enum { V_TRAINED, V_CKPT, V_RANDOM, V_ORACLE, V_NOISE, V_CHANCE, V_SUPERVISED, V_ACTION_ONLY, V_WARMUP };

typedef struct {
    char name[32];
    int kind;
    SjEvalResult res[MAX_SEEDS];
    char run_dir[MAX_SEEDS][1100];
} Variant;

static int variant_config(const char *name, RunConfig *rc) {
    if (!strcmp(name, "seqjepa")) return 1;
    if (!strcmp(name, "seqjepa-m1")) return rc->train.m_train = 1, 1;
    if (!strcmp(name, "seqjepa-m3")) return rc->train.m_train = 3, 1;
    if (!strcmp(name, "no-action")) return rc->model.action_cond = SJ_COND_NONE, 1;
    if (!strcmp(name, "no-ema")) return rc->model.ema = 0, 1;
    return 0;
}

static double mean_of(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return n ? s / n : 0;
}

static double std_of(const double *v, int n) {
    if (n < 2) return 0;
    double m = mean_of(v, n), s = 0;
    for (int i = 0; i < n; i++) s += (v[i] - m) * (v[i] - m);
    return sqrt(s / (n - 1));
}

/* One metric of one variant across seeds (NaN where the variant does not measure it). */
typedef double (*Getter)(const SjEvalResult *r, int M);
static double g_top1_z(const SjEvalResult *r, int M) { return (void)M, r->top1_z; }
static double g_top1_agg(const SjEvalResult *r, int M) { return M <= r->m_max ? r->top1_agg[M] : NAN; }
static double g_pose(const SjEvalResult *r, int M) { return (void)M, r->pose_r2; }
static double g_pose_mlp(const SjEvalResult *r, int M) { return (void)M, r->pose_mlp_r2; }
static double g_equiv(const SjEvalResult *r, int M) { return (void)M, r->equiv_r2; }
static double g_retr(const SjEvalResult *r, int M) { return M <= r->retr_m_max ? r->retr_top1[M] : NAN; }
static double g_copy(const SjEvalResult *r, int M) { return M <= r->retr_m_max ? r->retr_copy[M] : NAN; }

static void stats(const Variant *v, int seeds, Getter g, int M, double *mean, double *sd) {
    double x[MAX_SEEDS];
    for (int s = 0; s < seeds; s++) x[s] = g(&v->res[s], M);
    *mean = mean_of(x, seeds);
    *sd = std_of(x, seeds);
}

static void md_cell(WmBuf *md, const Variant *v, int seeds, Getter g, int M) {
    double m, sd;
    stats(v, seeds, g, M, &m, &sd);
    if (!isfinite(m)) wm_buf_puts(md, " – |");
    else if (seeds > 1) wm_buf_printf(md, " %.3f ± %.3f |", m, sd);
    else wm_buf_printf(md, " %.3f |", m);
}

static void json_metric(WmJsonW *w, const char *key, const Variant *v, int seeds, Getter g, int M) {
    double m, sd;
    stats(v, seeds, g, M, &m, &sd);
    wm_jw_key(w, key);
    if (!isfinite(m)) {
        wm_jw_null(w);
        return;
    }
    wm_jw_obj(w);
    wm_jw_key(w, "mean"), wm_jw_fixed(w, m, 6);
    wm_jw_key(w, "std"), wm_jw_fixed(w, sd, 6);
    wm_jw_end(w);
}

static int figures(const char *dir, Variant *vs, int nv, int seeds, int rm, const PlEvalData *d0, int rot,
                   const char *ylab_pca, char *err, size_t errsz) {
    WmFont *f;
    int rc = wm_font_load(NULL, 13, &f, err, errsz);
    if (rc) return rc;
    WmColor white = {255, 255, 255};
    /* Retrieval top-1 against M, every row of the table. */
    WmCanvas c;
    wm_canvas_init(&c, 760, 480, white);
    WmPlot p;
    wm_plot_begin(&p, &c, f, 70, 40, 640, 370, 0.8, rm + 0.2, 0, 1.05,
                  "next-view retrieval top-1 (solid); copying view M (thin)", "M (observed views)", "top-1");
    double xs[SJ_EVAL_MAX_M + 1], ys[SJ_EVAL_MAX_M + 1];
    for (int i = 0; i < nv; i++) {
        for (int pass = 0; pass < 2; pass++) {
            int n = 0;
            for (int M = 1; M <= rm; M++) {
                double m, sd;
                stats(&vs[i], seeds, pass ? g_copy : g_retr, M, &m, &sd);
                if (isfinite(m)) xs[n] = M, ys[n++] = m;
            }
            if (n) wm_plot_series(&p, xs, ys, n, wm_palette(i), pass ? 1 : 2, pass ? 0 : 1, pass ? NULL : vs[i].name);
        }
    }
    rc = rpt_save_png(&c, dir, "retrieval.png", err, errsz);
    wm_canvas_free(&c);
    /* Loss curves of the trained variants (first seed). */
    if (!rc) {
        enum { CAP = 100000 };
        double *st = wm_new(double, CAP), *ls = wm_new(double, CAP), ymax = 0.01, xmax = 1;
        for (int i = 0; i < nv; i++) {
            int n = vs[i].kind == V_TRAINED ? rpt_read_loss(vs[i].run_dir[0], st, ls, CAP) : 0;
            for (int k = 0; k < n; k++) ymax = fmax(ymax, ls[k]), xmax = fmax(xmax, st[k]);
        }
        wm_canvas_init(&c, 760, 420, white);
        wm_plot_begin(&p, &c, f, 70, 40, 640, 310, 0, xmax, 0, ymax * 1.05, "training loss (1 - cos), seed 1", "step", "loss");
        for (int i = 0; i < nv; i++) {
            int n = vs[i].kind == V_TRAINED ? rpt_read_loss(vs[i].run_dir[0], st, ls, CAP) : 0;
            if (n) wm_plot_series(&p, st, ls, n, wm_palette(i), 2, 0, vs[i].name);
        }
        rc = rpt_save_png(&c, dir, "loss.png", err, errsz);
        wm_canvas_free(&c);
        wm_free(st), wm_free(ls);
    }
    /* PCA of z coloured by rotation angle / fixation, and of z_AGG coloured by class,
     * for the first trained (or checkpoint) variant (seed 1). */
    const Variant *pv = NULL;
    for (int i = 0; i < nv && !pv; i++)
        if ((vs[i].kind == V_TRAINED || vs[i].kind == V_CKPT) && vs[i].res[0].pca_z) pv = &vs[i];
    for (int i = 0; i < nv && !pv; i++)
        if (vs[i].res[0].pca_z) pv = &vs[i];
    if (!rc && pv) {
        const SjEvalResult *r = &pv->res[0];
        int n = r->n_pca, L = d0->te.latent_dim;
        double *px = wm_new(double, (size_t)n), *py = wm_new(double, (size_t)n), lo, hi, vlo, vhi;
        WmColor *cols = wm_new(WmColor, (size_t)n);
        double *val = wm_new(double, (size_t)n);
        for (int k = 0; k < n; k++) {
            const float *lat = d0->te.latents + (size_t)k * (size_t)d0->te.t * (size_t)L;
            if (rot) {
                double q[4] = {lat[0], lat[1], lat[2], lat[3]};
                val[k] = wm_quat_angle(q);
            } else {
                val[k] = lat[1]; /* fixation x / S */
            }
        }
        wm_range(val, n, &vlo, &vhi);
        char title[160];
        for (int pass = 0; pass < 2 && !rc; pass++) {
            const double *pc = pass ? r->pca_agg : r->pca_z;
            for (int k = 0; k < n; k++) {
                px[k] = pc[2 * k], py[k] = pc[2 * k + 1];
                cols[k] = pass ? wm_palette(d0->te.labels[k]) : wm_colormap((val[k] - vlo) / (vhi - vlo));
            }
            wm_canvas_init(&c, 560, 520, white);
            double x0, x1;
            wm_range(px, n, &x0, &x1);
            wm_range(py, n, &lo, &hi);
            if (pass) snprintf(title, sizeof title, "PCA of z_AGG (M=%d), %s, colour: class", r->m_max, pv->name);
            else snprintf(title, sizeof title, "PCA of z (view 1), %s, colour: %s", pv->name, ylab_pca);
            wm_plot_begin(&p, &c, f, 60, 40, 470, 420, x0, x1, lo, hi, title, "PC 1", "PC 2");
            wm_plot_scatter(&p, px, py, cols, n, 2);
            rc = rpt_save_png(&c, dir, pass ? "pca_zagg.png" : "pca_z.png", err, errsz);
            wm_canvas_free(&c);
        }
        wm_free(px), wm_free(py), wm_free(cols), wm_free(val);
    }
    wm_font_free(f);
    return rc;
}

static void add_variant(Variant *vs, int *nv, const char *name, int kind) {
    snprintf(vs[*nv].name, sizeof vs[0].name, "%s", name);
    vs[(*nv)++].kind = kind;
}

/* Trains rv (its train.out set here) into DIR/runs/NAME-seedN, dir[dirsz] (resumed
 * when asked and the folder holds a checkpoint); what says what it is in the log.
 * *tres gets the result. */
static int train_run(RunConfig *rv, const char *name, const char *what, int s, const char *out, int resume,
                     int quiet, char *dir, size_t dirsz, SjTrainResult *tres, char *err, size_t errsz) {
    char sub[64], prev[1200];
    snprintf(sub, sizeof sub, "runs/%.31s-seed%d", name, (s + 1) % 1000);
    if (wm_path_join(dir, dirsz, out, sub) || strlen(dir) >= WM_CFG_STR_MAX)
        return wm_errf(err, errsz, WM_ERR_ARG, "--out path too long");
    /* fits: checked just above (snprintf here made gcc -O0 warn of truncation) */
    memcpy(rv->train.out, dir, strlen(dir) + 1);
    resume = resume && !wm_path_join(prev, sizeof prev, dir, SJ_CKPT_FILE) && wm_path_exists(prev);
    wm_info("bench: seed %d, %s %s", s + 1, resume ? "resuming" : "training", what);
    int r = pl_train(rv, resume, quiet, tres, err, errsz);
    if (!r && tres->interrupted) r = wm_errf(err, errsz, WM_ERR_INTERRUPTED, "interrupted");
    return r;
}

/* With train.inverse_steps, the warm-up of seed s, trained once into DIR/runs/inverse-seedN
 * (train.steps = 0; resumed or kept like the variants' runs): every trained variant of
 * the seed starts from its checkpoint (ckpt_out), as `train --init` does, and the
 * "inverse warm-up" row evaluates it. */
static int train_warmup(const RunConfig *rs, int s, const char *out, int resume, int quiet, char *dir, size_t dirsz,
                        char *ckpt_out, size_t ckptsz, char *err, size_t errsz) {
    RunConfig rw = *rs;
    rw.train.steps = 0;
    char what[96];
    snprintf(what, sizeof what, "the inverse warm-up (%d steps), shared by the trained variants", rw.train.inverse_steps);
    SjTrainResult tres;
    int r = train_run(&rw, "inverse", what, s, out, resume, quiet, dir, dirsz, &tres, err, errsz);
    if (!r && (size_t)snprintf(ckpt_out, ckptsz, "%s", tres.checkpoint) >= ckptsz)
        r = wm_errf(err, errsz, WM_ERR_ARG, "--out path too long");
    return r;
}

/* Evaluates variant v for seed s on d (training it first when it is trained; from the
 * seed's warm-up checkpoint `warm` when not NULL). */
static int run_variant(Variant *v, int s, const RunConfig *rs, const PlEvalData *d, const char *out, const char *ckpt,
                       const char *warm, int resume, int quiet, int pca, char *err, size_t errsz) {
    SjEvalSpec spec = pl_eval_spec(rs, d);
    SjEvalSplit tr = pl_eval_split(d, 0), te = pl_eval_split(d, 1);
    spec.want_pca = pca;
    SjEvalResult *res = &v->res[s];
    switch (v->kind) {
    case V_ORACLE: return sj_eval_oracle_result(&spec, &tr, &te, d->spec.action_dim, res, err, errsz);
    case V_CHANCE:
        sj_eval_chance(res, rs->eval.m_max, d->spec.n_classes, spec.retr ? rs->eval.retr_m_max : 0, rs->eval.retr_k);
        return WM_OK;
    case V_ACTION_ONLY: return sj_eval_action_only_result(&spec, res, err, errsz);
    case V_SUPERVISED:
        sj_eval_result_blank(res, rs->eval.m_max);
        res->pose_r2 = rs->eval.supervised_pose; /* a bound on every reader of one view */
        if (spec.mlp) res->pose_mlp_r2 = rs->eval.supervised_pose;
        return WM_OK;
    default: break;
    }
    SjModel *m = NULL;
    int r = WM_OK;
    SjShape sh = {d->spec.height, d->spec.width, d->spec.action_dim, d->spec.n_classes};
    if (v->kind == V_CKPT || v->kind == V_WARMUP) {
        const char *file = v->kind == V_CKPT ? ckpt : warm;
        int64_t step;
        r = sj_checkpoint_load(file, &m, NULL, &step, err, errsz);
        if (!r) r = pl_check_shape(m, &d->spec, file, err, errsz);
    } else if (v->kind == V_TRAINED) {
        RunConfig rv = *rs;
        variant_config(v->name, &rv);
        if (warm) rv.train.inverse_steps = 0, rv.init = warm; /* the seed's shared warm-up */
        char what[96];
        snprintf(what, sizeof what, "%.31s (%d steps)", v->name, rv.train.steps);
        SjTrainResult tres;
        r = train_run(&rv, v->name, what, s, out, resume, quiet, v->run_dir[s], sizeof v->run_dir[s], &tres, err,
                      errsz);
        int64_t step;
        if (!r) r = sj_checkpoint_load(tres.checkpoint, &m, NULL, &step, err, errsz);
    } else { /* random and noise: the same architecture, untrained (noise uses its width only) */
        r = sj_model_create(&rs->model, &sh, (uint64_t)rs->train.seed, &m, err, errsz);
    }
    if (!r && v->kind == V_NOISE) sj_eval_noise_result(&spec, &tr, &te, sj_model_enc_dim(m), res);
    else if (!r) r = sj_eval_run(m, &spec, &tr, &te, res, err, errsz);
    sj_model_destroy(m);
    return r;
}

/* Under mpirun the (seed, variant) jobs go round the ranks; each rank runs its own
 * alone (wm_dist_alone: its trainings are one-process runs) and rank 0 gathers the
 * results (the figures read the loss curves from the run folders, so DIR must be a
 * folder every rank sees). */
static int job_owner(int s, int i, int nv) { return (s * nv + i) % wm_dist_job_size(); }

static void share_results(Variant *vs, int nv, int seeds) {
    for (int s = 0; s < seeds; s++)
        for (int i = 0; i < nv; i++) {
            int o = job_owner(s, i, nv);
            Variant *v = &vs[i];
            SjEvalResult *r = &v->res[s];
            int64_t has[2] = {r->pca_z != NULL, r->pca_agg != NULL}; /* the owner's say */
            wm_dist_bcast(has, sizeof has, o);
            double *z = r->pca_z, *a = r->pca_agg;
            wm_dist_bcast(r, sizeof *r, o);
            if (wm_dist_job_rank() != o) {
                z = has[0] ? wm_new(double, 2 * (size_t)r->n_pca + 1) : NULL;
                a = has[1] ? wm_new(double, 2 * (size_t)r->n_pca + 1) : NULL;
            }
            r->pca_z = z, r->pca_agg = a;
            if (z) wm_dist_bcast(z, 2 * (size_t)r->n_pca * sizeof(double), o);
            if (a) wm_dist_bcast(a, 2 * (size_t)r->n_pca * sizeof(double), o);
            wm_dist_bcast(v->run_dir[s], sizeof v->run_dir[s], o);
        }
}

int cli_bench_pathint(int argc, char **argv) {
    const char *out = NULL, *ckpt = NULL, *quiet = NULL, *resume = NULL;
    RunFlag flags[] = {{"--out", 1, &out}, {"--ckpt", 1, &ckpt}, {"--quiet", 0, &quiet}, {"--resume", 0, &resume},
                       {NULL, 0, NULL}};
    RunArgs a;
    int prc = run_args_parse(argc, argv, flags, 1, &a, usage);
    if (prc) return prc < 0 ? 0 : prc;
    if (!out) {
        fprintf(stderr, "seqjepa bench pathint: --out DIR is required\n\n%s", usage);
        return 2;
    }
    static RunConfig rc;
    char err[1024];
    if (run_config_load(&rc, a.config, a.n_over, a.over, err, sizeof err)) {
        run_error("bench pathint", err);
        return 1;
    }
    pl_supervised_note(&rc, "bench pathint");
    static WmBuf cmd; /* for the variants' checkpoint metadata; static as rc is */
    run_command_line("seqjepa bench pathint", argc - 1, argv + 1, &cmd);
    rc.command = cmd.data;
    int seeds = rc.bench.seeds, m_max = rc.eval.m_max, rm = rc.eval.retr_m_max;
    static Variant vs[MAX_VARIANTS];
    int nv = 0;
    if (ckpt) {
        add_variant(vs, &nv, "checkpoint", V_CKPT);
        add_variant(vs, &nv, "random", V_RANDOM);
        add_variant(vs, &nv, "oracle", V_ORACLE);
        seeds = 1;
    } else {
        char list[WM_CFG_STR_MAX];
        snprintf(list, sizeof list, "%s", rc.bench.variants);
        for (char *tok = strtok(list, " ,"); tok; tok = strtok(NULL, " ,")) {
            RunConfig probe = rc;
            if (nv == MAX_VARIANTS - 5) {
                fprintf(stderr, "seqjepa bench pathint: more than %d variants\n", MAX_VARIANTS - 5);
                return 1;
            }
            int trained = variant_config(tok, &probe);
            if (!trained && strcmp(tok, "random") && strcmp(tok, "oracle")) {
                fprintf(stderr, "seqjepa bench pathint: bench.variants: unknown variant '%s'\n", tok);
                return 1;
            }
            add_variant(vs, &nv, tok, trained ? V_TRAINED : !strcmp(tok, "random") ? V_RANDOM : V_ORACLE);
        }
    }
    int warm_i = -1; /* the inverse warm-up's row, when the trained variants share one */
    for (int i = 0; i < nv && !ckpt && rc.train.inverse_steps > 0; i++)
        if (vs[i].kind == V_TRAINED) {
            warm_i = nv;
            add_variant(vs, &nv, "inverse warm-up", V_WARMUP);
            break;
        }
    if (rc.eval.supervised_pose >= 0) add_variant(vs, &nv, "supervised", V_SUPERVISED);
    add_variant(vs, &nv, "noise", V_NOISE);
    add_variant(vs, &nv, "chance", V_CHANCE);
    add_variant(vs, &nv, "action only", V_ACTION_ONLY);
    if (wm_mkdirs(out, err, sizeof err)) {
        run_error("bench pathint", err);
        return 1;
    }
    nn_runtime_init(rc.pipe.threads);
    wm_signals_install();
    const int ranks = wm_dist_size();
    if (warm_i >= 0 && ranks > 1) {
        if (wm_dist_rank() == 0)
            fprintf(stderr, "seqjepa bench pathint: train.inverse_steps = %d under mpirun: the variants share one warm-up, "
                            "which this command trains in one process; run it without mpirun, or with "
                            "train.inverse_steps = 0\n", rc.train.inverse_steps);
        return 1;
    }
    if (ranks > 1) wm_info("bench: %d seed x variant jobs across %d ranks", seeds * nv, ranks);
    wm_dist_alone(ranks > 1);
    int rot = env_traits(rc.env.kind)->family == ENV_FAMILY_OBJECT, status = 1;
    double t_all = wm_now();
    PlEvalData d0 = {0};
    for (int s = 0; s < seeds; s++) {
        RunConfig rs = rc;
        rs.train.seed = rc.train.seed + s;
        rs.eval.seed = rc.eval.seed + s;
        PlEvalData d = {0};
        if (pl_eval_data(&rs, NULL, rc.eval.train_seqs, rc.eval.test_seqs, &d, err, sizeof err)) goto fail;
        char warm[1200];
        if (warm_i >= 0 && train_warmup(&rs, s, out, resume != NULL, quiet != NULL, vs[warm_i].run_dir[s],
                                        sizeof vs[warm_i].run_dir[s], warm, sizeof warm, err, sizeof err)) {
            pl_eval_data_free(&d);
            goto fail;
        }
        for (int i = 0; i < nv; i++) {
            if (job_owner(s, i, nv) != wm_dist_job_rank()) continue;
            if (run_variant(&vs[i], s, &rs, &d, out, ckpt, warm_i >= 0 ? warm : NULL, resume != NULL, quiet != NULL, s == 0, err, sizeof err)) {
                pl_eval_data_free(&d);
                goto fail;
            }
            const SjEvalResult *r = &vs[i].res[s];
            /* rows without a pose read or a retrieval (action only, supervised) leave it out */
            char pose[48] = "", retr[96] = "";
            int has_pose = isfinite(r->pose_r2), has_retr = isfinite(g_retr(r, 1));
            if (has_pose && isfinite(r->pose_mlp_r2))
                snprintf(pose, sizeof pose, "pose R^2 %.3f (MLP %.3f)%s", r->pose_r2, r->pose_mlp_r2,
                         has_retr ? ", " : "");
            else if (has_pose) snprintf(pose, sizeof pose, "pose R^2 %.3f%s", r->pose_r2, has_retr ? ", " : "");
            if (has_retr)
                snprintf(retr, sizeof retr, "retrieval top-1 at M=1 %.3f, M=%d %.3f", g_retr(r, 1), rm, g_retr(r, rm));
            wm_info("bench: seed %d, %s: %s%s (%.0f s so far)", s + 1, vs[i].name, pose, retr, wm_now() - t_all);
        }
        if (s == 0) d0 = d;
        else pl_eval_data_free(&d);
    }

    wm_dist_alone(0);
    if (ranks > 1) {
        share_results(vs, nv, seeds);
        if (wm_dist_rank() > 0) {
            status = 0;
            goto done;
        }
    }

    /* report.md */
    WmBuf md = {0}, js = {0}, text = {0};
    run_config_bench_text(&rc, &text);
    int K1 = rc.eval.retr_k + 1;
    wm_buf_printf(&md, "# Path-integration benchmark\n\n%s world, %d seed%s, %d + %d evaluation sequences (training / held-out "
                       "%s) for the probes, %d held-out sequences of %d views for retrieval. %s\n\n",
                  env_kind_name(rc.env.kind), seeds, seeds > 1 ? "s (mean ± std)" : "", rc.eval.train_seqs,
                  rc.eval.test_seqs, rot ? "objects" : "images", rc.eval.retr_seqs, d0.retr.b.t,
                  rot ? "Equivariance regressor: an MLP with two hidden layers or ridge, whichever scores higher on a "
                        "validation fifth of the probe-training rows; pose probes: ridge, and the same regressor as "
                        "the equivariance row (pose R^2, MLP or ridge: pose that z carries but not linearly; equal to the "
                        "ridge column where ridge won on the validation rows). The equivariance row reads a_1's "
                        "rotation as q_1^-1 q_2 of the two views' quaternions, without the action's sign "
                        "canonicalisation (docs/evaluation.md)."
                      : "Regressors: ridge (linear).");
    wm_buf_printf(&md, "Path integration is next-view retrieval: after M observed views and the action a_M, the "
                       "model's own predictor must pick the true view M+1 among it and %d other views of the same "
                       "%s at independent %s that a_M could have led to (top-1 of cosine with the target encodings; "
                       "chance 1/%d). No probe is trained, so neither an untrained nor an action-blind model can pass "
                       "it (docs/evaluation.md). Sequences scored at M = 1..%d (seed 1; a sequence with too few such "
                       "distractors is left out):",
                  rc.eval.retr_k, rot ? "object under the same lights and colours" : "scene",
                  rot ? "poses" : "fixations", K1, rm);
    for (int M = 1; M <= rm; M++) wm_buf_printf(&md, "%s %d", M > 1 ? "," : "", sj_retrieval_count(&d0.retr.split, M));
    wm_buf_puts(&md, ".\n\n");
    if (warm_i >= 0)
        wm_buf_printf(&md, "The trained variants start from one inverse warm-up per seed (train.inverse_steps = %d: the "
                           "encoder and a head trained to read each action from the encodings of the two views it "
                           "joins, no label; runs/inverse-seedN), as `train --init` from its checkpoint; the row "
                           "\"inverse warm-up\" evaluates that start.\n\n",
                      rc.train.inverse_steps);
    wm_buf_printf(&md, "| variant | top-1 z | top-1 z_AGG (M=%d) | pose R^2 |%s equivariance R^2 |", m_max,
                  rot ? " pose R^2, MLP or ridge |" : "");
    for (int M = 1; M <= rm; M++) wm_buf_printf(&md, " retrieval M=%d |", M);
    wm_buf_printf(&md, " copying view M, M=%d |\n|---|---|---|---|---|%s", rm, rot ? "---|" : "");
    for (int M = 1; M <= rm + 1; M++) wm_buf_puts(&md, "---|");
    wm_buf_puts(&md, "\n");
    for (int i = 0; i < nv; i++) {
        const Variant *v = &vs[i];
        wm_buf_printf(&md, "| %s |", v->name);
        md_cell(&md, v, seeds, g_top1_z, 0);
        md_cell(&md, v, seeds, g_top1_agg, m_max);
        md_cell(&md, v, seeds, g_pose, 0);
        if (rot) md_cell(&md, v, seeds, g_pose_mlp, 0);
        md_cell(&md, v, seeds, g_equiv, 0);
        for (int M = 1; M <= rm; M++) md_cell(&md, v, seeds, g_retr, M);
        md_cell(&md, v, seeds, g_copy, rm);
        wm_buf_puts(&md, "\n");
    }
    wm_buf_puts(&md, "\nRows: the trained variants; **random**: the same config untrained; **noise**: the pose probes and "
                     "the retrieval scorer fed Gaussian noise in place of features; **chance**: 1/classes, R^2 0, "
                     "retrieval 1/candidates; ");
    if (rc.eval.supervised_pose >= 0)
        wm_buf_printf(&md, "**supervised**: the pose R^2 of a reader of one view trained with pose labels, recorded in "
                           "eval.supervised_pose (measured by %s, not by this command); ",
                      rc.eval.supervised_source[0] ? rc.eval.supervised_source : "an unnamed source");
    else if (rc.supervised_dropped[0])
        wm_buf_printf(&md, "no supervised row (the config file's eval.supervised_pose was measured on its own world, "
                           "which %s changed); ",
                      rc.supervised_dropped);
    else
        wm_buf_puts(&md, "no supervised row (eval.supervised_pose records none for this config); ");
    wm_buf_printf(&md, "**action only**: retrieval by the best reader of a_M alone, each candidate scored by how "
                       "likely its true pose is to follow a_M under the world's pose prior (%s), without view M's "
                       "pose: what a model could reach from the action without integrating the path; ",
                  rot ? (rc.env.rotation ? "uniform rotations: chance" : "the Euler box's density at the implied previous pose")
                      : "the implied previous fixation inside the scene");
    wm_buf_puts(&md, "**oracle**: true poses in place of features (pose from the true pose; retrieval with view M's "
                     "true pose turned by a_M against the candidates' true poses) and equivariance from the true "
                     "latents. Copying view M: the query is the target encoding of the last observed view.\n");
    wm_buf_printf(&md, "\nTop-1 from z_AGG by M:\n\n| variant |");
    for (int M = 1; M <= m_max; M++) wm_buf_printf(&md, " M=%d |", M);
    wm_buf_puts(&md, "\n|---|");
    for (int M = 1; M <= m_max; M++) wm_buf_puts(&md, "---|");
    wm_buf_puts(&md, "\n");
    for (int i = 0; i < nv; i++) {
        if (vs[i].kind != V_TRAINED && vs[i].kind != V_CKPT && vs[i].kind != V_RANDOM && vs[i].kind != V_CHANCE &&
            vs[i].kind != V_WARMUP)
            continue;
        wm_buf_printf(&md, "| %s |", vs[i].name);
        for (int M = 1; M <= m_max; M++) md_cell(&md, &vs[i], seeds, g_top1_agg, M);
        wm_buf_puts(&md, "\n");
    }
    wm_buf_printf(&md, "\nFigures: retrieval.png, loss.png, pca_z.png, pca_zagg.png. Total time %.0f s.\n", wm_now() - t_all);

    /* report.json */
    WmJsonW jw;
    wm_jw_init(&jw, &js);
    wm_jw_obj(&jw);
    wm_jw_key(&jw, "world"), wm_jw_str(&jw, env_kind_name(rc.env.kind));
    wm_jw_key(&jw, "seeds"), wm_jw_arr(&jw);
    for (int s = 0; s < seeds; s++) {
        wm_jw_obj(&jw);
        wm_jw_key(&jw, "train_seed"), wm_jw_int(&jw, rc.train.seed + s);
        wm_jw_key(&jw, "eval_seed"), wm_jw_int(&jw, rc.eval.seed + s);
        wm_jw_end(&jw);
    }
    wm_jw_end(&jw);
    wm_jw_key(&jw, "m_max"), wm_jw_int(&jw, m_max);
    wm_jw_key(&jw, "retrieval_m_max"), wm_jw_int(&jw, rm);
    wm_jw_key(&jw, "retrieval_candidates"), wm_jw_int(&jw, K1);
    wm_jw_key(&jw, "seconds"), wm_jw_fixed(&jw, wm_now() - t_all, 1);
    wm_jw_break(&jw, "\n "), wm_jw_key(&jw, "variants"), wm_jw_obj(&jw);
    for (int i = 0; i < nv; i++) {
        const Variant *v = &vs[i];
        wm_jw_break(&jw, "\n  "), wm_jw_key(&jw, v->name), wm_jw_obj(&jw);
        wm_jw_key(&jw, "per_seed"), wm_jw_arr(&jw);
        for (int s = 0; s < seeds; s++) {
            wm_jw_obj(&jw);
            sj_eval_json_fields(&v->res[s], &jw);
            wm_jw_end(&jw);
        }
        wm_jw_end(&jw);
        wm_jw_break(&jw, "\n   "), wm_jw_key(&jw, "summary"), wm_jw_obj(&jw);
        json_metric(&jw, "top1_z", v, seeds, g_top1_z, 0);
        json_metric(&jw, "top1_agg_mmax", v, seeds, g_top1_agg, m_max);
        json_metric(&jw, "pose_r2", v, seeds, g_pose, 0);
        json_metric(&jw, "pose_mlp_r2", v, seeds, g_pose_mlp, 0);
        json_metric(&jw, "equivariance_r2", v, seeds, g_equiv, 0);
        for (int M = 1; M <= rm; M++) {
            char key[48];
            snprintf(key, sizeof key, "retrieval_top1_m%d", M);
            json_metric(&jw, key, v, seeds, g_retr, M);
            snprintf(key, sizeof key, "retrieval_copy_m%d", M);
            json_metric(&jw, key, v, seeds, g_copy, M);
        }
        wm_jw_end(&jw), wm_jw_end(&jw);
    }
    wm_jw_end(&jw);
    wm_jw_break(&jw, "\n "), wm_jw_key(&jw, "config"), wm_jw_str(&jw, text.data);
    wm_jw_end(&jw);
    wm_buf_puts(&js, "\n");
    char path[1200];
    int r = wm_path_join(path, sizeof path, out, "report.json") || wm_write_file_atomic(path, js.data, js.len, err, sizeof err);
    if (!r) r = wm_path_join(path, sizeof path, out, "report.md") || wm_write_file_atomic(path, md.data, md.len, err, sizeof err);
    if (!r) r = figures(out, vs, nv, seeds, rm, &d0, rot, rot ? "rotation angle" : "fixation x", err, sizeof err);
    if (!r) {
        fputs(md.data, stdout);
        printf("\nwritten: %s/report.json, report.md, retrieval.png, loss.png, pca_z.png, pca_zagg.png\n", out);
        status = 0;
    }
    wm_buf_free(&md), wm_buf_free(&js), wm_buf_free(&text);
    if (status) goto fail;
    goto done;
fail:
    run_error("bench pathint", err);
done:
    pl_eval_data_free(&d0);
    for (int i = 0; i < nv; i++)
        for (int s = 0; s < seeds; s++) sj_eval_result_free(&vs[i].res[s]);
    nn_runtime_shutdown();
    return status;
}
