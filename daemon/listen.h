/*
 * listen.h - creating the control socket safely: a private directory, a
 * lock file so that two daemons never race, refusal when a live daemon
 * already listens, removal of a stale socket, the socket's mode set
 * through the umask around bind(), and optionally its group.
 */
#ifndef HGCA_DAEMON_LISTEN_H
#define HGCA_DAEMON_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

struct listener {
	int fd;			/* SOCK_SEQPACKET, non-blocking */
	int lock_fd;		/* flock()ed PATH.lock */
	bool bound;		/* we created path */
	char path[108];
};

/* 0, or -errno with a message in @err.  @group >= 0: the socket and, when
 * it is ours, its directory get that group (so its members can reach a
 * mode 0660 socket in a 0750 directory). */
int listen_open(struct listener *l, const char *path, unsigned mode,
		long group, char *err, size_t errlen);

/* Remove the socket's path, so that new clients fail at once (SIGTERM).
 * Closing fd is the owner's job (the event loop may still refer to it). */
void listen_unlink(struct listener *l);

/* Remove the path if still there and drop the lock. */
void listen_close(struct listener *l);

#endif /* HGCA_DAEMON_LISTEN_H */
