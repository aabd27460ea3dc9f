/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The device model: every PCI function (sorted by address) and every IOMMU group (sorted by
 * number) the kernel shows, built by a scan and kept current one device or group at a time.
 */

#include <stddef.h>

#include "pcidev.h"

struct sysfs;

struct iommu_group {
	uint32_t id;
	char *type;		/* "DMA", "DMA-FQ", "identity", … or NULL when unreadable */
	bool type_read;		/* a whole scan leaves it for model_read_types() */
	char **members;		/* device names (PCI addresses; other buses possible), sorted */
	size_t n_members;
};

/* What GetStatus reports of the model: counted once per change, not per call. */
struct model_counts {
	size_t bound;		/* functions with a driver */
	size_t n_types;
	struct model_group_type {
		const char *type;	/* points into a group; "unknown" when it has none */
		size_t n;
	} types[8];		/* the kernel has 5 (blocked, identity, DMA, DMA-FQ, unmanaged) */
};

struct model {
	struct pcidev **devs;
	size_t n_devs, size_devs;
	struct iommu_group *groups;
	size_t n_groups;
	uint64_t generation;	/* changes with every change of the above */
	uint64_t counts_generation;
	struct model_counts counts;
	uint64_t types_generation;	/* + 1: every group's type read at this generation */
	uint64_t below_generation;
	struct pci_link *below;	/* per devs[i]: the fastest, widest maximum link below it */
};

void model_done(struct model *m);
/* The counts of the model as it is (recounted when it has changed since); they need the
 * groups' types (model_read_types()). */
const struct model_counts *model_counts(struct model *m);
/* What a whole scan left for later, read by the first that asks: every group's type; the
 * details (reset methods) of the functions of only_address's group, or of all (NULL), these
 * on all CPUs when many lack them. */
int model_read_types(struct model *m, struct sysfs *s);
int model_read_details(struct model *m, struct sysfs *s, const char *only_address);
/* The highest maximum link speed and width among the functions whose parent is d (a port):
 * the other end of its link. Speed 0 and width -1 when none says. */
struct pci_link model_link_below(struct model *m, const struct pcidev *d);

/* Replaces the model with what sysfs shows now. On failure the model is left as it was. */
int model_scan(struct model *m, struct sysfs *s);

struct pcidev *model_find(const struct model *m, const char *address);
/* Whether d is a, or in a's IOMMU group. */
bool model_same_group(const struct pcidev *a, const struct pcidev *d);
const struct iommu_group *model_find_group(const struct model *m, uint32_t id);

/*
 * Re-reads one function. *ret_old (if not NULL) gets the previous record (a reference), *ret
 * the new one (borrowed from the model) or NULL when the function is gone. The IOMMU groups
 * the function left or joined and, for a VF, its PF are re-read too.
 */
int model_refresh(struct model *m, struct sysfs *s, const char *address, struct pcidev **ret_old,
		  struct pcidev **ret);
/* Re-reads one IOMMU group (gone when its directory is). */
int model_refresh_group(struct model *m, struct sysfs *s, uint32_t id);

/* The other functions of the same multifunction device, or NULL when there are none. */
int model_siblings(const struct model *m, const struct pcidev *d, char ***ret);
