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
#include "lib/pci.h"
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

/* "020000 Network controller: Ethernet controller", the database's names of class, subclass
 * and programming interface after the code (the short name when it knows none). */
static void format_class_names(json_object *dev, char *buf, size_t size)
{
	const char *class = json_get_str(dev, "class_name");
	const char *sub = json_get_str(dev, "subclass_name");
	const char *prog_if = json_get_str(dev, "prog_if_name");

	if (!class) {
		format_class(dev, buf, size);
		return;
	}
	snprintf(buf, size, "%06llx %s%s%s%s%s", json_get_int(dev, "class"), class, sub ? ": " : "",
		 sub ?: "", prog_if ? ", " : "", prog_if ?: "");
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
		     virtfns ? json_len(virtfns) : 0,
		     json_get_int(dev, "sriov_totalvfs"));
	if (streq(json_get_str(dev, "header_type"), "bridge"))
		NOTE("%sbridge", n ? " " : "");
	if (json_get(dev, "claim"))
		NOTE("%sclaimed, returns-to=%s", n ? " " : "",
		     json_get_str(json_get(dev, "claim"), "original_driver") ?: "(none)");
#undef NOTE
}

/* "8GT/s x16", and "!" when it trained below what both ends can do ("2.5GT/s x4!"). */
static void format_link(json_object *link, char *buf, size_t size)
{
	double gts = json_object_get_double(json_get(link, "speed_gts"));

	buf[0] = 0;
	if (!link || gts <= 0)
		return;
	snprintf(buf, size, "%gGT/s x%lld%s", gts, json_get_int(link, "width"),
		 json_get_bool(link, "downtrained") == 1 ? "!" : "");
}

static int print_device_row(struct table *t, json_object *dev)
{
	char id[16], class[48], name[512], group[24], notes[256], link[32];
	long long g = json_get_int(dev, "iommu_group");

	ctl_format_id(dev, id, sizeof(id));
	format_class(dev, class, sizeof(class));
	ctl_format_name_cell(dev, name, sizeof(name));
	if (g >= 0)
		snprintf(group, sizeof(group), "%lld", g);
	format_notes(dev, notes, sizeof(notes));
	format_link(json_get(dev, "link"), link, sizeof(link));
	return table_add_row(t, (const char *const[]){
		json_get_str(dev, "address"), id, class, name, json_get_str(dev, "driver"),
		g >= 0 ? group : NULL, link[0] ? link : NULL, notes[0] ? notes : "" });
}

int verb_list(struct ctl *c, int argc, char *argv[])
{
	static const char *const columns[] = { "ADDRESS", "ID", "CLASS", "NAME", "DRIVER", "GROUP",
					       "LINK", "NOTES" };
	_cleanup_json_ json_object *reply = NULL;
	_cleanup_(table_freep) struct table *t = NULL;
	json_object *devices;

	if (c->json)
		return ctl_call_print(c, "io.pcipass.List", NULL);
	if (ctl_call(c, "io.pcipass.List", NULL, &reply) < 0)
		return CTL_EXIT_FAILURE;

	t = table_new(columns, ELEMENTSOF(columns));
	if (!t)
		return CTL_EXIT_FAILURE;
	table_set_shrink(t, 3);
	devices = json_get(reply, "devices");
	for (size_t i = 0; i < json_len(devices); i++)
		if (print_device_row(t, json_at(devices, i)) < 0)
			return CTL_EXIT_FAILURE;
	return table_print(t, c->legend) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}

static void print_field(const char *label, const char *value)
{
	_cleanup_free_ char *safe = value ? strdup(value) : NULL;

	printf("  %-18s %s\n", label, safe ? text_terminal_safe(safe) : value ? "?" : "-");
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
	for (size_t i = 0; a && i < json_len(a) && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "",
				      json_object_get_string(json_at(a, i)));
	print_field(label, a && json_len(a) ? buf : NULL);
}

/* "8.0 GT/s x16 = 15.8 GB/s (PCIe gen 3, 0.98 GB/s a lane)": usable bandwidth per direction,
 * after line coding; what is unknown left out. */
static void format_bandwidth(double gts, long long width, char *buf, size_t size)
{
	int gen = pci_link_generation(gts);
	unsigned lane = pci_link_lane_mbps(gen);

	if (gts <= 0) {
		snprintf(buf, size, "-");
		return;
	}
	if (width <= 0 || !gen) {
		snprintf(buf, size, "%.1f GT/s%s", gts, width > 0 ? "" : ", width unknown");
		return;
	}
	double total = lane * (double)width / 1000;

	snprintf(buf, size, "%.1f GT/s x%lld = %.*f GB/s (PCIe gen %d, %.2f GB/s a lane)", gts,
		 width, total < 10 ? 2 : 1, total, gen, lane / 1000.0);
}

static void print_link(json_object *link)
{
	char buf[128], could[128], warning[512];
	double at = json_object_get_double(json_get(link, "attainable_speed_gts"));

	if (!link) {
		print_field("Link:", NULL);
		return;
	}
	format_bandwidth(json_object_get_double(json_get(link, "speed_gts")),
			 json_get_int(link, "width"), buf, sizeof(buf));
	print_field("Link:", buf);
	format_bandwidth(json_object_get_double(json_get(link, "max_speed_gts")),
			 json_get_int(link, "max_width"), buf, sizeof(buf));
	print_field("Link capable:", buf);
	if (json_get_bool(link, "downtrained") != 1)
		return;
	/* Both what it runs at and what both ends could do. */
	snprintf(buf, sizeof(buf), "%.1f GT/s x%lld",
		 json_object_get_double(json_get(link, "speed_gts")), json_get_int(link, "width"));
	format_bandwidth(at, json_get_int(link, "attainable_width"), could, sizeof(could));
	snprintf(warning, sizeof(warning), "WARNING: the link runs at %s, below the %s that this "
		 "function and the other end could do", buf, at > 0 ? could : "speed or width");
	print_field("", warning);
}

/* "Mem+ BusMaster- …": the named booleans of a bits object, as lspci writes them. */
static void print_flags(const char *label, json_object *bits, const char *const (*names)[2], size_t n)
{
	char buf[512];
	size_t k = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n && k < sizeof(buf); i++) {
		int b = json_get_bool(bits, names[i][0]);

		if (b >= 0)
			k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%s%c", k ? " " : "",
					      names[i][1], b ? '+' : '-');
	}
	print_field(label, buf);
}

static const char *yes(json_object *o, const char *key)
{
	return json_get_bool(o, key) == 1 ? "+" : "-";
}

static void print_names(const char *label, json_object *a)
{
	char buf[512];
	size_t k = 0;

	buf[0] = 0;
	for (size_t i = 0; i < json_len(a) && k < sizeof(buf); i++)
		k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%s", i ? " " : "",
				      json_object_get_string(json_at(a, i)));
	printf("    %-22s %s\n", label, k ? buf : "(none)");
}

static void print_cap(json_object *cap)
{
	const char *name = json_get_str(cap, "name");
	json_object *link;

	printf("  [%03llx]%s %s\n", json_get_int(cap, "offset"),
	       json_get_bool(cap, "extended") == 1 ? "e" : " ",
	       name ?: "(unknown capability)");
	if (json_get_bool(cap, "truncated") == 1)
		printf("    (truncated: not all of it could be read)\n");
	if (streq(name, "Power Management"))
		printf("    state %s, version %lld\n", json_get_str(cap, "power_state"),
		       json_get_int(cap, "version"));
	else if (streq(name, "MSI"))
		printf("    Enable%s vectors %lld/%lld 64bit%s Maskable%s\n", yes(cap, "enabled"),
		       json_get_int(cap, "vectors_enabled"), json_get_int(cap, "vectors_capable"),
		       yes(cap, "address_64bit"), yes(cap, "per_vector_masking"));
	else if (streq(name, "MSI-X"))
		printf("    Enable%s Count=%lld Masked%s table BAR %lld+%#llx, PBA BAR %lld+%#llx\n",
		       yes(cap, "enabled"), json_get_int(cap, "table_size"), yes(cap, "function_mask"),
		       json_get_int(cap, "table_bar"), json_get_int(cap, "table_offset"),
		       json_get_int(cap, "pba_bar"), json_get_int(cap, "pba_offset"));
	else if (streq(name, "PCI Express")) {
		printf("    %s, MaxPayload %lld (supported %lld), MaxReadReq %lld, FLR%s\n",
		       json_get_str(cap, "port_type"), json_get_int(cap, "max_payload"),
		       json_get_int(cap, "max_payload_supported"), json_get_int(cap, "max_read_request"),
		       yes(cap, "flr"));
		if ((link = json_get(cap, "link")))
			printf("    link %s GT/s x%lld, capable %s GT/s x%lld%s\n",
			       json_object_to_json_string(json_get(link, "speed_gts")),
			       json_get_int(link, "width"),
			       json_object_to_json_string(json_get(json_get(cap, "link_capable"), "speed_gts")),
			       json_get_int(json_get(cap, "link_capable"), "width"),
			       json_get_bool(cap, "downtrained") == 1 ? "  (downgraded)" : "");
	} else if (streq(name, "Advanced Error Reporting")) {
		print_names("uncorrectable:", json_get(cap, "uncorrectable_status"));
		print_names("uncorrectable masked:", json_get(cap, "uncorrectable_mask"));
		print_names("correctable:", json_get(cap, "correctable_status"));
		print_names("correctable masked:", json_get(cap, "correctable_mask"));
	} else if (streq(name, "Single Root I/O Virtualization"))
		printf("    VFs %lld of %lld (initial %lld), VF device %04llx, enabled%s\n",
		       json_get_int(cap, "num_vfs"), json_get_int(cap, "total_vfs"),
		       json_get_int(cap, "initial_vfs"), json_get_int(cap, "vf_device_id"),
		       yes(cap, "vf_enabled"));
	else if (streq(name, "Access Control Services")) {
		static const char *const acs[][2] = {
			{ "source_validation", "SrcValid" }, { "translation_blocking", "TransBlk" },
			{ "request_redirect", "ReqRedir" }, { "completion_redirect", "CmpltRedir" },
			{ "upstream_forwarding", "UpstreamFwd" }, { "egress_control", "EgressCtrl" },
			{ "direct_translated_p2p", "DirectTrans" },
		};

		printf("    ");
		print_flags("capable:", json_get(cap, "capable"), acs, ELEMENTSOF(acs));
		printf("    ");
		print_flags("enabled:", json_get(cap, "enabled"), acs, ELEMENTSOF(acs));
	}
}

/* The config space, like lspci -vv: command and status, BARs, the capability chain. */
static void print_config(json_object *c)
{
	static const char *const command[][2] = {
		{ "io", "I/O" }, { "memory", "Mem" }, { "bus_master", "BusMaster" },
		{ "parity_error_response", "ParErr" }, { "serr", "SERR" }, { "intx_disable", "DisINTx" },
	};
	static const char *const status[][2] = {
		{ "capabilities_list", "Cap" }, { "interrupt", "INTx" },
		{ "signaled_target_abort", ">TAbort" }, { "received_target_abort", "<TAbort" },
		{ "received_master_abort", "<MAbort" }, { "signaled_system_error", ">SERR" },
		{ "detected_parity_error", "<PERR" },
	};
	json_object *bars = json_get(c, "bars"), *caps = json_get(c, "capabilities");
	json_object *problems = json_get(c, "problems");

	if (!c)
		return;
	printf("\nConfig space (%lld bytes read)\n", json_get_int(c, "size"));
	print_flags("Control:", json_get(c, "command"), command, ELEMENTSOF(command));
	print_flags("Status:", json_get(c, "status"), status, ELEMENTSOF(status));
	if (json_get_str(c, "interrupt_pin")) {
		char buf[64];

		snprintf(buf, sizeof(buf), "pin %s, line %lld", json_get_str(c, "interrupt_pin"),
			 json_get_int(c, "interrupt_line"));
		print_field("Interrupt:", buf);
	}
	for (size_t i = 0; i < json_len(bars); i++) {
		json_object *b = json_at(bars, i);
		char label[32], buf[128];

		snprintf(label, sizeof(label), "Region %lld:", json_get_int(b, "index"));
		if (json_get_int(b, "size") >= 0 && streq(json_get_str(b, "type"), "io"))
			snprintf(buf, sizeof(buf), "I/O ports at %#llx [size=%lld]",
				 json_get_int(b, "address"), json_get_int(b, "size"));
		else if (json_get_int(b, "size") >= 0)
			snprintf(buf, sizeof(buf), "memory at %#llx (%s%s) [size=%lld]",
				 json_get_int(b, "address"),
				 json_get_int(b, "bits") == 64 ? "64-bit" : "32-bit",
				 json_get_bool(b, "prefetchable") == 1 ? ", prefetchable" : "",
				 json_get_int(b, "size"));
		else
			snprintf(buf, sizeof(buf), "%s at %#llx", json_get_str(b, "type"),
				 json_get_int(b, "address"));
		print_field(label, buf);
	}
	if (json_get_int(json_get(c, "rom_bar"), "size") > 0) {
		char buf[96];

		snprintf(buf, sizeof(buf), "at %#llx [size=%lld]%s",
			 json_get_int(json_get(c, "rom_bar"), "address"),
			 json_get_int(json_get(c, "rom_bar"), "size"),
			 json_get_bool(json_get(c, "rom_bar"), "enabled") == 1 ? "" : " (disabled)");
		print_field("Expansion ROM:", buf);
	}
	if (json_len(caps) > 0)
		printf("Capabilities\n");
	for (size_t i = 0; i < json_len(caps); i++)
		print_cap(json_at(caps, i));
	for (size_t i = 0; i < json_len(problems); i++)
		printf("PROBLEM: %s\n", json_object_get_string(json_at(problems, i)));
}

static void print_uio(json_object *u)
{
	json_object *maps = json_get(u, "maps"), *ports = json_get(u, "portio");
	char buf[128];

	if (!u)
		return;
	printf("\nUIO\n");
	snprintf(buf, sizeof(buf), "%s (%s), %s %s", json_get_str(u, "device"),
		 json_get_str(u, "node"), json_get_str(u, "name") ?: "?", json_get_str(u, "version") ?: "");
	print_field("Device:", buf);
	print_int_field("Interrupts:", json_get_int(u, "event_count"), false);
	for (size_t i = 0; i < json_len(maps); i++) {
		json_object *m = json_at(maps, i);

		snprintf(buf, sizeof(buf), "%s addr %#llx size %#llx offset %#llx",
			 json_get_str(m, "name") ?: "-", json_get_int(m, "addr"),
			 json_get_int(m, "size"), json_get_int(m, "offset"));
		print_field(json_get_str(m, "region"), buf);
	}
	for (size_t i = 0; i < json_len(ports); i++) {
		json_object *p = json_at(ports, i);

		snprintf(buf, sizeof(buf), "%s start %#llx size %#llx %s", json_get_str(p, "name") ?: "-",
			 json_get_int(p, "start"), json_get_int(p, "size"), json_get_str(p, "porttype") ?: "");
		print_field(json_get_str(p, "region"), buf);
	}
}

static void print_vfio(json_object *v)
{
	if (!v)
		return;
	printf("\nVFIO\n");
	print_field("Group node:", json_get_str(v, "group_node") ?: "(missing)");
	print_field("Device cdev:", json_get_str(v, "cdev"));
	print_field("Group type:", json_get_str(v, "group_type"));
	print_field("In use:", json_get_bool(v, "in_use") == 1 ? json_get_str(v, "open_by") : "no");
}

static void print_device(json_object *dev)
{
	json_object *resets;
	char buf[64], name[512];
	int mf = json_get_bool(dev, "multifunction");
	int vga = json_get_bool(dev, "boot_vga");

	ctl_format_name(dev, name, sizeof(name));
	printf("%s %s\n", json_get_str(dev, "address"), name);
	ctl_format_id(dev, buf, sizeof(buf));
	print_field("Vendor:Device:", buf);
	/* As lspci: none when the ids are absent or zero (bridges, host bridges). */
	if (json_get_int(dev, "subsystem_vendor_id") > 0) {
		long long sv = json_get_int(dev, "subsystem_vendor_id");
		long long sd = json_get_int(dev, "subsystem_device_id");
		const char *svn = json_get_str(dev, "subsystem_vendor_name");
		const char *sn = json_get_str(dev, "subsystem_name");
		char svd[16], sdd[16];

		snprintf(svd, sizeof(svd), "Vendor %04llx", sv);
		snprintf(sdd, sizeof(sdd), "Device %04llx", sd);
		snprintf(name, sizeof(name), "%04llx:%04llx %s %s", sv, sd, svn ?: svd, sn ?: sdd);
		print_field("Subsystem:", name);
	} else {
		print_field("Subsystem:", NULL);
	}
	format_class_names(dev, name, sizeof(name));
	print_field("Class:", name);
	print_int_field("Revision:", json_get_int(dev, "revision"), true);
	snprintf(buf, sizeof(buf), "%s%s", json_get_str(dev, "header_type") ?: "unknown",
		 mf == 1 ? ", multifunction" : "");
	print_field("Header:", buf);
	print_field("Driver:", json_get_str(dev, "driver") ?: "(none)");
	print_field("Driver override:", json_get_str(dev, "driver_override"));
	print_int_field("IOMMU group:", json_get_int(dev, "iommu_group"), false);
	print_int_field("NUMA node:", json_get_int(dev, "numa_node"), false);
	if (ctl_format_slot(dev, name, sizeof(name)))
		print_field("Physical slot:", name);
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
	resets = json_get(dev, "reset_methods");
	if (json_object_is_type(resets, json_type_array) && json_len(resets) > 0)
		print_field("vfio-pci resets with:",
			    json_object_get_string(json_at(resets, 0)));
	else
		print_field("vfio-pci resets with:", "nothing (no reset method)");
	if (json_get(dev, "claim"))
		print_field("Returns to:", json_get_str(json_get(dev, "claim"), "original_driver") ?: "(no driver)");
	print_config(json_get(dev, "config"));
	print_uio(json_get(dev, "uio"));
	print_vfio(json_get(dev, "vfio"));
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
		return ctl_print_json(c, reply) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
	print_device(json_get(reply, "device"));
	return CTL_EXIT_OK;
}
