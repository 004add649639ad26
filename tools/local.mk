# tools/: scripts (quick start, demo, checks) and the demo program.
dist_noinst_SCRIPTS += tools/quickstart.sh tools/check-all.sh tools/install-deps.sh tools/gpu-check.sh
noinst_PROGRAMS += tools/demo-ref
tools_demo_ref_LDADD = attn/libattn.la -lm

# The service demo (tools/quickstart.sh runs it against a private hgcad).
noinst_PROGRAMS += tools/demo
tools_demo_LDADD = client/libhgca-client.la attn/libattn.la -lm
