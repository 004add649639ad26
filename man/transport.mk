# man/transport.mk: the daemon's, hgcactl's and the client library's
# manual pages (mdoc).  Functions documented together get links to their
# family's page at install time (mandoc prefers links to .so stubs).
dist_man_MANS += \
	man/hgca.7 \
	man/hgca_admin_status.3 \
	man/hgca_connect.3 \
	man/hgca_nop_submit.3 \
	man/hgcactl.8 \
	man/hgcad.8 \
	man/hgcad.conf.5 \
	man/libhgca-client.3

# page:link pairs, in section 3.
TRANSPORT_MAN_LINKS = \
	hgca_connect.3:hgca_connect_with.3 \
	hgca_connect.3:hgca_disconnect.3 \
	hgca_connect.3:hgca_info.3 \
	hgca_connect.3:hgca_staging.3 \
	hgca_nop_submit.3:hgca_nop_prep.3 \
	hgca_nop_submit.3:hgca_submit.3 \
	hgca_nop_submit.3:hgca_reap.3 \
	hgca_nop_submit.3:hgca_wait.3 \
	hgca_admin_status.3:hgca_admin_clients.3 \
	hgca_admin_status.3:hgca_admin_log_level.3

install-data-hook: install-transport-man-links
uninstall-hook: uninstall-transport-man-links

install-transport-man-links:
	@for pair in $(TRANSPORT_MAN_LINKS); do \
	  page=$${pair%%:*}; link=$${pair#*:}; \
	  (cd "$(DESTDIR)$(man3dir)" && ln -sf "$$page" "$$link") || exit 1; \
	done

uninstall-transport-man-links:
	@for pair in $(TRANSPORT_MAN_LINKS); do \
	  rm -f "$(DESTDIR)$(man3dir)/$${pair#*:}"; \
	done

.PHONY: install-transport-man-links uninstall-transport-man-links
