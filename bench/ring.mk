# bench/ring.mk: the transport benchmark (not run by make check: it pins
# threads to two CPUs and takes seconds).
noinst_PROGRAMS += bench/ring
bench_ring_SOURCES = bench/ring.c
bench_ring_LDADD = client/libhgca-client.la shm/libshm.la bench/libbench.la \
	$(PTHREAD_LIBS)
# No libtool wrapper: the program finds hgcad next to it, in ../daemon.
bench_ring_LDFLAGS = $(AM_LDFLAGS) $(OPENMP_CFLAGS) -no-install
