/* seqjepa: subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/dist.h"
#include "run/args.h"
#include "nn/nn.h"

static const CliCommand commands[] = {
    {"train", "train seq-JEPA on-line from an environment, or from a dataset", cli_train},
    {"eval", "probe a checkpoint: invariance, equivariance, path integration", cli_eval},
    {"gen", "generate a dataset of sequences as numpy shards (headless)", cli_gen},
    {"embed", "encode view sequences with a checkpoint (z, z_AGG as .npy)", cli_embed},
    {"view", "interactive viewer: move the object or the eye, live latent plots while training", cli_view},
    {"bench", "print performance figures (ops, render, ...)", cli_bench},
    {"keys", "list the configuration keys: defaults, ranges, what each does", cli_keys},
    {"version", "print the version", cli_version},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

static void usage(FILE *out) {
    fprintf(out, "usage: seqjepa COMMAND [ARGS...]\n\n"
                 "seq-JEPA world-model environments, trainer and benchmarks.\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'seqjepa COMMAND --help' describes each command, 'seqjepa keys' the configuration keys.\n");
}

int cli_version(int argc, char **argv) {
    if (argc > 1 && run_is_help(argv[1])) {
        printf("usage: seqjepa version\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "seqjepa version: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    printf("seqjepa %s, built %s\n", SEQJEPA_VERSION,
           wm_dist_built() ? "with MPI (mpirun -np N: train, gen and bench pathint across ranks)" : "without MPI (one process per run)");
    return 0;
}

int main(int argc, char **argv) {
    /* Before anything touches OpenBLAS: it picks its kernels when it loads. */
    nn_blas_reexec(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (run_is_help(cmd) || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) return cli_version(1, argv + 1);
    for (int i = 0; i < n_commands; i++) {
        if (strcmp(cmd, commands[i].name)) continue;
        /* Under mpirun every rank runs the command; train, gen and bench share the
         * work, the others refuse to run as several processes. */
        char err[1024];
        if (wm_dist_init(&argc, &argv, err, sizeof err)) {
            run_error(cmd, err);
            return 1;
        }
        int multi = !strcmp(cmd, "train") || !strcmp(cmd, "gen") || !strcmp(cmd, "bench");
        if (wm_dist_size() > 1 && !multi) {
            if (wm_dist_rank() == 0)
                fprintf(stderr, "seqjepa %s: runs as one process; only train, gen and bench pathint run across ranks (start it "
                                "without mpirun)\n", cmd);
            wm_dist_finalize();
            return 2;
        }
        int rc = commands[i].run(argc - 1, argv + 1);
        /* A rank that fails alone must not wait in MPI_Finalize for peers that wait
         * for it: it exits, and mpirun ends the job naming it. */
        if (rc == 0 || wm_dist_job_size() == 1) wm_dist_finalize();
        return rc;
    }
    fprintf(stderr, "seqjepa: unknown %s '%s'\n\n", cmd[0] == '-' ? "option" : "command", cmd);
    usage(stderr);
    return 2;
}
