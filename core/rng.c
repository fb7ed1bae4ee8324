/* xoshiro256** seeded through splitmix64 (see rng.h). */
#include "core/rng.h"

#include <math.h>

uint64_t wm_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t wm_seed_derive(uint64_t a, uint64_t b) {
    uint64_t s = a;
    uint64_t h = wm_splitmix64(&s);
    s = h ^ (b * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
    return wm_splitmix64(&s);
}

void wm_rng_seed(WmRng *r, uint64_t seed, uint64_t stream) {
    uint64_t s = wm_seed_derive(seed, stream);
    for (int i = 0; i < 4; i++) r->s[i] = wm_splitmix64(&s);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1; /* the one forbidden state */
}

WmRng wm_rng_split(const WmRng *parent, uint64_t i) {
    WmRng c;
    uint64_t key = parent->s[0] ^ (parent->s[1] << 1) ^ (parent->s[2] << 2) ^ (parent->s[3] << 3);
    wm_rng_seed(&c, key, i);
    return c;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t wm_rng_u64(WmRng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t wm_rng_u32(WmRng *r) { return (uint32_t)(wm_rng_u64(r) >> 32); }

double wm_rng_uniform(WmRng *r) { return (double)(wm_rng_u64(r) >> 11) * 0x1.0p-53; }

float wm_rng_uniformf(WmRng *r) { return (float)(wm_rng_u64(r) >> 40) * 0x1.0p-24f; }

double wm_rng_range(WmRng *r, double lo, double hi) { return lo + (hi - lo) * wm_rng_uniform(r); }

int64_t wm_rng_pick(const float *w, size_t count, double u) {
    double total = 0;
    for (size_t i = 0; i < count; i++)
        total += w[i];
    if (!(total > 0)) return -1;
    double target = u * total, acc = 0;
    int64_t last = -1;
    for (size_t i = 0; i < count; i++) {
        if (w[i] <= 0) continue;
        acc += w[i];
        last = (int64_t)i;
        if (acc > target) return last;
    }
    return last; /* u * total at the very top of the rounding */
}

uint32_t wm_rng_below(WmRng *r, uint32_t n) {
    uint64_t m = (uint64_t)wm_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)wm_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double wm_rng_normal(WmRng *r) {
    double u1 = 1.0 - wm_rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = wm_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
