/* The saccade world: glimpses against a numpy reference, saliency, fixation sampling and
 * splits, and hostile folders. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/npy.h"
#include "core/png.h"
#include "core/rng.h"
#include "envs/env.h"
#include "envs/saccade.h"
#include "tests/test.h"

static char err[1024];

static EnvConfig saccade_config(void) {
    EnvConfig c;
    WM_CFG_DEFAULTS(EnvConfig, &c);
    c.kind = 1;
    c.size = 32;
    return c;
}

static int run_python(const char *script, const char *arg) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s %s", TEST_PYTHON, script, arg);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Glimpses at random and border fixations, through the kernel and through the Env, all
 * checked by tests/ref/saccade_ref.py. */
static void test_glimpse_reference(void) {
    const int s = 96;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/glimpse", test_tmpdir());
    CHECK(wm_mkdirs(dir, err, sizeof err) == 0, "%s", err);

    /* A procedural scene with noise on top, so every pixel differs from its neighbours. */
    uint8_t *scene = wm_new(uint8_t, (size_t)s * s * 3);
    env_saccade_procedural(7, s, scene);
    WmRng r;
    wm_rng_seed(&r, 1, 2);
    for (int i = 0; i < s * s * 3; i++) {
        int v = scene[i] + (int)wm_rng_below(&r, 61) - 30;
        scene[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    enum { K = 40 };
    double fix[K][2];
    for (int k = 0; k < K; k++) {
        if (k < 16) {
            /* Border and corner fixations, on and off the pixel grid. */
            static const double edge[8] = {0, 0.25, 0.5, 1, 95, 95.5, 95.75, 96};
            fix[k][0] = edge[k % 8];
            fix[k][1] = edge[(k * 3 + 1) % 8];
        } else if (k < 20) {
            fix[k][0] = wm_rng_range(&r, -6, 0);
            fix[k][1] = wm_rng_range(&r, 90, 102);
        } else {
            fix[k][0] = wm_rng_range(&r, 0, s);
            fix[k][1] = wm_rng_range(&r, 0, s);
        }
    }
    size_t shp[4] = {(size_t)s, (size_t)s, 3, 0};
    char path[700];
    snprintf(path, sizeof path, "%s/scene.npy", dir);
    CHECK(wm_npy_write(path, WM_U8, 3, shp, scene, err, sizeof err) == 0, "%s", err);
    size_t fshp[2] = {K, 2};
    snprintf(path, sizeof path, "%s/fix.npy", dir);
    CHECK(wm_npy_write(path, WM_F64, 2, fshp, fix, err, sizeof err) == 0, "%s", err);
    /* n == f (translation), n < f and n > f (resized), and an odd fovea. */
    static const int fn[4][2] = {{32, 32}, {32, 24}, {32, 48}, {17, 17}};
    for (int c = 0; c < 4; c++) {
        int f = fn[c][0], n = fn[c][1];
        uint8_t *g = wm_new(uint8_t, (size_t)K * n * n * 3);
        for (int k = 0; k < K; k++)
            env_saccade_glimpse(scene, s, fix[k][0], fix[k][1], f, n, g + (size_t)k * n * n * 3);
        size_t gshp[4] = {K, (size_t)n, (size_t)n, 3};
        snprintf(path, sizeof path, "%s/glimpses_f%d_n%d.npy", dir, f, n);
        CHECK(wm_npy_write(path, WM_U8, 4, gshp, g, err, sizeof err) == 0, "%s", err);
        wm_free(g);
    }
    CHECK(run_python("tests/ref/saccade_ref.py", dir) == 0, "numpy reference disagrees");

    /* An integer window offset is an exact crop. */
    uint8_t g[32 * 32 * 3];
    env_saccade_glimpse(scene, s, 40, 50, 32, 32, g);
    int same = 1;
    for (int i = 0; i < 32 && same; i++)
        same = !memcmp(g + i * 32 * 3, scene + ((size_t)(24 + i) * s + 34) * 3, 32 * 3);
    CHECK(same, "integer fixation is not a crop");
    /* Far outside: all zero. */
    env_saccade_glimpse(scene, s, -500, 48, 32, 32, g);
    int zero = 1;
    for (int i = 0; i < 32 * 32 * 3; i++)
        zero &= g[i] == 0;
    CHECK(zero, "glimpse far outside the scene is not black");
    memset(g, 7, sizeof g);
    env_saccade_glimpse(scene, s, NAN, 48, 32, 24, g);
    CHECK(g[0] == 0 && g[24 * 24 * 3 - 1] == 0, "a NaN fixation sees nothing");
    wm_free(scene);
}

/* The Env's observation is the kernel's glimpse at latent * S, and the latent lies on the
 * grid. */
static void test_env_observe(void) {
    EnvConfig c = saccade_config();
    c.n_scenes = 50;
    Env *e;
    env_create(&c, 3, &e, err, sizeof err);
    CHECK(e != NULL, "%s", err);
    if (!e) return;
    const EnvSpec *sp = env_spec(e);
    CHECK(sp->height == 32 && sp->width == 32 && sp->channels == 3);
    CHECK(sp->action_dim == 2 && sp->latent_dim == 2 && sp->n_classes == 10);
    uint8_t px[32 * 32 * 3], ref[32 * 32 * 3];
    float lat[2];
    EnvObs o = {px, lat, -1, -1};
    for (int i = 0; i < 20; i++) {
        CHECK(env_reset(e, i % 3, (uint64_t)i, ENV_SPLIT_TRAIN, &o) == 0);
        EnvScene sc;
        CHECK(env_scene(e, i % 3, &sc) == 0 && sc.size == 96);
        env_saccade_glimpse(sc.image, 96, (double)lat[0] * 96, (double)lat[1] * 96, 32, 32, ref);
        CHECK(!memcmp(px, ref, sizeof px), "observation is not the glimpse at the latent");
        CHECK(lat[0] * ENV_SACCADE_GRID == floorf(lat[0] * ENV_SACCADE_GRID), "off grid");
        CHECK(o.instance >= 0 && o.instance < 40, "train split holds scenes 0..39, got %d",
              o.instance);
        CHECK(o.label == o.instance % 10);
        double sum = 0;
        for (int k = 0; k < 96 * 96; k++)
            sum += sc.saliency[k];
        CHECK_NEAR(sum, 1.0, 1e-5);
        /* A step lands on the grid and is clamped into the scene. */
        float a[2] = {0.3f, -2.0f}, before[2];
        env_latent(e, i % 3, before);
        CHECK(env_step(e, i % 3, a, &o) == 0);
        float want = nearbyintf((before[0] + 0.3f) * ENV_SACCADE_GRID) / ENV_SACCADE_GRID;
        if (want > 1) want = 1;
        CHECK(fabsf(lat[0] - want) <= 1.0f / ENV_SACCADE_GRID && lat[1] == 0.0f);
        float bad[2] = {NAN, 0};
        CHECK(env_step(e, i % 3, bad, NULL) == WM_ERR_NUMERIC);
    }
    for (int i = 0; i < 20; i++) {
        CHECK(env_reset(e, 0, (uint64_t)i, ENV_SPLIT_HELDOUT, &o) == 0);
        CHECK(o.instance >= 40 && o.instance < 50, "held-out scene %d", o.instance);
    }
    /* Same seed, same bytes. */
    uint8_t px2[32 * 32 * 3];
    EnvObs o2 = {px2, NULL, -1, -1};
    env_reset(e, 1, 1234, ENV_SPLIT_TRAIN, &o);
    env_reset(e, 2, 1234, ENV_SPLIT_TRAIN, &o2);
    CHECK(!memcmp(px, px2, sizeof px) && o.instance == o2.instance);
    CHECK(!strcmp(env_saccade_class_name(e, 0), "disc+ring"));
    CHECK(env_saccade_class_name(e, 10) == NULL);
    /* The contract's generic entries reach the same world. */
    CHECK(!strcmp(env_class_name(e, 0), "disc+ring") && env_class_name(e, 10) == NULL);
    CHECK(!strcmp(env_kind_name(ENV_KIND_SACCADE), "saccade") &&
          !strcmp(env_kind_name(ENV_KIND_OBJECTS3D), "objects3d"));
    for (int k = 0; k < ENV_KIND_COUNT; k++)
        CHECK(env_kind_find(env_kind_name(k)) == k, "kind %d found by its name", k);
    CHECK(env_kind_find("chess") == -1 && env_kind_find("") == -1);
    CHECK(env_view(e, 0, NULL) == WM_ERR_ARG, "a glimpse world has no 3D view");
    /* What a config implies without a world: classes, scenes, OpenGL. */
    EnvConfig ic;
    WM_CFG_DEFAULTS(EnvConfig, &ic);
    EnvConfigInfo in = env_config_info(&ic);
    CHECK(ic.kind == ENV_KIND_OBJECTS3D && in.n_classes == ic.n_classes && in.scene_size == 0 &&
          in.uses_gl);
    ic.kind = ENV_KIND_SACCADE;
    in = env_config_info(&ic);
    CHECK(in.n_classes == ENV_SACCADE_PROC_CLASSES && in.scene_size == ic.scene_size && !in.uses_gl);
    ic.source = ENV_SOURCE_FOLDER;
    CHECK(env_config_info(&ic).n_classes == -1 && !env_config_info(&ic).uses_gl);
    ic.source = ENV_SOURCE_OBJECTS3D;
    CHECK(env_config_info(&ic).n_classes == ic.n_classes && env_config_info(&ic).uses_gl);
    double st[2] = {0.25, 1000.0 / ENV_SACCADE_GRID}, got[2];
    CHECK(env_set_state(e, 1, st) == WM_OK);
    env_get_state(e, 1, got);
    env_latent(e, 1, lat);
    CHECK(got[0] == st[0] && got[1] == st[1] && lat[0] == 0.25f && lat[1] == (float)st[1],
          "state set (%g %g) read back (%g %g)", st[0], st[1], got[0], got[1]);
    double off[2] = {0.3, 1.2}; /* rounded to the grid, clamped into the scene */
    CHECK(env_set_state(e, 1, off) == WM_OK);
    env_get_state(e, 1, got);
    CHECK(got[0] == nearbyint(0.3 * ENV_SACCADE_GRID) / ENV_SACCADE_GRID && got[1] == 1.0);
    double nan_st[2] = {NAN, 0};
    CHECK(env_set_state(e, 1, nan_st) == WM_ERR_ARG);
    env_get_state(e, 1, st);
    CHECK(st[0] == got[0] && st[1] == got[1], "a refused state changes nothing");
    env_destroy(e);

    c.heldout = 0;
    env_create(&c, 1, &e, err, sizeof err);
    CHECK(e && env_reset(e, 0, 1, ENV_SPLIT_HELDOUT, NULL) == WM_ERR_ARG,
          "heldout 0 leaves no held-out scene");
    env_destroy(e);
}

static double mass_in(const float *m, int s, int y0, int y1, int x0, int x1) {
    double a = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            a += m[y * s + x];
    return a;
}

static void test_saliency(void) {
    const int s = 96;
    uint8_t *img = wm_new(uint8_t, (size_t)s * s * 3);
    float *sal = wm_new(float, (size_t)s *s);
    float *work = wm_new(float, env_saliency_work_floats(s));
    /* A bright 16 x 16 object on a flat grey background, off centre. */
    memset(img, 90, (size_t)s * s * 3);
    for (int y = 20; y < 36; y++)
        for (int x = 56; x < 72; x++)
            memset(img + ((size_t)y * s + x) * 3, 240, 3);
    const char *names[2] = {"contrast", "spectral"};
    for (int m = 0; m < 2; m++) {
        env_saliency(img, s, m, sal, work);
        double sum = 0, mn = 1;
        for (int i = 0; i < s * s; i++)
            sum += sal[i], mn = fmin(mn, sal[i]);
        CHECK_NEAR(sum, 1.0, 1e-5);
        CHECK(mn > 0, "%s: a pixel with zero probability", names[m]);
        /* The object covers 2.8% of the scene; its 4-pixel surround another 4.2%. */
        double on = mass_in(sal, s, 20, 36, 56, 72), near = mass_in(sal, s, 16, 40, 52, 76);
        printf("saliency %s: %.3f of the mass on the object, %.3f within 4 px of it\n", names[m],
               on, near);
        if (m == ENV_SALIENCY_CONTRAST) {
            /* The default map: most of the mass on the object itself. */
            CHECK(on > 0.6, "%s: only %.3f of the mass on the object", names[m], on);
            CHECK(near > 0.85, "%s: only %.3f of the mass near the object", names[m], near);
        } else {
            /* The spectral residual favours edges: most of the mass on the object and its
             * rim, the object itself several times denser than the background. */
            CHECK(near > 0.5, "%s: only %.3f of the mass near the object", names[m], near);
            CHECK(on > 5 * 0.028, "%s: only %.3f of the mass on the object", names[m], on);
        }
    }
    /* A red disc on green: colour contrast alone (equal intensity). */
    for (int y = 0; y < s; y++) {
        for (int x = 0; x < s; x++) {
            uint8_t *p = img + ((size_t)y * s + x) * 3;
            int in = (y - 70) * (y - 70) + (x - 25) * (x - 25) < 64;
            p[0] = in ? 200 : 60, p[1] = in ? 60 : 200, p[2] = 60;
        }
    }
    env_saliency(img, s, ENV_SALIENCY_CONTRAST, sal, work);
    double near = mass_in(sal, s, 58, 83, 13, 38);
    printf("saliency contrast, colour only: %.3f within 4 px of the disc\n", near);
    CHECK(near > 0.85, "colour contrast: %.3f", near);
    env_saliency(img, s, ENV_SALIENCY_UNIFORM, sal, work);
    CHECK_NEAR(sal[0], 1.0 / (s * s), 1e-9);
    /* Other sizes, including one below the spectral resolution. */
    for (int k = 0; k < 3; k++) {
        static const int sizes[3] = {16, 50, 128};
        int n = sizes[k];
        uint8_t *im = wm_new(uint8_t, (size_t)n * n * 3);
        float *sm = wm_new(float, (size_t)n *n), *wk = wm_new(float, env_saliency_work_floats(n));
        env_saccade_procedural(k, n, im);
        for (int m = 0; m < 2; m++) {
            env_saliency(im, n, m, sm, wk);
            double sum = 0;
            int finite = 1;
            for (int i = 0; i < n * n; i++)
                sum += sm[i], finite &= isfinite(sm[i]) && sm[i] > 0;
            CHECK(finite && fabs(sum - 1) < 1e-5, "size %d method %d sum %g", n, m, sum);
        }
        wm_free(im), wm_free(sm), wm_free(wk);
    }
    wm_free(img), wm_free(sal), wm_free(work);
}

static void test_procedural(void) {
    const int s = 96;
    uint8_t *a = wm_new(uint8_t, (size_t)s * s * 3), *b = wm_new(uint8_t, (size_t)s * s * 3);
    int counts[ENV_SACCADE_PROC_CLASSES] = {0};
    for (int i = 0; i < 30; i++)
        counts[env_saccade_procedural(i, s, a)]++;
    for (int k = 0; k < ENV_SACCADE_PROC_CLASSES; k++)
        CHECK(counts[k] == 3);
    env_saccade_procedural(12, s, a);
    env_saccade_procedural(12, s, b);
    CHECK(!memcmp(a, b, (size_t)s * s * 3), "a scene is not a function of its index");
    env_saccade_procedural(22, s, b);
    CHECK(memcmp(a, b, (size_t)s * s * 3) != 0, "two scenes of a class are identical");
    wm_free(a), wm_free(b);
}

static void write_png(const char *dir, const char *name, int w, int h, uint8_t shade) {
    char path[800];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *px = wm_new(uint8_t, (size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++)
        px[i] = (uint8_t)(shade + i % 7);
    CHECK(wm_png_write(path, w, h, 3, px, 0, err, sizeof err) == 0, "%s", err);
    wm_free(px);
}

static void write_text(const char *path, const char *text) {
    CHECK(wm_write_file_atomic(path, text, strlen(text), err, sizeof err) == 0, "%s", err);
}

static Env *folder_env(const char *folder, int fovea) {
    EnvConfig c = saccade_config();
    c.source = 2;
    c.fovea = fovea;
    snprintf(c.folder, sizeof c.folder, "%s", folder);
    Env *made;
    env_create(&c, 2, &made, err, sizeof err);
    return made;
}

static void test_folder(void) {
    char root[600], d[700], p[800];
    snprintf(root, sizeof root, "%s/imgs", test_tmpdir());
    /* Two classes; images of several sizes and shapes; a stray text file is skipped. */
    snprintf(d, sizeof d, "%s/cat", root);
    wm_mkdirs(d, err, sizeof err);
    write_png(d, "a.png", 96, 96, 10);
    write_png(d, "b.png", 120, 80, 20);
    write_png(d, "c.png", 40, 40, 30);
    snprintf(p, sizeof p, "%s/notes.txt", d);
    write_text(p, "not an image");
    snprintf(d, sizeof d, "%s/dog", root);
    wm_mkdirs(d, err, sizeof err);
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "%d.png", i);
        write_png(d, name, 200, 150, (uint8_t)(100 + 10 * i));
    }
    Env *e = folder_env(root, 32);
    CHECK(e != NULL, "%s", err);
    if (e) {
        CHECK(env_spec(e)->n_classes == 2);
        CHECK(!strcmp(env_saccade_class_name(e, 0), "cat") &&
              !strcmp(env_saccade_class_name(e, 1), "dog"));
        int seen[8] = {0};
        EnvObs o = {NULL, NULL, -1, -1};
        for (int i = 0; i < 200; i++) {
            CHECK(env_reset(e, 0, (uint64_t)i, ENV_SPLIT_TRAIN, &o) == 0);
            CHECK(o.label == (o.instance >= 3), "image %d label %d", o.instance, o.label);
            seen[o.instance] = 1;
        }
        /* heldout 0.2: cat keeps 3 (round(0.6) = 1 held out: c.png), dog 5 -> 1 held out. */
        CHECK(seen[0] && seen[1] && !seen[2] && seen[3] && seen[6] && !seen[7],
              "train split by index within class");
        for (int i = 0; i < 50; i++) {
            CHECK(env_reset(e, 1, (uint64_t)i, ENV_SPLIT_HELDOUT, &o) == 0);
            CHECK(o.instance == 2 || o.instance == 7, "held-out image %d", o.instance);
        }
        env_destroy(e);
    }

    /* Hostile input, each a clear error naming what is wrong. */
    snprintf(d, sizeof d, "%s/empty", test_tmpdir());
    wm_mkdirs(d, err, sizeof err);
    CHECK(folder_env(d, 32) == NULL && strstr(err, "no class sub-folders"), "%s", err);
    printf("empty folder: %s\n", err);

    snprintf(d, sizeof d, "%s/loose", test_tmpdir());
    wm_mkdirs(d, err, sizeof err);
    write_png(d, "x.png", 64, 64, 0);
    CHECK(folder_env(d, 32) == NULL && strstr(err, "one sub-folder per class"), "%s", err);

    snprintf(d, sizeof d, "%s/noimg/cls", test_tmpdir());
    wm_mkdirs(d, err, sizeof err);
    snprintf(p, sizeof p, "%s/readme.txt", d);
    write_text(p, "x");
    snprintf(d, sizeof d, "%s/noimg", test_tmpdir());
    CHECK(folder_env(d, 32) == NULL && strstr(err, "holds no images"), "%s", err);

    snprintf(d, sizeof d, "%s/corrupt/cls", test_tmpdir());
    wm_mkdirs(d, err, sizeof err);
    write_png(d, "good.png", 64, 64, 0);
    write_png(d, "bad.png", 64, 64, 0);
    snprintf(p, sizeof p, "%s/bad.png", d);
    {
        /* Keep the signature and header, garble the compressed data. */
        char *data;
        size_t len;
        CHECK(wm_read_file(p, &data, &len, err, sizeof err) == 0);
        for (size_t i = 60; i < len - 12; i++)
            data[i] = (char)(data[i] ^ 0x5a);
        CHECK(wm_write_file_atomic(p, data, len, err, sizeof err) == 0);
        wm_free(data);
    }
    snprintf(d, sizeof d, "%s/corrupt", test_tmpdir());
    CHECK(folder_env(d, 32) == NULL && strstr(err, "cannot decode") && strstr(err, "bad.png"), "%s",
          err);
    printf("corrupt PNG: %s\n", err);

    snprintf(d, sizeof d, "%s/notpng/cls", test_tmpdir());
    wm_mkdirs(d, err, sizeof err);
    snprintf(p, sizeof p, "%s/fake.png", d);
    write_text(p, "this is not a PNG file at all, just text");
    snprintf(d, sizeof d, "%s/notpng", test_tmpdir());
    CHECK(folder_env(d, 32) == NULL && strstr(err, "fake.png"), "%s", err);

    snprintf(d, sizeof d, "%s/small/cls", test_tmpdir());
    wm_mkdirs(d, err, sizeof err);
    write_png(d, "tiny.png", 20, 40, 0);
    snprintf(d, sizeof d, "%s/small", test_tmpdir());
    CHECK(folder_env(d, 32) == NULL && strstr(err, "smaller than the fovea") &&
              strstr(err, "tiny.png") && strstr(err, "20x40"),
          "%s", err);
    printf("small image: %s\n", err);

    CHECK(folder_env("/nonexistent/folder", 32) == NULL && strstr(err, "not a folder"), "%s", err);
    EnvConfig c = saccade_config();
    c.source = 2;
    Env *none;
    CHECK(env_create(&c, 0, &none, err, sizeof err) == WM_ERR_ARG && !none && strstr(err, "lanes"),
          "no lanes: the status and the reason: %s", err);
    CHECK(env_create(&c, 1, &none, err, sizeof err) != WM_OK && !none && strstr(err, "env.folder"), "%s", err);

    c = saccade_config();
    c.fovea = 128;
    CHECK(env_create(&c, 1, &none, err, sizeof err) != WM_OK && !none && strstr(err, "larger than the scene"), "%s",
          err);
    printf("fovea larger than scene: %s\n", err);
    c = saccade_config();
    c.n_scenes = 1;
    CHECK(env_create(&c, 1, &none, err, sizeof err) != WM_OK && !none && strstr(err, "no training scene"), "%s",
          err);
}

int main(void) {
    test_glimpse_reference();
    test_env_observe();
    test_saliency();
    test_procedural();
    test_folder();
    return TEST_DONE();
}
