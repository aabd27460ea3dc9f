/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the policy rule parser (lib/policy): any bytes go through
 * policy_rule_parse(), and whatever it accepts through the matcher. It must never crash, read
 * past the input, leak, or break its contract (an error names a line of the input, a rule has
 * what its target needs).
 *
 * Built with a fuzzing engine (clang -fsanitize=fuzzer -DFUZZING_ENGINE), libFuzzer drives it.
 * Built plainly, as "make check" does, main() below replays a corpus instead: every file of
 * the directory given (default: $top_srcdir/tests/fuzz-policy-corpus), whole and, for small
 * files, cut at every length, one TAP line per file.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>

#include "lib/pci.h"
#include "lib/policy.h"
#include "lib/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char drv_ixgbevf[] = "ixgbevf", pf_addr[] = "0000:3b:00.0";

/* Functions of every kind the matcher tells apart: bound and not, PF, VF, neither. */
static const struct pcidev devices[] = {
	{
		.address = "0000:65:00.0", .vendor = 0x10de, .device = 0x2204,
		.subsystem_vendor = 0x1043, .subsystem_device = 0x87c1, .class = 0x030000,
		.iommu_group = 12, .numa_node = 0, .sriov_numvfs = -1, .sriov_totalvfs = -1,
	},
	{
		.address = "0000:3b:00.0", .vendor = 0x8086, .device = 0x10fb,
		.subsystem_vendor = -1, .subsystem_device = -1, .class = 0x020000,
		.iommu_group = -1, .numa_node = -1, .sriov_numvfs = 2, .sriov_totalvfs = 64,
	},
	{
		.address = "0000:3b:10.0", .vendor = 0x8086, .device = 0x10ed,
		.subsystem_vendor = 0x8086, .subsystem_device = 0x000c, .class = 0x020000,
		.driver = drv_ixgbevf, .iommu_group = 80, .numa_node = 1, .physfn = pf_addr,
		.sriov_numvfs = -1, .sriov_totalvfs = -1,
	},
	{
		.address = "10000:00:1f.7", .vendor = 0xffff, .device = 0,
		.subsystem_vendor = 0, .subsystem_device = 0, .class = 0xffffff,
		.iommu_group = 0, .numa_node = 7, .sriov_numvfs = 0, .sriov_totalvfs = 0,
	},
};

static unsigned count_lines(const char *text, size_t size)
{
	unsigned n = 1;

	for (size_t i = 0; i < size; i++)
		if (text[i] == '\n')
			n++;
	return n;
}

static void check_rule(struct policy_rule *r, unsigned lines)
{
	bool passthrough = r->target == POLICY_TARGET_VFIO || r->target == POLICY_TARGET_UIO;
	bool any_match = r->addresses || r->n_ids || r->n_subsystem_ids || r->n_classes ||
			 r->drivers || r->n_groups || r->n_numa_nodes || r->sriov || r->vf_of;
	struct policy p = { .rules = &r, .n_rules = 1 };

	if (!r->name || !r->path || r->line == 0 || r->line > lines || !any_match)
		abort();
	if (!policy_target_to_string(r->target) || !policy_apply_to_string(r->apply) ||
	    !policy_group_to_string(r->group))
		abort();
	if (passthrough != (r->driver != NULL) || (r->pool && !passthrough))
		abort();
	if (r->pinned && !r->addresses)
		abort();
	if (r->vf_of && (r->sriov & ~POLICY_SRIOV_VF))
		abort();
	for (size_t i = 0; i < ELEMENTSOF(devices); i++)
		if ((policy_match(&p, &devices[i]) != NULL) != policy_rule_matches(r, &devices[i]))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_error err = {};
	struct policy_rule *rule = NULL;
	char *text;
	int r;

	/* Exactly size bytes, no NUL after them: a read past the end is an ASan report. */
	text = malloc(size ?: 1);
	if (!text)
		return 0;
	if (size > 0)
		memcpy(text, data, size);

	r = policy_rule_parse("fuzz.policy", "policy.d/fuzz.policy", text, size, &rule, &err);
	if (r >= 0) {
		if (!rule || err.file || err.reason)
			abort();
		check_rule(rule, count_lines(text, size));
		policy_rule_free(rule);
	} else {
		char *msg;

		if (r != -EINVAL || rule)
			abort();
		if (!err.file || !err.reason || err.line > count_lines(text, size))
			abort();
		msg = policy_error_format(&err);
		if (!msg)
			abort();
		free(msg);
	}
	policy_error_done(&err);
	free(text);
	return 0;
}

#ifndef FUZZING_ENGINE
#define FUZZ_CORPUS "tests/fuzz-policy-corpus"
#include "fuzz-replay.h"
#endif
