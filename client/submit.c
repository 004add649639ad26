/*
 * submit.c - the data path: prepare and publish requests, reap and wait
 * for completions.  No system call in steady state: a wake-up only when
 * the daemon's poller sleeps, a futex wait only after the spin budget.
 * Completions are processed into the stash first (slots.c), so that the
 * library's own synchronous requests never reach the caller.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "client/client_pvt.h"
#include "shm/bell.h"

int
client_prep_check(struct hgca *h)
{
	int rc = client_usable(h);

	if (rc < 0)
		return rc;
	if (h->inflight + h->prepared >= h->lo.entries ||
	    h->free_slot >= h->lo.entries)
		return -EAGAIN;
	return 0;
}

static bool
nop_ok(const struct hgca *h, const struct hgca_nop *n)
{
	return n->reserved == 0 &&
	       (n->len == 0 ? n->off == 0 :
		n->off <= h->lo.stage_size && n->len <= h->lo.stage_size - n->off);
}

int
hgca_nop_prep(struct hgca *h, uint64_t tag, const struct hgca_nop *nop)
{
	static const struct hgca_nop zero;
	struct hgca_sqe *sqe;
	uint64_t wire;
	int rc;

	if (!h)
		return -EINVAL;
	if (!nop)
		nop = &zero;
	if ((rc = client_prep_check(h)) < 0)
		return rc;
	if (!nop_ok(h, nop))
		return -EINVAL;
	if (!(sqe = client_sqe_next(h)))
		return h->err ? h->err : -EAGAIN;
	client_slot_get(h, SLOT_USER, tag, &wire);
	sqe->opcode = HGCA_OP_NOP;
	sqe->flags = (nop->len ? HGCA_NOP_F_SUM : 0) |
		     (nop->delay_us ? HGCA_NOP_F_DELAY : 0);
	sqe->tag = wire;
	sqe->u.nop.value = nop->value;
	sqe->u.nop.off = nop->off;
	sqe->u.nop.len = nop->len;
	sqe->u.nop.delay_us = nop->delay_us;
	h->prepared++;
	return 0;
}

int
hgca_submit(struct hgca *h)
{
	uint32_t n;
	int rc;

	if (!h || !h->base)
		return -EINVAL;
	n = h->prepared;
	if ((rc = client_region_state(h)) < 0) {
		client_drop_prepared(h);
		return rc;
	}
	h->prepared = 0;
	if (n == 0)
		return 0;
	shm_ring_publish(&h->sq, n);
	h->inflight += n;
	shm_bell_ring(&h->sq.ctl->bell);
	return (int)n;
}

int
hgca_nop_submit(struct hgca *h, uint64_t tag, const struct hgca_nop *nop)
{
	int rc = hgca_nop_prep(h, tag, nop);

	if (rc == 0)
		rc = hgca_submit(h);
	return rc < 0 ? rc : 0;
}

/* Hand out up to @max stashed completions. */
static int
deliver(struct hgca *h, struct hgca_completion *out, unsigned max)
{
	uint32_t n = client_stashed(h);

	if (n > max)
		n = max;
	for (uint32_t i = 0; i < n; i++)
		out[i] = h->stash[h->shead++ % h->lo.entries];
	h->inflight -= n < h->inflight ? n : h->inflight;
	return (int)n;
}

int
hgca_reap(struct hgca *h, struct hgca_completion *out, unsigned max)
{
	int rc;

	if (!h || !h->base || !out)
		return -EINVAL;
	rc = client_process(h);
	if (rc < 0 && client_stashed(h) == 0)
		return rc;
	if (client_stashed(h) == 0 && h->err)
		return h->err;
	return deliver(h, out, max);
}

int
hgca_wait(struct hgca *h, struct hgca_completion *out, unsigned min,
	  unsigned max, int timeout_ms)
{
	uint64_t deadline = UINT64_MAX;
	int rc;

	if (!h || !h->base || !out || max == 0 || min > max ||
	    min > h->inflight)
		return -EINVAL;
	rc = client_process(h);
	if (timeout_ms == 0 && client_stashed(h) < min)	/* a poll: no spin */
		return h->err ? h->err : rc < 0 ? rc : -ETIMEDOUT;
	if (timeout_ms > 0)
		deadline = shm_now_ns() + (uint64_t)timeout_ms * 1000000;
	while (rc >= 0 && client_stashed(h) < min)
		rc = client_pump(h, min - client_stashed(h), deadline);
	if (client_stashed(h) < min)	/* those that came stay stashed */
		return rc;
	return deliver(h, out, max);
}
