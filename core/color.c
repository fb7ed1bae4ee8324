/* HSV to RGB (core/color.h): the steps written once, instantiated in double and float. */
#include "core/color.h"

#include <math.h>

/* Sector i of six around the hue circle (h just below 1 may round to 6: the last
 * sector, where f = 1 gives the same colour as sector 0 at f = 0). */
#define WM_HSV_TO_RGB(T, FLOOR)                                                                    \
    h = (h - FLOOR(h)) * 6;                                                                        \
    int i = (int)h;                                                                                \
    if (i > 5) i = 5;                                                                              \
    T f = h - (T)i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));               \
    const T r[6] = {v, q, p, p, t, v}, g[6] = {t, v, v, q, p, p}, b[6] = {p, p, t, v, v, q};       \
    rgb[0] = r[i], rgb[1] = g[i], rgb[2] = b[i];

void wm_hsv_to_rgb(double h, double s, double v, double rgb[3]) {
    WM_HSV_TO_RGB(double, floor)
}

void wm_hsv_to_rgbf(float h, float s, float v, float rgb[3]) {
    WM_HSV_TO_RGB(float, floorf)
}
