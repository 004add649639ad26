/* workload.c - the seeded synthetic workload of workload.h. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/rng.h"
#include "attn/workload.h"

/* Defaults for zero fields. */
static void
wl_defaults(struct attn_workload_cfg *c)
{
	if (c->tau_max == 0.0)
		c->tau_max = 8.0;
	if (c->rho == 0.0)
		c->rho = 0.9;
	if (c->noise == 0.0)
		c->noise = 0.1;
	if (c->steps == 0)
		c->steps = 1;
}

static int
wl_check(const struct attn_workload_cfg *c)
{
	int nsig = c->steps > 1 ? 2 * c->G : c->G;

	if (c->n < 1 || c->G < 1 || c->d < nsig || !attn_dtype_size(c->dt) ||
	    c->steps < 1 || c->tau_max < 1.0 || !(c->rho >= 0.0 && c->rho < 1.0) ||
	    c->noise < 0.0 || !isfinite(c->drift))
		return -EINVAL;
	return 0;
}

/* A random orthogonal d x d matrix (rows), by modified Gram-Schmidt on a
 * Gaussian matrix in double. */
static void
wl_rotation(struct rng *r, int d, double *Q)
{
	for (int i = 0; i < d * d; i++)
		Q[i] = rng_normal(r);
	for (int i = 0; i < d; i++) {
		double *qi = Q + (size_t)i * d, nrm = 0.0;

		for (int j = 0; j < i; j++) {
			const double *qj = Q + (size_t)j * d;
			double dot = 0.0;
			for (int c = 0; c < d; c++)
				dot += qi[c] * qj[c];
			for (int c = 0; c < d; c++)
				qi[c] -= dot * qj[c];
		}
		for (int c = 0; c < d; c++)
			nrm += qi[c] * qi[c];
		nrm = 1.0 / sqrt(nrm);
		for (int c = 0; c < d; c++)
			qi[c] *= nrm;
	}
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* WL_NEEDLES distinct positions outside the sinks and the band (when the
 * context is long enough; otherwise anywhere), sorted. */
static void
wl_needles(struct rng *r, int64_t n, int64_t *pos)
{
	int64_t lo = n > WL_SINKS + WL_BAND + 4 * WL_NEEDLES ? WL_SINKS : 0;
	int64_t hi = lo ? n - WL_BAND : n;

	for (int i = 0; i < WL_NEEDLES; i++) {
		int dup;
		do {
			pos[i] = lo + (int64_t)rng_below(r, (uint64_t)(hi - lo));
			dup = 0;
			for (int j = 0; j < i && hi - lo > WL_NEEDLES; j++)
				dup |= pos[j] == pos[i];
		} while (dup);
	}
	qsort(pos, WL_NEEDLES, sizeof(*pos), cmp_i64);
}

/* Bias b of signal @s of head @g at token @j. */
static double
wl_bias(const struct attn_workload *w, int g, int s, int64_t j)
{
	const int64_t *nd = w->needle + ((size_t)g * 2 + s) * WL_NEEDLES;

	if (j < WL_SINKS)
		return 5.0;
	if (j >= w->cfg.n - WL_BAND)
		return 2.0;
	for (int i = 0; i < WL_NEEDLES; i++)
		if (nd[i] == j)
			return 6.0;
	return 0.0;
}

static int
wl_alloc(struct attn_workload *w)
{
	const struct attn_workload_cfg *c = &w->cfg;
	size_t nkv = (size_t)c->n * c->d * attn_dtype_size(c->dt);

	w->q = malloc((size_t)c->steps * c->G * c->d * sizeof(float));
	w->k = malloc(nkv);
	w->v = malloc(nkv);
	w->tau = malloc((size_t)c->G * sizeof(double));
	w->needle = malloc((size_t)c->G * 2 * WL_NEEDLES * sizeof(int64_t));
	return w->q && w->k && w->v && w->tau && w->needle ? 0 : -ENOMEM;
}

/* Queries: q_g(t) = sqrt(d) tau_g Q (cos(phi) e_g + sin(phi) e_{G+g}). */
static void
wl_queries(struct attn_workload *w, const double *Q)
{
	const struct attn_workload_cfg *c = &w->cfg;

	for (int t = 0; t < c->steps; t++) {
		double phi = c->drift * t, cs = cos(phi), sn = sin(phi);
		for (int g = 0; g < c->G; g++) {
			float *q = w->q + ((size_t)t * c->G + g) * c->d;
			double a = sqrt((double)c->d) * w->tau[g];
			for (int r = 0; r < c->d; r++) {
				double x = cs * Q[(size_t)r * c->d + g];
				if (c->steps > 1)
					x += sn * Q[(size_t)r * c->d + c->G + g];
				q[r] = (float)(a * x);
			}
		}
	}
}

/* Keys and values, token by token: signal coordinates through the
 * rotation, isotropic noise added in the rotated space. */
static void
wl_kv(struct attn_workload *w, struct rng *r, const double *Q)
{
	const struct attn_workload_cfg *c = &w->cfg;
	int nsig = c->steps > 1 ? 2 * c->G : c->G, d = c->d;
	size_t es = attn_dtype_size(c->dt);
	double *z = calloc((size_t)nsig, sizeof(double));
	float *kr = malloc((size_t)d * sizeof(float)), *vr = malloc((size_t)d * sizeof(float));
	double innov = sqrt(1.0 - c->rho * c->rho);

	for (int i = 0; i < nsig; i++)
		z[i] = rng_normal(r);
	for (int64_t j = 0; j < c->n; j++) {
		for (int x = 0; x < d; x++) {
			kr[x] = (float)(c->noise * rng_normal(r));
			vr[x] = (float)rng_normal(r);
		}
		for (int i = 0; i < nsig; i++) {
			if (j > 0)
				z[i] = c->rho * z[i] + innov * rng_normal(r);
			double s = z[i] + wl_bias(w, i % c->G, i / c->G, j);
			for (int x = 0; x < d; x++)
				kr[x] += (float)(s * Q[(size_t)x * d + i]);
		}
		attn_from_f32(c->dt, kr, (char *)w->k + (size_t)j * d * es, (size_t)d);
		attn_from_f32(c->dt, vr, (char *)w->v + (size_t)j * d * es, (size_t)d);
	}
	free(z);
	free(kr);
	free(vr);
}

int
attn_workload_make(const struct attn_workload_cfg *cfg, struct attn_workload *w)
{
	struct rng r;
	double *Q = NULL;
	int err;

	memset(w, 0, sizeof(*w));
	w->cfg = *cfg;
	wl_defaults(&w->cfg);
	err = wl_check(&w->cfg);
	if (err)
		return err;
	err = wl_alloc(w);
	Q = malloc((size_t)w->cfg.d * w->cfg.d * sizeof(double));
	if (err || !Q) {
		err = -ENOMEM;
		goto out_free;
	}
	rng_seed(&r, w->cfg.seed);
	for (int g = 0; g < w->cfg.G; g++) {
		w->tau[g] = w->cfg.G > 1 ? pow(w->cfg.tau_max, (double)g / (w->cfg.G - 1)) : 1.0;
		wl_needles(&r, w->cfg.n, w->needle + (size_t)g * 2 * WL_NEEDLES);
		wl_needles(&r, w->cfg.n, w->needle + ((size_t)g * 2 + 1) * WL_NEEDLES);
	}
	wl_rotation(&r, w->cfg.d, Q);
	wl_queries(w, Q);
	wl_kv(w, &r, Q);
	free(Q);
	return 0;
out_free:
	free(Q);
	attn_workload_free(w);
	return err;
}

void
attn_workload_free(struct attn_workload *w)
{
	if (!w)
		return;
	free(w->q);
	free(w->k);
	free(w->v);
	free(w->tau);
	free(w->needle);
	memset(w, 0, sizeof(*w));
}
