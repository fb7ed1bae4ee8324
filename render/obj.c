/* Wavefront OBJ reader: positions, normals and polygon faces into an RdMesh, with
 * an error naming the file and line for anything it cannot use. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "render/mesh.h"

typedef struct {
    int v, n; /* 0-based position and normal index (n = -1: none) */
} Corner;

typedef struct {
    float *v;
    int nv, cap_v;
    float *vn;
    int nn, cap_n;
    int nvt;
    Corner *c; /* face corners, faces separated by their counts */
    int nc, cap_c;
    int *fsize; /* corners per face */
    int nf, cap_f;
} ObjData;

static void obj_free(ObjData *d) {
    wm_free(d->v);
    wm_free(d->vn);
    wm_free(d->c);
    wm_free(d->fsize);
}

#define GROW(ptr, n, cap, per, type)                                                               \
    do {                                                                                           \
        if ((n) >= (cap)) {                                                                        \
            (cap) = (cap) ? 2 * (cap) : 256;                                                       \
            (ptr) = (type *)wm_realloc((ptr), (size_t)(cap) * (per), sizeof(type));                \
        }                                                                                          \
    } while (0)

/* The next whitespace-separated token of [*p, end) on this line, or NULL. */
static const char *token(const char **p, const char *end, size_t *len) {
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    if (s >= end) {
        *p = s;
        return NULL;
    }
    const char *e = s;
    while (e < end && *e != ' ' && *e != '\t')
        e++;
    *p = e;
    *len = (size_t)(e - s);
    return s;
}

static int parse_float(const char *s, size_t len, float *out) {
    char buf[64];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    double v = strtod(buf, &end);
    if (end != buf + len || !isfinite(v) || fabs(v) > 1e30) return -1;
    *out = (float)v;
    return 0;
}

/* An OBJ index (1-based, or negative relative to count) to 0-based; -1 when bad. */
static int parse_index(const char *s, size_t len, int count, int *out) {
    char buf[32];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    long v = strtol(buf, &end, 10);
    if (end != buf + len) return -1;
    /* Compared without negating v: -LONG_MIN overflows. */
    if (v > 0 && v <= count)
        *out = (int)(v - 1);
    else if (v < 0 && v >= -(long)count)
        *out = (int)(count + v);
    else
        return -2;
    return 0;
}

int rd_obj_parse(const char *text, size_t len, const char *name, RdMesh *out, char *err,
                 size_t errsz) {
    memset(out, 0, sizeof *out);
    if (len == 0) return wm_errf(err, errsz, WM_ERR_FORMAT, "%s: empty OBJ file", name);
    if (memchr(text, 0, len))
        return wm_errf(err, errsz, WM_ERR_FORMAT, "%s: not an OBJ text file (NUL bytes)", name);
    ObjData d = {0};
    int rc = WM_OK;
    const char *p = text, *end = text + len;
    int line = 0;
    while (p < end && rc == WM_OK) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *le = eol;
        if (le > p && le[-1] == '\r') le--;
        const char *q = p;
        p = eol + 1;
        size_t tl;
        const char *kw = token(&q, le, &tl);
        if (!kw || kw[0] == '#') continue;
        if (tl == 1 && kw[0] == 'v') {
            if (d.nv >= RD_MESH_MAX_VERTS) {
                rc = wm_errf(err, errsz, WM_ERR_RANGE, "%s:%d: more than %d vertices", name, line,
                             RD_MESH_MAX_VERTS);
                break;
            }
            float xyz[3];
            int k = 0;
            const char *t;
            while ((t = token(&q, le, &tl)) != NULL) {
                float f;
                if (parse_float(t, tl, &f)) {
                    rc = wm_errf(err, errsz, WM_ERR_PARSE, "%s:%d: bad number '%.*s' in vertex",
                                 name, line, (int)(tl > 40 ? 40 : tl), t);
                    break;
                }
                if (k < 3) xyz[k] = f;
                k++;
            }
            if (rc) break;
            if (k < 3 || k > 7) {
                rc = wm_errf(err, errsz, WM_ERR_PARSE,
                             "%s:%d: a vertex needs 3 coordinates (x y z [w]), got %d", name, line,
                             k);
                break;
            }
            GROW(d.v, d.nv, d.cap_v, 3, float);
            memcpy(d.v + 3 * (size_t)d.nv++, xyz, sizeof xyz);
        } else if (tl == 2 && kw[0] == 'v' && kw[1] == 'n') {
            float n[3];
            int k = 0;
            const char *t;
            while ((t = token(&q, le, &tl)) != NULL && k < 4) {
                if (k < 3 && parse_float(t, tl, &n[k])) k = 99;
                k++;
            }
            if (k != 3) {
                rc = wm_errf(err, errsz, WM_ERR_PARSE, "%s:%d: a normal needs 3 numbers", name,
                             line);
                break;
            }
            if (d.nn >= RD_MESH_MAX_VERTS) {
                rc = wm_errf(err, errsz, WM_ERR_RANGE, "%s:%d: too many normals", name, line);
                break;
            }
            GROW(d.vn, d.nn, d.cap_n, 3, float);
            memcpy(d.vn + 3 * (size_t)d.nn++, n, sizeof n);
        } else if (tl == 2 && kw[0] == 'v' && kw[1] == 't') {
            const char *t = token(&q, le, &tl);
            float f;
            if (!t || parse_float(t, tl, &f)) {
                rc = wm_errf(err, errsz, WM_ERR_PARSE, "%s:%d: bad texture coordinate", name, line);
                break;
            }
            d.nvt++;
        } else if (tl == 1 && kw[0] == 'f') {
            int k = 0;
            const char *t;
            while ((t = token(&q, le, &tl)) != NULL) {
                /* v, v/t, v//n, v/t/n */
                const char *s1 = memchr(t, '/', tl);
                size_t l0 = s1 ? (size_t)(s1 - t) : tl;
                const char *tt = NULL, *nt = NULL;
                size_t lt = 0, ln = 0;
                if (s1) {
                    const char *rest = s1 + 1, *tend = t + tl;
                    const char *s2 = memchr(rest, '/', (size_t)(tend - rest));
                    tt = rest;
                    lt = s2 ? (size_t)(s2 - rest) : (size_t)(tend - rest);
                    if (s2) {
                        nt = s2 + 1;
                        ln = (size_t)(tend - nt);
                        if (memchr(nt, '/', ln)) {
                            rc = wm_errf(err, errsz, WM_ERR_PARSE, "%s:%d: bad face vertex '%.*s'",
                                         name, line, (int)(tl > 40 ? 40 : tl), t);
                            break;
                        }
                    }
                }
                Corner c = {0, -1};
                int r1 = parse_index(t, l0, d.nv, &c.v);
                int tmp, r2 = lt ? parse_index(tt, lt, d.nvt, &tmp) : 0;
                int r3 = (nt && ln) ? parse_index(nt, ln, d.nn, &c.n) : 0;
                if (nt && !ln) r3 = -1;
                if (r1 || r2 || r3) {
                    const char *what = r1 ? "vertex" : r2 ? "texture coordinate" : "normal";
                    int bad = r1 ? r1 : r2 ? r2 : r3;
                    int have = r1 ? d.nv : r2 ? d.nvt : d.nn;
                    if (bad == -2)
                        rc = wm_errf(err, errsz, WM_ERR_RANGE,
                                     "%s:%d: face refers to %s '%.*s' but %d are defined so far",
                                     name, line, what, (int)(tl > 40 ? 40 : tl), t, have);
                    else
                        rc = wm_errf(err, errsz, WM_ERR_PARSE, "%s:%d: bad %s index in '%.*s'",
                                     name, line, what, (int)(tl > 40 ? 40 : tl), t);
                    break;
                }
                if (d.nc >= 3 * RD_MESH_MAX_TRIS) {
                    rc = wm_errf(err, errsz, WM_ERR_RANGE, "%s:%d: too many faces", name, line);
                    break;
                }
                GROW(d.c, d.nc, d.cap_c, 1, Corner);
                d.c[d.nc++] = c;
                k++;
            }
            if (rc) break;
            if (k < 3) {
                rc = wm_errf(err, errsz, WM_ERR_PARSE,
                             "%s:%d: a face needs at least 3 vertices, got %d", name, line, k);
                break;
            }
            GROW(d.fsize, d.nf, d.cap_f, 1, int);
            d.fsize[d.nf++] = k;
        }
        /* o g s usemtl mtllib l p and anything else: not geometry we draw */
    }
    if (rc == WM_OK && d.nf == 0)
        rc = wm_errf(err, errsz, WM_ERR_FORMAT, "%s: no faces (%d vertices)", name, d.nv);
    if (rc != WM_OK) {
        obj_free(&d);
        return rc;
    }
    long long ntri = 0;
    for (int f = 0; f < d.nf; f++)
        ntri += d.fsize[f] - 2;
    if (ntri > RD_MESH_MAX_TRIS) {
        obj_free(&d);
        return wm_errf(err, errsz, WM_ERR_RANGE, "%s: %lld triangles, more than %d", name, ntri,
                       RD_MESH_MAX_TRIS);
    }
    int use_normals = d.nn > 0;
    for (int i = 0; i < d.nc && use_normals; i++)
        if (d.c[i].n < 0) use_normals = 0;
    /* One mesh vertex per distinct (position, normal) pair. */
    size_t cap = 16;
    while (cap < (size_t)d.nc * 2)
        cap *= 2;
    int *slot = wm_new(int, cap);
    uint64_t *key = wm_new(uint64_t, cap);
    for (size_t i = 0; i < cap; i++)
        slot[i] = -1;
    static const uint8_t grey[4] = {170, 170, 170, 255};
    int *vid = wm_new(int, (size_t)d.nc);
    for (int i = 0; i < d.nc; i++) {
        uint64_t k = ((uint64_t)(uint32_t)d.c[i].v << 32) | (uint32_t)(use_normals ? d.c[i].n : 0);
        uint64_t h0 = k * 0x9e3779b97f4a7c15ULL;
        size_t h = (size_t)(h0 >> 20) & (cap - 1);
        while (slot[h] >= 0 && key[h] != k)
            h = (h + 1) & (cap - 1);
        if (slot[h] < 0) {
            key[h] = k;
            float n[3] = {0, 0, 0};
            if (use_normals) {
                memcpy(n, d.vn + 3 * (size_t)d.c[i].n, sizeof n);
                float l = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
                if (l > 1e-20f)
                    n[0] /= l, n[1] /= l, n[2] /= l;
                else
                    n[1] = 1;
            }
            slot[h] = rd_mesh_vertex(out, d.v + 3 * (size_t)d.c[i].v, n, grey);
        }
        vid[i] = slot[h];
    }
    int c0 = 0;
    for (int f = 0; f < d.nf; f++) {
        for (int k = 1; k + 1 < d.fsize[f]; k++) {
            int a = vid[c0], b = vid[c0 + k], c = vid[c0 + k + 1];
            if (a != b && b != c && a != c) rd_mesh_tri(out, a, b, c);
        }
        c0 += d.fsize[f];
    }
    wm_free(slot);
    wm_free(key);
    wm_free(vid);
    obj_free(&d);
    if (out->nt == 0) {
        rd_mesh_free(out);
        return wm_errf(err, errsz, WM_ERR_FORMAT, "%s: every face is degenerate", name);
    }
    if (!use_normals) rd_mesh_compute_normals(out);
    return WM_OK;
}

int rd_obj_load(const char *path, RdMesh *out, char *err, size_t errsz) {
    memset(out, 0, sizeof *out);
    char *text = NULL;
    size_t len = 0;
    int rc = wm_read_file(path, &text, &len, err, errsz);
    if (rc) return rc;
    rc = rd_obj_parse(text, len, path, out, err, errsz);
    wm_free(text);
    return rc;
}
