/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for the PCI expansion ROM parser (lib/pcirom): ROMs built here byte by byte, a
 * valid one (an x86 image and a last EFI image) and one for each thing the validator reports,
 * with the exact problem lists and JSON fields; then real ROMs QEMU ships (tests/fixtures/roms).
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "lib/pcirom.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "tests.h"

#define UNKNOWN PCI_ROM_ID_UNKNOWN
#define VENDOR 0x8086U
#define DEVICE 0x10d3U

/* --- building ROMs --------------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

/* Makes the bytes of [p, p + n) sum to 0 mod 256 by adjusting the last one. */
static void fix_checksum(uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i + 1 < n; i++)
		s = (uint8_t)(s + p[i]);
	p[n - 1] = (uint8_t)(0x100 - s);
}

/*
 * Writes an image of blocks × 512 bytes at p: header, PCIR at 0x1C (rev 3, no device list),
 * and for EFI the EFI header (x64 boot service driver, PE image at 0x38). x86 images get some
 * "code" and a checksum that makes them sum to 0.
 */
static void build_image(uint8_t *p, unsigned blocks, uint8_t code_type, bool last)
{
	size_t n = (size_t)blocks * PCI_ROM_UNIT;
	uint8_t *pcir = p + 0x1C;

	memset(p, 0, n);
	p[0] = 0x55;
	p[1] = 0xAA;
	put16(p + 0x18, 0x1C);
	memcpy(pcir, "PCIR", 4);
	put16(pcir + 0x04, VENDOR);
	put16(pcir + 0x06, DEVICE);
	put16(pcir + 0x08, 0);
	put16(pcir + 0x0A, 0x1C);
	pcir[0x0C] = 3;
	pcir[0x0D] = 0x00;		/* class 020000: Ethernet */
	pcir[0x0E] = 0x00;
	pcir[0x0F] = 0x02;
	put16(pcir + 0x10, (uint16_t)blocks);
	put16(pcir + 0x12, 1);
	pcir[0x14] = code_type;
	pcir[0x15] = last ? 0x80 : 0x00;
	put16(pcir + 0x16, (uint16_t)blocks);

	if (code_type == PCI_ROM_CODE_EFI) {
		put16(p + 0x02, (uint16_t)blocks);
		put32(p + 0x04, 0x0EF1);
		put16(p + 0x08, 11);
		put16(p + 0x0A, 0x8664);
		put16(p + 0x0C, 0);
		put16(p + 0x16, 0x38);
		memcpy(p + 0x38, "MZ", 2);
		return;
	}
	p[0x02] = (uint8_t)blocks;
	for (size_t i = 0x40; i < n; i += 7)
		p[i] = (uint8_t)(i * 31);
	if (code_type == PCI_ROM_CODE_X86)
		fix_checksum(p, n);
}

#define X86_BLOCKS 2U
#define EFI_BLOCKS 3U
#define VALID_SIZE ((X86_BLOCKS + EFI_BLOCKS) * PCI_ROM_UNIT)

/* The valid ROM: x86 image (1 KiB) and the last, EFI image (1.5 KiB). */
static void build_valid(uint8_t *buf)
{
	build_image(buf, X86_BLOCKS, PCI_ROM_CODE_X86, false);
	build_image(buf + X86_BLOCKS * PCI_ROM_UNIT, EFI_BLOCKS, PCI_ROM_CODE_EFI, true);
}

static struct pci_rom *parse(const uint8_t *buf, size_t size)
{
	struct pci_rom *rom = NULL;

	ASSERT_OK(pci_rom_parse(buf, size, &rom));
	ASSERT_NOT_NULL(rom);
	return rom;
}

/* The problems of the whole ROM (image == -1) or of one image, as "a,b,c". */
static const char *problems(const struct pci_rom *rom, int image, uint32_t vendor, uint32_t device)
{
	static char s[512];
	unsigned bits, n;

	if (image < 0) {
		bits = rom->problems;
		n = _PCI_ROM_PROBLEM_COUNT;
	} else {
		ASSERT_TRUE((size_t)image < rom->n_images);
		bits = pci_rom_image_problems(&rom->images[image], vendor, device);
		n = _PCI_ROM_IMAGE_PROBLEM_COUNT;
	}
	s[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		const char *name;

		if (!(bits & (1U << i)))
			continue;
		name = image < 0 ? pci_rom_problem_to_string(1U << i)
				 : pci_rom_image_problem_to_string(1U << i);
		ASSERT_NOT_NULL(name);
		if (s[0])
			strcat(s, ",");
		strcat(s, name);
	}
	return s;
}

static json_object *to_json(const struct pci_rom *rom, uint32_t vendor, uint32_t device)
{
	json_object *o = NULL;

	ASSERT_OK(pci_rom_to_json(rom, vendor, device, &o));
	ASSERT_NOT_NULL(o);
	return o;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		TEST_FAIL("no key \"%s\" in %s", key, json_object_to_json_string(o));
	return v;
}

static json_object *image_json(json_object *rom, size_t i)
{
	json_object *a = get(rom, "images");

	ASSERT_TRUE(json_object_is_type(a, json_type_array));
	ASSERT_TRUE(i < json_object_array_length(a));
	return json_object_array_get_idx(a, i);
}

static long long get_int(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	if (!json_object_is_type(v, json_type_int))
		TEST_FAIL("\"%s\" is not an integer: %s", key, json_object_to_json_string(o));
	return (long long)json_object_get_int64(v);
}

/* 1 true, 0 false, -1 null. */
static int get_tribool(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	if (!v)
		return -1;
	if (!json_object_is_type(v, json_type_boolean))
		TEST_FAIL("\"%s\" is not a boolean: %s", key, json_object_to_json_string(o));
	return json_object_get_boolean(v);
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v ? json_object_get_string(v) : NULL;
}

/* A "problems" array as "a,b,c". */
static const char *get_problems(json_object *o)
{
	static char s[512];
	json_object *a = get(o, "problems");

	ASSERT_TRUE(json_object_is_type(a, json_type_array));
	s[0] = '\0';
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		if (s[0])
			strcat(s, ",");
		strcat(s, json_object_get_string(json_object_array_get_idx(a, i)));
	}
	return s;
}

/* --- the valid ROM --------------------------------------------------------------------------- */

TEST(valid_two_images)
{
	uint8_t buf[VALID_SIZE];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	const struct pci_rom_image *x86, *efi;

	build_valid(buf);
	rom = parse(buf, sizeof(buf));

	ASSERT_EQ(rom->size, VALID_SIZE);
	ASSERT_EQ(rom->n_images, 2);
	ASSERT_EQ(rom->problems, 0);
	ASSERT_EQ(rom->end, VALID_SIZE);
	ASSERT_EQ(rom->trailing, 0);
	ASSERT_TRUE(pci_rom_valid(rom, UNKNOWN, UNKNOWN));
	ASSERT_TRUE(pci_rom_valid(rom, VENDOR, DEVICE));

	x86 = &rom->images[0];
	ASSERT_EQ(x86->offset, 0);
	ASSERT_EQ(x86->length, X86_BLOCKS * 512);
	ASSERT_EQ(x86->problems, 0);
	ASSERT_TRUE(x86->has_pcir);
	ASSERT_EQ(x86->pcir_offset, 0x1C);
	ASSERT_EQ(x86->vendor_id, VENDOR);
	ASSERT_EQ(x86->device_id, DEVICE);
	ASSERT_EQ(x86->class, 0x020000);
	ASSERT_EQ(x86->revision, 3);
	ASSERT_EQ(x86->code_type, PCI_ROM_CODE_X86);
	ASSERT_EQ(x86->init_size, X86_BLOCKS);
	ASSERT_TRUE(x86->checksum_checked);
	ASSERT_EQ(x86->checksum, 0);
	ASSERT_FALSE(pci_rom_image_is_last(x86));
	ASSERT_FALSE(x86->has_efi);

	efi = &rom->images[1];
	ASSERT_EQ(efi->offset, X86_BLOCKS * 512);
	ASSERT_EQ(efi->length, EFI_BLOCKS * 512);
	ASSERT_EQ(efi->problems, 0);
	ASSERT_EQ(efi->code_type, PCI_ROM_CODE_EFI);
	ASSERT_TRUE(pci_rom_image_is_last(efi));
	ASSERT_FALSE(efi->checksum_checked);
	ASSERT_TRUE(efi->has_efi);
	ASSERT_EQ(efi->efi.init_size, EFI_BLOCKS);
	ASSERT_EQ(efi->efi.signature, 0x0EF1);
	ASSERT_EQ(efi->efi.subsystem, 11);
	ASSERT_EQ(efi->efi.machine_type, 0x8664);
	ASSERT_EQ(efi->efi.compression_type, 0);
	ASSERT_EQ(efi->efi.image_offset, 0x38);
}

TEST(valid_json)
{
	uint8_t buf[VALID_SIZE];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_json_ json_object *o = NULL;
	json_object *img, *efi;

	build_valid(buf);
	rom = parse(buf, sizeof(buf));
	o = to_json(rom, VENDOR, DEVICE);

	ASSERT_EQ(get_int(o, "size"), VALID_SIZE);
	ASSERT_EQ(get_tribool(o, "valid"), 1);
	ASSERT_EQ(get_int(o, "trailing"), 0);
	ASSERT_STREQ(get_problems(o), "");
	ASSERT_EQ(json_object_array_length(get(o, "images")), 2);

	img = image_json(o, 0);
	ASSERT_EQ(get_int(img, "offset"), 0);
	ASSERT_EQ(get_int(img, "length"), 1024);
	ASSERT_EQ(get_int(img, "vendor_id"), 0x8086);
	ASSERT_EQ(get_int(img, "device_id"), 0x10d3);
	ASSERT_EQ(get_tribool(img, "ids_match"), 1);
	ASSERT_EQ(get_int(img, "class"), 0x020000);
	ASSERT_STREQ(get_str(img, "code_type"), "x86");
	ASSERT_EQ(get_int(img, "code_type_id"), 0);
	ASSERT_EQ(get_int(img, "revision"), 3);
	ASSERT_EQ(get_int(img, "code_revision"), 1);
	ASSERT_EQ(get_int(img, "pcir_offset"), 0x1C);
	ASSERT_EQ(get_tribool(img, "last"), 0);
	ASSERT_EQ(get_int(img, "init_size"), 1024);
	ASSERT_EQ(get_tribool(img, "checksum_ok"), 1);
	ASSERT_EQ(get_int(img, "max_runtime_length"), 1024);
	ASSERT_EQ(json_object_array_length(get(img, "device_list")), 0);
	ASSERT_NULL(get(img, "efi"));
	ASSERT_STREQ(get_problems(img), "");

	img = image_json(o, 1);
	ASSERT_EQ(get_int(img, "offset"), 1024);
	ASSERT_EQ(get_int(img, "length"), 1536);
	ASSERT_STREQ(get_str(img, "code_type"), "efi");
	ASSERT_EQ(get_int(img, "code_type_id"), 3);
	ASSERT_EQ(get_tribool(img, "last"), 1);
	ASSERT_EQ(get_tribool(img, "checksum_ok"), -1);
	ASSERT_NULL(get(img, "init_size"));
	efi = get(img, "efi");
	ASSERT_NOT_NULL(efi);
	ASSERT_EQ(get_int(efi, "init_size"), 1536);
	ASSERT_EQ(get_int(efi, "signature"), 0x0EF1);
	ASSERT_EQ(get_int(efi, "subsystem"), 11);
	ASSERT_STREQ(get_str(efi, "subsystem_name"), "boot-service-driver");
	ASSERT_EQ(get_int(efi, "machine_type"), 0x8664);
	ASSERT_STREQ(get_str(efi, "machine"), "x64");
	ASSERT_EQ(get_int(efi, "compression_type"), 0);
	ASSERT_EQ(get_tribool(efi, "compressed"), 0);
	ASSERT_EQ(get_int(efi, "image_offset"), 0x38);
	ASSERT_STREQ(get_problems(img), "");
}

TEST(expected_ids)
{
	uint8_t buf[VALID_SIZE];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_json_ json_object *unknown = NULL, *wrong_dev = NULL, *wrong_ven = NULL;
	_cleanup_json_ json_object *ven_only = NULL;

	build_valid(buf);
	rom = parse(buf, sizeof(buf));

	/* Unknown ids: nothing to compare, null. */
	unknown = to_json(rom, UNKNOWN, UNKNOWN);
	ASSERT_EQ(get_tribool(image_json(unknown, 0), "ids_match"), -1);
	ASSERT_EQ(get_tribool(unknown, "valid"), 1);

	/* A device id that is not the image's: a problem of every image, and invalid. */
	ASSERT_EQ(pci_rom_image_ids_match(&rom->images[0], VENDOR, 0x10d4), 0);
	ASSERT_STREQ(problems(rom, 0, VENDOR, 0x10d4), "ids-mismatch");
	ASSERT_STREQ(problems(rom, 1, VENDOR, 0x10d4), "ids-mismatch");
	ASSERT_FALSE(pci_rom_valid(rom, VENDOR, 0x10d4));
	wrong_dev = to_json(rom, VENDOR, 0x10d4);
	ASSERT_EQ(get_tribool(wrong_dev, "valid"), 0);
	ASSERT_EQ(get_tribool(image_json(wrong_dev, 0), "ids_match"), 0);
	ASSERT_STREQ(get_problems(image_json(wrong_dev, 0)), "ids-mismatch");
	ASSERT_STREQ(get_problems(wrong_dev), "");

	wrong_ven = to_json(rom, 0x10de, DEVICE);
	ASSERT_EQ(get_tribool(image_json(wrong_ven, 1), "ids_match"), 0);
	ASSERT_EQ(get_tribool(wrong_ven, "valid"), 0);

	/* Only the vendor known: compared alone. */
	ven_only = to_json(rom, VENDOR, UNKNOWN);
	ASSERT_EQ(get_tribool(image_json(ven_only, 0), "ids_match"), 1);
	ASSERT_EQ(pci_rom_image_ids_match(&rom->images[0], 0x10de, UNKNOWN), 0);
	ASSERT_EQ(pci_rom_image_ids_match(&rom->images[0], UNKNOWN, DEVICE), 1);
	ASSERT_EQ(pci_rom_image_ids_match(NULL, VENDOR, DEVICE), -1);
}

TEST(device_list)
{
	uint8_t buf[VALID_SIZE];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_json_ json_object *o = NULL;
	json_object *list;

	build_valid(buf);
	/* Rev 3 device list at PCIR + 0x1C: 10d4, 10d5, end. The checksum must follow. */
	put16(buf + 0x1C + 0x08, 0x1C);
	put16(buf + 0x1C + 0x1C, 0x10d4);
	put16(buf + 0x1C + 0x1E, 0x10d5);
	put16(buf + 0x1C + 0x20, 0);
	fix_checksum(buf, X86_BLOCKS * 512);
	rom = parse(buf, sizeof(buf));

	ASSERT_EQ(rom->images[0].n_device_ids, 2);
	ASSERT_EQ(rom->images[0].device_ids[0], 0x10d4);
	ASSERT_EQ(rom->images[0].device_ids[1], 0x10d5);
	ASSERT_EQ(pci_rom_image_ids_match(&rom->images[0], VENDOR, 0x10d5), 1);
	ASSERT_EQ(pci_rom_image_ids_match(&rom->images[0], VENDOR, DEVICE), 1);
	ASSERT_EQ(pci_rom_image_ids_match(&rom->images[0], VENDOR, 0x10d6), 0);
	/* The EFI image has no list: 10d5 is not for it. */
	ASSERT_STREQ(problems(rom, 1, VENDOR, 0x10d5), "ids-mismatch");
	ASSERT_TRUE(pci_rom_valid(rom, UNKNOWN, UNKNOWN));

	o = to_json(rom, UNKNOWN, UNKNOWN);
	list = get(image_json(o, 0), "device_list");
	ASSERT_EQ(json_object_array_length(list), 2);
	ASSERT_EQ(json_object_get_int(json_object_array_get_idx(list, 1)), 0x10d5);

	/* Before rev 3 the pointer is a VPD pointer: no list is read. */
	rom = pci_rom_free(rom);
	buf[0x1C + 0x0C] = 2;
	fix_checksum(buf, X86_BLOCKS * 512);
	rom = parse(buf, sizeof(buf));
	ASSERT_EQ(rom->images[0].n_device_ids, 0);
	ASSERT_EQ(rom->images[0].problems, 0);
}

TEST(device_list_invalid)
{
	uint8_t buf[VALID_SIZE];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;

	/* A list running to the end of the image with no terminator. */
	build_valid(buf);
	put16(buf + 0x1C + 0x08, 0x1C);
	for (size_t at = 0x1C + 0x1C; at < X86_BLOCKS * 512; at += 2)
		put16(buf + at, 0x1111);
	fix_checksum(buf, X86_BLOCKS * 512);
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, 0, UNKNOWN, UNKNOWN), "device-list-invalid");
	ASSERT_EQ(rom->images[0].n_device_ids, PCI_ROM_DEVICE_LIST_MAX);
	ASSERT_EQ(rom->n_images, 2);

	/* A pointer past the image. */
	rom = pci_rom_free(rom);
	build_valid(buf);
	put16(buf + 0x1C + 0x08, 0xF000);
	fix_checksum(buf, X86_BLOCKS * 512);
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, 0, UNKNOWN, UNKNOWN), "device-list-invalid");
	ASSERT_EQ(rom->images[0].n_device_ids, 0);
	ASSERT_FALSE(pci_rom_valid(rom, UNKNOWN, UNKNOWN));
}

/* --- malformed ROMs ---------------------------------------------------------------------------- */

TEST(empty)
{
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_json_ json_object *o = NULL;
	static const uint8_t one = 0x55;

	rom = parse(NULL, 0);
	ASSERT_EQ(rom->n_images, 0);
	ASSERT_STREQ(problems(rom, -1, 0, 0), "empty");
	ASSERT_FALSE(pci_rom_valid(rom, UNKNOWN, UNKNOWN));
	o = to_json(rom, UNKNOWN, UNKNOWN);
	ASSERT_EQ(get_tribool(o, "valid"), 0);
	ASSERT_EQ(json_object_array_length(get(o, "images")), 0);
	ASSERT_STREQ(get_problems(o), "empty");

	/* One byte: an image whose signature cannot even be read. */
	rom = pci_rom_free(rom);
	rom = parse(&one, 1);
	ASSERT_EQ(rom->n_images, 1);
	ASSERT_STREQ(problems(rom, 0, UNKNOWN, UNKNOWN), "bad-signature");
	ASSERT_STREQ(problems(rom, -1, 0, 0), "no-last-image");
}

TEST(bad_signature)
{
	uint8_t buf[VALID_SIZE];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_json_ json_object *o = NULL;
	json_object *img;

	build_valid(buf);
	buf[1] = 0xAB;
	rom = parse(buf, sizeof(buf));
	ASSERT_EQ(rom->n_images, 1);
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "bad-signature");
	ASSERT_STREQ(problems(rom, -1, 0, 0), "no-last-image");
	ASSERT_EQ(rom->end, 0);
	ASSERT_EQ(rom->trailing, VALID_SIZE);

	o = to_json(rom, VENDOR, DEVICE);
	img = image_json(o, 0);
	ASSERT_EQ(get_int(img, "offset"), 0);
	ASSERT_NULL(get(img, "length"));
	ASSERT_NULL(get(img, "vendor_id"));
	ASSERT_NULL(get(img, "code_type"));
	ASSERT_EQ(get_tribool(img, "ids_match"), -1);
	ASSERT_EQ(get_tribool(img, "checksum_ok"), -1);
	ASSERT_EQ(get_tribool(img, "last"), 0);
	ASSERT_STREQ(get_problems(img), "bad-signature");
	ASSERT_STREQ(get_problems(o), "no-last-image");

	/* The second image's signature broken: the first one parses, the chain stops at it. */
	rom = pci_rom_free(rom);
	build_valid(buf);
	buf[X86_BLOCKS * 512] = 0;
	rom = parse(buf, sizeof(buf));
	ASSERT_EQ(rom->n_images, 2);
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "");
	ASSERT_STREQ(problems(rom, 1, VENDOR, DEVICE), "bad-signature");
	ASSERT_EQ(rom->images[1].offset, X86_BLOCKS * 512);
	ASSERT_STREQ(problems(rom, -1, 0, 0), "no-last-image");
}

TEST(pcir_out_of_range)
{
	uint8_t buf[VALID_SIZE];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;

	/* Past the buffer: nothing can be read, the chain stops. */
	build_valid(buf);
	put16(buf + 0x18, 0xFFF0);
	rom = parse(buf, sizeof(buf));
	ASSERT_EQ(rom->n_images, 1);
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "pcir-out-of-range");
	ASSERT_FALSE(rom->images[0].has_pcir);
	ASSERT_STREQ(problems(rom, -1, 0, 0), "no-last-image");

	/* Only partly inside the buffer. */
	rom = pci_rom_free(rom);
	put16(buf + 0x18, VALID_SIZE - 0x14);
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "pcir-out-of-range");

	/* Inside the header. */
	rom = pci_rom_free(rom);
	put16(buf + 0x18, 0x04);
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "pcir-out-of-range");

	/* Inside the buffer but in the next image: read, reported, the walk goes on. */
	rom = pci_rom_free(rom);
	build_valid(buf);
	memcpy(buf + 0x400 + 0x100, buf + 0x1C, 0x1C);
	put16(buf + 0x18, 0x500);
	buf[0x400 + 0x100 + 0x15] = 0;		/* not last */
	fix_checksum(buf, X86_BLOCKS * 512);
	rom = parse(buf, sizeof(buf));
	ASSERT_EQ(rom->n_images, 2);
	ASSERT_TRUE(rom->images[0].has_pcir);
	ASSERT_EQ(rom->images[0].pcir_offset, 0x500);
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "pcir-out-of-range");
	ASSERT_STREQ(problems(rom, 1, VENDOR, DEVICE), "");
	ASSERT_EQ(rom->problems, 0);

	/* The structure length running past the image. */
	rom = pci_rom_free(rom);
	build_valid(buf);
	put16(buf + 0x1C + 0x0A, 0x3F0);
	fix_checksum(buf, X86_BLOCKS * 512);
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "pcir-out-of-range");
}

TEST(pcir_missing_misaligned_short)
{
	uint8_t buf[VALID_SIZE];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;

	build_valid(buf);
	memcpy(buf + 0x1C, "PCIX", 4);
	rom = parse(buf, sizeof(buf));
	ASSERT_EQ(rom->n_images, 1);
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "pcir-missing");
	ASSERT_FALSE(rom->images[0].has_pcir);
	ASSERT_STREQ(problems(rom, -1, 0, 0), "no-last-image");

	/* Moved to 0x1E: still found, but not on a 4-byte boundary. */
	rom = pci_rom_free(rom);
	build_valid(buf);
	memmove(buf + 0x1E, buf + 0x1C, 0x1C);
	put16(buf + 0x18, 0x1E);
	fix_checksum(buf, X86_BLOCKS * 512);
	rom = parse(buf, sizeof(buf));
	ASSERT_EQ(rom->n_images, 2);
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "pcir-misaligned");
	ASSERT_EQ(rom->images[0].vendor_id, VENDOR);

	/* A structure length below the 0x18 bytes of PCI 2.2. */
	rom = pci_rom_free(rom);
	build_valid(buf);
	put16(buf + 0x1C + 0x0A, 0x10);
	fix_checksum(buf, X86_BLOCKS * 512);
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "pcir-length-invalid");
}

TEST(zero_length)
{
	uint8_t buf[VALID_SIZE];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_json_ json_object *o = NULL;

	build_valid(buf);
	put16(buf + 0x1C + 0x10, 0);
	rom = parse(buf, sizeof(buf));
	ASSERT_EQ(rom->n_images, 1);
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "zero-length");
	ASSERT_STREQ(problems(rom, -1, 0, 0), "no-last-image");
	ASSERT_EQ(rom->end, 0);
	o = to_json(rom, VENDOR, DEVICE);
	ASSERT_EQ(get_int(image_json(o, 0), "length"), 0);
	ASSERT_EQ(get_tribool(image_json(o, 0), "checksum_ok"), -1);

	/* Zero length and the last-image flag: still no way on, but the chain has its end. */
	rom = pci_rom_free(rom);
	buf[0x1C + 0x15] = 0x80;
	rom = parse(buf, sizeof(buf));
	ASSERT_EQ(rom->n_images, 1);
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "zero-length");
	ASSERT_STREQ(problems(rom, -1, 0, 0), "trailing-data");
}

TEST(truncated)
{
	uint8_t buf[VALID_SIZE];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_json_ json_object *o = NULL;

	/* The EFI image cut short by 512 bytes. */
	build_valid(buf);
	rom = parse(buf, sizeof(buf) - 512);
	ASSERT_EQ(rom->n_images, 2);
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "");
	ASSERT_STREQ(problems(rom, 1, VENDOR, DEVICE), "truncated");
	/* It says it is the last one. */
	ASSERT_STREQ(problems(rom, -1, 0, 0), "");
	ASSERT_EQ(rom->end, sizeof(buf) - 512);
	ASSERT_FALSE(pci_rom_valid(rom, UNKNOWN, UNKNOWN));

	/* An x86 image cut short: no checksum verdict. */
	rom = pci_rom_free(rom);
	build_image(buf, 4, PCI_ROM_CODE_X86, true);
	rom = parse(buf, 3 * 512);
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "truncated");
	ASSERT_FALSE(rom->images[0].checksum_checked);
	o = to_json(rom, UNKNOWN, UNKNOWN);
	ASSERT_EQ(get_tribool(image_json(o, 0), "checksum_ok"), -1);
	ASSERT_EQ(get_int(image_json(o, 0), "length"), 2048);

	/* Shorter than the header. */
	rom = pci_rom_free(rom);
	rom = parse(buf, 0x10);
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "pcir-out-of-range,truncated");
	ASSERT_STREQ(problems(rom, -1, 0, 0), "no-last-image");
}

TEST(checksum)
{
	uint8_t buf[VALID_SIZE];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_json_ json_object *o = NULL;

	build_valid(buf);
	buf[0x300]++;
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "checksum-nonzero");
	ASSERT_EQ(rom->images[0].checksum, 1);
	ASSERT_EQ(rom->problems, 0);
	o = to_json(rom, VENDOR, DEVICE);
	ASSERT_EQ(get_tribool(image_json(o, 0), "checksum_ok"), 0);
	ASSERT_EQ(get_tribool(o, "valid"), 0);

	/* EFI images carry no byte checksum: changing one is no problem. */
	rom = pci_rom_free(rom);
	build_valid(buf);
	buf[X86_BLOCKS * 512 + 0x300]++;
	rom = parse(buf, sizeof(buf));
	ASSERT_TRUE(pci_rom_valid(rom, VENDOR, DEVICE));
}

TEST(init_size)
{
	uint8_t buf[VALID_SIZE];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;

	/* Zero. */
	build_valid(buf);
	buf[2] = 0;
	fix_checksum(buf, X86_BLOCKS * 512);
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "init-size-invalid");

	/* Larger than the image. */
	rom = pci_rom_free(rom);
	buf[2] = X86_BLOCKS + 1;
	fix_checksum(buf, X86_BLOCKS * 512);
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "init-size-invalid");

	/* Smaller: its own area must sum to 0 as well (what a legacy BIOS checks). */
	rom = pci_rom_free(rom);
	buf[2] = 1;
	fix_checksum(buf, X86_BLOCKS * 512);
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "init-checksum-nonzero");

	/* Both areas sum to 0: fine. */
	rom = pci_rom_free(rom);
	fix_checksum(buf, 512);
	fix_checksum(buf + 512, 512);
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "");
	ASSERT_EQ(rom->images[0].init_size, 1);

	/* The EFI header's 16-bit initialization size. */
	rom = pci_rom_free(rom);
	build_valid(buf);
	put16(buf + X86_BLOCKS * 512 + 2, EFI_BLOCKS + 1);
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, 1, VENDOR, DEVICE), "init-size-invalid");
}

TEST(efi_header)
{
	uint8_t buf[VALID_SIZE];
	uint8_t *efi = buf + X86_BLOCKS * 512;
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_json_ json_object *o = NULL;
	json_object *e;

	build_valid(buf);
	put32(efi + 4, 0x0EF0);
	put16(efi + 0x16, EFI_BLOCKS * 512);
	put16(efi + 0x0A, 0x1234);
	put16(efi + 0x08, 99);
	put16(efi + 0x0C, 1);
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, 1, VENDOR, DEVICE), "efi-bad-signature,efi-image-out-of-range");
	o = to_json(rom, VENDOR, DEVICE);
	e = get(image_json(o, 1), "efi");
	ASSERT_EQ(get_int(e, "signature"), 0x0EF0);
	ASSERT_NULL(get(e, "machine"));
	ASSERT_NULL(get(e, "subsystem_name"));
	ASSERT_EQ(get_int(e, "machine_type"), 0x1234);
	ASSERT_EQ(get_tribool(e, "compressed"), 1);
	ASSERT_STREQ(get_problems(image_json(o, 1)), "efi-bad-signature,efi-image-out-of-range");

	ASSERT_STREQ(pci_rom_efi_machine_to_string(0x014C), "ia32");
	ASSERT_STREQ(pci_rom_efi_machine_to_string(0xAA64), "aarch64");
	ASSERT_STREQ(pci_rom_efi_machine_to_string(0x0EBC), "ebc");
	ASSERT_STREQ(pci_rom_efi_subsystem_to_string(12), "runtime-driver");
}

TEST(code_types)
{
	uint8_t buf[512];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_json_ json_object *o = NULL;

	/* Open Firmware, a bad byte sum: no checksum applies. */
	build_image(buf, 1, PCI_ROM_CODE_OPEN_FIRMWARE, true);
	buf[0x100] = 1;
	rom = parse(buf, sizeof(buf));
	ASSERT_EQ(rom->images[0].problems, 0);
	o = to_json(rom, UNKNOWN, UNKNOWN);
	ASSERT_STREQ(get_str(image_json(o, 0), "code_type"), "open-firmware");
	ASSERT_EQ(get_tribool(image_json(o, 0), "checksum_ok"), -1);
	ASSERT_NULL(get(image_json(o, 0), "efi"));

	ASSERT_STREQ(pci_rom_code_type_to_string(0), "x86");
	ASSERT_STREQ(pci_rom_code_type_to_string(2), "pa-risc");
	ASSERT_STREQ(pci_rom_code_type_to_string(3), "efi");
	ASSERT_STREQ(pci_rom_code_type_to_string(0x70), "unknown");
	ASSERT_STREQ(pci_rom_code_type_to_string(0xFF), "unknown");
}

TEST(no_last_image)
{
	uint8_t buf[VALID_SIZE];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_json_ json_object *o = NULL;

	build_valid(buf);
	buf[X86_BLOCKS * 512 + 0x1C + 0x15] = 0;
	rom = parse(buf, sizeof(buf));
	ASSERT_EQ(rom->n_images, 2);
	ASSERT_STREQ(problems(rom, 0, VENDOR, DEVICE), "");
	ASSERT_STREQ(problems(rom, 1, VENDOR, DEVICE), "");
	ASSERT_STREQ(problems(rom, -1, 0, 0), "no-last-image");
	ASSERT_EQ(rom->end, VALID_SIZE);
	o = to_json(rom, VENDOR, DEVICE);
	ASSERT_EQ(get_tribool(o, "valid"), 0);
	ASSERT_STREQ(get_problems(o), "no-last-image");

	/* The first image alone, without its flag. */
	rom = pci_rom_free(rom);
	rom = parse(buf, X86_BLOCKS * 512);
	ASSERT_EQ(rom->n_images, 1);
	ASSERT_STREQ(problems(rom, -1, 0, 0), "no-last-image");
}

TEST(too_many_images)
{
	const size_t n = PCI_ROM_IMAGES_MAX + 4;
	_cleanup_free_ uint8_t *buf = malloc(n * 512);
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;

	ASSERT_NOT_NULL(buf);
	for (size_t i = 0; i < n; i++)
		build_image(buf + i * 512, 1, PCI_ROM_CODE_X86, i == n - 1);
	rom = parse(buf, n * 512);
	ASSERT_EQ(rom->n_images, PCI_ROM_IMAGES_MAX);
	ASSERT_STREQ(problems(rom, -1, 0, 0), "too-many-images");
	ASSERT_EQ(rom->end, PCI_ROM_IMAGES_MAX * 512);
	for (size_t i = 0; i < rom->n_images; i++)
		ASSERT_EQ(rom->images[i].problems, 0);
	ASSERT_FALSE(pci_rom_valid(rom, UNKNOWN, UNKNOWN));

	/* Exactly the cap is fine. */
	rom = pci_rom_free(rom);
	build_image(buf + (PCI_ROM_IMAGES_MAX - 1) * 512, 1, PCI_ROM_CODE_X86, true);
	rom = parse(buf, n * 512);
	ASSERT_EQ(rom->n_images, PCI_ROM_IMAGES_MAX);
	/* ... but the images after the last one are not padding. */
	ASSERT_STREQ(problems(rom, -1, 0, 0), "trailing-data");
	rom = pci_rom_free(rom);
	rom = parse(buf, PCI_ROM_IMAGES_MAX * 512);
	ASSERT_TRUE(pci_rom_valid(rom, VENDOR, DEVICE));
}

TEST(trailing_data)
{
	uint8_t buf[VALID_SIZE + 1024];
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_json_ json_object *o = NULL;

	/* Padding of 0xFF (an erased flash part) or 0x00 is no problem. */
	build_valid(buf);
	memset(buf + VALID_SIZE, 0xFF, 1024);
	rom = parse(buf, sizeof(buf));
	ASSERT_EQ(rom->problems, 0);
	ASSERT_EQ(rom->trailing, 1024);
	ASSERT_TRUE(pci_rom_valid(rom, VENDOR, DEVICE));

	rom = pci_rom_free(rom);
	memset(buf + VALID_SIZE, 0x00, 1024);
	rom = parse(buf, sizeof(buf));
	ASSERT_EQ(rom->problems, 0);

	/* Anything else is not. */
	rom = pci_rom_free(rom);
	buf[VALID_SIZE + 700] = 0x42;
	rom = parse(buf, sizeof(buf));
	ASSERT_STREQ(problems(rom, -1, 0, 0), "trailing-data");
	ASSERT_EQ(rom->n_images, 2);
	o = to_json(rom, VENDOR, DEVICE);
	ASSERT_EQ(get_int(o, "trailing"), 1024);
	ASSERT_STREQ(get_problems(o), "trailing-data");
	ASSERT_EQ(get_tribool(o, "valid"), 0);
}

TEST(arguments_and_names)
{
	struct pci_rom *rom = NULL;
	json_object *o = NULL;
	uint8_t b = 0;

	ASSERT_ERROR(pci_rom_parse(NULL, 1, &rom), EINVAL);
	ASSERT_ERROR(pci_rom_parse(&b, 1, NULL), EINVAL);
	ASSERT_ERROR(pci_rom_to_json(NULL, 0, 0, &o), EINVAL);
	ASSERT_NULL(rom);
	ASSERT_NULL(o);

	/* Every bit has a distinct name; nothing else has one. */
	for (unsigned i = 0; i < _PCI_ROM_IMAGE_PROBLEM_COUNT; i++) {
		ASSERT_NOT_NULL(pci_rom_image_problem_to_string(1U << i));
		for (unsigned j = 0; j < i; j++)
			ASSERT_FALSE(streq(pci_rom_image_problem_to_string(1U << i),
					   pci_rom_image_problem_to_string(1U << j)));
	}
	for (unsigned i = 0; i < _PCI_ROM_PROBLEM_COUNT; i++)
		ASSERT_NOT_NULL(pci_rom_problem_to_string(1U << i));
	ASSERT_NULL(pci_rom_image_problem_to_string(0));
	ASSERT_NULL(pci_rom_image_problem_to_string(3));
	ASSERT_NULL(pci_rom_image_problem_to_string(1U << _PCI_ROM_IMAGE_PROBLEM_COUNT));
	ASSERT_NULL(pci_rom_problem_to_string(1U << _PCI_ROM_PROBLEM_COUNT));
}

/* Every prefix and every single-byte corruption of the valid ROM parses (ASan watches). */
TEST(every_prefix_and_byte)
{
	uint8_t buf[VALID_SIZE];

	build_valid(buf);
	for (size_t n = 0; n <= sizeof(buf); n++) {
		_cleanup_pci_rom_ struct pci_rom *rom = NULL;
		_cleanup_json_ json_object *o = NULL;
		_cleanup_free_ uint8_t *copy = malloc(n ?: 1);

		ASSERT_NOT_NULL(copy);
		memcpy(copy, buf, n);
		rom = parse(copy, n);
		ASSERT_EQ(pci_rom_valid(rom, UNKNOWN, UNKNOWN), n == sizeof(buf));
		o = to_json(rom, VENDOR, DEVICE);
	}
	for (size_t i = 0; i < sizeof(buf); i++) {
		_cleanup_pci_rom_ struct pci_rom *rom = NULL;

		buf[i] ^= 0xFF;
		rom = parse(buf, sizeof(buf));
		ASSERT_TRUE(rom->n_images >= 1 && rom->n_images <= 2);
		buf[i] ^= 0xFF;
	}
}

/* --- real ROMs --------------------------------------------------------------------------------- */

static uint8_t *read_fixture(const char *name, size_t *ret_size)
{
	const char *top = getenv("top_srcdir");
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	size_t n = 0;

	ASSERT_TRUE(asprintf(&path, "%s/tests/fixtures/roms/%s", isempty(top) ? "." : top, name) >= 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		SKIP_TEST("%s: %s", path, strerror(errno));
	ASSERT_TRUE(fstat(fd, &st) >= 0);
	buf = malloc((size_t)st.st_size + 1);
	ASSERT_NOT_NULL(buf);
	while (n < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);

		ASSERT_TRUE(k > 0);
		n += (size_t)k;
	}
	*ret_size = n;
	return TAKE_PTR(buf);
}

TEST(real_pxe_e1000)
{
	size_t size = 0;
	_cleanup_free_ uint8_t *buf = read_fixture("pxe-e1000.rom", &size);
	_cleanup_pci_rom_ struct pci_rom *rom = parse(buf, size);
	_cleanup_json_ json_object *o = NULL;
	const struct pci_rom_image *img = &rom->images[0];

	ASSERT_EQ(size, 75264);
	ASSERT_EQ(rom->n_images, 1);
	ASSERT_EQ(rom->problems, 0);
	ASSERT_EQ(img->problems, 0);
	ASSERT_EQ(img->vendor_id, 0x8086);
	ASSERT_EQ(img->device_id, 0x100e);
	ASSERT_EQ(img->class, 0x020000);
	ASSERT_EQ(img->code_type, PCI_ROM_CODE_X86);
	ASSERT_EQ(img->revision, 3);
	ASSERT_EQ(img->length, 75264);
	ASSERT_EQ(img->init_size, 147);
	ASSERT_TRUE(img->checksum_checked);
	ASSERT_EQ(img->checksum, 0);
	ASSERT_TRUE(pci_rom_image_is_last(img));
	ASSERT_EQ(img->n_device_ids, 1);
	ASSERT_EQ(img->device_ids[0], 0x100e);
	ASSERT_TRUE(pci_rom_valid(rom, 0x8086, 0x100e));
	ASSERT_FALSE(pci_rom_valid(rom, 0x8086, 0x10d3));

	o = to_json(rom, 0x8086, 0x100e);
	ASSERT_EQ(get_tribool(o, "valid"), 1);
	ASSERT_EQ(get_tribool(image_json(o, 0), "ids_match"), 1);
	ASSERT_EQ(get_tribool(image_json(o, 0), "checksum_ok"), 1);
}

TEST(real_efi_e1000e)
{
	size_t size = 0;
	_cleanup_free_ uint8_t *buf = read_fixture("efi-e1000e.rom", &size);
	_cleanup_pci_rom_ struct pci_rom *rom = parse(buf, size);
	_cleanup_json_ json_object *o = NULL;
	json_object *efi;

	ASSERT_EQ(size, 249856);
	ASSERT_EQ(rom->n_images, 2);
	ASSERT_EQ(rom->problems, 0);
	ASSERT_TRUE(pci_rom_valid(rom, 0x8086, 0x10d3));

	ASSERT_EQ(rom->images[0].code_type, PCI_ROM_CODE_X86);
	ASSERT_EQ(rom->images[0].length, 75264);
	ASSERT_FALSE(pci_rom_image_is_last(&rom->images[0]));
	ASSERT_EQ(rom->images[1].offset, 75264);
	ASSERT_EQ(rom->images[1].code_type, PCI_ROM_CODE_EFI);
	ASSERT_EQ(rom->images[1].length, 174592);
	ASSERT_TRUE(pci_rom_image_is_last(&rom->images[1]));

	o = to_json(rom, 0x8086, 0x10d3);
	ASSERT_EQ(get_tribool(o, "valid"), 1);
	ASSERT_STREQ(get_str(image_json(o, 1), "code_type"), "efi");
	ASSERT_EQ(get_tribool(image_json(o, 1), "checksum_ok"), -1);
	efi = get(image_json(o, 1), "efi");
	ASSERT_EQ(get_int(efi, "signature"), 0x0EF1);
	ASSERT_STREQ(get_str(efi, "machine"), "x64");
	ASSERT_STREQ(get_str(efi, "subsystem_name"), "boot-service-driver");
	ASSERT_EQ(get_int(efi, "init_size"), 174592);
	ASSERT_EQ(get_int(efi, "image_offset"), 0x38);
	ASSERT_EQ(get_tribool(efi, "compressed"), 0);
}

TEST(real_vgabios)
{
	size_t size = 0;
	_cleanup_free_ uint8_t *buf = read_fixture("vgabios-stdvga.bin", &size);
	_cleanup_pci_rom_ struct pci_rom *rom = parse(buf, size);
	const struct pci_rom_image *img = &rom->images[0];

	ASSERT_EQ(rom->n_images, 1);
	ASSERT_EQ(rom->problems, 0);
	ASSERT_EQ(img->problems, 0);
	ASSERT_EQ(img->pcir_offset, 0x99dc);
	ASSERT_EQ(img->vendor_id, 0x1234);
	ASSERT_EQ(img->device_id, 0x1111);
	ASSERT_EQ(img->class, 0x030000);
	ASSERT_EQ(img->revision, 0);
	ASSERT_EQ(img->length, 39936);
	ASSERT_TRUE(pci_rom_valid(rom, 0x1234, 0x1111));
}

DEFINE_TEST_MAIN
