/*
 * e2e_errors - every error a caller can cause with the service's calls
 * (hgca_model_declare, hgca_seq_*, hgca_kv_append, hgca_attend and its
 * async form), each answered with its errno and no change of state, while
 * a neighbour process keeps decoding correctly; then the same mistakes
 * made by a lying library straight on the wire, which the daemon answers
 * with error completions (DESIGN.md's first row), not quarantine.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/e2e_help.h"
#include "tests/e2e_raw.h"
#include "tests/ref64.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

#define PROMPT 600

static struct td d;
static struct rng rg;

/* What the cases work on. */
static struct {
	struct hgca *h, *ctl;
	struct e2e_model a, b;		/* two shapes */
	struct e2e_seq sa, sb, *pa, *pb;
	uint32_t closed;		/* a sequence id closed already */
} x;

static const struct hgca_model shape_a = {
	.layers = 2, .hq = 4, .hkv = 2, .d = 64, .kv_dtype = HGCA_DTYPE_F32,
	.window = 64, .page = 16 };
static const struct hgca_model shape_b = {
	.layers = 1, .hq = 2, .hkv = 1, .d = 32, .kv_dtype = HGCA_DTYPE_BF16 };

/* ---- hgca_model_declare ---- */

static int
declare(struct hgca *h, void (*edit)(struct hgca_model *))
{
	struct hgca_model m = shape_a;
	uint32_t id;

	edit(&m);
	return hgca_model_declare(h, &m, &id);
}

static void m_rsvd(struct hgca_model *m) { m->reserved[2] = 1; }
static void m_dtype(struct hgca_model *m) { m->kv_dtype = 7; }
static void m_longpol(struct hgca_model *m)
{
	m->policy = "mass:0.01,budget:1m                                     "
		    "            ";
}
static void m_layers(struct hgca_model *m) { m->layers = 0; }
static void m_layers_big(struct hgca_model *m) { m->layers = 5000; }
static void m_heads(struct hgca_model *m) { m->hq = 6; m->hkv = 4; }
static void m_hkv0(struct hgca_model *m) { m->hkv = 0; }
static void m_d0(struct hgca_model *m) { m->d = 0; }
static void m_dbig(struct hgca_model *m) { m->d = 1000; }
static void m_window(struct hgca_model *m) { m->window = 40; }
static void m_page(struct hgca_model *m) { m->page = 24; }
static void m_policy(struct hgca_model *m) { m->policy = "sometimes"; }
static void m_eps(struct hgca_model *m) { m->policy = "mass:1.5"; }
static void m_scale(struct hgca_model *m) { m->scale = -1.0f; }
static void m_nan(struct hgca_model *m) { m->scale = NAN; }

#define DECL(fn) static int c_##fn(void) { return declare(x.h, fn); }
DECL(m_rsvd) DECL(m_dtype) DECL(m_longpol) DECL(m_layers) DECL(m_layers_big)
DECL(m_heads) DECL(m_hkv0) DECL(m_d0) DECL(m_dbig) DECL(m_window)
DECL(m_page) DECL(m_policy) DECL(m_eps) DECL(m_scale) DECL(m_nan)

static int
c_model_null(void)
{
	uint32_t id;

	return hgca_model_declare(x.h, NULL, &id);
}

static int
c_model_ctl(void)
{
	uint32_t id;

	return hgca_model_declare(x.ctl, &shape_a, &id);
}

/* 64 models on a fresh handle, then one more. */
static int
c_model_many(void)
{
	struct hgca *h;
	uint32_t id;
	int rc = hgca_connect(d.sock, &h);

	for (int i = 0; rc == 0 && i < 64; i++)
		rc = hgca_model_declare(h, &shape_b, &id);
	if (rc == 0)
		rc = hgca_model_declare(h, &shape_b, &id);
	hgca_disconnect(h);
	return rc;
}

/* ---- sequences ---- */

static int
c_open_unknown(void)
{
	uint32_t s;

	return hgca_seq_open(x.h, x.a.id + 12345, &s);
}

static int c_open_null(void) { return hgca_seq_open(x.h, x.a.id, NULL); }
static int c_close_unknown(void) { return hgca_seq_close(x.h, 999999); }
static int c_close_twice(void) { return hgca_seq_close(x.h, x.closed); }
static int c_trunc_unknown(void) { return hgca_seq_truncate(x.h, x.closed, 1); }
static int c_trunc_range(void) { return hgca_seq_truncate(x.h, x.sa.id, PROMPT + 1); }
static int c_trunc_huge(void) { return hgca_seq_truncate(x.h, x.sa.id, UINT64_MAX); }

static int
c_len_unknown(void)
{
	uint64_t n;

	return hgca_seq_length(x.h, x.closed, 0, &n);
}

static int
c_len_layer(void)
{
	uint64_t n;

	return hgca_seq_length(x.h, x.sa.id, 2, &n);
}

static int c_len_null(void) { return hgca_seq_length(x.h, x.sa.id, 0, NULL); }

/* ---- appends ---- */

static float kbuf[16 * 2 * 64], vbuf[16 * 2 * 64];

static int c_app_unknown(void) { return hgca_kv_append(x.h, x.closed, 0, 1, kbuf, vbuf); }
static int c_app_layer(void) { return hgca_kv_append(x.h, x.sa.id, 2, 1, kbuf, vbuf); }
static int c_app_zero(void) { return hgca_kv_append(x.h, x.sa.id, 0, 0, kbuf, vbuf); }
static int c_app_null(void) { return hgca_kv_append(x.h, x.sa.id, 0, 1, NULL, vbuf); }

/* ---- attention ---- */

static float qbuf[1024 * 4 * 64];
static float obuf[1024 * 4 * 64];

/* A valid one-token attend of sequence a, edited by @edit. */
static int
attend(void (*edit)(struct hgca_attend *))
{
	static uint32_t ids[1025];
	struct hgca_attend a = {
		.model = x.a.id, .layer = 0, .nseq = 1, .qlen = 1, .seqs = ids,
		.q = qbuf, .out = obuf, .out_dtype = HGCA_DTYPE_F32 };

	for (int i = 0; i < 1025; i++)
		ids[i] = x.sa.id;
	edit(&a);
	return hgca_attend(x.h, &a);
}

static int64_t far_pos[1] = { PROMPT };
static int64_t neg_pos[1] = { -1 };
static uint32_t other_seq[1], closed_seq[1];

static void a_nseq0(struct hgca_attend *a) { a->nseq = 0; }
static void a_nseq_big(struct hgca_attend *a) { a->nseq = 1025; }
static void a_qlen0(struct hgca_attend *a) { a->qlen = 0; }
static void a_qlen_big(struct hgca_attend *a) { a->qlen = 65; }
static void a_f16(struct hgca_attend *a) { a->out_dtype = HGCA_DTYPE_F16; }
static void a_flags(struct hgca_attend *a) { a->flags = 1; }
static void a_rsvd(struct hgca_attend *a) { a->reserved[1] = 1; }
static void a_noq(struct hgca_attend *a) { a->q = NULL; }
static void a_noout(struct hgca_attend *a) { a->out = NULL; }
static void a_layer(struct hgca_attend *a) { a->layer = 2; }
static void a_policy(struct hgca_attend *a) { a->policy = "mass:2"; }
static void a_policy2(struct hgca_attend *a) { a->policy = "topk:0"; }
static void a_other(struct hgca_attend *a) { a->seqs = other_seq; }
static void a_model(struct hgca_attend *a) { a->model = 4242; }
static void a_closed(struct hgca_attend *a) { a->seqs = closed_seq; }
static void a_far(struct hgca_attend *a) { a->pos = far_pos; }
static void a_neg(struct hgca_attend *a) { a->pos = neg_pos; }
static void a_big(struct hgca_attend *a) { a->nseq = 1024; a->qlen = 64; }

#define ATT(fn) static int c_##fn(void) { return attend(fn); }
ATT(a_nseq0) ATT(a_nseq_big) ATT(a_qlen0) ATT(a_qlen_big) ATT(a_f16)
ATT(a_flags) ATT(a_rsvd) ATT(a_noq) ATT(a_noout) ATT(a_layer) ATT(a_policy)
ATT(a_policy2) ATT(a_other) ATT(a_model) ATT(a_closed) ATT(a_far) ATT(a_neg)
ATT(a_big)

/* 64 query rows at the start of a 600-token sequence: rows beyond its
 * length do not exist when the last 64 are asked for of a 10-token one. */
static int
c_a_short(void)
{
	struct e2e_seq s;
	int rc = e2e_open(x.h, &x.a, &s);

	if (rc == 0)
		rc = e2e_append(x.h, &s, -1, &rg, 10, 1.0);
	if (rc == 0) {
		uint32_t id = s.id;
		struct hgca_attend a = {
			.model = x.a.id, .nseq = 1, .qlen = 64, .seqs = &id,
			.q = qbuf, .out = obuf, .out_dtype = HGCA_DTYPE_F32 };

		rc = hgca_attend(x.h, &a);
	}
	e2e_close(x.h, &s);
	return rc;
}

static const struct errcase {
	const char *name;
	int (*fn)(void);
	int want;
} cases[] = {
	{ "model_declare: NULL model", c_model_null, -EINVAL },
	{ "model_declare: reserved field set", c_m_rsvd, -EINVAL },
	{ "model_declare: unknown KV dtype", c_m_dtype, -EINVAL },
	{ "model_declare: policy text too long", c_m_longpol, -EINVAL },
	{ "model_declare: 0 layers", c_m_layers, -EINVAL },
	{ "model_declare: 5000 layers", c_m_layers_big, -EINVAL },
	{ "model_declare: hq not a multiple of hkv", c_m_heads, -EINVAL },
	{ "model_declare: 0 KV heads", c_m_hkv0, -EINVAL },
	{ "model_declare: head dimension 0", c_m_d0, -EINVAL },
	{ "model_declare: head dimension 1000", c_m_dbig, -EINVAL },
	{ "model_declare: window not a multiple of the page", c_m_window, -EINVAL },
	{ "model_declare: page of 24 tokens", c_m_page, -EINVAL },
	{ "model_declare: unknown policy", c_m_policy, -EINVAL },
	{ "model_declare: mass:1.5", c_m_eps, -EINVAL },
	{ "model_declare: negative scale", c_m_scale, -EINVAL },
	{ "model_declare: NaN scale", c_m_nan, -EINVAL },
	{ "model_declare: control-only handle", c_model_ctl, -EINVAL },
	{ "model_declare: a 65th model", c_model_many, -EMFILE },
	{ "seq_open: unknown model", c_open_unknown, -ENOENT },
	{ "seq_open: NULL id", c_open_null, -EINVAL },
	{ "seq_close: unknown sequence", c_close_unknown, -ENOENT },
	{ "seq_close: closed twice", c_close_twice, -ENOENT },
	{ "seq_truncate: closed sequence", c_trunc_unknown, -ENOENT },
	{ "seq_truncate: more tokens than stored", c_trunc_range, -ERANGE },
	{ "seq_truncate: 2^64 - 1 tokens", c_trunc_huge, -EINVAL },
	{ "seq_length: closed sequence", c_len_unknown, -ENOENT },
	{ "seq_length: layer out of range", c_len_layer, -EINVAL },
	{ "seq_length: NULL length", c_len_null, -EINVAL },
	{ "kv_append: closed sequence", c_app_unknown, -ENOENT },
	{ "kv_append: layer out of range", c_app_layer, -EINVAL },
	{ "kv_append: 0 tokens", c_app_zero, -EINVAL },
	{ "kv_append: NULL K", c_app_null, -EINVAL },
	{ "attend: 0 sequences", c_a_nseq0, -EINVAL },
	{ "attend: 1025 sequences", c_a_nseq_big, -EINVAL },
	{ "attend: query length 0", c_a_qlen0, -EINVAL },
	{ "attend: query length 65", c_a_qlen_big, -EINVAL },
	{ "attend: fp16 output", c_a_f16, -EINVAL },
	{ "attend: unknown flag", c_a_flags, -EINVAL },
	{ "attend: reserved field set", c_a_rsvd, -EINVAL },
	{ "attend: NULL queries", c_a_noq, -EINVAL },
	{ "attend: NULL output", c_a_noout, -EINVAL },
	{ "attend: layer out of range", c_a_layer, -EINVAL },
	{ "attend: policy mass:2", c_a_policy, -EINVAL },
	{ "attend: policy topk:0", c_a_policy2, -EINVAL },
	{ "attend: a sequence of another model", c_a_other, -EINVAL },
	{ "attend: unknown model", c_a_model, -ENOENT },
	{ "attend: closed sequence", c_a_closed, -ENOENT },
	{ "attend: query past the sequence's end", c_a_far, -ERANGE },
	{ "attend: negative position", c_a_neg, -ERANGE },
	{ "attend: 64 query rows of a 10-token sequence", c_a_short, -ERANGE },
	{ "attend: larger than the staging arena", c_a_big, -E2BIG },
};

#define NCASES (int)(sizeof(cases) / sizeof(cases[0]))

/* Lengths of both layers of sequence a, to show nothing changed. */
static bool
unchanged(void)
{
	uint64_t l0 = 0, l1 = 0;

	return hgca_seq_length(x.h, x.sa.id, 0, &l0) == 0 &&
	       hgca_seq_length(x.h, x.sa.id, 1, &l1) == 0 &&
	       (int64_t)l0 == x.sa.kv[0].n && (int64_t)l1 == x.sa.kv[1].n;
}

/* A checked attend on the main handle: it still works. */
static bool
still_works(void)
{
	struct e2e_ask a = { .pos = { -1 }, .L = 1, .out_dt = HGCA_DTYPE_F32 };
	struct e2e_result r;

	e2e_attend(x.h, &x.a, &x.pa, 1, &a, &rg, &r);
	return e2e_pass(&r, &a);
}

static void
run_cases(void)
{
	for (int i = 0; i < NCASES; i++) {
		int rc = cases[i].fn();

		ok(rc == cases[i].want && unchanged(),
		   "%s: %d (want %d), state unchanged", cases[i].name, rc,
		   cases[i].want);
	}
	ok(still_works(), "the handle still computes correct attention");
}

/* ---- -EBUSY: appends and truncation while attends read the sequence ---- */

/* Lengths of both layers of @s as its mirrors say. */
static bool
lengths_are(const struct e2e_seq *s)
{
	uint64_t l0 = 0, l1 = 0;

	return hgca_seq_length(x.h, s->id, 0, &l0) == 0 &&
	       hgca_seq_length(x.h, s->id, 1, &l1) == 0 &&
	       (int64_t)l0 == s->kv[0].n && (int64_t)l1 == s->kv[1].n;
}

/* Layer 0 long enough (16K tokens, 16 MiB of K+V) that 16 attends on it
 * are still in flight when the calls after them arrive. */
static void
busy_cases(void)
{
	struct e2e_req q[16];
	struct e2e_ask a = { .pos = { -1 }, .L = 1, .out_dt = HGCA_DTYPE_F32 };
	struct hgca_completion c[16];
	struct e2e_seq s, *ps = &s;
	struct e2e_result r;
	int tr, ap, ap1, got = 0, n, bad = 0;

	if (e2e_open(x.h, &x.a, &s) < 0 ||
	    e2e_append(x.h, &s, 0, &rg, 16384, 1.0) < 0 ||
	    e2e_append(x.h, &s, 1, &rg, 10, 1.0) < 0) {
		ok(false, "-EBUSY: set-up");
		return;
	}
	for (int i = 0; i < 16; i++) {
		e2e_req_make(&q[i], &x.a, &ps, 1, &a, &rg);
		hgca_attend_prep(x.h, (uint64_t)i, &q[i].a);
	}
	hgca_submit(x.h);
	tr = hgca_seq_truncate(x.h, s.id, 1);
	ap = hgca_kv_append(x.h, s.id, 0, 1, kbuf, vbuf);
	ap1 = e2e_append(x.h, &s, 1, &rg, 1, 1.0);
	while (got < 16 && (n = hgca_wait(x.h, c, 1, 16, 10000)) > 0)
		for (int i = 0; i < n; i++, got++) {
			e2e_req_check(&q[c[i].tag], c[i].res, &r);
			bad += !e2e_pass(&r, &a);
		}
	ok(tr == -EBUSY && ap == -EBUSY && lengths_are(&s) && got == 16 &&
	   bad == 0,
	   "truncate and append on layer 0 while 16 attends read it: %d, %d "
	   "(want %d), lengths unchanged; %d completed correctly (%d bad)",
	   tr, ap, -EBUSY, got, bad);
	ok(ap1 == 0 && lengths_are(&s), "an append to layer 1 meanwhile: %d",
	   ap1);
	for (int i = 0; i < 16; i++)
		e2e_req_free(&q[i]);
	e2e_close(x.h, &s);
}

/* ---- a full ring ---- */

static void
ring_full(void)
{
	struct hgca_connect_opts o = { .entries = 8 };
	struct e2e_model m = { .m = shape_b };
	struct e2e_ask a = { .pos = { -1 }, .L = 1, .out_dt = HGCA_DTYPE_F32 };
	struct e2e_req q[9];
	struct hgca_completion c[8];
	struct e2e_seq s, *ps = &s;
	struct e2e_result r;
	struct hgca *h;
	int prep[9], got = 0, bad = 0, n;

	if (hgca_connect_with(d.sock, &o, &h) < 0 || e2e_declare(h, &m) < 0 ||
	    e2e_open(h, &m, &s) < 0 || e2e_append(h, &s, 0, &rg, 100, 1.0) < 0) {
		ok(false, "ring of 8: set-up");
		return;
	}
	for (int i = 0; i < 9; i++) {
		e2e_req_make(&q[i], &m, &ps, 1, &a, &rg);
		prep[i] = hgca_attend_prep(h, (uint64_t)i, &q[i].a);
	}
	hgca_submit(h);
	while (got < 8 && (n = hgca_wait(h, c, 1, 8, 10000)) > 0)
		for (int i = 0; i < n; i++, got++) {
			e2e_req_check(&q[c[i].tag], c[i].res, &r);
			bad += !e2e_pass(&r, &a);
		}
	ok(prep[7] == 0 && prep[8] == -EAGAIN && got == 8 && bad == 0,
	   "ring of 8: the 9th prep is refused (%d), the 8 complete "
	   "correctly (%d, %d bad)", prep[8], got, bad);
	for (int i = 0; i < 9; i++)
		e2e_req_free(&q[i]);
	e2e_close(h, &s);
	hgca_disconnect(h);
}

/* ---- a small staging arena ---- */

/* A 2 MiB region: a prompt of 10 MiB of K+V goes in several requests and
 * is still exact; async attends fill the arena before the ring, and the
 * next prep is told to reap first. */
static void
small_arena(void)
{
	struct hgca_connect_opts o = { .region_size = 2 << 20 };
	struct e2e_model m = { .m = shape_a };
	struct e2e_ask a = { .pos = { -1 }, .L = 1, .out_dt = HGCA_DTYPE_F32 };
	struct e2e_ask big = { .pos = { -1 }, .L = 64, .out_dt = HGCA_DTYPE_F32 };
	struct hgca_completion c[64];
	struct e2e_req q[64];
	struct e2e_seq s, *ps = &s;
	struct e2e_result r;
	struct hgca_info in;
	struct hgca *h;
	int rc, n, got = 0, bad = 0, prepped = 0, last = 0;

	rc = hgca_connect_with(d.sock, &o, &h);
	rc = rc ? rc : e2e_declare(h, &m);
	rc = rc ? rc : e2e_open(h, &m, &s);
	rc = rc ? rc : e2e_append(h, &s, -1, &rg, 10240, 1.0);
	if (rc == 0)
		e2e_attend(h, &m, &ps, 1, &a, &rg, &r);
	hgca_info(h, &in);
	ok(rc == 0 && e2e_pass(&r, &a) && in.staging_size < (2 << 20),
	   "a 10240-token prompt (%.1f MiB of K+V per layer) through a %zu "
	   "KiB staging arena: %d, attention exact (rel %.1e)",
	   10240.0 * 2 * 64 * 4 * 2 / 1048576, (size_t)in.staging_size >> 10,
	   rc, r.rel);
	while (prepped < 64 && (last = hgca_attend_prep(h, (uint64_t)prepped,
				(e2e_req_make(&q[prepped], &m, &ps, 1, &big, &rg),
				 &q[prepped].a))) == 0)
		prepped++;
	hgca_submit(h);
	while (got < prepped && (n = hgca_wait(h, c, 1, 64, 10000)) > 0)
		for (int i = 0; i < n; i++, got++) {
			e2e_req_check(&q[c[i].tag], c[i].res, &r);
			bad += !e2e_pass(&r, &big);
		}
	ok(last == -EAGAIN && prepped > 1 && prepped < 64 && got == prepped &&
	   bad == 0, "64-row attends fill the arena after %d (the ring holds "
	   "%u): the next prep gets %d; all %d complete exactly", prepped,
	   in.entries, last, got);
	for (int i = 0; i <= prepped && i < 64; i++)
		e2e_req_free(&q[i]);
	e2e_close(h, &s);
	hgca_disconnect(h);
}

/* ---- the same mistakes on the wire ---- */

/* A valid ATTEND of sequence a in raw form at raw_off(), then @edit. */
static int
raw_attend(void (*edit)(struct hgca_wire_attend *))
{
	struct hgca *h = x.h;
	uint64_t base = raw_off(h), rows = 4;
	struct hgca_wire_attend *w = (void *)(h->stage + base);
	struct hgca_sqe sqe = { .opcode = HGCA_OP_ATTEND };

	memset(w, 0, sizeof(*w));
	w->model = x.a.id;
	w->nseq = w->qlen = 1;
	w->out_dtype = HGCA_WIRE_F32;
	w->seqs_off = base + 256;
	memcpy(h->stage + w->seqs_off, &x.sa.id, 4);
	w->q_off = base + 512;
	w->q_len = rows * 64 * 4;
	w->out_off = base + 4096;
	w->out_len = rows * 64 * 4;
	edit(w);
	sqe.u.stage.off = base;
	sqe.u.stage.len = sizeof(*w);
	return raw_call(h, &sqe);
}

static void w_ok(struct hgca_wire_attend *w) { (void)w; }
static void w_qlen(struct hgca_wire_attend *w) { w->q_len -= 4; }
static void w_outlen(struct hgca_wire_attend *w) { w->out_len *= 2; }
static void w_model(struct hgca_wire_attend *w) { w->model = 31337; }
static void w_nseq(struct hgca_wire_attend *w) { w->nseq = 0; }
static void w_dtype(struct hgca_wire_attend *w) { w->out_dtype = HGCA_WIRE_F16; }
static void w_layer(struct hgca_wire_attend *w) { w->layer = 7; }
static void w_policy(struct hgca_wire_attend *w)
{
	w->flags = HGCA_ATTEND_F_POLICY;
	strcpy(w->policy, "bogus:3");
}
static void w_stats(struct hgca_wire_attend *w)
{
	w->flags = HGCA_ATTEND_F_STATS;
	w->stats_off = w->out_off + 8192;
	w->stats_len = 24;	/* 4 rows need 96 */
}

static int
raw_append(uint32_t seq, uint64_t n, uint64_t bytes)
{
	struct hgca_sqe sqe = { .opcode = HGCA_OP_KV_APPEND };

	sqe.u.append = (struct hgca_sqe_append){
		.seq = seq, .layer = 0, .n = n, .k_off = raw_off(x.h),
		.v_off = raw_off(x.h) + 65536, .bytes = bytes };
	return raw_call(x.h, &sqe);
}

static int
raw_model_dtype(void)
{
	struct hgca_wire_model *w = (void *)(x.h->stage + raw_off(x.h));
	struct hgca_sqe sqe = { .opcode = HGCA_OP_MODEL_DECLARE };

	memset(w, 0, sizeof(*w));
	w->layers = w->hq = w->hkv = 1;
	w->d = 32;
	w->dtype = 9;
	sqe.u.stage.off = raw_off(x.h);
	sqe.u.stage.len = sizeof(*w);
	return raw_call(x.h, &sqe);
}

static int
raw_seq(uint8_t op, uint32_t seq, uint64_t n, uint32_t layer)
{
	struct hgca_sqe sqe = { .opcode = op };

	sqe.u.seq.seq = seq;
	sqe.u.seq.n = n;
	sqe.u.seq.layer = layer;
	return raw_call(x.h, &sqe);
}

static void
wire_cases(void)
{
	struct hgca_status st;
	struct {
		const char *name;
		int rc, want;
	} w[] = {
		{ "ATTEND as the library sends it", raw_attend(w_ok), 0 },
		{ "ATTEND queries 4 bytes short of the model", raw_attend(w_qlen), -EINVAL },
		{ "ATTEND output twice the model's", raw_attend(w_outlen), -EINVAL },
		{ "ATTEND stats smaller than the rows", raw_attend(w_stats), -EINVAL },
		{ "ATTEND unknown model", raw_attend(w_model), -ENOENT },
		{ "ATTEND 0 sequences", raw_attend(w_nseq), -EINVAL },
		{ "ATTEND fp16 output", raw_attend(w_dtype), -EINVAL },
		{ "ATTEND layer out of range", raw_attend(w_layer), -EINVAL },
		{ "ATTEND unknown policy", raw_attend(w_policy), -EINVAL },
		{ "KV_APPEND bytes not matching the model",
		  raw_append(x.sa.id, 1, 64 * 2 * 4 - 4), -EINVAL },
		{ "KV_APPEND unknown sequence",
		  raw_append(x.closed, 1, 64 * 2 * 4), -ENOENT },
		{ "MODEL_DECLARE unknown dtype", raw_model_dtype(), -EINVAL },
		{ "SEQ_TRUNCATE 2^63 tokens",
		  raw_seq(HGCA_OP_SEQ_TRUNCATE, x.sa.id, 1ull << 63, 0), -EINVAL },
		{ "SEQ_LENGTH layer 2^31",
		  raw_seq(HGCA_OP_SEQ_LENGTH, x.sa.id, 0, 1u << 31), -EINVAL },
		{ "SEQ_CLOSE unknown sequence",
		  raw_seq(HGCA_OP_SEQ_CLOSE, 424242, 0, 0), -ENOENT },
	};

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		ok(w[i].rc == w[i].want && unchanged(),
		   "wire: %s: error completion %d (want %d)", w[i].name,
		   w[i].rc, w[i].want);
	bool works = still_works();
	int sr = hgca_admin_status(x.ctl, &st);

	ok(works && sr == 0 && st.quarantined == 0,
	   "after them the handle still computes correctly, nobody "
	   "quarantined (%llu)", (unsigned long long)st.quarantined);
}

static void
setup(void)
{
	struct hgca_connect_opts co = { .flags = HGCA_CONNECT_CONTROL };
	struct e2e_seq tmp;

	x.a.m = shape_a;
	x.b.m = shape_b;
	x.pa = &x.sa;
	x.pb = &x.sb;
	if (hgca_connect(d.sock, &x.h) < 0 ||
	    hgca_connect_with(d.sock, &co, &x.ctl) < 0 ||
	    e2e_declare(x.h, &x.a) < 0 || e2e_declare(x.h, &x.b) < 0 ||
	    e2e_open(x.h, &x.a, &x.sa) < 0 || e2e_open(x.h, &x.b, &x.sb) < 0 ||
	    e2e_append(x.h, &x.sa, -1, &rg, PROMPT, 1.0) < 0 ||
	    e2e_append(x.h, &x.sb, -1, &rg, 100, 1.0) < 0 ||
	    e2e_open(x.h, &x.a, &tmp) < 0) {
		printf("Bail out! set-up\n");
		exit(1);
	}
	x.closed = tmp.id;
	e2e_close(x.h, &tmp);
	other_seq[0] = x.sb.id;
	closed_seq[0] = x.closed;
}

int
main(void)
{
	struct e2e_neighbour nb;
	long steps, bad;
	uint64_t seed = ref64_seed();
	int rc;

	rng_seed(&rg, seed);
	ref64_fill_normal(&rg, qbuf, sizeof(qbuf) / sizeof(qbuf[0]), 1.0);
	td_watchdog(60);
	td_start_or_bail(&d, "workers = 2\nmemory_budget = 128M", NULL);
	if (e2e_neighbour_start(&nb, d.sock, seed + 1) < 0) {
		printf("Bail out! neighbour\n");
		return 1;
	}
	setup();
	run_cases();
	busy_cases();
	ring_full();
	small_arena();
	wire_cases();
	ok(e2e_neighbour_moves(&nb, 20, 5000), "the neighbour still decodes");
	steps = e2e_neighbour_stop(&nb, &bad);
	ok(steps > 0 && bad == 0, "the neighbour decoded %ld steps throughout, "
	   "%ld wrong", steps, bad);
	e2e_close(x.h, &x.sa);
	e2e_close(x.h, &x.sb);
	hgca_disconnect(x.h);
	hgca_disconnect(x.ctl);
	rc = td_stop(&d, SIGTERM);
	ok(rc == 0, "hgcad exits 0 (%d)", rc);
	td_cleanup(&d);
	return done_testing();
}
