/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the PCI expansion ROM parser (lib/pcirom): any bytes go through
 * pci_rom_parse() and pci_rom_to_json(). It must never crash, read past the input, leak, loop
 * for long, or break its contract: images in order, inside the buffer where they start,
 * stepping forward, at most PCI_ROM_IMAGES_MAX of them, and JSON that agrees with the struct.
 *
 * Built with a fuzzing engine (clang -fsanitize=fuzzer -DFUZZING_ENGINE), libFuzzer drives it.
 * Built plainly, as "make check" does, main() below replays a corpus instead: every file of
 * the directory given (default: $top_srcdir/tests/fuzz-pcirom-corpus), whole and, for small
 * files, cut at every length, one TAP line per file.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>

#include "lib/pcirom.h"
#include "lib/json-util.h"
#include "lib/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rom(const struct pci_rom *rom, size_t size)
{
	size_t next = 0;

	if (rom->size != size || rom->n_images > PCI_ROM_IMAGES_MAX)
		abort();
	if (rom->end > size || rom->trailing != size - rom->end)
		abort();
	if ((size == 0) != ((rom->problems & PCI_ROM_EMPTY) != 0))
		abort();
	if (size > 0 && rom->n_images == 0)
		abort();
	for (size_t i = 0; i < rom->n_images; i++) {
		const struct pci_rom_image *img = &rom->images[i];

		/* Each image starts where the one before ended, inside the buffer. */
		if (img->offset != next || img->offset >= size)
			abort();
		if (img->problems >> _PCI_ROM_IMAGE_PROBLEM_COUNT)
			abort();
		if (img->problems & PCI_ROM_IMAGE_IDS_MISMATCH)
			abort();	/* only pci_rom_image_problems() adds it */
		if (!img->has_pcir && (img->length || img->has_efi || img->checksum_checked))
			abort();
		if (img->checksum_checked && (img->code_type != PCI_ROM_CODE_X86 ||
					      img->offset + img->length > size))
			abort();
		if (img->has_efi != (img->has_pcir && img->code_type == PCI_ROM_CODE_EFI &&
				     img->length > 0))
			abort();
		if (img->n_device_ids > PCI_ROM_DEVICE_LIST_MAX)
			abort();
		if (i + 1 < rom->n_images) {
			/* Only a sound, not-last image is followed by another. */
			if (img->length == 0 || pci_rom_image_is_last(img) ||
			    (img->problems & (PCI_ROM_IMAGE_BAD_SIGNATURE | PCI_ROM_IMAGE_TRUNCATED)))
				abort();
		}
		next = img->offset + MIN(img->length, size - img->offset);
	}
	if (rom->n_images > 0 && rom->end != next)
		abort();
	if (pci_rom_valid(rom, PCI_ROM_ID_UNKNOWN, PCI_ROM_ID_UNKNOWN) &&
	    (rom->problems || rom->n_images == 0 || rom->trailing > size))
		abort();
}

static void check_json(const struct pci_rom *rom, uint32_t vendor, uint32_t device)
{
	_cleanup_json_ json_object *o = NULL;
	json_object *images = NULL, *valid = NULL;
	const char *s;
	int r;

	r = pci_rom_to_json(rom, vendor, device, &o);
	if (r == -ENOMEM)
		return;
	if (r < 0 || !o)
		abort();
	if (!json_object_object_get_ex(o, "images", &images) ||
	    json_object_array_length(images) != rom->n_images)
		abort();
	if (!json_object_object_get_ex(o, "valid", &valid) ||
	    json_object_get_boolean(valid) != pci_rom_valid(rom, vendor, device))
		abort();
	s = json_object_to_json_string_ext(o, JSON_FLAGS_WIRE);
	if (!s || s[0] != '{')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	int r;

	/* Exactly size bytes: a read past the end is an ASan report. */
	buf = malloc(size ?: 1);
	if (!buf)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);

	r = pci_rom_parse(buf, size, &rom);
	if (r == -ENOMEM)
		return 0;
	if (r < 0 || !rom)
		abort();
	check_rom(rom, size);
	check_json(rom, PCI_ROM_ID_UNKNOWN, PCI_ROM_ID_UNKNOWN);
	if (rom->n_images > 0 && rom->images[0].has_pcir)
		check_json(rom, rom->images[0].vendor_id, rom->images[0].device_id);
	check_json(rom, 0x8086, 0x10d3);
	return 0;
}

#ifndef FUZZING_ENGINE
#define FUZZ_CORPUS "tests/fuzz-pcirom-corpus"
#include "fuzz-replay.h"
#endif
