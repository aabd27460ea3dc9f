// SPDX-License-Identifier: LGPL-2.1-or-later

package main

// One device plugin per pcipass pool: the resource <prefix>/<pool>, one device per IOMMU
// group of the pool ("group-N"), served on <kubelet dir>/pcipass-<pool>.sock.

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	dp "pcipass/k8s/deviceplugin"
)

const (
	healthy   = "Healthy"
	unhealthy = "Unhealthy"
)

// deviceID names a group to the kubelet; groupOf reads it back.
func deviceID(group int) string { return "group-" + strconv.Itoa(group) }

func groupOf(id string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "group-"))
	if err != nil || !strings.HasPrefix(id, "group-") || n < 0 {
		return 0, fmt.Errorf("%q is not a device of this plugin (group-N)", id)
	}
	return n, nil
}

// envName is the variable KubeVirt reads a host device's PCI addresses from, for a resource
// given by an external provider: PCI_RESOURCE_<NAME>, the name upper-cased with "." and "/"
// as "_".
func envName(resource string) string {
	r := strings.NewReplacer(".", "_", "/", "_")
	return "PCI_RESOURCE_" + strings.ToUpper(r.Replace(resource))
}

type plugin struct {
	m        *manager
	pool     string
	resource string
	socket   string // the file name, in m.kubeletDir

	mu       sync.Mutex
	devices  []*dp.Device
	groups   map[int]poolGroup
	watchers map[chan []*dp.Device]struct{}
	server   *grpc.Server

	dp.UnimplementedDevicePluginServer
}

func newPlugin(m *manager, pool string) *plugin {
	return &plugin{
		m: m, pool: pool, resource: m.prefix + "/" + pool, socket: "pcipass-" + pool + ".sock",
		groups: map[int]poolGroup{}, watchers: map[chan []*dp.Device]struct{}{},
	}
}

// ours: a lease this plugin took for the resource.
func (p *plugin) ours(owner *string) bool {
	return owner != nil && strings.HasPrefix(*owner, p.m.ownerPrefix+p.resource+":")
}

// update sets the pool's groups as pcipassd judges them now and tells every ListAndWatch
// stream when the devices changed. A group is Healthy when a lease could take it, or when
// this plugin's lease holds it (the kubelet's allocation); otherwise (blocked, not viable,
// leased by someone else) Unhealthy. A group that left the pool disappears.
func (p *plugin) update(groups []poolGroup) {
	devs := make([]*dp.Device, 0, len(groups))
	byID := map[int]poolGroup{}
	for _, g := range groups {
		d := &dp.Device{ID: deviceID(g.IommuGroup), Health: unhealthy}
		if g.Available || p.ours(g.LeasedBy) {
			d.Health = healthy
		}
		if g.NumaNode != nil {
			d.Topology = &dp.TopologyInfo{Nodes: []*dp.NUMANode{{ID: *g.NumaNode}}}
		}
		devs = append(devs, d)
		byID[g.IommuGroup] = g
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].ID < devs[j].ID })

	p.mu.Lock()
	defer p.mu.Unlock()
	p.groups = byID
	if sameDevices(p.devices, devs) {
		return
	}
	p.devices = devs
	for w := range p.watchers {
		select {
		case <-w: // drop what the stream has not sent yet: the newest list replaces it
		default:
		}
		w <- devs
	}
}

func sameDevices(a, b []*dp.Device) bool {
	if a == nil || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Health != b[i].Health || numa(a[i]) != numa(b[i]) {
			return false
		}
	}
	return true
}

func numa(d *dp.Device) int64 {
	if d.Topology == nil || len(d.Topology.Nodes) == 0 {
		return -1
	}
	return d.Topology.Nodes[0].ID
}

// --- the kubelet's side ------------------------------------------------------------------------

// start serves the plugin's socket and registers it with the kubelet.
func (p *plugin) start() error {
	path := filepath.Join(p.m.kubeletDir, p.socket)
	p.stop()
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	s := grpc.NewServer()
	dp.RegisterDevicePluginServer(s, p)
	p.mu.Lock()
	p.server = s
	p.mu.Unlock()
	go func() {
		if err := s.Serve(l); err != nil {
			log.Printf("%s: serving %s: %v", p.resource, path, err)
		}
	}()
	return p.register()
}

func (p *plugin) stop() {
	p.mu.Lock()
	s := p.server
	p.server = nil
	p.mu.Unlock()
	if s != nil {
		s.Stop()
	}
}

func (p *plugin) register() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, "unix://"+filepath.Join(p.m.kubeletDir, "kubelet.sock"),
		grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		return fmt.Errorf("cannot reach the kubelet: %w", err)
	}
	defer conn.Close()
	_, err = dp.NewRegistrationClient(conn).Register(ctx, &dp.RegisterRequest{
		Version: "v1beta1", Endpoint: p.socket, ResourceName: p.resource,
		Options: &dp.DevicePluginOptions{GetPreferredAllocationAvailable: true},
	})
	if err != nil {
		return fmt.Errorf("the kubelet refused %s: %w", p.resource, err)
	}
	log.Printf("%s: registered with the kubelet (%s)", p.resource, p.socket)
	return nil
}

func (p *plugin) GetDevicePluginOptions(context.Context, *dp.Empty) (*dp.DevicePluginOptions, error) {
	return &dp.DevicePluginOptions{GetPreferredAllocationAvailable: true}, nil
}

func (p *plugin) ListAndWatch(_ *dp.Empty, s dp.DevicePlugin_ListAndWatchServer) error {
	w := make(chan []*dp.Device, 1)
	p.mu.Lock()
	p.watchers[w] = struct{}{}
	if p.devices != nil {
		w <- p.devices
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.watchers, w)
		p.mu.Unlock()
	}()
	for {
		select {
		case devs := <-w:
			if err := s.Send(&dp.ListAndWatchResponse{Devices: devs}); err != nil {
				return err
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

// GetPreferredAllocation: whole groups by construction (a device is a group); those the
// kubelet must include, then the NUMA node that has most of them (or of the available ones),
// then by group number.
func (p *plugin) GetPreferredAllocation(_ context.Context, r *dp.PreferredAllocationRequest) (*dp.PreferredAllocationResponse, error) {
	out := &dp.PreferredAllocationResponse{}
	for _, req := range r.ContainerRequests {
		out.ContainerResponses = append(out.ContainerResponses,
			&dp.ContainerPreferredAllocationResponse{DeviceIDs: p.prefer(req)})
	}
	return out, nil
}

func (p *plugin) prefer(req *dp.ContainerPreferredAllocationRequest) []string {
	p.mu.Lock()
	known := map[string]int64{}
	for _, d := range p.devices {
		known[d.ID] = numa(d)
	}
	p.mu.Unlock()
	node := func(id string) int64 {
		if n, ok := known[id]; ok {
			return n
		}
		return -1
	}

	chosen := append([]string{}, req.MustIncludeDeviceIDs...)
	taken := map[string]bool{}
	votes := map[int64]int{}
	for _, id := range chosen {
		taken[id] = true
		votes[node(id)] += 1000 // the must-include ones decide the node
	}
	var rest []string
	for _, id := range req.AvailableDeviceIDs {
		if !taken[id] {
			rest = append(rest, id)
			votes[node(id)]++
		}
	}
	best, bestVotes := int64(-1), -1
	for n, v := range votes {
		if n >= 0 && (v > bestVotes || (v == bestVotes && n < best)) {
			best, bestVotes = n, v
		}
	}
	sort.SliceStable(rest, func(i, j int) bool {
		ni, nj := node(rest[i]) == best, node(rest[j]) == best
		if ni != nj {
			return ni
		}
		gi, _ := groupOf(rest[i])
		gj, _ := groupOf(rest[j])
		return gi < gj
	})
	for _, id := range rest {
		if len(chosen) >= int(req.AllocationSize) {
			break
		}
		chosen = append(chosen, id)
	}
	return chosen
}

// Allocate leases each container's groups from pcipassd (one lease per container, its
// device nodes given to --uid/--gid) and hands the container the VFIO nodes and, for
// KubeVirt, every function's PCI address. A group this plugin's lease already holds (the
// same allocation again, after a container restart) is handed out as it is.
func (p *plugin) Allocate(ctx context.Context, r *dp.AllocateRequest) (*dp.AllocateResponse, error) {
	out := &dp.AllocateResponse{}
	for _, req := range r.ContainerRequests {
		resp, err := p.allocate(ctx, req.DevicesIds)
		if err != nil {
			log.Printf("%s: Allocate %v: %v", p.resource, req.DevicesIds, err)
			return nil, status.Error(codes.FailedPrecondition, err.Error())
		}
		out.ContainerResponses = append(out.ContainerResponses, resp)
	}
	return out, nil
}

func (p *plugin) allocate(ctx context.Context, ids []string) (*dp.ContainerAllocateResponse, error) {
	var addresses []string
	groups := map[int]bool{}
	p.mu.Lock()
	for _, id := range ids {
		n, err := groupOf(id)
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		g, ok := p.groups[n]
		if !ok {
			p.mu.Unlock()
			return nil, fmt.Errorf("%s is not a group of pool %s", id, p.pool)
		}
		if len(g.Members) > 0 && !groups[n] {
			addresses = append(addresses, g.Members[0])
		}
		groups[n] = true
	}
	p.mu.Unlock()

	l, err := p.m.leaseFor(ctx, p, groups, addresses)
	if err != nil {
		return nil, err
	}
	resp := &dp.ContainerAllocateResponse{Envs: map[string]string{}}
	nodes := append([]string{"/dev/vfio/vfio"}, l.DeviceNodes...)
	for _, n := range nodes {
		resp.Devices = append(resp.Devices, &dp.DeviceSpec{ContainerPath: n, HostPath: n, Permissions: "rw"})
	}
	var pci []string
	for _, d := range l.Devices {
		pci = append(pci, d.Address)
	}
	resp.Envs[envName(p.resource)] = strings.Join(pci, ",")
	return resp, nil
}

func (p *plugin) PreStartContainer(context.Context, *dp.PreStartContainerRequest) (*dp.PreStartContainerResponse, error) {
	return &dp.PreStartContainerResponse{}, nil
}
