#!/bin/bash
# pcipassctl tree and the facts it draws on: each function's parent, the ACS of bridges (from
# extended config space), the physical slots (the kernel's bus/pci/slots and SMBIOS type 9
# records), on the captured q35 tree; and list's NAME column fitting the terminal.
. "${top_srcdir:-.}/tests/lib.sh"

root=$(extract q35-iommu-claimed)
mkdir -p "$TMP/none"
: >"$TMP/none.conf"
# An SMBIOS 2.6 System Slot record for bus 01 device 00 ("PCIE1"), and one that says no place.
dmi() {	# NAME BUS DEVFN LABEL
	mkdir -p "$root/firmware/dmi/entries/$1"
	python3 -c "
import struct, sys
rec = struct.pack('<BBHBBBBBHBBHBB', 9, 0x11, 0x900, 1, 0xb6, 0x0d, 3, 4, 1, 0x04, 0x01, 0, $2, $3)
sys.stdout.buffer.write(rec[:0x11] + b'$4\0\0')" >"$root/firmware/dmi/entries/$1/raw"
}
dmi 9-0 0x01 0x00 PCIE1
dmi 9-1 0xff 0xff EMPTY
# Firmware text that would drive the terminal (retitle, clear, colour, a new line): shown as "?".
mkdir -p "$root/firmware/dmi/entries/9-2"
python3 -c "
import struct, sys
rec = struct.pack('<BBHBBBBBHBBHBB', 9, 0x11, 0x902, 1, 0xb6, 0x0d, 3, 4, 1, 0x04, 0x01, 0, 0x05, 0x00)
sys.stdout.buffer.write(rec + b'\x1b]0;T\x07\x1b[2Jred\nline\xc2\x9b\xe2\x80\xaeX\0\0')" >"$root/firmware/dmi/entries/9-2/raw"
daemon_start "$root" --read-only --policy-dir "$TMP/none" --config "$TMP/none.conf" ||
	{ not_ok "pcipassd starts"; finish; }

dev() { ctl -j show "$1" | json_eval "d['device']$2"; }
check_eq "parent: the bridge above, null on a root bus" \
	"$(dev 0000:04:01.0 "['parent']") $(dev 0000:03:00.0 "['parent']") $(dev 0000:00:08.0 "['parent']")" \
	"0000:03:00.0 0000:00:08.0 None"
check_eq "ACS of a root port: its capability and control registers, as the decoded config says" \
	"$(dev 0000:00:06.0 "['acs']['capable']")" \
	"$(ctl -j show 0000:00:06.0 | json_eval "[c for c in d['device']['config']['capabilities'] if c['name'] == 'Access Control Services'][0]['capable']")"
check_eq "ACS enabled bits likewise" \
	"$(dev 0000:00:06.0 "['acs']['enabled']['value']")" \
	"$(ctl -j show 0000:00:06.0 | json_eval "[c for c in d['device']['config']['capabilities'] if c['name'] == 'Access Control Services'][0]['enabled']['value']")"
check_eq "no ACS: a root port without the capability, an endpoint" \
	"$(dev 0000:00:09.0 "['acs']") $(dev 0000:05:00.0 "['acs']")" "None None"
check_eq "slot: the kernel's slot name of the function's device" \
	"$(dev 0000:02:00.1 "['slot']") $(dev 0000:04:02.0 "['slot']") $(dev 0000:00:03.0 "['slot']")" "0-2 2 None"
check_eq "slot label: the SMBIOS designation; a record without a place is left out" \
	"$(dev 0000:01:00.1 "['slot_label']") $(dev 0000:02:00.0 "['slot_label']")" "PCIE1 None"
check_eq "show names the slot" "$(ctl show 0000:01:00.0 | grep 'Physical slot:')" \
	'  Physical slot:     0 "PCIE1"'
check_eq "the label in the JSON is the firmware's, escaped" \
	"$(ctl -j show 0000:05:00.0 | json_eval "repr(d['device']['slot_label'])")" \
	"'\\x1b]0;T\\x07\\x1b[2Jred\\nline\\x9b\\u202eX'"
check_eq "on the terminal its control characters are ?: show and tree" \
	"$(ctl show 0000:05:00.0 | grep 'Physical slot:' | cat -v) $(ctl tree | grep '0000:05:00.0' | grep -o 'slot.*' | cat -v)" \
	'  Physical slot:     0-4 "?]0;T??[2Jred?line??X" slot 0-4 "?]0;T??[2Jred?line??X"'

ctl tree >"$TMP/tree" || not_ok "tree"
check_eq "tree: lines as lspci -tv nests them" "$(sed -n '1p;7,9p;14,17p' "$TMP/tree")" \
'[0000:00]
├─ 0000:00:06.0  Red Hat, Inc. QEMU PCIe Root port  [group 4, pcieport]  ACS SrcValid+ TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd+ DirectTrans-
│  ├─ 0000:01:00.0  Intel Corporation 82574L Gigabit Network Connection  [group 9, e1000e]  slot 0 "PCIE1"  no ACS
│  └─ 0000:01:00.1  Intel Corporation 82574L Gigabit Network Connection  [group 9, e1000e]  slot 0 "PCIE1"
├─ 0000:00:08.0  Red Hat, Inc. QEMU PCIe Root port  [group 6, pcieport]  ACS SrcValid+ TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd+ DirectTrans-
│  └─ 0000:03:00.0  Red Hat, Inc. Device 000e  [group 11, no driver]  no ACS
│     ├─ 0000:04:01.0  Intel Corporation 82540EM Gigabit Ethernet Controller  [group 11, e1000]  slot 1
│     └─ 0000:04:02.0  Intel Corporation 82540EM Gigabit Ethernet Controller  [group 11, e1000]  slot 2'
check_eq "tree: every function once, the last root closing the bus" \
	"$(grep -c ' 0000:' "$TMP/tree") $(tail -1 "$TMP/tree" | cut -d' ' -f1-2)" "21 └─ 0000:00:1f.3"
check_eq "tree -j: the same nesting, each function with its children" \
	"$(ctl -j tree | json_eval "[(b['bus'], [(x['address'], [(y['address'], [z['address'] for z in y['children']]) for y in x['children']]) for x in b['devices'] if x['address'] == '0000:00:08.0']) for b in d['roots']]")" \
	"[('0000:00', [('0000:00:08.0', [('0000:03:00.0', ['0000:04:01.0', '0000:04:02.0'])])])]"

# list: a NAME column, cut to fit the terminal ($COLUMNS), whole when there is no limit.
check "list: the NAME column has the database's names" \
	bash -c "'$PCIPASSCTL' --socket '$SOCK' list | grep -q '^0000:00:1f.2 .* Intel Corporation 82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller \[AHCI mode\] '"
check_eq "list at COLUMNS=140: the widest line is 140 columns" \
	"$(COLUMNS=140 ctl list | python3 -c 'import sys; print(max(len(l.rstrip("\n")) for l in sys.stdin))')" 140
check "list at COLUMNS=140: the names lose their vendor first, then are cut with …" \
	bash -c "COLUMNS=140 '$PCIPASSCTL' --socket '$SOCK' list | grep -q '^0000:00:1f.2 .* storage  *82801IR/IO/IH (ICH9R/… '"
check "pcipassd stops cleanly" daemon_stop
finish
