# bench/accuracy: hgca's accuracy against exact attention and simple
# baselines at equal bytes read (issue #6), the trace format it reads and
# writes (hgca-trace(5)), and the gnuplot scripts of its plots.

# Everything but the engine calls, so that tests link it alone.
noinst_LTLIBRARIES += bench/libaccuracy.la
bench_libaccuracy_la_SOURCES = \
	bench/trace.c \
	bench/trace.h

ACCURACY_LIBS = bench/libaccuracy.la tests/libtesthelp.la attn/libattn.la -lm

dist_man_MANS += man/hgca-trace.5
