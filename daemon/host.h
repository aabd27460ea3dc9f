/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the host offers for passthrough: IOMMU units, no-IOMMU mode, lockdown, kernel. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sysfs;

struct host_facts {
	char **iommu_units;	/* /sys/class/iommu entries (dmar0, ivhd0, …) */
	size_t n_iommu_units;
	char *lockdown;		/* "none", "integrity", "confidentiality"; NULL: no LSM file */
	int noiommu;		/* vfio's enable_unsafe_noiommu_mode: -1 absent, 0, 1 */
	char *kernel;		/* release, from uname() */
	bool dma_ownership;	/* kernel ≥ 5.19: the DMA-ownership viability rule applies */
	int interrupt_remapping;	/* -1: cannot tell (no Intel unit); 0: a unit lacks it; 1 */
};

int host_facts_read(struct sysfs *s, struct host_facts *ret);
void host_facts_done(struct host_facts *h);

/* Parses "[none] integrity confidentiality" into the selected mode. */
int lockdown_parse(const char *s, char **ret);
/* Intel VT-d extended capability register: interrupt remapping supported (bit 3, IR). */
#define VTD_ECAP_IR (UINT64_C(1) << 3)

/* Whether a kernel release string ("6.1.0-56-amd64") is at least major.minor. */
bool kernel_release_at_least(const char *release, unsigned major, unsigned minor);
