/*
 * paged.h - the paged CPU attention engine (DESIGN.md section 1, "Per-head
 * sparsification" and "Making the CPU part run at memory speed").
 *
 * KV of one (sequence, layer, KV head) lives in pages of P tokens: the K page
 * dimension-major ([d][P], element (c, t) at c * P + t), the V page
 * token-major ([P][d]), in one dtype.  A full page carries a summary: the
 * per-dimension min and max of its keys in fp32, which bounds q.k for every
 * key of the page.  A partial computes attention for the G query heads of one
 * KV head over a list of pages, choosing per query row which entries to
 * include (struct attn_policy), and reports per row what it read and a
 * certified bound on the softmax mass it dropped.
 *
 * Ownership: callers own pages, queries and outputs; an engine owns only its
 * scratch.  Calls are single-threaded: one engine per thread; an engine never
 * starts threads or prints.  Calls that can fail return 0 or a negative errno.
 */
#ifndef HGCA_ATTN_PAGED_H
#define HGCA_ATTN_PAGED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attn/attn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ATTN_PAGE_DEFAULT 64	/* tokens per page unless configured */

/* Shape of the pages of one KV head. */
struct attn_layout {
	int d;			/* head dimension, 1..512 */
	int P;			/* tokens per page: a multiple of 16, 16..256 */
	enum attn_dtype dt;	/* element type of K and V */
};

/* 0 or -EINVAL. */
int attn_layout_check(const struct attn_layout *lo);
/* Bytes of one K page (== bytes of one V page): d * P * dtype size. */
size_t attn_page_bytes(const struct attn_layout *lo);

/* A page as the kernel reads it. */
struct attn_page {
	const void *k;		/* [d][P] dimension-major */
	const void *v;		/* [P][d] token-major */
	const float *kmin;	/* [d] summary, or NULL: then the page is */
	const float *kmax;	/*   always read (e.g. the partly filled last page) */
	int64_t pos;		/* absolute position of the page's token 0 */
	int n;			/* valid tokens, 1..P */
};

/*
 * attn_page_write - store @n tokens given token-major (k_tok, v_tok [n][d],
 * dtype lo->dt) into slots off .. off + n - 1 of a K and a V page
 * (transposing K).  0 <= off, off + n <= P.
 */
void attn_page_write(const struct attn_layout *lo, void *kpage, void *vpage,
		     int off, const void *k_tok, const void *v_tok, int n);

/* attn_page_summarize - per-dimension min and max over the first @n keys of
 * a K page, in fp32 (exact: every stored value is representable). */
void attn_page_summarize(const struct attn_layout *lo, const void *kpage,
			 int n, float *kmin, float *kmax);

/*
 * attn_page_bound - an upper bound on scale * q.k for every key of a page
 * with summary kmin/kmax ([d] each), for one query row q [d]; @lo must be
 * valid (attn_layout_check).  It holds in
 * exact arithmetic: it is the summary bound scale * sum_c max(q_c kmin_c,
 * q_c kmax_c) rounded up by a margin that covers the fp32 rounding of the
 * kernels (the bound the engine uses to skip pages and certify delta).
 */
double attn_page_bound(const struct attn_layout *lo, const float *q,
		       float scale, const float *kmin, const float *kmax);

/* Which entries a query row includes (DESIGN.md section 1). */
enum attn_policy_kind {
	ATTN_POLICY_FULL = 0,	/* every entry: exact */
	ATTN_POLICY_TOPK = 1,	/* the topk highest-scoring entries */
	ATTN_POLICY_MASS = 2,	/* certified dropped mass <= eps */
};

struct attn_policy {
	enum attn_policy_kind kind;
	int64_t topk;		/* TOPK: entries kept, >= 1 */
	double eps;		/* MASS: 0 < eps < 1 */
	int64_t budget;		/* bytes of K+V to read at most, 0 = no limit;
				 * stops early; delta then says what was lost */
};

/*
 * attn_policy_parse - "full", "topk:K" or "mass:EPS", optionally followed by
 * ",budget:BYTES" (BYTES may end in k, m or g: powers of 1024).
 * Returns 0 or -EINVAL (out untouched).
 */
int attn_policy_parse(const char *s, struct attn_policy *out);
/* Canonical text of @p into buf[len]; 0, -EINVAL or -ENOSPC. */
int attn_policy_format(const struct attn_policy *p, char *buf, size_t len);
/* 0 or -EINVAL. */
int attn_policy_check(const struct attn_policy *p);

/*
 * What one query row (one query head at one query position) got.  bytes
 * counts d * dtype size per key: for the K side, the keys of the pages this
 * row's own walk needed scored (every visible page for `full`; for topk and
 * mass the scored pages whose bound was not below the one the row stopped
 * at), for the V side the keys it kept.  The call as a whole reads less
 * than the sum over rows (one K read serves every row): see
 * attn_engine_last_stats.
 */
struct attn_row_stats {
	int64_t entries;	/* keys included in its partial */
	int64_t bytes;		/* K+V bytes this row's selection needed read */
	double delta;		/* certified upper bound: dropped mass / total
				 * mass of this partial (0 for full) */
};

/* Instruction-set paths of the kernels. */
enum attn_isa {
	ATTN_ISA_SCALAR = 0,
	ATTN_ISA_AVX2 = 1,	/* AVX2 + FMA + F16C */
	ATTN_ISA_AVX512 = 2,	/* AVX-512F/BW/VL (+ BF16/FP16 where present) */
};

/* The best path this CPU supports, or the one named by the environment
 * variable HGCA_ISA ("scalar", "avx2", "avx512") when the CPU supports it.
 * (HGCA_PREFETCH picks the kernels' prefetch hint: kern_pvt.h.) */
enum attn_isa attn_isa_default(void);
bool attn_isa_supported(enum attn_isa isa);
const char *attn_isa_name(enum attn_isa isa);

struct attn_engine;

/*
 * attn_engine_create - an engine for pages of layout @lo, on ISA path @isa
 * (attn_isa_default() normally).  Scratch grows on demand with the number of
 * pages; nothing else is allocated per call once warm.
 * Returns 0, -EINVAL (bad layout), -ENOTSUP (ISA not on this CPU), -ENOMEM.
 */
int attn_engine_create(struct attn_engine **out, const struct attn_layout *lo,
		       enum attn_isa isa);
void attn_engine_destroy(struct attn_engine *e);
enum attn_isa attn_engine_isa(const struct attn_engine *e);

/*
 * attn_paged_partial - partial attention of query block @q (q->d == lo.d)
 * over @npages pages, for every query row with policy @pol, written as
 * o [L][G][d] and lse [L][G] (empty: -inf and 0).  Pages may be given in any
 * order and need not be contiguous; causality uses page positions.  One read
 * of a K page serves all G heads.  @stats, if not NULL, receives [L][G] row
 * stats.  Returns 0, -EINVAL (bad query, layout mismatch, bad policy or page)
 * or -ENOMEM.
 *
 * `full` without a budget streams the pages in the order given.  The other
 * policies first bound every summarised page, score pages without a summary,
 * then score pages by decreasing bound (per row, one K read for all rows)
 * until each row is satisfied, and read V only for kept keys.  A budget
 * charges each scored page its K and, in advance, its whole V, so the bytes
 * read never exceed it; rows it stops report the loss in delta.  Scratch
 * for the selecting policies grows with the pages scored (L * G * P floats
 * per page).
 */
int attn_paged_partial(struct attn_engine *e, const struct attn_query *q,
		       const struct attn_page *pages, int npages,
		       const struct attn_policy *pol, float *o, float *lse,
		       struct attn_row_stats *stats);

/* What the last attn_paged_partial call of an engine read, all rows
 * together (one K read serves every row that needs the page). */
struct attn_call_stats {
	int64_t k_bytes;	/* K bytes scored: d * es per key scored */
	int64_t v_bytes;	/* V bytes read: d * es per key some row kept */
	int pages;		/* pages given with a key visible to some row */
	int pages_scored;	/* pages whose K was read */
	int pages_used;		/* pages whose V was read */
};

/* Stats of the last successful call (zeros before the first). */
void attn_engine_last_stats(const struct attn_engine *e,
			    struct attn_call_stats *out);

/*
 * attn_engine_kept - the absolute positions of the keys that query row @row
 * (row = i * G + g) included in the last successful call, in the order the
 * engine summed them.  Writes min(count, cap) positions to @pos and the
 * count to *count.  Returns 0, -EINVAL (no call yet, row out of range) or
 * -ENOSPC (cap < count; *count is still set).  For tests and tools: it
 * replays the selection from the engine's scratch, so it must come before
 * the engine's next call.
 */
int attn_engine_kept(const struct attn_engine *e, int row, int64_t *pos,
		     int64_t cap, int64_t *count);

#ifdef __cplusplus
}
#endif
#endif /* HGCA_ATTN_PAGED_H */
