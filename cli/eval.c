/* `seqjepa eval`: frozen-feature probes of a checkpoint on fresh sequences of
 * training objects (probe training) and held-out objects (scoring). */
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "run/args.h"
#include "cli/commands.h"
#include "run/pipeline.h"
#include "run/runcfg.h"
#include "run/steps.h"
#include "core/clock.h"
#include "run/report.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/progress.h"
#include "model/sj_eval.h"
#include "model/sj_train.h"

static const char *usage =
    "usage: seqjepa eval CONFIG --ckpt FILE [--no-action FILE] [--out DIR] [data=DATA] [section.key=value ...] [--quiet]\n\n"
    "Rolls out eval.train_seqs sequences of training objects and eval.test_seqs of held-out\n"
    "ones (eval.m_max + 1 views each, seed eval.seed), computes frozen features with the\n"
    "checkpoint, trains the probes on the first and scores them on the second: top-1 from z\n"
    "and z_AGG, the pose probes (ridge from z to each view's pose, and for rotations the\n"
    "equivariance row's regressor on the same rows: pose that z carries non-linearly), the\n"
    "equivariance R^2, and the held-out prediction loss; then the path-integration test:\n"
    "next-view retrieval by the model's own predictor for M = 1..eval.retr_m_max on\n"
    "eval.retr_seqs held-out sequences (the true view M+1 among eval.retr_k other views of\n"
    "the same object at independent poses). Beside the model, every table gives its\n"
    "controls, scored by the same probes on the same sequences: the same config randomly\n"
    "initialised, the no-action model (--no-action: a checkpoint trained with\n"
    "model.action_cond=none), the supervised pose bound when eval.supervised_pose records\n"
    "one for this world (a change of [env] or [agent] on the command line or by data=\n"
    "leaves the config file's bound out), chance, and the oracle (true poses and latents in\n"
    "place of features). Writes DIR/eval.json, DIR/eval.md and the report DIR/report.md\n"
    "with its figures (loss.png, probes.png, retrieval.png, pca.png, overview.png; DIR:\n"
    "--out, else the checkpoint's folder when it holds the run's log.csv, else\n"
    "runs/eval-NAME for a checkpoint NAME.safetensors on its own, such as a shipped model),\n"
    "prints the tables and the report's path. A progress bar with rate and ETA goes to\n"
    "stderr (--quiet: none).\n"
    "With data=DATA (train.data, a dataset from 'seqjepa gen') the probes use the first\n"
    "eval.train_seqs sequences of DATA/train/ and eval.test_seqs of DATA/val/ (their first\n"
    "eval.m_max + 1 views) instead of fresh rollouts.\n";

int cli_eval(int argc, char **argv) {
    const char *ckpt = NULL, *outdir = NULL, *noact_ckpt = NULL, *quiet = NULL;
    RunFlag flags[] = {{"--ckpt", 1, &ckpt},
                       {"--no-action", 1, &noact_ckpt},
                       {"--out", 1, &outdir},
                       {"--quiet", 0, &quiet},
                       {NULL, 0, NULL}};
    RunArgs a;
    int prc = run_args_parse(argc, argv, flags, 1, &a, usage);
    if (prc) return prc < 0 ? 0 : prc;
    if (!ckpt) {
        fprintf(stderr, "seqjepa eval: --ckpt FILE is required\n\n%s", usage);
        return 2;
    }
    static RunConfig rc;
    char err[1024];
    if (run_config_load(&rc, a.config, a.n_over, a.over, err, sizeof err)) {
        run_error("eval", err);
        return 1;
    }
    if (pl_use_data(&rc, err, sizeof err)) {
        run_error("eval", err);
        return 1;
    }
    pl_supervised_note(&rc, "eval");
    nn_runtime_init(rc.pipe.threads);
    SjModel *m = NULL, *noact = NULL;
    int64_t step = 0, noact_step = 0;
    PlEvalData d = {0};
    static PlEvalTable tab;
    int status = 1;
    double t0 = wm_now();
    char dir[1024], about[1200], noact_about[1200] = "", path[1200];
    if (outdir) snprintf(dir, sizeof dir, "%s", outdir);
    else {
        /* Beside the training run the checkpoint comes from (its log.csv there); a
         * checkpoint on its own (a shipped model, a copied file) gets runs/eval-NAME, so
         * that evaluating it never writes into a source folder such as assets/models/. */
        char tmp[1024], log[1100];
        snprintf(tmp, sizeof tmp, "%s", ckpt);
        snprintf(dir, sizeof dir, "%s", dirname(tmp));
        if (wm_path_join(log, sizeof log, dir, RUN_LOG_FILE) || !wm_path_exists(log)) {
            snprintf(tmp, sizeof tmp, "%s", ckpt);
            char *name = basename(tmp), *dot = strrchr(name, '.');
            if (dot && dot != name) *dot = 0;
            snprintf(dir, sizeof dir, "runs/eval-%s", name);
        }
    }
    if (sj_checkpoint_load(ckpt, &m, NULL, &step, err, sizeof err) ||
        pl_eval_data(&rc, NULL, rc.eval.train_seqs, rc.eval.test_seqs, &d, err, sizeof err) ||
        pl_check_shape(m, &d.spec, ckpt, err, sizeof err))
        goto fail;
    if (noact_ckpt) {
        if (sj_checkpoint_load(noact_ckpt, &noact, NULL, &noact_step, err, sizeof err) ||
            pl_check_shape(noact, &d.spec, noact_ckpt, err, sizeof err))
            goto fail;
        if (sj_model_config(noact)->action_cond != SJ_COND_NONE) {
            snprintf(err, sizeof err, "--no-action %s: that model is action-conditioned (model.action_cond is not none)",
                     noact_ckpt);
            goto fail;
        }
        snprintf(noact_about, sizeof noact_about, "the checkpoint %s at step %lld", noact_ckpt, (long long)noact_step);
    }
    snprintf(about, sizeof about, "the checkpoint %s at step %lld", ckpt, (long long)step);
    if (pl_eval_table(m, about, noact, noact_about, &rc, &d, quiet != NULL, &tab, err, sizeof err)) goto fail;
    AgBatch tr = d.tr, te = d.te;
    if (wm_mkdirs(dir, err, sizeof err)) goto fail;
    WmBuf js = {0}, md = {0}, text = {0}, setup = {0};
    run_config_text(&rc, &text);
    WmJsonW jw;
    wm_jw_init(&jw, &js);
    wm_jw_obj(&jw);
    wm_jw_key(&jw, "checkpoint"), wm_jw_str(&jw, ckpt);
    wm_jw_key(&jw, "step"), wm_jw_int(&jw, step);
    wm_jw_key(&jw, "train_seqs"), wm_jw_int(&jw, tr.n);
    wm_jw_key(&jw, "test_seqs"), wm_jw_int(&jw, te.n);
    wm_jw_key(&jw, "seed"), wm_jw_int(&jw, rc.eval.seed);
    wm_jw_key(&jw, "data"), wm_jw_str(&jw, rc.pipe.data);
    wm_jw_break(&jw, "\n "), wm_jw_key(&jw, "results"), wm_jw_obj(&jw);
    sj_eval_json_fields(&tab.res[tab.model], &jw);
    wm_jw_end(&jw);
    wm_jw_break(&jw, "\n "), wm_jw_key(&jw, "table");
    sj_eval_json_table(tab.col, tab.n, &jw);
    wm_jw_break(&jw, "\n "), wm_jw_key(&jw, "config"), wm_jw_str(&jw, text.data);
    wm_jw_end(&jw);
    wm_buf_puts(&js, "\n");
    int glimpses = d.spec.layout.family == ENV_FAMILY_GLIMPSE;
    const char *items = glimpses ? "images" : "objects";
    wm_buf_printf(&setup, "Probes trained on %d sequences of training %s, scored on %d of held-out %s%s%s%s; "
                          "%s.", tr.n, items, te.n, items, rc.pipe.data[0] ? " (from the dataset " : "", rc.pipe.data,
                  rc.pipe.data[0] ? ")" : "",
                  !glimpses ? "regressors: an MLP (two hidden layers) or ridge, whichever scores higher on a "
                                     "validation fifth of the probe-training rows; classifiers: linear"
                                   : "regressors: ridge; classifiers: linear");
    wm_buf_printf(&setup, " The pose gate is ridge%s. Path integration: next-view retrieval on %d held-out sequences of %d "
                          "views rolled out for it (%s); the distractors of M are the first %d views after view M+1 "
                          "that a_M could have led to, and a sequence with fewer is left out (scored at M = 1..%d:",
                  !glimpses ? " (its second row: the regressor above)" : "", d.retr.b.n, d.retr.b.t,
                  !glimpses
                      ? "every view's rotation drawn independently, colours and lights fixed within a sequence"
                      : "fixations drawn uniformly over the scene, without inhibition of return",
                  rc.eval.retr_k, rc.eval.retr_m_max);
    for (int M = 1; M <= rc.eval.retr_m_max && d.retr.b.n; M++)
        wm_buf_printf(&setup, "%s %d", M > 1 ? "," : "", sj_retrieval_count(&d.retr.split, M));
    wm_buf_puts(&setup, " sequences).");
    wm_buf_printf(&md, "Evaluation of %s (step %lld). %s\n\n", ckpt, (long long)step, setup.data);
    sj_eval_markdown_table(tab.col, tab.n, glimpses, &md);
    char report[1200];
    RptInput ri = {.dir = dir, .ckpt = ckpt, .step = step, .run_dir = NULL, .table = &tab, .data = &d,
                   .setup_md = setup.data, .config_text = text.data};
    char rdir[1024];
    snprintf(rdir, sizeof rdir, "%s", ckpt);
    ri.run_dir = dirname(rdir);
    int w = wm_path_join(path, sizeof path, dir, "eval.json") || wm_write_file_atomic(path, js.data, js.len, err, sizeof err);
    if (!w) w = wm_path_join(path, sizeof path, dir, "eval.md") || wm_write_file_atomic(path, md.data, md.len, err, sizeof err);
    if (!w) w = rpt_write(&ri, report, sizeof report, err, sizeof err);
    if (!w) {
        fputs(md.data, stdout);
        printf("\nwritten: %s/eval.json, %s/eval.md (%.1f s)\nreport: %s (figures beside it)\n", dir, dir,
               wm_now() - t0, report);
        status = 0;
    }
    wm_buf_free(&js), wm_buf_free(&md), wm_buf_free(&text), wm_buf_free(&setup);
    if (status) goto fail;
    goto done;
fail:
    run_error("eval", err);
done:
    pl_eval_table_free(&tab);
    pl_eval_data_free(&d);
    sj_model_destroy(m);
    sj_model_destroy(noact);
    nn_runtime_shutdown();
    return status;
}
