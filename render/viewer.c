/* The viewer's window (see viewer.h): input and scripted events turned into exact
 * environment steps, the frame loop, the canvas shown through SDL's window surface one
 * changed panel at a time, screenshots and the scripted-mode report. */
#include <SDL2/SDL.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/png.h"
#include "core/progress.h"
#include "envs/objects3d.h"
#include "envs/saccade.h"
#include "render/viewer_impl.h"

#define FRAME_CAP   60.0  /* frames per second at most: the rest of the CPU trains */
#define PLOTS_EVERY 0.2   /* seconds between plot redraws */
#define WAIT_LIMIT  120.0 /* seconds a script's wait_steps may hold */
#define BIG_MAX     640   /* largest side of the objects3d view (llvmpipe cost) */
#define PANEL_EVERY 0.1   /* seconds between redraws of a panel other than the world */
#define LOD_HOLD    0.15  /* the world view is drawn at half size until input rests this long */

/* ---------------------------------------------------------------- script */

typedef enum {
    EV_KEY,
    EV_DRAG,
    EV_CLICK,
    EV_ROTATE,
    EV_TRANSLATE,
    EV_LOOK_AT,
    EV_LOOK_BY,
    EV_WAIT,
    EV_RESIZE
} EvKind;

typedef struct {
    int frame, line;
    EvKind kind;
    double v[4];
    SDL_Keycode key;
    int shift;
} ScriptEvent;

static const struct {
    const char *name;
    EvKind kind;
    int nargs;
} ev_table[] = {
    {"key", EV_KEY, 1},         {"drag", EV_DRAG, 2},           {"click", EV_CLICK, 2},
    {"rotate", EV_ROTATE, 4},   {"translate", EV_TRANSLATE, 3}, {"look_at", EV_LOOK_AT, 2},
    {"look_by", EV_LOOK_BY, 2}, {"wait_steps", EV_WAIT, 1},     {"resize", EV_RESIZE, 2}};

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
static int script_load(const char *path, int frames, ScriptEvent **out, int *count, char *err,
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
                         "look_by, wait_steps, "
                         "resize)",
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

/* ---------------------------------------------------------------- worlds */

static void say(Vw *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(Vw *v, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->msg, sizeof v->msg, fmt, ap);
    va_end(ap);
    v->msg_t = wm_now();
    v->dirty[VW_P_TOP] = 1;
    if (v->scripted) wm_info("view: %s", v->msg);
}

static void world_dirty(Vw *v) {
    v->dirty[VW_P_ENV] = v->dirty[VW_P_STRIP] = v->dirty[VW_P_INFO] = v->dirty[VW_P_PI] = 1;
}

/* Renders the current state at model size into the sequence ring. */
static int observe_append(VwWorld *w, const float *act) {
    int lane = 0, slot = (int)(w->n % VW_HIST);
    EnvObs o = {w->px + (size_t)slot * w->vpx, w->lat + (size_t)slot * (size_t)w->NL, 0, 0};
    int rc = env_observe(w->env, 1, &lane, &o);
    if (rc) return rc;
    if (act)
        memcpy(w->act + (size_t)slot * (size_t)w->A, act, (size_t)w->A * sizeof(float));
    else
        memset(w->act + (size_t)slot * (size_t)w->A, 0, (size_t)w->A * sizeof(float));
    w->label = o.label, w->instance = o.instance;
    w->n++, w->serial++;
    return WM_OK;
}

/* The last min(n, M+1) views, oldest first, to the learner. */
static void push_sequence(VwWorld *w) {
    int k = w->n < w->T ? (int)w->n : w->T;
    uint8_t *px = wm_new(uint8_t, (size_t)k * w->vpx);
    float *act = wm_new(float, (size_t)(k + 1) * (size_t)w->A),
          *lat = wm_new(float, (size_t)k *(size_t)w->NL);
    for (int i = 0; i < k; i++) {
        int age = k - 1 - i;
        memcpy(px + (size_t)i * w->vpx, vw_hist_px(w, age), w->vpx);
        memcpy(lat + (size_t)i * (size_t)w->NL, vw_hist_lat(w, age), (size_t)w->NL * sizeof(float));
        if (i > 0)
            memcpy(act + (size_t)(i - 1) * (size_t)w->A, vw_hist_act(w, age),
                   (size_t)w->A * sizeof(float));
    }
    rv_learner_set_sequence(w->lr, k, w->serial - (uint64_t)k, px, act, lat, w->label);
    wm_free(px), wm_free(act), wm_free(lat);
}

static void current_latent(const VwWorld *w, double *lat) {
    if (w->kind == 0) {
        env_objects3d_get_latent(w->env, 0, lat);
    } else {
        float f[ENV_MAX_DIM];
        env_latent(w->env, 0, f);
        for (int i = 0; i < w->NL; i++)
            lat[i] = f[i];
    }
}

static void make_overlay(VwWorld *w) {
    size_t n = (size_t)w->S * (size_t)w->S;
    w->overlay = wm_realloc(w->overlay, n * 3, 1);
    float mx = 0;
    for (size_t i = 0; i < n; i++)
        mx = w->sal[i] > mx ? w->sal[i] : mx;
    for (size_t i = 0; i < n; i++) {
        WmColor c = wm_colormap(mx > 0 ? w->sal[i] / mx : 0);
        const uint8_t *s = w->scene + 3 * i;
        w->overlay[3 * i] = (uint8_t)((s[0] * 2 + c.r * 3) / 5);
        w->overlay[3 * i + 1] = (uint8_t)((s[1] * 2 + c.g * 3) / 5);
        w->overlay[3 * i + 2] = (uint8_t)((s[2] * 2 + c.b * 3) / 5);
    }
}

static int world_reset(Vw *v, VwWorld *w, char *err, size_t errsz) {
    uint64_t seed = ((uint64_t)w->desc.train.seed << 32) ^
                    (0x5eedULL + 0x9e3779b97f4a7c15ULL * ++w->resets) ^
                    (v->scripted ? 0 : (uint64_t)time(NULL)); /* scripts replay the same objects */
    int rc = env_reset(w->env, 0, seed, ENV_SPLIT_TRAIN, NULL);
    if (!rc) rc = ag_begin(w->human, 0, seed, w->env, 0);
    w->n = 0, w->n_applied = 0;
    if (!rc) rc = observe_append(w, NULL);
    if (rc)
        return wm_errf(err, errsz, rc, "view: the %s world could not start a sequence",
                       w->kind ? "saccade" : "objects3d");
    current_latent(w, w->lat0);
    const char *cls = w->kind == 0 ? env_objects3d_class_name(w->env, w->label)
                                   : env_saccade_class_name(w->env, w->label);
    snprintf(w->cls, sizeof w->cls, "%s", cls ? cls : "?");
    if (w->kind == 1) {
        EnvScene sc;
        if (env_scene(w->env, 0, &sc) == WM_OK) {
            w->scene = sc.image, w->sal = sc.saliency, w->S = sc.size;
            make_overlay(w);
        }
    }
    w->big_dirty = 1;
    push_sequence(w);
    world_dirty(v);
    return WM_OK;
}

/* One human event as one environment step. */
static void world_act(Vw *v, const AgEvent *ev) {
    VwWorld *w = vw_world(v);
    int rc = ag_human_push(w->human, 0, ev);
    if (rc) {
        say(v, "the %s world cannot take that input", w->kind ? "saccade" : "objects3d");
        return;
    }
    float act[ENV_MAX_DIM];
    rc = ag_step(w->human, 0, w->env, act);
    if (!rc) rc = observe_append(w, act);
    if (rc) {
        say(v, "the world refused the step (%s)", wm_status_name(rc));
        return;
    }
    if (w->n_applied == w->cap_applied)
        w->applied = wm_realloc(
            w->applied,
            (size_t)(w->cap_applied = w->cap_applied ? 2 * w->cap_applied : 256) * (size_t)w->A,
            sizeof(float));
    memcpy(w->applied + (size_t)w->n_applied++ * (size_t)w->A, act, (size_t)w->A * sizeof(float));
    w->big_dirty = 1, w->moved_t = wm_now();
    push_sequence(w);
    world_dirty(v);
}

static int world_make(Vw *v, int i, char *err, size_t errsz) {
    VwWorld *w = &v->worlds[i];
    memset(w, 0, sizeof *w);
    w->desc = v->d.worlds[i];
    w->kind = w->desc.env.kind;
    EnvConfig ec = w->desc.env;
    ec.render_threads = 1; /* one view at a time */
    w->env = env_create(&ec, 1, err, errsz);
    if (!w->env) return WM_ERR_ARG;
    w->spec = *env_spec(w->env);
    AgentConfig ac = w->desc.agent;
    ac.kind = AG_HUMAN;
    w->human = ag_create(&ac, &w->desc.env, &w->spec, 1, err, errsz);
    if (!w->human) return WM_ERR_ARG;
    w->lr = rv_learner_start(&w->desc, &v->d.model, &v->d.optim, v->d.threads, !v->runtime_done,
                             v->user_paused, err, errsz);
    if (!w->lr) return WM_ERR_ARG;
    v->runtime_done = 1;
    w->T = w->desc.train.m_train + 1, w->A = w->spec.action_dim, w->NL = w->spec.latent_dim;
    w->vpx = (size_t)w->spec.height * (size_t)w->spec.width * 3;
    w->px = wm_new(uint8_t, VW_HIST * w->vpx);
    w->act = wm_new(float, VW_HIST *(size_t)w->A), w->lat = wm_new(float, VW_HIST *(size_t)w->NL);
    w->made = 1;
    return world_reset(v, w, err, errsz);
}

static void world_free(VwWorld *w) {
    ag_destroy(w->human);
    env_destroy(w->env);
    wm_free(w->px), wm_free(w->act), wm_free(w->lat), wm_free(w->applied), wm_free(w->overlay),
        wm_free(w->big);
}

/* ---------------------------------------------------------------- input */

static void turn(Vw *v, double ax, double ay, double az, double angle) {
    if (vw_world(v)->kind != 0) {
        say(v, "turning needs the objects3d world (Tab)");
        return;
    }
    if (angle == 0 || (ax == 0 && ay == 0 && az == 0)) return;
    AgEvent ev = {AG_EVENT_ROTATE, {ax, ay, az, angle, 0}};
    world_act(v, &ev);
}

static void move(Vw *v, double dx, double dy, double dz) {
    VwWorld *w = vw_world(v);
    if (w->kind != 0 || !w->desc.env.translate_actions) {
        say(v, w->kind ? "moving needs the objects3d world"
                       : "moving needs env.translate_actions = true");
        return;
    }
    AgEvent ev = {AG_EVENT_TRANSLATE, {dx, dy, dz, 0, 0}};
    world_act(v, &ev);
}

static void look(Vw *v, int by, double y, double x) {
    if (vw_world(v)->kind != 1) {
        say(v, "saccades need the saccade world (Tab)");
        return;
    }
    AgEvent ev = {by ? AG_EVENT_LOOK_BY : AG_EVENT_LOOK_AT, {y, x, 0, 0, 0}};
    world_act(v, &ev);
}

/* A drag of (fx, fy) env-panel sides. */
static void drag(Vw *v, double fx, double fy) {
    double n = hypot(fx, fy);
    if (n > 0) turn(v, fy / n, fx / n, 0, M_PI * n);
}

static void click(Vw *v, double fx, double fy) {
    if (vw_world(v)->kind == 1) look(v, 0, fmin(fmax(fy, 0), 1), fmin(fmax(fx, 0), 1));
}

static int set_paused(Vw *v, int paused) {
    v->user_paused = paused;
    rv_learner_set_paused(vw_world(v)->lr, paused);
    say(v, paused ? "training paused (space resumes)" : "training resumed");
    return 0;
}

static void switch_world(Vw *v, char *err, size_t errsz) {
    if (v->d.n_worlds < 2) {
        say(v, "only one world in this session");
        return;
    }
    int next = 1 - v->active;
    rv_learner_set_paused(vw_world(v)->lr, 1);
    if (!v->worlds[next].made && world_make(v, next, err, errsz)) {
        say(v, "Tab: %s", err);
        if (v->worlds[next].lr) rv_learner_stop(v->worlds[next].lr, NULL, 0);
        world_free(&v->worlds[next]);
        memset(&v->worlds[next], 0, sizeof v->worlds[next]);
        rv_learner_set_paused(vw_world(v)->lr, v->user_paused);
        return;
    }
    v->active = next;
    rv_learner_set_paused(vw_world(v)->lr, v->user_paused);
    v->plots_ver = 0;
    for (int p = 0; p < VW_NPANELS; p++)
        v->dirty[p] = 1;
    say(v, "%s world", vw_world(v)->kind ? "saccade" : "objects3d");
}

/* Keys from the person or a script. */
static void on_key(Vw *v, SDL_Keycode k, int shift, int *quit, int *shot) {
    char err[512];
    VwWorld *w = vw_world(v);
    double turn_by = RD_VIEWER_KEY_TURN, mv = RD_VIEWER_KEY_MOVE, lk = RD_VIEWER_KEY_LOOK;
    if (shift && (k == SDLK_w || k == SDLK_a || k == SDLK_s || k == SDLK_d)) {
        move(v,
             k == SDLK_d   ? mv
             : k == SDLK_a ? -mv
                           : 0,
             k == SDLK_w   ? mv
             : k == SDLK_s ? -mv
                           : 0,
             0);
        return;
    }
    switch (k) {
    case SDLK_ESCAPE:
        *quit = 1;
        break;
    case SDLK_SPACE:
        set_paused(v, !v->user_paused);
        break;
    case SDLK_r:
        if (world_reset(v, w, err, sizeof err))
            say(v, "%s", err);
        else
            say(v, "new sequence: %s %d", w->cls, w->instance);
        break;
    case SDLK_TAB:
        switch_world(v, err, sizeof err);
        break;
    case SDLK_l:
        if (!v->d.ckpt)
            say(v, "L loads the checkpoint given with --ckpt; none was given");
        else
            rv_learner_load(w->lr, v->d.ckpt), say(v, "loading %s", v->d.ckpt);
        break;
    case SDLK_s:
        *shot = 1;
        break;
    case SDLK_h:
        v->show_help = !v->show_help, v->dirty[VW_P_ENV] = 1;
        break;
    case SDLK_o:
        v->show_saliency = !v->show_saliency, v->dirty[VW_P_ENV] = 1;
        if (w->kind != 1) say(v, "the saliency overlay shows in the saccade world");
        break;
    case SDLK_LEFT:
    case SDLK_RIGHT:
    case SDLK_UP:
    case SDLK_DOWN:
        if (w->kind == 0) {
            if (k == SDLK_LEFT || k == SDLK_RIGHT)
                turn(v, 0, 1, 0, k == SDLK_RIGHT ? turn_by : -turn_by);
            else
                turn(v, 1, 0, 0, k == SDLK_DOWN ? turn_by : -turn_by);
        } else {
            look(v, 1,
                 k == SDLK_DOWN ? lk
                 : k == SDLK_UP ? -lk
                                : 0,
                 k == SDLK_RIGHT  ? lk
                 : k == SDLK_LEFT ? -lk
                                  : 0);
        }
        break;
    case SDLK_q:
        turn(v, 0, 0, 1, turn_by);
        break;
    case SDLK_e:
        turn(v, 0, 0, 1, -turn_by);
        break;
    case SDLK_w:
    case SDLK_a:
    case SDLK_d:
        say(v, "Shift + W/A/S/D moves the object (S alone takes a screenshot)");
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------- presenting */

/* The canvas at the window's size (all panels redrawn). */
static void resize(Vw *v, int w, int h) {
    if (v->cv.rgb && v->cv.w == w && v->cv.h == h) return;
    wm_canvas_free(&v->cv);
    wm_canvas_init(&v->cv, w, h, (WmColor){232, 233, 236});
    vw_layout(v);
    for (int p = 0; p < VW_NPANELS; p++)
        v->dirty[p] = 1;
    for (int i = 0; i < 2; i++)
        v->worlds[i].big_dirty = 1;
}

/* Copies canvas rectangles into the window surface and shows them. The canvas is drawn
 * on the CPU, so only what changed travels to the display; a full-window textured quad
 * costs a software rasteriser more than all the panels together. */
static int present(Vw *v, SDL_Window *win, const VwRect *rs, int n, char *err, size_t errsz) {
    SDL_Surface *surf = SDL_GetWindowSurface(win);
    if (!surf) return wm_errf(err, errsz, WM_ERR_GL, "view: no window surface: %s", SDL_GetError());
    SDL_Rect rects[VW_NPANELS + 1];
    int m = 0;
    for (int i = 0; i < n && m < VW_NPANELS + 1; i++) {
        VwRect r = rs[i];
        if (r.x < 0) r.w += r.x, r.x = 0;
        if (r.y < 0) r.h += r.y, r.y = 0;
        if (r.x + r.w > v->cv.w) r.w = v->cv.w - r.x;
        if (r.y + r.h > v->cv.h) r.h = v->cv.h - r.y;
        if (r.x + r.w > surf->w) r.w = surf->w - r.x;
        if (r.y + r.h > surf->h) r.h = surf->h - r.y;
        if (r.w <= 0 || r.h <= 0) continue;
        const SDL_PixelFormat *f = surf->format;
        const uint8_t *src = v->cv.rgb + ((size_t)r.y * (size_t)v->cv.w + (size_t)r.x) * 3;
        if (SDL_MUSTLOCK(surf)) SDL_LockSurface(surf);
        uint8_t *dst = (uint8_t *)surf->pixels + (size_t)r.y * (size_t)surf->pitch +
                       (size_t)r.x * f->BytesPerPixel;
        int crc = 0;
        if (f->BytesPerPixel == 4) {
            /* the usual window format, by hand: SDL's general converter is slow from 24-bit RGB */
            for (int y = 0; y < r.h; y++) {
                const uint8_t *s = src + (size_t)y * (size_t)v->cv.w * 3;
                uint32_t *d32 = (uint32_t *)(dst + (size_t)y * (size_t)surf->pitch);
                for (int x = 0; x < r.w; x++, s += 3)
                    d32[x] = ((uint32_t)s[0] << f->Rshift) | ((uint32_t)s[1] << f->Gshift) |
                             ((uint32_t)s[2] << f->Bshift) | f->Amask;
            }
        } else {
            crc = SDL_ConvertPixels(r.w, r.h, SDL_PIXELFORMAT_RGB24, src, v->cv.w * 3, f->format,
                                    dst, surf->pitch);
        }
        if (SDL_MUSTLOCK(surf)) SDL_UnlockSurface(surf);
        if (crc)
            return wm_errf(err, errsz, WM_ERR_GL, "view: cannot fill the window surface: %s",
                           SDL_GetError());
        rects[m++] = (SDL_Rect){r.x, r.y, r.w, r.h};
    }
    if (m && SDL_UpdateWindowSurfaceRects(win, rects, m))
        return wm_errf(err, errsz, WM_ERR_GL, "view: cannot update the window: %s", SDL_GetError());
    return WM_OK;
}

static int take_screenshot(Vw *v, const char *path, char *err, size_t errsz) {
    return wm_png_write(path, v->cv.w, v->cv.h, 3, v->cv.rgb, 0, err, errsz);
}

/* The objects3d view at the env panel's size, drawn on a headless context. */
static int render_big(Vw *v, VwWorld *w, char *err, size_t errsz) {
    int side = v->r[VW_P_ENV].w < BIG_MAX ? v->r[VW_P_ENV].w : BIG_MAX;
    /* While the object moves, half the side (a quarter of the pixels) keeps the frame
     * rate; the full view follows once the input rests. */
    int moving = wm_now() - w->moved_t < LOD_HOLD;
    if (moving) side /= 2;
    w->big_dirty = moving ? 2 : 0;
    if (!v->gl) {
        RdCtxDesc cd = {.kind = RD_CTX_HEADLESS};
        v->gl = rd_ctx_create(&cd, err, errsz);
        if (!v->gl) return wm_err_prefix(err, errsz, WM_ERR_GL, "view: ");
    }
    /* one scene per size: making one compiles shaders */
    if (!v->scene[moving] || v->scene_size[moving] != side) {
        rd_scene_destroy(v->scene[moving]);
        RdSceneDesc sd = {.size = side, .batch = 1, .assets = w->desc.env.assets};
        v->scene[moving] = rd_scene_create(&sd, err, errsz);
        if (!v->scene[moving]) return WM_ERR_GL;
        v->scene_size[moving] = side;
    }
    if (!w->big) w->big = wm_new(uint8_t, (size_t)BIG_MAX * BIG_MAX * 3);
    w->big_size = side;
    RdView view;
    env_objects3d_view(w->env, 0, &view);
    view.out = w->big;
    return rd_scene_render(v->scene[moving], &view, 1, err, errsz);
}

/* ---------------------------------------------------------------- report */

static void json_doubles(WmBuf *b, const double *x, int n) {
    wm_buf_puts(b, "[");
    for (int i = 0; i < n; i++)
        wm_buf_printf(b, "%s%.17g", i ? ", " : "", x[i]);
    wm_buf_puts(b, "]");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    int64_t steps;
    char note[320];
    int mixed;
    char ckpt[1100];
    double lat_end[ENV_MAX_DIM];
} WorldEnd;

static int write_report(Vw *v, const char *path, const WorldEnd *ends, double *frame_s, int nframes,
                        int frames_drawn, double seconds, char *err, size_t errsz) {
    WmBuf b = {0};
    /* steady state: after the first 2 s (worlds made, shaders compiled) */
    int skip = 0;
    for (double t = 0; skip < nframes && t < 2.0; skip++)
        t += frame_s[skip];
    int ns = nframes - skip;
    double *steady = frame_s + skip, ssum = 0;
    qsort(steady, (size_t)ns, sizeof *steady, cmp_double);
    int sslow = 0;
    for (int i = 0; i < ns; i++)
        ssum += steady[i], sslow += steady[i] > 1.0 / 30;
#define SPCT(p) (ns ? 1000 * steady[(int)((ns - 1) * (p))] : 0)
    wm_buf_printf(&b,
                  "{\n  \"steady\": {\"frames\": %d, \"fps\": %.2f, \"p50_ms\": %.2f, \"p95_ms\": "
                  "%.2f, \"p99_ms\": %.2f, "
                  "\"max_ms\": %.2f, \"over_33ms\": %d},\n",
                  ns, ssum > 0 ? ns / ssum : 0, SPCT(0.5), SPCT(0.95), SPCT(0.99), SPCT(1.0),
                  sslow);
#undef SPCT
    qsort(frame_s, (size_t)nframes, sizeof *frame_s, cmp_double);
    double sum = 0;
    int slow = 0;
    for (int i = 0; i < nframes; i++)
        sum += frame_s[i], slow += frame_s[i] > 1.0 / 30;
#define PCT(p) (nframes ? 1000 * frame_s[(int)((nframes - 1) * (p))] : 0)
    wm_buf_printf(&b, "  \"frames\": %d,\n  \"frames_drawn\": %d,\n  \"seconds\": %.3f,\n",
                  v->d.frames, frames_drawn, seconds);
    wm_buf_printf(&b,
                  "  \"fps_mean\": %.2f,\n  \"frame_ms\": {\"p50\": %.2f, \"p95\": %.2f, \"p99\": "
                  "%.2f, \"max\": %.2f},\n",
                  sum > 0 ? nframes / sum : 0, PCT(0.5), PCT(0.95), PCT(0.99), PCT(1.0));
#undef PCT
    double per = frames_drawn > 0 ? 1000.0 / frames_drawn : 0;
    wm_buf_printf(&b,
                  "  \"window_ms\": {\"input\": %.2f, \"world_view\": %.2f, \"panels\": %.2f, "
                  "\"present\": %.2f},\n",
                  v->phase_s[0] * per, v->phase_s[1] * per, v->phase_s[2] * per,
                  v->phase_s[3] * per);
    wm_buf_printf(&b, "  \"frames_over_33ms\": %d,\n  \"frame_cap\": %.0f,\n  \"threads\": %d,\n",
                  slow, FRAME_CAP, v->d.threads);
    wm_buf_puts(&b, "  \"video_driver\": ");
    wm_buf_json_str(&b, v->video_driver);
    wm_buf_puts(&b, ",\n  \"renderer\": ");
    wm_buf_json_str(&b, v->gl ? rd_ctx_renderer(v->gl) : "");
    wm_buf_printf(&b, ",\n  \"window\": [%d, %d],\n  \"world\": \"%s\",\n  \"worlds\": [", v->cv.w,
                  v->cv.h, vw_world(v)->kind ? "saccade" : "objects3d");
    int first = 1;
    for (int i = 0; i < 2; i++) {
        VwWorld *w = &v->worlds[i];
        if (!w->made) continue;
        wm_buf_printf(&b,
                      "%s\n    {\"kind\": \"%s\", \"resets\": %llu, \"views\": %lld, \"class\": "
                      "%d, \"instance\": %d,\n",
                      first ? "" : ",", w->kind ? "saccade" : "objects3d",
                      (unsigned long long)w->resets, (long long)w->n, w->label, w->instance);
        first = 0;
        wm_buf_puts(&b, "     \"latent_start\": ");
        json_doubles(&b, w->lat0, w->NL);
        wm_buf_puts(&b, ",\n     \"latent_end\": ");
        json_doubles(&b, ends[i].lat_end, w->NL);
        wm_buf_puts(&b, ",\n     \"actions\": [");
        for (int k = 0; k < w->n_applied; k++) {
            double a[ENV_MAX_DIM];
            for (int j = 0; j < w->A; j++)
                a[j] = w->applied[(size_t)k * (size_t)w->A + (size_t)j];
            wm_buf_puts(&b, k ? ", " : "");
            json_doubles(&b, a, w->A);
        }
        wm_buf_printf(
            &b, "],\n     \"train_steps\": %lld,\n     \"sequences_mixed\": %d,\n     \"note\": ",
            (long long)ends[i].steps, ends[i].mixed);
        wm_buf_json_str(&b, ends[i].note);
        wm_buf_puts(&b, ",\n     \"checkpoint\": ");
        wm_buf_json_str(&b, ends[i].ckpt);
        wm_buf_puts(&b, "}");
    }
    wm_buf_puts(&b, "\n  ],\n  \"panels\": [");
    for (int p = 0; p < VW_NPANELS; p++)
        wm_buf_printf(
            &b,
            "%s\n    {\"name\": \"%s\", \"x\": %d, \"y\": %d, \"w\": %d, \"h\": %d, \"items\": %d}",
            p ? "," : "", vw_panel_names[p], v->r[p].x, v->r[p].y, v->r[p].w, v->r[p].h,
            v->items[p]);
    wm_buf_puts(&b, "\n  ]\n}\n");
    int rc = wm_write_file_atomic(path, b.data, b.len, err, errsz);
    wm_buf_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- the loop */

/* Runs the scripted events of the current frame; sets *waiting while a wait_steps
 * holds the script. */
static int run_events(Vw *v, SDL_Window *win, ScriptEvent *ev, int n_ev, int *next, int frame,
                      int *waiting, double *wait_from, int *quit, int *shot, char *err,
                      size_t errsz) {
    while (*next < n_ev && ev[*next].frame == frame) {
        ScriptEvent *s = &ev[*next];
        switch (s->kind) {
        case EV_KEY:
            on_key(v, s->key, s->shift, quit, shot);
            break;
        case EV_DRAG:
            drag(v, s->v[0], s->v[1]);
            break;
        case EV_CLICK:
            click(v, s->v[0], s->v[1]);
            break;
        case EV_ROTATE:
            turn(v, s->v[0], s->v[1], s->v[2], s->v[3]);
            break;
        case EV_TRANSLATE:
            move(v, s->v[0], s->v[1], s->v[2]);
            break;
        case EV_LOOK_AT:
            look(v, 0, s->v[0], s->v[1]);
            break;
        case EV_LOOK_BY:
            look(v, 1, s->v[0], s->v[1]);
            break;
        case EV_RESIZE:
            SDL_SetWindowSize(win, (int)s->v[0], (int)s->v[1]);
            break;
        case EV_WAIT: {
            RvPlots *p = &v->plots;
            int64_t k = (int64_t)s->v[0];
            rv_learner_fetch(vw_world(v)->lr, p);
            v->plots_ver = 0;
            if (p->step >= k && p->snap_step >= k) break;
            if (p->state == RV_DONE || p->state == RV_FAILED)
                return wm_errf(err, errsz, WM_ERR_ARG,
                               "%s:%d: wait_steps %lld: training ended at step %lld%s%s",
                               v->d.script, s->line, (long long)k, (long long)p->step,
                               p->note[0] ? ": " : "", p->note);
            if (*wait_from == 0) *wait_from = wm_now();
            if (wm_now() - *wait_from > WAIT_LIMIT)
                return wm_errf(err, errsz, WM_ERR_ARG,
                               "%s:%d: wait_steps %lld timed out after %.0f s (training at step "
                               "%lld, plots at %lld)",
                               v->d.script, s->line, (long long)k, WAIT_LIMIT, (long long)p->step,
                               (long long)p->snap_step);
            *waiting = 1;
            return WM_OK;
        }
        }
        *wait_from = 0;
        ++*next;
    }
    *waiting = 0;
    return WM_OK;
}

int rd_viewer_run(const RdViewerDesc *d, char *err, size_t errsz) {
    static Vw vw;
    Vw *v = &vw;
    memset(v, 0, sizeof *v);
    v->d = *d;
    v->clip_y = 1 << 30;
    v->scripted = d->frames > 0;
    v->user_paused = d->paused;
    if (v->d.threads < 1) v->d.threads = 1;
    ScriptEvent *ev = NULL;
    int n_ev = 0, rc = WM_OK;
    if (d->script && (rc = script_load(d->script, d->frames, &ev, &n_ev, err, errsz))) return rc;
    if (!getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY") && !getenv("SDL_VIDEODRIVER")) {
        if (!v->scripted) {
            wm_free(ev);
            return wm_errf(err, errsz, WM_ERR_GL,
                           "view: no display (DISPLAY is not set); run it on a desktop, under "
                           "xvfb-run, or in scripted mode "
                           "(--frames N)");
        }
        setenv("SDL_VIDEODRIVER", "offscreen", 0);
    }
    /* SDL would otherwise show the window surface through a GLX renderer, and a thread
     * cannot hold a GLX and an EGL context at once (the objects3d view is EGL). */
    SDL_SetHint(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0");
    if (SDL_InitSubSystem(SDL_INIT_VIDEO)) {
        wm_free(ev);
        return wm_errf(err, errsz, WM_ERR_GL, "view: SDL could not start video: %s",
                       SDL_GetError());
    }
    SDL_Window *win = SDL_CreateWindow("seqjepa view", SDL_WINDOWPOS_CENTERED,
                                       SDL_WINDOWPOS_CENTERED, d->width > 0 ? d->width : 1280,
                                       d->height > 0 ? d->height : 800, SDL_WINDOW_RESIZABLE);
    if (!win)
        rc =
            wm_errf(err, errsz, WM_ERR_GL, "view: SDL could not open a window: %s", SDL_GetError());
    const char *drv = SDL_GetCurrentVideoDriver();
    snprintf(v->video_driver, sizeof v->video_driver, "%s", drv ? drv : "");
    if (!rc) {
        v->font = wm_font_load(NULL, 15, err, errsz);
        v->small = v->font ? wm_font_load(NULL, 13, err, errsz) : NULL;
        v->bold = v->small ? wm_font_load("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                                          14, err, errsz)
                           : NULL;
        if (!v->bold && v->small) v->bold = wm_font_load(NULL, 14, err, errsz);
        if (!v->bold) rc = WM_ERR_IO;
    }
    if (!rc) {
        SDL_Surface *surf = SDL_GetWindowSurface(win);
        if (!surf)
            rc = wm_errf(err, errsz, WM_ERR_GL, "view: no window surface: %s", SDL_GetError());
        else
            resize(v, surf->w, surf->h);
    }
    if (!rc) rc = world_make(v, 0, err, errsz);
    int quit = 0, frame = 0, drawn = 0, next_ev = 0, dragging = 0, exposed = 1;
    double drag_x = 0, drag_y = 0, t_start = wm_now(), t_prev = t_start, wait_from = 0, top_t = 0;
    double *frame_s = NULL, fps_acc = 0;
    int fps_n = 0, n_frame_s = 0, cap_frame_s = 0;
    while (!rc && !quit) {
        double t0 = wm_now();
        int shot = 0, waiting = 0;
        /* window events: from the person, or only quit/resize/expose in scripted mode */
        SDL_Event e;
        while (SDL_PollEvent(&e)) {
            if (e.type == SDL_QUIT ||
                (e.type == SDL_WINDOWEVENT && e.window.event == SDL_WINDOWEVENT_CLOSE))
                quit = 1;
            if (e.type == SDL_WINDOWEVENT && e.window.event == SDL_WINDOWEVENT_EXPOSED) exposed = 1;
            if (v->scripted) continue;
            VwRect er = v->r[VW_P_ENV];
            if (e.type == SDL_KEYDOWN) {
                on_key(v, e.key.keysym.sym, (e.key.keysym.mod & KMOD_SHIFT) != 0, &quit, &shot);
            } else if (e.type == SDL_MOUSEBUTTONDOWN && e.button.button == SDL_BUTTON_LEFT) {
                int mx = e.button.x, my = e.button.y;
                if (mx >= er.x && mx < er.x + er.w && my >= er.y && my < er.y + er.h) {
                    if (vw_world(v)->kind == 0)
                        dragging = 1;
                    else
                        click(v, (mx - er.x + 0.5) / er.w, (my - er.y + 0.5) / er.h);
                }
            } else if (e.type == SDL_MOUSEBUTTONUP && e.button.button == SDL_BUTTON_LEFT) {
                dragging = 0;
            } else if (e.type == SDL_MOUSEMOTION && dragging) {
                drag_x += e.motion.xrel, drag_y += e.motion.yrel;
            }
        }
        /* one drag step per frame at most: each is one environment step */
        if (drag_x != 0 || drag_y != 0) {
            drag(v, drag_x / v->r[VW_P_ENV].w, drag_y / v->r[VW_P_ENV].h);
            drag_x = drag_y = 0;
        }
        if (v->scripted && (rc = run_events(v, win, ev, n_ev, &next_ev, frame, &waiting, &wait_from,
                                            &quit, &shot, err, errsz)))
            break;
        double tp1 = wm_now();
        v->phase_s[0] += tp1 - t0;
        VwWorld *w = vw_world(v);
        SDL_Surface *surf = SDL_GetWindowSurface(win);
        if (!surf) {
            rc = wm_errf(err, errsz, WM_ERR_GL, "view: no window surface: %s", SDL_GetError());
            break;
        }
        resize(v, surf->w, surf->h);
        int last = v->scripted && frame == d->frames - 1 && !waiting;
        uint64_t ver = rv_learner_version(w->lr);
        double now = wm_now();
        if (ver != v->plots_ver && (now - v->plots_t >= PLOTS_EVERY || last)) {
            rv_learner_fetch(w->lr, &v->plots);
            v->plots_ver = ver, v->plots_t = now;
            for (int p = VW_P_LOSS; p <= VW_P_INFO; p++)
                v->dirty[p] = 1;
            v->dirty[VW_P_STRIP] = v->dirty[VW_P_TOP] = 1;
        }
        if (v->msg[0] && now - v->msg_t > 5) v->msg[0] = 0, v->dirty[VW_P_TOP] = 1;
        if (now - top_t > 0.5) v->dirty[VW_P_TOP] = 1, top_t = now;
        if (w->kind == 0 &&
            (w->big_dirty == 1 || (w->big_dirty == 2 && now - w->moved_t >= LOD_HOLD))) {
            if ((rc = render_big(v, w, err, errsz))) break;
            v->dirty[VW_P_ENV] = 1;
        }
        double tp2 = wm_now();
        v->phase_s[1] += tp2 - tp1;
        VwRect rects[VW_NPANELS + 1];
        int nr = 0;
        if (v->dirty[VW_P_TOP] && v->dirty[VW_P_ENV] && v->dirty[VW_P_LOSS])
            vw_clear(v), exposed = 1;
        for (int p = 0; p < VW_NPANELS; p++)
            if (v->dirty[p] &&
                (p == VW_P_ENV || last || exposed || now - v->drawn_t[p] >= PANEL_EVERY)) {
                v->drawn_t[p] = now;
                vw_draw_panel(v, p);
                rects[nr++] = v->r[p];
                v->dirty[p] = 0;
            }
        if (exposed) nr = 1, rects[0] = (VwRect){0, 0, v->cv.w, v->cv.h}, exposed = 0;
        double tp3 = wm_now();
        v->phase_s[2] += tp3 - tp2;
        if ((rc = present(v, win, rects, nr, err, errsz))) break;
        v->phase_s[3] += wm_now() - tp3;
        if (shot) {
            char path[1100], name[64];
            snprintf(name, sizeof name, "view-%03d.png", ++v->shots);
            if (wm_mkdirs(w->desc.train.out, err, errsz) ||
                wm_path_join(path, sizeof path, w->desc.train.out, name) < 0 ||
                take_screenshot(v, path, err, errsz))
                say(v, "S: %s", err);
            else
                say(v, "screenshot %s", path);
        }
        if (last && d->screenshot && (rc = take_screenshot(v, d->screenshot, err, errsz))) break;
        drawn++;
        /* frame time: from one frame's start to the next, the cap's sleep included */
        double left = 1.0 / FRAME_CAP - (wm_now() - t0);
        if (left > 0) SDL_Delay((Uint32)(left * 1000));
        double t2 = wm_now(), dt = t2 - t_prev;
        t_prev = t2;
        fps_acc += dt, fps_n++;
        if (fps_acc >= 0.5) v->fps = fps_n / fps_acc, fps_acc = 0, fps_n = 0;
        if (v->scripted) {
            if (n_frame_s == cap_frame_s)
                frame_s = wm_realloc(frame_s,
                                     (size_t)(cap_frame_s = cap_frame_s ? 2 * cap_frame_s : 1024),
                                     sizeof *frame_s);
            frame_s[n_frame_s++] = dt;
            if (!waiting && ++frame >= d->frames) quit = 1;
        }
    }
    double seconds = wm_now() - t_start;
    /* Stop the trainers (each saves a checkpoint when it trained), then report. */
    WorldEnd ends[2];
    memset(ends, 0, sizeof ends);
    for (int i = 0; i < 2; i++) {
        VwWorld *w = &v->worlds[i];
        if (w->env) current_latent(w, ends[i].lat_end);
        if (w->lr) {
            RvPlots last = {0};
            rv_learner_fetch(w->lr, &last);
            snprintf(ends[i].note, sizeof ends[i].note, "%s", last.note);
            ends[i].mixed = last.mixed;
            rv_plots_free(&last);
            ends[i].steps = rv_learner_stop(w->lr, ends[i].ckpt, sizeof ends[i].ckpt);
            if (ends[i].ckpt[0])
                wm_info("view: %s checkpoint after %lld steps: %s",
                        w->kind ? "saccade" : "objects3d", (long long)ends[i].steps, ends[i].ckpt);
            w->lr = NULL;
        }
    }
    if (!rc && v->scripted && d->screenshot) {
        char path[1100];
        snprintf(path, sizeof path, "%s.json", d->screenshot);
        rc = write_report(v, path, ends, frame_s, n_frame_s, drawn, seconds, err, errsz);
    }
    for (int i = 0; i < 2; i++)
        world_free(&v->worlds[i]);
    rv_plots_free(&v->plots);
    rd_scene_destroy(v->scene[0]);
    rd_scene_destroy(v->scene[1]);
    rd_ctx_destroy(v->gl);
    wm_canvas_free(&v->cv);
    wm_font_free(v->font), wm_font_free(v->small), wm_font_free(v->bold);
    if (win) SDL_DestroyWindow(win);
    SDL_QuitSubSystem(SDL_INIT_VIDEO);
    wm_free(frame_s);
    wm_free(ev);
    return rc;
}
