/*
 * nodemem.h - node-local memory regions (DESIGN.md section 6): anonymous
 * mappings bound to one NUMA node with mbind(2), or left to the kernel's
 * default policy for NODEMEM_ANY.  The KV pools of the daemon are made of
 * these.  Placement (which node holds what) is decided elsewhere; this only
 * does what it is told.
 *
 * Ownership: the caller owns the mapping and returns it with nodemem_unmap.
 */
#ifndef HGCA_NUMA_NODEMEM_H
#define HGCA_NUMA_NODEMEM_H

#include <stddef.h>

#define NODEMEM_ANY (-1)	/* no binding: the kernel's default policy */

/* Number of NUMA nodes the kernel reports (1 without NUMA support). */
int nodemem_nodes(void);

/*
 * nodemem_map - map @bytes (> 0, rounded up to the system page size) of
 * zero-filled private memory, bound to @node (0 .. nodemem_nodes() - 1) or
 * unbound for NODEMEM_ANY.  Memory is reserved lazily (MAP_NORESERVE) and
 * faulted in on first touch, on @node.
 * Returns 0, -EINVAL (bytes 0, node out of range) or the negative errno of
 * mmap(2) or mbind(2).
 */
int nodemem_map(size_t bytes, int node, void **out);

/* Undo nodemem_map; NULL is a no-op.  @bytes as given to nodemem_map. */
void nodemem_unmap(void *p, size_t bytes);

#endif /* HGCA_NUMA_NODEMEM_H */
