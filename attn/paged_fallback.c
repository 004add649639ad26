/*
 * paged_fallback.c - TEMPORARY scalar stand-in for the paged engine
 * (attn/paged.h) so that the service can be built and tested before the
 * real engine lands on main.  It will be deleted when the engine lands; do
 * not build on anything here that paged.h does not promise.
 *
 * The simplest correct thing: every visible key of every page is scored in
 * float64, the policy picks from the full list, and the kept entries are
 * accumulated in float64, so outputs are exact to fp32 rounding and the
 * reported delta is the dropped fraction itself (with a tiny margin for the
 * float64 rounding).  Summaries are not used for skipping.  The byte budget
 * of a policy is not honoured (reading more than asked is still correct).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "attn/paged.h"

struct attn_engine {
	struct attn_layout lo;
	double *s;		/* scores of one row */
	int64_t *idx;		/* entry order of one row */
	int64_t cap;
};

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

void
attn_page_write(const struct attn_layout *lo, void *kpage, void *vpage,
		int off, const void *k_tok, const void *v_tok, int n)
{
	size_t es = attn_dtype_size(lo->dt);

	for (int t = 0; t < n; t++)
		for (int c = 0; c < lo->d; c++)
			memcpy((char *)kpage + ((size_t)c * lo->P + off + t) * es,
			       (const char *)k_tok + ((size_t)t * lo->d + c) * es, es);
	memcpy((char *)vpage + (size_t)off * lo->d * es, v_tok,
	       (size_t)n * lo->d * es);
}

void
attn_page_summarize(const struct attn_layout *lo, const void *kpage, int n,
		    float *kmin, float *kmax)
{
	size_t es = attn_dtype_size(lo->dt);

	for (int c = 0; c < lo->d; c++) {
		float lo_ = INFINITY, hi = -INFINITY, x;

		for (int t = 0; t < n; t++) {
			attn_to_f32(lo->dt, (const char *)kpage +
				    ((size_t)c * lo->P + t) * es, &x, 1);
			lo_ = x < lo_ ? x : lo_;
			hi = x > hi ? x : hi;
		}
		kmin[c] = lo_;
		kmax[c] = hi;
	}
}

int
attn_policy_check(const struct attn_policy *p)
{
	if (!p || p->budget < 0)
		return -EINVAL;
	switch (p->kind) {
	case ATTN_POLICY_FULL:
		return 0;
	case ATTN_POLICY_TOPK:
		return p->topk >= 1 ? 0 : -EINVAL;
	case ATTN_POLICY_MASS:
		return p->eps > 0.0 && p->eps < 1.0 ? 0 : -EINVAL;
	}
	return -EINVAL;
}

static int
parse_bytes(const char *s, int64_t *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (end == s || v < 0)
		return -EINVAL;
	switch (*end) {
	case 'k': v <<= 10; end++; break;
	case 'm': v <<= 20; end++; break;
	case 'g': v <<= 30; end++; break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

int
attn_policy_parse(const char *s, struct attn_policy *out)
{
	struct attn_policy p = { 0 };
	char buf[128], *comma, *end;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	comma = strchr(buf, ',');
	if (comma) {
		*comma = '\0';
		if (strncmp(comma + 1, "budget:", 7) ||
		    parse_bytes(comma + 8, &p.budget))
			return -EINVAL;
	}
	if (strcmp(buf, "full") == 0) {
		p.kind = ATTN_POLICY_FULL;
	} else if (strncmp(buf, "topk:", 5) == 0) {
		p.kind = ATTN_POLICY_TOPK;
		p.topk = strtoll(buf + 5, &end, 10);
		if (end == buf + 5 || *end)
			return -EINVAL;
	} else if (strncmp(buf, "mass:", 5) == 0) {
		p.kind = ATTN_POLICY_MASS;
		p.eps = strtod(buf + 5, &end);
		if (end == buf + 5 || *end)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (attn_policy_check(&p))
		return -EINVAL;
	*out = p;
	return 0;
}

int
attn_policy_format(const struct attn_policy *p, char *buf, size_t len)
{
	int n;

	if (attn_policy_check(p))
		return -EINVAL;
	if (p->kind == ATTN_POLICY_FULL)
		n = snprintf(buf, len, "full");
	else if (p->kind == ATTN_POLICY_TOPK)
		n = snprintf(buf, len, "topk:%lld", (long long)p->topk);
	else
		n = snprintf(buf, len, "mass:%.17g", p->eps);
	if (n >= 0 && (size_t)n < len && p->budget)
		n += snprintf(buf + n, len - n, ",budget:%lld", (long long)p->budget);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

enum attn_isa
attn_isa_default(void)
{
	return ATTN_ISA_SCALAR;
}

bool
attn_isa_supported(enum attn_isa isa)
{
	return isa == ATTN_ISA_SCALAR;
}

const char *
attn_isa_name(enum attn_isa isa)
{
	switch (isa) {
	case ATTN_ISA_SCALAR: return "scalar";
	case ATTN_ISA_AVX2: return "avx2";
	case ATTN_ISA_AVX512: return "avx512";
	}
	return NULL;
}

int
attn_engine_create(struct attn_engine **out, const struct attn_layout *lo,
		   enum attn_isa isa)
{
	struct attn_engine *e;

	if (attn_layout_check(lo))
		return -EINVAL;
	if (!attn_isa_supported(isa))
		return -ENOTSUP;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->lo = *lo;
	*out = e;
	return 0;
}

void
attn_engine_destroy(struct attn_engine *e)
{
	if (!e)
		return;
	free(e->s);
	free(e->idx);
	free(e);
}

enum attn_isa
attn_engine_isa(const struct attn_engine *e)
{
	return ATTN_ISA_SCALAR;
}

static int
grow(struct attn_engine *e, int64_t n)
{
	double *s;
	int64_t *idx;

	if (n <= e->cap)
		return 0;
	s = realloc(e->s, (size_t)n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	e->s = s;
	idx = realloc(e->idx, (size_t)n * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	e->idx = idx;
	e->cap = n;
	return 0;
}

static double
elem(enum attn_dtype dt, const void *base, size_t i)
{
	float x;

	attn_to_f32(dt, (const char *)base + i * attn_dtype_size(dt), &x, 1);
	return x;
}

/* Scores of every key visible to row (i, g), entry e = page * P + t. */
static int64_t
score_row(struct attn_engine *e, const struct attn_query *q, int i, int g,
	  const struct attn_page *pages, int np)
{
	const struct attn_layout *lo = &e->lo;
	const float *qr = q->q + ((size_t)i * q->G + g) * q->d;
	int64_t cnt = 0;

	for (int p = 0; p < np; p++)
		for (int t = 0; t < pages[p].n; t++) {
			double acc = 0.0;

			if (pages[p].pos + t > q->pos + i)
				continue;
			for (int c = 0; c < lo->d; c++)
				acc += qr[c] * elem(lo->dt, pages[p].k,
						    (size_t)c * lo->P + t);
			e->s[cnt] = acc * q->scale;
			e->idx[cnt++] = (int64_t)p * lo->P + t;
		}
	return cnt;
}

struct scored {
	double s;
	int64_t idx;
};

static int
by_score_desc(const void *a, const void *b)
{
	double x = ((const struct scored *)a)->s, y = ((const struct scored *)b)->s;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Order entries by decreasing score (scores travel with their entry). */
static int
sort_row(struct attn_engine *e, int64_t n)
{
	struct scored *p = malloc((size_t)n * sizeof(*p));

	if (!p)
		return -ENOMEM;
	for (int64_t j = 0; j < n; j++)
		p[j] = (struct scored){ e->s[j], e->idx[j] };
	qsort(p, (size_t)n, sizeof(*p), by_score_desc);
	for (int64_t j = 0; j < n; j++) {
		e->s[j] = p[j].s;
		e->idx[j] = p[j].idx;
	}
	free(p);
	return 0;
}

/* Entries kept (a prefix after sorting) and the certified dropped fraction. */
static int64_t
select_row(struct attn_engine *e, const struct attn_policy *pol, int64_t n,
	   double m, double *delta)
{
	double total = 0.0, kept = 0.0;
	int64_t k = n;

	*delta = 0.0;
	if (pol->kind == ATTN_POLICY_FULL || n == 0 || sort_row(e, n))
		return n;	/* all kept (also when sorting had no memory) */
	for (int64_t j = 0; j < n; j++)
		total += exp(e->s[j] - m);
	if (pol->kind == ATTN_POLICY_TOPK) {
		k = pol->topk < n ? pol->topk : n;
		for (int64_t j = 0; j < k; j++)
			kept += exp(e->s[j] - m);
	} else {
		for (k = 0; k < n; k++) {
			if ((total - kept) <= pol->eps * total * (1.0 - 1e-9))
				break;
			kept += exp(e->s[k] - m);
		}
	}
	*delta = k == n ? 0.0 : fmin(1.0, (total - kept) / total * (1.0 + 1e-9) + 1e-300);
	return k;
}

static void
row_output(struct attn_engine *e, int64_t k, double m,
	   const struct attn_page *pages, float *o, float *lse)
{
	const struct attn_layout *lo = &e->lo;
	double acc[512] = { 0 }, z = 0.0;

	for (int64_t j = 0; j < k; j++) {
		const struct attn_page *pg = &pages[e->idx[j] / lo->P];
		int t = (int)(e->idx[j] % lo->P);
		double p = exp(e->s[j] - m);

		z += p;
		for (int c = 0; c < lo->d; c++)
			acc[c] += p * elem(lo->dt, pg->v, (size_t)t * lo->d + c);
	}
	for (int c = 0; c < lo->d; c++)
		o[c] = k ? (float)(acc[c] / z) : 0.0f;
	*lse = k ? (float)(m + log(z)) : -INFINITY;
}

/* Bytes: K of every page with a visible key, V of every page with a kept one. */
static int64_t
row_bytes(struct attn_engine *e, const struct attn_page *pages, int np,
	  int64_t n, int64_t k)
{
	size_t tb = (size_t)e->lo.d * attn_dtype_size(e->lo.dt);
	int64_t bytes = 0, last = -1;
	char *used = calloc((size_t)np + 1, 1);

	for (int64_t j = 0; j < n; j++) {
		int64_t p = e->idx[j] / e->lo.P;
		if (p != last && used && !(used[p] & 1)) {
			used[p] |= 1;
			bytes += (int64_t)(pages[p].n * tb);
		}
		if (j < k && used && !(used[p] & 2)) {
			used[p] |= 2;
			bytes += (int64_t)(pages[p].n * tb);
		}
		last = p;
	}
	free(used);
	return bytes;
}

static int
check_pages(const struct attn_layout *lo, const struct attn_page *pages, int np)
{
	if (np < 0 || (np > 0 && !pages))
		return -EINVAL;
	for (int p = 0; p < np; p++)
		if (!pages[p].k || !pages[p].v || pages[p].n < 1 ||
		    pages[p].n > lo->P || pages[p].pos < 0)
			return -EINVAL;
	return 0;
}

int
attn_paged_partial(struct attn_engine *e, const struct attn_query *q,
		   const struct attn_page *pages, int npages,
		   const struct attn_policy *pol, float *o, float *lse,
		   struct attn_row_stats *stats)
{
	int64_t tot = 0;

	if (!e || attn_query_check(q) || q->d != e->lo.d || !o || !lse ||
	    attn_policy_check(pol) || check_pages(&e->lo, pages, npages))
		return -EINVAL;
	for (int p = 0; p < npages; p++)
		tot += pages[p].n;
	if (grow(e, tot > 0 ? tot : 1))
		return -ENOMEM;
	for (int i = 0; i < q->L; i++)
		for (int g = 0; g < q->G; g++) {
			size_t r = (size_t)i * q->G + g;
			int64_t n = score_row(e, q, i, g, pages, npages), k;
			double m = -INFINITY, delta;

			for (int64_t j = 0; j < n; j++)
				m = e->s[j] > m ? e->s[j] : m;
			k = select_row(e, pol, n, m, &delta);
			row_output(e, k, m, pages, o + r * q->d, &lse[r]);
			if (stats) {
				stats[r].entries = k;
				stats[r].bytes = row_bytes(e, pages, npages, n, k);
				stats[r].delta = delta;
			}
		}
	return 0;
}
