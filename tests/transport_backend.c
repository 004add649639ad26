/*
 * transport_backend - the control plane on each event loop back end:
 * epoll forced (config), io_uring forced (command line; skipped where the
 * kernel refuses io_uring), and auto (io_uring when it works).  Each runs
 * concurrent clients, connection churn and admin requests, and the status
 * says which back end is active.  Under a seccomp filter that refuses
 * io_uring (as container runtimes do), auto falls back to epoll and says
 * why, and a forced io_uring fails to start with a clear error.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "client/hgca.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

#define THREADS 6
#define ROUNDS 1500

static struct td d;

static void *
worker(void *arg)
{
	struct hgca_completion c;
	struct hgca *h;
	long bad = 0;

	if (hgca_connect(d.sock, &h) < 0)
		return (void *)1L;
	for (uint64_t i = 0; i < ROUNDS; i++) {
		struct hgca_nop n = { .value = i ^ (uintptr_t)arg };

		bad += hgca_nop_submit(h, i, &n) != 0 ||
		       hgca_wait(h, &c, 1, 1, 5000) != 1 || c.tag != i ||
		       c.value[0] != n.value;
	}
	hgca_disconnect(h);
	return (void *)bad;
}

/* Clients at once, plus 100 connections opened and closed meanwhile. */
static long
exercise(void)
{
	struct hgca_connect_opts co = { .flags = HGCA_CONNECT_CONTROL };
	pthread_t t[THREADS];
	long bad = 0;

	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < 100; i++) {
		struct hgca *h;
		struct hgca_status st;

		if (hgca_connect_with(d.sock, i % 2 ? &co : NULL, &h) < 0) {
			bad++;
			continue;
		}
		bad += hgca_admin_status(h, &st) != 0;
		hgca_disconnect(h);
	}
	for (int i = 0; i < THREADS; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += (long)r;
	}
	return bad;
}

static bool
ctl_says(const char *backend)
{
	struct hgca_connect_opts co = { .flags = HGCA_CONNECT_CONTROL };
	struct hgca_status st = { 0 };
	struct hgca *h;

	if (hgca_connect_with(d.sock, &co, &h) < 0)
		return false;
	hgca_admin_status(h, &st);
	hgca_disconnect(h);
	return strcmp(st.backend, backend) == 0;
}

/* Run the exercise on a daemon started with @conf/@args; false if the
 * daemon did not start (the reason is in its log). */
static bool
run_backend(const char *name, const char *conf, const char *const *args,
	    const char *expect)
{
	long bad;
	int rc = td_start(&d, conf, args);

	if (rc < 0)
		return false;
	bad = exercise();
	if (strcmp(expect, "epoll") == 0 && !strstr(name, "config"))
		bad += !td_log_has(&d, "io_uring unavailable");
	ok(bad == 0 && ctl_says(expect),
	   "%s: %d clients x %d requests, 100 connections, status says %s "
	   "(%ld bad)", name, THREADS, ROUNDS, expect, bad);
	rc = td_stop(&d, SIGTERM);
	ok(rc == 0, "%s: exits 0 (%d)", name, rc);
	td_cleanup(&d);
	return true;
}

int
main(void)
{
	static const char *const uring[] = { "-E", "io_uring", NULL };
	bool have_uring;

	td_watchdog(90);
	if (!run_backend("epoll (config)", "event_backend = epoll", NULL,
			 "epoll"))
		ok(false, "epoll daemon did not start");
	have_uring = run_backend("io_uring (-E)", NULL, uring, "io_uring");
	if (!have_uring) {
		ok(td_log_has(&d, "event loop"),
		   "io_uring refused by the kernel, and hgcad says why");
		ok(true, "io_uring # SKIP io_uring unavailable here");
		td_cleanup(&d);
	}
	run_backend("auto", "event_backend = auto", NULL,
		    have_uring ? "io_uring" : "epoll");
	td_deny_io_uring = true;
	run_backend("auto, io_uring denied", NULL, NULL, "epoll");
	ok(td_start(&d, NULL, uring) < 0 &&
	   td_log_has(&d, "io_uring_setup: Function not implemented"),
	   "io_uring forced but denied: hgcad refuses to start and says why");
	td_cleanup(&d);
	return done_testing();
}
