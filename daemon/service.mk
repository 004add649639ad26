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
daemon_libhgcasvc_la_LIBADD = numa/libhgcanuma.la attn/libattn_fallback.la \
	$(NUMA_LIBS) $(PTHREAD_LIBS)

# TEMPORARY: a scalar stand-in for the paged engine (attn/paged.h) until
# the real one lands in attn/libattn.la; deleted then, with this rule.
noinst_LTLIBRARIES += attn/libattn_fallback.la
attn_libattn_fallback_la_SOURCES = attn/paged_fallback.c attn/paged.h
