/*
 * proc_help.c - what /proc says about a process's threads (proc_help.h).
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "tests/proc_help.h"

/* The task directory of @pid (0: this process) into @dir, opened. */
static DIR *
tasks(pid_t pid, char dir[static 64])
{
	if (pid)
		snprintf(dir, 64, "/proc/%ld/task", (long)pid);
	else
		snprintf(dir, 64, "/proc/self/task");
	return opendir(dir);
}

/* The first line of @dir/@task/@file into buf; 0, or -1. */
static int
task_line(const char *dir, const char *task, const char *file, char *buf,
	  size_t size)
{
	char path[340];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, task, file);
	if (!(f = fopen(path, "r")))
		return -1;
	rc = fgets(buf, (int)size, f) ? 0 : -1;
	fclose(f);
	return rc;
}

int
proc_threads_at_nice(pid_t pid, int nice)
{
	char dir[64];
	DIR *d;
	struct dirent *e;
	int n = 0;

	if (!(d = tasks(pid, dir)))
		return -1;
	while ((e = readdir(d))) {
		char buf[1024], *p;
		long v = 0;

		if (e->d_name[0] == '.' ||
		    task_line(dir, e->d_name, "stat", buf, sizeof(buf)) < 0)
			continue;
		p = strrchr(buf, ')');
		/* After ") ": state, then fields 4..19; nice is field 19. */
		for (int i = 0; p && i < 17; i++)
			p = strchr(p + 1, ' ');
		if (p && sscanf(p + 1, "%ld", &v) == 1 && v == nice)
			n++;
	}
	closedir(d);
	return n;
}

long long
proc_thread_run_ns(pid_t pid, const char *name)
{
	char dir[64], buf[256];
	long long ns = -1;
	DIR *d;
	struct dirent *e;

	if (!(d = tasks(pid, dir)))
		return -1;
	while (ns < 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    task_line(dir, e->d_name, "comm", buf, sizeof(buf)) < 0)
			continue;
		buf[strcspn(buf, "\n")] = '\0';
		if (strcmp(buf, name) == 0 &&
		    (task_line(dir, e->d_name, "schedstat", buf, sizeof(buf)) < 0 ||
		     sscanf(buf, "%lld", &ns) != 1))
			break;
	}
	closedir(d);
	return ns;
}
