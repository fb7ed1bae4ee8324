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
    WmFont *f = wm_font_load(NULL, 14, err, sizeof err);
    CHECK(f != NULL, "%s", err);
    if (f) {
        int before = count_ink(&c, 0, 20, 200, 40);
        int w = wm_canvas_text(&c, f, 10, 40, "seq-JEPA R^2", black, 0);
        CHECK(w > 40 && w == wm_text_width(f, "seq-JEPA R^2") && count_ink(&c, 0, 20, 200, 40) > before + 50,
              "text drawn (width %d)", w);
    }
    CHECK(wm_font_load("/no/font.ttf", 12, err, sizeof err) == NULL && strstr(err, "/no/font.ttf"));
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
