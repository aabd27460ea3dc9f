#!/bin/bash
# Installs a pcipass .deb on a real Debian 12 guest (systemd as PID 1, libvirt, QEMU) under
# QEMU with an emulated Intel IOMMU and tests/vm/run-vm.sh's main device layout, and runs a
# scenario across two boots of the same disk. Prints TAP: the guest's check lines, numbered.
#
#   run-deploy.sh DEB [SCENARIO]     SCENARIO from tests/deploy/scenarios (default: smoke)
#
# A scenario is a shell file defining the functions boot1 and boot2. Each runs as root in the
# guest once it has reached multi-user.target (deploy-scenario.service), with the helpers of
# guest/guest-run.sh (check DESCRIPTION COMMAND…, note, wait_for) and $DEB, the package, at
# /root/pcipass.deb; then the guest powers off. Boot 1 and boot 2 share the disk.
#
# The base image (mmdebstrap of bookworm, made into an ext4 disk image with mkfs.ext4 -d) is
# cached, keyed by a hash of the package list and of the code that builds it; each run copies it
# to a fresh disk, onto which the .deb and the scenario are written with debugfs. The guest's own
# kernel and initrd are booted directly (-kernel/-initrd). Check lines come back on the second
# serial port; the console is kept in the run directory, its tail printed when a boot fails.
#
# Environment: PCIPASS_BUILD (build directory; default the current one), DEPLOY_CACHE (base
# images; default $PCIPASS_BUILD/tests/deploy/cache), DEPLOY_DIR (run directory; default
# $PCIPASS_BUILD/tests/deploy/run), DEPLOY_MIRROR (default http://deb.debian.org/debian),
# DEPLOY_TIMEOUT (seconds per boot; default 1500).
# Exits 77 when mmdebstrap, QEMU, e2fsprogs or the mirror (for a first build) are missing.
# Needs root (mmdebstrap, file ownership in the image). Nothing here touches the host's devices.
set -u
PATH=$PATH:/usr/sbin:/sbin	# mkfs.ext4, debugfs
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${PCIPASS_BUILD:-.}" && pwd)
cache=${DEPLOY_CACHE:-$build/tests/deploy/cache}
run=${DEPLOY_DIR:-$build/tests/deploy/run}
mirror=${DEPLOY_MIRROR:-http://deb.debian.org/debian}
timeout=${DEPLOY_TIMEOUT:-1500}
suite=bookworm
# The guest: systemd, libvirt with QEMU (for VMs with vfio hostdevs), the tools the scenarios
# use, the kernel (with an initramfs-tools initrd, which has virtio_blk), and the runtime
# libraries of the pcipass package so that dpkg -i works offline.
packages=(
	systemd systemd-sysv udev dbus kmod e2fsprogs linux-image-amd64 initramfs-tools
	libvirt-daemon-system libvirt-clients qemu-system-x86 pciutils iproute2 procps python3
	libsystemd0 libudev1 libjson-c5 libkmod2 libinih1
)

skip() { echo "1..0 # SKIP $*"; exit 77; }
die() { echo "Bail out! $*"; exit 99; }

# --- what we need ------------------------------------------------------------------------------
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: run-deploy.sh DEB [SCENARIO]"
deb=$1
scenario=${2:-smoke}
[ -r "$deb" ] || die "cannot read $deb"
[ -f "$here/scenarios/$scenario.sh" ] || die "no scenario $scenario in $here/scenarios"
[ "$(id -u)" = 0 ] || skip "not root (mmdebstrap and the image's file ownership need it)"
for tool in mmdebstrap qemu-system-x86_64 mkfs.ext4 debugfs; do
	command -v "$tool" >/dev/null || skip "$tool is not installed"
done
# The main layout of the real-kernel tests, as tests/vm/run-vm.sh defines it.
layout_main=()
eval "$(sed -n '/^layout_main=(/,/^)/p' "$here/../vm/run-vm.sh")"
[ "${#layout_main[@]}" -gt 0 ] || die "no layout_main in tests/vm/run-vm.sh"
# As there: the IOMMU on, translating for the host too (the root disk, virtio-blk at 00:10.0,
# is in a group of its own); no_timer_check against a spurious timer check panic under TCG
# with interrupt remapping.
append="intel_iommu=on iommu=nopt no_timer_check"
mkdir -p "$cache" "$run" || die "cannot create $cache or $run"

# --- the base image ----------------------------------------------------------------------------
# build_image DIR: DIR/base.img, DIR/vmlinuz and DIR/initrd.img, from a fresh bookworm.
build_image() {
	local dir=$1 root=$1/root
	rm -rf "$root" && mkdir -p "$dir" || return 1
	mmdebstrap --variant=apt --include="$(IFS=,; echo "${packages[*]}")" \
		--aptopt='APT::Install-Recommends "false"' "$suite" "$root" "$mirror" \
		>"$dir/mmdebstrap.log" 2>&1 || { tail -n 20 "$dir/mmdebstrap.log"; return 1; }
	echo deploy-guest >"$root/etc/hostname"
	echo '/dev/vda / ext4 defaults 0 1' >"$root/etc/fstab"
	# A machine id now: no first-boot logic (systemd-firstboot, presets) in boot 1.
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$root/etc/machine-id" && echo >>"$root/etc/machine-id"
	cp "$here/guest/deploy-scenario.service" "$root/etc/systemd/system/" &&
		ln -s ../deploy-scenario.service "$root/etc/systemd/system/multi-user.target.wants/" ||
		return 1
	cp "$root"/boot/vmlinuz-* "$dir/vmlinuz" && cp "$root"/boot/initrd.img-* "$dir/initrd.img" ||
		return 1
	# Room for the guest's own VM disks; sparse, so the copies each run makes stay cheap.
	rm -f "$dir/base.img" && truncate -s 8G "$dir/base.img" &&
		mkfs.ext4 -q -L deploy-root -d "$root" "$dir/base.img" || return 1
	rm -rf "$root"
}
key=$( { declare -f build_image; echo "$suite $mirror ${packages[*]}";
	cat "$here/guest/deploy-scenario.service"; } | sha256sum | cut -c1-16)
base=$cache/$key
if [ ! -s "$base/base.img" ]; then
	/usr/lib/apt/apt-helper download-file "$mirror/dists/$suite/InRelease" "$cache/InRelease" \
		>/dev/null 2>&1 || skip "the Debian mirror $mirror is unreachable"
	rm -f "$cache/InRelease"
	# Base images of other package lists or build code are not used again.
	for old in "$cache"/*/base.img; do
		[ -e "$old" ] && rm -rf "${old%/base.img}"
	done
	echo "# building the base image $base (mmdebstrap $suite)"
	start=$(date +%s)
	build_image "$base.tmp" || die "cannot build the base image (log: $base.tmp/mmdebstrap.log)"
	rm -rf "$base" && mv "$base.tmp" "$base" || die "cannot store the base image in $base"
	echo "# base image built in $(($(date +%s) - start)) s"
fi

# --- this run's disk: the base, the package and the scenario -----------------------------------
disk=$run/disk.img
stage=$run/stage
rm -rf "$stage" && mkdir -p "$stage" || die "cannot create $stage"
cp --sparse=always "$base/base.img" "$disk" &&
	cp "$deb" "$stage/pcipass.deb" && cp "$here/guest/guest-run.sh" "$stage/" &&
	cp "$here/scenarios/$scenario.sh" "$stage/scenario.sh" || die "cannot prepare $disk"
# debugfs exits 0 whatever fails: any message besides its banner is an error.
errors=$(cd "$stage" && printf '%s\n' 'cd /root' 'write pcipass.deb pcipass.deb' \
	'mkdir deploy' 'cd deploy' 'write guest-run.sh guest-run.sh' 'write scenario.sh scenario.sh' |
	debugfs -w -f - "$disk" 2>&1 >/dev/null | grep -v '^debugfs [0-9]')
[ -z "$errors" ] || die "debugfs could not write to $disk: $errors"

# --- boots -------------------------------------------------------------------------------------
# boot N: boots the disk with deploy.boot=N; prints the guest's lines as they come, and
# "@boot-time SECONDS UPTIME" when the scenario starts, until the guest powers off.
boot() {
	local log=$run/console-boot$1.log res=$run/results-boot$1.log t0 line
	rm -f "$log" && : >"$res"
	t0=$(date +%s)
	timeout "$timeout" qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 2560 -smp 2 \
		-nodefaults -display none -no-reboot \
		-serial "file:$log" -serial "file:$res" \
		-drive "file=$disk,format=raw,if=none,id=root,cache=unsafe" \
		-device virtio-blk-pci,drive=root,addr=0x10 \
		-kernel "$base/vmlinuz" -initrd "$base/initrd.img" \
		-append "console=ttyS0 root=/dev/vda rw $append panic=-1 deploy.boot=$1" \
		"${layout_main[@]}" 2> >(grep -v 'has no peer' >&2) &
	local qemu=$!
	tail -n +1 -f --pid="$qemu" "$res" | while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		'@start '*) echo "@boot-time $(($(date +%s) - t0)) ${line#@start }" ;;
		*) printf '%s\n' "$line" ;;
		esac
	done
	wait "$qemu"
}
echo "# scenario $scenario, package $(basename "$deb"), base image $key"
n=0 failed=0 total_start=$(date +%s)
for b in 1 2; do
	start=$(date +%s) started=0 done_seen=0
	while IFS= read -r line; do
		case $line in
		'ok '* | 'not ok '*)
			n=$((n + 1))
			status=ok
			case $line in 'not ok'*) status="not ok" failed=$((failed + 1)) ;; esac
			echo "$status $n - ${line#* - }"
			;;
		'@boot-time '*)
			read -r _ secs uptime <<<"$line"
			started=1
			echo "# boot $b: the scenario started $secs s after QEMU did (guest uptime $uptime s)"
			;;
		"@done $b") done_seen=1 ;;
		'#'*) printf '%s\n' "$line" ;;
		*) printf '# %s\n' "$line" ;;
		esac
	done < <(boot $b)
	echo "# boot $b: $(($(date +%s) - start)) s"
	n=$((n + 1))
	if [ "$done_seen" = 1 ]; then
		echo "ok $n - boot $b ran its scenario and powered off"
	else
		failed=$((failed + 1))
		echo "not ok $n - boot $b ran its scenario and powered off"
		[ "$started" = 1 ] && why="did not finish" || why="did not start"
		echo "# boot $b: the scenario $why before QEMU ended (timeout: $timeout s)"
		echo "# console of boot $b (kept in $run/console-boot$b.log), last lines:"
		tail -n 80 "$run/console-boot$b.log" | sed 's/\x1b\[[0-9;]*m//g; s/^/#   /; $a\'
		break
	fi
done
echo "# full run: $(($(date +%s) - total_start)) s"
echo "1..$n"
[ "$failed" -eq 0 ]
