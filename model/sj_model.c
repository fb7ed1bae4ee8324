/* The seq-JEPA model: forward, backward, update, eval passes, checkpoints. */
#include "model/sj_model.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

struct SjModel {
    SjModelConfig cfg;
    SjShape shape;
    float mean[3], std[3];
    int D, A, Ae, E; /* encoder width, action dim, action embedding, token width */

    NnParams p, tp; /* online registry; target encoder registry */
    NnStore s, ts;
    NnResNet *enc, *tenc;
    NnTransformer *tf;
    NnMlp *pred;
    NnLinearP ap;     /* action_proj.0 */
    NnBatchNormP abn; /* action_proj.1 (affine=False) */
    size_t agg;       /* agg_token */
    NnRange enc_range;
    NnAdamW opt;

    /* bound sizes and activation buffers */
    int max_b, max_m, with_grad;
    size_t bound_bytes;
    uint8_t *stage;                 /* gathered views [max_b*max_m, H, W, 3] */
    float *x, *xt;                  /* CNHW images: observed, target */
    float *z, *zt;                  /* [B*M, D], [B, D] */
    float *a_in, *e_lin, *e;        /* [B*M, A], [B*M, Ae] x2 */
    float *bn_mean, *bn_rstd;       /* [Ae] */
    float *tok, *tout;              /* [B*(M+1), E] */
    float *zagg, *pin, *zhat;       /* [B, E], [B, E+Ae], [B, D] */
    float *lcache;                  /* [3B] */
    float *vcws;                    /* [D*D + 2D] variance-covariance cache (training only) */
    float *dzhat, *dpin, *dtout, *dtok, *dz, *de, *de_lin;
    int last_B, last_M;
};

static int resolve_encoder(const SjModelConfig *cfg, const SjShape *sh, NnResNetConfig *rc, char *err,
                           size_t errsz) {
    switch (cfg->encoder) {
    case SJ_ENC_RESNET18: *rc = nn_resnet18_config(0); break;
    case SJ_ENC_RESNET18_CIFAR: *rc = nn_resnet18_config(1); break;
    default:
        *rc = nn_resnet18_config(1);
        for (int i = 0; i < 4; i++) rc->widths[i] = cfg->width << i;
        break;
    }
    rc->zero_init_residual = cfg->zero_init_residual;
    rc->pool_grid = cfg->pool_grid;
    int min_side = rc->cifar_stem ? 8 : 32;
    if (sh->img_h < min_side || sh->img_w < min_side)
        return wm_errf(err, errsz, WM_ERR_ARG, "images of %dx%d are too small for this encoder (at least %d)",
                       sh->img_h, sh->img_w, min_side);
    int oh = nn_resnet_out_side(rc, sh->img_h), ow = nn_resnet_out_side(rc, sh->img_w);
    if (oh < rc->pool_grid || ow < rc->pool_grid)
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "model.pool_grid = %d: the encoder's last feature map is %dx%d for %dx%d images",
                       rc->pool_grid, oh, ow, sh->img_h, sh->img_w);
    return WM_OK;
}

int sj_model_create(const SjModelConfig *cfg, const SjShape *shape, uint64_t seed, SjModel **out, char *err,
                    size_t errsz) {
    *out = NULL;
    SjModel *m = wm_new(SjModel, 1);
    m->cfg = *cfg;
    m->shape = *shape;
    NnResNetConfig rc;
    char perr[256];
    int st = sj_parse_rgb(cfg->pixel_mean, "pixel_mean", 0, m->mean, err, errsz);
    if (!st) st = sj_parse_rgb(cfg->pixel_std, "pixel_std", 1, m->std, err, errsz);
    if (!st) st = resolve_encoder(cfg, shape, &rc, err, errsz);
    if (!st && cfg->precision == SJ_PREC_BF16 && !nn_gemm_own_ok(1)) {
        nn_set_precision(NN_PREC_BF16, perr, sizeof perr); /* fails: the sentence says why */
        st = wm_errf(err, errsz, WM_ERR_ARG, "model.precision = bf16: %s", perr);
    }
    if (!st && (shape->action_dim < 1 || shape->n_classes < 1))
        st = wm_errf(err, errsz, WM_ERR_ARG, "model: action_dim and n_classes must be positive");
    if (!st) {
        m->D = nn_resnet_config_out_dim(&rc);
        m->A = shape->action_dim;
        m->Ae = cfg->action_emb;
        m->E = m->D + m->Ae;
        if (m->E % cfg->heads)
            st = wm_errf(err, errsz, WM_ERR_ARG,
                         "model.heads = %d does not divide the token width %d (encoder %d + action_emb %d)",
                         cfg->heads, m->E, m->D, m->Ae);
    }
    if (st) {
        wm_free(m);
        return st;
    }
    nn_params_init(&m->p);
    m->enc = nn_resnet_create(&m->p, "encoder", &rc);
    m->enc_range = nn_resnet_range(m->enc);
    WM_ASSERT(m->enc_range.begin == 0); /* sj_model_update_encoder copies leading buffers */
    m->ap = nn_linear_register(&m->p, "action_proj.0", m->A, m->Ae, 0);
    m->abn = nn_batchnorm_register(&m->p, "action_proj.1", m->Ae, 0);
    /* The authors' wrapper module holds the stack (without a norm) and the final norm
     * side by side; files written before the names followed it keep loading. */
    NnTransformerConfig tc = {cfg->layers, m->E, cfg->heads, cfg->ffn_ratio * m->E,
                              (float)cfg->dropout, 1, "transformer_encoder.norm"};
    m->tf = nn_transformer_create(&m->p, "transformer_encoder.transformer_encoder", &tc);
    WM_ASSERT(nn_params_alias(&m->p, "transformer_encoder.norm",
                              "transformer_encoder.transformer_encoder.norm") == 2);
    size_t agg_shape[3] = {1, 1, (size_t)m->E};
    m->agg = nn_params_add(&m->p, "", "agg_token", NN_PARAM, 3, agg_shape, 0, NN_INIT_ZERO, 0);
    NnMlpConfig mc = {0};
    mc.n_layers = 2;
    mc.dims[0] = m->E + m->Ae, mc.dims[1] = cfg->pred_hidden, mc.dims[2] = m->D;
    mc.bias[0] = 0, mc.bias[1] = 1;
    mc.bn = 1, mc.bn_affine = 1, mc.last_act = 0;
    m->pred = nn_mlp_create(&m->p, "predictor", &mc);
    nn_params_init(&m->tp);
    m->tenc = nn_resnet_create(&m->tp, "target_encoder", &rc);
    WM_ASSERT(m->tp.n_param == m->enc_range.end - m->enc_range.begin);

    nn_store_create(&m->s, &m->p, NN_STORE_GRAD | NN_STORE_ADAM);
    nn_store_create(&m->ts, &m->tp, 0);
    WmRng r;
    wm_rng_seed(&r, seed, 0x1417);
    nn_store_init(&m->s, &m->p, &r);
    nn_store_init(&m->ts, &m->tp, &r);
    memcpy(m->ts.param, m->s.param + m->enc_range.begin, m->tp.n_param * sizeof(float));
    m->opt = nn_adamw_default(0, 0);
    *out = m;
    return WM_OK;
}

void sj_model_destroy(SjModel *m) {
    if (!m) return;
    nn_resnet_destroy(m->enc);
    nn_resnet_destroy(m->tenc);
    nn_transformer_destroy(m->tf);
    nn_mlp_destroy(m->pred);
    nn_store_free(&m->s);
    nn_store_free(&m->ts);
    nn_params_free(&m->p);
    nn_params_free(&m->tp);
    float *bufs[] = {m->x, m->xt, m->z, m->zt, m->a_in, m->e_lin, m->e, m->bn_mean, m->bn_rstd,
                     m->tok, m->tout, m->zagg, m->pin, m->zhat, m->lcache, m->vcws, m->dzhat, m->dpin,
                     m->dtout, m->dtok, m->dz, m->de, m->de_lin};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) wm_free(bufs[i]);
    wm_free(m->stage);
    wm_free(m);
}

int sj_model_enc_dim(const SjModel *m) { return m->D; }
int sj_model_agg_dim(const SjModel *m) { return m->E; }
const SjShape *sj_model_shape(const SjModel *m) { return &m->shape; }
const SjModelConfig *sj_model_config(const SjModel *m) { return &m->cfg; }
size_t sj_model_param_count(const SjModel *m) { return m->p.n_param; }
double sj_model_step_flops(const SjModel *m, int B, int M) {
    double enc = nn_resnet_flops(m->enc, m->shape.img_h, m->shape.img_w);
    double enc_train = nn_resnet_train_flops(m->enc, m->shape.img_h, m->shape.img_w);
    double tf = nn_transformer_flops(m->tf, B, M + 1);
    double pred = 2.0 * B * ((double)(m->E + m->Ae) * m->cfg.pred_hidden + (double)m->cfg.pred_hidden * m->D);
    double act = 2.0 * B * M * (double)m->A * m->Ae;
    /* the action projection's input gradient is never formed either */
    return enc_train * B * M + 3.0 * (tf + pred) + 2.0 * act + enc * B;
}

size_t sj_model_bound_bytes(const SjModel *m) { return m->bound_bytes; }
const NnParams *sj_model_params(const SjModel *m, int target) { return target ? &m->tp : &m->p; }
NnStore *sj_model_store(SjModel *m, int target) { return target ? &m->ts : &m->s; }

/* The engine's precision is process-wide: each entry point that runs the model sets
 * the model's own and restores the caller's on return (probes stay float). */
static NnPrecision enter(const SjModel *m) {
    NnPrecision prev = nn_get_precision();
    char err[256];
    int rc = nn_set_precision(m->cfg.precision == SJ_PREC_BF16 ? NN_PREC_BF16 : NN_PREC_FP32, err, sizeof err);
    WM_ASSERT(rc == WM_OK); /* checked at create */
    return prev;
}
static void leave(NnPrecision prev) {
    char err[256];
    WM_ASSERT(nn_set_precision(prev, err, sizeof err) == WM_OK);
}

static float *fbuf(SjModel *m, float *old, size_t n) {
    wm_free(old);
    m->bound_bytes += n * sizeof(float);
    return wm_new(float, n);
}

void sj_model_bind(SjModel *m, int max_b, int max_m, int with_grad) {
    WM_ASSERT(max_b >= 1 && max_m >= 1);
    if (max_b <= m->max_b && max_m <= m->max_m && (!with_grad || m->with_grad)) return;
    if (max_b < m->max_b) max_b = m->max_b;
    if (max_m < m->max_m) max_m = m->max_m;
    with_grad |= m->with_grad;
    m->max_b = max_b, m->max_m = max_m, m->with_grad = with_grad;
    m->bound_bytes = 0;
    size_t H = (size_t)m->shape.img_h, W = (size_t)m->shape.img_w;
    size_t nobs = (size_t)max_b * (size_t)max_m, ntok = (size_t)max_b * (size_t)(max_m + 1);
    size_t B = (size_t)max_b, D = (size_t)m->D, E = (size_t)m->E, Ae = (size_t)m->Ae;
    m->bound_bytes += nn_resnet_bind(m->enc, (int)nobs, (int)H, (int)W, with_grad);
    /* the target encoder runs between the online encoder's training forward and its
     * backward, or outside training: it can use the online encoder's idle buffers */
    m->bound_bytes += with_grad ? nn_resnet_bind_lent(m->tenc, max_b, (int)H, (int)W, m->enc)
                                : nn_resnet_bind(m->tenc, max_b, (int)H, (int)W, 0);
    m->bound_bytes += nn_transformer_bind(m->tf, max_b, max_m + 1, with_grad);
    m->bound_bytes += nn_mlp_bind(m->pred, max_b, with_grad);
    wm_free(m->stage);
    m->stage = wm_new(uint8_t, nobs * H * W * 3);
    m->bound_bytes += nobs * H * W * 3;
    m->x = fbuf(m, m->x, nobs * 3 * H * W);
    m->xt = fbuf(m, m->xt, B * 3 * H * W);
    m->z = fbuf(m, m->z, nobs * D);
    m->zt = fbuf(m, m->zt, B * D);
    m->a_in = fbuf(m, m->a_in, nobs * (size_t)m->A);
    m->e_lin = fbuf(m, m->e_lin, nobs * Ae);
    m->e = fbuf(m, m->e, nobs * Ae);
    m->bn_mean = fbuf(m, m->bn_mean, Ae);
    m->bn_rstd = fbuf(m, m->bn_rstd, Ae);
    m->tok = fbuf(m, m->tok, ntok * E);
    m->tout = fbuf(m, m->tout, ntok * E);
    m->zagg = fbuf(m, m->zagg, B * E);
    m->pin = fbuf(m, m->pin, B * (E + Ae));
    m->zhat = fbuf(m, m->zhat, B * D);
    m->lcache = fbuf(m, m->lcache, 3 * B);
    if (with_grad) {
        m->vcws = fbuf(m, m->vcws, D * D + 2 * D);
        m->dzhat = fbuf(m, m->dzhat, B * D);
        m->dpin = fbuf(m, m->dpin, B * (E + Ae));
        m->dtout = fbuf(m, m->dtout, ntok * E);
        m->dtok = fbuf(m, m->dtok, ntok * E);
        m->dz = fbuf(m, m->dz, nobs * D);
        m->de = fbuf(m, m->de, nobs * Ae);
        m->de_lin = fbuf(m, m->de_lin, nobs * Ae);
    }
}

/* Action embeddings e [n, Ae] of actions a_in [n, A] (train: batch statistics). */
static void embed_actions(SjModel *m, int n, int train) {
    nn_linear_forward(m->e_lin, m->a_in, m->s.param + m->ap.w, NULL, n, m->A, m->Ae);
    NnBatchNorm d = {m->Ae, n, 0.1f, 1e-5f, train, 0};
    nn_batchnorm1d_forward(m->e, m->bn_mean, m->bn_rstd, m->e_lin, NULL, NULL, NULL,
                           m->s.buf + m->abn.run_mean, m->s.buf + m->abn.run_var, &d);
    if (train) m->s.count[m->abn.nbt] += 1;
}

/* Tokens [B, M+1, E]: [AGG] then [z_i | e_i] with e_{M-1} (0-based) zeroed; z rows
 * b*M + i; e rows b*M + i (NULL: zeros everywhere). */
static void build_tokens(SjModel *m, const float *z, const float *e, int B, int M) {
    size_t D = (size_t)m->D, E = (size_t)m->E, Ae = (size_t)m->Ae;
    const float *agg = m->s.param + m->agg;
    for (int b = 0; b < B; b++) {
        float *t = m->tok + (size_t)b * (size_t)(M + 1) * E;
        memcpy(t, agg, E * sizeof(float));
        for (int i = 0; i < M; i++) {
            float *row = t + (size_t)(i + 1) * E;
            size_t r = (size_t)b * (size_t)M + (size_t)i;
            if (z) memcpy(row, z + r * D, D * sizeof(float));
            else memset(row, 0, D * sizeof(float));
            if (e && i < M - 1) memcpy(row + D, e + r * Ae, Ae * sizeof(float));
            else memset(row + D, 0, Ae * sizeof(float));
        }
    }
}

static int cond_tokens(const SjModel *m) {
    return m->cfg.action_cond == SJ_COND_BOTH || m->cfg.action_cond == SJ_COND_TRANSFORMER;
}
static int cond_pred(const SjModel *m) {
    return m->cfg.action_cond == SJ_COND_BOTH || m->cfg.action_cond == SJ_COND_PREDICTOR;
}

/* Predictor input [B, E+Ae]: z_agg then e of each sequence's last action (or 0). */
static void build_pred_input(SjModel *m, const float *zagg, const float *e, int B, int M) {
    size_t E = (size_t)m->E, Ae = (size_t)m->Ae;
    for (int b = 0; b < B; b++) {
        float *row = m->pin + (size_t)b * (E + Ae);
        memcpy(row, zagg + (size_t)b * E, E * sizeof(float));
        if (e) memcpy(row + E, e + ((size_t)b * (size_t)M + (size_t)(M - 1)) * Ae, Ae * sizeof(float));
        else memset(row + E, 0, Ae * sizeof(float));
    }
}

void sj_model_train_step(SjModel *m, const uint8_t *views, const float *actions, int B, int T,
                         int M, WmRng *rng, SjStepOut *out) {
    NnPrecision prev_prec = enter(m);
    WM_ASSERT(m->with_grad && B <= m->max_b && M <= m->max_m && T >= M + 1 && B >= 2);
    size_t H = (size_t)m->shape.img_h, W = (size_t)m->shape.img_w, px = H * W * 3;
    size_t D = (size_t)m->D, E = (size_t)m->E, Ae = (size_t)m->Ae, A = (size_t)m->A;
    int n = B * M;
    /* Gather observed views (row b*M + i), their actions, and the targets. */
    for (int b = 0; b < B; b++) {
        memcpy(m->stage + (size_t)b * (size_t)M * px, views + (size_t)b * (size_t)T * px, (size_t)M * px);
        memcpy(m->a_in + (size_t)b * (size_t)M * A, actions + (size_t)b * (size_t)(T - 1) * A, (size_t)M * A * sizeof(float));
    }
    nn_images_to_cnhw(m->x, m->stage, n, (int)H, (int)W, 3, m->mean, m->std);
    for (int b = 0; b < B; b++)
        memcpy(m->stage + (size_t)b * px, views + ((size_t)b * (size_t)T + (size_t)M) * px, px);
    nn_images_to_cnhw(m->xt, m->stage, B, (int)H, (int)W, 3, m->mean, m->std);

    /* Forward. */
    nn_resnet_forward(m->enc, m->z, m->x, n, &m->s, 1);
    nn_resnet_forward(m->tenc, m->zt, m->xt, B, &m->ts, 1);
    embed_actions(m, n, 1);
    build_tokens(m, m->z, cond_tokens(m) ? m->e : NULL, B, M);
    nn_transformer_forward(m->tf, m->tout, m->tok, B, M + 1, &m->s, 1, rng);
    for (int b = 0; b < B; b++)
        memcpy(m->zagg + (size_t)b * E, m->tout + (size_t)b * (size_t)(M + 1) * E, E * sizeof(float));
    build_pred_input(m, m->zagg, cond_pred(m) ? m->e : NULL, B, M);
    nn_mlp_forward(m->pred, m->zhat, m->pin, B, &m->s, 1);
    double loss = nn_cosine_loss_forward(m->lcache, m->zhat, m->zt, B, (int)D);
    int vc = m->cfg.var_weight > 0 || m->cfg.cov_weight > 0;
    double reg = vc ? nn_vc_loss_forward(m->vcws, m->z, n, (int)D, (float)m->cfg.var_weight,
                                         (float)m->cfg.cov_weight)
                    : 0.0;

    /* Backward (gradients add into m->s.grad). */
    nn_store_zero_grad(&m->s, &m->p);
    memset(m->dzhat, 0, (size_t)B * D * sizeof(float));
    memset(m->dpin, 0, (size_t)B * (E + Ae) * sizeof(float));
    memset(m->dtout, 0, (size_t)B * (size_t)(M + 1) * E * sizeof(float));
    memset(m->dtok, 0, (size_t)B * (size_t)(M + 1) * E * sizeof(float));
    memset(m->dz, 0, (size_t)n * D * sizeof(float));
    memset(m->de, 0, (size_t)n * Ae * sizeof(float));
    memset(m->de_lin, 0, (size_t)n * Ae * sizeof(float));
    nn_cosine_loss_backward(m->dzhat, NULL, 1.0f, m->zhat, m->zt, m->lcache, B, (int)D);
    nn_mlp_backward(m->pred, m->dpin, m->dzhat, &m->s);
    for (int b = 0; b < B; b++) {
        const float *g = m->dpin + (size_t)b * (E + Ae);
        memcpy(m->dtout + (size_t)b * (size_t)(M + 1) * E, g, E * sizeof(float));
        if (cond_pred(m)) {
            float *de = m->de + ((size_t)b * (size_t)M + (size_t)(M - 1)) * Ae;
            for (size_t k = 0; k < Ae; k++) de[k] += g[E + k];
        }
    }
    nn_transformer_backward(m->tf, m->dtok, m->dtout, &m->s);
    float *dagg = m->s.grad + m->agg;
    for (int b = 0; b < B; b++) {
        const float *t = m->dtok + (size_t)b * (size_t)(M + 1) * E;
        for (size_t k = 0; k < E; k++) dagg[k] += t[k];
        for (int i = 0; i < M; i++) {
            const float *row = t + (size_t)(i + 1) * E;
            size_t r = (size_t)b * (size_t)M + (size_t)i;
            float *dz = m->dz + r * D;
            for (size_t k = 0; k < D; k++) dz[k] += row[k];
            if (cond_tokens(m) && i < M - 1) {
                float *de = m->de + r * Ae;
                for (size_t k = 0; k < Ae; k++) de[k] += row[D + k];
            }
        }
    }
    if (m->cfg.action_cond != SJ_COND_NONE) {
        NnBatchNorm d = {m->Ae, n, 0.1f, 1e-5f, 1, 0};
        nn_batchnorm1d_backward(m->de_lin, NULL, NULL, NULL, m->de, NULL, m->e_lin, m->bn_mean, m->bn_rstd,
                                NULL, &d);
        nn_linear_backward(NULL, m->s.grad + m->ap.w, NULL, m->de_lin, m->a_in, m->s.param + m->ap.w, n,
                           m->A, m->Ae);
    }
    if (vc)
        nn_vc_loss_backward(m->dz, 1.0f, m->z, m->vcws, n, (int)D, (float)m->cfg.var_weight,
                            (float)m->cfg.cov_weight);
    nn_resnet_backward(m->enc, NULL, m->dz, &m->s);
    m->last_B = B, m->last_M = M;
    if (out) {
        out->loss = loss;
        out->reg = reg;
        out->grad_norm = nn_grad_norm(&m->s, &m->p);
        out->z_agg = m->zagg;
        out->z = m->z;
        out->z_tgt = m->zt;
    }
    leave(prev_prec);
}

const float *sj_model_encode_train(SjModel *m, const uint8_t *views, int B, int T, int K) {
    NnPrecision prev_prec = enter(m);
    WM_ASSERT(m->with_grad && B <= m->max_b && K <= m->max_m && K <= T && B * K >= 2);
    size_t px = (size_t)m->shape.img_h * (size_t)m->shape.img_w * 3;
    int n = B * K;
    for (int b = 0; b < B; b++)
        memcpy(m->stage + (size_t)b * (size_t)K * px, views + (size_t)b * (size_t)T * px, (size_t)K * px);
    nn_images_to_cnhw(m->x, m->stage, n, m->shape.img_h, m->shape.img_w, 3, m->mean, m->std);
    nn_store_zero_grad(&m->s, &m->p);
    nn_resnet_forward(m->enc, m->z, m->x, n, &m->s, 1);
    m->last_B = B, m->last_M = K;
    leave(prev_prec);
    return m->z;
}

void sj_model_encode_backward(SjModel *m, const float *dz) {
    NnPrecision prev_prec = enter(m);
    memcpy(m->dz, dz, (size_t)m->last_B * (size_t)m->last_M * (size_t)m->D * sizeof(float));
    nn_resnet_backward(m->enc, NULL, m->dz, &m->s);
    leave(prev_prec);
}

void sj_model_update_encoder(SjModel *m, double lr) {
    m->opt.lr = (float)lr;
    nn_adamw_step_range(&m->opt, &m->p, &m->s, m->enc_range.begin, m->enc_range.end);
    nn_ema_update(m->ts.param, m->s.param + m->enc_range.begin, m->tp.n_param, 0.0);
    /* the encoder is the first module registered: its buffers and counters lead theirs */
    if (m->tp.n_buffer) memcpy(m->ts.buf, m->s.buf, m->tp.n_buffer * sizeof(float));
    if (m->tp.n_counter) memcpy(m->ts.count, m->s.count, m->tp.n_counter * sizeof(int64_t));
}

void sj_model_reset_optim(SjModel *m) {
    memset(m->s.adam_m, 0, m->p.n_param * sizeof(float));
    memset(m->s.adam_v, 0, m->p.n_param * sizeof(float));
    m->opt.step = 0;
}

void sj_model_update(SjModel *m, double lr, double tau) {
    m->opt.lr = (float)lr;
    nn_adamw_step(&m->opt, &m->p, &m->s);
    nn_ema_update(m->ts.param, m->s.param + m->enc_range.begin, m->tp.n_param, tau);
}

void sj_model_set_optim(SjModel *m, const SjOptimConfig *o) {
    m->opt.beta1 = (float)o->beta1;
    m->opt.beta2 = (float)o->beta2;
    m->opt.eps = (float)o->eps;
    m->opt.weight_decay = (float)o->weight_decay;
    int n_pred = nn_params_set_lr_scale(&m->p, "predictor", (float)o->pred_lr_scale);
    WM_ASSERT(n_pred > 0);
}

void sj_model_encode(SjModel *m, const uint8_t *views, int n, float *z) {
    NnPrecision prev_prec = enter(m);
    int chunk = m->max_b * m->max_m;
    size_t px = (size_t)m->shape.img_h * (size_t)m->shape.img_w * 3;
    for (int s = 0; s < n; s += chunk) {
        int k = n - s < chunk ? n - s : chunk;
        nn_images_to_cnhw(m->x, views + (size_t)s * px, k, m->shape.img_h, m->shape.img_w, 3, m->mean, m->std);
        nn_resnet_forward(m->enc, z + (size_t)s * (size_t)m->D, m->x, k, &m->s, 0);
    }
    leave(prev_prec);
}

void sj_model_aggregate(SjModel *m, const float *z, const float *actions, int B, int M, int flags,
                        float *z_agg) {
    NnPrecision prev_prec = enter(m);
    WM_ASSERT(B <= m->max_b && M <= m->max_m);
    size_t A = (size_t)m->A, E = (size_t)m->E;
    int use_e = cond_tokens(m) && !(flags & SJ_ZERO_ACTIONS) && M > 1;
    if (use_e) {
        /* rows b*M + i for i < M-1 hold a_i; the last row of each sequence is unused. */
        memset(m->a_in, 0, (size_t)B * (size_t)M * A * sizeof(float));
        for (int b = 0; b < B; b++)
            memcpy(m->a_in + (size_t)b * (size_t)M * A, actions + (size_t)b * (size_t)(M - 1) * A,
                   (size_t)(M - 1) * A * sizeof(float));
        embed_actions(m, B * M, 0);
    }
    build_tokens(m, (flags & SJ_ZERO_FEATURES) ? NULL : z, use_e ? m->e : NULL, B, M);
    nn_transformer_forward(m->tf, m->tout, m->tok, B, M + 1, &m->s, 0, NULL);
    for (int b = 0; b < B; b++) memcpy(z_agg + (size_t)b * E, m->tout + (size_t)b * (size_t)(M + 1) * E, E * sizeof(float));
    leave(prev_prec);
}

void sj_model_predict(SjModel *m, const float *z_agg, const float *action, int B, float *z_hat) {
    NnPrecision prev_prec = enter(m);
    WM_ASSERT(B <= m->max_b);
    size_t A = (size_t)m->A;
    if (cond_pred(m)) {
        memcpy(m->a_in, action, (size_t)B * A * sizeof(float));
        embed_actions(m, B, 0);
    }
    build_pred_input(m, z_agg, cond_pred(m) ? m->e : NULL, B, 1);
    nn_mlp_forward(m->pred, z_hat, m->pin, B, &m->s, 0);
    leave(prev_prec);
}

void sj_model_encode_target(SjModel *m, const uint8_t *views, int n, float *z) {
    NnPrecision prev_prec = enter(m);
    size_t px = (size_t)m->shape.img_h * (size_t)m->shape.img_w * 3;
    for (int s = 0; s < n; s += m->max_b) {
        int k = n - s < m->max_b ? n - s : m->max_b;
        nn_images_to_cnhw(m->xt, views + (size_t)s * px, k, m->shape.img_h, m->shape.img_w, 3, m->mean, m->std);
        nn_resnet_forward(m->tenc, z + (size_t)s * (size_t)m->D, m->xt, k, &m->ts, 0);
    }
    leave(prev_prec);
}

void sj_model_copy_weights(SjModel *dst, const SjModel *src) {
    WM_ASSERT(dst->p.n_param == src->p.n_param && dst->p.n_buffer == src->p.n_buffer &&
              dst->p.n_counter == src->p.n_counter && dst->tp.n_param == src->tp.n_param &&
              dst->tp.n_buffer == src->tp.n_buffer && dst->tp.n_counter == src->tp.n_counter);
    const NnParams *ps[2] = {&src->p, &src->tp};
    const NnStore *from[2] = {&src->s, &src->ts};
    NnStore *to[2] = {&dst->s, &dst->ts};
    for (int k = 0; k < 2; k++) {
        memcpy(to[k]->param, from[k]->param, ps[k]->n_param * sizeof(float));
        if (ps[k]->n_buffer) memcpy(to[k]->buf, from[k]->buf, ps[k]->n_buffer * sizeof(float));
        if (ps[k]->n_counter) memcpy(to[k]->count, from[k]->count, ps[k]->n_counter * sizeof(int64_t));
    }
}

void sj_model_save(const SjModel *m, WmStWriter *w) {
    nn_params_save(&m->p, &m->s, w);
    nn_params_save(&m->tp, &m->ts, w);
}

int sj_model_load(SjModel *m, const WmStFile *f, char *err, size_t errsz) {
    int rc = nn_params_load(&m->p, &m->s, f, err, errsz);
    if (!rc) rc = nn_params_load(&m->tp, &m->ts, f, err, errsz);
    return rc;
}

void sj_model_save_optim(const SjModel *m, WmStWriter *w, int64_t *step_store) {
    size_t n = m->p.n_param;
    wm_st_writer_add(w, "adamw.m", WM_F32, 1, &n, m->s.adam_m);
    wm_st_writer_add(w, "adamw.v", WM_F32, 1, &n, m->s.adam_v);
    *step_store = m->opt.step;
    size_t one = 1;
    wm_st_writer_add(w, "adamw.step", WM_I64, 1, &one, step_store);
}

int sj_model_load_optim(SjModel *m, const WmStFile *f, char *err, size_t errsz) {
    const WmStTensor *mt = wm_st_find(f, "adamw.m"), *vt = wm_st_find(f, "adamw.v"), *st = wm_st_find(f, "adamw.step");
    size_t n = m->p.n_param;
    if (!mt || !vt || !st)
        return wm_errf(err, errsz, WM_ERR_FORMAT, "optimiser state lacks adamw.m, adamw.v or adamw.step");
    if (mt->dtype != WM_F32 || vt->dtype != WM_F32 || mt->count != n || vt->count != n || st->dtype != WM_I64 || st->count != 1)
        return wm_errf(err, errsz, WM_ERR_MISMATCH, "optimiser state holds %zu moments, the model has %zu parameters",
                       mt->count, n);
    memcpy(m->s.adam_m, mt->data, n * sizeof(float));
    memcpy(m->s.adam_v, vt->data, n * sizeof(float));
    memcpy(&m->opt.step, st->data, sizeof(int64_t));
    return WM_OK;
}
