/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pcipassctl tree: the PCI hierarchy as lspci -tv draws it, with what decides IOMMU groups. */
#include <stdio.h>
#include <string.h>

#include "client/ctl.h"
#include "client/output.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/pci.h"

/* The ACS control bits as lspci names them, in register order. */
static const char *const acs_names[][2] = {
	{ "source_validation", "SrcValid" }, { "translation_blocking", "TransBlk" },
	{ "request_redirect", "ReqRedir" }, { "completion_redirect", "CmpltRedir" },
	{ "upstream_forwarding", "UpstreamFwd" }, { "egress_control", "EgressCtrl" },
	{ "direct_translated_p2p", "DirectTrans" },
};

/* "ACS SrcValid+ ReqRedir+ CmpltRedir- …": each control the function has, on (+) or off (-);
 * "no ACS" for a bridge or multifunction function without the capability (why what is below
 * it, or its sibling functions, share its group); "" for other functions without it. */
static void format_acs(json_object *dev, char *buf, size_t size)
{
	json_object *acs = json_get(dev, "acs");
	size_t n = 0;

	buf[0] = '\0';
	if (!acs) {
		if (streq(json_get_str(dev, "header_type"), "bridge") ||
		    json_get_bool(dev, "multifunction") == 1)
			snprintf(buf, size, "no ACS");
		return;
	}
	n = (size_t)snprintf(buf, size, "ACS");
	for (size_t i = 0; i < ELEMENTSOF(acs_names) && n < size; i++)
		if (json_get_bool(json_get(acs, "capable"), acs_names[i][0]) == 1)
			n += (size_t)snprintf(buf + n, size - n, " %s%c", acs_names[i][1],
					      json_get_bool(json_get(acs, "enabled"), acs_names[i][0]) == 1 ?
					      '+' : '-');
}

static void print_function(json_object *dev, const char *prefix, bool last)
{
	char name[512], acs[160], group[24] = "no group", slot[256] = "  slot ", driver[128];

	ctl_format_name(dev, name, sizeof(name));
	format_acs(dev, acs, sizeof(acs));
	if (json_get_int(dev, "iommu_group") >= 0)
		snprintf(group, sizeof(group), "group %lld", json_get_int(dev, "iommu_group"));
	if (!ctl_format_slot(dev, slot + 7, sizeof(slot) - 7))
		slot[0] = '\0';
	snprintf(driver, sizeof(driver), "%s", json_get_str(dev, "driver") ?: "no driver");
	printf("%s%s%s  %s  [%s, %s]%s%s%s\n", prefix, last ? "└─ " : "├─ ",
	       json_get_str(dev, "address"), name, group, text_terminal_safe(driver), slot,
	       acs[0] ? "  " : "", acs);
}

/* Who is below whom, by index into the (address-sorted) device list: each function's first
 * child and next sibling, in address order; SIZE_MAX: none. */
struct tree {
	json_object *devices;
	json_object **by_index;	/* the list's elements, for pci_addr_search() */
	size_t n;
	size_t *first, *next, *tail;
	bool *child;		/* below a listed bridge */
	bool *shown;		/* printed (or put in the JSON) already: a loop of parents ends */
};

/* Deeper than any real hierarchy (the kernel allows 256 buses a domain, and each bridge
 * level takes one): a deeper chain of parents is shown flat, not followed. */
#define TREE_DEPTH_MAX 64

static const char *address_of(const void *elem)
{
	return json_get_str(*(json_object *const *)elem, "address") ?: "";
}

static int tree_build(json_object *devices, struct tree *t)
{
	size_t n = json_len(devices);

	*t = (struct tree){ .devices = devices, .n = n };
	t->by_index = new0(json_object *, n + 1);
	t->first = new0(size_t, n + 1);
	t->next = new0(size_t, n + 1);
	t->tail = new0(size_t, n + 1);
	t->child = new0(bool, n + 1);
	t->shown = new0(bool, n + 1);
	if (!t->by_index || !t->first || !t->next || !t->tail || !t->child || !t->shown)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		t->by_index[i] = json_at(devices, i);
		t->first[i] = t->next[i] = t->tail[i] = SIZE_MAX;
	}
	for (size_t i = 0; i < n; i++) {
		const char *p = json_get_str(t->by_index[i], "parent");
		bool found = false;
		size_t k;

		if (!p)
			continue;
		k = pci_addr_search(t->by_index, n, sizeof(json_object *), address_of, p, &found);
		if (!found || k == i)
			continue;	/* its bridge is not listed: a root of its own */
		t->child[i] = true;
		if (t->tail[k] == SIZE_MAX)
			t->first[k] = i;
		else
			t->next[t->tail[k]] = i;
		t->tail[k] = i;
	}
	return 0;
}

static void tree_done(struct tree *t)
{
	free(t->by_index);
	free(t->child);
	free(t->shown);
	free(t->first);
	free(t->next);
	free(t->tail);
}

/* The length of the bus part of an address ("0000:01" of "0000:01:00.0"; domains of VMD have
 * five to eight digits). */
static size_t bus_len(const char *a)
{
	const char *c = strrchr(a, ':');

	return c ? (size_t)(c - a) : strlen(a);
}

static bool same_bus(const char *a, const char *b)
{
	return bus_len(a) == bus_len(b) && strncmp(a, b, bus_len(a)) == 0;
}

static void print_below(struct tree *t, size_t parent, const char *prefix, unsigned depth)
{
	for (size_t i = t->first[parent]; i != SIZE_MAX; i = t->next[i]) {
		char child_prefix[TREE_DEPTH_MAX * sizeof("│  ") + 1];
		bool last = t->next[i] == SIZE_MAX;

		if (t->shown[i])
			continue;
		t->shown[i] = true;
		print_function(t->by_index[i], prefix, last);
		if (depth + 1 >= TREE_DEPTH_MAX)
			continue;	/* what is below it is shown as roots, at the end */
		snprintf(child_prefix, sizeof(child_prefix), "%s%s", prefix, last ? "   " : "│  ");
		print_below(t, i, child_prefix, depth + 1);
	}
}

/* The JSON form: each function as in List with its "children". */
static int below_json(struct tree *t, size_t parent, unsigned depth, json_object **ret)
{
	_cleanup_json_ json_object *a = json_object_new_array();

	if (!a)
		return -ENOMEM;
	for (size_t i = t->first[parent]; i != SIZE_MAX; i = t->next[i]) {
		json_object *children = NULL;

		if (t->shown[i])
			continue;
		t->shown[i] = true;
		if (depth + 1 < TREE_DEPTH_MAX && below_json(t, i, depth + 1, &children) < 0)
			return -ENOMEM;
		if (!children && !(children = json_object_new_array()))
			return -ENOMEM;
		if (json_add(t->by_index[i], "children", children) < 0 ||
		    json_object_array_add(a, json_object_get(t->by_index[i])) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(a);
	return 0;
}

/* The roots, in list order: the functions on a root bus, and then any the walk from those
 * did not reach (a chain of parents too deep, or one that loops: not what a kernel shows). */
static size_t next_root(const struct tree *t, size_t i, bool late)
{
	for (i++; i < t->n && (late ? t->shown[i] : t->child[i]); i++)
		;
	return i;
}

int verb_tree(struct ctl *c, int argc, char *argv[])
{
	_cleanup_json_ json_object *reply = NULL, *out = NULL, *roots = NULL;
	_cleanup_(tree_done) struct tree t = {};
	json_object *list = NULL;
	const char *bus = NULL;

	if (ctl_call(c, "io.pcipass.List", NULL, &reply) < 0)
		return CTL_EXIT_FAILURE;
	roots = json_object_new_array();
	if (!roots || tree_build(json_get(reply, "devices"), &t) < 0)
		return CTL_EXIT_FAILURE;
	/* Each root under its bus ("DDDD:BB", a header when the bus changes), with what is
	 * below it. */
	for (int late = 0; late < 2; late++)
		for (size_t i = next_root(&t, SIZE_MAX, late); i < t.n; i = next_root(&t, i, late)) {
			const char *a = address_of(&t.by_index[i]);
			size_t next = next_root(&t, i, late);
			bool first = !bus || !same_bus(a, bus);
			bool last = next == t.n || !same_bus(a, address_of(&t.by_index[next]));
			json_object *below = NULL;

			if (t.shown[i])
				continue;
			t.shown[i] = true;
			bus = a;
			if (!c->json) {
				if (first)
					printf("[%.*s]\n", (int)bus_len(a), a);
				print_function(t.by_index[i], "", last);
				print_below(&t, i, last ? "   " : "│  ", 1);
				continue;
			}
			if (first) {
				json_object *b = json_object_new_object();

				list = json_object_new_array();
				if (!b || json_object_array_add(roots, b) < 0) {
					(void)json_object_put(b);
					(void)json_object_put(list);
					return CTL_EXIT_FAILURE;
				}
				if (!list ||
				    json_add(b, "bus", json_object_new_string_len(a, (int)bus_len(a))) < 0 ||
				    json_add(b, "devices", list) < 0)
					return CTL_EXIT_FAILURE;
			}
			if (below_json(&t, i, 1, &below) < 0 ||
			    json_add(t.by_index[i], "children", below) < 0 ||
			    json_object_array_add(list, json_object_get(t.by_index[i])) < 0)
				return CTL_EXIT_FAILURE;
		}
	if (!c->json)
		return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
	out = json_object_new_object();
	if (!out || json_add(out, "roots", TAKE_PTR(roots)) < 0)
		return CTL_EXIT_FAILURE;
	return ctl_print_json(c, out) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}
