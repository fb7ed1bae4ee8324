/* Direct stride-1 convolution, for the layers where lowering to a GEMM costs more
 * than the multiplications: narrow channels, where each im2col column is used by few
 * outputs. A chunk of images is copied into zero-padded planes; then every output
 * pixel q of the padded grid is out[o][q] = sum_c sum_taps K[o][c][tap] *
 * pad[c][q + offset(tap)], computed COT channels by RUN pixels at a time in vector
 * registers, and the valid pixels are copied out. This file is built with
 * -ffp-contract=fast so those multiply-adds become FMAs: the result depends on the
 * instruction set the CPU offers, never on timing or threads. */
#include <string.h>

#include "core/err.h"
#include "nn/nn_impl.h"

#define VL  (64 / (int)sizeof(NnReal)) /* reals per 512-bit vector */
#define RUN (2 * VL)                   /* output pixels per kernel call */
#define COT 8                          /* output channels per kernel call */
/* A chunk's padded input planes aim at this many reals (a share of L2). */
#define PAD_CHUNK_ELEMS ((size_t)1 << 17)
/* Grid pixels per pass of the weight-gradient kernel (a multiple of RUN). */
#define WG_BLOCK 2048

typedef NnReal Vec __attribute__((vector_size(64), aligned(sizeof(NnReal))));
#ifdef NN_REAL_DOUBLE
typedef int64_t VecI __attribute__((vector_size(64)));
#else
typedef int32_t VecI __attribute__((vector_size(64)));
#endif

/* Sum of the lanes by a fixed pairwise tree (halves, quarters, ...). Takes a pointer:
 * a 64-byte vector passed by value has an ABI that changed across gcc versions (gcc
 * says so in a note on every build without AVX-512). */
static inline NnReal lane_sum(const Vec *p) {
    Vec v = *p;
    for (int w = VL / 2; w >= 1; w /= 2) {
        VecI m = {0};
        for (int l = 0; l < VL; l++)
            m[l] = (l + w) % VL;
        v += __builtin_shuffle(v, m);
    }
    return v[0];
}

typedef struct {
    int hp, wp;    /* padded plane */
    int nb;        /* images per chunk */
    size_t plane;  /* reals per channel of a chunk: nb*hp*wp plus slack for the taps */
    size_t nq;     /* padded-grid pixels computed per chunk, a multiple of RUN */
    size_t wpack;  /* packed kernel */
    size_t thread; /* per-thread scratch: padded input and one COT x nq output tile */
    size_t wgrad;  /* per-thread scratch of the weight gradient: padded input, dout on
                      the padded grid, partial gradient */
} Plan;

static Plan plan(const NnConv2d *d) {
    Plan p;
    p.hp = d->h + 2 * d->pad;
    p.wp = d->w + 2 * d->pad;
    size_t img = (size_t)p.hp * p.wp;
    size_t nb = PAD_CHUNK_ELEMS / ((size_t)d->ci * img);
    /* at least eight chunks when the batch allows, so threads share the work evenly */
    if (nb > ((size_t)d->n + 7) / 8) nb = ((size_t)d->n + 7) / 8;
    if (nb < 1) nb = 1;
    if (nb > (size_t)d->n) nb = (size_t)d->n;
    p.nb = (int)nb;
    /* last valid pixel of the chunk's grid, rounded up to whole runs */
    size_t last = (nb - 1) * img + (size_t)(d->oh - 1) * p.wp + d->ow;
    p.nq = (last + RUN - 1) / RUN * RUN;
    size_t reach = (size_t)(d->kh - 1) * p.wp + (d->kw - 1);
    p.plane = (p.nq + reach + 15) / 16 * 16;
    if (p.plane < nb * img) p.plane = (nb * img + 15) / 16 * 16;
    p.wpack = (size_t)(d->co + COT - 1) / COT * COT * d->ci * d->kh * d->kw;
    p.thread = (size_t)d->ci * p.plane + (size_t)COT * p.nq;
    p.wgrad =
        (size_t)d->ci * p.plane + (size_t)d->co * p.nq + (size_t)d->co * d->ci * d->kh * d->kw * VL;
    return p;
}

/* Index one past the last valid output pixel of a chunk of nb images on the grid. */
static size_t last_pixel(const NnConv2d *d, const Plan *p, int nb) {
    return (size_t)(nb - 1) * p->hp * p->wp + (size_t)(d->oh - 1) * p->wp + d->ow;
}

int nn_direct_ok(const NnConv2d *d) {
    /* narrow planes waste most of a run on padding columns */
    return d->stride == 1 && d->ow >= 8 && d->pad <= d->kh - 1 && d->pad <= d->kw - 1 &&
           d->kh * d->kw <= 49;
}

int nn_direct_native(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    static int native = -1; /* read and written atomically: any thread may ask first */
    int v = __atomic_load_n(&native, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx512f") ? 1 : 0;
        __atomic_store_n(&native, v, __ATOMIC_RELAXED);
    }
    return v;
#else
    return 0;
#endif
}

size_t nn_direct_scratch(const NnConv2d *d, int threads) {
    Plan p = plan(d);
    size_t fwd = p.wpack + (size_t)threads * p.thread, wg = (size_t)threads * p.wgrad;
    return fwd > wg ? fwd : wg;
}

/* acc[o][x] = sum over c, taps of wt[c][tap][o] * in[c*plane + off[tap] + x], for RUN
 * pixels x; tile[o * ld + x] = acc. */
NN_HOT static void run_kernel(NnReal *tile, size_t ld, const NnReal *in, size_t plane,
                              const NnReal *wt, int ci, const int *off, int kk) {
    Vec acc[COT][2];
    for (int o = 0; o < COT; o++)
        acc[o][0] = acc[o][1] = (Vec){0};
    for (int c = 0; c < ci; c++) {
        const NnReal *ip = in + (size_t)c * plane;
        const NnReal *wc = wt + (size_t)c * kk * COT;
        for (int k = 0; k < kk; k++) {
            Vec x0, x1;
            memcpy(&x0, ip + off[k], sizeof x0);
            memcpy(&x1, ip + off[k] + VL, sizeof x1);
            const NnReal *w8 = wc + k * COT;
            for (int o = 0; o < COT; o++) {
                acc[o][0] += x0 * w8[o];
                acc[o][1] += x1 * w8[o];
            }
        }
    }
    for (int o = 0; o < COT; o++) {
        memcpy(tile + o * ld, &acc[o][0], sizeof acc[o][0]);
        memcpy(tile + o * ld + VL, &acc[o][1], sizeof acc[o][1]);
    }
}

typedef struct {
    const NnConv2d *d;
    Plan p;
    const NnReal *in, *wt, *dout;
    NnReal *out, *scratch;
    int accumulate;
    int off[50]; /* tap offsets, zero-padded to a multiple of five */
} Task;

/* Zero-padded copy of images [b0, b0+nb) of x (c channels of h x w, n images) into
 * planes of p->plane reals, zeros past the last image. */
NN_HOT static void pad_chunk(NnReal *pad, const NnReal *x, int c, const NnConv2d *d, const Plan *p,
                             int b0, int nb) {
    const size_t img = (size_t)p->hp * p->wp;
    const int pd = d->pad, right = p->wp - pd - d->w;
    for (int k = 0; k < c; k++) {
        NnReal *dst = pad + (size_t)k * p->plane;
        for (int b = 0; b < nb; b++) {
            const NnReal *src = x + ((size_t)k * d->n + b0 + b) * d->h * d->w;
            NnReal *im = dst + b * img;
            for (size_t i = 0; i < (size_t)pd * p->wp; i++)
                im[i] = 0;                   /* top rows */
            for (int y = 0; y < d->h; y++) { /* short rows: loops beat memcpy calls */
                NnReal *to = im + (size_t)(y + pd) * p->wp;
                const NnReal *from = src + (size_t)y * d->w;
                for (int i = 0; i < pd; i++)
                    to[i] = 0;
                for (int i = 0; i < d->w; i++)
                    to[pd + i] = from[i];
                for (int i = 0; i < right; i++)
                    to[pd + d->w + i] = 0;
            }
            for (size_t i = (size_t)(d->h + pd) * p->wp; i < img; i++)
                im[i] = 0; /* bottom */
        }
        for (size_t i = nb * img; i < p->plane; i++)
            dst[i] = 0; /* past the last image */
    }
}

/* The valid pixels of one channel's grid tile into CNHW rows (added when accumulate). */
NN_HOT static void unpad(NnReal *out, const NnReal *tile, const NnConv2d *d, const Plan *p, int nb,
                         int accumulate) {
    const size_t img = (size_t)p->hp * p->wp;
    for (int b = 0; b < nb; b++)
        for (int y = 0; y < d->oh; y++) {
            const NnReal *src = tile + b * img + (size_t)y * p->wp;
            NnReal *dst = out + ((size_t)b * d->oh + y) * d->ow;
            if (accumulate)
                for (int x = 0; x < d->ow; x++)
                    dst[x] += src[x];
            else
                for (int x = 0; x < d->ow; x++)
                    dst[x] = src[x];
        }
}

static void chunk_jobs(void *ctx, int64_t j0, int64_t j1, int worker) {
    const Task *t = ctx;
    const NnConv2d *d = t->d;
    const Plan *p = &t->p;
    const int kk = d->kh * d->kw, oh = d->oh, ow = d->ow;
    const size_t ohw = (size_t)oh * ow, ldo = (size_t)d->n * ohw;
    NnReal *pad = t->scratch + p->wpack + (size_t)worker * p->thread;
    NnReal *tile = pad + (size_t)d->ci * p->plane;
    for (int64_t j = j0; j < j1; j++) {
        const int b0 = (int)j * p->nb, nb = d->n - b0 < p->nb ? d->n - b0 : p->nb;
        pad_chunk(pad, t->in, d->ci, d, p, b0, nb);
        const size_t nq = (last_pixel(d, p, nb) + RUN - 1) / RUN * RUN;
        for (int o0 = 0; o0 < d->co; o0 += COT) {
            const NnReal *wt = t->wt + (size_t)o0 * d->ci * kk;
            for (size_t q = 0; q < nq; q += RUN)
                run_kernel(tile + q, p->nq, pad + q, p->plane, wt, d->ci, t->off, kk);
            const int no = d->co - o0 < COT ? d->co - o0 : COT;
            for (int o = 0; o < no; o++)
                unpad(t->out + (size_t)(o0 + o) * ldo + (size_t)b0 * ohw, tile + (size_t)o * p->nq,
                      d, p, nb, t->accumulate);
        }
    }
}

void nn_direct_conv(NnReal *out, int accumulate, const NnReal *in, const NnReal *w,
                    int transpose_flip, const NnConv2d *d, NnReal *scratch) {
    WM_ASSERT(nn_direct_ok(d));
    Task t = {d, plan(d), in, scratch, NULL, out, scratch, accumulate, {0}};
    const int kk = d->kh * d->kw;
    for (int i = 0; i < d->kh; i++)
        for (int k = 0; k < d->kw; k++)
            t.off[i * d->kw + k] = i * t.p.wp + k;
    /* packed kernel wt[o / COT][c][tap][o % COT], zero for channels past co; with
     * transpose_flip, w is the forward kernel [ci'=d->co][co'=d->ci][kh][kw] of the
     * convolution whose input gradient this is */
    NnReal *wt = scratch;
    memset(wt, 0, sizeof *wt * t.p.wpack);
    for (int o = 0; o < d->co; o++)
        for (int c = 0; c < d->ci; c++)
            for (int k = 0; k < kk; k++) {
                NnReal v = transpose_flip ? w[((size_t)c * d->co + o) * kk + (kk - 1 - k)]
                                          : w[((size_t)o * d->ci + c) * kk + k];
                wt[(((size_t)(o / COT) * d->ci + c) * kk + k) * COT + o % COT] = v;
            }
    nn_par_for((d->n + t.p.nb - 1) / t.p.nb, chunk_jobs, &t);
}

/* ---------------------------------------------------------------- weight gradient */

/* acc[o][tap] += the lane-wise products g_o[q] * in[q + off[tap]] over the grid
 * pixels q < nq, for four output channels (their gradients on the padded grid, zero
 * off the valid pixels) and one input channel; acc holds one vector per (o, tap), the
 * lanes summed once at the end. Five taps per pass keep 20 sums and 4 gradient
 * vectors in registers, so each (unaligned) input load feeds four multiply-adds.
 * off[] is padded with zeros to a multiple of five and the extra sums dropped. */
#define WG_O 4
#define WG_T 5
NN_HOT static void wgrad_kernel(Vec *const *acc, const NnReal *const *g, const NnReal *in,
                                size_t nq, const int *off, int kk) {
    for (int k0 = 0; k0 < kk; k0 += WG_T) {
        const int *ot = off + k0;
        Vec a[WG_O][WG_T];
        for (int o = 0; o < WG_O; o++)
            for (int k = 0; k < WG_T; k++)
                a[o][k] = (Vec){0};
        for (size_t q = 0; q < nq; q += VL) {
            Vec v[WG_O];
            for (int o = 0; o < WG_O; o++)
                memcpy(&v[o], g[o] + q, sizeof v[o]);
            for (int k = 0; k < WG_T; k++) {
                Vec x;
                memcpy(&x, in + q + ot[k], sizeof x);
                for (int o = 0; o < WG_O; o++)
                    a[o][k] += v[o] * x;
            }
        }
        const int nk = kk - k0 < WG_T ? kk - k0 : WG_T;
        for (int o = 0; o < WG_O; o++)
            if (acc[o])
                for (int k = 0; k < nk; k++)
                    acc[o][k0 + k] += a[o][k];
    }
}

/* One channel of dout on the padded grid: pixel (b, y, x) at b*img + y*wp + x, zeros
 * elsewhere. */
NN_HOT static void to_grid(NnReal *g, const NnReal *dout, const NnConv2d *d, const Plan *p,
                           int nb) {
    const size_t img = (size_t)p->hp * p->wp;
    memset(g, 0, sizeof *g * p->nq);
    for (int b = 0; b < nb; b++)
        for (int y = 0; y < d->oh; y++) {
            NnReal *to = g + b * img + (size_t)y * p->wp;
            const NnReal *from = dout + ((size_t)b * d->oh + y) * d->ow;
            for (int x = 0; x < d->ow; x++)
                to[x] = from[x];
        }
}

static void wgrad_jobs(void *ctx, int64_t j0, int64_t j1, int worker) {
    const Task *t = ctx;
    const NnConv2d *d = t->d;
    const Plan *p = &t->p;
    const int kk = d->kh * d->kw, oh = d->oh, ow = d->ow;
    const size_t ohw = (size_t)oh * ow, ldo = (size_t)d->n * ohw;
    NnReal *pad = t->scratch + (size_t)worker * p->wgrad;
    NnReal *grid = pad + (size_t)d->ci * p->plane;
    Vec *part = (Vec *)(grid + (size_t)d->co * p->nq);
    for (int64_t j = j0; j < j1; j++) {
        const int b0 = (int)j * p->nb, nb = d->n - b0 < p->nb ? d->n - b0 : p->nb;
        pad_chunk(pad, t->in, d->ci, d, p, b0, nb);
        for (int o = 0; o < d->co; o++)
            to_grid(grid + (size_t)o * p->nq, t->dout + (size_t)o * ldo + (size_t)b0 * ohw, d, p,
                    nb);
        /* blocks of the grid small enough that an output pair's gradient stays in L1
         * while every input channel passes under it */
        const size_t nq = (last_pixel(d, p, nb) + RUN - 1) / RUN * RUN;
        for (size_t q0 = 0; q0 < nq; q0 += WG_BLOCK) {
            const size_t len = nq - q0 < WG_BLOCK ? nq - q0 : WG_BLOCK;
            for (int o = 0; o < d->co; o += WG_O) {
                const NnReal *g[WG_O];
                for (int i = 0; i < WG_O; i++) /* past co: repeat a channel, drop its sums */
                    g[i] = grid + (size_t)(o + i < d->co ? o + i : o) * p->nq + q0;
                for (int c = 0; c < d->ci; c++) {
                    Vec *acc[WG_O];
                    for (int i = 0; i < WG_O; i++)
                        acc[i] = o + i < d->co ? part + ((size_t)(o + i) * d->ci + c) * kk : NULL;
                    wgrad_kernel(acc, g, pad + (size_t)c * p->plane + q0, len, t->off, kk);
                }
            }
        }
    }
}

typedef struct {
    NnReal *dw;
    const Vec *part;
    size_t stride; /* in vectors */
    int T;
} WgradSum;

/* dw += the threads' partial sums: vectors added in thread order, then their lanes by
 * a fixed tree. */
static void wgrad_sum(void *ctx, int64_t i0, int64_t i1, int worker) {
    (void)worker;
    const WgradSum *r = ctx;
    for (int64_t i = i0; i < i1; i++) {
        Vec v = r->part[i];
        for (int k = 1; k < r->T; k++)
            v += r->part[(size_t)k * r->stride + i];
        r->dw[i] += lane_sum(&v);
    }
}

void nn_direct_weight_grad(NnReal *dw, const NnReal *dout, const NnReal *in, const NnConv2d *d,
                           NnReal *scratch) {
    WM_ASSERT(nn_direct_ok(d));
    Task t = {d, plan(d), in, NULL, dout, NULL, scratch, 1, {0}};
    for (int i = 0; i < d->kh; i++)
        for (int k = 0; k < d->kw; k++)
            t.off[i * d->kw + k] = i * t.p.wp + k;
    const int64_t jobs = (d->n + t.p.nb - 1) / t.p.nb;
    const int T = jobs < nn_par_threads() ? (int)jobs : nn_par_threads();
    const size_t ws = (size_t)d->co * d->ci * d->kh * d->kw;
    const size_t head = (size_t)d->ci * t.p.plane + (size_t)d->co * t.p.nq;
    for (int k = 0; k < T; k++)
        memset(scratch + (size_t)k * t.p.wgrad + head, 0, sizeof(Vec) * ws);
    nn_par_for(jobs, wgrad_jobs, &t);
    WgradSum r = {dw, (const Vec *)(scratch + head), t.p.wgrad / VL, T};
    nn_par_for((int64_t)ws, wgrad_sum, &r);
}
