/*
 * bench/attn - the paged engine against the machine's own DRAM read
 * bandwidth, on Llama-3-8B-like decode shapes (Hq 32, Hkv 8, d 128, bf16,
 * pages of 64), one layer per decode step, at 32K and 128K tokens and batch
 * 1 and 8 (--quick: batch 1 only).
 *
 *  - `full`, one thread and all cores (OpenMP over the batch x KV-head
 *    tasks, each cut into chunks of pages merged by LSE when there are too
 *    few tasks for the threads: see kv_chunks), as bytes/s and as a ratio
 *    to a streaming-read kernel over the same memory in the same run, read
 *    as the steps read it (one copy per step, each thread a contiguous
 *    share: bench_read_bw_steps); a single sweep of all copies is printed
 *    beside it, since a large last-level cache can keep part of a sweep;
 *  - mass:1e-3, mass:1e-2 and topk:2048 on the seeded workload (workload.h):
 *    time, bytes read, and per temperature tau the bytes and delta of its
 *    query head; the time of mass:1e-2 and of topk:2048 over full's, one
 *    thread each, in the same run (mass:1e-2 reads 91-96% of the bytes
 *    here, so its ratio is what selecting costs per byte);
 *  - the oracle page set, from exact scores: for each query head the fewest
 *    pages (by exact page mass, largest first) whose dropped mass meets the
 *    same EPS, united over the group; mass:EPS's bytes over the oracle's.
 *
 * The working set is at least 4x the last-level cache: a layer's KV is laid
 * out in several copies (stand-ins for layers) and consecutive steps read
 * consecutive copies, so no step finds its pages in the cache.  One KV
 * head's workload is generated per length and copied into every head's
 * pages (the engine's speed does not depend on the values).  The memory is
 * asked for huge pages (madvise), as a KV pool would be.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/paged.h"
#include "attn/workload.h"
#include "bench/common.h"

#define HQ 32
#define HKV 8
#define GQ (HQ / HKV)
#define D 128
#define PAGE 64
#define SEED 20240607
#define MAX_THREADS 256

static const char usage[] = "attn [--quick] [--threads N]";

struct kv {
	int64_t n;
	int np, B, copies, tasks;	/* tasks = B * HKV per step */
	size_t pb, bytes;		/* page bytes; all memory */
	char *mem;
	float *kmin, *kmax;		/* [np][D], shared: every copy is alike */
	struct attn_page *pg;		/* [copies][tasks][np] */
};

static struct attn_page *
kv_task(struct kv *kv, int copy, int task)
{
	return kv->pg + ((size_t)copy * kv->tasks + task) * kv->np;
}

/* Pages of one KV head from the workload, copied to every task and copy. */
static void
kv_build(struct kv *kv, const struct attn_workload *w, int B, size_t llc,
	 int threads)
{
	struct attn_layout lo = { D, PAGE, ATTN_BF16 };
	size_t head, step;

	kv->n = w->cfg.n;
	kv->np = (int)(kv->n / PAGE);
	kv->B = B;
	kv->tasks = B * HKV;
	kv->pb = attn_page_bytes(&lo);
	head = (size_t)kv->np * 2 * kv->pb;
	step = head * kv->tasks;
	kv->copies = (int)((4 * llc + step - 1) / step);
	kv->bytes = step * kv->copies;
	kv->mem = bench_alloc(kv->bytes, threads);
	kv->kmin = malloc((size_t)kv->np * D * sizeof(float));
	kv->kmax = malloc((size_t)kv->np * D * sizeof(float));
	kv->pg = malloc((size_t)kv->copies * kv->tasks * kv->np * sizeof(*kv->pg));
	for (int p = 0; p < kv->np; p++) {
		char *k = kv->mem + (size_t)p * 2 * kv->pb;
		size_t off = (size_t)p * PAGE * D * 2;

		attn_page_write(&lo, k, k + kv->pb, 0, (const char *)w->k + off,
				(const char *)w->v + off, PAGE);
		attn_page_summarize(&lo, k, PAGE, kv->kmin + (size_t)p * D,
				    kv->kmax + (size_t)p * D);
	}
#pragma omp parallel for num_threads(threads) schedule(static)
	for (size_t t = 1; t < (size_t)kv->copies * kv->tasks; t++)
		memcpy(kv->mem + t * head, kv->mem, head);
	for (int c = 0; c < kv->copies; c++)
		for (int t = 0; t < kv->tasks; t++)
			for (int p = 0; p < kv->np; p++) {
				struct attn_page *pg = kv_task(kv, c, t) + p;
				char *k = kv->mem + ((size_t)c * kv->tasks + t) * head +
					  (size_t)p * 2 * kv->pb;

				pg->k = k;
				pg->v = k + kv->pb;
				pg->kmin = kv->kmin + (size_t)p * D;
				pg->kmax = kv->kmax + (size_t)p * D;
				pg->pos = (int64_t)p * PAGE;
				pg->n = PAGE;
			}
}

static void
kv_free(struct kv *kv)
{
	free(kv->mem);
	free(kv->kmin);
	free(kv->kmax);
	free(kv->pg);
}

static void
die_err(const char *what, int err)
{
	fprintf(stderr, "bench/attn: %s: error %d\n", what, err);
	exit(1);
}

/* Steps: every copy at least once, and at least @target bytes read. */
static int
kv_steps(const struct kv *kv, double target)
{
	double step = (double)kv->bytes / kv->copies;
	int s = (int)ceil(target / step);

	return s > kv->copies ? s : kv->copies;
}

/*
 * Page chunks per (sequence, KV head) task on @threads threads: one thread
 * takes whole tasks; more split each task's pages into chunks, as a host
 * does (DESIGN.md: the service cuts a (sequence, KV head) into chunks of
 * pages and merges the partials by LSE), so there are at least 4 units of
 * work per thread, and a multiple of @threads where one is near, which a
 * static schedule then balances exactly.  Batch 1 alone has only Hkv tasks:
 * fewer than the cores of a large host.
 */
static int
kv_chunks(const struct kv *kv, int threads)
{
	int c, want;

	if (threads <= 1)
		return 1;
	want = (4 * threads + kv->tasks - 1) / kv->tasks;
	for (c = want; c < 2 * want && c <= kv->np; c++)
		if ((size_t)kv->tasks * c % threads == 0)
			return c;
	return want < kv->np ? want : kv->np;
}

/* The merged chunks of the last step's task 0 (copy 0's pages are alike)
 * against one partial over all its pages: the merge must not be what made
 * the step fast. */
static void
check_merged(struct attn_engine *e, struct kv *kv, const struct attn_query *q,
	     const struct attn_policy *pol, const float *po, const float *pl)
{
	float o[GQ * D], lse[GQ];
	double num = 0.0, den = 0.0;
	int err = attn_paged_partial(e, q, kv_task(kv, 0, 0), kv->np, pol, o, lse, NULL);

	if (err)
		die_err("attn_paged_partial", err);
	for (int i = 0; i < GQ * D; i++) {
		num += ((double)po[i] - o[i]) * ((double)po[i] - o[i]);
		den += (double)o[i] * o[i];
	}
	for (int g = 0; g < GQ; g++)
		num += ((double)pl[g] - lse[g]) * ((double)pl[g] - lse[g]);
	if (!(num <= 1e-10 * (den + 1.0))) {
		fprintf(stderr, "bench/attn: merged chunks differ from one partial\n");
		exit(1);
	}
}

/* Seconds per decode step of policy @pol on @threads threads: the best of
 * ROUNDS rounds of @steps steps (the baseline is a best-of too), after one
 * warm-up step.  Each task's pages are cut into kv_chunks() chunks whose
 * partials are merged by LSE inside the timed step. */
#define ROUNDS 3
static double
time_steps(struct kv *kv, const struct attn_query *q, enum attn_isa isa,
	   const struct attn_policy *pol, int threads, int steps)
{
	struct attn_layout lo = { D, PAGE, ATTN_BF16 };
	struct attn_engine *eng[MAX_THREADS];
	double t = 0.0, best = INFINITY;
	int chunks = kv_chunks(kv, threads), units = kv->tasks * chunks;
	float *po = malloc((size_t)units * GQ * D * sizeof(float));
	float *pl = malloc((size_t)units * GQ * sizeof(float));

	if (!po || !pl)
		die_err("scratch", -ENOMEM);
	for (int i = 0; i < threads; i++) {
		int err = attn_engine_create(&eng[i], &lo, isa);

		if (err)
			die_err("engine", err);
	}
	for (int s = -1; s < ROUNDS * steps; s++) {	/* step -1 warms up */
		int copy = (s + 1) % kv->copies;
		double t0 = bench_now();

#pragma omp parallel num_threads(threads)
		{
#pragma omp for schedule(static)
			for (int u = 0; u < units; u++) {
				int task = u / chunks, c = u % chunks;
				int p0 = (int)((int64_t)kv->np * c / chunks);
				int p1 = (int)((int64_t)kv->np * (c + 1) / chunks);
				int err = attn_paged_partial(eng[omp_get_thread_num()], q,
							     kv_task(kv, copy, task) + p0,
							     p1 - p0, pol,
							     po + (size_t)u * GQ * D,
							     pl + (size_t)u * GQ, NULL);

				if (err)
					die_err("attn_paged_partial", err);
			}
			if (chunks > 1) {
#pragma omp for schedule(static)
				for (int task = 0; task < kv->tasks; task++)
					for (int c = 1; c < chunks; c++) {
						size_t u0 = (size_t)task * chunks;

						attn_merge_into(GQ, D, po + u0 * GQ * D,
								pl + u0 * GQ,
								po + (u0 + c) * GQ * D,
								pl + (u0 + c) * GQ);
					}
			}
		}
		if (s >= 0)
			t += bench_now() - t0;
		if (s >= 0 && (s + 1) % steps == 0) {
			best = fmin(best, t / steps);
			t = 0.0;
		}
	}
	if (chunks > 1 && pol->kind == ATTN_POLICY_FULL)
		check_merged(eng[0], kv, q, pol, po, pl);
	for (int i = 0; i < threads; i++)
		attn_engine_destroy(eng[i]);
	free(po);
	free(pl);
	return best;
}

/* ---- the oracle page set ------------------------------------------------ */

struct page_mass {
	double m;
	int p;
};

static int
cmp_mass(const void *a, const void *b)
{
	double x = ((const struct page_mass *)a)->m, y = ((const struct page_mass *)b)->m;

	return (x > y) - (x < y);
}

/*
 * Exact page masses of each head: mass[g][p] = sum over page p of
 * e^(s_j - max), s_j = q_g . k_j / sqrt(d) in double on the stored keys.
 */
static double *
oracle_masses(const struct attn_workload *w)
{
	int64_t n = w->cfg.n;
	int np = (int)(n / PAGE);
	double *s = malloc((size_t)n * sizeof(double));
	double *mass = calloc((size_t)GQ * np, sizeof(double));
	float kf[D];

	for (int g = 0; g < GQ; g++) {
		const float *q = attn_workload_q(w, 0, g);
		double m = -INFINITY;

		for (int64_t j = 0; j < n; j++) {
			double acc = 0.0;

			attn_to_f32(ATTN_BF16, (const char *)w->k + (size_t)j * D * 2, kf, D);
			for (int c = 0; c < D; c++)
				acc += (double)q[c] * kf[c];
			s[j] = acc / sqrt((double)D);
			m = fmax(m, s[j]);
		}
		for (int64_t j = 0; j < n; j++)
			mass[(size_t)g * np + j / PAGE] += exp(s[j] - m);
	}
	free(s);
	return mass;
}

/* Pages in the union over the heads of each head's fewest pages, largest
 * mass first, whose dropped mass is <= eps of its total. */
static int
oracle_pages(const double *mass, int np, double eps)
{
	char *used = calloc((size_t)np, 1);
	struct page_mass *pm = malloc((size_t)np * sizeof(*pm));
	int count = 0;

	for (int g = 0; g < GQ; g++) {
		double total = 0.0, dropped = 0.0;
		int k = 0;

		for (int p = 0; p < np; p++) {
			pm[p].m = mass[(size_t)g * np + p];
			pm[p].p = p;
			total += pm[p].m;
		}
		qsort(pm, (size_t)np, sizeof(*pm), cmp_mass);	/* ascending */
		while (k < np && dropped + pm[k].m <= eps * total)
			dropped += pm[k++].m;
		for (int i = k; i < np; i++)
			used[pm[i].p] = 1;
	}
	for (int p = 0; p < np; p++)
		count += used[p];
	free(used);
	free(pm);
	return count;
}

/* ---- the runs ------------------------------------------------------------- */

static double
median(double *x, int n)
{
	for (int i = 1; i < n; i++)		/* insertion sort: n <= 4 */
		for (int j = i; j > 0 && x[j] < x[j - 1]; j--) {
			double t = x[j];

			x[j] = x[j - 1];
			x[j - 1] = t;
		}
	return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

struct totals {
	/* exact ratios per configuration: [ISA: default, avx2][1t, mt] */
	double ratio[2][2][8];
	int nconf;
	double bw_1t, bw_mt;
	double vs_oracle;			/* worst */
	double delta_over_eps;			/* worst */
	double full_t1;				/* this configuration's full,
						 * 1 thread, s per step */
	double sel_vs_full[2][8];		/* mass:0.01, topk:2048 */
	int nsel;
	bool avx2_extra;
};

static void
run_full(struct kv *kv, const struct attn_query *q, const struct bench_opts *o,
	 const char *name, struct totals *tot)
{
	static const struct attn_policy full = { .kind = ATTN_POLICY_FULL };
	double step_bytes = (double)kv->bytes / kv->copies;
	size_t sb = kv->bytes / kv->copies;
	double bw1 = bench_read_bw_steps(kv->mem, sb, kv->copies, 1, 2);
	double bwm = bench_read_bw_steps(kv->mem, sb, kv->copies, o->threads, 2);
	double sw1, swm;
	int steps = kv_steps(kv, o->quick ? 1e9 : 3e9);
	enum attn_isa isas[2] = { attn_isa_default(), ATTN_ISA_AVX2 };
	int nisa = tot->avx2_extra ? 2 : 1;
	double bw[2][2];

	for (int i = 0; i < nisa; i++)
		for (int mt = 0; mt < 2; mt++)
			bw[i][mt] = step_bytes / time_steps(kv, q, isas[i], &full,
							    mt ? o->threads : 1, steps);
	/* The baseline again after the runs, keeping the larger: a baseline
	 * slowed by other work on the machine must not flatter the ratios. */
	bw1 = fmax(bw1, bench_read_bw_steps(kv->mem, sb, kv->copies, 1, 2));
	bwm = fmax(bwm, bench_read_bw_steps(kv->mem, sb, kv->copies, o->threads, 2));
	sw1 = bench_read_bw(kv->mem, kv->bytes, 1, 2);
	swm = bench_read_bw(kv->mem, kv->bytes, o->threads, 2);
	tot->full_t1 = step_bytes / bw[0][0];
	tot->bw_1t = fmax(tot->bw_1t, bw1);
	tot->bw_mt = fmax(tot->bw_mt, bwm);
	printf("%-10s read baseline, a copy per step: 1 thread %.2f GB/s, %d threads %.2f GB/s; "
	       "%d copies of the layer, %.0f MiB\n", name, bw1 / 1e9, o->threads,
	       bwm / 1e9, kv->copies, kv->bytes / 1048576.0);
	printf("%-10s (one sweep of all copies: 1 thread %.2f GB/s, %d threads %.2f GB/s)\n",
	       name, sw1 / 1e9, o->threads, swm / 1e9);
	for (int i = 0; i < nisa; i++)
		for (int mt = 0; mt < 2; mt++) {
			double ratio = bw[i][mt] / (mt ? bwm : bw1);
			tot->ratio[i][mt][tot->nconf] = ratio;
			printf("%-10s %-6s full          %2d thr %9.2f ms %9.1f MiB %7.2f GB/s  %.3f of read bw"
			       ", %d tasks x %d chunks\n",
			       name, attn_isa_name(isas[i]), mt ? o->threads : 1,
			       step_bytes / bw[i][mt] * 1e3, step_bytes / 1048576.0,
			       bw[i][mt] / 1e9, ratio, kv->tasks,
			       kv_chunks(kv, mt ? o->threads : 1));
		}
}

static void
run_policies(struct kv *kv, const struct attn_workload *w, const struct attn_query *q,
	     const char *name, struct totals *tot)
{
	static const char *const pols[] = { "mass:0.001", "mass:0.01", "topk:2048" };
	struct attn_layout lo = { D, PAGE, ATTN_BF16 };
	double *mass = oracle_masses(w);
	struct attn_engine *e;
	int err = attn_engine_create(&e, &lo, attn_isa_default());

	if (err)
		die_err("engine", err);
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		struct attn_policy pol;
		struct attn_row_stats st[GQ];
		struct attn_call_stats cs;
		float o[GQ * D], lse[GQ];
		double t, bytes, per_task;
		char line[256];
		int len = 0;

		attn_policy_parse(pols[i], &pol);
		t = time_steps(kv, q, attn_isa_default(), &pol, 1, 1);
		if (i > 0)	/* mass:0.01, topk:2048 */
			tot->sel_vs_full[i - 1][tot->nsel] = t / tot->full_t1;
		err = attn_paged_partial(e, q, kv_task(kv, 0, 0), kv->np, &pol, o, lse, st);
		if (err)
			die_err("attn_paged_partial", err);
		attn_engine_last_stats(e, &cs);
		per_task = (double)(cs.k_bytes + cs.v_bytes);
		bytes = per_task * kv->tasks;
		printf("%-10s %-6s %-12s   1 thr %9.2f ms %9.1f MiB %7.2f GB/s  "
		       "K %d/%d pages, V %.1f%% of keys\n", name, attn_isa_name(attn_isa_default()),
		       pols[i], t * 1e3, bytes / 1048576.0, bytes / t / 1e9, cs.pages_scored,
		       cs.pages, 100.0 * cs.v_bytes / ((double)kv->n * D * 2));
		for (int g = 0; g < GQ; g++)
			len += snprintf(line + len, sizeof(line) - len,
					" tau %g: %.1f MiB delta %.2g;", w->tau[g],
					st[g].bytes / 1048576.0, st[g].delta);
		printf("%-10s   per query head:%s\n", name, line);
		if (pol.kind == ATTN_POLICY_MASS) {
			int op = oracle_pages(mass, kv->np, pol.eps);
			double ob = (double)op * 2 * kv->pb, r = per_task / ob;

			for (int g = 0; g < GQ; g++)
				tot->delta_over_eps = fmax(tot->delta_over_eps, st[g].delta / pol.eps);
			tot->vs_oracle = fmax(tot->vs_oracle, r);
			printf("%-10s   oracle page set for eps %g: %d of %d pages, %.1f MiB per KV head; "
			       "mass reads %.3fx of it\n", name, pol.eps, op, kv->np, ob / 1048576.0, r);
		}
	}
	tot->nsel++;
	attn_engine_destroy(e);
	free(mass);
}

int
main(int argc, char **argv)
{
	static const int64_t lens[] = { 32768, 131072 };
	static const int batches[] = { 1, 8 };
	struct bench_opts o;
	struct totals tot = { .nconf = 0 };
	size_t llc = bench_llc_bytes();
	double t0 = bench_now();

	bench_parse(argc, argv, usage, NULL, &o);
	if (o.threads > MAX_THREADS)
		o.threads = MAX_THREADS;
	tot.avx2_extra = attn_isa_default() != ATTN_ISA_AVX2 &&
			 attn_isa_supported(ATTN_ISA_AVX2);
	printf("# bench/attn: decode attention, Hq %d Hkv %d d %d bf16, pages of %d, one layer per step\n",
	       HQ, HKV, D, PAGE);
	printf("# CPU: %d cores, last-level cache %zu MiB (working set >= 4x), ISA %s%s, load %.2f\n",
	       bench_ncpu(), llc >> 20, attn_isa_name(attn_isa_default()),
	       tot.avx2_extra ? " (and avx2 for comparison)" : "", bench_loadavg());
	printf("# %s; ratios are to a streaming read of the same memory, best of 3 each;\n"
	       "# exact_bw_ratio_* is the median over configurations (one disturbed by\n"
	       "# other work on a shared machine does not decide it), mass_* the worst\n",
	       o.quick ? "--quick: batch 1 only" : "batch 1 and 8");
	for (size_t li = 0; li < 2; li++) {
		struct attn_workload_cfg cfg = { .n = lens[li], .G = GQ, .d = D,
						 .dt = ATTN_BF16, .seed = SEED };
		struct attn_workload w;
		struct attn_query q;
		int err = attn_workload_make(&cfg, &w);

		if (err)
			die_err("workload", err);
		q = (struct attn_query){ .q = attn_workload_q(&w, 0, 0), .L = 1, .G = GQ,
					 .d = D, .pos = cfg.n - 1, .scale = 1.0f / sqrtf(D) };
		for (size_t bi = 0; bi < (o.quick ? 1 : 2); bi++) {
			struct kv kv;
			char name[32];

			snprintf(name, sizeof(name), "%lldK b%d", (long long)(lens[li] >> 10),
				 batches[bi]);
			kv_build(&kv, &w, batches[bi], llc, o.threads);
			run_full(&kv, &q, &o, name, &tot);
			tot.nconf++;
			if (bi == 0)
				run_policies(&kv, &w, &q, name, &tot);
			kv_free(&kv);
		}
		attn_workload_free(&w);
	}
	printf("# %.1f s, load %.2f at the end (a shared machine: other work skews times)\n",
	       bench_now() - t0, bench_loadavg());
	bench_result("read_bw_1t_gbs", tot.bw_1t / 1e9);
	bench_result("read_bw_mt_gbs", tot.bw_mt / 1e9);
	if (tot.avx2_extra) {
		bench_result("exact_bw_ratio_1t_avx2", median(tot.ratio[1][0], tot.nconf));
		bench_result("exact_bw_ratio_mt_avx2", median(tot.ratio[1][1], tot.nconf));
	}
	bench_result("mass_delta_over_eps", tot.delta_over_eps);
	bench_result("exact_bw_ratio_1t", median(tot.ratio[0][0], tot.nconf));
	bench_result("exact_bw_ratio_mt", median(tot.ratio[0][1], tot.nconf));
	bench_result("mass_bytes_vs_oracle", tot.vs_oracle);
	bench_result("mass_time_vs_full", median(tot.sel_vs_full[0], tot.nsel));
	bench_result("topk_time_vs_full", median(tot.sel_vs_full[1], tot.nsel));
	return 0;
}
