// SPDX-License-Identifier: LGPL-2.1-or-later

// fakekubelet plays the kubelet's side of the device-plugin API for tests/test-k8s.sh. It
// serves Registration on DIR/kubelet.sock, follows each registered plugin's ListAndWatch, and
// runs the commands read on stdin, one a line:
//
//	allocate RESOURCE ID[,ID…]           Allocate, one container
//	prefer RESOURCE SIZE AVAILABLE MUST   GetPreferredAllocation (comma lists, "-": none)
//	checkpoint FILE                       DIR/kubelet_internal_checkpoint := FILE's content
//	restart                               as the kubelet starting again
//	quit
//
// Everything it sees or does is one JSON line on stdout ("event": register, devices,
// stream-end, allocate, prefer, checkpoint, restarted, quit), written out at once.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	dp "pcipass/k8s/deviceplugin"
)

var outMu sync.Mutex

// emit writes one JSON object, its keys in the order given: key, value, key, value, ….
// An error value is written as its text, a nil one as null.
func emit(kv ...interface{}) {
	b := bytes.NewBufferString("{")
	for i := 0; i+1 < len(kv); i += 2 {
		v := kv[i+1]
		if err, ok := v.(error); ok {
			v = err.Error()
		}
		k, _ := json.Marshal(kv[i])
		j, _ := json.Marshal(v)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, "%s:%s", k, j)
	}
	b.WriteString("}\n")
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(b.Bytes()) // os.Stdout is unbuffered: the line is out on return
}

type kubelet struct {
	dir string

	mu      sync.Mutex
	server  *grpc.Server
	plugins map[string]*grpc.ClientConn // resource → the connection of its latest registration

	dp.UnimplementedRegistrationServer
}

func (k *kubelet) serve() error {
	path := filepath.Join(k.dir, "kubelet.sock")
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	s := grpc.NewServer()
	dp.RegisterRegistrationServer(s, k)
	k.mu.Lock()
	k.server = s
	k.mu.Unlock()
	go s.Serve(l)
	return nil
}

func (k *kubelet) Register(_ context.Context, r *dp.RegisterRequest) (*dp.Empty, error) {
	emit("event", "register", "resource", r.ResourceName, "endpoint", r.Endpoint, "version", r.Version,
		"options", map[string]bool{"pre_start_required": r.Options.GetPreStartRequired(),
			"get_preferred_allocation_available": r.Options.GetGetPreferredAllocationAvailable()})
	go k.follow(r.ResourceName, filepath.Join(k.dir, r.Endpoint))
	return &dp.Empty{}, nil
}

// follow connects to a plugin that registered, replacing the resource's earlier connection
// as the kubelet does, and logs each device list it sends until the stream ends.
func (k *kubelet) follow(resource, socket string) {
	err := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := grpc.DialContext(ctx, socket, grpc.WithInsecure(), grpc.WithBlock(),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", addr)
			}))
		if err != nil {
			return err
		}
		k.mu.Lock()
		if old := k.plugins[resource]; old != nil {
			old.Close()
		}
		k.plugins[resource] = conn
		k.mu.Unlock()
		c := dp.NewDevicePluginClient(conn)
		if _, err := c.GetDevicePluginOptions(ctx, &dp.Empty{}); err != nil {
			return err
		}
		stream, err := c.ListAndWatch(context.Background(), &dp.Empty{})
		for err == nil {
			var r *dp.ListAndWatchResponse
			if r, err = stream.Recv(); err == nil {
				emit("event", "devices", "resource", resource, "devices", devices(r.Devices))
			}
		}
		return err
	}()
	emit("event", "stream-end", "resource", resource, "error", err)
}

type device struct {
	ID     string `json:"id"`
	Health string `json:"health"`
	NUMA   int64  `json:"numa"`
}

func devices(l []*dp.Device) []device {
	out := []device{}
	for _, d := range l {
		n := int64(-1)
		if nodes := d.GetTopology().GetNodes(); len(nodes) > 0 {
			n = nodes[0].ID
		}
		out = append(out, device{d.ID, d.Health, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (k *kubelet) client(resource string) (dp.DevicePluginClient, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if conn := k.plugins[resource]; conn != nil {
		return dp.NewDevicePluginClient(conn), nil
	}
	return nil, fmt.Errorf("no plugin registered %s", resource)
}

// restart, as the kubelet starting again: its connections gone, every other socket in DIR
// removed (the plugins' sign to register again), kubelet.sock made anew.
func (k *kubelet) restart() error {
	k.mu.Lock()
	s, plugins := k.server, k.plugins
	k.server, k.plugins = nil, map[string]*grpc.ClientConn{}
	k.mu.Unlock()
	if s != nil {
		s.Stop()
	}
	for _, conn := range plugins {
		conn.Close()
	}
	socks, _ := filepath.Glob(filepath.Join(k.dir, "*.sock"))
	for _, p := range socks {
		if filepath.Base(p) != "kubelet.sock" {
			os.Remove(p)
		}
	}
	return k.serve()
}

// checkpoint writes DIR/kubelet_internal_checkpoint as the kubelet's checkpoint manager does:
// a temporary file in DIR, synced, renamed over it.
func (k *kubelet) checkpoint(from string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(k.dir, ".")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(k.dir, "kubelet_internal_checkpoint"))
}

func list(s string) []string {
	if s == "-" {
		return []string{}
	}
	return strings.Split(s, ",")
}

type spec struct {
	HostPath      string `json:"host_path"`
	ContainerPath string `json:"container_path"`
	Permissions   string `json:"permissions"`
}

func (k *kubelet) allocate(ctx context.Context, resource string, ids []string) (map[string]string, []spec, error) {
	envs, specs := map[string]string{}, []spec{}
	c, err := k.client(resource)
	if err != nil {
		return envs, specs, err
	}
	r, err := c.Allocate(ctx, &dp.AllocateRequest{ContainerRequests: []*dp.ContainerAllocateRequest{{DevicesIds: ids}}})
	if err == nil && len(r.ContainerResponses) != 1 {
		err = fmt.Errorf("%d container responses to one request", len(r.ContainerResponses))
	}
	if err != nil {
		return envs, specs, err
	}
	for n, v := range r.ContainerResponses[0].Envs {
		envs[n] = v
	}
	for _, d := range r.ContainerResponses[0].Devices {
		specs = append(specs, spec{d.HostPath, d.ContainerPath, d.Permissions})
	}
	return envs, specs, nil
}

func (k *kubelet) prefer(ctx context.Context, resource string, size int, avail, must []string) ([]string, error) {
	c, err := k.client(resource)
	if err != nil {
		return []string{}, err
	}
	r, err := c.GetPreferredAllocation(ctx, &dp.PreferredAllocationRequest{ContainerRequests: []*dp.ContainerPreferredAllocationRequest{
		{AvailableDeviceIDs: avail, MustIncludeDeviceIDs: must, AllocationSize: int32(size)}}})
	if err == nil && len(r.ContainerResponses) != 1 {
		err = fmt.Errorf("%d container responses to one request", len(r.ContainerResponses))
	}
	if err != nil {
		return []string{}, err
	}
	return append([]string{}, r.ContainerResponses[0].DeviceIDs...), nil
}

// command runs one line of stdin; false: quit.
func (k *kubelet) command(line string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := strings.Fields(line)
	switch {
	case len(f) == 3 && f[0] == "allocate":
		envs, specs, err := k.allocate(ctx, f[1], list(f[2]))
		emit("event", "allocate", "resource", f[1], "ids", list(f[2]), "error", err, "envs", envs, "devices", specs)
	case len(f) == 5 && f[0] == "prefer":
		size, err := strconv.Atoi(f[2])
		ids := []string{}
		if err == nil {
			ids, err = k.prefer(ctx, f[1], size, list(f[3]), list(f[4]))
		}
		emit("event", "prefer", "resource", f[1], "ids", ids, "error", err)
	case len(f) == 2 && f[0] == "checkpoint":
		emit("event", "checkpoint", "error", k.checkpoint(f[1]))
	case len(f) == 1 && f[0] == "restart":
		if err := k.restart(); err != nil {
			emit("event", "restarted", "error", err)
		} else {
			emit("event", "restarted")
		}
	case len(f) == 1 && f[0] == "quit":
		emit("event", "quit")
		return false
	default:
		emit("event", "error", "error", "not a command: "+line)
	}
	return true
}

func main() {
	dir := flag.String("dir", "", "the kubelet's device-plugin directory (kubelet.sock, the checkpoint)")
	flag.Parse()
	if *dir == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: fakekubelet --dir DIR   (commands on standard input)")
		os.Exit(2)
	}
	k := &kubelet{dir: *dir, plugins: map[string]*grpc.ClientConn{}}
	if err := k.serve(); err != nil {
		fmt.Fprintf(os.Stderr, "fakekubelet: %v\n", err)
		os.Exit(1)
	}
	for in := bufio.NewScanner(os.Stdin); in.Scan() && k.command(in.Text()); {
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.server != nil {
		k.server.Stop()
	}
}
