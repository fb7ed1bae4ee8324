/* Writing an objects3d world in the 3DIEBench layout (ds_3die.h): one folder per
 * object with a JPEG and a latent file per view, and the four index files. The tree
 * is built in a hidden sibling of the destination and renamed into place whole. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/npy.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/signal.h"
#include "data/ds_3die.h"

/* Views rendered together. */
#define LANES 64
/* JPEG quality (OpenCV's default, which the authors' generator wrote with). */
#define JPEG_QUALITY 95
/* Stream of the view latents: (gen.seed, class, instance, view). */
#define LATENT_STREAM 0x3d1eb0ULL

/* A whole file, plainly: the tree it lands in becomes visible only when complete. */
static int write_file(const char *path, const void *data, size_t n, int64_t *bytes, char *err, size_t errsz) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return wm_errf(err, errsz, WM_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    const char *p = data;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            close(fd);
            return wm_errf(err, errsz, WM_ERR_IO, "cannot write '%s': %s", path, strerror(e));
        }
        done += (size_t)w;
    }
    if (close(fd)) return wm_errf(err, errsz, WM_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    *bytes += (int64_t)n;
    return WM_OK;
}

static void collect(void *ctx, void *data, int size) { wm_buf_append(ctx, data, (size_t)size); }

/* One view's two files in its object's folder. */
static int write_view(const char *obj, int view, const uint8_t *px, int size, const double lat[DS3_LATENT_DIM],
                      int64_t *bytes, char *err, size_t errsz) {
    char p[1600];
    WmBuf b = {0};
    if (!stbi_write_jpg_to_func(collect, &b, size, size, 3, px, JPEG_QUALITY)) {
        wm_buf_free(&b);
        return wm_errf(err, errsz, WM_ERR_IO, "'%s': JPEG encoding of view %d failed", obj, view);
    }
    snprintf(p, sizeof p, "%s/image_%d.jpg", obj, view);
    int rc = write_file(p, b.data, b.len, bytes, err, errsz);
    b.len = 0;
    size_t shape = DS3_LATENT_DIM;
    wm_npy_header(WM_F64, 1, &shape, &b);
    wm_buf_append(&b, lat, sizeof(double) * DS3_LATENT_DIM);
    snprintf(p, sizeof p, "%s/latent_%d.npy", obj, view);
    if (!rc) rc = write_file(p, b.data, b.len, bytes, err, errsz);
    wm_buf_free(&b);
    return rc;
}

/* "/SYNSET/OBJECT/" of (class, instance): 43 characters, as in 3DIEBench. */
static void object_row(int cls, int inst, char *out, size_t outsz) {
    snprintf(out, outsz, "/%08d/%016x%016x/", cls, 0u, (unsigned)inst);
}

/* The index files of one split: rows[n] of width 43 and their labels. */
static int write_index(const char *dir, int split, char (*rows)[48], const int64_t *labels, int64_t n,
                       int64_t *bytes, char *err, size_t errsz) {
    enum { W = 43 };
    char p[1200];
    WmBuf b = {0};
    wm_npy_header_str(W, (size_t)n, &b);
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < W; k++) {
            uint32_t c = (unsigned char)rows[i][k]; /* ASCII: NUL-padded if shorter */
            unsigned char u[4] = {(unsigned char)c, 0, 0, 0};
            wm_buf_append(&b, u, 4);
        }
    snprintf(p, sizeof p, "%s/%s", dir, ds3_index_file(split, 0));
    int rc = write_file(p, b.data, b.len, bytes, err, errsz);
    b.len = 0;
    size_t shape = (size_t)n;
    wm_npy_header(WM_I64, 1, &shape, &b);
    if (n) wm_buf_append(&b, labels, sizeof(int64_t) * (size_t)n);
    snprintf(p, sizeof p, "%s/%s", dir, ds3_index_file(split, 1));
    if (!rc) rc = write_file(p, b.data, b.len, bytes, err, errsz);
    wm_buf_free(&b);
    return rc;
}

/* The objects of one split into tmp: folders, views, index files. */
static int gen_split(Env *e, const DsConfig *cfg, int split, int64_t n, const char *tmp, WmProgress *pr,
                     int64_t *done, Ds3GenResult *res, char *err, size_t errsz) {
    const EnvSpec *sp = env_spec(e);
    int C = sp->n_classes, n_train = env_objects3d_train_instances(e), V = cfg->gen.views, S = cfg->env.size;
    typedef char Row[48];
    Row *rows = wm_calloc((size_t)(n ? n : 1), sizeof(Row));
    int64_t *labels = wm_new(int64_t, (size_t)(n ? n : 1));
    uint8_t *px = wm_new(uint8_t, (size_t)LANES * (size_t)S * S * 3);
    double lat7[LANES][DS3_LATENT_DIM];
    int view_of[LANES], lanes[LANES];
    int64_t obj_of[LANES];
    EnvObs obs[LANES];
    for (int l = 0; l < LANES; l++) {
        lanes[l] = l;
        obs[l] = (EnvObs){.pixels = px + (size_t)l * S * S * 3};
    }
    char p[1400];
    int rc = WM_OK;
    /* The (object, view) pairs in order, LANES at a time. */
    int64_t total = n * V;
    for (int64_t q = 0; q < total && !rc; q += LANES) {
        int m = total - q < LANES ? (int)(total - q) : LANES;
        for (int l = 0; l < m && !rc; l++) {
            int64_t k = (q + l) / V;
            int v = (int)((q + l) % V), cls = (int)(k % C);
            int inst = (int)(k / C) + (split == DS_SPLIT_TRAIN ? 0 : n_train);
            if (v == 0) {
                object_row(cls, inst, rows[k], sizeof rows[k]);
                labels[k] = cls;
                snprintf(p, sizeof p, "%s/%08d", tmp, cls);
                if (mkdir(p, 0755) && errno != EEXIST)
                    rc = wm_errf(err, errsz, WM_ERR_IO, "cannot create '%s': %s", p, strerror(errno));
                snprintf(p, sizeof p, "%s%.*s", tmp, 42, rows[k]);
                if (!rc && mkdir(p, 0755))
                    rc = wm_errf(err, errsz, WM_ERR_IO, "cannot create '%s': %s", p, strerror(errno));
            }
            WmRng r;
            uint64_t stream = wm_seed_derive(wm_seed_derive(LATENT_STREAM + (uint64_t)cls, (uint64_t)inst), (uint64_t)v);
            wm_rng_seed(&r, (uint64_t)cfg->gen.seed, stream);
            double lat[ENV_O3_LATENT_DIM];
            if (!rc) rc = env_sample_state(&cfg->env, &r, lat);
            /* The view shows the latent as written (Euler angles, then back). */
            ds3_latent_from_o3(lat, lat7[l]);
            ds3_latent_to_o3(lat7[l], lat);
            if (!rc) rc = env_objects3d_set_object(e, l, cls, inst);
            if (!rc) rc = env_objects3d_set_latent(e, l, lat);
            if (rc && !err[0]) wm_errf(err, errsz, rc, "objects3d: cannot place object %d/%d", cls, inst);
            view_of[l] = v, obj_of[l] = k;
        }
        if (!rc) rc = env_observe(e, m, lanes, obs);
        if (rc && !err[0]) wm_errf(err, errsz, rc, "objects3d: rendering failed");
        for (int l = 0; l < m && !rc; l++) {
            snprintf(p, sizeof p, "%s%.*s", tmp, 42, rows[obj_of[l]]);
            rc = write_view(p, view_of[l], obs[l].pixels, S, lat7[l], &res->bytes, err, errsz);
        }
        *done += m;
        if (pr) wm_progress_update(pr, *done, NULL);
        if (!rc && wm_interrupted())
            rc = wm_errf(err, errsz, WM_ERR_INTERRUPTED, "interrupted before the tree was complete; --out is unchanged");
    }
    if (!rc) rc = write_index(tmp, split, rows, labels, n, &res->bytes, err, errsz);
    res->objects[split] = n;
    wm_free(rows);
    wm_free(labels);
    wm_free(px);
    return rc;
}

int ds3_generate(const Ds3GenSetup *su, Ds3GenResult *res, char *err, size_t errsz) {
    const DsConfig *cfg = su->cfg;
    memset(res, 0, sizeof *res);
    if (err && errsz) err[0] = 0;
    double t0 = wm_now();
    if (cfg->env.kind != ENV_KIND_OBJECTS3D)
        return wm_errf(err, errsz, WM_ERR_ARG, "--layout 3diebench writes the objects3d world (env.kind = objects3d)");
    if (cfg->env.translate != 0)
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "--layout 3diebench: its latent has no translation; set env.translate = 0 (it is %g)",
                       cfg->env.translate);
    /* The destination: absent, empty, or (force) a tree this layout wrote. */
    char dest[1024], tmp[1100], old[1100], parent[1024], base[1024];
    if (snprintf(dest, sizeof dest, "%s", su->dir) >= (int)sizeof dest)
        return wm_errf(err, errsz, WM_ERR_ARG, "--out '%s' is too long", su->dir);
    size_t len = strlen(dest);
    while (len > 1 && dest[len - 1] == '/') dest[--len] = 0;
    int exists = wm_path_exists(dest);
    if (exists && !wm_is_dir(dest)) return wm_errf(err, errsz, WM_ERR_ARG, "'%s' exists and is not a folder", dest);
    int replace = exists && wm_dir_empty(dest, NULL) != 1; /* unreadable: as not empty */
    if (replace && !su->force)
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "'%s' is not empty; choose a new or empty folder (or --force to replace a folder in the "
                       "3DIEBench layout)",
                       dest);
    if (replace && !ds3_is_layout(dest))
        return wm_errf(err, errsz, WM_ERR_ARG,
                       "--force replaces only a folder in the 3DIEBench layout (with train_images.npy); '%s' "
                       "holds other files",
                       dest);
    snprintf(parent, sizeof parent, "%s", dest);
    snprintf(base, sizeof base, "%s", dest);
    const char *pdir = dirname(parent), *bname = basename(base);
    int rc = wm_mkdirs(pdir, err, errsz);
    if (rc) return rc;
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp-3die.%ld", pdir, bname, (long)getpid());
    snprintf(old, sizeof old, "%s/.%s.old-3die.%ld", pdir, bname, (long)getpid());
    if (wm_path_exists(tmp) && (rc = wm_remove_tree(tmp, err, errsz))) return rc;
    if (mkdir(tmp, 0755)) return wm_errf(err, errsz, WM_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));

    EnvConfig ec = cfg->env;
    Env *e = NULL;
    if ((rc = env_create(&ec, LANES, &e, err, errsz))) {
        wm_remove_tree(tmp, NULL, 0);
        return rc;
    }
    int C = env_spec(e)->n_classes, n_train = env_objects3d_train_instances(e);
    int64_t avail[DS_SPLITS] = {(int64_t)C * n_train, (int64_t)C * (cfg->env.instances - n_train)};
    int64_t want[DS_SPLITS] = {cfg->gen.train_seqs, cfg->gen.val_seqs};
    for (int s = 0; s < DS_SPLITS && !rc; s++)
        if (want[s] > avail[s])
            rc = wm_errf(err, errsz, WM_ERR_RANGE,
                         "--layout 3diebench writes one folder per object: gen.%s_seqs = %lld, but the %s split holds "
                         "%lld objects (%d classes x %lld instances); lower it or raise env.instances",
                         s ? "val" : "train", (long long)want[s], s ? "held-out" : "training", (long long)avail[s], C,
                         (long long)(C ? avail[s] / C : 0));
    for (int l = 0; l < LANES && !rc; l++)
        rc = env_reset(e, l, (uint64_t)l, ENV_SPLIT_TRAIN, NULL);
    WmProgress pr;
    int64_t done = 0;
    if (!rc && !su->quiet)
        wm_progress_start(&pr, "gen 3diebench", (want[0] + want[1]) * cfg->gen.views, "views");
    for (int s = 0; s < DS_SPLITS && !rc; s++)
        rc = gen_split(e, cfg, s, want[s], tmp, su->quiet ? NULL : &pr, &done, res, err, errsz);
    if (!su->quiet && done) wm_progress_finish(&pr, NULL);
    env_destroy(e);
    if (!rc) {
        /* The config that made the tree (readers of the layout ignore it). */
        WmBuf text = {0};
        wm_cfg_dump(ds_config_schema(), cfg, &text);
        char p[1200];
        snprintf(p, sizeof p, "%s/seqjepa.ini", tmp);
        rc = write_file(p, text.data, text.len, &res->bytes, err, errsz);
        wm_buf_free(&text);
    }
    /* Into place: over an empty folder directly; over an old tree by setting it aside
     * first, so that dest always holds one whole tree. */
    if (!rc && replace && rename(dest, old))
        rc = wm_errf(err, errsz, WM_ERR_IO, "cannot move '%s' aside: %s", dest, strerror(errno));
    if (!rc && rename(tmp, dest)) {
        rc = wm_errf(err, errsz, WM_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, dest, strerror(errno));
        if (replace) rename(old, dest);
    }
    if (rc) wm_remove_tree(tmp, NULL, 0);
    else if (replace && (rc = wm_remove_tree(old, err, errsz)))
        wm_err_prefix(err, errsz, rc, "'%s' is in place, but the tree it replaced stays at '%s': ", dest, old);
    res->views = cfg->gen.views;
    res->seconds = wm_now() - t0;
    return rc;
}
