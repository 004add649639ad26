/*
 * transport_fdlimit - hgcad out of file descriptors.  With its limit on
 * open files lowered (prlimit) to what it holds with one client, a new
 * connection cannot be accepted: the client must get an error promptly, not
 * hang; the daemon must not spin on the failing accept (CPU time checked)
 * and must say so in its log, at most once a second; the first client keeps
 * being served; once the limit is raised again a new client connects, with
 * no restart.  With room for the accept but not for the hello, the client
 * gets an error too.  Both event back ends.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "client/hgca.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

static struct td d;

/* Open descriptors of @pid (count), and the lowest free number (*low). */
static int
open_fds(pid_t pid, int *low)
{
	char path[64], used[1024] = { 0 };
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.') {
			int fd = atoi(e->d_name);

			n++;
			if (fd >= 0 && fd < (int)sizeof(used))
				used[fd] = 1;
		}
	closedir(dir);
	if (low)
		for (*low = 0; *low < (int)sizeof(used) && used[*low]; (*low)++)
			;
	return n;
}

/* Open descriptors of @pid once two counts 100 ms apart agree (connections
 * being set up or torn down hold a few for a moment). */
static int
settled_fds(pid_t pid, int *low)
{
	int a = open_fds(pid, low), b;

	for (int i = 0; i < 30; i++, a = b) {
		usleep(100 * 1000);
		b = open_fds(pid, low);
		if (a == b)
			break;
	}
	return a;
}

struct fds_back {
	pid_t pid;
	int n;
};

static bool
fds_back(void *arg)
{
	struct fds_back *b = arg;

	return open_fds(b->pid, NULL) == b->n;
}

/* utime + stime of @pid in seconds, or -1. */
static double
cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int
set_nofile(pid_t pid, rlim_t soft)
{
	struct rlimit old, lim;

	if (prlimit(pid, RLIMIT_NOFILE, NULL, &old) < 0)
		return -errno;
	lim.rlim_cur = soft;
	lim.rlim_max = old.rlim_max;
	return prlimit(pid, RLIMIT_NOFILE, &lim, NULL) < 0 ? -errno : 0;
}

static bool
nop_ok(struct hgca *h, uint64_t v)
{
	struct hgca_nop n = { .value = v };
	struct hgca_completion c;

	return hgca_nop_submit(h, v, &n) == 0 && hgca_wait(h, &c, 1, 1, 5000) == 1 &&
	       c.tag == v && c.value[0] == v;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
run(const char *name, const char *conf)
{
	struct hgca *first = NULL, *h = NULL;
	struct fds_back back;
	int n0, low = 0, rc, refused = 0;
	double t, cpu0, cpu1;

	td_start_or_bail(&d, conf, NULL);
	back.pid = d.pid;
	back.n = n0 = settled_fds(d.pid, NULL);
	ok(hgca_connect(d.sock, &first) == 0 && nop_ok(first, 1),
	   "%s: a first client connects and is served", name);
	/* The limit applies to descriptor numbers: at the lowest free one,
	 * nothing more can be opened. */
	rc = settled_fds(d.pid, &low) > 0 ? set_nofile(d.pid, (rlim_t)low) : -1;
	ok(rc == 0, "%s: the daemon's limit lowered to %d, its lowest free descriptor",
	   name, low);

	t = now_s();
	rc = hgca_connect(d.sock, &h);
	t = now_s() - t;
	ok(rc < 0 && h == NULL && t < 5.0,
	   "%s: no descriptor left: connect fails at once (%d, %.2f s)", name, rc, t);
	cpu0 = cpu_seconds(d.pid);
	usleep(500 * 1000);
	cpu1 = cpu_seconds(d.pid);
	ok(cpu0 >= 0 && cpu1 - cpu0 < 0.2,
	   "%s: the daemon does not spin on the failing accept (%.2f s of CPU in 0.5 s)",
	   name, cpu1 - cpu0);
	for (int i = 0; i < 4; i++) {
		rc = hgca_connect(d.sock, &h);
		refused += rc < 0 && h == NULL;
		if (rc == 0)
			hgca_disconnect(h);
	}
	ok(refused == 4, "%s: each further connection is refused too (%d of 4)",
	   name, refused);
	ok(nop_ok(first, 2), "%s: the first client is still served", name);
	/* Refused at accept (epoll) or, where io_uring's accept still got a
	 * descriptor, at the hello: either way the log says so. */
	ok(td_log_has(&d, strerror(EMFILE)) && td_log_has(&d, "limit on open files"),
	   "%s: the log says why, and what to raise", name);

	rc = set_nofile(d.pid, (rlim_t)low + 64);
	ok(rc == 0 && hgca_connect(d.sock, &h) == 0 && nop_ok(h, 3),
	   "%s: with the limit raised a new client connects, no restart", name);
	if (h)
		hgca_disconnect(h);
	hgca_disconnect(first);
	ok(td_until(fds_back, &back, 3000),
	   "%s: every descriptor given back once the clients left (%d, %d at start)",
	   name, open_fds(d.pid, NULL), n0);
	ok(td_stop(&d, 0) == 0, "%s: SIGTERM: drained, exit status 0", name);
	td_cleanup(&d);
}

int
main(void)
{
	td_watchdog(60);
	run("default backend", NULL);
	run("epoll", "event_backend = epoll");
	done_testing();
}
