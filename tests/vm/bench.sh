# Benchmark in the guest (bench/vm-claim.sh runs it): seconds to move every NIC and VF this
# guest has to vfio-pci and back, with pcipassd (one transaction per IOMMU group, journaled and
# verified), with a driverctl-style shell loop (modprobe, override, unbind, drivers_probe per
# device), and with a bare C loop doing only those sysfs writes (vmcheck rebind).
W=/run/vmtest
ROUNDS=${ROUNDS:-3}
mkdir -p $W/policy
pf=0000:02:00.0
echo 0 >/sys/bus/pci/devices/$pf/sriov_drivers_autoprobe
echo 2 >/sys/bus/pci/devices/$pf/sriov_numvfs
nics=$(for d in /sys/bus/pci/devices/*; do
	case $(cat $d/class) in 0x0200*) echo ${d##*/} ;; esac
done)
vfs=$(for v in /sys/bus/pci/devices/$pf/virtfn*; do l=$(readlink $v); echo ${l##*/}; done)
devs="$nics $vfs"
n=$(echo $devs | wc -w)
# One claim per IOMMU group (its first member; --group moves the rest).
firsts=$(for d in $devs; do
	g=$(readlink /sys/bus/pci/devices/$d/iommu_group)
	g=${g##*/}
	echo "$g $d"
done | sort -n -k1,1 -u | cut -d' ' -f2)
ngroups=$(echo $firsts | wc -w)

now() { vmcheck now; }
elapsed() { echo "$1 $2" | awk '{ printf "%.2f", $2 - $1 }'; }
all_on() {
	for d in $devs; do
		l=$(readlink /sys/bus/pci/devices/$d/driver)
		[ "${l##*/}" = "$1" ] || { echo "bench: $d is on '${l##*/}', not $1" >&2; return 1; }
	done
}

cat >$W/policy/50-nics.policy <<P
[Match]
Class=0x020000/0xffff00
[Assign]
Driver=vfio-pci
Group=claim
Apply=request
P
cat >$W/policy/51-vfs.policy <<P
[Match]
VirtualFunctionOf=$pf
[Assign]
Driver=vfio-pci
Apply=request
P
pcipassd --policy-dir $W/policy 2>$W/pcipassd.log &
pid=$!
i=0
until pcipassctl status >/dev/null 2>&1 || [ $i -gt 100 ]; do sleep 0.1; i=$((i + 1)); done

t0=$(now); pcipassctl status >/dev/null; t1=$(now)
t2=$(now); vmcheck now >/dev/null; t3=$(now)
startup="one pcipassctl status: $(elapsed $t0 $t1) s; starting any dynamically linked program: $(elapsed $t2 $t3) s"
shell_claim() {
	for d in $devs; do
		modprobe vfio-pci
		echo vfio-pci >/sys/bus/pci/devices/$d/driver_override
		[ -e /sys/bus/pci/devices/$d/driver ] && echo $d >/sys/bus/pci/devices/$d/driver/unbind
		echo $d >/sys/bus/pci/drivers_probe
	done
}
shell_release() {
	for d in $devs; do
		echo >/sys/bus/pci/devices/$d/driver_override
		[ -e /sys/bus/pci/devices/$d/driver ] && echo $d >/sys/bus/pci/devices/$d/driver/unbind
		echo $d >/sys/bus/pci/drivers_probe
	done
}
# At start-up (as systemd starts it at boot): the same rules with Apply=boot; the daemon
# claims every group itself, no client involved. Released per group as above. The daemon
# running before is stopped first, outside the time; the wait looks every 10 ms, so that
# the looking does not take the one CPU from the daemon it measures.
boot_prepare() {
	kill $pid
	wait $pid
	mkdir -p $W/boot
	sed 's/^Apply=request/Apply=boot/' $W/policy/50-nics.policy >$W/boot/50-nics.policy
	sed 's/^Apply=request/Apply=boot/' $W/policy/51-vfs.policy >$W/boot/51-vfs.policy
}
boot_claim() {
	pcipassd --policy-dir $W/boot 2>>$W/pcipassd.log &
	pid=$!
	i=0
	until all_on vfio-pci 2>/dev/null; do
		[ $((i += 1)) -gt 3000 ] && { echo "bench: the daemon did not claim them all" >&2; return 1; }
		sleep 0.01
	done
	return 0
}
boot_release() {
	pcipass_release || return 1
	kill $pid
	wait $pid
	pcipassd --policy-dir $W/policy 2>>$W/pcipassd.log &
	pid=$!
	i=0
	until pcipassctl status >/dev/null 2>&1 || [ $((i += 1)) -gt 600 ]; do sleep 0.05; done
}
pcipass_claim() { for d in $firsts; do pcipassctl claim $d --group >/dev/null || return 1; done; }
pcipass_release() { for d in $firsts; do pcipassctl release $d >/dev/null || return 1; done; }
c_claim() { vmcheck rebind vfio-pci $devs; }
c_release() { vmcheck rebind - $devs; }

echo "($startup)"
echo "$n devices ($(echo $nics | wc -w) NICs, $(echo $vfs | wc -w) VFs) in $ngroups IOMMU groups; $ROUNDS rounds; kernel $(uname -r), TCG"
echo
echo "| method | claim s (mean) | release s (mean) | claim s/device | ok |"
echo "|---|---:|---:|---:|---|"
for method in pcipass boot shell c; do
	tc=0 tr=0 ok=yes
	for r in $(seq $ROUNDS); do
		[ $method = boot ] && boot_prepare
		t0=$(now)
		${method}_claim || ok=no
		t1=$(now)
		all_on vfio-pci || ok=no
		t2=$(now)
		${method}_release || ok=no
		t3=$(now)
		[ $method = boot ] && t3=$t2	# its release is the first row's, plus a restart
		# VFs have no host driver here (autoprobe off): back means driverless.
		for d in $nics; do
			l=$(readlink /sys/bus/pci/devices/$d/driver)
			case ${l##*/} in e1000e | e1000) ;; *) ok=no ;; esac
		done
		tc=$(echo "$tc $t0 $t1" | awk '{ print $1 + $3 - $2 }')
		tr=$(echo "$tr $t2 $t3" | awk '{ print $1 + $3 - $2 }')
	done
	echo "$method $tc $tr $ROUNDS $n $ok" | awk '{ printf "| %s | %.2f | %s | %.3f | %s |\n",
		$1 == "pcipass" ? "pcipassd (pcipassctl claim/release per group)" :
		$1 == "boot" ? "pcipassd at start-up (Apply=boot), release per group" :
		$1 == "shell" ? "shell loop (driverctl-style)" : "bare C loop (writes only)",
		$2 / $4, $1 == "boot" ? "—" : sprintf("%.2f", $3 / $4), $2 / $4 / $5, $6 }'
done
kill $pid
