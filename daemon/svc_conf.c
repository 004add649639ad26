/* svc_conf.c - the service's configuration keys (see svc_conf.h). */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/paged.h"
#include "daemon/svc_conf.h"

void
svc_conf_defaults(struct svc_settings *s)
{
	memset(s, 0, sizeof(*s));
	svc_config_defaults(&s->c);
	s->c.worker_nice = SVC_WORKER_NICE_AUTO;
}

int
svc_conf_resolve_nice(struct svc_settings *s, int pollers, int cpus)
{
	if (s->c.worker_nice == SVC_WORKER_NICE_AUTO)
		s->c.worker_nice = svc_workers(&s->c) + pollers > cpus ?
				   SVC_WORKER_NICE_SHARED : 0;
	return s->c.worker_nice;
}

#define S(obj) ((struct svc_settings *)(obj))

/* A setter for an int field of the service's configuration. */
#define INT_SETTER(name, field, lo, hi)					\
	static int							\
	set_##name(void *obj, const char *v, char *err, size_t errlen)	\
	{								\
		uint64_t n;						\
		int rc = conf_u64(v, lo, hi, &n, err, errlen);		\
									\
		if (rc == 0)						\
			S(obj)->c.field = (int)n;			\
		return rc;						\
	}

INT_SETTER(workers, workers, 0, 1024)

static int
set_worker_nice(void *obj, const char *v, char *err, size_t errlen)
{
	uint64_t n;
	int rc = conf_u64_or_auto(v, 0, 19, (uint64_t)SVC_WORKER_NICE_AUTO, &n,
				  err, errlen);

	if (rc == 0)
		S(obj)->c.worker_nice = (int)n;
	return rc;
}

INT_SETTER(numa_nodes, nodes, 0, 1024)
INT_SETTER(chunk_pages, chunk_pages, 1, 1u << 20)

static int
set_memory_budget(void *obj, const char *v, char *err, size_t errlen)
{
	uint64_t n;
	int rc = conf_size(v, 2ull << 20, 1ull << 50, &n, err, errlen);

	if (rc == 0)
		S(obj)->c.mem_bytes = (int64_t)n;
	return rc;
}

static int
set_page_size(void *obj, const char *v, char *err, size_t errlen)
{
	uint64_t n;
	int rc = conf_u64(v, 16, 256, &n, err, errlen);

	if (rc == 0 && n % 16) {
		snprintf(err, errlen, "page_size must be a multiple of 16");
		rc = -EINVAL;
	}
	if (rc == 0)
		S(obj)->c.page = (int)n;
	return rc;
}

static int
set_default_policy(void *obj, const char *v, char *err, size_t errlen)
{
	struct attn_policy p;

	if (strlen(v) >= SVC_POLICY_MAX || attn_policy_parse(v, &p) < 0) {
		snprintf(err, errlen, "default_policy must be full, topk:K or "
			 "mass:EPS, optionally with ,budget:BYTES");
		return -EINVAL;
	}
	strcpy(S(obj)->c.policy, v);
	return 0;
}

static int
quota_num(const char *v, bool size, int64_t *out, char *err, size_t errlen)
{
	uint64_t n;
	int rc = size ? conf_size(v, 1, INT64_MAX, &n, err, errlen)
		      : conf_u64(v, 1, INT64_MAX, &n, err, errlen);

	if (rc == 0)
		*out = (int64_t)n;
	return rc;
}

static int
set_quota_kv_bytes(void *obj, const char *v, char *err, size_t errlen)
{
	return quota_num(v, true, &S(obj)->c.quota.kv_bytes, err, errlen);
}

static int
set_quota_seqs(void *obj, const char *v, char *err, size_t errlen)
{
	return quota_num(v, false, &S(obj)->c.quota.seqs, err, errlen);
}

static int
set_quota_inflight(void *obj, const char *v, char *err, size_t errlen)
{
	return quota_num(v, false, &S(obj)->c.quota.inflight, err, errlen);
}

/* A user name or a number. */
static int
quota_uid(const char *who, uid_t *uid, char *err, size_t errlen)
{
	char *end;
	unsigned long n = strtoul(who, &end, 10);
	struct passwd *pw;

	if (*end == '\0' && end != who) {
		*uid = (uid_t)n;
		return 0;
	}
	/* Start-up and reload run on one thread: the static buffer is fine. */
	pw = getpwnam(who);
	if (!pw) {
		snprintf(err, errlen, "unknown user `%s'", who);
		return -EINVAL;
	}
	*uid = pw->pw_uid;
	return 0;
}

/* One field of a quota_uid line: a number, or `-' for the default's. */
static int
quota_field(const char *tok, bool size, int64_t *out, char *err,
	    size_t errlen)
{
	if (strcmp(tok, "-") == 0) {
		*out = 0;
		return 0;
	}
	return quota_num(tok, size, out, err, errlen);
}

/* "USER KV_BYTES SEQS INFLIGHT" */
static int
set_quota_uid(void *obj, const char *v, char *err, size_t errlen)
{
	struct svc_settings *s = obj;
	struct svc_uid_quota q;
	char buf[256], *save, *tok[5];
	int n = 0, rc;

	snprintf(buf, sizeof(buf), "%s", v);
	for (char *t = strtok_r(buf, " \t", &save); t && n < 5;
	     t = strtok_r(NULL, " \t", &save))
		tok[n++] = t;
	if (n != 4 || strlen(v) >= sizeof(buf)) {
		snprintf(err, errlen, "expected `USER KV_BYTES SEQS INFLIGHT' "
			 "(`-' for the default's value)");
		return -EINVAL;
	}
	if ((rc = quota_uid(tok[0], &q.uid, err, errlen)) < 0 ||
	    (rc = quota_field(tok[1], true, &q.q.kv_bytes, err, errlen)) < 0 ||
	    (rc = quota_field(tok[2], false, &q.q.seqs, err, errlen)) < 0 ||
	    (rc = quota_field(tok[3], false, &q.q.inflight, err, errlen)) < 0)
		return rc;
	for (int i = 0; i < s->nuq; i++)
		if (s->uq[i].uid == q.uid) {	/* the last line wins */
			s->uq[i] = q;
			return 0;
		}
	if (s->nuq == SVC_CONF_UIDS) {
		snprintf(err, errlen, "more than %d quota_uid lines",
			 SVC_CONF_UIDS);
		return -EINVAL;
	}
	s->uq[s->nuq++] = q;
	return 0;
}

const struct conf_key svc_conf_keys[] = {
	{ "workers", set_workers },
	{ "worker_nice", set_worker_nice },
	{ "numa_nodes", set_numa_nodes },
	{ "memory_budget", set_memory_budget },
	{ "page_size", set_page_size },
	{ "chunk_pages", set_chunk_pages },
	{ "default_policy", set_default_policy },
	{ "quota_kv_bytes", set_quota_kv_bytes },
	{ "quota_seqs", set_quota_seqs },
	{ "quota_inflight", set_quota_inflight },
	{ "quota_uid", set_quota_uid },
	{ NULL, NULL }
};

int
svc_conf_finish(struct svc_settings *s, char *err, size_t errlen)
{
	int nodes = s->c.nodes > 0 ? s->c.nodes : 1;

	for (int i = 0; i < s->nuq; i++) {
		struct svc_quota *q = &s->uq[i].q;

		q->kv_bytes = q->kv_bytes ? q->kv_bytes : s->c.quota.kv_bytes;
		q->seqs = q->seqs ? q->seqs : s->c.quota.seqs;
		q->inflight = q->inflight ? q->inflight : s->c.quota.inflight;
	}
	s->c.uid_quotas = s->uq;
	s->c.n_uid_quotas = s->nuq;
	if (s->c.mem_bytes < (int64_t)(2u << 20) * nodes) {
		snprintf(err, errlen, "memory_budget must give each of the %d "
			 "KV pools 2M at least", nodes);
		return -EINVAL;
	}
	if (svc_config_check(&s->c) < 0) {
		snprintf(err, errlen, "service settings out of range");
		return -EINVAL;
	}
	return 0;
}

void
svc_conf_fixed_names(unsigned fixed, char *buf, size_t len)
{
	static const char *const names[] = { "workers", "memory_budget",
					     "numa_nodes", "page_size",
					     "worker_nice" };
	size_t at = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < 5; i++)
		if (fixed & (1u << i) && at < len)
			at += (size_t)snprintf(buf + at, len - at, "%s%s",
					       at ? ", " : "", names[i]);
}
