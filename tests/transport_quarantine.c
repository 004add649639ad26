/*
 * transport_quarantine - a client that breaks the protocol (ring indices
 * out of range, offsets outside its region, unknown opcodes, contradictory
 * or reserved fields) is quarantined: -EPROTO on every later call, its
 * region freed, the reason logged; a second client running all along
 * never notices.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "client/client_pvt.h"
#include "shm/bell.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

static struct td d;

/* ---- the well-behaved neighbour ---- */

static _Atomic int stop;
static _Atomic long good_done, good_bad;

static void *
neighbour(void *arg)
{
	struct hgca_completion c;
	struct hgca *h;
	uint64_t i = 0;

	if (hgca_connect(d.sock, &h) < 0) {
		atomic_fetch_add(&good_bad, 1);
		return arg;
	}
	while (!atomic_load(&stop)) {
		struct hgca_nop n = { .value = i };

		if (hgca_nop_submit(h, i, &n) < 0 ||
		    hgca_wait(h, &c, 1, 1, 5000) != 1 || c.tag != i ||
		    c.value[0] != i)
			atomic_fetch_add(&good_bad, 1);
		else
			atomic_fetch_add(&good_done, 1);
		i++;
	}
	hgca_disconnect(h);
	return arg;
}

/* ---- the broken client's misdeeds ---- */

/* Publish one raw descriptor, as a broken library would. */
static void
raw_submit(struct hgca *h, const struct hgca_sqe *sqe)
{
	shm_ring_fill(&h->sq, 0, sqe);
	shm_ring_publish(&h->sq, 1);
	h->inflight++;
	shm_bell_ring(&h->sq.ctl->bell);
}

static void
tail_past_capacity(struct hgca *h)
{
	shm_store_release(&h->sq.ctl->tail, h->sq.tail + h->lo.entries + 1);
	h->inflight++;
	shm_bell_ring(&h->sq.ctl->bell);
}

static void
tail_backwards(struct hgca *h)
{
	shm_store_release(&h->sq.ctl->tail, h->sq.tail - 1);
	h->inflight++;
	shm_bell_ring(&h->sq.ctl->bell);
}

/* The daemon reads the completion head only when its cached view runs
 * out of room: fill most of the ring first, then lie. */
static void
cq_head_past_tail(struct hgca *h)
{
	struct hgca_completion c[64];

	for (uint32_t i = 0; i < h->lo.entries - 4; i++) {
		hgca_nop_submit(h, i, NULL);
		hgca_wait(h, c, 1, 64, 5000);
	}
	shm_store_release(&h->cq.ctl->head, h->cq.head + 5);	/* past the tail */
	for (int i = 0; i < 8; i++)
		hgca_nop_prep(h, 1000 + i, NULL);
	hgca_submit(h);
}

/* Fill the completion ring without reaping, then submit past the
 * library's in-flight limit. */
static void
overfill(struct hgca *h)
{
	struct hgca_sqe s;

	for (uint32_t i = 0; i < h->lo.entries; i++)
		hgca_nop_prep(h, i, NULL);
	hgca_submit(h);
	while (shm_ring_ready(&h->cq, h->lo.entries) < h->lo.entries)
		usleep(100);
	memset((char *)&s + 4, 0, sizeof(s) - 4);
	s.opcode = HGCA_OP_NOP;
	raw_submit(h, &s);
	/* Reaping now would make room: wait for the daemon's verdict. */
	for (int i = 0; i < 30000 && shm_load_acquire(&h->hdr->state) ==
	     HGCA_REGION_ACTIVE; i++)
		usleep(100);
}

static void
sqe_of(struct hgca *h, struct hgca_sqe *s, int kind)
{
	memset((char *)s + 4, 0, sizeof(*s) - 4);	/* not the stamp */
	s->opcode = HGCA_OP_NOP;
	s->tag = 42;
	switch (kind) {
	case 0: s->opcode = 99; break;			/* unknown opcode */
	case 1: s->opcode = 0; break;			/* zeroed */
	case 2: s->flags = HGCA_NOP_F_SUM;		/* past the arena */
		s->u.nop.off = h->lo.stage_size; s->u.nop.len = 16; break;
	case 3: s->flags = HGCA_NOP_F_SUM;		/* wraps around */
		s->u.nop.off = UINT64_MAX - 7; s->u.nop.len = 16; break;
	case 4: s->rsvd0 = 1; break;			/* reserved field */
	case 5: s->flags = 0x80; break;			/* unknown flag */
	case 6: s->u.nop.len = 16; break;		/* buffer, no flag */
	case 7: s->u.nop.rsvd[1] = 3; break;		/* NOP reserved */
	case 8: s->rsvd1 = 1; break;			/* above the tag */
	case 9: s->tag |= HGCA_TAG_VAL; break;		/* the tag's top bit */
	}
}

static void bad_opcode(struct hgca *h) { struct hgca_sqe s; sqe_of(h, &s, 0); raw_submit(h, &s); }
static void zeroed(struct hgca *h) { struct hgca_sqe s; sqe_of(h, &s, 1); raw_submit(h, &s); }
static void off_past(struct hgca *h) { struct hgca_sqe s; sqe_of(h, &s, 2); raw_submit(h, &s); }
static void off_wrap(struct hgca *h) { struct hgca_sqe s; sqe_of(h, &s, 3); raw_submit(h, &s); }
static void rsvd_hdr(struct hgca *h) { struct hgca_sqe s; sqe_of(h, &s, 4); raw_submit(h, &s); }
static void bad_flag(struct hgca *h) { struct hgca_sqe s; sqe_of(h, &s, 5); raw_submit(h, &s); }
static void no_flag(struct hgca *h) { struct hgca_sqe s; sqe_of(h, &s, 6); raw_submit(h, &s); }
static void rsvd_nop(struct hgca *h) { struct hgca_sqe s; sqe_of(h, &s, 7); raw_submit(h, &s); }
static void rsvd_tag(struct hgca *h) { struct hgca_sqe s; sqe_of(h, &s, 8); raw_submit(h, &s); }
static void tag_bit(struct hgca *h) { struct hgca_sqe s; sqe_of(h, &s, 9); raw_submit(h, &s); }

static const struct misdeed {
	const char *name;
	void (*act)(struct hgca *h);
	const char *logged;
} misdeeds[] = {
	{ "submission tail past capacity", tail_past_capacity,
	  "submission tail moved backwards or past" },
	{ "submission tail backwards", tail_backwards,
	  "submission tail moved backwards or past" },
	{ "completion head past the tail", cq_head_past_tail,
	  "completion head moved backwards or past the tail" },
	{ "more in flight than completions fit", overfill,
	  "more requests in flight than the completion ring holds" },
	{ "unknown opcode", bad_opcode, "unknown opcode" },
	{ "zeroed descriptor", zeroed, "unknown opcode" },
	{ "offset past the staging arena", off_past,
	  "NOP buffer outside the staging arena" },
	{ "offset + length wrapping around", off_wrap,
	  "NOP buffer outside the staging arena" },
	{ "reserved descriptor field", rsvd_hdr, "reserved descriptor fields" },
	{ "reserved word above the tag", rsvd_tag,
	  "reserved descriptor fields" },
	{ "the tag's reserved top bit", tag_bit, "reserved descriptor fields" },
	{ "unknown flag", bad_flag, "unknown flags for the opcode" },
	{ "buffer without its flag", no_flag, "NOP fields contradict" },
	{ "reserved NOP field", rsvd_nop, "NOP fields contradict" },
};

static bool
has_line(void *arg)
{
	return td_log_has(&d, arg);
}

static bool
neighbour_moved(void *arg)
{
	return atomic_load(&good_done) > *(long *)arg;
}

static bool
freed(void *arg)
{
	struct hgca *ctl = arg;
	struct hgca_status st;

	return hgca_admin_status(ctl, &st) == 0 && st.clients == 1;
}

static void
check_misdeed(const struct misdeed *m, struct hgca *ctl, uint64_t *count,
	      int *served)
{
	struct hgca_connect_opts o = { .entries = 64, .region_size = 2 << 20 };
	struct hgca_completion c[8];
	struct hgca_status st = { 0 };
	struct hgca_info in;
	struct hgca *h;
	char logged[256];
	bool logged_ok, freed_ok;
	long before;
	int w, s, r, a, sr;

	if (hgca_connect_with(d.sock, &o, &h) < 0) {
		ok(false, "%s: connect", m->name);
		return;
	}
	hgca_info(h, &in);
	snprintf(logged, sizeof(logged), "client %u (pid %d, uid %u) "
		 "quarantined: %s", in.client_id, (int)getpid(),
		 (unsigned)getuid(), m->logged);
	m->act(h);
	w = hgca_wait(h, c, 1, 8, 3000);
	while (w > 0)		/* completions posted before the misdeed */
		w = hgca_wait(h, c, 1, 8, 3000);
	s = hgca_nop_submit(h, 1, NULL);
	r = hgca_reap(h, c, 8);
	a = hgca_admin_status(h, &st);
	hgca_disconnect(h);
	logged_ok = td_until(has_line, logged, 3000);	/* logged after */
	freed_ok = td_until(freed, ctl, 5000);
	++*count;
	before = atomic_load(&good_done);
	*served += td_until(neighbour_moved, &before, 5000);
	sr = hgca_admin_status(ctl, &st);
	ok(w == -EPROTO && s == -EPROTO && r == -EPROTO && a == -EPROTO &&
	   logged_ok && freed_ok && sr == 0 && st.quarantined == *count,
	   "%s: quarantined (wait %d, submit %d, reap %d, status %d), "
	   "logged %d, region freed %d, %llu so far (status %d)", m->name, w,
	   s, r, a, logged_ok, freed_ok, (unsigned long long)st.quarantined,
	   sr);
}

int
main(void)
{
	struct hgca_connect_opts co = { .flags = HGCA_CONNECT_CONTROL };
	struct hgca *ctl;
	uint64_t count = 0;
	int served = 0;
	pthread_t t;
	int rc;

	td_watchdog(90);
	td_start_or_bail(&d, "region_size = 2M", NULL);
	if (hgca_connect_with(d.sock, &co, &ctl) < 0) {
		printf("Bail out! control connection\n");
		return 1;
	}
	pthread_create(&t, NULL, neighbour, NULL);
	for (size_t i = 0; i < sizeof(misdeeds) / sizeof(misdeeds[0]); i++)
		check_misdeed(&misdeeds[i], ctl, &count, &served);
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	ok(atomic_load(&good_bad) == 0 &&
	   served == sizeof(misdeeds) / sizeof(misdeeds[0]),
	   "the neighbour never noticed: served after each of %d "
	   "quarantines, %ld requests, %ld errors", served,
	   atomic_load(&good_done), atomic_load(&good_bad));
	hgca_disconnect(ctl);
	rc = td_stop(&d, SIGTERM);
	ok(rc == 0, "hgcad exits 0 (%d)", rc);
	td_cleanup(&d);
	return done_testing();
}
