/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The only libudev user: a monitor on the "udev" netlink group (events after udev's rules ran
 * and device nodes exist) for the pci, vfio, vfio-dev and uio subsystems, on sd-event.
 */

#include <stdint.h>

#include <systemd/sd-event.h>

enum uevent_action {
	UEVENT_ADD,
	UEVENT_REMOVE,
	UEVENT_CHANGE,
	UEVENT_MOVE,
	UEVENT_ONLINE,
	UEVENT_OFFLINE,
	UEVENT_BIND,
	UEVENT_UNBIND,
	_UEVENT_ACTION_MAX,
	_UEVENT_ACTION_INVALID = -22,
};

const char *uevent_action_to_string(enum uevent_action a);
enum uevent_action uevent_action_from_string(const char *s);

struct uevent {
	enum uevent_action action;
	const char *subsystem;	/* "pci", "vfio", "vfio-dev", "uio" */
	const char *sysname;	/* "0000:00:03.0", "12", "vfio0", "uio0" */
	const char *devpath;	/* "/devices/pci0000:00/0000:00:03.0" */
	const char *devname;	/* "/dev/vfio/12" or NULL */
	uint64_t seqnum;
};

/* ev is NULL when events were lost (receive buffer overflow): re-read everything. */
typedef void (*uevent_handler)(const struct uevent *ev, void *userdata);

struct udev_watch;

int udev_watch_new(sd_event *event, uevent_handler handler, void *userdata,
		   struct udev_watch **ret);
struct udev_watch *udev_watch_free(struct udev_watch *w);

/* The PCI function a devpath belongs to: its last component that is a PCI address. */
int uevent_devpath_pci_address(const char *devpath, char *ret, size_t size);
