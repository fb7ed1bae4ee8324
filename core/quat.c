/* Quaternion algebra for actions and latents (see quat.h for conventions). */
#include "core/quat.h"

#include <math.h>

void wm_quat_identity(double q[4]) {
    q[0] = 1;
    q[1] = q[2] = q[3] = 0;
}

void wm_quat_mul(double out[4], const double a[4], const double b[4]) {
    double w = a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3];
    double x = a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2];
    double y = a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1];
    double z = a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0];
    out[0] = w, out[1] = x, out[2] = y, out[3] = z;
}

void wm_quat_conj(double out[4], const double q[4]) {
    out[0] = q[0], out[1] = -q[1], out[2] = -q[2], out[3] = -q[3];
}

void wm_quat_normalize(double q[4]) {
    double n = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    if (n == 0) {
        wm_quat_identity(q);
        return;
    }
    for (int i = 0; i < 4; i++) q[i] /= n;
}

void wm_quat_canon(double q[4]) {
    int flip = 0;
    for (int i = 0; i < 4; i++) {
        if (q[i] != 0) {
            flip = q[i] < 0;
            break;
        }
    }
    if (flip)
        for (int i = 0; i < 4; i++) q[i] = -q[i];
}

void wm_quat_relative(double out[4], const double a[4], const double b[4]) {
    double ai[4];
    wm_quat_conj(ai, a);
    wm_quat_mul(out, ai, b);
    wm_quat_canon(out);
}

void wm_quat_from_axis_angle(double q[4], const double axis[3], double angle) {
    double s = sin(angle / 2);
    q[0] = cos(angle / 2), q[1] = axis[0] * s, q[2] = axis[1] * s, q[3] = axis[2] * s;
}

void wm_quat_from_euler_xyz(double q[4], double ex, double ey, double ez) {
    static const double X[3] = {1, 0, 0}, Y[3] = {0, 1, 0}, Z[3] = {0, 0, 1};
    double qx[4], qy[4], qz[4], t[4];
    wm_quat_from_axis_angle(qx, X, ex);
    wm_quat_from_axis_angle(qy, Y, ey);
    wm_quat_from_axis_angle(qz, Z, ez);
    wm_quat_mul(t, qy, qx);
    wm_quat_mul(q, qz, t);
}

void wm_quat_to_mat3(const double q[4], double m[9]) {
    double w = q[0], x = q[1], y = q[2], z = q[3];
    m[0] = 1 - 2 * (y * y + z * z), m[1] = 2 * (x * y - w * z), m[2] = 2 * (x * z + w * y);
    m[3] = 2 * (x * y + w * z), m[4] = 1 - 2 * (x * x + z * z), m[5] = 2 * (y * z - w * x);
    m[6] = 2 * (x * z - w * y), m[7] = 2 * (y * z + w * x), m[8] = 1 - 2 * (x * x + y * y);
}

void wm_quat_to_euler_xyz(const double q[4], double e[3]) {
    /* R = Rz(ez) Ry(ey) Rx(ex): R[2][0] = -sin(ey). */
    double m[9];
    wm_quat_to_mat3(q, m);
    double sy = -m[6];
    sy = sy > 1 ? 1 : sy < -1 ? -1 : sy;
    e[1] = asin(sy);
    if (fabs(sy) < 1 - 1e-12) {
        e[0] = atan2(m[7], m[8]);
        e[2] = atan2(m[3], m[0]);
    } else { /* gimbal lock: put everything in ez */
        e[0] = 0;
        e[2] = atan2(-m[1], m[4]);
    }
}

void wm_quat_rotate(const double q[4], const double v[3], double out[3]) {
    double m[9];
    wm_quat_to_mat3(q, m);
    double r[3];
    for (int i = 0; i < 3; i++) r[i] = m[3 * i] * v[0] + m[3 * i + 1] * v[1] + m[3 * i + 2] * v[2];
    out[0] = r[0], out[1] = r[1], out[2] = r[2];
}

double wm_quat_angle(const double q[4]) {
    double v = sqrt(q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    return 2 * atan2(v, fabs(q[0]));
}

void wm_quat_random(double q[4], WmRng *r) {
    double u1 = wm_rng_uniform(r), u2 = wm_rng_uniform(r), u3 = wm_rng_uniform(r);
    double a = sqrt(1 - u1), b = sqrt(u1);
    q[0] = b * cos(2 * M_PI * u3);
    q[1] = a * sin(2 * M_PI * u2);
    q[2] = a * cos(2 * M_PI * u2);
    q[3] = b * sin(2 * M_PI * u3);
}

void wm_quat_random_within(double q[4], WmRng *r, double max_angle) {
    double z = 2 * wm_rng_uniform(r) - 1, phi = 2 * M_PI * wm_rng_uniform(r);
    double s = sqrt(1 - z * z);
    double axis[3] = {s * cos(phi), s * sin(phi), z};
    wm_quat_from_axis_angle(q, axis, max_angle * wm_rng_uniform(r));
}
