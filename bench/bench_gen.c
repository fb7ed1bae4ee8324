/* `seqjepa bench gen`: views written per second by dataset generation end to end, next
 * to the batched render rate of the same world on the same machine. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "data/dataset.h"
#include "bench/bench.h"
#include "run/args.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/pool.h"
#include "core/progress.h"
#include "core/quat.h"
#include "core/rng.h"
#include "envs/env.h"

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: seqjepa bench gen [--world KIND] [--size PX] [--seqs N] [--views T]\n"
        "         [--shard N] [--threads N] [--lanes N] [--render-threads N] [--dir DIR]\n"
        "         [--seconds S] [--rounds R]\n\n"
        "Generates a dataset of --seqs training sequences of the world env.kind = KIND\n"
        "(default objects3d; 8192 sequences of 6 views, 64 px, shards of 512, the default agent,\n"
        "gen.threads/gen.lanes/env.render_threads from the options, 0 = automatic) into a\n"
        "temporary folder under DIR (default $TMPDIR or /tmp) and prints the views written per\n"
        "second, end to end: worlds made, rollouts, rendering, .npy files written, checksums,\n"
        "the final sync and the manifest. For a world that turns objects (objects3d) it first\n"
        "measures the batched render rate of the same world (512 views per env_observe call,\n"
        "default render threads, random poses, as 'seqjepa bench render') for --seconds, and\n"
        "after each generation the rollout rate of the same worlds with nothing written (what\n"
        "the files cost). Render, gen and rollout alternate for --rounds rounds (default 3); the\n"
        "best of each and gen/render are printed last, also as views per CPU-second of the whole\n"
        "process (setup included for gen, not for render), which other load on the machine\n"
        "disturbs far less than views per second.\n");
}

/* Views/s of env_observe on 512 lanes at a time, each lane of an object world nudged by
 * a small random rotation before every call. */
static int render_rate(const EnvConfig *ec, double seconds, double *vps, double *cpu_us, char *err,
                       size_t errsz) {
    enum { LANES = 512 };
    Env *e;
    int rc0 = env_create(ec, LANES, &e, err, errsz);
    if (rc0) return rc0;
    const EnvSpec *s = env_spec(e);
    size_t vb = (size_t)s->height * s->width * 3;
    uint8_t *px = wm_new(uint8_t, vb * LANES);
    EnvObs *obs = wm_new(EnvObs, LANES);
    int *ids = wm_new(int, LANES);
    float act[ENV_MAX_DIM] = {0};
    int rot = s->layout.act_rot;
    WM_ASSERT(s->layout.family == ENV_FAMILY_OBJECT && rot >= 0);
    WmRng r;
    wm_rng_seed(&r, 1, 2);
    int rc = WM_OK;
    for (int i = 0; i < LANES && !rc; i++) {
        rc = env_reset(e, i, (uint64_t)i + 1, ENV_SPLIT_TRAIN, NULL);
        ids[i] = i;
        obs[i] = (EnvObs){.pixels = px + vb * (size_t)i};
    }
    long views = 0;
    double t0 = 0, c0 = 0;
    for (int it = 0; !rc; it++) {
        for (int i = 0; i < LANES && !rc; i++) {
            double q[4];
            wm_quat_random_within(q, &r, 0.3);
            wm_quat_canon(q);
            for (int k = 0; k < 4; k++)
                act[rot + k] = (float)q[k];
            rc = env_step(e, i, act, NULL);
        }
        if (!rc) rc = env_observe(e, LANES, ids, obs);
        if (it == 0) {
            t0 = wm_now(), c0 = wm_cpu_now(); /* the first call uploads meshes: not timed */
            continue;
        }
        views += LANES;
        if (wm_now() - t0 >= seconds) break;
    }
    *vps = views / (wm_now() - t0);
    *cpu_us = 1e6 * (wm_cpu_now() - c0) / (double)views;
    if (rc) wm_errf(err, errsz, rc, "rendering failed (%s)", wm_status_name(rc));
    wm_free(px);
    wm_free(obs);
    wm_free(ids);
    env_destroy(e);
    return rc;
}

typedef struct {
    const DsConfig *c;
    double seconds;
    int lanes, id;
    pthread_barrier_t *start; /* all worlds warmed up: the clocks start */
    double *cpu0;
    long views;
    double wall;
    int rc;
    char err[512];
} RolloutJob;

/* One world and agent rolling out lanes-sequence chunks for `seconds`, nothing written. */
static void *rollout_thread(void *arg) {
    RolloutJob *j = arg;
    EnvConfig ec = j->c->env;
    Env *e;
    env_create(&ec, j->lanes, &e, j->err, sizeof j->err);
    Agent *a = NULL;
    j->rc = e ? ag_create(&j->c->agent, &ec, env_spec(e), j->lanes, &a, j->err, sizeof j->err)
              : WM_ERR_ARG;
    AgBatch b = {0};
    if (!j->rc) j->rc = ag_batch_alloc(&b, env_spec(e), j->lanes, j->c->gen.views, 0, j->err, sizeof j->err);
    uint64_t first = 0;
    /* Warm-up: a first chunk makes meshes and compiles shaders. */
    if (!j->rc)
        j->rc = ag_rollout(e, a, 1, ENV_SPLIT_TRAIN, first, j->lanes, &b, j->err, sizeof j->err);
    first += (uint64_t)j->lanes;
    pthread_barrier_wait(j->start);
    if (j->id == 0) *j->cpu0 = wm_cpu_now();
    double t0 = wm_now();
    while (!j->rc) {
        j->rc = ag_rollout(e, a, 1, ENV_SPLIT_TRAIN, first, j->lanes, &b, j->err, sizeof j->err);
        first += (uint64_t)j->lanes;
        j->views += (long)j->lanes * j->c->gen.views;
        if (wm_now() - t0 >= j->seconds) break;
    }
    j->wall = wm_now() - t0;
    ag_batch_free(&b);
    ag_destroy(a);
    env_destroy(e);
    return NULL;
}

/* Views/s of `workers` worlds rolling out in parallel threads (gen without files). */
static int rollout_rate(const DsConfig *c, int workers, double seconds, double *vps, double *cpu_us,
                        char *err, size_t errsz) {
    RolloutJob *jobs = wm_new(RolloutJob, (size_t)workers);
    pthread_t *th = wm_new(pthread_t, (size_t)workers);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)workers);
    double c0 = 0;
    for (int i = 0; i < workers; i++) {
        jobs[i] = (RolloutJob){.c = c,
                               .seconds = seconds,
                               .lanes = c->gen.lanes,
                               .id = i,
                               .start = &start,
                               .cpu0 = &c0};
        WM_ASSERT(pthread_create(&th[i], NULL, rollout_thread, &jobs[i]) == 0);
    }
    long views = 0;
    double wall = 0;
    int rc = WM_OK;
    for (int i = 0; i < workers; i++) {
        pthread_join(th[i], NULL);
        views += jobs[i].views;
        if (jobs[i].wall > wall) wall = jobs[i].wall;
        if (jobs[i].rc && !rc) rc = wm_errf(err, errsz, jobs[i].rc, "%s", jobs[i].err);
    }
    *vps = views / wall;
    *cpu_us = 1e6 * (wm_cpu_now() - c0) / (double)views; /* the worlds' teardown included */
    pthread_barrier_destroy(&start);
    wm_free(jobs);
    wm_free(th);
    return rc;
}

static int parse_int(const char *v, int lo, int hi, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) return -1;
    *out = (int)x;
    return 0;
}

int cli_bench_gen(int argc, char **argv) {
    const char *world = "objects3d", *dir = NULL;
    int size = 64, seqs = 8192, views = 6, shard = 512, threads = 0, lanes = 0, rthreads = 0;
    double seconds = 3;
    int rounds = 3;
    for (int i = 1; i < argc; i++) {
        const char *a, *v;
        int r = run_flag_pair("bench gen", argc, argv, &i, &a, &v, usage);
        if (r) return r < 0 ? 0 : r;
        int bad = 0;
        if (!strcmp(a, "--world"))
            world = v, bad = env_kind_find(v) < 0;
        else if (!strcmp(a, "--size"))
            bad = parse_int(v, 8, 512, &size);
        else if (!strcmp(a, "--seqs"))
            bad = parse_int(v, 1, 100000000, &seqs);
        else if (!strcmp(a, "--views"))
            bad = parse_int(v, 2, 4096, &views);
        else if (!strcmp(a, "--shard"))
            bad = parse_int(v, 1, 100000000, &shard);
        else if (!strcmp(a, "--threads"))
            bad = parse_int(v, 0, 256, &threads);
        else if (!strcmp(a, "--lanes"))
            bad = parse_int(v, 0, 4096, &lanes);
        else if (!strcmp(a, "--render-threads"))
            bad = parse_int(v, 0, 64, &rthreads);
        else if (!strcmp(a, "--dir"))
            dir = v;
        else if (!strcmp(a, "--rounds"))
            bad = parse_int(v, 1, 100, &rounds);
        else if (!strcmp(a, "--seconds")) {
            char *end;
            seconds = strtod(v, &end);
            bad = *end || !(seconds > 0 && seconds < 3600);
        } else {
            fprintf(stderr, "seqjepa bench gen: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "seqjepa bench gen: bad value '%s' for %s\n", v, a);
            return 2;
        }
    }
    DsConfig c;
    wm_cfg_defaults(ds_config_schema(), &c);
    char err[1024];
    if (wm_cfg_set(ds_config_schema(), &c, "env", "kind", world, "--world", err, sizeof err)) {
        run_error("bench gen", err);
        return 2;
    }
    c.env.size = size;
    c.gen.train_seqs = seqs, c.gen.val_seqs = 0, c.gen.views = views, c.gen.shard_size = shard;
    c.gen.threads = threads;
    c.env.render_threads = rthreads;
    if (lanes) c.gen.lanes = lanes;
    const char *base = dir                                     ? dir
                       : getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR")
                                                               : "/tmp";
    char path[1100];
    snprintf(path, sizeof path, "%s/seqjepa-bench-gen.XXXXXX", base);
    if (!mkdtemp(path)) {
        fprintf(stderr, "seqjepa bench gen: cannot make a folder under '%s'\n", base);
        return 1;
    }
    printf("%s, %d px, %d cores; %d sequences of %d views in shards of %d; data in %s; best of %d "
           "rounds\n",
           world, size, wm_cpu_count(), seqs, views, shard, base, rounds);
    printf("%-6s %-34s %10s %12s\n", "round", "what", "views/s", "cpu us/view");
    double best_r = 0, best_g = 0, best_o = 0, cpu_r = 0, cpu_g = 0;
    int rc = 0, workers = 0;
    for (int round = 1; round <= rounds && !rc; round++) {
        if (env_traits(c.env.kind)->family == ENV_FAMILY_OBJECT) {
            double vps, cpu;
            EnvConfig re = c.env;
            re.render_threads = 0;
            rc = render_rate(&re, seconds, &vps, &cpu, err, sizeof err);
            if (rc) break;
            printf("%-6d %-34s %10.0f %12.1f\n", round, "render, batched (512 per call)", vps, cpu);
            if (vps > best_r) best_r = vps, cpu_r = cpu;
        }
        DsGenResult res;
        DsGenSetup su = {&c, path, 0, 1, 0};
        double c0 = wm_cpu_now();
        rc = ds_generate(&su, &res, err, sizeof err);
        if (rc) break;
        double vps = (double)res.views_made / res.seconds,
               cpu = 1e6 * (wm_cpu_now() - c0) / (double)res.views_made;
        char what[96];
        snprintf(what, sizeof what, "gen, end to end (%d workers)", res.workers);
        printf("%-6d %-34s %10.0f %12.1f  (%.1f MiB/s written)\n", round, what, vps, cpu,
               (double)res.bytes_made / (1 << 20) / res.seconds);
        fflush(stdout);
        if (vps > best_g) best_g = vps, cpu_g = cpu;
        workers = res.workers;
        {
            double ovps, ocpu;
            rc = rollout_rate(&c, workers, seconds, &ovps, &ocpu, err, sizeof err);
            if (rc) break;
            snprintf(what, sizeof what, "rollout only (%d worlds)", workers);
            printf("%-6d %-34s %10.0f %12.1f\n", round, what, ovps, ocpu);
            if (ovps > best_o) best_o = ovps;
        }
        char e3[256];
        if (wm_remove_tree(path, e3, sizeof e3) || mkdir(path, 0777)) {
            rc = wm_errf(err, sizeof err, WM_ERR_IO, "cannot empty '%s'", path);
            break;
        }
    }
    if (!rc) {
        printf("best: gen %.0f views/s with %d workers (%.1f cpu us/view)", best_g, workers, cpu_g);
        if (best_o > 0) printf("; rollout only %.0f views/s", best_o);
        if (best_r > 0)
            printf("; render %.0f views/s (%.1f cpu us/view)\ngen/render: %.0f%% of the views/s, "
                   "%.0f%% "
                   "of the views per CPU-second",
                   best_r, cpu_r, 100 * best_g / best_r, 100 * cpu_r / cpu_g);
        printf("\n");
    }
    char e2[256];
    wm_remove_tree(path, e2, sizeof e2);
    if (rc) {
        run_error("bench gen", err);
        return 1;
    }
    return 0;
}
