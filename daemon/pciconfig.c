/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "lib/json-util.h"
#include "pcidev.h"
#include "pciconfig.h"

/* Register layouts: PCI Local Bus 3.0 and PCI Express Base specifications, by the kernel's
 * names (include/uapi/linux/pci_regs.h). */
static const char *const cap_names[] = {
	[0x01] = "Power Management", [0x02] = "AGP", [0x03] = "Vital Product Data",
	[0x04] = "Slot Identification", [0x05] = "MSI", [0x06] = "CompactPCI Hot Swap",
	[0x07] = "PCI-X", [0x08] = "HyperTransport", [0x09] = "Vendor Specific",
	[0x0a] = "Debug Port", [0x0b] = "CompactPCI Central Resource Control",
	[0x0c] = "PCI Hot-Plug", [0x0d] = "Bridge Subsystem Vendor ID", [0x0e] = "AGP 8x",
	[0x0f] = "Secure Device", [0x10] = "PCI Express", [0x11] = "MSI-X",
	[0x12] = "SATA Data/Index Configuration", [0x13] = "Advanced Features",
	[0x14] = "Enhanced Allocation", [0x15] = "Flattening Portal Bridge",
};

static const char *const ext_cap_names[] = {
	[0x01] = "Advanced Error Reporting", [0x02] = "Virtual Channel",
	[0x03] = "Device Serial Number", [0x04] = "Power Budgeting",
	[0x05] = "Root Complex Link Declaration", [0x06] = "Root Complex Internal Link Control",
	[0x07] = "Root Complex Event Collector Endpoint Association",
	[0x08] = "Multi-Function Virtual Channel", [0x09] = "Virtual Channel",
	[0x0a] = "RCRB Header", [0x0b] = "Vendor Specific", [0x0c] = "Configuration Access Correlation",
	[0x0d] = "Access Control Services", [0x0e] = "Alternative Routing-ID Interpretation",
	[0x0f] = "Address Translation Services", [0x10] = "Single Root I/O Virtualization",
	[0x11] = "Multi-Root I/O Virtualization", [0x12] = "Multicast", [0x13] = "Page Request",
	[0x15] = "Resizable BAR", [0x16] = "Dynamic Power Allocation", [0x17] = "TPH Requester",
	[0x18] = "Latency Tolerance Reporting", [0x19] = "Secondary PCI Express",
	[0x1a] = "Protocol Multiplexing", [0x1b] = "Process Address Space ID",
	[0x1d] = "Downstream Port Containment", [0x1e] = "L1 PM Substates",
	[0x1f] = "Precision Time Measurement", [0x23] = "Designated Vendor-Specific",
	[0x25] = "Data Link Feature", [0x26] = "Physical Layer 16.0 GT/s",
	[0x27] = "Lane Margining at the Receiver", [0x2a] = "Physical Layer 32.0 GT/s",
};

const char *pci_cap_name(uint8_t id)
{
	return id < ELEMENTSOF(cap_names) ? cap_names[id] : NULL;
}

const char *pci_ext_cap_name(uint16_t id)
{
	return id < ELEMENTSOF(ext_cap_names) ? ext_cap_names[id] : NULL;
}

static uint16_t rd16(const uint8_t *p, size_t off)
{
	return (uint16_t)(p[off] | p[off + 1] << 8);
}

static uint32_t rd32(const uint8_t *p, size_t off)
{
	return (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 | (uint32_t)p[off + 2] << 16 |
	       (uint32_t)p[off + 3] << 24;
}

struct bits {
	unsigned bit;
	const char *name;
};

/* An object of named booleans for the set bits of v, plus "value". */
static int add_bits(json_object *o, const char *key, uint32_t v, const struct bits *b, size_t n)
{
	json_object *f = json_object_new_object();
	int r;

	if (!f || json_add(o, key, f) < 0) {
		(void)json_object_put(f);
		return -ENOMEM;
	}
	r = json_add_int(f, "value", v);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = json_add_bool(f, b[i].name, v & (1U << b[i].bit));
	return r;
}

/* An array of the names of the set bits (AER status). */
static int add_bit_names(json_object *o, const char *key, uint32_t v, const struct bits *b, size_t n)
{
	json_object *a = json_object_new_array();

	if (!a || json_add(o, key, a) < 0) {
		(void)json_object_put(a);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (v & (1U << b[i].bit) && json_object_array_add(a, json_object_new_string(b[i].name)) < 0)
			return -ENOMEM;
	return 0;
}

static const struct bits command_bits[] = {
	{ 0, "io" }, { 1, "memory" }, { 2, "bus_master" }, { 3, "special_cycles" },
	{ 4, "memory_write_invalidate" }, { 5, "vga_palette_snoop" }, { 6, "parity_error_response" },
	{ 8, "serr" }, { 9, "fast_back_to_back" }, { 10, "intx_disable" },
};

static const struct bits status_bits[] = {
	{ 3, "interrupt" }, { 4, "capabilities_list" }, { 5, "66mhz" }, { 7, "fast_back_to_back" },
	{ 8, "master_data_parity_error" }, { 11, "signaled_target_abort" },
	{ 12, "received_target_abort" }, { 13, "received_master_abort" },
	{ 14, "signaled_system_error" }, { 15, "detected_parity_error" },
};

/* lspci's names for the AER bits. */
static const struct bits aer_uncorrectable[] = {
	{ 4, "DLP" }, { 5, "SDES" }, { 12, "TLP" }, { 13, "FCP" }, { 14, "CmpltTO" },
	{ 15, "CmpltAbrt" }, { 16, "UnxCmplt" }, { 17, "RxOF" }, { 18, "MalfTLP" }, { 19, "ECRC" },
	{ 20, "UnsupReq" }, { 21, "ACSViol" }, { 22, "UncorrIntErr" }, { 23, "BlockedTLP" },
	{ 24, "AtomicOpBlocked" }, { 25, "TLPBlockedErr" },
};

static const struct bits aer_correctable[] = {
	{ 0, "RxErr" }, { 6, "BadTLP" }, { 7, "BadDLLP" }, { 8, "Rollover" }, { 12, "Timeout" },
	{ 13, "AdvNonFatalErr" }, { 14, "CorrIntErr" }, { 15, "HeaderOF" },
};

static const struct bits acs_bits[] = {
	{ 0, "source_validation" }, { 1, "translation_blocking" }, { 2, "request_redirect" },
	{ 3, "completion_redirect" }, { 4, "upstream_forwarding" }, { 5, "egress_control" },
	{ 6, "direct_translated_p2p" },
};

size_t pci_config_find_ext_cap(const uint8_t *cfg, size_t n, uint16_t id)
{
	size_t off = PCI_CFG_SPACE_SIZE;

	/* At most one capability per dword of the extended space: a loop ends there. */
	for (size_t i = 0; i < (PCI_CFG_SPACE_EXP_SIZE - PCI_CFG_SPACE_SIZE) / 4; i++) {
		uint32_t h;

		if (off < PCI_CFG_SPACE_SIZE || off + 4 > n)
			return 0;
		h = rd32(cfg, off);
		if (h == 0 || h == 0xffffffff)
			return 0;
		if (PCI_EXT_CAP_ID(h) == id)
			return off;
		off = PCI_EXT_CAP_NEXT(h);
	}
	return 0;
}

int pci_acs_to_json(uint16_t capable, uint16_t enabled, json_object **ret)
{
	json_object *o = json_object_new_object();

	if (!o || add_bits(o, "capable", capable, acs_bits, ELEMENTSOF(acs_bits)) < 0 ||
	    add_bits(o, "enabled", enabled, acs_bits, ELEMENTSOF(acs_bits)) < 0) {
		(void)json_object_put(o);
		return -ENOMEM;
	}
	*ret = o;
	return 0;
}

static const char *const pcie_types[] = {
	[0] = "endpoint", [1] = "legacy-endpoint", [4] = "root-port", [5] = "upstream-port",
	[6] = "downstream-port", [7] = "pcie-to-pci-bridge", [8] = "pci-to-pcie-bridge",
	[9] = "root-complex-integrated-endpoint", [10] = "root-complex-event-collector",
};

_printf_(2, 3)
static int problem(json_object *problems, const char *fmt, ...)
{
	_cleanup_free_ char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0 || json_object_array_add(problems, json_object_new_string(s)) < 0)
		return -ENOMEM;
	return 0;
}

/* Whether [off, off+len) was read; else a "truncated" problem. */
static bool have(const uint8_t *cfg, size_t n, size_t off, size_t len, json_object *cap)
{
	if (off + len <= n)
		return true;
	(void)json_add_bool(cap, "truncated", true);
	return false;
}

static int link_json(json_object *cap, const char *key, uint16_t speed, uint16_t width)
{
	json_object *l = json_object_new_object();
	double gts = pci_link_gts(speed);
	int gen = pci_link_generation(gts), r;

	if (!l || json_add(cap, key, l) < 0) {
		(void)json_object_put(l);
		return -ENOMEM;
	}
	r = gts > 0 ? json_add(l, "speed_gts", json_object_new_double(gts)) : json_add_null(l, "speed_gts");
	if (r >= 0)
		r = json_add_int(l, "width", width);
	if (r >= 0)
		r = gen ? json_add_int(l, "generation", gen) : json_add_null(l, "generation");
	if (r >= 0)
		r = gen ? json_add_int(l, "bandwidth_mbps", (int64_t)pci_link_lane_mbps(gen) * width)
			: json_add_null(l, "bandwidth_mbps");
	return r;
}

static int decode_cap(const uint8_t *cfg, size_t n, uint8_t id, size_t off, json_object *cap)
{
	int r = 0;

	switch (id) {
	case PCI_CAP_ID_PM: {
		uint16_t pmc, ctrl;

		if (!have(cfg, n, off, PCI_PM_SIZEOF, cap))
			return 0;
		pmc = rd16(cfg, off + PCI_PM_PMC);
		ctrl = rd16(cfg, off + PCI_PM_CTRL);
		r = json_add_int(cap, "version", pmc & PCI_PM_CAP_VER_MASK);
		if (r >= 0)
			r = json_add_bool(cap, "d1", pmc & PCI_PM_CAP_D1);
		if (r >= 0)
			r = json_add_bool(cap, "d2", pmc & PCI_PM_CAP_D2);
		if (r >= 0)
			r = json_add_int(cap, "pme_support", pmc >> PCI_PM_CAP_PME_SHIFT);
		if (r >= 0) {
			char state[4];

			snprintf(state, sizeof(state), "D%u", (unsigned)(ctrl & PCI_PM_CTRL_STATE_MASK));
			r = json_add_str(cap, "power_state", streq(state, "D3") ? "D3hot" : state);
		}
		if (r >= 0)
			r = json_add_bool(cap, "no_soft_reset", ctrl & PCI_PM_CTRL_NO_SOFT_RESET);
		return r;
	}
	case PCI_CAP_ID_MSI: {
		uint16_t ctl;

		if (!have(cfg, n, off, PCI_MSI_FLAGS + 2, cap))
			return 0;
		ctl = rd16(cfg, off + PCI_MSI_FLAGS);
		r = json_add_bool(cap, "enabled", ctl & PCI_MSI_FLAGS_ENABLE);
		if (r >= 0)
			r = json_add_int(cap, "vectors_capable", 1 << ((ctl & PCI_MSI_FLAGS_QMASK) >> 1));
		if (r >= 0)
			r = json_add_int(cap, "vectors_enabled", 1 << ((ctl & PCI_MSI_FLAGS_QSIZE) >> 4));
		if (r >= 0)
			r = json_add_bool(cap, "address_64bit", ctl & PCI_MSI_FLAGS_64BIT);
		if (r >= 0)
			r = json_add_bool(cap, "per_vector_masking", ctl & PCI_MSI_FLAGS_MASKBIT);
		return r;
	}
	case PCI_CAP_ID_MSIX: {
		uint16_t ctl;
		uint32_t table, pba;

		if (!have(cfg, n, off, PCI_CAP_MSIX_SIZEOF, cap))
			return 0;
		ctl = rd16(cfg, off + PCI_MSIX_FLAGS);
		table = rd32(cfg, off + PCI_MSIX_TABLE);
		pba = rd32(cfg, off + PCI_MSIX_PBA);
		r = json_add_bool(cap, "enabled", ctl & PCI_MSIX_FLAGS_ENABLE);
		if (r >= 0)
			r = json_add_bool(cap, "function_mask", ctl & PCI_MSIX_FLAGS_MASKALL);
		if (r >= 0)
			r = json_add_int(cap, "table_size", (ctl & PCI_MSIX_FLAGS_QSIZE) + 1);
		if (r >= 0)
			r = json_add_int(cap, "table_bar", table & PCI_MSIX_TABLE_BIR);
		if (r >= 0)
			r = json_add_int(cap, "table_offset", table & PCI_MSIX_TABLE_OFFSET);
		if (r >= 0)
			r = json_add_int(cap, "pba_bar", pba & PCI_MSIX_PBA_BIR);
		if (r >= 0)
			r = json_add_int(cap, "pba_offset", pba & PCI_MSIX_PBA_OFFSET);
		return r;
	}
	case PCI_CAP_ID_EXP: {
		uint16_t caps, devctl, lnksta;
		uint32_t devcap, lnkcap;
		unsigned type, speed, width, cap_speed, cap_width;
		bool has_link;

		if (!have(cfg, n, off, PCI_EXP_LNKSTA + 2, cap))
			return 0;
		caps = rd16(cfg, off + PCI_EXP_FLAGS);
		devcap = rd32(cfg, off + PCI_EXP_DEVCAP);
		devctl = rd16(cfg, off + PCI_EXP_DEVCTL);
		lnkcap = rd32(cfg, off + PCI_EXP_LNKCAP);
		lnksta = rd16(cfg, off + PCI_EXP_LNKSTA);
		type = (caps & PCI_EXP_FLAGS_TYPE) >> 4;
		r = json_add_int(cap, "version", caps & PCI_EXP_FLAGS_VERS);
		if (r >= 0)
			r = json_add_str(cap, "port_type", type < ELEMENTSOF(pcie_types) && pcie_types[type]
							   ? pcie_types[type] : "unknown");
		if (r >= 0)
			r = json_add_int(cap, "max_payload_supported", 128 << (devcap & PCI_EXP_DEVCAP_PAYLOAD));
		if (r >= 0)
			r = json_add_int(cap, "max_payload", 128 << ((devctl & PCI_EXP_DEVCTL_PAYLOAD) >> 5));
		if (r >= 0)
			r = json_add_int(cap, "max_read_request",
					 128 << ((devctl & PCI_EXP_DEVCTL_READRQ) >> 12));
		if (r >= 0)
			r = json_add_bool(cap, "flr", devcap & PCI_EXP_DEVCAP_FLR);
		/* Root-complex integrated endpoints and event collectors have no link. */
		has_link = type != PCI_EXP_TYPE_RC_END && type != PCI_EXP_TYPE_RC_EC;
		cap_speed = lnkcap & PCI_EXP_LNKCAP_SLS;
		cap_width = (lnkcap & PCI_EXP_LNKCAP_MLW) >> 4;
		speed = lnksta & PCI_EXP_LNKSTA_CLS;
		width = (lnksta & PCI_EXP_LNKSTA_NLW) >> 4;
		if (r >= 0 && has_link)
			r = link_json(cap, "link_capable", cap_speed, cap_width);
		if (r >= 0 && has_link)
			r = link_json(cap, "link", speed, width);
		if (r >= 0 && has_link)
			/* Trained below what this end can do (the other end may be the limit). */
			r = json_add_bool(cap, "downtrained", speed < cap_speed || width < cap_width);
		return r;
	}
	default:
		return 0;
	}
}

static int decode_ext_cap(const uint8_t *cfg, size_t n, uint16_t id, size_t off, json_object *cap)
{
	int r = 0;

	switch (id) {
	case PCI_EXT_CAP_ID_ERR: {
		static const struct {
			const char *key;
			unsigned reg;
			bool correctable;
		} aer[] = {
			{ "uncorrectable_status", PCI_ERR_UNCOR_STATUS, false },
			{ "uncorrectable_mask", PCI_ERR_UNCOR_MASK, false },
			{ "uncorrectable_fatal", PCI_ERR_UNCOR_SEVER, false },
			{ "correctable_status", PCI_ERR_COR_STATUS, true },
			{ "correctable_mask", PCI_ERR_COR_MASK, true },
		};

		if (!have(cfg, n, off, PCI_ERR_COR_MASK + 4, cap))
			return 0;
		for (size_t i = 0; i < ELEMENTSOF(aer) && r >= 0; i++)
			r = aer[i].correctable
				? add_bit_names(cap, aer[i].key, rd32(cfg, off + aer[i].reg),
						aer_correctable, ELEMENTSOF(aer_correctable))
				: add_bit_names(cap, aer[i].key, rd32(cfg, off + aer[i].reg),
						aer_uncorrectable, ELEMENTSOF(aer_uncorrectable));
		return r;
	}
	case PCI_EXT_CAP_ID_SRIOV: {
		static const struct {
			const char *key;
			unsigned reg;
		} counts[] = {
			{ "initial_vfs", PCI_SRIOV_INITIAL_VF }, { "total_vfs", PCI_SRIOV_TOTAL_VF },
			{ "num_vfs", PCI_SRIOV_NUM_VF }, { "first_vf_offset", PCI_SRIOV_VF_OFFSET },
			{ "vf_stride", PCI_SRIOV_VF_STRIDE }, { "vf_device_id", PCI_SRIOV_VF_DID },
		};

		if (!have(cfg, n, off, PCI_SRIOV_VF_DID + 2, cap))
			return 0;
		r = json_add_bool(cap, "vf_enabled", rd16(cfg, off + PCI_SRIOV_CTRL) & PCI_SRIOV_CTRL_VFE);
		for (size_t i = 0; i < ELEMENTSOF(counts) && r >= 0; i++)
			r = json_add_int(cap, counts[i].key, rd16(cfg, off + counts[i].reg));
		return r;
	}
	case PCI_EXT_CAP_ID_ACS:
		if (!have(cfg, n, off, PCI_ACS_CTRL + 2, cap))
			return 0;
		r = add_bits(cap, "capable", rd16(cfg, off + PCI_ACS_CAP), acs_bits, ELEMENTSOF(acs_bits));
		if (r >= 0)
			r = add_bits(cap, "enabled", rd16(cfg, off + PCI_ACS_CTRL), acs_bits,
				     ELEMENTSOF(acs_bits));
		return r;
	default:
		return 0;
	}
}

size_t pci_config_find_cap(const uint8_t *cfg, size_t n, uint8_t id)
{
	unsigned hops = 0;

	if (n < PCI_STD_HEADER_SIZEOF || !(rd16(cfg, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	/* At most 48 capabilities fit in 192 bytes: more hops is a loop. */
	for (size_t off = cfg[PCI_CAPABILITY_LIST] & ~3U;
	     off >= PCI_STD_HEADER_SIZEOF && off + 1 < n && hops < 48;
	     off = cfg[off + PCI_CAP_LIST_NEXT] & ~3U, hops++) {
		if (cfg[off + PCI_CAP_LIST_ID] == 0xff)
			break;	/* all-ones: the function stopped answering (as the kernel stops) */
		if (cfg[off + PCI_CAP_LIST_ID] == id)
			return off;
	}
	return 0;
}

static json_object *new_cap(json_object *caps, unsigned id, size_t off, bool extended, const char *name)
{
	json_object *cap = json_object_new_object();

	if (!cap || json_object_array_add(caps, cap) < 0) {
		(void)json_object_put(cap);
		return NULL;
	}
	if (json_add_int(cap, "id", id) < 0 || json_add_int(cap, "offset", (int64_t)off) < 0 ||
	    json_add_bool(cap, "extended", extended) < 0 ||
	    (name ? json_add_str(cap, "name", name) : json_add_null(cap, "name")) < 0)
		return NULL;
	return cap;
}

static int walk_caps(const uint8_t *cfg, size_t n, json_object *caps, json_object *problems)
{
	uint8_t seen[256 / 8] = {};
	size_t off;
	int r = 0;

	if (n < PCI_STD_HEADER_SIZEOF || !(rd16(cfg, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	for (off = cfg[PCI_CAPABILITY_LIST] & ~3U; off && r >= 0; off = cfg[off + PCI_CAP_LIST_NEXT] & ~3U) {
		json_object *cap;

		if (off < PCI_STD_HEADER_SIZEOF || off > PCI_CFG_SPACE_SIZE - 4)
			return problem(problems, "capability pointer 0x%02zx is out of range", off);
		if (off + 2 > n)
			return problem(problems, "capability at 0x%02zx lies beyond the %zu bytes read",
				       off, n);
		if (seen[off / 8] & (1U << (off % 8)))
			return problem(problems, "capability chain loops back to 0x%02zx", off);
		seen[off / 8] |= 1U << (off % 8);
		cap = new_cap(caps, cfg[off + PCI_CAP_LIST_ID], off, false,
			      pci_cap_name(cfg[off + PCI_CAP_LIST_ID]));
		if (!cap)
			return -ENOMEM;
		r = decode_cap(cfg, n, cfg[off + PCI_CAP_LIST_ID], off, cap);
	}
	if (r < 0 || n < PCI_CFG_SPACE_SIZE + 4)
		return r;

	/* Extended capabilities (PCI Express, 4 KiB config space). */
	{
		uint8_t ext_seen[(PCI_CFG_SPACE_EXP_SIZE - PCI_CFG_SPACE_SIZE) / 4 / 8] = {};

		for (off = PCI_CFG_SPACE_SIZE; off && r >= 0;) {
			uint32_t h;
			json_object *cap;
			size_t slot;

			if (off < PCI_CFG_SPACE_SIZE || off > PCI_CFG_SPACE_EXP_SIZE - 4)
				return problem(problems, "extended capability pointer 0x%03zx is out of range",
					       off);
			if (off + 4 > n)
				return problem(problems, "extended capability at 0x%03zx lies beyond the "
					       "%zu bytes read", off, n);
			h = rd32(cfg, off);
			if (h == 0 || h == 0xffffffff)
				break;	/* no extended capabilities */
			slot = (off - PCI_CFG_SPACE_SIZE) / 4;
			if (ext_seen[slot / 8] & (1U << (slot % 8)))
				return problem(problems, "extended capability chain loops back to 0x%03zx",
					       off);
			ext_seen[slot / 8] |= 1U << (slot % 8);
			cap = new_cap(caps, PCI_EXT_CAP_ID(h), off, true, pci_ext_cap_name(PCI_EXT_CAP_ID(h)));
			if (!cap || json_add_int(cap, "version", PCI_EXT_CAP_VER(h)) < 0)
				return -ENOMEM;
			r = decode_ext_cap(cfg, n, PCI_EXT_CAP_ID(h), off, cap);
			off = PCI_EXT_CAP_NEXT(h);
		}
	}
	return r;
}

/* The kernel's resource file: "0x<start> 0x<end> 0x<flags>" per resource, BARs then ROM. */
static bool resource_line(const char *resource, unsigned index, uint64_t *start, uint64_t *size)
{
	const char *p = resource;

	for (unsigned i = 0; p && i < index; i++) {
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	uint64_t s, e, f;

	if (!p || sscanf(p, "%" SCNx64 " %" SCNx64 " %" SCNx64, &s, &e, &f) != 3 || e == 0)
		return false;
	*start = s;
	*size = e - s + 1;
	return true;
}

static int decode_bars(const uint8_t *cfg, size_t n, const char *resource, json_object *o)
{
	unsigned type = cfg[PCI_HEADER_TYPE] & 0x7f;
	unsigned nbars = type == 0 ? 6 : type == 1 ? 2 : 0;
	json_object *bars = json_object_new_array(), *rom = NULL;
	size_t rom_off = type == 0 ? PCI_ROM_ADDRESS : PCI_ROM_ADDRESS1;
	uint64_t start = 0, size = 0;
	int r;

	if (!bars || json_add(o, "bars", bars) < 0) {
		(void)json_object_put(bars);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < nbars; i++) {
		uint32_t v = rd32(cfg, PCI_BASE_ADDRESS_0 + 4 * i);
		bool io = v & 1, is64 = !io && ((v >> 1) & 3) == 2;
		uint64_t addr = io ? v & ~3U : v & ~0xfU;
		bool known = resource && resource_line(resource, i, &start, &size);
		json_object *b;

		if (is64 && i + 1 < nbars)
			addr |= (uint64_t)rd32(cfg, PCI_BASE_ADDRESS_0 + 4 * (i + 1)) << 32;
		if (v == 0 && !known) {
			i += is64;
			continue;	/* not implemented */
		}
		b = json_object_new_object();
		if (!b || json_object_array_add(bars, b) < 0) {
			(void)json_object_put(b);
			return -ENOMEM;
		}
		r = json_add_int(b, "index", i);
		if (r >= 0)
			r = json_add_str(b, "type", io ? "io" : "memory");
		if (r >= 0)
			r = io ? json_add_null(b, "bits") : json_add_int(b, "bits", is64 ? 64 : 32);
		if (r >= 0)
			r = json_add_bool(b, "prefetchable", !io && (v & 8));
		/* The kernel's address (config may read 0 inside VMs or unprivileged). */
		if (r >= 0)
			r = json_add_int(b, "address", (int64_t)(known ? start : addr));
		if (r >= 0)
			r = known ? json_add_int(b, "size", (int64_t)size) : json_add_null(b, "size");
		if (r < 0)
			return r;
		i += is64;
	}
	if (!nbars)
		return 0;
	rom = json_object_new_object();
	if (!rom || json_add(o, "rom_bar", rom) < 0) {
		(void)json_object_put(rom);
		return -ENOMEM;
	}
	{
		uint32_t v = rd32(cfg, rom_off);
		bool known = resource && resource_line(resource, 6, &start, &size);

		r = json_add_bool(rom, "enabled", v & 1);
		if (r >= 0)
			r = json_add_int(rom, "address", (int64_t)(known ? start : (v & ~0x7ffU)));
		if (r >= 0)
			r = known ? json_add_int(rom, "size", (int64_t)size) : json_add_null(rom, "size");
	}
	return r;
}

int pci_config_to_json(const uint8_t *cfg, size_t n, const char *resource, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	json_object *caps = json_object_new_array(), *problems = json_object_new_array();
	uint8_t pin;
	int r;

	if (!o || !caps || !problems || json_add(o, "capabilities", caps) < 0 ||
	    json_add(o, "problems", problems) < 0)
		return -ENOMEM;
	r = json_add_int(o, "size", (int64_t)n);
	if (r < 0)
		return r;
	if (n < 64) {
		r = problem(problems, "only %zu bytes of config space could be read", n);
		if (r < 0)
			return r;
		*ret = TAKE_PTR(o);
		return 0;
	}
	r = json_add_int(o, "vendor_id", rd16(cfg, 0));
	if (r >= 0)
		r = json_add_int(o, "device_id", rd16(cfg, 2));
	if (r >= 0)
		r = add_bits(o, "command", rd16(cfg, PCI_COMMAND), command_bits, ELEMENTSOF(command_bits));
	if (r >= 0)
		r = add_bits(o, "status", rd16(cfg, PCI_STATUS), status_bits, ELEMENTSOF(status_bits));
	if (r >= 0) {
		static const char *const devsel[] = { "fast", "medium", "slow", "reserved" };

		r = json_add_str(json_object_object_get(o, "status"), "devsel",
				 devsel[(rd16(cfg, PCI_STATUS) >> 9) & 3]);
	}
	if (r >= 0)
		r = json_add_int(o, "class", (int64_t)(rd32(cfg, 8) >> 8));
	if (r >= 0)
		r = json_add_int(o, "revision", cfg[8]);
	if (r >= 0)
		r = json_add_int(o, "header_type", cfg[PCI_HEADER_TYPE] & 0x7f);
	if (r >= 0)
		r = json_add_bool(o, "multifunction", cfg[PCI_HEADER_TYPE] & 0x80);
	if (r >= 0)
		r = json_add_int(o, "cache_line_size", cfg[PCI_CACHE_LINE_SIZE] * 4);
	if (r >= 0)
		r = json_add_int(o, "latency_timer", cfg[PCI_LATENCY_TIMER]);
	pin = cfg[PCI_INTERRUPT_PIN];
	if (r >= 0) {
		char p[2] = { (char)('A' + pin - 1), 0 };

		r = pin >= 1 && pin <= 4 ? json_add_str(o, "interrupt_pin", p)
					 : json_add_null(o, "interrupt_pin");
	}
	if (r >= 0)
		r = json_add_int(o, "interrupt_line", cfg[PCI_INTERRUPT_LINE]);
	if (r >= 0)
		r = decode_bars(cfg, n, resource, o);
	if (r >= 0)
		r = walk_caps(cfg, n, caps, problems);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}
