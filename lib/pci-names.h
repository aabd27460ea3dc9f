/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Short name of a PCI base class ("network", "display" …), per the PCI code and ID
 * assignment specification; "class XX" style callers handle NULL. */
const char *pci_base_class_name(uint32_t class);
