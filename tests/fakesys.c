// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fakesys - build and mutate synthetic Linux sysfs PCI trees for pcipass
 * tests and benchmarks, and send udev-format netlink uevents.  The trees
 * and uevents themselves are fakesys-lib.c's, shared with tests/fakekernel.
 *
 * Usage (ROOT is never "/", "/sys" or anything under /sys or /proc):
 *   fakesys ROOT init [--iommu UNIT]... [--lockdown MODE] [--noiommu Y|N]
 *   fakesys ROOT add ADDR [key=value]... [-u]
 *   fakesys ROOT remove ADDR [-u]
 *   fakesys ROOT bind ADDR DRIVER [-u]
 *   fakesys ROOT unbind ADDR [-u]
 *   fakesys ROOT set ADDR ATTR VALUE [-u]
 *   fakesys ROOT gen N [--vfs-per-pf K] [--start-bus B]
 *   fakesys uevent ACTION DEVPATH SUBSYSTEM [KEY=VALUE]...
 * "fakesys --help" describes the add keys and defaults.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fakesys-lib.h"

#define MAX_VFS_PER_PF		255	/* ARI functions 1..255 of the PF's bus */

static const char usage_text[] =
"usage:\n"
"  fakesys ROOT init [--iommu UNIT]... [--lockdown MODE] [--noiommu Y|N]\n"
"  fakesys ROOT add ADDR [key=value]... [-u]\n"
"  fakesys ROOT remove ADDR [-u]\n"
"  fakesys ROOT bind ADDR DRIVER [-u]\n"
"  fakesys ROOT unbind ADDR [-u]\n"
"  fakesys ROOT set ADDR ATTR VALUE [-u]\n"
"  fakesys ROOT gen N [--vfs-per-pf K] [--start-bus B]\n"
"  fakesys uevent ACTION DEVPATH SUBSYSTEM [KEY=VALUE]...\n"
"\n"
"gen: N functions in domains 0, 1, ... (root bus B, hex, default 0): host\n"
"  bridge, pcieport root ports, behind each one card: SR-IOV NIC PF with K\n"
"  (default 4) VFs, NVMe, VGA+HDA pair (one group), xHCI (unbound), ...\n"
"ADDR is DDDD:BB:DD.F (or BB:DD.F for domain 0).  -u/--uevent sends the\n"
"matching udev uevent(s) after changing the tree.\n"
"init: --lockdown none|integrity|confidentiality|absent (default none).\n"
"add keys (defaults in brackets):\n"
"  vendor= [0x8086] device= [0x10d3] subvendor= [=vendor] subdevice= [0x0000]\n"
"  class= [0x020000, 0x060400 if header=1] revision= [0x00] (hex)\n"
"  header=0|1 (1 = PCI bridge) [0]  mf=0|1 [0]  pcie=0|1 [1]\n"
"  driver=NAME override=NAME group=N numa=N [-1] boot_vga=0|1 (VGA only)\n"
"  parent=ADDR (bridge it sits behind)  physfn=ADDR (VF of that PF)\n"
"  totalvfs=N (SR-IOV PF)  vfdevice= [=device] (PF's sriov_vf_device)\n"
"  speed= [8.0 GT/s PCIe] width= [1] maxspeed= [=speed] maxwidth= [=width]\n"
"  reset=\"flr bus\"  iommu=UNIT [first unit under class/iommu]\n"
"  rom=FILE (the \"rom\" attribute holds FILE's bytes, mode 0600)\n"
"  pin=0..4 (config space Interrupt Pin) [1; 0 for a VF]\n"
"  acs=BITS (hex: an ACS capability with these controls on) [none; gen's root\n"
"  ports: 0x1d, SrcValid ReqRedir CmpltRedir UpstreamFwd]\n"
"A VF inherits ids, class, revision, numa and link from its PF unless given.\n"
"uevent: SEQNUM=/USEC_INITIALIZED= may be given; otherwise SEQNUM is the\n"
"CLOCK_MONOTONIC time in microseconds.  Tree commands count SEQNUM in\n"
"ROOT/" SEQNUM_FILE ".\n";

static int cmd_init(struct tree *t, int argc, char **argv)
{
	const char *lockdown = "none", *noiommu = NULL;
	int i, r;

	for (i = 0; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--lockdown"))
			lockdown = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--noiommu"))
			noiommu = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--iommu"))
			i++;
		else
			return fail(-EINVAL, "init: bad argument '%s'", argv[i]);
	}
	r = init_base(t);
	if (!r)
		r = init_lockdown(t, lockdown);
	if (!r && noiommu)
		r = init_noiommu(t, noiommu);
	for (i = 0; !r && i < argc; i += 2)
		if (!strcmp(argv[i], "--iommu"))
			r = init_unit(t, argv[i + 1]);
	return r;
}

/* ------------------------------------------------------------------ */
/* add, remove, bind, unbind, set                                       */

static int get_addr(const char *s, struct pci_addr *a)
{
	if (addr_parse(s, a))
		return fail(-EINVAL, "bad PCI address '%s'", s);
	return 0;
}

static int cmd_add(struct tree *t, int argc, char **argv)
{
	struct fdev f;
	int i, r;

	fdev_init(&f);
	r = get_addr(argv[0], &f.a);
	for (i = 1; !r && i < argc; i++)
		r = key_parse(&f, argv[i]);
	if (!r)
		r = dev_add(t, &f);
	if (!r)
		r = ue_emit(t, "add", f.dir);
	if (!r && f.driver)
		r = ue_emit(t, "bind", f.dir);
	fdev_release(&f);
	return r;
}

static int cmd_remove(struct tree *t, int argc, char **argv)
{
	struct pci_addr a;
	char *dir = NULL;
	int r;

	(void)argc;
	r = get_addr(argv[0], &a);
	if (!r)
		r = dev_locate(t, a.s, &dir);
	if (!r)
		r = dev_stop(t, dir);
	if (!r)
		r = dev_destroy(t, dir);
	free(dir);
	return r;
}

static int cmd_bind(struct tree *t, int argc, char **argv)
{
	struct pci_addr a;
	char *dir = NULL, *drv = NULL;
	int r;

	(void)argc;
	if (!valid_name(argv[1]))
		return fail(-EINVAL, "bad driver name '%s'", argv[1]);
	r = get_addr(argv[0], &a);
	if (!r)
		r = dev_locate(t, a.s, &dir);
	if (!r && !dev_driver(t, dir, &drv)) {
		err_msg("%s is bound to %s already", a.s, drv);
		r = -EBUSY;
	}
	if (!r)
		r = driver_link(t, dir, argv[1]);
	if (!r)
		r = uevent_set_driver(t, dir, argv[1]);
	if (!r)
		r = ue_emit(t, "bind", dir);
	free(drv);
	free(dir);
	return r;
}

static int cmd_unbind(struct tree *t, int argc, char **argv)
{
	struct pci_addr a;
	char *dir = NULL, *drv = NULL;
	int r;

	(void)argc;
	r = get_addr(argv[0], &a);
	if (!r)
		r = dev_locate(t, a.s, &dir);
	if (!r && dev_driver(t, dir, &drv)) {
		err_msg("%s is not bound", a.s);
		r = -ENODEV;
	}
	if (!r)
		r = dev_unbind(t, dir);
	free(drv);
	free(dir);
	return r;
}

/* A path below the device directory, not one of the links fakesys keeps. */
static int valid_attr(const char *attr)
{
	static const char *const links[] = {
		"driver", "subsystem", "iommu_group", "iommu", "physfn",
	};
	struct names l = { 0 };
	size_t i;
	int ok;

	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (!strcmp(attr, links[i]))
			return 0;
	if (keep_virtfn(-1, NULL, attr))
		return 0;
	ok = attr[0] != '/' && !split_path(attr, &l) && l.n;
	for (i = 0; ok && i < l.n; i++)
		ok = valid_name(l.v[i]);
	names_free(&l);
	return ok;
}

static int cmd_set(struct tree *t, int argc, char **argv)
{
	const char *attr = argv[1], *val = argv[2];
	struct pci_addr a;
	char *dir = NULL, *path = NULL;
	int r;

	(void)argc;
	if (!valid_attr(attr))
		return fail(-EINVAL, "bad attribute name '%s'", attr);
	/* writing an empty override clears it, as in the kernel */
	if (!strcmp(attr, "driver_override") && !*val)
		val = "(null)";
	r = get_addr(argv[0], &a);
	if (!r)
		r = dev_locate(t, a.s, &dir);
	if (!r) {
		path = xfmt("%s/%s", dir, attr);
		r = path ? put_fmt(t->fd, path, 0644, "%s\n", val) : -ENOMEM;
	}
	if (!r)
		r = ue_emit(t, "change", dir);
	free(path);
	free(dir);
	return r;
}

/* ------------------------------------------------------------------ */
/* gen                                                                  */

enum card {
	C_NIC_ICE, C_NVME, C_GPU, C_NIC_MLX, C_NVME_IDLE, C_XHCI,
	C_GPU_VFIO, C_NIC_I40E, C_COUNT
};

/* A NIC family: PF and VF ids and drivers. */
struct nic {
	long vendor, pf, vf;
	const char *pfdrv, *vfdrv;
	long speed, width;
};

static const struct nic nics[] = {
	{ 0x8086, 0x1592, 0x1889, "ice", "iavf", 4, 16 },
	{ 0x15b3, 0x1017, 0x1018, "mlx5_core", "mlx5_core", 3, 16 },
	{ 0x8086, 0x1572, 0x154c, "i40e", "iavf", 3, 8 },
};

struct gen {
	struct tree *t;
	long left;		/* functions still to create */
	long vfs;		/* VFs per PF */
	unsigned int dom, rbus, slot;	/* slot: root port devfn on rbus */
	int started, vga_done;
	long group;		/* next IOMMU group */
	unsigned long card;
	struct pci_addr rp;	/* current root port */
	char *busdir;		/* devices/pciDDDD:BB */
	char *rpdir;		/* the root port's directory */
};

static int gen_fdev(struct fdev *f, const struct gen *g, long vendor,
		    long device, long class, const char *drv)
{
	fdev_init(f);
	f->vendor = vendor;
	f->subvendor = vendor;
	f->device = device;
	f->vfdevice = device;
	f->class = class;
	f->driver = drv;
	f->numa = g->dom & 1;
	f->speed = f->maxspeed = 4;
	f->width = f->maxwidth = 16;
	f->parent = g->rp.s;
	f->set = ~0u;		/* no VF inheritance: every field is given */
	f->pdir = strdup(g->rpdir ? g->rpdir : g->busdir);
	return f->pdir ? 0 : -ENOMEM;
}

static int gen_put(struct gen *g, struct fdev *f, unsigned int bus,
		   unsigned int devfn)
{
	int r;

	r = addr_make(&f->a, g->dom, bus, devfn >> 3, devfn & 7);
	if (!r && f->group < 0)
		f->group = g->group++;
	if (!r)
		r = dev_add(g->t, f);
	if (r)
		err_msg("gen: adding %s failed: %s", f->a.s, strerror(-r));
	fdev_release(f);
	g->left--;
	return r;
}

static int gen_vf(struct gen *g, unsigned int sb, const struct nic *n,
		  const char *pf, long i)
{
	struct fdev f;
	int r;

	/* ARI routing IDs: VF i at function PF + 1 + i */
	r = gen_fdev(&f, g, n->vendor, n->vf, 0x020000,
		     i % 3 == 0 ? "vfio-pci" : i % 3 == 1 ? n->vfdrv : NULL);
	f.speed = f.maxspeed = n->speed;
	f.width = f.maxwidth = n->width;
	f.parent = NULL;
	f.physfn = pf;
	f.vf_index = i;
	f.reset = "flr";
	f.pfdir = xfmt("%s/%s", g->rpdir, pf);
	if (!r && !f.pfdir)
		r = -ENOMEM;
	if (r) {
		fdev_release(&f);
		return r;
	}
	return gen_put(g, &f, sb, (unsigned int)i + 1);
}

static int gen_nic(struct gen *g, unsigned int sb, const struct nic *n,
		   long vfs)
{
	struct pci_addr pf;
	struct fdev f;
	char *pfdir;
	long i;
	int r;

	r = gen_fdev(&f, g, n->vendor, n->pf, 0x020000, n->pfdrv);
	f.vfdevice = n->vf;
	f.totalvfs = vfs > 64 ? vfs : 64;
	f.speed = f.maxspeed = n->speed;
	f.width = f.maxwidth = n->width;
	f.reset = "flr bus";
	if (r)
		fdev_release(&f);
	else
		r = gen_put(g, &f, sb, 0);
	addr_make(&pf, g->dom, sb, 0, 0);
	for (i = 0; !r && i < vfs; i++)
		r = gen_vf(g, sb, n, pf.s, i);
	pfdir = xfmt("%s/%s", g->rpdir, pf.s);
	if (!r)
		r = pfdir ? pf_update_numvfs(g->t, pfdir) : -ENOMEM;
	free(pfdir);
	return r;
}

static int gen_gpu_fn(struct gen *g, unsigned int sb, int hda, int vfio,
		      long group)
{
	struct fdev f;
	int r;

	if (hda)
		r = gen_fdev(&f, g, 0x10de, 0x1aef, 0x040300,
			     vfio ? "vfio-pci" : "snd_hda_intel");
	else
		r = gen_fdev(&f, g, 0x10de, 0x2204, 0x030000,
			     vfio ? "vfio-pci" : "nouveau");
	f.subdevice = 0x1454;
	f.mf = 1;
	f.group = group;
	f.reset = "bus";
	if (!hda)
		f.boot_vga = !g->vga_done;
	g->vga_done = 1;
	if (r) {
		fdev_release(&f);
		return r;
	}
	return gen_put(g, &f, sb, (unsigned int)hda);
}

/* A GPU: VGA and HDA functions of one multifunction device, one group. */
static int gen_gpu(struct gen *g, unsigned int sb, int vfio)
{
	long group = g->group++;
	int r;

	r = gen_gpu_fn(g, sb, 0, vfio, group);
	if (!r && g->left)
		r = gen_gpu_fn(g, sb, 1, vfio, group);
	return r;
}

static int gen_single(struct gen *g, unsigned int sb, enum card c)
{
	struct fdev f;
	int r;

	if (c == C_XHCI) {
		r = gen_fdev(&f, g, 0x1912, 0x0015, 0x0c0330, NULL);
		f.subdevice = 0x0015;
		f.speed = f.maxspeed = 2;
		f.width = f.maxwidth = 1;
		f.reset = "bus";
	} else {
		r = gen_fdev(&f, g, 0x144d, 0xa80a, 0x010802,
			     c == C_NVME_IDLE ? NULL : "nvme");
		f.subdevice = 0xa801;
		f.width = f.maxwidth = 4;
		f.reset = "flr bus";
	}
	if (r) {
		fdev_release(&f);
		return r;
	}
	return gen_put(g, &f, sb, 0);
}

/* What sits behind one root port, shrunk to the functions left. */
static int gen_endpoint(struct gen *g, unsigned int sb)
{
	enum card c = (enum card)(g->card++ % C_COUNT);
	long vfs = g->vfs < g->left - 1 ? g->vfs : g->left - 1;

	if ((c == C_GPU || c == C_GPU_VFIO) && g->left < 2)
		c = C_NVME;
	switch (c) {
	case C_NIC_ICE:
		return gen_nic(g, sb, &nics[0], vfs);
	case C_NIC_MLX:
		return gen_nic(g, sb, &nics[1], vfs);
	case C_NIC_I40E:
		return gen_nic(g, sb, &nics[2], vfs);
	case C_GPU:
	case C_GPU_VFIO:
		return gen_gpu(g, sb, c == C_GPU_VFIO);
	default:
		return gen_single(g, sb, c);
	}
}

static int gen_root_port(struct gen *g)
{
	unsigned int sb = g->rbus + 1 + g->slot - 8;
	struct fdev f;
	int r;

	free(g->rpdir);
	g->rpdir = NULL;
	/* Xeon E5 v3 root ports: ids the hardware database names. */
	r = gen_fdev(&f, g, 0x8086, 0x2f04 + (g->slot & 3), 0x060400,
		     "pcieport");
	f.parent = NULL;
	f.header = 1;
	f.mf = 1;
	f.acs = 0x1d;	/* redirection on: each card behind it a group of its own */
	f.secbus = f.subbus = sb;
	if (r) {
		fdev_release(&f);
		return r;
	}
	r = gen_put(g, &f, g->rbus, g->slot);
	addr_make(&g->rp, g->dom, g->rbus, g->slot >> 3, g->slot & 7);
	g->slot++;
	g->rpdir = r ? NULL : xfmt("%s/%s", g->busdir, g->rp.s);
	if (!r && !g->rpdir)
		r = -ENOMEM;
	if (!r && g->left)
		r = gen_endpoint(g, sb);
	return r;
}

/* Next PCI domain: its host bridge at DDDD:BB:00.0, root ports after. */
static int gen_domain(struct gen *g)
{
	struct fdev f;
	int r;

	if (g->started && ++g->dom > 0xffff)
		return fail(-ENOSPC, "gen: out of PCI domains");
	g->started = 1;
	g->slot = 8;
	free(g->rpdir);
	free(g->busdir);
	g->rpdir = NULL;
	g->rp.s[0] = '\0';
	g->busdir = xfmt("devices/pci%04x:%02x", g->dom, g->rbus);
	r = g->busdir ? mkdir_p(g->t->fd, g->busdir, 0755) : -ENOMEM;
	if (r)
		return r;
	r = gen_fdev(&f, g, 0x8086, 0x09a2, 0x060000, NULL);
	f.parent = NULL;
	f.pcie = 0;
	if (r) {
		fdev_release(&f);
		return r;
	}
	return gen_put(g, &f, g->rbus, 0);
}

static int gen_check_free(struct gen *g)
{
	struct names l = { 0 };
	struct pci_addr a;
	size_t i;
	int r;

	r = list_dir(g->t->fd, "bus/pci/devices", keep_any, &l);
	for (i = 0; !r && i < l.n; i++)
		if (!addr_parse(l.v[i], &a) && a.bus >= g->rbus)
			r = fail(-EEXIST, "gen: %s is on bus >= %u, use --start-bus",
				 l.v[i], g->rbus);
	names_free(&l);
	return r;
}

static int gen_args(struct gen *g, int argc, char **argv)
{
	long v;
	int i;

	if (parse_long(argv[0], 10, &g->left) || g->left < 1)
		return fail(-EINVAL, "gen: bad count '%s'", argv[0]);
	for (i = 1; i < argc; i += 2) {
		int bus = !strcmp(argv[i], "--start-bus");	/* hex */

		if (i + 1 >= argc || parse_long(argv[i + 1], bus ? 16 : 10, &v))
			return fail(-EINVAL, "gen: bad argument '%s'", argv[i]);
		if (!strcmp(argv[i], "--vfs-per-pf") && v >= 0 &&
		    v <= MAX_VFS_PER_PF)
			g->vfs = v;
		else if (bus && v >= 0 && v < 255)
			g->rbus = (unsigned int)v;
		else
			return fail(-EINVAL, "gen: bad argument '%s %s'",
				    argv[i], argv[i + 1]);
	}
	return 0;
}

static int cmd_gen(struct tree *t, int argc, char **argv)
{
	struct gen g = { .t = t, .vfs = 4 };
	int r;

	r = gen_args(&g, argc, argv);
	if (!r)
		r = init_base(t);
	if (!r)
		r = gen_check_free(&g);
	if (!r)
		r = next_group(t, &g.group);
	t->batch = 1;
	while (!r && g.left > 0) {
		if (!g.started || g.slot > 255 || g.rbus + 1 + g.slot - 8 > 255)
			r = gen_domain(&g);
		else
			r = gen_root_port(&g);
	}
	free(g.rpdir);
	free(g.busdir);
	return r;
}

/* ------------------------------------------------------------------ */
/* uevent                                                               */

static int cmd_uevent(struct tree *t, int argc, char **argv)
{
	static const char *const actions[] = {
		"add", "remove", "change", "move", "online", "offline",
		"bind", "unbind",
	};
	struct props p = { 0 };
	size_t i;
	int r, known = 0;

	if (argc < 3)
		return fail(-EINVAL, "uevent: ACTION DEVPATH SUBSYSTEM needed");
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		known |= !strcmp(argv[0], actions[i]);
	if (!known)
		fprintf(stderr, "fakesys: warning: libudev drops ACTION=%s\n",
			argv[0]);
	r = props_add(&p, "ACTION=%s", argv[0]);
	if (!r)
		r = props_add(&p, "DEVPATH=%s", argv[1]);
	if (!r)
		r = props_add(&p, "SUBSYSTEM=%s", argv[2]);
	for (i = 3; !r && i < (size_t)argc; i++) {
		if (!strchr(argv[i], '=') || argv[i][0] == '=')
			r = fail(-EINVAL, "uevent: '%s' is not KEY=VALUE", argv[i]);
		else
			r = props_put(&p, argv[i], strlen(argv[i]));
	}
	if (!r && !props_get(&p, "SEQNUM"))
		r = props_add(&p, "SEQNUM=%llu", usec_now());
	if (!r && !props_get(&p, "USEC_INITIALIZED"))
		r = props_add(&p, "USEC_INITIALIZED=%llu", usec_now());
	if (!r)
		r = nl_send(t, &p);
	free(p.buf);
	return r;
}

struct cmd {
	const char *name;
	int (*fn)(struct tree *t, int argc, char **argv);
	int min, max;		/* arguments after the command name */
	int mutating;		/* takes -u; creates ROOT if not */
};

static const struct cmd cmds[] = {
	{ "init", cmd_init, 0, INT_MAX, 0 },
	{ "add", cmd_add, 1, INT_MAX, 1 },
	{ "remove", cmd_remove, 1, 1, 1 },
	{ "bind", cmd_bind, 2, 2, 1 },
	{ "unbind", cmd_unbind, 1, 1, 1 },
	{ "set", cmd_set, 3, 3, 1 },
	{ "gen", cmd_gen, 1, 5, 0 },
};

static int is_uflag(const char *s)
{
	return !strcmp(s, "-u") || !strcmp(s, "--uevent");
}

/* Drop -u/--uevent from @argv (of a mutating command) into t->send. */
static int strip_uflag(struct tree *t, int argc, char **argv)
{
	int i, n = 0;

	for (i = 0; i < argc; i++) {
		if (is_uflag(argv[i]))
			t->send = 1;
		else
			argv[n++] = argv[i];
	}
	return n;
}

static int run_tree_cmd(struct tree *t, int argc, char **argv)
{
	const struct cmd *c = NULL;
	size_t i;
	int n, r;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[2], cmds[i].name))
			c = &cmds[i];
	if (!c)
		return fail(-EINVAL, "unknown command '%s' (try --help)", argv[2]);
	n = argc - 3;
	if (c->mutating)
		n = strip_uflag(t, n, argv + 3);
	if (n < c->min || n > c->max)
		return fail(-EINVAL, "%s: wrong number of arguments (try --help)",
			       c->name);
	r = tree_open(t, argv[1], !c->mutating);
	if (!r)
		r = c->fn(t, n, argv + 3);
	return r;
}

int main(int argc, char **argv)
{
	struct tree t = { .fd = -1, .nl = -1 };
	int r;

	umask(0);
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "uevent")) {
		t.send = 1;
		r = cmd_uevent(&t, argc - 2, argv + 2);
	} else if (argc < 3) {
		err_msg("missing command (try --help)");
		r = -EINVAL;
	} else {
		r = run_tree_cmd(&t, argc, argv);
	}
	if (r && !fakesys_reported)
		err_msg("%s", strerror(-r));
	tree_close(&t);
	return r ? 1 : 0;
}
