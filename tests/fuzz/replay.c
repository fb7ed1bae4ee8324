/* Replays the fuzz corpora (every file of tests/fuzz/<harness>/) through their harnesses, each file
 * in a child process of its own, built with AddressSanitizer and UBSan: a file passes
 * when the harness returns, and fails on a crash, a sanitizer report or a broken
 * property. `make test` runs it, so a fixed finding cannot come back.
 *   usage: test_fuzz [CORPUS_ROOT]        every harness, every file
 *          test_fuzz HARNESS FILE...      those files through one harness */
#include <dirent.h>
#include <sys/wait.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "tests/fuzz/fuzz.h"

#define HARNESSES(X) X(config) X(obj) X(npy) X(safetensors) X(json) X(dataset) X(image) X(script)
#define DECL(n) int fuzz_##n(const uint8_t *data, size_t size);
HARNESSES(DECL)
#define ENTRY(n) {#n, fuzz_##n},
static const struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} harnesses[] = {HARNESSES(ENTRY)};
#define NH ((int)(sizeof harnesses / sizeof harnesses[0]))

static int passed, failed;

/* 0 when the harness returned on this file. */
static int run_file(int h, const char *path) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return perror("fork"), -1;
    if (pid == 0) {
        char *data, err[512];
        size_t len;
        if (wm_read_file(path, &data, &len, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            _exit(3);
        }
        harnesses[h].fn((const uint8_t *)data, len);
        wm_free(data);
        wm_remove_tree(fuzz_tmpdir(), err, sizeof err);
        _exit(0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {}
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    if (WIFSIGNALED(st)) fprintf(stderr, "FAIL %s %s: signal %d\n", harnesses[h].name, path, WTERMSIG(st));
    else fprintf(stderr, "FAIL %s %s: exit status %d\n", harnesses[h].name, path, WEXITSTATUS(st));
    return -1;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void run_dir(int h, const char *root) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", root, harnesses[h].name);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "FAIL %s: no corpus folder '%s'\n", harnesses[h].name, dir);
        failed++;
        return;
    }
    char **names = NULL;
    int n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) names = wm_realloc(names, (size_t)(cap = cap ? 2 * cap : 64), sizeof *names);
        names[n++] = wm_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    int p0 = passed, f0 = failed;
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (run_file(h, path)) failed++;
        else passed++;
        wm_free(names[i]);
    }
    wm_free(names);
    if (n == 0) {
        fprintf(stderr, "FAIL %s: empty corpus '%s'\n", harnesses[h].name, dir);
        failed++;
    }
    printf("%-12s %d files: %d passed, %d failed\n", harnesses[h].name, n, passed - p0, failed - f0);
}

int main(int argc, char **argv) {
    int h = -1;
    for (int i = 0; argc > 1 && i < NH; i++)
        if (!strcmp(argv[1], harnesses[i].name)) h = i;
    if (h >= 0) {
        for (int i = 2; i < argc; i++) {
            if (run_file(h, argv[i])) failed++;
            else passed++;
        }
    } else {
        const char *root = argc > 1 ? argv[1] : "tests/fuzz";
        for (int i = 0; i < NH; i++) run_dir(i, root);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
