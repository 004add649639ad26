/* attn_merge - merging partials of any split equals the unsplit partial;
 * empty parts are no-ops; all-empty gives -inf and zeros. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn.h"
#include "tests/ref64.h"
#include "tests/tap.h"

#define MAXP 9

/* Split n keys at random cut points into nparts (some possibly empty),
 * compute each part's partial with the reference, merge, and compare with
 * the unsplit reference and with float64. */
static void
check_split(struct rng *r, int64_t n, int G, int d, int L, int nparts)
{
	size_t rows = (size_t)L * G, nkv = (size_t)n * d;
	float *q = malloc(rows * d * 4), *k = malloc(nkv * 4), *v = malloc(nkv * 4);
	float *po[MAXP], *pl[MAXP], *o = malloc(rows * d * 4), *lse = malloc(rows * 4);
	float *uo = malloc(rows * d * 4), *ul = malloc(rows * 4);
	double *o64 = malloc(rows * d * 8), *l64 = malloc(rows * 8);
	int64_t cut[MAXP + 1];
	struct attn_query qu = { .q = q, .L = L, .G = G, .d = d, .pos = n - L,
				 .scale = 1.0f / sqrtf((float)d) };
	int err = 0;

	ref64_fill_normal(r, q, rows * d, 1.5);
	ref64_fill_normal(r, k, nkv, 1.0);
	ref64_fill_normal(r, v, nkv, 1.0);
	cut[0] = 0;
	cut[nparts] = n;
	for (int p = 1; p < nparts; p++)
		cut[p] = (int64_t)rng_below(r, (uint64_t)n + 1);
	for (int p = 1; p < nparts; p++)	/* sort the cut points */
		for (int s = p; s > 1 && cut[s] < cut[s - 1]; s--) {
			int64_t t = cut[s]; cut[s] = cut[s - 1]; cut[s - 1] = t;
		}
	for (int p = 0; p < nparts; p++) {
		po[p] = malloc(rows * d * 4);
		pl[p] = malloc(rows * 4);
		err |= attn_ref_partial(&qu, ATTN_F32, k + cut[p] * d, v + cut[p] * d,
					cut[p + 1] - cut[p], cut[p], po[p], pl[p]);
	}
	err |= attn_merge(rows, d, nparts, (const float *const *)po,
			  (const float *const *)pl, o, lse);
	err |= attn_ref_partial(&qu, ATTN_F32, k, v, n, 0, uo, ul);
	ref64_attention(&qu, k, v, n, 0, o64, l64);
	double rel = ref64_rel_l2(o, o64, rows * d);
	double lerr = 0.0, uerr = 0.0;
	for (size_t i = 0; i < rows; i++)
		lerr = fmax(lerr, fabs(lse[i] - l64[i]));
	for (size_t i = 0; i < rows * d; i++)
		uerr = fmax(uerr, fabs(o[i] - uo[i]));
	ok(err == 0 && rel <= 1e-5 && lerr <= 1e-4 && uerr <= 1e-5,
	   "n=%lld G=%d d=%d L=%d split in %d: rel L2 %.2e, |dlse| %.2e, vs unsplit %.2e",
	   (long long)n, G, d, L, nparts, rel, lerr, uerr);
	for (int p = 0; p < nparts; p++) {
		free(po[p]);
		free(pl[p]);
	}
	free(q); free(k); free(v); free(o); free(lse); free(uo); free(ul); free(o64); free(l64);
}

static void
check_empty_parts(struct rng *r)
{
	enum { ROWS = 3, D = 16 };
	float a[ROWS * D], la[ROWS], e[ROWS * D] = { 0 }, le[ROWS];
	float o[ROWS * D], lo[ROWS], keep[ROWS * D];
	const float *po[3], *pl[3];
	int same = 1, zero = 1;

	ref64_fill_normal(r, a, ROWS * D, 1.0);
	ref64_fill_normal(r, la, ROWS, 4.0);
	for (int i = 0; i < ROWS; i++)
		le[i] = -INFINITY;
	memcpy(keep, a, sizeof(a));
	po[0] = e; pl[0] = le; po[1] = a; pl[1] = la; po[2] = e; pl[2] = le;
	ok(attn_merge(ROWS, D, 3, po, pl, o, lo) == 0, "merge with empty parts succeeds");
	for (int i = 0; i < ROWS * D; i++)
		same &= o[i] == keep[i];
	for (int i = 0; i < ROWS; i++)
		same &= lo[i] == la[i];
	ok(same, "empty parts are no-ops (bitwise)");
	po[1] = e; pl[1] = le;
	ref64_fill_normal(r, o, ROWS * D, 1.0);
	attn_merge(ROWS, D, 3, po, pl, o, lo);
	for (int i = 0; i < ROWS * D; i++)
		zero &= o[i] == 0.0f && !isnan(o[i]);
	ok(zero && lo[0] == -INFINITY && lo[2] == -INFINITY, "all-empty: lse -inf, o 0, no NaN");
	ref64_fill_normal(r, o, ROWS * D, 1.0);
	attn_merge(ROWS, D, 0, NULL, NULL, o, lo);
	zero = 1;
	for (int i = 0; i < ROWS * D; i++)
		zero &= o[i] == 0.0f;
	ok(zero && lo[1] == -INFINITY, "zero parts gives the empty result");
	ok(attn_merge(ROWS, 0, 1, po, pl, o, lo) == -EINVAL, "d = 0 -> -EINVAL");
	/* Very different magnitudes: the small part must not be lost or
	 * overflow: lse 80 vs -80 (exp(160) overflows fp32). */
	for (int i = 0; i < ROWS; i++) {
		la[i] = 80.0f;
		le[i] = -80.0f;
	}
	memcpy(o, a, sizeof(a));
	memcpy(lo, la, sizeof(la));
	attn_merge_into(ROWS, D, o, lo, a, le);
	same = 1;
	for (int i = 0; i < ROWS * D; i++)
		same &= fabsf(o[i] - a[i]) <= 1e-6f * fabsf(a[i]) + 1e-30f;
	ok(same && fabsf(lo[0] - 80.0f) < 1e-5f, "merge of lse 80 and -80 stays finite and exact");
}

int
main(void)
{
	struct rng r;
	static const int parts[] = { 1, 2, 3, 5, 9 };

	rng_seed(&r, ref64_seed());
	for (int i = 0; i < 5; i++)
		check_split(&r, 5000, 4, 128, 1, parts[i]);
	check_split(&r, 777, 8, 64, 5, 4);
	check_split(&r, 100, 1, 96, 64, 3);
	check_split(&r, 20000, 4, 80, 2, 7);
	check_empty_parts(&r);
	return done_testing();
}
