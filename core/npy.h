/* numpy .npy files (format 1.0 and 2.0, C order) and the dtypes the project uses. */
#ifndef WM_NPY_H
#define WM_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/alloc.h"

typedef enum { WM_U8 = 0, WM_I32, WM_I64, WM_F32, WM_F64, WM_DTYPE_COUNT_ } WmDtype;

#define WM_MAX_DIMS 8

size_t wm_dtype_size(WmDtype dt);
const char *wm_dtype_name(WmDtype dt); /* "u8", "i32", ... */

/* An n-dimensional array, owned (heap) or mapped read-only from a file. */
typedef struct {
    WmDtype dtype;
    int ndim;
    size_t shape[WM_MAX_DIMS];
    size_t count;  /* product of shape */
    size_t nbytes; /* count * dtype size */
    void *data;
    /* private */
    void *map_;
    size_t map_len_;
} WmArray;

/* Element count of a shape with overflow check: 0 on success, -1 on overflow. */
int wm_shape_count(int ndim, const size_t *shape, size_t elem, size_t *count, size_t *nbytes);

/* Appends the .npy header numpy itself writes for a C-ordered array (magic, version,
 * length, the dict padded with spaces and a newline so that the data starts on a
 * 64-byte boundary): format 1.0 unless the dict needs 2.0. */
void wm_npy_header(WmDtype dt, int ndim, const size_t *shape, WmBuf *out);

/* Writes an array to path atomically (temporary file, then rename). Uses format 1.0
 * unless the header needs 2.0. */
int wm_npy_write(const char *path, WmDtype dt, int ndim, const size_t *shape, const void *data,
                 char *err, size_t errsz);

enum { WM_NPY_LOAD = 0, WM_NPY_MMAP = 1 };
/* Reads path into out (heap copy, or a read-only mapping with WM_NPY_MMAP). The
 * header must agree with the file size exactly; Fortran order and other dtypes are
 * errors. */
int wm_npy_read(const char *path, WmArray *out, int mode, char *err, size_t errsz);
void wm_array_free(WmArray *a);

/* Lists of strings as numpy stores them: a 1-D array of fixed-width strings, '<Un'
 * (what np.save makes of a str array: n UTF-32 characters per row, padded with NULs)
 * or '|Sn' (bytes). Read into NUL-terminated UTF-8 strings items[0..n-1], which point
 * into one block (text). */
typedef struct {
    size_t n;
    const char **items;
    char *text;
} WmStrArray;
int wm_npy_read_str(const char *path, WmStrArray *out, char *err, size_t errsz);
void wm_str_array_free(WmStrArray *s);
/* Appends the header of a '<U{width}' array of n strings; the rows follow, each width
 * little-endian UTF-32 characters. */
void wm_npy_header_str(size_t width, size_t n, WmBuf *out);

#endif
