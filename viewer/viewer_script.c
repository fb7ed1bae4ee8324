/* The viewer's event scripts (scripted mode; the format is in viewer.h). */
#include <SDL2/SDL.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/png.h"
#include "envs/objects3d.h"
#include "viewer/viewer_impl.h"

static const struct {
    const char *name;
    EvKind kind;
    int nargs;
} ev_table[] = {
    {"key", EV_KEY, 1},         {"drag", EV_DRAG, 2},           {"click", EV_CLICK, 2},
    {"rotate", EV_ROTATE, 4},   {"translate", EV_TRANSLATE, 3}, {"look_at", EV_LOOK_AT, 2},
    {"look_by", EV_LOOK_BY, 2}, {"wait_steps", EV_WAIT, 1},     {"wait_plots", EV_WAIT_PLOTS, 0},
    {"resize", EV_RESIZE, 2}};

static int parse_num(const char *s, double *out) {
    char *end;
    *out = strtod(s, &end);
    return end != s && !*end && isfinite(*out);
}

static int cmp_event(const void *a, const void *b) {
    const ScriptEvent *x = a, *y = b;
    return x->frame != y->frame ? (x->frame > y->frame) - (x->frame < y->frame)
                                : (x->line > y->line) - (x->line < y->line);
}

/* Reads an event file; errors name the file and line. */
int vw_script_load(const char *path, int frames, ScriptEvent **out, int *count, char *err,
                   size_t errsz) {
    char *text;
    size_t len;
    int rc = wm_read_file(path, &text, &len, err, errsz);
    if (rc) return wm_err_prefix(err, errsz, rc, "script: ");
    ScriptEvent *ev = NULL;
    int n = 0, cap = 0, line = 0;
    for (char *ln = text, *next; ln && *ln && !rc; ln = next) {
        line++;
        next = strchr(ln, '\n');
        if (next) *next++ = 0;
        char *hash = strchr(ln, '#');
        if (hash) *hash = 0;
        char *tok[8], *s2 = NULL;
        int nt = 0;
        for (char *t = strtok_r(ln, " \t\r", &s2); t && nt < 8; t = strtok_r(NULL, " \t\r", &s2))
            tok[nt++] = t;
        if (!nt) continue;
        ScriptEvent e = {.line = line};
        double f;
        if (!parse_num(tok[0], &f) || f != floor(f) || f < 0 || f >= frames) {
            rc =
                wm_errf(err, errsz, WM_ERR_PARSE, "%s:%d: frame '%s' must be an integer in [0, %d)",
                        path, line, tok[0], frames);
            break;
        }
        e.frame = (int)f;
        int k = -1;
        for (int i = 0; nt > 1 && i < (int)(sizeof ev_table / sizeof ev_table[0]); i++)
            if (!strcmp(tok[1], ev_table[i].name)) k = i;
        if (k < 0) {
            rc = wm_errf(err, errsz, WM_ERR_PARSE,
                         "%s:%d: unknown event '%s' (key, drag, click, rotate, translate, look_at, "
                         "look_by, wait_steps, wait_plots, resize)",
                         path, line, nt > 1 ? tok[1] : "");
            break;
        }
        e.kind = ev_table[k].kind;
        if (nt - 2 != ev_table[k].nargs) {
            rc =
                wm_errf(err, errsz, WM_ERR_PARSE, "%s:%d: '%s' takes %d argument%s, got %d", path,
                        line, tok[1], ev_table[k].nargs, ev_table[k].nargs == 1 ? "" : "s", nt - 2);
            break;
        }
        if (e.kind == EV_KEY) {
            const char *name = tok[2];
            if (!strncasecmp(name, "shift+", 6)) e.shift = 1, name += 6;
            e.key = SDL_GetKeyFromName(name);
            if (e.key == SDLK_UNKNOWN) {
                rc = wm_errf(err, errsz, WM_ERR_PARSE,
                             "%s:%d: unknown key '%s' (SDL key names: Tab, Space, R, Left, ...)",
                             path, line, tok[2]);
                break;
            }
        } else {
            for (int i = 0; i < ev_table[k].nargs && !rc; i++)
                if (!parse_num(tok[2 + i], &e.v[i]))
                    rc = wm_errf(err, errsz, WM_ERR_PARSE, "%s:%d: '%s' is not a number", path,
                                 line, tok[2 + i]);
            if (rc) break;
            /* Bounded so that every later conversion to an integer or an angle is defined. */
            for (int i = 0; i < ev_table[k].nargs && !rc; i++)
                if (fabs(e.v[i]) > (e.kind == EV_WAIT ? 1e15 : 1e6))
                    rc = wm_errf(err, errsz, WM_ERR_RANGE, "%s:%d: %s argument '%s' is out of range",
                                 path, line, tok[1], tok[2 + i]);
            if (rc) break;
            if ((e.kind == EV_WAIT && (e.v[0] < 1 || e.v[0] != floor(e.v[0]))) ||
                (e.kind == EV_RESIZE &&
                 (e.v[0] < 200 || e.v[1] < 150 || e.v[0] > 8192 || e.v[1] > 8192))) {
                rc = wm_errf(err, errsz, WM_ERR_RANGE, "%s:%d: %s %s out of range", path, line,
                             tok[1], tok[2]);
                break;
            }
        }
        if (n == cap) ev = wm_realloc(ev, (size_t)(cap = cap ? 2 * cap : 32), sizeof *ev);
        ev[n++] = e;
    }
    wm_free(text);
    if (rc) {
        wm_free(ev);
        return rc;
    }
    if (n) qsort(ev, (size_t)n, sizeof *ev, cmp_event);
    *out = ev, *count = n;
    return WM_OK;
}
