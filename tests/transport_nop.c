/*
 * transport_nop - requests and completions through the daemon: echoed
 * values and tags, checksums of random staging data, batches, delayed
 * (asynchronous) completions out of order, error completions, the in-flight
 * limit (for single requests and within one batch), waits that time out,
 * a request whose tail is left behind after a batch, and millions of
 * requests across the ring index wrap.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "attn/rng.h"
#include "client/client_pvt.h"
#include "client/hgca.h"
#include "shm/bell.h"
#include "shm/proto.h"
#include "shm/spin.h"
#include "tests/ref64.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

static struct td d;
static struct hgca *h;

/*
 * After a batch the poller looks at the published tail before the stamps;
 * a request stamped whose tail never moves (a client killed between the
 * two, or a broken one) must still be answered once the poller would
 * sleep, and must not keep it spinning.
 */
static void
check_tail_left_behind(void)
{
	struct hgca_completion c[16];
	int got = 0, n, rc;

	for (int i = 0; i < 8; i++)
		hgca_nop_prep(h, 500 + i, NULL);
	rc = hgca_submit(h);
	while (rc >= 0 && got < 8 && (n = hgca_wait(h, c, 1, 16, 5000)) > 0)
		got += n;
	rc = hgca_nop_prep(h, 600, NULL);
	if (rc == 0) {		/* stamped and rung, the tail left behind */
		shm_ring_stamp_n(&h->sq, 1);
		h->prepared = 0;
		h->inflight++;
		shm_bell_ring(&h->sq.ctl->bell);
	}
	n = hgca_wait(h, c, 1, 1, 5000);
	ok(got == 8 && rc == 0 && n == 1 && c[0].tag == 600 && c[0].res == 0,
	   "a request whose tail is left behind after a batch is answered "
	   "(batch %d of 8, prep %d, wait %d)", got, rc, n);
	shm_ring_publish_tail(&h->sq);	/* as a correct client would */
}

static void
check_echo(struct rng *g)
{
	struct hgca_completion c;
	int bad = 0, rc = 0;

	/* Every third value zero: a completion then carries no values, and
	 * its slot's values from a lap before must not show through. */
	for (int i = 0; i < 2000 && rc >= 0; i++) {
		struct hgca_nop n = { .value = i % 3 ? rng_next(g) : 0 };
		uint64_t tag = rng_next(g);

		rc = hgca_nop_submit(h, tag, &n);
		if (rc == 0)
			rc = hgca_wait(h, &c, 1, 1, 5000);
		bad += rc != 1 || c.tag != tag || c.res != 0 ||
		       c.value[0] != n.value || c.value[1] != 0;
	}
	ok(bad == 0, "2000 round trips echo random tags and values, zero or not "
	   "(%d bad)",
	   bad);
}

static void
check_checksums(struct rng *g)
{
	struct hgca_completion c;
	unsigned char *stage;
	size_t size;
	int bad = 0, rc;

	hgca_staging(h, (void **)&stage, &size);
	for (size_t i = 0; i < size; i += 8) {
		uint64_t x = rng_next(g);

		memcpy(stage + i, &x, size - i < 8 ? size - i : 8);
	}
	for (int i = 0; i < 300; i++) {
		uint64_t len = 1 + rng_below(g, 65536);
		uint64_t off = i == 0 ? size - len : rng_below(g, size - len + 1);
		struct hgca_nop n = { .value = (uint64_t)i, .off = off,
				      .len = len };

		rc = hgca_nop_submit(h, (uint64_t)i, &n);
		if (rc == 0)
			rc = hgca_wait(h, &c, 1, 1, 5000);
		bad += rc != 1 || c.res != 0 ||
		       c.value[1] != td_fnv1a(stage + off, len);
	}
	ok(bad == 0, "300 checksums of random staging data, the arena's last "
	   "byte included, match (%d bad)", bad);
}

static void
check_batches(struct rng *g)
{
	struct hgca_completion c[64];
	int bad = 0;

	for (int b = 0; b < 200; b++) {
		unsigned n = 1 + (unsigned)rng_below(g, 64), seen = 0;
		uint64_t base = rng_next(g) & ~0xffull;
		int sub, got;

		for (unsigned i = 0; i < n; i++)
			bad += hgca_nop_prep(h, base + i, NULL) != 0;
		sub = hgca_submit(h);
		got = hgca_wait(h, c, n, 64, 5000);
		for (int i = 0; i < got; i++)
			seen += c[i].tag == base + (uint64_t)i;
		bad += sub != (int)n || got != (int)n || seen != n;
	}
	ok(bad == 0, "200 batches of 1..64 published at once, reaped at once, "
	   "in order (%d bad)", bad);
}

static void
check_delayed(void)
{
	static const uint32_t delay[] = { 60000, 2000, 30000 };
	struct hgca_completion c[4];
	int got[4], n = 0;
	uint64_t t0 = shm_now_ns(), first;

	for (int i = 0; i < 3; i++) {
		struct hgca_nop nop = { .value = i, .delay_us = delay[i] };

		hgca_nop_prep(h, 100 + i, &nop);
	}
	hgca_nop_prep(h, 200, NULL);		/* immediate, after them */
	hgca_submit(h);
	for (int i = 0; i < 4; i++) {
		n += hgca_wait(h, &c[i], 1, 1, 5000) == 1;
		got[i] = (int)c[i].tag;
		if (i == 0)
			first = shm_now_ns() - t0;
	}
	ok(n == 4 && got[0] == 200 && got[1] == 101 && got[2] == 102 &&
	   got[3] == 100 && first < 30000000ull && c[3].value[0] == 0 &&
	   shm_now_ns() - t0 >= 60000000ull,
	   "delayed completions arrive by deadline, not submission order: "
	   "%d %d %d %d; the immediate one after %.1f ms", got[0], got[1],
	   got[2], got[3], first / 1e6);
}

static void
check_errors(void)
{
	struct hgca_nop slow = { .delay_us = HGCA_NOP_DELAY_MAX_US + 1 };
	struct hgca_nop later = { .delay_us = 300000 };
	struct hgca_nop outside = { .off = 1, .len = 1ull << 40 };
	struct hgca_completion c = { 0 }, c2 = { 0 };
	int r1, r2, r3, r4, r5, r6, r7, r8;
	uint64_t t0;

	r1 = hgca_nop_submit(h, 7, &slow);
	r2 = hgca_wait(h, &c, 1, 1, 5000);
	r3 = hgca_nop_prep(h, 8, &outside);
	r4 = hgca_wait(h, &c2, 1, 1, 10);	/* nothing in flight */
	hgca_nop_submit(h, 9, &later);
	t0 = shm_now_ns();
	r8 = hgca_wait(h, &c2, 1, 1, 0);
	t0 = shm_now_ns() - t0;
	r5 = hgca_wait(h, &c2, 1, 1, 20);
	r6 = hgca_wait(h, &c2, 2, 1, 20);
	r7 = hgca_wait(h, &c2, 1, 1, 5000);
	ok(r1 == 0 && r2 == 1 && c.tag == 7 && c.res == -EINVAL,
	   "a delay above the limit gets an error completion (%d)", c.res);
	ok(r3 == -EINVAL && r4 == -EINVAL && r5 == -ETIMEDOUT &&
	   r8 == -ETIMEDOUT && t0 < 1000000 && r6 == -EINVAL && r7 == 1 &&
	   c2.tag == 9 && c2.res == 0,
	   "a buffer outside the arena %d, waiting for more than in flight "
	   "%d, a timeout %d, a zero timeout %d after %.0f us, min > max %d; "
	   "then the slow one arrives (%d)", r3, r4, r5, r8, t0 / 1e3, r6, r7);
}

/* A second handle, with a 64-entry ring; NULL (a failed test) if none. */
static struct hgca *
small_handle(void)
{
	struct hgca_connect_opts o = { .entries = 64, .region_size = 2 << 20 };
	struct hgca *s;

	if (hgca_connect_with(d.sock, &o, &s) < 0) {
		ok(false, "second handle");
		return NULL;
	}
	return s;
}

static void
check_inflight_limit(void)
{
	struct hgca_nop slow = { .delay_us = 20000 };
	struct hgca_completion c[64];
	struct hgca *s = small_handle();
	int full = 0, rc, got, again;

	if (!s)
		return;
	for (int i = 0; i < 64; i++)
		full += hgca_nop_submit(s, i, &slow) == 0;
	rc = hgca_nop_submit(s, 64, NULL);
	got = hgca_wait(s, c, 64, 64, 5000);
	again = hgca_nop_submit(s, 65, NULL);
	ok(full == 64 && rc == -EAGAIN && got == 64 && again == 0,
	   "64 in flight fill a 64-entry ring: the next gets %d; after "
	   "reaping %d, submitting works again (%d)", rc, got, again);
	hgca_disconnect(s);
}

/*
 * One batch, unpublished, larger than what the ring has room for: preps
 * stop with -EAGAIN where the requests in flight leave no room, go on
 * once they are reaped, stop again at the ring's size, and the whole
 * batch then completes in order.
 */
static void
check_batch_room(void)
{
	struct hgca_nop slow = { .delay_us = 20000 };
	struct hgca_completion c[64];
	struct hgca *s = small_handle();
	int n1 = 0, n2 = 0, e1, e2, got, sub, got2, order = 0;

	if (!s)
		return;
	for (int i = 0; i < 40; i++)
		hgca_nop_submit(s, i, &slow);
	while (n1 < 100 && hgca_nop_prep(s, 100 + (uint64_t)n1, NULL) == 0)
		n1++;
	e1 = hgca_nop_prep(s, 999, NULL);
	got = hgca_wait(s, c, 40, 64, 5000);
	while (n2 < 100 &&
	       hgca_nop_prep(s, 100 + (uint64_t)(n1 + n2), NULL) == 0)
		n2++;
	e2 = hgca_nop_prep(s, 999, NULL);
	sub = hgca_submit(s);
	got2 = hgca_wait(s, c, 64, 64, 5000);
	for (int i = 0; i < got2; i++)
		order += c[i].tag == 100 + (uint64_t)i && c[i].res == 0;
	ok(n1 == 24 && e1 == -EAGAIN && got == 40 && n2 == 40 &&
	   e2 == -EAGAIN && sub == 64 && got2 == 64 && order == 64,
	   "a batch beside 40 in flight takes %d, then %d; after reaping %d "
	   "it takes %d more, then %d; %d published, %d reaped, %d in order",
	   n1, e1, got, n2, e2, sub, got2, order);
	hgca_disconnect(s);
}

static void
check_millions(void)
{
	const uint64_t total = 2000000;
	struct hgca_completion c[256];
	struct hgca_status st0, st1;
	uint64_t sent = 0, done = 0, bad = 0;
	int n = 0;

	hgca_wait(h, c, 0, 256, 0);	/* drain leftovers */
	hgca_admin_status(h, &st0);
	while (done < total && n >= 0) {
		while (sent < total && sent - done < 512 &&
		       hgca_nop_prep(h, sent, NULL) == 0)
			sent++;
		hgca_submit(h);
		n = hgca_wait(h, c, 1, 256, 5000);
		for (int i = 0; i < n; i++)
			bad += c[i].tag != done + (uint64_t)i || c[i].res != 0;
		done += n > 0 ? (uint64_t)n : 0;
	}
	hgca_admin_status(h, &st1);
	ok(done == total && bad == 0 && st1.requests - st0.requests >= total,
	   "%llu requests in order across the index wrap (%llu bad, %d); "
	   "the daemon counted %llu", (unsigned long long)done,
	   (unsigned long long)bad, n,
	   (unsigned long long)(st1.requests - st0.requests));
}

int
main(void)
{
	struct rng g;
	int rc;

	td_watchdog(120);
	rng_seed(&g, ref64_seed());
	td_start_or_bail(&d, "region_size = 8M", NULL);
	rc = hgca_connect(d.sock, &h);
	if (!ok(rc == 0, "connect: %d", rc))
		goto out;
	check_echo(&g);
	check_checksums(&g);
	check_batches(&g);
	check_delayed();
	check_errors();
	check_inflight_limit();
	check_batch_room();
	check_tail_left_behind();
	check_millions();
	hgca_disconnect(h);
out:
	rc = td_stop(&d, SIGTERM);
	ok(rc == 0, "hgcad exits 0 (%d)", rc);
	td_cleanup(&d);
	return done_testing();
}
