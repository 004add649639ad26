/* bell.c - doorbells on shared futexes (see bell.h for the protocol). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shm/atomic_pvt.h"
#include "shm/bell.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449	/* the same number on every architecture */
#endif
#ifndef FUTEX_32
#define FUTEX_32 2		/* older headers: the same ABI */
struct futex_waitv {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t __reserved;
};
#endif

uint32_t
shm_bell_arm(struct hgca_bell *b)
{
	/* Relaxed: seq only needs to be read before the flag is set; the
	 * fence below orders both before the caller's re-check. */
	uint32_t seq = shm_load_relaxed(&b->seq);

	shm_store_relaxed(&b->sleeping, 1);
	/* Pairs with the fence in shm_bell_ring(): our flag store is ordered
	 * before the caller's re-read of the ring's tail. */
	shm_fence_full();
	return seq;
}

void
shm_bell_disarm(struct hgca_bell *b)
{
	/* Relaxed: a stale 1 seen by the waker costs one spurious wake. */
	shm_store_relaxed(&b->sleeping, 0);
}

static struct timespec *
rel_timeout(int64_t ns, struct timespec *ts)
{
	if (ns < 0)
		return NULL;
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	return ts;
}

int
shm_bell_sleep(struct hgca_bell *b, uint32_t seq, int64_t timeout_ns)
{
	struct timespec ts;
	long rc;

	/* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
	rc = syscall(SYS_futex, &b->seq, FUTEX_WAIT, seq,
		     rel_timeout(timeout_ns, &ts), NULL, 0);
	if (rc < 0 && errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return 0;	/* woken, EAGAIN (seq moved) or EINTR */
}

int
shm_bell_sleepv(struct hgca_bell *const *b, const uint32_t *seq, unsigned n,
		int64_t timeout_ns)
{
	struct futex_waitv w[SHM_BELL_MAXV];
	struct timespec ts, *tp = NULL;
	long rc;

	if (n == 0 || n > SHM_BELL_MAXV)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		w[i].val = seq[i];
		w[i].uaddr = (uintptr_t)&b[i]->seq;
		w[i].flags = FUTEX_32;	/* shared, not private */
		w[i].__reserved = 0;
	}
	if (timeout_ns >= 0) {	/* futex_waitv takes an absolute time */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		timeout_ns += ts.tv_nsec;
		ts.tv_sec += timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tp = &ts;
	}
	rc = syscall(SYS_futex_waitv, w, n, 0, tp, CLOCK_MONOTONIC);
	if (rc >= 0)
		return 0;
	if (errno == ENOSYS || errno == ETIMEDOUT)
		return -errno;
	return 0;	/* EAGAIN (a seq moved), EINTR */
}

bool
shm_bell_ring(struct hgca_bell *b)
{
	/* Pairs with the fence in shm_bell_arm(): the caller's publish is
	 * ordered before our read of the flag. */
	shm_fence_full();
	if (!shm_load_relaxed(&b->sleeping))
		return false;
	/* Clear the flag so that later publishes skip the system call; the
	 * exchange makes one waker of several do the wake. */
	if (!shm_xchg(&b->sleeping, 0))
		return false;
	shm_fetch_add_relaxed(&b->seq, 1);	/* the futex compares it */
	syscall(SYS_futex, &b->seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	return true;
}
