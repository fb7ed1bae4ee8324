/* Procedural scenes for the saccade world: four parts (two kinds, two of each) on a muted
 * textured background. The class is the pair of kinds, so telling classes apart takes
 * glimpses of two different parts; colours, sizes, angles, positions and the background
 * vary within a class and carry no class information. */
#include <math.h>

#include "core/color.h"
#include "core/err.h"
#include "core/rng.h"
#include "envs/saccade.h"

enum { KIND_DISC, KIND_RING, KIND_CROSS, KIND_TRIANGLE, KIND_STRIPES };
/* Class k is the k-th unordered pair of distinct kinds in lexicographic order. */
static const int class_pairs[ENV_SACCADE_PROC_CLASSES][2] = {
    {0, 1}, {0, 2}, {0, 3}, {0, 4}, {1, 2}, {1, 3}, {1, 4}, {2, 3}, {2, 4}, {3, 4}};
static const char *const class_names[ENV_SACCADE_PROC_CLASSES] = {
    "disc+ring",     "disc+cross",   "disc+triangle",  "disc+stripes",  "ring+cross",
    "ring+triangle", "ring+stripes", "cross+triangle", "cross+stripes", "triangle+stripes"};

const char *env_saccade_procedural_class(int label) {
    return label >= 0 && label < ENV_SACCADE_PROC_CLASSES ? class_names[label] : NULL;
}

/* Scenes are a function of their index alone: one fixed seed, the index as stream. */
#define SCENE_SEED 0x5acade5ce7e5ULL

typedef struct {
    int kind;
    double cy, cx, radius, cos_a, sin_a;
    float rgb[3], rgb2[3]; /* rgb2: the second stripe colour */
    double shape;          /* ring thickness, cross arm width or stripe period */
} Part;

/* The scenes' colours: HSV in double, kept as float. */
static void hsv_float(double h, double s, double v, float out[3]) {
    double c[3];
    wm_hsv_to_rgb(h, s, v, c);
    out[0] = (float)c[0], out[1] = (float)c[1], out[2] = (float)c[2];
}

static double sd_box(double px, double py, double bx, double by) {
    double qx = fabs(px) - bx, qy = fabs(py) - by;
    double ox = fmax(qx, 0), oy = fmax(qy, 0);
    return sqrt(ox * ox + oy * oy) + fmin(fmax(qx, qy), 0);
}

/* Equilateral triangle with half-side h, centred on its centroid, one side parallel to x. */
static double sd_triangle(double px, double py, double h) {
    const double k = sqrt(3.0);
    px = fabs(px) - h;
    py = py + h / k;
    if (px + k * py > 0) {
        double nx = (px - k * py) / 2, ny = (-k * px - py) / 2;
        px = nx, py = ny;
    }
    px -= fmin(fmax(px, -2 * h), 0);
    double len = sqrt(px * px + py * py);
    return py < 0 ? len : -len;
}

/* Signed distance (pixels, negative inside) of a part at local offset (dy, dx), and the
 * colour there. */
static double part_eval(const Part *p, double dy, double dx, const float **rgb) {
    double u = p->cos_a * dx + p->sin_a * dy, v = -p->sin_a * dx + p->cos_a * dy;
    double r = p->radius;
    *rgb = p->rgb;
    switch (p->kind) {
    case KIND_DISC:
        return sqrt(u * u + v * v) - r;
    case KIND_RING:
        return fabs(sqrt(u * u + v * v) - r * (1 - p->shape / 2)) - r * p->shape / 2;
    case KIND_CROSS:
        return fmin(sd_box(u, v, r, r * p->shape), sd_box(u, v, r * p->shape, r));
    case KIND_TRIANGLE:
        return sd_triangle(u, v, r * sqrt(3.0) / 2);
    default: {
        double half = r * 0.8;
        if (((int)floor((u + half) / p->shape)) & 1) *rgb = p->rgb2;
        return sd_box(u, v, half, half);
    }
    }
}

int env_saccade_procedural(int64_t idx, int s, uint8_t *image) {
    WM_ASSERT(s >= 1 && s <= 1024);
    WmRng rng;
    wm_rng_seed(&rng, SCENE_SEED, (uint64_t)idx);
    int label = (int)(idx % ENV_SACCADE_PROC_CLASSES);
    if (label < 0) label += ENV_SACCADE_PROC_CLASSES;

    /* Background: a gradient, smooth blotches or faint stripes in muted colours. */
    int bg = (int)wm_rng_below(&rng, 3);
    float c0[3], c1[3];
    hsv_float(wm_rng_uniform(&rng), wm_rng_range(&rng, 0.1, 0.4), wm_rng_range(&rng, 0.25, 0.5), c0);
    hsv_float(wm_rng_uniform(&rng), wm_rng_range(&rng, 0.1, 0.4), wm_rng_range(&rng, 0.25, 0.5), c1);
    double ang = wm_rng_range(&rng, 0, 2 * M_PI), gy = sin(ang), gx = cos(ang);
    double period = wm_rng_range(&rng, 0.04, 0.1) * s;
    float lattice[5][5];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            lattice[i][j] = wm_rng_uniformf(&rng);

    /* Parts: two of each kind of the class's pair, in 4 of the 3 x 3 cells. */
    Part parts[4];
    int cells[9];
    for (int i = 0; i < 9; i++)
        cells[i] = i;
    for (int i = 0; i < 4; i++) {
        int j = i + (int)wm_rng_below(&rng, (uint32_t)(9 - i));
        int t = cells[i];
        cells[i] = cells[j], cells[j] = t;
    }
    int kinds[4] = {class_pairs[label][0], class_pairs[label][0], class_pairs[label][1],
                    class_pairs[label][1]};
    for (int i = 3; i > 0; i--) {
        int j = (int)wm_rng_below(&rng, (uint32_t)(i + 1));
        int t = kinds[i];
        kinds[i] = kinds[j], kinds[j] = t;
    }
    double cell = s / 3.0;
    for (int i = 0; i < 4; i++) {
        Part *p = &parts[i];
        p->kind = kinds[i];
        p->radius = wm_rng_range(&rng, 0.085, 0.125) * s;
        double room = fmax(cell / 2 - p->radius - 1, 0);
        p->cy = (cells[i] / 3 + 0.5) * cell + wm_rng_range(&rng, -room, room);
        p->cx = (cells[i] % 3 + 0.5) * cell + wm_rng_range(&rng, -room, room);
        double a = wm_rng_range(&rng, 0, 2 * M_PI);
        p->cos_a = cos(a), p->sin_a = sin(a);
        double hue = wm_rng_uniform(&rng);
        hsv_float(hue, wm_rng_range(&rng, 0.5, 1.0), wm_rng_range(&rng, 0.75, 1.0), p->rgb);
        hsv_float(hue + 0.5, wm_rng_range(&rng, 0.3, 0.8), wm_rng_range(&rng, 0.15, 0.4), p->rgb2);
        p->shape = p->kind == KIND_RING    ? wm_rng_range(&rng, 0.4, 0.6)
                   : p->kind == KIND_CROSS ? wm_rng_range(&rng, 0.22, 0.34)
                                           : wm_rng_range(&rng, 0.25, 0.4) * p->radius;
    }

    double rs[1024], rc[1024], cs[1024], cc[1024];
    if (bg == 2) {
        for (int k = 0; k < s; k++) {
            double w = 2 * M_PI * (k + 0.5) / period;
            rs[k] = sin(w * gy), rc[k] = cos(w * gy);
            cs[k] = sin(w * gx), cc[k] = cos(w * gx);
        }
    }
    for (int y = 0; y < s; y++) {
        for (int x = 0; x < s; x++) {
            double py = y + 0.5, px = x + 0.5, ny = py / s, nx = px / s;
            float col[3];
            if (bg == 0) {
                double t = 0.5 + 0.5 * ((ny - 0.5) * gy + (nx - 0.5) * gx) * 1.4;
                t = fmin(fmax(t, 0), 1);
                for (int c = 0; c < 3; c++)
                    col[c] = (float)(c0[c] + (c1[c] - c0[c]) * t);
            } else if (bg == 1) {
                double fy = ny * 4, fx = nx * 4;
                int iy = (int)fy, ix = (int)fx;
                iy = iy > 3 ? 3 : iy, ix = ix > 3 ? 3 : ix;
                double ty = fy - iy, tx = fx - ix;
                ty = ty * ty * (3 - 2 * ty), tx = tx * tx * (3 - 2 * tx);
                double t = (lattice[iy][ix] * (1 - tx) + lattice[iy][ix + 1] * tx) * (1 - ty) +
                           (lattice[iy + 1][ix] * (1 - tx) + lattice[iy + 1][ix + 1] * tx) * ty;
                for (int c = 0; c < 3; c++)
                    col[c] = (float)(c0[c] + (c1[c] - c0[c]) * t);
            } else {
                /* sin(a + b) from per-row and per-column terms: no sin per pixel. */
                double t = 0.5 + 0.5 * (rs[y] * cc[x] + rc[y] * cs[x]);
                for (int c = 0; c < 3; c++)
                    col[c] = (float)(c0[c] + (c1[c] - c0[c]) * 0.35 * t);
            }
            for (int i = 0; i < 4; i++) {
                const Part *p = &parts[i];
                double dy = py - p->cy, dx = px - p->cx;
                if (fabs(dy) > p->radius + 1.5 || fabs(dx) > p->radius + 1.5) continue;
                const float *pc;
                double d = part_eval(p, dy, dx, &pc);
                /* Coverage of the pixel from the signed distance: anti-aliased edges. */
                float a = (float)fmin(fmax(0.5 - d, 0), 1);
                for (int c = 0; c < 3; c++)
                    col[c] += a * (pc[c] - col[c]);
            }
            uint8_t *o = image + ((size_t)y * s + x) * 3;
            for (int c = 0; c < 3; c++) {
                float v = col[c] < 0 ? 0 : col[c] > 1 ? 1 : col[c];
                o[c] = (uint8_t)(v * 255 + 0.5f);
            }
        }
    }
    return label;
}
