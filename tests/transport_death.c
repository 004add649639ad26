/*
 * transport_death - a client killed mid-stream: the daemon notices (hang-up
 * or pidfd), keeps its region until the work in flight drains, then frees
 * it, and serves others throughout.  The daemon killed: a waiting client
 * gets completions already posted, then -ECONNRESET promptly, never a hang
 * or SIGPIPE, on every later call.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/hgca.h"
#include "shm/spin.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

static struct td d;

/* The victim: slow requests in flight, fast ones streaming, forever. */
static int
victim(void)
{
	struct hgca_nop slow = { .delay_us = 400000 };
	struct hgca_completion c[64];
	struct hgca *h;

	if (hgca_connect(d.sock, &h) < 0)
		return 1;
	for (int i = 0; i < 16; i++)
		hgca_nop_submit(h, 1000 + i, &slow);
	for (uint64_t i = 0;; i++) {
		hgca_nop_submit(h, i, NULL);
		hgca_wait(h, c, 1, 64, 1000);
	}
}

struct status_want {
	struct hgca *ctl;
	uint32_t clients, regions;
	uint64_t requests;
};

static bool
status_is(void *arg)
{
	struct status_want *w = arg;
	struct hgca_status st;

	return hgca_admin_status(w->ctl, &st) == 0 &&
	       st.clients == w->clients && st.regions == w->regions &&
	       st.requests >= w->requests;
}

static void
check_client_killed(void)
{
	struct hgca_connect_opts co = { .flags = HGCA_CONNECT_CONTROL };
	struct status_want busy, draining, gone;
	struct hgca_completion c;
	struct hgca *ctl, *other;
	int status, rc;
	pid_t pid;

	hgca_connect_with(d.sock, &co, &ctl);
	hgca_connect(d.sock, &other);
	pid = fork();
	if (pid == 0)
		_exit(victim());
	busy = (struct status_want){ ctl, 2, 2, 5000 };
	draining = (struct status_want){ ctl, 1, 2, 0 };
	gone = (struct status_want){ ctl, 1, 1, 0 };
	ok(td_until(status_is, &busy, 5000), "the victim streams requests");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ok(td_until(status_is, &draining, 300),
	   "its connection is gone at once, its region stays while 16 slow "
	   "requests drain");
	ok(td_until(status_is, &gone, 3000),
	   "then the region is freed");
	rc = hgca_nop_submit(other, 7, NULL);
	ok(rc == 0 && hgca_wait(other, &c, 1, 1, 5000) == 1 && c.tag == 7,
	   "another client is served throughout");
	hgca_disconnect(other);
	hgca_disconnect(ctl);
}

static void *
killer(void *arg)
{
	struct timespec ts = { .tv_nsec = 100000000 };

	nanosleep(&ts, NULL);
	td_stop(&d, SIGKILL);
	return arg;
}

static void
check_daemon_killed(void)
{
	struct hgca_connect_opts co = { .flags = HGCA_CONNECT_CONTROL };
	struct hgca_nop slow = { .delay_us = 5000000 };
	struct hgca_completion c[8];
	struct hgca_status st;
	struct hgca *h, *ctl;
	uint64_t t0, waited;
	int early, late, sub, reap, adm, adm2;
	pthread_t t;

	if (hgca_connect(d.sock, &h) < 0 ||
	    hgca_connect_with(d.sock, &co, &ctl) < 0) {
		ok(false, "connect");
		return;
	}
	for (int i = 0; i < 3; i++)	/* completed, not yet reaped */
		hgca_nop_submit(h, i, NULL);
	hgca_nop_submit(h, 99, &slow);	/* never completes */
	t0 = shm_now_ns();
	pthread_create(&t, NULL, killer, NULL);
	early = hgca_wait(h, c, 4, 8, -1);	/* 3 arrived, 4 never */
	waited = shm_now_ns() - t0;
	late = hgca_wait(h, c, 1, 8, -1);
	pthread_join(t, NULL);
	sub = hgca_nop_submit(h, 100, NULL);
	reap = hgca_reap(h, c, 8);
	adm = hgca_admin_status(h, &st);
	adm2 = hgca_admin_status(ctl, &st);
	ok(early == -ECONNRESET && waited < 1000000000ull,
	   "a client waiting without a timeout returns %d %.0f ms after the "
	   "daemon was killed", early, (waited - 100000000ull) / 1e6);
	ok(late == 3 && c[0].tag == 0 && c[2].tag == 2,
	   "completions posted before the death are still reaped (%d)", late);
	ok(sub == -ECONNRESET && reap == -ECONNRESET && adm == -ECONNRESET &&
	   adm2 == -ECONNRESET,
	   "later calls fail, no SIGPIPE: submit %d, reap %d, status %d, "
	   "control-only status %d", sub, reap, adm, adm2);
	hgca_disconnect(h);
	hgca_disconnect(ctl);
}

int
main(void)
{
	td_watchdog(60);
	td_start_or_bail(&d, "region_size = 4M", NULL);
	check_client_killed();
	ok(td_log_has(&d, "exited") || td_log_has(&d, "disconnected"),
	   "the daemon logs the client's end");
	check_daemon_killed();
	td_cleanup(&d);
	return done_testing();
}
