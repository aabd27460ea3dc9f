#!/bin/bash
# lspci-check.sh DIR: for every function the guest sent (DIR/ADDRESS.json from pcipassctl -j
# show, DIR/ADDRESS.txt from lspci -vvv, both run in the guest), the decoded config space must
# agree with lspci. Prints TAP; run by run-vm.sh after the lspci scenario.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lspci-compare.sh"
dir=$1
for json in "$dir"/*.json; do
	[ -e "$json" ] || { not_ok "lspci: the guest sent nothing"; break; }
	a=$(basename "$json" .json)
	compare_with_lspci "lspci: $a" "$json" "$dir/$a.txt"
	# What the scan took from config space (a VF's ids from its PF) is the kernel's.
	check_eq "identity: $a, from config space, is the kernel's attributes" \
		"$(/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["device"]
keys = {"vendor": "vendor_id", "device": "device_id", "class": "class", "revision": "revision",
        "subsystem_vendor": "subsystem_vendor_id", "subsystem_device": "subsystem_device_id"}
attrs = dict(l.split() for l in open(sys.argv[2]))
print(" ".join(k + "=" + str(int(v, 16) == d[keys[k]]) for k, v in sorted(attrs.items())))
' "$json" "$dir/$a.attrs")" \
		"class=True device=True revision=True subsystem_device=True subsystem_vendor=True vendor=True"
done
finish
