// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fakesys-lib - synthetic Linux sysfs PCI trees and udev-format uevents,
 * shared by tests/fakesys (the command-line tool) and tests/fakekernel (the
 * FUSE fake kernel).  See fakesys-lib.h for the conventions.
 *
 * The tree under ROOT is laid out as the kernel lays out /sys: device
 * directories under devices/pciDDDD:BB/ (nested behind their bridges),
 * relative links from bus/pci/devices, bus/pci/drivers/NAME and
 * kernel/iommu_groups/N, attribute files in the kernel's formats and a
 * binary config space.  Uevents are sent as udevd forwards them
 * (netlink group 2, "libudev" header) so that a libudev monitor
 * (udev_monitor_new_from_netlink(udev, "udev")) receives them.  Sending
 * needs root; use it inside "unshare -n" so no real udevd interferes.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/vfs.h>

#include "fakesys-lib.h"

#define SYSFS_MAGIC		0x62656572
#define PROC_SUPER_MAGIC	0x9fa0
#define UDEV_MONITOR_MAGIC	0xfeedcafeU
#define MONITOR_GROUP_UDEV	2
#define UEVENT_BUFFER_SIZE	8192	/* receive buffer of sd-device */
#define MAX_ATTRS		48

enum key_type { KT_HEX, KT_INT, KT_SPEED, KT_STR };

struct key_desc {
	const char *name;
	enum key_type type;
	size_t off;
	long min, max;
};

#define NUMKEY(n, t, field, lo, hi) \
	{ n, t, offsetof(struct fdev, field), lo, hi }
#define STRKEY(n, field) { n, KT_STR, offsetof(struct fdev, field), 0, 0 }

static const struct key_desc keys[K_COUNT] = {
	[K_VENDOR] = NUMKEY("vendor", KT_HEX, vendor, 0, 0xffff),
	[K_DEVICE] = NUMKEY("device", KT_HEX, device, 0, 0xffff),
	[K_SUBVENDOR] = NUMKEY("subvendor", KT_HEX, subvendor, 0, 0xffff),
	[K_SUBDEVICE] = NUMKEY("subdevice", KT_HEX, subdevice, 0, 0xffff),
	[K_CLASS] = NUMKEY("class", KT_HEX, class, 0, 0xffffff),
	[K_REVISION] = NUMKEY("revision", KT_HEX, revision, 0, 0xff),
	[K_VFDEVICE] = NUMKEY("vfdevice", KT_HEX, vfdevice, 0, 0xffff),
	[K_HEADER] = NUMKEY("header", KT_INT, header, 0, 1),
	[K_MF] = NUMKEY("mf", KT_INT, mf, 0, 1),
	[K_PCIE] = NUMKEY("pcie", KT_INT, pcie, 0, 1),
	[K_GROUP] = NUMKEY("group", KT_INT, group, 0, INT_MAX),
	[K_NUMA] = NUMKEY("numa", KT_INT, numa, -1, 4095),
	[K_BOOT_VGA] = NUMKEY("boot_vga", KT_INT, boot_vga, 0, 1),
	[K_TOTALVFS] = NUMKEY("totalvfs", KT_INT, totalvfs, 0, 0xffff),
	[K_SPEED] = NUMKEY("speed", KT_SPEED, speed, 0, 6),
	[K_WIDTH] = NUMKEY("width", KT_INT, width, 0, 32),
	[K_MAXSPEED] = NUMKEY("maxspeed", KT_SPEED, maxspeed, 0, 6),
	[K_MAXWIDTH] = NUMKEY("maxwidth", KT_INT, maxwidth, 0, 32),
	[K_DRIVER] = STRKEY("driver", driver),
	[K_OVERRIDE] = STRKEY("override", override),
	[K_PARENT] = STRKEY("parent", parent),
	[K_PHYSFN] = STRKEY("physfn", physfn),
	[K_RESET] = STRKEY("reset", reset),
	[K_IOMMU] = STRKEY("iommu", iommu),
	[K_ROM] = STRKEY("rom", rom),
	[K_PIN] = NUMKEY("pin", KT_INT, pin, 0, 4),
	[K_ACS] = NUMKEY("acs", KT_HEX, acs, 0, 0x7f),
};

/* Link speeds as the kernel prints them, indexed by the LnkSta encoding. */
static const char *const speeds[] = {
	"Unknown", "2.5 GT/s PCIe", "5.0 GT/s PCIe", "8.0 GT/s PCIe",
	"16.0 GT/s PCIe", "32.0 GT/s PCIe", "64.0 GT/s PCIe",
};

static const double speed_gts[] = { 0, 2.5, 5, 8, 16, 32, 64 };

/* Attributes a VF takes from its PF unless given on the command line. */
static const struct {
	enum key_id id;
	const char *attr;
} vf_inherit[] = {
	{ K_VENDOR, "vendor" },
	{ K_DEVICE, "sriov_vf_device" },
	{ K_SUBVENDOR, "subsystem_vendor" },
	{ K_SUBDEVICE, "subsystem_device" },
	{ K_CLASS, "class" },
	{ K_REVISION, "revision" },
	{ K_NUMA, "numa_node" },
	{ K_SPEED, "current_link_speed" },
	{ K_WIDTH, "current_link_width" },
	{ K_MAXSPEED, "max_link_speed" },
	{ K_MAXWIDTH, "max_link_width" },
};

struct monitor_netlink_header {
	char prefix[8];			/* "libudev" + NUL */
	unsigned int magic;		/* htobe32(UDEV_MONITOR_MAGIC) */
	unsigned int header_size;
	unsigned int properties_off;
	unsigned int properties_len;
	unsigned int filter_subsystem_hash;
	unsigned int filter_devtype_hash;
	unsigned int filter_tag_bloom_hi;
	unsigned int filter_tag_bloom_lo;
};

/* Uevent properties: a sequence of "KEY=VALUE\0". */
struct attr {
	const char *name;
	mode_t mode;
	char *val;
};

struct attrs {
	struct attr v[MAX_ATTRS];
	size_t n;
	int err;
};

/* ------------------------------------------------------------------ */
/* Messages and strings                                                 */

const char *fakesys_prog = "fakesys";
int fakesys_quiet;
int fakesys_reported;

static void vmsg(const char *fmt, va_list ap)
{
	fakesys_reported = 1;
	if (fakesys_quiet)
		return;
	fprintf(stderr, "%s: ", fakesys_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2)))
void err_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3)))
int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	return err;
}

__attribute__((format(printf, 1, 2)))
char *xfmt(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

int has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* Whether @path is @dir or lies below it. */
static int path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/* Root-relative directory part of @path ("" for a top-level name). */
char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return strndup(path, slash ? (size_t)(slash - path) : 0);
}

const char *base_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

int valid_name(const char *s)
{
	return *s && !strchr(s, '/') && !strchr(s, '\n') &&
	       strcmp(s, ".") && strcmp(s, "..");
}

void names_free(struct names *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int names_add(struct names *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->v = v;
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

/* Order "virtfn9" before "virtfn10", addresses by their fixed-width text. */
static int name_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t lx = strlen(x), ly = strlen(y);

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x, y);
}

/* ------------------------------------------------------------------ */
/* Paths and files relative to a directory fd                           */

/* Append the non-empty components of @path to @out. */
int split_path(const char *path, struct names *out)
{
	char *copy, *tok, *save = NULL;
	int r = 0;

	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, "/", &save); tok && !r;
	     tok = strtok_r(NULL, "/", &save))
		r = names_add(out, tok);
	free(copy);
	return r;
}

/* "../" @up times, then @v joined with '/'. */
static char *join_names(char *const *v, size_t n, size_t up)
{
	size_t i, len = up * 3 + 1;
	char *out, *p;

	for (i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	out = malloc(len);
	if (!out)
		return NULL;
	p = out;
	for (i = 0; i < up; i++)
		p = stpcpy(p, i + 1 < up || n ? "../" : "..");
	for (i = 0; i < n; i++) {
		p = stpcpy(p, v[i]);
		if (i + 1 < n)
			*p++ = '/';
	}
	*p = '\0';
	return out;
}

/* Relative link text leading from directory @from to @to (root-relative). */
static char *rel_path(const char *from, const char *to)
{
	struct names a = { 0 }, b = { 0 };
	char *out = NULL;
	size_t common = 0;

	if (split_path(from, &a) || split_path(to, &b))
		goto out;
	while (common < a.n && common < b.n &&
	       !strcmp(a.v[common], b.v[common]))
		common++;
	out = join_names(b.v + common, b.n - common, a.n - common);
out:
	names_free(&a);
	names_free(&b);
	return out;
}

/* Resolve relative link text @target found in directory @dir. */
static int resolve_rel(const char *dir, const char *target, char **out)
{
	struct names a = { 0 }, b = { 0 };
	size_t i;
	int r;

	if (target[0] == '/')
		return -EXDEV;
	r = split_path(dir, &a);
	if (!r)
		r = split_path(target, &b);
	for (i = 0; !r && i < b.n; i++) {
		if (!strcmp(b.v[i], "..") && !a.n)
			r = -EXDEV;	/* leads out of ROOT */
		else if (!strcmp(b.v[i], ".."))
			free(a.v[--a.n]);
		else if (strcmp(b.v[i], "."))
			r = names_add(&a, b.v[i]);
	}
	if (!r) {
		*out = join_names(a.v, a.n, 0);
		r = *out ? 0 : -ENOMEM;
	}
	names_free(&a);
	names_free(&b);
	return r;
}

/* Root-relative path that the symlink @lnk (root-relative) points to. */
int read_link(int fd, const char *lnk, char **out)
{
	char target[PATH_MAX], *dir;
	ssize_t n;
	int r;

	n = readlinkat(fd, lnk, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	dir = dir_of(lnk);
	if (!dir)
		return -ENOMEM;
	r = resolve_rel(dir, target, out);
	free(dir);
	return r;
}

int mkdir_p(int fd, const char *path, mode_t mode)
{
	char *copy, *p;
	int r = 0;

	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	for (p = copy; !r && p; ) {
		p = strchr(p + 1, '/');
		if (p)
			*p = '\0';
		if (*copy && mkdirat(fd, copy, mode) < 0 && errno != EEXIST)
			r = -errno;
		if (p)
			*p = '/';
	}
	free(copy);
	return r;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int put_file(int dfd, const char *name, mode_t mode,
		    const void *buf, size_t len)
{
	int fd, r;

	fd = openat(dfd, name,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, len);
	if (close(fd) < 0 && !r)
		r = -errno;
	return r;
}

/* An empty file: one mknodat() instead of openat() and close(). */
static int put_empty(int dfd, const char *name, mode_t mode)
{
	if (!mknodat(dfd, name, S_IFREG | mode, 0))
		return 0;
	return errno == EEXIST ? put_file(dfd, name, mode, "", 0) : -errno;
}

__attribute__((format(printf, 4, 5)))
int put_fmt(int dfd, const char *name, mode_t mode, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n, r;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	r = put_file(dfd, name, mode, s, (size_t)n);
	free(s);
	return r;
}

/* Read a whole (small) file into a NUL-terminated buffer. */
int read_text(int dfd, const char *name, char **out)
{
	size_t len = 0, cap = 4096;
	char *buf = NULL, *nb;
	ssize_t n;
	int fd, r = 0;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do {
		nb = realloc(buf, cap + 1);
		if (!nb) {
			r = -ENOMEM;
			break;
		}
		buf = nb;
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno != EINTR)
			r = -errno;
		len += n > 0 ? (size_t)n : 0;
		if (len == cap)
			cap *= 2;
	} while (!r && n != 0 && cap <= (1u << 20));
	close(fd);
	if (r) {
		free(buf);
		return r;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

int rm_rf(int dfd, const char *name)
{
	struct dirent *e;
	struct stat st;
	DIR *d;
	int fd, r = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 ? -errno : 0;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (!r && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			r = rm_rf(dirfd(d), e->d_name);
	closedir(d);
	if (!r && unlinkat(dfd, name, AT_REMOVEDIR) < 0)
		r = -errno;
	return r;
}

/* Names in @dir (root-relative) accepted by @keep, sorted ascending. */
int list_dir(int fd, const char *dir,
		    int (*keep)(int fd, const char *dir, const char *name),
		    struct names *out)
{
	struct dirent *e;
	DIR *d;
	int dfd, r = 0;

	dfd = openat(fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	while (!r && (e = readdir(d)))
		if (e->d_name[0] != '.' && keep(fd, dir, e->d_name))
			r = names_add(out, e->d_name);
	closedir(d);
	if (!r && out->n)
		qsort(out->v, out->n, sizeof(*out->v), name_cmp);
	return r;
}

/*
 * Create the symlink @lnk (root-relative) pointing at root-relative
 * @target with relative text, replacing an existing symlink.
 */
int make_link(int fd, const char *lnk, const char *target)
{
	struct stat st;
	char *dir, *rel;
	int r = 0;

	dir = dir_of(lnk);
	rel = dir ? rel_path(dir, target) : NULL;
	if (!rel) {
		r = -ENOMEM;
		goto out;
	}
	if (symlinkat(rel, fd, lnk) < 0) {
		r = -errno;
		if (r == -EEXIST && !fstatat(fd, lnk, &st, AT_SYMLINK_NOFOLLOW) &&
		    S_ISLNK(st.st_mode) && !unlinkat(fd, lnk, 0))
			r = symlinkat(rel, fd, lnk) < 0 ? -errno : 0;
	}
out:
	free(dir);
	free(rel);
	return r;
}

__attribute__((format(printf, 3, 4)))
int mklink(struct tree *t, const char *target, const char *fmt, ...)
{
	va_list ap;
	char *lnk;
	int n, r;

	va_start(ap, fmt);
	n = vasprintf(&lnk, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	r = make_link(t->fd, lnk, target);
	free(lnk);
	return r;
}

__attribute__((format(printf, 2, 3)))
int unlink_fmt(struct tree *t, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n, r = 0;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	if (unlinkat(t->fd, p, 0) < 0 && errno != ENOENT)
		r = -errno;
	free(p);
	return r;
}

/* ------------------------------------------------------------------ */
/* Attribute lists                                                      */

__attribute__((format(printf, 4, 5)))
static void attr_add(struct attrs *l, const char *name, mode_t mode,
		     const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	if (l->err)
		return;
	if (l->n == MAX_ATTRS) {
		l->err = -E2BIG;
		return;
	}
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		l->err = -ENOMEM;
		return;
	}
	l->v[l->n++] = (struct attr){ .name = name, .mode = mode, .val = s };
}

static int attrs_write(int dfd, struct attrs *l)
{
	int r = l->err;
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (!r && !l->v[i].val[0])
			r = put_empty(dfd, l->v[i].name, l->v[i].mode);
		else if (!r)
			r = put_file(dfd, l->v[i].name, l->v[i].mode,
				     l->v[i].val, strlen(l->v[i].val));
		free(l->v[i].val);
	}
	l->n = 0;
	return r;
}

/* ------------------------------------------------------------------ */
/* PCI addresses and "add" keys                                         */

int addr_make(struct pci_addr *a, unsigned int dom, unsigned int bus,
		     unsigned int dev, unsigned int fn)
{
	if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7)
		return -EINVAL;
	*a = (struct pci_addr){ .dom = dom, .bus = bus, .dev = dev, .fn = fn };
	snprintf(a->s, sizeof(a->s), "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

int addr_parse(const char *s, struct pci_addr *a)
{
	unsigned int d = 0, b, v, f;
	int n = -1;

	if (!*s || strspn(s, "0123456789abcdefABCDEF:.") != strlen(s))
		return -EINVAL;
	if (sscanf(s, "%x:%x:%x.%x%n", &d, &b, &v, &f, &n) != 4 || s[n]) {
		n = -1;
		d = 0;
		if (sscanf(s, "%x:%x.%x%n", &b, &v, &f, &n) != 3 || s[n])
			return -EINVAL;
	}
	return addr_make(a, d, b, v, f);
}

int is_addr(const char *s)
{
	struct pci_addr a;

	return !addr_parse(s, &a) && !strcmp(a.s, s);
}

static int parse_speed(const char *s, long *v)
{
	char *end;
	double x;
	long i;

	if (!strncasecmp(s, "unknown", 7)) {
		*v = 0;
		return 0;
	}
	x = strtod(s, &end);
	if (end == s || (*end && *end != '\n' && !has_prefix(end, " GT/s")))
		return -EINVAL;
	for (i = 1; i < (long)(sizeof(speed_gts) / sizeof(speed_gts[0])); i++)
		if (x == speed_gts[i]) {
			*v = i;
			return 0;
		}
	return -EINVAL;
}

int parse_long(const char *s, int base, long *v)
{
	char *end;

	errno = 0;
	*v = strtol(s, &end, base);
	if (errno || end == s || (*end && strcmp(end, "\n")))
		return -EINVAL;
	return 0;
}

static int key_set(struct fdev *f, enum key_id id, const char *val)
{
	const struct key_desc *k = &keys[id];
	char *p = (char *)f + k->off;
	long v;
	int r;

	if (k->type == KT_STR) {
		if (!*val || strchr(val, '\n'))
			return -EINVAL;
		*(const char **)p = val;
		f->set |= 1u << id;
		return 0;
	}
	if (k->type == KT_SPEED)
		r = parse_speed(val, &v);
	else
		r = parse_long(val, k->type == KT_HEX ? 16 : 10, &v);
	if (r || v < k->min || v > k->max)
		return -EINVAL;
	*(long *)p = v;
	f->set |= 1u << id;
	return 0;
}

int key_parse(struct fdev *f, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t i;

	if (!eq)
		return -EINVAL;
	for (i = 0; i < K_COUNT; i++)
		if (strlen(keys[i].name) == (size_t)(eq - arg) &&
		    !strncmp(keys[i].name, arg, (size_t)(eq - arg)))
			break;
	if (i == K_COUNT) {
		err_msg("unknown key in '%s'", arg);
		return -EINVAL;
	}
	if (key_set(f, (enum key_id)i, eq + 1) < 0) {
		err_msg("bad value in '%s'", arg);
		return -EINVAL;
	}
	return 0;
}

void fdev_init(struct fdev *f)
{
	*f = (struct fdev){
		.vendor = 0x8086, .device = 0x10d3, .class = 0x020000,
		.pcie = 1, .group = -1, .numa = -1, .boot_vga = -1, .pin = -1, .acs = -1,
		.speed = 3, .width = 1, .vf_index = -1,
	};
}

void fdev_release(struct fdev *f)
{
	free(f->dir);
	free(f->pdir);
	free(f->pfdir);
	f->dir = NULL;
	f->pdir = NULL;
	f->pfdir = NULL;
}

static int is_set(const struct fdev *f, enum key_id id)
{
	return !!(f->set & (1u << id));
}

/* Defaults that depend on other keys, and consistency checks. */
static int fdev_finish(struct fdev *f)
{
	if (f->header && !is_set(f, K_CLASS))
		f->class = 0x060400;
	if (!is_set(f, K_SUBVENDOR))
		f->subvendor = f->vendor;
	if (!is_set(f, K_VFDEVICE))
		f->vfdevice = f->device;
	if (!is_set(f, K_MAXSPEED))
		f->maxspeed = f->speed;
	if (!is_set(f, K_MAXWIDTH))
		f->maxwidth = f->width;
	if ((f->class >> 8) == 0x0300 && f->boot_vga < 0)
		f->boot_vga = 0;
	if (f->boot_vga >= 0 && (f->class >> 8) != 0x0300)
		return fail(-EINVAL, "boot_vga= needs a VGA class 0x0300xx");
	if (f->totalvfs && (f->physfn || f->header || !f->pcie))
		return fail(-EINVAL, "totalvfs= needs a PCIe endpoint, not a VF");
	if (f->physfn && f->header)
		return fail(-EINVAL, "a VF cannot be a bridge");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Config space                                                         */

static void put16(unsigned char *c, size_t off, unsigned long v)
{
	c[off] = v & 0xff;
	c[off + 1] = (v >> 8) & 0xff;
}

static void put32(unsigned char *c, size_t off, unsigned long v)
{
	put16(c, off, v & 0xffff);
	put16(c, off + 2, v >> 16);
}

/* PCI Express capability at 0x40 (port type as in PCI_EXP_FLAGS_TYPE). */
static void cfg_pcie(const struct fdev *f, unsigned char *c, unsigned int type)
{
	int flr = f->reset && strstr(f->reset, "flr");

	c[0x06] |= 0x10;			/* status: capability list */
	c[0x34] = 0x40;
	c[0x40] = 0x10;				/* PCI_CAP_ID_EXP, last */
	put16(c, 0x42, 0x2 | type << 4);	/* version 2 */
	put32(c, 0x44, flr ? 1ul << 28 : 0);	/* DevCap: FLR */
	put32(c, 0x4c, (unsigned long)f->maxspeed |
		       (unsigned long)f->maxwidth << 4);
	put16(c, 0x52, (unsigned long)f->speed | (unsigned long)f->width << 4);
	/* Link Capabilities 2: the supported speeds, 2.5 GT/s up to the maximum; the kernel reads
	 * speeds above 5 GT/s only from here (pcie_get_speed_cap()). */
	put32(c, 0x6c, ((1ul << (f->maxspeed + 1)) - 2) & 0xfe);
}

/* A bridge's subsystem ids, in a Subsystem ID capability at 0x80 after any other: the kernel
 * reads a bridge's subsystem_vendor and subsystem_device from there, 0 without one. */
static void cfg_ssvid(const struct fdev *f, unsigned char *c)
{
	c[0x06] |= 0x10;			/* status: capability list */
	if (c[0x34])
		c[0x41] = 0x80;			/* after PCI Express at 0x40 */
	else
		c[0x34] = 0x80;
	c[0x80] = 0x0d;				/* PCI_CAP_ID_SSVID, last */
	put16(c, 0x84, (unsigned long)f->subvendor);
	put16(c, 0x86, (unsigned long)f->subdevice);
}

/* Access Control Services, the first extended capability (a port has no SR-IOV): capable of
 * SrcValid, TransBlk, ReqRedir, CmpltRedir, UpstreamFwd, DirectTrans; f->acs enabled. */
static void cfg_acs(const struct fdev *f, unsigned char *c)
{
	put32(c, 0x100, 0x000d | 1ul << 16);	/* ACS v1, last */
	put16(c, 0x104, 0x5f);
	put16(c, 0x106, (unsigned long)f->acs);
}

/* SR-IOV extended capability at 0x100. */
static void cfg_sriov(const struct fdev *f, unsigned char *c)
{
	put32(c, 0x100, 0x0010 | 1ul << 16);	/* SR-IOV v1, last */
	put16(c, 0x10c, (unsigned long)f->totalvfs);	/* InitialVFs */
	put16(c, 0x10e, (unsigned long)f->totalvfs);	/* TotalVFs */
	put16(c, 0x114, 1);				/* First VF offset */
	put16(c, 0x116, 1);				/* VF stride */
	put16(c, 0x11a, (unsigned long)f->vfdevice);
}

static void cfg_build(const struct fdev *f, unsigned char *c,
		      unsigned int port_type)
{
	int vf = f->physfn != NULL;

	put16(c, 0x00, vf ? 0xffff : (unsigned long)f->vendor);
	put16(c, 0x02, vf ? 0xffff : (unsigned long)f->device);
	c[0x08] = f->revision & 0xff;
	c[0x09] = f->class & 0xff;
	c[0x0a] = (f->class >> 8) & 0xff;
	c[0x0b] = (f->class >> 16) & 0xff;
	c[0x0e] = (f->header ? 1 : 0) | (f->mf ? 0x80 : 0);
	c[0x3d] = f->pin >= 0 ? (unsigned char)f->pin : vf ? 0 : 1;	/* Interrupt Pin */
	if (f->header) {
		c[0x18] = f->a.bus & 0xff;	/* primary bus */
		c[0x19] = f->secbus & 0xff;
		c[0x1a] = f->subbus & 0xff;
	} else {
		put16(c, 0x2c, (unsigned long)f->subvendor);
		put16(c, 0x2e, (unsigned long)f->subdevice);
	}
	if (f->pcie)
		cfg_pcie(f, c, port_type);
	if (f->header && (f->subvendor || f->subdevice))
		cfg_ssvid(f, c);
	if (f->totalvfs)
		cfg_sriov(f, c);
	else if (f->pcie && f->acs >= 0)
		cfg_acs(f, c);
	if (f->rom)	/* the expansion ROM BAR: assigned, decoding off */
		put32(c, f->header ? 0x38 : 0x30, 0xfeb80000);
}

int cfg_rw(int fd, const char *dir, int wr, size_t off, void *buf,
		  size_t len)
{
	char *p = xfmt("%s/config", dir);
	ssize_t n;
	int cfd;

	if (!p)
		return -ENOMEM;
	cfd = openat(fd, p, (wr ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	free(p);
	if (cfd < 0)
		return -errno;
	n = wr ? pwrite(cfd, buf, len, (off_t)off)
	       : pread(cfd, buf, len, (off_t)off);
	close(cfd);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static int write_config(struct tree *t, const struct fdev *f, int dfd)
{
	unsigned char c[0x140] = { 0 };
	unsigned char flags[2] = { 0 };
	char *pdir = dir_of(f->dir);
	unsigned int type = f->header ? 4 : 0;
	size_t size = f->pcie ? 4096 : 256;
	int fd, r;

	if (!pdir)
		return -ENOMEM;
	/* a bridge below an upstream port is a downstream port */
	if (f->header && f->parent && !cfg_rw(t->fd, pdir, 0, 0x42, flags, 2))
		type = ((flags[0] >> 4) & 0xf) == 5 ? 6 : 5;
	free(pdir);
	cfg_build(f, c, type);
	fd = openat(dfd, "config",
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	r = write_all(fd, c, size < sizeof(c) ? size : sizeof(c));
	if (!r && ftruncate(fd, (off_t)size) < 0)
		r = -errno;	/* the rest reads as zeroes, sparse */
	close(fd);
	return r;
}

/* ------------------------------------------------------------------ */
/* Uevents                                                              */

/* MurmurHash2 by Austin Appleby, as systemd's string_hash32() uses it. */
static uint32_t murmur2(const void *key, size_t len, uint32_t seed)
{
	const uint32_t m = 0x5bd1e995;
	const unsigned char *d = key;
	uint32_t h = seed ^ (uint32_t)len, k;

	while (len >= 4) {
		memcpy(&k, d, 4);	/* native order, as systemd does */
		k *= m;
		k ^= k >> 24;
		k *= m;
		h *= m;
		h ^= k;
		d += 4;
		len -= 4;
	}
	switch (len) {
	case 3:
		h ^= (uint32_t)d[2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)d[1] << 8;
		/* fall through */
	case 1:
		h ^= d[0];
		h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}

/* Tag bloom filter bits of a TAGS value like ":a:b:" (string_bloom64). */
static uint64_t tags_bloom(const char *tags)
{
	uint64_t bits = 0;
	size_t n;
	uint32_t h;

	for (; *tags; tags += n) {
		n = strcspn(tags, ":");
		if (n) {
			h = murmur2(tags, n, 0);
			bits |= UINT64_C(1) << (h & 63);
			bits |= UINT64_C(1) << ((h >> 6) & 63);
			bits |= UINT64_C(1) << ((h >> 12) & 63);
			bits |= UINT64_C(1) << ((h >> 18) & 63);
		} else {
			n = 1;
		}
	}
	return bits;
}

int props_put(struct props *p, const char *s, size_t n)
{
	char *nb;

	if (p->len + n + 1 > p->cap) {
		nb = realloc(p->buf, (p->len + n + 1) * 2);
		if (!nb)
			return -ENOMEM;
		p->buf = nb;
		p->cap = (p->len + n + 1) * 2;
	}
	memcpy(p->buf + p->len, s, n);
	p->buf[p->len + n] = '\0';
	p->len += n + 1;
	return 0;
}

__attribute__((format(printf, 2, 3)))
int props_add(struct props *p, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n, r;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	r = props_put(p, s, (size_t)n);
	free(s);
	return r;
}

const char *props_get(const struct props *p, const char *key)
{
	size_t off, kl = strlen(key);

	for (off = 0; off < p->len; off += strlen(p->buf + off) + 1)
		if (!strncmp(p->buf + off, key, kl) && p->buf[off + kl] == '=')
			return p->buf + off + kl + 1;
	return NULL;
}

unsigned long long usec_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	       (unsigned long long)ts.tv_nsec / 1000;
}

/* Send @p to the udev netlink group as udevd does. */
int nl_send(struct tree *t, const struct props *p)
{
	const char *subsys = props_get(p, "SUBSYSTEM");
	const char *devtype = props_get(p, "DEVTYPE");
	const char *tags = props_get(p, "TAGS");
	struct monitor_netlink_header h = {
		.prefix = "libudev",
		.magic = htobe32(UDEV_MONITOR_MAGIC),
		.header_size = sizeof(h),
		.properties_off = sizeof(h),
		.properties_len = (unsigned int)p->len,
	};
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups = MONITOR_GROUP_UDEV,
	};
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = p->buf, .iov_len = p->len },
	};
	struct msghdr msg = {
		.msg_name = &sa, .msg_namelen = sizeof(sa),
		.msg_iov = iov, .msg_iovlen = 2,
	};
	uint64_t bloom = tags ? tags_bloom(tags) : 0;

	if (sizeof(h) + p->len > UEVENT_BUFFER_SIZE)
		return -EMSGSIZE;
	h.filter_subsystem_hash = htobe32(murmur2(subsys, strlen(subsys), 0));
	if (devtype)
		h.filter_devtype_hash =
			htobe32(murmur2(devtype, strlen(devtype), 0));
	h.filter_tag_bloom_hi = htobe32((uint32_t)(bloom >> 32));
	h.filter_tag_bloom_lo = htobe32((uint32_t)bloom);
	if (t->nl < 0)
		t->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
			       NETLINK_KOBJECT_UEVENT);
	if (t->nl < 0)
		return -errno;
	if (sendmsg(t->nl, &msg, 0) < 0 && errno != ECONNREFUSED)
		return -errno;
	return 0;
}

/* Next SEQNUM of the tree, counted in ROOT/.fakesys-seqnum. */
int seqnum_next(struct tree *t, unsigned long long *seq)
{
	char buf[32];
	ssize_t n;
	int fd, r = 0;

	fd = openat(t->fd, SEQNUM_FILE,
		    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		r = -errno;
		goto out;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	*seq = strtoull(buf, NULL, 10) + 1;
	n = snprintf(buf, sizeof(buf), "%llu\n", *seq);
	if (pwrite(fd, buf, (size_t)n, 0) != n || ftruncate(fd, n) < 0)
		r = -EIO;
out:
	close(fd);
	return r;
}

static int props_from_text(struct props *p, char *text, int skip_driver)
{
	char *line, *save = NULL;
	int r = 0;

	for (line = strtok_r(text, "\n", &save); line && !r;
	     line = strtok_r(NULL, "\n", &save))
		if (!skip_driver || !has_prefix(line, "DRIVER="))
			r = props_put(p, line, strlen(line));
	return r;
}

/*
 * Properties of the uevent for the device in @dir: ACTION, DEVPATH,
 * SUBSYSTEM, its uevent file (without DRIVER= for "add": the kernel
 * sends "add" before any driver is bound), SEQNUM, USEC_INITIALIZED.
 */
static int ue_build(struct tree *t, const char *action, const char *dir,
		    struct props *p)
{
	unsigned long long seq = 0;
	char *path, *text = NULL;
	int r;

	path = xfmt("%s/uevent", dir);
	if (!path)
		return -ENOMEM;
	r = read_text(t->fd, path, &text);
	free(path);
	if (!r)
		r = props_add(p, "ACTION=%s", action);
	if (!r)
		r = props_add(p, "DEVPATH=/%s", dir);
	if (!r)
		r = props_add(p, "SUBSYSTEM=pci");
	if (!r)
		r = props_from_text(p, text, !strcmp(action, "add"));
	if (!r)
		r = seqnum_next(t, &seq);
	if (!r)
		r = props_add(p, "SEQNUM=%llu", seq);
	if (!r)
		r = props_add(p, "USEC_INITIALIZED=%llu", usec_now());
	free(text);
	return r;
}

/* Send the uevent for @dir when -u was given. */
int ue_emit(struct tree *t, const char *action, const char *dir)
{
	struct props p = { 0 };
	int r;

	if (!t->send)
		return 0;
	r = ue_build(t, action, dir, &p);
	if (!r)
		r = nl_send(t, &p);
	free(p.buf);
	if (r)
		err_msg("%s uevent for %s: %s", action, base_of(dir),
			strerror(-r));
	return r;
}

/* ------------------------------------------------------------------ */
/* Tree pieces: drivers, IOMMU groups and units                         */

int exists(int fd, const char *path)
{
	struct stat st;

	return !fstatat(fd, path, &st, AT_SYMLINK_NOFOLLOW);
}

__attribute__((format(printf, 2, 3)))
int exists_fmt(struct tree *t, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n, r;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		return 0;
	r = exists(t->fd, p);
	free(p);
	return r;
}

int keep_any(int fd, const char *dir, const char *name)
{
	(void)fd;
	(void)dir;
	(void)name;
	return 1;
}

/* First IOMMU unit under class/iommu, NULL when there is none. */
static const char *tree_unit(struct tree *t)
{
	struct names l = { 0 };

	if (!t->unit_scanned) {
		t->unit_scanned = 1;
		if (!list_dir(t->fd, "class/iommu", keep_any, &l) && l.n)
			t->unit = strdup(l.v[0]);
		names_free(&l);
	}
	return t->unit;
}

/* module/<name> with '-' as '_', and the driver's link to it. */
static int driver_module(struct tree *t, const char *drvdir, const char *name)
{
	char *mod, *p;
	int r;

	mod = xfmt("module/%s", name);
	if (!mod)
		return -ENOMEM;
	for (p = mod + strlen("module/"); *p; p++)
		if (*p == '-')
			*p = '_';
	r = mkdir_p(t->fd, mod, 0755);
	if (!r)
		r = mklink(t, mod, "%s/module", drvdir);
	free(mod);
	return r;
}

int ensure_driver(struct tree *t, const char *name)
{
	static const char *const files[] = {
		"bind", "unbind", "new_id", "remove_id", "uevent",
	};
	char *dir;
	size_t i;
	int dfd = -1, r;

	if (!valid_name(name))
		return -EINVAL;
	for (i = 0; i < t->drivers.n; i++)
		if (!strcmp(t->drivers.v[i], name))
			return 0;
	dir = xfmt("bus/pci/drivers/%s", name);
	if (!dir)
		return -ENOMEM;
	if (exists(t->fd, dir)) {
		free(dir);
		return names_add(&t->drivers, name);
	}
	r = mkdir_p(t->fd, dir, 0755);
	if (!r)
		dfd = openat(t->fd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (!r && dfd < 0)
		r = -errno;
	for (i = 0; !r && i < sizeof(files) / sizeof(files[0]); i++)
		r = put_empty(dfd, files[i], 0200);
	if (dfd >= 0)
		close(dfd);
	/* pcieport is built in: no module link */
	if (!r && strcmp(name, "pcieport"))
		r = driver_module(t, dir, name);
	if (!r)
		r = names_add(&t->drivers, name);
	free(dir);
	return r;
}

static int ensure_group(struct tree *t, const char *gdir)
{
	char *devs;
	int dfd, r;

	if (exists(t->fd, gdir))
		return 0;
	devs = xfmt("%s/devices", gdir);
	if (!devs)
		return -ENOMEM;
	r = mkdir_p(t->fd, devs, 0755);
	free(devs);
	if (r)
		return r;
	dfd = openat(t->fd, gdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	r = put_fmt(dfd, "type", 0644, "DMA-FQ\n");
	if (!r)
		r = put_fmt(dfd, "reserved_regions", 0444,
			    "0x00000000fee00000 0x00000000feefffff msi\n");
	close(dfd);
	return r;
}

int dev_locate(struct tree *t, const char *addr, char **dir)
{
	char *lnk = xfmt("bus/pci/devices/%s", addr);
	int r;

	if (!lnk)
		return -ENOMEM;
	r = read_link(t->fd, lnk, dir);
	free(lnk);
	if (r == -ENOENT)
		err_msg("no device %s", addr);
	return r;
}

/* Name of the driver bound to the device in @dir (-ENOENT if none). */
int dev_driver(struct tree *t, const char *dir, char **name)
{
	char *lnk = xfmt("%s/driver", dir), *target = NULL;
	int r;

	if (!lnk)
		return -ENOMEM;
	r = read_link(t->fd, lnk, &target);
	free(lnk);
	if (r)
		return r;
	*name = strdup(base_of(target));
	free(target);
	return *name ? 0 : -ENOMEM;
}

/* Rewrite the device's uevent file with DRIVER=@drv (none if NULL). */
int uevent_set_driver(struct tree *t, const char *dir, const char *drv)
{
	char *path, *text = NULL, *line, *save = NULL, *out;
	size_t len = 0;
	int r;

	path = xfmt("%s/uevent", dir);
	if (!path)
		return -ENOMEM;
	r = read_text(t->fd, path, &text);
	out = r ? NULL : malloc(strlen(text) + (drv ? strlen(drv) : 0) + 16);
	if (!r && !out)
		r = -ENOMEM;
	if (!r && drv)
		len = (size_t)sprintf(out, "DRIVER=%s\n", drv);
	for (line = r ? NULL : strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (!has_prefix(line, "DRIVER="))
			len += (size_t)sprintf(out + len, "%s\n", line);
	if (!r)
		r = put_file(t->fd, path, 0644, out, len);
	free(out);
	free(text);
	free(path);
	return r;
}

int driver_link(struct tree *t, const char *dir, const char *drv)
{
	char *drvdir;
	int r;

	r = ensure_driver(t, drv);
	if (r)
		return r;
	drvdir = xfmt("bus/pci/drivers/%s", drv);
	if (!drvdir)
		return -ENOMEM;
	r = mklink(t, drvdir, "%s/driver", dir);
	if (!r)
		r = mklink(t, dir, "%s/%s", drvdir, base_of(dir));
	free(drvdir);
	return r;
}

/* Remove the driver links of a bound device; -ENOENT if unbound. */
static int driver_unlink(struct tree *t, const char *dir)
{
	char *drv = NULL;
	int r;

	r = dev_driver(t, dir, &drv);
	if (r)
		return r;
	r = unlink_fmt(t, "bus/pci/drivers/%s/%s", drv, base_of(dir));
	if (!r)
		r = unlink_fmt(t, "%s/driver", dir);
	if (!r)
		r = uevent_set_driver(t, dir, NULL);
	free(drv);
	return r;
}

/* ------------------------------------------------------------------ */
/* SR-IOV and bridge bookkeeping                                        */

int keep_virtfn(int fd, const char *dir, const char *name)
{
	(void)fd;
	(void)dir;
	return has_prefix(name, "virtfn") && name[6] &&
	       strspn(name + 6, "0123456789") == strlen(name + 6);
}

/* sriov_numvfs and the SR-IOV capability follow the virtfn links. */
int pf_update_numvfs(struct tree *t, const char *pfdir)
{
	struct names l = { 0 };
	unsigned char num[2], ctl[2] = { 0 };
	char *path;
	size_t n;
	int r;

	r = list_dir(t->fd, pfdir, keep_virtfn, &l);
	n = l.n;
	names_free(&l);
	if (r)
		return r;
	path = xfmt("%s/sriov_numvfs", pfdir);
	if (!path)
		return -ENOMEM;
	r = put_fmt(t->fd, path, 0644, "%zu\n", n);
	free(path);
	num[0] = n & 0xff;
	num[1] = (n >> 8) & 0xff;
	ctl[0] = n ? 0x09 : 0;	/* VF Enable | VF MSE */
	if (!r)
		r = cfg_rw(t->fd, pfdir, 1, 0x110, num, 2);
	if (!r)
		r = cfg_rw(t->fd, pfdir, 1, 0x108, ctl, 2);
	return r;
}

static int vf_inherit_one(struct tree *t, struct fdev *f, size_t i)
{
	char *path, *text = NULL;
	int r;

	path = xfmt("%s/%s", f->pfdir, vf_inherit[i].attr);
	if (!path)
		return -ENOMEM;
	r = read_text(t->fd, path, &text);
	free(path);
	if (r == -ENOENT)
		return 0;
	if (!r)
		r = key_set(f, vf_inherit[i].id, text);
	free(text);
	return r;
}

/* Check the PF of a new VF and take its defaults from it. */
static int vf_prepare(struct tree *t, struct fdev *f)
{
	struct names l = { 0 };
	char *path, *text = NULL;
	long total = 0;
	size_t i;
	int r;

	r = addr_parse(f->physfn, &f->pfa);
	if (r)
		return fail(r, "bad physfn address %s", f->physfn);
	f->physfn = f->pfa.s;
	r = dev_locate(t, f->physfn, &f->pfdir);
	if (r)
		return r;
	path = xfmt("%s/sriov_totalvfs", f->pfdir);
	if (!path)
		return -ENOMEM;
	r = read_text(t->fd, path, &text);
	free(path);
	if (!r)
		r = parse_long(text, 10, &total);
	free(text);
	if (r)
		return fail(-EINVAL, "%s is not an SR-IOV PF", f->physfn);
	r = list_dir(t->fd, f->pfdir, keep_virtfn, &l);
	if (!r && (long)l.n >= total)
		r = -ENOSPC;
	names_free(&l);
	if (r)
		return fail(r, "%s has all its %ld VFs", f->physfn, total);
	for (i = 0; !r && i < sizeof(vf_inherit) / sizeof(vf_inherit[0]); i++)
		if (!is_set(f, vf_inherit[i].id))
			r = vf_inherit_one(t, f, i);
	return r;
}

static int add_vf_links(struct tree *t, const struct fdev *f)
{
	long i = f->vf_index;
	int r;

	if (i < 0)
		for (i = 0; exists_fmt(t, "%s/virtfn%ld", f->pfdir, i); i++)
			;
	r = mklink(t, f->pfdir, "%s/physfn", f->dir);
	if (!r)
		r = mklink(t, f->dir, "%s/virtfn%ld", f->pfdir, i);
	if (!r && !t->batch)
		r = pf_update_numvfs(t, f->pfdir);
	return r;
}

/* Widen a bridge's bus range to cover @bus (@first: its secondary). */
static int bridge_cover(struct tree *t, const char *dir, unsigned int bus,
			int first)
{
	unsigned char c[13];	/* config 0x0e..0x1a */
	char *path;
	int r;

	r = cfg_rw(t->fd, dir, 0, 0x0e, c, sizeof(c));
	if (r || (c[0] & 0x7f) != 1)
		return r;
	if (first && (!c[11] || bus < c[11]))
		c[11] = bus & 0xff;
	if (bus > c[12])
		c[12] = bus & 0xff;
	r = cfg_rw(t->fd, dir, 1, 0x0e, c, sizeof(c));
	path = xfmt("%s/secondary_bus_number", dir);
	if (!r)
		r = path ? put_fmt(t->fd, path, 0444, "%u\n", c[11]) : -ENOMEM;
	free(path);
	path = xfmt("%s/subordinate_bus_number", dir);
	if (!r)
		r = path ? put_fmt(t->fd, path, 0444, "%u\n", c[12]) : -ENOMEM;
	free(path);
	return r;
}

static int bridges_update(struct tree *t, const struct fdev *f)
{
	char *dir = dir_of(f->dir), *up;
	int first = 1, r = 0;

	while (!r && dir && is_addr(base_of(dir))) {
		r = bridge_cover(t, dir, f->a.bus, first);
		first = 0;
		up = dir_of(dir);
		free(dir);
		dir = up;
	}
	if (!r && !dir)
		r = -ENOMEM;
	free(dir);
	return r;
}

/* ------------------------------------------------------------------ */
/* Adding a function                                                    */

static char *modalias_of(const struct fdev *f)
{
	return xfmt("pci:v%08lXd%08lXsv%08lXsd%08lXbc%02lXsc%02lXi%02lX",
		    f->vendor, f->device, f->subvendor, f->subdevice,
		    f->class >> 16, (f->class >> 8) & 0xff, f->class & 0xff);
}

static void attrs_ids(struct attrs *l, const struct fdev *f, const char *ma)
{
	const char *drv = f->driver;

	attr_add(l, "vendor", 0444, "0x%04lx\n", f->vendor);
	attr_add(l, "device", 0444, "0x%04lx\n", f->device);
	attr_add(l, "subsystem_vendor", 0444, "0x%04lx\n", f->subvendor);
	attr_add(l, "subsystem_device", 0444, "0x%04lx\n", f->subdevice);
	attr_add(l, "class", 0444, "0x%06lx\n", f->class);
	attr_add(l, "revision", 0444, "0x%02lx\n", f->revision);
	attr_add(l, "modalias", 0444, "%s\n", ma);
	attr_add(l, "uevent", 0644,
		 "%s%s%sPCI_CLASS=%04lX\nPCI_ID=%04lX:%04lX\n"
		 "PCI_SUBSYS_ID=%04lX:%04lX\nPCI_SLOT_NAME=%s\nMODALIAS=%s\n",
		 drv ? "DRIVER=" : "", drv ? drv : "", drv ? "\n" : "",
		 f->class, f->vendor, f->device, f->subvendor, f->subdevice,
		 f->a.s, ma);
}

static void attrs_misc(struct attrs *l, const struct fdev *f)
{
	attr_add(l, "driver_override", 0644, "%s\n",
		 f->override ? f->override : "(null)");
	attr_add(l, "numa_node", 0644, "%ld\n", f->numa);
	if (f->boot_vga >= 0)
		attr_add(l, "boot_vga", 0444, "%ld\n", f->boot_vga);
	if (f->reset) {
		attr_add(l, "reset_method", 0644, "%s\n", f->reset);
		attr_add(l, "reset", 0200, "%s", "");
	}
	if (!f->physfn) {	/* VFs have no hotplug attributes */
		attr_add(l, "remove", 0220, "%s", "");
		attr_add(l, "rescan", 0200, "%s", "");
	}
	if (f->header) {
		attr_add(l, "secondary_bus_number", 0444, "%u\n", f->secbus);
		attr_add(l, "subordinate_bus_number", 0444, "%u\n", f->subbus);
	}
}

static void attrs_pcie(struct attrs *l, const struct fdev *f)
{
	if (!f->pcie)
		return;
	attr_add(l, "current_link_speed", 0444, "%s\n", speeds[f->speed]);
	attr_add(l, "current_link_width", 0444, "%ld\n", f->width);
	attr_add(l, "max_link_speed", 0444, "%s\n", speeds[f->maxspeed]);
	attr_add(l, "max_link_width", 0444, "%ld\n", f->maxwidth);
}

static void attrs_sriov(struct attrs *l, const struct fdev *f)
{
	if (f->physfn)
		attr_add(l, "sriov_vf_msix_count", 0200, "%s", "");
	if (!f->totalvfs)
		return;
	attr_add(l, "sriov_totalvfs", 0444, "%ld\n", f->totalvfs);
	attr_add(l, "sriov_numvfs", 0644, "0\n");
	attr_add(l, "sriov_drivers_autoprobe", 0644, "1\n");
	attr_add(l, "sriov_offset", 0444, "1\n");
	attr_add(l, "sriov_stride", 0444, "1\n");
	attr_add(l, "sriov_vf_device", 0444, "%lx\n", f->vfdevice);
	attr_add(l, "sriov_vf_total_msix", 0444, "0\n");
}

static int write_attrs(const struct fdev *f, int dfd)
{
	struct attrs l = { .n = 0 };
	char *ma = modalias_of(f);

	if (!ma)
		return -ENOMEM;
	attrs_ids(&l, f, ma);
	attrs_misc(&l, f);
	attrs_pcie(&l, f);
	attrs_sriov(&l, f);
	free(ma);
	return attrs_write(dfd, &l);
}

/* The IOMMU unit's directory, from the class/iommu/UNIT link. */
static int unit_dir(struct tree *t, const struct fdev *f, char **dir)
{
	const char *unit = f->iommu ? f->iommu : tree_unit(t);
	char *lnk;
	int r;

	*dir = NULL;
	if (!unit)
		return 0;
	if (!f->iommu && t->unitdir) {
		*dir = strdup(t->unitdir);
		return *dir ? 0 : -ENOMEM;
	}
	lnk = xfmt("class/iommu/%s", unit);
	if (!lnk)
		return -ENOMEM;
	r = read_link(t->fd, lnk, dir);
	free(lnk);
	if (r)
		err_msg("no IOMMU unit %s", unit);
	if (!r && !f->iommu)
		t->unitdir = strdup(*dir);
	return r;
}

static int add_group(struct tree *t, const struct fdev *f)
{
	char *g, *u = NULL;
	int r;

	g = xfmt("kernel/iommu_groups/%ld", f->group);
	if (!g)
		return -ENOMEM;
	r = ensure_group(t, g);
	if (!r)
		r = mklink(t, g, "%s/iommu_group", f->dir);
	if (!r)
		r = mklink(t, f->dir, "%s/devices/%s", g, f->a.s);
	if (!r)
		r = unit_dir(t, f, &u);
	if (!r && u)
		r = mklink(t, u, "%s/iommu", f->dir);
	if (!r && u)
		r = mklink(t, f->dir, "%s/devices/%s", u, f->a.s);
	free(u);
	free(g);
	return r;
}

static int parent_is_bridge(struct tree *t, const char *dir)
{
	unsigned char hdr = 0;

	return !cfg_rw(t->fd, dir, 0, 0x0e, &hdr, 1) && (hdr & 0x7f) == 1;
}

/* Directory the new function goes into. */
static int parent_dir(struct tree *t, struct fdev *f, char **pdir)
{
	int r;

	if (f->parent) {
		r = addr_parse(f->parent, &f->pa);
		if (r)
			return fail(r, "bad parent address %s", f->parent);
		f->parent = f->pa.s;
		r = dev_locate(t, f->parent, pdir);
		if (!r && !parent_is_bridge(t, *pdir))
			return fail(-EINVAL, "%s is not a bridge", f->parent);
		return r;
	}
	if (f->physfn)
		*pdir = dir_of(f->pfdir);
	else
		*pdir = xfmt("devices/pci%04x:%02x", f->a.dom, f->a.bus);
	if (!*pdir)
		return -ENOMEM;
	return f->physfn ? 0 : mkdir_p(t->fd, *pdir, 0755);
}

/* Checks and defaults; gen presets pdir and pfdir to skip lookups. */
static int add_prepare(struct tree *t, struct fdev *f)
{
	int r = 0;

	if (exists_fmt(t, "bus/pci/devices/%s", f->a.s))
		return fail(-EEXIST, "%s exists already", f->a.s);
	if (f->physfn && !f->pfdir)
		r = vf_prepare(t, f);
	if (!r)
		r = fdev_finish(f);
	if (!r && !f->pdir)
		r = parent_dir(t, f, &f->pdir);
	if (!r) {
		f->dir = xfmt("%s/%s", f->pdir, f->a.s);
		r = f->dir ? 0 : -ENOMEM;
	}
	return r;
}

static int unlink_all(struct tree *t, const char *dir);

/*
 * The "rom" attribute with the bytes of the file f->rom, root-only as in the kernel
 * (pci_dev_rom_attr: 0600). tests/fakekernel gives it the kernel's semantics.
 */
static int write_rom(const struct fdev *f, int dfd)
{
	char buf[65536];
	ssize_t n;
	int in, out, r = 0;

	in = open(f->rom, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return fail(-errno, "rom=%s: %s", f->rom, strerror(errno));
	out = openat(dfd, "rom", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		r = -errno;
	while (!r && (n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		r = n < 0 ? -errno : write_all(out, buf, (size_t)n);
	}
	if (out >= 0 && close(out) < 0 && !r)
		r = -errno;
	close(in);
	return r;
}

static int add_tree(struct tree *t, struct fdev *f, int dfd)
{
	int r;

	r = write_attrs(f, dfd);
	if (!r && f->rom)
		r = write_rom(f, dfd);
	if (!r)
		r = write_config(t, f, dfd);
	if (!r)
		r = mklink(t, "bus/pci", "%s/subsystem", f->dir);
	if (!r)
		r = mklink(t, f->dir, "bus/pci/devices/%s", f->a.s);
	if (!r && f->group >= 0)
		r = add_group(t, f);
	if (!r && f->physfn)
		r = add_vf_links(t, f);
	if (!r && !t->batch)
		r = bridges_update(t, f);
	if (!r && f->driver)
		r = driver_link(t, f->dir, f->driver);
	return r;
}

/* Create the function @f; f->dir holds its directory afterwards. */
int dev_add(struct tree *t, struct fdev *f)
{
	int dfd, r;

	r = add_prepare(t, f);
	if (r)
		return r;
	if (mkdirat(t->fd, f->dir, 0755) < 0)
		return -errno;
	dfd = openat(t->fd, f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		r = -errno;
	else
		r = add_tree(t, f, dfd);
	if (dfd >= 0)
		close(dfd);
	if (r)
		unlink_all(t, f->dir);
	return r;
}

/* Attributes that give "add" out back, as dev_describe() reads them. */
static const struct {
	const char *key, *attr;
} described[] = {
	{ "vendor", "vendor" },
	{ "device", "device" },
	{ "subvendor", "subsystem_vendor" },
	{ "subdevice", "subsystem_device" },
	{ "class", "class" },
	{ "revision", "revision" },
	{ "numa", "numa_node" },
	{ "boot_vga", "boot_vga" },
	{ "totalvfs", "sriov_totalvfs" },
	{ "vfdevice", "sriov_vf_device" },
	{ "speed", "current_link_speed" },
	{ "width", "current_link_width" },
	{ "maxspeed", "max_link_speed" },
	{ "maxwidth", "max_link_width" },
	{ "reset", "reset_method" },
};

static int describe_attr(struct tree *t, const char *dir, size_t i, struct names *out)
{
	char *path, *text = NULL, *kv;
	int r;

	path = xfmt("%s/%s", dir, described[i].attr);
	if (!path)
		return -ENOMEM;
	r = read_text(t->fd, path, &text);
	free(path);
	if (r)
		return r == -ENOENT ? 0 : r;
	text[strcspn(text, "\n")] = '\0';
	kv = xfmt("%s=%s", described[i].key, text);
	free(text);
	r = kv ? names_add(out, kv) : -ENOMEM;
	free(kv);
	return r;
}

/* "KEY=" and the base name of the link @dir/@lnk, if there is one. */
static int describe_link(struct tree *t, const char *dir, const char *lnk, const char *key,
			 struct names *out)
{
	char *path, *target = NULL, *kv;
	int r;

	path = xfmt("%s/%s", dir, lnk);
	if (!path)
		return -ENOMEM;
	r = read_link(t->fd, path, &target);
	free(path);
	if (r)
		return r == -ENOENT ? 0 : r;
	kv = xfmt("%s=%s", key, base_of(target));
	free(target);
	r = kv ? names_add(out, kv) : -ENOMEM;
	free(kv);
	return r;
}

/*
 * The "add" out that create the function in @dir again as a rescan finds
 * it: ids, class, header, link, SR-IOV capability, IOMMU group and unit,
 * parent bridge.  Not its driver, driver_override or VFs: a new pci_dev
 * has none of them.  Nor its rom: its bytes are not a key.
 */
int dev_describe(struct tree *t, const char *dir, struct names *out)
{
	unsigned char hdr = 0;
	char *pdir, *kv;
	size_t i;
	int r = 0;

	for (i = 0; !r && i < sizeof(described) / sizeof(described[0]); i++)
		r = describe_attr(t, dir, i, out);
	if (!r)
		r = cfg_rw(t->fd, dir, 0, 0x0e, &hdr, 1);
	if (!r) {
		kv = xfmt("header=%d", (hdr & 0x7f) == 1);
		r = kv ? names_add(out, kv) : -ENOMEM;
		free(kv);
	}
	if (!r)
		r = names_add(out, hdr & 0x80 ? "mf=1" : "mf=0");
	if (!r && !exists_fmt(t, "%s/current_link_speed", dir))
		r = names_add(out, "pcie=0");
	if (!r)
		r = describe_link(t, dir, "iommu_group", "group", out);
	if (!r)
		r = describe_link(t, dir, "iommu", "iommu", out);
	if (!r)
		r = describe_link(t, dir, "physfn", "physfn", out);
	pdir = r ? NULL : dir_of(dir);
	if (!r && !pdir)
		r = -ENOMEM;
	if (!r && is_addr(base_of(pdir))) {
		kv = xfmt("parent=%s", base_of(pdir));
		r = kv ? names_add(out, kv) : -ENOMEM;
		free(kv);
	}
	free(pdir);
	return r;
}

/* ------------------------------------------------------------------ */
/* Removing functions                                                   */

static int unlink_group(struct tree *t, const char *dir)
{
	char *lnk = xfmt("%s/iommu_group", dir), *g = NULL, *devs = NULL;
	int r;

	if (!lnk)
		return -ENOMEM;
	r = read_link(t->fd, lnk, &g);
	free(lnk);
	if (r)
		return r == -ENOENT ? 0 : r;
	r = unlink_fmt(t, "%s/devices/%s", g, base_of(dir));
	devs = r ? NULL : xfmt("%s/devices", g);
	/* the kernel frees a group with its last device */
	if (devs && !unlinkat(t->fd, devs, AT_REMOVEDIR))
		r = rm_rf(t->fd, g);
	free(devs);
	free(g);
	return r;
}

static int unlink_unit(struct tree *t, const char *dir)
{
	char *lnk = xfmt("%s/iommu", dir), *u = NULL;
	int r;

	if (!lnk)
		return -ENOMEM;
	r = read_link(t->fd, lnk, &u);
	free(lnk);
	if (r)
		return r == -ENOENT ? 0 : r;
	r = unlink_fmt(t, "%s/devices/%s", u, base_of(dir));
	free(u);
	return r;
}

/* Drop the PF's virtfn link to the VF in @dir. */
static int unlink_virtfn(struct tree *t, const char *dir)
{
	struct names l = { 0 };
	char *lnk = xfmt("%s/physfn", dir), *pf = NULL, *vf, *p;
	size_t i;
	int r;

	if (!lnk)
		return -ENOMEM;
	r = read_link(t->fd, lnk, &pf);
	free(lnk);
	if (r)
		return r == -ENOENT ? 0 : r;
	r = list_dir(t->fd, pf, keep_virtfn, &l);
	for (i = 0; !r && i < l.n; i++) {
		p = xfmt("%s/%s", pf, l.v[i]);
		vf = NULL;
		if (p && !read_link(t->fd, p, &vf) && !strcmp(vf, dir))
			r = unlinkat(t->fd, p, 0) < 0 ? -errno : 0;
		free(vf);
		free(p);
	}
	names_free(&l);
	if (!r)
		r = pf_update_numvfs(t, pf);
	free(pf);
	return r;
}

/* Remove every trace of the function in @dir (no uevents). */
static int unlink_all(struct tree *t, const char *dir)
{
	int r, e;

	r = driver_unlink(t, dir);
	if (r == -ENOENT)
		r = 0;
	e = unlink_group(t, dir);
	r = r ? r : e;
	e = unlink_unit(t, dir);
	r = r ? r : e;
	e = unlink_virtfn(t, dir);
	r = r ? r : e;
	e = unlink_fmt(t, "bus/pci/devices/%s", base_of(dir));
	r = r ? r : e;
	e = rm_rf(t->fd, dir);
	return r ? r : e;
}

/* Sub-device directories; VFs are left to their PF. */
static int keep_child(int fd, const char *dir, const char *name)
{
	char *p;
	int r;

	if (!is_addr(name))
		return 0;
	p = xfmt("%s/%s/physfn", dir, name);
	r = p && !exists(fd, p);
	free(p);
	return r;
}

/*
 * Unbind: the driver's remove() (t->unbind_hook), then the links go and
 * "unbind" is sent, as the kernel sends it after the driver left.
 */
int dev_unbind(struct tree *t, const char *dir)
{
	char *drv = NULL;
	int r;

	r = dev_driver(t, dir, &drv);
	if (r == -ENOENT)
		return 0;
	if (!r && t->unbind_hook)
		r = t->unbind_hook(t, dir, drv);
	free(drv);
	if (!r)
		r = driver_unlink(t, dir);
	return r ? r : ue_emit(t, "unbind", dir);
}


/* Remove the PF's VFs, as its driver does when it disables SR-IOV. */
int remove_vfs(struct tree *t, const char *dir)
{
	struct names l = { 0 };
	char *p, *vf;
	size_t i;
	int r;

	r = list_dir(t->fd, dir, keep_virtfn, &l);
	for (i = 0; !r && i < l.n; i++) {
		p = xfmt("%s/%s", dir, l.v[i]);
		vf = NULL;
		r = p ? read_link(t->fd, p, &vf) : -ENOMEM;
		if (!r)
			r = dev_stop(t, vf);
		if (!r)
			r = dev_destroy(t, vf);
		free(vf);
		free(p);
	}
	names_free(&l);
	return r;
}

/* Kernel's pci_stop_bus_device(): children (reverse), VFs, own driver. */
int dev_stop(struct tree *t, const char *dir)
{
	struct names l = { 0 };
	char *sub;
	size_t i;
	int r;

	r = list_dir(t->fd, dir, keep_child, &l);
	for (i = l.n; !r && i-- > 0; ) {
		sub = xfmt("%s/%s", dir, l.v[i]);
		r = sub ? dev_stop(t, sub) : -ENOMEM;
		free(sub);
	}
	names_free(&l);
	if (!r)
		r = remove_vfs(t, dir);
	if (!r)
		r = dev_unbind(t, dir);
	return r;
}

/* Kernel's pci_remove_bus_device(): children first, then "remove". */
int dev_destroy(struct tree *t, const char *dir)
{
	struct names l = { 0 };
	struct props p = { 0 };
	char *sub;
	size_t i;
	int r;

	r = list_dir(t->fd, dir, keep_child, &l);
	for (i = 0; !r && i < l.n; i++) {
		sub = xfmt("%s/%s", dir, l.v[i]);
		r = sub ? dev_destroy(t, sub) : -ENOMEM;
		free(sub);
	}
	names_free(&l);
	if (!r && t->send)
		r = ue_build(t, "remove", dir, &p);
	if (!r)
		r = unlink_all(t, dir);
	if (!r && t->send)
		r = nl_send(t, &p);
	free(p.buf);
	return r;
}

/* ------------------------------------------------------------------ */
/* init                                                                 */

int init_base(struct tree *t)
{
	static const char *const dirs[] = {
		"devices/virtual", "bus/pci/devices", "bus/pci/drivers",
		"bus/pci/slots", "kernel/iommu_groups", "kernel/security",
		"class/iommu", "module",
	};
	size_t i;
	int r = 0;

	for (i = 0; !r && i < sizeof(dirs) / sizeof(dirs[0]); i++)
		r = mkdir_p(t->fd, dirs[i], 0755);
	if (!r)
		r = put_fmt(t->fd, "bus/pci/drivers_autoprobe", 0644, "1\n");
	if (!r)
		r = put_fmt(t->fd, "bus/pci/resource_alignment", 0644, "%s", "");
	if (!r)
		r = put_fmt(t->fd, "bus/pci/drivers_probe", 0200, "%s", "");
	if (!r)
		r = put_fmt(t->fd, "bus/pci/rescan", 0200, "%s", "");
	if (!r)
		r = put_fmt(t->fd, "bus/pci/uevent", 0200, "%s", "");
	if (!r && !exists(t->fd, SEQNUM_FILE))
		r = put_fmt(t->fd, SEQNUM_FILE, 0644, "0\n");
	return r;
}

/* Attributes of an Intel VT-d unit as a q35 guest shows them. */
static int unit_intel(struct tree *t, const char *dir)
{
	char *p = xfmt("%s/intel-iommu", dir);
	struct attrs l = { .n = 0 };
	int dfd, r;

	r = p ? mkdir_p(t->fd, p, 0755) : -ENOMEM;
	dfd = r ? -1 : openat(t->fd, p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(p);
	if (dfd < 0)
		return r ? r : -errno;
	attr_add(&l, "version", 0444, "1:0\n");
	attr_add(&l, "address", 0444, "fed90000\n");
	attr_add(&l, "cap", 0444, "d2008c22260206\n");
	attr_add(&l, "ecap", 0444, "f00f5e\n");
	attr_add(&l, "domains_supported", 0444, "65536\n");
	attr_add(&l, "domains_used", 0444, "1\n");
	r = attrs_write(dfd, &l);
	close(dfd);
	return r;
}

int init_unit(struct tree *t, const char *unit)
{
	char *dir, *p;
	int r;

	if (!valid_name(unit))
		return fail(-EINVAL, "bad IOMMU unit name '%s'", unit);
	dir = xfmt("devices/virtual/iommu/%s", unit);
	p = dir ? xfmt("%s/devices", dir) : NULL;
	r = p ? mkdir_p(t->fd, p, 0755) : -ENOMEM;
	free(p);
	p = dir ? xfmt("%s/uevent", dir) : NULL;
	if (!r)
		r = p ? put_fmt(t->fd, p, 0644, "%s", "") : -ENOMEM;
	free(p);
	if (!r)
		r = mklink(t, "class/iommu", "%s/subsystem", dir);
	if (!r)
		r = mklink(t, dir, "class/iommu/%s", unit);
	if (!r && has_prefix(unit, "dmar"))
		r = unit_intel(t, dir);
	free(dir);
	return r;
}

int init_lockdown(struct tree *t, const char *mode)
{
	static const char *const modes[] = {
		"none", "integrity", "confidentiality",
	};
	static const char *const texts[] = {
		"[none] integrity confidentiality\n",
		"none [integrity] confidentiality\n",
		"none integrity [confidentiality]\n",
	};
	size_t i;

	if (!strcmp(mode, "absent"))
		return unlink_fmt(t, "kernel/security/lockdown");
	for (i = 0; i < 3; i++)
		if (!strcmp(mode, modes[i]))
			return put_fmt(t->fd, "kernel/security/lockdown",
				       0644, "%s", texts[i]);
	err_msg("bad lockdown mode '%s'", mode);
	return -EINVAL;
}

int init_noiommu(struct tree *t, const char *val)
{
	int r;

	if (strcmp(val, "Y") && strcmp(val, "N"))
		return fail(-EINVAL, "--noiommu takes Y or N");
	r = mkdir_p(t->fd, "module/vfio/parameters", 0755);
	if (!r)
		r = put_fmt(t->fd,
			    "module/vfio/parameters/enable_unsafe_noiommu_mode",
			    0644, "%s\n", val);
	return r;
}


int keep_number(int fd, const char *dir, const char *name)
{
	(void)fd;
	(void)dir;
	return strspn(name, "0123456789") == strlen(name);
}

/* First IOMMU group number not in use. */
int next_group(struct tree *t, long *group)
{
	struct names l = { 0 };
	size_t i;
	long v;
	int r;

	*group = 0;
	r = list_dir(t->fd, "kernel/iommu_groups", keep_number, &l);
	for (i = 0; !r && i < l.n; i++)
		if (!parse_long(l.v[i], 10, &v) && v >= *group)
			*group = v + 1;
	names_free(&l);
	return r;
}

/* gen fills buses >= --start-bus of domains 0, 1, ...: keep them free. */
/* ------------------------------------------------------------------ */
/* ROOT and main                                                        */

/* Refuse "/" (for ROOT itself) and anything in sysfs or procfs. */
static int root_safe(const char *path, int is_root)
{
	struct statfs sf;
	char *real;
	int r = 0;

	real = realpath(path, NULL);
	if (!real)
		return -errno;
	if ((is_root && !strcmp(real, "/")) || path_under(real, "/sys") ||
	    path_under(real, "/proc"))
		r = -EPERM;
	else if (!statfs(real, &sf) && (sf.f_type == SYSFS_MAGIC ||
					 sf.f_type == PROC_SUPER_MAGIC))
		r = -EPERM;
	free(real);
	return r;
}

static char *parent_of(const char *path)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n > 0 && path[n - 1] != '/')
		n--;
	while (n > 1 && path[n - 1] == '/')
		n--;
	return n ? strndup(path, n) : strdup(".");
}

/* mkdir -p ROOT, after checking the deepest existing ancestor. */
static int root_create(const char *root)
{
	char *p = strdup(root), *up;
	int r;

	while (p && (r = root_safe(p, 0)) == -ENOENT) {
		up = parent_of(p);
		free(p);
		p = up;
	}
	if (!p)
		return -ENOMEM;
	free(p);
	return r ? r : mkdir_p(AT_FDCWD, root, 0755);
}

int tree_open(struct tree *t, const char *root, int create)
{
	int r = 0;

	if (create)
		r = root_create(root);
	if (!r)
		r = root_safe(root, 1);
	if (r == -EPERM)
		return fail(r, "refusing ROOT %s (/, /sys or /proc)", root);
	if (r)
		return fail(r, "ROOT %s: %s", root, strerror(-r));
	t->fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->fd < 0)
		return err_msg("ROOT %s: %m", root), -errno;
	return 0;
}

void tree_close(struct tree *t)
{
	if (t->fd >= 0)
		close(t->fd);
	if (t->nl >= 0)
		close(t->nl);
	free(t->unit);
	free(t->unitdir);
	names_free(&t->drivers);
}

