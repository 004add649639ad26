/*
 * proc_help.h - what /proc says about a process's threads, for tests.
 */
#ifndef HGCA_TESTS_PROC_HELP_H
#define HGCA_TESTS_PROC_HELP_H

#include <sys/types.h>

/* Threads of process @pid (0: this one) whose niceness is @nice, from
 * field 19 of /proc/PID/task/TID/stat; -1 if the process has no task
 * directory. */
int proc_threads_at_nice(pid_t pid, int nice);

/* Nanoseconds the thread named @name of process @pid has run (the first
 * field of its /proc schedstat); -1 if there is no such thread or the
 * kernel keeps no schedstat. */
long long proc_thread_run_ns(pid_t pid, const char *name);

#endif /* HGCA_TESTS_PROC_HELP_H */
