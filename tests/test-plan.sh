#!/bin/bash
# Policy, plan and reload through the real daemon on a captured q35 host (kernel 6.1, emulated
# Intel IOMMU): the GPU slot (VGA 00:05.0 with HDA 00:05.1 in group 3), two e1000 behind a
# PCIe-to-PCI bridge (group 11), an NVMe disk (02:00.0). Facts the planner gathers are planted
# in the tree (a block device mounted here) and in this process (an open /dev/vfio node).
. "${top_srcdir:-.}/tests/lib.sh"
enter_netns "$@"

root=$(extract q35-iommu-host)
pol=$TMP/policy
mkdir -p "$pol" "$TMP/dev/vfio"
conf=$TMP/pcipassd.conf
tree_sum() { find "$root" -name driver_override -o -name drivers_probe -o -name unbind | sort | xargs cat 2>/dev/null | md5sum; }
before=$(tree_sum)

cat >"$pol/50-gpu.policy" <<'EOF'
# The GPU slot: the boot VGA here, hence Force (the test host has no console to lose).
[Match]
Class=0x0300/0xff0000
[Assign]
Driver=vfio-pci
Group=claim
Pool=gpu
Force=yes
Description=GPU pool
EOF
cat >"$pol/60-legacy-nic.policy" <<'EOF'
[Match]
Address=0000:04:01.0
[Assign]
Driver=vfio-pci
EOF
cat >"$pol/70-disk.policy" <<'EOF'
[Match]
Id=1b36:0010
[Assign]
Driver=vfio-pci
EOF

# The NVMe disk's namespace, mounted: its dev number is that of this test's own root mount.
rootdev=$(awk '$5 == "/" { print $3; exit }' /proc/self/mountinfo)
nvme=$root/devices/pci0000:00/0000:00:07.0/0000:02:00.0/nvme/nvme0/nvme0n1
mkdir -p "$nvme" "$root/class/block" && echo "$rootdev" >"$nvme/dev"
ln -s ../../devices/pci0000:00/0000:00:07.0/0000:02:00.0/nvme/nvme0/nvme0n1 "$root/class/block/nvme0n1"

daemon_start "$root" --read-only --policy-dir "$pol" --config "$conf" || { not_ok "pcipassd starts"; finish; }
plan() { ctl -j plan "$@"; }

# The GPU group: claimed with its audio function, forced past the boot-VGA guard.
plan 0000:00:05.0 >"$TMP/gpu.json"
check_eq "GPU group: viable now / after" \
	"$(json_eval '[(g["iommu_group"], g["viable"], g["viable_after"], g["blocked"]) for g in d["groups"]]' <"$TMP/gpu.json")" \
	"[(3, False, True, False)]"
check_eq "GPU group: VGA bound, audio claimed along, from 50-gpu.policy:2" \
	"$(json_eval '[(m["address"], m["action"], m["companion"], m["rule"]["name"], m["rule"]["line"], m["pool"]) for m in d["groups"][0]["members"]]' <"$TMP/gpu.json")" \
	"[('0000:00:05.0', 'bind', False, '50-gpu.policy', 2, 'gpu'), ('0000:00:05.1', 'bind', True, '50-gpu.policy', 2, 'gpu')]"
check_eq "GPU group: the boot-VGA guard is reported, overridden by Force" \
	"$(json_eval '[(b["code"], b["forceable"], b["overridden"]) for b in d["groups"][0]["members"][0]["blockers"]]' <"$TMP/gpu.json")" \
	"[('boot-vga', True, True)]"
check_eq "GPU group: exactly these writes, in order" \
	"$(json_eval '"|".join(s.get("module") or s["path"] + "=" + s["value"] for m in d["groups"][0]["members"] for s in m["steps"])' <"$TMP/gpu.json")" \
	"vfio-pci|bus/pci/devices/0000:00:05.0/driver_override=vfio-pci|bus/pci/drivers_probe=0000:00:05.0|bus/pci/devices/0000:00:05.1/driver_override=vfio-pci|bus/pci/drivers/snd_hda_intel/unbind=0000:00:05.1|bus/pci/drivers_probe=0000:00:05.1"

# Behind the PCIe-to-PCI bridge: one e1000 wanted, the other keeps the group non-viable.
plan 0000:04:01.0 >"$TMP/br.json"
check_eq "bridged NIC: blocked, group-not-viable naming 04:02.0 and the rule" \
	"$(json_eval '(d["groups"][0]["blocked"], [b["code"] for b in d["groups"][0]["blockers"]], "0000:04:02.0 is bound to e1000" in d["groups"][0]["blockers"][0]["message"], "60-legacy-nic.policy:1" in d["groups"][0]["blockers"][0]["message"])' <"$TMP/br.json")" \
	"(True, ['group-not-viable'], True, True)"
check_eq "bridged NIC: the bridge and the other NIC are left, nothing is written" \
	"$(json_eval '[(m["address"], m["action"], len(m["steps"])) for m in d["groups"][0]["members"]]' <"$TMP/br.json")" \
	"[('0000:03:00.0', 'leave', 0), ('0000:04:01.0', 'bind', 0), ('0000:04:02.0', 'leave', 0)]"

# The disk: its namespace is mounted.
check_eq "NVMe with a mounted namespace: block-in-use" \
	"$(plan 0000:02:00.0 | json_eval '[(b["code"], b["message"]) for b in d["groups"][0]["members"][0]["blockers"]]')" \
	"[('block-in-use', '0000:02:00.0 serves nvme0n1 mounted on /')]"

# A NIC in use: a veth interface of this test's network namespace, planted as 01:00.0's, below
# a virtio-style child device as the kernel lays out virtio-net. In use when it, or a device
# stacked on it (a bridge, bond, VLAN, macvlan: the kernel's master and lower links, read over
# rtnetlink), carries a global address or a route; the blocker names the chain.
nic_blockers() {
	plan 0000:01:00.0 | json_eval '[(b["code"], b["message"], b["forceable"]) for b in d["groups"][0]["members"][0]["blockers"]]'
}
in_use() { echo "[('net-in-use', '0000:01:00.0 is $1', True)]"; }
# stacked NAME KIND WHAT ADDRESS COMMAND...: COMMAND makes device NAME stacked on pcipass9 and
# ADDRESS goes on it: blocked, the chain named as WHAT; without the address, not. "# SKIP"
# when this kernel cannot make a KIND (a module it does not have).
stacked() {
	local name=$1 kind=$2 what=$3 address=$4
	shift 4
	if ! "$@" 2>"$TMP/ip.err"; then
		ok "pcipass9 under a $kind # SKIP this kernel cannot make a $kind ($(head -1 "$TMP/ip.err"))"
		ip link del "$name" 2>/dev/null
		return
	fi
	ip addr add "$address" dev "$name" && ip link set "$name" up
	check_eq "pcipass9 under a $kind ($name) with $address: net-in-use, the chain named" \
		"$(nic_blockers)" "$(in_use "pcipass9, $what which carries $address")"
	ip addr del "$address" dev "$name"
	check_eq "…the $kind without its address: not in use" "$(nic_blockers)" "[]"
	ip link del "$name"
}
if ip link add pcipass9 type veth peer name pcipass9p && ip addr add 192.0.2.9/24 dev pcipass9 &&
	ip addr add 2001:db8::9/64 dev pcipass9 nodad; then
	netdir=$root/devices/pci0000:00/0000:00:06.0/0000:01:00.0/virtio5/net/pcipass9
	mkdir -p "$netdir" "$root/class/net"
	ln -s ../../devices/pci0000:00/0000:00:06.0/0000:01:00.0/virtio5/net/pcipass9 "$root/class/net/pcipass9"
	printf '[Match]\nAddress=0000:01:00.0\n[Assign]\nDriver=vfio-pci\nGroup=claim\n' >"$pol/65-nic.policy"
	ctl reload >/dev/null
	check_eq "a NIC whose interface has addresses: net-in-use, forceable" \
		"$(plan 0000:01:00.0 | json_eval '[(m["address"], [(b["code"], b["message"], b["forceable"]) for b in m["blockers"]]) for m in d["groups"][0]["members"]]')" \
		"[('0000:01:00.0', [('net-in-use', '0000:01:00.0 is pcipass9, which carries 192.0.2.9/24, 2001:db8::9/64', True)]), ('0000:01:00.1', [])]"
	ip addr flush dev pcipass9

	# Up, with only its IPv6 link-local address and that address's fe80::/64 route.
	ip link set pcipass9p up && ip link set pcipass9 up
	check "the NIC up: it has an fe80:: address and the fe80::/64 route" wait_until \
		sh -c 'ip -6 addr show dev pcipass9 scope link | grep -q fe80:: && ip -6 route show dev pcipass9 | grep -q "^fe80::/64"'
	check_eq "…and nothing else: not in use" "$(nic_blockers)" "[]"
	ip route add 203.0.113.0/24 dev pcipass9 table 100
	check_eq "a route through it, in another table than main: net-in-use" "$(nic_blockers)" \
		"$(in_use "pcipass9, which carries a route to 203.0.113.0/24 (table 100)")"
	ip route del 203.0.113.0/24 dev pcipass9 table 100

	# A port of a bridge (Proxmox's vmbr0): the address and the default route on the bridge.
	ip link add pcipassbr0 type bridge && ip link set pcipass9 master pcipassbr0 &&
		ip addr add 192.0.2.10/24 dev pcipassbr0 && ip link set pcipassbr0 up &&
		ip route add default via 192.0.2.1 dev pcipassbr0
	check_eq "a port of a bridge that carries the address and the default route: net-in-use" \
		"$(nic_blockers)" \
		"$(in_use "pcipass9, a port of pcipassbr0 which carries 192.0.2.10/24 and the default route")"
	ip route del default && ip addr del 192.0.2.10/24 dev pcipassbr0
	check_eq "…the bridge's address and route removed: not in use" "$(nic_blockers)" "[]"
	stacked pcipassmv1 "macvlan on the bridge" "a port of pcipassbr0, the lower device of pcipassmv1" 192.0.2.14/24 \
		ip link add link pcipassbr0 name pcipassmv1 type macvlan mode bridge
	ip link del pcipassbr0

	stacked pcipass9.10 VLAN "the lower device of pcipass9.10" 192.0.2.11/24 \
		ip link add link pcipass9 name pcipass9.10 type vlan id 10
	stacked pcipassmv0 macvlan "the lower device of pcipassmv0" 192.0.2.12/24 \
		ip link add link pcipass9 name pcipassmv0 type macvlan mode bridge
	ip link set pcipass9 down
	stacked pcipassbond0 bond "a port of pcipassbond0" 192.0.2.13/24 \
		sh -c 'ip link add pcipassbond0 type bond && ip link set pcipass9 master pcipassbond0'
	rm "$pol/65-nic.policy"
	ctl reload >/dev/null
else
	not_ok "cannot create a veth interface in the test's network namespace (ip link add)"
fi

# The whole host: every group, those without a rule left alone.
plan >"$TMP/all.json"
check_eq "whole-host plan covers all 12 groups; only groups 3, 10, 11 have rules" \
	"$(json_eval '(len(d["groups"]), [g["iommu_group"] for g in d["groups"] if any(m["rule"] for m in g["members"])])' <"$TMP/all.json")" \
	"(12, [3, 10, 11])"
ctl plan >"$TMP/plan.txt"
check "pcipassctl plan: table by group with the rule and blockers" \
	grep -q '^11     no→no   0000:03:00.0  Red Hat, Inc. Device 000e  *(none)         (host)    leave' "$TMP/plan.txt"
check "pcipassctl plan: the writes, in words" \
	grep -q 'write bus/pci/devices/0000:00:05.1/driver_override *← vfio-pci' "$TMP/plan.txt"
check_eq "a plan writes nothing" "$(tree_sum)" "$before"

# A group held open by a VM: releasing it would hang in the kernel.
cat >"$pol/40-nic-host.policy" <<'EOF'
[Match]
Address=0000:00:03.0
[Assign]
Driver=host
EOF
quiet() { "$@" >/dev/null; }
check "reload picks up a new rule" quiet ctl reload
: >"$TMP/dev/vfio/1"
exec 9<"$TMP/dev/vfio/1"
"$FAKESYS" "$root" unbind 0000:00:03.0 >/dev/null && "$FAKESYS" "$root" bind 0000:00:03.0 vfio-pci >/dev/null &&
	"$FAKESYS" "$root" set 0000:00:03.0 driver_override vfio-pci >/dev/null
ctl reload >/dev/null
check_eq "release of a NIC whose /dev/vfio/1 a process holds: device-open, not forceable" \
	"$(plan 0000:00:03.0 | json_eval '[(m["action"], [(b["code"], b["forceable"]) for b in m["blockers"]], "/dev/vfio/1 open by pid " in m["blockers"][0]["message"]) for m in d["groups"][0]["members"]]')" \
	"[('release', [('device-open', False)], True)]"
exec 9<&-
check_eq "once closed: override cleared, unbound from vfio-pci, reprobed" \
	"$(plan 0000:00:03.0 | json_eval '"|".join(s["path"] + "=" + repr(s["value"]) for s in d["groups"][0]["members"][0]["steps"])')" \
	"bus/pci/devices/0000:00:03.0/driver_override='\n'|bus/pci/drivers/vfio-pci/unbind='0000:00:03.0'|bus/pci/drivers_probe='0000:00:03.0'"

# A bad file: refused with file:line: reason, the policy in force stays.
printf '[Match]\nAddress=0000:00:04.0\n[Assign]\nDriver=vfio-pci\nGroup=all\n' >"$pol/80-typo.policy"
out=$(ctl reload 2>&1)
check_eq "reload of a bad policy: exit 1" "$?" "1"
check_eq "reload of a bad policy: says where and why" "$out" \
	"pcipassctl: policy refused, the policy in force stays: $pol/80-typo.policy:5: Group=all: expected claim, viable or any"
check_eq "status reports the refused load, the four rules stay" \
	"$(ctl -j status | json_eval '(len(d["status"]["policy"]["rules"]), d["status"]["policy"]["error"])')" \
	"(4, '$pol/80-typo.policy:5: Group=all: expected claim, viable or any')"
check_eq "the plan still follows the policy in force" \
	"$(plan 0000:00:04.0 | json_eval 'd["groups"][0]["members"][0]["action"]')" "leave"
mv "$pol/80-typo.policy" "$pol/80-typo.policy.off"
kill -HUP "$DAEMON_PID"
wait_until same None status_eval 'd["status"]["policy"]["error"]'
check_eq "SIGHUP after the fix: the error is gone" \
	"$(ctl -j status | json_eval 'd["status"]["policy"]["error"]')" "None"

# Trust, as systemd and sudo have it: what someone other than root can change is refused.
printf '[Match]\nAddress=0000:00:04.0\n[Assign]\nDriver=vfio-pci\n' >"$pol/85-foreign.policy"
chmod 0644 "$pol/85-foreign.policy"
chown 1000 "$pol/85-foreign.policy"
check_eq "a policy file not owned by root: refused, named, the policy in force stays" \
	"$(ctl reload 2>&1; echo "exit $?")" \
	"pcipassctl: policy refused, the policy in force stays: $pol/85-foreign.policy: refused: not owned by root (uid 1000, mode 0644)
exit 1"
chown 0 "$pol/85-foreign.policy"
chmod 0646 "$pol/85-foreign.policy"
check_eq "…one writable by others, likewise" "$(ctl reload 2>&1)" \
	"pcipassctl: policy refused, the policy in force stays: $pol/85-foreign.policy: refused: writable by others (uid 0, mode 0646)"
chgrp 1000 "$pol/85-foreign.policy"
chmod 0664 "$pol/85-foreign.policy"
check_eq "…one writable by a group other than root's, likewise" "$(ctl reload 2>&1)" \
	"pcipassctl: policy refused, the policy in force stays: $pol/85-foreign.policy: refused: writable by its group (uid 0, mode 0664)"
rm "$pol/85-foreign.policy"
mode=$(stat -c %a "$pol")
chmod o+w "$pol"
check_eq "…a policy directory writable by others, likewise" "$(ctl reload 2>&1)" \
	"pcipassctl: policy refused, the policy in force stays: $pol: directory refused: writable by others (uid 0, mode $(stat -c %04a "$pol"))"
chmod "$mode" "$pol"
check_eq "…and the four rules stay in force" \
	"$(ctl -j status | json_eval 'len(d["status"]["policy"]["rules"])')" "4"

# A policy directory that vanishes does not drop its rules (a deny among them) silently.
mv "$pol" "$pol.away"
check_eq "the policy directory gone: the reload is refused and says why" "$(ctl reload 2>&1)" \
	"pcipassctl: policy refused, the policy in force stays: $pol: the directory is gone, and 4 rules in force came from it: not dropped silently (restore it, or empty it to drop them)"
check_eq "…status names it, and the four rules stay" \
	"$(ctl -j status | json_eval '(len(d["status"]["policy"]["rules"]), d["status"]["policy"]["error"].split(":")[0])')" \
	"(4, '$pol')"
check "…and the log says so" grep -q "Invalid policy, keeping the policy in force (4 rules): $pol: the directory is gone" "$TMP/daemon.log"
mv "$pol.away" "$pol"
check "restored: the reload goes through" quiet ctl reload

# Masking: a same-named link to /dev/null in a later directory.
mkdir -p "$TMP/policy-etc"
ln -s /dev/null "$TMP/policy-etc/50-gpu.policy"
check "pcipassd stops cleanly" daemon_stop
daemon_start "$root" --read-only --policy-dir "$pol" --policy-dir "$TMP/policy-etc" --config "$conf"
check_eq "a link to /dev/null in a later directory masks the rule" \
	"$(ctl -j status | json_eval '[r.rsplit("/", 1)[1] for r in d["status"]["policy"]["rules"]]')" \
	"['40-nic-host.policy', '60-legacy-nic.policy', '70-disk.policy']"

# ValidatePolicy, as any Varlink client calls it.
check_eq "ValidatePolicy of good text" \
	"$($VL "$SOCK" io.pcipass.ValidatePolicy '{"text":"[Match]\nId=10de:*\n[Assign]\nDriver=vfio-pci\n"}')" \
	'{"parameters": {}}'
check_eq "ValidatePolicy of bad text: PolicyInvalid with file, line, reason" \
	"$($VL "$SOCK" io.pcipass.ValidatePolicy '{"name":"x.policy","text":"[Match]\nId=10de\n"}' | json_eval '(d["error"], d["parameters"])')" \
	"('io.pcipass.PolicyInvalid', {'file': 'x.policy', 'line': 2, 'message': 'x.policy:2: Id=10de: expected VENDOR:DEVICE in hex, e.g. 10de:2204', 'reason': 'Id=10de: expected VENDOR:DEVICE in hex, e.g. 10de:2204'})"
check_eq "Plan of an absent function: NoSuchDevice" \
	"$($VL "$SOCK" io.pcipass.Plan '{"address":"0000:42:00.0"}' | json_eval 'd["error"]')" "io.pcipass.NoSuchDevice"
ctl plan 42:00.0 >/dev/null 2>&1
check_eq "pcipassctl plan of a malformed address: exit 2" "$?" "2"

# pcipassd.conf: a bad key fails closed too.
printf '[Daemon]\nAllowNoIommu=maybe\n' >"$conf"
out=$(ctl reload 2>&1)
check_eq "bad pcipassd.conf: refused with file:line: reason" "$out" \
	"pcipassctl: policy refused, the policy in force stays: $conf:2: AllowNoIommu=maybe: expected yes or no"
check "pcipassd stops cleanly after all that" daemon_stop

# pcipassctl policy check: offline, the daemon's parser.
check "policy check of good files: exit 0" quiet ctl policy check "$pol/40-nic-host.policy" "$pol/60-legacy-nic.policy"
check_eq "policy check lists them" "$(ctl policy check "$pol/60-legacy-nic.policy")" \
	"$pol/60-legacy-nic.policy: ok (vfio-pci)
1 rule valid."
out=$(ctl policy check "$pol/60-legacy-nic.policy" "$pol/80-typo.policy.off" 2>&1)
check_eq "policy check of a bad file: exit 1 and file:line: reason" "$?:$out" \
	"1:$pol/80-typo.policy.off:5: Group=all: expected claim, viable or any"

# Readiness on a host without IOMMU: the problem and its remedy.
noiommu=$(extract virtio-noiommu)
daemon_start "$noiommu" --read-only --policy-dir "$pol" --config "$TMP/none.conf"
check_eq "no-IOMMU host: status names the problem" \
	"$(ctl -j status | json_eval '[p["code"] for p in d["status"]["problems"]]')" "['no-iommu']"
check "no-IOMMU host: pcipassctl status prints the remedy" \
	bash -c "'$PCIPASSCTL' --socket '$SOCK' status | grep -q 'remedy: enable VT-d (Intel)'"
check "pcipassd stops cleanly (no-IOMMU host)" daemon_stop
finish
