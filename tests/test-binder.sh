#!/bin/bash
# Claim and release for real, through tests/fakekernel (a FUSE sysfs answering writes as the
# kernel does): the exact writes, the resulting driver links and device nodes, the journal,
# rollback when any step fails, a hung step, kill -9 in the middle of a claim, start-up and
# hotplug application of the policy, and who may do what.
. "${top_srcdir:-.}/tests/lib.sh"
enter_netns_mountns "$@"

root=$TMP/sys
M=$TMP/mnt
pol=$TMP/policy
mkdir -p "$pol"
fs() { "$FAKESYS" "$root" "$@" >/dev/null; }
ovr() { cat "$M/bus/pci/devices/$1/driver_override"; }
claims() { python3 -c "import json; print(sorted(c['address'] + '>' + (c['original_driver'] or '-') for c in json.load(open('$TMP/state/claims.json'))['claims']))"; }
inflight() { python3 -c "import json; print('inflight' in json.load(open('$TMP/state/claims.json')))"; }
# planned VERB ARGS...: the writes `VERB ARGS... --dry-run` promises, as fakekernel logs them
planned() { ctl -j "$@" --dry-run | python3 "${top_srcdir:-.}/tests/plan-writes.py" --fakekernel | paste -sd'|'; }
# status_step: the step the running transaction is in ("" when none runs)
status_step() { ctl -j status | json_eval '(d["status"]["transaction"] or {}).get("step") or ""'; }
wait_step() { wait_until same "$1" status_step; }
# wait_idle: until nothing runs and nothing waits (the start-up rules have been carried out).
wait_idle() { wait_until same "(0, None)" status_eval '(d["status"]["queued"], d["status"]["transaction"])'; }
# wait_queued N: until N requests wait behind the running one (GetStatus "queued").
wait_queued() { wait_until same "$1" status_eval 'd["status"]["queued"]'; }

fs init --iommu dmar0
fs add 0000:00:01.0 header=1 driver=pcieport group=1
fs add 0000:01:00.0 parent=0000:00:01.0 vendor=0x10de device=0x2204 class=0x030000 mf=1 \
	driver=nouveau group=2 boot_vga=1
fs add 0000:01:00.1 parent=0000:00:01.0 vendor=0x10de device=0x1aef class=0x040300 mf=1 \
	driver=snd_hda_intel group=2
fs add 0000:00:02.0 vendor=0x8086 device=0x1521 driver=igb group=3 totalvfs=4
fs add 0000:00:03.0 vendor=0x8086 device=0x10d3 driver=e1000e group=4
fs add 0000:00:04.0 vendor=0x8086 device=0x10d3 driver=e1000e group=5
fs add 0000:00:07.0 vendor=0x8086 device=0x1533 driver=igb group=8
fs add 0000:00:09.0 vendor=0x8086 device=0x1533 driver=igb group=10 pin=0
register vfio-pci
register uio_pci_generic
register igb_uio
register igbvf
control "vfhost 0000:00:02.0 igbvf
"
fakekernel_start "$root" "$M" || { not_ok "fakekernel mounts the tree"; finish; }
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" --step-timeout 1 ||
	{ not_ok "pcipassd starts"; finish; }
writes >/dev/null

# --- one NIC, claimed and released ------------------------------------------------------------
# Every claim and release below is first asked with --dry-run: what it printed must be exactly
# the writes fakekernel then saw, in order.
# list_of ADDRESS: what List (its texts kept between calls) says of ADDRESS: driver, claim.
list_of() { ctl -j list | json_eval '[(x["driver"], (x["claim"] or {}).get("original_driver")) for x in d["devices"] if x["address"] == "'"$1"'"][0]'; }
check_eq "list before the claim" "$(list_of 0000:00:03.0)" "('e1000e', None)"
plan=$(planned claim 0000:00:03.0)
out=$(ctl claim 0000:00:03.0)
check_eq "claim of a NIC: one transaction, e1000e → vfio-pci" "$out" \
	"Claimed IOMMU group 4: 0000:00:03.0 e1000e → vfio-pci"
w=$(writes)
check_eq "claim: exactly override, unbind, drivers_probe" "$w" \
	'driver_override 0000:00:03.0 vfio-pci -> ok|unbind e1000e 0000:00:03.0 -> ok|drivers_probe pci 0000:00:03.0 -> ok'
check_eq "claim: the writes are the dry run's steps" "$w" "$plan"
check_eq "claim: the driver link is vfio-pci and /dev/vfio/4 exists" \
	"$(drv 0000:00:03.0) $([ -e "$TMP/dev/vfio/4" ] && echo node)" "vfio-pci node"
check_eq "claim: journaled with the driver it returns to" "$(claims)" "['0000:00:03.0>e1000e']"
check "list shows where a release returns it" \
	bash -c "'$PCIPASSCTL' --socket '$SOCK' list | grep -q '^0000:00:03.0 .*vfio-pci .*claimed, returns-to=e1000e'"
check_eq "…and -j list: its driver and claim, not the text kept from before" "$(list_of 0000:00:03.0)" \
	"('vfio-pci', 'e1000e')"
check_eq "claim again: nothing to do" "$(ctl claim 0000:00:03.0)" "Nothing to do: already in place."

check_eq "show: the VFIO view, free" \
	"$(ctl -j show 0000:00:03.0 | json_eval '(d["device"]["vfio"]["group_node"] == "'"$TMP"'/dev/vfio/4", d["device"]["vfio"]["in_use"])')" \
	"(True, False)"
exec 9<"$TMP/dev/vfio/4"
check_eq "show: the VFIO view, held open" \
	"$(ctl -j show 0000:00:03.0 | json_eval '(d["device"]["vfio"]["in_use"], "/dev/vfio/4 open by pid" in d["device"]["vfio"]["open_by"])')" \
	"(True, True)"
ctl release 0000:00:03.0 >/dev/null 2>"$TMP/err"
check_eq "release while /dev/vfio/4 is open: refused (exit 1)" "$?" "1"
check "release while open: says the node is open, by whom" grep -q "device-open: .*/dev/vfio/4 open by pid [0-9]" "$TMP/err"
exec 9<&-
# A QEMU of another user holding it: named by uid and by its guest.
chmod 0755 "$TMP" "$TMP/dev" "$TMP/dev/vfio"
chmod 0666 "$TMP/dev/vfio/4"
setpriv --reuid=64055 --regid=64055 --clear-groups /usr/bin/python3 -c '
import ctypes, sys, time
ctypes.CDLL(None).prctl(15, b"qemu-system-x86", 0, 0, 0)	# PR_SET_NAME
f = open(sys.argv[1]); print("open", flush=True); time.sleep(600)' "$TMP/dev/vfio/4" \
	-name guest=win11,debug-threads=on >"$TMP/qemu.out" &
qemu=$!
wait_until same "open" cat "$TMP/qemu.out"
ctl release 0000:00:03.0 >/dev/null 2>"$TMP/err"
check "release while another user's QEMU holds it: refused, naming its uid and guest" \
	grep -q "/dev/vfio/4 open by pid $qemu (qemu-system-x86, uid 64055, guest win11)" "$TMP/err"
kill "$qemu"
wait "$qemu" 2>/dev/null
chmod 0600 "$TMP/dev/vfio/4"
rm -f "$TMP/qemu.out"
writes >/dev/null
plan=$(planned release 0000:00:03.0)
check_eq "release: back to e1000e" "$(ctl release 0000:00:03.0)" \
	"Released IOMMU group 4: 0000:00:03.0 vfio-pci → e1000e"
w=$(writes)
check_eq "release: override cleared, unbind, drivers_probe" "$w" \
	'driver_override 0000:00:03.0 \n -> ok|unbind vfio-pci 0000:00:03.0 -> ok|drivers_probe pci 0000:00:03.0 -> ok'
check_eq "release: the writes are the dry run's steps" "$w" "$plan"
check "release --dry-run shows the module of the driver it returns to" \
	bash -c "'$PCIPASSCTL' --socket '$SOCK' claim 0000:00:03.0 >/dev/null && '$PCIPASSCTL' --socket '$SOCK' release 0000:00:03.0 --dry-run | grep -qx '  load module e1000e' && '$PCIPASSCTL' --socket '$SOCK' release 0000:00:03.0 >/dev/null"
writes >/dev/null
check_eq "release: driver e1000e, override unset, node gone, claim forgotten" \
	"$(drv 0000:00:03.0) $(ovr 0000:00:03.0) $([ -e "$TMP/dev/vfio/4" ] && echo node) $(claims)" \
	"e1000e (null)  []"
check_eq "…and -j list says so" "$(list_of 0000:00:03.0)" "('e1000e', None)"

# --- several addresses in one call ------------------------------------------------------------
writes >/dev/null
out=$(ctl claim 0000:00:03.0 0000:00:04.0)
check_eq "claim of two NICs in one call: two transactions, in order" "$out" \
	"Claimed IOMMU group 4: 0000:00:03.0 e1000e → vfio-pci
Claimed IOMMU group 5: 0000:00:04.0 e1000e → vfio-pci"
check_eq "…both on vfio-pci, both journaled" "$(drv 0000:00:03.0) $(drv 0000:00:04.0) $(claims)" \
	"vfio-pci vfio-pci ['0000:00:03.0>e1000e', '0000:00:04.0>e1000e']"
ctl release 0000:00:03.0 >/dev/null
check_eq "-j: one object with a reply each" \
	"$(ctl -j claim 0000:00:03.0 0000:00:04.0 | json_eval '[len(c["transactions"]) for c in d["claims"]]')" "[1, 0]"
ctl release 0000:00:03.0 >/dev/null
ctl release 0000:00:04.0 >/dev/null
ctl claim 0000:00:03.0 0000:01:00.0 0000:00:04.0 >/dev/null 2>"$TMP/err"
check_eq "the first that fails (the boot GPU) ends it: exit 1" "$?" "1"
check "…saying what was claimed before it" grep -q "stopped at 0000:01:00.0; 1 before it was claimed" "$TMP/err"
check_eq "…and the rest is left alone" "$(drv 0000:00:03.0) $(drv 0000:00:04.0)" "vfio-pci e1000e"
ctl release 0000:00:03.0 >/dev/null
writes >/dev/null

# --- uio_pci_generic, followed on Monitor ------------------------------------------------------
ctl -j monitor >"$TMP/monitor.json" 2>&1 &
mon=$!
wait_until same 1 status_eval 'd["status"]["monitors"]'
writes >/dev/null
plan=$(planned claim 0000:00:07.0 --driver uio_pci_generic)
ctl claim 0000:00:07.0 --driver uio_pci_generic >/dev/null
check_eq "uio claim: the writes are the dry run's steps" "$(writes)" "$plan"
wait_until grep -q '"progress":"done"' "$TMP/monitor.json"
kill "$mon"
wait "$mon" 2>/dev/null
check_eq "Monitor streams the claim's progress: each step, then done" \
	"$(json_each 'd["event"]["progress"] + " " + (d["event"]["transaction"].get("step") or d["event"]["transaction"]["state"]) if d["event"]["action"] == "transaction" else ""' <"$TMP/monitor.json" | grep . | paste -sd'|')" \
	"step load module uio_pci_generic|step write bus/pci/devices/0000:00:07.0/driver_override uio_pci_generic|step write bus/pci/drivers/igb/unbind 0000:00:07.0|step write bus/pci/drivers_probe 0000:00:07.0|done done"
check_eq "claim to uio_pci_generic: driver link and /dev/uio0" \
	"$(drv 0000:00:07.0) $(ls "$TMP/dev" | grep uio)" "uio_pci_generic uio0"
check_eq "show: the UIO view (device, name, version, interrupt count)" \
	"$(ctl -j show 0000:00:07.0 | json_eval '[d["device"]["uio"][k] for k in ("device", "name", "version", "event_count", "node_exists")]')" \
	"['uio0', 'uio_pci_generic', '0.01.0', 0, True]"
plan=$(planned release 0000:00:07.0)
check_eq "uio release: back to igb" "$(ctl release 0000:00:07.0 >/dev/null; drv 0000:00:07.0)" "igb"
check_eq "uio release: the writes are the dry run's steps" "$(writes)" "$plan"

# --- the GPU and its audio function -----------------------------------------------------------
writes >/dev/null
ctl claim 0000:01:00.0 >/dev/null 2>"$TMP/err"
check_eq "GPU alone: refused (exit 1)" "$?" "1"
check "GPU alone: the group would not be viable, naming the audio function" \
	grep -q "group-not-viable: .*0000:01:00.1 is bound to snd_hda_intel" "$TMP/err"
check "GPU alone: the boot VGA guard, --force overrides" grep -q "boot-vga: .*(--force overrides)" "$TMP/err"
check "GPU alone: the remedy in command-line words (--group), not the policy key" \
	bash -c "grep -q 'claim the whole group: pcipassctl claim --group' '$TMP/err' && ! grep -q 'Group=claim' '$TMP/err'"
check_eq "GPU refused: nothing was written" "$(writes)" ""
ctl claim 0000:01:00.0 --group >/dev/null 2>"$TMP/err"
check "GPU --group without --force: still the boot VGA" grep -q "boot-vga" "$TMP/err"
writes >/dev/null
plan=$(planned claim 0000:01:00.0 --group --force)
check_eq "GPU --group --force: both functions move, in one transaction" \
	"$(ctl claim 0000:01:00.0 --group --force)" \
	"Claimed IOMMU group 2: 0000:01:00.0 nouveau → vfio-pci, 0000:01:00.1 snd_hda_intel → vfio-pci"
check_eq "GPU group claim: the writes are the dry run's steps" "$(writes)" "$plan"
check_eq "GPU group: both on vfio-pci, /dev/vfio/2" \
	"$(drv 0000:01:00.0) $(drv 0000:01:00.1) $([ -e "$TMP/dev/vfio/2" ] && echo node)" "vfio-pci vfio-pci node"
check "the forced guard is logged with the device" grep -q "forced past 0000:01:00.0 (10de:2204, group 2, rule request, by uid 0 pid [0-9]* (pcipassctl)): .*boot VGA" "$TMP/daemon.log"
plan=$(planned release 0000:01:00.1)
check_eq "GPU release: the group goes back, each to its driver" \
	"$(ctl release 0000:01:00.1)" \
	"Released IOMMU group 2: 0000:01:00.0 vfio-pci → nouveau, 0000:01:00.1 vfio-pci → snd_hda_intel"
check_eq "GPU group release: the writes are the dry run's steps" "$(writes)" "$plan"

# --- a failing step rolls the group back ------------------------------------------------------
writes >/dev/null
plan=$(planned claim 0000:01:00.0 --group --force)
control "fail drivers_probe 0000:01:00.1 EIO once
"
ctl claim 0000:01:00.0 --group --force >/dev/null 2>"$TMP/err"
check_eq "second member's probe fails: exit 1" "$?" "1"
check_eq "the error names the member, the step and the errno" "$(cat "$TMP/err")" \
	"pcipassctl: claim of IOMMU group 2 failed at 0000:01:00.1, write bus/pci/drivers_probe 0000:01:00.1: Input/output error (EIO); the group was put back as it was"
check_eq "rollback: both back on their drivers, overrides cleared, nothing journaled" \
	"$(drv 0000:01:00.0) $(drv 0000:01:00.1) $(ovr 0000:01:00.0) $(ovr 0000:01:00.1) $(claims)" \
	"nouveau snd_hda_intel (null) (null) []"
w=$(writes)
check_eq "rollback: the writes, in order" "$w" \
	'driver_override 0000:01:00.0 vfio-pci -> ok|unbind nouveau 0000:01:00.0 -> ok|drivers_probe pci 0000:01:00.0 -> ok|driver_override 0000:01:00.1 vfio-pci -> ok|unbind snd_hda_intel 0000:01:00.1 -> ok|drivers_probe pci 0000:01:00.1 -> EIO|driver_override 0000:01:00.1 \n -> ok|drivers_probe pci 0000:01:00.1 -> ok|driver_override 0000:01:00.0 \n -> ok|unbind vfio-pci 0000:01:00.0 -> ok|drivers_probe pci 0000:01:00.0 -> ok'
check_eq "rollback: up to the failure, the writes are the dry run's steps" \
	"$(echo "$w" | cut -d'|' -f1-6 | sed 's/-> EIO$/-> ok/')" "$plan"

for step in driver_override unbind; do
	control "fail $step 0000:00:03.0 EBUSY
"
	ctl claim 0000:00:03.0 >/dev/null 2>"$TMP/err"
	check_eq "$step fails with EBUSY: reported, and 00:03.0 stays on e1000e, override unset" \
		"$(grep -c "EBUSY" "$TMP/err") $(drv 0000:00:03.0) $(ovr 0000:00:03.0)" "1 e1000e (null)"
done
# drivers_probe reporting success proves nothing, the link does: uio_pci_generic refuses a
# function that cannot mask INTx, and the kernel's drivers_probe still says "ok".
control "nointx 0000:00:07.0
"
ctl claim 0000:00:07.0 --driver uio_pci_generic >/dev/null 2>"$TMP/err"
check_eq "probe 'succeeds' but uio_pci_generic refused the device: verify catches it" "$(cat "$TMP/err")" \
	"pcipassctl: claim of IOMMU group 8 failed at 0000:00:07.0, verify: 0000:00:07.0 is unbound after the probe, not on uio_pci_generic (EIO); the group was put back as it was"
check_eq "…and it is back on igb" "$(drv 0000:00:07.0) $(ovr 0000:00:07.0)" "igb (null)"
control ""
writes >/dev/null
# A function without a legacy interrupt (pin 0) is refused for uio_pci_generic up front.
ctl claim 0000:00:09.0 --driver uio_pci_generic >/dev/null 2>"$TMP/err"
check_eq "uio_pci_generic for a function with interrupt pin 0: refused (exit 1), nothing written" \
	"$?:$(writes)" "1:"
check "…saying why" grep -q "intx-unmaskable: 0000:00:09.0 cannot serve uio_pci_generic, whose interrupt handler masks the legacy interrupt: its interrupt pin is 0: it has no legacy interrupt; use vfio-pci" "$TMP/err"
# igb_uio (DPDK's) does not need INTx: the same function goes to it, with its /dev/uio node.
out=$(ctl claim 0000:00:09.0 --driver igb_uio 2>&1)
check_eq "igb_uio for it: claimed" "$out" "Claimed IOMMU group 10: 0000:00:09.0 igb → igb_uio"
check "…its uio node there" sh -c "ls '$M/bus/pci/devices/0000:00:09.0/uio/' | grep -q '^uio[0-9]'"
check_eq "…and released back to igb" "$(ctl release 0000:00:09.0 >/dev/null; drv 0000:00:09.0)" "igb"
writes >/dev/null

# --- a step that hangs: reported stuck, the daemon serves on ----------------------------------
control "hang unbind 0000:00:03.0 held
"
ctl claim 0000:00:03.0 >"$TMP/claim.out" 2>&1 &
claimer=$!
wait_until same True status_eval '(d["status"]["transaction"] or {}).get("stuck")'
check_eq "a hung unbind is reported stuck in status, with its step" \
	"$(ctl -j status | json_eval '(d["status"]["transaction"]["stuck"], d["status"]["transaction"]["step"])')" \
	"(True, 'write bus/pci/drivers/e1000e/unbind 0000:00:03.0')"
check_eq "…while the daemon answers (list)" "$(ctl -j list | json_eval 'len(d["devices"])')" "8"
control ""	# the kernel lets go
wait "$claimer"
check_eq "when the step ends, the claim completes" "$(cat "$TMP/claim.out") $(drv 0000:00:03.0)" \
	"Claimed IOMMU group 4: 0000:00:03.0 e1000e → vfio-pci vfio-pci"
check "the stuck step is in the log" grep -q "is stuck in 'write bus/pci/drivers/e1000e/unbind 0000:00:03.0'" "$TMP/daemon.log"
ctl release 0000:00:03.0 >/dev/null

# --- requests are planned when their turn comes ------------------------------------------------
# Two clients claim the same NIC at once: the second is planned after the first has ended and
# finds it in place.
writes >/dev/null
control "hang unbind 0000:00:03.0 held
"
ctl claim 0000:00:03.0 >"$TMP/claim1.out" 2>&1 &
c1=$!
wait_step "write bus/pci/drivers/e1000e/unbind 0000:00:03.0"
ctl claim 0000:00:03.0 >"$TMP/claim2.out" 2>&1 &
c2=$!
wait_queued 1
control ""
wait "$c1" "$c2"
check_eq "two claims of one NIC: the first moves it, the second finds it in place" \
	"$(cat "$TMP/claim1.out") / $(cat "$TMP/claim2.out")" \
	"Claimed IOMMU group 4: 0000:00:03.0 e1000e → vfio-pci / Nothing to do: already in place."
control ""
check_eq "…three writes, not six" "$(writes)" \
	'driver_override 0000:00:03.0 vfio-pci -> ok|unbind e1000e 0000:00:03.0 -> ok|drivers_probe pci 0000:00:03.0 -> ok'

# A uio claim queued behind a hung release is planned on the release's result: e1000e → uio.
control "hang unbind 0000:00:03.0 held
"
ctl release 0000:00:03.0 >"$TMP/release.out" 2>&1 &
c1=$!
wait_step "write bus/pci/drivers/vfio-pci/unbind 0000:00:03.0"
ctl claim 0000:00:03.0 --driver uio_pci_generic >"$TMP/claim.out" 2>&1 &
c2=$!
wait_queued 1
control ""
wait "$c1" "$c2"
check_eq "a uio claim behind a hung release: the release ends, then the claim moves it from e1000e" \
	"$(cat "$TMP/release.out") / $(cat "$TMP/claim.out")" \
	"Released IOMMU group 4: 0000:00:03.0 vfio-pci → e1000e / Claimed IOMMU group 4: 0000:00:03.0 e1000e → uio_pci_generic"
check_eq "…on uio_pci_generic, its claim returning it to e1000e" "$(drv 0000:00:03.0) $(claims)" \
	"uio_pci_generic ['0000:00:03.0>e1000e']"
control ""
check_eq "…and its release puts it back on e1000e" "$(ctl release 0000:00:03.0 >/dev/null; drv 0000:00:03.0) $(claims)" \
	"e1000e []"
writes >/dev/null

# --- the journal cannot be written: a failed step, never a false "Claimed" ----------------------
check "pcipassd stops cleanly (before the journal tests)" daemon_stop
mkdir -p "$TMP/jstate"
mount -t tmpfs -o size=64k tmpfs "$TMP/jstate"
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" --state-dir "$TMP/jstate"
jclaims() { python3 -c "import json; print([c['address'] for c in json.load(open('$TMP/jstate/claims.json'))['claims']])"; }
mount -o remount,ro "$TMP/jstate"
ctl claim 0000:00:03.0 >/dev/null 2>"$TMP/err"
check_eq "state directory read-only before the claim: refused at the journal (exit 1), nothing written" \
	"$? $(cat "$TMP/err") [$(writes)]" \
	"1 pcipassctl: claim of IOMMU group 4 failed at 0000:00:03.0, write journal $TMP/jstate/claims.json: Read-only file system (EROFS); the group was put back as it was []"
mount -o remount,rw "$TMP/jstate"
for step in "driver_override|write bus/pci/devices/0000:00:03.0/driver_override vfio-pci" \
	    "unbind|write bus/pci/drivers/e1000e/unbind 0000:00:03.0" \
	    "drivers_probe|write bus/pci/drivers_probe 0000:00:03.0"; do
	op=${step%%|*}
	control "hang $op 0000:00:03.0 held
"
	ctl claim 0000:00:03.0 >/dev/null 2>"$TMP/err" &
	claimer=$!
	wait_step "${step#*|}"
	mount -o remount,ro "$TMP/jstate"
	control ""	# the step ends; the journal write after it fails
	wait "$claimer"
	rc=$?
	check_eq "journal read-only during $op: the claim fails at the journal (exit 1)" \
		"$rc $(grep -o 'write journal [^:]*: Read-only file system (EROFS)' "$TMP/err" | head -1)" \
		"1 write journal $TMP/jstate/claims.json: Read-only file system (EROFS)"
	check_eq "journal read-only during $op: put back on e1000e, override unset, no claim recorded" \
		"$(drv 0000:00:03.0) $(ovr 0000:00:03.0) $(ctl -j status | json_eval 'd["status"]["claims"]')" "e1000e (null) 0"
	mount -o remount,rw "$TMP/jstate"
done
dd if=/dev/zero of="$TMP/jstate/fill" bs=4k count=64 2>/dev/null
writes >/dev/null
ctl claim 0000:00:03.0 >/dev/null 2>"$TMP/err"
check_eq "state directory full: the claim fails at the journal, naming ENOSPC; nothing written" \
	"$? $(grep -o 'write journal [^:]*: No space left on device (ENOSPC)' "$TMP/err") [$(writes)]" \
	"1 write journal $TMP/jstate/claims.json: No space left on device (ENOSPC) []"
rm -f "$TMP/jstate/fill"
check_eq "room again: the claim goes through and is journaled" \
	"$(ctl claim 0000:00:03.0 >/dev/null && drv 0000:00:03.0) $(jclaims)" "vfio-pci ['0000:00:03.0']"
ctl release 0000:00:03.0 >/dev/null
check "pcipassd stops cleanly (journal tests)" daemon_stop
umount "$TMP/jstate"
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" --step-timeout 1 ||
	not_ok "pcipassd starts again"
writes >/dev/null

# --- a function removed in the middle of its claim --------------------------------------------
control "hang unbind 0000:00:04.0 held
"
ctl claim 0000:00:04.0 >/dev/null 2>"$TMP/err" &
claimer=$!
wait_step "write bus/pci/drivers/e1000e/unbind 0000:00:04.0"
kwrite "$M/bus/pci/devices/0000:00:04.0/remove" 1 >/dev/null
control ""
wait "$claimer"
check_eq "removed mid-claim: the claim fails cleanly (exit 1)" "$?" "1"
check "removed mid-claim: the error says which step" grep -q "failed at 0000:00:04.0, " "$TMP/err"
check_eq "removed mid-claim: nothing journaled, daemon alive" "$(claims) $(ctl -j status >/dev/null && echo alive)" "[] alive"
kwrite "$M/bus/pci/rescan" 1 >/dev/null
wait_until same e1000e drv 0000:00:04.0

# --- who may ---------------------------------------------------------------------------------
chmod 0755 "$TMP"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$PCIPASSCTL" --socket "$SOCK" claim 0000:00:03.0 2>&1)
check_eq "an unprivileged peer may not claim (exit 1)" "$?" "1"
check_eq "…PermissionDenied" "$out" \
	"pcipassctl: permission denied (run as root or a member of the SocketGroup= of pcipassd.conf)"
quiet() { "$@" >/dev/null; }
check "…but may read" quiet setpriv --reuid=65534 --regid=65534 --clear-groups "$PCIPASSCTL" --socket "$SOCK" list
check "pcipassd stops cleanly" daemon_stop

daemon_start "$M" --read-only --policy-dir "$pol" --config "$TMP/none.conf"
check_eq "--read-only refuses claims" "$(ctl claim 0000:00:03.0 2>&1)" \
	"pcipassctl: pcipassd runs --read-only: it changes nothing"
daemon_stop

# --- kill -9 in the middle of a claim, at each step: the next start undoes it ------------------
for step in "driver_override|write bus/pci/devices/0000:00:03.0/driver_override vfio-pci" \
	    "unbind|write bus/pci/drivers/e1000e/unbind 0000:00:03.0" \
	    "drivers_probe|write bus/pci/drivers_probe 0000:00:03.0"; do
	op=${step%%|*}
	control "hang $op 0000:00:03.0 held
"
	daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf"
	ctl claim 0000:00:03.0 >/dev/null 2>&1 &
	wait_step "${step#*|}"
	kill -9 "$DAEMON_PID"
	# The dead daemon's worker is still in the kernel, in its write: let the write end (the
	# kernel finishes what the dead daemon started), or the process is never reaped.
	writes >/dev/null
	control ""
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
	wait_for "$TMP/writes" "^$op .* -> "
	check_eq "killed during $op: the journal holds the transaction in flight" "$(inflight)" "True"
	daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf"
	wait_until same "e1000e False" eval 'echo "$(drv 0000:00:03.0) $(inflight)"'
	check_eq "restart after a kill during $op: undone (e1000e, override unset, journal clean)" \
		"$(drv 0000:00:03.0) $(ovr 0000:00:03.0) $(inflight) $(claims)" "e1000e (null) False []"
	check "restart after a kill during $op: the log says so" grep -q "was in flight when pcipassd stopped" "$TMP/daemon.log"
	daemon_stop
done

# --- a driver that is not there ---------------------------------------------------------------
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf"
ctl claim 0000:00:03.0 --driver mlx5_vfio_pci >/dev/null 2>"$TMP/err"
check_eq "claim to a driver neither loaded nor installed: fails at loading it, nothing moved" \
	"$(cat "$TMP/err") $(drv 0000:00:03.0)" \
	"pcipassctl: claim of IOMMU group 4 failed at 0000:00:03.0, load module mlx5_vfio_pci: No such file or directory (ENOENT); the group was put back as it was e1000e"
daemon_stop

# --- the policy at start and on hotplug -------------------------------------------------------
printf '[Match]\nAddress=0000:00:04.0\n[Assign]\nDriver=vfio-pci\n' >"$pol/50-nic.policy"
daemon_start "$M" --read-only --policy-dir "$pol" --config "$TMP/none.conf"
plan=$(ctl -j plan | python3 "${top_srcdir:-.}/tests/plan-writes.py" --fakekernel | paste -sd'|')
daemon_stop
writes >/dev/null
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf"
wait_until same vfio-pci drv 0000:00:04.0
check_eq "a start-up rule is carried out at start" "$(drv 0000:00:04.0) $(claims)" "vfio-pci ['0000:00:04.0>e1000e']"
check_eq "…by the writes the plan (asked of a --read-only daemon) showed" "$(writes)" "$plan"
check "pcipassd stops cleanly (after applying at start)" daemon_stop
writes >/dev/null
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf"
wait_idle
check_eq "restart: adopted, not re-applied (no writes)" "$(writes)" ""
check_eq "…the claim is kept" "$(claims)" "['0000:00:04.0>e1000e']"
writes >/dev/null
kwrite "$M/bus/pci/devices/0000:00:04.0/remove" 1 >/dev/null
kwrite "$M/bus/pci/rescan" 1 >/dev/null
wait_until same vfio-pci drv 0000:00:04.0
check_eq "hotplug (remove + rescan loses the override): claimed again" "$(drv 0000:00:04.0)" "vfio-pci"
check_eq "…with the original driver still e1000e" "$(claims)" "['0000:00:04.0>e1000e']"
# The kernel sends "add" before it probes a host driver: the daemon can plan a function as
# driverless that e1000e binds before the override is written (held here, and e1000e bound
# meanwhile). The transaction finds it on e1000e and is planned again from there.
control "host 0000:00:04.0 none
hang driver_override 0000:00:04.0 held
"
kwrite "$M/bus/pci/devices/0000:00:04.0/remove" 1 >/dev/null
kwrite "$M/bus/pci/rescan" 1 >/dev/null
wait_step "write bus/pci/devices/0000:00:04.0/driver_override vfio-pci"
control "hang driver_override 0000:00:04.0 held
"
writes >/dev/null
kwrite "$M/bus/pci/drivers/e1000e/bind" 0000:00:04.0 >/dev/null
control ""
wait_until same vfio-pci drv 0000:00:04.0
wait_idle
check_eq "hotplug, e1000e bound between the check and the override: claimed from e1000e" \
	"$(drv 0000:00:04.0) $(claims)" "vfio-pci ['0000:00:04.0>e1000e']"
check_eq "…the override undone, then e1000e's unbind, override, probe" "$(writes)" \
	'bind e1000e 0000:00:04.0 -> ok|driver_override 0000:00:04.0 vfio-pci -> ok|drivers_probe pci 0000:00:04.0 -> ok|driver_override 0000:00:04.0 \n -> ok|driver_override 0000:00:04.0 vfio-pci -> ok|unbind e1000e 0000:00:04.0 -> ok|drivers_probe pci 0000:00:04.0 -> ok'
check "pcipassd stops cleanly (after hotplug)" daemon_stop

# --- SR-IOV: the VFs of a PF, never touching the host's VF driver ------------------------------
printf '[Match]\nVirtualFunctionOf=0000:00:02.0\n[Assign]\nDriver=vfio-pci\n' >"$pol/60-vfs.policy"
daemon_start "$M" --read-only --policy-dir "$pol" --config "$TMP/none.conf"
check_eq "the plan shows VF autoprobe off as a host step, before the groups" \
	"$(ctl -j plan | json_eval '"|".join(s["path"] + " " + s["value"] for s in d["host_steps"])')" \
	"bus/pci/devices/0000:00:02.0/sriov_drivers_autoprobe 0"
check "…and pcipassctl plan prints it" sh -c "'$PCIPASSCTL' --socket '$SOCK' plan | grep -q 'write bus/pci/devices/0000:00:02.0/sriov_drivers_autoprobe *← 0'"
daemon_stop
writes >/dev/null
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf"
wait_for "$TMP/daemon.log" "sriov_drivers_autoprobe ← 0: VF driver autoprobe off"
check_eq "a PF whose VFs policy passes through: VF autoprobe turned off at start, by that step" \
	"$(cat "$M/bus/pci/devices/0000:00:02.0/sriov_drivers_autoprobe") $(writes)" \
	"0 sriov_drivers_autoprobe 0000:00:02.0 0 -> ok"
check_eq "…and the plan has no host step left" \
	"$(ctl -j plan | json_eval 'len(d["host_steps"])')" "0"
kwrite "$M/bus/pci/devices/0000:00:02.0/sriov_numvfs" 2 >/dev/null
vfs=$(cd "$M/bus/pci/devices/0000:00:02.0" && for v in virtfn*; do basename "$(readlink "$v")"; done | sort | paste -sd' ')
vf_drivers() { for v in $vfs; do drv "$v"; done | paste -sd' '; }
wait_until same "vfio-pci vfio-pci" vf_drivers
check_eq "two VFs created: both claimed for vfio-pci" "$(vf_drivers)" "vfio-pci vfio-pci"
check_eq "…and igbvf never bound them" "$(writes | grep -c 'igbvf')" "0"
check_eq "…journaled as having had no driver" "$(claims)" \
	"$(python3 -c "import sys; print(sorted([a + '>-' for a in sys.argv[1:]] + ['0000:00:04.0>e1000e']))" $vfs)"
vf1=${vfs%% *}
ctl claim "$vf1" --driver uio_pci_generic --dry-run >/dev/null 2>"$TMP/err"
check_eq "uio_pci_generic for a VF: refused (exit 1)" "$?" "1"
check "…as a VF has no legacy interrupt" grep -q "intx-unmaskable: $vf1 cannot serve uio_pci_generic, whose interrupt handler masks the legacy interrupt: it is a VF, and VFs have no legacy interrupt; use vfio-pci" "$TMP/err"
ctl reload >/dev/null
check_eq "a reload leaves VF autoprobe off" "$(cat "$M/bus/pci/devices/0000:00:02.0/sriov_drivers_autoprobe")" "0"
# VFs that were on their VF driver when claimed go back to it, although autoprobe is off.
daemon_stop
control "vfhost 0000:00:02.0 igbvf
"
kwrite "$M/bus/pci/devices/0000:00:02.0/sriov_numvfs" 0 >/dev/null
kwrite "$M/bus/pci/devices/0000:00:02.0/sriov_drivers_autoprobe" 1 >/dev/null
kwrite "$M/bus/pci/devices/0000:00:02.0/sriov_numvfs" 2 >/dev/null
vfs=$(cd "$M/bus/pci/devices/0000:00:02.0" && for v in virtfn*; do basename "$(readlink "$v")"; done | sort | paste -sd' ')
vf1=${vfs%% *}
check_eq "with autoprobe on, new VFs bind igbvf" "$(vf_drivers)" "igbvf igbvf"
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf"
wait_until same "vfio-pci vfio-pci" vf_drivers
check_eq "at start: autoprobe off, the VFs claimed from igbvf" \
	"$(cat "$M/bus/pci/devices/0000:00:02.0/sriov_drivers_autoprobe") $(vf_drivers)" "0 vfio-pci vfio-pci"
writes >/dev/null
plan=$(planned release "$vf1")
check_eq "release of a VF with autoprobe off: back on igbvf, its override unset" \
	"$(ctl release "$vf1" >/dev/null; drv "$vf1") $(ovr "$vf1")" "igbvf (null)"
w=$(writes)
check_eq "…probed through a passing override: override igbvf, unbind, drivers_probe, override cleared" \
	"$w" "driver_override $vf1 igbvf -> ok|unbind vfio-pci $vf1 -> ok|drivers_probe pci $vf1 -> ok|driver_override $vf1 \\n -> ok"
check_eq "…exactly the dry run's steps" "$w" "$plan"
# NumVfs=: the PF's rule makes the VFs, autoprobe off first, so none meets igbvf.
daemon_stop
kwrite "$M/bus/pci/devices/0000:00:02.0/sriov_numvfs" 0 >/dev/null
kwrite "$M/bus/pci/devices/0000:00:02.0/sriov_drivers_autoprobe" 1 >/dev/null
printf '[Match]\nAddress=0000:00:02.0\n[Assign]\nDriver=host\nNumVfs=3\n' >"$pol/55-pf.policy"
daemon_start "$M" --read-only --policy-dir "$pol" --config "$TMP/none.conf"
check_eq "NumVfs=3: the plan's host steps, autoprobe off, then the count" \
	"$(ctl -j plan | json_eval '"|".join(s["path"] + " " + s["value"] for s in d["host_steps"])')" \
	"bus/pci/devices/0000:00:02.0/sriov_drivers_autoprobe 0|bus/pci/devices/0000:00:02.0/sriov_numvfs 3"
daemon_stop
writes >/dev/null
log_from=$(($(wc -l <"$TMP/daemon.log") + 1))
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf"
vf_count() { ls -d "$M"/bus/pci/devices/0000:00:02.0/virtfn* 2>/dev/null | wc -l; }
wait_until same 3 vf_count
vfs=$(cd "$M/bus/pci/devices/0000:00:02.0" && for v in virtfn*; do basename "$(readlink "$v")"; done | sort | paste -sd' ')
wait_until same "vfio-pci vfio-pci vfio-pci" vf_drivers
check_eq "at start: 3 VFs made, each claimed for vfio-pci" "$(vf_drivers)" "vfio-pci vfio-pci vfio-pci"
check_eq "…the host's writes first: autoprobe off, then the count" \
	"$(writes | tr '|' '\n' | grep sriov | paste -sd'|')" \
	"sriov_drivers_autoprobe 0000:00:02.0 0 -> ok|sriov_numvfs 0000:00:02.0 3 -> ok"
# (Each claim's record is written as its transaction ends, after the driver link is there.)
vf_records() { for v in $vfs; do tail -n +"$log_from" "$TMP/daemon.log" | grep -c "apply done: $v (none) → vfio-pci"; done | paste -sd' '; }
wait_until same "1 1 1" vf_records
check_eq "…and no VF had a driver when it was claimed (igbvf never bound one)" "$(vf_records)" "1 1 1"
printf '[Match]\nAddress=0000:00:02.0\n[Assign]\nDriver=host\nNumVfs=2\n' >"$pol/55-pf.policy"
ctl reload >/dev/null
out=$(ctl apply)
check_eq "NumVfs=2 while the 3 VFs are passed through: apply refuses (exit 1), naming a VF in use" "$?" "1"
check "…why" sh -c "echo '$out' | grep -q 'vfs-in-use: 0000:00:02.0 has 3 VFs and NumVfs=2: the kernel changes the count through 0, removing every VF, and 0000:00:02.1 is on vfio-pci'"
printf '[Match]\nAddress=0000:00:02.0\n[Assign]\nDriver=host\nNumVfs=9\n' >"$pol/55-pf.policy"
ctl reload >/dev/null
check "NumVfs= above sriov_totalvfs: blocked" sh -c "'$PCIPASSCTL' --socket '$SOCK' apply | grep -q 'numvfs-too-many: 0000:00:02.0 can have at most 4 VFs; NumVfs=9'"
printf '[Match]\nAddress=0000:00:02.0\n[Assign]\nDriver=vfio-pci\nNumVfs=2\n' >"$TMP/bad-numvfs.policy"
check_eq "NumVfs= with a passthrough Driver=: the policy is refused" \
	"$(ctl policy check "$TMP/bad-numvfs.policy" 2>&1)" \
	"$TMP/bad-numvfs.policy:5: NumVfs= needs Driver=host: the PF's own driver creates its VFs (a rule with VirtualFunctionOf= says where the VFs go)"
rm "$pol/55-pf.policy"
check "pcipassd stops cleanly (SR-IOV)" daemon_stop
rm "$pol/60-vfs.policy"

# --- start-up rules kept from their groups: a broken pin, a guard — reported, never "in place" ---
printf '[Match]\nAddress=0000:00:03.0\n[Assign]\nDriver=vfio-pci\nPinId=8086:10d3\n' >"$pol/30-pinned.policy"
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf"
wait_idle
check_eq "a pinned start-up rule: claimed at start" "$(drv 0000:00:03.0)" "vfio-pci"
ctl -j monitor >"$TMP/monitor.json" 2>&1 &
mon=$!
wait_until same 1 status_eval 'd["status"]["monitors"]'
# The hardware at the address is no longer what the pin says (here: the pin changes).
printf '[Match]\nAddress=0000:00:03.0\n[Assign]\nDriver=vfio-pci\nPinId=8086:1521\n' >"$pol/30-pinned.policy"
writes >/dev/null
ctl reload >/dev/null
wait_until grep -q '"action":"blocked"' "$TMP/monitor.json"
check_eq "a reload checks the pin of a function already bound: a Monitor event names the mismatch" \
	"$(json_each '(d["event"]["address"], d["event"]["iommu_group"], d["event"]["blocker"]["code"]) if d["event"]["action"] == "blocked" else ""' <"$TMP/monitor.json" | grep . | head -1)" \
	"('0000:00:03.0', 4, 'pin-mismatch')"
check "…and the journal" grep -q "refused 0000:00:03.0 (8086:10d3, group 4, rule 30-pinned.policy, by pcipassd): 0000:00:03.0 holds 8086:10d3, but the rule pins 8086:1521" "$TMP/daemon.log"
check_eq "…and the function is left where it is: on vfio-pci, nothing written" "$(drv 0000:00:03.0):$(writes)" "vfio-pci:"
out=$(ctl apply)
check_eq "apply with the pin broken: exit 1, not \"Nothing to do\"" "$?" "1"
check_eq "…naming the group and why" "$out" \
	"Blocked: IOMMU group 4 (0000:00:03.0): pin-mismatch: 0000:00:03.0 holds 8086:10d3, but the rule pins 8086:1521 there: the hardware moved"
check_eq "…and -j: the blocked list, exit 1" \
	"$(ctl -j apply | json_eval '[(b["iommu_group"], b["code"]) for b in d["blocked"]]'; echo "${PIPESTATUS[0]}")" \
	"[(4, 'pin-mismatch')]
1"
kill "$mon"
wait "$mon" 2>/dev/null
# A guard: the boot GPU asked for at boot.
printf '[Match]\nAddress=0000:01:00.0\n[Assign]\nDriver=vfio-pci\nGroup=claim\n' >"$pol/35-bootgpu.policy"
rm "$pol/30-pinned.policy"
ctl reload >/dev/null
out=$(ctl apply)
check_eq "apply of a rule the boot-VGA guard blocks: exit 1, naming it" "$?:$out" \
	"1:Blocked: IOMMU group 2 (0000:01:00.0): boot-vga: 0000:01:00.0 is the boot VGA device: the console would go dark"
rm "$pol/35-bootgpu.policy"
ctl reload >/dev/null
check_eq "apply with nothing wanted: exit 0, nothing to do" "$(ctl apply; echo $?)" "Nothing to do: already in place.
0"
ctl release 0000:00:03.0 >/dev/null
check "pcipassd stops cleanly (blocked start-up rules)" daemon_stop

# --- a stop during a transaction: it ends first; a second stop does not wait --------------------
rm -f "$pol"/*.policy
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" --step-timeout 600
ctl release 0000:00:04.0 >/dev/null
writes >/dev/null
control "hang unbind 0000:00:03.0 held
"
ctl claim 0000:00:03.0 >"$TMP/claim1.out" 2>&1 &
c1=$!
wait_step "write bus/pci/drivers/e1000e/unbind 0000:00:03.0"
ctl claim 0000:00:04.0 >"$TMP/claim2.out" 2>&1 &
c2=$!
wait_queued 1
kill -TERM "$DAEMON_PID"
wait_for "$TMP/daemon.log" "Stopping once the claim of IOMMU group 4 has ended"
wait "$c2"
check_eq "SIGTERM during a claim: what waits is refused" "$(cat "$TMP/claim2.out")" \
	"pcipassctl: io.pcipass.SystemError: pcipassd is stopping"
check "…and the daemon waits for the claim that runs" kill -0 "$DAEMON_PID"
control ""	# the kernel lets go
wait "$c1"
wait "$DAEMON_PID"
rc=$?
check_eq "…which completes: claimed, then pcipassd exits (0)" \
	"$(cat "$TMP/claim1.out"); $rc; $(drv 0000:00:03.0) $(ovr 0000:00:03.0)" \
	"Claimed IOMMU group 4: 0000:00:03.0 e1000e → vfio-pci; 0; vfio-pci vfio-pci"
DAEMON_PID=
check_eq "…with nothing in flight in the journal, the claim recorded" \
	"$(python3 -c "import json; d=json.load(open('$TMP/state/claims.json')); print(d.get('transaction'), '0000:00:03.0' in [c['address'] for c in d['claims']])")" \
	"None True"
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" --step-timeout 600
control "hang unbind 0000:00:04.0 held
"
ctl claim 0000:00:04.0 >"$TMP/claim1.out" 2>&1 &
c1=$!
wait_step "write bus/pci/drivers/e1000e/unbind 0000:00:04.0"
kill -TERM "$DAEMON_PID"
wait_for "$TMP/daemon.log" "Stopping once the claim of IOMMU group 5 has ended"
kill -TERM "$DAEMON_PID"
# (Its worker stays blocked in the kernel's write until the kernel lets go, so the process
# can only end after that; the exit itself does not wait for the transaction.)
wait_for "$TMP/daemon.log" "Exiting with a claim of IOMMU group 5 in flight; the next start undoes it"
check "a second SIGTERM: pcipassd exits without waiting for the claim, leaving it in flight" \
	grep -q "Exiting with a claim of IOMMU group 5 in flight" "$TMP/daemon.log"
control ""
wait "$DAEMON_PID"
rc=$?
DAEMON_PID=
check_eq "…exit status 0" "$rc" "0"
wait "$c1"
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf"
wait_idle
check_eq "…which does: 00:04.0 back on e1000e, its override cleared" "$(drv 0000:00:04.0) $(ovr 0000:00:04.0)" "e1000e (null)"
ctl release 0000:00:03.0 >/dev/null
check "pcipassd stops cleanly (stops during transactions)" daemon_stop

# --- the udev rule derived from the policy ---------------------------------------------------
rm -f "$pol"/*.policy
printf '[Match]\nAddress=0000:00:03.0\n[Assign]\nDriver=deny\n' >"$pol/10-deny.policy"
printf '[Match]\nAddress=0000:01:00.0\n[Assign]\nDriver=vfio-pci\nGroup=claim\n' >"$pol/45-gpu-boot.policy"
printf '[Match]\nId=10de:* 1002:*\nClass=0x0300/0xffff00\n[Assign]\nDriver=vfio-pci\nApply=request\n' >"$pol/50-gpu.policy"
printf '[Match]\nAddress=0000:65:00.*\n[Assign]\nDriver=vfio-pci\n' >"$pol/55-slot.policy"
printf '[Match]\nNumaNode=1\n[Assign]\nDriver=vfio-pci\n' >"$pol/70-numa.policy"
printf '[Match]\nId=8086:1533\n[Assign]\nDriver=uio_pci_generic\n' >"$pol/80-after.policy"
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" --udev-rules "$TMP/udev/61-pcipass.rules"
check_eq "the udev rule: first match wins, only start-up rules set an override, a claim's companions (not its bridge) by address and ids, stops at what udev cannot match" \
	"$(grep -v '^#' "$TMP/udev/61-pcipass.rules"; grep '^# [0-9]' "$TMP/udev/61-pcipass.rules")" \
	'ACTION!="add", GOTO="pcipass_end"
SUBSYSTEM!="pci", GOTO="pcipass_end"
IMPORT{cmdline}="pcipass.disable"
ENV{pcipass.disable}=="1", GOTO="pcipass_end"
KERNEL=="0000:00:03.0", GOTO="pcipass_end"
KERNEL=="0000:01:00.0", ATTR{driver_override}="vfio-pci", GOTO="pcipass_end"
KERNEL=="0000:01:00.1", ATTR{vendor}=="0x10de", ATTR{device}=="0x1aef", ATTR{driver_override}="vfio-pci", GOTO="pcipass_end"
ATTR{vendor}=="0x10de", ATTR{class}=="0x0300*", GOTO="pcipass_end"
ATTR{vendor}=="0x1002", ATTR{class}=="0x0300*", GOTO="pcipass_end"
KERNEL=="0000:65:00.*", ATTR{driver_override}="vfio-pci", GOTO="pcipass_end"
LABEL="pcipass_end"
# 10-deny.policy
# 45-gpu-boot.policy
# 50-gpu.policy
# 55-slot.policy
# 70-numa.policy: NumaNode= cannot be matched at add; this rule and the ones after it are left to pcipassd'
check "pcipassd stops cleanly (udev rule)" daemon_stop
check "with a synthetic --sysfs-root and no --udev-rules, the real udev is never written" \
	test ! -e /etc/udev/rules.d/61-pcipass.rules -a ! -e /run/udev/rules.d/61-pcipass.rules
rm "$pol"/*.policy

# --- pcipass.disable=1 ------------------------------------------------------------------------
ctl_root_release() { daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" && ctl release 0000:00:04.0 >/dev/null; daemon_stop; }
ctl_root_release
printf 'BOOT_IMAGE=/vmlinuz root=/dev/vda1 pcipass.disable=1\n' >"$TMP/cmdline"
mount --bind "$TMP/cmdline" /proc/cmdline
printf '[Match]\nAddress=0000:00:04.0\n[Assign]\nDriver=vfio-pci\n' >"$pol/50-nic.policy"
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf"
wait_idle
check_eq "pcipass.disable=1: status says disabled, the start-up rule is not applied" \
	"$(ctl -j status | json_eval 'd["status"]["disabled"]') $(drv 0000:00:04.0)" "True e1000e"
check_eq "pcipass.disable=1: claims refused" "$(ctl claim 0000:00:03.0 2>&1)" \
	"pcipassctl: pcipass.disable=1 is on the kernel command line: pcipassd changes nothing"
umount /proc/cmdline
check "pcipassd stops cleanly (disabled)" daemon_stop
check "fakekernel unmounts cleanly" fakekernel_stop
finish
