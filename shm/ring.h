/*
 * ring.h - single-producer/single-consumer rings of fixed-size entries in
 * memory shared by two processes (or two threads).
 *
 * struct hgca_ring_ctl (shm/proto.h) holds the shared head and tail; each
 * side keeps a private struct shm_ring whose own index is authoritative:
 * a side never reads back the index it writes, so the peer cannot move it.
 * Indices run freely (slot = index & mask).
 *
 * Every entry starts with a 32-bit stamp: the producer writes the entry,
 * then stamps it with its index + 1 (release), then publishes the tail.
 * The consumer learns that entry i is ready from its stamp, which shares
 * the entry's cache line: one line moves from producer to consumer per
 * entry, where polling the tail would move two (the tail's and the
 * entry's).  The tail still counts what was published: the consumer
 * checks it from time to time (shm_ring_check_tail()), and drain logic
 * reads it.  Stamps start one lap behind, so no slot looks ready early.
 *
 * Producer: shm_ring_space(), fill shm_ring_slot(r, 0..n-1) (never its
 * first four bytes, the stamp), then shm_ring_publish(r, n) (or
 * shm_ring_stamp_n(), then shm_ring_publish_tail()); or, when the
 * entries are ready at once, shm_ring_put() each (contents and stamp in
 * one pass over its line) and shm_ring_advance(r, n), or shm_ring_put_n()
 * for an array of them.  Consumer:
 * shm_ring_ready(), copy shm_ring_peek(r, 0..n-1), then shm_ring_consume().
 *
 * -EPROTO means the peer moved an index backwards or past capacity: only
 * a broken or hostile peer does that.
 */
#ifndef HGCA_SHM_RING_H
#define HGCA_SHM_RING_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shm/atomic_pvt.h"
#include "shm/proto.h"

struct shm_ring {
	struct hgca_ring_ctl *ctl;	/* shared */
	unsigned char *ents;		/* shared: entries * esize bytes */
	uint32_t mask;			/* entries - 1 */
	uint32_t esize;			/* bytes per entry, stamp included */
	uint32_t head;	/* consumer: own index; producer: last head seen */
	uint32_t tail;	/* producer: own index; consumer: last tail seen */
	uint32_t ahead;	/* shm_ring_prefetch()'s distance, in entries */
};

/*
 * shm_ring_init - set up a ring's shared control words and stamps (the
 * creator, before the memory is shared), with both indices at @start;
 * any start value works.  @entries is a power of two.
 */
void shm_ring_init(struct hgca_ring_ctl *ctl, void *ents, uint32_t entries,
		   uint32_t esize, uint32_t start);

/* Make a private view of a ring; reads the indices once, before the peer
 * runs. */
void shm_ring_attach(struct shm_ring *r, struct hgca_ring_ctl *ctl,
		     void *ents, uint32_t entries, uint32_t esize);

static inline uint32_t
shm_ring_entries(const struct shm_ring *r)
{
	return r->mask + 1;
}

static inline unsigned char *
shm_ring_at(const struct shm_ring *r, uint32_t index)
{
	return r->ents + (size_t)(index & r->mask) * r->esize;
}

/* shm_ring_at() for a caller that knows the entry's type: no multiply by
 * the entry size, a variable of the view. */
#define SHM_RING_ENTRY(r, type, index) \
	((type *)(void *)(r)->ents + ((index) & (r)->mask))

static inline _Atomic uint32_t *
shm_ring_stamp(const struct shm_ring *r, uint32_t index)
{
	return (_Atomic uint32_t *)shm_ring_at(r, index);
}

/* ---- producer ---- */

/*
 * shm_ring_space - free slots.  Re-reads the consumer's head only when the
 * cached value shows fewer than @want free.  0 or -EPROTO.
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

/*
 * shm_ring_claim_range - ask for the lines of slots @from .. @to - 1 past
 * the tail for writing, all at once (the caller knows them free:
 * shm_ring_space()), so that filling them later does not wait for each
 * line in turn, nor a fence for the last.  A hint: it changes nothing the
 * peer can see.
 */
static inline void
shm_ring_claim_range(const struct shm_ring *r, uint32_t from, uint32_t to)
{
	uint32_t step = r->esize < 64 ? 64 / r->esize : 1;

	for (uint32_t i = from; i < to; i += step) {
		const char *p = (const char *)shm_ring_at(r, r->tail + i);
#if defined(__x86_64__)
		/* In asm: GCC drops a write prefetch for a target without
		 * prefetchw (CPUs older than it take it for a NOP). */
		__asm__ __volatile__("prefetchw %0" : : "m"(*p));
#else
		__builtin_prefetch(p, 1);
#endif
	}
}

/* shm_ring_claim_range() of the @n slots past the tail. */
static inline void
shm_ring_claim(const struct shm_ring *r, uint32_t n)
{
	shm_ring_claim_range(r, 0, n);
}

/* Slot @i past the tail (not yet published); its first 4 bytes are the
 * stamp, which only shm_ring_publish() writes. */
static inline void *
shm_ring_slot(const struct shm_ring *r, uint32_t i)
{
	return shm_ring_at(r, r->tail + i);
}

/* Copy an entry into slot @i, all but its stamp. */
static inline void
shm_ring_fill(const struct shm_ring *r, uint32_t i, const void *entry)
{
	memcpy((unsigned char *)shm_ring_slot(r, i) + 4,
	       (const unsigned char *)entry + 4, r->esize - 4);
}

/*
 * Write @entry (@size bytes, all but its stamp) into slot @i past the
 * tail and stamp it at once, so its line is written in one visit and a
 * consumer never finds it half done.  Put entries in index order, then
 * shm_ring_advance().  @size is a constant at every call site, so the
 * copy is a few inline stores.
 */
static inline void
shm_ring_put(struct shm_ring *r, uint32_t i, const void *entry, size_t size)
{
	memcpy((unsigned char *)shm_ring_slot(r, i) + 4,
	       (const unsigned char *)entry + 4, size - 4);
	/* Pairs with the acquire in shm_ring_ready_at(): the contents are
	 * visible before the stamp is. */
	shm_store_release(shm_ring_stamp(r, r->tail + i), r->tail + i + 1);
}

/* Publish the tail after shm_ring_put() of @n entries. */
static inline void
shm_ring_advance(struct shm_ring *r, uint32_t n)
{
	r->tail += n;
	/* Pairs with the acquire in shm_ring_check_tail(): every stamp is
	 * visible before the tail is. */
	shm_store_release(&r->ctl->tail, r->tail);
}

/*
 * shm_ring_put() of @n entries from @src (an array of @size-byte
 * entries), then shm_ring_advance().  The view is kept in locals: the
 * copies into shared memory may alias it, and would otherwise make every
 * entry reload it.
 */
static inline __attribute__((always_inline)) void
shm_ring_put_n(struct shm_ring *r, const void *src, uint32_t n, size_t size)
{
	unsigned char *ents = r->ents;
	uint32_t t = r->tail, mask = r->mask;

	for (uint32_t i = 0; i < n; i++) {
		unsigned char *e = ents + (size_t)((t + i) & mask) * size;

		memcpy(e + 4, (const unsigned char *)src + i * size + 4,
		       size - 4);
		/* Pairs with the acquire in shm_ring_ready_at(): the contents
		 * are visible before the stamp is. */
		shm_store_release((_Atomic uint32_t *)e, t + i + 1);
	}
	shm_ring_advance(r, n);
}

/* Make @n written slots ready: stamp each and move the private tail; the
 * shared one follows with shm_ring_publish_tail().  (The view in locals: a
 * stamp's store may alias it.) */
static inline void
shm_ring_stamp_n(struct shm_ring *r, uint32_t n)
{
	unsigned char *ents = r->ents;
	uint32_t t = r->tail, mask = r->mask, esize = r->esize;

	for (uint32_t i = 0; i < n; i++)
		/* Pairs with the acquire in shm_ring_ready(): the entry's
		 * contents are visible before its stamp is. */
		shm_store_release((_Atomic uint32_t *)
				  (ents + (size_t)((t + i) & mask) * esize),
				  t + i + 1);
	r->tail = t + n;
}

/* Publish the tail up to what was stamped.  The consumer learns what is
 * ready from the stamps, so a producer may first ring the doorbell, whose
 * fence then waits for no transfer of the tail's line. */
static inline void
shm_ring_publish_tail(struct shm_ring *r)
{
	/* Pairs with the acquire in shm_ring_check_tail() and in drain
	 * checks: every stamp is visible before the tail is. */
	shm_store_release(&r->ctl->tail, r->tail);
}

/* Make @n written slots visible: stamp each, then move the tail. */
static inline void
shm_ring_publish(struct shm_ring *r, uint32_t n)
{
	shm_ring_stamp_n(r, n);
	shm_ring_publish_tail(r);
}

/* ---- consumer ---- */

/* Is entry @i past the head ready? */
static inline bool
shm_ring_ready_at(const struct shm_ring *r, uint32_t i)
{
	uint32_t idx = r->head + i;

	/* Pairs with the release in shm_ring_publish(). */
	return shm_load_acquire(shm_ring_stamp(r, idx)) == idx + 1;
}

#define SHM_RING_PREFETCH 512	/* bytes fetched ahead while probing */
#define SHM_RING_PREFETCH_PUB 1024	/* ... within what was published */

/* How many entries past the head are ready, @max at most.  Lines ahead
 * are fetched early, so a batch costs about one transfer, not one per
 * entry in turn. */
static inline uint32_t
shm_ring_ready(const struct shm_ring *r, uint32_t max)
{
	uint32_t n = 0, ahead = SHM_RING_PREFETCH / r->esize;

	if (max > r->mask + 1)
		max = r->mask + 1;
	while (n < max && shm_ring_ready_at(r, n)) {
		if (max > 1)
			__builtin_prefetch(shm_ring_at(r, r->head + n + ahead));
		n++;
	}
	return n;
}

/* Entry @i past the head.  Copy it before shm_ring_consume(). */
static inline const void *
shm_ring_peek(const struct shm_ring *r, uint32_t i)
{
	return shm_ring_at(r, r->head + i);
}

/*
 * shm_ring_published - consumer: how many entries past the head the
 * producer's tail covers, @max at most; 0 when the tail lies behind the
 * head or more than a lap ahead.  Only a bound for prefetching: stamps
 * alone say what is ready, so a wrong tail costs a wasted prefetch.
 */
static inline uint32_t
shm_ring_published(const struct shm_ring *r, uint32_t max)
{
	/* Relaxed: nothing is read on the strength of this value. */
	uint32_t ahead = shm_load_relaxed(&r->ctl->tail) - r->head;

	if (ahead > r->mask + 1)
		return 0;
	return ahead < max ? ahead : max;
}

/*
 * Start fetching the entry SHM_RING_PREFETCH_PUB bytes past entry @i while
 * working on entry @i, if it is below @bound (from shm_ring_published()):
 * a line the producer is still writing would be pulled away from it
 * mid-write, costing it a second transfer.  (The distance is kept in
 * entries: a division here, once per entry, cost a fifth of the daemon's
 * time per NOP.)  always_inline: GCC finds a function whose only effect
 * is a prefetch free of side effects and drops calls to it before it
 * would inline them.
 */
static inline __attribute__((always_inline)) void
shm_ring_prefetch(const struct shm_ring *r, uint32_t i, uint32_t bound)
{
	if (i + r->ahead < bound)
		__builtin_prefetch(shm_ring_peek(r, i + r->ahead));
}

/* Give @n read slots back to the producer. */
static inline void
shm_ring_consume(struct shm_ring *r, uint32_t n)
{
	r->head += n;
	/* Pairs with the acquire in shm_ring_space(): our reads of the
	 * slots happen before the producer may overwrite them. */
	shm_store_release(&r->ctl->head, r->head);
}

/*
 * shm_ring_check_tail - consumer: read the published tail and check that
 * it lies within a lap of the head and did not move backwards since last
 * seen.  (Stamps come first, so the tail may trail what was consumed; and
 * a tail seen more than a lap ago no longer says anything.)  0 or -EPROTO.
 */
static inline int
shm_ring_check_tail(struct shm_ring *r)
{
	/* Pairs with the release of the tail in shm_ring_publish(). */
	uint32_t t = shm_load_acquire(&r->ctl->tail);
	int32_t cap = (int32_t)(r->mask + 1);
	int32_t ahead = (int32_t)(t - r->head);
	int32_t last = (int32_t)(r->tail - r->head);

	if (last < -cap)
		last = -cap;
	if (ahead > cap || ahead < last)
		return -EPROTO;
	r->tail = t;
	return 0;
}

#endif /* HGCA_SHM_RING_H */
