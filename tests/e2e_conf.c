/*
 * e2e_conf - the service's keys of hgcad.conf(5): `hgcad -n` accepts good
 * values and refuses each bad one with the file, the line and the reason;
 * a configuration with the service's keys starts a daemon that reports
 * them (hgca_admin_status); `worker_nice = auto' nices the workers only
 * when they and the poller outnumber the daemon's CPUs, and
 * poller_spin_us sets how long an idle poller spins.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/hgca.h"
#include "tests/proc_help.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

static char dir[] = "/tmp/hgca-conf-XXXXXX", conf[64], out[4096];

static const struct {
	const char *line, *says;
} bads[] = {
	{ "workers = 2000", ":2: 2000 is out of range" },
	{ "worker_nice = 20", ":2: 20 is out of range" },
	{ "worker_nice = sometimes", ":2: `sometimes' is not a number" },
	{ "poller_spin_us = 2000000", ":2: 2000000 is out of range" },
	{ "poller_spin_us = never", ":2: `never' is not a number" },
	{ "numa_nodes = -1", ":2: `-1' is not a number" },
	{ "memory_budget = 1M", ":2: 1M is out of range" },
	{ "page_size = 24", ":2: page_size must be a multiple of 16" },
	{ "page_size = 512", ":2: 512 is out of range" },
	{ "chunk_pages = 0", ":2: 0 is out of range" },
	{ "default_policy = sometimes", ":2: default_policy must be" },
	{ "default_policy = mass:1.5", ":2: default_policy must be" },
	{ "quota_kv_bytes = 0", ":2: 0 is out of range" },
	{ "quota_seqs = many", ":2: `many' is not a number" },
	{ "quota_inflight = 0", ":2: 0 is out of range" },
	{ "quota_uid = 0 1G 10", ":2: expected `USER KV_BYTES SEQS INFLIGHT'" },
	{ "quota_uid = no-such-user-hgca 1G 10 10", ":2: unknown user" },
	{ "quota_uid = 0 1G 0 10", ":2: 0 is out of range" },
	{ "numa_nodes = 4\nmemory_budget = 4M", "2M at least" },
};

/* Run `hgcad -n -c conf` with @text as the file; exit status, output. */
static int
check(const char *text)
{
	char bin[256], cmd[512];
	FILE *f = fopen(conf, "w");
	size_t n;
	int st;

	fprintf(f, "socket = %s/s.sock\n%s\n", dir, text);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "'%s' -n -c '%s' 2>&1",
		 td_bin("daemon/hgcad", bin, sizeof(bin)), conf);
	f = popen(cmd, "r");
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* 64 MiB of pools and a 1 GiB quota: the pools run out first. */
static void
pools_full(const struct td *d)
{
	static uint16_t kv[4096 * 8 * 128];	/* 4096 tokens, bf16 */
	struct hgca_model m = { .layers = 1, .hq = 8, .hkv = 8, .d = 128,
				.kv_dtype = HGCA_DTYPE_BF16 };
	struct hgca *h;
	uint32_t model, seq;
	uint64_t len = 0;
	int rc, n = 0;

	rc = hgca_connect(d->sock, &h);
	rc = rc ? rc : hgca_model_declare(h, &m, &model);
	rc = rc ? rc : hgca_seq_open(h, model, &seq);
	while (rc == 0 && n < 20)	/* 16 MiB of K+V each */
		if ((rc = hgca_kv_append(h, seq, 0, 4096, kv, kv)) == 0)
			n++;
	hgca_seq_length(h, seq, 0, &len);
	/* K+V of a token: 4 KiB; pages also hold summaries, and one request
	 * of a long append is all or nothing (those before it stay). */
	ok(rc == -ENOSPC && n >= 1 && len >= (uint64_t)n * 4096 &&
	   len * 4096 <= (64u << 20),
	   "memory_budget 64M: appends of 16 MiB of K+V stop with %d (want %d) "
	   "after %d, with %llu tokens stored (%.1f MiB)", rc, -ENOSPC, n,
	   (unsigned long long)len, len * 4096.0 / 1048576);
	hgca_disconnect(h);
}

static void
running(void)
{
	struct hgca_connect_opts o = { .flags = HGCA_CONNECT_CONTROL };
	struct hgca_status st;
	struct hgca *h;
	struct td d;
	int rc;

	td_start_or_bail(&d, "workers = 3\nmemory_budget = 64M\n"
			 "default_policy = mass:0.02,budget:1m\n"
			 "chunk_pages = 32\nworker_nice = 3\n"
			 "quota_uid = 0 1G - -", NULL);
	rc = hgca_connect_with(d.sock, &o, &h);
	rc = rc ? rc : hgca_admin_status(h, &st);
	ok(rc == 0 && st.workers == 3 && st.kv_bytes == 64 << 20 &&
	   st.kv_slabs == 32 && st.kv_slabs_free == 32 && st.kv_pages == 0 &&
	   strcmp(st.policy, "mass:0.02,budget:1m") == 0,
	   "a daemon started with them reports %u workers, %llu MiB in %llu "
	   "slabs, policy %s", st.workers,
	   (unsigned long long)(st.kv_bytes >> 20),
	   (unsigned long long)st.kv_slabs, st.policy);
	hgca_disconnect(h);
	pools_full(&d);
	td_stop(&d, SIGTERM);
	td_cleanup(&d);
}

/* workers unset: every CPU up to 4, else two fewer (hgcad.conf(5)). */
static void
default_workers(void)
{
	struct hgca_connect_opts o = { .flags = HGCA_CONNECT_CONTROL };
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = ncpu <= 4 ? (unsigned)ncpu : (unsigned)ncpu - 2;
	struct hgca_status st;
	struct hgca *h;
	struct td d;
	int rc;

	td_start_or_bail(&d, "memory_budget = 64M\n", NULL);
	rc = hgca_connect_with(d.sock, &o, &h);
	rc = rc ? rc : hgca_admin_status(h, &st);
	ok(rc == 0 && st.workers == want,
	   "workers unset: %u workers on %ld CPUs (want %u)", st.workers, ncpu, want);
	if (rc == 0)
		hgca_disconnect(h);
	td_stop(&d, SIGTERM);
	td_cleanup(&d);
}

/* Start hgcad with @extra on the CPUs of @cpus (it inherits them). */
static int
start_on(struct td *d, const char *extra, const cpu_set_t *cpus)
{
	cpu_set_t mine;
	int rc;

	sched_getaffinity(0, sizeof(mine), &mine);
	sched_setaffinity(0, sizeof(*cpus), cpus);
	rc = td_start(d, extra, NULL);
	sched_setaffinity(0, sizeof(mine), &mine);
	return rc;
}

/* Start hgcad with @extra on the CPUs of @cpus; the number of its threads
 * at niceness @nice once @want of them are (5 s at most: each worker sets
 * its own as it starts). */
static int
nice_threads(const char *extra, const cpu_set_t *cpus, int nice, int want)
{
	struct td d;
	int n = -1, rc;

	if ((rc = start_on(&d, extra, cpus)) < 0)
		return rc;
	for (int i = 0; i < 500 && (n = proc_threads_at_nice(d.pid, nice)) < want; i++)
		usleep(10000);
	td_stop(&d, SIGTERM);
	td_cleanup(&d);
	return n;
}

static void
auto_nice(void)
{
	cpu_set_t all, one;
	int first = 0, n;

	sched_getaffinity(0, sizeof(all), &all);
	while (!CPU_ISSET(first, &all))
		first++;
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	n = nice_threads("workers = 2\nmemory_budget = 64M\n", &one, 5, 2);
	ok(n == 2, "worker_nice unset, 2 workers and 1 poller on 1 CPU: %d "
	   "threads at niceness 5 (want the 2 workers)", n);
	n = nice_threads("workers = 2\nworker_nice = 3\nmemory_budget = 64M\n",
			 &one, 3, 2);
	ok(n == 2, "worker_nice = 3 on 1 CPU: %d threads at niceness 3 (want 2)",
	   n);
	if (CPU_COUNT(&all) < 2) {
		ok(true, "worker_nice auto with a CPU to spare # SKIP 1 CPU here");
		return;
	}
	n = nice_threads("workers = 1\nworker_nice = auto\nmemory_budget = 64M\n",
			 &all, 5, 0);
	ok(n == 0, "worker_nice = auto, 1 worker and 1 poller on %d CPUs: %d "
	   "threads at niceness 5 (want 0)", CPU_COUNT(&all), n);
}

/* Milliseconds the poller ran in the 300 ms after one NOP answered, with
 * @extra on @cpus; -1 if that could not be measured.  *@logged: whether
 * the ready line names @says. */
static double
poller_ms(const char *extra, const cpu_set_t *cpus, const char *says,
	  bool *logged)
{
	struct hgca_completion c;
	struct hgca *h = NULL;
	long long t0 = -1, t1 = -1;
	struct td d;
	FILE *f;
	char line[512];

	*logged = false;
	if (start_on(&d, extra, cpus) < 0)
		return -1;
	if (hgca_connect(d.sock, &h) == 0 && hgca_nop_submit(h, 1, NULL) == 0 &&
	    hgca_wait(h, &c, 1, 1, 10000) == 1) {
		t0 = proc_thread_run_ns(d.pid, "hgcad-poll0");
		usleep(300000);
		t1 = proc_thread_run_ns(d.pid, "hgcad-poll0");
	}
	if (h)
		hgca_disconnect(h);
	td_stop(&d, SIGTERM);
	if ((f = fopen(d.log, "r"))) {
		while (fgets(line, sizeof(line), f))
			*logged = *logged || (strstr(line, "ready on") &&
					      strstr(line, says));
		fclose(f);
	}
	td_cleanup(&d);
	return t0 < 0 || t1 < 0 ? -1 : (t1 - t0) / 1e6;
}

/* poller_spin_us: a poller spins that long after its last request (the
 * load on the machine may shrink it), and `auto' is spin_us where the
 * workers and pollers fill the CPUs. */
static void
poller_spin(void)
{
	cpu_set_t all, one;
	bool logged;
	int first = 0;
	double ms;

	sched_getaffinity(0, sizeof(all), &all);
	while (!CPU_ISSET(first, &all))
		first++;
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	ms = poller_ms("poller_spin_us = 1000000\nworkers = 1\n"
		       "memory_budget = 64M\n", &all, "spinning 1000000 us",
		       &logged);
	if (ms < 0) {
		ok(true, "poller_spin_us # SKIP no schedstat for the poller");
		return;
	}
	/* 1 s shrinks to 1/8 at worst with 4 runnable threads on 2 CPUs */
	ok(ms >= 60 && logged, "poller_spin_us = 1000000: the poller ran %.0f "
	   "ms of the 300 after a NOP (want >= 60), logged %d", ms, logged);
	ms = poller_ms("poller_spin_us = 0\nworkers = 1\nmemory_budget = 64M\n",
		       &all, "spinning 0 us", &logged);
	ok(ms >= 0 && ms < 20 && logged, "poller_spin_us = 0: the poller ran "
	   "%.1f ms of the 300 after a NOP (want < 20), logged %d", ms, logged);
	ms = poller_ms("spin_us = 40\nworkers = 1\nmemory_budget = 64M\n",
		       &one, "spinning 40 us", &logged);
	ok(ms >= 0 && ms < 20 && logged, "poller_spin_us unset, 1 worker and 1 "
	   "poller on 1 CPU: spin_us's 40 us (logged %d); the poller ran %.1f "
	   "ms of the 300 after a NOP", logged, ms);
}

int
main(void)
{
	int rc;

	td_watchdog(60);
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	snprintf(conf, sizeof(conf), "%s/hgcad.conf", dir);
	rc = check("workers = 4\nnuma_nodes = 0\nmemory_budget = 2G\n"
		   "page_size = 128\nchunk_pages = 16\n"
		   "default_policy = topk:64,budget:4m\nquota_kv_bytes = 8G\n"
		   "quota_seqs = 10\nquota_inflight = 5\n"
		   "quota_uid = 0 1G - 7\nquota_uid = root 2G 3 -");
	ok(rc == 0 && strstr(out, "configuration OK"), "-n accepts every "
	   "service key (%d): %s", rc, strtok(out, "\n"));
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		rc = check(bads[i].line);
		ok(rc == 1 && strstr(out, conf) && strstr(out, bads[i].says),
		   "-n refuses `%.*s': %s", (int)strcspn(bads[i].line, "\n"),
		   bads[i].line, strtok(out, "\n"));
	}
	unlink(conf);
	rmdir(dir);
	running();
	default_workers();
	auto_nice();
	poller_spin();
	return done_testing();
}
