/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * How a VM is given PCI functions that are on vfio-pci: QEMU arguments, libvirt <hostdev>
 * XML and a Proxmox hostpci line, made from the host addresses alone (no I/O), so that the
 * daemon (a lease's reply) and pcipassctl (qemu ADDRESS…) say the same thing.
 *
 * The functions of one host device (DDDD:BB:DD) stay functions of one guest slot, numbered
 * from 0 in host order, with multifunction=on on function 0 when there are several: a GPU and
 * its HDMI audio appear to the guest as they sit in the host. On q35 each host device gets a
 * PCIe root port of its own, as libvirt and Proxmox place a GPU.
 */

#include <stdbool.h>
#include <stddef.h>

struct vm_function {
	const char *address;	/* "DDDD:BB:DD.F" */
	const char *cdev;	/* its vfio cdev name ("vfio3"), NULL: none */
	bool whole_device;	/* every function of its host device is in the list */
};

/*
 * QEMU arguments, one argv element per string (NULL-terminated, in *ret). functions must be
 * sorted by address, each once (-EINVAL otherwise). iommufd: the iommufd form (-object iommufd and iommufd= on each device),
 * -EOPNOTSUPP when a function has no vfio cdev; -E2BIG beyond 155 host devices (root ports).
 */
int vm_args_qemu(const struct vm_function *functions, size_t n, bool iommufd, char ***ret);
/* libvirt <hostdev mode='subsystem' type='pci' managed='no'> elements, one per function. */
int vm_args_libvirt(const struct vm_function *functions, size_t n, char **ret);
/* Proxmox qm config lines, "hostpciK: …", one per host device, '\n'-separated. */
int vm_args_proxmox(const struct vm_function *functions, size_t n, char **ret);
