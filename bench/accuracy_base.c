/*
 * accuracy_base.c - exact attention of a step in float64 and the baselines
 * of bench/accuracy: sink+window (StreamingLLM), heavy-hitter eviction
 * (H2O), page top-k by min/max bound (Quest) and uniform sampling.
 *
 * Every baseline is written as a choice of tokens; the output over the
 * chosen tokens is then computed in float64 from the exact scores, so a
 * baseline's error is its selection's error alone (the engine's fp32
 * rounding, which hgca carries, is a few 1e-7 and does not matter here).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/accuracy.h"
#include "tests/ref64.h"

/* ---- exact attention of one step ------------------------------------ */

int
acc_step_alloc(struct acc_step *st, const struct acc_group *grp)
{
	memset(st, 0, sizeof(*st));
	st->s = malloc((size_t)grp->G * grp->n * sizeof(double));
	st->lse = malloc((size_t)grp->G * sizeof(double));
	st->o = malloc((size_t)grp->G * grp->d * sizeof(double));
	if (st->s && st->lse && st->o)
		return 0;
	acc_step_free(st);
	return -ENOMEM;
}

void
acc_step_free(struct acc_step *st)
{
	free(st->s);
	free(st->lse);
	free(st->o);
	memset(st, 0, sizeof(*st));
}

/* Scaled float64 scores of the G rows against keys 0..nvis-1; all rows of a
 * key together so the G sums run side by side. */
static void
step_scores(struct acc_step *st, const struct acc_group *grp, const float *q)
{
	int G = grp->G, d = grp->d;
	double acc[64];

	for (int64_t j = 0; j < st->nvis; j++) {
		const float *k = grp->k32 + (size_t)j * d;
		for (int g0 = 0; g0 < G; g0 += 64) {
			int gn = G - g0 < 64 ? G - g0 : 64;
			for (int g = 0; g < gn; g++)
				acc[g] = 0.0;
			for (int c = 0; c < d; c++)
				for (int g = 0; g < gn; g++)
					acc[g] += (double)q[(size_t)(g0 + g) * d + c] * k[c];
			for (int g = 0; g < gn; g++)
				st->s[(size_t)(g0 + g) * grp->n + j] = acc[g] * grp->scale;
		}
	}
}

int
acc_step_compute(struct acc_step *st, const struct acc_group *grp, int t)
{
	const float *q = grp->q + (size_t)t * grp->G * grp->d;
	struct attn_query aq = {
		.q = q, .L = 1, .G = grp->G, .d = grp->d, .pos = grp->pos[t],
		.scale = grp->scale,
	};

	st->t = t;
	st->nvis = grp->pos[t] + 1;
	step_scores(st, grp, q);
	return ref64_attention(&aq, grp->k32, grp->v32, st->nvis, 0, st->o, st->lse);
}

double
acc_attend_subset(const struct acc_group *grp, const struct acc_step *st,
		  int g, const int64_t *idx, int64_t m, float *o, double *w)
{
	const double *s = st->s + (size_t)g * grp->n;
	double mx = -INFINITY, z = 0.0, acc[ACC_MAX_D];
	int d = grp->d;

	for (int64_t i = 0; i < m; i++)
		mx = s[idx[i]] > mx ? s[idx[i]] : mx;
	for (int c = 0; c < d; c++)
		acc[c] = 0.0;
	for (int64_t i = 0; i < m; i++) {
		double p = exp(s[idx[i]] - mx);
		const float *v = grp->v32 + (size_t)idx[i] * d;
		z += p;
		if (w)
			w[i] = p;
		for (int c = 0; c < d; c++)
			acc[c] += p * v[c];
	}
	for (int c = 0; c < d; c++)
		o[c] = m ? (float)(acc[c] / z) : 0.0f;
	for (int64_t i = 0; w && i < m; i++)
		w[i] /= z;
	return m ? exp(mx + log(z) - st->lse[g]) : 0.0;
}

/* ---- selection helpers ---------------------------------------------- */

double
acc_kth_largest(double *x, int64_t n, int64_t k)
{
	int64_t lo = 0, hi = n - 1, want = k - 1;

	/* Quickselect for descending order: x[want] ends as the answer. */
	while (lo < hi) {
		double piv = x[lo + (hi - lo) / 2], tmp;
		int64_t i = lo, j = hi;
		while (i <= j) {
			while (x[i] > piv)
				i++;
			while (x[j] < piv)
				j--;
			if (i <= j) {
				tmp = x[i], x[i] = x[j], x[j] = tmp;
				i++, j--;
			}
		}
		if (want <= j)
			hi = j;
		else if (want >= i)
			lo = i;
		else
			break;
	}
	return x[want];
}

int64_t
acc_budget_tokens(double frac, int64_t nvis)
{
	int64_t m = (int64_t)floor(frac * (double)nvis);

	return m < 1 ? 1 : m > nvis ? nvis : m;
}

int64_t
acc_sink_window(int64_t nvis, int64_t m, int64_t *idx)
{
	int64_t ns = m < ACC_SINKS ? m : ACC_SINKS, c = 0;

	if (m >= nvis)
		ns = nvis;
	for (int64_t j = 0; j < ns; j++)
		idx[c++] = j;
	for (int64_t j = nvis - (m - ns); j < nvis; j++)
		idx[c++] = j;
	return c;
}

int64_t
acc_uniform(struct rng *r, int64_t nvis, int64_t m, int64_t *idx,
	    unsigned char *mark)
{
	int64_t c = 0;

	for (int64_t j = nvis - m; j < nvis; j++) {
		int64_t x = (int64_t)rng_below(r, (uint64_t)j + 1);
		if (mark[x])
			x = j;
		mark[x] = 1;
		idx[c++] = x;
	}
	for (int64_t i = 0; i < c; i++)
		mark[idx[i]] = 0;
	return c;
}

/* ---- Quest ---------------------------------------------------------- */

int
acc_summaries(const struct acc_group *grp, int P, float **kmin, float **kmax)
{
	int64_t np = (grp->n + P - 1) / P;
	int d = grp->d;

	*kmin = malloc((size_t)np * d * sizeof(float));
	*kmax = malloc((size_t)np * d * sizeof(float));
	if (!*kmin || !*kmax) {
		free(*kmin);
		free(*kmax);
		*kmin = *kmax = NULL;
		return -ENOMEM;
	}
	for (int64_t p = 0; p < np; p++) {
		float *lo = *kmin + (size_t)p * d, *hi = *kmax + (size_t)p * d;
		int64_t end = (p + 1) * P < grp->n ? (p + 1) * P : grp->n;
		for (int c = 0; c < d; c++)
			lo[c] = hi[c] = grp->k32[(size_t)p * P * d + c];
		for (int64_t j = p * P + 1; j < end; j++)
			for (int c = 0; c < d; c++) {
				float x = grp->k32[(size_t)j * d + c];
				lo[c] = x < lo[c] ? x : lo[c];
				hi[c] = x > hi[c] ? x : hi[c];
			}
	}
	return 0;
}

/* Upper bound of scale * q.k over a page from its summary. */
static double
page_bound(const float *q, const float *lo, const float *hi, int d, double scale)
{
	double b = 0.0;

	for (int c = 0; c < d; c++) {
		double a = (double)q[c] * lo[c], e = (double)q[c] * hi[c];
		b += a > e ? a : e;
	}
	return b * scale;
}

int64_t
acc_quest(const struct acc_group *grp, int t, int g, int P, const float *kmin,
	  const float *kmax, double bytes, int64_t *idx, double *meta,
	  double *tmp)
{
	const float *q = grp->q + ((size_t)t * grp->G + g) * grp->d;
	int64_t nvis = grp->pos[t] + 1, nfull = nvis / P, part = nvis - nfull * P;
	double tb = acc_token_bytes(grp), avail, thr = INFINITY;
	int64_t npick, c = 0, ties;

	*meta = (double)nfull * acc_summary_bytes(grp);
	avail = bytes - *meta - (double)part * tb;
	npick = avail > 0 ? (int64_t)(avail / (P * tb)) : 0;
	npick = npick > nfull ? nfull : npick;
	for (int64_t p = 0; p < nfull; p++)
		tmp[nfull + p] = tmp[p] = page_bound(q, kmin + (size_t)p * grp->d,
						     kmax + (size_t)p * grp->d,
						     grp->d, grp->scale);
	if (npick)
		thr = acc_kth_largest(tmp + nfull, nfull, npick);
	/* Pages strictly above the threshold, then ties until npick. */
	ties = npick;
	for (int64_t p = 0; p < nfull; p++)
		ties -= tmp[p] > thr;
	for (int64_t p = 0; p < nfull; p++) {
		if (tmp[p] < thr || (tmp[p] == thr && ties-- <= 0))
			continue;
		for (int64_t j = p * P; j < (p + 1) * P; j++)
			idx[c++] = j;
	}
	for (int64_t j = nfull * P; j < nvis; j++)
		idx[c++] = j;
	return c;
}

/* ---- H2O ------------------------------------------------------------ */

int
acc_h2o_init(struct acc_h2o *h, int64_t n)
{
	memset(h, 0, sizeof(*h));
	h->n = n;
	h->in = calloc((size_t)n, 1);
	h->acc = calloc((size_t)n, sizeof(double));
	if (h->in && h->acc)
		return 0;
	acc_h2o_free(h);
	return -ENOMEM;
}

void
acc_h2o_free(struct acc_h2o *h)
{
	free(h->in);
	free(h->acc);
	memset(h, 0, sizeof(*h));
}

void
acc_h2o_start(struct acc_h2o *h, const struct acc_step *st, int g, int64_t m,
	      double *tmp)
{
	const double *s = st->s + (size_t)g * h->n;
	int64_t nvis = st->nvis, r = m / 2, old = nvis - r, heavy = m - r;
	double thr = INFINITY;

	memset(h->in, 0, (size_t)h->n);
	for (int64_t j = 0; j < nvis; j++)
		tmp[j] = h->acc[j] = exp(s[j] - st->lse[g]);
	if (heavy > 0)
		thr = acc_kth_largest(tmp, old, heavy);
	for (int64_t j = 0; j < old; j++)
		heavy -= h->acc[j] > thr;
	for (int64_t j = 0; j < old; j++)
		h->in[j] = h->acc[j] > thr || (h->acc[j] == thr && heavy-- > 0);
	for (int64_t j = old; j < nvis; j++)
		h->in[j] = 1;
	h->nvis = nvis;
	h->count = m;
}

/* Evict the cached token with the least accumulated attention among those
 * older than the recent window [nvis - r, nvis). */
static void
h2o_evict_one(struct acc_h2o *h, int64_t r)
{
	int64_t best = -1;

	for (int64_t j = 0; j < h->nvis - r; j++)
		if (h->in[j] && (best < 0 || h->acc[j] < h->acc[best]))
			best = j;
	if (best >= 0) {
		h->in[best] = 0;
		h->count--;
	}
}

int64_t
acc_h2o_step(struct acc_h2o *h, const struct acc_group *grp,
	     const struct acc_step *st, int g, int64_t m, int64_t *idx,
	     float *o, double *w, double *kept)
{
	int64_t c = 0;

	for (int64_t j = h->nvis; j < st->nvis; j++) {
		h->in[j] = 1;
		h->acc[j] = 0.0;
		h->count++;
	}
	h->nvis = st->nvis;
	while (h->count > m)
		h2o_evict_one(h, m / 2);
	for (int64_t j = 0; j < h->nvis; j++)
		if (h->in[j])
			idx[c++] = j;
	*kept = acc_attend_subset(grp, st, g, idx, c, o, w);
	for (int64_t i = 0; i < c; i++)
		h->acc[idx[i]] += w[i];
	return c;
}
