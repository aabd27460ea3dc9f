#!/bin/bash
# Leases through tests/fakekernel: whole groups from a pool, companions along, claimed-first
# choice and NUMA preference, the named error when nothing is free, device nodes for the
# lease's user and back to root, GroupLeased for claims and releases, AfterLease=, a lease tied
# to a process (its exit ends it, also across kill -9 of the daemon), Monitor events, the QEMU /
# libvirt / Proxmox forms, and the libvirt hook fed domain XML as libvirt feeds it.
. "${top_srcdir:-.}/tests/lib.sh"
enter_netns_mountns "$@"

root=$TMP/sys
M=$TMP/mnt
pol=$TMP/policy
mkdir -p "$pol"
fs() { "$FAKESYS" "$root" "$@" >/dev/null; }
node() { stat -c '%u:%g %a' "$TMP/dev/vfio/$1" 2>/dev/null || echo gone; }
planned() { ctl -j "$@" --dry-run | python3 "${top_srcdir:-.}/tests/plan-writes.py" --fakekernel | paste -sd'|'; }
lease_ids() { ctl -j leases | json_eval '" ".join(l["owner"] + ":" + ",".join(map(str, l["groups"])) for l in d["leases"])'; }
wait_idle() { wait_until same "(0, None)" status_eval '(d["status"]["queued"], d["status"]["transaction"])'; }

fs init --iommu dmar0
# The console GPU (boot VGA), and two GPUs each with its HDMI audio function; the second on
# NUMA node 1, and matched by a rule of its own that keeps it on vfio-pci after a lease.
gpu_host 1
register uio_pci_generic
gpu_pool_policy "$pol" keep
control ""
fakekernel_start "$root" "$M" || { not_ok "fakekernel mounts the tree"; finish; }
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" || { not_ok "pcipassd starts"; finish; }
writes >/dev/null

ctl -j monitor >"$TMP/monitor.json" 2>/dev/null &
mon=$!
wait_until same 1 status_eval 'd["status"]["monitors"]'

# --- a lease from the pool: the first free group in address order, claimed as it is granted ---
plan=$(planned claim 0000:01:00.0 --group)
ctl -j lease gpu --owner vm1 --user 1000:1001 >"$TMP/l1.json" 2>"$TMP/err"
check_eq "lease gpu --owner vm1: granted (exit 0)" "$?" "0"
check_eq "the first free group by address, with its audio function" \
	"$(json_eval '(d["lease"]["owner"], d["lease"]["pool"], d["lease"]["groups"], [x["address"] for x in d["lease"]["devices"]])' <"$TMP/l1.json")" \
	"('vm1', 'gpu', [2], ['0000:01:00.0', '0000:01:00.1'])"
check_eq "granting claimed the group: exactly the writes of claim --group --dry-run" "$(writes)" "$plan"
check_eq "both functions on vfio-pci, the bridge of the group stays on pcieport" \
	"$(drv 0000:01:00.0) $(drv 0000:01:00.1) $(drv 0000:00:01.0)" "vfio-pci vfio-pci pcieport"
check_eq "/dev/vfio/2 belongs to the lease's user, mode 0660" "$(node 2)" "1000:1001 660"
check_eq "the lease names its device nodes" \
	"$(json_eval 'd["lease"]["device_nodes"]' <"$TMP/l1.json")" "['$TMP/dev/vfio/2']"
check_eq "QEMU arguments: one root port, GPU and audio as functions 0 and 1 of one slot" \
	"$(json_eval '" ".join(d["lease"]["qemu"])' <"$TMP/l1.json")" \
	"-device pcie-root-port,id=pcipass-rp0,chassis=100,slot=0 -device vfio-pci,host=0000:01:00.0,id=pcipass-0-0,bus=pcipass-rp0,addr=0x0.0x0,multifunction=on -device vfio-pci,host=0000:01:00.1,id=pcipass-0-1,bus=pcipass-rp0,addr=0x0.0x1"
check_eq "Proxmox: the whole device in one hostpci line" \
	"$(json_eval 'd["lease"]["proxmox"]' <"$TMP/l1.json")" "hostpci0: 0000:01:00,pcie=1"
json_eval 'd["lease"]["libvirt"]' <"$TMP/l1.json" >"$TMP/l1.xml"
check_eq "libvirt: a managed='no' hostdev per function, multifunction on function 0 only" \
	"$(grep -c "<hostdev mode='subsystem' type='pci' managed='no'>" "$TMP/l1.xml") $(grep -c "multifunction='on'" "$TMP/l1.xml") $(grep -c "function='0x0' multifunction='on'" "$TMP/l1.xml")" \
	"2 1 1"
check "the grant is in the journal with owner and groups" \
	grep -q "Lease 1 of gpu for vm1: granted (IOMMU groups 2, uid 1000, gid 1001, by uid 0 pid [0-9]* (pcipassctl))" "$TMP/daemon.log"

# --- choice: NUMA preference; then nothing free, and why -----------------------------------------
ctl -j lease gpu --owner vm2 --numa 1 >"$TMP/l2.json"
check_eq "--numa 1: the group on node 1" "$(json_eval 'd["lease"]["groups"]' <"$TMP/l2.json")" "[3]"
writes >/dev/null
ctl lease gpu --owner vm3 >"$TMP/out" 2>"$TMP/err"
check_eq "a third lease: refused (exit 1)" "$?" "1"
check "NoFreeGroup names group 2 leased to vm1" grep -q "IOMMU group 2: leased: leased to vm1 (lease 1)" "$TMP/err"
check "…group 3 leased to vm2" grep -q "IOMMU group 3: leased: leased to vm2 (lease 2)" "$TMP/err"
check "…and the console GPU's group blocked by the boot VGA guard" \
	grep -q "IOMMU group 1: boot-vga: 0000:00:02.0 is the boot VGA device" "$TMP/err"
check_eq "NoFreeGroup over Varlink: wanted, and each candidate with its code" \
	"$($VL "$SOCK" io.pcipass.AcquireLease '{"owner":"vm3","pool":"gpu"}' | json_eval '(d["error"], d["parameters"]["wanted"], [(c["iommu_group"], c["code"], c["leased_by"]) for c in d["parameters"]["candidates"]])')" \
	"('io.pcipass.NoFreeGroup', 1, [(1, 'boot-vga', None), (2, 'leased', 'vm1'), (3, 'leased', 'vm2')])"
check_eq "ListPools: the pool's groups as a lease judges them, with the lease and NUMA node" \
	"$($VL "$SOCK" io.pcipass.ListPools '{}' | json_eval '[(p["name"], [(g["iommu_group"], g["available"], g["code"], g["lease"], g["numa_node"], g["members"]) for g in p["groups"]]) for p in d["parameters"]["pools"]]')" \
	"[('gpu', [(1, False, 'boot-vga', None, None, ['0000:00:02.0']), (2, False, 'leased', '1', None, ['0000:00:01.0', '0000:01:00.0', '0000:01:00.1']), (3, False, 'leased', '2', 1, ['0000:02:00.0', '0000:02:00.1'])])]"
ctl lease 0000:01:00.1 --owner vm9 >/dev/null 2>"$TMP/err"
check_eq "a lease of the other function of a leased group (a split): refused" "$?" "1"
check "…because its group is leased" grep -q "IOMMU group 2: leased: leased to vm1" "$TMP/err"

# --- a leased group is the lease's: claims and releases are refused ------------------------------
ctl release 0000:01:00.0 >/dev/null 2>"$TMP/err"
check_eq "release of a leased group: refused (exit 1)" "$?" "1"
check "…GroupLeased names the owner and lease" grep -q "IOMMU group 2 of 0000:01:00.0 is leased to vm1 (lease 1)" "$TMP/err"
ctl claim 0000:01:00.1 --driver uio_pci_generic >/dev/null 2>&1
check_eq "a claim to another driver of a leased function: refused, still on vfio-pci" \
	"$?:$(drv 0000:01:00.1)" "1:vfio-pci"
check_eq "nothing was written for the refused requests" "$(writes)" ""

# --- what the daemon shows ------------------------------------------------------------------------
check_eq "leases: both" "$(lease_ids)" "vm1:2 vm2:3"
check_eq "groups -j: group 2's lease" \
	"$(ctl -j groups | json_eval '[(g["id"], g["lease"]["owner"]) for g in d["groups"] if g["lease"]]')" \
	"[(2, 'vm1'), (3, 'vm2')]"
check_eq "status: 2 leases" "$(status_eval 'd["status"]["leases"]')" "2"
check "groups (table): the lease's owner beside group 2" \
	bash -c "'$PCIPASSCTL' --socket '$SOCK' groups | grep -q '^2 .* yes *vm1 *0000:00:01.0'"
check "status: Leases: 2 granted" bash -c "'$PCIPASSCTL' --socket '$SOCK' status | grep -q '^Leases: *2 granted'"
check "leases (table) shows owner, pool and devices" \
	bash -c "'$PCIPASSCTL' --socket '$SOCK' leases | grep -q '^2 *vm2 *gpu *3 *0000:02:00.0,0000:02:00.1 *0 *-'"

# --- QEMU arguments for functions already on vfio-pci --------------------------------------------
check_eq "qemu --format proxmox" "$(ctl qemu 0000:02:00.0 0000:02:00.1 --format proxmox)" \
	"hostpci0: 0000:02:00,pcie=1"
check_eq "qemu of one function of the pair: Proxmox names it alone" \
	"$(ctl qemu 0000:02:00.1 --format proxmox)" "hostpci0: 0000:02:00.1,pcie=1"
check_eq "qemu: as a command line" "$(ctl qemu 0000:02:00.0 | paste -sd'|')" \
	"-device pcie-root-port,id=pcipass-rp0,chassis=100,slot=0 \\|-device vfio-pci,host=0000:02:00.0,id=pcipass-0-0,bus=pcipass-rp0,addr=0x0.0x0"
ctl qemu 0000:00:03.0 >/dev/null 2>"$TMP/err"
check_eq "qemu of a function not on vfio-pci: refused (exit 1)" "$?" "1"
check "…saying where it is" grep -q "0000:00:03.0 is on e1000e, not on vfio-pci" "$TMP/err"
check_eq "qemu --iommufd without vfio cdevs: InvalidParameter" \
	"$($VL "$SOCK" io.pcipass.GetVmArguments '{"addresses":["0000:02:00.0"],"iommufd":true}' | json_eval 'd["error"], d["parameters"]')" \
	"org.varlink.service.InvalidParameter {'parameter': 'iommufd'}"

# --- a kernel with vfio cdevs (6.6+): the cdev is the lease's too, and the iommufd form -------
ctl unlease --owner vm2 >/dev/null
mkdir -p "$root/bus/pci/devices/0000:02:00.0/vfio-dev/vfio0" "$root/bus/pci/devices/0000:02:00.1/vfio-dev/vfio1" "$TMP/dev/vfio/devices"
: >"$TMP/dev/vfio/devices/vfio0"
: >"$TMP/dev/vfio/devices/vfio1"
chmod 0600 "$TMP/dev/vfio/devices/vfio0" "$TMP/dev/vfio/devices/vfio1"
ctl -j lease 0000:02:00.0 --owner vm2 --user 1000:1001 --iommufd >"$TMP/l2c.json"
check_eq "with cdevs: the lease names the group node and both cdevs" \
	"$(json_eval 'd["lease"]["device_nodes"]' <"$TMP/l2c.json")" \
	"['$TMP/dev/vfio/3', '$TMP/dev/vfio/devices/vfio0', '$TMP/dev/vfio/devices/vfio1']"
check_eq "…and gives the cdevs to the lease's user too" \
	"$(stat -c '%u:%g %a' "$TMP/dev/vfio/devices/vfio0" "$TMP/dev/vfio/devices/vfio1" | paste -sd' ')" \
	"1000:1001 660 1000:1001 660"
check_eq "--iommufd: the iommufd object, and iommufd= on each device" \
	"$(json_eval '" ".join(d["lease"]["qemu"])' <"$TMP/l2c.json")" \
	"-object iommufd,id=pcipass-iommufd -device pcie-root-port,id=pcipass-rp0,chassis=100,slot=0 -device vfio-pci,host=0000:02:00.0,id=pcipass-0-0,bus=pcipass-rp0,addr=0x0.0x0,multifunction=on,iommufd=pcipass-iommufd -device vfio-pci,host=0000:02:00.1,id=pcipass-0-1,bus=pcipass-rp0,addr=0x0.0x1,iommufd=pcipass-iommufd"
ctl unlease --owner vm2 >/dev/null
check_eq "the lease ends: the cdevs are root's again, mode 0600" \
	"$(stat -c '%u:%g %a' "$TMP/dev/vfio/devices/vfio0" "$TMP/dev/vfio/devices/vfio1" | paste -sd' ')" \
	"0:0 600 0:0 600"
rm -rf "$root/bus/pci/devices/0000:02:00.0/vfio-dev" "$root/bus/pci/devices/0000:02:00.1/vfio-dev" "$TMP/dev/vfio/devices"
ctl -j lease 0000:02:00.0 --owner vm2 --numa 1 >/dev/null 2>&1
check_eq "a lease by address with --numa: only a preference among free groups, granted" \
	"$(lease_ids)" "vm1:2 vm2:3"

# --- a pool rule's pin: the hardware at the address moved --------------------------------------
cat >"$pol/30-pinned.policy" <<'EOF2'
[Match]
Address=0000:00:03.0
[Assign]
Driver=vfio-pci
Apply=request
Pool=nic
PinId=8086:1533
EOF2
ctl reload >/dev/null
ctl lease nic --owner x >/dev/null 2>"$TMP/err"
check_eq "a pool whose only function does not hold its pinned ids: refused" "$?" "1"
check "…pin-mismatch, naming both ids" \
	grep -q "IOMMU group 4: pin-mismatch: 0000:00:03.0 holds 8086:10d3, but 30-pinned.policy pins 8086:1533 there" "$TMP/err"
check_eq "…and nothing moved" "$(drv 0000:00:03.0) $(writes)" "e1000e "
rm "$pol/30-pinned.policy"
ctl reload >/dev/null

# --- bad requests --------------------------------------------------------------------------------
vl_error() { $VL "$SOCK" io.pcipass.AcquireLease "$1" | json_eval 'd.get("error"), d.get("parameters")'; }
check_eq "an unknown pool: NoSuchPool" "$(vl_error '{"owner":"x","pool":"nope"}')" \
	"io.pcipass.NoSuchPool {'pool': 'nope'}"
check_eq "a pool and addresses: InvalidParameter" \
	"$(vl_error '{"owner":"x","pool":"gpu","addresses":["0000:01:00.0"]}')" \
	"org.varlink.service.InvalidParameter {'parameter': 'addresses'}"
check_eq "an owner with a control character: InvalidParameter" \
	"$(vl_error '{"owner":"vm\n1","pool":"gpu"}')" "org.varlink.service.InvalidParameter {'parameter': 'owner'}"
check_eq "count 0: InvalidParameter" "$(vl_error '{"owner":"x","pool":"gpu","count":0}')" \
	"org.varlink.service.InvalidParameter {'parameter': 'count'}"
check_eq "an address given twice: InvalidParameter" \
	"$(vl_error '{"owner":"x","addresses":["0000:01:00.0","0000:01:00.0"]}')" \
	"org.varlink.service.InvalidParameter {'parameter': 'addresses'}"
check_eq "a pid that is no process: InvalidParameter" \
	"$(vl_error '{"owner":"x","pool":"gpu","pid":2147483647}')" \
	"org.varlink.service.InvalidParameter {'parameter': 'pid'}"
chmod 0755 "$TMP"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$PCIPASSCTL" --socket "$SOCK" lease gpu --owner x 2>&1)
check_eq "an unprivileged user may not lease (exit 1)" "$?:$out" \
	"1:pcipassctl: permission denied (run as root or a member of the SocketGroup= of pcipassd.conf)"
check_eq "…nor end a lease" \
	"$(setpriv --reuid=65534 --regid=65534 --clear-groups "$PCIPASSCTL" --socket "$SOCK" unlease --owner vm1 >/dev/null 2>&1; echo $?)" "1"
check_eq "…but may list them" \
	"$(setpriv --reuid=65534 --regid=65534 --clear-groups "$PCIPASSCTL" --socket "$SOCK" -j leases | json_eval 'len(d["leases"])')" "2"
ctl unlease 99 >/dev/null 2>"$TMP/err"
check_eq "unlease of no lease: exit 1, NoSuchLease" "$?:$(cat "$TMP/err")" "1:pcipassctl: no lease 99"

# --- ending: nodes back to root; AfterLease= keep or release -------------------------------------
check_eq "unlease --owner vm2" "$(ctl unlease --owner vm2)" \
	"Ended lease 4 of vm2 (its groups stay on their passthrough driver)."
check_eq "AfterLease=keep: group 3 stays on vfio-pci, /dev/vfio/3 is root's, mode 0600" \
	"$(drv 0000:02:00.0) $(drv 0000:02:00.1) $(node 3)" "vfio-pci vfio-pci 0:0 600"
check_eq "unlease 1 (by id)" "$(ctl unlease 1)" "Ended lease 1 of vm1 (its groups go back to the host)."
wait_until same "nouveau snd_hda_intel" sh -c "echo \$(readlink $M/bus/pci/devices/0000:01:00.0/driver | xargs basename) \$(readlink $M/bus/pci/devices/0000:01:00.1/driver | xargs basename)"
check_eq "AfterLease=release: group 2 back on nouveau and snd_hda_intel, /dev/vfio/2 gone" \
	"$(drv 0000:01:00.0) $(drv 0000:01:00.1) $(node 2)" "nouveau snd_hda_intel gone"
wait_idle

# --- already-claimed groups first: group 3 is in place, so it goes before group 2 --------------
writes >/dev/null
ctl -j lease gpu --owner vm4 >"$TMP/l4.json"
check_eq "a group already on vfio-pci is chosen first (no rebinding at VM start)" \
	"$(json_eval 'd["lease"]["groups"]' <"$TMP/l4.json") $(writes)" "[3] "
ctl unlease --owner vm4 >/dev/null

# --- a lease tied to a process ------------------------------------------------------------------
sleep 1000 &
holder=$!
ctl -j lease gpu --owner vm5 --pid $holder --user 1000 >"$TMP/l5.json"
check_eq "--pid: granted, tied to the process" "$(json_eval '(d["lease"]["pid"], d["lease"]["groups"])' <"$TMP/l5.json")" \
	"($holder, [3])"
check_eq "--user 1000 alone: the gid is the user's own (no passwd entry: 1000)" "$(node 3)" "1000:1000 660"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" || { not_ok "pcipassd starts again"; finish; }
check_eq "after kill -9 and a restart the lease is still there" "$(lease_ids)" "vm5:3"
check_eq "…its node still the lease user's" "$(node 3)" "1000:1000 660"
kill "$holder"
wait "$holder" 2>/dev/null
wait_until same "" lease_ids
check_eq "the process exits: the lease ends by itself, the node is root's" "$(node 3)" "0:0 600"
check "the end is journaled with its reason" grep -q "Lease 6 of gpu for vm5: ended (.*; process-exited)" "$TMP/daemon.log"

sleep 1000 &
holder=$!
ctl lease gpu --owner vm6 --pid $holder >/dev/null
daemon_stop
kill "$holder"
wait "$holder" 2>/dev/null
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" || { not_ok "pcipassd starts again"; finish; }
check_eq "a lease whose process exited while the daemon was down ends at start" "$(lease_ids)" ""
python3 -c "import json; d=json.load(open('$TMP/state/leases.json')); d['boot_id']='another-boot'; d['leases']=[{'id':'9','owner':'old','groups':[3],'uid':5,'gid':5,'since_usec':1}]; json.dump(d, open('$TMP/state/leases.json','w'))"
daemon_stop
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" || { not_ok "pcipassd starts again"; finish; }
check_eq "leases of a previous boot are gone after a reboot" "$(lease_ids)" ""
check "…and said so" grep -q "1 leases of a previous boot have ended" "$TMP/daemon.log"
python3 - "$TMP/state/leases.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["boot_id"] = open("/proc/sys/kernel/random/boot_id").read().strip()
d["leases"] = [
    {"id": "20", "groups": [3], "uid": 7, "gid": 7},                      # no owner
    {"id": "21", "owner": "bad", "groups": "3"},                           # groups not a list
    {"id": "22", "owner": "bad", "groups": [3, 3]},                        # a group twice
    {"id": "23", "owner": "bad\u0001", "groups": [3]},                     # a control character
    {"id": "24", "owner": "kept", "groups": [3], "uid": 7, "gid": 7, "since_usec": 1},
    {"id": "25", "owner": "second", "groups": [3]},                        # group 3 taken already
]
json.dump(d, open(sys.argv[1], "w"))
PY
daemon_stop
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" || { not_ok "pcipassd starts with a hand-edited leases.json"; finish; }
check_eq "a hand-edited leases.json: malformed entries dropped, the good one kept" "$(lease_ids)" "kept:3"
check_eq "…its node given to it again" "$(node 3)" "7:7 660"
check_eq "…and each drop said" "$(grep -c 'is malformed, dropping it' "$TMP/daemon.log")" "5"
daemon_stop
python3 - "$TMP/state/leases.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["next_id"] = None
d["leases"] = [
    5,                                                                     # not an object
    {"id": None, "owner": "kept", "groups": [3], "uid": "7", "gid": 7},    # uid a string
    {"id": "1e400", "owner": "neg", "groups": [2], "uid": -1, "gid": 7},   # uid out of range
]
json.dump(d, open(sys.argv[1], "w"))
PY
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" || { not_ok "pcipassd starts with null ids and string uids in leases.json"; finish; }
check_eq "null ids, string and negative uids, an entry not an object: all dropped" "$(lease_ids)" ""
check_eq "…the dropped lease's node is root's again, not left to uid 7" "$(node 3)" "0:0 600"
daemon_stop
echo '{"boot_id": "'"$(cat /proc/sys/kernel/random/boot_id)"'", "leases": {"id": "1"}}' >"$TMP/state/leases.json"
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" || { not_ok "pcipassd starts when \"leases\" is not a list"; finish; }
check "\"leases\" not a list: the file kept aside as leases.json.broken" test -s "$TMP/state/leases.json.broken"
check "…and said so" grep -q '"leases" is not a list; keeping the file aside' "$TMP/daemon.log"
check_eq "…starting with no leases" "$(lease_ids)" ""

# --- a claim that fails while granting: no lease, the group put back -----------------------------
ctl release 0000:02:00.0 >/dev/null
control "fail drivers_probe 0000:01:00.1 EIO once"
writes >/dev/null
ctl lease 0000:01:00.0 --owner vm7 >/dev/null 2>"$TMP/err"
check_eq "a lease whose claim fails: refused (exit 1)" "$?" "1"
check "…with the transaction's failure" grep -q "claim of IOMMU group 2 failed at 0000:01:00.1" "$TMP/err"
check_eq "…no lease, and the group back where it was" "$(lease_ids) $(drv 0000:01:00.0) $(drv 0000:01:00.1)" \
	" nouveau snd_hda_intel"
control ""
check_eq "a lease whose reply cannot be given (--iommufd, no vfio cdevs): InvalidParameter" \
	"$($VL "$SOCK" io.pcipass.AcquireLease '{"owner":"vm8","addresses":["0000:01:00.0"],"iommufd":true}' | json_eval 'd.get("error"), d.get("parameters")')" \
	"org.varlink.service.InvalidParameter {'parameter': 'iommufd'}"
wait_idle
check_eq "…no lease, and the group it claimed for itself back on the host's drivers" \
	"$(lease_ids) $(drv 0000:01:00.0) $(drv 0000:01:00.1)" " nouveau snd_hda_intel"
check "…the refusal journaled" grep -q "Lease .* for vm8: refused" "$TMP/daemon.log"

# --- Monitor ------------------------------------------------------------------------------------
kill "$mon" 2>/dev/null
wait "$mon" 2>/dev/null
check_eq "Monitor told each grant and end, with the reason" \
	"$(json_each 'd["event"]["progress"] + " " + d["event"]["lease"]["owner"] + " " + (d["event"]["reason"] or "-") if d["event"]["action"] == "lease" else ""' <"$TMP/monitor.json" | grep . | paste -sd'|')" \
	"granted vm1 -|granted vm2 -|ended vm2 released|granted vm2 -|ended vm2 released|granted vm2 -|ended vm2 released|ended vm1 released|granted vm4 -|ended vm4 released|granted vm5 -"

# --- the libvirt hook, fed domain XML on its standard input as libvirt does -----------------------
hook() { PCIPASSCTL="$PCIPASSCTL --socket $SOCK" PCIPASS_HOOK_USER=1000:1000 python3 "$top_srcdir/conf/libvirt-hook-qemu" "$@"; }
domain_xml() {
	cat <<XML
<domain type='kvm'>
  <name>$1</name>
  <devices>
    <disk type='file' device='disk'><source file='/var/lib/libvirt/images/$1.qcow2'/></disk>
    <hostdev mode='subsystem' type='pci' managed='no'>
      <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>
      <address type='pci' domain='0x0000' bus='0x06' slot='0x00' function='0x0' multifunction='on'/>
    </hostdev>
    <hostdev mode='subsystem' type='pci' managed='no'>
      <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x1'/></source>
    </hostdev>
    <hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/></source></hostdev>
  </devices>
</domain>
XML
}
domain_xml win11 | hook win11 prepare begin - >"$TMP/hook.out" 2>&1
check_eq "hook prepare: exit 0, the domain's host devices leased to it" \
	"$?:$(lease_ids):$(drv 0000:01:00.0):$(node 2)" "0:win11:2:vfio-pci:1000:1000 660"
domain_xml other | hook other prepare begin - >"$TMP/hook.out" 2>&1
check_eq "hook prepare of a second domain naming the same GPU: exit 1 (libvirt refuses to start it)" "$?" "1"
check "…saying who has it" grep -q "IOMMU group 2: leased: leased to win11" "$TMP/hook.out"
domain_xml other | hook other started - - >/dev/null 2>&1
check_eq "hook started, stopped: nothing happens" "$(lease_ids)" "win11:2"
domain_xml win11 | hook win11 release end - >/dev/null 2>&1
check_eq "hook release: the lease ends" "$?:$(lease_ids)" "0:"
domain_xml other | hook other release end - >/dev/null 2>&1
check_eq "hook release of a domain without a lease: exit 0" "$?" "0"
printf "<domain><name>plain</name><devices/></domain>" | hook plain prepare begin - >/dev/null 2>&1
check_eq "hook prepare of a domain without PCI host devices: exit 0, no lease" "$?:$(lease_ids)" "0:"
printf "<domain><name>vfnic</name><devices><interface type='hostdev' managed='no'><source><address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/></source></interface></devices></domain>" |
	hook vfnic prepare begin - >"$TMP/hook.out" 2>&1
check_eq "hook prepare of a domain with an <interface type='hostdev'> (a VF as a NIC): leased" \
	"$?:$(lease_ids):$(drv 0000:00:03.0)" "0:vfnic:4:vfio-pci"
printf "<domain><name>vfnic</name><devices/></domain>" | hook vfnic release end - >/dev/null 2>&1
check_eq "…and released with it" "$?:$(lease_ids)" "0:"
ctl lease 0000:01:00.0 --owner win11 --format libvirt >"$TMP/win11.xml"
check_eq "lease --format libvirt prints only the <hostdev> elements, one per function" \
	"$(grep -c "^<hostdev mode='subsystem' type='pci' managed='no'>" "$TMP/win11.xml") $(grep -vc '^[ <]' "$TMP/win11.xml")" "2 0"
domain_xml win11 | hook win11 prepare begin - >"$TMP/hook.out" 2>&1
check_eq "hook prepare of a domain that leased its devices before it started: exit 0, that lease kept" \
	"$?:$(lease_ids)" "0:win11:2"
domain_xml win11 | hook win11 release end - >/dev/null 2>&1
check_eq "…and its release ends it" "$?:$(lease_ids)" "0:"
wait_idle

daemon_stop || not_ok "pcipassd exits cleanly"
fakekernel_stop || not_ok "fakekernel exits cleanly"
finish
