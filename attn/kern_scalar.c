/* kern_scalar.c - the engine's inner loops in portable C: the body of the
 * vector paths with one lane, for CPUs without AVX2 and as a check. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "attn/attn.h"

#define KERN_VW 1
typedef float vf;
typedef int vmask;

static inline float
sc_bits(uint32_t u)
{
	float x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

/* Round to nearest even for |x| < 2^22 (all the exponent needs). */
static inline float
sc_round(float x)
{
	const float big = 12582912.0f;		/* 1.5 * 2^23 */

	return (x + big) - big;		/* not reassociated without -ffast-math */
}

#define V_ZERO() 0.0f
#define V_SET1(x) ((float)(x))
#define V_LOAD(p) (*(p))
#define V_STORE(p, v) (*(p) = (v))
#define V_LOAD_BF16(p) sc_bits((uint32_t)*(p) << 16)
#define V_LOAD_BF16X2(p, lo, hi) do {					\
		lo = V_LOAD_BF16(p);					\
		hi = V_LOAD_BF16((p) + 1);				\
	} while (0)
#define V_PAIR_NATURAL(a, b) do { } while (0)
#define V_LOAD_F16(p) attn_f16_to_f32(*(p))
#define V_ADD(a, b) ((a) + (b))
#define V_SUB(a, b) ((a) - (b))
#define V_MUL(a, b) ((a) * (b))
#define V_MAX(a, b) ((a) > (b) ? (a) : (b))
#define V_MIN(a, b) ((a) < (b) ? (a) : (b))
#define V_ABS(a) fabsf(a)
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_HSUM(v) (v)
#define V_HMAX(v) (v)
#define V_ROUND(v) sc_round(v)
#define V_POW2I(n) sc_bits((uint32_t)((int32_t)(n) + 127) << 23)
#define V_LT(a, b) ((a) < (b))
#define V_SEL(m, a, b) ((m) ? (a) : (b))
#define V_BITS(m) ((unsigned)((m) != 0))
#define V_STORE_I32T(p, v) (*(p) = (int32_t)(v))
#define KERN_TABLE attn_kern_scalar
#define KERN_NAME "scalar"

#include "attn/kern_body_pvt.h"
