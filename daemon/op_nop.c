/*
 * op_nop.c - HGCA_OP_NOP: echoes a value, optionally checksums a buffer in
 * the staging arena (FNV-1a, 64 bits), and optionally completes after a
 * delay from another thread.  It is the transport's test and benchmark
 * opcode, and the template for handlers that read staging data or
 * complete asynchronously.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "daemon/op_nop.h"
#include "daemon/ops.h"
#include "shm/spin.h"

/* One delayed completion, in a list sorted by deadline. */
struct delayed {
	uint64_t due_ns;
	struct client *c;
	struct hgca_cqe cqe;
	struct delayed *next;
};

/* The delay thread's queue; lock protects head and stop. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* CLOCK_MONOTONIC */
	struct delayed *head;
	bool stop, started;
	pthread_t thread;
} dq = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t
fnv1a(const volatile unsigned char *p, uint64_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	/* volatile: the client may write the buffer while we read it; we
	 * read each byte once and the result is only returned to it. */
	for (uint64_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void
dq_insert(struct delayed *d)
{
	struct delayed **pp;

	pthread_mutex_lock(&dq.lock);
	for (pp = &dq.head; *pp && (*pp)->due_ns <= d->due_ns; pp = &(*pp)->next)
		;
	d->next = *pp;
	*pp = d;
	if (dq.head == d)
		pthread_cond_signal(&dq.cond);
	pthread_mutex_unlock(&dq.lock);
}

static enum op_verdict
nop_defer(struct client *c, struct hgca_cqe *cqe, uint32_t delay_us)
{
	struct delayed *d = malloc(sizeof(*d));

	if (!d) {
		cqe->res = -ENOMEM;
		return OP_DONE;
	}
	d->due_ns = shm_now_ns() + (uint64_t)delay_us * 1000;
	d->c = c;
	d->cqe = *cqe;
	client_hold(c);
	dq_insert(d);
	return OP_PENDING;
}

/* A NOP with flags (a checksum, a delay): out of line, so that a plain
 * one's path needs no stack frame. */
static __attribute__((noinline)) enum op_verdict
nop_flagged(struct client *c, const struct hgca_sqe *sqe, struct hgca_cqe *cqe,
	    const char **why)
{
	const struct hgca_sqe_nop *n = &sqe->u.nop;
	bool sum = sqe->flags & HGCA_NOP_F_SUM;
	bool delay = sqe->flags & HGCA_NOP_F_DELAY;

	if (n->rsvd0 || n->rsvd[0] || n->rsvd[1] ||
	    (!sum && (n->off || n->len)) || (!delay && n->delay_us))
		goto contradict;
	cqe->val[0] = n->value;
	if (sum) {
		if (n->len == 0 || !client_range_ok(c, n->off, n->len)) {
			*why = "NOP buffer outside the staging arena";
			return OP_VIOLATION;
		}
		cqe->val[1] = fnv1a(c->stage + n->off, n->len);
	}
	if (!delay)
		return OP_DONE;
	if (n->delay_us == 0 || n->delay_us > HGCA_NOP_DELAY_MAX_US) {
		cqe->res = -EINVAL;	/* a value a correct client may get wrong */
		return OP_DONE;
	}
	return nop_defer(c, cqe, n->delay_us);
contradict:
	*why = "NOP fields contradict its flags or reserved fields set";
	return OP_VIOLATION;
}

/* A plain NOP, the transport's benchmark: every field but the value must
 * be zero (the poller answers one that is itself: op_nop.h). */
enum op_verdict
op_nop(struct client *c, const struct hgca_sqe *sqe, struct hgca_cqe *cqe,
       const char **why)
{
	if (sqe->flags)
		return nop_flagged(c, sqe, cqe, why);
	if (!op_nop_plain(sqe)) {
		*why = "NOP fields contradict its flags or reserved fields set";
		return OP_VIOLATION;
	}
	cqe->val[0] = sqe->u.nop.value;
	return OP_DONE;
}

/* Pop the first entry if due (or if stopping); else its deadline in @wait. */
static struct delayed *
dq_pop_due(uint64_t *wait_ns)
{
	struct delayed *d = dq.head;

	*wait_ns = 0;
	if (!d)
		return NULL;
	if (!dq.stop && d->due_ns > shm_now_ns()) {
		*wait_ns = d->due_ns;
		return NULL;
	}
	dq.head = d->next;
	return d;
}

static void
wait_until(uint64_t due_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(due_ns / 1000000000),
			       .tv_nsec = (long)(due_ns % 1000000000) };

	if (due_ns)
		pthread_cond_timedwait(&dq.cond, &dq.lock, &ts);
	else
		pthread_cond_wait(&dq.cond, &dq.lock);
}

static void *
delay_main(void *arg)
{
	struct delayed *d;
	uint64_t due;

	pthread_mutex_lock(&dq.lock);
	for (;;) {
		while ((d = dq_pop_due(&due))) {
			pthread_mutex_unlock(&dq.lock);
			client_complete(d->c, &d->cqe);
			free(d);
			pthread_mutex_lock(&dq.lock);
		}
		if (dq.stop)
			break;
		wait_until(due);
	}
	pthread_mutex_unlock(&dq.lock);
	return arg;
}

int
op_nop_start(void)
{
	pthread_condattr_t ca;
	int rc;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&dq.cond, &ca);
	pthread_condattr_destroy(&ca);
	dq.stop = false;
	rc = pthread_create(&dq.thread, NULL, delay_main, NULL);
	if (rc)
		return -rc;
	pthread_setname_np(dq.thread, "hgcad-delay");
	dq.started = true;
	return 0;
}

void
op_nop_stop(void)
{
	if (!dq.started)
		return;
	pthread_mutex_lock(&dq.lock);
	dq.stop = true;
	pthread_cond_signal(&dq.cond);
	pthread_mutex_unlock(&dq.lock);
	pthread_join(dq.thread, NULL);
	pthread_cond_destroy(&dq.cond);
	dq.started = false;
}
