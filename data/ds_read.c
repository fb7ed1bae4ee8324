/* Reading datasets: the manifest, memory-mapped shards, sequences by index and the
 * deterministic training stream (one shuffled pass over the split per epoch). */
#include <stdio.h>
#include <string.h>

#include "data/dataset.h"
#include "data/ds_3die.h"
#include "data/ds_impl.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/rng.h"

/* More classes than any world makes: a bound on what the model's class head may be
 * asked to allocate from a manifest's word. */
#define DS_MAX_CLASSES 65536

typedef struct {
    DsShard rec;
    WmArray a[DS_MAX_FILES];
} Shard;

typedef struct {
    int split;
    uint64_t seed;
    int64_t epoch;
    uint32_t *order; /* NULL: slot unused */
} Order;

struct Dataset {
    char dir[1024];
    DsConfig cfg;
    EnvSpec spec;
    char names[2][ENV_MAX_DIM][64];
    char hint[128];
    DsDims dims;
    int64_t count[DS_SPLITS];
    int nshards[DS_SPLITS];
    Shard *shards[DS_SPLITS];
    Order orders[2];
    int next_slot;
    Ds3 *d3; /* a folder in the 3DIEBench layout (then no shards) */
};

/* Reads a string member into out; -1 when absent or too long. */
static int json_str(const WmJson *o, const char *key, char *out, size_t outsz) {
    const WmJson *v = wm_json_get(o, key);
    if (!v || v->type != WM_JSON_STR || v->len >= outsz) return -1;
    memcpy(out, v->str, v->len + 1);
    return 0;
}

static int json_num(const WmJson *o, const char *key, double lo, double hi, int *out) {
    double x;
    if (wm_json_int(o, key, lo, hi, &x)) return -1;
    *out = (int)x;
    return 0;
}

static int read_spec(Dataset *d, const WmJson *env, char *err, size_t errsz) {
    EnvSpec *s = &d->spec;
    int scene = 0;
    if (!env || env->type != WM_JSON_OBJ)
        return wm_errf(err, errsz, WM_ERR_FORMAT, "'%s/%s': no env object", d->dir, DS_MANIFEST);
    const struct {
        const char *key;
        int lo, hi, *out;
    } fields[] = {{"height", 1, 1 << 16, &s->height},           {"width", 1, 1 << 16, &s->width},
                  {"channels", 3, 3, &s->channels},             {"action_dim", 1, ENV_MAX_DIM, &s->action_dim},
                  {"latent_dim", 1, ENV_MAX_DIM, &s->latent_dim}, {"n_classes", 1, DS_MAX_CLASSES, &s->n_classes},
                  {"scene_size", 0, 1 << 16, &scene}};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
        if (json_num(env, fields[k].key, fields[k].lo, fields[k].hi, fields[k].out))
            return wm_errf(err, errsz, WM_ERR_FORMAT,
                           "'%s/%s': env.%s is missing or not an integer in [%d, %d]", d->dir,
                           DS_MANIFEST, fields[k].key, fields[k].lo, fields[k].hi);
    if (json_str(env, "classes", d->hint, sizeof d->hint))
        return wm_errf(err, errsz, WM_ERR_FORMAT,
                       "'%s/%s': env.classes is missing or longer than %zu bytes", d->dir,
                       DS_MANIFEST, sizeof d->hint - 1);
    s->class_names_hint = d->hint;
    const char *keys[2] = {"action_names", "latent_names"};
    int dims[2] = {s->action_dim, s->latent_dim};
    for (int k = 0; k < 2; k++) {
        const WmJson *arr = wm_json_get(env, keys[k]);
        if (!arr || arr->type != WM_JSON_ARR || (int)arr->len != dims[k])
            return wm_errf(err, errsz, WM_ERR_FORMAT, "'%s/%s': env.%s does not list %d names",
                           d->dir, DS_MANIFEST, keys[k], dims[k]);
        for (int i = 0; i < dims[k]; i++) {
            const WmJson *v = wm_json_at(arr, (size_t)i);
            if (!v || v->type != WM_JSON_STR)
                return wm_errf(err, errsz, WM_ERR_FORMAT, "'%s/%s': bad env.%s", d->dir,
                               DS_MANIFEST, keys[k]);
            snprintf(d->names[k][i], sizeof d->names[k][i], "%s", v->str);
            if (k == 0)
                s->action_names[i] = d->names[k][i];
            else
                s->latent_names[i] = d->names[k][i];
        }
    }
    d->dims = (DsDims){0, s->height, s->width, s->channels, s->action_dim, s->latent_dim, scene};
    return WM_OK;
}

/* Maps every file of a shard and checks it against its record. */
static int map_shard(Dataset *d, int split, int index, Shard *sh, int mode, char *err,
                     size_t errsz) {
    char name[32], dir[1100], p[1200];
    ds_shard_name(index, name, sizeof name);
    snprintf(dir, sizeof dir, "%s/%s/%s", d->dir, ds_split_name(split), name);
    for (int f = 0; f < sh->rec.nfiles; f++) {
        const DsFile *rf = &sh->rec.files[f];
        snprintf(p, sizeof p, "%s/%s", dir, ds_file_name(f));
        int rc = wm_npy_read(p, &sh->a[f], WM_NPY_MMAP, err, errsz);
        if (rc) return rc;
        const WmArray *a = &sh->a[f];
        int ok = a->dtype == rf->dtype && a->ndim == rf->ndim;
        for (int k = 0; ok && k < a->ndim; k++)
            ok = a->shape[k] == rf->shape[k];
        if (!ok)
            return wm_errf(err, errsz, WM_ERR_FORMAT,
                           "'%s' is %s with %d dims, not %s [%zu, ...] as the manifest says", p,
                           wm_dtype_name(a->dtype), a->ndim, ds_dtype_numpy(rf->dtype),
                           rf->shape[0]);
        if (a->map_len_ != rf->bytes)
            return wm_errf(err, errsz, WM_ERR_FORMAT,
                           "'%s' has %zu bytes; the manifest says %llu (damaged; run 'seqjepa gen' "
                           "with the same config to repair it)",
                           p, a->map_len_, (unsigned long long)rf->bytes);
        if (mode == DS_OPEN_VERIFY) {
            uint64_t size;
            uint32_t crc;
            if ((rc = ds_file_crc(p, &size, &crc, err, errsz))) return rc;
            if (size != rf->bytes || crc != rf->crc)
                return wm_errf(err, errsz, WM_ERR_FORMAT,
                               "'%s' has %llu bytes with CRC-32 %08lx; the manifest says %llu with "
                               "%08lx (damaged; run "
                               "'seqjepa gen' with the same config to repair it)",
                               p, (unsigned long long)size, (unsigned long)crc,
                               (unsigned long long)rf->bytes, (unsigned long)rf->crc);
        }
    }
    /* Labels index the class head and the probes: out of range is refused here, not
     * met later as an out-of-bounds write. */
    const int32_t *lab = sh->a[DS_F_LABELS].data, *ins = sh->a[DS_F_INSTANCES].data;
    for (size_t i = 0; i < sh->a[DS_F_LABELS].count; i++)
        if (lab[i] < 0 || lab[i] >= d->spec.n_classes)
            return wm_errf(err, errsz, WM_ERR_FORMAT,
                           "'%s/%s': labels[%zu] = %d is outside the %d classes of the manifest",
                           dir, ds_file_name(DS_F_LABELS), i, (int)lab[i], d->spec.n_classes);
    for (size_t i = 0; i < sh->a[DS_F_INSTANCES].count; i++)
        if (ins[i] < 0)
            return wm_errf(err, errsz, WM_ERR_FORMAT, "'%s/%s': instances[%zu] = %d is negative",
                           dir, ds_file_name(DS_F_INSTANCES), i, (int)ins[i]);
    return WM_OK;
}

/* DIR/dataset.ini must say what the manifest's config_ini says, key for key. */
static int check_dataset_ini(Dataset *d, char *err, size_t errsz) {
    char p[1100];
    snprintf(p, sizeof p, "%s/%s", d->dir, DS_CONFIG_FILE);
    DsConfig there;
    wm_cfg_defaults(ds_config_schema(), &there);
    int rc = wm_cfg_load_file(ds_config_schema(), &there, p, err, errsz);
    if (rc) return rc;
    ds_config_normalize(&there);
    const WmCfgSchema *s = ds_config_schema();
    for (int i = 0; i < s->nsections; i++) {
        const WmCfgSection *sec = &s->sections[i];
        for (int k = 0; k < sec->nfields; k++) {
            char a[WM_CFG_STR_MAX + 8], b[WM_CFG_STR_MAX + 8];
            wm_cfg_format_value(&sec->fields[k], (const char *)&there + sec->offset, a, sizeof a);
            wm_cfg_format_value(&sec->fields[k], (const char *)&d->cfg + sec->offset, b, sizeof b);
            if (strcmp(a, b))
                return wm_errf(err, errsz, WM_ERR_MISMATCH,
                               "'%s': %s.%s = %s, but '%s/%s' says %s (the folder holds parts of two "
                               "datasets)",
                               p, sec->name, sec->fields[k].key, a, d->dir, DS_MANIFEST, b);
        }
    }
    return WM_OK;
}

/* The 3DIEBench layout behind the same interface: its config, spec and counts. */
static int open_3die(Dataset *d, int mode, const EnvConfig *want, Dataset **out, char *err, size_t errsz) {
    Ds3Info info;
    int rc = ds3_open(d->dir, mode, want, &info, &d->d3, err, errsz);
    if (rc) {
        ds_close(d);
        return rc;
    }
    d->cfg = info.cfg;
    d->spec = info.spec;
    d->count[DS_SPLIT_TRAIN] = info.count[DS_SPLIT_TRAIN];
    d->count[DS_SPLIT_VAL] = info.count[DS_SPLIT_VAL];
    d->dims = (DsDims){info.views, d->spec.height, d->spec.width, d->spec.channels, d->spec.action_dim,
                       d->spec.latent_dim, 0};
    *out = d;
    return WM_OK;
}

int ds_open(const char *dir, int mode, Dataset **out, char *err, size_t errsz) {
    return ds_open_as(dir, mode, NULL, out, err, errsz);
}

int ds_open_as(const char *dir, int mode, const EnvConfig *layout_cfg, Dataset **out, char *err, size_t errsz) {
    *out = NULL;
    Dataset *d = wm_new(Dataset, 1);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    if (ds3_is_layout(dir)) return open_3die(d, mode, layout_cfg, out, err, errsz);
    char p[1100], *text = NULL;
    size_t len = 0;
    WmJson *js = NULL;
    int rc = WM_OK;
    snprintf(p, sizeof p, "%s/%s", dir, DS_MANIFEST);
    if (!wm_path_exists(p)) {
        snprintf(p, sizeof p, "%s/%s", dir, DS_CONFIG_FILE);
        rc = wm_errf(
            err, errsz, WM_ERR_IO,
            wm_path_exists(p)
                ? "'%s' has no manifest.json: its generation did not finish (run 'seqjepa gen' "
                  "again with the same config to complete it)"
                : "'%s' is not a dataset (no manifest.json)",
            dir);
        goto fail;
    }
    if ((rc = wm_read_file(p, &text, &len, err, errsz))) goto fail;
    js = wm_json_parse(text, len, err, errsz);
    if (!js) {
        rc = wm_err_prefix(err, errsz, WM_ERR_FORMAT, "'%s': ", p);
        goto fail;
    }
    char fmt[64] = "";
    int version = 0;
    if (json_str(js, "format", fmt, sizeof fmt) || strcmp(fmt, DS_FORMAT) ||
        json_num(js, "version", 0, 1e6, &version)) {
        rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s' is not a seqjepa dataset manifest", p);
        goto fail;
    }
    if (version != DS_VERSION) {
        rc = wm_errf(err, errsz, WM_ERR_FORMAT,
                     "'%s' is dataset format version %d; this program reads version %d", p, version,
                     DS_VERSION);
        goto fail;
    }
    const WmJson *ini = wm_json_get(js, "config_ini");
    wm_cfg_defaults(ds_config_schema(), &d->cfg);
    if (!ini || ini->type != WM_JSON_STR) {
        rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s' lacks config_ini", p);
        goto fail;
    }
    if ((rc = wm_cfg_load_string(ds_config_schema(), &d->cfg, ini->str, "manifest.json config_ini",
                                 err, errsz)))
        goto fail;
    ds_config_normalize(&d->cfg);
    if ((rc = read_spec(d, wm_json_get(js, "env"), err, errsz))) goto fail;
    EnvConfigInfo implied = env_config_info(&d->cfg.env);
    int want_scene = implied.scene_size;
    if (d->spec.height != d->cfg.env.size || d->spec.width != d->cfg.env.size ||
        d->dims.s != want_scene) {
        rc = wm_errf(err, errsz, WM_ERR_FORMAT,
                     "'%s': env views of %dx%d with scenes of %d px, but its config_ini says "
                     "%dx%d and %d",
                     p, d->spec.height, d->spec.width, d->dims.s, d->cfg.env.size, d->cfg.env.size,
                     want_scene);
        goto fail;
    }
    int want_classes = implied.n_classes;
    if (want_classes > 0 && want_classes != d->spec.n_classes) {
        rc = wm_errf(err, errsz, WM_ERR_FORMAT,
                     "'%s': env.n_classes = %d, but its config_ini implies %d classes", p,
                     d->spec.n_classes, want_classes);
        goto fail;
    }
    if ((rc = check_dataset_ini(d, err, errsz))) goto fail;
    d->dims.t = d->cfg.gen.views;
    const WmJson *splits = wm_json_get(js, "splits");
    for (int s = 0; s < DS_SPLITS && !rc; s++) {
        const WmJson *sj = splits ? wm_json_get(splits, ds_split_name(s)) : NULL,
                     *shards = wm_json_get(sj, "shards");
        double cnt = -1;
        const WmJson *c = wm_json_get(sj, "sequences");
        if (c && c->type == WM_JSON_NUM) cnt = c->num;
        int64_t want = s == DS_SPLIT_TRAIN ? d->cfg.gen.train_seqs : d->cfg.gen.val_seqs;
        if (!shards || shards->type != WM_JSON_ARR || cnt != (double)want) {
            rc = wm_errf(err, errsz, WM_ERR_FORMAT,
                         "'%s': the %s split is missing or does not hold %lld sequences", p,
                         ds_split_name(s), (long long)want);
            break;
        }
        int64_t K = d->cfg.gen.shard_size;
        d->count[s] = want;
        d->nshards[s] = (int)((want + K - 1) / K);
        if ((int)shards->len != d->nshards[s]) {
            rc = wm_errf(err, errsz, WM_ERR_FORMAT,
                         "'%s': the %s split lists %d shards, expected %d", p, ds_split_name(s),
                         (int)shards->len, d->nshards[s]);
            break;
        }
        d->shards[s] = wm_new(Shard, (size_t)d->nshards[s] + 1);
        for (int i = 0; i < d->nshards[s] && !rc; i++) {
            int64_t first = (int64_t)i * K, n = want - first < K ? want - first : K;
            DsShard layout;
            ds_shard_layout(&d->dims, first, n, &layout);
            rc = ds_shard_parse(wm_json_at(shards, (size_t)i), &layout, &d->shards[s][i].rec, err,
                                errsz);
            if (rc) {
                wm_err_prefix(err, errsz, rc, "'%s', %s shard %d: ", p, ds_split_name(s), i);
                break;
            }
            rc = map_shard(d, s, i, &d->shards[s][i], mode, err, errsz);
        }
    }
    if (rc) goto fail;
    wm_json_free(js);
    wm_free(text);
    *out = d;
    return WM_OK;
fail:
    wm_json_free(js);
    wm_free(text);
    ds_close(d);
    return rc;
}

void ds_close(Dataset *d) {
    if (!d) return;
    for (int s = 0; s < DS_SPLITS; s++) {
        for (int i = 0; d->shards[s] && i < d->nshards[s]; i++)
            for (int f = 0; f < DS_MAX_FILES; f++)
                wm_array_free(&d->shards[s][i].a[f]);
        wm_free(d->shards[s]);
    }
    for (int i = 0; i < 2; i++)
        wm_free(d->orders[i].order);
    ds3_close(d->d3);
    wm_free(d);
}

const DsConfig *ds_config(const Dataset *d) {
    return &d->cfg;
}
const EnvSpec *ds_spec(const Dataset *d) {
    return &d->spec;
}
int64_t ds_count(const Dataset *d, int split) {
    return d->count[split];
}
int ds_views(const Dataset *d) {
    return d->dims.t;
}

/* Sequence s of a split, views v0 .. v0 + b->t - 1, into row `row` of b. */
static void copy_seq(const Dataset *d, int split, int64_t s, int v0, AgBatch *b, int row) {
    const DsDims *m = &d->dims;
    int64_t K = d->cfg.gen.shard_size;
    const Shard *sh = &d->shards[split][s / K];
    size_t r = (size_t)(s % K), T = (size_t)m->t, t = (size_t)b->t;
    size_t view = (size_t)m->h * m->w * m->c, A = (size_t)m->a, L = (size_t)m->l;
    const uint8_t *px = sh->a[DS_F_IMAGES].data;
    const float *ac = sh->a[DS_F_ACTIONS].data, *la = sh->a[DS_F_LATENTS].data;
    memcpy(b->pixels + (size_t)row * t * view, px + (r * T + (size_t)v0) * view, t * view);
    if (t > 1)
        memcpy(b->actions + (size_t)row * (t - 1) * A, ac + (r * (T - 1) + (size_t)v0) * A,
               (t - 1) * A * sizeof(float));
    memcpy(b->latents + (size_t)row * t * L, la + (r * T + (size_t)v0) * L, t * L * sizeof(float));
    b->labels[row] = ((const int32_t *)sh->a[DS_F_LABELS].data)[r];
    b->instances[row] = ((const int32_t *)sh->a[DS_F_INSTANCES].data)[r];
    if (b->scene_size > 0) {
        size_t s2 = (size_t)m->s * m->s;
        memcpy(b->scenes + (size_t)row * s2 * 3,
               (const uint8_t *)sh->a[DS_F_SCENES].data + r * s2 * 3, s2 * 3);
        memcpy(b->saliency + (size_t)row * s2, (const float *)sh->a[DS_F_SALIENCY].data + r * s2,
               s2 * sizeof(float));
    }
}

static int check_batch(const Dataset *d, const AgBatch *b, char *err, size_t errsz) {
    const DsDims *m = &d->dims;
    if (b->h != m->h || b->w != m->w || b->c != m->c || b->action_dim != m->a ||
        b->latent_dim != m->l)
        return wm_errf(err, errsz, WM_ERR_MISMATCH,
                       "the batch is for %dx%d views with %d action and %d latent dims; the "
                       "dataset '%s' has %dx%d, %d, %d",
                       b->h, b->w, b->action_dim, b->latent_dim, d->dir, m->h, m->w, m->a, m->l);
    if (b->t > m->t)
        return wm_errf(err, errsz, WM_ERR_RANGE,
                       "%d views per sequence wanted; the dataset '%s' has %d", b->t, d->dir, m->t);
    if (b->scene_size > 0 && b->scene_size != m->s)
        return wm_errf(err, errsz, WM_ERR_MISMATCH,
                       "scenes of %d px wanted; the dataset '%s' has %s", b->scene_size, d->dir,
                       m->s ? "other sizes" : "none");
    return WM_OK;
}

int ds_read(const Dataset *d, int split, int64_t first, int n, int first_view, AgBatch *b,
            char *err, size_t errsz) {
    WM_ASSERT(split >= 0 && split < DS_SPLITS && n >= 0 && n <= b->n);
    int rc = check_batch(d, b, err, errsz);
    if (rc) return rc;
    if (first < 0 || first + n > d->count[split] || first_view < 0 || first_view + b->t > d->dims.t)
        return wm_errf(err, errsz, WM_ERR_RANGE,
                       "sequences %lld..%lld, views %d..%d wanted; the %s split of '%s' has %lld "
                       "sequences of %d views",
                       (long long)first, (long long)(first + n - 1), first_view,
                       first_view + b->t - 1, ds_split_name(split), d->dir,
                       (long long)d->count[split], d->dims.t);
    if (d->d3) {
        int64_t *objs = wm_new(int64_t, (size_t)(n ? n : 1));
        int *views = wm_new(int, (size_t)(n ? n : 1) * (size_t)b->t);
        for (int i = 0; i < n; i++) {
            objs[i] = first + i;
            for (int k = 0; k < b->t; k++) views[(size_t)i * b->t + (size_t)k] = first_view + k;
        }
        rc = ds3_copy_batch(d->d3, split, n, objs, views, b, err, errsz);
        wm_free(objs);
        wm_free(views);
        return rc;
    }
    for (int i = 0; i < n; i++)
        copy_seq(d, split, first + i, first_view, b, i);
    return WM_OK;
}

/* Stream ids of the training order and of the view windows. */
#define ORDER_STREAM  0x6f72646572ULL
#define WINDOW_STREAM 0x77696e646f77ULL

/* The visiting order of one epoch: a Fisher-Yates shuffle from (seed, split, epoch). */
static const uint32_t *epoch_order(Dataset *d, int split, uint64_t seed, int64_t epoch) {
    for (int i = 0; i < 2; i++) {
        Order *o = &d->orders[i];
        if (o->order && o->split == split && o->seed == seed && o->epoch == epoch) return o->order;
    }
    /* Two slots: a batch spans at most two epochs when it is no larger than the split. */
    Order *o = &d->orders[d->next_slot];
    d->next_slot ^= 1;
    int64_t n = d->count[split];
    wm_free(o->order);
    o->order = wm_new(uint32_t, (size_t)n);
    o->split = split, o->seed = seed, o->epoch = epoch;
    for (int64_t i = 0; i < n; i++)
        o->order[i] = (uint32_t)i;
    WmRng r;
    wm_rng_seed(&r, seed, wm_seed_derive(ORDER_STREAM + (uint64_t)split, (uint64_t)epoch));
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t j = wm_rng_below(&r, (uint32_t)(i + 1));
        uint32_t t = o->order[i];
        o->order[i] = o->order[j];
        o->order[j] = t;
    }
    return o->order;
}

int ds_batch(Dataset *d, int split, uint64_t seed, int64_t step, AgBatch *b, char *err,
             size_t errsz) {
    WM_ASSERT(split >= 0 && split < DS_SPLITS && step >= 0);
    int rc = check_batch(d, b, err, errsz);
    if (rc) return rc;
    int64_t N = d->count[split];
    if (N < 1)
        return wm_errf(err, errsz, WM_ERR_RANGE, "the %s split of '%s' is empty",
                       ds_split_name(split), d->dir);
    int spare = d->dims.t - b->t;
    int64_t *objs = d->d3 ? wm_new(int64_t, (size_t)b->n) : NULL;
    int *views = d->d3 ? wm_new(int, (size_t)b->n * (size_t)b->t) : NULL;
    for (int j = 0; j < b->n; j++) {
        int64_t p = step * b->n + j, epoch = p / N, i = p % N;
        int64_t s = epoch_order(d, split, seed, epoch)[i];
        WmRng r;
        wm_rng_seed(&r, seed,
                    wm_seed_derive(wm_seed_derive(WINDOW_STREAM + (uint64_t)split, (uint64_t)epoch),
                                   (uint64_t)i));
        if (d->d3) {
            /* Views are independent draws of the object's latents, so a sequence is
             * b->t distinct views in random order, as the authors' loaders take them. */
            int all[DS3_MAX_VIEWS];
            for (int k = 0; k < d->dims.t; k++) all[k] = k;
            for (int k = 0; k < b->t; k++) {
                int m = k + (int)wm_rng_below(&r, (uint32_t)(d->dims.t - k)), x = all[k];
                all[k] = all[m], all[m] = x;
                views[(size_t)j * b->t + (size_t)k] = all[k];
            }
            objs[j] = s;
            continue;
        }
        int v0 = spare > 0 ? (int)wm_rng_below(&r, (uint32_t)spare + 1) : 0;
        copy_seq(d, split, s, v0, b, j);
    }
    if (d->d3) {
        rc = ds3_copy_batch(d->d3, split, b->n, objs, views, b, err, errsz);
        wm_free(objs);
        wm_free(views);
    }
    return rc;
}
