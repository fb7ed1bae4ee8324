/* Probes on frozen features and the metrics they report: R^2 (scikit-learn's r2_score
 * averaged over the output dimensions that vary), top-1 accuracy, a ridge
 * regressor with its penalty chosen on a validation split, and a multinomial
 * logistic-regression classifier. All deterministic for a given input. */
#ifndef SJ_PROBE_H
#define SJ_PROBE_H

#include <stddef.h>
#include <stdint.h>

/* Mean of 1 - SS_res / SS_tot over the output columns that vary (SS_tot > 0). A
 * constant column says nothing about the features and is left out of the mean
 * (scikit-learn's r2_score would count it as 1 when predicted exactly, else 0, which
 * lifts every score of a target with constant parts, such as the rotation matrix of a
 * turntable, env.rotation = yaw); with every column constant the score is 1 if all are
 * predicted exactly, else 0. y, pred: [n, d] row-major. */
double sj_r2_score(const float *y, const float *pred, size_t n, int d);
/* Share of rows whose arg-max logit equals the label. logits: [n, k]. */
double sj_top1(const float *logits, const int *labels, size_t n, int k);

/* A linear map with input standardisation: pred = ((x - mu) / sd) W^T + b. */
typedef struct {
    int din, dout;
    float *mu, *sd; /* [din] */
    float *w;       /* [dout, din] */
    float *b;       /* [dout] */
    double lambda;  /* ridge: the penalty picked */
} SjLinearProbe;

void sj_probe_free(SjLinearProbe *p);
void sj_probe_predict(const SjLinearProbe *p, const float *x, size_t n, float *out);

/* Ridge regression x [n, din] -> y [n, dout]. The penalty is chosen from a grid by
 * R^2 on the last 20% of the rows, then the probe is refitted on all rows. Returns
 * 0, or -1 when n < 2. */
int sj_ridge_fit(SjLinearProbe *p, const float *x, const float *y, size_t n, int din, int dout);

/* Softmax regression x [n, din] -> labels in [0, k): full-batch Adam on the
 * cross-entropy with weight decay `wd`, `epochs` steps. Returns 0 or -1 when n < 1. */
int sj_logreg_fit(SjLinearProbe *p, const float *x, const int *labels, size_t n, int din, int k,
                  int epochs, double wd);

/* An MLP regressor (Linear-ReLU-Linear-ReLU-Linear, `hidden` wide), inputs and
 * targets standardised, trained with Adam (lr 1e-3) on the mean squared error in
 * minibatches of 256 shuffled by `seed`, `epochs` passes. The paper's rotation probe. */
typedef struct SjMlpProbe SjMlpProbe;
SjMlpProbe *sj_mlp_fit(const float *x, const float *y, size_t n, int din, int dout, int hidden, int epochs,
                       uint64_t seed);
void sj_mlp_predict(SjMlpProbe *p, const float *x, size_t n, float *out);
void sj_mlp_free(SjMlpProbe *p);

/* The first two principal components of rows x [n, d] (centred), by power
 * iteration with deflation in double; out [n, 2] gets the projections. */
void sj_pca2(const float *x, size_t n, int d, double *out);
/* The same in two parts, to place other rows in the plane of x: the mean mu [d] and
 * the two unit components pc [2, d] of x, then the projections of any rows. */
void sj_pca2_axes(const float *x, size_t n, int d, double *mu, double *pc);
void sj_pca2_project(const float *x, size_t n, int d, const double *mu, const double *pc, double *out);

#endif
