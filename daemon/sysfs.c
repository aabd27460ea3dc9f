/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

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
	*ret = s;
	return 0;
}

struct sysfs *sysfs_free(struct sysfs *s)
{
	if (!s)
		return NULL;
	safe_close(s->root_fd);
	free(s->root);
	free(s);
	return NULL;
}

int sysfs_open_dir(const struct sysfs *s, const char *path)
{
	int fd = openat(s->root_fd, path, O_DIRECTORY | O_PATH | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Reads an attribute into buf (NUL-terminated, trailing whitespace stripped). */
static int read_attr(int dirfd, const char *name, char buf[static SYSFS_ATTR_MAX + 1])
{
	_cleanup_close_ int fd = -EBADF;
	ssize_t n;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
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

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
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

int sysfs_list(const struct sysfs *s, const char *path, char ***ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_strv_free_ char **l = NULL;
	size_t n = 0, size = 0;
	struct dirent *de;
	int fd;

	fd = openat(s->root_fd, path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
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

int sysfs_write(const struct sysfs *s, const char *path, const char *value)
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
