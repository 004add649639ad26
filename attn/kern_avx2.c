/* kern_avx2.c - the engine's inner loops for AVX2 + FMA + F16C (compiled
 * with -mavx2 -mfma -mf16c; called only when the CPU has all three). */
#include "config.h"

#include <immintrin.h>

#include "attn/attn.h"

#define KERN_VW 8
#define KERN_ACC 12		/* blocks of 4 rows x 24 tokens */
typedef __m256 vf;
typedef __m256 vmask;

static inline float
avx2_hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

static inline float
avx2_hmax(__m256 v)
{
	__m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_max_ps(s, _mm_movehl_ps(s, s));
	s = _mm_max_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps(p, v)
/* bf16 -> fp32 is exact: widen the 16 bits and shift them to the top. */
#define V_LOAD_BF16(p) _mm256_castsi256_ps(_mm256_slli_epi32(		\
	_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
/* unpack{lo,hi}(0, x) puts bf16 element i in the top half of a 32-bit lane:
 * lo holds elements 0-3 and 8-11, hi 4-7 and 12-15. */
#define V_LOAD_BF16X2(p, lo, hi) do {					\
		__m256i x_ = _mm256_loadu_si256((const __m256i *)(p));	\
		lo = _mm256_castsi256_ps(_mm256_unpacklo_epi16(_mm256_setzero_si256(), x_)); \
		hi = _mm256_castsi256_ps(_mm256_unpackhi_epi16(_mm256_setzero_si256(), x_)); \
	} while (0)
#define V_PAIR_NATURAL(a, b) do {					\
		__m256 t_ = _mm256_permute2f128_ps(a, b, 0x20);		\
		b = _mm256_permute2f128_ps(a, b, 0x31);			\
		a = t_;							\
	} while (0)
#define V_LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_MAX _mm256_max_ps
#define V_MIN _mm256_min_ps
#define V_ABS(a) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_HSUM(v) avx2_hsum(v)
#define V_HMAX(v) avx2_hmax(v)
#define V_ROUND(v) _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_POW2I(n) _mm256_castsi256_ps(_mm256_slli_epi32(			\
	_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23))
#define V_LT(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define V_SEL(m, a, b) _mm256_blendv_ps(b, a, m)
#define V_BITS(m) ((unsigned)_mm256_movemask_ps(m))
#define V_STORE_I32T(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), _mm256_cvttps_epi32(v))
#define KERN_TABLE attn_kern_avx2
#define KERN_NAME "avx2"

#include "attn/kern_body_pvt.h"
