/* loop.c - back-end selection and the parts both back ends share. */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "daemon/loop.h"
#include "shm/proto.h"

int
loop_create(int choice, struct loop **out, char *why, size_t whylen)
{
	int rc;

	if (whylen)
		why[0] = '\0';
	if (choice == BACKEND_EPOLL)
		return loop_epoll_create(out);
	rc = loop_uring_create(out, why, whylen);
	if (rc == 0 || choice == BACKEND_URING)
		return rc;
	return loop_epoll_create(out);
}

void
loop_destroy(struct loop *l)
{
	if (l)
		l->ops->destroy(l);
}

const char *
loop_backend(const struct loop *l)
{
	return l->ops->name;
}

int
loop_watch(struct loop *l, struct loop_watch *w)
{
	w->dead = false;
	w->retired = false;
	w->ops = 0;
	w->next_dead = NULL;
	return l->ops->watch(l, w);
}

void
loop_unwatch(struct loop *l, struct loop_watch *w)
{
	if (w->dead)
		return;
	w->dead = true;
	l->ops->unwatch(l, w);
}

void
loop_retire(struct loop *l, struct loop_watch *w)
{
	if (w->retired)	/* unwatch from inside its own callback, then the
			   back end's own check: once is enough */
		return;
	w->retired = true;
	w->next_dead = l->dead;
	l->dead = w;
}

static void
release_dead(struct loop *l)
{
	while (l->dead) {
		struct loop_watch *w = l->dead;

		l->dead = w->next_dead;
		if (w->release)
			w->release(w);
	}
}

int
loop_run_once(struct loop *l, int timeout_ms)
{
	int rc = l->ops->run_once(l, timeout_ms);

	release_dead(l);
	return rc;
}

void
loop_deliver_msg(struct loop_watch *w, int res)
{
	if (res > HGCA_MSG_MAX)	/* received with MSG_TRUNC: real length */
		res = -EMSGSIZE;
	w->cb(w, res);
}
