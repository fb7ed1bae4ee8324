/* Contact sheets of dataset shards: views in rows, the actions printed under them
 * with a small built-in 5x7 bitmap font (digits and the few signs numbers need). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agents/dataset.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/png.h"

enum { GW = 5, GH = 7, ADV = 6, LINE = 9, MARGIN = 6, GAP = 4, MAX_ROWS = 4 };

/* Rows top to bottom, bit 4 the leftmost pixel. */
static const struct {
    char c;
    unsigned char rows[GH];
} glyphs[] = {
    {'0', {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}},
    {'1', {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'2', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}},
    {'3', {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}},
    {'4', {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}},
    {'5', {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}},
    {'6', {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}},
    {'7', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}},
    {'9', {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}},
    {'+', {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00}},
    {'-', {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}},
    {'#', {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a}},
    {'c', {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e}},
    {'e', {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e}},
    {'n', {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'a', {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f}},
    {'i', {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e}},
    {'f', {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08}},
};

typedef struct {
    uint8_t *px;
    int w, h;
} Canvas;

static void draw_text(Canvas *cv, int x, int y, const char *s, uint8_t v) {
    for (; *s; s++, x += ADV) {
        const unsigned char *rows = NULL;
        for (size_t g = 0; g < sizeof glyphs / sizeof glyphs[0]; g++)
            if (glyphs[g].c == *s) rows = glyphs[g].rows;
        if (!rows) continue; /* spaces and anything the font lacks */
        for (int r = 0; r < GH; r++)
            for (int c = 0; c < GW; c++) {
                int X = x + c, Y = y + r;
                if (!(rows[r] >> (GW - 1 - c) & 1) || X < 0 || Y < 0 || X >= cv->w || Y >= cv->h)
                    continue;
                uint8_t *p = cv->px + ((size_t)Y * cv->w + X) * 3;
                p[0] = p[1] = p[2] = v;
            }
    }
}

static void format_value(char *out, size_t outsz, float v) {
    if (!isfinite(v))
        snprintf(out, outsz, isnan(v) ? "nan" : v > 0 ? "+inf" : "-inf");
    else
        snprintf(out, outsz, "%+.3f", (double)v);
}

int ds_preview_write(const char *path, const EnvSpec *spec, int n, int t, const uint8_t *pixels,
                     const float *actions, const int32_t *labels, int64_t first, char *err,
                     size_t errsz) {
    int rows = n < MAX_ROWS ? n : MAX_ROWS, H = spec->height, W = spec->width, C = spec->channels;
    int A = spec->action_dim;
    WM_ASSERT(C == 3 && t >= 1 && A >= 1);
    /* A cell is as wide as the view or its widest number, whichever is wider. */
    int chars = 0;
    char buf[48];
    for (int r = 0; r < rows; r++)
        for (size_t i = 0; i < (size_t)(t - 1) * A; i++) {
            format_value(buf, sizeof buf, actions[(size_t)r * (t - 1) * A + i]);
            int len = (int)strlen(buf);
            if (len > chars) chars = len;
        }
    int cw = W > chars * ADV ? W : chars * ADV;
    int row_h = LINE + H + 3 + A * LINE + GAP;
    Canvas cv = {NULL, 2 * MARGIN + t * cw + (t - 1) * GAP, 2 * MARGIN + rows * row_h};
    size_t bytes;
    if (!wm_size_mul((size_t)cv.w * 3, (size_t)cv.h, &bytes))
        return wm_errf(err, errsz, WM_ERR_NOMEM, "preview '%s' is too large", path);
    cv.px = wm_calloc(bytes, 1);
    memset(cv.px, 28, bytes);
    size_t view = (size_t)H * W * C;
    for (int r = 0; r < rows; r++) {
        int y0 = MARGIN + r * row_h;
        snprintf(buf, sizeof buf, "#%lld c%d", (long long)(first + r), labels[r]);
        draw_text(&cv, MARGIN, y0, buf, 200);
        for (int k = 0; k < t; k++) {
            int x0 = MARGIN + k * (cw + GAP), xv = x0 + (cw - W) / 2, yv = y0 + LINE;
            const uint8_t *src = pixels + ((size_t)r * t + k) * view;
            for (int y = 0; y < H; y++)
                memcpy(cv.px + ((size_t)(yv + y) * cv.w + xv) * 3, src + (size_t)y * W * C,
                       (size_t)W * C);
            if (k + 1 == t) continue;
            for (int i = 0; i < A; i++) {
                format_value(buf, sizeof buf, actions[((size_t)r * (t - 1) + k) * A + i]);
                draw_text(&cv, x0, yv + H + 3 + i * LINE, buf, 235);
            }
        }
    }
    int rc = wm_png_write(path, cv.w, cv.h, 3, cv.px, 0, err, errsz);
    wm_free(cv.px);
    return rc;
}
