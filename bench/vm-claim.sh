#!/bin/bash
# Claim/release benchmark on a real kernel: builds pcipass without sanitizers (build/bench),
# boots the test guest (tests/vm) and, inside it, moves every NIC and SR-IOV VF it has to
# vfio-pci and back with pcipassd, with a driverctl-style shell loop and with a bare C loop
# doing only the sysfs writes. Prints a markdown table (results in bench/README.md).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${PCIPASS_BUILD:-$src/build/bench}
mkdir -p "$build"
(cd "$src" && ./autogen.sh && cd "$build" && "$src/configure" -q &&
	make -j"$(nproc)" all tests/vm/vmcheck) >"$build/build.log" 2>&1 ||
	{ cat "$build/build.log"; exit 1; }
PCIPASS_BUILD=$build VM_DIR=$build/tests/vm/run "$src/tests/vm/run-vm.sh" --bench
