/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/pci_regs.h>


#include "facts.h"
#include "kmodule.h"
#include "netstack.h"
#include "pciconfig.h"
#include "lib/log.h"
#include "lib/util.h"
#include "sysfs.h"

void facts_done(struct facts *f)
{
	for (size_t i = 0; i < f->n_devs; i++) {
		free(f->devs[i].block_in_use);
		free(f->devs[i].net_in_use);
		free(f->devs[i].open_by);
	}
	free(f->devs);
	free(f->modules);
	*f = (struct facts){};
}

void facts_to_env(const struct facts *f, struct plan_env *env)
{
	env->facts = f->devs;
	env->n_facts = f->n_devs;
	env->modules = f->modules;
	env->n_modules = f->n_modules;
}

/* Appends "what" to a "; "-separated list. */
static int note(char **list, const char *what)
{
	char *s = NULL;

	if (asprintf(&s, "%s%s%s", *list ?: "", *list ? "; " : "", what) < 0)
		return -ENOMEM;
	free(*list);
	*list = s;
	return 0;
}

static struct device_facts *facts_find_mut(struct facts *f, const char *address)
{
	return (struct device_facts *)device_facts_find(f->devs, f->n_devs, address);
}

/* Mounts and swaps by "major:minor" and by name: read once from /proc. */
struct usage {
	char *mountinfo;
	char *swaps;
};

static char *read_text(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t size = 0;
	FILE *mem;
	char chunk[4096];
	size_t n;

	if (!f)
		return NULL;
	mem = open_memstream(&buf, &size);
	if (!mem)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (fwrite(chunk, 1, n, mem) != n)
			break;
	if (fclose(mem) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* "sda1 mounted on /boot", "sda2 used as swap", "sdb held by dm-0"; NULL when unused. */
static int block_usage(struct sysfs *s, const struct usage *u, const char *name, char **list)
{
	_cleanup_free_ char *dev = NULL, *what = NULL;
	_cleanup_strv_free_ char **holders = NULL;
	_cleanup_close_ int dfd = sysfs_class_open(s, "block", name);
	size_t n_holders = 0;
	int r;

	if (dfd < 0)
		return dfd == -ENOMEM ? dfd : 0;	/* gone */
	r = sysfs_read_at(dfd, "dev", &dev);
	if (r == -ENOMEM)
		return r;
	/* mountinfo: "36 35 98:0 /mnt1 /mnt2 rw … " — the third field is major:minor. */
	for (const char *line = u->mountinfo; r >= 0 && line && *line;) {
		const char *end = strchrnul(line, '\n');
		char majmin[32], root[PATH_MAX], point[PATH_MAX];

		if (sscanf(line, "%*u %*u %31s %4095s %4095s", majmin, root, point) == 3 &&
		    streq(majmin, dev)) {
			free(what);
			what = NULL;
			if (asprintf(&what, "%s mounted on %s", name, point) < 0 || note(list, what) < 0)
				return -ENOMEM;
			break;
		}
		line = *end ? end + 1 : end;
	}
	/* /proc/swaps: "/dev/sda2 partition 1048572 0 -2" */
	for (const char *line = u->swaps; line && *line;) {
		const char *end = strchrnul(line, '\n');
		char file[PATH_MAX];
		const char *base;

		if (sscanf(line, "%4095s", file) == 1) {
			base = strrchr(file, '/');
			if (streq(base ? base + 1 : file, name)) {
				free(what);
				what = NULL;
				if (asprintf(&what, "%s used as swap", name) < 0 || note(list, what) < 0)
					return -ENOMEM;
				break;
			}
		}
		line = *end ? end + 1 : end;
	}
	r = sysfs_list_at(dfd, "holders", &holders, &n_holders);
	if (r == -ENOMEM)
		return r;
	if (r >= 0 && n_holders > 0) {
		free(what);
		what = NULL;
		if (asprintf(&what, "%s held by %s", name, holders[0]) < 0 || note(list, what) < 0)
			return -ENOMEM;
	}
	return 0;
}

/*
 * Calls fn for every entry of a device class ("block", "net") that sits below one of
 * the functions in f, however deep (a virtio NIC's interface is …/0000:00:03.0/virtio2/net/eth0,
 * a SATA disk's …/0000:00:1f.2/ata1/host0/…/block/sda).
 */
static int class_walk(struct facts *f, struct sysfs *s, const char *class,
		      int (*fn)(struct device_facts *df, const char *name, void *userdata),
		      void *userdata)
{
	_cleanup_strv_free_ char **names = NULL;
	size_t n = 0;
	int r;

	r = sysfs_class_list(s, class, &names, &n);
	if (r == -ENOENT)
		return 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		char owner[PCI_ADDR_MAX + 1];
		struct device_facts *df;

		df = sysfs_class_owner(s, class, names[i], owner) >= 0 ? facts_find_mut(f, owner) : NULL;
		if (df)
			r = fn(df, names[i], userdata);
	}
	return r;
}

struct block_ctx {
	struct sysfs *s;
	struct usage u;
};

static int block_one(struct device_facts *df, const char *name, void *userdata)
{
	struct block_ctx *c = userdata;

	return block_usage(c->s, &c->u, name, &df->block_in_use);
}

static int gather_block(struct facts *f, struct sysfs *s)
{
	struct block_ctx c = {
		.s = s,
		.u.mountinfo = read_text("/proc/self/mountinfo"),
		.u.swaps = read_text("/proc/swaps"),
	};
	int r = class_walk(f, s, "block", block_one, &c);

	free(c.u.mountinfo);
	free(c.u.swaps);
	return r;
}

struct net_ctx {
	struct netstack ns;
	int read;	/* 0: not yet (no function had an interface); 1: read; <0: failed with it */
};

/*
 * "eno1, a port of vmbr0 which carries 192.0.2.10/24 and the default route": the interface,
 * or a device stacked on it, in use (netstack.h). Links, addresses and routes are read once,
 * at the first interface; when they cannot be, every interface is taken for in use.
 */
static int net_one(struct device_facts *df, const char *ifname, void *userdata)
{
	struct net_ctx *c = userdata;
	_cleanup_free_ char *what = NULL;
	int r;

	if (c->read == 0) {
		r = netstack_read(&c->ns);
		if (r == -ENOMEM)
			return r;
		c->read = r < 0 ? r : 1;
	}
	if (c->read < 0) {
		if (asprintf(&what, "%s, whose addresses and routes cannot be read (rtnetlink: %s)",
			     ifname, strerror(-c->read)) < 0)
			return -ENOMEM;
	} else {
		r = netstack_in_use(&c->ns, ifname, &what);
		if (r <= 0)
			return r;
	}
	return note(&df->net_in_use, what);
}

static int gather_net(struct facts *f, struct sysfs *s)
{
	struct net_ctx c = {};
	int r = class_walk(f, s, "net", net_one, &c);

	netstack_done(&c.ns);
	return r;
}

_printf_(3, 4)
static int node_add(char ***nodes, size_t *n, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	return r < 0 ? -ENOMEM : strv_push(nodes, n, p);
}

/* DIR/NAME for each entry NAME of the function's sysfs directory sub that begins with one of
 * prefixes (NULL: any). */
static int nodes_below(int dfd, const char *sub, const char *const *prefixes, const char *dir,
		       char ***nodes, size_t *n)
{
	_cleanup_strv_free_ char **names = NULL;
	int r = 0;

	if (dfd < 0 || sysfs_list_at(dfd, sub, &names, NULL) < 0)
		return 0;
	for (char **e = names; *e && r >= 0; e++) {
		bool want = !prefixes;

		for (const char *const *pre = prefixes; pre && *pre && !want; pre++)
			want = startswith(*e, *pre);
		if (want)
			r = node_add(nodes, n, "%s/%s", dir, *e);
	}
	return r;
}

/* The sound devices of an HDA function: sound/cardN/{controlCN,pcmCNDMp,hwCNDM,…}. */
static int sound_nodes(int dfd, const char *dev_root, char ***nodes, size_t *n)
{
	static const char *const snd[] = { "control", "pcm", "hw", "midi", NULL };
	_cleanup_strv_free_ char **cards = NULL;
	_cleanup_free_ char *dir = NULL;
	int r = 0;

	if (dfd < 0 || sysfs_list_at(dfd, "sound", &cards, NULL) < 0)
		return 0;
	if (asprintf(&dir, "%s/snd", dev_root) < 0)
		return -ENOMEM;
	for (char **c = cards; *c && r >= 0; c++) {
		_cleanup_free_ char *sub = NULL;

		if (!startswith(*c, "card"))
			continue;
		if (asprintf(&sub, "sound/%s", *c) < 0)
			return -ENOMEM;
		r = nodes_below(dfd, sub, snd, dir, nodes, n);
	}
	return r;
}

/* The proprietary NVIDIA driver's /dev/nvidiaN: N is the GPU's minor, which only
 * /proc/driver/nvidia/gpus/ADDRESS/information says ("Device Minor: N"). */
static int nvidia_node(const struct pcidev *d, const char *dev_root, const char *proc_root,
		       char ***nodes, size_t *n)
{
	_cleanup_free_ char *path = NULL, *info = NULL;
	const char *line;
	unsigned minor;

	if (!streq(d->driver, "nvidia"))
		return 0;
	if (asprintf(&path, "%s/driver/nvidia/gpus/%s/information", proc_root, d->address) < 0)
		return -ENOMEM;
	info = read_text(path);
	line = info ? strstr(info, "Device Minor:") : NULL;
	if (!line || sscanf(line, "Device Minor: %u", &minor) != 1)
		return 0;
	return node_add(nodes, n, "%s/nvidia%u", dev_root, minor);
}

/*
 * Device nodes of a function that a process may hold: its IOMMU group's vfio node (or the
 * no-IOMMU one) and its vfio cdevs, DRM card and render nodes, uio nodes, the sound devices of
 * an HDA function, and /dev/nvidiaN of the proprietary driver.
 */
static int device_nodes(struct sysfs *s, const struct pcidev *d, const char *dev_root,
			const char *proc_root, char ***ret)
{
	_cleanup_strv_free_ char **nodes = NULL;
	_cleanup_close_ int dfd = sysfs_pci_open(s, d->address, NULL);
	_cleanup_free_ char *vfio_dev = NULL, *dri = NULL;
	size_t n = 0;
	int r = 0;

	if (asprintf(&vfio_dev, "%s/vfio/devices", dev_root) < 0 ||
	    asprintf(&dri, "%s/dri", dev_root) < 0)
		return -ENOMEM;
	if (d->iommu_group >= 0) {
		r = node_add(&nodes, &n, "%s/vfio/%d", dev_root, d->iommu_group);
		if (r >= 0)
			r = node_add(&nodes, &n, "%s/vfio/noiommu-%d", dev_root, d->iommu_group);
	}
	if (r >= 0)
		r = nodes_below(dfd, "vfio-dev", NULL, vfio_dev, &nodes, &n);
	if (r >= 0)
		r = nodes_below(dfd, "drm", (const char *const[]){ "card", "renderD", NULL }, dri,
				&nodes, &n);
	if (r >= 0)
		r = nodes_below(dfd, "uio", NULL, dev_root, &nodes, &n);
	if (r >= 0)
		r = sound_nodes(dfd, dev_root, &nodes, &n);
	if (r >= 0)
		r = nvidia_node(d, dev_root, proc_root, &nodes, &n);
	if (r < 0)
		return r;
	if (!nodes && !(nodes = new0(char *, 1)))
		return -ENOMEM;
	*ret = TAKE_PTR(nodes);
	return 0;
}

struct open_file {
	char *path;
	pid_t pid;
};

struct open_scan {
	char *dev_root;
	uint64_t at_usec;	/* CLOCK_MONOTONIC */
	int error;		/* the scan could not be made (no /proc): cannot tell */
	struct open_file *files;
	size_t n_files;
};

/* Every open file under dev_root, from /proc/<pid>/fd. */
static int scan_open_files(const char *dev_root, struct open_file **ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *proc = opendir("/proc");
	struct open_file *a = NULL;
	size_t n = 0, root_len = strlen(dev_root);
	struct dirent *de;

	if (!proc)
		return -errno;
	while ((de = readdir(proc))) {
		_cleanup_closedir_ DIR *fds = NULL;
		char dir[STRLEN("/proc//fd") + NAME_MAX + 1];
		int dfd;
		struct dirent *fe;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(dir, sizeof(dir), "/proc/%s/fd", de->d_name);
		fds = opendir(dir);
		if (!fds)
			continue;
		dfd = dirfd(fds);
		while ((fe = readdir(fds))) {
			char target[PATH_MAX];
			ssize_t k = readlinkat(dfd, fe->d_name, target, sizeof(target) - 1);
			struct open_file *b;

			if (k <= 0 || (size_t)k <= root_len || strncmp(target, dev_root, root_len) != 0 ||
			    target[root_len] != '/')
				continue;
			target[k] = 0;
			b = reallocarray_safe(a, n + 1, sizeof(*a));
			if (!b)
				goto oom;
			a = b;
			a[n].pid = (pid_t)atoi(de->d_name);
			a[n].path = strdup(target);
			if (!a[n].path)
				goto oom;
			n++;
		}
	}
	*ret = a;
	*ret_n = n;
	return 0;
oom:
	for (size_t i = 0; i < n; i++)
		free(a[i].path);
	free(a);
	return -ENOMEM;
}

struct open_scan *open_scan_free(struct open_scan *o)
{
	if (!o)
		return NULL;
	for (size_t i = 0; i < o->n_files; i++)
		free(o->files[i].path);
	free(o->files);
	free(o->dev_root);
	free(o);
	return NULL;
}

int open_scan_get(struct open_scan **cache, const char *dev_root, uint64_t max_age_usec,
		  const struct open_scan **ret)
{
	struct open_scan *o = *cache;
	uint64_t now = now_usec();
	int r;

	if (o && streq(o->dev_root, dev_root) && now - o->at_usec <= max_age_usec) {
		*ret = o;
		return 0;
	}
	*cache = open_scan_free(o);
	o = new0(struct open_scan, 1);
	if (!o || !(o->dev_root = strdup(dev_root))) {
		free(o);
		return -ENOMEM;
	}
	r = scan_open_files(dev_root, &o->files, &o->n_files);
	log_debug("Read every process's open files: %zu below %s", o->n_files, dev_root);
	if (r == -ENOMEM) {
		open_scan_free(o);
		return r;
	}
	o->error = r < 0 ? r : 0;
	o->at_usec = now_usec();
	*ret = *cache = o;
	return 0;
}

/* QEMU's guest name from its command line: "-name guest=NAME,…" or "-name NAME"; NULL else. */
static char *qemu_guest_name(pid_t pid)
{
	char path[STRLEN("/proc//cmdline") + DECIMAL_STR_MAX(pid_t)], buf[8192];
	_cleanup_close_ int fd = -EBADF;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return NULL;
	buf[n] = '\0';
	for (const char *a = buf; a < buf + n; a += strlen(a) + 1) {
		const char *v = a + strlen(a) + 1, *name;

		if (!streq(a, "-name") || v >= buf + n)
			continue;
		/* Options are comma-separated; ",," is a literal comma, which we cut at. */
		name = startswith(v, "guest=") ?: (strchr(v, '=') ? NULL : v);
		return name && *name ? strndup(name, strcspn(name, ",")) : NULL;
	}
	return NULL;
}

/* "NODE open by pid N (comm, uid U[, guest NAME])": who holds a node, and for QEMU its VM. */
static int describe_holder(const char *node, pid_t pid, char **ret)
{
	_cleanup_free_ char *comm = NULL, *guest = NULL, *uid = NULL;
	char path[STRLEN("/proc//comm") + DECIMAL_STR_MAX(pid_t)];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	comm = read_text(path);
	if (comm)
		strstrip_trailing(comm);
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &st) >= 0 && asprintf(&uid, ", uid %u", (unsigned)st.st_uid) < 0)
		return -ENOMEM;
	if (comm && startswith(comm, "qemu"))
		guest = qemu_guest_name(pid);
	if (asprintf(ret, "%s open by pid %d (%s%s%s%s)", node, (int)pid, comm ?: "?", uid ?: "",
		     guest ? ", guest " : "", guest ?: "") < 0)
		return -ENOMEM;
	return 0;
}

static int gather_open(struct facts *f, const struct model *m, struct sysfs *s, const char *dev_root,
		       const char *proc_root, const struct open_scan_source *src)
{
	_cleanup_free_ char ***nodes = NULL;
	const struct open_scan *scan = NULL;
	bool any = false;
	int r = 0;

	if (!src)
		return 0;
	nodes = new0(char **, f->n_devs + 1);
	if (!nodes)
		return -ENOMEM;
	/* The nodes that exist: with none, nobody can hold one, and /proc is not read. By stat():
	 * access() on a device node asks the device cgroup, which DevicePolicy=closed refuses. */
	for (size_t i = 0; i < f->n_devs && r >= 0; i++) {
		const struct pcidev *d = model_find(m, f->devs[i].address);
		size_t k = 0;

		if (!d)
			continue;
		r = device_nodes(s, d, dev_root, proc_root, &nodes[i]);
		for (char **node = nodes[i]; r >= 0 && *node; node++)
			if (path_exists(*node))
				nodes[i][k++] = *node;
			else
				free(*node);
		if (r >= 0)
			nodes[i][k] = NULL;
		any = any || k > 0;
	}
	if (r >= 0 && any)
		r = open_scan_get(src->cache, dev_root, src->max_age_usec, &scan);
	for (size_t i = 0; i < f->n_devs && r >= 0 && scan && scan->error >= 0; i++)
		for (char **node = nodes[i]; r >= 0 && node && *node; node++)
			for (size_t j = 0; j < scan->n_files && r >= 0; j++) {
				_cleanup_free_ char *what = NULL;

				if (!streq(scan->files[j].path, *node))
					continue;
				r = describe_holder(*node, scan->files[j].pid, &what);
				if (r >= 0)
					r = note(&f->devs[i].open_by, what);
				break;	/* one holder per node is enough to say */
			}
	for (size_t i = 0; i < f->n_devs; i++)
		strv_free(nodes[i]);
	return r;
}

/*
 * Whether the legacy interrupt can be masked, which uio_pci_generic needs (its handler masks
 * INTx with the PCI 2.3 disable bit): not when there is none — a VF never has one, and an
 * interrupt pin of 0 means no INTx at all. PCI Express functions must implement the disable
 * bit; for conventional PCI only the kernel's own test (toggling the bit) tells.
 */
static int gather_intx(struct facts *f, const struct model *m, struct sysfs *s)
{
	for (size_t i = 0; i < f->n_devs; i++) {
		struct device_facts *df = &f->devs[i];
		const struct pcidev *d = model_find(m, df->address);
		_cleanup_close_ int dfd = -EBADF;
		uint8_t config[256];
		ssize_t n;

		df->intx_maskable = -1;
		if (d && d->physfn) {
			df->intx_maskable = 0;
			df->no_intx = "it is a VF, and VFs have no legacy interrupt";
			continue;
		}
		dfd = sysfs_pci_open(s, df->address, NULL);
		if (dfd < 0)
			continue;
		n = sysfs_read_bin_at(dfd, "config", config, sizeof(config));
		if (n > PCI_INTERRUPT_PIN && config[PCI_INTERRUPT_PIN] == 0) {
			df->intx_maskable = 0;
			df->no_intx = "its interrupt pin is 0: it has no legacy interrupt";
		} else if (n > 0 && pci_config_find_cap(config, (size_t)n, PCI_CAP_ID_EXP) > 0)
			df->intx_maskable = 1;
	}
	return 0;
}

static int module_state(struct sysfs *s, struct kmodule *kmod, const char *driver)
{
	if (sysfs_pci_driver_registered(s, driver))
		return 1;	/* registered: loaded or built in */
	return kmodule_available(kmod, driver);
}

int facts_gather(const struct model *m, const struct policy *p, struct sysfs *s,
		 const char *dev_root, const char *proc_root, const struct open_scan_source *open,
		 struct kmodule *kmod, const char *only_address, struct facts *ret)
{
	_cleanup_(facts_done) struct facts f = {};
	const struct pcidev *only = only_address ? model_find(m, only_address) : NULL;
	bool *want = NULL;
	int r = 0;

	/* Functions a rule names, and their group's other members (companions); with
	 * only_address, of its group alone. */
	want = new0(bool, m->n_devs + 1);
	if (!want)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_devs; i++) {
		const struct pcidev *d = m->devs[i];
		const struct iommu_group *g;

		if (only && !model_same_group(only, d))
			continue;
		if (!policy_match(p, d))
			continue;
		want[i] = true;
		g = d->iommu_group >= 0 ? model_find_group(m, (uint32_t)d->iommu_group) : NULL;
		for (size_t j = 0; g && j < m->n_devs; j++)
			want[j] = want[j] || m->devs[j]->iommu_group == d->iommu_group;
	}
	f.devs = new0(struct device_facts, m->n_devs + 1);
	if (!f.devs) {
		free(want);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->n_devs; i++)
		if (want[i])
			f.devs[f.n_devs++] = (struct device_facts){
				.address = m->devs[i]->address, .intx_maskable = -1,
			};
	free(want);

	if (f.n_devs > 0) {
		r = gather_block(&f, s);
		if (r >= 0)
			r = gather_net(&f, s);
		if (r >= 0)
			r = gather_open(&f, m, s, dev_root, proc_root, open);
		if (r >= 0)
			r = gather_intx(&f, m, s);
		if (r < 0)
			return r;
	}

	/* Every passthrough driver the policy names, and vfio-pci. */
	for (size_t i = 0; i <= p->n_rules; i++) {
		const char *drv = i < p->n_rules ? p->rules[i]->driver : "vfio-pci";
		struct module_fact *a;
		bool seen = false;

		if (!drv)
			continue;
		for (size_t j = 0; j < f.n_modules; j++)
			seen = seen || streq(f.modules[j].driver, drv);
		if (seen)
			continue;
		a = reallocarray_safe(f.modules, f.n_modules + 1, sizeof(*a));
		if (!a)
			return -ENOMEM;
		f.modules = a;
		r = module_state(s, kmod, drv);
		if (r == -ENOMEM)
			return r;
		a[f.n_modules++] = (struct module_fact){ .driver = drv, .available = r };
	}
	*ret = f;
	f = (struct facts){};
	return 0;
}
