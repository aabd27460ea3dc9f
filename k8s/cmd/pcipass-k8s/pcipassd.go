// SPDX-License-Identifier: LGPL-2.1-or-later

package main

// The Varlink calls to pcipassd this plugin makes, with the parts of the replies it reads
// (daemon/io.pcipass.varlink has the rest).

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/varlink/go/varlink"
)

type poolGroup struct {
	IommuGroup int      `json:"iommu_group"`
	Members    []string `json:"members"`
	Available  bool     `json:"available"`
	Code       *string  `json:"code"`
	Reason     *string  `json:"reason"`
	LeasedBy   *string  `json:"leased_by"`
	Lease      *string  `json:"lease"`
	NumaNode   *int64   `json:"numa_node"`
}

type pool struct {
	Name   string      `json:"name"`
	Groups []poolGroup `json:"groups"`
}

type leaseDevice struct {
	Address    string `json:"address"`
	IommuGroup int    `json:"iommu_group"`
}

type lease struct {
	ID          string        `json:"id"`
	Owner       string        `json:"owner"`
	Pool        *string       `json:"pool"`
	Groups      []int         `json:"groups"`
	SinceUsec   int64         `json:"since_usec"`
	Granted     bool          `json:"granted"`
	Devices     []leaseDevice `json:"devices"`
	DeviceNodes []string      `json:"device_nodes"`
}

// daemonError is a Varlink error reply, with its parameters as they came.
type daemonError struct {
	name       string
	parameters string
}

func (e *daemonError) Error() string {
	if e.parameters == "" || e.parameters == "null" || e.parameters == "{}" {
		return e.name
	}
	return e.name + " " + e.parameters
}

// callError turns the library's error into one that says what pcipassd said.
func callError(method string, err error) error {
	if ve, ok := err.(*varlink.Error); ok {
		p := ""
		if raw, ok := ve.Parameters.(*json.RawMessage); ok && raw != nil {
			p = string(*raw)
		}
		return &daemonError{name: ve.Name, parameters: p}
	}
	return fmt.Errorf("%s: %w", method, err)
}

type daemon struct {
	address string // "unix:PATH"
}

func (d *daemon) call(ctx context.Context, method string, in, out interface{}) error {
	c, err := varlink.NewConnection(ctx, d.address)
	if err != nil {
		return fmt.Errorf("cannot connect to pcipassd at %s: %w", strings.TrimPrefix(d.address, "unix:"), err)
	}
	defer c.Close()
	if err := c.Call(ctx, method, in, out); err != nil {
		return callError(method, err)
	}
	return nil
}

func (d *daemon) pools(ctx context.Context) ([]pool, error) {
	var r struct {
		Pools []pool `json:"pools"`
	}
	err := d.call(ctx, "io.pcipass.ListPools", struct{}{}, &r)
	return r.Pools, err
}

func (d *daemon) leases(ctx context.Context) ([]lease, error) {
	var r struct {
		Leases []lease `json:"leases"`
	}
	err := d.call(ctx, "io.pcipass.ListLeases", struct{}{}, &r)
	return r.Leases, err
}

type acquireRequest struct {
	Owner     string   `json:"owner"`
	Addresses []string `json:"addresses"`
	UID       *int     `json:"uid,omitempty"`
	GID       *int     `json:"gid,omitempty"`
}

func (d *daemon) acquire(ctx context.Context, req acquireRequest) (lease, error) {
	var r struct {
		Lease lease `json:"lease"`
	}
	err := d.call(ctx, "io.pcipass.AcquireLease", req, &r)
	return r.Lease, err
}

func (d *daemon) release(ctx context.Context, id string) error {
	var r struct{}
	return d.call(ctx, "io.pcipass.ReleaseLease", struct {
		ID string `json:"id"`
	}{id}, &r)
}

// monitor calls fn for each event pcipassd sends until the stream or ctx ends; it returns why,
// and whether the stream was taken up at all.
func (d *daemon) monitor(ctx context.Context, fn func()) (bool, error) {
	c, err := varlink.NewConnection(ctx, d.address)
	if err != nil {
		return false, err
	}
	defer c.Close()
	// initial: every device first, as "present" events, sent once the stream is set up: the
	// refresh they trigger reads what pcipassd has now (it may have restarted, and changed,
	// while the stream was down), and no event after it is missed.
	receive, err := c.Send(ctx, "io.pcipass.Monitor", struct {
		Initial bool `json:"initial"`
	}{true}, varlink.More)
	if err != nil {
		return false, err
	}
	for {
		var ev json.RawMessage
		flags, err := receive(ctx, &ev)
		if err != nil {
			return true, callError("io.pcipass.Monitor", err)
		}
		fn()
		if flags&varlink.Continues == 0 {
			return true, fmt.Errorf("pcipassd ended the monitor stream")
		}
	}
}
