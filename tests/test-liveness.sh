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
for _ in $(seq 400); do [ -e "$TMP/held" ] && break; sleep 0.05; done
$ABUSE notify "$TMP/notify" "$TMP/notify.log" &
NOTIFY_PID=$!
for _ in $(seq 200); do [ -S "$TMP/notify" ] && break; sleep 0.05; done
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
for _ in $(seq 1200); do [ -e "$TMP/hogged" ] && break; sleep 0.05; done
check_eq "16 uids hold 128 idle connections each; root is served while they hold them all" \
	"$(ctl -j status | json_eval 'd["status"]["devices"] > 0')" "True"
check_eq "…an unprivileged newcomer is told why it is refused" \
	"$(nobody $ABUSE first "$SOCK")" "io.pcipass.TooManyConnections"
kill "$HOG_PID" 2>/dev/null
wait "$HOG_PID" 2>/dev/null
check "pcipassd stops cleanly after the lock-out attempt" daemon_stop

# --- privilege through pid reuse ---------------------------------------------------------------
# In a pid namespace of its own (ns_last_pid), so that a member of SocketGroup= can be given the
# pid of an unprivileged process that connected and left its connection to a child.
check_eq "pid reuse: the connection of an unprivileged process is not privileged by its pid's next owner" \
	"$(unshare --pid --fork --mount-proc $PY "$top_srcdir/tests/pidreuse.py" "$PCIPASSD" "$root" "$TMP/pidreuse" 2>&1)" \
	"io.pcipass.PermissionDenied
io.pcipass.ReadOnly"

finish
