/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fakesys-lib - the synthetic sysfs trees of tests/fakesys, shared with
 * tests/fakekernel: tree layout (functions, drivers, IOMMU groups, SR-IOV),
 * files and links relative to the tree root, and udev-format uevents.
 *
 * Conventions: paths are relative to the tree root ("devices/pci0000:00/
 * 0000:00:01.0", "bus/pci/devices/0000:01:00.0"); functions return 0 or a
 * negative errno; strings handed out are malloc()ed and owned by the
 * caller.  Nothing here is thread-safe: callers serialise access to a tree.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* SEQNUM of the uevents sent for a tree, counted in ROOT/SEQNUM_FILE. */
#define SEQNUM_FILE ".fakesys-seqnum"

/* Messages go to stderr as "PROG: ...", unless fakesys_quiet is set. */
extern const char *fakesys_prog;
extern int fakesys_quiet;
extern int fakesys_reported;	/* an error message was printed already */

struct names {
	char **v;
	size_t n;
};

struct tree;

/*
 * Called by dev_unbind() before the driver links of the device in @dir go
 * away (also when remove and SR-IOV disable unbind): what the driver's
 * remove() does, e.g. drop device nodes and send their uevents.
 */
typedef int (*unbind_hook_fn)(struct tree *t, const char *dir, const char *drv);

/* One open tree plus the netlink socket used for uevents. */
struct tree {
	int fd;			/* ROOT directory, or -1 */
	int nl;			/* netlink socket, or -1 */
	int send;		/* -u: send uevents */
	int batch;		/* gen: callers keep PF and bridge state */
	int unit_scanned;
	char *unit;		/* first IOMMU unit under class/iommu */
	char *unitdir;		/* its directory */
	struct names drivers;	/* drivers known to exist */
	unbind_hook_fn unbind_hook;	/* or NULL */
	void *userdata;		/* for the hook */
};

struct pci_addr {
	unsigned int dom, bus, dev, fn;
	char s[16];		/* canonical "dddd:bb:dd.f" */
};

enum key_id {
	K_VENDOR, K_DEVICE, K_SUBVENDOR, K_SUBDEVICE, K_CLASS, K_REVISION,
	K_VFDEVICE, K_HEADER, K_MF, K_PCIE, K_GROUP, K_NUMA, K_BOOT_VGA,
	K_TOTALVFS, K_SPEED, K_WIDTH, K_MAXSPEED, K_MAXWIDTH, K_DRIVER,
	K_OVERRIDE, K_PARENT, K_PHYSFN, K_RESET, K_IOMMU, K_ROM, K_PIN, K_ACS, K_COUNT
};

/* A function to create, from "add" keys or from "gen". */
struct fdev {
	struct pci_addr a;
	long vendor, device, subvendor, subdevice, class, revision, vfdevice;
	long header, mf, pcie, group, numa, boot_vga, totalvfs;
	long speed, width, maxspeed, maxwidth;
	long pin;		/* interrupt pin, -1: 1 (INTA), 0 for a VF */
	long acs;		/* ACS control bits enabled (capable: all of 0x5f); -1: no ACS */
	const char *driver, *override, *parent, *physfn, *reset, *iommu;
	const char *rom;	/* file whose bytes the "rom" attribute holds */
	unsigned int set;	/* bit per enum key_id given explicitly */
	struct pci_addr pa, pfa;
	char *dir;		/* root-relative device directory */
	char *pdir;		/* directory it goes into */
	char *pfdir;		/* root-relative PF directory (VF only) */
	long vf_index;		/* N of the PF's virtfnN, -1: first free */
	unsigned int secbus, subbus;	/* bridge bus range, if known */
};

/* Uevent properties: a sequence of "KEY=VALUE\0". */
struct props {
	char *buf;
	size_t len, cap;
};

/* Messages and strings */
__attribute__((format(printf, 1, 2))) void err_msg(const char *fmt, ...);
__attribute__((format(printf, 2, 3))) int fail(int err, const char *fmt, ...);
__attribute__((format(printf, 1, 2))) char *xfmt(const char *fmt, ...);
int has_prefix(const char *s, const char *prefix);
char *dir_of(const char *path);
const char *base_of(const char *path);
int valid_name(const char *s);
void names_free(struct names *l);
int names_add(struct names *l, const char *s);
int split_path(const char *path, struct names *out);

/* Files and links relative to a directory fd */
int read_link(int fd, const char *lnk, char **out);
int mkdir_p(int fd, const char *path, mode_t mode);
int put_file(int dfd, const char *name, mode_t mode, const void *buf, size_t len);
__attribute__((format(printf, 4, 5)))
int put_fmt(int dfd, const char *name, mode_t mode, const char *fmt, ...);
int read_text(int dfd, const char *name, char **out);
int rm_rf(int dfd, const char *name);
int list_dir(int fd, const char *dir, int (*keep)(int fd, const char *dir, const char *name),
	     struct names *out);
int keep_any(int fd, const char *dir, const char *name);
int keep_number(int fd, const char *dir, const char *name);
int keep_virtfn(int fd, const char *dir, const char *name);
int make_link(int fd, const char *lnk, const char *target);
__attribute__((format(printf, 3, 4)))
int mklink(struct tree *t, const char *target, const char *fmt, ...);
__attribute__((format(printf, 2, 3))) int unlink_fmt(struct tree *t, const char *fmt, ...);
int exists(int fd, const char *path);
__attribute__((format(printf, 2, 3))) int exists_fmt(struct tree *t, const char *fmt, ...);

/* PCI addresses, numbers and "add" keys */
int addr_make(struct pci_addr *a, unsigned int dom, unsigned int bus, unsigned int dev,
	      unsigned int fn);
int addr_parse(const char *s, struct pci_addr *a);
int is_addr(const char *s);
int parse_long(const char *s, int base, long *v);
int key_parse(struct fdev *f, const char *arg);
void fdev_init(struct fdev *f);
void fdev_release(struct fdev *f);

/* Config space of the device in @dir: read (@wr 0) or write @len bytes at @off. */
int cfg_rw(int fd, const char *dir, int wr, size_t off, void *buf, size_t len);

/* Uevents */
int props_put(struct props *p, const char *s, size_t n);
__attribute__((format(printf, 2, 3))) int props_add(struct props *p, const char *fmt, ...);
const char *props_get(const struct props *p, const char *key);
unsigned long long usec_now(void);
int nl_send(struct tree *t, const struct props *p);
int seqnum_next(struct tree *t, unsigned long long *seq);
int ue_emit(struct tree *t, const char *action, const char *dir);

/* Drivers, groups, functions */
int ensure_driver(struct tree *t, const char *name);
int dev_locate(struct tree *t, const char *addr, char **dir);
int dev_driver(struct tree *t, const char *dir, char **name);
int uevent_set_driver(struct tree *t, const char *dir, const char *drv);
int driver_link(struct tree *t, const char *dir, const char *drv);
int pf_update_numvfs(struct tree *t, const char *pfdir);
int next_group(struct tree *t, long *group);
int dev_add(struct tree *t, struct fdev *f);
int dev_describe(struct tree *t, const char *dir, struct names *out);
int dev_unbind(struct tree *t, const char *dir);
int remove_vfs(struct tree *t, const char *dir);
int dev_stop(struct tree *t, const char *dir);
int dev_destroy(struct tree *t, const char *dir);

/* init pieces */
int init_base(struct tree *t);
int init_unit(struct tree *t, const char *unit);
int init_lockdown(struct tree *t, const char *mode);
int init_noiommu(struct tree *t, const char *val);

/* ROOT: never "/", nor anything in sysfs or procfs. */
int tree_open(struct tree *t, const char *root, int create);
void tree_close(struct tree *t);
