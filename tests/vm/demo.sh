# The README's demo, run in the guest by /init; its output is shown on the host's terminal.
# An operator's day one on a GPU host: look, write a policy, check the plan, apply, verify.
W=/run/vmtest
mkdir -p $W/policy
run() {
	echo
	echo "\$ $*"
	"$@"
}
title() {
	echo
	echo "=== $*"
}

title "pcipassd starts with no policy: it only watches (udev) and answers on its socket"
pcipassd --policy-dir $W/policy 2>$W/pcipassd.log &
i=0
until pcipassctl status >/dev/null 2>&1 || [ $i -gt 100 ]; do sleep 0.1; i=$((i + 1)); done
run pcipassctl status
run pcipassctl list
run pcipassctl groups

title "A GPU-pool policy: every VGA controller, with the other functions of its IOMMU group"
cat >$W/policy/50-gpu-pool.policy <<P
[Match]
Class=0x030000/0xff0000
[Assign]
Driver=vfio-pci
Group=claim
Pool=gpu
Description=GPUs (with their HDMI audio) for VMs
P
run cat $W/policy/50-gpu-pool.policy
run pcipassctl policy check $W/policy/50-gpu-pool.policy
run pcipassctl reload
run pcipassctl plan

title "Apply it: one transaction per IOMMU group, journaled, verified, rolled back on failure"
run pcipassctl apply
run pcipassctl list
run pcipassctl groups

title "The kernel's own verdict (VFIO_GROUP_GET_STATUS, then SET_CONTAINER and a device fd, as QEMU does)"
for g in $(ls /dev/vfio | grep -v vfio); do
	echo "group $g ($(ls /sys/kernel/iommu_groups/$g/devices | tr '\n' ' ')): $(vmcheck viable $g)"
done
pcipassctl -j groups | vmcheck compare | tail -1

title "Give it back"
run pcipassctl release 0000:00:05.0
run pcipassctl groups
kill $! 2>/dev/null
cat <<T

What you just saw: a real Debian kernel ($(uname -r)) in QEMU with an emulated Intel IOMMU.
pcipassd read its PCI functions and IOMMU groups from the real /sys; with the GPU-pool policy
it planned group by group, refused the boot VGA (00:02.0: the console would go dark), moved
the GPU at 00:05.0 and its HDMI audio at 00:05.1 (one IOMMU group) to vfio-pci as one
transaction, and the kernel itself confirmed the group viable. Then it gave both back to
their own drivers.
T
