/* settings.c - hgcad's transport settings and allow-list (see settings.h). */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/settings.h"
#include "daemon/log.h"
#include "shm/proto.h"
#include "shm/region.h"

void
config_defaults(struct hgcad_config *c)
{
	memset(c, 0, sizeof(*c));
	c->socket_mode = 0660;
	c->spin_us = 50;
	c->poller_spin_us = CONFIG_SPIN_AUTO;
	c->backend = BACKEND_AUTO;
	c->log_level = LOG_LVL_INFO;
	c->region_size = 64ull << 20;
	c->region_size_max = 1ull << 30;
	c->ring_entries = 1024;
	c->pollers = 1;
	c->max_clients = 126;
	c->drain_timeout_s = 30;
}

static int
set_socket(void *obj, const char *v, char *err, size_t errlen)
{
	struct hgcad_config *c = obj;

	if (v[0] != '/' || strlen(v) >= sizeof(c->socket)) {
		snprintf(err, errlen, "socket must be an absolute path "
			 "shorter than %zu bytes", sizeof(c->socket));
		return -EINVAL;
	}
	strcpy(c->socket, v);
	return 0;
}

static int
set_socket_mode(void *obj, const char *v, char *err, size_t errlen)
{
	struct hgcad_config *c = obj;
	char *end;
	unsigned long m = strtoul(v, &end, 8);

	if (*end || end == v || m > 0777) {
		snprintf(err, errlen, "socket_mode must be octal, 0..0777");
		return -EINVAL;
	}
	c->socket_mode = (unsigned)m;
	return 0;
}

/* Resolve a user or group name, or take a number as it is. */
static int
acl_id(const char *who, bool is_gid, uint32_t *id, char *err, size_t errlen)
{
	char *end;
	unsigned long n = strtoul(who, &end, 10);
	struct passwd *pw;
	struct group *gr;

	if (*end == '\0' && end != who && n <= UINT32_MAX) {
		*id = (uint32_t)n;
		return 0;
	}
	/* Start-up only (single-threaded): getpwnam's static buffer is fine. */
	pw = is_gid ? NULL : getpwnam(who);
	gr = is_gid ? getgrnam(who) : NULL;
	if (!pw && !gr) {
		snprintf(err, errlen, "unknown %s `%s'",
			 is_gid ? "group" : "user", who);
		return -EINVAL;
	}
	*id = pw ? pw->pw_uid : gr->gr_gid;
	return 0;
}

static int
set_socket_group(void *obj, const char *v, char *err, size_t errlen)
{
	struct hgcad_config *c = obj;
	int rc = acl_id(v, true, &c->socket_group, err, errlen);

	c->has_socket_group = rc == 0;
	return rc;
}

/* "NAME-OR-ID [admin|read-only]" (read-only when omitted) */
static int
parse_acl(const char *v, bool is_gid, struct acl_rule *r, char *err,
	  size_t errlen)
{
	char buf[128], *save, *who, *what, *extra;

	snprintf(buf, sizeof(buf), "%s", v);
	who = strtok_r(buf, " \t", &save);
	what = strtok_r(NULL, " \t", &save);
	extra = strtok_r(NULL, " \t", &save);
	if (!who || extra || strlen(v) >= sizeof(buf)) {
		snprintf(err, errlen, "expected `%s [admin|read-only]'",
			 is_gid ? "GROUP" : "USER");
		return -EINVAL;
	}
	if (acl_id(who, is_gid, &r->id, err, errlen) < 0)
		return -EINVAL;
	r->is_gid = is_gid;
	if (!what || strcmp(what, "read-only") == 0)
		r->rights = HGCA_WIRE_RIGHTS_READ;
	else if (strcmp(what, "admin") == 0)
		r->rights = HGCA_WIRE_RIGHTS_ADMIN;
	else {
		snprintf(err, errlen, "rights must be `admin' or `read-only'");
		return -EINVAL;
	}
	return 0;
}

static int
add_acl(struct hgcad_config *c, const char *v, bool is_gid, char *err,
	size_t errlen)
{
	if (c->nacl == CONFIG_ACL_MAX) {
		snprintf(err, errlen, "more than %d allow rules", CONFIG_ACL_MAX);
		return -EINVAL;
	}
	if (parse_acl(v, is_gid, &c->acl[c->nacl], err, errlen) < 0)
		return -EINVAL;
	c->nacl++;
	return 0;
}

static int
set_allow_uid(void *obj, const char *v, char *err, size_t errlen)
{
	return add_acl(obj, v, false, err, errlen);
}

static int
set_allow_gid(void *obj, const char *v, char *err, size_t errlen)
{
	return add_acl(obj, v, true, err, errlen);
}

int
config_set_backend(void *obj, const char *v, char *err, size_t errlen)
{
	static const char *const names[] = { "auto", "io_uring", "epoll" };
	struct hgcad_config *c = obj;

	for (int i = 0; i < 3; i++)
		if (strcmp(v, names[i]) == 0) {
			c->backend = i;
			return 0;
		}
	snprintf(err, errlen, "event_backend must be auto, io_uring or epoll");
	return -EINVAL;
}

int
config_set_log_level(void *obj, const char *v, char *err, size_t errlen)
{
	struct hgcad_config *c = obj;
	int l = log_level_parse(v);

	if (l < 0) {
		snprintf(err, errlen,
			 "log_level must be error, warning, info or debug");
		return -EINVAL;
	}
	c->log_level = l;
	return 0;
}

#define U64_SETTER(field, lo, hi)					\
	static int							\
	set_##field(void *obj, const char *v, char *err, size_t errlen)	\
	{								\
		struct hgcad_config *c = obj;				\
		return conf_u64(v, lo, hi, &c->field, err, errlen);	\
	}

U64_SETTER(spin_us, 0, 1000000)

static int
set_poller_spin_us(void *obj, const char *v, char *err, size_t errlen)
{
	struct hgcad_config *c = obj;

	return conf_u64_or_auto(v, 0, 1000000, CONFIG_SPIN_AUTO,
				&c->poller_spin_us, err, errlen);
}
U64_SETTER(ring_entries, SHM_RING_MIN, SHM_RING_MAX)
U64_SETTER(pollers, 1, 64)
U64_SETTER(max_clients, 1, 64 * 126)
U64_SETTER(drain_timeout_s, 0, 3600)

static int
set_region_size(void *obj, const char *v, char *err, size_t errlen)
{
	struct hgcad_config *c = obj;

	return conf_size(v, SHM_REGION_MIN, 1ull << 40, &c->region_size, err,
			 errlen);
}

static int
set_region_size_max(void *obj, const char *v, char *err, size_t errlen)
{
	struct hgcad_config *c = obj;

	return conf_size(v, SHM_REGION_MIN, 1ull << 40, &c->region_size_max,
			 err, errlen);
}

const struct conf_key config_keys[] = {
	{ "socket", set_socket },
	{ "socket_mode", set_socket_mode },
	{ "socket_group", set_socket_group },
	{ "allow_uid", set_allow_uid },
	{ "allow_gid", set_allow_gid },
	{ "spin_us", set_spin_us },
	{ "poller_spin_us", set_poller_spin_us },
	{ "event_backend", config_set_backend },
	{ "log_level", config_set_log_level },
	{ "region_size", set_region_size },
	{ "region_size_max", set_region_size_max },
	{ "ring_entries", set_ring_entries },
	{ "pollers", set_pollers },
	{ "max_clients", set_max_clients },
	{ "drain_timeout", set_drain_timeout_s },
	{ NULL, NULL }
};

int
config_check(const struct hgcad_config *c, char *err, size_t errlen)
{
	struct shm_layout lo;

	if (c->ring_entries & (c->ring_entries - 1)) {
		snprintf(err, errlen, "ring_entries must be a power of two");
		return -EINVAL;
	}
	if (c->region_size > c->region_size_max) {
		snprintf(err, errlen, "region_size is above region_size_max");
		return -EINVAL;
	}
	if (shm_layout_compute(&lo, c->region_size,
			       (uint32_t)c->ring_entries) < 0) {
		snprintf(err, errlen, "region_size is too small for "
			 "%llu ring entries", (unsigned long long)c->ring_entries);
		return -EINVAL;
	}
	if (c->max_clients > c->pollers * 126) {
		snprintf(err, errlen, "max_clients is above 126 per poller");
		return -EINVAL;
	}
	return 0;
}

static bool
in_groups(uid_t uid, gid_t gid, gid_t want)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	gid_t groups[256];
	int n = 256;

	if (gid == want)
		return true;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		n = 256;	/* truncated: check the ones we got */
	for (int i = 0; i < n; i++)
		if (groups[i] == want)
			return true;
	return false;
}

uint32_t
config_rights(const struct hgcad_config *c, uid_t uid, gid_t gid)
{
	uint32_t best = HGCA_WIRE_RIGHTS_NONE;

	if (uid == geteuid())
		return HGCA_WIRE_RIGHTS_ADMIN;
	for (unsigned i = 0; i < c->nacl; i++) {
		const struct acl_rule *r = &c->acl[i];
		bool match = r->is_gid ? in_groups(uid, gid, r->id)
				       : r->id == uid;

		if (match && r->rights > best)
			best = r->rights;
	}
	return best;
}
