/* `seqjepa bench gen`: views written per second by dataset generation end to end, next
 * to the batched render rate of the same world on the same machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agents/dataset.h"
#include "cli/commands.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/pool.h"
#include "core/progress.h"
#include "core/quat.h"
#include "core/rng.h"
#include "envs/objects3d.h"

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: seqjepa bench gen [--world objects3d|saccade] [--size PX] [--seqs N] [--views T]\n"
        "                         [--shard N] [--threads N] [--lanes N] [--dir DIR] [--seconds S]\n"
        "                         [--rounds R]\n\n"
        "Generates a dataset of --seqs training sequences (default 4096 of 6 views, 64 px, shards "
        "of\n"
        "256, the default agent) into a temporary folder under DIR (default $TMPDIR or /tmp) and\n"
        "prints the views written per second, end to end: worlds made, rollouts, rendering,\n"
        ".npy files written and synced, checksums. For objects3d it first measures the batched\n"
        "render rate of the same world (512 views per env_observe call, default render threads,\n"
        "random poses; as 'seqjepa bench render') for --seconds. Render and gen alternate for\n"
        "--rounds rounds (default 3); the best of each and their ratio are printed last, with\n"
        "the process CPU time per view (less sensitive to other load on the machine).\n");
}

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Views/s of env_observe on 512 lanes at a time, each lane nudged by a small random
 * rotation before every call. */
static int render_rate(const EnvConfig *ec, double seconds, double *vps, double *cpu_us, char *err,
                       size_t errsz) {
    enum { LANES = 512 };
    Env *e = env_create(ec, LANES, err, errsz);
    if (!e) return WM_ERR_GL;
    const EnvSpec *s = env_spec(e);
    size_t vb = (size_t)s->height * s->width * 3;
    uint8_t *px = wm_new(uint8_t, vb * LANES);
    EnvObs *obs = wm_new(EnvObs, LANES);
    int *ids = wm_new(int, LANES);
    float act[ENV_MAX_DIM] = {0};
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
                act[k] = (float)q[k];
            rc = env_step(e, i, act, NULL);
        }
        if (!rc) rc = env_observe(e, LANES, ids, obs);
        if (it == 0) {
            t0 = wm_now(), c0 = cpu_now(); /* the first call uploads meshes: not timed */
            continue;
        }
        views += LANES;
        if (wm_now() - t0 >= seconds) break;
    }
    *vps = views / (wm_now() - t0);
    *cpu_us = 1e6 * (cpu_now() - c0) / (double)views;
    if (rc) wm_errf(err, errsz, rc, "rendering failed (%s)", wm_status_name(rc));
    wm_free(px);
    wm_free(obs);
    wm_free(ids);
    env_destroy(e);
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
    int size = 64, seqs = 4096, views = 6, shard = 256, threads = 0, lanes = 0;
    double seconds = 3;
    int rounds = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "seqjepa bench gen: '%s' needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(a, "--world"))
            world = v, bad = strcmp(v, "objects3d") && strcmp(v, "saccade");
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
        fprintf(stderr, "seqjepa bench gen: %s\n", err);
        return 2;
    }
    c.env.size = size;
    c.gen.train_seqs = seqs, c.gen.val_seqs = 0, c.gen.views = views, c.gen.shard_size = shard;
    c.gen.threads = threads;
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
    double best_r = 0, best_g = 0, cpu_r = 0, cpu_g = 0;
    int rc = 0, workers = 0;
    for (int round = 1; round <= rounds && !rc; round++) {
        if (c.env.kind == 0) {
            double vps, cpu;
            rc = render_rate(&c.env, seconds, &vps, &cpu, err, sizeof err);
            if (rc) break;
            printf("%-6d %-34s %10.0f %12.1f\n", round, "render, batched (512 per call)", vps, cpu);
            if (vps > best_r) best_r = vps, cpu_r = cpu;
        }
        DsGenResult res;
        DsGenSetup su = {&c, path, 0, 1};
        double c0 = cpu_now();
        rc = ds_generate(&su, &res, err, sizeof err);
        if (rc) break;
        double vps = (double)res.views_made / res.seconds,
               cpu = 1e6 * (cpu_now() - c0) / (double)res.views_made;
        char what[96];
        snprintf(what, sizeof what, "gen, end to end (%d workers)", res.workers);
        printf("%-6d %-34s %10.0f %12.1f  (%.1f MiB/s written)\n", round, what, vps, cpu,
               (double)res.bytes_made / (1 << 20) / res.seconds);
        fflush(stdout);
        if (vps > best_g) best_g = vps, cpu_g = cpu;
        workers = res.workers;
        char e3[256];
        if (wm_remove_tree(path, e3, sizeof e3) || mkdir(path, 0777)) {
            rc = wm_errf(err, sizeof err, WM_ERR_IO, "cannot empty '%s'", path);
            break;
        }
    }
    if (!rc) {
        printf("best: gen %.0f views/s with %d workers (%.1f cpu us/view)", best_g, workers, cpu_g);
        if (best_r > 0)
            printf("; render %.0f views/s (%.1f cpu us/view); gen/render %.0f%%", best_r, cpu_r,
                   100 * best_g / best_r);
        printf("\n");
    }
    char e2[256];
    wm_remove_tree(path, e2, sizeof e2);
    if (rc) {
        fprintf(stderr, "seqjepa bench gen: %s\n", err);
        return 1;
    }
    return 0;
}
