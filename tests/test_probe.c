/* Probes and metrics: R^2 over the columns that vary, ridge recovering a known linear
 * map, softmax regression separating classes. */
#include "core/alloc.h"
#include "core/rng.h"
#include "model/probe.h"
#include "tests/test.h"

int main(void) {
    /* R^2 by hand: y = [1,2,3,4] (mean 2.5, SS_tot 5); pred off by 0.5 each: SS_res 1. */
    float y[4] = {1, 2, 3, 4}, p1[4] = {1.5f, 1.5f, 3.5f, 3.5f}, pm[4] = {2.5f, 2.5f, 2.5f, 2.5f};
    CHECK_NEAR(sj_r2_score(y, y, 4, 1), 1.0, 1e-12);
    CHECK_NEAR(sj_r2_score(y, p1, 4, 1), 0.8, 1e-7);
    CHECK_NEAR(sj_r2_score(y, pm, 4, 1), 0.0, 1e-12);
    /* Columns that vary are averaged uniformly; a constant column is left out, whether
     * predicted exactly or not (scikit-learn would give 0.9 and 0.4 here). */
    float y2[8] = {1, 7, 2, 7, 3, 7, 4, 7}, q2[8] = {1.5f, 7, 1.5f, 7, 3.5f, 7, 3.5f, 7}, r2[8];
    memcpy(r2, q2, sizeof r2);
    r2[1] = 6;
    CHECK_NEAR(sj_r2_score(y2, q2, 4, 2), 0.8, 1e-7);
    CHECK_NEAR(sj_r2_score(y2, r2, 4, 2), 0.8, 1e-7);
    /* every column constant: 1 if exact, else 0 */
    float c1[4] = {7, 7, 7, 7}, c2[4] = {7, 7, 7, 6};
    CHECK_NEAR(sj_r2_score(c1, c1, 4, 1), 1.0, 1e-12);
    CHECK_NEAR(sj_r2_score(c1, c2, 4, 1), 0.0, 1e-12);
    float logits[6] = {0, 1, 0.5f, 2, 1, 0};
    int lab[2] = {1, 1};
    CHECK_NEAR(sj_top1(logits, lab, 2, 3), 0.5, 1e-12);

    /* Ridge: y = A x + c + small noise, 600 rows, 20 -> 3. */
    WmRng r;
    wm_rng_seed(&r, 11, 0);
    const int n = 600, din = 20, dout = 3;
    float *x = wm_new(float, (size_t)n * din), *yy = wm_new(float, (size_t)n * dout), *pred = wm_new(float, (size_t)n * dout);
    double A[3][20];
    for (int o = 0; o < dout; o++)
        for (int j = 0; j < din; j++) A[o][j] = wm_rng_normal(&r);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < din; j++) x[i * din + j] = (float)(3 * wm_rng_normal(&r) + j);
        for (int o = 0; o < dout; o++) {
            double s = 5.0 * o;
            for (int j = 0; j < din; j++) s += A[o][j] * x[i * din + j];
            yy[i * dout + o] = (float)(s + 0.01 * wm_rng_normal(&r));
        }
    }
    SjLinearProbe p;
    CHECK(sj_ridge_fit(&p, x, yy, 500, din, dout) == 0);
    sj_probe_predict(&p, x + 500 * din, 100, pred);
    double r2v = sj_r2_score(yy + 500 * dout, pred, 100, dout);
    CHECK(r2v > 0.999, "held-out R^2 %g (lambda %g)", r2v, p.lambda);
    sj_probe_free(&p);
    /* Pure noise targets: held-out R^2 near or below 0, never inflated. */
    for (int i = 0; i < n * dout; i++) yy[i] = (float)wm_rng_normal(&r);
    CHECK(sj_ridge_fit(&p, x, yy, 500, din, dout) == 0);
    sj_probe_predict(&p, x + 500 * din, 100, pred);
    r2v = sj_r2_score(yy + 500 * dout, pred, 100, dout);
    CHECK(r2v < 0.05, "noise R^2 %g", r2v);
    sj_probe_free(&p);

    /* Softmax regression on 4 separated blobs in 10-d. */
    int *labels = wm_new(int, (size_t)n);
    for (int i = 0; i < n; i++) {
        labels[i] = i % 4;
        for (int j = 0; j < din; j++) x[i * din + j] = (float)(wm_rng_normal(&r) + (j == labels[i] ? 4 : 0));
    }
    CHECK(sj_logreg_fit(&p, x, labels, 500, din, 4, 200, 1e-4) == 0);
    float *lg = wm_new(float, (size_t)n * 4);
    sj_probe_predict(&p, x + 500 * din, 100, lg);
    double acc = sj_top1(lg, labels + 500, 100, 4);
    CHECK(acc > 0.95, "blob accuracy %g", acc);
    sj_probe_free(&p);
    CHECK(sj_ridge_fit(&p, x, yy, 1, din, dout) == -1);
    /* MLP regressor on a non-linear target a linear probe cannot fit: y = x0 * x1. */
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < din; j++) x[i * din + j] = (float)wm_rng_normal(&r);
        yy[i] = x[i * din] * x[i * din + 1];
    }
    SjMlpProbe *mp = sj_mlp_fit(x, yy, 500, din, 1, 64, 200, 3);
    sj_mlp_predict(mp, x + 500 * din, 100, pred);
    double r2m = sj_r2_score(yy + 500, pred, 100, 1);
    sj_mlp_free(mp);
    CHECK(sj_ridge_fit(&p, x, yy, 500, din, 1) == 0);
    sj_probe_predict(&p, x + 500 * din, 100, pred);
    double r2l = sj_r2_score(yy + 500, pred, 100, 1);
    sj_probe_free(&p);
    CHECK(r2m > 0.7 && r2l < 0.2, "MLP R^2 %g, linear R^2 %g on x0*x1", r2m, r2l);
    /* PCA: points along a known direction come out along the first component. */
    for (int i = 0; i < 200; i++) {
        double t = wm_rng_normal(&r) * 5, u = wm_rng_normal(&r);
        for (int j = 0; j < din; j++) x[i * din + j] = (float)(t * (j == 2 ? 0.6 : j == 5 ? 0.8 : 0) + u * (j == 7) + 0.01 * wm_rng_normal(&r));
    }
    double *pc = wm_new(double, 400), var0 = 0, var1 = 0;
    sj_pca2(x, 200, din, pc);
    for (int i = 0; i < 200; i++) var0 += pc[2 * i] * pc[2 * i], var1 += pc[2 * i + 1] * pc[2 * i + 1];
    CHECK(var0 > 10 * var1 && var1 > 0.5 * 200, "PCA variances %g %g", var0 / 200, var1 / 200);
    wm_free(pc);
    wm_free(x), wm_free(yy), wm_free(pred), wm_free(labels), wm_free(lg);
    return TEST_DONE();
}
