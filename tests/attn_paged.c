/*
 * attn_paged - the paged engine's layout, pages, summaries, bounds, policy
 * text, kernels and exact (`full`) path, on every ISA path this CPU has,
 * against float64 on fresh random inputs.  Paths the CPU lacks are SKIPped.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/kern_pvt.h"
#include "attn/paged.h"
#include "tests/ref64.h"
#include "tests/tap.h"
#include "tests/attn_paged_util.h"

#define TOL 1e-5		/* rel. L2 of `full` against float64 */
#define LSE_TOL 1e-4
#define NISA 3

static const enum attn_dtype dts[] = { ATTN_F32, ATTN_BF16, ATTN_F16 };

/* ---- ISA selection ---------------------------------------------------- */

static void
check_isa_env(void)
{
	/* Must run before anything else asks for the default path. */
	setenv("HGCA_ISA", "scalar", 1);
	ok(attn_isa_default() == ATTN_ISA_SCALAR, "HGCA_ISA=scalar forces the scalar path");
	ok(attn_isa_supported(ATTN_ISA_SCALAR) && !attn_isa_supported((enum attn_isa)7),
	   "scalar always supported, unknown ISA never");
	ok(!strcmp(attn_isa_name(ATTN_ISA_AVX2), "avx2") &&
	   !strcmp(attn_isa_name(ATTN_ISA_AVX512), "avx512") &&
	   attn_isa_name((enum attn_isa)9) == NULL, "ISA names");
	/* The kernels below then prefetch with T0, not this CPU's default
	 * (attn_select runs the default): results must not depend on it. */
	setenv("HGCA_PREFETCH", "t0", 1);
	ok(attn_prefetch_hint() == ATTN_PF_T0, "HGCA_PREFETCH=t0 forces the T0 hint");
	diag("this CPU: avx2 %s, avx512 %s", attn_isa_supported(ATTN_ISA_AVX2) ? "yes" : "no",
	     attn_isa_supported(ATTN_ISA_AVX512) ? "yes" : "no");
}

/* ---- layout and policy text -------------------------------------------- */

static void
check_layout(void)
{
	static const struct { struct attn_layout lo; int err; } t[] = {
		{ { 128, 64, ATTN_BF16 }, 0 }, { { 1, 16, ATTN_F32 }, 0 },
		{ { 512, 256, ATTN_F16 }, 0 }, { { 0, 64, ATTN_BF16 }, -EINVAL },
		{ { 513, 64, ATTN_BF16 }, -EINVAL }, { { 128, 8, ATTN_BF16 }, -EINVAL },
		{ { 128, 24, ATTN_BF16 }, -EINVAL }, { { 128, 272, ATTN_BF16 }, -EINVAL },
		{ { 128, 64, (enum attn_dtype)7 }, -EINVAL },
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		bad += attn_layout_check(&t[i].lo) != t[i].err;
	ok(bad == 0 && attn_layout_check(NULL) == -EINVAL, "layout checks (%d wrong)", bad);
	ok(attn_page_bytes(&t[0].lo) == 128 * 64 * 2 && attn_page_bytes(&t[2].lo) == 512 * 256 * 2,
	   "page bytes = d * P * dtype size");
}

static void
check_policy_text(void)
{
	static const struct { const char *in, *canon; } good[] = {
		{ "full", "full" }, { "topk:16", "topk:16" }, { "mass:0.001", "mass:0.001" },
		{ "mass:1e-3", "mass:0.001" }, { "mass:.25", "mass:0.25" },
		{ "full,budget:64m", "full,budget:64m" }, { "full,budget:65536", "full,budget:64k" },
		{ "topk:2048,budget:1g", "topk:2048,budget:1g" },
		{ "mass:0.1,budget:1000", "mass:0.1,budget:1000" },
		{ "mass:0.5,budget:0", "mass:0.5" }, { "topk:1,budget:2G", "topk:1,budget:2g" },
	};
	static const char *const bad[] = {
		"", "ful", "fullx", " full", "full ", "topk:0", "topk:-1", "topk:",
		"topk:1x", "topk:+3", "topk:99999999999999999999", "mass:0", "mass:1",
		"mass:1.5", "mass:-0.1", "mass:nan", "mass:inf", "mass:", "mass:0.1x",
		"full,budget:", "full,budget:-5", "full,budget:5x", "full,budget:5kk",
		"full,budget:99999999999g", "full,foo:1", "full,budget:1,budget:2", "topk",
	};
	struct attn_policy p, p2;
	char buf[64];
	int wrong = 0;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&p2, 0, sizeof(p2));
		if (attn_policy_parse(good[i].in, &p) ||
		    attn_policy_format(&p, buf, sizeof(buf)) || strcmp(buf, good[i].canon) ||
		    attn_policy_parse(buf, &p2) || memcmp(&p, &p2, sizeof(p))) {
			diag("policy \"%s\" -> \"%s\"", good[i].in, buf);
			wrong++;
		}
	}
	ok(wrong == 0, "valid policies parse, format canonically and round-trip (%d wrong)", wrong);
	wrong = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p.kind = ATTN_POLICY_TOPK;
		p.topk = 77;
		if (attn_policy_parse(bad[i], &p) != -EINVAL || p.topk != 77) {
			diag("policy \"%s\" accepted", bad[i]);
			wrong++;
		}
	}
	ok(wrong == 0, "invalid policies give -EINVAL and leave out alone (%d wrong)", wrong);
	attn_policy_parse("topk:2048,budget:1g", &p);
	ok(attn_policy_format(&p, buf, 8) == -ENOSPC, "format into a short buffer: -ENOSPC");
	p.topk = 0;
	ok(attn_policy_format(&p, buf, sizeof(buf)) == -EINVAL && attn_policy_check(&p) == -EINVAL &&
	   attn_policy_check(NULL) == -EINVAL, "format/check of an invalid policy: -EINVAL");
}

/* ---- pages, summaries, bounds ------------------------------------------ */

static void
check_page_write(struct rng *r)
{
	for (size_t di = 0; di < 3; di++) {
		struct attn_layout lo = { 40, 32, dts[di] };
		int64_t n = 32 * 3 + 7;
		size_t es = attn_dtype_size(lo.dt);
		float *k = malloc((size_t)n * lo.d * 4), *v = malloc((size_t)n * lo.d * 4);
		struct tpages tp;
		int bad = 0, badsum = 0;

		ref64_fill_normal(r, k, (size_t)n * lo.d, 2.0);
		ref64_fill_normal(r, v, (size_t)n * lo.d, 2.0);
		ref64_round(lo.dt, k, (size_t)n * lo.d);
		ref64_round(lo.dt, v, (size_t)n * lo.d);
		tpages_build(&tp, &lo, k, v, n, 0, TP_SUMALL, r);
		for (int p = 0; p < tp.np; p++) {
			const struct attn_page *pg = &tp.pg[p];

			for (int c = 0; c < lo.d; c++) {
				float mn = INFINITY, mx = -INFINITY, x;

				for (int t = 0; t < pg->n; t++) {
					float kv = k[(pg->pos + t) * lo.d + c];

					attn_to_f32(lo.dt, (const char *)pg->k + ((size_t)c * lo.P + t) * es, &x, 1);
					bad += x != kv;
					attn_to_f32(lo.dt, (const char *)pg->v + ((size_t)t * lo.d + c) * es, &x, 1);
					bad += x != v[(pg->pos + t) * lo.d + c];
					mn = fminf(mn, kv);
					mx = fmaxf(mx, kv);
				}
				badsum += pg->kmin[c] != mn || pg->kmax[c] != mx;
			}
		}
		ok(bad == 0, "%s: pages written in pieces hold K dimension-major and V token-major (%d wrong)",
		   attn_dtype_name(lo.dt), bad);
		ok(badsum == 0, "%s: summaries are the per-dimension min and max (%d wrong)",
		   attn_dtype_name(lo.dt), badsum);
		tpages_free(&tp);
		free(k);
		free(v);
	}
}

/* attn_page_bound against float64: above every key's score and above the
 * exact summary bound, on ordinary, cancelling, tiny and huge values. */
static void
check_bound(struct rng *r)
{
	static const struct { const char *what; double qs, ks; int cancel; } t[] = {
		{ "normal", 1.0, 1.0, 0 }, { "cancelling", 1.0, 1e3, 1 },
		{ "tiny (subnormal products)", 1e-20, 1e-20, 0 }, { "huge", 1e3, 1e3, 0 },
	};
	struct attn_layout lo = { 128, 64, ATTN_F32 };
	float q[128], k[64 * 128], kmin[128], kmax[128], kp[64 * 128], vp[64 * 128];
	double s[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int below = 0;
		double worst = INFINITY;

		for (int rep = 0; rep < 200; rep++) {
			double sb = 0.0, mx = -INFINITY, b;
			float scale = 1.0f / sqrtf(128.0f);

			ref64_fill_normal(r, q, 128, t[i].qs);
			ref64_fill_normal(r, k, 64 * 128, t[i].ks);
			if (t[i].cancel)	/* big terms of both signs, sum near 0 */
				for (int c = 1; c < 128; c += 2)
					q[c] = q[c - 1];
			attn_page_write(&lo, kp, vp, 0, k, k, 64);
			attn_page_summarize(&lo, kp, 64, kmin, kmax);
			tp_scores(q, scale, k, 64, 128, s);
			for (int c = 0; c < 128; c++)
				sb += fmax((double)q[c] * kmin[c], (double)q[c] * kmax[c]);
			sb *= scale;
			for (int j = 0; j < 64; j++)
				mx = fmax(mx, s[j]);
			b = attn_page_bound(&lo, q, scale, kmin, kmax);
			below += !(b >= sb) || !(b >= mx);
			worst = fmin(worst, b - sb);
		}
		ok(below == 0, "page bound >= exact summary bound >= every score: %s (%d below, min slack %.3g)",
		   t[i].what, below, worst);
	}
}

/* ---- kernels ------------------------------------------------------------ */

static void
check_kern_exp(const struct attn_kern *kn)
{
	int n = 4096;
	float *x = malloc(n * 4), *y = malloc(n * 4);
	double worst = 0.0, sum = 0.0;
	int zero_bad = 0;
	float got;

	for (int i = 0; i < n; i++)
		x[i] = -100.0f * i / (n - 1);
	x[7] = -INFINITY;
	got = kn->expsum(x, y, n, 0.0f);
	for (int i = 0; i < n; i++) {
		double e = exp((double)x[i]);

		sum += y[i];
		if (x[i] >= -87.0f)
			worst = fmax(worst, fabs(y[i] - e) / e);
		else
			zero_bad += !(y[i] >= 0.0f && y[i] <= 2 * e + 1e-38);
	}
	ok(worst <= 1e-6 && zero_bad == 0 && fabs(got - sum) <= 1e-5 * sum,
	   "%s: exp relative error %.2e <= 1e-6 on [-87, 0], 0 below, sum consistent",
	   kn->name, worst);
	free(x);
	free(y);
}

/* Scores of R rows against a page: error within gamma_{d+2} sum |qs k|,
 * the bound the certified delta relies on. */
static void
check_kern_score(const struct attn_kern *kn, struct rng *r)
{
	int worst_ratio_bad = 0;
	double worst = 0.0;

	for (size_t di = 0; di < 3; di++)
		for (int R = 1; R <= 9; R += 4) {
			int d = 100, P = 48;
			struct attn_layout lo = { d, P, dts[di] };
			float *qs = malloc((size_t)R * d * 4), *k = malloc((size_t)P * d * 4);
			float *s = malloc((size_t)R * P * 4);
			char *kp = malloc(attn_page_bytes(&lo)), *vp = malloc(attn_page_bytes(&lo));
			double g = (d + 2) * 0x1p-24 / (1 - (d + 2) * 0x1p-24);

			ref64_fill_normal(r, qs, (size_t)R * d, 3.0);
			ref64_fill_normal(r, k, (size_t)P * d, 3.0);
			ref64_round(lo.dt, k, (size_t)P * d);
			{
				char *kd = malloc((size_t)P * d * 4);
				attn_from_f32(lo.dt, k, kd, (size_t)P * d);
				attn_page_write(&lo, kp, vp, 0, kd, kd, P);
				free(kd);
			}
			kn->score(lo.dt, qs, R, d, kp, P, P, s, P, NULL, 0);
			for (int i = 0; i < R; i++)
				for (int t = 0; t < P; t++) {
					double ex = 0.0, ab = 0.0;

					for (int c = 0; c < d; c++) {
						ex += (double)qs[i * d + c] * k[t * d + c];
						ab += fabs((double)qs[i * d + c] * k[t * d + c]);
					}
					worst = fmax(worst, fabs(s[i * P + t] - ex) / (g * ab));
					worst_ratio_bad += fabs(s[i * P + t] - ex) > g * ab;
				}
			free(qs);
			free(k);
			free(s);
			free(kp);
			free(vp);
		}
	ok(worst_ratio_bad == 0, "%s: score error within gamma_{d+2} sum|q k| (worst at %.3f of it)",
	   kn->name, worst);
}

/* The mass cut (select.c's sel_keep test, vectorised): the same keys kept
 * as the scalar test, weights zeroed where dropped, kept bits ORed into the
 * bitset (others untouched), sums within gamma_nv, zero weights counted. */
static void
check_kern_cut(const struct attn_kern *kn, struct rng *r)
{
	static const int nvs[] = { 1, 7, 16, 17, 63, 64, 100, 255, 256 };
	float sc[256], w[256], w0[256];
	int bad = 0, zeros = 0;

	for (size_t i = 0; i < sizeof(nvs) / sizeof(nvs[0]); i++)
		for (int rep = 0; rep < 50; rep++) {
			int nv = nvs[i], kept = 0, nuf = 0, got, guf;
			uint64_t any[4], any0[4];
			double ks = 0.0, ds = 0.0, ka = 0.0, da = 0.0;
			float M = -INFINITY, xcut, kz, dz;

			for (int t = 0; t < nv; t++) {
				sc[t] = (float)(rng_normal(r) * 20.0);
				M = sc[t] > M ? sc[t] : M;
			}
			for (int t = 0; t < nv; t++)	/* some weights 0 */
				w0[t] = M - sc[t] > 25.0f ? 0.0f : expf(sc[t] - M);
			memcpy(w, w0, sizeof(w));
			xcut = (float)(rng_uniform(r) * 70.0);
			for (int j = 0; j < 4; j++)
				any[j] = any0[j] = rng_next(r);
			got = kn->cut(sc, w, nv, M, xcut, any, &kz, &dz, &guf);
			for (int t = 0; t < nv; t++) {
				bool keep = M - sc[t] < xcut;

				bad += w[t] != (keep ? w0[t] : 0.0f);
				bad += !(any[t / 64] >> (t % 64) & 1) != !(keep ||
					  (any0[t / 64] >> (t % 64) & 1));
				kept += keep;
				nuf += !keep && w0[t] == 0.0f;
				*(keep ? &ks : &ds) += w0[t];
				*(keep ? &ka : &da) += fabs(w0[t]);
			}
			for (int t = nv; t < 256; t++)	/* bits past nv kept */
				bad += (any[t / 64] >> (t % 64) & 1) !=
				       (any0[t / 64] >> (t % 64) & 1);
			bad += got != kept || guf != nuf;
			zeros += nuf;
			bad += fabs(kz - ks) > nv * 0x1p-23 * ka + 1e-38;
			bad += fabs(dz - ds) > nv * 0x1p-23 * da + 1e-38;
		}
	ok(bad == 0 && zeros > 0,
	   "%s: mass cut keeps what the scalar test keeps, sums and counts agree (%d wrong, %d zero weights dropped)",
	   kn->name, bad, zeros);
}

/* The mass cut's bins: the scalar expression's truncation, clamped. */
static void
check_kern_bins(const struct attn_kern *kn, struct rng *r)
{
	float sc[256];
	int32_t bin[256];
	int bad = 0, clamped = 0;

	for (int rep = 0; rep < 100; rep++) {
		int nv = 1 + (int)rng_below(r, 256);
		float M = (float)(rng_normal(r) * 10.0);

		for (int t = 0; t < nv; t++)
			sc[t] = M - (float)(rng_uniform(r) * 80.0);
		kn->bins(sc, nv, M, 64.0f, 8.0f, bin);
		for (int t = 0; t < nv; t++) {
			float x = M - sc[t];

			bad += bin[t] != (int32_t)((x < 64.0f ? x : 64.0f) * 8.0f);
			clamped += bin[t] == 512;
		}
	}
	ok(bad == 0 && clamped > 0, "%s: mass cut bins as the scalar expression (%d wrong, %d clamped)",
	   kn->name, bad, clamped);
}

/* topk's cut: keys above the threshold kept, below dropped, equal ones
 * left alone and counted; and the candidate filter keeps, in order, the
 * scores not below a threshold. */
static void
check_kern_cut_above(const struct attn_kern *kn, struct rng *r)
{
	float sc[256], w[256], w0[256], got[256];
	int bad = 0, tied = 0;

	for (int rep = 0; rep < 200; rep++) {
		int nv = 1 + (int)rng_below(r, 256), kept = 0, nuf = 0, nt = 0;
		int n, guf, gties, m = 0;
		uint64_t any[4], any0[4];
		double ks = 0.0, ds = 0.0, ka = 0.0, da = 0.0;
		float thr, kz, dz;

		for (int t = 0; t < nv; t++) {	/* few values: many ties */
			sc[t] = (float)rng_below(r, 8) - 4.0f;
			w0[t] = rng_below(r, 4) ? expf(sc[t] - 4.0f) : 0.0f;
		}
		thr = sc[rng_below(r, (uint64_t)nv)];
		memcpy(w, w0, sizeof(w));
		for (int j = 0; j < 4; j++)
			any[j] = any0[j] = rng_next(r);
		n = kn->cut_above(sc, w, nv, thr, any, &kz, &dz, &guf, &gties);
		for (int t = 0; t < nv; t++) {
			bool keep = sc[t] > thr, drop = sc[t] < thr;
			bool bit = any[t / 64] >> (t % 64) & 1, bit0 = any0[t / 64] >> (t % 64) & 1;

			bad += w[t] != (drop ? 0.0f : w0[t]);
			bad += bit != (keep || bit0);
			kept += keep;
			nt += !keep && !drop;
			nuf += drop && w0[t] == 0.0f;
			if (keep) {
				ks += w0[t];
				ka += fabs(w0[t]);
			} else if (drop) {
				ds += w0[t];
				da += fabs(w0[t]);
			}
			if (!(sc[t] < thr))
				got[m++] = sc[t];
		}
		bad += n != kept || guf != nuf || gties != nt;
		bad += fabs(kz - ks) > nv * 0x1p-23 * ka + 1e-38;
		bad += fabs(dz - ds) > nv * 0x1p-23 * da + 1e-38;
		tied += nt;
		n = kn->ge(sc, nv, thr, w);
		bad += n != m || memcmp(w, got, (size_t)m * sizeof(float)) != 0;
	}
	ok(bad == 0 && tied > 0,
	   "%s: topk cut keeps above, drops below, leaves %d ties; the filter keeps scores >= the threshold in order (%d wrong)",
	   kn->name, tied, bad);
}

static void
check_kern_vacc(const struct attn_kern *kn, struct rng *r)
{
	int bad = 0;

	for (size_t di = 0; di < 3; di++) {
		int d = 84, P = 64, R = 6, nt = 37;
		struct attn_layout lo = { d, P, dts[di] };
		float *v = malloc((size_t)P * d * 4), *w = malloc((size_t)R * P * 4);
		float *o = malloc((size_t)R * d * 4);
		char *vp = malloc(attn_page_bytes(&lo)), *vd = malloc((size_t)P * d * 4);
		char *kp = malloc(attn_page_bytes(&lo));
		uint8_t idx[64];

		ref64_fill_normal(r, v, (size_t)P * d, 1.0);
		ref64_round(lo.dt, v, (size_t)P * d);
		attn_from_f32(lo.dt, v, vd, (size_t)P * d);
		attn_page_write(&lo, kp, vp, 0, vd, vd, P);
		for (int i = 0; i < R * P; i++)
			w[i] = (float)rng_uniform(r);
		for (int i = 0; i < R * d; i++)
			o[i] = (float)i;
		for (int j = 0; j < nt; j++)	/* increasing, with gaps */
			idx[j] = (uint8_t)(j + (j * 26) / nt);
		kn->vacc(lo.dt, w, R, P, vp, d, idx, nt, o, NULL, 0);
		for (int i = 0; i < R; i++)
			for (int c = 0; c < d; c++) {
				double ex = i * d + c, ab = fabs(ex);

				for (int j = 0; j < nt; j++) {
					ex += (double)w[i * P + j] * v[idx[j] * d + c];
					ab += fabs((double)w[i * P + j] * v[idx[j] * d + c]);
				}
				bad += fabs(o[i * d + c] - ex) > 1e-6 * ab;
			}
		free(v);
		free(w);
		free(o);
		free(vp);
		free(vd);
		free(kp);
	}
	ok(bad == 0, "%s: V accumulation over a token list matches float64 (%d off)", kn->name, bad);
}

/* ---- the exact path ------------------------------------------------------ */

struct full_case {
	int64_t n;
	int G, d, L;
	int64_t qoff;		/* query row 0 relative to the last key */
	enum attn_dtype dt;
	int P;
	unsigned flags;
};

static const struct full_case cases[] = {
	{ 1, 1, 64, 1, 0, ATTN_F32, 64, 0 },
	{ 63, 4, 128, 1, 0, ATTN_F32, 64, 0 },
	{ 64, 4, 128, 1, 0, ATTN_BF16, 64, 0 },
	{ 1000, 8, 128, 1, 0, ATTN_BF16, 64, TP_SHUFFLE },
	{ 1000, 1, 36, 1, 0, ATTN_F32, 16, 0 },
	{ 777, 4, 100, 1, 0, ATTN_F16, 32, TP_SHUFFLE },
	{ 5000, 4, 256, 1, 0, ATTN_BF16, 256, 0 },
	{ 2000, 4, 96, 1, 0, ATTN_F16, 48, 0 },
	{ 2000, 3, 128, 1, 0, ATTN_BF16, 64, TP_SHUFFLE },
	{ 2000, 1, 512, 2, -1, ATTN_F16, 16, 0 },
	{ 300, 4, 128, 8, -7, ATTN_F32, 64, 0 },
	{ 4096, 8, 64, 64, -63, ATTN_BF16, 64, TP_SHUFFLE },
	{ 100, 4, 128, 16, -40, ATTN_F32, 16, 0 },
	{ 200, 5, 16, 3, -150, ATTN_F32, 16, TP_SHUFFLE },
	{ 4096, 4, 128, 4, 0, ATTN_F32, 64, 0 },
	{ 32768, 4, 128, 1, 0, ATTN_BF16, 64, 0 },
	{ 32768, 4, 128, 1, 0, ATTN_F32, 64, 0 },
	{ 131072, 4, 128, 1, 0, ATTN_F32, 64, 0 },
	{ 131072, 1, 64, 1, 0, ATTN_F32, 64, 0 },
};

struct full_data {
	float *q, *k, *v, *o, *lse;
	double *o64, *lse64;
	struct attn_row_stats *st;
	struct tpages tp;
	struct attn_query qu;
};

static void
full_data_free(struct full_data *f)
{
	free(f->q); free(f->k); free(f->v); free(f->o); free(f->lse);
	free(f->o64); free(f->lse64); free(f->st);
	tpages_free(&f->tp);
}

static void
full_data_make(struct full_data *f, const struct full_case *c, struct rng *r)
{
	struct attn_layout lo = { c->d, c->P, c->dt };
	size_t rows = (size_t)c->L * c->G, nkv = (size_t)c->n * c->d;
	int64_t kpos = (int64_t)rng_below(r, 1000);

	f->q = malloc(rows * c->d * 4);
	f->k = malloc(nkv * 4);
	f->v = malloc(nkv * 4);
	f->o = malloc(rows * c->d * 4);
	f->lse = malloc(rows * 4);
	f->o64 = malloc(rows * c->d * 8);
	f->lse64 = malloc(rows * 8);
	f->st = malloc(rows * sizeof(*f->st));
	ref64_fill_normal(r, f->q, rows * c->d, 1.0);
	ref64_fill_normal(r, f->k, nkv, 1.0);
	ref64_fill_normal(r, f->v, nkv, 1.0);
	ref64_round(c->dt, f->k, nkv);
	ref64_round(c->dt, f->v, nkv);
	tpages_build(&f->tp, &lo, f->k, f->v, c->n, kpos, c->flags, r);
	f->qu = (struct attn_query){ .q = f->q, .L = c->L, .G = c->G, .d = c->d,
		.pos = kpos + c->n - 1 + c->qoff, .scale = 1.0f / sqrtf((float)c->d) };
	ref64_attention(&f->qu, f->k, f->v, c->n, kpos, f->o64, f->lse64);
}

static void
run_full(const struct full_case *c, struct full_data *f, enum attn_isa isa)
{
	struct attn_layout lo = { c->d, c->P, c->dt };
	struct attn_policy full = { .kind = ATTN_POLICY_FULL };
	struct attn_engine *e = NULL;
	size_t rows = (size_t)c->L * c->G;
	double rel, lerr = 0.0;
	int err, badst = 0;

	err = attn_engine_create(&e, &lo, isa);
	if (!err)
		err = attn_paged_partial(e, &f->qu, f->tp.pg, f->tp.np, &full, f->o, f->lse, f->st);
	for (size_t i = 0; i < rows; i++) {
		if (f->lse64[i] == -INFINITY)
			lerr = fmax(lerr, f->lse[i] == -INFINITY ? 0.0 : INFINITY);
		else
			lerr = fmax(lerr, fabs(f->lse[i] - f->lse64[i]));
		badst += f->st[i].delta != 0.0 || f->st[i].bytes != 2 * f->st[i].entries *
			 (int64_t)(c->d * attn_dtype_size(c->dt));
	}
	rel = ref64_rel_l2(f->o, f->o64, rows * c->d);
	ok(err == 0 && rel <= TOL && lerr <= LSE_TOL && badst == 0,
	   "%s full %s n=%lld G=%d d=%d L=%d qoff=%lld P=%d%s: rel L2 %.2e, max |dlse| %.2e",
	   attn_isa_name(isa), attn_dtype_name(c->dt), (long long)c->n, c->G, c->d, c->L,
	   (long long)c->qoff, c->P, c->flags & TP_SHUFFLE ? " shuffled" : "", rel, lerr);
	attn_engine_destroy(e);
}

/* Entries equal the visible keys per row, kept positions are exactly them. */
static void
check_full_kept(struct rng *r)
{
	struct full_case c = { 500, 2, 32, 4, -100, ATTN_BF16, 32, TP_SHUFFLE };
	struct attn_layout lo = { c.d, c.P, c.dt };
	struct attn_policy full = { .kind = ATTN_POLICY_FULL };
	struct attn_engine *e;
	struct full_data f;
	int64_t pos[600], cnt = -1;
	int bad = 0;

	full_data_make(&f, &c, r);
	attn_engine_create(&e, &lo, attn_isa_default());
	ok(attn_engine_kept(e, 0, pos, 600, &cnt) == -EINVAL, "kept before any call: -EINVAL");
	attn_paged_partial(e, &f.qu, f.tp.pg, f.tp.np, &full, f.o, f.lse, f.st);
	for (int row = 0; row < c.L * c.G; row++) {
		int64_t first = f.qu.pos - c.n + 1 - c.qoff, vis = f.qu.pos + row / c.G - first + 1;
		char seen[600] = { 0 };

		if (attn_engine_kept(e, row, pos, 600, &cnt) || cnt != vis || f.st[row].entries != vis) {
			bad++;
			continue;
		}
		for (int64_t j = 0; j < cnt; j++) {
			int64_t x = pos[j] - first;

			bad += x < 0 || x >= vis || seen[x]++;
		}
	}
	ok(bad == 0, "full: entries and kept positions are the visible keys of each row (%d wrong)", bad);
	ok(attn_engine_kept(e, 0, pos, 3, &cnt) == -ENOSPC && cnt > 3 &&
	   attn_engine_kept(e, c.L * c.G, pos, 600, &cnt) == -EINVAL,
	   "kept: -ENOSPC when cap is short, -EINVAL past the last row");
	attn_engine_destroy(e);
	full_data_free(&f);
}

/* ---- empty and invalid ---------------------------------------------------- */

static void
check_empty(struct rng *r)
{
	struct full_case c = { 100, 4, 64, 2, 0, ATTN_F32, 16, 0 };
	struct attn_layout lo = { c.d, c.P, c.dt };
	static const char *const pols[] = { "full", "topk:5", "mass:0.01", "full,budget:1k" };
	struct full_data f;
	struct attn_engine *e;
	struct attn_call_stats cs;
	int bad = 0;

	full_data_make(&f, &c, r);
	attn_engine_create(&e, &lo, attn_isa_default());
	for (size_t i = 0; i < 4; i++) {
		struct attn_policy pol;

		attn_policy_parse(pols[i], &pol);
		for (int variant = 0; variant < 2; variant++) {
			struct attn_query qu = f.qu;

			ref64_fill_normal(r, f.o, 8 * 64, 1.0);
			if (variant)	/* every page lies in the future */
				qu.pos = f.tp.pg[0].pos - 5;
			if (attn_paged_partial(e, &qu, f.tp.pg, variant ? f.tp.np : 0, &pol,
					       f.o, f.lse, f.st)) {
				bad++;
				continue;
			}
			attn_engine_last_stats(e, &cs);
			for (int j = 0; j < 8 * 64; j++)
				bad += f.o[j] != 0.0f;
			for (int j = 0; j < 8; j++)
				bad += f.lse[j] != -INFINITY || f.st[j].entries || f.st[j].bytes ||
				       f.st[j].delta != 0.0;
			bad += cs.k_bytes || cs.v_bytes || cs.pages_scored;
		}
	}
	ok(bad == 0, "no pages, or only future ones: lse -inf, o 0, empty stats, every policy");
	attn_engine_destroy(e);
	full_data_free(&f);
}

static void
check_einval(struct rng *r)
{
	struct full_case c = { 200, 2, 64, 1, 0, ATTN_F32, 64, 0 };
	struct attn_layout lo = { c.d, c.P, c.dt }, badlo = { 0, 64, ATTN_F32 };
	struct attn_policy full = { .kind = ATTN_POLICY_FULL }, badpol = { .kind = ATTN_POLICY_MASS };
	struct attn_engine *e = NULL, *e2 = (struct attn_engine *)1;
	struct attn_page pg[4];
	struct attn_query qu;
	struct full_data f;
	int bad = 0;

	full_data_make(&f, &c, r);
	ok(attn_engine_create(&e2, &badlo, ATTN_ISA_SCALAR) == -EINVAL &&
	   attn_engine_create(&e2, &lo, (enum attn_isa)7) == -EINVAL &&
	   attn_engine_create(NULL, &lo, ATTN_ISA_SCALAR) == -EINVAL &&
	   e2 == (struct attn_engine *)1, "engine create: bad layout, ISA or out -> -EINVAL");
	if (!attn_isa_supported(ATTN_ISA_AVX512))
		ok(attn_engine_create(&e2, &lo, ATTN_ISA_AVX512) == -ENOTSUP,
		   "engine create on a path this CPU lacks: -ENOTSUP");
	else if (!attn_isa_supported(ATTN_ISA_AVX2))
		ok(attn_engine_create(&e2, &lo, ATTN_ISA_AVX2) == -ENOTSUP,
		   "engine create on a path this CPU lacks: -ENOTSUP");
	else
		tp_skip(1, "-ENOTSUP: this CPU has every path");
	attn_engine_create(&e, &lo, ATTN_ISA_SCALAR);
#define EXPECT_EINVAL(what)							\
	bad += attn_paged_partial(e, &qu, pg, 4, &full, f.o, f.lse, NULL) != -EINVAL
	memcpy(pg, f.tp.pg, sizeof(pg));
	qu = f.qu; qu.L = 0; EXPECT_EINVAL("L");
	qu = f.qu; qu.G = 0; EXPECT_EINVAL("G");
	qu = f.qu; qu.d = 32; EXPECT_EINVAL("d mismatch");
	qu = f.qu; qu.scale = -1.0f; EXPECT_EINVAL("scale");
	qu = f.qu; qu.q = NULL; EXPECT_EINVAL("q");
	qu = f.qu;
	pg[1].n = 0; EXPECT_EINVAL("n 0"); pg[1] = f.tp.pg[1];
	pg[1].n = 65; EXPECT_EINVAL("n > P"); pg[1] = f.tp.pg[1];
	pg[2].k = NULL; EXPECT_EINVAL("k"); pg[2] = f.tp.pg[2];
	pg[2].v = NULL; EXPECT_EINVAL("v"); pg[2] = f.tp.pg[2];
	pg[0].kmax = NULL; EXPECT_EINVAL("half a summary"); pg[0] = f.tp.pg[0];
	bad += attn_paged_partial(e, &qu, pg, 4, &badpol, f.o, f.lse, NULL) != -EINVAL;
	bad += attn_paged_partial(e, &qu, pg, -1, &full, f.o, f.lse, NULL) != -EINVAL;
	bad += attn_paged_partial(e, &qu, NULL, 4, &full, f.o, f.lse, NULL) != -EINVAL;
	bad += attn_paged_partial(e, &qu, pg, 4, &full, NULL, f.lse, NULL) != -EINVAL;
	bad += attn_paged_partial(e, &qu, pg, 4, NULL, f.o, f.lse, NULL) != -EINVAL;
	bad += attn_paged_partial(NULL, &qu, pg, 4, &full, f.o, f.lse, NULL) != -EINVAL;
#undef EXPECT_EINVAL
	ok(bad == 0, "attn_paged_partial: bad query, page, policy or buffers -> -EINVAL (%d wrong)", bad);
	attn_engine_destroy(e);
	attn_engine_destroy(NULL);
	full_data_free(&f);
}

int
main(void)
{
	struct rng r;

	check_isa_env();
	rng_seed(&r, ref64_seed());
	check_layout();
	check_policy_text();
	check_page_write(&r);
	check_bound(&r);
	for (int isa = 0; isa < NISA; isa++) {
		if (!attn_isa_supported((enum attn_isa)isa)) {
			tp_skip(6, "this CPU lacks the path");
			continue;
		}
		check_kern_exp(attn_kern_for((enum attn_isa)isa));
		check_kern_score(attn_kern_for((enum attn_isa)isa), &r);
		check_kern_vacc(attn_kern_for((enum attn_isa)isa), &r);
		check_kern_cut(attn_kern_for((enum attn_isa)isa), &r);
		check_kern_bins(attn_kern_for((enum attn_isa)isa), &r);
		check_kern_cut_above(attn_kern_for((enum attn_isa)isa), &r);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct full_data f;

		full_data_make(&f, &cases[i], &r);
		for (int isa = 0; isa < NISA; isa++) {
			if (attn_isa_supported((enum attn_isa)isa))
				run_full(&cases[i], &f, (enum attn_isa)isa);
			else
				tp_skip(1, "this CPU lacks the path");
		}
		full_data_free(&f);
	}
	check_full_kept(&r);
	check_empty(&r);
	check_einval(&r);
	return done_testing();
}
