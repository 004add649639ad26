#!/bin/sh
# Install the Debian/Ubuntu packages hgca needs to build and test.
# Runs apt-get as root (or through sudo); does nothing when all are present.
set -e
pkgs="build-essential autoconf automake libtool pkg-config liburing-dev
libhwloc-dev libnuma-dev mandoc gnuplot-nox strace"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
