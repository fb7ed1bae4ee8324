/* Dataset generation: worker threads, each with its own world and agent, take shards
 * in turn, check the ones already on disk and build the others in temporary folders
 * that are renamed into place when complete; the manifest is written last. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/ds_impl.h"
#include "core/clock.h"
#include "core/dist.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/pool.h"
#include "core/progress.h"
#include "core/signal.h"

/* ---- generation ---- */

typedef struct {
    int split, index;
} Task;

typedef struct Gen Gen;

typedef struct Worker Worker;

struct Gen {
    const DsGenSetup *su;
    DsConfig cfg;   /* normalized */
    EnvConfig env;  /* what the workers' worlds are made with */
    Env *spare_env; /* the probe's world and agent, for the first worker that needs one */
    Agent *spare_agent;
    DsDims dims;
    EnvSpec spec;
    char agent_kind[32];
    int64_t count[DS_SPLITS];
    int nshards[DS_SPLITS];
    Task *tasks;
    DsShard *recs; /* per task, filled by the worker that did it */
    int ntasks;
    int part, parts; /* this rank makes the shards k with k % parts == part */
    int lanes;
    int max_shard; /* sequences in the largest shard */
    atomic_int next_task;
    atomic_int running; /* workers not yet finished */
    atomic_int stop;
    atomic_llong seqs_done, views_made, bytes_made;
    atomic_int made, kept, redone;
    pthread_mutex_t mu;
    int manifest_gone;
    int rc;
    char err[1024];
};

static void fail(Gen *g, int rc, const char *msg) {
    pthread_mutex_lock(&g->mu);
    if (!g->rc) {
        g->rc = rc;
        snprintf(g->err, sizeof g->err, "%s", msg);
    }
    pthread_mutex_unlock(&g->mu);
    atomic_store(&g->stop, 1);
}

static int path2(char *out, size_t outsz, const char *a, const char *b) {
    return wm_path_join(out, outsz, a, b);
}

/* A shard is about to be written: the manifest no longer describes the folder. */
static int manifest_invalidate(Gen *g, char *err, size_t errsz) {
    pthread_mutex_lock(&g->mu);
    int rc = WM_OK;
    if (!g->manifest_gone) {
        char p[1100];
        path2(p, sizeof p, g->su->dir, DS_MANIFEST);
        if (unlink(p) && errno != ENOENT)
            rc = wm_errf(err, errsz, WM_ERR_IO, "cannot remove '%s': %s", p, strerror(errno));
        else
            g->manifest_gone = 1;
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

/* Checks a finished shard: 1 intact (rec filled), 0 absent, -1 damaged (why in err). */
static int shard_check(Gen *g, const char *dir, const DsShard *want, DsShard *rec, char *err,
                       size_t errsz) {
    if (!wm_path_exists(dir)) return 0;
    char p[1200];
    path2(p, sizeof p, dir, DS_SHARD_RECORD);
    char *text = NULL;
    size_t len = 0;
    if (wm_read_file(p, &text, &len, err, errsz)) return -1;
    WmJson *js = wm_json_parse(text, len, err, errsz);
    wm_free(text);
    if (!js) return -1;
    int rc = ds_shard_parse(js, want, rec, err, errsz);
    wm_json_free(js);
    if (rc) return -1;
    for (int i = 0; i < rec->nfiles; i++) {
        uint64_t size;
        uint32_t crc;
        path2(p, sizeof p, dir, ds_file_name(i));
        if (ds_file_crc(p, &size, &crc, err, errsz)) return -1;
        if (size != rec->files[i].bytes || crc != rec->files[i].crc) {
            wm_errf(err, errsz, WM_ERR_FORMAT,
                    "%s has %llu bytes with CRC-32 %08lx; its record says %llu with %08lx",
                    ds_file_name(i), (unsigned long long)size, (unsigned long)crc,
                    (unsigned long long)rec->files[i].bytes, (unsigned long)rec->files[i].crc);
            return -1;
        }
    }
    (void)g;
    return 1;
}

static int preview_path(Gen *g, int split, int index, char *out, size_t outsz) {
    char name[64];
    snprintf(name, sizeof name, "preview/%s-shard-%05d.png", ds_split_name(split), index);
    return path2(out, outsz, g->su->dir, name);
}

/* A contact sheet of a shard already on disk (kept from an earlier run). */
static int preview_from_files(Gen *g, const char *dir, int split, int index, const DsShard *rec,
                              char *err, size_t errsz) {
    char png[1200], p[1200];
    preview_path(g, split, index, png, sizeof png);
    if (wm_path_exists(png)) return WM_OK;
    WmArray a[3] = {{0}};
    int fs[3] = {DS_F_IMAGES, DS_F_ACTIONS, DS_F_LABELS}, rc = WM_OK;
    for (int i = 0; i < 3 && !rc; i++) {
        path2(p, sizeof p, dir, ds_file_name(fs[i]));
        rc = wm_npy_read(p, &a[i], WM_NPY_MMAP, err, errsz);
    }
    if (!rc)
        rc = ds_preview_write(png, &g->spec, (int)rec->n, g->dims.t, a[0].data, a[1].data,
                              a[2].data, rec->first, err, errsz);
    for (int i = 0; i < 3; i++)
        wm_array_free(&a[i]);
    return rc;
}

/* Rolls out the sequences of a shard into b, a chunk of g->lanes at a time. */
static int shard_rollout(Gen *g, Env *env, Agent *ag, AgBatch *b, int split, const DsShard *rec,
                         char *err, size_t errsz) {
    const DsDims *d = &g->dims;
    size_t view = (size_t)d->h * d->w * d->c, s2 = (size_t)d->s * d->s;
    for (int64_t c = 0; c < rec->n; c += g->lanes) {
        if (atomic_load(&g->stop) || wm_interrupted()) return WM_ERR_INTERRUPTED;
        int m = (int)(rec->n - c < g->lanes ? rec->n - c : g->lanes);
        AgBatch v = *b;
        v.n = m;
        v.pixels += (size_t)c * d->t * view;
        v.actions += (size_t)c * (d->t - 1) * d->a;
        v.latents += (size_t)c * d->t * d->l;
        v.labels += c;
        v.instances += c;
        if (d->s) v.scenes += (size_t)c * s2 * 3, v.saliency += (size_t)c * s2;
        int rc = ag_rollout(env, ag, (uint64_t)g->cfg.gen.seed, split, (uint64_t)(rec->first + c),
                            m, &v, err, errsz);
        if (rc) return rc;
        atomic_fetch_add(&g->seqs_done, m);
    }
    return WM_OK;
}

static void shard_paths(const Gen *g, const Task *t, char *dir, char *tmp, char *sdir, size_t sz) {
    char name[32];
    ds_shard_name(t->index, name, sizeof name);
    snprintf(sdir, sz, "%s/%s", g->su->dir, ds_split_name(t->split));
    snprintf(dir, sz, "%s/%s", sdir, name);
    snprintf(tmp, sz, "%s/.%s.tmp", sdir, name);
}

/* Writes a rolled-out shard into its temporary folder and renames it into place. */
static int shard_write(Gen *g, const Task *t, const AgBatch *b, DsShard *rec, char *err,
                       size_t errsz) {
    char dir[1200], tmp[1200], sdir[1200], name[32];
    shard_paths(g, t, dir, tmp, sdir, sizeof dir);
    ds_shard_name(t->index, name, sizeof name);
    int rc = wm_remove_tree(tmp, err, errsz);
    if (rc) return rc;
    if (mkdir(tmp, 0777))
        return wm_errf(err, errsz, WM_ERR_IO, "cannot create folder '%s': %s", tmp,
                       strerror(errno));
    const void *data[DS_MAX_FILES] = {b->pixels,    b->actions, b->latents, b->labels,
                                      b->instances, b->scenes,  b->saliency};
    for (int f = 0; f < rec->nfiles && !rc; f++)
        rc = ds_write_array(tmp, f, &rec->files[f], data[f], err, errsz);
    WmBuf js = {0};
    if (!rc) {
        WmJsonW w;
        wm_jw_init(&w, &js);
        ds_shard_json(rec, name, &w);
        wm_buf_puts(&js, "\n");
        char p[1300];
        snprintf(p, sizeof p, "%s/%s", tmp, DS_SHARD_RECORD);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        int bad = fd < 0 || ds_write_all(fd, js.data, js.len);
        int e = errno;
        if (fd >= 0 && close(fd) && !bad) bad = 1, e = errno;
        if (bad) rc = wm_errf(err, errsz, WM_ERR_IO, "cannot write '%s': %s", p, strerror(e));
    }
    wm_buf_free(&js);
    if (!rc && rename(tmp, dir))
        rc = wm_errf(err, errsz, WM_ERR_IO, "cannot move '%s' into place as '%s': %s", tmp, dir,
                     strerror(errno));
    if (rc) {
        char e2[256];
        wm_remove_tree(tmp, e2, sizeof e2);
        return rc;
    }
    int64_t bytes = 0;
    for (int f = 0; f < rec->nfiles; f++)
        bytes += (int64_t)rec->files[f].bytes;
    atomic_fetch_add(&g->bytes_made, bytes);
    atomic_fetch_add(&g->views_made, rec->n * g->dims.t);
    if (g->su->preview) {
        char png[1200];
        preview_path(g, t->split, t->index, png, sizeof png);
        rc = ds_preview_write(png, &g->spec, (int)rec->n, g->dims.t, b->pixels, b->actions,
                              b->labels, rec->first, err, errsz);
    }
    return rc;
}

/* A worker rolls shards out into one of two buffers while its writer thread writes
 * the other: files and checksums overlap with rendering. */
struct Worker {
    Gen *g;
    pthread_t th, wth;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    AgBatch buf[2];
    void *raw[2][3]; /* the blocks behind the big arrays of buf */
    int pending;     /* a shard waits for (or is being written by) the writer */
    int job_task, job_buf, quit;
    double t_rollout, t_wait,
        t_write; /* seconds spent rolling out, waiting for the writer, writing */
};

/* A shard buffer whose big arrays (pixels; scenes and saliency) start DS_HEADER_BYTES
 * past a DS_DIRECT_ALIGN boundary, for write_direct. */
static int buf_alloc(Worker *w, int i, const EnvSpec *sp, int n, int t, int scene, char *err,
                     size_t errsz) {
    AgBatch *b = &w->buf[i];
    int rc = ag_batch_alloc(b, sp, n, t, scene, err, errsz);
    if (rc) return rc;
    size_t s2 = (size_t)scene * scene;
    size_t bytes[3] = {(size_t)n * t * sp->height * sp->width * sp->channels, (size_t)n * s2 * 3,
                       (size_t)n * s2 * sizeof(float)};
    void **arr[3] = {(void **)&b->pixels, (void **)&b->scenes, (void **)&b->saliency};
    for (int k = 0; k < 3; k++) {
        if (!*arr[k]) continue;
        unsigned char *raw = wm_try_calloc(bytes[k] + 2 * DS_DIRECT_ALIGN, 1);
        if (!raw)
            return wm_errf(err, errsz, WM_ERR_NOMEM,
                           "not enough memory for a shard of %d sequences", n);
        wm_free(*arr[k]);
        w->raw[i][k] = raw;
        size_t pad = (DS_DIRECT_ALIGN - (uintptr_t)raw % DS_DIRECT_ALIGN) % DS_DIRECT_ALIGN;
        *arr[k] = raw + pad + DS_HEADER_BYTES;
    }
    return WM_OK;
}

static void buf_free(Worker *w, int i) {
    AgBatch *b = &w->buf[i];
    for (int k = 0; k < 3; k++)
        if (w->raw[i][k]) {
            wm_free(w->raw[i][k]);
            w->raw[i][k] = NULL;
            *(k == 0   ? (void **)&b->pixels
              : k == 1 ? (void **)&b->scenes
                       : (void **)&b->saliency) = NULL;
        }
    ag_batch_free(b);
}

static void *writer_main(void *arg) {
    Worker *w = arg;
    Gen *g = w->g;
    pthread_setname_np(pthread_self(), "gen-writer");
    char err[1024];
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->pending && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->pending) break;
        int k = w->job_task;
        const AgBatch *b = &w->buf[w->job_buf];
        pthread_mutex_unlock(&w->mu);
        const Task *t = &g->tasks[k];
        double t0 = wm_now();
        int rc = shard_write(g, t, b, &g->recs[k], err, sizeof err);
        w->t_write += wm_now() - t0;
        if (rc) {
            char where[64], name[32];
            ds_shard_name(t->index, name, sizeof name);
            snprintf(where, sizeof where, "%s/%s", ds_split_name(t->split), name);
            wm_err_prefix(err, sizeof err, rc, "%s: ", where);
            fail(g, rc, err);
        } else {
            atomic_fetch_add(&g->made, 1);
        }
        pthread_mutex_lock(&w->mu);
        w->pending = 0;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Waits until the writer has taken nothing or finished what it had. */
static void writer_wait(Worker *w) {
    pthread_mutex_lock(&w->mu);
    while (w->pending)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *arg) {
    Worker *w = arg;
    Gen *g = w->g;
    pthread_setname_np(pthread_self(), "gen-worker");
    Env *env = NULL;
    Agent *ag = NULL;
    char err[1024] = "";
    int rc = WM_OK, cur = 0, writer = 0;
    while (!atomic_load(&g->stop)) {
        int k = atomic_fetch_add(&g->next_task, 1);
        if (k >= g->ntasks) break;
        if (k % g->parts != g->part) continue;
        const Task *t = &g->tasks[k];
        DsShard *rec = &g->recs[k];
        char dir[1200], tmp[1200], sdir[1200], where[64], name[32];
        shard_paths(g, t, dir, tmp, sdir, sizeof dir);
        ds_shard_name(t->index, name, sizeof name);
        snprintf(where, sizeof where, "%s/%s", ds_split_name(t->split), name);
        DsShard want = *rec, got;
        int st = shard_check(g, dir, &want, &got, err, sizeof err);
        if (st == 1) {
            *rec = got;
            atomic_fetch_add(&g->kept, 1);
            atomic_fetch_add(&g->seqs_done, rec->n);
            if (g->su->preview &&
                (rc = preview_from_files(g, dir, t->split, t->index, rec, err, sizeof err)))
                break;
            continue;
        }
        if ((rc = manifest_invalidate(g, err, sizeof err))) break;
        if (st < 0) {
            wm_warn("gen: %s is damaged (%s); generating it again", where, err);
            if ((rc = wm_remove_tree(dir, err, sizeof err))) break;
            atomic_fetch_add(&g->redone, 1);
        }
        if (!env) {
            pthread_mutex_lock(&g->mu);
            env = g->spare_env, ag = g->spare_agent;
            g->spare_env = NULL, g->spare_agent = NULL;
            pthread_mutex_unlock(&g->mu);
            if (!env) {
                env_create(&g->env, g->lanes, &env, err, sizeof err);
                ag = NULL;
                if (env)
                    ag_create(&g->su->cfg->agent, &g->env, env_spec(env), g->lanes, &ag, err,
                              sizeof err);
            }
            if (!ag) {
                rc = WM_ERR_ARG;
                break;
            }
            for (int i = 0; i < 2 && !rc; i++)
                rc = buf_alloc(w, i, env_spec(env), g->max_shard, g->dims.t, g->dims.s, err,
                               sizeof err);
            if (rc) break;
            WM_ASSERT(pthread_create(&w->wth, NULL, writer_main, w) == 0);
            writer = 1;
        }
        double t0 = wm_now();
        rc = shard_rollout(g, env, ag, &w->buf[cur], t->split, rec, err, sizeof err);
        double t1 = wm_now();
        w->t_rollout += t1 - t0;
        if (rc) {
            if (rc != WM_ERR_INTERRUPTED) wm_err_prefix(err, sizeof err, rc, "%s: ", where);
            break;
        }
        writer_wait(w);
        w->t_wait += wm_now() - t1;
        pthread_mutex_lock(&w->mu);
        w->pending = 1, w->job_task = k, w->job_buf = cur;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        cur ^= 1;
    }
    if (rc && rc != WM_ERR_INTERRUPTED) fail(g, rc, err);
    if (rc == WM_ERR_INTERRUPTED) atomic_store(&g->stop, 1);
    if (writer) {
        writer_wait(w);
        pthread_mutex_lock(&w->mu);
        w->quit = 1;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->wth, NULL);
    }
    buf_free(w, 0);
    buf_free(w, 1);
    ag_destroy(ag);
    env_destroy(env);
    atomic_fetch_sub(&g->running, 1);
    return NULL;
}

/* ---- the run ---- */

static void progress_tick(Gen *g, WmProgress *pr, double t0, int final) {
    if (g->su->quiet) return;
    char extra[96];
    double dt = wm_now() - t0;
    long long v = atomic_load(&g->views_made);
    snprintf(extra, sizeof extra, "%.0f views/s written", dt > 0 ? (double)v / dt : 0.0);
    if (final)
        wm_progress_finish(pr, extra);
    else
        wm_progress_update(pr, atomic_load(&g->seqs_done), extra);
}

/* Opens a world and an agent to learn the spec, resolve the policy and catch
 * configuration errors (no held-out objects, a bad OBJ folder) before touching the
 * folder. The first worker that needs a world takes this one: making a world costs
 * a GL context and its shader compiles. Handing it to another thread is safe: the
 * objects3d world's GL contexts live in its own render threads. */
static int probe_world(Gen *g, char *err, size_t errsz) {
    Env *env;
    int rc = env_create(&g->env, g->lanes, &env, err, errsz);
    if (rc) return rc;
    Agent *ag;
    rc = ag_create(&g->su->cfg->agent, &g->env, env_spec(env), g->lanes, &ag, err, errsz);
    if (!rc) {
        g->spec = *env_spec(env);
        snprintf(g->agent_kind, sizeof g->agent_kind, "%s", ag_kind_name(ag_kind(ag)));
        for (int s = 0; s < DS_SPLITS && !rc; s++)
            if (g->count[s] > 0 && env_reset(env, 0, 1, s, NULL))
                rc = wm_errf(err, errsz, WM_ERR_ARG,
                             "gen.%s_seqs = %lld, but the world has no %s objects or images "
                             "(env.heldout = %g)",
                             ds_split_name(s), (long long)g->count[s],
                             s == DS_SPLIT_TRAIN ? "training" : "held-out", g->env.heldout);
    }
    if (!rc) g->dims.s = g->spec.layout.scene_size; /* 0: no scene files */
    if (rc) {
        ag_destroy(ag);
        env_destroy(env);
    } else {
        g->spare_env = env, g->spare_agent = ag;
    }
    return rc;
}

/* Workers when gen.threads is 0. A world without its own render threads (saccade) is
 * CPU work: one per core. One with them (objects3d) renders through its own farm, which on a CPU
 * rasteriser already keeps every core busy, while the worker itself does a few per
 * cent of the work (agent steps) and its writer thread writes the files; two worlds of
 * one render thread each were slower on 2 cores than one world with two (bench gen
 * --threads 2 --render-threads 1), so one world. */
static int auto_workers(const DsConfig *c) {
    int cores = wm_cpu_count();
    if (!env_traits(c->env.kind)->own_threads) return cores < 1 ? 1 : cores;
    return 1;
}

/* The manifest's config lists the keys a world of this config reads. */
static int reads_key(const WmCfgSection *sec, const WmCfgField *f, const void *cfg, void *ctx) {
    (void)sec, (void)ctx;
    return env_reads_key(&((const DsConfig *)cfg)->env, f);
}

int ds_generate(const DsGenSetup *su, DsGenResult *res, char *err, size_t errsz) {
    memset(res, 0, sizeof *res);
    double t0 = wm_now();
    Gen *g = wm_new(Gen, 1);
    g->su = su;
    g->cfg = *su->cfg;
    ds_config_normalize(&g->cfg);
    const DsGenConfig *gc = &su->cfg->gen;
    g->count[DS_SPLIT_TRAIN] = gc->train_seqs;
    g->count[DS_SPLIT_VAL] = gc->val_seqs;
    pthread_mutex_init(&g->mu, NULL);
    WmBuf ini = {0};
    Worker *ws = NULL;
    int64_t most = g->count[0] > g->count[1] ? g->count[0] : g->count[1];
    g->max_shard = (int)(most < gc->shard_size ? (most > 0 ? most : 1) : gc->shard_size);
    g->lanes = gc->lanes < g->max_shard ? gc->lanes : g->max_shard;
    g->env = su->cfg->env;
    g->parts = su->ranks ? wm_dist_size() : 1, g->part = su->ranks ? wm_dist_rank() : 0;
    int lock_fd = -1, rc = probe_world(g, err, errsz);
    if (rc) goto out;
    wm_debug("gen: world probed after %.3f s", wm_now() - t0);
    const EnvSpec *sp = &g->spec;
    g->dims = (DsDims){gc->views,      sp->height,     sp->width, sp->channels,
                       sp->action_dim, sp->latent_dim, g->dims.s};
    wm_cfg_dump_some(ds_config_schema(), &g->cfg, reads_key, NULL, &ini);

    /* The folder: create, lock, check or claim, clean (rank 0 alone, while the other
     * ranks wait for its verdict). */
    if (g->part > 0) goto prepared;
    if ((rc = wm_mkdirs(su->dir, err, errsz))) goto prepared;
    lock_fd = open(su->dir, O_RDONLY | O_DIRECTORY);
    if (lock_fd < 0) {
        rc =
            wm_errf(err, errsz, WM_ERR_IO, "cannot open folder '%s': %s", su->dir, strerror(errno));
        goto prepared;
    }
    if (flock(lock_fd, LOCK_EX | LOCK_NB)) {
        rc = wm_errf(err, errsz, WM_ERR_IO,
                     "another process is generating into '%s' (it holds the folder's lock)",
                     su->dir);
        goto prepared;
    }
    if ((rc = ds_claim_folder(su->dir, &g->cfg, ini.data, err, errsz))) goto prepared;
    if ((rc = ds_clean_leftovers(su->dir, 0, err, errsz))) goto prepared;
    for (int s = 0; s < DS_SPLITS && !rc; s++) {
        char p[1100];
        path2(p, sizeof p, su->dir, ds_split_name(s));
        rc = wm_mkdirs(p, err, errsz);
        if (!rc) rc = ds_clean_leftovers(p, 1, err, errsz);
    }
    if (!rc && su->preview) {
        char p[1100];
        path2(p, sizeof p, su->dir, "preview");
        rc = wm_mkdirs(p, err, errsz);
        if (!rc) rc = ds_clean_leftovers(p, 0, err, errsz);
    }
prepared:
    if (g->parts > 1) {
        int who;
        if ((rc = wm_dist_agree(rc, &who)) && who != g->part)
            wm_errf(err, errsz, rc, "rank %d could not prepare the folder '%s' (its message is above)", who, su->dir);
    }
    if (rc) goto out;

    /* The shards, train then val. */
    int64_t K = gc->shard_size;
    for (int s = 0; s < DS_SPLITS; s++) {
        g->nshards[s] = (int)((g->count[s] + K - 1) / K);
        g->ntasks += g->nshards[s];
    }
    g->tasks = wm_new(Task, (size_t)g->ntasks + 1);
    g->recs = wm_new(DsShard, (size_t)g->ntasks + 1);
    for (int s = 0, k = 0; s < DS_SPLITS; s++)
        for (int i = 0; i < g->nshards[s]; i++, k++) {
            g->tasks[k] = (Task){s, i};
            int64_t first = (int64_t)i * K, n = g->count[s] - first < K ? g->count[s] - first : K;
            ds_shard_layout(&g->dims, first, n, &g->recs[k]);
        }
    int nw = gc->threads > 0 ? gc->threads : auto_workers(su->cfg);
    if (nw > g->ntasks) nw = g->ntasks > 0 ? g->ntasks : 1;
    res->workers = nw;
    WmProgress pr;
    int64_t total = 0;
    for (int k = g->part; k < g->ntasks; k += g->parts) total += g->recs[k].n;
    if (!su->quiet) wm_progress_start(&pr, "gen", total, "seq");
    wm_debug("gen: %d shards, %d workers, folder ready after %.3f s", g->ntasks, nw, wm_now() - t0);
    ws = wm_new(Worker, (size_t)nw);
    atomic_store(&g->running, nw);
    for (int i = 0; i < nw; i++) {
        ws[i].g = g;
        pthread_mutex_init(&ws[i].mu, NULL);
        pthread_cond_init(&ws[i].cv, NULL);
        WM_ASSERT(pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) == 0);
    }
    /* The calling thread watches: progress, Ctrl-C. */
    while (atomic_load(&g->running) > 0) {
        if (wm_interrupted()) atomic_store(&g->stop, 1);
        progress_tick(g, &pr, t0, 0);
        usleep(50000);
    }
    for (int i = 0; i < nw; i++) {
        pthread_join(ws[i].th, NULL);
        wm_debug("gen: worker %d: %.2f s rolling out, %.2f s waiting for its writer, which wrote "
                 "for %.2f s",
                 i, ws[i].t_rollout, ws[i].t_wait, ws[i].t_write);
        pthread_mutex_destroy(&ws[i].mu);
        pthread_cond_destroy(&ws[i].cv);
    }
    progress_tick(g, &pr, t0, 1);
    res->shards = g->ntasks;
    res->shards_made = atomic_load(&g->made);
    res->shards_kept = atomic_load(&g->kept);
    res->shards_redone = atomic_load(&g->redone);
    res->views_made = atomic_load(&g->views_made);
    res->bytes_made = atomic_load(&g->bytes_made);
    if (g->parts > 1) {
        /* The ranks agree on the outcome; rank 0 learns every shard's record and the
         * totals, and writes the manifest alone. */
        int own = 0, who;
        for (int k = g->part; k < g->ntasks; k += g->parts) own++;
        int st = g->rc ? g->rc : res->shards_made + res->shards_kept < own ? WM_ERR_INTERRUPTED : WM_OK;
        if ((rc = wm_dist_agree(st, &who))) {
            if (g->rc && who == g->part) rc = wm_errf(err, errsz, g->rc, "%s", g->err);
            else if (rc == WM_ERR_INTERRUPTED)
                rc = wm_errf(err, errsz, rc, "interrupted (rank %d); the finished shards stay in '%s': run the same command again to finish",
                             who, su->dir);
            else rc = wm_errf(err, errsz, rc, "stopped: rank %d failed (its message is above)", who);
            res->interrupted = rc == WM_ERR_INTERRUPTED;
            goto out;
        }
        for (int k = 0; k < g->ntasks; k++) wm_dist_bcast(&g->recs[k], sizeof g->recs[k], k % g->parts);
        double tot[5] = {res->shards_made, res->shards_kept, res->shards_redone, (double)res->views_made,
                         (double)res->bytes_made};
        wm_dist_sum_f64(tot, 5);
        res->shards_made = (int)tot[0], res->shards_kept = (int)tot[1], res->shards_redone = (int)tot[2];
        res->views_made = (int64_t)tot[3], res->bytes_made = (int64_t)tot[4];
        if (g->part > 0) {
            res->sequences[0] = g->count[0], res->sequences[1] = g->count[1];
            goto out;
        }
    }
    if (g->rc) {
        rc = wm_errf(err, errsz, g->rc, "%s", g->err);
        goto out;
    }
    if (res->shards_made + res->shards_kept < g->ntasks) {
        res->interrupted = 1;
        rc = wm_errf(err, errsz, WM_ERR_INTERRUPTED,
                     "interrupted: %d of %d shards are complete in '%s'; run the same command "
                     "again to finish",
                     res->shards_made + res->shards_kept, g->ntasks, su->dir);
        goto out;
    }
    /* Every shard reaches the disk before the manifest that vouches for it. */
    wm_debug("gen: workers done after %.3f s", wm_now() - t0);
    if (syncfs(lock_fd)) {
        rc = wm_errf(err, errsz, WM_ERR_IO, "cannot sync '%s' to disk: %s", su->dir,
                     strerror(errno));
        goto out;
    }
    wm_debug("gen: synced after %.3f s", wm_now() - t0);
    DsManifest mf = {su->dir, &g->cfg, &g->spec, &g->dims, g->agent_kind,
                     g->count, g->nshards, g->recs};
    rc = ds_write_manifest(&mf, ini.data, err, errsz);
    if (!rc) {
        res->sequences[0] = g->count[0];
        res->sequences[1] = g->count[1];
    }
out:
    ag_destroy(g->spare_agent);
    env_destroy(g->spare_env);
    res->seconds = wm_now() - t0;
    if (lock_fd >= 0) close(lock_fd);
    wm_free(ws);
    wm_buf_free(&ini);
    wm_free(g->tasks);
    wm_free(g->recs);
    pthread_mutex_destroy(&g->mu);
    wm_free(g);
    return rc;
}
