/*
 * kvstore.h - the daemon's KV store (DESIGN.md section 3): pools of pages,
 * one pool per NUMA node, and the page tables of sequences.
 *
 * A pool is one node-bound mapping cut into 2 MiB slabs; a slab is cut into
 * equal slots for one slot size (one per page layout in use) and goes back
 * to the pool as soon as its last slot is freed, so an idle pool has every
 * slab free.  A slot holds one page of one (sequence, layer, KV head): its
 * K page ([d][P], dimension-major), its V page ([P][d], token-major) and
 * its summary (kmin[d], kmax[d] in fp32, valid once the page is full).
 *
 * Locking: each pool has its own mutex (a leaf: nothing is locked under
 * it).  A kv_seq is not locked here: its owner serializes changes and
 * guarantees that no worker reads a layer being changed (service.c's busy
 * counts).
 */
#ifndef HGCA_DAEMON_KVSTORE_H
#define HGCA_DAEMON_KVSTORE_H

#include <stdint.h>

#include "attn/paged.h"
#include "daemon/model.h"
#include "daemon/service.h"

#define KV_SLAB_BYTES ((size_t)2 << 20)

struct kv_pool;

struct kv_store {
	int npools;
	struct kv_pool *pools;
};

/*
 * kv_store_create - @npools pools of @bytes / npools each (at least one
 * slab each), bound to nodes 0..npools-1, or one unbound pool when
 * @nodes is 0.  Returns 0, -EINVAL, -ENOMEM or nodemem_map's error.
 */
int kv_store_create(struct kv_store **out, int nodes, int64_t bytes);
void kv_store_destroy(struct kv_store *kv);
int kv_store_stats(struct kv_store *kv, int pool, struct svc_pool_stats *st);

/* Pages of one (sequence, layer, KV head): slot pointers, oldest first. */
struct kv_list {
	char **slot;
	int64_t cap;
};

struct kv_seq {
	const struct svc_model *m;
	int64_t *len;		/* [layers] tokens stored */
	struct kv_list *lists;	/* [layers][hkv] */
	int64_t pages;		/* page slots held, all layers and heads */
};

/* 0 or -ENOMEM. */
int kv_seq_init(struct kv_seq *s, const struct svc_model *m);

/* Pages that appending @n tokens to @layer would allocate (all heads). */
int64_t kv_seq_pages_needed(const struct kv_seq *s, int layer, int64_t n);

/*
 * kv_seq_append - appends @n tokens given token-major as [n][hkv][d] in the
 * model's dtype, summarizing each page that fills.  All or nothing:
 * 0, -ENOSPC (pools exhausted) or -ENOMEM.
 */
int kv_seq_append(struct kv_store *kv, struct kv_seq *s, int layer,
		  int64_t n, const void *k, const void *v);

/* Drops the last @n tokens of every layer (the caller checked that each
 * has them); returns the pages freed. */
int64_t kv_seq_truncate(struct kv_store *kv, struct kv_seq *s, int64_t n);

/* Frees every page and the tables; returns the pages freed. */
int64_t kv_seq_release(struct kv_store *kv, struct kv_seq *s);

/*
 * The dense window of a (sequence, layer) of @len tokens starts at page
 * kv_window_first(m, len): the most recent W .. W + P - 1 tokens (all of
 * them when there are fewer); pages before it are the sparse part.
 */
static inline int64_t
kv_window_first(const struct svc_model *m, int64_t len)
{
	int64_t full = len / m->lo.P, wp = m->window / m->lo.P;

	return full > wp ? full - wp : 0;
}

/* Page @i of (@layer, @head) as the engine reads it, for a sequence whose
 * layer holds @len tokens (the summary only when the page is full). */
void kv_seq_page(const struct kv_seq *s, int layer, int head, int64_t i,
		 int64_t len, struct attn_page *pg);

#endif /* HGCA_DAEMON_KVSTORE_H */
