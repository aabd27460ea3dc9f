#!/bin/bash
# pcipassctl rom ADDRESS -o FILE, through pcipassd's DumpRom, against tests/fakekernel's rom
# attribute (EINVAL until enabled, "0\n" disables, EIO without a 0x55AA image): the exact writes,
# the saved bytes, the verdict for the function's ids, a reply far larger than the 1 MiB message
# limit, the refusals (not root, --read-only, pcipass.disable=1, unknown function, no ROM), and
# that the ROM is disabled again whatever fails.
. "${top_srcdir:-.}/tests/lib.sh"
enter_netns_mountns "$@"

umask 022
root=$TMP/sys
M=$TMP/mnt
out=$TMP/out
ROMS=$FIXTURES/roms
mkdir -p "$out" "$TMP/pol"
fs() { "$FAKESYS" "$root" "$@" >/dev/null; }
dev_rom() { echo "$M/bus/pci/devices/$1/rom"; }
# rom ARGS...: pcipassctl rom, its stdout in $TMP/stdout, stderr in $TMP/stderr; prints the exit.
rom() {
	local rc=0
	ctl rom "$@" >"$TMP/stdout" 2>"$TMP/stderr" || rc=$?
	echo "$rc"
}
# ROMs made from the fixtures: one byte of the x86 image changed (its checksums are off); a
# 16 MiB x86 image, valid (the most pcipassd reads; 22.4 MiB in base64); one 512 bytes longer.
python3 - "$ROMS" "$TMP" <<'EOF'
import struct, sys
roms, tmp = sys.argv[1:3]
d = bytearray(open(roms + "/efi-e1000e.rom", "rb").read())
d[0x1000] ^= 0x5a
open(tmp + "/corrupt.rom", "wb").write(d)
def big(units, name):
    d = bytearray(open(roms + "/pxe-e1000.rom", "rb").read())
    n = len(d)
    pcir = struct.unpack_from("<H", d, 0x18)[0]
    struct.pack_into("<H", d, pcir + 0x10, units)
    d += bytes(units * 512 - n)
    d[n - 1] = (d[n - 1] - sum(d)) % 256	# the image and its init area sum to 0 again
    open(tmp + "/" + name, "wb").write(d)
big(32768, "big.rom")
big(32769, "huge.rom")
open(tmp + "/nosig.rom", "wb").write(bytes(4096))
EOF
check_eq "the 16 MiB ROM made for the test is valid offline" \
	"$("$PCIPASSCTL" rom check "$TMP/big.rom" | tail -1)" "$TMP/big.rom: valid, 16777216 bytes, 1 image"

check_eq "rom --check FILE is rom check FILE" \
	"$("$PCIPASSCTL" rom --check "$ROMS/pxe-e1000.rom" | tail -1)" "$ROMS/pxe-e1000.rom: valid, 75264 bytes, 1 image"
check_eq "rom --check with -o is a usage error (exit 2)" \
	"$("$PCIPASSCTL" rom --check "$ROMS/pxe-e1000.rom" -o "$TMP/x.rom" >/dev/null 2>&1; echo $?)" "2"

fs init --iommu dmar0
fs add 0000:00:03.0 vendor=0x8086 device=0x10d3 driver=e1000e group=3 rom="$ROMS/efi-e1000e.rom"
fs add 0000:00:04.0 vendor=0x8086 device=0x10d3 driver=e1000e group=4 rom="$TMP/corrupt.rom"
fs add 0000:00:05.0 vendor=0x8086 device=0x10d3 driver=e1000e group=5 rom="$ROMS/pxe-e1000.rom"
fs add 0000:00:06.0 vendor=0x8086 device=0x10d3 driver=e1000e group=6
fs add 0000:00:07.0 vendor=0x8086 device=0x10d3 group=7 rom="$TMP/nosig.rom"
fs add 0000:00:08.0 vendor=0x8086 device=0x100e group=8 rom="$TMP/big.rom"
fs add 0000:00:09.0 vendor=0x8086 device=0x100e group=9 rom="$TMP/huge.rom"
# A VGA device the kernel serves from the legacy shadow (pci_fixup_video()): the ROM line of its
# resource file (the seventh) starts at 0xc0000.
fs add 0000:00:0a.0 vendor=0x1234 device=0x1111 class=0x030000 group=10 boot_vga=1 \
	rom="$ROMS/vgabios-stdvga.bin"
{
	for _ in 1 2 3 4 5 6; do echo "0x0000000000000000 0x0000000000000000 0x0000000000000000"; done
	echo "0x00000000000c0000 0x00000000000dffff 0x0000000000004e02"
} >"$root/bus/pci/devices/0000:00:0a.0/resource"
fs add 0000:00:0b.0 vendor=0x8086 device=0x10d3 driver=vfio-pci group=11 rom="$ROMS/efi-e1000e.rom"
# 0000:00:05.0 under runtime power management (power/control "auto"), as a vfio-pci function
# nobody uses is.
mkdir -p "$root/bus/pci/devices/0000:00:05.0/power"
echo auto >"$root/bus/pci/devices/0000:00:05.0/power/control"
control ""
fakekernel_start "$root" "$M" || { not_ok "fakekernel mounts the tree"; finish; }

# --- fakekernel's rom attribute, as drivers/pci/pci-sysfs.c has it ---------------------------
r=$(dev_rom 0000:00:03.0)
check_eq "fakekernel: the rom is root's (0600), and reads EINVAL until enabled" \
	"$(stat -c %a "$r") $(kread "$r")" "600 EINVAL"
check_eq "fakekernel: after \"1\" it reads the whole image chain" \
	"$(kwrite "$r" 1) $(kread "$r")" "ok 249856"
check_eq "fakekernel: \"0\" alone enables (pci_write_rom() disables only for a 2-byte write)" \
	"$(kwrite "$r" 0) $(kread "$r")" "ok 249856"
check_eq "fakekernel: \"0\\n\" disables" "$(kwrite "$r" $'0\n') $(kread "$r")" "ok EINVAL"
check_eq "fakekernel: no 0x55AA image at the start reads EIO (pci_map_rom() finds no ROM)" \
	"$(kwrite "$(dev_rom 0000:00:07.0)" 1) $(kread "$(dev_rom 0000:00:07.0)") $(kwrite "$(dev_rom 0000:00:07.0)" $'0\n')" \
	"ok EIO ok"
check_eq "fakekernel: rom writes are logged" "$(writes)" \
	'rom 0000:00:03.0 1 -> ok|rom 0000:00:03.0 0 -> ok|rom 0000:00:03.0 0\n -> ok|rom 0000:00:07.0 1 -> ok|rom 0000:00:07.0 0\n -> ok'

daemon_start "$M" --policy-dir "$TMP/pol" --config "$TMP/none.conf" || { not_ok "pcipassd starts"; finish; }
writes >/dev/null

# --- a valid ROM -------------------------------------------------------------------------------
check_eq "rom ADDRESS -o FILE: exit 0" "$(rom 0000:00:03.0 -o "$out/e1000e.rom")" "0"
check_eq "exactly two writes: enable \"1\", then disable \"0\"" "$(writes)" \
	'rom 0000:00:03.0 1\n -> ok|rom 0000:00:03.0 0\n -> ok'
check "the saved file is the ROM, byte for byte" cmp -s "$out/e1000e.rom" "$ROMS/efi-e1000e.rom"
check_eq "…an ordinary file (0666 less the umask), no temporary file left" \
	"$(stat -c %a "$out/e1000e.rom") $(ls "$out")" "644 e1000e.rom"
check_eq "the verdict, printed as rom check prints it" "$(cat "$TMP/stdout")" \
	"$("$PCIPASSCTL" rom check "$out/e1000e.rom")"
check_eq "…valid, both images for 8086:10d3" "$(tail -1 "$TMP/stdout") $(cat "$TMP/stderr")" \
	"$out/e1000e.rom: valid, 249856 bytes, 2 images "
check_eq "the ROM is disabled again" "$(kread "$(dev_rom 0000:00:03.0)")" "EINVAL"
check "pcipassd logs the read" grep -q "0000:00:03.0: option ROM read, 249856 bytes, 2 images, valid" "$TMP/daemon.log"

echo junk >"$out/old.rom"
check_eq "-j: the verdict as rom check -j has it, with address and path" \
	"$(ctl -j rom 0000:00:03.0 --output "$out/old.rom" | json_eval '(d["valid"], d["size"], d["address"], d["path"] == "'"$out/old.rom"'", [(i["code_type"], i["ids_match"]) for i in d["images"]], d["problems"])')" \
	"(True, 249856, '0000:00:03.0', True, [('x86', True), ('efi', True)], [])"
check "--output replaces an existing file as a whole" cmp -s "$out/old.rom" "$ROMS/efi-e1000e.rom"
check_eq "the Varlink reply: base64 data, size, the function's ids, the validation" \
	"$(python3 "$top_srcdir/tests/vl.py" "$SOCK" io.pcipass.DumpRom '{"address":"0000:00:03.0"}' | json_eval '(sorted(d["parameters"]), __import__("base64").b64decode(d["parameters"]["data"]) == open("'"$ROMS/efi-e1000e.rom"'", "rb").read(), d["parameters"]["vendor_id"], d["parameters"]["device_id"], d["parameters"]["validation"]["valid"])')" \
	"(['address', 'data', 'device_id', 'shadow', 'size', 'validation', 'vendor_id'], True, 32902, 4307, True)"
writes >/dev/null

# --- invalid ROMs are saved, and fail ---------------------------------------------------------
check_eq "a corrupt ROM: exit 1" "$(rom 0000:00:04.0 -o "$out/corrupt.rom")" "1"
check "…saved all the same, byte for byte" cmp -s "$out/corrupt.rom" "$TMP/corrupt.rom"
check_eq "…reported invalid: the x86 image's checksum" \
	"$(grep '^0 ' "$TMP/stdout" | awk '{print $8, $9}') | $(tail -1 "$TMP/stdout")" \
	"BAD checksum-nonzero | $out/corrupt.rom: INVALID, 249856 bytes, 2 images"
check_eq "…and says the file is saved" "$(cat "$TMP/stderr")" \
	"pcipassctl: the option ROM of 0000:00:04.0 is not valid; saved to $out/corrupt.rom all the same"
check_eq "…with the same two writes" "$(writes)" \
	'rom 0000:00:04.0 1\n -> ok|rom 0000:00:04.0 0\n -> ok'
check_eq "-j of an invalid ROM: valid false, exit 1" \
	"$(ctl -j rom 0000:00:04.0 -o "$out/corrupt.rom" 2>/dev/null | json_eval 'd["valid"]'; echo "${PIPESTATUS[0]}")" \
	"False
1"
check_eq "a ROM for another device (8086:100e on an 8086:10d3): ids-mismatch, exit 1" \
	"$(rom 0000:00:05.0 -o "$out/pxe.rom") $(grep '^0 ' "$TMP/stdout" | awk '{print $4, $9}')" \
	"1 8086:100e ids-mismatch"
quiet() { "$@" >/dev/null; }
check "…though rom check, knowing no device, finds the file valid" quiet "$PCIPASSCTL" rom check "$out/pxe.rom"
writes >/dev/null

# --- a reply far beyond the 1 MiB message limit, and the size cap -------------------------------
check_eq "a 16 MiB ROM (22.4 MiB of base64 in one reply): saved, valid" \
	"$(rom 0000:00:08.0 -o "$out/big.rom") $(tail -1 "$TMP/stdout")" \
	"0 $out/big.rom: valid, 16777216 bytes, 1 image"
check "…byte for byte" cmp -s "$out/big.rom" "$TMP/big.rom"
check_eq "a ROM 512 bytes past 16 MiB: refused (NoRom), nothing saved, exit 1" \
	"$(rom 0000:00:09.0 -o "$out/huge.rom") $(cat "$TMP/stderr") $(ls "$out" | grep -c huge)" \
	"1 pcipassctl: no option ROM to read on 0000:00:09.0: larger than 16 MiB, more than pcipassd reads 0"
check_eq "…and disabled again" "$(writes | cut -d'|' -f3-)" \
	'rom 0000:00:09.0 1\n -> ok|rom 0000:00:09.0 0\n -> ok'

# --- no ROM to read ---------------------------------------------------------------------------
check_eq "no rom attribute: NoRom, exit 1, nothing written" \
	"$(rom 0000:00:06.0 -o "$out/none.rom") $(cat "$TMP/stderr") [$(writes)] $(ls "$out" | grep -c none)" \
	"1 pcipassctl: no option ROM to read on 0000:00:06.0: no rom attribute: the function has no expansion ROM [] 0"
check_eq "no 0x55AA image: NoRom (EIO), and disabled again" \
	"$(rom 0000:00:07.0 -o "$out/nosig.rom") $(cat "$TMP/stderr") [$(writes)]" \
	'1 pcipassctl: no option ROM to read on 0000:00:07.0: the kernel could not map it (EIO): no ROM resource, or no valid image at its start [rom 0000:00:07.0 1\n -> ok|rom 0000:00:07.0 0\n -> ok]'
check_eq "unknown function: NoSuchDevice, exit 1, nothing written" \
	"$(rom 0000:00:1f.0 -o "$out/x.rom") $(cat "$TMP/stderr") [$(writes)]" \
	"1 pcipassctl: no PCI function 0000:00:1f.0 on this host []"

# --- failures: the ROM is always disabled again -------------------------------------------------
control "fail rom_read 0000:00:03.0 ENXIO
"
rm -f "$out/e1000e.rom"
check_eq "the read fails: SystemError naming the step, exit 1, no file" \
	"$(rom 0000:00:03.0 -o "$out/e1000e.rom") $(cat "$TMP/stderr") $(ls "$out" | grep -c e1000e)" \
	"1 pcipassctl: io.pcipass.SystemError: Failed to read the ROM of 0000:00:03.0: No such device or address 0"
check_eq "…disabled again after the failed read" "$(writes)" \
	'rom 0000:00:03.0 1\n -> ok|rom 0000:00:03.0 0\n -> ok'
check_eq "…and reads EINVAL again" "$(control ""; kread "$(dev_rom 0000:00:03.0)")" "EINVAL"
control "fail rom_read 0000:00:03.0 EIO
"
check_eq "the read fails with EIO: NoRom, disabled again" \
	"$(rom 0000:00:03.0 -o "$out/e1000e.rom") $(cat "$TMP/stderr") [$(writes)]" \
	'1 pcipassctl: no option ROM to read on 0000:00:03.0: the kernel could not map it (EIO): no ROM resource, or no valid image at its start [rom 0000:00:03.0 1\n -> ok|rom 0000:00:03.0 0\n -> ok]'
control "fail rom 0000:00:03.0 EACCES once
"
check_eq "enabling fails: SystemError, and \"0\" is written all the same" \
	"$(rom 0000:00:03.0 -o "$out/e1000e.rom") $(cat "$TMP/stderr") [$(writes)]" \
	'1 pcipassctl: io.pcipass.SystemError: Failed to enable the ROM attribute of 0000:00:03.0: Permission denied [rom 0000:00:03.0 1\n -> EACCES|rom 0000:00:03.0 0\n -> ok]'
control ""
check_eq "a file that cannot be saved: exit 1, says where and why" \
	"$(rom 0000:00:03.0 -o "$out/nodir/x.rom") $(cat "$TMP/stderr")" \
	"1 pcipassctl: cannot save the ROM of 0000:00:03.0 to $out/nodir/x.rom: No such file or directory"
writes >/dev/null

# --- who may, and usage --------------------------------------------------------------------------
chmod 0755 "$TMP"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$PCIPASSCTL" --socket "$SOCK" "$@"; }
check_eq "an unprivileged peer: PermissionDenied, exit 1, nothing written" \
	"$(nobody rom 0000:00:03.0 -o /tmp/never.rom 2>&1; echo "rc=$?") [$(writes)]" \
	"pcipassctl: permission denied: reading an option ROM is for root only
rc=1 []"
# (python3 of the system: the one on PATH may live where nobody cannot reach.)
if [ -x /usr/bin/python3 ]; then
	check_eq "…also through any Varlink client" \
		"$(setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 "$top_srcdir/tests/vl.py" "$SOCK" io.pcipass.DumpRom '{"address":"0000:00:03.0"}' | json_eval 'd["error"]')" \
		"io.pcipass.PermissionDenied"
else
	ok "…also through any Varlink client # SKIP no /usr/bin/python3"
fi
check_eq "no -o: usage error (exit 2)" "$(rom 0000:00:03.0) $(head -1 "$TMP/stderr")" \
	"2 pcipassctl: rom ADDRESS needs -o FILE, where the ROM is saved"
check_eq "-o without a file: usage error" "$(rom 0000:00:03.0 -o) $(head -1 "$TMP/stderr")" \
	"2 pcipassctl: option '-o' needs an argument"
check_eq "a malformed address: usage error" "$(rom 00:03.0 -o "$out/x.rom") $(head -1 "$TMP/stderr")" \
	"2 pcipassctl: '00:03.0' is not a PCI address (DDDD:BB:DD.F)"
check_eq "-o with another verb: usage error" \
	"$(ctl -o "$out/x.rom" list >/dev/null 2>"$TMP/stderr"; echo $?) $(head -1 "$TMP/stderr")" \
	"2 pcipassctl: -o/--output is for 'rom ADDRESS' and 'metrics' only"
check_eq "-o with rom check: usage error" "$(rom check "$ROMS/pxe-e1000.rom" -o "$out/x.rom") $(head -1 "$TMP/stderr")" \
	"2 pcipassctl: -o/--output is for 'rom ADDRESS', not 'rom check'"
check_eq "usage errors write nothing" "[$(writes)] $(ls "$out" | grep -c x.rom)" "[] 0"
# Runtime PM: held on for the read, given back after (this ROM is iPXE's e1000 one: ids-mismatch).
rc=$(rom 0000:00:05.0 -o "$TMP/pm.rom")
check_eq "under runtime PM: power/control \"on\" around the read, \"auto\" again after" \
	"$rc $(writes) $(cat "$M/bus/pci/devices/0000:00:05.0/power/control")" \
	'1 write devices/pci0000:00/0000:00:05.0/power/control on\n -> ok|rom 0000:00:05.0 1\n -> ok|rom 0000:00:05.0 0\n -> ok|write devices/pci0000:00/0000:00:05.0/power/control auto\n -> ok auto'

# In use: a process holds its vfio group node open (a VM): refused unless --force.
mkdir -p "$TMP/dev/vfio"
: >"$TMP/dev/vfio/11"
exec 8<"$TMP/dev/vfio/11"
rc=$(rom 0000:00:0b.0 -o "$TMP/busy.rom")
check_eq "a function in use: refused (exit 1), says by whom, nothing written, no file" \
	"$rc $(grep -c "0000:00:0b.0 is in use: .*/dev/vfio/11 open by pid [0-9]* .* (--force reads its ROM anyway)" "$TMP/stderr") [$(writes)] $([ -e "$TMP/busy.rom" ] && echo file)" \
	"1 1 [] "
rc=$(rom 0000:00:0b.0 -o "$TMP/busy.rom" --force)
check_eq "--force reads it" "$rc $(cmp -s "$TMP/busy.rom" "$ROMS/efi-e1000e.rom" && echo same)" "0 same"
exec 8<&-
writes >/dev/null

# Not a regular file at FILE: written in place, never replaced by a rename.
mkfifo "$TMP/fifo"
cat "$TMP/fifo" >"$TMP/from-fifo" &
reader=$!
rc=$(rom 0000:00:03.0 -o "$TMP/fifo")
wait $reader
check_eq "-o FIFO: exit 0, the FIFO is still one, the reader got the ROM" \
	"$rc $(stat -c %F "$TMP/fifo") $(stat -c %s "$TMP/from-fifo")" "0 fifo 249856"
: >"$TMP/target.rom"
ln -s target.rom "$TMP/link.rom"
rc=$(rom 0000:00:03.0 -o "$TMP/link.rom")
check_eq "-o SYMLINK: the link stays, the file it names gets the ROM" \
	"$rc $(stat -c %F "$TMP/link.rom") $(stat -c %s "$TMP/target.rom")" "0 symbolic link 249856"
writes >/dev/null

# The legacy shadow: saved, valid, and said.
rc=$(rom 0000:00:03.0 -o "$TMP/e.rom")
check_eq "a ROM from its ROM BAR: no shadow warning" "$rc $(grep -c shadow "$TMP/stderr")" "0 0"
rc=$(rom 0000:00:0a.0 -o "$TMP/vga.rom")
check_eq "a ROM served from the legacy shadow: saved (exit 0), with a warning" \
	"$rc $(grep -c 'legacy shadow at 0xC0000' "$TMP/stderr")" "0 1"
rc=$(rom -j 0000:00:0a.0 -o "$TMP/vga.rom")
check_eq "…shadow in the JSON" "$rc $(json_eval 'd["shadow"]' <"$TMP/stdout")" "0 True"
rc=$(rom -j 0000:00:03.0 -o "$TMP/e.rom")
check_eq "…false for a ROM BAR" "$rc $(json_eval 'd["shadow"]' <"$TMP/stdout")" "0 False"
writes >/dev/null

check "pcipassd stops cleanly" daemon_stop

daemon_start "$M" --read-only --policy-dir "$TMP/pol" --config "$TMP/none.conf"
check_eq "--read-only: refused (enabling the ROM is a write), nothing written" \
	"$(rom 0000:00:03.0 -o "$out/ro.rom") $(cat "$TMP/stderr") [$(writes)]" \
	"1 pcipassctl: pcipassd runs --read-only: it changes nothing []"
check "pcipassd stops cleanly (read-only)" daemon_stop

printf 'BOOT_IMAGE=/vmlinuz root=/dev/vda1 pcipass.disable=1\n' >"$TMP/cmdline"
mount --bind "$TMP/cmdline" /proc/cmdline
daemon_start "$M" --policy-dir "$TMP/pol" --config "$TMP/none.conf"
check_eq "pcipass.disable=1: refused, nothing written" \
	"$(rom 0000:00:03.0 -o "$out/off.rom") $(cat "$TMP/stderr") [$(writes)]" \
	"1 pcipassctl: pcipass.disable=1 is on the kernel command line: pcipassd changes nothing []"
umount /proc/cmdline
check "pcipassd stops cleanly (disabled)" daemon_stop
check "fakekernel unmounts cleanly" fakekernel_stop
finish
