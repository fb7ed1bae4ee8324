/* numpy .npy reading and writing (see npy.h). */
#include "core/npy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"

static const struct {
    const char *npy;
    const char *alt;
    const char *name;
    size_t size;
} dtypes[WM_DTYPE_COUNT_] = {
    {"|u1", "<u1", "u8", 1}, {"<i4", NULL, "i32", 4}, {"<i8", NULL, "i64", 8},
    {"<f4", NULL, "f32", 4}, {"<f8", NULL, "f64", 8},
};

size_t wm_dtype_size(WmDtype dt) { return dtypes[dt].size; }
const char *wm_dtype_name(WmDtype dt) { return dtypes[dt].name; }

int wm_shape_count(int ndim, const size_t *shape, size_t elem, size_t *count, size_t *nbytes) {
    size_t c = 1;
    for (int i = 0; i < ndim; i++)
        if (!wm_size_mul(c, shape[i], &c)) return -1;
    size_t b;
    if (!wm_size_mul(c, elem, &b)) return -1;
    *count = c;
    *nbytes = b;
    return 0;
}

void wm_npy_header(WmDtype dt, int ndim, const size_t *shape, WmBuf *out) {
    WM_ASSERT(dt >= 0 && dt < WM_DTYPE_COUNT_ && ndim >= 0 && ndim <= WM_MAX_DIMS);
    WmBuf h = {0};
    wm_buf_printf(&h, "{'descr': '%s', 'fortran_order': False, 'shape': (", dtypes[dt].npy);
    for (int i = 0; i < ndim; i++) wm_buf_printf(&h, "%zu%s", shape[i], ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
    wm_buf_puts(&h, "), }");
    /* magic(6) + version(2) + len(2 or 4) + header, padded with spaces and a final
     * newline to a multiple of 64 so the data is aligned. */
    int v2 = h.len + 1 + 10 > 65535;
    size_t pre = v2 ? 12 : 10;
    size_t total = (pre + h.len + 1 + 63) / 64 * 64;
    while (pre + h.len + 1 < total) wm_buf_puts(&h, " ");
    wm_buf_puts(&h, "\n");
    unsigned char head[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)(v2 ? 2 : 1), 0};
    size_t hl = h.len;
    if (v2) {
        for (int i = 0; i < 4; i++) head[8 + i] = (unsigned char)(hl >> (8 * i));
    } else {
        head[8] = (unsigned char)hl, head[9] = (unsigned char)(hl >> 8);
    }
    wm_buf_append(out, head, pre);
    wm_buf_append(out, h.data, h.len);
    wm_buf_free(&h);
}

int wm_npy_write(const char *path, WmDtype dt, int ndim, const size_t *shape, const void *data,
                 char *err, size_t errsz) {
    WM_ASSERT(dt >= 0 && dt < WM_DTYPE_COUNT_ && ndim >= 0 && ndim <= WM_MAX_DIMS);
    size_t count, nbytes;
    if (wm_shape_count(ndim, shape, dtypes[dt].size, &count, &nbytes))
        return wm_errf(err, errsz, WM_ERR_NOMEM, "npy '%s': shape too large", path);
    WmBuf h = {0};
    wm_npy_header(dt, ndim, shape, &h);
    WmAtomicFile af;
    int rc = wm_atomic_open(&af, path, err, errsz);
    if (rc) {
        wm_buf_free(&h);
        return rc;
    }
    int bad = fwrite(h.data, 1, h.len, af.fp) != h.len ||
              (nbytes && fwrite(data, 1, nbytes, af.fp) != nbytes);
    wm_buf_free(&h);
    if (bad) {
        int e = errno;
        wm_atomic_abort(&af);
        return wm_errf(err, errsz, WM_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    return wm_atomic_commit(&af, err, errsz);
}

/* A tiny reader for the header's Python dict literal. */
typedef struct {
    const char *s, *e;
} Lex;

static void lex_ws(Lex *l) {
    while (l->s < l->e && isspace((unsigned char)*l->s)) l->s++;
}

static int lex_char(Lex *l, char c) {
    lex_ws(l);
    if (l->s < l->e && *l->s == c) {
        l->s++;
        return 1;
    }
    return 0;
}

static int lex_str(Lex *l, char *out, size_t outsz) {
    lex_ws(l);
    if (l->s >= l->e || (*l->s != '\'' && *l->s != '"')) return 0;
    char q = *l->s++;
    size_t n = 0;
    while (l->s < l->e && *l->s != q) {
        if (n + 1 >= outsz) return 0;
        out[n++] = *l->s++;
    }
    if (l->s >= l->e) return 0;
    l->s++;
    out[n] = 0;
    return 1;
}

static int parse_header(const char *h, size_t hlen, WmArray *a, char *msg, size_t msgsz) {
    Lex l = {h, h + hlen};
    int have_descr = 0, have_order = 0, have_shape = 0;
    if (!lex_char(&l, '{')) return snprintf(msg, msgsz, "header is not a dict"), -1;
    for (;;) {
        if (lex_char(&l, '}')) break;
        char key[32], val[32];
        if (!lex_str(&l, key, sizeof key) || !lex_char(&l, ':'))
            return snprintf(msg, msgsz, "malformed header dict"), -1;
        if (!strcmp(key, "descr")) {
            if (!lex_str(&l, val, sizeof val)) return snprintf(msg, msgsz, "descr is not a string"), -1;
            int found = -1;
            for (int i = 0; i < WM_DTYPE_COUNT_; i++)
                if (!strcmp(val, dtypes[i].npy) || (dtypes[i].alt && !strcmp(val, dtypes[i].alt))) found = i;
            if (found < 0)
                return snprintf(msg, msgsz, "unsupported dtype '%s' (want |u1, <i4, <i8, <f4 or <f8)", val), -1;
            a->dtype = (WmDtype)found;
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order")) {
            lex_ws(&l);
            if ((size_t)(l.e - l.s) >= 5 && !strncmp(l.s, "False", 5)) l.s += 5;
            else if ((size_t)(l.e - l.s) >= 4 && !strncmp(l.s, "True", 4))
                return snprintf(msg, msgsz, "Fortran-order arrays are not supported"), -1;
            else return snprintf(msg, msgsz, "fortran_order is not True or False"), -1;
            have_order = 1;
        } else if (!strcmp(key, "shape")) {
            if (!lex_char(&l, '(')) return snprintf(msg, msgsz, "shape is not a tuple"), -1;
            a->ndim = 0;
            for (;;) {
                if (lex_char(&l, ')')) break;
                lex_ws(&l);
                if (l.s >= l.e || !isdigit((unsigned char)*l.s)) return snprintf(msg, msgsz, "bad shape"), -1;
                unsigned long long v = 0;
                while (l.s < l.e && isdigit((unsigned char)*l.s)) {
                    if (v > (~0ULL - 9) / 10) return snprintf(msg, msgsz, "shape entry overflows"), -1;
                    v = v * 10 + (unsigned)(*l.s++ - '0');
                }
                lex_ws(&l);
                if (l.s < l.e && *l.s == 'L') l.s++;
                if (a->ndim == WM_MAX_DIMS) return snprintf(msg, msgsz, "more than %d dimensions", WM_MAX_DIMS), -1;
                a->shape[a->ndim++] = (size_t)v;
                if (!lex_char(&l, ',')) {
                    if (!lex_char(&l, ')')) return snprintf(msg, msgsz, "bad shape"), -1;
                    break;
                }
            }
            have_shape = 1;
        } else {
            return snprintf(msg, msgsz, "unknown header key '%s'", key), -1;
        }
        if (!lex_char(&l, ',')) {
            if (!lex_char(&l, '}')) return snprintf(msg, msgsz, "malformed header dict"), -1;
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        return snprintf(msg, msgsz, "header lacks descr, fortran_order or shape"), -1;
    lex_ws(&l);
    if (l.s != l.e) return snprintf(msg, msgsz, "text after the header dict"), -1;
    if (wm_shape_count(a->ndim, a->shape, dtypes[a->dtype].size, &a->count, &a->nbytes))
        return snprintf(msg, msgsz, "shape's element count overflows"), -1;
    return 0;
}

int wm_npy_read(const char *path, WmArray *out, int mode, char *err, size_t errsz) {
    memset(out, 0, sizeof *out);
    size_t fsize;
    int fd = wm_open_regular(path, &fsize, err, errsz);
    if (fd < 0) return WM_ERR_IO;
    unsigned char pre[12];
    ssize_t got = fsize >= 10 ? pread(fd, pre, fsize >= 12 ? 12 : 10, 0) : 0;
    int rc = WM_OK;
    char msg[256] = "";
    if (got < 10 || memcmp(pre, "\x93NUMPY", 6)) {
        rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s' is not a .npy file (bad magic or too short)", path);
        goto done;
    }
    int major = pre[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (got < 12) {
            rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': truncated header", path);
            goto done;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        hstart = 12;
    } else {
        rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': unsupported .npy version %d", path, major);
        goto done;
    }
    if (hlen > fsize - hstart) {
        rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': header of %zu bytes is longer than the file (%zu bytes)",
                     path, hlen, fsize);
        goto done;
    }
    char *h = wm_calloc(hlen + 1, 1);
    if (pread(fd, h, hlen, (off_t)hstart) != (ssize_t)hlen) {
        wm_free(h);
        rc = wm_errf(err, errsz, WM_ERR_IO, "cannot read '%s'", path);
        goto done;
    }
    int perr = parse_header(h, hlen, out, msg, sizeof msg);
    wm_free(h);
    if (perr) {
        rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': %s", path, msg);
        goto done;
    }
    size_t off = hstart + hlen;
    if (fsize - off != out->nbytes) {
        rc = wm_errf(err, errsz, WM_ERR_FORMAT,
                     "'%s': header says %zu data bytes but the file holds %zu (truncated or corrupt)",
                     path, out->nbytes, fsize - off);
        goto done;
    }
    if (mode == WM_NPY_MMAP && fsize > 0) {
        void *m = mmap(NULL, fsize, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            rc = wm_errf(err, errsz, WM_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
            goto done;
        }
        out->map_ = m;
        out->map_len_ = fsize;
        out->data = (char *)m + off;
    } else {
        out->data = wm_try_calloc(out->nbytes ? out->nbytes : 1, 1);
        if (!out->data) {
            rc = wm_errf(err, errsz, WM_ERR_NOMEM, "'%s': %zu bytes do not fit in memory", path, out->nbytes);
            goto done;
        }
        size_t done_bytes = 0;
        while (done_bytes < out->nbytes) {
            ssize_t r = pread(fd, (char *)out->data + done_bytes, out->nbytes - done_bytes, (off_t)(off + done_bytes));
            if (r <= 0) {
                rc = wm_errf(err, errsz, WM_ERR_IO, "cannot read '%s'", path);
                goto done;
            }
            done_bytes += (size_t)r;
        }
    }
done:
    close(fd);
    if (rc) wm_array_free(out);
    return rc;
}

void wm_array_free(WmArray *a) {
    if (a->map_) munmap(a->map_, a->map_len_);
    else wm_free(a->data);
    memset(a, 0, sizeof *a);
}
