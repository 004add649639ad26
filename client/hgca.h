/*
 * hgca.h - libhgca-client: the client library of the hgca attention
 * service.  Connect to hgcad, submit requests through shared-memory rings,
 * reap their completions, and query or administer the daemon.
 *
 * Ownership: the library allocates a handle in hgca_connect() and frees it
 * in hgca_disconnect(); the staging arena (hgca_staging()) belongs to the
 * handle and stays mapped until then; everything else the caller passes
 * stays the caller's and is only used during the call.
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
	uint32_t reserved;
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
