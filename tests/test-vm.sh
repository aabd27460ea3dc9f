#!/bin/bash
# The real-kernel tests: tests/vm/run-vm.sh boots the Debian kernel in QEMU with an emulated
# IOMMU and runs every scenario in tests/vm/scenarios against the guest's real /sys, with the
# pcipassd, pcipassctl and vmcheck of this build. Skips (77) when QEMU, the kernel or busybox
# is missing, or when configured with --disable-vm-tests (distcheck: make check ran them).
if [ "${VM_TESTS:-yes}" = no ]; then
	echo "1..0 # SKIP configured with --disable-vm-tests (make check-vm runs them)"
	exit 77
fi
exec "${top_srcdir:-.}/tests/vm/run-vm.sh"
