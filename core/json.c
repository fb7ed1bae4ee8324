/* A strict, bounded JSON reader (see json.h). */
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

typedef struct {
    const char *s;
    size_t n, i;
    char *err;
    size_t errsz;
    int failed;
} Parser;

static WmJson *fail(Parser *p, const char *what) {
    if (!p->failed) wm_errf(p->err, p->errsz, WM_ERR_PARSE, "json: %s at byte %zu", what, p->i);
    p->failed = 1;
    return NULL;
}

static void skip_ws(Parser *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

int wm_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07;
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

static int hex4(Parser *p, unsigned *out) {
    if (p->n - p->i < 4) return 0;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i + (size_t)k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    p->i += 4;
    *out = v;
    return 1;
}

/* Parses a string at p->i (which is at the opening quote). */
static char *parse_string(Parser *p, size_t *len) {
    WmBuf b = {0};
    wm_buf_reserve(&b, 16);
    p->i++;
    for (;;) {
        if (p->i >= p->n) {
            wm_buf_free(&b);
            fail(p, "unterminated string");
            return NULL;
        }
        unsigned char c = (unsigned char)p->s[p->i++];
        if (c == '"') break;
        if (c < 0x20) {
            wm_buf_free(&b);
            fail(p, "control character in string");
            return NULL;
        }
        if (c != '\\') {
            wm_buf_append(&b, &c, 1);
            continue;
        }
        if (p->i >= p->n) break;
        char e = p->s[p->i++];
        unsigned cp;
        switch (e) {
        case '"': case '\\': case '/': wm_buf_append(&b, &e, 1); break;
        case 'b': wm_buf_puts(&b, "\b"); break;
        case 'f': wm_buf_puts(&b, "\f"); break;
        case 'n': wm_buf_puts(&b, "\n"); break;
        case 'r': wm_buf_puts(&b, "\r"); break;
        case 't': wm_buf_puts(&b, "\t"); break;
        case 'u':
            if (!hex4(p, &cp)) goto bad;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo;
                if (p->n - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') goto bad;
                p->i += 2;
                if (!hex4(p, &lo) || lo < 0xdc00 || lo > 0xdfff) goto bad;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) goto bad;
            if (cp == 0) goto bad; /* keeps strings NUL-terminated and whole */
            wm_buf_put_utf8(&b, cp);
            break;
        default: goto bad;
        }
    }
    *len = b.len;
    return b.data;
bad:
    wm_buf_free(&b);
    fail(p, "bad escape in string");
    return NULL;
}

static WmJson *parse_value(Parser *p, int depth);

static WmJson *new_node(WmJsonType t) {
    WmJson *j = wm_new(WmJson, 1);
    j->type = t;
    return j;
}

static WmJson *parse_container(Parser *p, int depth, int is_obj) {
    WmJson *node = new_node(is_obj ? WM_JSON_OBJ : WM_JSON_ARR);
    WmJson **tail = &node->child;
    char close = is_obj ? '}' : ']';
    p->i++;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        return node;
    }
    for (;;) {
        char *key = NULL;
        size_t klen;
        if (is_obj) {
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != '"') goto bad;
            if (!(key = parse_string(p, &klen))) goto bad;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') {
                wm_free(key);
                goto bad;
            }
            p->i++;
        }
        if (is_obj) {
            /* A repeated key is an error: readers that take the first or the last
             * match would disagree about what the document says. */
            for (const WmJson *c = node->child; c; c = c->next)
                if (!strcmp(c->key, key)) {
                    wm_errf(p->err, p->errsz, WM_ERR_PARSE, "json: duplicate key \"%.64s\" at byte %zu", key, p->i);
                    p->failed = 1;
                    wm_free(key);
                    goto bad;
                }
        }
        WmJson *child = parse_value(p, depth + 1);
        if (!child) {
            wm_free(key);
            goto bad;
        }
        child->key = key;
        *tail = child;
        tail = &child->next;
        node->len++;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            return node;
        }
        goto bad;
    }
bad:
    fail(p, is_obj ? "malformed object" : "malformed array");
    wm_json_free(node);
    return NULL;
}

static WmJson *parse_value(Parser *p, int depth) {
    if (depth > 64) return fail(p, "nesting deeper than 64");
    skip_ws(p);
    if (p->i >= p->n) return fail(p, "unexpected end");
    char c = p->s[p->i];
    if (c == '{' || c == '[') return parse_container(p, depth, c == '{');
    if (c == '"') {
        size_t len;
        char *s = parse_string(p, &len);
        if (!s) return NULL;
        WmJson *j = new_node(WM_JSON_STR);
        j->str = s;
        j->len = len;
        return j;
    }
    static const struct { const char *word; WmJsonType t; int b; } lits[] = {
        {"true", WM_JSON_BOOL, 1}, {"false", WM_JSON_BOOL, 0}, {"null", WM_JSON_NULL, 0}};
    for (int k = 0; k < 3; k++) {
        size_t wl = strlen(lits[k].word);
        if (p->n - p->i >= wl && !memcmp(p->s + p->i, lits[k].word, wl)) {
            p->i += wl;
            WmJson *j = new_node(lits[k].t);
            j->boolean = lits[k].b;
            return j;
        }
    }
    /* number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
    size_t st = p->i;
    if (p->i < p->n && p->s[p->i] == '-') p->i++;
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') return fail(p, "unexpected character");
    if (p->s[p->i] == '0') p->i++;
    else while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') return fail(p, "bad number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') return fail(p, "bad number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    size_t len = p->i - st;
    if (len > 64) return fail(p, "number too long");
    char *txt = wm_calloc(len + 1, 1);
    memcpy(txt, p->s + st, len);
    WmJson *j = new_node(WM_JSON_NUM);
    j->num = strtod(txt, NULL);
    j->str = txt;
    j->len = len;
    return j;
}

WmJson *wm_json_parse(const char *text, size_t len, char *err, size_t errsz) {
    if (!wm_utf8_valid(text, len)) {
        wm_errf(err, errsz, WM_ERR_PARSE, "json: text is not valid UTF-8");
        return NULL;
    }
    Parser p = {text, len, 0, err, errsz, 0};
    WmJson *root = parse_value(&p, 0);
    if (!root) return NULL;
    skip_ws(&p);
    if (p.i != p.n) {
        fail(&p, "trailing characters");
        wm_json_free(root);
        return NULL;
    }
    return root;
}

void wm_json_free(WmJson *j) {
    while (j) {
        WmJson *next = j->next;
        wm_json_free(j->child);
        wm_free((void *)j->str);
        wm_free((void *)j->key);
        wm_free(j);
        j = next;
    }
}

const WmJson *wm_json_get(const WmJson *obj, const char *key) {
    if (!obj || obj->type != WM_JSON_OBJ) return NULL;
    for (const WmJson *c = obj->child; c; c = c->next)
        if (!strcmp(c->key, key)) return c;
    return NULL;
}

const WmJson *wm_json_at(const WmJson *arr, size_t i) {
    if (!arr || (arr->type != WM_JSON_ARR && arr->type != WM_JSON_OBJ)) return NULL;
    const WmJson *c = arr->child;
    while (c && i--) c = c->next;
    return c;
}

int wm_json_int(const WmJson *o, const char *key, double lo, double hi, double *out) {
    const WmJson *v = wm_json_get(o, key);
    if (!v || v->type != WM_JSON_NUM || v->num != (double)(int64_t)v->num || v->num < lo ||
        v->num > hi)
        return -1;
    *out = v->num;
    return 0;
}
