/*
 * kern_body_pvt.h - the inner loops of the paged engine, written once over a
 * small vector vocabulary that each ISA file defines before including this:
 *
 *   KERN_VW lanes; types vf (KERN_VW floats) and vmask (a lane mask);
 *   V_ZERO() V_SET1(x) V_LOAD(p) V_STORE(p, v) V_LOAD_BF16(p) V_LOAD_F16(p)
 *   V_ADD V_SUB V_MUL V_MAX V_MIN V_ABS V_FMA(a, b, c) = a * b + c
 *   V_HSUM(v) V_HMAX(v) V_ROUND(v) (to nearest) V_POW2I(n) (2^n, n integral
 *   in [-126, 127]) V_LT(a, b) (mask a < b) V_SEL(m, a, b) (m ? a : b)
 *   V_BITS(m) (the mask as an unsigned, bit i for lane i)
 *   V_STORE_I32T(p, v) (v truncated to int32 lanes, stored at p)
 *   V_LOAD_BF16X2(p, lo, hi) (2 KERN_VW bf16 values as two vectors in some
 *   fixed lane order) and V_PAIR_NATURAL(a, b) (that order back to element
 *   order: a gets elements 0..VW-1, b the rest)
 *   KERN_TABLE (the exported table's name) KERN_NAME (its name string)
 *
 * so the AVX2 and AVX-512 paths are the same code (the AVX-512 one can only
 * run where the CPU has it) and the scalar path (KERN_VW 1) exercises the
 * same logic everywhere.
 *
 * Register blocking (DESIGN.md, "Making the CPU part run at memory speed"):
 * scores take up to 4 query rows x KERN_ACC / 4 vectors of tokens per pass
 * over the dimension-major K page, so one vector load of K feeds several
 * FMAs and no horizontal sum is needed; the V pass takes KERN_VROWS rows x
 * KERN_ACC / KERN_VROWS vectors of dimensions per pass over the page's
 * tokens, so the accumulators stay in registers and the page's V is read
 * from memory once and from L1 in the other passes.  Software prefetches
 * of the next page are spread over both loops with the hint of
 * attn_prefetch_hint().
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "attn/kern_pvt.h"

#define KB_ROWS 4		/* query rows per register block */
#define KB_MAXV 16		/* vectors per register block */
#ifndef KERN_ACC
#define KERN_ACC 8		/* accumulators per block (16 registers) */
#endif
#ifndef KERN_VROWS
#define KERN_VROWS KB_ROWS	/* query rows per block of the V pass */
#endif

/* One prefetch of line @a with the process's hint (attn_prefetch_hint()). */
#define KB_PF1(a, hint) attn_prefetch_line(a, hint)

/* One step of a prefetch spread over a loop: pfr (1 or 2) lines. */
#define KB_PREFETCH(pc, pfe, pfr, hint)					\
	do {								\
		if ((pc) < (pfe)) {					\
			KB_PF1(pc, hint);				\
			if ((pfr) > 1)					\
				KB_PF1((pc) + 64, hint);		\
			(pc) += 64 * (pfr);				\
		}							\
	} while (0)
#define KB_UNROLL _Pragma("GCC unroll 16")
#define KB_INLINE static inline __attribute__((always_inline))

/* VW elements of @dt at element index @i of @base, as fp32. */
KB_INLINE vf
kb_load(const enum attn_dtype dt, const void *base, size_t i)
{
	switch (dt) {
	case ATTN_BF16:
		return V_LOAD_BF16((const uint16_t *)base + i);
	case ATTN_F16:
		return V_LOAD_F16((const uint16_t *)base + i);
	default:
		return V_LOAD((const float *)base + i);
	}
}

/*
 * nv vectors from element @i.  Two bf16 vectors come from one load widened
 * by unpacking (no shifts, which would compete with the FMAs for ports), in
 * the ISA's "pair order"; kb_natural puts results computed on them back into
 * element order.  Other cases are in element order already.
 */
KB_INLINE void
kb_loadn(const enum attn_dtype dt, const int nv, const void *base, size_t i,
	 vf *v)
{
	KB_UNROLL
	for (int j = 0; j + 1 < nv; j += 2) {
		if (dt == ATTN_BF16) {
			V_LOAD_BF16X2((const uint16_t *)base + i + (size_t)j * KERN_VW,
				      v[j], v[j + 1]);
		} else {
			v[j] = kb_load(dt, base, i + (size_t)j * KERN_VW);
			v[j + 1] = kb_load(dt, base, i + (size_t)(j + 1) * KERN_VW);
		}
	}
	if (nv & 1)
		v[nv - 1] = kb_load(dt, base, i + (size_t)(nv - 1) * KERN_VW);
}

KB_INLINE void
kb_natural(const enum attn_dtype dt, const int nv, vf *a)
{
	KB_UNROLL
	for (int j = 0; j + 1 < nv; j += 2)
		if (dt == ATTN_BF16)
			V_PAIR_NATURAL(a[j], a[j + 1]);
}

/* One element, for the dimension tail of the V pass. */
static float
kb_load1(enum attn_dtype dt, const void *base, size_t i)
{
	switch (dt) {
	case ATTN_BF16:
		return attn_bf16_to_f32(((const uint16_t *)base)[i]);
	case ATTN_F16:
		return attn_f16_to_f32(((const uint16_t *)base)[i]);
	default:
		return ((const float *)base)[i];
	}
}

/*
 * exp(x) for x <= 88, 0 below -87.3 (where fp32 leaves the normal range).
 * Cody-Waite reduction x = n ln2 + r, |r| <= ln2 / 2 (+ rounding), then the
 * degree-7 Taylor polynomial of e^r (truncation < 1e-8 relative) and 2^n
 * through the exponent bits.
 */
KB_INLINE vf
kb_exp(vf x)
{
	vmask under = V_LT(x, V_SET1(-87.3f));
	vf n, r, p;

	x = V_MIN(V_MAX(x, V_SET1(-87.3f)), V_SET1(88.0f));
	n = V_ROUND(V_MUL(x, V_SET1(1.44269504088896341f)));
	r = V_FMA(n, V_SET1(-0.693359375f), x);	/* exact: 9-bit constant */
	r = V_FMA(n, V_SET1(2.12194440e-4f), r);
	p = V_SET1(1.0f / 5040.0f);
	p = V_FMA(p, r, V_SET1(1.0f / 720.0f));
	p = V_FMA(p, r, V_SET1(1.0f / 120.0f));
	p = V_FMA(p, r, V_SET1(1.0f / 24.0f));
	p = V_FMA(p, r, V_SET1(1.0f / 6.0f));
	p = V_FMA(p, r, V_SET1(0.5f));
	p = V_FMA(p, r, V_SET1(1.0f));
	p = V_FMA(p, r, V_SET1(1.0f));
	return V_SEL(under, V_ZERO(), V_MUL(p, V_POW2I(n)));
}

/* Scores of nr rows (qs [nr][d]) for nv vectors of tokens from t0. */
KB_INLINE void
kb_score_blk(const enum attn_dtype dt, const int nr, const int nv,
	     const float *qs, int d, const void *k, int P, int t0, float *s,
	     int lds, const char **pf, const char *pfe, int pfr, int hint)
{
	const char *pc = *pf;
	vf acc[KB_ROWS][KB_MAXV], kv[KB_MAXV];

	KB_UNROLL
	for (int r = 0; r < nr; r++)
		KB_UNROLL
		for (int j = 0; j < nv; j++)
			acc[r][j] = V_ZERO();
	for (int c = 0; c < d; c++) {
		KB_PREFETCH(pc, pfe, pfr, hint);	/* spread over the loop */
		kb_loadn(dt, nv, k, (size_t)c * P + t0, kv);
		KB_UNROLL
		for (int r = 0; r < nr; r++) {
			vf qb = V_SET1(qs[(size_t)r * d + c]);

			KB_UNROLL
			for (int j = 0; j < nv; j++)
				acc[r][j] = V_FMA(qb, kv[j], acc[r][j]);
		}
	}
	KB_UNROLL
	for (int r = 0; r < nr; r++) {
		kb_natural(dt, nv, acc[r]);
		KB_UNROLL
		for (int j = 0; j < nv; j++)
			V_STORE(s + (size_t)r * lds + t0 + j * KERN_VW, acc[r][j]);
	}
	*pf = pc;
}

/* o[r][c0 ..] += sum_j w[r][j] V[tok_j][c0 ..] for nr rows and nv vectors of
 * dimensions; tok_j = j when @dense (the streaming path), else idx[j]. */
KB_INLINE void
kb_vacc_blk(const enum attn_dtype dt, const int nr, const int nv,
	    const int dense, const float *w, int ldw, const void *v, int d,
	    int c0, const uint8_t *idx, int nt, float *o, const char **pf,
	    const char *pfe, int pfr, int hint)
{
	const char *pc = *pf;
	vf acc[KB_ROWS][KB_MAXV], vv[KB_MAXV];

	KB_UNROLL
	for (int r = 0; r < nr; r++)
		KB_UNROLL
		for (int j = 0; j < nv; j++)
			acc[r][j] = V_ZERO();
	for (int t = 0; t < nt; t++) {
		KB_PREFETCH(pc, pfe, pfr, hint);
		kb_loadn(dt, nv, v, (size_t)(dense ? t : idx[t]) * d + c0, vv);
		KB_UNROLL
		for (int r = 0; r < nr; r++) {
			vf wb = V_SET1(w[(size_t)r * ldw + t]);

			KB_UNROLL
			for (int j = 0; j < nv; j++)
				acc[r][j] = V_FMA(wb, vv[j], acc[r][j]);
		}
	}
	KB_UNROLL
	for (int r = 0; r < nr; r++) {
		float *or_ = o + (size_t)r * d + c0;

		kb_natural(dt, nv, acc[r]);
		KB_UNROLL
		for (int j = 0; j < nv; j++)
			V_STORE(or_ + j * KERN_VW, V_ADD(V_LOAD(or_ + j * KERN_VW), acc[r][j]));
	}
	*pf = pc;
}

/*
 * Register blocks: nr rows by nv vectors, at most KERN_ACC accumulators
 * (AVX2: 12, which with the loads and a broadcast fill its 16 registers and
 * keep enough independent FMA chains in flight to cover their latency;
 * AVX-512: 16 of its 32).  Fewer rows take more vectors, so one query row
 * (G = 1) still keeps as many chains in flight.  KB_NV lists, per row
 * count, the vector counts a block may take, largest first.
 */
#if KERN_ACC >= 16
#define KB_NV { { 0 }, { 16, 8, 4, 2, 1, 0 }, { 8, 4, 2, 1, 0 }, \
		{ 4, 2, 1, 0 }, { 4, 2, 1, 0 } }
#elif KERN_ACC >= 12
#define KB_NV { { 0 }, { 12, 8, 4, 2, 1, 0 }, { 6, 4, 2, 1, 0 }, \
		{ 4, 2, 1, 0 }, { 3, 2, 1, 0 } }
#else
#define KB_NV { { 0 }, { 8, 4, 2, 1, 0 }, { 4, 2, 1, 0 }, \
		{ 2, 1, 0 }, { 2, 1, 0 } }
#endif

static inline int
kb_nv(int nr, int left)
{
	static const int8_t opts[KB_ROWS + 1][7] = KB_NV;

	for (const int8_t *o = opts[nr]; *o; o++)
		if (left >= *o)
			return *o;
	return 1;
}

/* Call blk(dt, nr, nv, ...) with compile-time dt, nr and nv, so each shape
 * is its own fully unrolled loop nest. */
#define KB_DT(blk, nr, nv, ...)						\
	do {								\
		switch (dt) {						\
		case ATTN_BF16: blk(ATTN_BF16, nr, nv, __VA_ARGS__); break; \
		case ATTN_F16: blk(ATTN_F16, nr, nv, __VA_ARGS__); break; \
		default: blk(ATTN_F32, nr, nv, __VA_ARGS__); break;	\
		}							\
	} while (0)
#if KERN_ACC >= 16
#define KB_WIDE_SHAPES(blk, ...)					\
		case 0x30: KB_DT(blk, 1, 16, __VA_ARGS__); break;	\
		case 0x48: KB_DT(blk, 2, 8, __VA_ARGS__); break;	\
		case 0x64: KB_DT(blk, 3, 4, __VA_ARGS__); break;	\
		case 0x84: KB_DT(blk, 4, 4, __VA_ARGS__); break;
#elif KERN_ACC >= 12
#define KB_WIDE_SHAPES(blk, ...)					\
		case 0x2c: KB_DT(blk, 1, 12, __VA_ARGS__); break;	\
		case 0x46: KB_DT(blk, 2, 6, __VA_ARGS__); break;	\
		case 0x64: KB_DT(blk, 3, 4, __VA_ARGS__); break;	\
		case 0x83: KB_DT(blk, 4, 3, __VA_ARGS__); break;
#else
#define KB_WIDE_SHAPES(blk, ...)
#endif
#define KB_SHAPES(blk, ...)						\
	do {								\
		switch (nr * 32 + nv) {					\
		KB_WIDE_SHAPES(blk, __VA_ARGS__)			\
		case 0x28: KB_DT(blk, 1, 8, __VA_ARGS__); break;	\
		case 0x24: KB_DT(blk, 1, 4, __VA_ARGS__); break;	\
		case 0x22: KB_DT(blk, 1, 2, __VA_ARGS__); break;	\
		case 0x21: KB_DT(blk, 1, 1, __VA_ARGS__); break;	\
		case 0x44: KB_DT(blk, 2, 4, __VA_ARGS__); break;	\
		case 0x42: KB_DT(blk, 2, 2, __VA_ARGS__); break;	\
		case 0x41: KB_DT(blk, 2, 1, __VA_ARGS__); break;	\
		case 0x62: KB_DT(blk, 3, 2, __VA_ARGS__); break;	\
		case 0x61: KB_DT(blk, 3, 1, __VA_ARGS__); break;	\
		case 0x82: KB_DT(blk, 4, 2, __VA_ARGS__); break;	\
		default: KB_DT(blk, 4, 1, __VA_ARGS__); break;		\
		}							\
	} while (0)

static void
kb_score(enum attn_dtype dt, const float *qs, int R, int d, const void *k,
	 int P, int nt, float *s, int lds, const void *pf, size_t pfbytes)
{
	const char *pc = pf, *pfe = pf ? pc + pfbytes : NULL;
	int iters = 0, pfr, hint = attn_prefetch_hint();

	for (int r0 = 0; r0 < R; r0 += KB_ROWS)	/* blocks x d iterations */
		for (int t0 = 0, nv; t0 < nt; t0 += nv * KERN_VW, iters += d)
			nv = kb_nv(R - r0 < KB_ROWS ? R - r0 : KB_ROWS, (nt - t0) / KERN_VW);
	pfr = pfbytes / 64 > (size_t)iters ? 2 : 1;	/* beyond 2, some lines go */
	for (int r0 = 0; r0 < R; r0 += KB_ROWS) {
		int nr = R - r0 < KB_ROWS ? R - r0 : KB_ROWS;
		const float *q = qs + (size_t)r0 * d;
		float *sr = s + (size_t)r0 * lds;

		for (int t0 = 0, nv; t0 < nt; t0 += nv * KERN_VW) {
			nv = kb_nv(nr, (nt - t0) / KERN_VW);
			KB_SHAPES(kb_score_blk, q, d, k, P, t0, sr, lds, &pc, pfe, pfr,
				  hint);
		}
	}
}

#define kb_vacc_dense(dt, nr, nv, ...) kb_vacc_blk(dt, nr, nv, 1, __VA_ARGS__)
#define kb_vacc_list(dt, nr, nv, ...) kb_vacc_blk(dt, nr, nv, 0, __VA_ARGS__)

/* Dimensions past the last whole vector (d not a multiple of KERN_VW). */
static void
kb_vacc_tail(enum attn_dtype dt, const float *w, int R, int ldw,
	     const void *v, int d, int c0, const uint8_t *idx, int nt, float *o)
{
	for (int r = 0; r < R; r++)
		for (int c = c0; c < d; c++) {
			float acc = 0.0f;

			for (int j = 0; j < nt; j++)
				acc += w[(size_t)r * ldw + j] *
				       kb_load1(dt, v, (size_t)idx[j] * d + c);
			o[(size_t)r * d + c] += acc;
		}
}

static void
kb_vacc(enum attn_dtype dt, const float *w, int R, int ldw, const void *v,
	int d, const uint8_t *idx, int nt, float *o, const void *pf,
	size_t pfbytes)
{
	const char *pc = pf, *pfe = pf ? pc + pfbytes : NULL;
	int dv = d - d % KERN_VW;	/* dimensions in whole vectors */
	int dense, iters = 0, pfr, hint = attn_prefetch_hint();

	if (nt <= 0)
		return;
	dense = idx[nt - 1] == nt - 1;	/* strictly increasing: 0..nt-1 */
	for (int r0 = 0; r0 < R; r0 += KERN_VROWS)	/* blocks x nt iterations */
		for (int c0 = 0, nv; c0 < dv; c0 += nv * KERN_VW, iters += nt)
			nv = kb_nv(R - r0 < KERN_VROWS ? R - r0 : KERN_VROWS, (dv - c0) / KERN_VW);
	pfr = pfbytes / 64 > (size_t)iters ? 2 : 1;
	for (int r0 = 0; r0 < R; r0 += KERN_VROWS) {
		int nr = R - r0 < KERN_VROWS ? R - r0 : KERN_VROWS;
		const float *wr = w + (size_t)r0 * ldw;
		float *or_ = o + (size_t)r0 * d;

		for (int c0 = 0, nv; c0 < dv; c0 += nv * KERN_VW) {
			nv = kb_nv(nr, (dv - c0) / KERN_VW);
			if (dense)
				KB_SHAPES(kb_vacc_dense, wr, ldw, v, d, c0, idx, nt,
					  or_, &pc, pfe, pfr, hint);
			else
				KB_SHAPES(kb_vacc_list, wr, ldw, v, d, c0, idx, nt,
					  or_, &pc, pfe, pfr, hint);
		}
	}
	if (dv < d)
		kb_vacc_tail(dt, w, R, ldw, v, d, dv, idx, nt, o);
}

static float
kb_expsum(const float *x, float *y, int n, float m)
{
	vf vm = V_SET1(m), acc = V_ZERO();

	if (m == -INFINITY) {		/* nothing visible: all weights 0 */
		memset(y, 0, (size_t)n * sizeof(float));
		return 0.0f;
	}
	for (int i = 0; i < n; i += KERN_VW) {
		vf e = kb_exp(V_SUB(V_LOAD(x + i), vm));

		V_STORE(y + i, e);
		acc = V_ADD(acc, e);
	}
	return V_HSUM(acc);
}

static float
kb_maxv(const float *x, int n)
{
	vf acc = V_SET1(-INFINITY);

	for (int i = 0; i < n; i += KERN_VW)
		acc = V_MAX(acc, V_LOAD(x + i));
	return V_HMAX(acc);
}

static void
kb_minmax(const float *x, int n, float *mn, float *mx)
{
	vf lo = V_SET1(INFINITY), hi = V_SET1(-INFINITY);
	float l, h;
	int i = 0;

	for (; i + KERN_VW <= n; i += KERN_VW) {
		vf v = V_LOAD(x + i);

		lo = V_MIN(lo, v);
		hi = V_MAX(hi, v);
	}
	l = -V_HMAX(V_SUB(V_ZERO(), lo));
	h = V_HMAX(hi);
	for (; i < n; i++) {
		l = x[i] < l ? x[i] : l;
		h = x[i] > h ? x[i] : h;
	}
	*mn = l;
	*mx = h;
}

/* The cuts' shared body: keep iff fl(M - sc) < x (mass), or, with @above,
 * iff sc > x, leaving keys with sc == x untouched and counted in *ties
 * (topk's ties, which the caller settles in order). */
KB_INLINE int
kb_cut_body(const int above, const float *sc, float *w, int nv, float M,
	    float x, uint64_t *any, float *kz, float *dz, int *nuf, int *ties)
{
	vf vm = V_SET1(M), vx = V_SET1(x), ka = V_ZERO(), da = V_ZERO();
	float k1 = 0.0f, d1 = 0.0f;
	int kept = 0, uf = 0, tie = 0, t = 0;

	/* KERN_VW divides 64: a vector's bits fall in one word of any */
	for (; t + KERN_VW <= nv; t += KERN_VW) {
		vf v = V_LOAD(w + t), s = V_LOAD(sc + t);
		vmask keep = above ? V_LT(vx, s) : V_LT(V_SUB(vm, s), vx);
		vmask drop = above ? V_LT(s, vx) : keep;
		unsigned kb = V_BITS(keep), pos = V_BITS(V_LT(V_ZERO(), v));
		unsigned db = above ? V_BITS(drop) : ~kb & ((1u << (KERN_VW - 1)) * 2 - 1);

		ka = V_ADD(ka, V_SEL(keep, v, V_ZERO()));
		da = above ? V_ADD(da, V_SEL(drop, v, V_ZERO())) :
			     V_ADD(da, V_SEL(keep, V_ZERO(), v));
		V_STORE(w + t, above ? V_SEL(drop, V_ZERO(), v) : V_SEL(keep, v, V_ZERO()));
		kept += __builtin_popcount(kb);
		uf += __builtin_popcount(db & ~pos);
		tie += KERN_VW - __builtin_popcount(kb | db);
		any[t / 64] |= (uint64_t)kb << (t % 64);
	}
	for (; t < nv; t++) {
		bool k = above ? sc[t] > x : M - sc[t] < x;
		bool d = above ? sc[t] < x : !k;

		if (k) {
			k1 += w[t];
			any[t / 64] |= (uint64_t)1 << (t % 64);
			kept++;
		} else if (d) {
			d1 += w[t];
			uf += w[t] == 0.0f;
			w[t] = 0.0f;
		} else {
			tie++;
		}
	}
	*kz = V_HSUM(ka) + k1;
	*dz = V_HSUM(da) + d1;
	*nuf = uf;
	if (ties)
		*ties = tie;
	return kept;
}

static int
kb_cut(const float *sc, float *w, int nv, float M, float xcut, uint64_t *any,
       float *kz, float *dz, int *nuf)
{
	return kb_cut_body(0, sc, w, nv, M, xcut, any, kz, dz, nuf, NULL);
}

static int
kb_cut_above(const float *sc, float *w, int nv, float thr, uint64_t *any,
	     float *kz, float *dz, int *nuf, int *ties)
{
	return kb_cut_body(1, sc, w, nv, 0.0f, thr, any, kz, dz, nuf, ties);
}

static int
kb_ge(const float *x, int n, float thr, float *out)
{
	vf vt = V_SET1(thr);
	int m = 0, t = 0;

	for (; t + KERN_VW <= n; t += KERN_VW) {
		unsigned lt = V_BITS(V_LT(V_LOAD(x + t), vt));

		for (unsigned b = ~lt & ((1u << (KERN_VW - 1)) * 2 - 1); b; b &= b - 1)
			out[m++] = x[t + __builtin_ctz(b)];
	}
	for (; t < n; t++)
		if (!(x[t] < thr))
			out[m++] = x[t];
	return m;
}

static void
kb_bins(const float *sc, int nv, float M, float lim, float B, int32_t *bin)
{
	vf vm = V_SET1(M), vl = V_SET1(lim), vb = V_SET1(B);
	int t = 0;

	for (; t + KERN_VW <= nv; t += KERN_VW)
		V_STORE_I32T(bin + t, V_MUL(V_MIN(V_SUB(vm, V_LOAD(sc + t)), vl), vb));
	for (; t < nv; t++) {
		float x = M - sc[t];

		bin[t] = (int32_t)((x < lim ? x : lim) * B);
	}
}

static void
kb_bound(const float *qs, int R, int d, const float *kmin, const float *kmax,
	 float *b, float *a)
{
	int dv = d - d % KERN_VW;

	for (int r = 0; r < R; r++) {
		const float *q = qs + (size_t)r * d;
		vf vb = V_ZERO(), va = V_ZERO();
		float sb, sa;

		for (int c = 0; c < dv; c += KERN_VW) {
			vf qc = V_LOAD(q + c), lo = V_LOAD(kmin + c), hi = V_LOAD(kmax + c);

			vb = V_ADD(vb, V_MAX(V_MUL(qc, lo), V_MUL(qc, hi)));
			va = V_FMA(V_ABS(qc), V_MAX(V_ABS(lo), V_ABS(hi)), va);
		}
		sb = V_HSUM(vb);
		sa = V_HSUM(va);
		for (int c = dv; c < d; c++) {
			float lo = q[c] * kmin[c], hi = q[c] * kmax[c];

			sb += lo > hi ? lo : hi;
			sa += fabsf(q[c]) * fmaxf(fabsf(kmin[c]), fabsf(kmax[c]));
		}
		b[r] = sb;
		a[r] = sa;
	}
}

const struct attn_kern KERN_TABLE = {
	.name = KERN_NAME,
	.score = kb_score,
	.expsum = kb_expsum,
	.maxv = kb_maxv,
	.minmax = kb_minmax,
	.vacc = kb_vacc,
	.cut = kb_cut,
	.cut_above = kb_cut_above,
	.ge = kb_ge,
	.bins = kb_bins,
	.bound = kb_bound,
};
