/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Moving functions: requests (claim, release) and the policy's start-up rules, queued as jobs
 * and run one at a time. A job is planned when its turn comes, against the model as it is
 * then, and its group's plan is handed to the binder as the transaction: the steps a dry run
 * prints are the ones that run.
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "binder.h"
#include "errors.h"
#include "lib/json-util.h"
#include "lib/json-build.h"
#include "lib/log.h"
#include "manager.h"
#include "sysfs.h"


/* --- logging with the device's fields ------------------------------------------------------- */

/* A refusal or a guard forced past: one record, with the fields to search by. */
static void log_device(int priority, const struct pcidev *d, const char *rule, const char *what,
		       const char *code, const char *reason, const struct audit_caller *caller)
{
	struct audit a = {};
	char id[16] = "", group[16] = "none", by[96];
	bool forced = streq(what, "forced past");

	if (d) {
		snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
		if (d->iommu_group >= 0)
			snprintf(group, sizeof(group), "%d", d->iommu_group);
		audit_add(&a, "PCI_SLOT_NAME=%s", d->address);
		audit_add(&a, "PCI_ID=%s", id);
		if (d->iommu_group >= 0)
			audit_add(&a, "IOMMU_GROUP=%s", group);
	}
	audit_add(&a, "PCIPASS_ACTION=%s", forced ? "forced" : "refused");
	if (rule)
		audit_add(&a, "PCIPASS_RULE=%s", rule);
	if (code)
		audit_add(&a, "PCIPASS_GUARD=%s", code);
	if (forced)
		audit_add(&a, "FORCE=1");
	audit_add_caller(&a, caller);
	audit_emit(&a, priority, forced ? PCIPASS_MESSAGE_FORCED : NULL,
		   "%s %s (%s, group %s, rule %s, %s): %s", what, d ? d->address : "-", id, group,
		   rule ?: "none", audit_caller_string(caller, by, sizeof(by)), reason);
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

/* Whether a start-up rule wants something of g that its blockers keep from happening: a move,
 * or a function kept where it is against a blocker of its own (a pin the hardware broke). */
static bool group_blocked_at_boot(const struct plan_group *g)
{
	if (!g->blocked)
		return false;
	for (size_t i = 0; i < g->n_members; i++) {
		const struct plan_member *pm = &g->members[i];

		if (pm->rule && !pm->companion && pm->rule->apply == POLICY_APPLY_BOOT &&
		    pm->action != PLAN_LEAVE && pm->action != PLAN_DENY)
			return true;
	}
	return false;
}

/* Logs what blocks g (or was forced past), the group's own blockers under d. */
static void log_blocked(const struct plan_group *g, const struct pcidev *d,
			const struct audit_caller *caller)
{
	for (size_t i = 0; i < g->n_members; i++) {
		const struct plan_member *pm = &g->members[i];

		for (size_t j = 0; j < pm->n_blockers; j++)
			log_device(pm->blockers[j].forceable && pm->forced ? LOG_WARNING : LOG_NOTICE,
				   pm->dev, member_rule(pm),
				   pm->blockers[j].forceable && pm->forced ? "forced past" : "refused",
				   pm->blockers[j].code, pm->blockers[j].message, caller);
	}
	for (size_t j = 0; j < g->n_blockers; j++)
		log_device(LOG_NOTICE, d, d ? NULL : member_rule(&g->members[0]), "refused",
			   g->blockers[j].code, g->blockers[j].message, caller);
}

/* The first reason a blocked group is not moved (the messages name their function). */
static const struct plan_blocker *first_blocker_of(const struct plan_group *g)
{
	for (size_t i = 0; i < g->n_members; i++)
		for (size_t j = 0; j < g->members[i].n_blockers; j++)
			if (!(g->members[i].blockers[j].forceable && g->members[i].forced))
				return &g->members[i].blockers[j];
	return g->n_blockers ? &g->blockers[0] : NULL;
}

static const char *first_blocker(const struct plan_group *g)
{
	const struct plan_blocker *b = first_blocker_of(g);

	return b ? b->message : "blocked";
}

/* --- jobs: requests and applications, planned when their turn comes ------------------------- */

/* A caller waiting for jobs: one answer when all of its jobs have ended. */
struct waiter {
	manager_done_fn done;	/* NULL: nobody waits (start-up, hotplug) */
	void *userdata;
	unsigned pending;
	json_object *results;	/* the transactions, as they end */
	json_object *blocked;	/* an application's groups that its blockers kept from it */
	bool failed;
	char *error;		/* a job was refused: the error, and its parameters */
	json_object *error_params;
};

/* A transaction whose members changed between planning and running is planned again. */
#define JOB_REPLANS_MAX 3

struct job {
	struct manager *m;
	unsigned replans;
	struct manager_request req;	/* strings owned */
	struct waiter *waiter;		/* NULL for a task */
	binder_task_fn task;		/* a task instead of a request (manager_run_task) */
	void (*task_done)(int r, void *userdata);
	void *task_userdata;
	struct job *next;
};

static struct waiter *waiter_new(manager_done_fn done, void *userdata)
{
	struct waiter *w = new0(struct waiter, 1);

	if (!w)
		return NULL;
	*w = (struct waiter){ .done = done, .userdata = userdata, .pending = 1 };
	w->results = json_object_new_array();
	if (!w->results) {
		free(w);
		return NULL;
	}
	return w;
}

/* One of w's jobs has ended; the last one answers the caller. */
static void waiter_release(struct waiter *w)
{
	json_object *p;

	if (--w->pending > 0)
		return;
	if (w->done) {
		if (w->error)
			w->done(w->userdata, w->error, TAKE_PTR(w->error_params));
		else if (!(p = json_object_new_object()) ||
			 json_add(p, "transactions", json_object_get(w->results)) < 0 ||
			 (w->blocked && json_add(p, "blocked", json_object_get(w->blocked)) < 0)) {
			(void)json_object_put(p);
			w->done(w->userdata, ERROR_SYSTEM, NULL);
		} else
			w->done(w->userdata, w->failed ? ERROR_TRANSACTION_FAILED : NULL, p);
	}
	(void)json_object_put(w->error_params);
	(void)json_object_put(w->results);
	(void)json_object_put(w->blocked);
	free(w->error);
	free(w);
}

static void monitor_blocked(struct manager *m, const struct plan_group *g);

/* {"iommu_group", "address", "code", "message"}: what kept an application from g. */
static int waiter_add_blocked(struct waiter *w, const char *address, const struct plan_group *g)
{
	const struct plan_blocker *b = first_blocker_of(g);
	struct json_build jb = json_build_new();
	json_object *o = NULL;
	int r;

	if (!w->blocked && !(w->blocked = json_object_new_array()))
		return -ENOMEM;
	json_build_opt_int(&jb, "iommu_group", g->id);
	json_build_str(&jb, "address", address);
	json_build_str(&jb, "code", b ? b->code : "blocked");
	json_build_str(&jb, "message", b ? b->message : "blocked");
	r = json_build_done(&jb, &o);
	if (r >= 0 && json_object_array_add(w->blocked, o) < 0) {
		(void)json_object_put(o);
		r = -ENOMEM;
	}
	return r;
}

/* {"errno": ESHUTDOWN, …, "message": "pcipassd is stopping"}, or NULL without memory. */
static json_object *stopping_params(void)
{
	json_object *p = json_object_new_object();

	if (p && (json_add_int(p, "errno", ESHUTDOWN) < 0 ||
		  json_add_str(p, "errno_name", "ESHUTDOWN") < 0 ||
		  json_add_str(p, "message", "pcipassd is stopping") < 0)) {
		(void)json_object_put(p);
		p = NULL;
	}
	return p;
}

static void waiter_refuse(struct waiter *w, const char *error, json_object *params)
{
	if (w->error) {
		(void)json_object_put(params);
		return;
	}
	w->error = strdup(error);
	w->error_params = params;
}

static void request_done(struct manager_request *r)
{
	free(r->address);
	free(r->driver);
}

static struct job *job_free(struct job *j)
{
	request_done(&j->req);
	free(j);
	return NULL;
}

static int job_new(struct manager *m, const struct manager_request *req, struct waiter *w,
		   struct job **ret)
{
	struct job *j = new0(struct job, 1);

	if (!j)
		return -ENOMEM;
	j->m = m;
	j->req = *req;
	j->req.address = req->address ? strdup(req->address) : NULL;
	j->req.driver = req->driver ? strdup(req->driver) : NULL;
	j->waiter = w;
	if ((req->address && !j->req.address) || (req->driver && !j->req.driver)) {
		job_free(j);
		return -ENOMEM;
	}
	w->pending++;
	*ret = j;
	return 0;
}

static void jobs_append(struct manager *m, struct job *j)
{
	struct job **p = &m->jobs;

	while (*p)
		p = &(*p)->next;
	*p = j;
}

/* A plan's host steps (VF autoprobe off, NumVfs=), run on the worker as one task, in order. */
struct host_steps {
	struct manager *m;
	struct plan_step *steps;
	size_t n_steps;
};

static int host_steps_task(struct sysfs *s, void *userdata)
{
	struct host_steps *h = userdata;

	for (size_t i = 0; i < h->n_steps; i++) {
		const char *why = endswith(h->steps[i].path, "/sriov_numvfs") ?
				  "the VF count NumVfs= wants" :
				  "VF driver autoprobe off, the VFs are for passthrough";
		int k = sysfs_write(s, h->steps[i].path, h->steps[i].value);

		if (k < 0) {
			log_warning_errno(k, "Failed to write %s ← %s (%s): %m", h->steps[i].path,
					  h->steps[i].value, why);
			/* A count not made leaves the next one unwritable: stop there. */
			return k;
		}
		log_info("%s ← %s: %s", h->steps[i].path, h->steps[i].value, why);
	}
	return 0;
}

static void host_steps_done(int r, void *userdata)
{
	struct host_steps *h = userdata;

	/* sriov_drivers_autoprobe changes send no uevent: the PFs are read again. */
	for (size_t i = 0; r != -ESHUTDOWN && i < h->n_steps; i++) {
		char address[PCI_ADDR_MAX + 1];

		if (pci_path_last_address(h->steps[i].path, address))
			(void)model_refresh(&h->m->model, h->m->sysfs, address, NULL, NULL);
	}
	plan_steps_free(h->steps, h->n_steps);
	free(h);
}

/* Queues the plan's host steps, taking them, ahead of every other job. */
static int host_steps_queue(struct manager *m, struct plan *p)
{
	struct host_steps *h = new0(struct host_steps, 1);
	struct job *j = new0(struct job, 1);

	if (!h || !j) {
		free(h);
		free(j);
		return -ENOMEM;
	}
	h->m = m;
	h->steps = TAKE_PTR(p->host_steps);
	h->n_steps = p->n_host_steps;
	p->n_host_steps = 0;
	*j = (struct job){ .m = m, .task = host_steps_task, .task_done = host_steps_done,
			   .task_userdata = h, .next = m->jobs };
	m->jobs = j;
	return 0;
}

/*
 * The rule a request stands for, made from the model as it is now: a claim names its address;
 * a release every member of the address's group on a passthrough driver.
 */
static int request_rule(struct manager *m, const struct manager_request *req,
			struct policy_rule **ret)
{
	_cleanup_strv_free_ char **addresses = NULL;
	const struct pcidev *d = model_find(&m->model, req->address);
	const struct iommu_group *g = NULL;
	struct policy_rule *r;
	size_t n = 0;

	if (!d)
		return -ENODEV;
	if (req->release && d->iommu_group >= 0)
		g = model_find_group(&m->model, (uint32_t)d->iommu_group);
	addresses = new0(char *, (g ? g->n_members : 1) + 1);
	if (!addresses)
		return -ENOMEM;
	for (size_t i = 0; req->release && i < (g ? g->n_members : 1); i++) {
		const struct pcidev *md = g ? model_find(&m->model, g->members[i]) : d;

		if (!md || !(driver_is_vfio(md->driver) || driver_is_uio(md->driver)))
			continue;
		if (!(addresses[n++] = strdup(md->address)))
			return -ENOMEM;
	}
	/* A claim, or a release with nothing passed through: the address alone. */
	if (n == 0 && !(addresses[0] = strdup(req->address)))
		return -ENOMEM;

	r = new0(struct policy_rule, 1);
	if (!r)
		return -ENOMEM;
	*r = (struct policy_rule){
		.name = strdup("request"), .path = strdup("request"),
		.addresses = TAKE_PTR(addresses),
		.target = req->release ? POLICY_TARGET_HOST : driver_is_vfio(req->driver) ?
			  POLICY_TARGET_VFIO : POLICY_TARGET_UIO,
		.driver = req->release ? NULL : strdup(req->driver),
		.apply = POLICY_APPLY_REQUEST,
		.group = req->release ? POLICY_GROUP_ANY : req->group ? POLICY_GROUP_CLAIM :
			 POLICY_GROUP_VIABLE,
		.force = req->force,
	};
	if (!r->name || !r->path || (!req->release && !r->driver)) {
		policy_rule_free(r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

int manager_request_plan(struct manager *m, const struct manager_request *req,
			 enum plan_purpose purpose, struct manager_plan *ret)
{
	_cleanup_(policy_rule_freep) struct policy_rule *rule = NULL;
	_cleanup_free_ struct policy_rule **rules = NULL;
	int r;

	r = request_rule(m, req, &rule);
	if (r < 0)
		return r;
	rules = new0(struct policy_rule *, m->policy.n_rules + 1);
	if (!rules)
		return -ENOMEM;
	rules[0] = rule;
	if (m->policy.n_rules)
		memcpy(rules + 1, m->policy.rules, m->policy.n_rules * sizeof(*rules));
	r = manager_plan_build(m, &(struct policy){ .rules = rules, .n_rules = m->policy.n_rules + 1 },
			       req->address, purpose, ret);
	if (r < 0)
		return r;
	ret->request = TAKE_PTR(rule);
	return 0;
}

static json_object *address_params(const char *address)
{
	return json_object_new_str_pair("address", address);
}

/* GroupBlocked's parameters: every blocker not forced past, with its member. */
static int blocked_params(const char *address, const struct plan_group *g, json_object **ret)
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
			json_object *o;

			if (b[j].forceable && forced)
				continue;
			o = json_object_new_object();
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
	*ret = TAKE_PTR(p);
	return 0;
}

/* GroupLeased's parameters when address's group is leased (a request that is not the lease's
 * own must not move it): 1, else 0. */
static int leased_params(struct manager *m, const char *address, json_object **ret)
{
	const struct pcidev *d = model_find(&m->model, address);
	const struct lease *l = d ? manager_group_lease(m, d->iommu_group) : NULL;
	json_object *p;
	char id[24];

	if (!l)
		return 0;
	snprintf(id, sizeof(id), "%" PRIu64, lease_id(l));
	p = address_params(address);
	if (!p || json_add_int(p, "iommu_group", d->iommu_group) < 0 ||
	    json_add_str(p, "lease", id) < 0 || json_add_str(p, "owner", lease_owner(l)) < 0) {
		(void)json_object_put(p);
		return -ENOMEM;
	}
	*ret = p;
	return 1;
}

static void on_txn_done(struct txn *t, void *userdata);

/*
 * Runs one job: plans its group against the model as it is now and starts the transaction
 * (1: the job goes on until it ends), or finishes it at once (0: nothing to do, refused, or
 * an application expanded into one job per group).
 */
static int job_run(struct manager *m, struct job *j)
{
	_cleanup_(manager_plan_done) struct manager_plan mp = {};
	struct waiter *w = j->waiter;
	const struct plan_group *g;
	struct txn *t = NULL;
	int r;

	if (!j->req.apply)
		r = manager_request_plan(m, &j->req, PLAN_TO_RUN, &mp);
	else
		r = manager_plan_build(m, &m->policy, j->req.address, PLAN_TO_RUN, &mp);
	if (r == -ENODEV) {
		/* Gone while queued (an application's group: nothing left to do). */
		if (!j->req.apply)
			waiter_refuse(w, ERROR_NO_SUCH_DEVICE, address_params(j->req.address));
		return 0;
	}
	if (r < 0) {
		log_warning_errno(r, "Failed to plan %s: %m", j->req.address ?: "the host");
		waiter_refuse(w, ERROR_SYSTEM, NULL);
		return 0;
	}
	if (j->req.address && !j->req.lease) {
		/* Leased while this job waited: only its lease moves it now. */
		json_object *p = NULL;

		r = leased_params(m, j->req.address, &p);
		if (r != 0) {
			if (!j->req.apply)
				waiter_refuse(w, r > 0 ? ERROR_GROUP_LEASED : ERROR_SYSTEM, p);
			else
				(void)json_object_put(p);
			return 0;
		}
	}

	if (j->req.apply && mp.plan.n_host_steps > 0)
		(void)host_steps_queue(m, &mp.plan);
	if (j->req.apply && !j->req.address) {
		/* Every group a start-up rule moves: one job each, planned in its turn. */
		struct job **at = &m->jobs;

		manager_status_blocked_clear(m);
		while (*at && (*at)->task)
			at = &(*at)->next;	/* after the host's steps */

		for (size_t i = 0; i < mp.plan.n_groups; i++) {
			const struct plan_group *pg = &mp.plan.groups[i];
			struct manager_request gr = { .apply = true };
			struct job *gj;

			if (!(pg->acts && group_applies_at_boot(pg)) && !group_blocked_at_boot(pg))
				continue;
			for (size_t k = 0; k < pg->n_members && !gr.address; k++)
				if (pg->members[k].dev)
					gr.address = pg->members[k].address;
			if (job_new(m, &gr, w, &gj) < 0)
				break;
			gj->next = *at;
			*at = gj;
			at = &gj->next;
		}
		return 0;
	}

	g = &mp.plan.groups[0];
	if (j->req.apply && !(g->acts && group_applies_at_boot(g)) && !group_blocked_at_boot(g)) {
		manager_status_blocked(m, g->id, NULL);
		return 0;	/* in place by now */
	}
	log_blocked(g, model_find(&m->model, j->req.address), &j->req.caller);	/* or forced */
	if (j->req.apply)
		manager_status_blocked(m, g->id, g->blocked ? first_blocker(g) : NULL);
	if (g->blocked && j->req.apply) {
		(void)waiter_add_blocked(w, j->req.address, g);
		monitor_blocked(m, g);
	}
	if (g->blocked) {
		if (!j->req.apply) {
			json_object *p = NULL;

			if (blocked_params(j->req.address, g, &p) >= 0)
				waiter_refuse(w, ERROR_GROUP_BLOCKED, p);
			else
				waiter_refuse(w, ERROR_SYSTEM, NULL);
		}
		return 0;
	}
	r = txn_new_from_plan(g, &t);
	if (r == -ENODATA)
		return 0;	/* already in place: nothing to do, and the answer says so */
	if (r >= 0) {
		t->done = on_txn_done;
		t->userdata = j;
		r = binder_run(m->binder, t);
	}
	if (r < 0) {
		txn_free(t);
		log_warning_errno(r, "Failed to start the transaction of %s: %m", j->req.address);
		waiter_refuse(w, ERROR_SYSTEM, NULL);
		return 0;
	}
	return 1;
}

static void on_task_done(int r, void *userdata);

/* On the worker: the job's own task, with its own data. */
static int job_task(struct sysfs *s, void *userdata)
{
	struct job *j = userdata;

	return j->task(s, j->task_userdata);
}

/* Runs queued jobs until one starts a transaction or a task, or none is left. */
static void jobs_run(struct manager *m)
{
	while (m->jobs && !m->stopping && !binder_busy(m->binder)) {
		struct job *j = m->jobs;
		int r;

		m->jobs = j->next;
		j->next = NULL;
		if (j->task) {
			r = binder_run_task(m->binder, job_task, on_task_done, j);
			if (r >= 0) {
				m->job_running = j;
				return;
			}
			j->task_done(r, j->task_userdata);
			job_free(j);
			continue;
		}
		if (job_run(m, j) > 0) {
			m->job_running = j;
			return;
		}
		waiter_release(j->waiter);
		job_free(j);
	}
}

/* The transaction's record: what moved where, by which rule, for whom. */
static void log_txn(const struct job *j, const struct txn *t)
{
	_cleanup_free_ char *moves = NULL;
	const char *action = j->req.apply ? "apply" : j->req.lease ? "lease" :
			     t->kind == TXN_RELEASE ? "release" : "claim";
	const char *rule = NULL;
	struct audit a = {};
	size_t size = 0;
	char by[96];
	FILE *f = open_memstream(&moves, &size);

	if (!f)
		return;
	audit_add(&a, "PCIPASS_ACTION=%s", action);
	audit_add(&a, "PCIPASS_RESULT=%s", t->state == TXN_DONE ? "done" : "failed");
	audit_add(&a, "IOMMU_GROUP=%" PRIi64, t->group);
	audit_add(&a, "FORCE=%d", j->req.force ? 1 : 0);
	for (size_t i = 0; i < t->n_members; i++) {
		const struct txn_member *tm = &t->members[i];

		/* Repeated fields: each member's slot, its drivers from and to, and the three in one
		 * (journald keeps one of identical fields: "none" twice is once, so only
		 * PCIPASS_MOVE= pairs a member with its drivers). */
		audit_add(&a, "PCI_SLOT_NAME=%s", tm->address);
		audit_add(&a, "PCIPASS_DRIVER_FROM=%s", tm->from_driver ?: "none");
		audit_add(&a, "PCIPASS_DRIVER_TO=%s", tm->target ?: "host");
		audit_add(&a, "PCIPASS_MOVE=%s %s %s", tm->address, tm->from_driver ?: "none",
			  tm->target ?: "host");
		fprintf(f, "%s%s %s → %s", i ? ", " : "", tm->address, tm->from_driver ?: "(none)",
			tm->target ?: "(its host driver)");
		if (tm->rule && !rule)
			rule = tm->rule;
	}
	if (rule)
		audit_add(&a, "PCIPASS_RULE=%s", rule);
	if (t->state != TXN_DONE) {
		audit_add(&a, "ERRNO=%d", -t->error);
		fprintf(f, "; failed at %s%s%s: %s; %s", t->error_member ?: "",
			t->error_member ? ", " : "", t->error_step ?: "?",
			t->error_message ?: strerror(-t->error),
			t->rollback_error ?: "the group was put back as it was");
	}
	audit_add_caller(&a, &j->req.caller);
	if (fclose(f) != 0)
		return;
	audit_emit(&a, t->state == TXN_DONE ? LOG_NOTICE : LOG_ERR,
		   j->req.apply ? PCIPASS_MESSAGE_APPLY :
		   t->kind == TXN_RELEASE ? PCIPASS_MESSAGE_RELEASE : PCIPASS_MESSAGE_CLAIM,
		   "IOMMU group %" PRIi64 ": %s %s: %s (rule %s, %s%s)", t->group, action,
		   t->state == TXN_DONE ? "done" : "failed", moves, rule ?: "none",
		   audit_caller_string(&j->req.caller, by, sizeof(by)), j->req.force ? ", forced" : "");
}

static void on_txn_done(struct txn *t, void *userdata)
{
	struct job *j = userdata;
	struct manager *m = j->m;
	json_object *tj = NULL;

	manager_readiness_invalidate(m);	/* it may have loaded a module */
	m->job_running = NULL;
	if (t->state == TXN_FAILED && t->error == -ESTALE && !t->rollback_error &&
	    j->replans++ < JOB_REPLANS_MAX) {
		log_debug("%s changed before its transaction ran: planning again", j->req.address);
		j->next = m->jobs;
		m->jobs = j;
		jobs_run(m);
		return;
	}
	log_txn(j, t);
	m->n_transactions[t->kind][t->state == TXN_FAILED]++;
	if (txn_to_json(t, &tj) >= 0 && json_object_array_add(j->waiter->results, tj) < 0)
		(void)json_object_put(tj);
	j->waiter->failed = j->waiter->failed || t->state == TXN_FAILED;
	waiter_release(j->waiter);
	job_free(j);
	if (m->stopping) {
		(void)sd_event_exit(m->event, 0);
		return;
	}
	/* The model was refreshed from sysfs as the transaction ended: plan the next job. */
	jobs_run(m);
}

static void on_task_done(int r, void *userdata)
{
	struct job *j = userdata;
	struct manager *m = j->m;

	m->job_running = NULL;
	manager_readiness_invalidate(m);
	j->task_done(r, j->task_userdata);
	job_free(j);
	if (m->stopping) {
		(void)sd_event_exit(m->event, 0);
		return;
	}
	jobs_run(m);
}

int manager_run_task(struct manager *m, binder_task_fn fn, void (*done)(int r, void *userdata),
		     void *userdata)
{
	struct job *j;

	if (!m->binder)
		return -EROFS;
	j = new0(struct job, 1);
	if (!j)
		return -ENOMEM;
	*j = (struct job){ .m = m, .task = fn, .task_done = done, .task_userdata = userdata };
	jobs_append(m, j);
	jobs_run(m);
	return 0;
}

/* Queues a job for a new waiter; done (may be NULL) is called when it has ended. */
static int submit(struct manager *m, const struct manager_request *req, manager_done_fn done,
		  void *userdata)
{
	struct waiter *w = waiter_new(done, userdata);
	struct job *j = NULL;
	int r;

	if (!w)
		return -ENOMEM;
	if (m->stopping) {
		waiter_refuse(w, ERROR_SYSTEM, stopping_params());
		waiter_release(w);
		return 0;
	}
	r = job_new(m, req, w, &j);
	if (r < 0) {
		(void)json_object_put(w->results);
		free(w);
		return r;
	}
	jobs_append(m, j);
	waiter_release(w);	/* the job holds it now */
	jobs_run(m);
	return 0;
}

size_t manager_jobs_queued(const struct manager *m)
{
	size_t n = 0;

	for (const struct job *j = m->jobs; j; j = j->next)
		n++;
	return n;
}

/* Refuses the queued jobs, and with running the one that runs ("pcipassd is stopping"). */
static void jobs_refuse(struct manager *m, struct job *running)
{
	for (struct job *j = running ?: m->jobs, *next; j; j = next) {
		next = j == running ? m->jobs : j->next;
		if (j->task) {
			/* A running task's worker still uses its data: left to the exit. */
			if (j != running)
				j->task_done(-ESHUTDOWN, j->task_userdata);
			job_free(j);
			continue;
		}
		waiter_refuse(j->waiter, ERROR_SYSTEM, stopping_params());
		waiter_release(j->waiter);
		job_free(j);
	}
	m->jobs = NULL;
}

void manager_jobs_stop(struct manager *m)
{
	/* Callers still waiting are told; a transaction that runs on (stuck in the kernel) is
	 * undone at the next start from the journal. */
	jobs_refuse(m, TAKE_PTR(m->job_running));
}

int manager_stop(struct manager *m)
{
	const struct txn *t = m->binder ? binder_running(m->binder) : NULL;

	if (m->stopping || !m->binder || !binder_busy(m->binder) || (t && t->stuck))
		return sd_event_exit(m->event, 0);
	/* What runs ends first, done or rolled back: a stop leaves nothing half-done. */
	m->stopping = true;
	jobs_refuse(m, NULL);
	if (t)
		log_notice("Stopping once the %s of IOMMU group %" PRIi64 " has ended",
			   txn_kind_to_string(t->kind), t->group);
	(void)sd_notifyf(false, "STOPPING=1\nSTATUS=Stopping: waiting for the %s of IOMMU group %" PRIi64
			 " to end", t ? txn_kind_to_string(t->kind) : "task", t ? t->group : -1);
	return 0;
}

int manager_apply(struct manager *m, const char *only_address, const struct audit_caller *caller,
		  manager_done_fn done, void *userdata)
{
	if (m->read_only || m->disabled || !m->binder) {
		if (done)
			done(userdata, NULL, json_object_new_object());
		return 0;
	}
	return submit(m, &(struct manager_request){ .apply = true, .address = (char *)only_address,
						    .caller = caller ? *caller : (struct audit_caller){} },
		      done, userdata);
}

/* The rule that decides for d refuses requests (a deny rule, or Unmatched=deny)? */
static int check_denied(struct manager *m, const struct pcidev *d,
			const struct audit_caller *caller, json_object **ret)
{
	const struct policy_rule *r = policy_match(&m->policy, d);
	json_object *p;

	if (r ? r->target != POLICY_TARGET_DENY : m->config.unmatched != UNMATCHED_DENY)
		return 0;
	log_device(LOG_NOTICE, d, r ? r->name : NULL, "refused", "denied",
		   r ? "a deny rule protects it" : "no rule names it, and Unmatched=deny", caller);
	p = address_params(d->address);
	if (!p || json_add_str(p, "rule", r ? r->path : NULL) < 0) {
		(void)json_object_put(p);
		return -ENOMEM;
	}
	*ret = p;
	return 1;
}

int manager_request(struct manager *m, const struct manager_request *req, manager_done_fn done,
		    void *userdata)
{
	_cleanup_(manager_plan_done) struct manager_plan mp = {};
	const struct pcidev *d = model_find(&m->model, req->address);
	json_object *p = NULL, *plan = NULL;
	int r;

	if (!d) {
		done(userdata, ERROR_NO_SUCH_DEVICE, address_params(req->address));
		return 0;
	}
	if (!req->lease) {
		r = leased_params(m, req->address, &p);
		if (r < 0)
			return r;
		if (r > 0) {
			done(userdata, ERROR_GROUP_LEASED, p);
			return 0;
		}
	}
	if (!req->release) {
		r = check_denied(m, d, &req->caller, &p);
		if (r < 0)
			return r;
		if (r > 0) {
			done(userdata, ERROR_DEVICE_DENIED, p);
			return 0;
		}
	}
	if (!req->dry_run) {
		if (m->read_only || m->disabled) {
			done(userdata, m->read_only ? ERROR_READ_ONLY : ERROR_DISABLED, NULL);
			return 0;
		}
		return submit(m, req, done, userdata);
	}

	/* A dry run: the group's plan against the model as it is now, exactly the steps a
	 * transaction started now would carry out. */
	r = manager_request_plan(m, req, req->cached ? PLAN_TO_SHOW_CACHED : PLAN_TO_SHOW, &mp);
	if (r < 0)
		return r;
	if (mp.plan.groups[0].blocked) {
		r = blocked_params(req->address, &mp.plan.groups[0], &p);
		if (r < 0)
			return r;
		done(userdata, ERROR_GROUP_BLOCKED, p);
		return 0;
	}
	r = plan_to_json(&(struct plan){ .groups = mp.plan.groups, .n_groups = 1 }, &plan);
	if (r < 0)
		return r;
	p = json_object_new_object();
	if (!p || json_add(p, "plan", plan) < 0 ||
	    json_add(p, "transactions", json_object_new_array()) < 0) {
		(void)json_object_put(p);
		return -ENOMEM;
	}
	done(userdata, NULL, p);
	return 0;
}

/* A Monitor event: what keeps a start-up rule from g. */
static void monitor_blocked(struct manager *m, const struct plan_group *g)
{
	const struct plan_blocker *b = first_blocker_of(g);
	struct json_build jb;
	json_object *ev = NULL, *bj = NULL;
	const char *address = NULL;

	if (m->n_monitors == 0)
		return;
	for (size_t i = 0; i < g->n_members && !address; i++)
		if (g->members[i].dev)
			address = g->members[i].address;
	if (b) {
		struct json_build bb = json_build_new();

		json_build_str(&bb, "code", b->code);
		json_build_str(&bb, "message", b->message);
		json_build_bool(&bb, "forceable", b->forceable);
		if (json_build_done(&bb, &bj) < 0)
			return;
	}
	jb = json_build_new();
	json_build_str(&jb, "action", "blocked");
	json_build_str(&jb, "address", address);
	json_build_opt_int(&jb, "iommu_group", g->id);
	json_build_add(&jb, "blocker", bj);
	if (json_build_done(&jb, &ev) >= 0)
		manager_monitor_send_event(m, ev);
}

void manager_check_blocked(struct manager *m)
{
	_cleanup_(manager_plan_done) struct manager_plan mp = {};

	if (manager_plan_build(m, &m->policy, NULL, PLAN_TO_SHOW, &mp) < 0)
		return;
	for (size_t i = 0; i < mp.plan.n_groups; i++) {
		const struct plan_group *g = &mp.plan.groups[i];

		if (!group_blocked_at_boot(g)) {
			manager_status_blocked(m, g->id, NULL);
			continue;
		}
		log_blocked(g, NULL, NULL);
		manager_status_blocked(m, g->id, first_blocker(g));
		monitor_blocked(m, g);
	}
	manager_status_update(m);
}

/* --- progress for Monitor, and start-up --------------------------------------------------------- */

static void on_progress(const struct txn *t, const char *what, void *userdata)
{
	struct manager *m = userdata;
	_cleanup_json_ json_object *ev = json_object_new_object();
	json_object *tj = NULL;

	/* Ended: re-read its members (driver_override changes send no uevent); the claims may
	 * have changed, which every device's text shows. */
	if (t->state == TXN_DONE || t->state == TXN_FAILED)
		manager_texts_invalidate(m);
	if (t->state == TXN_DONE || t->state == TXN_FAILED)
		for (size_t i = 0; i < t->n_members; i++)
			(void)model_refresh(&m->model, m->sysfs, t->members[i].address, NULL, NULL);
	manager_status_update(m);
	/* Stopping, and the step it waited for is stuck in the kernel: the next start undoes it. */
	if (m->stopping && streq(what, "stuck"))
		(void)sd_event_exit(m->event, 0);

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
static void on_startup_applied(void *userdata, const char *error, json_object *params)
{
	(void)json_object_put(params);
	manager_startup_applied(userdata);
}

static void adopt_and_apply(struct manager *m)
{
	int r;

	if (!m->read_only)
		(void)binder_adopt(m->binder, &m->model);
	manager_texts_invalidate(m);
	r = manager_apply(m, NULL, NULL, on_startup_applied, m);
	if (r < 0) {
		log_warning_errno(r, "Failed to apply the policy at start, continuing: %m");
		manager_startup_applied(m);
	}
}

static void on_undo_done(struct txn *t, void *userdata)
{
	struct manager *m = userdata;

	m->n_transactions[TXN_UNDO][t->state == TXN_FAILED]++;
	(void)manager_rescan(m);
	adopt_and_apply(m);
}

int manager_binder_start(struct manager *m)
{
	_cleanup_(host_facts_done) struct host_facts h = HOST_FACTS_INIT;
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
		.kmod = m->binder_kmod, .real_sysfs = streq(m->sysfs_root, "/sys"),
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
		return binder_run(m->binder, undo);
	}
	adopt_and_apply(m);
	return 0;
}
