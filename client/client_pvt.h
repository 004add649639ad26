/*
 * client_pvt.h - the inside of a libhgca-client handle (never installed).
 * Tests include it to play a broken client.
 */
#ifndef HGCA_CLIENT_PVT_H
#define HGCA_CLIENT_PVT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "client/hgca.h"
#include "shm/proto.h"
#include "shm/region.h"
#include "shm/ring.h"
#include "shm/spin.h"

#define CLIENT_TIMEOUT_MS 5000	/* handshake and admin replies */
#define CLIENT_SLICE_NS 20000000ll	/* a sleeping wait checks the socket */
#define CLIENT_MODELS 64		/* models per handle (the daemon's limit) */
#define CLIENT_STAGE_GRAIN 64u		/* staging allocations' alignment */
/* A synchronous attend whose waits average more than this many spin
 * budgets sleeps at once (attend.c). */
#define CLIENT_ATTEND_IDLE_X 4

/*
 * Every request is tracked in a slot from prep until its completion is
 * processed; the descriptor's 32-bit tag on the wire is (generation <<
 * CLIENT_GEN_SHIFT | slot index), and the caller's tag is kept here.  The library's own
 * synchronous requests (SLOT_SYNC) never reach the caller; the caller's
 * (SLOT_USER, SLOT_LEAN) go to the stash when processed and are handed out
 * by hgca_reap() and hgca_wait().  A SLOT_LEAN request (a NOP) holds
 * nothing but its tag: its completion is handed out from the slot's hot
 * half alone.
 */
enum slot_kind { SLOT_FREE = 0, SLOT_USER = 1, SLOT_SYNC = 2, SLOT_LEAN = 3 };

#define CLIENT_GEN_SHIFT 16	/* a wire tag's generation: its upper bits,
				 * but HGCA_TAG_VAL */
_Static_assert(SHM_RING_MAX <= 1u << CLIENT_GEN_SHIFT,
	       "a slot index fits below the generation");

/*
 * What every completion reads, 16 bytes, four to a line, in an array of
 * its own: a NOP's prep writes it in one store and its completion reads
 * one line, where the whole slot would spread the requests in flight over
 * twice the cache.
 */
struct client_slot_hot {
	uint64_t tag;			/* the caller's */
	uint32_t gen;			/* the wire tag's generation */
	uint32_t kind;			/* enum slot_kind */
};

/* The rest, which only SLOT_USER and SLOT_SYNC requests use. */
struct client_slot {
	bool done;			/* SLOT_SYNC: completion processed */
	bool has_ext;			/* holds staging extent @ext */
	uint32_t ext;
	int32_t res;
	uint64_t val[2];
	/* An attend's results, copied out when its completion is processed. */
	void *out;
	uint64_t out_off, out_len;
	struct hgca_head_stats *stats;
	uint64_t stats_off, nstats;
};

/*
 * The staging arena as a byte ring whose extents may be freed in any
 * order: allocation takes bytes at @head (skipping the arena's end when a
 * request does not fit before it), and @tail moves past extents only in
 * allocation order, so a slow request delays reuse but nothing is lost.
 * Positions are free-running byte counts; the queue of extents holds at
 * most one per slot plus the skipped ends.
 */
struct stage_ext {
	uint64_t start, end;
	bool freed;
};

struct client_stage {
	uint64_t size;
	uint64_t head, tail;
	struct stage_ext *q;
	uint32_t qcap, qhead, qtail;	/* free-running */
};

/* A model this handle declared: what sizes its requests. */
struct client_model {
	uint32_t id;			/* 0: free */
	uint32_t layers, hq, hkv, d, dtype;
};

/* Open sequences: id -> model index (open addressing, linear probing). */
struct client_seqmap {
	uint32_t *key;			/* 0 empty, UINT32_MAX deleted */
	uint8_t *model;			/* index into models[] */
	uint32_t cap, used, live;	/* used counts deleted slots too */
};

struct hgca {
	int sock;
	int err;			/* sticky: -ECONNRESET or -EPROTO */
	uint32_t client_id;
	uint32_t rights;
	/* With a region (else base is NULL). */
	void *base;
	struct shm_layout lo;
	struct hgca_region_hdr *hdr;
	unsigned char *stage;
	struct shm_ring sq;		/* producer view */
	struct shm_ring cq;		/* consumer view */
	uint32_t prepared;		/* the caller's, written, not published */
	uint32_t claimed;		/* sq index: the lines of the slots
					 * before it were asked for (claim()) */
	uint32_t inflight;		/* the caller's, published, not yet
					 * handed out (in the ring or stash) */
	struct shm_spin spin;
	struct shm_spin attend_spin;	/* attends' own (attend.c, hgca_wait) */
	uint32_t attends;		/* SLOT_USER attends prepared, their
					 * completions not yet processed */
	struct hgca_cqval *cqv;		/* [entries] completions' res, values */
	struct client_slot_hot *hot;	/* [entries] */
	struct client_slot *slots;	/* [entries] */
	/* The free slots, a stack: [0, entries - slots_used), each as the
	 * wire tag its next request gets (its generation already moved on),
	 * so a prep reads no slot.  (Not a list through the slots: each
	 * request would then wait for the previous one's load of the next
	 * link.) */
	uint32_t *free_wire;
	uint32_t slots_used;
	/* How many requests this batch may hold (checked when its first was
	 * prepared: ring space, requests in flight, free slots); a later
	 * prep within it checks nothing else.  Reaping only adds room. */
	uint32_t prep_room;
	struct client_stage stg;
	struct hgca_completion *stash;	/* [entries] processed, not reaped */
	uint32_t shead, stail;		/* free-running */
	struct client_model models[CLIENT_MODELS];
	struct client_seqmap seqs;
};

/* ---- slots.c ---- */

/* Allocate the tables of a handle with a region.  0 or -ENOMEM. */
int client_tables_init(struct hgca *h);
void client_tables_fini(struct hgca *h);

/* A free slot of @kind (NULL when none) and the wire tag naming it. */
struct client_slot *client_slot_get(struct hgca *h, enum slot_kind kind,
				    uint64_t tag, uint64_t *wire_tag);
/* Give a slot back (and its staging extent). */
void client_slot_put(struct hgca *h, struct client_slot *s);

/* The slot's index, its generation and its hot half's second word, from
 * a wire tag. */
static inline uint32_t
client_wire_slot(uint32_t wire)
{
	return wire & ((1u << CLIENT_GEN_SHIFT) - 1);
}

static inline uint32_t
client_wire_gen(uint32_t wire)
{
	return (wire & ~HGCA_TAG_VAL) >> CLIENT_GEN_SHIFT;
}

/* The wire tag a slot's next request gets: the next generation, wrapping
 * below HGCA_TAG_VAL. */
static inline uint32_t
client_wire_next(uint32_t wire)
{
	return (wire + (1u << CLIENT_GEN_SHIFT)) & ~HGCA_TAG_VAL;
}

static inline uint64_t
client_wire_word(uint32_t wire, enum slot_kind kind)
{
	return client_wire_gen(wire) | (uint64_t)kind << 32;
}

/* Take the free slot on top of the stack for a request of @kind; its wire
 * tag.  The caller checked that one is free. */
static inline uint32_t
client_slot_pop(struct hgca *h, enum slot_kind kind, uint64_t tag)
{
	uint32_t wire = h->free_wire[h->lo.entries - 1 - h->slots_used++];
	struct client_slot_hot *hs = &h->hot[client_wire_slot(wire)];
	struct client_slot_hot v = { tag, client_wire_gen(wire), kind };

	memcpy(hs, &v, sizeof(v));	/* one store */
	return wire;
}

/*
 * client_slot_get() inline, for the requests of the hot path.  A slot's
 * cold half is not zeroed: a free slot keeps out and stats NULL and
 * has_ext false (client_slot_free()); what they guard (out_*, stats_*,
 * ext) and the results (res, val: written when the completion is
 * processed) are left as they were.
 */
static inline struct client_slot *
client_slot_take(struct hgca *h, enum slot_kind kind, uint64_t tag,
		 uint64_t *wire_tag)
{
	struct client_slot *s;

	if (h->slots_used >= h->lo.entries)
		return NULL;
	*wire_tag = client_slot_pop(h, kind, tag);
	s = &h->slots[client_wire_slot(*wire_tag)];
	s->done = false;
	return s;
}

/* Give back the slot that @wire names: the next request in it gets the
 * next generation (wrapping within the 32 bits). */
static inline void
client_slot_push(struct hgca *h, uint32_t wire)
{
	h->hot[client_wire_slot(wire)].kind = SLOT_FREE;
	h->free_wire[h->lo.entries - h->slots_used--] = client_wire_next(wire);
}

/* client_slot_put() of a slot that holds no staging, inline. */
static inline void
client_slot_free(struct hgca *h, struct client_slot *s)
{
	uint32_t i = (uint32_t)(s - h->slots);

	s->has_ext = false;
	if (s->out || s->stats)	/* free slots keep them NULL */
		s->out = s->stats = NULL;
	client_slot_push(h, h->hot[i].gen << CLIENT_GEN_SHIFT | i);
}

/*
 * client_stage_alloc - @len bytes of staging (aligned to
 * CLIENT_STAGE_GRAIN): 0 with *off and *ext set, -EAGAIN (not now: in use
 * by requests in flight) or -E2BIG (larger than the arena).
 */
int client_stage_alloc(struct hgca *h, uint64_t len, uint64_t *off,
		       uint32_t *ext);
void client_stage_free(struct hgca *h, uint32_t ext);

/* The next descriptor to prepare (all but the stamp zeroed). */
struct hgca_sqe *client_sqe_next(struct hgca *h);

/* Process every completion that has arrived (into the stash or the
 * synchronous slots).  0 or -EPROTO (a completion names no request). */
int client_process(struct hgca *h);
/* Swaps the handle's spin learning with its attends' (attend.c). */
void client_spin_swap(struct hgca *h);

/*
 * client_take - process what has arrived, the caller's completions
 * straight into @out (@room at most; the stash must be empty, since what
 * it holds is older), the rest into the stash; those handed out leave
 * inflight.  Returns how many went into @out, or -EPROTO (a completion
 * names no request) when none did.
 */
int client_take(struct hgca *h, struct hgca_completion *out, uint32_t room);

/*
 * Wait until @want completions have arrived (spin, then sleep; never past
 * the daemon's death) and process what has arrived.  @want must not exceed
 * the requests published and not yet processed.  @deadline_ns absolute,
 * UINT64_MAX for none.  0, -ETIMEDOUT, or the sticky error.
 */
int client_pump(struct hgca *h, uint32_t want, uint64_t deadline_ns);

/* Completions in the stash. */
static inline uint32_t
client_stashed(const struct hgca *h)
{
	return h->stail - h->shead;
}

/*
 * client_call - run one request synchronously: publish what the caller
 * prepared, then @sqe (opcode and payload filled in; tag set here) with
 * slot @s (SLOT_SYNC, its staging already attached), wait for its
 * completion, and return its res with val[0] in *@val (if not NULL).
 * The slot is given back.  Returns res, or a connection error.
 */
int client_call(struct hgca *h, struct client_slot *s, struct hgca_sqe *sqe,
		uint64_t *val);

/*
 * client_sync_slot - a SLOT_SYNC slot with @len bytes of staging at
 * *@off (len 0: none), waiting for requests in flight to free room.
 * 0, -E2BIG, or a connection error.
 */
int client_sync_slot(struct hgca *h, uint64_t len, struct client_slot **s,
		     uint64_t *off);

/* May a request be made now?  0, -EINVAL (no region), -ESHUTDOWN, or the
 * sticky error. */
int client_usable(struct hgca *h);

/* ---- submit.c ---- */

/* May the caller prepare a request now?  0, -EAGAIN (ring full: reap
 * first), or as client_usable(). */
int client_prep_check(struct hgca *h);

/* Publish @n descriptors written past the tail and ring the doorbell. */
void client_publish(struct hgca *h, uint32_t n);

/* Forget prepared requests that will never be published (their slots
 * and staging go back). */
void client_drop_prepared(struct hgca *h);

/* ---- models and sequences (service.c) ---- */

struct client_model *client_model_find(struct hgca *h, uint32_t id);
/* The model of open sequence @seq, or NULL. */
struct client_model *client_seq_model(struct hgca *h, uint32_t seq);

/* Record a lost connection or quarantine; returns the sticky error. */
int client_fail(struct hgca *h, int err);

/* The region's state word: 0, -ESHUTDOWN (draining) or a sticky error. */
int client_region_state(struct hgca *h);

/* Look at the socket without blocking: notices and hang-up.  0 or the
 * sticky error. */
int client_check_conn(struct hgca *h);

#endif /* HGCA_CLIENT_PVT_H */
