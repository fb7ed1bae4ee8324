/* Tables of the [model] [optim] [train] [eval] sections. */
#include "model/sj_config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "core/err.h"

WM_CFG_FIELDS(SjModelConfig, SJ_MODEL_FIELDS);
WM_CFG_FIELDS(SjOptimConfig, SJ_OPTIM_FIELDS);
WM_CFG_FIELDS(SjTrainConfig, SJ_TRAIN_FIELDS);
WM_CFG_FIELDS(SjEvalConfig, SJ_EVAL_FIELDS);

int sj_parse_rgb(const char *text, const char *key, int positive, float out[3], char *err, size_t errsz) {
    const char *p = text;
    for (int i = 0; i < 3; i++) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || (positive && v <= 0))
            return wm_errf(err, errsz, WM_ERR_PARSE, "model.%s = '%s': want three %snumbers (R G B)", key,
                           text, positive ? "positive " : "");
        out[i] = (float)v;
        p = end;
    }
    while (*p == ' ' || *p == ',' || *p == '\t') p++;
    if (*p) return wm_errf(err, errsz, WM_ERR_PARSE, "model.%s = '%s': want exactly three numbers", key, text);
    return WM_OK;
}
