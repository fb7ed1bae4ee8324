/* `seqjepa embed`: encodings and aggregates of given view sequences. */
#include <stdio.h>
#include <string.h>

#include "run/args.h"
#include "cli/commands.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/npy.h"
#include "model/sj_train.h"

static const char *usage =
    "usage: seqjepa embed --ckpt FILE --views V.npy --actions A.npy --out DIR [--next N.npy]\n\n"
    "V.npy: uint8 [N, M, H, W, 3] sequences of views; A.npy: float32 [N, M-1, A], the\n"
    "relative actions between consecutive views. Writes DIR/z.npy float32 [N, M, D]\n"
    "(encoder, eval mode), DIR/z_target.npy [N, M, D] (the target encoder, what the\n"
    "training loss compares predictions with) and DIR/z_agg.npy float32 [N, E] (the [AGG]\n"
    "output).\n\n"
    "  --next N.npy   float32 [N, A], the action after the last view: also writes\n"
    "                 DIR/z_hat.npy [N, D], the predictor's output from z_agg and that action\n";

int cli_embed(int argc, char **argv) {
    const char *ckpt = NULL, *vpath = NULL, *apath = NULL, *out = NULL, *npath = NULL;
    RunFlag flags[] = {{"--ckpt", 1, &ckpt}, {"--views", 1, &vpath}, {"--actions", 1, &apath}, {"--out", 1, &out},
                       {"--next", 1, &npath}, {NULL, 0, NULL}};
    RunArgs a;
    int prc = run_args_parse(argc, argv, flags, 0, &a, usage);
    if (prc) return prc < 0 ? 0 : prc;
    if (!ckpt || !vpath || !apath || !out || a.n_over) {
        fprintf(stderr, "seqjepa embed: --ckpt, --views, --actions and --out are required (and nothing else)\n\n%s", usage);
        return 2;
    }
    char err[1024];
    WmArray V = {0}, Av = {0}, Nv = {0};
    SjModel *m = NULL;
    float *z = NULL, *za = NULL, *zt = NULL, *zh = NULL;
    int64_t step;
    int status = 1;
    nn_runtime_init(0);
    if (sj_checkpoint_load(ckpt, &m, NULL, &step, err, sizeof err) || wm_npy_read(vpath, &V, WM_NPY_MMAP, err, sizeof err) ||
        wm_npy_read(apath, &Av, WM_NPY_MMAP, err, sizeof err))
        goto fail;
    const SjShape *sh = sj_model_shape(m);
    if (V.dtype != WM_U8 || V.ndim != 5 || (int)V.shape[2] != sh->img_h || (int)V.shape[3] != sh->img_w || V.shape[4] != 3) {
        snprintf(err, sizeof err, "'%s' must be uint8 [N, M, %d, %d, 3] for this checkpoint; it is %s with %d dims%s", vpath,
                 sh->img_h, sh->img_w, wm_dtype_name(V.dtype), V.ndim, V.ndim == 5 ? " of other sizes" : "");
        goto fail;
    }
    size_t N = V.shape[0], M = V.shape[1];
    if (N < 1 || M < 1 || M > 64) {
        snprintf(err, sizeof err, "'%s': need N >= 1 sequences of 1 to 64 views (have N=%zu, M=%zu)", vpath, N, M);
        goto fail;
    }
    if (Av.dtype != WM_F32 || Av.ndim != 3 || Av.shape[0] != N || Av.shape[1] != M - 1 || (int)Av.shape[2] != sh->action_dim) {
        snprintf(err, sizeof err, "'%s' must be float32 [%zu, %zu, %d] (N, M-1 and the checkpoint's action_dim); it is %s [%zu, %zu, %zu]",
                 apath, N, M - 1, sh->action_dim, wm_dtype_name(Av.dtype), Av.ndim > 0 ? Av.shape[0] : 0,
                 Av.ndim > 1 ? Av.shape[1] : 0, Av.ndim > 2 ? Av.shape[2] : 0);
        goto fail;
    }
    if (npath) {
        if (wm_npy_read(npath, &Nv, WM_NPY_MMAP, err, sizeof err)) goto fail;
        if (Nv.dtype != WM_F32 || Nv.ndim != 2 || Nv.shape[0] != N || (int)Nv.shape[1] != sh->action_dim) {
            snprintf(err, sizeof err, "'%s' must be float32 [%zu, %d] (N and the checkpoint's action_dim)", npath, N,
                     sh->action_dim);
            goto fail;
        }
    }
    int D = sj_model_enc_dim(m), E = sj_model_agg_dim(m), A = sh->action_dim, chunk = 64;
    sj_model_bind(m, chunk, (int)M, 0);
    z = wm_new(float, N * M * (size_t)D);
    za = wm_new(float, N * (size_t)E);
    zt = wm_new(float, N * M * (size_t)D);
    sj_model_encode(m, V.data, (int)(N * M), z);
    sj_model_encode_target(m, V.data, (int)(N * M), zt);
    if (npath) zh = wm_new(float, N * (size_t)D);
    for (size_t b0 = 0; b0 < N; b0 += (size_t)chunk) {
        int nb = (int)(N - b0 < (size_t)chunk ? N - b0 : (size_t)chunk);
        sj_model_aggregate(m, z + b0 * M * D, (const float *)Av.data + b0 * (M - 1) * A, nb, (int)M, 0, za + b0 * E);
        if (zh) sj_model_predict(m, za + b0 * E, (const float *)Nv.data + b0 * A, nb, zh + b0 * D);
    }
    char p1[1100], p2[1100], p3[1100], p4[1100];
    size_t zs[3] = {N, M, (size_t)D}, zas[2] = {N, (size_t)E}, zhs[2] = {N, (size_t)D};
    if (wm_mkdirs(out, err, sizeof err) || wm_path_join(p1, sizeof p1, out, "z.npy") ||
        wm_path_join(p2, sizeof p2, out, "z_agg.npy") || wm_path_join(p3, sizeof p3, out, "z_target.npy") ||
        wm_path_join(p4, sizeof p4, out, "z_hat.npy") || wm_npy_write(p1, WM_F32, 3, zs, z, err, sizeof err) ||
        wm_npy_write(p2, WM_F32, 2, zas, za, err, sizeof err) || wm_npy_write(p3, WM_F32, 3, zs, zt, err, sizeof err) ||
        (zh && wm_npy_write(p4, WM_F32, 2, zhs, zh, err, sizeof err)))
        goto fail;
    printf("wrote %s [%zu, %zu, %d], %s and %s [%zu, %d]%s%s\n", p1, N, M, D, p3, p2, N, E, zh ? " and " : "",
           zh ? p4 : "");
    status = 0;
    goto done;
fail:
    run_error("embed", err);
done:
    wm_array_free(&V), wm_array_free(&Av), wm_array_free(&Nv);
    wm_free(z), wm_free(za), wm_free(zt), wm_free(zh);
    sj_model_destroy(m);
    nn_runtime_shutdown();
    return status;
}
