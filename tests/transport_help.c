/* transport_help.c - a private daemon per test (see transport_help.h). */
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
#include <time.h>
#include <unistd.h>

#include "tests/transport_help.h"

#define MAX_DAEMONS 8

static pid_t started[MAX_DAEMONS];

const char *
td_bin(const char *rel, char *buf, size_t size)
{
	const char *top = getenv("top_builddir");

	snprintf(buf, size, "%s/%s", top && *top ? top : ".", rel);
	return buf;
}

static void
remember(pid_t pid, bool add)
{
	for (int i = 0; i < MAX_DAEMONS; i++)
		if (add ? started[i] == 0 : started[i] == pid) {
			started[i] = add ? pid : 0;
			return;
		}
}

static void
on_alarm(int sig)
{
	static const char msg[] = "Bail out! watchdog expired\n";

	for (int i = 0; i < MAX_DAEMONS; i++)
		if (started[i] > 0)
			kill(started[i], SIGKILL);
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

void
td_watchdog(unsigned seconds)
{
	signal(SIGALRM, on_alarm);
	alarm(seconds);
}

static int
write_conf(struct td *d, const char *extra)
{
	FILE *f = fopen(d->conf, "w");

	if (!f)
		return -errno;
	fprintf(f, "# written by the test\nsocket = %s\nsocket_mode = 0666\n"
		"log_level = debug\n%s\n", d->sock, extra ? extra : "");
	return fclose(f) == 0 ? 0 : -EIO;
}

static bool
accepting(void *arg)
{
	const struct td *d = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), rc;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->sock);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return rc == 0;
}

/* Print the daemon's log as TAP comments (when it failed to start). */
static void
show_log(const struct td *d)
{
	char line[512];
	FILE *f = fopen(d->log, "r");

	while (f && fgets(line, sizeof(line), f))
		printf("# hgcad: %s", line);
	if (f)
		fclose(f);
}

static void
exec_daemon(const struct td *d, const char *const *args)
{
	const char *argv[16] = { "hgcad", "-f", "-c", d->conf };
	char bin[256];
	int n = 4, fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

	for (; args && *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		dup2(fd, STDOUT_FILENO);
	}
	execv(td_bin("daemon/hgcad", bin, sizeof(bin)), (char **)argv);
	_exit(127);
}

int
td_start(struct td *d, const char *extra, const char *const *args)
{
	int rc;

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/hgca-test-XXXXXX");
	if (!mkdtemp(d->dir) || chmod(d->dir, 0755) < 0)
		return -errno;
	snprintf(d->sock, sizeof(d->sock), "%s/hgcad.sock", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/hgcad.conf", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/hgcad.log", d->dir);
	if ((rc = write_conf(d, extra)) < 0)
		return rc;
	d->pid = fork();
	if (d->pid < 0)
		return -errno;
	if (d->pid == 0)
		exec_daemon(d, args);
	remember(d->pid, true);
	if (td_until(accepting, d, 10000))
		return 0;
	rc = td_stop(d, SIGKILL);
	show_log(d);
	return rc == 128 + SIGKILL ? -ETIMEDOUT : -ECHILD;
}

void
td_start_or_bail(struct td *d, const char *extra, const char *const *args)
{
	int rc = td_start(d, extra, args);

	if (rc == 0)
		return;
	printf("Bail out! cannot start hgcad: %s\n", strerror(-rc));
	td_cleanup(d);
	exit(1);
}

int
td_stop(struct td *d, int sig)
{
	int status;

	if (d->pid <= 0)
		return -ESRCH;
	kill(d->pid, sig ? sig : SIGTERM);
	if (waitpid(d->pid, &status, 0) < 0)
		return -errno;
	remember(d->pid, false);
	d->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status)
				 : 128 + WTERMSIG(status);
}

void
td_cleanup(struct td *d)
{
	char path[192];
	const char *files[] = { d->sock, d->conf, d->log };

	if (d->pid > 0)
		td_stop(d, SIGKILL);
	if (!d->dir[0])
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(files[i]);
	snprintf(path, sizeof(path), "%s.lock", d->sock);
	unlink(path);
	rmdir(d->dir);
}

bool
td_log_has(const struct td *d, const char *needle)
{
	char buf[1 << 16];
	FILE *f = fopen(d->log, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

int
td_run_as(uid_t uid, gid_t gid, int (*fn)(void *arg), void *arg)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(126);
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

bool
td_until(bool (*cond)(void *arg), void *arg, int ms)
{
	struct timespec ts = { .tv_nsec = 2000000 };

	for (int waited = 0; waited <= ms; waited += 2) {
		if (cond(arg))
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

uint64_t
td_fnv1a(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}
