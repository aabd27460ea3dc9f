# layout: main
# The config-space decoding next to lspci -vvv for every function of the guest (PCIe root
# ports with AER, e1000e, an nvme PF with SR-IOV and its VFs, a PCIe-to-PCI bridge, conventional
# devices): both are sent to the host, which compares them (tests/vm/lspci-check.sh), with the
# kernel's identity attributes of each; and the names of every function next to lspci -mm's.
pf=0000:02:00.0
check "lspci is in the guest" command -v lspci
echo 0 >/sys/bus/pci/devices/$pf/sriov_drivers_autoprobe
echo 2 >/sys/bus/pci/devices/$pf/sriov_numvfs
daemon_start
mkdir -p $W/lspci
n=0
for d in /sys/bus/pci/devices/*; do
	a=${d##*/}
	pcipassctl -j show $a >$W/lspci/$a.json
	lspci -vvv -s $a >$W/lspci/$a.txt
	# The kernel's own identity attributes, which the scan takes from config space instead.
	for k in vendor device class revision subsystem_vendor subsystem_device; do
		printf '%s %s\n' $k "$(cat $d/$k)"
	done >$W/lspci/$a.attrs
	for k in current_link_speed current_link_width max_link_speed max_link_width; do
		[ -e $d/$k ] && printf '%s %s\n' $k "$(cut -d' ' -f1 $d/$k)"
	done >>$W/lspci/$a.attrs
	n=$((n + 1))
done
# The names, next to lspci's from the same hardware database (pci.ids off).
pcipassctl -j list >$W/lspci/list.names
lspci -mm -D -i /dev/null >$W/lspci/lspci.mm
# Compressed: the serial port is slow under TCG (some 2 KB/s).
tar c -C $W lspci | gzip -9 | base64 | sed 's|^|@file lspci.tgz.b64 |' >$RES
pass "pcipassctl -j show and lspci -vvv of $n functions sent to the host"
