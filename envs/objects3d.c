/* The objects3d world: lane states and their exact latent algebra, the object
 * classes (procedural families or OBJ files), a CPU mesh cache shared by the lanes,
 * and batched observation through the render farm.
 *
 * Over 700 lines on purpose: the latent algebra, the class tables and the batched
 * observation all work on the lane state that stays private to this file. */
#include "envs/objects3d.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/color.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/quat.h"
#include "core/rng.h"
#include "envs/env_impl.h"
#include "envs/o3_shapes.h"
#include "render/mesh.h"
#include "render/scene.h"

#define MESH_CACHE_BYTES ((size_t)256 << 20)
#define MAX_OBJ_CLASSES  1024
#define MAX_OBJ_FILES    4096

typedef struct {
    uint64_t key;
    RdMesh mesh;
    int refs;
} MeshEntry;

typedef struct {
    double lat[ENV_O3_LATENT_DIM];
    int cls, inst;
    MeshEntry *entry; /* held while the lane shows this object */
} Lane;

typedef struct {
    char name[64];
    RdMesh *base; /* normalised, reduced to the level of detail */
    int nbase;
} ObjClass;

typedef struct {
    EnvO3ActionLayout lay;
    uint64_t uid; /* this world's number in the process */
    int size, detail, max_tris;
    int n_classes, n_train, n_held;
    int family0; /* procedural class c is family family0 + c */
    ObjClass *obj; /* NULL: procedural families */
    /* The mesh cache: entries on the heap, indexed by an open-addressing table. */
    MeshEntry **ent;
    int nent, cap_ent;
    int *tab; /* entry index or -1 */
    int tab_cap;
    size_t bytes;
    Lane *lanes;
    RdFarm *farm;
    RdView *views;
    int views_cap;
    int *view_obs;
} O3;

static const char *lat_names[ENV_O3_LATENT_DIM] = {
    "q_w",      "q_x",      "q_y", "q_z", "floor_hue", "spot_theta",
    "spot_phi", "spot_hue", "t_x", "t_y", "t_z"};
static const char *act_rot[4] = {"dq_w", "dq_x", "dq_y", "dq_z"};
static const char *act_trans[3] = {"dt_x", "dt_y", "dt_z"};
static const char *act_color[4] = {"d_floor_hue", "d_spot_theta", "d_spot_phi", "d_spot_hue"};

/* ---- latent algebra (no GL) ---- */

EnvO3ActionLayout env_objects3d_action_layout(const EnvConfig *cfg) {
    EnvO3ActionLayout l = {.dim = 4, .rot = 0, .trans = -1, .color = -1};
    if (cfg->translate_actions) l.trans = l.dim, l.dim += 3;
    if (cfg->color_actions) l.color = l.dim, l.dim += ENV_O3_COLOR_DIM;
    return l;
}

static double wrap(double x, double period) {
    double y = x - period * floor(x / period);
    return y >= period || y < 0 ? 0 : y;
}

void env_objects3d_sample_latent(const EnvConfig *cfg, WmRng *r, double lat[ENV_O3_LATENT_DIM]) {
    if (cfg->rotation == 1) {
        wm_quat_random(lat, r);
    } else if (cfg->rotation == 2) {
        wm_quat_from_euler_xyz(lat, 0, wm_rng_range(r, -ENV_O3_TWO_PI / 2, ENV_O3_TWO_PI / 2), 0);
    } else {
        double ex = wm_rng_range(r, -ENV_O3_EULER_MAX, ENV_O3_EULER_MAX);
        double ey = wm_rng_range(r, -ENV_O3_EULER_MAX, ENV_O3_EULER_MAX);
        double ez = wm_rng_range(r, -ENV_O3_EULER_MAX, ENV_O3_EULER_MAX);
        wm_quat_from_euler_xyz(lat, ex, ey, ez);
    }
    wm_quat_canon(lat);
    lat[ENV_O3_LAT_FLOOR_HUE] = wm_rng_uniform(r);
    lat[ENV_O3_LAT_SPOT_THETA] = wm_rng_uniform(r) * ENV_O3_THETA_MAX;
    lat[ENV_O3_LAT_SPOT_PHI] = wm_rng_uniform(r) * ENV_O3_TWO_PI;
    lat[ENV_O3_LAT_SPOT_HUE] = wm_rng_uniform(r);
    for (int i = 0; i < 3; i++)
        lat[ENV_O3_LAT_TX + i] =
            cfg->translate > 0 ? wm_rng_range(r, -cfg->translate, cfg->translate) : 0.0;
}

void env_objects3d_relative_action(const EnvConfig *cfg, const double from[ENV_O3_LATENT_DIM],
                                   const double to[ENV_O3_LATENT_DIM], float *action) {
    EnvO3ActionLayout l = env_objects3d_action_layout(cfg);
    double q[4];
    wm_quat_relative(q, from, to);
    for (int i = 0; i < 4; i++)
        action[l.rot + i] = (float)q[i];
    if (l.trans >= 0)
        for (int i = 0; i < 3; i++)
            action[l.trans + i] = (float)(to[ENV_O3_LAT_TX + i] - from[ENV_O3_LAT_TX + i]);
    if (l.color >= 0)
        for (int i = 0; i < ENV_O3_COLOR_DIM; i++)
            action[l.color + i] =
                (float)(to[ENV_O3_LAT_FLOOR_HUE + i] - from[ENV_O3_LAT_FLOOR_HUE + i]);
}

void env_objects3d_compose(const EnvConfig *cfg, const double lat[ENV_O3_LATENT_DIM],
                           const float *action, double out[ENV_O3_LATENT_DIM]) {
    EnvO3ActionLayout l = env_objects3d_action_layout(cfg);
    double q[4], rel[4];
    for (int i = 0; i < 4; i++)
        rel[i] = action[l.rot + i];
    wm_quat_normalize(rel);
    wm_quat_mul(q, lat, rel);
    wm_quat_normalize(q);
    wm_quat_canon(q);
    double o[ENV_O3_LATENT_DIM];
    memcpy(o, lat, sizeof o);
    memcpy(o, q, sizeof q);
    if (l.trans >= 0)
        for (int i = 0; i < 3; i++)
            o[ENV_O3_LAT_TX + i] += action[l.trans + i];
    if (l.color >= 0) {
        o[ENV_O3_LAT_FLOOR_HUE] = wrap(o[ENV_O3_LAT_FLOOR_HUE] + action[l.color + 0], 1.0);
        o[ENV_O3_LAT_SPOT_THETA] += action[l.color + 1];
        o[ENV_O3_LAT_SPOT_PHI] = wrap(o[ENV_O3_LAT_SPOT_PHI] + action[l.color + 2], ENV_O3_TWO_PI);
        o[ENV_O3_LAT_SPOT_HUE] = wrap(o[ENV_O3_LAT_SPOT_HUE] + action[l.color + 3], 1.0);
    }
    memcpy(out, o, sizeof o);
}

int env_objects3d_family_count(void) {
    return o3_set_count(O3_SET_MIXED);
}
const char *env_objects3d_family_name(int c) {
    return o3_shape_name(o3_set_first(O3_SET_MIXED) + c);
}

/* ---- the mesh cache ---- */

static O3 *impl(const Env *e) {
    WM_ASSERT(e->vt == &env_objects3d_vtable);
    return e->impl;
}

static void tab_rebuild(O3 *o) {
    int need = 16;
    while (need < 2 * (o->nent + 1))
        need *= 2;
    if (need != o->tab_cap) {
        wm_free(o->tab);
        o->tab = wm_new(int, (size_t)need);
        o->tab_cap = need;
    }
    for (int i = 0; i < o->tab_cap; i++)
        o->tab[i] = -1;
    for (int i = 0; i < o->nent; i++) {
        size_t h = wm_mix64(o->ent[i]->key) & (size_t)(o->tab_cap - 1);
        while (o->tab[h] >= 0)
            h = (h + 1) & (size_t)(o->tab_cap - 1);
        o->tab[h] = i;
    }
}

/* Drops every mesh no lane holds. */
static void cache_evict(O3 *o) {
    int k = 0;
    for (int i = 0; i < o->nent; i++) {
        MeshEntry *m = o->ent[i];
        if (m->refs == 0) {
            o->bytes -= rd_mesh_bytes(&m->mesh);
            rd_mesh_free(&m->mesh);
            wm_free(m);
        } else {
            o->ent[k++] = m;
        }
    }
    o->nent = k;
    tab_rebuild(o);
}

static void build_mesh(const O3 *o, int cls, int inst, RdMesh *out) {
    if (!o->obj) {
        o3_shape_build(o->family0 + cls, inst, o->detail, out);
    } else {
        /* An OBJ class: file inst % n, with its own proportions and colour. */
        const ObjClass *c = &o->obj[cls];
        rd_mesh_clear(out);
        rd_mesh_append(out, &c->base[inst % c->nbase]);
        WmRng r;
        wm_rng_seed(&r, 0x6f626a66696c6573ULL, wm_seed_derive((uint64_t)cls, (uint64_t)inst));
        float A[9] = {0};
        for (int i = 0; i < 3; i++)
            A[4 * i] = (float)wm_rng_range(&r, 0.85, 1.15);
        rd_mesh_transform(out, 0, A, (float[3]){0, 0, 0});
        float rgb[3];
        wm_hsv_to_rgbf((float)wm_rng_uniform(&r), (float)wm_rng_range(&r, 0.3, 0.8),
                      (float)wm_rng_range(&r, 0.55, 0.95), rgb);
        uint8_t rgba[4] = {(uint8_t)(rgb[0] * 255 + 0.5f), (uint8_t)(rgb[1] * 255 + 0.5f),
                           (uint8_t)(rgb[2] * 255 + 0.5f), 255};
        rd_mesh_paint(out, 0, rgba);
        int rc = rd_mesh_normalize_unit(out);
        WM_ASSERT(rc == 0); /* the base mesh was checked at load */
    }
    rd_mesh_simplify(out, o->max_tris);
}

static MeshEntry *cache_acquire(O3 *o, int cls, int inst) {
    /* Unique across worlds in the process, so that one RdScene can draw views of
     * several worlds (a viewer) without mixing up their meshes. */
    uint64_t key = o->uid << 40 | (uint64_t)cls << 20 | (uint64_t)inst;
    if (o->tab_cap) {
        size_t h = wm_mix64(key) & (size_t)(o->tab_cap - 1);
        while (o->tab[h] >= 0) {
            MeshEntry *m = o->ent[o->tab[h]];
            if (m->key == key) {
                m->refs++;
                return m;
            }
            h = (h + 1) & (size_t)(o->tab_cap - 1);
        }
    }
    if (o->bytes > MESH_CACHE_BYTES) cache_evict(o);
    MeshEntry *m = wm_new(MeshEntry, 1);
    m->key = key;
    build_mesh(o, cls, inst, &m->mesh);
    m->refs = 1;
    o->bytes += rd_mesh_bytes(&m->mesh);
    if (o->nent == o->cap_ent) {
        o->cap_ent = o->cap_ent ? 2 * o->cap_ent : 256;
        o->ent = wm_realloc(o->ent, (size_t)o->cap_ent, sizeof *o->ent);
    }
    o->ent[o->nent++] = m;
    if (2 * (o->nent + 1) > o->tab_cap) {
        tab_rebuild(o);
    } else {
        size_t h = wm_mix64(key) & (size_t)(o->tab_cap - 1);
        while (o->tab[h] >= 0)
            h = (h + 1) & (size_t)(o->tab_cap - 1);
        o->tab[h] = o->nent - 1;
    }
    return m;
}

/* ---- OBJ classes ---- */

static int has_obj_suffix(const char *n) {
    size_t l = strlen(n);
    return l > 4 && !strcasecmp(n + l - 4, ".obj");
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir: OBJ files (want_dirs 0) or sub-folders (1). */
static int list_dir(const char *dir, int want_dirs, char ***out, int *n, char *err, size_t errsz) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return wm_errf(err, errsz, WM_ERR_IO, "objects3d: cannot read folder '%s'", dir);
    int cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char path[2048];
        if (wm_path_join(path, sizeof path, dir, de->d_name) < 0) continue;
        int is_dir = wm_is_dir(path);
        if (want_dirs ? !is_dir : (is_dir || !has_obj_suffix(de->d_name))) continue;
        if (*n >= MAX_OBJ_FILES) break;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = wm_realloc(*out, (size_t)cap, sizeof **out);
        }
        (*out)[(*n)++] = wm_strdup(de->d_name);
    }
    closedir(d);
    if (*n) qsort(*out, (size_t)*n, sizeof **out, cmp_str);
    return WM_OK;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++)
        wm_free(names[i]);
    wm_free(names);
}

static int load_base(const O3 *o, const char *path, RdMesh *m, char *err, size_t errsz) {
    int rc = rd_obj_load(path, m, err, errsz);
    if (rc) return wm_err_prefix(err, errsz, rc, "objects3d: ");
    if (rd_mesh_normalize_unit(m)) {
        rd_mesh_free(m);
        return wm_errf(err, errsz, WM_ERR_FORMAT,
                       "objects3d: %s: all vertices coincide (the mesh has no size)", path);
    }
    rd_mesh_simplify(m, o->max_tris);
    return WM_OK;
}

static void class_name_from(char *dst, const char *file) {
    snprintf(dst, 64, "%s", file);
    char *dot = strrchr(dst, '.');
    if (dot && has_obj_suffix(dst)) *dot = 0;
}

static int load_obj_classes(O3 *o, const char *path, char *err, size_t errsz) {
    if (!wm_path_exists(path))
        return wm_errf(err, errsz, WM_ERR_IO, "objects3d: obj '%s' does not exist", path);
    if (!wm_is_dir(path)) {
        o->obj = wm_new(ObjClass, 1);
        o->n_classes = 1;
        ObjClass *c = &o->obj[0];
        const char *base = strrchr(path, '/');
        class_name_from(c->name, base ? base + 1 : path);
        c->base = wm_new(RdMesh, 1);
        int rc = load_base(o, path, &c->base[0], err, errsz);
        if (!rc) c->nbase = 1;
        return rc;
    }
    char **dirs, **files;
    int nd, nf, rc = list_dir(path, 1, &dirs, &nd, err, errsz);
    if (rc) return rc;
    rc = list_dir(path, 0, &files, &nf, err, errsz);
    if (rc) {
        free_names(dirs, nd);
        return rc;
    }
    /* Sub-folders are classes whose OBJ files are its instances' shapes; without
     * sub-folders every OBJ file is a class. */
    int ncls = nd ? nd : nf;
    if (ncls == 0) {
        free_names(dirs, nd);
        free_names(files, nf);
        return wm_errf(err, errsz, WM_ERR_FORMAT,
                       "objects3d: folder '%s' has no .obj files and no class sub-folders", path);
    }
    if (ncls > MAX_OBJ_CLASSES) ncls = MAX_OBJ_CLASSES;
    o->obj = wm_new(ObjClass, (size_t)ncls);
    o->n_classes = ncls;
    for (int k = 0; k < ncls && !rc; k++) {
        ObjClass *c = &o->obj[k];
        char p[2048];
        if (!nd) {
            class_name_from(c->name, files[k]);
            wm_path_join(p, sizeof p, path, files[k]);
            c->base = wm_new(RdMesh, 1);
            rc = load_base(o, p, &c->base[0], err, errsz);
            if (!rc) c->nbase = 1;
            continue;
        }
        snprintf(c->name, sizeof c->name, "%s", dirs[k]);
        char sub[2048];
        wm_path_join(sub, sizeof sub, path, dirs[k]);
        char **cf;
        int ncf;
        rc = list_dir(sub, 0, &cf, &ncf, err, errsz);
        if (rc) break;
        if (!ncf) {
            rc = wm_errf(err, errsz, WM_ERR_FORMAT,
                         "objects3d: class folder '%s' has no .obj files", sub);
            break;
        }
        c->base = wm_new(RdMesh, (size_t)ncf);
        for (int i = 0; i < ncf && !rc; i++) {
            wm_path_join(p, sizeof p, sub, cf[i]);
            rc = load_base(o, p, &c->base[i], err, errsz);
            if (!rc) c->nbase = i + 1;
        }
        free_names(cf, ncf);
    }
    free_names(dirs, nd);
    free_names(files, nf);
    return rc;
}

/* ---- the vtable ---- */

static void o3_destroy(Env *e) {
    O3 *o = e->impl;
    if (!o) return;
    rd_farm_destroy(o->farm);
    if (o->lanes)
        for (int i = 0; i < e->lanes; i++)
            if (o->lanes[i].entry) o->lanes[i].entry->refs--;
    for (int i = 0; i < o->nent; i++) {
        rd_mesh_free(&o->ent[i]->mesh);
        wm_free(o->ent[i]);
    }
    wm_free(o->ent);
    wm_free(o->tab);
    if (o->obj) {
        for (int k = 0; k < o->n_classes; k++) {
            for (int i = 0; i < o->obj[k].nbase; i++)
                rd_mesh_free(&o->obj[k].base[i]);
            wm_free(o->obj[k].base);
        }
        wm_free(o->obj);
    }
    wm_free(o->lanes);
    wm_free(o->views);
    wm_free(o->view_obs);
    wm_free(o);
    e->impl = NULL;
}

static int o3_create(Env *e, const EnvConfig *cfg, char *err, size_t errsz) {
    if (cfg->size < 32 || cfg->size > 512)
        return wm_errf(err, errsz, WM_ERR_RANGE, "objects3d: size %d is outside 32..512 pixels",
                       cfg->size);
    if (cfg->instances < 1 || cfg->instances > 1 << 20)
        return wm_errf(err, errsz, WM_ERR_RANGE,
                       "objects3d: instances must be in 1..1048576, got %d", cfg->instances);
    if (!(cfg->heldout >= 0 && cfg->heldout < 1))
        return wm_errf(err, errsz, WM_ERR_RANGE, "objects3d: heldout must be in [0, 1), got %g",
                       cfg->heldout);
    if (!(cfg->translate >= 0 && cfg->translate <= 10))
        return wm_errf(err, errsz, WM_ERR_RANGE, "objects3d: translate must be in [0, 10], got %g",
                       cfg->translate);
    if (cfg->rotation < 0 || cfg->rotation > 2)
        return wm_errf(err, errsz, WM_ERR_RANGE, "objects3d: rotation must be euler, so3 or yaw");
    O3 *o = wm_new(O3, 1);
    e->impl = o;
    static _Atomic unsigned long next_uid;
    o->uid = (uint64_t)(next_uid++ & 0xffffff);
    o->lay = env_objects3d_action_layout(cfg);
    o->size = cfg->size;
    o->detail = o3_shape_detail(cfg->size);
    o->max_tris = cfg->size * 8;
    int rc = WM_OK;
    if (cfg->obj[0]) {
        rc = load_obj_classes(o, cfg->obj, err, errsz);
    } else if (cfg->n_classes < 1 || cfg->n_classes > o3_set_count(cfg->classes)) {
        int n = o3_set_count(cfg->classes);
        rc = wm_errf(err, errsz, WM_ERR_RANGE,
                     "objects3d: n_classes=%d, but the %s class set has %d procedural families "
                     "(use 1..%d, or obj= for your own meshes)",
                     cfg->n_classes, cfg->classes ? "asymmetric" : "mixed", n, n);
    } else {
        o->n_classes = cfg->n_classes;
        o->family0 = o3_set_first(cfg->classes);
    }
    if (rc) {
        o3_destroy(e);
        return rc;
    }
    o->n_held = (int)floor(cfg->heldout * cfg->instances + 0.5);
    if (o->n_held >= cfg->instances) o->n_held = cfg->instances - 1;
    o->n_train = cfg->instances - o->n_held;
    o->lanes = wm_new(Lane, (size_t)e->lanes);
    RdFarmDesc fd = {.workers = cfg->render_threads,
                     .scene = {.size = cfg->size, .assets = cfg->assets}};
    if ((rc = rd_farm_create(&fd, &o->farm, err, errsz))) {
        o3_destroy(e);
        return wm_err_prefix(err, errsz, rc, "objects3d: ");
    }
    env_objects3d_spec(cfg, o->n_classes, &e->spec);
    e->spec.class_names_hint = o->obj ? "OBJ class" : "procedural shape family";
    return WM_OK;
}

void env_objects3d_spec(const EnvConfig *cfg, int n_classes, EnvSpec *s) {
    EnvO3ActionLayout lay = env_objects3d_action_layout(cfg);
    memset(s, 0, sizeof *s);
    s->height = s->width = cfg->size;
    s->channels = 3;
    s->action_dim = lay.dim;
    s->latent_dim = ENV_O3_LATENT_DIM;
    s->n_classes = n_classes;
    for (int i = 0; i < ENV_O3_LATENT_DIM; i++)
        s->latent_names[i] = lat_names[i];
    for (int i = 0; i < 4; i++)
        s->action_names[lay.rot + i] = act_rot[i];
    if (lay.trans >= 0)
        for (int i = 0; i < 3; i++)
            s->action_names[lay.trans + i] = act_trans[i];
    if (lay.color >= 0)
        for (int i = 0; i < ENV_O3_COLOR_DIM; i++)
            s->action_names[lay.color + i] = act_color[i];
    s->layout = (EnvLayout){.family = ENV_FAMILY_OBJECT, .act_rot = lay.rot,
                            .act_trans = lay.trans, .act_color = lay.color,
                            .lat_rot = ENV_O3_LAT_QW, .lat_trans = ENV_O3_LAT_TX,
                            .lat_color = ENV_O3_LAT_FLOOR_HUE, .color_dim = ENV_O3_COLOR_DIM};
}

static void lane_object(O3 *o, Lane *l, int cls, int inst) {
    MeshEntry *m = cache_acquire(o, cls, inst);
    if (l->entry) l->entry->refs--;
    l->entry = m;
    l->cls = cls, l->inst = inst;
}

static int o3_reset(Env *e, int lane, uint64_t seed, int split) {
    O3 *o = e->impl;
    int n = split == ENV_SPLIT_TRAIN ? o->n_train : o->n_held;
    if (n == 0) {
        wm_warn("objects3d: no held-out instances to reset to (heldout = %g)", e->cfg.heldout);
        return WM_ERR_ARG;
    }
    WmRng r;
    wm_rng_seed(&r, seed, 0x6f336c616e65ULL);
    int cls = (int)wm_rng_below(&r, (uint32_t)o->n_classes);
    int inst = (split == ENV_SPLIT_TRAIN ? 0 : o->n_train) + (int)wm_rng_below(&r, (uint32_t)n);
    env_objects3d_sample_latent(&e->cfg, &r, o->lanes[lane].lat);
    lane_object(o, &o->lanes[lane], cls, inst);
    return WM_OK;
}

static int o3_step(Env *e, int lane, const float *action) {
    O3 *o = e->impl;
    for (int i = 0; i < o->lay.dim; i++)
        if (!isfinite(action[i])) return WM_ERR_NUMERIC;
    double n2 = 0;
    for (int i = 0; i < 4; i++)
        n2 += (double)action[o->lay.rot + i] * action[o->lay.rot + i];
    if (fabs(sqrt(n2) - 1) > 1e-3) {
        wm_warn("objects3d: the action's quaternion has norm %g, not 1", sqrt(n2));
        return WM_ERR_ARG;
    }
    Lane *l = &o->lanes[lane];
    if (!l->entry) {
        wm_warn("objects3d: lane %d was stepped before any reset", lane);
        return WM_ERR_ARG;
    }
    env_objects3d_compose(&e->cfg, l->lat, action, l->lat);
    return WM_OK;
}

static void lane_view(const Lane *l, RdView *v) {
    memset(v, 0, sizeof *v);
    v->mesh_key = l->entry->key;
    v->mesh = &l->entry->mesh;
    double m[9];
    wm_quat_to_mat3(l->lat, m);
    for (int i = 0; i < 9; i++)
        v->rot[i] = (float)m[i];
    for (int i = 0; i < 3; i++)
        v->trans[i] = (float)l->lat[ENV_O3_LAT_TX + i];
    wm_hsv_to_rgbf((float)l->lat[ENV_O3_LAT_FLOOR_HUE], 0.55f, 0.8f, v->floor_rgb);
    wm_hsv_to_rgbf((float)l->lat[ENV_O3_LAT_SPOT_HUE], 0.75f, 0.9f, v->spot_rgb);
    v->spot_theta = (float)l->lat[ENV_O3_LAT_SPOT_THETA];
    v->spot_phi = (float)l->lat[ENV_O3_LAT_SPOT_PHI];
}

static void o3_latent(const Env *e, int lane, float *latent) {
    const O3 *o = e->impl;
    for (int i = 0; i < ENV_O3_LATENT_DIM; i++)
        latent[i] = (float)o->lanes[lane].lat[i];
}

static int o3_observe(Env *e, int n, const int *lanes, EnvObs *outs) {
    O3 *o = e->impl;
    if (n > o->views_cap) {
        wm_free(o->views);
        wm_free(o->view_obs);
        o->views = wm_new(RdView, (size_t)n);
        o->view_obs = wm_new(int, (size_t)n);
        o->views_cap = n;
    }
    int nv = 0;
    for (int i = 0; i < n; i++) {
        const Lane *l = &o->lanes[lanes[i]];
        if (!l->entry) return WM_ERR_ARG; /* never reset */
        outs[i].label = l->cls;
        outs[i].instance = l->inst;
        if (outs[i].latent) o3_latent(e, lanes[i], outs[i].latent);
        if (!outs[i].pixels) continue;
        lane_view(l, &o->views[nv]);
        o->views[nv].out = outs[i].pixels;
        nv++;
    }
    char err[512];
    int rc = rd_farm_render(o->farm, o->views, nv, err, sizeof err);
    if (rc) wm_warn("objects3d: %s", err);
    return rc;
}

/* The cumulative action: q = canon(q * normalize(q_rel)) from the identity in double,
 * as env_step composes, translation and colour deltas summed. */
static void o3_compose(const EnvConfig *cfg, int action_dim, const float *actions, int n, float *out) {
    EnvO3ActionLayout lay = env_objects3d_action_layout(cfg);
    WM_ASSERT(lay.dim == action_dim);
    double q[4], acc[ENV_MAX_DIM] = {0};
    wm_quat_identity(q);
    for (int i = 0; i < n; i++) {
        const float *a = actions + (size_t)i * action_dim;
        double r[4] = {a[lay.rot], a[lay.rot + 1], a[lay.rot + 2], a[lay.rot + 3]};
        wm_quat_normalize(r);
        wm_quat_mul(q, q, r);
        wm_quat_canon(q);
        for (int k = 0; k < action_dim; k++)
            if (k < lay.rot || k >= lay.rot + 4) acc[k] += a[k];
    }
    for (int k = 0; k < action_dim; k++)
        out[k] = (float)acc[k];
    for (int k = 0; k < 4; k++)
        out[lay.rot + k] = (float)q[k];
}

static void o3_relative(const EnvConfig *cfg, const float *from, const float *to, float *out) {
    double a[ENV_O3_LATENT_DIM], b[ENV_O3_LATENT_DIM];
    for (int k = 0; k < ENV_O3_LATENT_DIM; k++)
        a[k] = from[k], b[k] = to[k];
    env_objects3d_relative_action(cfg, a, b, out);
}

static int o3_sample_state(const EnvConfig *cfg, WmRng *r, double *latent) {
    env_objects3d_sample_latent(cfg, r, latent);
    return WM_OK;
}

static void o3_state_action(const EnvConfig *cfg, const double *from, const double *to,
                            float *out) {
    env_objects3d_relative_action(cfg, from, to, out);
}

static int o3_set_state(Env *e, int lane, const double *latent) {
    return env_objects3d_set_latent(e, lane, latent);
}

static void o3_get_state(const Env *e, int lane, double *latent) {
    env_objects3d_get_latent(e, lane, latent);
}

static const char *o3_class_name(const Env *e, int label) {
    return label >= 0 && label < impl(e)->n_classes ? env_objects3d_class_name(e, label) : NULL;
}

static EnvConfigInfo o3_config_info(const EnvConfig *cfg) {
    return (EnvConfigInfo){.n_classes = cfg->obj[0] ? -1 : cfg->n_classes, .uses_gl = 1};
}

static void o3_view(const Env *e, int lane, RdView *view) {
    const O3 *o = impl(e);
    WM_ASSERT(o->lanes[lane].entry);
    lane_view(&o->lanes[lane], view);
}

const EnvVtable env_objects3d_vtable = {
    .name = "objects3d",
    .traits = {.family = ENV_FAMILY_OBJECT, .own_threads = 1},
    .create = o3_create,
    .destroy = o3_destroy,
    .reset = o3_reset,
    .step = o3_step,
    .observe = o3_observe,
    .latent = o3_latent,
    .scene = NULL,
    .compose = o3_compose,
    .relative = o3_relative,
    .sample_state = o3_sample_state,
    .state_action = o3_state_action,
    .set_state = o3_set_state,
    .get_state = o3_get_state,
    .class_name = o3_class_name,
    .config_info = o3_config_info,
    .view = o3_view,
};

/* ---- extensions ---- */

int env_objects3d_set_object(Env *e, int lane, int cls, int instance) {
    O3 *o = impl(e);
    WM_ASSERT(lane >= 0 && lane < e->lanes);
    if (cls < 0 || cls >= o->n_classes || instance < 0 || instance >= e->cfg.instances)
        return WM_ERR_ARG;
    Lane *l = &o->lanes[lane];
    if (!l->entry) { /* a lane never reset starts from the identity state */
        memset(l->lat, 0, sizeof l->lat);
        l->lat[0] = 1;
    }
    lane_object(o, l, cls, instance);
    return WM_OK;
}

int env_objects3d_train_instances(const Env *e) {
    return impl(e)->n_train;
}

int env_objects3d_set_latent(Env *e, int lane, const double lat[ENV_O3_LATENT_DIM]) {
    O3 *o = impl(e);
    WM_ASSERT(lane >= 0 && lane < e->lanes);
    double n2 = 0;
    for (int i = 0; i < ENV_O3_LATENT_DIM; i++)
        if (!isfinite(lat[i])) return WM_ERR_ARG;
    for (int i = 0; i < 4; i++)
        n2 += lat[i] * lat[i];
    if (fabs(sqrt(n2) - 1) > 1e-3) return WM_ERR_ARG;
    double *d = o->lanes[lane].lat;
    memcpy(d, lat, ENV_O3_LATENT_DIM * sizeof(double));
    wm_quat_normalize(d);
    wm_quat_canon(d);
    d[ENV_O3_LAT_FLOOR_HUE] = wrap(d[ENV_O3_LAT_FLOOR_HUE], 1.0);
    d[ENV_O3_LAT_SPOT_HUE] = wrap(d[ENV_O3_LAT_SPOT_HUE], 1.0);
    d[ENV_O3_LAT_SPOT_PHI] = wrap(d[ENV_O3_LAT_SPOT_PHI], ENV_O3_TWO_PI);
    return WM_OK;
}

void env_objects3d_get_latent(const Env *e, int lane, double lat[ENV_O3_LATENT_DIM]) {
    const O3 *o = impl(e);
    WM_ASSERT(lane >= 0 && lane < e->lanes);
    memcpy(lat, o->lanes[lane].lat, ENV_O3_LATENT_DIM * sizeof(double));
}

const char *env_objects3d_class_name(const Env *e, int c) {
    const O3 *o = impl(e);
    WM_ASSERT(c >= 0 && c < o->n_classes);
    return o->obj ? o->obj[c].name : o3_shape_name(o->family0 + c);
}

const RdMesh *env_objects3d_mesh(const Env *e, int lane) {
    const O3 *o = impl(e);
    WM_ASSERT(lane >= 0 && lane < e->lanes && o->lanes[lane].entry);
    return &o->lanes[lane].entry->mesh;
}


int env_objects3d_render_threads(const Env *e) {
    return rd_farm_workers(impl(e)->farm);
}
