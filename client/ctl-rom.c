/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcipassctl rom check: validates PCI expansion ROM files offline with the daemon's parser
 * (lib/pcirom.c), e.g. a ROM dumped from sysfs or a vendor's image before it is given to
 * a guest with romfile=. pcipassctl rom ADDRESS -o FILE: has pcipassd read a function's ROM
 * (DumpRom), saves it to FILE and prints the same verdict.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/ctl-rom.h"
#include "client/output.h"
#include "lib/pcirom.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/util.h"

const char *arg_rom_output;
bool arg_rom_check;

/* Reads a whole file of at most ROM_FILE_MAX bytes (-EFBIG when larger). */
static int read_rom_file(const char *path, uint8_t **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	return read_full_fd(fd, ROM_FILE_MAX, ret, ret_size);
}

/* "bad-signature, truncated", or "-" for none. */
static char *problems_string(unsigned problems, const char *(*to_string)(unsigned), unsigned n)
{
	_cleanup_free_ char *s = NULL;
	size_t len = 0;

	for (unsigned i = 0; i < n; i++) {
		const char *name;
		char *t;

		if (!(problems & (1U << i)))
			continue;
		name = to_string(1U << i);
		t = realloc(s, len + strlen(name) + 3);
		if (!t)
			return NULL;
		s = t;
		len += (size_t)sprintf(s + len, "%s%s", len > 0 ? ", " : "", name);
	}
	return TAKE_PTR(s) ?: strdup("-");
}

/* The table of images and the verdict line; the expected ids may be PCI_ROM_ID_UNKNOWN. */
static int print_human(const char *path, const struct pci_rom *rom, bool valid, uint32_t vendor,
		       uint32_t device)
{
	static const char *const columns[] = {
		"IMAGE", "OFFSET", "TYPE", "ID", "CLASS", "LENGTH", "LAST", "CHECKSUM", "PROBLEMS",
	};
	_cleanup_(table_freep) struct table *t = table_new(columns, ELEMENTSOF(columns));
	_cleanup_free_ char *rom_problems = NULL;

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < rom->n_images; i++) {
		const struct pci_rom_image *img = &rom->images[i];
		char idx[DECIMAL_STR_MAX(size_t)], offset[2 + 2 * sizeof(size_t) + 1];
		char type[64] = "-", id[16] = "-", class[8] = "-", length[DECIMAL_STR_MAX(size_t)] = "-";
		_cleanup_free_ char *problems = problems_string(
			pci_rom_image_problems(img, vendor, device), pci_rom_image_problem_to_string,
			_PCI_ROM_IMAGE_PROBLEM_COUNT);
		const char *checksum = "n/a";
		int r;

		if (!problems)
			return -ENOMEM;
		(void)snprintf(idx, sizeof(idx), "%zu", i);
		(void)snprintf(offset, sizeof(offset), "0x%zx", img->offset);
		if (img->has_pcir) {
			const char *machine = img->has_efi ?
				pci_rom_efi_machine_to_string(img->efi.machine_type) : NULL;

			if (img->has_efi && machine)
				(void)snprintf(type, sizeof(type), "efi/%s", machine);
			else if (img->has_efi)
				(void)snprintf(type, sizeof(type), "efi/0x%04x", img->efi.machine_type);
			else
				(void)snprintf(type, sizeof(type), "%s",
					       pci_rom_code_type_to_string(img->code_type));
			(void)snprintf(id, sizeof(id), "%04x:%04x", img->vendor_id, img->device_id);
			(void)snprintf(class, sizeof(class), "%06" PRIx32, img->class);
			(void)snprintf(length, sizeof(length), "%zu", img->length);
		}
		if (img->checksum_checked)
			checksum = img->checksum == 0 ? "ok" : "BAD";
		r = table_add_row(t, (const char *const[]) {
			idx, offset, type, id, class, length,
			pci_rom_image_is_last(img) ? "yes" : "no",
			checksum, problems,
		});
		if (r < 0)
			return r;
	}
	if (rom->n_images > 0 && table_print(t, true) < 0)
		return -EIO;

	rom_problems = problems_string(rom->problems, pci_rom_problem_to_string,
				       _PCI_ROM_PROBLEM_COUNT);
	if (!rom_problems)
		return -ENOMEM;
	printf("%s: %s, %zu bytes, %zu image%s", path, valid ? "valid" : "INVALID", rom->size,
	       rom->n_images, rom->n_images == 1 ? "" : "s");
	if (rom->trailing > 0)
		printf(", %zu bytes after the images", rom->trailing);
	if (rom->problems)
		printf("; ROM problems: %s", rom_problems);
	printf("\n");
	return 0;
}

int rom_check_file(const char *path, bool json, bool pretty)
{
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t size = 0;
	bool valid;
	int r;

	r = read_rom_file(path, &buf, &size);
	if (r == -EFBIG) {
		fprintf(stderr, "pcipassctl: %s: larger than %u MiB, not a PCI option ROM\n", path,
			ROM_FILE_MAX / (1024U * 1024U));
		return CTL_EXIT_FAILURE;
	}
	if (r < 0) {
		fprintf(stderr, "pcipassctl: cannot read %s: %s\n", path, strerror(-r));
		return CTL_EXIT_FAILURE;
	}
	r = pci_rom_parse(buf, size, &rom);
	if (r < 0) {
		fprintf(stderr, "pcipassctl: cannot parse %s: %s\n", path, strerror(-r));
		return CTL_EXIT_FAILURE;
	}
	valid = pci_rom_valid(rom, PCI_ROM_ID_UNKNOWN, PCI_ROM_ID_UNKNOWN);

	if (json) {
		_cleanup_json_ json_object *o = NULL;

		r = pci_rom_to_json(rom, PCI_ROM_ID_UNKNOWN, PCI_ROM_ID_UNKNOWN, &o);
		if (r >= 0)
			r = json_add_str(o, "path", path);
		if (r >= 0)
			r = json_print(o, pretty);
	} else
		r = print_human(path, rom, valid, PCI_ROM_ID_UNKNOWN, PCI_ROM_ID_UNKNOWN);
	if (r < 0) {
		fprintf(stderr, "pcipassctl: cannot print the verdict on %s: %s\n", path, strerror(-r));
		return CTL_EXIT_FAILURE;
	}
	return valid ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
}

/*
 * Writes the n bytes at p to path. A regular file, or a new one, is written as a whole: into a
 * new temporary file next to it, synced, then renamed over path, so a failure leaves path as it
 * was (never a partial ROM). Anything else that exists at path -- a device such as /dev/null or
 * /dev/stdout, a FIFO, a symlink -- is opened and written in place: renaming over it would
 * replace a device node (we run as root) or the link instead of what it names.
 */
static int write_file_replace(const char *path, const void *p, size_t n)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	int r;

	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ftruncate(fd, 0) < 0)
			return -errno;
		r = write_all(fd, p, n);
		return r < 0 ? r : close(TAKE_FD(fd)) < 0 ? -errno : 0;
	}
	/* A saved ROM is an ordinary file, as O_CREAT would make it. */
	return write_file_atomic(path, p, n, 0666, true);
}

/* The ROM of the reply, decoded; -EBADMSG when the reply is not what DumpRom promises. */
static int reply_rom(json_object *reply, uint8_t **ret, size_t *ret_size)
{
	json_object *data = json_get(reply, "data");
	_cleanup_free_ uint8_t *buf = NULL;
	size_t size = 0;
	int r;

	if (!json_object_is_type(data, json_type_string) ||
	    !json_object_is_type(json_get(reply, "validation"), json_type_object) ||
	    json_get_bool(json_get(reply, "validation"), "valid") < 0)
		return -EBADMSG;
	r = base64_decode(json_object_get_string(data), (size_t)json_object_get_string_len(data),
			  &buf, &size);
	if (r == -EINVAL)
		return -EBADMSG;
	if (r < 0)
		return r;
	if ((long long)size != json_get_int(reply, "size"))
		return -EBADMSG;
	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

/*
 * rom ADDRESS -o FILE: DumpRom, then FILE, then the verdict as rom check prints it (for this
 * function's ids). An invalid ROM is saved all the same, and fails.
 */
static int rom_dump(struct ctl *c, const char *address, const char *path)
{
	_cleanup_json_ json_object *p = json_object_new_object(), *reply = NULL;
	_cleanup_pci_rom_ struct pci_rom *rom = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	json_object *validation;
	size_t size = 0;
	bool valid;
	int r;

	if (!p || json_add_str(p, "address", address) < 0 ||
	    (c->force && json_add_bool(p, "force", true) < 0))
		return CTL_EXIT_FAILURE;
	if (ctl_call(c, "io.pcipass.DumpRom", p, &reply) < 0)
		return CTL_EXIT_FAILURE;
	r = reply_rom(reply, &buf, &size);
	if (r == -EBADMSG) {
		fprintf(stderr, "pcipassctl: pcipassd's DumpRom reply is malformed (data, size or "
				"validation)\n");
		return CTL_EXIT_FAILURE;
	}
	if (r < 0) {
		fprintf(stderr, "pcipassctl: cannot decode the ROM of %s: %s\n", address, strerror(-r));
		return CTL_EXIT_FAILURE;
	}
	r = write_file_replace(path, buf, size);
	if (r < 0) {
		fprintf(stderr, "pcipassctl: cannot save the ROM of %s to %s: %s\n", address, path,
			strerror(-r));
		return CTL_EXIT_FAILURE;
	}
	/* The daemon's verdict decides; the table is drawn from the same bytes and ids. */
	validation = json_get(reply, "validation");
	valid = json_get_bool(validation, "valid") == 1;
	if (c->json) {
		r = json_add_str(validation, "address", address);
		if (r >= 0)
			r = json_add_str(validation, "path", path);
		if (r >= 0)
			r = json_add_bool(validation, "shadow", json_get_bool(reply, "shadow") == 1);
		if (r >= 0)
			r = json_print(validation, c->pretty);
	} else {
		r = pci_rom_parse(buf, size, &rom);
		/* Absent ids read -1: PCI_ROM_ID_UNKNOWN. */
		if (r >= 0)
			r = print_human(path, rom, valid,
					(uint32_t)json_get_int(reply, "vendor_id"),
					(uint32_t)json_get_int(reply, "device_id"));
	}
	if (r < 0) {
		fprintf(stderr, "pcipassctl: cannot print the verdict on %s: %s\n", path, strerror(-r));
		return CTL_EXIT_FAILURE;
	}
	if (json_get_bool(reply, "shadow") == 1)
		fprintf(stderr, "pcipassctl: warning: the kernel read %s's ROM from the legacy shadow at "
			"0xC0000: the firmware's initialized copy of the boot VGA BIOS, not this "
			"function's own ROM; do not use it as a romfile for passthrough\n", address);
	if (!valid) {
		fprintf(stderr, "pcipassctl: the option ROM of %s is not valid; saved to %s all the same\n",
			address, path);
		return CTL_EXIT_FAILURE;
	}
	return CTL_EXIT_OK;
}

int verb_rom(struct ctl *c, int argc, char *argv[])
{
	int ret = CTL_EXIT_OK;

	if (arg_rom_check) {
		/* rom --check FILE…, and rom --check check FILE… too. */
		if (argc >= 1 && streq(argv[0], "check"))
			argc--, argv++;
		if (arg_rom_output)
			return ctl_usage_error("-o/--output is for 'rom ADDRESS', not 'rom --check'");
		for (int i = 0; i < argc; i++)
			if (rom_check_file(argv[i], c->json, c->pretty) != CTL_EXIT_OK)
				ret = CTL_EXIT_FAILURE;
		return argc > 0 ? ret : ctl_usage_error("rom --check needs a FILE");
	}
	if (argc >= 1 && pci_addr_is_valid(argv[0])) {
		if (argc > 1)
			return ctl_usage_error("too many arguments for 'rom ADDRESS'");
		if (!arg_rom_output)
			return ctl_usage_error("rom ADDRESS needs -o FILE, where the ROM is saved");
		return rom_dump(c, argv[0], arg_rom_output);
	}
	if (argc < 1 || !(streq(argv[0], "check") || streq(argv[0], "--check"))) {
		if (argc > 0 && strchr(argv[0], ':'))
			return ctl_usage_error("'%s' is not a PCI address (DDDD:BB:DD.F)", argv[0]);
		return ctl_usage_error("unknown rom command '%s' (known: check FILE…, ADDRESS -o FILE)",
				       argc > 0 ? argv[0] : "");
	}
	if (arg_rom_output)
		return ctl_usage_error("-o/--output is for 'rom ADDRESS', not 'rom check'");
	if (argc < 2)
		return ctl_usage_error("rom check needs a FILE");
	for (int i = 1; i < argc; i++)
		if (rom_check_file(argv[i], c->json, c->pretty) != CTL_EXIT_OK)
			ret = CTL_EXIT_FAILURE;
	return ret;
}
