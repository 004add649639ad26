/* attn_ref - the reference partial attention against float64 full attention
 * on fresh random inputs: lengths up to 128K, GQA groups, head dims, query
 * lengths with causal offsets, every KV dtype, bad arguments. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn.h"
#include "tests/ref64.h"
#include "tests/tap.h"

#define TOL 1e-5		/* rel. L2 against float64 (issue acceptance) */

struct ref_case {
	int64_t n;		/* keys */
	int G, d, L;
	int64_t qoff;		/* query row 0 position relative to the last key */
	enum attn_dtype dt;
};

static const struct ref_case cases[] = {
	{ 1, 1, 64, 1, 0, ATTN_F32 },
	{ 7, 4, 128, 1, 0, ATTN_F32 },
	{ 63, 4, 128, 1, 0, ATTN_F32 },
	{ 64, 4, 128, 1, 0, ATTN_F32 },
	{ 65, 8, 128, 1, 0, ATTN_F32 },
	{ 1000, 1, 64, 1, 0, ATTN_F32 },
	{ 1000, 4, 80, 1, 0, ATTN_F32 },
	{ 1000, 8, 96, 1, 0, ATTN_F32 },
	{ 1000, 4, 256, 1, 0, ATTN_F32 },
	{ 4096, 4, 128, 1, 0, ATTN_F32 },
	{ 32768, 4, 128, 1, 0, ATTN_F32 },
	{ 131072, 4, 128, 1, 0, ATTN_F32 },
	{ 131072, 1, 64, 1, 0, ATTN_F32 },
	/* multi-token causal queries: rows see a growing prefix */
	{ 300, 4, 128, 8, -7, ATTN_F32 },
	{ 4096, 8, 64, 64, -63, ATTN_F32 },
	{ 100, 4, 128, 16, -40, ATTN_F32 },	/* some rows see fewer keys */
	{ 4096, 4, 128, 4, 0, ATTN_F32 },	/* all rows past the end */
	{ 2000, 4, 128, 1, 0, ATTN_BF16 },
	{ 2000, 8, 128, 4, -3, ATTN_BF16 },
	{ 32768, 4, 128, 1, 0, ATTN_BF16 },
	{ 2000, 4, 96, 1, 0, ATTN_F16 },
	{ 2000, 1, 256, 2, -1, ATTN_F16 },
};

/* Run one case: random q/k/v, k/v rounded through the dtype so both sides
 * see the same values; keys start at a random absolute position. */
static void
run_case(struct rng *r, const struct ref_case *c)
{
	size_t nkv = (size_t)c->n * c->d, rows = (size_t)c->L * c->G;
	float *q = malloc(rows * c->d * sizeof(float));
	float *k = malloc(nkv * sizeof(float)), *v = malloc(nkv * sizeof(float));
	void *kd = malloc(nkv * 4), *vd = malloc(nkv * 4);
	float *o = malloc(rows * c->d * sizeof(float)), *lse = malloc(rows * sizeof(float));
	double *o64 = malloc(rows * c->d * sizeof(double)), *lse64 = malloc(rows * sizeof(double));
	int64_t kpos = (int64_t)rng_below(r, 1000);
	struct attn_query qu = {
		.q = q, .L = c->L, .G = c->G, .d = c->d,
		.pos = kpos + c->n - 1 + c->qoff, .scale = 1.0f / sqrtf((float)c->d),
	};
	double lerr = 0.0;
	int err;

	ref64_fill_normal(r, q, rows * c->d, 1.0);
	ref64_fill_normal(r, k, nkv, 1.0);
	ref64_fill_normal(r, v, nkv, 1.0);
	ref64_round(c->dt, k, nkv);
	ref64_round(c->dt, v, nkv);
	attn_from_f32(c->dt, k, kd, nkv);
	attn_from_f32(c->dt, v, vd, nkv);
	err = attn_ref_partial(&qu, c->dt, kd, vd, c->n, kpos, o, lse);
	ref64_attention(&qu, k, v, c->n, kpos, o64, lse64);
	for (size_t i = 0; i < rows; i++)
		lerr = fmax(lerr, fabs(lse[i] - lse64[i]));
	double rel = ref64_rel_l2(o, o64, rows * c->d);
	ok(err == 0 && rel <= TOL && lerr <= 1e-4,
	   "%s n=%lld G=%d d=%d L=%d qoff=%lld: rel L2 %.2e, max |dlse| %.2e",
	   attn_dtype_name(c->dt), (long long)c->n, c->G, c->d, c->L,
	   (long long)c->qoff, rel, lerr);
	free(q); free(k); free(v); free(kd); free(vd);
	free(o); free(lse); free(o64); free(lse64);
}

/* A query that sees no key gives the empty partial. */
static void
check_empty(struct rng *r)
{
	float q[2 * 64], k[64 * 8], v[64 * 8], o[2 * 64], lse[2];
	struct attn_query qu = { .q = q, .L = 1, .G = 2, .d = 64, .pos = 5,
				 .scale = 0.125f };
	int err, bad = 0;

	ref64_fill_normal(r, q, 128, 1.0);
	ref64_fill_normal(r, o, 128, 1.0);
	err = attn_ref_partial(&qu, ATTN_F32, k, v, 0, 0, o, lse);
	for (int i = 0; i < 128; i++)
		bad += o[i] != 0.0f;
	ok(err == 0 && bad == 0 && lse[0] == -INFINITY && lse[1] == -INFINITY,
	   "no keys: lse = -inf, o = 0");
	ref64_fill_normal(r, k, 512, 1.0);
	ref64_fill_normal(r, v, 512, 1.0);
	err = attn_ref_partial(&qu, ATTN_F32, k, v, 8, 6, o, lse);	/* all in the future */
	bad = 0;
	for (int i = 0; i < 128; i++)
		bad += o[i] != 0.0f;
	ok(err == 0 && bad == 0 && lse[0] == -INFINITY, "only future keys: empty partial");
}

static void
check_einval(void)
{
	float q[64] = { 1 }, k[64] = { 0 }, o[64], lse[1];
	struct attn_query good = { .q = q, .L = 1, .G = 1, .d = 64, .pos = 0, .scale = 0.125f };
	struct attn_query bad;

	bad = good; bad.L = 0;
	ok(attn_ref_partial(&bad, ATTN_F32, k, k, 1, 0, o, lse) == -EINVAL, "L = 0 -> -EINVAL");
	bad = good; bad.L = ATTN_MAX_QLEN + 1;
	ok(attn_ref_partial(&bad, ATTN_F32, k, k, 1, 0, o, lse) == -EINVAL, "L = 65 -> -EINVAL");
	bad = good; bad.G = 0;
	ok(attn_ref_partial(&bad, ATTN_F32, k, k, 1, 0, o, lse) == -EINVAL, "G = 0 -> -EINVAL");
	bad = good; bad.scale = NAN;
	ok(attn_ref_partial(&bad, ATTN_F32, k, k, 1, 0, o, lse) == -EINVAL, "NaN scale -> -EINVAL");
	ok(attn_ref_partial(&good, (enum attn_dtype)9, k, k, 1, 0, o, lse) == -EINVAL,
	   "unknown dtype -> -EINVAL");
	ok(attn_ref_partial(&good, ATTN_F32, k, k, -1, 0, o, lse) == -EINVAL, "n < 0 -> -EINVAL");
	ok(attn_ref_partial(&good, ATTN_F32, NULL, NULL, 1, 0, o, lse) == -EINVAL,
	   "NULL keys -> -EINVAL");
}

int
main(void)
{
	struct rng r;

	rng_seed(&r, ref64_seed());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&r, &cases[i]);
	check_empty(&r);
	check_einval();
	return done_testing();
}
