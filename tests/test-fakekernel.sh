#!/bin/bash
# tests/fakekernel: a FUSE-served synthetic sysfs tree that answers writes to the PCI control
# attributes as the kernel does (errnos, driver links, device nodes, uevents). Each kernel rule
# the binder relies on is checked here by writing as the daemon writes, and the uevents are
# checked end to end: a read-only pcipassd watches the mount and `pcipassctl monitor` must see
# them.
. "${top_srcdir:-.}/tests/lib.sh"
enter_netns_mountns "$@"

root=$TMP/sys
M=$TMP/mnt
ctlf=$TMP/control
fs() { "$FAKESYS" "$root" "$@" >/dev/null; }
# register NAME: a loaded driver with no device (its bus/pci/drivers/NAME directory).
dev() { echo "$M/bus/pci/devices/$1"; }
w() { kwrite "$M/$1" "$2"; }
ovr() { w "bus/pci/devices/$1/driver_override" "$2"; }
drv() { local l; l=$(readlink "$(dev "$1")/driver") && basename "$l" || echo none; }
rd() { cat "$(dev "$1")/$2"; }
vfs() { (cd "$M/bus/pci/devices" && ls -d "$1"/virtfn* 2>/dev/null | wc -l); }
# mark, then events PATTERN: the uevents sent since the mark, once one matches PATTERN.
mark() { evn=$(wc -l <"$TMP/uevents"); }
since_mark_has() { tail -n +$((evn + 1)) "$TMP/uevents" | grep -q -- "$1"; }
events() {
	wait_until since_mark_has "$1"
	tail -n +$((evn + 1)) "$TMP/uevents"
}
# nothing: no uevent since the mark (a sentinel event sent now comes first).
nothing() {
	"$FAKESYS" uevent change /sentinel pci >/dev/null
	events sentinel | cut -d' ' -f1-3
}

fs init --iommu dmar0
fs add 0000:00:01.0 header=1 driver=pcieport group=1
fs add 0000:01:00.0 parent=0000:00:01.0 vendor=0x10de device=0x2204 class=0x030000 mf=1 \
	driver=nouveau group=2 boot_vga=0
fs add 0000:01:00.1 parent=0000:00:01.0 vendor=0x10de device=0x1aef class=0x040300 \
	driver=snd_hda_intel group=2
fs add 0000:00:02.0 vendor=0x8086 device=0x1521 driver=igb group=3 totalvfs=4
fs add 0000:00:03.0 vendor=0x8086 device=0x10d3 driver=e1000e group=4
fs add 0000:00:04.0 vendor=0x1912 device=0x0015 class=0x0c0330 group=5
fs add 0000:00:05.0 vendor=0x8086 device=0x1521 group=6 totalvfs=2
fs add 0000:00:05.1 physfn=0000:00:05.0 group=7
fs add 0000:00:06.0 vendor=0x1af4 device=0x1041
register vfio-pci
register uio_pci_generic
register igbvf
: >"$ctlf"

uevent_listen "$TMP/uevents" || { not_ok "listening to uevents"; finish; }
fakekernel_start "$root" "$M" || { not_ok "fakekernel mounts the tree"; finish; }
ok "fakekernel mounts the tree"
check_eq "reads pass through" "$(rd 0000:01:00.0 vendor) $(drv 0000:01:00.0)" "0x10de nouveau"
check_eq "bus/pci/devices links resolve inside the mount" \
	"$(readlink "$(dev 0000:01:00.1)")" "../../../devices/pci0000:00/0000:00:01.0/0000:01:00.1"

# The daemon, read-only, on the mount: its monitor must see the uevents fakekernel sends.
daemon_start "$M" --read-only || { not_ok "pcipassd starts on the mount"; finish; }
ctl -j monitor >"$TMP/monitor.json" 2>&1 &
mon=$!
wait_until same 1 status_eval 'd["status"]["monitors"]'
check_eq "pcipassd lists the functions through the mount" \
	"$(ctl -j list | json_eval 'len(d["devices"])')" "9"

# sysfs permissions (kernfs_fop_open): no write bit, no write; no read bit, no read.
check_eq "writing a read-only attribute: EACCES" "$(w bus/pci/devices/0000:01:00.0/vendor 0x1234)" EACCES
check "reading a write-only attribute: EACCES" bash -c "! cat '$M/bus/pci/drivers/nouveau/bind' 2>/dev/null"
check_eq "a file sysfs does not have: ENOENT" "$(kwrite "$M/bus/pci/newfile" x)" ENOENT

# driver_override: set with or without newline, shown with one; "\n" clears; too long EINVAL.
check_eq "driver_override unset reads (null)" "$(rd 0000:01:00.0 driver_override)" "(null)"
check_eq "driver_override set" "$(ovr 0000:01:00.0 $'vfio-pci\n') $(rd 0000:01:00.0 driver_override)" \
	"ok vfio-pci"
check_eq "driver_override stored as the kernel shows it" \
	"$(od -c "$(dev 0000:01:00.0)/driver_override" | head -1)" \
	"$(printf 'vfio-pci\n' | od -c | head -1)"
check_eq "driver_override cleared with \\n" "$(ovr 0000:01:00.0 $'\n') $(rd 0000:01:00.0 driver_override)" \
	"ok (null)"
check_eq "driver_override set without newline, up to the first newline" \
	"$(ovr 0000:01:00.0 $'vfio-pci\nrest') $(rd 0000:01:00.0 driver_override)" "ok vfio-pci"
check_eq "driver_override of PAGE_SIZE - 1 bytes: EINVAL" \
	"$(ovr 0000:01:00.0 "$(head -c 4095 /dev/zero | tr '\0' x)") $(rd 0000:01:00.0 driver_override)" \
	"EINVAL vfio-pci"
check_eq "driver_override does not unbind" "$(drv 0000:01:00.0)" nouveau

# unbind / bind errnos.
check_eq "unbind from a driver the function is not bound to: ENODEV" \
	"$(w bus/pci/drivers/snd_hda_intel/unbind 0000:01:00.0)" ENODEV
check_eq "unbind of no such function: ENODEV" "$(w bus/pci/drivers/nouveau/unbind 0000:09:00.0)" ENODEV
check_eq "bind of a bound function: EBUSY" "$(w bus/pci/drivers/snd_hda_intel/bind 0000:01:00.1)" EBUSY
check_eq "bind of no such function: ENODEV" "$(w bus/pci/drivers/vfio-pci/bind 0000:09:00.0)" ENODEV
check_eq "vfio-pci bind without override or dynamic id: ENODEV" \
	"$(w bus/pci/drivers/vfio-pci/bind 0000:00:04.0) $(drv 0000:00:04.0)" "ENODEV none"
check_eq "bind to a driver other than the override: ENODEV" \
	"$(ovr 0000:00:04.0 uio_pci_generic) $(w bus/pci/drivers/vfio-pci/bind 0000:00:04.0) $(ovr 0000:00:04.0 $'\n')" \
	"ok ENODEV ok"

# The claim flow the binder uses: override, unbind, drivers_probe.
echo "log $TMP/writes.log" >"$ctlf"
mark
check_eq "claim: unbind the host driver" "$(w bus/pci/drivers/nouveau/unbind $'0000:01:00.0\n')" ok
check_eq "claim: unbound, the override stays" "$(drv 0000:01:00.0) $(rd 0000:01:00.0 driver_override)" \
	"none vfio-pci"
check_eq "claim: drivers_probe binds the override" \
	"$(w bus/pci/drivers_probe 0000:01:00.0) $(drv 0000:01:00.0)" "ok vfio-pci"
check "claim: the group's node and the container exist" test -f "$TMP/dev/vfio/2" -a -f "$TMP/dev/vfio/vfio"
check_eq "claim: class/vfio/2 and its dev" "$(cat "$M/class/vfio/2/dev")" "243:2"
check_eq "claim: the uevent file names the driver" "$(grep DRIVER= "$(dev 0000:01:00.0)/uevent")" \
	"DRIVER=vfio-pci"
check_eq "uevents of the claim: unbind without DRIVER, the group's node, bind with DRIVER" \
	"$(events 'bind pci')" \
"unbind pci /devices/pci0000:00/0000:00:01.0/0000:01:00.0
add vfio /devices/virtual/vfio/2 DEVNAME=vfio/2
bind pci /devices/pci0000:00/0000:00:01.0/0000:01:00.0 DRIVER=vfio-pci"
check "monitor: unbind of the host driver" \
	wait_for "$TMP/monitor.json" '"action":"unbind".*"address":"0000:01:00.0"'
check "monitor: bind to vfio-pci" \
	wait_for "$TMP/monitor.json" '"action":"bind".*"address":"0000:01:00.0".*"driver":"vfio-pci"'
check "monitor: the vfio group's node appears" \
	wait_for "$TMP/monitor.json" '"action":"add".*"subsystem":"vfio"'
check_eq "drivers_probe of a bound function: success, nothing changes" \
	"$(w bus/pci/drivers_probe 0000:01:00.0) $(drv 0000:01:00.0)" "ok vfio-pci"
check_eq "drivers_probe of no such function: ENODEV" "$(w bus/pci/drivers_probe 0000:09:00.0)" ENODEV
check_eq "the second group member: override, unbind, bind" \
	"$(ovr 0000:01:00.1 vfio-pci) $(w bus/pci/drivers/snd_hda_intel/unbind 0000:01:00.1) $(w bus/pci/drivers/vfio-pci/bind 0000:01:00.1) $(drv 0000:01:00.1)" \
	"ok ok ok vfio-pci"
check_eq "the log holds each write, in order" "$(cat "$TMP/writes.log")" \
'unbind nouveau 0000:01:00.0\n -> ok
drivers_probe pci 0000:01:00.0 -> ok
drivers_probe pci 0000:01:00.0 -> ok
drivers_probe pci 0000:09:00.0 -> ENODEV
driver_override 0000:01:00.1 vfio-pci -> ok
unbind snd_hda_intel 0000:01:00.1 -> ok
bind vfio-pci 0000:01:00.1 -> ok'
: >"$ctlf"

# A VFIO user holds the group: host drivers cannot probe (dma_configure EBUSY, kernel >= 5.19).
exec 9<"$TMP/dev/vfio/2"
check_eq "release with the group open: clear, unbind" \
	"$(ovr 0000:01:00.1 $'\n') $(w bus/pci/drivers/vfio-pci/unbind 0000:01:00.1)" "ok ok"
check_eq "release with the group open: drivers_probe EINVAL, unbound" \
	"$(w bus/pci/drivers_probe 0000:01:00.1) $(drv 0000:01:00.1)" "EINVAL none"
check_eq "release with the group open: bind EBUSY" \
	"$(w bus/pci/drivers/snd_hda_intel/bind 0000:01:00.1)" EBUSY
check "the node stays while a member is on vfio-pci" test -f "$TMP/dev/vfio/2"
exec 9<&-
check_eq "group closed: drivers_probe binds the host driver" \
	"$(w bus/pci/drivers_probe 0000:01:00.1) $(drv 0000:01:00.1)" "ok snd_hda_intel"
mark
check_eq "release of the last vfio member" \
	"$(ovr 0000:01:00.0 $'\n') $(w bus/pci/drivers/vfio-pci/unbind 0000:01:00.0) $(w bus/pci/drivers_probe 0000:01:00.0) $(drv 0000:01:00.0)" \
	"ok ok ok nouveau"
check "the group's node went with its last vfio member" test ! -e "$TMP/dev/vfio/2" -a ! -e "$M/class/vfio/2"
check "monitor: the vfio node's removal" wait_for "$TMP/monitor.json" '"action":"remove".*"subsystem":"vfio"'
check_eq "uevents of the release: the node's remove before unbind, then the host driver's bind" \
	"$(events 'bind pci')" \
"remove vfio /devices/virtual/vfio/2 DEVNAME=vfio/2
unbind pci /devices/pci0000:00/0000:00:01.0/0000:01:00.0
bind pci /devices/pci0000:00/0000:00:01.0/0000:01:00.0 DRIVER=nouveau"

# drivers_probe: nothing registered to bind.
check_eq "drivers_probe with an override naming an unloaded driver: success, unbound" \
	"$(ovr 0000:00:04.0 stub_nowhere) $(w bus/pci/drivers_probe 0000:00:04.0) $(drv 0000:00:04.0)" "ok ok none"
check_eq "drivers_probe without override or host driver: success, unbound" \
	"$(ovr 0000:00:04.0 $'\n') $(w bus/pci/drivers_probe 0000:00:04.0) $(drv 0000:00:04.0)" "ok ok none"
echo "host 0000:00:04.0 xhci_hcd" >"$ctlf"
check_eq "host driver set by the control file, not loaded: unbound" \
	"$(w bus/pci/drivers_probe 0000:00:04.0) $(drv 0000:00:04.0)" "ok none"
register xhci_hcd
check_eq "host driver loaded: drivers_probe binds it" \
	"$(w bus/pci/drivers_probe 0000:00:04.0) $(drv 0000:00:04.0)" "ok xhci_hcd"
check_eq "unbind it again" "$(w bus/pci/drivers/xhci_hcd/unbind 0000:00:04.0)" ok
: >"$ctlf"

# vfio-pci's probe refusals: bridge, PF with VFs, no IOMMU group; drivers_probe swallows them.
check_eq "bridge: bind EINVAL" \
	"$(ovr 0000:00:01.0 vfio-pci) $(w bus/pci/drivers/pcieport/unbind 0000:00:01.0) $(w bus/pci/drivers/vfio-pci/bind 0000:00:01.0)" \
	"ok ok EINVAL"
check_eq "bridge: drivers_probe succeeds, unbound" \
	"$(w bus/pci/drivers_probe 0000:00:01.0) $(drv 0000:00:01.0)" "ok none"
check_eq "bridge: back to pcieport" \
	"$(ovr 0000:00:01.0 $'\n') $(w bus/pci/drivers_probe 0000:00:01.0) $(drv 0000:00:01.0)" "ok ok pcieport"
check_eq "PF with VFs enabled: bind EBUSY" \
	"$(ovr 0000:00:05.0 vfio-pci) $(w bus/pci/drivers/vfio-pci/bind 0000:00:05.0) $(drv 0000:00:05.0)" \
	"ok EBUSY none"
check_eq "no IOMMU group, noiommu off: EINVAL" \
	"$(ovr 0000:00:06.0 vfio-pci) $(w bus/pci/drivers/vfio-pci/bind 0000:00:06.0)" "ok EINVAL"
mkdir -p "$root/module/vfio/parameters" && echo Y >"$root/module/vfio/parameters/enable_unsafe_noiommu_mode"
check_eq "noiommu on: bind makes a vfio-noiommu group" \
	"$(w bus/pci/drivers/vfio-pci/bind 0000:00:06.0) $(cat "$(dev 0000:00:06.0)/iommu_group/name")" \
	"ok vfio-noiommu"
g=$(basename "$(readlink "$(dev 0000:00:06.0)/iommu_group")")
check "noiommu: /dev/vfio/noiommu-N" test -f "$TMP/dev/vfio/noiommu-$g"
check_eq "noiommu: unbind drops the node and the group" \
	"$(w bus/pci/drivers/vfio-pci/unbind 0000:00:06.0) $(ls "$TMP/dev/vfio") $(test -e "$M/kernel/iommu_groups/$g" && echo kept || echo gone)" \
	"ok vfio gone"
echo N >"$root/module/vfio/parameters/enable_unsafe_noiommu_mode"

# SR-IOV: VFs come with add (and bind when autoprobed) events, go with remove.
printf 'vfhost 0000:00:02.0 igbvf\n' >"$ctlf"
check_eq "sriov_numvfs 2: two VFs on their host driver" \
	"$(w bus/pci/devices/0000:00:02.0/sriov_numvfs 2) $(rd 0000:00:02.0 sriov_numvfs) $(drv 0000:00:02.1) $(drv 0000:00:02.2)" \
	"ok 2 igbvf igbvf"
check_eq "VFs: physfn, virtfn links and an IOMMU group each" \
	"$(basename "$(readlink "$(dev 0000:00:02.2)/physfn")") $(vfs 0000:00:02.0) $(test -e "$(dev 0000:00:02.1)/iommu_group" && echo grouped)" \
	"0000:00:02.0 2 grouped"
check "monitor: a VF's add" wait_for "$TMP/monitor.json" '"action":"add".*"address":"0000:00:02.2"'
check "monitor: a VF's bind" wait_for "$TMP/monitor.json" '"action":"bind".*"address":"0000:00:02.2"'
check_eq "sriov_numvfs: another number while enabled EBUSY, over total ERANGE, junk EINVAL" \
	"$(w bus/pci/devices/0000:00:02.0/sriov_numvfs 3) $(w bus/pci/devices/0000:00:02.0/sriov_numvfs 5) $(w bus/pci/devices/0000:00:02.0/sriov_numvfs x)" \
	"EBUSY ERANGE EINVAL"
check_eq "sriov_numvfs of a PF without driver: ENOENT" "$(w bus/pci/devices/0000:00:05.0/sriov_numvfs 2)" ENOENT
mark
check_eq "sriov_numvfs 0: the VFs go" \
	"$(w bus/pci/devices/0000:00:02.0/sriov_numvfs 0) $(rd 0000:00:02.0 sriov_numvfs) $(test -e "$(dev 0000:00:02.1)" && echo kept || echo gone)" \
	"ok 0 gone"
check_eq "uevents of sriov_numvfs 0: each VF unbound, then removed" "$(events 'remove pci.*02.2')" \
"unbind pci /devices/pci0000:00/0000:00:02.1
remove pci /devices/pci0000:00/0000:00:02.1
unbind pci /devices/pci0000:00/0000:00:02.2
remove pci /devices/pci0000:00/0000:00:02.2"
check_eq "sriov_drivers_autoprobe 0, then VFs stay unbound" \
	"$(w bus/pci/devices/0000:00:02.0/sriov_drivers_autoprobe 0) $(rd 0000:00:02.0 sriov_drivers_autoprobe) $(w bus/pci/devices/0000:00:02.0/sriov_numvfs 2) $(drv 0000:00:02.1) $(drv 0000:00:02.2)" \
	"ok 0 ok none none"
check_eq "sriov_drivers_autoprobe takes kstrtobool words only" \
	"$(w bus/pci/devices/0000:00:02.0/sriov_drivers_autoprobe maybe)" EINVAL
check_eq "a VF of a no-autoprobe PF: bind without override ENODEV" \
	"$(w bus/pci/drivers/igbvf/bind 0000:00:02.1)" ENODEV
check_eq "a VF with an override probes: vfio-pci" \
	"$(ovr 0000:00:02.1 vfio-pci) $(w bus/pci/drivers_probe 0000:00:02.1) $(drv 0000:00:02.1)" "ok ok vfio-pci"
vg=$(basename "$(readlink "$(dev 0000:00:02.1)/iommu_group")")
check "the VF's group node" test -f "$TMP/dev/vfio/$vg"
check_eq "unbinding the PF's driver disables SR-IOV" \
	"$(w bus/pci/drivers/igb/unbind 0000:00:02.0) $(vfs 0000:00:02.0) $(test -e "$TMP/dev/vfio/$vg" && echo kept || echo gone)" \
	"ok 0 gone"
check_eq "the PF back on igb" "$(w bus/pci/drivers_probe 0000:00:02.0) $(drv 0000:00:02.0)" "ok igb"
: >"$ctlf"

# remove + rescan: a new pci_dev, the override lost, the host driver probed.
check_eq "claim 00:03.0 for vfio-pci" \
	"$(ovr 0000:00:03.0 vfio-pci) $(w bus/pci/drivers/e1000e/unbind 0000:00:03.0) $(w bus/pci/drivers_probe 0000:00:03.0) $(drv 0000:00:03.0)" \
	"ok ok ok vfio-pci"
mark
check_eq "remove: the function, its group node are gone" \
	"$(w bus/pci/devices/0000:00:03.0/remove 1) $(test -e "$(dev 0000:00:03.0)" && echo kept || echo gone) $(test -e "$TMP/dev/vfio/4" && echo kept || echo gone)" \
	"ok gone gone"
check_eq "uevents of remove: the node, unbind, remove" "$(events 'remove pci')" \
"remove vfio /devices/virtual/vfio/4 DEVNAME=vfio/4
unbind pci /devices/pci0000:00/0000:00:03.0
remove pci /devices/pci0000:00/0000:00:03.0"
mark
check_eq "rescan: back, on its host driver, the override lost" \
	"$(w bus/pci/rescan 1) $(drv 0000:00:03.0) $(rd 0000:00:03.0 driver_override) $(basename "$(readlink "$(dev 0000:00:03.0)/iommu_group")")" \
	"ok e1000e (null) 4"
check "monitor: add after rescan" wait_for "$TMP/monitor.json" '"action":"add".*"address":"0000:00:03.0"'
check_eq "uevents of rescan: add, bind" "$(events 'bind pci')" \
"add pci /devices/pci0000:00/0000:00:03.0
bind pci /devices/pci0000:00/0000:00:03.0 DRIVER=e1000e"
check_eq "remove of a bridge takes the functions behind it; rescan brings them back" \
	"$(w bus/pci/devices/0000:00:01.0/remove 1) $(test -e "$(dev 0000:01:00.1)" && echo kept || echo gone) $(w bus/pci/rescan 1) $(drv 0000:00:01.0) $(drv 0000:01:00.0) $(drv 0000:01:00.1)" \
	"ok gone ok pcieport nouveau snd_hda_intel"

# uio_pci_generic: uioN with its node; refused when INTx cannot be masked.
mark
check_eq "uio_pci_generic: override, unbind, drivers_probe" \
	"$(ovr 0000:00:03.0 uio_pci_generic) $(w bus/pci/drivers/e1000e/unbind 0000:00:03.0) $(w bus/pci/drivers_probe 0000:00:03.0) $(drv 0000:00:03.0)" \
	"ok ok ok uio_pci_generic"
check_eq "uio: uio0 below the function, in class/uio, /dev/uio0" \
	"$(cat "$(dev 0000:00:03.0)/uio/uio0/name") $(cat "$M/class/uio/uio0/version") $(test -f "$TMP/dev/uio0" && echo node)" \
	"uio_pci_generic 0.01.0 node"
check "monitor: the uio node's add" wait_for "$TMP/monitor.json" '"action":"add".*"subsystem":"uio"'
check_eq "uevents of the uio claim" "$(events 'bind pci')" \
"unbind pci /devices/pci0000:00/0000:00:03.0
add uio /devices/pci0000:00/0000:00:03.0/uio/uio0 DEVNAME=uio0
bind pci /devices/pci0000:00/0000:00:03.0 DRIVER=uio_pci_generic"
check_eq "uio: unbind drops uio0" \
	"$(w bus/pci/drivers/uio_pci_generic/unbind 0000:00:03.0) $(ls "$(dev 0000:00:03.0)" | grep -c uio) $(test -e "$TMP/dev/uio0" && echo kept || echo gone)" \
	"ok 0 gone"
echo "nointx 0000:00:03.0" >"$ctlf"
check_eq "uio: a function that cannot mask INTx: bind ENODEV" \
	"$(w bus/pci/drivers/uio_pci_generic/bind 0000:00:03.0)" ENODEV
check_eq "uio: and drivers_probe succeeds, unbound" \
	"$(w bus/pci/drivers_probe 0000:00:03.0) $(drv 0000:00:03.0)" "ok none"
: >"$ctlf"
check_eq "back to e1000e" "$(ovr 0000:00:03.0 $'\n') $(w bus/pci/drivers_probe 0000:00:03.0) $(drv 0000:00:03.0)" \
	"ok ok e1000e"

# new_id: every unbound matching function is probed; EEXIST twice; remove_id.
check_eq "new_id binds the unbound matching function" \
	"$(w bus/pci/drivers/vfio-pci/new_id '1912 0015') $(drv 0000:00:04.0)" "ok vfio-pci"
check_eq "new_id of an id the driver has: EEXIST" "$(w bus/pci/drivers/vfio-pci/new_id '1912 0015')" EEXIST
check_eq "new_id with one field: EINVAL" "$(w bus/pci/drivers/vfio-pci/new_id 1912)" EINVAL
check_eq "remove_id, then again ENODEV" \
	"$(w bus/pci/drivers/vfio-pci/remove_id '1912 0015') $(w bus/pci/drivers/vfio-pci/remove_id '1912 0015')" \
	"ok ENODEV"
check_eq "unbind; with the id gone drivers_probe leaves it unbound" \
	"$(w bus/pci/drivers/vfio-pci/unbind 0000:00:04.0) $(w bus/pci/drivers_probe 0000:00:04.0) $(drv 0000:00:04.0)" \
	"ok ok none"

# Failure injection.
printf 'fail unbind 0000:01:00.1 EIO\nfail drivers_probe * ENXIO once\nlog %s\n' "$TMP/inject.log" >"$ctlf"
mark
check_eq "fail: the errno, without effect" \
	"$(w bus/pci/drivers/snd_hda_intel/unbind 0000:01:00.1) $(drv 0000:01:00.1)" "EIO snd_hda_intel"
check_eq "fail: and no uevent" "$(nothing)" "change pci /sentinel"
check_eq "fail: other functions are not affected" \
	"$(w bus/pci/drivers/nouveau/unbind 0000:01:00.0) $(drv 0000:01:00.0)" "ok none"
check_eq "fail once: the first write fails, the next succeeds" \
	"$(w bus/pci/drivers_probe 0000:01:00.0) $(drv 0000:01:00.0) $(w bus/pci/drivers_probe 0000:01:00.0) $(drv 0000:01:00.0)" \
	"ENXIO none ok nouveau"
check_eq "fail once stays spent when the file is read again" "$(w bus/pci/drivers_probe 0000:01:00.0)" ok
check_eq "the log shows injected failures" "$(cat "$TMP/inject.log")" \
'unbind snd_hda_intel 0000:01:00.1 -> EIO
unbind nouveau 0000:01:00.0 -> ok
drivers_probe pci 0000:01:00.0 -> ENXIO
drivers_probe pci 0000:01:00.0 -> ok
drivers_probe pci 0000:01:00.0 -> ok'
printf 'hang unbind * held\n' >"$ctlf"
w bus/pci/drivers/nouveau/unbind 0000:01:00.0 >"$TMP/hang.out" &
hung=$!
check "held: the write is blocked (CONTROL.held counts it)" wait_until same 1 cat "$ctlf.held"
check_eq "held: other requests go on meanwhile" \
	"$(timeout 60 cat "$(dev 0000:01:00.0)/vendor") $(timeout 60 ls "$M/bus/pci/devices" | wc -l)" "0x10de 9"
check_eq "held: a held write holds no lock (driver_override goes through)" \
	"$(ovr 0000:00:04.0 $'\n')" ok
check_eq "held: still blocked, not done" "$(kill -0 "$hung" && cat "$ctlf.held") $(drv 0000:01:00.0)" "1 nouveau"
: >"$ctlf"
wait "$hung"
check_eq "held: released, the write proceeds" "$(cat "$TMP/hang.out") $(drv 0000:01:00.0) $(cat "$ctlf.held")" "ok none 0"
w bus/pci/drivers_probe 0000:01:00.0 >/dev/null
printf 'hang unbind * 1.5\n' >"$ctlf"
start=$(date +%s%N)
w bus/pci/drivers/nouveau/unbind 0000:01:00.0 >"$TMP/hang.out"
elapsed=$((($(date +%s%N) - start) / 1000000))
check_eq "hang SECONDS: then the write proceeds" "$(cat "$TMP/hang.out") $(drv 0000:01:00.0)" "ok none"
check "hang SECONDS: it took at least the time given (${elapsed} ms)" test "$elapsed" -ge 1400
: >"$ctlf"
check_eq "host driver back" "$(w bus/pci/drivers_probe 0000:01:00.0) $(drv 0000:01:00.0)" "ok nouveau"

kill "$mon" 2>/dev/null
wait "$mon" 2>/dev/null
check "pcipassd stops cleanly" daemon_stop
check "fakekernel stops cleanly on SIGTERM" fakekernel_stop
check "and unmounts" bash -c "! mountpoint -q '$M'"
check_eq "nothing went to fakekernel's stderr" "$(cat "$TMP/fakekernel.log")" ""
finish
