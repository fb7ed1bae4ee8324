/* The run configuration's schema: one section per module, each from its own table. */
#include "run/runcfg.h"

#include <stddef.h>
#include <string.h>

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
    {"env", EnvConfig_fields, 0, offsetof(RunConfig, env)},
    {"agent", AgentConfig_fields, 0, offsetof(RunConfig, agent)},
    {"model", SjModelConfig_fields, 0, offsetof(RunConfig, model)},
    {"optim", SjOptimConfig_fields, 0, offsetof(RunConfig, optim)},
    {"train", train_fields, 0, offsetof(RunConfig, train)},
    {"eval", SjEvalConfig_fields, 0, offsetof(RunConfig, eval)},
    {"bench", BenchConfig_fields, 0, offsetof(RunConfig, bench)},
    {"gen", DsGenConfig_fields, 0, offsetof(RunConfig, gen)},
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

int run_config_load(RunConfig *rc, const char *path, int n_over, char **over, char *err, size_t errsz) {
    schema_init();
    memset(rc, 0, sizeof *rc);
    wm_cfg_defaults(&run_schema, rc);
    int r = path ? wm_cfg_load_file(&run_schema, rc, path, err, errsz) : WM_OK;
    for (int i = 0; i < n_over && !r; i++) r = wm_cfg_override(&run_schema, rc, over[i], err, errsz);
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
