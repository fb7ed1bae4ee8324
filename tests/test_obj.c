/* CPU-side geometry without OpenGL (runs under the sanitizers): the OBJ reader on
 * good and hostile input, mesh primitives and operations, the procedural shape
 * families, and the objects3d latent algebra. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/err.h"
#include "core/quat.h"
#include "core/rng.h"
#include "envs/o3_shapes.h"
#include "envs/objects3d.h"
#include "render/mesh.h"
#include "tests/test.h"

static int parse(const char *text, RdMesh *m, char *err, size_t errsz) {
    return rd_obj_parse(text, strlen(text), "t.obj", m, err, errsz);
}

/* Signed volume by the divergence theorem: positive for a closed outward mesh. */
static double volume(const RdMesh *m) {
    double v = 0;
    for (int t = 0; t < m->nt; t++) {
        const float *a = m->pos + 3 * m->idx[3 * t], *b = m->pos + 3 * m->idx[3 * t + 1],
                    *c = m->pos + 3 * m->idx[3 * t + 2];
        v += a[0] * ((double)b[1] * c[2] - (double)b[2] * c[1]) -
             a[1] * ((double)b[0] * c[2] - (double)b[2] * c[0]) +
             a[2] * ((double)b[0] * c[1] - (double)b[1] * c[0]);
    }
    return v / 6;
}

static double max_radius(const RdMesh *m) {
    double r = 0;
    for (int i = 0; i < m->nv; i++) {
        const float *p = m->pos + 3 * i;
        r = fmax(r, sqrt((double)p[0] * p[0] + (double)p[1] * p[1] + (double)p[2] * p[2]));
    }
    return r;
}

/* Share of triangles whose face normal agrees with their vertices' normals. */
static double normal_agreement(const RdMesh *m) {
    int ok = 0;
    for (int t = 0; t < m->nt; t++) {
        const uint32_t *k = m->idx + 3 * t;
        const float *a = m->pos + 3 * k[0], *b = m->pos + 3 * k[1], *c = m->pos + 3 * k[2];
        double e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        double e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        double n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                       e1[0] * e2[1] - e1[1] * e2[0]};
        double d = 0;
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 3; i++)
                d += n[i] * m->nrm[3 * k[j] + i];
        ok += d > 0;
    }
    return m->nt ? (double)ok / m->nt : 0;
}

static int unit_normals(const RdMesh *m) {
    for (int i = 0; i < m->nv; i++) {
        const float *n = m->nrm + 3 * i;
        if (fabs(sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]) - 1) > 1e-4) return 0;
    }
    return 1;
}

static void test_obj_good(void) {
    char err[256] = "";
    RdMesh m;
    const char *cube = "# a cube with quads, comments, groups and CRLF\r\n"
                       "mtllib x.mtl\r\no cube\r\ng side\r\ns 1\r\nusemtl red\r\n"
                       "v -1 -1 -1\nv 1 -1 -1\nv 1 1 -1\nv -1 1 -1\n"
                       "v -1 -1 1\nv 1 -1 1\nv 1 1 1 1.0\nv -1 1 1\n"
                       "vt 0 0\nvt 1 0\nvt 1 1\n"
                       "f 1 4 3 2\nf 5 6 7 8\nf 1/1 2/2 6/3 5/1\n"
                       "f -5 -1 -2 -6\nf 1 5 8 4\nf 2 3 7 6\n";
    CHECK(parse(cube, &m, err, sizeof err) == 0, "%s", err);
    CHECK(m.nv == 8 && m.nt == 12, "cube: %d vertices, %d triangles", m.nv, m.nt);
    CHECK(unit_normals(&m));
    CHECK(volume(&m) > 7.99 && volume(&m) < 8.01, "outward cube volume %g", volume(&m));
    CHECK(normal_agreement(&m) == 1.0);
    for (int i = 0; i < m.nv; i++) {
        const float *p = m.pos + 3 * i, *n = m.nrm + 3 * i;
        CHECK(p[0] * n[0] + p[1] * n[1] + p[2] * n[2] > 0, "computed normal points out");
    }
    rd_mesh_free(&m);

    /* Normals from the file, a pentagon (3 triangles), v//n and v/t/n forms. */
    const char *withn = "v 0 0 0\nv 1 0 0\nv 1.5 1 0\nv 0.5 1.8 0\nv -0.5 1 0\n"
                        "vn 0 0 2\nvt 0.5 0.5\n"
                        "f 1//1 2//1 3//1 4//1 5//1\nf 1/1/1 3/1/1 2/1/1\n";
    CHECK(parse(withn, &m, err, sizeof err) == 0, "%s", err);
    CHECK(m.nt == 4 && m.nv == 5, "%d %d", m.nt, m.nv);
    CHECK(fabsf(m.nrm[2] - 1) < 1e-6f, "file normal used and normalised");
    rd_mesh_free(&m);

    /* Degenerate faces are dropped, duplicate corners too. */
    const char *degen = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 1 2\n";
    CHECK(parse(degen, &m, err, sizeof err) == 0 && m.nt == 1);
    rd_mesh_free(&m);
}

static void expect_error(const char *text, size_t len, int code, const char *needle) {
    char err[256] = "";
    RdMesh m;
    int rc = rd_obj_parse(text, len, "t.obj", &m, err, sizeof err);
    CHECK(rc == code, "'%.30s': code %s, want %s (%s)", text, wm_status_name(rc),
          wm_status_name(code), err);
    CHECK(strstr(err, needle) != NULL, "'%.30s': message '%s' lacks '%s'", text, err, needle);
    CHECK(m.nv == 0 && m.pos == NULL, "nothing returned on error");
}

#define BAD(text, code, needle) expect_error(text, strlen(text), code, needle)

static void test_obj_hostile(void) {
    BAD("", WM_ERR_FORMAT, "empty");
    BAD("# nothing\n\n", WM_ERR_FORMAT, "no faces");
    BAD("v 0 0 0\nv 1 0 0\nv 0 1 0\n", WM_ERR_FORMAT, "no faces (3 vertices)");
    BAD("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", WM_ERR_RANGE, "t.obj:4");
    BAD("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n", WM_ERR_RANGE, "vertex '0'");
    BAD("v 0 0 0\nv 1 0 0\nv 0 1 0\nf -4 1 2\n", WM_ERR_RANGE, "3 are defined");
    BAD("f 1 2 3\nv 0 0 0\nv 1 0 0\nv 0 1 0\n", WM_ERR_RANGE, "t.obj:1");
    BAD("v 0 0 0\nv 1 0 x\n", WM_ERR_PARSE, "t.obj:2: bad number 'x'");
    BAD("v 0 0\n", WM_ERR_PARSE, "3 coordinates");
    BAD("v nan 0 0\n", WM_ERR_PARSE, "bad number");
    BAD("v 1e999 0 0\n", WM_ERR_PARSE, "bad number");
    BAD("v 0 0 0\nv 1 0 0\nf 1 2\n", WM_ERR_PARSE, "at least 3 vertices, got 2");
    BAD("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1/1/1/1 2 3\n", WM_ERR_PARSE, "bad face vertex");
    BAD("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1/1 2 3\n", WM_ERR_RANGE, "texture coordinate");
    BAD("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1//2 2 3\n", WM_ERR_RANGE, "normal");
    BAD("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1// 2 3\n", WM_ERR_PARSE, "bad normal index");
    BAD("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1a 2 3\n", WM_ERR_PARSE, "bad vertex index");
    BAD("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 99999999999999999999 2 3\n", WM_ERR_RANGE,
        "refers to vertex");
    BAD("vn 1 2\n", WM_ERR_PARSE, "normal needs 3");
    BAD("v 0 0 0\nv 0 0 0\nv 0 0 0\nf 1 1 1\n", WM_ERR_FORMAT, "degenerate");
    const char nul[] = "v 0 0 0\nv 1\0 0 0\n";
    expect_error(nul, sizeof nul - 1, WM_ERR_FORMAT, "NUL");
    /* Random mutations of a valid file: never a crash, always a verdict. */
    const char *good = "v -1 -1 0\nv 1 -1 0\nv 1 1 0\nv -1 1 0\nvn 0 0 1\nvt 0 0\n"
                       "f 1/1/1 2/1/1 3/1/1 4/1/1\nf -4 -2 -3\n";
    size_t n = strlen(good);
    char buf[256];
    WmRng r;
    wm_rng_seed(&r, 11, 0);
    int ok = 0, bad = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, good, n);
        int k = 1 + (int)wm_rng_below(&r, 4);
        for (int j = 0; j < k; j++)
            buf[wm_rng_below(&r, (uint32_t)n)] = (char)wm_rng_below(&r, 256);
        size_t len = n - wm_rng_below(&r, 5);
        RdMesh m;
        char err[256] = "";
        int rc = rd_obj_parse(buf, len, "fuzz.obj", &m, err, sizeof err);
        if (rc == WM_OK) {
            ok++;
            CHECK(m.nt > 0 && m.nv >= 3);
            for (int t = 0; t < 3 * m.nt; t++)
                CHECK(m.idx[t] < (uint32_t)m.nv);
            rd_mesh_free(&m);
        } else {
            bad++;
            if (!strstr(err, "fuzz.obj")) CHECK(0, "error names the file: %s", err);
        }
    }
    CHECK(ok > 0 && bad > 0, "mutations: %d parsed, %d refused", ok, bad);
    char err[256];
    RdMesh m;
    CHECK(rd_obj_load("/nonexistent/x.obj", &m, err, sizeof err) == WM_ERR_IO);
    CHECK(strstr(err, "/nonexistent/x.obj") != NULL, "%s", err);
}

static void test_primitives(void) {
    const uint8_t c[4] = {10, 20, 30, 255};
    RdMesh m = {0};
    rd_mesh_box(&m, (float[3]){1, 2, 3}, (float[3]){0.5f, 1, 2}, c);
    CHECK(m.nv == 24 && m.nt == 12);
    CHECK(fabs(volume(&m) - 8) < 1e-4, "box volume %g", volume(&m));
    CHECK(normal_agreement(&m) == 1.0);
    rd_mesh_clear(&m);
    rd_mesh_superellipsoid(&m, (float[3]){1, 0.5f, 0.8f}, 1, 1, 48, 24, c);
    double ell = 4.0 / 3 * M_PI * 0.4;
    CHECK(fabs(volume(&m) - ell) / ell < 0.02, "ellipsoid volume %g vs %g", volume(&m), ell);
    CHECK(normal_agreement(&m) == 1.0 && unit_normals(&m));
    rd_mesh_clear(&m);
    rd_mesh_superellipsoid(&m, (float[3]){1, 1, 1}, 0.2f, 0.2f, 16, 8, c);
    CHECK(volume(&m) > 6 && volume(&m) < 8, "boxy superellipsoid volume %g", volume(&m));
    rd_mesh_clear(&m);
    /* lathe: cylinder with two flat caps, and a cone with a pole */
    float r[2] = {1, 1}, y[2] = {0, 2};
    rd_mesh_lathe(&m, r, y, 2, 64, c);
    CHECK(fabs(volume(&m) - 2 * M_PI) / (2 * M_PI) < 0.01, "cylinder volume %g", volume(&m));
    CHECK(normal_agreement(&m) == 1.0);
    rd_mesh_clear(&m);
    float rc[2] = {1, 0}, yc[2] = {0, 3};
    rd_mesh_lathe(&m, rc, yc, 2, 64, c);
    CHECK(fabs(volume(&m) - M_PI) / M_PI < 0.01, "cone volume %g", volume(&m));
    rd_mesh_clear(&m);
    float rs[3] = {0, 1, 0}, ys[3] = {-1, 0, 1};
    rd_mesh_lathe(&m, rs, ys, 3, 16, c);
    CHECK(volume(&m) > 0, "double cone outward");
    rd_mesh_clear(&m);
    /* tube along a bent curve: positive volume near pi r^2 L */
    float p[3 * 20], rr[20];
    for (int i = 0; i < 20; i++) {
        float a = 1.5f * (float)i / 19;
        p[3 * i] = 2 * cosf(a), p[3 * i + 1] = 2 * sinf(a), p[3 * i + 2] = 0.3f * a;
        rr[i] = 0.2f;
    }
    rd_mesh_tube(&m, p, rr, 20, 24, c);
    double len = 0;
    for (int i = 1; i < 20; i++) {
        double d[3] = {p[3 * i] - p[3 * i - 3], p[3 * i + 1] - p[3 * i - 2],
                       p[3 * i + 2] - p[3 * i - 1]};
        len += sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    }
    double tv = M_PI * 0.04 * len;
    CHECK(fabs(volume(&m) - tv) / tv < 0.05, "tube volume %g vs %g", volume(&m), tv);
    CHECK(normal_agreement(&m) > 0.99);
    rd_mesh_clear(&m);
    /* prisms in both orientations */
    float sx[4] = {1, -1, -1, 1}, sz[4] = {1, 1, -1, -1};
    rd_mesh_prism(&m, sx, sz, 4, 0, 2, c);
    CHECK(fabs(volume(&m) - 8) < 1e-4, "prism volume %g", volume(&m));
    CHECK(normal_agreement(&m) == 1.0);
    rd_mesh_clear(&m);
    float tx[4] = {1, 1, -1, -1}, tz[4] = {1, -1, -1, 1};
    rd_mesh_prism(&m, tx, tz, 4, 0, 2, c);
    CHECK(fabs(volume(&m) - 8) < 1e-4, "reversed prism volume %g", volume(&m));
    CHECK(normal_agreement(&m) == 1.0);

    /* transform: rotation keeps the volume and unit normals; scale scales it */
    float R[9] = {0, -1, 0, 1, 0, 0, 0, 0, 1};
    rd_mesh_transform(&m, 0, R, (float[3]){5, 0, 0});
    CHECK(fabs(volume(&m) - 8) < 1e-3 && unit_normals(&m));
    float S[9] = {2, 0, 0, 0, 1, 0, 0, 0, 1};
    rd_mesh_transform(&m, 0, S, NULL);
    CHECK(fabs(volume(&m) - 16) < 1e-3 && normal_agreement(&m) == 1.0);
    CHECK(rd_mesh_normalize_unit(&m) == 0 && fabs(max_radius(&m) - 1) < 1e-5);
    rd_mesh_free(&m);
    RdMesh empty = {0};
    CHECK(rd_mesh_normalize_unit(&empty) == -1);

    /* level of detail: a fine sphere reduced below a budget keeps its size */
    rd_mesh_superellipsoid(&m, (float[3]){1, 1, 1}, 1, 1, 80, 40, c);
    int before = m.nt;
    rd_mesh_simplify(&m, 300);
    CHECK(m.nt <= 300 && m.nt > 60, "simplified %d -> %d triangles", before, m.nt);
    CHECK(volume(&m) > 3.0 && volume(&m) < 4.3, "simplified volume %g", volume(&m));
    for (int t = 0; t < 3 * m.nt; t++)
        CHECK(m.idx[t] < (uint32_t)m.nv);
    int small = m.nt;
    rd_mesh_simplify(&m, 100000);
    CHECK(m.nt == small, "no change under the budget");
    rd_mesh_free(&m);
}

static void test_shapes(void) {
    int nf = o3_shape_count();
    CHECK(nf >= 16, "%d families", nf);
    RdMesh a = {0}, b = {0};
    for (int f = 0; f < nf; f++) {
        CHECK(strlen(o3_shape_name(f)) > 0);
        for (int i = 0; i < 6; i++) {
            o3_shape_build(f, i, o3_shape_detail(64), &a);
            CHECK(a.nv > 8 && a.nt > 8, "%s/%d", o3_shape_name(f), i);
            CHECK(fabs(max_radius(&a) - 1) < 1e-4, "%s/%d normalised", o3_shape_name(f), i);
            CHECK(volume(&a) > 0.005, "%s/%d outward (volume %g)", o3_shape_name(f), i, volume(&a));
            CHECK(normal_agreement(&a) > 0.9, "%s/%d normals %.3f", o3_shape_name(f), i,
                  normal_agreement(&a));
            CHECK(unit_normals(&a));
            CHECK(a.nt <= 64 * 8, "%s/%d has %d triangles at 64 px", o3_shape_name(f), i, a.nt);
            o3_shape_build(f, i, o3_shape_detail(64), &b);
            CHECK(a.nv == b.nv && !memcmp(a.pos, b.pos, 3 * sizeof(float) * (size_t)a.nv) &&
                      !memcmp(a.rgba, b.rgba, 4 * (size_t)a.nv),
                  "%s/%d deterministic", o3_shape_name(f), i);
            o3_shape_build(f, i + 1, o3_shape_detail(64), &b);
            CHECK(a.nv != b.nv || memcmp(a.pos, b.pos, 3 * sizeof(float) * (size_t)a.nv),
                  "%s: instances %d and %d differ", o3_shape_name(f), i, i + 1);
        }
        o3_shape_build(f, 0, o3_shape_detail(512), &b);
        o3_shape_build(f, 0, o3_shape_detail(32), &a);
        CHECK(b.nt >= a.nt, "%s: more detail at 512 px (%d) than 32 (%d)", o3_shape_name(f), b.nt,
              a.nt);
    }
    rd_mesh_free(&a);
    rd_mesh_free(&b);
}

static EnvConfig defaults(void) {
    EnvConfig c;
    WM_CFG_DEFAULTS(EnvConfig, &c);
    return c;
}

static void test_latent_algebra(void) {
    EnvConfig c = defaults();
    EnvO3ActionLayout l = env_objects3d_action_layout(&c);
    CHECK(l.dim == 4 && l.trans == -1 && l.color == -1);
    c.translate_actions = 1;
    l = env_objects3d_action_layout(&c);
    CHECK(l.dim == 7 && l.trans == 4 && l.color == -1);
    c.color_actions = 1;
    l = env_objects3d_action_layout(&c);
    CHECK(l.dim == 11 && l.trans == 4 && l.color == 7);
    c.translate_actions = 0;
    l = env_objects3d_action_layout(&c);
    CHECK(l.dim == 8 && l.color == 4);
    c.translate_actions = 1;
    c.translate = 0.5;
    WmRng r, r2;
    wm_rng_seed(&r, 5, 0);
    wm_rng_seed(&r2, 5, 0);
    for (int rot = 0; rot < 3; rot++) { /* env.rotation: euler, so3, yaw */
        c.rotation = rot;
        int yaw_halves[2] = {0, 0};
        for (int k = 0; k < 500; k++) {
            double a[11], b[11];
            env_objects3d_sample_latent(&c, &r, a);
            env_objects3d_sample_latent(&c, &r2, b);
            CHECK(!memcmp(a, b, sizeof a), "sampling is deterministic");
            double n = sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2] + a[3] * a[3]);
            CHECK(fabs(n - 1) < 1e-12 && a[0] >= 0);
            CHECK(a[4] >= 0 && a[4] < 1 && a[7] >= 0 && a[7] < 1);
            CHECK(a[5] >= 0 && a[5] <= M_PI / 4 && a[6] >= 0 && a[6] < 2 * M_PI);
            for (int i = 8; i < 11; i++)
                CHECK(fabs(a[i]) <= 0.5);
            if (rot == 2) {
                /* a turn about the vertical axis alone, any angle */
                CHECK(a[1] == 0 && a[3] == 0, "yaw: no x or z component (%g %g)", a[1], a[3]);
                yaw_halves[fabs(2 * atan2(a[2], a[0])) > M_PI / 2]++;
            }
            if (rot == 0) {
                double e[3], q[4];
                wm_quat_to_euler_xyz(a, e);
                for (int i = 0; i < 3; i++)
                    if (fabs(e[i]) > M_PI / 2 + 1e-9) {
                        /* another Euler triple may describe the same rotation; it must
                         * round-trip */
                        wm_quat_from_euler_xyz(q, e[0], e[1], e[2]);
                        wm_quat_canon(q);
                        CHECK(fabs(q[0] - a[0]) < 1e-9);
                    }
            }
            float act[11];
            env_objects3d_relative_action(&c, a, b, act);
            double o[11];
            env_objects3d_compose(&c, a, act, o);
            double d = 0;
            for (int i = 0; i < 4; i++)
                d = fmax(d, fabs(o[i] - b[i]));
            for (int i = 8; i < 11; i++)
                d = fmax(d, fabs(o[i] - b[i]));
            d = fmax(d, fabs(o[5] - b[5]));
            for (int i = 4; i <= 7; i += 3) {
                double h = fabs(o[i] - b[i]);
                d = fmax(d, fmin(h, 1 - h));
            }
            double p = fabs(o[6] - b[6]);
            d = fmax(d, fmin(p, 2 * M_PI - p));
            CHECK(d < 1e-6, "compose(a, relative(a, b)) = b: %g", d);
            CHECK(o[4] >= 0 && o[4] < 1 && o[6] >= 0 && o[6] < 2 * M_PI, "wrapped");
        }
        if (rot == 2)
            CHECK(yaw_halves[0] > 200 && yaw_halves[1] > 200, "yaw: front and back halves drawn (%d, %d)",
                  yaw_halves[0], yaw_halves[1]);
    }
    /* Composition with the identity changes nothing; rotations compose by product. */
    double a[11];
    env_objects3d_sample_latent(&c, &r, a);
    float id[11] = {1, 0, 0, 0};
    double o[11];
    env_objects3d_compose(&c, a, id, o);
    for (int i = 0; i < 11; i++)
        CHECK(fabs(o[i] - a[i]) < 1e-15, "identity action, %d", i);
    double q1[4], q2[4], q12[4];
    wm_quat_from_euler_xyz(q1, 0.3, -0.2, 0.9);
    wm_quat_from_euler_xyz(q2, -1.0, 0.5, 0.1);
    float a1[11] = {(float)q1[0], (float)q1[1], (float)q1[2], (float)q1[3]};
    float a2[11] = {(float)q2[0], (float)q2[1], (float)q2[2], (float)q2[3]};
    double s1[11], s2[11];
    env_objects3d_compose(&c, a, a1, s1);
    env_objects3d_compose(&c, s1, a2, s2);
    wm_quat_mul(q12, a, q1);
    wm_quat_mul(q12, q12, q2);
    wm_quat_canon(q12);
    for (int i = 0; i < 4; i++)
        CHECK(fabs(s2[i] - q12[i]) < 1e-6);
}

int main(void) {
    test_obj_good();
    test_obj_hostile();
    test_primitives();
    test_shapes();
    test_latent_algebra();
    return TEST_DONE();
}
