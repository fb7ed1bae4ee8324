/* JSON (manifests, shard records, safetensors headers, reports): the parser on any
 * bytes; a document it accepts has unique keys and UTF-8 strings without NUL, and
 * written back with the program's own string writer it parses to the same tree. */
#include "core/alloc.h"
#include "core/json.h"
#include "tests/fuzz/fuzz.h"

static void write_json(const WmJson *j, WmBuf *b) {
    switch (j->type) {
    case WM_JSON_NULL: wm_buf_puts(b, "null"); break;
    case WM_JSON_BOOL: wm_buf_puts(b, j->boolean ? "true" : "false"); break;
    case WM_JSON_NUM: wm_buf_puts(b, j->str); break;
    case WM_JSON_STR: wm_buf_json_str(b, j->str); break;
    case WM_JSON_ARR:
    case WM_JSON_OBJ:
        wm_buf_puts(b, j->type == WM_JSON_ARR ? "[" : "{");
        for (const WmJson *c = j->child; c; c = c->next) {
            if (c != j->child) wm_buf_puts(b, ",");
            if (j->type == WM_JSON_OBJ) {
                wm_buf_json_str(b, c->key);
                wm_buf_puts(b, ":");
            }
            write_json(c, b);
        }
        wm_buf_puts(b, j->type == WM_JSON_ARR ? "]" : "}");
        break;
    }
}

static void check_tree(const WmJson *j) {
    if (j->type == WM_JSON_STR)
        FUZZ_CHECK(strlen(j->str) == j->len && wm_utf8_valid(j->str, j->len), "bad string node");
    size_t n = 0;
    for (const WmJson *c = j->child; c; c = c->next, n++) {
        check_tree(c);
        if (j->type == WM_JSON_OBJ) {
            FUZZ_CHECK(c->key && wm_utf8_valid(c->key, strlen(c->key)), "bad key");
            FUZZ_CHECK(wm_json_get(j, c->key) == c, "key '%s' is not unique", c->key);
        }
    }
    if (j->type == WM_JSON_ARR || j->type == WM_JSON_OBJ) FUZZ_CHECK(n == j->len, "child count");
}

static int same(const WmJson *a, const WmJson *b) {
    if (a->type != b->type || a->len != b->len || a->boolean != b->boolean) return 0;
    if ((a->key || b->key) && (!a->key || !b->key || strcmp(a->key, b->key))) return 0;
    if (a->type == WM_JSON_STR && strcmp(a->str, b->str)) return 0;
    if (a->type == WM_JSON_NUM && !(a->num == b->num || (a->num != a->num && b->num != b->num)))
        return 0;
    const WmJson *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next)
        if (!same(x, y)) return 0;
    return !x && !y;
}

FUZZ_TARGET(json) {
    char err[512] = "";
    WmJson *j = wm_json_parse((const char *)data, size, err, sizeof err);
    if (!j) {
        FUZZ_CHECK(!strncmp(err, "json: ", 6), "error without a message: '%s'", err);
    } else {
        check_tree(j);
        WmBuf b = {0};
        write_json(j, &b);
        WmJson *k = wm_json_parse(b.data, b.len, err, sizeof err);
        FUZZ_CHECK(k != NULL, "own output does not parse: %s", err);
        FUZZ_CHECK(same(j, k), "own output parses to another tree");
        wm_json_free(k);
        wm_buf_free(&b);
        wm_json_free(j);
    }
    /* The input as one string value: what the writer escapes, the reader restores. */
    if (wm_utf8_valid((const char *)data, size) && !memchr(data, 0, size)) {
        char *s = wm_calloc(size + 1, 1);
        memcpy(s, data, size);
        WmBuf b = {0};
        wm_buf_json_str(&b, s);
        WmJson *k = wm_json_parse(b.data, b.len, err, sizeof err);
        FUZZ_CHECK(k && k->type == WM_JSON_STR && !strcmp(k->str, s), "string does not round-trip: %s", err);
        wm_json_free(k);
        wm_buf_free(&b);
        wm_free(s);
    }
    return 0;
}
