/*
 * control.h - the control plane: the listening socket, one connection per
 * client or tool, the hello handshake (version, SO_PEERCRED against the
 * allow-list, the region passed with SCM_RIGHTS), admin requests, and the
 * end of connections (hang-up, pidfd, quarantine, shutdown).  Runs on the
 * event loop's thread only; other threads reach it through
 * client_on_quarantine (an eventfd wakes the loop).
 */
#ifndef HGCA_DAEMON_CONTROL_H
#define HGCA_DAEMON_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/hgcad.h"

/* Open the socket (before the event loop exists, so that start-up errors
 * reach the terminal).  0, or -errno with @err set. */
int control_create(struct hgcad *d, struct control **out, char *err,
		   size_t errlen);
/* Watch the socket on d->loop.  0, or -errno with @err set. */
int control_start(struct control *ctl, char *err, size_t errlen);
/* Close every connection and the socket (after control_shutdown()). */
void control_destroy(struct control *ctl);

/* SIGTERM: stop accepting, remove the socket's path, refuse new
 * submissions and let the rings drain. */
void control_drain(struct control *ctl);
/* Every client's rings empty and nothing pending? */
bool control_idle(struct control *ctl);
/* Tell every connection the daemon is going and close them. */
void control_shutdown(struct control *ctl);

/* Publish the spin budget to every client's region. */
void control_publish_spin(struct control *ctl, uint32_t spin_ns);

#endif /* HGCA_DAEMON_CONTROL_H */
