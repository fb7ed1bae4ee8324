/* A producer thread that owns an Env and an Agent (a GL context is bound to the
 * thread that made it) and fills a ring of batches ahead of a consumer: batch k
 * holds sequences k*B .. k*B+B-1 of (seed, split), so it depends on k alone. */
#ifndef AG_STREAM_H
#define AG_STREAM_H

#include <stdint.h>

#include "agents/agent.h"
#include "data/rollout.h"
#include "envs/env.h"

typedef struct AgStream AgStream;

/* Starts the thread, which creates the world and the agent and waits for
 * ag_stream_start. Returns WM_OK with the stream in *out, or the status env_create or
 * ag_create gave (a bad value, an unreadable file, OpenGL) with the reason in err.
 * lanes: env lanes used for batched rendering (<= batch). */
int ag_stream_create(const EnvConfig *ecfg, const AgentConfig *acfg, int batch, int views, int lanes, int slots,
                     uint64_t seed, int split, AgStream **out, char *err, size_t errsz);
/* The world's spec (valid once create returned). */
const EnvSpec *ag_stream_spec(const AgStream *s);
/* The batch of step k (blocking; the first call fixes the starting step and starts
 * production). NULL on error, with the producer's message in err. */
const AgBatch *ag_stream_next(AgStream *s, int64_t step, char *err, size_t errsz);
/* One rank's share of a global batch: batch k then holds sequences
 * k*global_batch + offset .. + batch-1 (the default is global_batch = batch, offset 0).
 * Call before the first ag_stream_next. */
void ag_stream_shard(AgStream *s, int global_batch, int offset);
/* Hands the batch from ag_stream_next back for reuse. */
void ag_stream_release(AgStream *s);
/* Stops the thread and frees everything. */
void ag_stream_destroy(AgStream *s);

#endif
