# layout: main
# SR-IOV: a start-up rule for the VFs of the nvme PF; VF autoprobe goes off, so when the VFs
# are created they go to vfio-pci without ever touching the nvme driver.
pf=0000:02:00.0
check_eq "the PF is on nvme with 2 VFs possible" "nvme 2" "$(driver_of $pf) $(cat /sys/bus/pci/devices/$pf/sriov_totalvfs)"
policy 50-vfs <<P
[Match]
VirtualFunctionOf=$pf
[Assign]
Driver=vfio-pci
P
daemon_start
check_eq "the daemon turned VF autoprobe off" 0 "$(cat /sys/bus/pci/devices/$pf/sriov_drivers_autoprobe)"
monitor_start $W/monitor.log
check "create 2 VFs" sh -c "echo 2 >/sys/bus/pci/devices/$pf/sriov_numvfs"
vf1=$(basename "$(readlink /sys/bus/pci/devices/$pf/virtfn0)")
vf2=$(basename "$(readlink /sys/bus/pci/devices/$pf/virtfn1)")
check "both VFs on vfio-pci" wait_for 30 sh -c "[ \$(readlink /sys/bus/pci/devices/$vf1/driver) ] && readlink /sys/bus/pci/devices/$vf1/driver | grep -q vfio-pci && readlink /sys/bus/pci/devices/$vf2/driver | grep -q vfio-pci"
check "no VF was ever probed by nvme" sh -c "! dmesg | grep -q 'nvme $vf1\|nvme $vf2\|pci function $vf1\|pci function $vf2'"
check "no bind to nvme seen by monitor" sh -c "! grep -q '$vf1.*driver=nvme\|$vf2.*driver=nvme' $W/monitor.log"
check_eq "the kernel: each VF's group is viable" "viable viable" \
	"$(vmcheck viable $(group_of $vf1)) $(vmcheck viable $(group_of $vf2))"
kernel_agrees "VFs claimed" 2
check "remove the VFs" sh -c "echo 0 >/sys/bus/pci/devices/$pf/sriov_numvfs"
check "the VFs leave the model" wait_for 10 absent $vf1
check "both" wait_for 10 absent $vf2
kill $MONITOR_PID
check "monitor reported the VFs' add and remove" sh -c "grep -q 'add.*$vf1' $W/monitor.log && grep -q 'remove.*$vf1' $W/monitor.log"

# NumVfs=: the PF's own rule makes the VFs, at start, after VF autoprobe goes off; they go to
# vfio-pci and nvme never probes one.
daemon_stop
echo 1 >/sys/bus/pci/devices/$pf/sriov_drivers_autoprobe
policy 40-pf <<P
[Match]
Address=$pf
[Assign]
Driver=host
NumVfs=2
P
check_eq "the dry run: autoprobe off, then the count" \
	"bus/pci/devices/$pf/sriov_drivers_autoprobe ← 0|bus/pci/devices/$pf/sriov_numvfs ← 2" \
	"$(pcipassd --policy-dir $W/policy --read-only --socket $W/ro.sock 2>/dev/null & p=$!
	   wait_for 30 pcipassctl --socket $W/ro.sock status >/dev/null
	   pcipassctl --socket $W/ro.sock plan | sed -n 's/^  write \([^ ]*\) *← \(.*\)$/\1 ← \2/p' | paste -sd'|'
	   kill $p; wait $p)"
: >"$W/writes.log"
dmesg -C
daemon_start
check "NumVfs=2 at start: 2 VFs" wait_for 30 sh -c "[ \$(cat /sys/bus/pci/devices/$pf/sriov_numvfs) = 2 ]"
vf1=$(basename "$(readlink /sys/bus/pci/devices/$pf/virtfn0)")
vf2=$(basename "$(readlink /sys/bus/pci/devices/$pf/virtfn1)")
check "…both on vfio-pci" wait_for 30 sh -c "readlink /sys/bus/pci/devices/$vf1/driver | grep -q vfio-pci && readlink /sys/bus/pci/devices/$vf2/driver | grep -q vfio-pci"
check_eq "…the host's writes: autoprobe off, then the count" \
	"bus/pci/devices/$pf/sriov_drivers_autoprobe 0 -> ok|bus/pci/devices/$pf/sriov_numvfs 2 -> ok" \
	"$(written | grep sriov | paste -sd'|')"
check "…and nvme probed neither VF" sh -c "! dmesg | grep -q 'nvme $vf1\|nvme $vf2'"
check_eq "the PF is still on nvme" nvme "$(driver_of $pf)"
kernel_agrees "VFs made by NumVfs=" 2
pcipassctl claim $vf1 --driver uio_pci_generic --dry-run >$W/uio-vf.out 2>&1
check_eq "uio_pci_generic for a VF: refused" 1 "$?"
check "…with the reason" grep -q "intx-unmaskable: $vf1 cannot serve uio_pci_generic, whose interrupt handler masks the legacy interrupt: it is a VF" $W/uio-vf.out
# (QEMU's nvme VF reports Interrupt Pin 1, against the SR-IOV spec's 0: the refusal goes by
# the function being a VF, not by that register.)
rm $W/policy/40-pf.policy
