/* Images of the saccade world's folders (PNG, JPEG, BMP, TGA): decoded, then resampled
 * to a scene as the world does. */
#include <stb/stb_image.h>

#include "core/err.h"
#include "envs/saccade.h"
#include "tests/fuzz/fuzz.h"

FUZZ_TARGET(image) {
    int w, h;
    char err[1024] = "";
    uint8_t *px = env_saccade_image_decode(data, size, "fuzz.img", &w, &h, err, sizeof err);
    if (!px) {
        FUZZ_CHECK(strstr(err, "fuzz.img") != NULL, "error does not name the file: '%s'", err);
        return 0;
    }
    FUZZ_CHECK(w >= 1 && h >= 1 && w <= ENV_SACCADE_MAX_IMAGE_SIDE && h <= ENV_SACCADE_MAX_IMAGE_SIDE,
               "%dx%d", w, h);
    uint8_t scene[24 * 24 * 3];
    env_saccade_resample(px, w, h, scene, 24);
    stbi_image_free(px);
    return 0;
}
