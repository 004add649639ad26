/*
 * select.c - per-row selection (DESIGN.md section 1, "Per-head
 * sparsification"): `topk:K`, `mass:EPS` and `full` under a byte budget.
 *
 * 1. Bounds.  Every visible page with a summary gets, per query row, an
 *    upper bound B on the exact score of each of its keys (eng_bound).
 * 2. Visit.  Pages without a summary are scored first.  Then each row that
 *    is not yet satisfied, in turn, scores the unscored page with its
 *    highest bound; one K read scores the page for every row.  A row is
 *    satisfied when
 *      topk: it holds K scores and no unscored page's bound exceeds the
 *            K-th best of them;
 *      mass: the bound mass of its unscored pages, U = sum n e^B, is at
 *            most SEL_THETA * eps of its total (so the rest of eps is left
 *            for dropping scored keys);
 *      full: never (only the budget stops it).
 *    A page is scored only while the budget can still pay its K and V.
 * 3. Cut.  topk keeps the K best scores (ties in visiting order), found
 *    with a candidate buffer and quickselect; mass keeps keys by decreasing
 *    score while the certified delta stays <= eps, the cut found on counts
 *    of the row's scores in 1/8-nat bins below its maximum.
 * 4. Finish.  V is read only for keys some row keeps, weights relative to
 *    each row's maximum, summed per page and merged like the streaming path.
 *
 * Certified delta (an upper bound on dropped / total mass, in exact
 * arithmetic): with E the row's score rounding margin (eng_margin), eta the
 * relative error of the summed fp32 exponentials, and sums relative to the
 * row's maximum score M,
 *      kept  >= e^-E (1 - eta) sum_kept fl(e^(s - M))
 *      drop  <= e^E (1 + eta) (sum_dropped fl(e^(s - M)) + n_underflow e^-87.3)
 *               + sum_unscored n e^(B - M)
 *      delta  = drop / (drop + kept), rounded up.
 */
#include "config.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "attn/engine_pvt.h"

#define SEL_THETA 0.5		/* share of eps for unscored pages (mass) */
#define SEL_ETA 5e-5		/* exp error 1e-6 + argument rounding 87.3 u +
				 * fp32 sums of <= 256 terms (gamma_256) */
#define SEL_BINS 8.0f		/* histogram bins per nat */
#define SEL_NB 512		/* bins: 64 nats below the row maximum */
#define SEL_DEEP 63.9		/* a key past the last bin has e^(s-M) <= e^-63.9 */
#define SEL_UFLOW 87.3		/* the kernels' exp is 0 below -87.3 */
#define SEL_RANGE 700.0		/* e^700 fits a double with room to sum */

struct sel_ent {
	double b;		/* page bound for this row */
	int p;			/* page index */
};

/* Masses are kept relative to e^M, M the row's largest score so far: the
 * scored mass T is then in [1, n], and the bound mass U of unscored pages is
 * only computed once the top bound is within SEL_RANGE of M (before, those
 * pages may outweigh everything scored by e^SEL_RANGE and must be visited). */
struct sel_row {
	double U;		/* bound mass of unscored pages (if uvalid) */
	double Ufresh;		/* U when last computed afresh */
	double T;		/* scored mass (mass policy) */
	double E;		/* score rounding margin (max over scored pages) */
	double stopb;		/* top unscored bound when it was satisfied */
	double ks, ds;		/* kept, dropped sums rel. to M */
	float M;		/* largest score among scored keys */
	float xcut;		/* mass: keep iff fl(M - s) < xcut */
	float kth;		/* topk: keep s > kth, and quota ties s == kth */
	int64_t quota0;
	int64_t want;		/* topk: min(K, visible keys) */
	int64_t vis;		/* visible keys */
	int64_t entries, uf;
	int64_t tn, seen;	/* topk: candidates held, keys scored */
	float thr;		/* topk: the K-th best when last compacted */
	int hn;			/* page heap size */
	bool done, uvalid;
};

struct sel {
	struct scratch s_B, s_A, s_heap, s_topk, s_rows, s_slotof, s_slots,
		       s_slotpage, s_slotpm, s_wbuf, s_tmp, s_ba;
	double *B;		/* [R][np] bounds */
	float *A;		/* [R][np] the kernel's a (for the margin) */
	struct sel_ent *heap;	/* [R][np] per-row max-heaps of pages */
	float *topk;		/* [R][2 want + P] per-row candidate scores */
	struct sel_row *rows;	/* [R] */
	int *slot_of;		/* [np] slot of a scored page, or -1 */
	float *slots;		/* [nslots][R][P] stored scores */
	int *slot_page;		/* [nslots] */
	float *slot_pm;		/* [nslots][R][2] row maximum and minimum of
				 * the slot's visible scores (-inf if none) */
	float *wbuf;		/* [R][P] weights of one page */
	float *tmp;		/* [P] exponentials, or [2][d] a summary */
	float *rb, *ra;		/* [R] each: the bound kernel's b and a */
	double binlo[SEL_NB + 1];	/* e^-(b+1)/SEL_BINS: the least mass of a
					 * key in bin b of the mass cut */
	int np, nslots, kind;
	int64_t topk_max, topk_cap, spent, budget;
	double eps;
};

void
sel_free(struct sel *s)
{
	if (!s)
		return;
	scratch_free(&s->s_B);
	scratch_free(&s->s_A);
	scratch_free(&s->s_heap);
	scratch_free(&s->s_topk);
	scratch_free(&s->s_rows);
	scratch_free(&s->s_slotof);
	scratch_free(&s->s_slots);
	scratch_free(&s->s_slotpage);
	scratch_free(&s->s_slotpm);
	scratch_free(&s->s_wbuf);
	scratch_free(&s->s_tmp);
	scratch_free(&s->s_ba);
	free(s);
}

/* ---- heaps ------------------------------------------------------------ */

static void
heap_down(struct sel_ent *h, int n, int i)
{
	for (;;) {
		int l = 2 * i + 1, m = i;
		struct sel_ent t;

		if (l < n && h[l].b > h[m].b)
			m = l;
		if (l + 1 < n && h[l + 1].b > h[m].b)
			m = l + 1;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Reorder x[0..n) so that x[0..k) are its k largest (1 <= k <= n); returns
 * the k-th largest.  Quickselect, median of three, with partitions that
 * do not branch on the data (a branch on random scores mispredicts half
 * the time): first the elements above the pivot to the front, then, if
 * the k-th is not among them, the pivot's equals after them. */
static float
select_top(float *x, int64_t n, int64_t k)
{
	int64_t lo = 0, hi = n;		/* the k-th largest is in x[lo..hi) */

	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2, gt = lo, eq;
		float a = x[lo], b = x[mid], c = x[hi - 1], pv;

		pv = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
		for (int64_t i = lo; i < hi; i++) {	/* x[lo..gt) > pv */
			float v = x[i];

			x[i] = x[gt];
			x[gt] = v;
			gt += v > pv;
		}
		if (k - 1 < gt) {	/* pv is in x[gt..hi): gt < hi */
			hi = gt;
			continue;
		}
		eq = gt;
		for (int64_t i = gt; i < hi; i++) {	/* x[gt..eq) == pv */
			float v = x[i];

			x[i] = x[eq];
			x[eq] = v;
			eq += v == pv;
		}
		if (k - 1 < eq)
			return pv;
		lo = eq;		/* eq > gt >= lo: pv was there */
	}
	return x[k - 1];
}

/* ---- set up ------------------------------------------------------------ */

static struct sel_ent *
row_heap(struct sel *s, int r)
{
	return s->heap + (size_t)r * s->np;
}

static float *
slot_scores(struct sel *s, const struct attn_engine *e, int slot)
{
	return s->slots + (size_t)slot * e->R * e->lo.P;
}

static int
sel_reserve(struct attn_engine *e, struct sel *s, int64_t want)
{
	size_t R = (size_t)e->R, np = e->npages > 0 ? (size_t)e->npages : 1;
	size_t P = (size_t)e->lo.P, d = (size_t)e->lo.d;
	size_t tmp = P > 2 * d ? P : 2 * d;
	int err;

	if ((err = scratch_reserve(&s->s_B, R * np * sizeof(double))) ||
	    (err = scratch_reserve(&s->s_A, R * np * sizeof(float))) ||
	    (err = scratch_reserve(&s->s_heap, R * np * sizeof(struct sel_ent))) ||
	    (err = scratch_reserve(&s->s_topk, R * (2 * (size_t)want + P) * sizeof(float))) ||
	    (err = scratch_reserve(&s->s_rows, R * sizeof(struct sel_row))) ||
	    (err = scratch_reserve(&s->s_slotof, np * sizeof(int))) ||
	    (err = scratch_reserve(&s->s_slots, np * R * P * sizeof(float))) ||
	    (err = scratch_reserve(&s->s_slotpage, np * sizeof(int))) ||
	    (err = scratch_reserve(&s->s_slotpm, np * R * 2 * sizeof(float))) ||
	    (err = scratch_reserve(&s->s_wbuf, R * P * sizeof(float))) ||
	    (err = scratch_reserve(&s->s_tmp, tmp * sizeof(float))) ||
	    (err = scratch_reserve(&s->s_ba, 2 * R * sizeof(float))))
		return err;
	s->B = s->s_B.p;
	s->A = s->s_A.p;
	s->heap = s->s_heap.p;
	s->topk = s->s_topk.p;
	s->rows = s->s_rows.p;
	s->slot_of = s->s_slotof.p;
	s->slots = s->s_slots.p;
	s->slot_page = s->s_slotpage.p;
	s->slot_pm = s->s_slotpm.p;
	s->wbuf = s->s_wbuf.p;
	s->tmp = s->s_tmp.p;
	s->rb = s->s_ba.p;
	s->ra = s->rb + R;
	return 0;
}

/* Bounds of every visible summarised page, and each row's page heap. */
static void
sel_bounds(struct attn_engine *e, struct sel *s)
{
	float *b = s->rb, *a = s->ra;
	int np = s->np, R = e->R, G = e->q->G;

	for (int p = 0; p < np; p++) {
		const struct attn_page *pg = &e->pages[p];

		s->slot_of[p] = -1;
		if (!pg->kmin || eng_nvis(e, pg, e->q->L - 1) == 0)
			continue;
		e->kern->bound(e->qs, R, e->lo.d, pg->kmin, pg->kmax, b, a);
		for (int r = 0; r < R; r++) {
			s->B[(size_t)r * np + p] = eng_bound(e->lo.d, b[r], a[r]);
			s->A[(size_t)r * np + p] = a[r];
		}
	}
	for (int r = 0; r < R; r++) {
		struct sel_row *rw = &s->rows[r];
		struct sel_ent *h = row_heap(s, r);

		for (int p = 0; p < np; p++) {
			const struct attn_page *pg = &e->pages[p];
			int nv = eng_nvis(e, pg, r / G);

			rw->vis += nv;
			if (!nv || !pg->kmin)
				continue;
			h[rw->hn].b = s->B[(size_t)r * np + p];
			h[rw->hn++].p = p;
		}
		for (int i = rw->hn / 2 - 1; i >= 0; i--)
			heap_down(h, rw->hn, i);
	}
}

/* ---- scoring ------------------------------------------------------------ */

/* Keep the want best candidates; thr becomes the want-th best so far. */
static void
sel_topk_compact(struct sel *s, struct sel_row *rw, int r)
{
	float *c = s->topk + (size_t)r * s->topk_cap;

	rw->thr = select_top(c, rw->tn, rw->want);
	rw->tn = rw->want;
}

/* Candidates for the K best: every score >= thr (a lower bound on the final
 * K-th best), compacted when the buffer fills, so each key costs O(1). */
static void
sel_topk_add(const struct attn_engine *e, struct sel *s, struct sel_row *rw,
	     int r, const float *sc, int nv)
{
	float *c = s->topk + (size_t)r * s->topk_cap;

	if (rw->tn + nv > s->topk_cap)
		sel_topk_compact(s, rw, r);
	rw->tn += e->kern->ge(sc, nv, rw->thr, c + rw->tn);
	rw->seen += nv;
}

/* Margins s->ra[R] of a page without a summary, from a summary made now. */
static void
sel_margins_nosum(struct attn_engine *e, struct sel *s, const struct attn_page *pg)
{
	float *kmin = s->tmp, *kmax = s->tmp + e->lo.d;

	attn_page_summarize(&e->lo, pg->k, pg->n, kmin, kmax);
	e->kern->bound(e->qs, e->R, e->lo.d, kmin, kmax, s->rb, s->ra);
}

/* One unscored page's bound mass relative to e^M; never below the smallest
 * normal double, so underflow cannot make a sum of them too small. */
static inline double
sel_term(int nv, double b, float M)
{
	return nv * fmax(exp(b - M), DBL_MIN);
}

/* Update row r's state after page p was scored into row scores @sc. */
static void
sel_row_scored(struct attn_engine *e, struct sel *s, int r, int p,
	       const float *sc, int nv, int nt, float pm, float a)
{
	struct sel_row *rw = &s->rows[r];
	const struct attn_page *pg = &e->pages[p];

	rw->E = fmax(rw->E, eng_margin(e->lo.d, a));
	if (pm > rw->M) {		/* rescale to the new maximum: shrinks */
		/* In double: a float difference would be off by an ulp of
		 * the scores, a relative error far above U's margin. */
		double f = rw->M == -INFINITY ? 0.0 : exp((double)rw->M - pm);

		rw->T *= f;
		rw->U *= f;
		rw->Ufresh *= f;
		rw->M = pm;
	}
	/* Relative to M directly (pm <= M now): no exponential per page.
	 * Keys more than 87.3 below M then add 0, which only makes T, and
	 * with it the rows' stopping test, more conservative. */
	if (s->kind == ATTN_POLICY_MASS)
		rw->T += e->kern->expsum(sc, s->tmp, nt, rw->M);
	else if (s->kind == ATTN_POLICY_TOPK)
		sel_topk_add(e, s, rw, r, sc, nv);
	if (pg->kmin && rw->uvalid)
		rw->U -= sel_term(nv, s->B[(size_t)r * s->np + p], rw->M);
}

/* Score page p for every row, prefetching the K of page @pf (-1: none). */
static void
sel_score(struct attn_engine *e, struct sel *s, int p, int pf)
{
	const struct attn_page *pg = &e->pages[p];
	int P = e->lo.P, G = e->q->G, slot = s->nslots++;
	int ntok = eng_nvis(e, pg, e->q->L - 1), nt = eng_round_tok(ntok);
	float *sc = slot_scores(s, e, slot);
	int64_t kb = (int64_t)e->lo.d * (int64_t)e->es;

	e->kern->score(e->lo.dt, e->qs, e->R, e->lo.d, pg->k, P, nt, sc, P,
		       pf >= 0 ? e->pages[pf].k : NULL,
		       pf >= 0 ? attn_page_bytes(&e->lo) : 0);
	if (!pg->kmin)
		sel_margins_nosum(e, s, pg);
	for (int r = 0; r < e->R; r++) {
		float *sr = sc + (size_t)r * P, pm = -INFINITY, pmin = -INFINITY;
		int nv = eng_nvis(e, pg, r / G);

		for (int t = nv; t < nt; t++)
			sr[t] = -INFINITY;
		if (nv > 0) {
			e->kern->minmax(sr, nv, &pmin, &pm);
			sel_row_scored(e, s, r, p, sr, nv, nt, pm,
				       pg->kmin ? s->A[(size_t)r * s->np + p] : s->ra[r]);
		}
		s->slot_pm[((size_t)slot * e->R + r) * 2] = pm;
		s->slot_pm[((size_t)slot * e->R + r) * 2 + 1] = pmin;
	}
	s->slot_of[p] = slot;
	s->slot_page[slot] = p;
	s->spent += 2 * ntok * kb;
	e->last.pages_scored++;
	e->last.k_bytes += ntok * kb;
}

/* The row's unscored page with the highest bound, or -1. */
static int
sel_top(struct sel *s, int r)
{
	struct sel_ent *h = row_heap(s, r);
	struct sel_row *rw = &s->rows[r];

	while (rw->hn > 0 && s->slot_of[h[0].p] >= 0) {
		h[0] = h[--rw->hn];
		heap_down(h, rw->hn, 0);
	}
	return rw->hn > 0 ? h[0].p : -1;
}

/* U computed afresh from the row's unscored pages (the running U only
 * subtracts, and drifts). */
static double
sel_tail(struct attn_engine *e, struct sel *s, int r)
{
	struct sel_ent *h = row_heap(s, r);
	double u = 0.0;

	for (int i = 0; i < s->rows[r].hn; i++)
		if (s->slot_of[h[i].p] < 0)
			u += sel_term(eng_nvis(e, &e->pages[h[i].p], r / e->q->G),
				      h[i].b, s->rows[r].M);
	return u;
}

static bool
sel_mass_ok(struct sel *s, const struct sel_row *rw, double u)
{
	double kept = rw->T * exp(-rw->E) * (1.0 - SEL_ETA);

	return u <= SEL_THETA * s->eps * (u + kept);
}

static bool
sel_satisfied(struct attn_engine *e, struct sel *s, int r, int top)
{
	struct sel_row *rw = &s->rows[r];

	if (top < 0)
		return true;
	switch (s->kind) {
	case ATTN_POLICY_TOPK:
		if (rw->seen < rw->want || rw->want == 0)
			return false;
		/* thr lags the true K-th best; refresh it once K/2 new
		 * candidates came in (amortised O(1) per candidate). */
		if (row_heap(s, r)[0].b >= rw->thr &&
		    rw->tn - rw->want >= (rw->want / 2 > 64 ? rw->want / 2 : 64))
			sel_topk_compact(s, rw, r);
		return row_heap(s, r)[0].b < rw->thr;
	case ATTN_POLICY_MASS:
		if (rw->M == -INFINITY || row_heap(s, r)[0].b - rw->M > SEL_RANGE)
			return false;
		/* Subtracting scored pages cancels: afresh when U has lost 8
		 * digits, and to confirm. */
		if (!rw->uvalid || rw->U < 1e-8 * rw->Ufresh) {
			rw->U = rw->Ufresh = sel_tail(e, s, r);
			rw->uvalid = true;
		}
		if (!sel_mass_ok(s, rw, rw->U))
			return false;
		rw->U = rw->Ufresh = sel_tail(e, s, r);
		return sel_mass_ok(s, rw, rw->U);
	default:
		return false;
	}
}

/* ---- visiting ----------------------------------------------------------- */

static bool
sel_fits(const struct attn_engine *e, const struct sel *s, int p)
{
	int64_t cost = 2 * (int64_t)eng_nvis(e, &e->pages[p], e->q->L - 1) *
		       e->lo.d * (int64_t)e->es;

	return s->budget == 0 || s->spent + cost <= s->budget;
}

/* A guess at the page scored after row r's @top, to prefetch: the next
 * unsatisfied row's best page once @top is scored (-1: none).  Its heap
 * drops scored pages now (sel_top), as it would at its turn. */
static int
sel_guess_next(struct sel *s, int R, int r, int top)
{
	int g = -1;

	s->slot_of[top] = INT_MAX;	/* scored next: sel_score sets it */
	for (int i = 1; i <= R; i++) {
		int r2 = (r + i) % R;

		if (s->rows[r2].done || s->rows[r2].hn == 0)
			continue;
		g = sel_top(s, r2);
		break;
	}
	s->slot_of[top] = -1;
	return g;
}

/* Score the pages without a summary, then the rows' best pages in turn
 * until every row is satisfied or the budget is spent. */
static void
sel_visit(struct attn_engine *e, struct sel *s)
{
	bool stop = false, any = true;

	for (int p = 0; p < s->np && !stop; p++)
		if (!e->pages[p].kmin && eng_nvis(e, &e->pages[p], e->q->L - 1) > 0) {
			if (sel_fits(e, s, p))
				sel_score(e, s, p, -1);
			else
				stop = true;
		}
	while (!stop && any) {
		any = false;
		for (int r = 0; r < e->R && !stop; r++) {
			struct sel_row *rw = &s->rows[r];
			int top;

			if (rw->done)
				continue;
			top = sel_top(s, r);
			if (sel_satisfied(e, s, r, top)) {
				rw->done = true;
				rw->stopb = top < 0 ? -INFINITY : row_heap(s, r)[0].b;
			} else if (!sel_fits(e, s, top)) {
				stop = true;
			} else {
				sel_score(e, s, top, sel_guess_next(s, e->R, r, top));
				any = true;
			}
		}
	}
	for (int r = 0; r < e->R; r++)		/* rows the budget stopped */
		if (!s->rows[r].done)
			s->rows[r].stopb = sel_top(s, r) < 0 ? -INFINITY :
					   row_heap(s, r)[0].b;
}

/* ---- the cut ------------------------------------------------------------ */

/* Whether row @rw keeps a key of score @sc; topk ties with the K-th score
 * are kept while @quota lasts, in visiting order. */
static inline bool
sel_keep(const struct sel *s, const struct sel_row *rw, float sc, int64_t *quota)
{
	if (sc == -INFINITY)
		return false;
	switch (s->kind) {
	case ATTN_POLICY_TOPK:
		if (sc > rw->kth)
			return true;
		if (sc == rw->kth && *quota > 0) {
			--*quota;
			return true;
		}
		return false;
	case ATTN_POLICY_MASS:
		return rw->M - sc < rw->xcut;
	default:
		return true;
	}
}

/* Rigorous U for row r relative to its maximum: +inf if an unscored page
 * has no summary (nothing bounds it). */
static double
sel_unscored(struct attn_engine *e, struct sel *s, int r)
{
	const struct sel_row *rw = &s->rows[r];
	double u = 0.0;

	for (int p = 0; p < s->np; p++) {
		const struct attn_page *pg = &e->pages[p];
		int nv = eng_nvis(e, pg, r / e->q->G);

		if (!nv || s->slot_of[p] >= 0)
			continue;
		if (!pg->kmin)
			return INFINITY;
		u += sel_term(nv, s->B[(size_t)r * s->np + p], rw->M);
	}
	/* exp and the sum in double: relative error < (np + 8) 2^-52. */
	return u * (1.0 + (s->np + 8) * 0x1p-52);
}

/* A row's rounding factors e^-E and e^E, computed once per cut. */
struct sel_efac {
	double lo, hi;
};

static struct sel_efac
sel_efac(const struct sel_row *rw)
{
	return (struct sel_efac){ exp(-rw->E), exp(rw->E) };
}

/* Certified delta from kept / dropped sums relative to M (see the top),
 * with the row's factors @f. */
static double
sel_delta_f(struct sel_efac f, double ks, double ds, double uf, double U)
{
	double kept = ks * f.lo * (1.0 - SEL_ETA);
	double drop = (ds + uf * exp(-SEL_UFLOW)) * f.hi * (1.0 + SEL_ETA) + U;
	double delta;

	if (drop == 0.0)
		return 0.0;
	if (isinf(drop))
		return 1.0;
	delta = drop / (drop + kept) * (1.0 + 1e-12);
	return delta < 1.0 ? delta : 1.0;
}

static double
sel_delta(const struct sel_row *rw, double ks, double ds, double uf, double U)
{
	return sel_delta_f(sel_efac(rw), ks, ds, uf, U);
}

/*
 * mass: the deepest cut X (a multiple of 1/SEL_BINS nat below the row
 * maximum) whose delta is <= eps, from counts of keys per bin: a key in bin
 * k has e^(s-M) in (e^-(k+1)/B, e^-k/B], so each candidate's delta is
 * evaluated with the kept keys at the bottom of their bins and the dropped
 * at the top.  That overestimates delta, so the exact delta the finish
 * computes for the chosen cut is below eps too.  A page whose scores fall in
 * one bin (or all past the last) is counted without looking at its keys.
 */
static void
sel_cut_mass(struct attn_engine *e, struct sel *s, int r, double U)
{
	struct sel_row *rw = &s->rows[r];
	struct sel_efac f = sel_efac(rw);
	int64_t cnt[SEL_NB + 1] = { 0 };
	int32_t sub[4][SEL_NB + 1] = { { 0 } }, bin[256];
	const double *lo = s->binlo;
	double drop[SEL_NB + 1], kept = 0.0;
	int P = e->lo.P, b, hb = 0;	/* hb: the deepest bin below SEL_NB used */

	for (int slot = 0; slot < s->nslots; slot++) {
		const float *sc = slot_scores(s, e, slot) + (size_t)r * P;
		const float *pmm = s->slot_pm + ((size_t)slot * e->R + r) * 2;
		int nv = eng_nvis(e, &e->pages[s->slot_page[slot]], r / e->q->G);
		float xhi = rw->M - pmm[1], xlo = rw->M - pmm[0];

		if (pmm[0] == -INFINITY)
			continue;
		if (xhi < SEL_NB / SEL_BINS && (int)(xlo * SEL_BINS) == (int)(xhi * SEL_BINS)) {
			cnt[(int)(xlo * SEL_BINS)] += nv;
			hb = hb > (int)(xlo * SEL_BINS) ? hb : (int)(xlo * SEL_BINS);
			continue;
		}
		if (xlo >= SEL_NB / SEL_BINS) {
			cnt[SEL_NB] += nv;
			continue;
		}
		/* bins first (in vectors), then counts in four interleaved
		 * tables so that runs of one bin do not wait on each other's
		 * increments */
		e->kern->bins(sc, nv, rw->M, SEL_NB / SEL_BINS, SEL_BINS, bin);
		for (int t = 0; t < nv; t++)
			sub[t & 3][bin[t]]++;
		/* the page's deepest key is its minimum score's */
		b = xhi < SEL_NB / SEL_BINS ? (int)(xhi * SEL_BINS) : SEL_NB - 1;
		hb = hb > b ? hb : b;
	}
	/* Bins past hb (up to the last) are empty: the walk below needs no
	 * more than hb + 1 cuts, and only those bins' counts. */
	for (b = 0; b <= hb; b++)
		cnt[b] += (int64_t)sub[0][b] + sub[1][b] + sub[2][b] + sub[3][b];
	cnt[SEL_NB] += (int64_t)sub[0][SEL_NB] + sub[1][SEL_NB] + sub[2][SEL_NB] +
		       sub[3][SEL_NB];
	/* drop[b]: the most mass of the keys in bins >= b (summed upwards,
	 * no cancellation); a key in bin b has at most e^-b/B = lo[b-1]. */
	drop[hb + 1] = cnt[SEL_NB] * exp(-SEL_DEEP);
	for (b = hb; b >= 1; b--)
		drop[b] = drop[b + 1] + cnt[b] * lo[b - 1];
	rw->xcut = INFINITY;
	/* Walk the cut down from just below the maximum's bin; past hb + 1
	 * nothing more is kept or dropped until the last bin, which keeps
	 * everything.  The margin 1e-5 covers the fp32 exponentials the
	 * finish sums instead. */
	for (b = 1; b <= hb + 1; b++) {
		kept += cnt[b - 1] * lo[b - 1];
		if (sel_delta_f(f, kept, drop[b], 0.0, U) <= s->eps * (1.0 - 1e-5)) {
			rw->xcut = b / SEL_BINS;
			return;
		}
	}
}

/* topk: the K-th best score, and how many ties with it are kept. */
static void
sel_cut_topk(struct attn_engine *e, struct sel *s, int r)
{
	struct sel_row *rw = &s->rows[r];
	int64_t above = 0;

	if (rw->seen < rw->want || rw->want == 0) {	/* budget: keep all */
		rw->kth = -INFINITY;
		rw->quota0 = 0;
		return;
	}
	sel_topk_compact(s, rw, r);
	rw->kth = rw->thr;
	for (int slot = 0; slot < s->nslots; slot++) {
		const float *sc = slot_scores(s, e, slot) + (size_t)r * e->lo.P;
		const float *pmm = s->slot_pm + ((size_t)slot * e->R + r) * 2;
		int nv = eng_nvis(e, &e->pages[s->slot_page[slot]], r / e->q->G);

		if (pmm[0] <= rw->kth)		/* none above (or invisible) */
			continue;
		if (pmm[1] > rw->kth) {
			above += nv;
			continue;
		}
		for (int t = 0; t < nv; t++)
			above += sc[t] > rw->kth;
	}
	rw->quota0 = rw->want - above;
}

/* ---- finish ------------------------------------------------------------- */

/* 1 if row @rw keeps every key of a slot with maximum and minimum pmm[0],
 * pmm[1]; -1 if it keeps none; 0 if the keys must be looked at. */
static int
sel_page_fate(const struct sel *s, const struct sel_row *rw, const float *pmm,
	      int64_t quota)
{
	switch (s->kind) {
	case ATTN_POLICY_TOPK:
		if (pmm[1] > rw->kth)
			return 1;
		if (pmm[0] < rw->kth || (pmm[0] == rw->kth && quota == 0))
			return -1;
		return 0;
	case ATTN_POLICY_MASS:
		if (rw->M - pmm[1] < rw->xcut)
			return 1;
		if (!(rw->M - pmm[0] < rw->xcut))
			return -1;
		return 0;
	default:
		return 1;
	}
}

/* Bits 0 .. n - 1 of the bitset @any. */
static void
sel_any_first(uint64_t *any, int n)
{
	for (int i = 0; n > 0; i++, n -= 64)
		any[i] |= n >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
}

/* Row r's weights of one slot into w[nt] (0 where not kept), its sums, and
 * the keys it keeps marked in the bitset @any; returns the kept weights'
 * fp32 sum. */
static float
sel_row_weights(struct attn_engine *e, struct sel *s, int r, int slot,
		int64_t *quota, float *w, uint64_t *any)
{
	struct sel_row *rw = &s->rows[r];
	const float *sc = slot_scores(s, e, slot) + (size_t)r * e->lo.P;
	const struct attn_page *pg = &e->pages[s->slot_page[slot]];
	const float *pmm = s->slot_pm + ((size_t)slot * e->R + r) * 2;
	int nv = eng_nvis(e, pg, r / e->q->G), nt = eng_round_tok(nv);
	int n, uf, ties = 0;
	float z, dz = 0.0f;

	if (pmm[0] == -INFINITY) {
		memset(w, 0, (size_t)e->lo.P * sizeof(float));
		return 0.0f;
	}
	z = e->kern->expsum(sc, w, nt, rw->M);
	switch (sel_page_fate(s, rw, pmm, *quota)) {
	case 1:				/* every key kept */
		sel_any_first(any, nv);
		rw->entries += nv;
		rw->ks += z;
		return z;
	case -1:			/* every key dropped; count each as */
		rw->ds += z;		/* possibly underflowed: an upper bound */
		rw->uf += nv;
		memset(w, 0, (size_t)nt * sizeof(float));
		return 0.0f;
	}
	/* Some keys kept, some not: sel_keep's test, in vectors (full keeps
	 * every page whole). */
	if (s->kind == ATTN_POLICY_MASS) {
		n = e->kern->cut(sc, w, nv, rw->M, rw->xcut, any, &z, &dz, &uf);
	} else {
		n = e->kern->cut_above(sc, w, nv, rw->kth, any, &z, &dz, &uf, &ties);
		for (int t = 0; ties > 0 && t < nv; t++) {	/* in order */
			if (sc[t] != rw->kth)
				continue;
			ties--;
			if (sel_keep(s, rw, sc[t], quota)) {
				z += w[t];
				any[t / 64] |= (uint64_t)1 << (t % 64);
				n++;
			} else {
				dz += w[t];
				uf += w[t] == 0.0f;
				w[t] = 0.0f;
			}
		}
	}
	rw->entries += n;
	rw->uf += uf;
	rw->ks += z;
	rw->ds += dz;
	return z;
}

/* Whether some row may keep a key of the slot (to prefetch its V). */
static bool
sel_slot_used(const struct attn_engine *e, const struct sel *s, int slot)
{
	for (int r = 0; r < e->R; r++) {
		const float *pmm = s->slot_pm + ((size_t)slot * e->R + r) * 2;

		if (pmm[0] > -INFINITY && sel_page_fate(s, &s->rows[r], pmm, 1) >= 0)
			return true;
	}
	return false;
}

/* Weights of every row for one slot, then V for the keys any row kept,
 * prefetching the V page of slot @pf (-1: none). */
static void
sel_finish_slot(struct attn_engine *e, struct sel *s, int slot, int64_t *quota,
		int pf)
{
	const struct attn_page *pg = &e->pages[s->slot_page[slot]];
	int P = e->lo.P, R = e->R, n = 0;
	float *z = acc_cur(&e->acc) + R;
	uint64_t any[256 / 64] = { 0 };
	uint8_t idx[256];

	for (int r = 0; r < R; r++)
		z[r] += sel_row_weights(e, s, r, slot, &quota[r],
					s->wbuf + (size_t)r * P, any);
	for (int i = 0; i < (pg->n + 63) / 64; i++)
		for (uint64_t m = any[i]; m; m &= m - 1)
			idx[n++] = (uint8_t)(i * 64 + __builtin_ctzll(m));
	if (n == 0)
		return;
	for (int r = 0; idx[n - 1] != n - 1 && r < R; r++) {
		float *w = s->wbuf + (size_t)r * P;	/* compact: idx[j] >= j */

		for (int j = 0; j < n; j++)
			w[j] = w[idx[j]];
	}
	e->kern->vacc(e->lo.dt, s->wbuf, R, P, pg->v, e->lo.d, idx, n,
		      acc_cur_o(&e->acc), pf >= 0 ? e->pages[s->slot_page[pf]].v : NULL,
		      pf >= 0 ? attn_page_bytes(&e->lo) : 0);
	acc_page_done(&e->acc);
	e->last.pages_used++;
	e->last.v_bytes += (int64_t)n * e->lo.d * (int64_t)e->es;
}

static void
sel_rowstats(struct attn_engine *e, struct sel *s, int r,
	     struct attn_row_stats *st, double U)
{
	const struct sel_row *rw = &s->rows[r];
	int64_t kb = (int64_t)e->lo.d * (int64_t)e->es, kbytes = 0;

	/* K bytes this row's own walk needed: the scored pages whose bound is
	 * not below the one it stopped at (pages without a summary count). */
	for (int slot = 0; slot < s->nslots; slot++) {
		int p = s->slot_page[slot];
		int nv = eng_nvis(e, &e->pages[p], r / e->q->G);

		if (!e->pages[p].kmin || s->B[(size_t)r * s->np + p] >= rw->stopb)
			kbytes += nv * kb;
	}
	st->entries = rw->entries;
	st->bytes = kbytes + rw->entries * kb;
	if (rw->vis == 0)
		st->delta = 0.0;
	else if (rw->M == -INFINITY)
		st->delta = 1.0;	/* the budget scored none of its keys */
	else
		st->delta = sel_delta(rw, rw->ks, rw->ds, (double)rw->uf, U);
}

static int
sel_prepare(struct attn_engine *e, const struct attn_policy *pol)
{
	struct sel *s = e->sel;
	int64_t want = 0;
	int err;

	if (!s) {
		s = e->sel = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		for (int b = 0; b <= SEL_NB; b++)
			s->binlo[b] = exp(-(b + 1) / (double)SEL_BINS);
	}
	if (pol->kind == ATTN_POLICY_TOPK) {
		int64_t n = 0;

		for (int p = 0; p < e->npages; p++)
			n += eng_nvis(e, &e->pages[p], e->q->L - 1);
		want = pol->topk < n ? pol->topk : n;
	}
	err = sel_reserve(e, s, want);
	if (err)
		return err;
	s->np = e->npages;
	s->nslots = 0;
	s->kind = pol->kind;
	s->eps = pol->eps;
	s->budget = pol->budget;
	s->spent = 0;
	s->topk_max = want;
	s->topk_cap = 2 * want + e->lo.P;
	memset(s->rows, 0, (size_t)e->R * sizeof(*s->rows));
	for (int r = 0; r < e->R; r++) {
		s->rows[r].M = -INFINITY;
		s->rows[r].xcut = INFINITY;
		s->rows[r].kth = -INFINITY;
		s->rows[r].thr = -INFINITY;
	}
	return 0;
}

int
sel_partial(struct attn_engine *e, const struct attn_policy *pol, float *o,
	    float *lse, struct attn_row_stats *stats)
{
	struct sel *s;
	int64_t *quota;
	float *m0;
	int err = sel_prepare(e, pol);

	if (err)
		return err;
	s = e->sel;
	sel_bounds(e, s);
	for (int r = 0; r < e->R; r++)
		if (pol->kind == ATTN_POLICY_TOPK)
			s->rows[r].want = s->rows[r].vis < s->topk_max ?
					  s->rows[r].vis : s->topk_max;
	for (int p = 0; p < s->np; p++)
		e->last.pages += eng_nvis(e, &e->pages[p], e->q->L - 1) > 0;
	sel_visit(e, s);

	/* The row maxima fix the accumulator's scale; the sbuf scratch (R * P
	 * floats, P >= 16) holds them and, 8-byte aligned, the tie quotas. */
	m0 = e->sbuf;
	quota = (int64_t *)(void *)(e->sbuf + 2 * (size_t)e->R);
	for (int r = 0; r < e->R; r++) {
		double U = s->rows[r].M == -INFINITY ? 0.0 : sel_unscored(e, s, r);

		if (s->kind == ATTN_POLICY_MASS && s->rows[r].M > -INFINITY)
			sel_cut_mass(e, s, r, U);
		else if (s->kind == ATTN_POLICY_TOPK)
			sel_cut_topk(e, s, r);
		s->rows[r].U = U;
		m0[r] = s->rows[r].M;
	}
	err = acc_begin(&e->acc, &e->s_acc, e->R, e->lo.d, m0);
	if (err)
		return err;
	for (int r = 0; r < e->R; r++)
		quota[r] = s->rows[r].quota0;
	for (int slot = 0, next = -1; slot < s->nslots; slot++) {
		if (next <= slot)		/* the next slot whose V is used */
			for (next = slot + 1; next < s->nslots &&
			     !sel_slot_used(e, s, next); next++)
				;
		sel_finish_slot(e, s, slot, quota, next < s->nslots ? next : -1);
	}
	acc_finish(&e->acc, o, lse);
	for (int r = 0; stats && r < e->R; r++)
		sel_rowstats(e, s, r, &stats[r], s->rows[r].U);
	e->mode = ENG_SELECT;
	return 0;
}

/* Replays sel_finish_slot's choices for one row. */
int
sel_kept(const struct attn_engine *e, int row, int64_t *pos, int64_t cap,
	 int64_t *count)
{
	const struct sel *s = e->sel;
	const struct sel_row *rw = &s->rows[row];
	int64_t quota = rw->quota0, n = 0;
	int i = row / e->lastG;

	for (int slot = 0; slot < s->nslots; slot++) {
		int p = s->slot_page[slot];
		const float *sc = s->slots + ((size_t)slot * e->R + row) * e->lo.P;
		int64_t lim = e->lastqpos + i - e->ppos[p] + 1;
		int nv = lim <= 0 ? 0 : lim >= e->pn[p] ? e->pn[p] : (int)lim;

		for (int t = 0; t < nv; t++)
			if (sel_keep(s, rw, sc[t], &quota)) {
				if (n < cap)
					pos[n] = e->ppos[p] + t;
				n++;
			}
	}
	*count = n;
	return n > cap ? -ENOSPC : 0;
}
