/* safetensors (checkpoints): header and tensor table from bytes in memory, so that
 * every read of tensor data is bounds-checked by the sanitizer; a file the reader
 * accepts, written back by the program's writer, reads back the same. */
#include "core/alloc.h"
#include "core/err.h"
#include "core/safetensors.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(safetensors) {
    /* An exact-size heap copy: a read past the end is a sanitizer report. */
    uint8_t *copy = wm_calloc(size ? size : 1, 1);
    memcpy(copy, data, size);
    char err[1024] = "";
    WmStFile *f;
    int rc = wm_st_parse(copy, size, "fuzz.safetensors", &f, err, sizeof err);
    if (rc) {
        FUZZ_CHECK(strstr(err, "fuzz.safetensors") != NULL, "error does not name the file: '%s'", err);
        wm_free(copy);
        return 0;
    }
    WmStWriter *w = wm_st_writer_create();
    unsigned sum = 0;
    for (int i = 0; i < wm_st_count(f); i++) {
        const WmStTensor *t = wm_st_at(f, i);
        FUZZ_CHECK(wm_st_find(f, t->name) == t, "tensor '%s' found elsewhere", t->name);
        for (size_t k = 0; k < t->nbytes; k++) sum += ((const uint8_t *)t->data)[k];
        wm_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    (void)sum;
    for (int i = 0; i < wm_st_meta_count(f); i++)
        wm_st_writer_meta(w, wm_st_meta_at(f, i, 0), wm_st_meta_at(f, i, 1));
    char path[800];
    snprintf(path, sizeof path, "%s/out.safetensors", fuzz_tmpdir());
    rc = wm_st_writer_save(w, path, err, sizeof err);
    FUZZ_CHECK(rc == WM_OK, "cannot write back: %s", err);
    wm_st_writer_destroy(w);
    WmStFile *g;
    rc = wm_st_open(path, &g, err, sizeof err);
    FUZZ_CHECK(rc == WM_OK, "own output does not read back: %s", err);
    FUZZ_CHECK(wm_st_count(g) == wm_st_count(f) && wm_st_meta_count(g) == wm_st_meta_count(f),
               "own output holds other counts");
    for (int i = 0; i < wm_st_count(f); i++) {
        const WmStTensor *t = wm_st_at(f, i), *u = wm_st_find(g, t->name);
        FUZZ_CHECK(u && u->dtype == t->dtype && u->ndim == t->ndim && u->nbytes == t->nbytes &&
                       (!t->nbytes || !memcmp(u->data, t->data, t->nbytes)),
                   "tensor '%s' reads back different", t->name);
    }
    for (int i = 0; i < wm_st_meta_count(f); i++) {
        const char *k = wm_st_meta_at(f, i, 0), *v = wm_st_meta(g, k);
        FUZZ_CHECK(v && !strcmp(v, wm_st_meta(f, k)), "metadata '%s' reads back different", k);
    }
    wm_st_close(g);
    wm_st_close(f);
    unlink(path);
    wm_free(copy);
    return 0;
}
