// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fakekernel - a FUSE file system that serves a synthetic sysfs tree (one
 * tests/fakesys built) the way the kernel serves /sys: reads, directory
 * listings and links pass through to the BACKING tree, and writes to the
 * PCI control attributes are answered synchronously with the kernel's
 * semantics and errnos.  A successful write changes BACKING as the kernel
 * would (driver links, driver_override, VFs, removed functions), creates or
 * removes device nodes under DEVROOT, and sends the uevents the kernel and
 * udevd would send (with --uevents; only inside "unshare -n").
 *
 *   fakekernel BACKING MOUNTPOINT --dev-root DIR [--control FILE] [--uevents] [-d]
 *
 * Runs in the foreground with a multithreaded FUSE loop (a write held by a
 * "hang" line does not block other requests); SIGTERM or SIGINT unmounts
 * and exits 0.  Needs root for the mount: run it inside "unshare -m -n" so
 * the mount and the uevents stay private.  Entry and attribute caching are
 * off and every file is direct_io, so each read sees the current BACKING
 * content and each write reaches the handler.
 *
 * Control writes (paths as the kernel resolves them; ADDR is DDDD:BB:DD.F):
 *   devices/.../ADDR/driver_override   devices/.../ADDR/sriov_numvfs
 *   devices/.../ADDR/sriov_drivers_autoprobe
 *   devices/.../ADDR/remove            devices/.../ADDR/rescan
 *   devices/.../ADDR/rom
 *   bus/pci/drivers/DRV/{bind,unbind,new_id,remove_id}
 *   bus/pci/drivers_probe              bus/pci/rescan
 * Opening a file for writing that has no write bit, or for reading that has
 * no read bit, fails with EACCES (kernfs_fop_open()).  Writes to other
 * writable files are stored in BACKING as written (offset 0 replaces the
 * content, except for the binary "config").  Creating, removing or renaming
 * files fails as in sysfs (EACCES, EPERM).
 *
 * Model of matching and probing (what "the kernel" knows about drivers):
 * - A driver matches a function when driver_override names it, or (with no
 *   override) when one of its dynamic ids (new_id) matches, or when it is
 *   the function's host driver.  vfio-pci and every *vfio* driver,
 *   uio_pci_generic and pci-stub match only by override or dynamic id.
 * - The host driver of a function is the driver it was bound to when
 *   fakekernel started (or when fakekernel first touched a function added
 *   behind its back); a control-file "host" line overrides it.  Functions
 *   bound to an override-only driver at start have no host driver.  A VF
 *   has the PF's host driver unless a "vfhost" line (or "host" for the VF
 *   itself) names another.
 * - A driver is registered when BACKING has bus/pci/drivers/NAME.
 * - Probe refusals: vfio drivers refuse a bridge (header type & 0x7f != 0)
 *   with EINVAL, a PF with VFs enabled with EBUSY, a function without an
 *   IOMMU group with EINVAL unless module/vfio/parameters/
 *   enable_unsafe_noiommu_mode is Y (then a "vfio-noiommu" group is made);
 *   uio_pci_generic refuses a "nointx" function with ENODEV; a VF whose PF
 *   has sriov_drivers_autoprobe 0 and that has no override refuses with
 *   ENODEV (pci_device_can_probe()).  Before the probe, a driver that is
 *   not driver_managed_dma (anything but vfio drivers, pci-stub, pcieport)
 *   gets EBUSY, as a core error, when the function's IOMMU group is owned
 *   by a VFIO user: some process has DEVROOT/vfio/N (or noiommu-N) open.
 * - Unbinding a PF's driver disables SR-IOV first (as PF drivers do in
 *   remove()): its VFs are unbound and removed, with their uevents.
 * - The expansion ROM (a "rom" file of the function, tests/fakesys rom=FILE)
 *   is read as pci_read_rom() reads it: EINVAL until enabled; then the
 *   images from its start as pci_get_rom_size() finds them (each with
 *   0x55AA and a "PCIR" structure, up to the one flagged last; the file's
 *   size is the ROM BAR's window), EIO when the first is not one.  A write
 *   of exactly "0" and one more byte at offset 0 ("0\n") disables it, any
 *   other write enables it (pci_write_rom()); the bytes never change.  A
 *   function that is removed forgets that it was enabled.
 * - Binding a vfio driver creates DEVROOT/vfio/N (a regular file) with
 *   devices/virtual/vfio/N and class/vfio/N and a "vfio" add uevent when
 *   the group's first member binds, and DEVROOT/vfio/vfio; when the group's
 *   last vfio member unbinds they go, with a remove uevent.  Binding
 *   uio_pci_generic creates ADDR/uio/uioK (name, version, event, dev,
 *   maps/), class/uio/uioK and DEVROOT/uioK, with "uio" add and remove
 *   uevents.  The PCI "bind" uevent follows the node's add uevent; the
 *   node's remove uevent precedes "unbind".
 *
 * Control file (--control FILE): read again before each control write (and
 * rom read);
 * one rule a line, '#' starts a comment, blank lines are ignored:
 *   fail OP ADDR ERRNO [once]  the write fails with ERRNO (a name such as
 *                              EBUSY, or a number) and has no effect; with
 *                              "once" only the first matching write fails
 *                              (once per distinct line text for the life of
 *                              fakekernel: change the line to arm it again)
 *   hang OP ADDR SECONDS       the write blocks SECONDS (fractions allowed)
 *                              before it is handled; other requests go on
 *   hang OP ADDR held          the write blocks until the control file no
 *                              longer has this line (a test's trigger: no
 *                              guess at how long the machine takes); while
 *                              writes are blocked so, CONTROL.held holds
 *                              their number (then 0)
 *   host ADDR DRIVER           ADDR's host driver is DRIVER ("none": none)
 *   vfhost PFADDR DRIVER       host driver of the VFs of PFADDR
 *   nointx ADDR                ADDR has an IRQ but cannot mask INTx:
 *                              uio_pci_generic's probe refuses it (ENODEV)
 *   log FILE                   append a line for every write to FILE
 * OP is driver_override, unbind, bind, drivers_probe, sriov_numvfs,
 * sriov_drivers_autoprobe, remove, rescan, new_id, remove_id, rom, or "*";
 * and rom_read, the one read that rules act on: a read of an enabled rom
 * (fail: it fails with ERRNO; hang: it waits; reads are not logged).  ADDR
 * is "*" or the function the write is about: the written address for bind,
 * unbind and drivers_probe, the device for device attributes, the driver
 * name for new_id and remove_id; a bus-wide rescan matches only "*".  When
 * a hang and a fail both match, the write hangs, then fails.
 *
 * Log lines, in the order the writes were handled:
 *   OP TARGET VALUE -> RESULT
 * OP as above ("write" for other files); TARGET the device address for
 * device attributes, the driver for bind/unbind/new_id/remove_id, "pci"
 * for drivers_probe and bus rescan, the path for other files; VALUE the
 * bytes written with '\n', '\t', '\\' and other control bytes escaped (\n,
 * \t, \\, \xNN); RESULT "ok" or the errno name.  Example:
 *   driver_override 0000:01:00.0 vfio-pci\n -> ok
 *   unbind e1000e 0000:01:00.0 -> ok
 *   drivers_probe pci 0000:01:00.0 -> ok
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 35
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <fuse.h>
#include <fuse_lowlevel.h>

#include "fakesys-lib.h"

#define PAGE_SIZE		4096
#define VFIO_MAJOR		243	/* dynamic in the kernel; as on the q35 test bed */
#define UIO_MAJOR		245
#define HANG_SLICE_NS		20000000L	/* a hang looks for SIGTERM this often */
#define PCI_ANY_ID		0xffffffffu
#define ERRNO_MAX		4095

static const char usage_text[] =
"usage: fakekernel BACKING MOUNTPOINT --dev-root DIR [--control FILE] [--uevents] [-d]\n"
"\n"
"Serves the sysfs tree BACKING (made by tests/fakesys) at MOUNTPOINT as the\n"
"kernel serves /sys: writes to driver_override, bind, unbind, drivers_probe,\n"
"new_id, remove_id, sriov_numvfs, sriov_drivers_autoprobe, remove, rescan and\n"
"rom get the kernel's answers and change BACKING as the kernel would (rom\n"
"reads as the kernel's: EINVAL until \"1\" is written).  Needs\n"
"root; run it inside \"unshare -m -n\".  SIGTERM or SIGINT unmounts.\n"
"\n"
"  --dev-root DIR   device nodes (vfio/N, vfio/vfio, uioN) go below DIR\n"
"  --control FILE   rules, read again before each control write (and rom read):\n"
"                     fail OP ADDR ERRNO [once]\n"
"                     hang OP ADDR SECONDS|held\n"
"                     host ADDR DRIVER        (DRIVER \"none\": no host driver)\n"
"                     vfhost PFADDR DRIVER    (host driver of the PF's VFs)\n"
"                     nointx ADDR             (uio_pci_generic refuses, ENODEV)\n"
"                     log FILE                (\"OP TARGET VALUE -> RESULT\" a write)\n"
"                   OP: driver_override unbind bind drivers_probe sriov_numvfs\n"
"                   sriov_drivers_autoprobe remove rescan new_id remove_id rom\n"
"                   rom_read (a read of an enabled rom) *\n"
"                   ADDR: * or the function (the driver for new_id, remove_id)\n"
"  --uevents        send udev-format uevents (netlink, as fakesys -u)\n"
"  -d, --debug      log each control write and the library's messages to stderr\n"
"  -h, --help       this text\n"
"The comment at the top of tests/fakekernel.c describes the semantics.\n";

enum op {
	OP_DRIVER_OVERRIDE,
	OP_UNBIND,
	OP_BIND,
	OP_DRIVERS_PROBE,
	OP_SRIOV_NUMVFS,
	OP_SRIOV_AUTOPROBE,
	OP_REMOVE,
	OP_RESCAN,
	OP_NEW_ID,
	OP_REMOVE_ID,
	OP_ROM,
	OP_ROM_READ,		/* not a write: a read of an enabled rom, for rules */
	_OP_MAX,
	OP_WRITE = _OP_MAX,	/* any other file: stored as written */
	OP_ANY,			/* "*" in a rule */
};

static const char *const op_names[_OP_MAX] = {
	[OP_DRIVER_OVERRIDE] = "driver_override",
	[OP_UNBIND] = "unbind",
	[OP_BIND] = "bind",
	[OP_DRIVERS_PROBE] = "drivers_probe",
	[OP_SRIOV_NUMVFS] = "sriov_numvfs",
	[OP_SRIOV_AUTOPROBE] = "sriov_drivers_autoprobe",
	[OP_REMOVE] = "remove",
	[OP_RESCAN] = "rescan",
	[OP_NEW_ID] = "new_id",
	[OP_REMOVE_ID] = "remove_id",
	[OP_ROM] = "rom",
	[OP_ROM_READ] = "rom_read",
};

/* One write as the handler sees it. */
struct req {
	enum op op;
	const char *rel;	/* BACKING-relative path */
	char *dir;		/* device directory (device attributes) */
	char *drv;		/* driver (bind, unbind, new_id, remove_id) */
	char *target;		/* TARGET of the log line */
	char *addr;		/* ADDR that rules match ("" if none) */
	char *value;		/* the bytes written, NUL-terminated */
	size_t count;
	off_t off;
};

enum rule_kind { RULE_FAIL, RULE_HANG, RULE_HOST, RULE_VFHOST, RULE_NOINTX, RULE_LOG };

struct rule {
	enum rule_kind kind;
	enum op op;
	char *addr;		/* "*", a canonical address or a driver name */
	char *arg;		/* driver (host, vfhost), file (log) */
	char *text;		/* the line, for "once" */
	int err;
	int once;
	long long hang_ns;
};

struct control {
	struct rule *v;
	size_t n;
	const char *log;	/* the last "log" line's file, or NULL */
};

struct host {
	char *addr;
	char *drv;		/* NULL: none */
};

/* A dynamic id added through new_id; PCI_ANY_ID fields match anything. */
struct dynid {
	char *drv;
	unsigned int vendor, device, subvendor, subdevice, class, class_mask;
};

/* A function taken away through "remove", and the keys that add it again. */
struct removed {
	char *addr;
	size_t depth;		/* '/' in its directory: parents come first */
	struct names keys;
};

struct fk {
	struct tree t;
	int dev_fd;			/* DEVROOT */
	char *dev_root;			/* its canonical path, for /proc/PID/fd */
	const char *control_path;	/* or NULL */
	int debug;
	pthread_mutex_t lock;		/* everything below, and the tree */
	struct control ctl;
	struct names fired;		/* "once" lines that fired */
	struct host *hosts;
	size_t n_hosts;
	struct dynid *dynids;
	size_t n_dynids;
	struct removed *removed;
	size_t n_removed;
	struct names rom_on;		/* functions whose rom reads (rom_attr_enabled) */
	unsigned n_held;		/* writes blocked by "held" rules now */
};

__attribute__((format(printf, 2, 3)))
static void dbg(const struct fk *k, const char *fmt, ...)
{
	va_list ap;

	if (!k->debug)
		return;
	fputs("fakekernel: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *errno_name(int err)
{
	const char *s = err > 0 ? strerrorname_np(err) : NULL;

	return s ? s : "E?";
}

/* "EBUSY" or "16" to 16; 0 if neither. */
static int errno_parse(const char *s)
{
	long v;
	int e;

	if (!parse_long(s, 10, &v))
		return v > 0 && v <= ERRNO_MAX ? (int)v : 0;
	for (e = 1; e <= ERRNO_MAX; e++)
		if (strerrorname_np(e) && !strcmp(strerrorname_np(e), s))
			return e;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Kernel string parsers                                                */

/* kstrtoul(s, 0, v) with an upper bound: optional '+', 0x/0 prefixes, one trailing '\n'. */
static int kstrtoul_max(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	if (*s == '+')
		s++;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*v = strtoul(s, &end, 0);
	if (end == s || (*end && strcmp(end, "\n")))
		return -EINVAL;
	if (errno == ERANGE || *v > max)
		return -ERANGE;
	return 0;
}

/* kstrtobool(): y/Y/1/on true, n/N/0/off false, by the first characters. */
static int parse_kbool(const char *s, int *v)
{
	switch (s[0]) {
	case 'y': case 'Y': case '1':
		*v = 1;
		return 0;
	case 'n': case 'N': case '0':
		*v = 0;
		return 0;
	case 'o': case 'O':
		if (s[1] == 'n' || s[1] == 'N') {
			*v = 1;
			return 0;
		}
		if (s[1] == 'f' || s[1] == 'F') {
			*v = 0;
			return 0;
		}
		break;
	default:
		break;
	}
	return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Reading the tree                                                     */

/* First line of @dir/@attr, without the '\n'; -ENOENT if absent. */
static int attr_read(struct fk *k, const char *dir, const char *attr, char **out)
{
	char *path = xfmt("%s/%s", dir, attr);
	int r;

	if (!path)
		return -ENOMEM;
	r = read_text(k->t.fd, path, out);
	free(path);
	if (!r)
		(*out)[strcspn(*out, "\n")] = '\0';
	return r;
}

static int attr_is(struct fk *k, const char *dir, const char *attr, const char *want)
{
	char *v = NULL;
	int r;

	r = !attr_read(k, dir, attr, &v) && !strcmp(v, want);
	free(v);
	return r;
}

static long attr_long(struct fk *k, const char *dir, const char *attr, long dflt)
{
	char *v = NULL;
	long n;

	if (attr_read(k, dir, attr, &v) || parse_long(v, 0, &n))
		n = dflt;
	free(v);
	return n;
}

/* The function's driver_override, NULL when unset ("(null)" or empty). */
static char *override_of(struct fk *k, const char *dir)
{
	char *v = NULL;

	if (attr_read(k, dir, "driver_override", &v))
		return NULL;
	if (!*v || !strcmp(v, "(null)")) {
		free(v);
		return NULL;
	}
	return v;
}

/* Current driver's name, NULL when unbound. */
static char *driver_of(struct fk *k, const char *dir)
{
	char *drv = NULL;

	return dev_driver(&k->t, dir, &drv) ? NULL : drv;
}

/* Root-relative target of the link @dir/@lnk, NULL if none. */
static char *link_of(struct fk *k, const char *dir, const char *lnk)
{
	char *path = xfmt("%s/%s", dir, lnk), *target = NULL;

	if (path && read_link(k->t.fd, path, &target))
		target = NULL;
	free(path);
	return target;
}

/* Directory of the function named by a written value ("ADDR" or "ADDR\n"). */
static char *locate(struct fk *k, const char *value)
{
	char *name = strdup(value), *dir = NULL;
	size_t n;

	if (!name)
		return NULL;
	n = strlen(name);
	if (n && name[n - 1] == '\n')
		name[n - 1] = '\0';
	if (valid_name(name) && dev_locate(&k->t, name, &dir))
		dir = NULL;
	free(name);
	return dir;
}

static int is_vfio(const char *drv)
{
	return strstr(drv, "vfio") != NULL;
}

/* uio_pci_generic, and DPDK's igb_uio: a uio device per function. */
static int is_uio(const char *drv)
{
	return !strcmp(drv, "uio_pci_generic") || !strcmp(drv, "igb_uio");
}

/* Drivers whose id table matches nothing by itself (override or new_id only). */
static int override_only(const char *drv)
{
	return is_vfio(drv) || is_uio(drv) || !strcmp(drv, "pci-stub");
}

/* driver_managed_dma: probing does not claim the IOMMU group for kernel DMA. */
static int managed_dma(const char *drv)
{
	return is_vfio(drv) || !strcmp(drv, "pci-stub") || !strcmp(drv, "pcieport");
}

static int registered(struct fk *k, const char *drv)
{
	return valid_name(drv) && exists_fmt(&k->t, "bus/pci/drivers/%s", drv);
}

static int noiommu_mode(struct fk *k)
{
	return attr_is(k, "module/vfio/parameters", "enable_unsafe_noiommu_mode", "Y");
}

static size_t num_vfs(struct fk *k, const char *dir)
{
	struct names l = { 0 };
	size_t n;

	if (list_dir(k->t.fd, dir, keep_virtfn, &l))
		return 0;
	n = l.n;
	names_free(&l);
	return n;
}

static int is_bridge(struct fk *k, const char *dir)
{
	unsigned char hdr = 0;

	return !cfg_rw(k->t.fd, dir, 0, 0x0e, &hdr, 1) && (hdr & 0x7f) != 0;
}

/* Device node name of the function's IOMMU group: "N", "noiommu-N", or NULL. */
static char *group_node(struct fk *k, const char *dir)
{
	char *g = link_of(k, dir, "iommu_group"), *name;

	if (!g)
		return NULL;
	if (attr_is(k, g, "name", "vfio-noiommu"))
		name = xfmt("noiommu-%s", base_of(g));
	else
		name = strdup(base_of(g));
	free(g);
	return name;
}

/* Whether some process holds DEVROOT/vfio/@node open: a VFIO user owns the group. */
static int node_open(struct fk *k, const char *node)
{
	char *want = xfmt("%s/vfio/%s", k->dev_root, node);
	char lnk[PATH_MAX], target[PATH_MAX];
	struct dirent *p, *f;
	DIR *proc, *fds;
	ssize_t n;
	int found = 0;

	proc = want ? opendir("/proc") : NULL;
	while (proc && !found && (p = readdir(proc))) {
		if (!isdigit((unsigned char)p->d_name[0]))
			continue;
		snprintf(lnk, sizeof(lnk), "/proc/%s/fd", p->d_name);
		fds = opendir(lnk);
		while (fds && !found && (f = readdir(fds))) {
			snprintf(lnk, sizeof(lnk), "/proc/%s/fd/%s", p->d_name, f->d_name);
			n = readlink(lnk, target, sizeof(target) - 1);
			if (n > 0) {
				target[n] = '\0';
				found = !strcmp(target, want);
			}
		}
		if (fds)
			closedir(fds);
	}
	if (proc)
		closedir(proc);
	free(want);
	return found;
}

static int group_owned(struct fk *k, const char *dir)
{
	char *node = group_node(k, dir);
	int r = node && node_open(k, node);

	free(node);
	return r;
}

/* Index of @s in @l, or -1. */
static long names_find(const struct names *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return (long)i;
	return -1;
}

static void names_del(struct names *l, const char *s)
{
	long i = names_find(l, s);

	if (i < 0)
		return;
	free(l->v[i]);
	memmove(&l->v[i], &l->v[i + 1], (l->n - (size_t)i - 1) * sizeof(*l->v));
	l->n--;
}

/* ------------------------------------------------------------------ */
/* Host drivers and dynamic ids                                         */

static const struct rule *rule_find(const struct fk *k, enum rule_kind kind, const char *addr)
{
	const struct rule *found = NULL;
	size_t i;

	for (i = 0; i < k->ctl.n; i++)	/* the last one wins */
		if (k->ctl.v[i].kind == kind && !strcmp(k->ctl.v[i].addr, addr))
			found = &k->ctl.v[i];
	return found;
}

static int host_record(struct fk *k, const char *addr, const char *drv)
{
	struct host *v = realloc(k->hosts, (k->n_hosts + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	k->hosts = v;
	v[k->n_hosts] = (struct host){ .addr = strdup(addr), .drv = drv ? strdup(drv) : NULL };
	if (!v[k->n_hosts].addr || (drv && !v[k->n_hosts].drv)) {
		free(v[k->n_hosts].addr);
		free(v[k->n_hosts].drv);
		return -ENOMEM;
	}
	k->n_hosts++;
	return 0;
}

/* Record the host driver of the function in @dir: its driver now, unless override-only. */
static int host_learn(struct fk *k, const char *addr, const char *dir)
{
	char *drv = driver_of(k, dir);
	int r;

	r = host_record(k, addr, drv && !override_only(drv) ? drv : NULL);
	free(drv);
	return r;
}

/* The host driver of the function @addr in @dir, or NULL (not to be freed). */
static const char *host_of(struct fk *k, const char *addr, const char *dir)
{
	const struct rule *ru = rule_find(k, RULE_HOST, addr);
	char *pf;
	const char *h = NULL;
	size_t i;

	if (ru)
		return strcmp(ru->arg, "none") ? ru->arg : NULL;
	for (i = 0; i < k->n_hosts; i++)
		if (!strcmp(k->hosts[i].addr, addr))
			return k->hosts[i].drv;
	pf = link_of(k, dir, "physfn");
	if (!pf) {	/* added behind our back: what it has now */
		if (host_learn(k, addr, dir))
			return NULL;
		return k->hosts[k->n_hosts - 1].drv;
	}
	ru = rule_find(k, RULE_VFHOST, base_of(pf));
	if (ru)
		h = strcmp(ru->arg, "none") ? ru->arg : NULL;
	else
		h = host_of(k, base_of(pf), pf);
	free(pf);
	return h;
}

static int host_scan(struct fk *k)
{
	struct names l = { 0 };
	char *dir;
	size_t i;
	int r;

	r = list_dir(k->t.fd, "bus/pci/devices", keep_any, &l);
	for (i = 0; !r && i < l.n; i++) {
		if (dev_locate(&k->t, l.v[i], &dir))
			continue;
		r = host_learn(k, l.v[i], dir);
		dbg(k, "host driver of %s: %s", l.v[i],
		    r ? "?" : k->hosts[k->n_hosts - 1].drv ? k->hosts[k->n_hosts - 1].drv : "none");
		free(dir);
	}
	names_free(&l);
	return r;
}

struct ids {
	unsigned int vendor, device, subvendor, subdevice, class;
};

static void ids_of(struct fk *k, const char *dir, struct ids *ids)
{
	ids->vendor = (unsigned int)attr_long(k, dir, "vendor", -1);
	ids->device = (unsigned int)attr_long(k, dir, "device", -1);
	ids->subvendor = (unsigned int)attr_long(k, dir, "subsystem_vendor", -1);
	ids->subdevice = (unsigned int)attr_long(k, dir, "subsystem_device", -1);
	ids->class = (unsigned int)attr_long(k, dir, "class", 0);
}

/* pci_match_one_device() */
static int dynid_match(const struct dynid *d, const struct ids *ids)
{
	return (d->vendor == PCI_ANY_ID || d->vendor == ids->vendor) &&
	       (d->device == PCI_ANY_ID || d->device == ids->device) &&
	       (d->subvendor == PCI_ANY_ID || d->subvendor == ids->subvendor) &&
	       (d->subdevice == PCI_ANY_ID || d->subdevice == ids->subdevice) &&
	       !((d->class ^ ids->class) & d->class_mask);
}

static int has_dynid(struct fk *k, const char *drv, const struct ids *ids)
{
	size_t i;

	for (i = 0; i < k->n_dynids; i++)
		if (!strcmp(k->dynids[i].drv, drv) && dynid_match(&k->dynids[i], ids))
			return 1;
	return 0;
}

/* pci_bus_match(): does @drv match the function in @dir at all? */
static int drv_matches(struct fk *k, const char *addr, const char *dir, const char *drv)
{
	char *ovr = override_of(k, dir);
	const char *host;
	struct ids ids;
	int r;

	if (ovr) {
		r = !strcmp(ovr, drv);
		free(ovr);
		return r;
	}
	ids_of(k, dir, &ids);
	if (has_dynid(k, drv, &ids))
		return 1;
	host = host_of(k, addr, dir);
	return host && !override_only(host) && !strcmp(host, drv);
}

/* ------------------------------------------------------------------ */
/* Device nodes and their uevents                                       */

/* A uevent of a class device (vfio, uio) at @devpath (root-relative). */
static int node_uevent(struct fk *k, const char *action, const char *devpath, const char *subsys,
		       int major, int minor, const char *devname)
{
	struct props p = { 0 };
	unsigned long long seq = 0;
	int r;

	if (!k->t.send)
		return 0;
	r = props_add(&p, "ACTION=%s", action);
	if (!r)
		r = props_add(&p, "DEVPATH=/%s", devpath);
	if (!r)
		r = props_add(&p, "SUBSYSTEM=%s", subsys);
	if (!r)
		r = props_add(&p, "MAJOR=%d", major);
	if (!r)
		r = props_add(&p, "MINOR=%d", minor);
	if (!r)
		r = props_add(&p, "DEVNAME=%s", devname);
	if (!r)
		r = seqnum_next(&k->t, &seq);
	if (!r)
		r = props_add(&p, "SEQNUM=%llu", seq);
	if (!r)
		r = props_add(&p, "USEC_INITIALIZED=%llu", usec_now());
	if (!r)
		r = nl_send(&k->t, &p);
	free(p.buf);
	return r;
}

/* Minor number of a node named "uioN", "N" or "noiommu-N": N. */
static int node_minor(const char *node)
{
	long v;

	if (parse_long(node + strcspn(node, "0123456789"), 10, &v) || v < 0 || v > INT_MAX)
		return 0;
	return (int)v;
}

/* A regular file standing for a device node, below DEVROOT. */
static int devnode_create(struct fk *k, const char *name)
{
	char *dir = dir_of(name);
	int r;

	if (!dir)
		return -ENOMEM;
	r = *dir ? mkdir_p(k->dev_fd, dir, 0755) : 0;
	free(dir);
	if (!r && !exists(k->dev_fd, name))
		r = put_file(k->dev_fd, name, 0600, "", 0);
	return r;
}

static int devnode_remove(struct fk *k, const char *name)
{
	return unlinkat(k->dev_fd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
}

/* The class device directory @cdir with dev and uevent, linked from class/@cls. */
static int class_dev_create(struct fk *k, const char *cdir, const char *cls, int major,
			    int minor, const char *devname)
{
	char *p;
	int r;

	r = mkdir_p(k->t.fd, cdir, 0755);
	p = xfmt("%s/dev", cdir);
	if (!r)
		r = p ? put_fmt(k->t.fd, p, 0444, "%d:%d\n", major, minor) : -ENOMEM;
	free(p);
	p = xfmt("%s/uevent", cdir);
	if (!r)
		r = p ? put_fmt(k->t.fd, p, 0644, "MAJOR=%d\nMINOR=%d\nDEVNAME=%s\n", major,
				minor, devname) : -ENOMEM;
	free(p);
	p = xfmt("class/%s", cls);
	if (!r)
		r = p ? mkdir_p(k->t.fd, p, 0755) : -ENOMEM;
	if (!r)
		r = mklink(&k->t, p, "%s/subsystem", cdir);
	if (!r)
		r = mklink(&k->t, cdir, "%s/%s", p, base_of(cdir));
	free(p);
	return r;
}

static int class_dev_remove(struct fk *k, const char *cdir, const char *cls)
{
	int r = unlink_fmt(&k->t, "class/%s/%s", cls, base_of(cdir));

	return r ? r : rm_rf(k->t.fd, cdir);
}

/* vfio_noiommu_group_alloc(): a fake group for a function without an IOMMU. */
static int noiommu_group(struct fk *k, const char *dir)
{
	char *g = NULL, *p = NULL;
	long n;
	int r;

	r = next_group(&k->t, &n);
	if (!r)
		g = xfmt("kernel/iommu_groups/%ld", n);
	if (!r && g)
		p = xfmt("%s/devices", g);
	if (!r && !p)
		r = -ENOMEM;
	if (!r)
		r = mkdir_p(k->t.fd, p, 0755);
	free(p);
	p = g ? xfmt("%s/name", g) : NULL;
	if (!r)
		r = p ? put_fmt(k->t.fd, p, 0444, "vfio-noiommu\n") : -ENOMEM;
	if (!r)
		r = mklink(&k->t, g, "%s/iommu_group", dir);
	if (!r)
		r = mklink(&k->t, dir, "%s/devices/%s", g, base_of(dir));
	free(p);
	free(g);
	return r;
}

/* What a vfio driver's probe leaves: the group's node, its class device, the container. */
static int vfio_attach(struct fk *k, const char *dir)
{
	char *node, *cdir = NULL, *devname = NULL;
	int r = 0;

	if (!exists_fmt(&k->t, "%s/iommu_group", dir))
		r = noiommu_group(k, dir);
	node = r ? NULL : group_node(k, dir);
	if (!r && !node)
		r = -ENOMEM;
	if (!r)
		r = devnode_create(k, "vfio/vfio");
	if (!r && exists_fmt(&k->t, "devices/virtual/vfio/%s", node))
		goto out;	/* another member made the group's node */
	cdir = r ? NULL : xfmt("devices/virtual/vfio/%s", node);
	devname = r ? NULL : xfmt("vfio/%s", node);
	if (!r && (!cdir || !devname))
		r = -ENOMEM;
	if (!r)
		r = class_dev_create(k, cdir, "vfio", VFIO_MAJOR, node_minor(node), devname);
	if (!r)
		r = devnode_create(k, devname);
	if (!r)
		r = node_uevent(k, "add", cdir, "vfio", VFIO_MAJOR, node_minor(node), devname);
out:
	free(devname);
	free(cdir);
	free(node);
	return r;
}

/* Whether another member of @dir's IOMMU group is bound to a vfio driver. */
static int group_has_vfio(struct fk *k, const char *dir)
{
	char *g = link_of(k, dir, "iommu_group"), *devs, *m, *drv;
	struct names l = { 0 };
	size_t i;
	int found = 0;

	devs = g ? xfmt("%s/devices", g) : NULL;
	if (devs && !list_dir(k->t.fd, devs, keep_any, &l))
		for (i = 0; !found && i < l.n; i++) {
			if (!strcmp(l.v[i], base_of(dir)))
				continue;
			m = link_of(k, devs, l.v[i]);
			drv = m ? driver_of(k, m) : NULL;
			found = drv && is_vfio(drv);
			free(drv);
			free(m);
		}
	names_free(&l);
	free(devs);
	free(g);
	return found;
}

/* iommu_group_remove_device() of a noiommu group; the group goes with its last device. */
static int noiommu_ungroup(struct fk *k, const char *dir)
{
	char *g = link_of(k, dir, "iommu_group"), *devs = NULL;
	int r;

	if (!g)
		return 0;
	r = unlink_fmt(&k->t, "%s/devices/%s", g, base_of(dir));
	if (!r)
		r = unlink_fmt(&k->t, "%s/iommu_group", dir);
	devs = r ? NULL : xfmt("%s/devices", g);
	if (devs && !unlinkat(k->t.fd, devs, AT_REMOVEDIR))
		r = rm_rf(k->t.fd, g);
	free(devs);
	free(g);
	return r;
}

/* The vfio driver's remove(): the group's node goes with its last vfio member. */
static int vfio_detach(struct fk *k, const char *dir)
{
	char *node = group_node(k, dir), *cdir = NULL, *devname = NULL;
	int noiommu, r = 0;

	if (!node)
		return 0;
	noiommu = has_prefix(node, "noiommu-");
	if (!group_has_vfio(k, dir)) {
		cdir = xfmt("devices/virtual/vfio/%s", node);
		devname = xfmt("vfio/%s", node);
		if (!cdir || !devname)
			r = -ENOMEM;
		if (!r && exists(k->t.fd, cdir)) {
			r = devnode_remove(k, devname);
			if (!r)
				r = class_dev_remove(k, cdir, "vfio");
			if (!r)
				r = node_uevent(k, "remove", cdir, "vfio", VFIO_MAJOR,
						node_minor(node), devname);
		}
	}
	if (!r && noiommu)
		r = noiommu_ungroup(k, dir);
	free(devname);
	free(cdir);
	free(node);
	return r;
}

/* A uio driver's probe: uio_register_device() makes ADDR/uio/uioK and /dev/uioK. */
static int uio_attach(struct fk *k, const char *dir, const char *drv)
{
	char *cdir = NULL, *name = NULL, *p = NULL;
	int n, r;

	for (n = 0; exists_fmt(&k->t, "class/uio/uio%d", n); n++)
		;
	name = xfmt("uio%d", n);
	cdir = name ? xfmt("%s/uio/%s", dir, name) : NULL;
	if (!cdir)
		r = -ENOMEM;
	else
		r = class_dev_create(k, cdir, "uio", UIO_MAJOR, n, name);
	p = cdir ? xfmt("%s/name", cdir) : NULL;
	if (!r)
		r = p ? put_fmt(k->t.fd, p, 0444, "%s\n", drv) : -ENOMEM;
	free(p);
	p = cdir ? xfmt("%s/version", cdir) : NULL;
	if (!r)
		r = p ? put_fmt(k->t.fd, p, 0444, "0.01.0\n") : -ENOMEM;
	free(p);
	p = cdir ? xfmt("%s/event", cdir) : NULL;
	if (!r)
		r = p ? put_fmt(k->t.fd, p, 0444, "0\n") : -ENOMEM;
	free(p);
	p = cdir ? xfmt("%s/maps", cdir) : NULL;
	if (!r)
		r = p ? mkdir_p(k->t.fd, p, 0755) : -ENOMEM;
	free(p);
	if (!r)
		r = devnode_create(k, name);
	if (!r)
		r = node_uevent(k, "add", cdir, "uio", UIO_MAJOR, n, name);
	free(cdir);
	free(name);
	return r;
}

/* uio_unregister_device() for each ADDR/uio/uioK. */
static int uio_detach(struct fk *k, const char *dir)
{
	struct names l = { 0 };
	char *udir = xfmt("%s/uio", dir), *cdir;
	size_t i;
	int r;

	if (!udir)
		return -ENOMEM;
	r = list_dir(k->t.fd, udir, keep_any, &l);
	for (i = 0; !r && i < l.n; i++) {
		cdir = xfmt("%s/%s", udir, l.v[i]);
		r = cdir ? devnode_remove(k, l.v[i]) : -ENOMEM;
		if (!r)
			r = class_dev_remove(k, cdir, "uio");
		if (!r)
			r = node_uevent(k, "remove", cdir, "uio", UIO_MAJOR, node_minor(l.v[i]),
					l.v[i]);
		free(cdir);
	}
	if (!r)
		r = rm_rf(k->t.fd, udir);
	names_free(&l);
	free(udir);
	return r;
}

/* Called by the tree before a function's driver links go: the driver's remove(). */
static int unbind_hook(struct tree *t, const char *dir, const char *drv)
{
	struct fk *k = t->userdata;
	int r;

	/* a PF's driver disables SR-IOV in its remove(): the VFs go first */
	r = num_vfs(k, dir) ? remove_vfs(t, dir) : 0;
	if (r)
		return r;
	if (is_vfio(drv))
		return vfio_detach(k, dir);
	if (is_uio(drv))
		return uio_detach(k, dir);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Probing                                                              */

/*
 * The driver's own probe (pci_device_probe() and the driver's probe()):
 * 0 to accept, or the errno it refuses with.
 */
static int probe_refusal(struct fk *k, const char *addr, const char *dir, const char *drv)
{
	char *pf = link_of(k, dir, "physfn"), *ovr;
	int no_autoprobe = 0;

	/* pci_device_can_probe(): a VF of a PF with sriov_drivers_autoprobe 0, without override */
	if (pf) {
		ovr = override_of(k, dir);
		no_autoprobe = !ovr && attr_long(k, pf, "sriov_drivers_autoprobe", 1) == 0;
		free(ovr);
		free(pf);
		if (no_autoprobe)
			return ENODEV;
	}
	if (is_vfio(drv)) {
		/* vfio_pci_core_register_device(), then vfio_group_find_or_alloc() */
		if (is_bridge(k, dir))
			return EINVAL;
		if (num_vfs(k, dir) > 0)
			return EBUSY;
		if (!exists_fmt(&k->t, "%s/iommu_group", dir) && !noiommu_mode(k))
			return EINVAL;
	}
	/* uio_pci_generic probe(): pdev->irq && !pci_intx_mask_supported() */
	if (!strcmp(drv, "uio_pci_generic") && rule_find(k, RULE_NOINTX, addr))
		return ENODEV;
	return 0;
}

/*
 * __driver_probe_device() and really_probe() for a driver that matches: 0
 * when bound; a negative errno for a core error (EBUSY: bound already or
 * the group is owned by a VFIO user, via dma_configure); a positive errno
 * when the driver's probe refused (really_probe() returns those positive).
 */
static int probe(struct fk *k, const char *addr, const char *dir, const char *drv)
{
	char *cur = driver_of(k, dir);
	int r;

	if (cur) {
		free(cur);
		return -EBUSY;
	}
	if (!managed_dma(drv) && group_owned(k, dir))
		return -EBUSY;
	r = probe_refusal(k, addr, dir, drv);
	if (r) {
		dbg(k, "%s: probe of %s refused: %s", addr, drv, errno_name(r));
		return r;
	}
	r = driver_link(&k->t, dir, drv);
	if (!r)
		r = uevent_set_driver(&k->t, dir, drv);
	if (!r && is_vfio(drv))
		r = vfio_attach(k, dir);
	if (!r && is_uio(drv))
		r = uio_attach(k, dir, drv);
	if (!r)
		r = ue_emit(&k->t, "bind", dir);
	return r < 0 ? r : 0;
}

/* Registered drivers with a dynamic id matching the function, sorted by name. */
static int dynid_drivers(struct fk *k, const char *dir, struct names *out)
{
	struct names l = { 0 };
	struct ids ids;
	size_t i;
	int r;

	ids_of(k, dir, &ids);
	r = list_dir(k->t.fd, "bus/pci/drivers", keep_any, &l);
	for (i = 0; !r && i < l.n; i++)
		if (has_dynid(k, l.v[i], &ids))
			r = names_add(out, l.v[i]);
	names_free(&l);
	return r;
}

/*
 * device_attach() of an unbound function: each matching registered driver
 * in turn (an override names the only one; else dynamic ids, then the host
 * driver); a probe refusal lets the next one try (__device_attach_driver()
 * ignores probe errors), a core error stops.  1 bound, 0 not, or <0.
 */
static int attach(struct fk *k, const char *addr, const char *dir)
{
	struct names cand = { 0 };
	char *ovr = override_of(k, dir);
	const char *host;
	size_t i;
	int r = 0, bound = 0;

	if (ovr)
		r = registered(k, ovr) ? names_add(&cand, ovr) : 0;
	else
		r = dynid_drivers(k, dir, &cand);
	host = ovr ? NULL : host_of(k, addr, dir);
	if (!r && host && !override_only(host) && registered(k, host))
		r = names_add(&cand, host);
	for (i = 0; !r && !bound && i < cand.n; i++) {
		r = probe(k, addr, dir, cand.v[i]);
		bound = r == 0;
		r = r > 0 ? 0 : r;
	}
	names_free(&cand);
	free(ovr);
	return r < 0 ? r : bound;
}

/* ------------------------------------------------------------------ */
/* The control attributes                                               */

/*
 * driver_override_store() → driver_set_override() (drivers/base/driver.c):
 * len >= PAGE_SIZE - 1 is -EINVAL; the length is strlen(); an empty string
 * or one starting with '\n' clears; else the text up to the first '\n'.
 * Shown as "%s\n", "(null)\n" when unset.  (A zero-byte write never gets
 * here: sysfs_kf_write() returns 0 for count 0.)
 */
static int do_driver_override(struct fk *k, struct req *q)
{
	size_t len;
	char *path;
	int r;

	if (q->count >= PAGE_SIZE - 1)
		return -EINVAL;
	path = xfmt("%s/driver_override", q->dir);
	if (!path)
		return -ENOMEM;
	len = strcspn(q->value, "\n");
	if (!len)
		r = put_fmt(k->t.fd, path, 0644, "(null)\n");
	else
		r = put_fmt(k->t.fd, path, 0644, "%.*s\n", (int)len, q->value);
	free(path);
	return r;
}

/* unbind_store() (drivers/base/bus.c): -ENODEV unless the device is bound to this driver. */
static int do_unbind(struct fk *k, struct req *q)
{
	char *dir = locate(k, q->value), *cur = dir ? driver_of(k, dir) : NULL;
	int r = -ENODEV;

	if (cur && !strcmp(cur, q->drv))
		r = dev_unbind(&k->t, dir);
	free(cur);
	free(dir);
	return r;
}

/*
 * bind_store() (drivers/base/bus.c): -ENODEV if no such device or
 * driver_match_device() fails; device_driver_attach(): -EBUSY if bound
 * already, probe errors as negative errnos.
 */
static int do_bind(struct fk *k, struct req *q)
{
	char *dir = locate(k, q->value);
	int r = -ENODEV;

	if (dir && drv_matches(k, q->addr, dir, q->drv)) {
		r = probe(k, q->addr, dir, q->drv);
		if (r > 0)
			r = -r;
	}
	free(dir);
	return r;
}

/*
 * drivers_probe_store() (drivers/base/bus.c):
 *	dev = bus_find_device_by_name(bus, NULL, buf);
 *	if (!dev) return -ENODEV;
 *	if (bus_rescan_devices_helper(dev, NULL) == 0) err = count;
 * and bus_rescan_devices_helper() runs device_attach() only when
 * !dev->driver, returning ret < 0 ? ret : 0.  So: success when bound
 * already or when nothing matched or every probe refused; -EINVAL when
 * device_attach() failed with a core error (e.g. -EBUSY from dma_configure).
 */
static int do_drivers_probe(struct fk *k, struct req *q)
{
	char *dir = locate(k, q->value), *cur;
	int r = 0;

	if (!dir)
		return -ENODEV;
	cur = driver_of(k, dir);
	if (!cur)
		r = attach(k, q->addr, dir);
	free(cur);
	free(dir);
	return r < 0 ? -EINVAL : 0;
}

/* sriov_configure: drivers with none answer sriov_numvfs with -ENOENT. */
static int has_sriov_configure(struct fk *k, const char *drv)
{
	if (!strcmp(drv, "uio_pci_generic") || !strcmp(drv, "pci-stub") ||
	    !strcmp(drv, "pcieport"))
		return 0;
	if (is_vfio(drv))	/* vfio_pci_sriov_configure() needs enable_sriov */
		return attr_is(k, "module/vfio_pci/parameters", "enable_sriov", "Y");
	return 1;
}

/* The address of VF @i: the PF's routing ID + sriov_offset + i * sriov_stride. */
static int vf_addr(struct fk *k, const char *pfdir, long i, struct pci_addr *a)
{
	struct pci_addr pf;
	long off = attr_long(k, pfdir, "sriov_offset", 1);
	long stride = attr_long(k, pfdir, "sriov_stride", 1);
	long rid;
	int r;

	r = addr_parse(base_of(pfdir), &pf);
	if (r)
		return r;
	rid = (long)(pf.bus << 8 | pf.dev << 3 | pf.fn) + off + i * stride;
	if (rid > 0xffff)
		return -ERANGE;
	return addr_make(a, pf.dom, (unsigned int)(rid >> 8), (unsigned int)(rid >> 3) & 0x1f,
			 (unsigned int)rid & 7);
}

/* pci_iov_add_virtfn(): add VF @i (own IOMMU group if the PF has one) and probe it. */
static int vf_create(struct fk *k, const char *pfdir, long i)
{
	char *g = link_of(k, pfdir, "iommu_group"), *u = link_of(k, pfdir, "iommu");
	char *kg = NULL, *ku = NULL;
	struct fdev f;
	long group;
	int r;

	fdev_init(&f);
	f.physfn = base_of(pfdir);
	f.vf_index = i;
	r = vf_addr(k, pfdir, i, &f.a);
	if (!r && g && !(r = next_group(&k->t, &group))) {
		kg = xfmt("group=%ld", group);
		r = kg ? key_parse(&f, kg) : -ENOMEM;
	}
	if (!r && u) {
		ku = xfmt("iommu=%s", base_of(u));
		r = ku ? key_parse(&f, ku) : -ENOMEM;
	}
	if (!r)
		r = dev_add(&k->t, &f);
	if (!r)
		r = ue_emit(&k->t, "add", f.dir);
	if (!r)
		r = attach(k, f.a.s, f.dir);	/* pci_bus_add_device() → device_attach() */
	fdev_release(&f);
	free(kg);
	free(ku);
	free(g);
	free(u);
	return r < 0 ? r : 0;
}

/*
 * sriov_numvfs_store() (drivers/pci/iov.c): kstrtou16()'s error (-EINVAL,
 * -ERANGE past 65535); more than sriov_totalvfs → -ERANGE; the same number → nothing; no PF
 * driver or one without sriov_configure → -ENOENT; 0 disables; enabling
 * while VFs are enabled → -EBUSY.  VFs probe only when the PF's
 * sriov_drivers_autoprobe is 1 (pci_device_can_probe()).
 */
static int do_sriov_numvfs(struct fk *k, struct req *q)
{
	unsigned long n;
	size_t cur;
	char *drv;
	long i;
	int r;

	r = kstrtoul_max(q->value, 0xffff, &n);
	if (r)
		return r;
	if ((long)n > attr_long(k, q->dir, "sriov_totalvfs", 0))
		return -ERANGE;
	cur = num_vfs(k, q->dir);
	if (n == cur)
		return 0;
	drv = driver_of(k, q->dir);
	r = drv && has_sriov_configure(k, drv) ? 0 : -ENOENT;
	free(drv);
	if (r)
		return r;
	if (!n)
		return remove_vfs(&k->t, q->dir);
	if (cur)
		return -EBUSY;
	for (i = 0; !r && i < (long)n; i++)
		r = vf_create(k, q->dir, i);
	return r;
}

/* sriov_drivers_autoprobe_store(): kstrtobool() or -EINVAL. */
static int do_sriov_autoprobe(struct fk *k, struct req *q)
{
	char *path;
	int v, r;

	if (parse_kbool(q->value, &v))
		return -EINVAL;
	path = xfmt("%s/sriov_drivers_autoprobe", q->dir);
	if (!path)
		return -ENOMEM;
	r = put_fmt(k->t.fd, path, 0644, "%d\n", v);
	free(path);
	return r;
}

/* Functions below @dir and @dir itself, parents first; VFs go with their PF and stay gone. */
static int subtree(struct fk *k, const char *dir, struct names *out)
{
	struct names l = { 0 };
	char *sub;
	size_t i;
	int r;

	r = names_add(out, dir);
	if (!r)
		r = list_dir(k->t.fd, dir, keep_any, &l);
	for (i = 0; !r && i < l.n; i++) {
		if (!is_addr(l.v[i]))
			continue;
		sub = xfmt("%s/%s", dir, l.v[i]);
		if (!sub)
			r = -ENOMEM;
		else if (!exists_fmt(&k->t, "%s/physfn", sub))
			r = subtree(k, sub, out);
		free(sub);
	}
	names_free(&l);
	return r;
}

static int removed_add(struct fk *k, const char *dir)
{
	struct removed *v = realloc(k->removed, (k->n_removed + 1) * sizeof(*v));
	struct removed *e;
	const char *c;
	int r;

	if (!v)
		return -ENOMEM;
	k->removed = v;
	e = &v[k->n_removed];
	*e = (struct removed){ .addr = strdup(base_of(dir)) };
	for (c = dir; *c; c++)
		e->depth += *c == '/';
	r = e->addr ? dev_describe(&k->t, dir, &e->keys) : -ENOMEM;
	if (r) {
		free(e->addr);
		names_free(&e->keys);
		return r;
	}
	dbg(k, "removed %s, kept %zu keys for rescan", e->addr, e->keys.n);
	k->n_removed++;
	return 0;
}

/*
 * remove_store() (drivers/pci/pci-sysfs.c): kstrtoul() or -EINVAL; a
 * non-zero value stops and removes the function and everything below it
 * (pci_stop_and_remove_bus_device_locked()).  What rescan needs to add
 * them again is kept.
 */
static int do_remove(struct fk *k, struct req *q)
{
	struct names fns = { 0 };
	unsigned long v;
	size_t i;
	int r;

	if (kstrtoul_max(q->value, ULONG_MAX, &v))
		return -EINVAL;
	if (!v)
		return 0;
	r = subtree(k, q->dir, &fns);
	if (!r)
		r = dev_stop(&k->t, q->dir);
	for (i = 0; !r && i < fns.n; i++) {
		names_del(&k->rom_on, base_of(fns.v[i]));
		r = removed_add(k, fns.v[i]);
	}
	if (!r)
		r = dev_destroy(&k->t, q->dir);
	names_free(&fns);
	return r;
}

static int removed_cmp(const void *a, const void *b)
{
	const struct removed *x = a, *y = b;

	return x->depth < y->depth ? -1 : x->depth > y->depth;
}

static void removed_free(struct removed *e)
{
	free(e->addr);
	names_free(&e->keys);
}

/* Add one removed function again, as a new pci_dev: no override, host driver probed. */
static int readd(struct fk *k, const struct removed *e)
{
	struct fdev f;
	size_t i;
	int r;

	fdev_init(&f);
	r = addr_parse(e->addr, &f.a);
	for (i = 0; !r && i < e->keys.n; i++)
		r = key_parse(&f, e->keys.v[i]);
	if (!r)
		r = dev_add(&k->t, &f);
	if (!r)
		r = ue_emit(&k->t, "add", f.dir);
	if (!r)
		r = attach(k, e->addr, f.dir);
	fdev_release(&f);
	return r < 0 ? r : 0;
}

/*
 * rescan_store() (bus) and dev_rescan_store() (device): kstrtoul() or
 * -EINVAL; non-zero rescans.  Here every rescan finds every function that
 * "remove" took away (parents first), adds it with a new pci_dev (no
 * driver_override, SR-IOV off) and probes it; functions that exist again
 * are forgotten.  Always succeeds, as the kernel's does.
 */
static int do_rescan(struct fk *k, struct req *q)
{
	unsigned long v;
	size_t i, n = 0;
	int r;

	if (kstrtoul_max(q->value, ULONG_MAX, &v))
		return -EINVAL;
	if (!v || !k->n_removed)
		return 0;
	qsort(k->removed, k->n_removed, sizeof(*k->removed), removed_cmp);
	for (i = 0; i < k->n_removed; i++) {
		if (exists_fmt(&k->t, "bus/pci/devices/%s", k->removed[i].addr)) {
			removed_free(&k->removed[i]);
			continue;
		}
		r = readd(k, &k->removed[i]);
		dbg(k, "rescan: %s %s", k->removed[i].addr, r ? strerror(-r) : "added");
		if (r)
			k->removed[n++] = k->removed[i];	/* its parent is missing */
		else
			removed_free(&k->removed[i]);
	}
	k->n_removed = n;
	return 0;
}

/* "VVVV DDDD [SVVV SDDD CCCC MMMM [DATA]]" as new_id_store()/remove_id_store() scan it. */
static int dynid_parse(const char *s, struct dynid *d, int *fields)
{
	unsigned long data = 0;

	*d = (struct dynid){ .subvendor = PCI_ANY_ID, .subdevice = PCI_ANY_ID };
	*fields = sscanf(s, "%x %x %x %x %x %x %lx", &d->vendor, &d->device, &d->subvendor,
			 &d->subdevice, &d->class, &d->class_mask, &data);
	return *fields < 2 ? -EINVAL : 0;
}

/*
 * new_id_store() (drivers/pci/pci-driver.c): fewer than two fields →
 * -EINVAL; with fewer than 7 fields, -EEXIST if the driver matches those
 * ids already (here: one of its dynamic ids, or a function whose host
 * driver it is has them: its static table); then pci_add_dynid() and
 * driver_attach(): every unbound function it now matches is probed.
 */
static int do_new_id(struct fk *k, struct req *q)
{
	struct names devs = { 0 };
	struct dynid d, *v;
	struct ids ids;
	char *dir;
	const char *host;
	size_t i;
	int fields, r;

	r = dynid_parse(q->value, &d, &fields);
	if (r)
		return r;
	ids = (struct ids){ d.vendor, d.device, d.subvendor, d.subdevice, d.class };
	if (fields != 7 && has_dynid(k, q->drv, &ids))
		return -EEXIST;
	r = list_dir(k->t.fd, "bus/pci/devices", keep_any, &devs);
	for (i = 0; !r && fields != 7 && i < devs.n; i++) {
		if (dev_locate(&k->t, devs.v[i], &dir))
			continue;
		host = host_of(k, devs.v[i], dir);
		ids_of(k, dir, &ids);
		if (host && !override_only(host) && !strcmp(host, q->drv) &&
		    ids.vendor == d.vendor && ids.device == d.device)
			r = -EEXIST;
		free(dir);
	}
	v = r ? NULL : realloc(k->dynids, (k->n_dynids + 1) * sizeof(*v));
	if (!r && !v)
		r = -ENOMEM;
	if (!r) {
		k->dynids = v;
		d.drv = strdup(q->drv);
		r = d.drv ? 0 : -ENOMEM;
	}
	if (!r)
		k->dynids[k->n_dynids++] = d;
	for (i = 0; !r && i < devs.n; i++) {	/* driver_attach(): errors ignored */
		if (dev_locate(&k->t, devs.v[i], &dir))
			continue;
		if (drv_matches(k, devs.v[i], dir, q->drv))
			(void)probe(k, devs.v[i], dir, q->drv);
		free(dir);
	}
	names_free(&devs);
	return r;
}

/* remove_id_store(): the first dynamic id matching, or -ENODEV. */
static int do_remove_id(struct fk *k, struct req *q)
{
	struct dynid d, *e;
	size_t i;
	int fields, r;

	r = dynid_parse(q->value, &d, &fields);
	if (r)
		return r;
	for (i = 0; i < k->n_dynids; i++) {
		e = &k->dynids[i];
		if (strcmp(e->drv, q->drv) || e->vendor != d.vendor || e->device != d.device ||
		    (d.subvendor != PCI_ANY_ID && e->subvendor != d.subvendor) ||
		    (d.subdevice != PCI_ANY_ID && e->subdevice != d.subdevice) ||
		    ((e->class ^ d.class) & d.class_mask))
			continue;
		free(e->drv);
		memmove(e, e + 1, (k->n_dynids - i - 1) * sizeof(*e));
		k->n_dynids--;
		return 0;
	}
	return -ENODEV;
}

/*
 * pci_write_rom() (drivers/pci/pci-sysfs.c): "if ((off == 0) && (*buf == '0')
 * && (count == 2)) disable, else enable", and it returns count: "0\n"
 * disables reading the ROM, any other write (also "0" alone) enables it.
 */
static int do_rom(struct fk *k, struct req *q)
{
	const char *addr = base_of(q->dir);

	if (q->off == 0 && q->count == 2 && q->value[0] == '0') {
		names_del(&k->rom_on, addr);
		return 0;
	}
	return names_find(&k->rom_on, addr) >= 0 ? 0 : names_add(&k->rom_on, addr);
}

static int handle(struct fk *k, struct req *q)
{
	static int (*const handlers[_OP_MAX])(struct fk *k, struct req *q) = {
		[OP_DRIVER_OVERRIDE] = do_driver_override,
		[OP_UNBIND] = do_unbind,
		[OP_BIND] = do_bind,
		[OP_DRIVERS_PROBE] = do_drivers_probe,
		[OP_SRIOV_NUMVFS] = do_sriov_numvfs,
		[OP_SRIOV_AUTOPROBE] = do_sriov_autoprobe,
		[OP_REMOVE] = do_remove,
		[OP_RESCAN] = do_rescan,
		[OP_NEW_ID] = do_new_id,
		[OP_REMOVE_ID] = do_remove_id,
		[OP_ROM] = do_rom,
	};

	names_free(&k->t.drivers);	/* drivers may have come and gone */
	return handlers[q->op](k, q);
}

/* ------------------------------------------------------------------ */
/* Control file and log                                                 */

static void control_free(struct control *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->v[i].addr);
		free(c->v[i].arg);
		free(c->v[i].text);
	}
	free(c->v);
	*c = (struct control){ 0 };
}

static int op_parse(const char *s, enum op *op)
{
	int i;

	if (!strcmp(s, "*")) {
		*op = OP_ANY;
		return 0;
	}
	for (i = 0; i < _OP_MAX; i++)
		if (!strcmp(s, op_names[i])) {
			*op = (enum op)i;
			return 0;
		}
	return -EINVAL;
}

/* ADDR of a rule: "*", a PCI address (canonical form) or a driver name. */
static char *rule_addr(const char *s)
{
	struct pci_addr a;

	return strdup(!addr_parse(s, &a) ? a.s : s);
}

/* One line's words into @ru; -EINVAL if it is not a rule. */
static int rule_parse(char **w, size_t n, struct rule *ru)
{
	static const struct {
		const char *name;
		enum rule_kind kind;
		size_t min, max;
	} kinds[] = {
		{ "fail", RULE_FAIL, 4, 5 },
		{ "hang", RULE_HANG, 4, 4 },
		{ "host", RULE_HOST, 3, 3 },
		{ "vfhost", RULE_VFHOST, 3, 3 },
		{ "nointx", RULE_NOINTX, 2, 2 },
		{ "log", RULE_LOG, 2, 2 },
	};
	char *end;
	double secs;
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(w[0], kinds[i].name))
			break;
	if (i == sizeof(kinds) / sizeof(kinds[0]) || n < kinds[i].min || n > kinds[i].max)
		return -EINVAL;
	ru->kind = kinds[i].kind;
	switch (ru->kind) {
	case RULE_FAIL:
		ru->err = errno_parse(w[3]);
		ru->once = n == 5;
		if (op_parse(w[1], &ru->op) || !ru->err || (n == 5 && strcmp(w[4], "once")))
			return -EINVAL;
		ru->addr = rule_addr(w[2]);
		break;
	case RULE_HANG:
		if (!strcmp(w[3], "held")) {
			if (op_parse(w[1], &ru->op))
				return -EINVAL;
			ru->hang_ns = -1;	/* until the line is gone */
			ru->addr = rule_addr(w[2]);
			break;
		}
		secs = strtod(w[3], &end);
		if (op_parse(w[1], &ru->op) || *end || end == w[3] || secs < 0 || secs > 3600)
			return -EINVAL;
		ru->hang_ns = (long long)(secs * 1e9);
		ru->addr = rule_addr(w[2]);
		break;
	case RULE_HOST:
	case RULE_VFHOST:
		ru->addr = rule_addr(w[1]);
		ru->arg = strdup(w[2]);
		return ru->addr && ru->arg ? 0 : -ENOMEM;
	case RULE_NOINTX:
		ru->addr = rule_addr(w[1]);
		break;
	case RULE_LOG:
		ru->addr = strdup("*");
		ru->arg = strdup(w[1]);
		return ru->addr && ru->arg ? 0 : -ENOMEM;
	}
	return ru->addr ? 0 : -ENOMEM;
}

static int control_line(struct control *c, char *line, const char *file, size_t lineno)
{
	char *w[8], *save = NULL, *tok, *text;
	struct rule ru = { 0 }, *v;
	size_t n = 0;
	int r;

	line[strcspn(line, "#")] = '\0';
	text = strdup(line);
	if (!text)
		return -ENOMEM;
	for (tok = strtok_r(line, " \t\r", &save); tok && n < 8; tok = strtok_r(NULL, " \t\r", &save))
		w[n++] = tok;
	if (!n) {
		free(text);
		return 0;
	}
	r = tok ? -EINVAL : rule_parse(w, n, &ru);
	v = r ? NULL : realloc(c->v, (c->n + 1) * sizeof(*v));
	if (!r && !v)
		r = -ENOMEM;
	if (r) {
		fprintf(stderr, "fakekernel: %s:%zu: ignored: %s\n", file, lineno, text);
		free(ru.addr);
		free(ru.arg);
		free(text);
		return r == -ENOMEM ? r : 0;
	}
	ru.text = text;
	c->v = v;
	c->v[c->n++] = ru;
	if (ru.kind == RULE_LOG)
		c->log = ru.arg;
	return 0;
}

/* Read the control file again (a missing file has no rules). */
static int control_load(struct fk *k)
{
	struct control c = { 0 };
	char *text = NULL, *line, *save = NULL;
	size_t lineno = 0;
	int r;

	if (!k->control_path)
		return 0;
	r = read_text(AT_FDCWD, k->control_path, &text);
	if (r == -ENOENT)
		r = 0;
	for (line = r || !text ? NULL : strtok_r(text, "\n", &save); line && !r;
	     line = strtok_r(NULL, "\n", &save))
		r = control_line(&c, line, k->control_path, ++lineno);
	free(text);
	if (r) {
		control_free(&c);
		return r;
	}
	control_free(&k->ctl);
	k->ctl = c;
	return 0;
}

static int rule_matches(const struct rule *ru, enum rule_kind kind, const struct req *q)
{
	return ru->kind == kind && (ru->op == OP_ANY || ru->op == q->op) &&
	       (!strcmp(ru->addr, "*") || !strcmp(ru->addr, q->addr));
}

static int fired(const struct fk *k, const char *text)
{
	size_t i;

	for (i = 0; i < k->fired.n; i++)
		if (!strcmp(k->fired.v[i], text))
			return 1;
	return 0;
}

/* The errno of the first "fail" rule matching @q (0: none); "once" rules fire once. */
static int rule_fail(struct fk *k, const struct req *q)
{
	const struct rule *ru;
	size_t i;

	for (i = 0; i < k->ctl.n; i++) {
		ru = &k->ctl.v[i];
		if (!rule_matches(ru, RULE_FAIL, q) || (ru->once && fired(k, ru->text)))
			continue;
		if (ru->once && names_add(&k->fired, ru->text))
			return ENOMEM;
		return ru->err;
	}
	return 0;
}

static long long rule_hang(const struct fk *k, const struct req *q)
{
	size_t i;

	for (i = 0; i < k->ctl.n; i++)
		if (rule_matches(&k->ctl.v[i], RULE_HANG, q))
			return k->ctl.v[i].hang_ns;
	return 0;
}

/* Sleep @ns, or until fakekernel is told to exit: -EINTR then. */
static int hang(long long ns)
{
	struct fuse_session *se = fuse_get_session(fuse_get_context()->fuse);
	struct timespec slice;

	while (ns > 0) {
		if (fuse_session_exited(se))
			return -EINTR;
		slice = (struct timespec){ .tv_nsec = ns < HANG_SLICE_NS ? (long)ns : HANG_SLICE_NS };
		nanosleep(&slice, NULL);
		ns -= slice.tv_nsec;
	}
	return 0;
}

/* Counts the writes held now, and says how many in CONTROL.held (written whole, renamed). */
static void held_count(struct fk *k, int delta)
{
	char path[PATH_MAX], tmp[PATH_MAX + 4];
	FILE *f;

	k->n_held += delta;
	if ((size_t)snprintf(path, sizeof(path), "%s.held", k->control_path) >= sizeof(path))
		return;
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%u\n", k->n_held);
	if (fclose(f) == 0)
		(void)rename(tmp, path);
}

/* Wait while a "held" hang rule matches @q (the control file is re-read each slice). */
static int hang_held(struct fk *k, const struct req *q)
{
	struct fuse_session *se = fuse_get_session(fuse_get_context()->fuse);
	struct timespec slice = { .tv_nsec = HANG_SLICE_NS };
	long long ns;
	int r;

	pthread_mutex_lock(&k->lock);
	held_count(k, 1);
	pthread_mutex_unlock(&k->lock);
	for (;;) {
		if (fuse_session_exited(se)) {
			r = -EINTR;
			break;
		}
		nanosleep(&slice, NULL);
		pthread_mutex_lock(&k->lock);
		r = control_load(k);
		ns = r ? 0 : rule_hang(k, q);
		pthread_mutex_unlock(&k->lock);
		if (ns >= 0) {
			r = 0;
			break;
		}
	}
	pthread_mutex_lock(&k->lock);
	held_count(k, -1);
	pthread_mutex_unlock(&k->lock);
	return r;
}

static void escape(FILE *f, const char *s, size_t n)
{
	size_t i;

	if (!n)
		fputs("\"\"", f);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\\')
			fputs("\\\\", f);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static void log_line(FILE *f, const struct req *q, const char *value, size_t n, int r)
{
	fprintf(f, "%s %s ", q->op == OP_WRITE ? "write" : op_names[q->op], q->target);
	escape(f, value, n);
	fprintf(f, " -> %s\n", r ? errno_name(-r) : "ok");
}

/* The log file's line and the debug line of a handled write. */
static void log_write(struct fk *k, const struct req *q, const char *buf, size_t n, int r)
{
	FILE *f;

	if (k->ctl.log) {
		f = fopen(k->ctl.log, "ae");
		if (f) {
			log_line(f, q, buf, n, r);
			fclose(f);
		} else {
			fprintf(stderr, "fakekernel: log %s: %m\n", k->ctl.log);
		}
	}
	if (k->debug) {
		fputs("fakekernel: ", stderr);
		log_line(stderr, q, buf, n, r);
	}
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */

static struct fk *fk_get(void)
{
	return fuse_get_context()->private_data;
}

/* BACKING-relative path of a FUSE path. */
static const char *rel_of(const char *path)
{
	return path[0] == '/' && path[1] ? path + 1 : ".";
}

static void req_free(struct req *q)
{
	free(q->dir);
	free(q->drv);
	free(q->target);
	free(q->addr);
	free(q->value);
}

/* What a write to @rel is: op, device or driver, and the ADDR rules match. */
static int req_classify(struct req *q)
{
	static const enum op dev_ops[] = {
		OP_DRIVER_OVERRIDE, OP_SRIOV_NUMVFS, OP_SRIOV_AUTOPROBE, OP_REMOVE, OP_RESCAN,
		OP_ROM,
	};
	static const enum op drv_ops[] = { OP_BIND, OP_UNBIND, OP_NEW_ID, OP_REMOVE_ID };
	const char *base = base_of(q->rel);
	struct names w = { 0 };
	size_t i, n;
	int r;

	q->op = OP_WRITE;
	if (!strcmp(q->rel, "bus/pci/drivers_probe") || !strcmp(q->rel, "bus/pci/rescan")) {
		q->op = base[0] == 'd' ? OP_DRIVERS_PROBE : OP_RESCAN;
		q->target = strdup("pci");
		n = strcspn(q->value, "\n");
		q->addr = q->op == OP_RESCAN ? strdup("") : strndup(q->value, n);
		return q->target && q->addr ? 0 : -ENOMEM;
	}
	r = split_path(q->rel, &w);
	if (!r && w.n == 5 && !strcmp(w.v[0], "bus") && !strcmp(w.v[1], "pci") &&
	    !strcmp(w.v[2], "drivers"))
		for (i = 0; i < sizeof(drv_ops) / sizeof(drv_ops[0]); i++)
			if (!strcmp(base, op_names[drv_ops[i]])) {
				q->op = drv_ops[i];
				q->drv = strdup(w.v[3]);
				q->target = strdup(w.v[3]);
				n = strcspn(q->value, "\n");
				q->addr = q->op == OP_BIND || q->op == OP_UNBIND ?
					  strndup(q->value, n) : strdup(w.v[3]);
			}
	names_free(&w);
	if (r || q->op != OP_WRITE)
		return r ? r : q->drv && q->target && q->addr ? 0 : -ENOMEM;
	q->dir = dir_of(q->rel);
	if (!q->dir)
		return -ENOMEM;
	if (has_prefix(q->rel, "devices/") && is_addr(base_of(q->dir)))
		for (i = 0; i < sizeof(dev_ops) / sizeof(dev_ops[0]); i++)
			if (!strcmp(base, op_names[dev_ops[i]]))
				q->op = dev_ops[i];
	q->target = strdup(q->op == OP_WRITE ? q->rel : base_of(q->dir));
	q->addr = strdup(q->op == OP_WRITE ? "" : base_of(q->dir));
	return q->target && q->addr ? 0 : -ENOMEM;
}

/* A write to a file without a handler: stored as written. */
static int plain_write(struct fk *k, struct req *q, struct fuse_file_info *fi, const char *buf,
		       size_t size, off_t off)
{
	int fd = (int)fi->fh;
	ssize_t n;

	if (fd < 0)
		return -EBADF;
	/* a new value replaces the old one, as a sysfs read shows only the new one */
	if (!off && strcmp(base_of(q->rel), "config") && ftruncate(fd, 0) < 0)
		return -errno;
	n = pwrite(fd, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int fk_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fk *k = fk_get();
	struct req q = { .rel = rel_of(path), .count = size, .off = off };
	long long ns;
	int err, r;

	q.value = strndup(buf, size);
	r = q.value ? req_classify(&q) : -ENOMEM;
	pthread_mutex_lock(&k->lock);
	if (!r)
		r = control_load(k);
	ns = r || q.op == OP_WRITE ? 0 : rule_hang(k, &q);
	err = r || q.op == OP_WRITE ? 0 : rule_fail(k, &q);
	pthread_mutex_unlock(&k->lock);
	if (!r && ns < 0)
		r = hang_held(k, &q);
	else if (!r && ns)
		r = hang(ns);
	pthread_mutex_lock(&k->lock);
	if (!r && err)
		r = -err;
	else if (!r && q.op == OP_WRITE)
		r = plain_write(k, &q, fi, buf, size, off);
	else if (!r)
		r = handle(k, &q);
	if (q.target)
		log_write(k, &q, buf, size, r < 0 ? r : 0);
	pthread_mutex_unlock(&k->lock);
	req_free(&q);
	return r < 0 ? r : (int)size;
}

/* ------------------------------------------------------------------ */
/* Pass-through operations                                              */

static int fk_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	return fstatat(fk_get()->t.fd, rel_of(path), st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int fk_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n;

	if (!size)
		return -EINVAL;
	n = readlinkat(fk_get()->t.fd, rel_of(path), buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int fk_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dirent *e;
	DIR *d;
	int fd;

	fd = openat(fk_get()->t.fd, rel_of(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((e = readdir(d)))
		if (filler(buf, e->d_name, NULL, 0, 0))
			break;
	closedir(d);
	return 0;
}

/*
 * kernfs_fop_open(): -EACCES for writing a file without a write bit or
 * reading one without a read bit, root or not.  Control files are not
 * opened in BACKING for writing: their writes go to the handlers.
 */
static int fk_open(const char *path, struct fuse_file_info *fi)
{
	struct fk *k = fk_get();
	struct req q = { .rel = rel_of(path) };
	int acc = fi->flags & O_ACCMODE, wr = acc != O_RDONLY, rd = acc != O_WRONLY;
	struct stat st;
	int fd = -1, r;

	if (fstatat(k->t.fd, q.rel, &st, 0) < 0)
		return -errno;
	if ((wr && !(st.st_mode & 0222)) || (rd && !(st.st_mode & 0444)))
		return -EACCES;
	q.value = strdup("");
	r = q.value ? req_classify(&q) : -ENOMEM;
	if (!r && q.op != OP_WRITE)
		acc = rd ? O_RDONLY : -1;	/* the handler writes */
	if (!r && acc >= 0) {
		fd = openat(k->t.fd, q.rel, acc | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			r = -errno;
	}
	req_free(&q);
	if (r)
		return r;
	fi->fh = (uint64_t)fd;
	fi->direct_io = 1;
	return 0;
}

/* Little-endian bytes of the ROM file; 0 past its end. */
static unsigned long rom_le(int fd, size_t off, size_t n)
{
	unsigned char b[4] = { 0 };
	unsigned long v = 0;

	if (pread(fd, b, n, (off_t)off) != (ssize_t)n)
		return 0;
	while (n--)
		v = v << 8 | b[n];
	return v;
}

/*
 * pci_get_rom_size() (drivers/pci/rom.c) on the ROM file, its size the
 * window: the images while each starts with 0x55AA and points to a "PCIR"
 * structure, up to the one flagged last (or of length 0, or without a next
 * image after it); never more than the window; 0 when the first is not one.
 */
static size_t rom_size(int fd, size_t window)
{
	size_t image = 0, pds;
	unsigned long length = 0;
	int last = 0;

	do {
		if (image + 0x1a > window || rom_le(fd, image, 2) != 0xaa55)
			break;
		pds = image + rom_le(fd, image + 0x18, 2);
		if (pds + 0x18 > window || rom_le(fd, pds, 4) != 0x52494350)	/* "PCIR" */
			break;
		last = rom_le(fd, pds + 0x15, 1) & 0x80;
		length = rom_le(fd, pds + 0x10, 2);
		image += length * 512;
		if (image >= window)
			break;
		if (!last && rom_le(fd, image, 2) != 0xaa55)
			break;
	} while (length && !last);
	return image < window ? image : window;
}

/*
 * pci_read_rom(): EINVAL unless enabled (a write to rom); a "rom_read" fail
 * or hang rule; then the ROM as pci_map_rom() maps it, EIO when it finds none.
 */
static int rom_read(struct fk *k, const char *rel, int fd, char *buf, size_t size, off_t off)
{
	struct req q = { .op = OP_ROM_READ, .rel = rel };
	struct stat st;
	size_t n;
	long long ns = 0;
	int r, enabled = 0, err = 0;
	ssize_t got;

	q.dir = dir_of(rel);
	r = q.dir ? 0 : -ENOMEM;
	q.addr = r ? NULL : strdup(base_of(q.dir));
	if (!r && !q.addr)
		r = -ENOMEM;
	pthread_mutex_lock(&k->lock);
	if (!r)
		r = control_load(k);
	if (!r) {
		enabled = names_find(&k->rom_on, q.addr) >= 0;
		ns = enabled ? rule_hang(k, &q) : 0;
		err = enabled ? rule_fail(k, &q) : 0;
	}
	pthread_mutex_unlock(&k->lock);
	if (!r && !enabled)
		r = -EINVAL;
	if (!r && ns < 0)
		r = hang_held(k, &q);
	else if (!r && ns)
		r = hang(ns);
	req_free(&q);
	if (!r && err)
		r = -err;
	if (!r && fstat(fd, &st) < 0)
		r = -errno;
	if (r)
		return r;
	n = rom_size(fd, (size_t)st.st_size);
	if (!n)
		return -EIO;
	if ((size_t)off >= n)
		return 0;
	got = pread(fd, buf, size < n - (size_t)off ? size : n - (size_t)off, off);
	return got < 0 ? -errno : (int)got;
}

/* A function's rom, as the kernel resolves the path: devices/.../ADDR/rom. */
static int is_rom(const char *rel)
{
	char *dir;
	int r;

	if (!has_prefix(rel, "devices/") || strcmp(base_of(rel), "rom"))
		return 0;
	dir = dir_of(rel);
	r = dir && is_addr(base_of(dir));
	free(dir);
	return r;
}

static int fk_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	if ((int)fi->fh < 0)
		return -EBADF;
	if (is_rom(rel_of(path)))
		return rom_read(fk_get(), rel_of(path), (int)fi->fh, buf, size, off);
	n = pread((int)fi->fh, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int fk_release(const char *path, struct fuse_file_info *fi)
{
	if ((int)fi->fh >= 0)
		close((int)fi->fh);
	return 0;
}

/* sysfs ignores truncation (O_TRUNC of "echo 1 > file"). */
static int fk_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	return 0;
}

static int fk_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return -EACCES;
}

static int fk_mkdir(const char *path, mode_t mode)
{
	return -EPERM;
}

static int fk_unlink(const char *path)
{
	return -EPERM;
}

static int fk_rename(const char *from, const char *to, unsigned int flags)
{
	return -EPERM;
}

static void *fk_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	cfg->hard_remove = 1;
	return fuse_get_context()->private_data;
}

static const struct fuse_operations fk_ops = {
	.init = fk_init,
	.getattr = fk_getattr,
	.readlink = fk_readlink,
	.readdir = fk_readdir,
	.open = fk_open,
	.read = fk_read,
	.write = fk_write,
	.release = fk_release,
	.truncate = fk_truncate,
	.create = fk_create,
	.mkdir = fk_mkdir,
	.unlink = fk_unlink,
	.rmdir = fk_unlink,
	.rename = fk_rename,
};

/* ------------------------------------------------------------------ */
/* main                                                                 */

static void fk_done(struct fk *k)
{
	size_t i;

	for (i = 0; i < k->n_hosts; i++) {
		free(k->hosts[i].addr);
		free(k->hosts[i].drv);
	}
	free(k->hosts);
	for (i = 0; i < k->n_dynids; i++)
		free(k->dynids[i].drv);
	free(k->dynids);
	for (i = 0; i < k->n_removed; i++)
		removed_free(&k->removed[i]);
	free(k->removed);
	control_free(&k->ctl);
	names_free(&k->fired);
	names_free(&k->rom_on);
	free(k->dev_root);
	if (k->dev_fd >= 0)
		close(k->dev_fd);
	tree_close(&k->t);
	pthread_mutex_destroy(&k->lock);
}

/* The mount point must not be, or be in, /, /sys or /proc, nor BACKING itself. */
static int mountpoint_safe(const char *mnt, const char *backing)
{
	char *m = realpath(mnt, NULL), *b = realpath(backing, NULL);
	int r = 0;

	if (!m || !b)
		r = -errno;
	else if (!strcmp(m, "/") || !strcmp(m, b) || has_prefix(m, "/sys/") || !strcmp(m, "/sys") ||
		 has_prefix(m, "/proc/") || !strcmp(m, "/proc"))
		r = -EPERM;
	free(m);
	free(b);
	return r;
}

static int dev_root_open(struct fk *k, const char *dir)
{
	if (mkdir_p(AT_FDCWD, dir, 0755))
		return -errno;
	k->dev_root = realpath(dir, NULL);
	if (!k->dev_root)
		return -errno;
	k->dev_fd = open(k->dev_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return k->dev_fd < 0 ? -errno : 0;
}

static int serve(struct fk *k, const char *mnt)
{
	char *argv[] = { (char *)"fakekernel", (char *)"-o",
			 (char *)"fsname=fakekernel,subtype=fakekernel", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fuse_loop_config cfg = { .clone_fd = 0, .max_idle_threads = 10 };
	struct fuse_session *se;
	struct fuse *f;
	int r;

	f = fuse_new(&args, &fk_ops, sizeof(fk_ops), k);
	if (!f)
		return -EIO;
	r = fuse_mount(f, mnt) ? -EIO : 0;
	se = fuse_get_session(f);
	if (!r && fuse_set_signal_handlers(se))
		r = -EIO;
	if (!r) {
		dbg(k, "serving at %s", mnt);
		r = fuse_loop_mt(f, &cfg);
		r = r < 0 ? r : 0;	/* > 0: the signal that ended it */
		fuse_remove_signal_handlers(se);
	}
	fuse_unmount(f);
	fuse_destroy(f);
	fuse_opt_free_args(&args);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dev-root", required_argument, NULL, 'D' },
		{ "control", required_argument, NULL, 'c' },
		{ "uevents", no_argument, NULL, 'u' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct fk k = { .t = { .fd = -1, .nl = -1 }, .dev_fd = -1 };
	const char *dev_root = NULL;
	int c, r;

	pthread_mutex_init(&k.lock, NULL);
	fakesys_prog = "fakekernel";
	while ((c = getopt_long(argc, argv, "dh", opts, NULL)) >= 0) {
		switch (c) {
		case 'D':
			dev_root = optarg;
			break;
		case 'c':
			k.control_path = optarg;
			break;
		case 'u':
			k.t.send = 1;
			break;
		case 'd':
			k.debug = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			fk_done(&k);
			return 0;
		default:
			fputs("Try 'fakekernel --help'.\n", stderr);
			fk_done(&k);
			return 2;
		}
	}
	if (argc - optind != 2 || !dev_root) {
		fputs("fakekernel: BACKING, MOUNTPOINT and --dev-root are needed; try 'fakekernel --help'.\n",
		      stderr);
		fk_done(&k);
		return 2;
	}
	k.t.unbind_hook = unbind_hook;
	k.t.userdata = &k;
	r = tree_open(&k.t, argv[optind], 0);
	fakesys_quiet = !k.debug;
	if (!r) {
		r = mountpoint_safe(argv[optind + 1], argv[optind]);
		if (r)
			fprintf(stderr, "fakekernel: refusing MOUNTPOINT %s: %s\n", argv[optind + 1],
				strerror(-r));
	}
	if (!r) {
		r = dev_root_open(&k, dev_root);
		if (r)
			fprintf(stderr, "fakekernel: --dev-root %s: %s\n", dev_root, strerror(-r));
	}
	if (!r)
		r = control_load(&k);
	if (!r)
		r = host_scan(&k);
	if (!r)
		r = serve(&k, argv[optind + 1]);
	if (r && !fakesys_reported)
		fprintf(stderr, "fakekernel: %s\n", strerror(-r));
	fk_done(&k);
	return r ? 1 : 0;
}
