/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/log.h"
#include "manager.h"
#include "sysfs.h"
#include "udev-monitor.h"

int manager_new(const struct manager_config *config, struct manager **ret)
{
	_cleanup_(manager_freep) struct manager *m = NULL;
	int r;

	m = new0(struct manager, 1);
	if (!m)
		return -ENOMEM;
	m->read_only = config->read_only;
	m->sysfs_root = strdup(config->sysfs_root);
	m->dev_root = strdup(config->dev_root);
	m->socket_path = strdup(config->socket_path);
	m->state_dir = strdup(config->state_dir);
	if (!m->sysfs_root || !m->dev_root || !m->socket_path || !m->state_dir)
		return -ENOMEM;

	r = sysfs_open(m->sysfs_root, m->read_only, &m->sysfs);
	if (r < 0)
		return log_error_errno(r, "Failed to open sysfs root '%s': %m", m->sysfs_root);
	r = sd_event_default(&m->event);
	if (r < 0)
		return log_error_errno(r, "Failed to allocate event loop: %m");
	*ret = TAKE_PTR(m);
	return 0;
}

struct manager *manager_free(struct manager *m)
{
	if (!m)
		return NULL;
	manager_varlink_stop(m);
	udev_watch_free(m->udev);
	model_done(&m->model);
	sysfs_free(m->sysfs);
	sd_event_unref(m->event);
	free(m->sysfs_root);
	free(m->dev_root);
	free(m->socket_path);
	free(m->state_dir);
	free(m);
	return NULL;
}

int manager_device_json(struct manager *m, const struct pcidev *d, json_object **ret)
{
	_cleanup_strv_free_ char **siblings = NULL;
	int r;

	r = model_siblings(&m->model, d, &siblings);
	if (r < 0)
		return r;
	return pcidev_to_json(d, siblings, ret);
}

int manager_rescan(struct manager *m)
{
	int r;

	r = model_scan(&m->model, m->sysfs);
	if (r < 0)
		return log_error_errno(r, "Failed to read PCI devices from '%s': %m", m->sysfs_root);
	m->n_scans++;
	log_debug("Scanned %zu PCI functions in %zu IOMMU groups", m->model.n_devs,
		  m->model.n_groups);
	return 0;
}

static void manager_on_pci_event(struct manager *m, const struct uevent *ev)
{
	_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;
	struct pcidev *d = NULL;
	int r;

	if (!pci_addr_is_valid(ev->sysname))
		return;
	/* Events are hints: whatever the action, sysfs says what is true now. */
	r = model_refresh(&m->model, m->sysfs, ev->sysname, &old, &d);
	if (r < 0) {
		log_warning_errno(r, "Failed to re-read PCI device %s after '%s', ignoring: %m",
				  ev->sysname, uevent_action_to_string(ev->action));
		return;
	}
	if (!old && !d)
		return;	/* came and went before we looked */
	log_debug("PCI %s %s: driver %s → %s", ev->sysname, uevent_action_to_string(ev->action),
		  old && old->driver ? old->driver : "(none)", d && d->driver ? d->driver : "(none)");
	manager_monitor_send(m, uevent_action_to_string(ev->action), ev->subsystem, ev->sysname, d,
			     NULL, ev->seqnum);
}

/* vfio group nodes, vfio-dev cdevs and uio devices: refresh the PCI function behind them. */
static void manager_on_node_event(struct manager *m, const struct uevent *ev)
{
	char address[PCI_ADDR_MAX + 1];
	struct pcidev *d = NULL;
	uint32_t group;

	if (uevent_devpath_pci_address(ev->devpath, address, sizeof(address)) >= 0) {
		if (model_refresh(&m->model, m->sysfs, address, NULL, &d) < 0)
			d = NULL;
	} else if (streq(ev->subsystem, "vfio") && safe_atou32(ev->sysname, &group) >= 0) {
		(void)model_refresh_group(&m->model, m->sysfs, group);
	}
	manager_monitor_send(m, uevent_action_to_string(ev->action), ev->subsystem,
			     d ? d->address : NULL, d, ev->devname, ev->seqnum);
}

static void manager_on_uevent(const struct uevent *ev, void *userdata)
{
	struct manager *m = userdata;

	if (!ev) {
		log_warning("Kernel events were lost (receive buffer overflow), re-reading sysfs");
		if (manager_rescan(m) >= 0)
			manager_monitor_send(m, "rescan", NULL, NULL, NULL, NULL, 0);
		return;
	}
	m->n_uevents++;
	if (streq(ev->subsystem, "pci"))
		manager_on_pci_event(m, ev);
	else
		manager_on_node_event(m, ev);
}

int manager_start(struct manager *m, int listen_fd)
{
	int r;

	if (mkdir(m->state_dir, 0755) < 0 && errno != EEXIST)
		return log_error_errno(errno, "Failed to create state directory '%s': %m",
				       m->state_dir);

	/* Subscribe before the scan, so that nothing that happens during it is missed. */
	r = udev_watch_new(m->event, manager_on_uevent, m, &m->udev);
	if (r < 0)
		return log_error_errno(r, "Failed to set up udev monitor: %m");
	r = manager_rescan(m);
	if (r < 0)
		return r;
	return manager_varlink_start(m, listen_fd);
}
