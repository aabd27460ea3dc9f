#!/bin/bash
# What GetStatus and 'pcipassctl status' say about readiness, each fact on a synthetic tree:
# vfio_iommu_type1's allow_unsafe_interrupts (0, 1, absent) and whether the host needs it
# (interrupt remapping on or off), interrupt remapping on AMD (the interrupts' irq chips),
# identity (iommu=pt) groups, the target drivers' modules (one missing, with a module index
# made for the test), and the verdict under pcipass.disable=1. Runs in private mount and
# network namespaces: /lib/modules and /proc/cmdline are bind-mounted only there.
. "${top_srcdir:-.}/tests/lib.sh"
enter_mountns_netns "$@"

mkdir -p "$TMP/pol" "$TMP/dev"
: >"$TMP/none.conf"
start() { daemon_start "$1" --read-only --policy-dir "$TMP/pol" --config "${2:-$TMP/none.conf}"; }
st() { status_eval "d['status']$1"; }
# changed: the daemon (when one runs) re-reads sysfs, as after a module load or a reload;
# GetStatus keeps its host facts up to a second otherwise.
changed() { [ -z "$DAEMON_PID" ] || ctl reload >/dev/null; }
# param VALUE: vfio_iommu_type1's allow_unsafe_interrupts in the tree ("absent": not loaded).
param() {
	local p=$root/module/vfio_iommu_type1/parameters
	if [ "$1" = absent ]; then
		rm -rf "$root/module/vfio_iommu_type1"
	else
		mkdir -p "$p" && echo "$1" >"$p/allow_unsafe_interrupts"
	fi
	changed
}
# irqs CHIP...: kernel/irq/0, 1 … with these chip names (none: no kernel/irq at all).
irqs() {
	local n=0
	rm -rf "$root/kernel/irq"
	[ "$1" = none ] && return
	for chip in "$@"; do
		mkdir -p "$root/kernel/irq/$n" && echo "$chip" >"$root/kernel/irq/$n/chip_name"
		n=$((n + 1))
	done
	changed
}
unsafe_facts() { st '["interrupt_remapping"], d["status"]["allow_unsafe_interrupts"], d["status"]["unsafe_interrupts_needed"]'; }
unsafe_line() { ctl status | sed -n 's/^Unsafe IRQs: *//p'; }

# --- Intel: interrupt remapping from the VT-d capability register ---------------------------
root=$TMP/intel
"$FAKESYS" "$root" init --iommu dmar0 >/dev/null
"$FAKESYS" "$root" add 0000:00:03.0 driver=e1000e group=0 >/dev/null
"$FAKESYS" "$root" add 0000:00:04.0 group=1 >/dev/null
"$FAKESYS" "$root" add 0000:00:05.0 group=2 >/dev/null
start "$root" || { not_ok "pcipassd starts"; finish; }
check_eq "VT-d with IR, vfio_iommu_type1 not loaded: remapped, null, not needed" "$(unsafe_facts)" \
	"True None False"
check_eq "…the text says unset and not needed" "$(unsafe_line)" \
	"allow_unsafe_interrupts unset (vfio_iommu_type1 not loaded) (not needed: interrupts are remapped)"
param N
check_eq "VT-d with IR, allow_unsafe_interrupts N: off, not needed" "$(unsafe_facts)" "True False False"
param Y
check_eq "VT-d with IR, allow_unsafe_interrupts Y: on, not needed" "$(unsafe_facts)" "True True False"
check_eq "…the text" "$(unsafe_line)" "allow_unsafe_interrupts on (not needed: interrupts are remapped)"
check_eq "IR and nothing else amiss: ready" "$(st '["verdict"], d["status"]["problems"]')" "ready []"
check_eq "…the text ends Ready" "$(ctl status | tail -1)" "Ready: nothing stands in the way of passthrough."

# A unit without IR (ECAP bit 3 clear).
echo f00f56 >"$root/devices/virtual/iommu/dmar0/intel-iommu/ecap"
param absent	# (and the ecap change read with it)
check_eq "VT-d without IR, not loaded: not remapped, null, needed" "$(unsafe_facts)" "False None True"
check_eq "…the text says NEEDED and what vfio does" "$(unsafe_line)" \
	"allow_unsafe_interrupts unset (vfio_iommu_type1 not loaded), but NEEDED: interrupts are not remapped, so vfio refuses to assign devices unless vfio_iommu_type1.allow_unsafe_interrupts=1"
param N
check_eq "VT-d without IR, N: off and needed" "$(unsafe_facts)" "False False True"
check_eq "…a problem (AllowUnsafeInterrupts=no), verdict problems" \
	"$(st '["verdict"], [p["code"] for p in d["status"]["problems"]]')" \
	"problems ['no-interrupt-remapping']"
param Y
check_eq "VT-d without IR, Y: on and needed" "$(unsafe_facts)" "False True True"
check_eq "…the text" "$(unsafe_line)" \
	"allow_unsafe_interrupts on: needed, as interrupts are not remapped; vfio assigns devices, and guests can forge interrupts"
daemon_stop

# AllowUnsafeInterrupts=yes: the module parameter must say so too.
printf '[Daemon]\nAllowUnsafeInterrupts=yes\n' >"$TMP/unsafe.conf"
param N
start "$root" "$TMP/unsafe.conf"
check_eq "AllowUnsafeInterrupts=yes, allow_unsafe_interrupts N: unsafe-interrupts-off" \
	"$(st '["verdict"], [p["code"] for p in d["status"]["problems"]]')" \
	"problems ['unsafe-interrupts-off']"
param Y
check_eq "AllowUnsafeInterrupts=yes, allow_unsafe_interrupts Y: ready" \
	"$(st '["verdict"], d["status"]["problems"]')" "ready []"
param absent
check_eq "AllowUnsafeInterrupts=yes, vfio_iommu_type1 not loaded: no problem (modprobe.d may set it)" \
	"$(st '["verdict"]')" "ready"
daemon_stop

# --- identity (passthrough) domains ---------------------------------------------------------
echo f00f5e >"$root/devices/virtual/iommu/dmar0/intel-iommu/ecap"
start "$root"
check_eq "no identity group" "$(st '["identity_groups"]')" "0"
check_eq "…the text" "$(ctl status | sed -n 's/^Passthrough: *//p')" \
	"no group in an identity domain (iommu=pt not in effect)"
echo identity >"$root/kernel/iommu_groups/0/type"
echo identity >"$root/kernel/iommu_groups/2/type"
daemon_stop
start "$root"
check_eq "two of three groups identity: counted, and in group_types" \
	"$(st '["identity_groups"], d["status"]["group_types"]')" "2 {'identity': 2, 'DMA-FQ': 1}"
check_eq "…the text: the count and what it means, in one line" \
	"$(ctl status | sed -n 's/^Passthrough: *//p')" \
	"2 of 3 groups in identity domains (iommu=pt): the host's DMA is untranslated; vfio-pci still isolates the groups it is given (it attaches its own domain), uio_pci_generic devices get no isolation at all"
daemon_stop

# --- AMD: interrupt remapping from the interrupts' irq chips --------------------------------
root=$TMP/amd
"$FAKESYS" "$root" init --iommu ivhd0 >/dev/null
"$FAKESYS" "$root" add 0000:00:03.0 driver=e1000e group=0 >/dev/null
mkdir -p "$root/devices/virtual/iommu/ivhd0/amd-iommu"
echo 40000000 >"$root/devices/virtual/iommu/ivhd0/amd-iommu/cap"
echo 25bf732fa2295afe:53 >"$root/devices/virtual/iommu/ivhd0/amd-iommu/features"
irqs none
start "$root"
check_eq "AMD without kernel/irq: cannot tell, need unknown" "$(unsafe_facts)" "None None None"
check_eq "…the text" "$(ctl status | sed -n 's/^IRQ remapping: *//p')" \
	"cannot tell (neither the IOMMU nor the interrupts say)"
irqs IR-IO-APIC IR-IO-APIC AMD-Vi IR-PCI-MSIX-0000:00:03.0
check_eq "AMD, IR-IO-APIC and IR-PCI-MSIX chips: remapped" "$(unsafe_facts)" "True None False"
check_eq "…the text" "$(ctl status | sed -n 's/^IRQ remapping: *//p')" "yes"
irqs IR-PCI-MSI
check_eq "AMD, an IR-PCI-MSI chip (before 6.2): remapped" "$(st '["interrupt_remapping"]')" "True"
irqs AMD-Vi vIR-PCI-MSIX-0000:00:03.0
check_eq "AMD in a guest, a vIR- chip: remapped" "$(st '["interrupt_remapping"]')" "True"
irqs IO-APIC IO-APIC AMD-Vi PCI-MSIX-0000:00:03.0 PCI-MSI-0000:00:03.0
param N
check_eq "AMD, IO-APIC and PCI-MSI chips, none IR-: not remapped, and needed" "$(unsafe_facts)" \
	"False False True"
check_eq "…the no-interrupt-remapping problem" \
	"$(status_eval '[p["code"] for p in d["status"]["problems"]]')" "['no-interrupt-remapping']"
check_eq "…the text" "$(ctl status | sed -n 's/^IRQ remapping: *//p')" "NO"
irqs AMD-Vi HPET-MSI
check_eq "AMD, only chips that say neither: cannot tell" "$(st '["interrupt_remapping"]')" "None"
daemon_stop

# --- the target drivers' modules ------------------------------------------------------------
root=$TMP/intel
printf '[Match]\nAddress=0000:00:04.0\n[Assign]\nDriver=vfio-pci\n' >"$TMP/pol/50-vfio.policy"
printf '[Match]\nAddress=0000:00:05.0\n[Assign]\nDriver=nosuch_vfio_pci\n' >"$TMP/pol/60-variant.policy"
start "$root"
check_eq "without a module index for this kernel: every module cannot tell, no problem" \
	"$(st '["modules"], d["status"]["verdict"]')" \
	"[{'driver': 'vfio-pci', 'available': None}, {'driver': 'nosuch_vfio_pci', 'available': None}] ready"
daemon_stop
if command -v depmod >/dev/null && [ -d /lib/modules ]; then
	# An empty index of this kernel's modules, only in this mount namespace: nothing is an
	# installed module, so what sysfs does not show registered is missing.
	mkdir -p "$TMP/kmod/lib/modules/$(uname -r)"
	: >"$TMP/kmod/lib/modules/$(uname -r)/modules.order"
	: >"$TMP/kmod/lib/modules/$(uname -r)/modules.builtin"
	depmod -b "$TMP/kmod" "$(uname -r)" 2>/dev/null
	mkdir -p /lib/modules
	mount --bind "$TMP/kmod/lib/modules" /lib/modules
	mkdir -p "$root/bus/pci/drivers/vfio-pci"	# registered: loaded or built in
	start "$root"
	check_eq "vfio-pci registered: available; a variant driver with no module: missing" \
		"$(st '["modules"]')" \
		"[{'driver': 'vfio-pci', 'available': True}, {'driver': 'nosuch_vfio_pci', 'available': False}]"
	check_eq "…a module-missing problem naming the rule" \
		"$(st '["verdict"], [(p["code"], p["message"]) for p in d["status"]["problems"]]')" \
		"problems [('module-missing', 'the nosuch_vfio_pci driver is neither built in nor an installed module for this kernel: the rule 60-variant.policy cannot be carried out')]"
	check_eq "…the text" "$(ctl status | sed -n 's/^Modules: *//p')" \
		"vfio-pci available, nosuch_vfio_pci MISSING"
	daemon_stop
	rmdir "$root/bus/pci/drivers/vfio-pci"
	start "$root"
	check_eq "vfio-pci neither registered nor installed: missing too, naming its rule" \
		"$(status_eval '[p["message"] for p in d["status"]["problems"]]')" \
		"['the vfio-pci driver is neither built in nor an installed module for this kernel: the rule 50-vfio.policy cannot be carried out', 'the nosuch_vfio_pci driver is neither built in nor an installed module for this kernel: the rule 60-variant.policy cannot be carried out']"
	daemon_stop
	umount /lib/modules
else
	ok "a missing module # SKIP depmod is not installed, or there is no /lib/modules"
fi
rm "$TMP/pol"/*.policy

# --- pcipass.disable=1 ----------------------------------------------------------------------
printf 'BOOT_IMAGE=/vmlinuz root=/dev/vda1 quiet pcipass.disable=1\n' >"$TMP/cmdline"
mount --bind "$TMP/cmdline" /proc/cmdline
start "$root"
check_eq "pcipass.disable=1: the JSON says disabled" "$(st '["verdict"], d["status"]["disabled"]')" \
	"disabled True"
check_eq "…the text ends Disabled, not Ready" "$(ctl status | tail -1)" \
	"Disabled: pcipass.disable=1 is on the kernel command line: pcipassd reports, and changes nothing."
daemon_stop
param N
echo f00f56 >"$root/devices/virtual/iommu/dmar0/intel-iommu/ecap"
start "$root"
check_eq "pcipass.disable=1 with a problem: the verdict is still disabled" \
	"$(st '["verdict"], len(d["status"]["problems"])')" "disabled 1"
out=$(ctl status)
check_eq "…the text lists the problem, and ends Disabled" \
	"$(grep -c '^  no-interrupt-remapping:' <<<"$out") $(tail -1 <<<"$out" | cut -d: -f1)" "1 Disabled"
daemon_stop
umount /proc/cmdline
finish
