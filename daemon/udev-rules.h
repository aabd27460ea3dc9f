/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The udev rule pcipassd derives from its policy: for a function appearing (boot, hotplug),
 * driver_override is set as the first matching rule wants before udev loads the host driver's
 * module. Rules are translated in order, first match wins; a rule that cannot be matched at
 * "add" (it needs the driver, the IOMMU group, SR-IOV relations …) ends the translation, so
 * the generated rule never claims what the policy would not. A Group=claim rule's companions
 * (the other members of its functions' IOMMU groups) are named by address and ids, as the
 * model m (may be NULL) has them when the rule is written.
 */

#include <stdio.h>

#include "lib/policy.h"
#include "model.h"

#define UDEV_RULES_DEFAULT UDEV_RULES_GEN_DIR "/61-pcipass.rules"

int udev_rules_write(const struct policy *p, const struct model *m, FILE *f);
/* Writes the rules to path atomically (tmp, fsync, rename). */
int udev_rules_install(const struct policy *p, const struct model *m, const char *path);
