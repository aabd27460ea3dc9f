#!/bin/bash
# The read-only host demo: build pcipassd and pcipassctl, start pcipassd
# --read-only on this machine's real /sys -- behind a read-only bind mount of /sys in a
# private mount namespace, so that not even a bug could write there -- and show what it sees.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build/demo
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT

echo "== Building pcipass"
(cd "$src" && ./autogen.sh >/dev/null)
mkdir -p "$build"
(cd "$build" && "$src/configure" -q && make -j"$(nproc)") >"$tmp/build.log" 2>&1 ||
	{ cat "$tmp/build.log"; exit 1; }

echo "== Starting pcipassd --read-only on /sys (mounted read-only for it)"
unshare -m --propagation private sh -c 'mount -o remount,bind,ro /sys && exec "$@"' _ \
	"$build/daemon/pcipassd" --read-only --socket "$tmp/io.pcipass" --state-dir "$tmp/state" \
	--policy-dir "$src/tests/demo-policy.d" --config "$src/conf/pcipassd.conf" &
pid=$!
deadline=$((SECONDS + 60))
until [ -S "$tmp/io.pcipass" ] || [ "$SECONDS" -ge "$deadline" ]; do sleep 0.1; done

ctl() {
	echo
	echo "\$ pcipassctl $*"
	"$build/client/pcipassctl" --socket "$tmp/io.pcipass" "$@"
}
ctl status
ctl list
ctl groups
echo
echo "== The demo policy ($src/tests/demo-policy.d): every Ethernet controller to vfio-pci"
ctl plan
echo
echo "pcipassd read this host's PCI functions and IOMMU groups from /sys and served them over"
echo "its Varlink socket; pcipassctl printed them, and the plan for the demo policy with what"
echo "blocks it here. Nothing was written: the daemon ran --read-only, and /sys was mounted"
echo "read-only in its mount namespace."
