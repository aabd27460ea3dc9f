# layout: main
# Option ROMs through pcipassd on a real kernel. The e1000e at 00:03.0 carries iPXE's
# efi-e1000e.rom in its ROM BAR (also in tests/fixtures/roms). The VGA devices decode I/O and
# memory at boot, so x86's pci_fixup_video() serves their rom from the legacy shadow at 0xC0000:
# the firmware's initialized copy of the boot VGA BIOS, which pcipassctl must say.
nic=0000:00:03.0 gpu=0000:00:05.0
daemon_start
check "the rom attribute reads as nothing until enabled" sh -c "! cat /sys/bus/pci/devices/$nic/rom >/dev/null 2>&1"
pcipassctl -j rom $nic -o $W/nic.rom >$W/rom.json 2>$W/rom.err
check_eq "pcipassctl rom $nic -o FILE: exit 0" 0 "$?"
check "the saved ROM is the efi-e1000e.rom QEMU loaded, byte for byte" cmp $W/nic.rom /vm/roms/efi-e1000e.rom
check_eq "valid, both images' ids are the function's, not a shadow" "true true true false" \
	"$(vmcheck get valid <$W/rom.json) $(vmcheck get images.0.ids_match <$W/rom.json) $(vmcheck get images.1.ids_match <$W/rom.json) $(vmcheck get shadow <$W/rom.json)"
check "the rom attribute is disabled again" sh -c "! cat /sys/bus/pci/devices/$nic/rom >/dev/null 2>&1"

# A function on vfio-pci that nobody uses is runtime-suspended (D3hot on hardware, where its
# ROM would read as all ones): pcipassd holds it powered for the read and gives PM back.
nic2=0000:00:04.0
cat >$W/policy/50-nic2.policy <<P
[Match]
Address=$nic2
[Assign]
Driver=vfio-pci
Apply=request
P
pcipassctl reload >/dev/null
check "claim $nic2 for vfio-pci" pcipassctl claim $nic2
check_eq "vfio-pci runtime-suspended it" "auto suspended" \
	"$(cat /sys/bus/pci/devices/$nic2/power/control) $(cat /sys/bus/pci/devices/$nic2/power/runtime_status)"
g2=$(group_of $nic2)
exec 7<>/dev/vfio/$g2
pcipassctl rom $nic2 -o $W/busy.rom >$W/busy.txt 2>&1
check_eq "while a process holds /dev/vfio/$g2 (a VM would): refused (exit 1)" 1 "$?"
check "naming the holder" grep -q "is in use: /dev/vfio/$g2 open by pid" $W/busy.txt
exec 7<&-
check "its ROM, byte for byte" sh -c "pcipassctl rom $nic2 -o $W/nic2.rom && cmp $W/nic2.rom /vm/roms/efi-e1000e.rom"
check_eq "runtime PM given back" auto "$(cat /sys/bus/pci/devices/$nic2/power/control)"
check "release $nic2" pcipassctl release $nic2

check "the kernel serves $gpu's ROM from the shadow" sh -c "dmesg | grep -q '$gpu: Video device with shadowed ROM'"
pcipassctl rom $gpu -o $W/gpu.rom >$W/gpu.out 2>$W/gpu.err
check_eq "pcipassctl rom $gpu: saved (exit 0)" 0 "$?"
check "with the warning that it is the shadow copy" grep -q "legacy shadow at 0xC0000" $W/gpu.err
check "indeed not the pristine VGA BIOS" sh -c "! cmp -s $W/gpu.rom /vm/roms/vgabios-stdvga.bin"

pcipassctl rom 0000:02:00.0 -o $W/nvme.rom >$W/norom.txt 2>&1
check_eq "a function without a ROM BAR: refused (exit 1)" 1 "$?"
check "with the reason" grep -q "no option ROM to read on 0000:02:00.0" $W/norom.txt
check "and no file is left behind" test ! -e $W/nvme.rom
