/*
 * svc_store - the KV store: page contents (K dimension-major, V
 * token-major) after bulk and token-by-token appends, summaries of full
 * pages only, truncation (freeing pages, dropping and rebuilding the
 * summary of a page left partial), all-or-nothing appends when the pools
 * run out, slabs shared by page sizes and returned when empty.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <numa.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/kvstore.h"
#include "numa/nodemem.h"
#include "tests/ref64.h"
#include "tests/svc_help.h"
#include "tests/tap.h"

static struct rng rg;

static int
append(struct kv_store *kv, struct kv_seq *s, int layer, struct kvm *m,
       int64_t n)
{
	void *k, *v;
	size_t bytes;
	int err;

	kvm_grow(m, &rg, n, 1.0, &k, &v, &bytes);
	err = kv_seq_append(kv, s, layer, n, k, v);
	if (err)
		kvm_truncate(m, n);
	free(k);
	free(v);
	return err;
}

/* Every page of (layer, head) against the mirror: 0 if all match. */
static int
check_pages(const struct kv_seq *s, int layer, int head, const struct kvm *m)
{
	const struct svc_model *md = s->m;
	int d = md->lo.d, P = md->lo.P, bad = 0;
	int64_t len = s->len[layer];
	struct attn_page pg;
	float x;

	if (len != m->n)
		return 1;
	for (int64_t i = 0; i * P < len; i++) {
		kv_seq_page(s, layer, head, i, len, &pg);
		bad |= pg.pos != i * P || pg.n != (len - i * P < P ? len - i * P : P);
		bad |= (pg.n == P) != (pg.kmin != NULL && pg.kmax != NULL);
		for (int c = 0; c < d; c++) {
			float lo = INFINITY, hi = -INFINITY;

			for (int t = 0; t < pg.n; t++) {
				size_t at = ((size_t)(i * P + t) * m->hkv + head) * d + c;
				attn_to_f32(md->lo.dt, (const char *)pg.k +
					    ((size_t)c * P + t) * attn_dtype_size(md->lo.dt), &x, 1);
				bad |= x != m->k[at];
				attn_to_f32(md->lo.dt, (const char *)pg.v +
					    ((size_t)t * d + c) * attn_dtype_size(md->lo.dt), &x, 1);
				bad |= x != m->v[at];
				lo = fminf(lo, m->k[at]);
				hi = fmaxf(hi, m->k[at]);
			}
			if (pg.kmin)
				bad |= pg.kmin[c] != lo || pg.kmax[c] != hi;
		}
	}
	return bad;
}

static int
check_all(const struct kv_seq *s, struct kvm *mir)
{
	int bad = 0;

	for (int l = 0; l < s->m->layers; l++)
		for (int h = 0; h < s->m->hkv; h++)
			bad |= check_pages(s, l, h, &mir[l]);
	return bad;
}

static void
pool(struct kv_store *kv, int64_t *pages, int64_t *free_slabs)
{
	struct svc_pool_stats st;

	*pages = *free_slabs = 0;
	for (int i = 0; i < kv->npools; i++) {
		kv_store_stats(kv, i, &st);
		*pages += st.pages;
		*free_slabs += st.slabs_free;
	}
}

static void
model(struct svc_model *m, int layers, int hkv, int d, enum attn_dtype dt, int P)
{
	struct svc_model_desc md = { .layers = layers, .hq = hkv, .hkv = hkv,
				     .d = d, .dt = dt, .page = P };

	if (model_init(m, &md, ATTN_PAGE_DEFAULT))
		abort();
}

static void
contents(void)
{
	static const enum attn_dtype dts[] = { ATTN_BF16, ATTN_F32, ATTN_F16 };

	for (int i = 0; i < 3; i++) {
		struct kv_store *kv;
		struct svc_model m;
		struct kv_seq s;
		struct kvm mir[2];
		int64_t pages, fs;
		int err, bad;

		model(&m, 2, 3, 24, dts[i], 16);
		err = kv_store_create(&kv, 0, 8 << 20);
		err = err ? err : kv_seq_init(&s, &m);
		if (!ok(!err, "%s: store and sequence: %d", attn_dtype_name(dts[i]), err))
			return;
		for (int l = 0; l < 2; l++)
			kvm_init(&mir[l], 3, 24, dts[i]);
		/* Layer 0 in bulk (37), layer 1 token by token (37). */
		err = append(kv, &s, 0, &mir[0], 20);
		err = err ? err : append(kv, &s, 0, &mir[0], 17);
		for (int t = 0; t < 37 && !err; t++)
			err = append(kv, &s, 1, &mir[1], 1);
		bad = check_all(&s, mir);
		pool(kv, &pages, &fs);
		ok(!err && !bad && pages == 2 * 3 * 3 && s.pages == pages,
		   "%s: 37 tokens x 2 layers x 3 heads: contents and summaries right, "
		   "%lld pages", attn_dtype_name(dts[i]), (long long)pages);
		/* 37 -> 31: page 2 goes, page 1 is left with 15 tokens. */
		pages = kv_seq_truncate(kv, &s, 6);
		for (int l = 0; l < 2; l++)
			kvm_truncate(&mir[l], 6);
		bad = check_all(&s, mir);
		ok(pages == 2 * 3 && !bad, "%s: truncate 6 frees %lld pages, partial "
		   "page has no summary", attn_dtype_name(dts[i]), (long long)pages);
		/* Refill page 1 with a new token: its summary is rebuilt. */
		err = append(kv, &s, 0, &mir[0], 1);
		err = err ? err : append(kv, &s, 1, &mir[1], 1);
		bad = check_all(&s, mir);
		ok(!err && !bad, "%s: refilled page summarized anew",
		   attn_dtype_name(dts[i]));
		pages = kv_seq_release(kv, &s);
		pool(kv, &pages, &fs);
		ok(pages == 0 && fs == 4, "%s: release: %lld pages in use, %lld of 4 "
		   "slabs free", attn_dtype_name(dts[i]), (long long)pages, (long long)fs);
		for (int l = 0; l < 2; l++)
			kvm_free(&mir[l]);
		kv_store_destroy(kv);
	}
}

/* One slab of 257 KiB slots holds 7 pages: the 4th two-page append fails
 * and changes nothing. */
static void
exhaustion(void)
{
	struct kv_store *kv;
	struct svc_model m;
	struct kv_seq s;
	struct kvm mir;
	int64_t pages, fs, before;
	int err = 0, n = 0;

	model(&m, 1, 2, 128, ATTN_F32, 256);
	if (kv_store_create(&kv, 0, 2 << 20) || kv_seq_init(&s, &m))
		abort();
	kvm_init(&mir, 2, 128, ATTN_F32);
	while (!err && n < 10) {
		pool(kv, &before, &fs);
		err = append(kv, &s, 0, &mir, 256);
		n += !err;
	}
	pool(kv, &pages, &fs);
	ok(err == -ENOSPC && n == 3 && pages == before && pages == 6 &&
	   s.len[0] == 3 * 256 && !check_all(&s, &mir),
	   "pool exhausted after %d appends: -ENOSPC (%d), nothing changed "
	   "(%lld pages)", n, err, (long long)pages);
	/* A partial last page still takes tokens with the pool exhausted. */
	kv_seq_truncate(kv, &s, 1);
	kvm_truncate(&mir, 1);
	err = append(kv, &s, 0, &mir, 1);
	ok(err == 0 && kv_seq_pages_needed(&s, 0, 1) == 2 && !check_all(&s, &mir),
	   "exhausted pool: a token into the partial last page fits (%d)", err);
	kv_seq_release(kv, &s);
	pool(kv, &pages, &fs);
	ok(pages == 0 && fs == 1, "released: %lld pages, %lld slab free",
	   (long long)pages, (long long)fs);
	kvm_free(&mir);
	kv_store_destroy(kv);
}

/* Two page sizes share a pool's slabs; all slabs return when freed. */
static void
two_sizes(void)
{
	struct kv_store *kv;
	struct svc_model ma, mb;
	struct kv_seq sa, sb;
	struct kvm ka, kb;
	int64_t pages, fs;
	int err;

	model(&ma, 1, 1, 64, ATTN_BF16, 64);
	model(&mb, 1, 2, 32, ATTN_F32, 16);
	if (kv_store_create(&kv, 0, 16 << 20) || kv_seq_init(&sa, &ma) ||
	    kv_seq_init(&sb, &mb))
		abort();
	kvm_init(&ka, 1, 64, ATTN_BF16);
	kvm_init(&kb, 2, 32, ATTN_F32);
	err = append(kv, &sa, 0, &ka, 5000);
	err = err ? err : append(kv, &sb, 0, &kb, 3000);
	pool(kv, &pages, &fs);
	ok(!err && pages == 79 + 2 * 188 && fs < 8 && !check_all(&sa, &ka) &&
	   !check_all(&sb, &kb), "two page sizes: %lld pages, %lld slabs free",
	   (long long)pages, (long long)fs);
	kv_seq_release(kv, &sa);
	kv_seq_release(kv, &sb);
	pool(kv, &pages, &fs);
	ok(pages == 0 && fs == 8, "released: %lld pages, %lld of 8 slabs free",
	   (long long)pages, (long long)fs);
	kvm_free(&ka);
	kvm_free(&kb);
	kv_store_destroy(kv);
}

static void
bad_stores(void)
{
	struct kv_store *kv = NULL;
	struct svc_pool_stats st;
	int err;

	ok(kv_store_create(&kv, 0, (2 << 20) - 1) == -EINVAL, "pool under one slab: -EINVAL");
	ok(kv_store_create(&kv, -1, 8 << 20) == -EINVAL, "negative node count: -EINVAL");
	ok(kv_store_create(&kv, nodemem_nodes() + 1, 64 << 20) == -EINVAL,
	   "more nodes than the machine has: -EINVAL");
	if (numa_available() < 0) {
		diag("no NUMA: node-bound pool not checked");
		return;
	}
	err = kv_store_create(&kv, 1, 4 << 20);
	ok(!err && kv_store_stats(kv, 0, &st) == 0 && st.node == 0 &&
	   kv_store_stats(kv, 1, &st) == -EINVAL,
	   "a pool bound to node 0 (err %d); pool 1 does not exist", err);
	kv_store_destroy(kv);
}

int
main(void)
{
	rng_seed(&rg, ref64_seed());
	contents();
	exhaustion();
	two_sizes();
	bad_stores();
	return done_testing();
}
