dnl HGCA_CHECK_CUDA: --with-cuda[=DIR], default auto.
dnl   auto: use CUDA when nvcc, cuda_runtime.h and libcudart are all found,
dnl         otherwise warn and build without it;
dnl   yes or DIR: the same checks, but a missing piece is an error;
dnl   no:   build without CUDA.
dnl Sets NVCC, NVCCFLAGS, CUDA_CPPFLAGS, CUDA_LDFLAGS, CUDA_LIBS, the
dnl conditional HAVE_CUDA and the define HAVE_CUDA.
AC_DEFUN([HGCA_CHECK_CUDA], [
AC_ARG_WITH([cuda],
  [AS_HELP_STRING([--with-cuda@<:@=DIR@:>@],
    [build the GPU path with the CUDA Toolkit in DIR (default: auto, /usr/local/cuda or nvcc on PATH)])],
  [], [with_cuda=auto])
AC_ARG_VAR([NVCC], [CUDA compiler])
AC_ARG_VAR([NVCCFLAGS], [flags for the CUDA compiler, e.g. -arch=sm_90])
hgca_cuda_ok=no
hgca_cuda_why=
AS_IF([test "x$with_cuda" != "xno"], [
  AS_CASE([$with_cuda],
    [yes|auto], [hgca_cuda_dir=],
    [hgca_cuda_dir=$with_cuda])
  AS_IF([test -z "$hgca_cuda_dir"], [
    AC_PATH_PROG([NVCC], [nvcc], [], [$PATH:/usr/local/cuda/bin])
    AS_IF([test -n "$NVCC"], [hgca_cuda_dir=`AS_DIRNAME(["$NVCC"])`/..])
  ], [
    AC_PATH_PROG([NVCC], [nvcc], [], [$hgca_cuda_dir/bin])
  ])
  AS_IF([test -z "$NVCC"], [hgca_cuda_why="nvcc not found"], [
    hgca_cuda_dir=`cd "$hgca_cuda_dir" && pwd`
    CUDA_CPPFLAGS="-I$hgca_cuda_dir/include"
    CUDA_LDFLAGS="-L$hgca_cuda_dir/lib64"
    hgca_save_CPPFLAGS=$CPPFLAGS
    hgca_save_LDFLAGS=$LDFLAGS
    hgca_save_LIBS=$LIBS
    CPPFLAGS="$CPPFLAGS $CUDA_CPPFLAGS"
    LDFLAGS="$LDFLAGS $CUDA_LDFLAGS"
    AC_CHECK_HEADER([cuda_runtime.h], [
      AC_CHECK_LIB([cudart], [cudaGetDeviceCount],
        [hgca_cuda_ok=yes], [hgca_cuda_why="libcudart not found in $hgca_cuda_dir/lib64"])
    ], [hgca_cuda_why="cuda_runtime.h not found in $hgca_cuda_dir/include"])
    CPPFLAGS=$hgca_save_CPPFLAGS
    LDFLAGS=$hgca_save_LDFLAGS
    LIBS=$hgca_save_LIBS
  ])
  AS_IF([test "x$hgca_cuda_ok" = "xno"], [
    AS_IF([test "x$with_cuda" = "xauto"],
      [AC_MSG_WARN([CUDA not found ($hgca_cuda_why); building without the GPU path])],
      [AC_MSG_ERROR([--with-cuda was given but CUDA is not usable: $hgca_cuda_why])])
  ])
])
AS_IF([test "x$hgca_cuda_ok" = "xyes"], [
  CUDA_LIBS="-lcudart -lstdc++"
  AC_DEFINE([HAVE_CUDA], [1], [Define when the CUDA path is built])
  hgca_cuda_summary="yes ($NVCC)"
], [
  CUDA_CPPFLAGS= CUDA_LDFLAGS= CUDA_LIBS=
  AS_IF([test "x$with_cuda" = "xno"], [hgca_cuda_summary="no (--without-cuda)"],
    [hgca_cuda_summary="no ($hgca_cuda_why)"])
])
AC_SUBST([CUDA_CPPFLAGS])
AC_SUBST([CUDA_LDFLAGS])
AC_SUBST([CUDA_LIBS])
AM_CONDITIONAL([HAVE_CUDA], [test "x$hgca_cuda_ok" = "xyes"])
])
