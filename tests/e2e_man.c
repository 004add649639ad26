/*
 * e2e_man - the example program of hgca_attend(3), cut out of the page at
 * build time, runs against a private daemon; the difference it prints
 * between exact and mass:0.01 attention stays within the bound the delta
 * it prints certifies (2 delta max||v||_2, with |v| <= 1 over 64
 * dimensions).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/tap.h"
#include "tests/transport_help.h"

int
main(void)
{
	char cmd[512], bin[256], out[4096];
	double pct = -1, delta = -1, diff = -1;
	const char *line;
	struct td d;
	size_t n;
	FILE *p;
	int st;

	td_watchdog(60);
	td_start_or_bail(&d, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "HGCA_SOCKET='%s' '%s' 2>&1", d.sock,
		 td_bin("tests/attend_example", bin, sizeof(bin)));
	p = popen(cmd, "r");
	n = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
	out[n] = '\0';
	st = p ? pclose(p) : -1;
	line = strstr(out, "mass:0.01 read");
	if (line)
		sscanf(line, "mass:0.01 read %lf%% of the bytes, delta <= %lf, "
		       "largest difference %lf", &pct, &delta, &diff);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && line && pct > 0 &&
	   pct <= 100 && delta >= 0 && delta <= 0.01 && diff >= 0 &&
	   diff <= 2 * delta * 8 + 1e-4,
	   "the example of hgca_attend(3) runs: %s", line ? line : out);
	td_stop(&d, SIGTERM);
	td_cleanup(&d);
	return done_testing();
}
