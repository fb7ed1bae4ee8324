/* The safetensors format: an 8-byte little-endian header length, a JSON header
 * mapping names to {dtype, shape, data_offsets} plus "__metadata__" strings, then
 * the data. Readers check everything against the file size before use. */
#ifndef WM_SAFETENSORS_H
#define WM_SAFETENSORS_H

#include <stddef.h>

#include "npy.h"

typedef struct {
    const char *name;
    WmDtype dtype;
    int ndim;
    size_t shape[WM_MAX_DIMS];
    size_t count, nbytes;
    const void *data; /* into the mapping; may be unaligned for F64/I64 only if the writer padded badly */
} WmStTensor;

typedef struct WmStWriter WmStWriter;
WmStWriter *wm_st_writer_create(void);
void wm_st_writer_destroy(WmStWriter *w);
/* The data is referenced, not copied: it must stay valid until save. Names are copied. */
void wm_st_writer_add(WmStWriter *w, const char *name, WmDtype dt, int ndim, const size_t *shape,
                      const void *data);
void wm_st_writer_meta(WmStWriter *w, const char *key, const char *value);
/* Writes atomically (temporary file, then rename); tensors are stored in the order
 * added, each data block 8-byte aligned in the file. */
int wm_st_writer_save(WmStWriter *w, const char *path, char *err, size_t errsz);

typedef struct WmStFile WmStFile;
int wm_st_open(const char *path, WmStFile **out, char *err, size_t errsz);
/* The same checks on bytes in memory (name is used in messages); the tensors point
 * into bytes, which must outlive the file. */
int wm_st_parse(const void *bytes, size_t n, const char *name, WmStFile **out, char *err,
                size_t errsz);
void wm_st_close(WmStFile *f);
int wm_st_count(const WmStFile *f);
const WmStTensor *wm_st_at(const WmStFile *f, int i);
const WmStTensor *wm_st_find(const WmStFile *f, const char *name);
int wm_st_meta_count(const WmStFile *f);
/* NULL when absent. */
const char *wm_st_meta(const WmStFile *f, const char *key);
/* Entry i's key (value = 0) or value (value = 1), in file order; NULL when out of range. */
const char *wm_st_meta_at(const WmStFile *f, int i, int value);

#endif
