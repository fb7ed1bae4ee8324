/* PNG writing for screenshots, previews and plots. */
#ifndef WM_PNG_H
#define WM_PNG_H

#include <stddef.h>

/* pixels: h rows of w*channels bytes, `stride` bytes apart (0 = packed); channels 1..4.
 * Written atomically. */
int wm_png_write(const char *path, int w, int h, int channels, const unsigned char *pixels,
                 size_t stride, char *err, size_t errsz);

#endif
