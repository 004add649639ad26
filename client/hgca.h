/*
 * hgca.h - libhgca-client: the client library of the hgca attention
 * service.  Connect to hgcad, declare a model, open sequences, append
 * their keys and values, and ask for attention over them (hgca(7));
 * submit requests through shared-memory rings, reap their completions,
 * and query or administer the daemon.
 *
 * Ownership: the library allocates a handle in hgca_connect() and frees it
 * in hgca_disconnect(); the staging arena (hgca_staging()) belongs to the
 * handle and stays mapped until then; the daemon owns models, sequences
 * and the KV pages behind them (the caller holds only their ids, valid
 * until closed or disconnected); everything else the caller passes stays
 * the caller's and is only used during the call, except the output and
 * stats buffers of hgca_attend_prep() and hgca_attend_submit(), which the
 * library writes when it takes the request's completion off the ring and
 * which must stay valid until that completion is reaped.
 *
 * Conventions: every call that can fail returns 0 (or a count) or a
 * negative errno; none prints, exits, or raises SIGPIPE.  A handle is used
 * by one thread at a time (open one per thread).  After the daemon goes
 * away, calls return -ECONNRESET; after the daemon quarantined the handle
 * (it broke the protocol), -EPROTO.  Completions posted before that can
 * still be reaped.  See libhgca-client(3).
 */
#ifndef HGCA_H
#define HGCA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A connection to hgcad (opaque). */
struct hgca;

/* ---- connecting ---- */

#define HGCA_CONNECT_CONTROL 0x1u	/* no region: status and admin only */

/* Options for hgca_connect_with(); zero-initialise, zero means default. */
struct hgca_connect_opts {
	uint32_t flags;		/* HGCA_CONNECT_* */
	uint32_t entries;	/* ring entries: a power of two, 8..65536 */
	uint64_t region_size;	/* bytes of the shared region */
	int32_t timeout_ms;	/* handshake timeout; 0 means 5000 */
	uint32_t reserved[3];	/* zero */
};

/*
 * hgca_connect - connect to the daemon at @path (NULL: $HGCA_SOCKET, else
 * /run/hgca/hgcad.sock if present, else the per-user path), say hello, and
 * map the region it passes.  Stores a new handle in *@out.
 * Returns 0; -ENOENT or -ECONNREFUSED (no daemon); -EACCES (not on the
 * daemon's allow-list, or no permission on the socket); -EPROTONOSUPPORT
 * (the daemon speaks another protocol version); -EMFILE (the daemon has
 * too many clients); -ESHUTDOWN (it is shutting down); -ETIMEDOUT; -EPROTO
 * (a malformed answer or region); -EINVAL; -ENOMEM; -ENAMETOOLONG.
 */
int hgca_connect(const char *path, struct hgca **out);

/* hgca_connect with options (@opts may be NULL).  Also -EINVAL when the
 * daemon refuses the sizes asked for. */
int hgca_connect_with(const char *path, const struct hgca_connect_opts *opts,
		      struct hgca **out);

/* Close the connection and unmap the region.  Completions not yet reaped
 * are lost; the daemon finishes in-flight work, then frees the region.
 * NULL is a no-op. */
void hgca_disconnect(struct hgca *h);

/* Rights granted by the daemon's allow-list. */
enum hgca_rights {
	HGCA_RIGHTS_READ = 1,	/* use the service, read status */
	HGCA_RIGHTS_ADMIN = 2,	/* also change the daemon */
};

struct hgca_info {
	uint32_t client_id;	/* the daemon's id for this connection */
	uint32_t rights;	/* enum hgca_rights */
	uint32_t entries;	/* ring entries; 0 without a region */
	uint32_t inflight;	/* submitted, not yet reaped */
	uint64_t region_size;	/* 0 without a region */
	uint64_t staging_size;
};

/* Describe the handle.  0 or -EINVAL. */
int hgca_info(struct hgca *h, struct hgca_info *info);

/*
 * hgca_staging - the staging arena: memory shared with the daemon where
 * requests' data live; requests name offsets from *@base.  Valid until
 * hgca_disconnect().  0, or -EINVAL (NULL arguments, or no region).
 * The service's calls (hgca_kv_append, hgca_attend, ...) allocate their
 * own space in the same arena while their requests are in flight: a
 * program that writes the arena itself (NOP checksums) must not have
 * service requests in flight meanwhile.
 */
int hgca_staging(struct hgca *h, void **base, size_t *size);

/* ---- requests and completions ---- */

struct hgca_completion {
	uint64_t tag;		/* the tag given at submission */
	int32_t res;		/* 0 (or a count), or a negative errno */
	uint32_t flags;		/* zero for now */
	uint64_t value[2];	/* results; their meaning is the request's */
};

/* A no-op request, for tests and for measuring the transport. */
struct hgca_nop {
	uint64_t value;		/* returned in value[0] */
	uint64_t off;		/* with len: checksum staging[off, off + len) */
	uint64_t len;		/*   (FNV-1a, 64 bits) returned in value[1] */
	uint32_t delay_us;	/* nonzero: complete after this long, at most
				 * 10 s (else res = -EINVAL) */
	uint32_t reserved;	/* zero */
};

/*
 * hgca_nop_prep - write a NOP request (@nop NULL: all zero) into the
 * submission ring without publishing it; hgca_submit() publishes every
 * prepared request at once.  Returns 0; -EAGAIN when as many requests as
 * the ring has entries are in flight or prepared (reap first); -EINVAL
 * (reserved fields set, or off/len outside the staging arena);
 * -ESHUTDOWN (the daemon is shutting down); -ECONNRESET; -EPROTO.
 */
int hgca_nop_prep(struct hgca *h, uint64_t tag, const struct hgca_nop *nop);

/*
 * hgca_submit - publish the prepared requests and wake the daemon if it
 * sleeps (the only system call on this path, and only then).  Returns the
 * number published; -ESHUTDOWN (they are dropped); -ECONNRESET; -EPROTO.
 */
int hgca_submit(struct hgca *h);

/* hgca_nop_prep() and hgca_submit() in one call.  0 or as they fail. */
int hgca_nop_submit(struct hgca *h, uint64_t tag, const struct hgca_nop *nop);

/*
 * hgca_reap - take up to @max completions that have arrived, without
 * waiting.  Returns the number taken (0 when none); -EINVAL; once none
 * are left, -ECONNRESET or -EPROTO if the connection is gone.
 */
int hgca_reap(struct hgca *h, struct hgca_completion *out, unsigned max);

/*
 * hgca_wait - wait until at least @min completions have arrived (spinning
 * briefly, then sleeping), then take up to @max.  @timeout_ms < 0 waits
 * without limit (but never past the daemon's death); 0 only looks.  Returns the number
 * taken; -ETIMEDOUT (nothing taken); -EINVAL (@min above the requests in
 * flight, @min > @max, or @max 0); -ECONNRESET; -EPROTO.
 */
int hgca_wait(struct hgca *h, struct hgca_completion *out, unsigned min,
	      unsigned max, int timeout_ms);

/* ---- the attention service: models and sequences ---- */

/* Element types (the values are part of the wire protocol). */
enum hgca_dtype {
	HGCA_DTYPE_F32 = 0,
	HGCA_DTYPE_BF16 = 1,
	HGCA_DTYPE_F16 = 2,	/* KV only */
};

#define HGCA_POLICY_LEN 64	/* bytes of a policy text, NUL included */

/*
 * A model's shape.  Zero-initialise; zero means default where noted.
 * Policies are text, parsed by the daemon: "full" (exact), "topk:K" (the K
 * highest-scoring keys per query head), "mass:EPS" (drop at most a
 * certified fraction EPS of each head's softmax mass), each optionally
 * followed by ",budget:BYTES" (read at most that many K+V bytes per head;
 * k, m, g suffixes).  See hgca(7).
 */
struct hgca_model {
	uint32_t layers;	/* 1..1024 */
	uint32_t hq, hkv;	/* query and KV heads: hq % hkv == 0, <= 1024 */
	uint32_t d;		/* head dimension (the engine's range, 1..512) */
	uint32_t kv_dtype;	/* enum hgca_dtype of K and V */
	uint32_t window;	/* W: recent tokens attended exactly, a
				 * multiple of the page size */
	uint32_t page;		/* tokens per page, 0 = the daemon's */
	float scale;		/* softmax scale, 0 = 1/sqrt(d) */
	const char *policy;	/* default policy, NULL = the daemon's */
	uint32_t reserved[4];	/* zero */
};

/*
 * hgca_model_declare - declare a model; *@model names it in later calls
 * (until hgca_disconnect(): models are never undeclared).  Returns 0;
 * -EINVAL (a field out of range, a bad policy, reserved fields set);
 * -EMFILE (64 models declared on this handle); -ESHUTDOWN; -ECONNRESET;
 * -EPROTO; -ENOMEM.  See hgca_model_declare(3).
 */
int hgca_model_declare(struct hgca *h, const struct hgca_model *m,
		       uint32_t *model);

/*
 * hgca_seq_open - open an empty sequence of @model; *@seq names it.
 * Returns 0; -ENOENT (unknown model); -EMFILE (the uid's sequence quota);
 * -ESHUTDOWN; -ECONNRESET; -EPROTO; -ENOMEM; -EINVAL.
 *
 * hgca_seq_close - close it: the id is invalid at once, its pages return
 * to the daemon when no request reads them.  0, -ENOENT, ... as above.
 *
 * hgca_seq_truncate - drop the last @n tokens of every layer (rejected
 * draft tokens).  0; -ENOENT; -ERANGE (a layer holds fewer than @n);
 * -EBUSY (an attend on the sequence is in flight); ...
 *
 * hgca_seq_length - tokens stored at @layer into *@len.  0; -ENOENT;
 * -EINVAL (layer out of range); ...  See hgca_seq_open(3).
 */
int hgca_seq_open(struct hgca *h, uint32_t model, uint32_t *seq);
int hgca_seq_close(struct hgca *h, uint32_t seq);
int hgca_seq_truncate(struct hgca *h, uint32_t seq, uint64_t n);
int hgca_seq_length(struct hgca *h, uint32_t seq, uint32_t layer,
		    uint64_t *len);

/*
 * hgca_kv_append - append @n >= 1 tokens to @layer of @seq.  @k and @v are
 * token-major [n][hkv][d] in the model's kv_dtype.  The library copies
 * them through the staging arena (in several requests when they do not fit
 * at once) and returns when the daemon has stored them: the buffers may be
 * reused on return.  One request is all or nothing; when a long append
 * fails part way, the tokens of the requests before stay appended
 * (hgca_seq_length() says how many).  Returns 0; -ENOENT (unknown
 * sequence); -EINVAL (layer out of range, n 0, NULL buffers); -ENOSPC (the
 * uid's KV quota or the daemon's KV memory is exhausted); -EBUSY (an
 * attend reading this layer of the sequence is in flight); -ESHUTDOWN;
 * -ECONNRESET; -EPROTO; -ENOMEM.  See hgca_kv_append(3).
 */
int hgca_kv_append(struct hgca *h, uint32_t seq, uint32_t layer, uint64_t n,
		   const void *k, const void *v);

/* ---- the attention service: attention ---- */

/* What one query row (one query head at one position) got. */
struct hgca_head_stats {
	int64_t entries;	/* keys included (window and sparse part) */
	int64_t bytes;		/* K+V bytes read for it, window included */
	double delta;		/* certified upper bound on the softmax mass
				 * dropped, as a fraction of the whole (0 for
				 * exact attention) */
};

/*
 * One attention request: query rows of @nseq sequences of @model at
 * @layer.  Query row i of sequence b sits at position pos[b] + i and sees
 * the keys at positions <= pos[b] + i (causal); so a query's own keys must
 * be appended first.  Query head h uses KV head h / (hq / hkv).  This
 * variant takes host buffers, copied through the staging arena; a variant
 * with GPU buffers can be added beside it (DESIGN.md section 7).
 * Zero-initialise; unused fields stay zero.
 */
struct hgca_attend {
	uint32_t model;
	uint32_t layer;
	uint32_t nseq;		/* B, 1..1024 */
	uint32_t qlen;		/* L, 1..64 */
	const uint32_t *seqs;	/* [B] sequences of @model */
	const int64_t *pos;	/* [B] position of query row 0, or NULL: the
				 * last qlen positions of each sequence */
	const float *q;		/* [B][L][hq][d] fp32, not pre-scaled */
	void *out;		/* [B][L][hq][d] in out_dtype */
	uint32_t out_dtype;	/* HGCA_DTYPE_F32 or HGCA_DTYPE_BF16 */
	uint32_t flags;		/* zero */
	struct hgca_head_stats *stats;	/* [B][L][hq], or NULL */
	const char *policy;	/* this call's policy, NULL = the model's */
	uint64_t reserved[4];	/* zero */
};

/*
 * hgca_attend - attention, synchronously: returns when @out (and @stats)
 * hold the result.  Requests the caller prepared and did not submit are
 * published first.  Returns 0; -EINVAL (a field out of range, NULL
 * buffers, layer out of range, a bad policy, a sequence of another
 * model); -ENOENT (unknown model or sequence); -ERANGE (positions beyond a
 * sequence's length at the layer); -EAGAIN (the uid's in-flight quota);
 * -E2BIG (queries and outputs larger than the staging arena);
 * -ESHUTDOWN; -ECONNRESET; -EPROTO; -ENOMEM.  See hgca_attend(3).
 */
int hgca_attend(struct hgca *h, const struct hgca_attend *a);

/*
 * hgca_attend_prep - prepare the request (the queries are copied now) for
 * hgca_submit(); its completion, reaped with hgca_wait() or hgca_reap()
 * under @tag, has res 0 or a negative errno as hgca_attend() returns.
 * The library writes @out and @stats when it takes the completion off the
 * ring -- in hgca_wait(), hgca_reap() or any synchronous call on the
 * handle -- so they must stay valid until the completion is reaped; the
 * request's staging space is reserved until then too.  Returns 0; the
 * errors hgca_attend()
 * returns before it waits; -EAGAIN also when the ring or the staging arena
 * is full of requests in flight (reap first).
 *
 * hgca_attend_submit - hgca_attend_prep() and hgca_submit() in one call.
 */
int hgca_attend_prep(struct hgca *h, uint64_t tag, const struct hgca_attend *a);
int hgca_attend_submit(struct hgca *h, uint64_t tag,
		       const struct hgca_attend *a);

/* ---- status and administration ---- */

struct hgca_status {
	char version[32];	/* the daemon's version */
	char backend[16];	/* its event loop: "io_uring" or "epoll" */
	uint64_t uptime_ns;
	uint64_t requests;	/* requests consumed since start */
	uint64_t quarantined;	/* clients quarantined since start */
	uint32_t clients;	/* connections with a region */
	uint32_t connections;	/* all connections, tools included */
	uint32_t pollers;	/* data-plane threads */
	uint32_t spin_ns;	/* spin budget now */
	uint32_t rights;	/* this handle's rights */
	uint32_t proto_version;
	uint32_t regions;	/* client regions mapped, including those of
				 * gone clients whose work is draining */
	int32_t pid;		/* the daemon's process id */
	uint32_t workers;	/* attention worker threads */
	uint32_t kv_pools;	/* KV pools (one per NUMA node used) */
	uint64_t kv_bytes;	/* KV pool memory */
	uint64_t kv_slabs;	/* 2 MiB slabs of the pools */
	uint64_t kv_slabs_free;	/* of which free */
	uint64_t kv_pages;	/* pages in use */
	char policy[HGCA_POLICY_LEN];	/* the default policy */
};

/* The daemon's status.  0; -ECONNRESET; -ETIMEDOUT; -EPROTO; -EINVAL. */
int hgca_admin_status(struct hgca *h, struct hgca_status *st);

enum hgca_client_state {
	HGCA_CLIENT_ACTIVE = 0,
	HGCA_CLIENT_DRAINING = 1,
	HGCA_CLIENT_QUARANTINED = 2,
	HGCA_CLIENT_CLOSED = 3,
};

struct hgca_client_info {
	uint32_t id;
	int32_t pid;
	uint32_t uid;
	uint32_t gid;
	uint32_t rights;	/* enum hgca_rights */
	uint32_t state;		/* enum hgca_client_state */
	uint64_t region_size;
	uint64_t requests;
	uint32_t inflight;	/* requests the daemon is still working on */
	uint32_t models;	/* models declared */
	uint32_t seqs;		/* sequences open */
	uint32_t reserved;
	uint64_t kv_bytes;	/* K+V page bytes held */
	uint64_t attends;	/* attention requests completed */
	uint64_t work_bytes;	/* bytes its attention tasks scanned */
	uint64_t tasks;		/* attention tasks finished */
	uint64_t max_bypass;	/* most bytes of other clients' tasks that
				 * started while one of its tasks waited */
};

/*
 * hgca_admin_clients - list the daemon's clients into @v (up to @max);
 * *@total (if not NULL) gets how many there are.  Returns the number
 * stored; -ECONNRESET; -ETIMEDOUT; -EPROTO; -EINVAL.
 */
int hgca_admin_clients(struct hgca *h, struct hgca_client_info *v,
		       unsigned max, unsigned *total);

/*
 * hgca_admin_log_level - set the daemon's log level ("error", "warning",
 * "info", "debug").  0; -EPERM (the handle has read-only rights); -EINVAL;
 * -ECONNRESET; -ETIMEDOUT; -EPROTO.
 */
int hgca_admin_log_level(struct hgca *h, const char *level);

#ifdef __cplusplus
}
#endif

#endif /* HGCA_H */
