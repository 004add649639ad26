/*
 * transport_drain - SIGTERM: hgcad stops accepting, refuses new
 * submissions (-ESHUTDOWN), finishes the work in flight, then closes every
 * connection and exits 0; with work that outlasts drain_timeout it gives
 * up at the deadline and still exits 0.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/hgca.h"
#include "shm/spin.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

static struct td d;

struct stopper {
	int status;
	uint64_t elapsed_ns;
};

static void *
stop_daemon(void *arg)
{
	struct stopper *s = arg;
	uint64_t t0 = shm_now_ns();

	s->status = td_stop(&d, SIGTERM);
	s->elapsed_ns = shm_now_ns() - t0;
	return NULL;
}

static void
check_drain(void)
{
	struct hgca_nop slow = { .delay_us = 300000 };
	struct hgca_completion c[32];
	struct stopper s;
	struct stat st;
	struct timespec ts = { .tv_nsec = 50000000 };
	struct hgca *h, *late = NULL;
	int good = 0, got, sub, conn, after;
	pthread_t t;

	if (hgca_connect(d.sock, &h) < 0) {
		ok(false, "connect");
		return;
	}
	for (int i = 0; i < 20; i++) {
		slow.value = (uint64_t)i * 7;
		good += hgca_nop_submit(h, (uint64_t)i, &slow) == 0;
	}
	pthread_create(&t, NULL, stop_daemon, &s);
	nanosleep(&ts, NULL);
	sub = hgca_nop_submit(h, 100, NULL);
	conn = hgca_connect(d.sock, &late);
	got = hgca_wait(h, c, 20, 32, 5000);
	for (int i = 0; i < got; i++)
		good += c[i].res == 0 && c[i].value[0] == c[i].tag * 7;
	pthread_join(t, NULL);
	after = hgca_nop_prep(h, 1, NULL);
	ok(sub == -ESHUTDOWN && (conn == -ENOENT || conn == -ECONNREFUSED) &&
	   stat(d.sock, &st) < 0,
	   "while draining: submit %d, new connection %d, socket removed",
	   sub, conn);
	ok(got == 20 && good == 40,
	   "the 20 requests in flight at SIGTERM complete (%d, %d good)", got,
	   good - 20);
	ok(s.status == 0 && s.elapsed_ns >= 200000000ull &&
	   s.elapsed_ns < 3000000000ull && td_log_has(&d, "draining"),
	   "hgcad exits %d after %.0f ms, once they are done", s.status,
	   s.elapsed_ns / 1e6);
	ok(after == -ECONNRESET, "then the client's calls fail (%d)", after);
	hgca_disconnect(h);
}

static void
check_timeout(void)
{
	struct hgca_nop forever = { .delay_us = 8000000 };
	struct hgca_completion c;
	struct stopper s;
	struct hgca *h;
	int w;

	td_start_or_bail(&d, "drain_timeout = 1", NULL);
	if (hgca_connect(d.sock, &h) < 0) {
		ok(false, "connect");
		return;
	}
	hgca_nop_submit(h, 1, &forever);
	stop_daemon(&s);
	w = hgca_wait(h, &c, 1, 1, 5000);
	ok(s.status == 0 && s.elapsed_ns >= 900000000ull &&
	   s.elapsed_ns < 4000000000ull && w == -ECONNRESET &&
	   td_log_has(&d, "drain timeout"),
	   "work outlasting drain_timeout: exit %d after %.0f ms; the client "
	   "gets %d", s.status, s.elapsed_ns / 1e6, w);
	hgca_disconnect(h);
}

int
main(void)
{
	td_watchdog(60);
	td_start_or_bail(&d, "region_size = 4M", NULL);
	check_drain();
	td_cleanup(&d);
	check_timeout();
	td_cleanup(&d);
	return done_testing();
}
