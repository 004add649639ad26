/*
 * paged.c - the paged engine: creation, argument checks, and the streaming
 * path that `full` without a budget takes (every visible key, pages in the
 * order given, each page's K read once for all rows, the next half page or
 * page prefetched while this one is computed).  The selecting policies are in
 * select.c.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/engine_pvt.h"

const uint8_t eng_ident[256] = {
#define I4(n) n, n + 1, n + 2, n + 3
#define I16(n) I4(n), I4(n + 4), I4(n + 8), I4(n + 12)
#define I64(n) I16(n), I16(n + 16), I16(n + 32), I16(n + 48)
	I64(0), I64(64), I64(128), I64(192)
#undef I64
#undef I16
#undef I4
};

int
attn_engine_create(struct attn_engine **out, const struct attn_layout *lo,
		   enum attn_isa isa)
{
	struct attn_engine *e;

	if (!out || attn_layout_check(lo) || !attn_isa_name(isa))
		return -EINVAL;
	if (!attn_isa_supported(isa))
		return -ENOTSUP;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->lo = *lo;
	e->isa = isa;
	e->kern = attn_kern_for(isa);
	e->es = attn_dtype_size(lo->dt);
	*out = e;
	return 0;
}

void
attn_engine_destroy(struct attn_engine *e)
{
	if (!e)
		return;
	scratch_free(&e->s_qs);
	scratch_free(&e->s_sbuf);
	scratch_free(&e->s_acc);
	scratch_free(&e->s_ppos);
	scratch_free(&e->s_pn);
	sel_free(e->sel);
	free(e);
}

enum attn_isa
attn_engine_isa(const struct attn_engine *e)
{
	return e->isa;
}

void
attn_engine_last_stats(const struct attn_engine *e, struct attn_call_stats *out)
{
	*out = e->last;
}

static int
paged_check(const struct attn_engine *e, const struct attn_query *q,
	    const struct attn_page *pages, int npages,
	    const struct attn_policy *pol, const float *o, const float *lse)
{
	if (!e || attn_query_check(q) || q->d != e->lo.d || !o || !lse ||
	    attn_policy_check(pol) || npages < 0 || (npages > 0 && !pages))
		return -EINVAL;
	for (int p = 0; p < npages; p++) {
		const struct attn_page *pg = &pages[p];

		if (!pg->k || !pg->v || pg->n < 1 || pg->n > e->lo.P ||
		    !pg->kmin != !pg->kmax)
			return -EINVAL;
	}
	return 0;
}

/* Scratch for this call, the scaled queries, and the page list copy that
 * attn_engine_kept replays. */
static int
paged_setup(struct attn_engine *e, const struct attn_query *q,
	    const struct attn_page *pages, int npages)
{
	size_t R = (size_t)q->L * q->G, d = (size_t)q->d;
	size_t np = npages > 0 ? (size_t)npages : 1;
	int err;

	if ((err = scratch_reserve(&e->s_qs, R * d * sizeof(float))) ||
	    (err = scratch_reserve(&e->s_sbuf, R * e->lo.P * sizeof(float))) ||
	    (err = scratch_reserve(&e->s_ppos, np * sizeof(int64_t))) ||
	    (err = scratch_reserve(&e->s_pn, np * sizeof(int))))
		return err;
	e->q = q;
	e->pages = pages;
	e->npages = npages;
	e->R = (int)R;
	e->qs = e->s_qs.p;
	e->sbuf = e->s_sbuf.p;
	e->ppos = e->s_ppos.p;
	e->pn = e->s_pn.p;
	for (size_t i = 0; i < R * d; i++)
		e->qs[i] = q->q[i] * q->scale;
	for (int p = 0; p < npages; p++) {
		e->ppos[p] = pages[p].pos;
		e->pn[p] = pages[p].n;
	}
	e->lastL = q->L;
	e->lastG = q->G;
	e->lastqpos = q->pos;
	memset(&e->last, 0, sizeof(e->last));
	return 0;
}

/* Index of the next page after @p with a key visible to the last row. */
static int
stream_next(const struct attn_engine *e, int p)
{
	for (p++; p < e->npages; p++)
		if (eng_nvis(e, &e->pages[p], e->q->L - 1) > 0)
			return p;
	return -1;
}

/* Weights of one page for every row: scores, causal mask, running maxima
 * (rescaling the block), exponentials and their sums. */
static void
stream_weights(struct attn_engine *e, const struct attn_page *pg, int nt,
	       const void *pf)
{
	const struct attn_kern *k = e->kern;
	float *cur = acc_cur(&e->acc);
	int P = e->lo.P, R = e->R, G = e->q->G;

	k->score(e->lo.dt, e->qs, R, e->lo.d, pg->k, P, nt, e->sbuf, P, pf,
		 pf ? attn_page_bytes(&e->lo) : 0);
	for (int r = 0; r < R; r++) {
		float *s = e->sbuf + (size_t)r * P;
		int nv = eng_nvis(e, pg, r / G);

		for (int t = nv; t < nt; t++)
			s[t] = -INFINITY;
		if (nv > 0)
			acc_raise(&e->acc, r, k->maxv(s, nt));
		cur[R + r] += k->expsum(s, s, nt, cur[r]);
	}
}

static void
stream_rowstats(struct attn_engine *e, struct attn_row_stats *stats)
{
	int G = e->q->G;
	size_t kb = (size_t)e->lo.d * e->es;

	for (int r = 0; r < e->R; r++) {
		int64_t n = 0;

		for (int p = 0; p < e->npages; p++)
			n += eng_nvis(e, &e->pages[p], r / G);
		stats[r].entries = n;
		stats[r].bytes = 2 * n * (int64_t)kb;
		stats[r].delta = 0.0;
	}
}

/* Prefetch @bytes from @p at once, with the process's hint: the first
 * page of a call, which nothing fetched ahead. */
static void
prefetch_now(const void *p, size_t bytes, int hint)
{
	const char *c = p, *end = c + bytes;

	for (; c < end; c += 64)
		attn_prefetch_line(c, hint);
}

static int
stream_partial(struct attn_engine *e, float *o, float *lse,
	       struct attn_row_stats *stats)
{
	size_t page_bytes = attn_page_bytes(&e->lo);
	int64_t kb = (int64_t)e->lo.d * (int64_t)e->es;
	/* How far ahead the kernels prefetch.  With NTA (AMD) the lines land
	 * in L1 only, so they must be used before L1 turns over: half a page
	 * ahead (the scores fetch this page's V, the V pass the next page's
	 * K) keeps the lines in flight at 16 KiB for d 128.  On a Zen 5 core
	 * it read 3-11% more per second from DRAM than a whole page ahead
	 * (runs of each alternated, each step against a streaming read of
	 * the same size).  Hints that fill L2 keep the whole page ahead,
	 * which the L2 holds with room to spare. */
	int hint = attn_prefetch_hint(), half = hint == ATTN_PF_NTA;
	int err, p, next;

	err = acc_begin(&e->acc, &e->s_acc, e->R, e->lo.d, NULL);
	if (err)
		return err;
	/* The first page all at once: its lines then arrive in parallel,
	 * not one demand miss after another (a service's call covers a chunk
	 * of 32 pages; on a Zen 5 core, 0-4% more bytes/s from DRAM). */
	p = stream_next(e, -1);
	if (p >= 0) {
		prefetch_now(e->pages[p].k, page_bytes, hint);
		if (!half)
			prefetch_now(e->pages[p].v, page_bytes, hint);
	}
	for (; p >= 0; p = next) {
		const struct attn_page *pg = &e->pages[p];
		int nv = eng_nvis(e, pg, e->q->L - 1);

		/* (A whole page ahead was as good as two or three.) */
		const void *nextk, *nextv;

		next = stream_next(e, p);
		nextk = next >= 0 ? e->pages[next].k : NULL;
		nextv = next >= 0 ? e->pages[next].v : NULL;
		stream_weights(e, pg, eng_round_tok(nv), half ? pg->v : nextk);
		e->kern->vacc(e->lo.dt, e->sbuf, e->R, e->lo.P, pg->v, e->lo.d,
			      eng_ident, nv, acc_cur_o(&e->acc),
			      half ? nextk : nextv, page_bytes);
		acc_page_done(&e->acc);
		e->last.pages++;
		e->last.pages_scored++;
		e->last.pages_used++;
		e->last.k_bytes += nv * kb;
		e->last.v_bytes += nv * kb;
	}
	acc_finish(&e->acc, o, lse);
	if (stats)
		stream_rowstats(e, stats);
	e->mode = ENG_STREAM;
	return 0;
}

int
attn_paged_partial(struct attn_engine *e, const struct attn_query *q,
		   const struct attn_page *pages, int npages,
		   const struct attn_policy *pol, float *o, float *lse,
		   struct attn_row_stats *stats)
{
	int err = paged_check(e, q, pages, npages, pol, o, lse);

	if (err)
		return err;
	e->mode = ENG_NONE;
	err = paged_setup(e, q, pages, npages);
	if (err)
		return err;
	if (pol->kind == ATTN_POLICY_FULL && pol->budget == 0)
		return stream_partial(e, o, lse, stats);
	return sel_partial(e, pol, o, lse, stats);
}

/* Kept keys of the streaming path: every visible key, in page order. */
static int
stream_kept(const struct attn_engine *e, int row, int64_t *pos, int64_t cap,
	    int64_t *count)
{
	int64_t n = 0;
	int i = row / e->lastG;

	for (int p = 0; p < e->npages; p++) {
		int64_t lim = e->lastqpos + i - e->ppos[p] + 1;
		int nv = lim <= 0 ? 0 : lim >= e->pn[p] ? e->pn[p] : (int)lim;

		for (int t = 0; t < nv; t++, n++)
			if (n < cap)
				pos[n] = e->ppos[p] + t;
	}
	*count = n;
	return n > cap ? -ENOSPC : 0;
}

int
attn_engine_kept(const struct attn_engine *e, int row, int64_t *pos,
		 int64_t cap, int64_t *count)
{
	if (!e || !count || e->mode == ENG_NONE || row < 0 ||
	    row >= e->lastL * e->lastG || cap < 0 || (cap > 0 && !pos))
		return -EINVAL;
	if (e->mode == ENG_STREAM)
		return stream_kept(e, row, pos, cap, count);
	return sel_kept(e, row, pos, cap, count);
}
