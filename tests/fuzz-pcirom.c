/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the PCI expansion ROM parser (daemon/pcirom): any bytes go through
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

#include "daemon/pcirom.h"
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

#define REPLAY_MAX (1024U * 1024U)	/* bytes read of one corpus file */
#define PREFIXES_MAX 4096U		/* files up to this size are also fed cut short */

static int read_all(const char *path, char **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	size_t n = 0;

	if (fd < 0)
		return -errno;
	buf = malloc(REPLAY_MAX);
	if (!buf)
		return -ENOMEM;
	while (n < REPLAY_MAX) {
		ssize_t k = read(fd, buf + n, REPLAY_MAX - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		n += (size_t)k;
	}
	*ret = TAKE_PTR(buf);
	*ret_size = n;
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The corpus files' names, sorted. */
static int list_corpus(const char *dir, char ***ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	_cleanup_strv_free_ char **names = NULL;
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return -errno;
	names = new0(char *, 1);
	if (!names)
		return -ENOMEM;
	while ((de = readdir(d))) {
		char **a;

		if (de->d_name[0] == '.')
			continue;
		a = reallocarray_safe(names, n + 2, sizeof(*a));
		if (!a)
			return -ENOMEM;
		names = a;
		names[n] = strdup(de->d_name);
		names[++n] = NULL;
		if (!names[n - 1])
			return -ENOMEM;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), compare_names);
	*ret = TAKE_PTR(names);
	*ret_n = n;
	return 0;
}

int main(int argc, char *argv[])
{
	_cleanup_strv_free_ char **names = NULL;
	_cleanup_free_ char *fallback = NULL;
	const char *dir, *top = getenv("top_srcdir");
	unsigned failed = 0;
	size_t n = 0;
	int r;

	if (argc > 2) {
		fprintf(stderr, "Usage: %s [CORPUS-DIR]\n", argv[0]);
		return 2;
	}
	if (argc == 2)
		dir = argv[1];
	else {
		if (asprintf(&fallback, "%s/tests/fuzz-pcirom-corpus", isempty(top) ? "." : top) < 0)
			return 99;
		dir = fallback;
	}

	r = list_corpus(dir, &names, &n);
	if (r < 0) {
		printf("Bail out! %s: %s\n", dir, strerror(-r));
		return 99;
	}
	if (n == 0) {
		printf("Bail out! %s: no corpus files\n", dir);
		return 99;
	}

	printf("1..%zu\n", n);
	fflush(stdout);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL, *data = NULL;
		size_t size = 0;

		if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
			return 99;
		r = read_all(path, &data, &size);
		if (r < 0) {
			printf("not ok %zu - %s # %s\n", i + 1, names[i], strerror(-r));
			failed++;
			continue;
		}
		(void)LLVMFuzzerTestOneInput((const uint8_t *)data, size);
		for (size_t cut = 0; size <= PREFIXES_MAX && cut < size; cut++)
			(void)LLVMFuzzerTestOneInput((const uint8_t *)data, cut);
		printf("ok %zu - %s\n", i + 1, names[i]);
		fflush(stdout);
	}
	return failed ? 1 : 0;
}

#endif
