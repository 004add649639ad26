# bench/accuracy: hgca's accuracy against exact attention and simple
# baselines at equal bytes read (issue #6), the trace format it reads and
# writes (hgca-trace(5)), and the gnuplot scripts of its plots.

# Everything but the engine calls, so that tests link it alone.
noinst_LTLIBRARIES += bench/libaccuracy.la
bench_libaccuracy_la_SOURCES = \
	bench/accuracy.h \
	bench/accuracy_base.c \
	bench/accuracy_metrics.c \
	bench/trace.c \
	bench/trace.h

ACCURACY_LIBS = bench/libaccuracy.la tests/libtesthelp.la attn/libattn.la -lm

noinst_PROGRAMS += bench/accuracy
bench_accuracy_SOURCES = \
	bench/accuracy.c \
	bench/accuracy_hgca.c \
	bench/accuracy_report.c
bench_accuracy_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS)
bench_accuracy_LDFLAGS = $(AM_LDFLAGS) $(OPENMP_CFLAGS)
bench_accuracy_LDADD = $(ACCURACY_LIBS)

dist_man_MANS += man/hgca-trace.5

ACCURACY_PLOTS = \
	bench/plots/error_vs_bytes.gp \
	bench/plots/needle_depth.gp \
	bench/plots/delta.gp
# The plots of the full run shown in README.md, and that run's output.
EXTRA_DIST += $(ACCURACY_PLOTS) \
	bench/plots/accuracy.txt \
	bench/plots/delta.png \
	bench/plots/error_vs_bytes.png \
	bench/plots/needle_depth.png

# The full run, its CSV files and the plots (needs gnuplot):
#   make accuracy-plots [ACCURACY_FLAGS=--quick] [ACCURACY_OUT=dir]
ACCURACY_OUT = accuracy-out
accuracy-plots: bench/accuracy$(EXEEXT)
	$(MKDIR_P) $(ACCURACY_OUT)
	bench/accuracy$(EXEEXT) $(ACCURACY_FLAGS) --csv $(ACCURACY_OUT) >$(ACCURACY_OUT)/accuracy.txt
	cat $(ACCURACY_OUT)/accuracy.txt
	for p in $(ACCURACY_PLOTS); do \
	  gnuplot -e "dir='$(ACCURACY_OUT)'" $(top_srcdir)/$$p || exit 1; \
	done
.PHONY: accuracy-plots
