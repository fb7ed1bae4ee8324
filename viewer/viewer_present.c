/* Showing the viewer's canvas in its window, screenshots, and the large view of a
 * world that renders a 3D scene (objects3d), drawn on a headless GL context. */
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
#include "viewer/viewer_impl.h"

/* The canvas at the window's size (all panels redrawn). */
void vw_resize(Vw *v, int w, int h) {
    if (v->cv.rgb && v->cv.w == w && v->cv.h == h) return;
    wm_canvas_free(&v->cv);
    wm_canvas_init(&v->cv, w, h, (WmColor){232, 233, 236});
    vw_layout(v);
    for (int p = 0; p < VW_NPANELS; p++)
        v->dirty[p] = 1;
    for (int i = 0; i < ENV_KIND_COUNT; i++)
        v->worlds[i].big_dirty = 1;
}

/* Copies canvas rectangles into the window surface and shows them. The canvas is drawn
 * on the CPU, so only what changed travels to the display; a full-window textured quad
 * costs a software rasteriser more than all the panels together. */
int vw_present(Vw *v, SDL_Window *win, const VwRect *rs, int n, char *err, size_t errsz) {
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

int vw_take_screenshot(Vw *v, const char *path, char *err, size_t errsz) {
    return wm_png_write(path, v->cv.w, v->cv.h, 3, v->cv.rgb, 0, err, errsz);
}

/* The world's 3D view (env_view) at the env panel's size, drawn on a headless context. */
int vw_render_big(Vw *v, VwWorld *w, char *err, size_t errsz) {
    int side = v->r[VW_P_ENV].w < BIG_MAX ? v->r[VW_P_ENV].w : BIG_MAX;
    /* While the object moves, half the side (a quarter of the pixels) keeps the frame
     * rate; the full view follows once the input rests. */
    int moving = wm_now() - w->moved_t < LOD_HOLD;
    if (moving) side /= 2;
    w->big_dirty = moving ? 2 : 0;
    if (!v->gl) {
        RdCtxDesc cd = {.kind = RD_CTX_HEADLESS};
        int rc = rd_ctx_create(&cd, &v->gl, err, errsz);
        if (rc) return wm_err_prefix(err, errsz, rc, "view: ");
    }
    /* one scene per size: making one compiles shaders */
    if (!v->scene[moving] || v->scene_size[moving] != side) {
        rd_scene_destroy(v->scene[moving]);
        RdSceneDesc sd = {.size = side, .batch = 1, .assets = w->desc.env.assets};
        int rc = rd_scene_create(&sd, &v->scene[moving], err, errsz);
        if (rc) return rc;
        v->scene_size[moving] = side;
    }
    if (!w->big) w->big = wm_new(uint8_t, (size_t)BIG_MAX * BIG_MAX * 3);
    w->big_size = side;
    RdView view;
    int rc = env_view(w->env, 0, &view);
    if (rc) return wm_errf(err, errsz, rc, "view: the %s world has no 3D view", env_kind_name(w->kind));
    view.out = w->big;
    return rd_scene_render(v->scene[moving], &view, 1, err, errsz);
}
