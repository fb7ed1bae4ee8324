/* The dataset opener: manifest.json, dataset.ini and every shard's files together.
 * The input is a small container of files (see pack.py): records of
 *     u8 name length, name, u32 little-endian data length, data
 * unpacked into a fresh folder (names of [A-Za-z0-9._-] parts joined by '/', no ".."),
 * then opened with full verification; a dataset that opens is read whole, sequence by
 * sequence and as training batches, so every index it allows is inside its files. */
#include "data/dataset.h"
#include "core/err.h"
#include "core/fs.h"
#include "tests/fuzz/fuzz.h"

static int name_ok(const char *s) {
    if (!*s || *s == '/' || strstr(s, "..") || strstr(s, "//") || s[strlen(s) - 1] == '/') return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-' || *c == '/'))
            return 0;
    return 1;
}

static void unpack(const char *dir, const uint8_t *data, size_t size) {
    size_t i = 0;
    int files = 0;
    while (i < size && files < 64) {
        size_t nl = data[i++];
        if (nl == 0 || size - i < nl + 4) return;
        char name[256], path[1100], err[512];
        memcpy(name, data + i, nl);
        name[nl] = 0;
        i += nl;
        size_t dl = (size_t)data[i] | (size_t)data[i + 1] << 8 | (size_t)data[i + 2] << 16 |
                    (size_t)data[i + 3] << 24;
        i += 4;
        if (dl > size - i) dl = size - i;
        if (name_ok(name)) {
            snprintf(path, sizeof path, "%s/%s", dir, name);
            char *slash = strrchr(path, '/');
            *slash = 0;
            if (wm_mkdirs(path, err, sizeof err) == WM_OK) {
                *slash = '/';
                FILE *f = fopen(path, "wb");
                if (f) {
                    if (dl) fwrite(data + i, 1, dl, f);
                    fclose(f);
                }
            }
        }
        i += dl;
        files++;
    }
}

FUZZ_TARGET(dataset) {
    char dir[800], err[2048] = "";
    snprintf(dir, sizeof dir, "%s/ds", fuzz_tmpdir());
    wm_remove_tree(dir, err, sizeof err);
    FUZZ_CHECK(wm_mkdirs(dir, err, sizeof err) == WM_OK, "%s", err);
    unpack(dir, data, size);
    Dataset *d;
    int orc = ds_open(dir, DS_OPEN_VERIFY, &d, err, sizeof err);
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "dataset: %s\n", d ? "opened" : err);
    FUZZ_CHECK((orc == WM_OK) == (d != NULL), "status %d with dataset %p", orc, (void *)d);
    if (!d) {
        FUZZ_CHECK(strstr(err, dir) != NULL || strstr(err, "manifest.json") != NULL,
                   "error does not name the folder or file: '%s'", err);
        wm_remove_tree(dir, err, sizeof err);
        return 0;
    }
    const EnvSpec *sp = ds_spec(d);
    int T = ds_views(d), S = ds_config(d)->env.kind ? ds_config(d)->env.scene_size : 0;
    AgBatch b;
    int rc = ag_batch_alloc(&b, sp, 2, T, S, err, sizeof err);
    FUZZ_CHECK(rc == WM_OK, "batch for an opened dataset: %s", err);
    for (int s = 0; s < DS_SPLITS; s++) {
        for (int64_t i = 0; i < ds_count(d, s); i++) {
            rc = ds_read(d, s, i, 1, 0, &b, err, sizeof err);
            FUZZ_CHECK(rc == WM_OK, "sequence %lld of an opened dataset: %s", (long long)i, err);
            FUZZ_CHECK(b.labels[0] >= 0 && b.labels[0] < sp->n_classes, "label %d", b.labels[0]);
        }
        if (ds_count(d, s) > 0)
            for (int step = 0; step < 3; step++)
                FUZZ_CHECK(ds_batch(d, s, 1, step, &b, err, sizeof err) == WM_OK, "batch: %s", err);
    }
    ag_batch_free(&b);
    ds_close(d);
    wm_remove_tree(dir, err, sizeof err);
    return 0;
}
