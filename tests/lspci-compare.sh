# compare_with_lspci ADDRESS SHOW_JSON LSPCI_TXT: the config space as pcipassctl -j show
# decodes it, next to lspci -vvv of the same function (pciutils), one check per property.
# Sourced after tests/lib.sh (check_eq); used by test-lspci.sh on this machine and by
# tests/vm/lspci-check.sh on the QEMU guest's functions.

# pcipass_side SHOW_JSON: pcipassd's side of every check, one line each, written as lspci
# writes it (one python run per function: the guest has some two dozen).
pcipass_side() {
	python3 - "$1" <<'EOF'
import json, sys
cfg = json.load(open(sys.argv[1]))["device"]["config"]
caps = cfg["capabilities"]

def size(n):
    return next(str(n >> s) + u for s, u in [(30, "G"), (20, "M"), (10, "K"), (0, "")]
                if n % (1 << s) == 0 and n >> s)

def sign(b):
    return "+" if b else "-"

print(" ".join(str(c["offset"]) for c in sorted(caps, key=lambda c: c["offset"])))
print(" ".join(k + sign(cfg["command"][f]) for k, f in [
    ("I/O", "io"), ("Mem", "memory"), ("BusMaster", "bus_master"), ("SERR", "serr"),
    ("DisINTx", "intx_disable")]))
print(" ".join("%s %d %s" % (sign(c["enabled"]), c["table_size"], sign(c["function_mask"]))
               for c in caps if c["name"] == "MSI-X"))
print(" ".join("%d:%s" % (b["index"], size(b["size"])) for b in cfg["bars"] if b["size"]))
print(" ".join("%g x%d" % (c["link"]["speed_gts"], c["link"]["width"])
               for c in caps if c.get("link") and c["link"].get("speed_gts")))
EOF
}

compare_with_lspci() {
	local want got
	got=$(pcipass_side "$2") || got="(pcipassctl's JSON could not be read)"
	# Capability offsets and ids: lspci prints "Capabilities: [c8] Power Management version 2"
	# and "Capabilities: [100 v2] Advanced Error Reporting".
	want=$(sed -n 's/^\tCapabilities: \[\([0-9a-f]*\)[] ].*/\1/p' "$3" | grep -v '^$' |
	       while read -r off; do printf '%d\n' "0x$off"; done | sort -n | paste -sd' ')
	check_eq "$1: the capability chain (offsets) as lspci walks it" "$(sed -n 1p <<<"$got")" "$want"

	# Command register bits lspci shows as "I/O+ Mem+ BusMaster+ … DisINTx+".
	want=$(sed -n 's/^\tControl: //p' "$3" | tr ' ' '\n' |
	       sed -n 's/^\(I\/O\|Mem\|BusMaster\|SERR\|DisINTx\)\([+-]\)$/\1\2/p' | paste -sd' ')
	check_eq "$1: command register (I/O Mem BusMaster SERR DisINTx)" "$(sed -n 2p <<<"$got")" "$want"

	# MSI-X: "MSI-X: Enable+ Count=3 Masked-".
	want=$(sed -n 's/^\tCapabilities: \[[0-9a-f]*\] MSI-X: Enable\([+-]\) Count=\([0-9]*\) Masked\([+-]\)/\1 \2 \3/p' "$3")
	check_eq "$1: MSI-X enable, table size, mask" "$(sed -n 3p <<<"$got")" "$want"

	# BAR sizes: "Region 0: Memory at … [size=512K]".
	want=$(sed -n 's/^\tRegion \([0-9]\): .*\[size=\([0-9]*[KMG]*\)\].*/\1:\2/p' "$3" | paste -sd' ')
	check_eq "$1: BAR sizes" "$(sed -n 4p <<<"$got")" "$want"

	# The link as trained, from the PCI Express capability: "LnkSta: Speed 2.5GT/s, Width x1".
	want=$(sed -n 's/^\t\tLnkSta:\tSpeed \([0-9.]*\)GT\/s[^,]*, Width x\([0-9]*\).*/\1 x\2/p' "$3")
	check_eq "$1: link speed and width (LnkSta)" "$(sed -n 5p <<<"$got")" "$want"
}
