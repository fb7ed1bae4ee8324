/* The saccade world beyond envs/env.h: the fixation grid, the glimpse sampler, saliency
 * maps and procedural scenes, for the agents that move the eye, tests and benchmarks.
 *
 * Coordinates. A scene is S x S pixels; pixel (r, c) covers [r, r+1) x [c, c+1) and its
 * value sits at its centre (r + 0.5, c + 0.5). A fixation is a point (y, x) in these
 * continuous coordinates; the latent is (y, x) / S and an action is the displacement
 * (dy, dx) / S. Fixations live on a grid of ENV_SACCADE_GRID steps per scene side:
 * latent = k / ENV_SACCADE_GRID with integer k in [0, ENV_SACCADE_GRID]. The grid is a
 * power of two, so every latent and every action (the difference of two latents) is a
 * float exactly, and so is any sum of up to 4096 actions, in any order: summed actions
 * equal the final minus the first latent bit for bit. env_step rounds an action to the
 * grid and clamps the fixation into [0, 1]; agents emit actions already on the grid. */
#ifndef ENV_SACCADE_H
#define ENV_SACCADE_H

#include <stddef.h>
#include <stdint.h>

#include "envs/env.h"

#define ENV_SACCADE_GRID 4096

/* Procedural scenes: each holds two parts of each of two kinds (of 5), so a class is an
 * unordered pair of kinds and one glimpse of one part leaves 4 classes possible. */
#define ENV_SACCADE_PROC_KINDS   5
#define ENV_SACCADE_PROC_CLASSES 10

/* Saliency methods, in the order of the [env] saliency key. */
enum { ENV_SALIENCY_CONTRAST = 0, ENV_SALIENCY_SPECTRAL = 1, ENV_SALIENCY_UNIFORM = 2 };
/* Scene sources, in the order of the [env] source key. */
enum { ENV_SOURCE_PROCEDURAL = 0, ENV_SOURCE_OBJECTS3D = 1, ENV_SOURCE_FOLDER = 2 };

/* The scene pixel holding grid coordinate k (in [0, S-1]). */
static inline int env_saccade_pixel(int32_t k, int s) {
    return env_grid_pixel(k, s, ENV_SACCADE_GRID);
}
/* The grid coordinate nearest to the centre of pixel p (halves round up). */
static inline int32_t env_saccade_grid_of_pixel(int p, int s) {
    return env_grid_of_pixel(p, s, ENV_SACCADE_GRID);
}


/* Samples an n x n glimpse of the f x f window of `image` (s x s x 3, uint8) centred at
 * (y, x) in scene pixel coordinates (see above). Output pixel (i, j) takes the point
 *     (y - f/2 + (i + 0.5) * f/n,  x - f/2 + (j + 0.5) * f/n)
 * and interpolates bilinearly between the four nearest pixel centres; pixels outside the
 * image count as zero. Values are rounded to the nearest integer. When n == f this is the
 * window translated by a sub-pixel offset (an exact crop when y - f/2, x - f/2 are
 * integers). out: n*n*3 bytes. */
void env_saccade_glimpse(const uint8_t *image, int s, double y, double x, int f, int n,
                         uint8_t *out);

/* Bottom-up saliency of an s x s RGB image as a probability map (s*s floats, all > 0,
 * summing to 1). contrast: squared intensity and colour-opponent (red-green, blue-yellow)
 * differences between two centre scales and three surrounds (two local scales and the
 * scene's mean), each channel's map promoted when it has few strong peaks (after
 * Itti & Koch). spectral: the spectral residual of the grey
 * image at 64 x 64 (Hou & Zhang 2007). uniform: flat. work: scratch of
 * env_saliency_work_floats(s) floats. */
size_t env_saliency_work_floats(int s);
void env_saliency(const uint8_t *image, int s, int method, float *out, float *work);

/* Draws procedural scene number idx (a pure function of idx and s) into image (s*s*3)
 * and returns its class in [0, ENV_SACCADE_PROC_CLASSES). */
int env_saccade_procedural(int64_t idx, int s, uint8_t *image);
/* "disc+ring", ... for a procedural class. */
const char *env_saccade_procedural_class(int label);

/* Largest image side a folder may hold: the decoder's buffer is sized from the file's
 * header, so the header is checked before anything is allocated. */
#define ENV_SACCADE_MAX_IMAGE_SIDE   16384
#define ENV_SACCADE_MAX_IMAGE_PIXELS (1 << 26)
/* Decodes a PNG, JPEG, BMP or TGA file's bytes to RGB (w x h x 3; free with free()).
 * NULL with the reason (naming `name`) in err when the bytes are not an image this
 * decoder reads, a side is over ENV_SACCADE_MAX_IMAGE_SIDE or the pixels over
 * ENV_SACCADE_MAX_IMAGE_PIXELS. */
uint8_t *env_saccade_image_decode(const uint8_t *bytes, size_t n, const char *name, int *w, int *h,
                                  char *err, size_t errsz);

/* Resamples an RGB image (sw x sh) to d x d: its central square crop, area-averaged when
 * shrinking, bilinear (pixel centres) when growing. */
void env_saccade_resample(const uint8_t *in, int sw, int sh, uint8_t *out, int d);

/* Moves one lane's fixation to grid point (ky, kx) (clamped into [0, ENV_SACCADE_GRID]),
 * for agents that choose the first fixation themselves. WM_ERR_ARG when the Env is not a
 * saccade world or the lane has not been reset. */
int env_saccade_set_fixation(Env *e, int lane, int32_t ky, int32_t kx);

/* The name of class `label` in a saccade Env: the sub-folder name for a folder source,
 * the pair of part kinds for procedural scenes, the shape family for objects3d renders
 * (or "class N" when the world does not name it). NULL when label is out of range or
 * the Env is not a saccade world. */
const char *env_saccade_class_name(const Env *e, int label);

#endif
