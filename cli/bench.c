/* `seqjepa bench NAME`: dispatch to the benchmarks. They print figures and never
 * fail on speed. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const CliBench benches[] = {
    {"train", "training-step throughput: quick, default and reference configurations", cli_bench_train},
    {"pathint", "path-integration benchmark: variants, ablations, oracle, report", cli_bench_pathint},
    {"saccade", "glimpses/s, saliency maps/s, scenes/s, rollout sequences/s", cli_bench_saccade},
    {"render", "objects3d views/s at 64 and 128 px, one view per frame vs batched",
     cli_bench_render},
    {"view", "viewer frames/s while it trains (drag, idle, saccades) and present paths",
     cli_bench_view},
};

static int n_benches(void) {
    int n = 0;
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (benches[i].name) n++;
    return n;
}

static void usage(FILE *out) {
    fprintf(out, "usage: seqjepa bench NAME [ARGS...]   (or 'all')\n\nbenchmarks:\n");
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (benches[i].name) fprintf(out, "  %-10s %s\n", benches[i].name, benches[i].summary);
    if (!n_benches()) fprintf(out, "  (none built in)\n");
}

int cli_bench(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "all")) {
        int rc = 0;
        for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
            if (!benches[i].name) continue;
            char *sub[] = {(char *)benches[i].name, NULL};
            int r = benches[i].run(1, sub);
            if (r) rc = r;
        }
        return rc;
    }
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (benches[i].name && !strcmp(argv[1], benches[i].name))
            return benches[i].run(argc - 1, argv + 1);
    fprintf(stderr, "seqjepa bench: unknown benchmark '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
