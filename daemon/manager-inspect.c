/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What Get adds to a device: its config space decoded, and the UIO or VFIO view of it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/json-util.h"
#include "manager.h"
#include "pciconfig.h"
#include "sysfs.h"

#define CONFIG_MAX 4096

static int add_attr_str(json_object *o, const char *key, int dfd, const char *name)
{
	_cleanup_free_ char *v = NULL;

	if (sysfs_read_at(dfd, name, &v) < 0)
		return json_add_null(o, key);
	return json_add_str(o, key, v);
}

static int add_attr_num(json_object *o, const char *key, int dfd, const char *name)
{
	_cleanup_free_ char *v = NULL;
	unsigned long long n;
	char *end;

	if (sysfs_read_at(dfd, name, &v) < 0)
		return json_add_null(o, key);
	errno = 0;
	n = strtoull(v, &end, 0);
	if (errno || end == v || *end)
		return json_add_null(o, key);
	return json_add_int(o, key, (int64_t)n);
}

/* maps/mapN or portio/portN: each entry's attributes. */
/* The regions below uioN/maps or uioN/portio. */
static int uio_regions(int uio_fd, const char *sub, const char *const *attrs, size_t n_attrs,
		       json_object **ret)
{
	_cleanup_strv_free_ char **names = NULL;
	_cleanup_json_ json_object *a = json_object_new_array();
	_cleanup_close_ int sub_fd = sysfs_open_dir_at(uio_fd, sub);
	int r;

	if (!a)
		return -ENOMEM;
	if (sub_fd >= 0 && sysfs_list_at(sub_fd, ".", &names, NULL) >= 0)
		for (char **e = names; *e; e++) {
			_cleanup_close_ int dfd = sysfs_open_dir_at(sub_fd, *e);
			json_object *o = json_object_new_object();

			if (!o || json_object_array_add(a, o) < 0) {
				(void)json_object_put(o);
				return -ENOMEM;
			}
			r = json_add_str(o, "region", *e);
			for (size_t i = 0; i < n_attrs && r >= 0 && dfd >= 0; i++)
				r = streq(attrs[i], "name") || streq(attrs[i], "porttype")
					? add_attr_str(o, attrs[i], dfd, attrs[i])
					: add_attr_num(o, attrs[i], dfd, attrs[i]);
			if (r < 0)
				return r;
		}
	*ret = TAKE_PTR(a);
	return 0;
}

/* The uioN of a uio-bound function: name, version, event count, maps, port regions. */
static int uio_json(struct manager *m, const struct pcidev *d, json_object **ret)
{
	static const char *const map_attrs[] = { "name", "addr", "size", "offset" };
	static const char *const port_attrs[] = { "name", "start", "size", "porttype" };
	_cleanup_strv_free_ char **uio = NULL;
	_cleanup_free_ char *node = NULL;
	_cleanup_json_ json_object *o = NULL;
	_cleanup_close_ int uio_dir = sysfs_pci_open(m->sysfs, d->address, "uio"), dfd = -EBADF;
	json_object *a = NULL;
	int r;

	*ret = NULL;
	if (uio_dir < 0 || sysfs_list_at(uio_dir, ".", &uio, NULL) < 0 || !uio[0])
		return 0;
	if (asprintf(&node, "%s/%s", m->dev_root, uio[0]) < 0)
		return -ENOMEM;
	o = json_object_new_object();
	dfd = sysfs_open_dir_at(uio_dir, uio[0]);
	if (!o || dfd < 0)
		return o ? 0 : -ENOMEM;
	r = json_add_str(o, "device", uio[0]);
	if (r >= 0)
		r = json_add_str(o, "node", node);
	if (r >= 0)
		r = json_add_bool(o, "node_exists", path_exists(node));
	if (r >= 0)
		r = add_attr_str(o, "name", dfd, "name");
	if (r >= 0)
		r = add_attr_str(o, "version", dfd, "version");
	if (r >= 0)
		r = add_attr_num(o, "event_count", dfd, "event");
	if (r >= 0)
		r = uio_regions(dfd, "maps", map_attrs, ELEMENTSOF(map_attrs), &a);
	if (r >= 0)
		r = json_add(o, "maps", TAKE_PTR(a));
	if (r >= 0)
		r = uio_regions(dfd, "portio", port_attrs, ELEMENTSOF(port_attrs), &a);
	if (r >= 0)
		r = json_add(o, "portio", TAKE_PTR(a));
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

int manager_open_by(struct manager *m, const struct pcidev *d, enum plan_purpose purpose,
		    char **ret)
{
	_cleanup_(manager_plan_done) struct manager_plan mp = {};
	/* Facts are gathered for what rules match: one rule naming this function. */
	char name[] = "inspect", *addresses[] = { (char *)d->address, NULL };
	struct policy_rule rule = { .name = name, .addresses = addresses,
				    .target = POLICY_TARGET_HOST };
	struct policy_rule *rules[] = { &rule };
	const struct policy one = { .rules = rules, .n_rules = 1 };
	int r;

	*ret = NULL;
	r = manager_plan_build(m, &one, d->address, purpose, &mp);
	if (r < 0)
		return r;
	for (size_t i = 0; i < mp.facts.n_devs; i++)
		if (streq(mp.facts.devs[i].address, d->address) && mp.facts.devs[i].open_by) {
			*ret = strdup(mp.facts.devs[i].open_by);
			return *ret ? 0 : -ENOMEM;
		}
	return 0;
}

/* The VFIO view: the group node (or noiommu-N), the cdev, who holds it, the domain type. */
static int vfio_json(struct manager *m, const struct pcidev *d, enum plan_purpose purpose,
		     json_object **ret)
{
	_cleanup_strv_free_ char **cdev = NULL;
	_cleanup_free_ char *node = NULL, *noiommu = NULL, *cdev_node = NULL, *open_by = NULL;
	_cleanup_close_ int cdev_dir = -EBADF;
	_cleanup_json_ json_object *o = json_object_new_object();
	const struct iommu_group *g;
	const char *path = NULL;
	int r;

	*ret = NULL;
	if (!driver_is_vfio(d->driver) || d->iommu_group < 0)
		return 0;
	if (!o || asprintf(&node, "%s/vfio/%d", m->dev_root, d->iommu_group) < 0 ||
	    asprintf(&noiommu, "%s/vfio/noiommu-%d", m->dev_root, d->iommu_group) < 0)
		return -ENOMEM;
	path = path_exists(node) ? node : path_exists(noiommu) ? noiommu : NULL;
	r = model_read_types(&m->model, m->sysfs);
	if (r < 0)
		return r;
	g = model_find_group(&m->model, (uint32_t)d->iommu_group);
	cdev_dir = sysfs_pci_open(m->sysfs, d->address, "vfio-dev");
	if (cdev_dir >= 0 && sysfs_list_at(cdev_dir, ".", &cdev, NULL) >= 0 && cdev[0] &&
	    asprintf(&cdev_node, "%s/vfio/devices/%s", m->dev_root, cdev[0]) < 0)
		return -ENOMEM;
	/* Linux 6.1 to 6.5 list vfio-dev in sysfs without the cdev (CONFIG_VFIO_DEVICE_CDEV). */
	if (cdev_node && !path_exists(cdev_node))
		cdev_node = mfree(cdev_node);
	/* Who holds the group node: the same scan the planner's facts make. */
	r = manager_open_by(m, d, purpose, &open_by);
	if (r == -ENOMEM)
		return r;
	r = json_add_int(o, "iommu_group", d->iommu_group);
	if (r >= 0)
		r = path ? json_add_str(o, "group_node", path) : json_add_null(o, "group_node");
	if (r >= 0)
		r = json_add_bool(o, "noiommu", path == noiommu);
	if (r >= 0)
		r = cdev_node ? json_add_str(o, "cdev", cdev_node) : json_add_null(o, "cdev");
	if (r >= 0)
		r = json_add_bool(o, "in_use", open_by != NULL);
	if (r >= 0)
		r = open_by ? json_add_str(o, "open_by", open_by) : json_add_null(o, "open_by");
	if (r >= 0)
		r = g && g->type ? json_add_str(o, "group_type", g->type) : json_add_null(o, "group_type");
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

int manager_inspect_json(struct manager *m, const struct pcidev *d, enum plan_purpose purpose,
			 json_object *device)
{
	_cleanup_free_ char *resource = NULL;
	_cleanup_free_ uint8_t *cfg = malloc(CONFIG_MAX);
	_cleanup_close_ int dfd = -EBADF;
	json_object *config = NULL, *uio = NULL, *vfio = NULL;
	ssize_t n;
	int r;

	if (!cfg)
		return -ENOMEM;
	dfd = sysfs_pci_open(m->sysfs, d->address, NULL);
	n = dfd >= 0 ? sysfs_read_bin_at(dfd, "config", cfg, CONFIG_MAX) : dfd;
	if (dfd >= 0)
		(void)sysfs_read_at(dfd, "resource", &resource);
	r = n >= 0 ? pci_config_to_json(cfg, (size_t)n, resource, &config) : 0;
	if (r < 0)
		return r;
	r = config ? json_add(device, "config", config) : json_add_null(device, "config");
	if (r >= 0)
		r = uio_json(m, d, &uio);
	if (r >= 0)
		r = uio ? json_add(device, "uio", uio) : json_add_null(device, "uio");
	if (r >= 0)
		r = vfio_json(m, d, purpose, &vfio);
	if (r >= 0)
		r = vfio ? json_add(device, "vfio", vfio) : json_add_null(device, "vfio");
	return r;
}
