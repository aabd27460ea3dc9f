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
#include "lib/policy.h"

/* What the gatherer found out about one function (facts.c). */
struct device_facts {
	const char *address;
	char *block_in_use;	/* "nvme0n1p2 mounted on /", NULL: none */
	char *net_in_use;	/* "eno1, a port of vmbr0 which carries 192.0.2.10/24", NULL: none */
	char *open_by;		/* "/dev/dri/card0 open by pid 812 (Xorg)", NULL: none */
	int intx_maskable;	/* -1: cannot tell; 0: no (uio_pci_generic refuses); 1: yes */
	const char *no_intx;	/* when 0, why: "it is a VF (VFs have no legacy interrupt)", … */
};

/* The facts of address in an array sorted by address; NULL when absent. */
const struct device_facts *device_facts_find(const struct device_facts *v, size_t n,
					     const char *address);

struct module_fact {
	const char *driver;	/* "vfio-pci" */
	int available;		/* 1: loaded, built in or installed; 0: none; -1: cannot tell */
};

/* What pcipass recorded about a function it moved to a passthrough driver (the journal). */
struct claim {
	char *address;
	char *driver;		/* the passthrough driver it was moved to */
	char *original_driver, *original_override;	/* where a release returns it */
	int64_t group;
	char *rule, *pool;
	uint64_t since_usec;	/* CLOCK_REALTIME */
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
	const struct claim *claims;	/* a release returns each function to what its claim says */
	size_t n_claims;
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
	PLAN_STEP_LOAD_MODULE,	/* value: a driver, its module loaded unless it is registered */
	PLAN_STEP_WRITE,	/* path (relative to the sysfs root) ← value */
};

struct plan_step {
	enum plan_step_op op;
	char *path;
	char *value;
};

/*
 * One function's move from what it has now to a driver and override. The planner (binds and
 * releases), the binder's rollback and the undo of an interrupted transaction all turn moves
 * into steps with plan_move_steps(), so that there is one sequence of writes:
 *   load the driver's module (when load_module)
 *   driver_override ← to_override ("\n" clears it), only when it differs
 *   unbind from the driver it has, only when one is bound
 *   drivers_probe ← address
 * Nothing at all when it is on to_driver with to_override already; only the override when it
 * is on to_driver with another.
 */
struct plan_move {
	const char *address;
	const char *driver, *override;		/* now; NULL: unbound / unset */
	const char *to_driver, *to_override;	/* after; to_driver NULL: the kernel's choice */
	bool load_module;
	/* Bind to_driver through a passing override (then set to to_override): a VF, which the
	 * kernel probes without an override only while its PF's VF autoprobe is on. */
	bool by_override;
};
int plan_move_steps(const struct plan_move *mv, struct plan_step **steps, size_t *n_steps);
void plan_steps_free(struct plan_step *s, size_t n);
/* "write PATH VALUE" or "load module DRIVER": how a step is named in logs and errors. */
int plan_step_describe(const struct plan_step *s, char **ret);

struct plan_member {
	char *address;
	const struct pcidev *dev;	/* NULL: not a PCI function of the model */
	const char *driver;		/* current; NULL unbound */
	const char *target;		/* driver after the plan; NULL: unbound / host's choice (a
					 * release of a function with no claim record) */
	const char *target_override;	/* the driver_override after a bind or release */
	enum plan_action action;
	const struct policy_rule *rule;	/* the rule that decided, NULL: none */
	bool companion;			/* moved because a rule claimed its group */
	bool forced;			/* safety guards overridden by Force=yes */
	struct plan_blocker *blockers;
	size_t n_blockers;
	struct plan_step *steps;
	size_t n_steps;
	char **warnings;		/* not blockers: what a VM will meet (no FLR, …) */
	size_t n_warnings;
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
	/* Writes outside any group, run before the groups': sriov_drivers_autoprobe=0 on a PF whose
	 * VFs a start-up rule passes through, so that VFs created later never meet the host's VF
	 * driver first. */
	struct plan_step *host_steps;
	size_t n_host_steps;
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

/*
 * The kernel's viability rule, as one pure function. A member is a function of the group with
 * the driver it has (or would have); pci is false for a member that is not a PCI function
 * pcipass can judge (it makes the group not viable). The planner and ListGroups call it on the
 * model, the binder's verification on what sysfs shows after the last step.
 */
struct viability_member {
	const char *address;
	const char *driver;		/* NULL: unbound */
	enum pci_header header;		/* _PCI_HEADER_INVALID: unknown */
	bool pci;
};
bool viability_check(const struct viability_member *members, size_t n, bool dma_ownership,
		     char **ret_why);

/* The verdict for a group of the model under a driver assignment (driver_of NULL: the
 * drivers they have now). */
typedef const char *(*plan_driver_fn)(const struct pcidev *d, void *userdata);
bool group_viable(const struct model *m, const struct iommu_group *g, bool dma_ownership,
		  plan_driver_fn driver_of, void *userdata, char **ret_why);
const struct claim *plan_env_claim(const struct plan_env *env, const char *address);
/* Drivers that keep a group viable on ≥ 5.19 (driver_managed_dma). */
bool driver_manages_dma(const char *driver);
bool driver_is_vfio(const char *driver);
/* uio_pci_generic, and igb_uio (DPDK's, out of tree): a /dev/uioN per function. */
bool driver_is_uio(const char *driver);

int host_readiness(const struct host_facts *h, const struct daemon_config *c,
		   struct readiness_problem **ret, size_t *ret_n);
void readiness_free(struct readiness_problem *p, size_t n);

const char *plan_action_to_string(enum plan_action a);
