// SPDX-License-Identifier: LGPL-2.1-or-later

package main

import (
	"reflect"
	"testing"

	dp "pcipass/k8s/deviceplugin"
)

func TestEnvName(t *testing.T) {
	// As KubeVirt derives it from the resource name of an external provider.
	for in, want := range map[string]string{
		"pcipass.io/gpu":        "PCI_RESOURCE_PCIPASS_IO_GPU",
		"example.com/nic-vfs.a": "PCI_RESOURCE_EXAMPLE_COM_NIC-VFS_A",
	} {
		if got := envName(in); got != want {
			t.Errorf("envName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGroupOf(t *testing.T) {
	if n, err := groupOf("group-12"); err != nil || n != 12 {
		t.Errorf("groupOf(group-12) = %d, %v", n, err)
	}
	for _, bad := range []string{"12", "group-", "group--1", "group-x", "gpu-1"} {
		if _, err := groupOf(bad); err == nil {
			t.Errorf("groupOf(%q): no error", bad)
		}
	}
}

func devices(numa map[string]int64) []*dp.Device {
	var l []*dp.Device
	for id, n := range numa {
		d := &dp.Device{ID: id, Health: healthy}
		if n >= 0 {
			d.Topology = &dp.TopologyInfo{Nodes: []*dp.NUMANode{{ID: n}}}
		}
		l = append(l, d)
	}
	return l
}

func TestPrefer(t *testing.T) {
	p := &plugin{devices: devices(map[string]int64{
		"group-1": 0, "group-2": 1, "group-3": 0, "group-4": 1, "group-5": 1, "group-6": -1,
	})}
	all := []string{"group-1", "group-2", "group-3", "group-4", "group-5", "group-6"}
	for _, c := range []struct {
		avail, must []string
		size        int32
		want        []string
	}{
		// The node with most of the available groups (1: three), then by number.
		{all, nil, 2, []string{"group-2", "group-4"}},
		// What must be included decides the node.
		{all, []string{"group-3"}, 2, []string{"group-3", "group-1"}},
		// Not enough on that node: the others follow, by number.
		{all, []string{"group-1"}, 4, []string{"group-1", "group-3", "group-2", "group-4"}},
		// Only what is available.
		{[]string{"group-6", "group-5"}, nil, 1, []string{"group-5"}},
	} {
		got := p.prefer(&dp.ContainerPreferredAllocationRequest{
			AvailableDeviceIDs: c.avail, MustIncludeDeviceIDs: c.must, AllocationSize: c.size,
		})
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("prefer(%v, must %v, %d) = %v, want %v", c.avail, c.must, c.size, got, c.want)
		}
	}
}

func TestUpdateHealth(t *testing.T) {
	m := &manager{prefix: "pcipass.io", ownerPrefix: "k8s:"}
	p := newPlugin(m, "gpu")
	mine, other, node := "k8s:pcipass.io/gpu:group-2", "vm1", int64(1)
	code := "boot-vga"
	p.update([]poolGroup{
		{IommuGroup: 3, Available: false, LeasedBy: &other},
		{IommuGroup: 1, Available: false, Code: &code},
		{IommuGroup: 2, Available: false, LeasedBy: &mine, NumaNode: &node},
		{IommuGroup: 4, Available: true},
	})
	var got []string
	for _, d := range p.devices {
		got = append(got, d.ID+"="+d.Health)
	}
	want := []string{"group-1=Unhealthy", "group-2=Healthy", "group-3=Unhealthy", "group-4=Healthy"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("health: %v, want %v", got, want)
	}
	if numa(p.devices[1]) != 1 || numa(p.devices[0]) != -1 {
		t.Errorf("NUMA: %d %d", numa(p.devices[1]), numa(p.devices[0]))
	}
}
