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

int host_facts_read(struct sysfs *s, struct host_facts *ret)
{
	_cleanup_(host_facts_done) struct host_facts h = { .noiommu = -1 };
	_cleanup_free_ char *lockdown = NULL, *noiommu = NULL;
	struct utsname u;
	int r;

	r = sysfs_class_list(s, "iommu", &h.iommu_units, &h.n_iommu_units);
	if (r < 0 && r != -ENOENT)
		return r;

	/* Interrupt remapping, as the Intel units report it (AMD units do not say in sysfs). */
	h.interrupt_remapping = -1;
	for (size_t i = 0; i < h.n_iommu_units; i++) {
		_cleanup_free_ char *ecap = NULL;
		_cleanup_close_ int dfd = sysfs_class_open(s, "iommu", h.iommu_units[i]);
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
		if (!(v & VTD_ECAP_IR)) {
			h.interrupt_remapping = 0;
			break;
		}
		h.interrupt_remapping = 1;
	}

	r = sysfs_read(s, SYSFS_LOCKDOWN, &lockdown);
	if (r >= 0)
		r = lockdown_parse(lockdown, &h.lockdown);
	if (r == -ENOMEM)
		return r;

	/* Only there when vfio is loaded and built with CONFIG_VFIO_NOIOMMU. */
	r = sysfs_read(s, SYSFS_VFIO_NOIOMMU, &noiommu);
	if (r == -ENOMEM)
		return r;
	if (r >= 0)
		h.noiommu = noiommu[0] == 'Y' || noiommu[0] == '1';

	if (uname(&u) >= 0) {
		h.kernel = strdup(u.release);
		if (!h.kernel)
			return -ENOMEM;
		h.dma_ownership = kernel_release_at_least(h.kernel, 5, 19);
	}
	*ret = h;
	h = (struct host_facts){ .noiommu = -1 };
	return 0;
}

void host_facts_done(struct host_facts *h)
{
	strv_free(h->iommu_units);
	free(h->lockdown);
	free(h->kernel);
	*h = (struct host_facts){ .noiommu = -1, .interrupt_remapping = -1 };
}
