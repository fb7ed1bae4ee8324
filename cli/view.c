/* `seqjepa view`: wires a run config to the interactive viewer (viewer/viewer.h). */
#include <stdio.h>

#include "run/args.h"
#include "cli/commands.h"
#include "run/runcfg.h"
#include "core/err.h"
#include "nn/nn.h"
#include "viewer/viewer.h"

static const char *usage =
    "usage: seqjepa view CONFIG [section.key=value ...] [--ckpt FILE] [--paused]\n"
    "                    [--frames N --script EVENTS --screenshot OUT.png]\n\n"
    "Opens a window on the config's world: turn the object (drag, arrows, Q/E) or move the\n"
    "eye (click), watch the last M+1 views and live plots while seq-JEPA trains in the\n"
    "background on the environment stream with your own sequences mixed in. Tab switches\n"
    "to the next world (objects3d <-> saccade, each with its own model; its run folder is\n"
    "train.out + '-' + its name, e.g. '-saccade'). Closing the window saves a checkpoint of\n"
    "what trained. Training here is not bit-reproducible (your input is mixed in).\n\n"
    "keys: space pause/resume training, R new sequence, Tab switch world, L load --ckpt,\n"
    "      S screenshot (into train.out), H key help, O saliency overlay, Esc quit,\n"
    "      Shift+W/A/S/D move the object (env.translate_actions = true)\n\n"
    "  --ckpt FILE         checkpoint the config's world starts from (its model config\n"
    "                      must match CONFIG's); L loads it again into the shown world\n"
    "  --paused            start with training paused\n"
    "  --frames N          scripted mode: run N frames, then exit (no display needed)\n"
    "  --script EVENTS     events to replay, one per line: FRAME EVENT ARGS (see\n"
    "                      viewer/viewer.h: key, drag, click, rotate, translate,\n"
    "                      look_at, look_by, wait_steps, wait_plots, resize)\n"
    "  --screenshot OUT    PNG of the last frame, with a JSON report in OUT.json\n"
    "  --size WxH          initial window size (default 1280x800)\n\n"
    "train.threads = 0 trains on all cores but one (the window and rendering use it).\n";

int cli_view(int argc, char **argv) {
    const char *ckpt = NULL, *paused = NULL, *frames = NULL, *script = NULL, *shot = NULL,
               *size = NULL;
    RunFlag flags[] = {
        {"--ckpt", 1, &ckpt},     {"--paused", 0, &paused},   {"--frames", 1, &frames},
        {"--script", 1, &script}, {"--screenshot", 1, &shot}, {"--size", 1, &size},
        {NULL, 0, NULL}};
    RunArgs a;
    int prc = run_args_parse(argc, argv, flags, 1, &a, usage);
    if (prc) return prc < 0 ? 0 : prc;
    static RunConfig rc;
    char err[1200];
    if (run_config_load(&rc, a.config, a.n_over, a.over, err, sizeof err)) {
        run_error("view", err);
        return 1;
    }
    RdViewerDesc d = {.model = rc.model,
                      .optim = rc.optim,
                      .ckpt = ckpt,
                      .paused = paused != NULL,
                      .script = script,
                      .screenshot = shot};
    if (frames && run_parse_int("view", frames, "--frames", 1, &d.frames)) return 2;
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
    RdViewerTexts texts = {0};
    if (rd_viewer_worlds(&rc, &d, &texts, err, sizeof err)) {
        rd_viewer_texts_free(&texts);
        run_error("view", err);
        return 1;
    }
    FILE *cf = ckpt ? fopen(ckpt, "rb") : NULL;
    if (ckpt && !cf) {
        fprintf(stderr, "seqjepa view: cannot read --ckpt '%s'\n", ckpt);
        return 1;
    }
    if (cf) fclose(cf);
    int r = rd_viewer_run(&d, err, sizeof err);
    nn_runtime_shutdown();
    rd_viewer_texts_free(&texts);
    if (r) {
        run_error("view", err);
        return 1;
    }
    return 0;
}
