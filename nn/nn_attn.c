/* Multi-head self-attention as torch.nn.MultiheadAttention: one fused QKV projection
 * (in_proj_weight), per-head scaled dot-product softmax with dropout on the
 * probabilities, and the output projection. Sequences are short (a handful of views),
 * so the per-head products are plain loops split over (batch, head) pairs. */
#include <math.h>
#include <string.h>

#include "core/err.h"
#include "nn/nn_impl.h"

size_t nn_mha_scratch(const NnMha *d) {
    size_t bt = (size_t)d->b * d->t;
    return bt * d->e + bt * 3 * d->e + (size_t)d->b * d->heads * d->t * d->t;
}

typedef struct {
    const NnMha *d;
    const NnMhaCache *c;
    NnReal *dctx, *dqkv, *datt;
} AttnTask;

static NnReal drop_scale(const NnMha *d) {
    return (NnReal)(1.0 / (1.0 - d->dropout));
}

static void attn_fwd_pairs(void *ctx, int64_t p0, int64_t p1, int worker) {
    (void)worker;
    const AttnTask *t = ctx;
    const NnMha *d = t->d;
    const int T = d->t, E = d->e, dh = E / d->heads;
    const double scale = 1.0 / sqrt((double)dh);
    const NnReal ds = drop_scale(d);
    for (int64_t p = p0; p < p1; p++) {
        const int b = (int)(p / d->heads), h = (int)(p % d->heads);
        const NnReal *qkv = t->c->qkv + (size_t)b * T * 3 * E;
        NnReal *att = t->c->att + (size_t)p * T * T;
        const uint8_t *mask = d->dropout > 0 ? t->c->mask + (size_t)p * T * T : NULL;
        for (int i = 0; i < T; i++) {
            const NnReal *q = qkv + (size_t)i * 3 * E + h * dh;
            NnReal *a = att + (size_t)i * T;
            double mx = -INFINITY;
            for (int j = 0; j < T; j++) {
                const NnReal *k = qkv + (size_t)j * 3 * E + E + h * dh;
                double s = 0;
                for (int x = 0; x < dh; x++)
                    s += (double)q[x] * k[x];
                a[j] = (NnReal)(s * scale);
                if (a[j] > mx) mx = a[j];
            }
            double sum = 0;
            for (int j = 0; j < T; j++) {
                double e = exp(a[j] - mx);
                a[j] = (NnReal)e;
                sum += e;
            }
            for (int j = 0; j < T; j++)
                a[j] = (NnReal)(a[j] / sum);
            NnReal *o = t->c->ctx + ((size_t)b * T + i) * E + h * dh;
            for (int x = 0; x < dh; x++)
                o[x] = 0;
            for (int j = 0; j < T; j++) {
                NnReal w = mask ? (mask[(size_t)i * T + j] ? a[j] * ds : 0) : a[j];
                const NnReal *v = qkv + (size_t)j * 3 * E + 2 * E + h * dh;
                for (int x = 0; x < dh; x++)
                    o[x] += w * v[x];
            }
        }
    }
}

static void attn_bwd_pairs(void *ctx, int64_t p0, int64_t p1, int worker) {
    (void)worker;
    const AttnTask *t = ctx;
    const NnMha *d = t->d;
    const int T = d->t, E = d->e, dh = E / d->heads;
    const NnReal scale = (NnReal)(1.0 / sqrt((double)dh));
    const NnReal ds = drop_scale(d);
    for (int64_t p = p0; p < p1; p++) {
        const int b = (int)(p / d->heads), h = (int)(p % d->heads);
        const NnReal *qkv = t->c->qkv + (size_t)b * T * 3 * E;
        NnReal *dqkv = t->dqkv + (size_t)b * T * 3 * E;
        const NnReal *att = t->c->att + (size_t)p * T * T;
        const uint8_t *mask = d->dropout > 0 ? t->c->mask + (size_t)p * T * T : NULL;
        NnReal *datt = t->datt + (size_t)p * T * T;
        for (int i = 0; i < T; i++) {
            const NnReal *go = t->dctx + ((size_t)b * T + i) * E + h * dh;
            const NnReal *a = att + (size_t)i * T;
            NnReal *ga = datt + (size_t)i * T;
            /* through the weighted sum: dv_j += w_ij go_i, dw_ij = go_i . v_j */
            for (int j = 0; j < T; j++) {
                const NnReal *v = qkv + (size_t)j * 3 * E + 2 * E + h * dh;
                NnReal *dv = dqkv + (size_t)j * 3 * E + 2 * E + h * dh;
                NnReal keep = mask ? (mask[(size_t)i * T + j] ? ds : 0) : 1;
                NnReal w = a[j] * keep;
                double g = 0;
                for (int x = 0; x < dh; x++) {
                    g += (double)go[x] * v[x];
                    dv[x] += w * go[x];
                }
                ga[j] = (NnReal)g * keep;
            }
            /* through the softmax */
            double dot = 0;
            for (int j = 0; j < T; j++)
                dot += (double)a[j] * ga[j];
            for (int j = 0; j < T; j++)
                ga[j] = a[j] * (ga[j] - (NnReal)dot) * scale;
            /* through the scores s_ij = q_i . k_j * scale */
            const NnReal *q = qkv + (size_t)i * 3 * E + h * dh;
            NnReal *dq = dqkv + (size_t)i * 3 * E + h * dh;
            for (int j = 0; j < T; j++) {
                const NnReal *k = qkv + (size_t)j * 3 * E + E + h * dh;
                NnReal *dk = dqkv + (size_t)j * 3 * E + E + h * dh;
                for (int x = 0; x < dh; x++) {
                    dq[x] += ga[j] * k[x];
                    dk[x] += ga[j] * q[x];
                }
            }
        }
    }
}

void nn_mha_forward(NnReal *out, const NnMhaCache *c, const NnReal *in, const NnMhaWeights *w,
                    const NnMha *d, WmRng *rng) {
    WM_ASSERT(d->e % d->heads == 0);
    WM_ASSERT(d->dropout >= 0 && d->dropout < 1);
    const int bt = d->b * d->t, E = d->e;
    nn_linear_forward(c->qkv, in, w->in_w, w->in_b, bt, E, 3 * E);
    if (d->dropout > 0) {
        WM_ASSERT(rng && c->mask);
        size_t n = (size_t)d->b * d->heads * d->t * d->t;
        for (size_t i = 0; i < n; i++)
            c->mask[i] = wm_rng_uniformf(rng) >= d->dropout;
    }
    AttnTask t = {d, c, NULL, NULL, NULL};
    nn_par_for((int64_t)d->b * d->heads, attn_fwd_pairs, &t);
    nn_linear_forward(out, c->ctx, w->out_w, w->out_b, bt, E, E);
}

void nn_mha_backward(NnReal *din, const NnMhaGrads *g, const NnReal *dout, const NnMhaCache *c,
                     const NnReal *in, const NnMhaWeights *w, const NnMha *d, NnReal *scratch) {
    const int bt = d->b * d->t, E = d->e;
    NnReal *dctx = scratch, *dqkv = dctx + (size_t)bt * E, *datt = dqkv + (size_t)bt * 3 * E;
    memset(dctx, 0, sizeof *dctx * (size_t)bt * E);
    memset(dqkv, 0, sizeof *dqkv * (size_t)bt * 3 * E);
    nn_linear_backward(dctx, g->out_w, g->out_b, dout, c->ctx, w->out_w, bt, E, E);
    AttnTask t = {d, c, dctx, dqkv, datt};
    nn_par_for((int64_t)d->b * d->heads, attn_bwd_pairs, &t);
    nn_linear_backward(din, g->in_w, g->in_b, dqkv, in, w->in_w, bt, E, 3 * E);
}
