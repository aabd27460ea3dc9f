/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libkmod.h>

#include "binder.h"
#include "lib/json-util.h"
#include "lib/log.h"
#include "sysfs.h"

#define JOURNAL "claims.json"

/* What the worker tells the event loop, through a pipe (each message < PIPE_BUF: atomic). */
enum msg_type { MSG_STEP_START, MSG_STEP_DONE, MSG_END };
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

	struct txn *queue, *running;
	pthread_t thread;
	int pipe[2];
	sd_event_source *pipe_src, *deadline_src;
	bool dma_ownership;
};

static const char *const kind_names[] = {
	[TXN_CLAIM] = "claim", [TXN_RELEASE] = "release", [TXN_UNDO] = "undo",
};
static const char *const state_names[] = {
	[TXN_QUEUED] = "queued", [TXN_RUNNING] = "running", [TXN_DONE] = "done",
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
	free(m->from_override);
	free(m->target);
	free(m->rule);
	free(m->pool);
}

struct txn *txn_free(struct txn *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n_members; i++)
		member_done(&t->members[i]);
	free(t->members);
	for (size_t i = 0; i < t->n_steps; i++) {
		free(t->steps[i].path);
		free(t->steps[i].value);
	}
	free(t->steps);
	free(t->step_member);
	free(t->error_member);
	free(t->error_step);
	free(t->error_message);
	free(t->rollback_error);
	free(t);
	return NULL;
}

static int txn_add_step(struct txn *t, size_t member, enum plan_step_op op, const char *path,
			const char *value)
{
	struct plan_step *s = reallocarray_safe(t->steps, t->n_steps + 1, sizeof(*s));
	size_t *sm;

	if (!s)
		return -ENOMEM;
	t->steps = s;
	sm = reallocarray_safe(t->step_member, t->n_steps + 1, sizeof(*sm));
	if (!sm)
		return -ENOMEM;
	t->step_member = sm;
	s[t->n_steps] = (struct plan_step){
		.op = op, .path = path ? strdup(path) : NULL, .value = strdup(value),
	};
	sm[t->n_steps] = member;
	if ((path && !s[t->n_steps].path) || !s[t->n_steps].value) {
		free(s[t->n_steps].path);
		free(s[t->n_steps].value);
		return -ENOMEM;
	}
	t->n_steps++;
	return 0;
}

static int txn_add_write(struct txn *t, size_t member, const char *a, const char *b,
			 const char *c, const char *value)
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, "%s/%s/%s", a, b, c) < 0)
		return -ENOMEM;
	return txn_add_step(t, member, PLAN_STEP_WRITE, path, value);
}

/*
 * The writes that move member i from what it has now (from_*) to its target: the override
 * first (so that nothing else can take it once it is unbound), then unbind, then a probe.
 */
static int txn_member_steps(struct txn *t, size_t i, const char *override)
{
	struct txn_member *m = &t->members[i];
	int r = 0;

	if (!streq(m->from_override, override))
		r = txn_add_write(t, i, "bus/pci/devices", m->address, "driver_override",
				  override ?: "\n");
	if (r >= 0)
		r = txn_add_step(t, i, PLAN_STEP_UNBIND, NULL, m->address);
	if (r >= 0)
		r = txn_add_step(t, i, PLAN_STEP_WRITE, "bus/pci/drivers_probe", m->address);
	return r;
}

int txn_new_from_plan(const struct binder *b, const struct plan_group *g, enum txn_kind kind,
		      struct txn **ret)
{
	_cleanup_(txn_freep) struct txn *t = new0(struct txn, 1);
	bool oom = false;
	int r = 0;

	if (!t)
		return -ENOMEM;
	t->kind = kind;
	t->group = g->id;
	t->members = new0(struct txn_member, g->n_members);
	if (!t->members)
		return -ENOMEM;
	for (size_t i = 0; i < g->n_members; i++) {
		const struct plan_member *pm = &g->members[i];
		const struct claim *c = binder_find_claim(b, pm->address);
		struct txn_member *m;

		if (!pm->dev || pm->action != (kind == TXN_CLAIM ? PLAN_BIND : PLAN_RELEASE))
			continue;
		m = &t->members[t->n_members++];
		m->address = strdup_or_null(pm->address, &oom);
		m->from_driver = strdup_or_null(pm->dev->driver, &oom);
		m->from_override = strdup_or_null(pm->dev->driver_override, &oom);
		m->group = g->id;
		m->rule = pm->rule ? strdup_or_null(pm->rule->name, &oom) : NULL;
		m->pool = pm->rule ? strdup_or_null(pm->rule->pool, &oom) : NULL;
		/* A release returns to what the claim recorded; without a record, to whatever
		 * the kernel picks. */
		m->target = strdup_or_null(kind == TXN_CLAIM ? pm->target :
					   c ? c->original_driver : NULL, &oom);
		if (kind == TXN_CLAIM && driver_is_vfio(pm->target) && pm->rule &&
		    pm->rule->group != POLICY_GROUP_ANY)
			t->require_viable = true;
	}
	if (oom)
		return -ENOMEM;
	if (t->n_members == 0)
		return -ENODATA;

	/* The module first (once), then each member in address order. */
	for (size_t i = 0; i < t->n_members && r >= 0; i++) {
		struct txn_member *m = &t->members[i];
		const struct claim *c = binder_find_claim(b, m->address);
		bool loaded = false;

		if (kind == TXN_CLAIM) {
			for (size_t j = 0; j < i; j++)
				loaded = loaded || streq(t->members[j].target, m->target);
			if (!loaded)
				r = txn_add_step(t, i, PLAN_STEP_LOAD_MODULE, NULL, m->target);
			if (r >= 0)
				r = txn_member_steps(t, i, m->target);
		} else {
			/* The driver it goes back to may have been unloaded meanwhile. */
			for (size_t j = 0; j < i; j++)
				loaded = loaded || streq(t->members[j].target, m->target);
			if (m->target && !loaded)
				r = txn_add_step(t, i, PLAN_STEP_LOAD_MODULE, NULL, m->target);
			if (r >= 0)
				r = txn_member_steps(t, i, c ? c->original_override : NULL);
		}
	}
	if (r < 0)
		return r;
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

static int read_driver(struct binder *b, const char *address, char **ret)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r;

	if (asprintf(&dir, "bus/pci/devices/%s", address) < 0)
		return -ENOMEM;
	fd = sysfs_open_dir(b->sysfs, dir);
	if (fd < 0)
		return fd;
	r = sysfs_readlink_name_at(fd, "driver", ret);
	if (r == -ENOENT) {
		*ret = NULL;
		return 0;
	}
	return r;
}

static int read_override(struct binder *b, const char *address, char **ret)
{
	_cleanup_free_ char *path = NULL, *v = NULL;
	int r;

	if (asprintf(&path, "bus/pci/devices/%s/driver_override", address) < 0)
		return -ENOMEM;
	r = sysfs_read(b->sysfs, path, &v);
	if (r < 0)
		return r;
	*ret = streq(v, "(null)") || isempty(v) ? NULL : TAKE_PTR(v);
	return 0;
}

static bool driver_registered(struct binder *b, const char *driver)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;

	if (asprintf(&path, "bus/pci/drivers/%s", driver) < 0)
		return false;
	fd = sysfs_open_dir(b->sysfs, path);
	return fd >= 0;
}

/* Loads a driver's module with libkmod — only on the real /sys: a synthetic tree's drivers
 * are what its bus/pci/drivers shows. */
static int load_module(struct binder *b, const char *name_or_alias)
{
	struct kmod_list *list = NULL, *it;
	int r = -ENOENT;

	if (!b->config.real_sysfs || !b->config.kmod)
		return -ENOENT;
	if (kmod_module_new_from_lookup(b->config.kmod, name_or_alias, &list) < 0 || !list)
		return -ENOENT;
	kmod_list_foreach(it, list) {
		struct kmod_module *mod = kmod_module_get_module(it);

		r = kmod_module_probe_insert_module(mod, KMOD_PROBE_IGNORE_LOADED, NULL, NULL,
						    NULL, NULL);
		kmod_module_unref(mod);
		if (r >= 0)
			break;
	}
	kmod_module_unref_list(list);
	return r < 0 ? r : 0;
}

/* The module for a function whose driver is not loaded: by its name, else by its modalias. */
static int load_module_for(struct binder *b, const char *driver, const char *address)
{
	_cleanup_free_ char *path = NULL, *alias = NULL;

	if (load_module(b, driver) >= 0)
		return 0;
	if (asprintf(&path, "bus/pci/devices/%s/modalias", address) < 0)
		return -ENOMEM;
	if (sysfs_read(b->sysfs, path, &alias) < 0)
		return -ENOENT;
	return load_module(b, alias);
}

static int step_run(struct binder *b, const struct plan_step *s, const char *address)
{
	_cleanup_free_ char *drv = NULL, *path = NULL;
	int r;

	if (s->op == PLAN_STEP_WRITE)
		return sysfs_write(b->sysfs, s->path, s->value);
	if (s->op == PLAN_STEP_UNBIND) {
		r = read_driver(b, s->value, &drv);
		if (r < 0 || !drv)
			return r;
		if (asprintf(&path, "bus/pci/drivers/%s/unbind", drv) < 0)
			return -ENOMEM;
		return sysfs_write(b->sysfs, path, s->value);
	}
	if (driver_registered(b, s->value))
		return 0;
	r = load_module_for(b, s->value, address);
	if (r < 0)
		return r;
	return driver_registered(b, s->value) ? 0 : -ENOENT;
}

/* The node a user of the claimed function opens: /dev/vfio/N (noiommu-N) or /dev/uioK. */
static int verify_node(struct binder *b, const struct txn_member *m)
{
	char path[PATH_MAX];
	_cleanup_strv_free_ char **uio = NULL;
	_cleanup_free_ char *dir = NULL;

	if (driver_is_vfio(m->target)) {
		snprintf(path, sizeof(path), "%s/vfio/%" PRIi64, b->dev_root, m->group);
		if (access(path, F_OK) == 0)
			return 0;
		snprintf(path, sizeof(path), "%s/vfio/noiommu-%" PRIi64, b->dev_root, m->group);
		return access(path, F_OK) == 0 ? 0 : -ENODEV;
	}
	if (streq(m->target, "uio_pci_generic")) {
		if (asprintf(&dir, "bus/pci/devices/%s/uio", m->address) < 0)
			return -ENOMEM;
		if (sysfs_list(b->sysfs, dir, &uio, NULL) < 0 || !uio[0])
			return -ENODEV;
		snprintf(path, sizeof(path), "%s/%s", b->dev_root, uio[0]);
		return access(path, F_OK) == 0 ? 0 : -ENODEV;
	}
	return 0;
}

/* After a member's last step: is it where it should be? The driver link says, not the write. */
static int verify_member(struct binder *b, struct txn *t, const struct txn_member *m, char **why)
{
	_cleanup_free_ char *drv = NULL;
	int r;

	r = read_driver(b, m->address, &drv);
	if (r < 0)
		return asprintf(why, "%s cannot be read back: %s", m->address, strerror(-r)) < 0 ?
			-ENOMEM : r;
	if (t->kind == TXN_CLAIM && !streq(drv, m->target))
		return asprintf(why, "%s is %s%s after the probe, not on %s", m->address,
				drv ? "on " : "", drv ?: "unbound", m->target) < 0 ? -ENOMEM : -EIO;
	if (t->kind == TXN_RELEASE && m->target && !streq(drv, m->target))
		return asprintf(why, "%s is %s%s after the probe, not back on %s", m->address,
				drv ? "on " : "", drv ?: "unbound", m->target) < 0 ? -ENOMEM : -EIO;
	if (t->kind == TXN_CLAIM) {
		r = verify_node(b, m);
		if (r < 0)
			return asprintf(why, "%s is on %s but its device node did not appear",
					m->address, m->target) < 0 ? -ENOMEM : r;
	}
	return 0;
}

/* The kernel's rule, on what sysfs shows now (the binder has no model: it runs off-loop). */
static int verify_group_viable(struct binder *b, int64_t group, char **why)
{
	_cleanup_strv_free_ char **members = NULL;
	char path[64];
	int r;

	snprintf(path, sizeof(path), "kernel/iommu_groups/%" PRIi64 "/devices", group);
	r = sysfs_list(b->sysfs, path, &members, NULL);
	if (r < 0)
		return r;
	for (char **a = members; *a; a++) {
		_cleanup_free_ char *drv = NULL, *cls = NULL, *cpath = NULL;
		uint32_t class = 0;

		if (read_driver(b, *a, &drv) < 0 || !drv || driver_manages_dma(drv))
			continue;
		if (!b->dma_ownership) {
			if (asprintf(&cpath, "bus/pci/devices/%s/class", *a) < 0)
				return -ENOMEM;
			/* Before 5.19 any bridge keeps its group viable. */
			if (sysfs_read(b->sysfs, cpath, &cls) >= 0 &&
			    safe_atou32_base(cls, 16, &class) >= 0 &&
			    ((class >> 8) == 0x0604 || (class >> 8) == 0x0609))
				continue;
		}
		return asprintf(why, "IOMMU group %" PRIi64 " is not viable: %s is bound to %s",
				group, *a, drv) < 0 ? -ENOMEM : -EBUSY;
	}
	return 0;
}

/*
 * Puts one function back to a driver and override: used by rollback and by the undo of a
 * transaction found in flight. Reads what it has now, writes only what differs.
 */
static int restore_member(struct binder *b, const char *address, const char *driver,
			  const char *override, char **why)
{
	_cleanup_free_ char *cur = NULL, *cur_override = NULL, *path = NULL;
	int r;

	r = read_driver(b, address, &cur);
	if (r == -ENOENT || r == -ENODEV)
		return 0;	/* gone: nothing to put back */
	if (r >= 0)
		r = read_override(b, address, &cur_override);
	if (r < 0)
		goto fail;
	if (!streq(cur_override, override)) {
		if (asprintf(&path, "bus/pci/devices/%s/driver_override", address) < 0)
			return -ENOMEM;
		r = sysfs_write(b->sysfs, path, override ?: "\n");
		if (r < 0)
			goto fail;
	}
	if (streq(cur, driver))
		return 0;
	if (cur) {
		free(path);
		if (asprintf(&path, "bus/pci/drivers/%s/unbind", cur) < 0)
			return -ENOMEM;
		r = sysfs_write(b->sysfs, path, address);
		if (r < 0)
			goto fail;
	}
	if (driver) {
		if (!driver_registered(b, driver))
			(void)load_module_for(b, driver, address);
		r = sysfs_write(b->sysfs, "bus/pci/drivers_probe", address);
		if (r < 0)
			goto fail;
		free(cur);
		cur = NULL;
		r = read_driver(b, address, &cur);
		if (r >= 0 && !streq(cur, driver))
			r = -EIO;
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	if (asprintf(why, "%s could not be put back on %s: %s", address, driver ?: "no driver",
		     strerror(-r)) < 0)
		*why = NULL;
	return r;
}

static int journal_write(struct binder *b, const struct txn *t, size_t step);

static void rollback(struct binder *b, struct txn *t)
{
	for (size_t i = t->n_members; i-- > 0;) {
		struct txn_member *m = &t->members[i];
		char *why = NULL;

		if (!m->moved)
			continue;
		if (restore_member(b, m->address, m->from_driver, m->from_override, &why) < 0 &&
		    !t->rollback_error)
			t->rollback_error = why;
		else
			free(why);
	}
}

static void fail_step(struct txn *t, size_t step, int error, char *message)
{
	const struct plan_step *s = step < t->n_steps ? &t->steps[step] : NULL;

	t->error = error;
	t->error_member = step < t->n_steps ? strdup(t->members[t->step_member[step]].address) : NULL;
	if (s && asprintf(&t->error_step, "%s %s",
			  s->op == PLAN_STEP_WRITE ? "write" :
			  s->op == PLAN_STEP_UNBIND ? "unbind" : "load module",
			  s->op == PLAN_STEP_WRITE ? s->path : s->value) < 0)
		t->error_step = NULL;
	t->error_message = message;
}

static void *worker(void *userdata)
{
	struct binder *b = userdata;
	struct txn *t = b->running;
	int r = 0;

	if (t->kind == TXN_UNDO) {
		/* Found in flight at start: every member goes back to what it had. */
		for (size_t i = t->n_members; i-- > 0;) {
			struct txn_member *m = &t->members[i];
			char *why = NULL;

			send_msg(b, MSG_STEP_START, i, 0);
			r = restore_member(b, m->address, m->from_driver, m->from_override, &why);
			send_msg(b, MSG_STEP_DONE, i, r);
			if (r < 0 && !t->rollback_error)
				t->rollback_error = why;
			else
				free(why);
		}
		r = t->rollback_error ? -EIO : 0;
		(void)journal_write(b, NULL, 0);
		send_msg(b, MSG_END, 0, r);
		return NULL;
	}

	for (size_t i = 0; i < t->n_steps && r >= 0; i++) {
		size_t mi = t->step_member[i];
		char *why = NULL;

		r = journal_write(b, t, i);	/* before the step: a crash now can be undone */
		if (r < 0) {
			fail_step(t, i, r, NULL);
			break;
		}
		send_msg(b, MSG_STEP_START, i, 0);
		r = step_run(b, &t->steps[i], t->members[mi].address);
		send_msg(b, MSG_STEP_DONE, i, r);
		if (r < 0) {
			if (t->steps[i].op == PLAN_STEP_WRITE)
				t->members[mi].moved = true;	/* it may have half happened */
			fail_step(t, i, r, NULL);
			break;
		}
		if (t->steps[i].op != PLAN_STEP_LOAD_MODULE)
			t->members[mi].moved = true;
		/* The member's last step: verify it. */
		if (i + 1 == t->n_steps || t->step_member[i + 1] != mi) {
			r = verify_member(b, t, &t->members[mi], &why);
			if (r < 0) {
				fail_step(t, i, r, why);
				free(t->error_step);
				t->error_step = strdup("verify");
			}
		}
	}
	if (r >= 0 && t->require_viable && t->group >= 0) {
		char *why = NULL;

		r = verify_group_viable(b, t->group, &why);
		if (r < 0) {
			fail_step(t, t->n_steps, r, why);
			t->error_member = NULL;
			t->error_step = strdup("verify group");
		}
	}
	if (r < 0)
		rollback(b, t);
	send_msg(b, MSG_END, 0, r);
	return NULL;
}

/* --- the journal ------------------------------------------------------------------------------ */

static int opt_str(json_object *o, const char *key, const char *v)
{
	return v ? json_add_str(o, key, v) : json_add_null(o, key);
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
		r = opt_str(o, "original_driver", c->original_driver);
	if (r >= 0)
		r = opt_str(o, "original_override", c->original_override);
	if (r >= 0)
		r = c->group >= 0 ? json_add_int(o, "iommu_group", c->group)
				  : json_add_null(o, "iommu_group");
	if (r >= 0)
		r = opt_str(o, "rule", c->rule);
	if (r >= 0)
		r = opt_str(o, "pool", c->pool);
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
			r = opt_str(o, "from_driver", m->from_driver);
		if (r >= 0)
			r = opt_str(o, "from_override", m->from_override);
		if (r >= 0)
			r = opt_str(o, "target", m->target);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(a);
	return 0;
}

/* Writes claims (and t, in flight at step, unless NULL) atomically: tmp, fsync, rename. */
static int journal_write(struct binder *b, const struct txn *t, size_t step)
{
	_cleanup_json_ json_object *o = json_object_new_object(), *claims = json_object_new_array();
	_cleanup_free_ char *path = NULL, *tmp = NULL;
	_cleanup_close_ int fd = -EBADF, dfd = -EBADF;
	const char *text;
	size_t len;
	int r;

	if (!o || !claims)
		return -ENOMEM;
	for (size_t i = 0; i < b->n_claims; i++) {
		json_object *c = NULL;

		r = claim_to_json(&b->claims[i], &c);
		if (r < 0)
			return r;
		if (json_object_array_add(claims, c) < 0) {
			(void)json_object_put(c);
			return -ENOMEM;
		}
	}
	r = json_add(o, "claims", TAKE_PTR(claims));
	if (r >= 0 && t) {
		json_object *inflight = json_object_new_object(), *members = NULL;

		if (!inflight || json_add(o, "inflight", inflight) < 0) {
			(void)json_object_put(inflight);
			return -ENOMEM;
		}
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

	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text)
		return -ENOMEM;
	len = strlen(text);
	if (asprintf(&path, "%s/" JOURNAL, b->state_dir) < 0 ||
	    asprintf(&tmp, "%s/." JOURNAL ".tmp", b->state_dir) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return log_error_errno(errno, "Failed to write journal '%s': %m", tmp);
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) < 0)
		return log_error_errno(errno ?: EIO, "Failed to write journal '%s': %m", tmp);
	if (rename(tmp, path) < 0)
		return log_error_errno(errno, "Failed to replace journal '%s': %m", path);
	dfd = open(b->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	return 0;
}

static void claim_done(struct claim *c)
{
	free(c->address);
	free(c->driver);
	free(c->original_driver);
	free(c->original_override);
	free(c->rule);
	free(c->pool);
}

const struct claim *binder_find_claim(const struct binder *b, const char *address)
{
	for (size_t i = 0; i < b->n_claims; i++)
		if (streq(b->claims[i].address, address))
			return &b->claims[i];
	return NULL;
}

size_t binder_n_claims(const struct binder *b)
{
	return b->n_claims;
}

const struct claim *binder_claim(const struct binder *b, size_t i)
{
	return i < b->n_claims ? &b->claims[i] : NULL;
}

static void claim_remove(struct binder *b, const char *address)
{
	for (size_t i = 0; i < b->n_claims; i++) {
		if (!streq(b->claims[i].address, address))
			continue;
		claim_done(&b->claims[i]);
		memmove(&b->claims[i], &b->claims[i + 1], (b->n_claims - i - 1) * sizeof(*b->claims));
		b->n_claims--;
		return;
	}
}

/* Adds (or replaces) a claim; c's strings may belong to the claim it replaces. */
static int claim_add(struct binder *b, const struct claim *c)
{
	struct claim *a, n;
	bool oom = false;

	n = (struct claim){
		.address = strdup_or_null(c->address, &oom),
		.driver = strdup_or_null(c->driver, &oom),
		.original_driver = strdup_or_null(c->original_driver, &oom),
		.original_override = strdup_or_null(c->original_override, &oom),
		.group = c->group,
		.rule = strdup_or_null(c->rule, &oom),
		.pool = strdup_or_null(c->pool, &oom),
		.since_usec = c->since_usec,
	};
	if (oom) {
		claim_done(&n);
		return -ENOMEM;
	}
	claim_remove(b, n.address);
	a = reallocarray_safe(b->claims, b->n_claims + 1, sizeof(*a));
	if (!a) {
		claim_done(&n);
		return -ENOMEM;
	}
	b->claims = a;
	a[b->n_claims++] = n;
	return 0;
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
	if (access(path, F_OK) < 0)
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
			r = claim_add(b, &rec);
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
	for (size_t i = 0; i < b->n_claims;) {
		const struct claim *c = &b->claims[i];
		const struct pcidev *d = model_find(m, c->address);

		if (d && !streq(d->driver, c->driver)) {
			log_notice("%s was claimed for %s but is now %s%s: forgetting the claim",
				   c->address, c->driver, d->driver ? "on " : "unbound",
				   d->driver ?: "");
			claim_remove(b, c->address);
			continue;
		}
		i++;
	}
	return b->running ? 0 : journal_write(b, NULL, 0);
}

/* --- the event loop side -------------------------------------------------------------------- */

static void binder_start_next(struct binder *b);

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct binder *b = userdata;
	struct txn *t = b->running;

	if (!t)
		return 0;
	t->stuck = true;
	if (t->kind == TXN_UNDO || t->step >= t->n_steps)
		log_warning("IOMMU group %" PRIi64 ": %s is stuck", t->group, txn_kind_to_string(t->kind));
	else
		log_warning("IOMMU group %" PRIi64 ": %s of %s is stuck in '%s %s' for more than %" PRIu64
			    " s; still serving, the step goes on in the background", t->group,
			    txn_kind_to_string(t->kind), t->members[t->step_member[t->step]].address,
			    t->steps[t->step].path ?: t->steps[t->step].op == PLAN_STEP_UNBIND ?
			    "unbind" : "load module", t->steps[t->step].value,
			    b->config.step_timeout_usec / 1000000);
	if (b->config.progress)
		b->config.progress(t, "stuck", b->config.userdata);
	return 0;
}

static void txn_finish(struct binder *b, struct txn *t, int result)
{
	uint64_t now = (uint64_t)time(NULL) * 1000000U;

	if (t->kind == TXN_UNDO) {
		t->state = result < 0 ? TXN_FAILED : TXN_DONE;
	} else if (result >= 0) {
		t->state = TXN_DONE;
		for (size_t i = 0; i < t->n_members; i++) {
			struct txn_member *m = &t->members[i];
			const struct claim *old = binder_find_claim(b, m->address);

			if (t->kind == TXN_RELEASE) {
				claim_remove(b, m->address);
				continue;
			}
			/* Re-claiming keeps the first record of where it came from. */
			if (claim_add(b, &(struct claim){
				    .address = m->address, .driver = m->target,
				    .original_driver = old ? old->original_driver : m->from_driver,
				    .original_override = old ? old->original_override : m->from_override,
				    .group = m->group, .rule = m->rule, .pool = m->pool,
				    .since_usec = now }) < 0)
				log_error("Out of memory recording the claim of %s", m->address);
		}
	} else
		t->state = TXN_FAILED;
	(void)journal_write(b, NULL, 0);

	if (t->state == TXN_FAILED && t->kind != TXN_UNDO)
		log_error("IOMMU group %" PRIi64 ": %s failed at %s%s%s: %s; %s", t->group,
			  txn_kind_to_string(t->kind), t->error_member ?: "", t->error_member ? ", " : "",
			  t->error_step ?: "?", t->error_message ?: strerror(-t->error),
			  t->rollback_error ?: "the group was put back as it was");
	else if (t->state == TXN_FAILED)
		log_error("Undo of the interrupted transaction failed: %s", t->rollback_error);
	else
		log_info("IOMMU group %" PRIi64 ": %s of %zu function%s done", t->group,
			 txn_kind_to_string(t->kind), t->n_members, t->n_members == 1 ? "" : "s");
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
			binder_start_next(b);
			break;
		}
	}
	return 0;
}

static void binder_start_next(struct binder *b)
{
	struct txn *t = b->queue;
	int r;

	if (b->running || !t)
		return;
	b->queue = t->next;
	t->next = NULL;
	t->state = TXN_RUNNING;
	b->running = t;
	r = pthread_create(&b->thread, NULL, worker, b);
	if (r != 0) {
		b->running = NULL;
		t->error = -r;
		t->error_step = strdup("start worker thread");
		txn_finish(b, t, -r);
		binder_start_next(b);
	}
}

int binder_submit(struct binder *b, struct txn *t)
{
	struct txn **p = &b->queue;

	t->id = ++b->next_id;
	t->state = TXN_QUEUED;
	while (*p)
		p = &(*p)->next;
	*p = t;
	binder_start_next(b);
	return 0;
}

bool binder_busy(const struct binder *b)
{
	return b->running || b->queue;
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
	while (b->queue) {
		struct txn *t = b->queue;

		b->queue = t->next;
		txn_free(t);
	}
	for (size_t i = 0; i < b->n_claims; i++)
		claim_done(&b->claims[i]);
	free(b->claims);
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

		if (asprintf(&text, "%s %s", s->op == PLAN_STEP_WRITE ? s->path :
			     s->op == PLAN_STEP_UNBIND ? "unbind" : "load module", s->value) < 0)
			return -ENOMEM;
		r = json_add_str(o, "step", text);
		if (r >= 0)
			r = json_add_bool(o, "stuck", t->stuck);
	}
	if (r >= 0 && t->state == TXN_FAILED) {
		r = opt_str(o, "error_member", t->error_member);
		if (r >= 0)
			r = opt_str(o, "error_step", t->error_step);
		if (r >= 0)
			r = json_add_int(o, "errno", -t->error);
		if (r >= 0)
			r = opt_str(o, "errno_name", t->error ? strerrorname_np(-t->error) : NULL);
		if (r >= 0)
			r = opt_str(o, "message", t->error_message ?: strerror(-t->error));
		if (r >= 0)
			r = opt_str(o, "rollback_error", t->rollback_error);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}
