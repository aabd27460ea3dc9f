/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * walker: the yardstick of bench/ratios.py. It reads, for every PCI function under
 * SYSFS/bus/pci/devices, what `pcipassctl list` shows (identity, driver, override, IOMMU group,
 * NUMA node, link, resets) and prints one line each, the least any tool can do for that:
 *
 *   walker SYSFS attrs    every value from its sysfs attribute
 *   walker SYSFS config   identity and link from the first 256 bytes of config space, the rest
 *                         from attributes (what needs no attribute of its own)
 *
 * One thread, relative opens from each function's directory, no allocation per function.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_attr(int dfd, const char *name, char *buf, size_t size)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	buf[0] = 0;
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = 0;
	return 0;
}

static const char *link_base(int dfd, const char *name, char *buf, size_t size)
{
	ssize_t n = readlinkat(dfd, name, buf, size - 1);
	char *slash;

	if (n < 0)
		return "-";
	buf[n] = 0;
	slash = strrchr(buf, '/');
	return slash ? slash + 1 : buf;
}

static unsigned le16(const unsigned char *p)
{
	return p[0] | p[1] << 8;
}

int main(int argc, char **argv)
{
	char drv[256], grp[256], ovr[256], numa[32], resets[256];
	int config_mode, root, devs;
	DIR *d;
	struct dirent *de;
	size_t n = 0;

	if (argc != 3 || (strcmp(argv[2], "attrs") && strcmp(argv[2], "config"))) {
		fprintf(stderr, "usage: walker SYSFS attrs|config\n");
		return 2;
	}
	config_mode = !strcmp(argv[2], "config");
	root = open(argv[1], O_DIRECTORY | O_PATH | O_CLOEXEC);
	devs = root < 0 ? -1 : openat(root, "bus/pci/devices", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	d = devs < 0 ? NULL : fdopendir(devs);
	if (!d) {
		perror(argv[1]);
		return 1;
	}
	while ((de = readdir(d))) {
		char ids[256], link[256];
		int dfd;

		if (de->d_name[0] == '.')
			continue;
		dfd = openat(devs, de->d_name, O_DIRECTORY | O_PATH | O_CLOEXEC);
		if (dfd < 0)
			continue;
		if (config_mode) {
			unsigned char cfg[256] = { 0 };
			int fd = openat(dfd, "config", O_RDONLY | O_CLOEXEC);
			ssize_t k = fd < 0 ? -1 : pread(fd, cfg, sizeof(cfg), 0);
			unsigned pos = cfg[0x34], lnksta = 0, lnkcap = 0;

			if (fd >= 0)
				close(fd);
			snprintf(ids, sizeof(ids), "%04x:%04x %02x%02x%02x %04x:%04x %02x", le16(cfg),
				 le16(cfg + 2), cfg[0xb], cfg[0xa], cfg[9], le16(cfg + 0x2c),
				 le16(cfg + 0x2e), cfg[8]);
			for (int ttl = 48; k >= 256 && (cfg[6] & 0x10) && ttl-- && pos >= 0x40;
			     pos = cfg[pos + 1]) {
				pos &= ~3u;
				if (cfg[pos] == 0x10 && pos + 0x14 <= 256) {
					lnkcap = le16(cfg + pos + 0xc);
					lnksta = le16(cfg + pos + 0x12);
					break;
				}
			}
			snprintf(link, sizeof(link), "%u x%u / %u x%u", lnksta & 0xf, (lnksta >> 4) & 0x3f,
				 lnkcap & 0xf, (lnkcap >> 4) & 0x3f);
		} else {
			char v[32], dv[32], c[32], sv[32], sd[32], rev[32], s1[32], w1[32], s2[32], w2[32];

			read_attr(dfd, "vendor", v, sizeof(v));
			read_attr(dfd, "device", dv, sizeof(dv));
			read_attr(dfd, "class", c, sizeof(c));
			read_attr(dfd, "subsystem_vendor", sv, sizeof(sv));
			read_attr(dfd, "subsystem_device", sd, sizeof(sd));
			read_attr(dfd, "revision", rev, sizeof(rev));
			snprintf(ids, sizeof(ids), "%s:%s %s %s:%s %s", v, dv, c, sv, sd, rev);
			read_attr(dfd, "current_link_speed", s1, sizeof(s1));
			read_attr(dfd, "current_link_width", w1, sizeof(w1));
			read_attr(dfd, "max_link_speed", s2, sizeof(s2));
			read_attr(dfd, "max_link_width", w2, sizeof(w2));
			snprintf(link, sizeof(link), "%s x%s / %s x%s", s1, w1, s2, w2);
		}
		read_attr(dfd, "driver_override", ovr, sizeof(ovr));
		read_attr(dfd, "numa_node", numa, sizeof(numa));
		read_attr(dfd, "reset_method", resets, sizeof(resets));
		printf("%s %s driver=%s override=%s group=%s numa=%s link=%s resets=%s\n", de->d_name, ids,
		       link_base(dfd, "driver", drv, sizeof(drv)), ovr,
		       link_base(dfd, "iommu_group", grp, sizeof(grp)), numa, link, resets);
		close(dfd);
		n++;
	}
	closedir(d);
	fprintf(stderr, "%zu functions\n", n);
	return 0;
}
