/*
 * engine_pvt.h - the paged engine's private state, shared by paged.c (set
 * up, validation, the streaming `full` path), select.c (the selecting
 * policies) and accum.c (the log-sum-exp accumulator).  Never installed.
 */
#ifndef HGCA_ATTN_ENGINE_PVT_H
#define HGCA_ATTN_ENGINE_PVT_H

#include <stddef.h>
#include <stdint.h>

#include "attn/kern_pvt.h"
#include "attn/paged.h"

#define ACC_LEVELS 40		/* binary counter depth: 2^40 blocks */
#define ACC_BLOCK 16		/* pages summed into one block partial */

/* A scratch buffer that only grows (64-byte aligned, contents not kept). */
struct scratch {
	void *p;
	size_t cap;
};

int scratch_reserve(struct scratch *s, size_t bytes);
void scratch_free(struct scratch *s);

/*
 * The log-sum-exp accumulator of one call: R rows of (m, z, o[d]), o and z
 * relative to e^m.  Pages add into the current block (rescaled when a row's
 * maximum rises); every ACC_BLOCK pages the block is pushed on a binary
 * counter of block partials that merges equal levels, so the rounding error
 * of the result grows with log(pages), not with the context length.
 */
struct acc {
	int R, d, pages, depth;
	size_t stride;		/* floats per partial: R * (d + 2) */
	float *base;		/* ACC_LEVELS + 2 partials: stack, then current */
	const float *m0;	/* fixed maxima (select.c), or NULL */
	int level[ACC_LEVELS + 1];
};

/* A partial is m [R], z [R], o [R][d]; acc_cur gives the current block's.
 * @m0, if not NULL, fixes every row's maximum (it must bound the scores). */
int acc_begin(struct acc *a, struct scratch *s, int R, int d, const float *m0);
float *acc_cur(struct acc *a);
/* The current block's o [R][d] (after m [R] and z [R]). */
static inline float *
acc_cur_o(struct acc *a)
{
	return acc_cur(a) + 2 * (size_t)a->R;
}
/*
 * Row r's reference maximum for a page whose scores peak at @m: set to @m
 * when the row holds nothing yet or @m exceeds it by more than
 * ACC_HEADROOM, rescaling what it holds; otherwise kept, so weights
 * exp(s - ref) of up to e^ACC_HEADROOM are summed (exact in fp32's range:
 * a block of ACC_BLOCK pages of 256 tokens sums below 2^40).  Any reference
 * gives the same o and lse; a lazy one saves a rescale of the row's o on
 * most pages of a block.
 */
#define ACC_HEADROOM 16.0f
void acc_raise(struct acc *a, int r, float m);
void acc_page_done(struct acc *a);
/* o [R][d] normalised and lse [R]; rows that saw nothing: 0 and -inf. */
void acc_finish(struct acc *a, float *o, float *lse);

enum eng_mode { ENG_NONE = 0, ENG_STREAM, ENG_SELECT };

struct attn_engine {
	struct attn_layout lo;
	enum attn_isa isa;
	const struct attn_kern *kern;
	size_t es;		/* bytes per element */

	/* this call */
	const struct attn_query *q;
	const struct attn_page *pages;
	int npages, R;
	float *qs;		/* [R][d] scaled queries */
	float *sbuf;		/* [R][P] one page's scores / weights */
	struct scratch s_qs, s_sbuf, s_acc;
	struct acc acc;

	/* what the last call did (attn_engine_last_stats, attn_engine_kept) */
	enum eng_mode mode;
	struct attn_call_stats last;
	int64_t *ppos;		/* [npages] page positions and lengths, */
	int *pn;		/*   kept for attn_engine_kept */
	int lastL, lastG;
	int64_t lastqpos;
	struct scratch s_ppos, s_pn;

	/* select.c */
	struct sel *sel;
};

/* Tokens of page @pg visible to query row position @i (causal). */
static inline int
eng_nvis(const struct attn_engine *e, const struct attn_page *pg, int i)
{
	int64_t lim = e->q->pos + i - pg->pos + 1;

	return lim <= 0 ? 0 : lim >= pg->n ? pg->n : (int)lim;
}

static inline int
eng_round_tok(int n)
{
	return (n + KERN_TOK_ALIGN - 1) / KERN_TOK_ALIGN * KERN_TOK_ALIGN;
}

/*
 * Rounding margins (DESIGN.md section 1, "certified bound").  With
 * u = 2^-24, an fp32 dot product of length d (plus the scaling of q) is off
 * by at most gamma_{d+2} sum_c |qs_c k_c| <= gamma_{d+2} a; we use
 * gamma_{d+4} and 1% on top, which also covers the rounding of a itself.
 */
double eng_margin(int d, float a);
/* Upper bound on every exact score of a page from the kernel's b and a. */
double eng_bound(int d, float b, float a);

/* Identity token list 0..255 for the dense V pass. */
extern const uint8_t eng_ident[256];

/* select.c */
int sel_partial(struct attn_engine *e, const struct attn_policy *pol,
		float *o, float *lse, struct attn_row_stats *stats);
int sel_kept(const struct attn_engine *e, int row, int64_t *pos, int64_t cap,
	     int64_t *count);
void sel_free(struct sel *s);

#endif /* HGCA_ATTN_ENGINE_PVT_H */
