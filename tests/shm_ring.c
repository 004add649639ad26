/*
 * shm_ring - the SPSC ring, doorbells, spin budget, region layout and
 * message framing, in one process: millions of entries across the
 * uint32_t index wrap between two threads, every kind of bad index, and
 * wake-ups that are neither lost nor needless.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "attn/rng.h"
#include "shm/bell.h"
#include "shm/msg.h"
#include "shm/region.h"
#include "shm/ring.h"
#include "shm/spin.h"
#include "tests/ref64.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

/* A ring entry: the stamp, then the payload. */
struct ent {
	_Atomic uint32_t stamp;
	uint32_t pad;
	uint64_t value;
};

struct pipe {
	struct hgca_ring_ctl *ctl;
	struct ent *ents;
	uint32_t entries, start, maxbatch;
	bool put;		/* producer: shm_ring_put(), not fill + publish */
	uint64_t total, seed;
	uint64_t bad;		/* consumer: entries out of sequence */
	uint64_t sleeps;	/* both sides: futex waits */
};

/* The value of entry @i: a hash, so a stale or torn slot shows. */
static uint64_t
value_of(uint64_t seed, uint64_t i)
{
	uint64_t x = seed + i * 0x9e3779b97f4a7c15ull;

	return rng_splitmix(&x);
}

/* Spin briefly, then sleep on @b until @ready says go. */
static void
wait_on(struct hgca_bell *b, bool (*ready)(struct shm_ring *, uint32_t),
	struct shm_ring *r, uint32_t want, uint64_t *sleeps)
{
	for (int spin = 0; !ready(r, want); spin++) {
		if (spin < 2000) {
			shm_cpu_relax();
			continue;
		}
		uint32_t seq = shm_bell_arm(b);

		if (!ready(r, want)) {
			shm_bell_sleep(b, seq, 10000000);
			(*sleeps)++;
		}
		shm_bell_disarm(b);
		spin = 0;
	}
}

static bool
has_space(struct shm_ring *r, uint32_t want)
{
	uint32_t space;

	return shm_ring_space(r, want, &space) == 0 && space >= want;
}

static bool
has_entries(struct shm_ring *r, uint32_t want)
{
	return shm_ring_ready(r, want) >= want;
}

/* The producer also sleeps, on a second bell the consumer rings. */
static struct hgca_bell space_bell;

static void *
producer(void *arg)
{
	struct pipe *p = arg;
	struct shm_ring r;
	struct rng g;

	rng_seed(&g, p->seed ^ 1);
	shm_ring_attach(&r, p->ctl, p->ents, p->entries, sizeof(struct ent));
	for (uint64_t i = 0; i < p->total;) {
		uint32_t n = 1 + (uint32_t)rng_below(&g, p->maxbatch);

		if (n > p->total - i)
			n = (uint32_t)(p->total - i);
		wait_on(&space_bell, has_space, &r, n, &p->sleeps);
		for (uint32_t k = 0; k < n; k++) {
			struct ent e = { .value = value_of(p->seed, i + k) };

			if (p->put)
				shm_ring_put(&r, k, &e, sizeof(e));
			else	/* the stamp is publish's to write */
				((struct ent *)shm_ring_slot(&r, k))->value =
					e.value;
		}
		if (p->put)
			shm_ring_advance(&r, n);
		else
			shm_ring_publish(&r, n);
		shm_bell_ring(&p->ctl->bell);
		i += n;
	}
	return NULL;
}

/* Consumers of both kinds: shm_ring_ready() (the put streams), or the
 * stamps one by one, prefetching within what the tail publishes (the
 * daemon's and the client library's way). */
static uint32_t
take_ready(struct pipe *p, struct shm_ring *r, uint64_t i)
{
	uint32_t n = 0, pub;

	if (p->put)
		n = shm_ring_ready(r, p->entries);
	else
		for (pub = shm_ring_published(r, p->entries);
		     n < p->entries && shm_ring_ready_at(r, n); n++)
			shm_ring_prefetch(r, n, pub);
	for (uint32_t k = 0; k < n; k++)
		p->bad += ((const struct ent *)shm_ring_peek(r, k))->value !=
			  value_of(p->seed, i + k);
	return n;
}

static void
consume(struct pipe *p)
{
	struct shm_ring r;
	uint32_t n;

	shm_ring_attach(&r, p->ctl, p->ents, p->entries, sizeof(struct ent));
	for (uint64_t i = 0; i < p->total;) {
		wait_on(&p->ctl->bell, has_entries, &r, 1, &p->sleeps);
		n = take_ready(p, &r, i);
		if (shm_ring_check_tail(&r) < 0) {
			p->bad++;
			return;
		}
		shm_ring_consume(&r, n);
		shm_bell_ring(&space_bell);
		i += n;
	}
}

static void
check_stream(struct rng *g, uint32_t entries, uint32_t start, uint64_t total,
	     uint32_t maxbatch, bool put)
{
	struct pipe p = { .entries = entries, .start = start, .total = total,
			  .maxbatch = maxbatch, .put = put, .seed = rng_next(g) };
	pthread_t t;

	p.ctl = aligned_alloc(HGCA_LINE_PAD, sizeof(*p.ctl));
	p.ents = calloc(entries, sizeof(struct ent));
	shm_ring_init(p.ctl, p.ents, entries, sizeof(struct ent), start);
	pthread_create(&t, NULL, producer, &p);
	consume(&p);
	pthread_join(t, NULL);
	ok(p.bad == 0 && shm_load_relaxed(&p.ctl->tail) == start + (uint32_t)total,
	   "%llu entries through %u slots from index %u, batches <= %u, %s: "
	   "%llu out of sequence, %llu sleeps", (unsigned long long)total,
	   entries, start, maxbatch, put ? "put one by one" : "filled, "
	   "then published", (unsigned long long)p.bad,
	   (unsigned long long)p.sleeps);
	free(p.ctl);
	free(p.ents);
}

/* Every way a peer can move an index wrongly is refused, nothing else;
 * stamps start a lap behind, so fresh (zeroed) slots never look ready. */
static void
check_bad_indices(struct rng *g)
{
	static struct hgca_ring_ctl ctl __attribute__((aligned(128)));
	struct ent ents[16];
	struct shm_ring prod, cons;
	uint32_t start = (uint32_t)rng_next(g), space, fresh;
	int r1, r2, r3, r4, r5, r6, r7;

	memset(ents, 0, sizeof(ents));
	shm_ring_init(&ctl, ents, 16, sizeof(ents[0]), UINT32_MAX);
	shm_ring_attach(&cons, &ctl, ents, 16, sizeof(ents[0]));
	fresh = shm_ring_ready(&cons, 16);	/* index 2^32-1: stamp 0 */
	shm_ring_init(&ctl, ents, 16, sizeof(ents[0]), start);
	shm_ring_attach(&prod, &ctl, ents, 16, sizeof(ents[0]));
	shm_ring_attach(&cons, &ctl, ents, 16, sizeof(ents[0]));
	shm_ring_publish(&prod, 10);
	r1 = shm_ring_check_tail(&cons) == 0 && shm_ring_ready(&cons, 16) == 10;
	shm_store_relaxed(&ctl.tail, start + 17);	/* past capacity */
	r2 = shm_ring_check_tail(&cons);
	shm_store_relaxed(&ctl.tail, start + 9);	/* backwards */
	r3 = shm_ring_check_tail(&cons);
	shm_store_relaxed(&ctl.tail, start - 1);	/* behind the head */
	r4 = shm_ring_check_tail(&cons);
	shm_store_relaxed(&ctl.tail, start + 10);
	shm_store_relaxed(&ctl.head, start + 11);	/* past the tail */
	r5 = shm_ring_space(&prod, 16, &space);
	shm_store_relaxed(&ctl.head, start - 1);	/* backwards */
	r6 = shm_ring_space(&prod, 16, &space);
	cons.head += 5 * 16 + 3;	/* many laps consumed, tail not seen */
	shm_store_relaxed(&ctl.tail, cons.head - 2);	/* stamps ran ahead */
	r7 = shm_ring_check_tail(&cons);
	ok(fresh == 0 && r1 && r2 == -EPROTO && r3 == -EPROTO &&
	   r4 == -EPROTO && r5 == -EPROTO && r6 == -EPROTO && r7 == 0,
	   "fresh slots not ready (%u); bad indices refused (from %u): "
	   "past capacity %d, backwards %d, behind head %d; head past tail "
	   "%d, head backwards %d; a tail unseen for laps is fine (%d)",
	   fresh, start, r2, r3, r4, r5, r6, r7);
}

/* The tail as a bound: what it covers past the head, capped; nothing
 * when it lies behind the head or more than a lap ahead. */
static void
check_published(struct rng *g)
{
	static struct hgca_ring_ctl ctl __attribute__((aligned(128)));
	struct ent ents[32];
	struct shm_ring prod, cons;
	uint32_t start = (uint32_t)rng_next(g), n = 1 + (uint32_t)rng_below(g, 31);
	uint32_t fresh, all, capped, past, behind, lap;

	shm_ring_init(&ctl, ents, 32, sizeof(ents[0]), start);
	shm_ring_attach(&prod, &ctl, ents, 32, sizeof(ents[0]));
	shm_ring_attach(&cons, &ctl, ents, 32, sizeof(ents[0]));
	fresh = shm_ring_published(&cons, 32);
	for (uint32_t k = 0; k < n; k++) {
		struct ent e = { .value = k };

		shm_ring_put(&prod, k, &e, sizeof(e));
	}
	shm_ring_advance(&prod, n);
	all = shm_ring_published(&cons, 32);
	capped = shm_ring_published(&cons, n - 1);
	shm_store_relaxed(&ctl.tail, start + 33);	/* past a lap */
	past = shm_ring_published(&cons, 32);
	shm_store_relaxed(&ctl.tail, start - 1);	/* behind the head */
	behind = shm_ring_published(&cons, 32);
	shm_store_relaxed(&ctl.tail, start + 32);	/* a full lap */
	lap = shm_ring_published(&cons, 32);
	ok(fresh == 0 && all == n && capped == n - 1 && past == 0 &&
	   behind == 0 && lap == 32 && shm_ring_ready(&cons, 32) == n,
	   "the tail bounds prefetching: %u of %u put, capped %u, past a lap "
	   "%u, behind %u, a full lap %u", all, n, capped, past, behind, lap);
}

static struct hgca_bell bells[2];
static _Atomic int woken;

static void *
sleeper(void *arg)
{
	struct hgca_bell *b[2] = { &bells[0], &bells[1] };
	uint32_t seq[2] = { shm_bell_arm(&bells[0]), shm_bell_arm(&bells[1]) };
	int rc = shm_bell_sleepv(b, seq, 2, 5000000000ll);

	if (rc == -ENOSYS)
		rc = shm_bell_sleep(&bells[1], seq[1], 5000000000ll);
	atomic_store(&woken, rc == 0 ? 1 : -1);
	return arg;
}

static bool
armed(void *arg)
{
	return shm_load_relaxed(&bells[1].sleeping) == 1;
}

static void
check_bells(void)
{
	struct hgca_bell b = { 0 };
	pthread_t t;
	uint64_t t0;
	uint32_t seq;
	bool rang_idle, rang;
	int rc;

	rang_idle = shm_bell_ring(&b);		/* nobody asleep: no syscall */
	seq = shm_bell_arm(&b);
	t0 = shm_now_ns();
	rc = shm_bell_sleep(&b, seq, 20000000);
	t0 = shm_now_ns() - t0;
	shm_bell_disarm(&b);
	ok(!rang_idle && rc == -ETIMEDOUT && t0 >= 15000000,
	   "idle ring makes no system call; a sleep times out (%d after %.1f ms)",
	   rc, t0 / 1e6);
	pthread_create(&t, NULL, sleeper, NULL);
	td_until(armed, NULL, 2000);
	rang = shm_bell_ring(&bells[1]);
	pthread_join(t, NULL);
	ok(rang && atomic_load(&woken) == 1 &&
	   shm_load_relaxed(&bells[1].sleeping) == 0,
	   "a sleeper on two bells wakes when the second rings");
}

static void
check_spin(void)
{
	struct shm_spin s;
	uint64_t cap = 50000, full, after_long, after_short;

	shm_spin_init(&s, cap);
	full = shm_spin_limit(&s);
	for (int i = 0; i < 40; i++)
		shm_spin_learn(&s, 1000 * cap);	/* an idle peer */
	after_long = shm_spin_limit(&s);
	for (int i = 0; i < 40; i++)
		shm_spin_learn(&s, cap / 50);
	after_short = shm_spin_limit(&s);
	ok(full == cap && after_long < cap && after_short == cap,
	   "adaptive spin: %llu, after long waits %llu, after short %llu",
	   (unsigned long long)full, (unsigned long long)after_long,
	   (unsigned long long)after_short);
	ok(shm_spin_scale(cap, 2, 2) == cap && shm_spin_scale(cap, 3, 2) < cap &&
	   shm_spin_scale(cap, 8, 2) < shm_spin_scale(cap, 3, 2),
	   "the budget shrinks when runnable threads outnumber cores");
}

static bool
disjoint(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a + alen <= b || b + blen <= a;
}

static void
check_layout(struct rng *g)
{
	int bad = 0, rejected = 0;
	struct shm_layout lo;

	for (int i = 0; i < 200; i++) {
		uint32_t e = 8u << rng_below(g, 14);
		uint64_t size = (1u << 20) + rng_below(g, 1ull << 28);
		uint64_t sq = (uint64_t)e * sizeof(struct hgca_sqe);
		uint64_t cq = (uint64_t)e * sizeof(struct hgca_cqent);
		uint64_t cqv = (uint64_t)e * sizeof(struct hgca_cqval);

		if (shm_layout_compute(&lo, size, e) < 0)
			continue;
		bad += lo.size < size || lo.stage_off + lo.stage_size != lo.size ||
		       lo.sq_off % 4096 || lo.cq_off % 4096 ||
		       lo.stage_off % 65536 || lo.sq_ctl_off % 128 ||
		       !disjoint(lo.sq_off, sq, lo.cq_off, cq) ||
		       lo.cqv_off % 64 ||
		       !disjoint(lo.cq_off, cq, lo.cqv_off, cqv) ||
		       !disjoint(lo.cqv_off, cqv, lo.stage_off, lo.stage_size) ||
		       !disjoint(lo.sq_ctl_off, sizeof(struct hgca_ring_ctl),
				 lo.cq_ctl_off, sizeof(struct hgca_ring_ctl));
	}
	rejected += shm_layout_compute(&lo, 1 << 24, 1000) == -EINVAL;
	rejected += shm_layout_compute(&lo, 1 << 24, 4) == -EINVAL;
	rejected += shm_layout_compute(&lo, 1 << 24, 1 << 17) == -EINVAL;
	rejected += shm_layout_compute(&lo, 1 << 16, 64) == -EINVAL;
	ok(bad == 0 && rejected == 4,
	   "layouts: parts aligned and disjoint (%d bad), bad sizes refused "
	   "(%d of 4)", bad, rejected);
}

static void
check_framing(void)
{
	struct hgca_msg_hdr h;
	uint16_t type, ver;
	int good, other, magic, shortm, len;

	shm_msg_init(&h, HGCA_MSG_STATUS, sizeof(h));
	good = shm_msg_check(&h, sizeof(h), &type, &ver);
	h.version = HGCA_PROTO_VERSION + 1;
	other = shm_msg_check(&h, sizeof(h), &type, &ver);
	h.version = HGCA_PROTO_VERSION;
	len = shm_msg_check(&h, sizeof(h) - 1, &type, &ver);
	shortm = shm_msg_check(&h, 7, &type, &ver);
	h.magic ^= 1;
	magic = shm_msg_check(&h, sizeof(h), &type, &ver);
	ok(good == 0 && other == -EPROTONOSUPPORT && len == -EBADMSG &&
	   shortm == -EBADMSG && magic == -EBADMSG,
	   "message headers: other version %d, short %d/%d, bad magic %d",
	   other, len, shortm, magic);
}

int
main(void)
{
	struct rng g;

	td_watchdog(60);
	rng_seed(&g, ref64_seed());
	check_stream(&g, 8, UINT32_MAX - 100, 1000000, 8, false);
	check_stream(&g, 64, (uint32_t)rng_next(&g), 2000000, 17, false);
	check_stream(&g, 1024, UINT32_MAX - 5000, 1500000, 256, false);
	check_stream(&g, 16, UINT32_MAX - 300, 400000, 16, true);
	check_stream(&g, 1024, (uint32_t)rng_next(&g), 600000, 200, true);
	check_bad_indices(&g);
	check_published(&g);
	check_bells();
	check_spin();
	check_layout(&g);
	check_framing();
	return done_testing();
}
