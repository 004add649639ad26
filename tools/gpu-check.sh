#!/bin/sh
# Build and test hgca on the GPU machine (shared GPU.md), from a release
# tarball: that machine has no libtool, no liburing and no network, so
# autoreconf is never run there.
#
# On a development machine first:
#   make dist                                  (in a configured build dir)
#   apt-get download liburing2 liburing-dev    (Debian 12's 2.3 packages)
# and put the tarball and both .deb files into one folder, DIR.  Then on the
# GPU machine:
#   tools/gpu-check.sh DIR [bench args...]
#
# It unpacks liburing into a private prefix, configures the tarball with
# --with-cuda for sm_90, builds, runs `make check` (every ISA path the CPU
# has; CUDA tests where a GPU is present), then the benchmarks, and prints a
# short table last.
set -eu
dir=$(cd "${1:?usage: gpu-check.sh DIR}" && pwd)
shift
work=${TMPDIR:-/tmp}/hgca-gpu-check
jobs=$(nproc)
rm -rf "$work"
mkdir -p "$work/prefix"
for deb in "$dir"/liburing*.deb; do
	dpkg -x "$deb" "$work/prefix"
done
pfx="$work/prefix/usr"
export CPPFLAGS="-I$pfx/include"
# The rpath lets hgcad find liburing however it is started later (a
# benchmark run in another shell, without LD_LIBRARY_PATH, as well).
export LDFLAGS="-L$pfx/lib/x86_64-linux-gnu -Wl,-rpath,$pfx/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$pfx/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# liburing-dev's .so symlink points at the runtime package's file.
ln -sf liburing.so.2 "$pfx/lib/x86_64-linux-gnu/liburing.so"
tar -C "$work" -xzf "$dir"/hgca-*.tar.gz
src=$(ls -d "$work"/hgca-*/)
cd "$src"
./configure -q --with-cuda NVCCFLAGS="-arch=sm_90" >"$work/configure.log" 2>&1 ||
	{ tail -30 "$work/configure.log"; exit 1; }
grep -A12 '^hgca .* configured' "$work/configure.log" || true
make -j"$jobs" >"$work/make.log" 2>&1 || { tail -40 "$work/make.log"; exit 1; }
status=0
make -j"$jobs" check >"$work/check.log" 2>&1 || status=$?
grep -hE '^(not ok|ok .*# SKIP)' tests/*.log || true
grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR)' "$work/check.log" || tail -30 "$work/check.log"
# HGCA_BENCHES names the benchmarks to run (default: bench/attn); the
# remaining arguments are passed to each.
for b in ${HGCA_BENCHES:-bench/attn}; do
	[ -x "$b" ] || continue
	echo "== $b $*"
	"$b" "$@" || status=$?
done
echo "== summary"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "isa flags: $(grep -m1 -o -E 'avx512(f|bw|vl|_bf16|_fp16)' /proc/cpuinfo | sort -u | tr '\n' ' ')"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
echo "make check status: $status"
exit $status
