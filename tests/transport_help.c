/* transport_help.c - a private daemon per test (see transport_help.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/msg.h"
#include "tests/transport_help.h"

#define MAX_DAEMONS 8

static pid_t started[MAX_DAEMONS];
bool td_deny_io_uring;

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

/* Ready when a control hello gets a welcome: a socket that merely
 * accepts may belong to a daemon just killed (its io_uring lingers). */
static bool
accepting(void *arg)
{
	const struct td *d = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct hgca_msg_hello m = { .flags = HGCA_HELLO_F_CONTROL };
	unsigned char buf[HGCA_MSG_MAX];
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ssize_t n = -1;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->sock);
	shm_msg_init(&m.h, HGCA_MSG_HELLO, sizeof(m));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    shm_msg_send(fd, &m, sizeof(m), -1) == 0)
		n = shm_msg_recv(fd, buf, sizeof(buf), NULL, 200);
	close(fd);
	return n == sizeof(struct hgca_msg_welcome);
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

/* In the child: make io_uring_setup fail with ENOSYS. */
static void
deny_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		_exit(125);
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
	if (td_deny_io_uring)
		deny_io_uring();
	execv(td_bin("daemon/hgcad", bin, sizeof(bin)), (char **)argv);
	_exit(127);
}

/* Fork and exec the daemon on d's files; wait until it accepts. */
static int
spawn(struct td *d, const char *const *args)
{
	int rc;

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
	return spawn(d, args);
}

int
td_restart(struct td *d)
{
	return d->pid > 0 ? -EBUSY : spawn(d, NULL);
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
	struct stat st;
	char *buf;
	bool found = false;
	FILE *f = fopen(d->log, "r");

	if (!f)
		return false;
	if (fstat(fileno(f), &st) == 0 && (buf = malloc(st.st_size + 1))) {
		size_t n = fread(buf, 1, st.st_size, f);

		buf[n] = '\0';
		found = strstr(buf, needle) != NULL;
		free(buf);
	}
	fclose(f);
	return found;
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
