/* The test harness: CHECK counts, the program ends with TEST_DONE(), which prints
 * "N passed, N failed" as its last line and returns the exit status. */
#ifndef SJ_TEST_H
#define SJ_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

static int test_passed_, test_failed_;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            test_passed_++;                                                                        \
        } else {                                                                                   \
            test_failed_++;                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s", __FILE__, __LINE__, #cond);                          \
            fprintf(stderr, " " __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* Relative closeness with an absolute floor, for floating comparisons. */
#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        CHECK(fabs(a_ - b_) <= (tol) * fmax(1.0, fmax(fabs(a_), fabs(b_))), "%s=%.9g %s=%.9g", #a, \
              a_, #b, b_);                                                                         \
    } while (0)

#define TEST_DONE()                                                                                \
    (fflush(stderr), printf("%d passed, %d failed\n", test_passed_, test_failed_),                 \
     test_failed_ ? 1 : 0)

/* A fresh temporary folder for this test program (removed by the runner's TMPDIR). */
static inline const char *test_tmpdir(void) {
    static char dir[512];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/sjtest.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            abort();
        }
    }
    return dir;
}

/* The Python with Debian's numpy and torch. */
#define TEST_PYTHON "/usr/bin/python3"

#endif
