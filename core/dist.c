/* Collectives across ranks (see dist.h): MPI when built with SEQJEPA_MPI, else one
 * process that is the whole job. */
#include "core/dist.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#ifdef SEQJEPA_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1, g_on = 0, g_alone = 0;

int wm_dist_built(void) {
#ifdef SEQJEPA_MPI
    return 1;
#else
    return 0;
#endif
}

int wm_dist_launched_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (!v || !*v) continue;
        char *end;
        long n = strtol(v, &end, 10);
        if (*end == '\0' && n >= 1 && n <= INT_MAX) return (int)n;
    }
    return 1;
}

/* A launcher's marks in the environment (a job of one process has them too). */
static int launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

int wm_dist_init(int *argc, char ***argv, char *err, size_t errsz) {
    if (g_on) return WM_OK;
    int n = wm_dist_launched_size();
#ifdef SEQJEPA_MPI
    if (!launched()) return WM_OK;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return wm_errf(err, errsz, WM_ERR_ARG, "MPI failed to start (MPI_Init_thread); see the messages above");
    /* A collective that fails (a peer died) ends the whole job; mpirun then names the
     * rank that died. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_on = 1;
    if (g_rank > 0) {
        const char *all = getenv("SEQJEPA_LOG_RANKS");
        if (!(all && !strcmp(all, "1")) && wm_log_get_level() < WM_LOG_WARN) wm_log_set_level(WM_LOG_WARN);
    }
    (void)n;
    return WM_OK;
#else
    (void)argc, (void)argv;
    if (n > 1)
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "started as one of %d processes (mpirun -np %d), but this seqjepa was built without MPI "
                       "(mpicc was not found when it was compiled): each process would run alone and overwrite the "
                       "others' files. Install libopenmpi-dev and openmpi-bin ('make deps' as root) and rebuild, or run "
                       "one process without mpirun",
                       n, n);
    (void)launched;
    return WM_OK;
#endif
}

void wm_dist_finalize(void) {
#ifdef SEQJEPA_MPI
    if (g_on) MPI_Finalize();
#endif
    g_on = 0, g_rank = 0, g_size = 1;
}

int wm_dist_rank(void) { return g_alone ? 0 : g_rank; }
int wm_dist_size(void) { return g_alone ? 1 : g_size; }
int wm_dist_job_rank(void) { return g_rank; }
int wm_dist_job_size(void) { return g_size; }
void wm_dist_alone(int on) { g_alone = on != 0; }

#ifdef SEQJEPA_MPI
/* MPI counts are int: long buffers go in pieces. */
enum { CHUNK = 1 << 28 };
#define PIECES(n, body)                                                     \
    for (size_t off_ = 0; off_ < (n); off_ += CHUNK) {                      \
        int cnt_ = (int)((n) - off_ < (size_t)CHUNK ? (n) - off_ : CHUNK); \
        body;                                                               \
    }
#endif

void wm_dist_sum_f32(float *buf, size_t n) {
#ifdef SEQJEPA_MPI
    if (wm_dist_size() > 1) PIECES(n, MPI_Allreduce(MPI_IN_PLACE, buf + off_, cnt_, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD))
#endif
    (void)buf, (void)n;
}

void wm_dist_sum_f64(double *buf, size_t n) {
#ifdef SEQJEPA_MPI
    if (wm_dist_size() > 1) PIECES(n, MPI_Allreduce(MPI_IN_PLACE, buf + off_, cnt_, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD))
#endif
    (void)buf, (void)n;
}

void wm_dist_max_i64(int64_t *v, size_t n) {
#ifdef SEQJEPA_MPI
    if (wm_dist_size() > 1) PIECES(n, MPI_Allreduce(MPI_IN_PLACE, v + off_, cnt_, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD))
#endif
    (void)v, (void)n;
}

void wm_dist_allgather_i64(int64_t v, int64_t *all) {
#ifdef SEQJEPA_MPI
    if (wm_dist_size() > 1) {
        MPI_Allgather(&v, 1, MPI_INT64_T, all, 1, MPI_INT64_T, MPI_COMM_WORLD);
        return;
    }
#endif
    all[0] = v;
}

void wm_dist_bcast(void *buf, size_t bytes, int root) {
#ifdef SEQJEPA_MPI
    if (wm_dist_size() > 1) PIECES(bytes, MPI_Bcast((char *)buf + off_, cnt_, MPI_BYTE, root, MPI_COMM_WORLD))
#endif
    (void)buf, (void)bytes, (void)root;
}

void wm_dist_gather_f32(const float *mine, size_t n, float *all, int root) {
#ifdef SEQJEPA_MPI
    if (wm_dist_size() > 1) {
        WM_ASSERT(n <= (size_t)INT_MAX);
        MPI_Gather(mine, (int)n, MPI_FLOAT, all, (int)n, MPI_FLOAT, root, MPI_COMM_WORLD);
        return;
    }
#endif
    (void)root;
    if (all != mine && n) memmove(all, mine, n * sizeof(float));
}

void wm_dist_barrier(void) {
#ifdef SEQJEPA_MPI
    if (wm_dist_size() > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

int wm_dist_agree(int status, int *who) {
    int64_t v[2] = {status ? 1 : 0, status ? -(int64_t)wm_dist_rank() : INT64_MIN};
    wm_dist_max_i64(v, 2);
    /* v[1]: minus the lowest failing rank; that rank sends its code. */
    int first = v[0] ? (int)-v[1] : -1;
    if (who) *who = first;
    if (first < 0) return WM_OK;
    int64_t code = status;
    wm_dist_bcast(&code, sizeof code, first);
    return (int)code;
}
