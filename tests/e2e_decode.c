/*
 * e2e_decode - the service end to end: several client processes at once,
 * each with its own model shape, prefill a prompt and run a decode loop of
 * hundreds of steps against one hgcad: per step one token appended to
 * every layer and attention at every layer; every few steps a speculative
 * block (4 draft tokens appended, a causal 4-token query, 3 drafts
 * rejected by truncation) and a per-call policy override.  Every output is
 * checked against float64 full attention over the same (rounded) values:
 * exact mode within 1e-5 relative L2 (fp32 output) or bf16's rounding,
 * sparse modes within 2 delta max||v|| + tol with the delta the service
 * reports.  One client uses the asynchronous form (all layers in flight
 * with their own tags).  Finally every page is back in the pools.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e_help.h"
#include "tests/ref64.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

struct shape {
	const char *name;
	struct hgca_model m;
	int prompt, steps, B;
	uint32_t out_dt;
	const char *override;	/* policy of the override calls */
	bool async;
};

static const struct shape shapes[] = {
	{ "f32 KV, GQA 8/2, d 64, 2 layers, exact, fp32 out",
	  { .layers = 2, .hq = 8, .hkv = 2, .d = 64, .kv_dtype = HGCA_DTYPE_F32,
	    .window = 64, .page = 16 },
	  600, 200, 2, HGCA_DTYPE_F32, "topk:40", false },
	{ "bf16 KV, MHA 4/4, d 32, 3 layers, exact, bf16 out, async",
	  { .layers = 3, .hq = 4, .hkv = 4, .d = 32, .kv_dtype = HGCA_DTYPE_BF16,
	    .window = 128 },
	  1100, 200, 1, HGCA_DTYPE_BF16, "mass:0.01", true },
	{ "bf16 KV, GQA 16/2, d 128, 1 layer, mass:0.05 default, fp32 out",
	  { .layers = 1, .hq = 16, .hkv = 2, .d = 128,
	    .kv_dtype = HGCA_DTYPE_BF16, .window = 64, .page = 32,
	    .policy = "mass:0.05" },
	  1500, 150, 2, HGCA_DTYPE_F32, "full", false },
};

#define NSHAPES (int)(sizeof(shapes) / sizeof(shapes[0]))

/* What a child reports through shared memory. */
struct report {
	int done;		/* 1 when the child finished */
	int setup_err;
	int attends, failed;	/* attends checked, failed the check */
	int spec, spec_failed;	/* multi-token causal queries */
	int over, over_failed;	/* per-call overrides */
	struct e2e_result worst, worst_over;
	int64_t tokens;		/* tokens in the last sequence at the end */
	int truncate_bad;	/* lengths after truncation not as expected */
};

static struct td d;
static uint64_t seed;

/* Check and count one result. */
static void
tally(struct report *rp, const struct e2e_result *r, const struct e2e_ask *a,
      bool over)
{
	bool pass = e2e_pass(r, a);

	if (over) {
		rp->over++;
		rp->over_failed += !pass;
		e2e_fold(&rp->worst_over, r);
		return;
	}
	rp->attends++;
	rp->failed += !pass;
	rp->spec += a->L > 1;
	rp->spec_failed += a->L > 1 && !pass;
	e2e_fold(&rp->worst, r);
	if (!pass && rp->failed <= 3)
		fprintf(stderr, "# layer %d L %d: err %d rel %.2e excess %.2e\n",
			a->layer, a->L, r->err, r->rel, r->excess);
}

/* Every layer at once, each its own request in flight. */
static void
attend_async(struct hgca *h, const struct e2e_model *m, struct e2e_seq **s,
	     int B, struct e2e_ask *a, struct rng *r, struct report *rp)
{
	struct e2e_req q[8];
	struct hgca_completion c[8];
	struct e2e_result res;
	int L = (int)m->m.layers, got = 0, n, rc = 0;

	for (int l = 0; l < L; l++) {
		a->layer = l;
		e2e_req_make(&q[l], m, s, B, a, r);
		if (rc == 0)
			rc = hgca_attend_prep(h, (uint64_t)l + 100, &q[l].a);
	}
	if (rc == 0 && hgca_submit(h) != L)
		rc = -EIO;
	while (rc == 0 && got < L) {
		n = hgca_wait(h, c, 1, 8, 10000);
		if (n < 0)
			rc = n;
		for (int i = 0; i < n; i++) {
			int l = (int)c[i].tag - 100;

			if (l < 0 || l >= L) {
				rc = -EPROTO;
				break;
			}
			a->layer = l;
			e2e_req_check(&q[l], c[i].res, &res);
			tally(rp, &res, a, false);
			got++;
		}
	}
	if (rc < 0) {
		memset(&res, 0, sizeof(res));
		res.err = rc;
		tally(rp, &res, a, false);
	}
	for (int l = 0; l < L; l++)
		e2e_req_free(&q[l]);
}

static void
attend_layers(struct hgca *h, const struct shape *sh,
	      const struct e2e_model *m, struct e2e_seq **s, int L,
	      const char *policy, struct rng *r, struct report *rp)
{
	struct e2e_ask a = { .L = L, .out_dt = sh->out_dt, .policy = policy };
	struct e2e_result res;

	for (int b = 0; b < sh->B; b++)	/* causal: the last L positions */
		a.pos[b] = s[b]->kv[0].n - L;
	if (sh->async && !policy) {
		attend_async(h, m, s, sh->B, &a, r, rp);
		return;
	}
	for (int l = 0; l < (int)m->m.layers; l++) {
		a.layer = l;
		e2e_attend(h, m, s, sh->B, &a, r, &res);
		tally(rp, &res, &a, policy != NULL);
	}
}

/* Speculative block: 4 drafts, a causal 4-token query, 3 rejected. */
static void
speculate(struct hgca *h, const struct shape *sh, const struct e2e_model *m,
	  struct e2e_seq **s, struct rng *r, struct report *rp)
{
	uint64_t len;

	for (int b = 0; b < sh->B; b++)
		e2e_append(h, s[b], -1, r, 4, 1.0);
	attend_layers(h, sh, m, s, 4, NULL, r, rp);
	for (int b = 0; b < sh->B; b++) {
		int64_t want = s[b]->kv[0].n - 3;

		if (e2e_truncate(h, s[b], 3) < 0 ||
		    hgca_seq_length(h, s[b]->id, m->m.layers - 1, &len) < 0 ||
		    (int64_t)len != want)
			rp->truncate_bad++;
	}
}

static void
decode(struct hgca *h, const struct shape *sh, const struct e2e_model *m,
       struct e2e_seq **s, struct rng *r, struct report *rp)
{
	for (int t = 0; t < sh->steps; t++) {
		for (int b = 0; b < sh->B; b++)
			if (e2e_append(h, s[b], -1, r, 1, 1.0) < 0)
				rp->setup_err = -EIO;
		attend_layers(h, sh, m, s, 1, NULL, r, rp);
		if (t % 25 == 12)
			speculate(h, sh, m, s, r, rp);
		if (t % 40 == 20)
			attend_layers(h, sh, m, s, 1, sh->override, r, rp);
	}
}

static int
child(const struct shape *sh, int idx, struct report *rp)
{
	struct e2e_model m = { .m = sh->m };
	struct e2e_seq seq[E2E_MAXB], *s[E2E_MAXB];
	struct rng r;
	struct hgca *h;
	int rc;

	rp->worst.excess = rp->worst_over.excess = -HUGE_VAL;
	rng_seed(&r, seed + (uint64_t)idx * 7919);
	if ((rc = hgca_connect(d.sock, &h)) < 0 ||
	    (rc = e2e_declare(h, &m)) < 0) {
		rp->setup_err = rc;
		return 1;
	}
	for (int b = 0; b < sh->B && !rc; b++) {
		s[b] = &seq[b];
		rc = e2e_open(h, &m, s[b]);
		if (!rc)	/* different lengths per sequence */
			rc = e2e_append(h, s[b], -1, &r, sh->prompt + 37 * b,
					1.0);
	}
	rp->setup_err = rc;
	if (!rc)
		decode(h, sh, &m, s, &r, rp);
	rp->tokens = s[sh->B - 1]->kv[0].n;
	for (int b = 0; b < sh->B && !rc; b++)
		e2e_close(h, s[b]);
	hgca_disconnect(h);
	rp->done = 1;
	return 0;
}

static void
report(const struct shape *sh, const struct report *rp)
{
	ok(rp->done && !rp->setup_err && rp->failed == 0 && rp->attends > 0 &&
	   !rp->truncate_bad,
	   "%s: %d attends checked (%d multi-token causal), %d failed; worst "
	   "rel %.2e, worst bound excess %.2e, max delta %.2e, %lld tokens "
	   "at the end (setup %d, truncation errors %d)", sh->name,
	   rp->attends, rp->spec, rp->failed, rp->worst.rel,
	   rp->worst.excess, rp->worst.max_delta, (long long)rp->tokens,
	   rp->setup_err, rp->truncate_bad);
	ok(rp->done && rp->over > 0 && rp->over_failed == 0,
	   "%s: %d calls with policy %s instead of the model's, %d failed "
	   "(rel %.2e, excess %.2e, max delta %.2e)", sh->name, rp->over,
	   sh->override, rp->over_failed, rp->worst_over.rel,
	   rp->worst_over.excess, rp->worst_over.max_delta);
	ok(rp->done && rp->spec > 0 && rp->spec_failed == 0,
	   "%s: causal 4-token queries after drafts, then 3 drafts "
	   "truncated: %d checked", sh->name, rp->spec);
}

static bool
pages_back(void *arg)
{
	uint64_t *want = arg, pages, free_slabs;
	struct hgca_connect_opts o = { .flags = HGCA_CONNECT_CONTROL };
	struct hgca *ctl;
	bool back = false;

	if (hgca_connect_with(d.sock, &o, &ctl) == 0) {
		back = e2e_pool(ctl, &pages, &free_slabs) == 0 && pages == 0 &&
		       free_slabs == want[1];
		want[0] = pages;
		hgca_disconnect(ctl);
	}
	return back;
}

int
main(void)
{
	struct hgca_connect_opts o = { .flags = HGCA_CONNECT_CONTROL };
	struct report *rp;
	struct hgca_status st0;
	struct hgca *ctl;
	uint64_t want[2];
	pid_t pid[NSHAPES];
	int status, rc;
	bool back;

	seed = ref64_seed();
	td_watchdog(100);
	td_start_or_bail(&d, "workers = 2\nmemory_budget = 256M", NULL);
	if (hgca_connect_with(d.sock, &o, &ctl) < 0 ||
	    hgca_admin_status(ctl, &st0) < 0) {
		printf("Bail out! control connection\n");
		return 1;
	}
	hgca_disconnect(ctl);
	rp = mmap(NULL, NSHAPES * sizeof(*rp), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rp == MAP_FAILED) {
		printf("Bail out! mmap\n");
		return 1;
	}
	memset(rp, 0, NSHAPES * sizeof(*rp));
	for (int i = 0; i < NSHAPES; i++) {
		fflush(stdout);
		pid[i] = fork();
		if (pid[i] == 0)
			_exit(child(&shapes[i], i, &rp[i]));
	}
	for (int i = 0; i < NSHAPES; i++)
		waitpid(pid[i], &status, 0);
	for (int i = 0; i < NSHAPES; i++)
		report(&shapes[i], &rp[i]);
	want[0] = UINT64_MAX;
	want[1] = st0.kv_slabs_free;
	back = td_until(pages_back, want, 5000);
	ok(st0.kv_pages == 0 && back,
	   "every page back in the pools: %llu in use, free slabs as at the "
	   "start (%llu)", (unsigned long long)want[0],
	   (unsigned long long)st0.kv_slabs_free);
	rc = td_stop(&d, SIGTERM);
	ok(rc == 0, "hgcad exits 0 (%d)", rc);
	td_cleanup(&d);
	return done_testing();
}
