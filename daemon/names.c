/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PCI names from the udev hardware database through sd-hwdb. Its PCI entries come from pci.ids:
 *
 *	pci:v00001AF4*					ID_VENDOR_FROM_DATABASE (vendor)
 *	pci:v00001AF4d00001041*				ID_MODEL_FROM_DATABASE (device)
 *	pci:v…d…sv…sd…*					ID_MODEL_FROM_DATABASE "device (subsystem)"
 *	pci:v*d*sv*sd*bc02*, …bc02sc00*, …bc02sc00i00*	ID_PCI_{CLASS,SUBCLASS,INTERFACE}_FROM_DATABASE
 *
 * Of the properties of several matching entries the last in the file wins, so the subsystem's
 * model, when there is one, hides the device's: the device is looked up on its own.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-hwdb.h>

#include "lib/log.h"
#include "lib/macro.h"
#include "lib/pci.h"
#include "names.h"

struct names_key {
	uint32_t vendor, device, subsystem_vendor, subsystem_device, class;
};

struct names_entry {
	struct names_key key;
	struct pci_names names;
	char text[];		/* the names, one after the other */
};

struct names_db {
	bool hwdb_missing;	/* opening it failed: every name is unknown */
	struct names_entry **entries;	/* sorted by key */
	size_t n, size;
};

struct names_db *names_db_new(void)
{
	return new0(struct names_db, 1);
}

struct names_db *names_db_free(struct names_db *db)
{
	if (!db)
		return NULL;
	for (size_t i = 0; i < db->n; i++)
		free(db->entries[i]);
	free(db->entries);
	free(db);
	return NULL;
}

static int key_compare(const struct names_key *a, const struct names_key *b)
{
	const uint32_t *x = &a->vendor, *y = &b->vendor;

	for (size_t i = 0; i < sizeof(*a) / sizeof(uint32_t); i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

/* The properties keys[] of the entries matching modalias into values[] (pointers into the
 * database, left as they are when it has none). */
static void hwdb_get(sd_hwdb *hwdb, const char *modalias, const char *const *keys,
		     const char **values, size_t n)
{
	const char *key, *value;

	SD_HWDB_FOREACH_PROPERTY(hwdb, modalias, key, value)
		for (size_t i = 0; i < n; i++)
			if (streq(key, keys[i]))
				values[i] = value;
}

enum { VENDOR, DEVICE, SUBSYSTEM_VENDOR, SUBSYSTEM, CLASS, SUBCLASS, PROG_IF, _NAMES };

static void hwdb_names(sd_hwdb *hwdb, const struct names_key *k, bool has_subsystem,
		       const char *v[static _NAMES], size_t *ret_subsystem_len)
{
	static const char *const vendor_device[] = { "ID_VENDOR_FROM_DATABASE",
						     "ID_MODEL_FROM_DATABASE" };
	static const char *const model_class[] = { "ID_MODEL_FROM_DATABASE",
						   "ID_PCI_CLASS_FROM_DATABASE",
						   "ID_PCI_SUBCLASS_FROM_DATABASE",
						   "ID_PCI_INTERFACE_FROM_DATABASE" };
	const char *vd[2] = {}, *mc[4] = {}, *model, *sv = NULL;
	char modalias[96];
	size_t n;

	*ret_subsystem_len = 0;
	(void)snprintf(modalias, sizeof(modalias), "pci:v%08Xd%08X", k->vendor, k->device);
	hwdb_get(hwdb, modalias, vendor_device, vd, 2);
	v[VENDOR] = vd[0];
	v[DEVICE] = vd[1];

	(void)snprintf(modalias, sizeof(modalias), "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X",
		       k->vendor, k->device, has_subsystem ? k->subsystem_vendor : 0,
		       has_subsystem ? k->subsystem_device : 0, (k->class >> 16) & 0xff,
		       (k->class >> 8) & 0xff, k->class & 0xff);
	hwdb_get(hwdb, modalias, model_class, mc, 4);
	model = mc[0];
	v[CLASS] = mc[1];
	v[SUBCLASS] = mc[2];
	v[PROG_IF] = mc[3];
	if (!has_subsystem)
		return;

	if (k->subsystem_vendor == k->vendor)
		v[SUBSYSTEM_VENDOR] = v[VENDOR];
	else {
		(void)snprintf(modalias, sizeof(modalias), "pci:v%08X", k->subsystem_vendor);
		hwdb_get(hwdb, modalias, vendor_device, &sv, 1);
		v[SUBSYSTEM_VENDOR] = sv;
	}
	/* A subsystem's entry says "device (subsystem)". */
	n = v[DEVICE] ? strlen(v[DEVICE]) : 0;
	if (model && n > 0 && strncmp(model, v[DEVICE], n) == 0 && strncmp(model + n, " (", 2) == 0 &&
	    strlen(model + n) > 3 && model[strlen(model) - 1] == ')') {
		v[SUBSYSTEM] = model + n + 2;
		*ret_subsystem_len = strlen(v[SUBSYSTEM]) - 1;
	} else if (k->subsystem_vendor == k->vendor && k->subsystem_device == k->device)
		v[SUBSYSTEM] = v[DEVICE];	/* as lspci says it: the device is its own subsystem */
}

static struct names_entry *entry_new(const struct names_key *k, const char *v[static _NAMES],
				     size_t subsystem_len)
{
	const char **out[_NAMES];
	struct names_entry *e;
	size_t len[_NAMES], total = 0;
	char *p;

	for (size_t i = 0; i < _NAMES; i++) {
		len[i] = !v[i] ? 0 : i == SUBSYSTEM && subsystem_len ? subsystem_len : strlen(v[i]);
		total += v[i] ? len[i] + 1 : 0;
	}
	e = malloc(sizeof(*e) + total);
	if (!e)
		return NULL;
	e->key = *k;
	e->names = (struct pci_names){};
	out[VENDOR] = &e->names.vendor;
	out[DEVICE] = &e->names.device;
	out[SUBSYSTEM_VENDOR] = &e->names.subsystem_vendor;
	out[SUBSYSTEM] = &e->names.subsystem;
	out[CLASS] = &e->names.class;
	out[SUBCLASS] = &e->names.subclass;
	out[PROG_IF] = &e->names.prog_if;
	p = e->text;
	for (size_t i = 0; i < _NAMES; i++) {
		if (!v[i])
			continue;
		memcpy(p, v[i], len[i]);
		p[len[i]] = '\0';
		*out[i] = p;
		p += len[i] + 1;
	}
	return e;
}

/* names_lookup(), the database opened into *hwdb on the first lookup that needs it. */
static const struct pci_names *lookup(struct names_db *db, const struct pcidev *d, sd_hwdb **hwdb)
{
	bool has_subsystem = d->subsystem_vendor >= 0 && d->subsystem_device >= 0;
	const struct names_key k = {
		.vendor = d->vendor, .device = d->device, .class = d->class,
		.subsystem_vendor = has_subsystem ? (uint32_t)d->subsystem_vendor : UINT32_MAX,
		.subsystem_device = has_subsystem ? (uint32_t)d->subsystem_device : UINT32_MAX,
	};
	const char *v[_NAMES] = {};
	struct names_entry *e;
	size_t lo = 0, hi = db->n, subsystem_len = 0;
	int r;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_compare(&k, &db->entries[mid]->key);

		if (c == 0)
			return &db->entries[mid]->names;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}

	if (!*hwdb && !db->hwdb_missing) {
		r = sd_hwdb_new(hwdb);
		if (r < 0) {
			log_info_errno(r, "No hardware database (%m): PCI names unknown.");
			db->hwdb_missing = true;
		}
	}
	if (*hwdb)
		hwdb_names(*hwdb, &k, has_subsystem, v, &subsystem_len);

	if (db->n == db->size) {
		size_t size = MAX(db->size * 2, (size_t)16);
		struct names_entry **a = reallocarray_safe(db->entries, size, sizeof(*a));

		if (!a)
			return NULL;
		db->entries = a;
		db->size = size;
	}
	e = entry_new(&k, v, subsystem_len);
	if (!e)
		return NULL;
	memmove(db->entries + lo + 1, db->entries + lo, (db->n - lo) * sizeof(*db->entries));
	db->entries[lo] = e;
	db->n++;
	return &e->names;
}

/* The database is opened for the lookups of one call only: its pages (a trie of 13 MB, whose
 * wildcard branches a class lookup walks) would otherwise stay in the daemon's resident set. */
const struct pci_names *names_lookup(struct names_db *db, const struct pcidev *d)
{
	_cleanup_(sd_hwdb_unrefp) sd_hwdb *hwdb = NULL;

	return lookup(db, d, &hwdb);
}

void names_lookup_all(struct names_db *db, struct pcidev *const *devs, size_t n)
{
	_cleanup_(sd_hwdb_unrefp) sd_hwdb *hwdb = NULL;

	for (size_t i = 0; i < n; i++)
		if (!devs[i]->names)
			devs[i]->names = lookup(db, devs[i], &hwdb);	/* NULL (-ENOMEM): tried again */
}
