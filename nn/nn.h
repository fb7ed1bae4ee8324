/* The neural-network engine: forward/backward op pairs on OpenBLAS, a parameter
 * registry with PyTorch names, AdamW, EMA and schedules, and the ResNet, transformer
 * and MLP blocks built from them. model/README.md describes the API in full.
 *
 * Conventions. Every op is a pair
 *     nn_X_forward(out, cache..., in, weights..., dims)
 *     nn_X_backward(din, dweights..., dout, cache..., in, weights..., dims)
 * taking pointers and sizes only. Forward saves exactly what backward needs into the
 * caller's cache buffers; backward ADDS into every gradient buffer (din, dw, ...), and
 * a NULL gradient pointer skips that gradient. Nothing allocates inside forward or
 * backward: scratch comes from the caller, sized by the matching *_scratch function.
 *
 * Layouts. Weights are PyTorch's (conv [out,in,kh,kw], linear [out,in], attention
 * in_proj_weight [3E,E]) so checkpoints load into PyTorch by name. Image activations
 * are channel-major across the batch, "CNHW" = [C][N][H][W]: a convolution is then one
 * GEMM over the whole batch (out[Cout, N*H*W] = W[Cout, Cin*kh*kw] x cols) and batch
 * norm sees each channel as one contiguous run. Token activations are row-major
 * [rows, features].
 *
 * Precision. NnReal is float, or double when compiled with -DNN_REAL_DOUBLE (the
 * finite-difference tests build the nn_*.c sources a second time that way).
 *
 * Threads. Everything, products included, splits over the engine's pool (core/pool.h)
 * in fixed chunks (each product block is one single-threaded OpenBLAS call or the
 * engine's own GEMM, see nn_set_gemm_path), so results are bitwise the same from run to run
 * for a fixed thread count. The pool belongs to the thread that called
 * nn_runtime_init; ops called from any other thread run single-threaded. */
#ifndef NN_H
#define NN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/rng.h"

#ifdef NN_REAL_DOUBLE
typedef double NnReal;
#else
typedef float NnReal;
#endif

/* ---------------------------------------------------------------- runtime */

/* Call first in main(), before anything else touches OpenBLAS. OpenBLAS picks its
 * kernels when the library loads and reads OPENBLAS_CORETYPE only then, so setting it
 * later does nothing. When the CPU has AVX-512 (or AVX2+FMA) and OpenBLAS chose a
 * slower kernel family, this re-executes the program once (/proc/self/exe, same argv)
 * with OPENBLAS_CORETYPE set. It never loops (a marker variable is set before exec),
 * respects an OPENBLAS_CORETYPE the user set, and returns normally when nothing needs
 * doing or exec fails. SEQJEPA_BLAS_REEXEC=0 in the environment turns it off. */
void nn_blas_reexec(int argc, char **argv);

/* What the CPU and OpenBLAS report, for logs and benchmarks. */
typedef struct {
    int avx2_fma, avx512; /* CPU and OS support (cpuid + xgetbv) */
    char core[32];        /* openblas_get_corename() now */
    char detected[32];    /* what OpenBLAS chose by itself, before any re-exec */
    char forced_by[64];   /* "" or how the core was chosen ("re-exec", "user") */
    char config[128];     /* openblas_get_config() */
} NnBlasInfo;
void nn_blas_info(NnBlasInfo *out);

/* Sets OpenBLAS threads and creates the engine's pool (threads <= 0: one per core),
 * and logs which GEMM kernels are in use. May be called again to change the count. */
void nn_runtime_init(int threads);
void nn_runtime_shutdown(void);
int nn_runtime_threads(void);

/* Row-major C = alpha * op(A) * op(B) + beta * C (op = transpose when ta / tb).
 * Single-threaded cblas_sgemm or the engine's own GEMM per block of C (float, see
 * nn_set_gemm_path; bf16 products under NN_PREC_BF16), cblas_dgemm (double).
 * nn_gemm_naive is the reference. */
void nn_gemm(int ta, int tb, int m, int n, int k, NnReal alpha, const NnReal *a, int lda,
             const NnReal *b, int ldb, NnReal beta, NnReal *c, int ldc);
void nn_gemm_naive(int ta, int tb, int m, int n, int k, NnReal alpha, const NnReal *a, int lda,
                   const NnReal *b, int ldb, NnReal beta, NnReal *c, int ldc);

/* Which code runs the float products. OpenBLAS (the default elsewhere and the
 * reference), or the engine's own AVX-512 GEMM (model/nn_gemm.c), which does not depend
 * on the kernels OpenBLAS picked. AUTO (the default) takes the own GEMM on AVX-512
 * CPUs where OpenBLAS runs narrower kernels (e.g. OPENBLAS_CORETYPE=Haswell there)
 * and OpenBLAS elsewhere; SEQJEPA_GEMM=blas|own|auto in the environment sets it at
 * start (own falls back to auto without AVX-512). Process-wide. */
typedef enum { NN_GEMM_AUTO = 0, NN_GEMM_BLAS, NN_GEMM_OWN } NnGemmPath;
/* Whether this CPU runs the own GEMM: AVX-512F (bf16: and AVX512_BF16). */
int nn_gemm_own_ok(int bf16);
void nn_set_gemm_path(NnGemmPath p);
NnGemmPath nn_get_gemm_path(void);
const char *nn_gemm_path_name(NnGemmPath p);

/* Whether convolution passes may run on oneDNN (libdnnl) where it is faster (see
 * use_dnnl in nn_conv.c; fp32 and bf16, each with its own rule; each pool thread a
 * single-threaded primitive on a fixed slice of the batch, so results stay bitwise
 * repeatable for a fixed thread count). AUTO (the default): the passes the measured
 * rules name; ALL: every
 * convolution pass (for measuring); OFF: the engine's own routes only.
 * SEQJEPA_DNNL=0|off|all|auto in the environment sets it at start. Process-wide;
 * nn_dnnl_available is 0 in builds without oneDNN, where the route stays off. */
typedef enum { NN_DNNL_OFF = 0, NN_DNNL_AUTO, NN_DNNL_ALL } NnDnnlRoute;
int nn_dnnl_available(void);
void nn_set_dnnl_route(NnDnnlRoute r);
NnDnnlRoute nn_get_dnnl_route(void);
const char *nn_dnnl_route_name(NnDnnlRoute r);
/* Whether the 3x3 stride-1 fp32 passes that the rule names run Winograd F(4x4, 3x3) on
 * oneDNN instead of direct sums (use_dnnl in nn_conv.c; on by default where oneDNN is
 * built; SEQJEPA_WINOGRAD=0|1 in the environment sets it at start). Process-wide. */
void nn_set_winograd(int on);
int nn_get_winograd(void);

/* Precision of the products in convolutions and linear layers. BF16: inputs rounded
 * to bfloat16 (nearest even) as they are packed, products summed in float, outputs,
 * weights and everything else float (mixed precision, as PyTorch's bf16 autocast
 * does for these ops). Needs AVX512_BF16: on other CPUs nn_set_precision returns an
 * error with a sentence in err and leaves the precision as it was. Process-wide. */
typedef enum { NN_PREC_FP32 = 0, NN_PREC_BF16 } NnPrecision;
int nn_set_precision(NnPrecision p, char *err, size_t errsz);
NnPrecision nn_get_precision(void);
/* x rounded to the nearest bfloat16 (ties to even), as the bf16 products see it. */
float nn_bf16_round(float x);

/* For benchmarks: while recording, each convolution notes which route its forward and
 * backward took with the process's CPU seconds, and each GEMM its shape, path and
 * the CPU seconds of the thread that ran it;
 * nn_paths_print lists them (sorted by name). Starting a record clears the last. */
void nn_paths_record(int on);
void nn_paths_print(FILE *f);

/* ---------------------------------------------------------------- ops */

/* Linear: out[n, fo] = in[n, fi] W[fo, fi]^T + b[fo]; b may be NULL (no bias). */
void nn_linear_forward(NnReal *out, const NnReal *in, const NnReal *w, const NnReal *b, int n,
                       int fi, int fo);
void nn_linear_backward(NnReal *din, NnReal *dw, NnReal *db, const NnReal *dout, const NnReal *in,
                        const NnReal *w, int n, int fi, int fo);
/* The same with triple loops, the reference for the BLAS path. */
void nn_linear_forward_naive(NnReal *out, const NnReal *in, const NnReal *w, const NnReal *b, int n,
                             int fi, int fo);
void nn_linear_backward_naive(NnReal *din, NnReal *dw, NnReal *db, const NnReal *dout,
                              const NnReal *in, const NnReal *w, int n, int fi, int fo);

/* Conv2d on CNHW: in [ci][n][h][w], w [co][ci][kh][kw], bias [co] or NULL,
 * out [co][n][oh][ow]. Lowered to GEMM over im2col chunks of images; scratch holds
 * nn_conv2d_scratch(d) reals. */
typedef struct {
    int n, ci, h, w; /* input */
    int co, kh, kw, stride, pad;
    int oh, ow; /* output, set by nn_conv2d_dims */
} NnConv2d;
NnConv2d nn_conv2d_dims(int n, int ci, int h, int w, int co, int k, int stride, int pad);
size_t nn_conv2d_scratch(const NnConv2d *d);
void nn_conv2d_forward(NnReal *out, const NnReal *in, const NnReal *w, const NnReal *bias,
                       const NnConv2d *d, NnReal *scratch);
void nn_conv2d_backward(NnReal *din, NnReal *dw, NnReal *dbias, const NnReal *dout,
                        const NnReal *in, const NnReal *w, const NnConv2d *d, NnReal *scratch);
/* Direct seven-loop convolution, the reference for the GEMM path. */
void nn_conv2d_forward_naive(NnReal *out, const NnReal *in, const NnReal *w, const NnReal *bias,
                             const NnConv2d *d);
void nn_conv2d_backward_naive(NnReal *din, NnReal *dw, NnReal *dbias, const NnReal *dout,
                              const NnReal *in, const NnReal *w, const NnConv2d *d);
/* FLOPs of one forward (2 per multiply-add); backward costs twice that with din. */
double nn_conv2d_flops(const NnConv2d *d);

/* Batch norm. 2d: in/out CNHW, channel j is the contiguous run [j*count, (j+1)*count)
 * with count = n*h*w. 1d: in/out [count, c] row-major (count = batch).
 * Training: normalises by batch statistics (biased variance), saves mean and rstd
 * [c], and when run_mean/run_var are given updates them as PyTorch does:
 * run = (1 - momentum) * run + momentum * stat, with the unbiased variance.
 * Eval: uses run_mean/run_var (saved as mean/rstd for backward).
 * gamma/beta NULL: affine=False. Fused extras: residual (added after the affine, may
 * be NULL) and relu (applied last): out = relu(bn(in) + residual). */
typedef struct {
    int c, count;
    float momentum, eps; /* PyTorch: 0.1, 1e-5 */
    int train, relu;
} NnBatchNorm;
void nn_batchnorm2d_forward(NnReal *out, NnReal *mean, NnReal *rstd, const NnReal *in,
                            const NnReal *residual, const NnReal *gamma, const NnReal *beta,
                            NnReal *run_mean, NnReal *run_var, const NnBatchNorm *d);
/* out = relu(bn(in)) with the mean and rstd a forward pass saved (no residual, no
 * running statistics): rebuilds that forward's output bit for bit, so a backward pass can
 * recompute an activation instead of keeping it. */
void nn_batchnorm2d_apply(NnReal *out, const NnReal *in, const NnReal *mean, const NnReal *rstd,
                          const NnReal *gamma, const NnReal *beta, const NnBatchNorm *d);
/* out is the forward output (for the ReLU mask; NULL when !relu). dres gets the
 * residual's gradient (NULL: none). */
void nn_batchnorm2d_backward(NnReal *din, NnReal *dres, NnReal *dgamma, NnReal *dbeta,
                             const NnReal *dout, const NnReal *out, const NnReal *in,
                             const NnReal *mean, const NnReal *rstd, const NnReal *gamma,
                             const NnBatchNorm *d);
void nn_batchnorm1d_forward(NnReal *out, NnReal *mean, NnReal *rstd, const NnReal *in,
                            const NnReal *residual, const NnReal *gamma, const NnReal *beta,
                            NnReal *run_mean, NnReal *run_var, const NnBatchNorm *d);
void nn_batchnorm1d_backward(NnReal *din, NnReal *dres, NnReal *dgamma, NnReal *dbeta,
                             const NnReal *dout, const NnReal *out, const NnReal *in,
                             const NnReal *mean, const NnReal *rstd, const NnReal *gamma,
                             const NnBatchNorm *d);

/* LayerNorm over the last dim: in/out [n, f], gamma/beta [f] (NULL: no affine),
 * saves mean, rstd [n]. */
void nn_layernorm_forward(NnReal *out, NnReal *mean, NnReal *rstd, const NnReal *in,
                          const NnReal *gamma, const NnReal *beta, int n, int f, float eps);
void nn_layernorm_backward(NnReal *din, NnReal *dgamma, NnReal *dbeta, const NnReal *dout,
                           const NnReal *in, const NnReal *mean, const NnReal *rstd,
                           const NnReal *gamma, int n, int f);

/* ReLU (out may equal in); backward masks with the forward output. */
void nn_relu_forward(NnReal *out, const NnReal *in, size_t n);
void nn_relu_backward(NnReal *din, const NnReal *dout, const NnReal *out, size_t n);

/* Residual add: out = a + b. */
void nn_add_forward(NnReal *out, const NnReal *a, const NnReal *b, size_t n);
void nn_add_backward(NnReal *da, NnReal *db, const NnReal *dout, size_t n);

/* Max pool on CNHW, window k, stride, padding (padded cells never win). Saves the
 * flat input index of each maximum (the first one on ties, as PyTorch). */
typedef struct {
    int n, c, h, w, k, stride, pad;
    int oh, ow; /* set by nn_maxpool2d_dims */
} NnPool2d;
NnPool2d nn_maxpool2d_dims(int n, int c, int h, int w, int k, int stride, int pad);
void nn_maxpool2d_forward(NnReal *out, int32_t *argmax, const NnReal *in, const NnPool2d *d);
void nn_maxpool2d_backward(NnReal *din, const NnReal *dout, const int32_t *argmax,
                           const NnPool2d *d);

/* Global average pool: in CNHW [c][n][hw] -> out [n][c] (row-major, for linear). */
void nn_avgpool_forward(NnReal *out, const NnReal *in, int n, int c, int hw);
void nn_avgpool_backward(NnReal *din, const NnReal *dout, int n, int c, int hw);
/* Adaptive average pool of CNHW [c][n][h][w] onto a g x g grid, out [n][c*g*g] (cell
 * (i, j) covers rows floor(i*h/g) .. ceil((i+1)*h/g)-1, as PyTorch); needs h, w >= g.
 * The backward accumulates into din. */
void nn_gridpool_forward(NnReal *out, const NnReal *in, int n, int c, int h, int w, int g);
void nn_gridpool_backward(NnReal *din, const NnReal *dout, int n, int c, int h, int w, int g);

/* Image batch [n][h][w][c] (uint8, 0..255) -> CNHW reals: (x/255 - mean[c]) / std[c]. */
void nn_images_to_cnhw(NnReal *out, const uint8_t *in, int n, int h, int w, int c,
                       const float *mean, const float *std);

/* Inverted dropout with probability p: out = in * mask / (1 - p). mask [n] (bytes)
 * is drawn from rng in order, so a seeded rng gives the same mask whatever the thread
 * count. p == 0 (or eval: pass p = 0) copies and leaves mask untouched. */
void nn_dropout_forward(NnReal *out, uint8_t *mask, const NnReal *in, size_t n, float p,
                        WmRng *rng);
void nn_dropout_backward(NnReal *din, const NnReal *dout, const uint8_t *mask, size_t n, float p);

/* Concatenation along features: out[n, sum f[i]] = [in_0 | in_1 | ...]; an input
 * may be NULL (zeros). Backward adds each slice into din[i] (NULL skips). */
void nn_concat_forward(NnReal *out, const NnReal *const *in, const int *f, int k, int n);
void nn_concat_backward(NnReal *const *din, const NnReal *dout, const int *f, int k, int n);
/* Slice out[n, f] = in[n, off : off + f] of in[n, fi]. */
void nn_slice_forward(NnReal *out, const NnReal *in, int n, int fi, int off, int f);
void nn_slice_backward(NnReal *din, const NnReal *dout, int n, int fi, int off, int f);

/* Losses return the mean over the batch; backward scales by dloss (1 for a plain
 * loss). Cosine loss: mean(1 - cos(a_i, t_i)) over rows of [n, d], with PyTorch's
 * cosine_similarity (eps 1e-8 on the norm product); cache [3n]. dt may be NULL. */
NnReal nn_cosine_loss_forward(NnReal *cache, const NnReal *a, const NnReal *t, int n, int d);
void nn_cosine_loss_backward(NnReal *da, NnReal *dt, NnReal dloss, const NnReal *a, const NnReal *t,
                             const NnReal *cache, int n, int d);
/* Variance-covariance regulariser of VICReg (Bardes, Ponce, LeCun 2022) on the rows
 * of z [n, d], n >= 2: wv * (1/d) sum_j max(0, 1 - sqrt(var_j + 1e-4)) + wc * (1/d)
 * sum_{i != j} C_ij^2, with var and the covariance C over rows (divisor n - 1). It
 * keeps each dimension's spread at 1 or more and its dimensions uncorrelated, against
 * the collapse of an encoder onto a few directions. ws [d*d + 2d] is the cache;
 * backward adds dloss times the gradient into dz. */
NnReal nn_vc_loss_forward(NnReal *ws, const NnReal *z, int n, int d, NnReal wv, NnReal wc);
void nn_vc_loss_backward(NnReal *dz, NnReal dloss, const NnReal *z, const NnReal *ws, int n, int d, NnReal wv,
                         NnReal wc);
/* Softmax cross-entropy of logits [n, k] against labels [n] in [0, k); probs [n, k]
 * is the cache. */
NnReal nn_xent_forward(NnReal *probs, const NnReal *logits, const int32_t *labels, int n, int k);
void nn_xent_backward(NnReal *dlogits, NnReal dloss, const NnReal *probs, const int32_t *labels,
                      int n, int k);
/* Mean squared error over all count elements. */
NnReal nn_mse_forward(const NnReal *pred, const NnReal *target, size_t count);
void nn_mse_backward(NnReal *dpred, NnReal dloss, const NnReal *pred, const NnReal *target,
                     size_t count);

/* Multi-head self-attention as torch.nn.MultiheadAttention (batch_first): in [b*t, e],
 * in_proj_weight [3e, e], in_proj_bias [3e], out_proj weight [e, e], bias [e];
 * out [b*t, e]. Dropout p on the attention probabilities (0 in eval). */
typedef struct {
    int b, t, e, heads;
    float dropout;
} NnMha;
typedef struct {
    NnReal *qkv;   /* [b*t, 3e] projected q | k | v */
    NnReal *att;   /* [b, heads, t, t] softmax probabilities (before dropout) */
    uint8_t *mask; /* [b, heads, t, t] dropout mask (only when dropout > 0) */
    NnReal *ctx;   /* [b*t, e] attention output before out_proj */
} NnMhaCache;
typedef struct {
    const NnReal *in_w, *in_b, *out_w, *out_b;
} NnMhaWeights;
typedef struct {
    NnReal *in_w, *in_b, *out_w, *out_b; /* NULL entries are skipped */
} NnMhaGrads;
size_t nn_mha_scratch(const NnMha *d);
void nn_mha_forward(NnReal *out, const NnMhaCache *c, const NnReal *in, const NnMhaWeights *w,
                    const NnMha *d, WmRng *rng);
void nn_mha_backward(NnReal *din, const NnMhaGrads *g, const NnReal *dout, const NnMhaCache *c,
                     const NnReal *in, const NnMhaWeights *w, const NnMha *d, NnReal *scratch);

/* ---------------------------------------------------------------- parameters */

/* A registry of named tensors: the description, separate from storage. Each tensor is
 * declared once (by the block builders below) with its PyTorch name, shape, kind,
 * whether weight decay applies and how it is initialised; its offset is its place in
 * the one block of its kind. Parameters, gradients and AdamW m and v share one layout. */
typedef enum { NN_PARAM = 0, NN_BUFFER, NN_COUNTER } NnKind; /* counter: int64 */
typedef enum { NN_INIT_ZERO = 0, NN_INIT_ONE, NN_INIT_UNIFORM, NN_INIT_NORMAL } NnInit;

#define NN_NAME_MAX 128
#define NN_NONE     ((size_t)-1) /* offset of an absent tensor (no bias, affine=False) */

typedef struct {
    char name[NN_NAME_MAX];
    char alias[NN_NAME_MAX]; /* a former name that loading also accepts ("" none) */
    NnKind kind;
    int ndim;
    size_t shape[4];
    size_t offset, count;
    int decay; /* AdamW weight decay applies (weights, not biases or norms) */
    float lr_scale; /* AdamW learning rate of this tensor / the optimiser's (1 unless set) */
    NnInit init;
    float init_a; /* uniform bound or normal std */
} NnTensor;

typedef struct {
    NnTensor *t;
    int n, cap;
    size_t n_param, n_buffer, n_counter; /* elements per block */
} NnParams;

typedef struct {
    size_t begin, end; /* parameter offsets */
} NnRange;

void nn_params_init(NnParams *p);
void nn_params_free(NnParams *p);
/* Declares prefix.name ("" prefix: name alone); returns the offset in its block. */
size_t nn_params_add(NnParams *p, const char *prefix, const char *name, NnKind kind, int ndim,
                     const size_t *shape, int decay, NnInit init, float init_a);
const NnTensor *nn_params_find(const NnParams *p, const char *name);
/* Sets the AdamW learning-rate scale of every parameter named prefix.X (a parameter
 * group with its own rate, as in PyTorch); returns how many it set. */
int nn_params_set_lr_scale(NnParams *p, const char *prefix, float scale);
/* Renames without breaking old files: every tensor named module.X also loads from
 * old_module.X (saving always uses the current name). Returns how many it marked. */
int nn_params_alias(NnParams *p, const char *module, const char *old_module);

/* Storage for one registry: param/grad/adam_m/adam_v share one allocation (grad and
 * moments only when asked), buffers and counters their own. */
typedef struct {
    NnReal *param, *grad, *adam_m, *adam_v;
    NnReal *buf;
    int64_t *count;
    void *block_; /* private */
} NnStore;
enum { NN_STORE_GRAD = 1, NN_STORE_ADAM = 2 };
void nn_store_create(NnStore *s, const NnParams *p, int flags);
void nn_store_free(NnStore *s);
/* Draws every tensor from its init rule (rng in registry order), buffers too
 * (running_var = 1), counters 0. */
void nn_store_init(NnStore *s, const NnParams *p, WmRng *rng);
void nn_store_zero_grad(NnStore *s, const NnParams *p);

/* AdamW as torch.optim.AdamW: decoupled decay p -= lr*wd*p on tensors with decay set
 * (parameter groups: weights decay, biases and norm parameters do not), then the
 * bias-corrected Adam update. step counts updates done (0 before the first). */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    int64_t step;
} NnAdamW;
NnAdamW nn_adamw_default(float lr, float weight_decay); /* betas 0.9/0.999, eps 1e-8 */
void nn_adamw_step(NnAdamW *opt, const NnParams *p, NnStore *s);
/* The same step on the parameter elements [begin, end) alone (the rest untouched: no
 * decay, no moments), counting one step of opt. */
void nn_adamw_step_range(NnAdamW *opt, const NnParams *p, NnStore *s, size_t begin, size_t end);

/* target = tau * target + (1 - tau) * online over n reals (one loop). */
void nn_ema_update(NnReal *target, const NnReal *online, size_t n, double tau);
/* Linear warm-up from base/warmup to base over `warmup` steps, then cosine decay to
 * final_lr at total_steps (step counts from 0). */
double nn_lr_schedule(int64_t step, int64_t warmup, int64_t total_steps, double base_lr,
                      double final_lr);
/* EMA momentum 1 - (1 - base) * (cos(pi * progress) + 1) / 2, progress in [0, 1]. */
double nn_ema_tau(double progress, double base);
/* Global L2 norm of the gradients (for logs and clipping). */
double nn_grad_norm(const NnStore *s, const NnParams *p);

#ifndef NN_REAL_DOUBLE
#include "core/safetensors.h"
/* Adds every tensor of p to w under its name: parameters and buffers as F32, counters
 * as I64. The data is referenced, so s must live until the writer saves. */
void nn_params_save(const NnParams *p, const NnStore *s, WmStWriter *w);
/* Copies every tensor of p from f by name. All or nothing: a missing tensor, a wrong
 * dtype or shape is an error naming it, and s is left untouched. Tensors in f that p
 * does not declare are ignored (a checkpoint holds several registries). */
int nn_params_load(const NnParams *p, NnStore *s, const WmStFile *f, char *err, size_t errsz);
#endif

/* ---------------------------------------------------------------- blocks */

/* Per-op timing for benchmarks: blocks add seconds and FLOPs here when given one. */
typedef enum {
    NN_OP_CONV = 0,
    NN_OP_BN,   /* batch norm with its fused residual add and ReLU */
    NN_OP_POOL, /* max pool, global average pool */
    NN_OP_LINEAR,
    NN_OP_ATTN, /* attention core: scores, softmax, weighted sum */
    NN_OP_LN,
    NN_OP_ELEM, /* ReLU, add, dropout, copies */
    NN_OP_COUNT_
} NnOpKind;
typedef struct {
    double fwd_s[NN_OP_COUNT_], bwd_s[NN_OP_COUNT_];
    double fwd_flop[NN_OP_COUNT_], bwd_flop[NN_OP_COUNT_];
} NnProfile;
const char *nn_op_name(NnOpKind k);

/* Offsets of the tensors of a linear, batch norm or layer norm layer. */
typedef struct {
    size_t w, b; /* b = NN_NONE without bias */
    int fi, fo;
} NnLinearP;
typedef struct {
    size_t gamma, beta;       /* NN_NONE when affine=False */
    size_t run_mean, run_var; /* buffers */
    size_t nbt;               /* counter: num_batches_tracked */
    int c;
} NnBatchNormP;
typedef struct {
    size_t gamma, beta;
    int f;
} NnLayerNormP;
/* Register prefix.weight / prefix.bias (PyTorch default init: uniform(+-1/sqrt(fi))). */
NnLinearP nn_linear_register(NnParams *p, const char *prefix, int fi, int fo, int bias);
NnBatchNormP nn_batchnorm_register(NnParams *p, const char *prefix, int c, int affine);
NnLayerNormP nn_layernorm_register(NnParams *p, const char *prefix, int f);

/* ResNet encoder (torchvision names: conv1, bn1, layerL.i.{conv1,bn1,conv2,bn2,
 * downsample.0,downsample.1}; fc removed). Input CNHW [in_ch][n][h][w], output
 * features [n][widths[3] * pool_grid^2]. */
typedef struct {
    int cifar_stem;         /* 1: 3x3 stride-1 conv, no max-pool; 0: 7x7/2 conv + 3x3/2 pool */
    int in_ch;              /* 3 */
    int widths[4];          /* ResNet-18: 64 128 256 512 */
    int blocks[4];          /* ResNet-18: 2 2 2 2 */
    int zero_init_residual; /* last BN of each block starts with gamma = 0 */
    int pool_grid;          /* 1: one global average (ResNet); g > 1: the average of each
                             * cell of a g x g grid (PyTorch's AdaptiveAvgPool2d(g)),
                             * flattened channel-major, as torch.flatten of [n][c][g][g] */
} NnResNetConfig;
NnResNetConfig nn_resnet18_config(int cifar_stem);
/* ResNet-18's layout with widths w, 2w, 4w, 8w (the CPU-sized encoders). */
NnResNetConfig nn_resnet_small_config(int width, int cifar_stem);

typedef struct NnResNet NnResNet;
/* Registers the encoder's tensors under prefix (e.g. "encoder") in p. */
NnResNet *nn_resnet_create(NnParams *p, const char *prefix, const NnResNetConfig *cfg);
void nn_resnet_destroy(NnResNet *r);
/* Activation memory for batches up to max_n images of h x w (one arena, made here);
 * backward needs with_grad. Returns bytes reserved. */
size_t nn_resnet_bind(NnResNet *r, int max_n, int h, int w, int with_grad);
/* As nn_resnet_bind without gradients, in the gradient buffers of lender (bound with
 * gradients), which hold nothing between its training forward and its backward, nor
 * outside training: r may run only then, the lender must stay bound as it is while r
 * is, and r is rebound whenever the lender is. Binds an arena of its own (and returns
 * its bytes) where they are too small; returns 0 when lent. */
size_t nn_resnet_bind_lent(NnResNet *r, int max_n, int h, int w, const NnResNet *lender);
int nn_resnet_out_dim(const NnResNet *r);
/* The same from the config alone: widths[3] * pool_grid^2. */
int nn_resnet_config_out_dim(const NnResNetConfig *cfg);
/* The side of the last feature map for images of this side (pool_grid may not exceed it). */
int nn_resnet_out_side(const NnResNetConfig *cfg, int side);
NnRange nn_resnet_range(const NnResNet *r);
/* train: batch statistics and running-stat updates; otherwise running statistics.
 * out [n][out_dim]. */
void nn_resnet_forward(NnResNet *r, NnReal *out, const NnReal *x, int n, const NnStore *s,
                       int train);
/* After a training forward with the same n: adds parameter gradients into s->grad,
 * and the input gradient into dx (NULL: not computed). */
void nn_resnet_backward(NnResNet *r, NnReal *dx, const NnReal *dout, const NnStore *s);
void nn_resnet_set_profile(NnResNet *r, NnProfile *prof);
/* Forward FLOPs per image (convolutions and the matrix products). */
double nn_resnet_flops(const NnResNet *r, int h, int w);
/* FLOPs per image of a training forward and a backward without the input gradient
 * (nn_resnet_backward with dx NULL): what a profile of the two passes counts. */
double nn_resnet_train_flops(const NnResNet *r, int h, int w);

/* Post-norm transformer encoder layer (torch.nn.TransformerEncoderLayer defaults with
 * batch_first: ReLU, LayerNorm eps 1e-5 after each residual):
 *   x = norm1(x + drop(self_attn(x)));  x = norm2(x + drop(linear2(drop(relu(linear1(x))))))
 * A stack of them is torch.nn.TransformerEncoder: names prefix.layers.i.{self_attn.
 * in_proj_weight, self_attn.in_proj_bias, self_attn.out_proj.weight/bias, linear1,
 * linear2, norm1, norm2}, and prefix.norm when final_norm is set (or norm_name, for a
 * wrapper module that owns the final norm beside the stack). */
typedef struct {
    int layers, e, heads, ffn; /* ffn: hidden width (4e by default) */
    float dropout;             /* 0.1 in PyTorch */
    int final_norm;            /* a LayerNorm after the stack */
    const char *norm_name;     /* the final norm's module name; NULL: prefix.norm */
} NnTransformerConfig;
typedef struct NnTransformer NnTransformer;
NnTransformer *nn_transformer_create(NnParams *p, const char *prefix,
                                     const NnTransformerConfig *cfg);
void nn_transformer_destroy(NnTransformer *t);
size_t nn_transformer_bind(NnTransformer *t, int max_b, int max_t, int with_grad);
/* x, out [b*t, e]. rng draws the dropout masks (train only; may be NULL when
 * dropout is 0 or !train). */
void nn_transformer_forward(NnTransformer *t, NnReal *out, const NnReal *x, int b, int nt,
                            const NnStore *s, int train, WmRng *rng);
void nn_transformer_backward(NnTransformer *t, NnReal *dx, const NnReal *dout, const NnStore *s);
void nn_transformer_set_profile(NnTransformer *t, NnProfile *prof);
double nn_transformer_flops(const NnTransformer *t, int b, int nt);

/* MLP head as a torch.nn.Sequential: for each layer Linear, then (hidden layers, or
 * the last one too when last_act) BatchNorm1d if bn, ReLU. Names follow the module
 * indices: prefix.0 (Linear), prefix.1 (BatchNorm1d), [ReLU], prefix.3 (Linear) ... */
#define NN_MLP_MAX 8
typedef struct {
    int n_layers;
    int dims[NN_MLP_MAX + 1]; /* dims[0] in, dims[n_layers] out */
    int bias[NN_MLP_MAX];     /* per linear */
    int bn;                   /* BatchNorm1d after hidden linears */
    int bn_affine;
    int last_act; /* apply bn/relu after the last linear too */
} NnMlpConfig;
typedef struct NnMlp NnMlp;
NnMlp *nn_mlp_create(NnParams *p, const char *prefix, const NnMlpConfig *cfg);
void nn_mlp_destroy(NnMlp *m);
size_t nn_mlp_bind(NnMlp *m, int max_n, int with_grad);
void nn_mlp_forward(NnMlp *m, NnReal *out, const NnReal *x, int n, const NnStore *s, int train);
void nn_mlp_backward(NnMlp *m, NnReal *dx, const NnReal *dout, const NnStore *s);

#endif
