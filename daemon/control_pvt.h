/*
 * control_pvt.h - what control.c (connections) and control_msg.c (the
 * messages on them) share.  Control thread only.
 */
#ifndef HGCA_DAEMON_CONTROL_PVT_H
#define HGCA_DAEMON_CONTROL_PVT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "daemon/client.h"
#include "daemon/control.h"
#include "daemon/listen.h"
#include "shm/proto.h"

struct conn {
	struct loop_watch sock;		/* the connection */
	struct loop_watch pid;		/* its process's pidfd, fd -1 if none */
	int live;			/* watches not yet released */
	struct control *ctl;
	struct client *client;		/* after a hello that asked for one */
	struct ucred cred;		/* SO_PEERCRED at accept */
	uint32_t rights;		/* after the hello */
	bool greeted, closed;
	struct conn *prev, *next;
	unsigned char buf[HGCA_MSG_MAX];
};

struct control {
	struct hgcad *d;
	struct listener l;
	struct loop_watch lw;		/* the listening socket */
	struct loop_watch nw;		/* eventfd: other threads wake us */
	bool listening, notifying;
	int spare_fd;			/* /dev/null, given up to shed a connection */
	unsigned long shed;		/* connections shed for lack of fds */
	time_t shed_logged;		/* when that was last logged */
	struct conn *conns;
	unsigned nconns, nclients;
	uint32_t next_id;
	pthread_mutex_t qlock;		/* protects quarantined (leaf lock) */
	struct client *quarantined;	/* from other threads, with a ref */
};

/* Handle one received message of @len bytes in cn->buf. */
void control_message(struct conn *cn, int len);

/* Send @msg (header filled in here) without blocking. */
void conn_send(struct conn *cn, void *msg, uint16_t type, uint32_t len,
	       int status);
/* Send a text message (error or notice) with @status. */
void conn_text(struct conn *cn, uint16_t type, int status, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));
/* Send a text message, then close. */
void conn_end(struct conn *cn, uint16_t type, int status, const char *text);
void conn_close(struct conn *cn);

#endif /* HGCA_DAEMON_CONTROL_PVT_H */
