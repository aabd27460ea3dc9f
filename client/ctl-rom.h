/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "client/ctl.h"

#define ROM_FILE_MAX	(16U * 1024U * 1024U)	/* bytes of a ROM file read at most */

/*
 * Checks the PCI option ROM in the file at path, offline: prints a verdict per image (or the
 * JSON of pci_rom_to_json() with "path" added, when json). Returns CTL_EXIT_OK when the ROM is
 * valid, CTL_EXIT_FAILURE when it is not or cannot be read.
 */
int rom_check_file(const char *path, bool json, bool pretty);

/* -o/--output FILE of "rom ADDRESS" (struct ctl has no room for it); set by pcipassctl.c. */
extern const char *arg_rom_output;
/* --check: rom --check FILE… is rom check FILE…. */
extern bool arg_rom_check;

/*
 * "rom check FILE…" (also "rom --check FILE…"): rom_check_file() on each; fails if any fails.
 * "rom ADDRESS -o FILE": pcipassd reads the function's ROM (DumpRom, root only), FILE gets it
 * (replaced as a whole), and the verdict is printed as rom check prints it; fails when the ROM
 * is invalid (FILE is saved all the same) or cannot be read or saved.
 */
int verb_rom(struct ctl *c, int argc, char *argv[]);
