#!/bin/bash
# pcipassd on sysfs trees captured from real kernels: every function's ids, class, driver,
# driver_override and IOMMU group as pcipassctl -j prints them must equal the facts read from
# the live kernel at capture time (tests/fixtures/*.facts.json).
. "${top_srcdir:-.}/tests/lib.sh"
enter_netns "$@"

compare_facts() {
	python3 - "$1" "$2" <<'PY'
import json, sys
facts = json.load(open(sys.argv[1]))["functions"]
devices = json.load(open(sys.argv[2]))["devices"]
got = {d["address"]: d for d in devices}
bad = 0
if sorted(got) != sorted(f["address"] for f in facts):
    print("# addresses differ:", sorted(got), sorted(f["address"] for f in facts))
    bad += 1
for f in facts:
    d = got.get(f["address"])
    if d is None:
        continue
    want = (f["vendor_id"], f["device_id"], f["class_code"], f["driver"], f["iommu_group"],
            f["driver_override"])
    have = (d["vendor_id"], d["device_id"], d["class"], d["driver"], d["iommu_group"],
            d["driver_override"])
    if want != have:
        print("# %s: got %r, want %r" % (f["address"], have, want))
        bad += 1
sys.exit(1 if bad else 0)
PY
}

for fixture in q35-iommu-host q35-iommu-claimed virtio-noiommu; do
	root=$(extract "$fixture")
	if ! daemon_start "$root" --read-only; then
		not_ok "$fixture: pcipassd starts"
		continue
	fi
	ctl -j list >"$TMP/$fixture.json"
	check "$fixture: list -j equals the live kernel's facts" \
		compare_facts "$FIXTURES/$fixture.facts.json" "$TMP/$fixture.json"
	n=$(json_eval 'len(d["functions"])' <"$FIXTURES/$fixture.facts.json")
	check_eq "$fixture: status counts $n functions" \
		"$(ctl -j status | json_eval 'd["status"]["devices"]')" "$n"
	check_eq "$fixture: table has one row per function" "$(ctl -n list | wc -l)" "$n"
	check "$fixture: pcipassd stops cleanly" daemon_stop
done

# Details of the claimed snapshot that a person relies on.
root=$TMP/q35-iommu-claimed
daemon_start "$root" --read-only
check_eq "groups: the GPU's VGA and HDA functions share group 3" \
	"$(ctl -j groups | json_eval '[g["members"] for g in d["groups"] if g["id"] == 3][0]')" \
	"['0000:00:05.0', '0000:00:05.1']"
check_eq "groups: 14 groups, all DMA-FQ" \
	"$(ctl -j status | json_eval 'd["status"]["group_types"]')" "{'DMA-FQ': 14}"
check_eq "show: the nvme PF lists its two VFs" \
	"$(ctl -j show 0000:02:00.0 | json_eval 'd["device"]["virtfns"], d["device"]["sriov_numvfs"]')" \
	"['0000:02:00.1', '0000:02:00.2'] 2"
check_eq "show: a VF names its PF and has no multifunction siblings" \
	"$(ctl -j show 0000:02:00.1 | json_eval 'd["device"]["physfn"], d["device"]["siblings"]')" \
	"0000:02:00.0 []"
check_eq "show: the VGA function is the boot VGA and has its HDA sibling" \
	"$(ctl -j show 0000:00:05.0 | json_eval 'd["device"]["boot_vga"], d["device"]["siblings"]')" \
	"True ['0000:00:05.1']"
check_eq "show: a bridge behind the root port" \
	"$(ctl -j show 0000:03:00.0 | json_eval 'd["device"]["header_type"]')" "bridge"
check_eq "show: link and reset methods of the e1000e" \
	"$(ctl -j show 0000:01:00.0 | json_eval 'd["device"]["link"]["speed_gts"], d["device"]["link"]["width"], d["device"]["reset_methods"]')" \
	"2.5 1 ['pm', 'bus']"
out=$(ctl show 0000:02:00.0)
check "show: the table view names driver, group and VFs" \
	grep -q "Virtual functions: 0000:02:00.1 0000:02:00.2" <<<"$out"
check "status: the IOMMU unit dmar0 and lockdown none" \
	bash -c 'o=$('"$PCIPASSCTL"' --socket '"$SOCK"' status) && grep -q "present (dmar0), 14 groups" <<<"$o" && grep -q "Lockdown: *none" <<<"$o"'
# Booted with intremap on: the VT-d unit remaps, vfio_iommu_type1 is loaded with its default.
check_eq "status: interrupts remapped, allow_unsafe_interrupts N and not needed, no identity group" \
	"$(status_eval 'd["status"]["interrupt_remapping"], d["status"]["allow_unsafe_interrupts"], d["status"]["unsafe_interrupts_needed"], d["status"]["identity_groups"]')" \
	"True False False 0"
check_eq "status: vfio-pci is registered (bus/pci/drivers/vfio-pci), so available" \
	"$(status_eval '[x["available"] for x in d["status"]["modules"] if x["driver"] == "vfio-pci"]')" \
	"[True]"
daemon_stop

root=$TMP/virtio-noiommu
daemon_start "$root" --read-only
out=$(ctl status)
check "status without IOMMU names the remedy" grep -q "intel_iommu=on" <<<"$out"
check_eq "no IOMMU: every iommu_group is null" \
	"$(ctl -j list | json_eval 'set(x["iommu_group"] for x in d["devices"])')" "{None}"
check "groups without IOMMU says so" grep -q "No IOMMU groups" <<<"$(ctl groups)"
check_eq "no IOMMU, vfio not loaded: remapping and allow_unsafe_interrupts unknown, not needed" \
	"$(status_eval 'd["status"]["interrupt_remapping"], d["status"]["allow_unsafe_interrupts"], d["status"]["unsafe_interrupts_needed"]')" \
	"None None False"
check "status without IOMMU says nothing of unsafe interrupts or identity domains" \
	bash -c '! '"$PCIPASSCTL"' --socket '"$SOCK"' status | grep -q "^Unsafe IRQs:\|^Passthrough:"'
daemon_stop
finish
