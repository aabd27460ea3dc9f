/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the host offers for passthrough: IOMMU units, interrupt remapping, vfio's unsafe modes,
 * lockdown, kernel.
 */

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
	/* -1: cannot tell; 0: a VT-d unit lacks it, or no interrupt is remapped; 1 */
	int interrupt_remapping;
	/* vfio_iommu_type1's allow_unsafe_interrupts: -1 absent (module not loaded), 0, 1 */
	int unsafe_interrupts;
};

#define HOST_FACTS_INIT { .noiommu = -1, .interrupt_remapping = -1, .unsafe_interrupts = -1 }

int host_facts_read(struct sysfs *s, struct host_facts *ret);
void host_facts_done(struct host_facts *h);

/* Parses "[none] integrity confidentiality" into the selected mode. */
int lockdown_parse(const char *s, char **ret);
/* Intel VT-d extended capability register: interrupt remapping supported (bit 3, IR). */
#define VTD_ECAP_IR (UINT64_C(1) << 3)

/*
 * Whether an interrupt's irq chip (kernel/irq/N/chip_name) is one x86 uses when it remaps:
 * 1 remapped ("IR-IO-APIC", "IR-PCI-MSI…", "vIR-…"), 0 an IO-APIC or PCI MSI chip that does not
 * remap ("IO-APIC", "PCI-MSI…"), -1 a chip that says neither (the IOMMU's own, HPET, …).
 */
int irq_chip_remaps(const char *chip_name);

/* Whether a kernel release string ("6.1.0-56-amd64") is at least major.minor. */
bool kernel_release_at_least(const char *release, unsigned major, unsigned minor);
