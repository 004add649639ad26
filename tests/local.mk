# tests/: TAP programs run by `make check`, and their shared helpers.
noinst_LTLIBRARIES += tests/libtesthelp.la
tests_libtesthelp_la_SOURCES = tests/ref64.c tests/ref64.h tests/tap.h \
	tests/proc_help.c tests/proc_help.h
tests_libtesthelp_la_LIBADD = attn/libattn.la

TEST_LIBS = tests/libtesthelp.la attn/libattn.la -lm

check_PROGRAMS += tests/attn_convert tests/attn_ref tests/attn_merge tests/attn_workload
tests_attn_convert_LDADD = $(TEST_LIBS)
tests_attn_ref_LDADD = $(TEST_LIBS)
tests_attn_merge_LDADD = $(TEST_LIBS)
tests_attn_workload_LDADD = $(TEST_LIBS)
TESTS += tests/attn_convert tests/attn_ref tests/attn_merge tests/attn_workload
include tests/accuracy.mk
include tests/engine.mk
include tests/service.mk
include tests/transport.mk
include tests/e2e.mk
