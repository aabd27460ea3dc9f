# Helpers for the scenarios, sourced in the guest (busybox sh). Check lines ("ok - …",
# "not ok - …") and diagnostics go to the second serial port, which the host numbers as TAP.
RES=/dev/ttyS1
W=/run/vmtest
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

say() { echo "$*" >$RES; }
pass() { say "ok - $SCENARIO: $*"; }
fail() { say "not ok - $SCENARIO: $*"; }

# check DESCRIPTION COMMAND…: passes when COMMAND succeeds; its output is shown when it fails.
check() {
	local desc=$1
	shift
	if "$@" >$W/out 2>&1; then
		pass "$desc"
	else
		fail "$desc"
		sed 's/^/    /' $W/out | head -40 >$RES
	fi
}

# check_eq DESCRIPTION WANT GOT
check_eq() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1"
		say "    want: $2"
		say "    got:  $3"
	fi
}

driver_of() {
	local l
	l=$(readlink /sys/bus/pci/devices/$1/driver 2>/dev/null) && echo "${l##*/}" || echo none
}
group_of() {
	local l
	l=$(readlink /sys/bus/pci/devices/$1/iommu_group 2>/dev/null) && echo "${l##*/}" || echo none
}

# wait_for SECONDS COMMAND…: polls every 0.1 s.
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		n=$((n - 1))
		sleep 0.1
	done
	return 1
}

# policy NAME: the rule on stdin becomes $W/policy/NAME.policy.
policy() { cat >$W/policy/"$1".policy; }

daemon_start() {
	pcipassd --policy-dir $W/policy "$@" 2>>$W/pcipassd.log &
	DAEMON_PID=$!
	if ! wait_for 30 pcipassctl status; then
		say "    pcipassd did not come up:"
		sed 's/^/    /' $W/pcipassd.log | tail -30 >$RES
		return 1
	fi
}

# daemon_stop: SIGTERM; it must exit 0 (a sanitizer report makes it fail).
daemon_stop() {
	[ -n "${DAEMON_PID:-}" ] || return 0
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID"
	local rc=$?
	DAEMON_PID=
	check_eq "pcipassd exits cleanly (0)" 0 "$rc"
	[ "$rc" = 0 ] || sed 's/^/    /' $W/pcipassd.log | tail -40 >$RES
}

# kernel_agrees: for every IOMMU group the kernel can be asked about (a member on vfio), its
# verdict (VFIO_GROUP_GET_STATUS and SET_CONTAINER) equals the daemon's.
kernel_agrees() {
	pcipassctl -j groups >$W/groups.json &&
		check "$1: for every group, the daemon's viability is the kernel's" \
			sh -c "vmcheck compare <$W/groups.json"
	grep -v 'no vfio node' $W/out | sed 's/^/  /' >$RES
}

# Puts every function back on its host driver and forgets pcipassd's state, so that one
# scenario's leftovers cannot decide the next one.
reset_host() {
	local d o
	for d in /sys/bus/pci/devices/*; do
		[ -w "$d/sriov_numvfs" ] && [ "$(cat "$d/sriov_numvfs")" != 0 ] && echo 0 >"$d/sriov_numvfs"
	done
	for d in /sys/bus/pci/devices/*; do
		o=$(cat "$d/driver_override" 2>/dev/null)
		[ -n "$o" ] && [ "$o" != "(null)" ] || continue
		echo >"$d/driver_override"
		[ -e "$d/driver" ] && echo "${d##*/}" >"$d/driver/unbind"
		echo "${d##*/}" >/sys/bus/pci/drivers_probe
	done
	for d in /sys/bus/pci/devices/*/sriov_drivers_autoprobe; do
		[ -e "$d" ] && echo 1 >"$d"
	done
	rm -rf /run/pcipass /run/udev/rules.d/61-pcipass.rules
}

scenario_run() {
	SCENARIO=$1
	rm -rf $W && mkdir -p $W/policy
	say "scenario $SCENARIO"
	(. /vm/scenarios/"$SCENARIO".sh; daemon_stop)
	if grep -q 'ERROR: \(Address\|Undefined\|Leak\)Sanitizer\|runtime error:' $W/*.log 2>/dev/null; then
		fail "sanitizer report"
		grep -h -A20 'Sanitizer\|runtime error:' $W/*.log | head -60 | sed 's/^/    /' >$RES
	fi
	reset_host
}
