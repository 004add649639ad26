/* attn_paged_util.c - helpers of the paged-engine tests. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/attn_paged_util.h"

void
tpages_free(struct tpages *tp)
{
	free(tp->kmem);
	free(tp->vmem);
	free(tp->kmin);
	free(tp->kmax);
	free(tp->pg);
	memset(tp, 0, sizeof(*tp));
}

/* Fill page p from tokens [j0, j0 + cnt) in random pieces. */
static int
tpages_fill(struct tpages *tp, int p, const float *k, const float *v,
	    int64_t j0, int cnt, struct rng *r)
{
	const struct attn_layout *lo = &tp->lo;
	size_t pb = attn_page_bytes(lo), es = attn_dtype_size(lo->dt);
	char *kd = malloc((size_t)cnt * lo->d * es), *vd = malloc((size_t)cnt * lo->d * es);

	if (!kd || !vd) {
		free(kd);
		free(vd);
		return -ENOMEM;
	}
	attn_from_f32(lo->dt, k + j0 * lo->d, kd, (size_t)cnt * lo->d);
	attn_from_f32(lo->dt, v + j0 * lo->d, vd, (size_t)cnt * lo->d);
	for (int off = 0; off < cnt;) {
		int piece = 1 + (int)rng_below(r, (uint64_t)(cnt - off));

		if (rng_below(r, 2))
			piece = cnt - off;
		attn_page_write(lo, tp->kmem + p * pb, tp->vmem + p * pb, off,
				kd + (size_t)off * lo->d * es,
				vd + (size_t)off * lo->d * es, piece);
		off += piece;
	}
	free(kd);
	free(vd);
	return 0;
}

int
tpages_build(struct tpages *tp, const struct attn_layout *lo, const float *k,
	     const float *v, int64_t n, int64_t kpos, unsigned flags,
	     struct rng *r)
{
	int np = (int)((n + lo->P - 1) / lo->P), d = lo->d;
	size_t pb = attn_page_bytes(lo);

	memset(tp, 0, sizeof(*tp));
	tp->lo = *lo;
	tp->np = np;
	/* Unwritten slots of a partial page hold NaN-like garbage (0xff) so a
	 * kernel that reads past n is caught. */
	tp->kmem = malloc((size_t)np * pb + 1);
	tp->vmem = malloc((size_t)np * pb + 1);
	tp->kmin = malloc((size_t)np * d * sizeof(float) + 1);
	tp->kmax = malloc((size_t)np * d * sizeof(float) + 1);
	tp->pg = calloc((size_t)np + 1, sizeof(*tp->pg));
	if (!tp->kmem || !tp->vmem || !tp->kmin || !tp->kmax || !tp->pg)
		goto fail;
	memset(tp->kmem, 0xff, (size_t)np * pb);
	memset(tp->vmem, 0xff, (size_t)np * pb);
	for (int p = 0; p < np; p++) {
		int64_t j0 = (int64_t)p * lo->P;
		int cnt = n - j0 < lo->P ? (int)(n - j0) : lo->P;
		struct attn_page *pg = &tp->pg[p];

		if (tpages_fill(tp, p, k, v, j0, cnt, r))
			goto fail;
		pg->k = tp->kmem + p * pb;
		pg->v = tp->vmem + p * pb;
		pg->pos = kpos + j0;
		pg->n = cnt;
		if ((cnt == lo->P || (flags & TP_SUMALL)) &&
		    !((flags & TP_NOSUM) && rng_below(r, 4) == 0)) {
			pg->kmin = tp->kmin + (size_t)p * d;
			pg->kmax = tp->kmax + (size_t)p * d;
			attn_page_summarize(lo, pg->k, cnt, tp->kmin + (size_t)p * d,
					    tp->kmax + (size_t)p * d);
		}
	}
	if (flags & TP_SHUFFLE)
		for (int p = np - 1; p > 0; p--) {
			int s = (int)rng_below(r, (uint64_t)p + 1);
			struct attn_page t = tp->pg[p];

			tp->pg[p] = tp->pg[s];
			tp->pg[s] = t;
		}
	return 0;
fail:
	tpages_free(tp);
	return -ENOMEM;
}

void
tp_scores(const float *q, float scale, const float *k, int64_t n, int d,
	  double *s)
{
	for (int64_t j = 0; j < n; j++) {
		double acc = 0.0;

		for (int c = 0; c < d; c++)
			acc += (double)q[c] * k[j * d + c];
		s[j] = acc * (double)scale;
	}
}

double
tp_max_norm(const float *v, int64_t n, int d)
{
	double best = 0.0;

	for (int64_t j = 0; j < n; j++) {
		double a = 0.0;

		for (int c = 0; c < d; c++)
			a += (double)v[j * d + c] * v[j * d + c];
		best = fmax(best, sqrt(a));
	}
	return best;
}

double
tp_partial64(const double *s, const float *v, int64_t nvis, int d,
	     const bool *keep, double *o, double *dropped)
{
	double m = -INFINITY, mk = -INFINITY, z = 0.0, zk = 0.0, zd = 0.0;

	memset(o, 0, (size_t)d * sizeof(double));
	for (int64_t j = 0; j < nvis; j++) {
		m = fmax(m, s[j]);
		if (!keep || keep[j])
			mk = fmax(mk, s[j]);
	}
	/* The dropped fraction relative to the overall maximum, the kept
	 * partial relative to its own (kept keys may lie far below). */
	for (int64_t j = 0; j < nvis; j++) {
		double p = exp(s[j] - m);

		if (keep && !keep[j]) {
			zd += p;
			continue;
		}
		zk += p;
		p = exp(s[j] - mk);
		z += p;
		for (int c = 0; c < d; c++)
			o[c] += p * v[j * d + c];
	}
	if (dropped)
		*dropped = nvis > 0 ? zd / (zk + zd) : 0.0;
	if (z == 0.0)
		return -INFINITY;
	for (int c = 0; c < d; c++)
		o[c] /= z;
	return mk + log(z);
}
