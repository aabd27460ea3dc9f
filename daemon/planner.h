/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The planner: policy + device model + host facts → per IOMMU group, every member's current
 * and target driver, the rule that decided, what blocks it, and the exact sysfs writes that
 * would carry it out. Pure: no I/O (what needs I/O — modules, mounts, addresses, open device
 * nodes — is gathered beforehand into struct plan_env, see facts.h), so the same function
 * serves the dry run, start-up, hotplug and requests.
 *
 * Viability is decided by the kernel's rule (docs: kernel-interfaces.md §2.2–2.4): on ≥ 5.19 a
 * group is viable when every bound member's driver manages its own DMA (vfio-pci and its
 * variants, pci-stub, pcieport); before 5.19 when every member is unbound, on pci-stub or a
 * vfio driver, or is a bridge.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "host.h"
#include "model.h"
#include "policy.h"

/* What the gatherer found out about one function (facts.c). */
struct device_facts {
	const char *address;
	char *block_in_use;	/* "nvme0n1p2 mounted on /", NULL: none */
	char *net_in_use;	/* "eno1 has 192.0.2.1", NULL: none */
	char *open_by;		/* "/dev/dri/card0 open by pid 812 (Xorg)", NULL: none */
	int intx_maskable;	/* -1: cannot tell; 0: no (uio_pci_generic refuses); 1: yes */
};

struct module_fact {
	const char *driver;	/* "vfio-pci" */
	int available;		/* 1: loaded, built in or installed; 0: none; -1: cannot tell */
};

struct plan_env {
	const struct policy *policy;
	const struct model *model;
	const struct host_facts *host;
	const struct daemon_config *config;
	const struct device_facts *facts;	/* sorted by address; may miss functions */
	size_t n_facts;
	const struct module_fact *modules;
	size_t n_modules;
};

enum plan_action {
	PLAN_LEAVE,	/* no rule: left alone */
	PLAN_KEEP,	/* already where the rule wants it */
	PLAN_BIND,	/* to the target passthrough driver */
	PLAN_RELEASE,	/* back to the host driver */
	PLAN_DENY,	/* a deny rule: stays, and requests are refused */
};

struct plan_blocker {
	const char *code;	/* machine-readable, e.g. "boot-vga" */
	char *message;		/* a sentence for the operator */
	bool forceable;		/* a safety guard that Force=yes overrides */
};

enum plan_step_op {
	PLAN_STEP_LOAD_MODULE,	/* value: the module */
	PLAN_STEP_WRITE,	/* path (relative to the sysfs root) ← value */
	PLAN_STEP_UNBIND,	/* value: an address, unbound from whatever driver has it when the
				 * step runs (a hotplugged function's host driver may bind after
				 * the plan was made) */
};

struct plan_step {
	enum plan_step_op op;
	char *path;
	char *value;
};

struct plan_member {
	char *address;
	const struct pcidev *dev;	/* NULL: not a PCI function of the model */
	const char *driver;		/* current; NULL unbound */
	const char *target;		/* driver after the plan; NULL: unbound / host's choice */
	enum plan_action action;
	const struct policy_rule *rule;	/* the rule that decided, NULL: none */
	bool companion;			/* moved because a rule claimed its group */
	bool forced;			/* safety guards overridden by Force=yes */
	struct plan_blocker *blockers;
	size_t n_blockers;
	struct plan_step *steps;
	size_t n_steps;
};

struct plan_group {
	int64_t id;		/* -1: functions without an IOMMU group, one plan_group each */
	bool viable_now, viable_after;
	char *not_viable_now, *not_viable_after;	/* why not, naming the member */
	struct plan_blocker *blockers;	/* of the group as a whole */
	size_t n_blockers;
	struct plan_member *members;
	size_t n_members;
	bool acts;		/* some member is to be bound or released */
	bool blocked;		/* a blocker anywhere: the group would not be touched */
};

struct plan {
	struct plan_group *groups;
	size_t n_groups;
};

/* Host problems for passthrough, each with a remedy (status, and plan blockers). */
struct readiness_problem {
	const char *code;
	char *message;
	char *remedy;
};

/* The whole host's plan; only_address (may be NULL) restricts it to that function's group. */
int plan_build(const struct plan_env *env, const char *only_address, struct plan *ret);
void plan_done(struct plan *p);
int plan_to_json(const struct plan *p, json_object **ret);

/* The kernel's verdict for a group under a driver assignment. */
typedef const char *(*plan_driver_fn)(const struct pcidev *d, void *userdata);
bool group_viable(const struct model *m, const struct iommu_group *g, bool dma_ownership,
		  plan_driver_fn driver_of, void *userdata, char **ret_why);
/* Drivers that keep a group viable on ≥ 5.19 (driver_managed_dma). */
bool driver_manages_dma(const char *driver);
bool driver_is_vfio(const char *driver);

int host_readiness(const struct host_facts *h, const struct daemon_config *c,
		   struct readiness_problem **ret, size_t *ret_n);
void readiness_free(struct readiness_problem *p, size_t n);

const char *plan_action_to_string(enum plan_action a);
