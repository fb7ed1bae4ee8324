/* CPU drawing: lines land where asked, text from the Debian font marks pixels, plots
 * map data to the right place, a missing font is a clear error. */
#include "core/canvas.h"
#include "core/err.h"
#include "core/png.h"
#include "tests/test.h"

static int count_ink(const WmCanvas *c, int x, int y, int w, int h) {
    int n = 0;
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++) {
            const uint8_t *p = c->rgb + ((size_t)j * c->w + i) * 3;
            n += p[0] < 128 || p[1] < 128 || p[2] < 128;
        }
    return n;
}

int main(void) {
    char err[512];
    WmCanvas c;
    WmColor white = {255, 255, 255}, black = {0, 0, 0};
    wm_canvas_init(&c, 200, 120, white);
    CHECK(count_ink(&c, 0, 0, 200, 120) == 0);
    wm_canvas_line(&c, 10, 10, 110, 10, black, 1);
    CHECK(count_ink(&c, 10, 10, 101, 1) == 101 && count_ink(&c, 0, 11, 200, 5) == 0, "horizontal line");
    wm_canvas_line(&c, 0, 0, 1e300, NAN, black, 1); /* non-finite: ignored, no crash */
    WmFont *f;
    CHECK(wm_font_load(NULL, 14, &f, err, sizeof err) == WM_OK && f != NULL, "%s", err);
    if (f) {
        int before = count_ink(&c, 0, 20, 200, 40);
        int w = wm_canvas_text(&c, f, 10, 40, "seq-JEPA R^2", black, 0);
        CHECK(w > 40 && w == wm_text_width(f, "seq-JEPA R^2") && count_ink(&c, 0, 20, 200, 40) > before + 50,
              "text drawn (width %d)", w);
    }
    WmFont *g;
    CHECK(wm_font_load("/no/font.ttf", 12, &g, err, sizeof err) == WM_ERR_IO && !g && strstr(err, "/no/font.ttf"));
    /* A plot maps (x, y) data onto its area: a point at the top-right corner. */
    WmCanvas p;
    wm_canvas_init(&p, 300, 200, white);
    WmPlot pl;
    wm_plot_begin(&pl, &p, f, 50, 30, 200, 120, 0, 10, 0, 1, "t", "x", "y");
    double xs[1] = {10}, ys[1] = {1};
    WmColor red = {255, 0, 0};
    wm_plot_scatter(&pl, xs, ys, &red, 1, 2);
    const uint8_t *px = p.rgb + ((size_t)30 * 300 + 249) * 3;
    CHECK(px[0] == 255 && px[1] == 0, "corner point at the plot's corner");
    /* Bars fill exactly their data box, clipped to the plot; categories name their slots. */
    WmCanvas b;
    wm_canvas_init(&b, 300, 200, white);
    WmPlot bp;
    const char *cats[2] = {"alpha", "beta"};
    wm_plot_begin_categories(&bp, &b, f, 50, 30, 200, 120, cats, 2, -1, 1, "bars", "v");
    int below = count_ink(&b, 50, 155, 200, 30);
    CHECK(f == NULL || below > 20, "category names drawn under the plot (%d)", below);
    WmColor blue = {0, 0, 200};
    wm_plot_bar(&bp, 0.25, 0.75, 0, 5, blue); /* up to y = 1 (clipped at the top) */
    const uint8_t *top = b.rgb + ((size_t)30 * 300 + 100) * 3, *mid = b.rgb + ((size_t)60 * 300 + 100) * 3;
    const uint8_t *under = b.rgb + ((size_t)120 * 300 + 100) * 3, *beside = b.rgb + ((size_t)60 * 300 + 65) * 3;
    CHECK(top[2] == 200 && mid[2] == 200 && top[0] == 0, "bar reaches the top, clipped");
    CHECK(under[2] != 200 && beside[2] != 200, "nothing below zero or beside the bar");
    wm_plot_bar(&bp, 1.25, 1.75, 0, NAN, blue); /* non-finite: nothing */
    CHECK(b.rgb[((size_t)80 * 300 + 200) * 3 + 2] != 200, "NaN bar not drawn");
    bp.legend_at = 2;
    int right = count_ink(&b, 252, 25, 48, 30);
    wm_plot_legend(&bp, blue, "model");
    CHECK(f == NULL || count_ink(&b, 252, 25, 48, 30) > right + 20, "legend right of the plot area");
    wm_canvas_free(&b);
    double lo, hi, v[3] = {1, NAN, 3};
    wm_range(v, 3, &lo, &hi);
    CHECK(lo < 1 && hi > 3 && lo > 0.8 && hi < 3.2);
    CHECK(wm_colormap(0).r == 68 && wm_colormap(1).g == 231);
    char path[600];
    snprintf(path, sizeof path, "%s/plot.png", test_tmpdir());
    CHECK(wm_png_write(path, p.w, p.h, 3, p.rgb, 0, err, sizeof err) == WM_OK, "%s", err);
    wm_canvas_free(&p);
    wm_canvas_free(&c);
    wm_font_free(f);
    return TEST_DONE();
}
