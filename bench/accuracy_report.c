/* accuracy_report.c - tables, CSV files and result lines of bench/accuracy. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/accuracy.h"

#define CMP_FRAC 0.10		/* the comparison point: bytes read <= 10% */

static const enum acc_kind base_kinds[] = {
	ACC_SINK_WINDOW, ACC_H2O, ACC_QUEST, ACC_UNIFORM,
};
#define NBASE ((int)(sizeof(base_kinds) / sizeof(base_kinds[0])))

/* Sum of the stats of method @mi over context @ci (-1: all) and head @h
 * (-1: all). */
static struct acc_stats
pool(const struct acc_run *r, int ci, int mi, int h)
{
	struct acc_stats s;

	memset(&s, 0, sizeof(s));
	for (int c = 0; c < r->nctx; c++)
		for (int x = 0; x < r->nheads; x++)
			if ((ci < 0 || c == ci) && (h < 0 || x == h))
				acc_stats_add(&s, acc_run_stats(r, c, mi, x));
	return s;
}

/* The hgca setting compared: the lowest pooled error among those reading
 * at most CMP_FRAC of the bytes on average; -1 if none does. */
static int
cmp_hgca(const struct acc_run *r)
{
	int best = -1;
	double be = INFINITY;

	for (int mi = 0; mi < r->nm; mi++) {
		struct acc_stats s = pool(r, -1, mi, -1);
		if (r->m[mi].kind != ACC_HGCA || acc_stats_bytes_frac(&s) > CMP_FRAC + 1e-12)
			continue;
		if (acc_stats_err(&s) < be)
			be = acc_stats_err(&s), best = mi;
	}
	return best;
}

/* The baseline of @kind at the comparison budget, or -1. */
static int
cmp_base(const struct acc_run *r, enum acc_kind kind)
{
	for (int mi = 0; mi < r->nm; mi++)
		if (r->m[mi].kind == kind && fabs(r->m[mi].frac - CMP_FRAC) < 1e-12)
			return mi;
	return -1;
}

static bool
compared(const struct acc_run *r, int mi)
{
	if (mi == cmp_hgca(r))
		return true;
	for (int b = 0; b < NBASE; b++)
		if (mi == cmp_base(r, base_kinds[b]))
			return true;
	return false;
}

static double
err_of(const struct acc_run *r, int ci, int mi, int h)
{
	struct acc_stats s;

	if (mi < 0)
		return NAN;
	s = pool(r, ci, mi, h);
	return acc_stats_err(&s);
}

static double
recovery(const struct acc_stats *s)
{
	return s->needles > 0 ? s->recovered / s->needles : NAN;
}

/* Rows where the measured dropped mass exceeds delta beyond what the fp32
 * lse can resolve. */
static size_t
delta_violations(const struct acc_run *r, double *tol)
{
	size_t v = 0;

	*tol = 2.0 * r->resolution;
	for (size_t i = 0; i < r->ndrows; i++)
		v += r->drows[i].dropped > r->drows[i].delta + *tol;
	return v;
}

/* ---- tables --------------------------------------------------------- */

static void
print_header(const struct acc_run *r)
{
	printf("accuracy: hgca against exact attention and simple baselines at equal bytes read\n");
	printf("source: %s\n", r->source);
	printf("shape: %d groups of %d query heads sharing a KV head, d=%d, %s K/V, "
	       "pages of %d tokens, %d decode steps, contexts:",
	       r->ngroups, r->G, r->d, attn_dtype_name(r->dt), r->P, r->T);
	for (int c = 0; c < r->nctx; c++)
		printf(" %lld", (long long)r->ctx[c]);
	printf("\n");
	printf("fairness: bytes = K+V bytes each method reads per query head, plus the page\n"
	       "  summaries hgca and quest rank pages by (fp32 min/max, %.1f%% of the K+V bytes),\n"
	       "  over the visible context's K+V bytes; hgca's K+V bytes are what the engine\n"
	       "  reports (K pages scored, V read).  Baselines get a budget of 2.5..40%%; at the\n"
	       "  comparison point baselines read 10%% and hgca at most 10%% on average.\n"
	       "  sink_window: first %d + most recent tokens.  h2o: heavy hitters by attention\n"
	       "  accumulated over the steps + recent window, half the budget each, built at\n"
	       "  step 0 from that step's exact attention (its prefill, not counted), evicted\n"
	       "  tokens never return.  quest: full pages by min/max bound within the budget\n"
	       "  (summaries counted) + the partial last page.  uniform: fresh uniform sample\n"
	       "  each step, plain softmax (1/p reweighting cancels).  Baseline outputs in float64.\n",
	       100.0 * 2 * r->d * 4 / (r->P * 2.0 * r->d * (double)attn_dtype_size(r->dt)),
	       ACC_SINKS);
	printf("needles: a row (query head, step) is a needle event when the exact attention's\n"
	       "  top token lies outside the first %d and the last %d tokens and its value\n"
	       "  explains the exact output (cos >= %.1f); recovered when cos(o, o_exact) >= %.1f.\n\n",
	       ACC_SINKS, ACC_BAND, ACC_NEEDLE_COS, ACC_NEEDLE_COS);
}

static void
print_overall(const struct acc_run *r)
{
	printf("overall, pooled over contexts, heads and steps (err = ||O - O_exact||_F / ||O_exact||_F):\n");
	printf("%-12s %-20s %8s %10s %9s %11s %10s %10s %10s %10s\n", "method", "param",
	       "bytes%", "err", "kept", "needles", "delta_avg", "drop_avg", "delta_max",
	       "drop_max");
	for (int mi = 0; mi < r->nm; mi++) {
		struct acc_stats s = pool(r, -1, mi, -1);
		char nd[32];
		snprintf(nd, sizeof(nd), "%.0f/%.0f", s.recovered, s.needles);
		printf("%-12s %-20s %8.2f %10.3g %9.6f %11s", r->m[mi].name,
		       r->m[mi].param, 100 * acc_stats_bytes_frac(&s), acc_stats_err(&s),
		       s.kept / s.rows, nd);
		if (r->m[mi].kind == ACC_HGCA)
			printf(" %10.3g %10.3g %10.3g %10.3g", s.delta_sum / s.rows,
			       s.dropped_sum / s.rows, s.delta_max, s.dropped_max);
		printf("\n");
	}
	printf("\n");
}

static void
print_cmp_row(const struct acc_run *r, int ci, int h, int hg)
{
	struct acc_stats s = pool(r, ci, hg, h);

	printf(" %10.3g %7.2f", acc_stats_err(&s), 100 * acc_stats_bytes_frac(&s));
	for (int b = 0; b < NBASE; b++)
		printf(" %11.3g", err_of(r, ci, cmp_base(r, base_kinds[b]), h));
	printf(" %6.0f/%-4.0f %6.0f/%-4.0f\n", s.recovered, s.needles,
	       pool(r, ci, cmp_base(r, ACC_SINK_WINDOW), h).recovered, s.needles);
}

static void
print_comparison(const struct acc_run *r)
{
	int hg = cmp_hgca(r);
	const char *hdr = "%10s %7s %11s %11s %11s %11s %11s %11s\n";

	if (hg < 0) {
		printf("no hgca setting read <= %.0f%% of the bytes: no comparison\n\n", 100 * CMP_FRAC);
		return;
	}
	printf("comparison at <= %.0f%% bytes read: hgca %s (lowest error among hgca settings\n"
	       "reading <= %.0f%%) against each baseline at %.0f%%; errors:\n",
	       100 * CMP_FRAC, r->m[hg].param, 100 * CMP_FRAC, 100 * CMP_FRAC);
	printf("%-8s", "context");
	printf(hdr, "hgca", "bytes%", "sink_window", "h2o", "quest", "uniform",
	       "needles", "(sink_win)");
	for (int ci = 0; ci <= r->nctx; ci++) {
		if (ci == r->nctx)
			printf("%-8s", "all");
		else
			printf("%-8lld", (long long)r->ctx[ci]);
		print_cmp_row(r, ci == r->nctx ? -1 : ci, -1, hg);
	}
	printf("\nper query head (pooled over contexts and steps):\n%-4s %4s", "head", "tau");
	printf(hdr, "hgca", "bytes%", "sink_window", "h2o", "quest", "uniform",
	       "needles", "(sink_win)");
	for (int h = 0; h < r->nheads; h++) {
		printf("%-4d ", h);
		if (r->tau)
			printf("%3.0f", r->tau[h % r->G]);
		else
			printf("%3s", "-");
		print_cmp_row(r, -1, h, hg);
	}
	printf("\n");
}

static void
print_delta(const struct acc_run *r)
{
	double tol;
	size_t v = delta_violations(r, &tol);

	printf("delta check over %zu hgca mass rows: %zu with dropped mass > delta + %.2g\n"
	       "  (dropped = 1 - the float64 softmax mass of the keys the engine kept;\n"
	       "  tolerance: twice the largest |1 - kept| of the exact rows, %.2g, i.e. the\n"
	       "  float64 rounding of that measurement)\n\n",
	       r->ndrows, v, tol, r->resolution);
}

static void
print_results(const struct acc_run *r)
{
	int hg = cmp_hgca(r);
	double eh = err_of(r, -1, hg, -1), tol;
	struct acc_stats s, sw;

	printf("evaluated in %.1f s\n", r->secs);
	if (hg < 0) {
		printf("result err_ratio_vs_sink_window nan\nresult err_ratio_vs_h2o nan\n"
		       "result needle_recovery nan\n");
		return;
	}
	s = pool(r, -1, hg, -1);
	sw = pool(r, -1, cmp_base(r, ACC_SINK_WINDOW), -1);
	printf("result hgca_bytes_frac %.4f\n", acc_stats_bytes_frac(&s));
	printf("result err_ratio_vs_quest %.4g\n", err_of(r, -1, cmp_base(r, ACC_QUEST), -1) / eh);
	printf("result err_ratio_vs_uniform %.4g\n", err_of(r, -1, cmp_base(r, ACC_UNIFORM), -1) / eh);
	printf("result delta_violations %zu\n", delta_violations(r, &tol));
	printf("result needle_recovery_sink_window %.4f\n", recovery(&sw));
	printf("result err_ratio_vs_sink_window %.4g\n", err_of(r, -1, cmp_base(r, ACC_SINK_WINDOW), -1) / eh);
	printf("result err_ratio_vs_h2o %.4g\n", err_of(r, -1, cmp_base(r, ACC_H2O), -1) / eh);
	printf("result needle_recovery %.4f\n", recovery(&s));
}

void
acc_report_print(const struct acc_run *r)
{
	print_header(r);
	print_overall(r);
	print_comparison(r);
	print_delta(r);
	print_results(r);
}

/* ---- CSV ------------------------------------------------------------ */

static FILE *
csv_open(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return fopen(path, "w");
}

static void
csv_stats_line(FILE *f, const struct acc_run *r, int ci, int mi, int h)
{
	struct acc_stats s = pool(r, ci, mi, h);

	if (ci < 0)
		fprintf(f, "all,");
	else
		fprintf(f, "%lld,", (long long)r->ctx[ci]);
	fprintf(f, "%s,%s,", r->m[mi].name, r->m[mi].param);
	if (h < 0)
		fprintf(f, "all,");
	else
		fprintf(f, "%d,", h);
	fprintf(f, "%d,%.0f,%.6g,%.6g,%.6g,%.6g,%.8f,%.0f,%.0f,", compared(r, mi), s.rows,
		acc_stats_bytes_frac(&s), s.bytes / s.ctx_bytes, s.meta / s.ctx_bytes,
		acc_stats_err(&s), s.kept / s.rows, s.needles, s.recovered);
	if (r->m[mi].kind == ACC_HGCA)
		fprintf(f, "%.6g,%.6g,%.6g,%.6g\n", s.delta_sum / s.rows,
			s.dropped_sum / s.rows, s.delta_max, s.dropped_max);
	else
		fprintf(f, ",,,\n");
}

static int
csv_accuracy(const struct acc_run *r, FILE *f)
{
	fprintf(f, "ctx,method,param,head,compared,rows,bytes_frac,kv_frac,meta_frac,"
		   "rel_l2,mass_kept,needles,recovered,delta_mean,dropped_mean,"
		   "delta_max,dropped_max\n");
	/* Pooled rows first, and each method's settings together, so that a
	 * plot of one method's curve reads consecutive rows. */
	for (int ci = -1; ci < r->nctx; ci++)
		for (int h = -1; h < r->nheads; h++)
			for (int mi = 0; mi < r->nm; mi++)
				csv_stats_line(f, r, ci, mi, h);
	return 0;
}

static int
csv_depth(const struct acc_run *r, FILE *f)
{
	fprintf(f, "method,param,compared,depth_lo,depth_hi,needles,recovered,recovery\n");
	for (int mi = 0; mi < r->nm; mi++) {
		struct acc_stats s = pool(r, -1, mi, -1);
		for (int b = 0; b < ACC_DEPTH_BINS; b++)
			fprintf(f, "%s,%s,%d,%.2f,%.2f,%.0f,%.0f,%.6g\n", r->m[mi].name,
				r->m[mi].param, compared(r, mi), (double)b / ACC_DEPTH_BINS,
				(double)(b + 1) / ACC_DEPTH_BINS, s.bin_needles[b],
				s.bin_recovered[b], s.bin_needles[b] > 0 ?
				s.bin_recovered[b] / s.bin_needles[b] : NAN);
	}
	return 0;
}

static int
csv_delta(const struct acc_run *r, FILE *f)
{
	double tol;

	delta_violations(r, &tol);
	fprintf(f, "method,param,ctx,head,step,delta,dropped,tol\n");
	for (size_t i = 0; i < r->ndrows; i++) {
		const struct acc_drow *d = &r->drows[i];
		fprintf(f, "%s,%s,%lld,%d,%d,%.6g,%.6g,%.3g\n", r->m[d->method].name,
			r->m[d->method].param, (long long)r->ctx[d->ctx], d->head,
			d->step, d->delta, d->dropped, tol);
	}
	return 0;
}

int
acc_report_csv(const struct acc_run *r, const char *dir)
{
	static const struct {
		const char *name;
		int (*fn)(const struct acc_run *, FILE *);
	} files[] = {
		{ "accuracy.csv", csv_accuracy }, { "needle_depth.csv", csv_depth },
		{ "delta.csv", csv_delta },
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		FILE *f = csv_open(dir, files[i].name);
		int err;
		if (!f)
			return -errno;
		err = files[i].fn(r, f);
		if ((ferror(f) | fclose(f)) && !err)
			err = -EIO;
		if (err)
			return err;
	}
	return 0;
}
