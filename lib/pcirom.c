/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PCI expansion ROM parser and validator.
 *
 * Layout, as checked against these sources (offsets from the image start, or from the PCIR):
 *  - Image header (PCI Firmware spec 3.0 §5.1.1; EDK2 MdePkg IndustryStandard/Pci22.h
 *    EFI_LEGACY_EXPANSION_ROM_HEADER): 0x00 signature 0x55 0xAA, 0x02 initialization size
 *    (byte, 512-byte units), 0x18 16-bit offset of the PCI data structure.
 *  - PCI data structure (PCI Firmware spec 3.0 §5.1.2; EDK2 MdePkg IndustryStandard/Pci30.h
 *    PCI_3_0_DATA_STRUCTURE): 0x00 "PCIR", 0x04 vendor id, 0x06 device id, 0x08 device list
 *    pointer (rev 3; a VPD pointer before), 0x0A structure length, 0x0C revision, 0x0D class
 *    code (3 bytes, little endian), 0x10 image length (512-byte units), 0x12 code revision,
 *    0x14 code type, 0x15 indicator (bit 7: last image), 0x16 max runtime image length (rev 3).
 *    The device list (rev 3) is 16-bit device ids from the PCIR start, ended by 0.
 *  - Linux drivers/pci/rom.c pci_get_rom_size() walks the same chain: 0xAA55, the pointer at
 *    24, readl(pds) == 0x52494350, last = pds[21] & 0x80, length = pds[16..17] * 512, and
 *    stops at a zero length. The PCIR must start on a 4-byte boundary (PCI 2.2 §6.3.1.2;
 *    the kernel's alignment fix cites UEFI 2.8 for it).
 *  - EFI image header (code type 3; EDK2 BaseTools IndustryStandard/EfiPci.h
 *    EFI_PCI_EXPANSION_ROM_HEADER): 0x02 initialization size (16-bit, 512-byte units),
 *    0x04 EFI signature (32-bit, 0x0EF1), 0x08 subsystem, 0x0A machine type, 0x0C
 *    compression type, 0x16 offset of the PE image. QEMU's iPXE efi-*.rom images agree.
 *  - Checksum: a legacy BIOS sums the initialization area (byte 2 × 512) and wants 0; tools
 *    make the whole image sum to 0. Both are checked for x86 images; other code types carry
 *    no byte checksum.
 */
#include <errno.h>
#include <string.h>

#include "lib/pcirom.h"
#include "lib/json-util.h"

#define ROM_HEADER_SIZE		0x1AU	/* up to and including the PCIR pointer */
#define ROM_INIT_SIZE		0x02U
#define ROM_PCIR_POINTER	0x18U

#define PCIR_SIGNATURE		0x52494350U	/* "PCIR" read little endian */
#define PCIR_VENDOR		0x04U
#define PCIR_DEVICE		0x06U
#define PCIR_DEVICE_LIST	0x08U
#define PCIR_LENGTH		0x0AU
#define PCIR_REVISION		0x0CU
#define PCIR_CLASS		0x0DU
#define PCIR_IMAGE_LENGTH	0x10U
#define PCIR_CODE_REVISION	0x12U
#define PCIR_CODE_TYPE		0x14U
#define PCIR_INDICATOR		0x15U
#define PCIR_MAX_RUNTIME	0x16U
#define PCIR_MIN_SIZE		0x18U	/* PCI 2.2 and later */
#define PCIR_INDICATOR_LAST	0x80U

#define EFI_INIT_SIZE		0x02U
#define EFI_SIGNATURE		0x04U
#define EFI_SUBSYSTEM		0x08U
#define EFI_MACHINE		0x0AU
#define EFI_COMPRESSION		0x0CU
#define EFI_IMAGE_OFFSET	0x16U
#define EFI_SIGNATURE_VALUE	0x0EF1U

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

/* Whether [off, off + n) lies inside [0, limit), without overflowing. */
static bool in_range(size_t off, size_t n, size_t limit)
{
	return off <= limit && n <= limit - off;
}

/* The rev 3 device list: inside the image (as far as the buffer holds it), ended by 0. */
static void parse_device_list(struct pci_rom_image *img, const uint8_t *image, size_t avail)
{
	uint16_t ptr = le16(image + img->pcir_offset + PCIR_DEVICE_LIST);
	size_t at = (size_t)img->pcir_offset + ptr;

	if (img->revision < 3 || ptr == 0)
		return;
	for (size_t i = 0; i < PCI_ROM_DEVICE_LIST_MAX && in_range(at, 2, avail); i++, at += 2) {
		uint16_t id = le16(image + at);

		if (id == 0)
			return;
		img->device_ids[img->n_device_ids++] = id;
	}
	img->problems |= PCI_ROM_IMAGE_DEVICE_LIST;
}

static void parse_efi(struct pci_rom_image *img, const uint8_t *image)
{
	/* The whole EFI header lies before the PCIR pointer, which was checked to be readable. */
	img->has_efi = true;
	img->efi = (struct pci_rom_efi) {
		.init_size = le16(image + EFI_INIT_SIZE),
		.signature = le32(image + EFI_SIGNATURE),
		.subsystem = le16(image + EFI_SUBSYSTEM),
		.machine_type = le16(image + EFI_MACHINE),
		.compression_type = le16(image + EFI_COMPRESSION),
		.image_offset = le16(image + EFI_IMAGE_OFFSET),
	};
	if (img->efi.signature != EFI_SIGNATURE_VALUE)
		img->problems |= PCI_ROM_IMAGE_EFI_SIGNATURE;
	if (img->efi.init_size == 0 || (size_t)img->efi.init_size * PCI_ROM_UNIT > img->length)
		img->problems |= PCI_ROM_IMAGE_INIT_SIZE;
	if (img->efi.image_offset < ROM_HEADER_SIZE || img->efi.image_offset >= img->length)
		img->problems |= PCI_ROM_IMAGE_EFI_IMAGE_OFFSET;
}

static void parse_x86(struct pci_rom_image *img, const uint8_t *image, size_t avail)
{
	size_t init = (size_t)img->init_size * PCI_ROM_UNIT;

	if (img->init_size == 0 || init > img->length)
		img->problems |= PCI_ROM_IMAGE_INIT_SIZE;
	else if (init < img->length && init <= avail && sum8(image, init) != 0)
		img->problems |= PCI_ROM_IMAGE_INIT_CHECKSUM;

	if (img->length > avail)
		return;		/* truncated: the checksum cannot be known */
	img->checksum_checked = true;
	img->checksum = sum8(image, img->length);
	if (img->checksum != 0)
		img->problems |= PCI_ROM_IMAGE_CHECKSUM;
}

/*
 * Parses the image at image[0..avail) into img. Returns whether the chain goes on after it
 * (the image is sound enough to be stepped over and is not the last one).
 */
static bool parse_image(struct pci_rom_image *img, const uint8_t *image, size_t avail)
{
	const uint8_t *pcir;
	uint16_t ptr;

	if (avail < 2 || image[0] != 0x55 || image[1] != 0xAA) {
		img->problems |= PCI_ROM_IMAGE_BAD_SIGNATURE;
		return false;
	}
	if (avail < ROM_HEADER_SIZE) {
		img->problems |= PCI_ROM_IMAGE_TRUNCATED | PCI_ROM_IMAGE_PCIR_OUT_OF_RANGE;
		return false;
	}
	img->init_size = image[ROM_INIT_SIZE];

	ptr = le16(image + ROM_PCIR_POINTER);
	img->pcir_offset = ptr;
	if (ptr < ROM_HEADER_SIZE || !in_range(ptr, PCIR_MIN_SIZE, avail)) {
		img->problems |= PCI_ROM_IMAGE_PCIR_OUT_OF_RANGE;
		return false;
	}
	pcir = image + ptr;
	if (le32(pcir) != PCIR_SIGNATURE) {
		img->problems |= PCI_ROM_IMAGE_PCIR_MISSING;
		return false;
	}
	if (ptr % 4 != 0)
		img->problems |= PCI_ROM_IMAGE_PCIR_MISALIGNED;

	img->has_pcir = true;
	img->vendor_id = le16(pcir + PCIR_VENDOR);
	img->device_id = le16(pcir + PCIR_DEVICE);
	img->pcir_length = le16(pcir + PCIR_LENGTH);
	img->revision = pcir[PCIR_REVISION];
	img->class = (uint32_t)pcir[PCIR_CLASS] | (uint32_t)pcir[PCIR_CLASS + 1] << 8 |
		     (uint32_t)pcir[PCIR_CLASS + 2] << 16;
	img->length = (size_t)le16(pcir + PCIR_IMAGE_LENGTH) * PCI_ROM_UNIT;
	img->code_revision = le16(pcir + PCIR_CODE_REVISION);
	img->code_type = pcir[PCIR_CODE_TYPE];
	img->indicator = pcir[PCIR_INDICATOR];
	img->max_runtime_length = le16(pcir + PCIR_MAX_RUNTIME);

	if (img->pcir_length < PCIR_MIN_SIZE)
		img->problems |= PCI_ROM_IMAGE_PCIR_LENGTH;
	if (img->length == 0) {
		img->problems |= PCI_ROM_IMAGE_ZERO_LENGTH;
		return false;
	}
	if (!in_range(ptr, MAX(img->pcir_length, (size_t)PCIR_MIN_SIZE), img->length))
		img->problems |= PCI_ROM_IMAGE_PCIR_OUT_OF_RANGE;
	if (img->length > avail)
		img->problems |= PCI_ROM_IMAGE_TRUNCATED;

	parse_device_list(img, image, MIN(avail, img->length));

	if (img->code_type == PCI_ROM_CODE_X86)
		parse_x86(img, image, avail);
	else if (img->code_type == PCI_ROM_CODE_EFI)
		parse_efi(img, image);

	return !(img->problems & PCI_ROM_IMAGE_TRUNCATED) && !(img->indicator & PCIR_INDICATOR_LAST);
}

/* Whether the n bytes at p are all 0x00 or all 0xFF: padding of a flash part or a dump. */
static bool is_padding(const uint8_t *p, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (p[i] != p[0])
			return false;
	return n == 0 || p[0] == 0x00 || p[0] == 0xFF;
}

int pci_rom_parse(const uint8_t *buf, size_t size, struct pci_rom **ret)
{
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	bool more = true, last = false;
	size_t off = 0;

	if ((!buf && size > 0) || !ret)
		return -EINVAL;

	rom = new0(struct pci_rom, 1);
	if (!rom)
		return -ENOMEM;
	rom->size = size;

	if (size == 0)
		rom->problems |= PCI_ROM_EMPTY;

	/* Each step either stops or advances by at least PCI_ROM_UNIT bytes. */
	while (more && off < size) {
		struct pci_rom_image *img;

		if (rom->n_images == PCI_ROM_IMAGES_MAX) {
			rom->problems |= PCI_ROM_TOO_MANY_IMAGES;
			break;
		}
		img = &rom->images[rom->n_images++];
		img->offset = off;
		more = parse_image(img, buf + off, size - off);
		if (pci_rom_image_is_last(img))
			last = true;
		if (img->length > 0)
			off += MIN(img->length, size - off);
		else
			more = false;
	}

	rom->end = off;
	rom->trailing = size - off;
	if (!last && !(rom->problems & (PCI_ROM_EMPTY | PCI_ROM_TOO_MANY_IMAGES)))
		rom->problems |= PCI_ROM_NO_LAST_IMAGE;
	if (last && !is_padding(buf + off, size - off))
		rom->problems |= PCI_ROM_TRAILING_DATA;

	*ret = TAKE_PTR(rom);
	return 0;
}

int pci_rom_image_ids_match(const struct pci_rom_image *img, uint32_t vendor, uint32_t device)
{
	bool found;

	if (!img || !img->has_pcir || (vendor == PCI_ROM_ID_UNKNOWN && device == PCI_ROM_ID_UNKNOWN))
		return -1;
	if (vendor != PCI_ROM_ID_UNKNOWN && vendor != img->vendor_id)
		return 0;
	if (device == PCI_ROM_ID_UNKNOWN)
		return 1;
	found = device == img->device_id;
	for (size_t i = 0; !found && i < img->n_device_ids; i++)
		found = device == img->device_ids[i];
	return found;
}

unsigned pci_rom_image_problems(const struct pci_rom_image *img, uint32_t vendor, uint32_t device)
{
	unsigned p = img->problems;

	if (pci_rom_image_ids_match(img, vendor, device) == 0)
		p |= PCI_ROM_IMAGE_IDS_MISMATCH;
	return p;
}

bool pci_rom_valid(const struct pci_rom *rom, uint32_t vendor, uint32_t device)
{
	if (!rom || rom->problems || rom->n_images == 0)
		return false;
	for (size_t i = 0; i < rom->n_images; i++)
		if (pci_rom_image_problems(&rom->images[i], vendor, device) != 0)
			return false;
	return true;
}

static const char *const image_problem_table[_PCI_ROM_IMAGE_PROBLEM_COUNT] = {
	"bad-signature",
	"pcir-out-of-range",
	"pcir-missing",
	"pcir-misaligned",
	"pcir-length-invalid",
	"ids-mismatch",
	"zero-length",
	"truncated",
	"checksum-nonzero",
	"init-size-invalid",
	"init-checksum-nonzero",
	"efi-bad-signature",
	"efi-image-out-of-range",
	"device-list-invalid",
};

static const char *const rom_problem_table[_PCI_ROM_PROBLEM_COUNT] = {
	"empty",
	"no-last-image",
	"too-many-images",
	"trailing-data",
};

static const char *bit_to_string(const char *const *table, unsigned n, unsigned bit)
{
	/* Exactly one bit, and one the table names. */
	if (bit == 0 || (bit & (bit - 1)) != 0)
		return NULL;
	for (unsigned i = 0; i < n; i++)
		if (bit == 1U << i)
			return table[i];
	return NULL;
}

const char *pci_rom_image_problem_to_string(unsigned bit)
{
	return bit_to_string(image_problem_table, ELEMENTSOF(image_problem_table), bit);
}

const char *pci_rom_problem_to_string(unsigned bit)
{
	return bit_to_string(rom_problem_table, ELEMENTSOF(rom_problem_table), bit);
}

const char *pci_rom_code_type_to_string(uint8_t code_type)
{
	switch (code_type) {
	case PCI_ROM_CODE_X86:
		return "x86";
	case PCI_ROM_CODE_OPEN_FIRMWARE:
		return "open-firmware";
	case PCI_ROM_CODE_PA_RISC:
		return "pa-risc";
	case PCI_ROM_CODE_EFI:
		return "efi";
	default:
		return "unknown";
	}
}

/* PE/COFF machine types (PE format spec; EDK2 MdePkg IndustryStandard/PeImage.h). */
const char *pci_rom_efi_machine_to_string(uint16_t machine)
{
	switch (machine) {
	case 0x014C:
		return "ia32";
	case 0x0200:
		return "ia64";
	case 0x01C2:
		return "arm";
	case 0x0EBC:
		return "ebc";
	case 0x5064:
		return "riscv64";
	case 0x6264:
		return "loongarch64";
	case 0x8664:
		return "x64";
	case 0xAA64:
		return "aarch64";
	default:
		return NULL;
	}
}

const char *pci_rom_efi_subsystem_to_string(uint16_t subsystem)
{
	switch (subsystem) {
	case 10:
		return "application";
	case 11:
		return "boot-service-driver";
	case 12:
		return "runtime-driver";
	default:
		return NULL;
	}
}

static int problems_to_json(unsigned problems, const char *(*to_string)(unsigned), unsigned n,
			    json_object **ret)
{
	_cleanup_json_ json_object *a = json_object_new_array();

	if (!a)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		json_object *s;

		if (!(problems & (1U << i)))
			continue;
		s = json_object_new_string(to_string(1U << i));
		if (!s || json_object_array_add(a, s) < 0) {
			if (s)
				(void)json_object_put(s);
			return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(a);
	return 0;
}

/* Adds key: true, false, or null for "n/a" (tri < 0). */
static int json_add_tribool(json_object *o, const char *key, int tri)
{
	return tri < 0 ? json_add_null(o, key) : json_add_bool(o, key, tri > 0);
}

static int efi_to_json(const struct pci_rom_efi *efi, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	int r;

	if (!o)
		return -ENOMEM;
	r = json_add_int(o, "init_size", (int64_t)efi->init_size * PCI_ROM_UNIT);
	if (r >= 0)
		r = json_add_int(o, "signature", efi->signature);
	if (r >= 0)
		r = json_add_int(o, "subsystem", efi->subsystem);
	if (r >= 0)
		r = json_add_str(o, "subsystem_name", pci_rom_efi_subsystem_to_string(efi->subsystem));
	if (r >= 0)
		r = json_add_int(o, "machine_type", efi->machine_type);
	if (r >= 0)
		r = json_add_str(o, "machine", pci_rom_efi_machine_to_string(efi->machine_type));
	if (r >= 0)
		r = json_add_int(o, "compression_type", efi->compression_type);
	if (r >= 0)
		r = json_add_bool(o, "compressed", efi->compression_type != 0);
	if (r >= 0)
		r = json_add_int(o, "image_offset", efi->image_offset);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

static int device_list_to_json(const struct pci_rom_image *img, json_object **ret)
{
	_cleanup_json_ json_object *a = json_object_new_array();

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < img->n_device_ids; i++) {
		json_object *v = json_object_new_int(img->device_ids[i]);

		if (!v || json_object_array_add(a, v) < 0) {
			if (v)
				(void)json_object_put(v);
			return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(a);
	return 0;
}

/* Adds key: v, or null when the image has no PCIR to read it from. */
static int add_pcir_int(json_object *o, const struct pci_rom_image *img, const char *key, int64_t v)
{
	return img->has_pcir ? json_add_int(o, key, v) : json_add_null(o, key);
}

static int image_to_json(const struct pci_rom_image *img, uint32_t vendor, uint32_t device,
			 json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	json_object *sub = NULL;
	bool x86 = img->has_pcir && img->code_type == PCI_ROM_CODE_X86;
	int r;

	if (!o)
		return -ENOMEM;
	r = json_add_int(o, "offset", (int64_t)img->offset);
	if (r >= 0)
		r = add_pcir_int(o, img, "length", (int64_t)img->length);
	if (r >= 0)
		r = add_pcir_int(o, img, "vendor_id", img->vendor_id);
	if (r >= 0)
		r = add_pcir_int(o, img, "device_id", img->device_id);
	if (r >= 0)
		r = json_add_tribool(o, "ids_match", pci_rom_image_ids_match(img, vendor, device));
	if (r >= 0)
		r = add_pcir_int(o, img, "class", img->class);
	if (r >= 0)
		r = json_add_str(o, "code_type",
				 img->has_pcir ? pci_rom_code_type_to_string(img->code_type) : NULL);
	if (r >= 0)
		r = add_pcir_int(o, img, "code_type_id", img->code_type);
	if (r >= 0)
		r = add_pcir_int(o, img, "revision", img->revision);
	if (r >= 0)
		r = add_pcir_int(o, img, "code_revision", img->code_revision);
	if (r >= 0)
		r = add_pcir_int(o, img, "pcir_offset", img->pcir_offset);
	if (r >= 0)
		r = json_add_bool(o, "last", pci_rom_image_is_last(img));
	if (r >= 0)
		r = x86 ? json_add_int(o, "init_size", (int64_t)img->init_size * PCI_ROM_UNIT)
			: json_add_null(o, "init_size");
	if (r >= 0)
		r = json_add_tribool(o, "checksum_ok",
				     img->checksum_checked ? img->checksum == 0 : -1);
	if (r >= 0) {
		if (img->has_pcir && img->revision >= 3) {
			r = json_add_int(o, "max_runtime_length",
					 (int64_t)img->max_runtime_length * PCI_ROM_UNIT);
			if (r >= 0)
				r = device_list_to_json(img, &sub);
			if (r >= 0)
				r = json_add(o, "device_list", TAKE_PTR(sub));
		} else {
			r = json_add_null(o, "max_runtime_length");
			if (r >= 0)
				r = json_add_null(o, "device_list");
		}
	}
	if (r >= 0) {
		r = img->has_efi ? efi_to_json(&img->efi, &sub) : 0;
		if (r >= 0)
			r = json_add(o, "efi", TAKE_PTR(sub));
	}
	if (r >= 0)
		r = problems_to_json(pci_rom_image_problems(img, vendor, device),
				     pci_rom_image_problem_to_string, _PCI_ROM_IMAGE_PROBLEM_COUNT, &sub);
	if (r >= 0)
		r = json_add(o, "problems", TAKE_PTR(sub));
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

/*
 * {"size": bytes, "valid": bool, "trailing": bytes after the chain,
 *  "images": [{"offset", "length", "vendor_id", "device_id", "ids_match": bool|null, "class",
 *              "code_type": "x86"|"open-firmware"|"pa-risc"|"efi"|"unknown", "code_type_id",
 *              "revision", "code_revision", "pcir_offset", "last", "init_size",
 *              "checksum_ok": bool|null, "max_runtime_length", "device_list",
 *              "efi": {...}|null, "problems": [...]}],
 *  "problems": [...]}
 * Fields read from the PCIR are null in an image that has none; sizes are in bytes.
 */
int pci_rom_to_json(const struct pci_rom *rom, uint32_t expect_vendor, uint32_t expect_device,
		    json_object **ret)
{
	_cleanup_json_ json_object *o = NULL, *images = NULL;
	json_object *sub = NULL;
	int r;

	if (!rom || !ret)
		return -EINVAL;
	o = json_object_new_object();
	images = json_object_new_array();
	if (!o || !images)
		return -ENOMEM;

	for (size_t i = 0; i < rom->n_images; i++) {
		r = image_to_json(&rom->images[i], expect_vendor, expect_device, &sub);
		if (r < 0)
			return r;
		if (json_object_array_add(images, sub) < 0) {
			(void)json_object_put(sub);
			return -ENOMEM;
		}
	}

	r = json_add_int(o, "size", (int64_t)rom->size);
	if (r >= 0)
		r = json_add_bool(o, "valid", pci_rom_valid(rom, expect_vendor, expect_device));
	if (r >= 0)
		r = json_add_int(o, "trailing", (int64_t)rom->trailing);
	if (r >= 0)
		r = json_add(o, "images", TAKE_PTR(images));
	if (r >= 0)
		r = problems_to_json(rom->problems, pci_rom_problem_to_string,
				     _PCI_ROM_PROBLEM_COUNT, &sub);
	if (r >= 0)
		r = json_add(o, "problems", TAKE_PTR(sub));
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}
