/* Table-driven INI parsing, overrides and dump (see config.h). */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/fs.h"

const WmCfgSection *wm_cfg_find_section(const WmCfgSchema *schema, const char *name) {
    for (int i = 0; i < schema->nsections; i++)
        if (!strcmp(schema->sections[i].name, name)) return &schema->sections[i];
    return NULL;
}

const WmCfgField *wm_cfg_find_field(const WmCfgSection *sec, const char *key) {
    for (int i = 0; i < sec->nfields; i++)
        if (!strcmp(sec->fields[i].key, key)) return &sec->fields[i];
    return NULL;
}

/* Index of `word` among "a|b|c", or -1. */
static int enum_index(const char *choices, const char *word) {
    size_t wl = strlen(word);
    int idx = 0;
    for (const char *p = choices; *p; idx++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == wl && !strncmp(p, word, n)) return idx;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

const char *wm_cfg_enum_name(const WmCfgField *f, int idx, char *out, size_t outsz) {
    out[0] = 0;
    int i = 0;
    for (const char *p = f->choices; p && *p; i++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (i == idx) {
            snprintf(out, outsz, "%.*s", (int)n, p);
            return out;
        }
        if (!bar) break;
        p = bar + 1;
    }
    return out;
}

static int set_field(const WmCfgSection *sec, const WmCfgField *f, void *sect, const char *v,
                     const char *where, char *err, size_t errsz) {
    char *end;
    void *dst = (char *)sect + f->offset;
    switch (f->type) {
    case WM_CFG_INT: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (end == v || *end || errno)
            return wm_errf(err, errsz, WM_ERR_PARSE, "%s: %s.%s: '%s' is not an integer", where,
                           sec->name, f->key, v);
        if ((double)x < f->min || (double)x > f->max)
            return wm_errf(err, errsz, WM_ERR_RANGE, "%s: %s.%s = %lld is out of range [%.15g, %.15g]",
                           where, sec->name, f->key, x, f->min, f->max);
        *(int *)dst = (int)x;
        return WM_OK;
    }
    case WM_CFG_REAL: {
        errno = 0;
        double x = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(x))
            return wm_errf(err, errsz, WM_ERR_PARSE, "%s: %s.%s: '%s' is not a finite number",
                           where, sec->name, f->key, v);
        if (x < f->min || x > f->max)
            return wm_errf(err, errsz, WM_ERR_RANGE, "%s: %s.%s = %.15g is out of range [%.15g, %.15g]",
                           where, sec->name, f->key, x, f->min, f->max);
        *(double *)dst = x;
        return WM_OK;
    }
    case WM_CFG_BOOL: {
        static const char *const yes[] = {"true", "1", "yes", "on"}, *const no[] = {"false", "0", "no", "off"};
        for (int i = 0; i < 4; i++) {
            if (!strcmp(v, yes[i])) return *(int *)dst = 1, WM_OK;
            if (!strcmp(v, no[i])) return *(int *)dst = 0, WM_OK;
        }
        return wm_errf(err, errsz, WM_ERR_PARSE, "%s: %s.%s: '%s' is not a boolean (true or false)",
                       where, sec->name, f->key, v);
    }
    case WM_CFG_ENUM: {
        int idx = enum_index(f->choices, v);
        if (idx < 0)
            return wm_errf(err, errsz, WM_ERR_PARSE, "%s: %s.%s: '%s' is not one of %s", where,
                           sec->name, f->key, v, f->choices);
        *(int *)dst = idx;
        return WM_OK;
    }
    case WM_CFG_STR:
        if (strlen(v) >= WM_CFG_STR_MAX)
            return wm_errf(err, errsz, WM_ERR_RANGE, "%s: %s.%s: value longer than %d characters",
                           where, sec->name, f->key, WM_CFG_STR_MAX - 1);
        /* Strings end up in INI dumps, JSON reports and checkpoint metadata: refuse
         * here what those files could not hold and read back. */
        if (!wm_utf8_valid(v, strlen(v)))
            return wm_errf(err, errsz, WM_ERR_PARSE, "%s: %s.%s: value is not valid UTF-8", where,
                           sec->name, f->key);
        for (const char *c = v; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                return wm_errf(err, errsz, WM_ERR_PARSE,
                               "%s: %s.%s: value holds a control character (byte 0x%02x)", where,
                               sec->name, f->key, (unsigned char)*c);
        snprintf((char *)dst, WM_CFG_STR_MAX, "%s", v);
        return WM_OK;
    }
    WM_ASSERT(!"bad config field type");
    return WM_ERR_ARG;
}

static void known_list(const WmCfgSchema *schema, const WmCfgSection *sec, char *out, size_t n) {
    size_t len = 0;
    out[0] = 0;
    int count = sec ? sec->nfields : schema->nsections;
    for (int i = 0; i < count && len < n; i++) {
        const char *name = sec ? sec->fields[i].key : schema->sections[i].name;
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "", name);
    }
}

int wm_cfg_set(const WmCfgSchema *schema, void *cfg, const char *section, const char *key,
               const char *value, const char *where, char *err, size_t errsz) {
    char known[1024];
    const WmCfgSection *sec = wm_cfg_find_section(schema, section);
    if (!sec) {
        known_list(schema, NULL, known, sizeof known);
        return wm_errf(err, errsz, WM_ERR_PARSE, "%s: unknown section [%s] (known: %s)", where,
                       section, known);
    }
    const WmCfgField *f = wm_cfg_find_field(sec, key);
    if (!f) {
        known_list(schema, sec, known, sizeof known);
        return wm_errf(err, errsz, WM_ERR_PARSE, "%s: unknown key '%s' in [%s] (known: %s)", where,
                       key, section, known);
    }
    return set_field(sec, f, (char *)cfg + sec->offset, value, where, err, errsz);
}

void wm_cfg_defaults(const WmCfgSchema *schema, void *cfg) {
    char err[512];
    for (int s = 0; s < schema->nsections; s++) {
        const WmCfgSection *sec = &schema->sections[s];
        for (int i = 0; i < sec->nfields; i++) {
            int rc = set_field(sec, &sec->fields[i], (char *)cfg + sec->offset, sec->fields[i].def,
                               "default", err, sizeof err);
            if (rc) fprintf(stderr, "seqjepa: %s\n", err);
            WM_ASSERT(rc == WM_OK);
        }
    }
}

void wm_cfg_section_defaults(const WmCfgField *fields, int nfields, void *cfg) {
    WmCfgSection sec = {"", fields, nfields, 0, 0, NULL};
    WmCfgSchema schema = {&sec, 1};
    wm_cfg_defaults(&schema, cfg);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

/* Value text: "quoted" kept verbatim, otherwise cut at a whitespace-preceded # or ;. */
static int clean_value(char *v, const char *where, char *err, size_t errsz) {
    char *lead = v;
    while (isspace((unsigned char)*lead)) lead++;
    memmove(v, lead, strlen(lead) + 1);
    if (*v == '"') {
        char *q = strrchr(v + 1, '"');
        if (!q) return wm_errf(err, errsz, WM_ERR_PARSE, "%s: unterminated quoted value", where);
        if (*trim(q + 1) && *trim(q + 1) != '#' && *trim(q + 1) != ';')
            return wm_errf(err, errsz, WM_ERR_PARSE, "%s: text after the closing quote", where);
        *q = 0;
        memmove(v, v + 1, strlen(v + 1) + 1);
        return WM_OK;
    }
    for (char *p = v; *p; p++) {
        if ((*p == '#' || *p == ';') && (p == v || isspace((unsigned char)p[-1]))) {
            *p = 0;
            break;
        }
    }
    char *t = trim(v);
    memmove(v, t, strlen(t) + 1);
    return WM_OK;
}

static int load_text(const WmCfgSchema *schema, void *cfg, const char *text, const char *name,
                     int skip_unknown, char *err, size_t errsz) {
    int total = 0;
    for (int s = 0; s < schema->nsections; s++) total += schema->sections[s].nfields;
    int *seen_line = wm_calloc((size_t)total + 1, sizeof(int));
    int rc = WM_OK, lineno = 0;
    const WmCfgSection *cur = NULL;
    int cur_base = 0, skipping = 0;
    char where[600], line[4096];
    const char *p = text;
    while (*p && rc == WM_OK) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        snprintf(where, sizeof where, "%s:%d", name, lineno);
        if (n >= sizeof line) {
            rc = wm_errf(err, errsz, WM_ERR_PARSE, "%s: line longer than %zu characters", where,
                         sizeof line - 1);
            break;
        }
        memcpy(line, p, n);
        line[n] = 0;
        p = nl ? nl + 1 : p + n;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';') continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || *trim(close + 1)) {
                rc = wm_errf(err, errsz, WM_ERR_PARSE, "%s: malformed section header '%s'", where, s);
                break;
            }
            *close = 0;
            char *sname = trim(s + 1);
            cur = wm_cfg_find_section(schema, sname);
            if (!cur && skip_unknown) {
                skipping = 1;
                continue;
            }
            skipping = 0;
            if (!cur) {
                char known[1024];
                known_list(schema, NULL, known, sizeof known);
                rc = wm_errf(err, errsz, WM_ERR_PARSE, "%s: unknown section [%s] (known: %s)", where,
                             sname, known);
                break;
            }
            cur_base = 0;
            for (const WmCfgSection *q = schema->sections; q != cur; q++) cur_base += q->nfields;
            continue;
        }
        if (skipping) continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = wm_errf(err, errsz, WM_ERR_PARSE, "%s: expected 'key = value', got '%s'", where, s);
            break;
        }
        *eq = 0;
        char *key = trim(s), *val = eq + 1;
        if (!cur) {
            rc = wm_errf(err, errsz, WM_ERR_PARSE, "%s: key '%s' appears before any [section]",
                         where, key);
            break;
        }
        if ((rc = clean_value(val, where, err, errsz))) break;
        const WmCfgField *f = wm_cfg_find_field(cur, key);
        if (f) {
            int slot = cur_base + (int)(f - cur->fields);
            if (seen_line[slot]) {
                rc = wm_errf(err, errsz, WM_ERR_PARSE,
                             "%s: duplicate key '%s' in [%s] (first set at line %d)", where, key,
                             cur->name, seen_line[slot]);
                break;
            }
            seen_line[slot] = lineno;
        }
        rc = wm_cfg_set(schema, cfg, cur->name, key, val, where, err, errsz);
    }
    wm_free(seen_line);
    return rc;
}

int wm_cfg_load_string(const WmCfgSchema *schema, void *cfg, const char *text, const char *name,
                       char *err, size_t errsz) {
    return load_text(schema, cfg, text, name, 0, err, errsz);
}

int wm_cfg_load_sections(const WmCfgSchema *schema, void *cfg, const char *text, const char *name,
                         char *err, size_t errsz) {
    return load_text(schema, cfg, text, name, 1, err, errsz);
}

int wm_cfg_load_file(const WmCfgSchema *schema, void *cfg, const char *path, char *err,
                     size_t errsz) {
    char *text;
    size_t len;
    int rc = wm_read_file(path, &text, &len, err, errsz);
    if (rc) return rc;
    if (strlen(text) != len)
        rc = wm_errf(err, errsz, WM_ERR_PARSE, "%s: contains a NUL byte (not a text file)", path);
    else
        rc = wm_cfg_load_string(schema, cfg, text, path, err, errsz);
    wm_free(text);
    return rc;
}

int wm_cfg_override(const WmCfgSchema *schema, void *cfg, const char *assignment, char *err,
                    size_t errsz) {
    char buf[1024], where[1100];
    snprintf(where, sizeof where, "command line '%s'", assignment);
    if (strlen(assignment) >= sizeof buf)
        return wm_errf(err, errsz, WM_ERR_ARG, "command line override too long");
    snprintf(buf, sizeof buf, "%s", assignment);
    char *eq = strchr(buf, '='), *dot = strchr(buf, '.');
    if (!eq || !dot || dot > eq)
        return wm_errf(err, errsz, WM_ERR_ARG, "%s: expected section.key=value", where);
    *eq = 0;
    *dot = 0;
    char *section = trim(buf), *key = trim(dot + 1), *val = trim(eq + 1);
    return wm_cfg_set(schema, cfg, section, key, val, where, err, errsz);
}

void wm_cfg_format_value(const WmCfgField *f, const void *sect, char *out, size_t outsz) {
    const void *src = (const char *)sect + f->offset;
    switch (f->type) {
    case WM_CFG_INT: snprintf(out, outsz, "%d", *(const int *)src); break;
    case WM_CFG_REAL: {
        char t[32];
        wm_fmt_real(t, sizeof t, *(const double *)src);
        snprintf(out, outsz, "%s", t);
        break;
    }
    case WM_CFG_BOOL: snprintf(out, outsz, "%s", *(const int *)src ? "true" : "false"); break;
    case WM_CFG_ENUM: wm_cfg_enum_name(f, *(const int *)src, out, outsz); break;
    case WM_CFG_STR: {
        const char *s = (const char *)src;
        int quote = !*s || isspace((unsigned char)s[0]) || isspace((unsigned char)s[strlen(s) - 1]) ||
                    strchr(s, '#') || strchr(s, ';') || s[0] == '"';
        snprintf(out, outsz, quote ? "\"%s\"" : "%s", s);
        break;
    }
    }
}

void wm_cfg_dump_some(const WmCfgSchema *schema, const void *cfg, WmCfgKeep keep, void *ctx,
                      WmBuf *out) {
    char v[WM_CFG_STR_MAX + 8];
    int written = 0;
    for (int s = 0; s < schema->nsections; s++) {
        const WmCfgSection *sec = &schema->sections[s];
        int header = 0;
        for (int i = 0; i < sec->nfields; i++) {
            if (keep && !keep(sec, &sec->fields[i], cfg, ctx)) continue;
            if (!header) wm_buf_printf(out, "%s[%s]\n", written++ ? "\n" : "", sec->name);
            header = 1;
            wm_cfg_format_value(&sec->fields[i], (const char *)cfg + sec->offset, v, sizeof v);
            wm_buf_printf(out, "%s = %s\n", sec->fields[i].key, v);
        }
    }
}

void wm_cfg_dump(const WmCfgSchema *schema, const void *cfg, WmBuf *out) {
    wm_cfg_dump_some(schema, cfg, NULL, NULL, out);
}

void wm_cfg_describe(const WmCfgSchema *schema, WmBuf *out) {
    for (int s = 0; s < schema->nsections; s++) {
        const WmCfgSection *sec = &schema->sections[s];
        wm_buf_printf(out, "[%s]\n", sec->name);
        for (int i = 0; i < sec->nfields; i++) {
            const WmCfgField *f = &sec->fields[i];
            wm_buf_printf(out, "  %-18s default %-12s ", f->key, f->def[0] ? f->def : "\"\"");
            if (f->type == WM_CFG_INT || f->type == WM_CFG_REAL)
                wm_buf_printf(out, "[%g, %g] ", f->min, f->max);
            else if (f->type == WM_CFG_ENUM)
                wm_buf_printf(out, "{%s} ", f->choices);
            wm_buf_printf(out, "%s\n", f->help ? f->help : "");
        }
    }
}
