/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for the policy (lib/policy): the rule parser with every [Match] and [Assign]
 * key and every error it reports (exact "file:line: reason" text), the drop-in directories
 * (order, override, masking), the matcher on hand-built devices, pcipassd.conf, and the
 * examples shipped in conf/, so that they can never rot.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "lib/pci.h"
#include "lib/policy.h"
#include "lib/macro.h"
#include "tests.h"

/* --- parsing helpers ----------------------------------------------------------------------- */

#define NAME "50-test.policy"
#define PATH "policy.d/50-test.policy"

#define MATCH_ANY	"[Match]\nId=10de:*\n"
#define ASSIGN_VFIO	"[Assign]\nDriver=vfio-pci\n"

/* Parses text that must be a valid rule. */
static struct policy_rule *parse_ok(const char *text)
{
	struct policy_error err = {};
	struct policy_rule *r = NULL;

	if (policy_rule_parse(NAME, PATH, text, strlen(text), &r, &err) < 0) {
		_cleanup_free_ char *s = policy_error_format(&err);

		TEST_FAIL("unexpected error: %s\n%s", s, text);
	}
	ASSERT_NOT_NULL(r);
	ASSERT_NULL(err.file);
	ASSERT_NULL(err.reason);
	return r;
}

/* Parses text (size bytes) that must be rejected; returns the message. *ret is never written. */
static char *parse_error(const char *text, size_t size)
{
	struct policy_rule sentinel = {}, *r = &sentinel;
	struct policy_error err = {};
	char *s;

	ASSERT_ERROR(policy_rule_parse(NAME, PATH, text, size, &r, &err), EINVAL);
	ASSERT_TRUE(r == &sentinel);
	ASSERT_STREQ(err.file, PATH);
	ASSERT_NOT_NULL(err.reason);
	s = policy_error_format(&err);
	ASSERT_NOT_NULL(s);
	policy_error_done(&err);
	ASSERT_NULL(err.file);
	ASSERT_NULL(err.reason);
	ASSERT_EQ(err.line, 0);
	return s;
}

#define ASSERT_PARSE_ERROR(text, expected)					\
	do {									\
		_cleanup_free_ char *_m = parse_error((text), strlen(text));	\
		ASSERT_STREQ(_m, (expected));					\
	} while (0)

/* "[Match]\n" match "\n[Assign]\nDriver=vfio-pci\n": a rule with the given match keys. */
static struct policy_rule *rule_matching(const char *match)
{
	_cleanup_free_ char *text = NULL;

	ASSERT_TRUE(asprintf(&text, "[Match]\n%s\n" ASSIGN_VFIO, match) > 0);
	return parse_ok(text);
}

/* A rule whose [Assign] section is the given text. */
static struct policy_rule *rule_assigning(const char *assign)
{
	_cleanup_free_ char *text = NULL;

	ASSERT_TRUE(asprintf(&text, MATCH_ANY "[Assign]\n%s\n", assign) > 0);
	return parse_ok(text);
}

/* --- [Match] ------------------------------------------------------------------------------- */

TEST(match_address)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	/* Full, short (lspci's BB:DD.F, domain 0000), uppercase, globs, a long domain. */
	r = rule_matching("Address=0000:65:00.0 65:00.* 0000:0A:1F.7 0000:6[0-9]:00.? "
			  "0000:[!0]?:*.[0-3] 10000:01:00.0");
	ASSERT_EQ(strv_length(r->addresses), 6);
	ASSERT_STREQ(r->addresses[0], "0000:65:00.0");
	ASSERT_STREQ(r->addresses[1], "0000:65:00.*");
	ASSERT_STREQ(r->addresses[2], "0000:0a:1f.7");
	ASSERT_STREQ(r->addresses[3], "0000:6[0-9]:00.?");
	ASSERT_STREQ(r->addresses[4], "0000:[!0]?:*.[0-3]");
	ASSERT_STREQ(r->addresses[5], "10000:01:00.0");
	/* Nothing else is set by a match key. */
	ASSERT_NULL(r->ids);
	ASSERT_EQ(r->n_ids, 0);
	ASSERT_NULL(r->subsystem_ids);
	ASSERT_NULL(r->classes);
	ASSERT_NULL(r->drivers);
	ASSERT_NULL(r->groups);
	ASSERT_NULL(r->numa_nodes);
	ASSERT_EQ(r->sriov, 0);
	ASSERT_NULL(r->vf_of);
	r = policy_rule_free(r);

	/* Tabs separate values too; a glob of the whole bus. */
	r = rule_matching("Address=\t0000:00:02.0\t\t3b:*   ");
	ASSERT_EQ(strv_length(r->addresses), 2);
	ASSERT_STREQ(r->addresses[0], "0000:00:02.0");
	ASSERT_STREQ(r->addresses[1], "0000:3b:*");
}

TEST(match_id)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = rule_matching("Id=10de:2204 10DE:* 0x8086:0x1521 1:0 ffff:FFFF");
	ASSERT_EQ(r->n_ids, 5);
	ASSERT_EQ(r->ids[0].vendor, 0x10de);
	ASSERT_EQ(r->ids[0].device, 0x2204);
	ASSERT_EQ(r->ids[1].vendor, 0x10de);
	ASSERT_EQ(r->ids[1].device, -1);
	ASSERT_EQ(r->ids[2].vendor, 0x8086);
	ASSERT_EQ(r->ids[2].device, 0x1521);
	ASSERT_EQ(r->ids[3].vendor, 1);
	ASSERT_EQ(r->ids[3].device, 0);
	ASSERT_EQ(r->ids[4].vendor, 0xffff);
	ASSERT_EQ(r->ids[4].device, 0xffff);
	ASSERT_EQ(r->n_subsystem_ids, 0);
	ASSERT_NULL(r->addresses);
}

TEST(match_subsystem_id)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = rule_matching("SubsystemId=1043:87c1 15B3:*");
	ASSERT_EQ(r->n_subsystem_ids, 2);
	ASSERT_EQ(r->subsystem_ids[0].vendor, 0x1043);
	ASSERT_EQ(r->subsystem_ids[0].device, 0x87c1);
	ASSERT_EQ(r->subsystem_ids[1].vendor, 0x15b3);
	ASSERT_EQ(r->subsystem_ids[1].device, -1);
	ASSERT_EQ(r->n_ids, 0);
}

TEST(match_class)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	/*
	 * 4 digits: class and subclass, any programming interface; 6 digits: exact; a mask (over
	 * the 24-bit class) replaces either, and the value is stored masked.
	 */
	r = rule_matching("Class=0x0300 030000 0x020000/0xff0000 0x0C0330/ff0000 0x0c03/0xffff00 "
			  "0x010802/0xffff");
	ASSERT_EQ(r->n_classes, 6);
	ASSERT_EQ(r->classes[0].value, 0x030000);
	ASSERT_EQ(r->classes[0].mask, 0xffff00);
	ASSERT_EQ(r->classes[1].value, 0x030000);
	ASSERT_EQ(r->classes[1].mask, 0xffffff);
	ASSERT_EQ(r->classes[2].value, 0x020000);
	ASSERT_EQ(r->classes[2].mask, 0xff0000);
	ASSERT_EQ(r->classes[3].value, 0x0c0000);
	ASSERT_EQ(r->classes[3].mask, 0xff0000);
	ASSERT_EQ(r->classes[4].value, 0x0c0300);
	ASSERT_EQ(r->classes[4].mask, 0xffff00);
	ASSERT_EQ(r->classes[5].value, 0x000802);
	ASSERT_EQ(r->classes[5].mask, 0x00ffff);
}

TEST(match_driver)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = rule_matching("Driver=nvidia none snd_hda_intel vfio-pci");
	ASSERT_EQ(strv_length(r->drivers), 4);
	ASSERT_STREQ(r->drivers[0], "nvidia");
	ASSERT_STREQ(r->drivers[1], "none");
	ASSERT_STREQ(r->drivers[2], "snd_hda_intel");
	ASSERT_STREQ(r->drivers[3], "vfio-pci");
	/* The [Match] Driver= is not the [Assign] one. */
	ASSERT_EQ(r->target, POLICY_TARGET_VFIO);
	ASSERT_STREQ(r->driver, "vfio-pci");
}

TEST(match_iommu_group)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = rule_matching("IommuGroup=0 12 4294967295");
	ASSERT_EQ(r->n_groups, 3);
	ASSERT_EQ(r->groups[0], 0);
	ASSERT_EQ(r->groups[1], 12);
	ASSERT_EQ(r->groups[2], UINT32_MAX);
}

TEST(match_numa_node)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = rule_matching("NumaNode=0 1 -1");
	ASSERT_EQ(r->n_numa_nodes, 3);
	ASSERT_EQ(r->numa_nodes[0], 0);
	ASSERT_EQ(r->numa_nodes[1], 1);
	ASSERT_EQ(r->numa_nodes[2], -1);
}

TEST(match_sriov)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = rule_matching("Sriov=pf");
	ASSERT_EQ(r->sriov, POLICY_SRIOV_PF);
	r = policy_rule_free(r);
	r = rule_matching("Sriov=vf");
	ASSERT_EQ(r->sriov, POLICY_SRIOV_VF);
	r = policy_rule_free(r);
	r = rule_matching("Sriov=none");
	ASSERT_EQ(r->sriov, POLICY_SRIOV_NONE);
	r = policy_rule_free(r);
	r = rule_matching("Sriov=pf none");
	ASSERT_EQ(r->sriov, POLICY_SRIOV_PF | POLICY_SRIOV_NONE);
	r = policy_rule_free(r);
	r = rule_matching("Sriov=vf vf");
	ASSERT_EQ(r->sriov, POLICY_SRIOV_VF);
}

TEST(match_virtual_function_of)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = rule_matching("VirtualFunctionOf=0000:3b:00.0 3B:00.1 0000:5e:00.*");
	ASSERT_EQ(strv_length(r->vf_of), 3);
	ASSERT_STREQ(r->vf_of[0], "0000:3b:00.0");
	ASSERT_STREQ(r->vf_of[1], "0000:3b:00.1");
	ASSERT_STREQ(r->vf_of[2], "0000:5e:00.*");
	ASSERT_EQ(r->sriov, 0);
	r = policy_rule_free(r);

	/* With Sriov=vf, which says the same. */
	r = rule_matching("VirtualFunctionOf=0000:3b:00.0\nSriov=vf");
	ASSERT_EQ(strv_length(r->vf_of), 1);
	ASSERT_EQ(r->sriov, POLICY_SRIOV_VF);
}

TEST(match_all_keys)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = parse_ok("[Match]\n"
		     "Address=0000:65:00.*\n"
		     "Id=10de:2204\n"
		     "SubsystemId=1043:*\n"
		     "Class=0x0300\n"
		     "Driver=nouveau none\n"
		     "IommuGroup=12\n"
		     "NumaNode=0\n"
		     "Sriov=vf\n"
		     "VirtualFunctionOf=0000:65:00.0\n"
		     ASSIGN_VFIO);
	ASSERT_EQ(strv_length(r->addresses), 1);
	ASSERT_EQ(r->n_ids, 1);
	ASSERT_EQ(r->n_subsystem_ids, 1);
	ASSERT_EQ(r->n_classes, 1);
	ASSERT_EQ(strv_length(r->drivers), 2);
	ASSERT_EQ(r->n_groups, 1);
	ASSERT_EQ(r->n_numa_nodes, 1);
	ASSERT_EQ(r->sriov, POLICY_SRIOV_VF);
	ASSERT_EQ(strv_length(r->vf_of), 1);
	ASSERT_EQ(r->line, 1);
}

/* --- [Assign] ------------------------------------------------------------------------------ */

TEST(assign_defaults)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = parse_ok("# a comment first\n\n" MATCH_ANY ASSIGN_VFIO);
	ASSERT_STREQ(r->name, NAME);
	ASSERT_STREQ(r->path, PATH);
	ASSERT_EQ(r->line, 3);			/* of [Match] */
	ASSERT_EQ(r->target, POLICY_TARGET_VFIO);
	ASSERT_STREQ(r->driver, "vfio-pci");
	ASSERT_EQ(r->apply, POLICY_APPLY_BOOT);
	ASSERT_EQ(r->group, POLICY_GROUP_VIABLE);
	ASSERT_NULL(r->pool);
	ASSERT_FALSE(r->pinned);
	ASSERT_FALSE(r->force);
	ASSERT_NULL(r->description);
}

TEST(assign_driver)
{
	static const struct {
		const char *value;
		enum policy_target target;
		const char *driver;
	} table[] = {
		{ "vfio-pci", POLICY_TARGET_VFIO, "vfio-pci" },
		{ "mlx5_vfio_pci", POLICY_TARGET_VFIO, "mlx5_vfio_pci" },
		{ "hisi_acc_vfio_pci", POLICY_TARGET_VFIO, "hisi_acc_vfio_pci" },
		{ "xe-vfio-pci", POLICY_TARGET_VFIO, "xe-vfio-pci" },
		{ "uio_pci_generic", POLICY_TARGET_UIO, "uio_pci_generic" },
		{ "igb_uio", POLICY_TARGET_UIO, "igb_uio" },
		{ "host", POLICY_TARGET_HOST, NULL },
		{ "deny", POLICY_TARGET_DENY, NULL },
	};

	for (size_t i = 0; i < ELEMENTSOF(table); i++) {
		_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;
		_cleanup_free_ char *line = NULL;

		ASSERT_TRUE(asprintf(&line, "Driver=%s", table[i].value) > 0);
		r = rule_assigning(line);
		ASSERT_EQ(r->target, table[i].target);
		ASSERT_STREQ(r->driver, table[i].driver);
	}

	/* Only these names, exactly: containing "vfio" is not enough. */
	static const char *const refused[] = { "myvfio", "vfio", "vfio_pci", "_vfio_pci", "-vfio-pci",
					       "vfio-pci2", "uio", "nouveau" };
	for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
		_cleanup_free_ char *text = NULL, *expected = NULL;

		ASSERT_TRUE(asprintf(&text, "[Match]\nAddress=65:00.0\n[Assign]\nDriver=%s\n",
				     refused[i]) > 0);
		ASSERT_TRUE(asprintf(&expected, PATH ":4: Driver=%s: expected vfio-pci, a vfio variant "
				     "driver (e.g. mlx5_vfio_pci), uio_pci_generic, igb_uio, host or "
				     "deny", refused[i]) > 0);
		ASSERT_PARSE_ERROR(text, expected);
		ASSERT_ERROR(passthrough_driver_target(refused[i]), EINVAL);
	}
	ASSERT_ERROR(passthrough_driver_target("vfio-pci/../uio_pci_generic"), EINVAL);
	ASSERT_ERROR(passthrough_driver_target("vfio-pci\n"), EINVAL);
	ASSERT_ERROR(passthrough_driver_target(NULL), EINVAL);

	ASSERT_STREQ(policy_target_to_string(POLICY_TARGET_VFIO), "vfio");
	ASSERT_STREQ(policy_target_to_string(POLICY_TARGET_UIO), "uio");
	ASSERT_STREQ(policy_target_to_string(POLICY_TARGET_HOST), "host");
	ASSERT_STREQ(policy_target_to_string(POLICY_TARGET_DENY), "deny");
	ASSERT_NULL(policy_target_to_string((enum policy_target)4));
	ASSERT_NULL(policy_target_to_string((enum policy_target)-1));
}

TEST(assign_apply)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = rule_assigning("Driver=vfio-pci\nApply=request");
	ASSERT_EQ(r->apply, POLICY_APPLY_REQUEST);
	r = policy_rule_free(r);
	r = rule_assigning("Apply=boot\nDriver=vfio-pci");
	ASSERT_EQ(r->apply, POLICY_APPLY_BOOT);
	/* host may be applied on request too (give a function back when asked). */
	r = policy_rule_free(r);
	r = rule_assigning("Driver=host\nApply=request");
	ASSERT_EQ(r->apply, POLICY_APPLY_REQUEST);

	ASSERT_STREQ(policy_apply_to_string(POLICY_APPLY_BOOT), "boot");
	ASSERT_STREQ(policy_apply_to_string(POLICY_APPLY_REQUEST), "request");
	ASSERT_NULL(policy_apply_to_string((enum policy_apply)2));
}

TEST(assign_group)
{
	static const struct {
		const char *value;
		enum policy_group group;
	} table[] = {
		{ "claim", POLICY_GROUP_CLAIM },
		{ "viable", POLICY_GROUP_VIABLE },
		{ "any", POLICY_GROUP_ANY },
	};

	for (size_t i = 0; i < ELEMENTSOF(table); i++) {
		_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;
		_cleanup_free_ char *text = NULL;

		ASSERT_TRUE(asprintf(&text, "Driver=vfio-pci\nGroup=%s", table[i].value) > 0);
		r = rule_assigning(text);
		ASSERT_EQ(r->group, table[i].group);
		ASSERT_STREQ(policy_group_to_string(table[i].group), table[i].value);
	}
	ASSERT_NULL(policy_group_to_string((enum policy_group)3));
}

TEST(assign_pool)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;
	char name[65];

	r = rule_assigning("Driver=vfio-pci\nPool=gpu");
	ASSERT_STREQ(r->pool, "gpu");
	r = policy_rule_free(r);
	r = rule_assigning("Driver=uio_pci_generic\nPool=dpdk-A_1.2");
	ASSERT_STREQ(r->pool, "dpdk-A_1.2");
	r = policy_rule_free(r);

	/* 64 characters are the most. */
	memset(name, 'p', 64);
	name[64] = 0;
	{
		_cleanup_free_ char *text = NULL;

		ASSERT_TRUE(asprintf(&text, "Driver=mlx5_vfio_pci\nPool=%s", name) > 0);
		r = rule_assigning(text);
		ASSERT_STREQ(r->pool, name);
	}
}

TEST(assign_pin_id)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = parse_ok("[Match]\nAddress=0000:02:00.0\n[Assign]\nDriver=deny\nPinId=8086:1521\n");
	ASSERT_TRUE(r->pinned);
	ASSERT_EQ(r->pin.vendor, 0x8086);
	ASSERT_EQ(r->pin.device, 0x1521);
	ASSERT_EQ(r->target, POLICY_TARGET_DENY);
	r = policy_rule_free(r);

	r = parse_ok("[Match]\nAddress=65:00.0\n[Assign]\nDriver=vfio-pci\nPinId=0x10DE:0x2204\n");
	ASSERT_TRUE(r->pinned);
	ASSERT_EQ(r->pin.vendor, 0x10de);
	ASSERT_EQ(r->pin.device, 0x2204);
}

TEST(assign_num_vfs)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = parse_ok("[Match]\nAddress=0000:02:00.0\n[Assign]\nDriver=host\nNumVfs=8\n");
	ASSERT_TRUE(r->sets_num_vfs);
	ASSERT_EQ(r->num_vfs, 8);
	r = policy_rule_free(r);
	r = parse_ok("[Match]\nAddress=0000:02:00.0\n[Assign]\nDriver=host\nNumVfs=0\n");
	ASSERT_TRUE(r->sets_num_vfs);
	ASSERT_EQ(r->num_vfs, 0);
	r = policy_rule_free(r);
	r = parse_ok("[Match]\nAddress=0000:02:00.0\n[Assign]\nDriver=host\n");
	ASSERT_TRUE(!r->sets_num_vfs);
	ASSERT_PARSE_ERROR("[Match]\nAddress=0000:02:00.0\n[Assign]\nDriver=host\nNumVfs=many\n",
			   PATH ":5: NumVfs=many: expected a number of VFs, 0 to 65535");
	ASSERT_PARSE_ERROR("[Match]\nAddress=0000:02:00.0\n[Assign]\nDriver=host\nNumVfs=65536\n",
			   PATH ":5: NumVfs=65536: expected a number of VFs, 0 to 65535");
	ASSERT_PARSE_ERROR("[Match]\nAddress=0000:02:00.0\n[Assign]\nDriver=host\nNumVfs=-1\n",
			   PATH ":5: NumVfs=-1: expected a number of VFs, 0 to 65535");
	ASSERT_PARSE_ERROR("[Match]\nAddress=0000:02:00.0\n" ASSIGN_VFIO "NumVfs=2\n",
			   PATH ":5: NumVfs= needs Driver=host: the PF's own driver creates its VFs "
			   "(a rule with VirtualFunctionOf= says where the VFs go)");
}

TEST(assign_force)
{
	static const char *const yes[] = { "yes", "true", "on", "1", "YES", "True", "ON" };
	static const char *const no[] = { "no", "false", "off", "0", "No", "FALSE", "Off" };

	for (size_t i = 0; i < ELEMENTSOF(yes) + ELEMENTSOF(no); i++) {
		_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;
		_cleanup_free_ char *text = NULL;
		bool expect = i < ELEMENTSOF(yes);

		ASSERT_TRUE(asprintf(&text, "Driver=vfio-pci\nForce=%s",
				     expect ? yes[i] : no[i - ELEMENTSOF(yes)]) > 0);
		r = rule_assigning(text);
		ASSERT_EQ(r->force, expect);
	}
}

TEST(assign_description)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	/* Kept as written, inner spaces and all; "#" inside a value is text, not a comment. */
	r = rule_assigning("Driver=vfio-pci\nDescription=  RTX 3090 #1, for the  Windows VM  ");
	ASSERT_STREQ(r->description, "RTX 3090 #1, for the  Windows VM");
	r = policy_rule_free(r);

	/* ";" after a space starts a comment; without the space it is text. */
	r = rule_assigning("Driver=vfio-pci\nDescription=GPU;pool ; the rest is a comment");
	ASSERT_STREQ(r->description, "GPU;pool");
}

TEST(assign_all_keys)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = parse_ok("[Match]\n"
		     "Address=0000:65:00.0\n"
		     "[Assign]\n"
		     "Driver=vfio-pci\n"
		     "Apply=request\n"
		     "Group=claim\n"
		     "Pool=gpu\n"
		     "PinId=10de:2204\n"
		     "Force=yes\n"
		     "Description=The GPU\n");
	ASSERT_EQ(r->target, POLICY_TARGET_VFIO);
	ASSERT_STREQ(r->driver, "vfio-pci");
	ASSERT_EQ(r->apply, POLICY_APPLY_REQUEST);
	ASSERT_EQ(r->group, POLICY_GROUP_CLAIM);
	ASSERT_STREQ(r->pool, "gpu");
	ASSERT_TRUE(r->pinned);
	ASSERT_EQ(r->pin.vendor, 0x10de);
	ASSERT_EQ(r->pin.device, 0x2204);
	ASSERT_TRUE(r->force);
	ASSERT_STREQ(r->description, "The GPU");
}

/* --- lexical matters ----------------------------------------------------------------------- */

TEST(syntax_comments_and_blank_lines)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = parse_ok("# hash comment\n"
		     "; semicolon comment\n"
		     "\n"
		     "   \n"
		     "\t\n"
		     "[Match] ; after a section\n"
		     "  # indented comment\n"
		     "Id=10de:2204 ; inline\n"
		     "\n"
		     "[Assign]\n"
		     "Driver=vfio-pci\n"
		     "# Pool=commented-out\n");
	ASSERT_EQ(r->line, 6);
	ASSERT_EQ(r->n_ids, 1);
	ASSERT_EQ(r->ids[0].device, 0x2204);
	ASSERT_NULL(r->pool);
}

TEST(syntax_crlf)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = parse_ok("# made on Windows\r\n"
		     "[Match]\r\n"
		     "Id=10de:2204 10de:1aef\r\n"
		     "Address=65:00.*\r\n"
		     "\r\n"
		     "[Assign]\r\n"
		     "Driver=vfio-pci\r\n"
		     "Pool=gpu\r\n"
		     "Description=with CRLF\r\n");
	ASSERT_EQ(r->line, 2);
	ASSERT_EQ(r->n_ids, 2);
	ASSERT_EQ(r->ids[1].device, 0x1aef);
	ASSERT_STREQ(r->addresses[0], "0000:65:00.*");
	ASSERT_STREQ(r->driver, "vfio-pci");
	ASSERT_STREQ(r->pool, "gpu");
	ASSERT_STREQ(r->description, "with CRLF");

	/* And the line numbers of errors stay right. */
	ASSERT_PARSE_ERROR("[Match]\r\nId=10de:*\r\n\r\nVendor=10de\r\n",
			   PATH ":4: unknown key Vendor= in [Match]");
}

TEST(syntax_no_final_newline)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	r = parse_ok(MATCH_ANY "[Assign]\nDriver=host");
	ASSERT_EQ(r->target, POLICY_TARGET_HOST);
}

TEST(syntax_bom)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	/* A UTF-8 byte order mark (Windows editors) is skipped; the [Match] line is still 1. */
	r = parse_ok("\xef\xbb\xbf" MATCH_ANY ASSIGN_VFIO);
	ASSERT_EQ(r->line, 1);
	ASSERT_EQ(r->n_ids, 1);
	r = policy_rule_free(r);
	r = parse_ok("\r \xef\xbb\xbf\t\xef\xbb\xbf[Match]\nId=10de:*\n" ASSIGN_VFIO);
	ASSERT_EQ(r->line, 1);
	/* Only on line 1. */
	ASSERT_PARSE_ERROR(MATCH_ANY "\xef\xbb\xbf[Assign]\nDriver=vfio-pci\n",
			   PATH ":3: expected [Section], Key=Value or a comment");
	ASSERT_PARSE_ERROR("\xef\xbb\xbf[Matchh]\n" MATCH_ANY ASSIGN_VFIO,
			   PATH ":1: unknown section [Matchh] (expected [Match] or [Assign])");
}

TEST(syntax_indented_lines)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

	/* Indentation is fine, and an indented line is a line of its own. */
	r = parse_ok("  [Match]\n"
		     "\tId=10de:*\n"
		     "    Class=0x0300\n"
		     "[Assign]\n"
		     "Driver=vfio-pci\n"
		     "Description=first\n"
		     "  Pool=gpu\n");
	ASSERT_EQ(r->line, 1);
	ASSERT_EQ(r->n_ids, 1);
	ASSERT_EQ(r->n_classes, 1);
	ASSERT_STREQ(r->description, "first");
	ASSERT_STREQ(r->pool, "gpu");

	/* Any blank (as inih's isspace() sees it) indents; the [Match] line is still known. */
	r = policy_rule_free(r);
	r = parse_ok("\r\n\r[Match]\n\fId=10de:*\n\v[Assign]\n\r\rDriver=host\r\r\n");
	ASSERT_EQ(r->line, 2);
	ASSERT_EQ(r->target, POLICY_TARGET_HOST);
	ASSERT_PARSE_ERROR(MATCH_ANY "\f[Extra]\n" ASSIGN_VFIO,
			   PATH ":3: unknown section [Extra] (expected [Match] or [Assign])");

	/* Not a continuation of the value above (as inih's multi-line values would be). */
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Description=first\n  and second\n",
			   PATH ":6: expected [Section], Key=Value or a comment");
	ASSERT_PARSE_ERROR("[Match]\nClass=0x0300\n  0x0302\n" ASSIGN_VFIO,
			   PATH ":3: expected [Section], Key=Value or a comment");
}

TEST(syntax_line_length)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;
	_cleanup_free_ char *text = NULL, *msg = NULL;
	char desc[200];

	/* A line of 198 characters is the longest; leading blanks and a CR do not count. */
	memset(desc, 'x', sizeof(desc));
	ASSERT_TRUE(asprintf(&text, MATCH_ANY ASSIGN_VFIO "\t  Description=%.*s\r\n",
			     198 - (int)STRLEN("Description="), desc) > 0);
	r = parse_ok(text);
	ASSERT_EQ(strlen(r->description), 198 - STRLEN("Description="));
	text = mfree(text);

	ASSERT_TRUE(asprintf(&text, MATCH_ANY ASSIGN_VFIO "Description=%.*s\n",
			     199 - (int)STRLEN("Description="), desc) > 0);
	msg = parse_error(text, strlen(text));
	ASSERT_STREQ(msg, PATH ":5: line too long (at most 198 characters)");
	text = mfree(text);
	msg = mfree(msg);

	/* Also a long comment, and a long last line without a newline. */
	ASSERT_TRUE(asprintf(&text, "#%.*s\n" MATCH_ANY ASSIGN_VFIO, 199, desc) > 0);
	msg = parse_error(text, strlen(text));
	ASSERT_STREQ(msg, PATH ":1: line too long (at most 198 characters)");
	text = mfree(text);
	msg = mfree(msg);
	ASSERT_TRUE(asprintf(&text, MATCH_ANY ASSIGN_VFIO "Description=%.*s", 199, desc) > 0);
	msg = parse_error(text, strlen(text));
	ASSERT_STREQ(msg, PATH ":5: line too long (at most 198 characters)");
}

TEST(syntax_size)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;
	_cleanup_free_ char *text = malloc(POLICY_FILE_MAX + 2), *msg = NULL;
	const char rule[] = MATCH_ANY ASSIGN_VFIO;
	size_t n;

	/* Exactly POLICY_FILE_MAX bytes: the rule, then comment lines. */
	ASSERT_NOT_NULL(text);
	memcpy(text, rule, STRLEN(rule));
	for (n = STRLEN(rule); n < POLICY_FILE_MAX; n++)
		text[n] = (n - STRLEN(rule)) % 64 == 63 ? '\n' : '#';
	text[POLICY_FILE_MAX] = 0;
	r = parse_ok(text);
	ASSERT_EQ(r->target, POLICY_TARGET_VFIO);

	/* One more byte is too much, whatever it is. */
	text[POLICY_FILE_MAX] = '\n';
	text[POLICY_FILE_MAX + 1] = 0;
	msg = parse_error(text, POLICY_FILE_MAX + 1);
	ASSERT_STREQ(msg, PATH ": larger than 65536 bytes");
}

TEST(syntax_nul)
{
	static const char text[] = "[Match]\nId=10de:*\0garbage\n" ASSIGN_VFIO;
	_cleanup_free_ char *msg = NULL;

	msg = parse_error(text, STRLEN(text));
	ASSERT_STREQ(msg, PATH ": contains a NUL byte: not a text file");
	msg = mfree(msg);
	/* Even as the very last byte. */
	msg = parse_error(MATCH_ANY ASSIGN_VFIO, STRLEN(MATCH_ANY ASSIGN_VFIO) + 1);
	ASSERT_STREQ(msg, PATH ": contains a NUL byte: not a text file");
}

TEST(syntax_size_is_respected)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;
	static const char text[] = MATCH_ANY ASSIGN_VFIO "Pool=gpu\n";
	struct policy_error err = {};

	/* Only size bytes are read: the text need not end in a NUL; what follows is not seen. */
	ASSERT_OK(policy_rule_parse(NAME, PATH, text, STRLEN(MATCH_ANY ASSIGN_VFIO), &r, &err));
	ASSERT_NULL(r->pool);
	r = policy_rule_free(r);

	/* Cut in the middle of a value. */
	ASSERT_OK(policy_rule_parse(NAME, PATH, text, STRLEN(MATCH_ANY ASSIGN_VFIO "Pool=g"), &r,
				    &err));
	ASSERT_STREQ(r->pool, "g");
}

/* --- errors -------------------------------------------------------------------------------- */

TEST(error_unknown_section)
{
	ASSERT_PARSE_ERROR("[Foo]\nBar=1\n" MATCH_ANY ASSIGN_VFIO,
			   PATH ":1: unknown section [Foo] (expected [Match] or [Assign])");
	/* An empty one too: inih never mentions it, so the reader catches it. */
	ASSERT_PARSE_ERROR(MATCH_ANY "[Extra]\n" ASSIGN_VFIO,
			   PATH ":3: unknown section [Extra] (expected [Match] or [Assign])");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "[Install]\n",
			   PATH ":5: unknown section [Install] (expected [Match] or [Assign])");
	/* Section names are case-sensitive and taken literally. */
	ASSERT_PARSE_ERROR("[match]\nId=10de:*\n" ASSIGN_VFIO,
			   PATH ":1: unknown section [match] (expected [Match] or [Assign])");
	ASSERT_PARSE_ERROR("[ Match ]\nId=10de:*\n" ASSIGN_VFIO,
			   PATH ":1: unknown section [ Match ] (expected [Match] or [Assign])");
	ASSERT_PARSE_ERROR("[]\n" MATCH_ANY ASSIGN_VFIO,
			   PATH ":1: unknown section [] (expected [Match] or [Assign])");
}

TEST(error_section_trailing_garbage)
{
	/* What follows "]" must be nothing or a comment: a key there would be lost. */
	ASSERT_PARSE_ERROR("[Match] Id=10de:2204\nClass=0x0300\n" ASSIGN_VFIO,
			   PATH ":1: text after [Match]: a section header stands on a line of its "
			   "own");
	ASSERT_PARSE_ERROR("[Match]x\nId=10de:2204\n" ASSIGN_VFIO,
			   PATH ":1: text after [Match]: a section header stands on a line of its "
			   "own");
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]]\nDriver=vfio-pci\n",
			   PATH ":3: text after [Assign]: a section header stands on a line of its "
			   "own");
	/* An unknown section is the first thing to say. */
	ASSERT_PARSE_ERROR("[Matc] h\nId=10de:2204\n" ASSIGN_VFIO,
			   PATH ":1: unknown section [Matc] (expected [Match] or [Assign])");
	/* Comments are fine. */
	{
		_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

		r = parse_ok("[Match]\t# the functions\nId=10de:*\n[Assign];x\nDriver=host\n");
		ASSERT_EQ(r->target, POLICY_TARGET_HOST);
	}

}

TEST(error_unknown_key)
{
	ASSERT_PARSE_ERROR("[Match]\nVendor=10de\n" ASSIGN_VFIO,
			   PATH ":2: unknown key Vendor= in [Match]");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Target=vfio-pci\n",
			   PATH ":5: unknown key Target= in [Assign]");
	/* Keys are case-sensitive; a key of one section is unknown in the other. */
	ASSERT_PARSE_ERROR("[Match]\nid=10de:*\n" ASSIGN_VFIO,
			   PATH ":2: unknown key id= in [Match]");
	ASSERT_PARSE_ERROR("[Match]\nId=10de:*\nPool=gpu\n" ASSIGN_VFIO,
			   PATH ":3: unknown key Pool= in [Match]");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Class=0x0300\n",
			   PATH ":5: unknown key Class= in [Assign]");
}

TEST(error_key_outside_section)
{
	ASSERT_PARSE_ERROR("Id=10de:*\n" MATCH_ANY ASSIGN_VFIO,
			   PATH ":1: Id= outside a section (expected [Match] or [Assign] first)");
	ASSERT_PARSE_ERROR("# comment\n\nDriver=vfio-pci\n" MATCH_ANY ASSIGN_VFIO,
			   PATH ":3: Driver= outside a section (expected [Match] or [Assign] first)");
}

TEST(error_syntax)
{
	/* A line that is no section, no Key=Value and no comment. */
	ASSERT_PARSE_ERROR(MATCH_ANY "vfio-pci\n" ASSIGN_VFIO,
			   PATH ":3: expected [Section], Key=Value or a comment");
	/* A section header without its "]". */
	ASSERT_PARSE_ERROR("[Match\nId=10de:*\n" ASSIGN_VFIO,
			   PATH ":1: expected [Section], Key=Value or a comment");
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign\nDriver=vfio-pci\n",
			   PATH ":3: expected [Section], Key=Value or a comment");
	/* A value without a key. */
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "=gpu\n",
			   PATH ":5: unknown key = in [Assign]");
}

TEST(error_empty_value)
{
	ASSERT_PARSE_ERROR("[Match]\nAddress=\n" ASSIGN_VFIO, PATH ":2: Address= is empty");
	ASSERT_PARSE_ERROR("[Match]\nId=  \t \n" ASSIGN_VFIO, PATH ":2: Id= is empty");
	ASSERT_PARSE_ERROR("[Match]\nSubsystemId=\n" ASSIGN_VFIO, PATH ":2: SubsystemId= is empty");
	ASSERT_PARSE_ERROR("[Match]\nClass=\n" ASSIGN_VFIO, PATH ":2: Class= is empty");
	ASSERT_PARSE_ERROR("[Match]\nDriver=\n" ASSIGN_VFIO, PATH ":2: Driver= is empty");
	ASSERT_PARSE_ERROR("[Match]\nIommuGroup=\n" ASSIGN_VFIO, PATH ":2: IommuGroup= is empty");
	ASSERT_PARSE_ERROR("[Match]\nNumaNode=\n" ASSIGN_VFIO, PATH ":2: NumaNode= is empty");
	ASSERT_PARSE_ERROR("[Match]\nSriov=\n" ASSIGN_VFIO, PATH ":2: Sriov= is empty");
	ASSERT_PARSE_ERROR("[Match]\nVirtualFunctionOf=\n" ASSIGN_VFIO,
			   PATH ":2: VirtualFunctionOf= is empty");
	/* A value that is only a comment is empty too. */
	ASSERT_PARSE_ERROR("[Match]\nId= ; nothing\n" ASSIGN_VFIO, PATH ":2: Id= is empty");

	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=\n", PATH ":4: Driver= is empty");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Apply=\n", PATH ":5: Apply= is empty");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Group=\n", PATH ":5: Group= is empty");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Pool=\n", PATH ":5: Pool= is empty");
	ASSERT_PARSE_ERROR("[Match]\nAddress=0000:65:00.0\n" ASSIGN_VFIO "PinId=\n",
			   PATH ":5: PinId= is empty");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Force=\n", PATH ":5: Force= is empty");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Description=\n",
			   PATH ":5: Description= is empty");
}

TEST(error_key_twice)
{
	ASSERT_PARSE_ERROR("[Match]\nId=10de:*\nId=8086:*\n" ASSIGN_VFIO,
			   PATH ":3: Id= given twice (first on line 2; put several values on one "
			   "line, separated by spaces)");
	/* Also in a second [Match] section before [Assign]. */
	ASSERT_PARSE_ERROR("[Match]\nAddress=0000:65:00.0\n\n[Match]\nAddress=0000:66:00.0\n"
			   ASSIGN_VFIO,
			   PATH ":5: Address= given twice (first on line 2; put several values on "
			   "one line, separated by spaces)");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Driver=host\n",
			   PATH ":5: Driver= given twice (first on line 4; put several values on "
			   "one line, separated by spaces)");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Pool=a\nPool=a\n",
			   PATH ":6: Pool= given twice (first on line 5; put several values on "
			   "one line, separated by spaces)");
	/* Twice is wrong even when the first was wrong too: the first error counts. */
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Force=maybe\nForce=yes\n",
			   PATH ":5: Force=maybe: expected yes or no");
}

TEST(error_match_after_assign)
{
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "[Match]\nClass=0x0300\n",
			   PATH ":6: [Match] after [Assign]: one rule per file");
	ASSERT_PARSE_ERROR(ASSIGN_VFIO MATCH_ANY,
			   PATH ":4: [Match] after [Assign]: one rule per file");
	/* A second [Assign] section is fine (it is the same section). */
	{
		_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

		r = parse_ok(MATCH_ANY ASSIGN_VFIO "[Assign]\nPool=gpu\n");
		ASSERT_STREQ(r->pool, "gpu");
	}
}

TEST(error_no_match_keys)
{
	ASSERT_PARSE_ERROR("[Match]\n" ASSIGN_VFIO,
			   PATH ": no [Match] keys: a rule must say which functions it is for");
	ASSERT_PARSE_ERROR(ASSIGN_VFIO,
			   PATH ": no [Match] keys: a rule must say which functions it is for");
	ASSERT_PARSE_ERROR("",
			   PATH ": no [Match] keys: a rule must say which functions it is for");
	ASSERT_PARSE_ERROR("# only comments\n\n",
			   PATH ": no [Match] keys: a rule must say which functions it is for");
}

TEST(error_no_driver)
{
	ASSERT_PARSE_ERROR("# comment\n" MATCH_ANY,
			   PATH ":2: [Assign] needs Driver= (vfio-pci, a vfio variant, "
			   "uio_pci_generic, host or deny)");
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nPool=gpu\nApply=request\n",
			   PATH ":1: [Assign] needs Driver= (vfio-pci, a vfio variant, "
			   "uio_pci_generic, host or deny)");
}

TEST(error_bad_address)
{
	ASSERT_PARSE_ERROR("[Match]\nAddress=0000:zz:00.0\n" ASSIGN_VFIO,
			   PATH ":2: Address=0000:zz:00.0: expected a PCI address DDDD:BB:DD.F, "
			   "globs allowed (e.g. 0000:65:00.*)");
	/* The value is quoted as written, not half lowercased. */
	ASSERT_PARSE_ERROR("[Match]\nAddress=0000:65:00.0 0000:0A:0G.0\n" ASSIGN_VFIO,
			   PATH ":2: Address=0000:0A:0G.0: expected a PCI address DDDD:BB:DD.F, "
			   "globs allowed (e.g. 0000:65:00.*)");
	ASSERT_PARSE_ERROR("[Match]\nAddress=eth0\n" ASSIGN_VFIO,
			   PATH ":2: Address=eth0: expected a PCI address DDDD:BB:DD.F, "
			   "globs allowed (e.g. 0000:65:00.*)");
	ASSERT_PARSE_ERROR("[Match]\nAddress=0000:65:00.0/\n" ASSIGN_VFIO,
			   PATH ":2: Address=0000:65:00.0/: expected a PCI address DDDD:BB:DD.F, "
			   "globs allowed (e.g. 0000:65:00.*)");
	/* 32 characters are the most (a long domain and some glob). */
	ASSERT_PARSE_ERROR("[Match]\nAddress=0000:00:00.0000000000000000000000\n" ASSIGN_VFIO,
			   PATH ":2: Address=0000:00:00.0000000000000000000000: too long for a PCI "
			   "address");
	{
		_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

		r = rule_matching("Address=0000:00:00.000000000000000000000");
		ASSERT_EQ(strlen(r->addresses[0]), 32);
	}
	ASSERT_PARSE_ERROR("[Match]\nVirtualFunctionOf=enp59s0f0\n" ASSIGN_VFIO,
			   PATH ":2: VirtualFunctionOf=enp59s0f0: expected a PCI address "
			   "DDDD:BB:DD.F, globs allowed (e.g. 0000:65:00.*)");
}

TEST(error_bad_id)
{
	ASSERT_PARSE_ERROR("[Match]\nId=10de\n" ASSIGN_VFIO,
			   PATH ":2: Id=10de: expected VENDOR:DEVICE in hex, e.g. 10de:2204");
	ASSERT_PARSE_ERROR("[Match]\nId=10de0:2204\n" ASSIGN_VFIO,
			   PATH ":2: Id=10de0:2204: the vendor must be 1 to 4 hex digits");
	ASSERT_PARSE_ERROR("[Match]\nId=*:2204\n" ASSIGN_VFIO,
			   PATH ":2: Id=*:2204: the vendor must be 1 to 4 hex digits");
	ASSERT_PARSE_ERROR("[Match]\nId=:2204\n" ASSIGN_VFIO,
			   PATH ":2: Id=:2204: the vendor must be 1 to 4 hex digits");
	ASSERT_PARSE_ERROR("[Match]\nId=10de:22041\n" ASSIGN_VFIO,
			   PATH ":2: Id=10de:22041: the device must be 1 to 4 hex digits or *");
	ASSERT_PARSE_ERROR("[Match]\nId=10de:\n" ASSIGN_VFIO,
			   PATH ":2: Id=10de:: the device must be 1 to 4 hex digits or *");
	ASSERT_PARSE_ERROR("[Match]\nId=10de:22*\n" ASSIGN_VFIO,
			   PATH ":2: Id=10de:22*: the device must be 1 to 4 hex digits or *");
	ASSERT_PARSE_ERROR("[Match]\nId=0x:1\n" ASSIGN_VFIO,
			   PATH ":2: Id=0x:1: the vendor must be 1 to 4 hex digits");
	ASSERT_PARSE_ERROR("[Match]\nId=10de:2204:1\n" ASSIGN_VFIO,
			   PATH ":2: Id=10de:2204:1: the device must be 1 to 4 hex digits or *");
	/* The bad one of several values is the one quoted. */
	ASSERT_PARSE_ERROR("[Match]\nId=10de:2204 8086\n" ASSIGN_VFIO,
			   PATH ":2: Id=8086: expected VENDOR:DEVICE in hex, e.g. 10de:2204");

	ASSERT_PARSE_ERROR("[Match]\nSubsystemId=1043\n" ASSIGN_VFIO,
			   PATH ":2: SubsystemId=1043: expected VENDOR:DEVICE in hex, e.g. 10de:2204");
	ASSERT_PARSE_ERROR("[Match]\nSubsystemId=1043:g\n" ASSIGN_VFIO,
			   PATH ":2: SubsystemId=1043:g: the device must be 1 to 4 hex digits or *");
}

TEST(error_bad_class)
{
#define CLASS_EXPECTED ": expected a class as 4 hex digits (0x0300: class and subclass) or 6 " \
	"(0x030000: with programming interface), optionally /MASK"

	ASSERT_PARSE_ERROR("[Match]\nClass=0x03\n" ASSIGN_VFIO,
	                   PATH ":2: Class=0x03" CLASS_EXPECTED);
	ASSERT_PARSE_ERROR("[Match]\nClass=03000\n" ASSIGN_VFIO,
	                   PATH ":2: Class=03000" CLASS_EXPECTED);
	ASSERT_PARSE_ERROR("[Match]\nClass=0x0300000\n" ASSIGN_VFIO,
			   PATH ":2: Class=0x0300000" CLASS_EXPECTED);
	ASSERT_PARSE_ERROR("[Match]\nClass=0x0300 display\n" ASSIGN_VFIO,
			   PATH ":2: Class=display" CLASS_EXPECTED);
	ASSERT_PARSE_ERROR("[Match]\nClass=0x03zz\n" ASSIGN_VFIO,
	                   PATH ":2: Class=0x03zz" CLASS_EXPECTED);
	ASSERT_PARSE_ERROR("[Match]\nClass=/ff0000\n" ASSIGN_VFIO,
	                   PATH ":2: Class=/ff0000" CLASS_EXPECTED);
	ASSERT_PARSE_ERROR("[Match]\nClass=0x030000/\n" ASSIGN_VFIO,
			   PATH ":2: Class=0x030000/: the mask must be up to 6 hex digits, e.g. "
			   "/0xff0000");
	ASSERT_PARSE_ERROR("[Match]\nClass=0x030000/0x1ff0000\n" ASSIGN_VFIO,
			   PATH ":2: Class=0x030000/0x1ff0000: the mask must be up to 6 hex digits, "
			   "e.g. /0xff0000");
	ASSERT_PARSE_ERROR("[Match]\nClass=0x030000/ff0000/ff\n" ASSIGN_VFIO,
			   PATH ":2: Class=0x030000/ff0000/ff: the mask must be up to 6 hex digits, "
			   "e.g. /0xff0000");
	ASSERT_PARSE_ERROR("[Match]\nClass=0x030000/0\n" ASSIGN_VFIO,
			   PATH ":2: Class=0x030000/0: a zero mask would match every function");
#undef CLASS_EXPECTED
}

/* 65 characters: one too many for a driver or pool name. */
#define X65 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define P65 "ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"

TEST(error_bad_match_driver)
{
	ASSERT_PARSE_ERROR("[Match]\nDriver=nv/idia\n" ASSIGN_VFIO,
			   PATH ":2: Driver=nv/idia: not a driver name (use \"none\" for no driver)");
	ASSERT_PARSE_ERROR("[Match]\nDriver=nvidia *\n" ASSIGN_VFIO,
			   PATH ":2: Driver=*: not a driver name (use \"none\" for no driver)");
	ASSERT_PARSE_ERROR("[Match]\nDriver=" X65 "\n"
			   ASSIGN_VFIO,
			   PATH ":2: Driver=" X65 ": "
			   "not a driver name (use \"none\" for no driver)");
}

TEST(error_bad_iommu_group)
{
	ASSERT_PARSE_ERROR("[Match]\nIommuGroup=-1\n" ASSIGN_VFIO,
			   PATH ":2: IommuGroup=-1: expected a group number");
	ASSERT_PARSE_ERROR("[Match]\nIommuGroup=1 x\n" ASSIGN_VFIO,
			   PATH ":2: IommuGroup=x: expected a group number");
	ASSERT_PARSE_ERROR("[Match]\nIommuGroup=0x10\n" ASSIGN_VFIO,
			   PATH ":2: IommuGroup=0x10: expected a group number");
	ASSERT_PARSE_ERROR("[Match]\nIommuGroup=4294967296\n" ASSIGN_VFIO,
			   PATH ":2: IommuGroup=4294967296: expected a group number");
	ASSERT_PARSE_ERROR("[Match]\nIommuGroup=1*\n" ASSIGN_VFIO,
			   PATH ":2: IommuGroup=1*: expected a group number");
}

TEST(error_bad_numa_node)
{
	ASSERT_PARSE_ERROR("[Match]\nNumaNode=-2\n" ASSIGN_VFIO,
			   PATH ":2: NumaNode=-2: expected a node number (-1: none)");
	ASSERT_PARSE_ERROR("[Match]\nNumaNode=0 one\n" ASSIGN_VFIO,
			   PATH ":2: NumaNode=one: expected a node number (-1: none)");
	ASSERT_PARSE_ERROR("[Match]\nNumaNode=2147483648\n" ASSIGN_VFIO,
			   PATH ":2: NumaNode=2147483648: expected a node number (-1: none)");
}

TEST(error_bad_sriov)
{
	ASSERT_PARSE_ERROR("[Match]\nSriov=both\n" ASSIGN_VFIO,
			   PATH ":2: Sriov=both: expected pf, vf or none");
	ASSERT_PARSE_ERROR("[Match]\nSriov=vf PF\n" ASSIGN_VFIO,
			   PATH ":2: Sriov=PF: expected pf, vf or none");
	ASSERT_PARSE_ERROR("[Match]\nSriov=yes\n" ASSIGN_VFIO,
			   PATH ":2: Sriov=yes: expected pf, vf or none");
}

TEST(error_bad_assign_values)
{
#define DRIVER_EXPECTED ": expected vfio-pci, a vfio variant driver (e.g. mlx5_vfio_pci), " \
	"uio_pci_generic, igb_uio, host or deny"

	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=nvidia\n",
			   PATH ":4: Driver=nvidia" DRIVER_EXPECTED);
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=VFIO-PCI\n",
			   PATH ":4: Driver=VFIO-PCI" DRIVER_EXPECTED);
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=vfio-pci uio_pci_generic\n",
			   PATH ":4: Driver=vfio-pci uio_pci_generic" DRIVER_EXPECTED);
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=Host\n",
	                   PATH ":4: Driver=Host" DRIVER_EXPECTED);
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=none\n",
	                   PATH ":4: Driver=none" DRIVER_EXPECTED);
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=vfio/pci\n",
			   PATH ":4: Driver=vfio/pci" DRIVER_EXPECTED);
#undef DRIVER_EXPECTED

	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Apply=auto\n",
			   PATH ":5: Apply=auto: expected boot or request");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Apply=Boot\n",
			   PATH ":5: Apply=Boot: expected boot or request");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Group=all\n",
			   PATH ":5: Group=all: expected claim, viable or any");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Pool=a/b\n",
			   PATH ":5: Pool=a/b: a pool name is 1 to 64 of A-Z a-z 0-9 _ . -");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Pool=gpu pool\n",
			   PATH ":5: Pool=gpu pool: a pool name is 1 to 64 of A-Z a-z 0-9 _ . -");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO
			   "Pool=" P65 "\n",
			   PATH ":5: Pool=" P65 ": "
			   "a pool name is 1 to 64 of A-Z a-z 0-9 _ . -");
	ASSERT_PARSE_ERROR("[Match]\nAddress=0000:65:00.0\n" ASSIGN_VFIO "PinId=10de:*\n",
			   PATH ":5: PinId=10de:*: the device must be 1 to 4 hex digits");
	ASSERT_PARSE_ERROR("[Match]\nAddress=0000:65:00.0\n" ASSIGN_VFIO "PinId=10de\n",
			   PATH ":5: PinId=10de: expected VENDOR:DEVICE in hex, e.g. 10de:2204");
	ASSERT_PARSE_ERROR("[Match]\nAddress=0000:65:00.0\n" ASSIGN_VFIO
			   "PinId=10de:2204 10de:1aef\n",
			   PATH ":5: PinId=10de:2204 10de:1aef: the device must be 1 to 4 hex "
			   "digits");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Force=maybe\n",
			   PATH ":5: Force=maybe: expected yes or no");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Force=2\n",
	                   PATH ":5: Force=2: expected yes or no");
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "Force=y\n",
	                   PATH ":5: Force=y: expected yes or no");
}

TEST(error_pool_needs_passthrough)
{
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=host\nPool=gpu\n",
			   PATH ":5: Pool= needs Driver= to name a passthrough driver");
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nPool=gpu\n\nDriver=deny\n",
			   PATH ":4: Pool= needs Driver= to name a passthrough driver");
}

TEST(error_deny_conflicts)
{
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=deny\nApply=request\n",
			   PATH ":5: Apply= has no meaning with Driver=deny");
	/* Even when it says the default. */
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=deny\nApply=boot\n",
			   PATH ":5: Apply= has no meaning with Driver=deny");
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nGroup=viable\nDriver=deny\n",
			   PATH ":4: Group= has no meaning with Driver=deny");
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=deny\nForce=no\n",
			   PATH ":5: Force= has no meaning with Driver=deny");
	/* Description= and PinId= are fine with deny. */
	{
		_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;

		r = parse_ok("[Match]\nAddress=0000:00:19.0\n[Assign]\nDriver=deny\nPinId=8086:15bc\n"
			     "Description=the boot NIC\n");
		ASSERT_EQ(r->target, POLICY_TARGET_DENY);
		ASSERT_TRUE(r->pinned);
		ASSERT_STREQ(r->description, "the boot NIC");
	}
}

TEST(error_pin_without_address)
{
	ASSERT_PARSE_ERROR(MATCH_ANY ASSIGN_VFIO "PinId=10de:2204\n",
			   PATH ":5: PinId= pins the ids expected at an address: [Match] needs "
			   "Address=");
	/* VirtualFunctionOf= is no Address=. */
	ASSERT_PARSE_ERROR("[Match]\nVirtualFunctionOf=0000:3b:00.0\n" ASSIGN_VFIO
			   "PinId=8086:154c\n",
			   PATH ":5: PinId= pins the ids expected at an address: [Match] needs "
			   "Address=");
}

TEST(error_vf_of_with_sriov)
{
	ASSERT_PARSE_ERROR("[Match]\nSriov=pf\nVirtualFunctionOf=0000:3b:00.0\n" ASSIGN_VFIO,
			   PATH ":3: VirtualFunctionOf= matches virtual functions only; Sriov= must "
			   "be vf or absent");
	ASSERT_PARSE_ERROR("[Match]\nVirtualFunctionOf=0000:3b:00.0\nSriov=vf none\n" ASSIGN_VFIO,
			   PATH ":2: VirtualFunctionOf= matches virtual functions only; Sriov= must "
			   "be vf or absent");
}

TEST(after_lease)
{
	static const char release[] = MATCH_ANY "[Assign]\nDriver=vfio-pci\nPool=gpu\nAfterLease=release\n";
	static const char keep[] = MATCH_ANY "[Assign]\nDriver=vfio-pci\nPool=gpu\n";
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;
	struct policy_error err = {};

	ASSERT_OK(policy_rule_parse("t.policy", PATH, release, strlen(release), &r, &err));
	ASSERT_EQ(r->after_lease, POLICY_AFTER_LEASE_RELEASE);
	ASSERT_STREQ(policy_after_lease_to_string(r->after_lease), "release");
	r = policy_rule_free(r);
	ASSERT_OK(policy_rule_parse("t.policy", PATH, keep, strlen(keep), &r, &err));
	ASSERT_EQ(r->after_lease, POLICY_AFTER_LEASE_KEEP);
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=vfio-pci\nPool=gpu\nAfterLease=later\n",
			   PATH ":6: AfterLease=later: expected keep or release");
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=vfio-pci\nAfterLease=keep\n",
			   PATH ":5: AfterLease= says what becomes of a pool's group after a lease: "
			   "it needs Pool=");
}

TEST(error_whole_file_checks_order)
{
	/* Line errors come first; then the missing Driver=; then the conflicts. */
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nPool=gpu\nForce=maybe\n",
			   PATH ":5: Force=maybe: expected yes or no");
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nPinId=10de:2204\n",
			   PATH ":1: [Assign] needs Driver= (vfio-pci, a vfio variant, "
			   "uio_pci_generic, host or deny)");
	ASSERT_PARSE_ERROR(MATCH_ANY "[Assign]\nDriver=deny\nForce=yes\nPool=x\n",
			   PATH ":6: Pool= needs Driver= to name a passthrough driver");
	ASSERT_PARSE_ERROR("[Match]\nSriov=pf\nVirtualFunctionOf=0000:3b:00.0\n[Assign]\n"
			   "Driver=deny\nGroup=any\nPinId=1:1\n",
			   PATH ":6: Group= has no meaning with Driver=deny");
	ASSERT_PARSE_ERROR("[Match]\nSriov=pf\nVirtualFunctionOf=0000:3b:00.0\n[Assign]\n"
			   "Driver=deny\nPinId=1:1\n",
			   PATH ":6: PinId= pins the ids expected at an address: [Match] needs "
			   "Address=");
}

TEST(error_first_wins)
{
	/* A bad value on line 2, an unknown key on line 5. */
	ASSERT_PARSE_ERROR("[Match]\nId=10de\n" ASSIGN_VFIO "Colour=green\n",
			   PATH ":2: Id=10de: expected VENDOR:DEVICE in hex, e.g. 10de:2204");
	/* A bad value, then a syntax error. */
	ASSERT_PARSE_ERROR("[Match]\nId=10de\n[Assign\nDriver=vfio-pci\n",
			   PATH ":2: Id=10de: expected VENDOR:DEVICE in hex, e.g. 10de:2204");
	/* A syntax error, then a bad value. */
	ASSERT_PARSE_ERROR("[Match]\nId 10de\nClass=0x03\n" ASSIGN_VFIO,
			   PATH ":2: expected [Section], Key=Value or a comment");
	/* A line too long, then a syntax error; and the other way round. */
	ASSERT_PARSE_ERROR(MATCH_ANY "# " "0123456789012345678901234567890123456789"
			   "0123456789012345678901234567890123456789"
			   "0123456789012345678901234567890123456789"
			   "0123456789012345678901234567890123456789"
			   "0123456789012345678901234567890123456789\n" "garbage\n" ASSIGN_VFIO,
			   PATH ":3: line too long (at most 198 characters)");
	ASSERT_PARSE_ERROR(MATCH_ANY "garbage\n# " "0123456789012345678901234567890123456789"
			   "0123456789012345678901234567890123456789"
			   "0123456789012345678901234567890123456789"
			   "0123456789012345678901234567890123456789"
			   "0123456789012345678901234567890123456789\n" ASSIGN_VFIO,
			   PATH ":3: expected [Section], Key=Value or a comment");
	/* An empty unknown section (found by the reader), then a bad value; and reversed. */
	ASSERT_PARSE_ERROR(MATCH_ANY "[Extra]\n" ASSIGN_VFIO "Force=maybe\n",
			   PATH ":3: unknown section [Extra] (expected [Match] or [Assign])");
	ASSERT_PARSE_ERROR("[Match]\nId=10de\n[Extra]\n" ASSIGN_VFIO,
			   PATH ":2: Id=10de: expected VENDOR:DEVICE in hex, e.g. 10de:2204");
	/* A syntax error on the first line, before an unknown section. */
	ASSERT_PARSE_ERROR("junk\n[Extra]\n" MATCH_ANY ASSIGN_VFIO,
			   PATH ":1: expected [Section], Key=Value or a comment");
	/* A key twice and a bad value later. */
	ASSERT_PARSE_ERROR("[Match]\nId=10de:*\nId=10de:*\nClass=0\n" ASSIGN_VFIO,
			   PATH ":3: Id= given twice (first on line 2; put several values on one "
			   "line, separated by spaces)");
}

TEST(error_format)
{
	struct policy_error e = {};
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

	a = policy_error_format(&e);
	ASSERT_STREQ(a, "?: invalid");
	e.file = (char *)"x.policy";
	e.line = 7;
	e.reason = (char *)"bad";
	b = policy_error_format(&e);
	ASSERT_STREQ(b, "x.policy:7: bad");
	e.line = 0;
	c = policy_error_format(&e);
	ASSERT_STREQ(c, "x.policy: bad");
}

/* --- temporary directories ----------------------------------------------------------------- */

static char tmpdir[PATH_MAX];

/* Async-signal-safe: also called when an assertion aborts the test. */
static void rm_rf(const char *path)
{
	char *const argv[] = { (char *)"rm", (char *)"-rf", (char *)"--", (char *)path, NULL };
	pid_t pid = fork();

	if (pid == 0) {
		execve("/bin/rm", argv, environ);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
}

static void on_abort(int sig)
{
	if (tmpdir[0])
		rm_rf(tmpdir);
}

static const char *tmpdir_new(void)
{
	struct sigaction sa = { .sa_handler = on_abort };

	strcpy(tmpdir, "/tmp/test-policy-XXXXXX");
	ASSERT_NOT_NULL(mkdtemp(tmpdir));
	ASSERT_OK(sigaction(SIGABRT, &sa, NULL));
	return tmpdir;
}

static void tmpdir_remove(void)
{
	rm_rf(tmpdir);
	tmpdir[0] = 0;
}

/* A path below the temporary directory; allocated. */
_printf_(1, 2)
static char *tmp_path(const char *fmt, ...)
{
	_cleanup_free_ char *rel = NULL;
	char *p = NULL;
	va_list ap;

	va_start(ap, fmt);
	ASSERT_TRUE(vasprintf(&rel, fmt, ap) >= 0);
	va_end(ap);
	ASSERT_TRUE(asprintf(&p, "%s/%s", tmpdir, rel) > 0);
	return p;
}

static void mkdir_tmp(const char *rel)
{
	_cleanup_free_ char *p = tmp_path("%s", rel);

	ASSERT_OK(mkdir(p, 0755));
}

static void write_bytes(const char *path, const char *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(write(fd, data, size), (ssize_t)size);
	ASSERT_OK(close(fd));
}

/* Writes text to rel below the temporary directory. */
static void write_tmp(const char *rel, const char *text)
{
	_cleanup_free_ char *p = tmp_path("%s", rel);

	write_bytes(p, text, strlen(text));
}

/* A rule for vendor:device, with a Description= naming it. */
static void write_rule(const char *rel, const char *id, const char *driver)
{
	_cleanup_free_ char *text = NULL;

	ASSERT_TRUE(asprintf(&text, "[Match]\nId=%s\n[Assign]\nDriver=%s\nDescription=%s\n", id,
			     driver, rel) > 0);
	write_tmp(rel, text);
}

static void symlink_tmp(const char *target, const char *rel)
{
	_cleanup_free_ char *p = tmp_path("%s", rel);

	ASSERT_OK(symlink(target, p));
}

/* --- policy_load --------------------------------------------------------------------------- */

TEST(load_order_override_mask)
{
	_cleanup_(policy_done) struct policy p = {};
	_cleanup_(policy_error_done) struct policy_error err = {};
	_cleanup_free_ char *usr = NULL, *run = NULL, *etc = NULL, *gpu = NULL;

	tmpdir_new();
	mkdir_tmp("usr");
	mkdir_tmp("run");
	mkdir_tmp("etc");
	usr = tmp_path("usr");
	run = tmp_path("run");
	etc = tmp_path("etc");

	write_rule("usr/10-a.policy", "1:1", "vfio-pci");
	write_rule("usr/30-c.policy", "3:3", "vfio-pci");
	write_rule("usr/50-gpu.policy", "5:5", "vfio-pci");
	write_rule("usr/70-masked.policy", "7:7", "vfio-pci");
	write_tmp("usr/80-bad-but-masked.policy", "this is not a rule\n");
	write_rule("run/20-b.policy", "2:2", "uio_pci_generic");
	write_rule("run/50-gpu.policy", "5:5", "host");		/* replaces usr's */
	write_rule("etc/40-d.policy", "4:4", "deny");
	write_rule("etc/05-first.policy", "0:0", "vfio-pci");
	symlink_tmp("/dev/null", "etc/70-masked.policy");
	symlink_tmp("/dev/null", "run/80-bad-but-masked.policy");
	symlink_tmp("/dev/null", "etc/90-masks-nothing.policy");

	/* Not rule files: ignored, even when they are garbage. */
	write_tmp("usr/README", "garbage\n");
	write_tmp("usr/.hidden.policy", "garbage\n");
	write_tmp("usr/60-backup.policy~", "garbage\n");
	write_tmp("usr/60-old.policy.bak", "garbage\n");
	write_tmp("usr/60-upper.POLICY", "garbage\n");
	write_tmp("run/.policy", "garbage\n");
	write_tmp("etc/policy", "garbage\n");
	write_tmp("etc/pcipassd.conf", "garbage\n");
	mkdir_tmp("etc/sub");
	write_tmp("etc/sub/00-nested.policy", "garbage\n");

	ASSERT_OK(policy_load((char *const[]){ usr, run, etc, NULL }, &p, &err));
	ASSERT_NULL(err.reason);
	ASSERT_EQ(p.n_rules, 6);
	ASSERT_STREQ(p.rules[0]->name, "05-first.policy");
	ASSERT_STREQ(p.rules[1]->name, "10-a.policy");
	ASSERT_STREQ(p.rules[2]->name, "20-b.policy");
	ASSERT_STREQ(p.rules[3]->name, "30-c.policy");
	ASSERT_STREQ(p.rules[4]->name, "40-d.policy");
	ASSERT_STREQ(p.rules[5]->name, "50-gpu.policy");
	ASSERT_STREQ(p.rules[1]->description, "usr/10-a.policy");
	ASSERT_STREQ(p.rules[2]->description, "run/20-b.policy");
	ASSERT_EQ(p.rules[2]->target, POLICY_TARGET_UIO);
	ASSERT_EQ(p.rules[4]->target, POLICY_TARGET_DENY);

	/* The later directory's file, from its own path. */
	gpu = tmp_path("run/50-gpu.policy");
	ASSERT_STREQ(p.rules[5]->path, gpu);
	ASSERT_STREQ(p.rules[5]->description, "run/50-gpu.policy");
	ASSERT_EQ(p.rules[5]->target, POLICY_TARGET_HOST);

	ASSERT_EQ(strv_length(p.dirs), 3);
	ASSERT_STREQ(p.dirs[0], usr);
	ASSERT_STREQ(p.dirs[2], etc);
	ASSERT_TRUE(p.loaded_usec > 0);
	tmpdir_remove();
}

TEST(load_missing_dirs)
{
	_cleanup_(policy_done) struct policy p = {};
	_cleanup_(policy_error_done) struct policy_error err = {};
	_cleanup_free_ char *a = NULL, *missing = NULL, *missing2 = NULL;

	tmpdir_new();
	mkdir_tmp("a");
	write_rule("a/10-a.policy", "1:1", "vfio-pci");
	a = tmp_path("a");
	missing = tmp_path("missing");
	missing2 = tmp_path("missing/too");

	ASSERT_OK(policy_load((char *const[]){ missing, a, missing2, NULL }, &p, &err));
	ASSERT_EQ(p.n_rules, 1);
	ASSERT_EQ(strv_length(p.dirs), 3);
	ASSERT_STREQ(p.dirs[0], missing);
	policy_done(&p);

	/* No directory at all, or only missing ones: an empty policy. */
	ASSERT_OK(policy_load((char *const[]){ missing, missing2, NULL }, &p, &err));
	ASSERT_EQ(p.n_rules, 0);
	ASSERT_NULL(p.rules);
	ASSERT_EQ(strv_length(p.dirs), 2);
	policy_done(&p);
	ASSERT_OK(policy_load((char *const[]){ NULL }, &p, &err));
	ASSERT_EQ(p.n_rules, 0);
	ASSERT_NOT_NULL(p.dirs);
	ASSERT_NULL(p.dirs[0]);

	/* An empty directory too. */
	policy_done(&p);
	mkdir_tmp("empty");
	{
		_cleanup_free_ char *empty = tmp_path("empty");

		ASSERT_OK(policy_load((char *const[]){ empty, NULL }, &p, &err));
		ASSERT_EQ(p.n_rules, 0);
	}
	ASSERT_NULL(err.reason);
	tmpdir_remove();
}

TEST(load_bad_file_fails_all)
{
	_cleanup_(policy_done) struct policy p = {};
	_cleanup_(policy_error_done) struct policy_error err = {};
	_cleanup_free_ char *a = NULL, *b = NULL, *msg = NULL, *expected = NULL;
	struct policy saved;

	tmpdir_new();
	mkdir_tmp("a");
	mkdir_tmp("b");
	a = tmp_path("a");
	b = tmp_path("b");
	write_rule("a/10-a.policy", "1:1", "vfio-pci");
	write_rule("b/20-b.policy", "2:2", "vfio-pci");

	/* The policy in force ... */
	ASSERT_OK(policy_load((char *const[]){ a, b, NULL }, &p, &err));
	ASSERT_EQ(p.n_rules, 2);
	saved = p;

	/* ... stays as it was when one file of the new one is bad. */
	write_tmp("b/30-bad.policy", "[Match]\nId=10de:*\nColour=green\n[Assign]\nDriver=vfio-pci\n");
	ASSERT_ERROR(policy_load((char *const[]){ a, b, NULL }, &p, &err), EINVAL);
	ASSERT_TRUE(memcmp(&p, &saved, sizeof(p)) == 0);
	msg = policy_error_format(&err);
	ASSERT_TRUE(asprintf(&expected, "%s/30-bad.policy:3: unknown key Colour= in [Match]", b) > 0);
	ASSERT_STREQ(msg, expected);
	msg = mfree(msg);
	expected = mfree(expected);

	/* The first bad file in order is the one named. */
	write_tmp("a/25-bad.policy", "[Match]\n");
	ASSERT_ERROR(policy_load((char *const[]){ a, b, NULL }, &p, &err), EINVAL);
	ASSERT_TRUE(memcmp(&p, &saved, sizeof(p)) == 0);
	msg = policy_error_format(&err);
	ASSERT_TRUE(asprintf(&expected, "%s/25-bad.policy: no [Match] keys: a rule must say which "
			     "functions it is for", a) > 0);
	ASSERT_STREQ(msg, expected);
	msg = mfree(msg);
	expected = mfree(expected);

	/* A bad file replaced by a good one in a later directory is never read. */
	write_rule("b/25-bad.policy", "2:5", "host");
	write_rule("b/30-bad.policy", "3:0", "host");
	ASSERT_ERROR(policy_load((char *const[]){ b, a, NULL }, &p, &err), EINVAL);
	policy_done(&p);
	ASSERT_OK(policy_load((char *const[]){ a, b, NULL }, &p, &err));
	ASSERT_EQ(p.n_rules, 4);
	ASSERT_STREQ(p.rules[1]->name, "20-b.policy");
	ASSERT_STREQ(p.rules[2]->name, "25-bad.policy");
	ASSERT_EQ(p.rules[2]->target, POLICY_TARGET_HOST);
	policy_done(&p);

	/* Things that are not rule files but are named like one fail the load too. */
	mkdir_tmp("b/40-dir.policy");
	ASSERT_ERROR(policy_load((char *const[]){ a, b, NULL }, &p, &err), EINVAL);
	msg = policy_error_format(&err);
	ASSERT_TRUE(asprintf(&expected, "%s/40-dir.policy: not a regular file", b) > 0);
	ASSERT_STREQ(msg, expected);
	msg = mfree(msg);
	expected = mfree(expected);
	ASSERT_TRUE(memcmp(&p, &(struct policy){}, sizeof(p)) == 0);

	/* A FIFO named like a rule file: refused at once, not waited on for a writer. */
	{
		_cleanup_free_ char *dir = tmp_path("b/40-dir.policy");

		ASSERT_OK(rmdir(dir));
		ASSERT_OK(mkfifo(dir, 0644));
		ASSERT_ERROR(policy_load((char *const[]){ a, b, NULL }, &p, &err), EINVAL);
		msg = policy_error_format(&err);
		ASSERT_TRUE(asprintf(&expected, "%s: not a regular file", dir) > 0);
		ASSERT_STREQ(msg, expected);
		msg = mfree(msg);
		expected = mfree(expected);
		ASSERT_OK(unlink(dir));
		ASSERT_OK(mkdir(dir, 0755));
	}

	/* A link to nowhere. */
	{
		_cleanup_free_ char *dir = tmp_path("b/40-dir.policy");

		ASSERT_OK(rmdir(dir));
	}
	symlink_tmp("nowhere", "b/40-dangling.policy");
	ASSERT_ERROR(policy_load((char *const[]){ a, b, NULL }, &p, &err), EINVAL);
	msg = policy_error_format(&err);
	ASSERT_TRUE(asprintf(&expected, "%s/40-dangling.policy: No such file or directory", b) > 0);
	ASSERT_STREQ(msg, expected);
	msg = mfree(msg);
	expected = mfree(expected);

	/* A "directory" that is a file. */
	{
		_cleanup_free_ char *file = tmp_path("a/10-a.policy");

		ASSERT_ERROR(policy_load((char *const[]){ a, file, NULL }, &p, &err), EINVAL);
		msg = policy_error_format(&err);
		ASSERT_TRUE(asprintf(&expected, "%s: cannot read directory: Not a directory",
				     file) > 0);
		ASSERT_STREQ(msg, expected);
	}
	tmpdir_remove();
}

TEST(load_files_in_given_order)
{
	_cleanup_(policy_done) struct policy p = {};
	_cleanup_(policy_error_done) struct policy_error err = {};
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *missing = NULL, *msg = NULL,
			    *expected = NULL;
	struct policy saved;

	tmpdir_new();
	write_rule("10-a.policy", "1:1", "vfio-pci");
	write_rule("20-b.policy", "2:2", "host");
	write_rule("c.rule", "3:3", "deny");	/* any name will do here */
	a = tmp_path("10-a.policy");
	b = tmp_path("20-b.policy");
	c = tmp_path("c.rule");
	missing = tmp_path("30-missing.policy");

	ASSERT_OK(policy_load_files((char *const[]){ c, b, a, NULL }, &p, &err));
	ASSERT_EQ(p.n_rules, 3);
	ASSERT_STREQ(p.rules[0]->path, c);
	ASSERT_STREQ(p.rules[0]->name, "c.rule");
	ASSERT_STREQ(p.rules[1]->path, b);
	ASSERT_STREQ(p.rules[2]->path, a);
	ASSERT_EQ(p.rules[0]->target, POLICY_TARGET_DENY);
	ASSERT_NULL(p.dirs);
	ASSERT_TRUE(p.loaded_usec > 0);
	saved = p;

	/* A missing file fails them all, and the struct is left alone. */
	ASSERT_ERROR(policy_load_files((char *const[]){ a, missing, b, NULL }, &p, &err), EINVAL);
	ASSERT_TRUE(memcmp(&p, &saved, sizeof(p)) == 0);
	msg = policy_error_format(&err);
	ASSERT_TRUE(asprintf(&expected, "%s: No such file or directory", missing) > 0);
	ASSERT_STREQ(msg, expected);
	policy_done(&p);

	/* None: an empty policy. */
	ASSERT_OK(policy_load_files((char *const[]){ NULL }, &p, &err));
	ASSERT_EQ(p.n_rules, 0);
	tmpdir_remove();
}

TEST(rule_load)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = NULL;
	_cleanup_(policy_error_done) struct policy_error err = {};
	_cleanup_free_ char *path = NULL, *msg = NULL, *expected = NULL, *text = NULL;
	const char rule[] = MATCH_ANY ASSIGN_VFIO;

	tmpdir_new();
	path = tmp_path("big.policy");

	/* POLICY_FILE_MAX bytes are fine, one more is not. */
	text = malloc(POLICY_FILE_MAX + 1);
	ASSERT_NOT_NULL(text);
	memset(text, '#', POLICY_FILE_MAX + 1);
	memcpy(text, rule, STRLEN(rule));
	for (size_t i = STRLEN(rule) + 100; i <= POLICY_FILE_MAX; i += 100)
		text[i] = '\n';
	write_bytes(path, text, POLICY_FILE_MAX);
	ASSERT_OK(policy_rule_load(path, &r, &err));
	ASSERT_STREQ(r->name, "big.policy");
	ASSERT_STREQ(r->path, path);
	r = policy_rule_free(r);

	write_bytes(path, text, POLICY_FILE_MAX + 1);
	ASSERT_ERROR(policy_rule_load(path, &r, &err), EINVAL);
	ASSERT_NULL(r);
	msg = policy_error_format(&err);
	ASSERT_TRUE(asprintf(&expected, "%s: larger than 65536 bytes", path) > 0);
	ASSERT_STREQ(msg, expected);
	msg = mfree(msg);

	/* A device is not a file (and reading /dev/null is harmless). */
	ASSERT_ERROR(policy_rule_load("/dev/null", &r, &err), EINVAL);
	msg = policy_error_format(&err);
	ASSERT_STREQ(msg, "/dev/null: not a regular file");
	msg = mfree(msg);

	/* A relative path without a directory is its own name. */
	ASSERT_OK(chdir(tmpdir));
	write_rule("rel.policy", "1:1", "host");
	ASSERT_OK(policy_rule_load("rel.policy", &r, &err));
	ASSERT_STREQ(r->name, "rel.policy");
	ASSERT_STREQ(r->path, "rel.policy");
	tmpdir_remove();
}

/* --- matching ------------------------------------------------------------------------------ */

static char drv_nvidia[] = "nvidia", drv_vfio[] = "vfio-pci", drv_ixgbe[] = "ixgbe",
	    drv_ixgbevf[] = "ixgbevf", pf_addr[] = "0000:3b:00.0";

/* A GPU with a subsystem, on its driver, in IOMMU group 12 on NUMA node 0. */
static struct pcidev gpu(void)
{
	return (struct pcidev){
		.n_ref = 1,
		.address = "0000:65:00.0",
		.vendor = 0x10de, .device = 0x2204,
		.subsystem_vendor = 0x1043, .subsystem_device = 0x87c1,
		.class = 0x030000, .revision = 0xa1,
		.header = PCI_HEADER_ENDPOINT, .multifunction = 1,
		.driver = drv_nvidia, .iommu_group = 12, .numa_node = 0, .boot_vga = 0,
		.sriov_numvfs = -1, .sriov_totalvfs = -1,
		.link = { .width = -1 }, .max_link = { .width = -1 },
	};
}

/* An SR-IOV NIC: the PF, with 64 VFs possible and 2 enabled. */
static struct pcidev nic_pf(void)
{
	return (struct pcidev){
		.n_ref = 1,
		.address = "0000:3b:00.0",
		.vendor = 0x8086, .device = 0x10fb,
		.subsystem_vendor = 0x8086, .subsystem_device = 0x000c,
		.class = 0x020000,
		.driver = drv_ixgbe, .iommu_group = 30, .numa_node = 1, .boot_vga = -1,
		.sriov_numvfs = 2, .sriov_totalvfs = 64,
		.link = { .width = -1 }, .max_link = { .width = -1 },
	};
}

/* One of its VFs. */
static struct pcidev nic_vf(void)
{
	return (struct pcidev){
		.n_ref = 1,
		.address = "0000:3b:10.0",
		.vendor = 0x8086, .device = 0x10ed,
		.subsystem_vendor = 0x8086, .subsystem_device = 0x000c,
		.class = 0x020000,
		.driver = drv_ixgbevf, .iommu_group = 80, .numa_node = 1, .boot_vga = -1,
		.physfn = pf_addr, .sriov_numvfs = -1, .sriov_totalvfs = -1,
		.link = { .width = -1 }, .max_link = { .width = -1 },
	};
}

/* Whether a rule with these [Match] lines matches d. */
static bool matches(const char *match, const struct pcidev *d)
{
	_cleanup_(policy_rule_freep) struct policy_rule *r = rule_matching(match);

	return policy_rule_matches(r, d);
}

TEST(matches_empty_rule)
{
	struct policy_rule r = {};
	struct pcidev g = gpu(), pf = nic_pf(), vf = nic_vf();

	/* An empty list matches anything (the parser never makes such a rule). */
	ASSERT_TRUE(policy_rule_matches(&r, &g));
	ASSERT_TRUE(policy_rule_matches(&r, &pf));
	ASSERT_TRUE(policy_rule_matches(&r, &vf));
}

TEST(matches_address)
{
	struct pcidev g = gpu(), vf = nic_vf();

	ASSERT_TRUE(matches("Address=0000:65:00.0", &g));
	ASSERT_TRUE(matches("Address=65:00.0", &g));
	ASSERT_TRUE(matches("Address=0000:65:00.*", &g));
	ASSERT_TRUE(matches("Address=0000:6[0-9]:00.?", &g));
	ASSERT_TRUE(matches("Address=*", &g));
	ASSERT_FALSE(matches("Address=0000:65:00.1", &g));
	ASSERT_FALSE(matches("Address=0001:65:00.0", &g));
	ASSERT_FALSE(matches("Address=0000:65:00", &g));	/* globs match the whole address */
	/* Values OR. */
	ASSERT_TRUE(matches("Address=0000:01:00.0 0000:65:00.0", &g));
	ASSERT_FALSE(matches("Address=0000:01:00.0 0000:02:00.0", &g));
	/* Uppercase in a rule matches the kernel's lowercase. */
	ASSERT_TRUE(matches("Address=0000:3B:10.0", &vf));
	ASSERT_TRUE(matches("Address=3B:1?.*", &vf));
	ASSERT_FALSE(matches("Address=0000:3b:10.[1-7]", &vf));
}

TEST(matches_id)
{
	struct pcidev g = gpu();

	ASSERT_TRUE(matches("Id=10de:2204", &g));
	ASSERT_TRUE(matches("Id=10de:*", &g));
	ASSERT_TRUE(matches("Id=0x10DE:0x2204", &g));
	ASSERT_FALSE(matches("Id=10de:2205", &g));
	ASSERT_FALSE(matches("Id=8086:*", &g));
	ASSERT_FALSE(matches("Id=2204:10de", &g));
	ASSERT_TRUE(matches("Id=8086:* 10de:2204", &g));
	ASSERT_FALSE(matches("Id=8086:* 10de:1aef", &g));
}

TEST(matches_subsystem_id)
{
	struct pcidev g = gpu();

	ASSERT_TRUE(matches("SubsystemId=1043:87c1", &g));
	ASSERT_TRUE(matches("SubsystemId=1043:*", &g));
	ASSERT_FALSE(matches("SubsystemId=1043:87c2", &g));
	ASSERT_FALSE(matches("SubsystemId=10de:*", &g));
	ASSERT_TRUE(matches("SubsystemId=10de:* 1043:87c1", &g));

	/* A function without subsystem ids never matches SubsystemId=, not even ffff:ffff. */
	g.subsystem_vendor = -1;
	g.subsystem_device = -1;
	ASSERT_FALSE(matches("SubsystemId=1043:*", &g));
	ASSERT_FALSE(matches("SubsystemId=ffff:ffff", &g));
	ASSERT_FALSE(matches("SubsystemId=ffff:*", &g));
	ASSERT_TRUE(matches("Id=10de:2204", &g));
}

TEST(matches_class)
{
	struct pcidev g = gpu();

	ASSERT_TRUE(matches("Class=0x0300", &g));
	ASSERT_TRUE(matches("Class=030000", &g));
	ASSERT_TRUE(matches("Class=0x030000/0xff0000", &g));
	ASSERT_FALSE(matches("Class=0x0302", &g));
	ASSERT_FALSE(matches("Class=0x030001", &g));
	/* 4 digits leave the programming interface out; 6 do not. */
	g.class = 0x030001;
	ASSERT_TRUE(matches("Class=0x0300", &g));
	ASSERT_FALSE(matches("Class=0x030000", &g));
	/* The whole display class: VGA, XGA, 3D, other. */
	g.class = 0x030200;
	ASSERT_TRUE(matches("Class=0x030000/0xff0000", &g));
	ASSERT_FALSE(matches("Class=0x0300", &g));
	g.class = 0x038000;
	ASSERT_TRUE(matches("Class=0x030000/0xff0000", &g));
	/* Not the GPU's HDMI audio function (multimedia, audio device). */
	g.class = 0x040300;
	ASSERT_FALSE(matches("Class=0x030000/0xff0000", &g));
	ASSERT_TRUE(matches("Class=0x030000/0xff0000 0x0403", &g));
	/* A mask on the programming interface only. */
	g.class = 0x0c0330;
	ASSERT_TRUE(matches("Class=0x000030/0x0000ff", &g));
	ASSERT_TRUE(matches("Class=0x0c0330", &g));
	ASSERT_TRUE(matches("Class=0x0c03", &g));
}

TEST(matches_driver)
{
	struct pcidev g = gpu();

	ASSERT_TRUE(matches("Driver=nvidia", &g));
	ASSERT_FALSE(matches("Driver=nouveau", &g));
	ASSERT_FALSE(matches("Driver=none", &g));
	ASSERT_TRUE(matches("Driver=nouveau nvidia", &g));
	g.driver = drv_vfio;
	ASSERT_TRUE(matches("Driver=vfio-pci none", &g));
	/* "none": unbound. */
	g.driver = NULL;
	ASSERT_TRUE(matches("Driver=none", &g));
	ASSERT_TRUE(matches("Driver=vfio-pci none", &g));
	ASSERT_FALSE(matches("Driver=nvidia", &g));
	ASSERT_FALSE(matches("Driver=vfio-pci", &g));
}

TEST(matches_iommu_group)
{
	struct pcidev g = gpu();

	ASSERT_TRUE(matches("IommuGroup=12", &g));
	ASSERT_TRUE(matches("IommuGroup=1 12", &g));
	ASSERT_FALSE(matches("IommuGroup=13", &g));
	/* Without an IOMMU group nothing matches, not even the group (uint32_t)-1. */
	g.iommu_group = -1;
	ASSERT_FALSE(matches("IommuGroup=12", &g));
	ASSERT_FALSE(matches("IommuGroup=4294967295", &g));
	g.iommu_group = 0;
	ASSERT_TRUE(matches("IommuGroup=0", &g));
}

TEST(matches_numa_node)
{
	struct pcidev g = gpu();

	ASSERT_TRUE(matches("NumaNode=0", &g));
	ASSERT_FALSE(matches("NumaNode=1", &g));
	ASSERT_FALSE(matches("NumaNode=-1", &g));
	/* -1: the kernel does not know (or there is one node). */
	g.numa_node = -1;
	ASSERT_TRUE(matches("NumaNode=-1", &g));
	ASSERT_TRUE(matches("NumaNode=0 -1", &g));
	ASSERT_FALSE(matches("NumaNode=0", &g));
}

TEST(matches_sriov)
{
	struct pcidev g = gpu(), pf = nic_pf(), vf = nic_vf();

	ASSERT_FALSE(matches("Sriov=pf", &g));
	ASSERT_FALSE(matches("Sriov=vf", &g));
	ASSERT_TRUE(matches("Sriov=none", &g));
	ASSERT_TRUE(matches("Sriov=pf", &pf));
	ASSERT_FALSE(matches("Sriov=vf", &pf));
	ASSERT_FALSE(matches("Sriov=none", &pf));
	ASSERT_FALSE(matches("Sriov=pf", &vf));
	ASSERT_TRUE(matches("Sriov=vf", &vf));
	ASSERT_FALSE(matches("Sriov=none", &vf));
	ASSERT_TRUE(matches("Sriov=pf none", &g));
	ASSERT_TRUE(matches("Sriov=pf none", &pf));
	ASSERT_FALSE(matches("Sriov=pf none", &vf));
	/* A PF is one that can have VFs, enabled or not; sriov_totalvfs 0 is none. */
	pf.sriov_numvfs = 0;
	ASSERT_TRUE(matches("Sriov=pf", &pf));
	pf.sriov_totalvfs = 0;
	ASSERT_FALSE(matches("Sriov=pf", &pf));
	ASSERT_TRUE(matches("Sriov=none", &pf));
}

TEST(matches_virtual_function_of)
{
	struct pcidev g = gpu(), pf = nic_pf(), vf = nic_vf();

	ASSERT_TRUE(matches("VirtualFunctionOf=0000:3b:00.0", &vf));
	ASSERT_TRUE(matches("VirtualFunctionOf=3B:00.0", &vf));
	ASSERT_TRUE(matches("VirtualFunctionOf=0000:3b:00.*", &vf));
	ASSERT_TRUE(matches("VirtualFunctionOf=0000:3b:00.1 0000:3b:00.0", &vf));
	ASSERT_FALSE(matches("VirtualFunctionOf=0000:3b:00.1", &vf));
	/* Not the PF itself, nor a function that is no VF. */
	ASSERT_FALSE(matches("VirtualFunctionOf=0000:3b:00.0", &pf));
	ASSERT_FALSE(matches("VirtualFunctionOf=*", &pf));
	ASSERT_FALSE(matches("VirtualFunctionOf=*", &g));
	ASSERT_TRUE(matches("VirtualFunctionOf=*\nSriov=vf", &vf));
}

TEST(matches_keys_and)
{
	static const char *const keys[] = {
		"Address=0000:65:00.0",
		"Id=10de:2204",
		"SubsystemId=1043:87c1",
		"Class=0x0300",
		"Driver=nvidia",
		"IommuGroup=12",
		"NumaNode=0",
		"Sriov=none",
	};
	struct pcidev g = gpu();
	_cleanup_free_ char *all = NULL;

	/* Every key alone, and all of them together, match the GPU ... */
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		char *p = NULL;

		ASSERT_TRUE(matches(keys[i], &g));
		ASSERT_TRUE(asprintf(&p, "%s%s\n", all ?: "", keys[i]) > 0);
		free(all);
		all = p;
	}
	ASSERT_TRUE(matches(all, &g));

	/* ... and a difference in any one attribute is enough to miss. */
	for (unsigned i = 0; i < ELEMENTSOF(keys); i++) {
		struct pcidev d = gpu();

		switch (i) {
		case 0:
			strcpy(d.address, "0000:66:00.0");
			break;
		case 1:
			d.device = 0x2206;
			break;
		case 2:
			d.subsystem_device = 0x87c2;
			break;
		case 3:
			d.class = 0x030200;
			break;
		case 4:
			d.driver = drv_vfio;
			break;
		case 5:
			d.iommu_group = 13;
			break;
		case 6:
			d.numa_node = 1;
			break;
		default:
			d.sriov_totalvfs = 4;
			break;
		}
		ASSERT_FALSE(matches(all, &d));
		ASSERT_FALSE(matches(keys[i], &d));
	}
}

TEST(match_first_wins)
{
	struct policy_rule *rules[] = {
		parse_ok("[Match]\nAddress=0000:65:00.0\n[Assign]\nDriver=deny\n"),
		parse_ok("[Match]\nId=10de:*\nClass=0x030000/0xff0000\n" ASSIGN_VFIO),
		parse_ok("[Match]\nId=10de:*\n[Assign]\nDriver=host\n"),
		parse_ok("[Match]\nVirtualFunctionOf=0000:3b:00.*\n"
			 "[Assign]\nDriver=uio_pci_generic\n"),
	};
	struct policy p = { .rules = rules, .n_rules = ELEMENTSOF(rules) };
	struct pcidev g = gpu(), other = gpu(), audio = gpu(), pf = nic_pf(), vf = nic_vf();

	strcpy(other.address, "0000:17:00.0");
	strcpy(audio.address, "0000:17:00.1");
	audio.class = 0x040300;
	audio.device = 0x1aef;

	ASSERT_TRUE(policy_match(&p, &g) == rules[0]);		/* also matches rules[1] */
	ASSERT_TRUE(policy_match(&p, &other) == rules[1]);	/* also matches rules[2] */
	ASSERT_TRUE(policy_match(&p, &audio) == rules[2]);
	ASSERT_TRUE(policy_match(&p, &vf) == rules[3]);
	ASSERT_NULL(policy_match(&p, &pf));			/* unmatched: no rule */

	/* An empty policy matches nothing. */
	ASSERT_NULL(policy_match(&(struct policy){}, &g));

	for (size_t i = 0; i < ELEMENTSOF(rules); i++)
		policy_rule_free(rules[i]);
}

/* --- pcipassd.conf ------------------------------------------------------------------------- */

/* Loads text as a pcipassd.conf that must be valid. */
static void config_ok(const char *text, struct daemon_config *ret)
{
	_cleanup_(policy_error_done) struct policy_error err = {};
	_cleanup_free_ char *path = tmp_path("pcipassd.conf");

	write_bytes(path, text, strlen(text));
	if (daemon_config_load(path, ret, &err) < 0) {
		_cleanup_free_ char *s = policy_error_format(&err);

		TEST_FAIL("unexpected error: %s\n%s", s, text);
	}
}

/* Loads size bytes of text as a pcipassd.conf that must be rejected; returns the message. */
static char *config_error(const char *text, size_t size)
{
	_cleanup_(policy_error_done) struct policy_error err = {};
	_cleanup_free_ char *path = tmp_path("pcipassd.conf"), *msg = NULL;
	char sentinel[] = "sentinel";
	struct daemon_config c = {
		.socket_group = sentinel, .unmatched = UNMATCHED_DENY, .allow_noiommu = true,
	};
	char *s;

	write_bytes(path, text, size);
	ASSERT_ERROR(daemon_config_load(path, &c, &err), EINVAL);
	ASSERT_TRUE(c.socket_group == sentinel);
	ASSERT_EQ(c.unmatched, UNMATCHED_DENY);
	ASSERT_TRUE(c.allow_noiommu);
	ASSERT_FALSE(c.allow_unsafe_interrupts);
	msg = policy_error_format(&err);
	/* Without the temporary directory's name. */
	ASSERT_NOT_NULL(msg);
	ASSERT_TRUE(strncmp(msg, tmpdir, strlen(tmpdir)) == 0);
	s = strdup(msg + strlen(tmpdir) + 1);
	ASSERT_NOT_NULL(s);
	return s;
}

#define ASSERT_CONFIG_ERROR(text, expected)					\
	do {									\
		_cleanup_free_ char *_m = config_error((text), strlen(text));	\
		ASSERT_STREQ(_m, (expected));					\
	} while (0)

TEST(config_missing_file)
{
	_cleanup_(policy_error_done) struct policy_error err = {};
	_cleanup_free_ char *path = NULL;
	char junk[] = "junk";
	struct daemon_config c = {
		.socket_group = junk, .unmatched = UNMATCHED_DENY, .allow_noiommu = true,
		.allow_unsafe_interrupts = true, .client_buffers = 1,
	};

	tmpdir_new();
	path = tmp_path("no-such.conf");
	ASSERT_OK(daemon_config_load(path, &c, &err));
	ASSERT_NULL(c.socket_group);
	ASSERT_EQ(c.unmatched, UNMATCHED_LEAVE);
	ASSERT_FALSE(c.allow_noiommu);
	ASSERT_FALSE(c.allow_unsafe_interrupts);
	ASSERT_EQ(c.client_buffers, 64ULL << 20);
	ASSERT_NULL(err.reason);
	tmpdir_remove();
}

TEST(config_keys)
{
	_cleanup_(daemon_config_done) struct daemon_config c = {};

	tmpdir_new();
	config_ok("# settings\n"
		  "[Daemon]\n"
		  "SocketGroup=kvm\n"
		  "Unmatched=deny\n"
		  "AllowNoIommu=yes\n"
		  "AllowUnsafeInterrupts=on\n"
		  "ClientBuffers=16M\n", &c);
	ASSERT_STREQ(c.socket_group, "kvm");
	ASSERT_EQ(c.client_buffers, 16ULL << 20);
	ASSERT_EQ(c.unmatched, UNMATCHED_DENY);
	ASSERT_TRUE(c.allow_noiommu);
	ASSERT_TRUE(c.allow_unsafe_interrupts);
	daemon_config_done(&c);
	ASSERT_NULL(c.socket_group);

	config_ok("[Daemon]\r\n"
		  "  Unmatched=leave ; the default\r\n"
		  "AllowNoIommu=False\r\n"
		  "AllowUnsafeInterrupts=0\r\n"
		  "SocketGroup=pci-admins_2\r\n", &c);
	ASSERT_STREQ(c.socket_group, "pci-admins_2");
	ASSERT_EQ(c.unmatched, UNMATCHED_LEAVE);
	ASSERT_FALSE(c.allow_noiommu);
	ASSERT_FALSE(c.allow_unsafe_interrupts);
	ASSERT_EQ(c.client_buffers, 64ULL << 20);
	daemon_config_done(&c);
	config_ok("[Daemon]\nClientBuffers=1048576\n", &c);
	ASSERT_EQ(c.client_buffers, 1ULL << 20);
	config_ok("[Daemon]\nClientBuffers=2G\n", &c);
	ASSERT_EQ(c.client_buffers, 2ULL << 30);
	config_ok("[Daemon]\nClientBuffers=4096K\n", &c);
	ASSERT_EQ(c.client_buffers, 4ULL << 20);
	ASSERT_EQ(c.startup_timeout_usec, 60ULL * 1000000U);
	config_ok("[Daemon]\nStartupTimeout=0\n", &c);
	ASSERT_EQ(c.startup_timeout_usec, 0U);
	config_ok("[Daemon]\nStartupTimeout=120s\n", &c);
	ASSERT_EQ(c.startup_timeout_usec, 120ULL * 1000000U);

	/* Comments only, an empty section, an empty file: the defaults. */
	config_ok("# nothing\n; at all\n", &c);
	ASSERT_NULL(c.socket_group);
	ASSERT_EQ(c.unmatched, UNMATCHED_LEAVE);
	config_ok("[Daemon]\n", &c);
	ASSERT_NULL(c.socket_group);
	config_ok("", &c);
	ASSERT_FALSE(c.allow_noiommu);
	tmpdir_remove();
}

TEST(config_errors)
{
	tmpdir_new();
	ASSERT_CONFIG_ERROR("[Main]\nSocketGroup=kvm\n",
			    "pcipassd.conf:1: unknown section [Main] (expected [Daemon])");
	ASSERT_CONFIG_ERROR("[Daemon]\n[Policy]\n",
			    "pcipassd.conf:2: unknown section [Policy] (expected [Daemon])");
	ASSERT_CONFIG_ERROR("Unmatched=deny\n[Daemon]\n",
			    "pcipassd.conf:1: Unmatched= outside a section (expected [Daemon] first)");
	ASSERT_CONFIG_ERROR("[Daemon]\nSocketgroup=kvm\n",
			    "pcipassd.conf:2: unknown key Socketgroup= in [Daemon]");
	ASSERT_CONFIG_ERROR("[Daemon]\nUnmatched=deny\nUnmatched=leave\n",
			    "pcipassd.conf:3: Unmatched= given twice (first on line 2)");
	ASSERT_CONFIG_ERROR("[Daemon]\nSocketGroup=\n", "pcipassd.conf:2: SocketGroup= is empty");
	ASSERT_CONFIG_ERROR("[Daemon]\nUnmatched=\n", "pcipassd.conf:2: Unmatched= is empty");
	ASSERT_CONFIG_ERROR("[Daemon]\nAllowNoIommu=\n", "pcipassd.conf:2: AllowNoIommu= is empty");
	ASSERT_CONFIG_ERROR("[Daemon]\nAllowUnsafeInterrupts= ; no\n",
			    "pcipassd.conf:2: AllowUnsafeInterrupts= is empty");
	ASSERT_CONFIG_ERROR("[Daemon]\nSocketGroup=kvm libvirt\n",
			    "pcipassd.conf:2: SocketGroup=kvm libvirt: not a group name");
	ASSERT_CONFIG_ERROR("[Daemon]\nUnmatched=block\n",
			    "pcipassd.conf:2: Unmatched=block: expected leave or deny");
	ASSERT_CONFIG_ERROR("[Daemon]\nUnmatched=Deny\n",
			    "pcipassd.conf:2: Unmatched=Deny: expected leave or deny");
	ASSERT_CONFIG_ERROR("[Daemon]\nAllowNoIommu=maybe\n",
			    "pcipassd.conf:2: AllowNoIommu=maybe: expected yes or no");
	ASSERT_CONFIG_ERROR("[Daemon]\nAllowUnsafeInterrupts=2\n",
			    "pcipassd.conf:2: AllowUnsafeInterrupts=2: expected yes or no");
	ASSERT_CONFIG_ERROR("[Daemon]\nClientBuffers=1048575\n",
			    "pcipassd.conf:2: ClientBuffers=1048575: at least 1M");
	ASSERT_CONFIG_ERROR("[Daemon]\nStartupTimeout=1h\n",
			    "pcipassd.conf:2: StartupTimeout=1h: expected seconds, 0 to 3600");
	ASSERT_CONFIG_ERROR("[Daemon]\nStartupTimeout=-1\n",
			    "pcipassd.conf:2: StartupTimeout=-1: expected seconds, 0 to 3600");
	ASSERT_CONFIG_ERROR("[Daemon]\nStartupTimeout=3601\n",
			    "pcipassd.conf:2: StartupTimeout=3601: expected seconds, 0 to 3600");
	ASSERT_CONFIG_ERROR("[Daemon]\nClientBuffers=0\n",
			    "pcipassd.conf:2: ClientBuffers=0: at least 1M");
	ASSERT_CONFIG_ERROR("[Daemon]\nClientBuffers=64MiB\n",
			    "pcipassd.conf:2: ClientBuffers=64MiB: expected a size (bytes, or with K, M or G)");
	ASSERT_CONFIG_ERROR("[Daemon]\nClientBuffers=-1\n",
			    "pcipassd.conf:2: ClientBuffers=-1: expected a size (bytes, or with K, M or G)");
	ASSERT_CONFIG_ERROR("[Daemon]\nClientBuffers=99999999999999G\n",
			    "pcipassd.conf:2: ClientBuffers=99999999999999G: expected a size (bytes, or with K, M or G)");
	ASSERT_CONFIG_ERROR("[Daemon]\nClientBuffers=18446744073709551616\n",
			    "pcipassd.conf:2: ClientBuffers=18446744073709551616: expected a size (bytes, or with K, M or G)");
	ASSERT_CONFIG_ERROR("[Daemon]\nAllowNoIommu\n",
			    "pcipassd.conf:2: expected [Section], Key=Value or a comment");
	ASSERT_CONFIG_ERROR("[Daemon\nAllowNoIommu=yes\n",
			    "pcipassd.conf:1: expected [Section], Key=Value or a comment");
	ASSERT_CONFIG_ERROR("[Daemon] AllowNoIommu=yes\n",
			    "pcipassd.conf:1: text after [Daemon]: a section header stands on a line "
			    "of its own");
	/* The first error counts. */
	ASSERT_CONFIG_ERROR("[Daemon]\nAllowNoIommu=maybe\nfoo\nBar=1\n",
			    "pcipassd.conf:2: AllowNoIommu=maybe: expected yes or no");
	ASSERT_CONFIG_ERROR("[Daemon]\nfoo\nAllowNoIommu=maybe\n",
			    "pcipassd.conf:2: expected [Section], Key=Value or a comment");
	ASSERT_CONFIG_ERROR("[Daemon]\n# 0123456789012345678901234567890123456789"
			    "0123456789012345678901234567890123456789"
			    "0123456789012345678901234567890123456789"
			    "0123456789012345678901234567890123456789"
			    "0123456789012345678901234567890123456789\nfoo\n",
			    "pcipassd.conf:2: line too long (at most 198 characters)");
	tmpdir_remove();
}

TEST(config_not_text)
{
	_cleanup_free_ char *big = malloc(POLICY_FILE_MAX + 1), *msg = NULL;
	static const char nul[] = "[Daemon]\nUnmatched=deny\0\nAllowNoIommu=yes\n";

	tmpdir_new();
	/* A NUL byte would cut a line short (the rest of it unseen): refused, as in rules. */
	msg = config_error(nul, STRLEN(nul));
	ASSERT_STREQ(msg, "pcipassd.conf: contains a NUL byte: not a text file");
	msg = mfree(msg);

	ASSERT_NOT_NULL(big);
	memset(big, '\n', POLICY_FILE_MAX + 1);
	msg = config_error(big, POLICY_FILE_MAX + 1);
	ASSERT_STREQ(msg, "pcipassd.conf: larger than 65536 bytes");
	msg = mfree(msg);

	/* A directory where the file should be. */
	{
		_cleanup_(policy_error_done) struct policy_error err = {};
		_cleanup_free_ char *dir = tmp_path("dir.conf");
		struct daemon_config c = {};

		mkdir_tmp("dir.conf");
		ASSERT_ERROR(daemon_config_load(dir, &c, &err), EINVAL);
		ASSERT_STREQ(err.reason, "not a regular file");
	}
	tmpdir_remove();
}

/* --- the shipped examples ------------------------------------------------------------------ */

/* The source tree: $top_srcdir under "make check", else where the compiler found this file. */
static const char *srcdir(void)
{
	static char buf[PATH_MAX];
	static const char suffix[] = "tests/test-policy.c";
	const char *e = getenv("top_srcdir");
	size_t n = strlen(__FILE__);

	if (!isempty(e))
		return e;
	if (n > STRLEN(suffix) && streq(&__FILE__[n - STRLEN(suffix)], suffix)) {
		snprintf(buf, sizeof(buf), "%.*s", (int)(n - STRLEN(suffix)), __FILE__);
		return buf;
	}
	return ".";
}

TEST(shipped_policy_examples)
{
	_cleanup_(policy_done) struct policy p = {};
	_cleanup_(policy_error_done) struct policy_error err = {};
	_cleanup_free_ char *dir = NULL;
	const struct policy_rule *deny, *gpus, *vfs;
	struct pcidev boot_nic = nic_pf(), g = gpu(), audio = gpu(), pf = nic_pf(), vf = nic_vf(),
		      other_vf = nic_vf();
	int r;

	ASSERT_TRUE(asprintf(&dir, "%s/conf/policy.d", srcdir()) > 0);
	r = policy_load((char *const[]){ dir, NULL }, &p, &err);
	if (r < 0) {
		_cleanup_free_ char *s = policy_error_format(&err);

		TEST_FAIL("%s: %s", dir, s ?: strerror(-r));
	}
	ASSERT_EQ(p.n_rules, 3);
	deny = p.rules[0];
	gpus = p.rules[1];
	vfs = p.rules[2];

	ASSERT_STREQ(deny->name, "10-deny-boot-nic.policy");
	ASSERT_EQ(deny->target, POLICY_TARGET_DENY);
	ASSERT_NULL(deny->driver);
	ASSERT_EQ(strv_length(deny->addresses), 1);
	ASSERT_STREQ(deny->addresses[0], "0000:00:19.0");
	ASSERT_TRUE(deny->pinned);
	ASSERT_EQ(deny->pin.vendor, 0x8086);
	ASSERT_EQ(deny->pin.device, 0x15bc);
	ASSERT_FALSE(deny->force);
	ASSERT_NULL(deny->pool);
	ASSERT_NOT_NULL(deny->description);

	ASSERT_STREQ(gpus->name, "50-gpu-pool.policy");
	ASSERT_EQ(gpus->n_ids, 1);
	ASSERT_EQ(gpus->ids[0].vendor, 0x10de);
	ASSERT_EQ(gpus->ids[0].device, -1);
	ASSERT_EQ(gpus->n_classes, 1);
	ASSERT_EQ(gpus->classes[0].value, 0x030000);
	ASSERT_EQ(gpus->classes[0].mask, 0xff0000);
	ASSERT_EQ(gpus->target, POLICY_TARGET_VFIO);
	ASSERT_STREQ(gpus->driver, "vfio-pci");
	ASSERT_EQ(gpus->group, POLICY_GROUP_CLAIM);
	ASSERT_EQ(gpus->apply, POLICY_APPLY_REQUEST);
	ASSERT_STREQ(gpus->pool, "gpu");
	ASSERT_FALSE(gpus->force);
	ASSERT_FALSE(gpus->pinned);
	ASSERT_NOT_NULL(gpus->description);

	ASSERT_STREQ(vfs->name, "60-nic-vfs-dpdk.policy");
	ASSERT_EQ(strv_length(vfs->vf_of), 1);
	ASSERT_STREQ(vfs->vf_of[0], "0000:3b:00.0");
	ASSERT_EQ(vfs->target, POLICY_TARGET_VFIO);
	ASSERT_STREQ(vfs->driver, "vfio-pci");
	ASSERT_EQ(vfs->apply, POLICY_APPLY_BOOT);
	ASSERT_EQ(vfs->group, POLICY_GROUP_VIABLE);
	ASSERT_NOT_NULL(vfs->description);

	/* What they decide, for the functions their comments talk about. */
	strcpy(boot_nic.address, "0000:00:19.0");
	boot_nic.device = 0x15bc;
	boot_nic.class = 0x020000;
	boot_nic.sriov_totalvfs = -1;
	ASSERT_TRUE(policy_match(&p, &boot_nic) == deny);
	ASSERT_TRUE(policy_match(&p, &g) == gpus);
	g.class = 0x030200;	/* a compute GPU: 3D controller */
	ASSERT_TRUE(policy_match(&p, &g) == gpus);
	audio.address[11] = '1';
	audio.class = 0x040300;
	audio.device = 0x1aef;
	ASSERT_NULL(policy_match(&p, &audio));	/* goes along by Group=claim, not by a match */
	ASSERT_TRUE(policy_match(&p, &vf) == vfs);
	ASSERT_NULL(policy_match(&p, &pf));	/* the PF stays with the host */
	other_vf.physfn = NULL;
	ASSERT_NULL(policy_match(&p, &other_vf));
}

TEST(shipped_daemon_config)
{
	_cleanup_(daemon_config_done) struct daemon_config c = {};
	_cleanup_(policy_error_done) struct policy_error err = {};
	_cleanup_free_ char *path = NULL, *text = NULL, *uncommented = NULL;
	static const char *const shown[] = {
		"\n#SocketGroup=", "\n#Unmatched=leave\n", "\n#AllowNoIommu=no\n",
		"\n#AllowUnsafeInterrupts=no\n",
	};
	size_t size = 0;
	FILE *f;
	int r;

	ASSERT_TRUE(asprintf(&path, "%s/conf/pcipassd.conf", srcdir()) > 0);
	r = daemon_config_load(path, &c, &err);
	if (r < 0) {
		_cleanup_free_ char *s = policy_error_format(&err);

		TEST_FAIL("%s: %s", path, s ?: strerror(-r));
	}
	/* Everything is commented out: the defaults. */
	ASSERT_NULL(c.socket_group);
	ASSERT_EQ(c.unmatched, UNMATCHED_LEAVE);
	ASSERT_FALSE(c.allow_noiommu);
	ASSERT_FALSE(c.allow_unsafe_interrupts);

	/* Every key is shown, with its default ... */
	f = fopen(path, "re");
	ASSERT_NOT_NULL(f);
	text = calloc(1, POLICY_FILE_MAX + 1);
	ASSERT_NOT_NULL(text);
	size = fread(text, 1, POLICY_FILE_MAX, f);
	ASSERT_OK(fclose(f));
	ASSERT_TRUE(size > 0);
	for (size_t i = 0; i < ELEMENTSOF(shown); i++)
		if (!strstr(text, shown[i]))
			TEST_FAIL("%s does not show \"%s\"", path, shown[i] + 1);

	/* ... and it still parses with every "#Key=" line uncommented. */
	uncommented = calloc(1, size + 1);
	ASSERT_NOT_NULL(uncommented);
	for (size_t i = 0, j = 0; i < size; i++) {
		bool line_start = i == 0 || text[i - 1] == '\n';

		if (line_start && text[i] == '#' && i + 1 < size && text[i + 1] >= 'A' &&
		    text[i + 1] <= 'Z' && strchr(text + i, '=') &&
		    strchr(text + i, '=') < strchrnul(text + i, '\n'))
			continue;
		uncommented[j++] = text[i];
	}
	tmpdir_new();
	daemon_config_done(&c);
	config_ok(uncommented, &c);
	ASSERT_NOT_NULL(c.socket_group);
	ASSERT_EQ(c.unmatched, UNMATCHED_LEAVE);
	ASSERT_FALSE(c.allow_noiommu);
	ASSERT_FALSE(c.allow_unsafe_interrupts);
	tmpdir_remove();
}

DEFINE_TEST_MAIN
