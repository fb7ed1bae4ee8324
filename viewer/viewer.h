/* The interactive viewer behind `seqjepa view`: a window where a person moves the
 * object (objects3d) or the eye (saccade) with exact, recorded actions, sees the last
 * M+1 views, and watches live plots of a seq-JEPA model that trains in the background
 * on the environment stream with the person's own sequences mixed in.
 *
 * It sits above every library layer (envs, agents, data, model, run): it is a front
 * end, and it needs the GL window. model/ stays free of GL; the model is reached only
 * through sj_train's per-step callback and weight snapshots.
 *
 * Scripted mode (frames > 0) replays an event file and exits after `frames` frames,
 * writing a screenshot and a JSON report next to it (screenshot path + ".json"). An
 * event file has one event per line, '#' starts a comment:
 *
 *   FRAME key NAME              a key as SDL names it: Tab, Space, R, Left, Q, O, H, L, S
 *   FRAME drag FX FY            objects3d: a mouse drag of (FX, FY) env-panel sides
 *   FRAME click FX FY           a click at (FX, FY) of the env panel (0..1 from top left)
 *   FRAME rotate AX AY AZ RAD   objects3d: turn about a world axis by RAD radians
 *   FRAME translate DX DY DZ    objects3d with env.translate_actions: move by world units
 *   FRAME look_at Y X           saccade: fixate (Y, X) as shares of the scene
 *   FRAME look_by DY DX         saccade: move the fixation by shares of the scene
 *   FRAME wait_steps K          hold the script until the shown world trained K steps and
 *                               the plots show a model of step K or later (120 s limit)
 *   FRAME wait_plots            hold the script until both PCA plots have points (also
 *                               paused before the first step; 120 s limit)
 *   FRAME resize W H            resize the window to W x H pixels
 *
 * Input mapping (exact, so that scripts and tests can predict latents): a drag of
 * (fx, fy) panel sides turns the object by pi * |(fx, fy)| radians about the world axis
 * (fy, fx, 0); Right/Left turn by +-RD_VIEWER_KEY_TURN about world y, Down/Up about world
 * x, Q/E about world z (towards the camera); Shift+W/S move by +-RD_VIEWER_KEY_MOVE along
 * world y, Shift+D/A along x (S alone saves a screenshot); a click fixates the clicked
 * point; arrow keys in the saccade world move the fixation by RD_VIEWER_KEY_LOOK of the
 * scene. Each input is one environment step. */
#ifndef VIEWER_H
#define VIEWER_H

#include <stddef.h>

#include "agents/agent.h"
#include "envs/env.h"
#include "core/alloc.h"
#include "model/sj_config.h"
#include "run/runcfg.h"

#define RD_VIEWER_KEY_TURN 0.17453292519943295 /* 10 degrees */
#define RD_VIEWER_KEY_MOVE 0.05
#define RD_VIEWER_KEY_LOOK 0.0625

/* One world the viewer can show; each has its own model and trainer. */
typedef struct {
    EnvConfig env;
    AgentConfig agent;       /* the training stream's policy (human is not allowed) */
    SjTrainConfig train;     /* steps, batch, m_train, seed, out (log and checkpoint) */
    RunPipeConfig pipe;      /* the training stream's queue */
    const char *config_text; /* the resolved INI stored in the checkpoint */
} RdViewerWorld;

typedef struct {
    RdViewerWorld worlds[ENV_KIND_COUNT]; /* [0] is shown first; Tab goes to the next */
    int n_worlds;                         /* 1 .. ENV_KIND_COUNT */
    SjModelConfig model;
    SjOptimConfig optim;
    int threads;       /* compute threads of the trainer (>= 1) */
    const char *ckpt;  /* checkpoint the config's world starts from and L loads (NULL: none) */
    int paused;        /* start with training paused */
    int width, height; /* initial window size (0: 1280 x 800) */
    /* scripted mode */
    int frames;             /* > 0: exit after this many frames */
    const char *script;     /* event file (NULL: none) */
    const char *screenshot; /* PNG written before exit in scripted mode (NULL: none) */
} RdViewerDesc;

/* Runs the viewer until its window closes (or the script ends). Training that ran is
 * saved as a checkpoint in each world's train.out. Returns WM_OK or an error with the
 * reason in err (no display, a bad script line, a world that cannot be made). */
int rd_viewer_run(const RdViewerDesc *d, char *err, size_t errsz);

/* The resolved config texts of a session's worlds (stored in their checkpoints). */
typedef struct {
    WmBuf text[ENV_KIND_COUNT];
} RdViewerTexts;

/* Every world of a session from one run config: the config's own first, then each
 * other kind in the order of env.kind with the same sections, the policy chosen for it
 * and its own run folder (train.out + "-" + the kind's name, e.g. "-saccade"). Fills
 * d's worlds, model, optim and threads (train.threads, or all cores but one) and the
 * texts d points into (free them with rd_viewer_texts_free after the session). */
int rd_viewer_worlds(const RunConfig *rc, RdViewerDesc *d, RdViewerTexts *texts, char *err,
                     size_t errsz);
void rd_viewer_texts_free(RdViewerTexts *texts);

#endif
