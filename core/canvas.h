/* Drawing into RGB images on the CPU: lines, boxes, dots, images, text with a real
 * font (stb_truetype, DejaVu Sans from Debian's fonts-dejavu-core), and simple plots
 * (axes with ticks, line series, scatter, legends). Used for the benchmark reports'
 * PNG figures, dataset contact sheets and the viewer's panels. */
#ifndef WM_CANVAS_H
#define WM_CANVAS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int w, h;
    uint8_t *rgb; /* h rows of w*3 bytes */
} WmCanvas;

typedef struct {
    uint8_t r, g, b;
} WmColor;

#define WM_DEFAULT_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

void wm_canvas_init(WmCanvas *c, int w, int h, WmColor bg);
void wm_canvas_free(WmCanvas *c);
void wm_canvas_fill(WmCanvas *c, int x, int y, int w, int h, WmColor col);
void wm_canvas_rect(WmCanvas *c, int x, int y, int w, int h, WmColor col);
void wm_canvas_line(WmCanvas *c, double x0, double y0, double x1, double y1, WmColor col, int thick);
void wm_canvas_dot(WmCanvas *c, double x, double y, int radius, WmColor col);
/* Copies an RGB image (iw x ih) scaled to w x h (nearest) at (x, y). */
void wm_canvas_image(WmCanvas *c, int x, int y, int w, int h, const uint8_t *img, int iw, int ih);

/* A font baked at one pixel height (ASCII 32..126). */
typedef struct WmFont WmFont;
/* path NULL: WM_DEFAULT_FONT. Makes *out, or returns WM_ERR_IO (unreadable file) or
 * WM_ERR_FORMAT (not TrueType) with the reason in err and *out NULL. */
int wm_font_load(const char *path, float px, WmFont **out, char *err, size_t errsz);
void wm_font_free(WmFont *f);
float wm_font_px(const WmFont *f);
/* Draws text with its baseline at y; returns the advance width. align: 0 left,
 * 1 centre, 2 right of x. */
int wm_canvas_text(WmCanvas *c, const WmFont *f, int x, int y, const char *text, WmColor col, int align);
int wm_text_width(const WmFont *f, const char *text);

/* Colours: a perceptually ordered map for t in [0, 1], a categorical palette, hue. */
WmColor wm_colormap(double t);
WmColor wm_palette(int i);
WmColor wm_hue(double h, double s, double v);

/* A plot area with data ranges; begin draws the frame, ticks, labels and title. */
typedef struct {
    WmCanvas *c;
    const WmFont *font;
    int x, y, w, h; /* inner area in pixels */
    double x0, x1, y0, y1;
    int legend_n;
    int legend_at; /* where labelled series stack: 0 lower left (the default), 1 upper right,
                      2 outside, right of the plot area (leave room) */
} WmPlot;
void wm_plot_begin(WmPlot *p, WmCanvas *c, const WmFont *font, int x, int y, int w, int h, double x0, double x1,
                   double y0, double y1, const char *title, const char *xlabel, const char *ylabel);
/* A plot of n categories along x (data x in [0, n], category i centred at i + 0.5,
 * its name below it) for bar charts. */
void wm_plot_begin_categories(WmPlot *p, WmCanvas *c, const WmFont *font, int x, int y, int w, int h,
                              const char *const *names, int n, double y0, double y1, const char *title,
                              const char *ylabel);
/* A filled box between data x in [xa, xb] and y in [ya, yb], clipped to the plot. */
void wm_plot_bar(WmPlot *p, double xa, double xb, double ya, double yb, WmColor col);
/* Text at data coordinates (baseline at y), align as wm_canvas_text. */
void wm_plot_text(WmPlot *p, double x, double y, const char *text, WmColor col, int align);
/* A legend entry (a colour swatch and a label) without a series. */
void wm_plot_legend(WmPlot *p, WmColor col, const char *label);
void wm_plot_series(WmPlot *p, const double *xs, const double *ys, int n, WmColor col, int thick, int dots,
                    const char *label);
void wm_plot_scatter(WmPlot *p, const double *xs, const double *ys, const WmColor *cols, int n, int radius);
/* Range [lo, hi] of finite values, widened a little (and made non-empty). */
void wm_range(const double *v, int n, double *lo, double *hi);

#endif
