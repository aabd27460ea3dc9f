/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the policy rule parser (daemon/policy): any bytes go through
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

#include "daemon/pcidev.h"
#include "daemon/policy.h"
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
		if (asprintf(&fallback, "%s/tests/fuzz-policy-corpus", isempty(top) ? "." : top) < 0)
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
