/* The equivariance row's targets (run/pathint.h): an object action's rotation is read as
 * q_k^-1 q_{k+1} of the two views' own quaternions, without the canonicalisation that
 * turns the action to the other sign where the turn passes half a turn, so the target
 * moves a little where the action jumps; the action's other parts and a glimpse's
 * saccade follow unchanged. */
#include <math.h>

#include "core/quat.h"
#include "envs/objects3d.h"
#include "run/pathint.h"
#include "tests/test.h"

enum { L = ENV_O3_LATENT_DIM };

static EnvSpec object_spec(int action_dim, int act_color) {
    EnvSpec sp = {0};
    sp.action_dim = action_dim, sp.latent_dim = L;
    sp.layout = (EnvLayout){.family = ENV_FAMILY_OBJECT, .act_rot = 0, .act_trans = -1, .act_color = act_color,
                            .lat_rot = ENV_O3_LAT_QW, .lat_trans = -1, .lat_color = ENV_O3_LAT_FLOOR_HUE,
                            .color_dim = act_color < 0 ? 0 : ENV_O3_COLOR_DIM};
    return sp;
}

static double dist(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s);
}

/* Two views turned about the world's x axis by alpha and beta (their quaternions
 * canonical, as every latent is), and the canonical action between them, as the world
 * writes it (wm_quat_relative). */
static void pair(double alpha, double beta, float lat[2 * L], float act[4]) {
    const double x[3] = {1, 0, 0};
    double q[2][4], r[4];
    for (int v = 0; v < 2; v++) {
        wm_quat_from_axis_angle(q[v], x, v ? beta : alpha);
        wm_quat_canon(q[v]);
        for (int j = 0; j < L; j++) lat[v * L + j] = j < 4 ? (float)q[v][j] : 0.1f * (float)j;
    }
    wm_quat_relative(r, q[0], q[1]);
    for (int j = 0; j < 4; j++) act[j] = (float)r[j];
}

int main(void) {
    EnvSpec rot = object_spec(4, -1);
    float lat[2][2 * L], act[2][4], y[2][4];

    /* A turn of less than half a turn: the target is the action itself. */
    pair(0.3, -1.1, lat[0], act[0]);
    env_equiv_targets(&rot, lat[0], act[0], 1, 2, y[0]);
    CHECK(dist(y[0], act[0], 4) == 0, "under half a turn: the action as it is");

    /* Views 1.5 and -1.64 +- 0.01 rad about one axis: the turn between them passes half a
     * turn. The canonical actions jump to the other sign; the targets move by about the
     * turn's change (0.02 rad, 0.01 of a unit quaternion) and are q1^-1 q2 as computed. */
    pair(1.5, 1.5 - M_PI + 0.01, lat[0], act[0]);
    pair(1.5, 1.5 - M_PI - 0.01, lat[1], act[1]);
    CHECK(dist(act[0], act[1], 4) > 1.9, "the canonical actions jump (%.3f apart)", dist(act[0], act[1], 4));
    env_equiv_targets(&rot, lat[0], act[0], 1, 2, y[0]);
    env_equiv_targets(&rot, lat[1], act[1], 1, 2, y[1]);
    CHECK(dist(y[0], y[1], 4) < 0.02, "the targets do not (%.4f apart)", dist(y[0], y[1], 4));
    double q1[4] = {lat[1][0], lat[1][1], lat[1][2], lat[1][3]}, q2[4] = {lat[1][L], lat[1][L + 1], lat[1][L + 2], lat[1][L + 3]};
    double c[4], r[4];
    wm_quat_conj(c, q1);
    wm_quat_mul(r, c, q2);
    float rf[4] = {(float)r[0], (float)r[1], (float)r[2], (float)r[3]};
    CHECK(r[0] < 0 && dist(y[1], rf, 4) < 1e-6, "the flipped one is q1^-1 q2 itself (w %.3f)", r[0]);

    /* Several sequences and steps: each action against its own pair of views. */
    float lat3[2][3 * L], act3[2][2 * 4], y3[2][2 * 4];
    for (int s = 0; s < 2; s++) {
        float la[2 * L], lb[2 * L], aa[4], ab[4];
        pair(1.5, s ? 1.5 - M_PI - 0.01 : 0.2, la, aa);         /* step 1: flipped in sequence 2 */
        pair(s ? 1.5 - M_PI - 0.01 : 0.2, 0.4, lb, ab);          /* step 2: under half a turn */
        memcpy(lat3[s], la, sizeof la), memcpy(lat3[s] + 2 * L, lb + L, L * sizeof(float));
        memcpy(act3[s], aa, sizeof aa), memcpy(act3[s] + 4, ab, sizeof ab);
    }
    env_equiv_targets(&rot, lat3[0], act3[0], 2, 3, y3[0]);
    CHECK(dist(y3[0], act3[0], 8) == 0 && dist(y3[1] + 4, act3[1] + 4, 4) == 0 &&
              dist(y3[1], act3[1], 4) > 1.9,
          "per sequence and step: only the flipped action is turned back");

    /* Other parts of the action (here colour deltas after the rotation) follow as they are. */
    EnvSpec col = object_spec(8, 4);
    float lc[2 * L], ac[8], yc[8];
    pair(1.5, 1.5 - M_PI - 0.01, lc, ac);
    for (int i = 4; i < 8; i++) ac[i] = 0.1f * (float)i;
    env_equiv_targets(&col, lc, ac, 1, 2, yc);
    CHECK(yc[0] == -ac[0] && yc[4] == ac[4] && yc[5] == ac[5] && yc[6] == ac[6] && yc[7] == ac[7],
          "colour deltas copied, the rotation turned back");

    /* Glimpses: the saccade itself. */
    EnvSpec gl = {0};
    gl.action_dim = 2, gl.latent_dim = 2;
    gl.layout = (EnvLayout){.family = ENV_FAMILY_GLIMPSE, .act_rot = -1, .act_trans = -1, .act_color = -1,
                            .lat_rot = -1, .lat_trans = -1, .lat_color = -1};
    float gpos[4] = {0.5f, 0.5f, 0.75f, 0.375f}, s[2] = {0.25f, -0.125f}, fs[2];
    env_equiv_targets(&gl, gpos, s, 1, 2, fs);
    CHECK(fs[0] == s[0] && fs[1] == s[1], "the saccade unchanged");
    return TEST_DONE();
}
