/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Policy: which PCI functions go where. Drop-in files "*.policy", one rule per file, read
 * systemd-style from a list of directories (a same-named file in a later directory replaces an
 * earlier one; a link to /dev/null masks it), taken in lexical order of their names; the first
 * rule whose [Match] matches a function decides for it. See pcipass.policy(5).
 *
 *   [Match]                              keys AND; space-separated values OR
 *   Address=0000:65:00.*                 globs
 *   Id=10de:*                            vendor:device, hex, "*" for any device
 *   ...
 *   [Assign]
 *   Driver=vfio-pci
 *   ...
 *
 * And the daemon-wide settings file, pcipassd.conf ([Daemon] section).
 *
 * Parsing fails closed: an unknown section or key, a bad value or conflicting keys reject the
 * file with "file:line: reason", and a policy with one bad file is no policy at all.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/macro.h"

struct pcidev;

/* /usr/lib/pcipass/policy.d, /run/pcipass/policy.d, /etc/pcipass/policy.d (the prefixes as
 * configured); NULL-terminated */
extern char *const policy_dirs_default[];
#define DAEMON_CONFIG_DEFAULT PCIPASS_CONFDIR "/pcipassd.conf"
#define POLICY_FILE_MAX (64U * 1024U)	/* bytes; a rule is a few hundred */

enum policy_target {
	POLICY_TARGET_VFIO,	/* vfio-pci or a vfio variant driver (mlx5_vfio_pci, …) */
	POLICY_TARGET_UIO,	/* uio_pci_generic, igb_uio */
	POLICY_TARGET_HOST,	/* keep on, or return to, the kernel's own driver */
	POLICY_TARGET_DENY,	/* never pass through; refuse requests */
};

/*
 * What a passthrough driver's name is, by exact name: POLICY_TARGET_VFIO for vfio-pci and the
 * vfio variant drivers (NAME_vfio_pci, NAME-vfio-pci: mlx5_vfio_pci, xe-vfio-pci …),
 * POLICY_TARGET_UIO for uio_pci_generic and igb_uio; -EINVAL for anything else. Policy
 * files (Driver=) and requests (Claim's driver) are held to it.
 */
int passthrough_driver_target(const char *name);

enum policy_apply {
	POLICY_APPLY_BOOT,	/* at start and on hotplug */
	POLICY_APPLY_REQUEST,	/* only when asked (a lease, pcipassctl claim) */
};

enum policy_group {
	POLICY_GROUP_CLAIM,	/* move the other members of the IOMMU group along */
	POLICY_GROUP_VIABLE,	/* move only this function; the group must be viable after */
	POLICY_GROUP_ANY,	/* move it even if the group stays non-viable (reported) */
};

enum policy_after_lease {
	POLICY_AFTER_LEASE_KEEP,	/* the group stays on its passthrough driver, for the next VM */
	POLICY_AFTER_LEASE_RELEASE,	/* the group goes back to its host drivers */
};

enum {
	POLICY_SRIOV_PF = 1 << 0,	/* a physical function that can have VFs */
	POLICY_SRIOV_VF = 1 << 1,	/* a virtual function */
	POLICY_SRIOV_NONE = 1 << 2,	/* neither */
};

struct policy_id {
	int32_t vendor, device;	/* -1: any */
};

struct policy_class {
	uint32_t value, mask;
};

struct policy_rule {
	char *name;		/* the file's name, e.g. "50-gpu.policy" */
	char *path;		/* where it was read from */
	unsigned line;		/* the line of its [Match] section */

	/* [Match]; an empty list matches anything */
	char **addresses;	/* globs */
	struct policy_id *ids, *subsystem_ids;
	size_t n_ids, n_subsystem_ids;
	struct policy_class *classes;
	size_t n_classes;
	char **drivers;		/* current driver; "none" matches an unbound function */
	uint32_t *groups;
	size_t n_groups;
	int32_t *numa_nodes;
	size_t n_numa_nodes;
	unsigned sriov;		/* POLICY_SRIOV_* mask; 0: any */
	char **vf_of;		/* globs of PF addresses: matches those PFs' VFs */

	/* [Assign] */
	enum policy_target target;
	char *driver;		/* the driver name for VFIO/UIO targets */
	enum policy_apply apply;
	enum policy_group group;
	char *pool;
	enum policy_after_lease after_lease;	/* what a lease's end does to the group */
	bool pinned;		/* PinId= given: the ids expected at the matched address */
	struct policy_id pin;
	bool force;
	bool sets_num_vfs;	/* NumVfs= given: */
	uint16_t num_vfs;	/* the VFs a matched PF is to have */
	char *description;
};

struct policy {
	struct policy_rule **rules;	/* in order: the first match decides */
	size_t n_rules;
	char **dirs;			/* where it was read from */
	uint64_t loaded_usec;		/* CLOCK_REALTIME */
};

/* Where and why parsing failed. */
struct policy_error {
	char *file;
	unsigned line;		/* 0: the file as a whole */
	char *reason;
};

enum daemon_unmatched {
	UNMATCHED_LEAVE,	/* functions no rule names are left alone */
	UNMATCHED_DENY,		/* … and requests for them are refused */
};

struct daemon_config {
	char *socket_group;	/* may call mutating methods; NULL: root only */
	enum daemon_unmatched unmatched;
	bool allow_noiommu;	/* vfio's unsafe no-IOMMU mode may be used */
	bool allow_unsafe_interrupts;	/* IOMMU without interrupt remapping is acceptable */
	uint64_t client_buffers;	/* bytes unprivileged clients may have held, together */
	uint64_t startup_timeout_usec;	/* READY=1 at the latest this long after the start */
};

#define DAEMON_CLIENT_BUFFERS_DEFAULT	(64ULL << 20)
#define DAEMON_CLIENT_BUFFERS_MIN	(1ULL << 20)
#define DAEMON_STARTUP_TIMEOUT_DEFAULT_USEC	(60ULL * 1000000U)
#define DAEMON_STARTUP_TIMEOUT_MAX	3600U

void policy_error_done(struct policy_error *e);
/* "file:line: reason" (or "file: reason"); allocated. */
char *policy_error_format(const struct policy_error *e);

struct policy_rule *policy_rule_free(struct policy_rule *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct policy_rule *, policy_rule_free)
void policy_done(struct policy *p);

/* Parses one rule from text (name: its file name, for messages and order). */
int policy_rule_parse(const char *name, const char *path, const char *text, size_t size,
		      struct policy_rule **ret, struct policy_error *err);
/* Reads one rule file (at most POLICY_FILE_MAX bytes). */
int policy_rule_load(const char *path, struct policy_rule **ret, struct policy_error *err);

/*
 * Loads every *.policy drop-in from dirs (NULL-terminated, in increasing priority). A missing
 * directory is fine; any bad file fails the whole load with err set and *ret untouched.
 */
int policy_load(char *const *dirs, struct policy *ret, struct policy_error *err);
/* Loads the given files, in the given order (pcipassctl policy check). */
int policy_load_files(char *const *paths, struct policy *ret, struct policy_error *err);

bool policy_rule_matches(const struct policy_rule *r, const struct pcidev *d);
/* The first rule matching d, or NULL. */
const struct policy_rule *policy_match(const struct policy *p, const struct pcidev *d);

const char *policy_target_to_string(enum policy_target t);
const char *policy_apply_to_string(enum policy_apply a);
const char *policy_group_to_string(enum policy_group g);
const char *policy_after_lease_to_string(enum policy_after_lease a);

/*
 * -EINVAL (err names it) when a directory of loaded is gone but rules of in_force came from
 * it: a reload must not drop them (a Deny among them) because a directory vanished.
 */
int policy_check_vanished(const struct policy *in_force, const struct policy *loaded,
			  struct policy_error *err);

/* Reads pcipassd.conf; a missing file gives the defaults. */
int daemon_config_load(const char *path, struct daemon_config *ret, struct policy_error *err);
void daemon_config_done(struct daemon_config *c);
