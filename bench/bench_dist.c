/* `seqjepa bench allreduce`: the time of the trainer's gradient sum across ranks
 * (core/dist.h) on a buffer of a model's size, apart from training, so that the cost
 * of N ranks can be told from the compute it overlaps. Run it under mpirun. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/dist.h"
#include "run/args.h"

static void usage(FILE *out) {
    fprintf(out, "usage: mpirun -np N seqjepa bench allreduce [--floats N] [--reps N]\n\n"
                 "Sums a buffer of --floats floats across the ranks --reps times (default 3597200, the\n"
                 "parameters of configs/objects3d-quick.ini, and 50), each preceded by a barrier, and\n"
                 "prints the slowest rank's time per sum: fastest, median and mean, and the bytes per\n"
                 "second of the buffer (its size over the fastest time).\n");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int cli_bench_allreduce(int argc, char **argv) {
    int floats = 3597200, reps = 50;
    for (int i = 1; i < argc; i++) {
        const char *a, *v;
        int r = run_flag_pair("bench allreduce", argc, argv, &i, &a, &v, usage);
        if (r) return r < 0 ? 0 : r;
        if (!strcmp(a, "--floats")) r = run_parse_int("bench allreduce", v, "--floats", 1, &floats);
        else if (!strcmp(a, "--reps")) r = run_parse_int("bench allreduce", v, "--reps", 1, &reps);
        else {
            fprintf(stderr, "seqjepa bench allreduce: unknown flag '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        if (r) return r;
    }
    int R = wm_dist_size();
    if (R < 2) {
        fprintf(stderr, "seqjepa bench allreduce: one process: nothing to sum across (start it with mpirun -np N, N >= 2%s)\n",
                wm_dist_built() ? "" : ", from a build with MPI");
        return 2;
    }
    float *buf = wm_new(float, (size_t)floats);
    double *t = wm_new(double, (size_t)reps);
    for (int k = 0; k < floats; k++) buf[k] = 1.0f / (float)(1 + k % 7);
    wm_dist_sum_f32(buf, (size_t)floats); /* warm-up: connections, pages */
    for (int k = 0; k < reps; k++) {
        wm_dist_barrier();
        double t0 = wm_now();
        wm_dist_sum_f32(buf, (size_t)floats);
        double dt[1] = {wm_now() - t0};
        int64_t ns = (int64_t)(dt[0] * 1e9);
        wm_dist_max_i64(&ns, 1);
        t[k] = (double)ns * 1e-9;
    }
    if (wm_dist_rank() == 0) {
        double mean = 0;
        for (int k = 0; k < reps; k++) mean += t[k] / reps;
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        double mb = (double)floats * 4 / 1e6;
        printf("allreduce (sum) of %d floats (%.1f MB) across %d ranks, %d times: fastest %.3f ms, median %.3f ms, "
               "mean %.3f ms; %.2f GB/s of buffer at the fastest\n",
               floats, mb, R, reps, 1e3 * t[0], 1e3 * t[reps / 2], 1e3 * mean, mb / 1e3 / t[0]);
    }
    wm_free(buf);
    wm_free(t);
    return 0;
}
