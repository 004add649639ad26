/*
 * spin.h - how long a waiter spins before it sleeps on a doorbell.
 *
 * Bounded and adaptive: a waiter spins at most cap_ns, and spins only a
 * short floor when its recent waits (a moving average) were far longer
 * than the cap (an idle peer), since then spinning only burns the core.  The cap
 * itself shrinks when runnable threads outnumber the cores we may run on
 * (shm_spin_scale()), so spinning never steals a core from real work.
 */
#ifndef HGCA_SHM_SPIN_H
#define HGCA_SHM_SPIN_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct shm_spin {
	uint64_t cap_ns;	/* most we spin for one wait */
	uint64_t avg_ns;	/* moving average of recent waits */
	uint32_t idle_x;	/* average wait / cap past which we spin only
				 * the floor (SHM_SPIN_IDLE_X from init; lower
				 * it for waits that are long because the peer
				 * works, not because it sleeps) */
};

#define SHM_SPIN_FLOOR_NS 1000	/* spin at least this, unless cap is 0 */
#define SHM_SPIN_IDLE_X 64	/* average wait / cap that means "idle peer" */

static inline uint64_t
shm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* vDSO: no system call */
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void shm_spin_init(struct shm_spin *s, uint64_t cap_ns);

/* How long to spin for the next wait. */
uint64_t shm_spin_limit(const struct shm_spin *s);

/* Record how long a wait took (spinning plus sleeping). */
void shm_spin_learn(struct shm_spin *s, uint64_t waited_ns);

/*
 * shm_spin_scale - the spin budget for @runnable runnable threads on
 * @cores cores: @base_ns while they fit, else base * cores / runnable / 4
 * (waiters then mostly sleep, which is the right trade on a busy machine).
 */
uint64_t shm_spin_scale(uint64_t base_ns, int runnable, int cores);

/* Cores this thread may run on (sched_getaffinity), at least 1. */
int shm_spin_cores(void);

/*
 * shm_spin_runnable - runnable threads on the machine now, from
 * /proc/loadavg (@fd open on it, read with pread).  The caller's own
 * thread is not counted.  -errno on failure.
 */
int shm_spin_runnable(int fd);

#endif /* HGCA_SHM_SPIN_H */
