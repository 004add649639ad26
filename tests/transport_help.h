/*
 * transport_help.h - helpers for the transport tests: a private hgcad per
 * test (own temp dir, socket, config and log), a watchdog that kills it,
 * forking a child under another uid, and the NOP checksum.
 */
#ifndef HGCA_TESTS_TRANSPORT_HELP_H
#define HGCA_TESTS_TRANSPORT_HELP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TD_NOBODY 65534		/* an unprivileged uid and gid */

struct td {
	char dir[64];		/* private, mode 0755 */
	char sock[100];
	char conf[128];
	char log[128];
	pid_t pid;		/* 0 when not running */
};

/* When set, daemons started afterwards run under a seccomp filter that
 * fails io_uring_setup with ENOSYS, as container runtimes do. */
extern bool td_deny_io_uring;

/* Path of a built program ("daemon/hgcad"), under $top_builddir. */
const char *td_bin(const char *rel, char *buf, size_t size);

/*
 * td_start - write a config (socket in a fresh temp dir, mode 0666, debug
 * log, then @extra lines), start `hgcad -f -c conf @args...` with its
 * stderr in d->log, and wait until it accepts connections.  @args is
 * NULL-terminated or NULL.  0 or -errno.
 */
int td_start(struct td *d, const char *extra, const char *const *args);

/* Start the stopped daemon @d again with the same files.  0 or -errno. */
int td_restart(struct td *d);

/* td_start, or "Bail out!" and exit 1 (the test cannot run). */
void td_start_or_bail(struct td *d, const char *extra,
		      const char *const *args);

/* Send @sig (0: SIGTERM) and wait.  Exit status, 128 + signal, or -errno. */
int td_stop(struct td *d, int sig);

/* Stop if running, remove the temp dir. */
void td_cleanup(struct td *d);

/* Does the daemon's log contain @needle? */
bool td_log_has(const struct td *d, const char *needle);

/* Arm alarm(@seconds); on expiry kill every daemon started and bail out. */
void td_watchdog(unsigned seconds);

/* Fork; the child drops to @uid and @gid (no supplementary groups) and
 * exits with what @fn returns.  Returns that status, or -1. */
int td_run_as(uid_t uid, gid_t gid, int (*fn)(void *arg), void *arg);

/* Wait until @cond(arg) is true, up to @ms milliseconds.  True if it was. */
bool td_until(bool (*cond)(void *arg), void *arg, int ms);

/* FNV-1a, 64 bits: what a NOP with a buffer returns. */
uint64_t td_fnv1a(const void *p, size_t n);

#endif /* HGCA_TESTS_TRANSPORT_HELP_H */
