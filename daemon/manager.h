/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's objects and their lifetime: sysfs, the device model, udev, the Varlink API. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <systemd/sd-event.h>

#include <json-c/json.h>

#include "audit.h"
#include "binder.h"
#include "facts.h"
#include "model.h"
#include "planner.h"
#include "slots.h"
#include "lib/policy.h"

struct varlink_conn;

struct manager_config {
	const char *sysfs_root;
	const char *dev_root;
	const char *proc_root;		/* where /proc/driver is read; NULL: /proc */
	const char *socket_path;
	const char *state_dir;
	bool read_only;
	int listen_fd;		/* from socket activation, or -EBADF */
	uint64_t step_timeout_usec;	/* a binder step taking longer is reported stuck */
	char *const *policy_dirs;	/* NULL-terminated, lowest priority first */
	const char *config_path;	/* pcipassd.conf */
	const char *udev_rules;		/* the generated udev rule; NULL: none */
	const char *write_log;		/* every sysfs write appended there; NULL: none */
};

struct manager {
	sd_event *event;
	uint64_t text_generation;	/* of the devices' cached JSON texts (manager_device_text()) */
	struct sysfs *sysfs;
	char *sysfs_root, *dev_root, *proc_root, *socket_path, *state_dir;
	bool read_only;

	struct model model;
	struct udev_watch *udev;
	struct varlink_server *varlink;
	bool socket_owned;	/* we bound socket_path (not socket activation) */

	char **policy_dirs;
	char *config_path;
	char *udev_rules;
	int udev_rules_error;		/* writing it failed: the negative errno; else 0 */
	struct policy policy;		/* the last good one */
	struct daemon_config config;	/* likewise */
	gid_t socket_gid;		/* SocketGroup=, resolved when the config is loaded */
	bool socket_gid_valid;
	char *policy_error;		/* why the last load failed; NULL when it did not */
	struct kmodule *kmod, *binder_kmod;	/* the loop's, the binder worker's */
	struct names_db *names;		/* the hardware database's names, per set of ids */
	struct textset *texts;		/* the Device texts' shared pieces */
	char *text_scratch;		/* where a Device text is put together */
	size_t text_scratch_size;
	struct pci_slots slots;		/* read again when the model has changed (+ 1) */
	uint64_t slots_generation;
	struct binder *binder;
	uint64_t step_timeout_usec;
	bool disabled;			/* pcipass.disable=1 on the kernel command line */

	struct job *jobs;		/* requests and applications, each planned in its turn */
	struct job *job_running;	/* the one whose transaction runs */

	struct open_scan *open_scan;	/* the last /proc scan for open device nodes */
	/* GetStatus's host and module facts, read at most every READINESS_MAX_USEC, and again
	 * after a policy load, a rescan or a transaction (which may load modules). Its module
	 * facts point into the policy: never read once the policy has changed. */
	struct host_facts readiness_host;
	struct facts readiness_modules;
	uint64_t readiness_usec;	/* CLOCK_MONOTONIC of the reading; 0: none valid */

	struct lease **leases;		/* granted, and being granted (their groups reserved) */
	size_t n_leases;
	uint64_t next_lease_id;
	char *boot_id;			/* leases end with the boot */

	struct varlink_conn **monitors;	/* Monitor calls being served */
	size_t n_monitors;

	uint64_t n_scans, n_uevents;
	/* Transactions ended, as journaled: [kind][0] done, [kind][1] failed (GetStatus). */
	uint64_t n_transactions[TXN_UNDO + 1][2];

	/* manager-status.c: what systemd is told */
	bool started;			/* manager_start() has returned */
	bool startup_applied;		/* the start-up rules' transactions have ended */
	bool ready;			/* READY=1 sent */
	bool stopping;			/* SIGTERM: exits when the running transaction ends */
	sd_event_source *startup_timer;	/* StartupTimeout= */
	char *status_sent;		/* the last STATUS= */
	sd_event_source *status_defer;	/* sends STATUS= when it has changed */
	struct status_blocked *blocked;	/* groups the start-up rules could not move */
	size_t n_blocked;
};

int manager_new(const struct manager_config *config, struct manager **ret);
struct manager *manager_free(struct manager *m);
int manager_start(struct manager *m, int listen_fd);
/* Re-reads every device and group from sysfs and tells Monitor clients. */
int manager_rescan(struct manager *m);
/*
 * Reads pcipassd.conf and the policy directories. On success they replace what is in force;
 * on failure (-EINVAL, err says where and why) what is in force stays.
 */
int manager_load_policy(struct manager *m, struct policy_error *err);
/* A plan with what it was made from (the facts it borrows). */
struct manager_plan {
	struct host_facts host;
	struct facts facts;
	struct plan plan;
	struct policy_rule *request;	/* a request's rule, which the plan points into */
};
/*
 * What a plan is for. One that is carried out, or shown to a caller who may change things,
 * sees who holds device nodes open as of now. One shown to anybody else (Plan, a dry run, Get
 * by an unprivileged user) may reuse a scan up to OPEN_SCAN_SHOW_MAX_USEC old: however often
 * they ask, it costs one /proc scan a second at most.
 */
enum plan_purpose {
	PLAN_TO_RUN,
	PLAN_TO_SHOW,		/* as fresh as PLAN_TO_RUN */
	PLAN_TO_SHOW_CACHED,
};
#define OPEN_SCAN_SHOW_MAX_USEC	(1000U * 1000U)
int manager_plan_build(struct manager *m, const struct policy *policy, const char *only_address,
		       enum plan_purpose purpose, struct manager_plan *ret);
void manager_plan_done(struct manager_plan *mp);
/* After a reload: the start-up rules' groups that something blocks (a pin the hardware no
 * longer holds, a guard), for STATUS=, the journal and Monitor; nothing is moved. */
void manager_check_blocked(struct manager *m);
#define READINESS_MAX_USEC	(1000U * 1000U)
/* The readiness facts are to be read again at the next GetStatus. */
static inline void manager_readiness_invalidate(struct manager *m)
{
	m->readiness_usec = 0;
}
/* SIGTERM, SIGINT: exits now, or once the transaction that runs has ended (what waits is
 * refused, new requests too); at once when its step is stuck or on a second signal. */
int manager_stop(struct manager *m);
/* Plans the whole host, or only_address's group; -ENODEV when there is no such function. */
int manager_plan(struct manager *m, const char *only_address, enum plan_purpose purpose,
		 json_object **ret);

/* manager-inspect.c: adds config (decoded), uio and vfio to a device's JSON (Get). */
int manager_inspect_json(struct manager *m, const struct pcidev *d, enum plan_purpose purpose,
			 json_object *device);
/* Who holds d's device nodes open (vfio group, uio, drm), as the planner's facts say: a
 * "NODE open by pid N (comm, uid U[, guest NAME])" string in *ret, NULL when nobody or when it cannot tell. */
int manager_open_by(struct manager *m, const struct pcidev *d, enum plan_purpose purpose,
		    char **ret);

/*
 * How a domain operation answers when it has ended: error NULL and the reply's parameters, or
 * an error name (errors.h) and its parameters (may be NULL). Takes params.
 */
typedef void (*manager_done_fn)(void *userdata, const char *error, json_object *params);

/* manager-binder.c: moving functions, one transaction at a time. */
struct manager_request {
	char *address;
	char *driver;		/* a claim's target driver */
	bool release;		/* the address's group back to the host, else a claim */
	bool group;		/* a claim takes the rest of the group along */
	bool force;		/* past the safety guards */
	bool dry_run;		/* answer with the plan, change nothing */
	bool cached;		/* a dry run may use facts up to a second old (PLAN_TO_SHOW_CACHED) */
	bool apply;		/* the policy's start-up rules (address: its group only) */
	bool lease;		/* a lease's own claim: its group is reserved for it */
	struct audit_caller caller;	/* who asked, for the journal (pid 0: pcipassd) */
};
int manager_binder_start(struct manager *m);
/* The plan of a request's group, its rule first over the policy in force: exactly what its
 * transaction would carry out now. */
int manager_request_plan(struct manager *m, const struct manager_request *req,
			 enum plan_purpose purpose, struct manager_plan *ret);
/* Jobs waiting for their turn (not the one running). */
size_t manager_jobs_queued(const struct manager *m);
/* Drops queued and running jobs at exit, telling their callers (ESHUTDOWN). */
void manager_jobs_stop(struct manager *m);
/*
 * A claim or release. It is planned when its turn comes, against the model as it is then
 * (a dry run: now), and done is called once, when it has ended; < 0 when it could not be
 * queued (then done is not called).
 */
int manager_request(struct manager *m, const struct manager_request *req, manager_done_fn done,
		    void *userdata);
/*
 * Queues sysfs work that is not a transaction (binder_run_task()): it runs on the worker in its
 * turn among the transactions; done is called on the event loop (-ESHUTDOWN when the daemon
 * stops before it ran). -EROFS when the daemon changes nothing (read-only).
 */
int manager_run_task(struct manager *m, binder_task_fn fn, void (*done)(int r, void *userdata),
		     void *userdata);
/* Carries out the plan for groups whose rules apply at boot (only_address: its group only);
 * done may be NULL; caller NULL: pcipassd itself (start-up, hotplug). */
int manager_apply(struct manager *m, const char *only_address, const struct audit_caller *caller,
		  manager_done_fn done, void *userdata);
void manager_monitor_send_event(struct manager *m, json_object *event);
/* The physical slot d sits in, NULL when none. */
const struct pci_slot *manager_slot(struct manager *m, const struct pcidev *d);
/* Looks up d's names in the hardware database once (NULL: every function's). */
void manager_read_names(struct manager *m, struct pcidev *d);
/* A device's JSON with the model's context (siblings). */
int manager_device_json(struct manager *m, struct pcidev *d, json_object **ret);
/*
 * The same as JSON text, kept in d until d or what it shows changes: in *ret_n pieces, which
 * point into d and into m->texts (what devices share: names, link, ACS) until the next change.
 */
int manager_device_text(struct manager *m, struct pcidev *d,
			struct iovec parts[static PCI_TEXT_PARTS_MAX], size_t *ret_n);
/* Makes the texts manager_device_text() would make of the devices want() says (NULL: all) on
 * all CPUs when there are many; what it cannot make is left to manager_device_text(). */
void manager_texts_make(struct manager *m, bool (*want)(const struct pcidev *d, const void *userdata),
			const void *userdata);
/* Claims changed: every device's text shows its claim. */
void manager_texts_invalidate(struct manager *m);

/*
 * manager-rom.c: a function's option ROM through its sysfs rom attribute, read as a task on the
 * worker; done gets the DumpRom reply's parameters or its error. Refused (DeviceBusy) while a
 * process holds the function's device nodes, unless force.
 */
int manager_dump_rom(struct manager *m, const char *address, bool force, manager_done_fn done,
		     void *userdata);

/* manager-lease.c: whole groups for one owner (a VM), from a pool or by address. */
struct lease;
struct lease_request {
	const char *owner;
	const char *pool;		/* or */
	char *const *addresses;		/* NULL-terminated: each one's group */
	unsigned count;			/* groups from the pool */
	uint32_t uid, gid;		/* who gets the device nodes */
	int64_t pid;			/* > 0: the lease ends when that process exits */
	int numa_node;			/* -1: no preference */
	bool iommufd;			/* QEMU arguments in the iommufd form */
	struct audit_caller caller;	/* who asked, for the journal */
};
/* Grants a lease (claiming its groups first where needed); done gets {"lease": Lease} or an
 * error (NoSuchPool, NoFreeGroup naming every candidate, NotViable, a claim's error). */
int manager_lease_acquire(struct manager *m, const struct lease_request *req, manager_done_fn done,
			  void *userdata);
/* Ends the granted leases with that id and/or owner; *ret: their JSON. -ESRCH: none. */
int manager_lease_release(struct manager *m, const char *id, const char *owner,
			  const struct audit_caller *caller, json_object **ret);
int manager_leases_json(struct manager *m, json_object **ret);
/* Every pool of the policy, in rule order, with its groups as AcquireLease judges them now. */
int manager_pools_json(struct manager *m, json_object **ret);
size_t manager_leases_count(const struct manager *m);
/* The lease holding group (granted or being granted), NULL: none. */
const struct lease *manager_group_lease(const struct manager *m, int64_t group);
const char *lease_owner(const struct lease *l);
/* An owner name: 1 to LEASE_OWNER_MAX bytes of text (UTF-8 allowed), no control characters. */
#define LEASE_OWNER_MAX 256
bool lease_owner_valid(const char *s);
uint64_t lease_id(const struct lease *l);
/* {"id", "owner", "granted"} of group's lease in *ret, NULL when it has none. */
int manager_group_lease_json(const struct manager *m, int64_t group, json_object **ret);
/* udev has handled a device node of group (vfio, vfio-dev, uio add): a lease of the group
 * sets its owner again, or is granted now if it waited for that. */
void manager_lease_node_event(struct manager *m, int64_t group);
/* Ends leases whose groups are gone (after a removal). */
void manager_leases_check(struct manager *m);
/* At start: the leases of the daemon that ran before in this boot, their processes checked. */
int manager_leases_load(struct manager *m);
void manager_leases_free(struct manager *m);
/* Adds "qemu", "libvirt" and "proxmox" for the functions at addresses (on vfio) to o. */
int manager_vm_args_json(struct manager *m, char *const *addresses, bool iommufd, json_object *o);

/*
 * manager-status.c: READY=1 and STATUS= for systemd. READY=1 is sent once the start-up rules'
 * transactions have ended (manager_startup_applied()) and manager_start() is through
 * (manager_startup_wait()), or at the StartupTimeout= deadline, whichever comes first.
 * manager_status_update() sends STATUS= again, at the next turn of the loop, when what it says
 * has changed: call it after anything that may change it (transactions, leases, rescans,
 * policy loads, uevents).
 */
void manager_startup_applied(struct manager *m);
int manager_startup_wait(struct manager *m);
void manager_status_update(struct manager *m);
/* A group the start-up rules could not move, and why (why NULL: it is no longer blocked). */
void manager_status_blocked(struct manager *m, int64_t group, const char *why);
void manager_status_blocked_clear(struct manager *m);
void manager_status_done(struct manager *m);
/* Adds GetStatus's transactions_ended (n_transactions) to o. */
int manager_status_transactions_json(const struct manager *m, json_object *o);

/* manager-varlink.c */
int manager_varlink_start(struct manager *m, int listen_fd);
/* Who is at the other end of c, for the journal: its peer credentials, and its comm as of now. */
void manager_caller_of(struct varlink_conn *c, struct audit_caller *ret);
/* Whether a peer may change things: root, pcipassd's own user, or SocketGroup=. */
bool manager_caller_may_change(struct manager *m, struct varlink_conn *c);
void manager_varlink_stop(struct manager *m);
/* Sends an event to every Monitor client; device may be NULL. */
void manager_monitor_send(struct manager *m, const char *action, const char *subsystem,
			  const char *address, struct pcidev *device, const char *devname,
			  uint64_t seqnum);

static inline void manager_freep(struct manager **m)
{
	if (*m)
		(void)manager_free(*m);
}
