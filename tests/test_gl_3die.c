/* The 3DIEBench layout through the library: a small tree written by ds3_generate, its
 * latent files checked against the world (each view rendered again from its latent
 * file must match its JPEG; a latent in another order must not), then read back
 * through ds_open_as (latents, actions composing to the next latent, pixels, labels,
 * the training stream's views), and damaged files, rows and labels refused with the
 * file named. Needs OpenGL (the objects3d renderer). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/npy.h"
#include "data/dataset.h"
#include "data/ds_3die.h"
#include "envs/objects3d.h"
#include "envs/saccade.h"
#include "tests/test.h"

enum { SIZE = 32, CLASSES = 3, INSTANCES = 4, VIEWS = 6, NTRAIN = 9, NVAL = 3 };

static DsConfig config(void) {
    DsConfig c;
    wm_cfg_defaults(ds_config_schema(), &c);
    c.env.size = SIZE;
    c.env.n_classes = CLASSES;
    c.env.instances = INSTANCES;
    c.env.heldout = 0.25; /* instance 3 held out */
    c.gen.train_seqs = NTRAIN;
    c.gen.val_seqs = NVAL;
    c.gen.views = VIEWS;
    c.gen.seed = 5;
    return c;
}

static void object_path(const char *dir, const char *row, const char *file, char *out, size_t outsz) {
    snprintf(out, outsz, "%s/%.42s/%s", dir, row + 1, file);
}

static int read_latent7(const char *path, double v[DS3_LATENT_DIM]) {
    WmArray a;
    char err[512];
    if (wm_npy_read(path, &a, WM_NPY_LOAD, err, sizeof err)) return fprintf(stderr, "%s\n", err), -1;
    int ok = a.dtype == WM_F64 && a.ndim == 1 && a.shape[0] == DS3_LATENT_DIM;
    if (ok) memcpy(v, a.data, sizeof(double) * DS3_LATENT_DIM);
    wm_array_free(&a);
    return ok ? 0 : -1;
}

/* Decodes a JPEG of the tree (SIZE x SIZE); NULL when it is not. */
static uint8_t *read_jpeg(const char *path) {
    char *bytes = NULL, err[512];
    size_t n;
    if (wm_read_file(path, &bytes, &n, err, sizeof err)) return NULL;
    int w, h;
    uint8_t *px = env_saccade_image_decode((const uint8_t *)bytes, n, path, &w, &h, err, sizeof err);
    wm_free(bytes);
    if (px && (w != SIZE || h != SIZE)) stbi_image_free(px), px = NULL;
    return px;
}

static void collect(void *ctx, void *data, int size) { wm_buf_append(ctx, data, (size_t)size); }

/* Whether px encodes (JPEG, quality 95) to exactly the bytes of the file at path. */
static int same_jpeg(const uint8_t *px, const char *path) {
    WmBuf b = {0};
    char *raw = NULL, err[256];
    size_t n = 0;
    int same = stbi_write_jpg_to_func(collect, &b, SIZE, SIZE, 3, px, 95) &&
               !wm_read_file(path, &raw, &n, err, sizeof err) && n == b.len && !memcmp(raw, b.data, n);
    wm_free(raw);
    wm_buf_free(&b);
    return same;
}

static double mean_abs(const uint8_t *a, const uint8_t *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs((double)a[i] - (double)b[i]);
    return s / (double)n;
}

/* Renders (class, instance) at latent lat (objects3d order) into px. */
static int render(Env *e, int cls, int inst, const double *lat, uint8_t *px) {
    int lane = 0;
    EnvObs o = {.pixels = px};
    if (env_objects3d_set_object(e, 0, cls, inst) || env_objects3d_set_latent(e, 0, lat)) return -1;
    return env_observe(e, 1, &lane, &o);
}

static void test_tree(const char *dir, const DsConfig *c) {
    char err[1024], p[1400];
    WmStrArray rows[2];
    for (int s = 0; s < 2; s++) {
        snprintf(p, sizeof p, "%s/%s", dir, ds3_index_file(s, 0));
        CHECK(!wm_npy_read_str(p, &rows[s], err, sizeof err), "%s", err);
        CHECK(rows[s].n == (size_t)(s ? NVAL : NTRAIN), "%zu rows in %s", rows[s].n, p);
        WmArray lab;
        snprintf(p, sizeof p, "%s/%s", dir, ds3_index_file(s, 1));
        CHECK(!wm_npy_read(p, &lab, WM_NPY_LOAD, err, sizeof err), "%s", err);
        CHECK(lab.dtype == WM_I64 && lab.ndim == 1 && lab.shape[0] == rows[s].n);
        for (size_t i = 0; i < rows[s].n && lab.data; i++) {
            int cls = -1, inst = -1;
            CHECK(strlen(rows[s].items[i]) == 43 &&
                  sscanf(rows[s].items[i], "/%8d/%*24x%8x/", &cls, &inst) == 2 &&
                  cls == ((const int64_t *)lab.data)[i] && cls == (int)(i % CLASSES),
                  "row %zu '%s'", i, rows[s].items[i]);
            /* Training rows: instances 0..2; held out: instance 3. */
            CHECK(s ? inst == 3 : inst == (int)(i / CLASSES), "row %zu instance %d", i, inst);
            for (int v = 0; v <= VIEWS; v++) {
                char name[32];
                snprintf(name, sizeof name, "image_%d.jpg", v);
                object_path(dir, rows[s].items[i], name, p, sizeof p);
                CHECK(wm_path_exists(p) == (v < VIEWS), "%s", p);
            }
        }
        wm_array_free(&lab);
    }

    /* Each view of two objects rendered again from its latent file encodes to the bytes
     * of its JPEG; the same latent read in another order (the hues swapped, or spot
     * theta and phi) renders views further from the file than JPEG's loss. */
    char e2[512] = "";
    EnvConfig ec = c->env;
    Env *e = NULL;
    CHECK(env_create(&ec, 1, &e, e2, sizeof e2) == WM_OK, "%s", e2);
    if (e) {
        CHECK(!env_reset(e, 0, 1, ENV_SPLIT_TRAIN, NULL));
        uint8_t px[SIZE * SIZE * 3], sw[SIZE * SIZE * 3];
        double worst = 0, best_swapped = 1e9;
        for (int s = 0; s < 2; s++)
            for (int v = 0; v < VIEWS; v++) {
                const char *row = rows[s].items[s ? 2 : 4];
                int cls = 0, inst = 0;
                sscanf(row, "/%8d/%*24x%8x/", &cls, &inst);
                double l7[DS3_LATENT_DIM], lat[ENV_O3_LATENT_DIM];
                char name[32];
                snprintf(name, sizeof name, "latent_%d.npy", v);
                object_path(dir, row, name, p, sizeof p);
                CHECK(!read_latent7(p, l7), "%s is float64 [7]", p);
                for (int k = 0; k < 3; k++) CHECK(fabs(l7[k]) <= M_PI / 2 + 1e-9, "%s rot %d = %g", p, k, l7[k]);
                CHECK(l7[DS3_FLOOR_HUE] >= 0 && l7[DS3_FLOOR_HUE] <= 1 && l7[DS3_SPOT_HUE] >= 0 &&
                      l7[DS3_SPOT_HUE] <= 1 && l7[DS3_SPOT_THETA] >= 0 && l7[DS3_SPOT_THETA] <= M_PI / 4 + 1e-12 &&
                      l7[DS3_SPOT_PHI] >= 0 && l7[DS3_SPOT_PHI] <= 2 * M_PI, "%s", p);
                snprintf(name, sizeof name, "image_%d.jpg", v);
                object_path(dir, row, name, p, sizeof p);
                uint8_t *jpg = read_jpeg(p);
                CHECK(jpg != NULL, "%s decodes at %dx%d", p, SIZE, SIZE);
                ds3_latent_to_o3(l7, lat);
                CHECK(!render(e, cls, inst, lat, px));
                if (jpg) {
                    double d = mean_abs(px, jpg, sizeof px);
                    if (d > worst) worst = d;
                    CHECK(same_jpeg(px, p), "%s: the view rendered again from its latent file encodes to "
                                            "other bytes", p);
                    double hues[DS3_LATENT_DIM], light[DS3_LATENT_DIM];
                    memcpy(hues, l7, sizeof hues), memcpy(light, l7, sizeof light);
                    hues[DS3_FLOOR_HUE] = l7[DS3_SPOT_HUE], hues[DS3_SPOT_HUE] = l7[DS3_FLOOR_HUE];
                    light[DS3_SPOT_THETA] = l7[DS3_SPOT_PHI], light[DS3_SPOT_PHI] = l7[DS3_SPOT_THETA];
                    const double *alt[2] = {hues, light};
                    for (int k = 0; k < 2; k++) {
                        /* Swaps of two near-equal values change nothing: skip those. */
                        int a = k ? DS3_SPOT_THETA : DS3_FLOOR_HUE, b = k ? DS3_SPOT_PHI : DS3_SPOT_HUE;
                        if (fabs(l7[a] - l7[b]) < 0.3) continue;
                        ds3_latent_to_o3(alt[k], lat);
                        render(e, cls, inst, lat, sw);
                        double ds = mean_abs(sw, jpg, sizeof sw);
                        if (ds < best_swapped) best_swapped = ds;
                    }
                }
                stbi_image_free(jpg);
            }
        printf("rendered again from the latent files: worst mean |diff| %.2f levels; with swapped latents at "
               "least %.2f\n",
               worst, best_swapped);
        CHECK(best_swapped > 2 * worst && best_swapped < 1e9, "swapped latents give other views (%.2f vs %.2f)",
              best_swapped, worst);
        env_destroy(e);
    }
    for (int s = 0; s < 2; s++) wm_str_array_free(&rows[s]);
}

static void test_read(const char *dir, const DsConfig *c) {
    char err[1024] = "", p[1400];
    for (int color = 0; color < 2; color++) {
        EnvConfig want = c->env;
        want.color_actions = color;
        Dataset *d;
        CHECK(ds_open_as(dir, DS_OPEN_VERIFY, &want, &d, err, sizeof err) == WM_OK && d != NULL, "%s", err);
        if (!d) return;
        const EnvSpec *sp = ds_spec(d);
        CHECK(ds_count(d, DS_SPLIT_TRAIN) == NTRAIN && ds_count(d, DS_SPLIT_VAL) == NVAL && ds_views(d) == VIEWS);
        CHECK(sp->height == SIZE && sp->n_classes == CLASSES && sp->latent_dim == ENV_O3_LATENT_DIM &&
              sp->action_dim == (color ? 8 : 4) && sp->layout.family == ENV_FAMILY_OBJECT);
        const DsConfig *dc = ds_config(d);
        CHECK(dc->env.kind == ENV_KIND_OBJECTS3D && dc->env.n_classes == CLASSES && dc->gen.views == VIEWS &&
              dc->gen.train_seqs == NTRAIN && dc->env.color_actions == color);
        AgBatch b;
        CHECK(!ag_batch_alloc(&b, sp, NVAL, 4, 0, err, sizeof err), "%s", err);
        CHECK(!ds_read(d, DS_SPLIT_VAL, 0, NVAL, 2, &b, err, sizeof err), "%s", err);
        WmStrArray rows;
        snprintf(p, sizeof p, "%s/val_images.npy", dir);
        wm_npy_read_str(p, &rows, err, sizeof err);
        double worst_lat = 0, worst_act = 0;
        for (int i = 0; i < NVAL; i++) {
            CHECK(b.labels[i] == i % CLASSES && b.instances[i] == i);
            for (int k = 0; k < 4; k++) {
                double l7[DS3_LATENT_DIM], lat[ENV_O3_LATENT_DIM];
                char name[32];
                snprintf(name, sizeof name, "latent_%d.npy", k + 2);
                object_path(dir, rows.items[i], name, p, sizeof p);
                read_latent7(p, l7);
                ds3_latent_to_o3(l7, lat);
                const float *got = b.latents + ((size_t)i * 4 + (size_t)k) * ENV_O3_LATENT_DIM;
                for (int j = 0; j < ENV_O3_LATENT_DIM; j++) worst_lat = fmax(worst_lat, fabs(got[j] - lat[j]));
                snprintf(name, sizeof name, "image_%d.jpg", k + 2);
                object_path(dir, rows.items[i], name, p, sizeof p);
                uint8_t *jpg = read_jpeg(p);
                CHECK(jpg && !memcmp(jpg, b.pixels + ((size_t)i * 4 + (size_t)k) * SIZE * SIZE * 3, SIZE * SIZE * 3),
                      "pixels of %s", p);
                stbi_image_free(jpg);
                if (k == 3) continue;
                /* The action composes the view's latent into the next one's. */
                double from[ENV_O3_LATENT_DIM], to[ENV_O3_LATENT_DIM];
                for (int j = 0; j < ENV_O3_LATENT_DIM; j++) from[j] = got[j], to[j] = got[ENV_O3_LATENT_DIM + j];
                env_objects3d_compose(&dc->env, from, b.actions + ((size_t)i * 3 + (size_t)k) * sp->action_dim, from);
                for (int j = 0; j < 4; j++) worst_act = fmax(worst_act, fabs(from[j] - to[j]));
                if (color)
                    for (int j = ENV_O3_LAT_FLOOR_HUE; j <= ENV_O3_LAT_SPOT_HUE; j++) {
                        double dd = fabs(from[j] - to[j]);
                        if (j != ENV_O3_LAT_SPOT_THETA) dd = fmin(dd, fabs(dd - (j == ENV_O3_LAT_SPOT_PHI ? 2 * M_PI : 1)));
                        worst_act = fmax(worst_act, dd);
                    }
            }
        }
        wm_str_array_free(&rows);
        CHECK(worst_lat < 1e-6, "latents as the files say (%g)", worst_lat);
        CHECK(worst_act < 1e-5, "actions compose to the next latent (%g)", worst_act);

        /* The training stream: distinct views of one object, the same for the same step. */
        AgBatch x, y;
        CHECK(!ag_batch_alloc(&x, sp, 5, 3, 0, err, sizeof err) && !ag_batch_alloc(&y, sp, 5, 3, 0, err, sizeof err));
        CHECK(!ds_batch(d, DS_SPLIT_TRAIN, 7, 3, &x, err, sizeof err), "%s", err);
        CHECK(!ds_batch(d, DS_SPLIT_TRAIN, 7, 3, &y, err, sizeof err), "%s", err);
        CHECK(!memcmp(x.pixels, y.pixels, (size_t)5 * 3 * SIZE * SIZE * 3) &&
              !memcmp(x.actions, y.actions, sizeof(float) * 5 * 2 * (size_t)sp->action_dim));
        for (int i = 0; i < 5; i++)
            for (int k = 0; k < 3; k++)
                for (int j = 0; j < k; j++)
                    CHECK(memcmp(x.latents + ((size_t)i * 3 + (size_t)k) * 11, x.latents + ((size_t)i * 3 + (size_t)j) * 11,
                                 sizeof(float) * 11),
                          "row %d views %d and %d differ", i, j, k);
        ag_batch_free(&x), ag_batch_free(&y), ag_batch_free(&b);
        ds_close(d);
    }
    /* Another view side: the JPEGs resampled. */
    EnvConfig small = c->env;
    small.size = 16;
    Dataset *d;
    CHECK(ds_open_as(dir, DS_OPEN_SHAPES, &small, &d, err, sizeof err) == WM_OK && d && ds_spec(d)->height == 16,
          "%s", err);
    if (d) {
        AgBatch b;
        ag_batch_alloc(&b, ds_spec(d), 2, 2, 0, err, sizeof err);
        CHECK(!ds_read(d, DS_SPLIT_TRAIN, 0, 2, 0, &b, err, sizeof err), "%s", err);
        ag_batch_free(&b);
        ds_close(d);
    }
}

/* Copies the index files and the object folders of src to dst (for damaging). */
static void copy_tree(const char *src, const char *dst) {
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", dst, src, dst);
    CHECK(system(cmd) == 0, "%s", cmd);
}

static int write_bytes(const char *path, const void *data, size_t n) {
    char err[256];
    return wm_write_file_atomic(path, data, n, err, sizeof err);
}

/* Opens dir and reads every sequence; the error, or "" when all went well. */
static const char *open_and_read(const char *dir, int mode, char *err, size_t errsz) {
    EnvConfig want = config().env;
    err[0] = 0;
    Dataset *d;
    if (ds_open_as(dir, mode, &want, &d, err, errsz)) return err;
    AgBatch b;
    ag_batch_alloc(&b, ds_spec(d), NTRAIN, VIEWS, 0, err, errsz);
    if (!ds_read(d, DS_SPLIT_TRAIN, 0, NTRAIN, 0, &b, err, errsz)) err[0] = 0;
    ag_batch_free(&b);
    ds_close(d);
    return err;
}

static void test_hostile(const char *dir) {
    char bad[530], err[2048], p[1400], cmd[3000];
    snprintf(bad, sizeof bad, "%s-bad", dir);
    const char *obj1 = "00000001/00000000000000000000000000000000";
    struct {
        const char *what, *file; /* relative to the tree */
        int how;                 /* 0 truncate half, 1 latent [9], 2 latent int32, 3 NaN latent, 4 delete */
        const char *expect;
    } cases[] = {
        {"truncated JPEG", "image_3.jpg", 0, "truncated JPEG"},
        {"latent of 9 values", "latent_2.npy", 1, "float64 [7]"},
        {"latent of int32", "latent_4.npy", 2, "float64 [7]"},
        {"NaN latent", "latent_5.npy", 3, "not a finite number"},
        {"missing last view", "image_5.jpg", 4, "is missing"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        copy_tree(dir, bad);
        snprintf(p, sizeof p, "%s/%s/%s", bad, obj1, cases[c].file);
        if (cases[c].how == 0) {
            char *raw;
            size_t n;
            wm_read_file(p, &raw, &n, err, sizeof err);
            write_bytes(p, raw, n / 2);
            wm_free(raw);
        } else if (cases[c].how == 4) {
            remove(p);
        } else {
            double v9[9] = {0};
            int32_t i7[7] = {0};
            double nan7[7] = {0, 0, 0, NAN, 0, 0, 0};
            size_t n9 = 9, n7 = 7;
            if (cases[c].how == 1) wm_npy_write(p, WM_F64, 1, &n9, v9, err, sizeof err);
            if (cases[c].how == 2) wm_npy_write(p, WM_I32, 1, &n7, i7, err, sizeof err);
            if (cases[c].how == 3) wm_npy_write(p, WM_F64, 1, &n7, nan7, err, sizeof err);
        }
        const char *e = open_and_read(bad, cases[c].how == 4 ? DS_OPEN_VERIFY : DS_OPEN_SHAPES, err, sizeof err);
        CHECK(strstr(e, p) && strstr(e, cases[c].expect), "%s: '%s'", cases[c].what, e);
    }
    /* Index files: a row leaving the tree, labels out of range or of another length, a
     * missing file. */
    copy_tree(dir, bad);
    snprintf(cmd, sizeof cmd,
             TEST_PYTHON " -c \"import numpy as np; a=np.load('%s/train_images.npy').astype('<U50'); "
                         "a[4]='/../../etc/'; np.save('%s/train_images.npy', a)\"",
             bad, bad);
    CHECK(system(cmd) == 0);
    CHECK(strstr(open_and_read(bad, DS_OPEN_SHAPES, err, sizeof err), "row 4 is '/../../etc/'"), "%s", err);
    copy_tree(dir, bad);
    snprintf(p, sizeof p, "%s/val_labels.npy", bad);
    int64_t lab[NVAL] = {0, 1, 99};
    size_t n = NVAL, n2 = 2;
    wm_npy_write(p, WM_I64, 1, &n, lab, err, sizeof err);
    CHECK(strstr(open_and_read(bad, DS_OPEN_SHAPES, err, sizeof err), "row 2 is 99"), "%s", err);
    wm_npy_write(p, WM_I64, 1, &n2, lab, err, sizeof err);
    const char *e = open_and_read(bad, DS_OPEN_SHAPES, err, sizeof err);
    CHECK(strstr(e, p) && strstr(e, "int64 [3]"), "%s", e);
    remove(p);
    e = open_and_read(bad, DS_OPEN_SHAPES, err, sizeof err);
    CHECK(strstr(e, p) && strstr(e, "is missing"), "%s", e);
    snprintf(p, sizeof p, "%s/train_images.npy", bad);
    write_bytes(p, "\x93NUMPY\x01\x00\x10\x00{'descr': '<U4'", 24);
    e = open_and_read(bad, DS_OPEN_SHAPES, err, sizeof err);
    CHECK(strstr(e, p) != NULL, "%s", e);
    size_t n3 = 3;
    int32_t ints[3] = {1, 2, 3};
    wm_npy_write(p, WM_I32, 1, &n3, ints, err, sizeof err);
    e = open_and_read(bad, DS_OPEN_SHAPES, err, sizeof err);
    CHECK(strstr(e, p) && strstr(e, "not a string type"), "%s", e);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", bad);
    CHECK(system(cmd) == 0);
}

static void test_generate_refusals(const char *root, const DsConfig *c) {
    char err[1024] = "", dir[1100];
    Ds3GenResult res;
    snprintf(dir, sizeof dir, "%s/refused", root);
    DsConfig t = *c;
    t.env.translate = 0.2;
    Ds3GenSetup su = {&t, dir, 0, 1};
    CHECK(ds3_generate(&su, &res, err, sizeof err) == WM_ERR_ARG && strstr(err, "env.translate"), "%s", err);
    t = *c;
    t.gen.val_seqs = NVAL + 1;
    CHECK(ds3_generate(&su, &res, err, sizeof err) == WM_ERR_RANGE && strstr(err, "holds 3 objects"), "%s", err);
    CHECK(!wm_path_exists(dir), "nothing written for a refused config");
}

int main(void) {
    const char *tmp = test_tmpdir();
    char dir[520], err[1024] = "";
    snprintf(dir, sizeof dir, "%s/die", tmp);
    DsConfig c = config();
    Ds3GenSetup su = {&c, dir, 0, 1};
    Ds3GenResult res;
    int rc = ds3_generate(&su, &res, err, sizeof err);
    CHECK(rc == WM_OK, "%s", err);
    if (rc) return TEST_DONE();
    CHECK(res.objects[0] == NTRAIN && res.objects[1] == NVAL && res.views == VIEWS && res.bytes > 0);
    CHECK(ds3_is_layout(dir));
    test_tree(dir, &c);
    test_read(dir, &c);
    test_hostile(dir);
    test_generate_refusals(tmp, &c);
    return TEST_DONE();
}
