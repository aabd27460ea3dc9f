# layout: noiommu
# The same machine booted without intel_iommu=on: status says so with the remedy, and a
# start-up rule for every NIC claims nothing.
policy 50-every-nic <<P
[Match]
Class=0x020000/0xffff00
[Assign]
Driver=vfio-pci
P
daemon_start
pcipassctl status >$W/status.txt 2>&1
check "status says there is no IOMMU" grep -qi "no.*iommu\|iommu.*absent\|not present" $W/status.txt
check "and gives the remedy intel_iommu=on" grep -q "intel_iommu=on" $W/status.txt
sed 's/^/  /' $W/status.txt >$RES
check "groups: none" sh -c "pcipassctl groups | grep -q 'No IOMMU groups'"
check "the plan refuses: no-iommu" sh -c "pcipassctl plan | grep -q no-iommu"
check "a claim is refused" sh -c "! pcipassctl claim 0000:00:03.0"
sleep 1
check_eq "nothing was claimed" "e1000e e1000e e1000" \
	"$(driver_of 0000:00:03.0) $(driver_of 0000:00:04.0) $(driver_of 0000:04:01.0)"
check "no driver_override was written" sh -c "! grep -l vfio /sys/bus/pci/devices/*/driver_override"
