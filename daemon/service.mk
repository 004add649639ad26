# daemon/: the service core (KV store, scheduler, workers, requests), a
# convenience library that hgcad and the tests link, before attn/libattn.la.
noinst_LTLIBRARIES += daemon/libhgcasvc.la
daemon_libhgcasvc_la_SOURCES = \
	daemon/idtab.c \
	daemon/idtab.h \
	daemon/kvstore.c \
	daemon/kvstore.h \
	daemon/model.c \
	daemon/model.h \
	daemon/sched.c \
	daemon/sched.h \
	daemon/service.c \
	daemon/service.h \
	daemon/workers.c \
	daemon/workers.h
daemon_libhgcasvc_la_LIBADD = numa/libhgcanuma.la attn/libattn.la \
	$(NUMA_LIBS) $(PTHREAD_LIBS)

