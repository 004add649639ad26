# bench/service.mk: the attention service end to end against the engine
# in-process (not run by make check: it maps GiBs and takes seconds).
noinst_PROGRAMS += bench/service
bench_service_SOURCES = bench/service.c
bench_service_LDADD = client/libhgca-client.la bench/libbench.la \
	attn/libattn.la $(PTHREAD_LIBS) -lm
# No libtool wrapper: the program finds hgcad next to it, in ../daemon.
bench_service_LDFLAGS = $(AM_LDFLAGS) $(OPENMP_CFLAGS) -no-install
