/* safetensors reading (mapped, fully validated) and atomic writing. */
#include "core/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"

static const char *const st_names[WM_DTYPE_COUNT_] = {"U8", "I32", "I64", "F32", "F64"};
/* Largest header accepted: real checkpoints have a few hundred kB at most. */
#define MAX_HEADER (100u << 20)

typedef struct {
    char *name;
    WmDtype dt;
    int ndim;
    size_t shape[WM_MAX_DIMS];
    const void *data;
    size_t nbytes;
} WEntry;

struct WmStWriter {
    WEntry *t;
    int n, cap;
    char **meta; /* key, value pairs */
    int nmeta;
};

WmStWriter *wm_st_writer_create(void) { return wm_new(WmStWriter, 1); }

void wm_st_writer_destroy(WmStWriter *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) wm_free(w->t[i].name);
    for (int i = 0; i < 2 * w->nmeta; i++) wm_free(w->meta[i]);
    wm_free(w->t);
    wm_free(w->meta);
    wm_free(w);
}

void wm_st_writer_add(WmStWriter *w, const char *name, WmDtype dt, int ndim, const size_t *shape,
                      const void *data) {
    WM_ASSERT(ndim >= 0 && ndim <= WM_MAX_DIMS && dt >= 0 && dt < WM_DTYPE_COUNT_);
    for (int i = 0; i < w->n; i++) WM_ASSERT(strcmp(w->t[i].name, name) != 0);
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 16;
        w->t = wm_realloc(w->t, (size_t)w->cap, sizeof *w->t);
    }
    WEntry *e = &w->t[w->n++];
    memset(e, 0, sizeof *e);
    e->name = wm_strdup(name);
    e->dt = dt;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    size_t count;
    WM_ASSERT(wm_shape_count(ndim, shape, wm_dtype_size(dt), &count, &e->nbytes) == 0);
    e->data = data;
}

void wm_st_writer_meta(WmStWriter *w, const char *key, const char *value) {
    w->meta = wm_realloc(w->meta, (size_t)(2 * w->nmeta + 2), sizeof(char *));
    w->meta[2 * w->nmeta] = wm_strdup(key);
    w->meta[2 * w->nmeta + 1] = wm_strdup(value);
    w->nmeta++;
}

int wm_st_writer_save(WmStWriter *w, const char *path, char *err, size_t errsz) {
    /* Tensors are packed back to back with no holes (as the reference loader
     * requires), widest dtype first so every block is aligned to its element size
     * once the header is padded to a multiple of 8. */
    /* The header is JSON, which holds UTF-8 only: refuse up front what the reader
     * would refuse later. */
    for (int i = 0; i < 2 * w->nmeta + w->n; i++) {
        const char *s = i < 2 * w->nmeta ? w->meta[i] : w->t[i - 2 * w->nmeta].name;
        if (!wm_utf8_valid(s, strlen(s)))
            return wm_errf(err, errsz, WM_ERR_ARG,
                           "cannot write '%s': %s '%.40s' is not valid UTF-8", path,
                           i < 2 * w->nmeta ? "metadata" : "tensor name", s);
    }
    for (int i = 0; i < w->nmeta; i++)
        for (int j = 0; j < i; j++)
            WM_ASSERT(strcmp(w->meta[2 * i], w->meta[2 * j]) != 0);
    int *order = wm_new(int, (size_t)w->n + 1);
    int k = 0;
    for (size_t width = 8; width >= 1; width /= 2)
        for (int i = 0; i < w->n; i++)
            if (wm_dtype_size(w->t[i].dt) == width) order[k++] = i;
    WM_ASSERT(k == w->n);
    WmBuf h = {0};
    WmJsonW jw;
    wm_jw_init(&jw, &h);
    wm_jw_compact(&jw);
    wm_jw_obj(&jw);
    if (w->nmeta) {
        wm_jw_key(&jw, "__metadata__"), wm_jw_obj(&jw);
        for (int i = 0; i < w->nmeta; i++)
            wm_jw_key(&jw, w->meta[2 * i]), wm_jw_str(&jw, w->meta[2 * i + 1]);
        wm_jw_end(&jw);
    }
    size_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const WEntry *e = &w->t[order[i]];
        wm_jw_key(&jw, e->name), wm_jw_obj(&jw);
        wm_jw_key(&jw, "dtype"), wm_jw_str(&jw, st_names[e->dt]);
        wm_jw_key(&jw, "shape"), wm_jw_arr(&jw);
        for (int d = 0; d < e->ndim; d++) wm_jw_uint(&jw, e->shape[d]);
        wm_jw_end(&jw);
        wm_jw_key(&jw, "data_offsets"), wm_jw_arr(&jw);
        wm_jw_uint(&jw, off), wm_jw_uint(&jw, off + e->nbytes);
        wm_jw_end(&jw), wm_jw_end(&jw);
        off += e->nbytes;
    }
    wm_jw_end(&jw);
    while (h.len % 8) wm_buf_puts(&h, " ");
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    WmAtomicFile af;
    int rc = wm_atomic_open(&af, path, err, errsz);
    if (rc == WM_OK) {
        int bad = fwrite(len8, 1, 8, af.fp) != 8 || fwrite(h.data, 1, h.len, af.fp) != h.len;
        for (int j = 0; j < w->n && !bad; j++) {
            const WEntry *e = &w->t[order[j]];
            bad = e->nbytes && fwrite(e->data, 1, e->nbytes, af.fp) != e->nbytes;
        }
        if (bad) {
            int e = errno;
            wm_atomic_abort(&af);
            rc = wm_errf(err, errsz, WM_ERR_IO, "cannot write '%s': %s", path, strerror(e));
        } else {
            rc = wm_atomic_commit(&af, err, errsz);
        }
    }
    wm_buf_free(&h);
    wm_free(order);
    return rc;
}

struct WmStFile {
    void *map;
    size_t map_len;
    WmStTensor *t;
    int n;
    char **meta; /* key, value pairs */
    int nmeta;
};

void wm_st_close(WmStFile *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_len);
    for (int i = 0; i < f->n; i++) wm_free((void *)f->t[i].name);
    for (int i = 0; i < 2 * f->nmeta; i++) wm_free(f->meta[i]);
    wm_free(f->t);
    wm_free(f->meta);
    wm_free(f);
}

static int integral(const WmJson *j, double max) {
    return j && j->type == WM_JSON_NUM && j->num >= 0 && j->num <= max && floor(j->num) == j->num;
}

static int by_begin(const void *a, const void *b) {
    const WmStTensor *x = *(const WmStTensor *const *)a, *y = *(const WmStTensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

static int parse(WmStFile *f, const char *path, const unsigned char *base, size_t fsize, char *err,
                 size_t errsz) {
    if (fsize < 8) return wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': too short for a safetensors file (%zu bytes)", path, fsize);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)base[i] << (8 * i);
    if (hl > fsize - 8 || hl > MAX_HEADER)
        return wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': header length %llu exceeds the file size (%zu bytes)",
                       path, (unsigned long long)hl, fsize);
    const char *htext = (const char *)base + 8;
    if (!wm_utf8_valid(htext, (size_t)hl))
        return wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': header is not valid UTF-8", path);
    char jerr[256];
    WmJson *root = wm_json_parse(htext, (size_t)hl, jerr, sizeof jerr);
    if (!root) return wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': header: %s", path, jerr);
    int rc = WM_OK;
    if (root->type != WM_JSON_OBJ) {
        rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': header is not a JSON object", path);
        goto out;
    }
    const unsigned char *data = base + 8 + hl;
    size_t dsize = fsize - 8 - (size_t)hl;
    f->t = wm_new(WmStTensor, root->len + 1);
    for (const WmJson *c = root->child; c; c = c->next) {
        if (!strcmp(c->key, "__metadata__")) {
            if (c->type != WM_JSON_OBJ) {
                rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': __metadata__ is not an object", path);
                goto out;
            }
            f->meta = wm_new(char *, 2 * c->len + 2);
            for (const WmJson *m = c->child; m; m = m->next) {
                if (m->type != WM_JSON_STR) {
                    rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': metadata '%s' is not a string", path, m->key);
                    goto out;
                }
                f->meta[2 * f->nmeta] = wm_strdup(m->key);
                f->meta[2 * f->nmeta + 1] = wm_strdup(m->str);
                f->nmeta++;
            }
            continue;
        }
        const WmJson *dt = wm_json_get(c, "dtype"), *sh = wm_json_get(c, "shape"),
                     *of = wm_json_get(c, "data_offsets");
        if (!dt || dt->type != WM_JSON_STR || !sh || sh->type != WM_JSON_ARR || !of ||
            of->type != WM_JSON_ARR || of->len != 2) {
            rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': tensor '%s' lacks dtype, shape or data_offsets", path, c->key);
            goto out;
        }
        WmStTensor *t = &f->t[f->n];
        int found = -1;
        for (int i = 0; i < WM_DTYPE_COUNT_; i++)
            if (!strcmp(dt->str, st_names[i])) found = i;
        if (found < 0) {
            rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': tensor '%s' has unsupported dtype '%s' (want F32, F64, I32, I64 or U8)",
                         path, c->key, dt->str);
            goto out;
        }
        t->dtype = (WmDtype)found;
        if (sh->len > WM_MAX_DIMS) {
            rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': tensor '%s' has more than %d dimensions", path, c->key, WM_MAX_DIMS);
            goto out;
        }
        t->ndim = (int)sh->len;
        int d = 0;
        for (const WmJson *s = sh->child; s; s = s->next, d++) {
            if (!integral(s, 9007199254740992.0)) {
                rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': tensor '%s' has a bad shape entry", path, c->key);
                goto out;
            }
            t->shape[d] = (size_t)s->num;
        }
        if (wm_shape_count(t->ndim, t->shape, wm_dtype_size(t->dtype), &t->count, &t->nbytes)) {
            rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': tensor '%s': shape's size overflows", path, c->key);
            goto out;
        }
        const WmJson *b = wm_json_at(of, 0), *e = wm_json_at(of, 1);
        if (!integral(b, 9007199254740992.0) || !integral(e, 9007199254740992.0) || b->num > e->num ||
            (size_t)e->num > dsize) {
            rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': tensor '%s': data_offsets out of bounds (data is %zu bytes)",
                         path, c->key, dsize);
            goto out;
        }
        if ((size_t)(e->num - b->num) != t->nbytes) {
            rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': tensor '%s': data_offsets span %zu bytes but the shape needs %zu",
                         path, c->key, (size_t)(e->num - b->num), t->nbytes);
            goto out;
        }
        t->data = data + (size_t)b->num;
        t->name = wm_strdup(c->key);
        f->n++;
    }
    /* No two tensors may overlap and the data section must be fully used. */
    WmStTensor **sorted = wm_new(WmStTensor *, (size_t)f->n + 1);
    for (int i = 0; i < f->n; i++) sorted[i] = &f->t[i];
    qsort(sorted, (size_t)f->n, sizeof *sorted, by_begin);
    size_t pos = 0;
    for (int i = 0; i < f->n && rc == WM_OK; i++) {
        size_t b = (size_t)((const unsigned char *)sorted[i]->data - data);
        if (b < pos)
            rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': tensor '%s' overlaps '%s'", path, sorted[i]->name, sorted[i - 1]->name);
        else if (b > pos)
            rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': gap of %zu unused bytes before tensor '%s'", path, b - pos, sorted[i]->name);
        pos = b + sorted[i]->nbytes;
    }
    if (rc == WM_OK && pos != dsize)
        rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': %zu bytes after the last tensor", path, dsize - pos);
    wm_free(sorted);
out:
    wm_json_free(root);
    return rc;
}

int wm_st_open(const char *path, WmStFile **out, char *err, size_t errsz) {
    *out = NULL;
    size_t fsize;
    int fd = wm_open_regular(path, &fsize, err, errsz);
    if (fd < 0) return WM_ERR_IO;
    WmStFile *f = wm_new(WmStFile, 1);
    f->map_len = fsize;
    if (f->map_len) {
        f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            f->map = NULL;
            close(fd);
            wm_st_close(f);
            return wm_errf(err, errsz, WM_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
        }
    }
    close(fd);
    int rc = parse(f, path, f->map, f->map_len, err, errsz);
    if (rc) {
        wm_st_close(f);
        return rc;
    }
    *out = f;
    return WM_OK;
}

int wm_st_parse(const void *bytes, size_t n, const char *name, WmStFile **out, char *err,
                size_t errsz) {
    *out = NULL;
    WmStFile *f = wm_new(WmStFile, 1);
    int rc = parse(f, name, bytes, n, err, errsz);
    if (rc) {
        wm_st_close(f);
        return rc;
    }
    *out = f;
    return WM_OK;
}

int wm_st_count(const WmStFile *f) { return f->n; }
const WmStTensor *wm_st_at(const WmStFile *f, int i) { return i >= 0 && i < f->n ? &f->t[i] : NULL; }

const WmStTensor *wm_st_find(const WmStFile *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

int wm_st_meta_count(const WmStFile *f) { return f->nmeta; }

const char *wm_st_meta(const WmStFile *f, const char *key) {
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta[2 * i], key)) return f->meta[2 * i + 1];
    return NULL;
}

const char *wm_st_meta_at(const WmStFile *f, int i, int value) {
    if (i < 0 || i >= f->nmeta) return NULL;
    return f->meta[2 * i + (value ? 1 : 0)];
}
