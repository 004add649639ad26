/*
 * e2e_help.h - helpers of the end-to-end tests: a client-side model and
 * sequences mirrored in fp32 (tests/svc_help.h's kvm: values rounded
 * through the KV dtype), appends through libhgca-client, and attention
 * checked against the float64 reference with the tolerances.
 */
#ifndef HGCA_TESTS_E2E_HELP_H
#define HGCA_TESTS_E2E_HELP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "attn/rng.h"
#include "client/hgca.h"
#include "tests/svc_help.h"
#include "tests/transport_help.h"

#define E2E_TOL_F32 1e-5	/* exact mode, fp32 output: rel. L2 */
#define E2E_TOL_BF16 4e-3	/* bf16 output: 2^-8 relative rounding */
#define E2E_MAXB 8

struct e2e_model {
	struct hgca_model m;	/* as declared (policy NULL or static) */
	uint32_t id;
};

struct e2e_seq {
	uint32_t id;
	int layers;
	struct kvm *kv;		/* [layers] mirrors */
};

/* Declare @m (id into m->id): hgca_model_declare's result. */
int e2e_declare(struct hgca *h, struct e2e_model *m);

/* Open a sequence of @m with empty mirrors: hgca_seq_open's result. */
int e2e_open(struct hgca *h, const struct e2e_model *m, struct e2e_seq *s);
/* Close it and free its mirrors: hgca_seq_close's result. */
int e2e_close(struct hgca *h, struct e2e_seq *s);

/* @n random tokens (K ~ N(0, ksig^2), V ~ N(0, 1)) appended to @layer,
 * or to every layer when @layer < 0: the first error or 0. */
int e2e_append(struct hgca *h, struct e2e_seq *s, int layer, struct rng *r,
	       int64_t n, double ksig);
/* Drop the last @n tokens (service and mirrors). */
int e2e_truncate(struct hgca *h, struct e2e_seq *s, int64_t n);

/* One attend and its check. */
struct e2e_ask {
	int layer, L;
	int64_t pos[E2E_MAXB];	/* -1: the last L positions */
	const char *policy;	/* NULL: the model's */
	uint32_t out_dt;	/* HGCA_DTYPE_* */
	double qsig;		/* query scale, 0 = 1 */
};

struct e2e_result {
	int err;		/* the attend's result */
	bool exact;		/* exact policy: checked by rel. error */
	double rel;		/* largest rel. L2 error of a sequence */
	double excess;		/* largest ||o - ref|| - (2 delta max||v||
				 * + tol) of a row */
	double max_delta;
	int64_t max_entries, max_bytes;
	int stats_bad;		/* exact policy: entries or delta wrong */
};

/* A request with its buffers, for the synchronous and the async forms. */
struct e2e_req {
	struct hgca_attend a;
	const struct e2e_model *m;
	struct e2e_seq *seqs[E2E_MAXB];
	struct e2e_ask ask;
	uint32_t ids[E2E_MAXB];
	int64_t pos[E2E_MAXB];
	float *q;
	char *out;
	struct hgca_head_stats *st;
};

/* Random queries for @B sequences and room for the results. */
void e2e_req_make(struct e2e_req *q, const struct e2e_model *m,
		  struct e2e_seq *const *seqs, int B, const struct e2e_ask *ask,
		  struct rng *r);
/* Compare the results (the request's status is @err) with the reference. */
void e2e_req_check(const struct e2e_req *q, int err, struct e2e_result *res);
void e2e_req_free(struct e2e_req *q);

/* e2e_req_make, hgca_attend, e2e_req_check: the attend's result. */
int e2e_attend(struct hgca *h, const struct e2e_model *m,
	       struct e2e_seq *const *seqs, int B, const struct e2e_ask *ask,
	       struct rng *r, struct e2e_result *res);

/* Exact results within the rel. tolerance of the output type and with
 * exact stats; sparse ones within the bound. */
bool e2e_pass(const struct e2e_result *res, const struct e2e_ask *ask);

/* Fold @r into @worst (largest errors; the first error). */
void e2e_fold(struct e2e_result *worst, const struct e2e_result *r);

/* The daemon's KV pool counters (pages in use, free slabs): 0 or -errno. */
int e2e_pool(struct hgca *ctl, uint64_t *pages, uint64_t *slabs_free);

/*
 * A well-behaved neighbour: a forked process that decodes (one token, one
 * checked attend per step) on its own connection until told to stop, so
 * that a test can show the daemon kept serving it while others misbehave.
 * Its counters live in shared memory.
 */
struct e2e_neighbour {
	pid_t pid;
	struct e2e_shared {
		_Atomic int stop;
		_Atomic long steps, bad;
		_Atomic int setup;	/* 1 ready, < 0 the setup's error */
	} *sh;
};

/* Start it on @sock (waits until it has its prompt): 0 or -errno. */
int e2e_neighbour_start(struct e2e_neighbour *n, const char *sock,
			uint64_t seed);
/* Steps it has decoded so far. */
long e2e_neighbour_steps(const struct e2e_neighbour *n);
/* Wait until it has made @more steps beyond now (up to @ms): true if it did. */
bool e2e_neighbour_moves(const struct e2e_neighbour *n, long more, int ms);
/* Stop it; returns its steps and sets *bad to its failed checks. */
long e2e_neighbour_stop(struct e2e_neighbour *n, long *bad);

/* Rewrite @d's configuration with @extra settings (for SIGHUP). */
int e2e_rewrite_conf(const struct td *d, const char *extra);

#endif /* HGCA_TESTS_E2E_HELP_H */
