/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Physical slots: the kernel's (bus/pci/slots/NAME/address, from ACPI, pciehp or the platform)
 * and the firmware's (SMBIOS type 9 "System Slot" records, firmware/dmi/entries/9-N/raw, what
 * dmidecode -t 9 shows), each naming the device address it holds: DDDD:BB:DD.
 */

#include <stddef.h>

#include "lib/pci.h"

struct sysfs;

struct pci_slot {
	char address[PCI_ADDR_MAX + 1];	/* "DDDD:BB:DD" (VMD domains have up to eight digits) */
	char *name;		/* the kernel's slot name; NULL: none */
	char *label;		/* the SMBIOS slot designation ("PCIE3", "SLOT 2 PCI-E 4.0 X16") */
};

struct pci_slots {
	struct pci_slot *slots;	/* sorted by address */
	size_t n;
};

void pci_slots_done(struct pci_slots *s);
/* Reads both; what is missing or malformed is left out. 0 or -ENOMEM. */
int pci_slots_read(struct sysfs *s, struct pci_slots *ret);
/* The slot of a function ("DDDD:BB:DD.F"); NULL when it is in none. */
const struct pci_slot *pci_slots_find(const struct pci_slots *s, const char *address);
