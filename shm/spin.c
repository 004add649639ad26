/* spin.c - the adaptive spin budget (see spin.h). */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "shm/spin.h"

void
shm_spin_init(struct shm_spin *s, uint64_t cap_ns)
{
	s->cap_ns = cap_ns;
	s->avg_ns = 0;
	s->idle_x = SHM_SPIN_IDLE_X;
}

uint64_t
shm_spin_limit(const struct shm_spin *s)
{
	/* Only a peer idle for far longer than the budget makes us spin
	 * less: waits a few times the budget are what sleeping itself
	 * costs (the peer's wake-up), and shrinking then would make every
	 * wait sleep, which makes every wait long: a spiral. */
	if (s->avg_ns <= s->idle_x * s->cap_ns)
		return s->cap_ns;
	return s->cap_ns < SHM_SPIN_FLOOR_NS ? s->cap_ns : SHM_SPIN_FLOOR_NS;
}

void
shm_spin_learn(struct shm_spin *s, uint64_t waited_ns)
{
	uint64_t clip = 2 * s->idle_x * s->cap_ns + SHM_SPIN_FLOOR_NS;

	/* Clipped, so that one long idle period does not stop spinning for
	 * long; weight 1/8 forgets in about ten waits. */
	if (waited_ns > clip)
		waited_ns = clip;
	s->avg_ns = s->avg_ns - s->avg_ns / 8 + waited_ns / 8;
}

uint64_t
shm_spin_scale(uint64_t base_ns, int runnable, int cores)
{
	if (cores < 1)
		cores = 1;
	if (runnable <= cores)
		return base_ns;
	return base_ns * (uint64_t)cores / (uint64_t)runnable / 4;
}

int
shm_spin_cores(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
}

int
shm_spin_runnable(int fd)
{
	char buf[128];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	double l1, l5, l15;
	int running, total;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	/* "0.08 0.16 0.09 1/88 2032": running/total entities. */
	if (sscanf(buf, "%lf %lf %lf %d/%d", &l1, &l5, &l15, &running,
		   &total) != 5)
		return -EINVAL;
	return running > 0 ? running - 1 : 0;	/* not the reader itself */
}
