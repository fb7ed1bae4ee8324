/* `seqjepa gen`: headless dataset generation into numpy shards. */
#include <stdio.h>
#include <string.h>

#include "data/dataset.h"
#include "data/ds_3die.h"
#include "run/args.h"
#include "cli/commands.h"
#include "run/runcfg.h"
#include "core/dist.h"
#include "core/err.h"
#include "core/signal.h"

static const char *usage =
    "usage: seqjepa gen CONFIG --out DIR [section.key=value ...] [--preview] [--quiet]\n"
    "       seqjepa gen CONFIG --layout 3diebench --out DIR [section.key=value ...] [--force] [--quiet]\n\n"
    "Rolls out the agent in the environment ([env], [agent]) and writes gen.train_seqs\n"
    "sequences of training objects/images to DIR/train/ and gen.val_seqs of held-out ones\n"
    "to DIR/val/, gen.views views each, in shards of gen.shard_size sequences:\n"
    "  images.npy uint8 [N,T,H,W,3]  actions.npy float32 [N,T-1,A]  latents.npy float32 [N,T,L]\n"
    "  labels.npy int32 [N]  instances.npy int32 [N]  (saccade: scenes.npy, saliency.npy)\n"
    "and DIR/manifest.json last (config, spec, counts, file sizes and CRC-32 checksums).\n"
    "Shard k depends on the config, gen.seed and k alone. Interrupted (Ctrl-C, kill), the\n"
    "same command again keeps and checks the finished shards and makes the rest; a DIR\n"
    "holding another config is refused with the keys that differ.\n\n"
    "  --out DIR   dataset folder (created if absent)\n"
    "  --preview   also write DIR/preview/<split>-shard-NNNNN.png contact sheets\n"
    "  --quiet     no progress bar\n"
    "  --layout 3diebench\n"
    "              write the objects3d world as the 3DIEBench generator does instead:\n"
    "              DIR/SYNSET/OBJECT/image_{i}.jpg and latent_{i}.npy (float64 [7]: Euler XYZ\n"
    "              extrinsic, floor hue, spot theta, spot phi, spot hue) for gen.views views\n"
    "              of each of gen.train_seqs training and gen.val_seqs held-out objects,\n"
    "              and DIR/{train,val}_{images,labels}.npy; every view draws its latents\n"
    "              afresh (the agent is not used). The authors' loaders draw from 50 views.\n"
    "              Built beside DIR and renamed into place when complete.\n"
    "  --force     (with --layout) replace a DIR that holds a tree in that layout\n\n"
    "Across processes: mpirun -np N seqjepa gen ... shares the shards among the ranks (rank r\n"
    "makes shards r, r+N, ...; rank 0 claims the folder and writes the manifest); the files\n"
    "are the same bytes as one process writes (--layout 3diebench runs as one process).\n";

/* The exit status of a generation that failed (130 for Ctrl-C, as a shell's), after
 * saying why. */
static int gen_failed(int r, const char *err) {
    run_error("gen", err);
    return r == WM_ERR_INTERRUPTED ? 130 : 1;
}

static int gen_3die(const DsConfig *dc, const char *out, int force, int quiet) {
    char err[2048];
    Ds3GenSetup su = {dc, out, force, quiet};
    Ds3GenResult res;
    wm_signals_install();
    int r = ds3_generate(&su, &res, err, sizeof err);
    if (r) return gen_failed(r, err);
    printf("3DIEBench layout '%s': %lld train + %lld val objects of %d views, %.1f MiB in %.1f s\n", out,
           (long long)res.objects[0], (long long)res.objects[1], res.views, (double)res.bytes / (1 << 20),
           res.seconds);
    if (res.views < DS3_AUTHORS_VIEWS)
        printf("note: the authors' dataset classes draw views from %d per object (gen.views = %d here)\n",
               DS3_AUTHORS_VIEWS, res.views);
    return 0;
}

int cli_gen(int argc, char **argv) {
    const char *out = NULL, *preview = NULL, *quiet = NULL, *layout = NULL, *force = NULL;
    RunFlag flags[] = {{"--out", 1, &out},       {"--preview", 0, &preview}, {"--quiet", 0, &quiet},
                       {"--layout", 1, &layout}, {"--force", 0, &force},     {NULL, 0, NULL}};
    RunArgs a;
    int prc = run_args_parse(argc, argv, flags, 1, &a, usage);
    if (prc) return prc < 0 ? 0 : prc;
    if (!out || !*out) {
        fprintf(stderr, "seqjepa gen: --out DIR is required\n\n%s", usage);
        return 2;
    }
    static RunConfig rc;
    char err[2048];
    if (run_config_load(&rc, a.config, a.n_over, a.over, err, sizeof err)) {
        run_error("gen", err);
        return 1;
    }
    if (layout && strcmp(layout, "3diebench")) {
        fprintf(stderr, "seqjepa gen: --layout '%s' is unknown (3diebench)\n", layout);
        return 2;
    }
    if ((force && !layout) || (preview && layout)) {
        fprintf(stderr, "seqjepa gen: %s goes with%s --layout\n\n%s", force && !layout ? "--force" : "--preview",
                force && !layout ? "" : "out", usage);
        return 2;
    }
    DsConfig dc = {rc.env, rc.agent, rc.gen};
    if (layout) {
        if (wm_dist_size() > 1) {
            if (wm_dist_rank() == 0)
                fprintf(stderr, "seqjepa gen: --layout 3diebench runs as one process (started as %d ranks)\n",
                        wm_dist_size());
            return 2;
        }
        return gen_3die(&dc, out, force != NULL, quiet != NULL);
    }
    DsGenSetup su = {&dc, out, preview != NULL, quiet != NULL || wm_dist_rank() > 0, 1};
    DsGenResult res;
    wm_signals_install();
    int r = ds_generate(&su, &res, err, sizeof err);
    if (r) return gen_failed(r, err);
    if (wm_dist_rank() > 0) return 0;
    double mb = (double)res.bytes_made / (1 << 20);
    printf("dataset '%s': %lld train + %lld val sequences of %d views in %d shards (%d made, %d "
           "kept%s); "
           "%lld views, %.1f MiB written in %.1f s (%.0f views/s, %d workers)\n",
           out, (long long)res.sequences[0], (long long)res.sequences[1], rc.gen.views, res.shards,
           res.shards_made, res.shards_kept, res.shards_redone ? ", some redone" : "",
           (long long)res.views_made, mb, res.seconds,
           res.seconds > 0 ? (double)res.views_made / res.seconds : 0.0, res.workers);
    return 0;
}
