/* ref64.c - float64 reference attention and error metrics. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/ref64.h"

/* Scores of row (i, g) against visible keys; returns the count. */
static int64_t
row_scores(const struct attn_query *q, int i, int g, const float *k,
	   int64_t n, int64_t kpos, double *s)
{
	const float *qr = q->q + ((size_t)i * q->G + g) * q->d;
	int64_t lim = q->pos + i - kpos + 1;
	int64_t nvis = lim < 0 ? 0 : lim > n ? n : lim;

	for (int64_t j = 0; j < nvis; j++) {
		double acc = 0.0;
		for (int c = 0; c < q->d; c++)
			acc += (double)qr[c] * k[(size_t)j * q->d + c];
		s[j] = acc * (double)q->scale;
	}
	return nvis;
}

int
ref64_attention(const struct attn_query *q, const float *k, const float *v,
		int64_t n, int64_t kpos, double *o, double *lse)
{
	double *s = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
	int d = q->d;

	if (!s)
		return -ENOMEM;
	for (int i = 0; i < q->L; i++) {
		for (int g = 0; g < q->G; g++) {
			size_t r = (size_t)i * q->G + g;
			int64_t nv = row_scores(q, i, g, k, n, kpos, s);
			double m = -INFINITY, z = 0.0;
			double *or_ = o + r * d;

			memset(or_, 0, (size_t)d * sizeof(double));
			for (int64_t j = 0; j < nv; j++)
				m = s[j] > m ? s[j] : m;
			for (int64_t j = 0; j < nv; j++) {
				double p = exp(s[j] - m);
				z += p;
				for (int c = 0; c < d; c++)
					or_[c] += p * v[(size_t)j * d + c];
			}
			if (nv == 0) {
				lse[r] = -INFINITY;
				continue;
			}
			for (int c = 0; c < d; c++)
				or_[c] /= z;
			lse[r] = m + log(z);
		}
	}
	free(s);
	return 0;
}

double
ref64_rel_l2(const float *a, const double *ref, size_t n)
{
	double num = 0.0, den = 0.0;

	for (size_t i = 0; i < n; i++) {
		double e = (double)a[i] - ref[i];
		num += e * e;
		den += ref[i] * ref[i];
	}
	return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

void
ref64_fill_normal(struct rng *r, float *x, size_t n, double sigma)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(sigma * rng_normal(r));
}

void
ref64_round(enum attn_dtype dt, float *x, size_t n)
{
	uint16_t h;

	if (dt == ATTN_F32)
		return;
	for (size_t i = 0; i < n; i++) {
		attn_from_f32(dt, &x[i], &h, 1);
		attn_to_f32(dt, &h, &x[i], 1);
	}
}

uint64_t
ref64_seed(void)
{
	const char *env = getenv("HGCA_TEST_SEED");
	struct timespec ts;
	uint64_t seed;

	if (env && *env) {
		seed = strtoull(env, NULL, 0);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		       ((uint64_t)getpid() << 40);
	}
	printf("# seed %llu (set HGCA_TEST_SEED to replay)\n",
	       (unsigned long long)seed);
	return seed;
}
