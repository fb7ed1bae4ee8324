/* The viewer's window (see viewer.h): the worlds, input and scripted events turned
 * into exact environment steps, and the frame loop. Beside it: viewer_script.c (the
 * event-file parser), viewer_present.c (the canvas shown through SDL's window surface
 * one changed panel at a time, screenshots, the large objects3d view),
 * viewer_report.c (the scripted-mode report), viewer_draw.c (the panels),
 * viewer_learn.c (each world's background trainer and the analysis behind the plots). */
#include <SDL2/SDL.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/png.h"
#include "core/progress.h"
#include "viewer/viewer_impl.h"

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
    env_get_state(w->env, 0, lat);
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
                       env_kind_name(w->kind));
    current_latent(w, w->lat0);
    const char *cls = env_class_name(w->env, w->label);
    snprintf(w->cls, sizeof w->cls, "%s", cls ? cls : "?");
    EnvScene sc;
    if (env_scene(w->env, 0, &sc) == WM_OK) { /* worlds with a scene: an eye over it */
        w->scene = sc.image, w->sal = sc.saliency, w->S = sc.size;
        make_overlay(w);
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
        say(v, "the %s world cannot take that input", env_kind_name(w->kind));
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
    w->family = env_traits(w->kind)->family;
    EnvConfig ec = w->desc.env;
    ec.render_threads = 1; /* one view at a time */
    int rc = env_create(&ec, 1, &w->env, err, errsz);
    if (rc) return rc;
    w->spec = *env_spec(w->env);
    w->has_view = env_view(w->env, 0, NULL) == WM_OK;
    AgentConfig ac = w->desc.agent;
    ac.kind = AG_HUMAN;
    if ((rc = ag_create(&ac, &w->desc.env, &w->spec, 1, &w->human, err, errsz))) return rc;
    /* The config's world starts from --ckpt, so that a trained model is what the plots
     * show from the first frame and what the first step trains (L loads it again later). */
    if ((rc = rv_learner_start(&w->desc, &v->d.model, &v->d.optim, v->d.threads, !v->runtime_done, v->user_paused,
                               i == 0 ? v->d.ckpt : NULL, &w->lr, err, errsz)))
        return rc;
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
    if (vw_world(v)->family != ENV_FAMILY_OBJECT) {
        say(v, "turning needs a world with an object (objects3d; Tab)");
        return;
    }
    if (angle == 0 || (ax == 0 && ay == 0 && az == 0)) return;
    AgEvent ev = {AG_EVENT_ROTATE, {ax, ay, az, angle, 0}};
    world_act(v, &ev);
}

static void move(Vw *v, double dx, double dy, double dz) {
    VwWorld *w = vw_world(v);
    if (w->family != ENV_FAMILY_OBJECT || w->spec.layout.act_trans < 0) {
        say(v, w->family != ENV_FAMILY_OBJECT ? "moving needs a world with an object (objects3d)"
                                              : "moving needs env.translate_actions = true");
        return;
    }
    AgEvent ev = {AG_EVENT_TRANSLATE, {dx, dy, dz, 0, 0}};
    world_act(v, &ev);
}

static void look(Vw *v, int by, double y, double x) {
    if (vw_world(v)->family != ENV_FAMILY_GLIMPSE) {
        say(v, "saccades need a world with an eye (saccade; Tab)");
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
    if (vw_world(v)->family == ENV_FAMILY_GLIMPSE) look(v, 0, fmin(fmax(fy, 0), 1), fmin(fmax(fx, 0), 1));
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
    int next = (v->active + 1) % v->d.n_worlds;
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
    say(v, "%s world", env_kind_name(vw_world(v)->kind));
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
        if (!w->scene) say(v, "the saliency overlay shows in a world with a scene (saccade)");
        break;
    case SDLK_LEFT:
    case SDLK_RIGHT:
    case SDLK_UP:
    case SDLK_DOWN:
        if (w->family == ENV_FAMILY_OBJECT) {
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
        case EV_WAIT:
        case EV_WAIT_PLOTS: {
            RvPlots *p = &v->plots;
            int64_t k = (int64_t)s->v[0];
            int plots = s->kind == EV_WAIT_PLOTS; /* the thresholds the PCA panels draw from */
            rv_learner_fetch(vw_world(v)->lr, p);
            v->plots_ver = 0;
            if (plots ? p->n_z >= 3 && p->n_agg >= 3 : p->step >= k && p->snap_step >= k) break;
            if (!plots && (p->state == RV_DONE || p->state == RV_FAILED))
                return wm_errf(err, errsz, WM_ERR_ARG,
                               "%s:%d: wait_steps %lld: training ended at step %lld%s%s",
                               v->d.script, s->line, (long long)k, (long long)p->step,
                               p->note[0] ? ": " : "", p->note);
            if (*wait_from == 0) *wait_from = wm_now();
            if (wm_now() - *wait_from > WAIT_LIMIT)
                return plots ? wm_errf(err, errsz, WM_ERR_ARG,
                                       "%s:%d: wait_plots timed out after %.0f s (PCA points: z %d, z_AGG %d)",
                                       v->d.script, s->line, WAIT_LIMIT, p->n_z, p->n_agg)
                             : wm_errf(err, errsz, WM_ERR_ARG,
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
    if (d->script && (rc = vw_script_load(d->script, d->frames, &ev, &n_ev, err, errsz))) return rc;
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
        rc = wm_font_load(NULL, 15, &v->font, err, errsz);
        if (!rc) rc = wm_font_load(NULL, 13, &v->small, err, errsz);
        /* Bold where the system has it, else the regular face. */
        if (!rc && wm_font_load("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 14, &v->bold, err, errsz))
            rc = wm_font_load(NULL, 14, &v->bold, err, errsz);
    }
    if (!rc) {
        SDL_Surface *surf = SDL_GetWindowSurface(win);
        if (!surf)
            rc = wm_errf(err, errsz, WM_ERR_GL, "view: no window surface: %s", SDL_GetError());
        else
            vw_resize(v, surf->w, surf->h);
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
                    if (vw_world(v)->family == ENV_FAMILY_OBJECT)
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
        vw_resize(v, surf->w, surf->h);
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
        if (w->has_view &&
            (w->big_dirty == 1 || (w->big_dirty == 2 && now - w->moved_t >= LOD_HOLD))) {
            if ((rc = vw_render_big(v, w, err, errsz))) break;
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
        if ((rc = vw_present(v, win, rects, nr, err, errsz))) break;
        v->phase_s[3] += wm_now() - tp3;
        if (shot) {
            char path[1100], name[64];
            snprintf(name, sizeof name, "view-%03d.png", ++v->shots);
            if (wm_mkdirs(w->desc.train.out, err, errsz) ||
                wm_path_join(path, sizeof path, w->desc.train.out, name) < 0 ||
                vw_take_screenshot(v, path, err, errsz))
                say(v, "S: %s", err);
            else
                say(v, "screenshot %s", path);
        }
        if (last && d->screenshot && (rc = vw_take_screenshot(v, d->screenshot, err, errsz))) break;
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
    WorldEnd ends[ENV_KIND_COUNT];
    memset(ends, 0, sizeof ends);
    for (int i = 0; i < ENV_KIND_COUNT; i++) {
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
                        env_kind_name(w->kind), (long long)ends[i].steps, ends[i].ckpt);
            w->lr = NULL;
        }
    }
    if (!rc && v->scripted && d->screenshot) {
        char path[1100];
        snprintf(path, sizeof path, "%s.json", d->screenshot);
        rc = vw_write_report(v, path, ends, frame_s, n_frame_s, drawn, seconds, err, errsz);
    }
    for (int i = 0; i < ENV_KIND_COUNT; i++)
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
