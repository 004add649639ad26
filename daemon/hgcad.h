/*
 * hgcad.h - the daemon's top-level state, shared by main.c and the control
 * plane.  Everything here belongs to the control (event loop) thread
 * unless marked otherwise.
 *
 * Threads.  The control thread runs the event loop: the socket, every
 * connection, signals, the spin budget, the drain.  Poller threads
 * (dataplane.c) serve the clients' submission rings and call the opcode
 * handlers.  Handlers may hand work to other threads (the NOP's delay
 * thread now, the attention workers later), which complete it with
 * client_complete().
 *
 * Locks, all short and never held across a system call that blocks:
 *	poller.lock	a poller's client list (control thread writes it)
 *	client.cq_lock	a client's completion ring; a leaf
 *	control.qlock	clients quarantined by other threads; a leaf
 *	op_nop's dq.lock	the delay queue; released before completing
 * Order: poller.lock may be held while nothing else is taken; cq_lock is
 * taken with no other lock held.  References (client.h) keep a client's
 * region alive while any thread may still touch it.
 */
#ifndef HGCA_DAEMON_HGCAD_H
#define HGCA_DAEMON_HGCAD_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/loop.h"
#include "daemon/settings.h"
#include "daemon/svc_conf.h"

struct dataplane;
struct control;
struct svc;
struct options;

struct hgcad {
	struct hgcad_config cfg;
	struct svc_settings scfg;	/* the service's keys */
	const struct options *opts;	/* command line, for reloads */
	struct svc *svc;		/* the attention service */
	int workers;			/* its worker threads */
	char sock_path[CONFIG_SOCK_MAX];	/* resolved */
	struct loop *loop;
	struct dataplane *dp;
	struct control *ctl;
	uint64_t start_ns;
	uint64_t spin_ns;		/* the budget now (shrunk when busy) */
	uint64_t poller_spin_ns;	/* the pollers' budget now */
	bool draining;			/* SIGTERM seen */
	uint64_t drain_deadline_ns;
	bool done;			/* leave the loop */
	int sigfd;
	struct loop_watch sigw;
	int loadavg_fd;			/* /proc/loadavg, or -1 */
	int cores;
};

#endif /* HGCA_DAEMON_HGCAD_H */
