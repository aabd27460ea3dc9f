/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for the device model: sysfs access (daemon/sysfs), one PCI function's record
 * (daemon/pcidev), the model of every function and IOMMU group (daemon/model), the host facts
 * (daemon/host) and the parsers under them (lib/util).
 *
 * Two kinds of tree: the real-kernel snapshots of tests/fixtures, extracted into a temporary
 * directory and checked against their facts files (what the live kernel said), and synthetic
 * trees built here, laid out as the kernel lays out /sys, for the odd values no snapshot has.
 */
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>

#include <json-c/json.h>
#include <linux/pci_regs.h>

#include "daemon/host.h"
#include "daemon/model.h"
#include "daemon/pcidev.h"
#include "daemon/sysfs.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/util.h"
#include "tests.h"

/* --- temporary directories ----------------------------------------------------------------- */

/* Directories to remove even when an assertion aborts the test. */
static char tmpdirs[4][PATH_MAX];

/* Async-signal-safe: also called from the SIGABRT handler. */
static void rm_rf(const char *path)
{
	char *const argv[] = { (char *)"rm", (char *)"-rf", (char *)"--", (char *)path, NULL };
	pid_t pid = fork();

	if (pid == 0) {
		execve("/bin/rm", argv, environ);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
}

static void on_abort(int sig)
{
	for (size_t i = 0; i < ELEMENTSOF(tmpdirs); i++)
		if (tmpdirs[i][0])
			rm_rf(tmpdirs[i]);
}

static void tmpdir_new(char path[static PATH_MAX])
{
	struct sigaction sa = { .sa_handler = on_abort };
	size_t i;

	for (i = 0; i < ELEMENTSOF(tmpdirs) && tmpdirs[i][0]; i++)
		;
	ASSERT_TRUE(i < ELEMENTSOF(tmpdirs));
	strcpy(path, "/tmp/test-pcidev-XXXXXX");
	ASSERT_NOT_NULL(mkdtemp(path));
	strcpy(tmpdirs[i], path);
	ASSERT_OK(sigaction(SIGABRT, &sa, NULL));
}

static void tmpdir_remove(const char *path)
{
	for (size_t i = 0; i < ELEMENTSOF(tmpdirs); i++)
		if (streq(tmpdirs[i], path)) {
			rm_rf(path);
			tmpdirs[i][0] = '\0';
		}
}

static void run_cmd(const char *const *argv)
{
	int status = 0;
	pid_t pid = fork();

	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		ASSERT_EQ(errno, EINTR);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		TEST_FAIL("%s failed (wait status %d)", argv[0], status);
}

/* --- synthetic sysfs trees ---------------------------------------------------------------- */

#define PATH_BUF 512

static _printf_(2, 3) char *pathf(char buf[static PATH_BUF], const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, PATH_BUF, fmt, ap);
	va_end(ap);
	ASSERT_TRUE(n > 0 && n < PATH_BUF);
	return buf;
}

struct tree {
	char path[PATH_MAX];
	int fd;
	struct sysfs *sysfs;
};

static void tree_done(struct tree *t)
{
	sysfs_free(t->sysfs);
	t->sysfs = NULL;
	t->fd = safe_close(t->fd);
	if (t->path[0])
		tmpdir_remove(t->path);
	t->path[0] = '\0';
}
#define _cleanup_tree_ _cleanup_(tree_done)

/* An empty tree, opened read-only as the daemon's --read-only mode does. */
static void tree_new(struct tree *t)
{
	tmpdir_new(t->path);
	t->fd = open(t->path, O_DIRECTORY | O_PATH | O_CLOEXEC);
	ASSERT_TRUE(t->fd >= 0);
	ASSERT_OK(sysfs_open(t->path, true, &t->sysfs));
}

static void mkdir_p(int root, const char *path)
{
	char p[PATH_BUF];

	ASSERT_TRUE(strlen(path) < sizeof(p));
	strcpy(p, path);
	for (char *s = p;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		{
			char c = *s;

			*s = '\0';
			if (mkdirat(root, p, 0755) < 0 && errno != EEXIST)
				TEST_FAIL("mkdir %s: %s", p, strerror(errno));
			*s = c;
		}
		if (!*s)
			break;
	}
}

static void mkdir_parent(int root, const char *path)
{
	char p[PATH_BUF];
	char *slash;

	ASSERT_TRUE(strlen(path) < sizeof(p));
	strcpy(p, path);
	slash = strrchr(p, '/');
	if (slash) {
		*slash = '\0';
		mkdir_p(root, p);
	}
}

static void write_file(int root, const char *path, const void *data, size_t n)
{
	_cleanup_close_ int fd = -EBADF;

	mkdir_parent(root, path);
	fd = openat(root, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		TEST_FAIL("create %s: %s", path, strerror(errno));
	ASSERT_EQ(write(fd, data, n), (ssize_t)n);
}

static void write_str(int root, const char *path, const char *s)
{
	write_file(root, path, s, strlen(s));
}

static void remove_at(int root, const char *path)
{
	if (unlinkat(root, path, 0) < 0 && errno != ENOENT)
		TEST_FAIL("unlink %s: %s", path, strerror(errno));
}

/* Makes link point at target (a path from the root) with a relative target, as sysfs does. */
static void symlink_rel(int root, const char *link_path, const char *target)
{
	char rel[PATH_BUF] = "";

	for (const char *s = strchr(link_path, '/'); s; s = strchr(s + 1, '/'))
		strcat(rel, "../");
	ASSERT_TRUE(strlen(rel) + strlen(target) < sizeof(rel));
	strcat(rel, target);
	mkdir_parent(root, link_path);
	remove_at(root, link_path);
	if (symlinkat(rel, root, link_path) < 0)
		TEST_FAIL("symlink %s: %s", link_path, strerror(errno));
}

/* "devices/pciDDDD:00/ADDR[/name]": every synthetic function sits on its domain's root bus. */
static char *dev_path(char buf[static PATH_BUF], const char *addr, const char *name)
{
	int dom = (int)(strchr(addr, ':') - addr);

	if (name)
		return pathf(buf, "devices/pci%.*s:00/%s/%s", dom, addr, addr, name);
	return pathf(buf, "devices/pci%.*s:00/%s", dom, addr, addr);
}

/* Writes (or, value NULL, removes) one attribute of a function. */
static void fake_attr(const struct tree *t, const char *addr, const char *name, const char *value)
{
	char p[PATH_BUF];

	dev_path(p, addr, name);
	if (value)
		write_str(t->fd, p, value);
	else
		remove_at(t->fd, p);
}

static _printf_(4, 5) void fake_attrf(const struct tree *t, const char *addr, const char *name,
				      const char *fmt, ...)
{
	char v[PATH_BUF];
	va_list ap;

	va_start(ap, fmt);
	ASSERT_TRUE(vsnprintf(v, sizeof(v), fmt, ap) < (int)sizeof(v));
	va_end(ap);
	fake_attr(t, addr, name, v);
}

/* Replaces an attribute by a directory of that name: it exists, but read() fails (EISDIR). */
static void fake_attr_unreadable(const struct tree *t, const char *addr, const char *name)
{
	char p[PATH_BUF];

	fake_attr(t, addr, name, NULL);
	mkdir_p(t->fd, dev_path(p, addr, name));
}

/* The first bytes of config space, header type byte at 0x0e. */
/* Config space of n bytes with that header type; the ids of the config already there (of
 * fake_dev()), else 1b36:0010. */
static void fake_config(const struct tree *t, const char *addr, size_t n, uint8_t header)
{
	uint8_t cfg[4096] = { 0x36, 0x1b, 0x10, 0x00 };
	char p[PATH_BUF];
	int fd;

	ASSERT_TRUE(n <= sizeof(cfg));
	fd = openat(t->fd, dev_path(p, addr, "config"), O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ASSERT_TRUE(read(fd, cfg, 64) >= 0);
		close(fd);
	}
	cfg[0x0e] = header;
	write_file(t->fd, dev_path(p, addr, "config"), cfg, n);
}

/* Config space that says what the attributes of fake_dev() say: a type 0 header, revision
 * 0x02, subsystem 1af4:1100. */
static void fake_config_ids(const struct tree *t, const char *addr, uint32_t vendor,
			    uint32_t device, uint32_t class)
{
	uint8_t cfg[256] = {
		[0x00] = vendor & 0xff, [0x01] = vendor >> 8, [0x02] = device & 0xff,
		[0x03] = device >> 8, [0x08] = 0x02, [0x09] = class & 0xff,
		[0x0a] = (class >> 8) & 0xff, [0x0b] = class >> 16,
		[0x2c] = 0xf4, [0x2d] = 0x1a, [0x2e] = 0x00, [0x2f] = 0x11,
	};
	char p[PATH_BUF];

	/* 64 bytes, what an unprivileged read gets: the link is the attributes'. */
	write_file(t->fd, dev_path(p, addr, "config"), cfg, 64);
}

/* Config space of 256 bytes (a privileged read) whose capability list has, at 0x40 after a
 * power management capability at 0x50, a PCI Express capability of that version and device
 * type with those link registers. */
static void fake_config_pcie(const struct tree *t, const char *addr, unsigned version,
			     unsigned type, uint32_t lnkcap, uint16_t lnksta, uint32_t lnkcap2)
{
	uint8_t cfg[4096] = { 0 };
	char p[PATH_BUF];
	int fd = openat(t->fd, dev_path(p, addr, "config"), O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;

	if (fd >= 0) {
		n = read(fd, cfg, sizeof(cfg));
		close(fd);
	}
	ASSERT_TRUE(n >= 0);
	memset(cfg + 64, 0, sizeof(cfg) - 64);
	cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	cfg[PCI_CAPABILITY_LIST] = 0x50;
	cfg[0x50] = PCI_CAP_ID_PM;
	cfg[0x51] = 0x40;
	cfg[0x40] = PCI_CAP_ID_EXP;
	cfg[0x40 + PCI_EXP_FLAGS] = (uint8_t)(version | type << 4);
	for (int i = 0; i < 4; i++) {
		cfg[0x40 + PCI_EXP_LNKCAP + i] = (uint8_t)(lnkcap >> (8 * i));
		cfg[0x40 + PCI_EXP_LNKCAP2 + i] = (uint8_t)(lnkcap2 >> (8 * i));
	}
	cfg[0x40 + PCI_EXP_LNKSTA] = (uint8_t)lnksta;
	cfg[0x40 + PCI_EXP_LNKSTA + 1] = (uint8_t)(lnksta >> 8);
	write_file(t->fd, dev_path(p, addr, "config"), cfg, (size_t)MAX(n, 256));
}

/* A PCIe endpoint with every attribute a 6.x kernel shows, bound to nothing, in no group. */
static void fake_dev(const struct tree *t, const char *addr, uint32_t vendor, uint32_t device,
		     uint32_t class)
{
	char p[PATH_BUF], target[PATH_BUF];

	fake_attrf(t, addr, "vendor", "0x%04x\n", vendor);
	fake_attrf(t, addr, "device", "0x%04x\n", device);
	fake_attrf(t, addr, "class", "0x%06x\n", class);
	fake_attr(t, addr, "subsystem_vendor", "0x1af4\n");
	fake_attr(t, addr, "subsystem_device", "0x1100\n");
	fake_attr(t, addr, "revision", "0x02\n");
	fake_attr(t, addr, "numa_node", "-1\n");
	fake_attr(t, addr, "driver_override", "(null)\n");
	fake_attr(t, addr, "current_link_speed", "8.0 GT/s PCIe\n");
	fake_attr(t, addr, "current_link_width", "4\n");
	fake_attr(t, addr, "max_link_speed", "16.0 GT/s PCIe\n");
	fake_attr(t, addr, "max_link_width", "8\n");
	fake_attr(t, addr, "reset_method", "flr bus\n");
	fake_config_ids(t, addr, vendor, device, class);
	symlink_rel(t->fd, pathf(p, "bus/pci/devices/%s", addr), dev_path(target, addr, NULL));
}

static void fake_bind(const struct tree *t, const char *addr, const char *driver)
{
	char p[PATH_BUF], target[PATH_BUF];

	mkdir_p(t->fd, pathf(p, "bus/pci/drivers/%s", driver));
	symlink_rel(t->fd, dev_path(p, addr, "driver"),
		    pathf(target, "bus/pci/drivers/%s", driver));
	symlink_rel(t->fd, pathf(p, "bus/pci/drivers/%s/%s", driver, addr),
		    dev_path(target, addr, NULL));
}

static void fake_unbind(const struct tree *t, const char *addr, const char *driver)
{
	char p[PATH_BUF];

	remove_at(t->fd, dev_path(p, addr, "driver"));
	remove_at(t->fd, pathf(p, "bus/pci/drivers/%s/%s", driver, addr));
}

static void fake_group(const struct tree *t, const char *addr, unsigned group)
{
	char p[PATH_BUF], target[PATH_BUF];

	write_str(t->fd, pathf(p, "kernel/iommu_groups/%u/type", group), "DMA\n");
	symlink_rel(t->fd, pathf(p, "kernel/iommu_groups/%u/devices/%s", group, addr),
		    dev_path(target, addr, NULL));
	symlink_rel(t->fd, dev_path(p, addr, "iommu_group"),
		    pathf(target, "kernel/iommu_groups/%u", group));
}

/* What hot-unplug leaves: no device directory, no bus link, no group membership. */
static void fake_remove(const struct tree *t, const char *addr, int group)
{
	char p[PATH_BUF], full[PATH_BUF];

	rm_rf(pathf(full, "%s/%s", t->path, dev_path(p, addr, NULL)));
	remove_at(t->fd, pathf(p, "bus/pci/devices/%s", addr));
	if (group >= 0)
		remove_at(t->fd, pathf(p, "kernel/iommu_groups/%d/devices/%s", group, addr));
}

/* A VF of pf at VF index idx: no SR-IOV attributes of its own, a physfn link back. */
static void fake_vf(const struct tree *t, const char *pf, const char *vf, unsigned idx)
{
	char p[PATH_BUF], target[PATH_BUF], name[32];

	fake_dev(t, vf, 0x8086, 0x10ed, 0x020000);
	symlink_rel(t->fd, dev_path(p, vf, "physfn"), dev_path(target, pf, NULL));
	snprintf(name, sizeof(name), "virtfn%u", idx);
	symlink_rel(t->fd, dev_path(p, pf, name), dev_path(target, vf, NULL));
}

static struct pcidev *read_dev(const struct tree *t, const char *addr)
{
	struct pcidev *d = NULL;
	int r = pcidev_read(t->sysfs, addr, NULL, &d);

	if (r < 0)
		TEST_FAIL("pcidev_read(%s): %s", addr, strerror(-r));
	ASSERT_NOT_NULL(d);
	ASSERT_STREQ(d->address, addr);
	return d;
}

/* --- helpers ------------------------------------------------------------------------------ */

/* Compares a string list with an expected one (NULL-terminated; want NULL: l must be NULL). */
static bool strv_equal(char *const *l, const char *const *want)
{
	size_t i;

	if (!l || !want) {
		if (l != NULL || want != NULL)
			printf("# list is %s, expected %s\n", l ? "set" : "NULL",
			       want ? "set" : "NULL");
		return !l && !want;
	}
	for (i = 0; l[i] && want[i]; i++)
		if (!streq(l[i], want[i]))
			break;
	if (!l[i] && !want[i])
		return true;
	printf("# got:");
	for (i = 0; l[i]; i++)
		printf(" %s", l[i]);
	printf("\n# expected:");
	for (i = 0; want[i]; i++)
		printf(" %s", want[i]);
	printf("\n");
	return false;
}
#define STRV(...)	((const char *const[]){ __VA_ARGS__, NULL })
#define STRV_EMPTY	((const char *const[]){ NULL })

static bool strv_contains(char *const *l, const char *s)
{
	for (; l && *l; l++)
		if (streq(*l, s))
			return true;
	return false;
}

static bool near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

/* An independent ordering: domain, bus, device, function as numbers. */
static int addr_cmp_numeric(const char *a, const char *b)
{
	unsigned x[4], y[4];

	ASSERT_EQ(sscanf(a, "%x:%x:%x.%x", &x[0], &x[1], &x[2], &x[3]), 4);
	ASSERT_EQ(sscanf(b, "%x:%x:%x.%x", &y[0], &y[1], &y[2], &y[3]), 4);
	for (size_t i = 0; i < 4; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

/* What the model must always be: sorted, groups sorted, groups and members agreeing. */
static void check_model(const struct model *m)
{
	size_t in_groups = 0, members = 0;

	for (size_t i = 0; i < m->n_devs; i++) {
		const struct pcidev *d = m->devs[i];
		const struct iommu_group *g;

		ASSERT_TRUE(pci_addr_is_valid(d->address));
		ASSERT_TRUE(model_find(m, d->address) == d);
		if (i > 0) {
			const char *prev = m->devs[i - 1]->address;

			if (pci_addr_compare(prev, d->address) >= 0 ||
			    addr_cmp_numeric(prev, d->address) >= 0)
				TEST_FAIL("model not sorted: %s before %s", prev, d->address);
		}
		if (d->iommu_group < 0)
			continue;
		in_groups++;
		g = model_find_group(m, (uint32_t)d->iommu_group);
		if (!g || !strv_contains(g->members, d->address))
			TEST_FAIL("%s: not a member of its group %d", d->address, d->iommu_group);
	}
	for (size_t i = 0; i < m->n_groups; i++) {
		const struct iommu_group *g = &m->groups[i];

		ASSERT_TRUE(i == 0 || m->groups[i - 1].id < g->id);
		ASSERT_TRUE(model_find_group(m, g->id) == g);
		ASSERT_EQ(strv_length(g->members), g->n_members);
		for (size_t j = 0; j < g->n_members; j++) {
			const struct pcidev *d = model_find(m, g->members[j]);

			if (!d)
				continue;	/* a non-PCI member */
			members++;
			if (d->iommu_group != (int32_t)g->id)
				TEST_FAIL("group %u lists %s, which says group %d", g->id,
					  d->address, d->iommu_group);
		}
	}
	ASSERT_EQ(members, in_groups);
}

static const char *srcdir(void)
{
	static char buf[PATH_MAX];
	static const char suffix[] = "tests/test-pcidev.c";
	const char *e = getenv("top_srcdir");
	size_t n = strlen(__FILE__);

	if (!isempty(e))
		return e;
	/* Not run by "make check": the source file's directory, as the compiler saw it. */
	if (n >= STRLEN(suffix) && streq(__FILE__ + n - STRLEN(suffix), suffix) &&
	    n - STRLEN(suffix) > 0) {
		snprintf(buf, sizeof(buf), "%.*s", (int)(n - STRLEN(suffix)), __FILE__);
		return buf;
	}
	return ".";
}

/* --- fixtures ----------------------------------------------------------------------------- */

struct fixture {
	struct tree tree;
	json_object *facts;
	struct model model;
};

static void fixture_done(struct fixture *f)
{
	model_done(&f->model);
	json_object_putp(&f->facts);
	f->facts = NULL;
	tree_done(&f->tree);
}
#define _cleanup_fixture_ _cleanup_(fixture_done)

/* Extracts tests/fixtures/NAME.tar.gz, loads NAME.facts.json and scans the tree. */
static void fixture_load(struct fixture *f, const char *name)
{
	char archive[PATH_MAX], facts[PATH_MAX];
	const char *tar[] = { "tar", "-xzf", archive, "-C", f->tree.path, NULL };

	snprintf(archive, sizeof(archive), "%s/tests/fixtures/%s.tar.gz", srcdir(), name);
	snprintf(facts, sizeof(facts), "%s/tests/fixtures/%s.facts.json", srcdir(), name);
	if (access(archive, R_OK) < 0)
		TEST_FAIL("%s: %s (set top_srcdir)", archive, strerror(errno));
	f->facts = json_object_from_file(facts);
	if (!f->facts)
		TEST_FAIL("%s: %s", facts, json_util_get_last_err());
	tmpdir_new(f->tree.path);
	run_cmd(tar);
	f->tree.fd = open(f->tree.path, O_DIRECTORY | O_PATH | O_CLOEXEC);
	ASSERT_TRUE(f->tree.fd >= 0);
	ASSERT_OK(sysfs_open(f->tree.path, true, &f->tree.sysfs));
	ASSERT_OK(model_scan(&f->model, f->tree.sysfs));
	/* What the scan leaves for the first that asks: nothing read yet, then all of it. */
	for (size_t i = 0; i < f->model.n_devs; i++)
		ASSERT_FALSE(f->model.devs[i]->details_read);
	for (size_t i = 0; i < f->model.n_groups; i++)
		ASSERT_FALSE(f->model.groups[i].type_read);
	ASSERT_OK(model_read_details(&f->model, f->tree.sysfs, NULL));
	ASSERT_OK(model_read_types(&f->model, f->tree.sysfs));
	for (size_t i = 0; i < f->model.n_devs; i++)
		ASSERT_TRUE(f->model.devs[i]->details_read);
	check_model(&f->model);
}

static json_object *jget(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		TEST_FAIL("JSON key \"%s\" missing in %s", key, json_object_to_json_string(o));
	return v;	/* NULL for JSON null */
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	if (!v)
		return NULL;
	ASSERT_TRUE(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

static int64_t jint(json_object *o, const char *key, int64_t if_null)
{
	json_object *v = jget(o, key);

	if (!v)
		return if_null;
	ASSERT_TRUE(json_object_is_type(v, json_type_int));
	return json_object_get_int64(v);
}

#define FACT_EQ(addr, what, a, b)						\
	do {									\
		long long _x = (long long)(a), _y = (long long)(b);		\
		if (_x != _y)							\
			TEST_FAIL("%s: %s is %lld, the kernel said %lld", (addr),	\
				  (what), _x, _y);				\
	} while (0)
#define FACT_STREQ(addr, what, a, b)						\
	do {									\
		const char *_x = (a), *_y = (b);				\
		if (!streq(_x, _y))						\
			TEST_FAIL("%s: %s is %s, the kernel said %s", (addr), (what),	\
				  _x ?: "(null)", _y ?: "(null)");		\
	} while (0)

/* Reads a fixture file with plain stdio, independently of sysfs.c. */
static void fixture_file(const struct fixture *f, const char *path, char *buf, size_t size)
{
	_cleanup_fclose_ FILE *file = NULL;
	char p[PATH_BUF];
	size_t n;

	file = fopen(pathf(p, "%s/%s", f->tree.path, path), "re");
	if (!file)
		TEST_FAIL("%s: %s", p, strerror(errno));
	n = fread(buf, 1, size - 1, file);
	buf[n] = '\0';
}

static long long fixture_hex(const struct fixture *f, const char *addr, const char *attr)
{
	char p[PATH_BUF], buf[64];

	fixture_file(f, pathf(p, "bus/pci/devices/%s/%s", addr, attr), buf, sizeof(buf));
	return strtoll(buf, NULL, 16);
}

/* A link width attribute as the model keeps it: -1 for 0 (down) and 255 (cannot tell). */
static long long fixture_int_or(const struct fixture *f, const char *addr, const char *attr)
{
	char p[PATH_BUF], buf[64];
	long long v;

	fixture_file(f, pathf(p, "bus/pci/devices/%s/%s", addr, attr), buf, sizeof(buf));
	v = strtoll(buf, NULL, 10);
	return v <= 0 || v > 32 ? -1 : v;
}

/*
 * What the scan took from config space (and a VF's ids from its PF, and a PF's VFs from their
 * physfn links) is what the kernel's own attributes and links say, and what a read of the one
 * function alone (as on a uevent) finds.
 */
static void check_derived(const struct fixture *f)
{
	for (size_t i = 0; i < f->model.n_devs; i++) {
		const struct pcidev *d = f->model.devs[i];
		const char *addr = d->address;
		_cleanup_(pcidev_unrefp) struct pcidev *alone = NULL;
		char p[PATH_BUF];

		FACT_EQ(addr, "vendor (scan)", d->vendor, fixture_hex(f, addr, "vendor"));
		FACT_EQ(addr, "device (scan)", d->device, fixture_hex(f, addr, "device"));
		FACT_EQ(addr, "class (scan)", d->class, fixture_hex(f, addr, "class"));
		FACT_EQ(addr, "revision (scan)", d->revision, fixture_hex(f, addr, "revision"));
		FACT_EQ(addr, "subsystem_vendor (scan)", d->subsystem_vendor,
			fixture_hex(f, addr, "subsystem_vendor"));
		FACT_EQ(addr, "subsystem_device (scan)", d->subsystem_device,
			fixture_hex(f, addr, "subsystem_device"));
		for (int k = 0;; k++) {
			char target[PATH_BUF];
			ssize_t n = readlinkat(f->tree.fd, pathf(p, "bus/pci/devices/%s/virtfn%d", addr, k),
					       target, sizeof(target) - 1);

			if (n <= 0) {
				FACT_EQ(addr, "virtfns (scan)", strv_length(d->virtfns), k);
				break;
			}
			target[n] = 0;
			FACT_STREQ(addr, "virtfn (scan)", d->virtfns ? d->virtfns[k] : NULL,
				   strrchr(target, '/') + 1);
		}
		{
			char target[PATH_BUF];
			ssize_t n = readlinkat(f->tree.fd, pathf(p, "bus/pci/devices/%s/physfn", addr),
					       target, sizeof(target) - 1);

			target[MAX(n, (ssize_t)0)] = 0;
			FACT_STREQ(addr, "physfn (scan)", d->physfn, n > 0 ? strrchr(target, '/') + 1 : NULL);
		}
		/* The link, from the PCI Express capability, is the kernel's four attributes. */
		if (faccessat(f->tree.fd, pathf(p, "bus/pci/devices/%s/current_link_speed", addr),
			      F_OK, 0) == 0) {
			char buf[64];

			fixture_file(f, p, buf, sizeof(buf));
			FACT_EQ(addr, "link speed x100 (scan)", d->link.speed * 100,
				pci_link_speed_parse(buf) * 100);
			fixture_file(f, pathf(p, "bus/pci/devices/%s/max_link_speed", addr), buf, sizeof(buf));
			FACT_EQ(addr, "max link speed x100 (scan)", d->max_link.speed * 100,
				pci_link_speed_parse(buf) * 100);
			FACT_EQ(addr, "link width (scan)", d->link.width,
				fixture_int_or(f, addr, "current_link_width"));
			FACT_EQ(addr, "max link width (scan)", d->max_link.width,
				fixture_int_or(f, addr, "max_link_width"));
		} else {
			FACT_EQ(addr, "no link speed (scan)", d->link.speed, 0);
			FACT_EQ(addr, "no link width (scan)", d->link.width, -1);
			FACT_EQ(addr, "no max link width (scan)", d->max_link.width, -1);
		}
		/* The parent: the directory the function's own lies in, where that is a function. */
		{
			_cleanup_close_ int dfd = openat(f->tree.fd, pathf(p, "bus/pci/devices/%s", addr),
							 O_PATH | O_DIRECTORY | O_CLOEXEC);
			char self[64], real[PATH_BUF], *last, *up;
			ssize_t n;

			ASSERT_TRUE(dfd >= 0);
			(void)snprintf(self, sizeof(self), "/proc/self/fd/%d", dfd);
			n = readlink(self, real, sizeof(real) - 1);
			ASSERT_TRUE(n > 0);
			real[n] = 0;
			last = strrchr(real, '/');
			ASSERT_NOT_NULL(last);
			*last = 0;
			up = strrchr(real, '/');
			FACT_STREQ(addr, "parent (scan)", d->parent[0] ? d->parent : NULL,
				   up && pci_addr_is_valid(up + 1) ? up + 1 : NULL);
		}
		/* The SR-IOV attributes, not looked for where config space says they cannot be. */
		if (faccessat(f->tree.fd, pathf(p, "bus/pci/devices/%s/sriov_totalvfs", addr), F_OK,
			      0) == 0) {
			char buf[64];

			fixture_file(f, p, buf, sizeof(buf));
			FACT_EQ(addr, "sriov_totalvfs (scan)", d->sriov_totalvfs, strtoll(buf, NULL, 10));
		} else
			FACT_EQ(addr, "no sriov_totalvfs (scan)", d->sriov_totalvfs, -1);
		ASSERT_OK(pcidev_read(f->tree.sysfs, addr, NULL, &alone));
		FACT_EQ(addr, "vendor (alone)", alone->vendor, d->vendor);
		FACT_EQ(addr, "device (alone)", alone->device, d->device);
		FACT_EQ(addr, "class (alone)", alone->class, d->class);
		FACT_EQ(addr, "subsystem_vendor (alone)", alone->subsystem_vendor, d->subsystem_vendor);
		FACT_EQ(addr, "virtfns (alone)", strv_length(alone->virtfns), strv_length(d->virtfns));
		FACT_EQ(addr, "link width (alone)", alone->link.width, d->link.width);
		FACT_EQ(addr, "max link width (alone)", alone->max_link.width, d->max_link.width);
		FACT_EQ(addr, "boot_vga (alone)", alone->boot_vga, d->boot_vga);
		FACT_EQ(addr, "reset methods (alone, and the scan's read later)",
			strv_equal(alone->reset_methods, (const char *const *)d->reset_methods), true);
	}
}

/* Every function of the facts file, with the facts, and nothing else. */
static void check_facts(const struct fixture *f, size_t n_functions, size_t n_groups)
{
	json_object *fns = jget(f->facts, "functions");
	size_t n;

	ASSERT_NOT_NULL(fns);
	n = json_object_array_length(fns);
	ASSERT_EQ(n, n_functions);
	ASSERT_EQ(f->model.n_devs, n_functions);
	ASSERT_EQ(f->model.n_groups, n_groups);
	for (size_t i = 0; i < n; i++) {
		json_object *fact = json_object_array_get_idx(fns, i);
		const char *addr = jstr(fact, "address");
		const struct pcidev *d = model_find(&f->model, addr);
		_cleanup_json_ json_object *j = NULL;

		if (!d)
			TEST_FAIL("%s: not in the model", addr);
		FACT_EQ(addr, "vendor", d->vendor, jint(fact, "vendor_id", -1));
		FACT_EQ(addr, "device", d->device, jint(fact, "device_id", -1));
		FACT_EQ(addr, "class", d->class, jint(fact, "class_code", -1));
		FACT_STREQ(addr, "driver", d->driver, jstr(fact, "driver"));
		FACT_EQ(addr, "iommu_group", d->iommu_group, jint(fact, "iommu_group", -1));
		FACT_STREQ(addr, "driver_override", d->driver_override,
			   jstr(fact, "driver_override"));

		/* The same facts, as the Device type carries them. */
		ASSERT_OK(pcidev_to_json(d, NULL, &j));
		FACT_STREQ(addr, "JSON address", jstr(j, "address"), addr);
		FACT_EQ(addr, "JSON vendor_id", jint(j, "vendor_id", -1), d->vendor);
		FACT_EQ(addr, "JSON class", jint(j, "class", -1), d->class);
		FACT_STREQ(addr, "JSON driver", jstr(j, "driver"), jstr(fact, "driver"));
		FACT_EQ(addr, "JSON iommu_group", jint(j, "iommu_group", -1),
			jint(fact, "iommu_group", -1));
		FACT_STREQ(addr, "JSON driver_override", jstr(j, "driver_override"),
			   jstr(fact, "driver_override"));
	}
	check_derived(f);
}

static struct pcidev *fixture_dev(const struct fixture *f, const char *addr)
{
	struct pcidev *d = model_find(&f->model, addr);

	if (!d)
		TEST_FAIL("%s: not in the model", addr);
	return d;
}

static void group_types_are(const struct model *m, const char *type)
{
	for (size_t i = 0; i < m->n_groups; i++)
		if (!streq(m->groups[i].type, type))
			TEST_FAIL("group %u: type %s, expected %s", m->groups[i].id,
				  m->groups[i].type ?: "(null)", type);
}

/* ============================================================================================
 * lib/util
 */

TEST(pci_addr_is_valid)
{
	ASSERT_TRUE(pci_addr_is_valid("0000:00:00.0"));
	ASSERT_TRUE(pci_addr_is_valid("0000:00:1f.7"));
	ASSERT_TRUE(pci_addr_is_valid("0000:ff:1f.7"));
	ASSERT_TRUE(pci_addr_is_valid("10000:e1:00.0"));
	ASSERT_TRUE(pci_addr_is_valid("ffffffff:00:00.0"));

	ASSERT_FALSE(pci_addr_is_valid("0000:00:20.0"));	/* device 0x20 */
	ASSERT_FALSE(pci_addr_is_valid("0000:00:00.8"));	/* function 8 */
	ASSERT_FALSE(pci_addr_is_valid("0000:00:1F.0"));	/* uppercase */
	ASSERT_FALSE(pci_addr_is_valid("0000:AB:00.0"));
	ASSERT_FALSE(pci_addr_is_valid("ABCD:00:00.0"));
	ASSERT_FALSE(pci_addr_is_valid("0000:0:00.0"));
	ASSERT_FALSE(pci_addr_is_valid("000:00:00.0"));
	ASSERT_FALSE(pci_addr_is_valid("100000000:00:00.0"));	/* 9-digit domain */
	ASSERT_FALSE(pci_addr_is_valid("0000:00:00.0\n"));
	ASSERT_FALSE(pci_addr_is_valid(" 0000:00:00.0"));
	ASSERT_FALSE(pci_addr_is_valid("0000:00:00.00"));
	ASSERT_FALSE(pci_addr_is_valid("0000-00:00.0"));
	ASSERT_FALSE(pci_addr_is_valid("0000:00:00:0"));
	ASSERT_FALSE(pci_addr_is_valid("0000:00.00.0"));
	ASSERT_FALSE(pci_addr_is_valid("g000:00:00.0"));
	ASSERT_FALSE(pci_addr_is_valid("0000:00:0g.0"));
	ASSERT_FALSE(pci_addr_is_valid("../../../../x"));
	ASSERT_FALSE(pci_addr_is_valid(""));
	ASSERT_FALSE(pci_addr_is_valid(NULL));
}

TEST(pci_addr_same_slot)
{
	ASSERT_TRUE(pci_addr_same_slot("0000:00:05.0", "0000:00:05.1"));
	ASSERT_TRUE(pci_addr_same_slot("0000:00:1f.3", "0000:00:1f.0"));
	ASSERT_TRUE(pci_addr_same_slot("10000:e1:00.0", "10000:e1:00.7"));
	/* The same function is not its own sibling. */
	ASSERT_FALSE(pci_addr_same_slot("0000:00:05.0", "0000:00:05.0"));
	ASSERT_FALSE(pci_addr_same_slot("0000:00:05.0", "0000:00:06.0"));
	ASSERT_FALSE(pci_addr_same_slot("0000:00:05.0", "0000:01:05.1"));
	ASSERT_FALSE(pci_addr_same_slot("0000:00:05.0", "0001:00:05.1"));
	ASSERT_FALSE(pci_addr_same_slot("0000:00:05.0", "10000:00:05.1"));
}

TEST(safe_atou32_base)
{
	uint32_t v = 0;

	ASSERT_OK(safe_atou32_base("0x1b36\n", 16, &v));
	ASSERT_EQ(v, 0x1b36);
	ASSERT_OK(safe_atou32_base("0x010802", 16, &v));
	ASSERT_EQ(v, 0x010802);
	ASSERT_OK(safe_atou32_base("1b36", 16, &v));
	ASSERT_EQ(v, 0x1b36);
	ASSERT_OK(safe_atou32_base("0xffffffff", 16, &v));
	ASSERT_EQ(v, UINT32_MAX);
	ASSERT_OK(safe_atou32_base("4294967295", 10, &v));
	ASSERT_EQ(v, UINT32_MAX);
	ASSERT_OK(safe_atou32_base("0", 10, &v));
	ASSERT_EQ(v, 0);
	ASSERT_OK(safe_atou32_base("12\n", 10, &v));
	ASSERT_EQ(v, 12);

	ASSERT_ERROR(safe_atou32_base("12 ", 10, &v), EINVAL);
	ASSERT_ERROR(safe_atou32_base(" 12", 10, &v), EINVAL);
	ASSERT_ERROR(safe_atou32_base("12\n\n", 10, &v), EINVAL);
	ASSERT_ERROR(safe_atou32_base("-1", 10, &v), EINVAL);
	ASSERT_ERROR(safe_atou32_base("+1", 10, &v), EINVAL);
	ASSERT_ERROR(safe_atou32_base("-0x1", 16, &v), EINVAL);
	ASSERT_ERROR(safe_atou32_base("", 10, &v), EINVAL);
	ASSERT_ERROR(safe_atou32_base(NULL, 10, &v), EINVAL);
	ASSERT_ERROR(safe_atou32_base("0x", 16, &v), EINVAL);
	ASSERT_ERROR(safe_atou32_base("0xzz", 16, &v), EINVAL);
	ASSERT_ERROR(safe_atou32_base("0x10", 10, &v), EINVAL);
	ASSERT_ERROR(safe_atou32_base("abc", 10, &v), EINVAL);
	ASSERT_ERROR(safe_atou32_base("4294967296", 10, &v), ERANGE);
	ASSERT_ERROR(safe_atou32_base("0x100000000", 16, &v), ERANGE);
	ASSERT_ERROR(safe_atou32_base("99999999999999999999999", 10, &v), ERANGE);

	ASSERT_OK(safe_atou32("7", &v));
	ASSERT_EQ(v, 7);
}

TEST(safe_atoi32)
{
	int32_t v = 0;

	ASSERT_OK(safe_atoi32("-1", &v));
	ASSERT_EQ(v, -1);
	ASSERT_OK(safe_atoi32("-1\n", &v));
	ASSERT_EQ(v, -1);
	ASSERT_OK(safe_atoi32("1", &v));
	ASSERT_EQ(v, 1);
	ASSERT_OK(safe_atoi32("2147483647", &v));
	ASSERT_EQ(v, INT32_MAX);
	ASSERT_OK(safe_atoi32("-2147483648", &v));
	ASSERT_EQ(v, INT32_MIN);

	ASSERT_ERROR(safe_atoi32("2147483648", &v), ERANGE);
	ASSERT_ERROR(safe_atoi32("-2147483649", &v), ERANGE);
	ASSERT_ERROR(safe_atoi32("99999999999999999999999", &v), ERANGE);
	ASSERT_ERROR(safe_atoi32("1 ", &v), EINVAL);
	ASSERT_ERROR(safe_atoi32(" 1", &v), EINVAL);
	ASSERT_ERROR(safe_atoi32("", &v), EINVAL);
	ASSERT_ERROR(safe_atoi32("-", &v), EINVAL);
	ASSERT_ERROR(safe_atoi32("0x10", &v), EINVAL);
	ASSERT_ERROR(safe_atoi32("abc", &v), EINVAL);
}

TEST(strstrip_trailing)
{
	char a[] = "  vfio-pci \n\t\n", b[] = "", c[] = "\n";

	ASSERT_STREQ(strstrip_trailing(a), "  vfio-pci");
	ASSERT_STREQ(strstrip_trailing(b), "");
	ASSERT_STREQ(strstrip_trailing(c), "");
}

/* ============================================================================================
 * daemon/pcidev: pure functions
 */

TEST(pci_addr_compare)
{
	ASSERT_EQ(pci_addr_compare("0000:00:00.0", "0000:00:00.0"), 0);
	ASSERT_TRUE(pci_addr_compare("0000:00:00.0", "0000:00:00.1") < 0);
	ASSERT_TRUE(pci_addr_compare("0000:00:1f.7", "0000:01:00.0") < 0);
	ASSERT_TRUE(pci_addr_compare("0000:0a:00.0", "0000:09:00.0") > 0);
	ASSERT_TRUE(pci_addr_compare("0000:ff:1f.7", "0001:00:00.0") < 0);
	/* VMD domains have five digits and come after every four-digit one. */
	ASSERT_TRUE(pci_addr_compare("ffff:ff:1f.7", "10000:00:00.0") < 0);
	ASSERT_TRUE(pci_addr_compare("10000:00:00.0", "ffff:00:00.0") > 0);
	ASSERT_TRUE(pci_addr_compare("10000:00:00.0", "10000:00:00.1") < 0);
	ASSERT_TRUE(pci_addr_compare("10001:00:00.0", "10000:e1:00.0") > 0);
}

TEST(pci_link_speed_parse)
{
	ASSERT_TRUE(near(pci_link_speed_parse("2.5 GT/s"), 2.5));
	ASSERT_TRUE(near(pci_link_speed_parse("2.5 GT/s PCIe"), 2.5));
	ASSERT_TRUE(near(pci_link_speed_parse("8.0 GT/s PCIe"), 8.0));
	ASSERT_TRUE(near(pci_link_speed_parse("16.0 GT/s PCIe"), 16.0));
	ASSERT_TRUE(near(pci_link_speed_parse("64.0 GT/s PCIe"), 64.0));
	ASSERT_TRUE(near(pci_link_speed_parse("8 GT/s"), 8.0));
	ASSERT_EQ(pci_link_speed_parse("Unknown"), 0);
	ASSERT_EQ(pci_link_speed_parse("Unknown speed"), 0);
	ASSERT_EQ(pci_link_speed_parse(""), 0);
	ASSERT_EQ(pci_link_speed_parse(NULL), 0);
	ASSERT_EQ(pci_link_speed_parse("8.0"), 0);
	ASSERT_EQ(pci_link_speed_parse("8.0 MT/s"), 0);
	ASSERT_EQ(pci_link_speed_parse("0 GT/s"), 0);
	ASSERT_EQ(pci_link_speed_parse("-2.5 GT/s"), 0);
	ASSERT_EQ(pci_link_speed_parse("inf GT/s"), 0);
	ASSERT_EQ(pci_link_speed_parse("nan GT/s"), 0);
}

TEST(pci_link_tables)
{
	static const struct {
		double gts;
		int gen;
		unsigned mbps;
	} table[] = {
		{ 2.5, 1, 250 }, { 5.0, 2, 500 }, { 8.0, 3, 985 },
		{ 16.0, 4, 1969 }, { 32.0, 5, 3938 }, { 64.0, 6, 7563 },
	};

	for (size_t i = 0; i < ELEMENTSOF(table); i++) {
		ASSERT_EQ(pci_link_generation(table[i].gts), table[i].gen);
		ASSERT_EQ(pci_link_lane_mbps(table[i].gen), table[i].mbps);
	}
	ASSERT_EQ(pci_link_generation(0), 0);
	ASSERT_EQ(pci_link_generation(3.0), 0);
	ASSERT_EQ(pci_link_generation(128.0), 0);
	ASSERT_EQ(pci_link_generation(-2.5), 0);
	ASSERT_EQ(pci_link_lane_mbps(0), 0);
	ASSERT_EQ(pci_link_lane_mbps(7), 0);
	ASSERT_EQ(pci_link_lane_mbps(-1), 0);
}

TEST(pci_header_to_string)
{
	ASSERT_STREQ(pci_header_to_string(PCI_HEADER_ENDPOINT), "endpoint");
	ASSERT_STREQ(pci_header_to_string(PCI_HEADER_BRIDGE), "bridge");
	ASSERT_STREQ(pci_header_to_string(PCI_HEADER_CARDBUS), "cardbus");
	ASSERT_NULL(pci_header_to_string(_PCI_HEADER_MAX));
	ASSERT_NULL(pci_header_to_string(_PCI_HEADER_INVALID));
}

/* ============================================================================================
 * daemon/host: pure functions
 */

TEST(lockdown_parse)
{
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
	char *x = NULL;

	ASSERT_OK(lockdown_parse("[none] integrity confidentiality", &a));
	ASSERT_STREQ(a, "none");
	ASSERT_OK(lockdown_parse("none [integrity] confidentiality\n", &b));
	ASSERT_STREQ(b, "integrity");
	ASSERT_OK(lockdown_parse("none integrity [confidentiality]", &c));
	ASSERT_STREQ(c, "confidentiality");
	ASSERT_ERROR(lockdown_parse("none integrity confidentiality", &x), EINVAL);
	ASSERT_ERROR(lockdown_parse("[] none", &x), EINVAL);
	ASSERT_ERROR(lockdown_parse("[none", &x), EINVAL);
	ASSERT_ERROR(lockdown_parse("", &x), EINVAL);
	ASSERT_NULL(x);
}

TEST(kernel_release_at_least)
{
	ASSERT_TRUE(kernel_release_at_least("6.1.0-56-amd64", 5, 19));
	ASSERT_TRUE(kernel_release_at_least("5.19.0", 5, 19));
	ASSERT_TRUE(kernel_release_at_least("5.19-rc1", 5, 19));
	ASSERT_TRUE(kernel_release_at_least("6.0", 5, 19));
	ASSERT_TRUE(kernel_release_at_least("6.18.44-fc-v669", 6, 18));
	ASSERT_FALSE(kernel_release_at_least("5.18.19", 5, 19));
	ASSERT_FALSE(kernel_release_at_least("4.20.0", 5, 19));
	ASSERT_FALSE(kernel_release_at_least("6", 5, 19));
	ASSERT_FALSE(kernel_release_at_least("linux", 5, 19));
	ASSERT_FALSE(kernel_release_at_least("", 5, 19));
	ASSERT_FALSE(kernel_release_at_least(NULL, 5, 19));
}

TEST(irq_chip_remaps)
{
	ASSERT_EQ(irq_chip_remaps("IR-IO-APIC"), 1);
	ASSERT_EQ(irq_chip_remaps("IR-PCI-MSI"), 1);
	ASSERT_EQ(irq_chip_remaps("IR-PCI-MSIX-0000:00:03.0"), 1);
	ASSERT_EQ(irq_chip_remaps("vIR-PCI-MSI-0000:00:03.0"), 1);
	ASSERT_EQ(irq_chip_remaps("IO-APIC"), 0);
	ASSERT_EQ(irq_chip_remaps("PCI-MSI"), 0);
	ASSERT_EQ(irq_chip_remaps("PCI-MSIX-0000:00:03.0"), 0);
	ASSERT_EQ(irq_chip_remaps("AMD-Vi"), -1);
	ASSERT_EQ(irq_chip_remaps("HPET-MSI"), -1);
	ASSERT_EQ(irq_chip_remaps("IO-APIC-x"), -1);
	ASSERT_EQ(irq_chip_remaps(""), -1);
}

/* ============================================================================================
 * daemon/sysfs
 */

TEST(sysfs_open)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(sysfs_freep) struct sysfs *s = NULL;
	char p[PATH_BUF];

	tree_new(&t);
	ASSERT_TRUE(t.sysfs->read_only);
	ASSERT_STREQ(t.sysfs->root, t.path);
	ASSERT_OK(sysfs_open(t.path, false, &s));
	ASSERT_FALSE(s->read_only);

	ASSERT_ERROR(sysfs_open(pathf(p, "%s/missing", t.path), true, &s), ENOENT);
	write_str(t.fd, "file", "x\n");
	ASSERT_ERROR(sysfs_open(pathf(p, "%s/file", t.path), true, &s), ENOTDIR);
	ASSERT_NOT_NULL(s);	/* untouched by the failures */

	ASSERT_ERROR(sysfs_open_dir(t.sysfs, "missing"), ENOENT);
	ASSERT_ERROR(sysfs_open_dir(t.sysfs, "file"), ENOTDIR);
	mkdir_p(t.fd, "a/b");
	{
		_cleanup_close_ int fd = sysfs_open_dir(t.sysfs, "a/b");

		ASSERT_OK(fd);
	}
}

TEST(sysfs_read)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
	_cleanup_close_ int dfd = -EBADF;
	char *x = NULL;
	char big[SYSFS_ATTR_MAX + 100];
	uint32_t u = 0;
	int32_t i = 0;

	tree_new(&t);
	write_str(t.fd, "d/text", "  DMA-FQ \n\n");
	write_str(t.fd, "d/empty", "");
	write_str(t.fd, "d/hex", "0x1b36\n");
	write_str(t.fd, "d/dec", "42\n");
	write_str(t.fd, "d/neg", "-1\n");
	write_str(t.fd, "d/garbage", "0xzz\n");
	memset(big, 'a', sizeof(big));
	write_file(t.fd, "d/big", big, sizeof(big));
	mkdir_p(t.fd, "d/dir");

	ASSERT_OK(sysfs_read(t.sysfs, "d/text", &a));
	ASSERT_STREQ(a, "  DMA-FQ");
	ASSERT_OK(sysfs_read(t.sysfs, "d/empty", &b));
	ASSERT_STREQ(b, "");
	/* One page at most. */
	ASSERT_OK(sysfs_read(t.sysfs, "d/big", &c));
	ASSERT_EQ(strlen(c), SYSFS_ATTR_MAX);
	ASSERT_ERROR(sysfs_read(t.sysfs, "d/missing", &x), ENOENT);
	ASSERT_ERROR(sysfs_read(t.sysfs, "d/dir", &x), EISDIR);
	ASSERT_NULL(x);

	dfd = sysfs_open_dir(t.sysfs, "d");
	ASSERT_OK(dfd);
	ASSERT_OK(sysfs_read_u32_at(dfd, "hex", 16, &u));
	ASSERT_EQ(u, 0x1b36);
	ASSERT_OK(sysfs_read_u32_at(dfd, "dec", 10, &u));
	ASSERT_EQ(u, 42);
	ASSERT_OK(sysfs_read_u32_at(dfd, "dec", 16, &u));
	ASSERT_EQ(u, 0x42);
	ASSERT_ERROR(sysfs_read_u32_at(dfd, "hex", 10, &u), EINVAL);
	ASSERT_ERROR(sysfs_read_u32_at(dfd, "garbage", 16, &u), EINVAL);
	ASSERT_ERROR(sysfs_read_u32_at(dfd, "neg", 10, &u), EINVAL);
	ASSERT_ERROR(sysfs_read_u32_at(dfd, "empty", 10, &u), EINVAL);
	ASSERT_ERROR(sysfs_read_u32_at(dfd, "missing", 10, &u), ENOENT);
	ASSERT_ERROR(sysfs_read_u32_at(dfd, "dir", 10, &u), EISDIR);
	ASSERT_OK(sysfs_read_i32_at(dfd, "neg", &i));
	ASSERT_EQ(i, -1);
	ASSERT_OK(sysfs_read_i32_at(dfd, "dec", &i));
	ASSERT_EQ(i, 42);
	ASSERT_ERROR(sysfs_read_i32_at(dfd, "hex", &i), EINVAL);
	ASSERT_ERROR(sysfs_read_i32_at(dfd, "missing", &i), ENOENT);
}

TEST(sysfs_read_bin)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_close_ int dfd = -EBADF;
	uint8_t data[100], buf[256];

	tree_new(&t);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	write_file(t.fd, "d/config", data, sizeof(data));
	mkdir_p(t.fd, "d/dir");
	dfd = sysfs_open_dir(t.sysfs, "d");
	ASSERT_OK(dfd);

	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(sysfs_read_bin_at(dfd, "config", buf, 64), 64);
	ASSERT_EQ(memcmp(buf, data, 64), 0);
	ASSERT_EQ(buf[64], 0);
	ASSERT_EQ(sysfs_read_bin_at(dfd, "config", buf, sizeof(buf)), (ssize_t)sizeof(data));
	ASSERT_EQ(memcmp(buf, data, sizeof(data)), 0);
	ASSERT_ERROR(sysfs_read_bin_at(dfd, "missing", buf, 64), ENOENT);
	ASSERT_ERROR(sysfs_read_bin_at(dfd, "dir", buf, 64), EISDIR);
}

TEST(sysfs_readlink_name)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_close_ int dfd = -EBADF;
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
	char *x = NULL;

	tree_new(&t);
	mkdir_p(t.fd, "bus/pci/drivers/vfio-pci");
	symlink_rel(t.fd, "d/driver", "bus/pci/drivers/vfio-pci");
	symlink_rel(t.fd, "d/iommu_group", "kernel/iommu_groups/12");	/* dangling: fine */
	ASSERT_OK(symlinkat("plain", t.fd, "d/bare"));
	ASSERT_OK(symlinkat("../x/", t.fd, "d/slash"));
	write_str(t.fd, "d/file", "x\n");
	dfd = sysfs_open_dir(t.sysfs, "d");
	ASSERT_OK(dfd);

	ASSERT_OK(sysfs_readlink_name_at(dfd, "driver", &a));
	ASSERT_STREQ(a, "vfio-pci");
	ASSERT_OK(sysfs_readlink_name_at(dfd, "iommu_group", &b));
	ASSERT_STREQ(b, "12");
	ASSERT_OK(sysfs_readlink_name_at(dfd, "bare", &c));
	ASSERT_STREQ(c, "plain");
	ASSERT_ERROR(sysfs_readlink_name_at(dfd, "slash", &x), EINVAL);
	ASSERT_ERROR(sysfs_readlink_name_at(dfd, "file", &x), EINVAL);
	ASSERT_ERROR(sysfs_readlink_name_at(dfd, "missing", &x), ENOENT);
	ASSERT_NULL(x);
}

TEST(sysfs_list)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_strv_free_ char **l = NULL, **e = NULL, **big = NULL;
	char **x = NULL;
	size_t n = 99;
	char p[PATH_BUF];

	tree_new(&t);
	write_str(t.fd, "d/b", "");
	write_str(t.fd, "d/a", "");
	mkdir_p(t.fd, "d/c");
	symlink_rel(t.fd, "d/10000:00:00.0", "d/c");
	symlink_rel(t.fd, "d/0000:00:00.0", "d/c");
	mkdir_p(t.fd, "empty");
	for (unsigned i = 0; i < 40; i++)
		write_str(t.fd, pathf(p, "many/%02u", 39 - i), "");

	ASSERT_OK(sysfs_list(t.sysfs, "d", &l, &n));
	ASSERT_EQ(n, 5);
	ASSERT_TRUE(strv_equal(l, STRV("0000:00:00.0", "10000:00:00.0", "a", "b", "c")));

	n = 99;
	ASSERT_OK(sysfs_list(t.sysfs, "empty", &e, &n));
	ASSERT_EQ(n, 0);
	ASSERT_NOT_NULL(e);
	ASSERT_NULL(e[0]);

	ASSERT_OK(sysfs_list(t.sysfs, "many", &big, NULL));
	ASSERT_EQ(strv_length(big), 40);
	for (unsigned i = 0; i < 40; i++)
		ASSERT_STREQ(big[i], pathf(p, "%02u", i));

	ASSERT_ERROR(sysfs_list(t.sysfs, "missing", &x, &n), ENOENT);
	ASSERT_ERROR(sysfs_list(t.sysfs, "d/a", &x, &n), ENOTDIR);
	ASSERT_NULL(x);
}

TEST(sysfs_write)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(sysfs_freep) struct sysfs *rw = NULL;
	_cleanup_free_ char *a = NULL, *b = NULL;

	tree_new(&t);
	write_str(t.fd, "d/driver_override", "(null)\n");
	ASSERT_OK(sysfs_open(t.path, false, &rw));

	/* Read-only mode: nothing reaches the tree. */
	ASSERT_ERROR(sysfs_write(t.sysfs, "d/driver_override", "vfio-pci"), EROFS);
	ASSERT_ERROR(sysfs_write(t.sysfs, "d/new", "x"), EROFS);
	ASSERT_OK(sysfs_read(t.sysfs, "d/driver_override", &a));
	ASSERT_STREQ(a, "(null)");
	ASSERT_TRUE(faccessat(t.fd, "d/new", F_OK, 0) < 0 && errno == ENOENT);

	ASSERT_OK(sysfs_write(rw, "d/driver_override", "vfio-pci"));
	ASSERT_OK(sysfs_read(rw, "d/driver_override", &b));
	ASSERT_STREQ(b, "vfio-pci");
	/* Attributes are never created. */
	ASSERT_ERROR(sysfs_write(rw, "d/new", "x"), ENOENT);
}

/* ============================================================================================
 * daemon/pcidev: reading synthetic functions
 */

TEST(pcidev_read_full)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;

	tree_new(&t);
	fake_dev(&t, "0000:00:02.0", 0x8086, 0x10fb, 0x020000);
	fake_bind(&t, "0000:00:02.0", "ixgbe");
	fake_group(&t, "0000:00:02.0", 7);
	fake_attr(&t, "0000:00:02.0", "numa_node", "1\n");
	fake_attr(&t, "0000:00:02.0", "driver_override", "vfio-pci\n");
	fake_attr(&t, "0000:00:02.0", "sriov_totalvfs", "63\n");
	fake_attr(&t, "0000:00:02.0", "sriov_numvfs", "0\n");
	fake_config(&t, "0000:00:02.0", 4096, 0x80);
	/* As the attributes say: 8.0 GT/s x4 (Link Status), 16.0 GT/s x8 (Link Capabilities 2). */
	fake_config_pcie(&t, "0000:00:02.0", 2, PCI_EXP_TYPE_ENDPOINT, 0x84, 0x43, 0x1e);

	d = read_dev(&t, "0000:00:02.0");
	ASSERT_EQ(d->n_ref, 1);
	ASSERT_EQ(d->vendor, 0x8086);
	ASSERT_EQ(d->device, 0x10fb);
	ASSERT_EQ(d->class, 0x020000);
	ASSERT_EQ(d->subsystem_vendor, 0x1af4);
	ASSERT_EQ(d->subsystem_device, 0x1100);
	ASSERT_EQ(d->revision, 2);
	ASSERT_EQ(d->header, PCI_HEADER_ENDPOINT);
	ASSERT_EQ(d->multifunction, 1);
	ASSERT_STREQ(d->driver, "ixgbe");
	ASSERT_STREQ(d->driver_override, "vfio-pci");
	ASSERT_EQ(d->iommu_group, 7);
	ASSERT_EQ(d->numa_node, 1);
	ASSERT_EQ(d->boot_vga, -1);
	ASSERT_NULL(d->physfn);
	ASSERT_TRUE(strv_equal(d->virtfns, STRV_EMPTY));
	ASSERT_EQ(d->sriov_numvfs, 0);
	ASSERT_EQ(d->sriov_totalvfs, 63);
	ASSERT_TRUE(near(d->link.speed, 8.0));
	ASSERT_EQ(d->link.width, 4);
	ASSERT_TRUE(near(d->max_link.speed, 16.0));
	ASSERT_EQ(d->max_link.width, 8);
	ASSERT_TRUE(strv_equal(d->reset_methods, STRV("flr", "bus")));

	ASSERT_TRUE(pcidev_ref(d) == d);
	ASSERT_EQ(d->n_ref, 2);
	ASSERT_NULL(pcidev_unref(d));
	ASSERT_EQ(d->n_ref, 1);
	ASSERT_NULL(pcidev_ref(NULL));
	ASSERT_NULL(pcidev_unref(NULL));
}

TEST(pcidev_read_driver_override)
{
	static const struct {
		const char *value;
		const char *want;
	} cases[] = {
		{ "(null)\n", NULL },
		{ "(null)", NULL },
		{ "", NULL },
		{ "\n", NULL },
		{ "vfio-pci\n", "vfio-pci" },
		{ "uio_pci_generic", "uio_pci_generic" },
	};
	_cleanup_tree_ struct tree t = { .fd = -EBADF };

	tree_new(&t);
	fake_dev(&t, "0000:00:02.0", 0x1b36, 0x0010, 0x010802);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;

		fake_attr(&t, "0000:00:02.0", "driver_override", cases[i].value);
		d = read_dev(&t, "0000:00:02.0");
		ASSERT_STREQ(d->driver_override, cases[i].want);
	}
}

TEST(pcidev_read_numa_node)
{
	static const struct {
		const char *value;
		int32_t want;
	} cases[] = {
		{ "-1\n", -1 }, { "0\n", 0 }, { "1\n", 1 },
		{ "3", 3 }, { "-5\n", -1 }, { "x\n", -1 },
	};
	_cleanup_tree_ struct tree t = { .fd = -EBADF };

	tree_new(&t);
	fake_dev(&t, "0000:00:02.0", 0x1b36, 0x0010, 0x010802);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;

		fake_attr(&t, "0000:00:02.0", "numa_node", cases[i].value);
		d = read_dev(&t, "0000:00:02.0");
		ASSERT_EQ(d->numa_node, cases[i].want);
	}
}

/* Attributes a function may lack are absent values, not errors. */
TEST(pcidev_read_minimal)
{
	static const char *const optional[] = {
		"subsystem_vendor", "subsystem_device", "revision", "numa_node", "driver_override",
		"current_link_speed", "current_link_width", "max_link_speed", "max_link_width",
		"reset_method", "config",
	};
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;

	tree_new(&t);
	fake_dev(&t, "0000:00:1f.3", 0x8086, 0x2930, 0x0c0500);
	for (size_t i = 0; i < ELEMENTSOF(optional); i++)
		fake_attr(&t, "0000:00:1f.3", optional[i], NULL);

	d = read_dev(&t, "0000:00:1f.3");
	ASSERT_EQ(d->vendor, 0x8086);
	ASSERT_EQ(d->device, 0x2930);
	ASSERT_EQ(d->class, 0x0c0500);
	ASSERT_EQ(d->subsystem_vendor, -1);
	ASSERT_EQ(d->subsystem_device, -1);
	ASSERT_EQ(d->revision, -1);
	ASSERT_EQ(d->header, _PCI_HEADER_INVALID);
	ASSERT_EQ(d->multifunction, -1);
	ASSERT_NULL(d->driver);
	ASSERT_NULL(d->driver_override);
	ASSERT_EQ(d->iommu_group, -1);
	ASSERT_EQ(d->numa_node, -1);
	ASSERT_EQ(d->boot_vga, -1);
	ASSERT_NULL(d->physfn);
	ASSERT_NULL(d->virtfns);
	ASSERT_EQ(d->sriov_numvfs, -1);
	ASSERT_EQ(d->sriov_totalvfs, -1);
	ASSERT_EQ(d->link.speed, 0);
	ASSERT_EQ(d->link.width, -1);
	ASSERT_EQ(d->max_link.speed, 0);
	ASSERT_EQ(d->max_link.width, -1);
	ASSERT_NULL(d->reset_methods);
}

/* An attribute that exists but refuses to be read is treated as absent. */
TEST(pcidev_read_unreadable)
{
	static const char *const attrs[] = {
		"subsystem_vendor", "subsystem_device", "revision", "numa_node", "driver_override",
		"current_link_speed", "current_link_width", "max_link_speed", "max_link_width",
		"reset_method", "config", "boot_vga", "sriov_totalvfs", "sriov_numvfs",
		"driver", "iommu_group", "physfn",
	};
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;

	tree_new(&t);
	fake_dev(&t, "0000:00:02.0", 0x1234, 0x1111, 0x030000);
	for (size_t i = 0; i < ELEMENTSOF(attrs); i++)
		fake_attr_unreadable(&t, "0000:00:02.0", attrs[i]);

	d = read_dev(&t, "0000:00:02.0");
	ASSERT_EQ(d->vendor, 0x1234);
	ASSERT_EQ(d->class, 0x030000);
	ASSERT_EQ(d->subsystem_vendor, -1);
	ASSERT_EQ(d->subsystem_device, -1);
	ASSERT_EQ(d->revision, -1);
	ASSERT_EQ(d->header, _PCI_HEADER_INVALID);
	ASSERT_EQ(d->multifunction, -1);
	ASSERT_NULL(d->driver);
	ASSERT_NULL(d->driver_override);
	ASSERT_EQ(d->iommu_group, -1);
	ASSERT_EQ(d->numa_node, -1);
	ASSERT_EQ(d->boot_vga, -1);
	ASSERT_NULL(d->physfn);
	ASSERT_NULL(d->virtfns);
	ASSERT_EQ(d->sriov_numvfs, -1);
	ASSERT_EQ(d->sriov_totalvfs, -1);
	ASSERT_EQ(d->link.speed, 0);
	ASSERT_EQ(d->link.width, -1);
	ASSERT_EQ(d->max_link.speed, 0);
	ASSERT_EQ(d->max_link.width, -1);
	ASSERT_NULL(d->reset_methods);
}

/* The identity is not optional: from config space, or without it from the attributes. */
TEST(pcidev_read_bad_identity)
{
	static const struct {
		const char *attr, *value;
		int error;
	} cases[] = {
		{ "vendor", NULL, ENOENT },
		{ "vendor", "0xzz\n", EINVAL },
		{ "vendor", "", EINVAL },
		{ "vendor", "0x\n", EINVAL },
		{ "vendor", "-0x1\n", EINVAL },
		{ "device", NULL, ENOENT },
		{ "device", "zz\n", EINVAL },
		{ "class", NULL, ENOENT },
		{ "class", "0x1000000000\n", ERANGE },
	};
	_cleanup_tree_ struct tree t = { .fd = -EBADF };

	tree_new(&t);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct pcidev *d = NULL;

		fake_dev(&t, "0000:00:02.0", 0x1b36, 0x0010, 0x010802);
		fake_attr(&t, "0000:00:02.0", "config", NULL);
		fake_attr(&t, "0000:00:02.0", cases[i].attr, cases[i].value);
		if (pcidev_read(t.sysfs, "0000:00:02.0", NULL, &d) != -cases[i].error)
			TEST_FAIL("%s \"%s\": expected -%d", cases[i].attr,
				  cases[i].value ?: "(absent)", cases[i].error);
		ASSERT_NULL(d);
	}
	{
		struct pcidev *d = NULL;

		fake_dev(&t, "0000:00:02.0", 0x1b36, 0x0010, 0x010802);
		fake_config(&t, "0000:00:02.0", 32, 0x00);	/* too short to say */
		fake_attr_unreadable(&t, "0000:00:02.0", "vendor");
		ASSERT_ERROR(pcidev_read(t.sysfs, "0000:00:02.0", NULL, &d), EISDIR);
		ASSERT_NULL(d);
	}
}

TEST(pcidev_read_gone)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	struct pcidev *d = NULL;
	char p[PATH_BUF], full[PATH_BUF];

	tree_new(&t);
	fake_dev(&t, "0000:00:02.0", 0x1b36, 0x0010, 0x010802);
	fake_dev(&t, "0000:00:03.0", 0x1b36, 0x0010, 0x010802);

	/* Never there (sysfs_pci_open()'s -ENODEV, as every typed accessor says it). */
	ASSERT_ERROR(pcidev_read(t.sysfs, "0000:00:04.0", NULL, &d), ENODEV);
	/* Gone: the bus link dangles. */
	rm_rf(pathf(full, "%s/%s", t.path, dev_path(p, "0000:00:02.0", NULL)));
	ASSERT_ERROR(pcidev_read(t.sysfs, "0000:00:02.0", NULL, &d), ENODEV);
	/* Not an address: never a path below the root. */
	ASSERT_ERROR(pcidev_read(t.sysfs, "0000:00:03.0\n", NULL, &d), EINVAL);
	ASSERT_ERROR(pcidev_read(t.sysfs, "../../../devices/pci0000:00/0000:00:03.0", NULL, &d), EINVAL);
	ASSERT_ERROR(pcidev_read(t.sysfs, "", NULL, &d), EINVAL);
	ASSERT_NULL(d);
}

TEST(pcidev_read_link)
{
	static const struct {
		const char *speed, *width;
		double want_speed;
		int want_width;
	} cases[] = {
		{ "Unknown\n", "0\n", 0, -1 },
		{ "Unknown speed\n", "1\n", 0, 1 },
		{ "16.0 GT/s PCIe\n", "16\n", 16.0, 16 },
		{ "2.5 GT/s\n", "1\n", 2.5, 1 },
		{ "32.0 GT/s PCIe\n", "x\n", 32.0, -1 },
		{ "5.0 GT/s PCIe\n", "-1\n", 5.0, -1 },
	};
	_cleanup_tree_ struct tree t = { .fd = -EBADF };

	tree_new(&t);
	fake_dev(&t, "0000:00:02.0", 0x1b36, 0x0010, 0x010802);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;

		fake_attr(&t, "0000:00:02.0", "current_link_speed", cases[i].speed);
		fake_attr(&t, "0000:00:02.0", "current_link_width", cases[i].width);
		fake_attr(&t, "0000:00:02.0", "max_link_speed", cases[i].speed);
		fake_attr(&t, "0000:00:02.0", "max_link_width", cases[i].width);
		d = read_dev(&t, "0000:00:02.0");
		if (!near(d->link.speed, cases[i].want_speed) ||
		    !near(d->max_link.speed, cases[i].want_speed))
			TEST_FAIL("speed \"%s\": %g/%g, expected %g", cases[i].speed,
				  d->link.speed, d->max_link.speed, cases[i].want_speed);
		ASSERT_EQ(d->link.width, cases[i].want_width);
		ASSERT_EQ(d->max_link.width, cases[i].want_width);
	}
}

/* With the whole first 256 bytes of config space, the link is read from the PCI Express
 * capability as the kernel computes its attributes (which here say otherwise, unread). */
/* A bridge's config space of n bytes: class, header type, and capabilities (id, next) at
 * 0x40, 0x50, 0x60 from caps[] (0: none), the SSVID one with 8086:7270. */
static void fake_bridge_config(const struct tree *t, const char *addr, uint8_t header,
			       uint32_t class, const uint8_t caps[3], size_t n)
{
	uint8_t cfg[256] = {
		[0x00] = 0x86, [0x01] = 0x80, [0x02] = 0x10, [0x03] = 0x1a,
		[0x09] = class & 0xff, [0x0a] = (class >> 8) & 0xff, [0x0b] = class >> 16,
		[0x0e] = header,
		/* CardBus: subsystem in the header */
		[0x40] = 0x86, [0x41] = 0x80, [0x42] = 0x34, [0x43] = 0x12,
	};
	char p[PATH_BUF];

	for (size_t i = 0; i < 3 && caps[i] && header == PCI_HEADER_TYPE_BRIDGE; i++) {
		size_t at = 0x40 + 0x10 * i;

		cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
		if (i == 0)
			cfg[PCI_CAPABILITY_LIST] = 0x40;
		cfg[at] = caps[i];
		cfg[at + 1] = i < 2 && caps[i + 1] ? (uint8_t)(at + 0x10) : 0;
		if (caps[i] == PCI_CAP_ID_SSVID) {
			cfg[at + 4] = 0x86, cfg[at + 5] = 0x80;
			cfg[at + 6] = 0x70, cfg[at + 7] = 0x72;
		}
	}
	write_file(t->fd, dev_path(p, addr, "config"), cfg, n);
}

/*
 * A bridge's subsystem ids as pci_setup_device() sets them: from its Subsystem ID capability
 * (0 without one, or past a capability that reads all-ones, where the kernel's walk stops);
 * from the attributes when config space could not be read far enough (64 bytes, not root);
 * a CardBus bridge's from its header, unless its class is not a CardBus bridge's.
 */
TEST(pcidev_read_bridge_subsystem)
{
	static const struct {
		uint8_t header;
		uint32_t class;
		uint8_t caps[3];
		size_t n;
		int32_t vendor, device;
	} cases[] = {
		{ PCI_HEADER_TYPE_BRIDGE, 0x060400, { PCI_CAP_ID_PM, PCI_CAP_ID_SSVID }, 256, 0x8086, 0x7270 },
		{ PCI_HEADER_TYPE_BRIDGE, 0x060400, { PCI_CAP_ID_PM }, 256, 0, 0 },
		{ PCI_HEADER_TYPE_BRIDGE, 0x060400, { PCI_CAP_ID_PM, 0xff, PCI_CAP_ID_SSVID }, 256, 0, 0 },
		{ PCI_HEADER_TYPE_BRIDGE, 0x060400, { PCI_CAP_ID_SSVID }, 64, 0x1af4, 0x1100 },
		{ PCI_HEADER_TYPE_CARDBUS, 0x060700, {}, 256, 0x8086, 0x1234 },
		{ PCI_HEADER_TYPE_CARDBUS, 0x060400, {}, 256, 0x1af4, 0x1100 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_tree_ struct tree t = { .fd = -EBADF };
		_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;

		tree_new(&t);
		/* The attributes say 1af4:1100 (fake_dev()): what only a fallback reads. */
		fake_dev(&t, "0000:00:1c.0", 0x8086, 0x1a10, cases[i].class);
		fake_bridge_config(&t, "0000:00:1c.0", cases[i].header, cases[i].class, cases[i].caps,
				   cases[i].n);
		d = read_dev(&t, "0000:00:1c.0");
		if (d->subsystem_vendor != cases[i].vendor || d->subsystem_device != cases[i].device)
			TEST_FAIL("case %zu: subsystem %04x:%04x, want %04x:%04x", i,
				  (unsigned)d->subsystem_vendor, (unsigned)d->subsystem_device,
				  (unsigned)cases[i].vendor, (unsigned)cases[i].device);
	}
}

TEST(pcidev_read_link_from_config)
{
	static const struct {
		unsigned version, type;
		uint32_t lnkcap, lnkcap2;
		uint16_t lnksta;
		double speed, max_speed;
		int width, max_width;
	} cases[] = {
		/* Link Capabilities 2's vector wins over Link Capabilities' code. */
		{ 2, PCI_EXP_TYPE_ENDPOINT, 0x0102, 0x3e, 0x0104, 16.0, 32.0, 16, 16 },
		/* Version 1: no Link Capabilities 2; only codes 1 and 2 are known there. */
		{ 1, PCI_EXP_TYPE_ENDPOINT, 0x0042, 0xfe, 0x0041, 2.5, 5.0, 4, 4 },
		{ 1, PCI_EXP_TYPE_LEG_END, 0x0043, 0, 0x0042, 5.0, 0, 4, 4 },
		/* A root port trained down; a link that is down (width 0) or unknown (63). */
		{ 2, PCI_EXP_TYPE_ROOT_PORT, 0x0084, 0x1e, 0x0013, 8.0, 16.0, 1, 8 },
		{ 2, PCI_EXP_TYPE_DOWNSTREAM, 0x0084, 0x1e, 0x0000, 0, 16.0, -1, 8 },
		{ 2, PCI_EXP_TYPE_UPSTREAM, 0x03f1, 0x02, 0x03f1, 2.5, 2.5, -1, -1 },
		/* Integrated endpoints and event collectors have no link registers. */
		{ 2, PCI_EXP_TYPE_RC_END, 0x0084, 0x1e, 0x0043, 0, 0, -1, -1 },
		{ 2, PCI_EXP_TYPE_RC_EC, 0x0084, 0x1e, 0x0043, 0, 0, -1, -1 },
	};
	_cleanup_tree_ struct tree t = { .fd = -EBADF };

	tree_new(&t);
	fake_dev(&t, "0000:00:02.0", 0x1b36, 0x0010, 0x010802);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;

		fake_config_pcie(&t, "0000:00:02.0", cases[i].version, cases[i].type, cases[i].lnkcap,
				 cases[i].lnksta, cases[i].lnkcap2);
		d = read_dev(&t, "0000:00:02.0");
		if (!near(d->link.speed, cases[i].speed) || !near(d->max_link.speed, cases[i].max_speed) ||
		    d->link.width != cases[i].width || d->max_link.width != cases[i].max_width)
			TEST_FAIL("case %zu: %g x%d / %g x%d, expected %g x%d / %g x%d", i, d->link.speed,
				  d->link.width, d->max_link.speed, d->max_link.width, cases[i].speed,
				  cases[i].width, cases[i].max_speed, cases[i].max_width);
	}
	{
		/* No capability list, or one that loops: no PCI Express capability, no link (the
		 * kernel shows no link attributes then). */
		_cleanup_(pcidev_unrefp) struct pcidev *a = NULL, *b = NULL;
		uint8_t cfg[256] = { 0x36, 0x1b, 0x10, 0x00 };
		char p[PATH_BUF];

		write_file(t.fd, dev_path(p, "0000:00:02.0", "config"), cfg, sizeof(cfg));
		a = read_dev(&t, "0000:00:02.0");
		ASSERT_EQ(a->link.speed, 0);
		ASSERT_EQ(a->link.width, -1);
		ASSERT_EQ(a->max_link.width, -1);
		cfg[PCI_STATUS] = PCI_STATUS_CAP_LIST;
		cfg[PCI_CAPABILITY_LIST] = 0x40;
		cfg[0x40] = PCI_CAP_ID_PM;
		cfg[0x41] = 0x40;	/* itself */
		write_file(t.fd, dev_path(p, "0000:00:02.0", "config"), cfg, sizeof(cfg));
		b = read_dev(&t, "0000:00:02.0");
		ASSERT_EQ(b->link.width, -1);
		ASSERT_EQ(b->max_link.width, -1);
	}
}

/* A function's Link Capabilities reading 0 makes the kernel print PCIE_LNK_WIDTH_UNKNOWN. */
TEST(pcidev_read_link_width_unknown)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;

	tree_new(&t);
	fake_dev(&t, "0000:00:03.0", 0x8086, 0x10d3, 0x020000);
	fake_attr(&t, "0000:00:03.0", "current_link_speed", "Unknown\n");
	fake_attr(&t, "0000:00:03.0", "current_link_width", "0\n");
	fake_attr(&t, "0000:00:03.0", "max_link_speed", "Unknown\n");
	fake_attr(&t, "0000:00:03.0", "max_link_width", "255\n");
	d = read_dev(&t, "0000:00:03.0");
	ASSERT_EQ(d->link.width, -1);
	ASSERT_EQ(d->max_link.width, -1);
}

TEST(pcidev_read_header)
{
	static const struct {
		size_t size;
		uint8_t header;
		enum pci_header want;
		int want_mf;
	} cases[] = {
		{ 64, 0x81, PCI_HEADER_BRIDGE, 1 },
		{ 64, 0x01, PCI_HEADER_BRIDGE, 0 },
		{ 256, 0x00, PCI_HEADER_ENDPOINT, 0 },
		{ 4096, 0x80, PCI_HEADER_ENDPOINT, 1 },
		{ 64, 0x02, PCI_HEADER_CARDBUS, 0 },
		{ 15, 0x81, PCI_HEADER_BRIDGE, 1 },	/* just enough bytes */
		{ 14, 0x81, _PCI_HEADER_INVALID, -1 },	/* too short */
		{ 0, 0x00, _PCI_HEADER_INVALID, -1 },
		{ 64, 0xff, _PCI_HEADER_INVALID, -1 },	/* all ones: cannot answer */
	};
	_cleanup_tree_ struct tree t = { .fd = -EBADF };

	tree_new(&t);
	fake_dev(&t, "0000:00:1c.0", 0x8086, 0x2918, 0x060400);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;

		fake_config(&t, "0000:00:1c.0", cases[i].size, cases[i].header);
		d = read_dev(&t, "0000:00:1c.0");
		if (d->header != cases[i].want || d->multifunction != cases[i].want_mf)
			TEST_FAIL("%zu bytes, header 0x%02x: header %d multifunction %d",
				  cases[i].size, cases[i].header, d->header, d->multifunction);
	}
	{
		_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;

		/* An unknown layout: no header type, but the multifunction bit is meaningful. */
		fake_config(&t, "0000:00:1c.0", 64, 0x03);
		d = read_dev(&t, "0000:00:1c.0");
		ASSERT_EQ(d->header, _PCI_HEADER_INVALID);
	}
}

TEST(pcidev_read_boot_vga_and_resets)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(pcidev_unrefp) struct pcidev *a = NULL, *b = NULL, *c = NULL;

	tree_new(&t);
	fake_dev(&t, "0000:00:02.0", 0x1234, 0x1111, 0x030000);
	fake_attr(&t, "0000:00:02.0", "boot_vga", "1\n");
	fake_attr(&t, "0000:00:02.0", "reset_method",
		  "device_specific  acpi\tflr pm bus cxl_bus\n");
	a = read_dev(&t, "0000:00:02.0");
	ASSERT_EQ(a->boot_vga, 1);
	ASSERT_TRUE(strv_equal(a->reset_methods,
			       STRV("device_specific", "acpi", "flr", "pm", "bus", "cxl_bus")));

	fake_attr(&t, "0000:00:02.0", "boot_vga", "0\n");
	fake_attr(&t, "0000:00:02.0", "reset_method", "pm\n");
	b = read_dev(&t, "0000:00:02.0");
	ASSERT_EQ(b->boot_vga, 0);
	ASSERT_TRUE(strv_equal(b->reset_methods, STRV("pm")));

	/* Present but empty: no method, which is not the same as "the kernel does not say". */
	fake_attr(&t, "0000:00:02.0", "reset_method", "\n");
	c = read_dev(&t, "0000:00:02.0");
	ASSERT_TRUE(strv_equal(c->reset_methods, STRV_EMPTY));
}

TEST(pcidev_read_sriov)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(pcidev_unrefp) struct pcidev *pf = NULL, *vf = NULL, *pf2 = NULL;

	tree_new(&t);
	fake_dev(&t, "0000:03:00.0", 0x8086, 0x1572, 0x020000);
	fake_attr(&t, "0000:03:00.0", "sriov_totalvfs", "4\n");
	fake_attr(&t, "0000:03:00.0", "sriov_numvfs", "3\n");
	/* VF indexes and addresses need not be in the same order. */
	fake_vf(&t, "0000:03:00.0", "0000:03:02.0", 0);
	fake_vf(&t, "0000:03:00.0", "0000:03:0a.0", 1);
	fake_vf(&t, "0000:03:00.0", "0000:03:02.1", 2);

	pf = read_dev(&t, "0000:03:00.0");
	ASSERT_TRUE(strv_equal(pf->virtfns, STRV("0000:03:02.0", "0000:03:0a.0", "0000:03:02.1")));
	ASSERT_EQ(pf->sriov_numvfs, 3);
	ASSERT_EQ(pf->sriov_totalvfs, 4);
	ASSERT_NULL(pf->physfn);

	vf = read_dev(&t, "0000:03:02.1");
	ASSERT_STREQ(vf->physfn, "0000:03:00.0");
	ASSERT_NULL(vf->virtfns);
	ASSERT_EQ(vf->sriov_numvfs, -1);

	/* The links stop at the first gap. */
	fake_attr(&t, "0000:03:00.0", "virtfn1", NULL);
	pf2 = read_dev(&t, "0000:03:00.0");
	ASSERT_TRUE(strv_equal(pf2->virtfns, STRV("0000:03:02.0")));
}

/* ============================================================================================
 * daemon/pcidev: JSON
 */

static const char *const device_keys[] = {
	"address", "vendor_id", "device_id", "subsystem_vendor_id", "subsystem_device_id",
	"class", "vendor_name", "device_name", "subsystem_vendor_name", "subsystem_name",
	"class_name", "subclass_name", "prog_if_name", "revision", "header_type", "multifunction",
	"driver", "driver_override", "iommu_group", "numa_node", "boot_vga", "physfn", "virtfns",
	"sriov_numvfs", "sriov_totalvfs", "siblings", "link", "reset_methods", "parent", "acs",
};

static const char *const link_keys[] = {
	"speed_gts", "width", "generation", "max_speed_gts", "max_width", "max_generation",
	"bandwidth_mbps", "max_bandwidth_mbps",
};

/* Exactly the keys of the varlink type. */
static void check_keys(json_object *o, const char *const *keys, size_t n)
{
	ASSERT_TRUE(json_object_is_type(o, json_type_object));
	for (size_t i = 0; i < n; i++)
		(void)jget(o, keys[i]);
	ASSERT_EQ(json_object_object_length(o), n);
}

static void check_strv_json(json_object *a, const char *const *want)
{
	size_t n = 0;

	ASSERT_NOT_NULL(a);
	ASSERT_TRUE(json_object_is_type(a, json_type_array));
	while (want[n])
		n++;
	ASSERT_EQ(json_object_array_length(a), n);
	for (size_t i = 0; i < n; i++)
		ASSERT_STREQ(json_object_get_string(json_object_array_get_idx(a, i)), want[i]);
}

TEST(pcidev_to_json_absent)
{
	static const char *const optional[] = {
		"subsystem_vendor", "subsystem_device", "revision", "numa_node", "driver_override",
		"current_link_speed", "current_link_width", "max_link_speed", "max_link_width",
		"reset_method", "config",
	};
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;
	_cleanup_json_ json_object *j = NULL;

	tree_new(&t);
	fake_dev(&t, "0000:00:1f.3", 0x8086, 0x2930, 0x0c0500);
	for (size_t i = 0; i < ELEMENTSOF(optional); i++)
		fake_attr(&t, "0000:00:1f.3", optional[i], NULL);
	d = read_dev(&t, "0000:00:1f.3");
	ASSERT_OK(pcidev_to_json(d, NULL, &j));

	check_keys(j, device_keys, ELEMENTSOF(device_keys));
	ASSERT_STREQ(jstr(j, "address"), "0000:00:1f.3");
	ASSERT_EQ(jint(j, "vendor_id", -1), 0x8086);
	ASSERT_EQ(jint(j, "device_id", -1), 0x2930);
	ASSERT_EQ(jint(j, "class", -1), 0x0c0500);
	/* Absent facts are null ... */
	ASSERT_NULL(jget(j, "subsystem_vendor_id"));
	ASSERT_NULL(jget(j, "subsystem_device_id"));
	ASSERT_NULL(jget(j, "revision"));
	ASSERT_NULL(jget(j, "header_type"));
	ASSERT_NULL(jget(j, "multifunction"));
	ASSERT_NULL(jget(j, "driver"));
	ASSERT_NULL(jget(j, "driver_override"));
	ASSERT_NULL(jget(j, "iommu_group"));
	ASSERT_NULL(jget(j, "numa_node"));
	ASSERT_NULL(jget(j, "boot_vga"));
	ASSERT_NULL(jget(j, "physfn"));
	ASSERT_NULL(jget(j, "sriov_numvfs"));
	ASSERT_NULL(jget(j, "sriov_totalvfs"));
	ASSERT_NULL(jget(j, "link"));
	ASSERT_NULL(jget(j, "reset_methods"));
	ASSERT_NULL(jget(j, "parent"));
	ASSERT_NULL(jget(j, "acs"));
	/* The names are the daemon's to look up (names_lookup()): none yet. */
	ASSERT_NULL(jget(j, "vendor_name"));
	ASSERT_NULL(jget(j, "class_name"));
	/* ... except the lists that are never optional. */
	check_strv_json(jget(j, "virtfns"), STRV_EMPTY);
	check_strv_json(jget(j, "siblings"), STRV_EMPTY);
}

TEST(pcidev_to_json_full)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(pcidev_unrefp) struct pcidev *pf = NULL, *vf = NULL;
	_cleanup_json_ json_object *j = NULL, *jv = NULL;
	json_object *l;

	tree_new(&t);
	fake_dev(&t, "0000:03:00.0", 0x8086, 0x1572, 0x020000);
	fake_attr(&t, "0000:03:00.0", "sriov_totalvfs", "8\n");
	fake_attr(&t, "0000:03:00.0", "sriov_numvfs", "1\n");
	fake_attr(&t, "0000:03:00.0", "numa_node", "0\n");
	fake_attr(&t, "0000:03:00.0", "boot_vga", "0\n");
	fake_attr(&t, "0000:03:00.0", "current_link_speed", "8.0 GT/s PCIe\n");
	fake_attr(&t, "0000:03:00.0", "current_link_width", "4\n");
	fake_attr(&t, "0000:03:00.0", "max_link_speed", "16.0 GT/s PCIe\n");
	fake_attr(&t, "0000:03:00.0", "max_link_width", "8\n");
	fake_config(&t, "0000:03:00.0", 64, 0x80);
	fake_bind(&t, "0000:03:00.0", "i40e");
	fake_group(&t, "0000:03:00.0", 0);
	fake_vf(&t, "0000:03:00.0", "0000:03:02.0", 0);
	/* A VF shows no link of its own on some kernels. */
	fake_attr(&t, "0000:03:02.0", "current_link_speed", NULL);
	fake_attr(&t, "0000:03:02.0", "current_link_width", NULL);
	fake_attr(&t, "0000:03:02.0", "max_link_speed", "Unknown\n");
	fake_attr(&t, "0000:03:02.0", "max_link_width", "0\n");

	pf = read_dev(&t, "0000:03:00.0");
	ASSERT_OK(pcidev_to_json(pf, (char *const[]){ (char *)"0000:03:00.1", NULL }, &j));
	check_keys(j, device_keys, ELEMENTSOF(device_keys));
	ASSERT_EQ(jint(j, "subsystem_vendor_id", -1), 0x1af4);
	ASSERT_EQ(jint(j, "subsystem_device_id", -1), 0x1100);
	ASSERT_EQ(jint(j, "revision", -1), 2);
	ASSERT_STREQ(jstr(j, "header_type"), "endpoint");
	ASSERT_TRUE(json_object_get_boolean(jget(j, "multifunction")));
	ASSERT_TRUE(json_object_is_type(jget(j, "multifunction"), json_type_boolean));
	ASSERT_STREQ(jstr(j, "driver"), "i40e");
	ASSERT_NULL(jget(j, "driver_override"));
	/* Group 0 and NUMA node 0 are values, not absences. */
	ASSERT_EQ(jint(j, "iommu_group", -1), 0);
	ASSERT_EQ(jint(j, "numa_node", -1), 0);
	/* The kernel shows boot_vga on VGA functions only: a NIC's is not looked at. */
	ASSERT_NULL(jget(j, "boot_vga"));
	ASSERT_NULL(jget(j, "physfn"));
	check_strv_json(jget(j, "virtfns"), STRV("0000:03:02.0"));
	ASSERT_EQ(jint(j, "sriov_numvfs", -1), 1);
	ASSERT_EQ(jint(j, "sriov_totalvfs", -1), 8);
	check_strv_json(jget(j, "siblings"), STRV("0000:03:00.1"));
	check_strv_json(jget(j, "reset_methods"), STRV("flr", "bus"));

	l = jget(j, "link");
	check_keys(l, link_keys, ELEMENTSOF(link_keys));
	ASSERT_TRUE(near(json_object_get_double(jget(l, "speed_gts")), 8.0));
	ASSERT_EQ(jint(l, "width", -1), 4);
	ASSERT_EQ(jint(l, "generation", -1), 3);
	ASSERT_TRUE(near(json_object_get_double(jget(l, "max_speed_gts")), 16.0));
	ASSERT_EQ(jint(l, "max_width", -1), 8);
	ASSERT_EQ(jint(l, "max_generation", -1), 4);
	ASSERT_EQ(jint(l, "bandwidth_mbps", -1), 985 * 4);
	ASSERT_EQ(jint(l, "max_bandwidth_mbps", -1), 1969 * 8);

	vf = read_dev(&t, "0000:03:02.0");
	ASSERT_OK(pcidev_to_json(vf, NULL, &jv));
	check_keys(jv, device_keys, ELEMENTSOF(device_keys));
	ASSERT_STREQ(jstr(jv, "physfn"), "0000:03:00.0");
	check_strv_json(jget(jv, "virtfns"), STRV_EMPTY);
	ASSERT_NULL(jget(jv, "iommu_group"));
	ASSERT_NULL(jget(jv, "link"));	/* nothing known about it */
}

TEST(pcidev_to_json_partial_link)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(pcidev_unrefp) struct pcidev *d = NULL;
	_cleanup_json_ json_object *j = NULL;
	json_object *l;

	tree_new(&t);
	fake_dev(&t, "0000:00:02.0", 0x1b36, 0x000c, 0x060400);
	fake_attr(&t, "0000:00:02.0", "current_link_speed", "Unknown\n");
	fake_attr(&t, "0000:00:02.0", "current_link_width", "0\n");
	/* A rate that is no PCIe generation. */
	fake_attr(&t, "0000:00:02.0", "max_link_speed", "3.0 GT/s PCIe\n");
	fake_attr(&t, "0000:00:02.0", "max_link_width", "32\n");
	d = read_dev(&t, "0000:00:02.0");
	ASSERT_OK(pcidev_to_json(d, NULL, &j));
	l = jget(j, "link");
	check_keys(l, link_keys, ELEMENTSOF(link_keys));
	ASSERT_NULL(jget(l, "speed_gts"));
	ASSERT_NULL(jget(l, "width"));
	ASSERT_NULL(jget(l, "generation"));
	ASSERT_TRUE(near(json_object_get_double(jget(l, "max_speed_gts")), 3.0));
	ASSERT_EQ(jint(l, "max_width", -1), 32);
	ASSERT_NULL(jget(l, "max_generation"));
	ASSERT_NULL(jget(l, "bandwidth_mbps"));
	ASSERT_NULL(jget(l, "max_bandwidth_mbps"));
}

/* ============================================================================================
 * daemon/model on synthetic trees
 */

TEST(model_scan_skips_bad_functions)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(model_done) struct model m = {};
	char p[PATH_BUF];

	tree_new(&t);
	fake_dev(&t, "0000:00:00.0", 0x8086, 0x29c0, 0x060000);
	/* No config space to read: the attributes are the identity. */
	fake_dev(&t, "0000:00:01.0", 0x1b36, 0x0010, 0x010802);
	fake_attr(&t, "0000:00:01.0", "config", NULL);
	fake_attr(&t, "0000:00:01.0", "vendor", NULL);
	fake_dev(&t, "0000:00:02.0", 0x1b36, 0x0010, 0x010802);
	fake_attr(&t, "0000:00:02.0", "config", NULL);
	fake_attr(&t, "0000:00:02.0", "vendor", "0xzz\n");
	fake_dev(&t, "0000:00:03.0", 0x1b36, 0x0010, 0x010802);
	fake_attr(&t, "0000:00:03.0", "config", NULL);
	fake_attr(&t, "0000:00:03.0", "vendor", "");
	fake_dev(&t, "0000:00:04.0", 0x1b36, 0x0010, 0x010802);
	fake_attr(&t, "0000:00:04.0", "config", NULL);
	fake_attr_unreadable(&t, "0000:00:04.0", "vendor");
	fake_dev(&t, "0000:00:05.0", 0x1b36, 0x0010, 0x010802);
	rm_rf(pathf(p, "%s/%s", t.path, "devices/pci0000:00/0000:00:05.0"));	/* dangling */
	fake_dev(&t, "0000:00:06.0", 0x8086, 0x10d3, 0x020000);
	/* Not an address: never read. */
	symlink_rel(t.fd, "bus/pci/devices/junk", "devices/pci0000:00/0000:00:06.0");

	ASSERT_OK(model_scan(&m, t.sysfs));
	check_model(&m);
	ASSERT_EQ(m.n_devs, 2);
	ASSERT_STREQ(m.devs[0]->address, "0000:00:00.0");
	ASSERT_STREQ(m.devs[1]->address, "0000:00:06.0");
	ASSERT_EQ(m.devs[1]->vendor, 0x8086);
	ASSERT_EQ(m.n_groups, 0);
}

TEST(model_scan_no_groups)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(model_done) struct model m = {};

	tree_new(&t);
	fake_dev(&t, "0000:00:00.0", 0x8086, 0x29c0, 0x060000);
	/* kernel/iommu_groups absent ... */
	ASSERT_OK(model_scan(&m, t.sysfs));
	ASSERT_EQ(m.n_devs, 1);
	ASSERT_EQ(m.n_groups, 0);
	ASSERT_NULL(model_find_group(&m, 0));
	/* ... or empty. */
	mkdir_p(t.fd, "kernel/iommu_groups");
	ASSERT_OK(model_scan(&m, t.sysfs));
	ASSERT_EQ(m.n_devs, 1);
	ASSERT_EQ(m.n_groups, 0);
	/* Entries that are no group number are left out. */
	mkdir_p(t.fd, "kernel/iommu_groups/foo/devices");
	ASSERT_OK(model_scan(&m, t.sysfs));
	ASSERT_EQ(m.n_groups, 0);
	check_model(&m);
}

TEST(model_scan_failure_keeps_model)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(model_done) struct model m = {};

	tree_new(&t);
	fake_dev(&t, "0000:00:00.0", 0x8086, 0x29c0, 0x060000);
	fake_group(&t, "0000:00:00.0", 0);
	ASSERT_OK(model_scan(&m, t.sysfs));
	ASSERT_EQ(m.n_devs, 1);
	ASSERT_EQ(m.n_groups, 1);

	ASSERT_OK(renameat(t.fd, "bus/pci/devices", t.fd, "bus/pci/devices.away"));
	ASSERT_ERROR(model_scan(&m, t.sysfs), ENOENT);
	ASSERT_EQ(m.n_devs, 1);
	ASSERT_EQ(m.n_groups, 1);
	ASSERT_NOT_NULL(model_find(&m, "0000:00:00.0"));
	check_model(&m);
}

TEST(model_scan_order_and_siblings)
{
	static const char *const order[] = {
		"0000:00:00.0", "0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3", "0000:0a:00.0",
		"0001:00:00.0", "ffff:00:00.0", "10000:00:00.0", "10000:00:02.0", "10000:e1:00.0",
	};
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(model_done) struct model m = {};
	_cleanup_strv_free_ char **s1 = NULL, **s2 = NULL, **s3 = NULL, **s4 = NULL;
	struct pcidev other = { .address = "0000:00:1f.1" };

	tree_new(&t);
	/* Created in reverse, and strcmp order puts "10000:" before "ffff:". */
	for (size_t i = ELEMENTSOF(order); i > 0; i--)
		fake_dev(&t, order[i - 1], 0x8086, 0x1000 + (uint32_t)i, 0x020000);
	ASSERT_OK(model_scan(&m, t.sysfs));
	check_model(&m);
	ASSERT_EQ(m.n_devs, ELEMENTSOF(order));
	for (size_t i = 0; i < ELEMENTSOF(order); i++)
		ASSERT_STREQ(m.devs[i]->address, order[i]);
	ASSERT_NULL(model_find(&m, "0000:00:01.0"));
	ASSERT_NULL(model_find(&m, "1000:00:00.0"));

	ASSERT_OK(model_siblings(&m, model_find(&m, "0000:00:1f.0"), &s1));
	ASSERT_TRUE(strv_equal(s1, STRV("0000:00:1f.2", "0000:00:1f.3")));
	ASSERT_OK(model_siblings(&m, model_find(&m, "0000:00:1f.2"), &s2));
	ASSERT_TRUE(strv_equal(s2, STRV("0000:00:1f.0", "0000:00:1f.3")));
	ASSERT_OK(model_siblings(&m, model_find(&m, "0000:00:1f.3"), &s3));
	ASSERT_TRUE(strv_equal(s3, STRV("0000:00:1f.0", "0000:00:1f.2")));
	ASSERT_OK(model_siblings(&m, model_find(&m, "0000:00:00.0"), &s4));
	ASSERT_NULL(s4);
	/* A function the model does not have has no siblings. */
	s4 = (char **)1;
	ASSERT_OK(model_siblings(&m, &other, &s4));
	ASSERT_NULL(s4);
}

/*
 * A whole scan's VFs: each has its physfn, and the ids the kernel gives a VF (the PF's vendor
 * and VF device id) whatever its own config space says; a PF's virtfns are its VFs up to
 * sriov_numvfs, in VF index order, which is their address order (the offset and stride of
 * the SR-IOV capability are positive). A VF its PF does not count yet (one appearing as the
 * scan ran) is still a VF.
 */
TEST(model_scan_vfs)
{
	static const uint8_t all_ones[64] = { 0xff, 0xff, 0xff, 0xff, [0x08] = 0x02, [0x0b] = 0x02 };
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(model_done) struct model m = {};
	const struct pcidev *pf, *vf;
	char p[PATH_BUF], target[PATH_BUF];

	tree_new(&t);
	fake_dev(&t, "0000:03:00.0", 0x8086, 0x1572, 0x020000);
	fake_attr(&t, "0000:03:00.0", "sriov_totalvfs", "4\n");
	fake_attr(&t, "0000:03:00.0", "sriov_numvfs", "3\n");
	fake_attr(&t, "0000:03:00.0", "sriov_vf_device", "154c\n");
	/* Config space with real ids, as QEMU's VFs have. */
	fake_vf(&t, "0000:03:00.0", "0000:03:02.0", 0);
	fake_vf(&t, "0000:03:00.0", "0000:03:02.1", 1);
	fake_vf(&t, "0000:03:00.0", "0000:03:0a.0", 2);
	/* The fourth: all-ones ids, a physfn link, not counted by the PF yet. */
	fake_dev(&t, "0000:03:0a.1", 0x8086, 0x154c, 0x020000);
	write_file(t.fd, dev_path(p, "0000:03:0a.1", "config"), all_ones, sizeof(all_ones));
	symlink_rel(t.fd, dev_path(p, "0000:03:0a.1", "physfn"), dev_path(target, "0000:03:00.0", NULL));
	fake_dev(&t, "0000:04:00.0", 0x8086, 0x10d3, 0x020000);

	ASSERT_OK(model_scan(&m, t.sysfs));
	check_model(&m);
	ASSERT_NOT_NULL(pf = model_find(&m, "0000:03:00.0"));
	ASSERT_NULL(pf->physfn);
	ASSERT_TRUE(strv_equal(pf->virtfns, STRV("0000:03:02.0", "0000:03:02.1", "0000:03:0a.0")));
	for (size_t i = 0; i < 4; i++) {
		ASSERT_NOT_NULL(vf = model_find(&m, (const char *[]){ "0000:03:02.0", "0000:03:02.1",
								      "0000:03:0a.0", "0000:03:0a.1" }[i]));
		ASSERT_STREQ(vf->physfn, "0000:03:00.0");
		ASSERT_EQ(vf->vendor, 0x8086u);
		ASSERT_EQ(vf->device, 0x154cu);
		ASSERT_EQ(vf->sriov_totalvfs, -1);
		ASSERT_NULL(vf->virtfns);
	}
	ASSERT_EQ(model_find(&m, "0000:03:0a.1")->class, 0x020000u);
	ASSERT_NULL(model_find(&m, "0000:04:00.0")->physfn);
	ASSERT_EQ(model_find(&m, "0000:04:00.0")->device, 0x10d3u);
}

TEST(model_refresh)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(model_done) struct model m = {};
	const struct iommu_group *g;
	struct pcidev *d = NULL, *pf;
	size_t n;

	tree_new(&t);
	fake_dev(&t, "0000:00:00.0", 0x8086, 0x29c0, 0x060000);
	fake_group(&t, "0000:00:00.0", 0);
	fake_dev(&t, "0000:00:02.0", 0x8086, 0x1572, 0x020000);
	fake_attr(&t, "0000:00:02.0", "sriov_totalvfs", "4\n");
	fake_attr(&t, "0000:00:02.0", "sriov_numvfs", "0\n");
	fake_bind(&t, "0000:00:02.0", "i40e");
	fake_group(&t, "0000:00:02.0", 1);
	fake_dev(&t, "0000:00:03.0", 0x8086, 0x10d3, 0x020000);
	fake_group(&t, "0000:00:03.0", 2);
	fake_dev(&t, "ffff:00:00.0", 0x8086, 0x10d3, 0x020000);
	fake_dev(&t, "10000:00:00.0", 0x144d, 0xa808, 0x010802);
	fake_group(&t, "10000:00:00.0", 20);
	ASSERT_OK(model_scan(&m, t.sysfs));
	check_model(&m);
	ASSERT_EQ(m.n_devs, 5);
	ASSERT_EQ(m.n_groups, 4);

	/* Invalid addresses are refused. */
	ASSERT_ERROR(model_refresh(&m, t.sysfs, "0000:00:03.0\n", NULL, NULL), EINVAL);

	/* The counts GetStatus shows: kept between calls, and counted again after a change. */
	ASSERT_EQ(model_counts(&m)->bound, 1);
	ASSERT_TRUE(model_counts(&m) == model_counts(&m));
	ASSERT_EQ(model_counts(&m)->n_types, 1);
	ASSERT_EQ(model_counts(&m)->types[0].n, 4);

	/* Bind. */
	{
		_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;

		fake_bind(&t, "0000:00:03.0", "vfio-pci");
		fake_attr(&t, "0000:00:03.0", "driver_override", "vfio-pci\n");
		ASSERT_OK(model_refresh(&m, t.sysfs, "0000:00:03.0", &old, &d));
		ASSERT_NOT_NULL(old);
		ASSERT_NOT_NULL(d);
		ASSERT_TRUE(old != d);
		ASSERT_NULL(old->driver);
		ASSERT_NULL(old->driver_override);
		ASSERT_STREQ(d->driver, "vfio-pci");
		ASSERT_STREQ(d->driver_override, "vfio-pci");
		ASSERT_TRUE(model_find(&m, "0000:00:03.0") == d);
		ASSERT_EQ(m.n_devs, 5);
		ASSERT_EQ(model_counts(&m)->bound, 2);
		check_model(&m);
	}
	/* Unbind. */
	{
		_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;

		fake_unbind(&t, "0000:00:03.0", "vfio-pci");
		ASSERT_OK(model_refresh(&m, t.sysfs, "0000:00:03.0", &old, &d));
		ASSERT_STREQ(old->driver, "vfio-pci");
		ASSERT_NOT_NULL(d);
		ASSERT_NULL(d->driver);
		ASSERT_TRUE(model_find(&m, "0000:00:03.0") == d);
		check_model(&m);
	}
	/* A new function in an existing group. */
	{
		_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;

		fake_dev(&t, "0000:00:03.1", 0x8086, 0x10d3, 0x020000);
		fake_group(&t, "0000:00:03.1", 2);
		ASSERT_OK(model_refresh(&m, t.sysfs, "0000:00:03.1", &old, &d));
		ASSERT_NULL(old);
		ASSERT_NOT_NULL(d);
		ASSERT_EQ(d->iommu_group, 2);
		ASSERT_EQ(m.n_devs, 6);
		ASSERT_TRUE(m.devs[3] == d);
		g = model_find_group(&m, 2);
		ASSERT_NOT_NULL(g);
		ASSERT_TRUE(strv_equal(g->members, STRV("0000:00:03.0", "0000:00:03.1")));
		ASSERT_EQ(g->n_members, 2);
		check_model(&m);
	}
	/* A VF appears: its PF's links and count follow, its new group appears. */
	{
		_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;

		fake_vf(&t, "0000:00:02.0", "0000:00:02.1", 0);
		fake_attr(&t, "0000:00:02.0", "sriov_numvfs", "1\n");
		fake_group(&t, "0000:00:02.1", 9);
		n = m.n_groups;
		ASSERT_OK(model_refresh(&m, t.sysfs, "0000:00:02.1", &old, &d));
		ASSERT_NULL(old);
		ASSERT_NOT_NULL(d);
		ASSERT_STREQ(d->physfn, "0000:00:02.0");
		ASSERT_TRUE(model_find(&m, "0000:00:02.1") == d);
		pf = model_find(&m, "0000:00:02.0");
		ASSERT_NOT_NULL(pf);
		ASSERT_TRUE(strv_equal(pf->virtfns, STRV("0000:00:02.1")));
		ASSERT_EQ(pf->sriov_numvfs, 1);
		ASSERT_STREQ(pf->driver, "i40e");
		ASSERT_EQ(m.n_groups, n + 1);
		g = model_find_group(&m, 9);
		ASSERT_NOT_NULL(g);
		ASSERT_STREQ(g->type, "DMA");
		ASSERT_TRUE(strv_equal(g->members, STRV("0000:00:02.1")));
		ASSERT_EQ(m.n_devs, 7);
		check_model(&m);
	}
	/* A function goes: its group keeps the others. */
	{
		_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;

		fake_remove(&t, "0000:00:03.1", 2);
		ASSERT_OK(model_refresh(&m, t.sysfs, "0000:00:03.1", &old, &d));
		ASSERT_NOT_NULL(old);
		ASSERT_STREQ(old->address, "0000:00:03.1");
		ASSERT_EQ(old->iommu_group, 2);
		ASSERT_NULL(d);
		ASSERT_NULL(model_find(&m, "0000:00:03.1"));
		ASSERT_EQ(m.n_devs, 6);
		g = model_find_group(&m, 2);
		ASSERT_NOT_NULL(g);
		ASSERT_TRUE(strv_equal(g->members, STRV("0000:00:03.0")));
		check_model(&m);
	}
	/* The VF goes with its group: the PF's links follow, the group is gone. */
	{
		_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;
		char p[PATH_BUF], full[PATH_BUF];

		fake_remove(&t, "0000:00:02.1", 9);
		rm_rf(pathf(full, "%s/%s", t.path, pathf(p, "kernel/iommu_groups/9")));
		fake_attr(&t, "0000:00:02.0", "virtfn0", NULL);
		fake_attr(&t, "0000:00:02.0", "sriov_numvfs", "0\n");
		n = m.n_groups;
		ASSERT_OK(model_refresh(&m, t.sysfs, "0000:00:02.1", &old, &d));
		ASSERT_NOT_NULL(old);
		ASSERT_STREQ(old->physfn, "0000:00:02.0");
		ASSERT_NULL(d);
		ASSERT_NULL(model_find(&m, "0000:00:02.1"));
		ASSERT_NULL(model_find_group(&m, 9));
		ASSERT_EQ(m.n_groups, n - 1);
		pf = model_find(&m, "0000:00:02.0");
		ASSERT_NOT_NULL(pf);
		ASSERT_TRUE(strv_equal(pf->virtfns, STRV_EMPTY));
		ASSERT_EQ(pf->sriov_numvfs, 0);
		check_model(&m);
	}
	/* VMD domains: inserted after every four-digit domain. */
	{
		_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;

		fake_dev(&t, "10000:00:01.0", 0x144d, 0xa808, 0x010802);
		fake_group(&t, "10000:00:01.0", 21);
		ASSERT_OK(model_refresh(&m, t.sysfs, "10000:00:01.0", &old, &d));
		ASSERT_NULL(old);
		ASSERT_TRUE(m.devs[m.n_devs - 1] == d);
		ASSERT_STREQ(m.devs[m.n_devs - 2]->address, "10000:00:00.0");
		ASSERT_STREQ(m.devs[m.n_devs - 3]->address, "ffff:00:00.0");
		ASSERT_NOT_NULL(model_find_group(&m, 21));
		check_model(&m);
	}
	{
		_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;

		fake_dev(&t, "fffe:00:00.0", 0x8086, 0x10d3, 0x020000);
		ASSERT_OK(model_refresh(&m, t.sysfs, "fffe:00:00.0", &old, &d));
		ASSERT_NULL(old);
		ASSERT_TRUE(m.devs[m.n_devs - 4] == d);
		ASSERT_EQ(m.n_devs, 7);
		check_model(&m);
	}
	/* A function that never was: nothing changes. */
	{
		struct pcidev *old = (struct pcidev *)1;

		d = (struct pcidev *)1;
		ASSERT_OK(model_refresh(&m, t.sysfs, "0000:00:1f.0", &old, &d));
		ASSERT_NULL(old);
		ASSERT_NULL(d);
		ASSERT_EQ(m.n_devs, 7);
	}
	/* A function moving between groups leaves the old one and joins the new one. */
	{
		_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;
		char p[PATH_BUF];

		remove_at(t.fd, pathf(p, "kernel/iommu_groups/2/devices/0000:00:03.0"));
		fake_group(&t, "0000:00:03.0", 30);
		ASSERT_OK(model_refresh(&m, t.sysfs, "0000:00:03.0", &old, NULL));
		ASSERT_EQ(old->iommu_group, 2);
		ASSERT_EQ(model_find(&m, "0000:00:03.0")->iommu_group, 30);
		g = model_find_group(&m, 2);
		ASSERT_TRUE(!g || g->n_members == 0);
		g = model_find_group(&m, 30);
		ASSERT_NOT_NULL(g);
		ASSERT_TRUE(strv_equal(g->members, STRV("0000:00:03.0")));
	}
}

TEST(model_refresh_group)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(model_done) struct model m = {};
	const struct iommu_group *g;
	char p[PATH_BUF], full[PATH_BUF];

	tree_new(&t);
	fake_dev(&t, "0000:00:00.0", 0x8086, 0x29c0, 0x060000);
	fake_group(&t, "0000:00:00.0", 5);
	fake_dev(&t, "0000:00:01.0", 0x8086, 0x29c0, 0x060000);
	fake_group(&t, "0000:00:01.0", 3);
	ASSERT_OK(model_scan(&m, t.sysfs));
	ASSERT_EQ(m.n_groups, 2);

	/* A group without type is still a group. */
	write_str(t.fd, "kernel/iommu_groups/4/devices/.keep", "");
	remove_at(t.fd, "kernel/iommu_groups/4/devices/.keep");
	ASSERT_OK(model_refresh_group(&m, t.sysfs, 4));
	ASSERT_EQ(m.n_groups, 3);
	ASSERT_EQ(m.groups[0].id, 3);
	ASSERT_EQ(m.groups[1].id, 4);
	ASSERT_EQ(m.groups[2].id, 5);
	g = model_find_group(&m, 4);
	ASSERT_NOT_NULL(g);
	ASSERT_NULL(g->type);
	ASSERT_EQ(g->n_members, 0);
	ASSERT_NOT_NULL(g->members);

	/* Gone with its directory. */
	rm_rf(pathf(full, "%s/%s", t.path, pathf(p, "kernel/iommu_groups/3")));
	ASSERT_OK(model_refresh_group(&m, t.sysfs, 3));
	ASSERT_EQ(m.n_groups, 2);
	ASSERT_NULL(model_find_group(&m, 3));
	ASSERT_OK(model_refresh_group(&m, t.sysfs, 3));	/* again: nothing to do */
	ASSERT_EQ(m.n_groups, 2);
	ASSERT_OK(model_refresh_group(&m, t.sysfs, 1000));
	ASSERT_EQ(m.n_groups, 2);
	ASSERT_EQ(m.groups[0].id, 4);
	ASSERT_EQ(m.groups[1].id, 5);
}

/* ============================================================================================
 * daemon/host on synthetic trees
 */

TEST(host_facts_synthetic)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	_cleanup_(host_facts_done) struct host_facts a = {}, b = {}, c = {}, e = {};
	struct utsname u;

	tree_new(&t);
	ASSERT_OK(uname(&u));

	/* Nothing at all: no IOMMU, no lockdown LSM, no vfio. */
	ASSERT_OK(host_facts_read(t.sysfs, &a));
	ASSERT_EQ(a.n_iommu_units, 0);
	ASSERT_NULL(a.lockdown);
	ASSERT_EQ(a.noiommu, -1);
	ASSERT_STREQ(a.kernel, u.release);
	ASSERT_EQ(a.dma_ownership, kernel_release_at_least(u.release, 5, 19));

	mkdir_p(t.fd, "class/iommu/ivhd1");
	mkdir_p(t.fd, "class/iommu/ivhd0");
	write_str(t.fd, "kernel/security/lockdown", "none [integrity] confidentiality\n");
	write_str(t.fd, "module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n");
	ASSERT_OK(host_facts_read(t.sysfs, &b));
	ASSERT_EQ(b.n_iommu_units, 2);
	ASSERT_TRUE(strv_equal(b.iommu_units, STRV("ivhd0", "ivhd1")));
	ASSERT_STREQ(b.lockdown, "integrity");
	ASSERT_EQ(b.noiommu, 1);

	write_str(t.fd, "module/vfio/parameters/enable_unsafe_noiommu_mode", "N\n");
	write_str(t.fd, "kernel/security/lockdown", "garbage\n");
	ASSERT_OK(host_facts_read(t.sysfs, &c));
	ASSERT_EQ(c.noiommu, 0);
	ASSERT_NULL(c.lockdown);

	/* host_facts_done() leaves a reusable, empty record. */
	host_facts_done(&c);
	ASSERT_NULL(c.iommu_units);
	ASSERT_EQ(c.n_iommu_units, 0);
	ASSERT_EQ(c.noiommu, -1);

	/* class/iommu empty. */
	rm_rf(pathf((char[PATH_BUF]){}, "%s/class/iommu/ivhd0", t.path));
	rm_rf(pathf((char[PATH_BUF]){}, "%s/class/iommu/ivhd1", t.path));
	ASSERT_OK(host_facts_read(t.sysfs, &e));
	ASSERT_EQ(e.n_iommu_units, 0);
	ASSERT_EQ(e.noiommu, 0);
}

/* Interrupt remapping (VT-d ECAP, else the irq chips) and vfio_iommu_type1's opt-out. */
TEST(host_facts_interrupts)
{
	_cleanup_tree_ struct tree t = { .fd = -EBADF };
	struct host_facts h = HOST_FACTS_INIT;

	tree_new(&t);
	ASSERT_OK(host_facts_read(t.sysfs, &h));
	ASSERT_EQ(h.interrupt_remapping, -1);	/* no IOMMU */
	ASSERT_EQ(h.unsafe_interrupts, -1);
	host_facts_done(&h);

	/* An AMD unit: the irq chips say, the first "IR-" one is enough. */
	mkdir_p(t.fd, "class/iommu/ivhd0/amd-iommu");
	write_str(t.fd, "class/iommu/ivhd0/amd-iommu/features", "25bf732fa2295afe:53\n");
	write_str(t.fd, "kernel/irq/0/chip_name", "IR-IO-APIC\n");
	write_str(t.fd, "kernel/irq/24/chip_name", "PCI-MSIX-0000:00:00.2\n");
	write_str(t.fd, "module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n");
	ASSERT_OK(host_facts_read(t.sysfs, &h));
	ASSERT_EQ(h.interrupt_remapping, 1);
	ASSERT_EQ(h.unsafe_interrupts, 0);
	host_facts_done(&h);

	write_str(t.fd, "kernel/irq/0/chip_name", "IO-APIC\n");
	write_str(t.fd, "module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "Y\n");
	ASSERT_OK(host_facts_read(t.sysfs, &h));
	ASSERT_EQ(h.interrupt_remapping, 0);
	ASSERT_EQ(h.unsafe_interrupts, 1);
	host_facts_done(&h);

	/* Chips that say neither; an irq without chip_name is skipped. */
	write_str(t.fd, "kernel/irq/0/chip_name", "AMD-Vi\n");
	write_str(t.fd, "kernel/irq/24/chip_name", "HPET-MSI\n");
	mkdir_p(t.fd, "kernel/irq/9");
	ASSERT_OK(host_facts_read(t.sysfs, &h));
	ASSERT_EQ(h.interrupt_remapping, -1);
	host_facts_done(&h);

	/* A VT-d unit decides by its ECAP, whatever the chips say (the rule kept for Intel). */
	mkdir_p(t.fd, "class/iommu/dmar0/intel-iommu");
	write_str(t.fd, "class/iommu/dmar0/intel-iommu/ecap", "f00f56\n");
	write_str(t.fd, "kernel/irq/0/chip_name", "IR-IO-APIC\n");
	ASSERT_OK(host_facts_read(t.sysfs, &h));
	ASSERT_EQ(h.interrupt_remapping, 0);
	host_facts_done(&h);
	write_str(t.fd, "class/iommu/dmar0/intel-iommu/ecap", "f00f5e\n");
	write_str(t.fd, "kernel/irq/0/chip_name", "IO-APIC\n");
	ASSERT_OK(host_facts_read(t.sysfs, &h));
	ASSERT_EQ(h.interrupt_remapping, 1);
	host_facts_done(&h);
}

/* ============================================================================================
 * Real-kernel snapshots
 */

TEST(fixture_q35_iommu_claimed)
{
	_cleanup_fixture_ struct fixture f = { .tree.fd = -EBADF };
	_cleanup_strv_free_ char **s05 = NULL, **s051 = NULL, **s1f = NULL, **s03 = NULL,
		**s02 = NULL, **s021 = NULL;
	const struct iommu_group *g;
	struct pcidev *d;
	char buf[256];

	fixture_load(&f, "q35-iommu-claimed");
	check_facts(&f, 21, 14);
	group_types_are(&f.model, "DMA-FQ");

	/* The SR-IOV PF and its two VFs, in VF order. */
	d = fixture_dev(&f, "0000:02:00.0");
	ASSERT_STREQ(d->driver, "nvme");
	ASSERT_TRUE(strv_equal(d->virtfns, STRV("0000:02:00.1", "0000:02:00.2")));
	ASSERT_EQ(d->sriov_numvfs, 2);
	ASSERT_EQ(d->sriov_totalvfs, 2);
	ASSERT_NULL(d->physfn);
	ASSERT_TRUE(strv_equal(d->reset_methods, STRV("flr", "bus")));
	ASSERT_EQ(d->header, PCI_HEADER_ENDPOINT);

	/* A VF's config space reads ffff:ffff; its identity comes from the attributes. */
	fixture_file(&f, "bus/pci/devices/0000:02:00.1/config", buf, sizeof(buf));
	ASSERT_EQ((uint8_t)buf[0], 0xff);
	ASSERT_EQ((uint8_t)buf[1], 0xff);
	d = fixture_dev(&f, "0000:02:00.1");
	ASSERT_STREQ(d->physfn, "0000:02:00.0");
	ASSERT_EQ(d->vendor, 0x1b36);
	ASSERT_EQ(d->device, 0x0010);
	ASSERT_EQ(d->class, 0x010802);
	ASSERT_STREQ(d->driver, "vfio-pci");
	ASSERT_STREQ(d->driver_override, "vfio-pci");
	ASSERT_EQ(d->iommu_group, 12);
	ASSERT_NULL(d->virtfns);
	ASSERT_EQ(d->sriov_numvfs, -1);
	ASSERT_TRUE(strv_equal(d->reset_methods, STRV("flr")));
	d = fixture_dev(&f, "0000:02:00.2");
	ASSERT_STREQ(d->physfn, "0000:02:00.0");
	ASSERT_NULL(d->driver);
	ASSERT_EQ(d->iommu_group, 13);
	/* VFs share their PF's slot number without being functions of one device. */
	ASSERT_OK(model_siblings(&f.model, fixture_dev(&f, "0000:02:00.0"), &s02));
	ASSERT_NULL(s02);
	ASSERT_OK(model_siblings(&f.model, fixture_dev(&f, "0000:02:00.1"), &s021));
	ASSERT_NULL(s021);

	/* The GPU slot: VGA with boot_vga, and its HDA companion, one group. */
	d = fixture_dev(&f, "0000:00:05.0");
	ASSERT_EQ(d->class, 0x030000);
	ASSERT_EQ(d->boot_vga, 1);
	ASSERT_EQ(d->header, PCI_HEADER_ENDPOINT);
	ASSERT_EQ(d->multifunction, 1);
	ASSERT_NULL(d->reset_methods);
	ASSERT_OK(model_siblings(&f.model, d, &s05));
	ASSERT_TRUE(strv_equal(s05, STRV("0000:00:05.1")));
	d = fixture_dev(&f, "0000:00:05.1");
	ASSERT_EQ(d->boot_vga, -1);
	ASSERT_STREQ(d->driver, "snd_hda_intel");
	ASSERT_OK(model_siblings(&f.model, d, &s051));
	ASSERT_TRUE(strv_equal(s051, STRV("0000:00:05.0")));
	g = model_find_group(&f.model, 3);
	ASSERT_NOT_NULL(g);
	ASSERT_TRUE(strv_equal(g->members, STRV("0000:00:05.0", "0000:00:05.1")));
	ASSERT_EQ(g->n_members, 2);
	ASSERT_STREQ(g->type, "DMA-FQ");

	/* The LPC/SATA/SMBus functions of 00:1f share slot and group. */
	ASSERT_OK(model_siblings(&f.model, fixture_dev(&f, "0000:00:1f.0"), &s1f));
	ASSERT_TRUE(strv_equal(s1f, STRV("0000:00:1f.2", "0000:00:1f.3")));
	ASSERT_EQ(fixture_dev(&f, "0000:00:1f.0")->multifunction, 1);
	g = model_find_group(&f.model, 8);
	ASSERT_NOT_NULL(g);
	ASSERT_TRUE(strv_equal(g->members, STRV("0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3")));
	ASSERT_OK(model_siblings(&f.model, fixture_dev(&f, "0000:00:03.0"), &s03));
	ASSERT_NULL(s03);

	/* The PCIe-to-PCI bridge and the devices behind it. */
	d = fixture_dev(&f, "0000:03:00.0");
	ASSERT_EQ(d->header, PCI_HEADER_BRIDGE);
	ASSERT_EQ(d->multifunction, 0);
	ASSERT_NULL(d->driver);
	ASSERT_TRUE(strv_equal(d->reset_methods, STRV("pm", "bus")));
	g = model_find_group(&f.model, 11);
	ASSERT_NOT_NULL(g);
	ASSERT_TRUE(strv_equal(g->members, STRV("0000:03:00.0", "0000:04:01.0", "0000:04:02.0")));
	ASSERT_EQ(fixture_dev(&f, "0000:00:00.0")->header, PCI_HEADER_ENDPOINT);
	ASSERT_EQ(fixture_dev(&f, "0000:00:00.0")->multifunction, 0);
	ASSERT_EQ(fixture_dev(&f, "0000:00:06.0")->header, PCI_HEADER_BRIDGE);

	/* Root port 00:06.0: the link attributes, against the files themselves. */
	d = fixture_dev(&f, "0000:00:06.0");
	fixture_file(&f, "bus/pci/devices/0000:00:06.0/current_link_speed", buf, sizeof(buf));
	ASSERT_STREQ(buf, "2.5 GT/s PCIe\n");
	ASSERT_TRUE(near(d->link.speed, 2.5));
	fixture_file(&f, "bus/pci/devices/0000:00:06.0/current_link_width", buf, sizeof(buf));
	ASSERT_EQ(atoi(buf), 1);
	ASSERT_EQ(d->link.width, 1);
	fixture_file(&f, "bus/pci/devices/0000:00:06.0/max_link_speed", buf, sizeof(buf));
	ASSERT_STREQ(buf, "16.0 GT/s PCIe\n");
	ASSERT_TRUE(near(d->max_link.speed, 16.0));
	fixture_file(&f, "bus/pci/devices/0000:00:06.0/max_link_width", buf, sizeof(buf));
	ASSERT_EQ(atoi(buf), 32);
	ASSERT_EQ(d->max_link.width, 32);
	ASSERT_EQ(pci_link_generation(d->max_link.speed), 4);
	ASSERT_NULL(d->reset_methods);

	/* Optional values a real kernel gave. */
	d = fixture_dev(&f, "0000:00:03.0");
	ASSERT_EQ(d->numa_node, -1);
	ASSERT_EQ(d->revision, 0);
	ASSERT_EQ(d->subsystem_vendor, 0x8086);
	ASSERT_EQ(d->link.speed, 0);	/* "Unknown" */
	ASSERT_EQ(d->link.width, -1);	/* "0" */
	d = fixture_dev(&f, "0000:00:00.0");
	ASSERT_EQ(d->link.speed, 0);
	ASSERT_EQ(d->link.width, -1);
	ASSERT_EQ(d->max_link.width, -1);
	{
		_cleanup_json_ json_object *j = NULL;

		ASSERT_OK(pcidev_to_json(d, NULL, &j));
		ASSERT_NULL(jget(j, "link"));
		ASSERT_NULL(jget(j, "driver"));
		ASSERT_EQ(jint(j, "iommu_group", -1), 0);
	}
}

/* Kernel 6.1 prints max_link_width 255 (PCIE_LNK_WIDTH_UNKNOWN) for 00:03.0, whose Link
 * Capabilities read 0: that is no width. */
TEST(fixture_q35_link_width_unknown)
{
	_cleanup_fixture_ struct fixture f = { .tree.fd = -EBADF };
	char buf[64];
	struct pcidev *d;

	fixture_load(&f, "q35-iommu-claimed");
	fixture_file(&f, "bus/pci/devices/0000:00:03.0/max_link_width", buf, sizeof(buf));
	ASSERT_STREQ(buf, "255\n");
	d = fixture_dev(&f, "0000:00:03.0");
	ASSERT_EQ(d->max_link.speed, 0);
	ASSERT_EQ(d->max_link.width, -1);
}

TEST(fixture_q35_iommu_claimed_host)
{
	_cleanup_fixture_ struct fixture f = { .tree.fd = -EBADF };
	_cleanup_(host_facts_done) struct host_facts h = {};

	fixture_load(&f, "q35-iommu-claimed");
	ASSERT_OK(host_facts_read(f.tree.sysfs, &h));
	ASSERT_TRUE(strv_equal(h.iommu_units, STRV("dmar0")));
	ASSERT_EQ(h.n_iommu_units, 1);
	ASSERT_STREQ(h.lockdown, "none");
	ASSERT_EQ(h.noiommu, -1);
	ASSERT_NOT_NULL(h.kernel);
	ASSERT_EQ(h.interrupt_remapping, 1);	/* ECAP f00f4a: IR */
	ASSERT_EQ(h.unsafe_interrupts, 0);	/* "N" */
}

/* A refresh of every function of a real tree changes nothing. */
TEST(fixture_q35_iommu_claimed_refresh)
{
	_cleanup_fixture_ struct fixture f = { .tree.fd = -EBADF };
	_cleanup_strv_free_ char **addrs = NULL;
	size_t n_groups;

	fixture_load(&f, "q35-iommu-claimed");
	n_groups = f.model.n_groups;
	ASSERT_OK(sysfs_list(f.tree.sysfs, "bus/pci/devices", &addrs, NULL));
	for (char **a = addrs; *a; a++) {
		_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;
		struct pcidev *d = NULL;

		ASSERT_OK(model_refresh(&f.model, f.tree.sysfs, *a, &old, &d));
		ASSERT_NOT_NULL(old);
		ASSERT_NOT_NULL(d);
		ASSERT_STREQ(old->driver, d->driver);
		ASSERT_EQ(old->iommu_group, d->iommu_group);
		ASSERT_TRUE(strv_equal(d->virtfns, (const char *const *)old->virtfns));
	}
	ASSERT_EQ(f.model.n_devs, 21);
	ASSERT_EQ(f.model.n_groups, n_groups);
	check_facts(&f, 21, 14);
	check_model(&f.model);
}

TEST(fixture_q35_iommu_host)
{
	_cleanup_fixture_ struct fixture f = { .tree.fd = -EBADF };
	_cleanup_(host_facts_done) struct host_facts h = {};
	struct pcidev *d;

	fixture_load(&f, "q35-iommu-host");
	check_facts(&f, 19, 12);
	group_types_are(&f.model, "DMA-FQ");
	for (size_t i = 0; i < f.model.n_devs; i++) {
		ASSERT_NULL(f.model.devs[i]->driver_override);
		ASSERT_NULL(f.model.devs[i]->physfn);
		ASSERT_TRUE(f.model.devs[i]->iommu_group >= 0);
	}
	/* SR-IOV capable, none enabled. */
	d = fixture_dev(&f, "0000:02:00.0");
	ASSERT_EQ(d->sriov_numvfs, 0);
	ASSERT_EQ(d->sriov_totalvfs, 2);
	ASSERT_TRUE(strv_equal(d->virtfns, STRV_EMPTY));
	ASSERT_NULL(model_find(&f.model, "0000:02:00.1"));
	ASSERT_NULL(fixture_dev(&f, "0000:00:05.0")->driver);
	ASSERT_STREQ(fixture_dev(&f, "0000:00:05.1")->driver, "snd_hda_intel");

	ASSERT_OK(host_facts_read(f.tree.sysfs, &h));
	ASSERT_TRUE(strv_equal(h.iommu_units, STRV("dmar0")));
	ASSERT_STREQ(h.lockdown, "none");
}

TEST(fixture_virtio_noiommu)
{
	_cleanup_fixture_ struct fixture f = { .tree.fd = -EBADF };
	_cleanup_(host_facts_done) struct host_facts h = {}, h2 = {};

	fixture_load(&f, "virtio-noiommu");
	check_facts(&f, 6, 0);
	for (size_t i = 0; i < f.model.n_devs; i++) {
		_cleanup_json_ json_object *j = NULL;

		ASSERT_EQ(f.model.devs[i]->iommu_group, -1);
		ASSERT_OK(pcidev_to_json(f.model.devs[i], NULL, &j));
		ASSERT_NULL(jget(j, "iommu_group"));
	}
	ASSERT_OK(host_facts_read(f.tree.sysfs, &h));
	ASSERT_EQ(h.n_iommu_units, 0);
	ASSERT_NULL(h.lockdown);
	ASSERT_EQ(h.noiommu, -1);

	/* kernel/iommu_groups empty (as captured) or absent: the same model. */
	ASSERT_OK(unlinkat(f.tree.fd, "kernel/iommu_groups", AT_REMOVEDIR));
	ASSERT_OK(unlinkat(f.tree.fd, "class/iommu", AT_REMOVEDIR));
	ASSERT_OK(model_scan(&f.model, f.tree.sysfs));
	check_facts(&f, 6, 0);
	ASSERT_OK(host_facts_read(f.tree.sysfs, &h2));
	ASSERT_EQ(h2.n_iommu_units, 0);
}

DEFINE_TEST_MAIN
