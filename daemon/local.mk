# daemon/: hgcad.  Everything but main.c is a convenience library, so that
# tests can link the daemon's modules directly.
noinst_LTLIBRARIES += daemon/libhgcad.la
daemon_libhgcad_la_SOURCES = \
	daemon/client.c \
	daemon/client.h \
	daemon/conf.c \
	daemon/conf.h \
	daemon/control.c \
	daemon/control.h \
	daemon/control_msg.c \
	daemon/control_pvt.h \
	daemon/dataplane.c \
	daemon/dataplane.h \
	daemon/hgcad.h \
	daemon/listen.c \
	daemon/listen.h \
	daemon/log.c \
	daemon/log.h \
	daemon/loop.c \
	daemon/loop.h \
	daemon/loop_epoll.c \
	daemon/loop_uring.c \
	daemon/op_attend.c \
	daemon/op_nop.c \
	daemon/op_nop.h \
	daemon/op_svc.c \
	daemon/ops.c \
	daemon/ops.h \
	daemon/settings.c \
	daemon/settings.h \
	daemon/svc_conf.c \
	daemon/svc_conf.h
daemon_libhgcad_la_LIBADD = daemon/libhgcasvc.la shm/libshm.la \
	$(URING_LIBS) $(PTHREAD_LIBS)

sbin_PROGRAMS += daemon/hgcad
daemon_hgcad_SOURCES = daemon/main.c
daemon_hgcad_CPPFLAGS = $(AM_CPPFLAGS) -DHGCA_SYSCONFDIR='"$(sysconfdir)"'
daemon_hgcad_LDADD = daemon/libhgcad.la attn/libattn.la -lm
