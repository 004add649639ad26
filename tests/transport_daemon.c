/*
 * transport_daemon - hgcad's start-up: -V, -n with good and bad
 * configurations (each error names its file and line), command-line
 * overrides, default socket paths, refusing a live daemon's socket,
 * removing a stale one, refusing a file that is not a socket or an unsafe
 * directory, the socket's mode, and running in the background.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/hgca.h"
#include "shm/proto.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

static char dir[64], conf[128], out[8192];

static uid_t as_uid;	/* run_hgcad runs hgcad as this uid (0: as we are) */

/* Run hgcad @args (NULL-terminated) with @env added; its exit status,
 * stdout and stderr in out. */
static int
run_hgcad(const char *const *args, const char *env)
{
	const char *argv[16] = { "hgcad" };
	char bin[256], path[160];
	int n = 1, status, fd;
	ssize_t len;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/out", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	pid = fork();
	if (pid == 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		unsetenv("RUNTIME_DIRECTORY");
		unsetenv("XDG_RUNTIME_DIR");
		if (env)
			putenv((char *)env);
		if (as_uid && (setgroups(0, NULL) < 0 ||
			       setresgid(as_uid, as_uid, as_uid) < 0 ||
			       setresuid(as_uid, as_uid, as_uid) < 0))
			_exit(126);
		execv(td_bin("daemon/hgcad", bin, sizeof(bin)), (char **)argv);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	len = pread(fd, out, sizeof(out) - 1, 0);
	out[len > 0 ? len : 0] = '\0';
	close(fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void
write_conf(const char *body)
{
	FILE *f = fopen(conf, "w");

	fprintf(f, "# test\nlog_level = info\n%s\n", body);
	fclose(f);
}

static const struct bad {
	const char *line, *says;
} bads[] = {
	{ "bogus = 1", ":3: unknown key `bogus'" },
	{ "just words", ":3: expected `key = value'" },
	{ "allow_gid =", ":3: `allow_gid' needs a value" },
	{ "spin_us = -5", ":3: `-5' is not a number" },
	{ "spin_us = 99999999", ":3: 99999999 is out of range" },
	{ "allow_uid = 1000 superuser", ":3: rights must be" },
	{ "allow_uid = no-such-user-hgca", ":3: unknown user" },
	{ "allow_gid = no-such-group-hgca admin", ":3: unknown group" },
	{ "socket_group = no-such-group-hgca", ":3: unknown group" },
	{ "region_size = 64K", ":3: 64K is out of range" },
	{ "event_backend = kqueue", ":3: event_backend must be" },
	{ "log_level = loud", ":3: log_level must be" },
	{ "socket = relative.sock", ":3: socket must be an absolute path" },
	{ "socket_mode = 999", ":3: socket_mode must be octal" },
	{ "ring_entries = 100", "ring_entries must be a power of two" },
	{ "region_size = 2G", "region_size is above region_size_max" },
	{ "region_size = 1M\nring_entries = 65536", "too small for 65536" },
	{ "max_clients = 500", "max_clients is above 126 per poller" },
};

static void
check_configs(void)
{
	static const char *const n_args[] = { "-n", "-c", conf, NULL };
	static const char *const missing[] = { "-n", "-c", "/nonexistent/x",
					       NULL };
	int rc;

	write_conf("allow_uid = 0 admin\nallow_gid = 0\nspin_us = 20\n"
		   "region_size = 8M");
	rc = run_hgcad(n_args, NULL);
	ok(rc == 0 && strstr(out, "configuration OK"), "-n accepts a good "
	   "configuration (%d)", rc);
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		write_conf(bads[i].line);
		rc = run_hgcad(n_args, NULL);
		ok(rc == 1 && strstr(out, conf) && strstr(out, bads[i].says),
		   "-n refuses `%.*s': %s", (int)strcspn(bads[i].line, "\n"),
		   bads[i].line, strtok(out, "\n"));
	}
	rc = run_hgcad(missing, NULL);
	ok(rc == 1 && strstr(out, "No such file"), "a missing -c file (%d)",
	   rc);
}

static void
check_options(void)
{
	static const char *const v[] = { "-V", NULL };
	static const char *const bad[] = { "-Q", NULL };
	static const char *const over[] = { "-n", "-c", conf, "-s",
					    "/tmp/over.sock", "-E", "epoll",
					    NULL };
	static const char *const badE[] = { "-n", "-c", conf, "-E", "poll",
					    NULL };
	static const char *const def[] = { "-n", "-c", conf, NULL };
	char want[64];
	int rc;

	rc = run_hgcad(v, NULL);
	snprintf(want, sizeof(want), "hgcad %s (protocol %d)", PACKAGE_VERSION,
		 HGCA_PROTO_VERSION);
	ok(rc == 0 && strstr(out, want), "-V: %s", strtok(out, "\n"));
	rc = run_hgcad(bad, NULL);
	ok(rc == 1 && strstr(out, "usage:"), "an unknown option prints the "
	   "usage (%d)", rc);
	write_conf("socket = /tmp/conf.sock");
	rc = run_hgcad(over, NULL);
	ok(rc == 0 && strstr(out, "socket /tmp/over.sock"),
	   "-s overrides the file: %s", strtok(out, "\n"));
	rc = run_hgcad(badE, NULL);
	ok(rc == 1 && strstr(out, "command line:"), "a bad -E is refused (%d)",
	   rc);
	write_conf("");
	rc = run_hgcad(def, "RUNTIME_DIRECTORY=/run/hgca-test");
	ok(rc == 0 && strstr(out, "socket /run/hgca-test/hgcad.sock"),
	   "the default socket is under $RUNTIME_DIRECTORY: %s",
	   strtok(out, "\n"));
	if (geteuid() != 0) {
		ok(true, "root and unprivileged defaults # SKIP not root");
		return;
	}
	rc = run_hgcad(def, NULL);
	ok(rc == 0 && strstr(out, "socket /run/hgca/hgcad.sock"),
	   "else /run/hgca for root: %s", strtok(out, "\n"));
	as_uid = TD_NOBODY;
	rc = run_hgcad(def, "XDG_RUNTIME_DIR=/run/user/65534");
	ok(rc == 0 && strstr(out, "socket /run/user/65534/hgca/hgcad.sock"),
	   "unprivileged: under $XDG_RUNTIME_DIR: %s", strtok(out, "\n"));
	rc = run_hgcad(def, NULL);
	ok(rc == 0 && strstr(out, "socket /tmp/hgca-65534/hgcad.sock"),
	   "unprivileged, no $XDG_RUNTIME_DIR: %s", strtok(out, "\n"));
	as_uid = 0;
}

static void
check_socket_safety(void)
{
	static struct td a;
	const char *const again[] = { "-f", "-c", a.conf, NULL };
	struct stat st;
	int rc;

	td_start_or_bail(&a, "socket_mode = 0640", NULL);
	stat(a.sock, &st);
	ok((st.st_mode & 0777) == 0640 && S_ISSOCK(st.st_mode),
	   "the socket has the configured mode (%o)", st.st_mode & 0777);
	rc = run_hgcad(again, NULL);
	ok(rc == 1 && strstr(out, "another hgcad"),
	   "a second daemon on a live daemon's socket is refused: %s",
	   strtok(out, "\n"));
	td_stop(&a, SIGKILL);
	ok(stat(a.sock, &st) == 0 && S_ISSOCK(st.st_mode),
	   "SIGKILL leaves a stale socket behind");
	rc = td_restart(&a);
	ok(rc == 0 && td_log_has(&a, "removing stale socket"),
	   "a stale socket is removed and the daemon starts (%d)", rc);
	rc = td_stop(&a, SIGTERM);
	ok(rc == 0, "and exits 0 (%d)", rc);
	td_cleanup(&a);
}

/* Write conf with a socket path of @sock. */
static void
conf_with_socket(const char *sock)
{
	char body[256];

	snprintf(body, sizeof(body), "socket = %s", sock);
	write_conf(body);
}

static void
check_refusals(void)
{
	static const char *const args[] = { "-f", "-c", conf, NULL };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[128];
	struct stat st;
	int rc, fd;

	snprintf(path, sizeof(path), "%s/plain", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	conf_with_socket(path);
	rc = run_hgcad(args, NULL);
	ok(rc == 1 && strstr(out, "exists and is not a socket") &&
	   stat(path, &st) == 0 && S_ISREG(st.st_mode),
	   "a file that is not a socket is refused and left alone: %s",
	   strtok(out, "\n"));
	unlink(path);
	snprintf(path, sizeof(path), "%s/plain.lock", dir);	/* hgcad's lock */
	unlink(path);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/other.sock", dir);
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	listen(fd, 1);
	conf_with_socket(sa.sun_path);
	rc = run_hgcad(args, NULL);
	ok(rc == 1 && strstr(out, "another hgcad is listening on") &&
	   stat(sa.sun_path, &st) == 0,
	   "a socket someone listens on (without the lock) is refused and "
	   "kept: %s", strtok(out, "\n"));
	close(fd);
	unlink(sa.sun_path);
	snprintf(path, sizeof(path), "%s.lock", sa.sun_path);
	unlink(path);

	snprintf(path, sizeof(path), "%s/open", dir);
	mkdir(path, 0777);
	chmod(path, 0777);
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/x.sock");
	conf_with_socket(path);
	rc = run_hgcad(args, NULL);
	ok(rc == 1 && strstr(out, "is writable by others"),
	   "a directory others can write to is refused: %s",
	   strtok(out, "\n"));
	snprintf(path, sizeof(path), "%s/open", dir);
	rmdir(path);
}

static bool
gone(void *arg)
{
	struct stat st;

	return stat((const char *)arg, &st) < 0;
}

static void
check_background(void)
{
	static const char *const args[] = { "-c", conf, NULL };
	struct hgca_connect_opts co = { .flags = HGCA_CONNECT_CONTROL };
	struct hgca_status st = { 0 };
	char sock[160];
	struct hgca *h;
	int rc, crc;

	snprintf(sock, sizeof(sock), "%s/bg.sock", dir);
	conf_with_socket(sock);
	rc = run_hgcad(args, NULL);
	crc = hgca_connect_with(sock, &co, &h);
	if (crc == 0) {
		hgca_admin_status(h, &st);
		hgca_disconnect(h);
	}
	ok(rc == 0 && crc == 0 && st.pid > 0 && st.pid != getpid(),
	   "without -f it detaches and serves (pid %d)", st.pid);
	if (st.pid > 0)
		kill(st.pid, SIGTERM);
	ok(td_until(gone, sock, 5000), "SIGTERM stops it and its socket goes");
	snprintf(sock + strlen(sock), sizeof(sock) - strlen(sock), ".lock");
	unlink(sock);
}

int
main(void)
{
	td_watchdog(60);
	snprintf(dir, sizeof(dir), "/tmp/hgca-testd-XXXXXX");
	if (!mkdtemp(dir) || chmod(dir, 0755) < 0)
		return 1;
	snprintf(conf, sizeof(conf), "%s/conf", dir);
	check_configs();
	check_options();
	check_socket_safety();
	check_refusals();
	check_background();
	unlink(conf);
	snprintf(conf, sizeof(conf), "%s/out", dir);
	unlink(conf);
	rmdir(dir);
	return done_testing();
}
