/* Fuzz targets: each reader of a file format gets one function that takes arbitrary
 * bytes, runs the reader on them and checks what must hold whatever the bytes were
 * (no crash, no sanitizer report, an error message that names the input, and for what
 * the program itself writes, that it reads back). FUZZ_TARGET(name) defines
 * fuzz_<name>(); built for libFuzzer (FUZZ_LIBFUZZER) it is also the
 * LLVMFuzzerTestOneInput of that harness's program, and tests/fuzz/replay.c runs every
 * file of tests/fuzz/<name>/ through it. */
#ifndef SJ_FUZZ_H
#define SJ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"

#ifdef FUZZ_LIBFUZZER
#define FUZZ_TARGET(name)                                                                          \
    int fuzz_##name(const uint8_t *data, size_t size);                                             \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_##name(data, size); } \
    int fuzz_##name(const uint8_t *data, size_t size)
#else
#define FUZZ_TARGET(name) int fuzz_##name(const uint8_t *data, size_t size)
#endif

/* A property that must hold for every input: abort with the reason (a finding). */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: %s:%d: %s: ", __FILE__, __LINE__, #cond);                       \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char fuzz_tmpdir_[512];

static inline void fuzz_tmpdir_remove(void) {
    char err[256];
    if (fuzz_tmpdir_[0]) wm_remove_tree(fuzz_tmpdir_, err, sizeof err);
}

/* A folder of this process's own for temporary files (made once, under $TMPDIR,
 * removed when the process exits normally). */
static inline const char *fuzz_tmpdir(void) {
    if (!fuzz_tmpdir_[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_tmpdir_, sizeof fuzz_tmpdir_, "%s/sjfuzz.%ld", t && *t ? t : "/tmp", (long)getpid());
        mkdir(fuzz_tmpdir_, 0700);
        atexit(fuzz_tmpdir_remove);
    }
    return fuzz_tmpdir_;
}

/* Writes data to <tmpdir>/<name> and returns the path (static storage). */
static inline const char *fuzz_write_tmp(const char *name, const uint8_t *data, size_t size) {
    static char path[700];
    snprintf(path, sizeof path, "%s/%s", fuzz_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL, "cannot write %s", path);
    FUZZ_CHECK(size == 0 || fwrite(data, 1, size, f) == size, "cannot write %s", path);
    FUZZ_CHECK(fclose(f) == 0, "cannot write %s", path);
    return path;
}

#endif
