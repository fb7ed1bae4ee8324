/* Shared internals of the nn_*.c files (not part of the public API): the parallel
 * loop over the engine's pool and the op timer used by the blocks. */
#ifndef NN_IMPL_H
#define NN_IMPL_H

#include <stdint.h>

#include "core/clock.h"
#include "core/pool.h"
#include "nn/nn.h"

/* fn over [0, n) in fixed contiguous chunks on the engine pool (inline when the
 * caller is not the pool's owner, or there is no pool). */
void nn_par_for(int64_t n, WmPoolFn fn, void *ctx);
/* Threads a parallel loop will use when called from this thread (1 off the owner). */
int nn_par_threads(void);
/* nn_gemm on the calling thread only (OpenBLAS itself runs single-threaded), for use
 * inside parallel loops. */
void nn_gemm_serial(int ta, int tb, int m, int n, int k, NnReal alpha, const NnReal *a, int lda,
                    const NnReal *b, int ldb, NnReal beta, NnReal *c, int ldc);
/* The blocks' backward passes write fresh gradient buffers: these variants overwrite
 * din and dres (and, for conv, din) instead of adding, which saves clearing them. */
void nn_bn2d_backward_assign(NnReal *din, NnReal *dres, NnReal *dgamma, NnReal *dbeta,
                             const NnReal *dout, const NnReal *out, const NnReal *in,
                             const NnReal *mean, const NnReal *rstd, const NnReal *gamma,
                             const NnBatchNorm *d);
/* As nn_bn2d_backward_assign for a training forward with ReLU and no residual whose
 * output was not kept: the ReLU mask is rebuilt from in, the saved statistics, gamma
 * and beta (the forward's own expression, so the same mask bit for bit). */
void nn_bn2d_backward_rebuild(NnReal *din, NnReal *dgamma, NnReal *dbeta, const NnReal *dout,
                              const NnReal *in, const NnReal *mean, const NnReal *rstd,
                              const NnReal *gamma, const NnReal *beta, const NnBatchNorm *d);
/* din may be the same buffer as in: the weight gradient is complete before din is
 * written, and din's pass does not read in. */
void nn_conv2d_backward_assign(NnReal *din, NnReal *dw, NnReal *dbias, const NnReal *dout,
                               const NnReal *in, const NnReal *w, const NnConv2d *d,
                               NnReal *scratch);
/* Direct stride-1 convolution (nn_direct.c): out (+)= conv(in, K), K = w, or with
 * transpose_flip the flipped transposed kernel of the convolution whose input
 * gradient d describes. nn_direct_ok says whether d suits it. */
int nn_direct_ok(const NnConv2d *d);
/* Whether this CPU runs the direct kernels' 512-bit vectors as such (AVX-512F): on
 * narrower vector units they are split through memory and run many times slower than
 * im2col + GEMM (measured: docs/benchmarks.md), so the convolutions route around them. */
int nn_direct_native(void);
size_t nn_direct_scratch(const NnConv2d *d, int threads);
void nn_direct_conv(NnReal *out, int accumulate, const NnReal *in, const NnReal *w,
                    int transpose_flip, const NnConv2d *d, NnReal *scratch);
/* dw += the weight gradient of the convolution d, directly. */
void nn_direct_weight_grad(NnReal *dw, const NnReal *dout, const NnReal *in, const NnConv2d *d,
                           NnReal *scratch);
/* Convolution passes on oneDNN (nn_dnnl.c). FWD: out = conv(a = input, b = weights);
 * DGRAD: out (+)= the input gradient from a = dout, b = weights (accumulate adds);
 * WGRAD: the weight gradient of a = input, b = dout, one partial per pool thread at
 * out + thread * part_stride (the caller sums them in thread order). Returns the
 * number of threads that ran (partials), or -1, with nothing written, when oneDNN
 * cannot create the primitives (the caller then takes its own route). */
typedef enum { NN_DNNL_FWD = 0, NN_DNNL_DGRAD, NN_DNNL_WGRAD } NnDnnlPass;
/* The algorithm: direct sums, or Winograd F(4x4, 3x3) (fp32 3x3 stride-1 layers;
 * 2.25 to 4 times fewer multiplications, other rounding). */
typedef enum { NN_DNNL_DIRECT = 0, NN_DNNL_WINOGRAD } NnDnnlAlg;
int nn_dnnl_conv(NnDnnlPass pass, NnDnnlAlg alg, const NnConv2d *d, NnReal *out, int accumulate, const NnReal *a,
                 const NnReal *b, size_t part_stride);
/* The oneDNN implementation of a pass that ran (e.g. "jit:avx512_core"), for notes. */
const char *nn_dnnl_impl(NnDnnlPass pass, NnDnnlAlg alg, const NnConv2d *d);
/* Drops the cached primitives, streams and buffers (thread count changes, shutdown). */
void nn_dnnl_reset(void);
/* For tests: the activation bytes per chunk of images (0: the default, 8 MiB); 1 makes
 * every image a chunk of its own. */
void nn_dnnl_set_chunk_bytes(size_t bytes);
/* For tests: the output rows per job of a lowered (im2col) pass over d on that many
 * threads, or with images != 0 the images per job of the col2im scatter. */
int nn_conv2d_job_rows(const NnConv2d *d, int threads, int images);
/* How many chunks of images a pass over d runs in on that many threads (0 without oneDNN). */
int nn_dnnl_chunks(const NnConv2d *d, int threads);
/* The engine's own GEMM (nn_gemm.c), row-major like nn_gemm, on the calling thread;
 * bf16 rounds the products' inputs to bfloat16. Only where nn_gemm_own_ok. */
void nn_gemm_own(int bf16, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
/* "own fp32", "own bf16" or "OpenBLAS": what nn_gemm_serial runs now for a product
 * of that shape (for notes). */
const char *nn_gemm_serial_path(int m, int n, int k);
/* Path records (nn_paths.c), only while nn_paths_record(1) is on. */
int nn_paths_recording(void);
void nn_path_add(const char *key, double seconds, double wall, double flop);
void nn_path_notef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Chunks below this many elements of work are not worth waking threads for. */
#define NN_PAR_MIN 16384

/* nn_par_for over n items when the whole work is at least NN_PAR_MIN elements; on the
 * calling thread below that. */
static inline void nn_par_for_work(size_t work, int64_t n, WmPoolFn fn, void *ctx) {
    if (work < NN_PAR_MIN)
        fn(ctx, 0, n, 0);
    else
        nn_par_for(n, fn, ctx);
}


/* Hot loops get AVX-512 and AVX2 clones picked at load time (plain SSE2 otherwise).
 * ISO C mode keeps floating-point contraction off, so every clone computes the same
 * bits: results do not depend on which one runs. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define NN_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NN_HOT
#endif

/* Formats a tensor or module name into out[NN_NAME_MAX]; a name that does not fit
 * is a bug. */
void nn_namef(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Adds the time since *t0 to prof (forward or backward bucket of kind) and resets *t0. */
static inline void nn_prof_tick(NnProfile *prof, int bwd, NnOpKind kind, double flop, double *t0) {
    if (!prof) return;
    double t = wm_now();
    if (bwd) {
        prof->bwd_s[kind] += t - *t0;
        prof->bwd_flop[kind] += flop;
    } else {
        prof->fwd_s[kind] += t - *t0;
        prof->fwd_flop[kind] += flop;
    }
    *t0 = t;
}

/* A setting read from the environment: the value of the entry of choices (n of them)
 * whose name matches var's value without regard to case, dflt when var is unset, and
 * dflt with a warning that names the variable, the value and the choices when it
 * matches none. */
typedef struct {
    const char *name;
    int value;
} NnEnvChoice;
int nn_env_choice(const char *var, const NnEnvChoice *choices, int n, int dflt);

#endif
