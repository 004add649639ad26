# attn/: CPU attention kernels (a libtool convenience library).
noinst_LTLIBRARIES += attn/libattn.la
attn_libattn_la_SOURCES = \
	attn/accum.c \
	attn/attn.h \
	attn/convert.c \
	attn/engine_pvt.h \
	attn/isa.c \
	attn/kern_body_pvt.h \
	attn/kern_pvt.h \
	attn/kern_scalar.c \
	attn/merge.c \
	attn/page.c \
	attn/paged.c \
	attn/paged.h \
	attn/policy.c \
	attn/ref.c \
	attn/rng.h \
	attn/select.c \
	attn/workload.c \
	attn/workload.h
attn_libattn_la_LIBADD = -lm

# One convenience library per instruction-set path, each compiled with its
# own flags; isa.c calls into one only when the CPU and the OS support it.
# Built where configure found x86 and a compiler that takes the flags.
if X86_KERNELS
attn_libattn_la_LIBADD += attn/libattn_avx2.la attn/libattn_avx512.la
noinst_LTLIBRARIES += attn/libattn_avx2.la attn/libattn_avx512.la
endif
attn_libattn_avx2_la_SOURCES = attn/kern_avx2.c
attn_libattn_avx2_la_CFLAGS = $(AM_CFLAGS) -mavx2 -mfma -mf16c
attn_libattn_avx512_la_SOURCES = attn/kern_avx512.c
attn_libattn_avx512_la_CFLAGS = $(AM_CFLAGS) -mavx2 -mfma -mf16c \
	-mavx512f -mavx512bw -mavx512vl -mavx512dq
