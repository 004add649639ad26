/*
 * hgcactl - administer hgcad through libhgca-client's admin calls (it never
 * speaks the wire protocol itself).  See hgcactl(8).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/hgca.h"

#define MAX_CLIENTS 4096

static const char *sock_path;	/* NULL: the library's default */

static void
usage(void)
{
	fprintf(stderr, "usage: hgcactl [-s socket] command\n"
		"commands: status | clients | log-level LEVEL\n");
	exit(2);
}

static void
die(const char *what, int err)
{
	const char *hint = "";

	if (err == -EACCES)
		hint = " (not allowed by the daemon's allow-list, or no access "
		       "to the socket)";
	else if (err == -EPERM)
		hint = " (needs admin rights)";
	else if (err == -EPROTONOSUPPORT)
		hint = " (hgcad and hgcactl speak different protocol versions)";
	else if (err == -ENOENT || err == -ECONNREFUSED)
		hint = " (is hgcad running?)";
	fprintf(stderr, "hgcactl: %s: %s%s\n", what, strerror(-err), hint);
	exit(1);
}

static struct hgca *
connect_control(void)
{
	struct hgca_connect_opts o = { .flags = HGCA_CONNECT_CONTROL };
	struct hgca *h;
	int rc = hgca_connect_with(sock_path, &o, &h);

	if (rc < 0)
		die(sock_path ? sock_path : "connect", rc);
	return h;
}

static const char *
rights_name(uint32_t r)
{
	return r == HGCA_RIGHTS_ADMIN ? "admin" : "read-only";
}

static const char *
state_name(uint32_t s)
{
	static const char *const n[] = { "active", "draining", "quarantined",
					  "closed" };

	return s < 4 ? n[s] : "?";
}

static void
print_clients(struct hgca *h)
{
	static struct hgca_client_info v[MAX_CLIENTS];
	unsigned total;
	int n = hgca_admin_clients(h, v, MAX_CLIENTS, &total);

	if (n < 0)
		die("clients", n);
	printf("%6s %8s %6s %-9s %-11s %10s %10s %8s %6s %6s %10s %10s "
	       "%10s\n", "ID", "PID", "UID", "RIGHTS", "STATE", "REGION",
	       "REQUESTS", "INFLIGHT", "MODELS", "SEQS", "KV", "ATTENDS",
	       "SCANNED");
	for (int i = 0; i < n; i++)
		printf("%6u %8d %6u %-9s %-11s %6llu MiB %10llu %8u %6u %6u "
		       "%6llu MiB %10llu %6llu MiB\n",
		       v[i].id, v[i].pid, v[i].uid, rights_name(v[i].rights),
		       state_name(v[i].state),
		       (unsigned long long)(v[i].region_size >> 20),
		       (unsigned long long)v[i].requests, v[i].inflight,
		       v[i].models, v[i].seqs,
		       (unsigned long long)(v[i].kv_bytes >> 20),
		       (unsigned long long)v[i].attends,
		       (unsigned long long)(v[i].work_bytes >> 20));
	if ((unsigned)n < total)
		printf("(%u more)\n", total - (unsigned)n);
}

static void
print_status(struct hgca *h)
{
	struct hgca_status s;
	int rc = hgca_admin_status(h, &s);
	unsigned long long up;

	if (rc < 0)
		die("status", rc);
	up = (unsigned long long)(s.uptime_ns / 1000000000u);
	printf("hgcad %s (protocol %u), pid %d\n", s.version, s.proto_version,
	       s.pid);
	printf("uptime          %llud %02llu:%02llu:%02llu\n", up / 86400,
	       up / 3600 % 24, up / 60 % 60, up % 60);
	printf("event backend   %s\n", s.backend);
	printf("pollers         %u\n", s.pollers);
	printf("spin budget     %u ns\n", s.spin_ns);
	printf("requests        %llu\n", (unsigned long long)s.requests);
	printf("quarantined     %llu\n", (unsigned long long)s.quarantined);
	printf("connections     %u\n", s.connections);
	printf("clients         %u\n", s.clients);
	printf("regions         %u\n", s.regions);
	printf("workers         %u\n", s.workers);
	printf("default policy  %s\n", s.policy);
	printf("KV memory       %llu MiB in %u pool(s): %llu of %llu slabs "
	       "free, %llu pages in use\n",
	       (unsigned long long)(s.kv_bytes >> 20), s.kv_pools,
	       (unsigned long long)s.kv_slabs_free,
	       (unsigned long long)s.kv_slabs,
	       (unsigned long long)s.kv_pages);
	printf("your rights     %s\n", rights_name(s.rights));
	if (s.clients)
		print_clients(h);
}

int
main(int argc, char **argv)
{
	struct hgca *h;
	int ch, rc;

	while ((ch = getopt(argc, argv, "hs:")) != -1) {
		if (ch == 's')
			sock_path = optarg;
		else
			usage();
	}
	argv += optind;
	argc -= optind;
	if (argc < 1)
		usage();
	if (strcmp(argv[0], "status") == 0 && argc == 1) {
		h = connect_control();
		print_status(h);
	} else if (strcmp(argv[0], "clients") == 0 && argc == 1) {
		h = connect_control();
		print_clients(h);
	} else if (strcmp(argv[0], "log-level") == 0 && argc == 2) {
		h = connect_control();
		if ((rc = hgca_admin_log_level(h, argv[1])) < 0)
			die("log-level", rc);
	} else {
		usage();
	}
	hgca_disconnect(h);
	return 0;
}
