# Shared by the integration tests (sourced). Prints TAP: "ok N - name" / "not ok N - name",
# then the plan at the end. The tests start the real pcipassd on synthetic or captured sysfs
# trees, never on this machine's /sys, and drive it with the real pcipassctl.

: "${top_builddir:=.}" "${top_srcdir:=.}"
PCIPASSD=$top_builddir/daemon/pcipassd
PCIPASSCTL=$top_builddir/client/pcipassctl
FAKESYS=$top_builddir/tests/fakesys
FAKEKERNEL=$top_builddir/tests/fakekernel
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
		rm -rf "$TMP"	# exec skips the EXIT trap; the new process makes its own
		PCIPASS_TEST_NETNS=1 exec unshare -n "$0" "$@"
		skip_all "unshare -n failed"
	fi
}

# Like enter_netns, in a private mount namespace too: what the test mounts there (bind mounts,
# tests/fakekernel's FUSE tree) disappears with it.
enter_mountns_netns() {
	if [ -z "${PCIPASS_TEST_NETNS:-}" ]; then
		[ "$(id -u)" -eq 0 ] || skip_all "needs root for private mount and network namespaces (unshare -m -n)"
		rm -rf "$TMP"	# exec skips the EXIT trap; the new process makes its own
		PCIPASS_TEST_NETNS=1 exec unshare -m -n "$0" "$@"
		skip_all "unshare -m -n failed"
	fi
}

# The same for a test that needs tests/fakekernel: skips (77) when it was not built
# (configure found no libfuse3) or /dev/fuse is missing.
enter_netns_mountns() {
	if [ -z "${PCIPASS_TEST_NETNS:-}" ]; then
		[ -x "$FAKEKERNEL" ] ||
			skip_all "tests/fakekernel not built: configure found no libfuse3 (apt-get install libfuse3-dev fuse3)"
		[ -c /dev/fuse ] || skip_all "no /dev/fuse for tests/fakekernel"
	fi
	enter_mountns_netns "$@"
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pcipass-test.XXXXXX")
SOCK=$TMP/io.pcipass
DAEMON_PID=
FK_PID=
FK_MNT=
cleanup() {
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
	[ -n "$FK_PID" ] && kill "$FK_PID" 2>/dev/null && wait "$FK_PID" 2>/dev/null
	[ -n "$UEVENT_PID" ] && kill "$UEVENT_PID" 2>/dev/null && wait "$UEVENT_PID" 2>/dev/null
	[ -n "$FK_MNT" ] && umount -l "$FK_MNT" 2>/dev/null
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
	local deadline=$((SECONDS + 60))
	while [ "$SECONDS" -lt "$deadline" ]; do
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

# register NAME: a driver in the tree at $root (bind, unbind, new_id, remove_id), which
# tests/fakekernel then binds as the kernel would. drv ADDRESS: the driver bound to the
# function in the fakekernel mount at $M, or "none".
register() {
	mkdir -p "$root/bus/pci/drivers/$1"
	for f in bind unbind new_id remove_id; do install -m 0200 /dev/null "$root/bus/pci/drivers/$1/$f"; done
}
drv() { local l; l=$(readlink "$M/bus/pci/devices/$1/driver") && basename "$l" || echo none; }

# gpu_host [NUMA]: the GPU host of the lease tests, in the tree at $root: the console GPU
# (boot VGA, group 1), two GPUs each with its HDMI audio function (group 2 behind a root port
# of its group, group 3 on NUMA node NUMA when given), a NIC (group 4); vfio-pci registered.
gpu_host() {
	local numa=${1:+numa=$1} f=("$FAKESYS" "$root" add)

	"${f[@]}" 0000:00:02.0 vendor=0x1234 device=0x1111 class=0x030000 driver=bochs-drm group=1 boot_vga=1 &&
	"${f[@]}" 0000:00:01.0 header=1 driver=pcieport group=2 &&
	"${f[@]}" 0000:01:00.0 parent=0000:00:01.0 vendor=0x10de device=0x2204 class=0x030000 mf=1 \
		driver=nouveau group=2 &&
	"${f[@]}" 0000:01:00.1 parent=0000:00:01.0 vendor=0x10de device=0x1aef class=0x040300 mf=1 \
		driver=snd_hda_intel group=2 &&
	"${f[@]}" 0000:02:00.0 vendor=0x10de device=0x2204 class=0x030000 mf=1 driver=nouveau group=3 $numa &&
	"${f[@]}" 0000:02:00.1 vendor=0x10de device=0x1aef class=0x040300 mf=1 driver=snd_hda_intel \
		group=3 $numa &&
	"${f[@]}" 0000:00:03.0 vendor=0x8086 device=0x10d3 driver=e1000e group=4 >/dev/null &&
	register vfio-pci
} >/dev/null

# gpu_pool_policy DIR [keep]: every GPU in Pool=gpu, each group to vfio-pci as a whole at
# request, back to the host after a lease; with keep, the second GPU (0000:02:00.*) by a rule
# of its own that keeps it on vfio-pci after a lease.
gpu_pool_policy() {
	[ "${2:-}" = keep ] && cat >"$1/40-gpu-kept.policy" <<'EOF'
[Match]
Address=0000:02:00.*
[Assign]
Driver=vfio-pci
Group=claim
Apply=request
Pool=gpu
AfterLease=keep
EOF
	cat >"$1/50-gpu.policy" <<'EOF'
[Match]
Class=0x030000/0xff0000
[Assign]
Driver=vfio-pci
Group=claim
Apply=request
Pool=gpu
AfterLease=release
EOF
}

# extract NAME: unpacks a captured sysfs tree from tests/fixtures; prints its root.
extract() {
	local dir=$TMP/$1
	mkdir -p "$dir" && tar -xzf "$FIXTURES/$1.tar.gz" -C "$dir" && echo "$dir"
}

# wait_until CMD [ARGS...]: runs it until it succeeds, for up to 60 s (a deadline that fails
# a broken test, not a measure of speed); returns 1 if it never did.
wait_until() {
	local deadline=$((SECONDS + 60))

	until "$@" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# same VALUE CMD [ARGS...]: whether CMD prints VALUE.
same() { [ "$("${@:2}")" = "$1" ]; }
# status_eval EXPR: EXPR of the daemon's GetStatus reply, as json_eval prints it.
status_eval() { ctl -j status | json_eval "$1"; }

# wait_for FILE PATTERN: waits (up to 60 s) until a line of FILE matches PATTERN.
wait_for() {
	local deadline=$((SECONDS + 60))

	until grep -q -- "$2" "$1" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || break
		sleep 0.05
	done
	grep -q -- "$2" "$1" 2>/dev/null && return 0
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

# fakekernel_start BACKING MOUNTPOINT [OPTIONS...]: serves the fakesys tree BACKING at
# MOUNTPOINT through tests/fakekernel, with device nodes in $TMP/dev (the daemon's --dev-root
# in daemon_start), rules from $TMP/control and uevents on; waits for the mount. Needs
# enter_netns_mountns. Its stderr goes to $TMP/fakekernel.log.
fakekernel_start() {
	local backing=$1 mnt=$2
	shift 2
	mkdir -p "$mnt" "$TMP/dev"
	"$FAKEKERNEL" "$backing" "$mnt" --dev-root "$TMP/dev" --control "$TMP/control" --uevents \
		"$@" 2>>"$TMP/fakekernel.log" &
	FK_PID=$!
	FK_MNT=$mnt
	local deadline=$((SECONDS + 60))
	while [ "$SECONDS" -lt "$deadline" ]; do
		mountpoint -q "$mnt" && [ -e "$mnt/bus/pci" ] && return 0
		kill -0 "$FK_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "# fakekernel did not come up:"
	sed 's/^/#   /' "$TMP/fakekernel.log"
	return 1
}

# fakekernel_stop: SIGTERM; fakekernel must unmount and exit 0.
fakekernel_stop() {
	local rc=0
	kill -TERM "$FK_PID" && wait "$FK_PID" || rc=$?
	FK_PID=
	if [ "$rc" -ne 0 ]; then
		echo "# fakekernel exited with $rc:"
		sed 's/^/#   /' "$TMP/fakekernel.log" | tail -40
	fi
	return "$rc"
}

# control LINES: replaces tests/fakekernel's rules ($TMP/control), its write log ($TMP/writes)
# always on. Renamed into place: fakekernel re-reads the file at every write, and must never
# see it half-written (a write in that moment would go unlogged).
control() {
	printf 'log %s\n%s' "$TMP/writes" "$*" >"$TMP/control.new" && mv -f "$TMP/control.new" "$TMP/control"
}
# writes: the writes fakekernel logged since the last call, "|"-joined.
writes() { [ -f "$TMP/writes" ] && paste -sd'|' "$TMP/writes"; : >"$TMP/writes"; }

# kwrite PATH VALUE: one write(2) of VALUE to PATH, as the daemon writes; prints "ok" or the
# errno's name (ENODEV, EBUSY, ...).
kwrite() {
	python3 - "$1" "$2" <<'EOF'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY)
    try:
        os.write(fd, sys.argv[2].encode())
    finally:
        os.close(fd)
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
}

# kread PATH: reads PATH to its end, as the daemon reads a binary attribute; prints the byte
# count, or the errno's name of the open or a read (EINVAL, EIO, ...).
kread() {
	python3 - "$1" <<'EOF'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
    n = 0
    try:
        while True:
            b = os.read(fd, 1 << 16)
            if not b:
                break
            n += len(b)
    finally:
        os.close(fd)
    print(n)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
}

# uevent_listen FILE: records every udev-format uevent of this network namespace in FILE, one
# line each: "ACTION SUBSYSTEM DEVPATH" and DRIVER=, DEVNAME= when the event has them (as a
# libudev monitor gets them, before any filter). Stopped by the EXIT trap.
UEVENT_PID=
uevent_listen() {
	python3 -u - "$1" <<'EOF' &
import socket, struct, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 15)  # NETLINK_KOBJECT_UEVENT
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind((0, 2))  # the "udev" multicast group
out = open(sys.argv[1], "w", buffering=1)
out.write("listening\n")
while True:
    m = s.recv(65536)
    if not m.startswith(b"libudev\0"):
        continue
    off, n = struct.unpack_from("=II", m, 16)
    p = dict(kv.split("=", 1) for kv in m[off:off + n].decode().split("\0") if "=" in kv)
    extra = "".join(" %s=%s" % (k, p[k]) for k in ("DRIVER", "DEVNAME") if k in p)
    out.write("%s %s %s%s\n" % (p.get("ACTION"), p.get("SUBSYSTEM"), p.get("DEVPATH"), extra))
EOF
	UEVENT_PID=$!
	wait_until grep -q '^listening$' "$1"
}
