/* numpy .npy: read both ways (heap copy and mapping); an array the reader accepts
 * agrees with its file, and written back by the program reads back the same; read as
 * a list of strings too. */
#include "core/err.h"
#include "core/npy.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(npy) {
    const char *path = fuzz_write_tmp("in.npy", data, size);
    char err[1024] = "";
    WmArray a, b;
    for (int mode = 0; mode < 2; mode++) {
        int rc = wm_npy_read(path, &a, mode == 0 ? WM_NPY_LOAD : WM_NPY_MMAP, err, sizeof err);
        if (rc) {
            FUZZ_CHECK(strstr(err, path) != NULL, "error does not name the file: '%s'", err);
            continue;
        }
        size_t count, nbytes;
        FUZZ_CHECK(a.ndim >= 0 && a.ndim <= WM_MAX_DIMS, "ndim %d", a.ndim);
        FUZZ_CHECK(!wm_shape_count(a.ndim, a.shape, wm_dtype_size(a.dtype), &count, &nbytes) &&
                       count == a.count && nbytes == a.nbytes && nbytes <= size,
                   "sizes disagree");
        unsigned sum = 0;
        for (size_t i = 0; i < a.nbytes; i++) sum += ((const uint8_t *)a.data)[i];
        (void)sum;
        if (mode == 0) {
            char p2[800];
            snprintf(p2, sizeof p2, "%s.out.npy", path);
            rc = wm_npy_write(p2, a.dtype, a.ndim, a.shape, a.data, err, sizeof err);
            FUZZ_CHECK(rc == WM_OK, "cannot write back: %s", err);
            rc = wm_npy_read(p2, &b, WM_NPY_LOAD, err, sizeof err);
            FUZZ_CHECK(rc == WM_OK, "own output does not read back: %s", err);
            FUZZ_CHECK(b.dtype == a.dtype && b.ndim == a.ndim && b.nbytes == a.nbytes &&
                           !memcmp(b.shape, a.shape, sizeof a.shape) &&
                           (!a.nbytes || !memcmp(a.data, b.data, a.nbytes)),
                       "own output reads back different");
            wm_array_free(&b);
            unlink(p2);
        }
        wm_array_free(&a);
    }
    /* As a list of strings ('<Un' or '|Sn', 1-D): every item a string inside the block. */
    WmStrArray st;
    int rc = wm_npy_read_str(path, &st, err, sizeof err);
    if (rc) {
        FUZZ_CHECK(strstr(err, path) != NULL, "error does not name the file: '%s'", err);
    } else {
        size_t total = 0;
        for (size_t i = 0; i < st.n; i++) total += strlen(st.items[i]) + 1;
        FUZZ_CHECK(total <= 4 * size + 1, "strings longer than the file");
        wm_str_array_free(&st);
    }
    return 0;
}
