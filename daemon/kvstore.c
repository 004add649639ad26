/* kvstore.c - KV pools (slabs of page slots) and sequence page tables. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "daemon/kvstore.h"
#include "numa/nodemem.h"

#define NIL (-1)

struct kv_slab {
	uint32_t slot_bytes;	/* 0: the slab is free */
	uint32_t nslots, nfree;
	uint32_t *stack;	/* [nslots] free slot indices, nfree on top */
	int32_t prev, next;	/* its class's list of slabs with free slots */
	int cls;
};

struct kv_class {
	uint32_t slot_bytes;
	int32_t partial;	/* first slab with a free slot, or NIL */
};

/* Everything in a pool is protected by its lock (a leaf lock). */
struct kv_pool {
	pthread_mutex_t lock;
	int node;
	char *base;
	size_t bytes;
	uint32_t nslabs, nfree;
	uint32_t *free;		/* [nslabs] free slab indices */
	struct kv_slab *slab;	/* [nslabs] */
	struct kv_class *cls;
	int ncls;
	int64_t pages;
};

static size_t
round64(size_t x)
{
	return (x + 63) & ~(size_t)63;
}

/* Slot layout: K page, V page, kmin[d], kmax[d], each 64-byte aligned. */
static size_t
slot_v_off(const struct svc_model *m)
{
	return round64(m->page_bytes);
}

static size_t
slot_sum_off(const struct svc_model *m)
{
	return 2 * round64(m->page_bytes);
}

static uint32_t
slot_bytes(const struct svc_model *m)
{
	return (uint32_t)round64(slot_sum_off(m) + 2 * sizeof(float) * m->lo.d);
}

/* ---- pools ---------------------------------------------------------- */

static int
pool_init(struct kv_pool *p, int node, size_t bytes)
{
	int err;

	p->node = node;
	p->nslabs = (uint32_t)(bytes / KV_SLAB_BYTES);
	p->bytes = (size_t)p->nslabs * KV_SLAB_BYTES;
	if (p->nslabs == 0)
		return -EINVAL;
	p->free = malloc(p->nslabs * sizeof(*p->free));
	p->slab = calloc(p->nslabs, sizeof(*p->slab));
	if (!p->free || !p->slab)
		return -ENOMEM;
	err = nodemem_map(p->bytes, node, (void **)&p->base);
	if (err)
		return err;
	/* Workers stream GiBs of pages: huge pages spare the TLB.  Only a
	 * hint (THP may be off); slabs are 2 MiB, a huge page each. */
	(void)madvise(p->base, p->bytes, MADV_HUGEPAGE);
	/* Highest index at the bottom: slabs are handed out from the start. */
	for (uint32_t i = 0; i < p->nslabs; i++)
		p->free[i] = p->nslabs - 1 - i;
	p->nfree = p->nslabs;
	pthread_mutex_init(&p->lock, NULL);
	return 0;
}

static void
pool_fini(struct kv_pool *p)
{
	if (p->base) {
		pthread_mutex_destroy(&p->lock);
		nodemem_unmap(p->base, p->bytes);
	}
	for (uint32_t i = 0; p->slab && i < p->nslabs; i++)
		free(p->slab[i].stack);
	free(p->slab);
	free(p->free);
	free(p->cls);
}

static int
pool_class(struct kv_pool *p, uint32_t bytes)
{
	struct kv_class *c;

	for (int i = 0; i < p->ncls; i++)
		if (p->cls[i].slot_bytes == bytes)
			return i;
	c = realloc(p->cls, (p->ncls + 1) * sizeof(*c));
	if (!c)
		return -ENOMEM;
	p->cls = c;
	c[p->ncls].slot_bytes = bytes;
	c[p->ncls].partial = NIL;
	return p->ncls++;
}

static void
list_remove(struct kv_pool *p, struct kv_class *c, int32_t i)
{
	struct kv_slab *sl = &p->slab[i];

	if (sl->prev != NIL)
		p->slab[sl->prev].next = sl->next;
	else
		c->partial = sl->next;
	if (sl->next != NIL)
		p->slab[sl->next].prev = sl->prev;
	sl->prev = sl->next = NIL;
}

static void
list_push(struct kv_pool *p, struct kv_class *c, int32_t i)
{
	struct kv_slab *sl = &p->slab[i];

	sl->prev = NIL;
	sl->next = c->partial;
	if (c->partial != NIL)
		p->slab[c->partial].prev = i;
	c->partial = i;
}

/* Takes a free slab for class @ci; its index or a negative errno. */
static int32_t
slab_take(struct kv_pool *p, int ci)
{
	struct kv_class *c = &p->cls[ci];
	uint32_t n = (uint32_t)(KV_SLAB_BYTES / c->slot_bytes);
	struct kv_slab *sl;
	int32_t i;

	if (p->nfree == 0)
		return -ENOSPC;
	i = (int32_t)p->free[p->nfree - 1];
	sl = &p->slab[i];
	sl->stack = malloc(n * sizeof(*sl->stack));
	if (!sl->stack)
		return -ENOMEM;
	p->nfree--;
	for (uint32_t s = 0; s < n; s++)
		sl->stack[s] = n - 1 - s;
	sl->slot_bytes = c->slot_bytes;
	sl->nslots = sl->nfree = n;
	sl->cls = ci;
	list_push(p, c, i);
	return i;
}

static int
pool_alloc(struct kv_pool *p, uint32_t bytes, char **out)
{
	struct kv_slab *sl;
	int32_t i;
	int ci, err = 0;

	pthread_mutex_lock(&p->lock);
	ci = pool_class(p, bytes);
	if (ci < 0) {
		err = ci;
		goto out;
	}
	i = p->cls[ci].partial;
	if (i == NIL)
		i = slab_take(p, ci);
	if (i < 0) {
		err = i;
		goto out;
	}
	sl = &p->slab[i];
	*out = p->base + (size_t)i * KV_SLAB_BYTES +
	       (size_t)sl->stack[--sl->nfree] * sl->slot_bytes;
	if (sl->nfree == 0)
		list_remove(p, &p->cls[ci], i);
	p->pages++;
out:
	pthread_mutex_unlock(&p->lock);
	return err;
}

static void
pool_free(struct kv_pool *p, char *slot)
{
	size_t off = (size_t)(slot - p->base);
	int32_t i = (int32_t)(off / KV_SLAB_BYTES);
	struct kv_slab *sl = &p->slab[i];
	struct kv_class *c;

	pthread_mutex_lock(&p->lock);
	c = &p->cls[sl->cls];
	sl->stack[sl->nfree++] = (uint32_t)(off % KV_SLAB_BYTES / sl->slot_bytes);
	if (sl->nfree == 1)
		list_push(p, c, i);
	if (sl->nfree == sl->nslots) {	/* empty: back to the pool */
		list_remove(p, c, i);
		free(sl->stack);
		sl->stack = NULL;
		sl->slot_bytes = 0;
		p->free[p->nfree++] = (uint32_t)i;
	}
	p->pages--;
	pthread_mutex_unlock(&p->lock);
}

int
kv_store_create(struct kv_store **out, int nodes, int64_t bytes)
{
	int n = nodes > 0 ? nodes : 1, err = 0;
	struct kv_store *kv;

	if (nodes < 0 || bytes < (int64_t)KV_SLAB_BYTES * n)
		return -EINVAL;
	kv = calloc(1, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	kv->pools = calloc((size_t)n, sizeof(*kv->pools));
	if (!kv->pools) {
		err = -ENOMEM;
		goto out_free;
	}
	kv->npools = n;
	for (int i = 0; i < n && !err; i++)
		err = pool_init(&kv->pools[i], nodes > 0 ? i : NODEMEM_ANY,
				(size_t)(bytes / n));
	if (!err) {
		*out = kv;
		return 0;
	}
out_free:
	kv_store_destroy(kv);
	return err;
}

void
kv_store_destroy(struct kv_store *kv)
{
	if (!kv)
		return;
	for (int i = 0; kv->pools && i < kv->npools; i++)
		pool_fini(&kv->pools[i]);
	free(kv->pools);
	free(kv);
}

int
kv_store_stats(struct kv_store *kv, int i, struct svc_pool_stats *st)
{
	struct kv_pool *p;

	if (i < 0 || i >= kv->npools)
		return -EINVAL;
	p = &kv->pools[i];
	pthread_mutex_lock(&p->lock);
	st->node = p->node;
	st->bytes = (int64_t)p->bytes;
	st->slabs = p->nslabs;
	st->slabs_free = p->nfree;
	st->pages = p->pages;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* ---- sequences ------------------------------------------------------ */

/* Home pool of a (layer, KV head): spread over the nodes. */
static struct kv_pool *
home_pool(struct kv_store *kv, const struct svc_model *m, int layer, int head)
{
	return &kv->pools[((int64_t)layer * m->hkv + head) % kv->npools];
}

static struct kv_list *
seq_list(const struct kv_seq *s, int layer, int head)
{
	return &s->lists[(size_t)layer * s->m->hkv + head];
}

static int64_t
pages_for(const struct svc_model *m, int64_t len)
{
	return (len + m->lo.P - 1) / m->lo.P;
}

int
kv_seq_init(struct kv_seq *s, const struct svc_model *m)
{
	s->m = m;
	s->pages = 0;
	s->len = calloc((size_t)m->layers, sizeof(*s->len));
	s->lists = calloc((size_t)m->layers * m->hkv, sizeof(*s->lists));
	if (!s->len || !s->lists) {
		free(s->len);
		free(s->lists);
		return -ENOMEM;
	}
	return 0;
}

int64_t
kv_seq_pages_needed(const struct kv_seq *s, int layer, int64_t n)
{
	const struct svc_model *m = s->m;

	return (pages_for(m, s->len[layer] + n) - pages_for(m, s->len[layer])) *
	       m->hkv;
}

static int
list_reserve(struct kv_list *l, int64_t n)
{
	char **p;
	int64_t cap;

	if (n <= l->cap)
		return 0;
	cap = l->cap ? l->cap : 16;
	while (cap < n)
		cap *= 2;
	p = realloc(l->slot, (size_t)cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	l->slot = p;
	l->cap = cap;
	return 0;
}

/* Frees pages [from, to) of one list. */
static void
list_free(struct kv_store *kv, const struct kv_seq *s, int layer, int head,
	  int64_t from, int64_t to)
{
	struct kv_pool *p = home_pool(kv, s->m, layer, head);
	struct kv_list *l = seq_list(s, layer, head);

	for (int64_t i = from; i < to; i++)
		pool_free(p, l->slot[i]);
}

/* Allocates pages [from, to) of every head of @layer, or none. */
static int
alloc_pages(struct kv_store *kv, struct kv_seq *s, int layer, int64_t from,
	    int64_t to)
{
	const struct svc_model *m = s->m;
	int err = 0, h;
	int64_t i = from;

	for (h = 0; h < m->hkv && !err; h++)
		err = list_reserve(seq_list(s, layer, h), to);
	for (h = 0; h < m->hkv && !err; h++)
		for (i = from; i < to && !err; i++)
			err = pool_alloc(home_pool(kv, m, layer, h), slot_bytes(m),
					 &seq_list(s, layer, h)->slot[i]);
	if (!err)
		return 0;
	/* Head h - 1 got pages [from, i - 1); the heads before it all. */
	if (h > 0)
		list_free(kv, s, layer, h - 1, from, i - 1);
	for (int g = 0; g < h - 1; g++)
		list_free(kv, s, layer, g, from, to);
	return err;
}

/* Writes tokens [t0, t0 + n) of one head into its pages. */
static void
write_head(struct kv_seq *s, int layer, int head, int64_t len, int64_t n,
	   const char *k, const char *v)
{
	const struct svc_model *m = s->m;
	struct kv_list *l = seq_list(s, layer, head);
	size_t stride = m->tok_bytes * m->hkv, first = m->tok_bytes * head;
	int P = m->lo.P;

	for (int64_t t = 0; t < n; t++) {
		int64_t at = len + t;
		char *slot = l->slot[at / P];
		int off = (int)(at % P);

		attn_page_write(&m->lo, slot, slot + slot_v_off(m), off,
				k + t * stride + first, v + t * stride + first, 1);
		if (off == P - 1) {	/* the page is full: summarize it */
			float *sum = (float *)(slot + slot_sum_off(m));
			attn_page_summarize(&m->lo, slot, P, sum, sum + m->lo.d);
		}
	}
}

int
kv_seq_append(struct kv_store *kv, struct kv_seq *s, int layer, int64_t n,
	      const void *k, const void *v)
{
	const struct svc_model *m = s->m;
	int64_t len = s->len[layer];
	int64_t from = pages_for(m, len), to = pages_for(m, len + n);
	int err;

	err = alloc_pages(kv, s, layer, from, to);
	if (err)
		return err;
	for (int h = 0; h < m->hkv; h++)
		write_head(s, layer, h, len, n, k, v);
	s->len[layer] = len + n;
	s->pages += (to - from) * m->hkv;
	return 0;
}

int64_t
kv_seq_truncate(struct kv_store *kv, struct kv_seq *s, int64_t n)
{
	const struct svc_model *m = s->m;
	int64_t freed = 0;

	for (int l = 0; l < m->layers; l++) {
		int64_t from = pages_for(m, s->len[l] - n), to = pages_for(m, s->len[l]);

		for (int h = 0; h < m->hkv; h++)
			list_free(kv, s, l, h, from, to);
		freed += (to - from) * m->hkv;
		/* A page left partial loses its summary: kv_seq_page only
		 * passes summaries of full pages. */
		s->len[l] -= n;
	}
	s->pages -= freed;
	return freed;
}

int64_t
kv_seq_release(struct kv_store *kv, struct kv_seq *s)
{
	const struct svc_model *m = s->m;
	int64_t freed = s->pages;

	for (int l = 0; l < m->layers; l++)
		for (int h = 0; h < m->hkv; h++) {
			list_free(kv, s, l, h, 0, pages_for(m, s->len[l]));
			free(seq_list(s, l, h)->slot);
		}
	free(s->lists);
	free(s->len);
	s->lists = NULL;
	s->len = NULL;
	s->pages = 0;
	return freed;
}

void
kv_seq_page(const struct kv_seq *s, int layer, int head, int64_t i,
	    int64_t len, struct attn_page *pg)
{
	const struct svc_model *m = s->m;
	char *slot = seq_list(s, layer, head)->slot[i];
	int64_t pos = i * m->lo.P;
	int64_t n = len - pos < m->lo.P ? len - pos : m->lo.P;
	const float *sum = (const float *)(slot + slot_sum_off(m));

	pg->k = slot;
	pg->v = slot + slot_v_off(m);
	pg->kmin = n == m->lo.P ? sum : NULL;
	pg->kmax = n == m->lo.P ? sum + m->lo.d : NULL;
	pg->pos = pos;
	pg->n = (int)n;
}
