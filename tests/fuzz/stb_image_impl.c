/* The image decoder compiled into the fuzz programs (instrumented, so the fuzzer sees
 * its branches); it takes the place of the shared library's copy. */
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
