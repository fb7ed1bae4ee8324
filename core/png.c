/* PNG writing through stb_image_write (libstb), atomically. */
#include "core/png.h"

#include <stb/stb_image_write.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/fs.h"

static void collect(void *ctx, void *data, int size) { wm_buf_append(ctx, data, (size_t)size); }

int wm_png_write(const char *path, int w, int h, int channels, const unsigned char *pixels,
                 size_t stride, char *err, size_t errsz) {
    if (w <= 0 || h <= 0 || channels < 1 || channels > 4)
        return wm_errf(err, errsz, WM_ERR_ARG, "png '%s': bad image %dx%dx%d", path, w, h, channels);
    if (!stride) stride = (size_t)w * (size_t)channels;
    WmBuf buf = {0};
    if (!stbi_write_png_to_func(collect, &buf, w, h, channels, pixels, (int)stride)) {
        wm_buf_free(&buf);
        return wm_errf(err, errsz, WM_ERR_IO, "png '%s': encoding failed", path);
    }
    int rc = wm_write_file_atomic(path, buf.data, buf.len, err, errsz);
    wm_buf_free(&buf);
    return rc;
}
