# layout: main
# The daemon killed with SIGKILL in the middle of a group claim (the dual-port NIC, one group),
# then restarted: nothing lost; the group ends viable on vfio-pci or back on its host drivers.
# Last, killed after the claim completed: the claim is adopted and a release still knows
# where each port goes back to.
a=0000:01:00.0 b=0000:01:00.1
check_eq "the two ports share a group" "$(group_of $a)" "$(group_of $b)"
policy 50-dual <<P
[Match]
Address=$a
[Assign]
Driver=vfio-pci
Group=claim
Apply=request
P
for point in override bound done; do
	daemon_start
	pcipassctl claim $a --group >/dev/null 2>&1 &
	i=0
	case $point in
	done) wait $! ;;
	# Spin (bounded: a claim that never gets there must not hang the guest).
	override) i=0; until grep -q vfio-pci /sys/bus/pci/devices/$a/driver_override ||
		[ $((i += 1)) -gt 3000 ]; do :; done ;;
	bound) i=0; until readlink /sys/bus/pci/devices/$a/driver | grep -q vfio-pci ||
		[ $((i += 1)) -gt 3000 ]; do :; done ;;
	esac
	[ "${i:-0}" -le 3000 ] || fail "the claim never reached '$point' (killed anyway)"
	kill -KILL $DAEMON_PID
	wait $DAEMON_PID 2>/dev/null
	DAEMON_PID=
	say "  killed at '$point': $a on $(driver_of $a), $b on $(driver_of $b)"
	daemon_start
	# Settled: no transaction running (the undo is submitted after the socket answers), both
	# ports on a driver.
	check "after a kill at '$point' the daemon settles" wait_for 30 sh -c \
		". /vm/guest-lib.sh; idle && [ -e /sys/bus/pci/devices/$a/driver ] && [ -e /sys/bus/pci/devices/$b/driver ]"
	state="$(driver_of $a) $(driver_of $b)"
	say "  after restart: $state"
	case $state in
	"vfio-pci vfio-pci") pass "kill at '$point': the group ended on vfio-pci"
		check_eq "the kernel: viable" viable "$(vmcheck viable $(group_of $a))" ;;
	"e1000e e1000e") [ $point != done ] && pass "kill at '$point': the group is back on e1000e" ||
		fail "kill at '$point': a finished claim was undone" ;;
	*) fail "kill at '$point': the group is split: $state" ;;
	esac
	kernel_agrees "after a kill at '$point'"
	[ $point = done ] && check "the adopted claim remembers e1000e for both ports" \
		sh -c "[ \$(pcipassctl list | grep -c 'returns-to=e1000e') = 2 ]"
	check "release works afterwards" pcipassctl release $a
	check_eq "both ports on e1000e" "e1000e e1000e" "$(driver_of $a) $(driver_of $b)"
	daemon_stop
done
