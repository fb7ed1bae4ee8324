/* The engine's blocks against PyTorch (Debian's python3-torch, tests/ref/nn_ref.py):
 * a ResNet-18 CIFAR encoder, a 3-layer post-norm transformer encoder with a final
 * LayerNorm, and a predictor-style MLP get the same weights (by checkpoint name,
 * loaded strictly) and inputs; outputs, the input gradient, every parameter gradient
 * and the batch-norm buffers after the step must agree to 1e-4 relative error. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "nn/nn.h"
#include "tests/test.h"
#include "tests/test_nn_util.h"

#define TOL 1e-4

static WmRng rng;
static double worst;
static char worst_name[160];

static float *rnd(size_t n, double scale) { return test_randn(&rng, n, scale); }

/* Every tensor away from the constants it starts at, so that every path carries
 * gradient (zero_init_residual would otherwise zero whole branches). */
static void randomize(const NnParams *p, NnStore *s) {
    nn_store_init(s, p, &rng);
    for (int i = 0; i < p->n; i++) {
        const NnTensor *t = &p->t[i];
        if (t->kind == NN_COUNTER) {
            s->count[t->offset] = 3;
            continue;
        }
        float *x = (t->kind == NN_PARAM ? s->param : s->buf) + t->offset;
        for (size_t k = 0; k < t->count; k++) {
            if (t->init == NN_INIT_ONE) /* norm weights, running variances */
                x[k] = (float)wm_rng_range(&rng, 0.5, 1.5);
            else if (t->init == NN_INIT_ZERO)
                x[k] = (float)(0.2 * wm_rng_normal(&rng));
        }
    }
}

static void compare(const char *block, const char *what, const float *mine, const WmStFile *f,
                    const char *key, size_t n) {
    const WmStTensor *t = wm_st_find(f, key);
    CHECK(t && t->dtype == WM_F32 && t->count == n, "%s: PyTorch result '%s' missing or sized %zu",
          block, key, t ? t->count : 0);
    if (!t || t->dtype != WM_F32 || t->count != n) return;
    double e = test_rel_l2(mine, t->data, n);
    if (e > worst) {
        worst = e;
        snprintf(worst_name, sizeof worst_name, "%s %s", block, what);
    }
    CHECK(e < TOL, "%s %s: relative error %.3g", block, what, e);
}

typedef struct {
    const char *name, *spec;
    NnParams p;
    NnStore s;
    const float *in_torch; /* input in PyTorch's layout */
    size_t in_shape[4], n_in;
    int in_ndim;
    float *dout;
    size_t dout_shape[3], n_out;
    int dout_ndim;
} Case;

static int write_inputs(const char *dir, Case *c) {
    char path[700], err[256];
    snprintf(path, sizeof path, "%s/%s_in.safetensors", dir, c->name);
    WmStWriter *w = wm_st_writer_create();
    nn_params_save(&c->p, &c->s, w);
    wm_st_writer_add(w, "input", WM_F32, c->in_ndim, c->in_shape, c->in_torch);
    wm_st_writer_add(w, "dout", WM_F32, c->dout_ndim, c->dout_shape, c->dout);
    wm_st_writer_meta(w, "spec", c->spec);
    int rc = wm_st_writer_save(w, path, err, sizeof err);
    CHECK(rc == WM_OK, "%s", err);
    wm_st_writer_destroy(w);
    return rc;
}

/* Compares out, the input gradient (in PyTorch's layout), every parameter gradient
 * and every buffer and counter. */
static void compare_case(const char *dir, Case *c, const float *out, const float *out_eval,
                         const float *dx_torch) {
    char path[700], err[256], key[NN_NAME_MAX + 8];
    snprintf(path, sizeof path, "%s/%s_torch.safetensors", dir, c->name);
    WmStFile *f = NULL;
    int rc = wm_st_open(path, &f, err, sizeof err);
    CHECK(rc == WM_OK, "%s", err);
    if (rc != WM_OK) return;
    compare(c->name, "output", out, f, "out", c->n_out);
    compare(c->name, "eval-mode output", out_eval, f, "out_eval", c->n_out);
    compare(c->name, "input gradient", dx_torch, f, "grad.input", c->n_in);
    int n_grad = 0, n_buf = 0;
    for (int i = 0; i < c->p.n; i++) {
        const NnTensor *t = &c->p.t[i];
        if (t->kind == NN_PARAM) {
            snprintf(key, sizeof key, "grad.%s", t->name);
            compare(c->name, key, c->s.grad + t->offset, f, key, t->count);
            n_grad++;
        } else if (t->kind == NN_BUFFER) {
            compare(c->name, t->name, c->s.buf + t->offset, f, t->name, t->count);
            n_buf++;
        } else {
            const WmStTensor *x = wm_st_find(f, t->name);
            CHECK(x && x->dtype == WM_I64 && *(const int64_t *)x->data == c->s.count[t->offset],
                  "%s %s", c->name, t->name);
        }
    }
    printf("%s: output, input gradient, %d parameter gradients, %d buffers compared\n", c->name,
           n_grad, n_buf);
    wm_st_close(f);
}

static void case_free(Case *c) {
    nn_store_free(&c->s);
    nn_params_free(&c->p);
    wm_free(c->dout);
}

/* One encoder case: its spec for the reference, a training step's outputs and input
 * gradient (NCHW, as PyTorch's), and an eval-mode forward. */
typedef struct {
    NnResNet *res;
    float *x_nchw, *x, *out, *ev, *dx, *dx_t;
} ResRun;

static void resnet_case(Case *rc, ResRun *r, const char *dir, const NnResNetConfig *cfg, int hw) {
    nn_params_init(&rc->p);
    r->res = nn_resnet_create(&rc->p, "encoder", cfg);
    nn_store_create(&rc->s, &rc->p, NN_STORE_GRAD);
    randomize(&rc->p, &rc->s);
    const int N = 2, C = 3, D = nn_resnet_out_dim(r->res);
    const size_t plane = (size_t)hw * hw;
    rc->n_in = (size_t)N * C * plane;
    r->x_nchw = rnd(rc->n_in, 1);
    r->x = wm_new(float, rc->n_in);
    for (int b = 0; b < N; b++)
        for (int k = 0; k < C; k++)
            memcpy(r->x + ((size_t)k * N + b) * plane, r->x_nchw + ((size_t)b * C + k) * plane,
                   sizeof *r->x * plane);
    rc->in_torch = r->x_nchw;
    rc->in_ndim = 4;
    memcpy(rc->in_shape, (size_t[]){(size_t)N, (size_t)C, (size_t)hw, (size_t)hw}, sizeof(size_t) * 4);
    rc->n_out = (size_t)N * D;
    rc->dout = rnd(rc->n_out, 1);
    rc->dout_ndim = 2;
    rc->dout_shape[0] = (size_t)N;
    rc->dout_shape[1] = (size_t)D;
    write_inputs(dir, rc);
    nn_resnet_bind(r->res, N, hw, hw, 1);
    nn_store_zero_grad(&rc->s, &rc->p);
    r->out = wm_new(float, rc->n_out);
    r->dx = wm_new(float, rc->n_in);
    r->dx_t = wm_new(float, rc->n_in);
    nn_resnet_forward(r->res, r->out, r->x, N, &rc->s, 1);
    nn_resnet_backward(r->res, r->dx, rc->dout, &rc->s);
    r->ev = wm_new(float, rc->n_out);
    nn_resnet_forward(r->res, r->ev, r->x, N, &rc->s, 0);
    for (int b = 0; b < N; b++)
        for (int k = 0; k < C; k++)
            memcpy(r->dx_t + ((size_t)b * C + k) * plane, r->dx + ((size_t)k * N + b) * plane,
                   sizeof *r->x * plane);
}

static void resnet_run_free(ResRun *r) {
    nn_resnet_destroy(r->res);
    float *arr[] = {r->x_nchw, r->x, r->out, r->ev, r->dx, r->dx_t};
    for (size_t i = 0; i < sizeof arr / sizeof *arr; i++)
        wm_free(arr[i]);
}

int main(int argc, char **argv) {
    nn_blas_reexec(argc, argv);
    nn_runtime_init(2);
    wm_rng_seed(&rng, 77, 0);
    const char *dir = test_tmpdir();

    /* ResNet-18 CIFAR encoder on 2 x 3 x 32 x 32 */
    Case rc = {.name = "resnet"};
    rc.spec = "{\"kind\":\"resnet\",\"prefix\":\"encoder\",\"widths\":[64,128,256,512],"
              "\"blocks\":[2,2,2,2],\"cifar\":1,\"in_ch\":3}";
    NnResNetConfig rcfg = nn_resnet18_config(1);
    ResRun rr;
    resnet_case(&rc, &rr, dir, &rcfg, 32);

    /* a width-8 encoder pooled onto a 2 x 2 grid of its 3 x 3 map (cells overlap, as
     * AdaptiveAvgPool2d's do), on 2 x 3 x 24 x 24 */
    Case gc = {.name = "resnet_grid"};
    gc.spec = "{\"kind\":\"resnet\",\"prefix\":\"encoder\",\"widths\":[8,16,32,64],"
              "\"blocks\":[2,2,2,2],\"cifar\":1,\"in_ch\":3,\"pool_grid\":2}";
    NnResNetConfig gcfg = nn_resnet_small_config(8, 1);
    gcfg.pool_grid = 2;
    ResRun gr;
    resnet_case(&gc, &gr, dir, &gcfg, 24);

    /* 3-layer transformer encoder (E 64, 4 heads, FFN 256) + final LayerNorm on 3 x 5 */
    Case tc = {.name = "transformer"};
    tc.spec = "{\"kind\":\"transformer\",\"prefix\":\"transformer_encoder.transformer_encoder\","
              "\"layers\":3,\"e\":64,\"heads\":4,\"ffn\":256,\"final_norm\":1}";
    nn_params_init(&tc.p);
    NnTransformerConfig tcfg = {3, 64, 4, 256, 0.0f, 1, NULL};
    NnTransformer *tf =
        nn_transformer_create(&tc.p, "transformer_encoder.transformer_encoder", &tcfg);
    nn_store_create(&tc.s, &tc.p, NN_STORE_GRAD);
    randomize(&tc.p, &tc.s);
    const int B = 3, T = 5, E = 64;
    tc.n_in = tc.n_out = (size_t)B * T * E;
    float *tok = rnd(tc.n_in, 1);
    tc.in_torch = tok;
    tc.in_ndim = 3;
    memcpy(tc.in_shape, (size_t[]){(size_t)B, (size_t)T, (size_t)E}, sizeof(size_t) * 3);
    tc.dout = rnd(tc.n_out, 1);
    tc.dout_ndim = 3;
    memcpy(tc.dout_shape, tc.in_shape, sizeof(size_t) * 3);
    write_inputs(dir, &tc);
    nn_transformer_bind(tf, B, T, 1);
    nn_store_zero_grad(&tc.s, &tc.p);
    float *tout = wm_new(float, tc.n_out), *tdx = wm_new(float, tc.n_in);
    nn_transformer_forward(tf, tout, tok, B, T, &tc.s, 1, NULL);
    nn_transformer_backward(tf, tdx, tc.dout, &tc.s);
    float *tev = wm_new(float, tc.n_out);
    nn_transformer_forward(tf, tev, tok, B, T, &tc.s, 0, NULL);

    /* predictor-style MLP: Linear(no bias), BatchNorm1d, ReLU, Linear on 8 rows */
    Case mc = {.name = "mlp"};
    mc.spec = "{\"kind\":\"mlp\",\"prefix\":\"predictor\",\"dims\":[96,128,32],\"bias\":[0,1],"
              "\"bn\":1,\"bn_affine\":1,\"last_act\":0}";
    nn_params_init(&mc.p);
    NnMlpConfig mcfg = {2, {96, 128, 32}, {0, 1}, 1, 1, 0};
    NnMlp *mlp = nn_mlp_create(&mc.p, "predictor", &mcfg);
    nn_store_create(&mc.s, &mc.p, NN_STORE_GRAD);
    randomize(&mc.p, &mc.s);
    const int M = 8;
    mc.n_in = (size_t)M * 96;
    mc.n_out = (size_t)M * 32;
    float *mx = rnd(mc.n_in, 1);
    mc.in_torch = mx;
    mc.in_ndim = 2;
    mc.in_shape[0] = M;
    mc.in_shape[1] = 96;
    mc.dout = rnd(mc.n_out, 1);
    mc.dout_ndim = 2;
    mc.dout_shape[0] = M;
    mc.dout_shape[1] = 32;
    write_inputs(dir, &mc);
    nn_mlp_bind(mlp, M, 1);
    nn_store_zero_grad(&mc.s, &mc.p);
    float *mout = wm_new(float, mc.n_out), *mdx = wm_new(float, mc.n_in);
    nn_mlp_forward(mlp, mout, mx, M, &mc.s, 1);
    nn_mlp_backward(mlp, mdx, mc.dout, &mc.s);
    float *mev = wm_new(float, mc.n_out);
    nn_mlp_forward(mlp, mev, mx, M, &mc.s, 0);

    char cmd[1024];
    snprintf(cmd, sizeof cmd, TEST_PYTHON " tests/ref/nn_ref.py %s resnet resnet_grid transformer mlp", dir);
    int st = system(cmd);
    CHECK(st == 0, "the PyTorch reference failed (status %d): %s", st, cmd);
    if (st == 0) {
        compare_case(dir, &rc, rr.out, rr.ev, rr.dx_t);
        compare_case(dir, &gc, gr.out, gr.ev, gr.dx_t);
        compare_case(dir, &tc, tout, tev, tdx);
        compare_case(dir, &mc, mout, mev, mdx);
        printf("largest relative error: %.3g (%s)\n", worst, worst_name);
    }

    resnet_run_free(&rr);
    resnet_run_free(&gr);
    nn_transformer_destroy(tf);
    nn_mlp_destroy(mlp);
    case_free(&rc);
    case_free(&gc);
    case_free(&tc);
    case_free(&mc);
    float *arr[] = {tok, tout, tev, tdx, mx, mout, mev, mdx};
    for (size_t i = 0; i < sizeof arr / sizeof *arr; i++)
        wm_free(arr[i]);
    nn_runtime_shutdown();
    return TEST_DONE();
}
