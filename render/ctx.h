/* OpenGL contexts, shader programs, offscreen targets and screenshots.
 *
 * One RdCtx type covers both places the suite draws: headless (EGL; on a machine
 * without a display Mesa's surfaceless platform with llvmpipe, on a GPU machine the
 * GPU's EGL device) and an SDL2 window for the viewer. Functions are loaded through
 * GLEW once per process; every context asks for OpenGL 3.3 core or newer.
 *
 * A context is current on the thread that created it; rd_ctx_make_current moves it.
 * Software rasterisers share one rasteriser per EGL display, so headless contexts
 * that must run in parallel ask for different `screen`s (see rd_headless_screens). */
#ifndef RD_CTX_H
#define RD_CTX_H

#include <stddef.h>
#include <stdint.h>

typedef struct RdCtx RdCtx;

typedef enum { RD_CTX_HEADLESS = 0, RD_CTX_WINDOW = 1 } RdCtxKind;

/* Zero means default. */
typedef struct {
    RdCtxKind kind;
    int screen;        /* headless: which EGL display (0 .. rd_headless_screens()-1; wraps) */
    const char *title; /* window: title (default "seqjepa") */
    int width, height; /* window: initial size (default 1280 x 800) */
    int resizable;     /* window */
    int vsync;         /* window: 1 = sync to the display */
    int hidden;        /* window: create hidden (tests, screenshots) */
} RdCtxDesc;

/* The largest window side rd_ctx_create accepts. */
#define RD_WINDOW_MAX 16384

/* Makes a context into *out (d NULL: headless on screen 0), or returns why not with
 * the reason in err and *out NULL: WM_ERR_RANGE for a window size outside
 * 0..RD_WINDOW_MAX, WM_ERR_GL when EGL, SDL or OpenGL fail. */
int rd_ctx_create(const RdCtxDesc *d, RdCtx **out, char *err, size_t errsz);
void rd_ctx_destroy(RdCtx *c);
/* Makes c current on the calling thread. */
int rd_ctx_make_current(RdCtx *c, char *err, size_t errsz);
/* Window: shows the back buffer. Headless: no-op. */
void rd_ctx_swap(RdCtx *c);
/* Window: drawable size in pixels (may differ from the window size on HiDPI). */
void rd_ctx_drawable_size(const RdCtx *c, int *w, int *h);
/* The SDL_Window * of a window context (NULL headless), for events. */
void *rd_ctx_window(const RdCtx *c);
/* Draws an RGB image (rows top first) over the whole drawable of a window context,
 * scaled with nearest-neighbour sampling; call rd_ctx_swap to show it. This is how a
 * viewer shows a frame composed on the CPU (core/canvas) and object views. */
int rd_ctx_present_rgb(RdCtx *c, const uint8_t *rgb, int w, int h, char *err, size_t errsz);
/* GL_RENDERER / GL_VERSION of this context, and whether it is a CPU rasteriser. */
const char *rd_ctx_renderer(const RdCtx *c);
const char *rd_ctx_version(const RdCtx *c);
int rd_ctx_is_software(const RdCtx *c);
/* Whether the current context supports the named GL extension. */
int rd_gl_has_extension(const char *name);

/* Headless EGL displays that render independently of each other (separate software
 * rasterisers): 1 or more; 0 when EGL has none (err says why). */
int rd_headless_screens(char *err, size_t errsz);

/* A pending GL error as a WmStatus with `what` in the message. */
int rd_gl_check(const char *what, char *err, size_t errsz);

/* Compiles and links a program from <dir>/<name>.vert and <dir>/<name>.frag. The
 * optional preambles (e.g. "#define X 1\n", extension directives) are inserted after
 * the #version line of the vertex and fragment shader. Errors name the file and
 * include the compiler's info log. *prog is a GL name. */
int rd_program_load(const char *dir, const char *name, const char *vs_preamble,
                    const char *fs_preamble, unsigned *prog, char *err, size_t errsz);
/* The same from source strings; `name` is used in messages. */
int rd_program_build(const char *name, const char *vs, const char *fs, const char *vs_preamble,
                     const char *fs_preamble, unsigned *prog, char *err, size_t errsz);

/* An offscreen colour (RGBA8) + depth (24 bit) target of `layers` array layers. */
typedef struct {
    unsigned fbo, color, depth;
    int width, height, layers;
    int top_down; /* rows are stored top first (a y-flipped projection); for screenshots */
} RdTarget;

int rd_target_create(RdTarget *t, int width, int height, int layers, char *err, size_t errsz);
void rd_target_destroy(RdTarget *t);
/* Binds t for drawing (all layers) and sets the viewport to its size. */
void rd_target_bind(const RdTarget *t);

/* Reads a w x h RGB image from the framebuffer `fbo` (0: the window's back buffer) at
 * (x, y) (GL's bottom-left origin). Rows are written top to bottom when flip is set,
 * in GL order (bottom first) otherwise. */
int rd_read_rgb(unsigned fbo, int x, int y, int w, int h, int flip, uint8_t *out, char *err,
                size_t errsz);
/* Writes layer `layer` of t (or of the window's back buffer when t is NULL, at its
 * drawable size) to a PNG file, top row first. */
int rd_screenshot_png(RdCtx *c, const RdTarget *t, int layer, const char *path, char *err,
                      size_t errsz);

#endif
