/* Token-side blocks: the post-norm transformer encoder (torch.nn.TransformerEncoder of
 * TransformerEncoderLayer) and the MLP head (a torch.nn.Sequential of Linear,
 * BatchNorm1d and ReLU), with PyTorch names and initialisation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "nn/nn_impl.h"

static NnReal *opt(NnReal *base, size_t off) {
    return off == NN_NONE ? NULL : base + off;
}
static void zero(NnReal *x, size_t n) {
    memset(x, 0, n * sizeof *x);
}

/* Hands out 64-byte aligned pieces, or only counts them when a is NULL. */
static void *take(WmArena *a, size_t *total, size_t bytes) {
    bytes = (bytes + 63) / 64 * 64;
    *total += bytes;
    return a ? wm_arena_alloc(a, bytes, 64) : NULL;
}
#define TAKE(a, tot, T, n) ((T *)take((a), (tot), sizeof(T) * (size_t)(n)))

/* ---------------------------------------------------------------- transformer */

typedef struct {
    size_t in_w, in_b, out_w, out_b;
    NnLinearP l1, l2;
    NnLayerNormP n1, n2;
    /* activations */
    NnMhaCache mc;
    NnReal *sa, *sad, *r1, *h1, *f1, *f1d, *f2, *f2d, *r2, *y, *st1, *st2;
    uint8_t *m1, *mf, *m2;
} TfLayer;

struct NnTransformer {
    NnTransformerConfig cfg;
    TfLayer *ly;
    NnLayerNormP fn;
    int max_b, max_t, with_grad, bound;
    WmArena arena;
    NnReal *fst;                      /* final norm statistics */
    NnReal *ge[5], *gf[2], *mscratch; /* backward buffers */
    const NnReal *x;
    int b, t, train;
    NnProfile *prof;
};

NnTransformer *nn_transformer_create(NnParams *p, const char *prefix,
                                     const NnTransformerConfig *cfg) {
    WM_ASSERT(cfg->layers > 0 && cfg->e > 0 && cfg->heads > 0 && cfg->e % cfg->heads == 0);
    WM_ASSERT(cfg->ffn > 0 && cfg->dropout >= 0 && cfg->dropout < 1);
    NnTransformer *t = wm_new(NnTransformer, 1);
    t->cfg = *cfg;
    t->ly = wm_new(TfLayer, (size_t)cfg->layers);
    const size_t E = (size_t)cfg->e;
    for (int i = 0; i < cfg->layers; i++) {
        TfLayer *L = &t->ly[i];
        char lp[NN_NAME_MAX], name[NN_NAME_MAX];
        nn_namef(lp, "%s.layers.%d", prefix, i);
        nn_namef(name, "%s.self_attn", lp);
        /* torch: xavier_uniform_ in_proj_weight, zero biases, out_proj as a Linear */
        L->in_w = nn_params_add(p, name, "in_proj_weight", NN_PARAM, 2, (size_t[]){3 * E, E}, 1,
                                NN_INIT_UNIFORM, sqrtf(6.0f / (float)(4 * E)));
        L->in_b = nn_params_add(p, name, "in_proj_bias", NN_PARAM, 1, (size_t[]){3 * E}, 0,
                                NN_INIT_ZERO, 0);
        L->out_w = nn_params_add(p, name, "out_proj.weight", NN_PARAM, 2, (size_t[]){E, E}, 1,
                                 NN_INIT_UNIFORM, 1.0f / sqrtf((float)E));
        L->out_b =
            nn_params_add(p, name, "out_proj.bias", NN_PARAM, 1, (size_t[]){E}, 0, NN_INIT_ZERO, 0);
        nn_namef(name, "%s.linear1", lp);
        L->l1 = nn_linear_register(p, name, cfg->e, cfg->ffn, 1);
        nn_namef(name, "%s.linear2", lp);
        L->l2 = nn_linear_register(p, name, cfg->ffn, cfg->e, 1);
        nn_namef(name, "%s.norm1", lp);
        L->n1 = nn_layernorm_register(p, name, cfg->e);
        nn_namef(name, "%s.norm2", lp);
        L->n2 = nn_layernorm_register(p, name, cfg->e);
    }
    if (cfg->final_norm) {
        char name[NN_NAME_MAX];
        if (cfg->norm_name)
            nn_namef(name, "%s", cfg->norm_name);
        else
            nn_namef(name, "%s.norm", prefix);
        t->fn = nn_layernorm_register(p, name, cfg->e);
    }
    return t;
}

void nn_transformer_destroy(NnTransformer *t) {
    if (!t) return;
    if (t->bound) wm_arena_free(&t->arena);
    wm_free(t->ly);
    wm_free(t);
}

void nn_transformer_set_profile(NnTransformer *t, NnProfile *prof) {
    t->prof = prof;
}

static size_t tf_layout(NnTransformer *t, WmArena *a) {
    size_t tot = 0;
    const size_t bt = (size_t)t->max_b * t->max_t, E = (size_t)t->cfg.e, F = (size_t)t->cfg.ffn;
    const size_t att = (size_t)t->max_b * t->cfg.heads * t->max_t * t->max_t;
    for (int i = 0; i < t->cfg.layers; i++) {
        TfLayer *L = &t->ly[i];
        L->mc.qkv = TAKE(a, &tot, NnReal, bt * 3 * E);
        L->mc.att = TAKE(a, &tot, NnReal, att);
        L->mc.mask = TAKE(a, &tot, uint8_t, att);
        L->mc.ctx = TAKE(a, &tot, NnReal, bt * E);
        L->sa = TAKE(a, &tot, NnReal, bt * E);
        L->sad = TAKE(a, &tot, NnReal, bt * E);
        L->r1 = TAKE(a, &tot, NnReal, bt * E);
        L->h1 = TAKE(a, &tot, NnReal, bt * E);
        L->f1 = TAKE(a, &tot, NnReal, bt * F);
        L->f1d = TAKE(a, &tot, NnReal, bt * F);
        L->f2 = TAKE(a, &tot, NnReal, bt * E);
        L->f2d = TAKE(a, &tot, NnReal, bt * E);
        L->r2 = TAKE(a, &tot, NnReal, bt * E);
        L->y = TAKE(a, &tot, NnReal, bt * E);
        L->st1 = TAKE(a, &tot, NnReal, 2 * bt);
        L->st2 = TAKE(a, &tot, NnReal, 2 * bt);
        L->m1 = TAKE(a, &tot, uint8_t, bt * E);
        L->mf = TAKE(a, &tot, uint8_t, bt * F);
        L->m2 = TAKE(a, &tot, uint8_t, bt * E);
    }
    t->fst = TAKE(a, &tot, NnReal, 2 * bt);
    if (t->with_grad) {
        for (int i = 0; i < 5; i++)
            t->ge[i] = TAKE(a, &tot, NnReal, bt * E);
        for (int i = 0; i < 2; i++)
            t->gf[i] = TAKE(a, &tot, NnReal, bt * F);
        NnMha md = {t->max_b, t->max_t, t->cfg.e, t->cfg.heads, t->cfg.dropout};
        t->mscratch = TAKE(a, &tot, NnReal, nn_mha_scratch(&md));
    }
    return tot;
}

size_t nn_transformer_bind(NnTransformer *t, int max_b, int max_t, int with_grad) {
    WM_ASSERT(max_b > 0 && max_t > 0);
    if (t->bound) wm_arena_free(&t->arena);
    t->max_b = max_b;
    t->max_t = max_t;
    t->with_grad = with_grad;
    size_t bytes = tf_layout(t, NULL) + 4096;
    wm_arena_init(&t->arena, bytes);
    tf_layout(t, &t->arena);
    t->bound = 1;
    return bytes;
}

double nn_transformer_flops(const NnTransformer *t, int b, int nt) {
    const double bt = (double)b * nt, E = t->cfg.e, F = t->cfg.ffn;
    double per_layer =
        2 * bt * E * 3 * E + 2 * 2 * (double)b * nt * nt * E + 2 * bt * E * E + 2 * 2 * bt * E * F;
    return per_layer * t->cfg.layers;
}

void nn_transformer_forward(NnTransformer *t, NnReal *out, const NnReal *x, int b, int nt,
                            const NnStore *s, int train, WmRng *rng) {
    WM_ASSERT(t->bound && b > 0 && nt > 0 && b <= t->max_b && nt <= t->max_t);
    t->x = x;
    t->b = b;
    t->t = nt;
    t->train = train;
    const int bt = b * nt, E = t->cfg.e, F = t->cfg.ffn;
    const float p = train ? t->cfg.dropout : 0;
    const size_t be = (size_t)bt * E, bf = (size_t)bt * F;
    const NnReal *w = s->param;
    NnProfile *prof = t->prof;
    double t0 = prof ? wm_now() : 0;
    const NnReal *cur = x;
    for (int i = 0; i < t->cfg.layers; i++) {
        TfLayer *L = &t->ly[i];
        NnMha md = {b, nt, E, t->cfg.heads, p};
        NnMhaWeights mw = {w + L->in_w, w + L->in_b, w + L->out_w, w + L->out_b};
        nn_mha_forward(L->sa, &L->mc, cur, &mw, &md, rng);
        nn_prof_tick(prof, 0, NN_OP_ATTN, 2.0 * bt * E * 4 * E + 4.0 * b * nt * nt * E, &t0);
        nn_dropout_forward(L->sad, L->m1, L->sa, be, p, rng);
        nn_add_forward(L->r1, cur, L->sad, be);
        nn_prof_tick(prof, 0, NN_OP_ELEM, 0, &t0);
        nn_layernorm_forward(L->h1, L->st1, L->st1 + bt, L->r1, w + L->n1.gamma, w + L->n1.beta, bt,
                             E, 1e-5f);
        nn_prof_tick(prof, 0, NN_OP_LN, 0, &t0);
        nn_linear_forward(L->f1, L->h1, w + L->l1.w, w + L->l1.b, bt, E, F);
        nn_prof_tick(prof, 0, NN_OP_LINEAR, 2.0 * bt * E * F, &t0);
        nn_relu_forward(L->f1, L->f1, bf);
        nn_dropout_forward(L->f1d, L->mf, L->f1, bf, p, rng);
        nn_prof_tick(prof, 0, NN_OP_ELEM, 0, &t0);
        nn_linear_forward(L->f2, L->f1d, w + L->l2.w, w + L->l2.b, bt, F, E);
        nn_prof_tick(prof, 0, NN_OP_LINEAR, 2.0 * bt * E * F, &t0);
        nn_dropout_forward(L->f2d, L->m2, L->f2, be, p, rng);
        nn_add_forward(L->r2, L->h1, L->f2d, be);
        nn_prof_tick(prof, 0, NN_OP_ELEM, 0, &t0);
        nn_layernorm_forward(L->y, L->st2, L->st2 + bt, L->r2, w + L->n2.gamma, w + L->n2.beta, bt,
                             E, 1e-5f);
        nn_prof_tick(prof, 0, NN_OP_LN, 0, &t0);
        cur = L->y;
    }
    if (t->cfg.final_norm)
        nn_layernorm_forward(out, t->fst, t->fst + bt, cur, w + t->fn.gamma, w + t->fn.beta, bt, E,
                             1e-5f);
    else
        memcpy(out, cur, be * sizeof *out);
    nn_prof_tick(prof, 0, NN_OP_LN, 0, &t0);
}

void nn_transformer_backward(NnTransformer *t, NnReal *dx, const NnReal *dout, const NnStore *s) {
    WM_ASSERT(t->bound && t->with_grad && s->grad);
    const int b = t->b, nt = t->t, bt = b * nt, E = t->cfg.e, F = t->cfg.ffn;
    const float p = t->train ? t->cfg.dropout : 0;
    const size_t be = (size_t)bt * E, bf = (size_t)bt * F;
    const NnReal *w = s->param;
    NnReal *g = s->grad;
    NnProfile *prof = t->prof;
    double t0 = prof ? wm_now() : 0;
    NnReal *gy = t->ge[0], *gx = t->ge[1], *dr = t->ge[2], *dh1 = t->ge[3], *de = t->ge[4];
    NnReal *df = t->gf[0], *df2 = t->gf[1];
    zero(gy, be);
    const NnReal *last = t->ly[t->cfg.layers - 1].y;
    if (t->cfg.final_norm)
        nn_layernorm_backward(gy, g + t->fn.gamma, g + t->fn.beta, dout, last, t->fst, t->fst + bt,
                              w + t->fn.gamma, bt, E);
    else
        memcpy(gy, dout, be * sizeof *gy);
    nn_prof_tick(prof, 1, NN_OP_LN, 0, &t0);
    for (int i = t->cfg.layers - 1; i >= 0; i--) {
        TfLayer *L = &t->ly[i];
        const NnReal *in = i > 0 ? t->ly[i - 1].y : t->x;
        /* y = norm2(r2), r2 = h1 + drop(f2) */
        zero(dr, be);
        nn_layernorm_backward(dr, g + L->n2.gamma, g + L->n2.beta, gy, L->r2, L->st2, L->st2 + bt,
                              w + L->n2.gamma, bt, E);
        nn_prof_tick(prof, 1, NN_OP_LN, 0, &t0);
        memcpy(dh1, dr, be * sizeof *dh1);
        zero(de, be);
        nn_dropout_backward(de, dr, L->m2, be, p);
        nn_prof_tick(prof, 1, NN_OP_ELEM, 0, &t0);
        /* f2 = linear2(drop(relu(linear1(h1)))) */
        zero(df, bf);
        nn_linear_backward(df, g + L->l2.w, g + L->l2.b, de, L->f1d, w + L->l2.w, bt, F, E);
        nn_prof_tick(prof, 1, NN_OP_LINEAR, 4.0 * bt * E * F, &t0);
        zero(df2, bf);
        nn_dropout_backward(df2, df, L->mf, bf, p);
        zero(df, bf);
        nn_relu_backward(df, df2, L->f1, bf);
        nn_prof_tick(prof, 1, NN_OP_ELEM, 0, &t0);
        nn_linear_backward(dh1, g + L->l1.w, g + L->l1.b, df, L->h1, w + L->l1.w, bt, E, F);
        nn_prof_tick(prof, 1, NN_OP_LINEAR, 4.0 * bt * E * F, &t0);
        /* h1 = norm1(r1), r1 = in + drop(self_attn(in)) */
        zero(dr, be);
        nn_layernorm_backward(dr, g + L->n1.gamma, g + L->n1.beta, dh1, L->r1, L->st1, L->st1 + bt,
                              w + L->n1.gamma, bt, E);
        nn_prof_tick(prof, 1, NN_OP_LN, 0, &t0);
        memcpy(gx, dr, be * sizeof *gx);
        zero(de, be);
        nn_dropout_backward(de, dr, L->m1, be, p);
        nn_prof_tick(prof, 1, NN_OP_ELEM, 0, &t0);
        NnMha md = {b, nt, E, t->cfg.heads, p};
        NnMhaWeights mw = {w + L->in_w, w + L->in_b, w + L->out_w, w + L->out_b};
        NnMhaGrads mg = {g + L->in_w, g + L->in_b, g + L->out_w, g + L->out_b};
        nn_mha_backward(gx, &mg, de, &L->mc, in, &mw, &md, t->mscratch);
        nn_prof_tick(prof, 1, NN_OP_ATTN, 2 * (2.0 * bt * E * 4 * E + 4.0 * b * nt * nt * E), &t0);
        NnReal *tmp = gy;
        gy = gx;
        gx = tmp;
    }
    if (dx) nn_add_backward(dx, NULL, gy, be);
}

/* ---------------------------------------------------------------- MLP */

typedef struct {
    NnLinearP lin;
    NnBatchNormP bn;
    int act, has_bn; /* ReLU (and BN) after this linear */
    NnReal *z, *a, *st;
} MlpLayer;

struct NnMlp {
    NnMlpConfig cfg;
    MlpLayer ly[NN_MLP_MAX];
    int max_n, with_grad, bound, maxd;
    WmArena arena;
    NnReal *g[3];
    const NnReal *x;
    int n, train;
};

NnMlp *nn_mlp_create(NnParams *p, const char *prefix, const NnMlpConfig *cfg) {
    WM_ASSERT(cfg->n_layers > 0 && cfg->n_layers <= NN_MLP_MAX);
    NnMlp *m = wm_new(NnMlp, 1);
    m->cfg = *cfg;
    int idx = 0;
    for (int i = 0; i < cfg->n_layers; i++) {
        MlpLayer *L = &m->ly[i];
        char name[NN_NAME_MAX];
        WM_ASSERT(cfg->dims[i] > 0 && cfg->dims[i + 1] > 0);
        nn_namef(name, "%s.%d", prefix, idx++);
        L->lin = nn_linear_register(p, name, cfg->dims[i], cfg->dims[i + 1], cfg->bias[i]);
        L->act = i < cfg->n_layers - 1 || cfg->last_act;
        L->has_bn = L->act && cfg->bn;
        if (L->has_bn) {
            nn_namef(name, "%s.%d", prefix, idx++);
            L->bn = nn_batchnorm_register(p, name, cfg->dims[i + 1], cfg->bn_affine);
        }
        if (L->act) idx++; /* ReLU has no tensors */
        if (cfg->dims[i + 1] > m->maxd) m->maxd = cfg->dims[i + 1];
    }
    if (cfg->dims[0] > m->maxd) m->maxd = cfg->dims[0];
    return m;
}

void nn_mlp_destroy(NnMlp *m) {
    if (!m) return;
    if (m->bound) wm_arena_free(&m->arena);
    wm_free(m);
}

static size_t mlp_layout(NnMlp *m, WmArena *a) {
    size_t tot = 0;
    for (int i = 0; i < m->cfg.n_layers; i++) {
        MlpLayer *L = &m->ly[i];
        size_t e = (size_t)m->max_n * m->cfg.dims[i + 1];
        L->z = TAKE(a, &tot, NnReal, e);
        L->a = L->has_bn ? TAKE(a, &tot, NnReal, e) : L->z;
        L->st = TAKE(a, &tot, NnReal, 2 * (size_t)m->cfg.dims[i + 1]);
    }
    if (m->with_grad)
        for (int i = 0; i < 3; i++)
            m->g[i] = TAKE(a, &tot, NnReal, (size_t)m->max_n * m->maxd);
    return tot;
}

size_t nn_mlp_bind(NnMlp *m, int max_n, int with_grad) {
    WM_ASSERT(max_n > 0);
    if (m->bound) wm_arena_free(&m->arena);
    m->max_n = max_n;
    m->with_grad = with_grad;
    size_t bytes = mlp_layout(m, NULL) + 4096;
    wm_arena_init(&m->arena, bytes);
    mlp_layout(m, &m->arena);
    m->bound = 1;
    return bytes;
}

void nn_mlp_forward(NnMlp *m, NnReal *out, const NnReal *x, int n, const NnStore *s, int train) {
    WM_ASSERT(m->bound && n > 0 && n <= m->max_n);
    m->x = x;
    m->n = n;
    m->train = train;
    const NnReal *cur = x;
    for (int i = 0; i < m->cfg.n_layers; i++) {
        MlpLayer *L = &m->ly[i];
        const int fi = m->cfg.dims[i], fo = m->cfg.dims[i + 1];
        nn_linear_forward(L->z, cur, s->param + L->lin.w, opt(s->param, L->lin.b), n, fi, fo);
        if (L->has_bn) {
            NnBatchNorm d = {fo, n, 0.1f, 1e-5f, train, 1};
            nn_batchnorm1d_forward(L->a, L->st, L->st + fo, L->z, NULL, opt(s->param, L->bn.gamma),
                                   opt(s->param, L->bn.beta), s->buf + L->bn.run_mean,
                                   s->buf + L->bn.run_var, &d);
            if (train) s->count[L->bn.nbt] += 1;
        } else if (L->act) {
            nn_relu_forward(L->a, L->z, (size_t)n * fo);
        }
        cur = L->a;
    }
    memcpy(out, cur, sizeof *out * (size_t)n * m->cfg.dims[m->cfg.n_layers]);
}

void nn_mlp_backward(NnMlp *m, NnReal *dx, const NnReal *dout, const NnStore *s) {
    WM_ASSERT(m->bound && m->with_grad && s->grad);
    const int n = m->n;
    NnReal *gy = m->g[0], *gx = m->g[1], *gz = m->g[2];
    const int L_last = m->cfg.n_layers - 1;
    memcpy(gy, dout, sizeof *gy * (size_t)n * m->cfg.dims[L_last + 1]);
    for (int i = L_last; i >= 0; i--) {
        MlpLayer *L = &m->ly[i];
        const int fi = m->cfg.dims[i], fo = m->cfg.dims[i + 1];
        const NnReal *dz = gy;
        if (L->has_bn) {
            NnBatchNorm d = {fo, n, 0.1f, 1e-5f, m->train, 1};
            zero(gz, (size_t)n * fo);
            nn_batchnorm1d_backward(gz, NULL, opt(s->grad, L->bn.gamma), opt(s->grad, L->bn.beta),
                                    gy, L->a, L->z, L->st, L->st + fo, opt(s->param, L->bn.gamma),
                                    &d);
            dz = gz;
        } else if (L->act) {
            zero(gz, (size_t)n * fo);
            nn_relu_backward(gz, gy, L->a, (size_t)n * fo);
            dz = gz;
        }
        const NnReal *in = i > 0 ? m->ly[i - 1].a : m->x;
        NnReal *din = i > 0 ? gx : dx;
        if (i > 0) zero(gx, (size_t)n * fi);
        nn_linear_backward(din, s->grad + L->lin.w, opt(s->grad, L->lin.b), dz, in,
                           s->param + L->lin.w, n, fi, fo);
        NnReal *tmp = gy;
        gy = gx;
        gx = tmp;
    }
}
