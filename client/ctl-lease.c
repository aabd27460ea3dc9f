/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pcipassctl lease, unlease, leases, qemu */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl.h"
#include "client/output.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/util.h"

/* USER[:GROUP], names or numbers; the group defaults to the user's own. */
static int parse_user(const char *spec, uint32_t *uid, uint32_t *gid)
{
	_cleanup_free_ char *user = strdup(spec);
	char *group = user ? strchr(user, ':') : NULL;
	const struct passwd *pw = NULL;
	bool have_gid = false;

	if (!user)
		return -ENOMEM;
	if (group)
		*group++ = '\0';
	if (safe_atou32(user, uid) < 0) {
		pw = getpwnam(user);
		if (!pw)
			return ctl_usage_error("--user: no user '%s'", user), -EINVAL;
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
		have_gid = true;
	} else if ((pw = getpwuid(*uid))) {
		*gid = pw->pw_gid;
		have_gid = true;
	}
	if (group && *group) {
		const struct group *g;

		if (safe_atou32(group, gid) < 0) {
			g = getgrnam(group);
			if (!g)
				return ctl_usage_error("--user: no group '%s'", group), -EINVAL;
			*gid = g->gr_gid;
		}
		have_gid = true;
	}
	if (!have_gid)
		*gid = *uid;	/* a bare uid with no passwd entry: its own number */
	return 0;
}

/* The QEMU arguments as one shell command line, an option and its value per line. */
static void print_qemu(json_object *qemu, const char *indent)
{
	size_t n = json_len(qemu);

	for (size_t i = 0; i < n; i++) {
		const char *a = json_object_get_string(json_at(qemu, i));
		bool option = a[0] == '-';

		if (option)
			printf("%s%s", indent, a);
		else
			printf(" %s%s\n", a, i + 1 < n ? " \\" : "");
	}
}

static void print_lease(json_object *l, bool with_args)
{
	json_object *devices = json_get(l, "devices"), *nodes = json_get(l, "device_nodes"),
		    *groups = json_get(l, "groups");

	printf("Lease %s for %s:", json_get_str(l, "id"), json_get_str(l, "owner"));
	for (size_t i = 0; i < json_len(groups); i++)
		printf("%s %lld", i ? "," : " IOMMU group",
		       (long long)json_object_get_int64(json_at(groups, i)));
	if (json_get_str(l, "pool"))
		printf(" from pool %s", json_get_str(l, "pool"));
	if (json_get_int(l, "pid") > 0)
		printf(", until process %lld exits", json_get_int(l, "pid"));
	printf("%s\n", json_get_bool(l, "granted") == 0 ? " (being granted)" : "");
	for (size_t i = 0; i < json_len(devices); i++) {
		json_object *d = json_at(devices, i);
		char id[16];

		ctl_format_id(d, id, sizeof(id));
		printf("  %s %s %06llx %s\n", json_get_str(d, "address"), id, json_get_int(d, "class"),
		       json_get_str(d, "driver") ?: "(none)");
	}
	printf("  Device nodes (uid %lld, gid %lld, mode 0660):", json_get_int(l, "uid"),
	       json_get_int(l, "gid"));
	for (size_t i = 0; i < json_len(nodes); i++)
		printf(" %s", json_object_get_string(json_at(nodes, i)));
	printf("%s\n", json_len(nodes) ? "" : " none");
	printf("  When it ends: %s\n", streq(json_get_str(l, "after"), "release") ?
	       "back to the host drivers" : "stays on its passthrough driver");
	if (with_args && json_len(json_get(l, "qemu")) > 0) {
		printf("QEMU arguments:\n");
		print_qemu(json_get(l, "qemu"), "  ");
	}
}

static int check_format(const struct ctl *c)
{
	if (c->format && !streq(c->format, "qemu") && !streq(c->format, "libvirt") &&
	    !streq(c->format, "proxmox"))
		return ctl_usage_error("--format: expected qemu, libvirt or proxmox");
	return 0;
}

/* How to start a VM with o (a lease, or GetVmArguments' reply) in --format's form. */
static void print_vm_args(const struct ctl *c, json_object *o)
{
	if (c->format && !streq(c->format, "qemu"))
		printf("%s%s", json_get_str(o, c->format) ?: "",
		       streq(c->format, "proxmox") ? "\n" : "");
	else
		print_qemu(json_get(o, "qemu"), "");
}

int verb_lease(struct ctl *c, int argc, char *argv[])
{
	_cleanup_json_ json_object *p = json_object_new_object(), *reply = NULL;
	json_object *addresses = NULL;
	uint32_t uid = 0, gid = 0;
	int r;

	if (!c->owner)
		return ctl_usage_error("'lease' needs --owner NAME (the VM's name)");
	if (check_format(c) < 0)
		return CTL_EXIT_USAGE;
	if (!p)
		return CTL_EXIT_FAILURE;
	if (pci_addr_is_valid(argv[0])) {
		addresses = json_object_new_array();
		if (!addresses || json_add(p, "addresses", addresses) < 0)
			return CTL_EXIT_FAILURE;
		for (int i = 0; i < argc; i++) {
			if (!pci_addr_is_valid(argv[i]))
				return ctl_usage_error("'%s' is not a PCI address (DDDD:BB:DD.F)", argv[i]);
			if (json_object_array_add(addresses, json_object_new_string(argv[i])) < 0)
				return CTL_EXIT_FAILURE;
		}
		if (c->count)
			return ctl_usage_error("--count is for a pool, not addresses");
	} else {
		if (argc > 1)
			return ctl_usage_error("'lease' takes one pool, or PCI addresses");
		if (json_add_str(p, "pool", argv[0]) < 0)
			return CTL_EXIT_FAILURE;
	}
	if (c->user) {
		r = parse_user(c->user, &uid, &gid);
		if (r < 0)
			return r == -ENOMEM ? CTL_EXIT_FAILURE : CTL_EXIT_USAGE;
		if (json_add_int(p, "uid", uid) < 0 || json_add_int(p, "gid", gid) < 0)
			return CTL_EXIT_FAILURE;
	}
	if (json_add_str(p, "owner", c->owner) < 0 ||
	    (c->pid && json_add_int(p, "pid", c->pid) < 0) ||
	    (c->numa >= 0 && json_add_int(p, "numa_node", c->numa) < 0) ||
	    (c->count && json_add_int(p, "count", c->count) < 0) ||
	    (c->iommufd && json_add_bool(p, "iommufd", true) < 0))
		return CTL_EXIT_FAILURE;
	if (ctl_call(c, "io.pcipass.AcquireLease", p, &reply) < 0)
		return CTL_EXIT_FAILURE;
	if (c->json)
		return ctl_print_json(c, reply) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
	if (c->format)
		print_vm_args(c, json_get(reply, "lease"));	/* only that: a hook pastes it */
	else
		print_lease(json_get(reply, "lease"), true);
	return CTL_EXIT_OK;
}

int verb_unlease(struct ctl *c, int argc, char *argv[])
{
	_cleanup_json_ json_object *p = json_object_new_object(), *reply = NULL;
	json_object *a;

	if (!p)
		return CTL_EXIT_FAILURE;
	if (argc == 0 && !c->owner)
		return ctl_usage_error("'unlease' needs a lease ID or --owner NAME");
	if ((argc > 0 && json_add_str(p, "id", argv[0]) < 0) ||
	    (c->owner && json_add_str(p, "owner", c->owner) < 0))
		return CTL_EXIT_FAILURE;
	if (ctl_call(c, "io.pcipass.ReleaseLease", p, &reply) < 0)
		return CTL_EXIT_FAILURE;
	if (c->json)
		return ctl_print_json(c, reply) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
	a = json_get(reply, "leases");
	for (size_t i = 0; i < json_len(a); i++) {
		json_object *l = json_at(a, i);

		printf("Ended lease %s of %s (%s).\n", json_get_str(l, "id"), json_get_str(l, "owner"),
		       streq(json_get_str(l, "after"), "release") ? "its groups go back to the host" :
		       "its groups stay on their passthrough driver");
	}
	return CTL_EXIT_OK;
}

int verb_leases(struct ctl *c, int argc, char *argv[])
{
	static const char *const columns[] = { "ID", "OWNER", "POOL", "GROUPS", "DEVICES", "UID",
						     "PID" };
	_cleanup_json_ json_object *reply = NULL;
	_cleanup_(table_freep) struct table *t = NULL;
	json_object *a;

	if (ctl_call(c, "io.pcipass.ListLeases", NULL, &reply) < 0)
		return CTL_EXIT_FAILURE;
	if (c->json)
		return ctl_print_json(c, reply) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
	a = json_get(reply, "leases");
	if (json_len(a) == 0) {
		printf("No leases.\n");
		return CTL_EXIT_OK;
	}
	t = table_new(columns, ELEMENTSOF(columns));
	if (!t)
		return CTL_EXIT_FAILURE;
	for (size_t i = 0; i < json_len(a); i++) {
		json_object *l = json_at(a, i), *g = json_get(l, "groups"),
			    *d = json_get(l, "devices");
		char groups[128] = "", devices[512] = "", uid[16], pid[16];
		size_t off = 0;

		for (size_t k = 0; k < json_len(g) && off < sizeof(groups) - 16; k++)
			off += (size_t)snprintf(groups + off, sizeof(groups) - off, "%s%lld", k ? "," : "",
						(long long)json_object_get_int64(json_at(g, k)));
		off = 0;
		for (size_t k = 0; k < json_len(d) && off < sizeof(devices) - 24; k++)
			off += (size_t)snprintf(devices + off, sizeof(devices) - off, "%s%s", k ? "," : "",
						json_get_str(json_at(d, k), "address"));
		snprintf(uid, sizeof(uid), "%lld", json_get_int(l, "uid"));
		snprintf(pid, sizeof(pid), "%lld", json_get_int(l, "pid"));
		if (table_add_row(t, (const char *const[]){
				json_get_str(l, "id"), json_get_str(l, "owner"), json_get_str(l, "pool"),
				groups, devices, uid, json_get_int(l, "pid") > 0 ? pid : NULL }) < 0)
			return CTL_EXIT_FAILURE;
	}
	return table_print(t, c->legend) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}

int verb_qemu(struct ctl *c, int argc, char *argv[])
{
	_cleanup_json_ json_object *p = json_object_new_object(), *reply = NULL;
	json_object *a = json_object_new_array();

	if (!p || !a || json_add(p, "addresses", a) < 0 ||
	    (c->iommufd && json_add_bool(p, "iommufd", true) < 0))
		return CTL_EXIT_FAILURE;
	if (check_format(c) < 0)
		return CTL_EXIT_USAGE;
	for (int i = 0; i < argc; i++) {
		if (!pci_addr_is_valid(argv[i]))
			return ctl_usage_error("'%s' is not a PCI address (DDDD:BB:DD.F)", argv[i]);
		if (json_object_array_add(a, json_object_new_string(argv[i])) < 0)
			return CTL_EXIT_FAILURE;
	}
	if (ctl_call(c, "io.pcipass.GetVmArguments", p, &reply) < 0)
		return CTL_EXIT_FAILURE;
	if (c->json)
		return ctl_print_json(c, reply) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
	print_vm_args(c, reply);
	return CTL_EXIT_OK;
}
