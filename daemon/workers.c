/* workers.c - worker threads and the host-mode computation of one task. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/workers.h"

#define WK_ENGINES 8		/* page layouts a worker keeps engines for */

struct wk_engine {
	struct attn_layout lo;
	struct attn_engine *e;
};

struct wk_ctx {
	struct wk_engine eng[WK_ENGINES];
	int next_evict;
	/* Scratch, grown on demand: one task's query rows and page list. */
	size_t q_cap;
	float *q;
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
ctx_reserve(struct wk_ctx *w, size_t qn, int64_t pages)
{
	void *p;

	if (qn > w->q_cap) {
		p = realloc(w->q, qn * sizeof(float));
		if (!p)
			return -ENOMEM;
		w->q = p;
		w->q_cap = qn;
	}
	if (pages > w->pages_cap) {
		p = realloc(w->pages, (size_t)pages * sizeof(*w->pages));
		if (!p)
			return -ENOMEM;
		w->pages = p;
		w->pages_cap = pages;
	}
	return 0;
}

int64_t
wk_visible_pages(const struct wk_task *t)
{
	int64_t last = t->pos + t->L;	/* keys < last are visible */
	int64_t n = last < t->len ? last : t->len;

	return (n + t->m->lo.P - 1) / t->m->lo.P;
}

static void
set_empty(size_t rows, int d, const struct wk_part *p)
{
	memset(p->o, 0, rows * d * sizeof(float));
	memset(p->st, 0, rows * sizeof(*p->st));
	for (size_t r = 0; r < rows; r++)
		p->lse[r] = -INFINITY;
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

static uint64_t
most_bytes(size_t rows, const struct attn_row_stats *st)
{
	uint64_t most = 0;

	for (size_t r = 0; r < rows; r++)
		if ((uint64_t)st[r].bytes > most)
			most = (uint64_t)st[r].bytes;
	return most;
}

int
wk_partial(struct wk_ctx *w, const struct wk_task *t, int64_t from,
	   int64_t to, const struct attn_policy *pol, const struct wk_part *out,
	   uint64_t *bytes)
{
	const struct svc_model *m = t->m;
	size_t rows = (size_t)t->L * m->G;
	struct attn_query q = { .L = t->L, .G = m->G, .d = m->lo.d,
				.pos = t->pos, .scale = m->scale };
	struct attn_engine *e;
	int err;

	*bytes = 0;
	if (from >= to) {
		set_empty(rows, m->lo.d, out);
		return 0;
	}
	err = ctx_reserve(w, rows * m->lo.d, to - from);
	err = err ? err : ctx_engine(w, &m->lo, &e);
	if (err)
		return err;
	gather_query(w, t);
	q.q = w->q;
	for (int64_t i = from; i < to; i++)
		kv_seq_page(t->seq, t->layer, t->head, i, t->len, &w->pages[i - from]);
	err = attn_paged_partial(e, &q, w->pages, (int)(to - from), pol, out->o,
				 out->lse, out->st);
	if (!err)
		*bytes = most_bytes(rows, out->st);
	return err;
}

void
wk_merge(const struct wk_task *t, const struct wk_part *parts, int n)
{
	size_t rows = (size_t)t->L * t->m->G;
	const struct wk_part *p0 = &parts[0];

	for (int c = 1; c < n; c++) {
		attn_merge_into(rows, t->m->lo.d, p0->o, p0->lse, parts[c].o,
				parts[c].lse);
		for (size_t r = 0; r < rows; r++) {
			p0->st[r].entries += parts[c].st[r].entries;
			p0->st[r].bytes += parts[c].st[r].bytes;
			p0->st[r].delta = fmax(p0->st[r].delta, parts[c].st[r].delta);
		}
	}
}

void
wk_emit(const struct wk_task *t, const struct wk_part *p, void *out,
	enum attn_dtype dt, struct attn_row_stats *stats)
{
	const struct svc_model *m = t->m;
	size_t d = (size_t)m->lo.d, es = attn_dtype_size(dt);

	for (int i = 0; i < t->L; i++)
		for (int g = 0; g < m->G; g++) {
			size_t r = (size_t)i * m->G + g;
			size_t dst = (size_t)i * m->hq + (size_t)t->head * m->G + g;

			attn_from_f32(dt, p->o + r * d, (char *)out + dst * d * es, d);
			/* The largest chunk delta is certified against the
			 * sparse part's total, which the merged total (window
			 * included) can only exceed. */
			if (stats)
				stats[dst] = p->st[r];
		}
}

/* ---- threads -------------------------------------------------------- */

static void *
worker_main(void *arg)
{
	struct workers *ws = arg;
	struct sched *s = ws->s;
	struct wk_ctx *w = calloc(1, sizeof(*w));

	/* Linux: a thread's own niceness; lowering it needs no privilege. */
	if (ws->nice > 0)
		(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
				  ws->nice);
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
workers_start(struct workers *w, struct sched *s, int n, int nice)
{
	int err;

	w->s = s;
	w->nice = nice;
	w->n = 0;
	w->th = calloc((size_t)n, sizeof(*w->th));
	if (!w->th)
		return -ENOMEM;
	for (; w->n < n; w->n++) {
		err = pthread_create(&w->th[w->n], NULL, worker_main, w);
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
