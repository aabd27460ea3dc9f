/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/pci.h"

static const char *const pci_header_table[_PCI_HEADER_MAX] = {
	[PCI_HEADER_ENDPOINT] = "endpoint",
	[PCI_HEADER_BRIDGE] = "bridge",
	[PCI_HEADER_CARDBUS] = "cardbus",
};

const char *pci_header_to_string(enum pci_header h)
{
	if (h < 0 || h >= _PCI_HEADER_MAX)
		return NULL;
	return pci_header_table[h];
}

struct pcidev *pcidev_ref(struct pcidev *d)
{
	if (d)
		d->n_ref++;
	return d;
}

struct pcidev *pcidev_unref(struct pcidev *d)
{
	if (!d || --d->n_ref > 0)
		return NULL;
	free(d->driver);
	free(d->driver_override);
	free(d->physfn);
	free(d->dir);
	strv_free(d->virtfns);
	strv_free(d->reset_methods);
	pci_text_clear(&d->text);
	free(d);
	return NULL;
}

void pci_text_clear(struct pci_text *t)
{
	free(t->own);
	for (unsigned i = 0; i < t->n_shared; i++)
		(void)text_atom_unref(t->shared[i]);
	*t = (struct pci_text){};
}

void pcidev_text_clear(struct pcidev *d)
{
	if (d)
		pci_text_clear(&d->text);
}

int pci_addr_compare(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	/* Same-width lowercase hex sorts like the numbers; a longer domain is a larger one. */
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

int pci_addr_compare_ptr(const void *a, const void *b)
{
	return pci_addr_compare(*(const char *const *)a, *(const char *const *)b);
}

double pci_link_speed_parse(const char *s)
{
	char *end = NULL;
	double v;

	if (isempty(s))
		return 0;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v <= 0 || !isfinite(v) || strncmp(end, " GT/s", 5) != 0)
		return 0;
	return v;
}

/* GT/s of PCIe 1.0 to 6.0; Link Status and Capabilities code generation n as speed n. */
static const double link_rates[] = { 2.5, 5.0, 8.0, 16.0, 32.0, 64.0 };

double pci_link_gts(int generation)
{
	if (generation < 1 || generation > (int)ELEMENTSOF(link_rates))
		return 0;
	return link_rates[generation - 1];
}

int pci_link_generation(double gts)
{
	for (size_t i = 0; i < ELEMENTSOF(link_rates); i++)
		if (fabs(gts - link_rates[i]) < 0.01)
			return (int)i + 1;
	return 0;
}

unsigned pci_link_lane_mbps(int generation)
{
	/* 8b/10b for 1.0 and 2.0, 128b/130b for 3.0 to 5.0, 242B/256B FLIT mode for 6.0. */
	static const unsigned mbps[] = { 250, 500, 985, 1969, 3938, 7563 };

	if (generation < 1 || generation > (int)ELEMENTSOF(mbps))
		return 0;
	return mbps[generation - 1];
}

size_t pci_addr_search(const void *base, size_t n, size_t size,
		       const char *(*address_of)(const void *elem), const char *address,
		       bool *ret_found)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = pci_addr_compare(address_of((const char *)base + mid * size), address);

		if (c == 0) {
			*ret_found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_found = false;
	return lo;
}

const char *pci_path_last_address(const char *path, char buf[static PCI_ADDR_MAX + 1])
{
	const char *found = NULL;
	size_t found_n = 0;

	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");

		if (n <= PCI_ADDR_MAX) {
			memcpy(buf, p, n);
			buf[n] = 0;
			if (pci_addr_is_valid(buf)) {
				found = p;
				found_n = n;
			}
		}
		p += n + (p[n] == '/');
	}
	if (!found)
		return NULL;
	memcpy(buf, found, found_n);
	buf[found_n] = 0;
	return buf;
}
