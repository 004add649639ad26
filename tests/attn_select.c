/*
 * attn_select - the selecting policies (topk:K, mass:EPS, byte budgets) on
 * every ISA path, on random and adversarial inputs (near-ties, all-equal
 * scores, huge and tiny norms, one dominant key, clustered sharp heads),
 * against float64:
 *   - delta is never below the true dropped fraction (slack 1e-12);
 *   - ||o_ref - o||_2 <= 2 delta max||v||_2 + tol;
 *   - o and lse are the exact partial over the keys the engine reports kept;
 *   - mass: delta <= eps; topk: K keys, none below the true K-th largest
 *     score minus fp32 rounding; budgets are respected; V bytes are the
 *     keys some row kept; sharp heads skip pages.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/paged.h"
#include "tests/ref64.h"
#include "tests/tap.h"
#include "tests/attn_paged_util.h"

#define NISA 3
#define OUT_TOL 1e-5		/* the full path's tolerance, times max||v|| */

enum gen { RANDOM, CLUSTERED, SHARP, NEAR_TIES, ALL_EQUAL, ZERO_Q, HUGE, TINY,
	   DOMINANT };
static const char *const gen_name[] = { "random", "clustered", "sharp", "near-ties",
	"all-equal", "zero-q", "huge", "tiny", "dominant" };

struct sel_case {
	enum gen gen;
	int64_t n;
	int G, L;
	int64_t qoff;		/* query row 0 relative to the last key */
	int d;
	enum attn_dtype dt;
	int P;
	unsigned flags;
};

static const struct sel_case cases[] = {
	{ RANDOM, 1000, 4, 1, 0, 128, ATTN_BF16, 64, 0 },
	{ RANDOM, 5000, 8, 1, 0, 64, ATTN_F32, 16, TP_SHUFFLE | TP_NOSUM },
	{ RANDOM, 777, 1, 3, -100, 96, ATTN_F16, 48, 0 },
	{ RANDOM, 1, 4, 1, 0, 64, ATTN_F32, 16, 0 },
	{ CLUSTERED, 20000, 4, 1, 0, 128, ATTN_BF16, 64, 0 },
	{ CLUSTERED, 6413, 1, 1, 0, 64, ATTN_F16, 64, TP_NOSUM },
	{ SHARP, 5000, 8, 2, -1, 128, ATTN_F32, 64, TP_SHUFFLE },
	{ NEAR_TIES, 2000, 4, 1, 0, 64, ATTN_BF16, 64, 0 },
	{ ALL_EQUAL, 1000, 4, 1, 0, 64, ATTN_F32, 16, 0 },
	{ ZERO_Q, 500, 2, 2, -3, 32, ATTN_F32, 16, 0 },
	{ HUGE, 2000, 4, 1, 0, 128, ATTN_F32, 64, 0 },
	{ TINY, 2000, 4, 1, 0, 128, ATTN_F32, 64, 0 },
	{ DOMINANT, 3000, 4, 1, 0, 128, ATTN_BF16, 64, TP_NOSUM },
};

/* Policies; budgets are a fraction of the K+V bytes of every visible key. */
static const struct { const char *text; double budget; } pols[] = {
	{ "topk:1", 0 }, { "topk:7", 0 }, { "topk:100", 0 }, { "topk:1000000000", 0 },
	{ "mass:0.5", 0 }, { "mass:0.1", 0 }, { "mass:0.01", 0 }, { "mass:0.001", 0 },
	{ "mass:0.000001", 0 }, { "full", 0.4 }, { "mass:0.01", 0.3 },
	{ "topk:64", 0.2 }, { "full", 100.0 },
};
#define NPOL (sizeof(pols) / sizeof(pols[0]))

struct sel_data {
	struct sel_case c;
	float *q, *k, *v, *o, *lse;
	double *s;		/* [rows][n] exact scores */
	double *oref;		/* [rows][d] exact full attention */
	double *err;		/* [rows] bound on |fp32 score - exact| */
	double *est;		/* [rows] a typical |fp32 score - exact| (3 sigma) */
	int64_t *nvis;		/* [rows] */
	double *tol_o, *tol_l;	/* [rows] the full path's own error here */
	double maxv;
	int64_t kpos, allbytes;
	struct attn_row_stats *st;
	struct tpages tp;
	struct attn_query qu;
};

/* AR(1) background, sink and local-band bias, needles: the score shape of
 * attn/workload.h, one random direction per head. */
static void
gen_clustered(struct sel_data *D, struct rng *r, bool sharp)
{
	const struct sel_case *c = &D->c;
	int d = c->d;
	float *dir = malloc((size_t)c->G * d * 4);

	ref64_fill_normal(r, D->k, (size_t)c->n * d, 0.1);
	for (int g = 0; g < c->G; g++) {
		float *e = dir + (size_t)g * d;
		double nrm = 0.0, z = rng_normal(r), tau = sharp ? 8.0 : pow(2.0, g % 4);

		for (int i = 0; i < d; i++) {
			e[i] = (float)rng_normal(r);
			nrm += e[i] * e[i];
		}
		for (int i = 0; i < d; i++)
			e[i] /= (float)sqrt(nrm);
		for (int64_t j = 0; j < c->n; j++) {
			double b = j < 4 ? 5.0 : j >= c->n - 64 ? 2.0 : rng_below(r, 500) == 0 ? 6.0 : 0.0;

			z = 0.9 * z + sqrt(1 - 0.81) * rng_normal(r);
			for (int i = 0; i < d; i++)
				D->k[j * d + i] += (float)((z + b) * e[i]);
		}
		for (int i = 0; i < c->L; i++)
			for (int x = 0; x < d; x++)
				D->q[((size_t)i * c->G + g) * d + x] = (float)(tau * sqrt(d) * e[x]);
	}
	free(dir);
}

static void
gen_inputs(struct sel_data *D, struct rng *r)
{
	const struct sel_case *c = &D->c;
	size_t nq = (size_t)c->L * c->G * c->d, nkv = (size_t)c->n * c->d;

	ref64_fill_normal(r, D->q, nq, 1.0);
	ref64_fill_normal(r, D->k, nkv, 1.0);
	ref64_fill_normal(r, D->v, nkv, 1.0);
	switch (c->gen) {
	case CLUSTERED:
	case SHARP:
		gen_clustered(D, r, c->gen == SHARP);
		break;
	case NEAR_TIES:		/* half the keys a copy of key 0, some 1 ulp off */
		for (int64_t j = 1; j < c->n; j += 2)
			for (int x = 0; x < c->d; x++)
				D->k[j * c->d + x] = nextafterf(D->k[x], rng_below(r, 2) ? INFINITY : 0.0f);
		break;
	case ALL_EQUAL:
		for (int64_t j = 1; j < c->n; j++)
			memcpy(D->k + j * c->d, D->k, (size_t)c->d * 4);
		break;
	case ZERO_Q:
		memset(D->q, 0, nq * 4);
		break;
	case HUGE:
		ref64_fill_normal(r, D->q, nq, 30.0);
		ref64_fill_normal(r, D->k, nkv, 30.0);
		break;
	case TINY:
		ref64_fill_normal(r, D->q, nq, 1e-20);
		ref64_fill_normal(r, D->k, nkv, 1e-20);
		break;
	case DOMINANT: {
		int64_t j = (int64_t)rng_below(r, (uint64_t)c->n);

		for (int x = 0; x < c->d; x++)
			D->k[j * c->d + x] = 3.0f * D->q[x];
		break;
	}
	default:
		break;
	}
	ref64_round(c->dt, D->k, nkv);
	ref64_round(c->dt, D->v, nkv);
}

static void
sel_data_free(struct sel_data *D)
{
	free(D->q); free(D->k); free(D->v); free(D->o); free(D->lse);
	free(D->s); free(D->oref); free(D->err); free(D->nvis); free(D->st);
	free(D->tol_o); free(D->tol_l); free(D->est);
	tpages_free(&D->tp);
}

static void
sel_data_make(struct sel_data *D, const struct sel_case *c, struct rng *r)
{
	size_t rows = (size_t)c->L * c->G, nkv = (size_t)c->n * c->d;
	struct attn_layout lo = { c->d, c->P, c->dt };
	double g = 1.01 * (c->d + 4) * 0x1p-24 / (1 - (c->d + 4) * 0x1p-24);

	memset(D, 0, sizeof(*D));
	D->c = *c;
	D->q = malloc(rows * c->d * 4);
	D->k = malloc(nkv * 4);
	D->v = malloc(nkv * 4);
	D->o = malloc(rows * c->d * 4);
	D->lse = malloc(rows * 4);
	D->s = malloc(rows * c->n * 8);
	D->oref = malloc(rows * c->d * 8);
	D->err = malloc(rows * 8);
	D->est = malloc(rows * 8);
	D->nvis = malloc(rows * 8);
	D->tol_o = malloc(rows * 8);
	D->tol_l = malloc(rows * 8);
	D->st = malloc(rows * sizeof(*D->st));
	gen_inputs(D, r);
	D->kpos = (int64_t)rng_below(r, 5000);
	D->qu = (struct attn_query){ .q = D->q, .L = c->L, .G = c->G, .d = c->d,
		.pos = D->kpos + c->n - 1 + c->qoff, .scale = 1.0f / sqrtf((float)c->d) };
	tpages_build(&D->tp, &lo, D->k, D->v, c->n, D->kpos, c->flags, r);
	D->maxv = tp_max_norm(D->v, c->n, c->d);
	for (size_t row = 0; row < rows; row++) {
		const float *q = D->q + row * c->d;
		int64_t lim = D->qu.pos + (int64_t)(row / c->G) - D->kpos + 1;
		double worst = 0.0;

		D->nvis[row] = lim < 0 ? 0 : lim > c->n ? c->n : lim;
		tp_scores(q, D->qu.scale, D->k, c->n, c->d, D->s + row * c->n);
		tp_partial64(D->s + row * c->n, D->v, D->nvis[row], c->d, NULL,
			     D->oref + row * c->d, NULL);
		for (int64_t j = 0; j < c->n; j++) {
			double a = 0.0;

			for (int x = 0; x < c->d; x++)
				a += fabs((double)q[x] * D->qu.scale * D->k[j * c->d + x]);
			worst = fmax(worst, a);
		}
		D->err[row] = g * worst + (c->d + 4) * 0x1p-149;
		D->est[row] = 3 * 0x1p-24 * sqrt(c->d) * worst;
		if (row / c->G == (size_t)c->L - 1)
			D->allbytes = 2 * D->nvis[row] * c->d * (int64_t)attn_dtype_size(c->dt);
	}
}

struct tally {
	int delta, out, kept, contract;
	char first[200];
};

static void
tally_fail(struct tally *t, int *what, const char *fmt, ...)
{
	va_list ap;

	if (!t->first[0]) {
		va_start(ap, fmt);
		vsnprintf(t->first, sizeof(t->first), fmt, ap);
		va_end(ap);
	}
	++*what;
}

static double
dist(const float *a, const double *b, int d)
{
	double s = 0.0;

	for (int x = 0; x < d; x++)
		s += (a[x] - b[x]) * (a[x] - b[x]);
	return sqrt(s);
}

static int
cmp_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* The K-th largest of s[0..n) (n >= K >= 1). */
static double
kth_largest(const double *s, int64_t n, int64_t K)
{
	double *t = malloc((size_t)n * 8), v;

	memcpy(t, s, (size_t)n * 8);
	qsort(t, (size_t)n, 8, cmp_desc);
	v = t[K - 1];
	free(t);
	return v;
}

/* One row: kept set, delta, output bounds, the policy's contract. */
static void
check_row(struct sel_data *D, struct attn_engine *e, const struct attn_policy *pol,
	  int row, bool *keep, bool *vunion, struct tally *t, const char *ptext)
{
	const struct sel_case *c = &D->c;
	const double *s = D->s + (size_t)row * c->n;
	const struct attn_row_stats *st = &D->st[row];
	const float *o = D->o + (size_t)row * c->d;
	int64_t nv = D->nvis[row], cnt = 0, *pos = malloc((size_t)(nv + 1) * 8);
	double *o64 = malloc((size_t)c->d * 8), dropped, lse64, lim;
	int bad = 0;

	memset(keep, 0, (size_t)(nv + 1));
	if (attn_engine_kept(e, row, pos, nv + 1, &cnt) || cnt != st->entries)
		bad++;
	for (int64_t j = 0; j < cnt && !bad; j++) {
		int64_t x = pos[j] - D->kpos;

		if (x < 0 || x >= nv || keep[x])
			bad++;
		else
			keep[x] = vunion[x] = true;
	}
	if (bad) {
		tally_fail(t, &t->kept, "%s row %d: kept set invalid", ptext, row);
		goto out;
	}
	lse64 = tp_partial64(s, D->v, nv, c->d, keep, o64, &dropped);
	if (!(st->delta >= dropped - 1e-12 && st->delta <= 1.0))
		tally_fail(t, &t->delta, "%s row %d: delta %.3g < dropped %.3g", ptext, row,
			   st->delta, dropped);
	lim = 2 * st->delta * D->maxv + OUT_TOL * D->maxv + 2 * D->tol_o[row];
	if (!(dist(o, D->oref + (size_t)row * c->d, c->d) <= lim))
		tally_fail(t, &t->out, "%s row %d: ||o - o_ref|| %.3g > %.3g", ptext, row,
			   dist(o, D->oref + (size_t)row * c->d, c->d), lim);
	/* Against float64 on the same keys, allowing the full path's error
	 * here and a typical fp32 score error (large only for huge norms,
	 * whose scores are in the thousands). */
	if (cnt == 0 ? D->lse[row] != -INFINITY :
	    !(dist(o, o64, c->d) <= OUT_TOL * D->maxv + 2 * D->tol_o[row] +
	      2 * D->est[row] * D->maxv &&
	      fabs(D->lse[row] - lse64) <= 1e-4 + 1e-6 * fabs(lse64) + 2 * D->tol_l[row] +
	      D->est[row]))
		tally_fail(t, &t->kept, "%s row %d: o/lse differ from the kept keys' partial (%.3g, %.3g)",
			   ptext, row, dist(o, o64, c->d), D->lse[row] - lse64);
	if (pol->budget == 0 && pol->kind == ATTN_POLICY_MASS && !(st->delta <= pol->eps))
		tally_fail(t, &t->contract, "%s row %d: delta %.3g > eps", ptext, row, st->delta);
	if (pol->budget == 0 && pol->kind == ATTN_POLICY_TOPK && nv > 0) {
		int64_t K = pol->topk < nv ? pol->topk : nv;
		double kth = kth_largest(s, nv, K);

		if (cnt != K)
			tally_fail(t, &t->contract, "%s row %d: %lld kept, want %lld", ptext, row,
				   (long long)cnt, (long long)K);
		for (int64_t j = 0; j < nv; j++)
			if (keep[j] && s[j] < kth - 2 * D->err[row]) {
				tally_fail(t, &t->contract, "%s row %d: kept score %.6g below K-th %.6g",
					   ptext, row, s[j], kth);
				break;
			}
	}
out:
	free(pos);
	free(o64);
}

/* How far this path's `full` is from float64 on these inputs: the rounding
 * allowance of every other check (tiny for ordinary inputs, larger where
 * huge scores amplify fp32 rounding). */
static void
full_tolerance(struct sel_data *D, struct attn_engine *e)
{
	const struct sel_case *c = &D->c;
	struct attn_policy full = { .kind = ATTN_POLICY_FULL };

	attn_paged_partial(e, &D->qu, D->tp.pg, D->tp.np, &full, D->o, D->lse, D->st);
	for (int row = 0; row < c->L * c->G; row++) {
		double l64 = tp_partial64(D->s + (size_t)row * c->n, D->v, D->nvis[row], c->d,
					  NULL, D->oref + (size_t)row * c->d, NULL);

		D->tol_o[row] = dist(D->o + (size_t)row * c->d, D->oref + (size_t)row * c->d, c->d);
		D->tol_l[row] = l64 == -INFINITY ? 0.0 : fabs(D->lse[row] - l64);
	}
}

static void
run_case_isa(struct sel_data *D, enum attn_isa isa)
{
	const struct sel_case *c = &D->c;
	struct attn_layout lo = { c->d, c->P, c->dt };
	struct attn_engine *e;
	struct tally t = { 0 };
	int rows = c->L * c->G, es = (int)attn_dtype_size(c->dt);
	bool *keep = malloc((size_t)c->n + 1), *vunion = malloc((size_t)c->n + 1);
	double worst_delta = 0.0;

	attn_engine_create(&e, &lo, isa);
	full_tolerance(D, e);
	for (size_t pi = 0; pi < NPOL; pi++) {
		struct attn_policy pol;
		struct attn_call_stats cs;
		char ptext[64];
		int64_t vb = 0;

		attn_policy_parse(pols[pi].text, &pol);
		pol.budget = (int64_t)(pols[pi].budget * D->allbytes);
		if (pols[pi].budget > 0 && pol.budget == 0)
			pol.budget = 1;
		attn_policy_format(&pol, ptext, sizeof(ptext));
		if (attn_paged_partial(e, &D->qu, D->tp.pg, D->tp.np, &pol, D->o, D->lse, D->st)) {
			tally_fail(&t, &t.kept, "%s: call failed", ptext);
			continue;
		}
		attn_engine_last_stats(e, &cs);
		memset(vunion, 0, (size_t)c->n + 1);
		for (int row = 0; row < rows; row++) {
			check_row(D, e, &pol, row, keep, vunion, &t, ptext);
			worst_delta = fmax(worst_delta, D->st[row].delta);
		}
		for (int64_t j = 0; j < c->n; j++)
			vb += vunion[j];
		if (cs.v_bytes != vb * c->d * es || cs.k_bytes > D->allbytes / 2)
			tally_fail(&t, &t.contract, "%s: V bytes %lld for %lld kept keys, K bytes %lld",
				   ptext, (long long)cs.v_bytes, (long long)vb, (long long)cs.k_bytes);
		if (pol.budget && cs.k_bytes + cs.v_bytes > pol.budget)
			tally_fail(&t, &t.contract, "%s: read %lld bytes", ptext,
				   (long long)(cs.k_bytes + cs.v_bytes));
	}
	if (t.first[0])
		diag("first failure: %s", t.first);
#define NAME attn_isa_name(isa), gen_name[c->gen], attn_dtype_name(c->dt), \
	(long long)c->n, c->G, c->L, c->d, c->P
	ok(t.delta == 0, "%s %s %s n=%lld G=%d L=%d d=%d P=%d: delta >= true dropped fraction",
	   NAME);
	ok(t.out == 0, "%s %s %s n=%lld G=%d L=%d d=%d P=%d: ||o_ref - o|| <= 2 delta max||v|| + tol",
	   NAME);
	ok(t.kept == 0, "%s %s %s n=%lld G=%d L=%d d=%d P=%d: o, lse are the kept keys' exact partial",
	   NAME);
	ok(t.contract == 0, "%s %s %s n=%lld G=%d L=%d d=%d P=%d: mass delta <= eps, topk K-th, budget, bytes",
	   NAME);
#undef NAME
	attn_engine_destroy(e);
	free(keep);
	free(vunion);
}

/* Sharp heads: mass and topk skip pages by their bounds, and `full` under
 * an unlimited budget (the selecting path) equals float64. */
static void
check_skipping(struct rng *r, enum attn_isa isa)
{
	struct sel_case c = { SHARP, 32768, 4, 1, 0, 128, ATTN_BF16, 64, 0 };
	static const char *const pt[] = { "mass:0.001", "topk:8" };
	struct attn_layout lo = { c.d, c.P, c.dt };
	struct attn_engine *e;
	struct sel_data D;
	struct attn_policy pol;
	struct attn_call_stats cs;
	double rel;

	sel_data_make(&D, &c, r);
	attn_engine_create(&e, &lo, isa);
	for (int i = 0; i < 2; i++) {
		attn_policy_parse(pt[i], &pol);
		attn_paged_partial(e, &D.qu, D.tp.pg, D.tp.np, &pol, D.o, D.lse, D.st);
		attn_engine_last_stats(e, &cs);
		ok(cs.pages_scored < cs.pages / 2 && (i == 1 || D.st[0].delta <= 1e-3),
		   "%s %s on sharp heads: %d of %d pages scored, delta %.2e",
		   attn_isa_name(isa), pt[i], cs.pages_scored, cs.pages, D.st[0].delta);
	}
	/* The selecting path in exact mode against the streaming one (same
	 * scores, other summation order) and against float64, allowing the
	 * streaming path's own error (fp32 scores of sharp heads are large,
	 * so their rounding shows in o). */
	full_tolerance(&D, e);
	{
		float *os = malloc(4 * 128 * 4);
		double *o64 = malloc(4 * 128 * 8), tol = 0.0;

		memcpy(os, D.o, 4 * 128 * 4);
		for (int row = 0; row < 4; row++) {
			memcpy(o64 + row * 128, D.oref + row * 128, 128 * 8);
			tol = fmax(tol, ref64_rel_l2(os + row * 128, o64 + row * 128, 128));
		}
		attn_policy_parse("full,budget:1000g", &pol);
		attn_paged_partial(e, &D.qu, D.tp.pg, D.tp.np, &pol, D.o, D.lse, D.st);
		rel = 0.0;
		for (int row = 0; row < 4; row++) {
			double *ds = malloc(128 * 8);

			for (int x = 0; x < 128; x++)
				ds[x] = os[row * 128 + x];
			rel = fmax(rel, ref64_rel_l2(D.o + row * 128, ds, 128));
			rel = fmax(rel, ref64_rel_l2(D.o + row * 128, o64 + row * 128, 128) - 2 * tol);
			free(ds);
		}
		free(os);
		free(o64);
	}
	ok(rel <= 1e-5 && D.st[0].delta == 0.0 && D.st[0].entries == c.n,
	   "%s full under an unlimited budget equals the streaming path and float64: rel L2 %.2e",
	   attn_isa_name(isa), rel);
	attn_engine_destroy(e);
	sel_data_free(&D);
}

int
main(void)
{
	struct rng r;

	rng_seed(&r, ref64_seed());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sel_data D;

		sel_data_make(&D, &cases[i], &r);
		for (int isa = 0; isa < NISA; isa++) {
			if (attn_isa_supported((enum attn_isa)isa))
				run_case_isa(&D, (enum attn_isa)isa);
			else
				tp_skip(4, "this CPU lacks the path");
		}
		sel_data_free(&D);
	}
	for (int isa = 0; isa < NISA; isa++) {
		if (attn_isa_supported((enum attn_isa)isa))
			check_skipping(&r, (enum attn_isa)isa);
		else
			tp_skip(3, "this CPU lacks the path");
	}
	return done_testing();
}
