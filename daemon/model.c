/* model.c - checking a declared model and deriving its sizes. */
#include "config.h"

#include <errno.h>
#include <math.h>

#include "daemon/model.h"

static bool
heads_ok(const struct svc_model_desc *d)
{
	return d->hkv >= 1 && d->hq >= d->hkv && d->hq <= SVC_MAX_HEADS &&
	       d->hq % d->hkv == 0;
}

int
model_init(struct svc_model *m, const struct svc_model_desc *desc,
	   int default_page)
{
	struct attn_layout lo;

	if (!desc || desc->layers < 1 || desc->layers > SVC_MAX_LAYERS ||
	    !heads_ok(desc) || desc->window < 0 || desc->page < 0 ||
	    !(desc->scale >= 0.0f) || !isfinite(desc->scale))
		return -EINVAL;
	lo.d = desc->d;
	lo.P = desc->page ? desc->page : default_page;
	lo.dt = desc->dt;
	if (attn_layout_check(&lo) || desc->window % lo.P)
		return -EINVAL;
	if (desc->policy && attn_policy_check(desc->policy))
		return -EINVAL;
	m->layers = desc->layers;
	m->hq = desc->hq;
	m->hkv = desc->hkv;
	m->G = desc->hq / desc->hkv;
	m->window = desc->window;
	m->scale = desc->scale > 0.0f ? desc->scale : 1.0f / sqrtf((float)lo.d);
	m->lo = lo;
	m->page_bytes = attn_page_bytes(&lo);
	m->tok_bytes = (size_t)lo.d * attn_dtype_size(lo.dt);
	m->has_policy = desc->policy != NULL;
	if (desc->policy)
		m->policy = *desc->policy;
	return 0;
}
