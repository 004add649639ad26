/*
 * region.h - a client's shared-memory region: layout, creation (daemon)
 * and mapping (client).
 *
 * Layout (offsets from the start, each part page-aligned):
 *
 *	0		struct hgca_region_hdr
 *	4096		submission ring ctl, completion ring ctl
 *	8192		sq_entries * struct hgca_sqe
 *	...		cq_entries * struct hgca_cqent
 *	...		cq_entries * struct hgca_cqval
 *	...		staging arena, to the end (64 KiB-aligned)
 *
 * The daemon creates it with memfd_create, sizes it, seals it against
 * shrinking, growing and further seals, and passes the fd with
 * SCM_RIGHTS.  A sealed size means neither side can ever fault on a
 * truncated mapping (SIGBUS), whatever the other does.
 */
#ifndef HGCA_SHM_REGION_H
#define HGCA_SHM_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "shm/proto.h"

#define SHM_REGION_MIN (1u << 20)		/* bytes */
#define SHM_RING_MIN 8u				/* entries */
#define SHM_RING_MAX 65536u
#define SHM_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

struct shm_layout {
	uint64_t size;
	uint32_t entries;	/* sq and cq entries */
	uint64_t sq_ctl_off, cq_ctl_off, sq_off, cq_off, cqv_off;
	uint64_t stage_off, stage_size;
};

/*
 * shm_layout_compute - the layout of a region of @size bytes (rounded up
 * to the page size) with rings of @entries (a power of two in
 * SHM_RING_MIN..SHM_RING_MAX).  0 or -EINVAL (bad entries, or too small
 * for a staging arena of at least 64 KiB).
 */
int shm_layout_compute(struct shm_layout *lo, uint64_t size, uint32_t entries);

/*
 * shm_region_create - daemon: a sealed memfd of lo->size bytes mapped
 * read-write at *@base, with the header and rings initialised (ring
 * indices start at @start).  0 or -errno; nothing to undo on failure.
 */
int shm_region_create(const struct shm_layout *lo, uint32_t client_id,
		      uint32_t start, int *fd, void **base);

/*
 * shm_region_map - client: check that @fd is a sealed memfd whose header
 * agrees with its size and with the layout this side computes, and map
 * it.  0, -EPROTO (bad seals, size or header), or -errno from the kernel.
 */
int shm_region_map(int fd, struct shm_layout *lo, void **base);

#endif /* HGCA_SHM_REGION_H */
