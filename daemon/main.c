/*
 * main.c - hgcad: options, configuration, start-up, the event loop's
 * periodic work (spin budget, drain), and shutdown.  See hgcad(8).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "daemon/control.h"
#include "daemon/dataplane.h"
#include "daemon/hgcad.h"
#include "daemon/log.h"
#include "daemon/ops.h"
#include "daemon/service.h"
#include "shm/msg.h"
#include "shm/spin.h"

#ifndef HGCA_SYSCONFDIR
#define HGCA_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF HGCA_SYSCONFDIR "/hgca/hgcad.conf"
#define TICK_MS 100
#define DRAIN_TICK_MS 10

struct options {
	const char *conf;	/* NULL: DEFAULT_CONF if it exists */
	bool foreground, check;
	char *set[8];		/* "key = value" from the command line */
	int nset;
};

static void
usage(void)
{
	fprintf(stderr, "usage: hgcad [-dfhnV] [-c file] [-E backend] "
		"[-l level] [-s socket]\n");
	exit(1);
}

static void
add_set(struct options *o, const char *key, const char *value)
{
	char *s;

	if (o->nset == 8 || asprintf(&s, "%s = %s", key, value) < 0)
		fatalx("too many options");
	o->set[o->nset++] = s;
}

static void
parse_args(int argc, char **argv, struct options *o)
{
	int ch;

	while ((ch = getopt(argc, argv, "c:dE:fhl:ns:V")) != -1) {
		switch (ch) {
		case 'c': o->conf = optarg; break;
		case 'd': add_set(o, "log_level", "debug");
			  o->foreground = true; break;
		case 'E': add_set(o, "event_backend", optarg); break;
		case 'f': o->foreground = true; break;
		case 'l': add_set(o, "log_level", optarg); break;
		case 'n': o->check = true; break;
		case 's': add_set(o, "socket", optarg); break;
		case 'V': printf("hgcad %s (protocol %u)\n", PACKAGE_VERSION,
				 HGCA_PROTO_VERSION);
			  exit(0);
		default: usage();
		}
	}
	if (optind != argc)
		usage();
}

static void
free_options(struct options *o)
{
	for (int i = 0; i < o->nset; i++)
		free(o->set[i]);
	o->nset = 0;
}

/*
 * Defaults, then the file, then the command line, into @cfg and @sc.
 * 0, or -EINVAL with a message in @err.
 */
static int
parse_config(const struct options *o, struct hgcad_config *cfg,
	     struct svc_settings *sc, char *err, size_t errlen)
{
	const struct conf_table t[] = { { config_keys, cfg },
					{ svc_conf_keys, sc } };
	const char *path = o->conf ? o->conf : DEFAULT_CONF;
	char line[256], msg[400];

	config_defaults(cfg);
	svc_conf_defaults(sc);
	if ((o->conf || access(path, F_OK) == 0) &&
	    conf_parse_file(path, t, 2, err, errlen) < 0)
		return -EINVAL;
	for (int i = 0; i < o->nset; i++) {
		snprintf(line, sizeof(line), "%s", o->set[i]);
		if (conf_parse_line(line, t, 2, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "command line: %s", msg);
			return -EINVAL;
		}
	}
	if (config_check(cfg, msg, sizeof(msg)) == 0) {
		/* `worker_nice = auto' needs the pollers and the CPUs */
		svc_conf_resolve_nice(sc, (int)cfg->pollers, shm_spin_cores());
		if (svc_conf_finish(sc, msg, sizeof(msg)) == 0)
			return 0;
	}
	snprintf(err, errlen, "%s: %s", path, msg);
	return -EINVAL;
}

/* The configuration at start-up; fatal on errors. */
static void
load_config(struct hgcad *d, const struct options *o)
{
	char err[512];

	if (parse_config(o, &d->cfg, &d->scfg, err, sizeof(err)) < 0)
		fatalx("%s", err);
	d->scfg.c.uid_quotas = d->scfg.uq;	/* moved with the struct */
	if (d->cfg.socket[0])
		strcpy(d->sock_path, d->cfg.socket);
	else if (shm_sock_default(d->sock_path, sizeof(d->sock_path), true) < 0)
		fatalx("default socket path too long");
}

/* ---- reloading (SIGHUP) ---- */

/* Transport settings that only a restart changes; log the ones that
 * differ. */
static void
log_fixed_transport(const struct hgcad_config *old,
		    const struct hgcad_config *new)
{
	static const struct { const char *name; size_t off, len; } f[] = {
#define F(m) { #m, offsetof(struct hgcad_config, m), \
	       sizeof(((struct hgcad_config *)0)->m) }
		F(socket), F(socket_mode), F(socket_group), F(backend),
		F(region_size),
		F(region_size_max), F(ring_entries), F(pollers),
		F(max_clients),
#undef F
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (memcmp((const char *)old + f[i].off,
			   (const char *)new + f[i].off, f[i].len))
			log_warn("SIGHUP: %s changed; it takes effect at the "
				 "next restart", f[i].name);
}

/*
 * Re-read the configuration: quotas, the default policy, the task size,
 * the allow rules, the log level, the spin budget and the drain timeout
 * change now; other changes are logged as needing a restart.  A bad file
 * changes nothing.
 */
static void
reload(struct hgcad *d)
{
	struct hgcad_config cfg;
	struct svc_settings sc;
	char err[512], names[128];
	unsigned fixed = 0;
	int rc;

	if (parse_config(d->opts, &cfg, &sc, err, sizeof(err)) < 0) {
		log_warn("SIGHUP: %s; configuration not reloaded", err);
		return;
	}
	rc = svc_reload(d->svc, &sc.c, &fixed);
	if (rc < 0) {
		log_warn("SIGHUP: service settings refused (%s); configuration "
			 "not reloaded", strerror(-rc));
		return;
	}
	log_fixed_transport(&d->cfg, &cfg);
	svc_conf_fixed_names(fixed, names, sizeof(names));
	if (fixed)
		log_warn("SIGHUP: %s changed; they take effect at the next "
			 "restart", names);
	memcpy(d->cfg.acl, cfg.acl, sizeof(cfg.acl));
	d->cfg.nacl = cfg.nacl;
	d->cfg.log_level = cfg.log_level;
	d->cfg.spin_us = cfg.spin_us;
	d->cfg.poller_spin_us = cfg.poller_spin_us;
	d->cfg.drain_timeout_s = cfg.drain_timeout_s;
	log_set_level(cfg.log_level);
	log_info("SIGHUP: configuration reloaded (default policy %s, quota "
		 "%lld bytes / %lld sequences / %lld in flight, %d per-uid "
		 "quotas)", sc.c.policy, (long long)sc.c.quota.kv_bytes,
		 (long long)sc.c.quota.seqs, (long long)sc.c.quota.inflight,
		 sc.nuq);
}

/* ---- signals ---- */

static void
begin_drain(struct hgcad *d)
{
	if (d->draining)
		return;
	d->draining = true;
	d->drain_deadline_ns = shm_now_ns() +
			       d->cfg.drain_timeout_s * 1000000000ull;
	log_info("SIGTERM: draining in-flight work (at most %llus)",
		 (unsigned long long)d->cfg.drain_timeout_s);
	control_drain(d->ctl);
}

static void
on_signal(struct loop_watch *w, int res)
{
	struct hgcad *d = (struct hgcad *)((char *)w -
					   offsetof(struct hgcad, sigw));
	struct signalfd_siginfo si;

	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			reload(d);
		else
			begin_drain(d);
	}
}

static void
watch_signals(struct hgcad *d)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Blocked before any thread starts, so every thread inherits it. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		fatalx("pthread_sigmask failed");
	signal(SIGPIPE, SIG_IGN);	/* sends use MSG_NOSIGNAL; belt and braces */
	d->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->sigfd < 0)
		fatal("signalfd");
	d->sigw = (struct loop_watch){ .fd = d->sigfd, .kind = LOOP_READABLE,
				       .cb = on_signal };
	if (loop_watch(d->loop, &d->sigw) < 0)
		fatalx("cannot watch signals");
}

/* ---- periodic work ---- */

/* Whether the workers and the pollers leave a CPU free. */
static bool
spare_cpu(const struct hgcad *d)
{
	return d->workers + (int)d->cfg.pollers < d->cores;
}

/*
 * The attention workers spin with the clients' budget, but only when they
 * and the pollers leave a core free: on a small machine a spinning worker
 * would take the core the client or the poller needs (measured on 2 cores).
 */
static void
set_worker_spin(struct hgcad *d)
{
	svc_set_worker_spin(d->svc, spare_cpu(d) ? d->spin_ns : 0);
}

/* The pollers' budget before load shrinks it: poller_spin_us, or with
 * `auto' CONFIG_POLLER_SPIN_SPARE_US where a poller has a CPU of its own
 * (spin_us if that is more) and spin_us elsewhere (hgcad.conf(5)). */
static uint64_t
poller_base_ns(const struct hgcad *d)
{
	uint64_t us = d->cfg.poller_spin_us;

	if (us == CONFIG_SPIN_AUTO)
		us = spare_cpu(d) && d->cfg.spin_us < CONFIG_POLLER_SPIN_SPARE_US ?
		     CONFIG_POLLER_SPIN_SPARE_US : d->cfg.spin_us;
	return us * 1000;
}

/* Shrink the spin budgets while runnable threads outnumber the cores. */
static void
update_spin(struct hgcad *d)
{
	uint64_t base = d->cfg.spin_us * 1000, spin = base;
	uint64_t pbase = poller_base_ns(d), pspin = pbase;
	int runnable = d->loadavg_fd >= 0 ? shm_spin_runnable(d->loadavg_fd)
					  : -1;

	if (runnable >= 0) {
		spin = shm_spin_scale(base, runnable, d->cores);
		pspin = shm_spin_scale(pbase, runnable, d->cores);
	}
	if (pspin != d->poller_spin_ns) {
		d->poller_spin_ns = pspin;
		dataplane_set_spin(d->dp, pspin);
	}
	if (spin == d->spin_ns)
		return;		/* no write to every region's header */
	log_debug("spin budget %llu ns, pollers %llu ns (%d runnable, %d "
		  "cores)", (unsigned long long)spin, (unsigned long long)pspin,
		  runnable, d->cores);
	d->spin_ns = spin;
	set_worker_spin(d);
	control_publish_spin(d->ctl, (uint32_t)spin);
}

static void
tick(struct hgcad *d)
{
	update_spin(d);
	if (!d->draining)
		return;
	if (control_idle(d->ctl) || shm_now_ns() >= d->drain_deadline_ns) {
		if (!control_idle(d->ctl))
			log_warn("drain timeout: dropping unfinished work");
		control_shutdown(d->ctl);
		d->done = true;
	}
}

static void
run(struct hgcad *d)
{
	uint64_t next = 0;

	while (!d->done) {
		int ms = d->draining ? DRAIN_TICK_MS : TICK_MS;
		uint64_t now = shm_now_ns();
		int rc;

		if (now >= next) {
			tick(d);
			next = now + (uint64_t)ms * 1000000;
			continue;
		}
		rc = loop_run_once(d->loop, (int)((next - now) / 1000000) + 1);
		if (rc < 0)
			fatalx("event loop: %s", strerror(-rc));
	}
}

/* ---- start-up ---- */

static void
start(struct hgcad *d, const struct options *o)
{
	char err[512], why[256];
	int rc;

	if (control_create(d, &d->ctl, err, sizeof(err)) < 0)
		fatalx("%s", err);
	if (!o->foreground && daemon(0, 0) < 0)
		fatal("daemon");
	log_init(o->foreground, d->cfg.log_level);
	rc = loop_create(d->cfg.backend, &d->loop, why, sizeof(why));
	if (rc < 0)
		fatalx("event loop: %s", why[0] ? why : strerror(-rc));
	if (why[0])
		log_info("io_uring unavailable (%s): using epoll", why);
	watch_signals(d);
	if (control_start(d->ctl, err, sizeof(err)) < 0)
		fatalx("%s", err);
	if ((rc = svc_create(&d->svc, &d->scfg.c)) < 0)
		fatalx("attention service: %s", strerror(-rc));
	d->cores = shm_spin_cores();
	d->poller_spin_ns = poller_base_ns(d);
	if ((rc = ops_start()) < 0 ||
	    (rc = dataplane_create((unsigned)d->cfg.pollers, d->poller_spin_ns,
				   &d->dp)) < 0)
		fatalx("threads: %s", strerror(-rc));
	d->loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	set_worker_spin(d);
	log_info("hgcad %s ready on %s: %s, %llu poller(s) spinning %llu us, "
		 "clients %llu us, %d worker(s) at niceness %d, KV memory %lld "
		 "MiB, default policy %s",
		 PACKAGE_VERSION, d->sock_path, loop_backend(d->loop),
		 (unsigned long long)d->cfg.pollers,
		 (unsigned long long)(d->poller_spin_ns / 1000),
		 (unsigned long long)d->cfg.spin_us, d->workers,
		 d->scfg.c.worker_nice,
		 (long long)(d->scfg.c.mem_bytes >> 20), d->scfg.c.policy);
}

/* Connections first (no client is served after), then the pollers (no
 * thread can quarantine after), then the control plane, then the
 * handlers' threads (leftover completions are dropped), then the
 * service (it waits for its workers, which unmap the last regions). */
static void
stop(struct hgcad *d)
{
	control_shutdown(d->ctl);
	dataplane_destroy(d->dp);
	d->dp = NULL;
	control_destroy(d->ctl);
	ops_stop();
	svc_destroy(d->svc);		/* waits for its work, frees regions */
	if (d->loadavg_fd >= 0)
		close(d->loadavg_fd);
	close(d->sigfd);
	loop_destroy(d->loop);
	log_info("exiting");
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	struct hgcad d = { .sigfd = -1, .loadavg_fd = -1 };

	log_init(true, LOG_LVL_INFO);
	parse_args(argc, argv, &o);
	load_config(&d, &o);
	d.opts = &o;
	d.workers = svc_workers(&d.scfg.c);
	if (o.check) {
		fprintf(stderr, "hgcad: configuration OK (socket %s)\n",
			d.sock_path);
		free_options(&o);
		return 0;
	}
	d.start_ns = shm_now_ns();
	d.spin_ns = d.cfg.spin_us * 1000;
	start(&d, &o);
	run(&d);
	stop(&d);
	free_options(&o);
	return 0;
}
