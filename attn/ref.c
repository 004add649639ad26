/*
 * ref.c - scalar reference partial attention (DESIGN.md section 1).
 *
 * Keys are taken in blocks of REF_BLOCK.  Each block gives its own partial
 * (o, lse); partials are merged like the digits of a binary counter (a block
 * partial is pushed, and two partials of equal level merge into one of the
 * next level), i.e. pairwise, so the rounding error of the result grows with
 * log(n) rather than n, using O(log n) partials of memory.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attn.h"

#define REF_BLOCK 64
#define REF_LEVELS 48		/* 2^48 blocks: more than any int64 length */

struct ref_state {
	size_t rows;		/* L * G */
	int d;
	float *kf, *vf;		/* one block of K and V in fp32 */
	float *scores;		/* one row's scores for one block */
	float *part_o, *part_lse; /* REF_LEVELS + 1 partials */
	int level[REF_LEVELS + 1];
	int depth;
};

int
attn_query_check(const struct attn_query *q)
{
	if (!q || !q->q || q->L < 1 || q->L > ATTN_MAX_QLEN || q->G < 1 ||
	    q->d < 1 || !(q->scale > 0.0f) || !isfinite(q->scale))
		return -EINVAL;
	return 0;
}

static float *
slot_o(struct ref_state *st, int i)
{
	return st->part_o + (size_t)i * st->rows * (size_t)st->d;
}

static float *
slot_lse(struct ref_state *st, int i)
{
	return st->part_lse + (size_t)i * st->rows;
}

/* Partial of one block (keys kf/vf [nb][d], absolute positions from kpos)
 * for every query row, written into slot @s. */
static void
ref_block(struct ref_state *st, const struct attn_query *q, int nb,
	  int64_t kpos, int s)
{
	int d = q->d;

	for (int i = 0; i < q->L; i++) {
		/* Keys j < nvis are visible to row i. */
		int64_t lim = q->pos + i - kpos + 1;
		int nvis = lim < 0 ? 0 : lim > nb ? nb : (int)lim;

		for (int g = 0; g < q->G; g++) {
			size_t r = (size_t)i * q->G + g;
			const float *qr = q->q + r * d;
			float *o = slot_o(st, s) + r * d;
			float m = -INFINITY, z = 0.0f;

			memset(o, 0, (size_t)d * sizeof(float));
			for (int j = 0; j < nvis; j++) {
				float acc = 0.0f;
				for (int c = 0; c < d; c++)
					acc += qr[c] * st->kf[(size_t)j * d + c];
				st->scores[j] = acc * q->scale;
				if (st->scores[j] > m)
					m = st->scores[j];
			}
			for (int j = 0; j < nvis; j++) {
				float p = expf(st->scores[j] - m);
				z += p;
				for (int c = 0; c < d; c++)
					o[c] += p * st->vf[(size_t)j * d + c];
			}
			if (nvis == 0) {
				slot_lse(st, s)[r] = -INFINITY;
				continue;
			}
			for (int c = 0; c < d; c++)
				o[c] /= z;
			slot_lse(st, s)[r] = m + logf(z);
		}
	}
}

/* Push the partial in the top slot, merging equal levels (binary carry). */
static void
ref_push(struct ref_state *st)
{
	int t = st->depth;

	st->level[t] = 0;
	while (t > 0 && st->level[t - 1] == st->level[t]) {
		attn_merge_into(st->rows, st->d, slot_o(st, t - 1),
				slot_lse(st, t - 1), slot_o(st, t), slot_lse(st, t));
		st->level[t - 1]++;
		t--;
	}
	st->depth = t + 1;
}

static int
ref_alloc(struct ref_state *st, const struct attn_query *q)
{
	size_t blk = (size_t)REF_BLOCK * q->d;

	st->rows = (size_t)q->L * q->G;
	st->d = q->d;
	st->depth = 0;
	st->kf = malloc(blk * sizeof(float));
	st->vf = malloc(blk * sizeof(float));
	st->scores = malloc(REF_BLOCK * sizeof(float));
	st->part_o = malloc((REF_LEVELS + 1) * st->rows * q->d * sizeof(float));
	st->part_lse = malloc((REF_LEVELS + 1) * st->rows * sizeof(float));
	if (!st->kf || !st->vf || !st->scores || !st->part_o || !st->part_lse)
		return -ENOMEM;
	return 0;
}

static void
ref_free(struct ref_state *st)
{
	free(st->kf);
	free(st->vf);
	free(st->scores);
	free(st->part_o);
	free(st->part_lse);
}

int
attn_ref_partial(const struct attn_query *q, enum attn_dtype dt,
		 const void *k, const void *v, int64_t n, int64_t kpos,
		 float *o, float *lse)
{
	struct ref_state st = { 0 };
	size_t es = attn_dtype_size(dt);
	int64_t last = 0;
	int err;

	if (attn_query_check(q) || es == 0 || n < 0 || !o || !lse ||
	    (n > 0 && (!k || !v)))
		return -EINVAL;
	err = ref_alloc(&st, q);
	if (err)
		goto out;
	/* Keys past the last query row's horizon are never visible. */
	last = q->pos + q->L - kpos;
	if (last < n)
		n = last < 0 ? 0 : last;
	for (int64_t j0 = 0; j0 < n; j0 += REF_BLOCK) {
		int nb = n - j0 < REF_BLOCK ? (int)(n - j0) : REF_BLOCK;
		size_t off = (size_t)j0 * q->d * es;

		attn_to_f32(dt, (const char *)k + off, st.kf, (size_t)nb * q->d);
		attn_to_f32(dt, (const char *)v + off, st.vf, (size_t)nb * q->d);
		ref_block(&st, q, nb, kpos + j0, st.depth);
		ref_push(&st);
	}
	err = attn_merge(st.rows, q->d, 0, NULL, NULL, o, lse);
	for (int t = st.depth - 1; t >= 0; t--)
		attn_merge_into(st.rows, q->d, o, lse, slot_o(&st, t), slot_lse(&st, t));
out:
	ref_free(&st);
	return err;
}
