#!/bin/bash
# The main job: build pcipass, boot the Debian kernel in QEMU (q35, emulated Intel IOMMU, a
# console GPU, a GPU with its HDMI audio in one IOMMU group, NICs, an SR-IOV nvme, bridges) and
# run pcipassd and pcipassctl inside it against the guest's real /sys: status, list, groups,
# a GPU-pool policy checked and planned, applied, and the kernel's own verdict on the group.
# Nothing touches this machine's devices. About a minute with TCG.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build/demo

echo "== Building pcipass"
mkdir -p "$build"
(cd "$src" && ./autogen.sh && cd "$build" && "$src/configure" -q &&
	make -j"$(nproc)" all tests/vm/vmcheck) >"$build/build.log" 2>&1 ||
	{ cat "$build/build.log"; exit 1; }

echo "== Booting $(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1 | sed 's|.*/vmlinuz-||') in QEMU with an emulated IOMMU (about 30 s under TCG)"
PCIPASS_BUILD=$build "$src/tests/vm/run-vm.sh" --demo
