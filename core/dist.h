/* Data-parallel runs across processes (ranks) started by mpirun: the few collectives
 * the trainer, the generator and the benchmarks need, over MPI when the build found
 * mpicc, and a single-process fallback otherwise (every call then acts on one rank).
 *
 * MPI is started only when the process was launched by mpirun (or another MPI
 * launcher), so a plain `seqjepa ...` never pays for it. All collectives are called
 * from the main thread (MPI_THREAD_FUNNELED). */
#ifndef WM_DIST_H
#define WM_DIST_H

#include <stddef.h>
#include <stdint.h>

/* Whether this build has MPI (compiled with mpicc's flags). */
int wm_dist_built(void);
/* The number of processes a launcher says this job has (OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE, PMIX_SIZE...; 1 when none), read from the environment: what a build
 * without MPI uses to refuse being one of several ranks. */
int wm_dist_launched_size(void);

/* Joins the job when launched by mpirun (MPI_Init_thread), else stays a single
 * process. Errors: a launcher started several processes but this build has no MPI
 * (each would train alone and overwrite the others' files), or MPI failed to start.
 * Call once, before any thread is created; wm_dist_finalize at exit. */
int wm_dist_init(int *argc, char ***argv, char *err, size_t errsz);
/* Ranks > 0 keep warnings and errors only (rank 0 speaks for the job) unless
 * SEQJEPA_LOG_RANKS=1. */
void wm_dist_finalize(void);
int wm_dist_rank(void);
int wm_dist_size(void);
/* wm_dist_alone(1): until wm_dist_alone(0), this rank acts as a job of one process
 * (rank 0 of 1; collectives do nothing), so that each rank can run work of its own
 * (bench pathint trains a different variant on each). The job's own rank and size
 * stay readable. */
void wm_dist_alone(int on);
int wm_dist_job_rank(void);
int wm_dist_job_size(void);

/* In place: buf[i] = sum over ranks of buf[i]. */
void wm_dist_sum_f32(float *buf, size_t n);
void wm_dist_sum_f64(double *buf, size_t n);
/* In place: v[i] = max over ranks. */
void wm_dist_max_i64(int64_t *v, size_t n);
/* Every rank's value: all[r] = v of rank r (all has wm_dist_size() entries). */
void wm_dist_allgather_i64(int64_t v, int64_t *all);
/* root's bytes into every rank's buf. */
void wm_dist_bcast(void *buf, size_t bytes, int root);
/* Rank r's n floats into root's all[r*n .. r*n+n-1] (all: root only, size*n). */
void wm_dist_gather_f32(const float *mine, size_t n, float *all, int root);
void wm_dist_barrier(void);

/* A status agreed by all ranks: each passes its own (WM_OK or an error code); every
 * rank gets the first failing rank's code and, in *who, that rank (-1 when all
 * succeeded). Use it after a step that may fail on some ranks alone, so that none
 * is left waiting in a later collective. */
int wm_dist_agree(int status, int *who);

#endif
