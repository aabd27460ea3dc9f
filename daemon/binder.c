/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "binder.h"
#include "kmodule.h"
#include "lib/json-util.h"
#include "lib/log.h"
#include "sysfs.h"

#define JOURNAL "claims.json"

/* What the worker tells the event loop, through a pipe (each message < PIPE_BUF: atomic). */
enum msg_type { MSG_STEP_START, MSG_STEP_DONE, MSG_END, MSG_TASK_END };
struct msg {
	enum msg_type type;
	size_t step;
	int result;
};

struct binder {
	sd_event *event;
	struct binder_config config;
	struct sysfs *sysfs;
	char *dev_root, *state_dir;
	uint64_t next_id;

	struct claim *claims;
	size_t n_claims;

	struct txn *running;
	struct {
		binder_task_fn fn;
		void (*done)(int r, void *userdata);
		void *userdata;
		bool running;
	} task;
	pthread_t thread;
	int pipe[2];
	sd_event_source *pipe_src, *deadline_src;
	bool dma_ownership;
};

static const char *const kind_names[] = {
	[TXN_CLAIM] = "claim", [TXN_RELEASE] = "release", [TXN_UNDO] = "undo",
};
static const char *const state_names[] = {
	[TXN_NEW] = "new", [TXN_RUNNING] = "running", [TXN_DONE] = "done",
	[TXN_FAILED] = "failed",
};

const char *txn_kind_to_string(enum txn_kind k)
{
	return (size_t)k < ELEMENTSOF(kind_names) ? kind_names[k] : NULL;
}

const char *txn_state_to_string(enum txn_state s)
{
	return (size_t)s < ELEMENTSOF(state_names) ? state_names[s] : NULL;
}

static char *strdup_or_null(const char *s, bool *oom)
{
	char *p;

	if (!s)
		return NULL;
	p = strdup(s);
	if (!p)
		*oom = true;
	return p;
}

/* --- transactions ------------------------------------------------------------------------- */

static void member_done(struct txn_member *m)
{
	free(m->address);
	free(m->from_driver);
	free(m->bound_meanwhile);
	free(m->from_override);
	free(m->target);
	free(m->rule);
	free(m->pool);
}

static void claims_free(struct claim *c, size_t n);

struct txn *txn_free(struct txn *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n_members; i++)
		member_done(&t->members[i]);
	free(t->members);
	plan_steps_free(t->steps, t->n_steps);
	free(t->step_member);
	free(t->error_member);
	free(t->error_step);
	free(t->error_message);
	free(t->rollback_error);
	claims_free(t->claims_after, t->n_claims_after);
	free(t);
	return NULL;
}

/* Appends a copy of the plan's steps of member mi. */
static int txn_add_steps(struct txn *t, size_t mi, const struct plan_step *steps, size_t n)
{
	struct plan_step *s = reallocarray_safe(t->steps, t->n_steps + n + 1, sizeof(*s));
	size_t *sm;

	if (!s)
		return -ENOMEM;
	t->steps = s;
	sm = reallocarray_safe(t->step_member, t->n_steps + n + 1, sizeof(*sm));
	if (!sm)
		return -ENOMEM;
	t->step_member = sm;
	for (size_t i = 0; i < n; i++) {
		bool oom = false;

		s[t->n_steps] = (struct plan_step){
			.op = steps[i].op, .path = strdup_or_null(steps[i].path, &oom),
			.value = strdup_or_null(steps[i].value, &oom),
		};
		sm[t->n_steps++] = mi;
		if (oom)
			return -ENOMEM;
	}
	return 0;
}

int txn_new_from_plan(const struct plan_group *g, struct txn **ret)
{
	_cleanup_(txn_freep) struct txn *t = new0(struct txn, 1);
	bool binds = false;

	if (!t)
		return -ENOMEM;
	t->group = g->id;
	t->members = new0(struct txn_member, g->n_members);
	if (!t->members)
		return -ENOMEM;
	for (size_t i = 0; i < g->n_members; i++) {
		const struct plan_member *pm = &g->members[i];
		struct txn_member *m;
		bool oom = false;
		int r;

		if (!pm->dev || (pm->action != PLAN_BIND && pm->action != PLAN_RELEASE))
			continue;
		m = &t->members[t->n_members++];
		*m = (struct txn_member){
			.address = strdup_or_null(pm->address, &oom),
			.from_driver = strdup_or_null(pm->dev->driver, &oom),
			.from_override = strdup_or_null(pm->dev->driver_override, &oom),
			.target = strdup_or_null(pm->target, &oom),
			.release = pm->action == PLAN_RELEASE,
			.group = g->id,
			.rule = pm->rule ? strdup_or_null(pm->rule->name, &oom) : NULL,
			.pool = pm->rule ? strdup_or_null(pm->rule->pool, &oom) : NULL,
		};
		if (oom)
			return -ENOMEM;
		r = txn_add_steps(t, t->n_members - 1, pm->steps, pm->n_steps);
		if (r < 0)
			return r;
		binds = binds || !m->release;
		if (!m->release && driver_is_vfio(pm->target) && pm->rule &&
		    pm->rule->group != POLICY_GROUP_ANY)
			t->require_viable = true;
	}
	if (t->n_members == 0)
		return -ENODATA;
	t->kind = binds ? TXN_CLAIM : TXN_RELEASE;
	*ret = TAKE_PTR(t);
	return 0;
}

/* --- the worker ----------------------------------------------------------------------------- */

static void send_msg(struct binder *b, enum msg_type type, size_t step, int result)
{
	struct msg m = { .type = type, .step = step, .result = result };

	/* A pipe write of this size is atomic; the loop always drains it. */
	while (write(b->pipe[1], &m, sizeof(m)) < 0 && errno == EINTR)
		;
}

/*
 * Loads a driver's module with libkmod — only on the real /sys: a synthetic tree's drivers
 * are what its bus/pci/drivers shows. By the driver's name, else by the function's modalias.
 */
static int load_module_for(struct binder *b, const char *driver, const char *address)
{
	_cleanup_free_ char *path = NULL, *alias = NULL;

	if (sysfs_pci_driver_registered(b->sysfs, driver))
		return 0;
	if (!b->config.real_sysfs)
		return -ENOENT;
	if (kmodule_load(b->config.kmod, driver) < 0) {
		if (sysfs_pci_attr_path(address, "modalias", &path) < 0)
			return -ENOMEM;
		if (sysfs_read(b->sysfs, path, &alias) < 0 || kmodule_load(b->config.kmod, alias) < 0)
			return -ENOENT;
	}
	return sysfs_pci_driver_registered(b->sysfs, driver) ? 0 : -ENOENT;
}

static int step_run(struct binder *b, const struct plan_step *s, const char *address)
{
	if (s->op == PLAN_STEP_WRITE)
		return sysfs_write(b->sysfs, s->path, s->value);
	return load_module_for(b, s->value, address);
}

_printf_(2, 3)
static char *why(int *r, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		s = NULL;
		*r = -ENOMEM;
	}
	va_end(ap);
	return s;
}

/* The node a user of the claimed function opens: /dev/vfio/N (noiommu-N) or /dev/uioK. */
static int verify_node(struct binder *b, const struct txn_member *m)
{
	char path[PATH_MAX];
	_cleanup_strv_free_ char **uio = NULL;
	_cleanup_free_ char *dir = NULL;

	if (driver_is_vfio(m->target)) {
		snprintf(path, sizeof(path), "%s/vfio/%" PRIi64, b->dev_root, m->group);
		if (path_exists(path))
			return 0;
		snprintf(path, sizeof(path), "%s/vfio/noiommu-%" PRIi64, b->dev_root, m->group);
		return path_exists(path) ? 0 : -ENODEV;
	}
	if (driver_is_uio(m->target)) {
		if (sysfs_pci_attr_path(m->address, "uio", &dir) < 0)
			return -ENOMEM;
		if (sysfs_list(b->sysfs, dir, &uio, NULL) < 0 || !uio[0])
			return -ENODEV;
		snprintf(path, sizeof(path), "%s/%s", b->dev_root, uio[0]);
		return path_exists(path) ? 0 : -ENODEV;
	}
	return 0;
}

/* After a member's last step: is it where it should be? The driver link says, not the write. */
static int verify_member(struct binder *b, struct txn_member *m, char **ret_why)
{
	_cleanup_free_ char *drv = NULL;
	int r;

	r = sysfs_pci_driver(b->sysfs, m->address, &drv);
	if (r < 0) {
		*ret_why = why(&r, "%s cannot be read back: %s", m->address, strerror(-r));
		return r;
	}
	/* Planned without a driver, and now on another than ours: a host driver's probe (the
	 * kernel's own, after a hotplug's "add") bound it between the check and our override.
	 * It is planned again from there, and a rollback leaves it on that driver. */
	if (!m->release && m->target && !m->from_driver && drv && !streq(drv, m->target)) {
		r = -ESTALE;
		*ret_why = why(&r, "%s was bound to %s meanwhile, not by pcipass", m->address, drv);
		free(m->bound_meanwhile);
		m->bound_meanwhile = TAKE_PTR(drv);
		return r;
	}
	if (m->target && !streq(drv, m->target)) {
		r = -EIO;
		*ret_why = why(&r, "%s is %s%s after the probe, not %son %s", m->address,
			       drv ? "on " : "", drv ?: "unbound", m->release ? "back " : "",
			       m->target);
		return r;
	}
	if (!m->release) {
		r = verify_node(b, m);
		if (r < 0)
			*ret_why = why(&r, "%s is on %s but its device node did not appear",
				       m->address, m->target);
	}
	return r;
}

/* The kernel's rule (the planner's function) on what sysfs shows now. */
static int verify_group_viable(struct binder *b, int64_t group, char **ret_why)
{
	_cleanup_strv_free_ char **names = NULL;
	_cleanup_free_ struct viability_member *v = NULL;
	bool viable;
	size_t n;
	int r;

	r = sysfs_iommu_group_members(b->sysfs, group, &names, NULL);
	if (r < 0)
		return r;
	n = strv_length(names);
	v = new0(struct viability_member, n + 1);
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int header = -1;

		v[i].address = names[i];
		v[i].pci = sysfs_pci_header(b->sysfs, names[i], &header) >= 0;
		v[i].header = v[i].pci ? (enum pci_header)header : _PCI_HEADER_INVALID;
		if (v[i].pci && sysfs_pci_driver(b->sysfs, names[i], (char **)&v[i].driver) < 0)
			v[i].driver = NULL;
	}
	viable = viability_check(v, n, b->dma_ownership, ret_why);
	for (size_t i = 0; i < n; i++)
		free((char *)v[i].driver);
	if (viable)
		return 0;
	r = -EBUSY;
	if (*ret_why) {
		char *w = why(&r, "IOMMU group %" PRIi64 " is not viable: %s", group, *ret_why);

		free(*ret_why);
		*ret_why = w;
	}
	return r;
}

/*
 * Puts one function back to a driver and override, by the steps plan_move_steps() makes from
 * what sysfs shows now: used by rollback and by the undo of a transaction found in flight.
 */
static int restore_member(struct binder *b, const char *address, const char *driver,
			  const char *override, char **ret_why)
{
	_cleanup_free_ char *cur = NULL, *cur_override = NULL;
	struct plan_step *steps = NULL;
	size_t n = 0;
	int r;

	r = sysfs_pci_driver(b->sysfs, address, &cur);
	if (r == -ENODEV)
		return 0;	/* gone: nothing to put back */
	if (r >= 0)
		r = sysfs_pci_override(b->sysfs, address, &cur_override);
	if (r >= 0)
		r = plan_move_steps(&(struct plan_move){
			.address = address, .driver = cur, .override = cur_override,
			.to_driver = driver, .to_override = override, .load_module = true,
		}, &steps, &n);
	for (size_t i = 0; i < n && r >= 0; i++) {
		r = step_run(b, &steps[i], address);
		if (r < 0 && steps[i].op == PLAN_STEP_LOAD_MODULE)
			r = 0;	/* the probe tells whether it came back */
	}
	plan_steps_free(steps, n);
	if (r >= 0 && driver) {
		free(cur);
		cur = NULL;
		r = sysfs_pci_driver(b->sysfs, address, &cur);
		if (r >= 0 && !streq(cur, driver))
			r = -EIO;
	}
	if (r < 0)
		*ret_why = why(&r, "%s could not be put back on %s: %s", address, driver ?: "no driver",
			       strerror(-r));
	return r;
}

/* Puts back, in reverse order, the members that moved (all of them: an undo). */
static void rollback(struct binder *b, struct txn *t, bool all)
{
	for (size_t i = t->n_members; i-- > 0;) {
		struct txn_member *m = &t->members[i];
		char *w = NULL;

		if (!m->moved && !all)
			continue;
		if (all)
			send_msg(b, MSG_STEP_START, i, 0);
		if (restore_member(b, m->address, m->bound_meanwhile ?: m->from_driver,
				   m->from_override, &w) < 0 &&
		    !t->rollback_error)
			t->rollback_error = w;
		else
			free(w);
		if (all)
			send_msg(b, MSG_STEP_DONE, i, 0);
	}
}

/* Whether member m still has the driver and override it was planned from. */
static int check_planned(struct binder *b, const struct txn_member *m, char **ret_why)
{
	_cleanup_free_ char *drv = NULL, *ovr = NULL;
	int r;

	r = sysfs_pci_driver(b->sysfs, m->address, &drv);
	if (r >= 0)
		r = sysfs_pci_override(b->sysfs, m->address, &ovr);
	if (r < 0) {
		*ret_why = why(&r, "%s cannot be read: %s", m->address, strerror(-r));
		return r;
	}
	if (streq(drv, m->from_driver) && streq(ovr, m->from_override))
		return 0;
	/* Unbound with its override already set to the target (the udev rule did that at boot):
	 * loading the target's module for an earlier member bound it to its override at once.
	 * That is where this transaction takes it; its own steps change nothing. */
	if (!m->release && m->target && !m->from_driver && streq(m->from_override, m->target) &&
	    streq(drv, m->target) && streq(ovr, m->target))
		return 0;
	r = -ESTALE;
	*ret_why = why(&r, "%s changed since it was planned (now %s, override %s)", m->address,
		       drv ?: "unbound", ovr ?: "unset");
	return r;
}

static void fail(struct txn *t, size_t step, int error, char *what, char *message)
{
	t->error = error;
	t->error_member = step < t->n_steps ? strdup(t->members[t->step_member[step]].address) : NULL;
	t->error_step = what;
	t->error_message = message;
}

static void fail_step(struct txn *t, size_t step, int error)
{
	char *what = NULL;

	(void)plan_step_describe(&t->steps[step], &what);
	fail(t, step, error, what, NULL);
}

static int journal_write(struct binder *b, const struct claim *claims, size_t n_claims,
			 const struct txn *t, size_t step, char **ret_why);
static int claims_apply(const struct claim *claims, size_t n, const struct txn *t,
			struct claim **ret, size_t *ret_n);

static void *worker(void *userdata)
{
	struct binder *b = userdata;
	struct txn *t = b->running;
	bool journaled = false;	/* the journal on disk holds t in flight */
	char *w = NULL;
	int r = 0;

	if (t->kind == TXN_UNDO) {
		/* Found in flight at start: every member goes back to what it had. */
		rollback(b, t, true);
		r = t->rollback_error ? -EIO : 0;
		if (journal_write(b, b->claims, b->n_claims, NULL, 0, &w) < 0 && !t->rollback_error)
			t->rollback_error = why(&r, "%s failed: the next start undoes it again", w);
		free(w);
		send_msg(b, MSG_END, 0, t->rollback_error ? -EIO : r);
		return NULL;
	}

	for (size_t i = 0; i < t->n_steps && r >= 0; i++) {
		size_t mi = t->step_member[i];

		/* Before the step: a crash now can be undone. A journal that cannot be written
		 * is a failed step: the step is not taken. */
		r = journal_write(b, b->claims, b->n_claims, t, i, &w);
		if (r < 0) {
			fail(t, i, r, TAKE_PTR(w), NULL);
			break;
		}
		journaled = true;
		/* A member's first step: it must be as planned (a host driver may have bound a
		 * hotplugged function since), or its planned steps are not the right ones. */
		if (i == 0 || t->step_member[i - 1] != mi) {
			r = check_planned(b, &t->members[mi], &w);
			if (r < 0) {
				fail(t, i, r, strdup("check"), TAKE_PTR(w));
				break;
			}
		}
		send_msg(b, MSG_STEP_START, i, 0);
		r = step_run(b, &t->steps[i], t->members[mi].address);
		send_msg(b, MSG_STEP_DONE, i, r);
		if (r < 0) {
			if (t->steps[i].op == PLAN_STEP_WRITE)
				t->members[mi].moved = true;	/* it may have half happened */
			fail_step(t, i, r);
			break;
		}
		if (t->steps[i].op != PLAN_STEP_LOAD_MODULE)
			t->members[mi].moved = true;
		/* The member's last step: verify it. */
		if (i + 1 == t->n_steps || t->step_member[i + 1] != mi) {
			r = verify_member(b, &t->members[mi], &w);
			if (r < 0)
				fail(t, i, r, strdup("verify"), TAKE_PTR(w));
		}
	}
	if (r >= 0 && t->require_viable && t->group >= 0) {
		r = verify_group_viable(b, t->group, &w);
		if (r < 0)
			fail(t, t->n_steps, r, strdup("verify group"), TAKE_PTR(w));
	}
	/* Commit: the claims as they are now, nothing in flight. */
	if (r >= 0)
		r = claims_apply(b->claims, b->n_claims, t, &t->claims_after, &t->n_claims_after);
	if (r >= 0) {
		r = journal_write(b, t->claims_after, t->n_claims_after, NULL, 0, &w);
		if (r < 0)
			fail(t, t->n_steps, r, TAKE_PTR(w), NULL);
	}
	if (r < 0) {
		rollback(b, t, false);
		/* Put back, so is the journal; if it cannot be written, the next start undoes
		 * the transaction it still holds, which is what was just done. */
		if (journaled && journal_write(b, b->claims, b->n_claims, NULL, 0, &w) < 0 &&
		    !t->rollback_error)
			t->rollback_error = why(&r, "the group was put back, but %s failed: the "
						"next start puts it back again", w);
		free(w);
	}
	send_msg(b, MSG_END, 0, r);
	return NULL;
}

/* --- the claims and the journal ------------------------------------------------------------ */

static void claim_done(struct claim *c)
{
	free(c->address);
	free(c->driver);
	free(c->original_driver);
	free(c->original_override);
	free(c->rule);
	free(c->pool);
}

static void claims_free(struct claim *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		claim_done(&c[i]);
	free(c);
}

static void claims_remove(struct claim *a, size_t *n, const char *address)
{
	for (size_t i = 0; i < *n; i++) {
		if (!streq(a[i].address, address))
			continue;
		claim_done(&a[i]);
		memmove(&a[i], &a[i + 1], (*n - i - 1) * sizeof(*a));
		(*n)--;
		return;
	}
}

/* Adds (or replaces) a claim; c's strings may belong to the claim it replaces. */
static int claims_add(struct claim **a, size_t *n, const struct claim *c)
{
	struct claim *p, rec;
	bool oom = false;

	rec = (struct claim){
		.address = strdup_or_null(c->address, &oom),
		.driver = strdup_or_null(c->driver, &oom),
		.original_driver = strdup_or_null(c->original_driver, &oom),
		.original_override = strdup_or_null(c->original_override, &oom),
		.group = c->group,
		.rule = strdup_or_null(c->rule, &oom),
		.pool = strdup_or_null(c->pool, &oom),
		.since_usec = c->since_usec,
	};
	p = oom ? NULL : reallocarray_safe(*a, *n + 1, sizeof(**a));
	if (!p) {
		claim_done(&rec);
		return -ENOMEM;
	}
	*a = p;
	claims_remove(p, n, rec.address);
	p[(*n)++] = rec;
	return 0;
}

static const struct claim *claims_find(const struct claim *a, size_t n, const char *address)
{
	for (size_t i = 0; i < n; i++)
		if (streq(a[i].address, address))
			return &a[i];
	return NULL;
}

/* The claims after t: a release ends a member's claim, a bind records (or keeps) where it came
 * from — re-claiming keeps the first record. */
static int claims_apply(const struct claim *claims, size_t n, const struct txn *t,
			struct claim **ret, size_t *ret_n)
{
	struct claim *a = NULL;
	size_t k = 0;
	uint64_t now = (uint64_t)time(NULL) * 1000000U;
	int r = 0;

	for (size_t i = 0; i < n && r >= 0; i++)
		r = claims_add(&a, &k, &claims[i]);
	for (size_t i = 0; i < t->n_members && r >= 0; i++) {
		const struct txn_member *m = &t->members[i];
		const struct claim *old = claims_find(claims, n, m->address);

		if (m->release) {
			claims_remove(a, &k, m->address);
			continue;
		}
		r = claims_add(&a, &k, &(struct claim){
			.address = m->address, .driver = m->target,
			.original_driver = old ? old->original_driver : m->from_driver,
			.original_override = old ? old->original_override : m->from_override,
			.group = m->group, .rule = m->rule, .pool = m->pool, .since_usec = now,
		});
	}
	if (r < 0) {
		claims_free(a, k);
		return r;
	}
	*ret = a;
	*ret_n = k;
	return 0;
}

const struct claim *binder_find_claim(const struct binder *b, const char *address)
{
	return claims_find(b->claims, b->n_claims, address);
}

size_t binder_n_claims(const struct binder *b)
{
	return b->n_claims;
}

const struct claim *binder_claim(const struct binder *b, size_t i)
{
	return i < b->n_claims ? &b->claims[i] : NULL;
}

const struct claim *binder_claims(const struct binder *b, size_t *ret_n)
{
	*ret_n = b->n_claims;
	return b->claims;
}

int claim_to_json(const struct claim *c, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	int r;

	if (!o)
		return -ENOMEM;
	r = json_add_str(o, "address", c->address);
	if (r >= 0)
		r = json_add_str(o, "driver", c->driver);
	if (r >= 0)
		r = json_add_str(o, "original_driver", c->original_driver);
	if (r >= 0)
		r = json_add_str(o, "original_override", c->original_override);
	if (r >= 0)
		r = c->group >= 0 ? json_add_int(o, "iommu_group", c->group)
				  : json_add_null(o, "iommu_group");
	if (r >= 0)
		r = json_add_str(o, "rule", c->rule);
	if (r >= 0)
		r = json_add_str(o, "pool", c->pool);
	if (r >= 0)
		r = json_add_int(o, "since_usec", (int64_t)c->since_usec);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

static int members_to_json(const struct txn *t, json_object **ret)
{
	_cleanup_json_ json_object *a = json_object_new_array();

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_members; i++) {
		const struct txn_member *m = &t->members[i];
		json_object *o = json_object_new_object();
		int r;

		if (!o || json_object_array_add(a, o) < 0) {
			(void)json_object_put(o);
			return -ENOMEM;
		}
		r = json_add_str(o, "address", m->address);
		if (r >= 0)
			r = json_add_str(o, "from_driver", m->from_driver);
		if (r >= 0)
			r = json_add_str(o, "from_override", m->from_override);
		if (r >= 0)
			r = json_add_str(o, "target", m->target);
		if (r >= 0)
			r = json_add_bool(o, "release", m->release);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(a);
	return 0;
}

static int journal_json(const struct claim *claims, size_t n_claims, const struct txn *t,
			size_t step, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object(), *a = json_object_new_array();
	int r;

	if (!o || !a)
		return -ENOMEM;
	for (size_t i = 0; i < n_claims; i++) {
		json_object *c = NULL;

		r = claim_to_json(&claims[i], &c);
		if (r < 0)
			return r;
		if (json_object_array_add(a, c) < 0) {
			(void)json_object_put(c);
			return -ENOMEM;
		}
	}
	r = json_add(o, "claims", TAKE_PTR(a));
	if (r >= 0 && t) {
		json_object *inflight = json_object_new_object(), *members = NULL;

		r = json_add(o, "inflight", inflight);
		if (r >= 0)
			r = json_add_str(inflight, "kind", txn_kind_to_string(t->kind));
		if (r >= 0)
			r = json_add_int(inflight, "iommu_group", t->group);
		if (r >= 0)
			r = json_add_int(inflight, "step", (int64_t)step);
		if (r >= 0)
			r = members_to_json(t, &members);
		if (r >= 0)
			r = json_add(inflight, "members", TAKE_PTR(members));
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

/*
 * Writes claims (and t, in flight at step, unless NULL) atomically: tmp, fsync, rename. On
 * failure *ret_why names the step that failed, "write journal PATH".
 */
static int journal_write(struct binder *b, const struct claim *claims, size_t n_claims,
			 const struct txn *t, size_t step, char **ret_why)
{
	_cleanup_json_ json_object *o = NULL;
	_cleanup_free_ char *path = NULL;
	const char *text;
	int r;

	*ret_why = NULL;
	if (asprintf(&path, "%s/" JOURNAL, b->state_dir) < 0)
		return -ENOMEM;
	r = journal_json(claims, n_claims, t, step, &o);
	text = r >= 0 ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
	if (!text)
		r = -ENOMEM;
	if (r >= 0)
		r = write_file_atomic(path, text, strlen(text), 0600, false);
	if (r < 0 && asprintf(ret_why, "write journal %s", path) < 0)
		*ret_why = NULL;
	return r;
}

static const char *json_str(json_object *o, const char *key)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		? json_object_get_string(v) : NULL;
}

static int64_t json_int(json_object *o, const char *key, int64_t def)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int)
		? json_object_get_int64(v) : def;
}

int binder_load(struct binder *b, struct txn **ret_undo)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_object *o = NULL;
	_cleanup_(txn_freep) struct txn *undo = NULL;
	json_object *claims = NULL, *inflight = NULL, *members = NULL;
	int r;

	*ret_undo = NULL;
	if (asprintf(&path, "%s/" JOURNAL, b->state_dir) < 0)
		return -ENOMEM;
	if (!path_exists(path))
		return errno == ENOENT ? 0 : -errno;
	o = json_object_from_file(path);
	if (!o || !json_object_is_type(o, json_type_object)) {
		_cleanup_free_ char *aside = NULL;

		log_error("Journal '%s' is unreadable; keeping it aside and starting without claims",
			  path);
		if (asprintf(&aside, "%s.broken", path) >= 0)
			(void)rename(path, aside);
		return 0;
	}
	if (json_object_object_get_ex(o, "claims", &claims))
		for (size_t i = 0; i < json_object_array_length(claims); i++) {
			json_object *c = json_object_array_get_idx(claims, i);
			struct claim rec = {
				.address = (char *)json_str(c, "address"),
				.driver = (char *)json_str(c, "driver"),
				.original_driver = (char *)json_str(c, "original_driver"),
				.original_override = (char *)json_str(c, "original_override"),
				.group = json_int(c, "iommu_group", -1),
				.rule = (char *)json_str(c, "rule"),
				.pool = (char *)json_str(c, "pool"),
				.since_usec = (uint64_t)json_int(c, "since_usec", 0),
			};

			if (!rec.address || !pci_addr_is_valid(rec.address) || !rec.driver)
				continue;
			r = claims_add(&b->claims, &b->n_claims, &rec);
			if (r < 0)
				return r;
		}
	if (!json_object_object_get_ex(o, "inflight", &inflight) ||
	    !json_object_object_get_ex(inflight, "members", &members))
		return 0;

	/* A transaction was running when the daemon stopped: put its members back. */
	undo = new0(struct txn, 1);
	if (!undo)
		return -ENOMEM;
	undo->kind = TXN_UNDO;
	undo->group = json_int(inflight, "iommu_group", -1);
	undo->members = new0(struct txn_member, json_object_array_length(members) + 1);
	if (!undo->members)
		return -ENOMEM;
	for (size_t i = 0; i < json_object_array_length(members); i++) {
		json_object *m = json_object_array_get_idx(members, i);
		struct txn_member *tm;
		bool oom = false;

		if (!json_str(m, "address") || !pci_addr_is_valid(json_str(m, "address")))
			continue;
		tm = &undo->members[undo->n_members++];
		tm->address = strdup_or_null(json_str(m, "address"), &oom);
		tm->from_driver = strdup_or_null(json_str(m, "from_driver"), &oom);
		tm->from_override = strdup_or_null(json_str(m, "from_override"), &oom);
		tm->target = strdup_or_null(json_str(m, "target"), &oom);
		tm->group = undo->group;
		if (oom)
			return -ENOMEM;
	}
	log_warning("A %s of IOMMU group %" PRIi64 " was in flight when pcipassd stopped (step %" PRIi64
		    "): putting its %zu functions back", json_str(inflight, "kind") ?: "transaction",
		    undo->group, json_int(inflight, "step", -1), undo->n_members);
	*ret_undo = TAKE_PTR(undo);
	return 0;
}

int binder_adopt(struct binder *b, const struct model *m)
{
	_cleanup_free_ char *w = NULL;
	int r;

	/* The worker reads the claims: they change only while it is not running. */
	if (b->running)
		return -EBUSY;
	for (size_t i = 0; i < b->n_claims;) {
		const struct claim *c = &b->claims[i];
		const struct pcidev *d = model_find(m, c->address);

		if (d && !streq(d->driver, c->driver)) {
			log_notice("%s was claimed for %s but is now %s%s: forgetting the claim",
				   c->address, c->driver, d->driver ? "on " : "unbound",
				   d->driver ?: "");
			claims_remove(b->claims, &b->n_claims, c->address);
			continue;
		}
		i++;
	}
	r = journal_write(b, b->claims, b->n_claims, NULL, 0, &w);
	if (r < 0)
		log_error_errno(r, "Failed to %s: %m", w ?: "write the journal");
	return r;
}

/* --- the event loop side -------------------------------------------------------------------- */

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct binder *b = userdata;
	struct txn *t = b->running;
	_cleanup_free_ char *what = NULL;

	if (!t)
		return 0;
	t->stuck = true;
	if (t->kind == TXN_UNDO || t->step >= t->n_steps ||
	    plan_step_describe(&t->steps[t->step], &what) < 0)
		log_warning("IOMMU group %" PRIi64 ": %s is stuck", t->group, txn_kind_to_string(t->kind));
	else
		log_warning("IOMMU group %" PRIi64 ": %s of %s is stuck in '%s' for more than %" PRIu64
			    " s; still serving, the step goes on in the background", t->group,
			    txn_kind_to_string(t->kind), t->members[t->step_member[t->step]].address,
			    what, b->config.step_timeout_usec / 1000000);
	if (b->config.progress)
		b->config.progress(t, "stuck", b->config.userdata);
	return 0;
}

static void txn_finish(struct binder *b, struct txn *t, int result)
{
	t->state = result < 0 ? TXN_FAILED : TXN_DONE;
	if (t->state == TXN_DONE && t->kind != TXN_UNDO) {
		/* Committed to the journal by the worker: now in memory too. */
		claims_free(b->claims, b->n_claims);
		b->claims = TAKE_PTR(t->claims_after);
		b->n_claims = t->n_claims_after;
		t->n_claims_after = 0;
	}
	/* A claim's or release's record is the manager's (with its caller): here only debug. */
	if (t->state == TXN_FAILED && t->kind != TXN_UNDO)
		log_debug("IOMMU group %" PRIi64 ": %s failed at %s%s%s: %s; %s", t->group,
			  txn_kind_to_string(t->kind), t->error_member ?: "", t->error_member ? ", " : "",
			  t->error_step ?: "?", t->error_message ?: strerror(-t->error),
			  t->rollback_error ?: "the group was put back as it was");
	else if (t->state == TXN_FAILED)
		log_error("Undo of the interrupted transaction failed: %s", t->rollback_error);
	else
		for (size_t i = 0; i < t->n_members; i++)
			log_full(t->kind == TXN_UNDO ? LOG_NOTICE : LOG_DEBUG,
				 "IOMMU group %" PRIi64 ": %s %s %s → %s", t->group,
				 t->kind == TXN_UNDO ? "undid" : t->members[i].release ? "released" : "claimed",
				 t->members[i].address, t->members[i].from_driver ?: "(none)",
				 t->members[i].target ?: "(the kernel's choice)");
	if (b->config.progress)
		b->config.progress(t, txn_state_to_string(t->state), b->config.userdata);
	if (t->done)
		t->done(t, t->userdata);
	txn_free(t);
}

static int on_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct binder *b = userdata;
	struct msg m;

	while (read(fd, &m, sizeof(m)) == (ssize_t)sizeof(m)) {
		struct txn *t = b->running;

		if (m.type == MSG_TASK_END && b->task.running) {
			(void)pthread_join(b->thread, NULL);
			b->task.running = false;
			b->task.done(m.result, b->task.userdata);
			continue;
		}
		if (!t)
			continue;
		switch (m.type) {
		case MSG_STEP_START:
			t->step = m.step;
			t->step_started_usec = now_usec();
			(void)sd_event_source_set_time(b->deadline_src,
						       t->step_started_usec + b->config.step_timeout_usec);
			(void)sd_event_source_set_enabled(b->deadline_src, SD_EVENT_ONESHOT);
			if (b->config.progress)
				b->config.progress(t, "step", b->config.userdata);
			break;
		case MSG_STEP_DONE:
			(void)sd_event_source_set_enabled(b->deadline_src, SD_EVENT_OFF);
			if (t->stuck)
				log_notice("IOMMU group %" PRIi64 ": the stuck step ended after %" PRIu64
					   " ms (%s)", t->group,
					   (now_usec() - t->step_started_usec) / 1000,
					   m.result < 0 ? strerror(-m.result) : "done");
			t->stuck = false;
			break;
		case MSG_END:
			(void)pthread_join(b->thread, NULL);
			b->running = NULL;
			txn_finish(b, t, m.result);
			break;
		case MSG_TASK_END:
			break;
		}
	}
	return 0;
}

static void *task_worker(void *userdata)
{
	struct binder *b = userdata;

	send_msg(b, MSG_TASK_END, 0, b->task.fn(b->sysfs, b->task.userdata));
	return NULL;
}

int binder_run_task(struct binder *b, binder_task_fn fn, void (*done)(int r, void *userdata),
		    void *userdata)
{
	int r;

	if (binder_busy(b))
		return -EBUSY;
	b->task.fn = fn;
	b->task.done = done;
	b->task.userdata = userdata;
	b->task.running = true;
	r = pthread_create(&b->thread, NULL, task_worker, b);
	if (r != 0) {
		b->task.running = false;
		return -r;
	}
	return 0;
}

int binder_run(struct binder *b, struct txn *t)
{
	int r;

	if (binder_busy(b))
		return -EBUSY;
	t->id = ++b->next_id;
	t->state = TXN_RUNNING;
	b->running = t;
	r = pthread_create(&b->thread, NULL, worker, b);
	if (r != 0) {
		b->running = NULL;
		t->error = -r;
		t->error_step = strdup("start worker thread");
		txn_finish(b, t, -r);
	}
	return 0;
}

bool binder_busy(const struct binder *b)
{
	return b->running || b->task.running;
}

const struct txn *binder_running(const struct binder *b)
{
	return b->running;
}

int binder_new(sd_event *event, const struct binder_config *config, struct binder **ret)
{
	struct binder *b = new0(struct binder, 1);
	int r;

	if (!b)
		return -ENOMEM;
	b->event = sd_event_ref(event);
	b->config = *config;
	b->sysfs = config->sysfs;
	b->pipe[0] = b->pipe[1] = -EBADF;
	b->dma_ownership = config->dma_ownership;
	b->dev_root = strdup(config->dev_root);
	b->state_dir = strdup(config->state_dir);
	if (!b->dev_root || !b->state_dir) {
		binder_free(b);
		return -ENOMEM;
	}
	if (pipe2(b->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		binder_free(b);
		return r;
	}
	r = sd_event_add_io(event, &b->pipe_src, b->pipe[0], EPOLLIN, on_pipe, b);
	if (r >= 0)
		r = sd_event_add_time(event, &b->deadline_src, CLOCK_MONOTONIC, UINT64_MAX, 0,
				      on_deadline, b);
	if (r >= 0)
		r = sd_event_source_set_enabled(b->deadline_src, SD_EVENT_OFF);
	if (r < 0) {
		binder_free(b);
		return r;
	}
	*ret = b;
	return 0;
}

struct binder *binder_free(struct binder *b)
{
	if (!b)
		return NULL;
	if (b->running) {
		/* A step may be stuck in the kernel: do not wait for it, and leave the worker
		 * everything it uses. The journal lets the next start undo the transaction. */
		log_warning("Exiting with a %s of IOMMU group %" PRIi64 " in flight; the next start "
			    "undoes it", txn_kind_to_string(b->running->kind), b->running->group);
		(void)pthread_detach(b->thread);
		return b;
	}
	if (b->task.running) {
		log_warning("Exiting with a task still running on the worker");
		(void)pthread_detach(b->thread);
		return b;
	}
	claims_free(b->claims, b->n_claims);
	sd_event_source_disable_unref(b->pipe_src);
	sd_event_source_disable_unref(b->deadline_src);
	safe_close(b->pipe[0]);
	safe_close(b->pipe[1]);
	free(b->dev_root);
	free(b->state_dir);
	sd_event_unref(b->event);
	free(b);
	return NULL;
}

/* --- JSON --------------------------------------------------------------------------------- */

int txn_to_json(const struct txn *t, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object(), *members = NULL;
	const struct plan_step *s = t->step < t->n_steps ? &t->steps[t->step] : NULL;
	int r;

	if (!o)
		return -ENOMEM;
	r = json_add_int(o, "id", (int64_t)t->id);
	if (r >= 0)
		r = json_add_str(o, "kind", txn_kind_to_string(t->kind));
	if (r >= 0)
		r = json_add_str(o, "state", txn_state_to_string(t->state));
	if (r >= 0)
		r = t->group >= 0 ? json_add_int(o, "iommu_group", t->group)
				  : json_add_null(o, "iommu_group");
	if (r >= 0)
		r = members_to_json(t, &members);
	if (r >= 0)
		r = json_add(o, "members", TAKE_PTR(members));
	if (r >= 0 && t->state == TXN_RUNNING && s) {
		_cleanup_free_ char *text = NULL;

		r = plan_step_describe(s, &text);
		if (r >= 0)
			r = json_add_str(o, "step", text);
		if (r >= 0)
			r = json_add_bool(o, "stuck", t->stuck);
	}
	if (r >= 0 && t->state == TXN_FAILED) {
		r = json_add_str(o, "error_member", t->error_member);
		if (r >= 0)
			r = json_add_str(o, "error_step", t->error_step);
		if (r >= 0)
			r = json_add_int(o, "errno", -t->error);
		if (r >= 0)
			r = json_add_str(o, "errno_name", t->error ? strerrorname_np(-t->error) : NULL);
		if (r >= 0)
			r = json_add_str(o, "message", t->error_message ?: strerror(-t->error));
		if (r >= 0)
			r = json_add_str(o, "rollback_error", t->rollback_error);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}
