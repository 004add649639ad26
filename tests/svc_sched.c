/*
 * svc_sched - the scheduler's order of tasks, driven by hand in one thread
 * (no workers): a long client L keeps its queue full of tasks of a random
 * cost; a short client S submits a small request, waits until it is done,
 * and, after L was served GAP of its tasks, submits the next (its queue
 * empties in between, so each request wakes it).
 *   ahead    with GAP tasks between steps, each step waits for at most
 *            half its own bytes of L's tasks (plain fair queueing would
 *            make it wait for all but GAP tasks' worth of them);
 *   bound    stepping back to back (GAP 0), S still cannot take more than
 *            about twice L's bytes: its credit is what L was served since
 *            its previous wake-up.
 * And the workers run at the configured niceness (worker_nice), which
 * svc_create checks; and a worker given a spin budget (sched_set_spin)
 * takes requests arriving within it without sleeping -- far fewer
 * voluntary context switches than one without -- loses none, and still
 * stops at once.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/sched.h"
#include "shm/spin.h"
#include "tests/proc_help.h"
#include "tests/ref64.h"
#include "tests/tap.h"

#define LTASKS 100000
#define STEPS 40

static struct rng rg;

struct fjob {
	struct sched_job j;
	uint64_t *cost;
	int left;		/* tasks not finished */
};

static int
fj_run(struct sched_job *j, int t, void *w, uint64_t *bytes)
{
	(void)j, (void)t, (void)w, (void)bytes;
	return 0;
}

static void
fj_finish(struct sched_job *j, int t, int n, int status)
{
	(void)t, (void)status;
	((struct fjob *)j)->left -= n;
}

static const struct sched_job_ops fj_ops = { fj_run, fj_finish };

static void
fj_init(struct fjob *f, int n, uint64_t lo, uint64_t hi)
{
	f->cost = malloc((size_t)n * sizeof(*f->cost));
	for (int i = 0; i < n; i++)
		f->cost[i] = lo + (uint64_t)(rng_uniform(&rg) * (double)(hi - lo));
	f->j = (struct sched_job){ .ops = &fj_ops, .cost = f->cost, .ntasks = n };
	f->left = n;
}

/* Runs the next task to the end, as a worker would; its job. */
static struct sched_job *
step(struct sched *s, uint64_t *bytes)
{
	struct sched_job *j;
	int t;

	if (!sched_next(s, &j, &t))
		return NULL;
	*bytes = j->cost[t];
	sched_done(s, j, t, j->cost[t], 0);
	return j;
}

struct run {
	double l_during;	/* L bytes started during an S request, mean */
	double l_most;		/* the most during one */
	double s_bytes, l_bytes;	/* served while S was stepping */
};

/*
 * STEPS requests of S, each of @stasks tasks of @scost bytes, with @gap L
 * tasks between one's end and the next's submission.
 */
static void
stepping(int gap, int stasks, uint64_t scost, struct run *r)
{
	struct sched s;
	struct sched_queue ql, qs;
	struct fjob L, S;
	uint64_t b;

	sched_init(&s);
	sched_queue_init(&ql);
	sched_queue_init(&qs);
	fj_init(&L, LTASKS, 1 << 20, 3 << 20);
	sched_submit(&s, &ql, &L.j);
	for (int i = 0; i < 8; i++)
		step(&s, &b);
	*r = (struct run){ 0 };
	for (int k = 0; k < STEPS; k++) {
		double during = 0;

		fj_init(&S, stasks, scost, scost + 1);
		sched_submit(&s, &qs, &S.j);
		while (S.left > 0) {
			struct sched_job *j = step(&s, &b);

			if (j == &L.j) {
				during += (double)b;
				r->l_bytes += (double)b;
			} else {
				r->s_bytes += (double)b;
			}
		}
		free(S.cost);
		/* The first request woke a queue never busy before. */
		if (k > 0 && during > r->l_most)
			r->l_most = during;
		r->l_during += k > 0 ? during / (STEPS - 1) : 0;
		for (int i = 0; i < gap; i++) {
			step(&s, &b);
			r->l_bytes += (double)b;
		}
	}
	sched_cancel(&s, &ql);
	free(L.cost);
	sched_fini(&s);
}

static void
niceness(void)
{
	struct svc_config c;
	struct svc *s = NULL;
	int before = proc_threads_at_nice(0, 7), err;

	svc_config_defaults(&c);
	c.workers = 3;
	c.mem_bytes = 8 << 20;
	c.worker_nice = 20;
	ok(svc_create(&s, &c) == -EINVAL, "worker_nice 20: -EINVAL");
	c.worker_nice = 7;
	err = svc_create(&s, &c);
	/* Each worker sets its own as it starts: give them 5 s to. */
	for (int i = 0; i < 500 && !err &&
			proc_threads_at_nice(0, 7) < before + 3; i++)
		usleep(10000);
	ok(!err && proc_threads_at_nice(0, 7) == before + 3,
	   "worker_nice 7: %d of the 3 workers run at niceness 7",
	   err ? -1 : proc_threads_at_nice(0, 7) - before);
	if (!err)
		svc_destroy(s);
}

struct spinw {
	struct sched *s;
	_Atomic pid_t tid;
	_Atomic int done;	/* jobs finished */
};

static void *
spin_worker(void *arg)
{
	struct spinw *w = arg;
	uint64_t b;

	atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
	while (step(w->s, &b))
		atomic_fetch_add(&w->done, 1);
	return NULL;
}

/* Voluntary context switches of thread @tid so far, -1 if unknown. */
static long
voluntary_switches(pid_t tid)
{
	char path[64], line[128];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* @n one-task jobs, 200 us apart, to one worker spinning up to @spin_ns;
 * the worker's voluntary context switches meanwhile, or -1 if a job was
 * lost.  Then it stops the worker, which must end within @stop_us. */
static long
spin_round(uint64_t spin_ns, int n, double *stop_us)
{
	struct sched s;
	struct sched_queue q;
	struct spinw w = { .s = &s };
	struct fjob *f = calloc((size_t)n, sizeof(*f));
	pthread_t th;
	long v0, v1;
	double t0;

	sched_init(&s);
	sched_queue_init(&q);
	sched_set_spin(&s, spin_ns);
	pthread_create(&th, NULL, spin_worker, &w);
	while (!atomic_load(&w.tid))
		usleep(100);
	usleep(20000);		/* asleep or spinning by now */
	v0 = voluntary_switches(w.tid);
	for (int i = 0; i < n; i++) {
		fj_init(&f[i], 1, 1, 2);
		sched_submit(&s, &q, &f[i].j);
		for (int k = 0; k < 1000 && atomic_load(&w.done) <= i; k++)
			usleep(100);
		usleep(200);
	}
	v1 = voluntary_switches(w.tid);
	t0 = (shm_now_ns() * 1e-9);
	sched_stop(&s);
	pthread_join(th, NULL);
	*stop_us = ((shm_now_ns() * 1e-9) - t0) * 1e6;
	if (atomic_load(&w.done) != n)
		v1 = -1;
	for (int i = 0; i < n; i++)
		free(f[i].cost);
	free(f);
	sched_fini(&s);
	return v1 < 0 || v0 < 0 ? -1 : v1 - v0;
}

static void
spinning(void)
{
	double stop_sleep, stop_spin;
	long sleeper = spin_round(0, 200, &stop_sleep);
	long spinner = spin_round(10ull * 1000000000u, 200, &stop_spin);

	ok(sleeper >= 0 && spinner >= 0 && spinner * 2 < sleeper,
	   "spin: 200 requests 200 us apart, none lost: a worker that sleeps "
	   "switched %ld times, one spinning up to 10 s %ld", sleeper, spinner);
	ok(stop_spin < 500000, "spin: a worker spinning with a 10 s budget "
	   "stops in %.0f us", stop_spin);
}

int
main(void)
{
	const uint64_t mib = 1 << 20;
	struct run r;
	double req;

	rng_seed(&rg, ref64_seed());

	/* ahead: 16 tasks of 1 MiB a step, one L task (1-3 MiB) between. */
	req = 16.0 * mib;
	stepping(1, 16, mib, &r);
	ok(r.l_during <= req / 2 && r.l_most <= req + 3 * mib,
	   "ahead: a short step waits for %.1f MiB of the long client's tasks "
	   "on average (bound: half its own %.0f MiB), %.1f MiB at most (bound: "
	   "its own + one task)", r.l_during / mib, req / mib, r.l_most / mib);

	/* bound: back to back. */
	stepping(0, 16, mib, &r);
	ok(r.l_bytes >= (r.s_bytes - STEPS * 3.0 * mib) / 2 &&
	   r.l_most <= req + 3 * mib,
	   "bound: stepping back to back, the short client got %.0f MiB, the "
	   "long one %.0f MiB (at least half as much, less a long task a step, "
	   "as plain fair queueing gives too); a step "
	   "waited for %.1f MiB of long tasks at most", r.s_bytes / mib,
	   r.l_bytes / mib, r.l_most / mib);
	niceness();
	spinning();
	return done_testing();
}
