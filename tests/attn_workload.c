/* attn_workload - the generator produces the specified score statistics:
 * per head s_gj / tau_g has unit variance and AR(1) lag-1 correlation rho on
 * background tokens, mean 5 on sinks, 2 in the band, 6 on needles; tau is
 * geometric; the output is deterministic per seed; bad configs -EINVAL. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/workload.h"
#include "tests/ref64.h"
#include "tests/tap.h"

/* Scaled scores of head g at step t for every token, in double. */
static double *
scores(const struct attn_workload *w, int t, int g)
{
	const struct attn_workload_cfg *c = &w->cfg;
	double *s = malloc((size_t)c->n * sizeof(double));
	float *k = malloc((size_t)c->d * sizeof(float));
	const float *q = attn_workload_q(w, t, g);
	size_t es = attn_dtype_size(c->dt);

	for (int64_t j = 0; j < c->n; j++) {
		double acc = 0.0;
		attn_to_f32(c->dt, (const char *)w->k + (size_t)j * c->d * es, k, (size_t)c->d);
		for (int x = 0; x < c->d; x++)
			acc += (double)q[x] * k[x];
		s[j] = acc / sqrt((double)c->d);
	}
	free(k);
	return s;
}

static int
is_needle(const struct attn_workload *w, int g, int set, int64_t j)
{
	for (int i = 0; i < WL_NEEDLES; i++)
		if (w->needle[((size_t)g * 2 + set) * WL_NEEDLES + i] == j)
			return 1;
	return 0;
}

static void
check_stats(const struct attn_workload *w, int g, int t, int set)
{
	const struct attn_workload_cfg *c = &w->cfg;
	double *s = scores(w, t, g), tau = w->tau[g];
	double sum = 0, sq = 0, lag = 0, sink = 0, band = 0, ndl = 0;
	int64_t nb = 0, nl = 0, nband = 0;

	for (int64_t j = 0; j < c->n; j++) {
		double x = s[j] / tau;
		if (j < WL_SINKS)
			sink += x;
		else if (j >= c->n - WL_BAND)
			band += x, nband++;
		else if (is_needle(w, g, set, j))
			ndl += x;
		else {
			sum += x, sq += x * x, nb++;
			if (j > WL_SINKS && !is_needle(w, g, set, j - 1))
				lag += x * (s[j - 1] / tau), nl++;
		}
	}
	double mean = sum / nb, var = sq / nb - mean * mean;
	double rho = (lag / nl - mean * mean) / var;
	/* Tolerances: AR(1) with rho 0.9 has an effective sample size of about
	 * n/19, so the mean's std is ~ sqrt(19/n); sinks and needles also carry
	 * their z (std 1) -> averaged over 4 and 16 tokens. */
	double tm = 5 * sqrt(19.0 / nb);
	ok(fabs(mean) < tm && fabs(var - 1.0 - c->noise * c->noise) < 0.2 &&
	   fabs(rho - c->rho) < 0.05 && fabs(sink / WL_SINKS - 5.0) < 4.5 &&
	   fabs(band / nband - 2.0) < 1.0 && fabs(ndl / WL_NEEDLES - 6.0) < 1.5,
	   "head %d step %d: mean %.3f var %.3f rho %.3f sink %.2f band %.2f needle %.2f",
	   g, t, mean, var, rho, sink / WL_SINKS, band / nband, ndl / WL_NEEDLES);
	free(s);
}

int
main(void)
{
	uint64_t seed = ref64_seed();
	struct attn_workload_cfg c = { .n = 60000, .G = 4, .d = 128, .dt = ATTN_BF16,
				       .seed = seed };
	struct attn_workload w, w2;
	int err;

	err = attn_workload_make(&c, &w);
	ok(err == 0, "generate 60000 tokens, G=4, d=128, bf16");
	ok(w.tau[0] == 1.0 && fabs(w.tau[1] - 2.0) < 1e-12 && fabs(w.tau[3] - 8.0) < 1e-12,
	   "tau geometric 1, 2, 4, 8");
	for (int g = 0; g < 4; g++)
		check_stats(&w, g, 0, 0);
	err = attn_workload_make(&c, &w2);
	ok(err == 0 && !memcmp(w.k, w2.k, (size_t)c.n * c.d * 2) &&
	   !memcmp(w.q, w2.q, (size_t)c.G * c.d * 4), "same seed, same workload");
	attn_workload_free(&w2);
	c.seed ^= 1;
	attn_workload_make(&c, &w2);
	ok(memcmp(w.k, w2.k, (size_t)c.n * c.d * 2) != 0, "another seed, another workload");
	attn_workload_free(&w2);
	attn_workload_free(&w);

	/* Drifting queries: step 0 follows signal 1, the last step (phi = pi/2)
	 * follows signal 2 with its own needles. */
	struct attn_workload_cfg cd = { .n = 30000, .G = 2, .d = 64, .dt = ATTN_F32,
					.seed = seed + 7, .steps = 11, .drift = M_PI / 20 };
	err = attn_workload_make(&cd, &w);
	ok(err == 0, "generate with 11 drifting steps");
	check_stats(&w, 1, 0, 0);
	check_stats(&w, 1, 10, 1);
	attn_workload_free(&w);

	struct attn_workload_cfg bad[] = {
		{ .n = 0, .G = 4, .d = 128 },
		{ .n = 10, .G = 0, .d = 128 },
		{ .n = 10, .G = 8, .d = 4 },
		{ .n = 10, .G = 4, .d = 6, .steps = 2 },
		{ .n = 10, .G = 4, .d = 128, .dt = (enum attn_dtype)5 },
		{ .n = 10, .G = 4, .d = 128, .rho = 1.0 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(attn_workload_make(&bad[i], &w) == -EINVAL, "bad config %zu -> -EINVAL", i);
	return done_testing();
}
