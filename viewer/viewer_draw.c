/* The viewer's panels, drawn on the CPU into one canvas (core/canvas.h) that the
 * window shows as a texture: the world, the sequence strip, the training curves, the
 * latent PCAs, path integration and a state panel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/quat.h"
#include "viewer/viewer_impl.h"

const char *const vw_panel_names[VW_NPANELS] = {"top",   "env",     "strip",   "loss", "probes",
                                                "pca_z", "pca_agg", "pathint", "info"};

static const WmColor BG = {232, 233, 236}, PANEL = {255, 255, 255}, INK = {35, 35, 40},
                     MUTED = {110, 110, 120}, EDGE = {200, 200, 206}, ACCENT = {220, 110, 20},
                     BLUE = {31, 119, 180}, GREEN = {44, 160, 44}, WHITE = {255, 255, 255},
                     BLACK = {0, 0, 0};

#define PAD   8
#define TOP_H 28

VwWorld *vw_world(Vw *v) {
    return &v->worlds[v->active];
}

void vw_layout(Vw *v) {
    int W = v->cv.w, H = v->cv.h;
    int y0 = TOP_H + PAD / 2, strip_min = 150;
    int S = (int)((W - 3 * PAD) * 0.42);
    if (S > H - y0 - strip_min - 2 * PAD) S = H - y0 - strip_min - 2 * PAD;
    if (S < 96) S = 96;
    v->r[VW_P_TOP] = (VwRect){0, 0, W, TOP_H};
    v->r[VW_P_ENV] = (VwRect){PAD, y0, S, S};
    int sy = y0 + S + PAD;
    v->r[VW_P_STRIP] = (VwRect){PAD, sy, S, H - sy - PAD > 60 ? H - sy - PAD : 60};
    int x0 = 2 * PAD + S, rw = W - x0 - PAD, rh = H - y0 - PAD;
    int cw = (rw - PAD) / 2, ch = (rh - 2 * PAD) / 3;
    if (cw < 40) cw = 40;
    if (ch < 40) ch = 40;
    static const int order[6] = {VW_P_LOSS,    VW_P_PROBES, VW_P_PCA_Z,
                                 VW_P_PCA_AGG, VW_P_PI,     VW_P_INFO};
    for (int i = 0; i < 6; i++)
        v->r[order[i]] = (VwRect){x0 + (i % 2) * (cw + PAD), y0 + (i / 2) * (ch + PAD), cw, ch};
}

/* ---------------------------------------------------------------- helpers */

const uint8_t *vw_hist_px(const VwWorld *w, int i) {
    if (i < 0 || i >= w->n || i >= VW_HIST) return NULL;
    return w->px + (size_t)((w->n - 1 - i) % VW_HIST) * w->vpx;
}
const float *vw_hist_act(const VwWorld *w, int i) {
    if (i < 0 || i >= w->n || i >= VW_HIST) return NULL;
    return w->act + (size_t)((w->n - 1 - i) % VW_HIST) * (size_t)w->A;
}
const float *vw_hist_lat(const VwWorld *w, int i) {
    if (i < 0 || i >= w->n || i >= VW_HIST) return NULL;
    return w->lat + (size_t)((w->n - 1 - i) % VW_HIST) * (size_t)w->NL;
}

static int fh(const WmFont *f) {
    return (int)wm_font_px(f);
}

/* An RGB image scaled (nearest) into a w x h rectangle of the canvas, clipped once
 * instead of per pixel: the world's view is redrawn every frame while it moves. */
static void blit(Vw *v, int x, int y, int w, int h, const uint8_t *img, int iw, int ih) {
    WmCanvas *c = &v->cv;
    int i0 = x < 0 ? -x : 0, i1 = x + w > c->w ? c->w - x : w, j0 = y < 0 ? -y : 0,
        j1 = y + h > c->h ? c->h - y : h;
    if (i0 >= i1 || j0 >= j1) return;
    int *col = wm_new(int, (size_t)(i1 - i0));
    for (int i = i0; i < i1; i++)
        col[i - i0] = (int)((int64_t)i * iw / w) * 3;
    for (int j = j0; j < j1; j++) {
        const uint8_t *srow = img + (size_t)((int64_t)j * ih / h) * (size_t)iw * 3;
        uint8_t *d = c->rgb + ((size_t)(y + j) * (size_t)c->w + (size_t)(x + i0)) * 3;
        if (iw == w) {
            memcpy(d, srow + (size_t)i0 * 3, (size_t)(i1 - i0) * 3);
            continue;
        }
        for (int i = 0; i < i1 - i0; i++, d += 3)
            memcpy(d, srow + col[i], 3);
    }
    wm_free(col);
}

/* A panel's white card; returns the rectangle. */
static VwRect card(Vw *v, int p) {
    VwRect r = v->r[p];
    wm_canvas_fill(&v->cv, r.x, r.y, r.w, r.h, PANEL);
    wm_canvas_rect(&v->cv, r.x, r.y, r.w, r.h, EDGE);
    return r;
}

/* Text cut to fit `width` pixels (with "..." when cut). */
static void text_fit(Vw *v, const WmFont *f, int x, int y, int width, const char *s, WmColor col) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    size_t n = strlen(buf);
    while (n > 3 && wm_text_width(f, buf) > width) {
        buf[--n] = 0;
        memcpy(buf + n - 3, "...", 3);
    }
    wm_canvas_text(&v->cv, f, x, y, buf, col, 0);
}

/* Dark translucent box behind light text over images. */
static void shade(Vw *v, int x, int y, int w, int h) {
    for (int j = y < 0 ? 0 : y; j < y + h && j < v->cv.h; j++)
        for (int i = x < 0 ? 0 : x; i < x + w && i < v->cv.w; i++) {
            uint8_t *p = v->cv.rgb + ((size_t)j * (size_t)v->cv.w + (size_t)i) * 3;
            p[0] = (uint8_t)(p[0] * 2 / 5), p[1] = (uint8_t)(p[1] * 2 / 5),
            p[2] = (uint8_t)(p[2] * 2 / 5);
        }
}

/* Angle (degrees) and unit axis of a rotation action (w, x, y, z). */
static double rot_angle_axis(const float *q, double axis[3]) {
    double qq[4] = {q[0], q[1], q[2], q[3]};
    wm_quat_normalize(qq);
    double s = sqrt(qq[1] * qq[1] + qq[2] * qq[2] + qq[3] * qq[3]);
    for (int k = 0; k < 3; k++)
        axis[k] = s > 1e-12 ? qq[k + 1] / s : 0;
    return 2 * atan2(s, fabs(qq[0])) * 180 / M_PI * (qq[0] < 0 ? -1 : 1);
}

/* Two short lines describing an action. */
static void action_lines(const VwWorld *w, const float *a, char *l1, char *l2, size_t n) {
    const EnvLayout *lay = &w->spec.layout;
    if (w->family == ENV_FAMILY_OBJECT) {
        double ax[3], deg = rot_angle_axis(a + lay->act_rot, ax);
        snprintf(l1, n, "%.1f deg", deg);
        snprintf(l2, n, "(%.2f %.2f %.2f)", ax[0], ax[1], ax[2]);
        int t = lay->act_trans;
        if (t >= 0 && (a[t] || a[t + 1] || a[t + 2]))
            snprintf(l2, n, "t %.2f %.2f %.2f", a[t], a[t + 1], a[t + 2]);
    } else if (w->family == ENV_FAMILY_GLIMPSE) {
        snprintf(l1, n, "dy %+.3f", a[0]);
        snprintf(l2, n, "dx %+.3f", a[1]);
    } else { /* the first two components by name */
        snprintf(l1, n, "%s %+.3f", w->spec.action_names[0], a[0]);
        snprintf(l2, n, "%s", "");
        if (w->A > 1) snprintf(l2, n, "%s %+.3f", w->spec.action_names[1], a[1]);
    }
}

/* "object" or "scene": what a reset brings, for the panels' text. */
static const char *subject(const VwWorld *w) {
    return w->family == ENV_FAMILY_OBJECT ? "object" : "scene";
}

static const char *state_name(int s) {
    static const char *n[] = {"starting", "running", "paused", "done", "stopped"};
    return s >= 0 && s <= RV_FAILED ? n[s] : "?";
}

/* ---------------------------------------------------------------- panels */

static int draw_top(Vw *v) {
    VwRect r = v->r[VW_P_TOP];
    wm_canvas_fill(&v->cv, r.x, r.y, r.w, r.h, (WmColor){44, 48, 58});
    VwWorld *w = vw_world(v);
    const RvPlots *p = &v->plots;
    char s[512], tr[160];
    if (p->step > 0)
        snprintf(tr, sizeof tr, "%s: step %lld / %lld, loss %.4f", state_name(p->state),
                 (long long)p->step, (long long)p->total,
                 p->n_loss ? p->loss_y[p->n_loss - 1] : NAN);
    else
        snprintf(tr, sizeof tr, "%s",
                 p->state == RV_PAUSED ? "paused before the first step" : "training starting");
    snprintf(s, sizeof s,
             "seqjepa view   |   %s world%s   |   %s   |   %.0f frames/s   |   H: keys",
             env_kind_name(w->kind), v->d.n_worlds > 1 ? " (Tab: switch)" : "", tr,
             v->fps);
    wm_canvas_text(&v->cv, v->font, PAD, 19, s, (WmColor){235, 235, 240}, 0);
    if (v->msg[0]) {
        int tw = wm_text_width(v->font, v->msg);
        wm_canvas_text(&v->cv, v->font, r.w - PAD - (tw < r.w / 3 ? tw : r.w / 3), 19, v->msg,
                       (WmColor){255, 200, 90}, 0);
    }
    return 1;
}

static void draw_help(Vw *v, VwRect r) {
    static const char *keys[][2] = {
        {"drag, arrows, Q/E", "turn the object (objects3d)"},
        {"Shift+W/A/S/D", "move it (env.translate_actions)"},
        {"click, arrows", "saccade (saccade world)"},
        {"O", "saliency overlay"},
        {"space", "pause / resume training"},
        {"R", "new sequence (object or scene)"},
        {"Tab", "switch world"},
        {"L", "load the --ckpt checkpoint"},
        {"S", "screenshot into train.out"},
        {"H", "this help"},
        {"Esc, close", "quit (saves a checkpoint)"},
    };
    int n = (int)(sizeof keys / sizeof keys[0]), lh = fh(v->small) + 6, col = 150;
    int bw = r.w - 40 < 420 ? r.w - 40 : 420, bh = (n + 1) * lh + 20;
    int bx = r.x + (r.w - bw) / 2, by = r.y + (r.h - bh) / 2;
    shade(v, bx, by, bw, bh);
    wm_canvas_text(&v->cv, v->bold, bx + 12, by + 8 + lh - 4, "keys", (WmColor){255, 200, 90}, 0);
    for (int i = 0; i < n; i++) {
        int y = by + 8 + (i + 2) * lh - 4;
        text_fit(v, v->small, bx + 12, y, col - 16, keys[i][0], (WmColor){255, 220, 140});
        text_fit(v, v->small, bx + 12 + col, y, bw - col - 24, keys[i][1], WHITE);
    }
}

static int draw_env(Vw *v) {
    VwRect r = v->r[VW_P_ENV];
    VwWorld *w = vw_world(v);
    char s[256];
    int items = 0;
    wm_canvas_fill(&v->cv, r.x, r.y, r.w, r.h, BLACK);
    const EnvLayout *lay = &w->spec.layout;
    if (w->has_view && w->big) {
        blit(v, r.x, r.y, r.w, r.h, w->big, w->big_size, w->big_size);
        items = 1;
    } else if (!w->has_view && !w->scene && w->n > 0) { /* the latest view at model size */
        blit(v, r.x, r.y, r.w, r.h, vw_hist_px(w, 0), w->spec.width, w->spec.height);
        items = 1;
    }
    if (w->family == ENV_FAMILY_OBJECT) {
        int q0 = lay->lat_rot, t = lay->lat_trans;
        double e[3], q[4] = {w->lat0[q0], w->lat0[q0 + 1], w->lat0[q0 + 2], w->lat0[q0 + 3]};
        const float *lat = vw_hist_lat(w, 0);
        if (lat) q[0] = lat[q0], q[1] = lat[q0 + 1], q[2] = lat[q0 + 2], q[3] = lat[q0 + 3];
        wm_quat_normalize(q);
        wm_quat_to_euler_xyz(q, e);
        snprintf(s, sizeof s, "rotation (Euler XYZ) %.1f %.1f %.1f deg", e[0] * 180 / M_PI,
                 e[1] * 180 / M_PI, e[2] * 180 / M_PI);
        if (lat && lay->act_trans >= 0 && t >= 0)
            snprintf(s + strlen(s), sizeof s - strlen(s), ", t %.2f %.2f %.2f", lat[t], lat[t + 1],
                     lat[t + 2]);
        shade(v, r.x, r.y + r.h - fh(v->small) - 10, r.w, fh(v->small) + 10);
        text_fit(v, v->small, r.x + 8, r.y + r.h - 7, r.w - 16, s, WHITE);
    } else if (w->scene) {
        const uint8_t *img = v->show_saliency ? w->overlay : w->scene;
        blit(v, r.x, r.y, r.w, r.h, img, w->S, w->S);
        items = 1;
        /* scan path of the kept views, oldest first, then the fovea box */
        double sc = (double)r.w;
        int k = w->n < VW_HIST ? (int)w->n : VW_HIST;
        for (int i = k - 1; i >= 0; i--) {
            const float *a = vw_hist_lat(w, i), *b = vw_hist_lat(w, i - 1);
            double ax = r.x + a[1] * sc, ay = r.y + a[0] * sc;
            if (b)
                wm_canvas_line(&v->cv, ax, ay, r.x + b[1] * sc, r.y + b[0] * sc,
                               (WmColor){255, 220, 60}, 2);
            wm_canvas_dot(&v->cv, ax, ay, i ? 3 : 5, i ? (WmColor){255, 220, 60} : ACCENT);
        }
        const float *cur = vw_hist_lat(w, 0);
        if (cur) {
            double f = (double)w->desc.env.fovea / w->S * sc;
            int bx = (int)lround(r.x + cur[1] * sc - f / 2),
                by = (int)lround(r.y + cur[0] * sc - f / 2);
            wm_canvas_rect(&v->cv, bx, by, (int)lround(f), (int)lround(f), ACCENT);
            wm_canvas_rect(&v->cv, bx + 1, by + 1, (int)lround(f) - 2, (int)lround(f) - 2, ACCENT);
        }
        snprintf(s, sizeof s, "fixation y %.3f x %.3f%s", cur ? cur[0] : 0, cur ? cur[1] : 0,
                 v->show_saliency ? "   (saliency overlay: O)" : "   (O: saliency overlay)");
        shade(v, r.x, r.y + r.h - fh(v->small) - 10, r.w, fh(v->small) + 10);
        text_fit(v, v->small, r.x + 8, r.y + r.h - 7, r.w - 16, s, WHITE);
    }
    snprintf(s, sizeof s, "%s, %s %d (class %d)", subject(w), w->cls,
             w->instance, w->label);
    shade(v, r.x, r.y, r.w, fh(v->font) + 10);
    text_fit(v, v->font, r.x + 8, r.y + fh(v->font) + 2, r.w - 16, s, WHITE);
    if (v->show_help) draw_help(v, r);
    return items;
}

static int draw_strip(Vw *v) {
    VwRect r = card(v, VW_P_STRIP);
    VwWorld *w = vw_world(v);
    const RvPlots *p = &v->plots;
    int T = w->T, k = w->n < T ? (int)w->n : T, f = fh(v->small);
    char s[256], l1[64], l2[64];
    snprintf(s, sizeof s, "sequence: the last %d views (%d observed + the target)", T, T - 1);
    text_fit(v, v->bold, r.x + 8, r.y + fh(v->bold) + 4, r.w - 16, s, INK);
    int top = r.y + fh(v->bold) + 12, gap = 10;
    int th = r.h - (top - r.y) - 4 * f - 24;
    int tw = (r.w - 16 - (T - 1) * gap) / T;
    int side = th < tw ? th : tw;
    if (side < 16) side = 16;
    for (int i = 0; i < k; i++) {
        int age = k - 1 - i; /* oldest first */
        const uint8_t *px = vw_hist_px(w, age);
        int x = r.x + 8 + i * (side + gap), target = i == T - 1;
        blit(v, x, top, side, side, px, w->spec.width, w->spec.height);
        if (target) {
            wm_canvas_rect(&v->cv, x - 2, top - 2, side + 4, side + 4, ACCENT);
            wm_canvas_rect(&v->cv, x - 3, top - 3, side + 6, side + 6, ACCENT);
        }
        snprintf(s, sizeof s, "x%d%s", i + 1, target ? " target" : "");
        wm_canvas_text(&v->cv, v->small, x, top + side + f + 3, s, target ? ACCENT : INK, 0);
        if (i > 0) {
            action_lines(w, vw_hist_act(w, age), l1, l2, sizeof l1);
            text_fit(v, v->small, x, top + side + 2 * f + 6, side + gap, l1, MUTED);
            text_fit(v, v->small, x, top + side + 3 * f + 8, side + gap, l2, MUTED);
        }
    }
    if (k < T)
        snprintf(s, sizeof s, "%d of %d views: act to fill the sequence", k, T);
    else if (isfinite(p->cos))
        snprintf(s, sizeof s, "predicted vs target encoding of x%d: cos %.3f (model of step %lld)",
                 T, p->cos, (long long)p->snap_step);
    else
        snprintf(s, sizeof s, "predicted vs target: waiting for the model");
    text_fit(v, v->font, r.x + 8, r.y + r.h - 8, r.w - 16, s,
             k == T && isfinite(p->cos) ? INK : MUTED);
    return k;
}

/* Plot area inside a card, leaving room for the title, ticks and labels. */
static void plot_area(Vw *v, VwRect r, int *x, int *y, int *w, int *h) {
    int f = fh(v->small);
    *x = r.x + 52, *y = r.y + f + 16;
    *w = r.w - 52 - 14, *h = r.h - (*y - r.y) - 2 * f - 18;
    if (*w < 10) *w = 10;
    if (*h < 10) *h = 10;
}

/* The line under a plot: coloured marks with their labels, then plain text. */
static void legend(Vw *v, VwRect r, int n, const WmColor *cols, const char *const *labels,
                   const char *tail) {
    int x = r.x + 10, y = r.y + r.h - 7, f = fh(v->small);
    for (int i = 0; i < n; i++) {
        wm_canvas_fill(&v->cv, x, y - f / 2 - 1, 14, 3, cols[i]);
        x += 18 + wm_canvas_text(&v->cv, v->small, x + 18, y, labels[i], INK, 0) + 14;
    }
    if (tail) text_fit(v, v->small, x, y, r.x + r.w - 8 - x, tail, MUTED);
}

/* Wraps text at spaces into lines of at most `width` pixels from baseline y; returns
 * the baseline after the last line. */
static int text_wrap(Vw *v, const WmFont *f, int x, int y, int width, int lh, const char *s,
                     WmColor col) {
    char line[512];
    while (*s && y <= v->clip_y) {
        int n = 0, fit = 0;
        while (s[n]) {
            int e = n;
            while (s[e] == ' ')
                e++;
            while (s[e] && s[e] != ' ')
                e++;
            snprintf(line, sizeof line, "%.*s", e, s);
            if (fit && wm_text_width(f, line) > width) break;
            fit = n = e;
        }
        snprintf(line, sizeof line, "%.*s", n, s);
        text_fit(v, f, x, y, width, line, col);
        y += lh;
        s += n;
        while (*s == ' ')
            s++;
    }
    return y;
}

static void empty_note(Vw *v, VwRect r, const char *title, const char *note) {
    wm_canvas_text(&v->cv, v->bold, r.x + r.w / 2, r.y + fh(v->bold) + 6, title, INK, 1);
    wm_canvas_text(&v->cv, v->small, r.x + r.w / 2, r.y + r.h / 2, note, MUTED, 1);
}

static int draw_loss(Vw *v) {
    VwRect r = card(v, VW_P_LOSS);
    const RvPlots *p = &v->plots;
    if (p->n_loss < 1) {
        empty_note(v, r, "training loss",
                   p->state == RV_PAUSED ? "paused (space resumes)" : "waiting for the first step");
        return 0;
    }
    int x, y, w, h;
    plot_area(v, r, &x, &y, &w, &h);
    double y0, y1;
    wm_range(p->loss_y, p->n_loss, &y0, &y1);
    WmPlot pl;
    double xmax = p->loss_x[p->n_loss - 1] > 10 ? p->loss_x[p->n_loss - 1] : 10;
    wm_plot_begin(&pl, &v->cv, v->small, x, y, w, h, 0, xmax, y0, y1, "training loss", NULL, NULL);
    wm_plot_series(&pl, p->loss_x, p->loss_y, p->n_loss, BLUE, 2, p->n_loss < 40, NULL);
    const char *lab[1] = {"1 - cos(z_hat, z_target) by step"};
    legend(v, r, 1, &BLUE, lab, NULL);
    return p->n_loss;
}

static int draw_probes(Vw *v) {
    VwRect r = card(v, VW_P_PROBES);
    const RvPlots *p = &v->plots;
    if (p->n_probe < 1) {
        empty_note(v, r, "on-line probes", "after the first log interval (train.log_every)");
        return 0;
    }
    int x, y, w, h;
    plot_area(v, r, &x, &y, &w, &h);
    double lo = 0;
    for (int i = 0; i < p->n_probe; i++)
        if (isfinite(p->probe_r2[i]) && p->probe_r2[i] < lo) lo = p->probe_r2[i];
    if (lo < -1) lo = -1;
    int n = p->n_probe, first = 0;
    double *r2 = wm_new(double, (size_t)n);
    for (int i = 0; i < n; i++)
        r2[i] = fmax(p->probe_r2[i], -1);
    WmPlot pl;
    double xmax = p->probe_x[p->n_probe - 1] > 10 ? p->probe_x[p->n_probe - 1] : 10;
    wm_plot_begin(&pl, &v->cv, v->small, x, y, w, h, 0, xmax, lo, 1.0, "on-line probes by step",
                  NULL, NULL);
    wm_plot_series(&pl, p->probe_x + first, p->probe_top1 + first, n, ACCENT, 2, n < 40, NULL);
    wm_plot_series(&pl, p->probe_x + first, r2, n, GREEN, 2, n < 40, NULL);
    const WmColor cols[2] = {ACCENT, GREEN};
    const char *lab[2] = {"class top-1 (z_AGG)", "R^2 action (z1, z2)"};
    legend(v, r, 2, cols, lab, NULL);
    wm_free(r2);
    return n;
}

static int draw_pca_z(Vw *v) {
    VwRect r = card(v, VW_P_PCA_Z);
    const RvPlots *p = &v->plots;
    VwWorld *w = vw_world(v);
    if (p->n_z < 3) {
        empty_note(v, r, "PCA of encoder z", "waiting for the model");
        return 0;
    }
    int x, y, pw, ph;
    plot_area(v, r, &x, &y, &pw, &ph);
    int n = p->n_z;
    double *xs = wm_new(double, 2 * (size_t)n), *ys = xs + n;
    for (int i = 0; i < n; i++)
        xs[i] = p->z_pc[2 * i], ys[i] = p->z_pc[2 * i + 1];
    double x0, x1, y0, y1;
    wm_range(xs, n, &x0, &x1);
    wm_range(ys, n, &y0, &y1);
    WmPlot pl;
    wm_plot_begin(&pl, &v->cv, v->small, x, y, pw, ph, x0, x1, y0, y1,
                  "PCA of encoder z, recent views", NULL, NULL);
    int nu = p->n_z_user, nr = n - nu;
    wm_plot_scatter(&pl, xs, ys, p->z_col, nr, 2);
    /* the person's views, joined in order and ringed */
    WmColor black = BLACK;
    wm_plot_series(&pl, xs + nr, ys + nr, nu, BLACK, 1, 0, NULL);
    for (int i = 0; i < nu; i++)
        wm_plot_scatter(&pl, xs + nr + i, ys + nr + i, &black, 1, 6);
    wm_plot_scatter(&pl, xs + nr, ys + nr, p->z_col + nr, nu, 4);
    legend(v, r, 0, NULL, NULL,
           w->family == ENV_FAMILY_OBJECT ? "colour: rotation angle 0 .. 180 deg; ringed: your last views"
                        : "colour: fixation x (red), y (blue); ringed: your last views");
    wm_free(xs);
    return n;
}

static int draw_pca_agg(Vw *v) {
    VwRect r = card(v, VW_P_PCA_AGG);
    const RvPlots *p = &v->plots;
    if (p->n_agg < 3) {
        empty_note(v, r, "PCA of z_AGG", "waiting for training sequences");
        return 0;
    }
    int x, y, pw, ph;
    plot_area(v, r, &x, &y, &pw, &ph);
    int n = p->n_agg;
    double *xs = wm_new(double, 2 * (size_t)n), *ys = xs + n;
    WmColor *col = wm_new(WmColor, (size_t)n);
    for (int i = 0; i < n; i++)
        xs[i] = p->agg_pc[2 * i], ys[i] = p->agg_pc[2 * i + 1],
        col[i] = wm_palette(p->agg_label[i]);
    double x0, x1, y0, y1;
    wm_range(xs, n, &x0, &x1);
    wm_range(ys, n, &y0, &y1);
    WmPlot pl;
    wm_plot_begin(&pl, &v->cv, v->small, x, y, pw, ph, x0, x1, y0, y1, "PCA of z_AGG", NULL, NULL);
    int nr = n - (p->agg_user ? 1 : 0);
    wm_plot_scatter(&pl, xs, ys, col, nr, 3);
    if (p->agg_user) {
        WmColor b = BLACK;
        wm_plot_scatter(&pl, xs + nr, ys + nr, &b, 1, 7);
        wm_plot_scatter(&pl, xs + nr, ys + nr, col + nr, 1, 5);
    }
    legend(v, r, 0, NULL, NULL,
           p->agg_user ? "colour: class; ringed: your sequence" : "colour: class");
    wm_free(xs);
    wm_free(col);
    return n;
}

static int draw_pi(Vw *v) {
    VwRect r = card(v, VW_P_PI);
    const RvPlots *p = &v->plots;
    VwWorld *w = vw_world(v);
    char title[128], s[256];
    snprintf(title, sizeof title, "path integration x1 -> x%d", w->T);
    if (!p->pi_valid) {
        if (w->n < w->T)
            snprintf(s, sizeof s, "needs %d views in the current sequence", w->T);
        else
            snprintf(s, sizeof s, "fitting the probe on recent training sequences");
        empty_note(v, r, title, s);
        return 0;
    }
    int A = p->pi_dim, f = fh(v->small);
    wm_canvas_text(&v->cv, v->bold, r.x + r.w / 2, r.y + fh(v->bold) + 6, title, INK, 1);
    int x = r.x + 44, y = r.y + fh(v->bold) + 16, pw = r.w - 44 - 12,
        ph = r.h - (y - r.y) - 4 * f - 24;
    double lo = 0, hi = 0;
    for (int i = 0; i < A; i++) {
        lo = fmin(lo, fmin(p->pi_est[i], p->pi_true[i]));
        hi = fmax(hi, fmax(p->pi_est[i], p->pi_true[i]));
    }
    if (hi - lo < 1e-6) hi = lo + 1;
    double pad = 0.08 * (hi - lo);
    lo -= pad, hi += pad;
#define PY(val) (y + (int)lround((hi - (val)) / (hi - lo) * (ph - 1)))
    wm_canvas_rect(&v->cv, x - 1, y - 1, pw + 2, ph + 2, INK);
    wm_canvas_fill(&v->cv, x, PY(0.0), pw, 1, MUTED);
    char num[32];
    snprintf(num, sizeof num, "%.2f", hi - pad);
    wm_canvas_text(&v->cv, v->small, x - 4, PY(hi - pad) + f / 3, num, INK, 2);
    snprintf(num, sizeof num, "%.2f", lo + pad);
    wm_canvas_text(&v->cv, v->small, x - 4, PY(lo + pad) + f / 3, num, INK, 2);
    int gw = pw / A, bw = gw / 3 > 2 ? gw / 3 : 2;
    for (int i = 0; i < A; i++) {
        int gx = x + i * gw + gw / 2;
        double vals[2] = {p->pi_true[i], p->pi_est[i]};
        WmColor cols[2] = {(WmColor){150, 150, 150}, BLUE};
        for (int k = 0; k < 2; k++) {
            int a = PY(0.0), b = PY(vals[k]);
            int top = a < b ? a : b, hgt = abs(a - b) + 1;
            wm_canvas_fill(&v->cv, gx - bw + k * bw, top, bw - 1, hgt, cols[k]);
        }
        const char *name = w->spec.action_names[i] ? w->spec.action_names[i] : "?";
        wm_canvas_text(&v->cv, v->small, gx, y + ph + f + 3, name, INK, 1);
    }
#undef PY
    if (w->family == ENV_FAMILY_OBJECT) {
        const float *t = p->pi_true + w->spec.layout.act_rot, *e = p->pi_est + w->spec.layout.act_rot;
        double qa[4] = {t[0], t[1], t[2], t[3]}, qb[4] = {e[0], e[1], e[2], e[3]}, rel[4];
        wm_quat_normalize(qa), wm_quat_normalize(qb);
        wm_quat_relative(rel, qa, qb);
        snprintf(s, sizeof s,
                 "grey: truth, blue: estimate, %.1f deg apart. Ridge probe on %d recent sequences "
                 "(R^2 %.2f)",
                 wm_quat_angle(rel) * 180 / M_PI, p->pi_fit_n, p->pi_fit_r2);
    } else {
        snprintf(s, sizeof s,
                 "grey: truth, blue: estimate, %.3f of the scene apart. Ridge probe on %d recent "
                 "sequences (R^2 %.2f)",
                 hypot(p->pi_est[0] - p->pi_true[0], p->pi_est[1] - p->pi_true[1]), p->pi_fit_n,
                 p->pi_fit_r2);
    }
    text_wrap(v, v->small, r.x + 8, r.y + r.h - 8 - (f + 3), r.w - 16, f + 3, s, MUTED);
    return A;
}

static int draw_info(Vw *v) {
    VwRect r = card(v, VW_P_INFO);
    VwWorld *w = vw_world(v);
    const RvPlots *p = &v->plots;
    int lh = fh(v->small) + 5, y = r.y + fh(v->bold) + 6, x = r.x + 10, tw = r.w - 20;
    char s[768];
    int footer = r.y + r.h - 8;
    v->clip_y = footer - lh; /* keep the key line free */
    wm_canvas_text(&v->cv, v->bold, x, y, "state", INK, 0);
    y += lh + 2;
    snprintf(s, sizeof s, "%s world, %s %s %d (class %d), %lld views since the reset.",
             env_kind_name(w->kind), subject(w), w->cls,
             w->instance, w->label, (long long)w->n);
    y = text_wrap(v, v->small, x, y, tw, lh, s, INK);
    const float *lat = vw_hist_lat(w, 0);
    size_t o = (size_t)snprintf(s, sizeof s, "Latent:");
    for (int i = 0; lat && i < w->NL && o < sizeof s - 40; i++)
        o += (size_t)snprintf(s + o, sizeof s - o, " %s %.3f",
                              w->spec.latent_names[i] ? w->spec.latent_names[i] : "?", lat[i]);
    y = text_wrap(v, v->small, x, y, tw, lh, s, INK);
    const float *act = w->n > 1 ? vw_hist_act(w, 0) : NULL;
    o = (size_t)snprintf(s, sizeof s, "Last action:");
    for (int i = 0; act && i < w->A && o < sizeof s - 40; i++)
        o += (size_t)snprintf(s + o, sizeof s - o, " %s %.3f",
                              w->spec.action_names[i] ? w->spec.action_names[i] : "?", act[i]);
    if (!act) snprintf(s + o, sizeof s - o, " none yet");
    y = text_wrap(v, v->small, x, y, tw, lh, s, INK);
    snprintf(s, sizeof s,
             "Training %s, step %lld of %lld, %.1f sequences/s; %d of your sequences mixed in.",
             state_name(p->state), (long long)p->step, (long long)p->total, p->seq_per_s, p->mixed);
    y = text_wrap(v, v->small, x, y, tw, lh, s, INK);
    if (p->snap_step >= 0) {
        if (p->loaded[0])
            snprintf(s, sizeof s, "Plots show the model loaded from %.290s, trained %lld more steps here. Run folder: %s",
                     p->loaded, (long long)(p->snap_step - p->loaded_at), w->desc.train.out);
        else
            snprintf(s, sizeof s, "Plots show the model of step %lld. Run folder: %s", (long long)p->snap_step,
                     w->desc.train.out);
        y = text_wrap(v, v->small, x, y, tw, lh, s, INK);
    }
    if (p->note[0]) y = text_wrap(v, v->small, x, y, tw, lh, p->note, ACCENT);
    v->clip_y = 1 << 30;
    text_fit(v, v->small, x, footer, tw,
             "space pause   R reset   Tab world   L load   S screenshot   H keys", MUTED);
    return 1;
}

void vw_draw_panel(Vw *v, int p) {
    int n = 0;
    switch (p) {
    case VW_P_TOP:
        n = draw_top(v);
        break;
    case VW_P_ENV:
        n = draw_env(v);
        break;
    case VW_P_STRIP:
        n = draw_strip(v);
        break;
    case VW_P_LOSS:
        n = draw_loss(v);
        break;
    case VW_P_PROBES:
        n = draw_probes(v);
        break;
    case VW_P_PCA_Z:
        n = draw_pca_z(v);
        break;
    case VW_P_PCA_AGG:
        n = draw_pca_agg(v);
        break;
    case VW_P_PI:
        n = draw_pi(v);
        break;
    case VW_P_INFO:
        n = draw_info(v);
        break;
    default:
        break;
    }
    v->items[p] = n;
}

void vw_clear(Vw *v) {
    wm_canvas_fill(&v->cv, 0, 0, v->cv.w, v->cv.h, BG);
}
