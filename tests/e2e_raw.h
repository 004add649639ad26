/*
 * e2e_raw.h - playing a lying or broken library in the end-to-end tests:
 * descriptors written straight into the ring (with a slot of the handle,
 * so that the real library can still reap the completion), arguments put
 * straight into the staging arena.
 */
#ifndef HGCA_TESTS_E2E_RAW_H
#define HGCA_TESTS_E2E_RAW_H

#include <string.h>

#include "client/client_pvt.h"
#include "shm/bell.h"

/* Where raw arguments go: the arena's last MiB (nothing else in flight). */
static inline uint64_t
raw_off(const struct hgca *h)
{
	return h->lo.stage_size - (1u << 20);
}

/* Publish @sqe (opcode and payload set) under a caller's slot with tag 77. */
static inline void
raw_publish(struct hgca *h, struct hgca_sqe *sqe)
{
	uint64_t wire;

	client_slot_take(h, SLOT_USER, 77, &wire);
	sqe->tag = wire;
	shm_ring_fill(&h->sq, 0, sqe);
	shm_ring_publish(&h->sq, 1);
	h->inflight++;
	shm_bell_ring(&h->sq.ctl->bell);
}

/* Publish and wait: the completion's res, or the wait's error. */
static inline int
raw_call(struct hgca *h, struct hgca_sqe *sqe)
{
	struct hgca_completion c;
	int n;

	raw_publish(h, sqe);
	n = hgca_wait(h, &c, 1, 1, 5000);
	return n == 1 ? c.res : n;
}

#endif /* HGCA_TESTS_E2E_RAW_H */
