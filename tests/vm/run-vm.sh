#!/bin/bash
# Boots the Debian kernel in QEMU (q35, emulated Intel IOMMU with interrupt remapping, emulated
# NICs, a GPU-like slot, an SR-IOV nvme, bridges, an empty hotplug port) and runs pcipassd and
# pcipassctl inside it against the guest's real /sys, checking every claim against the kernel.
# Prints TAP: one line per check the guest makes, numbered here.
#
#   run-vm.sh [SCENARIO…]    scenarios from tests/vm/scenarios (default: all), by name
#   run-vm.sh --demo         the README's demo (tests/vm/demo.sh in the guest, output on stdout)
#   run-vm.sh --bench        the claim/release benchmark (tests/vm/bench.sh; bench/vm-claim.sh)
#
# Environment: PCIPASS_BUILD (build directory; default the current one), KV (kernel version;
# default the newest generic /boot/vmlinuz-*), ACCEL (auto, tcg or kvm), VM_DIR (work
# directory), VM_KVM_PROBE=1 (try KVM even without kvm_intel/kvm_amd loaded).
# Exits 77 when QEMU, the kernel, busybox or cpio are missing (tests/install-deps.sh installs
# them). All writes happen in the guest's /sys; nothing here touches the host's devices.
set -u
PATH=$PATH:/usr/sbin:/sbin	# depmod, modprobe
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${PCIPASS_BUILD:-.}" && pwd)
vm=${VM_DIR:-$build/tests/vm/run}
mode=test
case ${1:-} in --demo) mode=demo; shift ;; --bench) mode=bench; shift ;; esac

skip() { echo "1..0 # SKIP $*"; exit 77; }
die() { echo "Bail out! $*"; exit 99; }

# --- what we need ------------------------------------------------------------------------------
for tool in qemu-system-x86_64 cpio depmod modprobe xz; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (tests/install-deps.sh installs it)"
done
[ -x /bin/busybox ] && file_is_static=$(ldd /bin/busybox 2>&1 | grep -c 'not a dynamic') \
	&& [ "$file_is_static" -gt 0 ] || skip "busybox-static is not installed"
# The newest generic kernel (a -cloud- or -rt- flavour lacks modules the guest needs).
KV=${KV:-$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|.*/vmlinuz-||' | grep -v -- '-cloud-\|-rt-' |
	sort -V | tail -1)}
[ -n "$KV" ] && [ -r "/boot/vmlinuz-$KV" ] || skip "no Debian kernel in /boot (linux-image-amd64)"
[ -d "/lib/modules/$KV" ] || skip "no modules for $KV in /lib/modules"
for bin in daemon/pcipassd client/pcipassctl tests/vm/vmcheck; do
	[ -x "$build/$bin" ] || die "$build/$bin is not built (run make, or set PCIPASS_BUILD)"
done
mkdir -p "$vm" || die "cannot create $vm"

# --- the kernel: the ELF vmlinux boots through PVH, 4-5 s faster than the bzImage under TCG --
vmlinux=$vm/vmlinux-$KV
if [ ! -s "$vmlinux" ]; then
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "/boot/vmlinuz-$KV" | head -1 | cut -d: -f1)
	[ -n "$off" ] || die "no XZ payload in /boot/vmlinuz-$KV"
	tail -c +$((off + 1)) "/boot/vmlinuz-$KV" | xz -dc >"$vmlinux.tmp" 2>/dev/null
	[ -s "$vmlinux.tmp" ] && mv "$vmlinux.tmp" "$vmlinux" || die "cannot extract vmlinux"
fi

# --- the initramfs -----------------------------------------------------------------------------
root=$vm/root
rm -rf "$root" && mkdir -p "$root"/{bin,sbin,etc,lib,lib64,proc,sys,dev,run,tmp,vm}
cp /bin/busybox "$root/bin/busybox"

# Copies executables with every library ldd names, at the same paths.
copy_with_libs() {
	local f lib
	for f in "$@"; do
		mkdir -p "$root$(dirname "$f")" && cp -L "$f" "$root$f" || return 1
		ldd "$f" 2>/dev/null | grep -q 'not found' && { echo "$f: a library is missing" >&2; return 1; }
		for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*'); do
			[ -e "$root$lib" ] && continue
			mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib" || return 1
		done
	done
}

# bridge, 8021q, bonding: the devices the nic-stacked scenario stacks on a NIC.
mods="vfio vfio_iommu_type1 vfio-pci uio uio_pci_generic pci-stub e1000e e1000 nvme snd-hda-intel
	bridge 8021q bonding"
for m in $mods; do
	modprobe -S "$KV" --show-depends "$m" >/dev/null 2>&1 || die "$KV has no module $m"
done
for m in $mods; do
	modprobe -S "$KV" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | sort -u | while read -r ko; do
	mkdir -p "$root$(dirname "$ko")" && cp "$ko" "$root$ko"
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
	cp "/lib/modules/$KV/$f" "$root/lib/modules/$KV/" 2>/dev/null
done
depmod -b "$root" "$KV" || die "depmod failed"

# pcipassd, pcipassctl and vmcheck as built (with the sanitizers when configured so).
mkdir -p "$root/usr/sbin" "$root/usr/bin"
cp "$build/daemon/pcipassd" "$root/usr/sbin/" && cp "$build/client/pcipassctl" \
	"$build/tests/vm/vmcheck" "$root/usr/bin/" || die "cannot copy the binaries"
copy_with_libs "$build/daemon/pcipassd" "$build/client/pcipassctl" "$build/tests/vm/vmcheck" ||
	die "cannot copy the binaries' libraries"
# …and libkmod, which pcipassd opens when it first looks up or loads a module.
copy_with_libs "$(ldconfig -p | awk '/^\tlibkmod\.so\.2 .*x86-64/ { print $NF; exit }')" ||
	die "cannot copy libkmod"
rm -rf "$root$build"

# A real systemd-udevd, so that libudev monitors see real udev events and host drivers load
# by modalias as on a host.
if [ -x /bin/udevadm ]; then
	copy_with_libs /bin/udevadm || die "cannot copy udevadm"
	mkdir -p "$root/lib/systemd" "$root/etc/udev/rules.d" "$root/lib/udev/rules.d"
	ln -s /bin/udevadm "$root/lib/systemd/systemd-udevd"
	cp /lib/udev/rules.d/80-drivers.rules "$root/lib/udev/rules.d/" 2>/dev/null
fi
# iproute2's ip, which makes bridges, VLANs and bonds as a host's network setup does (busybox's
# cannot make them all): the nic-stacked scenario.
if command -v ip >/dev/null; then
	copy_with_libs "$(command -v ip)" || die "cannot copy ip"
fi
# lspci, for the config-space comparison (the lspci scenario).
if command -v lspci >/dev/null; then
	copy_with_libs "$(command -v lspci)" || die "cannot copy lspci"
	[ -r /usr/share/misc/pci.ids ] && mkdir -p "$root/usr/share/misc" &&
		cp /usr/share/misc/pci.ids "$root/usr/share/misc/"
fi
# udev's hardware database, where sd-hwdb looks for it: the names pcipassctl shows.
for hwdb in /etc/udev/hwdb.bin /usr/lib/udev/hwdb.bin /lib/udev/hwdb.bin; do
	[ -r "$hwdb" ] || continue
	mkdir -p "$root/lib/udev" && cp "$hwdb" "$root/lib/udev/hwdb.bin" && break
done
# A real QEMU for the lease scenario and the demo: started in the guest as an unprivileged user
# on a leased group (setpriv drops to it; busybox's cannot change uids). Its firmware only.
if [ -x /usr/bin/setpriv ]; then
	copy_with_libs "$(command -v qemu-system-x86_64)" /usr/bin/setpriv \
		/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so ||
		die "cannot copy QEMU (and its TCG module) into the guest"
	mkdir -p "$root/usr/share/qemu-guest" &&
		cp /usr/share/seabios/bios-256k.bin "$root/usr/share/qemu-guest/" ||
		die "cannot copy QEMU's firmware (seabios) into the guest"
fi
printf 'root:x:0:0::/:/bin/sh\nvm:x:1000:1000::/tmp:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nvm:x:1000:\n' >"$root/etc/group"

cp "$here/init" "$root/init" && cp "$here/guest-lib.sh" "$here/demo.sh" "$here/bench.sh" "$root/vm/" &&
	cp -r "$here/scenarios" "$root/vm/" || die "cannot copy the guest scripts"
chmod +x "$root/init"
# The option ROMs QEMU loads into the VGA and e1000e ROM BARs (seabios, ipxe-qemu), to compare
# with the rom scenario's dumps; the copies in tests/fixtures/roms when the host has none.
mkdir -p "$root/vm/roms"
for rom in /usr/share/seabios/vgabios-stdvga.bin /usr/lib/ipxe/qemu/efi-e1000e.rom; do
	[ -r "$rom" ] || rom=$here/../fixtures/roms/${rom##*/}
	cp "$rom" "$root/vm/roms/" || die "cannot copy $rom"
done
(cd "$root" && find . | cpio -o -H newc --quiet) >"$vm/initramfs.cpio" || die "cpio failed"

# --- accelerator: KVM only where a stock kernel can use it -------------------------------------
# /dev/kvm alone proves nothing: software-nested kinds (kvm_pvm) expose it but cannot boot a
# distribution kernel. Hardware KVM means kvm_intel or kvm_amd is loaded.
# Even then, the kernel must print its banner under KVM within 20 s, or TCG it is.
kvm_boots() {
	rm -f "$vm/kvm-probe.log"
	(timeout 20 qemu-system-x86_64 -machine q35,accel=kvm,kernel-irqchip=split -cpu host -m 256 \
		-nodefaults -display none -no-reboot -serial "file:$vm/kvm-probe.log" \
		-kernel "$vmlinux" -append "console=ttyS0 panic=-1") >/dev/null 2>&1
	grep -q "Linux version" "$vm/kvm-probe.log" 2>/dev/null
}
accel=${ACCEL:-auto}
if [ "$accel" = auto ]; then
	accel=tcg
	if [ -n "${VM_KVM_PROBE:-}" ] ||
	   { [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; }; then
		if kvm_boots 2>/dev/null; then
			accel=kvm
		else
			echo "# /dev/kvm is there, but $KV does not boot on it (see $vm/kvm-probe.log): TCG"
		fi
	fi
fi
case $accel in
kvm) machine="q35,accel=kvm,kernel-irqchip=split"; cpu=host ;;
*) machine="q35,accel=tcg"; cpu=max ;;
esac

# --- the layouts -------------------------------------------------------------------------------
# main: as hypervisor hosts are built. 00:02.0 is the console GPU; 00:05.0+.1 a GPU with its
# HDMI audio (conventional PCI: one group); 01:00.0+.1 a dual-port NIC behind a root port (one
# group); 02:00.0 an nvme with SR-IOV; 04:01.0, 04:02.0 behind a PCIe-to-PCI bridge (one group
# with the bridge); 05:00.0 behind a root port without ACS (in the port's group); hp0 empty.
layout_main=(
	-device intel-iommu,intremap=on
	-device VGA,addr=0x2.0
	-device e1000e,addr=0x3.0 -device e1000e,addr=0x4.0
	-device VGA,addr=0x5.0,multifunction=on -device ich9-intel-hda,addr=0x5.1
	-device pcie-root-port,id=rp0,chassis=1,addr=0x6.0
	-device e1000e,bus=rp0,addr=0x0.0,multifunction=on -device e1000e,bus=rp0,addr=0x0.1
	-device pcie-root-port,id=rp1,chassis=2,addr=0x7.0 -device nvme-subsys,id=nvsubsys0
	-device nvme,bus=rp1,serial=vmtest0,subsys=nvsubsys0,sriov_max_vfs=2,sriov_vq_flexible=4,sriov_vi_flexible=2
	-device pcie-root-port,id=rp2,chassis=3,addr=0x8.0 -device pcie-pci-bridge,id=pbr,bus=rp2
	-device e1000,bus=pbr,addr=0x1 -device e1000,bus=pbr,addr=0x2
	-device pcie-root-port,id=rp3,chassis=4,addr=0x9.0,disable-acs=on -device e1000e,bus=rp3
	-device pcie-root-port,id=hp0,chassis=5,addr=0xa.0
)
append_main="intel_iommu=on iommu=nopt"
# noiommu: the same machine booted without the IOMMU.
layout_noiommu=("${layout_main[@]:2}")
append_noiommu=""

# Every guest: no_timer_check. Under TCG on a loaded host the kernel's check that the timer
# interrupt arrives through the IO-APIC (timer_irq_works(): ten ticks in 10 ms of guest time)
# can miss, and with interrupt remapping on it panics ("timer doesn't work through
# Interrupt-remapped IO-APIC"); no_timer_check skips that check, as KVM guests are booted.
append_all="no_timer_check"

# boot LAYOUT SCENARIOS: one guest; its check lines arrive on the second serial port.
boot() {
	local layout=$1 scenarios=$2 log=$vm/console-$1.log res=$vm/results-$1.log mon=$vm/qmp-$1
	local -n devs=layout_$layout
	local -n extra=append_$layout
	rm -f "$log" "$res" "$mon.in" "$mon.out"
	rm -rf "$vm/files"
	mkfifo "$mon.in" "$mon.out" && : >"$res"
	timeout 600 qemu-system-x86_64 -machine "$machine" -cpu "$cpu" -m 1024 -smp 2 \
		-nodefaults -display none -no-reboot \
		-serial "file:$log" -serial "file:$res" \
		-chardev "pipe,id=mon0,path=$mon" -mon chardev=mon0,mode=control \
		-kernel "$vmlinux" -initrd "$vm/initramfs.cpio" \
		-append "console=ttyS0 $extra $append_all panic=-1 quiet vmtest=$scenarios" \
		"${devs[@]}" 2> >(grep -v 'has no peer' >&2) &
	qemu=$!
	exec 9<>"$mon.in"
	cat "$mon.out" >"$vm/qmp-$layout.log" &
	local drain=$!
	echo '{"execute":"qmp_capabilities"}' >&9
	# The guest asks for QMP commands (hotplug) with "@qmp JSON" lines.
	tail -n +1 -f --pid="$qemu" "$res" | while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		'@qmp '*) echo "${line#@qmp }" >&9 ;;
		'@file '*)
			# "@file NAME TEXT": a line of a file the guest sends back.
			line=${line#@file }
			mkdir -p "$vm/files/$(dirname "${line%% *}")"
			printf '%s\n' "${line#* }" >>"$vm/files/${line%% *}"
			;;
		*) printf '%s\n' "$line" ;;
		esac
	done
	wait "$qemu"
	local rc=$?
	exec 9>&-
	kill "$drain" 2>/dev/null	# blocked in open() if QEMU died before opening its pipe
	return $rc
}

# --- run ---------------------------------------------------------------------------------------
if [ "$mode" != test ]; then
	# Passes when the guest got to its end ("@done"); QEMU exits 0 even after a guest panic.
	boot main "$mode" | tee "$vm/$mode.out" | sed -u '/^@done/d'
	grep -q '^@done' "$vm/$mode.out" || { echo "the guest did not finish (console: $vm/console-main.log)"; exit 1; }
	exit 0
fi

all=$(cd "$here/scenarios" && ls *.sh | sed 's/\.sh$//')
wanted=${*:-$all}
n=0 failed=0
for layout in main noiommu; do
	list=
	for s in $wanted; do
		[ -f "$here/scenarios/$s.sh" ] || die "no scenario $s"
		grep -q '^# layout: ' "$here/scenarios/$s.sh" || die "scenario $s has no '# layout:' line"
		grep -q "^# layout: $layout\$" "$here/scenarios/$s.sh" && list=${list:+$list,}$s
	done
	[ -n "$list" ] || continue
	echo "# booting $KV ($accel) with the $layout layout: $list"
	start=$(date +%s)
	done_seen=0
	while IFS= read -r line; do
		case $line in
		'ok '* | 'not ok '*)
			n=$((n + 1))
			case $line in 'not ok'*) failed=$((failed + 1)) ;; esac
			status=ok
			case $line in 'not ok'*) status="not ok" ;; esac
			echo "$status $n - ${line#* - }"
			;;
		'@done') done_seen=1 ;;
		'@done-host' | '1..'*) ;;
		*) echo "# $line" ;;
		esac
	done < <(boot "$layout" "$list"
		 # What the guest sent back to be judged here.
		 case ,$list, in *,lspci,*)
			if base64 -d "$vm/files/lspci.tgz.b64" 2>/dev/null | tar xzf - -C "$vm/files"; then
				top_srcdir=$here/../.. "$here/lspci-check.sh" "$vm/files/lspci"
			else
				echo "not ok - lspci: nothing readable came back from the guest"
			fi ;;
		 esac
		 echo @done-host)
	echo "# $layout: $(($(date +%s) - start)) s"
	if [ "$done_seen" != 1 ]; then
		n=$((n + 1)) failed=$((failed + 1))
		echo "not ok $n - the $layout guest did not finish its scenarios"
	fi
	if [ "$failed" -gt 0 ]; then
		echo "# console of the $layout guest (kept in $vm/console-$layout.log), last lines:"
		tail -n 80 "$vm/console-$layout.log" | sed 's/^/#   /'
	fi
done
echo "1..$n"
[ "$failed" -eq 0 ]
