/* `seqjepa bench render`: objects3d views per second at several sizes, one view per
 * frame against batched passes, on whatever GL the machine gives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "run/args.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/pool.h"
#include "core/progress.h"
#include "core/quat.h"
#include "core/rng.h"
#include "envs/env.h"
#include "envs/objects3d.h"
#include "render/ctx.h"
#include "render/scene.h"

typedef struct {
    double seconds;
    const char *assets;
    int lanes;
    int threads;
} Opts;

/* Renders `per_call` lanes per env_observe for about opts->seconds; returns views/s
 * and CPU microseconds per view. */
static int run_mode(const Opts *o, Env *e, int per_call, double *vps, double *cpu_us) {
    const EnvSpec *s = env_spec(e);
    int lanes = env_lanes(e);
    size_t vb = (size_t)s->height * s->width * 3;
    uint8_t *px = wm_new(uint8_t, vb * (size_t)per_call);
    EnvObs *obs = wm_new(EnvObs, (size_t)per_call);
    int *ids = wm_new(int, (size_t)per_call);
    float act[ENV_MAX_DIM] = {0};
    WmRng r;
    wm_rng_seed(&r, 1, 2);
    int rc = 0, next = 0;
    long views = 0;
    double t0 = 0, c0 = 0;
    for (int warm = 1;; warm = 0) {
        /* Each call sees new states: a small random rotation per lane first. */
        for (int i = 0; i < per_call; i++) {
            ids[i] = next;
            next = (next + 1) % lanes;
            double q[4];
            wm_quat_random_within(q, &r, 0.3);
            wm_quat_canon(q);
            for (int k = 0; k < 4; k++)
                act[k] = (float)q[k];
            env_step(e, ids[i], act, NULL);
            obs[i] = (EnvObs){.pixels = px + vb * (size_t)i};
        }
        if (warm) {
            rc = env_observe(e, per_call, ids, obs);
            if (rc) break;
            t0 = wm_now(), c0 = wm_cpu_now();
            continue;
        }
        rc = env_observe(e, per_call, ids, obs);
        if (rc) break;
        views += per_call;
        if (wm_now() - t0 >= o->seconds) break;
    }
    double dt = wm_now() - t0, dc = wm_cpu_now() - c0;
    *vps = views / dt;
    *cpu_us = 1e6 * dc / (double)views;
    wm_free(px);
    wm_free(obs);
    wm_free(ids);
    return rc;
}

static Env *make_env(const Opts *o, int size, int lanes, int threads, char *err, size_t errsz) {
    EnvConfig c;
    WM_CFG_DEFAULTS(EnvConfig, &c);
    c.size = size;
    c.render_threads = threads;
    if (o->assets) snprintf(c.assets, sizeof c.assets, "%s", o->assets);
    Env *e;
    if (env_create(&c, lanes, &e, err, errsz)) return NULL;
    for (int i = 0; i < lanes; i++)
        env_reset(e, i, (uint64_t)i + 1, ENV_SPLIT_TRAIN, NULL);
    return e;
}

static void usage(FILE *f) {
    fprintf(f, "usage: seqjepa bench render [--sizes 64,128] [--seconds S] [--lanes N]\n"
               "                            [--threads N] [--assets DIR]\n\n"
               "Views per second of the objects3d world (procedural objects, random poses and\n"
               "lights): one view per frame (draw + readback per view, one thread) against\n"
               "batched passes (--lanes views per call) on one render thread and on the default\n"
               "number (--threads, 0 = one per core on a CPU rasteriser). CPU time per view is\n"
               "the whole process's.\n");
}

int cli_bench_render(int argc, char **argv) {
    Opts o = {.seconds = 2.0, .lanes = 512};
    char sizes[128] = "64,128";
    for (int i = 1; i < argc; i++) {
        const char *a, *v;
        int r = run_flag_pair("bench render", argc, argv, &i, &a, &v, usage);
        if (r) return r < 0 ? 0 : r;
        char *end;
        if (!strcmp(a, "--sizes")) {
            snprintf(sizes, sizeof sizes, "%s", v);
        } else if (!strcmp(a, "--seconds")) {
            o.seconds = strtod(v, &end);
            if (*end || !(o.seconds > 0 && o.seconds < 3600)) goto bad;
        } else if (!strcmp(a, "--lanes")) {
            o.lanes = (int)strtol(v, &end, 10);
            if (*end || o.lanes < 1 || o.lanes > 65536) goto bad;
        } else if (!strcmp(a, "--threads")) {
            o.threads = (int)strtol(v, &end, 10);
            if (*end || o.threads < 0 || o.threads > 64) goto bad;
        } else if (!strcmp(a, "--assets")) {
            o.assets = v;
        } else {
            fprintf(stderr, "seqjepa bench render: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        continue;
    bad:
        fprintf(stderr, "seqjepa bench render: bad value '%s' for %s\n", v, a);
        return 2;
    }
    char err[512];
    int screens = rd_headless_screens(err, sizeof err);
    if (!screens) {
        run_error("bench render", err);
        return 1;
    }
    int rc = 0;
    int printed_head = 0;
    for (char *tok = strtok(sizes, ","); tok; tok = strtok(NULL, ",")) {
        char *end;
        long size = strtol(tok, &end, 10);
        if (*end || size < 32 || size > 512) {
            fprintf(stderr, "seqjepa bench render: size '%s' is outside 32..512\n", tok);
            return 2;
        }
        Env *one = make_env(&o, (int)size, o.lanes, 1, err, sizeof err);
        Env *many = one ? make_env(&o, (int)size, o.lanes, o.threads, err, sizeof err) : NULL;
        if (!one || !many) {
            run_error("bench render", err);
            env_destroy(one);
            return 1;
        }
        if (!printed_head) {
            long tris = 0;
            for (int i = 0; i < o.lanes; i++)
                tris += env_objects3d_mesh(one, i)->nt;
            RdCtxDesc cd = {.kind = RD_CTX_HEADLESS};
            RdCtx *c;
            rd_ctx_create(&cd, &c, err, sizeof err); /* NULL on failure: the renderer shows as "?" */
            printf("renderer: %s; %d cores; %d independent GL screen%s\n",
                   c ? rd_ctx_renderer(c) : "?", wm_cpu_count(), screens, screens > 1 ? "s" : "");
            rd_ctx_destroy(c);
            printf("objects: %d procedural families, %.0f triangles on average at %ld px\n",
                   env_spec(one)->n_classes, (double)tris / o.lanes, size);
            printf("%5s  %-26s %7s %10s %12s\n", "size", "mode", "threads", "views/s",
                   "cpu us/view");
            printed_head = 1;
        }
        struct {
            Env *e;
            int per_call;
            const char *name;
        } modes[3] = {
            {one, 1, "one view per frame"}, {one, o.lanes, "batched"}, {many, o.lanes, "batched"}};
        for (int m = 0; m < 3 && !rc; m++) {
            double vps = 0, cpu = 0;
            rc = run_mode(&o, modes[m].e, modes[m].per_call, &vps, &cpu);
            char name[64];
            if (modes[m].per_call > 1)
                snprintf(name, sizeof name, "%s (%d per call)", modes[m].name, modes[m].per_call);
            else
                snprintf(name, sizeof name, "%s", modes[m].name);
            int th = env_objects3d_render_threads(modes[m].e);
            if (!rc) printf("%5ld  %-26s %7d %10.0f %12.1f\n", size, name, th, vps, cpu);
            fflush(stdout);
        }
        env_destroy(one);
        env_destroy(many);
        if (rc) {
            fprintf(stderr, "seqjepa bench render: rendering failed (%d)\n", rc);
            return 1;
        }
    }
    return 0;
}
