/* `seqjepa bench NAME`: dispatch to the benchmarks. They print figures and never
 * fail on speed. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/commands.h"
#include "core/dist.h"
#include "run/args.h"

static const CliBench benches[] = {
    {"ops", "nn engine: per-op GFLOP/s of the encoders and transformer vs sgemm", cli_bench_ops, 1},
    {"render", "objects3d views/s at 64 and 128 px, one view per frame vs batched", cli_bench_render, 1},
    {"saccade", "glimpses/s, saliency maps/s, scenes/s, rollout sequences/s", cli_bench_saccade, 1},
    {"train", "training-step throughput: quick, default and reference configurations", cli_bench_train, 1},
    {"pathint", "path-integration benchmark: CONFIG --out DIR (variants, ablations, oracle, report)",
     cli_bench_pathint, 0},
    {"gen", "dataset generation: views written/s end to end vs the batched render rate", cli_bench_gen, 1},
    {"allreduce", "under mpirun: time of the gradient sum across ranks for a buffer of a model's size", cli_bench_allreduce, 0},
    {"view", "viewer frames/s while it trains (drag, idle, saccades), two ways to show a frame (needs a display)", cli_bench_view, 0},
};
static const int n_benches = (int)(sizeof benches / sizeof benches[0]);

static void usage(FILE *out) {
    fprintf(out, "usage: seqjepa bench NAME [ARGS...]   (or 'all')\n\nbenchmarks:\n");
    for (int i = 0; i < n_benches; i++) fprintf(out, "  %-10s %s\n", benches[i].name, benches[i].summary);
    fprintf(out, "\n'all' runs every benchmark that needs no arguments.\n");
}

int cli_bench(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (run_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (wm_dist_size() > 1 && strcmp(argv[1], "pathint") && strcmp(argv[1], "allreduce")) {
        if (wm_dist_rank() == 0)
            fprintf(stderr, "seqjepa bench %s: runs as one process (only bench pathint and bench allreduce run across "
                            "ranks); start it without mpirun\n", argv[1]);
        return 2;
    }
    if (!strcmp(argv[1], "all")) {
        int rc = 0;
        for (int i = 0; i < n_benches; i++) {
            if (!benches[i].in_all) continue;
            char name[64];
            snprintf(name, sizeof name, "bench %s", benches[i].name);
            char *sub[] = {name, NULL};
            int r = benches[i].run(1, sub);
            if (r) rc = r;
        }
        return rc;
    }
    for (int i = 0; i < n_benches; i++)
        if (!strcmp(argv[1], benches[i].name)) {
            /* the benchmark's messages name it as the user typed it: "seqjepa bench NAME: ..." */
            char name[64];
            snprintf(name, sizeof name, "bench %s", benches[i].name);
            argv[1] = name;
            return benches[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "seqjepa bench: unknown benchmark '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
