/* dataplane.c - the poller threads (see dataplane.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/dataplane.h"
#include "daemon/log.h"
#include "daemon/op_nop.h"
#include "daemon/ops.h"
#include "shm/bell.h"
#include "shm/spin.h"

#define BATCH 64		/* descriptors per client per round */
#define SLEEP_NS 1000000000ll	/* a sleeping poller re-checks this often */
#define CLOCK_EVERY 32		/* spin rounds between clock reads */

struct poller {
	struct dataplane *dp;
	pthread_t thread;
	unsigned idx;
	pthread_mutex_t lock;	/* protects list, nlist and gen */
	struct client *list[POLLER_CLIENTS];
	unsigned nlist;
	_Atomic uint32_t gen;	/* bumped (under lock) when list changes */
	_Atomic int stop;
	struct hgca_bell wake;	/* the control thread wakes us here */
	_Atomic uint64_t requests;
	/* The poller thread's own. */
	struct client *snap[POLLER_CLIENTS];
	bool by_tail[POLLER_CLIENTS];	/* see has_work() */
	unsigned nsnap;
	uint32_t snap_gen;
	struct shm_spin spin;
};

struct dataplane {
	unsigned n;
	_Atomic uint64_t spin_ns;
	struct poller p[];
};

/* Re-copy the list when it changed, holding a reference per entry. */
static void
refresh_snapshot(struct poller *p)
{
	/* Acquire pairs with the release in list_changed(). */
	uint32_t gen = atomic_load_explicit(&p->gen, memory_order_acquire);

	if (gen == p->snap_gen)
		return;
	for (unsigned i = 0; i < p->nsnap; i++)
		client_unref(p->snap[i]);
	pthread_mutex_lock(&p->lock);
	p->nsnap = p->nlist;
	for (unsigned i = 0; i < p->nlist; i++) {
		p->snap[i] = p->list[i];
		p->by_tail[i] = false;
		client_ref(p->snap[i]);
	}
	p->snap_gen = atomic_load_explicit(&p->gen, memory_order_relaxed);
	pthread_mutex_unlock(&p->lock);
}

/* Add to a statistic only this thread writes: a relaxed load and store,
 * no locked instruction on the hot path (ordered for readers by the
 * release that follows it in flush()). */
static inline void
count(_Atomic uint64_t *v, uint64_t n)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Anything but a plain NOP: through the opcode table. */
static __attribute__((noinline)) enum op_verdict
dispatch_table(struct client *c, const struct hgca_sqe *sqe,
	       struct hgca_cqe *cqe)
{
	const char *why = "";
	enum op_verdict v = ops_dispatch(c, sqe, cqe, &why);

	if (v == OP_VIOLATION)
		client_quarantine(c, why);
	return v;
}

/*
 * Check descriptor @src and dispatch it.  A plain NOP, which passes every
 * check of the table's and its own (op_nop_plain_words()), is answered
 * here, from its words read once into registers (its private copy), with
 * no call on its way; anything else is copied into private memory first,
 * since the client may rewrite the slot, and goes through the table.
 */
static inline enum op_verdict
dispatch_one(struct client *c, const struct hgca_sqe *src,
	     struct hgca_cqe *cqe)
{
	uint64_t w1 = op_word(src, 8), value = op_word(src, 16);
	struct hgca_sqe sqe;

	if (op_nop_plain_words(op_word(src, 0), w1, op_word(src, 24) |
			       op_word(src, 32) | op_word(src, 40) |
			       op_word(src, 48) | op_word(src, 56))) {
		cqe->res = 0;
		cqe->tag = (uint32_t)w1;
		cqe->val[0] = value;
		cqe->val[1] = 0;
		return OP_DONE;
	}
	memcpy(&sqe, src, sizeof(sqe));
	return dispatch_table(c, &sqe, cqe);
}

/* Give @used descriptors back and post @ndone completions. */
static void
flush(struct poller *p, struct client *c, uint32_t used,
      const struct hgca_cqe *done, uint32_t ndone)
{
	if (used == 0)
		return;
	/* Counted before the completions are posted (their release orders
	 * it): a client that has its completions and then asks for the
	 * status finds them counted. */
	count(&c->requests, used);
	count(&p->requests, used);
	shm_ring_consume(&c->sq, used);
	client_post(c, done, ndone);
	/* Release pairs with the acquire in client_idle(): posted first. */
	atomic_store_explicit(&c->sq_done, c->sq.head, memory_order_release);
}

/* Dispatch up to @max ready descriptors, then give them back and post the
 * completions made now.  Returns how many were consumed (a violation
 * stops the batch; the offending descriptor stays unconsumed). */
static uint32_t
take_batch(struct poller *p, struct client *c, uint32_t max,
	   struct hgca_cqe *done)
{
	/* A private copy of the view: the completions' stores may alias
	 * the client's, so the loop keeps this one in registers. */
	const struct shm_ring sq = c->sq;
	uint32_t n = 0, ndone = 0, pub = 0;
	/* More than one ready: a batch, whose tail bounds the prefetch.  (A
	 * lone request reads no tail: one line transfer less.) */
	bool batch = max > 1 && shm_ring_ready_at(&sq, 1);
	enum op_verdict v;

	while (n < max) {
		/* Its address from its type: esize is a variable, a
		 * multiply. */
		const struct hgca_sqe *src = SHM_RING_ENTRY(&sq, const struct
							    hgca_sqe,
							    sq.head + n);

		/* Pairs with the release in shm_ring_publish() (client). */
		if (shm_load_acquire(&src->stamp) != sq.head + n + 1)
			break;
		/* Look at the tail again when the prefetch would pass it: a
		 * cache hit until the client moves it. */
		if (batch && pub < max && n + sq.ahead >= pub)
			pub = shm_ring_published(&sq, max);
		shm_ring_prefetch(&sq, n, pub);
		v = dispatch_one(c, src, &done[ndone]);
		if (v == OP_VIOLATION)
			break;
		ndone += v == OP_DONE;
		n++;
	}
	flush(p, c, n, done, ndone);
	return n;
}

/*
 * Is there a descriptor to take?  After a lone request, the stamp of the
 * next slot says: one line crosses per request.  After a batch (@by_tail)
 * the client likely sends batches, and the stamp would be a look at the
 * line it fills next: every look pulls the line away from it mid-batch,
 * and its stores and the doorbell's fence wait for the line's return.
 * Then the published tail says first (a correct client moves it after
 * the stamps, never behind what we consumed; a broken client that leaves
 * it behind only delays its own requests).
 */
static inline bool
has_work(const struct client *c, bool by_tail)
{
	/* Relaxed: only a hint; the stamp's acquire orders what is read. */
	if (by_tail && (int32_t)(shm_load_relaxed(&c->sq.ctl->tail) -
				 c->sq.head) <= 0)
		return false;
	return shm_ring_ready_at(&c->sq, 0);
}

/*
 * Serve client @i's submission ring once: up to BATCH ready descriptors
 * that have a completion slot, answered together.  A lone request is not
 * held back by the look at the slot after it: that slot's line is still
 * in our cache from its last lap, so the look costs a cache hit.
 * Returns descriptors consumed.
 */
static uint32_t
service(struct poller *p, unsigned i)
{
	struct client *c = p->snap[i];
	struct hgca_cqe done[BATCH];
	uint32_t credit, n;

	if (!client_serving(c) || !has_work(c, p->by_tail[i]))
		return 0;
	/* A lone request asks for one completion slot: no lines claimed
	 * for a batch that is not there. */
	if (client_cq_credit(c, shm_ring_ready_at(&c->sq, 1) ? BATCH : 1,
			     &credit) < 0) {
		client_quarantine(c, "completion head moved backwards or "
				  "past the tail");
		return 0;
	}
	/* A correct client never has more in flight than the completion
	 * ring holds (its library counts), so a request it cannot be
	 * answered for is a broken client's. */
	if (credit == 0) {
		client_quarantine(c, "more requests in flight than the "
				  "completion ring holds");
		return 0;
	}
	n = take_batch(p, c, credit, done);
	p->by_tail[i] = n > 1;
	return n;
}

/* Idle: check each client's published tail (stamps tell what is ready;
 * the tail must still never go backwards or past capacity). */
static void
check_tails(struct poller *p)
{
	for (unsigned i = 0; i < p->nsnap; i++) {
		struct client *c = p->snap[i];

		if (client_serving(c) && shm_ring_check_tail(&c->sq) < 0)
			client_quarantine(c, "submission tail moved backwards "
					  "or past the ring's capacity");
	}
}

/* Before sleeping: is any descriptor stamped?  Stamps, not tails: the
 * doorbell's Dekker pair orders the stamps alone (a client moves its tail
 * after it rings).  A client found so goes back to being looked at by its
 * stamp, so that a tail left behind (a client killed between the two, or
 * a broken one) cannot keep us from sleeping and its requests waiting. */
static bool
any_ready(struct poller *p)
{
	for (unsigned i = 0; i < p->nsnap; i++) {
		struct client *c = p->snap[i];

		if (client_serving(c) && shm_ring_ready_at(&c->sq, 0)) {
			p->by_tail[i] = false;
			return true;
		}
	}
	/* Relaxed: a change wakes us through the bell anyway. */
	return atomic_load_explicit(&p->gen, memory_order_relaxed) !=
	       p->snap_gen || atomic_load_explicit(&p->stop,
						   memory_order_relaxed);
}

/* Arm every doorbell, re-check, and sleep on all of them at once. */
static void
poller_sleep(struct poller *p)
{
	struct hgca_bell *bells[POLLER_CLIENTS + 1];
	uint32_t seq[POLLER_CLIENTS + 1];
	unsigned n = 0;

	bells[n] = &p->wake;
	seq[n++] = shm_bell_arm(&p->wake);
	for (unsigned i = 0; i < p->nsnap; i++)
		if (client_serving(p->snap[i])) {
			bells[n] = &p->snap[i]->sq.ctl->bell;
			seq[n] = shm_bell_arm(bells[n]);
			n++;
		}
	if (!any_ready(p) &&
	    shm_bell_sleepv(bells, seq, n, SLEEP_NS) == -ENOSYS)
		shm_bell_sleep(&p->wake, seq[0], 1000000);	/* 1 ms polls */
	for (unsigned i = 0; i < n; i++)
		shm_bell_disarm(bells[i]);
}

/*
 * One idle round: spin; every CLOCK_EVERY rounds look at the clock (the
 * first look starts the idle period, so work arriving while we spin costs
 * no clock read) and sleep once the budget is spent.
 */
static void
idle(struct poller *p, uint64_t *since, unsigned *rounds)
{
	if (++*rounds % CLOCK_EVERY) {
		shm_cpu_relax();
		return;
	}
	if (!*since)
		*since = shm_now_ns();
	check_tails(p);
	/* Relaxed: the budget is a hint. */
	p->spin.cap_ns = atomic_load_explicit(&p->dp->spin_ns,
					      memory_order_relaxed);
	if (shm_now_ns() - *since < shm_spin_limit(&p->spin))
		return;
	poller_sleep(p);
}

static void *
poller_main(void *arg)
{
	struct poller *p = arg;
	uint64_t since = 0;
	unsigned rounds = 0;
	uint32_t work;

	while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		refresh_snapshot(p);
		work = 0;
		for (unsigned i = 0; i < p->nsnap; i++)
			work += service(p, i);
		if (work) {
			if (rounds)	/* a short idle period learns as 0 */
				shm_spin_learn(&p->spin, since ?
					       shm_now_ns() - since : 0);
			since = 0;
			rounds = 0;
			continue;
		}
		idle(p, &since, &rounds);
	}
	for (unsigned i = 0; i < p->nsnap; i++)
		client_unref(p->snap[i]);
	p->nsnap = 0;
	return NULL;
}

static int
poller_start(struct dataplane *dp, unsigned i)
{
	struct poller *p = &dp->p[i];
	char name[32];
	int rc;

	p->dp = dp;
	p->idx = i;
	pthread_mutex_init(&p->lock, NULL);
	shm_spin_init(&p->spin, atomic_load(&dp->spin_ns));
	rc = pthread_create(&p->thread, NULL, poller_main, p);
	if (rc)
		return -rc;
	snprintf(name, 16, "hgcad-poll%u", i % 100);
	pthread_setname_np(p->thread, name);
	return 0;
}

static void
poller_stop(struct poller *p)
{
	atomic_store(&p->stop, 1);
	shm_bell_ring(&p->wake);
	pthread_join(p->thread, NULL);
	for (unsigned i = 0; i < p->nlist; i++)
		client_unref(p->list[i]);
	pthread_mutex_destroy(&p->lock);
}

int
dataplane_create(unsigned npollers, uint64_t spin_ns, struct dataplane **out)
{
	struct dataplane *dp = calloc(1, sizeof(*dp) +
				      npollers * sizeof(struct poller));
	int rc = 0;

	if (!dp)
		return -ENOMEM;
	atomic_init(&dp->spin_ns, spin_ns);
	for (dp->n = 0; dp->n < npollers && rc == 0; dp->n++)
		rc = poller_start(dp, dp->n);
	if (rc < 0) {
		dp->n--;
		dataplane_destroy(dp);
		return rc;
	}
	*out = dp;
	return 0;
}

void
dataplane_destroy(struct dataplane *dp)
{
	if (!dp)
		return;
	for (unsigned i = 0; i < dp->n; i++)
		poller_stop(&dp->p[i]);
	free(dp);
}

static void
list_changed(struct poller *p)
{
	/* Release pairs with the acquire in refresh_snapshot(). */
	atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
	shm_bell_ring(&p->wake);
}

int
dataplane_add(struct dataplane *dp, struct client *c)
{
	struct poller *best = NULL;

	/* nlist is written by this (the control) thread only. */
	for (unsigned i = 0; i < dp->n; i++)
		if (dp->p[i].nlist < POLLER_CLIENTS &&
		    (!best || dp->p[i].nlist < best->nlist))
			best = &dp->p[i];
	if (!best)
		return -EMFILE;
	client_ref(c);
	c->poller = best;
	pthread_mutex_lock(&best->lock);
	best->list[best->nlist++] = c;
	pthread_mutex_unlock(&best->lock);
	list_changed(best);
	return 0;
}

void
dataplane_remove(struct dataplane *dp, struct client *c)
{
	struct poller *p = c->poller;
	bool found = false;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < p->nlist; i++)
		if (p->list[i] == c) {
			p->list[i] = p->list[--p->nlist];
			found = true;
			break;
		}
	pthread_mutex_unlock(&p->lock);
	c->poller = NULL;
	if (found) {
		list_changed(p);
		client_unref(c);
	}
}

void
dataplane_set_spin(struct dataplane *dp, uint64_t spin_ns)
{
	atomic_store_explicit(&dp->spin_ns, spin_ns, memory_order_relaxed);
}

unsigned
dataplane_pollers(const struct dataplane *dp)
{
	return dp->n;
}

uint64_t
dataplane_requests(const struct dataplane *dp)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < dp->n; i++)	/* relaxed: a statistic */
		sum += atomic_load_explicit(&dp->p[i].requests,
					    memory_order_relaxed);
	return sum;
}
