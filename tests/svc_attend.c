/*
 * svc_attend - attention through the service core against float64 full
 * attention: exact mode over many shapes, dtypes, windows and causal
 * offsets; per-row stats; sparse policies within their certified bound;
 * decode loops of hundreds of steps with appends, speculative multi-token
 * queries and truncation, two clients with different models at once.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/ref64.h"
#include "tests/svc_help.h"
#include "tests/tap.h"

#define TOL_F32 1e-5
#define TOL_BF16 4e-3		/* bf16 output: 2^-8 relative rounding */
#define MAXB 4

static uint64_t seed;

struct shape {
	int layers, hq, hkv, d;
	enum attn_dtype dt;
	int W, P;
	enum attn_dtype odt;
	int64_t prompt;
	int L;
};

/* One client's model with B sequences, each mirrored per layer. */
struct fix {
	struct svc_client *cl;
	struct shape sh;
	uint32_t model, seq[MAXB];
	int B;
	struct kvm *kv;		/* [B][layers] */
	struct rng r;
};

static struct kvm *
mir(struct fix *f, int b, int l)
{
	return &f->kv[b * f->sh.layers + l];
}

static int
fix_open(struct fix *f, struct svc *s, const struct shape *sh, int B,
	 const struct attn_policy *pol, uint64_t sd)
{
	struct svc_model_desc md = { .layers = sh->layers, .hq = sh->hq,
		.hkv = sh->hkv, .d = sh->d, .dt = sh->dt, .window = sh->W,
		.page = sh->P, .policy = pol };
	int err;

	memset(f, 0, sizeof(*f));
	f->sh = *sh;
	f->B = B;
	rng_seed(&f->r, sd);
	f->kv = calloc((size_t)B * sh->layers, sizeof(*f->kv));
	err = svc_client_attach(s, 1000, &f->cl);
	if (!err)
		err = svc_model_declare(f->cl, &md, &f->model);
	for (int b = 0; b < B && !err; b++) {
		err = svc_seq_open(f->cl, f->model, &f->seq[b]);
		for (int l = 0; l < sh->layers; l++)
			kvm_init(mir(f, b, l), sh->hkv, sh->d, sh->dt);
	}
	return err;
}

static void
fix_close(struct fix *f)
{
	for (int i = 0; i < f->B * f->sh.layers; i++)
		kvm_free(&f->kv[i]);
	free(f->kv);
	svc_client_detach(f->cl, NULL, NULL);
}

/* Appends @n tokens to every layer of sequence b: in one bulk call, or
 * token by token when @single. */
static int
fix_append(struct fix *f, int b, int64_t n, int single)
{
	int err = 0;

	for (int l = 0; l < f->sh.layers && !err; l++) {
		if (!single) {
			err = svch_append(f->cl, f->seq[b], l, mir(f, b, l), &f->r, n);
			continue;
		}
		for (int64_t t = 0; t < n && !err; t++)
			err = svch_append(f->cl, f->seq[b], l, mir(f, b, l), &f->r, 1);
	}
	return err;
}

static int
fix_truncate(struct fix *f, int b, int64_t n)
{
	int err = svc_seq_truncate(f->cl, f->seq[b], n);

	for (int l = 0; !err && l < f->sh.layers; l++)
		kvm_truncate(mir(f, b, l), n);
	return err;
}

struct result {
	int err;
	double rel;		/* worst relative L2 error of a sequence */
	double bound_excess;	/* worst (error - certified bound) of a row */
	double max_delta;
	int stats_bad;		/* full mode: entries or delta not as expected */
	int64_t max_entries;
};

/*
 * Attends at @layer for all B sequences (pos[b] < 0: the default) with
 * @pol and compares with the float64 reference.
 */
static struct result
fix_attend(struct fix *f, int layer, int L, const int64_t *pos,
	   const struct attn_policy *pol, double qsig)
{
	const struct shape *sh = &f->sh;
	size_t per = (size_t)L * sh->hq * sh->d, rows = (size_t)L * sh->hq;
	float *q = malloc(f->B * per * sizeof(float));
	void *out = malloc(f->B * per * sizeof(float));
	struct attn_row_stats *st = malloc(f->B * rows * sizeof(*st));
	double *ref = malloc(per * sizeof(double)), vmax[1024];
	int64_t p[MAXB];
	struct result res = { .bound_excess = -INFINITY };
	struct svc_attend a = { .model = f->model, .layer = layer, .B = f->B,
		.seqs = f->seq, .pos = pos ? p : NULL, .L = L, .q = q, .out = out,
		.out_dt = sh->odt, .stats = st, .policy = pol };
	size_t es = attn_dtype_size(sh->odt);

	ref64_fill_normal(&f->r, q, f->B * per, qsig);
	for (int b = 0; b < f->B; b++)
		p[b] = pos && pos[b] >= 0 ? pos[b] : mir(f, b, layer)->n - L;
	res.err = svc_attend(f->cl, &a);
	for (int b = 0; b < f->B && !res.err; b++) {
		const struct kvm *m = mir(f, b, layer);
		char *ob = (char *)out + b * per * es;
		float row[512];

		kvm_ref(m, sh->hq, q + b * per, L, p[b], 1.0f / sqrtf((float)sh->d),
			ref, vmax);
		res.rel = fmax(res.rel, svch_rel(ob, sh->odt, ref, per));
		for (size_t r = 0; r < rows; r++) {
			const struct attn_row_stats *s = &st[b * rows + r];
			int i = (int)(r / sh->hq), h = (int)(r % sh->hq) / (sh->hq / sh->hkv);
			double e = 0.0;

			attn_to_f32(sh->odt, ob + r * sh->d * es, row, sh->d);
			for (int c = 0; c < sh->d; c++)
				e += pow(row[c] - ref[r * sh->d + c], 2);
			e = sqrt(e) - 2.0 * s->delta * vmax[h] - 1e-5 * (vmax[h] + 1.0);
			res.bound_excess = fmax(res.bound_excess, e);
			res.max_delta = fmax(res.max_delta, s->delta);
			if (s->entries > res.max_entries)
				res.max_entries = s->entries;
			if (!pol || pol->kind == ATTN_POLICY_FULL)
				res.stats_bad += s->entries != p[b] + i + 1 ||
						 s->delta != 0.0 || s->bytes <= 0;
		}
	}
	free(q);
	free(out);
	free(st);
	free(ref);
	return res;
}

/* ---- exact mode over shapes ---------------------------------------- */

static const struct shape shapes[] = {
	/* layers hq hkv d  dt         W    P   out        prompt  L */
	{ 2, 4, 2, 32, ATTN_F32, 64, 16, ATTN_F32, 300, 1 },
	{ 1, 8, 2, 64, ATTN_BF16, 128, 64, ATTN_F32, 1000, 4 },
	{ 1, 4, 4, 16, ATTN_F16, 0, 16, ATTN_F32, 100, 3 },
	{ 2, 6, 3, 48, ATTN_F32, 32, 32, ATTN_BF16, 200, 2 },
	{ 1, 2, 1, 128, ATTN_BF16, 64, 64, ATTN_BF16, 130, 64 },
	{ 1, 4, 2, 32, ATTN_F32, 256, 16, ATTN_F32, 50, 1 },
};

static void
exact_shapes(struct svc *s)
{
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		const struct shape *sh = &shapes[i];
		double tol = sh->odt == ATTN_BF16 ? TOL_BF16 : TOL_F32;
		int64_t off[MAXB] = { -1, -1, -1 };
		struct result worst = { 0 }, r;
		struct fix f;
		int err = fix_open(&f, s, sh, 3, NULL, seed + i);

		/* Lengths prompt, prompt / 2 + 5 and prompt + P - 1; the last
		 * sequence's tail token by token. */
		err = err ? err : fix_append(&f, 0, sh->prompt, 0);
		err = err ? err : fix_append(&f, 1, sh->prompt / 2 + 5, 0);
		err = err ? err : fix_append(&f, 2, sh->prompt, 0);
		err = err ? err : fix_append(&f, 2, sh->P - 1, 1);
		off[1] = sh->prompt / 2 + 5 - sh->L - 7 >= 0 ? 3 : -1;
		for (int l = 0; l < sh->layers && !err; l++)
			for (int k = 0; k < 2 && !err; k++) {
				r = fix_attend(&f, l, sh->L, k ? off : NULL, NULL, 1.0);
				err = r.err;
				worst.rel = fmax(worst.rel, r.rel);
				worst.stats_bad += r.stats_bad;
			}
		ok(!err && worst.rel <= tol && !worst.stats_bad,
		   "exact: layers %d hq %d hkv %d d %d %s W %d P %d out %s L %d: "
		   "rel L2 %.2e (tol %.0e), stats %s (err %d)", sh->layers, sh->hq,
		   sh->hkv, sh->d, attn_dtype_name(sh->dt), sh->W, sh->P,
		   attn_dtype_name(sh->odt), sh->L, worst.rel, tol,
		   worst.stats_bad ? "wrong" : "right", err);
		fix_close(&f);
	}
}

/* ---- sparse policies ------------------------------------------------ */

static void
sparse_policies(struct svc *s)
{
	static const char *pols[] = { "topk:32", "mass:0.01", "mass:0.2" };
	static const int windows[] = { 0, 64 };

	for (size_t w = 0; w < 2; w++)
		for (size_t i = 0; i < 3; i++) {
			struct shape sh = { 1, 4, 2, 32, ATTN_BF16, windows[w], 16,
					    ATTN_F32, 1200, 2 };
			struct attn_policy pol;
			struct result r = { 0 };
			struct fix f;
			int err = fix_open(&f, s, &sh, 2, NULL, seed + 100 + w * 3 + i);

			attn_policy_parse(pols[i], &pol);
			err = err ? err : fix_append(&f, 0, sh.prompt, 0);
			err = err ? err : fix_append(&f, 1, sh.prompt / 3, 0);
			if (!err) {
				/* Sharp scores, so that little mass is dropped. */
				r = fix_attend(&f, 0, sh.L, NULL, &pol, 3.0);
				err = r.err;
			}
			bool dbound = pol.kind == ATTN_POLICY_MASS ?
				r.max_delta <= pol.eps : r.max_entries <= 32 + sh.W + sh.P + 1;
			ok(!err && r.bound_excess <= 0.0 && r.max_delta > 0.0 && dbound,
			   "%s, W %d: |o - o_ref| - (2 delta max|v| + tol) <= %.2e, "
			   "max delta %.2e, max entries %lld (err %d)", pols[i], sh.W,
			   r.bound_excess, r.max_delta, (long long)r.max_entries, err);
			fix_close(&f);
		}
}

/* The model's default policy applies unless a call overrides it. */
static void
policy_override(struct svc *s)
{
	struct shape sh = { 1, 2, 1, 32, ATTN_F32, 0, 16, ATTN_F32, 500, 1 };
	struct attn_policy topk = { .kind = ATTN_POLICY_TOPK, .topk = 8 };
	struct attn_policy full = { .kind = ATTN_POLICY_FULL };
	struct result rd = { 0 }, ro = { 0 };
	struct fix f;
	int err = fix_open(&f, s, &sh, 1, &topk, seed + 200);

	err = err ? err : fix_append(&f, 0, sh.prompt, 0);
	if (!err) {
		rd = fix_attend(&f, 0, 1, NULL, NULL, 1.0);
		ro = fix_attend(&f, 0, 1, NULL, &full, 1.0);
		err = rd.err ? rd.err : ro.err;
	}
	/* W = 0: the dense part is the partly filled last page. */
	ok(!err && rd.max_entries == 8 + sh.prompt % sh.P && rd.max_delta > 0.0 &&
	   ro.max_entries == sh.prompt && ro.rel <= TOL_F32 && !ro.stats_bad,
	   "model default topk:8 keeps %lld entries (8 + the last page's), delta %.2e; override full: "
	   "%lld entries, rel %.2e", (long long)rd.max_entries, rd.max_delta,
	   (long long)ro.max_entries, ro.rel);
	fix_close(&f);
}

/* ---- decode loops --------------------------------------------------- */

struct loop {
	struct svc *s;
	struct shape sh;
	uint64_t seed;
	int steps;
	int err;
	double rel;
	int checked;
};

/* Decode @steps tokens for 2 sequences; every 25 steps a speculative
 * round: 4 draft tokens, a causal 4-token query, 3 of them rejected. */
static void *
decode_loop(void *arg)
{
	struct loop *lp = arg;
	struct fix f;
	int err = fix_open(&f, lp->s, &lp->sh, 2, NULL, lp->seed);

	err = err ? err : fix_append(&f, 0, lp->sh.prompt, 0);
	err = err ? err : fix_append(&f, 1, lp->sh.prompt + 7, 0);
	for (int t = 0; t < lp->steps && !err; t++) {
		int spec = t % 25 == 24, L = spec ? 4 : 1;

		for (int b = 0; b < 2 && !err; b++)
			err = fix_append(&f, b, L, 0);
		for (int l = 0; l < lp->sh.layers && !err; l++) {
			struct result r = fix_attend(&f, l, L, NULL, NULL, 1.0);
			err = r.err;
			lp->rel = fmax(lp->rel, r.rel);
			lp->checked++;
		}
		for (int b = 0; b < 2 && spec && !err; b++)
			err = fix_truncate(&f, b, 3);
	}
	lp->err = err;
	fix_close(&f);
	return NULL;
}

static void
decode_loops(struct svc *s)
{
	struct loop lp[2] = {
		{ .s = s, .sh = { 2, 4, 2, 32, ATTN_F32, 32, 16, ATTN_F32, 90, 1 },
		  .seed = seed + 300, .steps = 300 },
		{ .s = s, .sh = { 1, 8, 1, 64, ATTN_BF16, 64, 32, ATTN_F32, 150, 1 },
		  .seed = seed + 301, .steps = 300 },
	};
	pthread_t th[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, decode_loop, &lp[i]);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		ok(lp[i].err == 0 && lp[i].rel <= TOL_F32 && lp[i].checked ==
		   lp[i].steps * lp[i].sh.layers,
		   "decode loop %d (%s KV, hq %d hkv %d d %d): %d steps, %d attends "
		   "checked, worst rel L2 %.2e (err %d)", i, attn_dtype_name(lp[i].sh.dt),
		   lp[i].sh.hq, lp[i].sh.hkv, lp[i].sh.d, lp[i].steps, lp[i].checked,
		   lp[i].rel, lp[i].err);
	}
}

int
main(void)
{
	struct svc_config c;
	struct svc *s;
	int64_t pages, slabs;

	alarm(120);
	seed = ref64_seed();
	svch_config(&c, 2, 64 << 20);
	c.chunk_pages = 5;	/* so most parts are cut and merged in chunks */
	if (svc_create(&s, &c))
		return ok(0, "svc_create"), done_testing();
	exact_shapes(s);
	sparse_policies(s);
	policy_override(s);
	decode_loops(s);
	svc_drain(s);
	svch_pools(s, &pages, &slabs);
	ok(pages == 0 && slabs == 32, "every page back in the pools (%lld pages, "
	   "%lld of 32 slabs free)", (long long)pages, (long long)slabs);
	svc_destroy(s);
	return done_testing();
}
