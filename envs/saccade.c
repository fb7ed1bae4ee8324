/* The saccade world: a fovea exploring S x S scenes (procedural, a folder of images, or
 * objects3d renders) by known saccades. Implements envs/env.h; see envs/saccade.h for the
 * coordinate conventions. */
#include "envs/saccade.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <stb/stb_image.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/rng.h"
#include "envs/env_impl.h"
#include "envs/objects3d.h"

/* The stream of a reset's draws (scene, first fixation) within its seed. */
#define RESET_STREAM 0x5e5e7ULL

typedef struct {
    int64_t scene;
    int label;
    int32_t k[2]; /* fixation (y, x) on the grid */
    uint8_t *image;
    float *saliency;
    int ready;
} SacLane;

typedef struct {
    int s, f, n, source, saliency;
    int64_t pool;       /* scenes in the pool */
    int64_t n_split[2]; /* scenes per split */
    int64_t *split[2];  /* pool indices per split; NULL: train [0, n0), held-out after */
    uint8_t *cache;     /* folder / objects3d: the pool's scenes, pool * s*s*3 */
    int *cache_label;
    int n_classes;
    char **class_names; /* folder: sub-folder names */
    SacLane *lane;
    uint8_t *lane_image;
    float *lane_saliency;
    float *work;
} Sac;

static void sac_free(Sac *sc) {
    if (!sc) return;
    for (int k = 0; k < 2; k++)
        wm_free(sc->split[k]);
    wm_free(sc->cache);
    wm_free(sc->cache_label);
    if (sc->class_names)
        for (int i = 0; i < sc->n_classes; i++)
            wm_free(sc->class_names[i]);
    wm_free(sc->class_names);
    wm_free(sc->lane);
    wm_free(sc->lane_image);
    wm_free(sc->lane_saliency);
    wm_free(sc->work);
    wm_free(sc);
}

/* ---- Folder source ---------------------------------------------------------------- */

typedef struct {
    char **names;
    int n, cap;
} NameList;

static void names_free(NameList *l) {
    for (int i = 0; i < l->n; i++)
        wm_free(l->names[i]);
    wm_free(l->names);
    l->names = NULL;
    l->n = l->cap = 0;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".bmp", ".tga"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (!strcasecmp(dot, ext[i])) return 1;
    return 0;
}

/* Sorted names in dir: sub-folders (want_dirs) or image files; hidden entries skipped.
 * *other counts the entries of the other sort (to explain an empty result). */
static int list_dir(const char *dir, int want_dirs, NameList *out, int *other, char *err,
                    size_t errsz) {
    DIR *d = opendir(dir);
    if (!d)
        return wm_errf(err, errsz, WM_ERR_IO, "cannot open folder '%s': %s", dir, strerror(errno));
    struct dirent *ent;
    *other = 0;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.') continue;
        char path[2048];
        if (wm_path_join(path, sizeof path, dir, ent->d_name) != 0) {
            closedir(d);
            return wm_errf(err, errsz, WM_ERR_ARG, "path too long: '%s/%s'", dir, ent->d_name);
        }
        int isdir = wm_is_dir(path);
        int keep = want_dirs ? isdir : !isdir && is_image_name(ent->d_name);
        if (!keep) {
            if (want_dirs ? is_image_name(ent->d_name) : isdir) (*other)++;
            continue;
        }
        if (out->n == out->cap) {
            out->cap = out->cap ? 2 * out->cap : 16;
            out->names = wm_realloc(out->names, (size_t)out->cap, sizeof(char *));
        }
        out->names[out->n++] = wm_strdup(ent->d_name);
    }
    closedir(d);
    if (out->n) qsort(out->names, (size_t)out->n, sizeof(char *), cmp_names);
    return WM_OK;
}

static int load_folder(Sac *sc, const EnvConfig *cfg, char *err, size_t errsz) {
    const char *root = cfg->folder;
    if (!root[0])
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "saccade: source = folder needs env.folder (a folder with one "
                       "sub-folder of PNG/JPEG images per class)");
    if (!wm_is_dir(root))
        return wm_errf(err, errsz, WM_ERR_IO, "saccade: env.folder '%s' is not a folder", root);
    NameList classes = {0};
    int loose = 0, rc = list_dir(root, 1, &classes, &loose, err, errsz);
    if (rc) return wm_err_prefix(err, errsz, rc, "saccade: ");
    if (!classes.n) {
        rc = wm_errf(err, errsz, WM_ERR_ARG,
                     "saccade: folder '%s' has no class sub-folders%s (expected "
                     "FOLDER/CLASS/IMAGE.png)",
                     root, loose ? " (its images must sit in one sub-folder per class)" : "");
        names_free(&classes);
        return rc;
    }
    sc->n_classes = classes.n;
    sc->class_names = wm_new(char *, (size_t)classes.n);
    NameList *files = wm_new(NameList, (size_t)classes.n);
    int64_t total = 0;
    for (int c = 0; c < classes.n && !rc; c++) {
        sc->class_names[c] = wm_strdup(classes.names[c]);
        char dir[2048];
        wm_path_join(dir, sizeof dir, root, classes.names[c]);
        int subdirs = 0;
        rc = list_dir(dir, 0, &files[c], &subdirs, err, errsz);
        if (rc) {
            wm_err_prefix(err, errsz, rc, "saccade: ");
        } else if (!files[c].n) {
            rc = wm_errf(err, errsz, WM_ERR_ARG,
                         "saccade: class folder '%s' holds no images (.png, .jpg, .jpeg, "
                         ".bmp, .tga)",
                         dir);
        }
        total += files[c].n;
    }
    size_t scene_bytes = (size_t)sc->s * sc->s * 3, cache_bytes = 0;
    if (!rc && total > 0x7fffffff)
        rc = wm_errf(err, errsz, WM_ERR_RANGE, "saccade: folder '%s' holds too many images", root);
    if (!rc && (!wm_size_mul(scene_bytes, (size_t)total, &cache_bytes) ||
                !(sc->cache = wm_try_calloc(cache_bytes, 1))))
        rc = wm_errf(err, errsz, WM_ERR_NOMEM,
                     "saccade: not enough memory to hold %lld images of %dx%d from '%s'",
                     (long long)total, sc->s, sc->s, root);
    if (!rc) {
        sc->pool = total;
        sc->cache_label = wm_new(int, (size_t)total);
        for (int k = 0; k < 2; k++)
            sc->split[k] = wm_new(int64_t, (size_t)total);
    }
    int64_t idx = 0;
    for (int c = 0; c < classes.n && !rc; c++) {
        int nc = files[c].n;
        /* The last share of each class (in name order) is held out, keeping one for training. */
        int held = (int)floor(nc * cfg->heldout + 0.5);
        if (held > nc - 1) held = nc - 1;
        for (int i = 0; i < nc && !rc; i++, idx++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s/%s", root, classes.names[c], files[c].names[i]);
            int w = 0, h = 0;
            char *bytes = NULL;
            size_t nbytes = 0;
            if ((rc = wm_read_file(path, &bytes, &nbytes, err, errsz))) {
                wm_err_prefix(err, errsz, rc, "saccade: ");
                break;
            }
            unsigned char *px =
                env_saccade_image_decode((const uint8_t *)bytes, nbytes, path, &w, &h, err, errsz);
            wm_free(bytes);
            if (!px) {
                rc = wm_err_prefix(err, errsz, WM_ERR_FORMAT, "saccade: ");
                break;
            }
            if (w < sc->f || h < sc->f) {
                rc = wm_errf(err, errsz, WM_ERR_RANGE,
                             "saccade: image '%s' is %dx%d, smaller than the fovea (%d px)", path,
                             w, h, sc->f);
            } else {
                env_saccade_resample(px, w, h, sc->cache + (size_t)idx * scene_bytes, sc->s);
                sc->cache_label[idx] = c;
                int k = i >= nc - held ? ENV_SPLIT_HELDOUT : ENV_SPLIT_TRAIN;
                sc->split[k][sc->n_split[k]++] = idx;
            }
            stbi_image_free(px);
        }
    }
    if (!rc && cfg->heldout > 0 && sc->n_split[ENV_SPLIT_HELDOUT] == 0)
        rc = wm_errf(err, errsz, WM_ERR_ARG,
                     "saccade: folder '%s' has too few images per class to hold out a share of "
                     "%g (each class keeps at least one for training)",
                     root, cfg->heldout);
    for (int c = 0; c < classes.n; c++)
        names_free(&files[c]);
    wm_free(files);
    names_free(&classes);
    return rc;
}

/* The system's stb_image (2022) writes past its Huffman arrays when a JPEG table
 * lists more than 256 codes; this walk over the file's segments refuses such tables
 * before the decoder sees them. NULL when the file is acceptable, else the reason. */
static const char *jpeg_tables_check(const uint8_t *b, size_t n) {
    size_t i = 2;
    while (i + 4 <= n) {
        if (b[i] != 0xff || b[i + 1] == 0xff) { /* entropy-coded data, fill bytes */
            i++;
            continue;
        }
        uint8_t m = b[i + 1];
        if (m == 0x00 || m == 0x01 || (m >= 0xd0 && m <= 0xd8)) { /* no length field */
            i += 2;
            continue;
        }
        if (m == 0xd9) break; /* end of image */
        size_t len = (size_t)b[i + 2] << 8 | b[i + 3];
        if (len < 2 || len > n - i - 2) return "a segment runs past the end of the file";
        if (m == 0xc4)
            for (size_t p = i + 4, end = i + 2 + len; p < end;) {
                if (end - p < 17) return "truncated Huffman table";
                size_t codes = 0;
                for (int k = 1; k <= 16; k++) codes += b[p + (size_t)k];
                if (codes > 256) return "a Huffman table with more than 256 codes";
                p += 17 + codes;
                if (p > end) return "truncated Huffman table";
            }
        i += 2 + len;
    }
    return NULL;
}

/* PNG chunks whose length runs past the end of the file make stb_image grow its
 * buffer to that length first (a 140-byte file asked for 1 GB). NULL when every
 * chunk up to IEND fits in the file. */
static const char *png_chunks_check(const uint8_t *b, size_t n) {
    size_t i = 8;
    while (i + 8 <= n) {
        size_t len = (size_t)b[i] << 24 | (size_t)b[i + 1] << 16 | (size_t)b[i + 2] << 8 | b[i + 3];
        if (len > n - i - 8 || n - i - 8 - len < 4) return "a chunk runs past the end of the file";
        if (!memcmp(b + i + 4, "IEND", 4)) break;
        i += 12 + len;
    }
    return NULL;
}

uint8_t *env_saccade_image_decode(const uint8_t *bytes, size_t n, const char *name, int *w, int *h,
                                  char *err, size_t errsz) {
    int comp = 0;
    *w = *h = 0;
    if (n > 0x7fffffff) {
        wm_errf(err, errsz, WM_ERR_RANGE, "image '%s' is larger than 2 GiB", name);
        return NULL;
    }
    /* Only the formats the folder promises reach the decoder (stb_image would also try
     * GIF, PSD, HDR, PIC and PNM on any content). TGA has no signature: it is what
     * carries none of the others'. */
    static const struct {
        const char *magic;
        size_t len;
    } other[] = {{"GIF8", 4}, {"8BPS", 4}, {"#?RADIANCE", 10}, {"#?RGBE", 6}, {"\x53\x80\xf6\x34", 4},
                 {"P5", 2}, {"P6", 2}};
    for (size_t k = 0; k < sizeof other / sizeof other[0]; k++)
        if (n >= other[k].len && !memcmp(bytes, other[k].magic, other[k].len)) {
            wm_errf(err, errsz, WM_ERR_FORMAT,
                    "image '%s' is not a PNG, JPEG, BMP or TGA file (GIF, PSD, HDR, PIC or PNM "
                    "content)",
                    name);
            return NULL;
        }
    /* The decoder takes any run of 0xff fill bytes before the start-of-image marker. */
    size_t soi = 0;
    while (soi < n && bytes[soi] == 0xff) soi++;
    const char *bad = soi >= 1 && soi < n && bytes[soi] == 0xd8
                          ? jpeg_tables_check(bytes + soi - 1, n - soi + 1)
                          : NULL;
    if (bad) {
        wm_errf(err, errsz, WM_ERR_FORMAT, "cannot decode image '%s': corrupt JPEG (%s)", name, bad);
        return NULL;
    }
    bad = n >= 8 && !memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) ? png_chunks_check(bytes, n) : NULL;
    if (bad) {
        wm_errf(err, errsz, WM_ERR_FORMAT, "cannot decode image '%s': corrupt PNG (%s)", name, bad);
        return NULL;
    }
    if (!stbi_info_from_memory(bytes, (int)n, w, h, &comp)) {
        const char *why = stbi_failure_reason();
        wm_errf(err, errsz, WM_ERR_FORMAT, "cannot decode image '%s': %s", name,
                why ? why : "not a PNG, JPEG, BMP or TGA image");
        return NULL;
    }
    if (*w < 1 || *h < 1 || *w > ENV_SACCADE_MAX_IMAGE_SIDE || *h > ENV_SACCADE_MAX_IMAGE_SIDE ||
        (int64_t)*w * *h > ENV_SACCADE_MAX_IMAGE_PIXELS) {
        wm_errf(err, errsz, WM_ERR_RANGE,
                "image '%s' is %dx%d; sides of 1..%d pixels and at most %d pixels are read", name,
                *w, *h, ENV_SACCADE_MAX_IMAGE_SIDE, ENV_SACCADE_MAX_IMAGE_PIXELS);
        return NULL;
    }
    /* A few bytes of TGA or BMP header can promise millions of pixels that the decoder
     * then fills and converts one by one: pixels beyond what any real compression
     * ratio gives are refused (PNG deflate tops out near 1032 bytes per byte). */
    if ((int64_t)*w * *h > (1 << 20) + 1024 * (int64_t)n) {
        wm_errf(err, errsz, WM_ERR_FORMAT,
                "image '%s' claims %dx%d pixels in a file of %zu bytes (truncated or corrupt)",
                name, *w, *h, n);
        return NULL;
    }
    int w2 = 0, h2 = 0;
    uint8_t *px = stbi_load_from_memory(bytes, (int)n, &w2, &h2, &comp, 3);
    if (!px || w2 != *w || h2 != *h) {
        const char *why = stbi_failure_reason();
        stbi_image_free(px);
        wm_errf(err, errsz, WM_ERR_FORMAT, "cannot decode image '%s': %s", name,
                why ? why : "corrupt data");
        return NULL;
    }
    return px;
}

/* ---- objects3d source ------------------------------------------------------------- */

/* Scenes are objects3d views rendered at S x S once, at creation: scene i shows an object
 * instance from objects3d's own train split when i is in the saccade train split, from
 * its held-out split otherwise, in a random pose and lighting that depend on i alone. */
#define O3_SCENE_SEED 0x0b3ec75ce9e5ULL
#define O3_BATCH      64

static int render_objects3d(Sac *sc, const EnvConfig *cfg, char *err, size_t errsz) {
    if (sc->s < 32 || sc->s > 512)
        return wm_errf(err, errsz, WM_ERR_RANGE,
                       "saccade: source = objects3d renders scenes of 32..512 px, scene_size is %d",
                       sc->s);
    sc->pool = cfg->n_scenes;
    int64_t held = (int64_t)floor(sc->pool * cfg->heldout + 0.5);
    if (cfg->heldout > 0 && held < 1) held = 1;
    sc->n_split[ENV_SPLIT_HELDOUT] = held;
    sc->n_split[ENV_SPLIT_TRAIN] = sc->pool - held;
    if (sc->n_split[ENV_SPLIT_TRAIN] < 1)
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "saccade: n_scenes %lld leaves no training scene after holding out a "
                       "share of %g",
                       (long long)sc->pool, cfg->heldout);
    size_t scene_bytes = (size_t)sc->s * sc->s * 3, bytes;
    if (!wm_size_mul(scene_bytes, (size_t)sc->pool, &bytes) ||
        !(sc->cache = wm_try_calloc(bytes, 1)))
        return wm_errf(err, errsz, WM_ERR_NOMEM,
                       "saccade: not enough memory for %lld objects3d scenes of %dx%d",
                       (long long)sc->pool, sc->s, sc->s);
    sc->cache_label = wm_new(int, (size_t)sc->pool);
    EnvConfig oc = *cfg;
    oc.kind = ENV_KIND_OBJECTS3D;
    oc.size = sc->s;
    int lanes = sc->pool < O3_BATCH ? (int)sc->pool : O3_BATCH;
    Env *o3;
    int rc = env_create(&oc, lanes, &o3, err, errsz);
    if (rc) return wm_err_prefix(err, errsz, rc, "saccade: source = objects3d: ");
    EnvObs obs[O3_BATCH];
    int ids[O3_BATCH];
    for (int64_t first = 0; first < sc->pool && !rc; first += lanes) {
        int m = sc->pool - first < lanes ? (int)(sc->pool - first) : lanes;
        for (int j = 0; j < m && !rc; j++) {
            int64_t i = first + j;
            int split = i < sc->n_split[ENV_SPLIT_TRAIN] ? ENV_SPLIT_TRAIN : ENV_SPLIT_HELDOUT;
            rc = env_reset(o3, j, wm_seed_derive(O3_SCENE_SEED, (uint64_t)i), split, NULL);
            if (rc)
                wm_errf(err, errsz, rc,
                        "saccade: source = objects3d has no %s object instances (env.instances "
                        "%d, env.heldout %g)",
                        split ? "held-out" : "training", cfg->instances, cfg->heldout);
            obs[j] = (EnvObs){sc->cache + (size_t)i * scene_bytes, NULL, 0, 0};
            ids[j] = j;
        }
        if (!rc && (rc = env_observe(o3, m, ids, obs)) != WM_OK)
            wm_errf(err, errsz, rc, "saccade: rendering objects3d scenes failed (%s)",
                    wm_status_name(rc));
        for (int j = 0; j < m && !rc; j++)
            sc->cache_label[first + j] = obs[j].label;
    }
    if (!rc) {
        sc->n_classes = env_spec(o3)->n_classes;
        sc->class_names = wm_new(char *, (size_t)sc->n_classes);
        for (int c = 0; c < sc->n_classes; c++) {
            const char *name = env_objects3d_class_name(o3, c);
            sc->class_names[c] = wm_strdup(name ? name : "");
        }
    }
    env_destroy(o3);
    return rc;
}

/* ---- The Env vtable ---------------------------------------------------------------- */

static int sac_create(Env *e, const EnvConfig *cfg, char *err, size_t errsz) {
    if (cfg->fovea > cfg->scene_size)
        return wm_errf(err, errsz, WM_ERR_RANGE,
                       "saccade: fovea %d is larger than the scene (scene_size %d)", cfg->fovea,
                       cfg->scene_size);
    Sac *sc = wm_new(Sac, 1);
    sc->s = cfg->scene_size;
    sc->f = cfg->fovea;
    sc->n = cfg->size;
    sc->source = cfg->source;
    sc->saliency = cfg->saliency;
    int rc = WM_OK;
    if (sc->source == ENV_SOURCE_PROCEDURAL) {
        sc->pool = cfg->n_scenes;
        sc->n_classes = ENV_SACCADE_PROC_CLASSES;
        int64_t held = (int64_t)floor(sc->pool * cfg->heldout + 0.5);
        if (cfg->heldout > 0 && held < 1) held = 1;
        sc->n_split[ENV_SPLIT_HELDOUT] = held;
        sc->n_split[ENV_SPLIT_TRAIN] = sc->pool - held;
        if (sc->n_split[ENV_SPLIT_TRAIN] < 1)
            rc = wm_errf(err, errsz, WM_ERR_ARG,
                         "saccade: n_scenes %lld leaves no training scene after holding out a "
                         "share of %g",
                         (long long)sc->pool, cfg->heldout);
    } else if (sc->source == ENV_SOURCE_FOLDER) {
        rc = load_folder(sc, cfg, err, errsz);
    } else {
        rc = render_objects3d(sc, cfg, err, errsz);
    }
    size_t s2 = (size_t)sc->s * sc->s, img_bytes = 0, sal_count = 0;
    if (!rc && (!wm_size_mul(s2 * 3, (size_t)e->lanes, &img_bytes) ||
                !wm_size_mul(s2, (size_t)e->lanes, &sal_count) ||
                !(sc->lane_image = wm_try_calloc(img_bytes, 1)) ||
                !(sc->lane_saliency = wm_try_calloc(sal_count, sizeof(float)))))
        rc = wm_errf(err, errsz, WM_ERR_NOMEM,
                     "saccade: not enough memory for %d lanes of %dx%d scenes", e->lanes, sc->s,
                     sc->s);
    if (rc) {
        sac_free(sc);
        return rc;
    }
    sc->lane = wm_new(SacLane, (size_t)e->lanes);
    for (int i = 0; i < e->lanes; i++) {
        sc->lane[i].image = sc->lane_image + (size_t)i * s2 * 3;
        sc->lane[i].saliency = sc->lane_saliency + (size_t)i * s2;
    }
    sc->work = wm_new(float, env_saliency_work_floats(sc->s));
    e->impl = sc;

    EnvSpec *sp = &e->spec;
    sp->height = sp->width = sc->n;
    sp->channels = 3;
    sp->action_dim = 2;
    sp->latent_dim = 2;
    sp->n_classes = sc->n_classes;
    sp->action_names[0] = "dy";
    sp->action_names[1] = "dx";
    sp->latent_names[0] = "y";
    sp->latent_names[1] = "x";
    sp->layout = (EnvLayout){.family = ENV_FAMILY_GLIMPSE, .act_rot = -1, .act_trans = -1,
                             .act_color = -1, .lat_rot = -1, .lat_trans = -1, .lat_color = -1,
                             .grid = ENV_SACCADE_GRID, .scene_size = sc->s};
    sp->class_names_hint = sc->source == ENV_SOURCE_PROCEDURAL
                               ? "procedural scene: the pair of part kinds it shows"
                           : sc->source == ENV_SOURCE_FOLDER ? "image sub-folder name"
                                                             : "objects3d shape family";
    return WM_OK;
}

static void sac_destroy(Env *e) {
    sac_free(e->impl);
    e->impl = NULL;
}

static int sac_reset(Env *e, int lane, uint64_t seed, int split) {
    Sac *sc = e->impl;
    SacLane *L = &sc->lane[lane];
    int64_t n = sc->n_split[split];
    if (n < 1) return WM_ERR_ARG; /* no held-out scenes when heldout = 0 */
    WmRng rng;
    wm_rng_seed(&rng, seed, RESET_STREAM);
    int64_t pos = (int64_t)wm_rng_below(&rng, (uint32_t)n);
    int64_t idx = sc->split[split]           ? sc->split[split][pos]
                  : split == ENV_SPLIT_TRAIN ? pos
                                             : sc->n_split[ENV_SPLIT_TRAIN] + pos;
    size_t s2 = (size_t)sc->s * sc->s;
    L->scene = idx;
    if (sc->source == ENV_SOURCE_PROCEDURAL) {
        L->label = env_saccade_procedural(idx, sc->s, L->image);
    } else {
        memcpy(L->image, sc->cache + (size_t)idx * s2 * 3, s2 * 3);
        L->label = sc->cache_label[idx];
    }
    env_saliency(L->image, sc->s, sc->saliency, L->saliency, sc->work);
    int64_t p = wm_rng_pick(L->saliency, s2, wm_rng_uniform(&rng));
    WM_ASSERT(p >= 0);
    L->k[0] = env_saccade_grid_of_pixel((int)(p / sc->s), sc->s);
    L->k[1] = env_saccade_grid_of_pixel((int)(p % sc->s), sc->s);
    L->ready = 1;
    return WM_OK;
}

static int sac_step(Env *e, int lane, const float *action) {
    Sac *sc = e->impl;
    SacLane *L = &sc->lane[lane];
    WM_ASSERT(L->ready);
    if (!isfinite(action[0]) || !isfinite(action[1])) return WM_ERR_NUMERIC;
    for (int d = 0; d < 2; d++) {
        double k = L->k[d] + nearbyint((double)action[d] * ENV_SACCADE_GRID);
        L->k[d] = (int32_t)fmin(fmax(k, 0), ENV_SACCADE_GRID);
    }
    return WM_OK;
}

static void sac_latent(const Env *e, int lane, float *latent) {
    const SacLane *L = &((const Sac *)e->impl)->lane[lane];
    latent[0] = (float)L->k[0] / ENV_SACCADE_GRID;
    latent[1] = (float)L->k[1] / ENV_SACCADE_GRID;
}

/* Safe to call from several threads at once on disjoint lanes: it only reads lane state. */
static int sac_observe(Env *e, int n, const int *lanes, EnvObs *outs) {
    const Sac *sc = e->impl;
    for (int i = 0; i < n; i++) {
        const SacLane *L = &sc->lane[lanes[i]];
        WM_ASSERT(L->ready);
        double y = (double)L->k[0] * sc->s / ENV_SACCADE_GRID;
        double x = (double)L->k[1] * sc->s / ENV_SACCADE_GRID;
        if (outs[i].pixels)
            env_saccade_glimpse(L->image, sc->s, y, x, sc->f, sc->n, outs[i].pixels);
        if (outs[i].latent) sac_latent(e, lanes[i], outs[i].latent);
        outs[i].label = L->label;
        outs[i].instance = (int)L->scene;
    }
    return WM_OK;
}

static int sac_scene(const Env *e, int lane, EnvScene *out) {
    const Sac *sc = e->impl;
    const SacLane *L = &sc->lane[lane];
    if (!L->ready) return WM_ERR_ARG;
    out->image = L->image;
    out->saliency = L->saliency;
    out->size = sc->s;
    return WM_OK;
}

int env_saccade_set_fixation(Env *e, int lane, int32_t ky, int32_t kx) {
    if (!e || e->vt != &env_saccade_vtable || lane < 0 || lane >= e->lanes) return WM_ERR_ARG;
    SacLane *L = &((Sac *)e->impl)->lane[lane];
    if (!L->ready) return WM_ERR_ARG;
    L->k[0] = ky < 0 ? 0 : ky > ENV_SACCADE_GRID ? ENV_SACCADE_GRID : ky;
    L->k[1] = kx < 0 ? 0 : kx > ENV_SACCADE_GRID ? ENV_SACCADE_GRID : kx;
    return WM_OK;
}

const char *env_saccade_class_name(const Env *e, int label) {
    if (!e || e->vt != &env_saccade_vtable) return NULL;
    const Sac *sc = e->impl;
    if (label < 0 || label >= sc->n_classes) return NULL;
    if (sc->source == ENV_SOURCE_PROCEDURAL) return env_saccade_procedural_class(label);
    if (sc->class_names) return sc->class_names[label];
    return NULL;
}

/* The cumulative action: the sum of displacements. Grid multiples of 2^-12 add
 * exactly in double (and in float). */
static void sac_compose(const EnvConfig *cfg, int action_dim, const float *actions, int n, float *out) {
    WM_ASSERT(action_dim == 2);
    double sum[2] = {0, 0};
    for (int i = 0; i < n; i++)
        for (int d = 0; d < 2; d++)
            sum[d] += actions[(size_t)i * 2 + d];
    out[0] = (float)sum[0], out[1] = (float)sum[1];
}

static void sac_relative(const EnvConfig *cfg, const float *from, const float *to, float *out) {
    out[0] = to[0] - from[0];
    out[1] = to[1] - from[1];
}

static void sac_state_action(const EnvConfig *cfg, const double *from, const double *to,
                             float *out) {
    (void)cfg;
    out[0] = (float)(to[0] - from[0]);
    out[1] = (float)(to[1] - from[1]);
}

/* The fixation (y, x) / S, rounded to the grid and clamped into [0, 1]. */
static int sac_set_state(Env *e, int lane, const double *latent) {
    if (!isfinite(latent[0]) || !isfinite(latent[1]) || fabs(latent[0]) > 2 || fabs(latent[1]) > 2)
        return WM_ERR_ARG;
    return env_saccade_set_fixation(e, lane, (int32_t)nearbyint(latent[0] * ENV_SACCADE_GRID),
                                    (int32_t)nearbyint(latent[1] * ENV_SACCADE_GRID));
}

static void sac_get_state(const Env *e, int lane, double *latent) {
    const SacLane *L = &((const Sac *)e->impl)->lane[lane];
    latent[0] = (double)L->k[0] / ENV_SACCADE_GRID;
    latent[1] = (double)L->k[1] / ENV_SACCADE_GRID;
}

static EnvConfigInfo sac_config_info(const EnvConfig *cfg) {
    int n = cfg->source == ENV_SOURCE_PROCEDURAL ? ENV_SACCADE_PROC_CLASSES
            : cfg->source == ENV_SOURCE_FOLDER || cfg->obj[0] ? -1
                                                               : cfg->n_classes;
    return (EnvConfigInfo){.n_classes = n,
                           .scene_size = cfg->scene_size,
                           .uses_gl = cfg->source == ENV_SOURCE_OBJECTS3D};
}

const EnvVtable env_saccade_vtable = {
    .name = "saccade",
    .traits = {.family = ENV_FAMILY_GLIMPSE, .own_threads = 0},
    .create = sac_create,
    .destroy = sac_destroy,
    .reset = sac_reset,
    .step = sac_step,
    .observe = sac_observe,
    .latent = sac_latent,
    .scene = sac_scene,
    .compose = sac_compose,
    .relative = sac_relative,
    .sample_state = NULL,
    .state_action = sac_state_action,
    .set_state = sac_set_state,
    .get_state = sac_get_state,
    .class_name = env_saccade_class_name,
    .config_info = sac_config_info,
    .view = NULL,
};
