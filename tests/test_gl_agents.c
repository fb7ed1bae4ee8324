/* Agents in the objects3d world (needs GL): the 3DIEBench protocol, bounded random
 * rotations, walks and closed loops, scripted paths and human rotations, with the
 * recorded actions composing into the recorded latents. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agents/agent.h"
#include "data/rollout.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/quat.h"
#include "envs/env.h"
#include "envs/objects3d.h"
#include "tests/test.h"
#include "tests/test_rollout.h"

static char err[1024];

static EnvConfig env_config(void) {
    EnvConfig c;
    WM_CFG_DEFAULTS(EnvConfig, &c);
    c.kind = 0;
    c.size = 32;
    c.n_classes = 4;
    c.instances = 10;
    return c;
}

/* Angle between two rotations given as float (w,x,y,z). */
static double rot_distance(const float *a, const float *b) {
    double qa[4], qb[4], r[4];
    for (int k = 0; k < 4; k++)
        qa[k] = a[k], qb[k] = b[k];
    wm_quat_normalize(qa);
    wm_quat_normalize(qb);
    wm_quat_relative(r, qa, qb);
    return wm_quat_angle(r);
}

static double action_angle(const float *a) {
    double q[4] = {a[0], a[1], a[2], a[3]};
    wm_quat_normalize(q);
    return wm_quat_angle(q);
}

/* The rollouts here run on 4 lanes from sequence 0. */
static int run(TestRun *r, EnvConfig *ec, AgentConfig *ac, int n, int t, uint64_t seed) {
    return test_run(r, ec, ac, 4, n, t, seed, 0, err, sizeof err);
}

/* Every span's cumulative action equals the relative rotation between its end latents. */
static int check_composition(const EnvConfig *ec, const AgBatch *b) {
    int A = b->action_dim, L = b->latent_dim, T = b->t, bad = 0;
    float cum[16];
    for (int i = 0; i < b->n; i++) {
        const float *lat = b->latents + (size_t)i * T * L;
        const float *act = b->actions + (size_t)i * (T - 1) * A;
        for (int t0 = 0; t0 < T; t0++) {
            for (int t1 = t0 + 1; t1 < T; t1++) {
                env_compose_actions(ec, A, act + t0 * A, t1 - t0, cum);
                float rel[16];
                env_relative_action(ec, lat + t0 * L, lat + t1 * L, rel);
                double d = rot_distance(cum, rel);
                if (d > 2e-5) {
                    if (bad < 3)
                        fprintf(stderr, "seq %d views %d..%d: cumulative action off by %g rad\n", i,
                                t0, t1, d);
                    bad++;
                }
            }
        }
    }
    return bad;
}

static void test_iid(void) {
    EnvConfig ec = env_config();
    AgentConfig ac = test_agent_config(AG_AUTO);
    TestRun r;
    if (run(&r, &ec, &ac, 12, 5, 1)) {
        CHECK(ag_kind(r.agent) == AG_IID);
        CHECK(check_composition(&ec, &r.b) == 0);
        int hue_same = 0, rot_small = 0, in_box = 1;
        for (int i = 0; i < 12; i++) {
            for (int t = 0; t < 5; t++) {
                const float *l = r.b.latents + ((size_t)i * 5 + t) * ENV_O3_LATENT_DIM;
                double q[4] = {l[0], l[1], l[2], l[3]}, e[3];
                wm_quat_normalize(q);
                /* Drawn from the Euler box: some decomposition lies inside it. */
                wm_quat_to_euler_xyz(q, e);
                double back[4], rel[4];
                wm_quat_from_euler_xyz(back, e[0], e[1], e[2]);
                wm_quat_relative(rel, q, back);
                in_box &= wm_quat_angle(rel) < 1e-4;
                if (t > 0) {
                    hue_same += l[ENV_O3_LAT_FLOOR_HUE] == l[ENV_O3_LAT_FLOOR_HUE - 11];
                    rot_small += rot_distance(l, l - 11) < 0.05;
                }
            }
        }
        CHECK(in_box, "latent rotations not from extrinsic XYZ Euler angles");
        CHECK(hue_same == 0, "3DIEBench redraws hues every view (%d unchanged)", hue_same);
        CHECK(rot_small < 3, "views drawn independently are rarely close (%d)", rot_small);
    }
    test_run_free(&r);

    /* Keeping colours: hues, light and translation fixed over a sequence. */
    ac.redraw_colors = 0;
    if (run(&r, &ec, &ac, 4, 4, 2)) {
        int changed = 0;
        for (int i = 0; i < 4; i++)
            for (int t = 1; t < 4; t++)
                for (int k = ENV_O3_LAT_FLOOR_HUE; k < ENV_O3_LATENT_DIM; k++)
                    changed += r.b.latents[((size_t)i * 4 + t) * 11 + k] !=
                               r.b.latents[((size_t)i * 4) * 11 + k];
        CHECK(changed == 0, "%d colour latents changed", changed);
    }
    test_run_free(&r);

    /* With colour actions, the action carries the colour deltas and they compose. */
    ec = env_config();
    ec.color_actions = 1;
    ac = test_agent_config(AG_IID);
    if (run(&r, &ec, &ac, 4, 4, 3)) {
        CHECK(r.b.action_dim == 8);
        CHECK(check_composition(&ec, &r.b) == 0);
        double worst = 0;
        for (int i = 0; i < 4; i++) {
            const float *lat = r.b.latents + (size_t)i * 4 * 11, *act = r.b.actions + i * 3 * 8;
            float cum[8];
            env_compose_actions(&ec, 8, act, 3, cum);
            /* Hues wrap; theta does not. */
            double dt = lat[3 * 11 + ENV_O3_LAT_SPOT_THETA] - lat[ENV_O3_LAT_SPOT_THETA];
            worst = fmax(worst, fabs(dt - cum[4 + 1]));
            double dh = lat[3 * 11 + ENV_O3_LAT_FLOOR_HUE] - lat[ENV_O3_LAT_FLOOR_HUE] - cum[4];
            worst = fmax(worst, fabs(dh - nearbyint(dh)));
        }
        CHECK(worst < 1e-5, "colour deltas compose to %g", worst);
    }
    test_run_free(&r);
}

static void test_policies(void) {
    EnvConfig ec = env_config();
    TestRun r;
    /* rotate: every step within max_angle. */
    AgentConfig ac = test_agent_config(AG_ROTATE);
    ac.max_angle = 20;
    if (run(&r, &ec, &ac, 8, 6, 4)) {
        double mx = 0;
        for (int k = 0; k < 8 * 5; k++)
            mx = fmax(mx, action_angle(r.b.actions + k * 4));
        CHECK(mx <= 20 * M_PI / 180 + 1e-6 && mx > 10 * M_PI / 180, "rotate: largest step %g", mx);
        CHECK(check_composition(&ec, &r.b) == 0);
    }
    test_run_free(&r);
    /* so3: steps of any size. */
    ac = test_agent_config(AG_SO3);
    if (run(&r, &ec, &ac, 8, 6, 5)) {
        int big = 0;
        for (int k = 0; k < 8 * 5; k++)
            big += action_angle(r.b.actions + k * 4) > 2.0;
        CHECK(big > 2, "so3: only %d of 40 steps above 2 rad", big);
        CHECK(check_composition(&ec, &r.b) == 0);
    }
    test_run_free(&r);
    /* walk: bounded steps whose axis turns by at most `turn`. */
    ac = test_agent_config(AG_WALK);
    ac.max_angle = 15;
    ac.turn = 10;
    if (run(&r, &ec, &ac, 8, 8, 6)) {
        double mx = 0, turn = 0;
        for (int i = 0; i < 8; i++) {
            for (int t = 0; t < 7; t++) {
                const float *a = r.b.actions + (i * 7 + t) * 4;
                mx = fmax(mx, action_angle(a));
                if (t == 0) continue;
                const float *p = a - 4;
                double na = sqrt(a[1] * a[1] + a[2] * a[2] + a[3] * a[3]);
                double np = sqrt(p[1] * p[1] + p[2] * p[2] + p[3] * p[3]);
                if (na < 0.02 || np < 0.02) continue; /* tiny steps: the axis is noise */
                double c = (a[1] * p[1] + a[2] * p[2] + a[3] * p[3]) / (na * np);
                turn = fmax(turn, acos(fmin(1, fmax(-1, c))));
            }
        }
        CHECK(mx <= 15 * M_PI / 180 + 1e-6, "walk: step %g", mx);
        CHECK(turn <= 10 * M_PI / 180 + 1e-3, "walk: axis turned %g rad", turn);
        CHECK(check_composition(&ec, &r.b) == 0);
    }
    test_run_free(&r);
    /* loop: back to the start after 2 * loop_len steps, twice. */
    ac = test_agent_config(AG_LOOP);
    ac.loop_len = 3;
    ac.max_angle = 60;
    if (run(&r, &ec, &ac, 6, 13, 7)) {
        double worst = 0, away = 0;
        int same_px = 0;
        size_t view = (size_t)32 * 32 * 3;
        for (int i = 0; i < 6; i++) {
            const float *l = r.b.latents + (size_t)i * 13 * 11;
            worst = fmax(worst, rot_distance(l, l + 6 * 11));
            worst = fmax(worst, rot_distance(l, l + 12 * 11));
            away = fmax(away, rot_distance(l, l + 3 * 11));
            const uint8_t *px = r.b.pixels + (size_t)i * 13 * view;
            same_px += !memcmp(px, px + 6 * view, view) && !memcmp(px, px + 12 * view, view);
        }
        CHECK(worst < 1e-6, "loop: %g rad from the start after the loop", worst);
        CHECK(away > 0.1, "loop: the path went nowhere");
        CHECK(same_px == 6, "loop: %d of 6 closed loops rendered the first view again", same_px);
        float cum[4];
        env_compose_actions(&ec, 4, r.b.actions, 6, cum);
        CHECK(fabs(cum[0] - 1) < 1e-6, "loop: cumulative rotation w = %g", cum[0]);
    }
    test_run_free(&r);
}

static void test_path_and_human(void) {
    EnvConfig ec = env_config();
    char path[600];
    snprintf(path, sizeof path, "%s/rot.txt", test_tmpdir());
    WM_ASSERT(strlen(path) < sizeof((AgentConfig *)0)->path);
    const char *text = "2 0 0 0   # identity, normalised\n0.9238795 0 0.3826834 0\n";
    wm_write_file_atomic(path, text, strlen(text), err, sizeof err);
    AgentConfig ac = test_agent_config(AG_PATH);
    memcpy(ac.path, path, strlen(path) + 1);
    TestRun r;
    if (run(&r, &ec, &ac, 2, 4, 8)) {
        const float *a = r.b.actions;
        CHECK(a[0] == 1 && a[1] == 0 && a[2] == 0 && a[3] == 0, "identity");
        CHECK(fabs(action_angle(a + 4) - M_PI / 4) < 1e-6 && a[10] == 0 && a[8] == 1);
        CHECK(check_composition(&ec, &r.b) == 0);
    }
    test_run_free(&r);
    ac = test_agent_config(AG_PATH);
    text = "1 0 0\n";
    wm_write_file_atomic(path, text, strlen(text), err, sizeof err);
    memcpy(ac.path, path, strlen(path) + 1);
    const EnvSpec spec4 = {.action_dim = 4};
    Agent *no_agent;
    CHECK(ag_create(&ac, &ec, &spec4, 1, &no_agent, err, sizeof err) != WM_OK && !no_agent && strstr(err, ":1: expected 4"),
          "%s", err);
    ac = test_agent_config(AG_SALIENCY);
    CHECK(ag_create(&ac, &ec, &spec4, 1, &no_agent, err, sizeof err) != WM_OK && !no_agent && strstr(err, "saccade"), "%s",
          err);

    /* Human: a turn about the world's y axis (the camera frame) and one in the object's. */
    ac = test_agent_config(AG_HUMAN);
    Env *e;
    env_create(&ec, 1, &e, err, sizeof err);
    Agent *a = NULL;
    if (e) ag_create(&ac, &ec, env_spec(e), 1, &a, err, sizeof err);
    CHECK(a != NULL, "%s", err);
    if (a) {
        env_reset(e, 0, 3, ENV_SPLIT_TRAIN, NULL);
        ag_begin(a, 0, 3, e, 0);
        for (int frame = 0; frame < 2; frame++) {
            double before[11], after[11], want[4], r4[4];
            static const double axis[3] = {0, 1, 0};
            env_objects3d_get_latent(e, 0, before);
            AgEvent ev = {AG_EVENT_ROTATE, {0, 2, 0, 0.3, frame}};
            CHECK(ag_human_push(a, 0, &ev) == 0);
            float act[4];
            CHECK(ag_step(a, 0, e, act) == 0);
            env_objects3d_get_latent(e, 0, after);
            wm_quat_from_axis_angle(r4, axis, 0.3);
            if (frame == 0)
                wm_quat_mul(want, r4, before);
            else
                wm_quat_mul(want, before, r4);
            wm_quat_canon(want);
            double got[4] = {after[0], after[1], after[2], after[3]}, rel[4];
            wm_quat_relative(rel, got, want);
            CHECK(wm_quat_angle(rel) < 1e-6, "%s-frame turn off by %g", frame ? "object" : "world",
                  wm_quat_angle(rel));
            CHECK(after[ENV_O3_LAT_FLOOR_HUE] == before[ENV_O3_LAT_FLOOR_HUE]);
        }
        AgEvent look = {AG_EVENT_LOOK_AT, {0.5, 0.5, 0, 0, 0}};
        CHECK(ag_human_push(a, 0, &look) == WM_ERR_ARG, "looking in objects3d");
        AgEvent tr = {AG_EVENT_TRANSLATE, {0.1, 0, 0, 0, 0}};
        CHECK(ag_human_push(a, 0, &tr) == WM_ERR_ARG, "translation without translate_actions");
        float act[4];
        CHECK(ag_step(a, 0, e, act) == 0 && act[0] == 1 && act[1] == 0, "idle: identity");
    }
    ag_destroy(a);
    env_destroy(e);
}

int main(void) {
    test_iid();
    test_policies();
    test_path_and_human();
    return TEST_DONE();
}
