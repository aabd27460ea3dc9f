#!/bin/bash
# The decoded config space must agree with lspci -vvv (pciutils) on this machine's real PCI
# functions. Reading only: pcipassd runs --read-only on /sys, remounted read-only in a private
# mount namespace, so not even a bug could write there.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/lspci-compare.sh"

command -v lspci >/dev/null || skip_all "lspci (pciutils) is not installed"
[ "$(id -u)" -eq 0 ] || skip_all "needs root: config space past 64 bytes, and a private mount namespace"
[ -n "$(ls /sys/bus/pci/devices 2>/dev/null)" ] || skip_all "this machine shows no PCI functions"
if [ -z "${PCIPASS_TEST_ROSYS:-}" ]; then
	rm -rf "$TMP"
	PCIPASS_TEST_ROSYS=1 exec unshare -m -n --propagation private sh -c \
		'mount -o remount,bind,ro /sys && exec "$@"' _ "$0" "$@"
	skip_all "unshare -m failed"
fi

daemon_start /sys --read-only --policy-dir "$TMP/none" --config "$TMP/none.conf" ||
	{ not_ok "pcipassd starts on the real /sys, read-only"; finish; }

for dev in /sys/bus/pci/devices/*; do
	a=$(basename "$dev")
	ctl -j show "$a" >"$TMP/show.json" || { not_ok "$a: show"; continue; }
	lspci -vvv -s "$a" 2>/dev/null >"$TMP/lspci.txt"

	compare_with_lspci "$a" "$TMP/show.json" "$TMP/lspci.txt"
done
check "pcipassd stops cleanly" daemon_stop
finish
