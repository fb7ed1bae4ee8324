/* `seqjepa bench saccade`: glimpses/s, saliency maps/s, procedural scenes/s and
 * sequences/s of the saccade world, on one thread and on every core. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agent.h"
#include "agents/rollout.h"
#include "cli/commands.h"
#include "core/alloc.h"
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

/* Runs fn over n items on pool p (NULL: this thread) at least twice and for at least
 * min_s seconds; returns items per second of the best pass. */
static double rate(WmPool *p, int64_t n, WmPoolFn fn, Ctx *c, double min_s) {
    double best = 0, start = wm_now();
    for (int pass = 0; pass < 2 || wm_now() - start < min_s; pass++) {
        double t0 = wm_now();
        wm_pool_for(p, n, fn, c);
        double r = n / (wm_now() - t0);
        if (r > best) best = r;
    }
    return best;
}

int cli_bench_saccade(int argc, char **argv) {
    double min_s = 1.0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
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
    printf("saccade world, %dx%d scenes, %dx%d fovea; %d cores online, pool of %d threads\n", S, S,
           F, F, cores, nt);

    c.n_out = F;
    double g1 = rate(NULL, 400000, glimpse_task, &c, min_s);
    double gn = rate(pool, 400000, glimpse_task, &c, min_s);
    printf(
        "  glimpse kernel          %10.0f glimpses/s (1 thread)  %10.0f glimpses/s (%d threads)\n",
        g1, gn, nt);
    c.n_out = 2 * F;
    double r1 = rate(NULL, 100000, glimpse_task, &c, min_s);
    double rn = rate(pool, 100000, glimpse_task, &c, min_s);
    printf(
        "  glimpse resized to %dx%d %9.0f glimpses/s (1 thread)  %10.0f glimpses/s (%d threads)\n",
        2 * F, 2 * F, r1, rn, nt);

    /* env_observe on 256 lanes, one Env per thread (observe is per-lane read-only). */
    char err[512];
    EnvConfig ec;
    WmCfgSection sec = {"env", EnvConfig_fields, EnvConfig_nfields, 0};
    WmCfgSchema schema = {&sec, 1};
    wm_cfg_defaults(&schema, &ec);
    ec.kind = 1;
    ec.size = F;
    c.lanes = 256;
    c.envs = wm_new(Env *, (size_t)nt);
    for (int w = 0; w < nt; w++) {
        c.envs[w] = env_create(&ec, c.lanes, err, sizeof err);
        if (!c.envs[w]) {
            fprintf(stderr, "seqjepa bench saccade: %s\n", err);
            return 1;
        }
        for (int j = 0; j < c.lanes; j++)
            env_reset(c.envs[w], j, (uint64_t)(w * 1000 + j), 0, NULL);
    }
    c.reps = 200;
    double o1 = rate(NULL, 1, observe_task, &c, min_s) * c.reps * c.lanes;
    double on = rate(pool, nt, observe_task, &c, min_s) * c.reps * c.lanes;
    printf(
        "  env_observe (256 lanes) %10.0f glimpses/s (1 thread)  %10.0f glimpses/s (%d threads)\n",
        o1, on, nt);

    const char *names[2] = {"contrast", "spectral"};
    for (int m = 0; m < 2; m++) {
        c.method = m;
        double s1 = rate(NULL, 2000, saliency_task, &c, min_s);
        double sn = rate(pool, 2000, saliency_task, &c, min_s);
        printf("  saliency %-14s %10.0f maps/s     (1 thread)  %10.0f maps/s     (%d threads)\n",
               names[m], s1, sn, nt);
    }
    double p1 = rate(NULL, 2000, scene_task, &c, min_s);
    double pn = rate(pool, 2000, scene_task, &c, min_s);
    printf(
        "  procedural scenes       %10.0f scenes/s   (1 thread)  %10.0f scenes/s   (%d threads)\n",
        p1, pn, nt);

    /* A trainer's producer: 5-view sequences (4 glimpses + target), saliency agent. */
    AgentConfig ac;
    WmCfgSection asec = {"agent", AgentConfig_fields, AgentConfig_nfields, 0};
    WmCfgSchema aschema = {&asec, 1};
    wm_cfg_defaults(&aschema, &ac);
    Env *e = c.envs[0];
    Agent *a = ag_create(&ac, &ec, env_spec(e), c.lanes, err, sizeof err);
    AgBatch b;
    if (!a || ag_batch_alloc(&b, env_spec(e), 256, 5, 0, err, sizeof err)) {
        fprintf(stderr, "seqjepa bench saccade: %s\n", err);
        return 1;
    }
    double best = 0, start = wm_now();
    for (int pass = 0; pass < 2 || wm_now() - start < min_s; pass++) {
        double t0 = wm_now();
        if (ag_rollout(e, a, 1, ENV_SPLIT_TRAIN, (uint64_t)pass * 256, 256, &b, err, sizeof err)) {
            fprintf(stderr, "seqjepa bench saccade: %s\n", err);
            return 1;
        }
        double rr = 256 / (wm_now() - t0);
        if (rr > best) best = rr;
    }
    printf("  rollout, saliency agent %10.0f sequences/s of 5 views (1 thread: scene, saliency, "
           "4 saccades)\n",
           best);
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
