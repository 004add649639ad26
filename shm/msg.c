/* msg.c - control-socket message helpers (see msg.h). */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/msg.h"

void
shm_msg_init(struct hgca_msg_hdr *h, uint16_t type, uint32_t len)
{
	memset(h, 0, sizeof(*h));
	h->magic = HGCA_MSG_MAGIC;
	h->version = HGCA_PROTO_VERSION;
	h->type = type;
	h->len = len;
}

int
shm_msg_check(const void *buf, size_t len, uint16_t *type, uint16_t *version)
{
	struct hgca_msg_hdr h;

	/* The first 8 bytes (magic, version, type) never change layout. */
	if (len < 8)
		return -EBADMSG;
	memcpy(&h, buf, len < sizeof(h) ? len : sizeof(h));
	if (h.magic != HGCA_MSG_MAGIC)
		return -EBADMSG;
	*version = h.version;
	*type = h.type;
	if (h.version != HGCA_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	if (len < sizeof(h) || h.len != len)
		return -EBADMSG;
	return 0;
}

int
shm_msg_send(int sock, const void *buf, size_t len, int pass_fd)
{
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (pass_fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = ctl.b;
		m.msg_controllen = sizeof(ctl.b);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	if (sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return -errno;
	return 0;
}

/* Keep the first passed fd, close any others (a peer may send several). */
static void
take_fds(struct msghdr *m, int *fd)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(f));
			if (fd && *fd < 0)
				*fd = f;
			else
				close(f);
		}
	}
}

static int
wait_readable(int sock, int timeout_ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	int rc;

	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	return rc == 0 ? -ETIMEDOUT : 0;
}

ssize_t
shm_msg_recv(int sock, void *buf, size_t size, int *fd, int timeout_ms)
{
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl.b,
			    .msg_controllen = sizeof(ctl.b) };
	ssize_t n;
	int rc;

	if (fd)
		*fd = -1;
	rc = wait_readable(sock, timeout_ms);
	if (rc < 0)
		return rc;
	n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EPIPE ? -ECONNRESET : -errno;
	take_fds(&m, fd);
	if (n == 0)
		return -ECONNRESET;
	if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	return n;
}

static int
fmt_path(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fmt_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int
user_path(char *buf, size_t size)
{
	const char *xdg = secure_getenv("XDG_RUNTIME_DIR");

	if (xdg && *xdg == '/')
		return fmt_path(buf, size, "%s/hgca/%s", xdg, HGCA_SOCK_NAME);
	return fmt_path(buf, size, "/tmp/hgca-%u/%s", (unsigned)geteuid(),
			HGCA_SOCK_NAME);
}

int
shm_sock_default(char *buf, size_t size, bool daemon)
{
	const char *env;
	struct stat st;

	if (daemon) {
		env = getenv("RUNTIME_DIRECTORY");
		if (env && *env == '/')	/* systemd: first of a list */
			return fmt_path(buf, size, "%.*s/%s",
					(int)strcspn(env, ":"), env,
					HGCA_SOCK_NAME);
		if (geteuid() == 0)
			return fmt_path(buf, size, "%s/%s",
					HGCA_SOCK_SYSTEM_DIR, HGCA_SOCK_NAME);
		return user_path(buf, size);
	}
	env = secure_getenv("HGCA_SOCKET");
	if (env && *env)
		return fmt_path(buf, size, "%s", env);
	if (stat(HGCA_SOCK_SYSTEM_DIR "/" HGCA_SOCK_NAME, &st) == 0)
		return fmt_path(buf, size, "%s/%s", HGCA_SOCK_SYSTEM_DIR,
				HGCA_SOCK_NAME);
	return user_path(buf, size);
}
