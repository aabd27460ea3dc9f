/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Acting on plans: start-up and hotplug application, and the Claim, Release, Apply methods. */
#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "binder.h"
#include "lib/json-util.h"
#include "lib/log.h"
#include "lib/varlink.h"
#include "manager.h"
#include "sysfs.h"

#define ERROR_READ_ONLY		"io.pcipass.ReadOnly"
#define ERROR_DISABLED		"io.pcipass.Disabled"
#define ERROR_DENIED		"io.pcipass.DeviceDenied"
#define ERROR_BLOCKED		"io.pcipass.GroupBlocked"
#define ERROR_FAILED		"io.pcipass.TransactionFailed"
#define ERROR_NO_SUCH_DEVICE	"io.pcipass.NoSuchDevice"
#define ERROR_PERMISSION_DENIED	"io.pcipass.PermissionDenied"

/* --- logging with the device's fields ------------------------------------------------------- */

/* A refusal or a forced action, to the journal with fields to search by (and to stderr). */
static void log_device(int priority, const struct pcidev *d, const char *rule, const char *what,
		       const char *reason)
{
	char id[16] = "", group[16] = "";

	if (d) {
		snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
		if (d->iommu_group >= 0)
			snprintf(group, sizeof(group), "%d", d->iommu_group);
	}
	if (getenv("JOURNAL_STREAM"))
		(void)sd_journal_send("MESSAGE=%s %s: %s", what, d ? d->address : "-", reason,
				      "PRIORITY=%d", priority, "PCI_SLOT_NAME=%s", d ? d->address : "",
				      "PCI_ID=%s", id, "IOMMU_GROUP=%s", group, "PCIPASS_RULE=%s",
				      rule ?: "", "PCIPASS_ACTION=%s", what, NULL);
	log_full(priority, "%s %s (%s, group %s, rule %s): %s", what, d ? d->address : "-", id,
		 group[0] ? group : "none", rule ?: "none", reason);
}

/* --- permissions ---------------------------------------------------------------------------- */

/* Root, the daemon's own user, or a member of SocketGroup= (its groups from /proc). */
bool manager_caller_may_change(struct manager *m, struct varlink_conn *c)
{
	_cleanup_fclose_ FILE *f = NULL;
	char path[64], line[4096];
	const struct group *g;
	uid_t uid = varlink_conn_uid(c);

	if (uid == 0 || uid == geteuid())
		return true;
	if (!m->config.socket_group)
		return false;
	g = getgrnam(m->config.socket_group);
	if (!g)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)varlink_conn_pid(c));
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *save = NULL;

		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		for (char *w = strtok_r(line + 7, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
			if ((gid_t)strtoul(w, NULL, 10) == g->gr_gid)
				return true;
	}
	return false;
}

/* Refuses a mutating call: read-only, disabled, or not allowed. 1 when the caller may go on. */
static int may_mutate(struct manager *m, struct varlink_conn *c)
{
	if (!manager_caller_may_change(m, c))
		return varlink_error(c, ERROR_PERMISSION_DENIED, NULL);
	if (m->read_only)
		return varlink_error(c, ERROR_READ_ONLY, NULL);
	if (m->disabled)
		return varlink_error(c, ERROR_DISABLED, NULL);
	return 1;
}

/* --- transactions and their callers ---------------------------------------------------------- */

/* Callers waiting for transactions: one reply when all of theirs have ended. */
struct waiter {
	struct manager *m;
	struct varlink_conn *conn;	/* NULL: nobody waits (start-up, hotplug) */
	unsigned pending;
	json_object *results;		/* the transactions, as they end */
	bool failed;
};

static void waiter_free(struct waiter *w)
{
	varlink_conn_unref(w->conn);
	(void)json_object_put(w->results);
	free(w);
}

static int reply_transactions(struct waiter *w)
{
	json_object *p = json_object_new_object();

	if (!p || json_add(p, "transactions", json_object_get(w->results)) < 0) {
		(void)json_object_put(p);
		return -ENOMEM;
	}
	if (!w->failed)
		return varlink_reply(w->conn, p);
	return varlink_error(w->conn, ERROR_FAILED, p);
}

static void on_txn_done(struct txn *t, void *userdata)
{
	struct waiter *w = userdata;
	json_object *j = NULL;

	if (txn_to_json(t, &j) >= 0 && json_object_array_add(w->results, j) < 0)
		(void)json_object_put(j);
	w->failed = w->failed || t->state == TXN_FAILED;
	if (--w->pending > 0)
		return;
	if (w->conn && !varlink_conn_is_closed(w->conn))
		(void)reply_transactions(w);
	waiter_free(w);
}

static struct waiter *waiter_new(struct manager *m, struct varlink_conn *conn)
{
	struct waiter *w = new0(struct waiter, 1);

	if (!w)
		return NULL;
	w->m = m;
	w->conn = varlink_conn_ref(conn);
	w->results = json_object_new_array();
	if (!w->results) {
		waiter_free(w);
		return NULL;
	}
	return w;
}

/* Queues the transactions of one planned group (claims, then releases). */
static int submit_group(struct manager *m, const struct plan_group *g, struct waiter *w)
{
	static const enum txn_kind kinds[] = { TXN_CLAIM, TXN_RELEASE };
	int r;

	for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
		struct txn *t = NULL;

		r = txn_new_from_plan(m->binder, g, kinds[k], &t);
		if (r == -ENODATA)
			continue;
		if (r < 0)
			return r;
		t->done = on_txn_done;
		t->userdata = w;
		w->pending++;
		r = binder_submit(m->binder, t);
		if (r < 0)
			return r;
	}
	return 0;
}

static const char *member_rule(const struct plan_member *pm)
{
	return pm->rule ? pm->rule->name : NULL;
}

/* Whether every acting member of g acts by a rule that applies at boot. */
static bool group_applies_at_boot(const struct plan_group *g)
{
	bool any = false;

	for (size_t i = 0; i < g->n_members; i++) {
		const struct plan_member *pm = &g->members[i];

		if (pm->action != PLAN_BIND && pm->action != PLAN_RELEASE)
			continue;
		if (!pm->rule || pm->rule->apply != POLICY_APPLY_BOOT)
			return false;
		any = true;
	}
	return any;
}

/* Logs what blocks g (or was forced past), the group's own blockers under d. */
static void log_blocked(const struct plan_group *g, const struct pcidev *d)
{
	for (size_t i = 0; i < g->n_members; i++) {
		const struct plan_member *pm = &g->members[i];

		for (size_t j = 0; j < pm->n_blockers; j++)
			log_device(pm->blockers[j].forceable && pm->forced ? LOG_WARNING : LOG_NOTICE,
				   pm->dev, member_rule(pm),
				   pm->blockers[j].forceable && pm->forced ? "forced past" : "refused",
				   pm->blockers[j].message);
	}
	for (size_t j = 0; j < g->n_blockers; j++)
		log_device(LOG_NOTICE, d, d ? NULL : member_rule(&g->members[0]), "refused",
			   g->blockers[j].message);
}

/*
 * A PF whose VFs a start-up rule passes through (VirtualFunctionOf=) gets
 * sriov_drivers_autoprobe=0, so that VFs created later never touch the host's VF driver
 * before pcipassd claims them.
 */
static void sriov_autoprobe_off(struct manager *m, const char *only_address)
{
	for (size_t i = 0; i < m->model.n_devs; i++) {
		const struct pcidev *d = m->model.devs[i];
		_cleanup_free_ char *path = NULL, *v = NULL;
		bool wanted = false;
		int r;

		if (d->sriov_totalvfs <= 0 || (only_address && !streq(only_address, d->address)))
			continue;
		for (size_t k = 0; k < m->policy.n_rules && !wanted; k++) {
			const struct policy_rule *rule = m->policy.rules[k];

			if (!rule->vf_of || rule->apply != POLICY_APPLY_BOOT ||
			    (rule->target != POLICY_TARGET_VFIO && rule->target != POLICY_TARGET_UIO))
				continue;
			for (char **g = rule->vf_of; *g && !wanted; g++)
				wanted = fnmatch(*g, d->address, 0) == 0;
		}
		if (!wanted || asprintf(&path, "bus/pci/devices/%s/sriov_drivers_autoprobe",
					d->address) < 0)
			continue;
		if (sysfs_read(m->sysfs, path, &v) < 0 || streq(v, "0"))
			continue;
		r = sysfs_write(m->sysfs, path, "0");
		if (r < 0)
			log_warning_errno(r, "Failed to turn off VF autoprobe of %s: %m", d->address);
		else
			log_info("%s: VF driver autoprobe off, its VFs are for passthrough", d->address);
	}
}

int manager_apply(struct manager *m, const char *only_address, struct varlink_conn *reply_to)
{
	_cleanup_(manager_plan_done) struct manager_plan mp = {};
	struct waiter *w;
	int r;

	if (m->read_only || m->disabled || !m->binder)
		return 0;
	sriov_autoprobe_off(m, only_address);
	r = manager_plan_build(m, &m->policy, only_address, &mp);
	if (r < 0)
		return r;
	w = waiter_new(m, reply_to);
	if (!w)
		return -ENOMEM;
	w->pending = 1;	/* held until everything is queued */
	for (size_t i = 0; i < mp.plan.n_groups && r >= 0; i++) {
		const struct plan_group *g = &mp.plan.groups[i];

		if (!g->acts || !group_applies_at_boot(g))
			continue;
		log_blocked(g, NULL);	/* what blocks it, or the guards forced past */
		if (g->blocked)
			continue;
		r = submit_group(m, g, w);
	}
	if (--w->pending == 0) {
		/* Nothing to do (or all done already). */
		if (w->conn && r >= 0)
			(void)reply_transactions(w);
		waiter_free(w);
	}
	return r;
}

/* --- Claim, Release, Apply ----------------------------------------------------------------- */

static int blocked_error(struct varlink_conn *c, const char *address, const struct plan_group *g)
{
	_cleanup_json_ json_object *p = json_object_new_object(), *a = json_object_new_array();
	int r;

	if (!p || !a)
		return -ENOMEM;
	for (size_t i = 0; i <= g->n_members; i++) {
		const struct plan_blocker *b = i < g->n_members ? g->members[i].blockers : g->blockers;
		size_t n = i < g->n_members ? g->members[i].n_blockers : g->n_blockers;
		bool forced = i < g->n_members && g->members[i].forced;

		for (size_t j = 0; j < n; j++) {
			json_object *o = json_object_new_object();

			if (b[j].forceable && forced)
				continue;
			if (!o || json_object_array_add(a, o) < 0) {
				(void)json_object_put(o);
				return -ENOMEM;
			}
			r = json_add_str(o, "address", i < g->n_members ? g->members[i].address : NULL);
			if (r >= 0)
				r = json_add_str(o, "code", b[j].code);
			if (r >= 0)
				r = json_add_str(o, "message", b[j].message);
			if (r >= 0)
				r = json_add_bool(o, "forceable", b[j].forceable);
			if (r < 0)
				return r;
		}
	}
	r = json_add_str(p, "address", address);
	if (r >= 0)
		r = g->id >= 0 ? json_add_int(p, "iommu_group", g->id) : json_add_null(p, "iommu_group");
	if (r >= 0)
		r = json_add(p, "blockers", TAKE_PTR(a));
	if (r < 0)
		return r;
	return varlink_error(c, ERROR_BLOCKED, TAKE_PTR(p));
}

/* {"transactions": []}, or NULL (out of memory: the reply is then {}). */
static json_object *transactions_none(void)
{
	json_object *p = json_object_new_object();

	if (!p || json_add(p, "transactions", json_object_new_array()) < 0) {
		(void)json_object_put(p);
		return NULL;
	}
	return p;
}

/*
 * A request: a one-rule policy (the request's, first) over the policy in force, planned for
 * the address's group, then carried out unless blocked or a dry run.
 */
static int request(struct manager *m, struct varlink_conn *c, struct policy_rule *rule,
		   const char *address, bool dry_run)
{
	_cleanup_(manager_plan_done) struct manager_plan mp = {};
	_cleanup_free_ struct policy_rule **rules = NULL;
	struct policy p = {};
	const struct plan_group *g;
	struct waiter *w;
	int r;

	rules = new0(struct policy_rule *, m->policy.n_rules + 1);
	if (!rules)
		return -ENOMEM;
	rules[0] = rule;
	if (m->policy.n_rules)
		memcpy(rules + 1, m->policy.rules, m->policy.n_rules * sizeof(*rules));
	p.rules = rules;
	p.n_rules = m->policy.n_rules + 1;

	r = manager_plan_build(m, &p, address, &mp);
	if (r < 0)
		return r;
	g = &mp.plan.groups[0];
	if (g->blocked) {
		log_blocked(g, model_find(&m->model, address));
		return blocked_error(c, address, g);
	}
	if (!dry_run && !g->acts)
		/* Already in place. */
		return varlink_reply(c, transactions_none());
	if (dry_run) {
		json_object *j = NULL, *reply = json_object_new_object();

		r = plan_to_json(&(struct plan){ .groups = (struct plan_group *)g, .n_groups = 1 }, &j);
		if (r < 0 || !reply) {
			(void)json_object_put(reply);
			return r < 0 ? r : -ENOMEM;
		}
		r = json_add(reply, "plan", j);
		if (r >= 0)
			r = json_add(reply, "transactions", json_object_new_array());
		if (r < 0) {
			(void)json_object_put(reply);
			return r;
		}
		return varlink_reply(c, reply);
	}
	log_blocked(g, model_find(&m->model, address));	/* forced guards are logged */
	w = waiter_new(m, c);
	if (!w)
		return -ENOMEM;
	w->pending = 1;
	r = submit_group(m, g, w);
	if (--w->pending == 0) {
		if (r >= 0)
			(void)reply_transactions(w);
		waiter_free(w);
	}
	return r;	/* the reply comes when the transactions end */
}

/* The rule that decides for d, and whether it refuses requests. */
static int check_denied(struct manager *m, struct varlink_conn *c, const struct pcidev *d)
{
	const struct policy_rule *r = policy_match(&m->policy, d);
	json_object *p;

	if (r ? r->target != POLICY_TARGET_DENY : m->config.unmatched != UNMATCHED_DENY)
		return 1;
	log_device(LOG_NOTICE, d, r ? r->name : NULL, "refused",
		   r ? "a deny rule protects it" : "no rule names it, and Unmatched=deny");
	p = json_object_new_object();
	if (!p || json_add_str(p, "address", d->address) < 0 ||
	    json_add_str(p, "rule", r ? r->path : NULL) < 0) {
		(void)json_object_put(p);
		return -ENOMEM;
	}
	return varlink_error(c, ERROR_DENIED, p);
}

static int no_such_device(struct varlink_conn *c, const char *address)
{
	json_object *p = json_object_new_object();

	if (!p || json_add_str(p, "address", address) < 0) {
		(void)json_object_put(p);
		return -ENOMEM;
	}
	return varlink_error(c, ERROR_NO_SUCH_DEVICE, p);
}

static int request_rule(const char *name, char **addresses, enum policy_target target,
			const char *driver, enum policy_group group, bool force, struct policy_rule **ret)
{
	struct policy_rule *r = new0(struct policy_rule, 1);

	if (!r)
		return -ENOMEM;
	*r = (struct policy_rule){
		.name = strdup(name), .path = strdup(name), .addresses = addresses,
		.target = target, .driver = driver ? strdup(driver) : NULL,
		.apply = POLICY_APPLY_REQUEST, .group = group, .force = force,
	};
	if (!r->name || !r->path || (driver && !r->driver)) {
		policy_rule_free(r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

int manager_method_claim(struct varlink_conn *c, json_object *params, unsigned flags, void *userdata)
{
	struct {
		const char *address, *driver;
		int group, force, dry_run;
	} p = { .group = -1, .force = -1, .dry_run = -1 };
	static const struct json_field fields[] = {
		{ "address", JSON_FIELD_STRING, JSON_FIELD_MANDATORY, offsetof(typeof(p), address) },
		{ "driver", JSON_FIELD_STRING, 0, offsetof(typeof(p), driver) },
		{ "group", JSON_FIELD_BOOL, 0, offsetof(typeof(p), group) },
		{ "force", JSON_FIELD_BOOL, 0, offsetof(typeof(p), force) },
		{ "dry_run", JSON_FIELD_BOOL, 0, offsetof(typeof(p), dry_run) },
		{}
	};
	struct manager *m = userdata;
	_cleanup_(policy_rule_freep) struct policy_rule *rule = NULL;
	const struct pcidev *d;
	const char *bad = NULL;
	char **addresses;
	int r;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return varlink_error_invalid_parameter(c, bad);
	if (!pci_addr_is_valid(p.address))
		return varlink_error_invalid_parameter(c, "address");
	if (!p.driver)
		p.driver = "vfio-pci";
	if (!driver_is_vfio(p.driver) && !streq(p.driver, "uio_pci_generic"))
		return varlink_error_invalid_parameter(c, "driver");
	if (p.dry_run != 1 && (r = may_mutate(m, c)) <= 0)
		return r;
	d = model_find(&m->model, p.address);
	if (!d)
		return no_such_device(c, p.address);
	r = check_denied(m, c, d);
	if (r <= 0)
		return r;

	addresses = new0(char *, 2);
	if (!addresses || !(addresses[0] = strdup(p.address))) {
		free(addresses);
		return -ENOMEM;
	}
	r = request_rule("request", addresses,
			 driver_is_vfio(p.driver) ? POLICY_TARGET_VFIO : POLICY_TARGET_UIO, p.driver,
			 p.group == 1 ? POLICY_GROUP_CLAIM : POLICY_GROUP_VIABLE, p.force == 1, &rule);
	if (r < 0) {
		strv_free(addresses);
		return r;
	}
	return request(m, c, rule, p.address, p.dry_run == 1);
}

int manager_method_release(struct varlink_conn *c, json_object *params, unsigned flags,
			   void *userdata)
{
	struct {
		const char *address;
		int dry_run;
	} p = { .dry_run = -1 };
	static const struct json_field fields[] = {
		{ "address", JSON_FIELD_STRING, JSON_FIELD_MANDATORY, offsetof(typeof(p), address) },
		{ "dry_run", JSON_FIELD_BOOL, 0, offsetof(typeof(p), dry_run) },
		{}
	};
	struct manager *m = userdata;
	_cleanup_(policy_rule_freep) struct policy_rule *rule = NULL;
	const struct iommu_group *g;
	const struct pcidev *d;
	const char *bad = NULL;
	char **addresses;
	size_t n = 0;
	int r;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return varlink_error_invalid_parameter(c, bad);
	if (!pci_addr_is_valid(p.address))
		return varlink_error_invalid_parameter(c, "address");
	if (p.dry_run != 1 && (r = may_mutate(m, c)) <= 0)
		return r;
	d = model_find(&m->model, p.address);
	if (!d)
		return no_such_device(c, p.address);

	/* The whole group goes back: every member on a passthrough driver. */
	g = d->iommu_group >= 0 ? model_find_group(&m->model, (uint32_t)d->iommu_group) : NULL;
	addresses = new0(char *, (g ? g->n_members : 1) + 1);
	if (!addresses)
		return -ENOMEM;
	for (size_t i = 0; i < (g ? g->n_members : 1); i++) {
		const struct pcidev *md = g ? model_find(&m->model, g->members[i]) : d;

		if (!md || !(driver_is_vfio(md->driver) || streq(md->driver, "uio_pci_generic")))
			continue;
		addresses[n] = strdup(md->address);
		if (!addresses[n++]) {
			strv_free(addresses);
			return -ENOMEM;
		}
	}
	if (n == 0) {
		/* Nothing passed through: nothing to release. */
		strv_free(addresses);
		addresses = new0(char *, 2);
		if (!addresses || !(addresses[0] = strdup(p.address))) {
			free(addresses);
			return -ENOMEM;
		}
	}
	r = request_rule("request", addresses, POLICY_TARGET_HOST, NULL, POLICY_GROUP_ANY, false,
			 &rule);
	if (r < 0) {
		strv_free(addresses);
		return r;
	}
	return request(m, c, rule, p.address, p.dry_run == 1);
}

int manager_method_apply(struct varlink_conn *c, json_object *params, unsigned flags, void *userdata)
{
	struct manager *m = userdata;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, (const struct json_field[]){ {} }, NULL, &bad) < 0)
		return varlink_error_invalid_parameter(c, bad);
	r = may_mutate(m, c);
	if (r <= 0)
		return r;
	return manager_apply(m, NULL, c);
}

/* --- progress for Monitor, and start-up --------------------------------------------------------- */

static void on_progress(const struct txn *t, const char *what, void *userdata)
{
	struct manager *m = userdata;
	_cleanup_json_ json_object *ev = json_object_new_object();
	json_object *tj = NULL;

	/* Ended: re-read its members (driver_override changes send no uevent). */
	if (t->state == TXN_DONE || t->state == TXN_FAILED)
		for (size_t i = 0; i < t->n_members; i++)
			(void)model_refresh(&m->model, m->sysfs, t->members[i].address, NULL, NULL);

	if (m->n_monitors == 0 || !ev || txn_to_json(t, &tj) < 0)
		return;
	if (json_add_str(ev, "action", "transaction") < 0 || json_add_str(ev, "progress", what) < 0 ||
	    json_add(ev, "transaction", tj) < 0)
		return;
	manager_monitor_send_event(m, TAKE_PTR(ev));
}

static bool kernel_cmdline_disables(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/cmdline", "re");
	char line[4096];

	if (!f || !fgets(line, sizeof(line), f))
		return false;
	for (char *save = NULL, *w = strtok_r(line, " \t\n", &save); w;
	     w = strtok_r(NULL, " \t\n", &save))
		if (streq(w, "pcipass.disable=1") || streq(w, "pcipass.disable"))
			return true;
	return false;
}

/* Claims of functions someone else has moved since are forgotten, the rest adopted; then the
 * policy's start-up rules are carried out (never re-applied to what is already in place). */
static void adopt_and_apply(struct manager *m)
{
	int r;

	if (!m->read_only)
		(void)binder_adopt(m->binder, &m->model);
	r = manager_apply(m, NULL, NULL);
	if (r < 0)
		log_warning_errno(r, "Failed to apply the policy at start, continuing: %m");
}

static void on_undo_done(struct txn *t, void *userdata)
{
	struct manager *m = userdata;

	(void)manager_rescan(m);
	adopt_and_apply(m);
}

int manager_binder_start(struct manager *m)
{
	_cleanup_(host_facts_done) struct host_facts h = { .noiommu = -1, .interrupt_remapping = -1 };
	struct txn *undo = NULL;
	struct binder_config bc;
	int r;

	m->disabled = kernel_cmdline_disables();
	if (m->disabled)
		log_notice("pcipass.disable=1 on the kernel command line: reporting only, touching "
			   "nothing");
	(void)host_facts_read(m->sysfs, &h);
	bc = (struct binder_config){
		.sysfs = m->sysfs, .dev_root = m->dev_root, .state_dir = m->state_dir,
		.kmod = m->kmod, .real_sysfs = streq(m->sysfs_root, "/sys"),
		.dma_ownership = h.dma_ownership, .step_timeout_usec = m->step_timeout_usec,
		.progress = on_progress, .userdata = m,
	};
	r = binder_new(m->event, &bc, &m->binder);
	if (r < 0)
		return log_error_errno(r, "Failed to set up the binder: %m");
	r = binder_load(m->binder, &undo);
	if (r < 0)
		return log_error_errno(r, "Failed to read the journal in '%s': %m", m->state_dir);
	if (undo && (m->read_only || m->disabled)) {
		log_warning("Not undoing the interrupted transaction: %s",
			    m->read_only ? "read-only" : "disabled");
		undo = txn_free(undo);
	}
	if (undo) {
		/* Adoption and the policy wait until the interrupted transaction is undone. */
		undo->done = on_undo_done;
		undo->userdata = m;
		return binder_submit(m->binder, undo);
	}
	adopt_and_apply(m);
	return 0;
}
