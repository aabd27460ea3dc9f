/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One PCI function as sysfs shows it: a read-only snapshot, refcounted, re-read as a whole
 * when udev says it changed. Attributes a kernel or a function may lack (VFs, conventional
 * PCI, no IOMMU, older kernels) are absent (-1 / NULL), never errors.
 */

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "lib/macro.h"
#include "lib/util.h"

struct sysfs;

enum pci_header {
	PCI_HEADER_ENDPOINT = 0,	/* type 0 */
	PCI_HEADER_BRIDGE = 1,		/* type 1: PCI-to-PCI bridge, root or switch port */
	PCI_HEADER_CARDBUS = 2,
	_PCI_HEADER_MAX,
	_PCI_HEADER_INVALID = -EINVAL,
};

const char *pci_header_to_string(enum pci_header h);

struct pci_link {
	double speed;		/* GT/s; 0 unknown */
	int width;		/* lanes; -1 unknown */
};

struct pcidev {
	unsigned n_ref;
	char address[PCI_ADDR_MAX + 1];

	uint32_t vendor, device;
	int32_t subsystem_vendor, subsystem_device;	/* -1: absent */
	uint32_t class;					/* base << 16 | sub << 8 | prog-if */
	int32_t revision;
	enum pci_header header;				/* _PCI_HEADER_INVALID: unknown */
	int multifunction;				/* -1 unknown, else 0/1 */

	char *driver;		/* NULL: unbound */
	char *driver_override;	/* NULL: unset */
	int32_t iommu_group;	/* -1: none */
	int32_t numa_node;	/* -1: unknown */
	int boot_vga;		/* -1: not a VGA function */

	char *physfn;		/* a VF's PF */
	char **virtfns;		/* a PF's VFs, in VF index order */
	int32_t sriov_numvfs, sriov_totalvfs;

	struct pci_link link, max_link;
	char parent[PCI_ADDR_MAX + 1];	/* the bridge above it; "" on a root bus */
	char **reset_methods;	/* NULL: attribute absent (old kernel or no reset) */
};

/* Reads the function at address; -ENOENT (or -ENODEV) when it is not (or no longer) there. */
int pcidev_read(struct sysfs *s, const char *address, struct pcidev **ret);
struct pcidev *pcidev_ref(struct pcidev *d);
struct pcidev *pcidev_unref(struct pcidev *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pcidev *, pcidev_unref)

/* Orders addresses as the kernel does (domain, bus, device, function). */
int pci_addr_compare(const char *a, const char *b);

/* Parses a link speed attribute ("8.0 GT/s PCIe", "2.5 GT/s"); 0 for "Unknown". */
double pci_link_speed_parse(const char *s);
/* PCIe generation for a speed in GT/s (1 … 6), 0 when not a known rate. */
int pci_link_generation(double gts);
/* Usable bandwidth of one lane at that generation, MB/s (after line coding). */
unsigned pci_link_lane_mbps(int generation);

/* The device as JSON (the io.pcipass Device type); siblings may be NULL. */
int pcidev_to_json(const struct pcidev *d, char *const *siblings, json_object **ret);
