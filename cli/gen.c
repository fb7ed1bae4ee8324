/* `seqjepa gen`: headless dataset generation into numpy shards. */
#include <stdio.h>
#include <string.h>

#include "data/dataset.h"
#include "run/args.h"
#include "cli/commands.h"
#include "run/runcfg.h"
#include "core/dist.h"
#include "core/err.h"
#include "core/signal.h"

static const char *usage =
    "usage: seqjepa gen CONFIG --out DIR [section.key=value ...] [--preview] [--quiet]\n\n"
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
    "  --quiet     no progress bar\n\n"
    "Across processes: mpirun -np N seqjepa gen ... shares the shards among the ranks (rank r\n"
    "makes shards r, r+N, ...; rank 0 claims the folder and writes the manifest); the files\n"
    "are the same bytes as one process writes.\n";

int cli_gen(int argc, char **argv) {
    const char *out = NULL, *preview = NULL, *quiet = NULL;
    RunFlag flags[] = {
        {"--out", 1, &out}, {"--preview", 0, &preview}, {"--quiet", 0, &quiet}, {NULL, 0, NULL}};
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
    DsConfig dc = {rc.env, rc.agent, rc.gen};
    DsGenSetup su = {&dc, out, preview != NULL, quiet != NULL || wm_dist_rank() > 0, 1};
    DsGenResult res;
    wm_signals_install();
    int r = ds_generate(&su, &res, err, sizeof err);
    if (r) {
        run_error("gen", err);
        return r == WM_ERR_INTERRUPTED ? 130 : 1;
    }
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
