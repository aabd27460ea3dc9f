# layout: main
# Hotplug through the QEMU monitor: a NIC added to the empty root port hp0 (00:0a.0) is
# claimed by a start-up rule; removed, it leaves the model; monitor reports both.
bus=$(ls -d /sys/bus/pci/devices/0000:00:0a.0/pci_bus/* | sed 's|.*/||')
dev=$bus:00.0
policy 50-hot <<P
[Match]
Address=$dev
[Assign]
Driver=vfio-pci
P
daemon_start
check "$dev is not there yet" absent $dev
monitor_start $W/monitor.log
say '@qmp {"execute":"device_add","arguments":{"driver":"e1000e","bus":"hp0","id":"hot0"}}'
check "the hot-added NIC appears" wait_for 30 test -e /sys/bus/pci/devices/$dev
check "the daemon claims it for vfio-pci" wait_for 30 sh -c "readlink /sys/bus/pci/devices/$dev/driver | grep -q vfio-pci"
check_eq "the kernel: its group is viable" viable "$(vmcheck viable $(group_of $dev))"
kernel_agrees "hot-added" 1
say '@qmp {"execute":"device_del","arguments":{"id":"hot0"}}'
check "the NIC leaves sysfs" wait_for 30 test ! -e /sys/bus/pci/devices/$dev
check "and the daemon's model" wait_for 10 absent $dev
sleep 0.5
kill $MONITOR_PID
check "monitor reported the add" grep -q "add *pci *$dev" $W/monitor.log
check "monitor reported the bind to vfio-pci" grep -q "bind .*$dev.*vfio-pci" $W/monitor.log
check "monitor reported the removal" grep -q "remove *pci *$dev" $W/monitor.log
sed 's/^/  /' $W/monitor.log >$RES
grep -i "0000:06\|$dev" $W/pcipassd.log | tail -20 | sed 's/^/  log: /' >$RES
