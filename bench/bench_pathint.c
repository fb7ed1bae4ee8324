/* `seqjepa bench pathint`: the scripted path-integration benchmark. Trains each
 * variant on the same data stream (per seed), evaluates all of them on the same
 * held-out sequences and closed loops, adds the oracle, and writes report.json,
 * report.md and PNG figures drawn by the program. */
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
#include "core/err.h"
#include "core/fs.h"
#include "core/png.h"
#include "core/progress.h"
#include "core/quat.h"
#include "core/signal.h"
#include "envs/objects3d.h"

static const char *usage =
    "usage: seqjepa bench pathint CONFIG --out DIR [--ckpt FILE] [section.key=value ...]\n\n"
    "For each of bench.seeds seeds, trains every variant of bench.variants on the same\n"
    "data stream (seqjepa-m1 / seqjepa-m3: with actions, M_train 1 / 3; no-action: no\n"
    "action conditioning; no-ema; seqjepa: the config as is), adds a randomly initialised\n"
    "encoder (random) and the oracle (the cumulative action regressed from the true\n"
    "actions alone), and evaluates all on the same held-out sequences: top-1 from z and\n"
    "z_AGG, equivariance R^2, path-integration R^2 for M = 1..eval.m_max with the\n"
    "zero-action and zero-feature ablations, and the error on closed loops (cumulative\n"
    "action = identity at M = 2 bench.loop_len). --ckpt evaluates a trained checkpoint\n"
    "(with random and oracle for reference) instead of training.\n"
    "Writes DIR/report.json, DIR/report.md, DIR/r2_vs_m.png, DIR/loss.png,\n"
    "DIR/pca_z.png, DIR/pca_zagg.png; training runs go to DIR/runs/.\n";

#define MAX_VARIANTS 8
#define MAX_SEEDS 100

typedef struct {
    char name[32];
    int trained, oracle, is_ckpt;
    SjEvalResult res[MAX_SEEDS];
    double oracle_r2[MAX_SEEDS][SJ_EVAL_MAX_M + 1];
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

/* One metric of one variant across seeds. */
typedef double (*Getter)(const Variant *v, int seed, int M);
static double g_top1_z(const Variant *v, int s, int M) { return v->res[s].top1_z; }
static double g_top1_agg(const Variant *v, int s, int M) { return v->res[s].top1_agg[M]; }
static double g_equiv(const Variant *v, int s, int M) { return v->res[s].equiv_r2; }
static double g_pi(const Variant *v, int s, int M) { return v->oracle ? v->oracle_r2[s][M] : v->res[s].pi_r2[M]; }
static double g_pi_za(const Variant *v, int s, int M) { return v->res[s].pi_r2_zero_act[M]; }
static double g_pi_zf(const Variant *v, int s, int M) { return v->res[s].pi_r2_zero_feat[M]; }
static double g_loop(const Variant *v, int s, int M) { return v->res[s].loop_err; }
static double g_open(const Variant *v, int s, int M) { return v->res[s].open_err; }

static void stats(const Variant *v, int seeds, Getter g, int M, double *mean, double *sd) {
    double x[MAX_SEEDS];
    for (int s = 0; s < seeds; s++) x[s] = g(v, s, M);
    *mean = mean_of(x, seeds);
    *sd = std_of(x, seeds);
}

static void md_cell(WmBuf *md, const Variant *v, int seeds, Getter g, int M) {
    double m, sd;
    stats(v, seeds, g, M, &m, &sd);
    if (seeds > 1) wm_buf_printf(md, " %.3f ± %.3f |", m, sd);
    else wm_buf_printf(md, " %.3f |", m);
}

static void json_metric(WmBuf *js, const char *key, const Variant *v, int seeds, Getter g, int M, int last) {
    double m, sd;
    stats(v, seeds, g, M, &m, &sd);
    wm_buf_printf(js, "\"%s\": {\"mean\": %.6f, \"std\": %.6f}%s", key, m, sd, last ? "" : ", ");
}

static int figures(const char *dir, Variant *vs, int nv, int seeds, int m_max, const PlEvalData *d0, int rot,
                   const char *ylab_pca, char *err, size_t errsz) {
    WmFont *f = wm_font_load(NULL, 13, err, errsz);
    if (!f) return WM_ERR_IO;
    WmColor white = {255, 255, 255};
    int rc = WM_OK;
    /* R^2 against M with the ablations. */
    WmCanvas c;
    wm_canvas_init(&c, 760, 480, white);
    WmPlot p;
    wm_plot_begin(&p, &c, f, 70, 40, 640, 370, 0.8, m_max + 0.2, -0.2, 1.05,
                  "path-integration R^2 (solid); actions zeroed (thin); features zeroed (dots)", "M (observed views)", "R^2");
    double xs[SJ_EVAL_MAX_M + 1], ys[SJ_EVAL_MAX_M + 1];
    for (int i = 0; i < nv; i++) {
        for (int M = 1; M <= m_max; M++) {
            double sd;
            xs[M - 1] = M;
            stats(&vs[i], seeds, g_pi, M, &ys[M - 1], &sd);
            ys[M - 1] = fmax(ys[M - 1], -0.2);
        }
        wm_plot_series(&p, xs, ys, m_max, wm_palette(i), 2, 1, vs[i].name);
        if (vs[i].oracle) continue;
        for (int M = 1; M <= m_max; M++) {
            double sd;
            stats(&vs[i], seeds, g_pi_za, M, &ys[M - 1], &sd);
            ys[M - 1] = fmax(ys[M - 1], -0.2);
        }
        wm_plot_series(&p, xs, ys, m_max, wm_palette(i), 1, 0, NULL);
        for (int M = 1; M <= m_max; M++) {
            double sd;
            stats(&vs[i], seeds, g_pi_zf, M, &ys[M - 1], &sd);
            ys[M - 1] = fmax(ys[M - 1], -0.2);
        }
        wm_plot_series(&p, xs, ys, m_max, wm_palette(i), 0, 1, NULL);
    }
    rc = rpt_save_png(&c, dir, "r2_vs_m.png", err, errsz);
    wm_canvas_free(&c);
    /* Loss curves of the trained variants (first seed). */
    if (!rc) {
        enum { CAP = 100000 };
        double *st = wm_new(double, CAP), *ls = wm_new(double, CAP), ymax = 0.01, xmax = 1;
        for (int i = 0; i < nv; i++) {
            int n = vs[i].trained ? rpt_read_loss(vs[i].run_dir[0], st, ls, CAP) : 0;
            for (int k = 0; k < n; k++) ymax = fmax(ymax, ls[k]), xmax = fmax(xmax, st[k]);
        }
        wm_canvas_init(&c, 760, 420, white);
        wm_plot_begin(&p, &c, f, 70, 40, 640, 310, 0, xmax, 0, ymax * 1.05, "training loss (1 - cos), seed 1", "step", "loss");
        for (int i = 0; i < nv; i++) {
            int n = vs[i].trained ? rpt_read_loss(vs[i].run_dir[0], st, ls, CAP) : 0;
            if (n) wm_plot_series(&p, st, ls, n, wm_palette(i), 2, 0, vs[i].name);
        }
        rc = rpt_save_png(&c, dir, "loss.png", err, errsz);
        wm_canvas_free(&c);
        wm_free(st), wm_free(ls);
    }
    /* PCA of z coloured by rotation angle / fixation, and of z_AGG coloured by class,
     * for the first variant that has features (seed 1). */
    const Variant *pv = NULL;
    for (int i = 0; i < nv && !pv; i++)
        if (!vs[i].oracle && vs[i].res[0].pca_z && strcmp(vs[i].name, "random")) pv = &vs[i];
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
            if (pass) snprintf(title, sizeof title, "PCA of z_AGG (M=%d), %s, colour: class", m_max, pv->name);
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

int cli_bench_pathint(int argc, char **argv) {
    const char *out = NULL, *ckpt = NULL, *quiet = NULL;
    RunFlag flags[] = {{"--out", 1, &out}, {"--ckpt", 1, &ckpt}, {"--quiet", 0, &quiet}, {NULL, 0, NULL}};
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
    static WmBuf cmd; /* for the variants' checkpoint metadata; static as rc is */
    run_command_line("seqjepa bench", argc, argv, &cmd);
    rc.command = cmd.data;
    int seeds = rc.bench.seeds, m_max = rc.eval.m_max, loop_m = 2 * rc.bench.loop_len;
    if (loop_m > m_max) {
        fprintf(stderr, "seqjepa bench pathint: closed loops close at M = 2 * bench.loop_len = %d, beyond eval.m_max = %d\n",
                loop_m, m_max);
        return 1;
    }
    static Variant vs[MAX_VARIANTS];
    int nv = 0;
    if (ckpt) {
        snprintf(vs[nv].name, sizeof vs[nv].name, "checkpoint");
        vs[nv++].is_ckpt = 1;
        snprintf(vs[nv++].name, sizeof vs[0].name, "random");
        snprintf(vs[nv].name, sizeof vs[0].name, "oracle");
        vs[nv++].oracle = 1;
        seeds = 1;
    } else {
        char list[WM_CFG_STR_MAX];
        snprintf(list, sizeof list, "%s", rc.bench.variants);
        for (char *tok = strtok(list, " ,"); tok; tok = strtok(NULL, " ,")) {
            RunConfig probe = rc;
            if (nv == MAX_VARIANTS) {
                fprintf(stderr, "seqjepa bench pathint: more than %d variants\n", MAX_VARIANTS);
                return 1;
            }
            if (!variant_config(tok, &probe) && strcmp(tok, "random") && strcmp(tok, "oracle")) {
                fprintf(stderr, "seqjepa bench pathint: bench.variants: unknown variant '%s'\n", tok);
                return 1;
            }
            snprintf(vs[nv].name, sizeof vs[nv].name, "%s", tok);
            vs[nv].trained = variant_config(tok, &probe);
            vs[nv++].oracle = !strcmp(tok, "oracle");
        }
    }
    if (wm_mkdirs(out, err, sizeof err)) {
        run_error("bench pathint", err);
        return 1;
    }
    nn_runtime_init(rc.train.threads);
    wm_signals_install();
    int rot = env_traits(rc.env.kind)->family == ENV_FAMILY_OBJECT, status = 1;
    double t_all = wm_now();
    PlEvalData d0 = {0};
    for (int s = 0; s < seeds; s++) {
        RunConfig rs = rc;
        rs.train.seed = rc.train.seed + s;
        rs.eval.seed = rc.eval.seed + s;
        PlEvalData d = {0}, loops = {0};
        AgentConfig la = rc.agent;
        la.kind = AG_LOOP;
        la.loop_len = rc.bench.loop_len;
        if (pl_eval_data(&rs, NULL, rc.eval.train_seqs, rc.eval.test_seqs, &d, err, sizeof err) ||
            pl_eval_data(&rs, &la, 8, rc.bench.loop_seqs, &loops, err, sizeof err))
            goto fail;
        SjEvalSplit lsplit = {loops.te.n, loops.te.t, loops.te.pixels, loops.te.actions, loops.te.labels, loops.cum_te,
                              loops.te.latents, loops.te.latent_dim};
        for (int i = 0; i < nv; i++) {
            Variant *v = &vs[i];
            SjEvalSpec spec = {.m_max = m_max, .cum_dim = d.spec.action_dim, .mlp = rot, .mlp_hidden = rc.eval.mlp_hidden,
                               .mlp_epochs = rc.eval.mlp_epochs, .seed = (uint64_t)rs.eval.seed, .loops = &lsplit,
                               .loop_m = loop_m, .want_pca = s == 0};
            SjEvalSplit tr = {d.tr.n, d.tr.t, d.tr.pixels, d.tr.actions, d.tr.labels, d.cum_tr, d.tr.latents, d.tr.latent_dim};
            SjEvalSplit te = {d.te.n, d.te.t, d.te.pixels, d.te.actions, d.te.labels, d.cum_te, d.te.latents, d.te.latent_dim};
            if (v->oracle) {
                if (sj_eval_oracle(&spec, &tr, &te, d.spec.action_dim, v->oracle_r2[s], err, sizeof err)) goto fail_d;
                wm_info("bench: seed %d, oracle done", s + 1);
                continue;
            }
            SjModel *m = NULL;
            int r = WM_OK;
            if (v->is_ckpt) {
                int64_t step;
                r = sj_checkpoint_load(ckpt, &m, NULL, &step, err, sizeof err);
                if (!r) r = pl_check_shape(m, &d.spec, ckpt, err, sizeof err);
            } else if (v->trained) {
                RunConfig rv = rs;
                variant_config(v->name, &rv);
                char sub[64];
                snprintf(sub, sizeof sub, "runs/%.31s-seed%d", v->name, (s + 1) % 1000);
                if (wm_path_join(v->run_dir[s], sizeof v->run_dir[s], out, sub) || strlen(v->run_dir[s]) >= WM_CFG_STR_MAX) {
                    r = wm_errf(err, sizeof err, WM_ERR_ARG, "--out path too long");
                    goto fail_d;
                }
                /* fits: checked just above (snprintf here made gcc -O0 warn of truncation) */
                memcpy(rv.train.out, v->run_dir[s], strlen(v->run_dir[s]) + 1);
                wm_info("bench: seed %d, training %s (%d steps)", s + 1, v->name, rv.train.steps);
                SjTrainResult tres;
                r = pl_train(&rv, 0, quiet != NULL, &tres, err, sizeof err);
                if (!r && tres.interrupted) r = wm_errf(err, sizeof err, WM_ERR_INTERRUPTED, "interrupted");
                int64_t step;
                if (!r) r = sj_checkpoint_load(tres.checkpoint, &m, NULL, &step, err, sizeof err);
            } else { /* random: the same architecture, untrained */
                SjShape sh = {d.spec.height, d.spec.width, d.spec.action_dim, d.spec.n_classes};
                m = sj_model_create(&rs.model, &sh, (uint64_t)rs.train.seed, err, sizeof err);
                if (!m) r = WM_ERR_ARG;
            }
            if (!r) r = sj_eval_run(m, &spec, &tr, &te, &v->res[s], err, sizeof err);
            sj_model_destroy(m);
            if (r) goto fail_d;
            wm_info("bench: seed %d, %s: path-integration R^2 at M=1 %.3f, M=%d %.3f (%.0f s so far)", s + 1, v->name,
                    v->res[s].pi_r2[1], m_max, v->res[s].pi_r2[m_max], wm_now() - t_all);
        }
        pl_eval_data_free(&loops);
        if (s == 0) d0 = d;
        else pl_eval_data_free(&d);
        continue;
    fail_d:
        pl_eval_data_free(&d);
        pl_eval_data_free(&loops);
        goto fail;
    }

    /* report.md */
    WmBuf md = {0}, js = {0}, text = {0};
    run_config_bench_text(&rc, &text);
    wm_buf_printf(&md, "# Path-integration benchmark\n\n%s world, %d seed%s, %d + %d evaluation sequences (training / held-out "
                       "objects), closed loops of %d steps out and back (%d sequences). %s\n\n",
                  rot ? "objects3d" : "saccade", seeds, seeds > 1 ? "s (mean ± std)" : "", rc.eval.train_seqs,
                  rc.eval.test_seqs, rc.bench.loop_len, rc.bench.loop_seqs,
                  rot ? "Regressors: an MLP with two hidden layers or ridge, whichever scores higher on a validation "
                        "fifth of the probe-training rows" : "Regressors: ridge (linear).");
    if (rot) wm_buf_printf(&md, "(MLP hidden width %d, %d epochs.)\n\n", rc.eval.mlp_hidden, rc.eval.mlp_epochs);
    wm_buf_printf(&md, "| variant | top-1 z | top-1 z_AGG (M=%d) | equivariance R^2 | path-int. R^2 M=1 (trivial*) | M=%d | M=%d, actions "
                       "zeroed | M=%d, features zeroed | closed-loop error | open-path error |\n|---|---|---|---|---|---|---|---|---|---|\n",
                  m_max, m_max, m_max, m_max);
    for (int i = 0; i < nv; i++) {
        const Variant *v = &vs[i];
        wm_buf_printf(&md, "| %s |", v->name);
        if (v->oracle) {
            wm_buf_puts(&md, " | | |");
            md_cell(&md, v, seeds, g_pi, 1);
            md_cell(&md, v, seeds, g_pi, m_max);
            wm_buf_puts(&md, " | | | |\n");
            continue;
        }
        md_cell(&md, v, seeds, g_top1_z, 0);
        md_cell(&md, v, seeds, g_top1_agg, m_max);
        md_cell(&md, v, seeds, g_equiv, 0);
        md_cell(&md, v, seeds, g_pi, 1);
        md_cell(&md, v, seeds, g_pi, m_max);
        md_cell(&md, v, seeds, g_pi_za, m_max);
        md_cell(&md, v, seeds, g_pi_zf, m_max);
        md_cell(&md, v, seeds, g_loop, loop_m);
        md_cell(&md, v, seeds, g_open, loop_m);
        wm_buf_puts(&md, "\n");
    }
    wm_buf_puts(&md, "\n\\* At M = 1 the probe input holds a_M, which is the cumulative action itself: every variant and "
                    "ablation scores 1 there, so the M = 1 column checks the plumbing, not the model.\n");
    wm_buf_puts(&md, "\nPath-integration R^2 by M (cumulative action from view 1 to view M+1; M = 1 trivial, as above):\n\n| variant |");
    for (int M = 1; M <= m_max; M++) wm_buf_printf(&md, " M=%d |", M);
    wm_buf_puts(&md, "\n|---|");
    for (int M = 1; M <= m_max; M++) wm_buf_puts(&md, "---|");
    wm_buf_puts(&md, "\n");
    for (int i = 0; i < nv; i++) {
        wm_buf_printf(&md, "| %s |", vs[i].name);
        for (int M = 1; M <= m_max; M++) md_cell(&md, &vs[i], seeds, g_pi, M);
        wm_buf_puts(&md, "\n");
    }
    wm_buf_printf(&md, "\nTop-1 from z_AGG by M:\n\n| variant |");
    for (int M = 1; M <= m_max; M++) wm_buf_printf(&md, " M=%d |", M);
    wm_buf_puts(&md, "\n|---|");
    for (int M = 1; M <= m_max; M++) wm_buf_puts(&md, "---|");
    wm_buf_puts(&md, "\n");
    for (int i = 0; i < nv; i++) {
        if (vs[i].oracle) continue;
        wm_buf_printf(&md, "| %s |", vs[i].name);
        for (int M = 1; M <= m_max; M++) md_cell(&md, &vs[i], seeds, g_top1_agg, M);
        wm_buf_puts(&md, "\n");
    }
    wm_buf_printf(&md, "\nClosed-loop error: mean distance between the predicted and the true cumulative action "
                       "(the identity) at M = %d on closed loops; open-path error: the same on ordinary held-out "
                       "sequences at that M. Figures: r2_vs_m.png, loss.png, pca_z.png, pca_zagg.png. Total time %.0f s.\n",
                  loop_m, wm_now() - t_all);

    /* report.json */
    wm_buf_printf(&js, "{\"world\": \"%s\", \"seeds\": [", rot ? "objects3d" : "saccade");
    for (int s = 0; s < seeds; s++) wm_buf_printf(&js, "%s{\"train_seed\": %d, \"eval_seed\": %d}", s ? ", " : "",
                                                   rc.train.seed + s, rc.eval.seed + s);
    wm_buf_printf(&js, "], \"m_max\": %d, \"loop_m\": %d, \"seconds\": %.1f,\n \"variants\": {", m_max, loop_m, wm_now() - t_all);
    for (int i = 0; i < nv; i++) {
        const Variant *v = &vs[i];
        wm_buf_printf(&js, "%s\n  \"%s\": {\"per_seed\": [", i ? "," : "", v->name);
        for (int s = 0; s < seeds; s++) {
            if (s) wm_buf_puts(&js, ", ");
            if (v->oracle) {
                wm_buf_puts(&js, "{\"pathint_r2\": [");
                for (int M = 1; M <= m_max; M++) wm_buf_printf(&js, "%s%.6f", M > 1 ? ", " : "", v->oracle_r2[s][M]);
                wm_buf_puts(&js, "]}");
            } else {
                sj_eval_json(&v->res[s], &js);
                js.len--; /* reopen the object for the extra fields */
                js.data[js.len] = 0;
                wm_buf_printf(&js, ", \"loop_err\": %.6f, \"open_err\": %.6f}", v->res[s].loop_err, v->res[s].open_err);
            }
        }
        wm_buf_puts(&js, "],\n   \"summary\": {");
        if (v->oracle) {
            for (int M = 1; M <= m_max; M++) {
                char key[32];
                snprintf(key, sizeof key, "pathint_r2_m%d", M);
                json_metric(&js, key, v, seeds, g_pi, M, M == m_max);
            }
        } else {
            json_metric(&js, "top1_z", v, seeds, g_top1_z, 0, 0);
            json_metric(&js, "top1_agg_mmax", v, seeds, g_top1_agg, m_max, 0);
            json_metric(&js, "equivariance_r2", v, seeds, g_equiv, 0, 0);
            for (int M = 1; M <= m_max; M++) {
                char key[48];
                snprintf(key, sizeof key, "pathint_r2_m%d", M);
                json_metric(&js, key, v, seeds, g_pi, M, 0);
                snprintf(key, sizeof key, "pathint_r2_zero_actions_m%d", M);
                json_metric(&js, key, v, seeds, g_pi_za, M, 0);
                snprintf(key, sizeof key, "pathint_r2_zero_features_m%d", M);
                json_metric(&js, key, v, seeds, g_pi_zf, M, 0);
            }
            json_metric(&js, "loop_err", v, seeds, g_loop, 0, 0);
            json_metric(&js, "open_err", v, seeds, g_open, 0, 1);
        }
        wm_buf_puts(&js, "}}");
    }
    wm_buf_puts(&js, "},\n \"config\": ");
    wm_buf_json_str(&js, text.data);
    wm_buf_puts(&js, "}\n");
    char path[1200];
    int r = wm_path_join(path, sizeof path, out, "report.json") || wm_write_file_atomic(path, js.data, js.len, err, sizeof err);
    if (!r) r = wm_path_join(path, sizeof path, out, "report.md") || wm_write_file_atomic(path, md.data, md.len, err, sizeof err);
    if (!r) r = figures(out, vs, nv, seeds, m_max, &d0, rot, rot ? "rotation angle" : "fixation x", err, sizeof err);
    if (!r) {
        fputs(md.data, stdout);
        printf("\nwritten: %s/report.json, report.md, r2_vs_m.png, loss.png, pca_z.png, pca_zagg.png\n", out);
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
