# shm/: the wire protocol, shared-memory regions, SPSC rings, doorbells and
# control-socket helpers; linked into hgcad and libhgca-client.
noinst_LTLIBRARIES += shm/libshm.la
shm_libshm_la_SOURCES = \
	shm/atomic_pvt.h \
	shm/bell.c \
	shm/bell.h \
	shm/msg.c \
	shm/msg.h \
	shm/proto.h \
	shm/region.c \
	shm/region.h \
	shm/ring.c \
	shm/ring.h \
	shm/spin.c \
	shm/spin.h
