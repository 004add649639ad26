/*
 * accuracy_hgca.c - the hgca methods of bench/accuracy: every evaluation of
 * hgca goes through attn_paged_partial here, on the group's K/V stored in
 * engine pages (dimension-major K, token-major V, summaries of full pages),
 * exactly as the service's CPU workers call it.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/accuracy.h"

struct acc_pages {
	struct attn_layout lo;
	int64_t npages;
	void *k, *v;		/* [npages] pages of attn_page_bytes each */
	float *kmin, *kmax;	/* [npages][d] */
	struct attn_page *desc;	/* [npages] every page, summaries of full ones */
	struct attn_page *vis;	/* [npages] scratch: the pages of one step */
	struct attn_row_stats *stats;	/* [G] */
	int64_t *kept;		/* [n] scratch: positions a row kept */
};

void
acc_pages_free(struct acc_pages *pg)
{
	if (!pg)
		return;
	free(pg->k);
	free(pg->v);
	free(pg->kmin);
	free(pg->kmax);
	free(pg->desc);
	free(pg->vis);
	free(pg->stats);
	free(pg->kept);
	free(pg);
}

static int
pages_alloc(struct acc_pages *pg, int G, int64_t n)
{
	size_t np = (size_t)pg->npages, pb = attn_page_bytes(&pg->lo);

	pg->k = malloc(np * pb);
	pg->v = malloc(np * pb);
	pg->kmin = malloc(np * pg->lo.d * sizeof(float));
	pg->kmax = malloc(np * pg->lo.d * sizeof(float));
	pg->desc = calloc(np, sizeof(*pg->desc));
	pg->vis = calloc(np, sizeof(*pg->vis));
	pg->stats = calloc((size_t)G, sizeof(*pg->stats));
	pg->kept = malloc((size_t)n * sizeof(*pg->kept));
	return pg->k && pg->v && pg->kmin && pg->kmax && pg->desc && pg->vis &&
	       pg->stats && pg->kept ? 0 : -ENOMEM;
}

int
acc_pages_build(struct acc_pages **out, const struct acc_group *grp, int P)
{
	struct acc_pages *pg = calloc(1, sizeof(*pg));
	size_t pb, es = attn_dtype_size(grp->dt);
	int err;

	if (!pg)
		return -ENOMEM;
	pg->lo = (struct attn_layout){ .d = grp->d, .P = P, .dt = grp->dt };
	pg->npages = (grp->n + P - 1) / P;
	err = pages_alloc(pg, grp->G, grp->n);
	if (err) {
		acc_pages_free(pg);
		return err;
	}
	pb = attn_page_bytes(&pg->lo);
	for (int64_t p = 0; p < pg->npages; p++) {
		struct attn_page *a = &pg->desc[p];
		int64_t j0 = p * P;
		int n = (int)(grp->n - j0 < P ? grp->n - j0 : P);
		size_t off = (size_t)j0 * grp->d * es;

		a->k = (char *)pg->k + p * pb;
		a->v = (char *)pg->v + p * pb;
		a->pos = j0;
		a->n = n;
		attn_page_write(&pg->lo, (void *)a->k, (void *)a->v, 0,
				(const char *)grp->k + off, (const char *)grp->v + off, n);
		attn_page_summarize(&pg->lo, a->k, n, pg->kmin + p * grp->d,
				    pg->kmax + p * grp->d);
		a->kmin = n == P ? pg->kmin + p * grp->d : NULL;
		a->kmax = n == P ? pg->kmax + p * grp->d : NULL;
	}
	*out = pg;
	return 0;
}

/* The pages a query at step @st sees: every page up to the one holding
 * token nvis-1, that last one cut to the visible tokens, and without its
 * summary when it is then partly filled.  Returns the count. */
static int
pages_visible(struct acc_pages *pg, const struct acc_step *st,
	      int64_t *nfull)
{
	int P = pg->lo.P;
	int64_t np = (st->nvis + P - 1) / P, last = st->nvis - (np - 1) * P;

	memcpy(pg->vis, pg->desc, (size_t)np * sizeof(*pg->vis));
	pg->vis[np - 1].n = (int)last;
	if (last < P)
		pg->vis[np - 1].kmin = pg->vis[np - 1].kmax = NULL;
	*nfull = st->nvis / P;
	return (int)np;
}

/*
 * The softmax mass of row @g's exact (float64) attention on the keys that
 * row @row of the engine's last call kept: the kept mass measured exactly,
 * so that the certified delta can be checked against the true dropped mass
 * 1 - kept without the fp32 rounding of the engine's lse in the way.
 */
static int
hgca_kept(struct attn_engine *e, struct acc_pages *pg,
	  const struct acc_group *grp, const struct acc_step *st, int row,
	  int g, double *kept)
{
	const double *s = st->s + (size_t)g * grp->n;
	int64_t count;
	double sum = 0.0;
	int err = attn_engine_kept(e, row, pg->kept, grp->n, &count);

	if (err)
		return err;
	for (int64_t i = 0; i < count; i++)
		sum += exp(s[pg->kept[i]] - st->lse[g]);
	*kept = sum;
	return 0;
}

/* One engine call for the rows [g0, g0 + nrows) of the step; their exact
 * kept masses into kept[g0 ..]. */
static int
hgca_call(struct attn_engine *e, struct acc_pages *pg, int np,
	  const struct acc_group *grp, const struct acc_step *st,
	  const struct attn_policy *pol, int g0, int nrows, float *o, float *lse,
	  double *kept)
{
	struct attn_query q = {
		.q = grp->q + ((size_t)st->t * grp->G + g0) * grp->d, .L = 1,
		.G = nrows, .d = grp->d, .pos = grp->pos[st->t], .scale = grp->scale,
	};
	int err = attn_paged_partial(e, &q, pg->vis, np, pol, o + (size_t)g0 * grp->d,
				     lse + g0, pg->stats + g0);

	for (int r = 0; r < nrows && !err; r++)
		err = hgca_kept(e, pg, grp, st, r, g0 + r, &kept[g0 + r]);
	return err;
}

int
acc_hgca_step(struct attn_engine *e, struct acc_pages *pg,
	      const struct acc_group *grp, const struct acc_step *st,
	      const struct acc_method *m, float *o, float *lse,
	      struct acc_row *rows)
{
	struct attn_policy pol = m->pol;
	int64_t nfull;
	int np = pages_visible(pg, st, &nfull), err = 0;
	double meta = m->kind == ACC_HGCA ? (double)nfull * acc_summary_bytes(grp) : 0.0;
	double kept[ACC_MAX_G];

	if (m->frac > 0.0) {
		/* A cap per query row, as every baseline has: one call per row
		 * (the engine's budget is per call), budget = the cap less the
		 * summaries, which are read in any case. */
		double cap = m->frac * (double)st->nvis * acc_token_bytes(grp) - meta;
		double page = (double)attn_page_bytes(&pg->lo) * 2.0;
		pol.budget = (int64_t)(cap > page ? cap : page);
		for (int g = 0; g < grp->G && !err; g++)
			err = hgca_call(e, pg, np, grp, st, &pol, g, 1, o, lse, kept);
	} else {
		err = hgca_call(e, pg, np, grp, st, &pol, 0, grp->G, o, lse, kept);
	}
	if (err)
		return err;
	for (int g = 0; g < grp->G; g++) {
		rows[g].bytes = (double)pg->stats[g].bytes;
		rows[g].meta = meta;
		rows[g].kept = kept[g];
		rows[g].delta = m->kind == ACC_HGCA ? pg->stats[g].delta : NAN;
	}
	return 0;
}
