/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One PCI function read from sysfs into the snapshot type of lib/pci.h, and shown as JSON. */

#include <json-c/json.h>

#include "lib/pci.h"

struct sysfs;

/* How a read may use what is already known: find looks up a function already read (a VF's
 * PF, for its ids); scan: part of a whole scan, which fills a PF's virtfns from its VFs and
 * leaves the details for later (pcidev_read_details()). */
struct pcidev_read_ctx {
	const struct pcidev *(*find)(void *userdata, const char *address);
	void *userdata;
	bool scan;
};

/* Reads the function at address; -ENODEV when it is not (or no longer) there, -ENOENT when
 * an attribute it must have is gone (it is going away). ctx may be NULL. */
int pcidev_read(struct sysfs *s, const char *address, const struct pcidev_read_ctx *ctx,
		struct pcidev **ret);

/* Reads what a whole scan left for later (pcidev_read_ctx.scan): the reset methods. A
 * snapshot's lazily filled part, like its JSON text; 0 or -ENOMEM. */
int pcidev_read_details(struct sysfs *s, struct pcidev *d);

/* The device as JSON (the io.pcipass Device type); siblings may be NULL. */
int pcidev_to_json(const struct pcidev *d, char *const *siblings, json_object **ret);
