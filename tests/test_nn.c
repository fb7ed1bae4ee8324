/* The nn engine in float: BLAS paths against the direct-loop references, AdamW
 * against numbers worked by hand, EMA, schedules, batch-norm running statistics,
 * dropout, the parameter registry and checkpoints, and run-to-run determinism. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "nn/nn.h"
#include "nn/nn_impl.h"
#include "tests/test.h"
#include "tests/test_nn_util.h"

static WmRng rng;

static float *rnd(size_t n, double scale) { return test_randn(&rng, n, scale); }

static void blas_vs_naive_conv(NnConv2d d, int bias) {
    size_t nx = (size_t)d.ci * d.n * d.h * d.w, nw = (size_t)d.co * d.ci * d.kh * d.kw;
    size_t no = (size_t)d.co * d.n * d.oh * d.ow;
    float *x = rnd(nx, 1), *w = rnd(nw, 0.2), *b = rnd((size_t)d.co, 1), *g = rnd(no, 1);
    float *o1 = wm_new(float, no), *o2 = wm_new(float, no);
    float *dx1 = rnd(nx, 1), *dx2 = wm_new(float, nx), *dw1 = rnd(nw, 1), *dw2 = wm_new(float, nw);
    float *db1 = rnd((size_t)d.co, 1), *db2 = wm_new(float, (size_t)d.co);
    /* backward adds: start both from the same non-zero values */
    memcpy(dx2, dx1, nx * sizeof *dx1);
    memcpy(dw2, dw1, nw * sizeof *dw1);
    memcpy(db2, db1, (size_t)d.co * sizeof *db1);
    float *scratch = wm_new(float, nn_conv2d_scratch(&d) + 1);
    nn_conv2d_forward(o1, x, w, bias ? b : NULL, &d, scratch);
    nn_conv2d_forward_naive(o2, x, w, bias ? b : NULL, &d);
    nn_conv2d_backward(dx1, dw1, bias ? db1 : NULL, g, x, w, &d, scratch);
    nn_conv2d_backward_naive(dx2, dw2, bias ? db2 : NULL, g, x, w, &d);
    char what[96];
    snprintf(what, sizeof what, "conv n%d %dx%d %dx%d/%d pad %d %d->%d", d.n, d.h, d.w, d.kh, d.kw,
             d.stride, d.pad, d.ci, d.co);
    double eo = test_rel_err(o1, o2, no), ex = test_rel_err(dx1, dx2, nx), ew = test_rel_err(dw1, dw2, nw);
    double eb = bias ? test_rel_err(db1, db2, (size_t)d.co) : 0;
    CHECK(eo < 1e-5, "%s: forward rel err %.3g", what, eo);
    CHECK(ex < 1e-5, "%s: din rel err %.3g", what, ex);
    CHECK(ew < 1e-5, "%s: dw rel err %.3g", what, ew);
    CHECK(eb < 1e-5, "%s: dbias rel err %.3g", what, eb);
    float *arr[] = {x, w, b, g, o1, o2, dx1, dx2, dw1, dw2, db1, db2, scratch};
    for (size_t i = 0; i < sizeof arr / sizeof *arr; i++)
        wm_free(arr[i]);
}

static void blas_vs_naive_linear(int n, int fi, int fo, int bias) {
    float *x = rnd((size_t)n * fi, 1), *w = rnd((size_t)fo * fi, 0.2), *b = rnd((size_t)fo, 1);
    float *g = rnd((size_t)n * fo, 1), *o1 = wm_new(float, (size_t)n *fo),
          *o2 = wm_new(float, (size_t)n *fo);
    float *dx1 = rnd((size_t)n * fi, 1), *dx2 = wm_new(float, (size_t)n *fi);
    float *dw1 = rnd((size_t)fo * fi, 1), *dw2 = wm_new(float, (size_t)fo *fi);
    float *db1 = rnd((size_t)fo, 1), *db2 = wm_new(float, (size_t)fo);
    memcpy(dx2, dx1, sizeof *dx1 * n * fi);
    memcpy(dw2, dw1, sizeof *dw1 * fo * fi);
    memcpy(db2, db1, sizeof *db1 * fo);
    nn_linear_forward(o1, x, w, bias ? b : NULL, n, fi, fo);
    nn_linear_forward_naive(o2, x, w, bias ? b : NULL, n, fi, fo);
    nn_linear_backward(dx1, dw1, bias ? db1 : NULL, g, x, w, n, fi, fo);
    nn_linear_backward_naive(dx2, dw2, bias ? db2 : NULL, g, x, w, n, fi, fo);
    double eo = test_rel_err(o1, o2, (size_t)n * fo), ex = test_rel_err(dx1, dx2, (size_t)n * fi);
    double ew = test_rel_err(dw1, dw2, (size_t)fo * fi), eb = test_rel_err(db1, db2, (size_t)fo);
    CHECK(eo < 1e-5 && ex < 1e-5 && ew < 1e-5 && eb < 1e-5,
          "linear %d x %d -> %d: rel err out %.3g din %.3g dw %.3g db %.3g", n, fi, fo, eo, ex, ew,
          eb);
    float *arr[] = {x, w, b, g, o1, o2, dx1, dx2, dw1, dw2, db1, db2};
    for (size_t i = 0; i < sizeof arr / sizeof *arr; i++)
        wm_free(arr[i]);
}

static void test_blas_vs_naive(void) {
    blas_vs_naive_conv(nn_conv2d_dims(3, 5, 9, 8, 7, 3, 1, 1), 1);
    blas_vs_naive_conv(nn_conv2d_dims(3, 5, 9, 8, 7, 3, 2, 1), 0);
    blas_vs_naive_conv(nn_conv2d_dims(2, 6, 8, 8, 4, 1, 1, 0), 1);
    blas_vs_naive_conv(nn_conv2d_dims(2, 6, 9, 9, 4, 1, 2, 0), 0);
    blas_vs_naive_conv(nn_conv2d_dims(2, 3, 20, 20, 8, 7, 2, 3), 0);
    blas_vs_naive_conv(nn_conv2d_dims(4, 16, 8, 8, 32, 3, 1, 1), 0);
    /* direct convolutions (8+ channels, planes 8+ wide), unpadded and 5x5 ones, and
     * the lowered input gradient of an unpadded one */
    blas_vs_naive_conv(nn_conv2d_dims(3, 16, 12, 12, 24, 3, 1, 0), 1);
    blas_vs_naive_conv(nn_conv2d_dims(2, 8, 9, 9, 8, 5, 1, 1), 0);
    blas_vs_naive_conv(nn_conv2d_dims(5, 16, 16, 16, 16, 3, 1, 1), 0);
    blas_vs_naive_conv(nn_conv2d_dims(2, 4, 20, 20, 6, 3, 1, 0), 0);
    /* layers whose columns exceed a chunk: lowered a range of output rows at a time,
     * ranges crossing image boundaries; the strided one scatters whole images */
    blas_vs_naive_conv(nn_conv2d_dims(2, 128, 60, 60, 2, 3, 1, 1), 0);
    blas_vs_naive_conv(nn_conv2d_dims(3, 128, 40, 40, 3, 3, 2, 1), 1);
    blas_vs_naive_linear(6, 17, 9, 1);
    blas_vs_naive_linear(33, 64, 48, 0);
}

/* Parameters w (decayed) = [0.5, -1], b (not decayed) = [0.2]; lr 0.01, weight decay
 * 0.1, betas 0.9 / 0.999, eps 1e-8, gradients below. Step 1 by hand for w[0]:
 * decay 0.5 * (1 - 0.01*0.1) = 0.4995; m = 0.1*0.1 = 0.01, v = 0.001*0.01 = 1e-5;
 * bias-corrected m^ = 0.1, v^ = 0.01; 0.4995 - 0.01 * 0.1 / (0.1 + 1e-8) = 0.4895000010.
 * Steps 2 and 3 the same way (and torch.optim.AdamW with two parameter groups gives
 * the same digits). */
static void test_adamw(void) {
    NnParams p;
    nn_params_init(&p);
    size_t ow = nn_params_add(&p, "", "w", NN_PARAM, 1, (size_t[]){2}, 1, NN_INIT_ZERO, 0);
    size_t ob = nn_params_add(&p, "", "b", NN_PARAM, 1, (size_t[]){1}, 0, NN_INIT_ZERO, 0);
    NnStore s;
    nn_store_create(&s, &p, NN_STORE_GRAD | NN_STORE_ADAM);
    s.param[ow] = 0.5f;
    s.param[ow + 1] = -1.0f;
    s.param[ob] = 0.2f;
    const float gw[3][2] = {{0.1f, -0.2f}, {-0.3f, 0.05f}, {0.2f, 0.2f}}, gb[3] = {1, -0.5f, 0.25f};
    const double want[3][3] = {{0.4895000010, -0.9890000005, 0.1900000001},
                               {0.4939523991, -0.9833163191, 0.1873366297},
                               {0.4932705698, -0.9841798986, 0.1839323383}};
    NnAdamW opt = nn_adamw_default(0.01f, 0.1f);
    for (int t = 0; t < 3; t++) {
        nn_store_zero_grad(&s, &p);
        s.grad[ow] = gw[t][0];
        s.grad[ow + 1] = gw[t][1];
        s.grad[ob] = gb[t];
        nn_adamw_step(&opt, &p, &s);
        CHECK(opt.step == t + 1, "step counter");
        CHECK_NEAR(s.param[ow], want[t][0], 2e-7);
        CHECK_NEAR(s.param[ow + 1], want[t][1], 2e-7);
        CHECK_NEAR(s.param[ob], want[t][2], 2e-7);
    }
    nn_store_free(&s);
    nn_params_free(&p);
}

/* AdamW over a range of the registry: its elements step exactly as a full step steps
 * them (a range that starts and ends inside tensors, over the pool), the elements
 * outside keep their weights and moments (no decay), and one step is counted. */
static void test_adamw_range(void) {
    NnParams p;
    nn_params_init(&p);
    const size_t sz[3] = {30000, 777, 50001};
    for (int k = 0; k < 3; k++) nn_params_add(&p, "", k == 0 ? "a" : k == 1 ? "b" : "c", NN_PARAM, 1, &sz[k], 1, NN_INIT_ZERO, 0);
    NnStore full, part;
    nn_store_create(&full, &p, NN_STORE_GRAD | NN_STORE_ADAM);
    nn_store_create(&part, &p, NN_STORE_GRAD | NN_STORE_ADAM);
    const size_t n = p.n_param, lo = 12345, hi = 30000 + 777 + 20000;
    float *w0 = rnd(n, 1);
    memcpy(full.param, w0, n * sizeof(float));
    memcpy(part.param, w0, n * sizeof(float));
    NnAdamW a = nn_adamw_default(0.01f, 0.1f), b = nn_adamw_default(0.01f, 0.1f);
    int same_in = 1, kept_out = 1;
    for (int t = 1; t <= 2; t++) {
        float *g = rnd(n, 0.1 * t);
        memcpy(full.grad, g, n * sizeof(float));
        memcpy(part.grad, g, n * sizeof(float));
        nn_adamw_step(&a, &p, &full);
        nn_adamw_step_range(&b, &p, &part, lo, hi);
        for (size_t i = 0; i < n; i++)
            if (i >= lo && i < hi) same_in &= part.param[i] == full.param[i] && part.adam_v[i] == full.adam_v[i];
            else kept_out &= part.param[i] == w0[i] && part.adam_m[i] == 0 && part.adam_v[i] == 0;
        wm_free(g);
    }
    CHECK(same_in, "inside the range: the full step's weights and moments, bit for bit");
    CHECK(kept_out, "outside the range: weights and moments untouched (no decay)");
    CHECK(b.step == 2, "one step counted per call");
    wm_free(w0);
    nn_store_free(&full);
    nn_store_free(&part);
    nn_params_free(&p);
}

/* AdamW over tensors large enough for the pool (ranges that split tensors, tails that
 * miss the vector width), decay on and off, one tensor in a group at three times the
 * rate (its decay scaled with it, as torch.optim.AdamW's per-group lr), against the
 * update worked in double; and the gradient norm against a double sum. */
static void test_adamw_pooled(void) {
    NnParams p;
    nn_params_init(&p);
    const size_t sz[3] = {40000, 1237, 70001};
    const int decay[3] = {1, 0, 1};
    size_t off[3];
    const double scale[3] = {1, 1, 3};
    for (int k = 0; k < 3; k++)
        off[k] = nn_params_add(&p, k == 2 ? "group" : "", k == 0 ? "a" : k == 1 ? "b" : "c", NN_PARAM, 1, &sz[k],
                               decay[k], NN_INIT_ZERO, 0);
    CHECK(nn_params_set_lr_scale(&p, "group", 3) == 1, "one tensor in the group");
    CHECK(nn_params_set_lr_scale(&p, "grou", 5) == 0, "a prefix matches whole module names only");
    NnStore s;
    nn_store_create(&s, &p, NN_STORE_GRAD | NN_STORE_ADAM);
    const size_t n = p.n_param;
    double *w = wm_new(double, n), *m = wm_new(double, n), *v = wm_new(double, n);
    float *w0 = rnd(n, 1);
    for (size_t i = 0; i < n; i++)
        s.param[i] = w0[i], w[i] = w0[i];
    NnAdamW opt = nn_adamw_default(0.01f, 0.1f);
    double worst = 0, norm_err = 0;
    for (int t = 1; t <= 3; t++) {
        float *g = rnd(n, 0.1 * t);
        memcpy(s.grad, g, n * sizeof *g);
        double sq = 0;
        for (size_t i = 0; i < n; i++)
            sq += (double)g[i] * g[i];
        double e = fabs(nn_grad_norm(&s, &p) - sqrt(sq)) / sqrt(sq);
        if (e > norm_err) norm_err = e;
        nn_adamw_step(&opt, &p, &s);
        const double bc1 = 1 - pow(0.9, t), bc2 = 1 - pow(0.999, t);
        for (int k = 0; k < 3; k++)
            for (size_t i = off[k]; i < off[k] + sz[k]; i++) {
                const double lr = 0.01 * scale[k];
                if (decay[k]) w[i] *= 1 - lr * 0.1;
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * (double)g[i] * g[i];
                w[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + 1e-8);
                /* float rounding grows with the step: the bound scales with the rate */
                double d = fabs(s.param[i] - w[i]) / (fabs(w[i]) + 1e-3) / scale[k];
                if (d > worst) worst = d;
            }
        wm_free(g);
    }
    CHECK(worst < 1e-5, "pooled AdamW within 1e-5 (times the rate's scale) of the double update (worst %.3g)", worst);
    /* the norm's blocks depend on the size alone: the same bits on one thread as on two */
    const double two = nn_grad_norm(&s, &p);
    nn_runtime_init(1);
    const double one = nn_grad_norm(&s, &p);
    nn_runtime_init(2);
    CHECK(one == two, "gradient norm the same on one and two threads (%.17g, %.17g)", one, two);
    CHECK(norm_err < 1e-12, "gradient norm within 1e-12 of the double sum (worst %.3g)", norm_err);
    wm_free(w);
    wm_free(m);
    wm_free(v);
    wm_free(w0);
    nn_store_free(&s);
    nn_params_free(&p);
}

static void test_ema_and_schedules(void) {
    float t[5] = {1, 2, 3, 4, 5}, o[5] = {-1, 0, 1, 0.5f, 9}, t0[5];
    memcpy(t0, t, sizeof t);
    nn_ema_update(t, o, 5, 1.0);
    CHECK(!memcmp(t, t0, sizeof t), "tau 1 keeps the target");
    nn_ema_update(t, o, 5, 0.0);
    CHECK(!memcmp(t, o, sizeof t), "tau 0 copies the online weights");
    memcpy(t, t0, sizeof t);
    nn_ema_update(t, o, 5, 0.75);
    CHECK_NEAR(t[4], 0.75 * 5 + 0.25 * 9, 1e-6);
    /* a large vector goes through the pool; same rule */
    size_t n = 100000;
    float *a = rnd(n, 1), *b = rnd(n, 1), *c = wm_new(float, n);
    memcpy(c, a, n * sizeof *a);
    nn_ema_update(a, b, n, 0.9);
    int ok = 1;
    const float tau = 0.9f, one = 1 - tau;
    for (size_t i = 0; i < n; i++)
        ok &= a[i] == tau * c[i] + one * b[i];
    CHECK(ok, "pooled EMA matches the formula element by element");
    wm_free(a);
    wm_free(b);
    wm_free(c);

    CHECK_NEAR(nn_lr_schedule(0, 10, 110, 1.0, 0.0), 0.1, 1e-12);
    CHECK_NEAR(nn_lr_schedule(9, 10, 110, 1.0, 0.0), 1.0, 1e-12);
    CHECK_NEAR(nn_lr_schedule(10, 10, 110, 1.0, 0.0), 1.0, 1e-12);
    CHECK_NEAR(nn_lr_schedule(60, 10, 110, 1.0, 0.0), 0.5, 1e-12);
    CHECK_NEAR(nn_lr_schedule(110, 10, 110, 1.0, 0.1), 0.1, 1e-12);
    CHECK_NEAR(nn_lr_schedule(5, 0, 10, 2.0, 0.0), 1.0, 1e-12);
    CHECK_NEAR(nn_ema_tau(0, 0.996), 0.996, 1e-12);
    CHECK_NEAR(nn_ema_tau(0.5, 0.996), 0.998, 1e-12);
    CHECK_NEAR(nn_ema_tau(1, 0.996), 1.0, 1e-12);
}

/* One training forward: running mean 0.1 * batch mean, running var 0.9 + 0.1 *
 * unbiased batch variance, as torch.nn.BatchNorm2d with momentum 0.1. */
static void test_bn_running_stats(void) {
    const int c = 2, count = 10;
    float *x = rnd((size_t)c * count, 2), *out = wm_new(float, (size_t)c *count);
    float mean[2], rstd[2], rm[2] = {0, 0}, rv[2] = {1, 1};
    NnBatchNorm d = {c, count, 0.1f, 1e-5f, 1, 0};
    nn_batchnorm2d_forward(out, mean, rstd, x, NULL, NULL, NULL, rm, rv, &d);
    for (int j = 0; j < c; j++) {
        double s = 0, q = 0;
        for (int i = 0; i < count; i++)
            s += x[j * count + i];
        double mu = s / count;
        for (int i = 0; i < count; i++)
            q += (x[j * count + i] - mu) * (x[j * count + i] - mu);
        CHECK_NEAR(rm[j], 0.1 * mu, 1e-6);
        CHECK_NEAR(rv[j], 0.9 + 0.1 * q / (count - 1), 1e-6);
        CHECK_NEAR(rstd[j], 1 / sqrt(q / count + 1e-5), 1e-5);
    }
    /* a large mean does not cancel the variance away (100,000 values around 1000) */
    {
        const int m = 100000;
        float *z = rnd(m, 1), *zo = wm_new(float, m), zm, zr;
        double zs = 0, zq = 0;
        for (int i = 0; i < m; i++) {
            z[i] += 1000;
            zs += z[i];
        }
        for (int i = 0; i < m; i++)
            zq += (z[i] - zs / m) * (z[i] - zs / m);
        NnBatchNorm dz = {1, m, 0.1f, 1e-5f, 1, 0};
        nn_batchnorm2d_forward(zo, &zm, &zr, z, NULL, NULL, NULL, NULL, NULL, &dz);
        CHECK_NEAR(zm, zs / m, 1e-6);
        CHECK(fabs(zr * sqrt(zq / m + 1e-5) - 1) < 1e-4, "rstd %.6g, exact %.6g", zr,
              1 / sqrt(zq / m + 1e-5));
        wm_free(z);
        wm_free(zo);
    }
    /* eval mode normalises with the running statistics */
    d.train = 0;
    nn_batchnorm2d_forward(out, mean, rstd, x, NULL, NULL, NULL, rm, rv, &d);
    CHECK_NEAR(out[3], (x[3] - rm[0]) / sqrt(rv[0] + 1e-5), 1e-5);
    wm_free(x);
    wm_free(out);
}

static void test_dropout(void) {
    size_t n = 20000;
    float *x = rnd(n, 1), *y1 = wm_new(float, n), *y2 = wm_new(float, n);
    uint8_t *m1 = wm_new(uint8_t, n), *m2 = wm_new(uint8_t, n);
    WmRng r1, r2;
    wm_rng_seed(&r1, 7, 3);
    wm_rng_seed(&r2, 7, 3);
    nn_dropout_forward(y1, m1, x, n, 0.25f, &r1);
    nn_dropout_forward(y2, m2, x, n, 0.25f, &r2);
    CHECK(!memcmp(y1, y2, n * sizeof *y1), "the same seed gives the same mask");
    size_t kept = 0;
    int scaled = 1;
    for (size_t i = 0; i < n; i++) {
        kept += m1[i];
        scaled &= m1[i] ? y1[i] == x[i] * (float)(1 / 0.75) : y1[i] == 0;
    }
    CHECK(fabs((double)kept / n - 0.75) < 0.02, "keep rate %.3f", (double)kept / n);
    CHECK(scaled, "kept values scaled by 1/(1-p), dropped ones zero");
    nn_dropout_forward(y1, NULL, x, n, 0, NULL);
    CHECK(!memcmp(y1, x, n * sizeof *x), "p = 0 is the identity");
    wm_free(x);
    wm_free(y1);
    wm_free(y2);
    wm_free(m1);
    wm_free(m2);
}

static size_t param_elems(const NnParams *p, NnKind kind) {
    size_t n = 0;
    for (int i = 0; i < p->n; i++)
        if (p->t[i].kind == kind) n += p->t[i].count;
    return n;
}

/* Saves p's tensors of store a to NAME in the test folder (its path into path) and opens
 * it again; NULL (and a failed check) where either fails. */
static WmStFile *save_reopen(const NnParams *p, const NnStore *a, const char *name, char *path, size_t pathsz) {
    char err[256];
    snprintf(path, pathsz, "%s/%s", test_tmpdir(), name);
    WmStWriter *w = wm_st_writer_create();
    nn_params_save(p, a, w);
    CHECK(wm_st_writer_save(w, path, err, sizeof err) == WM_OK, "save: %s", err);
    wm_st_writer_destroy(w);
    WmStFile *f = NULL;
    CHECK(wm_st_open(path, &f, err, sizeof err) == WM_OK, "open: %s", err);
    return f;
}

static void test_registry_and_checkpoint(void) {
    NnParams p;
    nn_params_init(&p);
    NnResNetConfig cfg = nn_resnet18_config(1);
    NnResNet *r = nn_resnet_create(&p, "encoder", &cfg);
    /* torchvision resnet18 has 11,689,512 parameters; without fc (513,000) and with a
     * 3x3 stem (1,728 instead of 9,408): 11,168,832. */
    CHECK(param_elems(&p, NN_PARAM) == 11168832, "ResNet-18-CIFAR has %zu parameters",
          param_elems(&p, NN_PARAM));
    CHECK(p.n == 120, "%d tensors (60 parameters, 40 running stats, 20 counters)", p.n);
    const NnTensor *t = nn_params_find(&p, "encoder.layer2.0.downsample.0.weight");
    CHECK(t && t->ndim == 4 && t->shape[0] == 128 && t->shape[1] == 64 && t->shape[2] == 1,
          "downsample conv [128,64,1,1]");
    t = nn_params_find(&p, "encoder.layer4.1.bn2.weight");
    CHECK(t && t->init == NN_INIT_ZERO && !t->decay, "zero_init_residual, no decay on norms");
    t = nn_params_find(&p, "encoder.bn1.num_batches_tracked");
    CHECK(t && t->kind == NN_COUNTER && t->ndim == 0, "num_batches_tracked is a 0-d counter");
    CHECK(nn_params_find(&p, "encoder.conv1.weight")->decay, "conv weights decay");
    NnRange rg = nn_resnet_range(r);
    CHECK(rg.begin == 0 && rg.end == p.n_param, "the encoder spans its registry");
    nn_resnet_destroy(r);

    /* save, load into a second store, compare; then the errors */
    NnStore a, b;
    nn_store_create(&a, &p, 0);
    nn_store_create(&b, &p, 0);
    nn_store_init(&a, &p, &rng);
    a.buf[5] = 0.25f;
    a.count[3] = 17;
    char path[600], err[256];
    WmStFile *f = save_reopen(&p, &a, "enc.safetensors", path, sizeof path);
    CHECK(f && nn_params_load(&p, &b, f, err, sizeof err) == WM_OK, "load: %s", err);
    CHECK(!memcmp(a.param, b.param, p.n_param * sizeof(float)), "parameters round-trip");
    CHECK(!memcmp(a.buf, b.buf, p.n_buffer * sizeof(float)), "buffers round-trip");
    CHECK(!memcmp(a.count, b.count, p.n_counter * sizeof(int64_t)), "counters round-trip");
    wm_st_close(f);

    /* a registry expecting a wider layer, and one expecting a tensor the file lacks */
    NnParams q;
    nn_params_init(&q);
    nn_params_add(&q, "encoder", "conv1.weight", NN_PARAM, 4, (size_t[]){32, 3, 3, 3}, 1,
                  NN_INIT_ZERO, 0);
    NnStore c;
    nn_store_create(&c, &q, 0);
    CHECK(wm_st_open(path, &f, err, sizeof err) == WM_OK, "open");
    c.param[0] = 42;
    int rc = nn_params_load(&q, &c, f, err, sizeof err);
    CHECK(rc == WM_ERR_MISMATCH && strstr(err, "encoder.conv1.weight") && strstr(err, "[64,3,3,3]"),
          "wrong shape is named: %s", err);
    CHECK(c.param[0] == 42, "nothing copied on error");
    nn_params_add(&q, "", "agg_token", NN_PARAM, 3, (size_t[]){1, 1, 8}, 0, NN_INIT_ZERO, 0);
    NnParams q2;
    nn_params_init(&q2);
    nn_params_add(&q2, "", "agg_token", NN_PARAM, 3, (size_t[]){1, 1, 8}, 0, NN_INIT_ZERO, 0);
    NnStore c2;
    nn_store_create(&c2, &q2, 0);
    rc = nn_params_load(&q2, &c2, f, err, sizeof err);
    CHECK(rc == WM_ERR_MISMATCH && strstr(err, "agg_token") && strstr(err, "missing"),
          "missing tensor is named: %s", err);
    wm_st_close(f);
    nn_store_free(&c);
    nn_store_free(&c2);
    nn_params_free(&q);
    nn_params_free(&q2);
    nn_store_free(&a);
    nn_store_free(&b);
    nn_params_free(&p);
}

/* A transformer whose final norm sits in the wrapper module (seq-JEPA's layout) reads a
 * file written under the former name through an alias, and writes the new name. */
static void test_norm_name_and_alias(void) {
    NnParams old, cur;
    nn_params_init(&old);
    nn_params_init(&cur);
    NnTransformerConfig tc = {1, 8, 2, 16, 0.0f, 1, NULL};
    NnTransformer *t0 = nn_transformer_create(&old, "te.transformer_encoder", &tc);
    tc.norm_name = "te.norm";
    NnTransformer *t1 = nn_transformer_create(&cur, "te.transformer_encoder", &tc);
    CHECK(nn_params_find(&old, "te.transformer_encoder.norm.weight") && !nn_params_find(&old, "te.norm.weight"),
          "default final norm under prefix.norm");
    CHECK(nn_params_find(&cur, "te.norm.weight") && nn_params_find(&cur, "te.norm.bias") &&
              !nn_params_find(&cur, "te.transformer_encoder.norm.weight"),
          "norm_name places the final norm");
    CHECK(old.n == cur.n && old.n_param == cur.n_param, "same tensors otherwise");
    CHECK(nn_params_alias(&cur, "te.norm", "te.transformer_encoder.norm") == 2, "two tensors aliased");
    CHECK(nn_params_alias(&cur, "te.nor", "x") == 0, "an alias matches whole module names only");
    NnStore a, b;
    nn_store_create(&a, &old, 0);
    nn_store_create(&b, &cur, 0);
    nn_store_init(&a, &old, &rng);
    const NnTensor *g = nn_params_find(&old, "te.transformer_encoder.norm.weight");
    for (size_t k = 0; k < g->count; k++) a.param[g->offset + k] = 0.5f + (float)k;
    char path[600], err[256];
    WmStFile *f = save_reopen(&old, &a, "old_norm.safetensors", path, sizeof path);
    CHECK(f && nn_params_load(&cur, &b, f, err, sizeof err) == WM_OK, "old name loads: %s", err);
    CHECK(!memcmp(a.param, b.param, old.n_param * sizeof(float)), "every tensor (final norm included) read back");
    wm_st_close(f);
    /* saving writes the new name only */
    f = save_reopen(&cur, &b, "new_norm.safetensors", path, sizeof path);
    CHECK(f && wm_st_find(f, "te.norm.weight") && !wm_st_find(f, "te.transformer_encoder.norm.weight"),
          "saved under the new name");
    wm_st_close(f);
    nn_transformer_destroy(t0);
    nn_transformer_destroy(t1);
    nn_store_free(&a);
    nn_store_free(&b);
    nn_params_free(&old);
    nn_params_free(&cur);
}

/* A narrow ResNet, a transformer and an MLP: forward + backward twice from the same
 * state give bitwise identical outputs, gradients and running statistics. */
static void run_once(float *out, float *grads, float *bufs, const float *x, const float *tok) {
    NnParams p;
    nn_params_init(&p);
    NnResNetConfig cfg = {0, 3, {8, 16, 16, 32}, {1, 1, 1, 1}, 1, 1};
    NnResNet *r = nn_resnet_create(&p, "encoder", &cfg);
    NnTransformerConfig tc = {2, 32, 4, 64, 0.1f, 1, NULL};
    NnTransformer *tf = nn_transformer_create(&p, "tf", &tc);
    NnMlpConfig mc = {2, {32, 64, 16}, {0, 1}, 1, 1, 0};
    NnMlp *m = nn_mlp_create(&p, "head", &mc);
    NnStore s;
    nn_store_create(&s, &p, NN_STORE_GRAD);
    WmRng init;
    wm_rng_seed(&init, 1, 2);
    nn_store_init(&s, &p, &init);
    nn_resnet_bind(r, 6, 64, 64, 1);
    nn_transformer_bind(tf, 3, 5, 1);
    nn_mlp_bind(m, 15, 1);
    nn_store_zero_grad(&s, &p);
    float *feat = wm_new(float, 6 * 32), *dfeat = wm_new(float, 6 * 32);
    float *y = wm_new(float, 15 * 32), *dy = wm_new(float, 15 * 32);
    float *h = wm_new(float, 15 * 16), *dh = wm_new(float, 15 * 16);
    nn_resnet_forward(r, feat, x, 6, &s, 1);
    WmRng drop;
    wm_rng_seed(&drop, 3, 4);
    nn_transformer_forward(tf, y, tok, 3, 5, &s, 1, &drop);
    nn_mlp_forward(m, h, y, 15, &s, 1);
    for (int i = 0; i < 15 * 16; i++)
        dh[i] = h[i];
    nn_mlp_backward(m, dy, dh, &s);
    nn_transformer_backward(tf, NULL, dy, &s);
    for (int i = 0; i < 6 * 32; i++)
        dfeat[i] = feat[i] * 0.5f;
    nn_resnet_backward(r, NULL, dfeat, &s);
    memcpy(out, feat, sizeof *feat * 6 * 32);
    memcpy(out + 6 * 32, h, sizeof *h * 15 * 16);
    memcpy(grads, s.grad, p.n_param * sizeof(float));
    memcpy(bufs, s.buf, p.n_buffer * sizeof(float));
    wm_free(feat);
    wm_free(dfeat);
    wm_free(y);
    wm_free(dy);
    wm_free(h);
    wm_free(dh);
    nn_resnet_destroy(r);
    nn_transformer_destroy(tf);
    nn_mlp_destroy(m);
    nn_store_free(&s);
    nn_params_free(&p);
}

static void test_determinism(void) {
    size_t big = 1 << 20;
    float *x = rnd((size_t)3 * 6 * 64 * 64, 1), *tok = rnd(15 * 32, 1);
    float *o1 = wm_new(float, 1024), *o2 = wm_new(float, 1024);
    float *g1 = wm_new(float, big), *g2 = wm_new(float, big);
    float *b1 = wm_new(float, 4096), *b2 = wm_new(float, 4096);
    run_once(o1, g1, b1, x, tok);
    run_once(o2, g2, b2, x, tok);
    CHECK(!memcmp(o1, o2, 1024 * sizeof *o1), "outputs identical run to run");
    CHECK(!memcmp(g1, g2, big * sizeof *g1), "gradients identical run to run");
    CHECK(!memcmp(b1, b2, 4096 * sizeof *b1), "running statistics identical run to run");
    double gs = 0;
    for (size_t i = 0; i < big; i++)
        gs += fabs(g1[i]);
    CHECK(gs > 0, "gradients are not all zero");
    float *arr[] = {x, tok, o1, o2, g1, g2, b1, b2};
    for (size_t i = 0; i < sizeof arr / sizeof *arr; i++)
        wm_free(arr[i]);
}

/* nn_batchnorm2d_apply with a training forward's saved statistics rebuilds that
 * forward's output bit for bit (the ResNet's backward relies on it). */
static void test_bn_apply(void) {
    const int c = 7, count = 3 * 19 * 17;
    float *x = rnd((size_t)c * count, 1), *gb = rnd(2 * (size_t)c, 1);
    float *y = wm_new(float, (size_t)c * count), *z = wm_new(float, (size_t)c * count);
    float mean[7], rstd[7], rm[7] = {0}, rv[7] = {1, 1, 1, 1, 1, 1, 1};
    for (int relu = 0; relu < 2; relu++) {
        NnBatchNorm d = {c, count, 0.1f, 1e-5f, 1, relu};
        nn_batchnorm2d_forward(y, mean, rstd, x, NULL, gb, gb + c, rm, rv, &d);
        nn_batchnorm2d_apply(z, x, mean, rstd, gb, gb + c, &d);
        CHECK(!memcmp(y, z, (size_t)c * count * sizeof *y), "relu %d: apply == forward, bitwise",
              relu);
    }
    /* backward with the ReLU mask rebuilt from the input and statistics: the same bits as
     * with the kept output (a channel longer than one vector block, and its tail) */
    NnBatchNorm d = {c, count, 0.1f, 1e-5f, 1, 1};
    float *g = rnd((size_t)c * count, 1), *da = wm_new(float, (size_t)c * count), *db = wm_new(float, (size_t)c * count);
    float dga[7] = {0}, dba[7] = {0}, dgb[7] = {0}, dbb[7] = {0};
    nn_batchnorm2d_forward(y, mean, rstd, x, NULL, gb, gb + c, rm, rv, &d);
    nn_bn2d_backward_assign(da, NULL, dga, dba, g, y, x, mean, rstd, gb, &d);
    nn_bn2d_backward_rebuild(db, dgb, dbb, g, x, mean, rstd, gb, gb + c, &d);
    CHECK(!memcmp(da, db, (size_t)c * count * sizeof *da) && !memcmp(dga, dgb, sizeof dga) &&
              !memcmp(dba, dbb, sizeof dba),
          "backward with a rebuilt ReLU mask == with the kept output, bitwise");
    wm_free(g);
    wm_free(da);
    wm_free(db);
    wm_free(x);
    wm_free(gb);
    wm_free(y);
    wm_free(z);
}

/* A ResNet bound without gradients keeps no activations for backward (four shared
 * buffers): its forward must equal, bit for bit, the same network bound with gradients,
 * for both stems, with and without downsampling blocks, in training and eval mode. */
static void test_resnet_inference_layout(void) {
    const NnResNetConfig cfgs[2] = {{0, 3, {8, 16, 16, 32}, {1, 2, 1, 1}, 1, 1},
                                    {1, 3, {8, 8, 16, 16}, {2, 1, 1, 2}, 1, 1}};
    const int n = 5, hw = 32;
    float *x = rnd((size_t)3 * n * hw * hw, 1);
    for (int c = 0; c < 2; c++) {
        NnParams p;
        nn_params_init(&p);
        NnResNet *rg = nn_resnet_create(&p, "a", &cfgs[c]);
        NnResNet *ri = nn_resnet_create(&p, "b", &cfgs[c]);
        NnResNet *rl = nn_resnet_create(&p, "c", &cfgs[c]);
        NnStore s;
        nn_store_create(&s, &p, NN_STORE_GRAD);
        WmRng init;
        wm_rng_seed(&init, 5, 6);
        nn_store_init(&s, &p, &init);
        /* the second network reads the first one's weights */
        NnRange ra = nn_resnet_range(rg), rb = nn_resnet_range(ri);
        CHECK(ra.end - ra.begin == rb.end - rb.begin, "stem %d: same parameter count", c);
        memcpy(s.param + rb.begin, s.param + ra.begin, (ra.end - ra.begin) * sizeof(float));
        size_t bg = nn_resnet_bind(rg, n, hw, hw, 1);
        size_t bi = nn_resnet_bind(ri, n, hw, hw, 0);
        CHECK(bi < bg, "stem %d: inference binds %zu bytes, training %zu", c, bi, bg);
        const int d = nn_resnet_out_dim(rg);
        float *og = wm_new(float, (size_t)n * d), *oi = wm_new(float, (size_t)n * d);
        for (int train = 0; train < 2; train++) {
            nn_resnet_forward(rg, og, x, n, &s, train);
            nn_resnet_forward(ri, oi, x, n, &s, train);
            CHECK(!memcmp(og, oi, (size_t)n * d * sizeof *og),
                  "stem %d, train %d: forward without gradient buffers is bit-identical", c, train);
        }
        /* a third network in the first one's gradient buffers, run between its training
         * forward and backward: the same output as in its own arena, and the first
         * network's gradients the same bits as without it in between */
        memcpy(s.param + nn_resnet_range(rl).begin, s.param + ra.begin, (ra.end - ra.begin) * sizeof(float));
        const int nl = 2, nmax = 24; /* the lender's room: three of its largest activations */
        nn_resnet_bind(rg, nmax, hw, hw, 1);
        CHECK(nn_resnet_bind_lent(rl, nmax, hw, hw, rg) > 0, "stem %d: %d images do not fit in the lent buffers", c, nmax);
        CHECK(nn_resnet_bind_lent(rl, nl, hw, hw, rg) == 0, "stem %d: %d images run in the lent buffers", c, nl);
        float *dout = rnd((size_t)n * d, 1), *ol = wm_new(float, (size_t)nl * d);
        float *g0 = wm_new(float, p.n_param);
        for (int lent = 0; lent < 2; lent++) {
            memset(s.grad, 0, p.n_param * sizeof(float));
            nn_resnet_forward(rg, og, x, n, &s, 1);
            if (lent) {
                nn_resnet_forward(rl, ol, x, nl, &s, 1);
                nn_resnet_forward(ri, oi, x, nl, &s, 1);
                CHECK(!memcmp(ol, oi, (size_t)nl * d * sizeof *ol), "stem %d: lent buffers, same output", c);
            }
            nn_resnet_backward(rg, NULL, dout, &s);
            if (!lent) memcpy(g0, s.grad, p.n_param * sizeof(float));
        }
        CHECK(!memcmp(g0, s.grad, p.n_param * sizeof(float)),
              "stem %d: gradients unchanged by a network run in the lent buffers", c);
        wm_free(g0);
        wm_free(ol);
        wm_free(dout);
        nn_resnet_destroy(rl);
        wm_free(og);
        wm_free(oi);
        nn_resnet_destroy(rg);
        nn_resnet_destroy(ri);
        nn_store_free(&s);
        nn_params_free(&p);
    }
    wm_free(x);
}

/* The lowered convolution passes split their rows (or images) into jobs that the pool's
 * threads share evenly (it gives each an equal run of jobs): on the layers of the
 * reference configuration and the default preset, no thread gets more than 10% above an
 * equal share of the rows wherever the batch has at least 8 jobs' worth per thread. */
static void test_conv_job_split(void) {
    const int cs[][5] = {/* ci, h, co, k, stride */
                         {3, 32, 64, 3, 1},    {64, 32, 64, 3, 1},   {64, 32, 128, 3, 2}, {64, 32, 128, 1, 2},
                         {128, 16, 128, 3, 1}, {128, 16, 256, 3, 2}, {256, 8, 256, 3, 1}, {256, 8, 512, 3, 2},
                         {256, 8, 512, 1, 2},  {512, 4, 512, 3, 1},  {3, 64, 32, 3, 1},   {32, 64, 32, 3, 1},
                         {128, 16, 256, 1, 2}, {256, 8, 256, 3, 1}};
    const int ns[] = {32, 96, 384};
    int uneven = 0, cases = 0;
    double worst = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
            for (int T = 2; T <= 3; T++)
                for (int images = 0; images < 2; images++) {
                    NnConv2d d = nn_conv2d_dims(ns[j], cs[i][0], cs[i][1], cs[i][1], cs[i][2], cs[i][3], cs[i][4],
                                                cs[i][3] / 2);
                    const int total = images ? d.n : d.n * d.oh, rows = nn_conv2d_job_rows(&d, T, images);
                    const int small = !images && d.oh * d.ow <= 64, jobs = (total + rows - 1) / rows;
                    if (rows < 1 || (small && rows % d.oh)) {
                        uneven++; /* whole images where the planes are small */
                        continue;
                    }
                    if ((small ? d.n : total) < 8 * T) continue;
                    cases++;
                    int most = 0; /* the pool's split: thread k runs jobs [k J / T, (k + 1) J / T) */
                    for (int k = 0; k < T; k++) {
                        int b = (int)((int64_t)jobs * k / T), e = (int)((int64_t)jobs * (k + 1) / T);
                        int load = (e * rows < total ? e * rows : total) - b * rows;
                        if (load > most) most = load;
                    }
                    double r = most / ((double)total / T);
                    if (r > worst) worst = r;
                    if (r > 1.10) uneven++;
                }
    CHECK(cases > 100 && uneven == 0, "%d of %d passes give a thread more than 1.10 equal shares (worst %.3f)", uneven,
          cases, worst);
    /* 512->512 at 4x4, batch 96: 3 jobs of 32 images before, one thread idle a third */
    NnConv2d d = nn_conv2d_dims(96, 512, 4, 4, 512, 3, 1, 1);
    CHECK(nn_conv2d_job_rows(&d, 2, 0) == 96 && nn_conv2d_job_rows(&d, 1, 0) == 128,
          "512->512 at 4x4, batch 96: jobs of 24 images on 2 threads (%d rows), 32 on 1 (%d)",
          nn_conv2d_job_rows(&d, 2, 0), nn_conv2d_job_rows(&d, 1, 0));
}

int main(int argc, char **argv) {
    nn_blas_reexec(argc, argv);
    nn_runtime_init(2);
    wm_rng_seed(&rng, 42, 0);
    NnBlasInfo bi;
    nn_blas_info(&bi);
    CHECK(bi.core[0] != 0, "OpenBLAS names its kernels");
    CHECK(nn_runtime_threads() == 2, "two threads");
    test_blas_vs_naive();
    test_adamw();
    test_adamw_pooled();
    test_adamw_range();
    test_ema_and_schedules();
    test_bn_running_stats();
    test_dropout();
    test_registry_and_checkpoint();
    test_norm_name_and_alias();
    test_determinism();
    test_bn_apply();
    test_resnet_inference_layout();
    test_conv_job_split();
    nn_runtime_shutdown();
    return TEST_DONE();
}
