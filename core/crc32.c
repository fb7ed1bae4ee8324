/* CRC-32 two ways: carry-less multiplication (PCLMULQDQ) folding 64 bytes per step
 * where the CPU has it, else eight 256-entry tables (slicing by 8). The folded form
 * keeps the message's residue modulo the polynomial, so the last 16 folded bytes are
 * finished by the table code. */
#include "core/crc32.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_CLMUL 1
#endif

static uint32_t tab[8][256];
static int use_clmul;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_tables(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        tab[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            tab[t][i] = (tab[t - 1][i] >> 8) ^ tab[0][tab[t - 1][i] & 0xff];
#ifdef HAVE_CLMUL
    __builtin_cpu_init();
    use_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
}

/* The register without the pre- and post-inversion. */
static uint32_t crc_tables(uint32_t c, const unsigned char *p, size_t n) {
    while (n && ((uintptr_t)p & 7)) {
        c = tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        n--;
    }
    while (n >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= c;
        c = tab[7][lo & 0xff] ^ tab[6][(lo >> 8) & 0xff] ^ tab[5][(lo >> 16) & 0xff] ^
            tab[4][lo >> 24] ^ tab[3][hi & 0xff] ^ tab[2][(hi >> 8) & 0xff] ^
            tab[1][(hi >> 16) & 0xff] ^ tab[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#ifdef HAVE_CLMUL
#define CLMUL __attribute__((target("pclmul,sse4.1")))

/* Folds x forward over 128 * k bits onto next: x.lo * k.lo + x.hi * k.hi + next. */
CLMUL static inline __m128i fold(__m128i x, __m128i k, __m128i next) {
    __m128i lo = _mm_clmulepi64_si128(x, k, 0x00), hi = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

/* n >= 64. Constants: x^(4*128+32), x^(4*128-32) (four lanes 512 bits apart) and
 * x^(128+32), x^(128-32) (one lane) modulo P, bit-reflected, 33 bits each. */
CLMUL static uint32_t crc_clmul(uint32_t c, const unsigned char *p, size_t n) {
    const __m128i k4 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);
    const __m128i k1 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);
    __m128i x0 = _mm_loadu_si128((const __m128i *)p),
            x1 = _mm_loadu_si128((const __m128i *)(p + 16)),
            x2 = _mm_loadu_si128((const __m128i *)(p + 32)),
            x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)c));
    p += 64, n -= 64;
    while (n >= 64) {
        x0 = fold(x0, k4, _mm_loadu_si128((const __m128i *)p));
        x1 = fold(x1, k4, _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = fold(x2, k4, _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = fold(x3, k4, _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64, n -= 64;
    }
    x0 = fold(x0, k1, x1);
    x0 = fold(x0, k1, x2);
    x0 = fold(x0, k1, x3);
    while (n >= 16) {
        x0 = fold(x0, k1, _mm_loadu_si128((const __m128i *)p));
        p += 16, n -= 16;
    }
    unsigned char last[16];
    _mm_storeu_si128((__m128i *)last, x0);
    return crc_tables(crc_tables(0, last, 16), p, n);
}
#endif

uint32_t wm_crc32(uint32_t crc, const void *data, size_t n) {
    pthread_once(&once, init_tables);
#ifdef HAVE_CLMUL
    if (use_clmul && n >= 64) return ~crc_clmul(~crc, data, n);
#endif
    return ~crc_tables(~crc, data, n);
}
