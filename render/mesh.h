/* Triangle meshes on the CPU: building blocks for procedural shapes, normals,
 * normalisation to the unit sphere, level-of-detail reduction, and the OBJ reader.
 * Nothing here touches OpenGL, so it runs under the sanitizers. */
#ifndef RD_MESH_H
#define RD_MESH_H

#include <stddef.h>
#include <stdint.h>

/* Vertices carry a position, a unit normal and an RGBA colour; triangles index them
 * counter-clockwise seen from outside. */
typedef struct RdMesh {
    float *pos;    /* 3 per vertex */
    float *nrm;    /* 3 per vertex */
    uint8_t *rgba; /* 4 per vertex */
    uint32_t *idx; /* 3 per triangle */
    int nv, nt;    /* vertices, triangles */
    int cap_v, cap_t;
} RdMesh;

/* Limits that keep every count and byte size far inside int and size_t. */
#define RD_MESH_MAX_VERTS (1 << 24)
#define RD_MESH_MAX_TRIS  (1 << 24)

void rd_mesh_free(RdMesh *m);
void rd_mesh_clear(RdMesh *m); /* keeps the storage */
/* Appends a vertex (nrm may be NULL: zero, to be computed) and returns its index. */
int rd_mesh_vertex(RdMesh *m, const float p[3], const float n[3], const uint8_t rgba[4]);
void rd_mesh_tri(RdMesh *m, int a, int b, int c);
/* Bytes of CPU storage in use (for cache budgets). */
size_t rd_mesh_bytes(const RdMesh *m);

/* Smooth area-weighted vertex normals from the triangles (vertices shared by
 * triangles are smoothed; split vertices keep hard edges). */
void rd_mesh_compute_normals(RdMesh *m);
/* Centres the bounding box on the origin and scales so that the farthest vertex is at
 * distance 1. Returns 0, or -1 when the mesh is empty or all vertices coincide. */
int rd_mesh_normalize_unit(RdMesh *m);
/* Applies p' = A p + t to vertices [first, nv) (A row-major 3x3); normals get the
 * inverse transpose and are renormalised. */
void rd_mesh_transform(RdMesh *m, int first, const float A[9], const float t[3]);
/* Sets the colour of vertices [first, nv). */
void rd_mesh_paint(RdMesh *m, int first, const uint8_t rgba[4]);
/* Appends src to dst. */
void rd_mesh_append(RdMesh *dst, const RdMesh *src);
/* Reduces the triangle count to about max_tris or fewer by vertex clustering on a
 * grid (keeps the silhouette at small render sizes); normals are recomputed. Does
 * nothing when the mesh already has max_tris or fewer. */
void rd_mesh_simplify(RdMesh *m, int max_tris);

/* Primitives, each appended to m with its own vertices. `seg` is the number of
 * segments around, `rings` along; all take colour rgba. */

/* A surface of revolution about +y: profile points (r_i, y_i), i = 0..n-1, from bottom
 * to top; a zero radius at either end closes that end. */
void rd_mesh_lathe(RdMesh *m, const float *r, const float *y, int n, int seg,
                   const uint8_t rgba[4]);
/* A tube of radius r(s) swept along points c[3*i], i = 0..n-1, closed with caps. */
void rd_mesh_tube(RdMesh *m, const float *c, const float *r, int n, int seg, const uint8_t rgba[4]);
/* A superellipsoid with half-axes a[3] and exponents e1 (latitude) and e2 (longitude):
 * 1 gives an ellipsoid, near 0 a box, 2 an octahedron. Centre at the origin. */
void rd_mesh_superellipsoid(RdMesh *m, const float a[3], float e1, float e2, int seg, int rings,
                            const uint8_t rgba[4]);
/* An axis-aligned box with half-extents h[3] centred at c[3] (flat faces). */
void rd_mesh_box(RdMesh *m, const float c[3], const float h[3], const uint8_t rgba[4]);
/* A prism: the closed polygon (x_i, z_i), i = 0..n-1 (counter-clockwise seen from +y,
 * star-shaped about the origin), extruded from y0 to y1 with flat faces. */
void rd_mesh_prism(RdMesh *m, const float *x, const float *z, int n, float y0, float y1,
                   const uint8_t rgba[4]);

/* Wavefront OBJ: v (x y z [w]), vt, vn, f with v, v/t, v//n, v/t/n references,
 * negative (relative) indices, polygons fan-triangulated; other statements (o g s
 * usemtl mtllib l p) are ignored. Normals from the file are used when every face
 * vertex has one, otherwise computed. Errors name the file (`name`) and line:
 * an index of 0 or out of range, a malformed number, a face with fewer than 3
 * vertices, no faces, NUL bytes or non-text input, more than RD_MESH_MAX_* items.
 * The result is not normalised (see rd_mesh_normalize_unit). Colour is mid grey. */
int rd_obj_parse(const char *text, size_t len, const char *name, RdMesh *out, char *err,
                 size_t errsz);
int rd_obj_load(const char *path, RdMesh *out, char *err, size_t errsz);

#endif
