/*
 * bell.h - doorbells: how one side of a ring sleeps and the other wakes it
 * (DESIGN.md section 4).  struct hgca_bell lives in shared memory.
 *
 * Waiter (the ring's consumer), after spinning without finding work:
 *
 *	seq = shm_bell_arm(b);		// sleeping = 1, full fence
 *	if (ring not empty)		// re-check after the fence
 *		shm_bell_disarm(b);
 *	else
 *		shm_bell_sleep(b, seq, timeout), shm_bell_disarm(b);
 *
 * Waker (the producer), after shm_ring_publish() or shm_ring_stamp_n()
 * (the waiter's re-check looks at stamps):
 *
 *	shm_bell_ring(b);		// full fence; wake only if sleeping
 *
 * The two full fences make a Dekker pair: either the waiter's re-check sees
 * the new entries, or the waker sees the sleeping flag.  A wake that comes
 * between arm and the futex wait changes seq, so the wait returns at once.
 */
#ifndef HGCA_SHM_BELL_H
#define HGCA_SHM_BELL_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/proto.h"

#define SHM_BELL_MAXV 128	/* most bells shm_bell_sleepv() waits on */

uint32_t shm_bell_arm(struct hgca_bell *b);
void shm_bell_disarm(struct hgca_bell *b);

/*
 * shm_bell_sleep - futex-wait until woken or @timeout_ns passes (< 0: no
 * limit).  0 when woken (or when seq had already moved, or on a signal),
 * -ETIMEDOUT.
 */
int shm_bell_sleep(struct hgca_bell *b, uint32_t seq, int64_t timeout_ns);

/*
 * shm_bell_sleepv - wait on up to SHM_BELL_MAXV bells at once (futex_waitv).
 * 0, -ETIMEDOUT, or -ENOSYS when the kernel lacks futex_waitv (then the
 * caller sleeps on one bell with a short timeout instead).
 */
int shm_bell_sleepv(struct hgca_bell *const *b, const uint32_t *seq,
		    unsigned n, int64_t timeout_ns);

/* Wake the waiter if it is (about to be) asleep.  True when a system call
 * was made. */
bool shm_bell_ring(struct hgca_bell *b);

#endif /* HGCA_SHM_BELL_H */
