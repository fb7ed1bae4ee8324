/* Writing a dataset's files (ds_impl.h): arrays as .npy with direct I/O where the
 * buffers allow it, the folder's claim (its config, leftovers of killed runs) and the
 * manifest. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crc32.h"
#include "core/err.h"
#include "core/fs.h"
#include "data/dataset.h"
#include "data/ds_impl.h"

int ds_write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* Direct I/O works in blocks of this many bytes at addresses aligned to it. The big
 * arrays are placed DS_HEADER_BYTES past such an address, the length of the .npy
 * header of every array the datasets hold, so that file blocks and pages coincide. */

static int pwrite_all(int fd, const void *data, size_t n, off_t off) {
    const char *p = data;
    while (n) {
        ssize_t w = pwrite(fd, p, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n, off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w, off += w;
    }
    return 0;
}

/* Large arrays go to disk with direct I/O when the file system allows it: no copy into
 * the page cache and no fresh page-cache memory, which on virtual machines costs more
 * than the rendering of the data. The array sits in memory so that the file's block
 * boundaries fall on page boundaries (see DS_DIRECT_ALIGN); the header and the last
 * partial block go through a bounce buffer, then the file is cut to its exact size.
 * Returns 1 done, 0 not possible here (use buffered writes), -1 error (errno). */
static int write_direct(const char *p, const WmBuf *h, const void *data, size_t n) {
    const size_t B = DS_DIRECT_ALIGN;
    const unsigned char *d = data;
    if (n < (1u << 20) || h->len >= B || ((uintptr_t)d + B - h->len) % B) return 0;
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0666);
    if (fd < 0) return errno == EINVAL ? 0 : -1;
    unsigned char *raw = wm_calloc(2 * B, 1), *bounce = raw + (B - (uintptr_t)raw % B) % B;
    size_t head = B - h->len, mid = (n - head) / B * B, tail = n - head - mid;
    memcpy(bounce, h->data, h->len);
    memcpy(bounce + h->len, d, head);
    int r = pwrite_all(fd, bounce, B, 0) || pwrite_all(fd, d + head, mid, (off_t)B);
    if (!r && tail) {
        memset(bounce, 0, B);
        memcpy(bounce, d + head + mid, tail);
        r = pwrite_all(fd, bounce, B, (off_t)(B + mid));
    }
    if (!r) r = ftruncate(fd, (off_t)(h->len + n));
    int e = errno;
    wm_free(raw);
    if (close(fd) && !r) r = -1, e = errno;
    errno = e;
    if (r && e == EINVAL) return 0; /* direct I/O refused after all */
    return r ? -1 : 1;
}

/* Writes one array of a shard into the shard's temporary folder and records its size
 * and checksum. No fsync here: a shard is checked against its checksums whenever it
 * is found again, and the whole dataset is synced once before the manifest. */
int ds_write_array(const char *dir, int f, DsFile *rec, const void *data, char *err, size_t errsz) {
    char p[1200];
    wm_path_join(p, sizeof p, dir, ds_file_name(f));
    size_t count, nbytes;
    WM_ASSERT(!wm_shape_count(rec->ndim, rec->shape, wm_dtype_size(rec->dtype), &count, &nbytes));
    WmBuf h = {0};
    wm_npy_header(rec->dtype, rec->ndim, rec->shape, &h);
    int bad = 0, e = 0, direct = write_direct(p, &h, data, nbytes);
    if (direct < 0) bad = 1, e = errno;
    if (!direct) {
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        bad = fd < 0 || ds_write_all(fd, h.data, h.len) || ds_write_all(fd, data, nbytes);
        e = errno;
        /* Start writing back now, without waiting, so the disk keeps pace with the
         * run instead of receiving everything at the final sync. */
        if (!bad && nbytes >= (1 << 20)) sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        if (fd >= 0 && close(fd) && !bad) bad = 1, e = errno;
    }
    if (!bad) {
        rec->bytes = (uint64_t)(h.len + nbytes);
        rec->crc = wm_crc32(wm_crc32(0, h.data, h.len), data, nbytes);
    }
    wm_buf_free(&h);
    if (bad) return wm_errf(err, errsz, WM_ERR_IO, "cannot write '%s': %s", p, strerror(e));
    return WM_OK;
}

/* ---- the folder ---- */

/* Lists every key whose value differs between two configs. */
static int config_diff(const DsConfig *there, const DsConfig *here, WmBuf *out) {
    const WmCfgSchema *s = ds_config_schema();
    int n = 0;
    for (int i = 0; i < s->nsections; i++) {
        const WmCfgSection *sec = &s->sections[i];
        for (int k = 0; k < sec->nfields; k++) {
            char a[WM_CFG_STR_MAX + 8], b[WM_CFG_STR_MAX + 8];
            wm_cfg_format_value(&sec->fields[k], (const char *)there + sec->offset, a, sizeof a);
            wm_cfg_format_value(&sec->fields[k], (const char *)here + sec->offset, b, sizeof b);
            if (strcmp(a, b)) {
                wm_buf_printf(out, "%s%s.%s is %s there, %s here", n ? "; " : "", sec->name,
                              sec->fields[k].key, a, b);
                n++;
            }
        }
    }
    return n;
}

static int has_prefix(const char *s, const char *p) {
    return !strncmp(s, p, strlen(p));
}

/* Removes what a killed run can leave behind: temporary files of atomic writes and
 * temporary shard folders. Safe because the folder is locked. */
int ds_clean_leftovers(const char *dir, int shard_dir, char *err, size_t errsz) {
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? WM_OK
                               : wm_errf(err, errsz, WM_ERR_IO, "cannot open folder '%s': %s", dir,
                                         strerror(errno));
    struct dirent *e;
    int rc = WM_OK;
    while ((e = readdir(d)) && !rc) {
        const char *n = e->d_name;
        int junk = shard_dir ? has_prefix(n, ".shard-") : (strstr(n, ".tmp.") != NULL);
        if (!junk) continue;
        char p[1300];
        snprintf(p, sizeof p, "%s/%s", dir, n);
        rc = wm_remove_tree(p, err, errsz);
    }
    closedir(d);
    return rc;
}

/* Checks the folder's config against ours (or claims an empty folder). */
int ds_claim_folder(const char *dir, const DsConfig *cfg, const char *text, char *err, size_t errsz) {
    char p[1100];
    wm_path_join(p, sizeof p, dir, DS_CONFIG_FILE);
    if (wm_path_exists(p)) {
        DsConfig there;
        wm_cfg_defaults(ds_config_schema(), &there);
        char e2[512];
        if (wm_cfg_load_file(ds_config_schema(), &there, p, e2, sizeof e2))
            return wm_errf(err, errsz, WM_ERR_MISMATCH,
                           "'%s' holds a dataset whose config this version cannot read (%s); use "
                           "another folder",
                           dir, e2);
        ds_config_normalize(&there);
        WmBuf diff = {0};
        int n = config_diff(&there, cfg, &diff);
        if (n)
            wm_errf(err, errsz, WM_ERR_MISMATCH,
                    "'%s' holds a dataset made with another config (%d key%s differ%s: %s); use "
                    "another --out "
                    "folder or the same settings",
                    dir, n, n > 1 ? "s" : "", n > 1 ? "" : "s", diff.data);
        wm_buf_free(&diff);
        return n ? WM_ERR_MISMATCH : WM_OK;
    }
    if (wm_dir_empty(dir, ".tmp.") == 0) /* leftovers of atomic writes do not count */
        return wm_errf(
            err, errsz, WM_ERR_MISMATCH,
            "'%s' is not empty and holds no dataset (no %s); choose a new or empty folder", dir,
            DS_CONFIG_FILE);
    int rc = ds_clean_leftovers(dir, 0, err, errsz);
    if (!rc) rc = wm_write_file_atomic(p, text, strlen(text), err, errsz);
    return rc;
}

/* ---- manifest ---- */

static void json_names(WmJsonW *w, const char *const *names, int n) {
    wm_jw_arr(w);
    for (int i = 0; i < n; i++)
        wm_jw_str(w, names[i] ? names[i] : "");
    wm_jw_end(w);
}

static void json_config(WmJsonW *w, const DsConfig *c) {
    const WmCfgSchema *s = ds_config_schema();
    wm_jw_obj(w);
    for (int i = 0; i < s->nsections; i++) {
        const WmCfgSection *sec = &s->sections[i];
        wm_jw_break(w, "\n    ");
        wm_jw_key(w, sec->name);
        wm_jw_obj(w);
        for (int k = 0; k < sec->nfields; k++) {
            const WmCfgField *f = &sec->fields[k];
            const char *base = (const char *)c + sec->offset;
            char v[WM_CFG_STR_MAX + 8];
            wm_jw_key(w, f->key);
            if (f->type == WM_CFG_STR) {
                wm_jw_str(w, base + f->offset);
            } else {
                wm_cfg_format_value(f, base, v, sizeof v);
                if (f->type == WM_CFG_ENUM)
                    wm_jw_str(w, v);
                else
                    wm_jw_raw(w, v);
            }
        }
        wm_jw_end(w);
    }
    wm_jw_end(w);
}

int ds_write_manifest(const DsManifest *mf, const char *ini, char *err, size_t errsz) {
    WmBuf m = {0};
    WmJsonW w;
    wm_jw_init(&w, &m);
    const EnvSpec *sp = mf->spec;
    char kind[32];
    wm_cfg_enum_name(&EnvConfig_fields[0], mf->cfg->env.kind, kind, sizeof kind);
    wm_jw_obj(&w);
    wm_jw_break(&w, "\n  "), wm_jw_key(&w, "format"), wm_jw_str(&w, DS_FORMAT);
    wm_jw_break(&w, "\n  "), wm_jw_key(&w, "version"), wm_jw_int(&w, DS_VERSION);
    wm_jw_break(&w, "\n  "), wm_jw_key(&w, "seed"), wm_jw_int(&w, mf->cfg->gen.seed);
    wm_jw_break(&w, "\n  "), wm_jw_key(&w, "views"), wm_jw_int(&w, mf->dims->t);
    wm_jw_break(&w, "\n  "), wm_jw_key(&w, "env"), wm_jw_obj(&w);
    wm_jw_key(&w, "kind"), wm_jw_str(&w, kind);
    wm_jw_key(&w, "height"), wm_jw_int(&w, sp->height);
    wm_jw_key(&w, "width"), wm_jw_int(&w, sp->width);
    wm_jw_key(&w, "channels"), wm_jw_int(&w, sp->channels);
    wm_jw_key(&w, "action_dim"), wm_jw_int(&w, sp->action_dim);
    wm_jw_key(&w, "latent_dim"), wm_jw_int(&w, sp->latent_dim);
    wm_jw_key(&w, "n_classes"), wm_jw_int(&w, sp->n_classes);
    wm_jw_key(&w, "scene_size"), wm_jw_int(&w, mf->dims->s);
    wm_jw_break(&w, "\n    "), wm_jw_key(&w, "action_names");
    json_names(&w, sp->action_names, sp->action_dim);
    wm_jw_break(&w, "\n    "), wm_jw_key(&w, "latent_names");
    json_names(&w, sp->latent_names, sp->latent_dim);
    wm_jw_break(&w, "\n    "), wm_jw_key(&w, "classes");
    wm_jw_str(&w, sp->class_names_hint ? sp->class_names_hint : "");
    wm_jw_end(&w);
    wm_jw_break(&w, "\n  "), wm_jw_key(&w, "agent"), wm_jw_str(&w, mf->agent_kind);
    wm_jw_break(&w, "\n  "), wm_jw_key(&w, "splits"), wm_jw_obj(&w);
    int k = 0;
    for (int s = 0; s < DS_SPLITS; s++) {
        int64_t bytes = 0;
        for (int i = 0; i < mf->nshards[s]; i++)
            for (int f = 0; f < mf->recs[k + i].nfiles; f++)
                bytes += (int64_t)mf->recs[k + i].files[f].bytes;
        wm_jw_break(&w, "\n    "), wm_jw_key(&w, ds_split_name(s)), wm_jw_obj(&w);
        wm_jw_key(&w, "sequences"), wm_jw_int(&w, (long long)mf->count[s]);
        wm_jw_key(&w, "shard_size"), wm_jw_int(&w, mf->cfg->gen.shard_size);
        wm_jw_key(&w, "bytes"), wm_jw_int(&w, (long long)bytes);
        wm_jw_key(&w, "shards"), wm_jw_arr(&w);
        for (int i = 0; i < mf->nshards[s]; i++, k++) {
            char name[32];
            ds_shard_name(i, name, sizeof name);
            wm_jw_break(&w, "\n      ");
            ds_shard_json(&mf->recs[k], name, &w);
        }
        wm_jw_end(&w);
        wm_jw_end(&w);
    }
    wm_jw_end(&w);
    wm_jw_break(&w, "\n  "), wm_jw_key(&w, "config");
    json_config(&w, mf->cfg);
    wm_jw_break(&w, "\n  "), wm_jw_key(&w, "config_ini"), wm_jw_str(&w, ini);
    wm_jw_break(&w, "\n"), wm_jw_end(&w);
    wm_buf_puts(&m, "\n");
    char p[1100];
    wm_path_join(p, sizeof p, mf->dir, DS_MANIFEST);
    int rc = wm_write_file_atomic(p, m.data, m.len, err, errsz);
    wm_buf_free(&m);
    return rc;
}
