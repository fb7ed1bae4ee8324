/* Dataset generation: worker threads, each with its own world and agent, take shards
 * in turn, check the ones already on disk and build the others in temporary folders
 * that are renamed into place when complete; the manifest is written last. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/dataset.h"
#include "agents/ds_impl.h"
#include "core/crc32.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/pool.h"
#include "core/progress.h"
#include "core/signal.h"

WM_CFG_FIELDS(DsGenConfig, DS_GEN_FIELDS);

/* ---- configuration ---- */

static WmCfgSection cfg_sections[3];
static WmCfgSchema cfg_schema;
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;

/* Field counts are link-time constants of other modules: the table is built at first use. */
static void cfg_init(void) {
    cfg_sections[0] =
        (WmCfgSection){"env", EnvConfig_fields, EnvConfig_nfields, offsetof(DsConfig, env)};
    cfg_sections[1] =
        (WmCfgSection){"agent", AgentConfig_fields, AgentConfig_nfields, offsetof(DsConfig, agent)};
    cfg_sections[2] =
        (WmCfgSection){"gen", DsGenConfig_fields, DsGenConfig_nfields, offsetof(DsConfig, gen)};
    cfg_schema = (WmCfgSchema){cfg_sections, 3};
}

const WmCfgSchema *ds_config_schema(void) {
    pthread_once(&cfg_once, cfg_init);
    return &cfg_schema;
}

/* Keys that change how fast the data is made, never its bytes. */
static const char *const speed_keys[][2] = {
    {"gen", "threads"}, {"gen", "lanes"}, {"env", "render_threads"}, {"env", "assets"}};

void ds_config_normalize(DsConfig *c) {
    const WmCfgSchema *s = ds_config_schema();
    for (size_t i = 0; i < sizeof speed_keys / sizeof speed_keys[0]; i++) {
        const WmCfgField *f =
            wm_cfg_find_field(wm_cfg_find_section(s, speed_keys[i][0]), speed_keys[i][1]);
        WM_ASSERT(f);
        WM_ASSERT(wm_cfg_set(s, c, speed_keys[i][0], speed_keys[i][1], f->def, "default", NULL,
                             0) == WM_OK);
    }
}

const char *ds_split_name(int split) {
    return split == DS_SPLIT_TRAIN ? "train" : "val";
}

/* ---- shard files and records ---- */

static const char *const file_names[DS_MAX_FILES] = {"images.npy",  "actions.npy",   "latents.npy",
                                                     "labels.npy",  "instances.npy", "scenes.npy",
                                                     "saliency.npy"};

const char *ds_file_name(int f) {
    return file_names[f];
}

const char *ds_dtype_numpy(WmDtype dt) {
    switch (dt) {
    case WM_U8:
        return "uint8";
    case WM_I32:
        return "int32";
    case WM_I64:
        return "int64";
    case WM_F32:
        return "float32";
    case WM_F64:
        return "float64";
    default:
        return "?";
    }
}

static void set_file(DsFile *f, WmDtype dt, int ndim, const size_t *shape) {
    memset(f, 0, sizeof *f);
    f->dtype = dt;
    f->ndim = ndim;
    memcpy(f->shape, shape, (size_t)ndim * sizeof *shape);
}

void ds_shard_layout(const DsDims *d, int64_t first, int64_t n, DsShard *out) {
    memset(out, 0, sizeof *out);
    out->first = first, out->n = n;
    size_t N = (size_t)n, T = (size_t)d->t, S = (size_t)d->s;
    set_file(&out->files[DS_F_IMAGES], WM_U8, 5,
             (size_t[]){N, T, (size_t)d->h, (size_t)d->w, (size_t)d->c});
    set_file(&out->files[DS_F_ACTIONS], WM_F32, 3, (size_t[]){N, T - 1, (size_t)d->a});
    set_file(&out->files[DS_F_LATENTS], WM_F32, 3, (size_t[]){N, T, (size_t)d->l});
    set_file(&out->files[DS_F_LABELS], WM_I32, 1, (size_t[]){N});
    set_file(&out->files[DS_F_INSTANCES], WM_I32, 1, (size_t[]){N});
    out->nfiles = DS_F_INSTANCES + 1;
    if (S > 0) {
        set_file(&out->files[DS_F_SCENES], WM_U8, 4, (size_t[]){N, S, S, 3});
        set_file(&out->files[DS_F_SALIENCY], WM_F32, 3, (size_t[]){N, S, S});
        out->nfiles = DS_F_SALIENCY + 1;
    }
}

void ds_shard_name(int index, char *out, size_t outsz) {
    snprintf(out, outsz, "shard-%05d", index);
}

void ds_shard_json(const DsShard *s, const char *name, WmBuf *out) {
    wm_buf_printf(out, "{\"name\": \"%s\", \"first\": %lld, \"sequences\": %lld, \"files\": [",
                  name, (long long)s->first, (long long)s->n);
    for (int i = 0; i < s->nfiles; i++) {
        const DsFile *f = &s->files[i];
        wm_buf_printf(out, "%s\n    {\"name\": \"%s\", \"dtype\": \"%s\", \"shape\": [",
                      i ? "," : "", file_names[i], ds_dtype_numpy(f->dtype));
        for (int k = 0; k < f->ndim; k++)
            wm_buf_printf(out, "%s%zu", k ? ", " : "", f->shape[k]);
        wm_buf_printf(out, "], \"bytes\": %llu, \"crc32\": %lu}", (unsigned long long)f->bytes,
                      (unsigned long)f->crc);
    }
    wm_buf_puts(out, "]}");
}

static int json_int(const WmJson *o, const char *key, double lo, double hi, double *out) {
    const WmJson *v = wm_json_get(o, key);
    if (!v || v->type != WM_JSON_NUM || v->num != (double)(int64_t)v->num || v->num < lo ||
        v->num > hi)
        return -1;
    *out = v->num;
    return 0;
}

int ds_shard_parse(const WmJson *js, const DsShard *want, DsShard *out, char *err, size_t errsz) {
    *out = *want;
    double first, n;
    if (!js || js->type != WM_JSON_OBJ || json_int(js, "first", 0, 9e15, &first) ||
        json_int(js, "sequences", 0, 9e15, &n))
        return wm_errf(err, errsz, WM_ERR_FORMAT, "the record lacks first or sequences");
    if ((int64_t)first != want->first || (int64_t)n != want->n)
        return wm_errf(
            err, errsz, WM_ERR_FORMAT, "the record holds sequences %.0f..%.0f, expected %lld..%lld",
            first, first + n - 1, (long long)want->first, (long long)(want->first + want->n - 1));
    const WmJson *files = wm_json_get(js, "files");
    if (!files || files->type != WM_JSON_ARR || (int)files->len != want->nfiles)
        return wm_errf(err, errsz, WM_ERR_FORMAT, "the record lists %d files, expected %d",
                       files && files->type == WM_JSON_ARR ? (int)files->len : 0, want->nfiles);
    for (int i = 0; i < want->nfiles; i++) {
        const WmJson *f = wm_json_at(files, (size_t)i), *nm = wm_json_get(f, "name"),
                     *dt = wm_json_get(f, "dtype"), *sh = wm_json_get(f, "shape");
        const DsFile *w = &want->files[i];
        DsFile *o = &out->files[i];
        if (!nm || nm->type != WM_JSON_STR || strcmp(nm->str, file_names[i]))
            return wm_errf(err, errsz, WM_ERR_FORMAT, "file %d of the record is not %s", i,
                           file_names[i]);
        int ok = dt && dt->type == WM_JSON_STR && !strcmp(dt->str, ds_dtype_numpy(w->dtype)) &&
                 sh && sh->type == WM_JSON_ARR && (int)sh->len == w->ndim;
        for (int k = 0; ok && k < w->ndim; k++) {
            const WmJson *d = wm_json_at(sh, (size_t)k);
            ok = d && d->type == WM_JSON_NUM && d->num == (double)w->shape[k];
        }
        if (!ok)
            return wm_errf(err, errsz, WM_ERR_FORMAT,
                           "%s: the record's dtype or shape is not the expected %s [%zu, ...]",
                           file_names[i], ds_dtype_numpy(w->dtype), w->shape[0]);
        double bytes, crc;
        if (json_int(f, "bytes", 1, 9e15, &bytes) || json_int(f, "crc32", 0, 4294967295.0, &crc))
            return wm_errf(err, errsz, WM_ERR_FORMAT, "%s: the record lacks bytes or crc32",
                           file_names[i]);
        o->bytes = (uint64_t)bytes;
        o->crc = (uint32_t)crc;
    }
    return WM_OK;
}

int ds_file_crc(const char *path, uint64_t *size, uint32_t *crc, char *err, size_t errsz) {
    size_t fsize;
    int fd = wm_open_regular(path, &fsize, err, errsz);
    if (fd < 0) return WM_ERR_IO;
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = wm_calloc(CHUNK, 1);
    uint64_t total = 0;
    uint32_t c = 0;
    int rc = WM_OK;
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = wm_errf(err, errsz, WM_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
        if (r == 0) break;
        c = wm_crc32(c, buf, (size_t)r);
        total += (uint64_t)r;
    }
    wm_free(buf);
    close(fd);
    *size = total;
    *crc = c;
    return rc;
}

/* ---- generation ---- */

typedef struct {
    int split, index;
} Task;

typedef struct Gen Gen;

typedef struct Worker Worker;

struct Gen {
    const DsGenSetup *su;
    DsConfig cfg;   /* normalized */
    EnvConfig env;  /* what the workers' worlds are made with */
    Env *spare_env; /* the probe's world and agent, for the first worker that needs one */
    Agent *spare_agent;
    DsDims dims;
    EnvSpec spec;
    char agent_kind[32];
    int64_t count[DS_SPLITS];
    int nshards[DS_SPLITS];
    Task *tasks;
    DsShard *recs; /* per task, filled by the worker that did it */
    int ntasks;
    int lanes;
    int max_shard; /* sequences in the largest shard */
    atomic_int next_task;
    atomic_int running; /* workers not yet finished */
    atomic_int stop;
    atomic_llong seqs_done, views_made, bytes_made;
    atomic_int made, kept, redone;
    pthread_mutex_t mu;
    int manifest_gone;
    int rc;
    char err[1024];
};

static void fail(Gen *g, int rc, const char *msg) {
    pthread_mutex_lock(&g->mu);
    if (!g->rc) {
        g->rc = rc;
        snprintf(g->err, sizeof g->err, "%s", msg);
    }
    pthread_mutex_unlock(&g->mu);
    atomic_store(&g->stop, 1);
}

static int path2(char *out, size_t outsz, const char *a, const char *b) {
    return wm_path_join(out, outsz, a, b);
}

/* A shard is about to be written: the manifest no longer describes the folder. */
static int manifest_invalidate(Gen *g, char *err, size_t errsz) {
    pthread_mutex_lock(&g->mu);
    int rc = WM_OK;
    if (!g->manifest_gone) {
        char p[1100];
        path2(p, sizeof p, g->su->dir, DS_MANIFEST);
        if (unlink(p) && errno != ENOENT)
            rc = wm_errf(err, errsz, WM_ERR_IO, "cannot remove '%s': %s", p, strerror(errno));
        else
            g->manifest_gone = 1;
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

/* Checks a finished shard: 1 intact (rec filled), 0 absent, -1 damaged (why in err). */
static int shard_check(Gen *g, const char *dir, const DsShard *want, DsShard *rec, char *err,
                       size_t errsz) {
    if (!wm_path_exists(dir)) return 0;
    char p[1200];
    path2(p, sizeof p, dir, DS_SHARD_RECORD);
    char *text = NULL;
    size_t len = 0;
    if (wm_read_file(p, &text, &len, err, errsz)) return -1;
    WmJson *js = wm_json_parse(text, len, err, errsz);
    wm_free(text);
    if (!js) return -1;
    int rc = ds_shard_parse(js, want, rec, err, errsz);
    wm_json_free(js);
    if (rc) return -1;
    for (int i = 0; i < rec->nfiles; i++) {
        uint64_t size;
        uint32_t crc;
        path2(p, sizeof p, dir, file_names[i]);
        if (ds_file_crc(p, &size, &crc, err, errsz)) return -1;
        if (size != rec->files[i].bytes || crc != rec->files[i].crc) {
            wm_errf(err, errsz, WM_ERR_FORMAT,
                    "%s has %llu bytes with CRC-32 %08lx; its record says %llu with %08lx",
                    file_names[i], (unsigned long long)size, (unsigned long)crc,
                    (unsigned long long)rec->files[i].bytes, (unsigned long)rec->files[i].crc);
            return -1;
        }
    }
    (void)g;
    return 1;
}

/* The .npy header (format 1.0) numpy itself writes for a C-ordered array: the dict,
 * padded with spaces and a newline so that the data starts on a 64-byte boundary. */
static void npy_header(const DsFile *f, WmBuf *out) {
    static const char *const descr[] = {"|u1", "<i4", "<i8", "<f4", "<f8"};
    WmBuf d = {0};
    wm_buf_printf(&d, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr[f->dtype]);
    for (int k = 0; k < f->ndim; k++)
        wm_buf_printf(&d, "%zu%s", f->shape[k], f->ndim == 1 ? "," : k + 1 < f->ndim ? ", " : "");
    wm_buf_puts(&d, "), }");
    size_t total = (10 + d.len + 1 + 63) / 64 * 64;
    while (10 + d.len + 1 < total)
        wm_buf_puts(&d, " ");
    wm_buf_puts(&d, "\n");
    WM_ASSERT(d.len <= 65535);
    unsigned char pre[10] = {0x93,
                             'N',
                             'U',
                             'M',
                             'P',
                             'Y',
                             1,
                             0,
                             (unsigned char)(d.len & 0xff),
                             (unsigned char)(d.len >> 8)};
    wm_buf_append(out, pre, sizeof pre);
    wm_buf_append(out, d.data, d.len);
    wm_buf_free(&d);
}

static int write_all(int fd, const void *data, size_t n) {
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
#define DS_DIRECT_ALIGN 4096
#define DS_HEADER_BYTES 128

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
static int write_array(const char *dir, int f, DsFile *rec, const void *data, char *err,
                       size_t errsz) {
    char p[1200];
    path2(p, sizeof p, dir, file_names[f]);
    size_t count, nbytes;
    WM_ASSERT(!wm_shape_count(rec->ndim, rec->shape, wm_dtype_size(rec->dtype), &count, &nbytes));
    WmBuf h = {0};
    npy_header(rec, &h);
    int bad = 0, e = 0, direct = write_direct(p, &h, data, nbytes);
    if (direct < 0) bad = 1, e = errno;
    if (!direct) {
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        bad = fd < 0 || write_all(fd, h.data, h.len) || write_all(fd, data, nbytes);
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

static int preview_path(Gen *g, int split, int index, char *out, size_t outsz) {
    char name[64];
    snprintf(name, sizeof name, "preview/%s-shard-%05d.png", ds_split_name(split), index);
    return path2(out, outsz, g->su->dir, name);
}

/* A contact sheet of a shard already on disk (kept from an earlier run). */
static int preview_from_files(Gen *g, const char *dir, int split, int index, const DsShard *rec,
                              char *err, size_t errsz) {
    char png[1200], p[1200];
    preview_path(g, split, index, png, sizeof png);
    if (wm_path_exists(png)) return WM_OK;
    WmArray a[3] = {{0}};
    int fs[3] = {DS_F_IMAGES, DS_F_ACTIONS, DS_F_LABELS}, rc = WM_OK;
    for (int i = 0; i < 3 && !rc; i++) {
        path2(p, sizeof p, dir, file_names[fs[i]]);
        rc = wm_npy_read(p, &a[i], WM_NPY_MMAP, err, errsz);
    }
    if (!rc)
        rc = ds_preview_write(png, &g->spec, (int)rec->n, g->dims.t, a[0].data, a[1].data,
                              a[2].data, rec->first, err, errsz);
    for (int i = 0; i < 3; i++)
        wm_array_free(&a[i]);
    return rc;
}

/* Rolls out the sequences of a shard into b, a chunk of g->lanes at a time. */
static int shard_rollout(Gen *g, Env *env, Agent *ag, AgBatch *b, int split, const DsShard *rec,
                         char *err, size_t errsz) {
    const DsDims *d = &g->dims;
    size_t view = (size_t)d->h * d->w * d->c, s2 = (size_t)d->s * d->s;
    for (int64_t c = 0; c < rec->n; c += g->lanes) {
        if (atomic_load(&g->stop) || wm_interrupted()) return WM_ERR_INTERRUPTED;
        int m = (int)(rec->n - c < g->lanes ? rec->n - c : g->lanes);
        AgBatch v = *b;
        v.n = m;
        v.pixels += (size_t)c * d->t * view;
        v.actions += (size_t)c * (d->t - 1) * d->a;
        v.latents += (size_t)c * d->t * d->l;
        v.labels += c;
        v.instances += c;
        if (d->s) v.scenes += (size_t)c * s2 * 3, v.saliency += (size_t)c * s2;
        int rc = ag_rollout(env, ag, (uint64_t)g->cfg.gen.seed, split, (uint64_t)(rec->first + c),
                            m, &v, err, errsz);
        if (rc) return rc;
        atomic_fetch_add(&g->seqs_done, m);
    }
    return WM_OK;
}

static void shard_paths(const Gen *g, const Task *t, char *dir, char *tmp, char *sdir, size_t sz) {
    char name[32];
    ds_shard_name(t->index, name, sizeof name);
    snprintf(sdir, sz, "%s/%s", g->su->dir, ds_split_name(t->split));
    snprintf(dir, sz, "%s/%s", sdir, name);
    snprintf(tmp, sz, "%s/.%s.tmp", sdir, name);
}

/* Writes a rolled-out shard into its temporary folder and renames it into place. */
static int shard_write(Gen *g, const Task *t, const AgBatch *b, DsShard *rec, char *err,
                       size_t errsz) {
    char dir[1200], tmp[1200], sdir[1200], name[32];
    shard_paths(g, t, dir, tmp, sdir, sizeof dir);
    ds_shard_name(t->index, name, sizeof name);
    int rc = wm_remove_tree(tmp, err, errsz);
    if (rc) return rc;
    if (mkdir(tmp, 0777))
        return wm_errf(err, errsz, WM_ERR_IO, "cannot create folder '%s': %s", tmp,
                       strerror(errno));
    const void *data[DS_MAX_FILES] = {b->pixels,    b->actions, b->latents, b->labels,
                                      b->instances, b->scenes,  b->saliency};
    for (int f = 0; f < rec->nfiles && !rc; f++)
        rc = write_array(tmp, f, &rec->files[f], data[f], err, errsz);
    WmBuf js = {0};
    if (!rc) {
        ds_shard_json(rec, name, &js);
        wm_buf_puts(&js, "\n");
        char p[1300];
        snprintf(p, sizeof p, "%s/%s", tmp, DS_SHARD_RECORD);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        int bad = fd < 0 || write_all(fd, js.data, js.len);
        int e = errno;
        if (fd >= 0 && close(fd) && !bad) bad = 1, e = errno;
        if (bad) rc = wm_errf(err, errsz, WM_ERR_IO, "cannot write '%s': %s", p, strerror(e));
    }
    wm_buf_free(&js);
    if (!rc && rename(tmp, dir))
        rc = wm_errf(err, errsz, WM_ERR_IO, "cannot move '%s' into place as '%s': %s", tmp, dir,
                     strerror(errno));
    if (rc) {
        char e2[256];
        wm_remove_tree(tmp, e2, sizeof e2);
        return rc;
    }
    int64_t bytes = 0;
    for (int f = 0; f < rec->nfiles; f++)
        bytes += (int64_t)rec->files[f].bytes;
    atomic_fetch_add(&g->bytes_made, bytes);
    atomic_fetch_add(&g->views_made, rec->n * g->dims.t);
    if (g->su->preview) {
        char png[1200];
        preview_path(g, t->split, t->index, png, sizeof png);
        rc = ds_preview_write(png, &g->spec, (int)rec->n, g->dims.t, b->pixels, b->actions,
                              b->labels, rec->first, err, errsz);
    }
    return rc;
}

/* A worker rolls shards out into one of two buffers while its writer thread writes
 * the other: files and checksums overlap with rendering. */
struct Worker {
    Gen *g;
    pthread_t th, wth;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    AgBatch buf[2];
    void *raw[2][3]; /* the blocks behind the big arrays of buf */
    int pending;     /* a shard waits for (or is being written by) the writer */
    int job_task, job_buf, quit;
    double t_rollout, t_wait,
        t_write; /* seconds spent rolling out, waiting for the writer, writing */
};

/* A shard buffer whose big arrays (pixels; scenes and saliency) start DS_HEADER_BYTES
 * past a DS_DIRECT_ALIGN boundary, for write_direct. */
static int buf_alloc(Worker *w, int i, const EnvSpec *sp, int n, int t, int scene, char *err,
                     size_t errsz) {
    AgBatch *b = &w->buf[i];
    int rc = ag_batch_alloc(b, sp, n, t, scene, err, errsz);
    if (rc) return rc;
    size_t s2 = (size_t)scene * scene;
    size_t bytes[3] = {(size_t)n * t * sp->height * sp->width * sp->channels, (size_t)n * s2 * 3,
                       (size_t)n * s2 * sizeof(float)};
    void **arr[3] = {(void **)&b->pixels, (void **)&b->scenes, (void **)&b->saliency};
    for (int k = 0; k < 3; k++) {
        if (!*arr[k]) continue;
        unsigned char *raw = wm_try_calloc(bytes[k] + 2 * DS_DIRECT_ALIGN, 1);
        if (!raw)
            return wm_errf(err, errsz, WM_ERR_NOMEM,
                           "not enough memory for a shard of %d sequences", n);
        wm_free(*arr[k]);
        w->raw[i][k] = raw;
        size_t pad = (DS_DIRECT_ALIGN - (uintptr_t)raw % DS_DIRECT_ALIGN) % DS_DIRECT_ALIGN;
        *arr[k] = raw + pad + DS_HEADER_BYTES;
    }
    return WM_OK;
}

static void buf_free(Worker *w, int i) {
    AgBatch *b = &w->buf[i];
    for (int k = 0; k < 3; k++)
        if (w->raw[i][k]) {
            wm_free(w->raw[i][k]);
            w->raw[i][k] = NULL;
            *(k == 0   ? (void **)&b->pixels
              : k == 1 ? (void **)&b->scenes
                       : (void **)&b->saliency) = NULL;
        }
    ag_batch_free(b);
}

static void *writer_main(void *arg) {
    Worker *w = arg;
    Gen *g = w->g;
    pthread_setname_np(pthread_self(), "gen-writer");
    char err[1024];
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->pending && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->pending) break;
        int k = w->job_task;
        const AgBatch *b = &w->buf[w->job_buf];
        pthread_mutex_unlock(&w->mu);
        const Task *t = &g->tasks[k];
        double t0 = wm_now();
        int rc = shard_write(g, t, b, &g->recs[k], err, sizeof err);
        w->t_write += wm_now() - t0;
        if (rc) {
            char where[64], name[32];
            ds_shard_name(t->index, name, sizeof name);
            snprintf(where, sizeof where, "%s/%s", ds_split_name(t->split), name);
            wm_err_prefix(err, sizeof err, rc, "%s: ", where);
            fail(g, rc, err);
        } else {
            atomic_fetch_add(&g->made, 1);
        }
        pthread_mutex_lock(&w->mu);
        w->pending = 0;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Waits until the writer has taken nothing or finished what it had. */
static void writer_wait(Worker *w) {
    pthread_mutex_lock(&w->mu);
    while (w->pending)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *arg) {
    Worker *w = arg;
    Gen *g = w->g;
    pthread_setname_np(pthread_self(), "gen-worker");
    Env *env = NULL;
    Agent *ag = NULL;
    char err[1024] = "";
    int rc = WM_OK, cur = 0, writer = 0;
    while (!atomic_load(&g->stop)) {
        int k = atomic_fetch_add(&g->next_task, 1);
        if (k >= g->ntasks) break;
        const Task *t = &g->tasks[k];
        DsShard *rec = &g->recs[k];
        char dir[1200], tmp[1200], sdir[1200], where[64], name[32];
        shard_paths(g, t, dir, tmp, sdir, sizeof dir);
        ds_shard_name(t->index, name, sizeof name);
        snprintf(where, sizeof where, "%s/%s", ds_split_name(t->split), name);
        DsShard want = *rec, got;
        int st = shard_check(g, dir, &want, &got, err, sizeof err);
        if (st == 1) {
            *rec = got;
            atomic_fetch_add(&g->kept, 1);
            atomic_fetch_add(&g->seqs_done, rec->n);
            if (g->su->preview &&
                (rc = preview_from_files(g, dir, t->split, t->index, rec, err, sizeof err)))
                break;
            continue;
        }
        if ((rc = manifest_invalidate(g, err, sizeof err))) break;
        if (st < 0) {
            wm_warn("gen: %s is damaged (%s); generating it again", where, err);
            if ((rc = wm_remove_tree(dir, err, sizeof err))) break;
            atomic_fetch_add(&g->redone, 1);
        }
        if (!env) {
            pthread_mutex_lock(&g->mu);
            env = g->spare_env, ag = g->spare_agent;
            g->spare_env = NULL, g->spare_agent = NULL;
            pthread_mutex_unlock(&g->mu);
            if (!env) {
                env = env_create(&g->env, g->lanes, err, sizeof err);
                ag = env ? ag_create(&g->su->cfg->agent, &g->env, env_spec(env), g->lanes, err,
                                     sizeof err)
                         : NULL;
            }
            if (!ag) {
                rc = WM_ERR_ARG;
                break;
            }
            for (int i = 0; i < 2 && !rc; i++)
                rc = buf_alloc(w, i, env_spec(env), g->max_shard, g->dims.t, g->dims.s, err,
                               sizeof err);
            if (rc) break;
            WM_ASSERT(pthread_create(&w->wth, NULL, writer_main, w) == 0);
            writer = 1;
        }
        double t0 = wm_now();
        rc = shard_rollout(g, env, ag, &w->buf[cur], t->split, rec, err, sizeof err);
        double t1 = wm_now();
        w->t_rollout += t1 - t0;
        if (rc) {
            if (rc != WM_ERR_INTERRUPTED) wm_err_prefix(err, sizeof err, rc, "%s: ", where);
            break;
        }
        writer_wait(w);
        w->t_wait += wm_now() - t1;
        pthread_mutex_lock(&w->mu);
        w->pending = 1, w->job_task = k, w->job_buf = cur;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        cur ^= 1;
    }
    if (rc && rc != WM_ERR_INTERRUPTED) fail(g, rc, err);
    if (rc == WM_ERR_INTERRUPTED) atomic_store(&g->stop, 1);
    if (writer) {
        writer_wait(w);
        pthread_mutex_lock(&w->mu);
        w->quit = 1;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->wth, NULL);
    }
    buf_free(w, 0);
    buf_free(w, 1);
    ag_destroy(ag);
    env_destroy(env);
    atomic_fetch_sub(&g->running, 1);
    return NULL;
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
static int clean_leftovers(const char *dir, int shard_dir, char *err, size_t errsz) {
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

/* True when the folder holds nothing but leftovers of atomic writes. */
static int folder_empty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 1;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !strstr(e->d_name, ".tmp."))
            empty = 0;
    closedir(d);
    return empty;
}

/* Checks the folder's config against ours (or claims an empty folder). */
static int claim_folder(Gen *g, const char *text, char *err, size_t errsz) {
    const char *dir = g->su->dir;
    char p[1100];
    path2(p, sizeof p, dir, DS_CONFIG_FILE);
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
        int n = config_diff(&there, &g->cfg, &diff);
        if (n)
            wm_errf(err, errsz, WM_ERR_MISMATCH,
                    "'%s' holds a dataset made with another config (%d key%s differ%s: %s); use "
                    "another --out "
                    "folder or the same settings",
                    dir, n, n > 1 ? "s" : "", n > 1 ? "" : "s", diff.data);
        wm_buf_free(&diff);
        return n ? WM_ERR_MISMATCH : WM_OK;
    }
    if (!folder_empty(dir))
        return wm_errf(
            err, errsz, WM_ERR_MISMATCH,
            "'%s' is not empty and holds no dataset (no %s); choose a new or empty folder", dir,
            DS_CONFIG_FILE);
    int rc = clean_leftovers(dir, 0, err, errsz);
    if (!rc) rc = wm_write_file_atomic(p, text, strlen(text), err, errsz);
    return rc;
}

/* ---- manifest ---- */

static void json_names(WmBuf *out, const char *const *names, int n) {
    wm_buf_puts(out, "[");
    for (int i = 0; i < n; i++) {
        if (i) wm_buf_puts(out, ", ");
        wm_buf_json_str(out, names[i] ? names[i] : "");
    }
    wm_buf_puts(out, "]");
}

static void json_config(WmBuf *out, const DsConfig *c) {
    const WmCfgSchema *s = ds_config_schema();
    wm_buf_puts(out, "{");
    for (int i = 0; i < s->nsections; i++) {
        const WmCfgSection *sec = &s->sections[i];
        wm_buf_printf(out, "%s\n    \"%s\": {", i ? "," : "", sec->name);
        for (int k = 0; k < sec->nfields; k++) {
            const WmCfgField *f = &sec->fields[k];
            const char *base = (const char *)c + sec->offset;
            char v[WM_CFG_STR_MAX + 8];
            wm_buf_printf(out, "%s\"%s\": ", k ? ", " : "", f->key);
            if (f->type == WM_CFG_STR) {
                wm_buf_json_str(out, base + f->offset);
            } else if (f->type == WM_CFG_ENUM) {
                wm_cfg_format_value(f, base, v, sizeof v);
                wm_buf_json_str(out, v);
            } else {
                wm_cfg_format_value(f, base, v, sizeof v);
                wm_buf_puts(out, v);
            }
        }
        wm_buf_puts(out, "}");
    }
    wm_buf_puts(out, "}");
}

static int write_manifest(Gen *g, const char *ini, char *err, size_t errsz) {
    WmBuf m = {0};
    const EnvSpec *sp = &g->spec;
    char kind[32];
    wm_cfg_enum_name(&EnvConfig_fields[0], g->cfg.env.kind, kind, sizeof kind);
    wm_buf_printf(
        &m, "{\n  \"format\": \"%s\",\n  \"version\": %d,\n  \"seed\": %d,\n  \"views\": %d,\n",
        DS_FORMAT, DS_VERSION, g->cfg.gen.seed, g->dims.t);
    wm_buf_printf(
        &m,
        "  \"env\": {\"kind\": \"%s\", \"height\": %d, \"width\": %d, \"channels\": %d, "
        "\"action_dim\": %d, "
        "\"latent_dim\": %d, \"n_classes\": %d, \"scene_size\": %d,\n    \"action_names\": ",
        kind, sp->height, sp->width, sp->channels, sp->action_dim, sp->latent_dim, sp->n_classes,
        g->dims.s);
    json_names(&m, sp->action_names, sp->action_dim);
    wm_buf_puts(&m, ",\n    \"latent_names\": ");
    json_names(&m, sp->latent_names, sp->latent_dim);
    wm_buf_puts(&m, ",\n    \"classes\": ");
    wm_buf_json_str(&m, sp->class_names_hint ? sp->class_names_hint : "");
    wm_buf_printf(&m, "},\n  \"agent\": \"%s\",\n  \"splits\": {", g->agent_kind);
    int k = 0;
    for (int s = 0; s < DS_SPLITS; s++) {
        int64_t bytes = 0;
        for (int i = 0; i < g->nshards[s]; i++)
            for (int f = 0; f < g->recs[k + i].nfiles; f++)
                bytes += (int64_t)g->recs[k + i].files[f].bytes;
        wm_buf_printf(&m,
                      "%s\n    \"%s\": {\"sequences\": %lld, \"shard_size\": %d, \"bytes\": %lld, "
                      "\"shards\": [",
                      s ? "," : "", ds_split_name(s), (long long)g->count[s], g->cfg.gen.shard_size,
                      (long long)bytes);
        for (int i = 0; i < g->nshards[s]; i++, k++) {
            char name[32];
            ds_shard_name(i, name, sizeof name);
            wm_buf_puts(&m, i ? ",\n      " : "\n      ");
            ds_shard_json(&g->recs[k], name, &m);
        }
        wm_buf_puts(&m, "]}");
    }
    wm_buf_puts(&m, "},\n  \"config\": ");
    json_config(&m, &g->cfg);
    wm_buf_puts(&m, ",\n  \"config_ini\": ");
    wm_buf_json_str(&m, ini);
    wm_buf_puts(&m, "\n}\n");
    char p[1100];
    path2(p, sizeof p, g->su->dir, DS_MANIFEST);
    int rc = wm_write_file_atomic(p, m.data, m.len, err, errsz);
    wm_buf_free(&m);
    return rc;
}

/* ---- the run ---- */

static void progress_tick(Gen *g, WmProgress *pr, double t0, int final) {
    if (g->su->quiet) return;
    char extra[96];
    double dt = wm_now() - t0;
    long long v = atomic_load(&g->views_made);
    snprintf(extra, sizeof extra, "%.0f views/s written", dt > 0 ? (double)v / dt : 0.0);
    if (final)
        wm_progress_finish(pr, extra);
    else
        wm_progress_update(pr, atomic_load(&g->seqs_done), extra);
}

/* Opens a world and an agent to learn the spec, resolve the policy and catch
 * configuration errors (no held-out objects, a bad OBJ folder) before touching the
 * folder. The first worker that needs a world takes this one: making a world costs
 * a GL context and its shader compiles. Handing it to another thread is safe: the
 * objects3d world's GL contexts live in its own render threads. */
static int probe_world(Gen *g, char *err, size_t errsz) {
    Env *env = env_create(&g->env, g->lanes, err, errsz);
    if (!env) return WM_ERR_ARG;
    int rc = WM_OK;
    Agent *ag = ag_create(&g->su->cfg->agent, &g->env, env_spec(env), g->lanes, err, errsz);
    if (!ag) rc = WM_ERR_ARG;
    if (!rc) {
        g->spec = *env_spec(env);
        snprintf(g->agent_kind, sizeof g->agent_kind, "%s", ag_kind_name(ag_kind(ag)));
        for (int s = 0; s < DS_SPLITS && !rc; s++)
            if (g->count[s] > 0 && env_reset(env, 0, 1, s, NULL))
                rc = wm_errf(err, errsz, WM_ERR_ARG,
                             "gen.%s_seqs = %lld, but the world has no %s objects or images "
                             "(env.heldout = %g)",
                             ds_split_name(s), (long long)g->count[s],
                             s == DS_SPLIT_TRAIN ? "training" : "held-out", g->env.heldout);
    }
    if (!rc && g->env.kind == 1) g->dims.s = g->env.scene_size;
    if (rc) {
        ag_destroy(ag);
        env_destroy(env);
    } else {
        g->spare_env = env, g->spare_agent = ag;
    }
    return rc;
}

/* Workers when gen.threads is 0. The saccade world is CPU work: one per core. An
 * objects3d world renders through its own farm of render threads, which on a CPU
 * rasteriser already keeps every core busy, while the worker itself does a few per
 * cent of the work (agent steps) and its writer thread writes the files; two worlds of
 * one render thread each were slower on 2 cores than one world with two (bench gen
 * --threads 2 --render-threads 1), so one world. */
static int auto_workers(const DsConfig *c) {
    int cores = wm_cpu_count();
    if (c->env.kind != 0) return cores < 1 ? 1 : cores;
    return 1;
}

int ds_generate(const DsGenSetup *su, DsGenResult *res, char *err, size_t errsz) {
    memset(res, 0, sizeof *res);
    double t0 = wm_now();
    Gen *g = wm_new(Gen, 1);
    g->su = su;
    g->cfg = *su->cfg;
    ds_config_normalize(&g->cfg);
    const DsGenConfig *gc = &su->cfg->gen;
    g->count[DS_SPLIT_TRAIN] = gc->train_seqs;
    g->count[DS_SPLIT_VAL] = gc->val_seqs;
    pthread_mutex_init(&g->mu, NULL);
    WmBuf ini = {0};
    Worker *ws = NULL;
    int64_t most = g->count[0] > g->count[1] ? g->count[0] : g->count[1];
    g->max_shard = (int)(most < gc->shard_size ? (most > 0 ? most : 1) : gc->shard_size);
    g->lanes = gc->lanes < g->max_shard ? gc->lanes : g->max_shard;
    g->env = su->cfg->env;
    int lock_fd = -1, rc = probe_world(g, err, errsz);
    if (rc) goto out;
    wm_debug("gen: world probed after %.3f s", wm_now() - t0);
    const EnvSpec *sp = &g->spec;
    g->dims = (DsDims){gc->views,      sp->height,     sp->width, sp->channels,
                       sp->action_dim, sp->latent_dim, g->dims.s};
    wm_cfg_dump(ds_config_schema(), &g->cfg, &ini);

    /* The folder: create, lock, check or claim, clean. */
    if ((rc = wm_mkdirs(su->dir, err, errsz))) goto out;
    lock_fd = open(su->dir, O_RDONLY | O_DIRECTORY);
    if (lock_fd < 0) {
        rc =
            wm_errf(err, errsz, WM_ERR_IO, "cannot open folder '%s': %s", su->dir, strerror(errno));
        goto out;
    }
    if (flock(lock_fd, LOCK_EX | LOCK_NB)) {
        rc = wm_errf(err, errsz, WM_ERR_IO,
                     "another process is generating into '%s' (it holds the folder's lock)",
                     su->dir);
        goto out;
    }
    if ((rc = claim_folder(g, ini.data, err, errsz))) goto out;
    if ((rc = clean_leftovers(su->dir, 0, err, errsz))) goto out;
    for (int s = 0; s < DS_SPLITS && !rc; s++) {
        char p[1100];
        path2(p, sizeof p, su->dir, ds_split_name(s));
        rc = wm_mkdirs(p, err, errsz);
        if (!rc) rc = clean_leftovers(p, 1, err, errsz);
    }
    if (!rc && su->preview) {
        char p[1100];
        path2(p, sizeof p, su->dir, "preview");
        rc = wm_mkdirs(p, err, errsz);
        if (!rc) rc = clean_leftovers(p, 0, err, errsz);
    }
    if (rc) goto out;

    /* The shards, train then val. */
    int64_t K = gc->shard_size;
    for (int s = 0; s < DS_SPLITS; s++) {
        g->nshards[s] = (int)((g->count[s] + K - 1) / K);
        g->ntasks += g->nshards[s];
    }
    g->tasks = wm_new(Task, (size_t)g->ntasks + 1);
    g->recs = wm_new(DsShard, (size_t)g->ntasks + 1);
    for (int s = 0, k = 0; s < DS_SPLITS; s++)
        for (int i = 0; i < g->nshards[s]; i++, k++) {
            g->tasks[k] = (Task){s, i};
            int64_t first = (int64_t)i * K, n = g->count[s] - first < K ? g->count[s] - first : K;
            ds_shard_layout(&g->dims, first, n, &g->recs[k]);
        }
    int nw = gc->threads > 0 ? gc->threads : auto_workers(su->cfg);
    if (nw > g->ntasks) nw = g->ntasks > 0 ? g->ntasks : 1;
    res->workers = nw;
    WmProgress pr;
    int64_t total = g->count[0] + g->count[1];
    if (!su->quiet) wm_progress_start(&pr, "gen", total, "seq");
    wm_debug("gen: %d shards, %d workers, folder ready after %.3f s", g->ntasks, nw, wm_now() - t0);
    ws = wm_new(Worker, (size_t)nw);
    atomic_store(&g->running, nw);
    for (int i = 0; i < nw; i++) {
        ws[i].g = g;
        pthread_mutex_init(&ws[i].mu, NULL);
        pthread_cond_init(&ws[i].cv, NULL);
        WM_ASSERT(pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) == 0);
    }
    /* The calling thread watches: progress, Ctrl-C. */
    while (atomic_load(&g->running) > 0) {
        if (wm_interrupted()) atomic_store(&g->stop, 1);
        progress_tick(g, &pr, t0, 0);
        usleep(50000);
    }
    for (int i = 0; i < nw; i++) {
        pthread_join(ws[i].th, NULL);
        wm_debug("gen: worker %d: %.2f s rolling out, %.2f s waiting for its writer, which wrote "
                 "for %.2f s",
                 i, ws[i].t_rollout, ws[i].t_wait, ws[i].t_write);
        pthread_mutex_destroy(&ws[i].mu);
        pthread_cond_destroy(&ws[i].cv);
    }
    progress_tick(g, &pr, t0, 1);
    res->shards = g->ntasks;
    res->shards_made = atomic_load(&g->made);
    res->shards_kept = atomic_load(&g->kept);
    res->shards_redone = atomic_load(&g->redone);
    res->views_made = atomic_load(&g->views_made);
    res->bytes_made = atomic_load(&g->bytes_made);
    if (g->rc) {
        rc = wm_errf(err, errsz, g->rc, "%s", g->err);
        goto out;
    }
    if (res->shards_made + res->shards_kept < g->ntasks) {
        res->interrupted = 1;
        rc = wm_errf(err, errsz, WM_ERR_INTERRUPTED,
                     "interrupted: %d of %d shards are complete in '%s'; run the same command "
                     "again to finish",
                     res->shards_made + res->shards_kept, g->ntasks, su->dir);
        goto out;
    }
    /* Every shard reaches the disk before the manifest that vouches for it. */
    wm_debug("gen: workers done after %.3f s", wm_now() - t0);
    if (syncfs(lock_fd)) {
        rc = wm_errf(err, errsz, WM_ERR_IO, "cannot sync '%s' to disk: %s", su->dir,
                     strerror(errno));
        goto out;
    }
    wm_debug("gen: synced after %.3f s", wm_now() - t0);
    rc = write_manifest(g, ini.data, err, errsz);
    if (!rc) {
        res->sequences[0] = g->count[0];
        res->sequences[1] = g->count[1];
    }
out:
    ag_destroy(g->spare_agent);
    env_destroy(g->spare_env);
    res->seconds = wm_now() - t0;
    if (lock_fd >= 0) close(lock_fd);
    wm_free(ws);
    wm_buf_free(&ini);
    wm_free(g->tasks);
    wm_free(g->recs);
    pthread_mutex_destroy(&g->mu);
    wm_free(g);
    return rc;
}
