/* The dataset format (dataset.h, ds_impl.h): its config schema, shard files and their
 * records (shard.json, the manifest's entries) and checksums, shared by the writer,
 * the generator and the reader. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/crc32.h"
#include "core/err.h"
#include "core/fs.h"
#include "data/dataset.h"
#include "data/ds_impl.h"

WM_CFG_FIELDS(DsGenConfig, DS_GEN_FIELDS);

/* ---- configuration ---- */

static WmCfgSection cfg_sections[3];
static WmCfgSchema cfg_schema;
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;

/* Field counts are link-time constants of other modules: the table is built at first use. */
static void cfg_init(void) {
    cfg_sections[0] =
        (WmCfgSection){"env", EnvConfig_fields, EnvConfig_nfields, offsetof(DsConfig, env), 0, NULL};
    cfg_sections[1] =
        (WmCfgSection){"agent", AgentConfig_fields, AgentConfig_nfields, offsetof(DsConfig, agent), 0, NULL};
    cfg_sections[2] =
        (WmCfgSection){"gen", DsGenConfig_fields, DsGenConfig_nfields, offsetof(DsConfig, gen), 0, NULL};
    cfg_schema = (WmCfgSchema){cfg_sections, 3};
}

const WmCfgSchema *ds_config_schema(void) {
    pthread_once(&cfg_once, cfg_init);
    return &cfg_schema;
}

/* Keys that change how fast the data is made, never its bytes. */
static const char *const speed_keys[][2] = {
    {"gen", "threads"}, {"gen", "lanes"}, {"env", "render_threads"}, {"env", "assets"}};

void ds_config_normalize(DsConfig *c) {
    const WmCfgSchema *s = ds_config_schema();
    for (size_t i = 0; i < sizeof speed_keys / sizeof speed_keys[0]; i++) {
        const WmCfgField *f =
            wm_cfg_find_field(wm_cfg_find_section(s, speed_keys[i][0]), speed_keys[i][1]);
        WM_ASSERT(f);
        WM_ASSERT(wm_cfg_set(s, c, speed_keys[i][0], speed_keys[i][1], f->def, "default", NULL,
                             0) == WM_OK);
    }
}

const char *ds_split_name(int split) {
    return split == DS_SPLIT_TRAIN ? "train" : "val";
}

/* ---- shard files and records ---- */

static const char *const file_names[DS_MAX_FILES] = {"images.npy",  "actions.npy",   "latents.npy",
                                                     "labels.npy",  "instances.npy", "scenes.npy",
                                                     "saliency.npy"};

const char *ds_file_name(int f) {
    return file_names[f];
}

const char *ds_dtype_numpy(WmDtype dt) {
    switch (dt) {
    case WM_U8:
        return "uint8";
    case WM_I32:
        return "int32";
    case WM_I64:
        return "int64";
    case WM_F32:
        return "float32";
    case WM_F64:
        return "float64";
    default:
        return "?";
    }
}

static void set_file(DsFile *f, WmDtype dt, int ndim, const size_t *shape) {
    memset(f, 0, sizeof *f);
    f->dtype = dt;
    f->ndim = ndim;
    memcpy(f->shape, shape, (size_t)ndim * sizeof *shape);
}

void ds_shard_layout(const DsDims *d, int64_t first, int64_t n, DsShard *out) {
    memset(out, 0, sizeof *out);
    out->first = first, out->n = n;
    size_t N = (size_t)n, T = (size_t)d->t, S = (size_t)d->s;
    set_file(&out->files[DS_F_IMAGES], WM_U8, 5,
             (size_t[]){N, T, (size_t)d->h, (size_t)d->w, (size_t)d->c});
    set_file(&out->files[DS_F_ACTIONS], WM_F32, 3, (size_t[]){N, T - 1, (size_t)d->a});
    set_file(&out->files[DS_F_LATENTS], WM_F32, 3, (size_t[]){N, T, (size_t)d->l});
    set_file(&out->files[DS_F_LABELS], WM_I32, 1, (size_t[]){N});
    set_file(&out->files[DS_F_INSTANCES], WM_I32, 1, (size_t[]){N});
    out->nfiles = DS_F_INSTANCES + 1;
    if (S > 0) {
        set_file(&out->files[DS_F_SCENES], WM_U8, 4, (size_t[]){N, S, S, 3});
        set_file(&out->files[DS_F_SALIENCY], WM_F32, 3, (size_t[]){N, S, S});
        out->nfiles = DS_F_SALIENCY + 1;
    }
}

void ds_shard_name(int index, char *out, size_t outsz) {
    snprintf(out, outsz, "shard-%05d", index);
}

void ds_shard_json(const DsShard *s, const char *name, WmJsonW *w) {
    wm_jw_obj(w);
    wm_jw_key(w, "name"), wm_jw_str(w, name);
    wm_jw_key(w, "first"), wm_jw_int(w, (long long)s->first);
    wm_jw_key(w, "sequences"), wm_jw_int(w, (long long)s->n);
    wm_jw_key(w, "files"), wm_jw_arr(w);
    for (int i = 0; i < s->nfiles; i++) {
        const DsFile *f = &s->files[i];
        wm_jw_break(w, "\n    ");
        wm_jw_obj(w);
        wm_jw_key(w, "name"), wm_jw_str(w, file_names[i]);
        wm_jw_key(w, "dtype"), wm_jw_str(w, ds_dtype_numpy(f->dtype));
        wm_jw_key(w, "shape"), wm_jw_arr(w);
        for (int k = 0; k < f->ndim; k++)
            wm_jw_uint(w, f->shape[k]);
        wm_jw_end(w);
        wm_jw_key(w, "bytes"), wm_jw_uint(w, (unsigned long long)f->bytes);
        wm_jw_key(w, "crc32"), wm_jw_uint(w, (unsigned long long)f->crc);
        wm_jw_end(w);
    }
    wm_jw_end(w);
    wm_jw_end(w);
}

int ds_shard_parse(const WmJson *js, const DsShard *want, DsShard *out, char *err, size_t errsz) {
    *out = *want;
    double first, n;
    if (!js || js->type != WM_JSON_OBJ || wm_json_int(js, "first", 0, 9e15, &first) ||
        wm_json_int(js, "sequences", 0, 9e15, &n))
        return wm_errf(err, errsz, WM_ERR_FORMAT, "the record lacks first or sequences");
    if ((int64_t)first != want->first || (int64_t)n != want->n)
        return wm_errf(
            err, errsz, WM_ERR_FORMAT, "the record holds sequences %.0f..%.0f, expected %lld..%lld",
            first, first + n - 1, (long long)want->first, (long long)(want->first + want->n - 1));
    const WmJson *files = wm_json_get(js, "files");
    if (!files || files->type != WM_JSON_ARR || (int)files->len != want->nfiles)
        return wm_errf(err, errsz, WM_ERR_FORMAT, "the record lists %d files, expected %d",
                       files && files->type == WM_JSON_ARR ? (int)files->len : 0, want->nfiles);
    for (int i = 0; i < want->nfiles; i++) {
        const WmJson *f = wm_json_at(files, (size_t)i), *nm = wm_json_get(f, "name"),
                     *dt = wm_json_get(f, "dtype"), *sh = wm_json_get(f, "shape");
        const DsFile *w = &want->files[i];
        DsFile *o = &out->files[i];
        if (!nm || nm->type != WM_JSON_STR || strcmp(nm->str, file_names[i]))
            return wm_errf(err, errsz, WM_ERR_FORMAT, "file %d of the record is not %s", i,
                           file_names[i]);
        int ok = dt && dt->type == WM_JSON_STR && !strcmp(dt->str, ds_dtype_numpy(w->dtype)) &&
                 sh && sh->type == WM_JSON_ARR && (int)sh->len == w->ndim;
        for (int k = 0; ok && k < w->ndim; k++) {
            const WmJson *d = wm_json_at(sh, (size_t)k);
            ok = d && d->type == WM_JSON_NUM && d->num == (double)w->shape[k];
        }
        if (!ok)
            return wm_errf(err, errsz, WM_ERR_FORMAT,
                           "%s: the record's dtype or shape is not the expected %s [%zu, ...]",
                           file_names[i], ds_dtype_numpy(w->dtype), w->shape[0]);
        double bytes, crc;
        if (wm_json_int(f, "bytes", 1, 9e15, &bytes) || wm_json_int(f, "crc32", 0, 4294967295.0, &crc))
            return wm_errf(err, errsz, WM_ERR_FORMAT, "%s: the record lacks bytes or crc32",
                           file_names[i]);
        o->bytes = (uint64_t)bytes;
        o->crc = (uint32_t)crc;
    }
    return WM_OK;
}

int ds_file_crc(const char *path, uint64_t *size, uint32_t *crc, char *err, size_t errsz) {
    size_t fsize;
    int fd = wm_open_regular(path, &fsize, err, errsz);
    if (fd < 0) return WM_ERR_IO;
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = wm_calloc(CHUNK, 1);
    uint64_t total = 0;
    uint32_t c = 0;
    int rc = WM_OK;
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = wm_errf(err, errsz, WM_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
        if (r == 0) break;
        c = wm_crc32(c, buf, (size_t)r);
        total += (uint64_t)r;
    }
    wm_free(buf);
    close(fd);
    *size = total;
    *crc = c;
    return rc;
}
