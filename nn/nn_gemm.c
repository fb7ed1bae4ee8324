/* The engine's own single-threaded GEMM for x86-64 CPUs with AVX-512: packed panels
 * and a register-blocked microkernel, in float (FMA) or with bfloat16 products
 * (vdpbf16ps, AVX512_BF16) summed in float. It lets the hot products run at the
 * CPU's full width whatever kernels OpenBLAS picked (OPENBLAS_CORETYPE=Haswell on an
 * AVX-512 CPU halves sgemm), and it is the only bf16 path.
 *
 * Layout (BLIS-style): C[m, n] is cut into NC columns x KC depth blocks of B, packed
 * into NR-column panels that stay in L2, and MC x KC blocks of A packed into MR-row
 * panels that stay in L1 while the microkernel sweeps the B panels; the kernel keeps
 * an MR x NR tile of C in 24 vector registers. Every element of C is summed in one
 * fixed order (depth blocks in order, each a sequence of FMAs), so the result does
 * not depend on timing, on how callers split C, or on anything but the CPU's
 * instruction set, which is fixed for a machine.
 *
 * bf16: each product's inputs are rounded to bfloat16 (nearest, ties to even) while
 * packing; pairs of depth steps go into one 32-bit lane and vdpbf16ps adds both
 * products into a float sum per lane. Weights and activations stay float in memory.
 *
 * Every function with vector code carries its own target attribute: the file builds
 * for any x86-64 and the caller checks the CPU (nn_gemm_own_ok) before calling.
 *
 * The packed blocks live on the calling thread's stack (about 660 KiB in float, half
 * in bf16): nothing is allocated per call, and every thread that runs products
 * (the pool's, the trainer's, default pthread stacks of 8 MiB) has room for them. */
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "nn/nn_impl.h"

#if !defined(NN_REAL_DOUBLE) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HAVE_OWN_GEMM 1
#include <immintrin.h>

#define MR 8   /* rows of C per microkernel tile */
#define NR 48  /* columns: three 16-float vectors */
#define KC 256 /* depth per packed block (even, for bf16 pairs) */
#define MC 128 /* rows of A per packed block */
#define NC 528 /* columns of B per packed block, a multiple of NR: KC x NC floats = 528 KiB (L2) */

_Static_assert(NC % NR == 0 && MC % MR == 0 && KC % 2 == 0, "blocks hold whole panels");

#define T_F32  __attribute__((target("avx512f,fma")))
#define T_BF16 __attribute__((target("avx512f,avx512bw,avx512bf16,fma")))

int nn_gemm_own_ok(int bf16) {
    static int avx512 = -1, bf = -1;
    if (avx512 < 0) {
        __builtin_cpu_init();
        avx512 = __builtin_cpu_supports("avx512f") != 0;
        bf = avx512 && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512bf16");
    }
    return bf16 ? bf : avx512;
}

/* float -> bfloat16 bits, round to nearest even (NaN stays NaN). */
static inline uint32_t bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
    if (!(u & 0x7f800000u)) return (u >> 16) & 0x8000u; /* subnormals flush to zero, as vcvtne2ps2bf16 */
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

float nn_bf16_round(float x) {
    uint32_t u = bf16_bits(x) << 16;
    float y;
    memcpy(&y, &u, sizeof y);
    return y;
}

static inline float elem(int t, const float *x, int ld, int r, int c) {
    return t ? x[(size_t)c * ld + r] : x[(size_t)r * ld + c];
}

/* ---------------------------------------------------------------- transposes */

/* r[i] holds 16 values x[i][0..16) of row i (8 rows); out[v] = x[0..8)[2v] then
 * x[0..8)[2v+1]: the 8 x 16 block transposed, two columns per vector. Three rounds of
 * two-source permutes: 32-bit, 64-bit and 128-bit interleaves. */
T_F32 static inline void tr8x16(const __m512i r[8], __m512i out[8]) {
    const __m512i lo32 = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi32 = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    const __m512i lo64 = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
    const __m512i hi64 = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
    const __m512i lo128 = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
    const __m512i hi128 = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
    __m512i t[8], u[8];
    for (int i = 0; i < 4; i++) { /* t[2i]: rows 2i,2i+1 at columns 0..7; t[2i+1]: 8..15 */
        t[2 * i] = _mm512_permutex2var_epi32(r[2 * i], lo32, r[2 * i + 1]);
        t[2 * i + 1] = _mm512_permutex2var_epi32(r[2 * i], hi32, r[2 * i + 1]);
    }
    /* u[4h + 2g + s]: rows 4h..4h+3, columns 8g + 4s .. +4 */
    for (int h = 0; h < 2; h++)
        for (int g = 0; g < 2; g++) {
            const __m512i a = t[4 * h + g], b = t[4 * h + 2 + g];
            u[4 * h + 2 * g] = _mm512_permutex2var_epi64(a, lo64, b);
            u[4 * h + 2 * g + 1] = _mm512_permutex2var_epi64(a, hi64, b);
        }
    /* out: columns 4c .. 4c+4 come from u[c] (rows 0..3) and u[4 + c] (rows 4..7) */
    for (int c = 0; c < 4; c++) {
        out[2 * c] = _mm512_permutex2var_epi64(u[c], lo128, u[4 + c]);
        out[2 * c + 1] = _mm512_permutex2var_epi64(u[c], hi128, u[4 + c]);
    }
}

/* dst[p*MR + i] = src[i*ld + p] for i < 8, p < 16 (32-bit elements). */
T_F32 static inline void pack8x16(uint32_t *dst, const void *src, int ld, int stride_out) {
    __m512i r[8], o[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm512_loadu_si512((const uint32_t *)src + (size_t)i * ld);
    tr8x16(r, o);
    if (stride_out == 8) {
        for (int v = 0; v < 8; v++)
            _mm512_storeu_si512(dst + 16 * v, o[v]);
    } else {
        for (int v = 0; v < 8; v++) {
            _mm256_storeu_si256((__m256i *)(dst + (size_t)(2 * v) * stride_out), _mm512_castsi512_si256(o[v]));
            _mm256_storeu_si256((__m256i *)(dst + (size_t)(2 * v + 1) * stride_out),
                                _mm512_extracti64x4_epi64(o[v], 1));
        }
    }
}

/* ---------------------------------------------------------------- packing, float */

/* A rows [i0, i0+mc) x depth [p0, p0+kc) into MR-row panels: dst[p*MR + i]. */
T_F32 static void pack_a_f32(float *dst, int ta, const float *a, int lda, int i0, int mc, int p0, int kc) {
    for (int r = 0; r < mc; r += MR, dst += (size_t)MR * kc) {
        const int mr = mc - r < MR ? mc - r : MR;
        if (!ta && mr == MR) {
            int p = 0;
            for (; p + 16 <= kc; p += 16)
                pack8x16((uint32_t *)(dst + p * MR), a + (size_t)(i0 + r) * lda + p0 + p, lda, MR);
            for (; p < kc; p++)
                for (int i = 0; i < MR; i++)
                    dst[p * MR + i] = a[(size_t)(i0 + r + i) * lda + p0 + p];
        } else if (!ta) {
            for (int i = 0; i < MR; i++) {
                const float *src = a + (size_t)(i0 + r + i) * lda + p0;
                if (i < mr)
                    for (int p = 0; p < kc; p++)
                        dst[p * MR + i] = src[p];
                else
                    for (int p = 0; p < kc; p++)
                        dst[p * MR + i] = 0;
            }
        } else {
            for (int p = 0; p < kc; p++) {
                const float *src = a + (size_t)(p0 + p) * lda + i0 + r;
                for (int i = 0; i < MR; i++)
                    dst[p * MR + i] = i < mr ? src[i] : 0;
            }
        }
    }
}

/* B depth [p0, p0+kc) x columns [j0, j0+nc) into NR-column panels: dst[p*NR + j]. */
T_F32 static void pack_b_f32(float *dst, int tb, const float *b, int ldb, int p0, int kc, int j0, int nc) {
    for (int s = 0; s < nc; s += NR, dst += (size_t)NR * kc) {
        const int nr = nc - s < NR ? nc - s : NR;
        if (!tb) {
            __mmask16 mk[3];
            for (int v = 0; v < 3; v++) {
                const int left = nr - 16 * v;
                mk[v] = left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
            }
            for (int p = 0; p < kc; p++) {
                const float *src = b + (size_t)(p0 + p) * ldb + j0 + s;
                float *d = dst + p * NR;
                for (int v = 0; v < 3; v++)
                    _mm512_store_ps(d + 16 * v, _mm512_maskz_loadu_ps(mk[v], src + 16 * v));
            }
        } else {
            int j = 0, p = 0;
            for (; j + 8 <= nr; j += 8) {
                const float *src = b + (size_t)(j0 + s + j) * ldb + p0;
                for (p = 0; p + 16 <= kc; p += 16)
                    pack8x16((uint32_t *)(dst + p * NR + j), src + p, ldb, NR);
                for (; p < kc; p++)
                    for (int i = 0; i < 8; i++)
                        dst[p * NR + j + i] = src[(size_t)i * ldb + p];
            }
            for (; j < NR; j++) {
                const float *src = b + (size_t)(j0 + s + j) * ldb + p0;
                if (j < nr)
                    for (int q = 0; q < kc; q++)
                        dst[q * NR + j] = src[q];
                else
                    for (int q = 0; q < kc; q++)
                        dst[q * NR + j] = 0;
            }
        }
    }
}

/* ---------------------------------------------------------------- packing, bf16 */

/* Pairs of depth steps in one 32-bit lane: low half step 2q, high half 2q+1 (zero
 * past kc). A: dst[q*MR + i]; B: dst[q*NR + j]. */
T_BF16 static void pack_a_bf16_fast(uint32_t *dst, int ta, const float *a, int lda, int i0, int p0, int kc);
static void pack_a_bf16(uint32_t *dst, int ta, const float *a, int lda, int i0, int mc, int p0, int kc) {
    const int kq = (kc + 1) / 2;
    for (int r = 0; r < mc; r += MR, dst += (size_t)MR * kq) {
        const int mr = mc - r < MR ? mc - r : MR;
        if (mr == MR) {
            pack_a_bf16_fast(dst, ta, a, lda, i0 + r, p0, kc);
            continue;
        }
        for (int i = 0; i < MR; i++)
            for (int q = 0; q < kq; q++) {
                uint32_t v = 0;
                if (i < mr) {
                    const int p = p0 + 2 * q;
                    v = bf16_bits(elem(ta, a, lda, i0 + r + i, p));
                    if (2 * q + 1 < kc) v |= bf16_bits(elem(ta, a, lda, i0 + r + i, p + 1)) << 16;
                }
                dst[q * MR + i] = v;
            }
    }
}

/* 32 floats x[0..32) as 16 pair words (x[2q] low half, x[2q+1] high), rounded to
 * nearest even by the CPU's conversion. */
T_BF16 static inline __m512i pairs32(const float *x) {
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(x));
}

/* 16 pair words from two rows r0 (low halves) and r1 (high halves), masked to m. */
T_BF16 static inline __m512i pairs_2rows(const float *r0, const float *r1, __mmask16 m) {
    __m512 a = _mm512_maskz_loadu_ps(m, r0), b = r1 ? _mm512_maskz_loadu_ps(m, r1) : _mm512_setzero_ps();
    /* bf16 of a in lanes 0..15, of b in 16..31; interleave the 16-bit halves */
    __m512i both = (__m512i)_mm512_cvtne2ps_pbh(b, a);
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                         22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, both);
}

/* A full panel of MR rows, depth [p0, p0+kc). */
T_BF16 static void pack_a_bf16_fast(uint32_t *dst, int ta, const float *a, int lda, int i0, int p0, int kc) {
    const int kq = (kc + 1) / 2;
    if (ta) { /* rows of the stored matrix are depth steps: two of them per pair */
        for (int q = 0; q < kq; q++) {
            const float *r0 = a + (size_t)(p0 + 2 * q) * lda + i0;
            __m512i v = pairs_2rows(r0, 2 * q + 1 < kc ? r0 + lda : NULL, 0xff);
            _mm256_storeu_si256((__m256i *)(dst + (size_t)q * MR), _mm512_castsi512_si256(v));
        }
        return;
    }
    int q = 0;
    for (; 2 * q + 32 <= kc; q += 16) {
        __m512i r[8], o[8];
        for (int i = 0; i < 8; i++)
            r[i] = pairs32(a + (size_t)(i0 + i) * lda + p0 + 2 * q);
        tr8x16(r, o);
        for (int v = 0; v < 8; v++)
            _mm512_storeu_si512(dst + (size_t)q * MR + 16 * v, o[v]);
    }
    for (; q < kq; q++)
        for (int i = 0; i < MR; i++) {
            const float *x = a + (size_t)(i0 + i) * lda + p0 + 2 * q;
            dst[q * MR + i] = bf16_bits(x[0]) | (2 * q + 1 < kc ? bf16_bits(x[1]) << 16 : 0);
        }
}

T_BF16 static void pack_b_bf16(uint32_t *dst, int tb, const float *b, int ldb, int p0, int kc, int j0, int nc) {
    const int kq = (kc + 1) / 2;
    for (int s = 0; s < nc; s += NR, dst += (size_t)NR * kq) {
        const int nr = nc - s < NR ? nc - s : NR;
        if (!tb) {
            for (int q = 0; q < kq; q++) {
                const float *r0 = b + (size_t)(p0 + 2 * q) * ldb + j0 + s;
                const float *r1 = 2 * q + 1 < kc ? r0 + ldb : NULL;
                uint32_t *d = dst + q * NR;
                for (int v = 0; v < NR; v += 16) {
                    const int left = nr - v;
                    const __mmask16 m =
                        left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
                    _mm512_storeu_si512(d + v, pairs_2rows(r0 + v, r1 ? r1 + v : NULL, m));
                }
            }
        } else {
            int j = 0;
            for (; j + 8 <= nr; j += 8) {
                const float *src = b + (size_t)(j0 + s + j) * ldb + p0;
                int q = 0;
                for (; 2 * q + 32 <= kc; q += 16) {
                    __m512i r[8], o[8];
                    for (int i = 0; i < 8; i++)
                        r[i] = pairs32(src + (size_t)i * ldb + 2 * q);
                    tr8x16(r, o);
                    for (int v = 0; v < 8; v++) {
                        _mm256_storeu_si256((__m256i *)(dst + (size_t)(q + 2 * v) * NR + j), _mm512_castsi512_si256(o[v]));
                        _mm256_storeu_si256((__m256i *)(dst + (size_t)(q + 2 * v + 1) * NR + j),
                                            _mm512_extracti64x4_epi64(o[v], 1));
                    }
                }
                for (; q < kq; q++)
                    for (int i = 0; i < 8; i++) {
                        const float *x = src + (size_t)i * ldb + 2 * q;
                        dst[q * NR + j + i] = bf16_bits(x[0]) | (2 * q + 1 < kc ? bf16_bits(x[1]) << 16 : 0);
                    }
            }
            for (; j < NR; j++) {
                const float *src = b + (size_t)(j0 + s + j) * ldb + p0;
                for (int q = 0; q < kq; q++) {
                    uint32_t v = 0;
                    if (j < nr) {
                        v = bf16_bits(src[2 * q]);
                        if (2 * q + 1 < kc) v |= bf16_bits(src[2 * q + 1]) << 16;
                    }
                    dst[q * NR + j] = v;
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- microkernels */

/* C[0..mr) x [0..nr) = alpha * acc + beta * C when first (C not read when beta is
 * 0), else C += alpha * acc. */
#define STORE_TILE()                                                                               \
    do {                                                                                           \
        __mmask16 mk[3];                                                                           \
        for (int v = 0; v < 3; v++) {                                                              \
            const int left = nr - 16 * v;                                                          \
            mk[v] = left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1); \
        }                                                                                          \
        const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                        \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) if (i < mr)                           \
            for (int v = 0; v < 3; v++) {                                                          \
                float *cp = c + (size_t)i * ldc + 16 * v;                                          \
                __m512 r = _mm512_mul_ps(va, acc[i][v]);                                           \
                if (!first)                                                                        \
                    r = _mm512_add_ps(_mm512_maskz_loadu_ps(mk[v], cp), r);                        \
                else if (beta != 0)                                                                \
                    r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk[v], cp), r);                  \
                _mm512_mask_storeu_ps(cp, mk[v], r);                                               \
            }                                                                                      \
    } while (0)

T_F32 static void kernel_f32(int kc, const float *ap, const float *bp, float *c, int ldc, int mr, int nr,
                             float alpha, float beta, int first) {
    __m512 acc[MR][3];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
    for (int p = 0; p < kc; p++, ap += MR, bp += NR) {
        const __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16), b2 = _mm512_load_ps(bp + 32);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            const __m512 a = _mm512_set1_ps(ap[i]);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(a, b2, acc[i][2]);
        }
    }
    STORE_TILE();
}

T_BF16 static void kernel_bf16(int kq, const uint32_t *ap, const uint32_t *bp, float *c, int ldc, int mr,
                               int nr, float alpha, float beta, int first) {
    __m512 acc[MR][3];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
    for (int q = 0; q < kq; q++, ap += MR, bp += NR) {
        const __m512bh b0 = (__m512bh)_mm512_load_si512(bp), b1 = (__m512bh)_mm512_load_si512(bp + 16),
                       b2 = (__m512bh)_mm512_load_si512(bp + 32);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            const __m512bh a = (__m512bh)_mm512_set1_epi32((int)ap[i]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], a, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], a, b1);
            acc[i][2] = _mm512_dpbf16_ps(acc[i][2], a, b2);
        }
    }
    STORE_TILE();
}

/* ---------------------------------------------------------------- drivers */

/* The blocked loops around a microkernel, written once for both element types: a panel
 * of B (KC x NC, for L2) and one of A (MC x KC) packed as the kernel reads them, then
 * MR x NR tiles of C. T is the packed element and KS the k values one holds (a float: 1;
 * a pair of bf16 in 32 bits: 2), so a panel of depth kc is kq = ceil(kc / KS) deep. */
#define GEMM_BLOCKED(name, T, KS, pack_a, pack_b, kernel)                                                     \
    static void name(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, \
                     int ldb, float beta, float *c, int ldc) {                                                 \
        _Alignas(64) T ap[MC * KC / KS];                                                                        \
        _Alignas(64) T bp[KC / KS * NC];                                                                        \
        for (int jc = 0; jc < n; jc += NC) {                                                                    \
            const int nc = n - jc < NC ? n - jc : NC;                                                           \
            for (int pc = 0; pc < k; pc += KC) {                                                                \
                const int kc = k - pc < KC ? k - pc : KC, kq = (kc + KS - 1) / KS;                              \
                pack_b(bp, tb, b, ldb, pc, kc, jc, nc);                                                         \
                for (int ic = 0; ic < m; ic += MC) {                                                            \
                    const int mc = m - ic < MC ? m - ic : MC;                                                   \
                    pack_a(ap, ta, a, lda, ic, mc, pc, kc);                                                     \
                    for (int ir = 0; ir < mc; ir += MR)                                                         \
                        for (int jr = 0; jr < nc; jr += NR)                                                     \
                            kernel(kq, ap + (size_t)ir * kq, bp + (size_t)jr * kq,                              \
                                   c + (size_t)(ic + ir) * ldc + jc + jr, ldc, mc - ir < MR ? mc - ir : MR,     \
                                   nc - jr < NR ? nc - jr : NR, alpha, beta, pc == 0);                          \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
    }

GEMM_BLOCKED(gemm_f32, float, 1, pack_a_f32, pack_b_f32, kernel_f32)
GEMM_BLOCKED(gemm_bf16, uint32_t, 2, pack_a_bf16, pack_b_bf16, kernel_bf16)

void nn_gemm_own(int bf16, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
    WM_ASSERT(nn_gemm_own_ok(bf16) && m > 0 && n > 0 && k > 0);
    if (bf16)
        gemm_bf16(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        gemm_f32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#else /* no own GEMM: double builds, other compilers or CPUs */

int nn_gemm_own_ok(int bf16) {
    (void)bf16;
    return 0;
}

float nn_bf16_round(float x) {
    return x;
}

void nn_gemm_own(int bf16, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
    (void)bf16, (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b;
    (void)ldb, (void)beta, (void)c, (void)ldc;
    WM_ASSERT(!"the engine's own GEMM is not built here");
}

#endif
