#!/bin/bash
# Device nodes in use, each one a function provides: a GPU on the proprietary NVIDIA driver
# (/dev/nvidiaN by the minor its /proc/driver/nvidia file names), its HDA function's sound
# devices (/dev/snd/*), a DRM render node, a vfio cdev; each held open by a process of this
# test blocks the plan, naming the node, pid, command and uid. On a synthetic tree, read-only.
. "${top_srcdir:-.}/tests/lib.sh"
enter_netns "$@"

root=$TMP/sys
pol=$TMP/policy
proc=$TMP/proc
mkdir -p "$pol" "$TMP/dev/snd" "$TMP/dev/dri" "$TMP/dev/vfio/devices"
fs() { "$FAKESYS" "$root" "$@" >/dev/null; }
fs init --iommu dmar0
fs add 0000:01:00.0 vendor=0x10de device=0x2204 class=0x030000 mf=1 driver=nvidia group=2
fs add 0000:01:00.1 vendor=0x10de device=0x1aef class=0x040300 mf=1 driver=snd_hda_intel group=2
fs add 0000:02:00.0 vendor=0x1002 device=0x73bf class=0x030000 driver=amdgpu group=3
fs add 0000:03:00.0 vendor=0x8086 device=0x10d3 driver=vfio-pci group=4
fs add 0000:04:00.0 vendor=0x8086 device=0x10d3 driver=e1000e group=5
dev=$root/bus/pci/devices
# What the drivers make: the HDA card's devices, amdgpu's DRM nodes, vfio-pci's cdev.
for n in controlC1 pcmC1D3p hwC1D0; do mkdir -p "$dev/0000:01:00.1/sound/card1/$n"; : >"$TMP/dev/snd/$n"; done
mkdir -p "$dev/0000:01:00.1/sound/card1/power"	# not a device
for n in card0 renderD128; do mkdir -p "$dev/0000:02:00.0/drm/$n"; : >"$TMP/dev/dri/$n"; done
mkdir -p "$dev/0000:03:00.0/vfio-dev/vfio0"
: >"$TMP/dev/vfio/devices/vfio0"
: >"$TMP/dev/nvidia3"
: >"$TMP/dev/nvidia0"
mkdir -p "$proc/driver/nvidia/gpus/0000:01:00.0"
printf 'Model: \t\t NVIDIA GeForce RTX 3090\nIRQ:   \t\t 42\nGPU UUID: \t GPU-x\nDevice Minor: \t 3\nBus Type: \t PCIe\n' \
	>"$proc/driver/nvidia/gpus/0000:01:00.0/information"
printf '[Match]\nClass=0x030000/0xff0000\n[Assign]\nDriver=vfio-pci\nGroup=claim\n' >"$pol/50-gpu.policy"
printf '[Match]\nAddress=0000:03:00.0\n[Assign]\nDriver=host\n' >"$pol/60-nic.policy"
printf '[Match]\nAddress=0000:04:00.0\n[Assign]\nDriver=vfio-pci\n' >"$pol/70-nic.policy"
daemon_start "$root" --read-only --policy-dir "$pol" --config "$TMP/none.conf" --proc-root "$proc" \
	--log-level debug ||
	{ not_ok "pcipassd starts"; finish; }

# open_by ADDRESS: the device-open blocker of ADDRESS in its group's plan, or "-".
open_by() {
	ctl -j plan "$1" | json_eval '" | ".join(b["message"] for g in d["groups"] for m in g["members"] if m["address"] == "'"$1"'" for b in m["blockers"] if b["code"] == "device-open") or "-"'
}
# hold NODE: a process of this test holds NODE open until it is killed (HOLDER).
hold() {
	sleep 1000 <"$1" &
	HOLDER=$!
}
unhold() { kill "$HOLDER"; wait "$HOLDER" 2>/dev/null; }

# scans: how often pcipassd has read every process's open files so far.
scans() { grep -c "Read every process's open files" "$TMP/daemon.log"; }
n=$(scans)
ctl plan 0000:04:00.0 >/dev/null
check_eq "the plan of a NIC with no device node (on e1000e): /proc is not read" "$(scans)" "$n"
ctl plan 0000:03:00.0 >/dev/null
check_eq "…of a function whose vfio cdev exists: it is read, once" "$(scans)" "$((n + 1))"

check_eq "nothing open: no member blocked as in use" \
	"$(open_by 0000:01:00.0) $(open_by 0000:01:00.1) $(open_by 0000:02:00.0) $(open_by 0000:03:00.0)" "- - - -"

hold "$TMP/dev/nvidia3"
check_eq "/dev/nvidia3, the GPU's minor as the NVIDIA driver reports it, held: the GPU is in use" \
	"$(open_by 0000:01:00.0)" \
	"0000:01:00.0 is in use: $TMP/dev/nvidia3 open by pid $HOLDER (sleep, uid 0)"
unhold
hold "$TMP/dev/nvidia0"
check_eq "…another GPU's /dev/nvidia0 held: not this one's" "$(open_by 0000:01:00.0)" "-"
unhold

hold "$TMP/dev/snd/pcmC1D3p"
check_eq "the HDMI audio's PCM device held (a sound server): its function is in use" \
	"$(open_by 0000:01:00.1)" \
	"0000:01:00.1 is in use: $TMP/dev/snd/pcmC1D3p open by pid $HOLDER (sleep, uid 0)"
unhold
hold "$TMP/dev/snd/controlC1"
check "…its control device too" sh -c "echo '$(open_by 0000:01:00.1)' | grep -q 'snd/controlC1 open by pid $HOLDER'"
unhold

hold "$TMP/dev/dri/renderD128"
check "a DRM render node held (a compositor, a compute job): the GPU is in use" \
	sh -c "echo '$(open_by 0000:02:00.0)' | grep -q 'dri/renderD128 open by pid $HOLDER (sleep, uid 0)'"
unhold

hold "$TMP/dev/vfio/devices/vfio0"
check "a vfio cdev held (iommufd QEMU): the release is refused" \
	sh -c "echo '$(open_by 0000:03:00.0)' | grep -q 'vfio/devices/vfio0 open by pid $HOLDER (sleep, uid 0)'"
unhold

# Off vfio-pci while its group is held: the kernel's unbind would wait for the holder, holding
# the device's lock (journald, reading its uevent, waits too): not even --force.
: >"$TMP/dev/vfio/4"
hold "$TMP/dev/vfio/4"
ctl claim 0000:03:00.0 --driver uio_pci_generic --force --dry-run >/dev/null 2>"$TMP/err"
check_eq "vfio-pci → uio_pci_generic --force while /dev/vfio/4 is held: refused (exit 1)" "$?" "1"
check "…not forceable: the unbind would hang" grep -q "device-open: 0000:03:00.0 is in use ($TMP/dev/vfio/4 open by pid $HOLDER (sleep, uid 0)): unbinding vfio-pci now would hang until it is closed" "$TMP/err"
unhold

check "show of a function without reset_method: says vfio-pci has no reset for it" \
	sh -c "'$PCIPASSCTL' --socket '$SOCK' show 0000:03:00.0 | grep -q '^  vfio-pci resets with: *nothing (no reset method)'"
daemon_stop || not_ok "pcipassd exits cleanly"
finish
