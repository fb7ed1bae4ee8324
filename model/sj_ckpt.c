/* Checkpoints (see sj_ckpt.h): the one place that writes, reads, resumes and checks
 * them. */
#include "model/sj_ckpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"

#define CKPT_FORMAT "seqjepa-checkpoint-1"

int sj_ckpt_save(const char *dir, SjModel *m, const SjCkptMeta *meta, const SjCkptState *st, int64_t step,
                 char *err, size_t errsz) {
    char path[1100], spath[1100], num[64];
    if (wm_path_join(path, sizeof path, dir, SJ_CKPT_FILE) ||
        wm_path_join(spath, sizeof spath, dir, SJ_STATE_FILE))
        return wm_errf(err, errsz, WM_ERR_ARG, "train.out path too long");
    /* Both files are written in full beside the old pair (each atomically, as
     * NAME.next), then renamed over it, the state first: the previous checkpoint stays
     * whole until the two renames, and a crash between them leaves a pair whose
     * steps disagree, which resume detects. (mpirun kills ranks 1 s after Ctrl-C by
     * default: a save cut short leaves the previous checkpoint as it was.) */
    char npath[1110], nspath[1110];
    snprintf(npath, sizeof npath, "%s.next", path);
    snprintf(nspath, sizeof nspath, "%s.next", spath);
    WmStWriter *w = wm_st_writer_create();
    int64_t step_store, pstep = *st->opt_step, stp = step;
    sj_model_save_optim(m, w, &step_store);
    nn_params_save(st->p, st->s, w);
    size_t np = st->p->n_param, four = 4, one = 1;
    wm_st_writer_add(w, "probe.adamw.m", WM_F32, 1, &np, st->s->adam_m);
    wm_st_writer_add(w, "probe.adamw.v", WM_F32, 1, &np, st->s->adam_v);
    wm_st_writer_add(w, "probe.adamw.step", WM_I64, 1, &one, &pstep);
    wm_st_writer_add(w, "rng.dropout", WM_I64, 1, &four, st->rng);
    wm_st_writer_add(w, "step", WM_I64, 1, &one, &stp);
    snprintf(num, sizeof num, "%lld", (long long)step);
    wm_st_writer_meta(w, "step", num);
    int rc = wm_st_writer_save(w, nspath, err, errsz);
    wm_st_writer_destroy(w);
    if (rc) return rc;
    w = wm_st_writer_create();
    sj_model_save(m, w);
    wm_st_writer_meta(w, "format", CKPT_FORMAT);
    wm_st_writer_meta(w, "config", meta->config_text ? meta->config_text : "");
    wm_st_writer_meta(w, "step", num);
    if (meta->command) wm_st_writer_meta(w, "command", meta->command);
    wm_st_writer_meta(w, "pixel_mean", meta->pixel_mean);
    wm_st_writer_meta(w, "pixel_std", meta->pixel_std);
    char shape[128];
    snprintf(shape, sizeof shape, "%d %d %d %d", meta->shape.img_h, meta->shape.img_w, meta->shape.action_dim,
             meta->shape.n_classes);
    wm_st_writer_meta(w, "shape", shape);
    rc = wm_st_writer_save(w, npath, err, errsz);
    wm_st_writer_destroy(w);
    if (rc) {
        remove(nspath);
        return rc;
    }
    if (rename(nspath, spath))
        return wm_errf(err, errsz, WM_ERR_IO, "cannot rename '%s' to '%s': %s", nspath, spath, strerror(errno));
    if (rename(npath, path))
        return wm_errf(err, errsz, WM_ERR_IO, "cannot rename '%s' to '%s': %s", npath, path, strerror(errno));
    return WM_OK;
}

static int meta_int64(const WmStFile *f, const char *key, int64_t *out) {
    const char *v = wm_st_meta(f, key);
    if (!v) return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno || x < 0) return -1;
    *out = x;
    return 0;
}

/* The "shape" metadata: "H W A K", each a plain integer within what any world makes
 * (sscanf's %d would overflow on larger text, and the model sizes buffers from it). */
static int parse_shape(const char *s, SjShape *sh) {
    static const long hi[4] = {4096, 4096, 64, 65536};
    int *dst[4] = {&sh->img_h, &sh->img_w, &sh->action_dim, &sh->n_classes};
    for (int k = 0; k < 4; k++) {
        char *end;
        errno = 0;
        if (*s < '0' || *s > '9') return -1;
        long v = strtol(s, &end, 10);
        if (errno || v < 1 || v > hi[k] || (*end != ' ' && *end != 0) || (k < 3) != (*end == ' ')) return -1;
        *dst[k] = (int)v;
        s = end + (k < 3);
    }
    return 0;
}

/* The stored shape: 0, or -1 when absent or malformed. */
static int read_shape(const WmStFile *f, SjShape *sh) {
    const char *shp = wm_st_meta(f, "shape");
    return shp ? parse_shape(shp, sh) : -1;
}

int sj_checkpoint_load(const char *path, SjModel **out, char **config_text, int64_t *step, char *err,
                       size_t errsz) {
    *out = NULL;
    if (config_text) *config_text = NULL;
    WmStFile *f;
    int rc = wm_st_open(path, &f, err, errsz);
    if (rc) return rc;
    const char *fmt = wm_st_meta(f, "format"), *cfgtext = wm_st_meta(f, "config"), *shp = wm_st_meta(f, "shape");
    SjShape sh;
    if (!fmt || strcmp(fmt, CKPT_FORMAT) || !cfgtext || !shp || meta_int64(f, "step", step)) {
        wm_st_close(f);
        return wm_errf(err, errsz, WM_ERR_FORMAT, "'%s' is not a seqjepa checkpoint (metadata format, config, shape or step missing)", path);
    }
    if (read_shape(f, &sh)) {
        wm_st_close(f);
        return wm_errf(err, errsz, WM_ERR_FORMAT,
                       "'%s': metadata shape '%.60s' is not \"H W A K\" with H, W in 1..4096, A in "
                       "1..64, K in 1..65536",
                       path, shp);
    }
    SjModelConfig mc;
    WmCfgSection sec = {"model", SjModelConfig_fields, SjModelConfig_nfields, 0, 0, NULL};
    WmCfgSchema schema = {&sec, 1};
    wm_cfg_defaults(&schema, &mc);
    char where[1100];
    snprintf(where, sizeof where, "%s (stored config)", path);
    rc = wm_cfg_load_sections(&schema, &mc, cfgtext, where, err, errsz);
    SjModel *m = NULL;
    /* A model the stored config cannot build is a fault of the file. */
    if (!rc && (rc = sj_model_create(&mc, &sh, 0, &m, err, errsz)) && rc != WM_ERR_NOMEM) rc = WM_ERR_FORMAT;
    if (!rc) {
        rc = sj_model_load(m, f, err, errsz);
        if (rc) wm_err_prefix(err, errsz, rc, "'%s': ", path);
    }
    if (!rc && config_text) *config_text = wm_strdup(cfgtext);
    wm_st_close(f);
    if (rc) {
        sj_model_destroy(m);
        return rc;
    }
    *out = m;
    return WM_OK;
}

/* A line "key = default" of a key the schema's section knows: a key added after a run was
 * made is absent from that run's stored config, and the run was made with the default, so
 * such lines count as absent on both sides. */
static int default_line(const WmCfgSection *section, const char *s, size_t n) {
    const char *eq = section ? memchr(s, '=', n) : NULL;
    if (!eq || eq - s < 2 || eq[-1] != ' ' || (size_t)(eq - s) + 2 > n || eq[1] != ' ') return 0;
    char key[64];
    size_t kl = (size_t)(eq - s) - 1, vl = n - kl - 3;
    if (kl >= sizeof key) return 0;
    memcpy(key, s, kl);
    key[kl] = 0;
    const WmCfgField *f = wm_cfg_find_field(section, key);
    return f && strlen(f->def) == vl && !memcmp(eq + 2, f->def, vl);
}

/* Whether a config line's key says where a run is or how fast it goes, not what it
 * trains: [train] out (the run folder, so a folder moved or renamed as a whole still
 * resumes) and the keys the schema's section lists as not trained (the run layer's
 * thread count and queue depth: the batch of a step depends on neither; on another
 * thread count the sums round otherwise, so the run goes on, not bit for bit). */
static int not_trained(const WmCfgSection *section, const char *sec, const char *s, size_t n) {
    size_t k = 0;
    while (k < n && s[k] != ' ' && s[k] != '=') k++;
    if (!k || k == n) return 0;
    if (!strcmp(sec, "train") && k == 3 && !strncmp(s, "out", 3)) return 1;
    for (const char *l = section ? section->not_trained : NULL; l && *l;) {
        size_t w = strcspn(l, " ");
        if (w == k && !strncmp(l, s, k)) return 1;
        l += w + (l[w] == ' ');
    }
    return 0;
}

/* The next line of a config text at *p that matters to resume, or NULL at the end:
 * not the keys of not_trained; keys at their defaults are skipped (above), and
 * sections read only after training ([eval], [bench]), header and all, so that a run
 * evaluated again under a newer evaluation config still resumes; blank lines say nothing.
 * *line counts lines; *sec tracks the section. */
static const char *next_config_line(const WmCfgSchema *schema, const char **p, int *line, char *sec, size_t secsz,
                                    size_t *len) {
    while (**p) {
        const char *s = *p, *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        *p = e ? e + 1 : s + n;
        (*line)++;
        int header = n >= 2 && s[0] == '[' && s[n - 1] == ']';
        if (header) snprintf(sec, secsz, "%.*s", (int)(n - 2), s + 1);
        const WmCfgSection *section = schema ? wm_cfg_find_section(schema, sec) : NULL;
        if (section && section->after_training) continue;
        if (!header && (!n || not_trained(section, sec, s, n) || default_line(section, s, n))) continue;
        *len = n;
        return s;
    }
    return NULL;
}

/* A config line quoted for a refusal; the end of the text reads (nothing). */
static void shown_line(char *buf, size_t bufsz, const char *s, size_t n) {
    if (s && n) snprintf(buf, bufsz, "'%.*s'", (int)n, s);
    else snprintf(buf, bufsz, "(nothing)");
}

/* 0 when two config texts agree on every line that matters to resume; otherwise 1, with
 * the first differing line in out, for the refusal. */
static int config_differs(const WmCfgSchema *schema, const char *a, const char *b, char *out, size_t outsz) {
    int la = 0, lb = 0;
    char sa[64] = "", sb[64] = "";
    for (;;) {
        size_t na = 0, nb = 0;
        const char *x = next_config_line(schema, &a, &la, sa, sizeof sa, &na),
                   *y = next_config_line(schema, &b, &lb, sb, sizeof sb, &nb);
        if (!x && !y) return 0;
        if (x && y && na == nb && !memcmp(x, y, na)) continue;
        char ca[512], cb[512];
        shown_line(ca, sizeof ca, x, na);
        shown_line(cb, sizeof cb, y, nb);
        /* precisions, not %s: the quotes may be cut to fit out, on purpose */
        snprintf(out, outsz, "line %d: checkpoint has %.*s, this run has %.*s", x ? la : lb, (int)strlen(ca), ca,
                 (int)strlen(cb), cb);
        return 1;
    }
}

int sj_ckpt_resume(const char *dir, const char *config_text, const WmCfgSchema *schema, SjModel *m,
                   SjCkptState *stt, int64_t *step, char *err, size_t errsz) {
    char path[1100], spath[1100];
    wm_path_join(path, sizeof path, dir, SJ_CKPT_FILE);
    wm_path_join(spath, sizeof spath, dir, SJ_STATE_FILE);
    WmStFile *f = NULL, *s = NULL;
    int rc = wm_st_open(path, &f, err, errsz);
    if (!rc) rc = wm_st_open(spath, &s, err, errsz);
    int64_t st = -1, st2 = -2;
    char diff[600];
    if (!rc) {
        const char *cfgtext = wm_st_meta(f, "config");
        if (meta_int64(f, "step", &st) || meta_int64(s, "step", &st2) || st != st2)
            rc = wm_errf(err, errsz, WM_ERR_MISMATCH, "'%s' and '%s' are from different steps; cannot resume", path, spath);
        else if (config_differs(schema, cfgtext ? cfgtext : "", config_text ? config_text : "", diff, sizeof diff)) {
            rc = wm_errf(err, errsz, WM_ERR_MISMATCH, "'%s' was trained with a different config (%s); resume needs the same one",
                         path, diff);
        }
    }
    if (!rc) rc = sj_model_load(m, f, err, errsz);
    if (!rc) rc = sj_model_load_optim(m, s, err, errsz);
    if (!rc) rc = nn_params_load(stt->p, stt->s, s, err, errsz);
    if (!rc) {
        const WmStTensor *pm = wm_st_find(s, "probe.adamw.m"), *pv = wm_st_find(s, "probe.adamw.v"),
                         *ps = wm_st_find(s, "probe.adamw.step"), *rg = wm_st_find(s, "rng.dropout");
        if (!pm || !pv || !ps || !rg || pm->count != stt->p->n_param || pv->count != stt->p->n_param || rg->count != 4 ||
            ps->count != 1 || pm->dtype != WM_F32 || pv->dtype != WM_F32 || rg->dtype != WM_I64 || ps->dtype != WM_I64) {
            rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s': probe or RNG state missing or mis-sized", spath);
        } else {
            memcpy(stt->s->adam_m, pm->data, pm->nbytes);
            memcpy(stt->s->adam_v, pv->data, pv->nbytes);
            memcpy(stt->opt_step, ps->data, sizeof(int64_t));
            memcpy(stt->rng, rg->data, 4 * sizeof(uint64_t));
        }
    }
    if (rc && f && s) wm_err_prefix(err, errsz, rc, "resume: ");
    wm_st_close(f);
    wm_st_close(s);
    if (!rc) *step = st;
    return rc;
}

int sj_shape_check(const SjShape *have, const SjShape *want, const char *what, char *err, size_t errsz) {
    if (have->img_h != want->img_h || have->img_w != want->img_w || have->action_dim != want->action_dim ||
        have->n_classes != want->n_classes)
        return wm_errf(err, errsz, WM_ERR_MISMATCH,
                       "'%s' was trained on %dx%d views with %d action dims and %d classes; this config gives %dx%d, %d, %d",
                       what, have->img_h, have->img_w, have->action_dim, have->n_classes, want->img_h, want->img_w,
                       want->action_dim, want->n_classes);
    return WM_OK;
}

int sj_ckpt_load_into(SjModel *m, const char *path, char *err, size_t errsz) {
    WmStFile *f;
    int rc = wm_st_open(path, &f, err, errsz);
    if (rc) return rc;
    SjShape have;
    rc = read_shape(f, &have);
    if (rc)
        rc = wm_errf(err, errsz, WM_ERR_FORMAT, "'%s' is not a seqjepa checkpoint (no shape)", path);
    else
        rc = sj_shape_check(&have, sj_model_shape(m), path, err, errsz);
    if (!rc && (rc = sj_model_load(m, f, err, errsz))) wm_err_prefix(err, errsz, rc, "'%s': ", path);
    wm_st_close(f);
    return rc;
}
