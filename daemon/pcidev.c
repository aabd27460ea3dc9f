/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#ifndef PCI_EXP_LNKCAP2_SLS
#define PCI_EXP_LNKCAP2_SLS 0x000000fe	/* Supported Link Speeds Vector, bit N: generation N */
#endif

#include "lib/json-build.h"
#include "lib/json-util.h"
#include "names.h"
#include "pciconfig.h"
#include "pcidev.h"
#include "sysfs.h"

/* Splits a space-separated attribute value into a string list. */
static int split_words(const char *s, char ***ret)
{
	_cleanup_strv_free_ char **l = NULL;
	_cleanup_free_ char *copy = strdup(s);
	size_t n = 0;
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	l = new0(char *, strlen(s) / 2 + 2);
	if (!l)
		return -ENOMEM;
	for (char *w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		l[n] = strdup(w);
		if (!l[n++])
			return -ENOMEM;
	}
	*ret = TAKE_PTR(l);
	return 0;
}

/* An optional attribute: absence (and a refusal to be read) leaves the default. */
static int read_opt_str(int dfd, const char *name, char **ret)
{
	int r = sysfs_read_at(dfd, name, ret);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		*ret = NULL;
	return 0;
}

static int read_opt_link(int dfd, const char *name, char **ret)
{
	int r = sysfs_readlink_name_at(dfd, name, ret);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		*ret = NULL;
	return 0;
}

static int32_t read_opt_u32(int dfd, const char *name, unsigned base)
{
	uint32_t v;

	if (sysfs_read_u32_at(dfd, name, base, &v) < 0 || v > INT32_MAX)
		return -1;
	return (int32_t)v;
}

static int read_link_state(int dfd, const char *speed_attr, const char *width_attr,
			   struct pci_link *ret)
{
	_cleanup_free_ char *speed = NULL;
	int r;

	r = read_opt_str(dfd, speed_attr, &speed);
	if (r < 0)
		return r;
	*ret = (struct pci_link){ .width = -1 };
	if (!speed)
		return 0;	/* not PCI Express: the kernel shows none of the four */
	*ret = (struct pci_link){
		.speed = pci_link_speed_parse(speed),
		.width = read_opt_u32(dfd, width_attr, 10),
	};
	/* 0 means the link is down; 255 (PCIE_LNK_WIDTH_UNKNOWN) that the kernel could not tell,
	 * as on emulated ports. Real links are x1 to x32. */
	if (ret->width == 0 || ret->width > 32)
		ret->width = -1;
	return 1;
}

static int read_virtfns(int dfd, int32_t total, char ***ret)
{
	_cleanup_strv_free_ char **l = NULL;
	size_t n = 0;

	*ret = NULL;
	l = new0(char *, (size_t)MAX(total, 0) + 1);
	if (!l)
		return -ENOMEM;
	/* virtfn0 … virtfnN-1 exist while N VFs are enabled; stop at the first gap. */
	for (int32_t i = 0; i < total; i++) {
		char name[STRLEN("virtfn") + DECIMAL_STR_MAX(int32_t)];
		int r;

		snprintf(name, sizeof(name), "virtfn%d", i);
		r = sysfs_readlink_name_at(dfd, name, &l[n]);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			break;
		n++;
	}
	*ret = TAKE_PTR(l);
	return 0;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/*
 * The identity from the first 64 bytes of config space (readable unprivileged), as the kernel
 * set its own from them: vendor, device, revision, class, and for a type 0 header the
 * subsystem. What config space cannot say is left for the attributes: a VF's vendor and device
 * registers read 0xffff (the kernel takes them from its PF), a bridge's subsystem lives in a
 * capability. Returns whether the ids (vendor, device, class) were taken.
 */
static bool ids_from_config(struct pcidev *d, const uint8_t *cfg, ssize_t n)
{
	if (n < 64 || d->header == _PCI_HEADER_INVALID)
		return false;
	d->revision = cfg[PCI_REVISION_ID];
	d->class = (uint32_t)cfg[PCI_CLASS_PROG] | (uint32_t)le16(cfg + PCI_CLASS_DEVICE) << 8;
	if (d->header == PCI_HEADER_ENDPOINT) {
		d->subsystem_vendor = le16(cfg + PCI_SUBSYSTEM_VENDOR_ID);
		d->subsystem_device = le16(cfg + PCI_SUBSYSTEM_ID);
	}
	if (d->physfn)
		return false;
	d->vendor = le16(cfg + PCI_VENDOR_ID);
	d->device = le16(cfg + PCI_DEVICE_ID);
	return true;
}

/*
 * A bridge's subsystem ids as the kernel sets them (pci_setup_device()): from its Subsystem
 * ID capability, 0 without one; a CardBus bridge's from its header, unless its class is not
 * a CardBus bridge's (the kernel then reads none, and changes the class). False when what
 * could be read (64 bytes unless root) may not hold them.
 */
static bool bridge_subsystem_from_config(struct pcidev *d, const uint8_t *cfg, ssize_t n)
{
	size_t pos;

	if (d->header == PCI_HEADER_CARDBUS) {
		if (n < PCI_CB_SUBSYSTEM_ID + 2 || d->class >> 8 != 0x0607)	/* CardBus bridge */
			return false;
		d->subsystem_vendor = le16(cfg + PCI_CB_SUBSYSTEM_VENDOR_ID);
		d->subsystem_device = le16(cfg + PCI_CB_SUBSYSTEM_ID);
		return true;
	}
	if (n < PCI_CFG_SPACE_SIZE)
		return false;
	pos = pci_config_find_cap(cfg, (size_t)n, PCI_CAP_ID_SSVID);
	if (pos + PCI_SSVID_DEVICE_ID + 2 > (size_t)n)
		pos = 0;	/* the last bytes of config space: no room for one */
	d->subsystem_vendor = pos ? le16(cfg + pos + PCI_SSVID_VENDOR_ID) : 0;
	d->subsystem_device = pos ? le16(cfg + pos + PCI_SSVID_DEVICE_ID) : 0;
	return true;
}

static void read_header(const uint8_t *cfg, ssize_t n, struct pcidev *d)
{
	d->header = _PCI_HEADER_INVALID;
	d->multifunction = -1;
	if (n <= PCI_HEADER_TYPE)
		return;
	/* All-ones is what a function that cannot answer (gone, powered off) reads as. */
	if (cfg[PCI_HEADER_TYPE] == 0xff)
		return;
	if ((cfg[PCI_HEADER_TYPE] & 0x7f) < _PCI_HEADER_MAX)
		d->header = (enum pci_header)(cfg[PCI_HEADER_TYPE] & 0x7f);
	d->multifunction = !!(cfg[PCI_HEADER_TYPE] & 0x80);
}

/* The kernel's sysfs attribute values for PCIe functions of these types; the others have
 * no link registers (pcie_cap_has_lnkctl()). */
static bool has_link_registers(unsigned type)
{
	return type <= PCI_EXP_TYPE_LEG_END ||
	       (type >= PCI_EXP_TYPE_ROOT_PORT && type <= PCI_EXP_TYPE_PCIE_BRIDGE);
}

static void link_set(struct pci_link *l, int generation, unsigned width)
{
	*l = (struct pci_link){
		.speed = pci_link_gts(generation),
		/* 0 means the link is down; 255 (PCIE_LNK_WIDTH_UNKNOWN) that the kernel could not
		 * tell, as on emulated ports. Real links are x1 to x32. */
		.width = width == 0 || width > 32 ? -1 : (int)width,
	};
}

/*
 * Where the PCI Express capability is in the first 256 bytes of config space: 0 when the
 * function has none, -1 when config space cannot tell (not all 256 bytes read, as without
 * root, or the capability not whole in them).
 */
static int pcie_cap_at(const struct pcidev *d, const uint8_t *cfg, ssize_t n)
{
	unsigned pos, ttl = 48;

	if (n < 256 || d->header == _PCI_HEADER_INVALID)
		return -1;
	if (!(le16(cfg + PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	/* __pci_find_next_cap_ttl(): at most 48 steps, none below 0x40, 0xff ends it. */
	pos = cfg[d->header == PCI_HEADER_CARDBUS ? PCI_CB_CAPABILITY_LIST : PCI_CAPABILITY_LIST];
	for (;; pos = cfg[pos + PCI_CAP_LIST_NEXT]) {
		if (ttl-- == 0 || pos < 0x40)
			return 0;
		pos &= ~3u;
		if (cfg[pos + PCI_CAP_LIST_ID] == 0xff)
			return 0;
		if (cfg[pos + PCI_CAP_LIST_ID] == PCI_CAP_ID_EXP)
			break;
	}
	return pos + PCI_EXP_LNKCAP2 + 4 > 256 ? -1 : (int)pos;
}

/*
 * Whether the function may be an SR-IOV PF, the only kind that has the sriov_* attributes:
 * not a VF, and (sriov_init()) a PCI Express endpoint or root complex integrated endpoint.
 * pcie is pcie_cap_at()'s answer.
 */
static bool may_be_pf(const struct pcidev *d, const uint8_t *cfg, int pcie)
{
	unsigned type;

	if (d->physfn || pcie == 0)
		return false;
	if (pcie < 0)
		return true;
	type = (le16(cfg + pcie + PCI_EXP_FLAGS) & PCI_EXP_FLAGS_TYPE) >> 4;
	return type == PCI_EXP_TYPE_ENDPOINT || type == PCI_EXP_TYPE_RC_END;
}

/*
 * The link from the PCI Express capability at pos (pcie_cap_at()), as the kernel computes
 * current_link_speed/width (Link Status) and max_link_speed/width (Link Capabilities 2's
 * supported speeds where it has them, else Link Capabilities; pcie_get_speed_cap()). Returns
 * 1 when config space told (no PCIe capability: no link, as the kernel shows none), 0 when it
 * cannot tell.
 */
static int link_from_config(struct pcidev *d, const uint8_t *cfg, int pos)
{
	unsigned flags, type;
	uint32_t lnkcap, lnkcap2 = 0;
	uint16_t lnksta;
	int max_gen = 0;

	d->link = d->max_link = (struct pci_link){ .width = -1 };
	if (pos <= 0)
		return pos == 0;
	flags = le16(cfg + pos + PCI_EXP_FLAGS);
	type = (flags & PCI_EXP_FLAGS_TYPE) >> 4;
	if (!has_link_registers(type)) {
		link_set(&d->link, 0, 0);
		link_set(&d->max_link, 0, 0);
		return 1;
	}
	lnksta = le16(cfg + pos + PCI_EXP_LNKSTA);
	lnkcap = le16(cfg + pos + PCI_EXP_LNKCAP) | (uint32_t)le16(cfg + pos + PCI_EXP_LNKCAP + 2) << 16;
	if ((flags & PCI_EXP_FLAGS_VERS) > 1)
		lnkcap2 = le16(cfg + pos + PCI_EXP_LNKCAP2) |
			  (uint32_t)le16(cfg + pos + PCI_EXP_LNKCAP2 + 2) << 16;
	link_set(&d->link, lnksta & PCI_EXP_LNKSTA_CLS, (lnksta & PCI_EXP_LNKSTA_NLW) >> PCI_EXP_LNKSTA_NLW_SHIFT);
	if (lnkcap2 & PCI_EXP_LNKCAP2_SLS) {
		for (int gen = 6; gen >= 1 && !max_gen; gen--)
			if (lnkcap2 & (1u << gen))
				max_gen = gen;
	} else if ((lnkcap & PCI_EXP_LNKCAP_SLS) == PCI_EXP_LNKCAP_SLS_5_0GB) {
		max_gen = 2;
	} else if ((lnkcap & PCI_EXP_LNKCAP_SLS) == PCI_EXP_LNKCAP_SLS_2_5GB) {
		max_gen = 1;
	}
	link_set(&d->max_link, max_gen, (lnkcap & PCI_EXP_LNKCAP_MLW) >> 4);
	return 1;
}

/* The identity from the attributes: the kernel's own values, whatever config space says. */
static int ids_from_attributes(int dfd, struct pcidev *d, bool vf_ids_only)
{
	uint32_t class;
	int r;

	r = sysfs_read_u32_at(dfd, "vendor", 16, &d->vendor);
	if (r >= 0)
		r = sysfs_read_u32_at(dfd, "device", 16, &d->device);
	if (r < 0 || vf_ids_only)
		return r;
	r = sysfs_read_u32_at(dfd, "class", 16, &class);
	if (r < 0)
		return r;
	d->class = class;
	d->subsystem_vendor = read_opt_u32(dfd, "subsystem_vendor", 16);
	d->subsystem_device = read_opt_u32(dfd, "subsystem_device", 16);
	d->revision = read_opt_u32(dfd, "revision", 16);
	return 0;
}

/* Access Control Services of a bridge (a port whose ACS decides which functions below it share
 * an IOMMU group) or of a multifunction function (whether its functions may talk to each other
 * past the IOMMU): in extended config space, which only root reads past 256 bytes. */
static void read_acs(int dfd, const char *config, struct pcidev *d)
{
	_cleanup_free_ uint8_t *cfg = NULL;
	ssize_t n;
	size_t off;

	if (d->header != PCI_HEADER_BRIDGE && d->multifunction != 1)
		return;
	cfg = malloc(PCI_CFG_SPACE_EXP_SIZE);
	if (!cfg)
		return;
	n = sysfs_read_bin_at(dfd, config, cfg, PCI_CFG_SPACE_EXP_SIZE);
	off = n > 0 ? pci_config_find_ext_cap(cfg, (size_t)n, PCI_EXT_CAP_ID_ACS) : 0;
	if (off == 0 || off + PCI_ACS_CTRL + 2 > (size_t)n)
		return;
	d->has_acs = true;
	d->acs_capable = (uint16_t)(cfg[off + PCI_ACS_CAP] | cfg[off + PCI_ACS_CAP + 1] << 8);
	d->acs_enabled = (uint16_t)(cfg[off + PCI_ACS_CTRL] | cfg[off + PCI_ACS_CTRL + 1] << 8);
}

/* The kernel's reset methods, and ACS: the attributes in dfd, or in dir below it when dir is
 * not NULL (one path lookup each, not one for the directory and one for each). */
static int read_details(int dfd, const char *dir, struct pcidev *d)
{
	_cleanup_free_ char *resets = NULL;
	char config_path[PATH_MAX], reset_path[PATH_MAX];	/* not zeroed: one per function */
	const char *config = "config", *reset = "reset_method";
	int r;

	if (dir) {
		if (snprintf(config_path, sizeof(config_path), "%s/config", dir) >= (int)sizeof(config_path) ||
		    snprintf(reset_path, sizeof(reset_path), "%s/reset_method", dir) >= (int)sizeof(reset_path))
			return -ENAMETOOLONG;
		config = config_path;
		reset = reset_path;
	}
	read_acs(dfd, config, d);
	r = read_opt_str(dfd, reset, &resets);
	if (r >= 0 && resets)
		r = split_words(resets, &d->reset_methods);
	if (r >= 0)
		d->details_read = true;
	return r;
}

int pcidev_read(struct sysfs *s, const char *address, const struct pcidev_read_ctx *ctx,
		struct pcidev **ret)
{
	_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;
	_cleanup_close_ int dfd = -EBADF;
	uint8_t cfg[256];
	ssize_t n_cfg;
	int pcie, r;

	if (!pci_addr_is_valid(address))
		return -EINVAL;
	d = new0(struct pcidev, 1);
	if (!d)
		return -ENOMEM;
	d->n_ref = 1;
	d->subsystem_vendor = d->subsystem_device = d->revision = -1;
	strcpy(d->address, address);

	dfd = sysfs_pci_open_parent(s, address, d->parent, &d->dir);
	if (dfd < 0)
		return dfd;
	r = read_opt_link(dfd, "physfn", &d->physfn);
	if (r < 0)
		return r;

	/* The identity is not optional: a function without it is going away. */
	n_cfg = sysfs_read_bin_at(dfd, "config", cfg, sizeof(cfg));
	read_header(cfg, n_cfg, d);
	pcie = pcie_cap_at(d, cfg, n_cfg);
	if (!ids_from_config(d, cfg, n_cfg)) {
		/* A VF: its PF's vendor and VF device id, from the PF in the model when the
		 * caller has it, else the VF's attributes. */
		const struct pcidev *pf = d->physfn && ctx && ctx->find && d->header != _PCI_HEADER_INVALID ?
			ctx->find(ctx->userdata, d->physfn) : NULL;

		if (pf && pf->sriov_vf_device >= 0) {
			d->vendor = pf->vendor;
			d->device = (uint32_t)pf->sriov_vf_device;
		} else {
			r = ids_from_attributes(dfd, d, d->physfn && d->header != _PCI_HEADER_INVALID);
			if (r < 0)
				return r;
		}
	}
	if ((d->header == PCI_HEADER_BRIDGE || d->header == PCI_HEADER_CARDBUS) &&
	    !bridge_subsystem_from_config(d, cfg, n_cfg)) {
		d->subsystem_vendor = read_opt_u32(dfd, "subsystem_vendor", 16);
		d->subsystem_device = read_opt_u32(dfd, "subsystem_device", 16);
	}

	r = read_opt_link(dfd, "driver", &d->driver);
	if (r >= 0)
		r = read_opt_str(dfd, "driver_override", &d->driver_override);
	if (r < 0)
		return r;
	/* Unset reads "(null)" on most kernels, empty on some. */
	if (d->driver_override && (streq(d->driver_override, "(null)") || !*d->driver_override))
		d->driver_override = mfree(d->driver_override);

	{
		_cleanup_free_ char *group = NULL;
		uint32_t g;

		r = read_opt_link(dfd, "iommu_group", &group);
		if (r < 0)
			return r;
		d->iommu_group = group && safe_atou32(group, &g) >= 0 && g <= INT32_MAX ? (int32_t)g : -1;
	}
	if (sysfs_read_i32_at(dfd, "numa_node", &d->numa_node) < 0 || d->numa_node < 0)
		d->numa_node = -1;
	/* The kernel shows boot_vga on VGA-class functions only. */
	d->boot_vga = d->class >> 8 == 0x0300 ? read_opt_u32(dfd, "boot_vga", 10) : -1;
	if (d->boot_vga > 1)
		d->boot_vga = 1;

	/* The SR-IOV attributes exist on PFs only: one failed open on every other endpoint. */
	d->sriov_totalvfs = may_be_pf(d, cfg, pcie) ? read_opt_u32(dfd, "sriov_totalvfs", 10) : -1;
	d->sriov_numvfs = d->sriov_autoprobe = d->sriov_vf_device = -1;
	if (d->sriov_totalvfs > 0) {
		d->sriov_numvfs = read_opt_u32(dfd, "sriov_numvfs", 10);
		d->sriov_autoprobe = read_opt_u32(dfd, "sriov_drivers_autoprobe", 10);
		d->sriov_vf_device = read_opt_u32(dfd, "sriov_vf_device", 16);
		/* A whole scan knows its VFs from their physfn links (model_scan()). */
		if (!(ctx && ctx->scan))
			r = read_virtfns(dfd, d->sriov_numvfs, &d->virtfns);
		if (r < 0)
			return r;
	} else if (d->sriov_totalvfs == 0) {
		d->sriov_numvfs = read_opt_u32(dfd, "sriov_numvfs", 10);
	}

	/* The link from config space when all 256 bytes could be read (as root); else the four
	 * attributes, one group the kernel shows for PCI Express functions only. */
	r = link_from_config(d, cfg, pcie) ? 0 :
	    read_link_state(dfd, "current_link_speed", "current_link_width", &d->link);
	if (r > 0)
		r = read_link_state(dfd, "max_link_speed", "max_link_width", &d->max_link);
	if (r < 0)
		return r;
	/* What the boot path does not need is left to the first that asks, after a whole scan. */
	if (!(ctx && ctx->scan)) {
		r = read_details(dfd, NULL, d);
		if (r < 0)
			return r;
	}

	*ret = TAKE_PTR(d);
	return 0;
}

int pcidev_read_details(struct sysfs *s, struct pcidev *d)
{
	_cleanup_close_ int dfd = -EBADF;

	if (d->details_read)
		return 0;
	if (d->dir && strlen(d->dir) < PATH_MAX / 2)
		return read_details(s->root_fd, d->dir, d);
	dfd = sysfs_pci_open(s, d->address, NULL);
	if (dfd < 0) {
		d->details_read = true;	/* gone: its next record will say */
		return 0;
	}
	return read_details(dfd, NULL, d);
}

/* --- JSON --------------------------------------------------------------------------------- */

static json_object *speed_to_json(double gts)
{
	return gts > 0 ? json_object_new_double(gts) : NULL;
}

static int link_to_json(const struct pcidev *d, json_object **ret)
{
	struct json_build b;
	int gen = pci_link_generation(d->link.speed);
	int max_gen = pci_link_generation(d->max_link.speed);

	*ret = NULL;
	if (d->link.speed <= 0 && d->max_link.speed <= 0 && d->link.width < 0 && d->max_link.width < 0)
		return 0;	/* conventional PCI, or the kernel shows no link */
	b = json_build_new();
	json_build_add(&b, "speed_gts", speed_to_json(d->link.speed));
	json_build_opt_int(&b, "width", d->link.width);
	json_build_opt_int(&b, "generation", gen ?: -1);
	json_build_add(&b, "max_speed_gts", speed_to_json(d->max_link.speed));
	json_build_opt_int(&b, "max_width", d->max_link.width);
	json_build_opt_int(&b, "max_generation", max_gen ?: -1);
	json_build_opt_int(&b, "bandwidth_mbps", gen && d->link.width > 0 ?
			   (int64_t)pci_link_lane_mbps(gen) * d->link.width : -1);
	json_build_opt_int(&b, "max_bandwidth_mbps", max_gen && d->max_link.width > 0 ?
			   (int64_t)pci_link_lane_mbps(max_gen) * d->max_link.width : -1);
	return json_build_done(&b, ret);
}

static void names_to_json(struct json_build *b, const struct pci_names *n)
{
	static const struct pci_names unknown = {};

	n = n ?: &unknown;
	json_build_str(b, "vendor_name", n->vendor);
	json_build_str(b, "device_name", n->device);
	json_build_str(b, "subsystem_vendor_name", n->subsystem_vendor);
	json_build_str(b, "subsystem_name", n->subsystem);
	json_build_str(b, "class_name", n->class);
	json_build_str(b, "subclass_name", n->subclass);
	json_build_str(b, "prog_if_name", n->prog_if);
}

int pcidev_to_json(const struct pcidev *d, char *const *siblings, json_object **ret)
{
	struct json_build b = json_build_new();
	json_object *link = NULL, *acs = NULL;

	json_build_str(&b, "address", d->address);
	json_build_int(&b, "vendor_id", d->vendor);
	json_build_int(&b, "device_id", d->device);
	json_build_opt_int(&b, "subsystem_vendor_id", d->subsystem_vendor);
	json_build_opt_int(&b, "subsystem_device_id", d->subsystem_device);
	json_build_int(&b, "class", d->class);
	names_to_json(&b, d->names);
	json_build_opt_int(&b, "revision", d->revision);
	json_build_str(&b, "header_type", pci_header_to_string(d->header));
	json_build_opt_bool(&b, "multifunction", d->multifunction);
	json_build_str(&b, "driver", d->driver);
	json_build_str(&b, "driver_override", d->driver_override);
	json_build_opt_int(&b, "iommu_group", d->iommu_group);
	json_build_opt_int(&b, "numa_node", d->numa_node);
	json_build_opt_bool(&b, "boot_vga", d->boot_vga);
	json_build_str(&b, "physfn", d->physfn);
	json_build_strv(&b, "virtfns", d->virtfns, false);
	json_build_opt_int(&b, "sriov_numvfs", d->sriov_numvfs);
	json_build_opt_int(&b, "sriov_totalvfs", d->sriov_totalvfs);
	json_build_strv(&b, "siblings", siblings, false);
	if (b.r >= 0)
		b.r = link_to_json(d, &link);
	json_build_add(&b, "link", link);
	json_build_strv(&b, "reset_methods", d->reset_methods, true);
	if (b.r >= 0 && d->has_acs)
		b.r = pci_acs_to_json(d->acs_capable, d->acs_enabled, &acs);
	json_build_add(&b, "acs", acs);
	json_build_str(&b, "parent", d->parent[0] ? d->parent : NULL);
	return json_build_done(&b, ret);
}
