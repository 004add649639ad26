#!/bin/sh
# The whole test suite, as CI runs it: install dependencies, build,
# `make check`, `make distcheck`, then a second out-of-tree build with
# ASan+UBSan running `make check`.  Any failure stops with a non-zero exit.
set -e
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)
"$top/tools/install-deps.sh"
./autogen.sh
mkdir -p build/main build/asan
(cd build/main && "$top/configure" -q && make -j"$jobs" && make -j"$jobs" check &&
 make -j"$jobs" distcheck)
(cd build/asan && "$top/configure" -q --enable-sanitizers --enable-debug &&
 make -j"$jobs" && make -j"$jobs" check)
echo "check-all: all stages passed"
