/* `seqjepa eval`: frozen-feature probes of a checkpoint on fresh sequences of
 * training objects (probe training) and held-out objects (scoring). */
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "run/args.h"
#include "cli/commands.h"
#include "run/pipeline.h"
#include "run/runcfg.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/progress.h"
#include "model/sj_eval.h"
#include "model/sj_train.h"

static const char *usage =
    "usage: seqjepa eval CONFIG --ckpt FILE [--out DIR] [data=DATA] [section.key=value ...]\n\n"
    "Rolls out eval.train_seqs sequences of training objects and eval.test_seqs of\n"
    "held-out ones (eval.m_max + 1 views each, seed eval.seed), computes frozen features\n"
    "with the checkpoint, trains the probes on the first and scores them on the second:\n"
    "top-1 from z and z_AGG, equivariance R^2, path-integration R^2 for M = 1..m_max with\n"
    "the zero-action and zero-feature ablations. Writes DIR/eval.json and DIR/eval.md\n"
    "(DIR: the checkpoint's folder unless --out) and prints the table.\n"
    "With data=DATA (train.data, a dataset from 'seqjepa gen') the probes use the first\n"
    "eval.train_seqs sequences of DATA/train/ and eval.test_seqs of DATA/val/ (their first\n"
    "eval.m_max + 1 views) instead of fresh rollouts.\n";

int cli_eval(int argc, char **argv) {
    const char *ckpt = NULL, *outdir = NULL;
    CliFlag flags[] = {{"--ckpt", 1, &ckpt}, {"--out", 1, &outdir}, {NULL, 0, NULL}};
    CliArgs a;
    int prc = cli_parse(argc, argv, flags, 1, &a, usage);
    if (prc) return prc < 0 ? 0 : prc;
    if (!ckpt) {
        fprintf(stderr, "seqjepa eval: --ckpt FILE is required\n\n%s", usage);
        return 2;
    }
    static RunConfig rc;
    char err[1024];
    if (run_config_load(&rc, a.config, a.n_over, a.over, err, sizeof err)) {
        cli_error("eval", err);
        return 1;
    }
    if (pl_use_data(&rc, err, sizeof err)) {
        cli_error("eval", err);
        return 1;
    }
    nn_runtime_init(rc.train.threads);
    SjModel *m = NULL;
    int64_t step = 0;
    PlEvalData d = {0};
    SjEvalResult res = {0};
    int status = 1;
    double t0 = wm_now();
    if (sj_checkpoint_load(ckpt, &m, NULL, &step, err, sizeof err) ||
        pl_eval_data(&rc, NULL, rc.eval.train_seqs, rc.eval.test_seqs, &d, err, sizeof err) ||
        pl_check_shape(m, &d.spec, ckpt, err, sizeof err) || pl_eval(m, &rc, &d, &res, err, sizeof err))
        goto fail;
    AgBatch tr = d.tr, te = d.te;
    char dir[1024], path[1100];
    if (outdir) snprintf(dir, sizeof dir, "%s", outdir);
    else {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s", ckpt);
        snprintf(dir, sizeof dir, "%s", dirname(tmp));
    }
    if (wm_mkdirs(dir, err, sizeof err)) goto fail;
    WmBuf js = {0}, md = {0}, text = {0};
    run_config_text(&rc, &text);
    wm_buf_puts(&js, "{\"checkpoint\": ");
    wm_buf_json_str(&js, ckpt);
    wm_buf_printf(&js, ", \"step\": %lld, \"train_seqs\": %d, \"test_seqs\": %d, \"seed\": %d, \"data\": ",
                  (long long)step, tr.n, te.n, rc.eval.seed);
    wm_buf_json_str(&js, rc.train.data);
    wm_buf_puts(&js, ",\n \"results\": ");
    sj_eval_json(&res, &js);
    wm_buf_puts(&js, ",\n \"config\": ");
    wm_buf_json_str(&js, text.data);
    wm_buf_puts(&js, "}\n");
    wm_buf_printf(&md, "Evaluation of %s (step %lld): probes trained on %d sequences of training objects, "
                       "scored on %d of held-out objects%s%s%s.\n\n", ckpt, (long long)step, tr.n, te.n,
                  rc.train.data[0] ? " (from the dataset " : "", rc.train.data, rc.train.data[0] ? ")" : "");
    sj_eval_markdown(&res, &md);
    int w = wm_path_join(path, sizeof path, dir, "eval.json") || wm_write_file_atomic(path, js.data, js.len, err, sizeof err);
    if (!w) w = wm_path_join(path, sizeof path, dir, "eval.md") || wm_write_file_atomic(path, md.data, md.len, err, sizeof err);
    if (!w) {
        fputs(md.data, stdout);
        printf("\nwritten: %s/eval.json, %s/eval.md (%.1f s)\n", dir, dir, wm_now() - t0);
        status = 0;
    }
    wm_buf_free(&js), wm_buf_free(&md), wm_buf_free(&text);
    if (status) goto fail;
    goto done;
fail:
    cli_error("eval", err);
done:
    pl_eval_data_free(&d);
    sj_model_destroy(m);
    nn_runtime_shutdown();
    return status;
}
