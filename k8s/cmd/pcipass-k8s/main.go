// SPDX-License-Identifier: LGPL-2.1-or-later

// pcipass-k8s offers pcipass pools to Kubernetes as device-plugin resources: each pool one
// extended resource (pcipass.io/<pool>), one device per whole IOMMU group. The kubelet's
// Allocate takes a pcipassd lease of the groups; the lease ends when the kubelet's checkpoint
// no longer lists them. It talks to pcipassd only over its Varlink socket.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const checkpointName = "kubelet_internal_checkpoint"

type manager struct {
	d           *daemon
	kubeletDir  string
	prefix      string
	ownerPrefix string
	only        map[string]bool // --pools; empty: every pool
	uid, gid    *int
	grace       time.Duration

	mu      sync.Mutex
	plugins map[string]*plugin
	holders map[string]string // lease id → the pod/container the checkpoint names for it
	leaseMu sync.Mutex        // one allocation or sweep at a time
	kick    chan struct{}
}

func (m *manager) pluginList() []*plugin {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := make([]*plugin, 0, len(m.plugins))
	for _, p := range m.plugins {
		l = append(l, p)
	}
	sort.Slice(l, func(i, j int) bool { return l[i].pool < l[j].pool })
	return l
}

func (m *manager) trigger() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// refresh asks pcipassd for the pools and hands each plugin its groups; a pool seen for the
// first time gets its plugin, started and registered.
func (m *manager) refresh(ctx context.Context) error {
	pools, err := m.d.pools(ctx)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, pl := range pools {
		if len(m.only) > 0 && !m.only[pl.Name] {
			continue
		}
		seen[pl.Name] = true
		m.mu.Lock()
		p, ok := m.plugins[pl.Name]
		if !ok {
			p = newPlugin(m, pl.Name)
			m.plugins[pl.Name] = p
		}
		m.mu.Unlock()
		p.update(pl.Groups)
		if !ok {
			if err := p.start(); err != nil {
				log.Printf("%s: %v", p.resource, err)
			}
		}
	}
	// A pool the policy no longer has: no devices (the resource stays registered).
	m.mu.Lock()
	for name, p := range m.plugins {
		if !seen[name] {
			p.update(nil)
		}
	}
	m.mu.Unlock()
	return nil
}

// leaseFor returns this plugin's lease of exactly groups, taking it when there is none. A
// lease of ours that holds some of them but is not this allocation is stale (the kubelet
// hands a device to one container at a time): it is ended first.
func (m *manager) leaseFor(ctx context.Context, p *plugin, groups map[int]bool, addresses []string) (lease, error) {
	m.leaseMu.Lock()
	defer m.leaseMu.Unlock()
	defer m.trigger()

	leases, err := m.d.leases(ctx)
	if err != nil {
		return lease{}, err
	}
	for _, l := range leases {
		if !p.ours(&l.Owner) {
			continue
		}
		same, overlap := len(l.Groups) == len(groups), false
		for _, g := range l.Groups {
			if groups[g] {
				overlap = true
			} else {
				same = false
			}
		}
		if same && l.Granted {
			return l, nil
		}
		if overlap {
			log.Printf("%s: ending lease %s (%s): its groups are allocated again", p.resource, l.ID, l.Owner)
			if err := m.d.release(ctx, l.ID); err != nil {
				return lease{}, err
			}
		}
	}
	var ids []string
	for g := range groups {
		ids = append(ids, deviceID(g))
	}
	sort.Strings(ids)
	owner := m.ownerPrefix + p.resource + ":" + strings.Join(ids, ",")
	l, err := m.d.acquire(ctx, acquireRequest{Owner: owner, Addresses: addresses, UID: m.uid, GID: m.gid})
	if err != nil {
		return lease{}, err
	}
	log.Printf("%s: lease %s for %s: %s", p.resource, l.ID, strings.Join(ids, ","), strings.Join(l.DeviceNodes, " "))
	return l, nil
}

// checkpoint reads which devices the kubelet has allocated, per resource; ok false when it
// cannot tell (no checkpoint, or one it cannot read), so that nothing is released on a guess.
func (m *manager) checkpoint() (map[string]map[string]string, bool) {
	b, err := os.ReadFile(filepath.Join(m.kubeletDir, checkpointName))
	if err != nil {
		return nil, false
	}
	var cp struct {
		Data struct {
			PodDeviceEntries []struct {
				PodUID        string
				ContainerName string
				ResourceName  string
				DeviceIDs     json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		log.Printf("the kubelet's checkpoint: %v", err)
		return nil, false
	}
	out := map[string]map[string]string{} // resource → device id → "pod/container"
	for _, e := range cp.Data.PodDeviceEntries {
		// Since Kubernetes 1.20 the ids are by NUMA node ({"0": [...]}); before, a list.
		var ids []string
		var byNode map[string][]string
		if json.Unmarshal(e.DeviceIDs, &byNode) == nil {
			for _, l := range byNode {
				ids = append(ids, l...)
			}
		} else if json.Unmarshal(e.DeviceIDs, &ids) != nil {
			continue
		}
		if out[e.ResourceName] == nil {
			out[e.ResourceName] = map[string]string{}
		}
		for _, id := range ids {
			out[e.ResourceName][id] = e.PodUID + "/" + e.ContainerName
		}
	}
	return out, true
}

// sweep ends each lease of ours whose groups the kubelet's checkpoint no longer lists (the
// pod has ended), once it is older than the grace period (the kubelet writes the checkpoint
// after Allocate returns). It returns when the next sweep is due, 0 for none.
func (m *manager) sweep(ctx context.Context) time.Duration {
	m.leaseMu.Lock()
	defer m.leaseMu.Unlock()

	allocated, ok := m.checkpoint()
	if !ok {
		return 0
	}
	leases, err := m.d.leases(ctx)
	if err != nil {
		log.Printf("sweep: %v", err)
		return 0
	}
	var next time.Duration
	for _, l := range leases {
		for _, p := range m.pluginList() {
			if !p.ours(&l.Owner) {
				continue
			}
			var holder string
			for _, g := range l.Groups {
				if h, ok := allocated[p.resource][deviceID(g)]; ok {
					holder = h
				}
			}
			if holder != "" {
				// The kubelet names the pod only in its checkpoint, after Allocate.
				if m.holders[l.ID] != holder {
					m.holders[l.ID] = holder
					log.Printf("%s: lease %s (%s) is pod/container %s", p.resource, l.ID, l.Owner, holder)
				}
				continue
			}
			age := time.Since(time.UnixMicro(l.SinceUsec))
			if age < m.grace {
				if d := m.grace - age; next == 0 || d < next {
					next = d
				}
				continue
			}
			log.Printf("%s: ending lease %s (%s): the kubelet no longer lists its groups", p.resource, l.ID, l.Owner)
			delete(m.holders, l.ID)
			if err := m.d.release(ctx, l.ID); err != nil {
				log.Printf("%s: ending lease %s: %v", p.resource, l.ID, err)
			}
		}
	}
	m.trigger()
	return next
}

// watchKubelet follows the kubelet's directory: a new kubelet.sock (the kubelet restarted,
// and removed the plugins' sockets when it started) re-serves and re-registers every plugin;
// a written checkpoint sweeps the leases.
func (m *manager) watchKubelet(restart, sweep chan<- struct{}) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		log.Fatalf("inotify: %v", err)
	}
	if _, err := syscall.InotifyAddWatch(fd, m.kubeletDir,
		syscall.IN_CREATE|syscall.IN_MOVED_TO|syscall.IN_CLOSE_WRITE|syscall.IN_DELETE); err != nil {
		log.Fatalf("watching %s: %v", m.kubeletDir, err)
	}
	buf := make([]byte, 64*1024)
	for {
		n, err := syscall.Read(fd, buf)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			log.Fatalf("reading inotify events: %v", err)
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+syscall.SizeofInotifyEvent:off+syscall.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			off += syscall.SizeofInotifyEvent + int(ev.Len)
			switch {
			case name == "kubelet.sock" && ev.Mask&(syscall.IN_CREATE|syscall.IN_MOVED_TO) != 0:
				notify(restart)
			case name == checkpointName && ev.Mask&(syscall.IN_CLOSE_WRITE|syscall.IN_MOVED_TO|syscall.IN_DELETE) != 0:
				notify(sweep)
			}
		}
	}
}

func notify(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func main() {
	socket := flag.String("socket", "/run/pcipass/io.pcipass", "pcipassd's Varlink socket")
	kubeletDir := flag.String("kubelet-dir", "/var/lib/kubelet/device-plugins", "the kubelet's device-plugin directory")
	prefix := flag.String("resource-prefix", "pcipass.io", "resource names are PREFIX/POOL")
	pools := flag.String("pools", "", "comma-separated pools to offer (default: every pool of the policy)")
	uid := flag.Int("uid", 107, "the user the leased device nodes are given to (KubeVirt's qemu: 107; -1: root's)")
	gid := flag.Int("gid", 107, "their group (-1: root's)")
	grace := flag.Duration("lease-grace", 2*time.Minute, "how long a lease may go unlisted by the kubelet's checkpoint before it ends")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: pcipass-k8s [OPTIONS]\n\n"+
			"Offers pcipass pools to the kubelet as device-plugin resources (one device per\n"+
			"IOMMU group) and leases the groups the kubelet allocates.\n\nOptions:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	log.SetFlags(0)

	m := &manager{
		d: &daemon{address: "unix:" + *socket}, kubeletDir: *kubeletDir, prefix: *prefix,
		ownerPrefix: "k8s:", only: map[string]bool{}, grace: *grace,
		plugins: map[string]*plugin{}, holders: map[string]string{}, kick: make(chan struct{}, 1),
	}
	for _, p := range strings.Split(*pools, ",") {
		if p != "" {
			m.only[p] = true
		}
	}
	if *uid >= 0 {
		m.uid = uid
	}
	if *gid >= 0 {
		m.gid = gid
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	restart := make(chan struct{}, 1)
	sweep := make(chan struct{}, 1)
	go m.watchKubelet(restart, sweep)
	// pcipassd's events: each may change what a pool can give. The stream is taken up again
	// when it ends (pcipassd restarted).
	go func() {
		for delay := time.Second; ; {
			followed, err := m.d.monitor(ctx, m.trigger)
			if followed {
				delay = time.Second // it ran: pcipassd restarted, try again soon
			}
			log.Printf("pcipassd's events: %v; again in %v", err, delay)
			m.trigger()
			time.Sleep(delay)
			if delay < 10*time.Second {
				delay *= 2
			}
		}
	}()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	m.trigger()
	// The first sweep follows the first refresh: it judges each lease by the plugins that
	// makes (before it, no lease is ours, and none would end).
	swept := false
	timer := time.NewTimer(time.Hour)
	for {
		select {
		case <-m.kick:
			if err := m.refresh(ctx); err != nil {
				log.Printf("%v", err)
			} else if !swept {
				swept = true
				notify(sweep)
			}
		case <-restart:
			for _, p := range m.pluginList() {
				if err := p.start(); err != nil {
					log.Printf("%s: %v", p.resource, err)
				}
			}
		case <-sweep:
			if next := m.sweep(ctx); next > 0 {
				timer.Reset(next)
			}
		case <-timer.C:
			notify(sweep)
		case s := <-sigs:
			log.Printf("%v: stopping; the leases stay with their pods", s)
			for _, p := range m.pluginList() {
				p.stop()
				os.Remove(filepath.Join(m.kubeletDir, p.socket))
			}
			return
		}
	}
}
