/* dataplane.c - the poller threads (see dataplane.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/dataplane.h"
#include "daemon/log.h"
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
		client_ref(p->snap[i]);
	}
	p->snap_gen = atomic_load_explicit(&p->gen, memory_order_relaxed);
	pthread_mutex_unlock(&p->lock);
}

/* Copy, check and dispatch @n descriptors; completions done now go in
 * @done.  Returns how many were consumed (fewer after a violation). */
static uint32_t
dispatch_batch(struct client *c, uint32_t n, struct hgca_cqe *done,
	       uint32_t *ndone)
{
	struct hgca_sqe sqe;
	const char *why = NULL;

	*ndone = 0;
	for (uint32_t i = 0; i < n; i++) {
		/* A private copy first: the client may rewrite the slot. */
		memcpy(&sqe, shm_ring_peek(&c->sq, i), sizeof(sqe));
		switch (ops_dispatch(c, &sqe, &done[*ndone], &why)) {
		case OP_DONE:
			(*ndone)++;
			break;
		case OP_PENDING:
			break;
		case OP_VIOLATION:
			client_quarantine(c, why);
			return i;
		}
	}
	return n;
}

/* Serve one client's submission ring once.  Returns descriptors consumed. */
static uint32_t
service(struct poller *p, struct client *c)
{
	struct hgca_cqe done[BATCH];
	uint32_t n, ndone, used;

	if (!client_serving(c))
		return 0;
	if (shm_ring_avail(&c->sq, &n) < 0) {
		client_quarantine(c, "submission tail moved backwards or "
				  "past the ring's capacity");
		return 0;
	}
	if (n == 0)
		return 0;
	if (client_cq_credit(c, n < BATCH ? n : BATCH, &n) < 0) {
		client_quarantine(c, "completion head moved backwards or "
				  "past the tail");
		return 0;
	}
	used = dispatch_batch(c, n, done, &ndone);
	shm_ring_consume(&c->sq, used);
	client_post(c, done, ndone);
	/* Release pairs with the acquire in client_idle(): posted first. */
	atomic_store_explicit(&c->sq_done, c->sq.head, memory_order_release);
	atomic_fetch_add_explicit(&c->requests, used, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->requests, used, memory_order_relaxed);
	return used;
}

static bool
any_ready(struct poller *p)
{
	for (unsigned i = 0; i < p->nsnap; i++) {
		struct client *c = p->snap[i];

		/* Acquire pairs with the client's publish. */
		if (client_serving(c) &&
		    shm_load_acquire(&c->sq.ctl->tail) != c->sq.head)
			return true;
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

/* Spin until work, the spin budget or a stop; sleep after the budget. */
static void
idle(struct poller *p, uint64_t since, unsigned *rounds)
{
	if (++*rounds % CLOCK_EVERY) {
		shm_cpu_relax();
		return;
	}
	/* Relaxed: the budget is a hint. */
	p->spin.cap_ns = atomic_load_explicit(&p->dp->spin_ns,
					      memory_order_relaxed);
	if (shm_now_ns() - since < shm_spin_limit(&p->spin))
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
			work += service(p, p->snap[i]);
		if (work) {
			if (since)
				shm_spin_learn(&p->spin, shm_now_ns() - since);
			since = 0;
			continue;
		}
		if (!since) {
			since = shm_now_ns();
			rounds = 0;
		}
		idle(p, since, &rounds);
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
