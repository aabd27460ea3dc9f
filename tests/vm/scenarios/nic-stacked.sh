# layout: main
# The NIC guard on a real kernel, the host's network set up with ip as hypervisor hosts have it:
# an e1000e whose interface is a port of a bridge that carries the management address and the
# default route (Proxmox's vmbr0) is refused, the chain named; without them (its interface up,
# with only its IPv6 link-local address and fe80::/64 route) it may be claimed. Then a VLAN on a
# bond of it, in that bridge. The interface is left as it was found: no master, up or down.
nic=0000:00:04.0
ifname=$(ls /sys/bus/pci/devices/$nic/net 2>/dev/null | head -n 1)
policy 50-nic <<P
[Match]
Address=$nic
[Assign]
Driver=vfio-pci
Apply=request
P

# iproute2's: busybox sh runs its own applet for a bare "ip", whatever PATH says.
IP=/usr/sbin/ip

# refused CHAIN: claim --dry-run exits 1, with the net-in-use blocker "$nic is CHAIN".
refused() {
	local rc
	pcipassctl claim $nic --dry-run >$W/dry.txt 2>&1
	rc=$?
	cat $W/dry.txt
	[ "$rc" = 1 ] && grep -qxF "  net-in-use: $nic is $1 (--force overrides)" $W/dry.txt
}

if ! $IP -V 2>&1 | grep -q iproute2; then
	say "ok - $SCENARIO: a NIC in a bridge # SKIP iproute2's ip is not in the guest"
	return 0
fi
check "$nic has a network interface ($ifname)" test -n "$ifname"
was_up=$(( $(cat /sys/class/net/$ifname/flags) & 1 ))
modprobe bridge && modprobe 8021q && modprobe bonding max_bonds=0
daemon_start

check "vmbr0: a bridge with port $ifname, 192.0.2.10/24 and the default route" sh -c "
	$IP link add vmbr0 type bridge && $IP link set $ifname master vmbr0 && $IP link set $ifname up &&
	$IP link set vmbr0 up && $IP addr add 192.0.2.10/24 dev vmbr0 &&
	$IP route add default via 192.0.2.1 dev vmbr0"
check "claim --dry-run is refused, naming the bridge, its address and the default route" \
	refused "$ifname, a port of vmbr0 which carries 192.0.2.10/24 and the default route"
check "…though $ifname itself has no address but its IPv6 link-local one" sh -c \
	"$IP addr show dev $ifname; ! $IP addr show dev $ifname | grep 'inet' | grep -qv 'inet6 fe80::'"
$IP route del default via 192.0.2.1 dev vmbr0 && $IP addr del 192.0.2.10/24 dev vmbr0
check "$ifname is up, with its fe80:: address and the fe80::/64 route" wait_for 20 sh -c \
	"$IP -6 addr show dev $ifname scope link | grep -q fe80:: && $IP -6 route show dev $ifname | grep -q '^fe80::/64'"
check "the address and the route removed: claim --dry-run is allowed" pcipassctl claim $nic --dry-run

$IP link set $ifname nomaster && $IP link set $ifname down
check "bond0 of $ifname, the VLAN bond0.10 on it, a port of vmbr0 with 192.0.2.10/24" sh -c "
	$IP link add bond0 type bond mode active-backup && $IP link set $ifname master bond0 &&
	$IP link set bond0 up && $IP link add link bond0 name bond0.10 type vlan id 10 &&
	$IP link set bond0.10 master vmbr0 && $IP link set bond0.10 up &&
	$IP addr add 192.0.2.10/24 dev vmbr0"
check "claim --dry-run is refused, naming the chain up to the bridge" \
	refused "$ifname, a port of bond0, the lower device of bond0.10, a port of vmbr0 which carries 192.0.2.10/24"
$IP addr add 2001:db8::10/64 dev bond0.10 nodad
check "…an address on the VLAN: the nearest device that carries one is named" \
	refused "$ifname, a port of bond0, the lower device of bond0.10 which carries 2001:db8::10/64"

$IP link del bond0.10
$IP link del bond0
$IP link del vmbr0
[ "$was_up" = 1 ] || $IP link set $ifname down
check_eq "$ifname is as it was found: no master, up as before ($was_up)" "none $was_up" \
	"$(ls -d /sys/class/net/$ifname/master >/dev/null 2>&1 && echo some || echo none) $(( $(cat /sys/class/net/$ifname/flags) & 1 ))"
check "with nothing stacked on it: claim --dry-run is allowed" pcipassctl claim $nic --dry-run
