/* connect.c - connecting, the handshake, the region, and disconnecting. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/client_pvt.h"
#include "shm/msg.h"

int
client_fail(struct hgca *h, int err)
{
	if (!h->err)
		h->err = err;
	return h->err;
}

int
client_region_state(struct hgca *h)
{
	if (h->err)
		return h->err;
	/* Acquire pairs with the daemon's release in set_state(). */
	switch (shm_load_acquire(&h->hdr->state)) {
	case HGCA_REGION_ACTIVE:
		return 0;
	case HGCA_REGION_DRAINING:
		return -ESHUTDOWN;
	case HGCA_REGION_QUARANTINED:
		return client_fail(h, -EPROTO);
	default:
		return client_fail(h, -ECONNRESET);
	}
}

int
client_check_conn(struct hgca *h)
{
	unsigned char buf[HGCA_MSG_MAX];
	struct hgca_msg_hdr m;
	uint16_t type, version;
	ssize_t n;

	if (h->err)
		return h->err;
	n = shm_msg_recv(h->sock, buf, sizeof(buf), NULL, 0);
	if (n == -ETIMEDOUT || n == -EAGAIN)
		return 0;
	if (n < 0)	/* hang-up: quarantined first if the region says so */
		return h->base && client_region_state(h) == -EPROTO ?
		       -EPROTO : client_fail(h, -ECONNRESET);
	if (shm_msg_check(buf, (size_t)n, &type, &version) < 0)
		return client_fail(h, -EPROTO);
	memcpy(&m, buf, sizeof(m));
	if (type == HGCA_MSG_QUARANTINE)
		return client_fail(h, -EPROTO);
	if (type == HGCA_MSG_SHUTDOWN || type == HGCA_MSG_ERROR)
		return client_fail(h, m.status < 0 ? m.status : -ECONNRESET);
	return 0;	/* a stray reply: ignore */
}

static int
open_socket(const char *path, int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[sizeof(sa.sun_path)];
	int rc;

	if (!path) {
		rc = shm_sock_default(buf, sizeof(buf), false);
		if (rc < 0)
			return rc;
		path = buf;
	}
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	*fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return -errno;
	if (connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(*fd);
		return rc;
	}
	return 0;
}

static int
send_hello(struct hgca *h, const struct hgca_connect_opts *o)
{
	struct hgca_msg_hello m;
	int rc;

	memset(&m, 0, sizeof(m));
	shm_msg_init(&m.h, HGCA_MSG_HELLO, sizeof(m));
	m.flags = (o->flags & HGCA_CONNECT_CONTROL) ? HGCA_HELLO_F_CONTROL : 0;
	m.entries = o->entries;
	m.region_size = o->region_size;
	rc = shm_msg_send(h->sock, &m, sizeof(m), -1);
	return rc == -EPIPE ? -ECONNRESET : rc;
}

static int
map_region(struct hgca *h, int fd)
{
	int rc = shm_region_map(fd, &h->lo, &h->base);
	char *b;

	if (rc < 0)
		return rc;
	b = h->base;
	/* A forked child must not share our rings. */
	madvise(h->base, h->lo.size, MADV_DONTFORK);
	h->hdr = h->base;
	h->stage = (unsigned char *)b + h->lo.stage_off;
	shm_ring_attach(&h->sq, (void *)(b + h->lo.sq_ctl_off),
			b + h->lo.sq_off, h->lo.entries, sizeof(struct hgca_sqe));
	shm_ring_attach(&h->cq, (void *)(b + h->lo.cq_ctl_off),
			b + h->lo.cq_off, h->lo.entries,
			sizeof(struct hgca_cqent));
	/* Relaxed: a hint the daemon refreshes. */
	shm_spin_init(&h->spin, shm_load_relaxed(&h->hdr->spin_ns));
	shm_spin_init(&h->attend_spin, h->spin.cap_ns);
	h->attend_spin.idle_x = CLIENT_ATTEND_IDLE_X;
	rc = client_tables_init(h);
	if (rc < 0) {
		munmap(h->base, h->lo.size);
		h->base = NULL;
	}
	return rc;
}

/* Read the daemon's answer to the hello. */
static int
read_welcome(struct hgca *h, bool control, int timeout_ms)
{
	union {
		struct hgca_msg_welcome w;
		struct hgca_msg_error e;
		unsigned char b[HGCA_MSG_MAX];
	} u;
	uint16_t type, version;
	int fd, rc;
	ssize_t n = shm_msg_recv(h->sock, &u, sizeof(u), &fd, timeout_ms);

	if (n < 0)
		return n == -EMSGSIZE ? -EPROTO : (int)n;
	rc = shm_msg_check(&u, (size_t)n, &type, &version);
	if (rc == 0 && type == HGCA_MSG_ERROR && n == sizeof(u.e))
		rc = u.e.h.status < 0 ? u.e.h.status : -EPROTO;
	else if (rc == 0 && (type != HGCA_MSG_WELCOME || n != sizeof(u.w) ||
			     control != (fd < 0)))
		rc = -EPROTO;
	else if (rc == -EBADMSG)
		rc = -EPROTO;
	if (rc == 0 && !control)
		rc = map_region(h, fd);
	if (rc == 0) {
		h->client_id = u.w.client_id;
		h->rights = u.w.rights;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static bool
opts_ok(const struct hgca_connect_opts *o)
{
	return !o->reserved[0] && !o->reserved[1] && !o->reserved[2] &&
	       !(o->flags & ~HGCA_CONNECT_CONTROL) && o->timeout_ms >= 0 &&
	       (o->entries & (o->entries - 1)) == 0;
}

int
hgca_connect_with(const char *path, const struct hgca_connect_opts *opts,
		  struct hgca **out)
{
	static const struct hgca_connect_opts defaults;
	const struct hgca_connect_opts *o = opts ? opts : &defaults;
	struct hgca *h;
	int rc;

	if (!out || !opts_ok(o))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	rc = open_socket(path, &h->sock);
	if (rc < 0)
		goto out_free;
	rc = send_hello(h, o);
	if (rc == 0)
		rc = read_welcome(h, o->flags & HGCA_CONNECT_CONTROL,
				  o->timeout_ms ? o->timeout_ms
						: CLIENT_TIMEOUT_MS);
	if (rc < 0)
		goto out_close;
	*out = h;
	return 0;
out_close:
	close(h->sock);
out_free:
	free(h);
	return rc;
}

int
hgca_connect(const char *path, struct hgca **out)
{
	return hgca_connect_with(path, NULL, out);
}

void
hgca_disconnect(struct hgca *h)
{
	if (!h)
		return;
	close(h->sock);
	if (h->base)
		munmap(h->base, h->lo.size);
	client_tables_fini(h);
	free(h);
}

int
hgca_info(struct hgca *h, struct hgca_info *info)
{
	if (!h || !info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->client_id = h->client_id;
	info->rights = h->rights;
	info->inflight = h->inflight;
	if (h->base) {
		info->entries = h->lo.entries;
		info->region_size = h->lo.size;
		info->staging_size = h->lo.stage_size;
	}
	return 0;
}

int
hgca_staging(struct hgca *h, void **base, size_t *size)
{
	if (!h || !base || !size || !h->base)
		return -EINVAL;
	*base = h->stage;
	*size = h->lo.stage_size;
	return 0;
}
