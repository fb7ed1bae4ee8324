/* Checked allocation, the arena and the growable buffer. */
#include "core/alloc.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

bool wm_size_mul(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

bool wm_size_add(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return false;
    *out = a + b;
    return true;
}

static _Noreturn void out_of_memory(size_t n) {
    fprintf(stderr, "seqjepa: out of memory allocating %zu bytes\n", n);
    fflush(stderr);
    abort();
}

void *wm_calloc(size_t count, size_t size) {
    size_t n;
    WM_ASSERT(wm_size_mul(count, size, &n));
    void *p = calloc(n ? n : 1, 1);
    if (!p) out_of_memory(n);
    return p;
}

void *wm_try_calloc(size_t count, size_t size) {
    size_t n;
    if (!wm_size_mul(count, size, &n)) return NULL;
    return calloc(n ? n : 1, 1);
}

void *wm_realloc(void *p, size_t count, size_t size) {
    size_t n;
    WM_ASSERT(wm_size_mul(count, size, &n));
    void *q = realloc(p, n ? n : 1);
    if (!q) out_of_memory(n);
    return q;
}

void wm_free(void *p) { free(p); }

char *wm_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = wm_calloc(n, 1);
    memcpy(d, s, n);
    return d;
}

void wm_arena_init(WmArena *a, size_t cap) {
    a->base = cap ? wm_calloc(cap, 1) : NULL;
    a->cap = cap;
    a->used = a->peak = 0;
}

void wm_arena_free(WmArena *a) {
    wm_free(a->base);
    memset(a, 0, sizeof *a);
}

void *wm_arena_try_alloc(WmArena *a, size_t size, size_t align) {
    WM_ASSERT(align && !(align & (align - 1)));
    uintptr_t base = (uintptr_t)a->base;
    size_t start = ((base + a->used + align - 1) & ~(uintptr_t)(align - 1)) - base;
    if (start < a->used || start > a->cap || size > a->cap - start) return NULL;
    a->used = start + size;
    if (a->used > a->peak) a->peak = a->used;
    return a->base + start;
}

void *wm_arena_alloc(WmArena *a, size_t size, size_t align) {
    void *p = wm_arena_try_alloc(a, size, align);
    if (!p) {
        fprintf(stderr, "seqjepa: arena of %zu bytes (%zu used) cannot fit %zu more\n", a->cap,
                a->used, size);
        WM_ASSERT(!"arena sized too small");
    }
    return p;
}

void wm_arena_release(WmArena *a, size_t mark) {
    WM_ASSERT(mark <= a->used);
    a->used = mark;
}

void wm_buf_reserve(WmBuf *b, size_t extra) {
    size_t need;
    WM_ASSERT(wm_size_add(b->len, extra + 1, &need));
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    b->data = wm_realloc(b->data, cap, 1);
    b->cap = cap;
    b->data[b->len] = 0; /* NUL-terminated from the first reserve on, even while empty */
}

void wm_buf_append(WmBuf *b, const void *p, size_t n) {
    wm_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void wm_buf_puts(WmBuf *b, const char *s) { wm_buf_append(b, s, strlen(s)); }

void wm_buf_put_utf8(WmBuf *b, unsigned cp) {
    unsigned char o[4];
    size_t n;
    if (cp < 0x80) o[0] = (unsigned char)cp, n = 1;
    else if (cp < 0x800) o[0] = (unsigned char)(0xc0 | cp >> 6), o[1] = (unsigned char)(0x80 | (cp & 0x3f)), n = 2;
    else if (cp < 0x10000)
        o[0] = (unsigned char)(0xe0 | cp >> 12), o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f)),
        o[2] = (unsigned char)(0x80 | (cp & 0x3f)), n = 3;
    else
        o[0] = (unsigned char)(0xf0 | cp >> 18), o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f)),
        o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f)), o[3] = (unsigned char)(0x80 | (cp & 0x3f)), n = 4;
    wm_buf_append(b, o, n);
}

void wm_buf_printf(WmBuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    WM_ASSERT(n >= 0);
    wm_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void wm_buf_json_str(WmBuf *b, const char *s) {
    wm_buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': wm_buf_puts(b, "\\\""); break;
        case '\\': wm_buf_puts(b, "\\\\"); break;
        case '\n': wm_buf_puts(b, "\\n"); break;
        case '\r': wm_buf_puts(b, "\\r"); break;
        case '\t': wm_buf_puts(b, "\\t"); break;
        default:
            if (*p < 0x20)
                wm_buf_printf(b, "\\u%04x", *p);
            else
                wm_buf_append(b, p, 1);
        }
    }
    wm_buf_puts(b, "\"");
}

/* %g turns to an exponent once the exponent reaches the digit count ("3e+01" for 30
 * in one digit); numbers below 10^limit read better written out, as Python prints
 * them. */
static void plain_whole(char *out, size_t outsz, double x, int digits, int limit) {
    const char *e = strchr(out, 'e');
    int ex = e ? atoi(e + 1) : -1;
    if (ex >= digits && ex < limit) snprintf(out, outsz, "%.*g", ex + 1, x);
}

void wm_fmt_real(char *out, size_t outsz, double x) {
    WM_ASSERT(outsz >= 32);
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(out, outsz, "%.*g", digits, x);
        if (!isfinite(x)) return;
        if (strtod(out, NULL) == x) return plain_whole(out, outsz, x, digits, 16);
    }
}

void wm_fmt_real32(char *out, size_t outsz, float x) {
    WM_ASSERT(outsz >= 32);
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(out, outsz, "%.*g", digits, (double)x);
        if (!isfinite(x)) return;
        if (strtof(out, NULL) == x) return plain_whole(out, outsz, (double)x, digits, 9);
    }
}

void wm_buf_real(WmBuf *b, double x) {
    char t[32];
    wm_fmt_real(t, sizeof t, x);
    wm_buf_puts(b, t);
}

void wm_buf_free(WmBuf *b) {
    wm_free(b->data);
    memset(b, 0, sizeof *b);
}
