# layout: main
# A NIC claimed for uio_pci_generic (DPDK without vfio); the daemon loads the module itself.
nic=0000:00:04.0
check "uio_pci_generic is not loaded yet" test ! -d /sys/module/uio_pci_generic
policy 50-uio <<P
[Match]
Address=$nic
[Assign]
Driver=uio_pci_generic
Apply=request
P
daemon_start
check "claim $nic for uio_pci_generic" pcipassctl claim $nic --driver uio_pci_generic
check_eq "$nic is on uio_pci_generic" uio_pci_generic "$(driver_of $nic)"
check "the kernel made /dev/uio0" test -c /dev/uio0
check "and /sys/class/uio/uio0 for $nic" sh -c "readlink /sys/class/uio/uio0/device | grep -q $nic"
pcipassctl show $nic >$W/show.txt 2>&1
check "pcipassctl show names uio0 and /dev/uio0" sh -c "grep -q uio0 $W/show.txt && grep -q /dev/uio0 $W/show.txt"
pcipassctl -j show $nic >$W/show.json 2>&1
check_eq "its event count is the kernel's" "$(cat /sys/class/uio/uio0/event)" \
	"$(vmcheck get device.uio.event_count <$W/show.json)"
check "release $nic" pcipassctl release $nic
check_eq "$nic is back on e1000e" e1000e "$(driver_of $nic)"
check "uio0 is gone" test ! -e /sys/class/uio/uio0
