/* svc_help.c - mirror and reference for the service tests. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/ref64.h"
#include "tests/svc_help.h"

void
kvm_init(struct kvm *m, int hkv, int d, enum attn_dtype dt)
{
	memset(m, 0, sizeof(*m));
	m->hkv = hkv;
	m->d = d;
	m->dt = dt;
}

void
kvm_free(struct kvm *m)
{
	free(m->k);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static void
reserve(struct kvm *m, int64_t n)
{
	size_t row = (size_t)m->hkv * m->d;

	if (n <= m->cap)
		return;
	while (m->cap < n)
		m->cap = m->cap ? 2 * m->cap : 64;
	m->k = realloc(m->k, (size_t)m->cap * row * sizeof(float));
	m->v = realloc(m->v, (size_t)m->cap * row * sizeof(float));
	if (!m->k || !m->v)
		abort();
}

void
kvm_grow(struct kvm *m, struct rng *r, int64_t n, double ksig, void **k,
	 void **v, size_t *bytes)
{
	size_t cnt = (size_t)n * m->hkv * m->d;
	float *kn, *vn;

	reserve(m, m->n + n);
	kn = m->k + (size_t)m->n * m->hkv * m->d;
	vn = m->v + (size_t)m->n * m->hkv * m->d;
	ref64_fill_normal(r, kn, cnt, ksig);
	ref64_fill_normal(r, vn, cnt, 1.0);
	ref64_round(m->dt, kn, cnt);
	ref64_round(m->dt, vn, cnt);
	*bytes = cnt * attn_dtype_size(m->dt);
	*k = malloc(*bytes);
	*v = malloc(*bytes);
	if (!*k || !*v)
		abort();
	attn_from_f32(m->dt, kn, *k, cnt);
	attn_from_f32(m->dt, vn, *v, cnt);
	m->n += n;
}

void
kvm_truncate(struct kvm *m, int64_t n)
{
	m->n -= n;
}

/* One KV head's keys and values as contiguous [n][d]. */
static void
head_kv(const struct kvm *m, int h, float *k, float *v)
{
	for (int64_t j = 0; j < m->n; j++) {
		size_t src = ((size_t)j * m->hkv + h) * m->d;
		memcpy(k + (size_t)j * m->d, m->k + src, (size_t)m->d * sizeof(float));
		memcpy(v + (size_t)j * m->d, m->v + src, (size_t)m->d * sizeof(float));
	}
}

static double
max_norm(const float *v, int64_t n, int d)
{
	double best = 0.0;

	for (int64_t j = 0; j < n; j++) {
		double s = 0.0;
		for (int c = 0; c < d; c++)
			s += (double)v[j * d + c] * v[j * d + c];
		best = fmax(best, sqrt(s));
	}
	return best;
}

int
kvm_ref(const struct kvm *m, int hq, const float *q, int L, int64_t pos,
	float scale, double *o, double *vmax)
{
	int G = hq / m->hkv, d = m->d, err = 0;
	size_t nkv = (size_t)(m->n > 0 ? m->n : 1) * d;
	float *k = malloc(nkv * sizeof(float)), *v = malloc(nkv * sizeof(float));
	float *qh = malloc((size_t)L * G * d * sizeof(float));
	double *oh = malloc((size_t)L * G * d * sizeof(double));
	double *lse = malloc((size_t)L * G * sizeof(double));

	if (!k || !v || !qh || !oh || !lse) {
		err = -ENOMEM;
		goto out;
	}
	for (int h = 0; h < m->hkv && !err; h++) {
		struct attn_query qu = { .q = qh, .L = L, .G = G, .d = d,
					 .pos = pos, .scale = scale };

		head_kv(m, h, k, v);
		for (int i = 0; i < L; i++)
			memcpy(qh + (size_t)i * G * d,
			       q + ((size_t)i * hq + (size_t)h * G) * d,
			       (size_t)G * d * sizeof(float));
		err = ref64_attention(&qu, k, v, m->n, 0, oh, lse);
		for (int i = 0; i < L; i++)
			memcpy(o + ((size_t)i * hq + (size_t)h * G) * d,
			       oh + (size_t)i * G * d, (size_t)G * d * sizeof(double));
		if (vmax)
			vmax[h] = max_norm(v, m->n, d);
	}
out:
	free(k);
	free(v);
	free(qh);
	free(oh);
	free(lse);
	return err;
}

void
svch_config(struct svc_config *c, int workers, int64_t mem)
{
	svc_config_defaults(c);
	c->workers = workers;
	c->mem_bytes = mem;
}

int
svch_append(struct svc_client *cl, uint32_t seq, int layer, struct kvm *m,
	    struct rng *r, int64_t n)
{
	void *k, *v;
	size_t bytes;
	int err;

	kvm_grow(m, r, n, 1.0, &k, &v, &bytes);
	err = svc_kv_append(cl, seq, layer, n, k, v, bytes);
	if (err)
		kvm_truncate(m, n);
	free(k);
	free(v);
	return err;
}

void
svch_pools(struct svc *s, int64_t *pages, int64_t *slabs_free)
{
	struct svc_pool_stats st;

	*pages = *slabs_free = 0;
	for (int i = 0; i < svc_npools(s); i++) {
		svc_pool_stats(s, i, &st);
		*pages += st.pages;
		*slabs_free += st.slabs_free;
	}
}

double
svch_rel(const void *out, enum attn_dtype dt, const double *ref, size_t n)
{
	float *f = malloc(n * sizeof(float));
	double r;

	if (!f)
		abort();
	attn_to_f32(dt, out, f, n);
	r = ref64_rel_l2(f, ref, n);
	free(f);
	return r;
}
