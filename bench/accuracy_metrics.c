/* accuracy_metrics.c - per-row metrics of bench/accuracy and their sums. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "bench/accuracy.h"

double
acc_cos(const float *a, const double *b, int d)
{
	double ab = 0.0, aa = 0.0, bb = 0.0;

	for (int c = 0; c < d; c++) {
		ab += a[c] * b[c];
		aa += (double)a[c] * a[c];
		bb += b[c] * b[c];
	}
	return aa > 0.0 && bb > 0.0 ? ab / sqrt(aa * bb) : 0.0;
}

bool
acc_needle_find(const struct acc_group *grp, const struct acc_step *st,
		int g, double *depth)
{
	const double *s = st->s + (size_t)g * grp->n;
	const double *o = st->o + (size_t)g * grp->d;
	int64_t best = 0;

	for (int64_t j = 1; j < st->nvis; j++)
		best = s[j] > s[best] ? j : best;
	if (best < ACC_SINKS || best >= st->nvis - ACC_BAND)
		return false;
	if (acc_cos(grp->v32 + (size_t)best * grp->d, o, grp->d) < ACC_NEEDLE_COS)
		return false;
	*depth = (double)best / (double)st->nvis;
	return true;
}

void
acc_stats_row(struct acc_stats *s, const struct acc_group *grp,
	      const struct acc_step *st, int g, const float *o,
	      const struct acc_row *r, bool needle, double depth)
{
	const double *ox = st->o + (size_t)g * grp->d;

	s->rows += 1;
	for (int c = 0; c < grp->d; c++) {
		double e = o[c] - ox[c];
		s->err2 += e * e;
		s->ref2 += ox[c] * ox[c];
	}
	s->bytes += r->bytes;
	s->meta += r->meta;
	s->ctx_bytes += (double)st->nvis * acc_token_bytes(grp);
	s->kept += r->kept;
	if (needle) {
		int b = (int)(depth * ACC_DEPTH_BINS);
		bool got = acc_cos(o, ox, grp->d) >= ACC_NEEDLE_COS;
		b = b < 0 ? 0 : b >= ACC_DEPTH_BINS ? ACC_DEPTH_BINS - 1 : b;
		s->needles += 1;
		s->recovered += got;
		s->bin_needles[b] += 1;
		s->bin_recovered[b] += got;
	}
	if (!isnan(r->delta)) {
		double drop = r->kept < 1.0 ? 1.0 - r->kept : 0.0;
		s->delta_sum += r->delta;
		s->dropped_sum += drop;
		s->delta_max = r->delta > s->delta_max ? r->delta : s->delta_max;
		s->dropped_max = drop > s->dropped_max ? drop : s->dropped_max;
	}
}

void
acc_stats_add(struct acc_stats *dst, const struct acc_stats *src)
{
	double dm = dst->delta_max > src->delta_max ? dst->delta_max : src->delta_max;
	double pm = dst->dropped_max > src->dropped_max ? dst->dropped_max : src->dropped_max;
	double *a = (double *)dst;
	const double *b = (const double *)src;

	/* Every field is a double and a sum, except the two maxima. */
	for (size_t i = 0; i < sizeof(*dst) / sizeof(double); i++)
		a[i] += b[i];
	dst->delta_max = dm;
	dst->dropped_max = pm;
}

double
acc_stats_err(const struct acc_stats *s)
{
	return s->ref2 > 0.0 ? sqrt(s->err2 / s->ref2) : sqrt(s->err2);
}

double
acc_stats_bytes_frac(const struct acc_stats *s)
{
	return s->ctx_bytes > 0.0 ? (s->bytes + s->meta) / s->ctx_bytes : 0.0;
}
