/* Inside the dataset module (agents/dataset.h): the files of a shard, their records
 * (shard.json and the manifest's entries) and checksums, shared by writing and reading. */
#ifndef AG_DS_IMPL_H
#define AG_DS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "core/alloc.h"
#include "core/json.h"
#include "core/npy.h"

#define DS_FORMAT       "seqjepa-dataset"
#define DS_VERSION      1
#define DS_MANIFEST     "manifest.json"
#define DS_CONFIG_FILE  "dataset.ini"
#define DS_SHARD_RECORD "shard.json"

/* The files of a shard, in this order; saccade datasets have all, others the first five. */
enum {
    DS_F_IMAGES = 0,
    DS_F_ACTIONS,
    DS_F_LATENTS,
    DS_F_LABELS,
    DS_F_INSTANCES,
    DS_F_SCENES,
    DS_F_SALIENCY,
    DS_MAX_FILES
};

typedef struct {
    WmDtype dtype;
    int ndim;
    size_t shape[WM_MAX_DIMS];
    uint64_t bytes; /* file size, header included (0 until known) */
    uint32_t crc;   /* CRC-32 of the whole file */
} DsFile;

typedef struct {
    int64_t first, n; /* sequences first .. first+n-1 of the split */
    int nfiles;
    DsFile files[DS_MAX_FILES];
} DsShard;

/* Shape of the data a shard needs (T views, scene side S or 0) */
typedef struct {
    int t, h, w, c, a, l, s;
} DsDims;

const char *ds_file_name(int f);        /* "images.npy", ... */
const char *ds_dtype_numpy(WmDtype dt); /* "uint8", "float32", "int32" */
/* Fills the expected dtypes and shapes of a shard of n sequences (bytes and crc 0). */
void ds_shard_layout(const DsDims *d, int64_t first, int64_t n, DsShard *out);
/* "shard-00012" */
void ds_shard_name(int index, char *out, size_t outsz);

/* One shard as JSON (no trailing newline), as in shard.json and the manifest. */
void ds_shard_json(const DsShard *s, const char *name, WmJsonW *w);
/* Reads a shard's record from JSON into out and checks it against the expected
 * layout (dtypes and shapes, first and n); returns WM_OK or WM_ERR_FORMAT with the
 * reason in err. */
int ds_shard_parse(const WmJson *js, const DsShard *want, DsShard *out, char *err, size_t errsz);

/* Size and CRC-32 of a whole file. */
int ds_file_crc(const char *path, uint64_t *size, uint32_t *crc, char *err, size_t errsz);

/* ---- writing (ds_write.c) ---- */

/* Direct I/O: a buffer whose array starts DS_HEADER_BYTES past a DS_DIRECT_ALIGN
 * boundary is written with O_DIRECT (the .npy header fits in DS_HEADER_BYTES). */
#define DS_DIRECT_ALIGN 4096
#define DS_HEADER_BYTES 128

/* All n bytes to fd (retrying short writes); 0 or -1 with errno set. */
int ds_write_all(int fd, const void *data, size_t n);
/* Writes file f of a shard (its .npy header and data) into dir, filling rec's size
 * and checksum. */
int ds_write_array(const char *dir, int f, DsFile *rec, const void *data, char *err, size_t errsz);
/* Removes leftovers of a killed run in dir: temporary files of atomic writes, or
 * (shard_dir) temporary shard folders. */
int ds_clean_leftovers(const char *dir, int shard_dir, char *err, size_t errsz);
/* Claims dir for a dataset of cfg: an empty folder gets dataset.ini (text); a folder
 * holding a dataset of another config is refused with the keys that differ. */
int ds_claim_folder(const char *dir, const DsConfig *cfg, const char *text, char *err, size_t errsz);

/* What the manifest records beside the config text: the splits' counts and shards
 * (recs: every shard of train, then of val). */
typedef struct {
    const char *dir;
    const DsConfig *cfg;
    const EnvSpec *spec;
    const DsDims *dims;
    const char *agent_kind;
    const int64_t *count; /* [DS_SPLITS] */
    const int *nshards;   /* [DS_SPLITS] */
    const DsShard *recs;
} DsManifest;
/* Writes dir/manifest.json (atomically), the dataset's last file. */
int ds_write_manifest(const DsManifest *mf, const char *ini, char *err, size_t errsz);

#endif
