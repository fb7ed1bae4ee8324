/* `seqjepa view`: wires a run config to the interactive viewer (render/viewer.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/runcfg.h"
#include "core/err.h"
#include "core/pool.h"
#include "model/nn.h"
#include "render/viewer.h"

static const char *usage =
    "usage: seqjepa view CONFIG [section.key=value ...] [--ckpt FILE] [--paused]\n"
    "                    [--frames N --script EVENTS --screenshot OUT.png]\n\n"
    "Opens a window on the config's world: turn the object (drag, arrows, Q/E) or move the\n"
    "eye (click), watch the last M+1 views and live plots while seq-JEPA trains in the\n"
    "background on the environment stream with your own sequences mixed in. Tab switches\n"
    "to the other world (objects3d <-> saccade, with its own model; its run folder is\n"
    "train.out + '-saccade' or '-objects3d'). Closing the window saves a checkpoint of\n"
    "what trained. Training here is not bit-reproducible (your input is mixed in).\n\n"
    "keys: space pause/resume training, R new sequence, Tab switch world, L load --ckpt,\n"
    "      S screenshot (into train.out), H key help, O saliency overlay, Esc quit,\n"
    "      Shift+W/A/S/D move the object (env.translate_actions = true)\n\n"
    "  --ckpt FILE         checkpoint that L loads into the shown world's model\n"
    "  --paused            start with training paused\n"
    "  --frames N          scripted mode: run N frames, then exit (no display needed)\n"
    "  --script EVENTS     events to replay, one per line: FRAME EVENT ARGS (see\n"
    "                      render/viewer.h: key, drag, click, rotate, translate,\n"
    "                      look_at, look_by, wait_steps, resize)\n"
    "  --screenshot OUT    PNG of the last frame, with a JSON report in OUT.json\n"
    "  --size WxH          initial window size (default 1280x800)\n\n"
    "train.threads = 0 trains on all cores but one (the window and rendering use it).\n";

static int parse_int(const char *s, const char *what, int lo, int *out) {
    char *end;
    long x = strtol(s, &end, 10);
    if (end == s || *end || x < lo || x > 1000000000) {
        fprintf(stderr, "seqjepa view: %s '%s' must be an integer >= %d\n", what, s, lo);
        return 2;
    }
    *out = (int)x;
    return 0;
}

int cli_view(int argc, char **argv) {
    const char *ckpt = NULL, *paused = NULL, *frames = NULL, *script = NULL, *shot = NULL,
               *size = NULL;
    CliFlag flags[] = {
        {"--ckpt", 1, &ckpt},     {"--paused", 0, &paused},   {"--frames", 1, &frames},
        {"--script", 1, &script}, {"--screenshot", 1, &shot}, {"--size", 1, &size},
        {NULL, 0, NULL}};
    CliArgs a;
    int prc = cli_parse(argc, argv, flags, 1, &a, usage);
    if (prc) return prc < 0 ? 0 : prc;
    static RunConfig rc, other;
    char err[1200];
    if (run_config_load(&rc, a.config, a.n_over, a.over, err, sizeof err)) {
        fprintf(stderr, "seqjepa view: %s\n", err);
        return 1;
    }
    RdViewerDesc d = {.model = rc.model,
                      .optim = rc.optim,
                      .ckpt = ckpt,
                      .paused = paused != NULL,
                      .script = script,
                      .screenshot = shot};
    if (frames && parse_int(frames, "--frames", 1, &d.frames)) return 2;
    if ((script || shot) && !frames) {
        fprintf(
            stderr,
            "seqjepa view: --script and --screenshot belong to scripted mode (--frames N)\n\n%s",
            usage);
        return 2;
    }
    if (size && (sscanf(size, "%dx%d", &d.width, &d.height) != 2 || d.width < 320 ||
                 d.height < 240 || d.width > 8192 || d.height > 8192)) {
        fprintf(stderr, "seqjepa view: --size '%s' must be WxH, at least 320x240\n", size);
        return 2;
    }
    if (rc.agent.kind == AG_HUMAN) {
        fprintf(stderr, "seqjepa view: agent.kind = human: the training stream needs a policy "
                        "(your own input is the\n"
                        "human one and is mixed in); use auto or another policy\n");
        return 1;
    }
    FILE *cf = ckpt ? fopen(ckpt, "rb") : NULL;
    if (ckpt && !cf) {
        fprintf(stderr, "seqjepa view: cannot read --ckpt '%s'\n", ckpt);
        return 1;
    }
    if (cf) fclose(cf);
    /* The other world: the same sections with env.kind swapped, the policy chosen for
     * it, and its own run folder. */
    other = rc;
    other.env.kind = 1 - rc.env.kind;
    other.agent.kind = AG_AUTO;
    const char *kinds[2] = {"objects3d", "saccade"};
    if (snprintf(other.train.out, sizeof other.train.out, "%s-%s", rc.train.out,
                 kinds[other.env.kind]) >= (int)sizeof other.train.out) {
        fprintf(stderr, "seqjepa view: train.out '%s' is too long\n", rc.train.out);
        return 1;
    }
    WmBuf t0 = {0}, t1 = {0};
    run_config_text(&rc, &t0);
    run_config_text(&other, &t1);
    d.worlds[0] = (RdViewerWorld){rc.env, rc.agent, rc.train, t0.data};
    d.worlds[1] = (RdViewerWorld){other.env, other.agent, other.train, t1.data};
    d.n_worlds = 2;
    int cores = wm_cpu_count();
    d.threads = rc.train.threads > 0 ? rc.train.threads : cores > 1 ? cores - 1 : 1;
    int r = rd_viewer_run(&d, err, sizeof err);
    nn_runtime_shutdown();
    wm_buf_free(&t0);
    wm_buf_free(&t1);
    if (r) {
        fprintf(stderr, "seqjepa view: %s\n", err);
        return 1;
    }
    return 0;
}
