/* `seqjepa bench saccade`: glimpses/s, saliency maps/s, procedural scenes/s and
 * sequences/s of the saccade world, on one thread and on every core. */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agent.h"
#include "data/rollout.h"
#include "bench/bench.h"
#include "run/args.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/pool.h"
#include "core/progress.h"
#include "core/rng.h"
#include "envs/env.h"
#include "envs/saccade.h"

enum { S = 96, F = 32, N_SCENES = 64, N_FIX = 4096 };

typedef struct {
    const uint8_t *scenes;
    const double *fix;       /* N_FIX (y, x) pixel coordinates */
    uint8_t *out;            /* one glimpse buffer per worker */
    float *sal, *work;       /* per worker */
    int method, reps, n_out; /* n_out: glimpse output side */
    Env **envs;
    int lanes;
} Ctx;

static void glimpse_task(void *vctx, int64_t begin, int64_t end, int worker) {
    Ctx *c = vctx;
    uint8_t *out = c->out + (size_t)worker * 4 * F * F * 3;
    for (int64_t i = begin; i < end; i++) {
        int k = (int)(i % N_FIX);
        env_saccade_glimpse(c->scenes + (size_t)(i % N_SCENES) * S * S * 3, S, c->fix[2 * k],
                            c->fix[2 * k + 1], F, c->n_out, out);
    }
}

static void saliency_task(void *vctx, int64_t begin, int64_t end, int worker) {
    Ctx *c = vctx;
    float *sal = c->sal + (size_t)worker * S * S;
    float *work = c->work + (size_t)worker * env_saliency_work_floats(S);
    for (int64_t i = begin; i < end; i++)
        env_saliency(c->scenes + (size_t)(i % N_SCENES) * S * S * 3, S, c->method, sal, work);
}

static void scene_task(void *vctx, int64_t begin, int64_t end, int worker) {
    Ctx *c = vctx;
    uint8_t *img = c->out + (size_t)worker * S * S * 3;
    for (int64_t i = begin; i < end; i++)
        env_saccade_procedural(i, S, img);
}

/* Each worker observes every lane of its own Env `reps` times. */
static void observe_task(void *vctx, int64_t begin, int64_t end, int worker) {
    Ctx *c = vctx;
    uint8_t *px = c->out + (size_t)worker * c->lanes * F * F * 3;
    EnvObs obs[256];
    int ids[256];
    for (int j = 0; j < c->lanes; j++) {
        obs[j] = (EnvObs){px + (size_t)j * F * F * 3, NULL, 0, 0};
        ids[j] = j;
    }
    for (int64_t i = begin; i < end; i++)
        for (int r = 0; r < c->reps; r++)
            env_observe(c->envs[i], c->lanes, ids, obs);
}

typedef struct {
    double one, all, cpu; /* items/s: 1 thread, every thread, per CPU-second of 1 thread */
} Rate;

/* Runs fn over n items at least twice and for at least min_s seconds on this thread,
 * then on the pool; keeps the best pass of each (other processes only slow passes down).
 * The CPU-time rate of the one-thread passes does not depend on other processes. */
static Rate measure(WmPool *p, int64_t n, WmPoolFn fn, Ctx *c, double min_s) {
    Rate r = {0, 0, 0};
    for (int pool = 0; pool < 2; pool++) {
        double start = wm_now();
        for (int pass = 0; pass < 2 || wm_now() - start < min_s; pass++) {
            double t0 = wm_now(), c0 = wm_thread_cpu_now();
            wm_pool_for(pool ? p : NULL, n, fn, c);
            double wall = wm_now() - t0, cpu = wm_thread_cpu_now() - c0;
            double *best = pool ? &r.all : &r.one;
            if (n / wall > *best) *best = n / wall;
            if (!pool && n / cpu > r.cpu) r.cpu = n / cpu;
        }
    }
    return r;
}

static void print_rate(const char *what, Rate r, double scale) {
    printf("  %-30s %12.0f %12.0f %14.0f\n", what, r.one * scale, r.all * scale, r.cpu * scale);
}

int cli_bench_saccade(int argc, char **argv) {
    double min_s = 1.0;
    for (int i = 1; i < argc; i++) {
        if (run_is_help(argv[i])) {
            printf("usage: seqjepa bench saccade [--seconds S]\n\n"
                   "Glimpses/s (32x32 from 96x96 scenes), saliency maps/s, procedural scenes/s\n"
                   "and rollout sequences/s, on one thread and on every core.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            char *end;
            min_s = strtod(argv[++i], &end);
            if (*end || !(min_s > 0 && min_s < 3600)) {
                fprintf(stderr, "seqjepa bench saccade: bad --seconds '%s'\n", argv[i]);
                return 2;
            }
            continue;
        }
        fprintf(stderr, "seqjepa bench saccade: unknown argument '%s'\n", argv[i]);
        return 2;
    }
    int cores = wm_cpu_count();
    WmPool *pool = wm_pool_create(0);
    int nt = wm_pool_size(pool);
    Ctx c = {0};
    uint8_t *scenes = wm_new(uint8_t, (size_t)N_SCENES * S * S * 3);
    for (int i = 0; i < N_SCENES; i++)
        env_saccade_procedural(i, S, scenes + (size_t)i * S * S * 3);
    double *fix = wm_new(double, 2 * N_FIX);
    WmRng r;
    wm_rng_seed(&r, 1, 0);
    for (int k = 0; k < 2 * N_FIX; k++)
        fix[k] = (double)wm_rng_below(&r, ENV_SACCADE_GRID + 1) * S / ENV_SACCADE_GRID;
    c.scenes = scenes;
    c.fix = fix;
    c.out = wm_new(uint8_t, (size_t)nt * 256 * F * F * 3);
    c.sal = wm_new(float, (size_t)nt *S *S);
    c.work = wm_new(float, (size_t)nt *env_saliency_work_floats(S));
    double load = bench_load_average();
    printf("saccade world: %dx%d scenes, %dx%d fovea; %d cores online, pool of %d threads\n", S, S,
           F, F, cores, nt);
    if (load >= 0)
        printf("load average %.2f at the start: other processes slow the wall-clock columns, "
               "not the CPU-second one\n",
               load);
    printf("  %-30s %12s %12s %14s\n", "per second", "1 thread", "all threads", "per CPU-second");

    c.n_out = F;
    print_rate("glimpses 32x32", measure(pool, 400000, glimpse_task, &c, min_s), 1);
    c.n_out = 2 * F;
    print_rate("glimpses 32x32 resized to 64", measure(pool, 100000, glimpse_task, &c, min_s), 1);

    /* env_observe on 256 lanes, one Env per thread (observe is per-lane read-only). */
    char err[512];
    EnvConfig ec;
    WM_CFG_DEFAULTS(EnvConfig, &ec);
    ec.kind = ENV_KIND_SACCADE;
    ec.size = F;
    c.lanes = 256;
    c.envs = wm_new(Env *, (size_t)nt);
    for (int w = 0; w < nt; w++) {
        if (env_create(&ec, c.lanes, &c.envs[w], err, sizeof err)) {
            run_error("bench saccade", err);
            return 1;
        }
        for (int j = 0; j < c.lanes; j++)
            env_reset(c.envs[w], j, (uint64_t)(w * 1000 + j), 0, NULL);
    }
    c.reps = 200;
    print_rate("env_observe glimpses, 256 lanes", measure(pool, nt, observe_task, &c, min_s),
               (double)c.reps * c.lanes);
    const char *names[2] = {"saliency maps, contrast", "saliency maps, spectral"};
    for (int m = 0; m < 2; m++) {
        c.method = m;
        print_rate(names[m], measure(pool, 2000, saliency_task, &c, min_s), 1);
    }
    print_rate("procedural scenes", measure(pool, 2000, scene_task, &c, min_s), 1);

    /* A trainer's producer: 5-view sequences (4 glimpses + target), saliency agent. */
    AgentConfig ac;
    WmCfgSection asec = {"agent", AgentConfig_fields, AgentConfig_nfields, 0, 0, NULL};
    WmCfgSchema aschema = {&asec, 1};
    wm_cfg_defaults(&aschema, &ac);
    Env *e = c.envs[0];
    Agent *a;
    AgBatch b;
    if (ag_create(&ac, &ec, env_spec(e), c.lanes, &a, err, sizeof err) ||
        ag_batch_alloc(&b, env_spec(e), 256, 5, 0, err, sizeof err)) {
        run_error("bench saccade", err);
        return 1;
    }
    /* The rollout drives one Env and one Agent: one thread. */
    Rate rr = {0, 0, 0};
    double start = wm_now();
    for (int pass = 0; pass < 2 || wm_now() - start < min_s; pass++) {
        double t0 = wm_now(), c0 = wm_thread_cpu_now();
        if (ag_rollout(e, a, 1, ENV_SPLIT_TRAIN, (uint64_t)pass * 256, 256, &b, err, sizeof err)) {
            run_error("bench saccade", err);
            return 1;
        }
        double wall = wm_now() - t0, cpu = wm_thread_cpu_now() - c0;
        if (256 / wall > rr.one) rr.one = 256 / wall;
        if (256 / cpu > rr.cpu) rr.cpu = 256 / cpu;
    }
    printf("  %-30s %12.0f %12s %14.0f\n", "rollout: 5-view sequences", rr.one, "-", rr.cpu);
    printf("  (a sequence: a scene, its saliency, a first fixation, 4 saccades of the saliency "
           "agent, 5 glimpses)\n");
    ag_batch_free(&b);
    ag_destroy(a);
    for (int w = 0; w < nt; w++)
        env_destroy(c.envs[w]);
    wm_free(c.envs);
    wm_free(c.out);
    wm_free(c.sal);
    wm_free(c.work);
    wm_free(fix);
    wm_free(scenes);
    wm_pool_destroy(pool);
    return 0;
}
