/*
 * workers.h - the daemon's persistent worker threads (DESIGN.md section 6)
 * and what one of them computes for one (sequence, KV head) task.
 *
 * A worker loops on sched_next (sleeping on the scheduler's condition
 * variable when there is nothing to run) and keeps a private context: an
 * engine per page layout it has met and scratch that grows to the largest
 * task, so a warm worker allocates nothing.
 *
 * What a task computes is split in steps so that the GPU path can replace
 * the window and the final merge (DESIGN.md section 7) without touching the
 * rest.  A request's (sequence, KV head) is cut into chunks of pages, each
 * one task, so that a long context cannot hold a worker for long:
 *   wk_partial  one chunk: sparse pages with the request's policy, or (in
 *               host mode) the dense window with policy full, into the
 *               chunk's own partial (o, lse, row stats);
 *   wk_merge    the chunks of a (sequence, KV head) merged in chunk order
 *               (deterministic), by whichever task finishes last;
 *   wk_emit     the merged rows into the caller's output and stats.
 */
#ifndef HGCA_DAEMON_WORKERS_H
#define HGCA_DAEMON_WORKERS_H

#include <pthread.h>
#include <stdint.h>

#include "attn/paged.h"
#include "daemon/kvstore.h"
#include "daemon/model.h"
#include "daemon/sched.h"

/* One (sequence, KV head) of an attend. */
struct wk_task {
	const struct svc_model *m;
	const struct kv_seq *seq;
	int layer, head;
	int64_t len;			/* tokens of the layer */
	int64_t pos;			/* first query position */
	int L;
	const float *q;			/* the sequence's [L][hq][d] */
};

/* A partial over some pages: o [L][G][d], lse [L][G], st [L][G]. */
struct wk_part {
	float *o, *lse;
	struct attn_row_stats *st;
};

struct wk_ctx;

/* Pages the task can see: those holding a key at or before its last row. */
int64_t wk_visible_pages(const struct wk_task *t);

/*
 * wk_partial - partial attention of the task's query rows over its pages
 * [from, to) (from >= to: the empty partial) with @pol, into @out.  Returns
 * 0 or a negative errno, and the most bytes a row read in *bytes.
 */
int wk_partial(struct wk_ctx *w, const struct wk_task *t, int64_t from,
	       int64_t to, const struct attn_policy *pol,
	       const struct wk_part *out, uint64_t *bytes);

/* Merges parts 1..n-1 into part 0 in order: outputs by log-sum-exp, keys
 * and bytes summed, delta the largest (a bound on the dropped fraction of
 * the union, since sum(D_i) / sum(T_i) <= max(D_i / T_i)). */
void wk_merge(const struct wk_task *t, const struct wk_part *parts, int n);

/* Writes merged rows into the sequence's out [L][hq][d] (@dt) and, when
 * not NULL, stats [L][hq]. */
void wk_emit(const struct wk_task *t, const struct wk_part *p, void *out,
	     enum attn_dtype dt, struct attn_row_stats *stats);

struct workers {
	struct sched *s;
	int nice;
	pthread_t *th;
	int n;
};

/* Starts @n >= 1 threads serving @s at niceness @nice (best effort: a
 * thread that cannot lower its priority runs as it is): 0 or a negative
 * errno (none left running). */
int workers_start(struct workers *w, struct sched *s, int n, int nice);
/* Stops the scheduler and joins the threads. */
void workers_stop(struct workers *w);

#endif /* HGCA_DAEMON_WORKERS_H */
