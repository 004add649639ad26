#!/bin/sh
# Install dependencies, build hgca, and run the demo.
set -e
cd "$(dirname "$0")/.."
top=$(pwd)
"$top/tools/install-deps.sh"
[ -x configure ] || ./autogen.sh
mkdir -p build/main
cd build/main
[ -f Makefile ] || "$top/configure" -q
make -j"$(nproc 2>/dev/null || echo 2)"
./tools/demo-ref
