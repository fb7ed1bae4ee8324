/* INI run configs and section.key=value overrides: the input up to a line "%%" is the
 * config file, each line after it one override. A config that loads, dumped by the
 * program, loads back to the same dump. */
#include "run/runcfg.h"
#include "core/alloc.h"
#include "core/err.h"
#include "tests/fuzz/fuzz.h"

static RunConfig a, b; /* large: kept off the stack */

FUZZ_TARGET(config) {
    const char *sep = NULL;
    for (size_t i = 0; i + 2 <= size && !sep; i++)
        if ((i == 0 || data[i - 1] == '\n') && data[i] == '%' && data[i + 1] == '%')
            sep = (const char *)data + i;
    size_t ini_len = sep ? (size_t)(sep - (const char *)data) : size;
    const char *path = fuzz_write_tmp("config.ini", data, ini_len);
    char *over[64];
    int n_over = 0;
    char *rest = NULL;
    if (sep) {
        size_t n = size - ini_len;
        rest = wm_calloc(n + 1, 1);
        memcpy(rest, sep, n);
        rest[n] = 0;
        char *save = NULL;
        strtok_r(rest, "\n", &save); /* the "%%" line */
        for (char *l = strtok_r(NULL, "\n", &save); l && n_over < 64; l = strtok_r(NULL, "\n", &save))
            over[n_over++] = l;
    }
    char err[2048] = "";
    int rc = run_config_load(&a, path, n_over, over, err, sizeof err);
    if (rc) {
        FUZZ_CHECK(err[0] && (strstr(err, path) || strstr(err, "command line")),
                   "error does not name the file or override: '%s'", err);
    } else {
        WmBuf t1 = {0}, t2 = {0};
        run_config_text(&a, &t1);
        const char *p2 = fuzz_write_tmp("dump.ini", (const uint8_t *)t1.data, t1.len);
        rc = run_config_load(&b, p2, 0, NULL, err, sizeof err);
        FUZZ_CHECK(rc == WM_OK, "the program's own dump does not load: %s", err);
        run_config_text(&b, &t2);
        FUZZ_CHECK(t1.len == t2.len && !memcmp(t1.data, t2.data, t1.len), "dump changes on reload");
        wm_buf_free(&t1);
        wm_buf_free(&t2);
    }
    wm_free(rest);
    return 0;
}
