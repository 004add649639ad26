# tests/: the service core, in-process (no sockets).
SVC_TEST_LIBS = daemon/libhgcasvc.la $(TEST_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/numa_nodemem
tests_numa_nodemem_LDADD = numa/libhgcanuma.la $(TEST_LIBS)
TESTS += tests/numa_nodemem
