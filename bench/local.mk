# bench/: benchmarks (not run by `make check`) and their shared helpers.
noinst_LTLIBRARIES += bench/libbench.la
bench_libbench_la_SOURCES = bench/common.c bench/common.h
bench_libbench_la_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS)

BENCH_LIBS = bench/libbench.la attn/libattn.la -lm

noinst_PROGRAMS += bench/attn
bench_attn_SOURCES = bench/attn.c
bench_attn_CFLAGS = $(AM_CFLAGS) $(OPENMP_CFLAGS)
bench_attn_LDADD = $(BENCH_LIBS)
bench_attn_LDFLAGS = $(AM_LDFLAGS) $(OPENMP_CFLAGS)
