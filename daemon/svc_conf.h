/*
 * svc_conf.h - the service's keys of hgcad.conf(5): workers, the KV memory
 * budget, pages, tasks, the default policy and the quotas (DESIGN.md
 * section 3).  Parsed by the same `key = value` parser as the transport's
 * settings (daemon/conf.h), into a struct svc_config for svc_create and
 * svc_reload.
 */
#ifndef HGCA_DAEMON_SVC_CONF_H
#define HGCA_DAEMON_SVC_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/conf.h"
#include "daemon/service.h"

#define SVC_CONF_UIDS 64	/* quota_uid lines */

struct svc_settings {
	struct svc_config c;	/* c.uid_quotas points at uq once finished */
	struct svc_uid_quota uq[SVC_CONF_UIDS];	/* 0 fields: the default's */
	int nuq;
};

extern const struct conf_key svc_conf_keys[];

/* svc_config_defaults, worker_nice `auto' (SVC_WORKER_NICE_AUTO), and no
 * quota_uid lines. */
void svc_conf_defaults(struct svc_settings *s);

/*
 * svc_conf_resolve_nice - `worker_nice = auto' made a number: 5
 * (SVC_WORKER_NICE_SHARED) when the workers (c.workers, or the default
 * count) and @pollers outnumber @cpus, the CPUs the daemon may run on,
 * else 0.  A number given in the file stays.  Returns the niceness.
 */
int svc_conf_resolve_nice(struct svc_settings *s, int pollers, int cpus);

/*
 * svc_conf_finish - after parsing: quota_uid fields left out take the
 * default quota's, c.uid_quotas is pointed at the table, and the whole is
 * checked (svc_config_check).  0 or -EINVAL with a message in @err.
 */
int svc_conf_finish(struct svc_settings *s, char *err, size_t errlen);

/* Names of the SVC_CFG_* flags set in @fixed, comma-separated, into buf. */
void svc_conf_fixed_names(unsigned fixed, char *buf, size_t len);

#endif /* HGCA_DAEMON_SVC_CONF_H */
