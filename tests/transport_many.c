/*
 * transport_many - many clients at once: 32 threads with a handle each in
 * this process and 8 in a child, all streaming requests (with checksums of
 * their own staging data) together; the daemon lists all 40 with the
 * right pids; the 41st is refused (-EMFILE) while control connections are
 * not counted; everything is freed once they leave.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attn/rng.h"
#include "client/hgca.h"
#include "tests/ref64.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

#define HERE 32
#define THERE 8
#define REQUESTS 1500

static struct td d;
static _Atomic int go_home;
static _Atomic int done_here;
static uint64_t seed;

static long
stream(struct hgca *h, uint64_t id)
{
	struct hgca_completion c;
	unsigned char *stage;
	size_t size;
	struct rng g;
	long bad = 0;

	rng_seed(&g, seed + id);
	hgca_staging(h, (void **)&stage, &size);
	for (size_t i = 0; i < 4096; i++)
		stage[i] = (unsigned char)rng_next(&g);
	for (uint64_t i = 0; i < REQUESTS; i++) {
		struct hgca_nop n = { .value = id << 32 | i };

		if (i % 100 == 0) {
			n.off = rng_below(&g, 2048);
			n.len = 1 + rng_below(&g, 2048);
		}
		bad += hgca_nop_submit(h, i, &n) != 0 ||
		       hgca_wait(h, &c, 1, 1, 10000) != 1 || c.tag != i ||
		       c.value[0] != n.value ||
		       (n.len && c.value[1] != td_fnv1a(stage + n.off, n.len));
	}
	return bad;
}

static void *
thread_main(void *arg)
{
	struct hgca *h;
	long bad;

	if (hgca_connect(d.sock, &h) < 0)
		return (void *)1000L;
	bad = stream(h, (uintptr_t)arg);
	atomic_fetch_add(&done_here, 1);
	while (!atomic_load(&go_home))
		usleep(1000);
	hgca_disconnect(h);
	return (void *)bad;
}

/* The child: THERE threads; exits with their error count; leaves when
 * the parent closes the pipe. */
static int
child_main(int rfd)
{
	pthread_t t[THERE];
	char c;
	long bad = 0;

	for (long i = 0; i < THERE; i++)
		pthread_create(&t[i], NULL, thread_main, (void *)(HERE + i));
	while (read(rfd, &c, 1) > 0)
		;
	atomic_store(&go_home, 1);
	for (int i = 0; i < THERE; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += (long)r;
	}
	return bad > 100 ? 100 : (int)bad;
}

struct want {
	struct hgca *ctl;
	uint32_t clients, regions;
};

static bool
counts(void *arg)
{
	struct want *w = arg;
	struct hgca_status st;

	return atomic_load(&done_here) == HERE &&
	       hgca_admin_status(w->ctl, &st) == 0 &&
	       st.clients == w->clients && st.regions == w->regions;
}

static void
check_listing(struct hgca *ctl, pid_t child)
{
	static struct hgca_client_info v[64];
	unsigned total = 0;
	int n = hgca_admin_clients(ctl, v, 64, &total), mine = 0, theirs = 0;
	struct hgca *extra;
	int rc;

	for (int i = 0; i < n; i++) {
		mine += v[i].pid == getpid() && v[i].state == HGCA_CLIENT_ACTIVE;
		theirs += v[i].pid == child && v[i].state == HGCA_CLIENT_ACTIVE;
	}
	ok(n == HERE + THERE && total == HERE + THERE && mine == HERE &&
	   theirs == THERE, "the daemon lists %d clients: %d here, %d in the "
	   "child", n, mine, theirs);
	rc = hgca_connect(d.sock, &extra);
	ok(rc == -EMFILE, "one more than max_clients is refused: %d", rc);
	if (rc == 0)
		hgca_disconnect(extra);
}

int
main(void)
{
	struct hgca_connect_opts co = { .flags = HGCA_CONNECT_CONTROL };
	pthread_t t[HERE];
	struct hgca *ctl;
	struct want all, none;
	long bad = 0;
	int p[2], status;
	pid_t child;

	td_watchdog(120);
	seed = ref64_seed();
	td_start_or_bail(&d, "region_size = 1M\nring_entries = 16\n"
			 "max_clients = 40", NULL);
	hgca_connect_with(d.sock, &co, &ctl);
	if (pipe(p) < 0 || (child = fork()) < 0)
		return 1;
	if (child == 0) {
		close(p[1]);
		_exit(child_main(p[0]));
	}
	close(p[0]);
	for (long i = 0; i < HERE; i++)
		pthread_create(&t[i], NULL, thread_main, (void *)i);
	all = (struct want){ ctl, HERE + THERE, HERE + THERE };
	ok(td_until(counts, &all, 60000), "40 clients connected, streaming");
	check_listing(ctl, child);
	atomic_store(&go_home, 1);
	close(p[1]);
	for (int i = 0; i < HERE; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += (long)r;
	}
	waitpid(child, &status, 0);
	ok(bad == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "40 x %d requests, all right (%ld bad here, %d in the child)",
	   REQUESTS, bad, WEXITSTATUS(status));
	none = (struct want){ ctl, 0, 0 };
	ok(td_until(counts, &none, 5000), "all regions freed once they leave");
	hgca_disconnect(ctl);
	ok(td_stop(&d, SIGTERM) == 0, "hgcad exits 0");
	td_cleanup(&d);
	return done_testing();
}
