/* Convolution and linear layers on GEMM, with direct-loop references. Convolutions
 * work on CNHW activations, where the output rows of all images are one run per
 * channel: any range of output rows is one GEMM,
 *     out[co, rows*ow] = W[co, ci*kh*kw] x col[ci*kh*kw, rows*ow],
 * with col the im2col lowering of those rows. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "nn/nn_impl.h"

/* Each thread lowers its own ranges of output rows into its own column buffer, so the
 * columns pass from im2col to the GEMM through that core's L2 cache. A range aims at
 * COL_CHUNK_ELEMS reals but spans at least MIN_CHUNK_COLS output pixels, so that deep
 * layers, whose weights are large, still get wide GEMMs. */
#define COL_CHUNK_ELEMS ((size_t)1 << 18)
#define MIN_CHUNK_COLS  512
/* Output planes this small are lowered whole images at a time (see im2col_small). */
#define SMALL_PLANE 64

NnConv2d nn_conv2d_dims(int n, int ci, int h, int w, int co, int k, int stride, int pad) {
    NnConv2d d = {n, ci, h, w, co, k, k, stride, pad, 0, 0};
    WM_ASSERT(n > 0 && ci > 0 && co > 0 && k > 0 && stride > 0 && pad >= 0);
    d.oh = (h + 2 * pad - k) / stride + 1;
    d.ow = (w + 2 * pad - k) / stride + 1;
    WM_ASSERT(d.oh > 0 && d.ow > 0);
    return d;
}

double nn_conv2d_flops(const NnConv2d *d) {
    return 2.0 * d->co * d->ci * d->kh * d->kw * (double)d->n * d->oh * d->ow;
}

static int is_pointwise(const NnConv2d *d) {
    return d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0;
}

/* The gradient of a stride-1 convolution with respect to its input is itself a
 * stride-1 convolution: of dout with the kernel transposed (ci <-> co) and flipped,
 * padded by k-1-p. That is a gather (im2col) and a GEMM with inner size co*k*k,
 * where the direct route is a GEMM with inner size co and a scatter-add (col2im). */
static int grad_is_conv(const NnConv2d *d) {
    return d->stride == 1 && d->kh == d->kw && d->pad <= d->kh - 1 && !is_pointwise(d);
}

static NnConv2d grad_dims(const NnConv2d *d) {
    NnConv2d g = {d->n, d->co, d->oh, d->ow, d->ci, d->kh, d->kw, 1, d->kh - 1 - d->pad,
                  d->h, d->w};
    return g;
}

static size_t wsize(const NnConv2d *d) {
    return (size_t)d->co * d->ci * d->kh * d->kw;
}
static size_t round16(size_t n) {
    return (n + 15) / 16 * 16;
}

/* Output rows per chunk of a lowering of d, and its column buffer. Chunks that
 * scatter back into the input (col2im) take whole images instead, so that threads
 * never add into the same input rows. */
static int chunk_rows(const NnConv2d *d) {
    size_t rows = COL_CHUNK_ELEMS / ((size_t)d->ci * d->kh * d->kw * d->ow);
    size_t least = (MIN_CHUNK_COLS + d->ow - 1) / d->ow;
    if (rows < least) rows = least;
    if (d->oh * d->ow <= SMALL_PLANE) rows = (rows + d->oh - 1) / d->oh * d->oh; /* whole images */
    if (rows > (size_t)d->n * d->oh) rows = (size_t)d->n * d->oh;
    return (int)rows;
}
static int chunk_images(const NnConv2d *d) {
    int nb = (chunk_rows(d) + d->oh - 1) / d->oh;
    return nb < d->n ? nb : d->n;
}
/* Rows per job (at most cap, a multiple of unit) that share best between the threads:
 * the pool gives each thread an equal run of jobs (3 jobs on 2 threads kept one of them
 * idle a third of the pass), so the choice is the fewest jobs whose largest run is
 * within 2% of an equal share, else the most even split found. Never more than cap, so
 * the column buffers sized by chunk_rows hold any job. */
static int even_rows(int total, int cap, int unit, int threads) {
    const int units = (total + unit - 1) / unit;
    int best = cap;
    int64_t best_load = INT64_MAX;
    for (int jobs = (total + cap - 1) / cap; jobs <= units; jobs++) {
        int rows = (total + jobs - 1) / jobs;
        rows = (rows + unit - 1) / unit * unit;
        if (rows > cap) continue;
        const int64_t J = (total + rows - 1) / rows;
        int64_t most = 0; /* the largest thread's rows under the pool's split */
        for (int k = 0; k < threads; k++) {
            int64_t b = J * k / threads, e = J * (k + 1) / threads, end = e * rows < total ? e * rows : total;
            if (end - b * rows > most) most = end - b * rows;
        }
        if (most < best_load) best_load = most, best = rows;
        if ((double)most * threads <= 1.02 * total) break;
    }
    return best;
}
int nn_conv2d_job_rows(const NnConv2d *d, int threads, int images) {
    if (images) return even_rows(d->n, chunk_images(d), 1, threads);
    return even_rows(d->n * d->oh, chunk_rows(d), d->oh * d->ow <= SMALL_PLANE ? d->oh : 1, threads);
}
static int split_rows(const NnConv2d *d) {
    return nn_conv2d_job_rows(d, nn_par_threads(), 0);
}
static int split_images(const NnConv2d *d) {
    return nn_conv2d_job_rows(d, nn_par_threads(), 1);
}
static size_t lowered(const NnConv2d *d, size_t rows) {
    return round16(rows * d->ow * (size_t)d->ci * d->kh * d->kw);
}
/* The larger of the lowerings a convolution uses: its own (forward and weight
 * gradient), and for the input gradient either the gradient convolution's or the
 * scatter's whole images. */
static size_t col_elems(const NnConv2d *d) {
    if (is_pointwise(d)) return 0;
    size_t n = lowered(d, (size_t)chunk_rows(d)), g;
    if (grad_is_conv(d)) {
        NnConv2d gd = grad_dims(d);
        g = lowered(&gd, (size_t)chunk_rows(&gd));
    } else {
        g = lowered(d, (size_t)chunk_images(d) * d->oh);
    }
    return n > g ? n : g;
}
static size_t per_thread(const NnConv2d *d) {
    return col_elems(d) + round16(wsize(d));
}

/* Where the direct convolution beats im2col + GEMM (timed on AVX-512, one thread,
 * batch 128, the two run alternately): forward and input gradient clearly faster for
 * 16-64 channels on planes of 8+ pixels, about even at 128 channels, behind from 256
 * and for 3-channel input; weight gradient faster up to 64 channels, behind at 128. */
static int use_direct(const NnConv2d *d) {
    if (!nn_direct_native()) return 0;
#ifndef NN_REAL_DOUBLE
    /* bf16: im2col and the bf16 GEMM from 64x64 channels (measured with bench train
     * --paths, reference configuration: 170-190 GFLOP per CPU-second against 110-130
     * for the float direct route at 128x128, 133-157 against 119-150 at 64x64) */
    if (nn_get_precision() == NN_PREC_BF16 && (long)d->ci * d->co >= 64 * 64) return 0;
#endif
    return !is_pointwise(d) && nn_direct_ok(d) && d->ci >= 8 && (long)d->ci * d->co <= 128 * 128;
}
static int use_direct_wgrad(const NnConv2d *d) {
    return use_direct(d) && (long)d->ci * d->co <= 64 * 64;
}

/* Which passes run on oneDNN (nn_dnnl.c) under NN_DNNL_AUTO: 3x3 layers from 64
 * channels on planes up to 32x32, where they measured faster. GFLOP per CPU-second,
 * one thread, batch 96, best of 3 alternated runs each (`SEQJEPA_DNNL=all|0 seqjepa
 * bench train --only reference --paths --no-torch --threads 1`, AMD EPYC with AVX-512,
 * load ~3 on 2 cores), own route -> oneDNN:
 *   forward:  64->64 159.5 -> 164.8 (even, kept direct); 64->128/2 113 -> 125;
 *             128->128 146 -> 167; 128->256/2 131 -> 155; 256->256 142 -> 183;
 *             256->512/2 156 -> 194; 512->512 157 -> 194
 *   dinput:   64->64 161 -> 147; 64->128/2 109 -> 125; 128->128 147 -> 176;
 *             128->256/2 131 -> 132 (even, kept); 256->256 140 -> 178;
 *             256->512/2 146 -> 124; 512->512 150 -> 217
 *   dweight:  64->64 127 -> 155; 64->128/2 111 -> 139; 128->128 130 -> 181;
 *             128->256/2 139 -> 144 (even, kept); 256->256 137 -> 162;
 *             256->512/2 139 -> 117; 512->512 145 -> 145 (kept)
 * The 3-channel stem and the 1x1 /2 shortcuts stay on the own routes (oneDNN 0.56-0.82x
 * on the stem, 0.66-1.15x on the shortcuts, whose passes take 1-2% of the step). Two
 * more alternations after the batch was cut into chunks of at most 8 MiB (nn_dnnl.c)
 * kept the routed passes at 1.09-1.44x and the others at 0.81-1.06x. */
#ifndef NN_REAL_DOUBLE
static int dnnl_rule(const NnConv2d *d, NnDnnlPass pass) {
    if (d->kh != 3 || d->kw != 3 || d->ci < 64 || d->h * d->w > 32 * 32) return 0;
    const long cc = (long)d->ci * d->co;
    switch (pass) {
    case NN_DNNL_FWD: return cc >= 64 * 128;
    case NN_DNNL_DGRAD: return d->stride == 1 ? d->ci >= 128 : cc <= 64 * 128;
    default: return d->stride == 1 ? cc <= 256 * 256 : cc <= 64 * 128;
    }
}
/* bf16 (oneDNN's avx512_core_bf16 kernels against im2col and the own bf16 GEMM): the
 * same 3x3 layers, every forward, and the input and weight gradients where measured
 * faster. Wall seconds of the pass per step, two threads, batch 96 (32 for the target
 * encoder), two runs each (`SEQJEPA_DNNL=all|0 seqjepa bench train --only reference
 * --no-torch --paths model.precision=bf16`, AMD EPYC with AVX512_BF16, idle), own ->
 * oneDNN:
 *   forward:  64->64 0.073 -> 0.044; 128->128 0.045 -> 0.026; 256->256 0.039 -> 0.026;
 *             512->512 0.033 -> 0.022; the /2 layers 0.006-0.010 -> 0.005-0.006
 *   dinput:   64->64 0.071-0.089 -> 0.045; 128->128 0.045-0.055 -> 0.028;
 *             256->256 0.039-0.042 -> 0.028-0.030; 512->512 0.040 -> 0.023-0.027;
 *             64->128/2 0.013 -> 0.007; 128->256/2 0.008 -> 0.006-0.007;
 *             256->512/2 0.007-0.008 -> 0.007-0.009 (kept)
 *   dweight:  64->64 0.072-0.091 -> 0.050; 128->128 0.045-0.054 -> 0.032;
 *             256->256 0.040-0.043 -> 0.031-0.033; 64->128/2 0.010-0.013 -> 0.008;
 *             128->256/2 0.008 -> 0.008 (kept); 256->512/2 0.007-0.008 -> 0.011-0.014;
 *             512->512 0.042 -> 0.042-0.043 (kept)
 * The stem and the 1x1 shortcuts stay on the own route (oneDNN 0.6-1.0x). */
static int dnnl_rule_bf16(const NnConv2d *d, NnDnnlPass pass) {
    if (d->kh != 3 || d->kw != 3 || d->ci < 64 || d->h * d->w > 32 * 32) return 0;
    const long cc = (long)d->ci * d->co;
    switch (pass) {
    case NN_DNNL_FWD: return 1;
    case NN_DNNL_DGRAD: return d->stride == 1 || cc <= 128 * 256;
    default: return d->stride == 1 ? cc <= 256 * 256 : cc <= 64 * 128;
    }
}
#endif
/* Winograd F(4x4, 3x3) on oneDNN (fp32; oneDNN 2.6 has no bf16 form on AVX-512): the
 * 3x3 stride-1 layers from 64 channels on planes from 8x8 and from 32 channels on planes
 * from 8x8 to 16x16, every pass, and the weight gradient of 512->512 on 4x4. Wall
 * seconds of the pass per step against the route the float rule above gives, two
 * threads, batch 96 (32: the target encoder's forward), one run each (`SEQJEPA_DNNL=auto
 * seqjepa bench train --only reference --no-torch --paths` with SEQJEPA_WINOGRAD=0 and
 * 1, AMD EPYC with AVX-512, idle), direct -> Winograd:
 *   64->64 32x32:   forward 0.071-0.076 -> 0.061 (n32 0.023-0.026 -> 0.018),
 *                   dinput 0.078-0.085 -> 0.049, dweight 0.081-0.085 -> 0.063
 *   128->128 16x16: forward 0.049-0.056 -> 0.030, dinput 0.050-0.055 -> 0.031,
 *                   dweight 0.051-0.055 -> 0.036
 *   256->256 8x8:   forward 0.047-0.051 -> 0.023, dinput 0.046-0.053 -> 0.023,
 *                   dweight 0.051-0.056 -> 0.026
 *   512->512 4x4:   dweight 0.061-0.068 -> 0.034; forward (0.049 -> 0.042, but n32
 *                   0.018 -> 0.031) and dinput (0.041-0.048 -> 0.048) kept direct
 * and with 32 channels on planes up to 16x16 (below 64 channels it was measured on the
 * quick configuration, `bench train --only quick --no-torch --paths`, batch 192, n64
 * for the target, and with model.width=8; two runs each, the same machine):
 *   32->32 16x16:   forward 0.009 -> 0.006-0.007, dinput 0.009 -> 0.006,
 *                   dweight 0.010-0.011 -> 0.007-0.008
 *   32->32 8x8:     forward 0.003 -> 0.002, dinput 0.003 -> 0.002, dweight 0.003-0.004
 *                   -> 0.002
 *   but not 32->32 64x64 (the default preset: 0.282-0.310 against 0.302-0.351 direct,
 *   within the runs' spread) nor 16->16 32x32 (0.012-0.017 against 0.012-0.014:
 *   slower), which stay direct
 * Its sums differ from the direct ones by the transforms' rounding: 1e-6 to 4e-6 of the
 * output's scale from a double-summed reference in tests/test_nn_dnnl.c, where direct
 * sums give 0.3e-6 to 2.6e-6 (both within the 1e-5 every route is held to). SEQJEPA_WINOGRAD=0 (environment,
 * read at start) or nn_set_winograd(0) keeps every pass on direct sums. */
#ifndef NN_REAL_DOUBLE
static int wino_rule(const NnConv2d *d, NnDnnlPass pass) {
    if (d->kh != 3 || d->kw != 3 || d->stride != 1 || d->pad != 1 || d->ci < 32 || d->ci % 16 || d->co % 16 ||
        nn_get_precision() != NN_PREC_FP32 || !nn_get_winograd())
        return 0;
    if (d->ci < 64) return d->h * d->w >= 8 * 8 && d->h * d->w <= 16 * 16;
    return d->h * d->w >= 8 * 8 || (pass == NN_DNNL_WGRAD && (long)d->ci * d->co >= 512 * 512);
}
#endif
static int use_dnnl(const NnConv2d *d, NnDnnlPass pass) {
#ifdef NN_REAL_DOUBLE
    (void)d, (void)pass;
    return 0;
#else
    const NnDnnlRoute r = nn_get_dnnl_route();
    if (r == NN_DNNL_OFF || !nn_dnnl_available()) return 0;
    if (nn_get_precision() == NN_PREC_BF16) return r == NN_DNNL_ALL || dnnl_rule_bf16(d, pass);
    return r == NN_DNNL_ALL || dnnl_rule(d, pass) || (r == NN_DNNL_AUTO && wino_rule(d, pass));
#endif
}
/* The algorithm of a pass that runs on oneDNN. */
static NnDnnlAlg dnnl_alg(const NnConv2d *d, NnDnnlPass pass) {
#ifdef NN_REAL_DOUBLE
    (void)d, (void)pass;
    return NN_DNNL_DIRECT;
#else
    return wino_rule(d, pass) ? NN_DNNL_WINOGRAD : NN_DNNL_DIRECT;
#endif
}
/* Runs the pass on oneDNN when the rules send it there (nn_dnnl_conv's arguments);
 * returns its partials (> 0), or 0 when the caller takes its own route. Where oneDNN
 * has no Winograd kernel (nn_dnnl.c then turns Winograd off for the process) the same
 * call goes where the rules without it send the pass, as every later call does. */
static int dnnl_pass(NnDnnlPass pass, const NnConv2d *d, NnReal *out, int accumulate, const NnReal *a,
                     const NnReal *b, size_t part_stride) {
    if (!use_dnnl(d, pass)) return 0;
    const NnDnnlAlg alg = dnnl_alg(d, pass);
    int r = nn_dnnl_conv(pass, alg, d, out, accumulate, a, b, part_stride);
    if (r < 0 && alg == NN_DNNL_WINOGRAD && use_dnnl(d, pass))
        r = nn_dnnl_conv(pass, NN_DNNL_DIRECT, d, out, accumulate, a, b, part_stride);
    return r > 0 ? r : 0;
}

size_t nn_conv2d_scratch(const NnConv2d *d) {
    const int T = nn_runtime_threads();
    size_t n = round16(wsize(d)) + (size_t)T * per_thread(d);
    if (use_direct(d) && nn_direct_scratch(d, T) > n) n = nn_direct_scratch(d, T);
    if (grad_is_conv(d)) {
        NnConv2d g = grad_dims(d);
        if (use_direct(&g) && nn_direct_scratch(&g, T) > n) n = nn_direct_scratch(&g, T);
    }
    return n;
}

/* ---------------------------------------------------------------- im2col */

/* col[r][(g - g0)*ow + ox] for r = (c, ki, kj) and global output rows g = b*oh + oy
 * in [g0, g0 + rows): the input pixel under tap (ki, kj), or 0 in the padding. */
/* Small output planes (at most SMALL_PLANE pixels) in whole images: each tap's pixels
 * come from a precomputed map of input offsets (-1 in the padding), one gather per
 * pixel instead of a loop setup per few-pixel row. */
NN_HOT static void im2col_small(const NnConv2d *d, const NnReal *in, NnReal *col, int b0, int nb) {
    const int ohw = d->oh * d->ow, kk = d->kh * d->kw, K = d->ci * kk;
    const size_t plane = (size_t)d->h * d->w, ncols = (size_t)nb * ohw;
    int map[49 * SMALL_PLANE];
    WM_ASSERT(kk <= 49 && ohw <= SMALL_PLANE);
    for (int k = 0; k < kk; k++)
        for (int q = 0; q < ohw; q++) {
            int iy = q / d->ow * d->stride - d->pad + k / d->kw;
            int ix = q % d->ow * d->stride - d->pad + k % d->kw;
            map[k * ohw + q] = iy >= 0 && iy < d->h && ix >= 0 && ix < d->w ? iy * d->w + ix : -1;
        }
    for (int r = 0; r < K; r++) {
        const int c = r / kk, *m = map + (r % kk) * ohw;
        NnReal *dst = col + (size_t)r * ncols;
        for (int b = 0; b < nb; b++, dst += ohw) {
            const NnReal *src = in + ((size_t)c * d->n + b0 + b) * plane;
            for (int q = 0; q < ohw; q++)
                dst[q] = m[q] >= 0 ? src[m[q]] : 0;
        }
    }
}

NN_HOT static void im2col(const NnConv2d *d, const NnReal *in, NnReal *col, int g0, int rows) {
    const int oh = d->oh, ow = d->ow, s = d->stride, p = d->pad, h = d->h, w = d->w;
    const int K = d->ci * d->kh * d->kw;
    const size_t plane = (size_t)h * w, ncols = (size_t)rows * ow;
    if (oh * ow <= SMALL_PLANE && d->kh * d->kw <= 49 && g0 % oh == 0 && rows % oh == 0) {
        im2col_small(d, in, col, g0 / oh, rows / oh);
        return;
    }
    for (int r = 0; r < K; r++) {
        int c = r / (d->kh * d->kw), kk = r % (d->kh * d->kw);
        int ki = kk / d->kw, kj = kk % d->kw;
        NnReal *dst = col + (size_t)r * ncols;
        /* valid output columns for this kj: 0 <= ox*s - p + kj < w */
        int ox0 = p - kj > 0 ? (p - kj + s - 1) / s : 0;
        int ox1 = (w - 1 + p - kj) >= 0 ? (w - 1 + p - kj) / s + 1 : 0;
        if (ox1 > ow) ox1 = ow;
        if (ox0 > ox1) ox0 = ox1;
        for (int g = g0; g < g0 + rows; g++, dst += ow) {
            int b = g / oh, oy = g % oh, iy = oy * s - p + ki;
            if (iy < 0 || iy >= h) {
                for (int ox = 0; ox < ow; ox++)
                    dst[ox] = 0;
                continue;
            }
            /* rows are short (tens of pixels): plain loops beat memcpy calls */
            const NnReal *row = in + ((size_t)c * d->n + b) * plane + (size_t)iy * w;
            const int off = kj - p;
            for (int ox = 0; ox < ox0; ox++)
                dst[ox] = 0;
            if (s == 1)
                for (int ox = ox0; ox < ox1; ox++)
                    dst[ox] = row[ox + off];
            else
                for (int ox = ox0; ox < ox1; ox++)
                    dst[ox] = row[ox * s + off];
            for (int ox = ox1; ox < ow; ox++)
                dst[ox] = 0;
        }
    }
}

/* The adjoint of im2col: adds col back into din for the images [b0, b0 + nb). */
NN_HOT static void col2im(const NnConv2d *d, const NnReal *col, NnReal *din, int b0, int nb) {
    const int oh = d->oh, ow = d->ow, s = d->stride, p = d->pad, h = d->h, w = d->w;
    const size_t plane = (size_t)h * w, ncols = (size_t)nb * oh * ow;
    for (int c = 0; c < d->ci; c++)
        for (int ki = 0; ki < d->kh; ki++)
            for (int kj = 0; kj < d->kw; kj++) {
                const NnReal *src = col + (((size_t)c * d->kh + ki) * d->kw + kj) * ncols;
                int ox0 = p - kj > 0 ? (p - kj + s - 1) / s : 0;
                int ox1 = (w - 1 + p - kj) >= 0 ? (w - 1 + p - kj) / s + 1 : 0;
                if (ox1 > ow) ox1 = ow;
                const int off = kj - p;
                for (int b = b0; b < b0 + nb; b++) {
                    NnReal *dst = din + ((size_t)c * d->n + b) * plane;
                    for (int oy = 0; oy < oh; oy++, src += ow) {
                        int iy = oy * s - p + ki;
                        if (iy < 0 || iy >= h) continue;
                        NnReal *row = dst + (size_t)iy * w;
                        if (s == 1)
                            for (int ox = ox0; ox < ox1; ox++)
                                row[ox + off] += src[ox];
                        else
                            for (int ox = ox0; ox < ox1; ox++)
                                row[ox * s + off] += src[ox];
                    }
                }
            }
}

/* ---------------------------------------------------------------- bias */

typedef struct {
    NnReal *x;
    const NnReal *bias;
    NnReal *dbias;
    size_t len; /* elements per channel */
} BiasTask;

static void bias_add_rows(void *ctx, int64_t c0, int64_t c1, int worker) {
    (void)worker;
    const BiasTask *t = ctx;
    for (int64_t c = c0; c < c1; c++) {
        NnReal *x = t->x + (size_t)c * t->len, b = t->bias[c];
        for (size_t i = 0; i < t->len; i++)
            x[i] += b;
    }
}

static void bias_grad_rows(void *ctx, int64_t c0, int64_t c1, int worker) {
    (void)worker;
    const BiasTask *t = ctx;
    for (int64_t c = c0; c < c1; c++) {
        const NnReal *x = t->x + (size_t)c * t->len;
        double acc = 0;
        for (size_t i = 0; i < t->len; i++)
            acc += x[i];
        t->dbias[c] += (NnReal)acc;
    }
}

/* ---------------------------------------------------------------- conv2d */

typedef struct {
    const NnConv2d *d;
    const NnReal *in, *w, *dout, *wt; /* wt: the flipped kernel */
    NnReal *out, *din, *scratch;
    int rows, need_dw; /* output rows (or images, for col2im) per job */
    NnReal din_beta;   /* 1: add into din, 0: overwrite it */
} ConvTask;

static NnReal *thread_cols(const ConvTask *t, int worker) {
    return t->scratch + round16(wsize(t->d)) + (size_t)worker * per_thread(t->d);
}

static void job_rows(const ConvTask *t, int64_t job, int total, int *g0, int *rows) {
    *g0 = (int)job * t->rows;
    *rows = total - *g0 < t->rows ? total - *g0 : t->rows;
}

/* out[:, rows g0 .. g0+rows) (+)= W x im2col(in), on this thread. */
static void lower_multiply(const NnConv2d *d, const NnReal *in, const NnReal *w, NnReal *out,
                           NnReal beta, NnReal *col, int g0, int rows) {
    const int K = d->ci * d->kh * d->kw, ncols = rows * d->ow;
    im2col(d, in, col, g0, rows);
    nn_gemm_serial(0, 0, d->co, ncols, K, 1, w, K, col, ncols, beta, out + (size_t)g0 * d->ow,
                   d->n * d->oh * d->ow);
}

static void conv_fwd_jobs(void *ctx, int64_t j0, int64_t j1, int worker) {
    const ConvTask *t = ctx;
    NnReal *col = thread_cols(t, worker);
    for (int64_t j = j0; j < j1; j++) {
        int g0, rows;
        job_rows(t, j, t->d->n * t->d->oh, &g0, &rows);
        lower_multiply(t->d, t->in, t->w, t->out, 0, col, g0, rows);
    }
}

/* The weight gradient of rows of the output, into this thread's partial sum. */
static void conv_wgrad_jobs(void *ctx, int64_t j0, int64_t j1, int worker) {
    const ConvTask *t = ctx;
    const NnConv2d *d = t->d;
    const int K = d->ci * d->kh * d->kw, ldo = d->n * d->oh * d->ow;
    NnReal *col = thread_cols(t, worker), *dw = col + col_elems(d);
    for (int64_t j = j0; j < j1; j++) {
        int g0, rows;
        job_rows(t, j, d->n * d->oh, &g0, &rows);
        const int ncols = rows * d->ow;
        im2col(d, t->in, col, g0, rows);
        nn_gemm_serial(0, 1, d->co, K, ncols, 1, t->dout + (size_t)g0 * d->ow, ldo, col, ncols, 1,
                       dw, K);
    }
}

/* The input gradient as a convolution of dout (a gather: rows are independent). */
static void conv_dgrad_jobs(void *ctx, int64_t j0, int64_t j1, int worker) {
    const ConvTask *t = ctx;
    const NnConv2d g = grad_dims(t->d);
    NnReal *col = thread_cols(t, worker);
    for (int64_t j = j0; j < j1; j++) {
        int g0, rows;
        job_rows(t, j, g.n * g.oh, &g0, &rows);
        lower_multiply(&g, t->dout, t->wt, t->din, t->din_beta, col, g0, rows);
    }
}

/* The input gradient of a strided convolution: dcol = W^T dout, scattered back by
 * col2im, whole images per job. */
static void conv_bwd_scatter_jobs(void *ctx, int64_t j0, int64_t j1, int worker) {
    const ConvTask *t = ctx;
    const NnConv2d *d = t->d;
    const int K = d->ci * d->kh * d->kw, ohw = d->oh * d->ow, ldo = d->n * ohw;
    NnReal *col = thread_cols(t, worker);
    for (int64_t j = j0; j < j1; j++) {
        int b0, nb;
        job_rows(t, j, d->n, &b0, &nb);
        nn_gemm_serial(1, 0, K, nb * ohw, d->co, 1, t->w, K, t->dout + (size_t)b0 * ohw, ldo, 0,
                       col, nb * ohw);
        col2im(d, col, t->din, b0, nb);
    }
}

/* Pointwise convolutions need no columns: threads take ranges of 16 pixels. */
static void conv1x1_fwd_jobs(void *ctx, int64_t j0, int64_t j1, int worker) {
    (void)worker;
    const ConvTask *t = ctx;
    const int ldo = t->d->n * t->d->oh * t->d->ow, lo = (int)j0 * 16;
    const int hi = (int)j1 * 16 < ldo ? (int)j1 * 16 : ldo;
    nn_gemm_serial(0, 0, t->d->co, hi - lo, t->d->ci, 1, t->w, t->d->ci, t->in + lo, ldo, 0,
                   t->out + lo, ldo);
}

static void conv1x1_bwd_jobs(void *ctx, int64_t j0, int64_t j1, int worker) {
    const ConvTask *t = ctx;
    const int ldo = t->d->n * t->d->oh * t->d->ow, lo = (int)j0 * 16, co = t->d->co, ci = t->d->ci;
    const int hi = (int)j1 * 16 < ldo ? (int)j1 * 16 : ldo;
    NnReal *dw = thread_cols(t, worker);
    if (t->need_dw)
        nn_gemm_serial(0, 1, co, ci, hi - lo, 1, t->dout + lo, ldo, t->in + lo, ldo, 1, dw, ci);
    if (t->din)
        nn_gemm_serial(1, 0, ci, hi - lo, co, 1, t->w, ci, t->dout + lo, ldo, t->din_beta,
                       t->din + lo, ldo);
}

typedef struct {
    NnReal *dw;
    const NnReal *part;
    size_t stride;
    int T;
} ReduceTask;

/* dw += the threads' partial gradients, summed in thread order. */
static void reduce_parts(void *ctx, int64_t i0, int64_t i1, int worker) {
    (void)worker;
    const ReduceTask *r = ctx;
    for (int64_t i = i0; i < i1; i++) {
        NnReal acc = r->dw[i];
        for (int k = 0; k < r->T; k++)
            acc += r->part[(size_t)k * r->stride + i];
        r->dw[i] = acc;
    }
}

/* While paths are recorded: the layer, the pass, the route it took and its time (process
 * CPU seconds from t0, wall seconds from w0). */
static void note_route(const NnConv2d *d, const char *pass, const char *route, int gemm, double t0,
                       double w0) {
    char key[160], dn[80];
    if (!strcmp(route, "oneDNN")) {
        const NnDnnlPass p = pass[1] == 'o' ? NN_DNNL_FWD : pass[1] == 'i' ? NN_DNNL_DGRAD : NN_DNNL_WGRAD;
        snprintf(dn, sizeof dn, "oneDNN %s", nn_dnnl_impl(p, dnnl_alg(d, p), d));
        route = dn;
    }
    snprintf(key, sizeof key, "conv %3d->%3d k%d s%d %3dx%-3d n%4d %-7s %s%s%s", d->ci, d->co, d->kh,
             d->stride, d->h, d->w, d->n, pass, route, gemm ? " + GEMM " : "",
             gemm ? nn_gemm_serial_path(d->co, 512, d->ci * d->kh * d->kw) : "");
    nn_path_add(key, wm_cpu_now() - t0, wm_now() - w0, nn_conv2d_flops(d));
}

void nn_conv2d_forward(NnReal *out, const NnReal *in, const NnReal *w, const NnReal *bias,
                       const NnConv2d *d, NnReal *scratch) {
    const double t0 = nn_paths_recording() ? wm_cpu_now() : 0, w0 = nn_paths_recording() ? wm_now() : 0;
    const size_t ldo = (size_t)d->n * d->oh * d->ow;
    ConvTask t = {d, in, w, NULL, NULL, out, NULL, scratch, 0, 0, 0};
    const int dn = dnnl_pass(NN_DNNL_FWD, d, out, 0, in, w, 0) > 0;
    if (dn) {
        /* done */
    } else if (use_direct(d)) {
        nn_direct_conv(out, 0, in, w, 0, d, scratch);
    } else if (is_pointwise(d)) {
        nn_par_for((int64_t)(ldo + 15) / 16, conv1x1_fwd_jobs, &t);
    } else {
        t.rows = split_rows(d);
        nn_par_for((d->n * d->oh + t.rows - 1) / t.rows, conv_fwd_jobs, &t);
    }
    if (bias) {
        BiasTask b = {out, bias, NULL, ldo};
        nn_par_for(d->co, bias_add_rows, &b);
    }
    if (nn_paths_recording())
        note_route(d, "forward",
                   dn ? "oneDNN" : use_direct(d) ? "direct fp32" : is_pointwise(d) ? "1x1" : "im2col",
                   !dn && !use_direct(d), t0, w0);
}

static void conv_backward(NnReal *din, NnReal *dw, NnReal *dbias, const NnReal *dout,
                          const NnReal *in, const NnReal *w, const NnConv2d *d, NnReal *scratch,
                          int assign) {
    const size_t ldo = (size_t)d->n * d->oh * d->ow, ws = wsize(d);
    double t0 = nn_paths_recording() ? wm_cpu_now() : 0, w0 = nn_paths_recording() ? wm_now() : 0;
    if (dbias) {
        BiasTask b = {(NnReal *)dout, NULL, dbias, ldo};
        nn_par_for(d->co, bias_grad_rows, &b);
    }
    ConvTask t = {d, in, w, dout, NULL, NULL, NULL, scratch, 0, 1, assign ? 0 : 1};
    const int pw = is_pointwise(d);
    int64_t jobs = pw ? (int64_t)(ldo + 15) / 16 : 0;
    if (!pw) {
        t.rows = split_rows(d);
        jobs = (d->n * d->oh + t.rows - 1) / t.rows;
    }
    /* the weight gradient: each thread accumulates apart, summed in thread order */
    int dn = 0;
    if (dw) {
        NnReal *parts = thread_cols(&t, 0) + col_elems(d);
        const int threads = dnnl_pass(NN_DNNL_WGRAD, d, parts, 0, in, dout, per_thread(d));
        if (threads > 0) {
            ReduceTask r = {dw, parts, per_thread(d), threads};
            nn_par_for((int64_t)ws, reduce_parts, &r);
            dn = 1;
        }
    }
    if (!dw || dn) {
        /* done */
    } else if (use_direct_wgrad(d)) {
        nn_direct_weight_grad(dw, dout, in, d, scratch);
    } else {
        int T = jobs < nn_par_threads() ? (int)jobs : nn_par_threads();
        for (int k = 0; k < T; k++)
            memset(thread_cols(&t, k) + col_elems(d), 0, ws * sizeof *dw);
        nn_par_for(jobs, pw ? conv1x1_bwd_jobs : conv_wgrad_jobs, &t);
        ReduceTask r = {dw, thread_cols(&t, 0) + col_elems(d), per_thread(d), T};
        nn_par_for((int64_t)ws, reduce_parts, &r);
    }
    if (dw && nn_paths_recording()) {
        const int direct = !dn && use_direct_wgrad(d);
        note_route(d, "dweight", dn ? "oneDNN" : direct ? "direct fp32" : pw ? "1x1" : "im2col",
                   !dn && !direct, t0, w0);
        t0 = wm_cpu_now();
        w0 = wm_now();
    }
    if (!din) return;
    t.need_dw = 0;
    t.din = din;
    NnConv2d g = grad_dims(d);
    dn = dnnl_pass(NN_DNNL_DGRAD, d, din, !assign, dout, w, 0) > 0;
    if (dn) {
        /* done */
    } else if (pw) {
        nn_par_for(jobs, conv1x1_bwd_jobs, &t);
    } else if (grad_is_conv(d) && use_direct(&g)) {
        nn_direct_conv(din, !assign, dout, w, 1, &g, scratch);
    } else if (grad_is_conv(d)) {
        /* a stride-1 convolution of dout, lowered by its own chunks of rows;
         * wt[c][o][kh-1-i][kw-1-j] = w[o][c][i][j] */
        NnReal *wt = scratch;
        const int kk = d->kh * d->kw;
        for (int o = 0; o < d->co; o++)
            for (int c = 0; c < d->ci; c++)
                for (int k = 0; k < kk; k++)
                    wt[((size_t)c * d->co + o) * kk + (kk - 1 - k)] =
                        w[((size_t)o * d->ci + c) * kk + k];
        t.wt = wt;
        t.rows = split_rows(&g);
        nn_par_for((g.n * g.oh + t.rows - 1) / t.rows, conv_dgrad_jobs, &t);
    } else {
        if (assign) memset(din, 0, sizeof *din * d->n * d->ci * d->h * d->w);
        t.rows = split_images(d);
        nn_par_for((d->n + t.rows - 1) / t.rows, conv_bwd_scatter_jobs, &t);
    }
    if (nn_paths_recording()) {
        const int direct = !dn && !pw && grad_is_conv(d) && use_direct(&g);
        note_route(d, "dinput",
                   dn      ? "oneDNN"
                   : pw    ? "1x1"
                   : direct ? "direct fp32"
                   : grad_is_conv(d) ? "im2col of dout"
                                     : "col2im",
                   !dn && !direct, t0, w0);
    }
}

void nn_conv2d_backward(NnReal *din, NnReal *dw, NnReal *dbias, const NnReal *dout,
                        const NnReal *in, const NnReal *w, const NnConv2d *d, NnReal *scratch) {
    conv_backward(din, dw, dbias, dout, in, w, d, scratch, 0);
}

void nn_conv2d_backward_assign(NnReal *din, NnReal *dw, NnReal *dbias, const NnReal *dout,
                               const NnReal *in, const NnReal *w, const NnConv2d *d,
                               NnReal *scratch) {
    conv_backward(din, dw, dbias, dout, in, w, d, scratch, 1);
}

void nn_conv2d_forward_naive(NnReal *out, const NnReal *in, const NnReal *w, const NnReal *bias,
                             const NnConv2d *d) {
    const size_t plane = (size_t)d->h * d->w, oplane = (size_t)d->oh * d->ow;
    for (int o = 0; o < d->co; o++)
        for (int b = 0; b < d->n; b++)
            for (int oy = 0; oy < d->oh; oy++)
                for (int ox = 0; ox < d->ow; ox++) {
                    double acc = bias ? bias[o] : 0;
                    for (int c = 0; c < d->ci; c++)
                        for (int ki = 0; ki < d->kh; ki++)
                            for (int kj = 0; kj < d->kw; kj++) {
                                int iy = oy * d->stride - d->pad + ki;
                                int ix = ox * d->stride - d->pad + kj;
                                if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w) continue;
                                acc +=
                                    (double)w[((size_t)(o * d->ci + c) * d->kh + ki) * d->kw + kj] *
                                    in[((size_t)c * d->n + b) * plane + (size_t)iy * d->w + ix];
                            }
                    out[((size_t)o * d->n + b) * oplane + (size_t)oy * d->ow + ox] = (NnReal)acc;
                }
}

void nn_conv2d_backward_naive(NnReal *din, NnReal *dw, NnReal *dbias, const NnReal *dout,
                              const NnReal *in, const NnReal *w, const NnConv2d *d) {
    const size_t plane = (size_t)d->h * d->w, oplane = (size_t)d->oh * d->ow;
    for (int o = 0; o < d->co; o++)
        for (int b = 0; b < d->n; b++)
            for (int oy = 0; oy < d->oh; oy++)
                for (int ox = 0; ox < d->ow; ox++) {
                    NnReal g = dout[((size_t)o * d->n + b) * oplane + (size_t)oy * d->ow + ox];
                    if (dbias) dbias[o] += g;
                    for (int c = 0; c < d->ci; c++)
                        for (int ki = 0; ki < d->kh; ki++)
                            for (int kj = 0; kj < d->kw; kj++) {
                                int iy = oy * d->stride - d->pad + ki;
                                int ix = ox * d->stride - d->pad + kj;
                                if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w) continue;
                                size_t wi = ((size_t)(o * d->ci + c) * d->kh + ki) * d->kw + kj;
                                size_t ii = ((size_t)c * d->n + b) * plane + (size_t)iy * d->w + ix;
                                if (dw) dw[wi] += g * in[ii];
                                if (din) din[ii] += g * w[wi];
                            }
                }
}

/* ---------------------------------------------------------------- linear */

void nn_linear_forward(NnReal *out, const NnReal *in, const NnReal *w, const NnReal *b, int n,
                       int fi, int fo) {
    if (nn_paths_recording())
        nn_path_notef("linear %5d x %4d -> %4d       forward/backward: GEMM %s", n, fi, fo,
                      nn_gemm_serial_path(n, fo, fi));
    nn_gemm(0, 1, n, fo, fi, 1, in, fi, w, fi, 0, out, fo);
    if (b)
        for (int i = 0; i < n; i++) {
            NnReal *o = out + (size_t)i * fo;
            for (int j = 0; j < fo; j++)
                o[j] += b[j];
        }
}

void nn_linear_backward(NnReal *din, NnReal *dw, NnReal *db, const NnReal *dout, const NnReal *in,
                        const NnReal *w, int n, int fi, int fo) {
    if (din) nn_gemm(0, 0, n, fi, fo, 1, dout, fo, w, fi, 1, din, fi);
    if (dw) nn_gemm(1, 0, fo, fi, n, 1, dout, fo, in, fi, 1, dw, fi);
    if (db)
        for (int i = 0; i < n; i++) {
            const NnReal *g = dout + (size_t)i * fo;
            for (int j = 0; j < fo; j++)
                db[j] += g[j];
        }
}

void nn_linear_forward_naive(NnReal *out, const NnReal *in, const NnReal *w, const NnReal *b, int n,
                             int fi, int fo) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < fo; j++) {
            double acc = b ? b[j] : 0;
            for (int k = 0; k < fi; k++)
                acc += (double)in[(size_t)i * fi + k] * w[(size_t)j * fi + k];
            out[(size_t)i * fo + j] = (NnReal)acc;
        }
}

void nn_linear_backward_naive(NnReal *din, NnReal *dw, NnReal *db, const NnReal *dout,
                              const NnReal *in, const NnReal *w, int n, int fi, int fo) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < fo; j++) {
            NnReal g = dout[(size_t)i * fo + j];
            if (db) db[j] += g;
            for (int k = 0; k < fi; k++) {
                if (din) din[(size_t)i * fi + k] += g * w[(size_t)j * fi + k];
                if (dw) dw[(size_t)j * fi + k] += g * in[(size_t)i * fi + k];
            }
        }
}
