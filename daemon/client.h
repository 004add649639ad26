/*
 * client.h - one connected client as the daemon sees it: its region, its
 * rings, its in-flight work and its state.
 *
 * Threads and locks.  The control thread creates and closes clients.  One
 * poller thread (daemon/dataplane.c) consumes the submission ring: the sq
 * view is that thread's alone.  Completions come from the poller and from
 * any thread that finishes pending work, so cq_lock protects the cq view
 * (its private tail) and serialises completion production; it is a leaf
 * lock (nothing else is taken while it is held).  The ring itself stays
 * single-producer across the process boundary.
 *
 * Lifetime.  References: the control connection, the poller's list and
 * snapshot, and one per pending operation.  The region is unmapped when the
 * last one goes, so a client that dies or is quarantined keeps its region
 * until its in-flight work has drained.
 */
#ifndef HGCA_DAEMON_CLIENT_H
#define HGCA_DAEMON_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "shm/proto.h"
#include "shm/region.h"
#include "shm/ring.h"

struct poller;
struct svc;
struct svc_client;

struct client_args {
	uint32_t id;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	uint32_t rights;
	uint64_t region_size;
	uint32_t entries;
};

struct client {
	uint32_t id;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	uint32_t rights;
	_Atomic int refs;
	_Atomic uint32_t state;		/* enum hgca_region_state */

	int memfd;			/* -1 once passed to the client */
	void *base;
	struct shm_layout lo;
	struct hgca_region_hdr *hdr;
	unsigned char *stage;		/* the staging arena (shared) */

	struct shm_ring sq;		/* poller thread only */
	_Atomic uint32_t sq_done;	/* sq.head, published for drain checks */

	pthread_mutex_t cq_lock;	/* protects cq */
	struct shm_ring cq;
	_Atomic uint32_t pending;	/* consumed, completion not yet posted */

	_Atomic uint64_t requests;	/* descriptors consumed */
	char why[112];			/* quarantine reason */

	/* The client's side of the attention service.  The poller's opcode
	 * handlers and the control thread's status use it under svc_lock;
	 * client_detach_service() clears it (under the lock), so no call
	 * reaches a detached svc_client.  svc_lock is taken before cq_lock
	 * and never held while waiting for anything else. */
	pthread_mutex_t svc_lock;
	struct svc_client *svc;

	struct poller *poller;		/* set by dataplane_add() */
	void *conn;			/* control thread only */
	struct client *next_event;	/* control's notification queue */
};

/* Called (from any thread) when a client is quarantined; set once at
 * start-up by the control module. */
extern void (*client_on_quarantine)(struct client *c);

/* Create a client and its region.  0 or -errno. */
int client_create(const struct client_args *a, struct client **out);

void client_ref(struct client *c);
/* Drop a reference; the last one unmaps the region and frees the client. */
void client_unref(struct client *c);

/* Clients that exist now (with a region mapped), across all threads. */
unsigned client_count(void);
/* Clients quarantined since start. */
uint64_t client_quarantined_total(void);

static inline uint32_t
client_state(const struct client *c)
{
	/* Acquire pairs with the release in set_state() (client.c), so the
	 * reason is visible with the state. */
	return atomic_load_explicit(&c->state, memory_order_acquire);
}

static inline bool
client_serving(const struct client *c)
{
	uint32_t s = client_state(c);

	return s == HGCA_REGION_ACTIVE || s == HGCA_REGION_DRAINING;
}

/* Is [off, off + len) inside the staging arena?  (Overflow-safe.) */
static inline bool
client_range_ok(const struct client *c, uint64_t off, uint64_t len)
{
	return off <= c->lo.stage_size && len <= c->lo.stage_size - off;
}

/* ---- data plane ---- */

/*
 * client_cq_credit - descriptors the poller may consume now (@want at
 * most) so that every one has a completion slot; for more than one, the
 * slots' lines are asked for (shm_ring_claim()).  0 or -EPROTO (the
 * client moved its completion head backwards or past the tail).
 */
int client_cq_credit(struct client *c, uint32_t want, uint32_t *credit);

/* Post @n completions made by the poller and wake the client. */
void client_post(struct client *c, const struct hgca_cqe *cqe, uint32_t n);

/*
 * A handler that completes later calls client_hold() before handing the
 * work to another thread, and that thread calls client_complete() exactly
 * once.  Completions of a client no longer served are dropped.
 */
void client_hold(struct client *c);
void client_complete(struct client *c, const struct hgca_cqe *cqe);

/* Undo client_hold() for work that was never handed over. */
void client_unhold(struct client *c);

/* Submission ring empty and nothing pending? */
bool client_idle(struct client *c);

/* ---- state changes (any thread) ---- */

/* Quarantine: state, reason, a wake for a sleeping client, the log and
 * the control thread's notification.  Only the first call counts. */
void client_quarantine(struct client *c, const char *why);

/* SIGTERM: refuse new submissions, finish the ones in the ring. */
void client_drain(struct client *c);

/* The connection is gone: stop serving; drop pending completions. */
void client_close(struct client *c);

/* ---- the attention service (daemon/service.h) ---- */

/* Attach @c to the service as a client of its uid.  0 or -ENOMEM. */
int client_attach_service(struct client *c, struct svc *s);

/*
 * Detach @c from the service (after client_close or quarantine): queued
 * work is cancelled, running work finishes, every page is returned, and
 * the service's reference on @c (which keeps the region mapped while
 * workers may still write outputs into it) goes only then.
 */
void client_detach_service(struct client *c);

/* The client's svc_client with svc_lock held, or NULL (detached; the
 * lock is not held then).  Release with client_svc_unlock(). */
struct svc_client *client_svc_lock(struct client *c);
void client_svc_unlock(struct client *c);

#endif /* HGCA_DAEMON_CLIENT_H */
