/* Batched object views: one array layer per view, one multi-draw for the objects,
 * one instanced draw for the floors, one readback per pass (the worker farm that
 * runs several scenes at once is in farm.c). */
#include "render/scene.h"

#include <GL/glew.h>
#include <cglm/cglm.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/pool.h"
#include "core/rng.h"

/* Per-view instance attributes (floats). The object needs its rotation rows,
 * translation, the spot's position and colour; the floor needs the spot's pool as a
 * quadratic in the floor's (x, z) (the cone meets the plane in a conic, so the pool
 * costs a few multiply-adds per pixel instead of a normalisation and a smoothstep),
 * and its colours premultiplied, all computed once per view on the CPU. */
enum {
    INST_R0 = 0,        /* 3 rows of 3 */
    INST_T = 9,         /* translation */
    INST_SPOT = 12,     /* spot position */
    INST_SPOT_RGB = 15, /* spot colour */
    INST_LAYER = 18,
    INST_Q1 = 19,    /* pool quadratic: x^2, xz, z^2 */
    INST_Q2 = 22,    /* pool quadratic: x, z, 1 */
    INST_LIN = 25,   /* the pool's forward half-space: x, z, 1 */
    INST_BASE = 28,  /* floor albedo * ambient */
    INST_SUN = 31,   /* floor albedo * sun on the floor */
    INST_SPOTC = 34, /* floor albedo * spot colour * spot's incidence on the floor */
    INST_FLOATS = 37
};
enum { VERT_BYTES = 28 }; /* position 3f, normal 3f, colour 4ub */
#define FLOOR_HALF_EXTENT 40.0f
#define CAM_NEAR          0.1f
#define CAM_FAR           100.0f
#define MAX_BATCH         256
#define STAGING_BYTES     ((size_t)256 << 10) /* readback staging: fits a core's L2 */
#define CACHE_SLOTS       16384 /* meshes resident at once (hash slots; half used at most) */

typedef struct {
    GLuint count, instance_count, first_index;
    GLint base_vertex;
    GLuint base_instance;
} DrawCmd;

typedef struct {
    uint64_t key;
    int used;
    GLint base_vertex;
    GLuint first_index, count;
} CacheSlot;

#define MAX_TARGETS 10 /* layer counts 1, 2, 4, ..., 256 */

struct RdScene {
    int size, batch, layered, has_mdi, has_subimage;
    /* Targets of 1, 2, 4, ... layers: a pass clears and draws into the smallest that
     * holds it, so small calls do not pay for clearing a whole batch's layers. */
    RdTarget targets[MAX_TARGETS];
    RdTarget *target; /* of the last pass */
    GLuint prog_obj, prog_floor;
    GLuint vao_obj, vao_floor, vbo, ibo, inst_buf, cmd_buf, quad_buf;
    int cap_v, cap_i, used_v, used_i;
    CacheSlot *slots;
    int nslots_used;
    float *inst;
    DrawCmd *cmds;
    uint8_t *staging;
    uint8_t *vtmp;
    size_t vtmp_cap;
};

/* ---- the studio ---- */

static void eye_position(vec3 eye) {
    float el = RD_CAM_ELEV_DEG * (float)M_PI / 180.f;
    eye[0] = 0, eye[1] = RD_CAM_DIST * sinf(el), eye[2] = RD_CAM_DIST * cosf(el);
}

void rd_scene_view_proj(float vp[16]) {
    mat4 view, proj, m;
    vec3 eye, center = {0, 0, 0}, up = {0, 1, 0};
    eye_position(eye);
    glm_lookat(eye, center, up, view);
    glm_perspective(RD_CAM_FOV_DEG * (float)M_PI / 180.f, 1.0f, CAM_NEAR, CAM_FAR, proj);
    glm_mat4_mul(proj, view, m);
    memcpy(vp, m, sizeof m);
}

int rd_scene_project(int size, const float world[3], float *px, float *py) {
    float vpf[16];
    rd_scene_view_proj(vpf);
    mat4 vp;
    memcpy(vp, vpf, sizeof vp);
    vec4 p = {world[0], world[1], world[2], 1}, c;
    glm_mat4_mulv(vp, p, c);
    if (c[3] <= 1e-6f) return 0;
    *px = (c[0] / c[3] + 1) * 0.5f * (float)size;
    *py = (1 - c[1] / c[3]) * 0.5f * (float)size;
    return 1;
}

/* ---- GL setup ---- */

/* The studio's fixed lights (the spot is per view). */
static const float k_sun_dir_raw[3] = {-0.45f, 0.8f, 0.4f};
static const float k_sun_rgb[3] = {0.62f, 0.60f, 0.56f};
static const float k_ambient[3] = {0.22f, 0.23f, 0.26f};

static void sun_dir(float d[3]) {
    float n = sqrtf(k_sun_dir_raw[0] * k_sun_dir_raw[0] + k_sun_dir_raw[1] * k_sun_dir_raw[1] +
                    k_sun_dir_raw[2] * k_sun_dir_raw[2]);
    for (int i = 0; i < 3; i++)
        d[i] = k_sun_dir_raw[i] / n;
}

static void set_uniforms(RdScene *s) {
    float vpf[16];
    rd_scene_view_proj(vpf);
    /* Flip y so that row 0 in memory is the top of the image; this also flips the
     * winding, hence glFrontFace(GL_CW) when drawing. */
    for (int c = 0; c < 4; c++)
        vpf[4 * c + 1] = -vpf[4 * c + 1];
    vec3 eye;
    eye_position(eye);
    vec3 sun;
    sun_dir(sun);
    float cone[2] = {cosf(RD_SPOT_OUTER_DEG * (float)M_PI / 180.f),
                     cosf(RD_SPOT_INNER_DEG * (float)M_PI / 180.f)};
    GLuint p = s->prog_obj;
    glUseProgram(p);
    glUniformMatrix4fv(glGetUniformLocation(p, "u_vp"), 1, GL_FALSE, vpf);
    glUniform3fv(glGetUniformLocation(p, "u_eye"), 1, eye);
    glUniform3fv(glGetUniformLocation(p, "u_sun_dir"), 1, sun);
    glUniform3fv(glGetUniformLocation(p, "u_sun_rgb"), 1, k_sun_rgb);
    glUniform3fv(glGetUniformLocation(p, "u_ambient"), 1, k_ambient);
    glUniform2fv(glGetUniformLocation(p, "u_spot_cone"), 1, cone);
    glUniform1f(glGetUniformLocation(p, "u_shininess"), 24.0f);
    p = s->prog_floor;
    glUseProgram(p);
    glUniformMatrix4fv(glGetUniformLocation(p, "u_vp"), 1, GL_FALSE, vpf);
    glUniform2f(glGetUniformLocation(p, "u_floor"), RD_FLOOR_Y, FLOOR_HALF_EXTENT);
    glUniform2f(glGetUniformLocation(p, "u_shadow"), 1.0f / (0.95f * 0.95f), 0.5f);
    glUseProgram(0);
}

/* Instance attribute locations and where each sits in a view's record. */
static const struct {
    int loc, off, n;
} k_attribs[] = {{3, INST_R0, 3},    {4, INST_R0 + 3, 3}, {5, INST_R0 + 6, 3},
                 {6, INST_T, 3},     {7, INST_SPOT, 3},   {8, INST_SPOT_RGB, 3},
                 {9, INST_Q1, 3},    {10, INST_LAYER, 1}, {11, INST_Q2, 3},
                 {12, INST_LIN, 3},  {13, INST_BASE, 3},  {14, INST_SUN, 3},
                 {15, INST_SPOTC, 3}};

/* Enables the instance attributes whose locations are listed in locs. */
static void instance_attribs(GLuint buf, const int *locs, int n) {
    glBindBuffer(GL_ARRAY_BUFFER, buf);
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof k_attribs / sizeof k_attribs[0]; k++) {
            if (k_attribs[k].loc != locs[i]) continue;
            GLuint loc = (GLuint)k_attribs[k].loc;
            glEnableVertexAttribArray(loc);
            glVertexAttribPointer(loc, k_attribs[k].n, GL_FLOAT, GL_FALSE,
                                  INST_FLOATS * sizeof(float),
                                  (void *)(k_attribs[k].off * sizeof(float)));
            glVertexAttribDivisor(loc, 1);
        }
}

/* The smallest target with at least m layers (the layered path), made on first use. */
static int pick_target(RdScene *s, int m, char *err, size_t errsz) {
    int k = 0;
    if (s->layered)
        while ((1 << k) < m)
            k++;
    WM_ASSERT(k < MAX_TARGETS);
    RdTarget *t = &s->targets[k];
    if (!t->fbo) {
        int layers = 1 << k;
        if (layers > s->batch) layers = s->batch;
        if (!s->layered) layers = s->batch;
        int rc = rd_target_create(t, s->size, s->size, layers, err, errsz);
        if (rc) return rc;
        t->top_down = 1;
    }
    s->target = t;
    return WM_OK;
}

int rd_scene_create(const RdSceneDesc *d, RdScene **out, char *err, size_t errsz) {
    *out = NULL;
    if (d->size < 8 || d->size > 4096)
        return wm_errf(err, errsz, WM_ERR_RANGE, "render size %d is outside 8..4096 pixels", d->size);
    RdScene *s = wm_new(RdScene, 1);
    s->size = d->size;
    size_t per_view = (size_t)d->size * (size_t)d->size * 8; /* colour + depth */
    /* About 2 MB of target per pass: the layers just drawn are still in the core's
     * cache when they are read back (at 128 px this is a third faster than 16 MB). */
    int batch = d->batch > 0 ? d->batch : (int)((2u << 20) / per_view);
    if (batch < 1) batch = 1;
    if (batch > MAX_BATCH) batch = MAX_BATCH;
    s->batch = batch;
    GLint major = 0, minor = 0;
    glGetIntegerv(GL_MAJOR_VERSION, &major);
    glGetIntegerv(GL_MINOR_VERSION, &minor);
    int ver = major * 10 + minor;
    s->has_mdi = glMultiDrawElementsIndirect &&
                 (ver >= 43 || rd_gl_has_extension("GL_ARB_multi_draw_indirect"));
    s->has_subimage =
        glGetTextureSubImage && (ver >= 45 || rd_gl_has_extension("GL_ARB_get_texture_sub_image"));
    const char *vs_pre = "";
    if (!d->no_layers) {
        if (rd_gl_has_extension("GL_ARB_shader_viewport_layer_array"))
            vs_pre = "#extension GL_ARB_shader_viewport_layer_array : require\n"
                     "#define RD_LAYERED 1\n";
        else if (rd_gl_has_extension("GL_AMD_vertex_shader_layer"))
            vs_pre = "#extension GL_AMD_vertex_shader_layer : require\n#define RD_LAYERED 1\n";
    }
    s->layered = vs_pre[0] != 0;
    static const char default_assets[] = "assets";
    const char *assets = d->assets && d->assets[0] ? d->assets : default_assets;
    char dir[1024];
    int rc = WM_OK;
    if (wm_path_join(dir, sizeof dir, assets, "shaders") < 0) {
        rc = wm_errf(err, errsz, WM_ERR_ARG, "assets path too long: %s", assets);
        goto fail;
    }
    /* The default folder, when the working folder has none: the one beside the program,
     * so that bin/seqjepa runs from any folder. A folder named by the caller is used as
     * given. */
    char near[1024];
    int by_default = !strcmp(assets, default_assets);
    if (by_default && !wm_is_dir(dir) && !wm_find_near_program(dir, near, sizeof near))
        memcpy(dir, near, sizeof dir);
    if ((rc = rd_program_load(dir, "scene_object", vs_pre, NULL, &s->prog_obj, err, errsz)) ||
        (rc = rd_program_load(dir, "scene_floor", vs_pre, NULL, &s->prog_floor, err, errsz))) {
        if (rc == WM_ERR_IO && by_default)
            wm_err_prefix(err, errsz, rc,
                          "no shaders in ./assets/ nor in the assets/ beside the program (env.assets=DIR names the "
                          "folder): ");
        goto fail;
    }
    if ((rc = pick_target(s, 1, err, errsz))) goto fail;

    s->cap_v = d->mesh_vertices > 0 ? d->mesh_vertices : 1 << 20;
    s->cap_i = 6 * s->cap_v; /* closed meshes have about two triangles per vertex */
    s->slots = wm_new(CacheSlot, CACHE_SLOTS);
    glGenVertexArrays(1, &s->vao_obj);
    glGenVertexArrays(1, &s->vao_floor);
    GLuint bufs[5];
    glGenBuffers(5, bufs);
    s->vbo = bufs[0], s->ibo = bufs[1], s->inst_buf = bufs[2], s->cmd_buf = bufs[3];
    s->quad_buf = bufs[4];

    glBindVertexArray(s->vao_obj);
    glBindBuffer(GL_ARRAY_BUFFER, s->vbo);
    glBufferData(GL_ARRAY_BUFFER, (GLsizeiptr)s->cap_v * VERT_BYTES, NULL, GL_STATIC_DRAW);
    glEnableVertexAttribArray(0);
    glVertexAttribPointer(0, 3, GL_FLOAT, GL_FALSE, VERT_BYTES, (void *)0);
    glEnableVertexAttribArray(1);
    glVertexAttribPointer(1, 3, GL_FLOAT, GL_FALSE, VERT_BYTES, (void *)12);
    glEnableVertexAttribArray(2);
    glVertexAttribPointer(2, 4, GL_UNSIGNED_BYTE, GL_TRUE, VERT_BYTES, (void *)24);
    glBindBuffer(GL_ELEMENT_ARRAY_BUFFER, s->ibo);
    glBufferData(GL_ELEMENT_ARRAY_BUFFER, (GLsizeiptr)s->cap_i * 4, NULL, GL_STATIC_DRAW);
    glBindBuffer(GL_ARRAY_BUFFER, s->inst_buf);
    glBufferData(GL_ARRAY_BUFFER, (GLsizeiptr)s->batch * INST_FLOATS * sizeof(float), NULL,
                 GL_STREAM_DRAW);
    static const int obj_locs[] = {3, 4, 5, 6, 7, 8, 10};
    instance_attribs(s->inst_buf, obj_locs, 7);

    glBindVertexArray(s->vao_floor);
    static const float quad[8] = {-1, -1, 1, -1, -1, 1, 1, 1};
    glBindBuffer(GL_ARRAY_BUFFER, s->quad_buf);
    glBufferData(GL_ARRAY_BUFFER, sizeof quad, quad, GL_STATIC_DRAW);
    glEnableVertexAttribArray(0);
    glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 8, (void *)0);
    static const int floor_locs[] = {6, 9, 10, 11, 12, 13, 14, 15};
    instance_attribs(s->inst_buf, floor_locs, 8);
    glBindVertexArray(0);
    if (s->has_mdi) {
        glBindBuffer(GL_DRAW_INDIRECT_BUFFER, s->cmd_buf);
        glBufferData(GL_DRAW_INDIRECT_BUFFER, (GLsizeiptr)s->batch * sizeof(DrawCmd), NULL,
                     GL_STREAM_DRAW);
        glBindBuffer(GL_DRAW_INDIRECT_BUFFER, 0);
    }
    set_uniforms(s);
    s->inst = wm_new(float, (size_t)s->batch *INST_FLOATS);
    s->cmds = wm_new(DrawCmd, (size_t)s->batch);
    size_t vbytes = (size_t)s->size * s->size * 4;
    s->staging = wm_new(uint8_t, vbytes > STAGING_BYTES ? vbytes : STAGING_BYTES);
    if ((rc = rd_gl_check("setting up the scene renderer", err, errsz))) goto fail;
    *out = s;
    return WM_OK;
fail:
    rd_scene_destroy(s);
    return rc;
}

void rd_scene_destroy(RdScene *s) {
    if (!s) return;
    if (s->prog_obj) glDeleteProgram(s->prog_obj);
    if (s->prog_floor) glDeleteProgram(s->prog_floor);
    for (int i = 0; i < MAX_TARGETS; i++)
        if (s->targets[i].fbo) rd_target_destroy(&s->targets[i]);
    if (s->vao_obj) glDeleteVertexArrays(1, &s->vao_obj);
    if (s->vao_floor) glDeleteVertexArrays(1, &s->vao_floor);
    GLuint bufs[5] = {s->vbo, s->ibo, s->inst_buf, s->cmd_buf, s->quad_buf};
    if (s->vbo) glDeleteBuffers(5, bufs);
    wm_free(s->slots);
    wm_free(s->inst);
    wm_free(s->cmds);
    wm_free(s->staging);
    wm_free(s->vtmp);
    wm_free(s);
}

const RdTarget *rd_scene_target(const RdScene *s) {
    return s->target;
}
int rd_scene_batch(const RdScene *s) {
    return s->batch;
}
int rd_scene_layered(const RdScene *s) {
    return s->layered;
}

/* ---- the GPU mesh cache: meshes appended to one vertex and one index buffer,
 * all dropped at once when full ---- */

static CacheSlot *cache_find(RdScene *s, uint64_t key) {
    size_t h = wm_mix64(key) & (CACHE_SLOTS - 1);
    while (s->slots[h].used) {
        if (s->slots[h].key == key) return &s->slots[h];
        h = (h + 1) & (CACHE_SLOTS - 1);
    }
    return &s->slots[h]; /* an empty slot */
}

static void cache_reset(RdScene *s) {
    memset(s->slots, 0, CACHE_SLOTS * sizeof *s->slots);
    s->nslots_used = 0;
    s->used_v = s->used_i = 0;
}

static int cache_fits(const RdScene *s, const RdMesh *m) {
    return s->nslots_used < CACHE_SLOTS / 2 && m->nv <= s->cap_v - s->used_v &&
           (long long)m->nt * 3 <= (long long)s->cap_i - s->used_i;
}

static void cache_upload(RdScene *s, CacheSlot *slot, uint64_t key, const RdMesh *m) {
    size_t bytes = (size_t)m->nv * VERT_BYTES;
    if (bytes > s->vtmp_cap) {
        wm_free(s->vtmp);
        s->vtmp = wm_new(uint8_t, bytes);
        s->vtmp_cap = bytes;
    }
    for (int i = 0; i < m->nv; i++) {
        uint8_t *v = s->vtmp + (size_t)i * VERT_BYTES;
        memcpy(v, m->pos + 3 * (size_t)i, 12);
        memcpy(v + 12, m->nrm + 3 * (size_t)i, 12);
        memcpy(v + 24, m->rgba + 4 * (size_t)i, 4);
    }
    glBindBuffer(GL_ARRAY_BUFFER, s->vbo);
    glBufferSubData(GL_ARRAY_BUFFER, (GLintptr)s->used_v * VERT_BYTES, (GLsizeiptr)bytes, s->vtmp);
    glBindBuffer(GL_ELEMENT_ARRAY_BUFFER, s->ibo);
    glBufferSubData(GL_ELEMENT_ARRAY_BUFFER, (GLintptr)s->used_i * 4, (GLsizeiptr)m->nt * 12,
                    m->idx);
    slot->used = 1;
    slot->key = key;
    slot->base_vertex = s->used_v;
    slot->first_index = (GLuint)s->used_i;
    slot->count = (GLuint)m->nt * 3;
    s->used_v += m->nv;
    s->used_i += m->nt * 3;
    s->nslots_used++;
}

/* ---- drawing ---- */

static void fill_instance(float *d, const RdView *v, int layer) {
    memcpy(d + INST_R0, v->rot, 9 * sizeof(float));
    memcpy(d + INST_T, v->trans, 3 * sizeof(float));
    double st = sin(v->spot_theta), ct = cos(v->spot_theta);
    double S[3] = {RD_SPOT_DIST * st * cos(v->spot_phi), RD_SPOT_DIST * ct,
                   RD_SPOT_DIST * st * sin(v->spot_phi)};
    for (int i = 0; i < 3; i++)
        d[INST_SPOT + i] = (float)S[i];
    memcpy(d + INST_SPOT_RGB, v->spot_rgb, 3 * sizeof(float));
    d[INST_LAYER] = (float)layer;

    /* The pool: floor points p with angle(p - S, axis) <= outer satisfy
     * G = ((p-S).a)^2 - cos^2(outer) |p-S|^2 >= 0, a quadratic in (x, z). Scaled by
     * the squared distance to the aim point and the inner-outer band, G runs from 0 at
     * the outer edge to about 1 at the inner one. */
    double a[3] = {-S[0] / RD_SPOT_DIST, -S[1] / RD_SPOT_DIST, -S[2] / RD_SPOT_DIST};
    double h = RD_FLOOR_Y - S[1];
    double co = cos(RD_SPOT_OUTER_DEG * M_PI / 180), ci = cos(RD_SPOT_INNER_DEG * M_PI / 180);
    double co2 = co * co, ci2 = ci * ci;
    double q[6] = {0, 0, 0, 0, 0, -1}, lin[3] = {0, 0, -1}, lambert = 0;
    if (a[1] < -1e-6) {
        double a0 = a[1] * h - a[0] * S[0] - a[2] * S[2];
        double K = S[0] * S[0] + S[2] * S[2] + h * h;
        double t = h / a[1]; /* distance from the spot to its aim point on the floor */
        double k = 1.0 / (t * t * (ci2 - co2));
        q[0] = k * (a[0] * a[0] - co2);
        q[1] = k * 2 * a[0] * a[2];
        q[2] = k * (a[2] * a[2] - co2);
        q[3] = k * (2 * a[0] * a0 + 2 * co2 * S[0]);
        q[4] = k * (2 * a[2] * a0 + 2 * co2 * S[2]);
        q[5] = k * (a0 * a0 - co2 * K);
        lin[0] = a[0], lin[1] = a[2], lin[2] = a0;
        lambert = -a[1];
    }
    for (int i = 0; i < 3; i++) {
        d[INST_Q1 + i] = (float)q[i];
        d[INST_Q2 + i] = (float)q[3 + i];
        d[INST_LIN + i] = (float)lin[i];
    }
    float sun[3];
    sun_dir(sun);
    for (int i = 0; i < 3; i++) {
        d[INST_BASE + i] = v->floor_rgb[i] * k_ambient[i];
        d[INST_SUN + i] = v->floor_rgb[i] * k_sun_rgb[i] * sun[1];
        d[INST_SPOTC + i] = (float)(v->floor_rgb[i] * v->spot_rgb[i] * lambert);
    }
}

static void draw_object(const RdScene *s, int i) {
    const DrawCmd *c = &s->cmds[i];
    if (!c->count) return;
    glDrawElementsInstancedBaseVertexBaseInstance(
        GL_TRIANGLES, (GLsizei)c->count, GL_UNSIGNED_INT,
        (void *)((size_t)c->first_index * sizeof(uint32_t)), 1, c->base_vertex, c->base_instance);
}

/* Drops alpha: 4 pixels (16 bytes) become 12 bytes per step on little-endian hosts. */
static void rgba_to_rgb(const uint8_t *src, uint8_t *dst, size_t n) {
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 4 <= n; i += 4, src += 16, dst += 12) {
        uint32_t a, b, c, d;
        memcpy(&a, src, 4);
        memcpy(&b, src + 4, 4);
        memcpy(&c, src + 8, 4);
        memcpy(&d, src + 12, 4);
        /* three separate stores: packing them in an array first defeats store
         * forwarding and costs more than the whole loop */
        uint32_t w0 = (a & 0xffffffu) | (b << 24), w1 = ((b >> 8) & 0xffffu) | (c << 16),
                 w2 = ((c >> 16) & 0xffu) | (d << 8);
        memcpy(dst, &w0, 4);
        memcpy(dst + 4, &w1, 4);
        memcpy(dst + 8, &w2, 4);
    }
#endif
    for (; i < n; i++, src += 4, dst += 3)
        dst[0] = src[0], dst[1] = src[1], dst[2] = src[2];
}

static int draw_pass(RdScene *s, const RdView *views, int m, char *err, size_t errsz) {
    int rc = pick_target(s, s->layered ? m : s->batch, err, errsz);
    if (rc) return rc;
    glBindBuffer(GL_ARRAY_BUFFER, s->inst_buf);
    glBufferSubData(GL_ARRAY_BUFFER, 0, (GLsizeiptr)m * INST_FLOATS * sizeof(float), s->inst);
    rd_target_bind(s->target);
    glEnable(GL_DEPTH_TEST);
    glDepthFunc(GL_LEQUAL);
    glFrontFace(GL_CW);
    glClearColor(0.58f, 0.62f, 0.68f, 1.0f);
    glClearDepth(1.0);
    if (s->layered) {
        glClear(GL_COLOR_BUFFER_BIT | GL_DEPTH_BUFFER_BIT);
        glEnable(GL_CULL_FACE);
        glUseProgram(s->prog_obj);
        glBindVertexArray(s->vao_obj);
        if (s->has_mdi) {
            glBindBuffer(GL_DRAW_INDIRECT_BUFFER, s->cmd_buf);
            glBufferSubData(GL_DRAW_INDIRECT_BUFFER, 0, (GLsizeiptr)m * sizeof(DrawCmd), s->cmds);
            glMultiDrawElementsIndirect(GL_TRIANGLES, GL_UNSIGNED_INT, (void *)0, m, 0);
            glBindBuffer(GL_DRAW_INDIRECT_BUFFER, 0);
        } else {
            for (int i = 0; i < m; i++)
                draw_object(s, i);
        }
        glDisable(GL_CULL_FACE);
        glDepthMask(GL_FALSE); /* nothing is drawn after the floor */
        glUseProgram(s->prog_floor);
        glBindVertexArray(s->vao_floor);
        glDrawArraysInstanced(GL_TRIANGLE_STRIP, 0, 4, m);
        glDepthMask(GL_TRUE);
    } else {
        for (int i = 0; i < m; i++) {
            glFramebufferTextureLayer(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, s->target->color, 0, i);
            glFramebufferTextureLayer(GL_FRAMEBUFFER, GL_DEPTH_ATTACHMENT, s->target->depth, 0, i);
            glClear(GL_COLOR_BUFFER_BIT | GL_DEPTH_BUFFER_BIT);
            glEnable(GL_CULL_FACE);
            glUseProgram(s->prog_obj);
            glBindVertexArray(s->vao_obj);
            draw_object(s, i);
            glDisable(GL_CULL_FACE);
            glDepthMask(GL_FALSE);
            glUseProgram(s->prog_floor);
            glBindVertexArray(s->vao_floor);
            glDrawArraysInstancedBaseInstance(GL_TRIANGLE_STRIP, 0, 4, 1, (GLuint)i);
            glDepthMask(GL_TRUE);
        }
        glFramebufferTexture(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, s->target->color, 0);
        glFramebufferTexture(GL_FRAMEBUFFER, GL_DEPTH_ATTACHMENT, s->target->depth, 0);
    }
    glBindVertexArray(0);
    glUseProgram(0);
    rc = rd_gl_check("drawing views", err, errsz);
    if (rc) return rc;

    /* Readback of the pass: layers as RGBA (the texture's own format, a plain copy),
     * a few at a time into a small staging buffer that stays in cache while it is
     * packed to RGB in each view's buffer. */
    size_t npx = (size_t)s->size * s->size, view_bytes = npx * 4;
    int group = (int)(STAGING_BYTES / view_bytes);
    if (group < 1) group = 1;
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    GLuint fbo = 0;
    if (!s->has_subimage) {
        glGenFramebuffers(1, &fbo);
        glBindFramebuffer(GL_READ_FRAMEBUFFER, fbo);
    }
    for (int g0 = 0; g0 < m; g0 += group) {
        int g = m - g0 < group ? m - g0 : group;
        if (s->has_subimage) {
            glGetTextureSubImage(s->target->color, 0, 0, 0, g0, s->size, s->size, g, GL_RGBA,
                                 GL_UNSIGNED_BYTE, (GLsizei)(view_bytes * (size_t)g), s->staging);
        } else {
            for (int i = 0; i < g; i++) {
                glFramebufferTextureLayer(GL_READ_FRAMEBUFFER, GL_COLOR_ATTACHMENT0,
                                          s->target->color, 0, g0 + i);
                glReadPixels(0, 0, s->size, s->size, GL_RGBA, GL_UNSIGNED_BYTE,
                             s->staging + view_bytes * (size_t)i);
            }
        }
        for (int i = 0; i < g; i++)
            if (views[g0 + i].out)
                rgba_to_rgb(s->staging + view_bytes * (size_t)i, views[g0 + i].out, npx);
    }
    if (fbo) {
        glBindFramebuffer(GL_READ_FRAMEBUFFER, 0);
        glDeleteFramebuffers(1, &fbo);
    }
    return rd_gl_check("reading views back", err, errsz);
}

int rd_scene_render(RdScene *s, const RdView *views, int n, char *err, size_t errsz) {
    int start = 0;
    while (start < n) {
        int m = 0, fresh = 0;
        while (start + m < n && m < s->batch) {
            const RdView *v = &views[start + m];
            DrawCmd *c = &s->cmds[m];
            memset(c, 0, sizeof *c);
            if (v->mesh && v->mesh->nt > 0) {
                CacheSlot *slot = cache_find(s, v->mesh_key);
                if (!slot->used) {
                    if (!cache_fits(s, v->mesh)) {
                        if (m > 0) break; /* draw what we have; the cache resets next pass */
                        if (fresh)
                            return wm_errf(err, errsz, WM_ERR_RANGE,
                                           "a mesh of %d vertices and %d triangles does not fit "
                                           "the renderer's cache of %d vertices and %d triangles",
                                           v->mesh->nv, v->mesh->nt, s->cap_v, s->cap_i / 3);
                        cache_reset(s);
                        fresh = 1;
                        continue;
                    }
                    cache_upload(s, slot, v->mesh_key, v->mesh);
                }
                c->count = slot->count;
                c->instance_count = 1;
                c->first_index = slot->first_index;
                c->base_vertex = slot->base_vertex;
            }
            c->base_instance = (GLuint)m;
            fill_instance(s->inst + (size_t)m * INST_FLOATS, v, m);
            m++;
        }
        int rc = draw_pass(s, views + start, m, err, errsz);
        if (rc) return rc;
        start += m;
    }
    return WM_OK;
}
