/* ResNet encoders of BasicBlocks (ResNet-18 and narrower variants) on CNHW
 * activations, with torchvision's tensor names and initialisation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "nn/nn_impl.h"

typedef struct {
    int ci, co, stride, has_ds;
    size_t w1, w2, wd;
    NnBatchNormP bn1, bn2, bnd;
    /* activations, each sized for the bound batch */
    NnReal *c1, *a1, *c2, *cd, *rd, *y;
    NnReal *stat;     /* mean and rstd of bn1, bn2, bnd: 6 runs of co */
    int h, w, oh, ow; /* input and output sizes */
} Block;

struct NnResNet {
    NnResNetConfig cfg;
    NnRange range;
    size_t w0;
    NnBatchNormP bn0;
    int k0, s0, p0;
    Block *blk;
    int nblk;
    /* bound activations */
    int max_n, h, w, with_grad, bound, threads; /* threads: the scratch was sized for */
    WmArena arena;
    int hp, wp; /* after the stem (and its pool) */
    NnReal *c0, *a0, *pool, *stat0;
    int32_t *pidx;
    NnReal *scratch;
    NnReal *g[4]; /* gradient buffers: three of the largest activation, one for shortcuts */
    size_t gmax;
    int lent; /* the arena's storage is another network's (nn_resnet_bind_lent) */
    /* last forward */
    const NnReal *x;
    int n, train;
    NnProfile *prof;
};

NnResNetConfig nn_resnet18_config(int cifar_stem) {
    NnResNetConfig c = {cifar_stem, 3, {64, 128, 256, 512}, {2, 2, 2, 2}, 1, 1};
    return c;
}

NnResNetConfig nn_resnet_small_config(int width, int cifar_stem) {
    WM_ASSERT(width > 0);
    NnResNetConfig c = {cifar_stem, 3, {width, 2 * width, 4 * width, 8 * width}, {2, 2, 2, 2}, 1, 1};
    return c;
}

/* torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu"). */
static size_t conv_register(NnParams *p, const char *prefix, const char *name, int co, int ci,
                            int k) {
    float std = sqrtf(2.0f / (float)(co * k * k));
    return nn_params_add(p, prefix, name, NN_PARAM, 4,
                         (size_t[]){(size_t)co, (size_t)ci, (size_t)k, (size_t)k}, 1,
                         NN_INIT_NORMAL, std);
}

/* zero_init_residual: the block's last BN weight starts at 0, so each residual
 * branch starts as the identity. */
static void zero_init(NnParams *p, size_t gamma) {
    for (int i = 0; i < p->n; i++)
        if (p->t[i].kind == NN_PARAM && p->t[i].offset == gamma) p->t[i].init = NN_INIT_ZERO;
}

/* The stem's kernel, stride and padding: 3x3/1 pad 1 (CIFAR) or 7x7/2 pad 3. */
static void stem_params(const NnResNetConfig *cfg, int *k, int *s, int *pad) {
    *k = cfg->cifar_stem ? 3 : 7;
    *s = cfg->cifar_stem ? 1 : 2;
    *pad = cfg->cifar_stem ? 1 : 3;
}

NnResNet *nn_resnet_create(NnParams *p, const char *prefix, const NnResNetConfig *cfg) {
    WM_ASSERT(cfg->pool_grid >= 1);
    NnResNet *r = wm_new(NnResNet, 1);
    r->cfg = *cfg;
    char name[NN_NAME_MAX];
    r->range.begin = p->n_param;
    stem_params(cfg, &r->k0, &r->s0, &r->p0);
    r->w0 = conv_register(p, prefix, "conv1.weight", cfg->widths[0], cfg->in_ch, r->k0);
    nn_namef(name, "%s.bn1", prefix);
    r->bn0 = nn_batchnorm_register(p, name, cfg->widths[0], 1);
    for (int l = 0; l < 4; l++)
        r->nblk += cfg->blocks[l];
    r->blk = wm_new(Block, (size_t)r->nblk);
    int ci = cfg->widths[0], bi = 0;
    for (int l = 0; l < 4; l++)
        for (int i = 0; i < cfg->blocks[l]; i++, bi++) {
            Block *b = &r->blk[bi];
            b->ci = ci;
            b->co = cfg->widths[l];
            b->stride = (l > 0 && i == 0) ? 2 : 1;
            b->has_ds = b->stride != 1 || b->ci != b->co;
            char bp[NN_NAME_MAX];
            nn_namef(bp, "%s.layer%d.%d", prefix, l + 1, i);
            b->w1 = conv_register(p, bp, "conv1.weight", b->co, b->ci, 3);
            nn_namef(name, "%s.bn1", bp);
            b->bn1 = nn_batchnorm_register(p, name, b->co, 1);
            b->w2 = conv_register(p, bp, "conv2.weight", b->co, b->co, 3);
            nn_namef(name, "%s.bn2", bp);
            b->bn2 = nn_batchnorm_register(p, name, b->co, 1);
            if (cfg->zero_init_residual) zero_init(p, b->bn2.gamma);
            if (b->has_ds) {
                b->wd = conv_register(p, bp, "downsample.0.weight", b->co, b->ci, 1);
                nn_namef(name, "%s.downsample.1", bp);
                b->bnd = nn_batchnorm_register(p, name, b->co, 1);
            }
            ci = b->co;
        }
    r->range.end = p->n_param;
    return r;
}

void nn_resnet_destroy(NnResNet *r) {
    if (!r) return;
    if (r->bound && !r->lent) wm_arena_free(&r->arena);
    wm_free(r->blk);
    wm_free(r);
}

int nn_resnet_config_out_dim(const NnResNetConfig *cfg) {
    return cfg->widths[3] * cfg->pool_grid * cfg->pool_grid;
}

int nn_resnet_out_dim(const NnResNet *r) {
    return nn_resnet_config_out_dim(&r->cfg);
}
NnRange nn_resnet_range(const NnResNet *r) {
    return r->range;
}
void nn_resnet_set_profile(NnResNet *r, NnProfile *prof) {
    r->prof = prof;
}

int nn_resnet_out_side(const NnResNetConfig *cfg, int side) {
    /* set_dims' walk for one image side */
    int k, st, pad;
    stem_params(cfg, &k, &st, &pad);
    int s = nn_conv2d_dims(1, 1, side, side, 1, k, st, pad).oh;
    if (!cfg->cifar_stem) s = nn_maxpool2d_dims(1, 1, s, s, 3, 2, 1).oh;
    for (int l = 1; l < 4; l++) /* the first block of each later stage has stride 2 */
        s = nn_conv2d_dims(1, 1, s, s, 1, 3, 2, 1).oh;
    return s;
}

static NnConv2d stem_dims(const NnResNet *r, int n) {
    return nn_conv2d_dims(n, r->cfg.in_ch, r->h, r->w, r->cfg.widths[0], r->k0, r->s0, r->p0);
}

/* Every block's input and output sizes and the stem's output size (after its pool) for
 * n images; returns the pool's element count (0 with the CIFAR stem, which has none). */
static size_t set_dims(NnResNet *r, int n) {
    const int c0 = r->cfg.widths[0];
    NnConv2d d0 = stem_dims(r, n);
    int h = d0.oh, w = d0.ow;
    size_t ep = 0;
    if (!r->cfg.cifar_stem) {
        NnPool2d pd = nn_maxpool2d_dims(n, c0, h, w, 3, 2, 1);
        ep = (size_t)c0 * n * pd.oh * pd.ow;
        h = pd.oh;
        w = pd.ow;
    }
    r->hp = h;
    r->wp = w;
    for (int i = 0; i < r->nblk; i++) {
        Block *b = &r->blk[i];
        NnConv2d d1 = nn_conv2d_dims(n, b->ci, h, w, b->co, 3, b->stride, 1);
        b->h = h;
        b->w = w;
        b->oh = h = d1.oh;
        b->ow = w = d1.ow;
    }
    return ep;
}

/* Hands out (with an arena) and counts the bytes of one buffer, 64-byte aligned; both
 * layouts below use it. */
#define TAKE(ptr, T, count)                                                                        \
    do {                                                                                           \
        size_t bytes_ = ((size_t)(count) * sizeof(T) + 63) / 64 * 64;                              \
        total += bytes_;                                                                           \
        if (a) ptr = (T *)wm_arena_alloc(a, bytes_, 64);                                           \
    } while (0)

/* Without gradients nothing is kept for a backward pass, so every activation lives in one
 * of four buffers of the largest activation's size, handed round block by block: the
 * block's input, and three others for conv1/conv2 outputs, bn1's output and the
 * downsample branch (each overwritten only once it is dead). Sizes for n images; with an
 * arena, also hands them out. */
static size_t layout_shared(NnResNet *r, int n, WmArena *a) {
    size_t total = 0, scratch = 0, gmax = 0, ep = 0;
#define NOTE(d, e)                                                                                 \
    do {                                                                                           \
        size_t s_ = nn_conv2d_scratch(&(d));                                                       \
        if (s_ > scratch) scratch = s_;                                                            \
        if ((e) > gmax) gmax = (e);                                                                \
    } while (0)
    const int c0 = r->cfg.widths[0];
    NnConv2d d0 = stem_dims(r, n);
    NOTE(d0, (size_t)c0 * n * d0.oh * d0.ow);
    ep = set_dims(r, n);
    for (int i = 0; i < r->nblk; i++) {
        const Block *b = &r->blk[i];
        NnConv2d d1 = nn_conv2d_dims(n, b->ci, b->h, b->w, b->co, 3, b->stride, 1);
        NnConv2d d2 = nn_conv2d_dims(n, b->co, b->oh, b->ow, b->co, 3, 1, 1);
        size_t eo = (size_t)b->co * n * b->oh * b->ow;
        NOTE(d1, eo);
        NOTE(d2, eo);
        if (b->has_ds) {
            NnConv2d dd = nn_conv2d_dims(n, b->ci, b->h, b->w, b->co, 1, b->stride, 0);
            NOTE(dd, eo);
        }
    }
    NnReal *buf[4] = {0};
    for (int k = 0; k < 4; k++)
        TAKE(buf[k], NnReal, gmax);
    TAKE(r->stat0, NnReal, 2 * c0);
    if (ep) TAKE(r->pidx, int32_t, ep);
    for (int i = 0; i < r->nblk; i++)
        TAKE(r->blk[i].stat, NnReal, 6 * r->blk[i].co);
    TAKE(r->scratch, NnReal, scratch ? scratch : 1);
    r->gmax = gmax;
    if (a) {
        r->c0 = buf[0];
        r->a0 = buf[1];
        r->pool = ep ? buf[2] : NULL;
        int cur = ep ? 2 : 1;
        for (int i = 0; i < r->nblk; i++) {
            Block *b = &r->blk[i];
            int o[3], k = 0;
            for (int j = 0; j < 4; j++)
                if (j != cur) o[k++] = j;
            /* conv1 -> o0, bn1 -> o1, conv2 -> o0 (conv1's output is dead), downsample
             * conv -> o1 (bn1's output is dead), its bn -> o2, the block's output -> the
             * buffer that neither conv2's output nor the shortcut occupies */
            b->c1 = buf[o[0]];
            b->a1 = buf[o[1]];
            b->c2 = buf[o[0]];
            b->cd = b->has_ds ? buf[o[1]] : NULL;
            b->rd = b->has_ds ? buf[o[2]] : NULL;
            int yi = b->has_ds ? o[1] : o[2];
            b->y = buf[yi];
            cur = yi;
        }
    }
#undef NOTE
    return total;
}

/* Sizes every buffer for n images; with an arena, also hands them out. */
static size_t layout(NnResNet *r, int n, WmArena *a) {
    if (!r->with_grad) return layout_shared(r, n, a);
    size_t total = 0, scratch = 0, gmax = 0;
#define NOTE_SCRATCH(d)                                                                            \
    do {                                                                                           \
        size_t s_ = nn_conv2d_scratch(&(d));                                                       \
        if (s_ > scratch) scratch = s_;                                                            \
    } while (0)
    const int c0 = r->cfg.widths[0];
    NnConv2d d0 = stem_dims(r, n);
    NOTE_SCRATCH(d0);
    size_t e0 = (size_t)c0 * n * d0.oh * d0.ow;
    gmax = e0;
    if ((size_t)r->cfg.in_ch * n * r->h * r->w > gmax)
        gmax = (size_t)r->cfg.in_ch * n * r->h * r->w;
    /* the stem's convolution output is not kept: the forward writes it into a gradient
     * buffer and backward computes it again from the input (the stem is a small share of
     * the work); with the max-pool stem its normalised output goes the same way (its
     * backward rebuilds the ReLU mask, like bn1's), with the CIFAR stem it is block 0's
     * input and stays */
    if (r->cfg.cifar_stem) TAKE(r->a0, NnReal, e0);
    TAKE(r->stat0, NnReal, 2 * c0);
    size_t ep = set_dims(r, n);
    size_t gsc = 0; /* g[3]: the downsample blocks' shortcut gradients */
    if (ep) {
        TAKE(r->pool, NnReal, ep);
        TAKE(r->pidx, int32_t, ep);
    }
    for (int i = 0; i < r->nblk; i++) {
        Block *b = &r->blk[i];
        NnConv2d d1 = nn_conv2d_dims(n, b->ci, b->h, b->w, b->co, 3, b->stride, 1);
        NnConv2d d2 = nn_conv2d_dims(n, b->co, b->oh, b->ow, b->co, 3, 1, 1);
        NOTE_SCRATCH(d1);
        NOTE_SCRATCH(d2);
        size_t eo = (size_t)b->co * n * b->oh * b->ow;
        if (eo > gmax) gmax = eo;
        /* bn1's output (a1) and the downsample branch's bn output (rd) are not kept: the
         * forward writes them into gradient buffers (idle until backward), and backward
         * rebuilds a1 from c1 and bn1's saved statistics (nn_batchnorm2d_apply) for
         * conv2's weight gradient, and bn1's ReLU mask from the same three */
        TAKE(b->c1, NnReal, eo);
        TAKE(b->c2, NnReal, eo);
        TAKE(b->y, NnReal, eo);
        TAKE(b->stat, NnReal, 6 * b->co);
        if (b->has_ds) {
            NnConv2d dd = nn_conv2d_dims(n, b->ci, b->h, b->w, b->co, 1, b->stride, 0);
            NOTE_SCRATCH(dd);
            TAKE(b->cd, NnReal, eo);
            if (eo > gsc) gsc = eo;
        }
    }
    TAKE(r->scratch, NnReal, scratch ? scratch : 1);
    r->gmax = gmax;
    /* g[3] holds only the downsample blocks' shortcut gradients, so it is sized for
     * those, not for the largest activation; g[0..2] come one after the other, the
     * region nn_resnet_bind_lent lends */
    for (int i = 0; i < 4; i++)
        TAKE(r->g[i], NnReal, i == 3 ? (gsc ? gsc : 1) : gmax);
    if (a) {
        r->c0 = r->g[2];
        if (!r->cfg.cifar_stem) r->a0 = r->g[0];
        for (int i = 0; i < r->nblk; i++) {
            r->blk[i].a1 = r->g[0];
            r->blk[i].rd = r->blk[i].has_ds ? r->g[1] : NULL;
        }
    }
#undef TAKE
#undef NOTE_SCRATCH
    return total;
}

static void bind_dims(NnResNet *r, int max_n, int h, int w, int with_grad) {
    WM_ASSERT(max_n > 0 && h > 0 && w > 0);
    if (r->bound && !r->lent) wm_arena_free(&r->arena);
    r->bound = r->lent = 0;
    r->max_n = max_n;
    r->h = h;
    r->w = w;
    r->with_grad = with_grad;
    r->threads = nn_runtime_threads();
    WM_ASSERT(nn_resnet_out_side(&r->cfg, h) >= r->cfg.pool_grid &&
              nn_resnet_out_side(&r->cfg, w) >= r->cfg.pool_grid);
}

size_t nn_resnet_bind(NnResNet *r, int max_n, int h, int w, int with_grad) {
    bind_dims(r, max_n, h, w, with_grad);
    size_t bytes = layout(r, max_n, NULL) + 64 * 64;
    wm_arena_init(&r->arena, bytes);
    layout(r, max_n, &r->arena);
    r->bound = 1;
    return bytes;
}

size_t nn_resnet_bind_lent(NnResNet *r, int max_n, int h, int w, const NnResNet *lender) {
    WM_ASSERT(lender->bound && lender->with_grad && !lender->lent);
    bind_dims(r, max_n, h, w, 0);
    /* g[0..2], handed out one after the other by the lender's arena */
    unsigned char *lo = (unsigned char *)lender->g[0], *hi = (unsigned char *)lender->g[3];
    size_t need = layout(r, max_n, NULL) + 64 * 64;
    if (need > (size_t)(hi - lo)) return nn_resnet_bind(r, max_n, h, w, 0);
    /* an arena over storage it does not own: never freed here (r->lent) */
    r->arena = (WmArena){lo, (size_t)(hi - lo), 0, 0};
    layout(r, max_n, &r->arena);
    r->bound = r->lent = 1;
    return 0;
}

double nn_resnet_flops(const NnResNet *r, int h, int w) {
    NnConv2d d0 = nn_conv2d_dims(1, r->cfg.in_ch, h, w, r->cfg.widths[0], r->k0, r->s0, r->p0);
    double f = nn_conv2d_flops(&d0);
    h = d0.oh;
    w = d0.ow;
    if (!r->cfg.cifar_stem) {
        NnPool2d pd = nn_maxpool2d_dims(1, r->cfg.widths[0], h, w, 3, 2, 1);
        h = pd.oh;
        w = pd.ow;
    }
    for (int i = 0; i < r->nblk; i++) {
        const Block *b = &r->blk[i];
        NnConv2d d1 = nn_conv2d_dims(1, b->ci, h, w, b->co, 3, b->stride, 1);
        NnConv2d d2 = nn_conv2d_dims(1, b->co, d1.oh, d1.ow, b->co, 3, 1, 1);
        f += nn_conv2d_flops(&d1) + nn_conv2d_flops(&d2);
        if (b->has_ds) {
            NnConv2d dd = nn_conv2d_dims(1, b->ci, h, w, b->co, 1, b->stride, 0);
            f += nn_conv2d_flops(&dd);
        }
        h = d1.oh;
        w = d1.ow;
    }
    return f;
}

double nn_resnet_train_flops(const NnResNet *r, int h, int w) {
    NnConv2d d0 = nn_conv2d_dims(1, r->cfg.in_ch, h, w, r->cfg.widths[0], r->k0, r->s0, r->p0);
    /* backward is twice forward, less the stem's input gradient, which it never forms */
    return 3 * nn_resnet_flops(r, h, w) - nn_conv2d_flops(&d0);
}

static NnReal *ptr_or_null(NnReal *base, size_t off) {
    return off == NN_NONE ? NULL : base + off;
}

static void bn_fwd(NnReal *out, NnReal *stat, const NnReal *in, const NnReal *res, int relu,
                   const NnBatchNormP *bp, int count, const NnStore *s, int train) {
    NnBatchNorm d = {bp->c, count, 0.1f, 1e-5f, train, relu};
    nn_batchnorm2d_forward(out, stat, stat + bp->c, in, res, ptr_or_null(s->param, bp->gamma),
                           ptr_or_null(s->param, bp->beta), s->buf + bp->run_mean,
                           s->buf + bp->run_var, &d);
    if (train) s->count[bp->nbt] += 1;
}

/* A training forward's ReLU'd batch-norm output, rebuilt from its input and saved
 * statistics (bit for bit, nn_batchnorm2d_apply), for a backward that did not keep it. */
static void bn_rebuild(NnReal *out, const NnReal *in, const NnReal *stat, const NnBatchNormP *bp, int count,
                       const NnStore *s) {
    NnBatchNorm d = {bp->c, count, 0.1f, 1e-5f, 1, 1};
    nn_batchnorm2d_apply(out, in, stat, stat + bp->c, ptr_or_null(s->param, bp->gamma),
                         ptr_or_null(s->param, bp->beta), &d);
}

/* Overwrites din and dres (the blocks' gradient buffers are scratch). */
static void bn_bwd(NnReal *din, NnReal *dres, const NnReal *dout, const NnReal *out,
                   const NnReal *in, const NnReal *stat, int relu, const NnBatchNormP *bp,
                   int count, const NnStore *s) {
    NnBatchNorm d = {bp->c, count, 0.1f, 1e-5f, 1, relu};
    nn_bn2d_backward_assign(din, dres, ptr_or_null(s->grad, bp->gamma),
                            ptr_or_null(s->grad, bp->beta), dout, out, in, stat, stat + bp->c,
                            ptr_or_null(s->param, bp->gamma), &d);
}

void nn_resnet_forward(NnResNet *r, NnReal *out, const NnReal *x, int n, const NnStore *s,
                       int train) {
    WM_ASSERT(r->bound && n > 0 && n <= r->max_n);
    WM_ASSERT(nn_runtime_threads() <= r->threads); /* more threads than bound for: rebind */
    r->x = x;
    r->n = n;
    r->train = train;
    NnProfile *prof = r->prof;
    double t0 = prof ? wm_now() : 0;
    const int c0 = r->cfg.widths[0];
    NnConv2d d0 = stem_dims(r, n);
    nn_conv2d_forward(r->c0, x, s->param + r->w0, NULL, &d0, r->scratch);
    nn_prof_tick(prof, 0, NN_OP_CONV, nn_conv2d_flops(&d0), &t0);
    bn_fwd(r->a0, r->stat0, r->c0, NULL, 1, &r->bn0, n * d0.oh * d0.ow, s, train);
    nn_prof_tick(prof, 0, NN_OP_BN, 0, &t0);
    const NnReal *cur = r->a0;
    if (!r->cfg.cifar_stem) {
        NnPool2d pd = nn_maxpool2d_dims(n, c0, d0.oh, d0.ow, 3, 2, 1);
        nn_maxpool2d_forward(r->pool, r->pidx, r->a0, &pd);
        cur = r->pool;
        nn_prof_tick(prof, 0, NN_OP_POOL, 0, &t0);
    }
    for (int i = 0; i < r->nblk; i++) {
        Block *b = &r->blk[i];
        NnConv2d d1 = nn_conv2d_dims(n, b->ci, b->h, b->w, b->co, 3, b->stride, 1);
        NnConv2d d2 = nn_conv2d_dims(n, b->co, b->oh, b->ow, b->co, 3, 1, 1);
        const int cnt = n * b->oh * b->ow;
        nn_conv2d_forward(b->c1, cur, s->param + b->w1, NULL, &d1, r->scratch);
        nn_prof_tick(prof, 0, NN_OP_CONV, nn_conv2d_flops(&d1), &t0);
        bn_fwd(b->a1, b->stat, b->c1, NULL, 1, &b->bn1, cnt, s, train);
        nn_prof_tick(prof, 0, NN_OP_BN, 0, &t0);
        nn_conv2d_forward(b->c2, b->a1, s->param + b->w2, NULL, &d2, r->scratch);
        nn_prof_tick(prof, 0, NN_OP_CONV, nn_conv2d_flops(&d2), &t0);
        const NnReal *shortcut = cur;
        if (b->has_ds) {
            NnConv2d dd = nn_conv2d_dims(n, b->ci, b->h, b->w, b->co, 1, b->stride, 0);
            nn_conv2d_forward(b->cd, cur, s->param + b->wd, NULL, &dd, r->scratch);
            nn_prof_tick(prof, 0, NN_OP_CONV, nn_conv2d_flops(&dd), &t0);
            bn_fwd(b->rd, b->stat + 4 * b->co, b->cd, NULL, 0, &b->bnd, cnt, s, train);
            shortcut = b->rd;
        }
        bn_fwd(b->y, b->stat + 2 * b->co, b->c2, shortcut, 1, &b->bn2, cnt, s, train);
        nn_prof_tick(prof, 0, NN_OP_BN, 0, &t0);
        cur = b->y;
    }
    const Block *last = &r->blk[r->nblk - 1];
    if (r->cfg.pool_grid > 1)
        nn_gridpool_forward(out, cur, n, last->co, last->oh, last->ow, r->cfg.pool_grid);
    else
        nn_avgpool_forward(out, cur, n, last->co, last->oh * last->ow);
    nn_prof_tick(prof, 0, NN_OP_POOL, 0, &t0);
}

static void zero(NnReal *x, size_t n) {
    memset(x, 0, n * sizeof *x);
}

/* bn1 (and the max-pool stem's bn0) backward without its output: the ReLU mask is
 * rebuilt from the convolution output and the saved statistics. */
static void bn_bwd_rebuild(NnReal *din, const NnReal *dout, const NnReal *in, const NnReal *stat,
                           const NnBatchNormP *bp, int count, const NnStore *s) {
    NnBatchNorm d = {bp->c, count, 0.1f, 1e-5f, 1, 1};
    nn_bn2d_backward_rebuild(din, ptr_or_null(s->grad, bp->gamma), ptr_or_null(s->grad, bp->beta),
                             dout, in, stat, stat + bp->c, ptr_or_null(s->param, bp->gamma),
                             ptr_or_null(s->param, bp->beta), &d);
}

/* Three buffers of the largest activation (g[0..2]) and the shortcut buffer (g[3]) hold
 * every gradient: a block's output gradient, its input gradient and one in between,
 * which is where bn1's output is rebuilt, then overwritten by its own gradient once
 * conv2's weight gradient has used it. */
void nn_resnet_backward(NnResNet *r, NnReal *dx, const NnReal *dout, const NnStore *s) {
    WM_ASSERT(r->bound && r->with_grad && r->train && s->grad);
    NnProfile *prof = r->prof;
    double t0 = prof ? wm_now() : 0;
    const int n = r->n;
    const int c0 = r->cfg.widths[0];
    NnReal *gy = r->g[0], *gx = r->g[1], *t1 = r->g[2], *t2 = r->g[3];
    const Block *last = &r->blk[r->nblk - 1];
    size_t elast = (size_t)last->co * n * last->oh * last->ow;
    zero(gy, elast);
    if (r->cfg.pool_grid > 1)
        nn_gridpool_backward(gy, dout, n, last->co, last->oh, last->ow, r->cfg.pool_grid);
    else
        nn_avgpool_backward(gy, dout, n, last->co, last->oh * last->ow);
    nn_prof_tick(prof, 1, NN_OP_POOL, 0, &t0);
    for (int i = r->nblk - 1; i >= 0; i--) {
        const Block *b = &r->blk[i];
        const NnReal *in = i > 0 ? r->blk[i - 1].y : (r->cfg.cifar_stem ? r->a0 : r->pool);
        NnConv2d d1 = nn_conv2d_dims(n, b->ci, b->h, b->w, b->co, 3, b->stride, 1);
        NnConv2d d2 = nn_conv2d_dims(n, b->co, b->oh, b->ow, b->co, 3, 1, 1);
        const int cnt = n * b->oh * b->ow;
        /* y = relu(bn2(c2) + shortcut): dc2 -> t1, the shortcut's gradient -> gx (identity)
         * or t2 (downsample); every buffer below is overwritten before it is read */
        bn_bwd(t1, b->has_ds ? t2 : gx, gy, b->y, b->c2, b->stat + 2 * b->co, 1, &b->bn2, cnt, s);
        nn_prof_tick(prof, 1, NN_OP_BN, 0, &t0);
        /* gy is dead from here to the end of the block: bn1's output is rebuilt in it for
         * conv2's weight gradient, then conv2's input gradient replaces it */
        NnReal *a1 = gy;
        bn_rebuild(a1, b->c1, b->stat, &b->bn1, cnt, s);
        nn_prof_tick(prof, 1, NN_OP_BN, 0, &t0);
        nn_conv2d_backward_assign(a1, s->grad + b->w2, NULL, t1, a1, s->param + b->w2, &d2,
                                  r->scratch);
        nn_prof_tick(prof, 1, NN_OP_CONV, 2 * nn_conv2d_flops(&d2), &t0);
        bn_bwd_rebuild(t1, a1, b->c1, b->stat, &b->bn1, cnt, s);
        nn_prof_tick(prof, 1, NN_OP_BN, 0, &t0);
        if (b->has_ds) {
            nn_conv2d_backward_assign(gx, s->grad + b->w1, NULL, t1, in, s->param + b->w1, &d1,
                                      r->scratch);
            nn_prof_tick(prof, 1, NN_OP_CONV, 2 * nn_conv2d_flops(&d1), &t0);
            NnConv2d dd = nn_conv2d_dims(n, b->ci, b->h, b->w, b->co, 1, b->stride, 0);
            bn_bwd(a1, NULL, t2, NULL, b->cd, b->stat + 4 * b->co, 0, &b->bnd, cnt, s);
            nn_prof_tick(prof, 1, NN_OP_BN, 0, &t0);
            nn_conv2d_backward(gx, s->grad + b->wd, NULL, a1, in, s->param + b->wd, &dd,
                               r->scratch);
            nn_prof_tick(prof, 1, NN_OP_CONV, 2 * nn_conv2d_flops(&dd), &t0);
        } else {
            nn_conv2d_backward(gx, s->grad + b->w1, NULL, t1, in, s->param + b->w1, &d1,
                               r->scratch);
            nn_prof_tick(prof, 1, NN_OP_CONV, 2 * nn_conv2d_flops(&d1), &t0);
        }
        NnReal *tmp = gy;
        gy = gx;
        gx = tmp;
    }
    /* gy now holds the gradient of the stem's output */
    NnConv2d d0 = stem_dims(r, n);
    const NnReal *da0 = gy;
    NnReal *dc0 = t1;
    if (!r->cfg.cifar_stem) {
        const size_t e0 = (size_t)c0 * n * d0.oh * d0.ow;
        NnPool2d pd = nn_maxpool2d_dims(n, c0, d0.oh, d0.ow, 3, 2, 1);
        zero(gx, e0);
        nn_maxpool2d_backward(gx, gy, r->pidx, &pd);
        da0 = gx;
        dc0 = gy; /* the pool's gradient is dead */
        nn_prof_tick(prof, 1, NN_OP_POOL, 0, &t0);
    }
    /* the stem's convolution output again (bit for bit the forward's: same input, weights
     * and threads); with the max-pool stem, bn0's ReLU mask is rebuilt from it */
    NnReal *c0buf = r->cfg.cifar_stem ? gx : t1;
    nn_conv2d_forward(c0buf, r->x, s->param + r->w0, NULL, &d0, r->scratch);
    nn_prof_tick(prof, 1, NN_OP_CONV, nn_conv2d_flops(&d0), &t0);
    if (r->cfg.cifar_stem)
        bn_bwd(dc0, NULL, da0, r->a0, c0buf, r->stat0, 1, &r->bn0, n * d0.oh * d0.ow, s);
    else
        bn_bwd_rebuild(dc0, da0, c0buf, r->stat0, &r->bn0, n * d0.oh * d0.ow, s);
    nn_prof_tick(prof, 1, NN_OP_BN, 0, &t0);
    nn_conv2d_backward(dx, s->grad + r->w0, NULL, dc0, r->x, s->param + r->w0, &d0, r->scratch);
    nn_prof_tick(prof, 1, NN_OP_CONV, (dx ? 2 : 1) * nn_conv2d_flops(&d0), &t0);
}
