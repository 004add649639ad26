/* workers.c - worker threads and the host-mode computation of one task. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/workers.h"

#define WK_ENGINES 8		/* page layouts a worker keeps engines for */

struct wk_engine {
	struct attn_layout lo;
	struct attn_engine *e;
};

struct wk_ctx {
	struct wk_engine eng[WK_ENGINES];
	int next_evict;
	/* Scratch, grown on demand: rows = L * G of one task. */
	size_t rows_cap, d_cap;
	float *q, *so, *slse, *wo, *wlse;
	struct attn_row_stats *sst, *wst;
	int64_t pages_cap;
	struct attn_page *pages;
};

static void
ctx_free(struct wk_ctx *w)
{
	if (!w)
		return;
	for (int i = 0; i < WK_ENGINES; i++)
		attn_engine_destroy(w->eng[i].e);
	free(w->q);
	free(w->so);
	free(w->slse);
	free(w->wo);
	free(w->wlse);
	free(w->sst);
	free(w->wst);
	free(w->pages);
	free(w);
}

static bool
same_layout(const struct attn_layout *a, const struct attn_layout *b)
{
	return a->d == b->d && a->P == b->P && a->dt == b->dt;
}

/* This worker's engine for @lo, created on first use. */
static int
ctx_engine(struct wk_ctx *w, const struct attn_layout *lo,
	   struct attn_engine **out)
{
	struct wk_engine *slot;
	int err;

	for (int i = 0; i < WK_ENGINES; i++)
		if (w->eng[i].e && same_layout(&w->eng[i].lo, lo)) {
			*out = w->eng[i].e;
			return 0;
		}
	slot = &w->eng[w->next_evict];
	w->next_evict = (w->next_evict + 1) % WK_ENGINES;
	attn_engine_destroy(slot->e);
	slot->e = NULL;
	err = attn_engine_create(&slot->e, lo, attn_isa_default());
	if (err)
		return err;
	slot->lo = *lo;
	*out = slot->e;
	return 0;
}

static int
grow(void **p, size_t n, size_t size)
{
	void *q = realloc(*p, n * size);

	if (!q)
		return -ENOMEM;
	*p = q;
	return 0;
}

static int
ctx_reserve(struct wk_ctx *w, size_t rows, size_t d, int64_t pages)
{
	size_t n = rows * d;
	int err = 0;

	if (rows > w->rows_cap || d > w->d_cap) {
		rows = rows > w->rows_cap ? rows : w->rows_cap;
		d = d > w->d_cap ? d : w->d_cap;
		n = rows * d;
		err = grow((void **)&w->q, n, sizeof(float)) ||
		      grow((void **)&w->so, n, sizeof(float)) ||
		      grow((void **)&w->wo, n, sizeof(float)) ||
		      grow((void **)&w->slse, rows, sizeof(float)) ||
		      grow((void **)&w->wlse, rows, sizeof(float)) ||
		      grow((void **)&w->sst, rows, sizeof(*w->sst)) ||
		      grow((void **)&w->wst, rows, sizeof(*w->wst));
		if (err)
			return -ENOMEM;
		w->rows_cap = rows;
		w->d_cap = d;
	}
	if (pages > w->pages_cap) {
		if (grow((void **)&w->pages, (size_t)pages, sizeof(*w->pages)))
			return -ENOMEM;
		w->pages_cap = pages;
	}
	return 0;
}

/* Pages a task can see: those holding a key at or before its last row. */
static int64_t
visible_pages(const struct wk_task *t)
{
	int64_t last = t->pos + t->L;	/* keys < last are visible */
	int64_t n = last < t->len ? last : t->len;

	return (n + t->m->lo.P - 1) / t->m->lo.P;
}

static void
set_empty(size_t rows, int d, float *o, float *lse, struct attn_row_stats *st)
{
	memset(o, 0, rows * d * sizeof(float));
	memset(st, 0, rows * sizeof(*st));
	for (size_t r = 0; r < rows; r++)
		lse[r] = -INFINITY;
}

/* Partial over pages [from, to) with @pol into o, lse, st. */
static int
partial(struct wk_ctx *w, const struct wk_task *t, int64_t from, int64_t to,
	const struct attn_policy *pol, float *o, float *lse,
	struct attn_row_stats *st)
{
	const struct svc_model *m = t->m;
	struct attn_query q = { .q = w->q, .L = t->L, .G = m->G, .d = m->lo.d,
				.pos = t->pos, .scale = m->scale };
	struct attn_engine *e;
	int err;

	if (from >= to) {
		set_empty((size_t)t->L * m->G, m->lo.d, o, lse, st);
		return 0;
	}
	err = ctx_engine(w, &m->lo, &e);
	if (err)
		return err;
	for (int64_t i = from; i < to; i++)
		kv_seq_page(t->seq, t->layer, t->head, i, t->len, &w->pages[i - from]);
	return attn_paged_partial(e, &q, w->pages, (int)(to - from), pol, o,
				  lse, st);
}

/* Copies the task's query rows [L][G][d] out of the request's [L][hq][d]. */
static void
gather_query(struct wk_ctx *w, const struct wk_task *t)
{
	const struct svc_model *m = t->m;
	size_t rowb = (size_t)m->G * m->lo.d;

	for (int i = 0; i < t->L; i++)
		memcpy(w->q + i * rowb,
		       t->q + ((size_t)i * m->hq + (size_t)t->head * m->G) * m->lo.d,
		       rowb * sizeof(float));
}

int
wk_sparse(struct wk_ctx *w, const struct wk_task *t)
{
	const struct svc_model *m = t->m;
	int64_t vis = visible_pages(t), first = kv_window_first(m, t->len);
	int err;

	err = ctx_reserve(w, (size_t)t->L * m->G, (size_t)m->lo.d, vis);
	if (err)
		return err;
	gather_query(w, t);
	return partial(w, t, 0, first < vis ? first : vis, t->pol, w->so,
		       w->slse, w->sst);
}

int
wk_window(struct wk_ctx *w, const struct wk_task *t)
{
	static const struct attn_policy full = { .kind = ATTN_POLICY_FULL };
	const struct svc_model *m = t->m;
	size_t rows = (size_t)t->L * m->G;
	int err;

	err = partial(w, t, kv_window_first(m, t->len), visible_pages(t), &full,
		      w->wo, w->wlse, w->wst);
	if (err)
		return err;
	attn_merge_into(rows, m->lo.d, w->so, w->slse, w->wo, w->wlse);
	return 0;
}

uint64_t
wk_emit(struct wk_ctx *w, const struct wk_task *t)
{
	const struct svc_model *m = t->m;
	size_t d = (size_t)m->lo.d, es = attn_dtype_size(t->out_dt);
	uint64_t most = 0;

	for (int i = 0; i < t->L; i++)
		for (int g = 0; g < m->G; g++) {
			size_t r = (size_t)i * m->G + g;
			size_t dst = (size_t)i * m->hq + (size_t)t->head * m->G + g;
			int64_t bytes = w->sst[r].bytes + w->wst[r].bytes;

			attn_from_f32(t->out_dt, w->so + r * d,
				      (char *)t->out + dst * d * es, d);
			if (t->stats) {
				t->stats[dst].entries = w->sst[r].entries +
							w->wst[r].entries;
				t->stats[dst].bytes = bytes;
				/* Certified against the sparse part's total,
				 * which the merged total can only exceed. */
				t->stats[dst].delta = w->sst[r].delta;
			}
			if ((uint64_t)bytes > most)
				most = (uint64_t)bytes;
		}
	return most;
}

int
wk_run_host(struct wk_ctx *w, const struct wk_task *t, uint64_t *bytes)
{
	int err;

	*bytes = 0;
	err = wk_sparse(w, t);
	if (!err)
		err = wk_window(w, t);
	if (!err)
		*bytes = wk_emit(w, t);
	return err;
}

/* ---- threads -------------------------------------------------------- */

static void *
worker_main(void *arg)
{
	struct sched *s = arg;
	struct wk_ctx *w = calloc(1, sizeof(*w));
	struct sched_job *j;
	uint64_t bytes;
	int t, err;

	while (sched_next(s, &j, &t)) {
		bytes = 0;
		err = w ? j->ops->run(j, t, w, &bytes) : -ENOMEM;
		sched_done(s, j, t, bytes, err);
	}
	ctx_free(w);
	return NULL;
}

int
workers_start(struct workers *w, struct sched *s, int n)
{
	int err;

	w->s = s;
	w->n = 0;
	w->th = calloc((size_t)n, sizeof(*w->th));
	if (!w->th)
		return -ENOMEM;
	for (; w->n < n; w->n++) {
		err = pthread_create(&w->th[w->n], NULL, worker_main, s);
		if (err) {
			workers_stop(w);
			return -err;
		}
	}
	return 0;
}

void
workers_stop(struct workers *w)
{
	sched_stop(w->s);
	for (int i = 0; i < w->n; i++)
		pthread_join(w->th[i], NULL);
	free(w->th);
	w->th = NULL;
	w->n = 0;
}
