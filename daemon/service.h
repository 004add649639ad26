/*
 * service.h - the attention service's core inside hgcad (DESIGN.md sections
 * 3, 6-8): clients, models, sequences, the KV store, quotas, and attention
 * requests run by the scheduler's worker threads.  The transport's opcode
 * handlers call one function here per opcode; nothing here knows about
 * sockets, rings or the wire format.
 *
 * Ownership, once: the service owns every object it hands out an id or a
 * handle for (clients, models, sequences, KV pages) and frees them itself;
 * callers own every buffer they pass in.  Buffers given to
 * svc_attend_submit (queries, outputs, stats) are borrowed until the
 * request's done callback returns; every other call copies what it needs
 * before returning.
 *
 * Threads: calls on one svc_client are made by one thread at a time (the
 * transport's handler for that client); different clients may be driven
 * from different threads at once.  Worker threads run requests and call
 * done callbacks.  Calls that can fail return 0 or a negative errno.
 *
 * Errors a correct client can cause (DESIGN.md section 4's first row):
 *   -EINVAL  a field out of range or not matching the model (sizes, layer,
 *            dtype, query length, batch, bad policy);
 *   -ENOENT  unknown or closed model or sequence id;
 *   -ERANGE  positions beyond the sequence (query rows past its last key,
 *            truncating more tokens than it has);
 *   -EBUSY   truncating a sequence, or appending to a layer of it, while an
 *            attend that reads it is in flight;
 *   -ENOSPC  the uid's KV byte quota, or the KV pools, are exhausted;
 *   -EMFILE  the uid's sequence quota (or the per-client model limit);
 *   -EAGAIN  the uid's in-flight request quota: wait for a completion.
 * None of them changes any state.
 */
#ifndef HGCA_DAEMON_SERVICE_H
#define HGCA_DAEMON_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "attn/attn.h"
#include "attn/paged.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SVC_MAX_MODELS 64	/* per client */
#define SVC_MAX_LAYERS 1024
#define SVC_MAX_HEADS 1024	/* Hq */
#define SVC_MAX_BATCH 1024	/* sequences per attend */
#define SVC_POLICY_MAX 64	/* bytes of a policy string, NUL included */
/* chunk_pages's default: on a 16-core host with 14 workers, a short step
 * beside a long client took 1.2-1.3x its time alone with 32 (2.1x with
 * 64, 1.1x with 16 but 20% less bandwidth). */
#define SVC_CHUNK_PAGES 32
/* worker_nice's default in svc_config_defaults.  A positive niceness makes
 * the workers' bulk work yield the CPU at once to the pollers and clients,
 * whose short bursts gate every request. */
#define SVC_WORKER_NICE 0
/* hgcad.conf's `worker_nice = auto' (its default): SVC_WORKER_NICE_SHARED
 * when the workers and the pollers outnumber the CPUs hgcad may run on, so
 * that a poller never waits behind a worker for a core, else 0.  On 2 cores
 * (2 workers, 1 poller) a 2K-token client's step beside a 128K-token client
 * took 1.70-2.00x its time alone at niceness 5, 1.78-1.99x at 10 and
 * 1.98-2.42x at 0 (bench/service, 5 runs of each), with no loss of
 * throughput outside the noise.  5, not 10: a client that computes on the
 * same cores (tests/e2e_fair's float64 references under ASan) left a long
 * client 441-517 MB of scanning at 5, 378-392 MB at 10 and 636-842 MB at 0. */
#define SVC_WORKER_NICE_AUTO (-1)
#define SVC_WORKER_NICE_SHARED 5

/* ---- configuration -------------------------------------------------- */

/* Per-uid limits; every field > 0.  Shared by all clients of the uid. */
struct svc_quota {
	int64_t kv_bytes;	/* K+V page bytes held */
	int64_t seqs;		/* open sequences */
	int64_t inflight;	/* attend requests submitted and not done */
};

struct svc_uid_quota {
	uid_t uid;
	struct svc_quota q;
};

/*
 * What the daemon's configuration file sets for the service.  Fields marked
 * (reload) take effect on svc_reload; the others only at svc_create.
 */
struct svc_config {
	int workers;		/* worker threads, 1..1024; 0 = online CPUs */
	int worker_nice;	/* their niceness, 0..19 (SVC_WORKER_NICE) */
	int64_t mem_bytes;	/* KV pool memory over all nodes */
	int nodes;		/* pools, one per node 0..nodes-1; 0 = one
				 * pool not bound to any node */
	int page;		/* default tokens per page (attn_layout.P) */
	int chunk_pages;	/* (reload) pages of one task at most, >= 1: a
				 * long context is cut into tasks this long so
				 * that it cannot hold a worker for long */
	char policy[SVC_POLICY_MAX];	/* (reload) default policy text */
	struct svc_quota quota;		/* (reload) for uids not listed */
	const struct svc_uid_quota *uid_quotas;	/* (reload) [n_uid_quotas],
						 * copied by the service */
	int n_uid_quotas;
};

/* Flags of svc_reload's @fixed: fields that differ but need a restart. */
#define SVC_CFG_WORKERS 0x1
#define SVC_CFG_MEM 0x2
#define SVC_CFG_NODES 0x4
#define SVC_CFG_PAGE 0x8
#define SVC_CFG_NICE 0x10

/* Defaults: 0 workers (= svc_default_workers()), 1 GiB, one unbound pool,
 * pages of ATTN_PAGE_DEFAULT, tasks of SVC_CHUNK_PAGES pages, policy
 * "full", quota 1 GiB / 1024 seqs / 64 in flight. */
void svc_config_defaults(struct svc_config *c);
/* 0 or -EINVAL (a field out of range, a bad policy, a uid listed twice). */
int svc_config_check(const struct svc_config *c);

/* ---- the service ---------------------------------------------------- */

struct svc;
struct svc_client;

/*
 * svc_create - maps the KV pools and starts the worker threads.
 * Returns 0, -EINVAL (svc_config_check), -ENOMEM, or the errno of mapping
 * the pools (nodemem_map) or of pthread_create.
 */
int svc_create(struct svc **out, const struct svc_config *cfg);

/*
 * Worker threads when the configuration says 0: every online CPU on a
 * machine of up to 4, else two fewer, leaving a core to the poller and one
 * to the clients' own threads (measured on 16 cores: a short client's step
 * beside a long one went from 3.1-3.6x its time alone with 16 workers to
 * 1.9-2.3x with 14, the aggregate bandwidth unchanged).
 */
int svc_default_workers(void);

/* The workers @c asks for: c->workers, or svc_default_workers() for 0. */
int svc_workers(const struct svc_config *c);

/*
 * svc_destroy - resumes the workers if paused, waits until every queued
 * request has run and its done callback returned, stops the workers,
 * detaches the clients still attached (their released callbacks run) and
 * unmaps the pools.  NULL is a no-op.
 */
void svc_destroy(struct svc *s);

/*
 * svc_reload - applies the (reload) fields of @cfg: quotas (new limits apply
 * to new allocations; nothing held is taken back) and the default policy
 * (for requests submitted afterwards).  *fixed (if not NULL) receives the
 * SVC_CFG_* flags of other fields that differ and were ignored.
 * Returns 0 or -EINVAL (nothing applied).
 */
int svc_reload(struct svc *s, const struct svc_config *cfg, unsigned *fixed);

/*
 * svc_drain - waits until no request is queued or running (SIGTERM:
 * stop submitting, drain, exit).  Other threads must not submit meanwhile
 * or it may wait for those too.
 */
void svc_drain(struct svc *s);

/*
 * svc_pause - while paused, workers finish the task they run and start no
 * other; submissions queue up (bounded by the in-flight quotas).
 * Administration and tests use it.  svc_drain must not be called while
 * paused with work queued.
 */
void svc_pause(struct svc *s, bool paused);

/* ---- clients -------------------------------------------------------- */

/*
 * svc_client_attach - a new client of user @uid (from SO_PEERCRED).  Its
 * resources count against @uid's quota, shared with the uid's other
 * clients.  Returns 0 or -ENOMEM.
 */
int svc_client_attach(struct svc *s, uid_t uid, struct svc_client **out);

/*
 * svc_client_detach - the client is gone (hang-up, quarantine): requests
 * not yet started are cancelled (their done callbacks get -ECANCELED),
 * running tasks finish, then every page, sequence and model of the client
 * is freed and @released(@arg) is called (if not NULL), from a worker
 * thread or from inside this call when nothing is in flight.  Until
 * @released the buffers lent to its requests stay in use: unmap the
 * client's region only then.  @cl is invalid on return.  NULL is a no-op.
 */
void svc_client_detach(struct svc_client *cl, void (*released)(void *arg),
		       void *arg);

/* ---- models --------------------------------------------------------- */

/* A model's shape (DESIGN.md section 3). */
struct svc_model_desc {
	int layers;		/* 1..SVC_MAX_LAYERS */
	int hq, hkv;		/* query and KV heads; hq % hkv == 0,
				 * 1 <= hkv <= hq <= SVC_MAX_HEADS */
	int d;			/* head dimension (attn_layout_check) */
	enum attn_dtype dt;	/* KV element type */
	int window;		/* W: recent tokens kept dense, a multiple of
				 * the page size, >= 0 */
	int page;		/* P, 0 = the daemon's default */
	float scale;		/* softmax scale; 0 = 1/sqrt(d) */
	const struct attn_policy *policy;	/* default policy of the
						 * model; NULL = the daemon's */
};

/*
 * svc_model_declare - declares a model; *id names it in later calls.
 * Returns 0, -EINVAL (a field out of range), -EMFILE (SVC_MAX_MODELS
 * already declared by this client) or -ENOMEM.  Models live as long as the
 * client.
 */
int svc_model_declare(struct svc_client *cl, const struct svc_model_desc *m,
		      uint32_t *id);

/*
 * svc_model_shape - the shape of @model as declared (policy and page
 * resolved: desc->policy is NULL, page is the page size in force).
 * 0 or -ENOENT.
 */
int svc_model_shape(struct svc_client *cl, uint32_t model,
		    struct svc_model_desc *desc);

/* ---- sequences and their KV ---------------------------------------- */

/* svc_seq_open - an empty sequence of @model.  0, -ENOENT, -EMFILE
 * (the uid's sequence quota) or -ENOMEM. */
int svc_seq_open(struct svc_client *cl, uint32_t model, uint32_t *seq);

/*
 * svc_seq_close - closes @seq: the id is invalid at once; its pages return
 * to the pools as soon as no in-flight request reads them.  0 or -ENOENT.
 */
int svc_seq_close(struct svc_client *cl, uint32_t seq);

/*
 * svc_seq_truncate - drops the last @n tokens (n >= 0) of every layer of
 * @seq (speculative decoding rejecting drafts).  Returns 0, -ENOENT,
 * -EINVAL (n < 0), -ERANGE (some layer holds fewer than @n tokens) or
 * -EBUSY (an attend on @seq is in flight).
 */
int svc_seq_truncate(struct svc_client *cl, uint32_t seq, int64_t n);

/* Tokens stored for @layer of @seq: 0, -ENOENT or -EINVAL. */
int svc_seq_length(struct svc_client *cl, uint32_t seq, int layer,
		   int64_t *len);

/*
 * svc_kv_append - appends @n >= 1 tokens to @layer of @seq.  @k and @v are
 * token-major [n][hkv][d] in the model's dtype, @bytes long each (must be
 * n * hkv * d * dtype size).  The data is copied into KV pages before this
 * returns (the transport points @k and @v at the client's staging area);
 * pages are summarized as they fill.  All or nothing.  Returns 0, -ENOENT,
 * -EINVAL (layer, n, size), -ENOSPC (KV quota or pools), -EBUSY (an attend
 * reading this layer of @seq is in flight) or -ENOMEM.
 */
int svc_kv_append(struct svc_client *cl, uint32_t seq, int layer, int64_t n,
		  const void *k, const void *v, size_t bytes);

/* ---- attention ------------------------------------------------------ */

/* Completion: @status is 0 or a negative errno (-ECANCELED after detach). */
typedef void (*svc_done_fn)(void *cookie, int status);

/*
 * One attend: @B sequences of @model at @layer, query length @L.
 * Query head h uses KV head h / (hq / hkv) (GQA).  Row i of sequence b sees
 * keys at positions <= pos[b] + i.
 */
struct svc_attend {
	uint32_t model;
	int layer;
	int B;			/* 1..SVC_MAX_BATCH */
	const uint32_t *seqs;	/* [B] sequence ids of @model */
	const int64_t *pos;	/* [B] first query position, or NULL: each
				 * sequence's length at @layer minus L;
				 * 0 <= pos, pos + L <= length */
	int L;			/* 1..ATTN_MAX_QLEN */
	const float *q;		/* [B][L][hq][d] fp32 */
	void *out;		/* [B][L][hq][d] in out_dt */
	enum attn_dtype out_dt;	/* ATTN_F32 or ATTN_BF16 */
	struct attn_row_stats *stats;	/* [B][L][hq] or NULL: keys used,
					 * bytes read (window included) and
					 * the certified bound on the dropped
					 * fraction of the whole softmax */
	const struct attn_policy *policy;	/* NULL: the model's default */
};

/*
 * svc_attend_submit - queues @a as tasks of (sequence, KV head, chunk of at
 * most chunk_pages pages; a topk policy or one with a byte budget is not
 * cut, since its selection is over the whole part; a mass policy is cut
 * and each chunk keeps its own dropped fraction under eps, which bounds
 * the whole's).  @done(@cookie, status) is called once: from a worker
 * thread when the last task finishes, or from inside svc_client_detach
 * for a request it cancels.  Done calls of one client never run
 * concurrently (so the callback may produce into a single-producer
 * completion ring), no service lock is held during them, and they must
 * not call into the service for the same client or block on other
 * requests.  Returns 0 (done will be called) or, with nothing queued and
 * done never called: -EINVAL, -ENOENT, -ERANGE (see the top of this file),
 * -EAGAIN (in-flight quota) or -ENOMEM.
 */
int svc_attend_submit(struct svc_client *cl, const struct svc_attend *a,
		      svc_done_fn done, void *cookie);

/* svc_attend - submit and wait: 0 or a negative errno as above, or the
 * request's own status. */
int svc_attend(struct svc_client *cl, const struct svc_attend *a);

/* ---- observation (hgcactl status, tests) ---------------------------- */

struct svc_pool_stats {
	int node;		/* NODEMEM_ANY (-1) or the node */
	int64_t bytes;		/* mapped */
	int64_t slabs, slabs_free;	/* 2 MiB slabs carved into pages */
	int64_t pages;		/* pages in use */
};

/* How long an idle worker spins for the next task before it sleeps
 * (sched_next), 0 for none. */
void svc_set_worker_spin(struct svc *s, uint64_t spin_ns);

/* Pool @i (0 .. svc_npools() - 1): 0 or -EINVAL. */
int svc_npools(const struct svc *s);
int svc_pool_stats(struct svc *s, int i, struct svc_pool_stats *st);

struct svc_usage {
	int64_t kv_bytes, seqs, inflight;	/* held now */
	struct svc_quota limit;			/* current limits */
};

/* Usage of @uid summed over its clients: 0 or -ENOENT (no client). */
int svc_uid_usage(struct svc *s, uid_t uid, struct svc_usage *u);

/* The scheduler's accounting of one client (fairness by work done). */
struct svc_sched_stats {
	int64_t bytes;		/* bytes scanned by its finished tasks */
	int64_t tasks;		/* tasks finished */
	int64_t requests;	/* requests completed (done called) */
	int64_t max_bypass;	/* most bytes of other clients' tasks started
				 * while one of its tasks was queued */
	double vtime;		/* its virtual time (bytes) */
};

void svc_client_sched_stats(struct svc_client *cl, struct svc_sched_stats *st);

/* What one client holds now (its share of its uid's usage). */
struct svc_client_usage {
	int64_t models, seqs, kv_bytes, inflight;
};

void svc_client_usage(struct svc_client *cl, struct svc_client_usage *u);

/* The default policy's text now (reloadable) into buf[len]. */
void svc_default_policy(struct svc *s, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* HGCA_DAEMON_SERVICE_H */
