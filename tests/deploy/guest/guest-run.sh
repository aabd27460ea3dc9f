#!/bin/bash
# Runs in the deploy guest (deploy-scenario.service, as root, after multi-user.target): sources
# /root/deploy/scenario.sh and calls its function bootN, N from deploy.boot=N on the kernel
# command line, then powers the guest off. Check lines and diagnostics go to the second serial
# port, which run-deploy.sh reads and numbers as TAP:
#   ok - bootN: DESCRIPTION | not ok - bootN: DESCRIPTION | # diagnostic
#   @start UPTIME           | @done N   (the scenario began, and ended)
set -u
BOOT=$(sed -n 's/.*\bdeploy\.boot=\([0-9]*\).*/\1/p' /proc/cmdline)
# shellcheck disable=SC2034 # for the scenarios
DEB=/root/pcipass.deb
exec 3>/dev/ttyS1

say() { printf '%s\n' "$*" >&3; echo "$*"; }
note() { say "# $*"; }
pass() { say "ok - boot$BOOT: $*"; }
fail() { say "not ok - boot$BOOT: $*"; }

# check DESCRIPTION COMMAND…: passes when COMMAND succeeds; its output is shown when it fails.
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$desc"
	else
		fail "$desc"
		printf '%s\n' "$out" | tail -n 40 | sed 's/^/#     /' >&3
	fi
}

# wait_for SECONDS COMMAND…: polls every 0.2 s until COMMAND succeeds.
wait_for() {
	local n=$(($1 * 5))
	shift
	until "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.2
	done
}

say "@start $(cut -d' ' -f1 /proc/uptime)"
# shellcheck source=/dev/null
. /root/deploy/scenario.sh
if [ -n "$BOOT" ] && declare -F "boot$BOOT" >/dev/null; then
	"boot$BOOT"
else
	fail "the scenario has a function boot$BOOT"
fi
failed=$(systemctl list-units --failed --plain --no-legend | cut -d' ' -f1 | tr '\n' ' ')
[ -z "$failed" ] || note "failed units: $failed"
sync
say "@done $BOOT"
systemctl --no-block poweroff
