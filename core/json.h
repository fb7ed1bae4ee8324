/* A small JSON reader (DOM in one allocation per document) for safetensors headers,
 * manifests and reports, and a streaming writer (WmJsonW) into a WmBuf (alloc.h). */
#ifndef WM_JSON_H
#define WM_JSON_H

#include <stddef.h>

#include "core/alloc.h"

typedef enum { WM_JSON_NULL, WM_JSON_BOOL, WM_JSON_NUM, WM_JSON_STR, WM_JSON_ARR, WM_JSON_OBJ } WmJsonType;

typedef struct WmJson WmJson;
struct WmJson {
    WmJsonType type;
    int boolean;
    double num;
    const char *str;    /* STR value (NUL-terminated, UTF-8); NUM: its source text */
    size_t len;         /* STR: byte length; ARR/OBJ: number of children */
    const char *key;    /* when the parent is an object */
    WmJson *child;      /* first child (ARR/OBJ) */
    WmJson *next;       /* next sibling */
};

/* Parses text[0..len). Strings must be valid UTF-8, escapes are decoded, nesting is
 * limited to 64 levels, a key repeated within one object is an error. Returns the root (free with wm_json_free) or NULL with the
 * message (with byte offset) in err. */
WmJson *wm_json_parse(const char *text, size_t len, char *err, size_t errsz);
void wm_json_free(WmJson *root);
/* Member of an object by key (first match), or NULL. */
const WmJson *wm_json_get(const WmJson *obj, const char *key);
/* 0 when o[key] is a whole number in [lo, hi] (written to *out), else -1. */
int wm_json_int(const WmJson *o, const char *key, double lo, double hi, double *out);
/* Child i of an array or object, or NULL. */
const WmJson *wm_json_at(const WmJson *arr, size_t i);
/* true when s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
int wm_utf8_valid(const char *s, size_t n);

/* The writer. It writes the commas itself; the layout is the caller's: whitespace set
 * with wm_jw_break goes after the next comma (or before the next closing bracket),
 * and without it items of a container are separated by ", ". Strings are escaped
 * (wm_buf_json_str); reals take the fewest digits that read back as the same double
 * (wm_fmt_real) or a fixed number of decimals (wm_jw_fixed), non-finite ones null;
 * wm_jw_raw writes a value the caller formatted (a nested document). A compact writer
 * (wm_jw_compact) separates with "," and ":" alone. Nesting up to WM_JW_DEPTH levels.
 *
 *   WmJsonW w; wm_jw_init(&w, &buf);
 *   wm_jw_obj(&w); wm_jw_key(&w, "n"); wm_jw_int(&w, 3);
 *   wm_jw_break(&w, "\n"); wm_jw_end(&w);              // {"n": 3\n} */
#define WM_JW_DEPTH 32
typedef struct {
    WmBuf *b;
    int depth, after_key, compact;
    const char *brk;
    unsigned char items[WM_JW_DEPTH + 1];
} WmJsonW;

void wm_jw_init(WmJsonW *w, WmBuf *b);
void wm_jw_compact(WmJsonW *w);
void wm_jw_break(WmJsonW *w, const char *ws);
void wm_jw_obj(WmJsonW *w);
void wm_jw_arr(WmJsonW *w);
void wm_jw_end(WmJsonW *w); /* closes the innermost object or array */
void wm_jw_key(WmJsonW *w, const char *key);
void wm_jw_str(WmJsonW *w, const char *s);
void wm_jw_int(WmJsonW *w, long long v);
void wm_jw_uint(WmJsonW *w, unsigned long long v);
void wm_jw_real(WmJsonW *w, double v);
void wm_jw_fixed(WmJsonW *w, double v, int decimals); /* printf's %.<decimals>f */
void wm_jw_null(WmJsonW *w);
void wm_jw_raw(WmJsonW *w, const char *text);

#endif
