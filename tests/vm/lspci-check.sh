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
done
finish
