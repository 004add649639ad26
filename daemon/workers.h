/*
 * workers.h - the daemon's persistent worker threads (DESIGN.md section 6)
 * and what one of them computes for one (sequence, KV head) task.
 *
 * A worker loops on sched_next (sleeping on the scheduler's condition
 * variable when there is nothing to run) and keeps a private context: an
 * engine per page layout it has met and scratch that grows to the largest
 * task, so a warm worker allocates nothing.
 *
 * A host-mode task is three steps, kept apart so that the GPU path can
 * replace the window step and the merge (DESIGN.md section 7) without
 * touching the rest:
 *   wk_sparse   the sparse part (pages before the window) with the
 *               request's policy, into the context's sparse partial;
 *   wk_window   the dense window with policy full, merged into it (host
 *               mode only);
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
	void *out;			/* the sequence's [L][hq][d], out_dt */
	enum attn_dtype out_dt;
	struct attn_row_stats *stats;	/* the sequence's [L][hq] or NULL */
	const struct attn_policy *pol;
};

struct wk_ctx;

/* Runs the three host-mode steps; returns 0 or a negative errno and the
 * bytes scanned (the most any query row needed read). */
int wk_run_host(struct wk_ctx *w, const struct wk_task *t, uint64_t *bytes);

int wk_sparse(struct wk_ctx *w, const struct wk_task *t);
int wk_window(struct wk_ctx *w, const struct wk_task *t);
uint64_t wk_emit(struct wk_ctx *w, const struct wk_task *t);

struct workers {
	struct sched *s;
	pthread_t *th;
	int n;
};

/* Starts @n >= 1 threads serving @s: 0 or a negative errno (none left
 * running). */
int workers_start(struct workers *w, struct sched *s, int n);
/* Stops the scheduler and joins the threads. */
void workers_stop(struct workers *w);

#endif /* HGCA_DAEMON_WORKERS_H */
