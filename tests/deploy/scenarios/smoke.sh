# shellcheck shell=bash
# The package installs and its units are enabled (boot 1); after a reboot the guest is a
# working libvirt host on which pcipass answers (boot 2).

boot1() {
	check "dpkg -i the package" dpkg -i "$DEB"
	check "pcipassd.socket is enabled" systemctl is-enabled pcipassd.socket
	# systemctl status fails unless the unit is active, and shows why.
	check "pcipassd.socket listens after the install" systemctl status --no-pager pcipassd.socket
}

boot2() {
	check "the guest reached multi-user.target" systemctl is-active multi-user.target
	check "lspci -k lists the layout's GPU audio function (00:05.1)" \
		sh -c 'lspci -k -s 00:05.1 | grep -q "Audio device"'
	check "lspci -k shows e1000e bound to a NIC" sh -c 'lspci -k | grep -q "in use: e1000e"'
	check "/sys/kernel/iommu_groups is not empty" \
		sh -c '[ -n "$(ls /sys/kernel/iommu_groups)" ]'
	check "libvirtd.socket is active" systemctl is-active libvirtd.socket
	check "virsh connects to qemu:///system" virsh -c qemu:///system version
	if command -v pcipassctl >/dev/null; then
		check "pcipassctl status answers" pcipassctl status
	else
		note "the package has no pcipassctl: not checked"
	fi
}
