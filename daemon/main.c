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

/* Defaults, then the file, then the command line; fatal on errors. */
static void
load_config(struct hgcad *d, const struct options *o)
{
	const struct conf_table t = { config_keys, &d->cfg };
	const char *path = o->conf ? o->conf : DEFAULT_CONF;
	char err[512];

	config_defaults(&d->cfg);
	if ((o->conf || access(path, F_OK) == 0) &&
	    conf_parse_file(path, &t, 1, err, sizeof(err)) < 0)
		fatalx("%s", err);
	for (int i = 0; i < o->nset; i++)
		if (conf_parse_line(o->set[i], &t, 1, err, sizeof(err)) < 0)
			fatalx("command line: %s", err);
	if (config_check(&d->cfg, err, sizeof(err)) < 0)
		fatalx("%s: %s", path, err);
	if (d->cfg.socket[0])
		strcpy(d->sock_path, d->cfg.socket);
	else if (shm_sock_default(d->sock_path, sizeof(d->sock_path), true) < 0)
		fatalx("default socket path too long");
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
			log_warn("SIGHUP: configuration reload is not "
				 "supported yet; restart to apply changes");
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

/* Shrink the spin budget while runnable threads outnumber the cores. */
static void
update_spin(struct hgcad *d)
{
	uint64_t base = d->cfg.spin_us * 1000, spin = base;
	int runnable = d->loadavg_fd >= 0 ? shm_spin_runnable(d->loadavg_fd)
					  : -1;

	if (runnable >= 0)
		spin = shm_spin_scale(base, runnable, d->cores);
	if (spin == d->spin_ns)
		return;		/* no write to every region's header */
	log_debug("spin budget %llu ns (%d runnable, %d cores)",
		  (unsigned long long)spin, runnable, d->cores);
	d->spin_ns = spin;
	dataplane_set_spin(d->dp, spin);
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
	if ((rc = ops_start()) < 0 ||
	    (rc = dataplane_create((unsigned)d->cfg.pollers, d->spin_ns,
				   &d->dp)) < 0)
		fatalx("threads: %s", strerror(-rc));
	d->loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	d->cores = shm_spin_cores();
	log_info("hgcad %s ready on %s: %s, %llu poller(s), spin %llu us",
		 PACKAGE_VERSION, d->sock_path, loop_backend(d->loop),
		 (unsigned long long)d->cfg.pollers,
		 (unsigned long long)d->cfg.spin_us);
}

/* Connections first (no client is served after), then the pollers (no
 * thread can quarantine after), then the control plane, then the
 * handlers' threads (leftover completions are dropped). */
static void
stop(struct hgcad *d)
{
	control_shutdown(d->ctl);
	dataplane_destroy(d->dp);
	d->dp = NULL;
	control_destroy(d->ctl);
	ops_stop();
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
	for (int i = 0; i < o.nset; i++)
		free(o.set[i]);
	if (o.check) {
		fprintf(stderr, "hgcad: configuration OK (socket %s)\n",
			d.sock_path);
		return 0;
	}
	d.start_ns = shm_now_ns();
	d.spin_ns = d.cfg.spin_us * 1000;
	start(&d, &o);
	run(&d);
	stop(&d);
	return 0;
}
