/*
 * ring.h - single-producer/single-consumer rings of fixed-size entries in
 * memory shared by two processes (or two threads).
 *
 * struct hgca_ring_ctl (shm/proto.h) holds the shared head and tail; each
 * side keeps a private struct shm_ring whose own index is authoritative:
 * a side never reads back the index it writes, so the peer cannot move it.
 * The peer's index is read once per refresh, checked, and cached.
 *
 * Producer: shm_ring_space(), write shm_ring_slot(r, 0..n-1), then
 * shm_ring_publish(r, n).  Consumer: shm_ring_avail(), read (copy)
 * shm_ring_peek(r, 0..n-1), then shm_ring_consume(r, n).  Batches publish
 * or consume many entries with one store.
 *
 * The checks return -EPROTO when the peer's index moved backwards or past
 * capacity: only a broken or hostile peer does that.
 */
#ifndef HGCA_SHM_RING_H
#define HGCA_SHM_RING_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/atomic_pvt.h"
#include "shm/proto.h"

struct shm_ring {
	struct hgca_ring_ctl *ctl;	/* shared */
	unsigned char *ents;		/* shared: entries * esize bytes */
	uint32_t mask;			/* entries - 1 */
	uint32_t esize;			/* bytes per entry */
	uint32_t head;	/* consumer: own index; producer: last head seen */
	uint32_t tail;	/* producer: own index; consumer: last tail seen */
};

/*
 * shm_ring_init - set up a ring's shared control words (creator only, before
 * the memory is shared) with both indices at @start; any start value works,
 * the indices are free-running.
 */
void shm_ring_init(struct hgca_ring_ctl *ctl, uint32_t start);

/*
 * shm_ring_attach - make a private view of a ring.  @entries is a power of
 * two.  Reads the current indices once; call it before the peer runs.
 */
void shm_ring_attach(struct shm_ring *r, struct hgca_ring_ctl *ctl,
		     void *ents, uint32_t entries, uint32_t esize);

static inline uint32_t
shm_ring_entries(const struct shm_ring *r)
{
	return r->mask + 1;
}

/* Producer: entries published and not yet seen consumed (may be stale). */
static inline uint32_t
shm_ring_used(const struct shm_ring *r)
{
	return r->tail - r->head;
}

/*
 * shm_ring_space - producer: free slots.  Re-reads the consumer's head only
 * when the cached value shows fewer than @want free.  0 or -EPROTO.
 */
static inline int
shm_ring_space(struct shm_ring *r, uint32_t want, uint32_t *space)
{
	uint32_t used = r->tail - r->head, h;

	if (r->mask + 1 - used < want) {
		/* Pairs with the release in shm_ring_consume(): the consumer
		 * has finished reading the slots before we may reuse them. */
		h = shm_load_acquire(&r->ctl->head);
		if (h - r->head > used)	/* backwards, or past our tail */
			return -EPROTO;
		r->head = h;
		used = r->tail - h;
	}
	*space = r->mask + 1 - used;
	return 0;
}

/* Producer: slot @i past the tail (not yet published). */
static inline void *
shm_ring_slot(const struct shm_ring *r, uint32_t i)
{
	return r->ents + (size_t)((r->tail + i) & r->mask) * r->esize;
}

/* Producer: make @n written slots visible to the consumer. */
static inline void
shm_ring_publish(struct shm_ring *r, uint32_t n)
{
	r->tail += n;
	/* Pairs with the acquire in shm_ring_avail(): the slots' contents
	 * are visible before the new tail is. */
	shm_store_release(&r->ctl->tail, r->tail);
}

/*
 * shm_ring_avail - consumer: entries ready.  Reads the producer's tail once.
 * 0 or -EPROTO (tail moved backwards or more than capacity ahead).
 */
static inline int
shm_ring_avail(struct shm_ring *r, uint32_t *n)
{
	/* Pairs with the release in shm_ring_publish(). */
	uint32_t t = shm_load_acquire(&r->ctl->tail);
	uint32_t d = t - r->head;

	if (d > r->mask + 1 || d < r->tail - r->head)
		return -EPROTO;
	r->tail = t;
	*n = d;
	return 0;
}

/* Consumer: entry @i past the head.  Copy it before shm_ring_consume(). */
static inline const void *
shm_ring_peek(const struct shm_ring *r, uint32_t i)
{
	return r->ents + (size_t)((r->head + i) & r->mask) * r->esize;
}

/* Consumer: give @n read slots back to the producer. */
static inline void
shm_ring_consume(struct shm_ring *r, uint32_t n)
{
	r->head += n;
	/* Pairs with the acquire in shm_ring_space(): our reads of the
	 * slots happen before the producer may overwrite them. */
	shm_store_release(&r->ctl->head, r->head);
}

#endif /* HGCA_SHM_RING_H */
