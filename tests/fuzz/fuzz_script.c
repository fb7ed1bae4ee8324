/* The viewer's event scripts: the parser on any text (with 100000 frames), so every
 * event it accepts has a frame in range, a known kind and arguments in range. The
 * parser's source is included for its file-local comparison; nothing here opens a window. */
#include "viewer/viewer_script.c"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(script) {
    const char *path = fuzz_write_tmp("events.txt", data, size);
    ScriptEvent *ev = NULL;
    int n = 0;
    char err[1024] = "";
    int rc = vw_script_load(path, 100000, &ev, &n, err, sizeof err);
    if (rc) {
        FUZZ_CHECK(strstr(err, path) != NULL, "error does not name the file: '%s'", err);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(ev[i].frame >= 0 && ev[i].frame < 100000 && ev[i].line >= 1, "event %d", i);
        FUZZ_CHECK(i == 0 || cmp_event(&ev[i - 1], &ev[i]) <= 0, "events out of order");
        for (int k = 0; k < 4; k++) FUZZ_CHECK(isfinite(ev[i].v[k]), "argument not finite");
        if (ev[i].kind == EV_WAIT) FUZZ_CHECK(ev[i].v[0] >= 1 && ev[i].v[0] <= 1e15, "wait_steps %g", ev[i].v[0]);
    }
    wm_free(ev);
    return 0;
}
