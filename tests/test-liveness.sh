#!/bin/bash
# pcipassd under hostile and heavy local use: whatever unprivileged clients send, the daemon keeps
# feeding systemd's watchdog and keeps serving root. Waits are for conditions; the one time
# bound is the watchdog's own, as systemd would apply it.
. "${top_srcdir:-.}/tests/lib.sh"
enter_netns "$@"

# The system's python: an unprivileged uid may not reach a per-user installation.
PY=/usr/bin/python3
ABUSE="$PY $top_srcdir/tests/abuse.py"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
chmod 0755 "$TMP"	# the socket is for every local user; the tree stays root's

root=$(extract q35-iommu-claimed)

# --- the watchdog is fed while an unprivileged client pipelines dry runs ------------------------
# WatchdogSec=6: sd-event pings every half of it. A loop held by one client's pipelined calls
# longer than that would have the daemon killed under systemd. A busy host has many open files:
# each dry run's scan of /proc/*/fd (who holds a device node) reads every one of them.
$ABUSE hold 10000 "$TMP/held" &
HOLD_PID=$!
wait_until test -e "$TMP/held"
$ABUSE notify "$TMP/notify" "$TMP/notify.log" &
NOTIFY_PID=$!
wait_until test -S "$TMP/notify"
NOTIFY_SOCKET=$TMP/notify WATCHDOG_USEC=6000000 daemon_start "$root" --read-only ||
	{ not_ok "pcipassd starts"; finish; }
wait_for "$TMP/notify.log" "READY=1" >/dev/null
start=$($ABUSE now)
check_eq "20,000 pipelined dry-run claims by nobody are all answered" \
	"$(nobody $ABUSE pipeline "$SOCK" 20000 io.pcipass.Claim '{"address":"0000:00:03.0","dry_run":true}')" \
	"20000"
end=$($ABUSE now)
gap=$($ABUSE gaps "$TMP/notify.log" "WATCHDOG=1" "$start" "$end")
check "…while WATCHDOG=1 came at most 6 s apart (largest gap: ${gap} s of $($PY -c "print('%.1f' % ($end - $start))") s)" \
	$PY -c "import sys; sys.exit(0 if float('$gap') < 6.0 else 1)"
check "pcipassd stops cleanly" daemon_stop
kill "$NOTIFY_PID" "$HOLD_PID" 2>/dev/null
wait "$NOTIFY_PID" "$HOLD_PID" 2>/dev/null

# --- lock-out: unprivileged uids holding every connection they may ---------------------------
# 16 uids x 128 idle connections: more than all the daemon gives the unprivileged (2,048 less
# the 128 kept for root and SocketGroup=).
daemon_start "$root" --read-only || { not_ok "pcipassd starts"; finish; }
$ABUSE hog "$SOCK" 16 128 "$TMP/hogged" &
HOG_PID=$!
wait_until test -e "$TMP/hogged"
check_eq "16 uids hold 128 idle connections each; root is served while they hold them all" \
	"$(ctl -j status | json_eval 'd["status"]["devices"] > 0')" "True"
check_eq "…an unprivileged newcomer is told why it is refused" \
	"$(nobody $ABUSE first "$SOCK")" "io.pcipass.TooManyConnections"
kill "$HOG_PID" 2>/dev/null
wait "$HOG_PID" 2>/dev/null
check "pcipassd stops cleanly after the lock-out attempt" daemon_stop

# --- readers that do not read: unread List replies and Monitor events --------------------------
# 4,096 functions: a List reply is 2.5 MB, a Monitor's initial events 3 MB. With a 16 MiB budget
# for the unprivileged, 8 Monitors by 8 uids that never read cannot all queue their events, and
# 16 List calls behind them wait; root is served all along, and once the readers read, every
# List is answered whole and every Monitor either follows or was told why it was dropped.
big=$TMP/big
"$FAKESYS" "$big" init --iommu dmar0 >/dev/null
"$FAKESYS" "$big" gen 4096 >/dev/null
printf '[Daemon]\nClientBuffers=16M\n' >"$TMP/small.conf"
daemon_start "$big" --read-only --config "$TMP/small.conf" || { not_ok "pcipassd starts"; finish; }
n=$(ctl -j list | json_eval 'len(d["devices"])')
$ABUSE stall "$SOCK" 8 1 '{"method":"io.pcipass.Monitor","parameters":{"initial":true},"more":true}' \
	"$n" "$TMP/mon.ready" "$TMP/go" "$TMP/mon.out" &
wait_until test -e "$TMP/mon.ready"
$ABUSE stall "$SOCK" 8 2 '{"method":"io.pcipass.List"}' 0 "$TMP/list.ready" "$TMP/go" "$TMP/list.out" &
wait_until test -e "$TMP/list.ready"
check "unprivileged clients that do not read fill their 16 MiB of buffers" \
	wait_until same True status_eval 'd["status"]["unprivileged_client_buffers"] >= 16 << 20'
check_eq "root is served meanwhile: a List of all $n functions" \
	"$(ctl -j list | json_eval 'len(d["devices"])')" "$n"
check "…and the unprivileged hold no more than the budget, one reply and one read (24 MiB): $(status_eval 'd["status"]["unprivileged_client_buffers"] >> 10') KiB" \
	same True status_eval 'd["status"]["unprivileged_client_buffers"] <= 24 << 20'
touch "$TMP/go"
wait_until test -e "$TMP/list.out"
wait_until test -e "$TMP/mon.out"
check_eq "once they read, each of the 16 List calls is answered, whole" \
	"$(sort "$TMP/list.out" | uniq -c | xargs)" "16 reply:$n"
check_eq "…each Monitor follows or ends in io.pcipass.MonitorOverflow" \
	"$(sort -u "$TMP/mon.out" | grep -vx 'following\|io.pcipass.MonitorOverflow')" ""
check "…at least one of them did: the 8 could not all queue 3 MB ($(sort "$TMP/mon.out" | uniq -c | xargs))" \
	grep -qx io.pcipass.MonitorOverflow "$TMP/mon.out"
check_eq "…8 in all" "$(wc -l <"$TMP/mon.out")" "8"
check_eq "afterwards nothing is held for them" \
	"$(status_eval 'd["status"]["unprivileged_client_buffers"]')" "0"
check "pcipassd stops cleanly" daemon_stop

# --- privilege through pid reuse ---------------------------------------------------------------
# In a pid namespace of its own (ns_last_pid), so that a member of SocketGroup= can be given the
# pid of an unprivileged process that connected and left its connection to a child.
check_eq "pid reuse: the connection of an unprivileged process is not privileged by its pid's next owner" \
	"$(unshare --pid --fork --mount-proc $PY "$top_srcdir/tests/pidreuse.py" "$PCIPASSD" "$root" "$TMP/pidreuse" 2>&1)" \
	"io.pcipass.PermissionDenied
io.pcipass.ReadOnly"

finish
