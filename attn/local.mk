# attn/: CPU attention kernels (a libtool convenience library).
noinst_LTLIBRARIES += attn/libattn.la
attn_libattn_la_SOURCES = \
	attn/attn.h \
	attn/convert.c \
	attn/merge.c \
	attn/ref.c \
	attn/rng.h \
	attn/workload.c \
	attn/workload.h
attn_libattn_la_LIBADD = -lm
