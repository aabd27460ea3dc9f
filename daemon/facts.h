/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The I/O half of planning: what the planner needs to know beyond the device model, read once
 * per plan. For each function a rule names (and its IOMMU group's other members): block devices
 * mounted, used as swap or held by md/dm/LVM; network interfaces in use (netstack.h);
 * device nodes (/dev/vfio/N, the /dev/dri nodes, /dev/uioN) open in some process; whether its legacy
 * interrupt can be masked. For each target driver: whether it is there (loaded or built in, as
 * sysfs shows, or an installed module, as libkmod finds it).
 */

#include "planner.h"

struct sysfs;
struct kmodule;

struct facts {
	struct device_facts *devs;	/* sorted by address */
	size_t n_devs;
	struct module_fact *modules;
	size_t n_modules;
};

/*
 * The device nodes below dev_root that processes hold open, from one scan of every
 * /proc/PID/fd: costly on a busy host (it grows with every open file), so a scan is kept and
 * reused while it is at most max_age_usec old. *cache holds it; *ret points into it.
 */
struct open_scan;
int open_scan_get(struct open_scan **cache, const char *dev_root, uint64_t max_age_usec,
		  const struct open_scan **ret);
struct open_scan *open_scan_free(struct open_scan *o);

/* Where holders of device nodes are looked up: the scan kept in *cache, reused up to
 * max_age_usec. */
struct open_scan_source {
	struct open_scan **cache;
	uint64_t max_age_usec;
};

/*
 * dev_root is where device nodes live (/dev, or the tests' tree); open says where their
 * holders are found (NULL: not asked). /proc is scanned only when a function in question
 * has a device node that exists. proc_root is where /proc/driver is read (the NVIDIA
 * driver's GPU minors). kmod may be NULL (then modules not loaded are "cannot tell").
 * only_address (may be NULL): the facts of its IOMMU group alone, which is all its plan asks.
 */
int facts_gather(const struct model *m, const struct policy *p, struct sysfs *s,
		 const char *dev_root, const char *proc_root, const struct open_scan_source *open,
		 struct kmodule *kmod, const char *only_address, struct facts *ret);
void facts_done(struct facts *f);
/* Points env at f's facts. */
void facts_to_env(const struct facts *f, struct plan_env *env);

