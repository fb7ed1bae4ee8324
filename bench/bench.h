/* The benchmark programs behind `seqjepa bench NAME` (dispatched from cli/bench.c).
 * Each takes the arguments after its own name, prints figures only (never fails on
 * speed) and returns the process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef BENCH_H
#define BENCH_H

int cli_bench_ops(int argc, char **argv);     /* bench/bench_ops.c */
int cli_bench_render(int argc, char **argv);  /* bench/bench_render.c */
int cli_bench_saccade(int argc, char **argv); /* bench/bench_saccade.c */
int cli_bench_train(int argc, char **argv);   /* bench/bench_train.c */
int cli_bench_pathint(int argc, char **argv); /* bench/bench_pathint.c */
int cli_bench_gen(int argc, char **argv);     /* bench/bench_gen.c */
int cli_bench_view(int argc, char **argv);    /* bench/bench_view.c */
int cli_bench_allreduce(int argc, char **argv); /* bench/bench_dist.c */

/* The machine's sgemm rate, measured by bench/bench_ops.c and shared with the other
 * benchmarks so that each compares itself with a figure taken in the same run.
 * bench_sgemm_rate: GFLOP/s of an n x n x n product, best of five timed runs after a
 * warm-up, on OpenBLAS's own threads or split over the engine's pool (nn_gemm).
 * bench_sgemm_best: the best of 1024^3 and 2048^3 on both. bench_sgemm_per_cpu: the
 * best GFLOP per CPU-second of the process that the engine's split has reached in
 * either (0 before the first), a figure other processes on the cores barely move. */
double bench_sgemm_rate(int n, int openblas_threads);
double bench_sgemm_best(void);
double bench_sgemm_per_cpu(void);

/* The 1-minute load average of the machine (/proc/loadavg), -1 where it cannot be read;
 * every benchmark prints it beside its timings. */
double bench_load_average(void);

#endif
