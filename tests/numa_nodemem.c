/* numa_nodemem - node-bound mappings: unbound and node-0 maps are usable
 * and zero-filled, node 0 is really bound, bad arguments are refused. */
#include "config.h"

#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdint.h>
#include <string.h>

#include "numa/nodemem.h"
#include "tests/tap.h"

static void
check_map(int node, size_t bytes)
{
	unsigned char *p = NULL;
	int err = nodemem_map(bytes, node, (void **)&p), zero = 1, mode = -1;

	if (!ok(err == 0 && p, "map %zu bytes on node %d: %d", bytes, node, err))
		return;
	for (size_t i = 0; i < bytes; i += 4096)
		zero &= p[i] == 0;
	memset(p, 0xa5, bytes);
	ok(zero && p[bytes - 1] == 0xa5, "node %d: zero-filled and writable", node);
	if (node >= 0) {
		unsigned long mask[16] = { 0 };
		int r = get_mempolicy(&mode, mask, 8 * sizeof(mask), p, MPOL_F_ADDR);
		ok(r == 0 && mode == MPOL_BIND && (mask[0] & (1ul << node)),
		   "node %d: policy is MPOL_BIND to it (mode %d)", node, mode);
	}
	nodemem_unmap(p, bytes);
}

int
main(void)
{
	void *p = NULL;
	int n = nodemem_nodes();

	ok(n >= 1, "%d node(s)", n);
	check_map(NODEMEM_ANY, 3 << 20);
	check_map(NODEMEM_ANY, 100);	/* rounded up to a page */
	if (numa_available() >= 0)
		check_map(0, 1 << 20);
	else
		diag("no NUMA support: node binding not checked");
	ok(nodemem_map(0, NODEMEM_ANY, &p) == -EINVAL, "0 bytes: -EINVAL");
	ok(nodemem_map(4096, n, &p) == -EINVAL, "node %d (past the last): -EINVAL", n);
	ok(nodemem_map(4096, -2, &p) == -EINVAL, "node -2: -EINVAL");
	nodemem_unmap(NULL, 4096);	/* a no-op: must not crash */
	return done_testing();
}
