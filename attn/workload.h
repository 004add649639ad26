/*
 * workload.h - seeded synthetic attention workload (benchmarks, accuracy
 * evaluation, demos).  For query head g of a group of G heads sharing one KV
 * head, the scaled score of key j is
 *
 *     s_gj = tau_g * (z_gj + b_gj)
 *
 * z_gj: AR(1) along the tokens, correlation rho (0.9), unit variance, so
 *       salient tokens cluster as in text;
 * tau_g: geometric from 1 to tau_max (8) across the group (1, 2, 4, 8 for G=4);
 * b_gj: 5 for the first 4 tokens (sinks), 2 for the last 512 (local band),
 *       6 for 16 needle tokens at random depths (different per head), else 0.
 *
 * Built by putting each head's scores on its own coordinate
 * (q_g = sqrt(d) tau_g e_g, k_j[g] = z_gj + b_gj, other coordinates small
 * noise), then applying one random rotation to all q and k, so page
 * summaries (per-dimension min/max) are not artificially tight.  V ~ N(0,1).
 *
 * The small noise is drawn isotropically in the rotated space (so the signal
 * coordinates carry it too: variance 1 + noise^2, a negligible change).
 *
 * Decode steps (steps > 1, needs d >= 2G): each head has a second signal
 * coordinate e_{G+g} with its own AR(1) background and its own 16 needles
 * (sinks and band biased there too).  At step t head g's query is
 * sqrt(d) tau_g (cos(phi_t) e_g + sin(phi_t) e_{G+g}), phi_t = drift * t, so
 * attention moves from the first needle set to the second over the steps,
 * as it does in real decoding, and history-based methods (H2O) are tested on
 * attention that changes.  Step 0 is exactly the single-query definition.
 */
#ifndef HGCA_ATTN_WORKLOAD_H
#define HGCA_ATTN_WORKLOAD_H

#include <stdint.h>

#include "attn/attn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WL_SINKS 4
#define WL_BAND 512
#define WL_NEEDLES 16

struct attn_workload_cfg {
	int64_t n;		/* tokens, >= 1 */
	int G;			/* query heads per KV head, 1..d */
	int d;			/* head dimension */
	enum attn_dtype dt;	/* K/V element type */
	uint64_t seed;
	double tau_max;		/* 0 means 8 */
	double rho;		/* AR(1) correlation, 0 means 0.9 */
	double noise;		/* std of the other coordinates, 0 means 0.1 */
	int steps;		/* decode steps (queries), 0 means 1 */
	double drift;		/* query rotation per step in radians, 0 = none */
};

struct attn_workload {
	struct attn_workload_cfg cfg;
	float *q;		/* [steps][G][d] fp32; scale 1/sqrt(d) */
	void *k, *v;		/* [n][d] token-major, dtype cfg.dt */
	double *tau;		/* [G] */
	int64_t *needle;	/* [G][2 * WL_NEEDLES]: per head the needle
				 * positions of signal 1 (sorted), then of signal 2
				 * (sorted; used only when steps > 1) */
};

/* Generate; 0, -EINVAL or -ENOMEM.  Deterministic for a given cfg. */
int attn_workload_make(const struct attn_workload_cfg *cfg,
		       struct attn_workload *w);
void attn_workload_free(struct attn_workload *w);

/* Query of head @g at step @t: w->q + ((size_t)t * G + g) * d. */
static inline const float *
attn_workload_q(const struct attn_workload *w, int t, int g)
{
	return w->q + ((size_t)t * w->cfg.G + g) * w->cfg.d;
}

#ifdef __cplusplus
}
#endif
#endif /* HGCA_ATTN_WORKLOAD_H */
