/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The planner and the kernel's viability rule, table-driven, on in-memory hosts modelled on
 * real ones: a GPU with its audio function in one group, endpoints behind a PCIe-to-PCI bridge,
 * a group holding a host bridge, an SR-IOV PF with VFs, no IOMMU, the boot VGA, an old kernel.
 * Each case asserts actions, blockers (by code), viability now and after, and the exact writes.
 */
#include "daemon/planner.h"
#include "lib/json-util.h"
#include "tests.h"

struct dev_spec {
	const char *address;
	uint32_t vendor, device, class;
	const char *driver;
	int group;		/* -1: none */
	bool bridge;
	int boot_vga;		/* 0 means -1 (not VGA) unless set_vga */
	const char *override;
	const char *physfn;
	int numvfs, totalvfs;
	const char *reset;	/* reset_method, words; NULL: the attribute is absent */
	const char *parent;	/* the bridge above it; NULL: a root bus */
};

struct rule_spec {
	const char *name, *text;
};

struct host {
	struct model model;
	struct policy policy;
	struct host_facts facts;
	struct daemon_config config;
	struct device_facts dev_facts[8];
	size_t n_dev_facts;
	struct module_fact modules[4];
	size_t n_modules;
	struct plan plan;
};

static char *xstrdup(const char *s)
{
	char *p = s ? strdup(s) : NULL;

	ASSERT_TRUE(!s || p);
	return p;
}

static void model_build(struct model *m, const struct dev_spec *specs, size_t n)
{
	int ids[64];
	size_t n_ids = 0;

	m->devs = new0(struct pcidev *, n);
	ASSERT_NOT_NULL(m->devs);
	for (size_t i = 0; i < n; i++) {
		const struct dev_spec *s = &specs[i];
		struct pcidev *d = new0(struct pcidev, 1);

		ASSERT_NOT_NULL(d);
		*d = (struct pcidev){
			.n_ref = 1, .vendor = s->vendor, .device = s->device, .class = s->class,
			.subsystem_vendor = -1, .subsystem_device = -1, .revision = 0,
			.header = s->bridge ? PCI_HEADER_BRIDGE : PCI_HEADER_ENDPOINT,
			.driver = xstrdup(s->driver), .driver_override = xstrdup(s->override),
			.iommu_group = s->group, .numa_node = -1,
			.boot_vga = (s->class >> 8) == 0x0300 ? s->boot_vga : -1,
			.physfn = xstrdup(s->physfn), .sriov_numvfs = s->totalvfs ? s->numvfs : -1,
			.sriov_totalvfs = s->totalvfs ? s->totalvfs : -1,
			.link = { .width = -1 }, .max_link = { .width = -1 },
		};
		snprintf(d->address, sizeof(d->address), "%s", s->address);
		snprintf(d->parent, sizeof(d->parent), "%s", s->parent ?: "");
		if (s->reset) {
			_cleanup_free_ char *copy = xstrdup(s->reset);
			size_t n_words = 0;
			char *save = NULL;

			d->reset_methods = new0(char *, 1);
			ASSERT_NOT_NULL(d->reset_methods);
			for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
				ASSERT_OK(strv_push(&d->reset_methods, &n_words, xstrdup(w)));
		}
		m->devs[m->n_devs++] = d;
		if (s->group >= 0) {
			bool seen = false;

			for (size_t j = 0; j < n_ids; j++)
				seen = seen || ids[j] == s->group;
			if (!seen)
				ids[n_ids++] = s->group;
		}
	}
	/* Groups sorted by number, members in address order (specs are). */
	for (size_t i = 0; i < n_ids; i++)
		for (size_t j = i + 1; j < n_ids; j++)
			if (ids[j] < ids[i]) {
				int t = ids[i];

				ids[i] = ids[j];
				ids[j] = t;
			}
	m->groups = new0(struct iommu_group, n_ids + 1);
	ASSERT_NOT_NULL(m->groups);
	for (size_t i = 0; i < n_ids; i++) {
		struct iommu_group *g = &m->groups[m->n_groups++];

		g->id = (uint32_t)ids[i];
		g->members = new0(char *, n + 1);
		ASSERT_NOT_NULL(g->members);
		for (size_t j = 0; j < n; j++)
			if (specs[j].group == ids[i])
				g->members[g->n_members++] = xstrdup(specs[j].address);
	}
}

static void policy_build(struct policy *p, const struct rule_spec *rules, size_t n)
{
	p->rules = new0(struct policy_rule *, n + 1);
	ASSERT_NOT_NULL(p->rules);
	for (size_t i = 0; i < n; i++) {
		struct policy_error err = {};
		int r = policy_rule_parse(rules[i].name, rules[i].name, rules[i].text,
					  strlen(rules[i].text), &p->rules[p->n_rules], &err);

		if (r < 0)
			TEST_FAIL("rule %s: %s", rules[i].name, err.reason);
		p->n_rules++;
	}
}

/* A 6.x host with an IOMMU that remaps interrupts; vfio-pci and uio_pci_generic there. */
static void host_init(struct host *h, const struct dev_spec *devs, size_t n_devs,
		      const struct rule_spec *rules, size_t n_rules)
{
	static char unit[] = "dmar0", none[] = "none", kernel[] = "6.1.0-56-amd64";
	static char *units[] = { unit, NULL };

	*h = (struct host){};
	model_build(&h->model, devs, n_devs);
	policy_build(&h->policy, rules, n_rules);
	h->facts = (struct host_facts){
		.iommu_units = units, .n_iommu_units = 1, .lockdown = none,
		.noiommu = -1, .kernel = kernel, .dma_ownership = true,
		.interrupt_remapping = 1, .unsafe_interrupts = -1,
	};
	h->modules[h->n_modules++] = (struct module_fact){ "vfio-pci", 1 };
	h->modules[h->n_modules++] = (struct module_fact){ "uio_pci_generic", 1 };
}

static void add_facts(struct host *h, struct device_facts f)
{
	/* Callers add them in address order, as the gatherer sorts them. */
	h->dev_facts[h->n_dev_facts++] = f;
}

static void host_plan(struct host *h, const char *only)
{
	struct plan_env env = {
		.policy = &h->policy, .model = &h->model, .host = &h->facts, .config = &h->config,
		.facts = h->dev_facts, .n_facts = h->n_dev_facts,
		.modules = h->modules, .n_modules = h->n_modules,
	};
	_cleanup_json_ json_object *j = NULL;

	ASSERT_OK(plan_build(&env, only, &h->plan));
	/* Every plan must also serialize. */
	ASSERT_OK(plan_to_json(&h->plan, &j));
}

static void host_done(struct host *h)
{
	plan_done(&h->plan);
	model_done(&h->model);
	policy_done(&h->policy);
}

static const struct plan_group *group_of(const struct host *h, const char *address)
{
	for (size_t i = 0; i < h->plan.n_groups; i++)
		for (size_t j = 0; j < h->plan.groups[i].n_members; j++)
			if (streq(h->plan.groups[i].members[j].address, address))
				return &h->plan.groups[i];
	TEST_FAIL("%s is not in the plan", address);
}

static const struct plan_member *member(const struct host *h, const char *address)
{
	const struct plan_group *g = group_of(h, address);

	for (size_t j = 0; j < g->n_members; j++)
		if (streq(g->members[j].address, address))
			return &g->members[j];
	return NULL;
}

/* "code1 code2" of a member's (or a group's) blockers. */
static const char *codes(const struct plan_blocker *b, size_t n)
{
	static char buf[512];
	size_t k = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n; i++)
		k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%s", k ? " " : "", b[i].code);
	return buf;
}
#define MEMBER_CODES(h, a) codes(member(h, a)->blockers, member(h, a)->n_blockers)
#define GROUP_CODES(h, a) codes(group_of(h, a)->blockers, group_of(h, a)->n_blockers)

/* The member's steps as "load vfio-pci; PATH=VALUE; …". */
static const char *steps(const struct host *h, const char *address)
{
	static char buf[2048];
	const struct plan_member *m = member(h, address);
	size_t k = 0;

	buf[0] = 0;
	for (size_t i = 0; i < m->n_steps; i++) {
		const struct plan_step *s = &m->steps[i];

		if (s->op == PLAN_STEP_LOAD_MODULE)
			k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%sload %s", k ? "; " : "",
					      s->value);
		else
			k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%s=%s", k ? "; " : "",
					      s->path, streq(s->value, "\n") ? "\\n" : s->value);
	}
	return buf;
}

#define ACTION(h, a) plan_action_to_string(member(h, a)->action)

/* --- a GPU and its HDMI audio function in one group --------------------------------------- */

static const struct dev_spec gpu_host[] = {
	{ "0000:00:01.0", 0x8086, 0x1901, 0x060400, "pcieport", 1, .bridge = true },
	{ "0000:01:00.0", 0x10de, 0x2204, 0x030000, "nouveau", 2 },
	{ "0000:01:00.1", 0x10de, 0x1aef, 0x040300, "snd_hda_intel", 2 },
	{ "0000:02:00.0", 0x8086, 0x10d3, 0x020000, "e1000e", 3 },
};

#define GPU_RULE(group) { "50-gpu.policy", "[Match]\nClass=0x030000/0xff0000\nId=10de:*\n" \
				"[Assign]\nDriver=vfio-pci\nGroup=" group "\nPool=gpu\n" }

TEST(gpu_group_viable_blocks_on_audio_function)
{
	struct host h;

	host_init(&h, gpu_host, ELEMENTSOF(gpu_host), (struct rule_spec[]){ GPU_RULE("viable") }, 1);
	host_plan(&h, NULL);
	ASSERT_STREQ(ACTION(&h, "0000:01:00.0"), "bind");
	ASSERT_STREQ(ACTION(&h, "0000:01:00.1"), "leave");
	ASSERT_STREQ(GROUP_CODES(&h, "0000:01:00.0"), "group-not-viable");
	ASSERT_TRUE(strstr(group_of(&h, "0000:01:00.0")->blockers[0].message,
			   "0000:01:00.1 is bound to snd_hda_intel"));
	ASSERT_FALSE(group_of(&h, "0000:01:00.0")->viable_now);
	ASSERT_FALSE(group_of(&h, "0000:01:00.0")->viable_after);
	ASSERT_TRUE(group_of(&h, "0000:01:00.0")->blocked);
	ASSERT_STREQ(steps(&h, "0000:01:00.0"), "");	/* a blocked group is not touched */
	/* Groups no rule touches are left alone. */
	ASSERT_STREQ(ACTION(&h, "0000:02:00.0"), "leave");
	ASSERT_FALSE(group_of(&h, "0000:02:00.0")->acts);
	host_done(&h);
}

TEST(gpu_group_claim_moves_audio_along)
{
	struct host h;

	host_init(&h, gpu_host, ELEMENTSOF(gpu_host), (struct rule_spec[]){ GPU_RULE("claim") }, 1);
	host_plan(&h, "0000:01:00.0");
	ASSERT_EQ(h.plan.n_groups, 1);
	ASSERT_EQ(h.plan.groups[0].id, 2);
	ASSERT_STREQ(ACTION(&h, "0000:01:00.1"), "bind");
	ASSERT_TRUE(member(&h, "0000:01:00.1")->companion);
	ASSERT_STREQ(member(&h, "0000:01:00.1")->target, "vfio-pci");
	ASSERT_FALSE(h.plan.groups[0].blocked);
	ASSERT_TRUE(h.plan.groups[0].viable_after);
	ASSERT_STREQ(steps(&h, "0000:01:00.0"),
		     "load vfio-pci; "
		     "bus/pci/devices/0000:01:00.0/driver_override=vfio-pci; "
		     "bus/pci/drivers/nouveau/unbind=0000:01:00.0; "
		     "bus/pci/drivers_probe=0000:01:00.0");
	ASSERT_STREQ(steps(&h, "0000:01:00.1"),
		     "bus/pci/devices/0000:01:00.1/driver_override=vfio-pci; "
		     "bus/pci/drivers/snd_hda_intel/unbind=0000:01:00.1; "
		     "bus/pci/drivers_probe=0000:01:00.1");
	host_done(&h);
}

TEST(gpu_group_any_accepts_non_viable)
{
	struct host h;

	host_init(&h, gpu_host, ELEMENTSOF(gpu_host), (struct rule_spec[]){ GPU_RULE("any") }, 1);
	host_plan(&h, "0000:01:00.1");
	ASSERT_FALSE(h.plan.groups[0].blocked);
	ASSERT_FALSE(h.plan.groups[0].viable_after);
	ASSERT_STREQ(h.plan.groups[0].not_viable_after, "0000:01:00.1 is bound to snd_hda_intel");
	ASSERT_STREQ(ACTION(&h, "0000:01:00.1"), "leave");
	ASSERT_STREQ(steps(&h, "0000:01:00.1"), "");
	ASSERT_TRUE(strstr(steps(&h, "0000:01:00.0"), "driver_override=vfio-pci"));
	host_done(&h);
}

TEST(gpu_already_claimed_is_kept)
{
	static const struct dev_spec devs[] = {
		{ "0000:01:00.0", 0x10de, 0x2204, 0x030000, "vfio-pci", 2, .override = "vfio-pci" },
		{ "0000:01:00.1", 0x10de, 0x1aef, 0x040300, "vfio-pci", 2, .override = "vfio-pci" },
	};
	struct host h;

	host_init(&h, devs, ELEMENTSOF(devs), (struct rule_spec[]){ GPU_RULE("claim") }, 1);
	host_plan(&h, NULL);
	ASSERT_STREQ(ACTION(&h, "0000:01:00.0"), "keep");
	ASSERT_STREQ(ACTION(&h, "0000:01:00.1"), "keep");
	ASSERT_TRUE(h.plan.groups[0].viable_now);
	ASSERT_FALSE(h.plan.groups[0].acts);
	ASSERT_STREQ(steps(&h, "0000:01:00.0"), "");
	host_done(&h);
}

TEST(companion_with_its_own_deny_rule_conflicts)
{
	struct host h;

	host_init(&h, gpu_host, ELEMENTSOF(gpu_host), (struct rule_spec[]){
			{ "10-audio.policy", "[Match]\nAddress=0000:01:00.1\n[Assign]\nDriver=deny\n" },
			GPU_RULE("claim") }, 2);
	host_plan(&h, NULL);
	ASSERT_STREQ(ACTION(&h, "0000:01:00.1"), "deny");
	ASSERT_STREQ(GROUP_CODES(&h, "0000:01:00.0"), "companion-conflict group-not-viable");
	ASSERT_TRUE(group_of(&h, "0000:01:00.0")->blocked);
	host_done(&h);
}

/* --- the boot VGA and the other safety guards ---------------------------------------------- */

TEST(boot_vga_is_refused_unless_forced)
{
	static const struct dev_spec devs[] = {
		{ "0000:00:02.0", 0x8086, 0x3e92, 0x030000, "i915", 0, .boot_vga = 1 },
	};
	struct host h;

	host_init(&h, devs, ELEMENTSOF(devs), (struct rule_spec[]){ { "50-igpu.policy",
			"[Match]\nAddress=0000:00:02.0\n[Assign]\nDriver=vfio-pci\n" } }, 1);
	host_plan(&h, NULL);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:00:02.0"), "boot-vga");
	ASSERT_TRUE(member(&h, "0000:00:02.0")->blockers[0].forceable);
	ASSERT_TRUE(h.plan.groups[0].blocked);
	host_done(&h);

	host_init(&h, devs, ELEMENTSOF(devs), (struct rule_spec[]){ { "50-igpu.policy",
			"[Match]\nAddress=0000:00:02.0\n[Assign]\nDriver=vfio-pci\nForce=yes\n" } }, 1);
	host_plan(&h, NULL);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:00:02.0"), "boot-vga");	/* still said */
	ASSERT_TRUE(member(&h, "0000:00:02.0")->forced);
	ASSERT_FALSE(h.plan.groups[0].blocked);
	ASSERT_STREQ(steps(&h, "0000:00:02.0"),
		     "load vfio-pci; bus/pci/devices/0000:00:02.0/driver_override=vfio-pci; "
		     "bus/pci/drivers/i915/unbind=0000:00:02.0; bus/pci/drivers_probe=0000:00:02.0");
	host_done(&h);
}

TEST(disk_nic_and_open_nodes_are_guarded)
{
	static const struct dev_spec devs[] = {
		{ "0000:03:00.0", 0x144d, 0xa808, 0x010802, "nvme", 4 },
		{ "0000:04:00.0", 0x8086, 0x1533, 0x020000, "igb", 5 },
		{ "0000:05:00.0", 0x1002, 0x73bf, 0x030000, "amdgpu", 6 },
	};
	struct host h;

	host_init(&h, devs, ELEMENTSOF(devs), (struct rule_spec[]){ { "50-all.policy",
			"[Match]\nAddress=0000:0*:00.0\n[Assign]\nDriver=vfio-pci\n" } }, 1);
	add_facts(&h, (struct device_facts){ .address = "0000:03:00.0",
		  .block_in_use = (char[]){ "nvme0n1p2 mounted on /" }, .intx_maskable = 1 });
	add_facts(&h, (struct device_facts){ .address = "0000:04:00.0",
		  .net_in_use = (char[]){ "eno1, a port of vmbr0 which carries 192.0.2.10/24" },
		  .intx_maskable = 1 });
	add_facts(&h, (struct device_facts){ .address = "0000:05:00.0",
		  .open_by = (char[]){ "/dev/dri/card1 open by pid 812 (Xorg)" }, .intx_maskable = 1 });
	host_plan(&h, NULL);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:03:00.0"), "block-in-use");
	ASSERT_STREQ(member(&h, "0000:03:00.0")->blockers[0].message,
		     "0000:03:00.0 serves nvme0n1p2 mounted on /");
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:04:00.0"), "net-in-use");
	ASSERT_STREQ(member(&h, "0000:04:00.0")->blockers[0].message,
		     "0000:04:00.0 is eno1, a port of vmbr0 which carries 192.0.2.10/24");
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:05:00.0"), "device-open");
	for (size_t i = 0; i < h.plan.n_groups; i++)
		ASSERT_TRUE(h.plan.groups[i].blocked);
	host_done(&h);
}

/* --- bridges ----------------------------------------------------------------------------- */

/* Two conventional PCI NICs behind a PCIe-to-PCI bridge: the bridge masks their requester IDs,
 * so all three share a group. */
static const struct dev_spec bridged_host[] = {
	{ "0000:00:1e.0", 0x8086, 0x244e, 0x060401, NULL, 7, .bridge = true },
	{ "0000:05:01.0", 0x8086, 0x100e, 0x020000, "e1000", 7 },
	{ "0000:05:02.0", 0x8086, 0x100e, 0x020000, "e1000", 7 },
};

TEST(behind_pci_bridge_claim_leaves_the_bridge)
{
	struct host h;

	host_init(&h, bridged_host, ELEMENTSOF(bridged_host), (struct rule_spec[]){
			{ "50-nic.policy", "[Match]\nAddress=0000:05:01.0\n[Assign]\nDriver=vfio-pci\n"
					   "Group=claim\n" } }, 1);
	host_plan(&h, NULL);
	ASSERT_STREQ(ACTION(&h, "0000:00:1e.0"), "leave");
	ASSERT_STREQ(ACTION(&h, "0000:05:02.0"), "bind");
	ASSERT_TRUE(member(&h, "0000:05:02.0")->companion);
	ASSERT_TRUE(group_of(&h, "0000:05:01.0")->viable_after);
	ASSERT_FALSE(group_of(&h, "0000:05:01.0")->blocked);
	/* The module is loaded once per group, before the first bind. */
	ASSERT_TRUE(strncmp(steps(&h, "0000:05:01.0"), "load vfio-pci; ", 15) == 0);
	ASSERT_TRUE(strncmp(steps(&h, "0000:05:02.0"), "bus/pci/devices/", 16) == 0);
	host_done(&h);
}

TEST(bridge_itself_cannot_go_to_vfio)
{
	struct host h;

	host_init(&h, bridged_host, ELEMENTSOF(bridged_host), (struct rule_spec[]){
			{ "50-br.policy", "[Match]\nAddress=0000:00:1e.0\n[Assign]\nDriver=vfio-pci\n"
					  "Group=any\n" } }, 1);
	host_plan(&h, NULL);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:00:1e.0"), "bridge");
	host_done(&h);
}

TEST(host_bridge_bound_in_group_blocks_claim)
{
	static const struct dev_spec devs[] = {
		{ "0000:00:00.0", 0x1022, 0x1480, 0x060000, "amd64_edac", 0 },
		{ "0000:00:00.2", 0x1022, 0x1481, 0x080600, NULL, 0 },
	};
	struct host h;

	host_init(&h, devs, ELEMENTSOF(devs), (struct rule_spec[]){ { "50-iommu.policy",
			"[Match]\nAddress=0000:00:00.2\n[Assign]\nDriver=vfio-pci\nGroup=claim\n" } }, 1);
	host_plan(&h, NULL);
	ASSERT_STREQ(GROUP_CODES(&h, "0000:00:00.2"), "host-bridge group-not-viable");
	ASSERT_STREQ(ACTION(&h, "0000:00:00.0"), "leave");
	ASSERT_STREQ(group_of(&h, "0000:00:00.2")->not_viable_after,
		     "0000:00:00.0 is bound to amd64_edac");
	host_done(&h);
}

/* --- the kernel's rule, old and new -------------------------------------------------------- */

static const char *driver_field(const struct pcidev *d, void *userdata)
{
	return d->driver;
}

TEST(viability_rules_old_and_new_kernel)
{
	static const struct {
		const char *bridge_driver, *endpoint_driver;
		bool viable_new, viable_old;
	} cases[] = {
		{ NULL, NULL, true, true },
		{ NULL, "vfio-pci", true, true },
		{ NULL, "mlx5_vfio_pci", true, true },	/* a variant driver */
		{ NULL, "pci-stub", true, true },
		{ NULL, "e1000", false, false },
		{ "pcieport", "vfio-pci", true, true },
		{ "shpchp", "vfio-pci", false, true },	/* old rule: bridges never count */
		{ "shpchp", NULL, false, true },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		const struct dev_spec devs[] = {
			{ "0000:00:1e.0", 0x8086, 0x244e, 0x060401, cases[i].bridge_driver, 7,
			  .bridge = true },
			{ "0000:05:01.0", 0x8086, 0x100e, 0x020000, cases[i].endpoint_driver, 7 },
		};
		struct model m = {};
		char *why = NULL;

		model_build(&m, devs, ELEMENTSOF(devs));
		printf("# bridge %s, endpoint %s\n", cases[i].bridge_driver ?: "-",
		       cases[i].endpoint_driver ?: "-");
		ASSERT_EQ(group_viable(&m, &m.groups[0], true, driver_field, NULL, &why),
			  cases[i].viable_new);
		ASSERT_EQ(!why, cases[i].viable_new);
		free(why);
		why = NULL;
		ASSERT_EQ(group_viable(&m, &m.groups[0], false, driver_field, NULL, &why),
			  cases[i].viable_old);
		free(why);
		model_done(&m);
	}
}

TEST(old_kernel_plan_and_readiness)
{
	struct host h;
	struct readiness_problem *p = NULL;
	size_t n = 0;

	host_init(&h, bridged_host, ELEMENTSOF(bridged_host), (struct rule_spec[]){
			{ "50-nic.policy", "[Match]\nAddress=0000:05:0*.0\n[Assign]\nDriver=vfio-pci\n" } }, 1);
	h.facts.kernel = (char[]){ "5.10.0-30-amd64" };
	h.facts.dma_ownership = false;
	host_plan(&h, NULL);
	ASSERT_TRUE(group_of(&h, "0000:05:01.0")->viable_after);
	ASSERT_FALSE(group_of(&h, "0000:05:01.0")->blocked);
	ASSERT_OK(host_readiness(&h.facts, &h.config, &p, &n));
	ASSERT_EQ(n, 1);
	ASSERT_STREQ(p[0].code, "old-kernel");
	readiness_free(p, n);
	host_done(&h);
}

/* --- SR-IOV -------------------------------------------------------------------------------- */

static const struct dev_spec sriov_host[] = {
	{ "0000:3b:00.0", 0x15b3, 0x1017, 0x020000, "mlx5_core", 20, .numvfs = 2, .totalvfs = 8 },
	{ "0000:3b:00.2", 0x15b3, 0x1018, 0x020000, "mlx5_core", 21, .physfn = "0000:3b:00.0" },
	{ "0000:3b:00.3", 0x15b3, 0x1018, 0x020000, NULL, 22, .physfn = "0000:3b:00.0" },
};

TEST(vfs_of_a_pf_go_to_vfio_the_pf_cannot)
{
	struct host h;

	host_init(&h, sriov_host, ELEMENTSOF(sriov_host), (struct rule_spec[]){
			{ "60-vfs.policy", "[Match]\nVirtualFunctionOf=0000:3b:00.0\n[Assign]\n"
					   "Driver=vfio-pci\n" },
			{ "70-pf.policy", "[Match]\nSriov=pf\n[Assign]\nDriver=vfio-pci\n" } }, 2);
	host_plan(&h, NULL);
	ASSERT_STREQ(ACTION(&h, "0000:3b:00.2"), "bind");
	ASSERT_STREQ(member(&h, "0000:3b:00.2")->rule->name, "60-vfs.policy");
	ASSERT_STREQ(steps(&h, "0000:3b:00.3"),	/* unbound: nothing to unbind */
		     "load vfio-pci; bus/pci/devices/0000:3b:00.3/driver_override=vfio-pci; "
		     "bus/pci/drivers_probe=0000:3b:00.3");
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:3b:00.0"), "pf-with-vfs");
	host_done(&h);
}

/* --- host readiness ------------------------------------------------------------------------ */

TEST(no_iommu_host)
{
	static const struct dev_spec devs[] = {
		{ "0000:00:03.0", 0x1af4, 0x1041, 0x020000, "virtio-pci", -1 },
	};
	struct host h;
	struct readiness_problem *p = NULL;
	size_t n = 0;

	host_init(&h, devs, ELEMENTSOF(devs), (struct rule_spec[]){ { "50-nic.policy",
			"[Match]\nId=1af4:1041\n[Assign]\nDriver=vfio-pci\n" } }, 1);
	h.facts.n_iommu_units = 0;
	h.facts.interrupt_remapping = -1;
	host_plan(&h, NULL);
	ASSERT_EQ(h.plan.n_groups, 1);
	ASSERT_EQ(h.plan.groups[0].id, -1);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:00:03.0"), "no-iommu");
	ASSERT_OK(host_readiness(&h.facts, &h.config, &p, &n));
	ASSERT_EQ(n, 1);
	ASSERT_STREQ(p[0].code, "no-iommu");
	ASSERT_TRUE(strstr(p[0].remedy, "intel_iommu=on"));
	readiness_free(p, n);
	plan_done(&h.plan);

	/* Allowed, but the mode is off; then on. */
	h.config.allow_noiommu = true;
	host_plan(&h, NULL);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:00:03.0"), "noiommu-off");
	plan_done(&h.plan);
	h.facts.noiommu = 1;
	host_plan(&h, NULL);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:00:03.0"), "");
	ASSERT_FALSE(h.plan.groups[0].blocked);
	ASSERT_OK(host_readiness(&h.facts, &h.config, &p, &n));
	ASSERT_EQ(n, 2);
	ASSERT_STREQ(p[0].code, "no-iommu");
	ASSERT_STREQ(p[1].code, "noiommu-on");
	readiness_free(p, n);
	host_done(&h);
}

TEST(no_interrupt_remapping)
{
	struct host h;
	struct readiness_problem *p = NULL;
	size_t n = 0;

	host_init(&h, gpu_host, ELEMENTSOF(gpu_host), (struct rule_spec[]){ GPU_RULE("claim") }, 1);
	h.facts.interrupt_remapping = 0;
	host_plan(&h, NULL);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:01:00.0"), "no-interrupt-remapping");
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:01:00.1"), "no-interrupt-remapping");
	ASSERT_OK(host_readiness(&h.facts, &h.config, &p, &n));
	ASSERT_EQ(n, 1);
	ASSERT_STREQ(p[0].code, "no-interrupt-remapping");
	readiness_free(p, n);
	plan_done(&h.plan);
	h.config.allow_unsafe_interrupts = true;
	host_plan(&h, NULL);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:01:00.0"), "");	/* the module not loaded yet */
	plan_done(&h.plan);
	h.facts.unsafe_interrupts = 0;	/* loaded, its option off: vfio would refuse */
	host_plan(&h, NULL);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:01:00.0"), "unsafe-interrupts-off");
	plan_done(&h.plan);
	h.facts.unsafe_interrupts = 1;
	host_plan(&h, NULL);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:01:00.0"), "");
	host_done(&h);
}

TEST(uio_under_lockdown_unmaskable_or_missing)
{
	static const struct dev_spec devs[] = {
		{ "0000:06:00.0", 0x8086, 0x1521, 0x020000, "igb", 30 },
	};
	static const struct rule_spec rule[] = { { "60-dpdk.policy",
		"[Match]\nId=8086:1521\n[Assign]\nDriver=uio_pci_generic\n" } };
	struct host h;
	struct readiness_problem *p = NULL;
	size_t n = 0;

	host_init(&h, devs, ELEMENTSOF(devs), rule, 1);
	h.facts.lockdown = (char[]){ "integrity" };
	add_facts(&h, (struct device_facts){ .address = "0000:06:00.0", .intx_maskable = 0 });
	h.modules[1].available = 0;
	host_plan(&h, NULL);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:06:00.0"), "lockdown intx-unmaskable module-missing");
	ASSERT_OK(host_readiness(&h.facts, &h.config, &p, &n));
	ASSERT_EQ(n, 1);
	ASSERT_STREQ(p[0].code, "lockdown");
	readiness_free(p, n);
	host_done(&h);

	/* The same device on a host without those problems: bound to uio, no group needed. */
	host_init(&h, devs, ELEMENTSOF(devs), rule, 1);
	host_plan(&h, NULL);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:06:00.0"), "");
	ASSERT_STREQ(steps(&h, "0000:06:00.0"),
		     "load uio_pci_generic; "
		     "bus/pci/devices/0000:06:00.0/driver_override=uio_pci_generic; "
		     "bus/pci/drivers/igb/unbind=0000:06:00.0; bus/pci/drivers_probe=0000:06:00.0");
	host_done(&h);
}

/* --- release, deny, pinning, unmatched ------------------------------------------------------ */

TEST(release_back_to_the_host)
{
	static const struct dev_spec devs[] = {
		{ "0000:02:00.0", 0x8086, 0x10d3, 0x020000, "vfio-pci", 3, .override = "vfio-pci" },
	};
	static const struct rule_spec rule[] = { { "50-host.policy",
		"[Match]\nAddress=0000:02:00.0\n[Assign]\nDriver=host\n" } };
	struct host h;

	host_init(&h, devs, ELEMENTSOF(devs), rule, 1);
	host_plan(&h, NULL);
	ASSERT_STREQ(ACTION(&h, "0000:02:00.0"), "release");
	ASSERT_NULL(member(&h, "0000:02:00.0")->target);
	ASSERT_STREQ(steps(&h, "0000:02:00.0"),
		     "bus/pci/devices/0000:02:00.0/driver_override=\\n; "
		     "bus/pci/drivers/vfio-pci/unbind=0000:02:00.0; bus/pci/drivers_probe=0000:02:00.0");
	ASSERT_FALSE(h.plan.groups[0].viable_after);
	host_done(&h);

	/* A VM holds the group: unbinding would hang in the kernel, and Force does not help. */
	host_init(&h, devs, ELEMENTSOF(devs), rule, 1);
	add_facts(&h, (struct device_facts){ .address = "0000:02:00.0",
		  .open_by = (char[]){ "/dev/vfio/3 open by pid 4242 (qemu-system-x86)" } });
	host_plan(&h, NULL);
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:02:00.0"), "device-open");
	ASSERT_FALSE(member(&h, "0000:02:00.0")->blockers[0].forceable);
	ASSERT_STREQ(steps(&h, "0000:02:00.0"), "");
	host_done(&h);
}

TEST(deny_pin_and_unmatched)
{
	static const struct dev_spec devs[] = {
		{ "0000:02:00.0", 0x8086, 0x10d3, 0x020000, "e1000e", 3 },
		{ "0000:03:00.0", 0x8086, 0x1533, 0x020000, "igb", 4 },
		{ "0000:04:00.0", 0x8086, 0x1533, 0x020000, "igb", 5 },
	};
	struct host h;

	host_init(&h, devs, ELEMENTSOF(devs), (struct rule_spec[]){
			{ "10-boot-nic.policy", "[Match]\nAddress=0000:02:00.0\n[Assign]\nDriver=deny\n" },
			{ "20-pinned.policy", "[Match]\nAddress=0000:03:00.0\n[Assign]\nDriver=vfio-pci\n"
					      "PinId=8086:10fb\n" } }, 2);
	host_plan(&h, NULL);
	ASSERT_STREQ(ACTION(&h, "0000:02:00.0"), "deny");
	ASSERT_STREQ(steps(&h, "0000:02:00.0"), "");
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:03:00.0"), "pin-mismatch");
	ASSERT_STREQ(member(&h, "0000:03:00.0")->blockers[0].message,
		     "0000:03:00.0 holds 8086:1533, but the rule pins 8086:10fb there: the hardware moved");
	ASSERT_STREQ(ACTION(&h, "0000:04:00.0"), "leave");
	ASSERT_NULL(member(&h, "0000:04:00.0")->rule);
	host_done(&h);
}

/* How each function given to a VM is reset: warnings, never blockers. */
TEST(reset_warnings)
{
	static const struct dev_spec devs[] = {
		{ "0000:00:01.0", 0x8086, 0x1901, 0x060400, "pcieport", 1, .bridge = true,
		  .reset = "bus" },
		{ "0000:01:00.0", 0x8086, 0x10d3, 0x020000, "e1000e", 2, .reset = "flr bus",
		  .parent = "0000:00:01.0" },
		{ "0000:01:00.1", 0x8086, 0x10d3, 0x020000, "e1000e", 3, .reset = "bus",
		  .parent = "0000:00:01.0" },
		{ "0000:02:00.0", 0x8086, 0x10d3, 0x020000, "e1000e", 4, .reset = "bus",
		  .parent = "0000:00:02.0" },
		{ "0000:03:00.0", 0x8086, 0x10d3, 0x020000, "e1000e", 5 },
		{ "0000:04:00.0", 0x8086, 0x10d3, 0x020000, "e1000e", 6, .reset = "pm" },
	};
	struct host h;

	host_init(&h, devs, ELEMENTSOF(devs), (struct rule_spec[]){
			{ "50-nics.policy", "[Match]\nAddress=0000:0[1-4]:00.*\n[Assign]\nDriver=vfio-pci\n" } }, 1);
	host_plan(&h, NULL);
	ASSERT_EQ(member(&h, "0000:01:00.0")->n_warnings, 0U);	/* FLR first */
	ASSERT_STREQ(member(&h, "0000:01:00.1")->warnings[0],
		     "0000:01:00.1 has no function-level reset; its only reset is a bus reset, which "
		     "also resets 0000:01:00.0, outside IOMMU group 3");
	ASSERT_STREQ(member(&h, "0000:02:00.0")->warnings[0],
		     "0000:02:00.0 has no function-level reset; vfio-pci resets it with a bus reset");
	ASSERT_STREQ(member(&h, "0000:03:00.0")->warnings[0],
		     "0000:03:00.0 offers no reset (no reset_method attribute): a VM gets it in the "
		     "state the last user left it");
	ASSERT_EQ(member(&h, "0000:04:00.0")->n_warnings, 0U);	/* pm is function level */
	/* Warnings do not block. */
	ASSERT_STREQ(ACTION(&h, "0000:01:00.1"), "bind");
	ASSERT_STREQ(MEMBER_CODES(&h, "0000:01:00.1"), "");
	ASSERT_TRUE(!group_of(&h, "0000:01:00.1")->blocked);
	host_done(&h);
}

TEST(plan_of_unknown_address)
{
	struct host h;
	struct plan_env env;

	host_init(&h, gpu_host, ELEMENTSOF(gpu_host), NULL, 0);
	env = (struct plan_env){ .policy = &h.policy, .model = &h.model, .host = &h.facts,
				 .config = &h.config };
	ASSERT_ERROR(plan_build(&env, "0000:99:00.0", &h.plan), ENODEV);
	host_done(&h);
}

DEFINE_TEST_MAIN
