/* ring.c - set-up of the SPSC rings; the hot path is inline in ring.h. */
#include "config.h"

#include "shm/ring.h"

void
shm_ring_init(struct hgca_ring_ctl *ctl, void *ents, uint32_t entries,
	      uint32_t esize, uint32_t start)
{
	struct shm_ring r = { .ents = ents, .mask = entries - 1,
			      .esize = esize };

	/* Relaxed: the memory is not shared yet; passing the memfd over the
	 * socket (or creating the thread) orders these stores before the
	 * peer's first load. */
	shm_store_relaxed(&ctl->head, start);
	shm_store_relaxed(&ctl->tail, start);
	shm_store_relaxed(&ctl->bell.seq, 0);
	shm_store_relaxed(&ctl->bell.sleeping, 0);
	/* One lap behind: entry i is ready only once stamped i + 1. */
	for (uint32_t k = 0; k < entries; k++)
		shm_store_relaxed(shm_ring_stamp(&r, start + k),
				  start + k - entries + 1);
}

void
shm_ring_attach(struct shm_ring *r, struct hgca_ring_ctl *ctl, void *ents,
		uint32_t entries, uint32_t esize)
{
	r->ctl = ctl;
	r->ents = ents;
	r->mask = entries - 1;
	r->esize = esize;
	r->ahead = SHM_RING_PREFETCH_PUB / esize;
	/* Acquire pairs with nothing yet (the peer has not run); it keeps
	 * attaching correct should a peer ever attach late. */
	r->head = shm_load_acquire(&ctl->head);
	r->tail = shm_load_acquire(&ctl->tail);
}
