/* Unit quaternions in double precision, stored as q[4] = (w, x, y, z), the order
 * used in every latent and action of the suite. A quaternion q rotates a vector v
 * as q v q^-1 (active, right-handed); composition q_{i+1} = q_i * q_rel. */
#ifndef WM_QUAT_H
#define WM_QUAT_H

#include "core/rng.h"

void wm_quat_identity(double q[4]);
/* out = a * b (Hamilton product); out may alias a or b. */
void wm_quat_mul(double out[4], const double a[4], const double b[4]);
/* Inverse of a unit quaternion (the conjugate). */
void wm_quat_conj(double out[4], const double q[4]);
void wm_quat_normalize(double q[4]);
/* q and -q are the same rotation; this picks the one with w >= 0 (and, when w == 0,
 * the first non-zero of x, y, z positive) so that equal rotations compare equal. */
void wm_quat_canon(double q[4]);
/* Relative rotation from a to b: a^-1 * b, canonicalised. */
void wm_quat_relative(double out[4], const double a[4], const double b[4]);
/* Rotation by `angle` radians about a unit axis. */
void wm_quat_from_axis_angle(double q[4], const double axis[3], double angle);
/* Extrinsic XYZ Euler angles: rotate about world X by ex, then world Y by ey, then
 * world Z by ez, i.e. q = qz * qy * qx. */
void wm_quat_from_euler_xyz(double q[4], double ex, double ey, double ez);
void wm_quat_to_euler_xyz(const double q[4], double e[3]);
/* 3x3 rotation matrix, row-major: v' = R v. */
void wm_quat_to_mat3(const double q[4], double m[9]);
void wm_quat_rotate(const double q[4], const double v[3], double out[3]);
/* Rotation angle in [0, pi] of q (geodesic distance to the identity). */
double wm_quat_angle(const double q[4]);
/* Uniform over SO(3) (Shoemake's method). */
void wm_quat_random(double q[4], WmRng *r);
/* Uniform axis and angle uniform in [0, max_angle]. */
void wm_quat_random_within(double q[4], WmRng *r, double max_angle);

#endif
