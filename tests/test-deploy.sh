#!/bin/bash
# The deployed form (make check-deploy; in make check when its tools are there): builds the
# Debian package from this checkout (tests/build-deb.sh), installs it in a real Debian 12 guest
# with systemd and libvirt, and runs a scenario of tests/deploy/scenarios across two boots of it
# (tests/deploy/run-deploy.sh; DEPLOY_SCENARIO picks another). Skips, with the reason, without the packaging tools, mmdebstrap
# or QEMU, outside a git checkout, or with VM_TESTS=no.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(pwd)
[ "${VM_TESTS:-yes}" = no ] && { echo "1..0 # SKIP VM_TESTS=no"; exit 77; }
for tool in dpkg-buildpackage dh lintian mmdebstrap qemu-system-x86_64 git; do
	command -v "$tool" >/dev/null ||
		{ echo "1..0 # SKIP $tool is not installed (tests/install-deps.sh installs it)"; exit 77; }
done
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 ||
	{ echo "1..0 # SKIP not a git checkout (the package is built from its files)"; exit 77; }
deb=$("$src/tests/build-deb.sh" "$build/tests/deploy/deb" | tail -1) ||
	{ echo "Bail out! the package did not build"; exit 99; }
echo "# built $(basename "$deb")"
exec "$src/tests/deploy/run-deploy.sh" "$deb" "${DEPLOY_SCENARIO:-boot}"
