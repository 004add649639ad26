/*
 * transport_handshake - hello, welcome and the region: what a client gets,
 * how the region is sealed, size requests, protocol version mismatch seen
 * from both sides, malformed hellos, control-only handles, no daemon.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/hgca.h"
#include "shm/msg.h"
#include "shm/region.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

static struct td d;

static int
raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send a message of @type/@len with header version @ver; read the reply. */
static ssize_t
raw_exchange(int fd, uint16_t type, uint32_t len, uint16_t ver, void *reply,
	     int *passed)
{
	unsigned char buf[HGCA_MSG_MAX] = { 0 };
	struct hgca_msg_hdr *h = (void *)buf;

	shm_msg_init(h, type, len);
	h->version = ver;
	if (type == HGCA_MSG_HELLO && len >= sizeof(struct hgca_msg_hello))
		((struct hgca_msg_hello *)buf)->region_size = 4 << 20;
	if (shm_msg_send(fd, buf, len, -1) < 0)
		return -1;
	return shm_msg_recv(fd, reply, HGCA_MSG_MAX, passed, 5000);
}

static void
check_connect(void)
{
	struct hgca *h;
	struct hgca_info in;
	void *base;
	size_t size;
	int rc = hgca_connect(d.sock, &h);

	if (!ok(rc == 0, "hgca_connect: %d", rc))
		return;
	hgca_info(h, &in);
	rc = hgca_staging(h, &base, &size);
	ok(in.client_id >= 1 && in.rights == HGCA_RIGHTS_ADMIN &&
	   in.entries == 1024 && in.region_size == 16u << 20 && rc == 0 &&
	   size == in.staging_size && size > in.region_size / 2 &&
	   size < in.region_size && in.inflight == 0,
	   "defaults: client %u, rights %u, %u entries, region %llu, "
	   "staging %zu", in.client_id, in.rights, in.entries,
	   (unsigned long long)in.region_size, size);
	memset(base, 0xa5, size);	/* all of it is ours to write */
	hgca_disconnect(h);
}

static void
check_sealed(void)
{
	union {
		struct hgca_msg_welcome w;
		unsigned char b[HGCA_MSG_MAX];
	} u;
	int fd = raw_connect(d.sock), memfd = -1, seals = -1, trunc = 0, add;
	ssize_t n = raw_exchange(fd, HGCA_MSG_HELLO, sizeof(struct hgca_msg_hello),
				 HGCA_PROTO_VERSION, &u, &memfd);
	struct hgca_region_hdr *hdr = MAP_FAILED;
	struct stat st = { 0 };

	if (memfd >= 0) {
		seals = fcntl(memfd, F_GET_SEALS);
		trunc += ftruncate(memfd, 1 << 20) < 0 && errno == EPERM;
		trunc += ftruncate(memfd, 8 << 20) < 0 && errno == EPERM;
		add = fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE) < 0 &&
		      errno == EPERM;
		fstat(memfd, &st);
		hdr = mmap(NULL, 4096, PROT_READ, MAP_SHARED, memfd, 0);
	}
	ok(n == sizeof(u.w) && seals == (F_SEAL_SHRINK | F_SEAL_GROW |
					 F_SEAL_SEAL) && trunc == 2 && add &&
	   st.st_size == (off_t)u.w.region_size && hdr != MAP_FAILED &&
	   hdr->magic == HGCA_REGION_MAGIC && hdr->size == (uint64_t)st.st_size,
	   "the region is a sealed memfd: seals %#x, resize refused %d/2, "
	   "size %lld", seals, trunc, (long long)st.st_size);
	if (hdr != MAP_FAILED)
		munmap(hdr, 4096);
	if (memfd >= 0)
		close(memfd);
	close(fd);
}

static void
check_sizes(void)
{
	struct hgca_connect_opts o = { .region_size = 8 << 20, .entries = 64 };
	struct hgca_connect_opts big = { .region_size = 64ull << 30 };
	struct hgca_connect_opts odd = { .entries = 100 };
	struct hgca_connect_opts tiny = { .region_size = 1 << 20,
					  .entries = 65536 };
	struct hgca_info in = { 0 };
	struct hgca *h = NULL;
	int rc = hgca_connect_with(d.sock, &o, &h), r2, r3, r4;

	if (rc == 0)
		hgca_info(h, &in);
	hgca_disconnect(h);
	r2 = hgca_connect_with(d.sock, &big, &h);
	r3 = hgca_connect_with(d.sock, &odd, &h);
	r4 = hgca_connect_with(d.sock, &tiny, &h);
	ok(rc == 0 && in.region_size == 8 << 20 && in.entries == 64 &&
	   r2 == -EINVAL && r3 == -EINVAL && r4 == -EINVAL,
	   "sizes: 8 MiB/64 entries granted (%d), above the maximum %d, "
	   "entries not a power of two %d, rings too large for the region %d",
	   rc, r2, r3, r4);
}

static void
check_version_daemon_side(void)
{
	union {
		struct hgca_msg_error e;
		unsigned char b[HGCA_MSG_MAX];
	} u;
	int fd = raw_connect(d.sock), passed;
	ssize_t n = raw_exchange(fd, HGCA_MSG_HELLO,
				 sizeof(struct hgca_msg_hello),
				 HGCA_PROTO_VERSION + 1, &u, &passed);
	char logline[96];

	snprintf(logline, sizeof(logline), "speaks protocol version %u, this "
		 "daemon speaks %u: refused", HGCA_PROTO_VERSION + 1,
		 HGCA_PROTO_VERSION);
	ok(n == sizeof(u.e) && u.e.h.type == HGCA_MSG_ERROR &&
	   u.e.h.status == -EPROTONOSUPPORT &&
	   u.e.h.version == HGCA_PROTO_VERSION && passed < 0 &&
	   strstr(u.e.text, "protocol version mismatch") &&
	   td_log_has(&d, logline),
	   "a client of another version is refused: \"%s\", logged",
	   n == sizeof(u.e) ? u.e.text : "");
	close(fd);
}

/* A fake daemon that answers every hello in another protocol version. */
static void *
fake_daemon(void *arg)
{
	struct hgca_msg_welcome w;
	unsigned char buf[HGCA_MSG_MAX];
	int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (shm_msg_recv(fd, buf, sizeof(buf), NULL, 5000) > 0) {
		memset(&w, 0, sizeof(w));
		shm_msg_init(&w.h, HGCA_MSG_WELCOME, sizeof(w));
		w.h.version = HGCA_PROTO_VERSION + 1;
		shm_msg_send(fd, &w, sizeof(w), -1);
	}
	close(fd);
	return NULL;
}

static void
check_version_client_side(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), rc;
	struct hgca *h;
	pthread_t t;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/fake.sock", d.dir);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 1) < 0) {
		ok(false, "fake daemon: %s", strerror(errno));
		return;
	}
	pthread_create(&t, NULL, fake_daemon, &lfd);
	rc = hgca_connect(sa.sun_path, &h);
	pthread_join(t, NULL);
	ok(rc == -EPROTONOSUPPORT,
	   "a daemon of another version is refused by the client: %d", rc);
	close(lfd);
	unlink(sa.sun_path);
}

static void
check_malformed(void)
{
	struct hgca_msg_hdr r = { 0 };
	unsigned char buf[HGCA_MSG_MAX];
	int fd1 = raw_connect(d.sock), fd2 = raw_connect(d.sock), passed;
	ssize_t n1, n2, n3;

	n1 = raw_exchange(fd1, HGCA_MSG_STATUS, sizeof(struct hgca_msg_hdr),
			  HGCA_PROTO_VERSION, buf, &passed);
	memcpy(&r, buf, sizeof(r));
	n3 = shm_msg_recv(fd1, buf, sizeof(buf), NULL, 5000);	/* closed */
	n2 = raw_exchange(fd2, HGCA_MSG_HELLO,
			  sizeof(struct hgca_msg_hello) - 8,
			  HGCA_PROTO_VERSION, buf, &passed);
	ok(n1 > 0 && r.type == HGCA_MSG_ERROR && r.status == -EBADMSG &&
	   n3 == -ECONNRESET && n2 > 0 &&
	   ((struct hgca_msg_hdr *)buf)->status == -EBADMSG,
	   "a request before the hello and a short hello are refused and "
	   "closed (%d, %d)", r.status, ((struct hgca_msg_hdr *)buf)->status);
	close(fd1);
	close(fd2);
}

static void
check_control_only(void)
{
	struct hgca_connect_opts o = { .flags = HGCA_CONNECT_CONTROL };
	struct hgca_status st = { 0 };
	struct hgca_info in = { 0 };
	struct hgca *h, *c = NULL;
	void *base;
	size_t size;
	int rc = hgca_connect_with(d.sock, &o, &h), sr = -1, st_rc = -1, pr = -1;

	if (rc == 0) {
		hgca_connect(d.sock, &c);
		hgca_info(h, &in);
		sr = hgca_staging(h, &base, &size);
		pr = hgca_nop_prep(h, 1, NULL);
		st_rc = hgca_admin_status(h, &st);
	}
	ok(rc == 0 && in.region_size == 0 && sr == -EINVAL && pr == -EINVAL &&
	   st_rc == 0 && strcmp(st.version, PACKAGE_VERSION) == 0 &&
	   st.proto_version == HGCA_PROTO_VERSION && st.clients == 1 &&
	   st.connections == 2 && st.pollers == 1 && st.uptime_ns > 0 &&
	   (strcmp(st.backend, "io_uring") == 0 ||
	    strcmp(st.backend, "epoll") == 0),
	   "control-only handle: no region (%d, %d), status: %s %s, %u "
	   "clients, %u connections", sr, pr, st.version, st.backend,
	   st.clients, st.connections);
	hgca_disconnect(c);
	hgca_disconnect(h);
}

static void
check_no_daemon(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct hgca_connect_opts bad = { .reserved = { 1 } };
	char missing[160];
	struct hgca *h;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0), r1, r2, r3, r4;

	snprintf(missing, sizeof(missing), "%s/none.sock", d.dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stale.sock", d.dir);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);		/* bound, never listened, closed: stale */
	r1 = hgca_connect(missing, &h);
	r2 = hgca_connect(sa.sun_path, &h);
	r3 = hgca_connect(d.sock, NULL);
	r4 = hgca_connect_with(d.sock, &bad, &h);
	unlink(sa.sun_path);
	hgca_disconnect(NULL);
	ok(r1 == -ENOENT && r2 == -ECONNREFUSED && r3 == -EINVAL &&
	   r4 == -EINVAL, "no daemon: %d, stale socket: %d, bad arguments "
	   "%d, %d", r1, r2, r3, r4);
}

int
main(void)
{
	int rc;

	td_watchdog(60);
	td_start_or_bail(&d, "region_size = 16M\nregion_size_max = 32M", NULL);
	check_connect();
	check_sealed();
	check_sizes();
	check_version_daemon_side();
	check_version_client_side();
	check_malformed();
	check_control_only();
	check_no_daemon();
	rc = td_stop(&d, SIGTERM);
	ok(rc == 0, "hgcad exits 0 on SIGTERM (%d)", rc);
	td_cleanup(&d);
	return done_testing();
}
