# shellcheck shell=bash
# The libvirt hook as deployed: boot 1 installs the package and defines a domain with the NIC
# at 00:03.0 as an unmanaged vfio hostdev; in boot 2 the domain starts (the hook leases the
# NIC's group, which moves it to vfio-pci) and runs as a nested TCG guest, and when it is
# destroyed the lease ends.
nic=0000:00:03.0

boot1() {
	check "dpkg -i the package" dpkg -i "$DEB"
	cat >/root/hostdev.xml <<'X'
<domain type='qemu'>
  <name>hostdev1</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='no'>
      <source><address domain='0x0000' bus='0x00' slot='0x03' function='0x0'/></source>
    </hostdev>
  </devices>
</domain>
X
	check "virsh define a domain with $nic as hostdev" virsh define /root/hostdev.xml
}

driver_of() { basename "$(readlink "/sys/bus/pci/devices/$1/driver")"; }

boot2() {
	check "$nic is on e1000e after the reboot" test "$(driver_of $nic)" = e1000e
	check "virsh start (the hook leases $nic)" virsh start hostdev1
	check "the domain is running" sh -c 'virsh domstate hostdev1 | grep -qx running'
	check "$nic is on vfio-pci" test "$(driver_of $nic)" = vfio-pci
	check "pcipassctl leases names the domain" sh -c 'pcipassctl leases | grep -q hostdev1'
	check "virsh destroy" virsh destroy hostdev1
	check "the lease ends with the domain" \
		wait_for 60 sh -c '! pcipassctl leases | grep -q hostdev1'
}
