/* Error codes, human error messages into caller buffers, an always-on assert for
 * bugs, and levelled logging to stderr. */
#ifndef WM_ERR_H
#define WM_ERR_H

#include <stddef.h>

typedef enum {
    WM_OK = 0,
    WM_ERR_IO,          /* open/read/write/rename failed */
    WM_ERR_PARSE,       /* malformed text or header */
    WM_ERR_RANGE,       /* value outside its allowed range */
    WM_ERR_FORMAT,      /* a file whose structure is inconsistent */
    WM_ERR_NOMEM,       /* allocation failed or a size overflowed */
    WM_ERR_ARG,         /* bad argument from the user */
    WM_ERR_MISMATCH,    /* two things that must agree do not */
    WM_ERR_GL,          /* OpenGL / EGL / SDL failure */
    WM_ERR_NUMERIC,     /* NaN or Inf where a number was needed */
    WM_ERR_INTERRUPTED, /* stopped by a signal */
    WM_ERR_COUNT_
} WmStatus;

/* Name of a status ("io", "parse", ...), for tests and logs. */
const char *wm_status_name(int status);

/* Format a sentence into err (may be NULL) and return code, so a failure is one
 * line: `return wm_errf(err, errsz, WM_ERR_IO, "cannot open '%s'", path);` */
int wm_errf(char *err, size_t errsz, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefix an existing message in err with more context ("file.ini: " + err). */
int wm_err_prefix(char *err, size_t errsz, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Always-on assertion for programming errors (never for user input). */
#define WM_ASSERT(cond)                                                          \
    do {                                                                         \
        if (!(cond)) wm_assert_fail(#cond, __FILE__, __LINE__, __func__);        \
    } while (0)
_Noreturn void wm_assert_fail(const char *expr, const char *file, int line, const char *func);

typedef enum { WM_LOG_DEBUG = 0, WM_LOG_INFO, WM_LOG_WARN, WM_LOG_ERROR, WM_LOG_QUIET } WmLogLevel;

/* Messages below the level are dropped. The initial level is INFO, or the value of
 * the SEQJEPA_LOG environment variable (debug, info, warn, error, quiet). */
void wm_log_set_level(WmLogLevel level);
WmLogLevel wm_log_get_level(void);
void wm_log(WmLogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define wm_debug(...) wm_log(WM_LOG_DEBUG, __VA_ARGS__)
#define wm_info(...) wm_log(WM_LOG_INFO, __VA_ARGS__)
#define wm_warn(...) wm_log(WM_LOG_WARN, __VA_ARGS__)

#endif
