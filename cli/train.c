/* `seqjepa train`: wires the environment stream to the trainer. */
#include <stdio.h>
#include <string.h>

#include "agents/stream.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/runcfg.h"
#include "core/err.h"
#include "core/signal.h"
#include "model/sj_train.h"

static const char *usage =
    "usage: seqjepa train CONFIG [section.key=value ...] [--resume] [--quiet]\n\n"
    "Trains seq-JEPA on-line: a producer thread rolls out the agent in the environment\n"
    "and fills a ring of batches; the trainer consumes them. Writes train.out/log.csv and\n"
    "train.out/checkpoint.safetensors (with checkpoint.state.safetensors for --resume).\n"
    "Ctrl-C saves a checkpoint and exits 0.\n\n"
    "  --resume   continue the run in train.out from its checkpoint (same config)\n"
    "  --quiet    no progress bar\n";

typedef struct {
    AgStream *s;
} Src;

static int src_next(void *ctx, int64_t step, SjBatch *out, char *err, size_t errsz) {
    Src *s = ctx;
    const AgBatch *b = ag_stream_next(s->s, step, err, errsz);
    if (!b) return WM_ERR_ARG;
    *out = (SjBatch){b->pixels, b->actions, b->labels, b->n, b->t};
    return WM_OK;
}

static void src_release(void *ctx) { ag_stream_release(((Src *)ctx)->s); }

int cli_train(int argc, char **argv) {
    const char *resume = NULL, *quiet = NULL;
    CliFlag flags[] = {{"--resume", 0, &resume}, {"--quiet", 0, &quiet}, {NULL, 0, NULL}};
    CliArgs a;
    int prc = cli_parse(argc, argv, flags, 1, &a, usage);
    if (prc) return prc < 0 ? 0 : prc;
    static RunConfig rc;
    char err[1024];
    if (run_config_load(&rc, a.config, a.n_over, a.over, err, sizeof err)) {
        fprintf(stderr, "seqjepa train: %s\n", err);
        return 1;
    }
    nn_runtime_init(rc.train.threads);
    wm_signals_install();
    AgStream *st = ag_stream_create(&rc.env, &rc.agent, rc.train.batch, rc.train.m_train + 1,
                                    rc.train.batch < 64 ? rc.train.batch : 64, rc.train.queue,
                                    (uint64_t)rc.train.seed, ENV_SPLIT_TRAIN, err, sizeof err);
    if (!st) {
        fprintf(stderr, "seqjepa train: %s\n", err);
        return 1;
    }
    const EnvSpec *sp = ag_stream_spec(st);
    WmBuf text = {0};
    run_config_text(&rc, &text);
    SjTrainSetup su = {.model = rc.model, .optim = rc.optim, .train = rc.train,
                       .shape = {sp->height, sp->width, sp->action_dim, sp->n_classes},
                       .config_text = text.data, .resume = resume != NULL, .quiet = quiet != NULL};
    Src src = {st};
    SjSource source = {src_next, src_release, &src};
    SjTrainResult res;
    int r = sj_train_run(&su, &source, &res, err, sizeof err);
    ag_stream_destroy(st);
    wm_buf_free(&text);
    nn_runtime_shutdown();
    if (r) {
        fprintf(stderr, "seqjepa train: %s\n", err);
        return 1;
    }
    printf("%s after %lld steps (loss %.4f, %.1f sequences/s): %s\n", res.interrupted ? "interrupted" : "trained",
           (long long)res.steps_done, res.last_loss, res.seq_per_s, res.checkpoint);
    return 0;
}
