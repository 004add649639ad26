/*
 * msg.h - control-socket helpers shared by hgcad and libhgca-client:
 * message framing, sending and receiving (with a passed fd), and the
 * default socket path.
 */
#ifndef HGCA_SHM_MSG_H
#define HGCA_SHM_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shm/proto.h"

#define HGCA_SOCK_NAME "hgcad.sock"
#define HGCA_SOCK_SYSTEM_DIR "/run/hgca"

void shm_msg_init(struct hgca_msg_hdr *h, uint16_t type, uint32_t len);

/*
 * shm_msg_check - check a received message's header.  0; -EBADMSG (short,
 * bad magic, or len disagreeing with @len); -EPROTONOSUPPORT when the
 * peer speaks another protocol version (then *@version says which).
 */
int shm_msg_check(const void *buf, size_t len, uint16_t *type,
		  uint16_t *version);

/*
 * shm_msg_send - send one message (and @pass_fd, unless -1) without
 * blocking and without SIGPIPE.  0 or -errno (-EPIPE, -ECONNRESET when the
 * peer is gone; -EAGAIN when its queue is full).
 */
int shm_msg_send(int sock, const void *buf, size_t len, int pass_fd);

/*
 * shm_msg_recv - receive one message, waiting up to @timeout_ms (< 0: no
 * limit).  Returns its length; -ECONNRESET when the peer hung up;
 * -ETIMEDOUT; -EMSGSIZE when it was longer than @size; -errno.  A passed
 * fd is stored in *@fd (close-on-exec) when @fd is not NULL, else closed;
 * *@fd is -1 when none came.
 */
ssize_t shm_msg_recv(int sock, void *buf, size_t size, int *fd,
		     int timeout_ms);

/*
 * shm_sock_default - the socket path when none is given.  For the daemon
 * (@daemon true): $RUNTIME_DIRECTORY/hgcad.sock (systemd), else
 * /run/hgca/hgcad.sock when running as root, else the per-user path.  For
 * clients: $HGCA_SOCKET, else /run/hgca/hgcad.sock if it exists, else the
 * per-user path: $XDG_RUNTIME_DIR/hgca/hgcad.sock or /tmp/hgca-UID/hgcad.sock.
 * 0 or -ENAMETOOLONG.
 */
int shm_sock_default(char *buf, size_t size, bool daemon);

#endif /* HGCA_SHM_MSG_H */
