/* The inverse warm-up's objective (see sj_inverse.h). */
#include "model/sj_inverse.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

void sj_inverse_register(SjInverse *iv, NnParams *p, const SjModel *m, int H, int B, int views) {
    WM_ASSERT(H >= 1 && B >= 1 && views >= 2);
    memset(iv, 0, sizeof *iv);
    iv->D = sj_model_enc_dim(m), iv->A = sj_model_shape(m)->action_dim, iv->H = H;
    iv->views = views, iv->pairs = B * (views - 1);
    iv->l0 = nn_linear_register(p, "inverse.0", 2 * iv->D, H, 1);
    iv->l2 = nn_linear_register(p, "inverse.2", H, iv->A, 1);
    size_t P = (size_t)iv->pairs, D = (size_t)iv->D, A = (size_t)iv->A, Hs = (size_t)H;
    iv->xin = wm_new(float, P * 2 * D);
    iv->dxin = wm_new(float, P * 2 * D);
    iv->pre = wm_new(float, P * Hs);
    iv->h = wm_new(float, P * Hs);
    iv->dh = wm_new(float, P * Hs);
    iv->dpre = wm_new(float, P * Hs);
    iv->out = wm_new(float, P * A);
    iv->target = wm_new(float, P * A);
    iv->dout = wm_new(float, P * A);
    iv->dz = wm_new(float, (size_t)B * (size_t)views * D);
}

void sj_inverse_free(SjInverse *iv) {
    float *bufs[] = {iv->xin, iv->dxin, iv->pre, iv->h, iv->dh, iv->dpre, iv->out, iv->target, iv->dout, iv->dz};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) wm_free(bufs[i]);
    memset(iv, 0, sizeof *iv);
}

double sj_inverse_grad(SjInverse *iv, SjModel *m, NnStore *s, const SjBatch *b) {
    const int B = b->n, V = iv->views, P = B * (V - 1);
    WM_ASSERT(P <= iv->pairs && b->t >= V);
    const size_t D = (size_t)iv->D, A = (size_t)iv->A, H = (size_t)iv->H;
    const float *w = s->param;
    float *g = s->grad;
    const float *z = sj_model_encode_train(m, b->pixels, B, b->t, V);
    const float *y = b->probe_targets ? b->probe_targets : b->actions;
    for (int i = 0; i < B; i++)
        for (int k = 0; k < V - 1; k++) {
            size_t p = (size_t)i * (size_t)(V - 1) + (size_t)k, v = (size_t)i * (size_t)V + (size_t)k;
            memcpy(iv->xin + p * 2 * D, z + v * D, 2 * D * sizeof(float)); /* views k and k+1: adjacent rows */
            memcpy(iv->target + p * A, y + ((size_t)i * (size_t)(b->t - 1) + (size_t)k) * A, A * sizeof(float));
        }
    nn_linear_forward(iv->pre, iv->xin, w + iv->l0.w, w + iv->l0.b, P, 2 * iv->D, iv->H);
    nn_relu_forward(iv->h, iv->pre, (size_t)P * H);
    nn_linear_forward(iv->out, iv->h, w + iv->l2.w, w + iv->l2.b, P, iv->H, iv->A);
    double loss = nn_mse_forward(iv->out, iv->target, (size_t)P * A);
    memset(iv->dout, 0, (size_t)P * A * sizeof(float));
    memset(iv->dh, 0, (size_t)P * H * sizeof(float));
    memset(iv->dpre, 0, (size_t)P * H * sizeof(float));
    memset(iv->dxin, 0, (size_t)P * 2 * D * sizeof(float));
    memset(iv->dz, 0, (size_t)B * (size_t)V * D * sizeof(float));
    nn_mse_backward(iv->dout, 1.0f, iv->out, iv->target, (size_t)P * A);
    nn_linear_backward(iv->dh, g + iv->l2.w, g + iv->l2.b, iv->dout, iv->h, w + iv->l2.w, P, iv->H, iv->A);
    nn_relu_backward(iv->dpre, iv->dh, iv->h, (size_t)P * H);
    nn_linear_backward(iv->dxin, g + iv->l0.w, g + iv->l0.b, iv->dpre, iv->xin, w + iv->l0.w, P, 2 * iv->D, iv->H);
    for (int i = 0; i < B; i++)
        for (int k = 0; k < V - 1; k++) {
            const float *dx = iv->dxin + ((size_t)i * (size_t)(V - 1) + (size_t)k) * 2 * D;
            float *dz = iv->dz + ((size_t)i * (size_t)V + (size_t)k) * D;
            for (size_t j = 0; j < 2 * D; j++) dz[j] += dx[j];
        }
    sj_model_encode_backward(m, iv->dz);
    return loss;
}
