/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pcipassctl groups, status */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client/ctl.h"
#include "client/output.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/pci-names.h"

static json_object *find_device(json_object *devices, const char *address)
{
	for (size_t i = 0; i < json_len(devices); i++) {
		json_object *d = json_at(devices, i);

		if (streq(json_get_str(d, "address"), address))
			return d;
	}
	return NULL;
}

int verb_groups(struct ctl *c, int argc, char *argv[])
{
	static const char *const columns[] = { "GROUP", "TYPE", "VIABLE", "LEASE", "DEVICE", "ID",
						     "CLASS", "DRIVER", "NAME" };
	_cleanup_json_ json_object *reply = NULL, *list = NULL;
	_cleanup_(table_freep) struct table *t = NULL;
	json_object *groups, *devices;

	if (c->json)
		return ctl_call_print(c, "io.pcipass.ListGroups", NULL);
	if (ctl_call(c, "io.pcipass.ListGroups", NULL, &reply) < 0)
		return CTL_EXIT_FAILURE;
	/* Members are named by address; the device list says what they are. */
	if (ctl_call(c, "io.pcipass.List", NULL, &list) < 0)
		return CTL_EXIT_FAILURE;
	devices = json_get(list, "devices");

	groups = json_get(reply, "groups");
	if (json_len(groups) == 0) {
		printf("No IOMMU groups: the kernel runs without an IOMMU (see 'pcipassctl status').\n");
		return CTL_EXIT_OK;
	}
	t = table_new(columns, ELEMENTSOF(columns));
	if (!t)
		return CTL_EXIT_FAILURE;
	table_set_shrink(t, 8);
	for (size_t i = 0; i < json_len(groups); i++) {
		json_object *g = json_at(groups, i);
		json_object *members = json_get(g, "members");
		char id[24];

		snprintf(id, sizeof(id), "%lld", json_get_int(g, "id"));
		for (size_t j = 0; j < json_len(members); j++) {
			const char *addr = json_object_get_string(json_at(members, j));
			json_object *d = find_device(devices, addr);
			char ids[16] = "", class[32] = "", dname[512] = "";
			const char *name;

			if (d) {
				ctl_format_id(d, ids, sizeof(ids));
				ctl_format_name_cell(d, dname, sizeof(dname));
				name = pci_base_class_name((uint32_t)json_get_int(d, "class"));
				snprintf(class, sizeof(class), "%06llx%s%s", json_get_int(d, "class"),
					 name ? " " : "", name ?: "");
			}
			if (table_add_row(t, (const char *const[]){
					j == 0 ? id : "", j == 0 ? json_get_str(g, "type") : "",
					j > 0 ? "" : json_get_bool(g, "viable") == 1 ? "yes" :
					json_get_bool(g, "viable") == 0 ? "no" : "-",
					j > 0 ? "" : json_get_str(json_get(g, "lease"), "owner"), addr,
					d ? ids : NULL, d ? class : NULL,
					d ? json_get_str(d, "driver") ?: "(none)" : NULL,
					d ? dname : NULL }) < 0)
				return CTL_EXIT_FAILURE;
		}
	}
	return table_print(t, c->legend) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}

static void line(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(const char *label, const char *fmt, ...)
{
	va_list ap;

	printf("%-15s ", label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void print_iommu(json_object *s)
{
	json_object *units = json_get(s, "iommu_units"), *types = json_get(s, "group_types");
	char buf[256] = "";
	size_t n = 0;

	if (json_get_bool(s, "iommu_present") != 1) {
		line("IOMMU:", "absent: no IOMMU unit is registered with the kernel");
		return;
	}
	for (size_t i = 0; i < json_len(units) && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "",
				      json_object_get_string(json_at(units, i)));
	line("IOMMU:", "present (%s), %lld groups", buf, json_get_int(s, "iommu_groups"));
	n = 0;
	buf[0] = '\0';
	json_object_object_foreach(types, type, count) {
		if (n < sizeof(buf))
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s %lld", n ? ", " : "", type,
					      (long long)json_object_get_int64(count));
	}
	if (n)
		line("Group types:", "%s", buf);
}

/* allow_unsafe_interrupts, and whether this host needs it: plainly, since vfio refuses the
 * host without it when interrupts are not remapped. */
static void print_unsafe_interrupts(json_object *s)
{
	int on = json_get_bool(s, "allow_unsafe_interrupts"),
	    needed = json_get_bool(s, "unsafe_interrupts_needed");
	const char *now = on < 0 ? "unset (vfio_iommu_type1 not loaded)" : on ? "on" : "off";

	if (needed == 1 && on == 1)
		line("Unsafe IRQs:", "allow_unsafe_interrupts on: needed, as interrupts are not "
		     "remapped; vfio assigns devices, and guests can forge interrupts");
	else if (needed == 1)
		line("Unsafe IRQs:", "allow_unsafe_interrupts %s, but NEEDED: interrupts are not "
		     "remapped, so vfio refuses to assign devices unless "
		     "vfio_iommu_type1.allow_unsafe_interrupts=1", now);
	else if (needed == 0)
		line("Unsafe IRQs:", "allow_unsafe_interrupts %s (not needed: interrupts are "
		     "remapped)", now);
	else
		line("Unsafe IRQs:", "allow_unsafe_interrupts %s (needed only if interrupts are not "
		     "remapped, which cannot be told)", now);
}

/* Groups in identity (passthrough) domains, and what that means, in one line. */
static void print_identity(json_object *s)
{
	long long n = json_get_int(s, "identity_groups");

	if (n <= 0) {
		line("Passthrough:", "no group in an identity domain (iommu=pt not in effect)");
		return;
	}
	line("Passthrough:", "%lld of %lld groups in identity domains (iommu=pt): the host's DMA is "
	     "untranslated; vfio-pci still isolates the groups it is given (it attaches its own "
	     "domain), uio_pci_generic devices get no isolation at all", n,
	     json_get_int(s, "iommu_groups"));
}

/* Each target driver's module: there, MISSING or cannot tell. */
static void print_modules(json_object *s)
{
	json_object *modules = json_get(s, "modules");
	char buf[512] = "";
	size_t n = 0;

	for (size_t i = 0; i < json_len(modules) && n < sizeof(buf); i++) {
		json_object *mod = json_at(modules, i);
		int available = json_get_bool(mod, "available");

		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s %s", i ? ", " : "",
				      json_get_str(mod, "driver"),
				      available < 0 ? "cannot tell (no module index)" :
				      available ? "available" : "MISSING");
	}
	if (n)
		line("Modules:", "%s", buf);
}

static const char *dirs_text(json_object *dirs, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; i < json_len(dirs) && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "",
				      json_object_get_string(json_at(dirs, i)));
	return buf;
}

int verb_status(struct ctl *c, int argc, char *argv[])
{
	_cleanup_json_ json_object *reply = NULL;
	json_object *s, *policy, *problems;
	char buf[512];
	int noiommu, ir;

	if (ctl_call(c, "io.pcipass.GetStatus", NULL, &reply) < 0)
		return CTL_EXIT_FAILURE;
	if (c->json)
		return ctl_print_json(c, reply) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;

	s = json_get(reply, "status");
	line("Daemon:", "pcipassd %s%s, sysfs %s", json_get_str(s, "version"),
	     json_get_bool(s, "read_only") == 1 ? " (read-only)" : "", json_get_str(s, "sysfs_root"));
	line("Kernel:", "%s%s", json_get_str(s, "kernel") ?: "unknown",
	     json_get_bool(s, "dma_ownership") == 1 ? " (groups judged by DMA ownership)" : "");
	print_iommu(s);
	noiommu = json_get_bool(s, "noiommu_mode");
	line("No-IOMMU mode:", "%s", noiommu < 0 ? "not available (vfio not loaded)" :
				      noiommu ? "ENABLED (unsafe: no DMA isolation)" : "off");
	line("Lockdown:", "%s",
	     json_get_str(s, "lockdown") ?: "not reported (no lockdown LSM, or securityfs not mounted)");
	ir = json_get_bool(s, "interrupt_remapping");
	if (json_get_bool(s, "iommu_present") == 1) {
		line("IRQ remapping:", "%s",
		     ir < 0 ? "cannot tell (neither the IOMMU nor the interrupts say)" :
		     ir ? "yes" : "NO");
		print_unsafe_interrupts(s);
		print_identity(s);
	}
	print_modules(s);
	policy = json_get(s, "policy");
	line("Policy:", "%zu rules from %s", json_len(json_get(policy, "rules")),
	     dirs_text(json_get(policy, "dirs"), buf, sizeof(buf)));
	if (json_get_str(policy, "error"))
		line("", "last load REFUSED, the rules above stay in force: %s",
		     json_get_str(policy, "error"));
	line("Devices:", "%lld PCI functions, %lld bound to a driver", json_get_int(s, "devices"),
	     json_get_int(s, "bound_devices"));
	line("Events:", "%lld udev events, %lld scans, %lld monitors", json_get_int(s, "uevents"),
	     json_get_int(s, "scans"), json_get_int(s, "monitors"));
	line("Leases:", "%lld granted", json_get_int(s, "leases"));
	line("Clients:", "%lld connected, %lld KiB of buffers (%lld KiB for unprivileged clients)",
	     json_get_int(s, "connections"), (json_get_int(s, "client_buffers") + 1023) / 1024,
	     (json_get_int(s, "unprivileged_client_buffers") + 1023) / 1024);

	problems = json_get(s, "problems");
	if (json_len(problems) > 0)
		printf("\nProblems:\n");
	for (size_t i = 0; i < json_len(problems); i++) {
		json_object *p = json_at(problems, i);

		printf("  %s: %s\n    remedy: %s\n", json_get_str(p, "code"),
		       json_get_str(p, "message"), json_get_str(p, "remedy"));
	}
	/* The verdict comes last: under pcipass.disable=1 nothing is done, whatever else holds. */
	if (streq(json_get_str(s, "verdict"), "disabled") || json_get_bool(s, "disabled") == 1)
		printf("\nDisabled: pcipass.disable=1 is on the kernel command line: pcipassd reports, "
		       "and changes nothing.\n");
	else if (json_len(problems) == 0)
		printf("\nReady: nothing stands in the way of passthrough.\n");
	return CTL_EXIT_OK;
}
