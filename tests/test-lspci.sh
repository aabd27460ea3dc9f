#!/bin/bash
# The decoded config space must agree with lspci -vvv (pciutils) on this machine's real PCI
# functions. Reading only: pcipassd runs --read-only on /sys, remounted read-only in a private
# mount namespace, so not even a bug could write there.
. "${top_srcdir:-.}/tests/lib.sh"

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

	# Capability offsets and ids: lspci prints "Capabilities: [c8] Power Management version 2"
	# and "Capabilities: [100 v2] Advanced Error Reporting".
	want=$(sed -n 's/^\tCapabilities: \[\([0-9a-f]*\)[] ].*/\1/p' "$TMP/lspci.txt" | grep -v '^$' |
	       while read -r off; do printf '%d\n' "0x$off"; done | sort -n | paste -sd' ')
	got=$(json_eval '" ".join(str(c["offset"]) for c in sorted(d["device"]["config"]["capabilities"], key=lambda c: c["offset"]))' <"$TMP/show.json")
	check_eq "$a: the capability chain (offsets) as lspci walks it" "$got" "$want"

	# Command register bits lspci shows as "I/O+ Mem+ BusMaster+ … DisINTx+".
	want=$(sed -n 's/^\tControl: //p' "$TMP/lspci.txt" | tr ' ' '\n' |
	       sed -n 's/^\(I\/O\|Mem\|BusMaster\|SERR\|DisINTx\)\([+-]\)$/\1\2/p' | paste -sd' ')
	got=$(json_eval '" ".join(k + ("+" if d["device"]["config"]["command"][f] else "-") for k, f in [("I/O", "io"), ("Mem", "memory"), ("BusMaster", "bus_master"), ("SERR", "serr"), ("DisINTx", "intx_disable")])' <"$TMP/show.json")
	check_eq "$a: command register (I/O Mem BusMaster SERR DisINTx)" "$got" "$want"

	# MSI-X: "MSI-X: Enable+ Count=3 Masked-".
	want=$(sed -n 's/^\tCapabilities: \[[0-9a-f]*\] MSI-X: Enable\([+-]\) Count=\([0-9]*\) Masked\([+-]\)/\1 \2 \3/p' "$TMP/lspci.txt")
	got=$(json_eval '" ".join([("+" if c["enabled"] else "-") + " " + str(c["table_size"]) + " " + ("+" if c["function_mask"] else "-") for c in d["device"]["config"]["capabilities"] if c["name"] == "MSI-X"])' <"$TMP/show.json")
	check_eq "$a: MSI-X enable, table size, mask" "$got" "$want"

	# BAR sizes: "Region 0: Memory at … [size=512K]".
	want=$(sed -n 's/^\tRegion \([0-9]\): .*\[size=\([0-9]*[KMG]*\)\].*/\1:\2/p' "$TMP/lspci.txt" | paste -sd' ')
	got=$(json_eval '" ".join("%d:%s" % (b["index"], next((str(b["size"] >> s) + u for s, u in [(30, "G"), (20, "M"), (10, "K"), (0, "")] if b["size"] and b["size"] % (1 << s) == 0 and b["size"] >> s), "?")) for b in d["device"]["config"]["bars"] if b["size"])' <"$TMP/show.json")
	check_eq "$a: BAR sizes" "$got" "$want"
done
check "pcipassd stops cleanly" daemon_stop
finish
