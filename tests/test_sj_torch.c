/* The seq-JEPA model against its PyTorch reference (tests/ref/sj_ref.py, Debian's
 * python3-torch): the reference loads our checkpoint tensors by name with
 * strict=True, and on the same batch gives the same z, z_AGG, prediction, target,
 * loss, every parameter gradient and every batch-norm buffer (relative error under
 * 1e-4, dropout off). A tensor whose entries all agree within 1e-7 absolute also
 * passes: a few gradients are zero in exact arithmetic (the final LayerNorm's bias only
 * feeds a batch-normalised linear, whose input gradient sums to zero over the batch),
 * and a relative error of rounding noise would be meaningless there (the gradients
 * around it are of order 1e-2). */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "model/sj_model.h"
#include "tests/test.h"
#include "tests/test_nn_util.h"

#define TOL 1e-4

static double worst;
static void compare(const char *what, const float *mine, const WmStFile *f, const char *key, size_t n) {
    const WmStTensor *t = wm_st_find(f, key);
    CHECK(t && t->dtype == WM_F32 && t->count == n, "'%s' missing or sized %zu, want %zu", key,
          t ? t->count : 0, n);
    if (!t || t->dtype != WM_F32 || t->count != n) return;
    double e = test_rel_l2(mine, t->data, n), maxabs = 0;
    for (size_t i = 0; i < n; i++) maxabs = fmax(maxabs, fabs((double)mine[i] - ((const float *)t->data)[i]));
    if (maxabs < 1e-7) e = 0;
    if (e > worst) worst = e;
    CHECK(e < TOL, "%s: relative error %.3g (max abs %.3g)", what, e, maxabs);
}

int main(int argc, char **argv) {
    nn_blas_reexec(argc, argv);
    nn_runtime_init(2);
    enum { B = 4, T = 4, M = 3, H = 16, W = 16, A = 4 };
    SjModelConfig cfg;
    WM_CFG_DEFAULTS(SjModelConfig, &cfg);
    cfg.width = 4;
    cfg.action_emb = 8;
    cfg.layers = 2;
    cfg.heads = 4;
    cfg.ffn_ratio = 2;
    cfg.dropout = 0;
    cfg.pred_hidden = 24;
    cfg.var_weight = 0.7; /* the VICReg terms on: their gradients join every encoder one */
    cfg.cov_weight = 0.3;
    snprintf(cfg.pixel_mean, sizeof cfg.pixel_mean, "0.4 0.5 0.6");
    snprintf(cfg.pixel_std, sizeof cfg.pixel_std, "0.2 0.25 0.3");
    SjShape shape = {H, W, A, 5};
    char err[512];
    SjModel *m;
    int mrc = sj_model_create(&cfg, &shape, 7, &m, err, sizeof err);
    CHECK(mrc == WM_OK && m != NULL, "%s", err);
    if (!m) return TEST_DONE();
    sj_model_bind(m, B, M, 1);
    /* Move zero- and one-initialised tensors off their constants so every path
     * carries gradient (zero_init_residual and the [AGG] token start at zero). */
    WmRng rng;
    wm_rng_seed(&rng, 99, 0);
    for (int target = 0; target < 2; target++) {
        const NnParams *p = sj_model_params(m, target);
        NnStore *s = sj_model_store(m, target);
        for (int i = 0; i < p->n; i++) {
            const NnTensor *t = &p->t[i];
            if (t->kind == NN_COUNTER) continue;
            float *x = (t->kind == NN_PARAM ? s->param : s->buf) + t->offset;
            for (size_t k = 0; k < t->count; k++) {
                if (t->init == NN_INIT_ONE) x[k] = (float)wm_rng_range(&rng, 0.5, 1.5);
                else if (t->init == NN_INIT_ZERO) x[k] = (float)(0.2 * wm_rng_normal(&rng));
            }
        }
    }
    uint8_t *views = wm_new(uint8_t, (size_t)B * T * H * W * 3);
    float *actions = wm_new(float, (size_t)B * (T - 1) * A);
    for (size_t i = 0; i < (size_t)B * T * H * W * 3; i++) views[i] = (uint8_t)wm_rng_below(&rng, 256);
    for (size_t i = 0; i < (size_t)B * (T - 1) * A; i++) actions[i] = (float)wm_rng_normal(&rng);

    const char *dir = test_tmpdir();
    char path[700];
    snprintf(path, sizeof path, "%s/sj_in.safetensors", dir);
    WmStWriter *w = wm_st_writer_create();
    sj_model_save(m, w);
    size_t vs[5] = {B, T, H, W, 3}, as[3] = {B, T - 1, A};
    wm_st_writer_add(w, "views", WM_U8, 5, vs, views);
    wm_st_writer_add(w, "actions", WM_F32, 3, as, actions);
    char spec[512];
    snprintf(spec, sizeof spec,
             "{\"widths\":[4,8,16,32],\"cifar\":1,\"action_emb\":8,\"layers\":2,\"heads\":4,\"ffn\":%d,"
             "\"pred_hidden\":24,\"m\":%d,\"mean\":[0.4,0.5,0.6],\"std\":[0.2,0.25,0.3],\"var_weight\":0.7,"
             "\"cov_weight\":0.3}",
             2 * sj_model_agg_dim(m), M);
    wm_st_writer_meta(w, "spec", spec);
    CHECK(wm_st_writer_save(w, path, err, sizeof err) == WM_OK, "%s", err);
    wm_st_writer_destroy(w);

    SjStepOut out;
    sj_model_train_step(m, views, actions, B, T, M, NULL, &out);

    char cmd[1024];
    snprintf(cmd, sizeof cmd, TEST_PYTHON " tests/ref/sj_ref.py %s", dir);
    CHECK(system(cmd) == 0, "PyTorch reference ran and loaded our tensors strictly");
    snprintf(path, sizeof path, "%s/sj_torch.safetensors", dir);
    WmStFile *f = NULL;
    if (wm_st_open(path, &f, err, sizeof err) == WM_OK) {
        int D = sj_model_enc_dim(m), E = sj_model_agg_dim(m);
        compare("z", out.z, f, "z", (size_t)B * M * D);
        compare("z_AGG", out.z_agg, f, "z_agg", (size_t)B * E);
        compare("z_target", out.z_tgt, f, "z_tgt", (size_t)B * D);
        float loss = (float)out.loss;
        compare("loss", &loss, f, "loss", 1);
        float reg = (float)out.reg;
        CHECK(reg > 0, "the variance-covariance term is on (%g)", reg);
        compare("variance-covariance term", &reg, f, "reg", 1);
        const NnParams *p = sj_model_params(m, 0);
        NnStore *s = sj_model_store(m, 0);
        int n_grad = 0, n_buf = 0;
        char key[NN_NAME_MAX + 8];
        for (int i = 0; i < p->n; i++) {
            const NnTensor *t = &p->t[i];
            if (t->kind == NN_PARAM) {
                snprintf(key, sizeof key, "grad.%s", t->name);
                compare(key, s->grad + t->offset, f, key, t->count);
                n_grad++;
            } else if (t->kind == NN_BUFFER) {
                compare(t->name, s->buf + t->offset, f, t->name, t->count);
                n_buf++;
            }
        }
        const NnParams *tp = sj_model_params(m, 1);
        NnStore *ts = sj_model_store(m, 1);
        for (int i = 0; i < tp->n; i++)
            if (tp->t[i].kind == NN_BUFFER) {
                compare(tp->t[i].name, ts->buf + tp->t[i].offset, f, tp->t[i].name, tp->t[i].count);
                n_buf++;
            }
        printf("compared z, z_AGG, target, loss, %d parameter gradients, %d buffers; worst relative error %.3g\n",
               n_grad, n_buf, worst);
        wm_st_close(f);
    } else {
        CHECK(0, "%s", err);
    }
    wm_free(views);
    wm_free(actions);
    sj_model_destroy(m);
    nn_runtime_shutdown();
    return TEST_DONE();
}
