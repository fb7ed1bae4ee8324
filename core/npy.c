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

static void header_descr(const char *descr, int ndim, const size_t *shape, WmBuf *out) {
    WmBuf h = {0};
    wm_buf_printf(&h, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
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

void wm_npy_header(WmDtype dt, int ndim, const size_t *shape, WmBuf *out) {
    WM_ASSERT(dt >= 0 && dt < WM_DTYPE_COUNT_ && ndim >= 0 && ndim <= WM_MAX_DIMS);
    header_descr(dtypes[dt].npy, ndim, shape, out);
}

void wm_npy_header_str(size_t width, size_t n, WmBuf *out) {
    WM_ASSERT(width >= 1);
    char descr[32];
    snprintf(descr, sizeof descr, "<U%zu", width);
    header_descr(descr, 1, &n, out);
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

/* A fixed-width string descr ('<U7', '|S12'): its bytes per element, or 0. */
static size_t str_descr(const char *v, int *utf32) {
    if ((v[0] != '<' && v[0] != '|' && v[0] != '=') || (v[1] != 'U' && v[1] != 'S') || !isdigit((unsigned char)v[2]))
        return 0;
    size_t n = 0;
    for (const char *p = v + 2; *p; p++) {
        if (!isdigit((unsigned char)*p) || n > 100000) return 0;
        n = n * 10 + (size_t)(*p - '0');
    }
    *utf32 = v[1] == 'U';
    return n ? n * (*utf32 ? 4 : 1) : 0;
}

/* Parses the header dict into a (dtype, shape, sizes). With str non-NULL, the element
 * is a fixed-width string instead: str->elem bytes ('<Un' or '|Sn'). */
typedef struct {
    size_t elem;
    int utf32;
} StrType;

static int parse_header(const char *h, size_t hlen, WmArray *a, StrType *str, char *msg, size_t msgsz) {
    Lex l = {h, h + hlen};
    size_t elem = 0;
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
            if (str) {
                elem = str_descr(val, &str->utf32);
                if (!elem) return snprintf(msg, msgsz, "dtype '%s' is not a string type (want <Un or |Sn)", val), -1;
                str->elem = elem;
                found = WM_U8;
            } else {
                for (int i = 0; i < WM_DTYPE_COUNT_; i++)
                    if (!strcmp(val, dtypes[i].npy) || (dtypes[i].alt && !strcmp(val, dtypes[i].alt))) found = i;
                if (found < 0)
                    return snprintf(msg, msgsz, "unsupported dtype '%s' (want |u1, <i4, <i8, <f4 or <f8)", val), -1;
                elem = dtypes[found].size;
            }
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
    if (wm_shape_count(a->ndim, a->shape, elem, &a->count, &a->nbytes))
        return snprintf(msg, msgsz, "shape's element count overflows"), -1;
    return 0;
}

static int npy_read(const char *path, WmArray *out, int mode, StrType *str, char *err, size_t errsz) {
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
    int perr = parse_header(h, hlen, out, str, msg, sizeof msg);
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

int wm_npy_read(const char *path, WmArray *out, int mode, char *err, size_t errsz) {
    return npy_read(path, out, mode, NULL, err, errsz);
}

int wm_npy_read_str(const char *path, WmStrArray *out, char *err, size_t errsz) {
    memset(out, 0, sizeof *out);
    WmArray a;
    StrType st = {0, 0};
    int rc = npy_read(path, &a, WM_NPY_LOAD, &st, err, errsz);
    if (rc) return rc;
    if (a.ndim != 1) {
        int nd = a.ndim;
        wm_array_free(&a);
        return wm_errf(err, errsz, WM_ERR_FORMAT, "'%s' holds a %d-dimensional array; a list of strings has one", path,
                       nd);
    }
    size_t n = a.shape[0];
    WmBuf text = {0};
    size_t *off = wm_new(size_t, n + 1);
    const unsigned char *p = a.data;
    for (size_t i = 0; i < n && !rc; i++, p += st.elem) {
        off[i] = text.len;
        if (st.utf32) {
            for (size_t k = 0; k + 4 <= st.elem; k += 4) {
                uint32_t c = (uint32_t)p[k] | (uint32_t)p[k + 1] << 8 | (uint32_t)p[k + 2] << 16 | (uint32_t)p[k + 3] << 24;
                if (!c) break; /* numpy pads with NULs */
                if (c > 0x10ffff || (c >= 0xd800 && c < 0xe000)) {
                    rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': row %zu holds an invalid character (U+%X)", path, i,
                                 (unsigned)c);
                    break;
                }
                wm_buf_put_utf8(&text, c);
            }
        } else {
            size_t len = strnlen((const char *)p, st.elem);
            wm_buf_append(&text, p, len);
        }
        wm_buf_append(&text, "", 1);
    }
    wm_array_free(&a);
    if (rc) {
        wm_buf_free(&text);
        wm_free(off);
        return rc;
    }
    out->n = n;
    out->text = text.data ? text.data : wm_strdup("");
    out->items = wm_new(const char *, n ? n : 1);
    for (size_t i = 0; i < n; i++) out->items[i] = out->text + off[i];
    wm_free(off);
    return WM_OK;
}

void wm_str_array_free(WmStrArray *s) {
    wm_free(s->items);
    wm_free(s->text);
    memset(s, 0, sizeof *s);
}

void wm_array_free(WmArray *a) {
    if (a->map_) munmap(a->map_, a->map_len_);
    else wm_free(a->data);
    memset(a, 0, sizeof *a);
}
