/* A run's whole configuration: every section of the INI file, loaded with the
 * command line's section.key=value overrides, and its resolved text (stored in
 * checkpoints and reports). */
#ifndef RUN_RUNCFG_H
#define RUN_RUNCFG_H

#include "agents/agent.h"
#include "data/dataset.h"
#include "core/alloc.h"
#include "envs/env.h"
#include "model/sj_config.h"

/* [bench] section: the path-integration benchmark's protocol. */
#define BENCH_FIELDS(X, S)                                                                         \
    X(S, INT, seeds, "1", 1, 100, NULL, "seeds per variant (train.seed + k, eval.seed + k); tables give mean and std") \
    X(S, STR, variants, "seqjepa-m1 seqjepa-m3 no-action random oracle", 0, 0, NULL,                \
      "variants: seqjepa (config as is), seqjepa-m1, seqjepa-m3, no-action, no-ema, random, oracle")

WM_CFG_STRUCT(BenchConfig, BENCH_FIELDS);

/* The pipeline's keys: where batches come from and how many threads compute them. They
 * belong to the run, not to the model's trainer, but are written under [train] where
 * configs and stored runs have always had them (train.threads, train.queue, train.data;
 * data=DIR on the command line). */
#define RUN_PIPE_FIELDS(X, S)                                                                      \
    X(S, INT, threads, "0", 0, 256, NULL, "compute threads (0: one per core)")                     \
    X(S, INT, queue, "4", 1, 64, NULL, "batches buffered between the data thread and the trainer") \
    X(S, STR, data, "", 0, 0, NULL, "dataset folder from 'seqjepa gen' (empty: on-line from the environment)")

WM_CFG_STRUCT(RunPipeConfig, RUN_PIPE_FIELDS);
WM_CFG_FIELDS_DECL(RunPipeConfig);

typedef struct {
    EnvConfig env;
    AgentConfig agent;
    SjModelConfig model;
    SjOptimConfig optim;
    SjTrainConfig train;
    RunPipeConfig pipe; /* right after train: its keys sit in the [train] section */
    SjEvalConfig eval;
    BenchConfig bench;
    DsGenConfig gen;
    const char *command; /* the command line, for checkpoint metadata (set by the CLI; may be NULL) */
    const char *init;    /* train --init: a checkpoint whose weights a new run starts from (may be NULL) */
    /* A supervised bound (eval.supervised_pose) belongs to the world it was measured
     * on. When the command line (run_config_load) or a dataset (pl_use_data) changes
     * the config file's world and the command line did not set the bound itself
     * (supervised_set), the bound is dropped (-1) and supervised_dropped says what
     * changed the world ("" when nothing did). */
    int supervised_set;
    char supervised_dropped[256];
} RunConfig;

extern const WmCfgSchema run_schema;
/* run_schema with every section's fields resolved (what `seqjepa keys` lists). */
const WmCfgSchema *run_config_schema(void);

/* Defaults, then the file, then each "section.key=value" in order. Prints nothing;
 * returns WM_OK or an error naming file and line (or the override). A supervised pose
 * bound the file records (eval.supervised_pose) belongs to the file's world: when the
 * overrides change that world and do not set the bound themselves, it is dropped (-1)
 * and rc->supervised_dropped names the overrides. */
int run_config_load(RunConfig *rc, const char *path, int n_over, char **over, char *err, size_t errsz);
/* The resolved configuration as INI text (free with wm_buf_free), as stored in
 * checkpoints and reports: the sections a run reads ([env], [agent], [model],
 * [optim], [train], [eval], and [gen] when train.data (pipe.data) names a dataset), without the
 * keys of a world the run does not use (an objects3d run lists no saccade keys; a
 * saccade run over objects3d scenes keeps both). Keys left out load back as their
 * defaults. The bench variant adds [bench]. */
void run_config_text(const RunConfig *rc, WmBuf *out);
void run_config_bench_text(const RunConfig *rc, WmBuf *out);
/* Drops rc's supervised bound (see RunConfig) when `before` showed another world
 * ([env] and [agent] differ, speed keys aside); why: what changed it, for the message. */
void run_config_world_changed(RunConfig *rc, const RunConfig *before, const char *why);

#endif
