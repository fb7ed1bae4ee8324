/* `seqjepa bench view`: the viewer's frame rate in scripted sessions while it trains,
 * and the cost of two ways to show a CPU frame in a window. Prints figures only. */
#include <SDL2/SDL.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/pool.h"
#include "core/progress.h"
#include "core/rng.h"
#include "render/ctx.h"
#include "run/args.h"
#include "run/runcfg.h"
#include "viewer/viewer.h"

static const char *bench_usage =
    "usage: seqjepa bench view [--frames N] [--present-only]\n\n"
    "Frame rate of the viewer while it trains, in scripted sessions on the quick presets\n"
    "(configs/objects3d-quick.ini, configs/saccade-quick.ini): the object turned by a drag\n"
    "every frame, the window left alone, a saccade every frame; trainer threads as\n"
    "`seqjepa view` picks them and 2. Then the cost of showing a 1280x800 CPU frame through\n"
    "a GL window (rd_ctx_present_rgb, a full-window textured triangle) and through SDL's\n"
    "window surface (what the viewer does, whole or one panel). Uses the display when\n"
    "there is one (DISPLAY), else SDL's offscreen driver. Prints figures only.\n";

typedef struct {
    const char *name, *config, *input;
    int threads; /* 0: as `seqjepa view` picks */
} BenchSession;

static double json_num(const WmJson *o, const char *k) {
    const WmJson *v = o ? wm_json_get(o, k) : NULL;
    return v && v->type == WM_JSON_NUM ? v->num : NAN;
}

static int bench_session(const BenchSession *s, int frames, const char *dir) {
    static RunConfig rc;
    char err[1200], path[1100], shot[1100], over[300];
    snprintf(over, sizeof over, "train.out=%s/%s", dir, s->name);
    char thr[64];
    snprintf(thr, sizeof thr, "train.threads=%d", s->threads);
    char *overs[2] = {over, thr};
    if (run_config_load(&rc, s->config, 2, overs, err, sizeof err)) {
        run_error("bench view", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s/%s.txt", dir, s->name);
    snprintf(shot, sizeof shot, "%s/%s.png", dir, s->name);
    WmBuf sc = {0};
    WmRng r;
    wm_rng_seed(&r, 1, 2);
    for (int f = 0; f < frames; f++) {
        if (!strcmp(s->input, "drag"))
            wm_buf_printf(&sc, "%d drag 0.004 0.0015\n", f);
        else if (!strcmp(s->input, "look"))
            wm_buf_printf(&sc, "%d click %.3f %.3f\n", f, 0.1 + 0.8 * wm_rng_uniform(&r),
                          0.1 + 0.8 * wm_rng_uniform(&r));
    }
    int rc2 = wm_write_file_atomic(path, sc.data ? sc.data : "", sc.len, err, sizeof err);
    wm_buf_free(&sc);
    RdViewerDesc d = {.frames = frames, .script = path, .screenshot = shot};
    RdViewerTexts texts = {0};
    if (!rc2) rc2 = rd_viewer_worlds(&rc, &d, &texts, err, sizeof err);
    if (s->threads == 0) d.threads = rc.pipe.threads > 0 ? rc.pipe.threads : d.threads;
    if (!rc2) rc2 = rd_viewer_run(&d, err, sizeof err);
    rd_viewer_texts_free(&texts);
    if (rc2) {
        fprintf(stderr, "seqjepa bench view: %s: %s\n", s->name, err);
        return 1;
    }
    char jpath[1200], *text;
    size_t len;
    snprintf(jpath, sizeof jpath, "%s.json", shot);
    if (wm_read_file(jpath, &text, &len, err, sizeof err)) {
        run_error("bench view", err);
        return 1;
    }
    WmJson *j = wm_json_parse(text, len, err, sizeof err); /* may point into text */
    if (!j) {
        wm_free(text);
        fprintf(stderr, "seqjepa bench view: %s: %s\n", jpath, err);
        return 1;
    }
    const WmJson *st = wm_json_get(j, "steady"), *w0 = wm_json_at(wm_json_get(j, "worlds"), 0);
    const WmJson *wm = wm_json_get(j, "window_ms"), *drv = wm_json_get(j, "video_driver");
    if (drv && drv->type == WM_JSON_STR && strcmp(drv->str, "x11"))
        printf("(%s: SDL video driver %s)\n", s->name, drv->str);
    double steps = json_num(w0, "train_steps"), secs = json_num(j, "seconds");
    printf("| %-22s | %7d | %5.1f | %5.1f | %5.1f | %6.1f | %5.0f | %4.1f / %4.1f / %4.1f / %4.1f "
           "| %6.1f |\n",
           s->name, d.threads, json_num(st, "fps"), json_num(st, "p50_ms"), json_num(st, "p95_ms"),
           json_num(st, "p99_ms"),
           json_num(st, "over_33ms") * 100 / fmax(json_num(st, "frames"), 1), json_num(wm, "input"),
           json_num(wm, "world_view"), json_num(wm, "panels"), json_num(wm, "present"),
           steps * rc.train.batch / fmax(secs, 1e-9));
    fflush(stdout);
    wm_json_free(j);
    wm_free(text);
    return 0;
}

/* Milliseconds per frame to show a w x h RGB frame: through a GL window context, or
 * through SDL's window surface (all of it, or a panel of it). */
static int bench_present(int w, int h, int frames) {
    char err[512];
    uint8_t *img = wm_new(uint8_t, (size_t)w * (size_t)h * 3);
    for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++)
        img[i] = (uint8_t)(i * 2654435761u >> 24);
    RdCtxDesc cd = {.kind = RD_CTX_WINDOW, .title = "bench", .width = w, .height = h};
    RdCtx *c;
    if (rd_ctx_create(&cd, &c, err, sizeof err) == WM_OK) {
        rd_ctx_present_rgb(c, img, w, h, err, sizeof err);
        rd_ctx_swap(c);
        double t0 = wm_now();
        for (int f = 0; f < frames; f++) {
            img[f % 1000] ^= 1; /* a new frame each time */
            if (rd_ctx_present_rgb(c, img, w, h, err, sizeof err)) break;
            rd_ctx_swap(c);
        }
        double gl_ms = 1000 * (wm_now() - t0) / frames;
        printf("GL window (%s): rd_ctx_present_rgb + swap of %dx%d: %.2f ms per frame\n",
               rd_ctx_renderer(c), w, h, gl_ms);
        fflush(stdout);
        rd_ctx_destroy(c);
    } else {
        printf("GL window: %s\n", err);
    }
    SDL_SetHint(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0");
    if (SDL_InitSubSystem(SDL_INIT_VIDEO) == 0) {
        SDL_Window *win = SDL_CreateWindow("bench", 0, 0, w, h, 0);
        SDL_Surface *s = win ? SDL_GetWindowSurface(win) : NULL;
        if (s && s->format->BytesPerPixel == 4) {
            for (int pass = 0; pass < 2; pass++) {
                int pw = pass ? w * 42 / 100 : w, ph = pass ? pw : h;
                SDL_Rect rect = {pass ? 8 : 0, pass ? 32 : 0, pw, ph};
                if (rect.y + rect.h > s->h) rect.h = s->h - rect.y;
                if (rect.x + rect.w > s->w) rect.w = s->w - rect.x;
                double t0 = wm_now();
                for (int f = 0; f < frames; f++) {
                    img[f % 1000] ^= 1;
                    for (int y = rect.y; y < rect.y + rect.h; y++) {
                        const uint8_t *p = img + ((size_t)y * (size_t)w + (size_t)rect.x) * 3;
                        uint32_t *q =
                            (uint32_t *)((uint8_t *)s->pixels + (size_t)y * (size_t)s->pitch) +
                            rect.x;
                        for (int x = 0; x < rect.w; x++, p += 3)
                            q[x] = ((uint32_t)p[0] << s->format->Rshift) |
                                   ((uint32_t)p[1] << s->format->Gshift) |
                                   ((uint32_t)p[2] << s->format->Bshift);
                    }
                    SDL_UpdateWindowSurfaceRects(win, &rect, 1);
                }
                double ms = 1000 * (wm_now() - t0) / frames;
                printf("SDL window surface (%s): %dx%d region: %.2f ms per frame\n",
                       SDL_GetCurrentVideoDriver(), rect.w, rect.h, ms);
            }
        } else {
            printf("SDL window surface: %s\n", SDL_GetError());
        }
        if (win) SDL_DestroyWindow(win);
        SDL_QuitSubSystem(SDL_INIT_VIDEO);
    }
    wm_free(img);
    return 0;
}

int cli_bench_view(int argc, char **argv) {
    const char *frames_s = NULL, *present_only = NULL;
    RunFlag flags[] = {
        {"--frames", 1, &frames_s}, {"--present-only", 0, &present_only}, {NULL, 0, NULL}};
    RunArgs a;
    int prc = run_args_parse(argc, argv, flags, 0, &a, bench_usage);
    if (prc) return prc < 0 ? 0 : prc;
    int frames = 1200;
    if (frames_s && run_parse_int("bench view", frames_s, "--frames", 300, &frames)) return 2;
    if (!getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY") && !getenv("SDL_VIDEODRIVER"))
        setenv("SDL_VIDEODRIVER", "offscreen", 0);
    const char *drv = getenv("SDL_VIDEODRIVER");
    printf("bench view: %d cores, display %s, %d frames per session (frame cap 60/s)\n\n",
           wm_cpu_count(),
           drv                 ? drv
           : getenv("DISPLAY") ? getenv("DISPLAY")
                               : "?",
           frames);
    int rc = 0;
    if (!present_only) {
        char dir[] = "/tmp/seqjepa-bench-view-XXXXXX";
        if (!mkdtemp(dir)) {
            fprintf(stderr, "seqjepa bench view: cannot make a temporary folder\n");
            return 1;
        }
        static const BenchSession sessions[] = {
            {"objects3d drag", "configs/objects3d-quick.ini", "drag", 0},
            {"objects3d drag", "configs/objects3d-quick.ini", "drag", 2},
            {"objects3d idle", "configs/objects3d-quick.ini", "idle", 0},
            {"saccade click", "configs/saccade-quick.ini", "look", 0},
        };
        printf("steady state (after the first 2 s); window ms per frame: input+steps / world view "
               "/ panels / present\n\n");
        printf("| session                | trainer | fps   | p50   | p95   | p99 ms | >33ms %% | "
               "window ms                 | train seq/s |\n");
        printf("|------------------------|--------:|------:|------:|------:|-------:|--------:|----"
               "-----------------------|-------:|\n");
        fflush(stdout);
        for (size_t i = 0; i < sizeof sessions / sizeof sessions[0]; i++) {
            BenchSession s = sessions[i];
            char name[64];
            snprintf(name, sizeof name, "%s-%zu", s.name, i);
            for (char *p = name; *p; p++)
                if (*p == ' ') *p = '-';
            BenchSession named = s;
            named.name = name;
            if (bench_session(&named, frames, dir)) rc = 1;
        }
        char err[256];
        wm_remove_tree(dir, err, sizeof err);
        printf("\n");
    }
    bench_present(1280, 800, 120);
    return rc;
}
