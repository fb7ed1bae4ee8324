/* `seqjepa bench train`: training-step throughput of the model for the quick and
 * default presets and the reference configuration (ResNet-18-CIFAR, 32 px, batch 32,
 * M_train 3), on batches rolled out from the environment once beforehand so that
 * only the trainer is timed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "run/args.h"
#include "bench/bench.h"
#include "run/runcfg.h"
#include "data/rollout.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/progress.h"
#include "model/sj_model.h"

static const char *usage =
    "usage: seqjepa bench train [--steps N] [--threads N] [--configs LIST]\n\n"
    "Times seq-JEPA training steps (forward, backward, AdamW, EMA) for: the quick and\n"
    "default objects3d presets (configs/objects3d-quick.ini, configs/objects3d-default.ini)\n"
    "and the reference configuration ResNet-18-CIFAR at 32 px, batch 32, M_train 3.\n"
    "Prints one line each: sequences/s, GFLOP/s, model memory and the process's peak RSS.\n"
    "bench/torch_train.py times the same configurations in PyTorch.\n"
    "  --steps N       timed steps per configuration, after one warm-up step (default 5)\n"
    "  --configs LIST  comma-separated subset of quick,default,reference (default: all)\n";

static const char *const config_names[] = {"quick", "default", "reference"};

/* 1 when every comma-separated item of list names a configuration, and sets want[i] for
 * each one named. */
static int parse_configs(const char *list, int want[3]) {
    for (const char *p = list;;) {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (int i = 0; i < 3; i++)
            if (len == strlen(config_names[i]) && !strncmp(p, config_names[i], len))
                want[i] = found = 1;
        if (!found) return 0;
        if (!p[len]) return 1;
        p += len + 1;
    }
}

static int bench_one(const char *label, const char *cfg_path, char **over, int n_over, int steps, char *err, size_t errsz) {
    static RunConfig rc;
    if (run_config_load(&rc, cfg_path, n_over, over, err, errsz)) return WM_ERR_ARG;
    Env *env = env_create(&rc.env, 64, err, errsz);
    if (!env) return WM_ERR_ARG;
    Agent *ag = ag_create(&rc.agent, &rc.env, env_spec(env), 64, err, errsz);
    const EnvSpec *sp = env_spec(env);
    int B = rc.train.batch, M = rc.train.m_train, r = ag ? WM_OK : WM_ERR_ARG;
    AgBatch b = {0};
    if (!r) r = ag_batch_alloc(&b, sp, B, M + 1, 0, err, errsz);
    if (!r) r = ag_rollout(env, ag, 1, ENV_SPLIT_TRAIN, 0, B, &b, err, errsz);
    SjShape sh = {sp->height, sp->width, sp->action_dim, sp->n_classes};
    ag_destroy(ag);
    env_destroy(env);
    SjModel *m = r ? NULL : sj_model_create(&rc.model, &sh, 1, err, errsz);
    if (!r && !m) r = WM_ERR_ARG;
    if (!r) {
        sj_model_set_optim(m, &rc.optim);
        sj_model_bind(m, B, M, 1);
        WmRng rng;
        wm_rng_seed(&rng, 1, 2);
        SjStepOut o;
        sj_model_train_step(m, b.pixels, b.actions, B, M + 1, M, &rng, &o); /* warm-up */
        sj_model_update(m, 1e-4, 0.99);
        double t0 = wm_now();
        for (int i = 0; i < steps; i++) {
            sj_model_train_step(m, b.pixels, b.actions, B, M + 1, M, &rng, &o);
            sj_model_update(m, 1e-4, 0.99);
        }
        double dt = (wm_now() - t0) / steps;
        size_t params = sj_model_param_count(m);
        double mem = (double)sj_model_bound_bytes(m) + 4.0 * 4.0 * (double)params;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        char enc[WM_CFG_STR_MAX];
        const WmCfgField *ef = &SjModelConfig_fields[0];
        wm_cfg_enum_name(ef, rc.model.encoder, enc, sizeof enc);
        printf("%-10s encoder %-14s width %-3d %3d px  batch %3d  M_train %d  %7.1f sequences/s  %6.1f GFLOP/s  "
               "model memory %6.1f MiB  peak RSS %6.1f MiB  (%.3f s/step, %zu parameters)\n",
               label, enc, rc.model.encoder == SJ_ENC_SMALL ? rc.model.width : 64, sh.img_h, B, M, B / dt,
               sj_model_step_flops(m, B, M) / dt * 1e-9, mem / (1 << 20), ru.ru_maxrss / 1024.0, dt, params);
        fflush(stdout);
    }
    sj_model_destroy(m);
    ag_batch_free(&b);
    return r;
}

int cli_bench_train(int argc, char **argv) {
    const char *steps_s = NULL, *threads_s = NULL, *configs_s = NULL;
    RunFlag flags[] = {{"--steps", 1, &steps_s},
                       {"--threads", 1, &threads_s},
                       {"--configs", 1, &configs_s},
                       {NULL, 0, NULL}};
    RunArgs a;
    int prc = run_args_parse(argc, argv, flags, 0, &a, usage);
    if (prc) return prc < 0 ? 0 : prc;
    int steps = steps_s ? atoi(steps_s) : 5, threads = threads_s ? atoi(threads_s) : 0;
    if (steps < 1 || steps > 100000 || threads < 0 || a.n_over) {
        fprintf(stderr, "seqjepa bench train: --steps must be in [1, 100000] and --threads >= 0\n\n%s", usage);
        return 2;
    }
    int want[3] = {!configs_s, !configs_s, !configs_s};
    if (configs_s && !parse_configs(configs_s, want)) {
        fprintf(stderr,
                "seqjepa bench train: --configs takes names from quick,default,reference, got "
                "'%s'\n\n%s",
                configs_s, usage);
        return 2;
    }
    nn_runtime_init(threads);
    char err[1024];
    char *ref[] = {"model.encoder=resnet18-cifar", "env.size=32", "train.batch=32", "train.m_train=3"};
    int r = 0;
    if (want[0])
        r = bench_one(config_names[0], "configs/objects3d-quick.ini", NULL, 0, steps, err,
                      sizeof err);
    if (!r && want[1])
        r = bench_one(config_names[1], "configs/objects3d-default.ini", NULL, 0, steps, err,
                      sizeof err);
    if (!r && want[2])
        r = bench_one(config_names[2], "configs/objects3d-quick.ini", ref, 4, steps, err,
                      sizeof err);
    nn_runtime_shutdown();
    if (r) {
        run_error("bench train", err);
        return 1;
    }
    return 0;
}
