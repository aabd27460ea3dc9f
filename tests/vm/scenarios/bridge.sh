# layout: main
# Two e1000 behind a PCIe-to-PCI bridge share a group with the bridge; an endpoint behind a
# root port without ACS shares the port's group, and pcieport must not spoil its viability.
a=0000:04:01.0 b=0000:04:02.0 bridge=0000:03:00.0 port=0000:00:09.0 ep=0000:05:00.0
g=$(group_of $a)
check_eq "both e1000 and the bridge share group $g" "$g $g" "$(group_of $b) $(group_of $bridge)"
check_eq "the endpoint behind the port without ACS shares its group" "$(group_of $port)" "$(group_of $ep)"
policy 50-bridged <<P
[Match]
Address=$a
[Assign]
Driver=vfio-pci
Group=claim
Apply=request
P
policy 51-no-acs <<P
[Match]
Address=$ep
[Assign]
Driver=vfio-pci
Apply=request
P
daemon_start
pcipassctl claim $a --group --dry-run >$W/dry.txt 2>&1
check_eq "a dry run of the group claim: exit 0" 0 "$?"
check "the dry run moves the other e1000 along" grep -q "$b" $W/dry.txt
check_eq "a dry run changes nothing" e1000 "$(driver_of $a)"
check "claim $a with its group" pcipassctl claim $a --group
check_eq "both e1000 on vfio-pci, the bridge without a driver" "vfio-pci vfio-pci none" \
	"$(driver_of $a) $(driver_of $b) $(driver_of $bridge)"
check_eq "the kernel: group $g is viable" viable "$(vmcheck viable $g)"
check "claim $ep (its port stays on pcieport)" pcipassctl claim $ep
check_eq "the port is still on pcieport" pcieport "$(driver_of $port)"
check_eq "the kernel: group $(group_of $ep) is viable with pcieport in it" viable "$(vmcheck viable $(group_of $ep))"
kernel_agrees "bridged and no-ACS groups claimed" 2
check "release $a" pcipassctl release $a
check "release $ep" pcipassctl release $ep
check_eq "all back on their drivers" "e1000 e1000 e1000e" "$(driver_of $a) $(driver_of $b) $(driver_of $ep)"
kernel_agrees "released"
