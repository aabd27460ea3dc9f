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

# planned VERB ARGS...: the writes `pcipassctl VERB ARGS... --dry-run` prints, in the form
# of pcipassd's --write-log ("PATH VALUE -> ok").
planned() {
	pcipassctl "$@" --dry-run | sed -n 's/^  write \([^ ]*\) ← \(.*\)$/\1 \2 -> ok/p' |
		sed 's/ (newline: clear) -> ok$/ \\n -> ok/'
}
# written: what pcipassd's sysfs layer wrote since the last call, one write a line.
written() { cat $W/writes.log 2>/dev/null; : >$W/writes.log; }

daemon_start() {
	pcipassd --policy-dir $W/policy --write-log $W/writes.log "$@" 2>>$W/pcipassd.log &
	DAEMON_PID=$!
	if ! wait_for 30 pcipassctl status; then
		say "    pcipassd did not come up:"
		sed 's/^/    /' $W/pcipassd.log | tail -30 >$RES
		return 1
	fi
}

# daemon_stop: SIGTERM; it must exit 0 (a sanitizer report makes it fail) within 20 s, or it
# is killed and that is a failure.
daemon_stop() {
	local rc n=200
	[ -n "${DAEMON_PID:-}" ] || return 0
	kill -TERM "$DAEMON_PID"
	while kill -0 "$DAEMON_PID" 2>/dev/null && [ $((n -= 1)) -gt 0 ]; do sleep 0.1; done
	[ "$n" -gt 0 ] || { say "    pcipassd did not exit within 20 s of SIGTERM"; kill -KILL "$DAEMON_PID"; }
	wait "$DAEMON_PID"
	rc=$?
	DAEMON_PID=
	check_eq "pcipassd exits cleanly (0)" 0 "$rc"
	[ "$rc" = 0 ] || sed 's/^/    /' $W/pcipassd.log | tail -40 >$RES
}

# monitor_start FILE: pcipassctl monitor into FILE, once the daemon counts it (MONITOR_PID).
monitor_start() {
	pcipassctl monitor >"$1" 2>&1 &
	MONITOR_PID=$!
	wait_for 10 sh -c 'pcipassctl status | grep -q " 1 monitors"' ||
		say "    the monitor did not register within 10 s"
}

# absent ADDRESS: the daemon answers, and says there is no such function.
absent() {
	pcipassctl show "$1" 2>&1 >/dev/null | grep -q "no PCI function $1"
}

# idle: no transaction running in the daemon.
idle() {
	pcipassctl -j status >$W/status.json && ! vmcheck get status.transaction <$W/status.json
}

# kernel_agrees: for every IOMMU group the kernel can be asked about (a member on vfio), its
# verdict (VFIO_GROUP_GET_STATUS and SET_CONTAINER) equals the daemon's.
# With MIN, at least MIN groups must have a vfio node to compare (after a claim).
kernel_agrees() {
	check "$1: for every group, the daemon's viability is the kernel's" \
		sh -c "pcipassctl -j groups >$W/groups.json && vmcheck compare ${2:-0} <$W/groups.json"
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
	rm -rf /run/pcipass /etc/udev/rules.d/61-pcipass.rules
}

scenario_run() {
	SCENARIO=$1
	rm -rf $W && mkdir -p $W/policy
	say "scenario $SCENARIO"
	# A scenario that dies half-way (a shell error ends the subshell) is a failure, and the
	# daemon it leaves behind must not serve the next one.
	(. /vm/scenarios/"$SCENARIO".sh; : >$W/ran-to-end; daemon_stop)
	[ -e $W/ran-to-end ] || fail "the scenario ran to its end"
	for p in /proc/[0-9]*; do
		[ "$(cat $p/comm 2>/dev/null)" = pcipassd ] || continue
		kill -KILL "${p#/proc/}" && say "    killed a pcipassd left running"
	done
	if grep -q 'ERROR: \(Address\|Undefined\|Leak\)Sanitizer\|runtime error:' $W/*.log 2>/dev/null; then
		fail "sanitizer report"
		grep -h -A20 'Sanitizer\|runtime error:' $W/*.log | head -60 | sed 's/^/    /' >$RES
	fi
	reset_host
}
