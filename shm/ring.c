/* ring.c - set-up of the SPSC rings; the hot path is inline in ring.h. */
#include "config.h"

#include "shm/ring.h"

void
shm_ring_init(struct hgca_ring_ctl *ctl, uint32_t start)
{
	/* Relaxed: the memory is not shared yet; passing the memfd over the
	 * socket orders these stores before the peer's first load. */
	shm_store_relaxed(&ctl->head, start);
	shm_store_relaxed(&ctl->tail, start);
	shm_store_relaxed(&ctl->bell.seq, 0);
	shm_store_relaxed(&ctl->bell.sleeping, 0);
}

void
shm_ring_attach(struct shm_ring *r, struct hgca_ring_ctl *ctl, void *ents,
		uint32_t entries, uint32_t esize)
{
	r->ctl = ctl;
	r->ents = ents;
	r->mask = entries - 1;
	r->esize = esize;
	/* Acquire pairs with nothing yet (the peer has not run); it keeps
	 * attaching correct should a peer ever attach late. */
	r->head = shm_load_acquire(&ctl->head);
	r->tail = r->head;
}
