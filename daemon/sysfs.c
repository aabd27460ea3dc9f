/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "lib/log.h"
#include "lib/pci.h"
#include "lib/util.h"
#include "sysfs.h"

int sysfs_open(const char *root, bool read_only, struct sysfs **ret)
{
	_cleanup_close_ int fd = -EBADF;
	struct sysfs *s;

	fd = open(root, O_DIRECTORY | O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	s = new0(struct sysfs, 1);
	if (!s)
		return -ENOMEM;
	s->root = strdup(root);
	if (!s->root) {
		free(s);
		return -ENOMEM;
	}
	s->root_fd = TAKE_FD(fd);
	s->read_only = read_only;
	s->write_log_fd = -EBADF;
	*ret = s;
	return 0;
}

struct sysfs *sysfs_free(struct sysfs *s)
{
	if (!s)
		return NULL;
	safe_close(s->root_fd);
	safe_close(s->write_log_fd);
	free(s->root);
	free(s);
	return NULL;
}

int sysfs_open_dir_at(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_DIRECTORY | O_PATH | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int sysfs_open_dir(const struct sysfs *s, const char *path)
{
	return sysfs_open_dir_at(s->root_fd, path);
}

/* Reads an attribute into buf (NUL-terminated, trailing whitespace stripped). */
static int read_attr(int dirfd, const char *name, char buf[static SYSFS_ATTR_MAX + 1])
{
	_cleanup_close_ int fd = -EBADF;
	ssize_t n;

	/* O_NONBLOCK: sysfs ignores it; a FIFO in a synthetic tree must not stall the loop. */
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, SYSFS_ATTR_MAX);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	strstrip_trailing(buf);
	return 0;
}

int sysfs_read_at(int dirfd, const char *name, char **ret)
{
	char buf[SYSFS_ATTR_MAX + 1];
	char *s;
	int r;

	r = read_attr(dirfd, name, buf);
	if (r < 0)
		return r;
	s = strdup(buf);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int sysfs_read(const struct sysfs *s, const char *path, char **ret)
{
	return sysfs_read_at(s->root_fd, path, ret);
}

int sysfs_read_u32_at(int dirfd, const char *name, unsigned base, uint32_t *ret)
{
	char buf[SYSFS_ATTR_MAX + 1];
	int r;

	r = read_attr(dirfd, name, buf);
	if (r < 0)
		return r;
	return safe_atou32_base(buf, base, ret);
}

int sysfs_read_i32_at(int dirfd, const char *name, int32_t *ret)
{
	char buf[SYSFS_ATTR_MAX + 1];
	int r;

	r = read_attr(dirfd, name, buf);
	if (r < 0)
		return r;
	return safe_atoi32(buf, ret);
}

ssize_t sysfs_read_bin_at(int dirfd, const char *name, void *buf, size_t n)
{
	_cleanup_close_ int fd = -EBADF;
	size_t got = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	while (got < n) {
		ssize_t k = pread(fd, (char *)buf + got, n - got, (off_t)got);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

int sysfs_readlink_name_at(int dirfd, const char *name, char **ret)
{
	char target[PATH_MAX];
	const char *base;
	ssize_t n;
	char *s;

	n = readlinkat(dirfd, name, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (!*base)
		return -EINVAL;
	s = strdup(base);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sysfs_list_at(int dirfd, const char *path, char ***ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_strv_free_ char **l = NULL;
	size_t n = 0, size = 0;
	struct dirent *de;
	int fd;

	fd = openat(dirfd, path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		safe_close(fd);
		return -errno;
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (n + 2 > size) {
			char **a;

			size = MAX(size * 2, (size_t)16);
			a = reallocarray_safe(l, size, sizeof(char *));
			if (!a)
				return -ENOMEM;
			l = a;
		}
		l[n] = strdup(de->d_name);
		if (!l[n])
			return -ENOMEM;
		l[++n] = NULL;
		errno = 0;
	}
	if (errno)
		return -errno;
	if (!l) {
		l = new0(char *, 1);
		if (!l)
			return -ENOMEM;
	}
	qsort(l, n, sizeof(char *), cmp_str);
	*ret = TAKE_PTR(l);
	if (ret_n)
		*ret_n = n;
	return 0;
}

int sysfs_list(const struct sysfs *s, const char *path, char ***ret, size_t *ret_n)
{
	return sysfs_list_at(s->root_fd, path, ret, ret_n);
}

int sysfs_set_write_log(struct sysfs *s, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);

	if (fd < 0)
		return -errno;
	safe_close(s->write_log_fd);
	s->write_log_fd = fd;
	return 0;
}

/* value with newlines, tabs, backslashes and other control bytes escaped (\n, \t, \\, \xNN). */
static char *escape(const char *value)
{
	size_t n = strlen(value);
	char *e = malloc(n * 4 + 1), *p = e;

	if (!e)
		return NULL;
	for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
		if (*c == '\n')
			p = stpcpy(p, "\\n");
		else if (*c == '\t')
			p = stpcpy(p, "\\t");
		else if (*c == '\\')
			p = stpcpy(p, "\\\\");
		else if (*c < 0x20 || *c == 0x7f)
			p += sprintf(p, "\\x%02x", *c);
		else
			*p++ = (char)*c;
	}
	*p = '\0';
	return e;
}

static int write_attr(const struct sysfs *s, const char *path, const char *value)
{
	_cleanup_close_ int fd = -EBADF;
	size_t len = strlen(value);
	ssize_t n;

	if (s->read_only)
		return -EROFS;
	fd = openat(s->root_fd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	n = write(fd, value, len);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int sysfs_write(const struct sysfs *s, const char *path, const char *value)
{
	_cleanup_free_ char *e = escape(value), *line = NULL;
	int r = write_attr(s, path, value);
	int n;

	log_debug("sysfs: write %s %s -> %s", path, e ?: "?", r < 0 ? strerrorname_np(-r) ?: "error" : "ok");
	if (s->write_log_fd >= 0 && e) {
		n = asprintf(&line, "%s %s -> %s\n", path, e, r < 0 ? strerrorname_np(-r) ?: "error" : "ok");
		if (n > 0 && write(s->write_log_fd, line, (size_t)n) != n)
			log_debug("sysfs: the write log is short");
	}
	return r;
}

int sysfs_pci_attr_path(const char *address, const char *attr, char **ret)
{
	int n = attr ? asprintf(ret, SYSFS_PCI_DEVICES "/%s/%s", address, attr)
		     : asprintf(ret, SYSFS_PCI_DEVICES "/%s", address);

	return n < 0 ? -ENOMEM : 0;
}

int sysfs_driver_attr_path(const char *driver, const char *attr, char **ret)
{
	int n = attr ? asprintf(ret, SYSFS_PCI_DRIVERS "/%s/%s", driver, attr)
		     : asprintf(ret, SYSFS_PCI_DRIVERS "/%s", driver);

	return n < 0 ? -ENOMEM : 0;
}

int sysfs_pci_open(const struct sysfs *s, const char *address, const char *sub)
{
	_cleanup_free_ char *dir = NULL;
	int fd, r;

	if (!pci_addr_is_valid(address))
		return -EINVAL;
	r = sysfs_pci_attr_path(address, sub, &dir);
	if (r < 0)
		return r;
	fd = sysfs_open_dir(s, dir);
	return fd == -ENOENT && !sub ? -ENODEV : fd;
}

int sysfs_pci_open_parent(const struct sysfs *s, const char *address,
			  char parent[static PCI_ADDR_MAX + 1], char **ret_dir)
{
	char link[STRLEN(SYSFS_PCI_DEVICES) + 1 + PCI_ADDR_MAX + 1], target[PATH_MAX];
	const char *below_root = NULL;
	ssize_t k;
	int fd;

	if (ret_dir)
		*ret_dir = NULL;
	if (!pci_addr_is_valid(address))
		return -EINVAL;
	(void)snprintf(link, sizeof(link), SYSFS_PCI_DEVICES "/%s", address);
	parent[0] = 0;
	k = readlinkat(s->root_fd, link, target, sizeof(target) - 1);
	if (k < 0 && errno != EINVAL)	/* EINVAL: a directory, as a synthetic tree may have */
		return errno == ENOENT ? -ENODEV : -errno;
	if (k > 0) {
		char *last;

		/* …/devices/pci0000:00/0000:00:1c.0/0000:01:00.0: the component before ours, if
		 * it is a PCI function, is the bridge (port) the function's link goes to. */
		target[k] = 0;
		last = strrchr(target, '/');
		if (last) {
			*last = 0;
			if (!pci_path_last_address(target, parent))
				parent[0] = 0;	/* on a root bus */
			*last = '/';
		}
		/* bus/pci/devices/../../../devices/…: opened from the root, the lookup neither
		 * goes down bus/pci/devices again nor follows the link. */
		below_root = startswith(target, "../../../");
	}
	fd = below_root ? openat(s->root_fd, below_root, O_DIRECTORY | O_PATH | O_CLOEXEC) : -1;
	if (fd >= 0 && ret_dir) {
		*ret_dir = strdup(below_root);
		if (!*ret_dir) {
			(void)safe_close(fd);
			return -ENOMEM;
		}
	}
	if (fd < 0)
		fd = openat(s->root_fd, link, O_DIRECTORY | O_PATH | O_CLOEXEC);
	return fd >= 0 ? fd : errno == ENOENT ? -ENODEV : -errno;
}

int sysfs_pci_list(const struct sysfs *s, char ***ret, size_t *ret_n)
{
	return sysfs_list(s, SYSFS_PCI_DEVICES, ret, ret_n);
}

/* The last PCI address among the components of a symlink's target. */
static int link_owner(const struct sysfs *s, const char *path, char buf[static PCI_ADDR_MAX + 1])
{
	char target[PATH_MAX];
	ssize_t k = readlinkat(s->root_fd, path, target, sizeof(target) - 1);

	if (k < 0)
		return -errno;
	target[k] = 0;
	return pci_path_last_address(target, buf) ? 0 : -ENOENT;
}

int sysfs_pci_driver(const struct sysfs *s, const char *address, char **ret)
{
	_cleanup_close_ int fd = sysfs_pci_open(s, address, NULL);
	int r;

	if (fd < 0)
		return fd;
	r = sysfs_readlink_name_at(fd, "driver", ret);
	if (r == -ENOENT) {
		*ret = NULL;
		return 0;
	}
	return r;
}

int sysfs_pci_override(const struct sysfs *s, const char *address, char **ret)
{
	_cleanup_close_ int fd = sysfs_pci_open(s, address, NULL);
	_cleanup_free_ char *v = NULL;
	int r;

	if (fd < 0)
		return fd;
	r = sysfs_read_at(fd, "driver_override", &v);
	if (r < 0)
		return r;
	*ret = streq(v, "(null)") || isempty(v) ? NULL : TAKE_PTR(v);
	return 0;
}

int sysfs_pci_header(const struct sysfs *s, const char *address, int *ret)
{
	_cleanup_close_ int fd = sysfs_pci_open(s, address, NULL);
	uint8_t config[PCI_HEADER_TYPE + 1];
	ssize_t n;

	if (fd < 0)
		return fd;
	n = sysfs_read_bin_at(fd, "config", config, sizeof(config));
	if (n < 0)
		return (int)n;
	if (n < (ssize_t)sizeof(config))
		return -ENODEV;
	*ret = config[PCI_HEADER_TYPE] & 0x7f;
	return 0;
}

bool sysfs_pci_driver_registered(const struct sysfs *s, const char *driver)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;

	if (sysfs_driver_attr_path(driver, NULL, &path) < 0)
		return false;
	fd = sysfs_open_dir(s, path);
	return fd >= 0;
}

int sysfs_iommu_groups(const struct sysfs *s, char ***ret, size_t *ret_n)
{
	return sysfs_list(s, SYSFS_IOMMU_GROUPS, ret, ret_n);
}

int sysfs_iommu_group_members(const struct sysfs *s, int64_t group, char ***ret, size_t *ret_n)
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, SYSFS_IOMMU_GROUPS "/%" PRIi64 "/devices", group) < 0)
		return -ENOMEM;
	return sysfs_list(s, path, ret, ret_n);
}

int sysfs_iommu_group_type(const struct sysfs *s, int64_t group, char **ret)
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, SYSFS_IOMMU_GROUPS "/%" PRIi64 "/type", group) < 0)
		return -ENOMEM;
	return sysfs_read(s, path, ret);
}

/* --- device classes ------------------------------------------------------------------------ */

int sysfs_class_list(const struct sysfs *s, const char *class, char ***ret, size_t *ret_n)
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, "class/%s", class) < 0)
		return -ENOMEM;
	return sysfs_list(s, path, ret, ret_n);
}

int sysfs_class_open(const struct sysfs *s, const char *class, const char *name)
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, "class/%s/%s", class, name) < 0)
		return -ENOMEM;
	return sysfs_open_dir(s, path);
}

int sysfs_class_owner(const struct sysfs *s, const char *class, const char *name,
		      char ret[static PCI_ADDR_MAX + 1])
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, "class/%s/%s", class, name) < 0)
		return -ENOMEM;
	return link_owner(s, path, ret);
}
