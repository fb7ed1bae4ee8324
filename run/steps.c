/* A run's step hooks: observers in order, then the one stop decision; the CSV log and
 * the progress bar (run/steps.h). */
#include "run/steps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/dist.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/signal.h"

void run_steps_observe(RunSteps *s, RunObserver o) {
    WM_ASSERT(s->n < RUN_MAX_OBSERVERS && o.step);
    s->obs[s->n++] = o;
}

void run_stop_ask(RunSteps *s) {
    atomic_store(&s->asked, 1);
}

static int steps_begin(void *ctx, SjModel *m, int64_t start, int64_t total, char *err, size_t errsz) {
    RunSteps *s = ctx;
    for (s->begun = 0; s->begun < s->n; s->begun++) {
        const RunObserver *o = &s->obs[s->begun];
        int rc = o->begin ? o->begin(o->ctx, m, start, total, err, errsz) : WM_OK;
        if (rc) {
            for (int i = s->begun - 1; i >= 0; i--) /* undo what began, newest first */
                if (s->obs[i].end) s->obs[i].end(s->obs[i].ctx, NULL);
            s->begun = 0;
            return rc;
        }
    }
    return WM_OK;
}

static int steps_step(void *ctx, SjModel *m, const SjStepInfo *in) {
    RunSteps *s = ctx;
    for (int i = 0; i < s->n; i++) s->obs[i].step(s->obs[i].ctx, m, in);
    if (wm_interrupted()) return SJ_STOP_INTERRUPTED;
    if (atomic_load(&s->asked) || (s->limit > 0 && in->step >= s->limit)) return SJ_STOP_ASKED;
    return SJ_GO;
}

static void steps_end(void *ctx, const SjTrainResult *res) {
    RunSteps *s = ctx;
    for (int i = s->begun - 1; i >= 0; i--)
        if (s->obs[i].end) s->obs[i].end(s->obs[i].ctx, res);
    s->begun = 0;
}

void run_steps_attach(RunSteps *s, SjTrainSetup *su) {
    su->hooks = (SjStepHooks){steps_begin, steps_step, steps_end, s};
}

/* ---------------------------------------------------------------- the CSV log */

static int csv_begin(void *ctx, SjModel *m, int64_t start, int64_t total, char *err, size_t errsz) {
    RunCsvLog *c = ctx;
    (void)total, (void)m;
    static const char *header = "step,loss,lr,tau,seq_per_s,data_wait,probe_top1,probe_r2,grad_norm,phase\n";
    WmBuf keep = {0};
    wm_buf_puts(&keep, header);
    if (start > 0) { /* the rows up to the resumed step */
        char *old;
        size_t len;
        if (wm_read_file(c->path, &old, &len, NULL, 0) == WM_OK) {
            char *line = strchr(old, '\n');
            while (line && line[1]) {
                char *next = strchr(line + 1, '\n');
                long long st = atoll(line + 1);
                if (st > start || !next) break;
                wm_buf_append(&keep, line + 1, (size_t)(next - line));
                line = next;
            }
            wm_free(old);
        }
    }
    int rc = wm_write_file_atomic(c->path, keep.data, keep.len, err, errsz);
    wm_buf_free(&keep);
    if (rc) return rc;
    c->f = fopen(c->path, "a");
    if (!c->f) return wm_errf(err, errsz, WM_ERR_IO, "cannot append to '%s': %s", c->path, strerror(errno));
    c->t = wm_now(), c->wait = c->loss = c->grad_norm = 0, c->n = 0;
    return WM_OK;
}

static void csv_step(void *ctx, SjModel *m, const SjStepInfo *in) {
    RunCsvLog *c = ctx;
    (void)m;
    c->loss += in->loss, c->grad_norm += in->grad_norm, c->wait += in->wait, c->n++;
    if (!in->logged) return;
    double now = wm_now(), sps = (double)c->n * c->batch / (now - c->t);
    fprintf(c->f, "%lld,%.6f,%.6g,%.6f,%.2f,%.3f,%.4f,%.4f,%.4g,%s\n", (long long)in->step, c->loss / c->n, in->lr,
            in->tau, sps, c->wait / (now - c->t), in->probe_top1, in->probe_r2, c->grad_norm / c->n,
            in->inverse ? "inverse" : "seqjepa");
    fflush(c->f);
    c->t = now, c->wait = c->loss = c->grad_norm = 0, c->n = 0;
}

static void csv_end(void *ctx, const SjTrainResult *res) {
    RunCsvLog *c = ctx;
    (void)res;
    if (c->f) fclose(c->f);
    c->f = NULL;
}

RunObserver run_csv_log(RunCsvLog *c, const char *dir, int batch) {
    memset(c, 0, sizeof *c);
    wm_path_join(c->path, sizeof c->path, dir, RUN_LOG_FILE);
    c->batch = batch;
    return (RunObserver){csv_begin, csv_step, csv_end, c};
}

/* ---------------------------------------------------------------- the progress bar */

static int bar_begin(void *ctx, SjModel *m, int64_t start, int64_t total, char *err, size_t errsz) {
    (void)m, (void)err, (void)errsz;
    wm_progress_start(&((RunProgressBar *)ctx)->bar, "train", total, "step");
    wm_progress_from(&((RunProgressBar *)ctx)->bar, start);
    return WM_OK;
}

static void bar_step(void *ctx, SjModel *m, const SjStepInfo *in) {
    (void)m;
    char extra[96];
    snprintf(extra, sizeof extra, "%s %.4f", in->inverse ? "inverse loss" : "loss", in->loss);
    wm_progress_update(&((RunProgressBar *)ctx)->bar, in->step, extra);
}

static void bar_end(void *ctx, const SjTrainResult *res) {
    (void)res;
    wm_progress_finish(&((RunProgressBar *)ctx)->bar, NULL);
}

RunObserver run_progress_bar(RunProgressBar *p) {
    memset(p, 0, sizeof *p);
    return (RunObserver){bar_begin, bar_step, bar_end, p};
}

void run_steps_standard(RunSteps *s, RunSinks *sinks, const SjTrainConfig *tc, int quiet) {
    if (wm_dist_rank() > 0) return; /* across MPI ranks, rank 0 alone writes the log and the bar */
    run_steps_observe(s, run_csv_log(&sinks->csv, tc->out, tc->batch));
    if (!quiet) run_steps_observe(s, run_progress_bar(&sinks->bar));
}
