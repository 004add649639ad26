/*
 * svc_errors - every error a caller of the service core can cause, and that
 * each leaves the state as it was: configuration, models, sequences,
 * appends, truncation, attends, quotas (shared by a uid's clients),
 * in-flight conflicts, detaching with work queued, reload.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/ref64.h"
#include "tests/svc_help.h"
#include "tests/tap.h"

#define UID 4242
#define UID2 4343

static struct rng rg;

/* ---- configuration -------------------------------------------------- */

static void
bad_configs(void)
{
	static const struct svc_uid_quota dup[2] = { { 7, { 1, 1, 1 } },
						     { 7, { 1, 1, 1 } } };
	static const struct svc_uid_quota zero[1] = { { 7, { 1, 0, 1 } } };
	struct { const char *what; struct svc_config c; } t[20];
	struct svc_config c;
	struct svc *s;
	int n = 0;

#define CASE(w, stmt) do { svch_config(&c, 1, 8 << 20); stmt; \
	t[n].what = w; t[n++].c = c; } while (0)
	CASE("workers -1", c.workers = -1);
	CASE("workers 2000", c.workers = 2000);
	CASE("memory under one slab", c.mem_bytes = (2 << 20) - 1);
	CASE("memory under a slab per node", c.nodes = 8);
	CASE("nodes -1", c.nodes = -1);
	CASE("page 17", c.page = 17);
	CASE("page 0", c.page = 0);
	CASE("chunk of 0 pages", c.chunk_pages = 0);
	CASE("policy \"bogus\"", strcpy(c.policy, "bogus"));
	CASE("policy \"mass:1.5\"", strcpy(c.policy, "mass:1.5"));
	CASE("policy not terminated", memset(c.policy, 'f', sizeof(c.policy)));
	CASE("kv quota 0", c.quota.kv_bytes = 0);
	CASE("seq quota -1", c.quota.seqs = -1);
	CASE("in-flight quota 0", c.quota.inflight = 0);
	CASE("uid listed twice", (c.uid_quotas = dup, c.n_uid_quotas = 2));
	CASE("uid quota of 0 seqs", (c.uid_quotas = zero, c.n_uid_quotas = 1));
	CASE("uid quotas missing", (c.uid_quotas = NULL, c.n_uid_quotas = 1));
#undef CASE
	for (int i = 0; i < n; i++)
		ok(svc_config_check(&t[i].c) == -EINVAL &&
		   svc_create(&s, &t[i].c) == -EINVAL, "config: %s: -EINVAL", t[i].what);
}

/* ---- models --------------------------------------------------------- */

static const struct svc_model_desc good = { .layers = 2, .hq = 4, .hkv = 2,
	.d = 32, .dt = ATTN_BF16, .window = 32, .page = 16 };

static void
bad_models(struct svc_client *cl)
{
	static const struct attn_policy topk0 = { .kind = ATTN_POLICY_TOPK };
	struct { const char *what; struct svc_model_desc m; } t[20];
	struct svc_model_desc m;
	uint32_t id = 0;
	int n = 0, err = 0, k;

#define CASE(w, stmt) do { m = good; stmt; t[n].what = w; t[n++].m = m; } while (0)
	CASE("0 layers", m.layers = 0);
	CASE("1025 layers", m.layers = SVC_MAX_LAYERS + 1);
	CASE("hq 0", m.hq = 0);
	CASE("hkv 0", m.hkv = 0);
	CASE("hq 6 over hkv 4", (m.hq = 6, m.hkv = 4));
	CASE("hkv > hq", (m.hq = 2, m.hkv = 4));
	CASE("hq 2048", (m.hq = 2048, m.hkv = 1));
	CASE("d 0", m.d = 0);
	CASE("d 513", m.d = 513);
	CASE("dtype 7", m.dt = (enum attn_dtype)7);
	CASE("window not a multiple of the page", m.window = 40);
	CASE("window -16", m.window = -16);
	CASE("page 24", m.page = 24);
	CASE("page -16", m.page = -16);
	CASE("page 512", m.page = 512);
	CASE("scale NaN", m.scale = NAN);
	CASE("scale -1", m.scale = -1.0f);
	CASE("policy topk:0", m.policy = &topk0);
#undef CASE
	for (int i = 0; i < n; i++)
		ok(svc_model_declare(cl, &t[i].m, &id) == -EINVAL, "model: %s: -EINVAL",
		   t[i].what);
	ok(svc_model_declare(cl, NULL, &id) == -EINVAL, "model: NULL: -EINVAL");
	for (k = 0; k < SVC_MAX_MODELS + 1 && !err; k++)
		err = svc_model_declare(cl, &good, &id);
	ok(err == -EMFILE && k == SVC_MAX_MODELS + 1,
	   "model %d of a client: -EMFILE (%d)", k, err);
}

/* ---- sequences, appends, truncation --------------------------------- */

struct cnt {
	atomic_int done, ok, cancelled, other, released, done_at_release;
};

static void
count_done(void *arg, int status)
{
	struct cnt *c = arg;

	if (status == 0)
		atomic_fetch_add(&c->ok, 1);
	else if (status == -ECANCELED)
		atomic_fetch_add(&c->cancelled, 1);
	else
		atomic_fetch_add(&c->other, 1);
	atomic_fetch_add(&c->done, 1);
}

static void
count_released(void *arg)
{
	struct cnt *c = arg;

	atomic_store(&c->done_at_release, atomic_load(&c->done));
	atomic_fetch_add(&c->released, 1);
}

static int64_t
kv_used(struct svc *s, uid_t uid)
{
	struct svc_usage u;

	return svc_uid_usage(s, uid, &u) ? -1 : u.kv_bytes;
}

static void
bad_sequences(struct svc *s, struct svc_client *cl, uint32_t model)
{
	uint32_t seq, old;
	int64_t len = -1;
	struct kvm m;
	char buf[4 * 2 * 32 * 2];	/* 4 tokens of bf16, hkv 2, d 32 */
	size_t tok = 2 * 32 * 2;
	int64_t used;
	int err;

	memset(buf, 0x3c, sizeof(buf));
	kvm_init(&m, 2, 32, ATTN_BF16);
	ok(svc_seq_open(cl, model + 1000, &seq) == -ENOENT, "open: unknown model: -ENOENT");
	ok(svc_seq_open(cl, 0, &seq) == -ENOENT, "open: model id 0: -ENOENT");
	if (!ok(svc_seq_open(cl, model, &seq) == 0, "open"))
		return;
	svch_append(cl, seq, 0, &m, &rg, 20);
	used = kv_used(s, UID);
	ok(svc_kv_append(cl, seq, -1, 1, buf, buf, tok) == -EINVAL, "append: layer -1: -EINVAL");
	ok(svc_kv_append(cl, seq, 2, 1, buf, buf, tok) == -EINVAL, "append: layer 2 of 2: -EINVAL");
	ok(svc_kv_append(cl, seq, 0, 0, buf, buf, 0) == -EINVAL, "append: 0 tokens: -EINVAL");
	ok(svc_kv_append(cl, seq, 0, 2, buf, buf, tok) == -EINVAL, "append: size of 1 token for 2: -EINVAL");
	ok(svc_kv_append(cl, seq, 0, 1, buf, buf, tok + 2) == -EINVAL, "append: size off by one element: -EINVAL");
	ok(svc_kv_append(cl, seq, 0, 1, NULL, buf, tok) == -EINVAL, "append: no K: -EINVAL");
	ok(svc_kv_append(cl, seq + 1, 0, 1, buf, buf, tok) == -ENOENT, "append: unknown sequence: -ENOENT");
	svc_seq_length(cl, seq, 0, &len);
	ok(len == 20 && kv_used(s, UID) == used,
	   "failed appends changed nothing (length %lld)", (long long)len);
	ok(svc_seq_length(cl, seq, 5, &len) == -EINVAL, "length: layer 5: -EINVAL");
	ok(svc_seq_truncate(cl, seq, -1) == -EINVAL, "truncate -1: -EINVAL");
	ok(svc_seq_truncate(cl, seq, 1) == -ERANGE, "truncate 1 of a layer holding 0: -ERANGE");
	svch_append(cl, seq, 1, &m, &rg, 5);
	ok(svc_seq_truncate(cl, seq, 6) == -ERANGE, "truncate 6 when a layer holds 5: -ERANGE");
	len = svc_seq_truncate(cl, seq, 5) ? -1 : 0;
	if (len == 0)
		svc_seq_length(cl, seq, 0, &len);
	ok(len == 15, "truncate 5: layer 0 holds %lld", (long long)len);
	old = seq;
	ok(svc_seq_close(cl, seq) == 0, "close");
	ok(svc_seq_close(cl, seq) == -ENOENT, "close twice: -ENOENT");
	ok(svc_kv_append(cl, seq, 0, 1, buf, buf, tok) == -ENOENT &&
	   svc_seq_truncate(cl, seq, 0) == -ENOENT &&
	   svc_seq_length(cl, seq, 0, &len) == -ENOENT, "closed sequence: -ENOENT");
	err = svc_seq_open(cl, model, &seq);
	ok(err == 0 && seq != old && svc_seq_length(cl, old, 0, &len) == -ENOENT,
	   "a reused slot gets a new id (%#x, was %#x)", seq, old);
	svc_seq_close(cl, seq);
	kvm_free(&m);
}

/* ---- attends -------------------------------------------------------- */

static void
bad_attends(struct svc_client *cl, uint32_t model, uint32_t other)
{
	static const struct attn_policy badp[] = {
		{ .kind = ATTN_POLICY_TOPK, .topk = 0 },
		{ .kind = ATTN_POLICY_MASS, .eps = 1.5 },
		{ .kind = (enum attn_policy_kind)9 },
	};
	float q[2 * 2 * 4 * 32], out[2 * 2 * 4 * 32];
	uint32_t seq, oseq, seqs[2];
	int64_t pos[2] = { 0, 0 };
	struct svc_attend a;
	struct kvm m, mo;
	struct { const char *what; int want; } t[32];
	int n = 0, got[32];

	ref64_fill_normal(&rg, q, sizeof(q) / sizeof(float), 1.0);
	kvm_init(&m, 2, 32, ATTN_BF16);
	kvm_init(&mo, 2, 32, ATTN_BF16);
	svc_seq_open(cl, model, &seq);
	svc_seq_open(cl, other, &oseq);
	svc_seq_open(cl, model, &seqs[1]);	/* stays empty */
	svch_append(cl, seq, 0, &m, &rg, 10);
	svch_append(cl, oseq, 0, &mo, &rg, 10);
	seqs[0] = seq;
#define BASE (a = (struct svc_attend){ .model = model, .layer = 0, .B = 1, \
	.seqs = seqs, .L = 2, .q = q, .out = out, .out_dt = ATTN_F32 })
#define CASE(w, e, stmt) do { BASE; stmt; t[n].what = w; t[n].want = e; \
	got[n++] = svc_attend(cl, &a); } while (0)
	CASE("valid", 0, (void)0);
	CASE("B 0", -EINVAL, a.B = 0);
	CASE("B over the maximum", -EINVAL, a.B = SVC_MAX_BATCH + 1);
	CASE("L 0", -EINVAL, a.L = 0);
	CASE("L 65", -EINVAL, a.L = ATTN_MAX_QLEN + 1);
	CASE("output f16", -EINVAL, a.out_dt = ATTN_F16);
	CASE("no queries", -EINVAL, a.q = NULL);
	CASE("no output", -EINVAL, a.out = NULL);
	CASE("no sequences", -EINVAL, a.seqs = NULL);
	CASE("policy topk:0", -EINVAL, a.policy = &badp[0]);
	CASE("policy mass:1.5", -EINVAL, a.policy = &badp[1]);
	CASE("policy kind 9", -EINVAL, a.policy = &badp[2]);
	CASE("unknown model", -ENOENT, a.model = model + 1000);
	CASE("layer -1", -EINVAL, a.layer = -1);
	CASE("layer 2 of 2", -EINVAL, a.layer = 2);
	CASE("unknown sequence", -ENOENT, seqs[0] = seq + 7);
	seqs[0] = seq;
	CASE("sequence of another model", -EINVAL, seqs[0] = oseq);
	seqs[0] = seq;
	CASE("empty sequence in the batch", -ERANGE, a.B = 2);
	CASE("position -1", -ERANGE, (a.pos = pos, pos[0] = -1));
	CASE("rows past the last key", -ERANGE, (a.pos = pos, pos[0] = 9));
	CASE("last row on the last key", 0, (a.pos = pos, pos[0] = 8));
	CASE("query longer than the sequence", -ERANGE, a.L = 11);
	CASE("empty layer", -ERANGE, a.layer = 1);
#undef CASE
#undef BASE
	for (int i = 0; i < n; i++)
		ok(got[i] == t[i].want, "attend: %s: %d (want %d)", t[i].what, got[i],
		   t[i].want);
	svc_seq_close(cl, seq);
	svc_seq_close(cl, oseq);
	svc_seq_close(cl, seqs[1]);
	kvm_free(&m);
	kvm_free(&mo);
}

/* ---- quotas ---------------------------------------------------------- */

static void
seq_quota(struct svc *s, struct svc_client *a, struct svc_client *b,
	  struct svc_client *other, uint32_t ma, uint32_t mb, uint32_t mo)
{
	uint32_t ids[4], x;
	struct svc_usage u;
	int err;

	/* The uid may hold 3 sequences, over both of its clients. */
	err = svc_seq_open(a, ma, &ids[0]) || svc_seq_open(a, ma, &ids[1]) ||
	      svc_seq_open(b, mb, &ids[2]);
	ok(!err && svc_seq_open(b, mb, &x) == -EMFILE && svc_seq_open(a, ma, &x) == -EMFILE,
	   "4th sequence of the uid, on either client: -EMFILE");
	ok(svc_seq_open(other, mo, &ids[3]) == 0, "another uid is not affected");
	err = svc_uid_usage(s, UID, &u);
	ok(err == 0 && u.seqs == 3 && u.limit.seqs == 3,
	   "usage: %lld of %lld sequences", (long long)u.seqs, (long long)u.limit.seqs);
	svc_seq_close(a, ids[1]);
	ok(svc_seq_open(b, mb, &x) == 0, "after a close the uid may open one again");
	svc_seq_close(b, x);
	svc_seq_close(a, ids[0]);
	svc_seq_close(b, ids[2]);
	svc_seq_close(other, ids[3]);
}

static void
kv_quota(struct svc *s, struct svc_client *a, struct svc_client *b,
	 uint32_t ma, uint32_t mb)
{
	uint32_t sa, sb;
	struct kvm ka, kb;
	int64_t len = -1, used;
	int err;

	/* 64 KiB of KV for the uid: 16-token bf16 pages of d 32, 2 heads,
	 * cost 4 KiB a token-page step: 16 steps, i.e. 256 tokens. */
	kvm_init(&ka, 2, 32, ATTN_BF16);
	kvm_init(&kb, 2, 32, ATTN_BF16);
	svc_seq_open(a, ma, &sa);
	svc_seq_open(b, mb, &sb);
	err = svch_append(a, sa, 0, &ka, &rg, 200);
	ok(!err && kv_used(s, UID) == 13 * 4096, "200 tokens: %lld KV bytes",
	   (long long)kv_used(s, UID));
	used = kv_used(s, UID);
	err = svch_append(b, sb, 0, &kb, &rg, 100);
	ok(err == -ENOSPC && kv_used(s, UID) == used &&
	   svc_seq_length(b, sb, 0, &len) == 0 && len == 0,
	   "the uid's other client goes over its KV quota: -ENOSPC, nothing changed");
	err = svch_append(b, sb, 0, &kb, &rg, 48);
	ok(err == 0 && kv_used(s, UID) == 16 * 4096, "what fits still fits (%d)", err);
	svc_seq_close(a, sa);
	ok(kv_used(s, UID) == 3 * 4096, "close returns the sequence's KV bytes");
	svc_seq_close(b, sb);
	kvm_free(&ka);
	kvm_free(&kb);
}

/* The pools themselves run out before the uid's quota: -ENOSPC too. */
static void
pool_full(void)
{
	struct svc_model_desc md = good;
	struct svc_config c;
	struct svc *s;
	struct svc_client *cl;
	uint32_t m, seq;
	struct kvm k;
	int err = 0, n = 0;
	int64_t pages, slabs;

	svch_config(&c, 1, 2 << 20);
	md.d = 128;
	md.page = 256;
	md.dt = ATTN_F32;
	md.window = 0;
	if (svc_create(&s, &c) || svc_client_attach(s, UID, &cl) ||
	    svc_model_declare(cl, &md, &m) || svc_seq_open(cl, m, &seq))
		abort();
	kvm_init(&k, 2, 128, ATTN_F32);
	while (!err && n < 10)
		n += !(err = svch_append(cl, seq, 0, &k, &rg, 256));
	ok(err == -ENOSPC && n == 3, "pools exhausted after %d appends: -ENOSPC", n);
	svc_client_detach(cl, NULL, NULL);
	svch_pools(s, &pages, &slabs);
	ok(pages == 0 && slabs == 1, "detach returns every page (%lld pages)",
	   (long long)pages);
	kvm_free(&k);
	svc_destroy(s);
}

/* ---- in flight --------------------------------------------------------- */

struct req {
	float q[4 * 32], out[4 * 32];
	uint32_t seq;
	struct svc_attend a;
};

static void
req_make(struct req *r, uint32_t model, uint32_t seq)
{
	ref64_fill_normal(&rg, r->q, 4 * 32, 1.0);
	r->seq = seq;
	r->a = (struct svc_attend){ .model = model, .layer = 0, .B = 1,
		.seqs = &r->seq, .L = 1, .q = r->q, .out = r->out,
		.out_dt = ATTN_F32 };
}

static void
wait_done(struct cnt *c, int n)
{
	for (int i = 0; i < 20000 && atomic_load(&c->done) < n; i++)
		usleep(500);
}

static void
inflight(struct svc *s, struct svc_client *a, struct svc_client *b,
	 uint32_t ma, uint32_t mb)
{
	struct req r[5];
	struct cnt c = { 0 };
	uint32_t sa, sb;
	struct kvm ka, ka1, kb;
	int64_t pages0, pages, slabs;
	int err = 0;
	char buf[2 * 32 * 2] = { 0 };

	kvm_init(&ka, 2, 32, ATTN_BF16);
	kvm_init(&ka1, 2, 32, ATTN_BF16);
	kvm_init(&kb, 2, 32, ATTN_BF16);
	svc_seq_open(a, ma, &sa);
	svc_seq_open(b, mb, &sb);
	svch_append(a, sa, 0, &ka, &rg, 40);
	svch_append(b, sb, 0, &kb, &rg, 40);
	svc_pause(s, true);
	for (int i = 0; i < 3 && !err; i++) {
		req_make(&r[i], ma, sa);
		err = svc_attend_submit(a, &r[i].a, count_done, &c);
	}
	req_make(&r[3], mb, sb);
	req_make(&r[4], ma, sa);
	ok(!err && svc_attend_submit(b, &r[3].a, count_done, &c) == -EAGAIN &&
	   svc_attend_submit(a, &r[4].a, count_done, &c) == -EAGAIN,
	   "4th request in flight of the uid, on either client: -EAGAIN");
	ok(svc_kv_append(a, sa, 0, 1, buf, buf, sizeof(buf)) == -EBUSY,
	   "append to the layer being read: -EBUSY");
	ok(svch_append(a, sa, 1, &ka1, &rg, 3) == 0,
	   "append to another layer of it: fine");
	ok(svc_seq_truncate(a, sa, 1) == -EBUSY, "truncate while read: -EBUSY");
	svch_pools(s, &pages0, &slabs);
	ok(svc_seq_close(a, sa) == 0 && svc_seq_length(a, sa, 0, &pages) == -ENOENT,
	   "close while read: the id is gone at once");
	svch_pools(s, &pages, &slabs);
	ok(pages == pages0, "... but its pages stay while read (%lld)", (long long)pages);
	svc_pause(s, false);
	wait_done(&c, 3);
	svc_drain(s);
	svch_pools(s, &pages, &slabs);
	ok(atomic_load(&c.ok) == 3 && pages == pages0 - 3 * 2 - 2,
	   "requests done (%d ok); then the pages are freed (%lld left)",
	   atomic_load(&c.ok), (long long)pages);
	ok(svc_attend_submit(b, &r[3].a, count_done, &c) == 0, "in flight again: fine");
	wait_done(&c, 4);
	svc_seq_close(b, sb);
	kvm_free(&ka);
	kvm_free(&ka1);
	kvm_free(&kb);
}

/* Detach with requests queued: each is done once (-ECANCELED), then
 * released, and every page returns. */
static void
detach_queued(struct svc *s, uint32_t uid, int run)
{
	struct svc_client *cl;
	struct svc_model_desc md = good;
	struct req r[3];
	struct cnt c = { 0 };
	uint32_t m, seq;
	struct kvm k;
	int64_t pages0, pages, slabs0, slabs;
	int err;

	md.window = 0;
	svch_pools(s, &pages0, &slabs0);
	kvm_init(&k, 2, 32, ATTN_BF16);
	err = svc_client_attach(s, uid, &cl);
	err = err ? err : svc_model_declare(cl, &md, &m);
	err = err ? err : svc_seq_open(cl, m, &seq);
	err = err ? err : svch_append(cl, seq, 0, &k, &rg, 3000);
	svc_pause(s, true);
	for (int i = 0; i < 3 && !err; i++) {
		req_make(&r[i], m, seq);
		err = svc_attend_submit(cl, &r[i].a, count_done, &c);
	}
	if (run)
		svc_pause(s, false);	/* some may start before the detach */
	svc_client_detach(cl, count_released, &c);
	svc_pause(s, false);
	for (int i = 0; i < 20000 && !atomic_load(&c.released); i++)
		usleep(500);
	svch_pools(s, &pages, &slabs);
	ok(!err && atomic_load(&c.done) == 3 && atomic_load(&c.other) == 0 &&
	   (run || atomic_load(&c.cancelled) == 3) &&
	   atomic_load(&c.released) == 1 && atomic_load(&c.done_at_release) == 3,
	   "detach with 3 requests %s: %d done (%d cancelled), then released",
	   run ? "running" : "queued", atomic_load(&c.done),
	   atomic_load(&c.cancelled));
	ok(pages == pages0 && slabs == slabs0, "... and every page returned "
	   "(%lld in use, %lld slabs free)", (long long)pages, (long long)slabs);
	ok(kv_used(s, uid) == -1, "... and the uid has no usage left");
	kvm_free(&k);
}

/* Destroying the service with a client attached and a request queued
 * runs the request, then frees everything (ASan checks the freeing). */
static void
destroy_busy(void)
{
	struct svc_config c;
	struct svc *s;
	struct svc_client *cl;
	struct req r;
	struct cnt n = { 0 };
	uint32_t m, seq;
	struct kvm k;
	int err;

	svch_config(&c, 1, 8 << 20);
	kvm_init(&k, 2, 32, ATTN_BF16);
	err = svc_create(&s, &c);
	if (!ok(!err, "a second service (%d)", err))
		return;
	err = svc_client_attach(s, UID, &cl);
	err = err ? err : svc_model_declare(cl, &good, &m);
	err = err ? err : svc_seq_open(cl, m, &seq);
	err = err ? err : svch_append(cl, seq, 0, &k, &rg, 100);
	svc_pause(s, true);
	req_make(&r, m, seq);
	err = err ? err : svc_attend_submit(cl, &r.a, count_done, &n);
	svc_destroy(s);
	ok(!err && atomic_load(&n.ok) == 1 && atomic_load(&n.done) == 1,
	   "destroy with a client attached: its queued request ran (%d ok)",
	   atomic_load(&n.ok));
	kvm_free(&k);
}

static void
reload(struct svc *s, struct svc_client *cl, uint32_t model)
{
	struct svc_uid_quota uq[1] = { { UID, { 1 << 20, 1, 2 } } };
	struct svc_config c;
	struct svc_usage u;
	uint32_t s1, s2;
	unsigned fixed = 0;
	int err;

	svch_config(&c, 2, 32 << 20);
	strcpy(c.policy, "nonsense");
	ok(svc_reload(s, &c, &fixed) == -EINVAL && svc_uid_usage(s, UID, &u) == 0 &&
	   u.limit.seqs == 3, "reload of a bad config: -EINVAL, nothing applied");
	strcpy(c.policy, "topk:4");
	c.uid_quotas = uq;
	c.n_uid_quotas = 1;
	err = svc_reload(s, &c, &fixed);
	err = err ? err : svc_uid_usage(s, UID, &u);
	ok(err == 0 && fixed == (SVC_CFG_WORKERS | SVC_CFG_MEM) && u.limit.seqs == 1,
	   "reload: new quota applies, fixed fields reported (%#x)", fixed);
	ok(svc_seq_open(cl, model, &s1) == 0 && svc_seq_open(cl, model, &s2) == -EMFILE,
	   "the reloaded sequence quota is enforced");
	svc_seq_close(cl, s1);
}

int
main(void)
{
	struct svc_uid_quota uq[1] = { { UID, { 64 << 10, 3, 3 } } };
	struct svc_model_desc other = good;
	struct svc_client *a, *b, *c3, *d;
	struct svc_config c;
	struct svc *s;
	uint32_t ma, mb, mo, mx;
	struct svc_pool_stats ps;
	int64_t pages0, slabs0, pages, slabs;

	alarm(60);
	rng_seed(&rg, ref64_seed());
	bad_configs();
	svch_config(&c, 1, 16 << 20);
	c.uid_quotas = uq;
	c.n_uid_quotas = 1;
	if (svc_create(&s, &c) || svc_client_attach(s, UID, &a) ||
	    svc_client_attach(s, UID, &b) || svc_client_attach(s, UID2, &c3))
		return ok(0, "set up"), done_testing();
	svch_pools(s, &pages0, &slabs0);
	ok(svc_pool_stats(s, -1, &ps) == -EINVAL && svc_pool_stats(s, 1, &ps) == -EINVAL,
	   "pool stats of a pool that does not exist: -EINVAL");
	if (svc_client_attach(s, UID2, &d))
		return ok(0, "attach"), done_testing();
	bad_models(d);
	svc_client_detach(d, NULL, NULL);
	other.d = 64;
	if (svc_model_declare(a, &good, &ma) || svc_model_declare(b, &good, &mb) ||
	    svc_model_declare(a, &other, &mx) || svc_model_declare(c3, &good, &mo))
		return ok(0, "models"), done_testing();
	bad_sequences(s, a, ma);
	bad_attends(a, ma, mx);
	seq_quota(s, a, b, c3, ma, mb, mo);
	kv_quota(s, a, b, ma, mb);
	pool_full();
	inflight(s, a, b, ma, mb);
	detach_queued(s, 5001, 0);
	detach_queued(s, 5002, 1);
	reload(s, a, ma);
	destroy_busy();
	svc_client_detach(a, NULL, NULL);
	svc_client_detach(b, NULL, NULL);
	svc_client_detach(c3, NULL, NULL);
	svch_pools(s, &pages, &slabs);
	ok(pages == pages0 && slabs == slabs0 && kv_used(s, UID) == -1,
	   "all clients gone: pools back to their start (%lld pages, %lld slabs free)",
	   (long long)pages, (long long)slabs);
	svc_destroy(s);
	return done_testing();
}
