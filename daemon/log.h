/*
 * log.h - hgcad's log: to stderr with a level prefix (foreground) or to
 * syslog (background).  Thread-safe; the level can change at run time.
 */
#ifndef HGCA_DAEMON_LOG_H
#define HGCA_DAEMON_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(bool to_stderr, int level);
void log_set_level(int level);
int log_get_level(void);

/* "error", "warning", "info", "debug" -> level, or -EINVAL. */
int log_level_parse(const char *name);
const char *log_level_name(int level);

void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* Log, append strerror(errno) (fatal) or not (fatalx), and exit(1). */
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif /* HGCA_DAEMON_LOG_H */
