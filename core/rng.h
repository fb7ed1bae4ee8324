/* Reproducible random numbers: xoshiro256** (Blackman & Vigna), seeded through
 * splitmix64 from a (seed, stream) pair.
 *
 * Every consumer that needs its own sequence (a shard, a sequence within it, a
 * thread, a dropout layer) derives a stream from the run seed and its own index:
 *     WmRng r; wm_rng_seed(&r, seed, wm_seed_derive(shard, seq));
 * The state is hashed from both numbers, so neighbouring streams are unrelated and
 * the result never depends on how many numbers another stream drew. */
#ifndef WM_RNG_H
#define WM_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} WmRng;

uint64_t wm_splitmix64(uint64_t *state);
/* The 64-bit finaliser of MurmurHash3: a fixed bijection that spreads every input bit
 * over the output (hash tables keyed by integers). */
static inline uint64_t wm_mix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}
/* A well-mixed 64-bit key from two (use it to build stream ids from indices). */
uint64_t wm_seed_derive(uint64_t a, uint64_t b);
void wm_rng_seed(WmRng *r, uint64_t seed, uint64_t stream);
/* A child generator for index i, independent of the parent's future draws. */
WmRng wm_rng_split(const WmRng *parent, uint64_t i);

uint64_t wm_rng_u64(WmRng *r);
uint32_t wm_rng_u32(WmRng *r);
/* Uniform in [0, 1) with 53 (double) or 24 (float) random bits. */
double wm_rng_uniform(WmRng *r);
float wm_rng_uniformf(WmRng *r);
/* Uniform in [lo, hi). */
double wm_rng_range(WmRng *r, double lo, double hi);
/* Uniform integer in [0, n), unbiased (Lemire's method); n > 0. */
uint32_t wm_rng_below(WmRng *r, uint32_t n);
/* Index i with probability w[i] / sum(w) for u uniform in [0, 1) (inverse CDF,
 * accumulated in double in index order, entries <= 0 never picked); -1 when w has no
 * mass. */
int64_t wm_rng_pick(const float *w, size_t count, double u);
/* Standard normal (Box-Muller, one draw per call so the state stays a plain struct). */
double wm_rng_normal(WmRng *r);

#endif
