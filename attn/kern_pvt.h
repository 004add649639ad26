/*
 * kern_pvt.h - the per-ISA inner loops of the paged engine (never installed).
 *
 * Each instruction-set path (kern_scalar.c, kern_avx2.c, kern_avx512.c)
 * compiles the same body, kern_body_pvt.h, with its own vector macros and
 * compiler flags, and exports one table.  The engine (paged.c, select.c)
 * picks a table once per engine and calls through it a few times per page,
 * so the indirect calls cost nothing next to the page's work.
 *
 * Shapes: a K page is [d][P] (element (c, t) at c * P + t), a V page [P][d],
 * both of dtype dt.  Score and weight rows are [R][lds] fp32 with lds a
 * multiple of 16, so every kernel may work in whole vectors of up to 16
 * lanes; lanes past the valid tokens hold -inf (scores) or 0 (weights).
 */
#ifndef HGCA_ATTN_KERN_PVT_H
#define HGCA_ATTN_KERN_PVT_H

#include <stddef.h>
#include <stdint.h>

#include "attn/attn.h"
#include "attn/paged.h"

#define KERN_TOK_ALIGN 16	/* token counts handed to score/expsum/maxv */

struct attn_kern {
	const char *name;
	/*
	 * s[r * lds + t] = sum_c qs[r * d + c] * K[c * P + t], for r < R and
	 * t < nt (nt a multiple of KERN_TOK_ALIGN, <= P).  qs is pre-scaled.
	 * Each lane is one fp32 chain over c, so |error| <= gamma_d *
	 * sum_c |qs_c k_c| (the bound select.c relies on).  While it works it
	 * prefetches @pfbytes from @pf (the next page; NULL for none), spread
	 * over its loop so the requests overlap the arithmetic.
	 */
	void (*score)(enum attn_dtype dt, const float *qs, int R, int d,
		      const void *k, int P, int nt, float *s, int lds,
		      const void *pf, size_t pfbytes);
	/* y[i] = exp(x[i] - m) for i < n (n a multiple of KERN_TOK_ALIGN;
	 * 0 where x - m < -87.3 or x = -inf); returns the fp32 sum of y.
	 * Relative error of each y[i] <= 1e-6 (tests/attn_paged checks). */
	float (*expsum)(const float *x, float *y, int n, float m);
	/* Largest of x[0..n), n a multiple of KERN_TOK_ALIGN. */
	float (*maxv)(const float *x, int n);
	/* Smallest and largest of x[0..n), any n >= 1. */
	void (*minmax)(const float *x, int n, float *mn, float *mx);
	/*
	 * o[r * d + c] += sum_{j < nt} w[r * ldw + j] * V[tok_j * d + c] for
	 * r < R, c < d, where tok_j = idx[j], strictly increasing.  Only the
	 * nt listed V rows are read.  Prefetches like score.
	 */
	void (*vacc)(enum attn_dtype dt, const float *w, int R, int ldw,
		     const void *v, int d, const uint8_t *idx, int nt, float *o,
		     const void *pf, size_t pfbytes);
	/*
	 * The mass cut of one row over a page's nv visible keys: key t is
	 * kept iff fl(M - sc[t]) < xcut (the test select.c's sel_keep makes).
	 * w[t], the key's weight (>= 0), becomes 0 where not kept; a kept
	 * key sets bit t % 64 of any[t / 64].  *kz and *dz receive the fp32
	 * sums of the kept and of the dropped weights (in some order), *nuf
	 * the dropped keys whose weight is 0.  Returns the keys kept.
	 */
	int (*cut)(const float *sc, float *w, int nv, float M, float xcut,
		   uint64_t *any, float *kz, float *dz, int *nuf);
	/*
	 * topk's cut, as cut with the test sc[t] > thr, except that keys
	 * with sc[t] == thr are left as they are (weight, bit, sums) and
	 * counted in *ties, for the caller to settle in order.
	 */
	int (*cut_above)(const float *sc, float *w, int nv, float thr,
			 uint64_t *any, float *kz, float *dz, int *nuf,
			 int *ties);
	/* Appends to out, in order, the x[t] (t < n) that are not below
	 * @thr; returns how many. */
	int (*ge)(const float *x, int n, float thr, float *out);
	/*
	 * The mass cut's bins of nv scores: bin[t] = (int)(min(fl(M - sc[t]),
	 * lim) * B), truncated (B a power of two, so the product is exact).
	 */
	void (*bins)(const float *sc, int nv, float M, float lim, float B,
		     int32_t *bin);
	/*
	 * Page bound pieces for R pre-scaled query rows against a summary:
	 * b[r] = fl(sum_c max(qs_c kmin_c, qs_c kmax_c)) and
	 * a[r] = fl(sum_c |qs_c| max(|kmin_c|, |kmax_c|)), both fp32.
	 */
	void (*bound)(const float *qs, int R, int d, const float *kmin,
		      const float *kmax, float *b, float *a);
};

extern const struct attn_kern attn_kern_scalar;
extern const struct attn_kern attn_kern_avx2;
extern const struct attn_kern attn_kern_avx512;

/*
 * The locality hint of the kernels' software prefetches, chosen once per
 * process (isa.c): HGCA_PREFETCH=nta|t2|t1|t0 forces one; otherwise NTA on
 * AMD and T2 elsewhere.  Measured with the full path at d 128, G 4, bf16,
 * one page ahead: on a Zen 5 core NTA read 20-30% more bytes/s from DRAM
 * than T1 or T2; on a Sapphire Rapids-class Xeon NTA lost 60% (its
 * prefetches into L1 alone stall) and T2 was best, 1 thread and 16.
 */
enum attn_pf_hint { ATTN_PF_NTA, ATTN_PF_T2, ATTN_PF_T1, ATTN_PF_T0 };
int attn_prefetch_hint(void);

/* One prefetch of the line at @a with @hint (an enum attn_pf_hint). */
static inline __attribute__((always_inline)) void
attn_prefetch_line(const void *a, int hint)
{
	switch (hint) {
	case ATTN_PF_NTA: __builtin_prefetch(a, 0, 0); break;
	case ATTN_PF_T2: __builtin_prefetch(a, 0, 1); break;
	case ATTN_PF_T1: __builtin_prefetch(a, 0, 2); break;
	default: __builtin_prefetch(a, 0, 3); break;
	}
}

/* The table of @isa (isa.c); the caller checked that the CPU supports it. */
const struct attn_kern *attn_kern_for(enum attn_isa isa);

#endif /* HGCA_ATTN_KERN_PVT_H */
