/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DumpRom: a function's expansion (option) ROM, read through sysfs as the kernel shows it, with
 * the verdict of daemon/pcirom.c on it.
 *
 * The rom attribute (drivers/pci/pci-sysfs.c) reads as EINVAL until it is enabled. Its write
 * handler, pci_write_rom(), disables it only for a write of exactly two bytes at offset 0 that
 * starts with '0' ("0\n"), and enables it for any other write; so we write "1\n" and "0\n", as
 * echo does. A read then maps the ROM BAR (pci_map_rom(), which trims what it shows to the chain
 * of images, and fails with EIO when there is no ROM resource or no 0x55AA image with a "PCIR"
 * structure at its start) and copies from it. The attribute is disabled again after every read,
 * also a failed one, and after a failed enable, since any write but "0\n" may have enabled it.
 *
 * The read runs on the event loop, like the other reads of sysfs: option ROMs are small (64 KiB
 * to a few MiB, at most ROM_DUMP_MAX here); kernfs hands out at most a page per read() and the
 * kernel maps the ROM for each, so a large ROM costs some thousand map/unmap cycles, and a
 * device whose ROM stalls the read stalls the daemon for that long.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/json-util.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/varlink.h"
#include "errors.h"
#include "manager.h"
#include "pcirom.h"
#include "sysfs.h"

/*
 * The largest ROM we read: pcipassctl's ROM_FILE_MAX. Real option ROMs are 64 KiB to a few MiB.
 * In base64 the reply is 4/3 of that plus the verdict, 22.4 MiB at most: far more than
 * VARLINK_MESSAGE_MAX (1 MiB), which bounds what the server accepts from a peer, but within
 * VARLINK_OUTPUT_MAX (64 MiB), which bounds both what the server queues for one peer and what
 * varlink_client_recv() takes in one reply. So the reply needs no limit of its own, and no
 * streaming.
 */
#define ROM_DUMP_MAX		(16U * 1024U * 1024U)


/*
 * Whether the kernel serves the ROM from the legacy shadow at 0xC0000 instead of the ROM BAR:
 * on x86, pci_fixup_video() marks every VGA device that decodes I/O and memory at boot
 * (IORESOURCE_ROM_SHADOW, the ROM resource moved to 0xC0000-0xDFFFF), and pci_map_rom() then
 * returns the firmware's initialized copy of the boot VGA BIOS: not this function's pristine
 * ROM, and for a second GPU possibly not even its own. sysfs shows it only as the ROM line
 * (the seventh) of the resource file starting at 0xc0000.
 */
static bool rom_shadowed(int dfd)
{
	_cleanup_free_ char *resource = NULL;
	const char *line;
	unsigned long long start, flags;

	if (sysfs_read_at(dfd, "resource", &resource) < 0)
		return false;
	line = resource;
	for (int i = 0; i < 6 && line; i++) {
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	/* The flags column has IORESOURCE_ROM_SHADOW (bit 1) on a shadowed ROM line. */
	return line && sscanf(line, "%llx %*x %llx", &start, &flags) == 2 &&
	       ((flags & 0x2) || start == 0xc0000);
}

/* What happened to the rom attribute: each step's error (0: it worked, or did not run). */
struct rom_dump {
	uint8_t *data;
	size_t size;
	bool shadow;	/* read from the legacy shadow at 0xC0000, not the ROM BAR */
	int enable_error, read_error, disable_error;
};

static void rom_dump_done(struct rom_dump *d)
{
	d->data = mfree(d->data);
}

/*
 * Enables the rom attribute of the function at address, reads it, and disables it again, also
 * after a failed enable or read. Fails with -ENODEV when the function is gone from sysfs and
 * -ENOENT when it has no rom attribute, having written nothing; else returns 0 with the steps'
 * errors in *ret (the read's: -EIO when the kernel could not map the ROM, -EFBIG when it is
 * larger than ROM_DUMP_MAX).
 */
static int rom_read(struct manager *m, const char *address, struct rom_dump *ret)
{
	_cleanup_free_ char *dir = NULL, *path = NULL, *pm_path = NULL, *pm = NULL;
	_cleanup_close_ int dfd = -EBADF, fd = -EBADF;
	struct rom_dump d = {};
	bool pm_held = false;
	struct stat st;
	int r;

	if (asprintf(&dir, "bus/pci/devices/%s", address) < 0 || asprintf(&path, "%s/rom", dir) < 0)
		return -ENOMEM;
	dfd = sysfs_open_dir(m->sysfs, dir);
	if (dfd < 0)
		return dfd == -ENOENT ? -ENODEV : dfd;
	if (fstatat(dfd, "rom", &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOENT;

	d.shadow = rom_shadowed(dfd);
	/* pci_read_rom() maps the BAR without a runtime-PM reference: a function its driver has
	 * runtime-suspended (vfio-pci does so with no user) sits in D3hot, where it decodes no
	 * memory and its ROM reads as all ones (EIO). Hold it in D0 for the read. */
	if (asprintf(&pm_path, "%s/power/control", dir) < 0)
		return -ENOMEM;
	if (sysfs_read(m->sysfs, pm_path, &pm) >= 0 && streq(pm, "auto")) {
		r = sysfs_write(m->sysfs, pm_path, "on\n");
		if (r < 0)
			log_debug_errno(r, "%s: failed to hold it powered for the ROM read, "
					"reading anyway: %m", address);
		pm_held = r >= 0;
	}
	d.enable_error = sysfs_write(m->sysfs, path, "1\n");
	if (d.enable_error >= 0) {
		fd = openat(dfd, "rom", O_RDONLY | O_CLOEXEC | O_NOCTTY);
		d.read_error = fd < 0 ? -errno : read_full_fd(fd, ROM_DUMP_MAX, &d.data, &d.size);
		fd = safe_close(fd);
	}
	d.disable_error = sysfs_write(m->sysfs, path, "0\n");
	if (pm_held) {
		r = sysfs_write(m->sysfs, pm_path, "auto\n");
		if (r < 0)
			log_warning_errno(r, "%s: failed to give runtime power management back "
					  "(power/control stays \"on\"): %m", address);
	}
	log_debug("%s: ROM attribute enabled (%s), read (%s), disabled (%s)", address,
		  d.enable_error < 0 ? strerror(-d.enable_error) : "ok",
		  d.read_error < 0 ? strerror(-d.read_error) : d.enable_error < 0 ? "-" : "ok",
		  d.disable_error < 0 ? strerror(-d.disable_error) : "ok");
	*ret = d;
	return 0;
}

static int error_with_address(struct varlink_conn *c, const char *error, const char *address,
			      const char *reason)
{
	json_object *p = json_object_new_object();

	if (!p || json_add_str(p, "address", address) < 0 ||
	    (reason && json_add_str(p, "reason", reason) < 0)) {
		(void)json_object_put(p);
		return -ENOMEM;
	}
	return varlink_error(c, error, p);
}

/* SystemError with a message that says what failed, not only strerror(). */
_printf_(3, 4)
static int system_error(struct varlink_conn *c, int error, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	json_object *p;
	va_list ap;
	int e = error < 0 ? -error : error, n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	p = json_object_new_object();
	if (!p || json_add_int(p, "errno", e) < 0 ||
	    json_add_str(p, "errno_name", strerrorname_np(e)) < 0 ||
	    json_add_str(p, "message", msg) < 0) {
		(void)json_object_put(p);
		return -ENOMEM;
	}
	return varlink_error(c, ERROR_SYSTEM, p);
}

static bool rom_dump_failed(const struct rom_dump *d)
{
	return d->enable_error < 0 || d->read_error < 0 || d->disable_error < 0 || d->size == 0;
}

/* Answers a dump that failed with the error that says what is wrong. */
static int rom_dump_error(struct varlink_conn *c, const char *address, const struct rom_dump *d)
{
	_cleanup_free_ char *reason = NULL;

	/* The first thing to say: the attribute was left enabled. */
	if (d->disable_error < 0) {
		log_warning_errno(d->disable_error, "%s: failed to disable the ROM attribute again, "
				  "it stays enabled: %m", address);
		return system_error(c, d->disable_error,
				    "Failed to disable the ROM attribute of %s again, it stays enabled: %s",
				    address, strerror(-d->disable_error));
	}
	if (d->enable_error < 0)
		return system_error(c, d->enable_error,
				    "Failed to enable the ROM attribute of %s: %s", address,
				    strerror(-d->enable_error));
	switch (d->read_error) {
	case 0:
		return error_with_address(c, ERROR_NO_ROM, address, "the rom attribute reads empty");
	case -EIO:
		return error_with_address(c, ERROR_NO_ROM, address, "the kernel could not map it "
					  "(EIO): no ROM resource, or no valid image at its start");
	case -EFBIG:
		if (asprintf(&reason, "larger than %u MiB, more than pcipassd reads",
			     ROM_DUMP_MAX / (1024U * 1024U)) < 0)
			return -ENOMEM;
		return error_with_address(c, ERROR_NO_ROM, address, reason);
	default:
		return system_error(c, d->read_error, "Failed to read the ROM of %s: %s", address,
				    strerror(-d->read_error));
	}
}

static int dump_reply(struct varlink_conn *c, const struct pcidev *d, const uint8_t *rom,
		      size_t size, bool shadow)
{
	_cleanup_json_ json_object *p = json_object_new_object(), *validation = NULL;
	_cleanup_pci_rom_ struct pci_rom *parsed = NULL;
	_cleanup_free_ char *data = NULL;
	bool valid;
	int r;

	if (!p)
		return -ENOMEM;
	r = pci_rom_parse(rom, size, &parsed);
	if (r < 0)
		return r;
	r = pci_rom_to_json(parsed, d->vendor, d->device, &validation);
	if (r < 0)
		return r;
	r = base64_encode(rom, size, &data);
	if (r < 0)
		return r;
	valid = pci_rom_valid(parsed, d->vendor, d->device);
	log_info("%s: option ROM read, %zu bytes, %zu image%s, %s%s", d->address, size,
		 parsed->n_images, parsed->n_images == 1 ? "" : "s", valid ? "valid" : "invalid",
		 shadow ? ", from the shadow copy at 0xC0000" : "");

	r = json_add_str(p, "address", d->address);
	if (r >= 0)
		r = json_add_int(p, "vendor_id", d->vendor);
	if (r >= 0)
		r = json_add_int(p, "device_id", d->device);
	if (r >= 0)
		r = json_add_int(p, "size", (int64_t)size);
	if (r >= 0) {
		/* Of the ROM's copies (bytes, base64, JSON string, wire text) drop one early. */
		json_object *s = json_object_new_string_len(data, (int)BASE64_ENCODED_SIZE(size));

		data = mfree(data);
		r = s ? json_add(p, "data", s) : -ENOMEM;
	}
	if (r >= 0)
		r = json_add_bool(p, "shadow", shadow);
	if (r >= 0)
		r = json_add(p, "validation", TAKE_PTR(validation));
	if (r < 0)
		return r;
	return varlink_reply(c, TAKE_PTR(p));
}

int manager_method_dump_rom(struct varlink_conn *c, json_object *params, unsigned flags,
			    void *userdata)
{
	struct {
		const char *address;
		int force;
	} p = { .force = -1 };
	static const struct json_field fields[] = {
		{ "address", JSON_FIELD_STRING, JSON_FIELD_MANDATORY, offsetof(typeof(p), address) },
		{ "force", JSON_FIELD_BOOL, 0, offsetof(typeof(p), force) },
		{}
	};
	struct manager *m = userdata;
	_cleanup_(rom_dump_done) struct rom_dump dump = {};
	_cleanup_free_ char *open_by = NULL;
	const char *address, *bad = NULL;
	const struct pcidev *d;
	int r;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return varlink_error_invalid_parameter(c, bad);
	address = p.address;
	if (!pci_addr_is_valid(address))
		return varlink_error_invalid_parameter(c, "address");
	/* Enabling the attribute is a write, and what comes back is the device's firmware: for
	 * root alone, not the daemon's own user or SocketGroup= as the other mutating calls. */
	if (varlink_conn_uid(c) != 0)
		return varlink_error(c, ERROR_PERMISSION_DENIED, NULL);
	if (m->read_only)
		return varlink_error(c, ERROR_READ_ONLY, NULL);
	if (m->disabled)
		return varlink_error(c, ERROR_DISABLED, NULL);
	d = model_find(&m->model, address);
	if (!d)
		return error_with_address(c, ERROR_NO_SUCH_DEVICE, address, NULL);

	/* A VM on its vfio group, DPDK on its uio node, a display server on its DRM node: the
	 * ROM decoder may share the address decoder of the BARs they use. */
	r = manager_open_by(m, d, &open_by);
	if (r == -ENOMEM)
		return r;
	if (open_by && p.force != 1) {
		log_notice("%s: ROM read refused, the function is in use: %s", d->address, open_by);
		return error_with_address(c, ERROR_DEVICE_BUSY, d->address, open_by);
	}
	if (open_by)
		log_notice("%s: reading the ROM of a function in use (forced): %s", d->address, open_by);
	r = rom_read(m, d->address, &dump);
	if (r == -ENODEV)
		return error_with_address(c, ERROR_NO_SUCH_DEVICE, d->address, NULL);
	if (r == -ENOENT)
		return error_with_address(c, ERROR_NO_ROM, d->address,
					  "no rom attribute: the function has no expansion ROM");
	if (r < 0)
		return r;
	if (rom_dump_failed(&dump))
		return rom_dump_error(c, d->address, &dump);
	return dump_reply(c, d, dump.data, dump.size, dump.shadow);
}
