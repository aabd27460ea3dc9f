/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The PCI expansion (option) ROM: a chain of images, each a 0x55 0xAA header pointing to a
 * "PCIR" data structure that names the device, the code type (legacy x86 BIOS, Open Firmware,
 * PA-RISC, EFI), the image length and whether it is the last image. pci_rom_parse() walks and
 * checks such a chain in memory (it does no I/O, never reads outside the buffer and always
 * ends); pci_rom_to_json() reports the verdict.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "lib/macro.h"

#define PCI_ROM_IMAGES_MAX		16U	/* images walked at most */
#define PCI_ROM_DEVICE_LIST_MAX		64U	/* device list entries read at most */
#define PCI_ROM_UNIT			512U	/* image and initialization sizes count these */
#define PCI_ROM_ID_UNKNOWN		UINT32_MAX	/* an expected id that is not known */

enum pci_rom_code_type {
	PCI_ROM_CODE_X86 = 0x00,		/* Intel x86, PC-AT compatible (legacy BIOS) */
	PCI_ROM_CODE_OPEN_FIRMWARE = 0x01,
	PCI_ROM_CODE_PA_RISC = 0x02,		/* Hewlett-Packard PA-RISC */
	PCI_ROM_CODE_EFI = 0x03,		/* (U)EFI */
};

/* What is wrong with one image. The JSON names are in pci_rom_image_problem_to_string(). */
enum {
	PCI_ROM_IMAGE_BAD_SIGNATURE = 1U << 0,	  /* no 0x55 0xAA: the chain stops here */
	PCI_ROM_IMAGE_PCIR_OUT_OF_RANGE = 1U << 1, /* outside the header, image or buffer */
	PCI_ROM_IMAGE_PCIR_MISSING = 1U << 2,	  /* no "PCIR" signature where it points */
	PCI_ROM_IMAGE_PCIR_MISALIGNED = 1U << 3,  /* not on a 4-byte boundary */
	PCI_ROM_IMAGE_PCIR_LENGTH = 1U << 4,	  /* structure length below 0x18 */
	PCI_ROM_IMAGE_IDS_MISMATCH = 1U << 5,	  /* only from pci_rom_image_problems() */
	PCI_ROM_IMAGE_ZERO_LENGTH = 1U << 6,	  /* image length 0: the chain stops here */
	PCI_ROM_IMAGE_TRUNCATED = 1U << 7,	  /* extends past the buffer */
	PCI_ROM_IMAGE_CHECKSUM = 1U << 8,	  /* x86: bytes of the image do not sum to 0 */
	PCI_ROM_IMAGE_INIT_SIZE = 1U << 9,	  /* initialization size 0 or above the length */
	PCI_ROM_IMAGE_INIT_CHECKSUM = 1U << 10,	  /* x86: initialization area sum is not 0 */
	PCI_ROM_IMAGE_EFI_SIGNATURE = 1U << 11,	  /* EFI: no 0x0EF1 signature */
	PCI_ROM_IMAGE_EFI_IMAGE_OFFSET = 1U << 12, /* EFI: PE image offset outside the image */
	PCI_ROM_IMAGE_DEVICE_LIST = 1U << 13,	  /* rev 3 device list outside or unterminated */
	_PCI_ROM_IMAGE_PROBLEM_COUNT = 14,
};

/* What is wrong with the chain as a whole. */
enum {
	PCI_ROM_EMPTY = 1U << 0,		/* no bytes at all */
	PCI_ROM_NO_LAST_IMAGE = 1U << 1,	/* the chain ended without the last-image flag */
	PCI_ROM_TOO_MANY_IMAGES = 1U << 2,	/* more than PCI_ROM_IMAGES_MAX images */
	PCI_ROM_TRAILING_DATA = 1U << 3,	/* bytes after the last image that are not padding */
	_PCI_ROM_PROBLEM_COUNT = 4,
};

/* The EFI expansion ROM header (code type 3), decoded. */
struct pci_rom_efi {
	uint16_t init_size;		/* 512-byte units */
	uint32_t signature;		/* 0x0EF1 */
	uint16_t subsystem;		/* PE subsystem: 10 application, 11 BS driver, 12 RT driver */
	uint16_t machine_type;		/* PE machine: 0x14C, 0x8664, 0xAA64, 0x0EBC, ... */
	uint16_t compression_type;	/* 0 none, 1 EFI compression */
	uint16_t image_offset;		/* of the PE image, from the image start */
};

struct pci_rom_image {
	size_t offset;			/* from the start of the ROM */
	size_t length;			/* bytes, as the PCIR says (0 if unknown) */
	unsigned problems;		/* PCI_ROM_IMAGE_* */

	uint8_t init_size;		/* legacy header byte 2, 512-byte units */
	bool has_pcir;			/* the fields below were read */
	uint16_t pcir_offset;		/* from the image start */
	uint16_t vendor_id, device_id;
	uint16_t pcir_length;
	uint8_t revision;
	uint32_t class;
	uint16_t code_revision;
	uint8_t code_type;
	uint8_t indicator;
	uint16_t max_runtime_length;	/* rev 3, 512-byte units */

	size_t n_device_ids;		/* rev 3 device list, terminator excluded */
	uint16_t device_ids[PCI_ROM_DEVICE_LIST_MAX];

	bool checksum_checked;		/* x86 image wholly inside the buffer */
	uint8_t checksum;		/* sum of its bytes mod 256 */

	bool has_efi;
	struct pci_rom_efi efi;
};

struct pci_rom {
	size_t size;			/* of the buffer */
	size_t end;			/* where the chain ended */
	size_t trailing;		/* bytes after it */
	unsigned problems;		/* PCI_ROM_* */
	size_t n_images;
	struct pci_rom_image images[PCI_ROM_IMAGES_MAX];
};

static inline bool pci_rom_image_is_last(const struct pci_rom_image *img)
{
	return img->has_pcir && (img->indicator & 0x80);	/* PCIR indicator bit 7 */
}

/*
 * Walks the images in buf. A malformed ROM still parses: what is wrong is in the problem
 * bits. Fails only with -EINVAL (NULL arguments) or -ENOMEM. Free the result with free().
 */
int pci_rom_parse(const uint8_t *buf, size_t size, struct pci_rom **ret);

static inline struct pci_rom *pci_rom_free(struct pci_rom *rom)
{
	free(rom);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pci_rom *, pci_rom_free)
#define _cleanup_pci_rom_	_cleanup_(pci_rom_freep)

/*
 * Whether an image is for the expected device: 1 yes, 0 no, -1 cannot tell (both ids unknown,
 * or the image has no PCIR). The device matches the PCIR device id or one of the rev 3 list.
 */
int pci_rom_image_ids_match(const struct pci_rom_image *img, uint32_t vendor, uint32_t device);
/* The image's problems, PCI_ROM_IMAGE_IDS_MISMATCH included when the ids do not match. */
unsigned pci_rom_image_problems(const struct pci_rom_image *img, uint32_t vendor, uint32_t device);
/* No problem in the chain or any image, and at least one image. */
bool pci_rom_valid(const struct pci_rom *rom, uint32_t vendor, uint32_t device);

const char *pci_rom_image_problem_to_string(unsigned bit);
const char *pci_rom_problem_to_string(unsigned bit);
const char *pci_rom_code_type_to_string(uint8_t code_type);	/* "unknown" for reserved */
const char *pci_rom_efi_machine_to_string(uint16_t machine);	/* NULL if unknown */
const char *pci_rom_efi_subsystem_to_string(uint16_t subsystem); /* NULL if unknown */

/*
 * {"size", "valid", "trailing", "images": [...], "problems": [...]}: see pcirom.c. The
 * expected ids may be PCI_ROM_ID_UNKNOWN.
 */
int pci_rom_to_json(const struct pci_rom *rom, uint32_t expect_vendor, uint32_t expect_device,
		    json_object **ret);
