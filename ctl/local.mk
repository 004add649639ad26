# ctl/: hgcactl, built on libhgca-client's admin calls.
bin_PROGRAMS += ctl/hgcactl
ctl_hgcactl_SOURCES = ctl/hgcactl.c
ctl_hgcactl_LDADD = client/libhgca-client.la
