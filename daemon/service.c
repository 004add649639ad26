/*
 * service.c - clients, models, sequences, quotas and attention requests
 * (see service.h).
 *
 * Locks, and what each protects (taken in this order; the last three are
 * leaves and never held together):
 *   cl.lock      a client's id tables, its sequences' page tables, lengths,
 *                busy counts and references, and its own reference count;
 *   cl.cb_lock   serializes the client's done callbacks (taken alone);
 *   svc.lock     the configuration's reloadable part (quotas, default
 *                policy), the uid accounts and the list of clients;
 *   sched.lock   queues and scheduler accounting (sched.c);
 *   pool.lock    one KV pool's slabs (kvstore.c).
 * Workers read a request's sequences without cl.lock: a sequence a request
 * references keeps a reference (it is not freed), its read layer's busy
 * count is up (no append or truncate changes that layer), and the request
 * was queued after those counts were raised under cl.lock and dequeued
 * under sched.lock, which orders the worker's reads after them.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/idtab.h"
#include "daemon/kvstore.h"
#include "daemon/model.h"
#include "daemon/sched.h"
#include "daemon/service.h"
#include "daemon/workers.h"

#define TASK_OVERHEAD 4096	/* bytes a task is charged beyond its KV */
#define APPEND_MAX ((int64_t)1 << 30)	/* tokens in one append */

/* One uid's usage, shared by its clients; under svc.lock. */
struct svc_acct {
	uid_t uid;
	int clients;
	int64_t kv_bytes, seqs, inflight;
	struct svc_acct *next;
};

struct svc {
	pthread_mutex_t lock;
	struct svc_config cfg;		/* uid_quotas points at our copy */
	struct attn_policy policy;	/* cfg.policy parsed */
	struct svc_acct *accts;
	struct svc_client *clients;
	struct kv_store *kv;
	struct sched sched;
	struct workers workers;
};

struct svc_seq {
	struct kv_seq kv;
	struct svc_model *m;
	int refs;		/* the id table's and one per request */
	int inflight;		/* requests reading it */
	int *busy;		/* [layers] requests reading each layer */
};

struct svc_client {
	struct svc *svc;
	struct svc_acct *acct;
	pthread_mutex_t lock;
	pthread_mutex_t cb_lock;
	struct idtab models, seqs;
	int refs;		/* attached (1) + requests in flight */
	void (*released)(void *);
	void *rel_arg;
	atomic_llong requests;	/* completed; relaxed: a statistic */
	int64_t used[3];	/* this client's share of acct's usage, by
				 * enum acct_kind; under svc.lock */
	struct sched_queue q;
	struct svc_client *next, **pprev;	/* svc.clients, svc.lock */
};

/*
 * An attend.  Task t is chunk c of KV head h of sequence b, numbered
 * t = first[b] + h * nch[b] + c; chunks 0 .. nch[b] - 2 cover the sparse
 * pages cp at a time, the last one is the dense window (host mode).  Each
 * task writes its own partial parts[t]; the last task of a (b, h) merges
 * them and writes the output rows.
 */
struct svc_req {
	struct sched_job job;		/* first: the scheduler's handle */
	struct svc_client *cl;
	struct svc_model *m;
	struct svc_attend a;		/* seqs and pos not used after submit */
	struct attn_policy pol;
	svc_done_fn done;
	void *cookie;
	int64_t cp;			/* pages per sparse chunk */
	/* [B] each: */
	struct svc_seq **seq;
	int64_t *len, *pos;
	int64_t *sparse;		/* sparse pages the queries can see */
	int *nch, *first;
	/* [ntasks] / [B * hkv], allocated by req_plan: */
	uint64_t *cost;
	struct wk_part *parts;
	atomic_int *left;		/* tasks not finished per (b, h) */
	atomic_int remaining;		/* tasks not finished */
	atomic_int status;		/* first error, 0 while none */
};

/* ---- configuration -------------------------------------------------- */

void
svc_config_defaults(struct svc_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mem_bytes = (int64_t)1 << 30;
	c->page = ATTN_PAGE_DEFAULT;
	c->chunk_pages = SVC_CHUNK_PAGES;
	c->worker_nice = SVC_WORKER_NICE;
	strcpy(c->policy, "full");
	c->quota.kv_bytes = (int64_t)1 << 30;
	c->quota.seqs = 1024;
	c->quota.inflight = 64;
}

static bool
quota_ok(const struct svc_quota *q)
{
	return q->kv_bytes > 0 && q->seqs > 0 && q->inflight > 0;
}

static int
check_uid_quotas(const struct svc_config *c)
{
	if (c->n_uid_quotas < 0 || (c->n_uid_quotas > 0 && !c->uid_quotas))
		return -EINVAL;
	for (int i = 0; i < c->n_uid_quotas; i++) {
		if (!quota_ok(&c->uid_quotas[i].q))
			return -EINVAL;
		for (int j = 0; j < i; j++)
			if (c->uid_quotas[j].uid == c->uid_quotas[i].uid)
				return -EINVAL;
	}
	return 0;
}

int
svc_config_check(const struct svc_config *c)
{
	struct attn_layout lo = { .d = 1, .P = c->page, .dt = ATTN_F32 };
	struct attn_policy p;
	int nodes = c->nodes > 0 ? c->nodes : 1;

	if (c->workers < 0 || c->workers > 1024 || c->worker_nice < 0 ||
	    c->worker_nice > 19 || c->nodes < 0 ||
	    c->nodes > 1024 || c->mem_bytes < (int64_t)KV_SLAB_BYTES * nodes ||
	    c->chunk_pages < 1 ||
	    attn_layout_check(&lo) || !memchr(c->policy, 0, sizeof(c->policy)) ||
	    attn_policy_parse(c->policy, &p) || !quota_ok(&c->quota))
		return -EINVAL;
	return check_uid_quotas(c);
}

/* Copies c->uid_quotas into *out (NULL when there are none). */
static int
copy_uid_quotas(const struct svc_config *c, struct svc_uid_quota **out)
{
	size_t n = (size_t)c->n_uid_quotas;

	*out = NULL;
	if (n == 0)
		return 0;
	*out = malloc(n * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	memcpy(*out, c->uid_quotas, n * sizeof(**out));
	return 0;
}

/* The limits of @uid; under svc.lock. */
static const struct svc_quota *
quota_of(const struct svc *s, uid_t uid)
{
	for (int i = 0; i < s->cfg.n_uid_quotas; i++)
		if (s->cfg.uid_quotas[i].uid == uid)
			return &s->cfg.uid_quotas[i].q;
	return &s->cfg.quota;
}

int
svc_reload(struct svc *s, const struct svc_config *c, unsigned *fixed)
{
	struct svc_uid_quota *uq;
	struct attn_policy p;
	unsigned f = 0;
	int err;

	err = svc_config_check(c);
	if (err)
		return err;
	err = copy_uid_quotas(c, &uq);
	if (err)
		return err;
	attn_policy_parse(c->policy, &p);
	pthread_mutex_lock(&s->lock);
	free((void *)s->cfg.uid_quotas);
	s->cfg.uid_quotas = uq;
	s->cfg.n_uid_quotas = c->n_uid_quotas;
	s->cfg.quota = c->quota;
	s->cfg.chunk_pages = c->chunk_pages;
	memcpy(s->cfg.policy, c->policy, sizeof(c->policy));
	s->policy = p;
	f |= c->workers != s->cfg.workers ? SVC_CFG_WORKERS : 0;
	f |= c->mem_bytes != s->cfg.mem_bytes ? SVC_CFG_MEM : 0;
	f |= c->nodes != s->cfg.nodes ? SVC_CFG_NODES : 0;
	f |= c->page != s->cfg.page ? SVC_CFG_PAGE : 0;
	f |= c->worker_nice != s->cfg.worker_nice ? SVC_CFG_NICE : 0;
	pthread_mutex_unlock(&s->lock);
	if (fixed)
		*fixed = f;
	return 0;
}

/* ---- quotas --------------------------------------------------------- */

enum acct_kind { ACCT_KV, ACCT_SEQS, ACCT_INFLIGHT };

static int64_t *
acct_field(struct svc_acct *a, enum acct_kind k)
{
	return k == ACCT_KV ? &a->kv_bytes : k == ACCT_SEQS ? &a->seqs : &a->inflight;
}

/* Charges @n units of @k to @cl's uid, or fails with the kind's errno. */
static int
acct_charge(struct svc_client *cl, enum acct_kind k, int64_t n)
{
	static const int err_of[] = { -ENOSPC, -EMFILE, -EAGAIN };
	struct svc *s = cl->svc;
	const struct svc_quota *q;
	int64_t *used, limit;
	int err = 0;

	pthread_mutex_lock(&s->lock);
	q = quota_of(s, cl->acct->uid);
	limit = k == ACCT_KV ? q->kv_bytes : k == ACCT_SEQS ? q->seqs : q->inflight;
	used = acct_field(cl->acct, k);
	if (n > limit - *used)
		err = err_of[k];
	else {
		*used += n;
		cl->used[k] += n;
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

static void
acct_release(struct svc_client *cl, enum acct_kind k, int64_t n)
{
	pthread_mutex_lock(&cl->svc->lock);
	*acct_field(cl->acct, k) -= n;
	cl->used[k] -= n;
	pthread_mutex_unlock(&cl->svc->lock);
}

int
svc_uid_usage(struct svc *s, uid_t uid, struct svc_usage *u)
{
	int err = -ENOENT;

	pthread_mutex_lock(&s->lock);
	for (struct svc_acct *a = s->accts; a; a = a->next)
		if (a->uid == uid) {
			u->kv_bytes = a->kv_bytes;
			u->seqs = a->seqs;
			u->inflight = a->inflight;
			u->limit = *quota_of(s, uid);
			err = 0;
		}
	pthread_mutex_unlock(&s->lock);
	return err;
}

/* ---- the service ---------------------------------------------------- */

int
svc_default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n <= 4 ? (int)n : (int)n - 2;
}

int
svc_workers(const struct svc_config *c)
{
	return c->workers ? c->workers : svc_default_workers();
}

int
svc_create(struct svc **out, const struct svc_config *cfg)
{
	struct svc *s;
	int err, n;

	err = svc_config_check(cfg);
	if (err)
		return err;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	attn_policy_parse(cfg->policy, &s->policy);
	err = copy_uid_quotas(cfg, (struct svc_uid_quota **)&s->cfg.uid_quotas);
	if (err)
		goto out_free;
	err = kv_store_create(&s->kv, cfg->nodes, cfg->mem_bytes);
	if (err)
		goto out_quotas;
	err = sched_init(&s->sched);
	if (err)
		goto out_kv;
	pthread_mutex_init(&s->lock, NULL);
	n = svc_workers(cfg);
	err = workers_start(&s->workers, &s->sched, n > 0 ? n : 1,
			    cfg->worker_nice);
	if (err)
		goto out_sched;
	*out = s;
	return 0;
out_sched:
	pthread_mutex_destroy(&s->lock);
	sched_fini(&s->sched);
out_kv:
	kv_store_destroy(s->kv);
out_quotas:
	free((void *)s->cfg.uid_quotas);
out_free:
	free(s);
	return err;
}

void
svc_destroy(struct svc *s)
{
	struct svc_client *cl;

	if (!s)
		return;
	svc_pause(s, false);
	svc_drain(s);
	/* Joining the workers also waits for their last done callbacks. */
	workers_stop(&s->workers);
	for (;;) {
		pthread_mutex_lock(&s->lock);
		cl = s->clients;
		pthread_mutex_unlock(&s->lock);
		if (!cl)
			break;
		svc_client_detach(cl, NULL, NULL);
	}
	sched_fini(&s->sched);
	kv_store_destroy(s->kv);
	pthread_mutex_destroy(&s->lock);
	free((void *)s->cfg.uid_quotas);
	free(s);
}

void
svc_drain(struct svc *s)
{
	sched_wait_idle(&s->sched);
}

void
svc_pause(struct svc *s, bool paused)
{
	sched_pause(&s->sched, paused);
}

int
svc_npools(const struct svc *s)
{
	return s->kv->npools;
}

int
svc_pool_stats(struct svc *s, int i, struct svc_pool_stats *st)
{
	return kv_store_stats(s->kv, i, st);
}

/* ---- clients -------------------------------------------------------- */

/* The account of @uid, created with the first client; under svc.lock. */
static struct svc_acct *
acct_get(struct svc *s, uid_t uid)
{
	struct svc_acct *a;

	for (a = s->accts; a; a = a->next)
		if (a->uid == uid)
			break;
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a)
			return NULL;
		a->uid = uid;
		a->next = s->accts;
		s->accts = a;
	}
	a->clients++;
	return a;
}

static void
acct_put(struct svc *s, struct svc_acct *a)
{
	struct svc_acct **pp;

	if (--a->clients)
		return;
	for (pp = &s->accts; *pp != a; pp = &(*pp)->next)
		;
	*pp = a->next;
	free(a);
}

int
svc_client_attach(struct svc *s, uid_t uid, struct svc_client **out)
{
	struct svc_client *cl = calloc(1, sizeof(*cl));

	if (!cl)
		return -ENOMEM;
	cl->svc = s;
	cl->refs = 1;
	pthread_mutex_init(&cl->lock, NULL);
	pthread_mutex_init(&cl->cb_lock, NULL);
	idtab_init(&cl->models);
	idtab_init(&cl->seqs);
	sched_queue_init(&cl->q);
	pthread_mutex_lock(&s->lock);
	cl->acct = acct_get(s, uid);
	if (cl->acct) {
		cl->next = s->clients;
		if (s->clients)
			s->clients->pprev = &cl->next;
		s->clients = cl;
		cl->pprev = &s->clients;
	}
	pthread_mutex_unlock(&s->lock);
	if (!cl->acct) {
		free(cl);
		return -ENOMEM;
	}
	*out = cl;
	return 0;
}

/* Frees @seq's pages and returns its quota; under cl.lock. */
static void
seq_put(struct svc_client *cl, struct svc_seq *seq)
{
	int64_t pages;

	if (--seq->refs)
		return;
	pages = kv_seq_release(cl->svc->kv, &seq->kv);
	acct_release(cl, ACCT_KV, pages * (int64_t)model_kv_page_bytes(seq->m));
	acct_release(cl, ACCT_SEQS, 1);
	free(seq->busy);
	free(seq);
}

/* The last reference is gone: free everything the client held. */
static void
client_free(struct svc_client *cl)
{
	struct svc *s = cl->svc;
	void (*released)(void *) = cl->released;
	void *arg = cl->rel_arg;

	pthread_mutex_lock(&cl->lock);
	for (uint32_t i = 0; i < cl->seqs.n; i++)
		if (idtab_at(&cl->seqs, i))
			seq_put(cl, idtab_at(&cl->seqs, i));
	for (uint32_t i = 0; i < cl->models.n; i++)
		free(idtab_at(&cl->models, i));
	pthread_mutex_unlock(&cl->lock);
	idtab_fini(&cl->seqs);
	idtab_fini(&cl->models);
	pthread_mutex_lock(&s->lock);
	*cl->pprev = cl->next;
	if (cl->next)
		cl->next->pprev = cl->pprev;
	acct_put(s, cl->acct);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_destroy(&cl->cb_lock);
	pthread_mutex_destroy(&cl->lock);
	free(cl);
	if (released)
		released(arg);
}

static void
client_put(struct svc_client *cl)
{
	bool last;

	pthread_mutex_lock(&cl->lock);
	last = --cl->refs == 0;
	pthread_mutex_unlock(&cl->lock);
	if (last)
		client_free(cl);
}

void
svc_client_detach(struct svc_client *cl, void (*released)(void *arg),
		  void *arg)
{
	if (!cl)
		return;
	pthread_mutex_lock(&cl->lock);
	cl->released = released;
	cl->rel_arg = arg;
	pthread_mutex_unlock(&cl->lock);
	/* Queued tasks are dropped (their requests complete -ECANCELED);
	 * running ones finish and drop their references. */
	sched_cancel(&cl->svc->sched, &cl->q);
	client_put(cl);
}

void
svc_client_usage(struct svc_client *cl, struct svc_client_usage *u)
{
	pthread_mutex_lock(&cl->lock);
	u->models = cl->models.count;
	pthread_mutex_unlock(&cl->lock);
	pthread_mutex_lock(&cl->svc->lock);
	u->kv_bytes = cl->used[ACCT_KV];
	u->seqs = cl->used[ACCT_SEQS];
	u->inflight = cl->used[ACCT_INFLIGHT];
	pthread_mutex_unlock(&cl->svc->lock);
}

void
svc_client_sched_stats(struct svc_client *cl, struct svc_sched_stats *st)
{
	sched_queue_stats(&cl->svc->sched, &cl->q, st);
	/* relaxed: a statistic, no data is published through it */
	st->requests = atomic_load_explicit(&cl->requests, memory_order_relaxed);
}

/* ---- models and sequences ------------------------------------------- */

int
svc_model_declare(struct svc_client *cl, const struct svc_model_desc *desc,
		  uint32_t *id)
{
	struct svc_model *m = malloc(sizeof(*m));
	int err;

	if (!m)
		return -ENOMEM;
	err = model_init(m, desc, cl->svc->cfg.page);
	if (err)
		goto out_free;
	pthread_mutex_lock(&cl->lock);
	err = cl->models.count >= SVC_MAX_MODELS ? -EMFILE :
	      idtab_add(&cl->models, m, id);
	pthread_mutex_unlock(&cl->lock);
	if (!err)
		return 0;
out_free:
	free(m);
	return err;
}

int
svc_model_shape(struct svc_client *cl, uint32_t model,
		struct svc_model_desc *d)
{
	struct svc_model *m;

	pthread_mutex_lock(&cl->lock);
	m = idtab_get(&cl->models, model);
	if (m)
		*d = (struct svc_model_desc){
			.layers = m->layers, .hq = m->hq, .hkv = m->hkv,
			.d = m->lo.d, .dt = m->lo.dt, .window = m->window,
			.page = m->lo.P, .scale = m->scale };
	pthread_mutex_unlock(&cl->lock);
	return m ? 0 : -ENOENT;
}

int
svc_seq_open(struct svc_client *cl, uint32_t model, uint32_t *id)
{
	struct svc_model *m;
	struct svc_seq *seq = NULL;
	int err;

	pthread_mutex_lock(&cl->lock);
	m = idtab_get(&cl->models, model);
	err = m ? acct_charge(cl, ACCT_SEQS, 1) : -ENOENT;
	if (err)
		goto out;
	seq = calloc(1, sizeof(*seq));
	err = seq ? kv_seq_init(&seq->kv, m) : -ENOMEM;
	if (err)
		goto out_charge;
	seq->m = m;
	seq->refs = 1;
	seq->busy = calloc((size_t)m->layers, sizeof(*seq->busy));
	err = seq->busy ? idtab_add(&cl->seqs, seq, id) : -ENOMEM;
	if (!err)
		goto out;
	free(seq->busy);
	kv_seq_release(cl->svc->kv, &seq->kv);
out_charge:
	free(seq);
	acct_release(cl, ACCT_SEQS, 1);
out:
	pthread_mutex_unlock(&cl->lock);
	return err;
}

int
svc_seq_close(struct svc_client *cl, uint32_t id)
{
	struct svc_seq *seq;

	pthread_mutex_lock(&cl->lock);
	seq = idtab_get(&cl->seqs, id);
	if (seq) {
		idtab_del(&cl->seqs, id);
		seq_put(cl, seq);	/* pages go when no request reads them */
	}
	pthread_mutex_unlock(&cl->lock);
	return seq ? 0 : -ENOENT;
}

int
svc_seq_truncate(struct svc_client *cl, uint32_t id, int64_t n)
{
	struct svc_seq *seq;
	int64_t pages;
	int err = 0;

	pthread_mutex_lock(&cl->lock);
	seq = idtab_get(&cl->seqs, id);
	if (!seq)
		err = -ENOENT;
	else if (n < 0)
		err = -EINVAL;
	for (int l = 0; !err && l < seq->m->layers; l++)
		if (seq->kv.len[l] < n)
			err = -ERANGE;
	if (!err && seq->inflight)
		err = -EBUSY;
	if (!err) {
		pages = kv_seq_truncate(cl->svc->kv, &seq->kv, n);
		acct_release(cl, ACCT_KV, pages * (int64_t)model_kv_page_bytes(seq->m));
	}
	pthread_mutex_unlock(&cl->lock);
	return err;
}

int
svc_seq_length(struct svc_client *cl, uint32_t id, int layer, int64_t *len)
{
	struct svc_seq *seq;
	int err = 0;

	pthread_mutex_lock(&cl->lock);
	seq = idtab_get(&cl->seqs, id);
	if (!seq)
		err = -ENOENT;
	else if (layer < 0 || layer >= seq->m->layers)
		err = -EINVAL;
	else
		*len = seq->kv.len[layer];
	pthread_mutex_unlock(&cl->lock);
	return err;
}

/* Checks an append against @seq; under cl.lock. */
static int
append_check(const struct svc_seq *seq, int layer, int64_t n,
	     const void *k, const void *v, size_t bytes)
{
	const struct svc_model *m = seq->m;

	if (layer < 0 || layer >= m->layers || n < 1 || n > APPEND_MAX ||
	    !k || !v || bytes != (size_t)n * m->hkv * m->tok_bytes)
		return -EINVAL;
	return seq->busy[layer] ? -EBUSY : 0;
}

int
svc_kv_append(struct svc_client *cl, uint32_t id, int layer, int64_t n,
	      const void *k, const void *v, size_t bytes)
{
	struct svc_seq *seq;
	int64_t charge = 0;
	int err;

	pthread_mutex_lock(&cl->lock);
	seq = idtab_get(&cl->seqs, id);
	err = seq ? append_check(seq, layer, n, k, v, bytes) : -ENOENT;
	if (err)
		goto out;
	charge = kv_seq_pages_needed(&seq->kv, layer, n) *
		 (int64_t)model_kv_page_bytes(seq->m);
	err = acct_charge(cl, ACCT_KV, charge);
	if (err)
		goto out;
	err = kv_seq_append(cl->svc->kv, &seq->kv, layer, n, k, v);
	if (err)
		acct_release(cl, ACCT_KV, charge);
out:
	pthread_mutex_unlock(&cl->lock);
	return err;
}

/* ---- attention requests --------------------------------------------- */

#define PARTS_MAX ((size_t)64 << 20)	/* bytes of partials per request */

static int req_run(struct sched_job *j, int t, void *wctx, uint64_t *bytes);
static void req_finish(struct sched_job *j, int t, int n, int status);

static const struct sched_job_ops req_ops = {
	.run = req_run,
	.finish = req_finish,
};

/* Checks what needs no lookup. */
static int
attend_check(const struct svc_attend *a)
{
	if (!a || a->B < 1 || a->B > SVC_MAX_BATCH || !a->seqs || a->L < 1 ||
	    a->L > ATTN_MAX_QLEN || !a->q || !a->out ||
	    (a->out_dt != ATTN_F32 && a->out_dt != ATTN_BF16) ||
	    (a->policy && attn_policy_check(a->policy)))
		return -EINVAL;
	return 0;
}

static struct svc_req *
req_alloc(int B)
{
	size_t per = sizeof(struct svc_seq *) + 3 * sizeof(int64_t) + 2 * sizeof(int);
	struct svc_req *r = calloc(1, sizeof(*r) + (size_t)B * per);

	if (!r)
		return NULL;
	r->seq = (struct svc_seq **)(r + 1);
	r->len = (int64_t *)(r->seq + B);
	r->pos = r->len + B;
	r->sparse = r->pos + B;
	r->nch = (int *)(r->sparse + B);
	r->first = r->nch + B;
	r->job.ops = &req_ops;
	return r;
}

static void
req_free(struct svc_req *r)
{
	if (!r)
		return;
	free(r->cost);
	free(r->parts);
	free(r->left);
	free(r);
}

/* Resolves the request's sequences and positions; under cl.lock. */
static int
req_bind(struct svc_client *cl, struct svc_req *r, const struct svc_attend *a)
{
	for (int b = 0; b < a->B; b++) {
		struct svc_seq *seq = idtab_get(&cl->seqs, a->seqs[b]);
		struct wk_task t = { .m = r->m, .L = a->L };

		if (!seq)
			return -ENOENT;
		if (seq->m != r->m)
			return -EINVAL;
		r->seq[b] = seq;
		r->len[b] = seq->kv.len[a->layer];
		r->pos[b] = a->pos ? a->pos[b] : r->len[b] - a->L;
		if (r->pos[b] < 0 || r->pos[b] > r->len[b] - a->L)
			return -ERANGE;
		t.len = r->len[b];
		t.pos = r->pos[b];
		r->sparse[b] = kv_window_first(r->m, t.len);
		if (r->sparse[b] > wk_visible_pages(&t))
			r->sparse[b] = wk_visible_pages(&t);
	}
	return 0;
}

/* Whether the policy's selection survives cutting the part in chunks. */
static bool
chunkable(const struct attn_policy *p)
{
	return p->budget == 0 && p->kind != ATTN_POLICY_TOPK;
}

/* Chunks per head and task numbering for chunks of r->cp pages. */
static size_t
req_count(struct svc_req *r)
{
	size_t n = 0;

	for (int b = 0; b < r->a.B; b++) {
		r->nch[b] = (int)((r->sparse[b] + r->cp - 1) / r->cp) + 1;
		r->first[b] = (int)n;
		n += (size_t)r->nch[b] * r->m->hkv;
	}
	return n;
}

/* Cuts the request into tasks and allocates their partials. */
static int
req_plan(struct svc_req *r, int64_t chunk_pages)
{
	const struct svc_model *m = r->m;
	size_t rows = (size_t)r->a.L * m->G, n;
	size_t fl = (rows * ((size_t)m->lo.d + 1) * sizeof(float) + 63) & ~(size_t)63;
	size_t per = fl + ((rows * sizeof(struct attn_row_stats) + 63) & ~(size_t)63);
	char *buf;

	r->cp = chunkable(&r->pol) ? chunk_pages : INT64_MAX / 2;
	while ((n = req_count(r)) * per > PARTS_MAX && n > (size_t)r->a.B * m->hkv * 2)
		r->cp *= 2;	/* bound the partials' memory */
	if (n > INT32_MAX)
		return -ENOMEM;
	r->cost = malloc(n * sizeof(*r->cost));
	r->parts = malloc(n * sizeof(*r->parts) + n * per);
	r->left = malloc((size_t)r->a.B * m->hkv * sizeof(*r->left));
	if (!r->cost || !r->parts || !r->left)
		return -ENOMEM;
	buf = (char *)(r->parts + n);
	for (size_t t = 0; t < n; t++, buf += per) {
		r->parts[t].o = (float *)buf;
		r->parts[t].lse = r->parts[t].o + rows * m->lo.d;
		r->parts[t].st = (struct attn_row_stats *)(buf + fl);
	}
	r->job.ntasks = (int)n;
	r->job.cost = r->cost;
	return 0;
}

/* Task t's sequence, head, page range and policy. */
static void
req_locate(const struct svc_req *r, int t, int *b, int *h, int64_t *from,
	   int64_t *to, bool *window)
{
	int lo = 0, hi = r->a.B - 1, c;

	while (lo < hi) {	/* the last sequence whose first task <= t */
		int mid = (lo + hi + 1) / 2;
		if (r->first[mid] <= t)
			lo = mid;
		else
			hi = mid - 1;
	}
	*b = lo;
	*h = (t - r->first[lo]) / r->nch[lo];
	c = (t - r->first[lo]) % r->nch[lo];
	*window = c == r->nch[lo] - 1;
	if (*window) {
		struct wk_task wt = { .m = r->m, .len = r->len[lo],
				      .pos = r->pos[lo], .L = r->a.L };
		*from = kv_window_first(r->m, r->len[lo]);
		*to = wk_visible_pages(&wt);
	} else {
		*from = c * r->cp;
		*to = *from + r->cp < r->sparse[lo] ? *from + r->cp : r->sparse[lo];
	}
}

/* Estimated bytes of each task: the K and V pages it can see. */
static void
req_costs(struct svc_req *r)
{
	int64_t from, to;
	bool window;
	int b, h;

	for (int t = 0; t < r->job.ntasks; t++) {
		req_locate(r, t, &b, &h, &from, &to, &window);
		r->cost[t] = (uint64_t)(to > from ? to - from : 0) *
			     model_kv_page_bytes(r->m) + TASK_OVERHEAD;
	}
	for (int i = 0; i < r->a.B * r->m->hkv; i++)
		atomic_init(&r->left[i], r->nch[i / r->m->hkv]);
}

/* Takes the request's references (sequences, client); under cl.lock. */
static void
req_hold(struct svc_client *cl, struct svc_req *r)
{
	for (int b = 0; b < r->a.B; b++) {
		r->seq[b]->refs++;
		r->seq[b]->inflight++;
		r->seq[b]->busy[r->a.layer]++;
	}
	cl->refs++;
}

/* The policy of the request and the chunk size in force now. */
static int64_t
req_policy(struct svc_client *cl, struct svc_req *r, const struct svc_attend *a)
{
	int64_t cp;

	pthread_mutex_lock(&cl->svc->lock);
	if (a->policy)
		r->pol = *a->policy;
	else if (r->m->has_policy)
		r->pol = r->m->policy;
	else
		r->pol = cl->svc->policy;
	cp = cl->svc->cfg.chunk_pages;
	pthread_mutex_unlock(&cl->svc->lock);
	return cp;
}

/* Looks everything up and plans the tasks; under cl.lock. */
static int
req_prepare(struct svc_client *cl, const struct svc_attend *a,
	    struct svc_req **out)
{
	struct svc_model *m = idtab_get(&cl->models, a->model);
	struct svc_req *r;
	int err;

	if (!m)
		return -ENOENT;
	if (a->layer < 0 || a->layer >= m->layers)
		return -EINVAL;
	r = req_alloc(a->B);
	if (!r)
		return -ENOMEM;
	r->cl = cl;
	r->m = m;
	r->a = *a;
	err = req_bind(cl, r, a);
	err = err ? err : req_plan(r, req_policy(cl, r, a));
	if (err) {
		req_free(r);
		return err;
	}
	req_costs(r);
	*out = r;
	return 0;
}

int
svc_attend_submit(struct svc_client *cl, const struct svc_attend *a,
		  svc_done_fn done, void *cookie)
{
	struct svc_req *r = NULL;
	int err;

	err = attend_check(a);
	if (err)
		return err;
	pthread_mutex_lock(&cl->lock);
	err = req_prepare(cl, a, &r);
	if (!err)
		err = acct_charge(cl, ACCT_INFLIGHT, 1);
	if (!err)
		req_hold(cl, r);
	pthread_mutex_unlock(&cl->lock);
	if (err) {
		req_free(r);
		return err;
	}
	r->done = done;
	r->cookie = cookie;
	atomic_init(&r->remaining, r->job.ntasks);
	atomic_init(&r->status, 0);
	sched_submit(&cl->svc->sched, &cl->q, &r->job);
	return 0;
}

static void
req_task(const struct svc_req *r, int b, int h, struct wk_task *t)
{
	const struct svc_model *m = r->m;

	*t = (struct wk_task){
		.m = m,
		.seq = &r->seq[b]->kv,
		.layer = r->a.layer,
		.head = h,
		.len = r->len[b],
		.pos = r->pos[b],
		.L = r->a.L,
		.q = r->a.q + (size_t)b * r->a.L * m->hq * m->lo.d,
	};
}

static int
req_run(struct sched_job *j, int t, void *wctx, uint64_t *bytes)
{
	static const struct attn_policy full = { .kind = ATTN_POLICY_FULL };
	struct svc_req *r = (struct svc_req *)j;
	struct wk_task task;
	int64_t from, to;
	bool window;
	int b, h;

	req_locate(r, t, &b, &h, &from, &to, &window);
	req_task(r, b, h, &task);
	return wk_partial(wctx, &task, from, to, window ? &full : &r->pol,
			  &r->parts[t], bytes);
}

/* All chunks of (b, h) are done: merge them and write its rows. */
static void
req_emit(struct svc_req *r, int b, int h)
{
	const struct svc_model *m = r->m;
	size_t rows = (size_t)b * r->a.L * m->hq;
	struct wk_task task;

	req_task(r, b, h, &task);
	wk_merge(&task, &r->parts[r->first[b] + h * r->nch[b]], r->nch[b]);
	wk_emit(&task, &r->parts[r->first[b] + h * r->nch[b]],
		(char *)r->a.out + rows * m->lo.d * attn_dtype_size(r->a.out_dt),
		r->a.out_dt, r->a.stats ? r->a.stats + rows : NULL);
}

/* The last task is done: drop the references, then tell the submitter. */
static void
req_complete(struct svc_req *r)
{
	struct svc_client *cl = r->cl;
	/* acquire: pairs with the release of every task's fetch_sub in
	 * req_finish, so all their status stores and outputs are seen */
	int status = atomic_load_explicit(&r->status, memory_order_acquire);

	pthread_mutex_lock(&cl->lock);
	for (int b = 0; b < r->a.B; b++) {
		r->seq[b]->busy[r->a.layer]--;
		r->seq[b]->inflight--;
		seq_put(cl, r->seq[b]);
	}
	pthread_mutex_unlock(&cl->lock);
	acct_release(cl, ACCT_INFLIGHT, 1);
	/* relaxed: a statistic */
	atomic_fetch_add_explicit(&cl->requests, 1, memory_order_relaxed);
	if (r->done) {
		pthread_mutex_lock(&cl->cb_lock);
		r->done(r->cookie, status);
		pthread_mutex_unlock(&cl->cb_lock);
	}
	req_free(r);
	client_put(cl);
}

static void
req_finish(struct sched_job *j, int t, int n, int status)
{
	struct svc_req *r = (struct svc_req *)j;
	int zero = 0, b, h;
	int64_t from, to;
	bool window;

	if (status)	/* relaxed: published by the releases below */
		atomic_compare_exchange_strong_explicit(&r->status, &zero, status,
							memory_order_relaxed,
							memory_order_relaxed);
	if (t >= 0) {
		req_locate(r, t, &b, &h, &from, &to, &window);
		/* acq_rel: releases this chunk's partial to the last chunk of
		 * (b, h) and acquires the others' when this is the last */
		if (atomic_fetch_sub_explicit(&r->left[b * r->m->hkv + h], 1,
					      memory_order_acq_rel) == 1)
			req_emit(r, b, h);
	}
	/* acq_rel: releases this task's outputs and status to the task that
	 * finishes last, and acquires theirs when it is this one (pairs with
	 * the same operation in the other tasks and req_complete's load). */
	if (atomic_fetch_sub_explicit(&r->remaining, n, memory_order_acq_rel) == n)
		req_complete(r);
}

/* ---- the synchronous form ------------------------------------------- */

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int status;
};

static void
waiter_done(void *cookie, int status)
{
	struct waiter *w = cookie;

	pthread_mutex_lock(&w->lock);
	w->status = status;
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int
svc_attend(struct svc_client *cl, const struct svc_attend *a)
{
	struct waiter w = { .lock = PTHREAD_MUTEX_INITIALIZER,
			    .cond = PTHREAD_COND_INITIALIZER };
	int err;

	err = svc_attend_submit(cl, a, waiter_done, &w);
	if (err)
		return err;
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return w.status;
}

void
svc_set_worker_spin(struct svc *s, uint64_t spin_ns)
{
	sched_set_spin(&s->sched, spin_ns);
}

void
svc_default_policy(struct svc *s, char *buf, size_t len)
{
	pthread_mutex_lock(&s->lock);
	snprintf(buf, len, "%s", s->cfg.policy);
	pthread_mutex_unlock(&s->lock);
}
