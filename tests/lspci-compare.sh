# compare_with_lspci ADDRESS SHOW_JSON LSPCI_TXT: the config space as pcipassctl -j show
# decodes it, next to lspci -vvv of the same function (pciutils), one check per property.
# Sourced after tests/lib.sh (check_eq, json_eval); used by test-lspci.sh on this machine and
# by tests/vm/lspci-check.sh on the QEMU guest's functions.
compare_with_lspci() {
	local want got
	# Capability offsets and ids: lspci prints "Capabilities: [c8] Power Management version 2"
	# and "Capabilities: [100 v2] Advanced Error Reporting".
	want=$(sed -n 's/^\tCapabilities: \[\([0-9a-f]*\)[] ].*/\1/p' "$3" | grep -v '^$' |
	       while read -r off; do printf '%d\n' "0x$off"; done | sort -n | paste -sd' ')
	got=$(json_eval '" ".join(str(c["offset"]) for c in sorted(d["device"]["config"]["capabilities"], key=lambda c: c["offset"]))' <"$2")
	check_eq "$1: the capability chain (offsets) as lspci walks it" "$got" "$want"

	# Command register bits lspci shows as "I/O+ Mem+ BusMaster+ … DisINTx+".
	want=$(sed -n 's/^\tControl: //p' "$3" | tr ' ' '\n' |
	       sed -n 's/^\(I\/O\|Mem\|BusMaster\|SERR\|DisINTx\)\([+-]\)$/\1\2/p' | paste -sd' ')
	got=$(json_eval '" ".join(k + ("+" if d["device"]["config"]["command"][f] else "-") for k, f in [("I/O", "io"), ("Mem", "memory"), ("BusMaster", "bus_master"), ("SERR", "serr"), ("DisINTx", "intx_disable")])' <"$2")
	check_eq "$1: command register (I/O Mem BusMaster SERR DisINTx)" "$got" "$want"

	# MSI-X: "MSI-X: Enable+ Count=3 Masked-".
	want=$(sed -n 's/^\tCapabilities: \[[0-9a-f]*\] MSI-X: Enable\([+-]\) Count=\([0-9]*\) Masked\([+-]\)/\1 \2 \3/p' "$3")
	got=$(json_eval '" ".join([("+" if c["enabled"] else "-") + " " + str(c["table_size"]) + " " + ("+" if c["function_mask"] else "-") for c in d["device"]["config"]["capabilities"] if c["name"] == "MSI-X"])' <"$2")
	check_eq "$1: MSI-X enable, table size, mask" "$got" "$want"

	# BAR sizes: "Region 0: Memory at … [size=512K]".
	want=$(sed -n 's/^\tRegion \([0-9]\): .*\[size=\([0-9]*[KMG]*\)\].*/\1:\2/p' "$3" | paste -sd' ')
	got=$(json_eval '" ".join("%d:%s" % (b["index"], next((str(b["size"] >> s) + u for s, u in [(30, "G"), (20, "M"), (10, "K"), (0, "")] if b["size"] and b["size"] % (1 << s) == 0 and b["size"] >> s), "?")) for b in d["device"]["config"]["bars"] if b["size"])' <"$2")
	check_eq "$1: BAR sizes" "$got" "$want"

	# The link as trained, from the PCI Express capability: "LnkSta: Speed 2.5GT/s, Width x1".
	want=$(sed -n 's/^\t\tLnkSta:\tSpeed \([0-9.]*\)GT\/s[^,]*, Width x\([0-9]*\).*/\1 x\2/p' "$3")
	got=$(json_eval '" ".join("%g x%d" % (c["link"]["speed_gts"], c["link"]["width"]) for c in d["device"]["config"]["capabilities"] if c.get("link") and c["link"].get("speed_gts"))' <"$2")
	check_eq "$1: link speed and width (LnkSta)" "$got" "$want"
}
