/* Datasets on the saccade world (no OpenGL, so it also runs under the sanitizers):
 * generation against direct rollouts, determinism across threads and lanes, resume
 * after SIGKILL at random moments equal to an uninterrupted run byte for byte, a
 * damaged shard repaired, Ctrl-C, mismatch refusal, unwritable folders and a full
 * disk (RLIMIT_FSIZE), the reader and the training stream. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "data/dataset.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/crc32.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/signal.h"
#include "tests/test.h"

static DsConfig base_config(int train, int val, int views, int shard) {
    DsConfig c;
    wm_cfg_defaults(ds_config_schema(), &c);
    char err[256];
    WM_ASSERT(
        !wm_cfg_set(ds_config_schema(), &c, "env", "kind", "saccade", "test", err, sizeof err));
    c.env.size = 16, c.env.scene_size = 32, c.env.fovea = 16, c.env.n_scenes = 60,
    c.env.ior_radius = 4;
    c.gen.train_seqs = train, c.gen.val_seqs = val, c.gen.views = views, c.gen.shard_size = shard;
    c.gen.threads = 2, c.gen.lanes = 8;
    return c;
}

static int gen(const DsConfig *c, const char *dir, DsGenResult *res, char *err, size_t errsz) {
    DsGenSetup su = {c, dir, 0, 1, 0};
    return ds_generate(&su, res, err, errsz);
}

static char *path_in(const char *a, const char *b) {
    static char p[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", a, b);
    return p[k];
}

/* Every regular file under dir, relative paths, sorted (a simple recursive listing). */
typedef struct {
    char **names;
    int n, cap;
} List;

static void list_add(List *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->names = wm_realloc(l->names, (size_t)l->cap, sizeof *l->names);
    }
    l->names[l->n++] = wm_strdup(s);
}

static void list_tree(const char *root, const char *rel, List *l) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char r[1200], full[1300];
        snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, r);
        if (wm_is_dir(full))
            list_tree(root, r, l);
        else
            list_add(l, r);
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_free(List *l) {
    for (int i = 0; i < l->n; i++)
        wm_free(l->names[i]);
    wm_free(l->names);
}

/* True when both trees hold the same files with the same bytes. */
static int trees_equal(const char *a, const char *b, char *why, size_t whysz) {
    List la = {0}, lb = {0};
    list_tree(a, "", &la);
    list_tree(b, "", &lb);
    qsort(la.names, (size_t)la.n, sizeof *la.names, cmp_str);
    qsort(lb.names, (size_t)lb.n, sizeof *lb.names, cmp_str);
    int eq = la.n == lb.n && la.n > 0;
    if (!eq) snprintf(why, whysz, "%d files vs %d", la.n, lb.n);
    for (int i = 0; eq && i < la.n; i++) {
        if (strcmp(la.names[i], lb.names[i])) {
            snprintf(why, whysz, "'%s' vs '%s'", la.names[i], lb.names[i]);
            eq = 0;
            break;
        }
        char *x = NULL, *y = NULL, e[256];
        size_t nx = 0, ny = 0;
        wm_read_file(path_in(a, la.names[i]), &x, &nx, e, sizeof e);
        wm_read_file(path_in(b, lb.names[i]), &y, &ny, e, sizeof e);
        if (!x || !y || nx != ny || memcmp(x, y, nx)) {
            snprintf(why, whysz, "'%s' differs", la.names[i]);
            eq = 0;
        }
        wm_free(x);
        wm_free(y);
    }
    list_free(&la);
    list_free(&lb);
    return eq;
}

static void test_generate_and_read(const char *tmp) {
    DsConfig c = base_config(40, 12, 4, 16);
    char err[1024], dir[1100];
    snprintf(dir, sizeof dir, "%s/a", tmp);
    DsGenResult res;
    int rc = gen(&c, dir, &res, err, sizeof err);
    CHECK(rc == WM_OK, "%s", err);
    CHECK(res.shards == 4 && res.shards_made == 4 && res.shards_kept == 0, "shards %d made %d",
          res.shards, res.shards_made);
    CHECK(res.sequences[0] == 40 && res.sequences[1] == 12 && res.views_made == 52 * 4);
    CHECK(wm_path_exists(path_in(dir, "manifest.json")) &&
          wm_path_exists(path_in(dir, "dataset.ini")));
    CHECK(wm_is_dir(path_in(dir, "train/shard-00002")) &&
          !wm_path_exists(path_in(dir, "train/shard-00003")));
    CHECK(wm_is_dir(path_in(dir, "val/shard-00000")));

    /* Checksums in shard.json agree with the files (zlib's CRC-32). */
    char *text = NULL;
    size_t len = 0;
    CHECK(
        !wm_read_file(path_in(dir, "train/shard-00002/images.npy"), &text, &len, err, sizeof err));
    CHECK(len == 128 + (size_t)8 * 4 * 16 * 16 * 3, "%zu bytes",
          len); /* the last shard holds 40 - 32 */
    const char *hdr = "{'descr': '|u1', 'fortran_order': False, 'shape': (8, 4, 16, 16, 3), }";
    CHECK(text && !memcmp(text, "\x93NUMPY\x01\x00", 8) && !memcmp(text + 10, hdr, strlen(hdr)) &&
              text[127] == '\n',
          "numpy's own header");
    uint32_t crc = wm_crc32(0, text, len);
    wm_free(text);
    CHECK(
        !wm_read_file(path_in(dir, "train/shard-00002/shard.json"), &text, &len, err, sizeof err));
    char want[64];
    snprintf(want, sizeof want, "\"crc32\": %lu}", (unsigned long)crc);
    CHECK(text && strstr(text, want), "images.npy checksum %s in shard.json", want);
    wm_free(text);

    Dataset *ds;
    CHECK(ds_open(dir, DS_OPEN_VERIFY, &ds, err, sizeof err) == WM_OK && ds != NULL, "%s", err);
    if (!ds) return;
    const EnvSpec *sp = ds_spec(ds);
    CHECK(sp->height == 16 && sp->width == 16 && sp->action_dim == 2 && sp->latent_dim == 2 &&
          sp->n_classes == 10);
    CHECK(!strcmp(sp->action_names[0], "dy") && !strcmp(sp->latent_names[1], "x"));
    CHECK(ds_count(ds, DS_SPLIT_TRAIN) == 40 && ds_count(ds, DS_SPLIT_VAL) == 12 &&
          ds_views(ds) == 4);
    CHECK(ds_config(ds)->gen.threads == 0 && ds_config(ds)->gen.lanes == 512,
          "speed keys normalized");

    /* Every sequence equals a direct rollout of the same (seed, split, index). */
    Env *env;
    env_create(&c.env, 5, &env, err, sizeof err);
    Agent *ag = NULL;
    if (env) ag_create(&c.agent, &c.env, env_spec(env), 5, &ag, err, sizeof err);
    CHECK(ag != NULL, "%s", err);
    AgBatch a = {0}, b = {0};
    for (int split = 0; ag && split < 2; split++) {
        int n = split ? 12 : 40;
        ag_batch_alloc(&a, sp, n, 4, 32, err, sizeof err);
        ag_batch_alloc(&b, sp, n, 4, 32, err, sizeof err);
        CHECK(!ag_rollout(env, ag, 0, split, 0, n, &a, err, sizeof err), "%s", err);
        CHECK(!ds_read(ds, split, 0, n, 0, &b, err, sizeof err), "%s", err);
        size_t px = (size_t)n * 4 * 16 * 16 * 3, s2 = (size_t)n * 32 * 32;
        CHECK(!memcmp(a.pixels, b.pixels, px) &&
                  !memcmp(a.actions, b.actions, (size_t)n * 3 * 2 * 4) &&
                  !memcmp(a.latents, b.latents, (size_t)n * 4 * 2 * 4) &&
                  !memcmp(a.labels, b.labels, (size_t)n * 4) &&
                  !memcmp(a.instances, b.instances, (size_t)n * 4) &&
                  !memcmp(a.scenes, b.scenes, s2 * 3) && !memcmp(a.saliency, b.saliency, s2 * 4),
              "split %d equals the rollout", split);
        /* Summed actions are the latent differences, exactly. */
        int exact = 1;
        for (int i = 0; i < n; i++)
            for (int t = 0; t < 3; t++)
                for (int d = 0; d < 2; d++)
                    exact &= b.latents[(i * 4 + t + 1) * 2 + d] - b.latents[(i * 4 + t) * 2 + d] ==
                             b.actions[(i * 3 + t) * 2 + d];
        CHECK(exact, "actions are latent differences");
        ag_batch_free(&a);
        ag_batch_free(&b);
    }
    /* Train and val never share a scene. */
    ag_batch_alloc(&a, sp, 40, 1, 0, err, sizeof err);
    ag_batch_alloc(&b, sp, 12, 1, 0, err, sizeof err);
    ds_read(ds, DS_SPLIT_TRAIN, 0, 40, 0, &a, err, sizeof err);
    ds_read(ds, DS_SPLIT_VAL, 0, 12, 0, &b, err, sizeof err);
    int shared = 0;
    for (int i = 0; i < 40; i++)
        for (int j = 0; j < 12; j++)
            shared += a.instances[i] == b.instances[j];
    CHECK(shared == 0, "%d train/val sequences share a scene", shared);
    /* Reading past the end and too many views are errors, not crashes. */
    CHECK(ds_read(ds, DS_SPLIT_VAL, 5, 8, 0, &b, err, sizeof err) == WM_ERR_RANGE &&
              strstr(err, "12 sequences"),
          "%s", err);
    ag_batch_free(&a);
    ag_batch_free(&b);

    /* The training stream: a pure function of the step; each epoch visits every
     * sequence once; windows of fewer views are slices of the stored sequences. */
    AgBatch all = {0}, x = {0}, y = {0};
    ag_batch_alloc(&all, sp, 40, 4, 0, err, sizeof err);
    ds_read(ds, DS_SPLIT_TRAIN, 0, 40, 0, &all, err, sizeof err);
    ag_batch_alloc(&x, sp, 7, 2, 0, err, sizeof err);
    ag_batch_alloc(&y, sp, 7, 2, 0, err, sizeof err);
    size_t view = 16 * 16 * 3;
    int seen[2][40] = {{0}}, sliced = 1, offsets[3] = {0};
    uint8_t *first[12];
    for (int s = 0; s < 12; s++) {
        CHECK(!ds_batch(ds, DS_SPLIT_TRAIN, 9, s, &x, err, sizeof err), "%s", err);
        first[s] = wm_calloc(7 * 2 * view, 1);
        memcpy(first[s], x.pixels, 7 * 2 * view);
        for (int j = 0; j < 7; j++) {
            int64_t p = (int64_t)s * 7 + j;
            int hit = -1;
            for (int q = 0; q < 40 && hit < 0; q++)
                for (int o = 0; o < 3 && hit < 0; o++)
                    if (!memcmp(x.pixels + (size_t)j * 2 * view,
                                all.pixels + ((size_t)q * 4 + o) * view, 2 * view) &&
                        !memcmp(x.actions + j * 2, all.actions + (q * 3 + o) * 2,
                                2 * sizeof(float)) &&
                        x.labels[j] == all.labels[q])
                        hit = q, offsets[o]++;
            sliced &= hit >= 0;
            if (hit >= 0 && p < 80) seen[p / 40][hit]++;
        }
    }
    int once = 1;
    for (int e = 0; e < 2; e++)
        for (int q = 0; q < 40; q++)
            once &= seen[e][q] == 1;
    CHECK(sliced, "every row is a window of a stored sequence");
    CHECK(once, "each epoch visits every sequence exactly once");
    CHECK(offsets[0] && offsets[1] && offsets[2], "window offsets %d %d %d all used", offsets[0],
          offsets[1], offsets[2]);
    int pure = 1;
    for (int s = 11; s >= 0; s -= 2) {
        ds_batch(ds, DS_SPLIT_TRAIN, 9, s, &y, err, sizeof err);
        pure &= !memcmp(y.pixels, first[s], 7 * 2 * view);
    }
    CHECK(pure, "a batch depends on its step alone");
    ds_batch(ds, DS_SPLIT_TRAIN, 10, 0, &y, err, sizeof err);
    CHECK(memcmp(y.pixels, first[0], 7 * 2 * view) != 0, "another seed, another order");
    for (int s = 0; s < 12; s++)
        wm_free(first[s]);
    ag_batch_free(&all);
    ag_batch_free(&x);
    ag_batch_free(&y);
    ag_destroy(ag);
    env_destroy(env);
    ds_close(ds);

    /* Same config with other threads and lanes: the same bytes. */
    DsConfig c2 = c;
    c2.gen.threads = 1, c2.gen.lanes = 3;
    char dir2[1100];
    snprintf(dir2, sizeof dir2, "%s/a2", tmp);
    CHECK(gen(&c2, dir2, &res, err, sizeof err) == WM_OK, "%s", err);
    char why[256] = "";
    CHECK(trees_equal(dir, dir2, why, sizeof why), "threads 1, lanes 3: %s", why);

    /* Running again keeps and checks every shard and rewrites the same manifest. */
    CHECK(gen(&c, dir, &res, err, sizeof err) == WM_OK && res.shards_kept == 4 &&
              res.shards_made == 0,
          "%s", err);
    CHECK(trees_equal(dir, dir2, why, sizeof why), "after a re-run: %s", why);

    /* A damaged shard is found and made again. */
    char *p = path_in(dir, "train/shard-00001/latents.npy");
    FILE *f = fopen(p, "r+b");
    fseek(f, 200, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    rc = ds_open(dir, DS_OPEN_VERIFY, &ds, err, sizeof err);
    CHECK(rc == WM_ERR_FORMAT && !ds && strstr(err, "latents.npy") && strstr(err, "CRC-32"),
          "damage found when verifying: %s", err);
    ds_close(ds);
    CHECK(gen(&c, dir, &res, err, sizeof err) == WM_OK && res.shards_redone == 1 &&
              res.shards_kept == 3,
          "%s", err);
    CHECK(trees_equal(dir, dir2, why, sizeof why), "after the repair: %s", why);

    /* Another config: refused, naming each key that differs; the folder untouched. */
    DsConfig c3 = c;
    c3.gen.views = 5, c3.env.fovea = 12;
    rc = gen(&c3, dir, &res, err, sizeof err);
    CHECK(rc == WM_ERR_MISMATCH && strstr(err, "env.fovea is 16 there, 12 here") &&
              strstr(err, "gen.views is 4 there, 5 here") && strstr(err, "2 keys differ"),
          "%s", err);
    CHECK(trees_equal(dir, dir2, why, sizeof why), "a refused run leaves the folder alone: %s",
          why);
    /* A folder with other things in it is not taken. */
    char other[1100];
    snprintf(other, sizeof other, "%s/other", tmp);
    wm_mkdirs(other, err, sizeof err);
    wm_write_file_atomic(path_in(other, "notes.txt"), "hi", 2, err, sizeof err);
    CHECK(gen(&c, other, &res, err, sizeof err) == WM_ERR_MISMATCH && strstr(err, "not empty"),
          "%s", err);
    /* An unfinished dataset cannot be opened for reading. */
    wm_remove_tree(path_in(dir2, "manifest.json"), err, sizeof err);
    rc = ds_open(dir2, DS_OPEN_SHAPES, &ds, err, sizeof err);
    CHECK(rc == WM_ERR_IO && !ds && strstr(err, "did not finish"), "%s", err);
}

/* Kills a child generating into dir (SIGKILL) `delay` seconds after its first shard
 * appeared, or lets it finish when it is quicker; returns the shards then visible. */
static int run_and_kill(const DsConfig *c, const char *dir, double delay) {
    pid_t pid = fork();
    if (pid == 0) {
        char err[1024];
        DsGenResult res;
        _exit(gen(c, dir, &res, err, sizeof err) == WM_OK ? 0 : 3);
    }
    struct timespec poll = {0, 2000000};
    for (int i = 0; i < 5000 && !wm_path_exists(path_in(dir, "train/shard-00000")); i++)
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        else
            nanosleep(&poll, NULL);
    struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    List l = {0};
    list_tree(dir, "", &l);
    int shards = 0;
    for (int i = 0; i < l.n; i++)
        shards += strstr(l.names[i], "/shard.json") != NULL;
    list_free(&l);
    return shards;
}

static void test_resume_after_kill(const char *tmp) {
    DsConfig c = base_config(160, 32, 5, 8);
    c.env.scene_size = 64;
    char err[1024], ref[1100], why[256] = "";
    snprintf(ref, sizeof ref, "%s/ref", tmp);
    DsGenResult res;
    double t0 = wm_now();
    CHECK(gen(&c, ref, &res, err, sizeof err) == WM_OK, "%s", err);
    double full = wm_now() - t0;
    fprintf(stderr, "uninterrupted run: %.3f s\n", full);
    WmRng r;
    wm_rng_seed(&r, (uint64_t)time(NULL), 7);
    for (int k = 0; k < 3; k++) {
        char dir[1100];
        snprintf(dir, sizeof dir, "%s/killed%d", tmp, k);
        /* Killed up to twice at random moments, then run to the end. */
        for (int kill_no = 0; kill_no <= k % 2; kill_no++) {
            /* The first kill comes as soon as a shard is complete, the others at random.
             * The whole run takes about 0.1 s, so on a loaded machine the kill can come
             * after the last shard: then the folder is cleared and the kill tried again. */
            int shards = run_and_kill(&c, dir, k == 0 ? 0.0 : wm_rng_uniform(&r) * full * 0.5);
            for (int again = 0; k == 0 && shards == 24 && again < 8; again++) {
                CHECK(wm_remove_tree(dir, err, sizeof err) == WM_OK, "%s", err);
                shards = run_and_kill(&c, dir, 0.0);
            }
            if (k == 0)
                CHECK(shards >= 1 && shards < 24, "a run killed early leaves %d of 24 shards",
                      shards);
            fprintf(stderr, "killed run %d.%d: %d of 24 shards complete\n", k, kill_no, shards);
        }
        int rc = gen(&c, dir, &res, err, sizeof err);
        CHECK(rc == WM_OK, "%s", err);
        CHECK(trees_equal(dir, ref, why, sizeof why), "killed %d time(s), resumed: %s", 1 + k % 2,
              why);
    }
}

static void test_interrupt(const char *tmp) {
    DsConfig c = base_config(40, 8, 3, 8);
    char err[1024], dir[1100];
    snprintf(dir, sizeof dir, "%s/int", tmp);
    DsGenResult res;
    wm_signals_install();
    raise(SIGINT);
    int rc = gen(&c, dir, &res, err, sizeof err);
    CHECK(rc == WM_ERR_INTERRUPTED && res.interrupted && strstr(err, "run the same command again"),
          "%s", err);
    CHECK(!wm_path_exists(path_in(dir, "manifest.json")), "no manifest after an interruption");
    wm_signals_reset();
    CHECK(gen(&c, dir, &res, err, sizeof err) == WM_OK &&
              wm_path_exists(path_in(dir, "manifest.json")),
          "%s", err);
}

static void test_unwritable(const char *tmp) {
    DsConfig c = base_config(16, 0, 3, 8);
    char err[1024], file[1100], dir[1200];
    DsGenResult res;
    snprintf(file, sizeof file, "%s/plainfile", tmp);
    wm_write_file_atomic(file, "x", 1, err, sizeof err);
    snprintf(dir, sizeof dir, "%s/sub", file);
    int rc = gen(&c, dir, &res, err, sizeof err);
    CHECK(rc == WM_ERR_IO && strstr(err, "plainfile"), "a folder under a file: %s", err);

    /* A full disk, as a file size limit: a clear error and no shard visible. */
    char full[1100];
    snprintf(full, sizeof full, "%s/full", tmp);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {20000, 20000};
        setrlimit(RLIMIT_FSIZE, &lim);
        char e[1024] = "";
        int r = gen(&c, full, &res, e, sizeof e);
        ssize_t w = write(fds[1], e, strlen(e) + 1);
        (void)w;
        _exit(r == WM_ERR_IO ? 0 : 3);
    }
    close(fds[1]);
    char msg[1024] = "";
    ssize_t got = read(fds[0], msg, sizeof msg - 1);
    msg[got > 0 ? got : 0] = 0;
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(msg, ".npy") &&
              strstr(msg, "File too large"),
          "file size limit: %s", msg);
    List l = {0};
    list_tree(full, "", &l);
    int visible = 0;
    for (int i = 0; i < l.n; i++)
        visible += strstr(l.names[i], "shard-") != NULL || strstr(l.names[i], "manifest") != NULL;
    CHECK(visible == 0, "%d shard or manifest files visible after the failure", visible);
    list_free(&l);
}

int main(void) {
    const char *tmp = test_tmpdir();
    test_generate_and_read(tmp);
    test_resume_after_kill(tmp);
    test_interrupt(tmp);
    test_unwritable(tmp);
    char err[256];
    wm_remove_tree(tmp, err, sizeof err);
    return TEST_DONE();
}
