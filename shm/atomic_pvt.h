/*
 * atomic_pvt.h - the few C11 atomic operations the rings and doorbells use
 * (never installed).  Call sites say which release every acquire pairs
 * with, and why a relaxed access is enough.
 */
#ifndef HGCA_SHM_ATOMIC_PVT_H
#define HGCA_SHM_ATOMIC_PVT_H

#include <stdatomic.h>

#define shm_load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define shm_load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define shm_store_release(p, v) \
	atomic_store_explicit((p), (v), memory_order_release)
#define shm_store_relaxed(p, v) \
	atomic_store_explicit((p), (v), memory_order_relaxed)
#define shm_xchg(p, v) atomic_exchange_explicit((p), (v), memory_order_acq_rel)
#define shm_fetch_add_relaxed(p, v) \
	atomic_fetch_add_explicit((p), (v), memory_order_relaxed)

/* Full barrier: orders an earlier store before a later load (Dekker). */
#define shm_fence_full() atomic_thread_fence(memory_order_seq_cst)

/* Tell the core we are spinning (frees pipeline resources for a sibling
 * hyperthread and saves power). */
static inline void
shm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

#endif /* HGCA_SHM_ATOMIC_PVT_H */
