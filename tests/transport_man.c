/*
 * transport_man - the manual pages lint clean under `mandoc -Tlint -W
 * warning` (skipped where mandoc is missing), and the example program of
 * hgca_nop_submit(3), extracted from the page at build time, runs against
 * a daemon and prints the right checksums.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/tap.h"
#include "tests/transport_help.h"

static bool
is_page(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && dot[1] >= '1' && dot[1] <= '9' && dot[2] == '\0';
}

/* Run @cmd through the shell; its exit status, output in @out. */
static int
run(const char *cmd, char *out, size_t size)
{
	FILE *p = popen(cmd, "r");
	size_t n;
	int st;

	if (!p)
		return -1;
	n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
check_lint(void)
{
	const char *top = getenv("top_srcdir");
	char dir[512], cmd[1200], out[4096];
	struct dirent *e;
	int pages = 0;
	DIR *dp;

	if (system("command -v mandoc >/dev/null 2>&1") != 0) {
		ok(true, "lint # SKIP mandoc is not installed");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/man", top && *top ? top : "..");
	dp = opendir(dir);
	while (dp && (e = readdir(dp))) {
		if (!is_page(e->d_name))
			continue;
		snprintf(cmd, sizeof(cmd), "mandoc -Tlint -W warning '%s/%s' 2>&1",
			 dir, e->d_name);
		int rc = run(cmd, out, sizeof(out));

		ok(rc == 0 && out[0] == '\0', "%s lints clean%s%s", e->d_name,
		   out[0] ? ": " : "", strtok(out, "\n") ? out : "");
		pages++;
	}
	if (dp)
		closedir(dp);
	ok(pages >= 8, "%d manual pages found in %s", pages, dir);
}

static void
check_example(void)
{
	static const char text[] = "hello, daemon";
	struct td d;
	char cmd[512], bin[256], out[4096], want[64];
	int rc, found = 0;

	td_start_or_bail(&d, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "HGCA_SOCKET='%s' '%s' 2>&1", d.sock,
		 td_bin("tests/man_example", bin, sizeof(bin)));
	rc = run(cmd, out, sizeof(out));
	for (int i = 0; i < 8; i++) {
		snprintf(want, sizeof(want), "tag %d: checksum %016llx", 100 + i,
			 (unsigned long long)td_fnv1a(text, 5 + (size_t)i));
		found += strstr(out, want) != NULL;
	}
	ok(rc == 0 && found == 8,
	   "the example of hgca_nop_submit(3) runs: exit %d, %d of 8 "
	   "checksums right", rc, found);
	td_stop(&d, SIGTERM);
	td_cleanup(&d);
}

int
main(void)
{
	td_watchdog(60);
	check_lint();
	check_example();
	return done_testing();
}
