#!/bin/bash
# Builds pcipass as CI does (warnings are errors, ASan and UBSan on), runs every test through
# `make check`, then cppcheck and `make distcheck`. Ends with one line: "N passed, N failed".
# Needs root (the integration tests use network and mount namespaces) and the packages of
# tests/install-deps.sh.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
build=${PCIPASS_BUILD_DIR:-$src/build/check}
jobs=$(nproc 2>/dev/null || echo 2)
passed=0
failed=0

step() {
	local name=$1
	shift
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
	else
		echo "*** $name failed"
		failed=$((failed + 1))
	fi
}

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

cd "$src" && ./autogen.sh >/dev/null || { failed=1; finish; }
mkdir -p "$build" && cd "$build" || { failed=1; finish; }
# The paths a distribution uses (/etc, /usr): the real-kernel tests run pcipassd with its defaults.
if ! "$src/configure" -q --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
	--enable-werror --enable-asan --enable-ubsan || ! make -s -j"$jobs"; then
	echo "*** build failed"
	failed=1
	finish
fi

make -j"$jobs" check
if [ -f test-suite.log ]; then
	cat test-suite.log | sed -n '/^FAIL\|^ERROR/,$p' | head -200
	count() { sed -n "s/^# $1: *//p" test-suite.log | head -1; }
	passed=$((passed + $(count PASS)))
	failed=$((failed + $(count FAIL) + $(count ERROR) + $(count XPASS)))
	echo "make check: $(count PASS) passed, $(count SKIP) skipped, $(( $(count FAIL) + $(count ERROR) + $(count XPASS) )) failed"
else
	failed=$((failed + 1))
fi

# cppcheck does not follow __attribute__((cleanup)), so its memleak verdicts on our
# _cleanup_ variables are false; LeakSanitizer checks leaks in every test run instead.
step cppcheck cppcheck -q --error-exitcode=1 --enable=warning,portability --inline-suppr \
	--suppress=memleak --suppress=resourceLeak \
	--std=c11 -D__GNUC__ -I"$src" -I"$src/daemon" -i"$src/build" \
	"$src/lib" "$src/daemon" "$src/client" "$src/tests" "$src/bench"
step distcheck make -s -j"$jobs" distcheck
finish
