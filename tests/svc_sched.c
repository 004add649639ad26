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
 * svc_create checks.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/sched.h"
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

/* Threads of this process at niceness @nice (field 19 of their stat). */
static int
threads_at(int nice)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		char path[300], buf[1024], *p;
		FILE *f;
		long v = 0;

		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		if (e->d_name[0] == '.' || !(f = fopen(path, "r")))
			continue;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		/* After ") ": state, then fields 4..19; nice is field 19. */
		for (int i = 0; p && i < 17; i++)
			p = strchr(p + 1, ' ');
		if (p && sscanf(p + 1, "%ld", &v) == 1 && v == nice)
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

static void
niceness(void)
{
	struct svc_config c;
	struct svc *s = NULL;
	int before = threads_at(7), err;

	svc_config_defaults(&c);
	c.workers = 3;
	c.mem_bytes = 8 << 20;
	c.worker_nice = 20;
	ok(svc_create(&s, &c) == -EINVAL, "worker_nice 20: -EINVAL");
	c.worker_nice = 7;
	err = svc_create(&s, &c);
	/* Each worker sets its own as it starts: give them 5 s to. */
	for (int i = 0; i < 500 && !err && threads_at(7) < before + 3; i++)
		usleep(10000);
	ok(!err && threads_at(7) == before + 3,
	   "worker_nice 7: %d of the 3 workers run at niceness 7",
	   err ? -1 : threads_at(7) - before);
	if (!err)
		svc_destroy(s);
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
	return done_testing();
}
