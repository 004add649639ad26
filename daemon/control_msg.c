/*
 * control_msg.c - the messages of the control protocol: the hello that
 * makes a client (version, allow-list, region), and the admin requests
 * (status, clients, log level).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/control_pvt.h"
#include "daemon/dataplane.h"
#include "daemon/log.h"
#include "daemon/service.h"
#include "shm/msg.h"
#include "shm/spin.h"

/* ---- hello ---- */

static bool
hello_malformed(const struct hgca_msg_hello *m, int len)
{
	return len != (int)sizeof(*m) || m->rsvd[0] || m->rsvd[1] ||
	       (m->flags & ~HGCA_HELLO_F_CONTROL);
}

/* The region asked for, or an error a correct client can make. */
static int
region_wanted(struct conn *cn, const struct hgca_msg_hello *m,
	      struct client_args *a)
{
	const struct hgcad_config *cfg = &cn->ctl->d->cfg;
	struct shm_layout lo;

	a->region_size = m->region_size ? m->region_size : cfg->region_size;
	a->entries = m->entries ? m->entries : (uint32_t)cfg->ring_entries;
	if (a->region_size > cfg->region_size_max) {
		conn_text(cn, HGCA_MSG_ERROR, -EINVAL, "region size %llu is "
			  "above this daemon's region_size_max %llu",
			  (unsigned long long)a->region_size,
			  (unsigned long long)cfg->region_size_max);
		return -EINVAL;
	}
	if (shm_layout_compute(&lo, a->region_size, a->entries) < 0) {
		conn_text(cn, HGCA_MSG_ERROR, -EINVAL, "ring entries %u (a power "
			  "of two, %u..%u) do not fit a region of %llu bytes",
			  a->entries, SHM_RING_MIN, SHM_RING_MAX,
			  (unsigned long long)a->region_size);
		return -EINVAL;
	}
	return 0;
}

static int
make_client(struct conn *cn, const struct hgca_msg_hello *m)
{
	struct control *ctl = cn->ctl;
	struct client_args a = { .id = ctl->next_id, .pid = cn->cred.pid,
				 .uid = cn->cred.uid, .gid = cn->cred.gid,
				 .rights = cn->rights };
	struct client *c;
	int rc;

	if (ctl->nclients >= ctl->d->cfg.max_clients) {
		conn_text(cn, HGCA_MSG_ERROR, -EMFILE, "too many clients (%u)",
			  ctl->nclients);
		return -EMFILE;
	}
	rc = region_wanted(cn, m, &a);
	if (rc < 0)
		return rc;
	rc = client_create(&a, &c);
	if (rc == 0 && (rc = client_attach_service(c, ctl->d->svc)) < 0)
		client_unref(c);
	else if (rc == 0 && (rc = dataplane_add(ctl->d->dp, c)) < 0) {
		client_detach_service(c);
		client_unref(c);
	}
	if (rc < 0) {
		log_warn("pid %d: no region: %s%s", (int)cn->cred.pid,
			 strerror(-rc), rc == -EMFILE || rc == -ENFILE ?
			 "; raise the limit on open files (LimitNOFILE=, "
			 "ulimit -n)" : "");
		conn_text(cn, HGCA_MSG_ERROR, rc, "no region: %s", strerror(-rc));
		return rc;
	}
	/* Relaxed: published with the region when the fd is passed. */
	shm_store_relaxed(&c->hdr->spin_ns, (uint32_t)ctl->d->spin_ns);
	if (client_state(c) == HGCA_REGION_ACTIVE && ctl->d->draining)
		client_drain(c);
	ctl->next_id++;
	ctl->nclients++;
	c->conn = cn;
	cn->client = c;
	return 0;
}

static void
send_welcome(struct conn *cn)
{
	struct hgca_msg_welcome w;
	struct client *c = cn->client;
	int rc;

	memset(&w, 0, sizeof(w));
	shm_msg_init(&w.h, HGCA_MSG_WELCOME, sizeof(w));
	w.rights = cn->rights;
	if (c) {
		w.client_id = c->id;
		w.region_size = c->lo.size;
	}
	rc = shm_msg_send(cn->sock.fd, &w, sizeof(w), c ? c->memfd : -1);
	if (c) {	/* the mapping keeps the memory; the fd is not needed */
		close(c->memfd);
		c->memfd = -1;
	}
	if (rc < 0) {
		log_info("pid %d: welcome not sent: %s", (int)cn->cred.pid,
			 strerror(-rc));
		conn_close(cn);
		return;
	}
	if (c)
		log_info("client %u: pid %d uid %u, region %llu bytes, %u "
			 "entries", c->id, (int)c->pid, (unsigned)c->uid,
			 (unsigned long long)c->lo.size, c->lo.entries);
}

static void
on_hello(struct conn *cn, int len)
{
	const struct hgca_msg_hello *m = (const void *)cn->buf;
	struct ucred *cr = &cn->cred;

	if (cn->greeted || hello_malformed(m, len)) {
		log_warn("pid %d: malformed or repeated hello", (int)cr->pid);
		conn_end(cn, HGCA_MSG_ERROR, -EBADMSG, "malformed hello");
		return;
	}
	cn->greeted = true;
	cn->rights = config_rights(&cn->ctl->d->cfg, cr->uid, cr->gid);
	if (cn->rights == HGCA_WIRE_RIGHTS_NONE) {
		log_warn("pid %d uid %u gid %u is not on the allow-list: "
			 "refused", (int)cr->pid, (unsigned)cr->uid,
			 (unsigned)cr->gid);
		conn_text(cn, HGCA_MSG_ERROR, -EACCES, "uid %u is not allowed "
			  "to use this daemon", (unsigned)cr->uid);
		conn_close(cn);
		return;
	}
	if (cn->ctl->d->draining) {
		conn_end(cn, HGCA_MSG_ERROR, -ESHUTDOWN,
			 "the daemon is shutting down");
		return;
	}
	if (!(m->flags & HGCA_HELLO_F_CONTROL) && make_client(cn, m) < 0) {
		conn_close(cn);
		return;
	}
	send_welcome(cn);
}

/* ---- admin requests ---- */

/* The KV pools, summed. */
static void
status_kv(struct svc *svc, struct hgca_msg_status *s)
{
	struct svc_pool_stats ps;

	s->kv_pools = (uint32_t)svc_npools(svc);
	for (int i = 0; i < svc_npools(svc); i++)
		if (svc_pool_stats(svc, i, &ps) == 0) {
			s->kv_bytes += (uint64_t)ps.bytes;
			s->kv_slabs += (uint64_t)ps.slabs;
			s->kv_slabs_free += (uint64_t)ps.slabs_free;
			s->kv_pages += (uint64_t)ps.pages;
		}
	svc_default_policy(svc, s->policy, sizeof(s->policy));
}

static void
on_status(struct conn *cn)
{
	struct hgcad *d = cn->ctl->d;
	struct hgca_msg_status s;

	memset(&s, 0, sizeof(s));
	snprintf(s.version, sizeof(s.version), "%s", PACKAGE_VERSION);
	snprintf(s.backend, sizeof(s.backend), "%s", loop_backend(d->loop));
	s.uptime_ns = shm_now_ns() - d->start_ns;
	s.requests = dataplane_requests(d->dp);
	s.quarantined = client_quarantined_total();
	s.clients = cn->ctl->nclients;
	s.connections = cn->ctl->nconns;
	s.pollers = dataplane_pollers(d->dp);
	s.spin_ns = (uint32_t)d->spin_ns;
	s.rights = cn->rights;
	s.regions = client_count();
	s.pid = (int32_t)getpid();
	s.workers = (uint32_t)d->workers;
	status_kv(d->svc, &s);
	conn_send(cn, &s, HGCA_MSG_STATUS, sizeof(s), 0);
}

/* What the service holds for @c and how much work it has had done. */
static void
wire_client_service(struct hgca_wire_client *w, struct client *c)
{
	struct svc_client_usage u;
	struct svc_sched_stats st;
	struct svc_client *cl = client_svc_lock(c);

	if (!cl)
		return;
	svc_client_usage(cl, &u);
	svc_client_sched_stats(cl, &st);
	client_svc_unlock(c);
	w->models = (uint32_t)u.models;
	w->seqs = (uint32_t)u.seqs;
	w->kv_bytes = (uint64_t)u.kv_bytes;
	w->attends = (uint64_t)st.requests;
	w->work_bytes = (uint64_t)st.bytes;
	w->tasks = (uint64_t)st.tasks;
	w->max_bypass = (uint64_t)st.max_bypass;
}

static void
wire_client(struct hgca_wire_client *w, struct client *c)
{
	memset(w, 0, sizeof(*w));
	w->id = c->id;
	w->pid = c->pid;
	w->uid = c->uid;
	w->gid = c->gid;
	w->rights = c->rights;
	w->state = client_state(c);
	w->region_size = c->lo.size;
	/* Relaxed: statistics. */
	w->requests = atomic_load_explicit(&c->requests, memory_order_relaxed);
	w->inflight = atomic_load_explicit(&c->pending, memory_order_relaxed);
	wire_client_service(w, c);
}

static void
on_clients(struct conn *cn, int len)
{
	const struct hgca_msg_clients *req = (const void *)cn->buf;
	struct hgca_msg_clients r;
	uint32_t i = 0;

	if (len < (int)offsetof(struct hgca_msg_clients, c)) {
		conn_end(cn, HGCA_MSG_ERROR, -EBADMSG, "malformed request");
		return;
	}
	memset(&r, 0, sizeof(r));
	r.start = req->start;
	for (struct conn *o = cn->ctl->conns; o; o = o->next) {
		if (!o->client)
			continue;
		if (i >= req->start && r.n < HGCA_CLIENTS_PER_MSG)
			wire_client(&r.c[r.n++], o->client);
		i++;
	}
	r.total = i;
	conn_send(cn, &r, HGCA_MSG_CLIENTS,
		  offsetof(struct hgca_msg_clients, c) +
		  r.n * sizeof(struct hgca_wire_client), 0);
}

static void
on_log_level(struct conn *cn, int len)
{
	struct hgca_msg_log_level *m = (void *)cn->buf;
	int level;

	if (len != (int)sizeof(*m)) {
		conn_end(cn, HGCA_MSG_ERROR, -EBADMSG, "malformed request");
		return;
	}
	if (cn->rights < HGCA_WIRE_RIGHTS_ADMIN) {
		log_info("pid %d uid %u: log-level refused (read-only)",
			 (int)cn->cred.pid, (unsigned)cn->cred.uid);
		conn_text(cn, HGCA_MSG_ERROR, -EPERM,
			  "changing the log level needs admin rights");
		return;
	}
	m->level[sizeof(m->level) - 1] = '\0';
	level = log_level_parse(m->level);
	if (level < 0) {
		conn_text(cn, HGCA_MSG_ERROR, -EINVAL, "unknown log level");
		return;
	}
	log_set_level(level);
	log_info("log level set to %s by uid %u", m->level,
		 (unsigned)cn->cred.uid);
	conn_send(cn, m, HGCA_MSG_LOG_LEVEL, sizeof(*m), 0);
}

/* ---- dispatch ---- */

static void
version_mismatch(struct conn *cn, uint16_t version)
{
	log_warn("pid %d uid %u speaks protocol version %u, this daemon "
		 "speaks %u: refused", (int)cn->cred.pid,
		 (unsigned)cn->cred.uid, version, HGCA_PROTO_VERSION);
	conn_text(cn, HGCA_MSG_ERROR, -EPROTONOSUPPORT, "protocol version "
		  "mismatch: the daemon speaks %u, the client %u",
		  HGCA_PROTO_VERSION, version);
	conn_close(cn);
}

void
control_message(struct conn *cn, int len)
{
	uint16_t type = 0, version = 0;
	int rc = shm_msg_check(cn->buf, (size_t)len, &type, &version);

	if (rc == -EPROTONOSUPPORT) {
		version_mismatch(cn, version);
		return;
	}
	if (rc < 0 || (!cn->greeted && type != HGCA_MSG_HELLO)) {
		log_warn("pid %d: bad message (type %u, %d bytes)",
			 (int)cn->cred.pid, type, len);
		conn_end(cn, HGCA_MSG_ERROR, -EBADMSG,
			 rc < 0 ? "malformed message" : "hello first");
		return;
	}
	switch (type) {
	case HGCA_MSG_HELLO:
		on_hello(cn, len);
		break;
	case HGCA_MSG_STATUS:
		on_status(cn);
		break;
	case HGCA_MSG_CLIENTS:
		on_clients(cn, len);
		break;
	case HGCA_MSG_LOG_LEVEL:
		on_log_level(cn, len);
		break;
	default:
		log_warn("pid %d: unknown message type %u", (int)cn->cred.pid,
			 type);
		conn_end(cn, HGCA_MSG_ERROR, -EBADMSG, "unknown message type");
	}
}
