/* Helpers shared by the nn engine's and the model's test programs: random tensors and
 * the error of one tensor against another relative to its scale. */
#ifndef TEST_NN_UTIL_H
#define TEST_NN_UTIL_H

#include <math.h>
#include <stddef.h>

#include "core/alloc.h"
#include "core/rng.h"

/* n floats drawn from N(0, scale^2) (free with wm_free). */
static inline float *test_randn(WmRng *r, size_t n, double scale) {
    float *x = wm_new(float, n);
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * wm_rng_normal(r));
    return x;
}

/* max |a - b| / max |b|: the error relative to the tensor's scale. */
static inline double test_rel_err(const float *a, const float *b, size_t n) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return s > 0 ? d / s : d;
}

/* ||a - b|| / ||b|| (b the reference; ||a - b|| when b is zero). */
static inline double test_rel_l2(const float *a, const float *b, size_t n) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return s > 0 ? sqrt(d / s) : sqrt(d);
}

#endif
