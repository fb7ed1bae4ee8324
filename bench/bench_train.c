/* `seqjepa bench train`: training-step throughput of the model for the quick and
 * default presets and the reference configuration (ResNet-18-CIFAR, 32 px, batch 32,
 * M_train 3), on batches rolled out from the environment once beforehand so that
 * only the trainer is timed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "run/args.h"
#include "bench/bench.h"
#include "run/runcfg.h"
#include "data/rollout.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/progress.h"
#include "model/sj_model.h"

static const char *usage =
    "usage: seqjepa bench train [--steps N] [--threads N] [--rounds N] [--only LIST] [--no-torch]\n"
    "                           [--paths] [model.precision=bf16 ...]\n\n"
    "Times seq-JEPA training steps (forward, backward, AdamW, EMA) for: the quick and\n"
    "default objects3d presets (configs/objects3d-quick.ini, configs/objects3d-default.ini)\n"
    "and the reference configuration ResNet-18-CIFAR at 32 px, batch 32, M_train 3.\n"
    "When /usr/bin/python3 has torch, PyTorch runs the same model, batch and thread count\n"
    "(bench/torch_train.py) alternately with ours, --rounds times per configuration (default\n"
    "2), with the load average printed before and after every run; the last line of each\n"
    "configuration gives the best rate of each side and their ratio. --only takes a comma\n"
    "list of quick,default,reference; section.key=value overrides apply to every\n"
    "configuration (e.g. model.precision=bf16). --paths prints, for one step of each\n"
    "configuration, the route every convolution pass took (direct, im2col, ...), the GEMM\n"
    "path (the engine's own, OpenBLAS; fp32 or bf16) of every product shape, and their\n"
    "CPU times (CPU seconds, which other processes barely move); for the convolution passes\n"
    "also their wall time and the cores they kept busy. Each configuration also\n"
    "gives the step's GFLOP/s (convolutions and matrix products of forward and backward,\n"
    "counted from the layer shapes) against the sgemm rate measured before and after its\n"
    "rounds (as in `seqjepa bench ops`). SEQJEPA_GEMM=blas|own|auto\n"
    "selects the GEMM path; SEQJEPA_DNNL=0 keeps every convolution pass on the engine's own\n"
    "routes (auto, the default, sends the passes where oneDNN measured faster to oneDNN; all\n"
    "sends every pass there, for measuring); SEQJEPA_WINOGRAD=0 keeps the 3x3 stride-1 passes\n"
    "on direct sums instead of Winograd (the GFLOP count is always that of direct sums).\n";

#define TORCH_PY     "/usr/bin/python3"
#define TORCH_SCRIPT "bench/torch_train.py"

typedef struct {
    int steps, threads, rounds, torch, paths;
} TrainArgs;

static const WmCfgField *model_field(const char *key) {
    for (int i = 0; i < SjModelConfig_nfields; i++)
        if (!strcmp(SjModelConfig_fields[i].key, key)) return &SjModelConfig_fields[i];
    WM_ASSERT(!"no such [model] key");
    return NULL;
}

/* Whether PyTorch can be measured: the interpreter, torch importable, the script. */
static int torch_available(void) {
    if (access(TORCH_PY, X_OK) || access(TORCH_SCRIPT, R_OK)) return 0;
    return system(TORCH_PY " -c 'import torch' >/dev/null 2>&1") == 0;
}

/* One PyTorch run of configuration label: its sequences/s and peak RSS (MiB), or -1
 * with the reason in err. */
static double torch_run(const char *label, const TrainArgs *ta, double *rss_mib, char *err, size_t errsz) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, TORCH_PY " " TORCH_SCRIPT " --only %s --steps %d --threads %d --machine 2>&1",
             label, ta->steps, ta->threads);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(err, errsz, "cannot run %s", cmd);
        return -1;
    }
    char line[1024], last[1024] = "";
    double rate = -1;
    *rss_mib = -1;
    while (fgets(line, sizeof line, p)) {
        double r, s, m;
        if (sscanf(line, "RESULT %lf %lf %lf", &r, &s, &m) == 3) rate = r, *rss_mib = m;
        else snprintf(last, sizeof last, "%s", line);
    }
    int st = pclose(p);
    if (rate < 0 || st != 0) {
        last[strcspn(last, "\n")] = 0;
        snprintf(err, errsz, "%s gave no result (exit status %d): %s", cmd, st, last);
        return -1;
    }
    return rate;
}

static int bench_one(const char *label, const char *cfg_path, char **over, int n_over, const TrainArgs *ta,
                     char *err, size_t errsz) {
    static RunConfig rc;
    if (run_config_load(&rc, cfg_path, n_over, over, err, errsz)) return WM_ERR_ARG;
    Env *env;
    int rc0 = env_create(&rc.env, 64, &env, err, errsz);
    if (rc0) return rc0;
    Agent *ag;
    int r = ag_create(&rc.agent, &rc.env, env_spec(env), 64, &ag, err, errsz);
    const EnvSpec *sp = env_spec(env);
    int B = rc.train.batch, M = rc.train.m_train;
    AgBatch b = {0};
    if (!r) r = ag_batch_alloc(&b, sp, B, M + 1, 0, err, errsz);
    if (!r) r = ag_rollout(env, ag, 1, ENV_SPLIT_TRAIN, 0, B, &b, err, errsz);
    SjShape sh = {sp->height, sp->width, sp->action_dim, sp->n_classes};
    ag_destroy(ag);
    env_destroy(env);
    SjModel *m = NULL;
    if (!r) r = sj_model_create(&rc.model, &sh, 1, &m, err, errsz);
    if (!r) {
        sj_model_set_optim(m, &rc.optim);
        sj_model_bind(m, B, M, 1);
        WmRng rng;
        wm_rng_seed(&rng, 1, 2);
        SjStepOut o;
        sj_model_train_step(m, b.pixels, b.actions, B, M + 1, M, &rng, &o); /* warm-up */
        sj_model_update(m, 1e-4, 0.99);
        char enc[WM_CFG_STR_MAX], prec[WM_CFG_STR_MAX];
        wm_cfg_enum_name(model_field("encoder"), rc.model.encoder, enc, sizeof enc);
        wm_cfg_enum_name(model_field("precision"), rc.model.precision, prec, sizeof prec);
        printf("%s: encoder %s width %d, %d px, batch %d, M_train %d, %s, %zu parameters\n", label, enc,
               rc.model.encoder == SJ_ENC_SMALL ? rc.model.width : 64, sh.img_h, B, M, prec,
               sj_model_param_count(m));
        if (ta->paths) {
            nn_paths_record(1);
            sj_model_train_step(m, b.pixels, b.actions, B, M + 1, M, &rng, &o);
            sj_model_update(m, 1e-4, 0.99);
            nn_paths_record(0);
            printf("  routes and GEMM paths of one step (SEQJEPA_GEMM=%s):\n", nn_gemm_path_name(nn_get_gemm_path()));
            nn_paths_print(stdout);
        }
        /* the sgemm rate of this run, before and after the configuration's rounds (the
         * better of the two), so the step's GFLOP/s has a same-minute reference */
        double sgemm = bench_sgemm_best(), flop = sj_model_step_flops(m, B, M);
        double best = 0, best_cpu = 0, best_torch = 0, torch_rss = -1;
        for (int round = 0; round < ta->rounds && !r; round++) {
            double l0 = bench_load_average(), t0 = wm_now(), c0 = wm_cpu_now();
            for (int i = 0; i < ta->steps; i++) {
                sj_model_train_step(m, b.pixels, b.actions, B, M + 1, M, &rng, &o);
                sj_model_update(m, 1e-4, 0.99);
            }
            double dt = (wm_now() - t0) / ta->steps, l1 = bench_load_average();
            double cpu = (wm_cpu_now() - c0) / ta->steps;
            if (B / dt > best) best = B / dt;
            if (best_cpu == 0 || cpu < best_cpu) best_cpu = cpu;
            size_t params = sj_model_param_count(m);
            double mem = (double)sj_model_bound_bytes(m) + 4.0 * 4.0 * (double)params;
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            printf("  seqjepa  %7.1f sequences/s  %6.1f GFLOP/s  (%.3f s/step; %.1f GFLOP per CPU-s)  model memory "
                   "%6.1f MiB  peak RSS %6.1f MiB  load %.2f -> %.2f\n",
                   B / dt, flop / dt * 1e-9, dt, flop / cpu * 1e-9,
                   mem / (1 << 20), ru.ru_maxrss / 1024.0, l0, l1);
            fflush(stdout);
            if (!ta->torch) continue;
            l0 = bench_load_average();
            double rss, tr = torch_run(label, ta, &rss, err, errsz);
            l1 = bench_load_average();
            if (tr < 0) {
                r = WM_ERR_IO;
                break;
            }
            if (tr > best_torch) best_torch = tr;
            torch_rss = rss;
            printf("  pytorch  %7.1f sequences/s  %6.1f GFLOP/s  (%.3f s/step)  fp32  peak RSS %6.1f MiB  "
                   "load %.2f -> %.2f\n",
                   tr, flop * tr / B * 1e-9, B / tr, rss, l0, l1);
            fflush(stdout);
        }
        if (!r) {
            double after = bench_sgemm_best();
            if (after > sgemm) sgemm = after;
            double rate = flop * best / B * 1e-9, per_cpu = flop / best_cpu * 1e-9;
            printf("  %s: step %.1f GFLOP/s (%.2f GFLOP per step, at the best rate) = %.0f%% of the sgemm rate of "
                   "this run (%.1f GFLOP/s, better of before and after); per CPU-second %.1f GFLOP = %.0f%% of "
                   "sgemm's %.1f\n",
                   label, rate, flop * 1e-9, 100 * rate / sgemm, sgemm, per_cpu,
                   100 * per_cpu / bench_sgemm_per_cpu(), bench_sgemm_per_cpu());
            const int bf16 = rc.model.precision == SJ_PREC_BF16;
            const int wino = !bf16 && nn_get_winograd() && nn_dnnl_available() && nn_get_dnnl_route() != NN_DNNL_OFF;
            if (bf16 || wino)
                printf("  %s: the GFLOP count is that of direct float sums; %s, so these rates are effective ones "
                       "(%s)\n",
                       label,
                       bf16 ? "bf16 products run at up to twice the float rate"
                            : "the Winograd passes (3x3 stride-1 layers from 32 channels) multiply 2.25 to 4 times less",
                       bf16 ? "model.precision=fp32 for float" : "SEQJEPA_WINOGRAD=0 for direct sums");
        }
        if (!r && ta->torch)
            printf("  %s: seqjepa %.1f, PyTorch %.1f sequences/s (best of %d): ratio %.2fx (PyTorch peak RSS %.0f "
                   "MiB)\n",
                   label, best, best_torch, ta->rounds, best / best_torch, torch_rss);
        else if (!r)
            printf("  %s: seqjepa %.1f sequences/s (best of %d; PyTorch not measured)\n", label, best, ta->rounds);
        fflush(stdout);
    }
    sj_model_destroy(m);
    ag_batch_free(&b);
    return r;
}

static int wanted(const char *only, const char *label) {
    if (!only) return 1;
    size_t n = strlen(label);
    for (const char *p = only; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && !strncmp(p, label, n)) return 1;
        p += k;
        if (*p) p++;
    }
    return 0;
}

int cli_bench_train(int argc, char **argv) {
    const char *steps_s = NULL, *threads_s = NULL, *rounds_s = NULL, *only = NULL, *no_torch = NULL, *paths = NULL;
    RunFlag flags[] = {{"--steps", 1, &steps_s}, {"--threads", 1, &threads_s}, {"--rounds", 1, &rounds_s},
                       {"--only", 1, &only},     {"--no-torch", 0, &no_torch}, {"--paths", 0, &paths},
                       {NULL, 0, NULL}};
    RunArgs a;
    int prc = run_args_parse(argc, argv, flags, 0, &a, usage);
    if (prc) return prc < 0 ? 0 : prc;
    TrainArgs ta = {steps_s ? atoi(steps_s) : 5, threads_s ? atoi(threads_s) : 0, rounds_s ? atoi(rounds_s) : 2, 0, paths != NULL};
    if (ta.steps < 1 || ta.steps > 100000 || ta.threads < 0 || ta.rounds < 1 || ta.rounds > 1000) {
        fprintf(stderr, "seqjepa bench train: --steps must be in [1, 100000], --rounds in [1, 1000] and --threads "
                        ">= 0\n\n%s",
                usage);
        return 2;
    }
    static const char *const labels[] = {"quick", "default", "reference"};
    if (only)
        for (const char *p = only; *p;) {
            size_t k = strcspn(p, ",");
            int ok = 0;
            for (int i = 0; i < 3; i++) ok |= strlen(labels[i]) == k && !strncmp(p, labels[i], k);
            if (!ok) {
                fprintf(stderr, "seqjepa bench train: --only '%s': expected a comma list of quick, default, "
                                "reference\n\n%s",
                        only, usage);
                return 2;
            }
            p += k;
            if (*p) p++;
        }
    nn_runtime_init(ta.threads);
    ta.threads = nn_runtime_threads();
    ta.torch = !no_torch && torch_available();
    if (!no_torch && !ta.torch)
        printf("PyTorch not measured: %s with torch, or %s, not found\n", TORCH_PY, TORCH_SCRIPT);
    char err[1024];
    /* the reference configuration's four settings, then the user's overrides */
    char *over[4 + 256] = {"model.encoder=resnet18-cifar", "env.size=32", "train.batch=32", "train.m_train=3"};
    for (int i = 0; i < a.n_over; i++) over[4 + i] = a.over[i];
    int r = 0;
    if (wanted(only, "quick"))
        r = bench_one("quick", "configs/objects3d-quick.ini", over + 4, a.n_over, &ta, err, sizeof err);
    if (!r && wanted(only, "default"))
        r = bench_one("default", "configs/objects3d-default.ini", over + 4, a.n_over, &ta, err, sizeof err);
    if (!r && wanted(only, "reference"))
        r = bench_one("reference", "configs/objects3d-quick.ini", over, 4 + a.n_over, &ta, err, sizeof err);
    nn_runtime_shutdown();
    if (r) {
        run_error("bench train", err);
        return 1;
    }
    return 0;
}
