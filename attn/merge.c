/* merge.c - exact log-sum-exp merge of partial attention results. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "attn/attn.h"

void
attn_merge_into(size_t rows, int d, float *o, float *lse,
		const float *o_b, const float *lse_b)
{
	for (size_t r = 0; r < rows; r++) {
		float *or_ = o + r * (size_t)d;
		const float *ob = o_b + r * (size_t)d;
		double a = lse[r], b = lse_b[r];

		if (b == -INFINITY)		/* empty part: no-op */
			continue;
		if (a == -INFINITY) {		/* empty accumulator: take b */
			memcpy(or_, ob, (size_t)d * sizeof(float));
			lse[r] = lse_b[r];
			continue;
		}
		/* Weights relative to the larger lse, in double: both are in
		 * (0, 1] and their sum in [1, 2], so nothing overflows. */
		double m = a > b ? a : b;
		double wa = exp(a - m), wb = exp(b - m), w = wa + wb;

		wa /= w;
		wb /= w;
		for (int i = 0; i < d; i++)
			or_[i] = (float)(wa * or_[i] + wb * ob[i]);
		lse[r] = (float)(m + log(w));
	}
}

int
attn_merge(size_t rows, int d, int nparts, const float *const *o_parts,
	   const float *const *lse_parts, float *o_out, float *lse_out)
{
	if (d < 1 || nparts < 0 || (nparts > 0 && (!o_parts || !lse_parts)))
		return -EINVAL;
	if (nparts == 0) {
		memset(o_out, 0, rows * (size_t)d * sizeof(float));
		for (size_t r = 0; r < rows; r++)
			lse_out[r] = -INFINITY;
		return 0;
	}
	if (o_out != o_parts[0])
		memcpy(o_out, o_parts[0], rows * (size_t)d * sizeof(float));
	if (lse_out != lse_parts[0])
		memcpy(lse_out, lse_parts[0], rows * sizeof(float));
	for (int p = 1; p < nparts; p++)
		attn_merge_into(rows, d, o_out, lse_out, o_parts[p], lse_parts[p]);
	return 0;
}
