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
daemon=$!
i=0
until pcipassctl status >/dev/null 2>&1 || [ $i -gt 100 ]; do sleep 0.1; i=$((i + 1)); done
run pcipassctl status
run pcipassctl list
run pcipassctl groups
run pcipassctl tree

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
title "A lease: a free GPU group for vm1, and a real QEMU, as an unprivileged user, that uses it"
# The wrapper leases with its own pid and execs QEMU: the lease ends when QEMU exits.
mkfifo $W/qmp.in
cat >$W/vm1.sh <<'S'
W=/run/vmtest
pcipassctl lease gpu --owner vm1 --user vm --pid $$ >$W/lease.txt || exit 1
set -- $(pcipassctl -j leases | sed -n 's/.*"qemu":\[\([^]]*\)\].*/\1/p' | sed 's/","/ /g; s/"//g')
chmod 0666 /dev/vfio/vfio	# as udev makes it on a host
ulimit -l unlimited
export QEMU_MODULE_DIR=/usr/lib/x86_64-linux-gnu/qemu
exec /usr/bin/setpriv --reuid=1000 --regid=1000 --clear-groups qemu-system-x86_64 \
	-L /usr/share/qemu-guest "$@" -nodefaults -display none -machine q35,accel=tcg -m 64 -qmp stdio
S
echo
echo "\$ cat vm1.sh"
cat $W/vm1.sh
sh $W/vm1.sh <$W/qmp.in >$W/qmp.out 2>$W/qemu.err &
vm1=$!
exec 8>$W/qmp.in
i=0
until [ -s $W/lease.txt ] || [ $i -gt 600 ]; do sleep 0.1; i=$((i + 1)); done
echo
echo "\$ pcipassctl lease gpu --owner vm1 --user vm --pid \$\$    (in vm1.sh)"
cat $W/lease.txt
run pcipassctl leases
run ls -l /dev/vfio
echo '{"execute":"qmp_capabilities"}' >&8
i=0
until grep -q '"qdev_id": "pcipass-0-1"' $W/qmp.out || [ $i -gt 300 ]; do
	echo '{"execute":"query-pci"}' >&8
	sleep 1
	i=$((i + 1))
done
echo
echo "\$ QMP query-pci in that QEMU (uid 1000): the devices behind pcipass-rp0"
grep '"qdev_id": "pcipass-0-1"' $W/qmp.out | tail -1 |
	grep -oE '"bus": [0-9]+, "qdev_id": "pcipass-0-[0-9]", ("irq": [0-9]+, )?"slot": [0-9]+, "class_info": \{[^}]*\}, "id": \{[^}]*\}, "function": [0-9]+' |
	sed 's/"class_info": {[^}]*}, //; s/, "subsystem[-a-z]*": [0-9]*//g; s/"irq": [0-9]*, //'
echo; echo "\$ pcipassctl show 0000:00:05.0 | grep -A5 ^VFIO"; pcipassctl show 0000:00:05.0 | grep -A5 "^VFIO"
echo '{"execute":"quit"}' >&8
exec 8>&-
wait $vm1
i=0
until pcipassctl leases | grep -q '^No leases' || [ $i -gt 600 ]; do sleep 0.1; i=$((i + 1)); done
echo
echo "(QEMU quit: the lease ended by itself)"
run pcipassctl leases
run ls -l /dev/vfio

kill $daemon 2>/dev/null
cat <<T

What you just saw: a real Debian kernel ($(uname -r)) in QEMU with an emulated Intel IOMMU.
pcipassd read its PCI functions and IOMMU groups from the real /sys; with the GPU-pool policy
it planned group by group, refused the boot VGA (00:02.0: the console would go dark), moved
the GPU at 00:05.0 and its HDMI audio at 00:05.1 (one IOMMU group) to vfio-pci as one
transaction, and the kernel itself confirmed the group viable. Then it gave both back to
their own drivers. Then a wrapper leased the GPU group for "vm1" with its own pid: pcipassd
claimed it again, gave /dev/vfio/N to the user vm, and the wrapper exec'd a real QEMU as that
user with the lease's arguments; QEMU's query-pci shows the GPU and its audio as functions 0
and 1 of one slot. When QEMU quit, the lease ended by itself and the node was root's again.
T
