/* A small JSON reader (DOM in one allocation per document) for safetensors headers,
 * manifests and reports. Writing JSON goes through WmBuf (alloc.h). */
#ifndef WM_JSON_H
#define WM_JSON_H

#include <stddef.h>

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

#endif
