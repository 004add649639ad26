/*
 * attn.h - attention math shared by every path: dtypes and conversions, the
 * scalar reference partial attention, and the exact log-sum-exp merge.
 *
 * Conventions (DESIGN.md section 1): natural log, fp32 outputs, fp32
 * accumulation.  A *partial* over a set of keys is (o, lse) with
 * lse = m + ln Z; an empty set has lse = -inf and o = 0.  Query rows are laid
 * out [L][G][d]: L query positions (1..ATTN_MAX_QLEN), each with the G query
 * heads that share one KV head.  Row i of a query whose first position is
 * `pos` sees the keys whose absolute position is <= pos + i (causal).
 *
 * Ownership: callers own every buffer passed in or out; nothing here keeps a
 * pointer after it returns, allocates memory that outlives a call, starts a
 * thread, or prints.  Calls that can fail return 0 or a negative errno.
 */
#ifndef HGCA_ATTN_H
#define HGCA_ATTN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTN_MAX_QLEN 64	/* longest query (speculative / chunked decode) */

/* Element type of stored K/V.  Values are part of the wire protocol. */
enum attn_dtype {
	ATTN_F32 = 0,
	ATTN_BF16 = 1,
	ATTN_F16 = 2,
};

/* Bytes per element of @dt, or 0 for an unknown dtype. */
size_t attn_dtype_size(enum attn_dtype dt);
/* "f32", "bf16", "f16", or NULL. */
const char *attn_dtype_name(enum attn_dtype dt);

/* Scalar conversions, round to nearest even; NaN stays NaN (quieted), with
 * its sign; overflow becomes infinity; fp16 subnormals are kept. */
uint16_t attn_f32_to_bf16(float x);
float attn_bf16_to_f32(uint16_t h);
uint16_t attn_f32_to_f16(float x);
float attn_f16_to_f32(uint16_t h);

/* Convert @n elements between @dt and fp32. @dt must be known. */
void attn_to_f32(enum attn_dtype dt, const void *src, float *dst, size_t n);
void attn_from_f32(enum attn_dtype dt, const float *src, void *dst, size_t n);

/* One query block for one KV head. */
struct attn_query {
	const float *q;	/* [L][G][d] fp32, not pre-scaled */
	int L;		/* query length, 1..ATTN_MAX_QLEN */
	int G;		/* query heads per KV head, >= 1 */
	int d;		/* head dimension, >= 1 */
	int64_t pos;	/* absolute position of query row 0 */
	float scale;	/* softmax scale, normally 1/sqrt(d) */
};

/* Checks the fields of @q; 0 or -EINVAL. */
int attn_query_check(const struct attn_query *q);

/*
 * attn_ref_partial - the slow, obviously correct partial attention.
 * @k, @v: token-major [n][d] arrays of @dt; key j has absolute position
 * @kpos + j.  Writes o [L][G][d] and lse [L][G].  Work is accumulated per
 * block of 64 keys and blocks are merged pairwise, so rounding error grows
 * with log(n), not n.
 * Returns 0, -EINVAL (bad query, n < 0, unknown dtype) or -ENOMEM.
 */
int attn_ref_partial(const struct attn_query *q, enum attn_dtype dt,
		     const void *k, const void *v, int64_t n, int64_t kpos,
		     float *o, float *lse);

/*
 * attn_merge_into - merge partial (o_b, lse_b) into (o, lse) in place, for
 * @rows rows of @d values.  Exact: lse = logaddexp(lse, lse_b) and o is the
 * matching weighted sum.  An empty part (lse = -inf) is a no-op; two empty
 * parts give lse = -inf, o = 0, never NaN.
 */
void attn_merge_into(size_t rows, int d, float *o, float *lse,
		     const float *o_b, const float *lse_b);

/*
 * attn_merge - merge @nparts partials o_parts[p] [rows][d], lse_parts[p]
 * [rows] into o_out, lse_out (which may alias part 0, no other part).
 * nparts == 0 gives the empty result.  Returns 0 or -EINVAL.
 */
int attn_merge(size_t rows, int d, int nparts, const float *const *o_parts,
	       const float *const *lse_parts, float *o_out, float *lse_out);

#ifdef __cplusplus
}
#endif
#endif /* HGCA_ATTN_H */
