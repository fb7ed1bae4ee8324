/* Colour conversion shared by the worlds (hue latents, procedural scenes) and the plots. */
#ifndef WM_COLOR_H
#define WM_COLOR_H

/* HSV to RGB, all in [0, 1] (h taken modulo 1). One set of steps in two precisions:
 * they differ in the last bit, and each world's stored bytes were made with one of
 * them (objects3d's hue latents and shape colours in float; saccade's procedural
 * scenes and the plots' hues in double), so each keeps its own. */
void wm_hsv_to_rgb(double h, double s, double v, double rgb[3]);
void wm_hsv_to_rgbf(float h, float s, float v, float rgb[3]);

#endif
