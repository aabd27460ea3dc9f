/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmcheck: the guest's side of the VM tests. It asks the kernel itself whether an IOMMU group
 * is viable (VFIO_GROUP_GET_STATUS, then VFIO_GROUP_SET_CONTAINER, VFIO_SET_IOMMU and
 * VFIO_GROUP_GET_DEVICE_FD as QEMU does), compares that with pcipassd's verdicts, reads fields
 * of pcipassctl's JSON, and does the bare sysfs writes the benchmark compares pcipassd with.
 *
 *   vmcheck viable GROUP        prints viable, not-viable or no-node (no member on vfio)
 *   vmcheck compare [MIN] < groups
 *                               pcipassctl -j groups on stdin; one line per group; exit 1
 *                               when the daemon and the kernel disagree on any group, when a
 *                               /dev/vfio group node has no group in the reply, or when fewer
 *                               than MIN groups could be compared
 *   vmcheck get PATH < json     prints the value at PATH (a.0.b); exit 1 when absent
 *   vmcheck rebind DRIVER BDF…  driver_override, unbind, drivers_probe per function; DRIVER
 *                               "-" clears the override (back to the host driver)
 *   vmcheck now                 CLOCK_MONOTONIC in seconds
 *
 * Runs only inside the test VM: it writes the real /sys.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

enum verdict { NO_NODE, VIABLE, NOT_VIABLE, FAILED };
static const char *const verdict_name[] = { "no-node", "viable", "not-viable", "error" };

static bool member_on_vfio(const char *bdf)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strstr(strrchr(target, '/') ?: target, "vfio");
}

/* Goes as far as QEMU would: container, IOMMU model, a device fd for every vfio member. */
static enum verdict open_as_qemu(int group_fd, long group, char *why, size_t len)
{
	char dir[64];
	struct dirent *de;
	DIR *d;
	int container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	enum verdict v = VIABLE;

	if (container < 0) {
		snprintf(why, len, "open /dev/vfio/vfio: %m");
		return FAILED;
	}
	if (ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &container) < 0) {
		snprintf(why, len, "VFIO_GROUP_SET_CONTAINER: %m");
		close(container);
		return errno == EPERM || errno == EBUSY ? NOT_VIABLE : FAILED;
	}
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
		snprintf(why, len, "VFIO_SET_IOMMU: %m");
		v = FAILED;
	}
	snprintf(dir, sizeof(dir), "/sys/kernel/iommu_groups/%ld/devices", group);
	d = opendir(dir);
	while (v == VIABLE && d && (de = readdir(d))) {
		struct vfio_device_info info = { .argsz = sizeof(info) };
		int fd;

		if (de->d_name[0] == '.' || !member_on_vfio(de->d_name))
			continue;
		fd = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, de->d_name);
		if (fd < 0 || ioctl(fd, VFIO_DEVICE_GET_INFO, &info) < 0) {
			snprintf(why, len, "%.32s: VFIO_GROUP_GET_DEVICE_FD/GET_INFO: %m", de->d_name);
			v = FAILED;
		}
		if (fd >= 0)
			close(fd);
	}
	if (d)
		closedir(d);
	(void)ioctl(group_fd, VFIO_GROUP_UNSET_CONTAINER);
	close(container);
	return v;
}

static enum verdict kernel_verdict(long group, char *why, size_t len)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	char node[64];
	enum verdict v;
	int fd;

	why[0] = '\0';
	snprintf(node, sizeof(node), "/dev/vfio/%ld", group);
	fd = open(node, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return NO_NODE;
	if (fd < 0) {
		snprintf(why, len, "open %s: %m", node);
		return FAILED;
	}
	if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st) < 0) {
		snprintf(why, len, "VFIO_GROUP_GET_STATUS: %m");
		close(fd);
		return FAILED;
	}
	v = open_as_qemu(fd, group, why, len);
	/* The status flag and what SET_CONTAINER does must tell the same story. */
	if (v != FAILED && !!(st.flags & VFIO_GROUP_FLAGS_VIABLE) != (v == VIABLE)) {
		snprintf(why + strlen(why), len - strlen(why), " (GET_STATUS said %sviable)",
			 st.flags & VFIO_GROUP_FLAGS_VIABLE ? "" : "not ");
		v = FAILED;
	}
	close(fd);
	return v;
}

static json_object *read_json(void)
{
	static char buf[1 << 22];
	size_t n = fread(buf, 1, sizeof(buf) - 1, stdin);
	json_object *o;

	buf[n] = '\0';
	o = json_tokener_parse(buf);
	if (!o)
		fprintf(stderr, "vmcheck: stdin is not JSON\n");
	return o;
}

static bool group_listed(json_object *groups, long id)
{
	for (size_t i = 0; i < json_object_array_length(groups); i++) {
		json_object *g = json_object_array_get_idx(groups, i), *v;

		if (json_object_object_get_ex(g, "id", &v) && json_object_get_int64(v) == id)
			return true;
	}
	return false;
}

static int cmd_compare(int min)
{
	json_object *root = read_json(), *groups;
	int bad = 0, compared = 0;
	struct dirent *de;
	DIR *d;

	if (!root || !json_object_object_get_ex(root, "groups", &groups))
		return 1;
	/* Every group the kernel has a VFIO node for must be in the daemon's reply. */
	d = opendir("/dev/vfio");
	while (d && (de = readdir(d))) {
		char *end;
		long id = strtol(de->d_name, &end, 10);

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end || group_listed(groups, id))
			continue;
		printf("group %ld: /dev/vfio/%ld exists, the daemon does not list the group\n", id, id);
		bad++;
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < json_object_array_length(groups); i++) {
		json_object *g = json_object_array_get_idx(groups, i), *id, *viable;
		char why[512];
		enum verdict k;
		bool daemon;

		if (!json_object_object_get_ex(g, "id", &id) ||
		    !json_object_object_get_ex(g, "viable", &viable)) {
			printf("group ?: the daemon's reply lacks id or viable\n");
			bad++;
			continue;
		}
		daemon = json_object_get_boolean(viable);
		k = kernel_verdict(json_object_get_int64(id), why, sizeof(why));
		if (k == NO_NODE) {
			/* No member on vfio: the kernel has no VFIO view of the group to ask. */
			printf("group %" PRId64 ": daemon %s, kernel has no vfio node\n",
			       json_object_get_int64(id), daemon ? "viable" : "not-viable");
			continue;
		}
		compared++;
		if (k == FAILED || daemon != (k == VIABLE))
			bad++;
		printf("group %" PRId64 ": daemon %s, kernel %s%s%s%s\n", json_object_get_int64(id),
		       daemon ? "viable" : "not-viable", verdict_name[k], why[0] ? " (" : "", why,
		       why[0] ? ")" : "");
	}
	printf("%d groups compared, %d disagree\n", compared, bad);
	if (compared < min)
		printf("fewer than the %d groups with a vfio node expected\n", min);
	json_object_put(root);
	return bad || compared < min ? 1 : 0;
}

static int cmd_get(const char *path)
{
	json_object *root = read_json(), *o = root;
	char *copy = strdup(path), *save = NULL;
	int r = 0;

	for (char *k = strtok_r(copy, ".", &save); o && k; k = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array)) {
			char *end;
			long idx = strtol(k, &end, 10);

			o = *end || idx < 0 ? NULL : json_object_array_get_idx(o, (size_t)idx);
		} else if (!json_object_object_get_ex(o, k, &o))
			o = NULL;
	}
	if (!o)
		r = 1;
	else if (json_object_is_type(o, json_type_string))
		printf("%s\n", json_object_get_string(o));
	else
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	free(copy);
	json_object_put(root);
	return r;
}

static int write_attr(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* Only the writes, as a shell loop or driverctl would do them, without any checking. */
static int cmd_rebind(const char *driver, char **bdfs, int n)
{
	int bad = 0;

	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		int r;

		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdfs[i]);
		r = write_attr(path, strcmp(driver, "-") ? driver : "\n");
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", bdfs[i]);
		if (r >= 0 && access(path, F_OK) == 0)
			r = write_attr(path, bdfs[i]);
		if (r >= 0)
			r = write_attr("/sys/bus/pci/drivers_probe", bdfs[i]);
		if (r < 0) {
			fprintf(stderr, "vmcheck: %s: %s\n", bdfs[i], strerror(-r));
			bad++;
		}
	}
	return bad ? 1 : 0;
}

int main(int argc, char *argv[])
{
	if (argc == 3 && !strcmp(argv[1], "viable")) {
		char why[512];
		enum verdict v = kernel_verdict(strtol(argv[2], NULL, 10), why, sizeof(why));

		printf("%s%s%s%s\n", verdict_name[v], why[0] ? " (" : "", why, why[0] ? ")" : "");
		return v == FAILED ? 1 : 0;
	}
	if ((argc == 2 || argc == 3) && !strcmp(argv[1], "compare"))
		return cmd_compare(argc == 3 ? atoi(argv[2]) : 0);
	if (argc == 3 && !strcmp(argv[1], "get"))
		return cmd_get(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "rebind"))
		return cmd_rebind(argv[2], argv + 3, argc - 3);
	if (argc == 2 && !strcmp(argv[1], "now")) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		printf("%lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
		return 0;
	}
	fprintf(stderr, "usage: vmcheck viable GROUP | compare [MIN] | get PATH | rebind DRIVER BDF… | now\n");
	return 2;
}
