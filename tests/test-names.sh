#!/bin/bash
# Device names from the hardware database: the daemon's vendor_name, device_name, … keys must
# be what lspci shows (lspci -mm with pci.ids disabled, so that libpci names from the same udev
# hwdb), on the captured real-kernel trees, on a synthetic tree, and on this machine's real PCI
# functions (read-only: /sys remounted read-only in a private mount namespace).
. "${top_srcdir:-.}/tests/lib.sh"

command -v lspci >/dev/null || skip_all "lspci (pciutils) is not installed"
[ -e /usr/lib/udev/hwdb.bin ] || [ -e /etc/udev/hwdb.bin ] ||
	skip_all "no udev hardware database (hwdb.bin): apt-get install udev"
if [ -z "${PCIPASS_TEST_ROSYS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || skip_all "needs root for a private mount namespace"
	rm -rf "$TMP"
	PCIPASS_TEST_ROSYS=1 exec unshare -m -n --propagation private sh -c \
		'mount -o remount,bind,ro /sys && exec "$@"' _ "$0" "$@"
	skip_all "unshare -m failed"
fi
mkdir -p "$TMP/none"
: >"$TMP/none.conf"

# compare LABEL ROOT [LSPCI OPTIONS]: the daemon on ROOT against lspci on the same tree.
compare() {
	local label=$1 root=$2 line
	shift 2
	daemon_start "$root" --read-only --policy-dir "$TMP/none" --config "$TMP/none.conf" ||
		{ not_ok "$label: pcipassd starts"; return; }
	ctl -j list >"$TMP/list.json" || not_ok "$label: list"
	lspci -mm -D -i /dev/null "$@" >"$TMP/lspci.txt" 2>"$TMP/lspci.err" ||
		not_ok "$label: lspci: $(cat "$TMP/lspci.err")"
	while read -r line; do
		case $line in
		ok\ *) ok "$label: ${line#ok }" ;;
		*) not_ok "$label: ${line#not ok }" ;;
		esac
	done < <(python3 "$top_srcdir/tests/lspci-names.py" "$TMP/list.json" "$TMP/lspci.txt")
	check "$label: pcipassd stops cleanly" daemon_stop
}

for f in q35-iommu-host q35-iommu-claimed virtio-noiommu; do
	root=$(extract "$f")
	compare "$f" "$root" -A linux-sysfs -O "sysfs.path=$root/bus/pci"
done

# The synthetic trees use ids the database has: every function has a vendor and device name.
"$FAKESYS" "$TMP/gen" init --iommu dmar0 >/dev/null && "$FAKESYS" "$TMP/gen" gen 64 >/dev/null
compare "synthetic" "$TMP/gen" -A linux-sysfs -O "sysfs.path=$TMP/gen/bus/pci"
daemon_start "$TMP/gen" --read-only --policy-dir "$TMP/none" --config "$TMP/none.conf"
check_eq "synthetic: every function named" \
	"$(ctl -j list | json_eval "sum(1 for d in d['devices'] if not (d['vendor_name'] and d['device_name'] and d['class_name']))")" 0
check_eq "the names are in Get as in List" \
	"$(ctl -j show 0000:03:00.0 | json_eval "[d['device'][k] for k in ('vendor_name', 'device_name', 'subclass_name', 'prog_if_name')]")" \
	"['NVIDIA Corporation', 'GA102 [GeForce RTX 3090]', 'VGA compatible controller', 'VGA controller']"
daemon_stop

if [ -n "$(ls /sys/bus/pci/devices 2>/dev/null)" ]; then
	compare "this machine" /sys
else
	echo "# this machine shows no PCI functions: its part skipped"
fi
finish
