/* admin.c - status and administration requests on the control socket. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/client_pvt.h"
#include "shm/msg.h"

/* Read one reply into @buf (HGCA_MSG_MAX bytes): its length, or an error
 * (notices and a hang-up end the handle). */
static int
read_reply(struct hgca *h, unsigned char *buf, uint16_t *type)
{
	struct hgca_msg_hdr r;
	uint16_t version;
	ssize_t n = shm_msg_recv(h->sock, buf, HGCA_MSG_MAX, NULL,
				 CLIENT_TIMEOUT_MS);

	if (n == -ECONNRESET)
		return client_check_conn(h) ? h->err
					    : client_fail(h, -ECONNRESET);
	if (n < 0)
		return n == -EMSGSIZE ? client_fail(h, -EPROTO) : (int)n;
	if (shm_msg_check(buf, (size_t)n, type, &version) < 0)
		return client_fail(h, -EPROTO);
	memcpy(&r, buf, sizeof(r));
	if (*type == HGCA_MSG_QUARANTINE)
		return client_fail(h, -EPROTO);
	if (*type == HGCA_MSG_SHUTDOWN)
		return client_fail(h, -ECONNRESET);
	if (*type == HGCA_MSG_ERROR)
		return r.status < 0 ? r.status : -EPROTO;
	return (int)n;
}

/*
 * Send @req and wait for the reply of the same type, copied into @reply
 * (at most @size bytes; its length is returned) or an error (its status).
 */
static int
rpc(struct hgca *h, void *req, uint16_t type, uint32_t len, void *reply,
    size_t size)
{
	unsigned char buf[HGCA_MSG_MAX];
	uint16_t rtype;
	int rc;

	if (h->err)
		return h->err;
	shm_msg_init(req, type, len);
	rc = shm_msg_send(h->sock, req, len, -1);
	if (rc == -EPIPE || rc == -ECONNRESET || rc == -ENOTCONN)
		return client_fail(h, -ECONNRESET);
	if (rc < 0)
		return rc;
	rc = read_reply(h, buf, &rtype);
	if (rc < 0)
		return rc;
	if (rtype != type || (size_t)rc > size)
		return client_fail(h, -EPROTO);
	memcpy(reply, buf, (size_t)rc);
	return rc;
}

int
hgca_admin_status(struct hgca *h, struct hgca_status *st)
{
	struct hgca_msg_hdr req;
	struct hgca_msg_status s;
	int n;

	if (!h || !st)
		return -EINVAL;
	n = rpc(h, &req, HGCA_MSG_STATUS, sizeof(req), &s, sizeof(s));
	if (n < 0)
		return n;
	if (n != sizeof(s))
		return client_fail(h, -EPROTO);
	memset(st, 0, sizeof(*st));
	memcpy(st->version, s.version, sizeof(st->version) - 1);
	memcpy(st->backend, s.backend, sizeof(st->backend) - 1);
	st->uptime_ns = s.uptime_ns;
	st->requests = s.requests;
	st->quarantined = s.quarantined;
	st->clients = s.clients;
	st->connections = s.connections;
	st->pollers = s.pollers;
	st->spin_ns = s.spin_ns;
	st->rights = s.rights;
	st->proto_version = s.h.version;
	st->regions = s.regions;
	st->pid = s.pid;
	st->workers = s.workers;
	st->kv_pools = s.kv_pools;
	st->kv_bytes = s.kv_bytes;
	st->kv_slabs = s.kv_slabs;
	st->kv_slabs_free = s.kv_slabs_free;
	st->kv_pages = s.kv_pages;
	memcpy(st->policy, s.policy, sizeof(st->policy) - 1);
	return 0;
}

static void
copy_client(struct hgca_client_info *o, const struct hgca_wire_client *w)
{
	memset(o, 0, sizeof(*o));
	o->id = w->id;
	o->pid = w->pid;
	o->uid = w->uid;
	o->gid = w->gid;
	o->rights = w->rights;
	o->state = w->state;
	o->region_size = w->region_size;
	o->requests = w->requests;
	o->inflight = w->inflight;
	o->models = w->models;
	o->seqs = w->seqs;
	o->kv_bytes = w->kv_bytes;
	o->attends = w->attends;
	o->work_bytes = w->work_bytes;
	o->tasks = w->tasks;
	o->max_bypass = w->max_bypass;
}

/* One page of the list from index @start.  Stored count or -errno. */
static int
clients_page(struct hgca *h, uint32_t start, struct hgca_client_info *v,
	     unsigned max, unsigned *total)
{
	struct hgca_msg_clients req, r;
	const size_t head = offsetof(struct hgca_msg_clients, c);
	int n;

	memset(&req, 0, sizeof(req));
	req.start = start;
	n = rpc(h, &req, HGCA_MSG_CLIENTS, head, &r, sizeof(r));
	if (n < 0)
		return n;
	if ((size_t)n < head || r.n > HGCA_CLIENTS_PER_MSG ||
	    (size_t)n != head + r.n * sizeof(r.c[0]))
		return client_fail(h, -EPROTO);
	*total = r.total;
	for (uint32_t i = 0; i < r.n && i < max; i++)
		copy_client(&v[i], &r.c[i]);
	return (int)(r.n < max ? r.n : max);
}

int
hgca_admin_clients(struct hgca *h, struct hgca_client_info *v, unsigned max,
		   unsigned *total)
{
	unsigned got = 0, all = 0;
	int n;

	if (!h || (!v && max))
		return -EINVAL;
	do {
		n = clients_page(h, got, v + got, max - got, &all);
		if (n < 0)
			return n;
		got += (unsigned)n;
	} while (n > 0 && got < max && got < all);
	if (total)
		*total = all;
	return (int)got;
}

int
hgca_admin_log_level(struct hgca *h, const char *level)
{
	struct hgca_msg_log_level m;
	int n;

	if (!h || !level || strlen(level) >= sizeof(m.level))
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	strcpy(m.level, level);
	n = rpc(h, &m, HGCA_MSG_LOG_LEVEL, sizeof(m), &m, sizeof(m));
	return n < 0 ? n : 0;
}
