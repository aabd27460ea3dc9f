/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "lib/util.h"
#include "slots.h"
#include "sysfs.h"

/* SMBIOS 2.6+ type 9: the designation's string number, and where the slot's device is. */
#define DMI_SLOT_DESIGNATION	0x04
#define DMI_SLOT_SEGMENT	0x0d	/* WORD */
#define DMI_SLOT_BUS		0x0f
#define DMI_SLOT_DEVFN		0x10
#define DMI_SLOT_MIN_LENGTH	0x11

void pci_slots_done(struct pci_slots *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->slots[i].name);
		free(s->slots[i].label);
	}
	free(s->slots);
	*s = (struct pci_slots){};
}

static int cmp_slot(const void *a, const void *b)
{
	return strcmp(((const struct pci_slot *)a)->address, ((const struct pci_slot *)b)->address);
}

/* The entry for address, added when there is none; NULL on -ENOMEM. */
static struct pci_slot *slot_get(struct pci_slots *s, const char *address)
{
	struct pci_slot *a;

	for (size_t i = 0; i < s->n; i++)
		if (streq(s->slots[i].address, address))
			return &s->slots[i];
	a = reallocarray_safe(s->slots, s->n + 1, sizeof(*a));
	if (!a)
		return NULL;
	s->slots = a;
	a = &s->slots[s->n++];
	*a = (struct pci_slot){};
	(void)snprintf(a->address, sizeof(a->address), "%s", address);
	return a;
}

/* "DDDD:BB:DD", the domain of four to eight hex digits: a function's address without its
 * ".F". */
static bool slot_address_valid(const char *a)
{
	char f[PCI_ADDR_MAX + 3];

	if (strlen(a) + 2 >= sizeof(f))
		return false;
	(void)snprintf(f, sizeof(f), "%s.0", a);
	return pci_addr_is_valid(f);
}

/* The length of a function's address up to its ".F". */
static size_t slot_len(const char *address)
{
	const char *dot = strrchr(address, '.');

	return dot ? (size_t)(dot - address) : strlen(address);
}

static int read_kernel_slots(struct sysfs *s, struct pci_slots *ret)
{
	_cleanup_strv_free_ char **names = NULL;
	int r;

	if (sysfs_list(s, "bus/pci/slots", &names, NULL) < 0)
		return 0;	/* no slots */
	for (size_t i = 0; names[i]; i++) {
		_cleanup_free_ char *path = NULL, *address = NULL;
		struct pci_slot *slot;

		if (asprintf(&path, "bus/pci/slots/%s/address", names[i]) < 0)
			return -ENOMEM;
		r = sysfs_read(s, path, &address);
		if (r == -ENOMEM)
			return r;
		/* An empty slot of a hotplug controller says only its bus ("0000:04:00" is a
		 * device; a bare "0000:04" is not). */
		if (r < 0 || !slot_address_valid(address))
			continue;
		slot = slot_get(ret, address);
		if (!slot)
			return -ENOMEM;
		if (!slot->name && !(slot->name = strdup(names[i])))
			return -ENOMEM;
	}
	return 0;
}

/* String number k (1-based) of an SMBIOS structure whose formatted part is length bytes;
 * *ret NULL when it has none. */
static int dmi_string(const uint8_t *raw, size_t n, size_t length, unsigned k, char **ret)
{
	size_t off = length;

	*ret = NULL;
	for (unsigned i = 1; k > 0 && off < n && raw[off]; i++) {
		size_t len = strnlen((const char *)raw + off, n - off);

		if (off + len >= n)
			return 0;	/* unterminated */
		if (i == k) {
			*ret = strndup((const char *)raw + off, len);
			return *ret ? 0 : -ENOMEM;
		}
		off += len + 1;
	}
	return 0;
}

static int read_dmi_slots(struct sysfs *s, struct pci_slots *ret)
{
	_cleanup_strv_free_ char **entries = NULL;

	if (sysfs_list(s, "firmware/dmi/entries", &entries, NULL) < 0)
		return 0;	/* no SMBIOS tables (or not readable) */
	for (size_t i = 0; entries[i]; i++) {
		_cleanup_close_ int dfd = -EBADF;
		_cleanup_free_ char *path = NULL, *label = NULL;
		uint8_t raw[1024];
		char address[16];
		struct pci_slot *slot;
		unsigned segment, bus, devfn;
		ssize_t n;

		if (strncmp(entries[i], "9-", 2) != 0)
			continue;
		if (asprintf(&path, "firmware/dmi/entries/%s", entries[i]) < 0)
			return -ENOMEM;
		dfd = sysfs_open_dir(s, path);
		if (dfd < 0)
			continue;
		n = sysfs_read_bin_at(dfd, "raw", raw, sizeof(raw));
		if (n < DMI_SLOT_MIN_LENGTH || raw[0] != 9 || raw[1] < DMI_SLOT_MIN_LENGTH ||
		    raw[1] > n)
			continue;	/* not a type 9 record of SMBIOS 2.6 or later */
		segment = raw[DMI_SLOT_SEGMENT] | raw[DMI_SLOT_SEGMENT + 1] << 8;
		bus = raw[DMI_SLOT_BUS];
		devfn = raw[DMI_SLOT_DEVFN];
		if (segment == 0xffff || bus == 0xff || devfn == 0xff)
			continue;	/* the firmware does not say where it is */
		if (dmi_string(raw, (size_t)n, raw[1], raw[DMI_SLOT_DESIGNATION], &label) < 0)
			return -ENOMEM;
		if (!label)
			continue;
		(void)snprintf(address, sizeof(address), "%04x:%02x:%02x", segment, bus, devfn >> 3);
		slot = slot_get(ret, address);
		if (!slot)
			return -ENOMEM;
		if (!slot->label)
			slot->label = TAKE_PTR(label);
	}
	return 0;
}

int pci_slots_read(struct sysfs *s, struct pci_slots *ret)
{
	struct pci_slots slots = {};
	int r;

	r = read_kernel_slots(s, &slots);
	if (r >= 0)
		r = read_dmi_slots(s, &slots);
	if (r < 0) {
		pci_slots_done(&slots);
		return r;
	}
	if (slots.n > 1)
		qsort(slots.slots, slots.n, sizeof(*slots.slots), cmp_slot);
	*ret = slots;
	return 0;
}

const struct pci_slot *pci_slots_find(const struct pci_slots *s, const char *address)
{
	size_t lo = 0, hi = s->n, n = slot_len(address);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(address, s->slots[mid].address, n);

		if (c == 0 && s->slots[mid].address[n] == '\0')
			return &s->slots[mid];
		if (c == 0)
			c = -1;	/* the slot's address is longer: it sorts after */
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
