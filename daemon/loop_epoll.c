/* loop_epoll.c - the epoll back end of the event loop (see loop.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/loop.h"
#include "shm/proto.h"

#define EVENTS 64
#define BURST 16	/* messages or connections per wake-up, for fairness */

struct eloop {
	struct loop base;
	int epfd;
};

static int
epoll_watch(struct loop *l, struct loop_watch *w)
{
	struct eloop *e = (struct eloop *)l;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };

	if (w->kind == LOOP_MSG)
		ev.events |= EPOLLRDHUP;
	return epoll_ctl(e->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0 ? -errno : 0;
}

static void
epoll_unwatch(struct loop *l, struct loop_watch *w)
{
	struct eloop *e = (struct eloop *)l;

	epoll_ctl(e->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	loop_retire(l, w);	/* events of this round may still name it */
}

static void
on_listen(struct loop_watch *w)
{
	for (int i = 0; i < BURST && !w->dead; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		w->cb(w, fd < 0 ? -errno : fd);
		if (fd < 0)	/* e.g. EMFILE: the owner dealt with it */
			return;
	}
}

static void
on_msg(struct loop_watch *w)
{
	for (int i = 0; i < BURST && !w->dead; i++) {
		ssize_t n = recv(w->fd, w->buf, HGCA_MSG_MAX,
				 MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		loop_deliver_msg(w, n < 0 ? -errno : (int)n);
	}
}

static int
epoll_run_once(struct loop *l, int timeout_ms)
{
	struct eloop *e = (struct eloop *)l;
	struct epoll_event ev[EVENTS];
	int n = epoll_wait(e->epfd, ev, EVENTS, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct loop_watch *w = ev[i].data.ptr;

		if (w->dead)
			continue;
		if (w->kind == LOOP_LISTEN)
			on_listen(w);
		else if (w->kind == LOOP_MSG)
			on_msg(w);
		else
			w->cb(w, 0);
	}
	return 0;
}

static void
epoll_destroy(struct loop *l)
{
	struct eloop *e = (struct eloop *)l;

	close(e->epfd);
	free(e);
}

static const struct loop_ops epoll_ops = {
	.name = "epoll",
	.watch = epoll_watch,
	.unwatch = epoll_unwatch,
	.run_once = epoll_run_once,
	.destroy = epoll_destroy,
};

int
loop_epoll_create(struct loop **out)
{
	struct eloop *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		int err = -errno;

		free(e);
		return err;
	}
	e->base.ops = &epoll_ops;
	*out = &e->base;
	return 0;
}
