/*
 * loop.h - hgcad's control-plane event loop, with two back ends: io_uring
 * (liburing: multishot accept, receive, multishot poll for signalfd,
 * eventfd and pidfds, wait timeouts) and epoll.  loop_create() picks
 * io_uring unless it is unavailable (kernel too old, io_uring_disabled,
 * seccomp) or epoll is asked for.
 *
 * One thread runs a loop.  A watch is an fd plus a callback; the owner
 * embeds it in its own object and gets it back through release() once the
 * loop no longer refers to it (after loop_unwatch(), at the end of the
 * current loop_run_once()), which is where the owner may close the fd and
 * free the object.
 */
#ifndef HGCA_DAEMON_LOOP_H
#define HGCA_DAEMON_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/settings.h"

enum loop_kind {
	LOOP_LISTEN,	/* a listening socket: one callback per connection */
	LOOP_MSG,	/* a SOCK_SEQPACKET socket: one callback per message */
	LOOP_READABLE,	/* any fd: a callback when it becomes readable */
};

struct loop_watch {
	int fd;
	enum loop_kind kind;
	void *buf;	/* LOOP_MSG: HGCA_MSG_MAX bytes for messages */
	/*
	 * LOOP_LISTEN: res is a new connection (close-on-exec, non-blocking)
	 * or -errno.  LOOP_MSG: res is the length of the message in buf, 0
	 * when the peer hung up, or -errno (-EMSGSIZE: too long); on res <= 0
	 * the owner must call loop_unwatch().  LOOP_READABLE: res is 0; the
	 * callback reads the fd without blocking.
	 */
	void (*cb)(struct loop_watch *w, int res);
	void (*release)(struct loop_watch *w);	/* may be NULL */
	/* Private to the loop. */
	bool dead;
	bool retired;			/* queued for release */
	int ops;			/* io_uring operations in flight */
	struct loop_watch *next_dead;
};

struct loop;

/*
 * loop_create - a loop with the back end @choice (enum backend_choice).
 * With BACKEND_AUTO an io_uring failure falls back to epoll and @why says
 * why.  0 or -errno.
 */
int loop_create(int choice, struct loop **out, char *why, size_t whylen);
void loop_destroy(struct loop *l);

/* "io_uring" or "epoll". */
const char *loop_backend(const struct loop *l);

/* Start watching.  0 or -errno. */
int loop_watch(struct loop *l, struct loop_watch *w);

/* Stop watching; the callback is not called again, release() follows. */
void loop_unwatch(struct loop *l, struct loop_watch *w);

/* Wait up to @timeout_ms for events and dispatch them.  0 or -errno. */
int loop_run_once(struct loop *l, int timeout_ms);

/* ---- for the back ends (loop_uring.c, loop_epoll.c) ---- */

struct loop_ops {
	const char *name;
	int (*watch)(struct loop *l, struct loop_watch *w);
	void (*unwatch)(struct loop *l, struct loop_watch *w);
	int (*run_once)(struct loop *l, int timeout_ms);
	void (*destroy)(struct loop *l);
};

struct loop {
	const struct loop_ops *ops;
	struct loop_watch *dead;	/* to release after this round */
};

/* Queue a watch for release at the end of the round. */
void loop_retire(struct loop *l, struct loop_watch *w);
/* Deliver a received message (or error) to a LOOP_MSG watch. */
void loop_deliver_msg(struct loop_watch *w, int res);

int loop_uring_create(struct loop **out, char *why, size_t whylen);
int loop_epoll_create(struct loop **out);

#endif /* HGCA_DAEMON_LOOP_H */
