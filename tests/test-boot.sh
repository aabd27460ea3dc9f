#!/bin/bash
# What systemd is told at boot, through a NOTIFY_SOCKET of the test's own and tests/fakekernel:
# READY=1 only once the start-up rules' claims have ended (the GPU and its audio function are
# on vfio-pci when READY=1 arrives), READY=1 at the StartupTimeout= deadline when a step hangs,
# and a STATUS= line that follows claims, stuck steps, blocked groups, leases and policy errors.
. "${top_srcdir:-.}/tests/lib.sh"
enter_netns_mountns "$@"

root=$TMP/sys
M=$TMP/mnt
pol=$TMP/policy
mkdir -p "$pol"
fs() { "$FAKESYS" "$root" "$@" >/dev/null; }

fs init --iommu dmar0
fs add 0000:00:02.0 vendor=0x1234 device=0x1111 class=0x030000 driver=bochs-drm group=1 boot_vga=1
fs add 0000:00:01.0 header=1 driver=pcieport group=3
fs add 0000:01:00.0 parent=0000:00:01.0 vendor=0x10de device=0x2204 class=0x030000 mf=1 \
	driver=nouveau group=2
fs add 0000:01:00.1 parent=0000:00:01.0 vendor=0x10de device=0x1aef class=0x040300 mf=1 \
	driver=snd_hda_intel group=2
fs add 0000:00:03.0 vendor=0x8086 device=0x10d3 driver=e1000e group=4
register vfio-pci
control ""
fakekernel_start "$root" "$M" || { not_ok "fakekernel mounts the tree"; finish; }

# notify_listen: a NOTIFY_SOCKET that records each message pcipassd sends as one line, with
# the drivers of the GPU's two functions as they are when the message arrives.
NOTIFY=$TMP/notify.sock
LOG=$TMP/notify.log
NOTIFY_PID=
notify_listen() {
	: >"$LOG"
	python3 -u - "$NOTIFY" "$LOG" "$M/bus/pci/devices" <<'EOF' &
import os, socket, sys
path, log, devices = sys.argv[1:4]
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
out = open(log, "w", buffering=1)
out.write("listening\n")
def drv(a):
    try:
        return os.path.basename(os.readlink(os.path.join(devices, a, "driver")))
    except OSError:
        return "none"
while True:
    m = s.recv(65536).decode(errors="replace")
    at = "%s %s" % (drv("0000:01:00.0"), drv("0000:01:00.1"))
    for line in m.split("\n"):
        if line:
            out.write("%s [%s]\n" % (line, at))
EOF
	NOTIFY_PID=$!
	wait_until grep -q '^listening$' "$LOG"
}
notify_stop() { [ -n "$NOTIFY_PID" ] && kill "$NOTIFY_PID" && wait "$NOTIFY_PID" 2>/dev/null; NOTIFY_PID=; }
trap 'notify_stop; cleanup' EXIT
# started [OPTIONS...]: pcipassd with the NOTIFY_SOCKET, as systemd starts it.
started() { NOTIFY_SOCKET=$NOTIFY daemon_start "$M" --policy-dir "$pol" --step-timeout 1 "$@"; }
ready_line() { grep '^READY=1' "$LOG" | head -1; }
status_last() { grep '^STATUS=' "$LOG" | tail -1; }
# status_has TEXT: the last STATUS= line contains TEXT.
status_has() { status_last | grep -qF -- "$1"; }
held() { [ "$(cat "$TMP/control.held" 2>/dev/null)" != 0 ] && [ -s "$TMP/control.held" ]; }

# --- READY=1 waits for the start-up claim ---------------------------------------------------
printf '[Match]\nId=10de:*\n[Assign]\nDriver=vfio-pci\n' >"$pol/50-gpu.policy"
: >"$TMP/none.conf"
notify_listen
control "hang unbind 0000:01:00.0 held
"
started --config "$TMP/none.conf" || { not_ok "pcipassd starts"; finish; }
check "the start-up claim of the GPU is under way (its unbind held)" wait_until held
check "…and STATUS= says it is starting, naming the claim" \
	wait_until status_has "Starting: carrying out the start-up rules; 5 PCI functions in 4 IOMMU groups, 0 claimed; IOMMU group 2: claim"
check_eq "…and no READY=1 yet" "$(ready_line)" ""
check "…the step is reported stuck in STATUS= (--step-timeout 1)" \
	wait_until status_has "stuck in 'bus/pci/drivers/nouveau/unbind'"
control ""
check "the held step goes on: READY=1" wait_until grep -q '^READY=1' "$LOG"
check_eq "READY=1 came with both functions of the GPU on vfio-pci" "$(ready_line)" \
	"READY=1 [vfio-pci vfio-pci]"
check_eq "the STATUS= sent with it counts the claim" \
	"$(grep -B1 '^READY=1' "$LOG" | head -1)" \
	"STATUS=5 PCI functions in 4 IOMMU groups, 2 claimed [vfio-pci vfio-pci]"

# --- STATUS= follows what changes -------------------------------------------------------------
ctl release 0000:01:00.0 >/dev/null
check "a release: STATUS= counts 0 claimed" \
	wait_until status_has "5 PCI functions in 4 IOMMU groups, 0 claimed"
printf '[Match]\nId=10de:*\n[Assign\n' >"$pol/60-broken.policy"
kill -HUP "$DAEMON_PID"
check "a refused policy on reload: STATUS= names the error, the last good policy in force" \
	wait_until status_has "; policy refused, the last good one in force: $pol/60-broken.policy:3:"
check "…and the reload is told to systemd (RELOADING=1, then READY=1 again)" \
	wait_until same 2 grep -c '^READY=1' "$LOG"
rm "$pol/60-broken.policy"
kill -HUP "$DAEMON_PID"
check "a good policy again: the error is gone from STATUS=" \
	wait_until status_has "5 PCI functions in 4 IOMMU groups, 0 claimed ["
check "pcipassd stops cleanly" daemon_stop
notify_stop

# --- a group the start-up rules cannot move: READY=1, and STATUS= says why ---------------------
printf '[Match]\nAddress=0000:00:02.0\n[Assign]\nDriver=vfio-pci\n' >"$pol/40-console.policy"
notify_listen
started --config "$TMP/none.conf" || { not_ok "pcipassd starts"; finish; }
check "the console GPU blocked: READY=1 all the same" wait_until grep -q '^READY=1' "$LOG"
check "…and STATUS= names the blocked group and why, the other claim done" \
	status_has "STATUS=5 PCI functions in 4 IOMMU groups, 2 claimed; blocked: IOMMU group 1: 0000:00:02.0 is the boot VGA device: the console would go dark ["
ctl release 0000:01:00.0 >/dev/null
rm "$pol/40-console.policy"
check "pcipassd stops cleanly (blocked)" daemon_stop
notify_stop

# --- a step that hangs: READY=1 at the StartupTimeout= deadline ----------------------------------
printf '[Match]\nId=10de:*\n[Assign]\nDriver=vfio-pci\n' >"$pol/50-gpu.policy"
printf '[Daemon]\nStartupTimeout=2\n' >"$TMP/timeout.conf"
notify_listen
control "hang unbind 0000:01:00.0 held
"
started --config "$TMP/timeout.conf" || { not_ok "pcipassd starts"; finish; }
check "a held claim: READY=1 at the deadline all the same" wait_until grep -q '^READY=1' "$LOG"
check_eq "…while the GPU was still on its host driver" "$(ready_line)" "READY=1 [nouveau snd_hda_intel]"
check "…with STATUS= saying the start-up rules are not carried out, and which claim runs" \
	grep -qF "STATUS=Start-up rules still not carried out at the deadline; 5 PCI functions in 4 IOMMU groups, 0 claimed; IOMMU group 2: claim" "$LOG"
check "…the deadline is in the journal" grep -q "not carried out 2 s after the start: reporting ready anyway" "$TMP/daemon.log"
control ""
check "the step goes on: the claim ends and STATUS= drops the warning" \
	wait_until status_has "STATUS=5 PCI functions in 4 IOMMU groups, 2 claimed ["
check_eq "…and READY=1 was sent once" "$(grep -c '^READY=1' "$LOG")" 1
ctl release 0000:01:00.0 >/dev/null
check "pcipassd stops cleanly (deadline)" daemon_stop
notify_stop

# --- read-only: nothing to carry out, READY=1 at once ----------------------------------------------
notify_listen
started --config "$TMP/none.conf" --read-only || { not_ok "pcipassd starts"; finish; }
check "read-only: READY=1" wait_until grep -q '^READY=1' "$LOG"
check "…STATUS= says read-only" status_has "5 PCI functions in 4 IOMMU groups (read-only), 0 claimed"
check "pcipassd stops cleanly (read-only)" daemon_stop
notify_stop

# --- the journal: one record each, with the fields to search by ---------------------------------
# The daemon's stderr is "the journal's stream" (JOURNAL_STREAM names it), and a datagram socket
# at journald's address, on a tmpfs of this mount namespace, takes the native protocol: what
# pcipassd sends there, field by field (tests/journal-listen.py).
JLOG=$TMP/journal.jsonl
JOURNAL_PID=
made=
# On a host without journald the directories are made, and those removed again at the end.
for d in /run/systemd /run/systemd/journal; do
	[ -d "$d" ] || { mkdir "$d" && made="$d $made"; }
done
mount -t tmpfs tmpfs /run/systemd/journal
python3 -u "${top_srcdir:-.}/tests/journal-listen.py" /run/systemd/journal/socket "$JLOG" &
JOURNAL_PID=$!
journal_stop() {
	[ -n "$JOURNAL_PID" ] && kill "$JOURNAL_PID" && wait "$JOURNAL_PID" 2>/dev/null
	JOURNAL_PID=
	umount /run/systemd/journal 2>/dev/null
	[ -n "$made" ] && rmdir $made 2>/dev/null
	made=
}
trap 'notify_stop; journal_stop; cleanup' EXIT
wait_until test -s "$JLOG"
# records ID: the records with that MESSAGE_ID, one line each.
records() { python3 "${top_srcdir:-.}/tests/journal-listen.py" --show "$JLOG" "$1"; }
CLAIM=7114569848cb41b6a5e58f9aa4f14bb1 RELEASE=a81f8fce63d940edb2e51b20549630f6
APPLY=0e913451e13f4c6c97c6050ad0dfdf3f LEASE=17cd6a5dc6ad40b78897db612f70ea36
FORCED=26203f379bf249a581e753dcd6f7a0d3
printf '[Match]\nId=10de:*\n[Assign]\nDriver=vfio-pci\n' >"$pol/50-gpu.policy"
: >"$TMP/daemon.log"
export JOURNAL_STREAM
JOURNAL_STREAM=$(stat -c %d:%i "$TMP/daemon.log")
started --config "$TMP/none.conf" || { not_ok "pcipassd starts"; finish; }
check "the start-up claim: one record" wait_until same 1 eval 'records $APPLY | wc -l'
check_eq "…with each member's slot and drivers, the rule, and no caller (pcipassd itself)" \
	"$(records $APPLY)" \
	"PRIORITY=5 PCIPASS_ACTION=apply PCIPASS_RESULT=done IOMMU_GROUP=2 PCI_SLOT_NAME=0000:01:00.0,0000:01:00.1 PCIPASS_DRIVER_FROM=nouveau,snd_hda_intel PCIPASS_DRIVER_TO=vfio-pci,vfio-pci PCIPASS_MOVE=0000:01:00.0 nouveau vfio-pci,0000:01:00.1 snd_hda_intel vfio-pci FORCE=0 PCIPASS_RULE=50-gpu.policy"
ctl release 0000:01:00.0 >/dev/null
check_eq "a release: one record, naming its caller" "$(records $RELEASE)" \
	"PRIORITY=5 PCIPASS_ACTION=release PCIPASS_RESULT=done IOMMU_GROUP=2 PCI_SLOT_NAME=0000:01:00.0,0000:01:00.1 PCIPASS_DRIVER_FROM=vfio-pci,vfio-pci PCIPASS_DRIVER_TO=nouveau,snd_hda_intel PCIPASS_MOVE=0000:01:00.0 vfio-pci nouveau,0000:01:00.1 vfio-pci snd_hda_intel FORCE=0 PCIPASS_RULE=request PCIPASS_CALLER_UID=0 PCIPASS_CALLER_COMM=pcipassctl PID"
ctl claim 0000:00:02.0 --force >/dev/null
check_eq "a claim past the boot VGA guard: one forced-guard record" "$(records $FORCED)" \
	"PRIORITY=4 PCIPASS_ACTION=forced IOMMU_GROUP=1 PCI_SLOT_NAME=0000:00:02.0 FORCE=1 PCIPASS_RULE=request PCIPASS_GUARD=boot-vga PCIPASS_CALLER_UID=0 PCIPASS_CALLER_COMM=pcipassctl PID"
check_eq "…and one claim record, FORCE=1" "$(records $CLAIM)" \
	"PRIORITY=5 PCIPASS_ACTION=claim PCIPASS_RESULT=done IOMMU_GROUP=1 PCI_SLOT_NAME=0000:00:02.0 PCIPASS_DRIVER_FROM=bochs-drm PCIPASS_DRIVER_TO=vfio-pci PCIPASS_MOVE=0000:00:02.0 bochs-drm vfio-pci FORCE=1 PCIPASS_RULE=request PCIPASS_CALLER_UID=0 PCIPASS_CALLER_COMM=pcipassctl PID"
ctl release 0000:00:02.0 >/dev/null
ctl lease 0000:00:03.0 --owner vm1 >/dev/null
ctl unlease --owner vm1 >/dev/null
check_eq "a lease: its claim, its grant and its end, one record each" \
	"$(records $CLAIM | tail -1; records $LEASE)" \
	"PRIORITY=5 PCIPASS_ACTION=lease PCIPASS_RESULT=done IOMMU_GROUP=4 PCI_SLOT_NAME=0000:00:03.0 PCIPASS_DRIVER_FROM=e1000e PCIPASS_DRIVER_TO=vfio-pci PCIPASS_MOVE=0000:00:03.0 e1000e vfio-pci FORCE=0 PCIPASS_RULE=request PCIPASS_CALLER_UID=0 PCIPASS_CALLER_COMM=pcipassctl PID
PRIORITY=6 PCIPASS_ACTION=lease-granted IOMMU_GROUP=4 PCI_SLOT_NAME=0000:00:03.0 PCIPASS_OWNER=vm1 PCIPASS_CALLER_UID=0 PCIPASS_CALLER_COMM=pcipassctl PID
PRIORITY=6 PCIPASS_ACTION=lease-ended IOMMU_GROUP=4 PCI_SLOT_NAME=0000:00:03.0 PCIPASS_OWNER=vm1 PCIPASS_REASON=released PCIPASS_CALLER_UID=0 PCIPASS_CALLER_COMM=pcipassctl PID"
check_eq "nothing of them on stderr as well (which is the journal's stream too)" \
	"$(grep -c 'claim done\|release done\|apply done\|forced past\|Lease 0' "$TMP/daemon.log")" 0
check "pcipassd stops cleanly (journal)" daemon_stop
unset JOURNAL_STREAM
journal_stop

check "fakekernel unmounts cleanly" fakekernel_stop
finish
