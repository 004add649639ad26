/* nodemem.c - node-bound anonymous mappings (see nodemem.h). */
#include "config.h"

#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <sys/mman.h>
#include <unistd.h>

#include "numa/nodemem.h"

int
nodemem_nodes(void)
{
	if (numa_available() < 0)
		return 1;
	return numa_max_node() + 1;
}

static size_t
round_to_pages(size_t bytes)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (bytes + pg - 1) / pg * pg;
}

/* Bind [p, p + len) to @node; mbind(2) sets errno, we return it. */
static int
bind_node(void *p, size_t len, int node)
{
	unsigned long mask[16] = { 0 };	/* 1024 nodes */
	const size_t bits = 8 * sizeof(unsigned long);

	if ((size_t)node >= bits * 16)
		return -EINVAL;
	mask[node / bits] = 1ul << (node % bits);
	if (mbind(p, len, MPOL_BIND, mask, bits * 16, 0) != 0)
		return -errno;
	return 0;
}

int
nodemem_map(size_t bytes, int node, void **out)
{
	size_t len;
	void *p;
	int err;

	if (bytes == 0 || node < NODEMEM_ANY ||
	    (node >= 0 && node >= nodemem_nodes()))
		return -EINVAL;
	len = round_to_pages(bytes);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (node >= 0) {
		err = bind_node(p, len, node);
		if (err) {
			munmap(p, len);
			return err;
		}
	}
	*out = p;
	return 0;
}

void
nodemem_unmap(void *p, size_t bytes)
{
	if (p)
		munmap(p, round_to_pages(bytes));
}
