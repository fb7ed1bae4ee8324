/* CPU drawing and plots (see canvas.h). */
#include "core/canvas.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <stb/stb_truetype.h>

#include "core/alloc.h"
#include "core/color.h"
#include "core/err.h"
#include "core/fs.h"

void wm_canvas_init(WmCanvas *c, int w, int h, WmColor bg) {
    WM_ASSERT(w > 0 && h > 0);
    c->w = w, c->h = h;
    c->rgb = wm_new(uint8_t, (size_t)w * (size_t)h * 3);
    wm_canvas_fill(c, 0, 0, w, h, bg);
}

void wm_canvas_free(WmCanvas *c) {
    wm_free(c->rgb);
    c->rgb = NULL;
}

static inline void put(WmCanvas *c, int x, int y, WmColor col) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    p[0] = col.r, p[1] = col.g, p[2] = col.b;
}

static inline void blend(WmCanvas *c, int x, int y, WmColor col, int a) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h || a <= 0) return;
    uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    p[0] = (uint8_t)((p[0] * (255 - a) + col.r * a) / 255);
    p[1] = (uint8_t)((p[1] * (255 - a) + col.g * a) / 255);
    p[2] = (uint8_t)((p[2] * (255 - a) + col.b * a) / 255);
}

void wm_canvas_fill(WmCanvas *c, int x, int y, int w, int h, WmColor col) {
    for (int j = y < 0 ? 0 : y; j < y + h && j < c->h; j++)
        for (int i = x < 0 ? 0 : x; i < x + w && i < c->w; i++) put(c, i, j, col);
}

void wm_canvas_rect(WmCanvas *c, int x, int y, int w, int h, WmColor col) {
    wm_canvas_fill(c, x, y, w, 1, col);
    wm_canvas_fill(c, x, y + h - 1, w, 1, col);
    wm_canvas_fill(c, x, y, 1, h, col);
    wm_canvas_fill(c, x + w - 1, y, 1, h, col);
}

void wm_canvas_line(WmCanvas *c, double x0, double y0, double x1, double y1, WmColor col, int thick) {
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1)) return;
    double dx = x1 - x0, dy = y1 - y0, len = fmax(fabs(dx), fabs(dy));
    int n = (int)ceil(len);
    if (n > 100000) n = 100000;
    for (int k = 0; k <= n; k++) {
        double t = n ? (double)k / n : 0;
        int x = (int)lround(x0 + t * dx), y = (int)lround(y0 + t * dy);
        for (int a = 0; a < thick; a++)
            for (int b = 0; b < thick; b++) put(c, x + a - thick / 2, y + b - thick / 2, col);
    }
}

void wm_canvas_dot(WmCanvas *c, double x, double y, int r, WmColor col) {
    if (!isfinite(x) || !isfinite(y)) return;
    int cx = (int)lround(x), cy = (int)lround(y);
    for (int j = -r; j <= r; j++)
        for (int i = -r; i <= r; i++)
            if (i * i + j * j <= r * r + r) put(c, cx + i, cy + j, col);
}

void wm_canvas_image(WmCanvas *c, int x, int y, int w, int h, const uint8_t *img, int iw, int ih) {
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            const uint8_t *s = img + ((size_t)(j * ih / h) * (size_t)iw + (size_t)(i * iw / w)) * 3;
            put(c, x + i, y + j, (WmColor){s[0], s[1], s[2]});
        }
}

struct WmFont {
    float px;
    int bw, bh;
    unsigned char *bitmap;
    stbtt_bakedchar ch[96];
};

int wm_font_load(const char *path, float px, WmFont **out, char *err, size_t errsz) {
    *out = NULL;
    if (!path) path = WM_DEFAULT_FONT;
    char *ttf;
    size_t len;
    int rc = wm_read_file(path, &ttf, &len, err, errsz);
    if (rc) return rc;
    WmFont *f = wm_new(WmFont, 1);
    f->px = px;
    f->bw = 512, f->bh = 512;
    f->bitmap = wm_new(unsigned char, (size_t)f->bw * (size_t)f->bh);
    int r = stbtt_GetFontOffsetForIndex((unsigned char *)ttf, 0) < 0
                ? -1
                : stbtt_BakeFontBitmap((unsigned char *)ttf, 0, px, f->bitmap, f->bw, f->bh, 32, 96, f->ch);
    wm_free(ttf);
    if (r == 0 || r < -95) {
        wm_font_free(f);
        return wm_errf(err, errsz, WM_ERR_FORMAT, "font '%s' could not be read as TrueType", path);
    }
    *out = f;
    return WM_OK;
}

void wm_font_free(WmFont *f) {
    if (!f) return;
    wm_free(f->bitmap);
    wm_free(f);
}

float wm_font_px(const WmFont *f) { return f->px; }

int wm_text_width(const WmFont *f, const char *text) {
    float w = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p >= 32 && *p < 128) w += f->ch[*p - 32].xadvance;
    return (int)ceilf(w);
}

int wm_canvas_text(WmCanvas *c, const WmFont *f, int x, int y, const char *text, WmColor col, int align) {
    int tw = wm_text_width(f, text);
    float fx = (float)(align == 1 ? x - tw / 2 : align == 2 ? x - tw : x), fy = (float)y;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p < 32 || *p >= 128) continue;
        stbtt_aligned_quad q;
        stbtt_GetBakedQuad(f->ch, f->bw, f->bh, *p - 32, &fx, &fy, &q, 1);
        int sx0 = (int)lroundf(q.s0 * f->bw), sy0 = (int)lroundf(q.t0 * f->bh);
        int gw = (int)lroundf((q.s1 - q.s0) * f->bw), gh = (int)lroundf((q.t1 - q.t0) * f->bh);
        for (int j = 0; j < gh; j++)
            for (int i = 0; i < gw; i++)
                blend(c, (int)q.x0 + i, (int)q.y0 + j, col, f->bitmap[(size_t)(sy0 + j) * (size_t)f->bw + (size_t)(sx0 + i)]);
    }
    return tw;
}

WmColor wm_hue(double h, double s, double v) {
    double c[3];
    wm_hsv_to_rgb(h, s, v, c);
    return (WmColor){(uint8_t)lround(255 * c[0]), (uint8_t)lround(255 * c[1]), (uint8_t)lround(255 * c[2])};
}

WmColor wm_colormap(double t) {
    /* A few anchors of a viridis-like ramp, linearly interpolated. */
    static const double k[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    if (!isfinite(t)) t = 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double x = t * 4;
    int i = x >= 4 ? 3 : (int)x;
    double f = x - i;
    return (WmColor){(uint8_t)lround(k[i][0] + f * (k[i + 1][0] - k[i][0])),
                     (uint8_t)lround(k[i][1] + f * (k[i + 1][1] - k[i][1])),
                     (uint8_t)lround(k[i][2] + f * (k[i + 1][2] - k[i][2]))};
}

WmColor wm_palette(int i) {
    static const WmColor p[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},   {148, 103, 189},
                                  {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
    return p[((i % 10) + 10) % 10];
}

void wm_range(const double *v, int n, double *lo, double *hi) {
    double a = INFINITY, b = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) a = fmin(a, v[i]), b = fmax(b, v[i]);
    if (!isfinite(a)) a = 0, b = 1;
    if (b - a < 1e-12) a -= 0.5, b += 0.5;
    double pad = 0.05 * (b - a);
    *lo = a - pad, *hi = b + pad;
}

static double px_x(const WmPlot *p, double x) { return p->x + (x - p->x0) / (p->x1 - p->x0) * (p->w - 1); }
static double px_y(const WmPlot *p, double y) { return p->y + p->h - 1 - (y - p->y0) / (p->y1 - p->y0) * (p->h - 1); }

/* A "nice" tick step for a range (1, 2 or 5 times a power of ten). */
static double tick_step(double span, int want) {
    double raw = span / want, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

static void plot_frame(WmPlot *p, WmCanvas *c, const WmFont *font, int x, int y, int w, int h, double x0, double x1,
                       double y0, double y1, const char *title, const char *xlabel, const char *ylabel,
                       const char *const *cats, int ncat) {
    memset(p, 0, sizeof *p);
    p->c = c, p->font = font, p->x = x, p->y = y, p->w = w, p->h = h;
    p->x0 = x0, p->x1 = x1 > x0 ? x1 : x0 + 1, p->y0 = y0, p->y1 = y1 > y0 ? y1 : y0 + 1;
    WmColor ink = {40, 40, 40}, grid = {225, 225, 225};
    char buf[32];
    int fh = font ? (int)wm_font_px(font) : 0;
    double sx = tick_step(p->x1 - p->x0, 5), sy = tick_step(p->y1 - p->y0, 5);
    if (cats) {
        for (int i = 0; i < ncat; i++)
            if (font && cats[i]) wm_canvas_text(c, font, (int)lround(px_x(p, i + 0.5)), y + h + fh + 2, cats[i], ink, 1);
    } else {
        for (double t = ceil(p->x0 / sx) * sx; t <= p->x1 + 1e-9 * sx; t += sx) {
            int X = (int)lround(px_x(p, t));
            wm_canvas_fill(c, X, y, 1, h, grid);
            snprintf(buf, sizeof buf, "%g", fabs(t) < 1e-12 * sx ? 0.0 : t);
            if (font) wm_canvas_text(c, font, X, y + h + fh + 2, buf, ink, 1);
        }
    }
    for (double t = ceil(p->y0 / sy) * sy; t <= p->y1 + 1e-9 * sy; t += sy) {
        int Y = (int)lround(px_y(p, t));
        wm_canvas_fill(c, x, Y, w, 1, grid);
        snprintf(buf, sizeof buf, "%g", fabs(t) < 1e-12 * sy ? 0.0 : t);
        if (font) wm_canvas_text(c, font, x - 4, Y + fh / 3, buf, ink, 2);
    }
    wm_canvas_rect(c, x - 1, y - 1, w + 2, h + 2, ink);
    if (font) {
        if (title) wm_canvas_text(c, font, x + w / 2, y - fh / 2, title, ink, 1);
        if (xlabel) wm_canvas_text(c, font, x + w / 2, y + h + 2 * fh + 6, xlabel, ink, 1);
        if (ylabel) wm_canvas_text(c, font, x, y - fh / 2 - fh - 2, ylabel, ink, 0);
    }
}

void wm_plot_begin(WmPlot *p, WmCanvas *c, const WmFont *font, int x, int y, int w, int h, double x0, double x1,
                   double y0, double y1, const char *title, const char *xlabel, const char *ylabel) {
    plot_frame(p, c, font, x, y, w, h, x0, x1, y0, y1, title, xlabel, ylabel, NULL, 0);
}

void wm_plot_begin_categories(WmPlot *p, WmCanvas *c, const WmFont *font, int x, int y, int w, int h,
                              const char *const *names, int n, double y0, double y1, const char *title,
                              const char *ylabel) {
    plot_frame(p, c, font, x, y, w, h, 0, n > 0 ? n : 1, y0, y1, title, NULL, ylabel, names, n);
}

void wm_plot_bar(WmPlot *p, double xa, double xb, double ya, double yb, WmColor col) {
    double lo = fmin(ya, yb), hi = fmax(ya, yb);
    if (!isfinite(lo) || !isfinite(hi) || !isfinite(xa) || !isfinite(xb)) return;
    lo = fmax(lo, p->y0), hi = fmin(hi, p->y1);
    xa = fmax(xa, p->x0), xb = fmin(xb, p->x1);
    if (lo >= hi || xa >= xb) return;
    int X0 = (int)lround(px_x(p, xa)), X1 = (int)lround(px_x(p, xb));
    int Y0 = (int)lround(px_y(p, hi)), Y1 = (int)lround(px_y(p, lo));
    wm_canvas_fill(p->c, X0, Y0, X1 - X0 + 1, Y1 - Y0 + 1, col);
}

void wm_plot_text(WmPlot *p, double x, double y, const char *text, WmColor col, int align) {
    if (p->font && isfinite(x) && isfinite(y))
        wm_canvas_text(p->c, p->font, (int)lround(px_x(p, x)), (int)lround(px_y(p, y)), text, col, align);
}

void wm_plot_legend(WmPlot *p, WmColor col, const char *label) {
    if (!label || !p->font) return;
    int fh = (int)wm_font_px(p->font), n = ++p->legend_n, lx, ly;
    if (p->legend_at == 1) {
        lx = p->x + p->w - 10 - 22 - wm_text_width(p->font, label);
        ly = p->y + 8 + (n - 1) * (fh + 3);
    } else if (p->legend_at == 2) {
        lx = p->x + p->w + 14;
        ly = p->y + (n - 1) * (fh + 5);
    } else {
        /* stacked upwards from the lower-left corner, where curves that rise to the
         * top of the range rarely pass */
        lx = p->x + 10;
        ly = p->y + p->h - 8 - n * (fh + 3);
    }
    wm_canvas_fill(p->c, lx, ly + fh / 2 - 1, 18, 3, col);
    wm_canvas_text(p->c, p->font, lx + 22, ly + fh - 2, label, (WmColor){40, 40, 40}, 0);
}

void wm_plot_series(WmPlot *p, const double *xs, const double *ys, int n, WmColor col, int thick, int dots,
                    const char *label) {
    for (int i = 0; i + 1 < n; i++)
        if (isfinite(ys[i]) && isfinite(ys[i + 1]))
            wm_canvas_line(p->c, px_x(p, xs[i]), px_y(p, ys[i]), px_x(p, xs[i + 1]), px_y(p, ys[i + 1]), col, thick);
    if (dots)
        for (int i = 0; i < n; i++) wm_canvas_dot(p->c, px_x(p, xs[i]), px_y(p, ys[i]), thick + 1, col);
    wm_plot_legend(p, col, label);
}

void wm_plot_scatter(WmPlot *p, const double *xs, const double *ys, const WmColor *cols, int n, int radius) {
    for (int i = 0; i < n; i++) wm_canvas_dot(p->c, px_x(p, xs[i]), px_y(p, ys[i]), radius, cols[i]);
}
