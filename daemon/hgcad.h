/*
 * hgcad.h - the daemon's top-level state, shared by main.c and the control
 * plane.  Everything here belongs to the control (event loop) thread
 * unless marked otherwise.
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
	bool draining;			/* SIGTERM seen */
	uint64_t drain_deadline_ns;
	bool done;			/* leave the loop */
	int sigfd;
	struct loop_watch sigw;
	int loadavg_fd;			/* /proc/loadavg, or -1 */
	int cores;
};

#endif /* HGCA_DAEMON_HGCAD_H */
