/* CPU triangle meshes: growth, normals, normalisation, clustering LOD, primitives. */
#include "render/mesh.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/rng.h"

void rd_mesh_free(RdMesh *m) {
    wm_free(m->pos);
    wm_free(m->nrm);
    wm_free(m->rgba);
    wm_free(m->idx);
    memset(m, 0, sizeof *m);
}

void rd_mesh_clear(RdMesh *m) {
    m->nv = m->nt = 0;
}

static void reserve_v(RdMesh *m, int n) {
    WM_ASSERT(n <= RD_MESH_MAX_VERTS);
    if (n <= m->cap_v) return;
    int cap = m->cap_v ? m->cap_v : 64;
    while (cap < n)
        cap *= 2;
    m->pos = wm_realloc(m->pos, (size_t)cap * 3, sizeof(float));
    m->nrm = wm_realloc(m->nrm, (size_t)cap * 3, sizeof(float));
    m->rgba = wm_realloc(m->rgba, (size_t)cap * 4, 1);
    m->cap_v = cap;
}

static void reserve_t(RdMesh *m, int n) {
    WM_ASSERT(n <= RD_MESH_MAX_TRIS);
    if (n <= m->cap_t) return;
    int cap = m->cap_t ? m->cap_t : 64;
    while (cap < n)
        cap *= 2;
    m->idx = wm_realloc(m->idx, (size_t)cap * 3, sizeof(uint32_t));
    m->cap_t = cap;
}

int rd_mesh_vertex(RdMesh *m, const float p[3], const float n[3], const uint8_t rgba[4]) {
    reserve_v(m, m->nv + 1);
    int i = m->nv++;
    memcpy(m->pos + 3 * i, p, 3 * sizeof(float));
    if (n)
        memcpy(m->nrm + 3 * i, n, 3 * sizeof(float));
    else
        memset(m->nrm + 3 * i, 0, 3 * sizeof(float));
    memcpy(m->rgba + 4 * i, rgba, 4);
    return i;
}

void rd_mesh_tri(RdMesh *m, int a, int b, int c) {
    WM_ASSERT(a >= 0 && a < m->nv && b >= 0 && b < m->nv && c >= 0 && c < m->nv);
    reserve_t(m, m->nt + 1);
    uint32_t *t = m->idx + 3 * m->nt++;
    t[0] = (uint32_t)a, t[1] = (uint32_t)b, t[2] = (uint32_t)c;
}

size_t rd_mesh_bytes(const RdMesh *m) {
    return (size_t)m->cap_v * (6 * sizeof(float) + 4) + (size_t)m->cap_t * 3 * sizeof(uint32_t) +
           sizeof *m;
}

static void cross3(const float a[3], const float b[3], float o[3]) {
    o[0] = a[1] * b[2] - a[2] * b[1];
    o[1] = a[2] * b[0] - a[0] * b[2];
    o[2] = a[0] * b[1] - a[1] * b[0];
}

static void normalize3(float v[3], const float fallback[3]) {
    float l = sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (l > 1e-20f && isfinite(l)) {
        v[0] /= l, v[1] /= l, v[2] /= l;
    } else {
        memcpy(v, fallback, 3 * sizeof(float));
    }
}

/* Normals of vertices [v0, nv) from triangles [t0, nt). */
static void normals_range(RdMesh *m, int v0, int t0) {
    static const float up[3] = {0, 1, 0};
    memset(m->nrm + 3 * (size_t)v0, 0, (size_t)(m->nv - v0) * 3 * sizeof(float));
    for (int t = t0; t < m->nt; t++) {
        const uint32_t *k = m->idx + 3 * t;
        const float *a = m->pos + 3 * k[0], *b = m->pos + 3 * k[1], *c = m->pos + 3 * k[2];
        float e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        float e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        float n[3];
        cross3(e1, e2, n); /* length = twice the area: area weighting */
        for (int j = 0; j < 3; j++) {
            if ((int)k[j] < v0) continue;
            float *d = m->nrm + 3 * k[j];
            d[0] += n[0], d[1] += n[1], d[2] += n[2];
        }
    }
    for (int i = v0; i < m->nv; i++)
        normalize3(m->nrm + 3 * i, up);
}

void rd_mesh_compute_normals(RdMesh *m) {
    normals_range(m, 0, 0);
}

/* Axis-aligned bounding box of m's vertices (m->nv > 0). */
static void mesh_bounds(const RdMesh *m, float lo[3], float hi[3]) {
    for (int j = 0; j < 3; j++)
        lo[j] = hi[j] = m->pos[j];
    for (int i = 1; i < m->nv; i++)
        for (int j = 0; j < 3; j++) {
            float v = m->pos[3 * i + j];
            lo[j] = v < lo[j] ? v : lo[j];
            hi[j] = v > hi[j] ? v : hi[j];
        }
}


int rd_mesh_normalize_unit(RdMesh *m) {
    if (m->nv == 0) return -1;
    float lo[3], hi[3];
    mesh_bounds(m, lo, hi);
    double c[3], r2 = 0;
    for (int j = 0; j < 3; j++)
        c[j] = 0.5 * ((double)lo[j] + (double)hi[j]);
    for (int i = 0; i < m->nv; i++) {
        double d2 = 0;
        for (int j = 0; j < 3; j++) {
            double d = m->pos[3 * i + j] - c[j];
            d2 += d * d;
        }
        r2 = d2 > r2 ? d2 : r2;
    }
    if (!(r2 > 1e-24) || !isfinite(r2)) return -1;
    double s = 1.0 / sqrt(r2);
    for (int i = 0; i < m->nv; i++)
        for (int j = 0; j < 3; j++)
            m->pos[3 * i + j] = (float)((m->pos[3 * i + j] - c[j]) * s);
    return 0;
}

void rd_mesh_transform(RdMesh *m, int first, const float A[9], const float t[3]) {
    /* Cofactor matrix = det * inverse transpose: maps normals up to scale. */
    float C[9] = {
        A[4] * A[8] - A[5] * A[7], A[5] * A[6] - A[3] * A[8], A[3] * A[7] - A[4] * A[6],
        A[2] * A[7] - A[1] * A[8], A[0] * A[8] - A[2] * A[6], A[1] * A[6] - A[0] * A[7],
        A[1] * A[5] - A[2] * A[4], A[2] * A[3] - A[0] * A[5], A[0] * A[4] - A[1] * A[3],
    };
    float det = A[0] * C[0] + A[1] * C[1] + A[2] * C[2];
    WM_ASSERT(det > 0); /* a mirror would turn the triangles inside out */
    for (int i = first; i < m->nv; i++) {
        float *p = m->pos + 3 * i, *n = m->nrm + 3 * i;
        float q[3], k[3];
        for (int r = 0; r < 3; r++) {
            q[r] = A[3 * r] * p[0] + A[3 * r + 1] * p[1] + A[3 * r + 2] * p[2] + (t ? t[r] : 0);
            k[r] = C[3 * r] * n[0] + C[3 * r + 1] * n[1] + C[3 * r + 2] * n[2];
        }
        memcpy(p, q, sizeof q);
        normalize3(k, n);
        memcpy(n, k, sizeof k);
    }
}

void rd_mesh_paint(RdMesh *m, int first, const uint8_t rgba[4]) {
    for (int i = first; i < m->nv; i++)
        memcpy(m->rgba + 4 * i, rgba, 4);
}

void rd_mesh_append(RdMesh *dst, const RdMesh *src) {
    int v0 = dst->nv;
    reserve_v(dst, dst->nv + src->nv);
    reserve_t(dst, dst->nt + src->nt);
    memcpy(dst->pos + 3 * (size_t)v0, src->pos, (size_t)src->nv * 3 * sizeof(float));
    memcpy(dst->nrm + 3 * (size_t)v0, src->nrm, (size_t)src->nv * 3 * sizeof(float));
    memcpy(dst->rgba + 4 * (size_t)v0, src->rgba, (size_t)src->nv * 4);
    dst->nv += src->nv;
    for (int t = 0; t < src->nt; t++) {
        uint32_t *d = dst->idx + 3 * (size_t)(dst->nt + t);
        for (int j = 0; j < 3; j++)
            d[j] = src->idx[3 * t + j] + (uint32_t)v0;
    }
    dst->nt += src->nt;
}

/* ---- level of detail by vertex clustering ---- */

static uint64_t cell_key(int x, int y, int z) {
    return ((uint64_t)(uint32_t)x << 42) ^ ((uint64_t)(uint32_t)y << 21) ^ (uint64_t)(uint32_t)z;
}

/* Clusters m's vertices on a g^3 grid over its bounding box into out. */
static void cluster(const RdMesh *m, int g, RdMesh *out) {
    rd_mesh_clear(out);
    float lo[3], hi[3];
    mesh_bounds(m, lo, hi);
    float ext = 0;
    for (int j = 0; j < 3; j++)
        ext = hi[j] - lo[j] > ext ? hi[j] - lo[j] : ext;
    float cell = ext > 0 ? ext / (float)g : 1;
    size_t cap = 16;
    while (cap < (size_t)m->nv * 2)
        cap *= 2;
    uint64_t *keys = wm_new(uint64_t, cap);
    int *slot = wm_new(int, cap);
    for (size_t i = 0; i < cap; i++)
        slot[i] = -1;
    int *remap = wm_new(int, (size_t)m->nv);
    double *acc = wm_new(double, (size_t)m->nv * 3);
    int *cnt = wm_new(int, (size_t)m->nv);
    for (int i = 0; i < m->nv; i++) {
        int c[3];
        for (int j = 0; j < 3; j++) {
            int v = (int)floorf((m->pos[3 * i + j] - lo[j]) / cell);
            c[j] = v < 0 ? 0 : v >= g ? g - 1 : v;
        }
        uint64_t k = cell_key(c[0], c[1], c[2]);
        size_t h = wm_mix64(k) & (cap - 1);
        while (slot[h] >= 0 && keys[h] != k)
            h = (h + 1) & (cap - 1);
        if (slot[h] < 0) {
            keys[h] = k;
            slot[h] = rd_mesh_vertex(out, m->pos + 3 * i, NULL, m->rgba + 4 * i);
        }
        int o = slot[h];
        remap[i] = o;
        for (int j = 0; j < 3; j++)
            acc[3 * o + j] += m->pos[3 * i + j];
        cnt[o]++;
    }
    for (int o = 0; o < out->nv; o++)
        for (int j = 0; j < 3; j++)
            out->pos[3 * o + j] = (float)(acc[3 * o + j] / cnt[o]);
    for (int t = 0; t < m->nt; t++) {
        int a = remap[m->idx[3 * t]], b = remap[m->idx[3 * t + 1]], c = remap[m->idx[3 * t + 2]];
        if (a != b && b != c && a != c) rd_mesh_tri(out, a, b, c);
    }
    rd_mesh_compute_normals(out);
    wm_free(keys);
    wm_free(slot);
    wm_free(remap);
    wm_free(acc);
    wm_free(cnt);
}

void rd_mesh_simplify(RdMesh *m, int max_tris) {
    if (m->nt <= max_tris || m->nv == 0 || max_tris < 1) return;
    /* A closed surface on a g^3 grid keeps on the order of 4 g^2 triangles. */
    int g = (int)sqrt((double)max_tris / 4.0) + 2;
    RdMesh out = {0};
    for (;;) {
        cluster(m, g, &out);
        if (out.nt <= max_tris || g <= 2) break;
        int ng = (int)(g * sqrt((double)max_tris / out.nt) * 0.97);
        g = ng < g ? ng : g - 1;
        if (g < 2) g = 2;
    }
    rd_mesh_free(m);
    *m = out;
}

/* ---- primitives ---- */

void rd_mesh_lathe(RdMesh *m, const float *r, const float *y, int n, int seg,
                   const uint8_t rgba[4]) {
    WM_ASSERT(n >= 2 && seg >= 3);
    int v0 = m->nv, t0 = m->nt;
    int first = 0, last = n - 1;
    int bottom_pole = -1, top_pole = -1;
    if (r[0] <= 0) {
        bottom_pole = rd_mesh_vertex(m, (float[3]){0, y[0], 0}, NULL, rgba);
        first = 1;
    }
    if (r[n - 1] <= 0) {
        top_pole = rd_mesh_vertex(m, (float[3]){0, y[n - 1], 0}, NULL, rgba);
        last = n - 2;
    }
    WM_ASSERT(first <= last);
    int ring0 = m->nv;
    for (int i = first; i <= last; i++)
        for (int j = 0; j < seg; j++) {
            double a = 2 * M_PI * j / seg;
            rd_mesh_vertex(m, (float[3]){r[i] * (float)cos(a), y[i], r[i] * (float)sin(a)}, NULL,
                           rgba);
        }
#define RING(i, j) (ring0 + ((i)-first) * seg + ((j) % seg))
    for (int i = first; i < last; i++)
        for (int j = 0; j < seg; j++) {
            rd_mesh_tri(m, RING(i, j), RING(i + 1, j), RING(i, j + 1));
            rd_mesh_tri(m, RING(i, j + 1), RING(i + 1, j), RING(i + 1, j + 1));
        }
    if (bottom_pole >= 0)
        for (int j = 0; j < seg; j++)
            rd_mesh_tri(m, bottom_pole, RING(first, j), RING(first, j + 1));
    if (top_pole >= 0)
        for (int j = 0; j < seg; j++)
            rd_mesh_tri(m, RING(last, j), top_pole, RING(last, j + 1));
#undef RING
    normals_range(m, v0, t0);
    /* Flat caps get their own vertices so the rim keeps a hard edge. */
    for (int end = 0; end < 2; end++) {
        int i = end ? last : first;
        if ((end == 0 && bottom_pole >= 0) || (end == 1 && top_pole >= 0)) continue;
        float ny = end ? 1.f : -1.f;
        int c = rd_mesh_vertex(m, (float[3]){0, y[i], 0}, (float[3]){0, ny, 0}, rgba);
        int c0 = m->nv;
        for (int j = 0; j < seg; j++) {
            double a = 2 * M_PI * j / seg;
            rd_mesh_vertex(m, (float[3]){r[i] * (float)cos(a), y[i], r[i] * (float)sin(a)},
                           (float[3]){0, ny, 0}, rgba);
        }
        for (int j = 0; j < seg; j++) {
            int p = c0 + j, q = c0 + (j + 1) % seg;
            if (end)
                rd_mesh_tri(m, c, q, p);
            else
                rd_mesh_tri(m, c, p, q);
        }
    }
}

void rd_mesh_tube(RdMesh *m, const float *c, const float *r, int n, int seg,
                  const uint8_t rgba[4]) {
    WM_ASSERT(n >= 2 && seg >= 3);
    int v0 = m->nv, t0 = m->nt;
    float nprev[3] = {0, 0, 0};
    float *ring_t = wm_new(float, 3 * (size_t)n);
    int ring0 = m->nv;
    for (int i = 0; i < n; i++) {
        const float *a = c + 3 * (i > 0 ? i - 1 : 0), *b = c + 3 * (i < n - 1 ? i + 1 : n - 1);
        float t[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        static const float zx[3] = {1, 0, 0};
        normalize3(t, zx);
        memcpy(ring_t + 3 * i, t, sizeof t);
        float nn[3];
        if (i == 0) {
            /* Any vector not parallel to t starts the parallel-transported frame. */
            float h[3] = {0, 0, 0};
            int k = fabsf(t[0]) < fabsf(t[1]) ? (fabsf(t[0]) < fabsf(t[2]) ? 0 : 2)
                                              : (fabsf(t[1]) < fabsf(t[2]) ? 1 : 2);
            h[k] = 1;
            float d = h[0] * t[0] + h[1] * t[1] + h[2] * t[2];
            for (int j = 0; j < 3; j++)
                nn[j] = h[j] - d * t[j];
        } else {
            float d = nprev[0] * t[0] + nprev[1] * t[1] + nprev[2] * t[2];
            for (int j = 0; j < 3; j++)
                nn[j] = nprev[j] - d * t[j];
        }
        normalize3(nn, zx);
        memcpy(nprev, nn, sizeof nn);
        float bb[3];
        cross3(t, nn, bb);
        for (int j = 0; j < seg; j++) {
            double a2 = 2 * M_PI * j / seg;
            float ca = (float)cos(a2), sa = (float)sin(a2), p[3];
            for (int k = 0; k < 3; k++)
                p[k] = c[3 * i + k] + r[i] * (ca * nn[k] + sa * bb[k]);
            rd_mesh_vertex(m, p, NULL, rgba);
        }
    }
#define RING(i, j) (ring0 + (i)*seg + ((j) % seg))
    for (int i = 0; i < n - 1; i++)
        for (int j = 0; j < seg; j++) {
            rd_mesh_tri(m, RING(i, j), RING(i, j + 1), RING(i + 1, j));
            rd_mesh_tri(m, RING(i, j + 1), RING(i + 1, j + 1), RING(i + 1, j));
        }
#undef RING
    normals_range(m, v0, t0);
    for (int end = 0; end < 2; end++) {
        int i = end ? n - 1 : 0;
        if (r[i] <= 0) continue;
        float nn[3];
        for (int k = 0; k < 3; k++)
            nn[k] = end ? ring_t[3 * i + k] : -ring_t[3 * i + k];
        int ctr = rd_mesh_vertex(m, c + 3 * i, nn, rgba);
        int c0 = m->nv;
        for (int j = 0; j < seg; j++) {
            float q[3]; /* a copy: adding a vertex may move m->pos */
            memcpy(q, m->pos + 3 * (ring0 + i * seg + j), sizeof q);
            rd_mesh_vertex(m, q, nn, rgba);
        }
        for (int j = 0; j < seg; j++) {
            int p = c0 + j, q = c0 + (j + 1) % seg;
            if (end)
                rd_mesh_tri(m, ctr, p, q);
            else
                rd_mesh_tri(m, ctr, q, p);
        }
    }
    wm_free(ring_t);
}

static float spow(float v, float e) {
    return v < 0 ? -powf(-v, e) : powf(v, e);
}

void rd_mesh_superellipsoid(RdMesh *m, const float a[3], float e1, float e2, int seg, int rings,
                            const uint8_t rgba[4]) {
    WM_ASSERT(seg >= 3 && rings >= 2);
    int v0 = m->nv, t0 = m->nt;
    int south = rd_mesh_vertex(m, (float[3]){0, -a[1], 0}, NULL, rgba);
    int north = rd_mesh_vertex(m, (float[3]){0, a[1], 0}, NULL, rgba);
    int ring0 = m->nv;
    for (int i = 1; i < rings; i++) {
        double eta = -M_PI / 2 + M_PI * i / rings;
        float ce = spow((float)cos(eta), e1), se = spow((float)sin(eta), e1);
        for (int j = 0; j < seg; j++) {
            double w = 2 * M_PI * j / seg;
            float cw = spow((float)cos(w), e2), sw = spow((float)sin(w), e2);
            rd_mesh_vertex(m, (float[3]){a[0] * ce * cw, a[1] * se, a[2] * ce * sw}, NULL, rgba);
        }
    }
#define RING(i, j) (ring0 + ((i)-1) * seg + ((j) % seg))
    for (int i = 1; i < rings - 1; i++)
        for (int j = 0; j < seg; j++) {
            rd_mesh_tri(m, RING(i, j), RING(i + 1, j), RING(i, j + 1));
            rd_mesh_tri(m, RING(i, j + 1), RING(i + 1, j), RING(i + 1, j + 1));
        }
    for (int j = 0; j < seg; j++) {
        rd_mesh_tri(m, south, RING(1, j), RING(1, j + 1));
        rd_mesh_tri(m, RING(rings - 1, j), north, RING(rings - 1, j + 1));
    }
#undef RING
    normals_range(m, v0, t0);
}

void rd_mesh_box(RdMesh *m, const float c[3], const float h[3], const uint8_t rgba[4]) {
    for (int axis = 0; axis < 3; axis++)
        for (int s = -1; s <= 1; s += 2) {
            int u = (axis + 1) % 3, v = (axis + 2) % 3;
            if (s < 0) {
                int tmp = u;
                u = v, v = tmp;
            }
            float n[3] = {0, 0, 0}, p[3];
            n[axis] = (float)s;
            int base = m->nv;
            for (int k = 0; k < 4; k++) {
                float du = (k == 1 || k == 2) ? 1.f : -1.f, dv = (k >= 2) ? 1.f : -1.f;
                p[axis] = c[axis] + s * h[axis];
                p[u] = c[u] + du * h[u];
                p[v] = c[v] + dv * h[v];
                rd_mesh_vertex(m, p, n, rgba);
            }
            rd_mesh_tri(m, base, base + 1, base + 2);
            rd_mesh_tri(m, base, base + 2, base + 3);
        }
}

void rd_mesh_prism(RdMesh *m, const float *x, const float *z, int n, float y0, float y1,
                   const uint8_t rgba[4]) {
    WM_ASSERT(n >= 3 && y1 > y0);
    double s = 0;
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        s += (double)z[i] * x[j] - (double)x[i] * z[j];
    }
    int flip = s < 0;
    /* caps */
    for (int top = 0; top < 2; top++) {
        float y = top ? y1 : y0, nn[3] = {0, top ? 1.f : -1.f, 0};
        int ctr = rd_mesh_vertex(m, (float[3]){0, y, 0}, nn, rgba);
        int b = m->nv;
        for (int i = 0; i < n; i++)
            rd_mesh_vertex(m, (float[3]){x[i], y, z[i]}, nn, rgba);
        for (int i = 0; i < n; i++) {
            int p = b + i, q = b + (i + 1) % n;
            if (top ^ flip)
                rd_mesh_tri(m, ctr, p, q);
            else
                rd_mesh_tri(m, ctr, q, p);
        }
    }
    /* sides, flat */
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        float dx = x[j] - x[i], dz = z[j] - z[i];
        float nn[3] = {-dz, 0, dx};
        if (flip) nn[0] = dz, nn[2] = -dx;
        static const float fx[3] = {1, 0, 0};
        normalize3(nn, fx);
        int b = m->nv;
        rd_mesh_vertex(m, (float[3]){x[i], y0, z[i]}, nn, rgba);
        rd_mesh_vertex(m, (float[3]){x[j], y0, z[j]}, nn, rgba);
        rd_mesh_vertex(m, (float[3]){x[j], y1, z[j]}, nn, rgba);
        rd_mesh_vertex(m, (float[3]){x[i], y1, z[i]}, nn, rgba);
        if (!flip) {
            rd_mesh_tri(m, b, b + 1, b + 2);
            rd_mesh_tri(m, b, b + 2, b + 3);
        } else {
            rd_mesh_tri(m, b, b + 2, b + 1);
            rd_mesh_tri(m, b, b + 3, b + 2);
        }
    }
}
