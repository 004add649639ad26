/* log.c - hgcad's log (see log.h). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/log.h"

static const char *const level_names[] = { "error", "warning", "info",
					    "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
				   LOG_DEBUG };

/* Relaxed everywhere: the level is a hint read by each log call; a change
 * taking effect a few messages late is fine. */
static _Atomic int cur_level = LOG_LVL_INFO;
static bool use_stderr = true;

void
log_init(bool to_stderr, int level)
{
	use_stderr = to_stderr;
	log_set_level(level);
	if (!to_stderr)
		openlog("hgcad", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_level(int level)
{
	atomic_store_explicit(&cur_level, level, memory_order_relaxed);
}

int
log_get_level(void)
{
	return atomic_load_explicit(&cur_level, memory_order_relaxed);
}

int
log_level_parse(const char *name)
{
	for (int i = 0; i <= LOG_LVL_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *
log_level_name(int level)
{
	return level >= 0 && level <= LOG_LVL_DEBUG ? level_names[level] : "?";
}

static void
vlog(int level, const char *fmt, va_list ap, const char *suffix)
{
	char line[1024];

	if (level > log_get_level())
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (!use_stderr) {
		syslog(syslog_prio[level], "%s%s", line, suffix);
		return;
	}
	/* One fprintf per line: stdio locks the stream, so lines from
	 * several threads never interleave. */
	fprintf(stderr, "hgcad[%d]: %s: %s%s\n", (int)getpid(),
		level_names[level], line, suffix);
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap, "");
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	char suffix[128];
	va_list ap;

	snprintf(suffix, sizeof(suffix), ": %s", strerror(errno));
	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, fmt, ap, suffix);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, fmt, ap, "");
	va_end(ap);
	exit(1);
}
