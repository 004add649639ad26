/*
 * bench/ring - the transport's cost, against its physical limit, in one
 * run: NOP round trips and batched NOP throughput through a real hgcad
 * (started here on a private socket, pinned to its own core), a raw
 * cache-line ping-pong between the same two cores, a Unix-socket
 * request/response, a single-producer/single-consumer ring between two
 * threads of one process, and the system calls both processes make per
 * request in steady state, counted from outside (perf, else strace).
 *
 * usage: bench/ring [--quick] [--rounds N] [--cpus A,B] [--hgcad PATH]
 * The client runs on CPU A, hgcad (and the baselines' other side) on B.
 * The two throughputs are measured in N alternating rounds (3 with
 * --quick, else 5) and the best of each is compared: both get the same
 * chances on a noisy machine, and the baseline is never a slow outlier.
 * Prints a table, then `result NAME VALUE` lines (DESIGN.md section 9).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench/common.h"
#include "client/hgca.h"
#include "shm/ring.h"

#define BATCH 32
#define DEPTH 512	/* requests in flight in the throughput runs */

struct opts {
	bool quick;
	int rounds;		/* throughput rounds; 0: the default */
	int cpu_a, cpu_b;
	char hgcad[PATH_MAX];
};

struct lat {
	double p50, p99, mean;	/* ns */
};

static double ns_per_tick;

/* ---- timing ---- */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
ticks(void)
{
	_mm_lfence();
	return __rdtsc();
}

static void
calibrate(void)
{
	uint64_t t0 = now_ns(), c0 = ticks(), t1, c1;

	do
		t1 = now_ns();
	while (t1 - t0 < 50000000);
	c1 = ticks();
	ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static struct lat
summarize(uint32_t *s, size_t n)
{
	struct lat l;
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += s[i];
	qsort(s, n, sizeof(*s), cmp_u32);
	l.p50 = s[n / 2] * ns_per_tick;
	l.p99 = s[n * 99 / 100] * ns_per_tick;
	l.mean = sum / (double)n * ns_per_tick;
	return l;
}

/* ---- raw cache-line ping-pong between two threads ---- */

static struct {
	alignas(64) _Atomic uint64_t line;
	size_t n;
	int cpu;
} pp;

static void *
pong(void *arg)
{
	bench_pin(pp.cpu);
	for (uint64_t i = 0; i < pp.n; i++) {
		/* Acquire/release: the other side's store is all we wait for. */
		while (atomic_load_explicit(&pp.line, memory_order_acquire) !=
		       2 * i + 1)
			;
		atomic_store_explicit(&pp.line, 2 * i + 2, memory_order_release);
	}
	return arg;
}

static struct lat
pingpong(const struct opts *o, size_t n)
{
	uint32_t *s = malloc(n * sizeof(*s));
	pthread_t t;
	struct lat l;

	atomic_store(&pp.line, 0);
	pp.n = n;
	pp.cpu = o->cpu_b;
	pthread_create(&t, NULL, pong, NULL);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = ticks();

		atomic_store_explicit(&pp.line, 2 * i + 1, memory_order_release);
		while (atomic_load_explicit(&pp.line, memory_order_acquire) !=
		       2 * i + 2)
			;
		s[i] = (uint32_t)(ticks() - t0);
	}
	pthread_join(t, NULL);
	l = summarize(s, n);
	free(s);
	return l;
}

/* ---- Unix-socket request/response with a process on the other core ---- */

static struct lat
unix_rtt(const struct opts *o, size_t n)
{
	uint32_t *s = malloc(n * sizeof(*s));
	char msg[64] = "request";
	struct lat l;
	int sv[2];
	pid_t pid;

	socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
	pid = fork();
	if (pid == 0) {
		bench_pin(o->cpu_b);
		close(sv[0]);
		while (recv(sv[1], msg, sizeof(msg), 0) > 0)
			send(sv[1], msg, sizeof(msg), MSG_NOSIGNAL);
		_exit(0);
	}
	close(sv[1]);
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = ticks();

		send(sv[0], msg, sizeof(msg), MSG_NOSIGNAL);
		recv(sv[0], msg, sizeof(msg), 0);
		s[i] = (uint32_t)(ticks() - t0);
	}
	close(sv[0]);
	waitpid(pid, NULL, 0);
	l = summarize(s, n);
	free(s);
	return l;
}

/* ---- SPSC ring between two threads of this process ---- */

static struct {
	struct hgca_ring_ctl *ctl;
	unsigned char *ents;
	uint64_t total;
	int cpu;
	_Atomic uint64_t sink;
} ip;

static void *
inproc_consumer(void *arg)
{
	struct shm_ring r;
	struct hgca_sqe copy;
	uint64_t done = 0, sum = 0;
	uint32_t n;

	bench_pin(ip.cpu);
	shm_ring_attach(&r, ip.ctl, ip.ents, 1024, sizeof(struct hgca_sqe));
	while (done < ip.total) {
		n = shm_ring_ready(&r, BATCH);
		if (n == 0)
			continue;
		for (uint32_t i = 0; i < n; i++) {	/* as the daemon does */
			memcpy(&copy, SHM_RING_ENTRY(&r, const struct hgca_sqe,
						     r.head + i), sizeof(copy));
			sum += copy.tag;
		}
		shm_ring_consume(&r, n);
		done += n;
	}
	atomic_store(&ip.sink, sum);
	return arg;
}

/* Entries per second through one ring of 64-byte descriptors. */
static double
inproc_throughput(const struct opts *o, uint64_t total)
{
	struct shm_ring r;
	pthread_t t;
	uint64_t t0, sent = 0;
	uint32_t space;

	ip.ctl = aligned_alloc(128, sizeof(*ip.ctl));
	ip.ents = aligned_alloc(64, 1024 * sizeof(struct hgca_sqe));
	ip.total = total;
	ip.cpu = o->cpu_b;
	shm_ring_init(ip.ctl, ip.ents, 1024, sizeof(struct hgca_sqe), 0);
	shm_ring_attach(&r, ip.ctl, ip.ents, 1024, sizeof(struct hgca_sqe));
	pthread_create(&t, NULL, inproc_consumer, NULL);
	t0 = now_ns();
	while (sent < total) {
		if (shm_ring_space(&r, BATCH, &space) < 0 || space < BATCH)
			continue;
		shm_ring_claim(&r, BATCH);	/* as the client does */
		for (uint32_t i = 0; i < BATCH; i++) {
			struct hgca_sqe *e = SHM_RING_ENTRY(&r, struct hgca_sqe,
							    r.tail + i);

			memset((char *)e + 4, 0, sizeof(*e) - 4);
			e->opcode = HGCA_OP_NOP;
			e->tag = sent + i;
		}
		shm_ring_publish(&r, BATCH);
		sent += BATCH;
	}
	pthread_join(t, NULL);
	free(ip.ctl);
	free(ip.ents);
	return (double)total / ((now_ns() - t0) * 1e-9);
}

/* ---- the daemon ---- */

static int
connect_retry(const char *sock, struct hgca **h)
{
	struct timespec ts = { .tv_nsec = 10000000 };
	int rc = -1;

	for (int i = 0; i < 500 && rc < 0; i++) {
		rc = hgca_connect(sock, h);
		if (rc < 0)
			nanosleep(&ts, NULL);
	}
	return rc;
}

static int
nop_once(struct hgca *h, uint64_t i)
{
	struct hgca_completion c;

	if (hgca_nop_submit(h, i, NULL) < 0 || hgca_wait(h, &c, 1, 1, 5000) != 1)
		return -1;
	return c.tag == i ? 0 : -1;
}

static struct lat
ring_rtt(struct hgca *h, size_t n)
{
	uint32_t *s = malloc(n * sizeof(*s));
	struct lat l = { 0 };

	for (size_t i = 0; i < n / 10; i++)	/* warm up */
		nop_once(h, i);
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = ticks();

		if (nop_once(h, i) < 0) {
			free(s);
			return l;
		}
		s[i] = (uint32_t)(ticks() - t0);
	}
	l = summarize(s, n);
	free(s);
	return l;
}

/* NOPs per second, BATCH at a time, DEPTH in flight. */
static double
ring_throughput(struct hgca *h, uint64_t total)
{
	struct hgca_completion c[DEPTH];
	uint64_t sent = 0, done = 0, t0 = now_ns();
	unsigned inflight = 0;
	int n;

	while (done < total) {
		while (sent < total && inflight + BATCH <= DEPTH) {
			for (int i = 0; i < BATCH; i++)
				hgca_nop_prep(h, sent + i, NULL);
			hgca_submit(h);
			sent += BATCH;
			inflight += BATCH;
		}
		/* Wait for a batch's worth: one call per batch, not per
		 * completion (the last ones may be fewer). */
		n = hgca_wait(h, c, inflight < BATCH ? inflight : BATCH, DEPTH,
			      5000);
		if (n < 0)
			return 0;
		done += (uint64_t)n;
		inflight -= (unsigned)n;
	}
	return (double)total / ((now_ns() - t0) * 1e-9);
}

/*
 * The two throughputs in alternating rounds, the best of each kept.  The
 * baseline's ring code is shm/ring.h's, as the transport's: a batch's
 * lines claimed, filled, then published; stamps polled with prefetch;
 * entries addressed by their type (its fastest way: putting each entry
 * with its stamp at once lets the consumer chase the producer line by
 * line, several times slower here).
 */
static void
throughputs(const struct opts *o, struct hgca *h, uint64_t nput, double *tin,
	    double *tring)
{
	int rounds = o->rounds > 0 ? o->rounds : o->quick ? 3 : 5;
	double a, b;

	*tin = *tring = 0;
	printf("  %-38s %9s %9s %6s\n", "throughput, batches of 32 (ops/s)",
	       "SPSC ring", "hgcad", "ratio");
	for (int r = 0; r < rounds; r++) {
		a = inproc_throughput(o, nput * 4);
		b = ring_throughput(h, nput);
		printf("  %-38s %9.3g %9.3g %6.2f\n", r ? "" :
		       "SPSC: 2 threads, 1 process; NOPs", a, b, b / a);
		*tin = a > *tin ? a : *tin;
		*tring = b > *tring ? b : *tring;
	}
	printf("  %-38s %9.3g %9.3g %6.2f\n", "best of each", *tin, *tring,
	       *tring / *tin);
	printf("  (SPSC baseline: the transport's own shm/ring.h, 64-byte "
	       "descriptors,\n   lines claimed, filled then published, stamps "
	       "polled with prefetch,\n   each copied out)\n");
}

/* ---- system calls, counted from outside ---- */

enum counter { COUNT_NONE, COUNT_PERF, COUNT_STRACE };

static enum counter
pick_counter(void)
{
	if (system("perf stat -e raw_syscalls:sys_enter -x, -o /dev/null true "
		   ">/dev/null 2>&1") == 0)
		return COUNT_PERF;
	if (system("strace -o /dev/null true >/dev/null 2>&1") == 0)
		return COUNT_STRACE;
	return COUNT_NONE;
}

static pid_t
start_counter(enum counter k, pid_t target, const char *out)
{
	char pid[16];
	pid_t c = fork();

	if (c != 0)
		return c;
	snprintf(pid, sizeof(pid), "%d", (int)target);
	int fd = open("/dev/null", O_WRONLY);

	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (k == COUNT_PERF)
		execlp("perf", "perf", "stat", "-e", "raw_syscalls:sys_enter",
		       "-x,", "-o", out, "-p", pid, (char *)NULL);
	else
		execlp("strace", "strace", "-c", "-f", "-o", out, "-p", pid,
		       (char *)NULL);
	_exit(127);
}

/* The count from perf's CSV ("N,,raw_syscalls:sys_enter,...") or from
 * strace -c's "total" line; -1 if unreadable. */
static long
read_count(enum counter k, const char *out)
{
	char line[512];
	long v = -1, calls;
	FILE *f = fopen(out, "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (k == COUNT_PERF && strstr(line, "raw_syscalls:sys_enter"))
			v = strtol(line, NULL, 10);
		if (k == COUNT_STRACE && strstr(line, " total") &&
		    sscanf(line, "%*f %*f %*d %ld", &calls) == 1)
			v = calls;
		if (k == COUNT_STRACE && strstr(line, " total") && v < 0 &&
		    sscanf(line, "%*f %*f %ld", &calls) == 1)
			v = calls;
	}
	if (f)
		fclose(f);
	return v;
}

/* Count both processes' system calls over @n round trips. */
static int
count_syscalls(enum counter k, pid_t daemon, struct hgca *h, size_t n,
	       const char *dir, long *dcount, long *ccount)
{
	char dout[PATH_MAX], cout[PATH_MAX];
	struct timespec settle = { .tv_nsec = 500000000 };
	pid_t pd, pc;

	snprintf(dout, sizeof(dout), "%s/daemon.count", dir);
	snprintf(cout, sizeof(cout), "%s/client.count", dir);
	for (size_t i = 0; i < n / 10; i++)	/* in steady state first */
		nop_once(h, i);
	pd = start_counter(k, daemon, dout);
	pc = start_counter(k, getpid(), cout);
	nanosleep(&settle, NULL);		/* let them attach */
	for (size_t i = 0; i < n; i++)
		if (nop_once(h, i) < 0)
			return -1;
	kill(pd, SIGINT);
	kill(pc, SIGINT);
	waitpid(pd, NULL, 0);
	waitpid(pc, NULL, 0);
	*dcount = read_count(k, dout);
	*ccount = read_count(k, cout);
	unlink(dout);
	unlink(cout);
	return *dcount < 0 || *ccount < 0 ? -1 : 0;
}

/* ---- main ---- */

static void
parse_args(int argc, char **argv, struct opts *o)
{
	o->cpu_a = 0;
	o->cpu_b = 1;
	bench_hgcad_path(o->hgcad, sizeof(o->hgcad));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			o->quick = true;
		else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			o->rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--cpus") == 0 && i + 1 < argc)
			sscanf(argv[++i], "%d,%d", &o->cpu_a, &o->cpu_b);
		else if (strcmp(argv[i], "--hgcad") == 0 && i + 1 < argc)
			snprintf(o->hgcad, sizeof(o->hgcad), "%s", argv[++i]);
		else {
			fprintf(stderr, "usage: ring [--quick] [--rounds N] "
				"[--cpus A,B] [--hgcad PATH]\n");
			exit(2);
		}
	}
}

/* What the numbers depend on: the daemon's back end and spin budget (it
 * shrinks when the machine is busy) and the machine's load. */
static void
print_context(const struct hgca_status *st)
{
	char load[128] = "?";
	FILE *f = fopen("/proc/loadavg", "r");

	if (f && !fgets(load, sizeof(load), f))
		strcpy(load, "?\n");
	if (f)
		fclose(f);
	printf("  hgcad: %s, spin budget at the end %u ns; loadavg %s",
	       st->backend, st->spin_ns, load);
}

static void
row(const char *what, struct lat l)
{
	printf("  %-38s %9.0f %9.0f %9.0f\n", what, l.p50, l.p99, l.mean);
}

int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	char dir[128], sock[PATH_MAX];
	struct lat lpp, lux, lring;
	double tin, tring;
	long dcount = -1, ccount = -1;
	struct hgca_status st = { 0 };
	struct hgca *h;
	enum counter k = pick_counter();
	size_t nlat, nsys;
	uint64_t nput;
	pid_t daemon;
	int status;

	parse_args(argc, argv, &o);
	nlat = o.quick ? 200000 : 1000000;
	nsys = o.quick ? 300000 : 1000000;
	nput = o.quick ? 4000000 : 20000000;
	if (bench_make_dir(dir, sizeof(dir)) < 0)
		return 1;
	bench_pin(o.cpu_a);
	calibrate();
	daemon = bench_hgcad_start(o.hgcad, dir, "spin_us = 1000\n"
				   "log_level = warning\nregion_size = 4M\n",
				   o.cpu_b, sock, sizeof(sock));
	if (daemon < 0 || connect_retry(sock, &h) < 0) {
		fprintf(stderr, "ring: cannot start %s\n", o.hgcad);
		return 1;
	}
	printf("bench/ring%s: client on CPU %d, hgcad on CPU %d, %d online "
	       "CPUs, hgcad spin_us 1000\n", o.quick ? " --quick" : "",
	       o.cpu_a, o.cpu_b, (int)sysconf(_SC_NPROCESSORS_ONLN));
	printf("  %-38s %9s %9s %9s\n", "round trip (ns)", "p50", "p99", "mean");
	lpp = pingpong(&o, nlat);
	row("cache-line ping-pong, 2 threads", lpp);
	lux = unix_rtt(&o, nlat / 4);
	row("Unix socket request/response", lux);
	lring = ring_rtt(h, nlat);
	row("NOP through hgcad (rings)", lring);
	throughputs(&o, h, nput, &tin, &tring);
	if (k != COUNT_NONE &&
	    count_syscalls(k, daemon, h, nsys, dir, &dcount, &ccount) == 0)
		printf("  system calls over %zu round trips (%s): hgcad %ld, "
		       "client %ld\n", nsys, k == COUNT_PERF ? "perf" : "strace",
		       dcount, ccount);
	else
		printf("  system calls: no perf or strace usable here\n");
	hgca_admin_status(h, &st);
	print_context(&st);
	hgca_disconnect(h);
	kill(daemon, SIGTERM);
	waitpid(daemon, &status, 0);
	printf("result ring_vs_unix_rtt %.1f\n", lux.p50 / lring.p50);
	printf("result ring_vs_pingpong_rtt %.2f\n", lring.p50 / lpp.p50);
	if (dcount >= 0)
		printf("result syscalls_per_request %.6f\n",
		       (double)(dcount + ccount) / (double)nsys);
	else
		printf("result syscalls_per_request nan\n");
	printf("result nops_per_second %.0f\n", tring);
	printf("result ring_vs_inproc_throughput %.2f\n", tring / tin);
	snprintf(sock, sizeof(sock), "rm -rf '%s'", dir);
	return system(sock) == 0 ? 0 : 1;
}
