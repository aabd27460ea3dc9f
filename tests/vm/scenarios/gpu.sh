# layout: main
# A "GPU": a VGA function and its HDMI audio in one multifunction slot, one IOMMU group. The
# console GPU (00:02.0, the boot VGA) must never be taken.
gpu=0000:00:05.0 audio=0000:00:05.1 console=0000:00:02.0
group=$(group_of $gpu)
check_eq "the GPU and its audio share group $group" "$group" "$(group_of $audio)"
check_eq "$console is the boot VGA" 1 "$(cat /sys/bus/pci/devices/$console/boot_vga)"
check_eq "the audio function starts on snd_hda_intel" snd_hda_intel "$(driver_of $audio)"

# 0. The audio function's sound devices held open (a sound server on the HDMI output): the
# group is in use, by the kernel's own /dev/snd nodes of its card.
card=$(ls /sys/bus/pci/devices/$audio/sound/ | grep '^card' | head -1)
node=/dev/snd/controlC${card#card}
check "the HDA function has a sound card ($card) with a control device $node" test -c $node
sleep 600 <$node &
holder=$!
daemon_start
pcipassctl claim $gpu --group --dry-run >$W/held.out 2>&1
check_eq "claiming the GPU while its audio's $node is held: refused" 1 "$?"
check "…naming the node and the holder" grep -q "device-open: $audio is in use: $node open by pid $holder (sleep, uid 0)" $W/held.out
kill $holder
wait $holder 2>/dev/null
check "released, the claim's dry run goes through" pcipassctl claim $gpu --group --dry-run
daemon_stop

# 1. Every VGA controller with its companions, at start-up (as systemd boots the daemon).
policy 50-gpu-pool <<P
[Match]
Class=0x030000/0xff0000
[Assign]
Driver=vfio-pci
Group=claim
Pool=gpu
P
daemon_start
check "at start-up the GPU moves to vfio-pci" wait_for 30 sh -c "readlink /sys/bus/pci/devices/$gpu/driver | grep -q vfio-pci"
check "and its audio function with it" wait_for 30 sh -c "readlink /sys/bus/pci/devices/$audio/driver | grep -q vfio-pci"
check_eq "the kernel: group $group is viable, device fds open" viable "$(vmcheck viable $group)"
check_eq "the console GPU is untouched" "(null)" "$(cat /sys/bus/pci/devices/$console/driver_override)"
pcipassctl plan >$W/plan.txt 2>&1
check "the plan refuses the console GPU: boot-vga" grep -q "boot-vga.*$console\|$console.*boot VGA" $W/plan.txt
check "claim $console is refused" sh -c "! pcipassctl claim $console"
check "pcipassctl groups shows group $group viable" sh -c "pcipassctl groups | grep -q '^$group .* yes '"
kernel_agrees "GPU pool claimed" 1
written >/dev/null
plan=$(planned release $gpu)
check "release the GPU" pcipassctl release $gpu
check_eq "release of the GPU group: pcipassd wrote exactly what its dry run printed" "$plan" "$(written)"
check_eq "the audio function is back on snd_hda_intel" snd_hda_intel "$(driver_of $audio)"
check_eq "the GPU is back to no driver" none "$(driver_of $gpu)"
kernel_agrees "GPU released"
daemon_stop
rm -f $W/policy/*

# 2. Only the VGA function, without companions: planned as blocked, and claims are refused.
policy 50-vga-only <<P
[Match]
Address=$gpu
[Assign]
Driver=vfio-pci
Group=viable
Apply=request
P
daemon_start
pcipassctl plan >$W/plan.txt 2>&1
check "the plan blocks group $group: group-not-viable, naming the audio function" \
	grep -q "group-not-viable.*$audio" $W/plan.txt
pcipassctl claim $gpu >$W/claim.txt 2>&1
check_eq "claim $gpu is refused (exit 1)" 1 "$?"
check "the refusal names $audio and snd_hda_intel" grep -q "$audio.*snd_hda_intel" $W/claim.txt
check_eq "the GPU stays where it was" none "$(driver_of $gpu)"
daemon_stop
rm -f $W/policy/*

# 3. Forced through (Group=any): the daemon calls the group not viable, as the kernel does.
policy 50-vga-any <<P
[Match]
Address=$gpu
[Assign]
Driver=vfio-pci
Group=any
P
daemon_start
check "Group=any moves the VGA function alone" wait_for 30 sh -c "readlink /sys/bus/pci/devices/$gpu/driver | grep -q vfio-pci"
check_eq "the audio function stays on snd_hda_intel" snd_hda_intel "$(driver_of $audio)"
check "the kernel: group $group is not viable (SET_CONTAINER refused)" sh -c "vmcheck viable $group | grep -q '^not-viable'"
pcipassctl -j groups >$W/groups.json
check "the daemon: group $group not viable because of $audio" \
	sh -c "grep -q '\"not_viable_because\":\"$audio is bound to snd_hda_intel\"' $W/groups.json"
kernel_agrees "VGA alone" 1
check "release the GPU" pcipassctl release $gpu
check_eq "the GPU is back to no driver" none "$(driver_of $gpu)"
