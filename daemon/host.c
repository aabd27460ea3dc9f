/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "host.h"
#include "lib/macro.h"
#include "sysfs.h"

int lockdown_parse(const char *s, char **ret)
{
	const char *open = strchr(s, '['), *close = open ? strchr(open, ']') : NULL;
	char *m;

	if (!close || close == open + 1)
		return -EINVAL;
	m = strndup(open + 1, (size_t)(close - open - 1));
	if (!m)
		return -ENOMEM;
	*ret = m;
	return 0;
}

bool kernel_release_at_least(const char *release, unsigned major, unsigned minor)
{
	unsigned a = 0, b = 0;

	if (!release || sscanf(release, "%u.%u", &a, &b) != 2)
		return false;
	return a > major || (a == major && b >= minor);
}

int irq_chip_remaps(const char *chip_name)
{
	if (startswith(chip_name, "IR-") || startswith(chip_name, "vIR-"))
		return 1;
	if (streq(chip_name, "IO-APIC") || startswith(chip_name, "PCI-MSI"))
		return 0;
	return -1;
}

/*
 * Interrupt remapping as the interrupts show it, for IOMMUs whose sysfs says nothing about it.
 * An AMD unit's amd-iommu/features is its Extended Feature Register, which has no remapping
 * bit: of the bits near it, XTSup (bit 2, FEATURE_X2APIC) means x2APIC-format remapping
 * entries and GASup (bit 7, FEATURE_GA) guest virtual APIC (drivers/iommu/amd/
 * amd_iommu_types.h), and whether the kernel remaps at all is amd_iommu_irq_remap, which
 * sysfs does not show. What it does show is each interrupt's chip (kernel/irq/N/chip_name,
 * kernel/irq/irqdesc.c, with CONFIG_SPARSE_IRQ), and x86 names the chips of remapped
 * interrupts "IR-…": "IR-IO-APIC" (arch/x86/kernel/apic/io_apic.c), "IR-PCI-MSI" (before 6.2,
 * arch/x86/kernel/apic/msi.c) or the "IR-" prefix of the IOMMU's MSI parent domain
 * (amdvi_msi_parent_ops in drivers/iommu/amd/iommu.c, dmar_msi_parent_ops in
 * drivers/iommu/intel/irq_remapping.c; "vIR-" for an emulated IOMMU that caches, in a guest).
 * 1: an interrupt is remapped; 0: IO-APIC or PCI MSI interrupts, none remapped; -1: cannot
 * tell (no kernel/irq, or no such interrupt).
 */
static int irq_chips_remap(struct sysfs *s)
{
	_cleanup_strv_free_ char **irqs = NULL;
	_cleanup_close_ int dfd = sysfs_open_dir(s, SYSFS_KERNEL_IRQ);
	int state = -1, r;

	if (dfd == -ENOMEM)
		return dfd;
	if (dfd < 0)
		return -1;
	r = sysfs_list_at(dfd, ".", &irqs, NULL);
	if (r == -ENOMEM)
		return r;
	for (char **i = r < 0 ? NULL : irqs; i && *i; i++) {
		_cleanup_free_ char *path = NULL, *chip = NULL;

		if (asprintf(&path, "%s/chip_name", *i) < 0)
			return -ENOMEM;
		r = sysfs_read_at(dfd, path, &chip);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			continue;
		r = irq_chip_remaps(chip);
		if (r == 1)
			return 1;	/* the kernel remaps: one is enough */
		if (r == 0)
			state = 0;
	}
	return state;
}

/* Interrupt remapping, as the Intel units report it: -1 when no unit has intel-iommu/ecap. */
static int vtd_remaps(struct sysfs *s, char *const *units, size_t n_units)
{
	int state = -1, r;

	for (size_t i = 0; i < n_units; i++) {
		_cleanup_free_ char *ecap = NULL;
		_cleanup_close_ int dfd = sysfs_class_open(s, "iommu", units[i]);
		unsigned long long v;
		char *end;

		if (dfd == -ENOMEM)
			return dfd;
		r = dfd < 0 ? dfd : sysfs_read_at(dfd, "intel-iommu/ecap", &ecap);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			continue;
		errno = 0;
		v = strtoull(ecap, &end, 16);
		if (errno || end == ecap)
			continue;
		if (!(v & VTD_ECAP_IR))
			return 0;
		state = 1;
	}
	return state;
}

static int read_bool_param(struct sysfs *s, const char *path)
{
	_cleanup_free_ char *v = NULL;
	int r = sysfs_read(s, path, &v);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return -1;
	return v[0] == 'Y' || v[0] == '1';
}

int host_facts_read(struct sysfs *s, struct host_facts *ret)
{
	_cleanup_(host_facts_done) struct host_facts h = HOST_FACTS_INIT;
	_cleanup_free_ char *lockdown = NULL;
	struct utsname u;
	int r;

	r = sysfs_class_list(s, "iommu", &h.iommu_units, &h.n_iommu_units);
	if (r < 0 && r != -ENOENT)
		return r;

	/* VT-d units say whether they can remap (the existing rule); for the others (AMD), the
	 * interrupts' chips say whether the kernel does. */
	h.interrupt_remapping = vtd_remaps(s, h.iommu_units, h.n_iommu_units);
	if (h.interrupt_remapping == -1 && h.n_iommu_units > 0)
		h.interrupt_remapping = irq_chips_remap(s);
	if (h.interrupt_remapping == -ENOMEM)
		return -ENOMEM;

	r = sysfs_read(s, SYSFS_LOCKDOWN, &lockdown);
	if (r >= 0)
		r = lockdown_parse(lockdown, &h.lockdown);
	if (r == -ENOMEM)
		return r;

	/* Only there when vfio is loaded and built with CONFIG_VFIO_NOIOMMU. */
	h.noiommu = read_bool_param(s, SYSFS_VFIO_NOIOMMU);
	/* Only there when vfio_iommu_type1 is loaded (vfio asks for it when it loads itself). */
	h.unsafe_interrupts = read_bool_param(s, SYSFS_VFIO_UNSAFE_INTERRUPTS);
	if (h.noiommu == -ENOMEM || h.unsafe_interrupts == -ENOMEM)
		return -ENOMEM;

	if (uname(&u) >= 0) {
		h.kernel = strdup(u.release);
		if (!h.kernel)
			return -ENOMEM;
		h.dma_ownership = kernel_release_at_least(h.kernel, 5, 19);
	}
	*ret = h;
	h = (struct host_facts)HOST_FACTS_INIT;
	return 0;
}

void host_facts_done(struct host_facts *h)
{
	strv_free(h->iommu_units);
	free(h->lockdown);
	free(h->kernel);
	*h = (struct host_facts)HOST_FACTS_INIT;
}
