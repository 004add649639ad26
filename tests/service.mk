# tests/: the service core, in-process (no sockets).
SVC_TEST_LIBS = daemon/libhgcasvc.la $(TEST_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/numa_nodemem
tests_numa_nodemem_LDADD = numa/libhgcanuma.la $(TEST_LIBS)
TESTS += tests/numa_nodemem

SVC_TESTS = tests/svc_attend tests/svc_store tests/svc_errors tests/svc_fair \
	tests/svc_sched
check_PROGRAMS += $(SVC_TESTS)
TESTS += $(SVC_TESTS)
tests_svc_attend_SOURCES = tests/svc_attend.c tests/svc_help.c tests/svc_help.h
tests_svc_attend_LDADD = $(SVC_TEST_LIBS)
tests_svc_store_SOURCES = tests/svc_store.c tests/svc_help.c tests/svc_help.h
tests_svc_store_LDADD = $(SVC_TEST_LIBS)
tests_svc_errors_SOURCES = tests/svc_errors.c tests/svc_help.c tests/svc_help.h
tests_svc_errors_LDADD = $(SVC_TEST_LIBS)
tests_svc_fair_SOURCES = tests/svc_fair.c tests/svc_help.c tests/svc_help.h
tests_svc_fair_LDADD = $(SVC_TEST_LIBS)
tests_svc_sched_SOURCES = tests/svc_sched.c
tests_svc_sched_LDADD = $(SVC_TEST_LIBS)
