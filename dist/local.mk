# dist/: the pkg-config file (made by configure), a systemd unit (made
# here, not installed: copy it to systemd's unit directory) and an example
# configuration (installed with the documentation).
pkgconfig_DATA = dist/hgca.pc

noinst_DATA = dist/hgcad.service
CLEANFILES += dist/hgcad.service
EXTRA_DIST += dist/hgcad.service.in
dist/hgcad.service: $(srcdir)/dist/hgcad.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) dist && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' $(srcdir)/dist/hgcad.service.in > $@

exampledir = $(docdir)/examples
dist_example_DATA = dist/hgcad.conf
