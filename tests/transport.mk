# tests/transport.mk: tests of the shared-memory transport, hgcad, the
# client library and hgcactl (included from tests/local.mk).  Every test
# that talks to a daemon starts its own on a private socket.
noinst_LTLIBRARIES += tests/libtransporthelp.la
tests_libtransporthelp_la_SOURCES = tests/transport_help.c \
	tests/transport_help.h

TRANSPORT_LIBS = tests/libtransporthelp.la shm/libshm.la $(TEST_LIBS) \
	$(PTHREAD_LIBS)
CLIENT_TEST_LIBS = client/libhgca-client.la $(TRANSPORT_LIBS)

check_PROGRAMS += tests/shm_ring
tests_shm_ring_LDADD = $(TRANSPORT_LIBS)
TESTS += tests/shm_ring

TRANSPORT_TESTS = tests/transport_handshake tests/transport_nop \
	tests/transport_auth tests/transport_quarantine tests/transport_death \
	tests/transport_drain tests/transport_backend tests/transport_many \
	tests/transport_daemon tests/transport_man tests/transport_fdlimit
check_PROGRAMS += $(TRANSPORT_TESTS)
TESTS += $(TRANSPORT_TESTS)
tests_transport_handshake_LDADD = $(CLIENT_TEST_LIBS)
tests_transport_nop_LDADD = $(CLIENT_TEST_LIBS)
tests_transport_auth_LDADD = $(CLIENT_TEST_LIBS)
tests_transport_quarantine_LDADD = $(CLIENT_TEST_LIBS)
tests_transport_death_LDADD = $(CLIENT_TEST_LIBS)
tests_transport_drain_LDADD = $(CLIENT_TEST_LIBS)
tests_transport_backend_LDADD = $(CLIENT_TEST_LIBS)
tests_transport_many_LDADD = $(CLIENT_TEST_LIBS)
tests_transport_daemon_LDADD = $(CLIENT_TEST_LIBS)
tests_transport_man_LDADD = $(TRANSPORT_LIBS)
tests_transport_fdlimit_LDADD = $(CLIENT_TEST_LIBS)

# The example program of hgca_nop_submit(3), cut out of the page, so that
# the manual's example is compiled and run (by tests/transport_man).
check_PROGRAMS += tests/man_example
nodist_tests_man_example_SOURCES = tests/man_example.c
tests_man_example_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/client
tests_man_example_LDADD = client/libhgca-client.la
CLEANFILES += tests/man_example.c
tests/man_example.c: $(top_srcdir)/man/hgca_nop_submit.3
	$(AM_V_GEN)$(MKDIR_P) tests && \
	sed -n '/^\.Sh EXAMPLES/,/^\.Sh [A-DF-Z]/p' $(top_srcdir)/man/hgca_nop_submit.3 | \
	sed -e '1,/^\.Bd -literal/d' -e '/^\.Ed/,$$d' -e 's/\\e/\\/g' > $@
