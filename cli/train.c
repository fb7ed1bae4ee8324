/* `seqjepa train`: the trainer fed on-line from the environment or from a dataset. */
#include <stdio.h>
#include <string.h>

#include "run/args.h"
#include "cli/commands.h"
#include "run/pipeline.h"
#include "run/runcfg.h"
#include "core/dist.h"
#include "core/err.h"
#include "core/signal.h"
#include "model/sj_train.h"

static const char *usage =
    "usage: seqjepa train CONFIG [data=DIR] [section.key=value ...] [--resume | --force] [--init CKPT] [--quiet]\n\n"
    "Trains seq-JEPA on-line: a producer thread rolls out the agent in the environment\n"
    "and fills a ring of batches; the trainer consumes them. With data=DIR (train.data) it\n"
    "trains from a dataset made by 'seqjepa gen' instead: memory-mapped shards, a shuffled\n"
    "pass over DIR/train/ per epoch (seed train.seed), a window of train.m_train + 1\n"
    "consecutive views from each sequence; the dataset's [env], [agent] and [gen] replace the\n"
    "config's. Writes train.out/log.csv and\n"
    "train.out/checkpoint.safetensors (with checkpoint.state.safetensors for --resume).\n"
    "Ctrl-C saves a checkpoint and exits 0. A train.out that already holds a run\n"
    "(checkpoints, log.csv, eval or report files) is refused unless --resume or --force.\n\n"
    "  --resume     continue the run in train.out from its checkpoint (same config, [eval],\n"
    "               [bench], train.threads and train.queue aside)\n"
    "  --force      start afresh in train.out: first delete the files a previous run wrote\n"
    "               there (checkpoints, log.csv, eval.*, report files; nothing else)\n"
    "  --init CKPT  start from the weights of CKPT (a checkpoint of the same model and\n"
    "               world: online and target networks, batch-norm statistics) instead of a\n"
    "               random initialisation; the optimiser, step count, schedules and on-line\n"
    "               probes start afresh (not with --resume, which continues the run's own)\n"
    "  --quiet      no progress bar\n\n"
    "Across processes: mpirun -np N seqjepa train CONFIG trains data-parallel; train.batch stays\n"
    "the global batch, each rank rolls out its own batch/N sequences, the gradients are\n"
    "averaged with one all-reduce per step, batch-norm statistics stay per rank (as PyTorch\n"
    "DDP), rank 0 alone writes the log and checkpoints. --resume works for any N dividing the\n"
    "batch; train.ghost=G normalises over G sub-batches per rank (one process with G = N\n"
    "computes what N ranks compute); train.check_ranks=true checks that the ranks stay identical.\n";

int cli_train(int argc, char **argv) {
    const char *resume = NULL, *quiet = NULL, *force = NULL, *init = NULL;
    RunFlag flags[] = {{"--resume", 0, &resume}, {"--force", 0, &force}, {"--init", 1, &init}, {"--quiet", 0, &quiet},
                       {NULL, 0, NULL}};
    RunArgs a;
    int prc = run_args_parse(argc, argv, flags, 1, &a, usage);
    if (prc) return prc < 0 ? 0 : prc;
    if (resume && force) {
        fprintf(stderr, "seqjepa train: --resume and --force exclude each other (continue the run, or replace it)\n\n%s",
                usage);
        return 2;
    }
    if (resume && init) {
        fprintf(stderr, "seqjepa train: --init starts a run from a checkpoint's weights; --resume continues the run in "
                        "train.out from its own: use one\n\n%s",
                usage);
        return 2;
    }
    static RunConfig rc;
    char err[1024];
    if (run_config_load(&rc, a.config, a.n_over, a.over, err, sizeof err)) {
        run_error("train", err);
        return 1;
    }
    if (pl_use_data(&rc, err, sizeof err)) {
        run_error("train", err);
        return 1;
    }
    /* Rank 0 alone touches the run folder; the others wait for its verdict. */
    int who, r = WM_OK;
    if (wm_dist_rank() == 0) r = pl_prepare_run_dir(rc.train.out, resume != NULL, force != NULL, err, sizeof err);
    if (wm_dist_agree(r, &who)) {
        if (who == wm_dist_rank()) run_error("train", err);
        return 1;
    }
    WmBuf cmd = {0};
    run_command_line("seqjepa", argc, argv, &cmd);
    rc.command = cmd.data;
    rc.init = init;
    nn_runtime_init(rc.pipe.threads);
    wm_signals_install();
    SjTrainResult res;
    r = pl_train(&rc, resume != NULL, quiet != NULL, &res, err, sizeof err);
    nn_runtime_shutdown();
    wm_buf_free(&cmd);
    if (r) {
        if (err[0]) run_error("train", err); /* empty: another rank failed and said why */
        return 1;
    }
    if (wm_dist_rank() == 0 && res.steps_done == res.steps_start && !res.interrupted)
        printf("already trained: %lld of %lld steps, nothing to do: %s\n", (long long)res.steps_done,
               (long long)(rc.train.inverse_steps + rc.train.steps), res.checkpoint);
    else if (wm_dist_rank() == 0)
        printf("%s after %lld steps (loss %.4f, %.1f sequences/s%s): %s\n", res.interrupted ? "interrupted" : "trained",
               (long long)res.steps_done, res.last_loss, res.seq_per_s, res.ranks > 1 ? ", all ranks" : "",
               res.checkpoint);
    return 0;
}
