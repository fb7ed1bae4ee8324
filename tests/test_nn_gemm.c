/* The engine's own GEMM (float and bf16) against the double-precision naive
 * reference across odd shapes, every transpose, alpha/beta and strided operands; bf16
 * rounding; and the convolution and linear ops in bf16 against float within their
 * stated tolerances. Parts that need AVX-512 (or AVX512_BF16) are skipped, and say
 * so, on CPUs without it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/rng.h"
#include "nn/nn.h"
#include "tests/test.h"
#include "tests/test_nn_util.h"

/* Stated tolerances (max |error| / max |reference|). fp32: the own GEMM sums in
 * float in a different order than the double reference. bf16: each input carries a
 * relative rounding error of at most 2^-9, so a product's error is below 2^-8 of its
 * size; over sums of random-sign terms the relative error of the result stays below
 * about 1e-2 of the output's scale. */
#define TOL_F32  2e-6
#define TOL_BF16 1e-2

static WmRng rng;

static float *rnd(size_t n, double scale) { return test_randn(&rng, n, scale); }

/* Largest relative error over the elements beyond the C block (the padding of ldc
 * must be untouched). */
static int outside_untouched(const float *c, const float *c0, int m, int n, int ldc) {
    for (int i = 0; i < m; i++)
        for (int j = n; j < ldc; j++)
            if (c[(size_t)i * ldc + j] != c0[(size_t)i * ldc + j]) return 0;
    return 1;
}

static void round_all(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = nn_bf16_round(x[i]);
}

/* op(A) [m,k], op(B) [k,n] with leading dimensions padded by 3; the own GEMM in
 * float and (when the CPU has it) bf16 against the naive reference. bf16 is checked
 * twice: against the reference on bf16-rounded inputs (only summation order differs:
 * tight) and against the float reference (the stated bf16 tolerance). */
static void one_shape(int ta, int tb, int m, int n, int k, float alpha, float beta) {
    const int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 3, ldc = n + 3;
    const size_t na = (size_t)(ta ? k : m) * lda, nb = (size_t)(tb ? n : k) * ldb, nc = (size_t)m * ldc;
    float *a = rnd(na, 1), *b = rnd(nb, 1), *c0 = rnd(nc, 1);
    float *ref = wm_new(float, nc), *got = wm_new(float, nc);
    memcpy(ref, c0, nc * sizeof *c0);
    nn_gemm_naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, ref, ldc);
    char what[96];
    snprintf(what, sizeof what, "%c%c m %d n %d k %d alpha %g beta %g", ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k,
             alpha, beta);
    /* fp32, own path, through nn_gemm (threaded split for the large ones) */
    nn_set_gemm_path(NN_GEMM_OWN);
    memcpy(got, c0, nc * sizeof *c0);
    nn_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc);
    double e = test_rel_err(got, ref, nc);
    CHECK(e < TOL_F32, "own fp32 %s: rel err %.3g", what, e);
    CHECK(outside_untouched(got, c0, m, n, ldc), "own fp32 %s: C beyond n untouched", what);
    /* the same through OpenBLAS, as a control for the tolerance */
    nn_set_gemm_path(NN_GEMM_BLAS);
    memcpy(got, c0, nc * sizeof *c0);
    nn_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc);
    double eb = test_rel_err(got, ref, nc);
    CHECK(eb < TOL_F32, "OpenBLAS %s: rel err %.3g", what, eb);
    nn_set_gemm_path(NN_GEMM_AUTO);
    char err[256];
    if (nn_set_precision(NN_PREC_BF16, err, sizeof err) == WM_OK) {
        memcpy(got, c0, nc * sizeof *c0);
        nn_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc);
        nn_set_precision(NN_PREC_FP32, err, sizeof err);
        e = test_rel_err(got, ref, nc);
        CHECK(e < TOL_BF16, "bf16 %s vs float: rel err %.3g", what, e);
        CHECK(e > 1e-5 || k == 1, "bf16 %s differs from float (rel err %.3g): the products are bf16", what, e);
        CHECK(outside_untouched(got, c0, m, n, ldc), "bf16 %s: C beyond n untouched", what);
        float *ar = wm_new(float, na), *br = wm_new(float, nb), *rr = wm_new(float, nc);
        memcpy(ar, a, na * sizeof *a);
        memcpy(br, b, nb * sizeof *b);
        round_all(ar, na);
        round_all(br, nb);
        memcpy(rr, c0, nc * sizeof *c0);
        nn_gemm_naive(ta, tb, m, n, k, alpha, ar, lda, br, ldb, beta, rr, ldc);
        e = test_rel_err(got, rr, nc);
        CHECK(e < TOL_F32, "bf16 %s vs the reference on rounded inputs: rel err %.3g", what, e);
        wm_free(ar);
        wm_free(br);
        wm_free(rr);
    }
    wm_free(a);
    wm_free(b);
    wm_free(c0);
    wm_free(ref);
    wm_free(got);
}

static void test_gemm_shapes(void) {
    /* edges of every block size (MR 8, NR 48, KC 256, MC 128, NC 384), 1-wide cases,
     * odd depths (a bf16 pair half empty), and a few layer-like shapes */
    static const int shapes[][3] = {{1, 1, 1},     {1, 7, 3},      {7, 1, 5},     {8, 48, 16},  {9, 49, 17},
                                    {13, 95, 33},  {17, 50, 255},  {31, 97, 257}, {5, 400, 3},  {129, 385, 7},
                                    {64, 512, 576}, {130, 130, 513}, {3, 1000, 2}, {200, 40, 600}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++)
            one_shape(t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], 1, 0);
    one_shape(0, 0, 37, 61, 45, 0.5f, 1);
    one_shape(1, 1, 37, 61, 45, -2, 0.25f);
    one_shape(0, 1, 150, 70, 300, 1, 1);
    one_shape(1, 0, 150, 400, 300, 1, -1);
}

static void test_bf16_round(void) {
    CHECK(nn_bf16_round(1.0f) == 1.0f, "1 is exact");
    CHECK(nn_bf16_round(1.0f + 0x1p-8f) == 1.0f, "a tie rounds to even (down)");
    CHECK(nn_bf16_round(1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f, "a tie rounds to even (up)");
    CHECK(nn_bf16_round(1.0f + 0x1p-8f + 0x1p-12f) == 1.0f + 0x1p-7f, "above a tie rounds up");
    CHECK(nn_bf16_round(-3.0f) == -3.0f, "sign kept");
    CHECK(isnan(nn_bf16_round(NAN)), "NaN stays NaN");
    CHECK(isinf(nn_bf16_round(INFINITY)), "infinity stays infinity");
}

/* Convolutions and linear layers in bf16 against float: forward, input and weight
 * gradients, each within TOL_BF16 of the float result. */
static void conv_bf16(NnConv2d d) {
    const size_t ni = (size_t)d.n * d.ci * d.h * d.w, no = (size_t)d.n * d.co * d.oh * d.ow;
    const size_t nw = (size_t)d.co * d.ci * d.kh * d.kw;
    float *x = rnd(ni, 1), *w = rnd(nw, 0.1), *dout = rnd(no, 1), *bias = rnd((size_t)d.co, 1);
    float *scratch = wm_new(float, nn_conv2d_scratch(&d));
    float *o[2], *dx[2], *dw[2], *db[2];
    char err[256];
    for (int p = 0; p < 2; p++) {
        o[p] = wm_new(float, no), dx[p] = wm_new(float, ni), dw[p] = wm_new(float, nw), db[p] = wm_new(float, d.co);
        WM_ASSERT(nn_set_precision(p ? NN_PREC_BF16 : NN_PREC_FP32, err, sizeof err) == WM_OK);
        nn_conv2d_forward(o[p], x, w, bias, &d, scratch);
        nn_conv2d_backward(dx[p], dw[p], db[p], dout, x, w, &d, scratch);
    }
    nn_set_precision(NN_PREC_FP32, err, sizeof err);
    double eo = test_rel_err(o[1], o[0], no), ex = test_rel_err(dx[1], dx[0], ni), ew = test_rel_err(dw[1], dw[0], nw);
    CHECK(eo < TOL_BF16 && ex < TOL_BF16 && ew < TOL_BF16,
          "conv %d->%d k%d s%d %dx%d n%d bf16 vs fp32: out %.3g, din %.3g, dw %.3g", d.ci, d.co, d.kh, d.stride, d.h,
          d.w, d.n, eo, ex, ew);
    printf("conv %d->%d k%d s%d %dx%d n%d, bf16 vs fp32 rel err: out %.2g, din %.2g, dw %.2g\n", d.ci, d.co, d.kh,
           d.stride, d.h, d.w, d.n, eo, ex, ew);
    CHECK(!memcmp(db[0], db[1], d.co * sizeof *db[0]), "conv bias gradient is float in both");
    for (int p = 0; p < 2; p++) {
        wm_free(o[p]);
        wm_free(dx[p]);
        wm_free(dw[p]);
        wm_free(db[p]);
    }
    wm_free(x);
    wm_free(w);
    wm_free(dout);
    wm_free(bias);
    wm_free(scratch);
}

static void linear_bf16(int n, int fi, int fo) {
    float *x = rnd((size_t)n * fi, 1), *w = rnd((size_t)fo * fi, 0.1), *b = rnd(fo, 1), *dout = rnd((size_t)n * fo, 1);
    float *o[2], *dx[2], *dw[2];
    char err[256];
    for (int p = 0; p < 2; p++) {
        o[p] = wm_new(float, (size_t)n * fo), dx[p] = wm_new(float, (size_t)n * fi), dw[p] = wm_new(float, (size_t)fo * fi);
        WM_ASSERT(nn_set_precision(p ? NN_PREC_BF16 : NN_PREC_FP32, err, sizeof err) == WM_OK);
        nn_linear_forward(o[p], x, w, b, n, fi, fo);
        nn_linear_backward(dx[p], dw[p], NULL, dout, x, w, n, fi, fo);
    }
    nn_set_precision(NN_PREC_FP32, err, sizeof err);
    double eo = test_rel_err(o[1], o[0], (size_t)n * fo), ex = test_rel_err(dx[1], dx[0], (size_t)n * fi),
           ew = test_rel_err(dw[1], dw[0], (size_t)fo * fi);
    CHECK(eo < TOL_BF16 && ex < TOL_BF16 && ew < TOL_BF16, "linear %d x %d -> %d bf16 vs fp32: out %.3g, din %.3g, dw %.3g",
          n, fi, fo, eo, ex, ew);
    printf("linear %d x %d -> %d, bf16 vs fp32 rel err: out %.2g, din %.2g, dw %.2g\n", n, fi, fo, eo, ex, ew);
    for (int p = 0; p < 2; p++) {
        wm_free(o[p]);
        wm_free(dx[p]);
        wm_free(dw[p]);
    }
    wm_free(x);
    wm_free(w);
    wm_free(b);
    wm_free(dout);
}

static void test_ops_bf16(void) {
    conv_bf16(nn_conv2d_dims(4, 3, 16, 16, 16, 3, 1, 1));    /* stem */
    conv_bf16(nn_conv2d_dims(4, 16, 16, 16, 16, 3, 1, 1));   /* narrow, direct in fp32 */
    conv_bf16(nn_conv2d_dims(4, 64, 8, 8, 128, 3, 2, 1));    /* strided */
    conv_bf16(nn_conv2d_dims(4, 64, 8, 8, 128, 1, 2, 0));    /* downsample */
    conv_bf16(nn_conv2d_dims(3, 128, 8, 8, 128, 3, 1, 1));   /* im2col + GEMM */
    conv_bf16(nn_conv2d_dims(2, 256, 4, 4, 256, 3, 1, 1));   /* small planes */
    conv_bf16(nn_conv2d_dims(2, 32, 8, 8, 64, 1, 1, 0));     /* pointwise */
    linear_bf16(48, 640, 1920);
    linear_bf16(7, 33, 5);
}

int main(int argc, char **argv) {
    nn_blas_reexec(argc, argv);
    nn_runtime_init(2);
    wm_rng_seed(&rng, 7, 0);
    char err[256];
    test_bf16_round();
    if (!nn_gemm_own_ok(0)) {
        printf("skipped: this CPU has no AVX-512, so the engine's own GEMM is not used here\n");
    } else {
        test_gemm_shapes();
    }
    if (nn_set_precision(NN_PREC_BF16, err, sizeof err) == WM_OK) {
        nn_set_precision(NN_PREC_FP32, err, sizeof err);
        test_ops_bf16();
    } else {
        CHECK(strstr(err, "AVX512_BF16") != NULL, "the bf16 error names the missing feature: %s", err);
        printf("skipped: bf16 ops (%s)\n", err);
    }
    nn_runtime_shutdown();
    return TEST_DONE();
}
