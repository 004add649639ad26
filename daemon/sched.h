/*
 * sched.h - fair task scheduling across clients (DESIGN.md section 6).
 *
 * Each client has a queue of jobs (its requests); a job is a fixed number
 * of tasks with an estimated cost in bytes each.  Idle workers take the
 * next task of the queue with the lowest virtual time (start-time fair
 * queueing by work): a queue's virtual time advances by the cost of each
 * task it starts, is corrected to the bytes the task really scanned when it
 * finishes, and a queue that becomes busy again starts at the lowest
 * virtual time of the busy queues, so idle time earns no credit -- except
 * that a small request (at most SCHED_WAKE_CREDIT bytes) that wakes it runs
 * ahead by its own cost, so that a short decode step goes before a
 * backlogged client's next tasks instead of alternating with them.  That
 * credit is bounded by the bytes the other queues were served since the
 * queue last woke, so a client stepping synchronously (its queue empties
 * between steps) runs each step ahead while the others still get at least
 * as much between its steps, and never more ahead than they got.  A short
 * request therefore waits for the tasks already running, then for at most
 * its own bytes of others' tasks, however long their contexts.  Queues are
 * bounded by their owners (the in-flight quota): nothing here grows
 * without limit.
 *
 * Locking: one mutex, sched.lock, protects every queue, job and counter
 * below; workers sleep on a condition variable under it.  It is taken
 * after a client's lock and never together with a pool lock or the
 * service lock (see service.c for the whole order).
 */
#ifndef HGCA_DAEMON_SCHED_H
#define HGCA_DAEMON_SCHED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon/service.h"

/* The largest request that runs ahead when it wakes its queue (sched.c). */
#define SCHED_WAKE_CREDIT (16.0 * 1024 * 1024)

struct sched_job;

struct sched_job_ops {
	/* Runs task @t on a worker with its context @wctx; returns 0 or a
	 * negative errno and the bytes it scanned.  No lock held. */
	int (*run)(struct sched_job *j, int t, void *wctx, uint64_t *bytes);
	/* Task @t finished with @status (or -ECANCELED for @n tasks that
	 * will never start, t < 0); called after the scheduler's accounting,
	 * with no lock held.  The job may be freed from here on. */
	void (*finish)(struct sched_job *j, int t, int n, int status);
};

struct sched_queue;

struct sched_job {
	const struct sched_job_ops *ops;
	const uint64_t *cost;	/* [ntasks] estimated bytes of each task */
	int ntasks;
	/* Under sched.lock: */
	int next;		/* first task not started */
	struct sched_job *link;	/* in its queue */
	struct sched_queue *q;
	uint64_t enq_total;	/* sched.started when the job was queued */
	uint64_t enq_own;	/* q.started then */
	uint64_t order;		/* queueing order, breaks virtual-time ties */
	int dropped;		/* tasks cancelled before they started */
};

/* One client's queue; embedded in the client, fields under sched.lock. */
struct sched_queue {
	struct sched_job *head, *tail;
	struct sched_queue *next_active;	/* busy queues */
	bool active;
	bool dead;		/* detached: nothing more is queued */
	int running;		/* tasks on workers */
	double vtime;
	uint64_t started;	/* estimated bytes of tasks started */
	uint64_t woke_others;	/* others' bytes started, at the last wake-up */
	struct svc_sched_stats st;
};

struct sched {
	pthread_mutex_t lock;
	pthread_cond_t work;	/* workers: a task may be there, or stop */
	pthread_cond_t idle;	/* drainers: nothing queued or running */
	struct sched_queue *active;
	double vmin;		/* lowest virtual time seen of a busy queue */
	uint64_t started;	/* estimated bytes of all tasks started */
	uint64_t order;		/* jobs queued so far */
	int queued;		/* tasks not started */
	int running;		/* tasks started whose finish has not returned */
	bool paused, stop;
	/* Read without the lock by workers spinning for work (sched_next). */
	_Atomic uint64_t posted;	/* jobs submitted, stops and resumes */
	_Atomic uint64_t spin_ns;	/* how long an idle worker spins */
};

int sched_init(struct sched *s);
void sched_fini(struct sched *s);

void sched_queue_init(struct sched_queue *q);

/* Queues @j (ntasks >= 1, cost set) on @q. */
void sched_submit(struct sched *s, struct sched_queue *q, struct sched_job *j);

/* An idle worker's spin budget, 0 for none (the default). */
void sched_set_spin(struct sched *s, uint64_t spin_ns);

/*
 * sched_next - the next task for a worker: blocks while nothing can run;
 * returns false when the scheduler stops.  A worker that finds nothing
 * first spins up to the sched_set_spin() budget, watching for a submit,
 * before it sleeps: the next request of a decode loop then finds it awake
 * instead of paying a wake-up per worker (tens of microseconds each when
 * the core has gone idle).
 */
bool sched_next(struct sched *s, struct sched_job **j, int *t);

/* A worker ran task @t of @j: accounts @bytes, then calls j->ops->finish. */
void sched_done(struct sched *s, struct sched_job *j, int t, uint64_t bytes,
		int status);

/*
 * sched_cancel - @q is dead: nothing more may be queued on it, and its
 * tasks not started are dropped (each job's finish gets -ECANCELED with
 * their count).  Tasks already running finish normally.
 */
void sched_cancel(struct sched *s, struct sched_queue *q);

void sched_pause(struct sched *s, bool paused);
void sched_wait_idle(struct sched *s);
/* Wakes every worker to return false from sched_next. */
void sched_stop(struct sched *s);
void sched_queue_stats(struct sched *s, struct sched_queue *q,
		       struct svc_sched_stats *st);

#endif /* HGCA_DAEMON_SCHED_H */
