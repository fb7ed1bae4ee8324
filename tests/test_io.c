/* .npy and .safetensors: round trips for every dtype, interchange with numpy, and
 * hostile files (which must give errors, never crashes: run under make asan). */
#include <stdint.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/npy.h"
#include "core/safetensors.h"
#include "tests/test.h"

static const size_t SHAPE[3] = {2, 3, 4};

static void fill(WmDtype dt, void *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        long long k = (long long)i;
        switch (dt) {
        case WM_U8: ((uint8_t *)p)[i] = (uint8_t)((k * 7) % 256); break;
        case WM_I32: ((int32_t *)p)[i] = (int32_t)(k * 3 - 5); break;
        case WM_I64: ((int64_t *)p)[i] = k * 1000000007LL - 12345678901LL; break;
        case WM_F32: ((float *)p)[i] = (float)(k * 0.25 - 1); break;
        case WM_F64: ((double *)p)[i] = (double)k * 0.1 + 1e-3; break;
        default: break;
        }
    }
}

static char path_buf[1024];
static const char *tpath(const char *name) {
    snprintf(path_buf, sizeof path_buf, "%s/%s", test_tmpdir(), name);
    return path_buf;
}

static void write_raw(const char *name, const void *data, size_t n) {
    FILE *f = fopen(tpath(name), "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

/* Expects a read of `name` to fail with an error message containing `want`. */
static void expect_npy_error(const char *name, const char *want) {
    WmArray a;
    char err[512] = "";
    for (int mode = 0; mode < 2; mode++) {
        int rc = wm_npy_read(tpath(name), &a, mode, err, sizeof err);
        CHECK(rc != WM_OK && strstr(err, want), "%s (mode %d): rc=%d err='%s' want '%s'", name, mode, rc, err, want);
        CHECK(a.data == NULL);
    }
}

static void expect_st_error(const char *name, const char *want) {
    WmStFile *f = NULL;
    char err[512] = "";
    int rc = wm_st_open(tpath(name), &f, err, sizeof err);
    CHECK(rc != WM_OK && f == NULL && strstr(err, want), "%s: rc=%d err='%s' want '%s'", name, rc, err, want);
}

static void npy_roundtrips(void) {
    char err[512];
    unsigned char buf[24 * 8], back[24 * 8];
    for (int dt = 0; dt < WM_DTYPE_COUNT_; dt++) {
        char name[64];
        fill((WmDtype)dt, buf, 24);
        snprintf(name, sizeof name, "c_%s.npy", wm_dtype_name((WmDtype)dt));
        CHECK(wm_npy_write(tpath(name), (WmDtype)dt, 3, SHAPE, buf, err, sizeof err) == WM_OK, "%s", err);
        for (int mode = 0; mode < 2; mode++) {
            WmArray a;
            int rc = wm_npy_read(tpath(name), &a, mode, err, sizeof err);
            CHECK(rc == WM_OK, "%s", err);
            if (rc) continue;
            CHECK((int)a.dtype == dt && a.ndim == 3 && a.shape[0] == 2 && a.shape[2] == 4 && a.count == 24);
            memcpy(back, a.data, a.nbytes);
            CHECK(!memcmp(back, buf, 24 * wm_dtype_size((WmDtype)dt)), "%s values", name);
            CHECK(mode == 0 || ((uintptr_t)a.data % 64) == 0, "mapped data aligned");
            wm_array_free(&a);
        }
    }
    /* A header too long for format 1.0 switches to 2.0 and still reads. */
    size_t big[WM_MAX_DIMS] = {1, 1, 1, 1, 1, 1, 1, 1};
    float one = 1.5f;
    CHECK(wm_npy_write(tpath("v1.npy"), WM_F32, 8, big, &one, err, sizeof err) == WM_OK);
    WmArray a;
    CHECK(wm_npy_read(tpath("v1.npy"), &a, WM_NPY_LOAD, err, sizeof err) == WM_OK && a.ndim == 8 &&
          *(float *)a.data == 1.5f);
    wm_array_free(&a);
    /* Writing to a folder that does not exist: an error, nothing left. */
    CHECK(wm_npy_write("/nonexistent-dir/x.npy", WM_U8, 1, SHAPE, buf, err, sizeof err) == WM_ERR_IO &&
          strstr(err, "/nonexistent-dir/x.npy"), "%s", err);
}

static void safetensors_roundtrip(void) {
    char err[512];
    static unsigned char data[WM_DTYPE_COUNT_][24 * 8];
    WmStWriter *w = wm_st_writer_create();
    for (int dt = 0; dt < WM_DTYPE_COUNT_; dt++) {
        char name[32];
        fill((WmDtype)dt, data[dt], 24);
        snprintf(name, sizeof name, "t.%s", wm_dtype_name((WmDtype)dt));
        wm_st_writer_add(w, name, (WmDtype)dt, 3, SHAPE, data[dt]);
    }
    size_t s0[1] = {0};
    wm_st_writer_add(w, "empty", WM_F32, 1, s0, data[0]);
    wm_st_writer_add(w, "scalar", WM_F64, 0, NULL, data[WM_F64]);
    wm_st_writer_meta(w, "config", "[train]\nsteps = 3\n");
    wm_st_writer_meta(w, "unicode", "h\xc3\xa9llo \xe2\x9c\x93");
    CHECK(wm_st_writer_save(w, tpath("c.safetensors"), err, sizeof err) == WM_OK, "%s", err);
    wm_st_writer_destroy(w);
    WmStFile *f;
    int rc = wm_st_open(tpath("c.safetensors"), &f, err, sizeof err);
    CHECK(rc == WM_OK, "%s", err);
    if (rc) return;
    CHECK(wm_st_count(f) == WM_DTYPE_COUNT_ + 2);
    for (int dt = 0; dt < WM_DTYPE_COUNT_; dt++) {
        char name[32];
        snprintf(name, sizeof name, "t.%s", wm_dtype_name((WmDtype)dt));
        const WmStTensor *t = wm_st_find(f, name);
        CHECK(t && (int)t->dtype == dt && t->ndim == 3 && t->shape[1] == 3 &&
              !memcmp(t->data, data[dt], 24 * wm_dtype_size((WmDtype)dt)), "%s", name);
        CHECK(t && ((uintptr_t)t->data % wm_dtype_size((WmDtype)dt)) == 0, "%s aligned", name);
    }
    const WmStTensor *sc = wm_st_find(f, "scalar");
    CHECK(sc && sc->ndim == 0 && sc->count == 1);
    CHECK(wm_st_find(f, "empty") && wm_st_find(f, "empty")->count == 0);
    CHECK(wm_st_meta(f, "config") && !strcmp(wm_st_meta(f, "config"), "[train]\nsteps = 3\n"));
    CHECK(wm_st_meta(f, "missing") == NULL && wm_st_meta_count(f) == 2);
    int seen = 0; /* by index: each key once, with its value */
    for (int i = 0; i < 2; i++) {
        const char *k = wm_st_meta_at(f, i, 0), *v = wm_st_meta_at(f, i, 1);
        CHECK(k && v && wm_st_meta(f, k) == v, "meta entry %d", i);
        if (k) seen |= !strcmp(k, "config") ? 1 : !strcmp(k, "unicode") ? 2 : 4;
    }
    CHECK(seen == 3, "meta keys by index: %d", seen);
    CHECK(wm_st_meta_at(f, 2, 0) == NULL && wm_st_meta_at(f, -1, 1) == NULL);
    wm_st_close(f);
}

static void with_numpy(void) {
    char cmd[2048], err[512];
    snprintf(cmd, sizeof cmd, TEST_PYTHON " tests/py/io_check.py %s", test_tmpdir());
    CHECK(system(cmd) == 0, "numpy reads our .npy and .safetensors and writes its own");
    for (int dt = 0; dt < WM_DTYPE_COUNT_; dt++) {
        char name[64];
        unsigned char want[24 * 8];
        snprintf(name, sizeof name, "py_%s.npy", wm_dtype_name((WmDtype)dt));
        fill((WmDtype)dt, want, 24);
        WmArray a;
        int rc = wm_npy_read(tpath(name), &a, WM_NPY_MMAP, err, sizeof err);
        CHECK(rc == WM_OK && (int)a.dtype == dt && a.count == 24 && !memcmp(a.data, want, a.nbytes), "%s: %s", name, err);
        if (!rc) wm_array_free(&a);
    }
    WmArray a;
    CHECK(wm_npy_read(tpath("py_empty.npy"), &a, WM_NPY_MMAP, err, sizeof err) == WM_OK && a.count == 0 &&
          a.ndim == 2 && a.shape[1] == 5, "%s", err);
    wm_array_free(&a);
    CHECK(wm_npy_read(tpath("py_scalar.npy"), &a, WM_NPY_LOAD, err, sizeof err) == WM_OK && a.ndim == 0 &&
          *(double *)a.data == 3.5, "%s", err);
    wm_array_free(&a);
    expect_npy_error("py_fortran.npy", "Fortran");
}

static void hostile_npy(void) {
    char *good;
    size_t n;
    char err[512];
    CHECK(wm_read_file(tpath("c_f32.npy"), &good, &n, err, sizeof err) == WM_OK);
    write_raw("trunc.npy", good, n - 3);
    expect_npy_error("trunc.npy", "truncated");
    write_raw("short.npy", good, 7);
    expect_npy_error("short.npy", "not a .npy");
    char *h = wm_calloc(n, 1);
    memcpy(h, good, n);
    h[8] = (char)0xff, h[9] = (char)0x7f; /* header length 32767 > file */
    write_raw("longhdr.npy", h, n);
    expect_npy_error("longhdr.npy", "longer than the file");
    const char *variants[][2] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", "overflows"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3, 4), }", "unsupported dtype"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3, 4), }", "unsupported dtype"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4, }", "bad shape"},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3, 4), }", "fortran_order"},
        {"{'descr': '<f4', 'shape': (2, 3, 4), }", "lacks"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 5), }", "header says"},
        {"not a dict at all", "not a dict"},
    };
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        /* Keep the original header length, padding with spaces. */
        size_t hl = (size_t)(unsigned char)good[8] | (size_t)(unsigned char)good[9] << 8;
        memcpy(h, good, n);
        memset(h + 10, ' ', hl);
        memcpy(h + 10, variants[v][0], strlen(variants[v][0]));
        h[10 + hl - 1] = '\n';
        char name[32];
        snprintf(name, sizeof name, "bad%zu.npy", v);
        write_raw(name, h, n);
        expect_npy_error(name, variants[v][1]);
    }
    WmArray a;
    CHECK(wm_npy_read(tpath("missing.npy"), &a, 0, err, sizeof err) == WM_ERR_IO && strstr(err, "missing.npy"));
    CHECK(wm_npy_read(test_tmpdir(), &a, 0, err, sizeof err) == WM_ERR_IO, "a folder is not a file");
    wm_free(h);
    wm_free(good);
}

static void write_st(const char *name, const char *header, size_t datalen) {
    size_t hl = strlen(header);
    unsigned char *b = wm_calloc(8 + hl + datalen + 1, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    write_raw(name, b, 8 + hl + datalen);
    wm_free(b);
}

static void hostile_safetensors(void) {
    char *good;
    size_t n;
    char err[512];
    CHECK(wm_read_file(tpath("c.safetensors"), &good, &n, err, sizeof err) == WM_OK);
    write_raw("st_trunc.safetensors", good, n - 5);
    expect_st_error("st_trunc.safetensors", "out of bounds");
    write_raw("st_tiny.safetensors", good, 5);
    expect_st_error("st_tiny.safetensors", "too short");
    char *h = wm_calloc(n, 1);
    memcpy(h, good, n);
    h[6] = 1; /* header length ~ 2^48 */
    write_raw("st_longhdr.safetensors", h, n);
    expect_st_error("st_longhdr.safetensors", "exceeds the file size");
    wm_free(h);
    wm_free(good);
    write_st("st_ok.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    WmStFile *f = NULL;
    CHECK(wm_st_open(tpath("st_ok.safetensors"), &f, err, sizeof err) == WM_OK, "%s", err);
    wm_st_close(f);
    write_st("st_past.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4);
    expect_st_error("st_past.safetensors", "out of bounds");
    write_st("st_dtype.safetensors", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4);
    expect_st_error("st_dtype.safetensors", "unsupported dtype 'BF16'");
    write_st("st_overflow.safetensors",
             "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8);
    expect_st_error("st_overflow.safetensors", "overflows");
    write_st("st_overlap.safetensors",
             "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
             "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 6);
    expect_st_error("st_overlap.safetensors", "overlaps");
    write_st("st_span.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
    expect_st_error("st_span.safetensors", "needs 12");
    write_st("st_utf8.safetensors", "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    expect_st_error("st_utf8.safetensors", "UTF-8");
    write_st("st_json.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8);
    expect_st_error("st_json.safetensors", "json");
    write_st("st_neg.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8);
    expect_st_error("st_neg.safetensors", "bad shape");
    write_st("st_meta.safetensors", "{\"__metadata__\":{\"k\":3}}", 0);
    expect_st_error("st_meta.safetensors", "not a string");
    write_st("st_gap.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", 4);
    expect_st_error("st_gap.safetensors", "gap");
    write_st("st_deep.safetensors",
             "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
             0);
    expect_st_error("st_deep.safetensors", "nesting");
    /* Binary garbage. */
    unsigned char junk[300];
    for (int i = 0; i < 300; i++) junk[i] = (unsigned char)(i * 131 + 7);
    junk[0] = 200, junk[1] = 0, junk[2] = 0, junk[3] = 0, junk[4] = 0, junk[5] = 0, junk[6] = 0, junk[7] = 0;
    write_raw("st_junk.safetensors", junk, sizeof junk);
    expect_st_error("st_junk.safetensors", "st_junk");
}

int main(void) {
    npy_roundtrips();
    safetensors_roundtrip();
    with_numpy();
    hostile_npy();
    hostile_safetensors();
    return TEST_DONE();
}
