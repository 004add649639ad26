/* client.c - the daemon's clients: regions, completions, state (client.h). */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/client.h"
#include "daemon/log.h"
#include "daemon/service.h"
#include "shm/bell.h"

/* Ring indices start this far below 2^32, so that every client crosses
 * the uint32_t wrap early instead of after four billion requests. */
#define RING_START_BACK 4096u

void (*client_on_quarantine)(struct client *c);

static _Atomic unsigned nclients;
static _Atomic uint64_t nquarantined;

uint64_t
client_quarantined_total(void)
{
	/* Relaxed: a statistic. */
	return atomic_load_explicit(&nquarantined, memory_order_relaxed);
}

unsigned
client_count(void)
{
	/* Relaxed: a statistic. */
	return atomic_load_explicit(&nclients, memory_order_relaxed);
}

static void
attach_rings(struct client *c)
{
	char *b = c->base;

	shm_ring_attach(&c->sq, (void *)(b + c->lo.sq_ctl_off),
			b + c->lo.sq_off, c->lo.entries, sizeof(struct hgca_sqe));
	shm_ring_attach(&c->cq, (void *)(b + c->lo.cq_ctl_off),
			b + c->lo.cq_off, c->lo.entries,
			sizeof(struct hgca_cqent));
	atomic_init(&c->sq_done, c->sq.head);
	c->hdr = c->base;
	c->stage = (unsigned char *)b + c->lo.stage_off;
}

int
client_create(const struct client_args *a, struct client **out)
{
	struct client *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	rc = shm_layout_compute(&c->lo, a->region_size, a->entries);
	if (rc == 0)
		rc = shm_region_create(&c->lo, a->id, 0u - RING_START_BACK,
				       &c->memfd, &c->base);
	if (rc < 0) {
		free(c);
		return rc;
	}
	c->id = a->id;
	c->pid = a->pid;
	c->uid = a->uid;
	c->gid = a->gid;
	c->rights = a->rights;
	atomic_init(&c->refs, 1);
	atomic_init(&c->state, HGCA_REGION_ACTIVE);
	pthread_mutex_init(&c->cq_lock, NULL);
	pthread_mutex_init(&c->svc_lock, NULL);
	attach_rings(c);
	atomic_fetch_add_explicit(&nclients, 1, memory_order_relaxed);
	*out = c;
	return 0;
}

void
client_ref(struct client *c)
{
	/* Relaxed: the caller already holds a reference (refcount rule). */
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void
client_unref(struct client *c)
{
	/* Release: our uses of the client happen before the free; the
	 * acquire fence pairs with every other holder's release. */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_release) != 1)
		return;
	atomic_thread_fence(memory_order_acquire);
	log_debug("client %u: region of %llu bytes freed", c->id,
		  (unsigned long long)c->lo.size);
	munmap(c->base, c->lo.size);
	if (c->memfd >= 0)
		close(c->memfd);
	pthread_mutex_destroy(&c->cq_lock);
	pthread_mutex_destroy(&c->svc_lock);
	free(c);
	atomic_fetch_sub_explicit(&nclients, 1, memory_order_relaxed);
}

int
client_cq_credit(struct client *c, uint32_t want, uint32_t *credit)
{
	/* Relaxed: pending only grows on this (the poller's) thread; a
	 * stale, larger value only lowers the credit. */
	uint32_t pend = atomic_load_explicit(&c->pending, memory_order_relaxed);
	uint32_t space;
	int rc;

	pthread_mutex_lock(&c->cq_lock);
	rc = shm_ring_space(&c->cq, want + pend, &space);
	if (rc == 0) {
		space = space > pend ? space - pend : 0;
		*credit = space < want ? space : want;
		/* A batch's completion lines, asked for now: they arrive
		 * while its requests are dispatched, not one at a time as
		 * they are written (and the unlock after waits for none). */
		if (*credit > 1)
			shm_ring_claim(&c->cq, pend + *credit);
	}
	pthread_mutex_unlock(&c->cq_lock);
	return rc;
}

/*
 * Post @n completions and publish them; cq_lock held.  Each entry is
 * written and stamped in one pass over its line, after its res and
 * values when any is not zero (shm/proto.h).  The view in locals: the
 * stores into the region may alias it.
 */
static void
cq_write(struct client *c, const struct hgca_cqe *cqe, uint32_t n)
{
	struct hgca_cqent *ents = (struct hgca_cqent *)(void *)c->cq.ents;
	struct hgca_cqval *vals = (struct hgca_cqval *)(void *)
				  ((unsigned char *)c->base + c->lo.cqv_off);
	uint32_t t = c->cq.tail, mask = c->cq.mask;

	for (uint32_t i = 0; i < n; i++) {
		struct hgca_cqent *e = &ents[(t + i) & mask];
		uint32_t tag = cqe[i].tag;

		if ((uint64_t)(uint32_t)cqe[i].res | cqe[i].val[0] |
		    cqe[i].val[1]) {
			struct hgca_cqval v = { cqe[i].res, 0,
						{ cqe[i].val[0],
						  cqe[i].val[1] }, 0 };

			vals[(t + i) & mask] = v;
			tag |= HGCA_TAG_VAL;
		}
		e->tag = tag;
		/* Pairs with the acquire of the stamp in the client: the
		 * entry and its values are visible before the stamp is. */
		shm_store_release(&e->stamp, t + i + 1);
	}
	shm_ring_advance(&c->cq, n);
}

void
client_post(struct client *c, const struct hgca_cqe *cqe, uint32_t n)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&c->cq_lock);
	cq_write(c, cqe, n);
	pthread_mutex_unlock(&c->cq_lock);
	shm_bell_ring(&c->cq.ctl->bell);
}

void
client_hold(struct client *c)
{
	client_ref(c);
	/* Relaxed: read by the poller (this thread) and by drain checks,
	 * which only need to see it eventually. */
	atomic_fetch_add_explicit(&c->pending, 1, memory_order_relaxed);
}

void
client_complete(struct client *c, const struct hgca_cqe *cqe)
{
	uint32_t space = 0;
	bool posted = false;

	pthread_mutex_lock(&c->cq_lock);
	if (client_serving(c) && shm_ring_space(&c->cq, 1, &space) == 0 &&
	    space > 0) {
		cq_write(c, cqe, 1);
		posted = true;
	}
	atomic_fetch_sub_explicit(&c->pending, 1, memory_order_relaxed);
	pthread_mutex_unlock(&c->cq_lock);
	if (posted)
		shm_bell_ring(&c->cq.ctl->bell);
	else if (client_serving(c))	/* credit guaranteed a slot */
		client_quarantine(c, "completion ring head moved backwards");
	client_unref(c);
}

void
client_unhold(struct client *c)
{
	atomic_fetch_sub_explicit(&c->pending, 1, memory_order_relaxed);
	client_unref(c);
}

bool
client_idle(struct client *c)
{
	/* Acquire pairs with the release in shm_ring_publish() (client). */
	uint32_t tail = shm_load_acquire(&c->sq.ctl->tail);
	/* Acquire pairs with the poller's release after posting. */
	uint32_t done = atomic_load_explicit(&c->sq_done, memory_order_acquire);

	/* Stamps come before the tail, so done may run ahead of it. */
	return (int32_t)(tail - done) <= 0 &&
	       atomic_load_explicit(&c->pending, memory_order_relaxed) == 0;
}

/* Move from a serving state to @to; false if already out of service. */
static bool
set_state(struct client *c, uint32_t to)
{
	uint32_t s = client_state(c);

	do {
		if (s != HGCA_REGION_ACTIVE && s != HGCA_REGION_DRAINING)
			return false;
		if (s == to)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&c->state, &s, to,
			memory_order_acq_rel, memory_order_acquire));
	/* Release: the client sees the state after our earlier writes. */
	shm_store_release(&c->hdr->state, to);
	shm_bell_ring(&c->cq.ctl->bell);	/* a sleeping client re-checks */
	return true;
}

void
client_quarantine(struct client *c, const char *why)
{
	/* The reason is written before the state changes; only the winner
	 * of set_state() reports, and readers look at why only after they
	 * see QUARANTINED. */
	char buf[sizeof(c->why)];

	snprintf(buf, sizeof(buf), "%s", why);
	pthread_mutex_lock(&c->cq_lock);
	if (client_serving(c))
		memcpy(c->why, buf, sizeof(buf));
	pthread_mutex_unlock(&c->cq_lock);
	if (!set_state(c, HGCA_REGION_QUARANTINED))
		return;
	atomic_fetch_add_explicit(&nquarantined, 1, memory_order_relaxed);
	log_warn("client %u (pid %d, uid %u) quarantined: %s", c->id,
		 (int)c->pid, (unsigned)c->uid, buf);
	if (client_on_quarantine)
		client_on_quarantine(c);
}

void
client_drain(struct client *c)
{
	set_state(c, HGCA_REGION_DRAINING);
}

void
client_close(struct client *c)
{
	/* Taking cq_lock waits out a completion being written right now. */
	pthread_mutex_lock(&c->cq_lock);
	set_state(c, HGCA_REGION_CLOSED);
	pthread_mutex_unlock(&c->cq_lock);
}

/* ---- the attention service ---- */

int
client_attach_service(struct client *c, struct svc *s)
{
	return svc_client_attach(s, c->uid, &c->svc);
}

/* The service has let go of everything it held for the client. */
static void
service_released(void *arg)
{
	struct client *c = arg;

	log_debug("client %u: service resources released", c->id);
	client_unref(c);
}

void
client_detach_service(struct client *c)
{
	struct svc_client *cl;

	/* Taking the lock waits out a handler running on the poller. */
	pthread_mutex_lock(&c->svc_lock);
	cl = c->svc;
	c->svc = NULL;
	pthread_mutex_unlock(&c->svc_lock);
	if (!cl)
		return;
	client_ref(c);		/* dropped by service_released */
	svc_client_detach(cl, service_released, c);
}

struct svc_client *
client_svc_lock(struct client *c)
{
	pthread_mutex_lock(&c->svc_lock);
	if (c->svc)
		return c->svc;
	pthread_mutex_unlock(&c->svc_lock);
	return NULL;
}

void
client_svc_unlock(struct client *c)
{
	pthread_mutex_unlock(&c->svc_lock);
}
