/*
 * proc_help.c - what /proc says about a process's threads (proc_help.h).
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "tests/proc_help.h"

int
proc_threads_at_nice(pid_t pid, int nice)
{
	char dir[64];
	DIR *d;
	struct dirent *e;
	int n = 0;

	if (pid)
		snprintf(dir, sizeof(dir), "/proc/%ld/task", (long)pid);
	else
		snprintf(dir, sizeof(dir), "/proc/self/task");
	if (!(d = opendir(dir)))
		return -1;
	while ((e = readdir(d))) {
		char path[340], buf[1024], *p;
		FILE *f;
		long v = 0;

		snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
		if (e->d_name[0] == '.' || !(f = fopen(path, "r")))
			continue;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		/* After ") ": state, then fields 4..19; nice is field 19. */
		for (int i = 0; p && i < 17; i++)
			p = strchr(p + 1, ' ');
		if (p && sscanf(p + 1, "%ld", &v) == 1 && v == nice)
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}
