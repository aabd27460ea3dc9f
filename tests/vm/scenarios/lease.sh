# layout: main
# Leases on the real kernel: a wrapper shell leases the GPU pool's free group for vm1 with its
# own pid and execs a real QEMU as an unprivileged user with exactly the lease's QEMU
# arguments. QMP query-pci in that QEMU (once its firmware numbered the buses) shows the GPU and its audio as functions 0 and 1 of one
# slot; when QEMU exits the lease ends by itself, the group's node is root's again, and the
# group goes back to the host (AfterLease=release). Also: no second lease from the pool, no
# split of a leased group, kill -9 of the daemon with the lease held.
gpu=0000:00:05.0 audio=0000:00:05.1
group=$(group_of $gpu)
if ! command -v qemu-system-x86_64 >/dev/null || ! [ -x /usr/bin/setpriv ]; then
	say "ok - $SCENARIO: # SKIP no QEMU or setpriv in the guest (run-vm.sh copies them when the host has util-linux's setpriv)"
	return 0
fi
policy 50-gpu-pool <<P
[Match]
Class=0x030000/0xff0000
[Assign]
Driver=vfio-pci
Group=claim
Pool=gpu
Apply=request
AfterLease=release
P
daemon_start
check_eq "the GPU starts off vfio-pci (Apply=request)" none "$(driver_of $gpu)"

# The wrapper: lease with its own pid, then exec QEMU (as uid 1000) with the lease's arguments.
# QMP on its standard input and output, through a FIFO the scenario writes.
rm -f $W/qmp.in && mkfifo $W/qmp.in
cat >$W/vm1.sh <<'S'
W=/run/vmtest
pcipassctl -j lease gpu --owner vm1 --user vm --pid $$ >$W/lease.json 2>$W/lease.err || exit 1
set -- $(sed -n 's/.*"qemu":\[\([^]]*\)\].*/\1/p' $W/lease.json | sed 's/","/ /g; s/"//g')
echo "$@" >$W/qemu-args
# As udev makes it on a host: the container node is for everyone, the group node is the lease's.
chmod 0666 /dev/vfio/vfio
ulimit -l unlimited
export QEMU_MODULE_DIR=/usr/lib/x86_64-linux-gnu/qemu
exec /usr/bin/setpriv --reuid=1000 --regid=1000 --clear-groups qemu-system-x86_64 -L /usr/share/qemu-guest \
	"$@" -nodefaults -display none -machine q35,accel=tcg -m 64 -qmp stdio
S
sh $W/vm1.sh <$W/qmp.in >$W/qmp.out 2>$W/qemu.err &
vm1=$!
exec 8>$W/qmp.in
check "the wrapper's lease is granted, tied to its pid" \
	sh -c "wait_for() { n=600; while [ \$n -gt 0 ]; do [ -s $W/qemu-args ] && return 0; n=\$((n - 1)); sleep 0.1; done; return 1; }; wait_for && pcipassctl -j leases | grep -q '\"owner\":\"vm1\".*\"pid\":$vm1.*\"granted\":true'"
check_eq "the GPU and its audio are on vfio-pci" "vfio-pci vfio-pci" "$(driver_of $gpu) $(driver_of $audio)"
check_eq "/dev/vfio/$group is the lease user's (uid 1000), mode 0660" "1000:1000 660" \
	"$(stat -c '%u:%g %a' /dev/vfio/$group)"
nodes=$(sed -n 's/.*"device_nodes":\[\([^]]*\)\].*/\1/p' $W/lease.json | tr -d '"' | tr , ' ')
check_eq "the lease names its group node, and no cdev this kernel lacks (6.1 lists vfio-dev in sysfs without /dev/vfio/devices)" \
	"/dev/vfio/$group" "$(for n in $nodes; do [ -e "$n" ] && echo "$n" || echo "missing $n"; done | paste -sd' ')"
check_eq "QEMU got exactly the lease's arguments" \
	"-device pcie-root-port,id=pcipass-rp0,chassis=100,slot=0 -device vfio-pci,host=$gpu,id=pcipass-0-0,bus=pcipass-rp0,addr=0x0.0x0,multifunction=on -device vfio-pci,host=$audio,id=pcipass-0-1,bus=pcipass-rp0,addr=0x0.0x1" \
	"$(cat $W/qemu-args)"
if ! kill -0 $vm1 2>/dev/null; then
	fail "QEMU runs"
	sed 's/^/    qemu: /' $W/qemu.err $W/lease.err 2>/dev/null | head -20 >$RES
	exec 8>&-
	daemon_stop
	return 0
fi
echo '{"execute":"qmp_capabilities"}' >&8
# The devices behind the root port appear in query-pci once the firmware has numbered the
# buses: ask until they do (generous: nested TCG).
n=0
until grep -q '"qdev_id": "pcipass-0-1"' $W/qmp.out || [ $((n += 1)) -gt 300 ]; do
	echo '{"execute":"query-pci"}' >&8
	sleep 1
done
if ! grep -q '"qdev_id": "pcipass-0-1"' $W/qmp.out; then
	fail "QEMU (uid 1000) opened the group and answers query-pci"
	sed 's/^/    qemu: /' $W/qemu.err | head -20 >$RES
	exec 8>&-
	daemon_stop
	return 0
fi
pass "QEMU (uid 1000) opened the group and answers query-pci"
pci=$(grep '"qdev_id": "pcipass-0-1"' $W/qmp.out | tail -1)
say "@file lease/query-pci.json $pci"
# query-pci lists each device as {… "qdev_id": ID, … "slot": S, "class_info": {…}, "id": {… "device": D, … "vendor": V}, "function": F …}.
qdev() { echo "$pci" | grep -oE "\"qdev_id\": \"$1\", (\"irq\": [0-9]+, )?\"slot\": [0-9]+, \"class_info\": \{[^}]*\}, \"id\": \{[^}]*\}, \"function\": [0-9]+" ; }
gpu_ids=$(printf '%d %d' 0x$(cat /sys/bus/pci/devices/$gpu/vendor | cut -c3-) 0x$(cat /sys/bus/pci/devices/$gpu/device | cut -c3-))
audio_ids=$(printf '%d %d' 0x$(cat /sys/bus/pci/devices/$audio/vendor | cut -c3-) 0x$(cat /sys/bus/pci/devices/$audio/device | cut -c3-))
ids_fn() {
	local q
	q=$(qdev "$1")
	[ -n "$q" ] && echo "$(echo "$q" | sed 's/.*"id": {[^}]*"vendor": \([0-9]*\).*/\1/')" \
		"$(echo "$q" | sed 's/.*"id": {"device": \([0-9]*\).*/\1/')" \
		"fn$(echo "$q" | sed 's/.*"function": \([0-9]*\)$/\1/')"
}
slot_of() { qdev "$1" | sed -n 's/.*"slot": \([0-9]*\),.*/\1/p'; }
check_eq "query-pci: the GPU (vendor, device) as function 0" "$gpu_ids fn0" "$(ids_fn pcipass-0-0)"
check_eq "query-pci: its audio as function 1" "$audio_ids fn1" "$(ids_fn pcipass-0-1)"
check_eq "query-pci: both in one guest slot" "$(slot_of pcipass-0-0)" "$(slot_of pcipass-0-1)"
check "pcipassctl sees QEMU holding the group" sh -c "pcipassctl show $gpu | grep -q 'open by pid $vm1 (qemu-system-x86'"

# While vm1 runs: nothing else from the pool, no split of its group.
pcipassctl lease gpu --owner vm2 >$W/out2 2>&1
check_eq "a second lease from the pool (one free group): refused (exit 1)" 1 "$?"
check "…NoFreeGroup: group $group leased to vm1, the console GPU blocked" \
	sh -c "grep -q 'IOMMU group $group: leased: leased to vm1' $W/out2 && grep -q 'boot-vga' $W/out2"
pcipassctl lease $audio --owner vm3 >$W/out3 2>&1
check_eq "a lease of the audio function alone (a split of vm1's group): refused" 1 "$?"
check_eq "release of the leased group: refused" 1 "$(pcipassctl release $gpu >/dev/null 2>&1; echo $?)"

# kill -9 of the daemon with the lease held: the next one keeps it, and still ends it.
kill -9 $DAEMON_PID
wait $DAEMON_PID 2>/dev/null
DAEMON_PID=
daemon_start
check "after kill -9 and a restart the lease is still there" \
	sh -c "pcipassctl -j leases | grep -q '\"owner\":\"vm1\".*\"pid\":$vm1'"

# QEMU exits: the lease ends by itself.
echo '{"execute":"quit"}' >&8
exec 8>&-
wait $vm1
check "QEMU exits: the lease ends by itself" wait_for 60 sh -c "pcipassctl leases | grep -q '^No leases'"
check "AfterLease=release: the group goes back to the host" \
	wait_for 60 sh -c "readlink /sys/bus/pci/devices/$audio/driver | grep -q snd_hda_intel"
check_eq "the GPU is back to no driver, its vfio node gone" "none gone" \
	"$(driver_of $gpu) $([ -e /dev/vfio/$group ] && stat -c '%u:%g %a' /dev/vfio/$group || echo gone)"
check "the end is journaled: process-exited" grep -q "Lease 1 of gpu for vm1: ended.*process-exited" $W/pcipassd.log
kernel_agrees "after the lease"
daemon_stop
rm -f $W/policy/*
