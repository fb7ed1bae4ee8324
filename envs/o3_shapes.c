/* The procedural shape families of objects3d. An instance draws its proportions,
 * optional parts, bend and colours from an RNG seeded by (family, instance), so the
 * same pair always gives the same mesh; colour is independent of the family, so a
 * classifier has to use shape.
 *
 * Over 700 lines on purpose: one short builder per family (the mixed set's sixteen and
 * the asymmetric set's sixteen) beside the mesh helpers they share; a file per set
 * would export those helpers for no reader's benefit. */
#include "envs/o3_shapes.h"

#include <math.h>
#include <string.h>

#include "core/color.h"
#include "core/err.h"
#include "core/rng.h"
#include "render/scene.h"

#define PI_F 3.14159265f

typedef struct {
    RdMesh *m;
    WmRng *r;
    int seg;   /* segments around a large curved part */
    int tseg;  /* around a thin tube */
    int rings; /* along a curved part */
    uint8_t main[4], second[4];
} Ctx;

static float U(Ctx *c, float lo, float hi) {
    return (float)wm_rng_range(c->r, lo, hi);
}
static int UI(Ctx *c, int lo, int hi) {
    return lo + (int)wm_rng_below(c->r, (uint32_t)(hi - lo + 1));
}

static void rot_x(float a, float R[9]) {
    float c = cosf(a), s = sinf(a);
    float m[9] = {1, 0, 0, 0, c, -s, 0, s, c};
    memcpy(R, m, sizeof m);
}
static void rot_y(float a, float R[9]) {
    float c = cosf(a), s = sinf(a);
    float m[9] = {c, 0, s, 0, 1, 0, -s, 0, c};
    memcpy(R, m, sizeof m);
}
static void rot_z(float a, float R[9]) {
    float c = cosf(a), s = sinf(a);
    float m[9] = {c, -s, 0, s, c, 0, 0, 0, 1};
    memcpy(R, m, sizeof m);
}

/* Moves vertices [first, nv) by rotation R (may be NULL) then translation t. */
static void place(Ctx *c, int first, const float *R, float tx, float ty, float tz) {
    static const float I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    rd_mesh_transform(c->m, first, R ? R : I, (float[3]){tx, ty, tz});
}

static void box(Ctx *c, float cx, float cy, float cz, float hx, float hy, float hz,
                const uint8_t *rgba) {
    rd_mesh_box(c->m, (float[3]){cx, cy, cz}, (float[3]){hx, hy, hz}, rgba);
}

static void ellipsoid(Ctx *c, float cx, float cy, float cz, float ax, float ay, float az, float e1,
                      float e2, const uint8_t *rgba) {
    int first = c->m->nv;
    rd_mesh_superellipsoid(c->m, (float[3]){ax, ay, az}, e1, e2, c->seg, c->rings, rgba);
    place(c, first, NULL, cx, cy, cz);
}

/* Bends the whole mesh sideways: x += k (y - y0)^2, normals recomputed. */
static void bend(Ctx *c, float k, float y0) {
    RdMesh *m = c->m;
    for (int i = 0; i < m->nv; i++) {
        float d = m->pos[3 * i + 1] - y0;
        m->pos[3 * i] += k * d * d;
    }
    rd_mesh_compute_normals(m);
}

static void colours(Ctx *c) {
    float h = U(c, 0, 1), s = U(c, 0.35f, 0.85f), v = U(c, 0.55f, 0.95f), rgb[3];
    wm_hsv_to_rgbf(h, s, v, rgb);
    for (int i = 0; i < 3; i++)
        c->main[i] = (uint8_t)(rgb[i] * 255.f + 0.5f);
    c->main[3] = 255;
    float h2 = h + U(c, 0.25f, 0.75f), s2 = U(c, 0.1f, 0.8f), v2 = U(c, 0.35f, 0.9f);
    wm_hsv_to_rgbf(h2, s2, v2, rgb);
    for (int i = 0; i < 3; i++)
        c->second[i] = (uint8_t)(rgb[i] * 255.f + 0.5f);
    c->second[3] = 255;
}

/* ---- families ---- */

static void vase(Ctx *c) {
    float rb = U(c, 0.25f, 0.5f), rbel = U(c, 0.45f, 0.8f), ybel = U(c, -0.5f, 0.1f);
    float rn = U(c, 0.12f, 0.3f), rl = rn * U(c, 1.1f, 1.7f);
    float r[6] = {rb, 0.5f * (rb + rbel), rbel, 0.5f * (rbel + rn), rn, rl};
    float y[6] = {-1, 0.5f * (-1 + ybel), ybel, 0.5f * (ybel + 0.55f), 0.6f, 1};
    rd_mesh_lathe(c->m, r, y, 6, c->seg, c->main);
    bend(c, U(c, -0.2f, 0.2f), -1);
}

static void mug(Ctx *c) {
    float R = U(c, 0.4f, 0.65f), H = U(c, 0.7f, 1.3f);
    float r[2] = {R, R * U(c, 1.0f, 1.2f)}, y[2] = {-H / 2, H / 2};
    rd_mesh_lathe(c->m, r, y, 2, c->seg, c->main);
    float hr = U(c, 0.2f, 0.45f), hy = H * U(c, 0.22f, 0.4f), th = U(c, 0.05f, 0.1f);
    enum { N = 9 };
    float p[3 * N], rr[N];
    for (int i = 0; i < N; i++) {
        float a = -PI_F / 2 + PI_F * (float)i / (N - 1);
        p[3 * i] = R * 0.95f + hr * cosf(a);
        p[3 * i + 1] = hy * sinf(a);
        p[3 * i + 2] = 0;
        rr[i] = th;
    }
    rd_mesh_tube(c->m, p, rr, N, c->tseg, c->second);
}

static void table(Ctx *c) {
    float hx = U(c, 0.7f, 1.0f), hz = U(c, 0.4f, 0.9f), ht = U(c, 0.03f, 0.08f);
    float h = U(c, 0.5f, 1.0f), lt = U(c, 0.035f, 0.09f);
    int round = wm_rng_uniform(c->r) < 0.3;
    if (round) {
        float r[2] = {hx, hx}, y[2] = {-ht, ht};
        rd_mesh_lathe(c->m, r, y, 2, c->seg, c->main);
        hz = hx;
    } else {
        box(c, 0, 0, 0, hx, ht, hz, c->main);
    }
    float inset = round ? 0.62f : U(c, 0.75f, 0.92f);
    for (int i = 0; i < 4; i++) {
        float sx = (i & 1) ? 1.f : -1.f, sz = (i & 2) ? 1.f : -1.f;
        box(c, sx * hx * inset, -h / 2, sz * hz * inset, lt, h / 2, lt, c->second);
    }
}

static void chair(Ctx *c) {
    float w = U(c, 0.4f, 0.6f), d = U(c, 0.4f, 0.6f), h = U(c, 0.5f, 0.8f), lt = U(c, 0.03f, 0.06f);
    float bh = U(c, 0.5f, 0.9f), tilt = U(c, 0.0f, 0.3f);
    box(c, 0, 0, 0, w, 0.05f, d, c->main);
    for (int i = 0; i < 4; i++) {
        float sx = (i & 1) ? 1.f : -1.f, sz = (i & 2) ? 1.f : -1.f;
        box(c, sx * (w - lt), -h / 2, sz * (d - lt), lt, h / 2, lt, c->second);
    }
    int first = c->m->nv;
    box(c, 0, bh / 2, 0, w, bh / 2, 0.04f, c->main);
    float R[9];
    rot_x(-tilt, R);
    place(c, first, R, 0, 0.05f, -d + 0.04f);
    if (wm_rng_uniform(c->r) < 0.5) { /* arm rests */
        for (int s = -1; s <= 1; s += 2)
            box(c, s * (w - 0.03f), 0.3f, 0, 0.03f, 0.03f, d * 0.8f, c->second);
    }
}

static void mushroom(Ctx *c) {
    float sh = U(c, 0.6f, 1.1f), rb = U(c, 0.1f, 0.22f), rt = U(c, 0.07f, 0.16f),
          k = U(c, -0.5f, 0.5f);
    enum { N = 6 };
    float p[3 * N], rr[N];
    for (int i = 0; i < N; i++) {
        float t = (float)i / (N - 1), y = -1 + sh * t;
        p[3 * i] = k * t * t * sh;
        p[3 * i + 1] = y;
        p[3 * i + 2] = 0;
        rr[i] = rb + (rt - rb) * t;
    }
    rd_mesh_tube(c->m, p, rr, N, c->tseg, c->second);
    float rc = U(c, 0.45f, 0.9f), hc = U(c, 0.25f, 0.6f);
    float r[5] = {rt * 1.2f, rc, rc * 0.85f, rc * 0.45f, 0};
    float y[5] = {0, 0.06f, hc * 0.45f, hc * 0.85f, hc};
    int first = c->m->nv;
    rd_mesh_lathe(c->m, r, y, 5, c->seg, c->main);
    place(c, first, NULL, p[3 * (N - 1)], -1 + sh - 0.03f, 0);
}

static void ring(Ctx *c) {
    float R = 1, rr = U(c, 0.12f, 0.3f), ell = U(c, 0.65f, 1.0f);
    int n = c->seg + 1;
    float p[3 * 64], r[64];
    for (int i = 0; i < n; i++) {
        float a = 2 * PI_F * (float)i / (float)(n - 1);
        p[3 * i] = R * cosf(a);
        p[3 * i + 1] = R * ell * sinf(a);
        p[3 * i + 2] = 0;
        r[i] = rr;
    }
    rd_mesh_tube(c->m, p, r, n, c->tseg, c->main);
    if (wm_rng_uniform(c->r) < 0.75) {
        float g = U(c, 0.2f, 0.35f);
        ellipsoid(c, 0, R * ell + g * 0.6f, 0, g, g, g, U(c, 0.3f, 1.0f), U(c, 0.3f, 1.0f),
                  c->second);
    }
}

static void spring(Ctx *c) {
    float turns = U(c, 2.0f, 4.0f), rad = U(c, 0.35f, 0.7f), hgt = U(c, 1.2f, 2.2f),
          wr = U(c, 0.06f, 0.12f);
    int per = c->seg * 3 / 4 < 8 ? 8 : c->seg * 3 / 4;
    int n = (int)(turns * (float)per) + 1;
    if (n > 200) n = 200;
    float p[3 * 200], r[200];
    for (int i = 0; i < n; i++) {
        float t = (float)i / (float)(n - 1), a = 2 * PI_F * turns * t;
        p[3 * i] = rad * cosf(a);
        p[3 * i + 1] = -hgt / 2 + hgt * t;
        p[3 * i + 2] = rad * sinf(a);
        r[i] = wr;
    }
    rd_mesh_tube(c->m, p, r, n, c->tseg < 6 ? c->tseg : 6, c->main);
}

static void dumbbell(Ctx *c) {
    float L = U(c, 0.5f, 0.9f), br = U(c, 0.05f, 0.11f);
    float p[6] = {-L, 0, 0, L, 0, 0}, r[2] = {br, br};
    rd_mesh_tube(c->m, p, r, 2, c->tseg, c->second);
    float ax = U(c, 0.12f, 0.3f), ay = U(c, 0.22f, 0.45f);
    float e = wm_rng_uniform(c->r) < 0.5 ? 1.0f : U(c, 0.2f, 0.5f);
    float s2 = wm_rng_uniform(c->r) < 0.3 ? U(c, 0.55f, 0.8f) : 1.0f;
    ellipsoid(c, -L, 0, 0, ax, ay, ay, e, e, c->main);
    ellipsoid(c, L, 0, 0, ax * s2, ay * s2, ay * s2, e, e, c->main);
}

static void lamp(Ctx *c) {
    float rb = U(c, 0.3f, 0.5f);
    float r[2] = {rb, rb * 0.8f}, y[2] = {-1, -0.92f};
    rd_mesh_lathe(c->m, r, y, 2, c->seg, c->second);
    float ph = U(c, 0.9f, 1.5f), arc = U(c, 0.25f, 0.6f), pr = U(c, 0.03f, 0.06f);
    enum { N = 10 };
    float p[3 * N], rr[N];
    for (int i = 0; i < N; i++) {
        float t = (float)i / (N - 1);
        if (t < 0.5f) {
            p[3 * i] = 0;
            p[3 * i + 1] = -0.92f + ph * t * 2;
        } else {
            float a = PI_F * (t - 0.5f) * 2 * 0.5f; /* quarter circle */
            p[3 * i] = arc * (1 - cosf(a));
            p[3 * i + 1] = -0.92f + ph + arc * sinf(a);
        }
        p[3 * i + 2] = 0;
        rr[i] = pr;
    }
    rd_mesh_tube(c->m, p, rr, N, c->tseg, c->second);
    float sr = U(c, 0.25f, 0.45f), sh = U(c, 0.25f, 0.45f);
    float r2[3] = {sr, sr * 0.45f, 0}, y2[3] = {-sh, 0, 0.02f};
    int first = c->m->nv;
    rd_mesh_lathe(c->m, r2, y2, 3, c->seg, c->main);
    place(c, first, NULL, p[3 * (N - 1)], p[3 * (N - 1) + 1], 0);
}

static void airplane(Ctx *c) {
    float fr = U(c, 0.11f, 0.18f), e = U(c, 0.5f, 1.0f);
    ellipsoid(c, 0, 0, 0, 1, fr, fr, e, 1, c->main);
    float span = U(c, 0.6f, 1.0f), wx = U(c, -0.15f, 0.2f), chord = U(c, 0.1f, 0.2f);
    float sweep = U(c, 0.0f, 0.5f), wy = U(c, -0.05f, 0.05f);
    for (int s = -1; s <= 1; s += 2) {
        int first = c->m->nv;
        box(c, 0, 0, (float)s * span / 2, chord, 0.02f, span / 2, c->second);
        float R[9];
        rot_y(-(float)s * sweep, R);
        place(c, first, R, wx, wy, 0);
    }
    float fh = U(c, 0.15f, 0.3f);
    box(c, -0.85f, fr + fh / 2, 0, 0.09f, fh / 2, 0.02f, c->second);
    box(c, -0.85f, 0, 0, 0.07f, 0.015f, U(c, 0.2f, 0.35f), c->second);
}

static void tree(Ctx *c) {
    float tr = U(c, 0.07f, 0.14f), th = U(c, 0.3f, 0.6f);
    float r[2] = {tr, tr * 0.8f}, y[2] = {-1, -1 + th};
    rd_mesh_lathe(c->m, r, y, 2, c->tseg, c->second);
    int k = UI(c, 2, 4);
    float base = -1 + th * 0.8f, w = U(c, 0.6f, 0.9f),
          lh = (1.0f - base) / (float)k * U(c, 1.1f, 1.5f);
    for (int i = 0; i < k; i++) {
        float rw = w * (1.0f - 0.55f * (float)i / (float)k);
        float yb = base + (float)i * lh * 0.6f;
        float rr[3] = {rw * 0.6f, rw, 0}, yy[3] = {yb, yb + 0.05f, yb + lh};
        rd_mesh_lathe(c->m, rr, yy, 3, c->seg, c->main);
    }
    bend(c, U(c, -0.15f, 0.15f), -1);
}

static void snowman(Ctx *c) {
    int k = UI(c, 2, 3);
    float rad = U(c, 0.45f, 0.6f), y = -1;
    float cy = 0, cr = 0;
    for (int i = 0; i < k; i++) {
        y += rad;
        ellipsoid(c, 0, y, 0, rad, rad, rad, 1, 1, c->main);
        cy = y, cr = rad;
        y += rad * 0.85f;
        rad *= U(c, 0.62f, 0.8f);
    }
    float nl = U(c, 0.15f, 0.4f);
    float r[2] = {cr * 0.18f, 0}, yy[2] = {0, nl};
    int first = c->m->nv;
    rd_mesh_lathe(c->m, r, yy, 2, c->tseg, c->second);
    float R[9];
    rot_x(PI_F / 2, R);
    place(c, first, R, 0, cy, cr * 0.9f);
    if (wm_rng_uniform(c->r) < 0.5) { /* a hat */
        float hr = cr * U(c, 0.5f, 0.8f), hh = U(c, 0.15f, 0.35f);
        float r2[4] = {hr * 1.5f, hr * 1.5f, hr, hr}, y2[4] = {0, 0.03f, 0.04f, hh};
        first = c->m->nv;
        rd_mesh_lathe(c->m, r2, y2, 4, c->seg, c->second);
        place(c, first, NULL, 0, cy + cr * 0.8f, 0);
    }
}

static void bottle(Ctx *c) {
    float R = U(c, 0.28f, 0.45f), ys = U(c, 0.0f, 0.4f), rn = R * U(c, 0.25f, 0.45f);
    float yn = ys + U(c, 0.2f, 0.35f);
    float r[7] = {R * 0.9f, R, R, rn, rn, rn * 1.2f, rn * 1.2f};
    float y[7] = {-1, -0.95f, ys, yn, 0.85f, 0.86f, 1};
    rd_mesh_lathe(c->m, r, y, 7, c->seg, c->main);
    bend(c, U(c, -0.15f, 0.15f), -1);
}

static void star(Ctx *c) {
    int k = UI(c, 5, 8);
    float inner = U(c, 0.35f, 0.6f), th = U(c, 0.12f, 0.35f);
    float x[16], z[16];
    for (int i = 0; i < 2 * k; i++) {
        float a = PI_F * (float)i / (float)k, rr = (i & 1) ? inner : 1.0f;
        x[i] = rr * sinf(a);
        z[i] = rr * cosf(a);
    }
    rd_mesh_prism(c->m, x, z, 2 * k, -th / 2, th / 2, c->main);
    float R[9];
    rot_x(PI_F / 2, R);
    place(c, 0, R, 0, 0, 0);
}

static void arch(Ctx *c) {
    float R = U(c, 0.55f, 0.9f), t = U(c, 0.08f, 0.18f), ell = U(c, 0.7f, 1.3f),
          ph = U(c, 0.3f, 0.8f);
    int n = c->seg + 1;
    float p[3 * 64], r[64];
    for (int i = 0; i < n; i++) {
        float a = PI_F * (float)i / (float)(n - 1);
        p[3 * i] = R * cosf(a);
        p[3 * i + 1] = R * ell * sinf(a);
        p[3 * i + 2] = 0;
        r[i] = t;
    }
    rd_mesh_tube(c->m, p, r, n, c->tseg, c->main);
    float pw = t * U(c, 1.0f, 1.6f);
    box(c, R, -ph / 2, 0, pw, ph / 2, pw, c->second);
    box(c, -R, -ph / 2, 0, pw, ph / 2, pw, c->second);
}

static void rocket(Ctx *c) {
    float r0 = U(c, 0.14f, 0.25f), yb = U(c, 0.2f, 0.5f), yn = U(c, 0.6f, 0.8f);
    float r[4] = {r0 * U(c, 0.8f, 1.0f), r0, r0 * 0.75f, 0}, y[4] = {-1, yb, yn, 1};
    rd_mesh_lathe(c->m, r, y, 4, c->seg, c->main);
    int k = UI(c, 3, 4);
    float fl = U(c, 0.2f, 0.4f), fw = U(c, 0.15f, 0.3f);
    for (int i = 0; i < k; i++) {
        int first = c->m->nv;
        box(c, r0 + fw / 2, -1 + fl / 2, 0, fw / 2, fl / 2, 0.02f, c->second);
        float R[9];
        rot_y(2 * PI_F * (float)i / (float)k, R);
        place(c, first, R, 0, 0, 0);
    }
    bend(c, U(c, -0.1f, 0.1f), -1);
}

static void fish(Ctx *c) {
    float bh = U(c, 0.3f, 0.5f), bw = U(c, 0.12f, 0.22f);
    ellipsoid(c, 0, 0, 0, 1, bh, bw, 1, 1, c->main);
    float tl = U(c, 0.3f, 0.55f), ts = U(c, 0.25f, 0.5f);
    float x[3] = {-0.85f, -0.85f - tl, -0.85f - tl}, z[3] = {0, ts, -ts};
    int first = c->m->nv;
    rd_mesh_prism(c->m, x, z, 3, -0.02f, 0.02f, c->second);
    float R[9];
    rot_x(PI_F / 2, R);
    place(c, first, R, 0, 0, 0);
    float dh = U(c, 0.15f, 0.35f), dx = U(c, -0.3f, 0.2f);
    float x2[3] = {dx - 0.25f, dx + 0.2f, dx - 0.1f}, z2[3] = {0, 0, dh};
    first = c->m->nv;
    rd_mesh_prism(c->m, x2, z2, 3, -0.015f, 0.015f, c->second);
    rot_x(PI_F / 2, R);
    place(c, first, R, 0, bh * 0.85f, 0);
}

static void hammer(Ctx *c) {
    float top = U(c, 0.4f, 0.8f), hr = U(c, 0.045f, 0.08f);
    float p[6] = {0, -1, 0, 0, top, 0}, r[2] = {hr, hr};
    rd_mesh_tube(c->m, p, r, 2, c->tseg, c->second);
    float hx = U(c, 0.3f, 0.55f), hy = U(c, 0.08f, 0.15f);
    box(c, hx * 0.3f, top, 0, hx * 0.7f, hy, hy, c->main);
    if (wm_rng_uniform(c->r) < 0.6) { /* a claw on the other side */
        int first = c->m->nv;
        box(c, 0, 0, 0, hx * 0.35f, hy * 0.5f, hy * 0.6f, c->main);
        float R[9];
        rot_z(U(c, -0.5f, -0.2f), R);
        place(c, first, R, -hx * 0.6f, top - hy * 0.3f, 0);
    }
}

static void polycube(Ctx *c) {
    int n = UI(c, 4, 6), cells[6][3] = {{0, 0, 0}}, have = 1;
    while (have < n) {
        int *from = cells[wm_rng_below(c->r, (uint32_t)have)];
        int axis = (int)wm_rng_below(c->r, 3), dir = wm_rng_below(c->r, 2) ? 1 : -1;
        int nc[3] = {from[0], from[1], from[2]};
        nc[axis] += dir;
        int dup = 0;
        for (int i = 0; i < have; i++)
            dup |= cells[i][0] == nc[0] && cells[i][1] == nc[1] && cells[i][2] == nc[2];
        if (!dup) memcpy(cells[have++], nc, sizeof nc);
    }
    for (int i = 0; i < n; i++)
        box(c, 0.5f * (float)cells[i][0], 0.5f * (float)cells[i][1], 0.5f * (float)cells[i][2],
            0.25f, 0.25f, 0.25f, (i & 1) ? c->second : c->main);
}

static void goblet(Ctx *c) {
    float rb = U(c, 0.3f, 0.5f), rs = U(c, 0.04f, 0.08f), ys = U(c, -0.4f, 0.1f),
          rw = U(c, 0.35f, 0.6f);
    float r[7] = {rb, rb * 0.9f, rs, rs, rw * 0.55f, rw * 0.92f, rw};
    float y[7] = {-1, -0.95f, -0.9f, ys, ys + 0.15f, ys + (1 - ys) * 0.6f, 1};
    rd_mesh_lathe(c->m, r, y, 7, c->seg, c->main);
}


/* ---- asymmetric families ----
 * Each has a canonical orientation (up +y, front +x) and no rotational symmetry: the
 * parts differ front to back, top to bottom and, for most, left to right, and every
 * part has its own colour from a palette of four well separated hues (palette drawn
 * per instance, so colour still says nothing about the family). Any rotation of one of
 * these objects changes its image, which makes pose identifiable from one view. */

enum { P0, P1, P2, P3 };

/* Four colours with hues a quarter turn apart (jittered), strong saturation. */
static void palette(Ctx *c, uint8_t pal[4][4]) {
    float h0 = U(c, 0, 1), rgb[3];
    for (int k = 0; k < 4; k++) {
        float h = h0 + 0.25f * (float)k + U(c, -0.04f, 0.04f);
        h -= floorf(h);
        wm_hsv_to_rgbf(h, U(c, 0.6f, 0.9f), U(c, 0.6f, 0.95f), rgb);
        for (int i = 0; i < 3; i++)
            pal[k][i] = (uint8_t)(rgb[i] * 255.f + 0.5f);
        pal[k][3] = 255;
    }
}

/* A rod of radius r from a to b (capped). */
static void rod(Ctx *c, float ax, float ay, float az, float bx, float by, float bz, float r,
                const uint8_t *rgba) {
    float p[6] = {ax, ay, az, bx, by, bz}, rr[2] = {r, r};
    rd_mesh_tube(c->m, p, rr, 2, c->tseg, rgba);
}

/* A small ellipsoid with fewer segments than a main part. */
static void blob(Ctx *c, float cx, float cy, float cz, float ax, float ay, float az,
                 const uint8_t *rgba) {
    int first = c->m->nv;
    int seg = c->tseg, rings = c->rings - 1 < 3 ? 3 : c->rings - 1;
    rd_mesh_superellipsoid(c->m, (float[3]){ax, ay, az}, 1, 1, seg, rings, rgba);
    place(c, first, NULL, cx, cy, cz);
}

/* A wheel: a cylinder of radius r and half-width w about the z axis. */
static void wheel(Ctx *c, float cx, float cy, float cz, float r, float w, const uint8_t *rgba) {
    int first = c->m->nv;
    float rr[2] = {r, r}, yy[2] = {-w, w};
    rd_mesh_lathe(c->m, rr, yy, 2, c->tseg, rgba);
    float R[9];
    rot_x(PI_F / 2, R);
    place(c, first, R, cx, cy, cz);
}


/* A prism of the polygon (x_i, z_i) from y0 to y1, turned by R (NULL: none) and moved by
 * t. The polygon needs to be star-shaped about its vertex mean only, not the origin. */
static void prism_at(Ctx *c, const float *x, const float *z, int n, float y0, float y1,
                     const float *R, float tx, float ty, float tz, const uint8_t *rgba) {
    float mx = 0, mz = 0, xx[8], zz[8];
    WM_ASSERT(n <= 8);
    for (int i = 0; i < n; i++)
        mx += x[i] / (float)n, mz += z[i] / (float)n;
    for (int i = 0; i < n; i++)
        xx[i] = x[i] - mx, zz[i] = z[i] - mz;
    static const float I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    if (!R) R = I;
    int first = c->m->nv;
    rd_mesh_prism(c->m, xx, zz, n, y0, y1, rgba);
    place(c, first, R, tx + R[0] * mx + R[2] * mz, ty + R[3] * mx + R[5] * mz,
          tz + R[6] * mx + R[8] * mz);
}

static void quadruped(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float L = U(c, 0.55f, 0.8f), H = U(c, 0.22f, 0.32f), W = U(c, 0.18f, 0.26f);
    float leg = U(c, 0.45f, 0.7f), lr = U(c, 0.05f, 0.08f);
    ellipsoid(c, 0, 0, 0, L, H, W, 1, 1, pal[P0]);
    for (int i = 0; i < 4; i++) {
        float sx = (i & 1) ? 0.7f : -0.7f, sz = (i & 2) ? 0.6f : -0.6f;
        rod(c, sx * L, -H * 0.5f, sz * W, sx * L, -H * 0.5f - leg, sz * W, lr, pal[P2]);
    }
    float nk = U(c, 0.25f, 0.45f), hr = U(c, 0.15f, 0.22f);
    rod(c, L * 0.8f, H * 0.3f, 0, L + 0.1f, H + nk, 0, U(c, 0.07f, 0.11f), pal[P0]);
    blob(c, L + 0.18f, H + nk + 0.05f, 0, hr * 1.5f, hr, hr * 0.9f, pal[P1]);
    /* one ear (or horn) on the left side only */
    rod(c, L + 0.1f, H + nk + hr, hr * 0.5f, L + 0.05f, H + nk + hr + U(c, 0.12f, 0.25f),
        hr * 0.9f, 0.04f, pal[P3]);
    float tl = U(c, 0.3f, 0.55f);
    float p[9] = {-L * 0.95f, H * 0.3f, 0, -L - tl * 0.5f, H * 0.6f, 0, -L - tl, H * 1.2f, 0};
    float r[3] = {0.05f, 0.04f, 0.025f};
    rd_mesh_tube(c->m, p, r, 3, c->tseg, pal[P3]);
}

static void car(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float L = U(c, 0.8f, 1.0f), H = U(c, 0.15f, 0.24f), W = U(c, 0.38f, 0.5f);
    box(c, 0, 0, 0, L, H, W, pal[P0]);
    float cl = L * U(c, 0.4f, 0.55f), ch = U(c, 0.14f, 0.24f), cx = -L * U(c, 0.1f, 0.3f);
    box(c, cx, H + ch, 0, cl, ch, W * 0.85f, pal[P1]);
    float wr = U(c, 0.17f, 0.24f);
    for (int i = 0; i < 4; i++) {
        float sx = (i & 1) ? 0.65f : -0.65f, sz = (i & 2) ? 1.f : -1.f;
        wheel(c, sx * L, -H, sz * W, wr, 0.07f, pal[P2]);
    }
    /* headlights at the front, a spoiler at the back, a mirror on the left */
    box(c, L, H * 0.3f, W * 0.6f, 0.03f, 0.05f, 0.08f, pal[P3]);
    box(c, L, H * 0.3f, -W * 0.6f, 0.03f, 0.05f, 0.08f, pal[P3]);
    box(c, -L + 0.05f, H + U(c, 0.12f, 0.22f), 0, 0.06f, 0.02f, W * 0.9f, pal[P3]);
    box(c, cx + cl, H + 0.08f, W + 0.06f, 0.03f, 0.04f, 0.06f, pal[P2]);
}

static void house(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float hx = U(c, 0.5f, 0.8f), hy = U(c, 0.35f, 0.55f), hz = U(c, 0.4f, 0.6f);
    box(c, 0, 0, 0, hx, hy, hz, pal[P0]);
    float rh = U(c, 0.3f, 0.55f), ov = 0.06f;
    /* the roof: a triangular prism whose ridge runs along x (prism axis y -> x, its
     * profile's x -> z and z -> y: a cyclic turn of the axes) */
    float px[3] = {-(hz + ov), hz + ov, 0}, pz[3] = {0, 0, rh};
    static const float R[9] = {0, 1, 0, 0, 0, 1, 1, 0, 0};
    prism_at(c, px, pz, 3, -(hx + ov), hx + ov, R, 0, hy, 0, pal[P1]);
    float chx = hx * U(c, 0.3f, 0.6f);
    box(c, chx, hy + rh * 0.7f, hz * 0.45f, 0.09f, rh * 0.6f, 0.09f, pal[P2]);
    box(c, hx, -hy + 0.25f, -hz * U(c, 0.1f, 0.5f), 0.03f, 0.25f, 0.13f, pal[P3]);
    /* a lower wing (garage) on the left at the back */
    float gw = U(c, 0.25f, 0.4f), gh = hy * U(c, 0.5f, 0.7f);
    box(c, -hx * 0.45f, -hy + gh, hz + gw, hx * 0.5f, gh, gw, pal[P2]);
}

static void teapot(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float R = U(c, 0.45f, 0.6f), H = U(c, 0.35f, 0.5f);
    ellipsoid(c, 0, 0, 0, R, H, R, 1, 1, pal[P0]);
    float sl = U(c, 0.35f, 0.55f), sa = U(c, 0.5f, 0.9f);
    float p[9] = {R * 0.7f, -H * 0.2f, 0, R + sl * 0.5f * cosf(sa), -H * 0.2f + sl * 0.5f * sinf(sa),
                  0, R + sl * cosf(sa), sl * sinf(sa), 0};
    float r[3] = {0.1f, 0.07f, 0.05f};
    rd_mesh_tube(c->m, p, r, 3, c->tseg, pal[P1]);
    enum { N = 7 };
    float q[3 * N], rq[N], hr = U(c, 0.25f, 0.35f);
    for (int i = 0; i < N; i++) {
        float a = -PI_F / 2 + PI_F * (float)i / (N - 1);
        q[3 * i] = -R * 0.9f - hr * cosf(a);
        q[3 * i + 1] = H * 0.1f + hr * sinf(a);
        q[3 * i + 2] = 0;
        rq[i] = 0.045f;
    }
    rd_mesh_tube(c->m, q, rq, N, c->tseg, pal[P2]);
    blob(c, R * U(c, -0.2f, 0.2f), H + 0.05f, 0, 0.12f, 0.08f, 0.12f, pal[P3]);
}

static void gizmo(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float s = U(c, 0.12f, 0.18f), ar = U(c, 0.05f, 0.08f);
    box(c, 0, 0, 0, s, s, s, pal[P0]);
    float lx = U(c, 0.9f, 1.1f), ly = U(c, 0.6f, 0.75f), lz = U(c, 0.35f, 0.5f);
    rod(c, 0, 0, 0, lx, 0, 0, ar, pal[P1]);
    blob(c, lx, 0, 0, ar * 2.2f, ar * 2.2f, ar * 2.2f, pal[P1]);
    rod(c, 0, 0, 0, 0, ly, 0, ar, pal[P2]);
    float cr[2] = {ar * 2.4f, 0}, cy[2] = {0, ar * 4};
    int first = c->m->nv;
    rd_mesh_lathe(c->m, cr, cy, 2, c->tseg, pal[P2]);
    place(c, first, NULL, 0, ly, 0);
    rod(c, 0, 0, 0, 0, 0, lz, ar, pal[P3]);
    box(c, 0, 0, lz, ar * 2, ar * 2, ar * 2, pal[P3]);
}

static void boot(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float sh = U(c, 0.5f, 0.8f), sw = U(c, 0.22f, 0.3f), fl = U(c, 0.45f, 0.65f);
    box(c, 0, sh / 2, 0, sw, sh / 2, sw * 0.9f, pal[P0]);
    box(c, fl / 2, -0.1f, 0, fl / 2 + sw * 0.5f, 0.12f, sw * 0.9f, pal[P0]);
    box(c, fl / 2, -0.26f, 0, fl / 2 + sw * 0.6f, 0.04f, sw, pal[P1]);
    box(c, -sw * 0.6f, -0.16f, 0, sw * 0.45f, 0.06f, sw * 0.8f, pal[P2]);
    blob(c, fl + sw * 0.35f, -0.1f, 0, 0.16f, 0.12f, sw * 0.85f, pal[P2]);
    box(c, sw + 0.01f, sh * 0.55f, sw * 0.3f, 0.02f, sh * 0.3f, 0.06f, pal[P3]);
}

static void crane(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float mh = U(c, 0.9f, 1.4f), jl = U(c, 0.8f, 1.1f), cl = U(c, 0.25f, 0.4f);
    box(c, 0, -0.05f, 0, 0.25f, 0.05f, 0.25f, pal[P0]);
    box(c, 0, mh / 2, 0, 0.05f, mh / 2, 0.05f, pal[P1]);
    box(c, (jl - cl) / 2, mh, 0, (jl + cl) / 2, 0.04f, 0.05f, pal[P2]);
    box(c, -cl + 0.08f, mh - 0.1f, 0, 0.08f, 0.08f, 0.09f, pal[P3]);
    float hd = U(c, 0.25f, 0.5f), hx = jl * U(c, 0.6f, 0.95f);
    rod(c, hx, mh, 0, hx, mh - hd, 0, 0.015f, pal[P3]);
    box(c, hx, mh - hd, 0, 0.05f, 0.04f, 0.04f, pal[P3]);
    box(c, 0.09f, mh * 0.8f, 0.06f, 0.05f, 0.06f, 0.05f, pal[P0]); /* cab on the left */
}

static void duck(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float L = U(c, 0.45f, 0.6f), H = U(c, 0.25f, 0.35f), W = U(c, 0.25f, 0.32f);
    ellipsoid(c, 0, 0, 0, L, H, W, 1, 1, pal[P0]);
    float hr = U(c, 0.15f, 0.22f), hx = L * 0.75f, hy = H + hr * 0.8f;
    blob(c, hx, hy, 0, hr, hr, hr, pal[P1]);
    blob(c, hx + hr + 0.08f, hy - 0.03f, 0, 0.12f, 0.035f, 0.07f, pal[P2]);
    float x[3] = {-L * 0.8f, -L - 0.25f, -L - 0.15f}, z[3] = {-0.05f, 0.05f, 0.2f};
    float R[9];
    rot_x(PI_F / 2, R); /* the profile's z goes to -y: negate it so the tail points up */
    for (int i = 0; i < 3; i++)
        z[i] = -z[i];
    prism_at(c, x, z, 3, -0.05f, 0.05f, R, 0, 0, 0, pal[P3]);
    blob(c, -L * 0.1f, H * 0.3f, W, L * 0.5f, H * 0.4f, 0.05f, pal[P3]); /* one wing shown */
}

static void drill(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float bl = U(c, 0.45f, 0.65f), br = U(c, 0.13f, 0.18f);
    rod(c, -bl * 0.5f, 0, 0, bl * 0.5f, 0, 0, br, pal[P0]);
    float gl = U(c, 0.45f, 0.65f), ga = U(c, 0.1f, 0.35f);
    int first = c->m->nv;
    box(c, 0, -gl / 2, 0, 0.09f, gl / 2, 0.1f, pal[P1]);
    float R[9];
    rot_z(ga, R);
    place(c, first, R, -bl * 0.25f, 0, 0);
    box(c, -bl * 0.25f - sinf(ga) * gl, -cosf(ga) * gl - 0.05f, 0, 0.16f, 0.06f, 0.14f, pal[P2]);
    float tl = U(c, 0.25f, 0.45f);
    rod(c, bl * 0.5f, 0, 0, bl * 0.5f + 0.12f, 0, 0, br * 0.6f, pal[P2]);
    rod(c, bl * 0.5f + 0.12f, 0, 0, bl * 0.5f + 0.12f + tl, 0, 0, 0.025f, pal[P3]);
    box(c, -bl * 0.1f, -0.12f, 0, 0.03f, 0.06f, 0.03f, pal[P3]);
    box(c, -bl * 0.3f, 0, br, 0.07f, 0.05f, 0.02f, pal[P3]); /* switch on the left */
}

static void key(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float rr = U(c, 0.25f, 0.35f), t = U(c, 0.05f, 0.08f), sl = U(c, 0.8f, 1.1f);
    enum { N = 13 };
    float p[3 * N], r[N];
    for (int i = 0; i < N; i++) {
        float a = 2 * PI_F * (float)i / (N - 1);
        p[3 * i] = -rr + rr * cosf(a);
        p[3 * i + 1] = rr * sinf(a);
        p[3 * i + 2] = 0;
        r[i] = t;
    }
    rd_mesh_tube(c->m, p, r, N, c->tseg, pal[P0]);
    rod(c, 0, 0, 0, sl, 0, 0, t * 0.9f, pal[P1]);
    int k = UI(c, 2, 4);
    for (int i = 0; i < k; i++) {
        float x = sl * (0.5f + 0.45f * (float)i / (float)k), d = U(c, 0.15f, 0.3f);
        box(c, x, -d / 2 - t, 0, 0.05f, d / 2 + 0.01f, t * 0.8f, pal[P2]);
    }
    box(c, 0.1f, 0, 0, 0.05f, t * 2.2f, t * 2.2f, pal[P3]);
    box(c, sl * 0.35f, t * 0.5f, t, sl * 0.2f, t * 0.5f, 0.04f, pal[P3]); /* a ridge, left face */
}

static void robot(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float tw = U(c, 0.25f, 0.35f), th = U(c, 0.3f, 0.45f), td = U(c, 0.15f, 0.22f);
    box(c, 0, 0, 0, td, th, tw, pal[P0]);
    float hs = U(c, 0.13f, 0.2f);
    box(c, 0, th + hs + 0.04f, 0, hs, hs, hs, pal[P1]);
    box(c, hs, th + hs + 0.08f, 0, 0.02f, 0.04f, hs * 0.8f, pal[P3]); /* visor, front */
    float ll = U(c, 0.45f, 0.65f);
    rod(c, 0, -th, tw * 0.5f, 0, -th - ll, tw * 0.5f, 0.06f, pal[P2]);
    rod(c, 0, -th, -tw * 0.5f, 0, -th - ll, -tw * 0.5f, 0.06f, pal[P2]);
    float al = U(c, 0.4f, 0.6f);
    rod(c, 0, th * 0.8f, tw + 0.05f, al * 0.3f, th * 0.8f + al, tw + 0.12f, 0.05f, pal[P2]);
    rod(c, 0, th * 0.8f, -tw - 0.05f, al * 0.6f, th * 0.8f - al * 0.5f, -tw - 0.08f, 0.05f,
        pal[P3]);
}

static void tractor(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float L = U(c, 0.6f, 0.8f), W = U(c, 0.25f, 0.32f);
    box(c, 0, 0, 0, L, 0.14f, W, pal[P0]);
    float cs = U(c, 0.22f, 0.3f);
    box(c, -L * 0.55f, 0.14f + cs, 0, cs, cs, W * 0.9f, pal[P1]);
    float rw = U(c, 0.3f, 0.4f), fw = rw * U(c, 0.45f, 0.6f);
    wheel(c, -L * 0.55f, -0.05f, W + 0.08f, rw, 0.08f, pal[P2]);
    wheel(c, -L * 0.55f, -0.05f, -W - 0.08f, rw, 0.08f, pal[P2]);
    wheel(c, L * 0.7f, -0.05f - rw + fw, W + 0.05f, fw, 0.05f, pal[P2]);
    wheel(c, L * 0.7f, -0.05f - rw + fw, -W - 0.05f, fw, 0.05f, pal[P2]);
    rod(c, L * 0.5f, 0.14f, W * 0.5f, L * 0.5f, 0.14f + U(c, 0.3f, 0.5f), W * 0.5f, 0.035f,
        pal[P3]);
}

static void signpost(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float ph = U(c, 1.2f, 1.7f);
    box(c, 0, 0.04f, 0, 0.22f, 0.04f, 0.22f, pal[P3]);
    rod(c, 0, 0.08f, 0, 0, ph, 0, 0.04f, pal[P0]);
    float al = U(c, 0.5f, 0.75f), ah = U(c, 0.1f, 0.15f);
    float x[5] = {0.05f, al, al + 0.15f, al, 0.05f}, z[5] = {-ah, -ah, 0, ah, ah};
    float R[9];
    rot_x(PI_F / 2, R); /* profile in x-y, pointing +x */
    prism_at(c, x, z, 5, -0.02f, 0.02f, R, 0, ph - 0.15f, 0, pal[P1]);
    float bl = U(c, 0.3f, 0.5f), y2 = ph * U(c, 0.5f, 0.7f);
    float x2[5] = {-0.05f, -bl, -bl - 0.12f, -bl, -0.05f}, z2[5] = {ah, ah, 0, -ah, -ah};
    /* profile in z-y, pointing -z: prism axis y -> x, profile x -> z, z -> y */
    static const float R2[9] = {0, 1, 0, 0, 0, 1, 1, 0, 0};
    prism_at(c, x2, z2, 5, -0.02f, 0.02f, R2, 0, y2, 0, pal[P2]);
}

static void snail(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float L = U(c, 0.7f, 0.95f);
    ellipsoid(c, 0, -0.25f, 0, L, 0.1f, 0.16f, 1, 1, pal[P1]);
    enum { N = 14 };
    float p[3 * N], r[N], sr = U(c, 0.35f, 0.5f), turns = U(c, 1.3f, 2.0f);
    for (int i = 0; i < N; i++) {
        float t = (float)i / (N - 1), a = 2 * PI_F * turns * t, rad = sr * (1 - 0.8f * t);
        p[3 * i] = -0.15f + rad * cosf(a);
        p[3 * i + 1] = 0.2f + rad * sinf(a);
        p[3 * i + 2] = 0.06f * t;
        r[i] = 0.17f * (1 - 0.7f * t);
    }
    rd_mesh_tube(c->m, p, r, N, c->tseg, pal[P0]);
    float es = U(c, 0.2f, 0.3f);
    rod(c, L * 0.85f, -0.2f, 0.06f, L + 0.05f, -0.2f + es, 0.1f, 0.025f, pal[P2]);
    rod(c, L * 0.85f, -0.2f, -0.06f, L + 0.1f, -0.2f + es * 0.8f, -0.1f, 0.025f, pal[P2]);
    blob(c, L + 0.05f, -0.2f + es, 0.1f, 0.05f, 0.05f, 0.05f, pal[P3]);
}

static void sofa(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float W = U(c, 0.7f, 1.0f), D = U(c, 0.3f, 0.4f), sh = U(c, 0.15f, 0.22f);
    box(c, 0, 0, 0, D, sh, W, pal[P0]);
    float bh = U(c, 0.25f, 0.4f);
    box(c, -D + 0.07f, sh + bh, 0, 0.07f, bh, W, pal[P1]);
    /* one arm (right), a side table with a lamp on the left, a footstool in front */
    float ah = U(c, 0.1f, 0.2f);
    box(c, 0, sh + ah, -W + 0.06f, D, ah, 0.06f, pal[P2]);
    float tw = U(c, 0.15f, 0.22f), th = U(c, 0.2f, 0.35f);
    box(c, 0, -sh + th, W + tw + 0.02f, tw, th, tw, pal[P3]);
    rod(c, 0, -sh + 2 * th, W + tw + 0.02f, 0, -sh + 2 * th + 0.25f, W + tw + 0.02f, 0.03f, pal[P2]);
    blob(c, 0, -sh + 2 * th + 0.3f, W + tw + 0.02f, 0.1f, 0.08f, 0.1f, pal[P1]);
    box(c, D + U(c, 0.2f, 0.35f), -sh * 0.5f, -W * U(c, 0.2f, 0.5f), 0.15f, sh * 0.5f, 0.2f,
        pal[P3]);
}

static void helicopter(Ctx *c) {
    uint8_t pal[4][4];
    palette(c, pal);
    float L = U(c, 0.4f, 0.55f), H = U(c, 0.22f, 0.3f);
    ellipsoid(c, 0, 0, 0, L, H, H * 0.9f, 1, 1, pal[P0]);
    float tl = U(c, 0.6f, 0.85f);
    rod(c, -L * 0.8f, H * 0.2f, 0, -L - tl, H * 0.5f, 0, 0.05f, pal[P1]);
    box(c, -L - tl, H * 0.5f + 0.1f, 0.06f, 0.08f, 0.14f, 0.015f, pal[P2]); /* tail rotor, left */
    float rl = U(c, 0.8f, 1.1f), ra = U(c, 0.2f, 0.7f);
    rod(c, 0, H, 0, 0, H + 0.12f, 0, 0.03f, pal[P3]);
    for (int k = 0; k < 2; k++) {
        int first = c->m->nv;
        box(c, 0, 0, 0, rl, 0.012f, 0.05f, pal[P3]);
        float R[9];
        rot_y(ra + (float)k * PI_F / 2, R);
        place(c, first, R, 0, H + 0.12f, 0);
    }
    for (int s = -1; s <= 1; s += 2)
        rod(c, -L * 0.6f, -H - 0.15f, (float)s * H * 0.7f, L * 0.8f, -H - 0.15f,
            (float)s * H * 0.7f, 0.025f, pal[P2]);
    box(c, L * 0.75f, H * 0.2f, 0, 0.06f, H * 0.4f, H * 0.6f, pal[P1]); /* windscreen */
}

typedef struct {
    const char *name;
    void (*build)(Ctx *c);
} Family;

static const Family families[] = {
    {"vase", vase},         {"mug", mug},           {"table", table},       {"chair", chair},
    {"mushroom", mushroom}, {"ring", ring},         {"spring", spring},     {"dumbbell", dumbbell},
    {"lamp", lamp},         {"airplane", airplane}, {"tree", tree},         {"snowman", snowman},
    {"bottle", bottle},     {"star", star},         {"arch", arch},         {"rocket", rocket},
    {"fish", fish},         {"hammer", hammer},     {"polycube", polycube}, {"goblet", goblet},
    /* the asymmetric set (O3_SET_ASYMMETRIC) */
    {"quadruped", quadruped}, {"car", car},         {"house", house},       {"teapot", teapot},
    {"gizmo", gizmo},       {"boot", boot},         {"crane", crane},       {"duck", duck},
    {"drill", drill},       {"key", key},           {"robot", robot},       {"tractor", tractor},
    {"signpost", signpost}, {"snail", snail},       {"sofa", sofa},         {"helicopter", helicopter},
};

#define N_MIXED 20

int o3_shape_count(void) {
    return (int)(sizeof families / sizeof families[0]);
}

int o3_set_first(int set) {
    WM_ASSERT(set == O3_SET_MIXED || set == O3_SET_ASYMMETRIC);
    return set == O3_SET_MIXED ? 0 : N_MIXED;
}

int o3_set_count(int set) {
    WM_ASSERT(set == O3_SET_MIXED || set == O3_SET_ASYMMETRIC);
    return set == O3_SET_MIXED ? N_MIXED : o3_shape_count() - N_MIXED;
}

const char *o3_shape_name(int family) {
    WM_ASSERT(family >= 0 && family < o3_shape_count());
    return families[family].name;
}

int o3_shape_detail(int size) {
    int d = 6 + size / 12;
    return d < 8 ? 8 : d > 48 ? 48 : d;
}

void o3_shape_build(int family, int instance, int detail, RdMesh *out) {
    WM_ASSERT(family >= 0 && family < o3_shape_count() && instance >= 0);
    WM_ASSERT(detail >= 3 && detail <= 60);
    WmRng r;
    wm_rng_seed(&r, 0x6f626a6563747333ULL, wm_seed_derive((uint64_t)family, (uint64_t)instance));
    rd_mesh_clear(out);
    Ctx c = {.m = out,
             .r = &r,
             .seg = detail,
             .tseg = detail * 2 / 3 < 6 ? 6 : detail * 2 / 3,
             .rings = detail / 2 < 4 ? 4 : detail / 2};
    colours(&c);
    families[family].build(&c);
    int rc = rd_mesh_normalize_unit(out);
    WM_ASSERT(rc == 0);
}
