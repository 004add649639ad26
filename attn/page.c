/*
 * page.c - the page layout (K dimension-major, V token-major), filling pages
 * from token-major input, page summaries, and the summary bound on q.k.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "attn/engine_pvt.h"

int
attn_layout_check(const struct attn_layout *lo)
{
	if (!lo || lo->d < 1 || lo->d > 512 || lo->P < 16 || lo->P > 256 ||
	    lo->P % 16 || attn_dtype_size(lo->dt) == 0)
		return -EINVAL;
	return 0;
}

size_t
attn_page_bytes(const struct attn_layout *lo)
{
	return (size_t)lo->d * lo->P * attn_dtype_size(lo->dt);
}

/* Transpose n tokens of K into columns off.. of a [d][P] page, for one
 * element size; blocked by 8 dimensions so each token's row is read in
 * cache-line-sized runs. */
#define PAGE_TRANSPOSE(T)						\
	do {								\
		T *dst = kpage;						\
		const T *src = k_tok;					\
		for (int c0 = 0; c0 < d; c0 += 8) {			\
			int c1 = c0 + 8 < d ? c0 + 8 : d;		\
			for (int j = 0; j < n; j++)			\
				for (int c = c0; c < c1; c++)		\
					dst[(size_t)c * P + off + j] =	\
						src[(size_t)j * d + c]; \
		}							\
	} while (0)

void
attn_page_write(const struct attn_layout *lo, void *kpage, void *vpage,
		int off, const void *k_tok, const void *v_tok, int n)
{
	size_t es = attn_dtype_size(lo->dt);
	int d = lo->d, P = lo->P;

	if (es == 4)
		PAGE_TRANSPOSE(uint32_t);
	else
		PAGE_TRANSPOSE(uint16_t);
	memcpy((char *)vpage + (size_t)off * d * es, v_tok, (size_t)n * d * es);
}

void
attn_page_summarize(const struct attn_layout *lo, const void *kpage, int n,
		    float *kmin, float *kmax)
{
	size_t es = attn_dtype_size(lo->dt);
	float x[256];

	for (int c = 0; c < lo->d; c++) {
		float mn = INFINITY, mx = -INFINITY;

		attn_to_f32(lo->dt, (const char *)kpage + (size_t)c * lo->P * es, x,
			    (size_t)n);
		for (int t = 0; t < n; t++) {
			mn = x[t] < mn ? x[t] : mn;
			mx = x[t] > mx ? x[t] : mx;
		}
		kmin[c] = mn;
		kmax[c] = mx;
	}
}

double
eng_margin(int d, float a)
{
	double u = 0x1p-24, g = (d + 4) * u / (1.0 - (d + 4) * u);

	/* The absolute term covers products that fall into fp32 subnormals,
	 * where the rounding error is absolute (2^-150), not relative. */
	return 1.01 * g * (double)a + (d + 4) * 0x1p-149;
}

double
eng_bound(int d, float b, float a)
{
	return (double)b + eng_margin(d, a);
}

double
attn_page_bound(const struct attn_layout *lo, const float *q, float scale,
		const float *kmin, const float *kmax)
{
	float qs[512], b, a;
	int d = lo->d;

	for (int c = 0; c < d; c++)
		qs[c] = q[c] * scale;
	attn_kern_scalar.bound(qs, 1, d, kmin, kmax, &b, &a);
	return eng_bound(d, b, a);
}
