#!/bin/sh
# Regenerate the build system: ./autogen.sh && ./configure && make
set -e
cd "$(dirname "$0")"
autoreconf --force --install --symlink
# automake installs test-driver but not the TAP driver the tests use.
cp -f "$(automake --print-libdir)/tap-driver.sh" build-aux/tap-driver.sh
