/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The names the host's hardware database gives a PCI function (the udev hwdb, generated from
 * pci.ids: what lspci and udevadm info show), looked up once per distinct set of ids and kept
 * for as long as the daemon runs. A name is NULL when the database does not know it.
 */

#include <stdint.h>

struct pcidev;

struct pci_names {
	const char *vendor, *device;
	const char *subsystem_vendor, *subsystem;
	const char *class, *subclass, *prog_if;
};

struct names_db;

struct names_db *names_db_new(void);
struct names_db *names_db_free(struct names_db *db);

/* The names of d's ids; every one NULL when there is no database. NULL only on -ENOMEM. The
 * result lives as long as db. Opens the database for this lookup only, when the ids are new. */
const struct pci_names *names_lookup(struct names_db *db, const struct pcidev *d);
/* The same into the names of each of devs[0, n) that has none, the database opened once. */
void names_lookup_all(struct names_db *db, struct pcidev *const *devs, size_t n);
