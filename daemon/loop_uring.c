/*
 * loop_uring.c - the io_uring back end of the event loop (see loop.h).
 *
 * Each watch has one operation in flight: a multishot accept (LOOP_LISTEN),
 * a receive re-armed after every message (LOOP_MSG), or a multishot poll
 * (LOOP_READABLE).  user_data is the watch; cancellations carry the watch
 * with the low bit set and their completions are ignored.  A watch is
 * retired once it is dead and its operation has completed.
 */
#include "config.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/loop.h"
#include "shm/proto.h"

#define QUEUE_DEPTH 256
#define CANCEL_BIT 1ull

struct uloop {
	struct loop base;
	struct io_uring ring;
};

static struct io_uring_sqe *
get_sqe(struct uloop *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {	/* submission queue full: hand it to the kernel */
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

static int
arm(struct uloop *u, struct loop_watch *w)
{
	struct io_uring_sqe *sqe = get_sqe(u);

	if (!sqe)
		return -EBUSY;
	if (w->kind == LOOP_LISTEN)
		io_uring_prep_multishot_accept(sqe, w->fd, NULL, NULL,
					       SOCK_CLOEXEC | SOCK_NONBLOCK);
	else if (w->kind == LOOP_MSG)	/* MSG_TRUNC: res is the real length */
		io_uring_prep_recv(sqe, w->fd, w->buf, HGCA_MSG_MAX, MSG_TRUNC);
	else
		io_uring_prep_poll_multishot(sqe, w->fd, POLLIN);
	io_uring_sqe_set_data64(sqe, (uintptr_t)w);
	w->ops++;
	return 0;
}

static int
uring_watch(struct loop *l, struct loop_watch *w)
{
	return arm((struct uloop *)l, w);
}

static void
uring_unwatch(struct loop *l, struct loop_watch *w)
{
	struct uloop *u = (struct uloop *)l;
	struct io_uring_sqe *sqe;

	if (w->ops == 0) {
		loop_retire(l, w);
		return;
	}
	sqe = get_sqe(u);
	if (sqe) {
		io_uring_prep_cancel64(sqe, (uintptr_t)w, 0);
		io_uring_sqe_set_data64(sqe, (uintptr_t)w | CANCEL_BIT);
	}
}

static void
deliver(struct loop_watch *w, int res)
{
	if (w->kind == LOOP_MSG)
		loop_deliver_msg(w, res);
	else if (w->kind == LOOP_LISTEN || res < 0)
		w->cb(w, res);
	else
		w->cb(w, 0);	/* readable: res is the poll mask */
}

static void
on_cqe(struct uloop *u, const struct io_uring_cqe *cqe)
{
	struct loop_watch *w;
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (cqe->user_data & CANCEL_BIT)
		return;
	w = (struct loop_watch *)(uintptr_t)cqe->user_data;
	if (!more)
		w->ops--;
	if (!w->dead && cqe->res != -ECANCELED)
		deliver(w, cqe->res);
	if (w->dead) {
		if (w->ops == 0)
			loop_retire(&u->base, w);
	} else if (!more && arm(u, w) < 0) {
		w->cb(w, -EBUSY);
	}
}

static int
uring_run_once(struct loop *l, int timeout_ms)
{
	struct uloop *u = (struct uloop *)l;
	struct __kernel_timespec ts = { .tv_sec = timeout_ms / 1000,
					.tv_nsec = (timeout_ms % 1000) * 1000000ll };
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int rc;

	rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1,
					      timeout_ms < 0 ? NULL : &ts, NULL);
	if (rc < 0 && rc != -ETIME && rc != -EINTR)
		return rc;
	io_uring_for_each_cqe(&u->ring, head, cqe) {
		on_cqe(u, cqe);
		n++;
	}
	io_uring_cq_advance(&u->ring, n);
	io_uring_submit(&u->ring);	/* re-arms and cancels from callbacks */
	return 0;
}

static void
uring_destroy(struct loop *l)
{
	struct uloop *u = (struct uloop *)l;

	io_uring_queue_exit(&u->ring);
	free(u);
}

static const struct loop_ops uring_ops = {
	.name = "io_uring",
	.watch = uring_watch,
	.unwatch = uring_unwatch,
	.run_once = uring_run_once,
	.destroy = uring_destroy,
};

/* A listening socket with an autobound abstract name, and a peer. */
static int
probe_sockets(int *lfd, int *cfd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(sa_family_t);

	*cfd = -1;
	*lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (*lfd < 0)
		return -errno;
	if (bind(*lfd, (struct sockaddr *)&sa, len) < 0 ||
	    listen(*lfd, 1) < 0)
		return -errno;
	len = sizeof(sa);
	if (getsockname(*lfd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	*cfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (*cfd < 0 || connect(*cfd, (struct sockaddr *)&sa, len) < 0)
		return -errno;
	return 0;
}

/* Cancel the probe's accept (closing the socket would not end it: the
 * ring holds a reference) and reap the two completions that follow. */
static void
probe_cancel(struct io_uring *ring)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;

	io_uring_prep_cancel64(sqe, 1, 0);
	io_uring_sqe_set_data64(sqe, 2);
	io_uring_submit(ring);
	for (int i = 0; i < 2; i++) {
		if (io_uring_wait_cqe_timeout(ring, &cqe, &ts) < 0)
			break;
		io_uring_cqe_seen(ring, cqe);
	}
}

static int
probe_accept(struct io_uring *ring, int lfd)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	bool more;
	int rc;

	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, 1);
	rc = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
	if (rc < 0)
		return rc;
	more = cqe->flags & IORING_CQE_F_MORE;
	rc = cqe->res < 0 ? cqe->res : more ? 0 : -EOPNOTSUPP;
	if (cqe->res >= 0)
		close(cqe->res);
	io_uring_cqe_seen(ring, cqe);
	if (more)
		probe_cancel(ring);
	return rc;
}

/*
 * Multishot accept needs Linux 5.19 and cannot be probed by opcode: try it
 * once.  0 when a connection comes with IORING_CQE_F_MORE set.
 */
static int
probe_multishot(struct io_uring *ring)
{
	int lfd, cfd, rc;

	rc = probe_sockets(&lfd, &cfd);
	if (rc == 0)
		rc = probe_accept(ring, lfd);
	if (lfd >= 0)
		close(lfd);
	if (cfd >= 0)
		close(cfd);
	return rc;
}

int
loop_uring_create(struct loop **out, char *why, size_t whylen)
{
	struct uloop *u = calloc(1, sizeof(*u));
	int rc;

	if (!u)
		return -ENOMEM;
	rc = io_uring_queue_init(QUEUE_DEPTH, &u->ring, 0);
	if (rc < 0) {
		snprintf(why, whylen, "io_uring_setup: %s", strerror(-rc));
		goto out_free;
	}
	rc = probe_multishot(&u->ring);
	if (rc < 0) {
		snprintf(why, whylen, "multishot accept: %s", strerror(-rc));
		goto out_exit;
	}
	u->base.ops = &uring_ops;
	*out = &u->base;
	return 0;
out_exit:
	io_uring_queue_exit(&u->ring);
out_free:
	free(u);
	return rc;
}
