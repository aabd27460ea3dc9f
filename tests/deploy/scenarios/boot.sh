# shellcheck shell=bash
# The package as a GPU host deploys it. Boot 1: dpkg -i, a GPU policy with a start-up rule
# (the GPU at 00:05.0 with its HDMI-class audio at 00:05.1, one IOMMU group), a reload (which
# writes the udev rule), and recorders: a udev rule noting the driver and override each PCI
# function has when udev first sees it and each bind, and a libvirtd.service drop-in noting
# the GPU's drivers when libvirtd starts. Boot 2: neither function was ever bound to its host
# driver, libvirtd saw them on vfio-pci, STATUS= is current, reload and socket activation
# work, the journal has the start-up application; a lease in libvirt form makes a domain that
# QEMU starts with both functions in one slot; the in-use guard names that QEMU and its
# domain; virsh destroy ends the lease through the hook; a stop during claims leaves every
# function whole; systemd-analyze verify and security.
gpu=0000:00:05.0
audio=0000:00:05.1
nics="0000:00:03.0 0000:00:04.0 0000:05:00.0"
nic_pair=0000:01:00.0	# with 01:00.1 in one IOMMU group: claimed with --group
udev_log=/run/udev/deploy-record.log
libvirtd_log=/run/deploy-libvirtd.log

driver_of() { local l; l=$(readlink "/sys/bus/pci/devices/$1/driver") && basename "$l" || echo none; }
drivers() { echo "$(driver_of $gpu) $(driver_of $audio)"; }

boot1() {
	note "without pcipass the GPU and its audio are on: $(drivers)"
	check "without pcipass, the host drivers bind them at boot (bochs-drm, snd_hda_intel)" \
		test "$(drivers)" = "bochs-drm snd_hda_intel"
	note "initrd drivers for them: $(lsinitramfs /boot/initrd.img-* 2>/dev/null |
		grep -cE 'bochs|snd-hda-intel|snd_hda_intel') files"
	check "dpkg -i the package" dpkg -i "$DEB"
	check "pcipassd.service and its socket are active after installation" \
		systemctl is-active pcipassd.service pcipassd.socket
	cat >/etc/pcipass/policy.d/50-gpu.policy <<'EOF'
[Match]
Address=0000:00:05.0
[Assign]
Driver=vfio-pci
Group=claim
Apply=boot
Pool=gpu
AfterLease=keep
EOF
	check "systemctl reload pcipassd (the new policy)" systemctl reload pcipassd
	check "the udev rule names the GPU and, as its companion, the audio function" sh -c "
		grep -q 'KERNEL==\"$gpu\", ATTR{driver_override}=\"vfio-pci\"' /etc/udev/rules.d/61-pcipass.rules &&
		grep -q 'KERNEL==\"$audio\", ATTR{vendor}==\"0x8086\", ATTR{device}==\"0x293e\", ATTR{driver_override}=\"vfio-pci\"' /etc/udev/rules.d/61-pcipass.rules"
	sed 's/^/#     /' /etc/udev/rules.d/61-pcipass.rules >&3

	cat >/usr/local/sbin/deploy-udev-record <<EOF
#!/bin/sh
echo "\$ACTION \${DEVPATH##*/} driver=\${DRIVER:-} override=\$(cat /sys\$DEVPATH/driver_override)" >>$udev_log
EOF
	cat >/etc/udev/rules.d/99-deploy-record.rules <<'EOF'
SUBSYSTEM=="pci", ACTION=="add|bind", RUN+="/usr/local/sbin/deploy-udev-record"
EOF
	cat >/usr/local/sbin/deploy-libvirtd-record <<EOF
#!/bin/sh
echo "\$(cut -d' ' -f1 /proc/uptime) $gpu=\$(basename "\$(readlink /sys/bus/pci/devices/$gpu/driver)") $audio=\$(basename "\$(readlink /sys/bus/pci/devices/$audio/driver)") pcipassd=\$(systemctl is-active pcipassd.service)" >>$libvirtd_log
EOF
	chmod 0755 /usr/local/sbin/deploy-udev-record /usr/local/sbin/deploy-libvirtd-record
	mkdir -p /etc/systemd/system/libvirtd.service.d
	printf '[Service]\nExecStartPre=/usr/local/sbin/deploy-libvirtd-record\n' \
		>/etc/systemd/system/libvirtd.service.d/50-deploy-record.conf
	check "systemctl daemon-reload (the recorders)" systemctl daemon-reload
	check "libvirtd.service is enabled (starts at boot)" systemctl is-enabled libvirtd.service
}

# The journal records of MESSAGE_ID $1 this boot, as "FIELD=VALUE …" lines.
journal_records() {
	journalctl -b -o json "MESSAGE_ID=$1" | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    print(" ".join("%s=%s" % (k, ",".join(v) if isinstance(v, list) else v)
                   for k, v in sorted(e.items()) if k.startswith(("PCI", "PCIPASS", "FORCE"))))'
}

# QEMU's query-pci of domain $1: "slot.function vendor:device" of every device, bridges walked.
query_pci() {
	virsh qemu-monitor-command "$1" '{"execute":"query-pci"}' | python3 -c '
import json, sys
def walk(devs):
    for d in devs:
        yield "%02x:%02x.%x %04x:%04x" % (d["bus"], d["slot"], d["function"],
                                        d["id"]["vendor"], d["id"]["device"])
        yield from walk(d.get("pci_bridge", {}).get("devices", []))
for bus in json.load(sys.stdin)["return"]:
    print("\n".join(walk(bus["devices"])))'
}

has_apply_record() { journal_records 0e913451e13f4c6c97c6050ad0dfdf3f | grep -q .; }
has_claim_record() {
	journal_records 0e913451e13f4c6c97c6050ad0dfdf3f | grep "PCI_SLOT_NAME=$gpu,$audio" |
		grep -q "PCIPASS_MOVE=$gpu none vfio-pci,$audio none vfio-pci"
}
# one_slot DOMAIN: the passed-through GPU (1234:1111; libvirt gives a domain without <video>
# no VGA of its own) is function 0 of a slot whose function 1 is the ICH9 HDA, 8086:293e.
one_slot() {
	local q slot
	q=$(query_pci "$1")
	echo "$q"
	slot=$(echo "$q" | grep ' 1234:1111$' | grep '\.0 ' | cut -d. -f1 | head -1)
	[ -n "$slot" ] && echo "$q" | grep -qx "$slot.1 8086:293e"
}
whole_after_stop() {
	local d o
	d=$(driver_of "$1")
	o=$(cat "/sys/bus/pci/devices/$1/driver_override")
	echo "$1: $d, override $o"
	[ "$d:$o" = "e1000e:(null)" ] || [ "$d:$o" = "vfio-pci:vfio-pci" ]
}
status_text() { systemctl show -p StatusText --value pcipassd.service; }

boot2() {
	# --- the boot itself ---------------------------------------------------------------
	check "the GPU and its audio are on vfio-pci" test "$(drivers)" = "vfio-pci vfio-pci"
	note "udev saw: $(grep -E " ($gpu|$audio) " $udev_log | paste -sd'|')"
	check "udev first saw the GPU with no driver and the override vfio-pci" \
		sh -c "grep -E '^add $gpu ' $udev_log | head -1 | grep -qxE 'add $gpu driver=(vfio-pci)? override=vfio-pci'"
	check "…and its audio function the same" \
		sh -c "grep -E '^add $audio ' $udev_log | head -1 | grep -qxE 'add $audio driver=(vfio-pci)? override=vfio-pci'"
	check "every bind of either this boot was vfio-pci's" sh -c "
		grep -E '^bind ($gpu|$audio) ' $udev_log | grep -q . &&
		! grep -E '^bind ($gpu|$audio) ' $udev_log | grep -v 'driver=vfio-pci '"
	check "the kernel log has bochs-drm and snd_hda_intel on neither" \
		sh -c "! journalctl -k -b | grep -E '(bochs-drm|snd_hda_intel) ($gpu|$audio)'"
	note "kernel log for them: $(journalctl -k -b -o cat | grep -E "$gpu|$audio" | tail -4 | paste -sd'|')"
	note "libvirtd started with: $(head -1 $libvirtd_log)"
	check "libvirtd.service (ordered after pcipassd) saw both on vfio-pci when it started" \
		sh -c "head -1 $libvirtd_log | grep -q ' $gpu=vfio-pci $audio=vfio-pci pcipassd=active$'"
	check "pcipassd's start-up application is in the journal" has_apply_record
	note "start-up records: $(journal_records 0e913451e13f4c6c97c6050ad0dfdf3f | paste -sd'|')"
	check "…its record names both, from no driver to vfio-pci" has_claim_record
	note "StatusText: $(status_text)"
	check "systemctl status shows a current STATUS line (2 claimed, no lease)" \
		sh -c "systemctl status pcipassd.service | grep -q 'Status: \".* 2 claimed'"

	# --- reload ------------------------------------------------------------------------
	check "systemctl reload pcipassd" systemctl reload pcipassd.service
	check "…it stays active, the policy loaded again" sh -c "
		systemctl is-active pcipassd.service && journalctl -b -u pcipassd -o cat | grep -c 'Policy loaded' | grep -qx 2"

	# --- a lease that libvirt uses --------------------------------------------------------
	check "pcipassctl lease gpu --owner vm1 --format libvirt" \
		sh -c 'pcipassctl lease gpu --owner vm1 --format libvirt >/root/vm1-hostdev.xml'
	sed 's/^/#     /' /root/vm1-hostdev.xml >&3
	check "STATUS= says so (1 lease)" wait_for 30 sh -c "systemctl show -p StatusText --value pcipassd | grep -q '1 lease'"
	{
		echo "<domain type='qemu'><name>vm1</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>"
		echo "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
		cat /root/vm1-hostdev.xml
		echo "</devices></domain>"
	} >/root/vm1.xml
	check "virsh define the domain with that XML" virsh define /root/vm1.xml
	check "virsh start vm1 (the hook finds vm1's lease)" virsh start vm1
	note "query-pci: $(query_pci vm1 | paste -sd'|')"
	check "query-pci: the GPU and its audio as functions 0 and 1 of one slot" one_slot vm1
	pcipassctl release $gpu >/root/release.out 2>&1
	check "while vm1 runs, a release is refused (exit 1)" test $? = 1
	sed 's/^/#     /' /root/release.out >&3
	check "…saying it is vm1's" grep -q "is leased to vm1" /root/release.out
	pcipassctl -j show $gpu >/root/show.json
	note "in use: $(python3 -c 'import json; print(json.load(open("/root/show.json"))["device"]["vfio"]["open_by"])')"
	check "the in-use guard, under the unit's sandbox, names the holder: QEMU, libvirt-qemu's uid, guest vm1" \
		grep -qE "open by pid [0-9]+ \(qemu-system-x86, uid $(id -u libvirt-qemu), guest vm1\)" /root/show.json
	check "…and the GPU is still on vfio-pci" test "$(drivers)" = "vfio-pci vfio-pci"
	check "virsh destroy vm1" virsh destroy vm1
	check "the hook ends the lease" wait_for 60 sh -c '! pcipassctl leases | grep -q vm1'
	check "…AfterLease=keep: the group stays on vfio-pci" test "$(drivers)" = "vfio-pci vfio-pci"

	# --- socket activation -------------------------------------------------------------
	check "systemctl stop pcipassd.service (the socket stays)" sh -c '
		systemctl stop pcipassd.service && ! systemctl is-active pcipassd.service &&
		systemctl is-active pcipassd.socket'
	check "a client connecting starts it again" pcipassctl status
	check "…active" systemctl is-active pcipassd.service

	# --- a stop during claims ---------------------------------------------------------
	# Four claims queue up (one transaction runs at a time); systemctl stop comes as the
	# monitor shows the first one's first step. pcipassd lets a running claim end, refuses
	# the waiting ones, and exits: whatever had run by then, nothing is half-done. (How far
	# the claims got depends on the machine's speed, so it is noted, not checked; the fake
	# kernel's hang control, in test-binder, stops one at a chosen step.)
	pcipassctl monitor --initial >/root/monitor.txt 2>&1 &
	local mon=$! a
	wait_for 60 grep -q . /root/monitor.txt
	for a in $nics; do pcipassctl claim "$a" >"/root/claim-$a.out" 2>&1 & done
	pcipassctl claim "$nic_pair" --group >"/root/claim-$nic_pair.out" 2>&1 &
	wait_for 60 grep -q ' step' /root/monitor.txt
	check "systemctl stop as the claims run" systemctl stop pcipassd.service
	kill "$mon" 2>/dev/null
	wait
	note "the claims: $(cat /root/claim-*.out | paste -sd'|')"
	note "the stop: $(journalctl -b -u pcipassd -o cat | grep -E 'Stopping once|in flight' | paste -sd'|')"
	note "$(grep -l 'pcipassd is stopping' /root/claim-*.out | wc -l) of 4 claims refused as pcipassd stopped"
	check "every claim either done or refused as pcipassd stopped" sh -c \
		"! grep -hv '^Claimed IOMMU group\|pcipassd is stopping' /root/claim-*.out"
	for a in $nics $nic_pair ${nic_pair%.0}.1; do
		check "$a after the stop: on e1000e with no override, or on vfio-pci with its override" \
			whole_after_stop "$a"
	done
	check "pcipassd starts again (socket activation), with nothing left in flight to undo" sh -c \
		"pcipassctl status >/dev/null && ! journalctl -b -u pcipassd -o cat | grep -q 'was in flight when pcipassd stopped'"
	for a in $nics $nic_pair; do pcipassctl release "$a" >/dev/null 2>&1; done
	check "the NICs go back to e1000e" sh -c "for a in $nics $nic_pair ${nic_pair%.0}.1; do
		[ \"\$(basename \"\$(readlink /sys/bus/pci/devices/\$a/driver)\")\" = e1000e ] || exit 1; done"

	# --- the installed units -----------------------------------------------------------
	check "the man pages the units name are installed" sh -c \
		"ls /usr/share/man/man8/pcipassd.8* /usr/share/man/man1/pcipassctl.1* /usr/share/man/man5/pcipass.policy.5*"
	check "systemd-analyze verify of the installed units (man is not in the guest: --man=no)" sh -c '
		out=$(systemd-analyze verify --man=no pcipassd.service pcipassd.socket 2>&1); echo "$out"; [ -z "$out" ]'
	systemd-analyze security --offline=yes pcipassd.service 2>&1 | tail -1 >/root/security.txt
	note "systemd-analyze security --offline=yes: $(cat /root/security.txt)"
	check "…exposure at most 3.0" sh -c "
		v=\$(grep -o 'exposure level for pcipassd.service: [0-9.]*' /root/security.txt | grep -o '[0-9.]*\$')
		[ -n \"\$v\" ] && awk -v v=\"\$v\" 'BEGIN { exit !(v <= 3.0) }'"
}
