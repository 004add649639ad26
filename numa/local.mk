# numa/: node-local memory (a libtool convenience library).
noinst_LTLIBRARIES += numa/libhgcanuma.la
numa_libhgcanuma_la_SOURCES = numa/nodemem.c numa/nodemem.h
numa_libhgcanuma_la_LIBADD = $(NUMA_LIBS)
