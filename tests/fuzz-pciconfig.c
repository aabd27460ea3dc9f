/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the config-space decoder (daemon/pciconfig): any bytes, as a config space of
 * that many bytes, go through pci_config_to_json(), with and without a resource text. It must
 * never crash, read past the input, leak or loop: every capability it reports lies inside the
 * bytes given, standard ones in 0x40-0xff and extended ones at 0x100 and above, each offset once.
 *
 * Built with a fuzzing engine (clang -fsanitize=fuzzer -DFUZZING_ENGINE), libFuzzer drives it;
 * built plainly, as "make check" does, it replays tests/fuzz-pciconfig-corpus.
 */
#include <string.h>

#include "daemon/pciconfig.h"
#include "lib/json-util.h"
#include "lib/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(json_object *o, size_t size)
{
	json_object *caps = NULL, *v = NULL;
	uint8_t seen[4096 / 8] = {};

	if (!json_object_object_get_ex(o, "capabilities", &caps))
		abort();
	for (size_t i = 0; i < json_object_array_length(caps); i++) {
		json_object *c = json_object_array_get_idx(caps, i);
		int64_t off;
		bool ext;

		if (!json_object_object_get_ex(c, "offset", &v))
			abort();
		off = json_object_get_int64(v);
		if (!json_object_object_get_ex(c, "extended", &v))
			abort();
		ext = json_object_get_boolean(v);
		if (off < 0x40 || (size_t)off >= size || off >= 4096 ||
		    (ext ? off < 0x100 : off > 0xff))
			abort();
		if (seen[off / 8] & (1U << (off % 8)))
			abort();	/* a loop was followed */
		seen[off / 8] |= 1U << (off % 8);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char resource[] =
		"0x00000000fe000000 0x00000000fe01ffff 0x0000000000040200\n"
		"0x000000000000e000 0x000000000000e01f 0x0000000000040101\n";
	_cleanup_free_ uint8_t *copy = NULL;

	if (size > 4096)
		return 0;
	/* An exact-size copy: a read past it is an ASan report. */
	copy = malloc(size ?: 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	for (int with_resource = 0; with_resource < 2; with_resource++) {
		_cleanup_json_ json_object *o = NULL;

		if (pci_config_to_json(copy, size, with_resource ? resource : NULL, &o) < 0)
			continue;
		check(o, size);
		(void)json_object_to_json_string(o);
	}
	return 0;
}

#ifndef FUZZING_ENGINE
#define FUZZ_CORPUS "tests/fuzz-pciconfig-corpus"
#include "fuzz-replay.h"
#endif
