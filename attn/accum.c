/*
 * accum.c - the log-sum-exp accumulator of one engine call (engine_pvt.h).
 *
 * Partials are kept unnormalised, (m, z, o) with z and o relative to e^m,
 * so merging needs only two exponentials per row and no division or log;
 * the division and the log happen once, in acc_finish.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/engine_pvt.h"

int
scratch_reserve(struct scratch *s, size_t bytes)
{
	void *p;

	if (bytes <= s->cap)
		return 0;
	bytes = (bytes + 63) / 64 * 64;
	if (posix_memalign(&p, 64, bytes))
		return -ENOMEM;
	free(s->p);
	s->p = p;
	s->cap = bytes;
	return 0;
}

void
scratch_free(struct scratch *s)
{
	free(s->p);
	s->p = NULL;
	s->cap = 0;
}

static float *
acc_slot(struct acc *a, int i)
{
	return a->base + (size_t)i * a->stride;
}

float *
acc_cur(struct acc *a)
{
	return acc_slot(a, ACC_LEVELS + 1);
}

static void
acc_reset(struct acc *a, float *part)
{
	for (int r = 0; r < a->R; r++) {
		part[r] = a->m0 ? a->m0[r] : -INFINITY;
		part[a->R + r] = 0.0f;
	}
	memset(part + 2 * a->R, 0, (size_t)a->R * a->d * sizeof(float));
}

int
acc_begin(struct acc *a, struct scratch *s, int R, int d, const float *m0)
{
	size_t stride = (size_t)R * (d + 2);
	int err = scratch_reserve(s, (ACC_LEVELS + 2) * stride * sizeof(float));

	if (err)
		return err;
	a->R = R;
	a->d = d;
	a->pages = 0;
	a->depth = 0;
	a->stride = stride;
	a->base = s->p;
	a->m0 = m0;
	acc_reset(a, acc_cur(a));
	return 0;
}

void
acc_raise(struct acc *a, int r, float m)
{
	float *cur = acc_cur(a), old = cur[r], f;
	float *o = cur + 2 * a->R + (size_t)r * a->d;

	if (old == -INFINITY) {		/* nothing held yet: z and o are 0 */
		cur[r] = m;
		return;
	}
	if (!(m > old + ACC_HEADROOM))
		return;
	cur[r] = m;
	f = expf(old - m);
	cur[a->R + r] *= f;
	for (int c = 0; c < a->d; c++)
		o[c] *= f;
}

/* dst = dst (+) src, row by row, as in attn_merge_into but unnormalised. */
static void
acc_merge(struct acc *a, float *dst, const float *src)
{
	int R = a->R, d = a->d;

	for (int r = 0; r < R; r++) {
		float ma = dst[r], mb = src[r], m, fa, fb;
		float *od = dst + 2 * R + (size_t)r * d;
		const float *os = src + 2 * R + (size_t)r * d;

		if (mb == -INFINITY)
			continue;
		if (ma == -INFINITY) {
			dst[r] = mb;
			dst[R + r] = src[R + r];
			memcpy(od, os, (size_t)d * sizeof(float));
			continue;
		}
		m = ma > mb ? ma : mb;
		fa = expf(ma - m);
		fb = expf(mb - m);
		dst[r] = m;
		dst[R + r] = fa * dst[R + r] + fb * src[R + r];
		for (int c = 0; c < d; c++)
			od[c] = fa * od[c] + fb * os[c];
	}
}

/* Push the current block (binary carry: equal levels merge). */
static void
acc_push(struct acc *a)
{
	int t = a->depth;

	memcpy(acc_slot(a, t), acc_cur(a), a->stride * sizeof(float));
	a->level[t] = 0;
	while (t > 0 && a->level[t - 1] == a->level[t]) {
		acc_merge(a, acc_slot(a, t - 1), acc_slot(a, t));
		a->level[t - 1]++;
		t--;
	}
	a->depth = t + 1;
	acc_reset(a, acc_cur(a));
	a->pages = 0;
}

void
acc_page_done(struct acc *a)
{
	if (++a->pages == ACC_BLOCK)
		acc_push(a);
}

void
acc_finish(struct acc *a, float *o, float *lse)
{
	float *cur = acc_cur(a);
	int R = a->R, d = a->d;

	for (int t = a->depth - 1; t >= 0; t--)
		acc_merge(a, cur, acc_slot(a, t));
	for (int r = 0; r < R; r++) {
		float m = cur[r], z = cur[R + r];
		const float *src = cur + 2 * R + (size_t)r * d;
		float *dst = o + (size_t)r * d;

		if (m == -INFINITY || !(z > 0.0f)) {
			memset(dst, 0, (size_t)d * sizeof(float));
			lse[r] = -INFINITY;
			continue;
		}
		for (int c = 0; c < d; c++)
			dst[c] = src[c] / z;
		lse[r] = m + logf(z);
	}
}
