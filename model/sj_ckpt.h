/* Checkpoints of seq-JEPA runs, in one module: a run folder holds the model
 * (checkpoint.safetensors: every tensor under its PyTorch name, with the resolved
 * config, step, pixel statistics and shape in the metadata) and the training state
 * (checkpoint.state.safetensors: AdamW moments, the on-line probes, the dropout
 * stream), so that a resumed run continues exactly as if never stopped. */
#ifndef SJ_CKPT_H
#define SJ_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "model/sj_model.h"
#include "nn/nn.h"

/* File names inside a run folder. */
#define SJ_CKPT_FILE "checkpoint.safetensors"
#define SJ_STATE_FILE "checkpoint.state.safetensors"

/* The metadata of the model file. */
typedef struct {
    const char *config_text;          /* the resolved INI */
    const char *command;              /* the command line that made it (NULL: not stored) */
    const char *pixel_mean, *pixel_std; /* as in [model] */
    SjShape shape;
} SjCkptMeta;

/* What the trainer keeps beside the model and its optimiser. */
typedef struct {
    NnParams *p;       /* the on-line probes' registry and store */
    NnStore *s;
    int64_t *opt_step; /* the probes' AdamW step */
    uint64_t *rng;     /* [4] the dropout stream's state */
} SjCkptState;

/* Writes dir's two files (each atomically; the state first, so that a crash between
 * them leaves a pair whose steps disagree, which resume detects). */
int sj_ckpt_save(const char *dir, SjModel *m, const SjCkptMeta *meta, const SjCkptState *st, int64_t step,
                 char *err, size_t errsz);

/* Loads dir's checkpoint and state into m and st for a run with config_text (refused,
 * with the first differing line, when the stored config differs in anything but
 * [train] out, the run folder's own path, so a moved folder still resumes); a line
 * "key = default" of a key schema knows counts as absent on both sides, so runs stored
 * before a key existed resume (schema may be NULL: every line counts); *step gets the
 * step they were saved at. */
int sj_ckpt_resume(const char *dir, const char *config_text, const WmCfgSchema *schema, SjModel *m,
                   SjCkptState *st, int64_t *step, char *err, size_t errsz);

/* Loads a checkpoint written by sj_train_run: builds the model from the [model]
 * section of its metadata config and its stored shape, then loads every tensor (all
 * or nothing). *config_text gets a copy of the stored config (free with wm_free; may
 * be NULL). Errors name the file and what is wrong (truncated, missing tensor, wrong
 * shape). */
int sj_checkpoint_load(const char *path, SjModel **out, char **config_text, int64_t *step, char *err,
                       size_t errsz);

/* Loads a checkpoint's tensors into an existing model (all or nothing) after checking
 * that it was trained for the model's shape. */
int sj_ckpt_load_into(SjModel *m, const char *path, char *err, size_t errsz);

/* WM_OK when a model of shape `have` (from `what`, a file name) fits data of shape
 * `want`; else WM_ERR_MISMATCH naming both. */
int sj_shape_check(const SjShape *have, const SjShape *want, const char *what, char *err, size_t errsz);

#endif
