/* Inside the viewer: the learner (a world's background trainer and the analysis that
 * feeds the plots), the window's state, and the panel drawing. Not a public API. */
#ifndef VIEWER_IMPL_H
#define VIEWER_IMPL_H

#include <SDL2/SDL.h>
#include <stdint.h>

#include "agents/agent.h"
#include "core/canvas.h"
#include "envs/env.h"
#include "render/ctx.h"
#include "render/scene.h"
#include "viewer/viewer.h"

/* ---------------------------------------------------------------- learner */

enum { RV_STARTING = 0, RV_TRAINING, RV_PAUSED, RV_DONE, RV_FAILED };

/* What the plots show, copied out of a learner by rv_learner_fetch (arrays grow as
 * needed and belong to the copy). */
typedef struct {
    /* training */
    int state;
    int64_t step, total;
    double seq_per_s;
    int mixed;      /* the person's sequences mixed into batches so far */
    char note[320]; /* last load / failure message */
    char loaded[300]; /* the checkpoint the model was last loaded from ("" if none) */
    int64_t loaded_at; /* the step at which it was loaded */
    int n_loss;     /* loss curve (steps, mean loss), thinned as it grows */
    double *loss_x, *loss_y;
    int n_probe; /* on-line probe rows */
    double *probe_x, *probe_top1, *probe_r2;
    int cap_loss, cap_probe;
    /* analysis of the latest snapshot */
    int64_t snap_step;   /* -1: nothing analysed yet */
    int n_z, n_z_user;   /* PCA of encodings: recent training views, then the person's */
    double *z_pc;        /* [n_z, 2] */
    WmColor *z_col;      /* [n_z] by rotation angle or fixation */
    int n_agg, agg_user; /* PCA of z_AGG (last row the person's when agg_user) */
    double *agg_pc;
    int *agg_label;
    int cap_z, cap_agg;
    double cos; /* predicted vs target encoding of the person's next view */
    int cos_m;  /* observed views behind it (0: none) */
    int pi_valid, pi_dim;
    float pi_est[ENV_MAX_DIM], pi_true[ENV_MAX_DIM];
    int pi_fit_n;     /* sequences the path-integration probe was fitted on */
    double pi_fit_r2; /* its R^2 on them */
} RvPlots;

typedef struct RvLearner RvLearner;

/* Starts a world's training stream, trainer thread and analysis thread into *out.
 * init_runtime: the trainer thread calls nn_runtime_init(threads) (the first learner
 * only). ckpt (or NULL): weights the model starts from, loaded before the first step. Returns the status the stream or the model gave (a world or agent that cannot
 * be made, a model config that cannot be built) with the reason in err, *out NULL. */
int rv_learner_start(const RdViewerWorld *w, const SjModelConfig *model, const SjOptimConfig *optim, int threads,
                     int init_runtime, int paused, const char *ckpt, RvLearner **out, char *err, size_t errsz);
/* Stops both threads; training that ran leaves a checkpoint (its path in ckpt, "" when
 * none). Returns the steps trained. */
int64_t rv_learner_stop(RvLearner *l, char *ckpt, size_t ckptsz);
void rv_learner_set_paused(RvLearner *l, int paused);
/* The person's current sequence: its last n views (n <= M+1) with the n-1 actions
 * between them and the n latents; `serial` numbers its first view (views keep their
 * numbers, so each is encoded once per snapshot). n == M+1 also offers it to the
 * trainer. */
void rv_learner_set_sequence(RvLearner *l, int n, uint64_t serial, const uint8_t *px,
                             const float *act, const float *lat, int label);
/* Loads a checkpoint's weights into the training model (at its next step boundary)
 * and into the analysed snapshot; the outcome appears in RvPlots.note. */
void rv_learner_load(RvLearner *l, const char *path);
/* A number that changes whenever the plots' data does. */
uint64_t rv_learner_version(RvLearner *l);
void rv_learner_fetch(RvLearner *l, RvPlots *out);
void rv_plots_free(RvPlots *p);

/* ---------------------------------------------------------------- window */

#define FRAME_CAP   60.0  /* frames per second at most: the rest of the CPU trains */
#define PLOTS_EVERY 0.2   /* seconds between plot redraws */
#define WAIT_LIMIT  120.0 /* seconds a script's wait_steps may hold */
#define BIG_MAX     640   /* largest side of the objects3d view (llvmpipe cost) */
#define PANEL_EVERY 0.1   /* seconds between redraws of a panel other than the world */
#define LOD_HOLD    0.15  /* the world view is drawn at half size until input rests this long */

#define VW_HIST 64 /* views of the current sequence kept for the strip and the scan path */

typedef struct {
    int x, y, w, h;
} VwRect;

/* Panels, each redrawn into the canvas only when its content changed. */
enum {
    VW_P_TOP = 0, /* status line */
    VW_P_ENV,     /* the world */
    VW_P_STRIP,   /* the last M+1 views */
    VW_P_LOSS,
    VW_P_PROBES,
    VW_P_PCA_Z,
    VW_P_PCA_AGG,
    VW_P_PI,
    VW_P_INFO,
    VW_NPANELS
};
extern const char *const vw_panel_names[VW_NPANELS];

typedef struct {
    int made;
    RdViewerWorld desc;
    int kind;     /* env.kind: an ENV_KIND_* (its name only; the rest goes by family) */
    int family;   /* ENV_FAMILY_* */
    int has_view; /* the world gives env_view: drawn large on the viewer's own GL context */
    Env *env;
    Agent *human;
    EnvSpec spec;
    RvLearner *lr;
    int T, A, NL;
    size_t vpx;
    uint64_t resets;
    int label, instance;
    char cls[96];
    /* the current sequence since the last reset (its last VW_HIST views, a ring) */
    int64_t n;
    uint64_t serial; /* views observed in this world so far */
    uint8_t *px;
    float *act; /* the action that led to each view */
    float *lat;
    double lat0[ENV_MAX_DIM]; /* state right after the reset (env_get_state, in double) */
    float *applied;           /* every action since the reset, for the report */
    int n_applied, cap_applied;
    /* worlds with a scene (saccade): scene, saliency and the scene blended with it */
    const uint8_t *scene;
    const float *sal;
    uint8_t *overlay;
    int S;
    /* worlds with env_view (objects3d): the large view */
    uint8_t *big;
    int big_size, big_dirty; /* 1: redraw; 2: drawn at half size, full size due */
    double moved_t;
} VwWorld;

typedef struct {
    RdViewerDesc d;
    RdCtx *gl; /* headless context of the large 3D view (env_view) */
    WmFont *font, *small, *bold;
    WmCanvas cv;
    VwRect r[VW_NPANELS];
    int dirty[VW_NPANELS];
    double drawn_t[VW_NPANELS];
    int items[VW_NPANELS]; /* data items each panel drew last time (report) */
    RdScene *scene[2];     /* full and half size */
    int scene_size[2];
    VwWorld worlds[ENV_KIND_COUNT];
    int active;
    int user_paused, show_help, show_saliency;
    RvPlots plots;
    uint64_t plots_ver;
    double plots_t;
    char msg[320];
    double msg_t;
    double fps;
    int clip_y;        /* wrapped text stops below this baseline */
    double phase_s[4]; /* time per frame phase: input and steps, world view, panels, present */
    int scripted, runtime_done, shots;
    char video_driver[32];
} Vw;

VwWorld *vw_world(Vw *v);
/* Panel rectangles for the canvas size. */
void vw_layout(Vw *v);
/* Fills the canvas with the background. */
void vw_clear(Vw *v);
/* Draws panel `p` into the canvas (its rectangle only). */
void vw_draw_panel(Vw *v, int p);
/* The i-th most recent view of the sequence (i = 0: the newest); NULL past the kept ones. */
const uint8_t *vw_hist_px(const VwWorld *w, int i);
const float *vw_hist_act(const VwWorld *w, int i);
const float *vw_hist_lat(const VwWorld *w, int i);

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
    EV_WAIT_PLOTS,
    EV_RESIZE
} EvKind;

typedef struct {
    int frame, line;
    EvKind kind;
    double v[4];
    SDL_Keycode key;
    int shift;
} ScriptEvent;

/* Reads an event file for a run of `frames` frames, sorted by frame; errors name the
 * file and line. (viewer_script.c) */
int vw_script_load(const char *path, int frames, ScriptEvent **out, int *count, char *err,
                   size_t errsz);

/* ---------------------------------------------------------------- presenting */

/* (viewer_present.c) The canvas at the window's size (all panels redrawn). */
void vw_resize(Vw *v, int w, int h);
/* Copies canvas rectangles into the window surface and shows them. */
int vw_present(Vw *v, SDL_Window *win, const VwRect *rs, int n, char *err, size_t errsz);
int vw_take_screenshot(Vw *v, const char *path, char *err, size_t errsz);
/* The world's 3D view (env_view) at the env panel's size, drawn on a headless context. */
int vw_render_big(Vw *v, VwWorld *w, char *err, size_t errsz);

/* ---------------------------------------------------------------- report */

/* How a world ended, for the report. */
typedef struct {
    int64_t steps;
    char note[320];
    int mixed;
    char ckpt[1100];
    double lat_end[ENV_MAX_DIM];
} WorldEnd;
/* (viewer_report.c) Writes the session report to path. frame_s (sorted in place). */
int vw_write_report(Vw *v, const char *path, const WorldEnd *ends, double *frame_s, int nframes,
                    int frames_drawn, double seconds, char *err, size_t errsz);

#endif
