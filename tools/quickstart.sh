#!/bin/sh
# Install dependencies, build hgca, and run the demo: hgcad with its
# defaults on a private socket, three client processes decoding over long
# synthetic contexts through it, then a clean shutdown.
set -e
cd "$(dirname "$0")/.."
top=$(pwd)
"$top/tools/install-deps.sh"
[ -x configure ] || ./autogen.sh
mkdir -p build/main
cd build/main
[ -f Makefile ] || "$top/configure" -q
make -j"$(nproc 2>/dev/null || echo 2)"

dir=$(mktemp -d "${TMPDIR:-/tmp}/hgca-demo-XXXXXX")
sock="$dir/hgcad.sock"
# -c /dev/null: the built-in defaults, whatever /etc/hgca/hgcad.conf says.
./daemon/hgcad -f -c /dev/null -s "$sock" -l warning 2>"$dir/hgcad.log" &
pid=$!
stop() {
	kill -TERM "$pid" 2>/dev/null && wait "$pid" || true
	rm -rf "$dir"
}
trap stop EXIT INT TERM
for i in $(seq 100); do
	[ -S "$sock" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$dir/hgcad.log"; exit 1; }
	sleep 0.1
done
echo "hgcad is running (pid $pid) on $sock"
echo
./tools/demo -s "$sock"
echo
./ctl/hgcactl -s "$sock" status | sed -n '1p;/workers/,/KV memory/p'
echo
echo "Stopping hgcad (SIGTERM: it drains and exits)."
