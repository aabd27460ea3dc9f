# layout: main
# One NIC claimed for vfio-pci by address, then released back to e1000e.
nic=0000:00:03.0
policy 50-nic <<P
[Match]
Address=$nic
[Assign]
Driver=vfio-pci
Apply=request
P
daemon_start
check_eq "starts on its host driver" e1000e "$(driver_of $nic)"
group=$(group_of $nic)
written >/dev/null
plan=$(planned claim $nic)
check "the dry run shows the override, the unbind from e1000e and the probe" \
	test "$(echo "$plan" | wc -l)" = 3
check "claim $nic" pcipassctl claim $nic
check_eq "claim: pcipassd wrote exactly what its dry run printed" "$plan" "$(written)"
check_eq "$nic is on vfio-pci" vfio-pci "$(driver_of $nic)"
check "the kernel made /dev/vfio/$group" test -c /dev/vfio/$group
check_eq "the kernel: group $group is viable, a device fd opens" viable "$(vmcheck viable $group)"
check "pcipassctl list shows it on vfio-pci" sh -c "pcipassctl list | grep '^$nic .*vfio-pci'"
kernel_agrees "claimed" 1
plan=$(planned release $nic)
check "release $nic" pcipassctl release $nic
check_eq "release: pcipassd wrote exactly what its dry run printed" "$plan" "$(written)"
check_eq "$nic is back on e1000e" e1000e "$(driver_of $nic)"
check "/dev/vfio/$group is gone" test ! -e /dev/vfio/$group
check_eq "driver_override is cleared" "(null)" "$(cat /sys/bus/pci/devices/$nic/driver_override)"
kernel_agrees "released"
