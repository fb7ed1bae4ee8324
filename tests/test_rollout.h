/* The fixture the agent tests share: a world, an agent for it and one rollout. */
#ifndef TEST_ROLLOUT_H
#define TEST_ROLLOUT_H

#include <stdint.h>
#include <string.h>

#include "agents/agent.h"
#include "core/config.h"
#include "data/rollout.h"
#include "envs/env.h"
#include "tests/test.h"

/* The defaults of [agent] with the given kind. */
static inline AgentConfig test_agent_config(int kind) {
    AgentConfig c;
    WM_CFG_DEFAULTS(AgentConfig, &c);
    c.kind = kind;
    return c;
}

typedef struct {
    Env *env;
    Agent *agent;
    AgBatch b;
} TestRun;

/* Makes the world (`lanes` lanes) and the agent, then rolls out n training sequences of
 * t views from sequence `first` of `seed`; each step is a CHECK. Returns 1 when all of it
 * worked; free with test_run_free either way. */
static inline int test_run(TestRun *r, EnvConfig *ec, AgentConfig *ac, int lanes, int n, int t, uint64_t seed,
                           uint64_t first, char *err, size_t errsz) {
    memset(r, 0, sizeof *r);
    env_create(ec, lanes, &r->env, err, errsz);
    CHECK(r->env != NULL, "%s", err);
    if (!r->env) return 0;
    ag_create(ac, ec, env_spec(r->env), lanes, &r->agent, err, errsz);
    CHECK(r->agent != NULL, "%s", err);
    if (!r->agent) return 0;
    CHECK(ag_batch_alloc(&r->b, env_spec(r->env), n, t, 0, err, errsz) == 0);
    int rc = ag_rollout(r->env, r->agent, seed, ENV_SPLIT_TRAIN, first, n, &r->b, err, errsz);
    CHECK(rc == 0, "%s", err);
    return rc == 0;
}

static inline void test_run_free(TestRun *r) {
    ag_batch_free(&r->b);
    ag_destroy(r->agent);
    env_destroy(r->env);
}

#endif
