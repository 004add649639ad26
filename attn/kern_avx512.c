/*
 * kern_avx512.c - the engine's inner loops for AVX-512 (F, BW, VL, DQ;
 * compiled with those flags; called only when the CPU and the OS have them).
 *
 * The body is kern_body_pvt.h, the same code as the AVX2 path with 16 lanes.
 * bf16 is widened by a shift and fp16 by vcvtph2ps, both exact; the
 * AVX512-BF16 dot product and AVX512-FP16 arithmetic are deliberately not
 * used, because they round the query or the products to 16 bits, which would
 * break fp32 accuracy and the certified bound on dropped mass.
 */
#include "config.h"

#include <immintrin.h>

#include "attn/attn.h"

#define KERN_VW 16
#define KERN_ACC 16		/* 32 registers: blocks of 4 rows x 64 tokens */
/* The V pass takes 2 rows x 128 dimensions per block (d = 128), so it walks
 * each V page once in address order, as the hardware prefetchers like; with
 * 4 rows x 64 dimensions it touched half of every 256-byte row per pass and
 * read 20-25% less per second from DRAM (measured on a Zen 5 core). */
#define KERN_VROWS 2
typedef __m512 vf;
typedef __mmask16 vmask;

#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps(p, v)
#define V_LOAD_BF16(p) _mm512_castsi512_ps(_mm512_slli_epi32(		\
	_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))
/* unpack{lo,hi}(0, x) per 128-bit lane: lo holds elements 0-3, 8-11, 16-19,
 * 24-27 and hi 4-7, 12-15, 20-23, 28-31; one two-source permute each puts
 * them back in order. */
#define V_LOAD_BF16X2(p, lo, hi) do {					\
		__m512i x_ = _mm512_loadu_si512((const void *)(p));	\
		lo = _mm512_castsi512_ps(_mm512_unpacklo_epi16(_mm512_setzero_si512(), x_)); \
		hi = _mm512_castsi512_ps(_mm512_unpackhi_epi16(_mm512_setzero_si512(), x_)); \
	} while (0)
#define V_PAIR_NATURAL(a, b) do {					\
		__m512 t_ = _mm512_permutex2var_ps(a, _mm512_setr_epi32(	\
			0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23), b); \
		b = _mm512_permutex2var_ps(a, _mm512_setr_epi32(		\
			8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31), b); \
		a = t_;							\
	} while (0)
#define V_LOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define V_ADD _mm512_add_ps
#define V_SUB _mm512_sub_ps
#define V_MUL _mm512_mul_ps
#define V_MAX _mm512_max_ps
#define V_MIN _mm512_min_ps
#define V_ABS(a) _mm512_abs_ps(a)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_HSUM(v) _mm512_reduce_add_ps(v)
#define V_HMAX(v) _mm512_reduce_max_ps(v)
#define V_ROUND(v) _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_POW2I(n) _mm512_castsi512_ps(_mm512_slli_epi32(			\
	_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23))
#define V_LT(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define V_SEL(m, a, b) _mm512_mask_blend_ps(m, b, a)
#define V_BITS(m) ((unsigned)(m))
#define V_STORE_I32T(p, v) _mm512_storeu_si512((void *)(p), _mm512_cvttps_epi32(v))
#define KERN_TABLE attn_kern_avx512
#define KERN_NAME "avx512"

#include "attn/kern_body_pvt.h"
