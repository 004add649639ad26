/*
 * svc_help.h - helpers of the service tests: a test-side mirror of one
 * (sequence, layer)'s KV in fp32 (the values rounded through the KV dtype,
 * so the float64 reference sees exactly what the service stores), and the
 * float64 GQA reference over it.
 */
#ifndef HGCA_TESTS_SVC_HELP_H
#define HGCA_TESTS_SVC_HELP_H

#include <stddef.h>
#include <stdint.h>

#include "attn/attn.h"
#include "attn/rng.h"
#include "daemon/service.h"

struct kvm {
	int hkv, d;
	enum attn_dtype dt;
	int64_t n, cap;
	float *k, *v;		/* [n][hkv][d] */
};

void kvm_init(struct kvm *m, int hkv, int d, enum attn_dtype dt);
void kvm_free(struct kvm *m);

/*
 * kvm_grow - @n new random tokens (K ~ N(0, ksig^2), V ~ N(0, 1)), kept in
 * the mirror and returned in the KV dtype as *k, *v [n][hkv][d] (malloc'd,
 * the caller frees), *bytes long each.
 */
void kvm_grow(struct kvm *m, struct rng *r, int64_t n, double ksig,
	      void **k, void **v, size_t *bytes);
void kvm_truncate(struct kvm *m, int64_t n);

/*
 * kvm_ref - float64 attention of queries q [L][hq][d] at position @pos over
 * the mirror, into o [L][hq][d]; vmax[hkv] (if not NULL) receives each KV
 * head's largest ||v||_2.  Returns 0 or -ENOMEM.
 */
int kvm_ref(const struct kvm *m, int hq, const float *q, int L, int64_t pos,
	    float scale, double *o, double *vmax);

/* svc_config_defaults with @workers workers and @mem bytes of pools. */
void svch_config(struct svc_config *c, int workers, int64_t mem);

/* Append through the service what kvm_grow made: svc_kv_append's result. */
int svch_append(struct svc_client *cl, uint32_t seq, int layer, struct kvm *m,
		struct rng *r, int64_t n);

/* Pages in use and free slabs of every pool, summed. */
void svch_pools(struct svc *s, int64_t *pages, int64_t *slabs_free);

/* Relative L2 error of out (f32 or bf16) against ref, @n values. */
double svch_rel(const void *out, enum attn_dtype dt, const double *ref, size_t n);

#endif /* HGCA_TESTS_SVC_HELP_H */
