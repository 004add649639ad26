/*
 * submit.c - the data path: prepare and publish requests, reap and wait
 * for completions.  No system call in steady state: a wake-up only when
 * the daemon's poller sleeps, a futex wait only after the spin budget.
 * Completions are processed into the stash first (slots.c), so that the
 * library's own synchronous requests never reach the caller.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "client/client_pvt.h"
#include "shm/bell.h"

#define PREP_CLAIM 32	/* descriptor lines claimed at a batch's start */

int
client_prep_check(struct hgca *h)
{
	int rc = client_usable(h);

	if (rc < 0)
		return rc;
	if (h->inflight + h->prepared >= h->lo.entries ||
	    h->slots_used >= h->lo.entries)
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

_Static_assert(sizeof(struct hgca_nop) == 32 &&
	       offsetof(struct hgca_sqe_nop, off) == offsetof(struct hgca_nop, off) &&
	       offsetof(struct hgca_sqe_nop, len) == offsetof(struct hgca_nop, len) &&
	       offsetof(struct hgca_sqe_nop, delay_us) ==
	       offsetof(struct hgca_nop, delay_us) &&
	       offsetof(struct hgca_sqe_nop, rsvd0) ==
	       offsetof(struct hgca_nop, reserved) &&
	       offsetof(struct hgca_sqe_nop, rsvd) == 32,
	       "a NOP's payload begins with struct hgca_nop");

/*
 * Write every byte of a NOP descriptor but the stamp (shm_ring_publish()
 * writes it) once, in five wide stores, not a memset and then the fields:
 * a store waits for its line's transfer to us, and the fewer store-buffer
 * entries a line takes, the more lines' transfers overlap.  The payload's
 * first 32 bytes are struct hgca_nop's, field for field (its reserved
 * word was checked to be zero); NULL: all zero.
 */
static inline __attribute__((always_inline)) void
nop_fill(struct hgca_sqe *sqe, uint32_t wire, const struct hgca_nop *nop)
{
	uint8_t head[4] = { HGCA_OP_NOP, 0, 0, 0 };
	uint64_t tag = wire;	/* tag, then rsvd1 = 0 (little-endian) */

	if (nop)
		head[1] = (nop->len ? HGCA_NOP_F_SUM : 0) |
			  (nop->delay_us ? HGCA_NOP_F_DELAY : 0);
	memcpy(&sqe->opcode, head, sizeof(head));	/* opcode .. rsvd0 */
	memcpy(&sqe->tag, &tag, sizeof(tag));
	if (nop)
		memcpy(&sqe->u.nop, nop, sizeof(*nop));
	else
		memset(&sqe->u.nop, 0, sizeof(*nop));
	memset(sqe->u.nop.rsvd, 0, sizeof(sqe->u.nop.rsvd));
}

/*
 * How many requests the batch may hold, from what is known without a
 * look at the daemon's head: each needs a descriptor slot, a place among
 * the requests in flight and a slot (the checks of client_prep_check() and
 * client_sqe_next(), in terms of h->prepared).  Reaping only adds room,
 * and any other request prepared meanwhile takes one of each, so the
 * count holds until the batch is published.
 */
static void
room_update(struct hgca *h)
{
	uint32_t e = h->lo.entries;
	uint32_t room = e - (h->sq.tail - h->sq.head);

	if (e - h->inflight < room)
		room = e - h->inflight;
	if (e - h->slots_used + h->prepared < room)
		room = e - h->slots_used + h->prepared;
	h->prep_room = room;
}

/*
 * Ask for the lines of the next @n descriptor slots past the tail
 * (PREP_CLAIM at most, and no more than the cached head shows free: the
 * daemon is done with those) but for those asked for already.
 */
static inline void
claim(struct hgca *h, uint32_t n)
{
	uint32_t unused = h->lo.entries - (h->sq.tail - h->sq.head);
	int32_t have = (int32_t)(h->claimed - h->sq.tail);

	if (n > PREP_CLAIM)
		n = PREP_CLAIM;
	if (n > unused)
		n = unused;
	if (have < 0)
		have = 0;
	if ((uint32_t)have >= n)
		return;
	shm_ring_claim_range(&h->sq, (uint32_t)have, n);
	h->claimed = h->sq.tail + n;
}

/* hgca_nop_prep() when the batch's room is not known to allow it: the
 * first request of a batch (it also reads the region's state; later ones
 * need not, hgca_submit() reads it again), or the room spent. */
static __attribute__((noinline)) int
nop_prep_slow(struct hgca *h, uint64_t tag, const struct hgca_nop *nop)
{
	uint32_t space;
	int rc = h->prepared == 0 ? client_usable(h) : h->err;

	if (rc < 0)
		return rc;
	if (h->inflight + h->prepared >= h->lo.entries ||
	    h->slots_used >= h->lo.entries)
		return -EAGAIN;
	if (nop && !nop_ok(h, nop))
		return -EINVAL;
	if (shm_ring_space(&h->sq, h->prepared + 1, &space) < 0)
		return client_fail(h, -EPROTO);	/* the daemon broke the ring */
	if (space < h->prepared + 1)	/* consumed any moment now */
		return -EAGAIN;
	room_update(h);
	/* At a batch's start, its descriptors' lines, all at once (each
	 * one's stores would otherwise wait in the store buffer for its line
	 * in turn, and hgca_submit()'s fence for the last). */
	if (h->prepared == 0)
		claim(h, h->prep_room);
	nop_fill(shm_ring_slot(&h->sq, h->prepared),
		 client_slot_pop(h, SLOT_LEAN, tag), nop);
	h->prepared++;
	return 0;
}

/* hgca_nop_prep() of a NOP with arguments within the batch's room. */
static __attribute__((noinline)) int
nop_prep_args(struct hgca *h, uint64_t tag, const struct hgca_nop *nop,
	      uint32_t p)
{
	if (!nop_ok(h, nop))
		return -EINVAL;
	nop_fill(SHM_RING_ENTRY(&h->sq, struct hgca_sqe, h->sq.tail + p),
		 client_slot_pop(h, SLOT_LEAN, tag), nop);
	h->prepared = p + 1;
	return 0;
}

/*
 * Within the batch's room a NOP takes a slot (one store) and writes its
 * descriptor, nothing more: kept free of calls on its way, so that it
 * needs no stack frame, since every store a request makes waits in the
 * store buffer behind the ring's lines.  A plain one (no arguments, the
 * common case) is written from constants.
 */
int
hgca_nop_prep(struct hgca *h, uint64_t tag, const struct hgca_nop *nop)
{
	uint32_t p;

	if (!h)
		return -EINVAL;
	p = h->prepared;
	if (p == 0 || p >= h->prep_room || h->err)
		return nop_prep_slow(h, tag, nop);
	if (nop)
		return nop_prep_args(h, tag, nop, p);
	nop_fill(SHM_RING_ENTRY(&h->sq, struct hgca_sqe, h->sq.tail + p),
		 client_slot_pop(h, SLOT_LEAN, tag), NULL);
	h->prepared = p + 1;
	return 0;
}

void
client_publish(struct hgca *h, uint32_t n)
{
	shm_ring_stamp_n(&h->sq, n);
	/* After a batch, the next batch's lines (as many as this one's):
	 * they arrive while the fence of the doorbell waits for this
	 * batch's, and its stores find them here.  Not after a lone request:
	 * the daemon looks at the next slot's stamp, and would take its line
	 * straight back. */
	if (n > 1)
		claim(h, n);
	/* The doorbell's fence waits for the stamps, not for the tail's
	 * line, which the daemon reads for each batch: the tail follows. */
	shm_bell_ring(&h->sq.ctl->bell);
	shm_ring_publish_tail(&h->sq);
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
	client_publish(h, n);
	h->inflight += n;
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
	for (uint32_t i = 0; i < n; i++)	/* entries: a power of two */
		out[i] = h->stash[h->shead++ & (h->lo.entries - 1)];
	h->inflight -= n < h->inflight ? n : h->inflight;
	return (int)n;
}

/* Put @n completions just handed out back at the stash's front: a wait
 * that fails takes nothing. */
static void
restash(struct hgca *h, const struct hgca_completion *out, uint32_t n)
{
	for (uint32_t i = n; i-- > 0;)
		h->stash[--h->shead & (h->lo.entries - 1)] = out[i];
	h->inflight += n;
}

/* The stash first (it holds older ones), then straight from the ring. */
int
hgca_reap(struct hgca *h, struct hgca_completion *out, unsigned max)
{
	int n, rc = 0;

	if (!h || !h->base || !out)
		return -EINVAL;
	n = deliver(h, out, max);
	if ((unsigned)n < max && client_stashed(h) == 0)
		rc = client_take(h, out + n, max - (unsigned)n);
	if (rc > 0)
		n += rc;
	if (n == 0)
		return rc < 0 ? rc : h->err;
	return n;
}

int
hgca_wait(struct hgca *h, struct hgca_completion *out, unsigned min,
	  unsigned max, int timeout_ms)
{
	uint64_t deadline = UINT64_MAX;
	bool attend;
	int rc;

	if (!h || !h->base || !out || max == 0 || min > max ||
	    min > h->inflight)
		return -EINVAL;
	if (client_stashed(h) == 0) {	/* straight from the ring */
		rc = client_take(h, out, max);
		if (rc >= 0 && (unsigned)rc >= min)
			return rc;
		if (rc > 0)	/* too few: they wait in the stash */
			restash(h, out, (uint32_t)rc);
	} else {
		rc = client_process(h);
	}
	if (timeout_ms == 0 && client_stashed(h) < min)	/* a poll: no spin */
		return h->err ? h->err : rc < 0 ? rc : -ETIMEDOUT;
	/* The clock only when there is something to wait for. */
	if (timeout_ms > 0 && client_stashed(h) < min)
		deadline = shm_now_ns() + (uint64_t)timeout_ms * 1000000;
	/* Waiting on an attend: the attends' learning (attend.c), so that a
	 * long one sleeps instead of spinning a core from the workers. */
	attend = h->attends && client_stashed(h) < min;
	if (attend)
		client_spin_swap(h);
	while (rc >= 0 && client_stashed(h) < min)
		rc = client_pump(h, min - client_stashed(h), deadline);
	if (attend)
		client_spin_swap(h);
	if (client_stashed(h) < min)	/* those that came stay stashed */
		return rc;
	return deliver(h, out, max);
}
