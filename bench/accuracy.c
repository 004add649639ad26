/*
 * accuracy - how close hgca's sparse attention comes to exact attention, and
 * how it compares with the simple alternatives at equal bytes read
 * (DESIGN.md section 9).
 *
 * Workload: the seeded generator of attn/workload.h, several KV heads (one
 * seed each) of G = 4 query heads with score sharpness tau = 1, 2, 4, 8,
 * d = 128, bf16 K/V, over T decode steps whose queries drift from one set of
 * 16 needles to another, so attention really moves over the steps.  The
 * context grows by one token per step: the query of step t sits at position
 * n - T + t and sees the keys up to it.  Or, with --trace, Q/K/V recorded
 * from a model (bench/trace.h, hgca-trace(5)).
 *
 * Methods, all chosen per query head (each query row picks its own tokens;
 * bytes are counted per row, as the engine's row stats count them):
 *   exact        the engine's "full" policy (checks the engine, 100% read)
 *   hgca         the engine's "mass:EPS" and "topk:K" policies, and mass with
 *                a cap on the bytes read; bytes = what the engine reports
 *                (K pages scored, V read) + the summaries of every full page
 *                (it ranks pages by them)
 *   sink_window  StreamingLLM: the first 4 tokens and the most recent ones
 *   h2o          H2O: heavy hitters by attention accumulated over the steps
 *                plus a recent window (half of the budget each), built at
 *                step 0 from that step's exact attention over the prompt (as
 *                H2O's prefill would, not counted in bytes); afterwards it
 *                only sees its own cache, and an evicted token never returns
 *   quest        Quest: full pages ranked by their min/max bound of q.k, the
 *                best that fit the budget after the summaries it read, plus
 *                the partly filled last page
 *   uniform      tokens sampled uniformly without replacement, fresh each
 *                step; plain softmax over them (1/p reweighting would cancel
 *                in the normalised output, every token having the same p)
 * Each baseline gets a budget of a fraction of the context's K+V bytes; at
 * the comparison point the baselines read 10% and hgca at most 10%, summaries
 * included, so any difference in bytes favours the baselines.  Baseline
 * outputs are computed in float64 over their chosen tokens.
 *
 * Metrics against exact float64 attention (tests/ref64.h), per query head
 * and pooled over all heads and steps: relative L2 error
 * ||O - O_exact||_F / ||O_exact||_F, softmax mass kept, bytes read, needle
 * recovery (acc_needle_find), and for hgca the certified bound delta next
 * to the true dropped mass: 1 - the float64 softmax mass of the keys the
 * engine kept (attn_engine_kept).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attn/workload.h"
#include "bench/accuracy.h"
#include "bench/trace.h"

#define GEN_G 4
#define GEN_D 128
#define GEN_DT ATTN_BF16
#define PAGE ATTN_PAGE_DEFAULT

static const double mass_eps[] = { 0.3, 0.1, 0.03, 0.01, 0.003, 0.001 };
static const int64_t topk_k[] = { 16, 64, 256, 1024 };
/* hgca under a byte cap per query row: mass:CAP_EPS with these caps, as
 * fractions of the context's K+V bytes.  A row the cap stops keeps every key
 * it scored (eps then does not matter); the engine's budget charges a page's
 * K and V when it scores it, so the bytes read land a little under the cap.
 * The comparison takes whichever hgca setting reads <= 10% on average. */
#define CAP_EPS 0.01
static const double cap_frac[] = { 0.05, 0.10, 0.15, 0.20 };
static const double base_frac[] = { 0.025, 0.05, 0.10, 0.20, 0.40 };

struct opts {
	bool quick;
	int nctx, heads, steps, threads;
	int64_t ctx[ACC_MAX_CTX];
	uint64_t seed;
	const char *csv, *trace, *dump;
};

/* The data of one group and what owns it. */
struct group_data {
	struct attn_workload w;		/* generator */
	float *q;			/* trace */
	void *k, *v;			/* trace */
	int64_t *pos;
	float *k32, *v32;
	struct acc_group grp;
};

/* Work state of one group's evaluation (one thread). */
struct group_eval {
	struct attn_engine *e;
	struct acc_pages *pg;
	float *kmin, *kmax;
	struct acc_step st;
	struct acc_h2o *h2o;		/* [nm][G], used by H2O methods */
	int64_t *idx;
	double *w, *tmp;
	unsigned char *mark;
	float *o, *lse;
	struct acc_row *rows;
	struct rng rng;
	bool needle[ACC_MAX_G];
	double depth[ACC_MAX_G];
	struct acc_drow *drows;		/* output: hgca mass rows */
	size_t ndrows, cap;
	double resolution;
};

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: accuracy [--quick] [--ctx N[,N...]] [--heads H] [--steps T]\n"
		"                [--seed S] [--threads N] [--csv DIR]\n"
		"                [--trace FILE | --dump FILE]\n"
		"  --ctx      context lengths in tokens (suffix k = 1024)\n"
		"  --heads    KV heads of the generator (each with %d query heads)\n"
		"  --steps    decode steps\n"
		"  --csv      write accuracy.csv, needle_depth.csv, delta.csv there\n"
		"  --trace    evaluate a trace (hgca-trace(5)) instead of the generator\n"
		"  --dump     write the generated workload of the first context as a\n"
		"             trace and exit\n", GEN_G);
}

static int
parse_ctx(const char *s, struct opts *o)
{
	char *end;

	o->nctx = 0;
	while (*s) {
		long long x = strtoll(s, &end, 10);
		if (end == s || o->nctx == ACC_MAX_CTX)
			return -EINVAL;
		if (*end == 'k' || *end == 'K')
			x *= 1024, end++;
		o->ctx[o->nctx++] = x;
		if (*end == ',')
			end++;
		else if (*end)
			return -EINVAL;
		s = end;
	}
	return o->nctx ? 0 : -EINVAL;
}

static void
opts_defaults(struct opts *o)
{
	static const int64_t full[] = { 32768, 65536, 131072 }, quick[] = { 8192, 16384, 32768 };
	const int64_t *c = o->quick ? quick : full;

	o->nctx = 3;
	memcpy(o->ctx, c, (size_t)o->nctx * sizeof(*c));
	o->heads = o->quick ? 2 : 4;
	o->steps = o->quick ? 16 : 32;
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' }, { "ctx", required_argument, NULL, 'c' },
		{ "heads", required_argument, NULL, 'H' }, { "steps", required_argument, NULL, 'T' },
		{ "seed", required_argument, NULL, 's' }, { "threads", required_argument, NULL, 'j' },
		{ "csv", required_argument, NULL, 'o' }, { "trace", required_argument, NULL, 't' },
		{ "dump", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ctx = NULL;
	int heads = 0, steps = 0, c;

	memset(o, 0, sizeof(*o));
	o->seed = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'q': o->quick = true; break;
		case 'c': ctx = optarg; break;
		case 'H': heads = atoi(optarg); break;
		case 'T': steps = atoi(optarg); break;
		case 's': o->seed = strtoull(optarg, NULL, 0); break;
		case 'j': o->threads = atoi(optarg); break;
		case 'o': o->csv = optarg; break;
		case 't': o->trace = optarg; break;
		case 'd': o->dump = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	opts_defaults(o);
	if ((ctx && parse_ctx(ctx, o)) || optind != argc || (o->trace && o->dump))
		return -EINVAL;
	o->heads = heads ? heads : o->heads;
	o->steps = steps ? steps : o->steps;
	for (int i = 0; i < o->nctx; i++)
		if (o->ctx[i] <= o->steps || o->ctx[i] > (1 << 24))
			return -EINVAL;
	return o->heads >= 1 && o->steps >= 1 && o->threads >= 0 ? 0 : -EINVAL;
}

/* ---- methods -------------------------------------------------------- */

static struct acc_method *
method_add(struct acc_method *m, int *n, enum acc_kind kind, const char *name)
{
	struct acc_method *x = &m[(*n)++];

	memset(x, 0, sizeof(*x));
	x->kind = kind;
	snprintf(x->name, sizeof(x->name), "%s", name);
	return x;
}

static struct acc_method *
methods_build(int *nm)
{
	static const struct { enum acc_kind kind; const char *name; } base[] = {
		{ ACC_SINK_WINDOW, "sink_window" }, { ACC_H2O, "h2o" },
		{ ACC_QUEST, "quest" }, { ACC_UNIFORM, "uniform" },
	};
	size_t cap = 1 + sizeof(mass_eps) / sizeof(*mass_eps) + sizeof(topk_k) / sizeof(*topk_k) +
		     sizeof(cap_frac) / sizeof(*cap_frac) + 4 * sizeof(base_frac) / sizeof(*base_frac);
	struct acc_method *m = calloc(cap, sizeof(*m)), *x;
	int n = 0;

	if (!m)
		return NULL;
	x = method_add(m, &n, ACC_EXACT, "exact");
	x->pol.kind = ATTN_POLICY_FULL;
	snprintf(x->param, sizeof(x->param), "full");
	for (size_t i = 0; i < sizeof(mass_eps) / sizeof(*mass_eps); i++) {
		x = method_add(m, &n, ACC_HGCA, "hgca_mass");
		x->pol = (struct attn_policy){ .kind = ATTN_POLICY_MASS, .eps = mass_eps[i] };
		snprintf(x->param, sizeof(x->param), "mass:%g", mass_eps[i]);
	}
	for (size_t i = 0; i < sizeof(topk_k) / sizeof(*topk_k); i++) {
		x = method_add(m, &n, ACC_HGCA, "hgca_topk");
		x->pol = (struct attn_policy){ .kind = ATTN_POLICY_TOPK, .topk = topk_k[i] };
		snprintf(x->param, sizeof(x->param), "topk:%lld", (long long)topk_k[i]);
	}
	for (size_t i = 0; i < sizeof(cap_frac) / sizeof(*cap_frac); i++) {
		x = method_add(m, &n, ACC_HGCA, "hgca_cap");
		x->pol = (struct attn_policy){ .kind = ATTN_POLICY_MASS, .eps = CAP_EPS };
		x->frac = cap_frac[i];
		snprintf(x->param, sizeof(x->param), "mass:%g+cap:%g%%", CAP_EPS,
			 100 * cap_frac[i]);
	}
	for (size_t b = 0; b < sizeof(base) / sizeof(*base); b++)
		for (size_t i = 0; i < sizeof(base_frac) / sizeof(*base_frac); i++) {
			x = method_add(m, &n, base[b].kind, base[b].name);
			x->frac = base_frac[i];
			snprintf(x->param, sizeof(x->param), "%g%%", 100 * base_frac[i]);
		}
	*nm = n;
	return m;
}

/* ---- group data ----------------------------------------------------- */

static void
group_free(struct group_data *gd)
{
	attn_workload_free(&gd->w);
	free(gd->q);
	free(gd->k);
	free(gd->v);
	free(gd->pos);
	free(gd->k32);
	free(gd->v32);
	memset(gd, 0, sizeof(*gd));
}

/* fp32 copies of K and V, and the group's description. */
static int
group_finish(struct group_data *gd, int G, int d, int T, enum attn_dtype dt,
	     float scale, int64_t n, const float *q, const void *k, const void *v)
{
	size_t nkv = (size_t)n * d;

	gd->k32 = malloc(nkv * sizeof(float));
	gd->v32 = malloc(nkv * sizeof(float));
	if (!gd->k32 || !gd->v32)
		return -ENOMEM;
	attn_to_f32(dt, k, gd->k32, nkv);
	attn_to_f32(dt, v, gd->v32, nkv);
	gd->grp = (struct acc_group){
		.G = G, .d = d, .T = T, .dt = dt, .scale = scale, .n = n, .q = q,
		.pos = gd->pos, .k = k, .v = v, .k32 = gd->k32, .v32 = gd->v32,
	};
	return 0;
}

static int
group_generate(const struct opts *o, int64_t n, int gi, struct group_data *gd)
{
	struct attn_workload_cfg cfg = {
		.n = n, .G = GEN_G, .d = GEN_D, .dt = GEN_DT,
		.seed = o->seed * 1000003u + (uint64_t)gi, .steps = o->steps,
		.drift = o->steps > 1 ? M_PI / 2 / (o->steps - 1) : 0.0,
	};
	int err = attn_workload_make(&cfg, &gd->w);

	if (err)
		return err;
	gd->pos = malloc((size_t)o->steps * sizeof(*gd->pos));
	if (!gd->pos)
		return -ENOMEM;
	for (int t = 0; t < o->steps; t++)
		gd->pos[t] = n - o->steps + t;
	return group_finish(gd, GEN_G, GEN_D, o->steps, GEN_DT,
			    (float)(1.0 / sqrt(GEN_D)), n, gd->w.q, gd->w.k, gd->w.v);
}

static int
group_from_trace(struct trace *tr, int gi, struct group_data *gd)
{
	const struct trace_dims *dm = trace_get_dims(tr);
	int G = dm->hq / dm->hkv;
	size_t nkv = (size_t)dm->tokens * dm->d * attn_dtype_size(dm->dt);
	int err;

	gd->q = malloc((size_t)dm->steps * G * dm->d * sizeof(float));
	gd->k = malloc(nkv);
	gd->v = malloc(nkv);
	gd->pos = malloc((size_t)dm->steps * sizeof(*gd->pos));
	if (!gd->q || !gd->k || !gd->v || !gd->pos)
		return -ENOMEM;
	memcpy(gd->pos, trace_get_pos(tr), (size_t)dm->steps * sizeof(*gd->pos));
	err = trace_read(tr, gi / dm->hkv, gi % dm->hkv, gd->q, gd->k, gd->v);
	if (err)
		return err;
	return group_finish(gd, G, dm->d, dm->steps, dm->dt, trace_scale(dm),
			    dm->tokens, gd->q, gd->k, gd->v);
}

/* ---- evaluation of one group ---------------------------------------- */

static void
eval_free(struct group_eval *ev, int nh2o)
{
	attn_engine_destroy(ev->e);
	acc_pages_free(ev->pg);
	free(ev->kmin);
	free(ev->kmax);
	acc_step_free(&ev->st);
	for (int i = 0; ev->h2o && i < nh2o; i++)
		acc_h2o_free(&ev->h2o[i]);
	free(ev->h2o);
	free(ev->idx);
	free(ev->w);
	free(ev->tmp);
	free(ev->mark);
	free(ev->o);
	free(ev->lse);
	free(ev->rows);
}

static int
eval_alloc(struct group_eval *ev, const struct acc_run *run,
	   const struct acc_group *grp)
{
	struct attn_layout lo = { .d = grp->d, .P = run->P, .dt = grp->dt };
	size_t n = (size_t)grp->n, G = (size_t)grp->G, np = n / run->P + 1;
	int err;

	if ((err = attn_engine_create(&ev->e, &lo, attn_isa_default())) ||
	    (err = acc_pages_build(&ev->pg, grp, run->P)) ||
	    (err = acc_summaries(grp, run->P, &ev->kmin, &ev->kmax)) ||
	    (err = acc_step_alloc(&ev->st, grp)))
		return err;
	ev->h2o = calloc((size_t)run->nm * G, sizeof(*ev->h2o));
	ev->idx = malloc(n * sizeof(*ev->idx));
	ev->w = malloc(n * sizeof(*ev->w));
	ev->tmp = malloc((n + 2 * np) * sizeof(*ev->tmp));
	ev->mark = calloc(n, 1);
	ev->o = malloc(G * grp->d * sizeof(*ev->o));
	ev->lse = malloc(G * sizeof(*ev->lse));
	ev->rows = malloc(G * sizeof(*ev->rows));
	if (!ev->h2o || !ev->idx || !ev->w || !ev->tmp || !ev->mark || !ev->o ||
	    !ev->lse || !ev->rows)
		return -ENOMEM;
	for (int mi = 0; mi < run->nm; mi++)
		for (size_t g = 0; run->m[mi].kind == ACC_H2O && g < G; g++)
			if ((err = acc_h2o_init(&ev->h2o[mi * G + g], grp->n)))
				return err;
	return 0;
}

/* Baseline @m for row @g of the current step: output o [d] and row r. */
static void
eval_baseline(struct group_eval *ev, const struct acc_group *grp,
	      const struct acc_method *m, struct acc_h2o *h2o, int g, float *o,
	      struct acc_row *r)
{
	const struct acc_step *st = &ev->st;
	int64_t mt = acc_budget_tokens(m->frac, st->nvis), c = 0;
	double tb = acc_token_bytes(grp);

	r->meta = 0.0;
	r->delta = NAN;
	switch (m->kind) {
	case ACC_SINK_WINDOW:
		c = acc_sink_window(st->nvis, mt, ev->idx);
		break;
	case ACC_UNIFORM:
		c = acc_uniform(&ev->rng, st->nvis, mt, ev->idx, ev->mark);
		break;
	case ACC_QUEST:
		c = acc_quest(grp, st->t, g, PAGE, ev->kmin, ev->kmax,
			      m->frac * (double)st->nvis * tb, ev->idx, &r->meta, ev->tmp);
		break;
	case ACC_H2O:
		if (st->t == 0)
			acc_h2o_start(h2o, st, g, mt, ev->tmp);
		c = acc_h2o_step(h2o, grp, st, g, mt, ev->idx, o, ev->w, &r->kept);
		r->bytes = (double)c * tb;
		return;
	default:
		break;
	}
	r->kept = acc_attend_subset(grp, st, g, ev->idx, c, o, NULL);
	r->bytes = (double)c * tb;
}

static int
drow_push(struct group_eval *ev, const struct acc_drow *d)
{
	if (ev->ndrows == ev->cap) {
		size_t cap = ev->cap ? 2 * ev->cap : 256;
		struct acc_drow *x = realloc(ev->drows, cap * sizeof(*x));
		if (!x)
			return -ENOMEM;
		ev->drows = x;
		ev->cap = cap;
	}
	ev->drows[ev->ndrows++] = *d;
	return 0;
}

/* Method @mi on the current step of group @gi of context @ci. */
static int
eval_method(struct group_eval *ev, const struct acc_run *run,
	    const struct acc_group *grp, int ci, int gi, int mi)
{
	const struct acc_method *m = &run->m[mi];
	int G = grp->G, d = grp->d, err = 0;

	if (m->kind == ACC_EXACT || m->kind == ACC_HGCA)
		err = acc_hgca_step(ev->e, ev->pg, grp, &ev->st, m, ev->o, ev->lse, ev->rows);
	else
		for (int g = 0; g < G; g++)
			eval_baseline(ev, grp, m, &ev->h2o[mi * G + g], g,
				      ev->o + (size_t)g * d, &ev->rows[g]);
	for (int g = 0; g < G && !err; g++) {
		const struct acc_row *r = &ev->rows[g];
		int head = gi * G + g;
		acc_stats_row(acc_run_stats(run, ci, mi, head), grp, &ev->st, g,
			      ev->o + (size_t)g * d, r, ev->needle[g], ev->depth[g]);
		if (m->kind == ACC_EXACT && fabs(1.0 - r->kept) > ev->resolution)
			ev->resolution = fabs(1.0 - r->kept);
		if (m->kind == ACC_HGCA && m->pol.kind == ATTN_POLICY_MASS)
			err = drow_push(ev, &(struct acc_drow){
				.method = mi, .ctx = ci, .head = head, .step = ev->st.t,
				.delta = r->delta, .dropped = 1.0 - r->kept });
	}
	return err;
}

static int
eval_group(const struct acc_run *run, const struct acc_group *grp, int ci,
	   int gi, uint64_t seed, struct group_eval *ev)
{
	int err = eval_alloc(ev, run, grp);

	rng_seed(&ev->rng, seed ^ ((uint64_t)ci << 40) ^ ((uint64_t)gi << 20));
	for (int t = 0; t < grp->T && !err; t++) {
		err = acc_step_compute(&ev->st, grp, t);
		for (int g = 0; g < grp->G && g < ACC_MAX_G; g++)
			ev->needle[g] = acc_needle_find(grp, &ev->st, g, &ev->depth[g]);
		for (int mi = 0; mi < run->nm && !err; mi++)
			err = eval_method(ev, run, grp, ci, gi, mi);
	}
	return err;
}

/* ---- a run ---------------------------------------------------------- */

struct shared {
	const struct opts *o;
	struct trace *tr;
	double tau[GEN_G];
};

static int
run_group(struct acc_run *run, struct shared *sh, int ci, int gi,
	  struct group_eval *ev)
{
	struct group_data gd;
	int err, nh2o = run->nm * run->G;

	memset(&gd, 0, sizeof(gd));
	memset(ev, 0, sizeof(*ev));
	err = sh->tr ? group_from_trace(sh->tr, gi, &gd)
		     : group_generate(sh->o, run->ctx[ci], gi, &gd);
	if (!err && !sh->tr && gi == 0)
		memcpy(sh->tau, gd.w.tau, sizeof(sh->tau));
	if (!err)
		err = eval_group(run, &gd.grp, ci, gi, sh->o->seed, ev);
	eval_free(ev, nh2o);
	group_free(&gd);
	return err;
}

/* Every group of context @ci, in parallel; outputs merged in group order so
 * that the result does not depend on the thread count. */
static int
run_context(struct acc_run *run, struct shared *sh, int ci)
{
	struct group_eval *ev = calloc((size_t)run->ngroups, sizeof(*ev));
	int err = ev ? 0 : -ENOMEM;

	#pragma omp parallel for schedule(dynamic, 1)
	for (int gi = 0; gi < run->ngroups; gi++) {
		int e = ev ? run_group(run, sh, ci, gi, &ev[gi]) : -ENOMEM;
		if (e) {
			#pragma omp critical
			err = err ? err : e;
		}
	}
	for (int gi = 0; ev && gi < run->ngroups; gi++) {
		struct acc_drow *x = realloc(run->drows, (run->ndrows + ev[gi].ndrows) * sizeof(*x) + 1);
		if (!x) {
			err = -ENOMEM;
		} else {
			run->drows = x;
			memcpy(x + run->ndrows, ev[gi].drows, ev[gi].ndrows * sizeof(*x));
			run->ndrows += ev[gi].ndrows;
		}
		run->resolution = fmax(run->resolution, ev[gi].resolution);
		free(ev[gi].drows);
	}
	free(ev);
	return err;
}

static int
run_setup(struct acc_run *run, const struct opts *o, struct shared *sh)
{
	memset(run, 0, sizeof(*run));
	run->P = PAGE;
	if (sh->tr) {
		const struct trace_dims *dm = trace_get_dims(sh->tr);
		if (dm->d > ACC_MAX_D || dm->hq / dm->hkv > ACC_MAX_G)
			return -ENOTSUP;
		run->trace = true;
		snprintf(run->source, sizeof(run->source), "trace %s: %d layer(s)",
			 o->trace, dm->layers);
		run->nctx = 1;
		run->ctx[0] = dm->tokens;
		run->ngroups = dm->layers * dm->hkv;
		run->G = dm->hq / dm->hkv;
		run->d = dm->d;
		run->T = dm->steps;
		run->dt = dm->dt;
	} else {
		snprintf(run->source, sizeof(run->source),
			 "generator (attn/workload.h, seed %llu), decode queries drifting "
			 "from needle set 1 to set 2", (unsigned long long)o->seed);
		run->nctx = o->nctx;
		memcpy(run->ctx, o->ctx, sizeof(run->ctx));
		run->ngroups = o->heads;
		run->G = GEN_G;
		run->d = GEN_D;
		run->T = o->steps;
		run->dt = GEN_DT;
		run->tau = sh->tau;
	}
	run->nheads = run->ngroups * run->G;
	run->m = methods_build(&run->nm);
	if (!run->m)
		return -ENOMEM;
	run->stats = calloc((size_t)run->nctx * run->nm * run->nheads, sizeof(*run->stats));
	return run->stats ? 0 : -ENOMEM;
}

/* --dump: the generated groups of the first context as a one-layer trace. */
static int
dump_trace(const struct opts *o)
{
	struct trace_dims dm = {
		.dt = GEN_DT, .layers = 1, .hq = o->heads * GEN_G, .hkv = o->heads,
		.d = GEN_D, .tokens = o->ctx[0], .steps = o->steps, .scale = 0.0f,
	};
	struct trace_writer *tw = NULL;
	int err = 0;

	for (int gi = 0; gi < o->heads && !err; gi++) {
		struct group_data gd;
		memset(&gd, 0, sizeof(gd));
		err = group_generate(o, o->ctx[0], gi, &gd);
		if (!err && gi == 0)
			err = trace_writer_open(&tw, o->dump, &dm, gd.pos);
		if (!err)
			err = trace_writer_put(tw, gd.w.q, gd.w.k, gd.w.v);
		group_free(&gd);
	}
	if (tw) {
		int e = trace_writer_close(tw);
		err = err ? err : e;
	}
	if (err)
		unlink(o->dump);
	return err;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct acc_run run;
	struct shared sh = { .o = &o };
	double t0 = now();
	int err;

	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	if (o.threads)
		omp_set_num_threads(o.threads);
	if (o.dump) {
		err = dump_trace(&o);
		if (err)
			fprintf(stderr, "accuracy: writing %s: %s\n", o.dump, strerror(-err));
		return err ? 1 : 0;
	}
	if (o.trace && (err = trace_open(&sh.tr, o.trace))) {
		fprintf(stderr, "accuracy: %s: %s\n", o.trace, strerror(-err));
		return 1;
	}
	err = run_setup(&run, &o, &sh);
	for (int ci = 0; ci < run.nctx && !err; ci++) {
		err = run_context(&run, &sh, ci);
		fprintf(stderr, "accuracy: context %lld evaluated (%.1f s)\n",
			(long long)run.ctx[ci], now() - t0);
	}
	if (err) {
		fprintf(stderr, "accuracy: %s\n", strerror(-err));
		return 1;
	}
	run.secs = now() - t0;
	acc_report_print(&run);
	if (o.csv && (err = acc_report_csv(&run, o.csv)))
		fprintf(stderr, "accuracy: writing CSV to %s: %s\n", o.csv, strerror(-err));
	trace_close(sh.tr);
	free(run.m);
	free(run.stats);
	free(run.drows);
	return err ? 1 : 0;
}
