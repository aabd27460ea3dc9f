/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include <json-c/json.h>

/* Exit codes of pcipassctl. */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILURE = 1,
	CTL_EXIT_USAGE = 2,
};

struct ctl {
	const char *socket;
	bool json, pretty, legend, initial;
	const char *driver;		/* claim --driver */
	bool group, force, dry_run;	/* claim/release options */
	const char *owner, *user;	/* lease, unlease */
	long long pid;			/* lease: 0 none */
	int numa, count;		/* lease: -1 / 0 unset */
	bool iommufd;			/* lease, qemu */
	const char *format;		/* qemu: qemu, libvirt, proxmox */
	struct varlink_client *client;
};

/*
 * Calls a method and waits for its reply. On a Varlink error prints what went wrong for a
 * person and returns -EREMOTEIO; *ret_params (owned by the caller) is the reply's parameters.
 */
int ctl_call(struct ctl *c, const char *method, json_object *params, json_object **ret_params);
/* -j: prints params of the last ctl_call() as the daemon sent them (--pretty: formatted). */
int ctl_print_json(struct ctl *c, json_object *params);
/*
 * -j: one call whose reply is printed and nothing else, an exit status. Without --pretty the
 * reply is checked as JSON text and printed as it came; no object is built of it.
 */
int ctl_call_print(struct ctl *c, const char *method, json_object *params);
/* Connects (once); prints why it could not. */
int ctl_connect(struct ctl *c);
/* Prints a device address error or usage error line; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Formats vendor:device as "8086:10d3". */
void ctl_format_id(json_object *dev, char *buf, size_t size);
/* Its names as lspci shows them: "Red Hat, Inc. Virtio 1.0 network device"; ids the hardware
 * database does not know as lspci says them: "Device 1234:1111", "Red Hat, Inc. Device 000e". */
void ctl_format_name(json_object *dev, char *buf, size_t size);
/* The same as a table cell whose short form, when the table must narrow, leaves out the
 * vendor (client/output.h). */
void ctl_format_name_cell(json_object *dev, char *buf, size_t size);
/* Its physical slot: the kernel's name and the firmware's label ("4 \"PCIE4\""); false: none. */
bool ctl_format_slot(json_object *dev, char *buf, size_t size);

int verb_list(struct ctl *c, int argc, char *argv[]);
int verb_show(struct ctl *c, int argc, char *argv[]);
int verb_groups(struct ctl *c, int argc, char *argv[]);
int verb_status(struct ctl *c, int argc, char *argv[]);
int verb_monitor(struct ctl *c, int argc, char *argv[]);
int verb_plan(struct ctl *c, int argc, char *argv[]);
int verb_policy(struct ctl *c, int argc, char *argv[]);
int verb_reload(struct ctl *c, int argc, char *argv[]);
int verb_claim(struct ctl *c, int argc, char *argv[]);
int verb_release(struct ctl *c, int argc, char *argv[]);
int verb_apply(struct ctl *c, int argc, char *argv[]);
int verb_lease(struct ctl *c, int argc, char *argv[]);
int verb_unlease(struct ctl *c, int argc, char *argv[]);
int verb_leases(struct ctl *c, int argc, char *argv[]);
int verb_qemu(struct ctl *c, int argc, char *argv[]);
int verb_metrics(struct ctl *c, int argc, char *argv[]);
int verb_tree(struct ctl *c, int argc, char *argv[]);
