#!/bin/bash
# lspci-check.sh DIR: for every function the guest sent (DIR/ADDRESS.json from pcipassctl -j
# show, DIR/ADDRESS.txt from lspci -vvv, both run in the guest), the decoded config space must
# agree with lspci; and DIR/list.names (pcipassctl -j list) the names of DIR/lspci.mm (lspci -mm
# from the guest's hwdb). Prints TAP; run by run-vm.sh after the lspci scenario.
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
ok = [k + "=" + str(int(attrs[k], 16) == d[keys[k]]) for k in sorted(keys)]
# The link: the four attributes (speed "Unknown" and widths 0 or 255 are no value), or none.
link = d["link"] or {}
def want(k, f):
    v = attrs.get(k)
    try:
        v = f(v)
    except (TypeError, ValueError):
        return None
    return None if v in (0, 255) else v
for k, key, f in (("current_link_speed", "speed_gts", float), ("current_link_width", "width", int),
                  ("max_link_speed", "max_speed_gts", float), ("max_link_width", "max_width", int)):
    ok.append(k + "=" + str(link.get(key) == want(k, f)))
print(" ".join(ok))
' "$json" "$dir/$a.attrs")" \
		"class=True device=True revision=True subsystem_device=True subsystem_vendor=True vendor=True current_link_speed=True current_link_width=True max_link_speed=True max_link_width=True"
done
# The names from the guest's hardware database, as lspci -mm shows them (tests/test-names.sh).
if [ -s "$dir/list.names" ] && [ -s "$dir/lspci.mm" ]; then
	while read -r line; do
		case $line in
		ok\ *) ok "names: ${line#ok }" ;;
		*) not_ok "names: ${line#not ok }" ;;
		esac
	done < <(/usr/bin/python3 "${top_srcdir:-$(dirname "$0")/../..}/tests/lspci-names.py" \
		"$dir/list.names" "$dir/lspci.mm")
else
	not_ok "names: the guest sent no list or no lspci -mm"
fi
finish
