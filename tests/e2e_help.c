/* e2e_help.c - see e2e_help.h. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/e2e_help.h"
#include "tests/ref64.h"

int
e2e_declare(struct hgca *h, struct e2e_model *m)
{
	return hgca_model_declare(h, &m->m, &m->id);
}

int
e2e_open(struct hgca *h, const struct e2e_model *m, struct e2e_seq *s)
{
	int rc = hgca_seq_open(h, m->id, &s->id);

	if (rc < 0)
		return rc;
	s->layers = (int)m->m.layers;
	s->kv = calloc((size_t)s->layers, sizeof(*s->kv));
	if (!s->kv)
		return -ENOMEM;
	for (int l = 0; l < s->layers; l++)
		kvm_init(&s->kv[l], (int)m->m.hkv, (int)m->m.d,
			 (enum attn_dtype)m->m.kv_dtype);
	return 0;
}

int
e2e_close(struct hgca *h, struct e2e_seq *s)
{
	int rc = hgca_seq_close(h, s->id);

	for (int l = 0; l < s->layers; l++)
		kvm_free(&s->kv[l]);
	free(s->kv);
	s->kv = NULL;
	return rc;
}

int
e2e_append(struct hgca *h, struct e2e_seq *s, int layer, struct rng *r,
	   int64_t n, double ksig)
{
	int rc = 0;

	for (int l = layer < 0 ? 0 : layer;
	     l < (layer < 0 ? s->layers : layer + 1) && rc == 0; l++) {
		void *k, *v;
		size_t bytes;

		kvm_grow(&s->kv[l], r, n, ksig, &k, &v, &bytes);
		rc = hgca_kv_append(h, s->id, (uint32_t)l, (uint64_t)n, k, v);
		if (rc < 0)	/* keep the mirror as the service is */
			kvm_truncate(&s->kv[l], n);
		free(k);
		free(v);
	}
	return rc;
}

int
e2e_truncate(struct hgca *h, struct e2e_seq *s, int64_t n)
{
	int rc = hgca_seq_truncate(h, s->id, (uint64_t)n);

	for (int l = 0; rc == 0 && l < s->layers; l++)
		kvm_truncate(&s->kv[l], n);
	return rc;
}

/* Compare one sequence's rows with the reference. */
static void
compare(const struct e2e_model *m, const struct kvm *kv, const float *q,
	const void *out, const struct hgca_head_stats *st,
	const struct e2e_ask *ask, int64_t pos, bool exact,
	struct e2e_result *res)
{
	int hq = (int)m->m.hq, d = (int)m->m.d, G = hq / (int)m->m.hkv;
	size_t per = (size_t)ask->L * hq * d;
	enum attn_dtype odt = (enum attn_dtype)ask->out_dt;
	float scale = m->m.scale > 0 ? m->m.scale : 1.0f / sqrtf((float)d);
	double *ref = malloc(per * sizeof(double)), vmax[1024];
	float row[512];

	kvm_ref(kv, hq, q, ask->L, pos, scale, ref, vmax);
	res->rel = fmax(res->rel, svch_rel(out, odt, ref, per));
	for (int r = 0; r < ask->L * hq; r++) {
		const struct hgca_head_stats *s = &st[r];
		int i = r / hq, kh = (r % hq) / G;
		double e = 0.0, tol = odt == ATTN_BF16 ? E2E_TOL_BF16 : 1e-5;

		attn_to_f32(odt, (const char *)out + (size_t)r * d *
			    attn_dtype_size(odt), row, (size_t)d);
		for (int c = 0; c < d; c++)
			e += pow(row[c] - ref[(size_t)r * d + c], 2);
		e = sqrt(e) - 2.0 * s->delta * vmax[kh] - tol * (vmax[kh] + 1.0);
		res->excess = fmax(res->excess, e);
		res->max_delta = fmax(res->max_delta, s->delta);
		res->max_entries = s->entries > res->max_entries ?
				   s->entries : res->max_entries;
		res->max_bytes = s->bytes > res->max_bytes ? s->bytes
							   : res->max_bytes;
		if (exact)
			res->stats_bad += s->entries != pos + i + 1 ||
					  s->delta != 0.0 || s->bytes <= 0;
	}
	free(ref);
}

static bool
is_exact(const struct e2e_model *m, const struct e2e_ask *ask)
{
	const char *p = ask->policy ? ask->policy : m->m.policy;

	return !p || strcmp(p, "full") == 0;
}

void
e2e_req_make(struct e2e_req *q, const struct e2e_model *m,
	     struct e2e_seq *const *seqs, int B, const struct e2e_ask *ask,
	     struct rng *r)
{
	size_t per = (size_t)ask->L * m->m.hq * m->m.d;
	size_t rows = (size_t)ask->L * m->m.hq;
	size_t es = ask->out_dt == HGCA_DTYPE_F32 ? 4 : 2;

	memset(q, 0, sizeof(*q));
	q->m = m;
	q->ask = *ask;
	q->q = malloc((size_t)B * per * sizeof(float));
	q->out = calloc((size_t)B * per, es);
	q->st = calloc((size_t)B * rows, sizeof(*q->st));
	ref64_fill_normal(r, q->q, (size_t)B * per,
			  ask->qsig > 0 ? ask->qsig : 1.0);
	for (int b = 0; b < B; b++) {
		q->seqs[b] = seqs[b];
		q->ids[b] = seqs[b]->id;
		q->pos[b] = ask->pos[b] >= 0 ? ask->pos[b] :
			    seqs[b]->kv[ask->layer].n - ask->L;
	}
	q->a = (struct hgca_attend){
		.model = m->id, .layer = (uint32_t)ask->layer,
		.nseq = (uint32_t)B, .qlen = (uint32_t)ask->L, .seqs = q->ids,
		.pos = q->pos, .q = q->q, .out = q->out,
		.out_dtype = ask->out_dt, .stats = q->st,
		.policy = ask->policy };
}

void
e2e_req_check(const struct e2e_req *q, int err, struct e2e_result *res)
{
	size_t per = (size_t)q->ask.L * q->m->m.hq * q->m->m.d;
	size_t rows = (size_t)q->ask.L * q->m->m.hq;
	size_t es = q->ask.out_dt == HGCA_DTYPE_F32 ? 4 : 2;

	memset(res, 0, sizeof(*res));
	res->err = err;
	res->exact = is_exact(q->m, &q->ask);
	for (uint32_t b = 0; b < q->a.nseq && !err; b++)
		compare(q->m, &q->seqs[b]->kv[q->ask.layer], q->q + b * per,
			q->out + b * per * es, q->st + b * rows, &q->ask,
			q->pos[b], res->exact, res);
}

void
e2e_req_free(struct e2e_req *q)
{
	free(q->q);
	free(q->out);
	free(q->st);
	q->q = NULL;
	q->out = NULL;
	q->st = NULL;
}

int
e2e_attend(struct hgca *h, const struct e2e_model *m,
	   struct e2e_seq *const *seqs, int B, const struct e2e_ask *ask,
	   struct rng *r, struct e2e_result *res)
{
	struct e2e_req q;

	e2e_req_make(&q, m, seqs, B, ask, r);
	e2e_req_check(&q, hgca_attend(h, &q.a), res);
	e2e_req_free(&q);
	return res->err;
}

bool
e2e_pass(const struct e2e_result *res, const struct e2e_ask *ask)
{
	double tol = ask->out_dt == HGCA_DTYPE_BF16 ? E2E_TOL_BF16 : E2E_TOL_F32;

	if (res->err)
		return false;
	if (res->exact)
		return res->rel <= tol && res->stats_bad == 0;
	return res->excess <= 0.0;
}

void
e2e_fold(struct e2e_result *w, const struct e2e_result *r)
{
	if (!w->err)
		w->err = r->err;
	w->rel = fmax(w->rel, r->rel);
	w->excess = fmax(w->excess, r->excess);
	w->max_delta = fmax(w->max_delta, r->max_delta);
	w->max_entries = r->max_entries > w->max_entries ? r->max_entries
							 : w->max_entries;
	w->max_bytes = r->max_bytes > w->max_bytes ? r->max_bytes
						   : w->max_bytes;
	w->stats_bad += r->stats_bad;
}

int
e2e_pool(struct hgca *ctl, uint64_t *pages, uint64_t *slabs_free)
{
	struct hgca_status st;
	int rc = hgca_admin_status(ctl, &st);

	if (rc == 0) {
		*pages = st.kv_pages;
		*slabs_free = st.kv_slabs_free;
	}
	return rc;
}

/* ---- the neighbour ---- */

static int
neighbour_main(const char *sock, uint64_t seed, struct e2e_shared *sh)
{
	struct e2e_model m = { .m = { .layers = 2, .hq = 4, .hkv = 2, .d = 32,
				      .kv_dtype = HGCA_DTYPE_BF16,
				      .window = 64, .page = 16 } };
	struct e2e_ask a = { .pos = { -1 }, .L = 1, .out_dt = HGCA_DTYPE_F32 };
	struct e2e_seq seq, *s = &seq;
	struct e2e_result res;
	struct hgca *h;
	struct rng r;
	int rc;

	rng_seed(&r, seed);
	rc = hgca_connect(sock, &h);
	if (rc == 0 && (rc = e2e_declare(h, &m)) == 0 &&
	    (rc = e2e_open(h, &m, s)) == 0)
		rc = e2e_append(h, s, -1, &r, 300, 1.0);
	atomic_store(&sh->setup, rc < 0 ? rc : 1);
	if (rc < 0)
		return 1;
	for (int t = 0; !atomic_load(&sh->stop); t++) {
		if (s->kv[0].n > 1200)	/* keep the reference cheap */
			rc = e2e_truncate(h, s, 900);
		rc = rc ? rc : e2e_append(h, s, -1, &r, 1, 1.0);
		a.layer = t % 2;
		if (rc == 0)
			e2e_attend(h, &m, &s, 1, &a, &r, &res);
		if (rc < 0 || !e2e_pass(&res, &a))
			atomic_fetch_add(&sh->bad, 1);
		atomic_fetch_add(&sh->steps, 1);
		rc = 0;
	}
	e2e_close(h, s);
	hgca_disconnect(h);
	return 0;
}

int
e2e_neighbour_start(struct e2e_neighbour *n, const char *sock, uint64_t seed)
{
	n->sh = mmap(NULL, sizeof(*n->sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (n->sh == MAP_FAILED)
		return -errno;
	memset(n->sh, 0, sizeof(*n->sh));
	fflush(stdout);
	n->pid = fork();
	if (n->pid < 0)
		return -errno;
	if (n->pid == 0)
		_exit(neighbour_main(sock, seed, n->sh));
	for (int i = 0; i < 2000 && !atomic_load(&n->sh->setup); i++)
		usleep(5000);
	return atomic_load(&n->sh->setup) == 1 ? 0 : -EIO;
}

long
e2e_neighbour_steps(const struct e2e_neighbour *n)
{
	return atomic_load(&n->sh->steps);
}

bool
e2e_neighbour_moves(const struct e2e_neighbour *n, long more, int ms)
{
	long want = e2e_neighbour_steps(n) + more;

	for (int i = 0; i < ms; i++) {
		if (e2e_neighbour_steps(n) >= want)
			return true;
		usleep(1000);
	}
	return e2e_neighbour_steps(n) >= want;
}

long
e2e_neighbour_stop(struct e2e_neighbour *n, long *bad)
{
	long steps;

	atomic_store(&n->sh->stop, 1);
	waitpid(n->pid, NULL, 0);
	steps = atomic_load(&n->sh->steps);
	*bad = atomic_load(&n->sh->bad);
	munmap(n->sh, sizeof(*n->sh));
	return steps;
}

int
e2e_rewrite_conf(const struct td *d, const char *extra)
{
	FILE *f = fopen(d->conf, "w");

	if (!f)
		return -errno;
	fprintf(f, "# rewritten by the test\nsocket = %s\nsocket_mode = 0666\n"
		"log_level = debug\n%s\n", d->sock, extra ? extra : "");
	return fclose(f) == 0 ? 0 : -EIO;
}
