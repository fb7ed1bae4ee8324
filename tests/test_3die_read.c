/* Reading the 3DIEBench layout without the generator (and without OpenGL, so that the
 * sanitizer build runs it): a tree made here as the published dataset has it (index
 * files written by numpy itself, non-square JPEGs, float64 latents, ShapeNet-like
 * names, a stray LICENSE), read back through ds_open_as; string arrays of numpy
 * ('<U', '|S') read by core/npy; damaged index files refused with the file named. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_image_write.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/npy.h"
#include "core/quat.h"
#include "data/dataset.h"
#include "data/ds_3die.h"
#include "tests/test.h"

enum { W = 40, H = 30, VIEWS = 5, SIDE = 16 };

static const char *objects[] = {"/02691156/1a04e3eab45ca15dd86060f189eb133/", "/02691156/1a6ad7a24bb89733f412783097373bdc/",
                                "/04379243/1a00aa6b75362cc5b324368d54a7416f/", "/02691156/1a32f10b20170883663e90eaf6b4ca52/",
                                "/04379243/1a153612bcdab3e23cc149415a408229/"};
static const int labels[] = {0, 0, 1, 0, 1};

static void collect(void *ctx, void *data, int size) { wm_buf_append(ctx, data, (size_t)size); }

/* View v of object o: a flat colour that names (o, v), and its latent. */
static void view_of(int o, int v, uint8_t *px, double lat[DS3_LATENT_DIM]) {
    for (int i = 0; i < W * H; i++) px[3 * i] = (uint8_t)(40 * o), px[3 * i + 1] = (uint8_t)(40 * v), px[3 * i + 2] = 200;
    lat[0] = 0.1 * o - 0.3, lat[1] = 0.2 * v - 0.4, lat[2] = 0.05 * (o + v), lat[3] = 0.1 * v, lat[4] = 0.15,
    lat[5] = 0.5 * v, lat[6] = 0.9 - 0.1 * o;
}

static int make_tree(const char *dir) {
    char p[1200], err[512], cmd[2400];
    uint8_t px[W * H * 3];
    for (int o = 0; o < 5; o++) {
        snprintf(p, sizeof p, "%s%s", dir, objects[o]);
        if (wm_mkdirs(p, err, sizeof err)) return fprintf(stderr, "%s\n", err), -1;
        for (int v = 0; v < VIEWS; v++) {
            double lat[DS3_LATENT_DIM];
            size_t n7 = DS3_LATENT_DIM;
            view_of(o, v, px, lat);
            WmBuf b = {0};
            stbi_write_jpg_to_func(collect, &b, W, H, 3, px, 95);
            snprintf(p, sizeof p, "%s%simage_%d.jpg", dir, objects[o], v);
            int rc = wm_write_file_atomic(p, b.data, b.len, err, sizeof err);
            wm_buf_free(&b);
            snprintf(p, sizeof p, "%s%slatent_%d.npy", dir, objects[o], v);
            if (rc || wm_npy_write(p, WM_F64, 1, &n7, lat, err, sizeof err)) return fprintf(stderr, "%s\n", err), -1;
        }
    }
    snprintf(p, sizeof p, "%s/LICENSE", dir);
    wm_write_file_atomic(p, "text\n", 5, err, sizeof err);
    /* The index files as the authors made them: np.save of a str array and of int64. */
    snprintf(cmd, sizeof cmd,
             TEST_PYTHON " -c \"import numpy as np, sys; d=sys.argv[1]; o=%s; "
                         "np.save(d+'/train_images.npy', np.array(o[:3])); np.save(d+'/train_labels.npy', np.array([0,0,1], dtype=np.int64)); "
                         "np.save(d+'/val_images.npy', np.array(o[3:])); np.save(d+'/val_labels.npy', np.array([0,1], dtype=np.int64))\" '%s'",
             "['/02691156/1a04e3eab45ca15dd86060f189eb133/', '/02691156/1a6ad7a24bb89733f412783097373bdc/', "
             "'/04379243/1a00aa6b75362cc5b324368d54a7416f/', '/02691156/1a32f10b20170883663e90eaf6b4ca52/', "
             "'/04379243/1a153612bcdab3e23cc149415a408229/']",
             dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Copies file a over file b. */
static int copy_file(const char *a, const char *b) {
    char *raw = NULL, err[512];
    size_t n = 0;
    int rc = wm_read_file(a, &raw, &n, err, sizeof err) || wm_write_file_atomic(b, raw, n, err, sizeof err);
    wm_free(raw);
    return rc;
}

static void test_strings(const char *tmp) {
    char p[1100], cmd[2400], err[512];
    /* numpy's own files: Unicode beyond ASCII and an empty string, bytes, 2-D. */
    snprintf(cmd, sizeof cmd,
             TEST_PYTHON " -c \"import numpy as np; d='%s'; "
                         "np.save(d+'/u.npy', np.array(['ab', '', 'h\\u00e9\\u4e2d\\U0001f600'])); "
                         "np.save(d+'/b.npy', np.array([b'xyz', b'q'])); np.save(d+'/2d.npy', np.array([['a','b']]))\"",
             tmp);
    CHECK(system(cmd) == 0);
    WmStrArray s;
    snprintf(p, sizeof p, "%s/u.npy", tmp);
    CHECK(!wm_npy_read_str(p, &s, err, sizeof err), "%s", err);
    CHECK(s.n == 3 && !strcmp(s.items[0], "ab") && !strcmp(s.items[1], "") &&
              !strcmp(s.items[2], "h\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"),
          "%zu '%s'", s.n, s.n > 2 ? s.items[2] : "");
    wm_str_array_free(&s);
    snprintf(p, sizeof p, "%s/b.npy", tmp);
    CHECK(!wm_npy_read_str(p, &s, err, sizeof err) && s.n == 2 && !strcmp(s.items[0], "xyz") && !strcmp(s.items[1], "q"),
          "%s", err);
    wm_str_array_free(&s);
    snprintf(p, sizeof p, "%s/2d.npy", tmp);
    CHECK(wm_npy_read_str(p, &s, err, sizeof err) == WM_ERR_FORMAT && strstr(err, p) && strstr(err, "2-dimensional"),
          "%s", err);
    /* Our writer's header, read by numpy. */
    snprintf(p, sizeof p, "%s/s.npy", tmp);
    WmBuf b = {0};
    wm_npy_header_str(3, 2, &b);
    const char rows[2][3] = {{'a', 'b', 'c'}, {'d', 0, 0}};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) {
            char u[4] = {rows[i][k], 0, 0, 0};
            wm_buf_append(&b, u, 4);
        }
    wm_write_file_atomic(p, b.data, b.len, err, sizeof err);
    wm_buf_free(&b);
    snprintf(cmd, sizeof cmd,
             TEST_PYTHON " -c \"import numpy as np; a=np.load('%s'); assert a.dtype==np.dtype('<U3') and list(a)==['abc','d']\"",
             p);
    CHECK(system(cmd) == 0, "numpy reads our '<U3' array");
    /* Hostile: an invalid code point, a huge width. */
    b = (WmBuf){0};
    wm_npy_header_str(1, 1, &b);
    wm_buf_append(&b, "\x00\xd8\x00\x00", 4);
    wm_write_file_atomic(p, b.data, b.len, err, sizeof err);
    wm_buf_free(&b);
    CHECK(wm_npy_read_str(p, &s, err, sizeof err) == WM_ERR_FORMAT && strstr(err, "invalid character"), "%s", err);
    const char huge[] = "\x93NUMPY\x01\x00\x46\x00{'descr': '<U99999999999', 'fortran_order': False, 'shape': (1,), }  \n";
    wm_write_file_atomic(p, huge, sizeof huge - 1, err, sizeof err);
    CHECK(wm_npy_read_str(p, &s, err, sizeof err) == WM_ERR_FORMAT && strstr(err, p), "%s", err);
}

static void test_read(const char *dir) {
    char err[1024] = "";
    EnvConfig want;
    {
        DsConfig c;
        wm_cfg_defaults(ds_config_schema(), &c);
        want = c.env;
    }
    want.size = SIDE;
    want.color_actions = 1;
    Dataset *d;
    CHECK(ds_open_as(dir, DS_OPEN_VERIFY, &want, &d, err, sizeof err) == WM_OK && d != NULL, "%s", err);
    if (!d) return;
    const EnvSpec *sp = ds_spec(d);
    CHECK(ds_count(d, DS_SPLIT_TRAIN) == 3 && ds_count(d, DS_SPLIT_VAL) == 2 && ds_views(d) == VIEWS &&
          sp->height == SIDE && sp->width == SIDE && sp->n_classes == 2 && sp->action_dim == 8);
    AgBatch b;
    CHECK(!ag_batch_alloc(&b, sp, 2, VIEWS, 0, err, sizeof err));
    CHECK(!ds_read(d, DS_SPLIT_VAL, 0, 2, 0, &b, err, sizeof err), "%s", err);
    double worst_px = 0, worst_lat = 0, worst_act = 0;
    for (int i = 0; i < 2; i++) {
        int o = 3 + i;
        CHECK(b.labels[i] == labels[o] && b.instances[i] == i);
        for (int v = 0; v < VIEWS; v++) {
            uint8_t px[W * H * 3];
            double l7[DS3_LATENT_DIM], q[4];
            view_of(o, v, px, l7);
            /* A flat colour survives JPEG and resampling within a level or two. */
            const uint8_t *got = b.pixels + ((size_t)i * VIEWS + (size_t)v) * SIDE * SIDE * 3;
            for (int k = 0; k < SIDE * SIDE * 3; k++) worst_px = fmax(worst_px, fabs((double)got[k] - px[k % 3]));
            wm_quat_from_euler_xyz(q, l7[0], l7[1], l7[2]);
            wm_quat_canon(q);
            const float *lat = b.latents + ((size_t)i * VIEWS + (size_t)v) * ENV_O3_LATENT_DIM;
            for (int k = 0; k < 4; k++) worst_lat = fmax(worst_lat, fabs(lat[k] - q[k]));
            for (int k = 3; k < 7; k++) worst_lat = fmax(worst_lat, fabs(lat[k + 1] - l7[k]));
            for (int k = 8; k < 11; k++) worst_lat = fmax(worst_lat, fabs(lat[k]));
            if (v == 0) continue;
            /* The action from the previous view: R_prev^-1 R_v, then the colour and light
             * differences in latent order. */
            double pl[DS3_LATENT_DIM], pq[4], rel[4];
            view_of(o, v - 1, px, pl);
            wm_quat_from_euler_xyz(pq, pl[0], pl[1], pl[2]);
            wm_quat_relative(rel, pq, q);
            const float *a = b.actions + ((size_t)i * (VIEWS - 1) + (size_t)(v - 1)) * 8;
            for (int k = 0; k < 4; k++) worst_act = fmax(worst_act, fabs(a[k] - rel[k]));
            for (int k = 0; k < 4; k++) worst_act = fmax(worst_act, fabs(a[4 + k] - (l7[3 + k] - pl[3 + k])));
        }
    }
    CHECK(worst_px <= 3, "pixels (%g)", worst_px);
    CHECK(worst_lat < 1e-6, "latents (%g)", worst_lat);
    CHECK(worst_act < 1e-5, "actions (%g)", worst_act);
    ag_batch_free(&b);
    ds_close(d);
}

/* Opens dir; the error ("" when it opened). */
static const char *open_err(const char *dir, char *err, size_t errsz) {
    err[0] = 0;
    Dataset *d;
    int rc = ds_open_as(dir, DS_OPEN_SHAPES, NULL, &d, err, errsz);
    CHECK((rc == WM_OK) == (d != NULL) && (rc == WM_OK) == !err[0], "status %d, '%s'", rc, err);
    ds_close(d);
    return err;
}

static void test_hostile(const char *dir, const char *tmp) {
    char p[1100], v[1100], cmd[2400], err[2048];
    /* The damaged index files, made by numpy: rows 0..4 leaving the tree or malformed,
     * a row naming no folder, labels of floats, a pickled object array. */
    snprintf(cmd, sizeof cmd,
             TEST_PYTHON " -c \"import numpy as np; d='%s'; ok=['/02691156/x/', '/02691156/y/']; "
                         "[np.save(d+'/row%%d.npy' %% k, np.array([r] + ok)) for k, r in "
                         "enumerate(['/a/../../b/', '', '/a//b/', '/a/b c/', '/./x/', '/02691156/nothere/'])]; "
                         "np.save(d+'/flab.npy', np.array([0.5, 1.0])); "
                         "np.save(d+'/pickled.npy', np.array([{'a': 1}]), allow_pickle=True)\"",
             tmp);
    CHECK(system(cmd) == 0);
    snprintf(p, sizeof p, "%s/train_images.npy", dir);
    const char *e;
    for (int k = 0; k < 6; k++) {
        snprintf(v, sizeof v, "%s/row%d.npy", tmp, k);
        CHECK(!copy_file(v, p));
        e = open_err(dir, err, sizeof err);
        if (k < 5) CHECK(strstr(e, p) && strstr(e, "row 0"), "row %d: %s", k, e);
        else CHECK(strstr(e, "nothere/latent_0.npy") && strstr(e, "is missing"), "%s", e);
    }
    snprintf(p, sizeof p, "%s/val_labels.npy", dir);
    snprintf(v, sizeof v, "%s/flab.npy", tmp);
    CHECK(!copy_file(v, p));
    e = open_err(dir, err, sizeof err);
    CHECK(strstr(e, p) && strstr(e, "int64"), "%s", e);
    snprintf(p, sizeof p, "%s/train_images.npy", dir);
    snprintf(v, sizeof v, "%s/pickled.npy", tmp);
    CHECK(!copy_file(v, p));
    e = open_err(dir, err, sizeof err);
    CHECK(strstr(e, p) && strstr(e, "not a string type"), "%s", e);
}

int main(void) {
    const char *tmp = test_tmpdir();
    char dir[600];
    snprintf(dir, sizeof dir, "%s/3DIEBench", tmp);
    test_strings(tmp);
    CHECK(make_tree(dir) == 0);
    CHECK(ds3_is_layout(dir));
    test_read(dir);
    test_hostile(dir, tmp);
    return TEST_DONE();
}
