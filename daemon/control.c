/* control.c - connections and the hello handshake (see control.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/control_pvt.h"
#include "daemon/dataplane.h"
#include "daemon/listen.h"
#include "daemon/log.h"
#include "shm/msg.h"

#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

/* The control module of the one daemon, for client_on_quarantine. */
static struct control *the_ctl;

static void conn_release(struct loop_watch *w);

/* ---- replies ---- */

void
conn_send(struct conn *cn, void *msg, uint16_t type, uint32_t len, int status)
{
	struct hgca_msg_hdr *h = msg;
	int rc;

	shm_msg_init(h, type, len);
	h->status = status;
	rc = shm_msg_send(cn->sock.fd, msg, len, -1);
	if (rc < 0)
		log_debug("conn %d: send: %s", cn->sock.fd, strerror(-rc));
}

void
conn_text(struct conn *cn, uint16_t type, int status, const char *fmt, ...)
{
	struct hgca_msg_error m;
	va_list ap;

	memset(&m, 0, sizeof(m));
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	va_end(ap);
	conn_send(cn, &m, type, sizeof(m), status);
}

/* ---- connection lifetime ---- */

static void
drop_client(struct conn *cn)
{
	struct client *c = cn->client;

	if (!c)
		return;
	c->conn = NULL;
	if (cn->ctl->d->dp)
		dataplane_remove(cn->ctl->d->dp, c);
	client_close(c);
	client_detach_service(c);	/* pages back; region unmapped later */
	client_unref(c);
	cn->client = NULL;
	cn->ctl->nclients--;
}

void
conn_close(struct conn *cn)
{
	struct control *ctl = cn->ctl;

	if (cn->closed)
		return;
	cn->closed = true;
	drop_client(cn);
	loop_unwatch(ctl->d->loop, &cn->sock);
	if (cn->pid.fd >= 0)
		loop_unwatch(ctl->d->loop, &cn->pid);
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		ctl->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	ctl->nconns--;
}

/* Tell the peer why with a message it can read, then close. */
void
conn_end(struct conn *cn, uint16_t type, int status, const char *text)
{
	conn_text(cn, type, status, "%s", text);
	conn_close(cn);
}

static void
conn_release(struct loop_watch *w)
{
	struct conn *cn = w->kind == LOOP_MSG ?
			  container_of(w, struct conn, sock) :
			  container_of(w, struct conn, pid);

	close(w->fd);
	if (--cn->live == 0)
		free(cn);
}

static void
on_sock(struct loop_watch *w, int res)
{
	struct conn *cn = container_of(w, struct conn, sock);

	if (res > 0) {
		control_message(cn, res);
		return;
	}
	if (res < 0 && res != -ECONNRESET)
		log_info("conn pid %d: %s", (int)cn->cred.pid, strerror(-res));
	if (cn->client)
		log_info("client %u (pid %d) disconnected", cn->client->id,
			 (int)cn->cred.pid);
	conn_close(cn);
}

static void
on_pidfd(struct loop_watch *w, int res)
{
	struct conn *cn = container_of(w, struct conn, pid);

	if (cn->client)
		log_info("client %u: process %d exited", cn->client->id,
			 (int)cn->cred.pid);
	conn_close(cn);
}

/* Watch the peer process too: a forked child may keep the socket open. */
static void
watch_pid(struct control *ctl, struct conn *cn)
{
	cn->pid.fd = cn->cred.pid > 0 ?
		     (int)syscall(SYS_pidfd_open, cn->cred.pid, 0) : -1;
	if (cn->pid.fd < 0) {
		cn->pid.fd = -1;
		return;
	}
	cn->pid.kind = LOOP_READABLE;
	cn->pid.cb = on_pidfd;
	cn->pid.release = conn_release;
	if (loop_watch(ctl->d->loop, &cn->pid) < 0) {
		close(cn->pid.fd);
		cn->pid.fd = -1;
		return;
	}
	cn->live++;
}

/*
 * Out of file descriptors, the pending connection would stay in the
 * listen queue and make the socket ready again at once: the loop would
 * spin on failed accepts (and flood the log), and the waiting client would
 * hang.  Give up the spare descriptor, accept that connection and close it
 * (its hgca_connect fails with -ECONNRESET), and take the spare back.  Logged
 * at most once a second, with a count.
 */
static void
shed_connection(struct control *ctl, int err)
{
	time_t now = time(NULL);
	int fd;

	if (ctl->spare_fd >= 0) {
		close(ctl->spare_fd);
		fd = accept4(ctl->l.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			close(fd);
			ctl->shed++;
		} else if (errno != EAGAIN) {
			log_debug("accept with the spare descriptor: %s",
				  strerror(errno));
		}
		ctl->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (now != ctl->shed_logged) {
		ctl->shed_logged = now;
		log_warn("accept: %s: %lu connection(s) refused so far; raise the "
			 "limit on open files (LimitNOFILE=, ulimit -n)",
			 strerror(-err), ctl->shed);
	}
}

static void
on_accept(struct loop_watch *w, int fd)
{
	struct control *ctl = container_of(w, struct control, lw);
	socklen_t len = sizeof(struct ucred);
	struct conn *cn;

	if (fd == -EMFILE || fd == -ENFILE) {
		shed_connection(ctl, fd);
		return;
	}
	if (fd < 0) {
		log_warn("accept: %s", strerror(-fd));
		return;
	}
	cn = calloc(1, sizeof(*cn));
	if (!cn || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cn->cred,
			      &len) < 0) {
		log_warn("new connection dropped: %s", strerror(errno));
		free(cn);
		close(fd);
		return;
	}
	cn->ctl = ctl;
	cn->sock = (struct loop_watch){ .fd = fd, .kind = LOOP_MSG,
					.buf = cn->buf, .cb = on_sock,
					.release = conn_release };
	if (loop_watch(ctl->d->loop, &cn->sock) < 0) {
		free(cn);
		close(fd);
		return;
	}
	cn->live = 1;
	watch_pid(ctl, cn);
	cn->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = cn;
	ctl->conns = cn;
	ctl->nconns++;
	log_debug("connection from pid %d uid %u gid %u", (int)cn->cred.pid,
		  (unsigned)cn->cred.uid, (unsigned)cn->cred.gid);
}

/* ---- quarantine notifications from other threads ---- */

static void
queue_quarantine(struct client *c)
{
	struct control *ctl = the_ctl;
	uint64_t one = 1;

	client_ref(c);
	pthread_mutex_lock(&ctl->qlock);
	c->next_event = ctl->quarantined;
	ctl->quarantined = c;
	pthread_mutex_unlock(&ctl->qlock);
	if (write(ctl->nw.fd, &one, sizeof(one)) < 0)
		log_debug("eventfd: %s", strerror(errno));
}

/* Close the connections of quarantined clients (@notify) or only drop
 * the queued references (tear-down). */
static void
take_quarantined(struct control *ctl, bool notify)
{
	struct client *c, *next;

	pthread_mutex_lock(&ctl->qlock);
	c = ctl->quarantined;
	ctl->quarantined = NULL;
	pthread_mutex_unlock(&ctl->qlock);
	for (; c; c = next) {
		struct conn *cn = c->conn;

		next = c->next_event;
		if (cn && notify)
			conn_end(cn, HGCA_MSG_QUARANTINE, -EPROTO, c->why);
		client_unref(c);
	}
}

static void
on_notify(struct loop_watch *w, int res)
{
	struct control *ctl = container_of(w, struct control, nw);
	uint64_t v;

	if (read(w->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("eventfd: %s", strerror(errno));
	take_quarantined(ctl, true);
}

/* ---- set-up and tear-down ---- */

static void
close_release(struct loop_watch *w)
{
	close(w->fd);
	w->fd = -1;
}

static int
watch_fds(struct control *ctl, char *err, size_t errlen)
{
	int rc;

	ctl->lw = (struct loop_watch){ .fd = ctl->l.fd, .kind = LOOP_LISTEN,
				       .cb = on_accept,
				       .release = close_release };
	ctl->nw = (struct loop_watch){ .fd = -1, .kind = LOOP_READABLE,
				       .cb = on_notify,
				       .release = close_release };
	ctl->nw.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ctl->nw.fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(-rc));
		return rc;
	}
	rc = loop_watch(ctl->d->loop, &ctl->lw);
	ctl->listening = rc == 0;
	if (rc == 0)
		rc = loop_watch(ctl->d->loop, &ctl->nw);
	ctl->notifying = ctl->listening && rc == 0;
	if (rc < 0)
		snprintf(err, errlen, "event loop: %s", strerror(-rc));
	return rc;
}

int
control_create(struct hgcad *d, struct control **out, char *err,
	       size_t errlen)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	int rc;

	if (!ctl)
		return -ENOMEM;
	ctl->d = d;
	ctl->next_id = 1;
	ctl->nw.fd = -1;
	ctl->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pthread_mutex_init(&ctl->qlock, NULL);
	rc = listen_open(&ctl->l, d->sock_path, d->cfg.socket_mode,
			 d->cfg.has_socket_group ? (long)d->cfg.socket_group : -1,
			 err, errlen);
	if (rc < 0) {
		control_destroy(ctl);
		return rc;
	}
	*out = ctl;
	return 0;
}

int
control_start(struct control *ctl, char *err, size_t errlen)
{
	int rc = watch_fds(ctl, err, errlen);

	if (rc < 0)
		return rc;
	the_ctl = ctl;
	client_on_quarantine = queue_quarantine;
	return 0;
}

void
control_destroy(struct control *ctl)
{
	if (!ctl)
		return;
	while (ctl->conns)
		conn_close(ctl->conns);
	if (ctl->listening)
		loop_unwatch(ctl->d->loop, &ctl->lw);
	else if (ctl->l.fd >= 0)
		close(ctl->l.fd);
	if (ctl->notifying)
		loop_unwatch(ctl->d->loop, &ctl->nw);
	else if (ctl->nw.fd >= 0)
		close(ctl->nw.fd);
	if (ctl->d->loop)
		loop_run_once(ctl->d->loop, 0);	/* releases the watches */
	listen_close(&ctl->l);
	if (ctl->spare_fd >= 0)
		close(ctl->spare_fd);
	client_on_quarantine = NULL;
	the_ctl = NULL;
	take_quarantined(ctl, false);
	pthread_mutex_destroy(&ctl->qlock);
	free(ctl);
}

void
control_drain(struct control *ctl)
{
	if (ctl->listening)
		loop_unwatch(ctl->d->loop, &ctl->lw);
	ctl->listening = false;
	listen_unlink(&ctl->l);
	for (struct conn *cn = ctl->conns; cn; cn = cn->next)
		if (cn->client)
			client_drain(cn->client);
}

bool
control_idle(struct control *ctl)
{
	for (struct conn *cn = ctl->conns; cn; cn = cn->next)
		if (cn->client && !client_idle(cn->client))
			return false;
	return true;
}

void
control_shutdown(struct control *ctl)
{
	while (ctl->conns)
		conn_end(ctl->conns, HGCA_MSG_SHUTDOWN, -ECONNRESET,
			 "the daemon is shutting down");
}

void
control_publish_spin(struct control *ctl, uint32_t spin_ns)
{
	for (struct conn *cn = ctl->conns; cn; cn = cn->next)
		if (cn->client)	/* relaxed: a hint */
			shm_store_relaxed(&cn->client->hdr->spin_ns, spin_ns);
}
