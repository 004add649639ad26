/*
 * slots.c - what the library keeps per request: slots (the wire tag names
 * one), the staging arena's allocator, the stash of processed completions,
 * and the synchronous calls built on them (client_pvt.h).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_pvt.h"
#include "shm/bell.h"

#define CLOCK_EVERY 32	/* spin rounds between clock and state reads */

_Static_assert(sizeof(struct hgca_head_stats) == sizeof(struct hgca_wire_stats),
	       "stats are copied as they are");

int
client_tables_init(struct hgca *h)
{
	uint32_t n = h->lo.entries;

	h->hot = aligned_alloc(64, n * sizeof(*h->hot));
	h->slots = calloc(n, sizeof(*h->slots));
	h->free_wire = calloc(n, sizeof(*h->free_wire));
	h->stash = calloc(n, sizeof(*h->stash));
	h->stg.qcap = 2 * n + 4;	/* one per slot, plus skipped ends */
	h->stg.q = calloc(h->stg.qcap, sizeof(*h->stg.q));
	if (!h->hot || !h->slots || !h->free_wire || !h->stash || !h->stg.q) {
		client_tables_fini(h);
		return -ENOMEM;
	}
	memset(h->hot, 0, n * sizeof(*h->hot));	/* all SLOT_FREE */
	for (uint32_t i = 0; i < n; i++)	/* slot 0 on top */
		h->free_wire[i] = n - 1 - i;
	h->slots_used = 0;
	h->claimed = h->sq.tail;
	h->cqv = (struct hgca_cqval *)(void *)((unsigned char *)h->base +
					       h->lo.cqv_off);
	h->stg.size = h->lo.stage_size;
	return 0;
}

void
client_tables_fini(struct hgca *h)
{
	free(h->hot);
	free(h->slots);
	free(h->free_wire);
	free(h->stash);
	free(h->stg.q);
	free(h->seqs.key);
	free(h->seqs.model);
	h->hot = NULL;
	h->slots = NULL;
	h->free_wire = NULL;
	h->stash = NULL;
	h->stg.q = NULL;
	h->seqs.key = NULL;
	h->seqs.model = NULL;
}

/* ---- slots ---- */

struct client_slot *
client_slot_get(struct hgca *h, enum slot_kind kind, uint64_t tag,
		uint64_t *wire_tag)
{
	return client_slot_take(h, kind, tag, wire_tag);
}

void
client_slot_put(struct hgca *h, struct client_slot *s)
{
	if (s->has_ext)
		client_stage_free(h, s->ext);
	client_slot_free(h, s);
}

/* ---- the staging arena ---- */

static void
ext_push(struct client_stage *st, uint64_t start, uint64_t end, bool freed)
{
	struct stage_ext *e = &st->q[st->qtail % st->qcap];

	e->start = start;
	e->end = end;
	e->freed = freed;
	st->qtail++;
}

int
client_stage_alloc(struct hgca *h, uint64_t len, uint64_t *off, uint32_t *ext)
{
	struct client_stage *st = &h->stg;
	uint64_t at, skip;

	len = (len + CLIENT_STAGE_GRAIN - 1) & ~(uint64_t)(CLIENT_STAGE_GRAIN - 1);
	if (len == 0)
		len = CLIENT_STAGE_GRAIN;
	if (len > st->size)
		return -E2BIG;
	if (st->qhead == st->qtail)	/* empty: start again at the front */
		st->head = st->tail = 0;
	at = st->head % st->size;
	skip = at + len > st->size ? st->size - at : 0;
	if (st->head + skip + len - st->tail > st->size ||
	    st->qtail - st->qhead + 2 > st->qcap)
		return -EAGAIN;
	if (skip) {
		ext_push(st, st->head, st->head + skip, true);
		st->head += skip;
	}
	*ext = st->qtail;
	*off = st->head % st->size;
	ext_push(st, st->head, st->head + len, false);
	st->head += len;
	return 0;
}

void
client_stage_free(struct hgca *h, uint32_t ext)
{
	struct client_stage *st = &h->stg;

	st->q[ext % st->qcap].freed = true;
	while (st->qhead != st->qtail && st->q[st->qhead % st->qcap].freed) {
		st->tail = st->q[st->qhead % st->qcap].end;
		st->qhead++;
	}
}

/* ---- descriptors ---- */

struct hgca_sqe *
client_sqe_next(struct hgca *h)
{
	struct hgca_sqe *sqe;
	uint32_t space;

	if (shm_ring_space(&h->sq, h->prepared + 1, &space) < 0) {
		client_fail(h, -EPROTO);	/* the daemon broke the ring */
		return NULL;
	}
	if (space < h->prepared + 1)	/* consumed any moment now */
		return NULL;
	sqe = shm_ring_slot(&h->sq, h->prepared);
	/* Everything but the stamp, which shm_ring_publish() writes. */
	memset((char *)sqe + sizeof(sqe->stamp), 0,
	       sizeof(*sqe) - sizeof(sqe->stamp));
	return sqe;
}

/* ---- completions ---- */

/* An attend's results, from staging into the caller's buffers. */
static __attribute__((noinline)) void
copy_out(struct hgca *h, const struct client_slot *s)
{
	if (s->out)
		memcpy(s->out, h->stage + s->out_off, s->out_len);
	if (s->stats)
		memcpy(s->stats, h->stage + s->stats_off,
		       s->nstats * sizeof(*s->stats));
}

/* The res and values of completion entry @e, at index @idx: zero unless
 * its tag says they were written. */
static inline struct hgca_cqval
cq_values(const struct hgca *h, const struct hgca_cqent *e, uint32_t idx)
{
	struct hgca_cqval v = { 0, 0, { 0, 0 }, 0 };

	if (e->tag & HGCA_TAG_VAL)
		v = h->cqv[idx & (h->lo.entries - 1)];
	return v;
}

/* Fill in a completion for the caller, in two 16-byte stores. */
static inline void
completion_set(struct hgca_completion *c, uint64_t tag,
	       const struct hgca_cqval *v)
{
	struct { int32_t res; uint32_t flags; } rf = { v->res, 0 };

	c->tag = tag;
	memcpy(&c->res, &rf, sizeof(rf));	/* res, flags = 0 */
	memcpy(c->value, v->val, sizeof(c->value));
}

/* Where the caller's completions go: the first @room into @out (when
 * nothing older is stashed), the rest into the stash. */
struct sink {
	struct hgca_completion *out;
	uint32_t room, n;
};

/* Where the next caller's completion goes. */
static inline struct hgca_completion *
sink_next(struct hgca *h, struct sink *k)
{
	if (k->n < k->room)
		return &k->out[k->n++];
	/* The stash's size is a power of two (the ring's). */
	return &h->stash[h->stail++ & (h->lo.entries - 1)];
}

/* A completion (entry @idx) that process_lean() did not take: a SLOT_USER
 * or SLOT_SYNC request's, or one that names no request. */
static __attribute__((noinline)) int
process_one(struct hgca *h, uint32_t idx, struct sink *k)
{
	const struct hgca_cqent *e = SHM_RING_ENTRY(&h->cq, const struct
						    hgca_cqent, idx);
	uint32_t i = client_wire_slot(e->tag);
	const struct client_slot_hot *hs = i < h->lo.entries ? &h->hot[i] : NULL;
	struct client_slot *s = hs ? &h->slots[i] : NULL;
	struct hgca_cqval v = cq_values(h, e, idx);

	if (!hs || hs->kind == SLOT_FREE || hs->gen != client_wire_gen(e->tag) ||
	    (hs->kind == SLOT_SYNC && s->done))
		return client_fail(h, -EPROTO);	/* names no request */
	if (v.res == 0 && (s->out || s->stats))
		copy_out(h, s);
	if (hs->kind == SLOT_SYNC) {	/* client_call reads and frees it */
		s->res = v.res;
		s->val[0] = v.val[0];
		s->val[1] = v.val[1];
		s->done = true;
		return 0;
	}
	completion_set(sink_next(h, k), hs->tag, &v);
	if (s->out && h->attends)	/* an attend of the caller's */
		h->attends--;
	if (s->has_ext)
		client_slot_put(h, s);
	else
		client_slot_free(h, s);
	return 0;
}

/* Is the slot's hot half @word (its generation and kind)? */
static inline bool
hot_is(const struct client_slot_hot *hs, uint64_t word)
{
	uint64_t w;

	memcpy(&w, &hs->gen, sizeof(w));	/* gen, kind: one load */
	return w == word;
}

/*
 * Hand out the NOPs' completions from @n on (their slots hold only the
 * caller's tag), up to the first other one or @max, with the views of the
 * ring, the stash, the slots and the sink kept in registers: nothing in
 * this loop calls out, and the caller's stores may alias h's counters, so
 * those are written back at the end.  Entries are addressed by their
 * type (esize is a variable: a multiply).  Returns where it stopped.
 */
static inline uint32_t
process_lean(struct hgca *h, const struct shm_ring *cq, uint32_t n,
	     uint32_t max, struct sink *k)
{
	static const struct hgca_cqval zero;
	struct client_slot_hot *hot = h->hot;
	const struct hgca_cqval *cqv = h->cqv;
	struct hgca_completion *stash = h->stash, *out = k->out;
	uint32_t entries = h->lo.entries, kn = k->n;
	/* Where the next freed slot goes on the free stack (client_slot_push()
	 * there). */
	uint32_t *push = h->free_wire + entries - h->slots_used;
	uint32_t stail = h->stail, room = k->room, idx = cq->head + n;
	/* The entry at idx, walked along (no index arithmetic per entry). */
	const struct hgca_cqent *base = (const struct hgca_cqent *)(const void *)
					cq->ents, *end = base + entries;
	const struct hgca_cqent *e = base + (idx & (entries - 1));

	for (; n < max; n++, idx++) {
		struct hgca_completion *dst;
		uint32_t wire, i;

		/* Pairs with the release in cq_write() (daemon). */
		if (shm_load_acquire(&e->stamp) != idx + 1)
			break;
		wire = e->tag;
		i = client_wire_slot(wire);
		if (i >= entries ||
		    !hot_is(&hot[i], client_wire_word(wire, SLOT_LEAN)))
			break;
		/* The stash's size is a power of two (the ring's). */
		dst = kn < room ? &out[kn++] : &stash[stail++ & (entries - 1)];
		if (wire & HGCA_TAG_VAL)
			completion_set(dst, hot[i].tag,
				       &cqv[idx & (entries - 1)]);
		else
			completion_set(dst, hot[i].tag, &zero);
		hot[i].kind = SLOT_FREE;
		*push++ = client_wire_next(wire);
		if (++e == end)
			e = base;
	}
	h->slots_used = entries - (uint32_t)(push - h->free_wire);
	h->stail = stail;
	k->n = kn;
	return n;
}

/* Process up to @max completions: runs of NOPs' in process_lean(), any
 * other in process_one().  Returns how many, the error in *@rc. */
static inline uint32_t
process_run(struct hgca *h, const struct shm_ring *cq, uint32_t max,
	     struct sink *k, int *rc)
{
	uint32_t n = 0;

	while ((n = process_lean(h, cq, n, max, k)) < max &&
	       shm_ring_ready_at(cq, n)) {
		*rc = process_one(h, cq->head + n++, k);
		if (*rc < 0)	/* consumed: the handle is failed anyway */
			break;
	}
	return n;
}

/*
 * Every completion that has arrived, in one pass: each stamp is read with
 * the rest of its line, in order (eight to a line: the processor fetches
 * the next lines while it works on these).  The daemon's tail is not
 * read: its line would cross twice per batch, and the daemon would wait
 * for it when it unlocks after posting; nor is anything fetched ahead of
 * the stamps, since a line past them may be half written, and reading it
 * early would pull it away from the daemon.
 */
static int
process(struct hgca *h, struct sink *k)
{
	/* A private copy of the view: stores through h cannot change it, so
	 * the loop keeps it in registers. */
	struct shm_ring cq = h->cq;
	int rc = 0;
	/* Read in place: the daemon is trusted, and stamped entries stay
	 * as they are until consumed. */
	uint32_t n = process_run(h, &cq, h->lo.entries, k, &rc);

	if (n)	/* an empty look writes nothing into the region */
		shm_ring_consume(&h->cq, n);
	return rc < 0 ? rc : (int)n;
}

int
client_process(struct hgca *h)
{
	struct sink none = { NULL, 0, 0 };

	return process(h, &none);
}

int
client_take(struct hgca *h, struct hgca_completion *out, uint32_t room)
{
	struct sink k = { out, room, 0 };
	int rc = process(h, &k);

	h->inflight -= k.n;	/* handed out */
	return k.n || rc >= 0 ? (int)k.n : rc;
}

/* Are at least @want completions ready?  One look, at the want-th: the
 * daemon stamps completions in order, so the earlier ones are ready too
 * (and a waiter spins on one cache line, not on every line it waits for). */
static bool
has(const struct hgca *h, uint32_t want)
{
	return want == 0 || (want <= h->lo.entries &&
			     shm_ring_ready_at(&h->cq, want - 1));
}

/* Sleep once on the completion doorbell (a slice at most), then look at
 * the socket.  0, -ETIMEDOUT past @deadline, or the sticky error. */
static int
sleep_once(struct hgca *h, uint32_t want, uint64_t deadline)
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
	if (!has(h, want) && client_region_state(h) != -EPROTO && !h->err)
		shm_bell_sleep(&h->cq.ctl->bell, seq, slice);
	shm_bell_disarm(&h->cq.ctl->bell);
	return h->err;
}

/*
 * Spin up to the budget, then sleep in slices, until @want completions are
 * ready.  The clock is first read after CLOCK_EVERY rounds, so a
 * completion that arrives while spinning costs no clock read (a wait that
 * short is learned as 0).
 */
static int
wait_ready(struct hgca *h, uint32_t want, uint64_t deadline)
{
	uint64_t start = 0, limit;
	unsigned rounds = 0;
	int rc;

	/* Relaxed: a hint the daemon refreshes. */
	h->spin.cap_ns = shm_load_relaxed(&h->hdr->spin_ns);
	limit = shm_spin_limit(&h->spin);
	while (!has(h, want)) {
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
		if ((rc = sleep_once(h, want, deadline)) < 0)
			return rc;
	}
	shm_spin_learn(&h->spin, start ? shm_now_ns() - start : 0);
	return 0;
}

int
client_pump(struct hgca *h, uint32_t want, uint64_t deadline_ns)
{
	struct sink none = { NULL, 0, 0 };
	int rc = wait_ready(h, want ? want : 1, deadline_ns);
	int n = process(h, &none);	/* what came, even with an error */

	if (n < 0)
		return n;
	return n > 0 ? 0 : rc;
}

/* ---- synchronous calls ---- */

int
client_usable(struct hgca *h)
{
	if (!h->base)
		return -EINVAL;
	if (h->err)
		return h->err;
	return client_region_state(h);
}

/* Publish what the caller prepared (a synchronous call goes after it). */
static void
publish_prepared(struct hgca *h)
{
	if (h->prepared == 0)
		return;
	client_publish(h, h->prepared);
	h->inflight += h->prepared;
	h->prepared = 0;
}

int
client_sync_slot(struct hgca *h, uint64_t len, struct client_slot **out,
		 uint64_t *off)
{
	struct client_slot *s;
	uint64_t wire;
	uint32_t ext;
	int rc;

	publish_prepared(h);
	while (!(s = client_slot_get(h, SLOT_SYNC, 0, &wire)))
		if ((rc = client_pump(h, 1, UINT64_MAX)) < 0)
			return rc;
	while (len && (rc = client_stage_alloc(h, len, off, &ext)) < 0) {
		/* Only completions of others free staging. */
		if (rc != -EAGAIN || h->slots_used < 2 ||
		    (rc = client_pump(h, 1, UINT64_MAX)) < 0) {
			client_slot_put(h, s);
			return rc == -EAGAIN ? -E2BIG : rc;
		}
	}
	s->has_ext = len != 0;
	s->ext = len ? ext : 0;
	*out = s;
	return 0;
}

/* A descriptor slot, waiting out the moment before the daemon consumes
 * one it has already answered. */
static struct hgca_sqe *
sqe_wait(struct hgca *h)
{
	struct hgca_sqe *sqe;
	unsigned rounds = 0;

	while (!(sqe = client_sqe_next(h))) {
		if (h->err)
			return NULL;
		if (++rounds % 1024 == 0 && client_check_conn(h) < 0)
			return NULL;
		shm_cpu_relax();
	}
	return sqe;
}

int
client_call(struct hgca *h, struct client_slot *s, struct hgca_sqe *tmpl,
	    uint64_t *val)
{
	uint32_t i = (uint32_t)(s - h->slots);
	struct hgca_sqe *sqe;
	int rc = 0;

	publish_prepared(h);
	sqe = sqe_wait(h);
	if (!sqe) {
		client_slot_put(h, s);
		return h->err ? h->err : -ECONNRESET;
	}
	memcpy((char *)sqe + sizeof(sqe->stamp), (char *)tmpl +
	       sizeof(tmpl->stamp), sizeof(*sqe) - sizeof(sqe->stamp));
	sqe->tag = h->hot[i].gen << CLIENT_GEN_SHIFT | i;
	client_publish(h, 1);
	while (!s->done && rc == 0)
		rc = client_pump(h, 1, UINT64_MAX);
	if (s->done) {
		rc = s->res;
		if (val)
			*val = s->val[0];
	}
	client_slot_put(h, s);
	return rc;
}

void
client_drop_prepared(struct hgca *h)
{
	for (uint32_t i = 0; i < h->prepared; i++) {
		const struct hgca_sqe *sqe = shm_ring_slot(&h->sq, i);
		struct client_slot *s = &h->slots[client_wire_slot(sqe->tag)];

		if (s->out && h->attends)	/* an attend: never runs */
			h->attends--;
		client_slot_put(h, s);
	}
	h->prepared = 0;
}
