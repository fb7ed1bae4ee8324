/* A run's whole configuration: every section of the INI file, loaded with the
 * command line's section.key=value overrides, and its resolved text (stored in
 * checkpoints and reports). */
#ifndef CLI_RUNCFG_H
#define CLI_RUNCFG_H

#include "agents/agent.h"
#include "agents/dataset.h"
#include "core/alloc.h"
#include "envs/env.h"
#include "model/sj_config.h"

typedef struct {
    EnvConfig env;
    AgentConfig agent;
    SjModelConfig model;
    SjOptimConfig optim;
    SjTrainConfig train;
    SjEvalConfig eval;
    DsGenConfig gen;
} RunConfig;

extern const WmCfgSchema run_schema;

/* Defaults, then the file, then each "section.key=value" in order. Prints nothing;
 * returns WM_OK or an error naming file and line (or the override). */
int run_config_load(RunConfig *rc, const char *path, int n_over, char **over, char *err, size_t errsz);
/* The resolved configuration as INI text (free with wm_buf_free). */
void run_config_text(const RunConfig *rc, WmBuf *out);

#endif
