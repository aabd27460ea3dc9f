# Shared by the integration tests (sourced). Prints TAP: "ok N - name" / "not ok N - name",
# then the plan at the end. The tests start the real pcipassd on synthetic or captured sysfs
# trees, never on this machine's /sys, and drive it with the real pcipassctl.

: "${top_builddir:=.}" "${top_srcdir:=.}"
PCIPASSD=$top_builddir/daemon/pcipassd
PCIPASSCTL=$top_builddir/client/pcipassctl
FAKESYS=$top_builddir/tests/fakesys
VL="python3 $top_srcdir/tests/vl.py"
FIXTURES=$top_srcdir/tests/fixtures

T=0
FAILED=0
ok() { T=$((T + 1)); echo "ok $T - $*"; }
not_ok() { T=$((T + 1)); FAILED=$((FAILED + 1)); echo "not ok $T - $*"; }
# check NAME COMMAND...: one test point, passing when COMMAND succeeds.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
# check_eq NAME GOT WANT
check_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		echo "#   got:  $(printf '%s' "$2" | head -c 2000 | tr '\n' '|')"
		echo "#   want: $(printf '%s' "$3" | head -c 2000 | tr '\n' '|')"
	fi
}
finish() {
	echo "1..$T"
	[ "$FAILED" -eq 0 ]
	exit
}
skip_all() {
	echo "1..0 # SKIP $*"
	exit 77
}

# Runs this script again in a new network namespace: there, no real udevd sends events, and
# the uevents tests/fakesys sends reach only this test's daemon.
enter_netns() {
	if [ -z "${PCIPASS_TEST_NETNS:-}" ]; then
		[ "$(id -u)" -eq 0 ] || skip_all "needs root for a private network namespace (unshare -n)"
		PCIPASS_TEST_NETNS=1 exec unshare -n "$0" "$@"
		skip_all "unshare -n failed"
	fi
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pcipass-test.XXXXXX")
SOCK=$TMP/io.pcipass
DAEMON_PID=
cleanup() {
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

ctl() { "$PCIPASSCTL" --socket "$SOCK" "$@"; }

# daemon_start ROOT [OPTIONS...]: starts pcipassd on ROOT and waits until it answers.
daemon_start() {
	local root=$1
	shift
	"$PCIPASSD" --sysfs-root "$root" --dev-root "$TMP/dev" --socket "$SOCK" \
		--state-dir "$TMP/state" "$@" 2>>"$TMP/daemon.log" &
	DAEMON_PID=$!
	for _ in $(seq 200); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "# pcipassd did not come up:"
	sed 's/^/#   /' "$TMP/daemon.log"
	return 1
}

# daemon_stop: SIGTERM, and the daemon must exit 0 (a sanitizer report makes it fail).
daemon_stop() {
	local rc=0
	kill -TERM "$DAEMON_PID" && wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	if [ "$rc" -ne 0 ]; then
		echo "# pcipassd exited with $rc:"
		sed 's/^/#   /' "$TMP/daemon.log" | tail -40
	fi
	return "$rc"
}

# extract NAME: unpacks a captured sysfs tree from tests/fixtures; prints its root.
extract() {
	local dir=$TMP/$1
	mkdir -p "$dir" && tar -xzf "$FIXTURES/$1.tar.gz" -C "$dir" && echo "$dir"
}

# wait_for FILE PATTERN: waits (up to 10 s) until a line of FILE matches PATTERN.
wait_for() {
	for _ in $(seq 200); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "# no line matching '$2' in $1:"
	sed 's/^/#   /' "$1" 2>/dev/null | tail -20
	return 1
}

# jq-like extraction with python: json_get EXPR < JSON (EXPR uses 'd' for the document)
json_eval() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# json_each EXPR < JSON-LINES: EXPR for each line (one JSON document per line)
json_each() {
	python3 -c "import json,sys
for line in sys.stdin:
    d = json.loads(line); print($1)"
}
