# client/: libhgca-client, the only code clients link, and its public header.
# -version-info 1:0:0: hgca_status and hgca_client_info grew with the
# service (an incompatible change); the service calls were added.
lib_LTLIBRARIES += client/libhgca-client.la
include_HEADERS = client/hgca.h
client_libhgca_client_la_SOURCES = \
	client/admin.c \
	client/attend.c \
	client/client_pvt.h \
	client/connect.c \
	client/service.c \
	client/slots.c \
	client/submit.c
client_libhgca_client_la_LIBADD = shm/libshm.la
client_libhgca_client_la_LDFLAGS = $(AM_LDFLAGS) -version-info 1:0:0 \
	-Wl,--version-script=$(srcdir)/client/libhgca-client.map
EXTRA_client_libhgca_client_la_DEPENDENCIES = client/libhgca-client.map
EXTRA_DIST += client/libhgca-client.map
