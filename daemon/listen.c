/* listen.c - the control socket, created safely (see listen.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/listen.h"
#include "daemon/log.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

/* The socket's directory: created 0750 if missing; if present it must be
 * a real directory owned by us or root that others cannot write to (or
 * sticky, like /tmp, which cannot host the socket directly anyway). */
static int
check_dir(const char *path, char *err, size_t errlen)
{
	char buf[108], *dir;
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", path);
	dir = dirname(buf);
	if (mkdir(dir, 0750) == 0)
		return 0;
	if (errno != EEXIST)
		return ERR("mkdir %s: %s", dir, strerror(errno));
	if (lstat(dir, &st) < 0)
		return ERR("%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return ERR("%s is not a directory", dir);
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return ERR("%s belongs to uid %u, not to us", dir,
			   (unsigned)st.st_uid);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		return ERR("%s is writable by others", dir);
	return 0;
}

static int
take_lock(struct listener *l, char *err, size_t errlen)
{
	char lock[sizeof(l->path) + 8];

	snprintf(lock, sizeof(lock), "%s.lock", l->path);
	l->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			  0600);
	if (l->lock_fd < 0)
		return ERR("%s: %s", lock, strerror(errno));
	if (flock(l->lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	close(l->lock_fd);
	l->lock_fd = -1;
	return ERR("another hgcad holds %s", lock);
}

static void
fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
}

/* 0 when nobody listens on @path (ECONNREFUSED), 1 when someone does
 * (the connection is queued, or the queue is full: EAGAIN). */
static int
probe(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd, rc, e;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ERR("socket: %s", strerror(errno));
	fill_addr(&sa, path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN)
		return 1;
	return e == ECONNREFUSED ? 0 : ERR("%s: %s", path, strerror(e));
}

/*
 * A socket already at the path: refuse if live, remove if stale.  We hold
 * the lock every hgcad takes, so a listener is either a foreign process or
 * a daemon that was just killed: its io_uring may keep the socket
 * accepting for a moment after its death.  Give that a second to pass.
 */
static int
check_existing(const char *path, char *err, size_t errlen)
{
	struct timespec pause = { .tv_nsec = 50000000 };
	struct stat st;
	int live = 1;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : ERR("%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return ERR("%s exists and is not a socket", path);
	for (int i = 0; i < 20 && live == 1; i++) {
		if (i)
			nanosleep(&pause, NULL);
		live = probe(path, err, errlen);
	}
	if (live < 0)
		return live;
	if (live)
		return ERR("another hgcad is listening on %s", path);
	log_info("removing stale socket %s", path);
	if (unlink(path) < 0)
		return ERR("unlink %s: %s", path, strerror(errno));
	return 0;
}

static int
bind_socket(struct listener *l, unsigned mode, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	mode_t old;
	int rc;

	l->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       0);
	if (l->fd < 0)
		return ERR("socket: %s", strerror(errno));
	fill_addr(&sa, l->path);
	old = umask(0777 & ~mode);	/* the mode is set as the file appears */
	rc = bind(l->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0)
		return ERR("bind %s: %s", l->path, strerror(errno));
	l->bound = true;
	if (listen(l->fd, 128) < 0)
		return ERR("listen %s: %s", l->path, strerror(errno));
	return 0;
}

/* The socket, and its directory when we own it, to group @group. */
static int
set_group(const char *path, long group, char *err, size_t errlen)
{
	char buf[108], *dir;
	struct stat st;

	if (chown(path, (uid_t)-1, (gid_t)group) < 0)
		return ERR("chown %s to group %ld: %s", path, group,
			   strerror(errno));
	snprintf(buf, sizeof(buf), "%s", path);
	dir = dirname(buf);
	if (lstat(dir, &st) == 0 && st.st_uid == geteuid() &&
	    st.st_gid != (gid_t)group && chown(dir, (uid_t)-1, (gid_t)group) < 0)
		return ERR("chown %s to group %ld: %s", dir, group,
			   strerror(errno));
	return 0;
}

int
listen_open(struct listener *l, const char *path, unsigned mode, long group,
	    char *err, size_t errlen)
{
	int rc;

	l->fd = l->lock_fd = -1;
	l->bound = false;
	if (strlen(path) >= sizeof(l->path))
		return ERR("socket path too long: %s", path);
	strcpy(l->path, path);
	rc = check_dir(path, err, errlen);
	if (rc == 0)
		rc = take_lock(l, err, errlen);
	if (rc == 0)
		rc = check_existing(path, err, errlen);
	if (rc == 0)
		rc = bind_socket(l, mode, err, errlen);
	if (rc == 0 && group >= 0)
		rc = set_group(path, group, err, errlen);
	if (rc < 0) {
		listen_close(l);
		if (l->fd >= 0)
			close(l->fd);
		l->fd = -1;
	}
	return rc;
}

void
listen_unlink(struct listener *l)
{
	if (l->bound)	/* never a path another daemon bound */
		unlink(l->path);
	l->bound = false;
}

void
listen_close(struct listener *l)
{
	listen_unlink(l);
	/* The lock file stays: removing it would let a second daemon lock
	 * a fresh file while a third still holds the old one. */
	if (l->lock_fd >= 0)
		close(l->lock_fd);
	l->lock_fd = -1;
}
