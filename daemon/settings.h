/*
 * settings.h - hgcad's transport settings (hgcad.conf(5)) and the allow-list.
 * Other modules add their own keys through conf_table (daemon/conf.h).
 */
#ifndef HGCA_DAEMON_SETTINGS_H
#define HGCA_DAEMON_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/conf.h"

#define CONFIG_ACL_MAX 64
#define CONFIG_SOCK_MAX 108	/* sizeof(sun_path) */

enum backend_choice { BACKEND_AUTO, BACKEND_URING, BACKEND_EPOLL };

struct acl_rule {
	uint32_t id;		/* uid or gid */
	bool is_gid;
	uint32_t rights;	/* HGCA_WIRE_RIGHTS_READ or _ADMIN */
};

struct hgcad_config {
	char socket[CONFIG_SOCK_MAX];	/* "" = the default path */
	unsigned socket_mode;
	bool has_socket_group;		/* socket_group given */
	uint32_t socket_group;		/* the socket's (and its directory's) group */
	struct acl_rule acl[CONFIG_ACL_MAX];
	unsigned nacl;
	uint64_t spin_us;
	uint64_t poller_spin_us;	/* or CONFIG_SPIN_AUTO */
	int backend;			/* enum backend_choice */
	int log_level;			/* enum log_level */
	uint64_t region_size;		/* default per client */
	uint64_t region_size_max;	/* most a hello may ask for */
	uint64_t ring_entries;		/* default per client */
	uint64_t pollers;
	uint64_t max_clients;
	uint64_t drain_timeout_s;
};

/* poller_spin_us = auto: a poller with a CPU of its own (the workers and
 * the pollers leave one free) spins CONFIG_POLLER_SPIN_SPARE_US, others
 * spin_us.  On the 16-core GPU host (14 workers) a 32K-token decode step
 * through hgcad took 1.00-1.05x the in-process engine's time (median 1.01)
 * with auto against 1.02-1.07x (median 1.05) with 50 us, in 7 alternating
 * pairs of bench/service runs: a sleeping poller's wake-up on each step's
 * first request cost about 4%. */
#define CONFIG_SPIN_AUTO UINT64_MAX
#define CONFIG_POLLER_SPIN_SPARE_US 2000

extern const struct conf_key config_keys[];

void config_defaults(struct hgcad_config *c);

/* Cross-key checks after parsing: 0 or -EINVAL with a message. */
int config_check(const struct hgcad_config *c, char *err, size_t errlen);

/* Setters shared with the command line (0 or -EINVAL with a message). */
int config_set_backend(void *c, const char *v, char *err, size_t errlen);
int config_set_log_level(void *c, const char *v, char *err, size_t errlen);

/* The rights of a peer: the best matching rule (uid, primary gid or a
 * supplementary group); the daemon's own uid is always admin. */
uint32_t config_rights(const struct hgcad_config *c, uid_t uid, gid_t gid);

#endif /* HGCA_DAEMON_SETTINGS_H */
