/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DumpRom: a function's expansion (option) ROM, read through sysfs as the kernel shows it, with
 * the verdict of lib/pcirom.c on it.
 *
 * The rom attribute (drivers/pci/pci-sysfs.c) reads as EINVAL until it is enabled. Its write
 * handler, pci_write_rom(), disables it only for a write of exactly two bytes at offset 0 that
 * starts with '0' ("0\n"), and enables it for any other write; so we write "1\n" and "0\n", as
 * echo does. A read then maps the ROM BAR (pci_map_rom(), which trims what it shows to the chain
 * of images, and fails with EIO when there is no ROM resource or no 0x55AA image with a "PCIR"
 * structure at its start) and copies from it. The attribute is disabled again after every read,
 * also a failed one, and after a failed enable, since any write but "0\n" may have enabled it.
 *
 * The enable, the read and the disable run as one binder task (manager_run_task()): on the
 * worker thread, in their turn among the transactions, never on the event loop. Option ROMs are
 * small (64 KiB to a few MiB, at most ROM_DUMP_MAX here), but kernfs hands out at most a page
 * per read() and the kernel maps the ROM for each, and a device whose ROM stalls the read would
 * otherwise stall the daemon for that long.
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
#include "errors.h"
#include "manager.h"
#include "lib/pcirom.h"
#include "sysfs.h"

/*
 * The largest ROM we read: pcipassctl's ROM_FILE_MAX. Real option ROMs are 64 KiB to a few MiB.
 * In base64 the reply is 4/3 of that plus the verdict, 22.4 MiB at most: far more than
 * VARLINK_MESSAGE_MAX (1 MiB), which bounds what the server accepts from a peer, but within
 * VARLINK_REPLY_MAX (32 MiB), which bounds both one reply the server sends and what
 * varlink_client_recv() takes. So the reply needs no limit of its own, and no streaming. Only
 * privileged clients may ask for it, so the unprivileged buffer budget never holds it back.
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

/*
 * Enables the rom attribute of the function at address, reads it, and disables it again, also
 * after a failed enable or read. Fails with -ENODEV when the function is gone from sysfs and
 * -ENOENT when it has no rom attribute, having written nothing; else returns 0 with the steps'
 * errors in *ret (the read's: -EIO when the kernel could not map the ROM, -EFBIG when it is
 * larger than ROM_DUMP_MAX).
 */
static int rom_read(struct sysfs *s, const char *address, struct rom_dump *ret)
{
	_cleanup_free_ char *path = NULL, *pm_path = NULL, *pm = NULL;
	_cleanup_close_ int dfd = -EBADF, fd = -EBADF;
	struct rom_dump d = {};
	bool pm_held = false;
	struct stat st;
	int r;

	if (sysfs_pci_attr_path(address, "rom", &path) < 0 ||
	    sysfs_pci_attr_path(address, "power/control", &pm_path) < 0)
		return -ENOMEM;
	dfd = sysfs_pci_open(s, address, NULL);
	if (dfd < 0)
		return dfd;
	if (fstatat(dfd, "rom", &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOENT;

	d.shadow = rom_shadowed(dfd);
	/* pci_read_rom() maps the BAR without a runtime-PM reference: a function its driver has
	 * runtime-suspended (vfio-pci does so with no user) sits in D3hot, where it decodes no
	 * memory and its ROM reads as all ones (EIO). Hold it in D0 for the read. */
	if (sysfs_read(s, pm_path, &pm) >= 0 && streq(pm, "auto")) {
		r = sysfs_write(s, pm_path, "on\n");
		if (r < 0)
			log_debug_errno(r, "%s: failed to hold it powered for the ROM read, "
					"reading anyway: %m", address);
		pm_held = r >= 0;
	}
	d.enable_error = sysfs_write(s, path, "1\n");
	if (d.enable_error >= 0) {
		fd = openat(dfd, "rom", O_RDONLY | O_CLOEXEC | O_NOCTTY);
		d.read_error = fd < 0 ? -errno : read_full_fd(fd, ROM_DUMP_MAX, &d.data, &d.size);
		fd = safe_close(fd);
	}
	d.disable_error = sysfs_write(s, path, "0\n");
	if (pm_held) {
		r = sysfs_write(s, pm_path, "auto\n");
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

/* The parameters of an error about a function: its address, and why (may be NULL). */
static json_object *address_params(const char *address, const char *reason)
{
	json_object *p = json_object_new_object();

	if (!p || json_add_str(p, "address", address) < 0 ||
	    (reason && json_add_str(p, "reason", reason) < 0)) {
		(void)json_object_put(p);
		return NULL;
	}
	return p;
}

/* SystemError's parameters, with a message that says what failed, not only strerror(). */
_printf_(2, 3)
static json_object *system_error_params(int error, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	json_object *p;
	va_list ap;
	int e = error < 0 ? -error : error, n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	p = json_object_new_object();
	if (!p || json_add_int(p, "errno", e) < 0 ||
	    json_add_str(p, "errno_name", strerrorname_np(e)) < 0 ||
	    json_add_str(p, "message", msg) < 0) {
		(void)json_object_put(p);
		return NULL;
	}
	return p;
}

static bool rom_dump_failed(const struct rom_dump *d)
{
	return d->enable_error < 0 || d->read_error < 0 || d->disable_error < 0 || d->size == 0;
}

/* The error that says what is wrong with a dump that failed; its parameters in *ret_params. */
static const char *rom_dump_error(const char *address, const struct rom_dump *d,
				  json_object **ret_params)
{
	_cleanup_free_ char *reason = NULL;

	/* The first thing to say: the attribute was left enabled. */
	if (d->disable_error < 0) {
		log_warning_errno(d->disable_error, "%s: failed to disable the ROM attribute again, "
				  "it stays enabled: %m", address);
		*ret_params = system_error_params(d->disable_error, "Failed to disable the ROM "
						  "attribute of %s again, it stays enabled: %s",
						  address, strerror(-d->disable_error));
		return ERROR_SYSTEM;
	}
	if (d->enable_error < 0) {
		*ret_params = system_error_params(d->enable_error,
						  "Failed to enable the ROM attribute of %s: %s",
						  address, strerror(-d->enable_error));
		return ERROR_SYSTEM;
	}
	switch (d->read_error) {
	case 0:
		*ret_params = address_params(address, "the rom attribute reads empty");
		return ERROR_NO_ROM;
	case -EIO:
		*ret_params = address_params(address, "the kernel could not map it (EIO): no ROM "
					     "resource, or no valid image at its start");
		return ERROR_NO_ROM;
	case -EFBIG:
		if (asprintf(&reason, "larger than %u MiB, more than pcipassd reads",
			     ROM_DUMP_MAX / (1024U * 1024U)) < 0)
			reason = NULL;
		*ret_params = address_params(address, reason);
		return ERROR_NO_ROM;
	default:
		*ret_params = system_error_params(d->read_error, "Failed to read the ROM of %s: %s",
						  address, strerror(-d->read_error));
		return ERROR_SYSTEM;
	}
}

static int dump_params(const char *address, uint32_t vendor, uint32_t device, const uint8_t *rom,
		       size_t size, bool shadow, json_object **ret)
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
	r = pci_rom_to_json(parsed, vendor, device, &validation);
	if (r < 0)
		return r;
	r = base64_encode(rom, size, &data);
	if (r < 0)
		return r;
	valid = pci_rom_valid(parsed, vendor, device);
	log_info("%s: option ROM read, %zu bytes, %zu image%s, %s%s", address, size,
		 parsed->n_images, parsed->n_images == 1 ? "" : "s", valid ? "valid" : "invalid",
		 shadow ? ", from the shadow copy at 0xC0000" : "");

	r = json_add_str(p, "address", address);
	if (r >= 0)
		r = json_add_int(p, "vendor_id", vendor);
	if (r >= 0)
		r = json_add_int(p, "device_id", device);
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
	*ret = TAKE_PTR(p);
	return 0;
}

/* A DumpRom in the job queue: what the worker needs, and whom to answer. */
struct rom_job {
	char address[PCI_ADDR_MAX + 1];
	uint32_t vendor, device;
	struct rom_dump dump;
	manager_done_fn done;
	void *userdata;
};

static void rom_job_free(struct rom_job *j)
{
	free(j->dump.data);
	free(j);
}

static int rom_task(struct sysfs *s, void *userdata)
{
	struct rom_job *j = userdata;

	return rom_read(s, j->address, &j->dump);
}

static void rom_task_done(int r, void *userdata)
{
	struct rom_job *j = userdata;
	json_object *params = NULL;
	const char *error = NULL;

	if (r == -ENODEV) {
		error = ERROR_NO_SUCH_DEVICE;
		params = address_params(j->address, NULL);
	} else if (r == -ENOENT) {
		error = ERROR_NO_ROM;
		params = address_params(j->address, "no rom attribute: the function has no expansion ROM");
	} else if (r < 0) {
		error = ERROR_SYSTEM;
		params = system_error_params(r, "Failed to read the ROM of %s: %s", j->address,
					     strerror(-r));
	} else if (rom_dump_failed(&j->dump))
		error = rom_dump_error(j->address, &j->dump, &params);
	else if (dump_params(j->address, j->vendor, j->device, j->dump.data, j->dump.size,
			     j->dump.shadow, &params) < 0)
		error = ERROR_SYSTEM;
	j->done(j->userdata, error, params);
	rom_job_free(j);
}

int manager_dump_rom(struct manager *m, const char *address, bool force, manager_done_fn done,
		     void *userdata)
{
	_cleanup_free_ char *open_by = NULL;
	const struct pcidev *d;
	struct rom_job *j;
	int r;

	d = model_find(&m->model, address);
	if (!d) {
		done(userdata, ERROR_NO_SUCH_DEVICE, address_params(address, NULL));
		return 0;
	}
	/* A VM on its vfio group, DPDK on its uio node, a display server on its DRM node: the
	 * ROM decoder may share the address decoder of the BARs they use. */
	r = manager_open_by(m, d, PLAN_TO_RUN, &open_by);
	if (r == -ENOMEM)
		return r;
	if (open_by && !force) {
		log_notice("%s: ROM read refused, the function is in use: %s", d->address, open_by);
		done(userdata, ERROR_DEVICE_BUSY, address_params(d->address, open_by));
		return 0;
	}
	if (open_by)
		log_notice("%s: reading the ROM of a function in use (forced): %s", d->address, open_by);

	j = new0(struct rom_job, 1);
	if (!j)
		return -ENOMEM;
	strcpy(j->address, d->address);
	j->vendor = d->vendor;
	j->device = d->device;
	j->done = done;
	j->userdata = userdata;
	r = manager_run_task(m, rom_task, rom_task_done, j);
	if (r < 0)
		free(j);
	return r;
}
