/* The engine's runtime: which OpenBLAS kernels run (CPU detection and the re-exec
 * that selects faster ones), thread counts, the pool, and the GEMM entry points. */
#include <cblas.h>
#include <cpuid.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "nn/nn_impl.h"

#define REEXEC_VAR   "SEQJEPA_BLAS_REEXEC"
#define DETECTED_VAR "SEQJEPA_BLAS_DETECTED"

/* ---------------------------------------------------------------- CPU */

static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/* AVX2+FMA and the AVX-512 subset OpenBLAS's SkylakeX kernels use (F, CD, BW, DQ,
 * VL), each only when the OS saves the matching register state (XCR0). */
static void cpu_features(int *avx2_fma, int *avx512) {
    unsigned a, b, c, d;
    *avx2_fma = *avx512 = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return;
    unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return; /* SSE and AVX state */
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    *avx2_fma = avx2 && fma;
    int f = (b >> 16) & 1, dq = (b >> 17) & 1, cd = (b >> 28) & 1, bw = (b >> 30) & 1,
        vl = (b >> 31) & 1;
    *avx512 = *avx2_fma && f && dq && cd && bw && vl && (xcr0 & 0xe0) == 0xe0;
}

static int core_in(const char *core, const char *const *list) {
    for (; *list; list++)
        if (!strcasecmp(core, *list)) return 1;
    return 0;
}

/* The kernel family to ask for, or NULL when OpenBLAS's own choice is already one
 * that uses the CPU's widest vectors. */
static const char *better_core(const char *current) {
    static const char *const avx512_cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
    static const char *const avx2_cores[] = {"Haswell",        "Zen", "SkylakeX", "Cooperlake",
                                             "SapphireRapids", NULL};
    int avx2_fma, avx512;
    cpu_features(&avx2_fma, &avx512);
    if (avx512 && !core_in(current, avx512_cores)) return "SkylakeX";
    if (!avx512 && avx2_fma && !core_in(current, avx2_cores)) return "Haswell";
    return NULL;
}

void nn_blas_reexec(int argc, char **argv) {
    (void)argc;
    const char *mark = getenv(REEXEC_VAR);
    if (mark && *mark) return; /* already re-executed, or turned off with "0" */
    const char *user = getenv("OPENBLAS_CORETYPE");
    if (user && *user) return;
    const char *current = openblas_get_corename();
    const char *want = better_core(current ? current : "");
    if (!want) return;
    char detected[32];
    snprintf(detected, sizeof detected, "%s", current ? current : "unknown");
    if (setenv(REEXEC_VAR, "1", 1) || setenv(DETECTED_VAR, detected, 1) ||
        setenv("OPENBLAS_CORETYPE", want, 1))
        return;
    fflush(NULL);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the kernels we have, and say so later. */
    unsetenv("OPENBLAS_CORETYPE");
    setenv(REEXEC_VAR, "failed", 1);
}

void nn_blas_info(NnBlasInfo *out) {
    memset(out, 0, sizeof *out);
    cpu_features(&out->avx2_fma, &out->avx512);
    const char *core = openblas_get_corename();
    snprintf(out->core, sizeof out->core, "%s", core ? core : "unknown");
    const char *cfg = openblas_get_config();
    snprintf(out->config, sizeof out->config, "%s", cfg ? cfg : "");
    const char *mark = getenv(REEXEC_VAR);
    const char *det = getenv(DETECTED_VAR);
    if (mark && !strcmp(mark, "1") && det) {
        snprintf(out->detected, sizeof out->detected, "%s", det);
        snprintf(out->forced_by, sizeof out->forced_by, "re-exec with OPENBLAS_CORETYPE");
    } else if (getenv("OPENBLAS_CORETYPE") && *getenv("OPENBLAS_CORETYPE")) {
        snprintf(out->detected, sizeof out->detected, "?");
        snprintf(out->forced_by, sizeof out->forced_by, "OPENBLAS_CORETYPE from the user");
    } else {
        snprintf(out->detected, sizeof out->detected, "%s", out->core);
        if (mark && !strcmp(mark, "failed"))
            snprintf(out->forced_by, sizeof out->forced_by, "re-exec failed");
    }
}


/* ---------------------------------------------------------------- threads */

static WmPool *g_pool;
static pthread_t g_owner;
static int g_threads = 1;

void nn_runtime_init(int threads) {
    if (threads <= 0) threads = wm_cpu_count();
    if (threads < 1) threads = 1;
    if (g_pool) wm_pool_destroy(g_pool);
    nn_dnnl_reset(); /* its streams and buffers are per pool thread */
    g_pool = threads > 1 ? wm_pool_create(threads) : NULL;
    g_owner = pthread_self();
    g_threads = threads;
    /* the engine splits products over its own pool; OpenBLAS runs each piece on one
     * thread (so no OpenBLAS worker spins while the pool runs other ops) */
    openblas_set_num_threads(1);
    NnBlasInfo bi;
    nn_blas_info(&bi);
    const char *better = better_core(bi.core);
    wm_info("nn: OpenBLAS core %s%s%s%s, %d thread%s; CPU %s", bi.core, bi.forced_by[0] ? " (" : "",
            bi.forced_by, bi.forced_by[0] ? ")" : "", threads, threads == 1 ? "" : "s",
            bi.avx512     ? "has AVX-512"
            : bi.avx2_fma ? "has AVX2+FMA"
                          : "has neither AVX2 nor AVX-512");
    if (bi.forced_by[0] && strcmp(bi.detected, "?"))
        wm_info("nn: OpenBLAS had chosen %s by itself", bi.detected);
#ifndef NN_REAL_DOUBLE
    const NnGemmPath path = nn_get_gemm_path(); /* reads SEQJEPA_GEMM once, here */
    const int own = path != NN_GEMM_BLAS && nn_gemm_own_ok(0);
    if (own)
        wm_info("nn: products on the engine's own AVX-512 GEMM%s%s%s", better ? " (OpenBLAS runs " : "",
                better ? bi.core : "", better ? " kernels)" : "");
    if (nn_get_dnnl_route() != NN_DNNL_OFF) /* reads SEQJEPA_DNNL once, here */
        wm_info("nn: convolution passes on oneDNN: %s (SEQJEPA_DNNL=0 turns them off)",
                nn_get_dnnl_route() == NN_DNNL_ALL ? "all of them" : "where measured faster");
    if (better && !own)
#else
    if (better)
#endif
        wm_warn("nn: OpenBLAS uses %s kernels although the CPU runs %s ones; "
                "set OPENBLAS_CORETYPE=%s for faster matrix products",
                bi.core, better, better);
}

void nn_runtime_shutdown(void) {
    if (g_pool) wm_pool_destroy(g_pool);
    nn_dnnl_reset();
    g_pool = NULL;
    g_threads = 1;
}

int nn_runtime_threads(void) {
    return g_threads;
}

int nn_par_threads(void) {
    return g_pool && pthread_equal(pthread_self(), g_owner) ? g_threads : 1;
}

void nn_par_for(int64_t n, WmPoolFn fn, void *ctx) {
    if (n <= 0) return;
    if (g_pool && pthread_equal(pthread_self(), g_owner))
        wm_pool_for(g_pool, n, fn, ctx);
    else
        fn(ctx, 0, n, 0);
}

/* ---------------------------------------------------------------- GEMM */

#ifndef NN_REAL_DOUBLE
/* Whether a float product of this shape runs on the engine's own GEMM. AUTO: only on
 * an AVX-512 CPU whose OpenBLAS kernels are not AVX-512 ones (decided once: the core
 * does not change while the program runs). */
static int use_own_gemm(int ta, int tb, int m, int n, int k) {
    (void)ta, (void)tb;
    switch (nn_get_gemm_path()) {
    case NN_GEMM_BLAS: return 0;
    case NN_GEMM_OWN: return nn_gemm_own_ok(0);
    default: break;
    }
    if (!nn_gemm_own_ok(0) || n < 16) return 0; /* narrow C wastes most of a 48-wide tile */
    /* Measured once per shape, one thread, alternately (`seqjepa bench ops --gemm`, AMD
     * EPYC with AVX-512): against OpenBLAS's Haswell kernels the own GEMM is 1.7-1.9x
     * faster on every layer shape with n >= 16; against its SkylakeX kernels it is
     * even (0.95-1.08x) on the large ones alone and ahead on shallow or short products
     * (k 27: 1.4x; m 32-96: 1.1-1.25x). In the training step, where products share the
     * caches with the rest of the pass, sending the large shapes to OpenBLAS's AVX-512
     * kernels made the whole step slower (reference configuration 17.3 against 20.2
     * sequences/s with every shape on the own GEMM), so every shape with n >= 16 runs on
     * the own GEMM whichever kernels OpenBLAS picked. */
    return 1;
}
#endif

const char *nn_gemm_serial_path(int m, int n, int k) {
#ifndef NN_REAL_DOUBLE
    if (nn_get_precision() == NN_PREC_BF16) return "own bf16";
    if (use_own_gemm(0, 0, m, n, k)) return "own fp32";
#else
    (void)m, (void)n, (void)k;
#endif
    return "OpenBLAS";
}

void nn_gemm_serial(int ta, int tb, int m, int n, int k, NnReal alpha, const NnReal *a, int lda,
                    const NnReal *b, int ldb, NnReal beta, NnReal *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                c[(size_t)i * ldc + j] *= beta;
        return;
    }
#ifndef NN_REAL_DOUBLE
    const int bf16 = nn_get_precision() == NN_PREC_BF16;
    const int own = bf16 || use_own_gemm(ta, tb, m, n, k);
    const double t0 = nn_paths_recording() ? wm_thread_cpu_now() : 0;
    if (own)
        nn_gemm_own(bf16, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                    k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (nn_paths_recording()) {
        char key[160];
        snprintf(key, sizeof key, "gemm %c%c m %4d n %4d k %4d: %s", ta ? 'T' : 'N', tb ? 'T' : 'N', m,
                 n, k, bf16 ? "own bf16" : own ? "own fp32" : "OpenBLAS fp32");
        nn_path_add(key, wm_thread_cpu_now() - t0, 0, 2.0 * m * n * k);
    }
#endif
#ifdef NN_REAL_DOUBLE
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

typedef struct {
    int ta, tb, m, n, k, lda, ldb, ldc, by_cols;
    NnReal alpha, beta;
    const NnReal *a, *b;
    NnReal *c;
} GemmTask;

/* Blocks of 16 rows or columns of C, each computed by one thread. */
static void gemm_blocks(void *ctx, int64_t j0, int64_t j1, int worker) {
    (void)worker;
    const GemmTask *g = ctx;
    int lo = (int)j0 * 16, hi = (int)j1 * 16;
    if (g->by_cols) {
        if (hi > g->n) hi = g->n;
        const NnReal *b = g->tb ? g->b + (size_t)lo * g->ldb : g->b + lo;
        nn_gemm_serial(g->ta, g->tb, g->m, hi - lo, g->k, g->alpha, g->a, g->lda, b, g->ldb,
                       g->beta, g->c + lo, g->ldc);
    } else {
        if (hi > g->m) hi = g->m;
        const NnReal *a = g->ta ? g->a + lo : g->a + (size_t)lo * g->lda;
        nn_gemm_serial(g->ta, g->tb, hi - lo, g->n, g->k, g->alpha, a, g->lda, g->b, g->ldb,
                       g->beta, g->c + (size_t)lo * g->ldc, g->ldc);
    }
}

/* Large products split C into row or column blocks over the pool, each block one
 * single-threaded OpenBLAS call: every element is computed by one thread in one
 * order, so results do not depend on timing. */
void nn_gemm(int ta, int tb, int m, int n, int k, NnReal alpha, const NnReal *a, int lda,
             const NnReal *b, int ldb, NnReal beta, NnReal *c, int ldc) {
    if (nn_par_threads() == 1 || (double)m * n * k < 1e6 || (m < 32 && n < 32)) {
        nn_gemm_serial(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    GemmTask g = {ta, tb, m, n, k, lda, ldb, ldc, n >= m, alpha, beta, a, b, c};
    nn_par_for(((g.by_cols ? n : m) + 15) / 16, gemm_blocks, &g);
}

const char *nn_op_name(NnOpKind k) {
    static const char *const names[NN_OP_COUNT_] = {
        "conv", "batchnorm", "pool", "linear", "attention", "layernorm", "elementwise"};
    return k >= 0 && k < NN_OP_COUNT_ ? names[k] : "?";
}

/* The reference product: double sums in the textbook order (tests compare the fast paths with it). */
void nn_gemm_naive(int ta, int tb, int m, int n, int k, NnReal alpha, const NnReal *a, int lda,
                   const NnReal *b, int ldb, NnReal beta, NnReal *c, int ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int p = 0; p < k; p++) {
                double x = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                double y = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                acc += x * y;
            }
            NnReal *cij = &c[(size_t)i * ldc + j];
            *cij = (NnReal)(alpha * acc + (beta == 0 ? 0.0 : beta * (double)*cij));
        }
}
