# tests/e2e.mk: the attention service end to end (hgcad, libhgca-client,
# several client processes), included from tests/local.mk.  Every test
# starts its own daemon on a private socket and arms a watchdog.
E2E_HELP = tests/e2e_help.c tests/e2e_help.h tests/svc_help.c \
	tests/svc_help.h
E2E_LIBS = $(CLIENT_TEST_LIBS) daemon/libhgcasvc.la attn/libattn.la -lm

E2E_TESTS = tests/e2e_decode tests/e2e_errors tests/e2e_quota \
	tests/e2e_quarantine tests/e2e_fair tests/e2e_man \
	tests/e2e_conf tests/service_wait
check_PROGRAMS += $(E2E_TESTS)
TESTS += $(E2E_TESTS)
tests_e2e_decode_SOURCES = tests/e2e_decode.c $(E2E_HELP)
tests_e2e_decode_LDADD = $(E2E_LIBS)
tests_e2e_errors_SOURCES = tests/e2e_errors.c tests/e2e_raw.h $(E2E_HELP)
tests_e2e_errors_LDADD = $(E2E_LIBS)
tests_e2e_quota_SOURCES = tests/e2e_quota.c $(E2E_HELP)
tests_e2e_quota_LDADD = $(E2E_LIBS)
tests_e2e_quarantine_SOURCES = tests/e2e_quarantine.c tests/e2e_raw.h \
	$(E2E_HELP)
tests_e2e_quarantine_LDADD = $(E2E_LIBS)
tests_e2e_fair_SOURCES = tests/e2e_fair.c $(E2E_HELP)
tests_e2e_fair_LDADD = $(E2E_LIBS) $(PTHREAD_LIBS)
tests_e2e_man_LDADD = $(TRANSPORT_LIBS)
tests_e2e_conf_LDADD = $(CLIENT_TEST_LIBS)
tests_service_wait_LDADD = $(E2E_LIBS)

# The example program of hgca_attend(3), cut out of the page, so that the
# manual's example is compiled and run (by tests/e2e_man).
check_PROGRAMS += tests/attend_example
nodist_tests_attend_example_SOURCES = tests/attend_example.c
tests_attend_example_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/client
tests_attend_example_LDADD = client/libhgca-client.la -lm
CLEANFILES += tests/attend_example.c
tests/attend_example.c: $(top_srcdir)/man/hgca_attend.3
	$(AM_V_GEN)$(MKDIR_P) tests && \
	sed -n '/^\.Sh EXAMPLES/,/^\.Sh [A-DF-Z]/p' $(top_srcdir)/man/hgca_attend.3 | \
	sed -e '1,/^\.Bd -literal/d' -e '/^\.Ed/,$$d' -e 's/\\e/\\/g' > $@
