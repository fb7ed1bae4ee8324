/* Agents in the saccade world and batched rollouts: inhibition of return, exact
 * cumulative actions, reproducibility across batch and lane counts, scripted paths and
 * human input. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agents/agent.h"
#include "data/rollout.h"
#include "data/stream.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "envs/env.h"
#include "envs/saccade.h"
#include "tests/test.h"
#include "tests/test_rollout.h"

static char err[1024];

static EnvConfig env_config(void) {
    EnvConfig c;
    WM_CFG_DEFAULTS(EnvConfig, &c);
    c.kind = 1;
    c.size = 32;
    c.n_scenes = 200;
    return c;
}

static void set_path(AgentConfig *c, const char *path) {
    size_t n = strlen(path);
    CHECK(n < sizeof c->path, "temporary folder name too long");
    if (n < sizeof c->path) memcpy(c->path, path, n + 1);
}

/* Fixation pixel of a recorded latent. */
static void pixel_of(const float *lat, int s, int p[2]) {
    for (int d = 0; d < 2; d++)
        p[d] = env_saccade_pixel((int32_t)lrintf(lat[d] * ENV_SACCADE_GRID), s);
}

static void test_ior(void) {
    const int T = 7, N = 150;
    for (int shape = 0; shape < 2; shape++) {
        for (int kind = AG_SALIENCY; kind <= AG_UNIFORM; kind++) {
            EnvConfig ec = env_config();
            ec.ior = shape;
            ec.ior_radius = shape == ENV_IOR_SQUARE ? 16 : 12;
            AgentConfig ac = test_agent_config(kind);
            TestRun run;
            if (!test_run(&run, &ec, &ac, 8, N, T, 5, 0, err, sizeof err)) {
                test_run_free(&run);
                continue;
            }
            const AgBatch b = run.b;
            int bad = 0, r = ec.ior_radius;
            for (int i = 0; i < N; i++) {
                for (int t1 = 0; t1 < T; t1++) {
                    for (int t2 = t1 + 1; t2 < T; t2++) {
                        int p1[2], p2[2];
                        pixel_of(b.latents + ((size_t)i * T + t1) * 2, 96, p1);
                        pixel_of(b.latents + ((size_t)i * T + t2) * 2, 96, p2);
                        int dy = p2[0] - p1[0], dx = p2[1] - p1[1];
                        int inside = shape == ENV_IOR_SQUARE ? abs(dy) <= r && abs(dx) <= r
                                                             : dy * dy + dx * dx <= r * r;
                        bad += inside;
                    }
                }
            }
            CHECK(bad == 0, "%s ior %s: %d fixations inside an earlier one's inhibited region",
                  ag_kind_name(kind), shape ? "disc" : "square", bad);
            /* Fixations sit on pixel centres. */
            float lat = b.latents[2];
            int32_t k = (int32_t)lrintf(lat * ENV_SACCADE_GRID);
            CHECK(k == env_saccade_grid_of_pixel(env_saccade_pixel(k, 96), 96));
            test_run_free(&run);
        }
    }
}

/* Sum of float actions in the given order. */
static void sum_actions(const float *act, int n, int reverse, float out[2]) {
    out[0] = out[1] = 0;
    for (int k = 0; k < n; k++) {
        int j = reverse ? n - 1 - k : k;
        out[0] += act[2 * j];
        out[1] += act[2 * j + 1];
    }
}

static void test_exact_sums(void) {
    char path[600];
    snprintf(path, sizeof path, "%s/path.txt", test_tmpdir());
    const char *text = "# a scripted scan\n0.125 -0.0625\n\n-0.3, 0.7  # rounded to the grid\n"
                       "0.01 0.02\n";
    CHECK(wm_write_file_atomic(path, text, strlen(text), err, sizeof err) == 0);
    const int kinds[5] = {AG_SALIENCY, AG_UNIFORM, AG_WALK, AG_LOOP, AG_PATH};
    const int T = 9, N = 64;
    for (int ki = 0; ki < 5; ki++) {
        EnvConfig ec = env_config();
        AgentConfig ac = test_agent_config(kinds[ki]);
        set_path(&ac, path);
        ac.max_shift = 0.3;
        TestRun run;
        if (!test_run(&run, &ec, &ac, 16, N, T, 11, 100, err, sizeof err)) {
            test_run_free(&run);
            continue;
        }
        const AgBatch b = run.b;
        int inexact = 0, moved = 0, loop_open = 0;
        for (int i = 0; i < N; i++) {
            const float *lat = b.latents + (size_t)i * T * 2;
            const float *act = b.actions + (size_t)i * (T - 1) * 2;
            for (int t = 0; t + 1 < T; t++) {
                for (int d = 0; d < 2; d++) {
                    inexact += lat[(t + 1) * 2 + d] - lat[t * 2 + d] != act[t * 2 + d];
                    moved += act[t * 2 + d] != 0;
                }
            }
            /* Any span, summed forwards or backwards, equals the latent difference. */
            for (int t0 = 0; t0 < T; t0++) {
                for (int t1 = t0; t1 < T; t1++) {
                    float fw[2], bw[2], cum[2];
                    sum_actions(act + t0 * 2, t1 - t0, 0, fw);
                    sum_actions(act + t0 * 2, t1 - t0, 1, bw);
                    env_compose_actions(&ec, 2, act + t0 * 2, t1 - t0, cum);
                    for (int d = 0; d < 2; d++) {
                        float want = lat[t1 * 2 + d] - lat[t0 * 2 + d];
                        inexact += fw[d] != want || bw[d] != want || cum[d] != want;
                    }
                }
            }
            if (kinds[ki] == AG_LOOP) /* loop_len 0: 4 out, 4 back in 9 views */
                loop_open += lat[8 * 2] != lat[0] || lat[8 * 2 + 1] != lat[1];
        }
        CHECK(inexact == 0, "%s: %d sums differ from latent differences", ag_kind_name(kinds[ki]),
              inexact);
        CHECK(moved > N, "%s: the eye hardly moved (%d)", ag_kind_name(kinds[ki]), moved);
        CHECK(loop_open == 0, "loop: %d sequences did not return to the start", loop_open);
        if (kinds[ki] == AG_WALK) {
            float mx = 0;
            for (size_t k = 0; k < (size_t)N * (T - 1) * 2; k++)
                mx = fmaxf(mx, fabsf(b.actions[k]));
            CHECK(mx <= 0.3f + 1.0f / ENV_SACCADE_GRID, "walk step %g above max_shift", mx);
        }
        if (kinds[ki] == AG_PATH) {
            /* -0.3 rounds to -1229/4096; displacements are clamped at the border. */
            const float *act = b.actions;
            const float *lat = b.latents;
            float want0 = fminf(fmaxf(lat[0] + 0.125f, 0), 1) - lat[0];
            CHECK(act[0] == want0, "path action %g, want %g", act[0], want0);
            float k = -0.3f * ENV_SACCADE_GRID;
            CHECK(fabsf(act[2]) <= fabsf(nearbyintf(k) / ENV_SACCADE_GRID) + 1e-9f);
            /* The 4th action restarts the file. */
            CHECK(act[6] == fminf(fmaxf(lat[6] + 0.125f, 0), 1) - lat[6]);
        }
        test_run_free(&run);
    }
}

/* Sequence i is the same whatever the batch it is part of and the lane count. */
static void test_reproducible(void) {
    EnvConfig ec = env_config();
    AgentConfig ac = test_agent_config(AG_AUTO);
    const int T = 5, N = 10;
    Env *e1, *e2;
    env_create(&ec, 10, &e1, err, sizeof err);
    env_create(&ec, 3, &e2, err, sizeof err);
    Agent *a1;
    ag_create(&ac, &ec, env_spec(e1), 10, &a1, err, sizeof err);
    Agent *a2;
    ag_create(&ac, &ec, env_spec(e2), 3, &a2, err, sizeof err);
    CHECK(a1 && a2 && ag_kind(a1) == AG_SALIENCY, "%s", err);
    AgBatch b1, b2, b3;
    ag_batch_alloc(&b1, env_spec(e1), N, T, 96, err, sizeof err);
    ag_batch_alloc(&b2, env_spec(e2), 4, T, 96, err, sizeof err);
    ag_batch_alloc(&b3, env_spec(e2), 6, T, 96, err, sizeof err);
    CHECK(ag_rollout(e1, a1, 3, ENV_SPLIT_HELDOUT, 50, N, &b1, err, sizeof err) == 0, "%s", err);
    /* A different order, different lanes, what ran before differs too. */
    CHECK(ag_rollout(e2, a2, 3, ENV_SPLIT_HELDOUT, 54, 6, &b3, err, sizeof err) == 0, "%s", err);
    CHECK(ag_rollout(e2, a2, 3, ENV_SPLIT_HELDOUT, 50, 4, &b2, err, sizeof err) == 0, "%s", err);
    size_t view = 32 * 32 * 3, s2 = 96 * 96;
    CHECK(!memcmp(b1.pixels, b2.pixels, 4 * T * view) &&
          !memcmp(b1.pixels + 4 * T * view, b3.pixels, 6 * T * view));
    CHECK(!memcmp(b1.actions, b2.actions, 4 * (T - 1) * 2 * sizeof(float)) &&
          !memcmp(b1.actions + 4 * (T - 1) * 2, b3.actions, 6 * (T - 1) * 2 * sizeof(float)));
    CHECK(!memcmp(b1.latents + 4 * T * 2, b3.latents, 6 * T * 2 * sizeof(float)));
    CHECK(!memcmp(b1.labels + 4, b3.labels, 6 * sizeof(int32_t)) &&
          !memcmp(b1.instances, b2.instances, 4 * sizeof(int32_t)));
    CHECK(!memcmp(b1.scenes + 4 * s2 * 3, b3.scenes, 6 * s2 * 3) &&
          !memcmp(b1.saliency, b2.saliency, 4 * s2 * sizeof(float)));
    /* The recorded scene is the procedural scene of the recorded instance, held out. */
    uint8_t *scene = wm_new(uint8_t, s2 * 3);
    for (int i = 0; i < N; i++) {
        int label = env_saccade_procedural(b1.instances[i], 96, scene);
        CHECK(label == b1.labels[i] && !memcmp(scene, b1.scenes + i * s2 * 3, s2 * 3));
        CHECK(b1.instances[i] >= 160, "held-out instance %d", b1.instances[i]);
    }
    /* Another seed gives other sequences. */
    CHECK(ag_rollout(e2, a2, 4, ENV_SPLIT_HELDOUT, 50, 4, &b2, err, sizeof err) == 0);
    CHECK(memcmp(b1.pixels, b2.pixels, 4 * T * view) != 0);
    wm_free(scene);
    ag_batch_free(&b1), ag_batch_free(&b2), ag_batch_free(&b3);
    ag_destroy(a1), ag_destroy(a2);
    env_destroy(e1), env_destroy(e2);
}

static void test_human(void) {
    EnvConfig ec = env_config();
    AgentConfig ac = test_agent_config(AG_HUMAN);
    Env *e;
    env_create(&ec, 2, &e, err, sizeof err);
    Agent *a;
    ag_create(&ac, &ec, env_spec(e), 2, &a, err, sizeof err);
    CHECK(a != NULL, "%s", err);
    if (!a) return;
    env_reset(e, 1, 9, ENV_SPLIT_TRAIN, NULL);
    CHECK(ag_begin(a, 1, 9, e, 0) == 0);
    float act[2], lat[2], before[2];
    env_latent(e, 1, before);
    CHECK(ag_step(a, 1, e, act) == 0 && act[0] == 0 && act[1] == 0, "no event: no move");
    AgEvent look = {AG_EVENT_LOOK_AT, {0.25, 0.75, 0, 0, 0}};
    CHECK(ag_human_push(a, 1, &look) == 0 && ag_human_pending(a, 1) == 1);
    CHECK(ag_step(a, 1, e, act) == 0);
    env_latent(e, 1, lat);
    CHECK(lat[0] == 0.25f && lat[1] == 0.75f && act[0] == 0.25f - before[0]);
    AgEvent by = {AG_EVENT_LOOK_BY, {-0.5, 0.5, 0, 0, 0}};
    ag_human_push(a, 1, &by);
    ag_step(a, 1, e, act);
    env_latent(e, 1, lat);
    CHECK(lat[0] == 0.0f && lat[1] == 1.0f && act[0] == -0.25f && act[1] == 0.25f,
          "clamped at the border, the action is the move made: %g %g", act[0], act[1]);
    AgEvent rot = {AG_EVENT_ROTATE, {0, 1, 0, 0.5, 0}};
    CHECK(ag_human_push(a, 1, &rot) == WM_ERR_ARG, "rotation in the saccade world");
    AgEvent nan = {AG_EVENT_LOOK_AT, {NAN, 0, 0, 0, 0}};
    CHECK(ag_human_push(a, 1, &nan) == WM_ERR_ARG);
    int rc = 0, n = 0;
    while ((rc = ag_human_push(a, 0, &look)) == 0)
        n++;
    CHECK(rc == WM_ERR_RANGE && n == 256 && ag_human_pending(a, 0) == 256);
    ag_destroy(a);
    env_destroy(e);
}

static void test_errors(void) {
    EnvConfig ec = env_config();
    Env *e;
    env_create(&ec, 1, &e, err, sizeof err);
    const EnvSpec *sp = env_spec(e);
    AgentConfig ac = test_agent_config(AG_ROTATE);
    Agent *no_agent;
    CHECK(ag_create(&ac, &ec, sp, 1, &no_agent, err, sizeof err) != WM_OK && !no_agent && strstr(err, "rotate"), "%s", err);
    ac = test_agent_config(AG_IID);
    CHECK(ag_create(&ac, &ec, sp, 1, &no_agent, err, sizeof err) == WM_ERR_ARG && !no_agent && strstr(err, "saliency"),
          "%s", err);
    CHECK(strstr(err, "iid runs in objects3d, not saccade (use walk, loop, saliency, uniform, path or human)") != NULL,
          "the kinds this world runs, listed: %s", err);
    ac = test_agent_config(AG_PATH);
    CHECK(ag_create(&ac, &ec, sp, 1, &no_agent, err, sizeof err) != WM_OK && !no_agent && strstr(err, "agent.path"), "%s",
          err);
    char path[600];
    snprintf(path, sizeof path, "%s/bad.txt", test_tmpdir());
    const char *cases[4][2] = {{"0.1 0.2\n0.1 0.2 0.3\n", ":2: expected 2 numbers"},
                               {"0.1 zero\n", ":1: 'zero' is not a number"},
                               {"# nothing\n\n", "holds no actions"},
                               {"0.5 1.5\n", ":1: displacement 1.5 is outside"}};
    for (int i = 0; i < 4; i++) {
        wm_write_file_atomic(path, cases[i][0], strlen(cases[i][0]), err, sizeof err);
        ac = test_agent_config(AG_PATH);
        set_path(&ac, path);
        Agent *a;
        ag_create(&ac, &ec, sp, 1, &a, err, sizeof err);
        CHECK(a == NULL && strstr(err, cases[i][1]), "case %d: %s", i, err);
        ag_destroy(a);
    }
    snprintf(path, sizeof path, "%s/missing.txt", test_tmpdir());
    set_path(&ac, path);
    CHECK(ag_create(&ac, &ec, sp, 1, &no_agent, err, sizeof err) == WM_ERR_IO && !no_agent && strstr(err, "missing.txt"), "%s",
          err);
    /* the stream that builds the same agent on its thread passes the status on */
    AgStream *no_stream = NULL;
    CHECK(ag_stream_create(&ec, &ac, 2, 3, 1, 2, 0, ENV_SPLIT_TRAIN, &no_stream, err, sizeof err) == WM_ERR_IO &&
              !no_stream && strstr(err, "missing.txt"),
          "stream: %s", err);
    ac = test_agent_config(AG_LOOP);
    Agent *a;
    ag_create(&ac, &ec, sp, 1, &a, err, sizeof err);
    env_reset(e, 0, 1, ENV_SPLIT_TRAIN, NULL);
    CHECK(a && ag_begin(a, 0, 1, e, 0) == WM_ERR_ARG, "loop with loop_len 0 needs a length");
    ag_destroy(a);
    /* A rollout on an empty held-out split says so. */
    ec.heldout = 0;
    Env *e0;
    env_create(&ec, 1, &e0, err, sizeof err);
    ac = test_agent_config(AG_AUTO);
    ag_create(&ac, &ec, env_spec(e0), 1, &a, err, sizeof err);
    AgBatch b;
    ag_batch_alloc(&b, env_spec(e0), 2, 3, 0, err, sizeof err);
    CHECK(ag_rollout(e0, a, 1, ENV_SPLIT_HELDOUT, 0, 2, &b, err, sizeof err) == WM_ERR_ARG &&
              strstr(err, "heldout"),
          "%s", err);
    ag_batch_free(&b);
    ag_destroy(a);
    env_destroy(e0);
    env_destroy(e);
}

int main(void) {
    test_ior();
    test_exact_sums();
    test_reproducible();
    test_human();
    test_errors();
    return TEST_DONE();
}
