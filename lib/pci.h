/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * PCI facts that need no I/O: one function's snapshot as a type, the order of addresses, link
 * rates and generations. Shared by the daemon (which fills snapshots from sysfs), the policy
 * matcher and the client. Register offsets come from <linux/pci_regs.h>.
 *
 * A snapshot is read-only, refcounted, re-read as a whole when udev says it changed.
 * Attributes a kernel or a function may lack (VFs, conventional PCI, no IOMMU, older kernels)
 * are absent (-1 / NULL), never errors.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/macro.h"
#include "lib/textset.h"
#include "lib/util.h"

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

struct pci_names;

/*
 * A JSON text in pieces: own[0, own_len) with shared[i], a text many hold (a device's names,
 * its link), cut in at own + cut[i]; empty while own is NULL.
 */
#define PCI_TEXT_SHARED_MAX 5
#define PCI_TEXT_PARTS_MAX (2 * PCI_TEXT_SHARED_MAX + 1)
struct pci_text {
	char *own;
	size_t own_len;
	size_t cut[PCI_TEXT_SHARED_MAX];
	struct text_atom *shared[PCI_TEXT_SHARED_MAX];
	unsigned n_shared;
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
	int sriov_autoprobe;	/* a PF's sriov_drivers_autoprobe: 0/1; -1 absent */
	int32_t sriov_vf_device;	/* a PF's VF device id; -1 absent */

	struct pci_link link, max_link;
	char parent[PCI_ADDR_MAX + 1];	/* the bridge above it; "" on a root bus */
	char *dir;		/* its directory below the sysfs root; NULL: through its link */
	char **reset_methods;	/* NULL: attribute absent (old kernel or no reset) */
	/* A bridge's or multifunction function's ACS capability and control registers. */
	bool has_acs;
	uint16_t acs_capable, acs_enabled;
	bool details_read;	/* reset_methods and ACS read (a whole scan leaves them for later) */

	/* Not part of the snapshot: its names in the hardware database (NULL: not looked up
	 * yet), kept by the daemon's names_db; and the daemon's Device JSON text of it, kept until
	 * it or what it shows of others (siblings, the link's other end, its claim) changes. */
	const struct pci_names *names;
	struct pci_text text;
	uint64_t json_generation;
};

/* Drops the cached JSON text of d. */
void pcidev_text_clear(struct pcidev *d);
void pci_text_clear(struct pci_text *t);

struct pcidev *pcidev_ref(struct pcidev *d);
struct pcidev *pcidev_unref(struct pcidev *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pcidev *, pcidev_unref)

/* Orders addresses as the kernel does (domain, bus, device, function). */
int pci_addr_compare(const char *a, const char *b);
/* The same, for qsort() of an array of strings. */
int pci_addr_compare_ptr(const void *a, const void *b);

/* The rate of a generation (1 … 6) in GT/s, 0 when unknown (the Link Status speed code). */
double pci_link_gts(int generation);
/* Parses a link speed attribute ("8.0 GT/s PCIe", "2.5 GT/s"); 0 for "Unknown". */
double pci_link_speed_parse(const char *s);
/* PCIe generation for a speed in GT/s (1 … 6), 0 when not a known rate. */
int pci_link_generation(double gts);
/* Usable bandwidth of one lane at that generation, MB/s (after line coding). */
unsigned pci_link_lane_mbps(int generation);

/* Binary search in an array of n elements of size bytes sorted by address (address_of gives an
 * element's): the index of address, or where it would be inserted (*ret_found false). */
size_t pci_addr_search(const void *base, size_t n, size_t size,
		       const char *(*address_of)(const void *elem), const char *address,
		       bool *ret_found);

/* The last PCI address among a sysfs path's components ("…/0000:00:1c.0/0000:01:00.0/net/eth0"
 * → "0000:01:00.0"): the function a device sits below. NULL when there is none. */
const char *pci_path_last_address(const char *path, char buf[static PCI_ADDR_MAX + 1]);
