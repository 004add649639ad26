/* attn_convert - bf16/fp16 conversions against known bit patterns. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "attn/attn.h"
#include "tests/ref64.h"
#include "tests/tap.h"

static float
from_bits(uint32_t u)
{
	float x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

static uint32_t
to_bits(float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof(u));
	return u;
}

struct down_case {
	const char *what;
	uint32_t f32;
	uint16_t want;
};

static const struct down_case bf16_cases[] = {
	{ "+0", 0x00000000, 0x0000 },
	{ "-0", 0x80000000, 0x8000 },
	{ "1.0", 0x3f800000, 0x3f80 },
	{ "-2.0", 0xc0000000, 0xc000 },
	{ "tie, even below: 1+2^-8", 0x3f808000, 0x3f80 },
	{ "tie, odd below rounds up", 0x3f818000, 0x3f82 },
	{ "just above tie", 0x3f808001, 0x3f81 },
	{ "just below tie", 0x3f807fff, 0x3f80 },
	{ "+inf", 0x7f800000, 0x7f80 },
	{ "-inf", 0xff800000, 0xff80 },
	{ "max float rounds to inf", 0x7f7fffff, 0x7f80 },
	{ "largest bf16", 0x7f7f0000, 0x7f7f },
	{ "quiet NaN", 0x7fc00000, 0x7fc0 },
	{ "signalling NaN is quieted", 0x7f800001, 0x7fc0 },
	{ "negative NaN keeps sign", 0xffc00000, 0xffc0 },
	{ "smallest f32 subnormal rounds to 0", 0x00000001, 0x0000 },
	{ "f32 subnormal kept", 0x00010000, 0x0001 },
	{ "subnormal tie to even", 0x00018000, 0x0002 },
};

static const struct down_case f16_cases[] = {
	{ "+0", 0x00000000, 0x0000 },
	{ "-0", 0x80000000, 0x8000 },
	{ "1.0", 0x3f800000, 0x3c00 },
	{ "-2.0", 0xc0000000, 0xc000 },
	{ "65504 (max)", 0x477fe000, 0x7bff },
	{ "65519 rounds to max", 0x477fefff, 0x7bff },
	{ "65520 rounds to inf", 0x477ff000, 0x7c00 },
	{ "1e6 overflows", 0x49742400, 0x7c00 },
	{ "+inf", 0x7f800000, 0x7c00 },
	{ "-inf", 0xff800000, 0xfc00 },
	{ "NaN", 0x7fc00000, 0x7e00 },
	{ "-NaN", 0xffc00000, 0xfe00 },
	{ "signalling NaN quieted", 0x7f800001, 0x7e00 },
	{ "2^-14 smallest normal", 0x38800000, 0x0400 },
	{ "2^-24 smallest subnormal", 0x33800000, 0x0001 },
	{ "2^-25 ties to 0", 0x33000000, 0x0000 },
	{ "just above 2^-25 rounds up", 0x33000001, 0x0001 },
	{ "1.5*2^-24 ties to even 2", 0x33c00000, 0x0002 },
	{ "largest subnormal", 0x387fc000, 0x03ff },
	{ "tie 1+2^-11 to even", 0x3f801000, 0x3c00 },
	{ "tie 1+3*2^-11 to even (up)", 0x3f803000, 0x3c02 },
	{ "just above tie", 0x3f801001, 0x3c01 },
	{ "subnormal rounding carries to normal", 0x387ff000, 0x0400 },
	{ "1/3", 0x3eaaaaab, 0x3555 },
};

struct up_case {
	const char *what;
	uint16_t h;
	uint32_t want;
};

static const struct up_case f16_up[] = {
	{ "1.0", 0x3c00, 0x3f800000 },
	{ "-0", 0x8000, 0x80000000 },
	{ "max", 0x7bff, 0x477fe000 },
	{ "smallest subnormal", 0x0001, 0x33800000 },
	{ "largest subnormal", 0x03ff, 0x387fc000 },
	{ "negative subnormal", 0x8001, 0xb3800000 },
	{ "inf", 0x7c00, 0x7f800000 },
	{ "-inf", 0xfc00, 0xff800000 },
};

static void
check_down(const char *name, uint16_t (*fn)(float), const struct down_case *c,
	   size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint16_t got = fn(from_bits(c[i].f32));
		ok(got == c[i].want, "%s %s: 0x%08x -> 0x%04x (want 0x%04x)", name,
		   c[i].what, c[i].f32, got, c[i].want);
	}
}

/* Every bf16 and fp16 value survives a round trip through fp32 (NaNs stay
 * NaN), and every array conversion agrees with the scalar one. */
static void
check_round_trips(void)
{
	int bad_bf = 0, bad_f16 = 0;

	for (uint32_t h = 0; h <= 0xffff; h++) {
		float b = attn_bf16_to_f32((uint16_t)h), f = attn_f16_to_f32((uint16_t)h);

		if (isnan(b) ? !isnan(attn_bf16_to_f32(attn_f32_to_bf16(b)))
			     : attn_f32_to_bf16(b) != h)
			bad_bf++;
		if (isnan(f) ? !isnan(attn_f16_to_f32(attn_f32_to_f16(f)))
			     : attn_f32_to_f16(f) != h)
			bad_f16++;
	}
	ok(bad_bf == 0, "all 65536 bf16 values round-trip (%d bad)", bad_bf);
	ok(bad_f16 == 0, "all 65536 fp16 values round-trip (%d bad)", bad_f16);
}

/* Random fp32 values: the fp16 result is the nearest fp16 (checked in
 * double against both neighbours), ties excluded by probability. */
static void
check_nearest(struct rng *r)
{
	int bad = 0;

	for (int i = 0; i < 200000; i++) {
		float x = (float)(rng_normal(r) * exp2(rng_uniform(r) * 40 - 28));
		uint16_t h = attn_f32_to_f16(x);
		double got = attn_f16_to_f32(h);
		double up = attn_f16_to_f32((uint16_t)(h + 1));
		double dn = attn_f16_to_f32((uint16_t)(h - 1));
		double e = fabs(got - x);

		if ((h & 0x7fff) != 0 && (h & 0x7fff) < 0x7bff &&
		    (e > fabs(up - x) || e > fabs(dn - x)))
			bad++;
	}
	ok(bad == 0, "fp16 conversion picks the nearest value (%d bad of 200000)", bad);
}

static void
check_arrays(struct rng *r)
{
	float src[257], back[257];
	uint16_t h[257];
	int bad = 0;

	ref64_fill_normal(r, src, 257, 3.0);
	for (int dt = ATTN_BF16; dt <= ATTN_F16; dt++) {
		attn_from_f32(dt, src, h, 257);
		attn_to_f32(dt, h, back, 257);
		for (int i = 0; i < 257; i++) {
			uint16_t s = dt == ATTN_BF16 ? attn_f32_to_bf16(src[i])
						     : attn_f32_to_f16(src[i]);
			if (h[i] != s || to_bits(back[i]) != to_bits(dt == ATTN_BF16 ?
			    attn_bf16_to_f32(s) : attn_f16_to_f32(s)))
				bad++;
		}
		ok(bad == 0, "%s array conversion equals scalar", attn_dtype_name(dt));
	}
	attn_from_f32(ATTN_F32, src, back, 257);
	ok(memcmp(src, back, sizeof(src)) == 0, "f32 array conversion copies");
	ok(attn_dtype_size(ATTN_BF16) == 2 && attn_dtype_size(ATTN_F32) == 4 &&
	   attn_dtype_size((enum attn_dtype)7) == 0, "dtype sizes");
}

int
main(void)
{
	struct rng r;

	rng_seed(&r, ref64_seed());
	check_down("bf16", attn_f32_to_bf16, bf16_cases,
		   sizeof(bf16_cases) / sizeof(bf16_cases[0]));
	check_down("f16", attn_f32_to_f16, f16_cases,
		   sizeof(f16_cases) / sizeof(f16_cases[0]));
	for (size_t i = 0; i < sizeof(f16_up) / sizeof(f16_up[0]); i++) {
		uint32_t got = to_bits(attn_f16_to_f32(f16_up[i].h));
		ok(got == f16_up[i].want, "f16->f32 %s: 0x%04x -> 0x%08x", f16_up[i].what,
		   f16_up[i].h, got);
	}
	ok(isnan(attn_f16_to_f32(0x7e00)) && isnan(attn_bf16_to_f32(0xffc0)),
	   "NaN patterns widen to NaN");
	ok(to_bits(attn_bf16_to_f32(0x3f80)) == 0x3f800000, "bf16 widening is a shift");
	check_round_trips();
	check_nearest(&r);
	check_arrays(&r);
	return done_testing();
}
