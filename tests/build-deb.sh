#!/bin/bash
# Builds the Debian package from this checkout's files (tracked and new, not ignored) in a
# scratch directory, as a packager would on a fresh Debian 12: dpkg-buildpackage -b -us -uc,
# then lintian. Prints the path of pcipass_*.deb on the last line.
#   build-deb.sh [OUTDIR]   (default: ./deb)   DEB_BUILD_OPTIONS is passed through.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-deb}" && cd "${1:-deb}" && pwd)
version=$(sed -n '1s/^pcipass (\([^)]*\)).*/\1/p' "$src/debian/changelog")
rm -rf "$out/pcipass-$version" "$out"/pcipass_* "$out"/pcipass-dbgsym_*
mkdir -p "$out/pcipass-$version"
(cd "$src" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - --no-recursion) |
	tar -xf - -C "$out/pcipass-$version"
(cd "$out/pcipass-$version" && dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1 ||
	{ tail -30 "$out/build.log"; echo "dpkg-buildpackage failed (log: $out/build.log)" >&2; exit 1; }
lintian --fail-on error "$out"/pcipass_"$version"_*.changes
ls "$out"/pcipass_"$version"_*.deb
