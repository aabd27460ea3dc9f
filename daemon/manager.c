/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


#include "binder.h"
#include "facts.h"
#include "lib/json-util.h"
#include "lib/log.h"
#include "lib/varlink.h"
#include "kmodule.h"
#include "manager.h"
#include "names.h"
#include "parallel.h"
#include "planner.h"
#include "sysfs.h"
#include "udev-monitor.h"
#include "udev-rules.h"

int manager_new(const struct manager_config *config, struct manager **ret)
{
	_cleanup_(manager_freep) struct manager *m = NULL;
	size_t n;
	int r;

	m = new0(struct manager, 1);
	if (!m)
		return -ENOMEM;
	m->read_only = config->read_only;
	m->step_timeout_usec = config->step_timeout_usec ?: UINT64_C(30000000);
	m->sysfs_root = strdup(config->sysfs_root);
	m->dev_root = strdup(config->dev_root);
	m->proc_root = strdup(config->proc_root ?: "/proc");
	m->socket_path = strdup(config->socket_path);
	m->state_dir = strdup(config->state_dir);
	m->config_path = strdup(config->config_path);
	if (config->udev_rules && !(m->udev_rules = strdup(config->udev_rules)))
		return -ENOMEM;
	if (!m->sysfs_root || !m->dev_root || !m->proc_root || !m->socket_path || !m->state_dir ||
	    !m->config_path)
		return -ENOMEM;
	for (n = 0; config->policy_dirs[n]; n++)
		;
	m->policy_dirs = new0(char *, n + 1);
	if (!m->policy_dirs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(m->policy_dirs[i] = strdup(config->policy_dirs[i])))
			return -ENOMEM;
	/* Without libkmod's context, modules that are not loaded are "cannot tell". */
	m->kmod = kmodule_new();
	m->binder_kmod = kmodule_new();
	m->names = names_db_new();
	m->texts = textset_new();
	if (!m->names || !m->texts)
		return -ENOMEM;

	r = sysfs_open(m->sysfs_root, m->read_only, &m->sysfs);
	if (r < 0)
		return log_error_errno(r, "Failed to open sysfs root '%s': %m", m->sysfs_root);
	if (config->write_log) {
		r = sysfs_set_write_log(m->sysfs, config->write_log);
		if (r < 0)
			return log_error_errno(r, "Failed to open the write log '%s': %m",
					       config->write_log);
	}
	/* Not sd_event_default(): that one asks the kernel for its thread on every turn. */
	r = sd_event_new(&m->event);
	if (r < 0)
		return log_error_errno(r, "Failed to allocate event loop: %m");
	*ret = TAKE_PTR(m);
	return 0;
}

struct manager *manager_free(struct manager *m)
{
	if (!m)
		return NULL;
	manager_jobs_stop(m);
	manager_leases_free(m);
	manager_status_done(m);
	manager_varlink_stop(m);
	udev_watch_free(m->udev);
	/* A binder with a step stuck in the kernel keeps the sysfs its worker uses. */
	if (binder_free(m->binder))
		m->sysfs = NULL;
	model_done(&m->model);
	policy_done(&m->policy);
	open_scan_free(m->open_scan);
	host_facts_done(&m->readiness_host);
	facts_done(&m->readiness_modules);
	daemon_config_done(&m->config);
	free(m->policy_error);
	strv_free(m->policy_dirs);
	free(m->config_path);
	free(m->udev_rules);
	kmodule_free(m->kmod);
	kmodule_free(m->binder_kmod);
	names_db_free(m->names);
	textset_free(m->texts);	/* after the model, whose devices hold its texts */
	free(m->text_scratch);
	pci_slots_done(&m->slots);
	sysfs_free(m->sysfs);
	sd_event_unref(m->event);
	free(m->sysfs_root);
	free(m->dev_root);
	free(m->proc_root);
	free(m->socket_path);
	free(m->state_dir);
	free(m);
	return NULL;
}

/*
 * SocketGroup= as a gid: a name (NSS, which may block: only here, at start and on reload, never
 * per call) or a number. An unknown group grants nothing.
 */
static void resolve_socket_group(struct manager *m)
{
	const char *name = m->config.socket_group;
	const struct group *g;
	uint32_t gid;

	m->socket_gid_valid = false;
	if (!name)
		return;
	if (safe_atou32(name, &gid) >= 0 && gid != (uint32_t)-1) {
		m->socket_gid = (gid_t)gid;
		m->socket_gid_valid = true;
		return;
	}
	errno = 0;
	g = getgrnam(name);
	if (!g) {
		log_warning("SocketGroup=%s: no such group (%s); only root may change things", name,
			    errno ? strerror(errno) : "not found");
		return;
	}
	m->socket_gid = g->gr_gid;
	m->socket_gid_valid = true;
}

int manager_load_policy(struct manager *m, struct policy_error *err)
{
	struct daemon_config config = {};
	struct policy policy = {};
	int r;

	r = daemon_config_load(m->config_path, &config, err);
	if (r >= 0) {
		r = policy_load(m->policy_dirs, &policy, err);
		if (r >= 0) {
			r = policy_check_vanished(&m->policy, &policy, err);
			if (r < 0)
				policy_done(&policy);
		}
		if (r < 0)
			daemon_config_done(&config);
	}
	if (r < 0) {
		_cleanup_free_ char *msg = r == -EINVAL ? policy_error_format(err) : NULL;

		if (r != -EINVAL)
			return log_error_errno(r, "Failed to load the policy: %m");
		log_error("Invalid policy, keeping the policy in force (%zu rules): %s",
			  m->policy.n_rules, msg ?: "?");
		free(m->policy_error);
		m->policy_error = TAKE_PTR(msg);
		manager_status_update(m);
		return -EINVAL;
	}
	policy_done(&m->policy);
	daemon_config_done(&m->config);
	m->policy = policy;
	manager_readiness_invalidate(m);	/* its module facts name the old policy's drivers */
	m->config = config;
	resolve_socket_group(m);
	if (m->varlink) {
		struct varlink_limits l;

		varlink_server_get_limits(m->varlink, &l);
		l.unprivileged_buffer_max = (size_t)MIN(m->config.client_buffers, (uint64_t)SIZE_MAX);
		varlink_server_set_limits(m->varlink, &l);
	}
	m->policy_error = mfree(m->policy_error);
	log_info("Policy loaded: %zu rules", m->policy.n_rules);
	if (m->udev_rules && !m->read_only) {
		r = udev_rules_install(&m->policy, &m->model, m->udev_rules);
		if (r < 0)
			log_warning_errno(r, "Failed to write the udev rule '%s', continuing (at the "
					  "next boot host drivers may bind what start-up rules claim): %m",
					  m->udev_rules);
		m->udev_rules_error = MIN(r, 0);
	}
	for (size_t i = 0; i < m->policy.n_rules; i++)
		log_debug("  %s", m->policy.rules[i]->path);
	manager_status_update(m);
	return 0;
}

void manager_plan_done(struct manager_plan *mp)
{
	plan_done(&mp->plan);
	mp->request = policy_rule_free(mp->request);
	facts_done(&mp->facts);
	host_facts_done(&mp->host);
}

const struct pci_slot *manager_slot(struct manager *m, const struct pcidev *d)
{
	if (m->slots_generation != m->model.generation + 1) {
		struct pci_slots slots;

		if (pci_slots_read(m->sysfs, &slots) < 0)
			return NULL;	/* -ENOMEM: none this time */
		pci_slots_done(&m->slots);
		m->slots = slots;
		m->slots_generation = m->model.generation + 1;
	}
	return pci_slots_find(&m->slots, d->address);
}

void manager_read_names(struct manager *m, struct pcidev *d)
{
	if (d) {
		if (!d->names && m->names)
			d->names = names_lookup(m->names, d);	/* NULL (-ENOMEM): tried again */
		return;
	}
	if (m->names)
		names_lookup_all(m->names, m->model.devs, m->model.n_devs);
}

int manager_plan_build(struct manager *m, const struct policy *policy, const char *only_address,
		       enum plan_purpose purpose, struct manager_plan *ret)
{
	const struct open_scan_source open = {
		.cache = &m->open_scan,
		.max_age_usec = purpose == PLAN_TO_SHOW_CACHED ? OPEN_SCAN_SHOW_MAX_USEC : 0,
	};
	struct plan_env env;
	int r;

	*ret = (struct manager_plan){ .host = HOST_FACTS_INIT };
	if (only_address && !model_find(&m->model, only_address))
		return -ENODEV;
	manager_read_names(m, NULL);
	r = host_facts_read(m->sysfs, &ret->host);
	if (r >= 0)
		r = model_read_details(&m->model, m->sysfs, only_address);	/* reset methods */
	if (r >= 0)
		r = facts_gather(&m->model, policy, m->sysfs, m->dev_root, m->proc_root, &open, m->kmod,
				 only_address, &ret->facts);
	if (r >= 0) {
		env = (struct plan_env){
			.policy = policy, .model = &m->model, .host = &ret->host,
			.config = &m->config,
		};
		if (m->binder)
			env.claims = binder_claims(m->binder, &env.n_claims);
		facts_to_env(&ret->facts, &env);
		r = plan_build(&env, only_address, &ret->plan);
	}
	if (r < 0)
		manager_plan_done(ret);
	return r;
}

int manager_plan(struct manager *m, const char *only_address, enum plan_purpose purpose,
		 json_object **ret)
{
	_cleanup_(manager_plan_done) struct manager_plan mp = {};
	int r;

	r = manager_plan_build(m, &m->policy, only_address, purpose, &mp);
	if (r < 0)
		return r;
	return plan_to_json(&mp.plan, ret);
}

/*
 * Runs of a Device's members whose text many devices share, kept once in m->texts. What is
 * left to each device is mostly its address and its relations (group, siblings, parent, VFs).
 */
#define RUN(first, n) { first, STRLEN(first), n }
static const struct {
	const char *first;
	size_t len;
	unsigned n;
} shared_runs[] = {
	RUN("vendor_id", 12),	/* ids, class, names: to "prog_if_name" */
	RUN("revision", 5),	/* to "driver_override" */
	RUN("numa_node", 2),	/* and "boot_vga" */
	RUN("sriov_numvfs", 2),	/* and "sriov_totalvfs" */
	RUN("link", 3),		/* "reset_methods", "acs" */
};
#undef RUN

struct text_build {
	struct pci_text t;
	size_t own_size;
};

static int own_append(struct text_build *b, const char *p, size_t n)
{
	if (b->t.own_len + n > b->own_size) {
		size_t size = MAX(b->own_size * 2, b->t.own_len + n + 256);
		char *own = realloc(b->t.own, size);

		if (!own)
			return -ENOMEM;
		b->t.own = own;
		b->own_size = size;
	}
	memcpy(b->t.own + b->t.own_len, p, n);
	b->t.own_len += n;
	return 0;
}

/*
 * In json-c's compact text of an object: the end of the member whose key begins at p, the
 * "," or "}" that follows it at the top level (strings skipped, nesting counted). The text
 * ends in a NUL past end, so strcspn() may look that far.
 */
static const char *member_end(const char *p, const char *end)
{
	unsigned depth = 0;

	for (;; p++) {
		p += strcspn(p, "\"{}[],");
		if (p >= end)
			return end;
		switch (*p) {
		case '"':
			for (p++; (p += strcspn(p, "\"\\")) < end && *p == '\\'; p += 2)
				;
			if (p >= end)
				return end;
			break;
		case '{':
		case '[':
			depth++;
			break;
		case ',':
			if (depth == 0)
				return p;
			break;
		default:	/* "}" or "]" */
			if (depth == 0)
				return p;
			depth--;
			break;
		}
	}
}

/* The shared run whose first member's key begins at p, -1 when none. */
static int shared_run_at(const char *p, const char *end)
{
	for (size_t i = 0; i < ELEMENTSOF(shared_runs); i++) {
		size_t n = shared_runs[i].len;

		if ((size_t)(end - p) > n + 2 && p[0] == '"' && memcmp(p + 1, shared_runs[i].first, n) == 0 &&
		    p[n + 1] == '"')
			return (int)i;
	}
	return -1;
}

/* Where a Device text is put together: one per thread that builds texts. */
struct text_scratch {
	char *p;
	size_t size;
};

/* text[0, n), json-c's text of a Device, in the pieces of struct pci_text: run by run of its
 * members, the shared runs interned in set. */
static int device_text_build(struct textset *set, struct text_scratch *scratch, const char *text,
			     size_t n, struct pci_text *ret)
{
	struct text_build b = { .t.own = scratch->p, .own_size = scratch->size };
	const char *p = text + 1, *end = text + n - 1;	/* within the braces */
	int r;

	r = n >= 2 && text[0] == '{' && text[n - 1] == '}' ? own_append(&b, "{", 1) : -EINVAL;
	while (r >= 0 && p < end) {
		int run = shared_run_at(p, end);
		unsigned members = run >= 0 ? shared_runs[run].n : 1;
		const char *q = member_end(p, end);

		for (unsigned k = 1; k < members && q < end; k++)
			q = member_end(q + 1, end);
		if (p > text + 1)
			r = own_append(&b, ",", 1);
		if (r < 0)
			break;
		if (run >= 0 && b.t.n_shared < PCI_TEXT_SHARED_MAX) {
			b.t.shared[b.t.n_shared] = textset_intern(set, p, (size_t)(q - p));
			if (!b.t.shared[b.t.n_shared])
				r = -ENOMEM;
			else
				b.t.cut[b.t.n_shared++] = b.t.own_len;
		} else
			r = own_append(&b, p, (size_t)(q - p));
		p = q < end ? q + 1 : end;
	}
	if (r >= 0)
		r = own_append(&b, "}", 1);
	scratch->p = b.t.own;
	scratch->size = b.own_size;
	if (r < 0) {
		b.t.own = NULL;
		pci_text_clear(&b.t);
		return r;
	}
	*ret = b.t;	/* own is the scratch buffer, for the caller to copy */
	return 0;
}

static int device_json(struct manager *m, struct pcidev *d, json_object **ret);

/* What d's JSON shows that is read lazily: its details and names. */
static int device_read_lazy(struct manager *m, struct pcidev *d)
{
	int r = pcidev_read_details(m->sysfs, d);

	manager_read_names(m, d);
	return r;
}

static bool text_stale(const struct manager *m, const struct pcidev *d)
{
	return !d->text.own || d->json_generation != m->text_generation;
}

/*
 * Makes and keeps d's text, its details and names read. What else it reads is the model's,
 * the slots' and the claims' (texts_prepare()), so threads may each make their own devices'.
 */
static int device_text_make(struct manager *m, struct pcidev *d, struct text_scratch *scratch)
{
	json_object *o = NULL;
	struct pci_text built;
	const char *text = NULL;
	char *fixed = NULL;
	size_t len = 0;
	int r;

	pci_text_clear(&d->text);
	r = device_json(m, d, &o);
	if (r >= 0) {
		text = json_object_to_json_string_length(o, JSON_FLAGS_WIRE, &len);
		r = text ? 0 : -ENOMEM;
	}
	/* What sysfs says is not always UTF-8: the text is what a reply may carry. */
	if (r >= 0 && !varlink_text_valid(text, len)) {
		fixed = strndup(text, len);
		r = fixed ? varlink_text_sanitize(&fixed, &len) : -ENOMEM;
		text = fixed;
	}
	if (r >= 0)
		r = device_text_build(m->texts, scratch, text, len, &built);
	(void)json_object_put(o);	/* text was its */
	free(fixed);
	if (r < 0)
		return r;
	/* Copied out of the scratch once what building it took is freed: the kept texts then lie
	 * together, not between the holes of the first List's work. */
	d->text = built;
	d->text.own = malloc(built.own_len);
	if (!d->text.own) {
		pci_text_clear(&d->text);
		return -ENOMEM;
	}
	memcpy(d->text.own, built.own, built.own_len);
	d->json_generation = m->text_generation;
	return 0;
}

int manager_device_text(struct manager *m, struct pcidev *d,
			struct iovec parts[static PCI_TEXT_PARTS_MAX], size_t *ret_n)
{
	const struct pci_text *t = &d->text;
	size_t n = 0, at = 0;

	if (text_stale(m, d)) {
		struct text_scratch scratch = { m->text_scratch, m->text_scratch_size };
		int r = device_read_lazy(m, d);

		if (r >= 0)
			r = device_text_make(m, d, &scratch);
		m->text_scratch = scratch.p;
		m->text_scratch_size = scratch.size;
		if (r < 0)
			return r;
	}
	for (unsigned i = 0; i < t->n_shared; i++) {
		parts[n++] = (struct iovec){ .iov_base = t->own + at, .iov_len = t->cut[i] - at };
		parts[n++] = (struct iovec){ .iov_base = t->shared[i]->text,
					     .iov_len = t->shared[i]->len };
		at = t->cut[i];
	}
	parts[n++] = (struct iovec){ .iov_base = t->own + at, .iov_len = t->own_len - at };
	*ret_n = n;
	return 0;
}

/* None of the parts the texts are made in is smaller. */
#define TEXTS_PER_THREAD_MIN 256

/* One thread's share of the texts to make: of devs[lo, hi), those wanted and stale. */
struct text_part {
	struct manager *m;
	bool (*want)(const struct pcidev *d, const void *userdata);
	const void *userdata;
	size_t lo, hi;
	struct text_scratch scratch;
};

static void *text_part_run(void *userdata)
{
	struct text_part *p = userdata;
	struct manager *m = p->m;

	for (size_t i = p->lo; i < p->hi; i++) {
		struct pcidev *d = m->model.devs[i];

		if (!text_stale(m, d) || (p->want && !p->want(d, p->userdata)))
			continue;
		/* Whatever fails is made again, and said, by manager_device_text(). A name not
		 * looked up (no memory) is looked up there, on the loop's thread. */
		if (pcidev_read_details(m->sysfs, d) >= 0 && (d->names || !m->names))
			(void)device_text_make(m, d, &p->scratch);
	}
	return NULL;
}

/* What the devices' texts read that is kept lazily, made current before threads read it. */
static bool texts_prepare(struct manager *m)
{
	struct model *model = &m->model;

	if (model->n_devs == 0)
		return false;
	manager_read_names(m, NULL);
	(void)manager_slot(m, model->devs[0]);
	(void)model_link_below(model, model->devs[0]);
	return m->slots_generation == model->generation + 1 &&
	       model->below_generation == model->generation + 1;
}

void manager_texts_make(struct manager *m,
			bool (*want)(const struct pcidev *d, const void *userdata),
			const void *userdata)
{
	struct text_part parts[PARALLEL_MAX];
	size_t n_devs = m->model.n_devs, stale = 0, n_parts;

	for (size_t i = 0; i < n_devs; i++) {
		const struct pcidev *d = m->model.devs[i];

		stale += text_stale(m, d) && (!want || want(d, userdata));
	}
	n_parts = parallel_parts(stale, TEXTS_PER_THREAD_MIN);
	if (n_parts < 2 || !texts_prepare(m))
		return;	/* made one by one as they are sent */
	for (size_t i = 0; i < n_parts; i++)
		parts[i] = (struct text_part){
			.m = m, .want = want, .userdata = userdata,
			.lo = n_devs * i / n_parts, .hi = n_devs * (i + 1) / n_parts,
		};
	parallel_run(parts, sizeof(parts[0]), n_parts, text_part_run);
	for (size_t i = 0; i < n_parts; i++)
		free(parts[i].scratch.p);
}

void manager_texts_invalidate(struct manager *m)
{
	m->text_generation++;
}

int manager_device_json(struct manager *m, struct pcidev *d, json_object **ret)
{
	int r = device_read_lazy(m, d);

	return r < 0 ? r : device_json(m, d, ret);
}

/* d's JSON, its details and names read. */
static int device_json(struct manager *m, struct pcidev *d, json_object **ret)
{
	_cleanup_strv_free_ char **siblings = NULL;
	_cleanup_json_ json_object *o = NULL;
	const struct claim *c = m->binder ? binder_find_claim(m->binder, d->address) : NULL;
	json_object *cj = NULL;
	int r;

	r = model_siblings(&m->model, d, &siblings);
	if (r >= 0)
		r = pcidev_to_json(d, siblings, &o);
	/* A link trained below what both ends can do (a GPU in the wrong slot): this function's
	 * maximum against the port above it. */
	if (r >= 0 && d->link.speed > 0) {
		const struct pcidev *up = d->parent[0] ? model_find(&m->model, d->parent) : NULL;
		double speed = d->max_link.speed;
		int width = d->max_link.width;
		json_object *link = json_object_object_get(o, "link");

		double other_speed = up ? up->max_link.speed : 0;
		int other_width = up ? up->max_link.width : -1;

		/* A port's link: the other end is the function(s) below it (none: cannot tell). */
		if (d->header == PCI_HEADER_BRIDGE) {
			struct pci_link below = model_link_below(&m->model, d);

			other_speed = below.speed;
			other_width = below.width;
			if (other_speed <= 0)
				speed = 0, width = -1;
		}
		if (other_speed > 0 && other_speed < speed)
			speed = other_speed;
		if (other_width > 0 && (width < 0 || other_width < width))
			width = other_width;
		if (link)
			r = json_add_bool(link, "downtrained",
					  (speed > 0 && d->link.speed < speed) ||
					  (width > 0 && d->link.width > 0 && d->link.width < width));
		/* What it could run at: the slower, narrower of the two ends' maximums. */
		if (r >= 0 && link)
			r = json_add(link, "attainable_speed_gts",
				     speed > 0 ? json_object_new_double(speed) : NULL);
		if (r >= 0 && link)
			r = width > 0 ? json_add_int(link, "attainable_width", width) :
					json_add_null(link, "attainable_width");
	}
	/* The physical slot it sits in. */
	if (r >= 0) {
		const struct pci_slot *slot = manager_slot(m, d);

		r = json_add_str(o, "slot", slot ? slot->name : NULL);
		if (r >= 0)
			r = json_add_str(o, "slot_label", slot ? slot->label : NULL);
	}
	/* What pcipass moved it from: where a release returns it. */
	if (r >= 0 && c)
		r = claim_to_json(c, &cj);
	if (r >= 0)
		r = cj ? json_add(o, "claim", cj) : json_add_null(o, "claim");
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

int manager_rescan(struct manager *m)
{
	int r;

	manager_readiness_invalidate(m);
	r = model_scan(&m->model, m->sysfs);
	if (r < 0)
		return log_error_errno(r, "Failed to read PCI devices from '%s': %m", m->sysfs_root);
	m->n_scans++;
	log_debug("Scanned %zu PCI functions in %zu IOMMU groups", m->model.n_devs,
		  m->model.n_groups);
	manager_status_update(m);
	return 0;
}

static void manager_on_pci_event(struct manager *m, const struct uevent *ev)
{
	_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;
	struct pcidev *d = NULL;
	int r;

	if (!pci_addr_is_valid(ev->sysname))
		return;
	/* Events are hints: whatever the action, sysfs says what is true now. */
	r = model_refresh(&m->model, m->sysfs, ev->sysname, &old, &d);
	if (r < 0) {
		log_warning_errno(r, "Failed to re-read PCI device %s after '%s', ignoring: %m",
				  ev->sysname, uevent_action_to_string(ev->action));
		return;
	}
	if (!old && !d)
		return;	/* came and went before we looked, or its removal was told already */
	log_debug("PCI %s %s: driver %s → %s", ev->sysname, uevent_action_to_string(ev->action),
		  old && old->driver ? old->driver : "(none)", d && d->driver ? d->driver : "(none)");
	manager_monitor_send(m, uevent_action_to_string(ev->action), ev->subsystem, ev->sysname, d,
			     NULL, ev->seqnum);
	/* Its removal is told exactly once, when the model lets go of it: an unbind (or a
	 * change) that finds the function gone already is followed by the kernel's remove,
	 * which will find nothing left to tell, however long after it comes. */
	if (old && !d && ev->action != UEVENT_REMOVE)
		manager_monitor_send(m, "remove", "pci", old->address, NULL, NULL, ev->seqnum);
	if (old && !d)
		manager_leases_check(m);	/* a leased device went: its lease ends */
	/* Hotplug (and a function back after remove/rescan, its override lost): the policy's
	 * start-up rules apply to it as at start. */
	if (ev->action == UEVENT_ADD && d && m->binder)
		(void)manager_apply(m, d->address, NULL, NULL, NULL);
}

/* vfio group nodes, vfio-dev cdevs and uio devices: refresh the PCI function behind them. */
static void manager_on_node_event(struct manager *m, const struct uevent *ev)
{
	_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;
	char address[PCI_ADDR_MAX + 1];
	struct pcidev *d = NULL;
	uint32_t group;

	if (uevent_devpath_pci_address(ev->devpath, address, sizeof(address)) >= 0) {
		if (model_refresh(&m->model, m->sysfs, address, &old, &d) < 0)
			d = NULL;
	} else if (streq(ev->subsystem, "vfio") && safe_atou32(ev->sysname, &group) >= 0) {
		(void)model_refresh_group(&m->model, m->sysfs, group);
	}
	manager_monitor_send(m, uevent_action_to_string(ev->action), ev->subsystem,
			     d ? d->address : old ? old->address : NULL, d, ev->devname, ev->seqnum);
	/* udev has set the new node's owner and mode: a lease sets its own after that. */
	if (ev->action == UEVENT_ADD || ev->action == UEVENT_CHANGE) {
		const char *sysname = ev->sysname;

		if (streq(ev->subsystem, "vfio") && strncmp(sysname, "noiommu-", STRLEN("noiommu-")) == 0)
			sysname += STRLEN("noiommu-");
		if (d && d->iommu_group >= 0)
			manager_lease_node_event(m, d->iommu_group);
		else if (streq(ev->subsystem, "vfio") && safe_atou32(sysname, &group) >= 0)
			manager_lease_node_event(m, group);
	}
	/* A function removed while on vfio-pci: the kernel sends vfio-dev's remove before the
	 * function's unbind and remove, and the refresh above already found it gone, so the
	 * PCI remove that follows would find nothing to report. Report it now. */
	if (old && !d)
		manager_monitor_send(m, "remove", "pci", old->address, NULL, NULL, ev->seqnum);
}

static void manager_on_uevent(const struct uevent *ev, void *userdata)
{
	struct manager *m = userdata;

	if (!ev) {
		log_warning("Kernel events were lost (receive buffer overflow), re-reading sysfs");
		if (manager_rescan(m) >= 0)
			manager_monitor_send(m, "rescan", NULL, NULL, NULL, NULL, 0);
		return;
	}
	m->n_uevents++;
	if (streq(ev->subsystem, "pci"))
		manager_on_pci_event(m, ev);
	else
		manager_on_node_event(m, ev);
	manager_status_update(m);
}

int manager_start(struct manager *m, int listen_fd)
{
	int r;

	if (mkdir(m->state_dir, 0755) < 0 && errno != EEXIST)
		return log_error_errno(errno, "Failed to create state directory '%s': %m",
				       m->state_dir);

	/* Subscribe before the scan, so that nothing that happens during it is missed. */
	r = udev_watch_new(m->event, manager_on_uevent, m, &m->udev);
	if (r < 0)
		return log_error_errno(r, "Failed to set up udev monitor: %m");
	r = manager_rescan(m);
	if (r < 0)
		return r;
	r = manager_varlink_start(m, listen_fd);
	if (r < 0)
		return r;
	/* A bad policy at start leaves no policy in force: nothing is touched (fail closed). */
	{
		struct policy_error err = {};

		r = manager_load_policy(m, &err);
		policy_error_done(&err);
		if (r < 0 && r != -EINVAL)
			return r;
	}
	r = manager_binder_start(m);
	if (r < 0)
		return r;
	r = manager_leases_load(m);
	if (r < 0)
		return r;
	return manager_startup_wait(m);
}
