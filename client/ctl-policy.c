/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pcipassctl plan, policy check, reload */
#include <stdio.h>
#include <string.h>

#include "client/ctl.h"
#include "client/output.h"
#include "lib/policy.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/util.h"

static const char *yes_no(json_object *o, const char *key)
{
	int b = json_get_bool(o, key);

	return b < 0 ? "-" : b ? "yes" : "no";
}

/* The codes of a member's blockers, "boot-vga,net-in-use" ("(forced)" when overridden). */
static void blocker_codes(json_object *blockers, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; i < json_len(blockers) && n < size; i++) {
		json_object *b = json_at(blockers, i);

		n += (size_t)snprintf(buf + n, size - n, "%s%s%s", n ? "," : "",
				      json_get_str(b, "code"),
				      json_get_bool(b, "overridden") == 1 ? "(forced)" : "");
	}
}

static bool group_has_rule(json_object *g)
{
	json_object *members = json_get(g, "members");

	for (size_t i = 0; i < json_len(members); i++)
		if (json_get(json_at(members, i), "rule"))
			return true;
	return false;
}

/* request: the claim came from a request (pcipassctl claim), not a policy file. */
static void print_blockers(const char *who, json_object *blockers, bool request)
{
	for (size_t i = 0; i < json_len(blockers); i++) {
		json_object *b = json_at(blockers, i);

		printf("  %s %s: %s%s\n", who, json_get_str(b, "code"), json_get_str(b, "message"),
		       json_get_bool(b, "overridden") != 1 ? "" :
		       request ? " (overridden by --force)" : " (overridden by Force=yes)");
	}
}

static void print_steps(json_object *steps)
{
	for (size_t k = 0; k < json_len(steps); k++) {
		json_object *s = json_at(steps, k);
		const char *v = json_get_str(s, "value");

		if (streq(json_get_str(s, "op"), "load_module"))
			printf("  load module %s\n", json_get_str(s, "module"));
		else
			printf("  write %-50s ← %s\n", json_get_str(s, "path"),
			       streq(v, "\n") ? "(newline: clear)" : v);
	}
}

int verb_plan(struct ctl *c, int argc, char *argv[])
{
	static const char *const columns[] = { "GROUP", "VIABLE", "ADDRESS", "NAME", "DRIVER",
					       "TARGET", "ACTION", "RULE", "BLOCKED BY" };
	_cleanup_json_ json_object *params = NULL, *reply = NULL;
	_cleanup_(table_freep) struct table *t = NULL;
	json_object *groups;
	size_t shown = 0;

	if (argc > 0) {
		if (!pci_addr_is_valid(argv[0]))
			return ctl_usage_error("'%s' is not a PCI address (DDDD:BB:DD.F)", argv[0]);
		params = json_object_new_object();
		if (!params || json_add_str(params, "address", argv[0]) < 0)
			return CTL_EXIT_FAILURE;
	}
	if (c->json)
		return ctl_call_print(c, "io.pcipass.Plan", params);
	if (ctl_call(c, "io.pcipass.Plan", params, &reply) < 0)
		return CTL_EXIT_FAILURE;

	t = table_new(columns, ELEMENTSOF(columns));
	if (!t)
		return CTL_EXIT_FAILURE;
	table_set_shrink(t, 3);
	groups = json_get(reply, "groups");
	for (size_t i = 0; i < json_len(groups); i++) {
		json_object *g = json_at(groups, i);
		json_object *members = json_get(g, "members");
		char id[24] = "-", viable[24] = "-";

		/* The whole host: only the groups a rule touches. */
		if (argc == 0 && !group_has_rule(g))
			continue;
		shown++;
		if (json_get(g, "iommu_group")) {
			snprintf(id, sizeof(id), "%lld", json_get_int(g, "iommu_group"));
			snprintf(viable, sizeof(viable), "%s→%s", yes_no(g, "viable"),
				 yes_no(g, "viable_after"));
		}
		for (size_t j = 0; j < json_len(members); j++) {
			json_object *m = json_at(members, j);
			json_object *rule = json_get(m, "rule");
			char where[256] = "", action[32], blocked[512], name[512] = "-";

			if (rule)
				snprintf(where, sizeof(where), "%s:%lld", json_get_str(rule, "name"),
					 json_get_int(rule, "line"));
			snprintf(action, sizeof(action), "%s%s", json_get_str(m, "action"),
				 json_get_bool(m, "companion") == 1 ? " (with group)" : "");
			blocker_codes(json_get(m, "blockers"), blocked, sizeof(blocked));
			if (json_get_int(m, "vendor_id") >= 0)
				ctl_format_name_cell(m, name, sizeof(name));
			if (table_add_row(t, (const char *const[]){
					j == 0 ? id : "", j == 0 ? viable : "",
					json_get_str(m, "address"), name,
					json_get_str(m, "driver") ?: "(none)",
					json_get_str(m, "target") ?: "(host)", action,
					rule ? where : NULL, blocked[0] ? blocked : NULL }) < 0)
				return CTL_EXIT_FAILURE;
		}
	}
	if (shown == 0 && json_len(json_get(reply, "host_steps")) == 0) {
		printf("No policy rule matches any PCI function: nothing would change.\n");
		return CTL_EXIT_OK;
	}
	if (shown > 0 && table_print(t, c->legend) < 0)
		return CTL_EXIT_FAILURE;

	/* Why, and what would be written. */
	for (size_t i = 0; i < json_len(groups); i++) {
		json_object *g = json_at(groups, i);
		json_object *members = json_get(g, "members");
		bool header = false;

		if (argc == 0 && !group_has_rule(g))
			continue;
		for (size_t j = 0; j < json_len(members); j++) {
			json_object *m = json_at(members, j);
			json_object *steps = json_get(m, "steps");

			if (json_len(json_get(m, "blockers")) == 0 &&
			    json_len(steps) == 0 &&
			    json_len(json_get(m, "warnings")) == 0)
				continue;
			if (!header) {
				if (json_get(g, "iommu_group"))
					printf("\nIOMMU group %lld%s:\n", json_get_int(g, "iommu_group"),
					       json_get_bool(g, "blocked") == 1 ? " (blocked: left as it is)" : "");
				else
					printf("\n%s (no IOMMU group)%s:\n", json_get_str(m, "address"),
					       json_get_bool(g, "blocked") == 1 ? " (blocked)" : "");
				print_blockers("group", json_get(g, "blockers"), false);
				header = true;
			}
			print_blockers(json_get_str(m, "address"), json_get(m, "blockers"),
				       json_get(m, "rule") && json_get_int(json_get(m, "rule"), "line") == 0);
			for (size_t k = 0; k < json_len(json_get(m, "warnings")); k++)
				printf("  warning: %s\n", json_object_get_string(
					       json_at(json_get(m, "warnings"), k)));
			print_steps(steps);
		}
		if (!header && json_len(json_get(g, "blockers")) > 0) {
			printf("\nIOMMU group %lld (blocked: left as it is):\n",
			       json_get_int(g, "iommu_group"));
			print_blockers("group", json_get(g, "blockers"), false);
		}
	}
	if (json_len(json_get(reply, "host_steps")) > 0) {
		printf("\nBefore the groups (VF autoprobe off on the PFs of start-up VF rules):\n");
		print_steps(json_get(reply, "host_steps"));
	}
	return CTL_EXIT_OK;
}

/* pcipassctl policy check [FILE…]: the daemon's parser, offline. */
static int policy_check(struct ctl *c, int argc, char *argv[])
{
	_cleanup_(policy_done) struct policy p = {};
	_cleanup_(policy_error_done) struct policy_error err = {};
	struct daemon_config config = {};
	int r;

	if (argc > 0)
		r = policy_load_files(argv, &p, &err);
	else {
		r = daemon_config_load(DAEMON_CONFIG_DEFAULT, &config, &err);
		daemon_config_done(&config);
		if (r >= 0)
			r = policy_load(policy_dirs_default, &p, &err);
	}
	if (r == -EINVAL) {
		_cleanup_free_ char *msg = policy_error_format(&err);

		fprintf(stderr, "%s\n", msg ?: "invalid policy");
		return CTL_EXIT_FAILURE;
	}
	if (r < 0) {
		fprintf(stderr, "pcipassctl: cannot check the policy: %s\n", strerror(-r));
		return CTL_EXIT_FAILURE;
	}
	if (c->json) {
		_cleanup_json_ json_object *o = json_object_new_object(), *a = json_object_new_array();

		if (!o || !a)
			return CTL_EXIT_FAILURE;
		for (size_t i = 0; i < p.n_rules; i++)
			if (json_object_array_add(a, json_object_new_string(p.rules[i]->path)) < 0)
				return CTL_EXIT_FAILURE;
		if (json_add(o, "rules", TAKE_PTR(a)) < 0)
			return CTL_EXIT_FAILURE;
		return json_print(o, c->pretty) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
	}
	for (size_t i = 0; i < p.n_rules; i++) {
		const struct policy_rule *rule = p.rules[i];

		printf("%s: ok (%s%s%s)\n", rule->path, rule->driver ?: policy_target_to_string(rule->target),
		       rule->pool ? ", pool " : "", rule->pool ?: "");
	}
	printf("%zu rule%s valid.\n", p.n_rules, p.n_rules == 1 ? "" : "s");
	return CTL_EXIT_OK;
}

int verb_policy(struct ctl *c, int argc, char *argv[])
{
	if (streq(argv[0], "check"))
		return policy_check(c, argc - 1, argv + 1);
	return ctl_usage_error("unknown policy command '%s' (known: check)", argv[0]);
}

int verb_reload(struct ctl *c, int argc, char *argv[])
{
	_cleanup_json_ json_object *reply = NULL;
	json_object *rules;

	if (ctl_call(c, "io.pcipass.Reload", NULL, &reply) < 0)
		return CTL_EXIT_FAILURE;
	if (c->json)
		return ctl_print_json(c, reply) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
	rules = json_get(json_get(reply, "policy"), "rules");
	printf("Reloaded: %zu policy rule%s in force.\n", json_len(rules),
	       json_len(rules) == 1 ? "" : "s");
	return CTL_EXIT_OK;
}

/* "Claimed IOMMU group 3: 0000:01:00.0 nouveau → vfio-pci, …" for each transaction. */
static void print_transactions(json_object *reply)
{
	json_object *a = json_get(reply, "transactions");

	if (json_len(a) == 0) {
		printf("Nothing to do: already in place.\n");
		return;
	}
	for (size_t i = 0; i < json_len(a); i++) {
		json_object *t = json_at(a, i), *members = json_get(t, "members");
		const char *kind = json_get_str(t, "kind");

		printf("%s IOMMU group %lld:", streq(kind, "claim") ? "Claimed" :
		       streq(kind, "release") ? "Released" : "Undid", json_get_int(t, "iommu_group"));
		for (size_t j = 0; j < json_len(members); j++) {
			json_object *m = json_at(members, j);

			printf("%s %s %s → %s", j ? "," : "", json_get_str(m, "address"),
			       json_get_str(m, "from_driver") ?: "(none)",
			       json_get_str(m, "target") ?: "(host)");
		}
		printf("\n");
	}
}

static int mutate(struct ctl *c, const char *method, json_object *params)
{
	_cleanup_json_ json_object *reply = NULL;

	if (ctl_call(c, method, params, &reply) < 0)
		return CTL_EXIT_FAILURE;
	if (c->json)
		return ctl_print_json(c, reply) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
	if (json_get(reply, "plan")) {
		/* A dry run: the group's plan, as `plan ADDRESS` shows it. */
		json_object *g = json_at(json_get(json_get(reply, "plan"), "groups"), 0);
		json_object *members = json_get(g, "members");

		for (size_t i = 0; i < json_len(members); i++) {
			json_object *m = json_at(members, i), *steps = json_get(m, "steps");

			printf("%s: %s (%s → %s)\n", json_get_str(m, "address"), json_get_str(m, "action"),
			       json_get_str(m, "driver") ?: "(none)", json_get_str(m, "target") ?: "(host)");
			for (size_t k = 0; k < json_len(steps); k++) {
				json_object *s = json_at(steps, k);

				if (streq(json_get_str(s, "op"), "load_module"))
					printf("  load module %s\n", json_get_str(s, "module"));
				else
					printf("  write %s ← %s\n", json_get_str(s, "path"),
					       streq(json_get_str(s, "value"), "\n") ? "(newline: clear)"
										   : json_get_str(s, "value"));
			}
		}
		return CTL_EXIT_OK;
	}
	print_transactions(reply);
	return CTL_EXIT_OK;
}

static json_object *claim_params(struct ctl *c, const char *address)
{
	json_object *p = json_object_new_object();

	if (!p || json_add_str(p, "address", address) < 0 ||
	    (c->driver && json_add_str(p, "driver", c->driver) < 0) ||
	    (c->group && json_add_bool(p, "group", true) < 0) ||
	    (c->force && json_add_bool(p, "force", true) < 0) ||
	    (c->dry_run && json_add_bool(p, "dry_run", true) < 0)) {
		(void)json_object_put(p);
		return NULL;
	}
	return p;
}

/*
 * claim ADDRESS…: one call each, in order, on one connection (a hook claiming a VM's devices
 * starts one process); each group is planned when its turn comes. The first that fails ends
 * it: what was claimed before stays claimed, and is said. -j: {"claims": [REPLY, …]}.
 */
static int print_claims(json_object *all, bool pretty)
{
	_cleanup_json_ json_object *o = json_object_new_object();

	if (!o || json_add(o, "claims", all) < 0)
		return -ENOMEM;
	return json_print(o, pretty);
}

static void say_stopped(const char *at, int before)
{
	if (before > 0)
		fprintf(stderr, "pcipassctl: stopped at %s; %d before it %s claimed\n", at, before,
			before == 1 ? "was" : "were");
}

int verb_claim(struct ctl *c, int argc, char *argv[])
{
	_cleanup_json_ json_object *all = NULL;

	for (int i = 0; i < argc; i++)
		if (!pci_addr_is_valid(argv[i]))
			return ctl_usage_error("'%s' is not a PCI address (DDDD:BB:DD.F)", argv[i]);
	all = json_object_new_array();
	if (!all)
		return CTL_EXIT_FAILURE;
	for (int i = 0; i < argc; i++) {
		_cleanup_json_ json_object *p = claim_params(c, argv[i]);
		json_object *reply = NULL;

		if (!p)
			return CTL_EXIT_FAILURE;
		if (argc == 1 || !c->json) {
			int r = mutate(c, "io.pcipass.Claim", p);

			if (r != CTL_EXIT_OK) {
				say_stopped(argv[i], i);
				return r;
			}
			continue;
		}
		if (ctl_call(c, "io.pcipass.Claim", p, &reply) < 0) {
			say_stopped(argv[i], i);
			(void)print_claims(TAKE_PTR(all), false);
			return CTL_EXIT_FAILURE;
		}
		if (json_object_array_add(all, reply) < 0) {
			(void)json_object_put(reply);
			return CTL_EXIT_FAILURE;
		}
	}
	if (argc == 1 || !c->json)
		return CTL_EXIT_OK;
	return print_claims(TAKE_PTR(all), c->pretty) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}

int verb_release(struct ctl *c, int argc, char *argv[])
{
	_cleanup_json_ json_object *p = json_object_new_object();

	if (!pci_addr_is_valid(argv[0]))
		return ctl_usage_error("'%s' is not a PCI address (DDDD:BB:DD.F)", argv[0]);
	if (!p || json_add_str(p, "address", argv[0]) < 0 ||
	    (c->dry_run && json_add_bool(p, "dry_run", true) < 0))
		return CTL_EXIT_FAILURE;
	return mutate(c, "io.pcipass.Release", p);
}

/* Apply: what ran, then each group a start-up rule wants that a blocker keeps from it (exit 1). */
int verb_apply(struct ctl *c, int argc, char *argv[])
{
	_cleanup_json_ json_object *reply = NULL;
	json_object *blocked;

	if (ctl_call(c, "io.pcipass.Apply", NULL, &reply) < 0)
		return CTL_EXIT_FAILURE;
	blocked = json_get(reply, "blocked");
	if (!json_object_is_type(blocked, json_type_array))
		blocked = NULL;	/* absent: nothing blocked */
	if (c->json) {
		if (ctl_print_json(c, reply) < 0)
			return CTL_EXIT_FAILURE;
		return blocked && json_len(blocked) > 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
	}
	if (!blocked || json_len(json_get(reply, "transactions")) > 0)
		print_transactions(reply);
	for (size_t i = 0; blocked && i < json_len(blocked); i++) {
		json_object *b = json_at(blocked, i);

		if (json_get(b, "iommu_group"))
			printf("Blocked: IOMMU group %lld (%s): %s: %s\n", json_get_int(b, "iommu_group"),
			       json_get_str(b, "address"), json_get_str(b, "code"),
			       json_get_str(b, "message"));
		else
			printf("Blocked: %s: %s: %s\n", json_get_str(b, "address"),
			       json_get_str(b, "code"), json_get_str(b, "message"));
	}
	return blocked && json_len(blocked) > 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}
