/*
 * demo - a few inference processes share one hgcad.  Each forked client
 * offloads a long synthetic context (attn/workload.h: sink tokens, a local
 * band and needle tokens that attention moves between as decoding goes
 * on), then decodes: every step appends one token's keys and values at
 * every layer and asks for attention at every layer, with its own policy
 * (exact, or sparse with a certified bound).  On a sample of steps it also
 * computes exact attention itself, in float64, and measures the service's
 * error.  The parent prints what each client saw, in plain words.
 *
 * Usage: demo [-s socket] [-c clients] [-n tokens] [-l layers] [-t steps]
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attn/attn.h"
#include "attn/workload.h"
#include "client/hgca.h"

#define HKV 2
#define GQ 4			/* query heads per KV head */
#define HQ (HKV * GQ)
#define D 128
#define WINDOW 1024
#define SAMPLE 5		/* check every 5th step against float64 */
#define MAXC 8

static const char *const policies[MAXC] = {
	"full", "mass:0.01", "mass:0.01,budget:2m", "topk:4096",
	"full", "mass:0.01", "mass:0.01,budget:2m", "topk:4096" };

struct opts {
	const char *sock;
	int clients, layers, steps;
	int64_t tokens;
};

/* What a client reports back (shared memory). */
struct result {
	int err;
	const char *failed;	/* what failed, a static string */
	double fill_s, decode_s;
	double bytes_step;	/* K+V bytes read per step, all layers */
	double full_step;	/* K+V bytes of the whole context per step */
	double max_delta;
	double max_err;		/* relative L2 vs float64, sampled steps */
	double delta_g[GQ];	/* by the head's place in its group (its */
	double err_g[GQ];	/*   sharpness): largest delta, rel. error */
	double max_bound_ratio;	/* ||o - o_ref|| / (2 delta max||v|| + tol) */
	int checked, heads;	/* sampled steps, heads checked */
	int outside;		/* heads whose error broke the bound */
	int64_t ctx;		/* tokens at the end */
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One KV head's tokens, from the workload (shared by the layers, with
 * the heads of a layer told apart by their own seeds). */
struct head {
	struct attn_workload w;
	float *kf, *vf;		/* [n][D] fp32 copies for the reference */
};

static int
head_make(struct head *hd, int64_t n, int steps, uint64_t seed)
{
	struct attn_workload_cfg c = { .n = n, .G = GQ, .d = D,
				       .dt = ATTN_BF16, .seed = seed,
				       .steps = steps, .drift = 0.03 };
	int rc = attn_workload_make(&c, &hd->w);

	if (rc < 0)
		return rc;
	hd->kf = malloc((size_t)n * D * sizeof(float));
	hd->vf = malloc((size_t)n * D * sizeof(float));
	if (!hd->kf || !hd->vf)
		return -ENOMEM;
	attn_to_f32(ATTN_BF16, hd->w.k, hd->kf, (size_t)n * D);
	attn_to_f32(ATTN_BF16, hd->w.v, hd->vf, (size_t)n * D);
	return 0;
}

static void
head_free(struct head *hd)
{
	attn_workload_free(&hd->w);
	free(hd->kf);
	free(hd->vf);
}

/* Tokens [t0, t0 + n) of both heads, token-major [n][HKV][D] bf16. */
static void
interleave(const struct head *hd, int64_t t0, int64_t n, uint16_t *k,
	   uint16_t *v)
{
	for (int64_t t = 0; t < n; t++)
		for (int h = 0; h < HKV; h++) {
			size_t src = (size_t)(t0 + t) * D;
			size_t dst = ((size_t)t * HKV + h) * D;

			memcpy(k + dst, (uint16_t *)hd[h].w.k + src, D * 2);
			memcpy(v + dst, (uint16_t *)hd[h].w.v + src, D * 2);
		}
}

/* Float64 attention of query q[D] over tokens 0..n-1 of one head, and
 * the largest value norm. */
static void
ref64(const struct head *hd, const float *q, int64_t n, double *o,
      double *vmax)
{
	double m = -INFINITY, z = 0, s = 1.0 / sqrt(D);
	double *p = malloc((size_t)n * sizeof(double));

	for (int64_t j = 0; j < n; j++) {
		double dot = 0;

		for (int c = 0; c < D; c++)
			dot += (double)q[c] * hd->kf[j * D + c];
		p[j] = dot * s;
		m = fmax(m, p[j]);
	}
	memset(o, 0, D * sizeof(double));
	*vmax = 0;
	for (int64_t j = 0; j < n; j++) {
		double e = exp(p[j] - m), nv = 0;

		z += e;
		for (int c = 0; c < D; c++) {
			o[c] += e * hd->vf[j * D + c];
			nv += (double)hd->vf[j * D + c] * hd->vf[j * D + c];
		}
		*vmax = fmax(*vmax, sqrt(nv));
	}
	for (int c = 0; c < D; c++)
		o[c] /= z;
	free(p);
}

/* Compare one layer's output of a sampled step with float64. */
static void
check(const struct head *hd, const float *q, const float *out,
      const struct hgca_head_stats *st, int64_t n, struct result *r)
{
	double o[D], vmax, e2, r2, bound;

	for (int h = 0; h < HQ; h++) {
		ref64(&hd[h / GQ], q + h * D, n, o, &vmax);
		e2 = r2 = 0;
		for (int c = 0; c < D; c++) {
			e2 += pow(out[h * D + c] - o[c], 2);
			r2 += o[c] * o[c];
		}
		/* the bound, plus the exact path's own rounding */
		bound = 2 * st[h].delta * vmax + 1e-5 * (vmax + 1);
		r->max_err = fmax(r->max_err, sqrt(e2 / r2));
		r->err_g[h % GQ] = fmax(r->err_g[h % GQ], sqrt(e2 / r2));
		r->max_bound_ratio = fmax(r->max_bound_ratio, sqrt(e2) / bound);
		r->outside += sqrt(e2) > bound;
		r->heads++;
	}
	r->checked++;
}

/* One decode step: a token and an attend per layer. */
static int
step(struct hgca *h, const struct opts *o, uint32_t model, uint32_t seq,
     const struct head *hd, int t, struct result *r, double *busy)
{
	uint16_t k[HKV * D], v[HKV * D];
	float q[HQ * D], out[HQ * D];
	struct hgca_head_stats st[HQ];
	int64_t pos = o->tokens + t;
	int rc;

	interleave(hd, pos, 1, k, v);
	for (int kh = 0; kh < HKV; kh++)
		memcpy(q + kh * GQ * D, attn_workload_q(&hd[kh].w, t, 0),
		       GQ * D * sizeof(float));
	for (int l = 0; l < o->layers; l++) {
		struct hgca_attend a = {
			.model = model, .layer = (uint32_t)l, .nseq = 1,
			.qlen = 1, .seqs = &seq, .q = q, .out = out,
			.out_dtype = HGCA_DTYPE_F32, .stats = st };
		double t0 = now();

		if ((rc = hgca_kv_append(h, seq, (uint32_t)l, 1, k, v)) < 0 ||
		    (rc = hgca_attend(h, &a)) < 0)
			return rc;
		*busy += now() - t0;
		for (int kh = 0; kh < HKV; kh++) {
			double widest = 0;

			for (int g = 0; g < GQ; g++) {
				widest = fmax(widest, (double)st[kh * GQ + g].bytes);
				r->max_delta = fmax(r->max_delta,
						    st[kh * GQ + g].delta);
				r->delta_g[g] = fmax(r->delta_g[g],
						     st[kh * GQ + g].delta);
			}
			r->bytes_step += widest;
		}
		if (t % SAMPLE == 0 && l == 0)
			check(hd, q, out, st, pos + 1, r);
	}
	return 0;
}

static int
fill(struct hgca *h, const struct opts *o, uint32_t seq,
     const struct head *hd)
{
	const int64_t blk = 4096;
	uint16_t *k = malloc((size_t)blk * HKV * D * 2);
	uint16_t *v = malloc((size_t)blk * HKV * D * 2);
	int rc = k && v ? 0 : -ENOMEM;

	for (int64_t t = 0; t < o->tokens && rc == 0; t += blk) {
		int64_t n = o->tokens - t < blk ? o->tokens - t : blk;

		interleave(hd, t, n, k, v);
		for (int l = 0; l < o->layers && rc == 0; l++)
			rc = hgca_kv_append(h, seq, (uint32_t)l, (uint64_t)n,
					    k, v);
	}
	free(k);
	free(v);
	return rc;
}

static int
client(const struct opts *o, int idx, struct result *r)
{
	struct hgca_model m = { .hq = HQ, .hkv = HKV, .d = D,
				.kv_dtype = HGCA_DTYPE_BF16, .window = WINDOW,
				.policy = policies[idx % MAXC] };
	struct head hd[HKV];
	struct hgca *h;
	uint32_t model, seq;
	double t0, busy = 0;
	int rc;

	m.layers = (uint32_t)o->layers;
	r->failed = "making the synthetic context";
	for (int kh = 0; kh < HKV; kh++)
		if ((rc = head_make(&hd[kh], o->tokens + o->steps, o->steps,
				    1000 * (uint64_t)idx + (uint64_t)kh)) < 0)
			return r->err = rc;
	r->failed = "connecting to hgcad";
	if ((rc = hgca_connect(o->sock, &h)) < 0)
		return r->err = rc;
	r->failed = "setting up the model and sequence";
	if ((rc = hgca_model_declare(h, &m, &model)) < 0 ||
	    (rc = hgca_seq_open(h, model, &seq)) < 0)
		return r->err = rc;
	r->failed = "offloading the context";
	t0 = now();
	if ((rc = fill(h, o, seq, hd)) < 0)
		return r->err = rc;
	r->fill_s = now() - t0;
	r->failed = "decoding";
	for (int t = 0; t < o->steps && rc == 0; t++)
		rc = step(h, o, model, seq, hd, t, r, &busy);
	r->decode_s = busy;
	r->bytes_step /= o->steps;
	r->ctx = o->tokens + o->steps;
	r->full_step = (double)o->layers * HKV * (o->tokens + o->steps / 2.0) *
		       D * 2 * 2;
	hgca_seq_close(h, seq);
	hgca_disconnect(h);
	for (int kh = 0; kh < HKV; kh++)
		head_free(&hd[kh]);
	return r->err = rc;
}

static void
report(const struct opts *o, int i, const struct result *r)
{
	const char *p = policies[i % MAXC];
	bool exact = strcmp(p, "full") == 0;

	printf("Client %d, policy %s (%s):\n", i + 1, p,
	       exact ? "exact attention over the whole context" :
	       strstr(p, "budget") ? "drop at most 1% of each head's attention "
				     "mass, reading at most 2 MiB per head" :
	       p[0] == 'm' ? "drop at most 1% of each head's attention mass" :
	       "keep the 4096 highest-scoring keys of each head");
	if (r->err) {
		printf("  failed while %s: %s\n\n", r->failed, strerror(-r->err));
		return;
	}
	printf("  offloaded %lld tokens x %d layers in %.2f s; decoded %d steps "
	       "at %.1f tokens/s\n", (long long)o->tokens, o->layers, r->fill_s,
	       o->steps, o->steps / r->decode_s);
	printf("  read %.1f MiB of keys and values per step, %.0f%% of the "
	       "context's %.1f MiB\n", r->bytes_step / 1048576.0,
	       100.0 * r->bytes_step / r->full_step, r->full_step / 1048576.0);
	printf("  on %d sampled steps, by how sharply the head attends (its "
	       "score scale):\n", r->checked);
	printf("    %-34s", "head's score scale");
	for (int g = 0; g < GQ; g++)
		printf(" %9g", pow(2, g));
	printf("\n    %-34s", "delta, certified (largest)");
	for (int g = 0; g < GQ; g++)
		printf(" %9.2g", r->delta_g[g]);
	printf("\n    %-34s", "error vs float64, relative (worst)");
	for (int g = 0; g < GQ; g++)
		printf(" %9.2g", r->err_g[g]);
	printf("\n");
	if (r->outside)
		printf("  %d of %d heads were outside the error delta "
		       "guarantees: a bug\n\n", r->outside, r->heads);
	else
		printf("  all %d heads checked were within the error their delta "
		       "guarantees (2 delta x\n  the largest value norm, plus "
		       "rounding), using at most %.0f%% of it\n\n", r->heads,
		       100.0 * r->max_bound_ratio);
}

static void
usage(void)
{
	fprintf(stderr, "usage: demo [-s socket] [-c clients 1..%d] "
		"[-n tokens] [-l layers] [-t steps]\n", MAXC);
	exit(2);
}

int
main(int argc, char **argv)
{
	struct opts o = { .clients = 3, .layers = 2, .steps = 50,
			  .tokens = 32768 };
	struct result *r;
	pid_t pid[MAXC];
	int ch, bad = 0;

	while ((ch = getopt(argc, argv, "c:hl:n:s:t:")) != -1) {
		switch (ch) {
		case 's': o.sock = optarg; break;
		case 'c': o.clients = atoi(optarg); break;
		case 'l': o.layers = atoi(optarg); break;
		case 'n': o.tokens = atoll(optarg); break;
		case 't': o.steps = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind != argc || o.clients < 1 || o.clients > MAXC ||
	    o.layers < 1 || o.tokens < 2 * WINDOW || o.steps < 1)
		usage();
	r = mmap(NULL, MAXC * sizeof(*r), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return 1;
	memset(r, 0, MAXC * sizeof(*r));
	printf("hgca demo: %d client processes share one hgcad.  Each offloads "
	       "a %lld-token\nsynthetic context (%d layers, %d query heads over "
	       "%d KV heads, head dim %d,\nbf16) and decodes %d tokens: every "
	       "step appends the new token's keys and\nvalues and asks for "
	       "attention at every layer.  The newest %d tokens are\nattended "
	       "exactly; older ones with the client's policy.\n\n", o.clients,
	       (long long)o.tokens, o.layers, HQ, HKV, D, o.steps, WINDOW);
	fflush(stdout);
	for (int i = 0; i < o.clients; i++) {
		pid[i] = fork();
		if (pid[i] == 0)
			_exit(client(&o, i, &r[i]) < 0);
	}
	for (int i = 0; i < o.clients; i++)
		waitpid(pid[i], NULL, 0);
	for (int i = 0; i < o.clients; i++) {
		report(&o, i, &r[i]);
		bad += r[i].err != 0 || r[i].outside != 0;
	}
	printf("Diffuse heads (scale 1) spread their attention over the whole "
	       "context: a 1%%\nbound keeps most of their keys, and a byte budget "
	       "costs them accuracy, as\ntheir delta says.  Sharp heads (scale 8) "
	       "lose little even under the budget;\ntheir delta is loose there, "
	       "because pages a budget leaves unread can only\nbe bounded, not "
	       "measured.  One read of a KV head's keys serves its %d query\n"
	       "heads, so the bytes read per step follow the widest of them.  All "
	       "%d clients\nran at once; the daemon's workers served them fairly "
	       "by bytes scanned.\n", GQ, o.clients);
	return bad ? 1 : 0;
}
