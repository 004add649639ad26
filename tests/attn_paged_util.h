/* attn_paged_util.h - helpers of the paged-engine tests: pages built from
 * token-major arrays, the ISA loop, float64 scores and masses. */
#ifndef HGCA_TESTS_ATTN_PAGED_UTIL_H
#define HGCA_TESTS_ATTN_PAGED_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "attn/paged.h"
#include "attn/rng.h"

#define TP_SHUFFLE 0x1		/* hand the pages over in random order */
#define TP_NOSUM 0x2		/* leave some full pages without a summary */
#define TP_SUMALL 0x4		/* summarise the partial last page too */

struct tpages {
	struct attn_layout lo;
	int np;
	char *kmem, *vmem;	/* np pages each */
	float *kmin, *kmax;	/* [np][d] */
	struct attn_page *pg;	/* [np] */
};

/*
 * Pages holding n tokens of token-major fp32 k and v [n][d] (values already
 * representable in lo->dt), token j at position kpos + j.  Each page is
 * filled by attn_page_write in random-sized pieces; full pages get a summary
 * (see the flags).  Returns 0 or -ENOMEM.
 */
int tpages_build(struct tpages *tp, const struct attn_layout *lo,
		 const float *k, const float *v, int64_t n, int64_t kpos,
		 unsigned flags, struct rng *r);
void tpages_free(struct tpages *tp);

#ifdef HGCA_TESTS_TAP_H
/* Print "ok N # SKIP why" @count times (a path this CPU lacks); the test
 * program includes tests/tap.h first. */
static inline void
tp_skip(int count, const char *why)
{
	for (int i = 0; i < count; i++)
		printf("ok %d # SKIP %s\n", ++tap_count, why);
	fflush(stdout);
}
#endif

/* Exact scores s[j] = scale * q.k_j in float64 for keys j < n. */
void tp_scores(const float *q, float scale, const float *k, int64_t n, int d,
	       double *s);

/* Largest ||v_j||_2 over the n rows of v [n][d]. */
double tp_max_norm(const float *v, int64_t n, int d);

/*
 * Float64 partial over the keys j < nvis with keep[j] (all if keep is NULL):
 * o [d], returns lse (-inf if none).  *dropped, if not NULL, receives the
 * dropped fraction of the mass of all nvis keys, summed directly (no
 * cancellation).
 */
double tp_partial64(const double *s, const float *v, int64_t nvis, int d,
		    const bool *keep, double *o, double *dropped);

#endif /* HGCA_TESTS_ATTN_PAGED_UTIL_H */
