/*
 * submit.c - the data path: prepare and publish requests, reap and wait
 * for completions.  No system call in steady state: a wake-up only when
 * the daemon's poller sleeps, a futex wait only after the spin budget.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "client/client_pvt.h"
#include "shm/bell.h"

#define CLOCK_EVERY 32	/* spin rounds between clock and state reads */

/* May a request be prepared now (the region's state aside)?  0 or a
 * negative errno. */
static inline int
can_prep(struct hgca *h)
{
	if (!h->base)
		return -EINVAL;
	if (h->err)
		return h->err;
	if (h->inflight + h->prepared >= h->lo.entries)
		return -EAGAIN;
	return 0;
}

_Static_assert(sizeof(struct hgca_nop) == 32 &&
	       offsetof(struct hgca_sqe_nop, off) == offsetof(struct hgca_nop, off) &&
	       offsetof(struct hgca_sqe_nop, len) == offsetof(struct hgca_nop, len) &&
	       offsetof(struct hgca_sqe_nop, delay_us) ==
	       offsetof(struct hgca_nop, delay_us) &&
	       offsetof(struct hgca_sqe_nop, rsvd0) ==
	       offsetof(struct hgca_nop, reserved) &&
	       offsetof(struct hgca_sqe_nop, rsvd) == 32,
	       "a NOP's payload begins with struct hgca_nop");

static bool
nop_ok(const struct hgca *h, const struct hgca_nop *n)
{
	return n->reserved == 0 &&
	       (n->len == 0 ? n->off == 0 :
		n->off <= h->lo.stage_size && n->len <= h->lo.stage_size - n->off);
}

/*
 * Write every byte of a NOP descriptor but the stamp (shm_ring_publish()
 * writes it) once, in five wide stores, not a memset and then the fields:
 * a store waits for its line's transfer to us, and the fewer store-buffer
 * entries a line takes, the more lines' transfers overlap.  The payload's
 * first 32 bytes are struct hgca_nop's, field for field (its reserved
 * word was checked to be zero).
 */
static inline __attribute__((always_inline)) void
nop_fill(struct hgca_sqe *sqe, uint64_t tag, const struct hgca_nop *nop)
{
	uint8_t head[4] = { HGCA_OP_NOP, (nop->len ? HGCA_NOP_F_SUM : 0) |
			    (nop->delay_us ? HGCA_NOP_F_DELAY : 0), 0, 0 };

	memcpy(&sqe->opcode, head, sizeof(head));	/* opcode .. rsvd0 */
	sqe->tag = tag;
	memcpy(&sqe->u.nop, nop, sizeof(*nop));
	memset(sqe->u.nop.rsvd, 0, sizeof(sqe->u.nop.rsvd));
}

/* hgca_nop_prep() once the region's state is known to allow it. */
static inline __attribute__((always_inline)) int
nop_prep(struct hgca *h, uint64_t tag, const struct hgca_nop *nop)
{
	static const struct hgca_nop zero;
	uint32_t space;
	int rc;

	if (!nop)
		nop = &zero;
	if ((rc = can_prep(h)) < 0)
		return rc;
	if (!nop_ok(h, nop))
		return -EINVAL;
	if (shm_ring_space(&h->sq, h->prepared + 1, &space) < 0)
		return client_fail(h, -EPROTO);	/* the daemon broke the ring */
	nop_fill(shm_ring_slot(&h->sq, h->prepared), tag, nop);
	h->prepared++;
	return 0;
}

/* The first request of a batch also reads the region's state (later
 * ones need not: hgca_submit() reads it again). */
static __attribute__((noinline)) int
nop_prep_first(struct hgca *h, uint64_t tag, const struct hgca_nop *nop)
{
	int rc = h->base ? client_region_state(h) : -EINVAL;

	return rc < 0 ? rc : nop_prep(h, tag, nop);
}

/* Kept free of calls, so that it needs no stack frame: every store a
 * request makes waits in the store buffer behind the ring's lines. */
int
hgca_nop_prep(struct hgca *h, uint64_t tag, const struct hgca_nop *nop)
{
	if (!h)
		return -EINVAL;
	if (h->prepared == 0)
		return nop_prep_first(h, tag, nop);
	return nop_prep(h, tag, nop);
}

int
hgca_submit(struct hgca *h)
{
	uint32_t n;
	int rc;

	if (!h || !h->base)
		return -EINVAL;
	n = h->prepared;
	h->prepared = 0;
	if ((rc = client_region_state(h)) < 0)
		return rc;
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

/* Are at least @min ready?  One look, at the min-th: the daemon stamps
 * completions in order, so the earlier ones are ready too (and a waiter
 * spins on one cache line, not on every line it waits for). */
static bool
has(struct hgca *h, unsigned min)
{
	return min == 0 || (min <= h->lo.entries &&
			    shm_ring_ready_at(&h->cq, min - 1));
}

/*
 * Take the completions ready now, @max at most (and at least @min, which
 * the caller saw stamped), in one pass: each stamp is read with the rest
 * of its line.  Only what the daemon's tail covers is taken when that is
 * enough, and only that is fetched early: a line past the tail may be
 * half written, and reading it would pull it away from the daemon.
 */
static int
take(struct hgca *h, struct hgca_completion *out, uint32_t min, uint32_t max)
{
	/* A private copy of the view: the stores to out[] cannot change it,
	 * so the loop keeps it in registers. */
	struct shm_ring cq = h->cq;
	uint32_t n, pub;

	if (max > h->lo.entries)
		max = h->lo.entries;
	pub = max > 1 ? shm_ring_published(&cq, max) : 0;
	if (pub && pub >= min)
		max = pub;
	for (n = 0; n < max && shm_ring_ready_at(&cq, n); n++) {
		const struct hgca_cqe *cqe = shm_ring_peek(&cq, n);
		struct { int32_t res; uint32_t flags; } rf = { cqe->res, 0 };

		shm_ring_prefetch(&cq, n, pub);
		out[n].tag = cqe->tag;
		memcpy(&out[n].res, &rf, sizeof(rf));	/* res, flags = 0 */
		memcpy(out[n].value, cqe->val, sizeof(out[n].value));
	}
	if (n == 0)
		return 0;
	shm_ring_consume(&h->cq, n);
	h->inflight -= n < h->inflight ? n : h->inflight;
	return (int)n;
}

int
hgca_reap(struct hgca *h, struct hgca_completion *out, unsigned max)
{
	int n;

	if (!h || !h->base || !out)
		return -EINVAL;
	n = take(h, out, 0, max);
	if (n == 0 && h->err)
		return h->err;
	return n;
}

/* Sleep once on the completion doorbell (a slice at most), then look at
 * the socket.  0, -ETIMEDOUT past @deadline, or the sticky error. */
static int
sleep_once(struct hgca *h, unsigned min, uint64_t deadline)
{
	uint64_t now = shm_now_ns();
	int64_t slice = CLIENT_SLICE_NS;
	uint32_t seq;
	int rc = client_check_conn(h);

	if (rc < 0)
		return rc;
	if (now >= deadline)
		return -ETIMEDOUT;
	if (deadline - now < (uint64_t)slice)
		slice = (int64_t)(deadline - now);
	seq = shm_bell_arm(&h->cq.ctl->bell);
	if (!has(h, min) && client_region_state(h) != -EPROTO && !h->err)
		shm_bell_sleep(&h->cq.ctl->bell, seq, slice);
	shm_bell_disarm(&h->cq.ctl->bell);
	return h->err;
}

/*
 * Spin up to the budget, then sleep in slices, until @min are ready.  The
 * clock is first read after CLOCK_EVERY rounds, so a completion that
 * arrives while spinning costs no clock read (a wait that short is
 * learned as 0).
 */
static int
wait_ready(struct hgca *h, unsigned min, uint64_t deadline)
{
	uint64_t start = 0, limit;
	unsigned rounds = 0;
	int rc;

	/* Relaxed: a hint the daemon refreshes. */
	h->spin.cap_ns = shm_load_relaxed(&h->hdr->spin_ns);
	limit = shm_spin_limit(&h->spin);
	while (!has(h, min)) {
		if (++rounds % CLOCK_EVERY) {
			shm_cpu_relax();
			continue;
		}
		if (!start)
			start = shm_now_ns();
		rc = client_region_state(h);
		if (rc < 0 && rc != -ESHUTDOWN)
			return rc;
		if (shm_now_ns() - start < limit)
			continue;
		if ((rc = sleep_once(h, min, deadline)) < 0)
			return rc;
	}
	shm_spin_learn(&h->spin, start ? shm_now_ns() - start : 0);
	return 0;
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
	if (has(h, min)) {	/* already here: no clock, no spin */
		shm_spin_learn(&h->spin, 0);
		return take(h, out, min, max);
	}
	if (timeout_ms == 0)
		return h->err ? h->err : -ETIMEDOUT;	/* a poll: no spin */
	if (timeout_ms >= 0)
		deadline = shm_now_ns() + (uint64_t)timeout_ms * 1000000;
	rc = wait_ready(h, min, deadline);
	if (rc < 0 && has(h, min))
		rc = 0;	/* they came in the end: deliver them */
	return rc < 0 ? rc : take(h, out, min, max);
}
