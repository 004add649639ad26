/*
 * transport_auth - SO_PEERCRED against the allow-list: a uid not on it is
 * refused (library and hgcactl), read-only may use the service and read
 * status but not administer, admin by uid or group, the best rule wins,
 * and the daemon's own uid is admin.  Children drop to unprivileged ids.
 * socket_group: a mode 0660 socket (and its directory) get the group, so
 * its members reach the daemon and others do not.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/hgca.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

static struct td d;

/* Ids and what the config below grants them. */
static const struct who {
	uid_t uid;
	gid_t gid;
	int rights;		/* expected: 0 = refused */
	const char *why;
} people[] = {
	{ 65534, 65534, HGCA_RIGHTS_READ, "uid rule, read-only" },
	{ 65533, 65533, 0, "on no rule" },
	{ 65532, 65531, HGCA_RIGHTS_ADMIN, "group rule, admin" },
	{ 65530, 65530, HGCA_RIGHTS_ADMIN, "read-only uid, admin group" },
};

static const char conf[] =
	"allow_uid = 65534 read-only\n"
	"allow_gid = 65531 admin\n"
	"allow_uid = 65530\n"		/* read-only when omitted */
	"allow_gid = 65530 admin\n";

/* In the child: connect, use the service, read status, try to set the
 * log level.  Exit 0 when everything matches @w's expected rights. */
static int
child_checks(void *arg)
{
	const struct who *w = arg;
	struct hgca_status st;
	struct hgca_info in;
	struct hgca_completion c;
	struct hgca *h;
	int rc = hgca_connect(d.sock, &h);

	if (w->rights == 0)
		return rc == -EACCES ? 0 : 10;
	if (rc < 0)
		return 11;
	hgca_info(h, &in);
	if (in.rights != (uint32_t)w->rights)
		return 12;
	if (hgca_nop_submit(h, 5, NULL) < 0 || hgca_wait(h, &c, 1, 1, 5000) != 1 ||
	    c.tag != 5)
		return 13;
	if (hgca_admin_status(h, &st) < 0 || st.rights != (uint32_t)w->rights)
		return 14;
	rc = hgca_admin_log_level(h, "debug");
	hgca_disconnect(h);
	if (w->rights == HGCA_RIGHTS_READ)
		return rc == -EPERM ? 0 : 15;
	return rc == 0 ? 0 : 16;
}

static void
check_people(void)
{
	for (size_t i = 0; i < sizeof(people) / sizeof(people[0]); i++) {
		const struct who *w = &people[i];
		int rc = td_run_as(w->uid, w->gid, child_checks, (void *)w);

		ok(rc == 0, "uid %u gid %u (%s): rights %d as expected (%d)",
		   (unsigned)w->uid, (unsigned)w->gid, w->why, w->rights, rc);
	}
	ok(td_log_has(&d, "uid 65533 gid 65533 is not on the allow-list") &&
	   td_log_has(&d, "log-level refused (read-only)"),
	   "the daemon logs refusals");
}

struct ctl_run {
	int fd;
	const char *cmd, *arg;
};

static int
exec_ctl(void *arg)
{
	const struct ctl_run *r = arg;
	char bin[256];

	dup2(r->fd, STDOUT_FILENO);
	dup2(r->fd, STDERR_FILENO);
	execl(td_bin("ctl/hgcactl", bin, sizeof(bin)), "hgcactl", "-s", d.sock,
	      r->cmd, r->arg, (char *)NULL);
	return 127;
}

/* Run hgcactl as @uid; its exit status, output in @out. */
static int
run_ctl(uid_t uid, const char *cmd, const char *arg, char *out, size_t size)
{
	char path[160];
	struct ctl_run r = { .cmd = cmd, .arg = arg };
	ssize_t n;
	int rc;

	snprintf(path, sizeof(path), "%s/ctl.out", d.dir);
	r.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fcntl(r.fd, F_SETFD, 0);	/* the child writes through it */
	rc = td_run_as(uid, uid, exec_ctl, &r);
	n = pread(r.fd, out, size - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(r.fd);
	unlink(path);
	return rc;
}

static void
check_hgcactl(void)
{
	char out[4096];
	int rc;

	rc = run_ctl(65533, "status", NULL, out, sizeof(out));
	ok(rc == 1 && strstr(out, "Permission denied") &&
	   strstr(out, "allow-list"),
	   "hgcactl status is refused for a uid without rights (%d): %s", rc,
	   strtok(out, "\n"));
	rc = run_ctl(65534, "status", NULL, out, sizeof(out));
	ok(rc == 0 && strstr(out, "event backend") &&
	   strstr(out, "your rights     read-only"),
	   "hgcactl status works read-only (%d)", rc);
	rc = run_ctl(65534, "log-level", "info", out, sizeof(out));
	ok(rc == 1 && strstr(out, "needs admin rights"),
	   "hgcactl log-level is refused read-only (%d): %s", rc,
	   strtok(out, "\n"));
	rc = run_ctl(65530, "log-level", "info", out, sizeof(out));
	ok(rc == 0, "hgcactl log-level works for admin (%d)", rc);
	rc = run_ctl(0, "log-level", "loud", out, sizeof(out));
	ok(rc == 1 && strstr(out, "Invalid argument"),
	   "an unknown level is refused (%d)", rc);
}

static void
check_own_uid(void)
{
	struct hgca *h;
	struct hgca_info in = { 0 };
	int rc = hgca_connect(d.sock, &h);

	if (rc == 0)
		hgca_info(h, &in);
	ok(rc == 0 && in.rights == HGCA_RIGHTS_ADMIN,
	   "the daemon's own uid (%u) is admin without a rule",
	   (unsigned)getuid());
	if (rc == 0)
		hgca_disconnect(h);
}

static int
child_connects(void *arg)
{
	const char *sock = arg;
	struct hgca_completion c;
	struct hgca *h;
	int rc = hgca_connect(sock, &h);

	if (rc < 0)
		return -rc == EACCES ? 100 : 101;
	rc = hgca_nop_submit(h, 7, NULL) == 0 && hgca_wait(h, &c, 1, 1, 5000) == 1 &&
	     c.tag == 7 ? 0 : 102;
	hgca_disconnect(h);
	return rc;
}

static void
check_socket_group(void)
{
	struct td g;
	struct stat ss, ds;

	td_start_or_bail(&g, "socket_mode = 0660\nsocket_group = 65531\n"
			 "allow_gid = 65531\nallow_uid = 65534\n", NULL);
	ok(stat(g.sock, &ss) == 0 && ss.st_gid == 65531 &&
	   (ss.st_mode & 0777) == 0660 && stat(g.dir, &ds) == 0 &&
	   ds.st_gid == 65531,
	   "socket_group: the socket (0660) and its directory get group 65531");
	ok(td_run_as(65532, 65531, child_connects, g.sock) == 0,
	   "socket_group: a member of the group connects and is served");
	ok(td_run_as(65534, 65534, child_connects, g.sock) == 100 &&
	   !td_log_has(&g, "uid 65534"),
	   "socket_group: others cannot reach the socket (EACCES), even when "
	   "on the allow-list");
	ok(td_stop(&g, SIGTERM) == 0, "socket_group: hgcad exits 0");
	td_cleanup(&g);
}

int
main(void)
{
	int rc;

	if (geteuid() != 0)
		skip_all("needs root to switch uids");
	td_watchdog(60);
	td_start_or_bail(&d, conf, NULL);
	check_people();
	check_hgcactl();
	check_own_uid();
	check_socket_group();
	rc = td_stop(&d, SIGTERM);
	ok(rc == 0, "hgcad exits 0 (%d)", rc);
	td_cleanup(&d);
	return done_testing();
}
