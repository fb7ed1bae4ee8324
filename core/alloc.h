/* Checked allocation and a fixed-capacity arena with mark/release.
 * Running out of memory is fatal (a message and abort); overflow in a size that
 * comes from user input is checked by the caller with wm_size_mul/wm_size_add. */
#ifndef WM_ALLOC_H
#define WM_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* true and *out = a*b (a+b) when it fits in size_t, false on overflow. */
bool wm_size_mul(size_t a, size_t b, size_t *out);
bool wm_size_add(size_t a, size_t b, size_t *out);

/* Zeroed allocation of count*size bytes; aborts with a message when memory runs out
 * and asserts that count*size does not overflow. Never returns NULL. */
void *wm_calloc(size_t count, size_t size);
#define wm_new(T, n) ((T *)wm_calloc((n), sizeof(T)))
void *wm_realloc(void *p, size_t count, size_t size);
/* Returns NULL (no abort) on overflow or when memory runs out: for sizes read from files. */
void *wm_try_calloc(size_t count, size_t size);
void wm_free(void *p);
char *wm_strdup(const char *s);

/* One contiguous block handed out front to back. Pointers stay valid until release
 * past them; the block never moves. */
typedef struct {
    unsigned char *base;
    size_t cap;
    size_t used;
    size_t peak;
} WmArena;

/* Capacity in bytes; storage is zeroed. */
void wm_arena_init(WmArena *a, size_t cap);
void wm_arena_free(WmArena *a);
/* align must be a power of two. Asserts that the arena has room (sizing it is the
 * caller's job; overflow is a bug). */
void *wm_arena_alloc(WmArena *a, size_t size, size_t align);
/* As above but returns NULL when it does not fit. */
void *wm_arena_try_alloc(WmArena *a, size_t size, size_t align);
#define wm_arena_new(a, T, n) ((T *)wm_arena_alloc((a), sizeof(T) * (size_t)(n), _Alignof(T)))
static inline size_t wm_arena_mark(const WmArena *a) { return a->used; }
/* Frees everything allocated after mark. */
void wm_arena_release(WmArena *a, size_t mark);

/* A growable byte buffer, also used as a string builder (always NUL-terminated). */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} WmBuf;
void wm_buf_reserve(WmBuf *b, size_t extra);
void wm_buf_append(WmBuf *b, const void *p, size_t n);
void wm_buf_puts(WmBuf *b, const char *s);
/* Appends code point cp (at most 0x10FFFF, not a surrogate: the caller checks) as UTF-8. */
void wm_buf_put_utf8(WmBuf *b, unsigned cp);
void wm_buf_printf(WmBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal with quotes and escapes. */
void wm_buf_json_str(WmBuf *b, const char *s);
/* x in the fewest significant digits (%g style) that read back as the same double:
 * 0.2, not 0.20000000000000001. Non-finite values as printf writes them. out holds 32
 * bytes or more. wm_fmt_real32 does the same for a float (at most 9 digits). */
void wm_fmt_real(char *out, size_t outsz, double x);
void wm_fmt_real32(char *out, size_t outsz, float x);
/* Appends wm_fmt_real(x). */
void wm_buf_real(WmBuf *b, double x);
void wm_buf_free(WmBuf *b);

#endif
