/* Error messages, the always-on assert and levelled logging. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[WM_ERR_COUNT_] = {
    "ok", "io", "parse", "range", "format", "nomem", "arg", "mismatch", "gl", "numeric", "interrupted",
};

const char *wm_status_name(int status) {
    return status >= 0 && status < WM_ERR_COUNT_ ? status_names[status] : "unknown";
}

int wm_errf(char *err, size_t errsz, int code, const char *fmt, ...) {
    if (err && errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return code;
}

int wm_err_prefix(char *err, size_t errsz, int code, const char *fmt, ...) {
    if (!err || !errsz) return code;
    char prefix[512], old[1024];
    snprintf(old, sizeof old, "%s", err);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(err, errsz, "%s%s", prefix, old);
    return code;
}

void wm_assert_fail(const char *expr, const char *file, int line, const char *func) {
    fprintf(stderr, "seqjepa: internal error: assertion '%s' failed at %s:%d in %s()\n", expr,
            file, line, func);
    fflush(stderr);
    abort();
}

static int log_level = -1;

static WmLogLevel level_from_env(void) {
    const char *v = getenv("SEQJEPA_LOG");
    if (!v) return WM_LOG_INFO;
    static const char *const names[] = {"debug", "info", "warn", "error", "quiet"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(v, names[i])) return (WmLogLevel)i;
    return WM_LOG_INFO;
}

void wm_log_set_level(WmLogLevel level) { log_level = (int)level; }

WmLogLevel wm_log_get_level(void) {
    if (log_level < 0) log_level = (int)level_from_env();
    return (WmLogLevel)log_level;
}

void wm_log(WmLogLevel level, const char *fmt, ...) {
    if (level < wm_log_get_level()) return;
    static const char *const tags[] = {"debug", "info", "warning", "error"};
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One fprintf per message so lines from threads do not interleave. */
    fprintf(stderr, "seqjepa: %s: %s\n", tags[level < WM_LOG_QUIET ? level : WM_LOG_ERROR], line);
}
