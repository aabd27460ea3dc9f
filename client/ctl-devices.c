/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pcipassctl list, show */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/ctl.h"
#include "client/output.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/pci-names.h"
#include "lib/util.h"

static void format_class(json_object *dev, char *buf, size_t size)
{
	long long class = json_get_int(dev, "class");
	const char *name = pci_base_class_name((uint32_t)class);

	if (name)
		snprintf(buf, size, "%06llx %s", class, name);
	else
		snprintf(buf, size, "%06llx", class);
}

/* What a person should notice about a function, in a few words. */
static void format_notes(json_object *dev, char *buf, size_t size)
{
	json_object *virtfns = json_get(dev, "virtfns");
	const char *s;
	size_t n = 0;

	buf[0] = '\0';
#define NOTE(...) n += (size_t)snprintf(buf + n, n < size ? size - n : 0, __VA_ARGS__)
	if (json_get_bool(dev, "boot_vga") == 1)
		NOTE("%sboot-vga", n ? " " : "");
	if ((s = json_get_str(dev, "driver_override")))
		NOTE("%soverride=%s", n ? " " : "", s);
	if ((s = json_get_str(dev, "physfn")))
		NOTE("%svf-of=%s", n ? " " : "", s);
	if (json_get_int(dev, "sriov_totalvfs") > 0)
		NOTE("%ssriov=%zu/%lld", n ? " " : "",
		     virtfns ? json_object_array_length(virtfns) : 0,
		     json_get_int(dev, "sriov_totalvfs"));
	if (streq(json_get_str(dev, "header_type"), "bridge"))
		NOTE("%sbridge", n ? " " : "");
	if (json_get(dev, "claim"))
		NOTE("%sclaimed, returns-to=%s", n ? " " : "",
		     json_get_str(json_get(dev, "claim"), "original_driver") ?: "(none)");
#undef NOTE
}

static int print_device_row(struct table *t, json_object *dev)
{
	char id[16], class[48], group[24], notes[256];
	long long g = json_get_int(dev, "iommu_group");

	ctl_format_id(dev, id, sizeof(id));
	format_class(dev, class, sizeof(class));
	if (g >= 0)
		snprintf(group, sizeof(group), "%lld", g);
	format_notes(dev, notes, sizeof(notes));
	return table_add_row(t, (const char *const[]){
		json_get_str(dev, "address"), id, class, json_get_str(dev, "driver"),
		g >= 0 ? group : NULL, notes[0] ? notes : "" });
}

int verb_list(struct ctl *c, int argc, char *argv[])
{
	static const char *const columns[] = { "ADDRESS", "ID", "CLASS", "DRIVER", "GROUP", "NOTES" };
	_cleanup_json_ json_object *reply = NULL;
	_cleanup_(table_freep) struct table *t = NULL;
	json_object *devices;

	if (ctl_call(c, "io.pcipass.List", NULL, &reply) < 0)
		return CTL_EXIT_FAILURE;
	if (c->json)
		return json_print(reply, c->pretty) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;

	t = table_new(columns, ELEMENTSOF(columns));
	if (!t)
		return CTL_EXIT_FAILURE;
	devices = json_get(reply, "devices");
	for (size_t i = 0; i < json_object_array_length(devices); i++)
		if (print_device_row(t, json_object_array_get_idx(devices, i)) < 0)
			return CTL_EXIT_FAILURE;
	return table_print(t, c->legend) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}

static void print_field(const char *label, const char *value)
{
	printf("  %-18s %s\n", label, value ?: "-");
}

static void print_int_field(const char *label, long long v, bool hex)
{
	char buf[32];

	if (v < 0) {
		print_field(label, NULL);
		return;
	}
	snprintf(buf, sizeof(buf), hex ? "%02llx" : "%lld", v);
	print_field(label, buf);
}

static void print_list_field(const char *label, json_object *a)
{
	char buf[1024];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; a && i < json_object_array_length(a) && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "",
				      json_object_get_string(json_object_array_get_idx(a, i)));
	print_field(label, a && json_object_array_length(a) ? buf : NULL);
}

static void print_link(json_object *link)
{
	char buf[128];

	if (!link) {
		print_field("Link:", NULL);
		return;
	}
	snprintf(buf, sizeof(buf), "%.1f GT/s x%lld (gen %lld, %lld MB/s)",
		 json_object_get_double(json_get(link, "speed_gts")), json_get_int(link, "width"),
		 json_get_int(link, "generation"), json_get_int(link, "bandwidth_mbps"));
	print_field("Link:", buf);
	snprintf(buf, sizeof(buf), "%.1f GT/s x%lld (gen %lld, %lld MB/s)",
		 json_object_get_double(json_get(link, "max_speed_gts")),
		 json_get_int(link, "max_width"), json_get_int(link, "max_generation"),
		 json_get_int(link, "max_bandwidth_mbps"));
	print_field("Link capable:", buf);
}

static void print_device(json_object *dev)
{
	char buf[64];
	int mf = json_get_bool(dev, "multifunction");
	int vga = json_get_bool(dev, "boot_vga");

	printf("%s\n", json_get_str(dev, "address"));
	ctl_format_id(dev, buf, sizeof(buf));
	print_field("Vendor:Device:", buf);
	if (json_get_int(dev, "subsystem_vendor_id") >= 0) {
		snprintf(buf, sizeof(buf), "%04llx:%04llx", json_get_int(dev, "subsystem_vendor_id"),
			 json_get_int(dev, "subsystem_device_id"));
		print_field("Subsystem:", buf);
	} else {
		print_field("Subsystem:", NULL);
	}
	format_class(dev, buf, sizeof(buf));
	print_field("Class:", buf);
	print_int_field("Revision:", json_get_int(dev, "revision"), true);
	snprintf(buf, sizeof(buf), "%s%s", json_get_str(dev, "header_type") ?: "unknown",
		 mf == 1 ? ", multifunction" : "");
	print_field("Header:", buf);
	print_field("Driver:", json_get_str(dev, "driver") ?: "(none)");
	print_field("Driver override:", json_get_str(dev, "driver_override"));
	print_int_field("IOMMU group:", json_get_int(dev, "iommu_group"), false);
	print_int_field("NUMA node:", json_get_int(dev, "numa_node"), false);
	if (vga >= 0)
		print_field("Boot VGA:", vga ? "yes" : "no");
	print_list_field("Siblings:", json_get(dev, "siblings"));
	print_field("Physical function:", json_get_str(dev, "physfn"));
	if (json_get_int(dev, "sriov_totalvfs") >= 0) {
		snprintf(buf, sizeof(buf), "%lld of %lld enabled", json_get_int(dev, "sriov_numvfs"),
			 json_get_int(dev, "sriov_totalvfs"));
		print_field("SR-IOV VFs:", buf);
		print_list_field("Virtual functions:", json_get(dev, "virtfns"));
	}
	print_link(json_get(dev, "link"));
	print_list_field("Reset methods:", json_get(dev, "reset_methods"));
}

int verb_show(struct ctl *c, int argc, char *argv[])
{
	_cleanup_json_ json_object *params = json_object_new_object(), *reply = NULL;

	if (!pci_addr_is_valid(argv[0]))
		return ctl_usage_error("'%s' is not a PCI address (DDDD:BB:DD.F, e.g. 0000:01:00.0)",
				       argv[0]);
	if (!params || json_add_str(params, "address", argv[0]) < 0)
		return CTL_EXIT_FAILURE;
	if (ctl_call(c, "io.pcipass.Get", params, &reply) < 0)
		return CTL_EXIT_FAILURE;
	if (c->json)
		return json_print(reply, c->pretty) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
	print_device(json_get(reply, "device"));
	return CTL_EXIT_OK;
}
