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

#endif
