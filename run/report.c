/* The evaluation report (see report.h): figures on core/canvas, a Markdown page. */
#include "run/report.h"
#include "run/steps.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"
#include "core/png.h"
#include "model/sj_train.h"

/* Every figure is a panel of this size; overview.png tiles four of them. */
enum { PW = 760, PH = 480, LOSS_CAP = 100000 };

static const WmColor white = {255, 255, 255}, ink = {40, 40, 40}, grey = {150, 150, 150};

int rpt_read_loss(const char *dir, double *steps, double *loss, int cap) {
    char path[1200], *text;
    size_t len;
    if (wm_path_join(path, sizeof path, dir, RUN_LOG_FILE) || wm_read_file(path, &text, &len, NULL, 0)) return 0;
    int n = 0;
    for (char *line = strchr(text, '\n'); line && line[1] && n < cap; line = strchr(line + 1, '\n')) {
        double s, l;
        if (sscanf(line + 1, "%lf,%lf", &s, &l) == 2) steps[n] = s, loss[n] = l, n++;
    }
    wm_free(text);
    return n;
}

int rpt_save_png(const WmCanvas *c, const char *dir, const char *name, char *err, size_t errsz) {
    char path[1200];
    if (wm_path_join(path, sizeof path, dir, name)) return wm_errf(err, errsz, WM_ERR_ARG, "path too long: %s/%s", dir, name);
    return wm_png_write(path, c->w, c->h, 3, c->rgb, 0, err, errsz);
}

/* One colour per column, the same in every figure. */
static WmColor column_color(const PlEvalTable *t, int i) {
    if (i == t->model) return wm_palette(0);
    if (i == t->random) return wm_palette(1);
    if (i == t->chance) return grey;
    if (i == t->oracle) return wm_palette(2);
    return wm_palette(3 + i);
}

static WmColor class_color(int k, int n_classes) {
    return n_classes <= 10 ? wm_palette(k) : wm_hue((double)k / n_classes, 0.8, 0.85);
}

static void hline(WmPlot *p, double y, WmColor col, int thick, const char *label) {
    double xs[2] = {p->x0, p->x1}, ys[2] = {y, y};
    if (isfinite(y)) wm_plot_series(p, xs, ys, 2, col, thick, 0, label);
}

/* The training loss from log.csv with the held-out losses as horizontal references. */
static void panel_loss(WmCanvas *c, int ox, int oy, const WmFont *f, const RptInput *in, const double *st,
                       const double *ls, int n) {
    const PlEvalTable *t = in->table;
    const SjEvalResult *mr = &t->res[t->model], *rr = &t->res[t->random];
    double ymax = 0.01, xmax = 1;
    for (int k = 0; k < n; k++) ymax = fmax(ymax, ls[k]), xmax = fmax(xmax, st[k]);
    double refs[4] = {mr->loss, rr->loss, mr->loss_copy, mr->loss_mean};
    for (int k = 0; k < 4; k++)
        if (isfinite(refs[k])) ymax = fmax(ymax, refs[k]);
    char title[160];
    snprintf(title, sizeof title, "loss 1 - cos: training (log.csv) and held-out at M = %d", mr->loss_m);
    WmPlot p;
    wm_plot_begin(&p, c, f, ox + 70, oy + 50, 450, 360, 0, xmax, 0, ymax * 1.08, title, n ? "step" : "step (no log.csv)",
                  "loss");
    p.legend_at = 2;
    if (n) wm_plot_series(&p, st, ls, n, wm_palette(0), 2, 0, "training loss");
    hline(&p, mr->loss, (WmColor){20, 40, 110}, 1, "held-out, trained");
    hline(&p, rr->loss, column_color(t, t->random), 2, "held-out, random init");
    hline(&p, mr->loss_copy, grey, 2, "copying view M");
    hline(&p, mr->loss_mean, wm_palette(4), 2, "mean target (constant)");
}

/* The headline probes as bars, one per column. */
static void panel_probes(WmCanvas *c, int ox, int oy, const WmFont *f, const WmFont *small, const RptInput *in) {
    const PlEvalTable *t = in->table;
    int mm = t->res[t->model].m_max, rm = t->res[t->model].retr_m_max;
    char names[7][48];
    const char *cats[7];
    int nc = 0, kind[7], ms[7];
    snprintf(names[nc], sizeof names[0], "top-1 z"), kind[nc] = 0, ms[nc++] = 0;
    snprintf(names[nc], sizeof names[0], "z_AGG M=%d", mm), kind[nc] = 1, ms[nc++] = mm;
    snprintf(names[nc], sizeof names[0], "pose, ridge"), kind[nc] = 4, ms[nc++] = 0;
    if (isfinite(t->res[t->model].pose_mlp_r2))
        snprintf(names[nc], sizeof names[0], "pose, MLP"), kind[nc] = 5, ms[nc++] = 0;
    snprintf(names[nc], sizeof names[0], "equivariance"), kind[nc] = 2, ms[nc++] = 0;
    if (rm >= 1) snprintf(names[nc], sizeof names[0], "retr. M=1"), kind[nc] = 3, ms[nc++] = 1;
    if (rm >= 2) snprintf(names[nc], sizeof names[0], "retr. M=%d", rm), kind[nc] = 3, ms[nc++] = rm;
    for (int i = 0; i < nc; i++) cats[i] = names[i];
    WmPlot p;
    wm_plot_begin_categories(&p, c, f, ox + 60, oy + 50, 560, 360, cats, nc, -0.2, 1.05,
                             "probes on held-out objects, beside their controls", "top-1 / R^2");
    p.legend_at = 2;
    hline(&p, 0, ink, 1, NULL);
    double gw = 0.84, bw = gw / t->n;
    for (int k = 0; k < nc; k++)
        for (int i = 0; i < t->n; i++) {
            const SjEvalResult *r = &t->res[i];
            double v = kind[k] == 0   ? r->top1_z
                       : kind[k] == 1 ? r->top1_agg[ms[k]]
                       : kind[k] == 2 ? r->equiv_r2
                       : kind[k] == 4 ? r->pose_r2
                       : kind[k] == 5 ? r->pose_mlp_r2
                       : ms[k] <= r->retr_m_max ? r->retr_top1[ms[k]]
                                               : NAN;
            double x0 = k + (1 - gw) / 2 + i * bw;
            char lab[16];
            p.font = small; /* value labels: narrow enough to sit over their bar */
            if (!isfinite(v)) {
                wm_plot_text(&p, x0 + bw / 2, 0.02, "n/a", grey, 1);
            } else {
                wm_plot_bar(&p, x0 + 0.1 * bw, x0 + 0.9 * bw, 0, v, column_color(t, i));
                snprintf(lab, sizeof lab, "%.2f", v);
                /* ".12", "-.03": without the leading zero */
                char *z = lab[0] == '0' ? lab + 1 : lab[0] == '-' && lab[1] == '0' ? (lab[1] = '-', lab + 1) : lab;
                wm_plot_text(&p, x0 + bw / 2, fmax(v, 0) + 0.015, z, ink, 1);
            }
            p.font = f;
        }
    for (int i = 0; i < t->n; i++) wm_plot_legend(&p, column_color(t, i), t->col[i].name);
}

/* Next-view retrieval top-1 against M for every column, with the model's copy baseline. */
static void panel_retr(WmCanvas *c, int ox, int oy, const WmFont *f, const RptInput *in) {
    const PlEvalTable *t = in->table;
    int rm = 0;
    for (int i = 0; i < t->n; i++) rm = t->res[i].retr_m_max > rm ? t->res[i].retr_m_max : rm;
    WmPlot p;
    wm_plot_begin(&p, c, f, ox + 70, oy + 50, 450, 360, 0.5, rm + 0.5, 0, 1.05,
                  "next-view retrieval top-1 against M", "M (observed views)", "top-1");
    p.legend_at = 2;
    if (rm < 1) {
        wm_plot_text(&p, (rm + 1) / 2.0, 0.5, "no retrieval sequences", ink, 1);
        return;
    }
    double xs[SJ_EVAL_MAX_M], ys[SJ_EVAL_MAX_M];
    for (int i = 0; i < t->n; i++) {
        const SjEvalResult *r = &t->res[i];
        for (int s = 0; s < 2; s++) {
            if (s && i != t->model) continue; /* the copy baseline of the model only, to keep it legible */
            const double *v = s ? r->retr_copy : r->retr_top1;
            int n = 0;
            for (int M = 1; M <= r->retr_m_max; M++)
                if (isfinite(v[M])) xs[n] = M, ys[n++] = v[M];
            if (!n) continue;
            char lab[64];
            snprintf(lab, sizeof lab, "%s%s", t->col[i].name, s ? ", copying view M" : "");
            wm_plot_series(&p, xs, ys, n, s ? grey : column_color(t, i), s ? 1 : 2, 1, lab);
        }
    }
}

/* PCA of z (view 1) and of z_AGG (M = m_max) of the held-out sequences, by class. */
static void panel_pca(WmCanvas *c, int ox, int oy, const WmFont *f, const RptInput *in) {
    const SjEvalResult *r = &in->table->res[in->table->model];
    int n = r->n_pca, K = in->data->spec.n_classes;
    char title[2][96];
    snprintf(title[0], sizeof title[0], "PCA of z (view 1)");
    snprintf(title[1], sizeof title[1], "PCA of z_AGG (M = %d)", r->m_max);
    char cap[160];
    snprintf(cap, sizeof cap, "trained model, %d held-out sequences; colour: object class (%d)", n, K);
    wm_canvas_text(c, f, ox + PW / 2, oy + 22, cap, ink, 1);
    if (!n || !r->pca_z || !r->pca_agg) return;
    double *px = wm_new(double, (size_t)n), *py = wm_new(double, (size_t)n);
    WmColor *cols = wm_new(WmColor, (size_t)n);
    for (int k = 0; k < n; k++) cols[k] = class_color(in->data->te.labels[k], K);
    for (int pass = 0; pass < 2; pass++) {
        const double *pc = pass ? r->pca_agg : r->pca_z;
        for (int k = 0; k < n; k++) px[k] = pc[2 * k], py[k] = pc[2 * k + 1];
        double x0, x1, y0, y1;
        wm_range(px, n, &x0, &x1);
        wm_range(py, n, &y0, &y1);
        WmPlot p;
        wm_plot_begin(&p, c, f, ox + 60 + pass * 370, oy + 60, 310, 350, x0, x1, y0, y1, title[pass], "PC 1", "PC 2");
        wm_plot_scatter(&p, px, py, cols, n, 2);
    }
    wm_free(px), wm_free(py), wm_free(cols);
}

static int figures(const RptInput *in, char *err, size_t errsz) {
    WmFont *f, *small = NULL;
    int rc = wm_font_load(NULL, 13, &f, err, errsz);
    if (!rc) rc = wm_font_load(NULL, 10, &small, err, errsz);
    if (rc) {
        wm_font_free(f);
        return rc;
    }
    double *st = wm_new(double, LOSS_CAP), *ls = wm_new(double, LOSS_CAP);
    int nl = in->run_dir ? rpt_read_loss(in->run_dir, st, ls, LOSS_CAP) : 0;
    static const char *files[4] = {"loss.png", "probes.png", "retrieval.png", "pca.png"};
    WmCanvas all, one;
    wm_canvas_init(&all, 2 * PW, 2 * PH, white);
    rc = WM_OK;
    for (int k = 0; k < 4 && !rc; k++)
        for (int pass = 0; pass < 2; pass++) {
            WmCanvas *c = pass ? &all : &one;
            int ox = pass ? (k % 2) * PW : 0, oy = pass ? (k / 2) * PH : 0;
            if (!pass) wm_canvas_init(&one, PW, PH, white);
            if (k == 0) panel_loss(c, ox, oy, f, in, st, ls, nl);
            else if (k == 1) panel_probes(c, ox, oy, f, small, in);
            else if (k == 2) panel_retr(c, ox, oy, f, in);
            else panel_pca(c, ox, oy, f, in);
            if (!pass) {
                rc = rpt_save_png(&one, in->dir, files[k], err, errsz);
                wm_canvas_free(&one);
            }
        }
    if (!rc) rc = rpt_save_png(&all, in->dir, "overview.png", err, errsz);
    wm_canvas_free(&all);
    wm_free(st), wm_free(ls);
    wm_font_free(f), wm_font_free(small);
    return rc;
}

/* The loss in words: the training curve's ends and the held-out references. */
static void loss_paragraph(const RptInput *in, WmBuf *md) {
    const PlEvalTable *t = in->table;
    const SjEvalResult *mr = &t->res[t->model], *rr = &t->res[t->random];
    double *st = wm_new(double, LOSS_CAP), *ls = wm_new(double, LOSS_CAP);
    int n = in->run_dir ? rpt_read_loss(in->run_dir, st, ls, LOSS_CAP) : 0;
    if (n)
        wm_buf_printf(md, "Training loss (log.csv beside the checkpoint): %.4f at step %.0f, %.4f at step %.0f. ", ls[0],
                      st[0], ls[n - 1], st[n - 1]);
    else
        wm_buf_puts(md, "No log.csv beside the checkpoint: no training curve. ");
    if (isfinite(mr->loss)) {
        double ref = fmin(mr->loss_copy, mr->loss_mean);
        wm_buf_printf(md, "On held-out sequences with M = %d observed views: the trained model %.4f", mr->loss_m, mr->loss);
        if (isfinite(mr->loss_other))
            wm_buf_printf(md, " (%.4f with another sequence's a_M: the prediction owes %.4f to the action)",
                          mr->loss_other, mr->loss_other - mr->loss);
        wm_buf_printf(md, ", the same config untrained %.4f; two references that use neither the action nor the context: "
                          "copying view M's target encoding %.4f, predicting the mean target encoding %.4f. ",
                      rr->loss, mr->loss_copy, mr->loss_mean);
        if (mr->loss < ref)
            wm_buf_printf(md, "The trained model's prediction is %.4f (%.1f%%) below the better of the two references.\n\n",
                          ref - mr->loss, 100 * (ref - mr->loss) / ref);
        else
            wm_buf_printf(md, "The trained model's prediction is not below the better of the two references (%.4f above "
                              "it): a loss this size is reached without the action or the context.\n\n", mr->loss - ref);
    } else {
        wm_buf_puts(md, "\n\n");
    }
    wm_free(st), wm_free(ls);
}

int rpt_write(const RptInput *in, char *path, size_t pathsz, char *err, size_t errsz) {
    const PlEvalTable *t = in->table;
    int rc = figures(in, err, errsz);
    if (rc) return rc;
    WmBuf md = {0};
    wm_buf_printf(&md, "# seq-JEPA evaluation report\n\nCheckpoint `%s` (step %lld). %s\n\n", in->ckpt, (long long)in->step,
                  in->setup_md ? in->setup_md : "");
    wm_buf_puts(&md, "![overview: loss, probes, path integration, PCA](overview.png)\n\n## Training loss\n\n");
    loss_paragraph(in, &md);
    wm_buf_puts(&md, "## Probes beside their controls\n\n");
    sj_eval_markdown_table(t->col, t->n, in->data->spec.layout.family == ENV_FAMILY_GLIMPSE, &md);
    wm_buf_puts(&md, "\n## Figures\n\n"
                     "- `loss.png`: the training loss against step, with the held-out losses of the trained model, of "
                     "the same config untrained, of copying view M and of predicting the mean target.\n"
                     "- `probes.png`: the headline probes as bars, one per column of the tables above.\n"
                     "- `retrieval.png`: next-view retrieval top-1 against M for every column, with the model's "
                     "copy-the-last-view baseline.\n"
                     "- `pca.png`: the first two principal components of the trained model's z and z_AGG on held-out "
                     "sequences, coloured by class.\n\n");
    if (in->config_text) wm_buf_printf(&md, "## Config\n\n```ini\n%s```\n", in->config_text);
    rc = wm_path_join(path, pathsz, in->dir, RPT_FILE) ? wm_errf(err, errsz, WM_ERR_ARG, "path too long: %s", in->dir)
                                                       : wm_write_file_atomic(path, md.data, md.len, err, errsz);
    wm_buf_free(&md);
    return rc;
}
