/* The run configuration's schema: one section per module, each from its own table. */
#include "run/runcfg.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

WM_CFG_FIELDS(BenchConfig, BENCH_FIELDS);
WM_CFG_FIELDS(RunPipeConfig, RUN_PIPE_FIELDS);

/* [train]: the trainer's keys with the pipeline's among them, in the order configs and
 * stored runs have always had (each pipeline key after the trainer key named here). */
static const struct {
    const char *key, *after;
} pipe_at[] = {{"threads", "seed"}, {"queue", "threads"}, {"data", "out"}};
static WmCfgField train_fields[64];

static const WmCfgSection sections[] = {
    {"env", EnvConfig_fields, 0, offsetof(RunConfig, env), 0, NULL},
    {"agent", AgentConfig_fields, 0, offsetof(RunConfig, agent), 0, NULL},
    {"model", SjModelConfig_fields, 0, offsetof(RunConfig, model), 0, NULL},
    {"optim", SjOptimConfig_fields, 0, offsetof(RunConfig, optim), 0, NULL},
    {"train", train_fields, 0, offsetof(RunConfig, train), 0, "threads queue"},
    {"eval", SjEvalConfig_fields, 0, offsetof(RunConfig, eval), 1, NULL},
    {"bench", BenchConfig_fields, 0, offsetof(RunConfig, bench), 1, NULL},
    {"gen", DsGenConfig_fields, 0, offsetof(RunConfig, gen), 0, NULL},
};

static WmCfgSection resolved[sizeof sections / sizeof sections[0]];
const WmCfgSchema run_schema = {resolved, (int)(sizeof sections / sizeof sections[0])};

/* The field counts are link-time constants of other modules, so the table is
 * completed at first use. */
static void train_fields_init(void) {
    int n = 0;
    for (int i = 0; i < SjTrainConfig_nfields; i++) {
        train_fields[n++] = SjTrainConfig_fields[i];
        for (int found = 1; found;) { /* the pipeline keys after this one, in chains */
            found = 0;
            for (int k = 0; k < RunPipeConfig_nfields; k++)
                if (!strcmp(pipe_at[k].after, train_fields[n - 1].key)) {
                    WM_ASSERT(n < (int)(sizeof train_fields / sizeof train_fields[0]));
                    train_fields[n] = RunPipeConfig_fields[k];
                    train_fields[n++].offset +=
                        offsetof(RunConfig, pipe) - offsetof(RunConfig, train);
                    found = 1;
                }
        }
    }
    WM_ASSERT(n == SjTrainConfig_nfields + RunPipeConfig_nfields);
}

static void schema_init(void) {
    if (resolved[0].name) return;
    WM_ASSERT(RunPipeConfig_nfields == (int)(sizeof pipe_at / sizeof pipe_at[0]));
    for (int k = 0; k < RunPipeConfig_nfields; k++)
        WM_ASSERT(!strcmp(pipe_at[k].key, RunPipeConfig_fields[k].key));
    train_fields_init();
    const int counts[] = {EnvConfig_nfields,     AgentConfig_nfields,   SjModelConfig_nfields,
                          SjOptimConfig_nfields, SjTrainConfig_nfields + RunPipeConfig_nfields,
                          SjEvalConfig_nfields,
                          BenchConfig_nfields,   DsGenConfig_nfields};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        resolved[i] = sections[i];
        resolved[i].nfields = counts[i];
    }
}

const WmCfgSchema *run_config_schema(void) {
    schema_init();
    return &run_schema;
}

/* The keys that say what the world shows: [env] and [agent] without the speed keys. */
static int world_key(const WmCfgSection *sec, const WmCfgField *f, const void *cfg, void *ctx) {
    (void)cfg, (void)ctx;
    if (strcmp(sec->name, "env") && strcmp(sec->name, "agent")) return 0;
    return strcmp(f->key, "assets") && strcmp(f->key, "render_threads");
}

/* One world key, named by section and key (ctx: OneKey). */
typedef struct {
    char sec[32], key[64];
} OneKey;

/* "section.key=value" (spaces allowed around the names) into k; 0 if it is not one. */
static int parse_over(const char *o, OneKey *k) {
    const char *dot = strchr(o, '.'), *eq = strchr(o, '=');
    if (!dot || !eq || eq < dot) return 0;
    while (*o == ' ') o++;
    const char *ke = dot + 1;
    while (*ke == ' ') ke++;
    int ls = (int)(dot - o), lk = (int)(eq - ke);
    while (ls > 0 && o[ls - 1] == ' ') ls--;
    while (lk > 0 && ke[lk - 1] == ' ') lk--;
    snprintf(k->sec, sizeof k->sec, "%.*s", ls, o);
    snprintf(k->key, sizeof k->key, "%.*s", lk, ke);
    return 1;
}

static int one_world_key(const WmCfgSection *sec, const WmCfgField *f, const void *cfg, void *ctx) {
    const OneKey *k = ctx;
    return world_key(sec, f, cfg, NULL) && !strcmp(sec->name, k->sec) && !strcmp(f->key, k->key);
}

/* Whether a and b differ in the keys that keep(ctx) selects. */
static int keys_differ(const RunConfig *a, const RunConfig *b,
                       int (*keep)(const WmCfgSection *, const WmCfgField *, const void *, void *), void *ctx) {
    WmBuf x = {0}, y = {0};
    wm_cfg_dump_some(&run_schema, a, keep, ctx, &x);
    wm_cfg_dump_some(&run_schema, b, keep, ctx, &y);
    int differ = x.len != y.len || (x.len && memcmp(x.data, y.data, x.len));
    wm_buf_free(&x), wm_buf_free(&y);
    return differ;
}

void run_config_world_changed(RunConfig *rc, const RunConfig *before, const char *why) {
    schema_init();
    if (rc->supervised_set || rc->eval.supervised_pose < 0 || !keys_differ(rc, before, world_key, NULL)) return;
    rc->eval.supervised_pose = -1;
    snprintf(rc->supervised_dropped, sizeof rc->supervised_dropped, "%s", why);
}

int run_config_load(RunConfig *rc, const char *path, int n_over, char **over, char *err, size_t errsz) {
    schema_init();
    memset(rc, 0, sizeof *rc);
    wm_cfg_defaults(&run_schema, rc);
    int r = path ? wm_cfg_load_file(&run_schema, rc, path, err, errsz) : WM_OK;
    RunConfig *file = n_over && !r ? wm_new(RunConfig, 1) : NULL;
    if (file) *file = *rc;
    for (int i = 0; i < n_over && !r; i++) {
        r = wm_cfg_override(&run_schema, rc, over[i], err, errsz);
        OneKey k;
        if (parse_over(over[i], &k) && !strcmp(k.sec, "eval") && !strcmp(k.key, "supervised_pose"))
            rc->supervised_set = 1;
    }
    if (file && !r) {
        /* what changed the world: the overrides of world keys whose value now differs */
        char why[256] = "";
        size_t n = 0;
        for (int i = 0; i < n_over; i++) {
            OneKey k;
            if (n + 2 < sizeof why && parse_over(over[i], &k) && keys_differ(file, rc, one_world_key, &k))
                n += (size_t)snprintf(why + n, sizeof why - n, "%s%s", n ? " " : "", over[i]);
        }
        run_config_world_changed(rc, file, n ? why : "the command line");
    }
    wm_free(file);
    return r;
}

/* What a run reads: [gen] and [bench] when asked, and of the keys that one world alone
 * reads, those of the worlds in use. */
typedef struct {
    int gen, bench;
} Uses;

static int uses_key(const WmCfgSection *sec, const WmCfgField *f, const void *cfg, void *ctx) {
    const Uses *u = ctx;
    if (!strcmp(sec->name, "gen") && !u->gen) return 0;
    if (!strcmp(sec->name, "bench") && !u->bench) return 0;
    return env_reads_key(&((const RunConfig *)cfg)->env, f);
}

static void text_of(const RunConfig *rc, int bench, WmBuf *out) {
    schema_init();
    Uses u = {rc->pipe.data[0] != 0, bench};
    wm_cfg_dump_some(&run_schema, rc, uses_key, &u, out);
}

void run_config_text(const RunConfig *rc, WmBuf *out) {
    text_of(rc, 0, out);
}

void run_config_bench_text(const RunConfig *rc, WmBuf *out) {
    text_of(rc, 1, out);
}
