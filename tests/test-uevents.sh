#!/bin/bash
# The real pcipassd on a synthetic sysfs tree (tests/fakesys builds it as the kernel lays it
# out), with uevents delivered to its real libudev monitor: fakesys sends them as udevd does
# (netlink "udev" group) inside this test's own network namespace. Adds, removes, binds and
# unbinds must reach `list` and `monitor`.
. "${top_srcdir:-.}/tests/lib.sh"
enter_netns "$@"

root=$TMP/sys
fs() { "$FAKESYS" "$root" "$@"; }
driver_of() { ctl -j show "$1" | json_eval 'd["device"]["driver"]'; }
# settle: a change event with a seqnum of its own, for a function that stays; once monitor has
# it, pcipassd has handled every event sent before it (they are handled in order).
marker=900000
# The client writing FILE (default: the monitor started below) then has all before it too.
settle() {
	marker=$((marker + 1))
	"$FAKESYS" uevent change /devices/pci0000:00/0000:00:01.0 pci SEQNUM=$marker >/dev/null
	wait_for "${1:-$TMP/monitor.json}" "\"seqnum\":$marker"
}

fs init --iommu dmar0 >/dev/null
fs add 0000:00:01.0 header=1 driver=pcieport group=1 >/dev/null
fs add 0000:01:00.0 parent=0000:00:01.0 vendor=0x10de device=0x2204 class=0x030000 mf=1 \
	driver=nouveau group=2 boot_vga=0 >/dev/null
fs add 0000:01:00.1 parent=0000:00:01.0 vendor=0x10de device=0x1aef class=0x040300 \
	driver=snd_hda_intel group=2 >/dev/null
fs add 0000:00:02.0 vendor=0x8086 device=0x1521 driver=igb group=3 totalvfs=4 >/dev/null

daemon_start "$root" --read-only || { not_ok "pcipassd starts on a synthetic tree"; finish; }
ok "pcipassd starts on a synthetic tree"
check_eq "list: the four functions, sorted" \
	"$(ctl -j list | json_eval '[x["address"] for x in d["devices"]]')" \
	"['0000:00:01.0', '0000:00:02.0', '0000:01:00.0', '0000:01:00.1']"
check_eq "show: a function behind a bridge, its sibling and group" \
	"$(ctl -j show 0000:01:00.0 | json_eval 'd["device"]["siblings"], d["device"]["iommu_group"], d["device"]["multifunction"]')" \
	"['0000:01:00.1'] 2 True"

# A client following events, started before anything happens.
ctl -j monitor >"$TMP/monitor.json" 2>&1 &
mon=$!
wait_until same 1 status_eval 'd["status"]["monitors"]'

fs unbind 0000:01:00.1 -u >/dev/null
check "unbind reaches monitor" wait_for "$TMP/monitor.json" '"action":"unbind".*"address":"0000:01:00.1"'
check_eq "unbind: list shows the function driverless" "$(driver_of 0000:01:00.1)" "None"

fs bind 0000:01:00.1 vfio-pci -u >/dev/null
check "bind reaches monitor with the new driver" \
	wait_for "$TMP/monitor.json" '"action":"bind".*"address":"0000:01:00.1".*"driver":"vfio-pci"'
check_eq "bind: list shows vfio-pci" "$(driver_of 0000:01:00.1)" "vfio-pci"

fs add 0000:00:02.1 physfn=0000:00:02.0 group=4 -u >/dev/null
check "add of a VF reaches monitor" wait_for "$TMP/monitor.json" '"action":"add".*"address":"0000:00:02.1"'
check_eq "add: the VF is listed with its PF, and the PF with its VF" \
	"$(ctl -j show 0000:00:02.1 | json_eval 'd["device"]["physfn"]') $(ctl -j show 0000:00:02.0 | json_eval 'd["device"]["virtfns"]')" \
	"0000:00:02.0 ['0000:00:02.1']"
check_eq "add: the VF's new IOMMU group is known" \
	"$(ctl -j groups | json_eval '[g["members"] for g in d["groups"] if g["id"] == 4]')" \
	"[['0000:00:02.1']]"

fs remove 0000:00:02.1 -u >/dev/null
check "remove reaches monitor without a device" \
	wait_for "$TMP/monitor.json" '"action":"remove".*"address":"0000:00:02.1".*"device":null'
check_eq "remove: the VF is gone from list, group and PF" \
	"$(ctl -j list | json_eval '[x["address"] for x in d["devices"] if x["address"] == "0000:00:02.1"]') $(ctl -j groups | json_eval '[g for g in d["groups"] if g["id"] == 4]') $(ctl -j show 0000:00:02.0 | json_eval 'd["device"]["virtfns"]')" \
	"[] [] []"

fs set 0000:01:00.0 driver_override vfio-pci -u >/dev/null
check "change reaches monitor with the new override" \
	wait_for "$TMP/monitor.json" '"action":"change".*"driver_override":"vfio-pci"'

# Events of other subsystems the daemon did not subscribe to are filtered out by libudev;
# vfio group nodes come through.
"$FAKESYS" uevent add /devices/pci0000:00/0000:00:03.0/usb1 usb >/dev/null
"$FAKESYS" uevent add /devices/virtual/vfio/2 vfio DEVNAME=vfio/2 >/dev/null
check "a vfio group node event reaches monitor" wait_for "$TMP/monitor.json" '"subsystem":"vfio"'
check "a usb event does not" bash -c "! grep -q '\"subsystem\":\"usb\"' '$TMP/monitor.json'"
check_eq "status counts the events the daemon handled" \
	"$(ctl -j status | json_eval 'd["status"]["uevents"]')" "6"

# A change made behind the daemon's back (no event) shows after SIGHUP.
fs unbind 0000:00:02.0 >/dev/null
check_eq "without an event the model keeps the old driver" "$(driver_of 0000:00:02.0)" "igb"
kill -HUP "$DAEMON_PID"
check "SIGHUP re-reads sysfs and tells monitor" wait_for "$TMP/monitor.json" '"action":"rescan"'
check_eq "after SIGHUP the model shows the change" "$(driver_of 0000:00:02.0)" "None"

# monitor --initial starts with the current state.
timeout 60 "$PCIPASSCTL" --socket "$SOCK" -j monitor --initial >"$TMP/initial.json" 2>&1 &
initial=$!
check "monitor --initial lists the present devices first" \
	wait_for "$TMP/initial.json" '"action":"present".*"address":"0000:01:00.1"'
check "an event after them reaches it" settle "$TMP/initial.json"
check_eq "monitor --initial sends one event per device" \
	"$(grep -c '"action":"present"' "$TMP/initial.json")" "4"
kill "$initial" 2>/dev/null
wait "$initial" 2>/dev/null

# A function removed while on vfio-pci: the kernel sends vfio-dev's remove first (when the
# daemon looks, the function has already left sysfs), then the function's unbind and remove.
# The removal must reach monitor, once.
dp=/devices/pci0000:00/0000:00:01.0/0000:01:00.1
fs remove 0000:01:00.1 >/dev/null
"$FAKESYS" uevent remove $dp/vfio-dev/vfio0 vfio-dev >/dev/null
"$FAKESYS" uevent unbind $dp pci >/dev/null
"$FAKESYS" uevent remove $dp pci >/dev/null
removed='"action":"remove","subsystem":"pci","address":"0000:01:00.1"'
check "removed on vfio-pci: monitor reports the function's removal" wait_for "$TMP/monitor.json" "$removed"
settle
check_eq "removed on vfio-pci: once" "$(grep -c "$removed" "$TMP/monitor.json")" "1"
check_eq "removed on vfio-pci: gone from the model" \
	"$(ctl -j list | json_eval '[x["address"] for x in d["devices"] if x["address"] == "0000:01:00.1"]')" "[]"

# A function gone before its unbind is handled (the daemon finds it missing), its remove
# arriving later: the removal is told at the unbind, exactly once, however long the gap.
fs remove 0000:01:00.0 >/dev/null
dp=/devices/pci0000:00/0000:00:01.0/0000:01:00.0
"$FAKESYS" uevent unbind $dp pci >/dev/null
removed='"action":"remove","subsystem":"pci","address":"0000:01:00.0"'
check "gone at its unbind: monitor reports the removal then" wait_for "$TMP/monitor.json" "$removed"
settle
"$FAKESYS" uevent remove $dp pci >/dev/null
settle
check_eq "…and not again at the remove that comes after" "$(grep -c "$removed" "$TMP/monitor.json")" "1"

kill "$mon" 2>/dev/null
wait "$mon" 2>/dev/null
wait_until same 1 status_eval 'd["status"]["monitors"]'
check_eq "a monitor that goes away is forgotten" \
	"$(ctl -j status | json_eval 'd["status"]["monitors"]')" "1"
check "pcipassd stops cleanly" daemon_stop

# Link training judged against both ends: a gen4 x16 GPU trained at 8 GT/s x4 below a gen4 x16
# port is downtrained; the same GPU at 8 GT/s x16 below a gen3 x16 port is not (the slot is
# the limit, not a fault).
fs add 0000:00:03.0 header=1 driver=pcieport group=10 speed="16.0 GT/s PCIe" width=16 >/dev/null
fs add 0000:02:00.0 parent=0000:00:03.0 vendor=0x10de device=0x2204 class=0x030000 driver=nouveau \
	group=11 speed="8.0 GT/s PCIe" width=4 maxspeed="16.0 GT/s PCIe" maxwidth=16 >/dev/null
fs add 0000:00:04.0 header=1 driver=pcieport group=12 speed="8.0 GT/s PCIe" width=16 >/dev/null
fs add 0000:03:00.0 parent=0000:00:04.0 vendor=0x10de device=0x2204 class=0x030000 driver=nouveau \
	group=13 speed="8.0 GT/s PCIe" width=16 maxspeed="16.0 GT/s PCIe" maxwidth=16 >/dev/null
# A port is judged against the function below it; with none below, it cannot be told.
fs add 0000:00:05.0 header=1 driver=pcieport group=14 speed="8.0 GT/s PCIe" width=8 \
	maxspeed="16.0 GT/s PCIe" maxwidth=16 >/dev/null
fs add 0000:04:00.0 parent=0000:00:05.0 vendor=0x10de device=0x2204 class=0x030000 driver=nouveau \
	group=15 speed="8.0 GT/s PCIe" width=8 maxspeed="16.0 GT/s PCIe" maxwidth=16 >/dev/null
fs add 0000:00:06.0 header=1 driver=pcieport group=16 speed="8.0 GT/s PCIe" width=8 \
	maxspeed="16.0 GT/s PCIe" maxwidth=16 >/dev/null
daemon_start "$root" --read-only
check_eq "a port trained below what it and the function below can do: downtrained; with none below: not" \
	"$(ctl -j show 0000:00:05.0 | json_eval 'd["device"]["link"]["downtrained"]') $(ctl -j show 0000:00:06.0 | json_eval 'd["device"]["link"]["downtrained"]')" \
	"True False"
check_eq "downtrained: below what both the GPU and its port can do" \
	"$(ctl -j show 0000:02:00.0 | json_eval 'd["device"]["link"]["downtrained"]') $(ctl -j show 0000:03:00.0 | json_eval 'd["device"]["link"]["downtrained"]')" \
	"True False"
check "list marks it with !" bash -c "'$PCIPASSCTL' --socket '$SOCK' list | grep -q '^0000:02:00.0 .* 8GT/s x4!'"
check_eq "show: the bandwidth now and capable, with the generation" \
	"$(ctl show 0000:02:00.0 | grep -E '^  Link( capable)?:')" \
	"  Link:              8.0 GT/s x4 = 3.94 GB/s (PCIe gen 3, 0.98 GB/s a lane)
  Link capable:      16.0 GT/s x16 = 31.5 GB/s (PCIe gen 4, 1.97 GB/s a lane)"
check_eq "show: the degraded link's warning says what it runs at and what it could" \
	"$(ctl show 0000:02:00.0 | grep WARNING | sed 's/^ *//')" \
	"WARNING: the link runs at 8.0 GT/s x4, below the 16.0 GT/s x16 = 31.5 GB/s (PCIe gen 4, 1.97 GB/s a lane) that this function and the other end could do"
check_eq "a port's warning: what the function below could do bounds it" \
	"$(ctl -j show 0000:00:05.0 | json_eval '(d["device"]["link"]["attainable_speed_gts"], d["device"]["link"]["attainable_width"])')" \
	"(16.0, 16)"
check "pcipassd stops cleanly (links)" daemon_stop
finish
