/*
 * model.h - a declared model's shape, checked, with the sizes derived from
 * it (daemon-internal).  Immutable once declared, so workers read it
 * without locks.
 */
#ifndef HGCA_DAEMON_MODEL_H
#define HGCA_DAEMON_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "attn/paged.h"
#include "daemon/service.h"

struct svc_model {
	int layers, hq, hkv, G;		/* G = hq / hkv */
	int window;			/* W, a multiple of lo.P */
	float scale;
	struct attn_layout lo;		/* d, P, dt of every page */
	size_t page_bytes;		/* one K (or V) page */
	size_t tok_bytes;		/* one token of one head: d * dtype */
	bool has_policy;
	struct attn_policy policy;	/* when has_policy */
};

/*
 * model_init - checks @desc and fills @m; a page size of 0 takes
 * @default_page.  Returns 0 or -EINVAL.
 */
int model_init(struct svc_model *m, const struct svc_model_desc *desc,
	       int default_page);

/* K+V bytes of one page pair, what KV quotas count. */
static inline size_t
model_kv_page_bytes(const struct svc_model *m)
{
	return 2 * m->page_bytes;
}

#endif /* HGCA_DAEMON_MODEL_H */
