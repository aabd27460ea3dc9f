/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * PCI configuration space, decoded: the header (command and status bits, BARs, expansion ROM,
 * interrupt), and the capability chain, standard (from 0x34) and extended (from 0x100), with
 * power management, MSI, MSI-X, PCI Express (device/port type, payload, FLR, link), AER,
 * SR-IOV and ACS decoded and the rest named. Pure: the caller reads the bytes (sysfs config:
 * 64 bytes unprivileged, 256 or 4096 as root) and, optionally, the resource file's text for
 * the kernel's view of BAR addresses and sizes. A malformed chain (loop, pointer out of range,
 * truncated read) is reported in "problems", never followed further.
 */

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* The config space as JSON (the io.pcipass Config type). resource may be NULL. */
int pci_config_to_json(const uint8_t *cfg, size_t n, const char *resource, json_object **ret);

/* The offset of the first standard capability id in config space; 0 when there is none (or the
 * chain is broken before it). */
size_t pci_config_find_cap(const uint8_t *cfg, size_t n, uint8_t id);

/* The same for an extended capability (from 0x100); 0 when there is none, the read was too
 * short for it, or the chain is broken. */
size_t pci_config_find_ext_cap(const uint8_t *cfg, size_t n, uint16_t id);
/* An ACS capability's capability and control registers as {capable: Bits, enabled: Bits},
 * the bits named as in the decoded config space. */
int pci_acs_to_json(uint16_t capable, uint16_t enabled, json_object **ret);

const char *pci_cap_name(uint8_t id);
const char *pci_ext_cap_name(uint16_t id);
