/* `seqjepa eval`: frozen-feature probes of a checkpoint on fresh sequences of
 * training objects (probe training) and held-out objects (scoring). */
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "agents/rollout.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/runcfg.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/progress.h"
#include "model/sj_eval.h"
#include "model/sj_train.h"

static const char *usage =
    "usage: seqjepa eval CONFIG --ckpt FILE [--out DIR] [section.key=value ...]\n\n"
    "Rolls out eval.train_seqs sequences of training objects and eval.test_seqs of\n"
    "held-out ones (eval.m_max + 1 views each, seed eval.seed), computes frozen features\n"
    "with the checkpoint, trains the probes on the first and scores them on the second:\n"
    "top-1 from z and z_AGG, equivariance R^2, path-integration R^2 for M = 1..m_max with\n"
    "the zero-action and zero-feature ablations. Writes DIR/eval.json and DIR/eval.md\n"
    "(DIR: the checkpoint's folder unless --out) and prints the table.\n";

/* Rolls out n sequences of one split and their cumulative actions. */
static int make_split(Env *env, Agent *ag, const RunConfig *rc, int split, int n, AgBatch *b, float **cum, char *err,
                      size_t errsz) {
    int M = rc->eval.m_max, A = env_spec(env)->action_dim;
    int r = ag_batch_alloc(b, env_spec(env), n, M + 1, 0, err, errsz);
    if (!r) r = ag_rollout(env, ag, (uint64_t)rc->eval.seed, split, 0, n, b, err, errsz);
    if (r) return r;
    *cum = wm_new(float, (size_t)n * (size_t)M * (size_t)A);
    for (int i = 0; i < n; i++)
        for (int k = 1; k <= M; k++)
            ag_cumulative_action(&rc->env, A, b->actions + (size_t)i * (size_t)M * A, k,
                                 *cum + ((size_t)i * M + (size_t)(k - 1)) * A);
    return WM_OK;
}

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
        fprintf(stderr, "seqjepa eval: %s\n", err);
        return 1;
    }
    nn_runtime_init(rc.train.threads);
    SjModel *m = NULL;
    int64_t step = 0;
    Env *env = NULL;
    Agent *ag = NULL;
    AgBatch tr = {0}, te = {0};
    float *ctr = NULL, *cte = NULL;
    int status = 1;
    if (sj_checkpoint_load(ckpt, &m, NULL, &step, err, sizeof err)) goto fail;
    env = env_create(&rc.env, 64, err, sizeof err);
    if (!env) goto fail;
    ag = ag_create(&rc.agent, &rc.env, env_spec(env), 64, err, sizeof err);
    if (!ag) goto fail;
    const EnvSpec *sp = env_spec(env);
    const SjShape *sh = sj_model_shape(m);
    if (sp->height != sh->img_h || sp->width != sh->img_w || sp->action_dim != sh->action_dim ||
        sp->n_classes != sh->n_classes) {
        snprintf(err, sizeof err,
                 "'%s' was trained on %dx%d views with %d action dims and %d classes; this config gives %dx%d, %d, %d",
                 ckpt, sh->img_h, sh->img_w, sh->action_dim, sh->n_classes, sp->height, sp->width, sp->action_dim,
                 sp->n_classes);
        goto fail;
    }
    double t0 = wm_now();
    wm_info("eval: rolling out %d + %d sequences of %d views", rc.eval.train_seqs, rc.eval.test_seqs, rc.eval.m_max + 1);
    if (make_split(env, ag, &rc, ENV_SPLIT_TRAIN, rc.eval.train_seqs, &tr, &ctr, err, sizeof err) ||
        make_split(env, ag, &rc, ENV_SPLIT_HELDOUT, rc.eval.test_seqs, &te, &cte, err, sizeof err))
        goto fail;
    wm_info("eval: data in %.1f s; probing", wm_now() - t0);
    SjEvalSpec spec = {rc.eval.m_max, sp->action_dim, rc.env.kind == 0, rc.eval.mlp_hidden, rc.eval.mlp_epochs,
                       (uint64_t)rc.eval.seed};
    SjEvalSplit s_tr = {tr.n, tr.t, tr.pixels, tr.actions, tr.labels, ctr};
    SjEvalSplit s_te = {te.n, te.t, te.pixels, te.actions, te.labels, cte};
    SjEvalResult res;
    if (sj_eval_run(m, &spec, &s_tr, &s_te, &res, err, sizeof err)) goto fail;

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
    wm_buf_printf(&js, ", \"step\": %lld, \"train_seqs\": %d, \"test_seqs\": %d, \"seed\": %d,\n \"results\": ",
                  (long long)step, tr.n, te.n, rc.eval.seed);
    sj_eval_json(&res, &js);
    wm_buf_puts(&js, ",\n \"config\": ");
    wm_buf_json_str(&js, text.data);
    wm_buf_puts(&js, "}\n");
    wm_buf_printf(&md, "Evaluation of %s (step %lld): probes trained on %d sequences of training objects, "
                       "scored on %d of held-out objects.\n\n", ckpt, (long long)step, tr.n, te.n);
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
    fprintf(stderr, "seqjepa eval: %s\n", err);
done:
    ag_batch_free(&tr), ag_batch_free(&te);
    wm_free(ctr), wm_free(cte);
    ag_destroy(ag);
    env_destroy(env);
    sj_model_destroy(m);
    nn_runtime_shutdown();
    return status;
}
