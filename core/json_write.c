/* The streaming JSON writer of core/json.h. */
#include <math.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"

/* items[d]: bit 0 set once the container at depth d holds an item, bit 7 when it is an
 * array (depth 0 is the top level). */
#define HAS_ITEMS 0x01
#define IS_ARRAY  0x80

void wm_jw_init(WmJsonW *w, WmBuf *b) {
    memset(w, 0, sizeof *w);
    w->b = b;
}

void wm_jw_compact(WmJsonW *w) {
    w->compact = 1;
}

void wm_jw_break(WmJsonW *w, const char *ws) {
    w->brk = ws;
}

/* The separator before an item (a key, or a value not after a key). */
static void item(WmJsonW *w) {
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    unsigned char *n = &w->items[w->depth];
    if (*n & HAS_ITEMS) wm_buf_puts(w->b, ",");
    if (w->brk) {
        wm_buf_puts(w->b, w->brk);
        w->brk = NULL;
    } else if ((*n & HAS_ITEMS) && !w->compact) {
        wm_buf_puts(w->b, " ");
    }
    *n |= HAS_ITEMS;
}

static void open_(WmJsonW *w, int arr) {
    item(w);
    WM_ASSERT(w->depth < WM_JW_DEPTH);
    wm_buf_puts(w->b, arr ? "[" : "{");
    w->items[++w->depth] = arr ? IS_ARRAY : 0;
}

void wm_jw_obj(WmJsonW *w) {
    open_(w, 0);
}
void wm_jw_arr(WmJsonW *w) {
    open_(w, 1);
}

void wm_jw_end(WmJsonW *w) {
    WM_ASSERT(w->depth > 0 && !w->after_key);
    if (w->brk) {
        wm_buf_puts(w->b, w->brk);
        w->brk = NULL;
    }
    wm_buf_puts(w->b, w->items[w->depth] & IS_ARRAY ? "]" : "}");
    w->depth--;
}

void wm_jw_key(WmJsonW *w, const char *key) {
    WM_ASSERT(w->depth > 0 && !(w->items[w->depth] & IS_ARRAY) && !w->after_key);
    item(w);
    wm_buf_json_str(w->b, key);
    wm_buf_puts(w->b, w->compact ? ":" : ": ");
    w->after_key = 1;
}

void wm_jw_str(WmJsonW *w, const char *s) {
    item(w);
    wm_buf_json_str(w->b, s);
}

void wm_jw_int(WmJsonW *w, long long v) {
    item(w);
    wm_buf_printf(w->b, "%lld", v);
}

void wm_jw_uint(WmJsonW *w, unsigned long long v) {
    item(w);
    wm_buf_printf(w->b, "%llu", v);
}

void wm_jw_real(WmJsonW *w, double v) {
    if (!isfinite(v)) {
        wm_jw_null(w);
        return;
    }
    item(w);
    wm_buf_real(w->b, v);
}

void wm_jw_fixed(WmJsonW *w, double v, int decimals) {
    WM_ASSERT(decimals >= 0 && decimals <= 17);
    if (!isfinite(v)) {
        wm_jw_null(w);
        return;
    }
    item(w);
    wm_buf_printf(w->b, "%.*f", decimals, v);
}

void wm_jw_null(WmJsonW *w) {
    wm_jw_raw(w, "null");
}

void wm_jw_raw(WmJsonW *w, const char *text) {
    item(w);
    wm_buf_puts(w->b, text);
}
