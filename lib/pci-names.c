/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "lib/macro.h"
#include "lib/pci-names.h"

const char *pci_base_class_name(uint32_t class)
{
	static const char *const names[] = {
		[0x00] = "unclassified",  [0x01] = "storage",	   [0x02] = "network",
		[0x03] = "display",	  [0x04] = "multimedia",   [0x05] = "memory",
		[0x06] = "bridge",	  [0x07] = "communication", [0x08] = "system",
		[0x09] = "input",	  [0x0a] = "docking",	   [0x0b] = "processor",
		[0x0c] = "serial-bus",	  [0x0d] = "wireless",	   [0x0e] = "intelligent-io",
		[0x0f] = "satellite",	  [0x10] = "encryption",   [0x11] = "signal-processing",
		[0x12] = "accelerator",	  [0x13] = "instrumentation",
	};
	uint32_t base = (class >> 16) & 0xff;

	if (base == 0x40)
		return "coprocessor";
	if (base == 0xff)
		return "unassigned";	/* the class of virtio devices that have none (balloon, rng…) */
	if (base >= ELEMENTSOF(names))
		return NULL;
	return names[base];
}
