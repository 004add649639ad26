/*
 * sched.c - start-time fair queueing of (sequence, KV head) tasks across
 * clients, by bytes scanned (see sched.h).  Everything here runs under
 * sched.lock; job callbacks run after it is released.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>

#include "shm/atomic_pvt.h"
#include "shm/spin.h"

#include "daemon/sched.h"

int
sched_init(struct sched *s)
{
	*s = (struct sched){ 0 };
	if (pthread_mutex_init(&s->lock, NULL))
		return -ENOMEM;
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	return 0;
}

void
sched_fini(struct sched *s)
{
	pthread_cond_destroy(&s->idle);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->lock);
}

void
sched_queue_init(struct sched_queue *q)
{
	*q = (struct sched_queue){ 0 };
}

static void
active_remove(struct sched *s, struct sched_queue *q)
{
	struct sched_queue **pp = &s->active;

	while (*pp && *pp != q)
		pp = &(*pp)->next_active;
	if (*pp)
		*pp = q->next_active;
	q->next_active = NULL;
	q->active = false;
}

/* Bytes of all of @j's tasks. */
static double
job_cost(const struct sched_job *j)
{
	double c = 0;

	for (int t = 0; t < j->ntasks; t++)
		c += (double)j->cost[t];
	return c;
}

/*
 * A queue that was idle starts at the current system virtual time, so
 * being idle earns no credit -- unless the request that wakes it is small
 * (at most SCHED_WAKE_CREDIT bytes): then it starts that request's cost
 * earlier, so that a decode step of a short context runs ahead of a
 * backlogged client's next tasks instead of alternating with them (as a
 * waking task gets a bounded credit in CFS).  The credit is also bounded by
 * what the other queues were served since this one last woke, whether or
 * not it was still ahead then: a client that submits a step, waits for it
 * and submits the next (its queue empties in between) keeps running its
 * steps ahead while the others are served at least as much in between,
 * and can never run ahead by more than they got.  A large request gets
 * none, so a long-context client that refills its queue never jumps ahead
 * of waiting short ones.
 */
static void
active_add(struct sched *s, struct sched_queue *q, const struct sched_job *j)
{
	uint64_t others = s->started - q->started;
	double credit = job_cost(j), earned = (double)(others - q->woke_others);

	q->woke_others = others;
	if (credit > SCHED_WAKE_CREDIT)
		credit = 0;
	if (credit > earned)
		credit = earned;
	if (q->vtime < s->vmin)
		q->vtime = s->vmin;
	q->vtime -= credit;
	q->next_active = s->active;
	s->active = q;
	q->active = true;
}

static void
signal_idle(struct sched *s)
{
	if (s->queued == 0 && s->running == 0)
		pthread_cond_broadcast(&s->idle);
}

/* A task (or a cancellation) has finished its callbacks. */
static void
finished(struct sched *s)
{
	pthread_mutex_lock(&s->lock);
	s->running--;
	signal_idle(s);
	pthread_mutex_unlock(&s->lock);
}

void
sched_submit(struct sched *s, struct sched_queue *q, struct sched_job *j)
{
	pthread_mutex_lock(&s->lock);
	j->q = q;
	j->next = 0;
	j->dropped = 0;
	j->link = NULL;
	j->enq_total = s->started;
	j->enq_own = q->started;
	j->order = s->order++;
	if (q->tail)
		q->tail->link = j;
	else
		q->head = j;
	q->tail = j;
	s->queued += j->ntasks;
	if (!q->active)
		active_add(s, q, j);
	atomic_fetch_add_explicit(&s->posted, 1, memory_order_release);
	if (j->ntasks == 1)
		pthread_cond_signal(&s->work);
	else
		pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->lock);
}

/* The busy queue with the lowest virtual time; ties go to the older job. */
static struct sched_queue *
pick(struct sched *s)
{
	struct sched_queue *best = s->active;

	for (struct sched_queue *q = s->active; q; q = q->next_active)
		if (q->vtime < best->vtime ||
		    (q->vtime == best->vtime && q->head->order < best->head->order))
			best = q;
	return best;
}

/* Starts the next task of @q's first job (accounting, dequeueing). */
static void
start_task(struct sched *s, struct sched_queue *q, struct sched_job **jp,
	   int *tp)
{
	struct sched_job *j = q->head;
	int t = j->next++;
	uint64_t cost = j->cost[t];
	int64_t bypass = (int64_t)(s->started - j->enq_total) -
			 (int64_t)(q->started - j->enq_own);

	if (bypass > q->st.max_bypass)
		q->st.max_bypass = bypass;
	s->vmin = q->vtime;
	q->vtime += (double)cost;
	q->started += cost;
	s->started += cost;
	q->running++;
	s->running++;
	s->queued--;
	if (j->next == j->ntasks) {
		q->head = j->link;
		if (!q->head)
			q->tail = NULL;
	}
	if (!q->head)
		active_remove(s, q);
	*jp = j;
	*tp = t;
}

void
sched_set_spin(struct sched *s, uint64_t spin_ns)
{
	atomic_store_explicit(&s->spin_ns, spin_ns, memory_order_relaxed);
}

/* Spins (the lock released) until something is posted and the lock is
 * free, or @ns pass; returns with the lock held either way.  Taking the
 * lock with trylock keeps a spinner from sleeping on the mutex while the
 * submitter still holds it. */
static void
spin_for_work(struct sched *s, uint64_t ns)
{
	uint64_t seen = atomic_load_explicit(&s->posted, memory_order_relaxed);
	uint64_t end = shm_now_ns() + ns;

	pthread_mutex_unlock(&s->lock);
	do {
		for (int i = 0; i < 64; i++) {
			if (atomic_load_explicit(&s->posted, memory_order_acquire) != seen &&
			    pthread_mutex_trylock(&s->lock) == 0)
				return;
			shm_cpu_relax();
		}
	} while (shm_now_ns() < end);
	pthread_mutex_lock(&s->lock);
}

bool
sched_next(struct sched *s, struct sched_job **j, int *t)
{
	bool spun = false;

	pthread_mutex_lock(&s->lock);
	while (!s->stop && (s->paused || !s->active)) {
		uint64_t ns = atomic_load_explicit(&s->spin_ns, memory_order_relaxed);

		if (!spun && ns && !s->paused) {
			spun = true;	/* once per wait; then sleep */
			spin_for_work(s, ns);
			continue;
		}
		pthread_cond_wait(&s->work, &s->lock);
	}
	if (s->stop) {
		pthread_mutex_unlock(&s->lock);
		return false;
	}
	start_task(s, pick(s), j, t);
	pthread_mutex_unlock(&s->lock);
	return true;
}

void
sched_done(struct sched *s, struct sched_job *j, int t, uint64_t bytes,
	   int status)
{
	struct sched_queue *q = j->q;

	pthread_mutex_lock(&s->lock);
	/* Charge what was really scanned, not the estimate. */
	q->vtime += (double)bytes - (double)j->cost[t];
	q->st.bytes += (int64_t)bytes;
	q->st.tasks++;
	q->running--;
	pthread_mutex_unlock(&s->lock);
	/* The task counts as running until its finish (which may complete
	 * the request and free the client, q with it) has returned, so that
	 * sched_wait_idle also waits for done callbacks and frees. */
	j->ops->finish(j, t, 1, status);
	finished(s);
}

void
sched_cancel(struct sched *s, struct sched_queue *q)
{
	struct sched_job *list, *j, *next;

	pthread_mutex_lock(&s->lock);
	q->dead = true;
	list = q->head;
	for (j = list; j; j = j->link) {
		j->dropped = j->ntasks - j->next;
		j->next = j->ntasks;
		s->queued -= j->dropped;
	}
	q->head = q->tail = NULL;
	if (q->active)
		active_remove(s, q);
	s->running++;		/* the callbacks below, for sched_wait_idle */
	pthread_mutex_unlock(&s->lock);
	for (j = list; j; j = next) {
		next = j->link;		/* finish may free j */
		j->ops->finish(j, -1, j->dropped, -ECANCELED);
	}
	finished(s);
}

void
sched_pause(struct sched *s, bool paused)
{
	pthread_mutex_lock(&s->lock);
	s->paused = paused;
	atomic_fetch_add_explicit(&s->posted, 1, memory_order_release);
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->lock);
}

void
sched_wait_idle(struct sched *s)
{
	pthread_mutex_lock(&s->lock);
	while (s->queued || s->running)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

void
sched_stop(struct sched *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	atomic_fetch_add_explicit(&s->posted, 1, memory_order_release);
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->lock);
}

void
sched_queue_stats(struct sched *s, struct sched_queue *q,
		  struct svc_sched_stats *st)
{
	pthread_mutex_lock(&s->lock);
	*st = q->st;
	st->vtime = q->vtime;
	pthread_mutex_unlock(&s->lock);
}
