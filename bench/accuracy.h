/*
 * accuracy.h - internals of bench/accuracy: the evaluated methods (hgca
 * through the paged engine, and the baselines implemented here), the
 * metrics, and one group of query heads sharing a KV head as the unit of
 * work.  See accuracy.c for what is measured and why it is fair.
 *
 * Ownership: the caller owns every buffer; functions that can fail return 0
 * or a negative errno and never print.
 */
#ifndef HGCA_BENCH_ACCURACY_H
#define HGCA_BENCH_ACCURACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attn/attn.h"
#include "attn/paged.h"
#include "attn/rng.h"

#define ACC_SINKS 4		/* sink tokens of sink+window (StreamingLLM) */
#define ACC_BAND 512		/* recent tokens that are never a "needle" */
#define ACC_NEEDLE_COS 0.9	/* see acc_needle_find */
#define ACC_DEPTH_BINS 10
#define ACC_MAX_D 1024		/* largest head dimension */
#define ACC_MAX_G 64		/* most query heads per KV head */

/*
 * One KV head and the G query heads that share it, over T decode steps: the
 * query of step t (rows [t][G][d]) has absolute position pos[t] and sees
 * keys 0..pos[t].  k, v [n][d] in dt; k32, v32 the same values in fp32.
 */
struct acc_group {
	int G, d, T;
	enum attn_dtype dt;
	float scale;
	int64_t n;
	const float *q;
	const int64_t *pos;
	const void *k, *v;
	const float *k32, *v32;
};

/* K+V bytes of one token. */
static inline double
acc_token_bytes(const struct acc_group *grp)
{
	return 2.0 * grp->d * (double)attn_dtype_size(grp->dt);
}

/* Bytes of one page summary (per-dimension fp32 min and max). */
static inline double
acc_summary_bytes(const struct acc_group *grp)
{
	return 2.0 * grp->d * sizeof(float);
}

enum acc_kind {
	ACC_EXACT,		/* engine, policy full */
	ACC_HGCA,		/* engine, policy mass or topk */
	ACC_SINK_WINDOW,	/* first ACC_SINKS + most recent tokens */
	ACC_H2O,		/* heavy hitters by accumulated attention + recent */
	ACC_QUEST,		/* pages by min/max bound */
	ACC_UNIFORM,		/* uniform random tokens */
};

struct acc_method {
	enum acc_kind kind;
	double frac;		/* baselines: budget, fraction of context bytes;
				 * hgca: cap on bytes read (0: none) */
	struct attn_policy pol;	/* ACC_EXACT, ACC_HGCA */
	char name[16], param[48];
};

/* What one method did for one query row. */
struct acc_row {
	double bytes;		/* K+V bytes of tokens read */
	double meta;		/* page summary bytes read */
	double kept;		/* softmax mass of the keys used / all */
	double delta;		/* hgca: certified bound on the dropped mass */
};

/* ---- baselines (accuracy_base.c) ------------------------------------ */

/*
 * Float64 scores and exact attention of one step: s [G][nvis] scaled scores,
 * lse [G] and o [G][d] of exact attention, from ref64_attention on the
 * group's fp32 K/V.  Sized for grp->n keys by acc_step_alloc.
 */
struct acc_step {
	int t;
	int64_t nvis;
	double *s, *lse, *o;
};

int acc_step_alloc(struct acc_step *st, const struct acc_group *grp);
void acc_step_free(struct acc_step *st);
int acc_step_compute(struct acc_step *st, const struct acc_group *grp, int t);

/*
 * acc_attend_subset - attention of row @g over the @m tokens idx[] (distinct,
 * all < nvis) in float64 from the step's scores, written as o [d] (float);
 * returns the kept softmax mass (sum over idx of the exact weights).  With
 * @w not NULL, also writes the weights within the subset w[m] (summing to 1).
 */
double acc_attend_subset(const struct acc_group *grp, const struct acc_step *st,
			 int g, const int64_t *idx, int64_t m, float *o,
			 double *w);

/* Tokens of the budget @frac of nvis tokens (at least 1). */
int64_t acc_budget_tokens(double frac, int64_t nvis);

/* sink+window: idx = the first min(ACC_SINKS, m) tokens and the last ones,
 * m in all (m <= nvis).  Returns the count. */
int64_t acc_sink_window(int64_t nvis, int64_t m, int64_t *idx);

/* Uniform sampling: @m distinct tokens of 0..nvis-1, each subset equally
 * likely (Floyd's algorithm); @mark [nvis] zero on entry and on return. */
int64_t acc_uniform(struct rng *r, int64_t nvis, int64_t m, int64_t *idx,
		    unsigned char *mark);

/*
 * Quest-style page selection for row @g: the full pages (P tokens) of the
 * nvis visible tokens are ranked by the upper bound of q.k from their
 * per-dimension min/max (kmin, kmax [npages][d], fp32), and the best pages
 * that fit @bytes (token bytes plus every summary read) are kept, plus the
 * partly filled last page, which has no summary and is always read.  Writes
 * their tokens into idx and the summary bytes read into *meta; returns the
 * count of tokens.
 */
int64_t acc_quest(const struct acc_group *grp, int t, int g, int P,
		  const float *kmin, const float *kmax, double bytes,
		  int64_t *idx, double *meta, double *tmp);

/* Per-page min/max of the group's K (fp32) for pages of P tokens; the last
 * partial page is summarised too but acc_quest ignores it. */
int acc_summaries(const struct acc_group *grp, int P, float **kmin,
		  float **kmax);

/*
 * H2O-style heavy-hitter eviction for one query row.  The cache holds at
 * most m tokens: the m/2 most recent and the heavy hitters, the tokens with
 * the largest attention accumulated over the steps they were cached; a
 * token evicted never comes back.  acc_h2o_start builds the cache at the
 * first step from that step's exact attention over the prompt (as H2O's
 * prefill would); acc_h2o_step then adds the tokens that arrived, evicts
 * down to @m, attends over the cache and accumulates the weights.
 */
struct acc_h2o {
	int64_t n, nvis, count;
	unsigned char *in;	/* [n] cached */
	double *acc;		/* [n] accumulated attention */
};

int acc_h2o_init(struct acc_h2o *h, int64_t n);
void acc_h2o_free(struct acc_h2o *h);
void acc_h2o_start(struct acc_h2o *h, const struct acc_step *st, int g,
		   int64_t m, double *tmp);
/* Returns the count of cached tokens written to idx, which it attends. */
int64_t acc_h2o_step(struct acc_h2o *h, const struct acc_group *grp,
		     const struct acc_step *st, int g, int64_t m, int64_t *idx,
		     float *o, double *w, double *kept);

/* The value v with exactly k of x[0..n) greater or equal (k-th largest,
 * 1 <= k <= n); reorders x. */
double acc_kth_largest(double *x, int64_t n, int64_t k);

/* ---- metrics (accuracy_metrics.c) ----------------------------------- */

/*
 * Sums over query rows for one method (and head, context): pooled relative
 * L2 error sqrt(err2 / ref2), bytes over context bytes, mean kept mass,
 * needle recovery = recovered / needles, per depth bin too.
 */
struct acc_stats {
	double rows, err2, ref2, bytes, meta, ctx_bytes, kept;
	double needles, recovered;
	double delta_sum, dropped_sum, delta_max, dropped_max;
	double bin_needles[ACC_DEPTH_BINS], bin_recovered[ACC_DEPTH_BINS];
};

/*
 * A needle event of one row: in exact attention the highest-weighted token
 * j lies outside the sinks and the last ACC_BAND visible tokens (it is deep
 * in the context) and its value explains the exact output,
 * cos(o_exact, v_j) >= ACC_NEEDLE_COS.  A method recovers it when
 * cos(o_method, o_exact) >= ACC_NEEDLE_COS.  Returns true for an event and
 * its depth j / nvis in *depth.
 */
bool acc_needle_find(const struct acc_group *grp, const struct acc_step *st,
		     int g, double *depth);

/* cos(a, b) over d values (0 when either is zero). */
double acc_cos(const float *a, const double *b, int d);

/* Account one row: output @o against the step's exact row @g. */
void acc_stats_row(struct acc_stats *s, const struct acc_group *grp,
		   const struct acc_step *st, int g, const float *o,
		   const struct acc_row *r, bool needle, double depth);
void acc_stats_add(struct acc_stats *dst, const struct acc_stats *src);
double acc_stats_err(const struct acc_stats *s);
double acc_stats_bytes_frac(const struct acc_stats *s);

/* ---- hgca through the engine (accuracy_hgca.c) ---------------------- */

/* The group's K/V in engine pages of P tokens, with summaries. */
struct acc_pages;

int acc_pages_build(struct acc_pages **out, const struct acc_group *grp, int P);
void acc_pages_free(struct acc_pages *pg);

/*
 * acc_hgca_step - attention of the G rows of step @t through
 * attn_paged_partial with the method's policy over the pages visible at
 * that step.  Writes o [G][d], lse [G] and rows [G] (engine bytes; summary
 * bytes of every full page for mass and topk, which rank pages by them).
 * Returns 0 or the engine's negative errno.
 */
int acc_hgca_step(struct attn_engine *e, struct acc_pages *pg,
		  const struct acc_group *grp, const struct acc_step *st,
		  const struct acc_method *m, float *o, float *lse,
		  struct acc_row *rows);

/* ---- a run and its report (accuracy.c, accuracy_report.c) ---------- */

#define ACC_MAX_CTX 8

/* One hgca row's certified bound next to the dropped mass measured. */
struct acc_drow {
	int method, ctx, head, step;
	double delta, dropped;
};

struct acc_run {
	bool trace;		/* a trace, not the generator */
	char source[300];	/* what was evaluated, in words */
	int nctx;
	int64_t ctx[ACC_MAX_CTX];	/* tokens of each context */
	int ngroups, G, d, T, P;
	enum attn_dtype dt;
	const double *tau;	/* generator: [G] score sharpness per head */
	int nm;
	struct acc_method *m;
	int nheads;		/* ngroups * G */
	struct acc_stats *stats;	/* [nctx][nm][nheads] */
	struct acc_drow *drows;
	size_t ndrows;
	double resolution;	/* max |1 - kept| of exact rows: the float64
				 * rounding of a measured kept mass */
	double secs;
};

static inline struct acc_stats *
acc_run_stats(const struct acc_run *r, int ci, int mi, int h)
{
	return &r->stats[((size_t)ci * r->nm + mi) * r->nheads + h];
}

/* The human-readable tables, then the result lines. */
void acc_report_print(const struct acc_run *r);
/* accuracy.csv, needle_depth.csv and delta.csv in @dir: 0 or -errno. */
int acc_report_csv(const struct acc_run *r, const char *dir);

#endif /* HGCA_BENCH_ACCURACY_H */
