/* ref64.h - float64 attention for checking every path (tests, benches). */
#ifndef HGCA_TESTS_REF64_H
#define HGCA_TESTS_REF64_H

#include <stddef.h>
#include <stdint.h>

#include "attn/attn.h"
#include "attn/rng.h"

/*
 * Full causal attention in float64 over token-major fp32 K/V [n][d] with
 * the conventions of attn_ref_partial (key j at position kpos + j).  Writes
 * o [L][G][d] and lse [L][G] (lse = -inf, o = 0 for a row that sees no
 * key).  Two passes (max, then sum), so it is as exact as double allows.
 * Returns 0 or -ENOMEM.
 */
int ref64_attention(const struct attn_query *q, const float *k,
		    const float *v, int64_t n, int64_t kpos, double *o,
		    double *lse);

/* ||a - ref||_2 / ||ref||_2 (plain ||a - ref|| when ref is all zero). */
double ref64_rel_l2(const float *a, const double *ref, size_t n);

/* Fill @x[n] with N(0, sigma^2) values. */
void ref64_fill_normal(struct rng *r, float *x, size_t n, double sigma);

/* Round @x[n] through @dt in place (so a float64 reference sees exactly the
 * values the kernel will read). */
void ref64_round(enum attn_dtype dt, float *x, size_t n);



/* A fresh seed per run (time and pid) unless HGCA_TEST_SEED is set; printed
 * as a TAP comment so a failure can be replayed. */
uint64_t ref64_seed(void);
#endif
