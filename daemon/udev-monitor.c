/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <libudev.h>

#include "lib/macro.h"
#include "lib/util.h"
#include "udev-monitor.h"

/* Large enough for a rescan's worth of events on a big SR-IOV host; the kernel caps it. */
#define RECEIVE_BUFFER_SIZE (128 * 1024 * 1024)

struct udev_watch {
	struct udev *udev;
	struct udev_monitor *monitor;
	sd_event_source *source;
	uevent_handler handler;
	void *userdata;
};

static const char *const action_table[_UEVENT_ACTION_MAX] = {
	[UEVENT_ADD] = "add",	    [UEVENT_REMOVE] = "remove", [UEVENT_CHANGE] = "change",
	[UEVENT_MOVE] = "move",	    [UEVENT_ONLINE] = "online", [UEVENT_OFFLINE] = "offline",
	[UEVENT_BIND] = "bind",	    [UEVENT_UNBIND] = "unbind",
};

const char *uevent_action_to_string(enum uevent_action a)
{
	if (a < 0 || a >= _UEVENT_ACTION_MAX)
		return NULL;
	return action_table[a];
}

enum uevent_action uevent_action_from_string(const char *s)
{
	for (int i = 0; i < _UEVENT_ACTION_MAX; i++)
		if (streq(action_table[i], s))
			return (enum uevent_action)i;
	return _UEVENT_ACTION_INVALID;
}

int uevent_devpath_pci_address(const char *devpath, char *ret, size_t size)
{
	const char *end;

	if (!devpath)
		return -EINVAL;
	end = devpath + strlen(devpath);
	while (end > devpath) {
		const char *start = end;
		size_t n;

		while (start > devpath && start[-1] != '/')
			start--;
		n = (size_t)(end - start);
		if (n > 0 && n < size && n <= PCI_ADDR_MAX) {
			memcpy(ret, start, n);
			ret[n] = '\0';
			if (pci_addr_is_valid(ret))
				return 0;
		}
		end = start > devpath ? start - 1 : devpath;
	}
	return -ENOENT;
}

static void watch_dispatch(struct udev_watch *w, struct udev_device *dev)
{
	const char *action = udev_device_get_action(dev);
	const char *seqnum = udev_device_get_property_value(dev, "SEQNUM");
	struct uevent ev = {
		.action = uevent_action_from_string(action),
		.subsystem = udev_device_get_subsystem(dev),
		.sysname = udev_device_get_sysname(dev),
		.devpath = udev_device_get_devpath(dev),
		.devname = udev_device_get_devnode(dev),
	};

	if (ev.action < 0 || !ev.subsystem || !ev.sysname)
		return;
	if (seqnum)
		ev.seqnum = strtoull(seqnum, NULL, 10);
	w->handler(&ev, w->userdata);
}

static int watch_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct udev_watch *w = userdata;

	for (;;) {
		struct udev_device *dev;

		errno = 0;
		dev = udev_monitor_receive_device(w->monitor);
		if (dev) {
			watch_dispatch(w, dev);
			udev_device_unref(dev);
		} else if (errno == ENOBUFS) {
			/* Netlink is lossy: the handler re-reads the world. */
			w->handler(NULL, w->userdata);
		} else if (errno != EINTR) {
			break;	/* drained (EAGAIN), or a message libudev dropped */
		}
	}
	return 0;
}

int udev_watch_new(sd_event *event, uevent_handler handler, void *userdata,
		   struct udev_watch **ret)
{
	static const char *const subsystems[] = { "pci", "vfio", "vfio-dev", "uio" };
	struct udev_watch *w;
	int r;

	w = new0(struct udev_watch, 1);
	if (!w)
		return -ENOMEM;
	w->handler = handler;
	w->userdata = userdata;
	w->udev = udev_new();
	if (!w->udev) {
		r = -ENOMEM;
		goto fail;
	}
	w->monitor = udev_monitor_new_from_netlink(w->udev, "udev");
	if (!w->monitor) {
		r = errno > 0 ? -errno : -EIO;
		goto fail;
	}
	for (size_t i = 0; i < ELEMENTSOF(subsystems); i++) {
		r = udev_monitor_filter_add_match_subsystem_devtype(w->monitor, subsystems[i], NULL);
		if (r < 0)
			goto fail;
	}
	/* Best effort: past net.core.rmem_max only with CAP_NET_ADMIN, which the unit does not
	 * give (an overflow costs a rescan, see watch_on_io). */
	(void)udev_monitor_set_receive_buffer_size(w->monitor, RECEIVE_BUFFER_SIZE);
	r = udev_monitor_enable_receiving(w->monitor);
	if (r < 0)
		goto fail;
	r = sd_event_add_io(event, &w->source, udev_monitor_get_fd(w->monitor), EPOLLIN,
			    watch_on_io, w);
	if (r < 0)
		goto fail;
	*ret = w;
	return 0;
fail:
	udev_watch_free(w);
	return r;
}

struct udev_watch *udev_watch_free(struct udev_watch *w)
{
	if (!w)
		return NULL;
	sd_event_source_disable_unref(w->source);
	udev_monitor_unref(w->monitor);
	udev_unref(w->udev);
	free(w);
	return NULL;
}
