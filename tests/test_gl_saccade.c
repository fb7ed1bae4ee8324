/* The saccade world over objects3d renders (needs GL): labels and class names from the
 * object families, the split by scene index and held-out object instances, determinism. */
#include <string.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/err.h"
#include "envs/env.h"
#include "envs/objects3d.h"
#include "envs/saccade.h"
#include "tests/test.h"

static char err[1024];

static EnvConfig config(void) {
    EnvConfig c;
    WM_CFG_DEFAULTS(EnvConfig, &c);
    c.kind = 1;
    c.size = 32;
    c.source = ENV_SOURCE_OBJECTS3D;
    c.n_scenes = 40;
    c.n_classes = 5;
    c.instances = 10;
    return c;
}

int main(void) {
    EnvConfig c = config();
    Env *e;
    env_create(&c, 2, &e, err, sizeof err);
    CHECK(e != NULL, "%s", err);
    if (e) {
        CHECK(env_spec(e)->n_classes == 5);
        for (int k = 0; k < 5; k++)
            CHECK(!strcmp(env_saccade_class_name(e, k), env_objects3d_family_name(k)),
                  "class %d: %s", k, env_saccade_class_name(e, k));
        uint8_t px[32 * 32 * 3];
        EnvObs o = {px, NULL, -1, -1};
        int labels[5] = {0}, nonflat = 0;
        for (int i = 0; i < 60; i++) {
            CHECK(env_reset(e, 0, (uint64_t)i, ENV_SPLIT_TRAIN, &o) == 0);
            CHECK(o.instance >= 0 && o.instance < 32, "train scene %d", o.instance);
            CHECK(o.label >= 0 && o.label < 5);
            labels[o.label]++;
            EnvScene sc;
            env_scene(e, 0, &sc);
            int lo = 255, hi = 0;
            for (int k = 0; k < 96 * 96 * 3; k++)
                lo = sc.image[k] < lo ? sc.image[k] : lo, hi = sc.image[k] > hi ? sc.image[k] : hi;
            nonflat += hi - lo > 40;
        }
        CHECK(labels[0] && labels[1] && labels[2] && labels[3] && labels[4],
              "every family shows up");
        CHECK(nonflat == 60, "%d of 60 scenes show something", nonflat);
        for (int i = 0; i < 20; i++) {
            CHECK(env_reset(e, 1, (uint64_t)i, ENV_SPLIT_HELDOUT, &o) == 0);
            CHECK(o.instance >= 32 && o.instance < 40, "held-out scene %d", o.instance);
        }
        /* A second world with the same config renders the same scenes. */
        Env *e2;
        env_create(&c, 1, &e2, err, sizeof err);
        CHECK(e2 != NULL, "%s", err);
        if (e2) {
            EnvScene a, b;
            env_reset(e, 0, 77, ENV_SPLIT_TRAIN, NULL);
            env_reset(e2, 0, 77, ENV_SPLIT_TRAIN, NULL);
            env_scene(e, 0, &a);
            env_scene(e2, 0, &b);
            CHECK(!memcmp(a.image, b.image, 96 * 96 * 3), "objects3d scenes are reproducible");
            env_destroy(e2);
        }
        env_destroy(e);
    }
    c = config();
    c.scene_size = 16;
    c.fovea = 8;
    Env *none;
    CHECK(env_create(&c, 1, &none, err, sizeof err) != WM_OK && !none && strstr(err, "32..512"), "%s", err);
    c = config();
    c.heldout = 0.5;
    c.instances = 1;
    CHECK(env_create(&c, 1, &none, err, sizeof err) != WM_OK && !none && strstr(err, "held-out object instances"),
          "%s", err);
    return TEST_DONE();
}
