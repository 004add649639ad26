/*
 * client_pvt.h - the inside of a libhgca-client handle (never installed).
 * Tests include it to play a broken client.
 */
#ifndef HGCA_CLIENT_PVT_H
#define HGCA_CLIENT_PVT_H

#include <stdint.h>

#include "client/hgca.h"
#include "shm/proto.h"
#include "shm/region.h"
#include "shm/ring.h"
#include "shm/spin.h"

#define CLIENT_TIMEOUT_MS 5000	/* handshake and admin replies */
#define CLIENT_SLICE_NS 20000000ll	/* a sleeping wait checks the socket */

struct hgca {
	int sock;
	int err;			/* sticky: -ECONNRESET or -EPROTO */
	uint32_t client_id;
	uint32_t rights;
	/* With a region (else base is NULL). */
	void *base;
	struct shm_layout lo;
	struct hgca_region_hdr *hdr;
	unsigned char *stage;
	struct shm_ring sq;		/* producer view */
	struct shm_ring cq;		/* consumer view */
	uint32_t prepared;		/* written, not yet published */
	uint32_t inflight;		/* published, not yet reaped */
	struct shm_spin spin;
};

/* Record a lost connection or quarantine; returns the sticky error. */
int client_fail(struct hgca *h, int err);

/* The region's state word: 0, -ESHUTDOWN (draining) or a sticky error. */
int client_region_state(struct hgca *h);

/* Look at the socket without blocking: notices and hang-up.  0 or the
 * sticky error. */
int client_check_conn(struct hgca *h);

#endif /* HGCA_CLIENT_PVT_H */
