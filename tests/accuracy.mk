# tests/: the accuracy benchmark's trace format, baselines and metrics
# (bench/accuracy.mk).
check_PROGRAMS += tests/accuracy_trace tests/accuracy_base
tests_accuracy_trace_LDADD = $(ACCURACY_LIBS)
tests_accuracy_base_LDADD = $(ACCURACY_LIBS)
TESTS += tests/accuracy_trace tests/accuracy_base

# End to end through bench/accuracy on a small workload (a few seconds).
TESTS += tests/accuracy_cli.sh
EXTRA_DIST += tests/accuracy_cli.sh
