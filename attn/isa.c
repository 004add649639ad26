/*
 * isa.c - which instruction-set path the engine runs: what the CPU and the
 * OS support (CPUID and XGETBV, read directly because compilers disagree on
 * the feature names __builtin_cpu_supports knows), and the HGCA_ISA override.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "attn/kern_pvt.h"
#include "attn/paged.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

#define XCR0_AVX 0x06u		/* XMM and YMM state enabled by the OS */
#define XCR0_AVX512 0xe6u	/* ... and opmask, ZMM_Hi256, Hi16_ZMM */

static unsigned
isa_xcr0(void)
{
	unsigned lo, hi;

	__asm__ volatile ("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	(void)hi;
	return lo;
}

/* Bit mask of the paths this CPU runs, bit i for enum value i. */
static unsigned
isa_probe(void)
{
	unsigned a, b, c, d, ecx1, ebx7, xcr0;
	unsigned mask = 1u << ATTN_ISA_SCALAR;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return mask;
	ecx1 = c;
	/* OSXSAVE (27) must be set before XGETBV may be executed. */
	if (!(ecx1 & (1u << 27)) || __get_cpuid_max(0, NULL) < 7)
		return mask;
	xcr0 = isa_xcr0();
	__cpuid_count(7, 0, a, b, c, d);
	ebx7 = b;
	/* AVX (28), FMA (12), F16C (29) in CPUID.1:ECX; AVX2 (5) in 7:EBX. */
	if ((xcr0 & XCR0_AVX) == XCR0_AVX && (ecx1 & (1u << 28)) &&
	    (ecx1 & (1u << 12)) && (ecx1 & (1u << 29)) && (ebx7 & (1u << 5)))
		mask |= 1u << ATTN_ISA_AVX2;
	/* AVX512 F (16), DQ (17), BW (30), VL (31) in 7:EBX. */
	if ((mask & (1u << ATTN_ISA_AVX2)) && (xcr0 & XCR0_AVX512) == XCR0_AVX512 &&
	    (ebx7 & (1u << 16)) && (ebx7 & (1u << 17)) && (ebx7 & (1u << 30)) &&
	    (ebx7 & (1u << 31)))
		mask |= 1u << ATTN_ISA_AVX512;
	return mask;
}
/* Whether CPUID's vendor string says AMD. */
static bool
isa_amd(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(0, &a, &b, &c, &d))
		return false;
	/* "AuthenticAMD" in EBX, EDX, ECX */
	return b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;
}
#else
static unsigned
isa_probe(void)
{
	return 1u << ATTN_ISA_SCALAR;
}

static bool
isa_amd(void)
{
	return false;
}
#endif

/*
 * Both caches are written once with a value every thread computes the same
 * way, so relaxed accesses suffice: a racing thread at worst probes again.
 * 0 means "not yet known" (every real value has a bit set, or is +1).
 */
static atomic_uint isa_mask_cache;
static atomic_uint isa_default_cache;
static atomic_uint isa_pf_cache;

static unsigned
isa_mask(void)
{
	unsigned m = atomic_load_explicit(&isa_mask_cache, memory_order_relaxed);

	if (!m) {
		m = isa_probe();
		atomic_store_explicit(&isa_mask_cache, m, memory_order_relaxed);
	}
	return m;
}

bool
attn_isa_supported(enum attn_isa isa)
{
	if (isa < ATTN_ISA_SCALAR || isa > ATTN_ISA_AVX512)
		return false;
#ifndef HGCA_X86_KERNELS
	if (isa != ATTN_ISA_SCALAR)	/* not built (configure) */
		return false;
#endif
	return (isa_mask() >> isa) & 1u;
}

const char *
attn_isa_name(enum attn_isa isa)
{
	switch (isa) {
	case ATTN_ISA_SCALAR:
		return "scalar";
	case ATTN_ISA_AVX2:
		return "avx2";
	case ATTN_ISA_AVX512:
		return "avx512";
	}
	return NULL;
}

/* The environment's choice, or the best supported path.  An unknown name or
 * a path this CPU lacks is ignored (the best path runs). */
static enum attn_isa
isa_choose(void)
{
	const char *env = getenv("HGCA_ISA");

	if (env && *env)
		for (int i = ATTN_ISA_SCALAR; i <= ATTN_ISA_AVX512; i++)
			if (!strcmp(env, attn_isa_name((enum attn_isa)i)) &&
			    attn_isa_supported((enum attn_isa)i))
				return (enum attn_isa)i;
	for (int i = ATTN_ISA_AVX512; i > ATTN_ISA_SCALAR; i--)
		if (attn_isa_supported((enum attn_isa)i))
			return (enum attn_isa)i;
	return ATTN_ISA_SCALAR;
}

enum attn_isa
attn_isa_default(void)
{
	unsigned v = atomic_load_explicit(&isa_default_cache, memory_order_relaxed);

	if (!v) {
		v = (unsigned)isa_choose() + 1;
		atomic_store_explicit(&isa_default_cache, v, memory_order_relaxed);
	}
	return (enum attn_isa)(v - 1);
}

const struct attn_kern *
attn_kern_for(enum attn_isa isa)
{
	switch (isa) {
#ifdef HGCA_X86_KERNELS
	case ATTN_ISA_AVX2:
		return &attn_kern_avx2;
	case ATTN_ISA_AVX512:
		return &attn_kern_avx512;
#endif
	default:
		return &attn_kern_scalar;
	}
}

static int
isa_pf_choose(void)
{
	static const char *const names[] = { "nta", "t2", "t1", "t0" };
	const char *env = getenv("HGCA_PREFETCH");

	if (env && *env)
		for (int i = 0; i < 4; i++)
			if (!strcmp(env, names[i]))
				return i;
	return isa_amd() ? ATTN_PF_NTA : ATTN_PF_T2;
}

int
attn_prefetch_hint(void)
{
	unsigned v = atomic_load_explicit(&isa_pf_cache, memory_order_relaxed);

	if (!v) {
		v = (unsigned)isa_pf_choose() + 1;
		atomic_store_explicit(&isa_pf_cache, v, memory_order_relaxed);
	}
	return (int)v - 1;
}
