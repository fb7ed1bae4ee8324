/* GL contexts (EGL headless or SDL2 window), GLEW loading, programs, targets and
 * screenshots. */
#include "render/ctx.h"

#include <GL/glew.h>
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <SDL2/SDL.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/png.h"

struct RdCtx {
    RdCtxKind kind;
    EGLDisplay dpy;
    EGLContext egl;
    SDL_Window *win;
    SDL_GLContext sdl;
    char renderer[128], version[128];
    int software;
    /* rd_ctx_present_rgb's texture, program and vertex array, made on first use */
    GLuint present_tex, present_prog, present_vao;
    int present_w, present_h;
};

/* ---- EGL displays ---- */

/* Candidates in order of preference: hardware EGL devices, then the surfaceless
 * platform, then software devices through the device platform. Each software
 * display has its own rasteriser, which is what lets contexts run in parallel. */
#define MAX_SCREENS 8
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_probed;
static int g_nscreens;
static EGLDisplay g_screens[MAX_SCREENS];
static char g_probe_err[256];
static int g_glew_done;
static int g_sdl_users;

static void probe_screens(void) {
    if (g_probed) return;
    g_probed = 1;
    PFNEGLGETPLATFORMDISPLAYEXTPROC get_display =
        (PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
    const char *cext = eglQueryString(EGL_NO_DISPLAY, EGL_EXTENSIONS);
    int has_device = get_display && cext && strstr(cext, "EGL_EXT_platform_device");
    int has_surfaceless = get_display && cext && strstr(cext, "EGL_MESA_platform_surfaceless");
    EGLDeviceEXT devs[MAX_SCREENS];
    EGLint ndev = 0;
    int soft[MAX_SCREENS] = {0};
    PFNEGLQUERYDEVICESEXTPROC query_devices =
        (PFNEGLQUERYDEVICESEXTPROC)eglGetProcAddress("eglQueryDevicesEXT");
    PFNEGLQUERYDEVICESTRINGEXTPROC query_string =
        (PFNEGLQUERYDEVICESTRINGEXTPROC)eglGetProcAddress("eglQueryDeviceStringEXT");
    if (has_device && query_devices && query_string && query_devices(MAX_SCREENS, devs, &ndev)) {
        for (int i = 0; i < ndev; i++) {
            const char *e = query_string(devs[i], EGL_EXTENSIONS);
            soft[i] = e && strstr(e, "EGL_MESA_device_software");
        }
    } else {
        ndev = 0;
    }
    EGLDisplay cand[2 * MAX_SCREENS + 1];
    int nc = 0;
    for (int i = 0; i < ndev; i++)
        if (!soft[i]) cand[nc++] = get_display(EGL_PLATFORM_DEVICE_EXT, devs[i], NULL);
    int hardware = nc;
    if (has_surfaceless)
        cand[nc++] = get_display(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL);
    for (int i = 0; i < ndev; i++)
        if (soft[i]) cand[nc++] = get_display(EGL_PLATFORM_DEVICE_EXT, devs[i], NULL);
    for (int i = 0; i < nc && g_nscreens < MAX_SCREENS; i++) {
        if (cand[i] == EGL_NO_DISPLAY) continue;
        EGLint major, minor;
        if (!eglInitialize(cand[i], &major, &minor)) continue;
        int dup = 0;
        for (int j = 0; j < g_nscreens; j++)
            dup |= g_screens[j] == cand[i];
        if (dup) continue;
        g_screens[g_nscreens++] = cand[i];
        /* A GPU renders for every context at once; more displays add nothing. */
        if (i < hardware) break;
    }
    if (!g_nscreens) {
        /* Last resort: the default display (an X server when DISPLAY is set). */
        EGLDisplay d = eglGetDisplay(EGL_DEFAULT_DISPLAY);
        EGLint major, minor;
        if (d != EGL_NO_DISPLAY && eglInitialize(d, &major, &minor)) g_screens[g_nscreens++] = d;
    }
    if (!g_nscreens)
        snprintf(g_probe_err, sizeof g_probe_err,
                 "no usable EGL display (tried %d: GPU devices, Mesa surfaceless, software "
                 "devices, the default display; EGL error 0x%x)",
                 nc, (unsigned)eglGetError());
}

int rd_headless_screens(char *err, size_t errsz) {
    pthread_mutex_lock(&g_lock);
    probe_screens();
    int n = g_nscreens;
    if (!n) wm_errf(err, errsz, WM_ERR_GL, "%s", g_probe_err);
    pthread_mutex_unlock(&g_lock);
    return n;
}

/* Loads GL entry points once per process (they are dispatch stubs valid for every
 * context). Debian's GLEW is built for GLX: under EGL it reports
 * GLEW_ERROR_NO_GLX_DISPLAY after loading everything, which is success here. */
static int load_gl(char *err, size_t errsz) {
    pthread_mutex_lock(&g_lock);
    int rc = WM_OK;
    if (!g_glew_done) {
        glewExperimental = GL_TRUE;
        GLenum g = glewInit();
        if (g != GLEW_OK && g != GLEW_ERROR_NO_GLX_DISPLAY)
            rc = wm_errf(err, errsz, WM_ERR_GL, "GLEW could not load OpenGL: %s",
                         (const char *)glewGetErrorString(g));
        else if (!glGenFramebuffers || !glDrawElementsInstancedBaseVertexBaseInstance ||
                 !glTexImage3D || !glVertexAttribDivisor)
            rc = wm_errf(err, errsz, WM_ERR_GL,
                         "OpenGL lacks functions the renderer needs (framebuffers, base "
                         "instance, array textures)");
        else
            g_glew_done = 1;
        while (glGetError() != GL_NO_ERROR) {
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static int finish_setup(RdCtx *c, char *err, size_t errsz) {
    int rc = load_gl(err, errsz);
    if (rc) return rc;
    GLint major = 0, minor = 0;
    glGetIntegerv(GL_MAJOR_VERSION, &major);
    glGetIntegerv(GL_MINOR_VERSION, &minor);
    const char *r = (const char *)glGetString(GL_RENDERER);
    const char *v = (const char *)glGetString(GL_VERSION);
    snprintf(c->renderer, sizeof c->renderer, "%s", r ? r : "?");
    snprintf(c->version, sizeof c->version, "%s", v ? v : "?");
    c->software = strstr(c->renderer, "llvmpipe") || strstr(c->renderer, "softpipe") ||
                  strstr(c->renderer, "swrast");
    if (c->software) {
        /* A CPU rasteriser allocates and frees its per-pass bins and staging buffers
         * (megabytes) on every pass; with glibc's defaults each cycle hands the memory
         * back to the kernel and faults it in again zeroed, about an eighth of the
         * rendering time. Keeping freed memory in the process removes that. This is
         * process-wide and only changes when memory is returned, never how much is
         * used at a time. */
        pthread_mutex_lock(&g_lock);
        static int tuned;
        if (!tuned) {
            mallopt(M_TRIM_THRESHOLD, 512 << 20);
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            tuned = 1;
        }
        pthread_mutex_unlock(&g_lock);
    }
    if (major * 10 + minor < 33)
        return wm_errf(err, errsz, WM_ERR_GL, "OpenGL %d.%d (%s); 3.3 core or newer is needed",
                       major, minor, c->renderer);
    if (major * 10 + minor < 42 && !rd_gl_has_extension("GL_ARB_base_instance"))
        return wm_errf(err, errsz, WM_ERR_GL,
                       "OpenGL %d.%d (%s) lacks GL_ARB_base_instance, which batching needs", major,
                       minor, c->renderer);
    return WM_OK;
}

static int create_headless(const RdCtxDesc *d, RdCtx **out, char *err, size_t errsz) {
    int n = rd_headless_screens(err, errsz);
    if (!n) return WM_ERR_GL;
    int s = d->screen < 0 ? 0 : d->screen % n;
    EGLDisplay dpy = g_screens[s];
    /* Someone else (SDL's EGL back end, on quitting) may have terminated this display;
     * initialising an initialised display does nothing. */
    EGLint major, minor;
    if (!eglInitialize(dpy, &major, &minor)) {
        return wm_errf(err, errsz, WM_ERR_GL, "EGL could not initialise display %d (error 0x%x)", s,
                       (unsigned)eglGetError());
    }
    if (!eglBindAPI(EGL_OPENGL_API)) {
        return wm_errf(err, errsz, WM_ERR_GL, "EGL cannot bind the OpenGL API (error 0x%x)",
                       (unsigned)eglGetError());
    }
    static const EGLint attrs[] = {EGL_CONTEXT_MAJOR_VERSION,
                                   3,
                                   EGL_CONTEXT_MINOR_VERSION,
                                   3,
                                   EGL_CONTEXT_OPENGL_PROFILE_MASK,
                                   EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT,
                                   EGL_NONE};
    /* No config and no surface: all drawing goes to framebuffer objects. */
    EGLContext ctx = eglCreateContext(dpy, (EGLConfig)0, EGL_NO_CONTEXT, attrs);
    if (ctx == EGL_NO_CONTEXT) {
        return wm_errf(err, errsz, WM_ERR_GL,
                       "EGL could not create an OpenGL 3.3 core context without a surface (error 0x%x)",
                       (unsigned)eglGetError());
    }
    if (!eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx)) {
        int rc = wm_errf(err, errsz, WM_ERR_GL, "EGL could not make the context current (error 0x%x)",
                         (unsigned)eglGetError());
        eglDestroyContext(dpy, ctx);
        return rc;
    }
    RdCtx *c = wm_new(RdCtx, 1);
    c->kind = RD_CTX_HEADLESS;
    c->dpy = dpy;
    c->egl = ctx;
    int rc = finish_setup(c, err, errsz);
    if (rc) {
        rd_ctx_destroy(c);
        return rc;
    }
    *out = c;
    return WM_OK;
}

static int create_window(const RdCtxDesc *d, RdCtx **out, char *err, size_t errsz) {
    pthread_mutex_lock(&g_lock);
    int ok = g_sdl_users > 0 || SDL_InitSubSystem(SDL_INIT_VIDEO) == 0;
    if (ok) g_sdl_users++;
    pthread_mutex_unlock(&g_lock);
    if (!ok) return wm_errf(err, errsz, WM_ERR_GL, "SDL could not start video: %s", SDL_GetError());
    SDL_GL_SetAttribute(SDL_GL_CONTEXT_MAJOR_VERSION, 3);
    SDL_GL_SetAttribute(SDL_GL_CONTEXT_MINOR_VERSION, 3);
    SDL_GL_SetAttribute(SDL_GL_CONTEXT_PROFILE_MASK, SDL_GL_CONTEXT_PROFILE_CORE);
    SDL_GL_SetAttribute(SDL_GL_DOUBLEBUFFER, 1);
    SDL_GL_SetAttribute(SDL_GL_DEPTH_SIZE, 24);
    Uint32 flags = SDL_WINDOW_OPENGL | SDL_WINDOW_ALLOW_HIGHDPI;
    if (d->resizable) flags |= SDL_WINDOW_RESIZABLE;
    flags |= d->hidden ? SDL_WINDOW_HIDDEN : SDL_WINDOW_SHOWN;
    RdCtx *c = wm_new(RdCtx, 1);
    c->kind = RD_CTX_WINDOW;
    c->win = SDL_CreateWindow(d->title ? d->title : "seqjepa", SDL_WINDOWPOS_CENTERED,
                              SDL_WINDOWPOS_CENTERED, d->width > 0 ? d->width : 1280,
                              d->height > 0 ? d->height : 800, flags);
    if (!c->win) {
        int rc = wm_errf(err, errsz, WM_ERR_GL, "SDL could not open a window: %s", SDL_GetError());
        rd_ctx_destroy(c);
        return rc;
    }
    c->sdl = SDL_GL_CreateContext(c->win);
    if (!c->sdl) {
        int rc = wm_errf(err, errsz, WM_ERR_GL, "SDL could not create an OpenGL 3.3 core context: %s",
                         SDL_GetError());
        rd_ctx_destroy(c);
        return rc;
    }
    SDL_GL_SetSwapInterval(d->vsync ? 1 : 0);
    int rc = finish_setup(c, err, errsz);
    if (rc) {
        rd_ctx_destroy(c);
        return rc;
    }
    *out = c;
    return WM_OK;
}

int rd_ctx_create(const RdCtxDesc *d, RdCtx **out, char *err, size_t errsz) {
    static const RdCtxDesc zero = {0};
    *out = NULL;
    if (!d) d = &zero;
    if (d->kind == RD_CTX_HEADLESS) return create_headless(d, out, err, errsz);
    if (d->width < 0 || d->width > RD_WINDOW_MAX || d->height < 0 || d->height > RD_WINDOW_MAX)
        return wm_errf(err, errsz, WM_ERR_RANGE, "window size %dx%d is outside 1..%d pixels (0: the default)",
                       d->width, d->height, RD_WINDOW_MAX);
    return create_window(d, out, err, errsz);
}

void rd_ctx_destroy(RdCtx *c) {
    if (!c) return;
    if (c->present_prog) {
        glDeleteTextures(1, &c->present_tex);
        glDeleteProgram(c->present_prog);
        glDeleteVertexArrays(1, &c->present_vao);
    }
    if (c->kind == RD_CTX_HEADLESS) {
        if (c->egl != EGL_NO_CONTEXT && c->egl) {
            if (eglGetCurrentContext() == c->egl)
                eglMakeCurrent(c->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
            eglDestroyContext(c->dpy, c->egl);
        }
    } else {
        if (c->sdl) {
            if (SDL_GL_GetCurrentContext() == c->sdl) SDL_GL_MakeCurrent(c->win, NULL);
            SDL_GL_DeleteContext(c->sdl);
        }
        if (c->win) SDL_DestroyWindow(c->win);
        pthread_mutex_lock(&g_lock);
        if (--g_sdl_users == 0) SDL_QuitSubSystem(SDL_INIT_VIDEO);
        pthread_mutex_unlock(&g_lock);
    }
    wm_free(c);
}

int rd_ctx_make_current(RdCtx *c, char *err, size_t errsz) {
    int ok = c->kind == RD_CTX_HEADLESS
                 ? eglMakeCurrent(c->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, c->egl) == EGL_TRUE
                 : SDL_GL_MakeCurrent(c->win, c->sdl) == 0;
    if (!ok) return wm_errf(err, errsz, WM_ERR_GL, "cannot make the GL context current");
    return WM_OK;
}

void rd_ctx_swap(RdCtx *c) {
    if (c->kind == RD_CTX_WINDOW) SDL_GL_SwapWindow(c->win);
}

void rd_ctx_drawable_size(const RdCtx *c, int *w, int *h) {
    *w = *h = 0;
    if (c->kind == RD_CTX_WINDOW) SDL_GL_GetDrawableSize(c->win, w, h);
}

void *rd_ctx_window(const RdCtx *c) {
    return c->win;
}
const char *rd_ctx_renderer(const RdCtx *c) {
    return c->renderer;
}
const char *rd_ctx_version(const RdCtx *c) {
    return c->version;
}
int rd_ctx_is_software(const RdCtx *c) {
    return c->software;
}

int rd_gl_has_extension(const char *name) {
    GLint n = 0;
    glGetIntegerv(GL_NUM_EXTENSIONS, &n);
    for (GLint i = 0; i < n; i++) {
        const char *e = (const char *)glGetStringi(GL_EXTENSIONS, (GLuint)i);
        if (e && !strcmp(e, name)) return 1;
    }
    return 0;
}

int rd_gl_check(const char *what, char *err, size_t errsz) {
    GLenum e = glGetError();
    if (e == GL_NO_ERROR) return WM_OK;
    while (glGetError() != GL_NO_ERROR) {
    }
    const char *name = e == GL_INVALID_ENUM                    ? "invalid enum"
                       : e == GL_INVALID_VALUE                 ? "invalid value"
                       : e == GL_INVALID_OPERATION             ? "invalid operation"
                       : e == GL_OUT_OF_MEMORY                 ? "out of memory"
                       : e == GL_INVALID_FRAMEBUFFER_OPERATION ? "invalid framebuffer operation"
                                                               : "error";
    return wm_errf(err, errsz, WM_ERR_GL, "OpenGL %s (0x%x) in %s", name, (unsigned)e, what);
}

/* ---- programs ---- */

/* Source with the preamble placed after the #version line. */
static char *with_preamble(const char *src, const char *preamble) {
    WmBuf b = {0};
    wm_buf_reserve(&b, strlen(src) + (preamble ? strlen(preamble) : 0) + 16);
    const char *nl = strchr(src, '\n');
    if (preamble && *preamble && nl && !strncmp(src, "#version", 8)) {
        wm_buf_append(&b, src, (size_t)(nl - src + 1));
        wm_buf_puts(&b, preamble);
        wm_buf_puts(&b, "#line 2\n");
        wm_buf_puts(&b, nl + 1);
    } else {
        if (preamble) wm_buf_puts(&b, preamble);
        wm_buf_puts(&b, src);
    }
    return b.data;
}

static int compile(GLenum type, const char *name, const char *src, const char *preamble,
                   GLuint *out, char *err, size_t errsz) {
    char *full = with_preamble(src, preamble);
    GLuint s = glCreateShader(type);
    const char *p = full;
    glShaderSource(s, 1, &p, NULL);
    glCompileShader(s);
    wm_free(full);
    GLint ok = 0;
    glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
    if (!ok) {
        char log[1024] = "";
        glGetShaderInfoLog(s, sizeof log, NULL, log);
        size_t n = strlen(log);
        while (n && (log[n - 1] == '\n' || log[n - 1] == ' '))
            log[--n] = 0;
        glDeleteShader(s);
        return wm_errf(err, errsz, WM_ERR_GL, "shader '%s' does not compile: %s", name, log);
    }
    *out = s;
    return WM_OK;
}

int rd_program_build(const char *name, const char *vs, const char *fs, const char *vs_preamble,
                     const char *fs_preamble, unsigned *prog, char *err, size_t errsz) {
    char vname[512], fname[512];
    snprintf(vname, sizeof vname, "%s.vert", name);
    snprintf(fname, sizeof fname, "%s.frag", name);
    GLuint v = 0, f = 0;
    int rc = compile(GL_VERTEX_SHADER, vname, vs, vs_preamble, &v, err, errsz);
    if (rc) return rc;
    rc = compile(GL_FRAGMENT_SHADER, fname, fs, fs_preamble, &f, err, errsz);
    if (rc) {
        glDeleteShader(v);
        return rc;
    }
    GLuint p = glCreateProgram();
    glAttachShader(p, v);
    glAttachShader(p, f);
    glLinkProgram(p);
    glDeleteShader(v);
    glDeleteShader(f);
    GLint ok = 0;
    glGetProgramiv(p, GL_LINK_STATUS, &ok);
    if (!ok) {
        char log[1024] = "";
        glGetProgramInfoLog(p, sizeof log, NULL, log);
        glDeleteProgram(p);
        return wm_errf(err, errsz, WM_ERR_GL, "shader program '%s' does not link: %s", name, log);
    }
    *prog = p;
    return WM_OK;
}

int rd_program_load(const char *dir, const char *name, const char *vs_preamble,
                    const char *fs_preamble, unsigned *prog, char *err, size_t errsz) {
    char path[1100], base[1024];
    if (wm_path_join(base, sizeof base, dir, name) < 0)
        return wm_errf(err, errsz, WM_ERR_ARG, "shader path too long: %s/%s", dir, name);
    char *src[2] = {NULL, NULL};
    static const char *ext[2] = {".vert", ".frag"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s%s", base, ext[i]);
        size_t len;
        int rc = wm_read_file(path, &src[i], &len, err, errsz);
        if (rc) {
            wm_free(src[0]);
            return wm_err_prefix(err, errsz, rc,
                                 "shader '%s': ", name);
        }
    }
    int rc = rd_program_build(base, src[0], src[1], vs_preamble, fs_preamble, prog, err, errsz);
    wm_free(src[0]);
    wm_free(src[1]);
    return rc;
}

/* ---- presenting a CPU image ---- */

static const char *present_vs =
    "#version 330 core\n"
    "out vec2 v_uv;\n"
    "void main() {\n"
    "    vec2 p = vec2(gl_VertexID == 1 ? 3.0 : -1.0, gl_VertexID == 2 ? 3.0 : -1.0);\n"
    "    v_uv = vec2(0.5 * (p.x + 1.0), 1.0 - 0.5 * (p.y + 1.0));\n"
    "    gl_Position = vec4(p, 0.0, 1.0);\n"
    "}\n";
static const char *present_fs = "#version 330 core\n"
                                "in vec2 v_uv;\n"
                                "uniform sampler2D u_img;\n"
                                "out vec4 o_color;\n"
                                "void main() { o_color = vec4(texture(u_img, v_uv).rgb, 1.0); }\n";

int rd_ctx_present_rgb(RdCtx *c, const uint8_t *rgb, int w, int h, char *err, size_t errsz) {
    if (c->kind != RD_CTX_WINDOW)
        return wm_errf(err, errsz, WM_ERR_ARG, "present: a headless context has no window");
    if (w < 1 || h < 1) return wm_errf(err, errsz, WM_ERR_ARG, "present: empty image %dx%d", w, h);
    if (!c->present_prog) {
        int rc = rd_program_build("present", present_vs, present_fs, NULL, NULL, &c->present_prog,
                                  err, errsz);
        if (rc) return rc;
        glGenVertexArrays(1, &c->present_vao);
        glGenTextures(1, &c->present_tex);
        glBindTexture(GL_TEXTURE_2D, c->present_tex);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    }
    glBindTexture(GL_TEXTURE_2D, c->present_tex);
    glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
    if (w != c->present_w || h != c->present_h) {
        glTexImage2D(GL_TEXTURE_2D, 0, GL_RGB8, w, h, 0, GL_RGB, GL_UNSIGNED_BYTE, rgb);
        c->present_w = w, c->present_h = h;
    } else {
        glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, w, h, GL_RGB, GL_UNSIGNED_BYTE, rgb);
    }
    int dw, dh;
    rd_ctx_drawable_size(c, &dw, &dh);
    glBindFramebuffer(GL_FRAMEBUFFER, 0);
    glViewport(0, 0, dw, dh);
    glDisable(GL_DEPTH_TEST);
    glDisable(GL_CULL_FACE);
    glUseProgram(c->present_prog);
    glUniform1i(glGetUniformLocation(c->present_prog, "u_img"), 0);
    glActiveTexture(GL_TEXTURE0);
    glBindVertexArray(c->present_vao);
    glDrawArrays(GL_TRIANGLES, 0, 3);
    glBindVertexArray(0);
    glUseProgram(0);
    return rd_gl_check("presenting an image", err, errsz);
}

/* ---- targets ---- */

int rd_target_create(RdTarget *t, int width, int height, int layers, char *err, size_t errsz) {
    memset(t, 0, sizeof *t);
    GLint max_size = 0, max_layers = 0;
    glGetIntegerv(GL_MAX_TEXTURE_SIZE, &max_size);
    glGetIntegerv(GL_MAX_ARRAY_TEXTURE_LAYERS, &max_layers);
    if (width < 1 || height < 1 || width > max_size || height > max_size)
        return wm_errf(err, errsz, WM_ERR_RANGE,
                       "render target %dx%d is outside 1..%d pixels per side", width, height,
                       max_size);
    if (layers < 1 || layers > max_layers)
        return wm_errf(err, errsz, WM_ERR_RANGE, "render target of %d layers (1..%d allowed)",
                       layers, max_layers);
    t->width = width, t->height = height, t->layers = layers;
    glGenTextures(1, &t->color);
    glBindTexture(GL_TEXTURE_2D_ARRAY, t->color);
    glTexParameteri(GL_TEXTURE_2D_ARRAY, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D_ARRAY, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    glTexImage3D(GL_TEXTURE_2D_ARRAY, 0, GL_RGBA8, width, height, layers, 0, GL_RGBA,
                 GL_UNSIGNED_BYTE, NULL);
    glGenTextures(1, &t->depth);
    glBindTexture(GL_TEXTURE_2D_ARRAY, t->depth);
    glTexParameteri(GL_TEXTURE_2D_ARRAY, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D_ARRAY, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    glTexImage3D(GL_TEXTURE_2D_ARRAY, 0, GL_DEPTH_COMPONENT24, width, height, layers, 0,
                 GL_DEPTH_COMPONENT, GL_UNSIGNED_INT, NULL);
    glBindTexture(GL_TEXTURE_2D_ARRAY, 0);
    glGenFramebuffers(1, &t->fbo);
    glBindFramebuffer(GL_FRAMEBUFFER, t->fbo);
    glFramebufferTexture(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, t->color, 0);
    glFramebufferTexture(GL_FRAMEBUFFER, GL_DEPTH_ATTACHMENT, t->depth, 0);
    GLenum st = glCheckFramebufferStatus(GL_FRAMEBUFFER);
    int rc = rd_gl_check("render target", err, errsz);
    if (!rc && st != GL_FRAMEBUFFER_COMPLETE)
        rc = wm_errf(err, errsz, WM_ERR_GL, "render target %dx%dx%d is incomplete (0x%x)", width,
                     height, layers, (unsigned)st);
    if (rc) rd_target_destroy(t);
    return rc;
}

void rd_target_destroy(RdTarget *t) {
    if (t->fbo) glDeleteFramebuffers(1, &t->fbo);
    if (t->color) glDeleteTextures(1, &t->color);
    if (t->depth) glDeleteTextures(1, &t->depth);
    memset(t, 0, sizeof *t);
}

void rd_target_bind(const RdTarget *t) {
    glBindFramebuffer(GL_FRAMEBUFFER, t->fbo);
    glViewport(0, 0, t->width, t->height);
}

int rd_read_rgb(unsigned fbo, int x, int y, int w, int h, int flip, uint8_t *out, char *err,
                size_t errsz) {
    glBindFramebuffer(GL_READ_FRAMEBUFFER, fbo);
    if (!fbo) glReadBuffer(GL_BACK);
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadPixels(x, y, w, h, GL_RGB, GL_UNSIGNED_BYTE, out);
    int rc = rd_gl_check("reading pixels", err, errsz);
    if (rc || !flip) return rc;
    size_t row = (size_t)w * 3;
    uint8_t *tmp = wm_new(uint8_t, row);
    for (int r = 0; r < h / 2; r++) {
        memcpy(tmp, out + row * (size_t)r, row);
        memcpy(out + row * (size_t)r, out + row * (size_t)(h - 1 - r), row);
        memcpy(out + row * (size_t)(h - 1 - r), tmp, row);
    }
    wm_free(tmp);
    return WM_OK;
}

int rd_screenshot_png(RdCtx *c, const RdTarget *t, int layer, const char *path, char *err,
                      size_t errsz) {
    int w, h;
    unsigned fbo = 0, tmp_fbo = 0;
    int flip = 1;
    if (t) {
        if (layer < 0 || layer >= t->layers)
            return wm_errf(err, errsz, WM_ERR_ARG, "screenshot of layer %d of a %d-layer target",
                           layer, t->layers);
        w = t->width, h = t->height;
        glGenFramebuffers(1, &tmp_fbo);
        glBindFramebuffer(GL_READ_FRAMEBUFFER, tmp_fbo);
        glFramebufferTextureLayer(GL_READ_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, t->color, 0, layer);
        fbo = tmp_fbo;
        flip = !t->top_down;
    } else {
        if (!c || c->kind != RD_CTX_WINDOW)
            return wm_errf(err, errsz, WM_ERR_ARG, "a headless context has no window to capture");
        rd_ctx_drawable_size(c, &w, &h);
    }
    uint8_t *px = wm_try_calloc((size_t)w * (size_t)h, 3);
    int rc = px ? rd_read_rgb(fbo, 0, 0, w, h, flip, px, err, errsz)
                : wm_errf(err, errsz, WM_ERR_NOMEM, "screenshot %dx%d: out of memory", w, h);
    if (tmp_fbo) glDeleteFramebuffers(1, &tmp_fbo);
    glBindFramebuffer(GL_READ_FRAMEBUFFER, 0);
    if (!rc) rc = wm_png_write(path, w, h, 3, px, 0, err, errsz);
    wm_free(px);
    return rc;
}
