/*
 * e2e_quota - per-uid quotas from hgcad.conf over the wire: KV bytes
 * (-ENOSPC), sequences (-EMFILE) and requests in flight (-EAGAIN), shared
 * by the uid's connections and given back when sequences close; SIGHUP
 * reloads them (and logs what only a restart changes); a bad file changes
 * nothing; SIGTERM drains attends in flight and exits 0.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/e2e_help.h"
#include "tests/ref64.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

static struct td d;
static struct rng rg;

/* f32, 2 KV heads of d 32, pages of 16: a K+V page pair is 4 KiB, 16
 * tokens take one per head, so 512 KiB of KV hold 1024 tokens. */
static const struct hgca_model shape = {
	.layers = 1, .hq = 4, .hkv = 2, .d = 32, .kv_dtype = HGCA_DTYPE_F32,
	.window = 32, .page = 16 };

static char conf1[256], conf2[256];

static bool
has_line(void *arg)
{
	return td_log_has(&d, arg);
}

/* Sequences: 3 per uid, across two connections. */
static void
seq_quota(struct hgca *h1, struct hgca *h2, struct e2e_model *m1,
	  struct e2e_model *m2)
{
	uint32_t s[4];
	int r[6];

	r[0] = hgca_seq_open(h1, m1->id, &s[0]);
	r[1] = hgca_seq_open(h1, m1->id, &s[1]);
	r[2] = hgca_seq_open(h2, m2->id, &s[2]);
	r[3] = hgca_seq_open(h2, m2->id, &s[3]);
	r[4] = hgca_seq_close(h1, s[1]);
	r[5] = hgca_seq_open(h2, m2->id, &s[3]);
	ok(!r[0] && !r[1] && !r[2] && r[3] == -EMFILE && !r[4] && !r[5],
	   "sequence quota 3 shared by two connections of the uid: the 4th "
	   "open gets %d (want %d); after a close it opens (%d)", r[3],
	   -EMFILE, r[5]);
	hgca_seq_close(h1, s[0]);
	hgca_seq_close(h2, s[2]);
	hgca_seq_close(h2, s[3]);
}

/* KV bytes: 512 KiB, all or nothing, back when closed. */
static void
kv_quota(struct hgca *h, struct e2e_model *m)
{
	struct e2e_seq a, b;
	uint64_t len = 0;
	int ra, rb, rc, rl, rd;

	e2e_open(h, m, &a);
	e2e_open(h, m, &b);
	ra = e2e_append(h, &a, 0, &rg, 1000, 1.0);	/* 126 pages */
	rb = e2e_append(h, &b, 0, &rg, 10, 1.0);	/* 2: all 128 */
	rc = e2e_append(h, &a, 0, &rg, 40, 1.0);	/* 4 more */
	rl = hgca_seq_length(h, a.id, 0, &len);
	ok(!ra && !rb && rc == -ENOSPC && !rl && len == 1000,
	   "KV quota 512 KiB: an append past it gets %d (want %d), the "
	   "sequence keeps its %llu tokens", rc, -ENOSPC,
	   (unsigned long long)len);
	rd = e2e_close(h, &b);
	rc = e2e_append(h, &a, 0, &rg, 24, 1.0);
	ok(!rd && rc == 0, "closing a sequence gives its pages back: the "
	   "append now fits (%d)", rc);
	e2e_close(h, &a);
}

/* In flight: 16 attends over 16K tokens (16 MiB) submitted at once.  The
 * daemon admits at most @limit at a time; more than that complete only when
 * admitted ones finish before the poller reaches the later entries, which a
 * loaded machine (make -j check) can cause by descheduling the poller.  So a
 * round with too few refusals is run again, up to 5 rounds: every round must
 * be correct (each attend completes correctly or gets -EAGAIN), and one of
 * them must show the quota refusing all but about @limit. */
static void
inflight_quota(struct hgca *h, struct e2e_model *m, int limit)
{
	struct e2e_ask a = { .pos = { -1 }, .L = 1, .out_dt = HGCA_DTYPE_F32 };
	struct hgca_completion c[16];
	struct e2e_req q[16];
	struct e2e_seq s, *ps = &s;
	struct e2e_result r;
	int got = 0, again = 0, good = 0, n, round = 0;
	bool correct = true;

	if (e2e_open(h, m, &s) < 0 || e2e_append(h, &s, 0, &rg, 16384, 1.0)) {
		ok(false, "in-flight quota: set-up");
		return;
	}
	do {
		got = again = good = 0;
		for (int i = 0; i < 16; i++) {
			e2e_req_make(&q[i], m, &ps, 1, &a, &rg);
			hgca_attend_prep(h, (uint64_t)i, &q[i].a);
		}
		hgca_submit(h);
		while (got < 16 && (n = hgca_wait(h, c, 1, 16, 20000)) > 0)
			for (int i = 0; i < n; i++, got++) {
				e2e_req_check(&q[c[i].tag], c[i].res, &r);
				again += c[i].res == -EAGAIN;
				good += c[i].res == 0 && e2e_pass(&r, &a);
			}
		correct = correct && got == 16 && good >= limit &&
			  again + good == 16;
		for (int i = 0; i < 16; i++)
			e2e_req_free(&q[i]);
	} while (correct && again < 16 - 2 * limit && ++round < 5);
	ok(correct && again >= 16 - 2 * limit,
	   "in-flight quota %d: of 16 attends submitted at once %d got %d, "
	   "%d completed correctly (round %d)", limit, again, -EAGAIN, good,
	   round + 1);
	e2e_close(h, &s);
}

/* SIGHUP with a new file: the new quotas apply to new allocations. */
static void
reload(struct hgca *h, struct e2e_model *m)
{
	uint32_t s[6];
	int opened = 0, r6;
	bool logged, fixed;

	e2e_rewrite_conf(&d, conf2);
	kill(d.pid, SIGHUP);
	logged = td_until(has_line, "SIGHUP: configuration reloaded", 5000);
	/* workers, and with them an automatic worker_nice */
	fixed = td_until(has_line, "SIGHUP: workers", 2000);
	for (int i = 0; i < 5; i++)
		opened += hgca_seq_open(h, m->id, &s[i]) == 0;
	r6 = hgca_seq_open(h, m->id, &s[5]);
	ok(logged && fixed && opened == 5 && r6 == -EMFILE,
	   "SIGHUP: sequence quota 3 -> 5 (5 open, the 6th gets %d), "
	   "reload logged %d, `workers' logged as needing a restart %d", r6,
	   logged, fixed);
	for (int i = 0; i < 5; i++)
		hgca_seq_close(h, s[i]);
}

static void
bad_reload(struct hgca *h, struct e2e_model *m)
{
	uint32_t s[6];
	int opened = 0;
	bool logged;

	e2e_rewrite_conf(&d, "quota_seqs = lots");
	kill(d.pid, SIGHUP);
	logged = td_until(has_line, "configuration not reloaded", 5000);
	for (int i = 0; i < 6; i++)
		opened += hgca_seq_open(h, m->id, &s[i]) == 0;
	ok(logged && opened == 5, "SIGHUP with a bad file: refused and "
	   "logged (%d), the quota stays 5 (%d opened)", logged, opened);
	for (int i = 0; i < opened; i++)
		hgca_seq_close(h, s[i]);
}

/* SIGTERM with attends in flight: they complete, then hgcad exits 0. */
static void
drain(struct hgca *h, struct e2e_model *m)
{
	struct e2e_ask a = { .pos = { -1 }, .L = 1, .out_dt = HGCA_DTYPE_F32 };
	struct hgca_completion c[2];
	struct e2e_req q[2];
	struct e2e_seq s, *ps = &s;
	struct e2e_result r;
	int got = 0, good = 0, n, rc;

	e2e_open(h, m, &s);
	e2e_append(h, &s, 0, &rg, 16384, 1.0);
	for (int i = 0; i < 2; i++) {
		e2e_req_make(&q[i], m, &ps, 1, &a, &rg);
		hgca_attend_prep(h, (uint64_t)i, &q[i].a);
	}
	hgca_submit(h);
	kill(d.pid, SIGTERM);
	while (got < 2 && (n = hgca_wait(h, c, 1, 2, 10000)) > 0)
		for (int i = 0; i < n; i++, got++) {
			e2e_req_check(&q[c[i].tag], c[i].res, &r);
			good += c[i].res == 0 && e2e_pass(&r, &a);
		}
	rc = td_stop(&d, 0);
	ok(good == 2 && rc == 0, "SIGTERM with 2 attends (the in-flight "
	   "quota) in flight: %d completed correctly, hgcad exits %d", good,
	   rc);
	for (int i = 0; i < 2; i++)
		e2e_req_free(&q[i]);
	rc = e2e_close(h, &s);	/* the daemon is gone: frees the mirrors */
	ok(rc == -ECONNRESET, "after it, the service's calls get %d (want %d)",
	   rc, -ECONNRESET);
	hgca_disconnect(h);
}

int
main(void)
{
	struct e2e_model m1 = { .m = shape }, m2 = { .m = shape };
	struct hgca *h1, *h2;
	uid_t me = getuid();

	rng_seed(&rg, ref64_seed());
	td_watchdog(60);
	/* Other uids get the roomy default; ours the tight line. */
	snprintf(conf1, sizeof(conf1), "workers = 2\nmemory_budget = 128M\n"
		 "quota_kv_bytes = 64M\nquota_uid = %u 512K 3 64\n", (unsigned)me);
	snprintf(conf2, sizeof(conf2), "workers = 1\nmemory_budget = 128M\n"
		 "quota_kv_bytes = 64M\nquota_uid = %u 32M 5 2\n", (unsigned)me);
	td_start_or_bail(&d, conf1, NULL);
	if (hgca_connect(d.sock, &h1) < 0 || hgca_connect(d.sock, &h2) < 0 ||
	    e2e_declare(h1, &m1) < 0 || e2e_declare(h2, &m2) < 0) {
		printf("Bail out! set-up\n");
		return 1;
	}
	seq_quota(h1, h2, &m1, &m2);
	kv_quota(h1, &m1);
	reload(h1, &m1);
	inflight_quota(h1, &m1, 2);
	bad_reload(h1, &m1);
	hgca_disconnect(h2);
	drain(h1, &m1);
	td_cleanup(&d);
	return done_testing();
}
