/* accuracy_base - the baselines and metrics of bench/accuracy on fresh
 * random inputs, against the float64 reference: exact step attention,
 * attention over a subset, sink+window, uniform sampling, Quest page
 * selection and bounds, H2O eviction, k-th largest, needle events and the
 * pooled metrics. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/accuracy.h"
#include "tests/ref64.h"
#include "tests/tap.h"

#define N 3000		/* tokens */
#define NG 4		/* query heads */
#define HD 64		/* head dimension */
#define NT 6		/* steps */
#define PS 64		/* page size */

struct tgroup {
	float *q, *k32, *v32;
	uint16_t *k, *v;
	int64_t pos[NT];
	struct acc_group grp;
};

/* Random bf16 K/V, queries with sharpness growing with the head. */
static void
tgroup_make(struct rng *r, struct tgroup *tg)
{
	size_t nkv = (size_t)N * HD;

	tg->q = malloc((size_t)NT * NG * HD * sizeof(float));
	tg->k32 = malloc(nkv * sizeof(float));
	tg->v32 = malloc(nkv * sizeof(float));
	tg->k = malloc(nkv * 2);
	tg->v = malloc(nkv * 2);
	for (int t = 0; t < NT; t++)
		for (int g = 0; g < NG; g++)
			ref64_fill_normal(r, tg->q + ((size_t)t * NG + g) * HD, HD, 1.0 + 2.0 * g);
	ref64_fill_normal(r, tg->k32, nkv, 1.0);
	ref64_fill_normal(r, tg->v32, nkv, 1.0);
	attn_from_f32(ATTN_BF16, tg->k32, tg->k, nkv);
	attn_from_f32(ATTN_BF16, tg->v32, tg->v, nkv);
	attn_to_f32(ATTN_BF16, tg->k, tg->k32, nkv);
	attn_to_f32(ATTN_BF16, tg->v, tg->v32, nkv);
	for (int t = 0; t < NT; t++)
		tg->pos[t] = N - NT + t;
	tg->grp = (struct acc_group){
		.G = NG, .d = HD, .T = NT, .dt = ATTN_BF16, .scale = (float)(1.0 / sqrt(HD)),
		.n = N, .q = tg->q, .pos = tg->pos, .k = tg->k, .v = tg->v,
		.k32 = tg->k32, .v32 = tg->v32,
	};
}

static void
tgroup_free(struct tgroup *tg)
{
	free(tg->q);
	free(tg->k32);
	free(tg->v32);
	free(tg->k);
	free(tg->v);
}

static double
rel(double a, double b)
{
	return fabs(a - b) / (fabs(b) > 1e-300 ? fabs(b) : 1.0);
}

/* The step's scores reproduce its exact lse and output (two independent
 * float64 computations: ours and ref64_attention's). */
static void
test_step(const struct acc_group *grp, struct acc_step *st)
{
	double worst = 0.0;

	for (int t = 0; t < NT; t += NT - 1) {
		acc_step_compute(st, grp, t);
		for (int g = 0; g < NG; g++) {
			const double *s = st->s + (size_t)g * N;
			double mx = -INFINITY, z = 0.0, o[HD] = { 0 };
			for (int64_t j = 0; j < st->nvis; j++)
				mx = s[j] > mx ? s[j] : mx;
			for (int64_t j = 0; j < st->nvis; j++) {
				double p = exp(s[j] - mx);
				z += p;
				for (int c = 0; c < HD; c++)
					o[c] += p * grp->v32[(size_t)j * HD + c];
			}
			worst = fmax(worst, rel(mx + log(z), st->lse[g]));
			for (int c = 0; c < HD; c++)
				worst = fmax(worst, fabs(o[c] / z - st->o[(size_t)g * HD + c]));
		}
	}
	ok(st->nvis == N && worst < 1e-12, "step scores match ref64's lse and output (worst %.2g)", worst);
}

/* Attention over a subset against ref64 over the gathered keys. */
static void
test_subset(struct rng *r, const struct acc_group *grp, const struct acc_step *st)
{
	static const int64_t sizes[] = { 1, 7, 64, 500, N };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int64_t m = sizes[i], *idx = malloc((size_t)N * sizeof(int64_t));
		unsigned char *mark = calloc(N, 1);
		float *ks = malloc((size_t)m * HD * sizeof(float)), *vs = malloc((size_t)m * HD * sizeof(float));
		double *w = malloc((size_t)m * sizeof(double)), worst = 0.0, wsum = 0.0;
		double o64[HD], lse64;
		float o[HD];
		int g = (int)(i % NG);
		struct attn_query q = { .q = grp->q + ((size_t)st->t * NG + g) * HD, .L = 1,
					.G = 1, .d = HD, .pos = N, .scale = grp->scale };

		acc_uniform(r, st->nvis, m, idx, mark);
		for (int64_t j = 0; j < m; j++) {
			memcpy(ks + j * HD, grp->k32 + idx[j] * HD, HD * sizeof(float));
			memcpy(vs + j * HD, grp->v32 + idx[j] * HD, HD * sizeof(float));
		}
		double kept = acc_attend_subset(grp, st, g, idx, m, o, w);
		ref64_attention(&q, ks, vs, m, 0, o64, &lse64);
		for (int64_t j = 0; j < m; j++) {
			wsum += w[j];
			worst = fmax(worst, fabs(w[j] - exp(st->s[(size_t)g * N + idx[j]] - lse64)));
		}
		double e = ref64_rel_l2(o, o64, HD), ek = rel(kept, exp(lse64 - st->lse[g]));
		ok(e < 1e-6 && ek < 1e-10 && fabs(wsum - 1.0) < 1e-12 && worst < 1e-12 &&
		   (m < N || fabs(kept - 1.0) < 1e-12),
		   "subset of %lld tokens, head %d: rel L2 %.2g, kept %.6f (rel err %.2g), weights %.2g",
		   (long long)m, g, e, kept, ek, worst);
		free(idx);
		free(mark);
		free(ks);
		free(vs);
		free(w);
	}
}

static void
test_budget_and_sink_window(void)
{
	static const struct { double f; int64_t nvis, want; } bt[] = {
		{ 0.1, 1000, 100 }, { 0.1, 5, 1 }, { 1.5, 10, 10 }, { 0.025, 8191, 204 },
	};
	static const struct { int64_t nvis, m; } sw[] = {
		{ 100, 10 }, { 100, 3 }, { 100, 100 }, { 5, 4 }, { 1000, 4 }, { 1000, 5 },
	};
	int64_t idx[1000];
	int bad = 0;

	for (size_t i = 0; i < sizeof(bt) / sizeof(bt[0]); i++)
		bad += acc_budget_tokens(bt[i].f, bt[i].nvis) != bt[i].want;
	ok(!bad, "budget tokens: floor of the fraction, at least 1, at most the context");
	for (size_t i = 0; i < sizeof(sw) / sizeof(sw[0]); i++) {
		int64_t c = acc_sink_window(sw[i].nvis, sw[i].m, idx), ns = sw[i].m < 4 ? sw[i].m : 4;
		bool good = c == sw[i].m;
		for (int64_t j = 0; j < c && good; j++) {
			int64_t want = j < ns ? j : sw[i].nvis - sw[i].m + j;
			good = idx[j] == want;
		}
		ok(good, "sink+window nvis=%lld m=%lld: first %lld and the last %lld tokens",
		   (long long)sw[i].nvis, (long long)sw[i].m, (long long)ns,
		   (long long)(sw[i].m - ns));
	}
}

/* Uniform: distinct, in range, marks cleared, each token equally likely. */
static void
test_uniform(struct rng *r)
{
	enum { NV = 50, M = 10, DRAWS = 20000 };
	unsigned char mark[NV] = { 0 };
	int64_t idx[M];
	double cnt[NV] = { 0 }, expect = (double)DRAWS * M / NV;
	double sd = sqrt(expect * (1.0 - (double)M / NV)), worst = 0.0;
	int bad = 0;

	for (int it = 0; it < DRAWS; it++) {
		unsigned char seen[NV] = { 0 };
		if (acc_uniform(r, NV, M, idx, mark) != M)
			bad++;
		for (int j = 0; j < M; j++) {
			if (idx[j] < 0 || idx[j] >= NV || seen[idx[j]]++)
				bad++;
			else
				cnt[idx[j]]++;
		}
	}
	for (int j = 0; j < NV; j++) {
		bad += mark[j] != 0;
		worst = fmax(worst, fabs(cnt[j] - expect) / sd);
	}
	ok(!bad && worst < 5.0, "uniform: %d draws of %d of %d distinct, marks cleared, "
	   "frequencies within %.1f sd (< 5)", DRAWS, M, NV, worst);
}

static int
cmp_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x < y) - (x > y);
}

static void
test_kth(struct rng *r)
{
	static const int64_t ns[] = { 1, 2, 10, 1000 };
	int bad = 0, runs = 0;

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		for (int levels = 3; levels <= 1000; levels *= 10) {
			int64_t n = ns[i];
			double *x = malloc((size_t)n * sizeof(double)), *y = malloc((size_t)n * sizeof(double));
			for (int64_t k = 1; k <= n; k += 1 + n / 7) {
				for (int64_t j = 0; j < n; j++)	/* few levels: many ties */
					x[j] = y[j] = (double)rng_below(r, (uint64_t)levels);
				qsort(y, (size_t)n, sizeof(double), cmp_desc);
				bad += acc_kth_largest(x, n, k) != y[k - 1];
				runs++;
			}
			free(x);
			free(y);
		}
	ok(!bad, "k-th largest equals the sorted answer in %d runs with ties", runs);
}

/* Page bound of @g's query at step @t over page @p (float64). */
static double
bound(const struct acc_group *grp, int t, int g, const float *lo, const float *hi)
{
	const float *q = grp->q + ((size_t)t * NG + g) * HD;
	double b = 0.0;

	for (int c = 0; c < HD; c++)
		b += fmax((double)q[c] * lo[c], (double)q[c] * hi[c]);
	return b * grp->scale;
}

static void
test_quest(const struct acc_group *grp, struct acc_step *st)
{
	static const double fracs[] = { 0.02, 0.05, 0.1, 0.5, 1.2 };
	float *lo, *hi;
	int64_t nfull, part, *idx = malloc((size_t)N * sizeof(int64_t));
	double *tmp = malloc((size_t)(N + 2 * N / PS + 2) * sizeof(double)), tb = 2.0 * HD * 2;
	double summ = 2.0 * HD * 4, loose = INFINITY;
	int bad = 0;

	acc_summaries(grp, PS, &lo, &hi);
	for (int64_t p = 0; p * PS < N; p++)
		for (int c = 0; c < HD; c++) {
			float a = INFINITY, b = -INFINITY;
			for (int64_t j = p * PS; j < (p + 1) * PS && j < N; j++) {
				a = fminf(a, grp->k32[j * HD + c]);
				b = fmaxf(b, grp->k32[j * HD + c]);
			}
			bad += lo[p * HD + c] != a || hi[p * HD + c] != b;
		}
	ok(!bad, "page summaries are the per-dimension min and max");

	acc_step_compute(st, grp, NT - 1);
	nfull = st->nvis / PS;
	part = st->nvis - nfull * PS;
	for (int g = 0; g < NG; g++)
		for (int64_t p = 0; p < nfull; p++) {
			double b = bound(grp, NT - 1, g, lo + p * HD, hi + p * HD), mx = -INFINITY;
			for (int64_t j = p * PS; j < (p + 1) * PS; j++)
				mx = fmax(mx, st->s[(size_t)g * N + j]);
			loose = fmin(loose, b - mx);
		}
	ok(loose >= -1e-9, "every page bound is at least its best score (min slack %.3g)", loose);

	for (size_t i = 0; i < sizeof(fracs) / sizeof(fracs[0]); i++) {
		int g = (int)(i % NG);
		double meta, budget = fracs[i] * (double)st->nvis * tb;
		int64_t c = acc_quest(grp, NT - 1, g, PS, lo, hi, budget, idx, &meta, tmp);
		int64_t want = (int64_t)floor((budget - nfull * summ - part * tb) / (PS * tb));
		unsigned char *sel = calloc((size_t)nfull + 1, 1);
		double minsel = INFINITY, maxun = -INFINITY;
		bool shape = true;

		want = want < 0 ? 0 : want > nfull ? nfull : want;
		for (int64_t j = 0; j < c; j++)
			if (idx[j] < nfull * PS)
				sel[idx[j] / PS]++;
		for (int64_t p = 0; p < nfull; p++) {
			double b = bound(grp, NT - 1, g, lo + p * HD, hi + p * HD);
			shape &= sel[p] == 0 || sel[p] == PS;
			if (sel[p])
				minsel = fmin(minsel, b);
			else
				maxun = fmax(maxun, b);
		}
		ok(shape && c == want * PS + part && meta == nfull * summ && minsel >= maxun &&
		   idx[c - 1] == st->nvis - 1,
		   "quest %.0f%% head %d: %lld whole pages (want %lld) + %lld partial, "
		   "chosen bounds >= the rest (%.3f >= %.3f)", 100 * fracs[i], g,
		   (long long)((c - part) / PS), (long long)want, (long long)part, minsel, maxun);
		free(sel);
	}
	free(lo);
	free(hi);
	free(idx);
	free(tmp);
}

/* H2O over all steps of one row: the cache respects the budget, keeps the
 * recent half, starts from the top exact weights, evicts the least
 * accumulated token, never readmits, and attends exactly its cache. */
static void
test_h2o(const struct acc_group *grp, struct acc_step *st, double frac, int g)
{
	struct acc_h2o h;
	unsigned char *gone = calloc(N, 1), *was = malloc(N);
	int64_t *idx = malloc((size_t)N * sizeof(int64_t));
	double *w = malloc((size_t)N * sizeof(double)), *tmp = malloc((size_t)N * sizeof(double));
	int bad_budget = 0, bad_recent = 0, bad_readmit = 0, bad_evict = 0, bad_out = 0;
	int bad_start = 0;

	acc_h2o_init(&h, N);
	for (int t = 0; t < NT; t++) {
		float o[HD], o2[HD];
		double kept;
		acc_step_compute(st, grp, t);
		int64_t m = acc_budget_tokens(frac, st->nvis), r = m / 2;
		if (t == 0) {
			acc_h2o_start(&h, st, g, m, tmp);
			double minin = INFINITY, maxout = -INFINITY;
			for (int64_t j = 0; j < st->nvis - r; j++) {
				double a = exp(st->s[(size_t)g * N + j] - st->lse[g]);
				if (h.in[j])
					minin = fmin(minin, a);
				else
					maxout = fmax(maxout, a);
			}
			bad_start = h.count != m || minin < maxout;
		}
		memcpy(was, h.in, N);
		int64_t c = acc_h2o_step(&h, grp, st, g, m, idx, o, w, &kept);
		double minkeep = INFINITY, maxgone = -INFINITY;
		bad_budget += c > m || c != h.count;
		for (int64_t j = st->nvis - r; j < st->nvis; j++)
			bad_recent += !h.in[j];
		for (int64_t j = 0; j < st->nvis; j++) {
			bad_readmit += gone[j] && h.in[j];
			if (was[j] && !h.in[j]) {
				gone[j] = 1;
				maxgone = fmax(maxgone, h.acc[j]);
			} else if (h.in[j] && j < st->nvis - r) {
				minkeep = fmin(minkeep, h.acc[j]);
			}
		}
		bad_evict += maxgone > minkeep;
		acc_attend_subset(grp, st, g, idx, c, o2, NULL);
		bad_out += memcmp(o, o2, sizeof(o)) != 0;
	}
	ok(!bad_start && !bad_budget && !bad_recent && !bad_readmit && !bad_evict && !bad_out,
	   "h2o %.0f%% head %d over %d steps: start %d, budget %d, recent %d, readmitted %d, "
	   "evicted above kept %d, output %d (all 0)", 100 * frac, g, NT, bad_start,
	   bad_budget, bad_recent, bad_readmit, bad_evict, bad_out);
	acc_h2o_free(&h);
	free(gone);
	free(was);
	free(idx);
	free(w);
	free(tmp);
}

/* Needle events on a planted token: deep and dominant -> event; in the
 * sinks or the recent band, or sharing its weight with an orthogonal
 * value, -> no event. */
static void
test_needle(struct rng *r, struct tgroup *tg, struct acc_step *st)
{
	static const struct { const char *what; int64_t at, twin; bool want; } cases[] = {
		{ "deep dominant token", 1000, -1, true },
		{ "dominant sink", 2, -1, false },
		{ "dominant recent token", N - NT - 10, -1, false },
		{ "two equal tokens, orthogonal values", 1000, 1500, false },
	};
	float *k = tg->k32, *v = tg->v32, save[4][HD];
	const float *q = tg->q;		/* step 0, head 0 */
	double qn = 0.0;

	for (int c = 0; c < HD; c++)
		qn += (double)q[c] * q[c];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t at = cases[i].at, tw = cases[i].twin;
		double depth = -1.0;
		memcpy(save[0], k + at * HD, sizeof(save[0]));
		memcpy(save[1], v + at * HD, sizeof(save[1]));
		if (tw >= 0) {
			memcpy(save[2], k + tw * HD, sizeof(save[2]));
			memcpy(save[3], v + tw * HD, sizeof(save[3]));
		}
		/* Score 40 above the rest: k = q * 40 sqrt(d) / |q|^2; value
		 * large; a twin with the same key and an orthogonal value. */
		for (int c = 0; c < HD; c++) {
			k[at * HD + c] = (float)(q[c] * 40.0 * sqrt(HD) / qn);
			v[at * HD + c] = c < HD / 2 ? 5.0f : 0.0f;
			if (tw >= 0) {
				k[tw * HD + c] = k[at * HD + c];
				v[tw * HD + c] = c < HD / 2 ? 0.0f : 5.0f;
			}
		}
		acc_step_compute(st, &tg->grp, 0);
		bool got = acc_needle_find(&tg->grp, st, 0, &depth);
		ok(got == cases[i].want && (!got || fabs(depth - (double)at / st->nvis) < 1e-12),
		   "needle: %s -> %s (depth %.3f)", cases[i].what, got ? "event" : "none", depth);
		memcpy(k + at * HD, save[0], sizeof(save[0]));
		memcpy(v + at * HD, save[1], sizeof(save[1]));
		if (tw >= 0) {
			memcpy(k + tw * HD, save[2], sizeof(save[2]));
			memcpy(v + tw * HD, save[3], sizeof(save[3]));
		}
	}
	(void)r;
}

/* Pooled metrics: sums of squares, bytes, maxima, recovery by depth. */
static void
test_stats(struct rng *r, const struct acc_group *grp, struct acc_step *st)
{
	struct acc_stats a, b, all;
	double e2 = 0.0, r2 = 0.0, bytes = 0.0, ctx = 0.0, dmax = 0.0;
	float o[HD];

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	acc_step_compute(st, grp, 0);
	for (int i = 0; i < 8; i++) {
		int g = i % NG;
		const double *ox = st->o + (size_t)g * HD;
		struct acc_row row = { .bytes = 1000.0 * (i + 1), .meta = 10.0 * i,
				       .kept = 0.9, .delta = 0.01 * (i + 1) };
		for (int c = 0; c < HD; c++) {
			o[c] = (float)(ox[c] + 0.1 * (i + 1) * rng_normal(r) * fabs(ox[c]));
			e2 += (o[c] - ox[c]) * (o[c] - ox[c]);
			r2 += ox[c] * ox[c];
		}
		bytes += row.bytes + row.meta;
		ctx += (double)st->nvis * 2 * HD * 2;
		dmax = fmax(dmax, row.delta);
		acc_stats_row(i < 5 ? &a : &b, grp, st, g, o, &row, i % 2 == 0, 0.05 + 0.1 * i);
	}
	all = a;
	acc_stats_add(&all, &b);
	ok(all.rows == 8 && rel(acc_stats_err(&all), sqrt(e2 / r2)) < 1e-12 &&
	   rel(acc_stats_bytes_frac(&all), bytes / ctx) < 1e-12 && all.delta_max == dmax &&
	   rel(all.dropped_sum, 0.8) < 1e-12 && all.needles == 4 && all.bin_needles[0] == 1 &&
	   all.bin_needles[6] == 1 && all.bin_needles[1] == 0,
	   "pooled error %.4g (want %.4g), bytes %.4g, delta max %.2g, needles by depth",
	   acc_stats_err(&all), sqrt(e2 / r2), acc_stats_bytes_frac(&all), all.delta_max);
}

int
main(void)
{
	struct rng r;
	struct tgroup tg;
	struct acc_step st;

	rng_seed(&r, ref64_seed());
	tgroup_make(&r, &tg);
	if (acc_step_alloc(&st, &tg.grp))
		skip_all("out of memory");

	test_step(&tg.grp, &st);
	test_subset(&r, &tg.grp, &st);
	test_budget_and_sink_window();
	test_uniform(&r);
	test_kth(&r);
	test_quest(&tg.grp, &st);
	for (int g = 0; g < NG; g++)
		test_h2o(&tg.grp, &st, g % 2 ? 0.05 : 0.2, g);
	test_needle(&r, &tg, &st);
	test_stats(&r, &tg.grp, &st);

	acc_step_free(&st);
	tgroup_free(&tg);
	return done_testing();
}
