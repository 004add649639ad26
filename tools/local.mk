# tools/: scripts (quick start, demo, checks) and the demo program.
dist_noinst_SCRIPTS += tools/quickstart.sh tools/check-all.sh tools/install-deps.sh tools/gpu-check.sh
noinst_PROGRAMS += tools/demo-ref
tools_demo_ref_LDADD = attn/libattn.la -lm
