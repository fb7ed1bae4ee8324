/* Reading a folder in the 3DIEBench layout (ds_3die.h) as a dataset: the index files
 * at open, views decoded from their JPEG files and latents on demand. Every file is
 * input: each problem comes back as an error naming the file (and row), never an
 * assert. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <stb/stb_image.h>

#include "agents/agent.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/npy.h"
#include "core/pool.h"
#include "data/ds_3die.h"
#include "envs/saccade.h"

/* EnvConfig's n_classes range: the class count a config can state. */
#define DS3_MAX_CLASSES 64
/* Threads decoding a batch's views at most. */
#define DS3_MAX_THREADS 8

typedef struct {
    WmStrArray paths; /* object folders, as rows of *_images.npy */
    int32_t *labels;
    int64_t n;
} Split;

struct Ds3 {
    char dir[1024];
    Split split[DS_SPLITS];
    EnvConfig env;
    EnvSpec spec;
    int views, size;
    WmPool *pool; /* decodes the rows of a batch in parallel */
};

/* A row must name a folder below the root: components of [A-Za-z0-9_.-], none "." or
 * "..", joined by '/', with optional leading and trailing '/'. */
static int row_path_ok(const char *s) {
    const char *p = s;
    if (*p == '/') p++;
    if (!*p) return 0;
    while (*p) {
        const char *c = p;
        while (*p && *p != '/') {
            if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-') return 0;
            p++;
        }
        size_t len = (size_t)(p - c);
        if (!len && *p) return 0; /* "//" */
        if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.')) return 0;
        if (*p) p++;
    }
    return 1;
}

/* dir/row/name, the row's leading '/' dropped as the authors' code does. */
static int object_file(const Ds3 *d, int split, int64_t s, const char *name, char *out, size_t outsz) {
    const char *row = d->split[split].paths.items[s];
    if (*row == '/') row++;
    size_t len = strlen(row);
    int n = snprintf(out, outsz, "%s/%.*s/%s", d->dir, (int)(len && row[len - 1] == '/' ? len - 1 : len), row, name);
    return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static int read_split(Ds3 *d, int split, int *max_label, char *err, size_t errsz) {
    Split *sp = &d->split[split];
    char pi[1200], pl[1200];
    if (wm_path_join(pi, sizeof pi, d->dir, ds3_index_file(split, 0)) ||
        wm_path_join(pl, sizeof pl, d->dir, ds3_index_file(split, 1)))
        return wm_errf(err, errsz, WM_ERR_ARG, "the folder name '%s' is too long", d->dir);
    for (int k = 0; k < 2; k++)
        if (!wm_path_exists(k ? pl : pi))
            return wm_errf(err, errsz, WM_ERR_IO,
                           "'%s' is missing: a folder in the 3DIEBench layout holds train_images.npy, "
                           "train_labels.npy, val_images.npy and val_labels.npy (the published 3DIEBench "
                           "has them in the data/ folder of the authors' code; copy them beside the synset "
                           "folders)",
                           k ? pl : pi);
    int rc = wm_npy_read_str(pi, &sp->paths, err, errsz);
    if (rc) return rc;
    WmArray lab;
    if ((rc = wm_npy_read(pl, &lab, WM_NPY_LOAD, err, errsz))) return rc;
    if ((lab.dtype != WM_I64 && lab.dtype != WM_I32) || lab.ndim != 1 || lab.shape[0] != sp->paths.n) {
        rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s' is %s with %d dims (first %zu); it must be int64 [%zu], a label "
                     "for each row of '%s'",
                     pl, wm_dtype_name(lab.dtype), lab.ndim, lab.ndim ? lab.shape[0] : 0, sp->paths.n, pi);
        wm_array_free(&lab);
        return rc;
    }
    sp->n = (int64_t)sp->paths.n;
    sp->labels = wm_new(int32_t, sp->paths.n ? sp->paths.n : 1);
    for (size_t i = 0; i < sp->paths.n && !rc; i++) {
        int64_t v = lab.dtype == WM_I64 ? ((const int64_t *)lab.data)[i] : ((const int32_t *)lab.data)[i];
        if (v < 0 || v >= DS3_MAX_CLASSES)
            rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': row %zu is %lld; labels are class numbers in [0, %d)", pl, i,
                         (long long)v, DS3_MAX_CLASSES);
        else if (!row_path_ok(sp->paths.items[i]))
            rc = wm_errf(err, errsz, WM_ERR_FORMAT,
                         "'%s': row %zu is '%.200s', not an object folder below the dataset like "
                         "/SYNSET/OBJECT/",
                         pi, i, sp->paths.items[i]);
        else {
            sp->labels[i] = (int32_t)v;
            if (v > *max_label) *max_label = (int)v;
        }
    }
    wm_array_free(&lab);
    return rc;
}

/* Reads one latent file into the objects3d latent. */
static int read_latent(const char *path, double lat[ENV_O3_LATENT_DIM], char *err, size_t errsz) {
    WmArray a;
    int rc = wm_npy_read(path, &a, WM_NPY_LOAD, err, errsz);
    if (rc) return rc;
    double v[DS3_LATENT_DIM];
    if ((a.dtype != WM_F64 && a.dtype != WM_F32) || a.ndim != 1 || a.shape[0] != DS3_LATENT_DIM) {
        char shape[64] = "";
        for (int k = 0, o = 0; k < a.ndim && o < (int)sizeof shape; k++)
            o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%zu", k ? ", " : "", a.shape[k]);
        rc = wm_errf(err, errsz, WM_ERR_FORMAT,
                     "'%s' is %s [%s]; a 3DIEBench latent is float64 [7] (rot_x rot_y rot_z floor_hue "
                     "spot_theta spot_phi spot_hue)",
                     path, wm_dtype_name(a.dtype), shape);
    } else {
        for (int k = 0; k < DS3_LATENT_DIM && !rc; k++) {
            v[k] = a.dtype == WM_F64 ? ((const double *)a.data)[k] : ((const float *)a.data)[k];
            if (!isfinite(v[k]))
                rc = wm_errf(err, errsz, WM_ERR_NUMERIC, "'%s': value %d is not a finite number", path, k);
        }
    }
    wm_array_free(&a);
    if (!rc) ds3_latent_to_o3(v, lat);
    return rc;
}

/* A JPEG ends with its end-of-image marker; the decoder would fill a cut file's
 * missing rows without a word, so a file without one is refused here. */
static int jpeg_complete(const uint8_t *b, size_t n) {
    if (n < 4 || b[0] != 0xff || b[1] != 0xd8) return 1; /* not a JPEG: the decoder judges */
    size_t from = n > 64 ? n - 64 : 2;
    for (size_t i = n - 2; i + 1 > from; i--)
        if (b[i] == 0xff && b[i + 1] == 0xd9) return 1;
    return 0;
}

/* Decodes an image file into out (size x size RGB). */
static int read_image(const char *path, int size, uint8_t *out, char *err, size_t errsz) {
    char *bytes = NULL;
    size_t n = 0;
    int rc = wm_read_file(path, &bytes, &n, err, errsz);
    if (rc) return rc;
    if (!jpeg_complete((const uint8_t *)bytes, n)) {
        wm_free(bytes);
        return wm_errf(err, errsz, WM_ERR_FORMAT, "cannot decode image '%s': truncated JPEG (no end-of-image marker)",
                       path);
    }
    int w = 0, h = 0;
    uint8_t *px = env_saccade_image_decode((const uint8_t *)bytes, n, path, &w, &h, err, errsz);
    wm_free(bytes);
    if (!px) return WM_ERR_FORMAT;
    if (w == size && h == size) memcpy(out, px, (size_t)size * (size_t)size * 3);
    else env_saccade_resample(px, w, h, out, size);
    stbi_image_free(px);
    return WM_OK;
}

/* The views per object: latent_0.npy, latent_1.npy, ... of the first object. */
static int count_views(Ds3 *d, int split, char *err, size_t errsz) {
    char p[1400], name[64];
    int v = 0;
    for (; v < DS3_MAX_VIEWS; v++) {
        snprintf(name, sizeof name, "latent_%d.npy", v);
        if (object_file(d, split, 0, name, p, sizeof p))
            return wm_errf(err, errsz, WM_ERR_ARG, "'%s': a path of row 0 is too long", ds3_index_file(split, 0));
        if (!wm_path_exists(p)) break;
    }
    if (v < 2) {
        snprintf(name, sizeof name, "latent_%d.npy", v);
        object_file(d, split, 0, name, p, sizeof p);
        return wm_errf(err, errsz, WM_ERR_FORMAT,
                       "'%s' is missing: the object of row 0 of '%s/%s' has %d view%s; sequences need at "
                       "least 2 (image_{i}.jpg and latent_{i}.npy)",
                       p, d->dir, ds3_index_file(split, 0), v, v == 1 ? "" : "s");
    }
    d->views = v;
    return WM_OK;
}

/* Reads views 0..n-1 of object s (a check at open). */
static int read_views(const Ds3 *d, int split, int64_t s, int n, char *err, size_t errsz) {
    uint8_t *px = wm_new(uint8_t, (size_t)d->size * (size_t)d->size * 3);
    double lat[ENV_O3_LATENT_DIM];
    char p[1400], name[64];
    int rc = WM_OK;
    for (int v = 0; v < n && !rc; v++) {
        snprintf(name, sizeof name, "latent_%d.npy", v);
        rc = object_file(d, split, s, name, p, sizeof p) ? wm_errf(err, errsz, WM_ERR_ARG, "path too long") : WM_OK;
        if (!rc) rc = read_latent(p, lat, err, errsz);
        snprintf(name, sizeof name, "image_%d.jpg", v);
        if (!rc)
            rc = object_file(d, split, s, name, p, sizeof p) ? wm_errf(err, errsz, WM_ERR_ARG, "path too long")
                                                             : read_image(p, d->size, px, err, errsz);
    }
    wm_free(px);
    return rc;
}

/* Every object holds its last view (a folder cut short is found at open). */
static int check_objects(const Ds3 *d, char *err, size_t errsz) {
    char p[1400], name[2][64];
    snprintf(name[0], sizeof name[0], "latent_%d.npy", d->views - 1);
    snprintf(name[1], sizeof name[1], "image_%d.jpg", d->views - 1);
    for (int split = 0; split < DS_SPLITS; split++)
        for (int64_t s = 0; s < d->split[split].n; s++)
            for (int k = 0; k < 2; k++) {
                if (object_file(d, split, s, name[k], p, sizeof p))
                    return wm_errf(err, errsz, WM_ERR_ARG, "'%s/%s': the path of row %lld is too long", d->dir,
                                   ds3_index_file(split, 0), (long long)s);
                if (!wm_path_exists(p))
                    return wm_errf(err, errsz, WM_ERR_FORMAT,
                                   "'%s' is missing (row %lld of '%s/%s'; every object needs the %d views of "
                                   "the first)",
                                   p, (long long)s, d->dir, ds3_index_file(split, 0), d->views);
            }
    return WM_OK;
}

int ds3_open(const char *dir, int mode, const EnvConfig *want, Ds3Info *info, Ds3 **out, char *err, size_t errsz) {
    *out = NULL;
    Ds3 *d = wm_new(Ds3, 1);
    memset(info, 0, sizeof *info);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    int max_label = -1, rc = WM_OK;
    for (int s = 0; s < DS_SPLITS && !rc; s++)
        rc = read_split(d, s, &max_label, err, errsz);
    if (!rc && d->split[DS_SPLIT_TRAIN].n + d->split[DS_SPLIT_VAL].n == 0)
        rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': train_images.npy and val_images.npy list no objects", dir);
    int first = d->split[DS_SPLIT_TRAIN].n ? DS_SPLIT_TRAIN : DS_SPLIT_VAL;
    DsConfig *c = &info->cfg;
    wm_cfg_defaults(ds_config_schema(), c);
    if (want) c->env = *want;
    d->size = c->env.size;
    if (!rc) rc = count_views(d, first, err, errsz);
    if (!rc) rc = read_views(d, first, 0, mode == DS_OPEN_VERIFY ? d->views : 1, err, errsz);
    if (!rc && mode == DS_OPEN_VERIFY) rc = check_objects(d, err, errsz);
    if (rc) {
        ds3_close(d);
        return rc;
    }
    /* The world these views come from, as far as its latents and actions go. */
    c->env.kind = ENV_KIND_OBJECTS3D;
    c->env.n_classes = max_label + 1;
    c->env.obj[0] = 0;
    c->env.rotation = 0; /* euler */
    c->env.translate = 0;
    c->env.translate_actions = 0;
    c->agent.kind = AG_IID;
    c->gen.train_seqs = d->split[DS_SPLIT_TRAIN].n;
    c->gen.val_seqs = d->split[DS_SPLIT_VAL].n;
    c->gen.views = d->views;
    ds_config_normalize(c);
    d->env = c->env;
    env_objects3d_spec(&c->env, max_label + 1, &d->spec);
    d->spec.class_names_hint = "3DIEBench synset";
    info->spec = d->spec;
    info->count[DS_SPLIT_TRAIN] = d->split[DS_SPLIT_TRAIN].n;
    info->count[DS_SPLIT_VAL] = d->split[DS_SPLIT_VAL].n;
    info->views = d->views;
    int cpus = wm_cpu_count();
    d->pool = cpus > 1 ? wm_pool_create(cpus < DS3_MAX_THREADS ? cpus : DS3_MAX_THREADS) : NULL;
    *out = d;
    return WM_OK;
}

void ds3_close(Ds3 *d) {
    if (!d) return;
    for (int s = 0; s < DS_SPLITS; s++) {
        wm_str_array_free(&d->split[s].paths);
        wm_free(d->split[s].labels);
    }
    if (d->pool) wm_pool_destroy(d->pool);
    wm_free(d);
}

int ds3_copy(const Ds3 *d, int split, int64_t s, const int *views, AgBatch *b, int row, char *err, size_t errsz) {
    WM_ASSERT(split >= 0 && split < DS_SPLITS && s >= 0 && s < d->split[split].n && b->h == d->size &&
              b->w == d->size && b->latent_dim == ENV_O3_LATENT_DIM && b->action_dim == d->spec.action_dim);
    int t = b->t, L = ENV_O3_LATENT_DIM, A = b->action_dim;
    size_t view = (size_t)d->size * (size_t)d->size * 3;
    float *lat = b->latents + (size_t)row * (size_t)t * (size_t)L;
    char p[1400], name[64];
    for (int k = 0; k < t; k++) {
        WM_ASSERT(views[k] >= 0 && views[k] < d->views);
        double l[ENV_O3_LATENT_DIM];
        snprintf(name, sizeof name, "latent_%d.npy", views[k]);
        if (object_file(d, split, s, name, p, sizeof p))
            return wm_errf(err, errsz, WM_ERR_ARG, "the path of row %lld is too long", (long long)s);
        int rc = read_latent(p, l, err, errsz);
        if (rc) return rc;
        for (int i = 0; i < L; i++) lat[(size_t)k * L + (size_t)i] = (float)l[i];
        snprintf(name, sizeof name, "image_%d.jpg", views[k]);
        object_file(d, split, s, name, p, sizeof p);
        rc = read_image(p, d->size, b->pixels + ((size_t)row * (size_t)t + (size_t)k) * view, err, errsz);
        if (rc) return rc;
    }
    for (int k = 0; k + 1 < t; k++)
        env_relative_action(&d->env, lat + (size_t)k * L, lat + (size_t)(k + 1) * L,
                            b->actions + ((size_t)row * (size_t)(t - 1) + (size_t)k) * (size_t)A);
    b->labels[row] = d->split[split].labels[s];
    b->instances[row] = (int32_t)s;
    return WM_OK;
}

typedef struct {
    const Ds3 *d;
    int split;
    const int64_t *objs;
    const int *views;
    AgBatch *b;
    int *code;    /* per worker: the status of its first failing row, or WM_OK */
    char *errs;   /* per worker: its message */
} CopyJob;

enum { DS3_ERR_LEN = 1024 };

static void copy_rows(void *ctx, int64_t begin, int64_t end, int worker) {
    CopyJob *j = ctx;
    for (int64_t r = begin; r < end && !j->code[worker]; r++)
        j->code[worker] = ds3_copy(j->d, j->split, j->objs[r], j->views + r * j->b->t, j->b, (int)r,
                                   j->errs + (size_t)worker * DS3_ERR_LEN, DS3_ERR_LEN);
}

int ds3_copy_batch(const Ds3 *d, int split, int n, const int64_t *objs, const int *views, AgBatch *b, char *err,
                   size_t errsz) {
    int workers = d->pool ? wm_pool_size(d->pool) : 1;
    CopyJob j = {d, split, objs, views, b, wm_new(int, (size_t)workers), wm_new(char, (size_t)workers * DS3_ERR_LEN)};
    wm_pool_for(d->pool, n, copy_rows, &j);
    /* Chunks are contiguous and in worker order: the first worker that failed holds
     * the lowest failing row, so the error does not depend on timing. */
    int rc = WM_OK;
    for (int w = 0; w < workers && !rc; w++)
        if (j.code[w]) rc = wm_errf(err, errsz, j.code[w], "%s", j.errs + (size_t)w * DS3_ERR_LEN);
    wm_free(j.code);
    wm_free(j.errs);
    return rc;
}
