/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One PCI function read from sysfs into the snapshot type of lib/pci.h, and shown as JSON. */

#include <json-c/json.h>

#include "lib/pci.h"

struct sysfs;

/* Reads the function at address; -ENODEV when it is not (or no longer) there, -ENOENT when
 * an attribute it must have is gone (it is going away). */
int pcidev_read(struct sysfs *s, const char *address, struct pcidev **ret);

/* The device as JSON (the io.pcipass Device type); siblings may be NULL. */
int pcidev_to_json(const struct pcidev *d, char *const *siblings, json_object **ret);
