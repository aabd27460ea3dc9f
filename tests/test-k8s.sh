#!/bin/bash
# pcipass-k8s, the Kubernetes device plugin, between a real pcipassd on tests/fakekernel and
# k8s/fakekubelet (the kubelet's side of the device-plugin API, driven line by line): it
# registers pcipass.io/gpu, lists one device per IOMMU group with its health and NUMA node,
# prefers whole groups by NUMA node, leases a group at Allocate (its functions on vfio-pci,
# its nodes for --uid/--gid), hands the same lease to the same allocation again, ends a lease
# when the kubelet's checkpoint no longer lists it, and follows hotplug, other leases, and
# restarts of pcipassd, the kubelet and itself.
. "${top_srcdir:-.}/tests/lib.sh"
K8S_PLUGIN=${K8S_PLUGIN:-$top_builddir/k8s/pcipass-k8s}
FAKEKUBELET=${FAKEKUBELET:-$top_builddir/k8s/fakekubelet}
[ -x "$K8S_PLUGIN" ] && [ -x "$FAKEKUBELET" ] ||
	skip_all "k8s/pcipass-k8s and k8s/fakekubelet not built (Go not found by configure)"
export K8S_PLUGIN FAKEKUBELET
enter_netns_mountns "$@"

root=$TMP/sys
M=$TMP/mnt
pol=$TMP/policy
KD=$TMP/kubelet
R=pcipass.io/gpu
KLOG=$TMP/kubelet.log
mkdir -p "$pol" "$KD"
fs() { "$FAKESYS" "$root" "$@" >/dev/null; }
node() { stat -c '%u:%g %a' "$TMP/dev/vfio/$1" 2>/dev/null || echo gone; }
group2() { echo "$(drv 0000:01:00.0) $(drv 0000:01:00.1) $(node 2)"; }

PLUGIN_PID=
KUBELET_PID=
k8s_cleanup() {
	[ -n "$PLUGIN_PID" ] && kill "$PLUGIN_PID" 2>/dev/null && wait "$PLUGIN_PID" 2>/dev/null
	[ -n "$KUBELET_PID" ] && kill "$KUBELET_PID" 2>/dev/null && wait "$KUBELET_PID" 2>/dev/null
	cleanup
}
trap k8s_cleanup EXIT

# The tree of tests/test-lease.sh: the console GPU (boot VGA), and two GPUs each with its HDMI
# audio function, the first behind a bridge of its group, the second on NUMA node 1 and kept
# on vfio-pci after a lease.
fs init --iommu dmar0
gpu_host 1
gpu_pool_policy "$pol" keep
control ""
fakekernel_start "$root" "$M" || { not_ok "fakekernel mounts the tree"; finish; }
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" || { not_ok "pcipassd starts"; finish; }

# --- the fake kubelet, its commands on a FIFO, its events in $KLOG --------------------------------
mkfifo "$TMP/kubelet.in"
"$FAKEKUBELET" --dir "$KD" <"$TMP/kubelet.in" >"$KLOG" 2>"$TMP/kubelet.err" &
KUBELET_PID=$!
exec 9>"$TMP/kubelet.in"
wait_until test -S "$KD/kubelet.sock" || { not_ok "fakekubelet serves kubelet.sock"; finish; }

# kube COMMAND ARGS...: sends a command to the fake kubelet, prints its answer (a JSON line).
kube() {
	local ev=$1 n
	[ "$ev" = restart ] && ev=restarted
	n=$(count "$ev")
	kill -0 "$KUBELET_PID" 2>/dev/null || { echo "# fakekubelet is gone: $(cat "$TMP/kubelet.err")" >&2; return 1; }
	echo "$*" >&9
	wait_until more "$ev" "$n" || { echo "# no answer to: $*" >&2; return 1; }
	events "$ev" | sed -n "$((n + 1))p"
}
# events KIND [FROM]: the events of that kind after line FROM of $KLOG; count: how many.
events() { tail -n +"$((${2:-0} + 1))" "$KLOG" | grep "^{\"event\":\"$1\""; }
count() { events "$@" | wc -l; }
# more KIND N [FROM]: whether there are more than N of them.
more() { [ "$(count "$1" "${3:-0}")" -gt "$2" ]; }
lines() { wc -l <"$KLOG"; }
# devs: a device list (one "devices" event on stdin) as "ID:HEALTH:NUMA ...".
devs() { json_each '" ".join("%s:%s:%d" % (x["id"], x["health"], x["numa"]) for x in d["devices"])'; }
# last_devices [FROM]: the latest list (after line FROM), as devs prints it.
last_devices() { events devices "${1:-0}" | tail -1 | devs; }
# prefer SIZE AVAILABLE MUST: the plugin's preferred allocation, and whether it is SIZE of
# AVAILABLE (ids of whole groups, each once).
prefer() {
	kube prefer "$R" "$@" | python3 -c "import json, sys
d = json.load(sys.stdin)
size, avail, must = int(sys.argv[1]), sys.argv[2].split(','), [] if sys.argv[3] == '-' else sys.argv[3].split(',')
ok = d['error'] is None and len(d['ids']) == size == len(set(d['ids'])) and set(d['ids']) <= set(avail) and set(must) <= set(d['ids'])
print(','.join(d['ids']), 'ok' if ok else 'NOT a subset of the size asked: %s' % d)" "$@"
}
# leases: every lease as ID:OWNER:GROUPS; k8s_leases: the plugin's, as ID:OWNER; lease_eval
# ID-OR-OWNER EXPR: EXPR of that lease (l), in a list; lease_id OWNER: its id.
leases() { ctl -j leases | json_eval '" ".join("%s:%s:%s" % (l["id"], l["owner"], ",".join(map(str, l["groups"]))) for l in d["leases"])'; }
k8s_leases() { ctl -j leases | json_eval '" ".join("%s:%s" % (l["id"], l["owner"]) for l in d["leases"] if l["owner"].startswith("k8s:"))'; }
lease_eval() { ctl -j leases | json_eval "[$2 for l in d['leases'] if '$1' in (l['id'], l['owner'])]"; }
lease_id() { ctl -j leases | json_eval "' '.join(l['id'] for l in d['leases'] if l['owner'] == '$1')"; }
checkpoint() {
	python3 - "$TMP/checkpoint.json" "$@" <<'EOF'
import json, sys
entries = [{"PodUID": "uid-%d" % i, "ContainerName": "compute", "ResourceName": "pcipass.io/gpu",
            "DeviceIDs": {"-1": ids.split(",")}, "AllocResp": ""} for i, ids in enumerate(sys.argv[2:], 1)]
json.dump({"Data": {"PodDeviceEntries": entries,
                    "RegisteredDevices": {"pcipass.io/gpu": ["group-1", "group-2", "group-3"]}},
           "Checksum": 0}, open(sys.argv[1], "w"))
EOF
	kube checkpoint "$TMP/checkpoint.json" | json_eval 'd["error"]'
}
start_plugin() {
	"$K8S_PLUGIN" --socket "$SOCK" --kubelet-dir "$KD" --lease-grace 0s --uid 1000 --gid 1001 2>>"$TMP/plugin.log" &
	PLUGIN_PID=$!
}
INITIAL="group-1:Unhealthy:-1 group-2:Healthy:-1 group-3:Healthy:1"
OTHER3="group-1:Unhealthy:-1 group-2:Healthy:-1 group-3:Unhealthy:1"

# --- registration and the first device list ------------------------------------------------------
start_plugin
check "the plugin registers with the kubelet" wait_for "$KLOG" '"event":"register"'
check_eq "…resource pcipass.io/gpu, version v1beta1, its socket, GetPreferredAllocation offered" \
	"$(events register | json_each '(d["resource"], d["version"], d["endpoint"], d["options"]["get_preferred_allocation_available"], d["options"]["pre_start_required"])')" \
	"('pcipass.io/gpu', 'v1beta1', 'pcipass-gpu.sock', True, False)"
check "…serving it in the kubelet's directory" test -S "$KD/pcipass-gpu.sock"
check "the kubelet's ListAndWatch gets a device list" wait_for "$KLOG" '"event":"devices"'
check_eq "the first list: a device per group, the boot VGA's Unhealthy, group 3 on NUMA node 1" \
	"$(events devices | head -1 | json_each 'd["resource"]') $(events devices | head -1 | devs)" "$R $INITIAL"

# --- GetPreferredAllocation: whole groups, by NUMA node, then by number ---------------------------
check_eq "prefer 1 of group-2,group-3: group-3 (the NUMA node that has most of them)" \
	"$(prefer 1 group-2,group-3 -)" "group-3 ok"
check_eq "prefer 2 of them: group-3 first, then group-2" "$(prefer 2 group-2,group-3 -)" "group-3,group-2 ok"
check_eq "prefer 2 with group-2 to include: it, then group-3" "$(prefer 2 group-2,group-3 group-2)" "group-2,group-3 ok"

# --- Allocate: a lease of the group, its functions on vfio-pci, its nodes the pod's ---------------
mark=$(lines)
kube allocate "$R" group-2 >"$TMP/a1.json"
check_eq "allocate group-2: no error" "$(json_eval 'd["error"]' <"$TMP/a1.json")" "None"
check_eq "…PCI_RESOURCE_PCIPASS_IO_GPU: the GPU and its audio function, not the group's bridge" \
	"$(json_eval 'd["envs"]' <"$TMP/a1.json")" "{'PCI_RESOURCE_PCIPASS_IO_GPU': '0000:01:00.0,0000:01:00.1'}"
check_eq "pcipassd has one lease, the plugin's for group-2, of groups [2], for 1000:1001" \
	"$(leases) $(lease_eval k8s:$R:group-2 '(l["uid"], l["gid"], l["granted"], l["after"])')" \
	"1:k8s:$R:group-2:2 [(1000, 1001, True, 'release')]"
check_eq "…its device node is /dev/vfio/2 of the --dev-root" \
	"$(lease_eval k8s:$R:group-2 'l["device_nodes"]')" "[['$TMP/dev/vfio/2']]"
check_eq "…the container gets /dev/vfio/vfio and the lease's device nodes, rw" \
	"$(json_eval '[(x["host_path"], x["container_path"], x["permissions"]) for x in d["devices"]]' <"$TMP/a1.json")" \
	"$(lease_eval k8s:$R:group-2 '[(n, n, "rw") for n in ["/dev/vfio/vfio"] + l["device_nodes"]]' | sed 's/^\[\(.*\)\]$/\1/')"
check_eq "…both functions on vfio-pci in the fake kernel, the bridge on pcieport" \
	"$(drv 0000:01:00.0) $(drv 0000:01:00.1) $(drv 0000:00:01.0)" "vfio-pci vfio-pci pcieport"
check_eq "…/dev/vfio/2 is 1000:1001 (--uid, --gid), mode 0660" "$(node 2)" "1000:1001 660"
lease1=$(lease_id "k8s:$R:group-2")

# --- a lease of someone else: the group Unhealthy, and Allocate of it fails -------------------------
ctl -j lease gpu --owner vm-other >"$TMP/other.json"
check_eq "pcipassctl lease gpu --owner vm-other takes group 3" "$(json_eval 'd["lease"]["groups"]' <"$TMP/other.json")" "[3]"
check "the next device list shows group-3 Unhealthy" wait_until same "$OTHER3" last_devices
check_eq "…the only list since the allocation: group-2 was Healthy throughout (the plugin's lease)" \
	"$(events devices "$mark" | devs | sort -u)" "$OTHER3"
kube allocate "$R" group-3 >"$TMP/a3.json"
# pcipassd refuses a lease of a group leased to another as NoFreeGroup (GroupLeased is for
# Claim and Release), its one candidate naming the lease; the plugin passes that on.
check_eq "allocate group-3: refused, pcipassd's NoFreeGroup naming vm-other's lease 2" \
	"$(json_eval '(lambda name, p: (name, [(c["iommu_group"], c["code"], c["leased_by"], c["lease"], c["reason"]) for c in json.loads(p)["candidates"]]))(*d["error"].split(" desc = ", 1)[1].split(" ", 1))' <"$TMP/a3.json")" \
	"('io.pcipass.NoFreeGroup', [(3, 'leased', 'vm-other', '2', 'leased to vm-other (lease 2)')])"
check_eq "…no lease taken, no devices handed out" \
	"$(k8s_leases) $(json_eval '(d["envs"], d["devices"])' <"$TMP/a3.json")" "$lease1:k8s:$R:group-2 ({}, [])"
ctl unlease --owner vm-other >/dev/null
check "unlease vm-other: group-3 Healthy again" wait_until same "$INITIAL" last_devices

# --- the same allocation again (the container restarted): the same lease -------------------------
kube allocate "$R" group-2 >"$TMP/a1b.json"
check_eq "allocate group-2 again: the same lease, no second one" \
	"$(json_eval '(d["error"], d["envs"])' <"$TMP/a1b.json") $(k8s_leases)" \
	"(None, {'PCI_RESOURCE_PCIPASS_IO_GPU': '0000:01:00.0,0000:01:00.1'}) $lease1:k8s:$R:group-2"
check_eq "…the same device specs" "$(json_eval 'd["devices"]' <"$TMP/a1b.json")" "$(json_eval 'd["devices"]' <"$TMP/a1.json")"

# --- the kubelet's checkpoint decides when a lease ends --------------------------------------------
kube allocate "$R" group-3 >"$TMP/a3b.json"
check_eq "allocate group-3 (now free): a second lease" "$(json_eval 'd["error"]' <"$TMP/a3b.json") $(leases)" \
	"None 1:k8s:$R:group-2:2 3:k8s:$R:group-3:3"
check_eq "a checkpoint listing group-2 only (a pod with group-3 ended)" "$(checkpoint group-2)" "None"
check "…ends the lease of group-3" wait_until same "1:k8s:$R:group-2:2" leases
check_eq "…and keeps group-2's (the same sweep judged it)" "$(lease_id "k8s:$R:group-2")" "$lease1"
check "…and names its pod, from the checkpoint" \
	grep -q "lease $lease1 (k8s:$R:group-2) is pod/container uid-1/compute" "$TMP/plugin.log"
check_eq "group 3 stays on vfio-pci (AfterLease=keep)" "$(drv 0000:02:00.0) $(drv 0000:02:00.1)" "vfio-pci vfio-pci"
check "…and Healthy" wait_until same "$INITIAL" last_devices
check_eq "a checkpoint without group-2 (its pod ended)" "$(checkpoint)" "None"
check "…ends its lease" wait_until same "" k8s_leases
check "…said in the plugin's log" grep -q "ending lease $lease1 (k8s:$R:group-2): the kubelet no longer lists its groups" "$TMP/plugin.log"
check "group 2 goes back to the host (AfterLease=release)" \
	wait_until same "nouveau snd_hda_intel gone" group2
check "…and is Healthy" wait_until same "$INITIAL" last_devices

# --- hotplug: groups appear and disappear ------------------------------------------------------------
fs add 0000:03:00.0 vendor=0x10de device=0x2204 class=0x030000 driver=nouveau group=5 numa=0 -u
fs add 0000:04:00.0 vendor=0x10de device=0x2204 class=0x030000 driver=nouveau group=6 numa=1 -u
HOT="$INITIAL group-5:Healthy:0 group-6:Healthy:1"
check "two GPUs hotplugged (NUMA 0 and 1): their groups in the next device list" wait_until same "$HOT" last_devices
check_eq "prefer 1 of group-2,group-3,group-5 (NUMA 0 and 1 one each): group-5, the lower node" \
	"$(prefer 1 group-2,group-3,group-5 -)" "group-5 ok"
check_eq "prefer 2 with group-6 (NUMA 1) to include: the next pick is group-3 on NUMA 1" \
	"$(prefer 2 group-2,group-3,group-5,group-6 group-6)" "group-6,group-3 ok"
check_eq "prefer 2 with group-5 (NUMA 0) to include: no other on NUMA 0, so by number" \
	"$(prefer 2 group-2,group-3,group-5,group-6 group-5)" "group-5,group-2 ok"
fs remove 0000:03:00.0 -u
check "removal of the NUMA 0 GPU: group-5 disappears" wait_until same "$INITIAL group-6:Healthy:1" last_devices
fs remove 0000:04:00.0 -u
check "…and of the other: group-6 too" wait_until same "$INITIAL" last_devices

# --- pcipassd restarts: the plugin follows it again ---------------------------------------------------
daemon_stop || not_ok "pcipassd exits cleanly"
# While it is down, a GPU goes (no uevent reaches anyone): the restarted pcipassd no longer
# has group 3, and the plugin must not keep offering it.
fs remove 0000:02:00.1
fs remove 0000:02:00.0
daemon_start "$M" --policy-dir "$pol" --config "$TMP/none.conf" || { not_ok "pcipassd starts again"; finish; }
check "the plugin follows pcipassd's events again" wait_until same 1 status_eval 'd["status"]["monitors"]'
check "…and lists what the restarted pcipassd has: group-3, removed meanwhile, is gone" \
	wait_until same "group-1:Unhealthy:-1 group-2:Healthy:-1" last_devices
fs add 0000:02:00.0 vendor=0x10de device=0x2204 class=0x030000 mf=1 driver=nouveau group=3 numa=1 -u
fs add 0000:02:00.1 vendor=0x10de device=0x1aef class=0x040300 mf=1 driver=snd_hda_intel group=3 numa=1 -u
check "…it comes back with its hotplug" wait_until same "$INITIAL" last_devices
ctl lease 0000:02:00.0 --owner vm-other >/dev/null
check "a lease of vm-other after the restart: group-3 Unhealthy" wait_until same "$OTHER3" last_devices
ctl unlease --owner vm-other >/dev/null
check "…unleased: Healthy" wait_until same "$INITIAL" last_devices

# --- the kubelet restarts: the plugin registers again ---------------------------------------------
mark=$(lines)
check_eq "the kubelet restarts (its sockets removed, kubelet.sock anew)" "$(kube restart)" '{"event":"restarted"}'
check "the plugin registers again" wait_until more register 1
check_eq "…the same registration" "$(events register | tail -1 | json_each '(d["resource"], d["version"], d["endpoint"])')" \
	"('pcipass.io/gpu', 'v1beta1', 'pcipass-gpu.sock')"
check "…a new device stream starts, with the whole list" wait_until same "$INITIAL" last_devices "$mark"
check "…the old stream ended" wait_until more stream-end 0 "$mark"
check "…its socket is served again" test -S "$KD/pcipass-gpu.sock"
ctl lease 0000:02:00.0 --owner vm-other >/dev/null
check "the new stream follows leases" wait_until same "$OTHER3" last_devices
ctl unlease --owner vm-other >/dev/null
wait_until same "$INITIAL" last_devices

# --- the plugin restarts (killed): its leases are found again ---------------------------------------
kube allocate "$R" group-2 >"$TMP/a4.json"
lease4=$(lease_id "k8s:$R:group-2")
kube allocate "$R" group-3 >/dev/null
check_eq "two allocations, group-2 and group-3" "$(k8s_leases | wc -w)" "2"
checkpoint group-2 >/dev/null
check "a checkpoint with group-2: group-3's lease ends" wait_until same "$lease4:k8s:$R:group-2" k8s_leases
kube allocate "$R" group-3 >/dev/null
check_eq "group-3 allocated again, not yet in the checkpoint" "$(k8s_leases | wc -w)" "2"
n=$(count stream-end)
kill -KILL "$PLUGIN_PID"
wait "$PLUGIN_PID" 2>/dev/null
PLUGIN_PID=
check "the kubelet's stream of the killed plugin ends" wait_until more stream-end "$n"
start_plugin
check "the plugin, started again, registers again" wait_until more register 2
check "…its stale socket replaced, a device stream again" \
	wait_until more devices 0 "$(grep -n '^{"event":"register"' "$KLOG" | tail -1 | cut -d: -f1)"
check "…at start it ends the lease the checkpoint does not list (group-3's)" \
	wait_until same "$lease4:k8s:$R:group-2" k8s_leases
kube allocate "$R" group-2 >"$TMP/a5.json"
check_eq "…and allocate group-2 gets the lease it took before" \
	"$(json_eval '(d["error"], d["envs"], d["devices"])' <"$TMP/a5.json") $(lease_id "k8s:$R:group-2")" \
	"$(json_eval '(d["error"], d["envs"], d["devices"])' <"$TMP/a4.json") $lease4"
check_eq "…still on vfio-pci, /dev/vfio/2 still the pod's" "$(group2)" "vfio-pci vfio-pci 1000:1001 660"

# --- SIGTERM: exit 0, the socket removed, the leases stay with their pods ----------------------------
n=$(count stream-end)
kill -TERM "$PLUGIN_PID"
wait "$PLUGIN_PID"
check_eq "SIGTERM: the plugin exits 0" "$?" "0"
PLUGIN_PID=
check "…removes its socket" test ! -e "$KD/pcipass-gpu.sock"
check "…its stream ends" wait_until more stream-end "$n"
check_eq "…its lease stays" "$(lease_id "k8s:$R:group-2")" "$lease4"

echo quit >&9
wait "$KUBELET_PID"
check_eq "fakekubelet quits (exit 0)" "$?" "0"
KUBELET_PID=
exec 9>&-
ctl unlease --owner "k8s:$R:group-2" >/dev/null
daemon_stop || not_ok "pcipassd exits cleanly"
fakekernel_stop || not_ok "fakekernel exits cleanly"
if [ "$FAILED" -ne 0 ]; then
	echo "# plugin.log:"
	sed 's/^/#   /' "$TMP/plugin.log" | tail -40
	echo "# kubelet.log, fakekubelet's stderr:"
	cut -c1-300 "$KLOG" "$TMP/kubelet.err" | sed 's/^/#   /' | tail -40
fi
finish
