/*
 * dataplane.h - the poller threads: each serves a set of clients, spinning
 * on their submission rings and sleeping on their doorbells (futex_waitv)
 * once the adaptive spin runs out.
 *
 * The control thread adds and removes clients; a poller picks up the change
 * at its next round (its private doorbell wakes it if it sleeps).  Lock
 * order: poller.lock, then client.cq_lock.
 */
#ifndef HGCA_DAEMON_DATAPLANE_H
#define HGCA_DAEMON_DATAPLANE_H

#include <stdint.h>

#include "daemon/client.h"

#define POLLER_CLIENTS 126	/* futex_waitv's 128, less the poller's bell */

struct dataplane;

/* Start @npollers threads.  0 or -errno. */
int dataplane_create(unsigned npollers, uint64_t spin_ns,
		     struct dataplane **out);
/* Stop and join the threads; drop their references. */
void dataplane_destroy(struct dataplane *dp);

/* Serve @c from the least loaded poller (takes a reference).  -EMFILE
 * when every poller is full. */
int dataplane_add(struct dataplane *dp, struct client *c);
/* Stop serving @c (the poller drops its references by its next round). */
void dataplane_remove(struct dataplane *dp, struct client *c);

/* Change the spin budget of every poller (relaxed; takes effect soon). */
void dataplane_set_spin(struct dataplane *dp, uint64_t spin_ns);

unsigned dataplane_pollers(const struct dataplane *dp);
/* Descriptors consumed since start, all pollers. */
uint64_t dataplane_requests(const struct dataplane *dp);

#endif /* HGCA_DAEMON_DATAPLANE_H */
