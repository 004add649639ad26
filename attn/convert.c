/* convert.c - bf16/fp16 <-> fp32, round to nearest even, by bit manipulation
 * so the result does not depend on the compiler or the FPU mode. */
#include "config.h"

#include <string.h>

#include "attn/attn.h"

static uint32_t
f32_bits(float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof(u));
	return u;
}

static float
bits_f32(uint32_t u)
{
	float x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

size_t
attn_dtype_size(enum attn_dtype dt)
{
	switch (dt) {
	case ATTN_F32:
		return 4;
	case ATTN_BF16:
	case ATTN_F16:
		return 2;
	}
	return 0;
}

const char *
attn_dtype_name(enum attn_dtype dt)
{
	switch (dt) {
	case ATTN_F32:
		return "f32";
	case ATTN_BF16:
		return "bf16";
	case ATTN_F16:
		return "f16";
	}
	return NULL;
}

uint16_t
attn_f32_to_bf16(float x)
{
	uint32_t u = f32_bits(x);

	if ((u & 0x7fffffffu) > 0x7f800000u)	/* NaN: keep sign, set quiet bit */
		return (uint16_t)((u >> 16) | 0x0040u);
	/* Adding 0x7fff plus the lowest kept bit rounds half to even; a carry
	 * out of the mantissa bumps the exponent, up to infinity. */
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

float
attn_bf16_to_f32(uint16_t h)
{
	return bits_f32((uint32_t)h << 16);
}

/* Shift @m right by @s (1..31), rounding half to even. */
static uint32_t
shift_rne(uint32_t m, unsigned s)
{
	uint32_t rem = m & ((1u << s) - 1u), half = 1u << (s - 1);
	uint32_t r = m >> s;

	if (rem > half || (rem == half && (r & 1u)))
		r++;
	return r;
}

uint16_t
attn_f32_to_f16(float x)
{
	uint32_t u = f32_bits(x);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
	uint32_t a = u & 0x7fffffffu;
	uint32_t e = a >> 23, m = a & 0x7fffffu;

	if (a > 0x7f800000u)			/* NaN: quiet, keep top payload */
		return sign | 0x7e00u | (uint16_t)(m >> 13);
	if (a >= 0x477ff000u)			/* >= 65520 rounds to infinity */
		return sign | 0x7c00u;
	if (a <= 0x33000000u)			/* <= 2^-25 rounds to zero */
		return sign;
	if (a < 0x38800000u)			/* fp16 subnormal: round(x * 2^24) */
		return sign | (uint16_t)shift_rne(m | 0x800000u, 126u - e);
	/* Normal; a mantissa carry moves into the exponent, which is right. */
	return sign | (uint16_t)shift_rne(((e - 112u) << 23) | m, 13);
}

float
attn_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;

	if (e == 0x1f)				/* Inf or NaN */
		return bits_f32(sign | 0x7f800000u | (m << 13));
	if (e == 0) {
		if (m == 0)
			return bits_f32(sign);
		/* Subnormal: m * 2^-24 is exact in fp32. */
		float v = (float)m * 0x1p-24f;
		return sign ? -v : v;
	}
	return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

void
attn_to_f32(enum attn_dtype dt, const void *src, float *dst, size_t n)
{
	const uint16_t *h = src;

	switch (dt) {
	case ATTN_F32:
		memcpy(dst, src, n * sizeof(float));
		break;
	case ATTN_BF16:
		for (size_t i = 0; i < n; i++)
			dst[i] = attn_bf16_to_f32(h[i]);
		break;
	case ATTN_F16:
		for (size_t i = 0; i < n; i++)
			dst[i] = attn_f16_to_f32(h[i]);
		break;
	}
}

void
attn_from_f32(enum attn_dtype dt, const float *src, void *dst, size_t n)
{
	uint16_t *h = dst;

	switch (dt) {
	case ATTN_F32:
		memcpy(dst, src, n * sizeof(float));
		break;
	case ATTN_BF16:
		for (size_t i = 0; i < n; i++)
			h[i] = attn_f32_to_bf16(src[i]);
		break;
	case ATTN_F16:
		for (size_t i = 0; i < n; i++)
			h[i] = attn_f32_to_f16(src[i]);
		break;
	}
}
