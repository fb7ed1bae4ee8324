/* Contact sheets of dataset shards: the views of a few sequences in rows, the action
 * that leads from each view to the next printed under it, one component per line. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/dataset.h"
#include "core/canvas.h"
#include "core/err.h"
#include "core/png.h"

enum { MARGIN = 8, GAP = 6, MAX_ROWS = 4, MIN_VIEW = 64 };

static void format_line(char *out, size_t outsz, const char *name, float v) {
    if (!isfinite(v))
        snprintf(out, outsz, "%s %s", name, isnan(v) ? "nan" : v > 0 ? "+inf" : "-inf");
    else
        snprintf(out, outsz, "%s %+.3f", name, (double)v);
}

int ds_preview_write(const char *path, const EnvSpec *spec, int n, int t, const uint8_t *pixels,
                     const float *actions, const int32_t *labels, int64_t first, char *err,
                     size_t errsz) {
    int rows = n < MAX_ROWS ? n : MAX_ROWS, H = spec->height, W = spec->width, A = spec->action_dim;
    WM_ASSERT(spec->channels == 3 && t >= 1 && A >= 1 && rows >= 1);
    WmFont *font;
    int rc = wm_font_load(NULL, 12, &font, err, errsz);
    if (rc) return wm_err_prefix(err, errsz, rc, "preview '%s': ", path);
    /* Small views are scaled up (nearest) so that the sheet stays readable. */
    int scale = W >= MIN_VIEW ? 1 : (MIN_VIEW + W - 1) / W, vw = W * scale, vh = H * scale;
    int line = (int)ceilf(wm_font_px(font) * 1.25f), cw = vw;
    char buf[160];
    for (int r = 0; r < rows; r++)
        for (int k = 0; k + 1 < t; k++)
            for (int i = 0; i < A; i++) {
                format_line(buf, sizeof buf, spec->action_names[i] ? spec->action_names[i] : "a",
                            actions[((size_t)r * (t - 1) + k) * A + i]);
                int w = wm_text_width(font, buf);
                if (w > cw) cw = w;
            }
    int row_h = line + vh + 4 + (t > 1 ? A : 0) * line + GAP;
    WmCanvas cv;
    wm_canvas_init(&cv, 2 * MARGIN + t * cw + (t - 1) * GAP, 2 * MARGIN + rows * row_h,
                   (WmColor){24, 24, 28});
    WmColor head = {170, 200, 255}, text = {230, 230, 230};
    for (int r = 0; r < rows; r++) {
        int y0 = MARGIN + r * row_h;
        snprintf(buf, sizeof buf, "sequence %lld, class %d", (long long)(first + r), labels[r]);
        wm_canvas_text(&cv, font, MARGIN, y0 + line - 3, buf, head, 0);
        for (int k = 0; k < t; k++) {
            int x0 = MARGIN + k * (cw + GAP), yv = y0 + line;
            const uint8_t *src = pixels + ((size_t)r * t + k) * (size_t)H * W * 3;
            wm_canvas_image(&cv, x0 + (cw - vw) / 2, yv, vw, vh, src, W, H);
            if (k + 1 == t) continue;
            for (int i = 0; i < A; i++) {
                format_line(buf, sizeof buf, spec->action_names[i] ? spec->action_names[i] : "a",
                            actions[((size_t)r * (t - 1) + k) * A + i]);
                wm_canvas_text(&cv, font, x0, yv + vh + 4 + (i + 1) * line - 3, buf, text, 0);
            }
        }
    }
    rc = wm_png_write(path, cv.w, cv.h, 3, cv.rgb, 0, err, errsz);
    wm_canvas_free(&cv);
    wm_font_free(font);
    return rc;
}
