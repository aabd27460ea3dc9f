/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "binder.h"
#include "errors.h"
#include "host.h"
#include "planner.h"
#include "lib/json-util.h"
#include "lib/log.h"
#include "lib/varlink.h"
#include "manager.h"

/* Generated from io.pcipass.varlink at build time. */
extern const char io_pcipass_varlink[];


static int reply_one(struct varlink_conn *c, const char *key, json_object *v)
{
	json_object *p = json_object_new_object();

	if (!p || json_add(p, key, v) < 0) {
		(void)json_object_put(p);
		return -ENOMEM;
	}
	return varlink_reply(c, p);
}

static int invalid(struct varlink_conn *c, const char *field)
{
	return varlink_error_invalid_parameter(c, field);
}

struct list_filter {
	const char *driver;
	struct json_opt_int iommu_group, vendor_id, device_id, class, class_mask;
};

static bool filter_match(const struct list_filter *f, const struct pcidev *d)
{
	uint32_t mask = f->class_mask.set ? (uint32_t)f->class_mask.value : 0xffffff;

	if (f->driver && !streq(f->driver, d->driver ?: ""))
		return false;
	if (f->iommu_group.set && f->iommu_group.value != d->iommu_group)
		return false;
	if (f->vendor_id.set && f->vendor_id.value != d->vendor)
		return false;
	if (f->device_id.set && f->device_id.value != d->device)
		return false;
	if (f->class.set && ((uint32_t)f->class.value & mask) != (d->class & mask))
		return false;
	return true;
}

struct list_reply {
	struct manager *m;
	const struct list_filter *filter;
	bool any;	/* a device is in the reply before this one */
};

static bool list_wants(const struct pcidev *d, const void *userdata)
{
	return filter_match(userdata, d);
}

/* Item 0 opens the reply, item n_devs + 1 closes it; between, each device that matches. */
static int list_parts(void *userdata, size_t i, struct iovec *parts, size_t *ret_n)
{
	struct list_reply *l = userdata;
	struct model *model = &l->m->model;
	size_t n = 0;
	int r;

	*ret_n = 0;
	if (i == 0) {
		l->any = false;
		parts[0] = (struct iovec){ .iov_base = (char *)"{\"devices\":[", .iov_len = 12 };
		*ret_n = 1;
		return 0;
	}
	if (i == model->n_devs + 1) {
		parts[0] = (struct iovec){ .iov_base = (char *)"]}", .iov_len = 2 };
		*ret_n = 1;
		return 0;
	}
	if (!filter_match(l->filter, model->devs[i - 1]))
		return 0;
	if (l->any)
		parts[n++] = (struct iovec){ .iov_base = (char *)",", .iov_len = 1 };
	r = manager_device_text(l->m, model->devs[i - 1], parts + n, ret_n);
	if (r < 0)
		return r;
	*ret_n += n;
	l->any = true;
	return 0;
}

static int method_list(struct varlink_conn *c, json_object *params, unsigned flags, void *userdata)
{
	static const struct json_field fields[] = {
		{ "driver", JSON_FIELD_STRING, 0, offsetof(struct list_filter, driver) },
		{ "iommu_group", JSON_FIELD_INT, 0, offsetof(struct list_filter, iommu_group) },
		{ "vendor_id", JSON_FIELD_INT, 0, offsetof(struct list_filter, vendor_id) },
		{ "device_id", JSON_FIELD_INT, 0, offsetof(struct list_filter, device_id) },
		{ "class", JSON_FIELD_INT, 0, offsetof(struct list_filter, class) },
		{ "class_mask", JSON_FIELD_INT, 0, offsetof(struct list_filter, class_mask) },
		{}
	};
	struct manager *m = userdata;
	struct list_filter f;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, fields, &f, &bad) < 0)
		return invalid(c, bad);
	if (f.class_mask.set && (f.class_mask.value < 0 || f.class_mask.value > 0xffffff))
		return invalid(c, "class_mask");

	/* Each device's text is kept from the last call that showed it, in pieces that devices
	 * share where they can (manager_device_text()): the reply is copied together into the
	 * connection's output once, not built, serialised and freed. */
	_Static_assert(PCI_TEXT_PARTS_MAX + 1 <= VARLINK_GATHER_PARTS_MAX, "a device's pieces fit");
	/* The texts not kept yet (the first List), with what the scan left for later, made on
	 * all CPUs. */
	manager_texts_make(m, list_wants, &f);
	r = varlink_reply_gather(c, m->model.n_devs + 2, list_parts,
				 &(struct list_reply){ .m = m, .filter = &f });
	/* A large reply's memory goes back to the system once sent, not kept for the next. */
	(void)malloc_trim(0);
	return r;
}

/* A caller who may change things is shown the host as it is; anybody else, what a second-old
 * scan of open device nodes says (PLAN_TO_SHOW_CACHED). */
static enum plan_purpose show_purpose(struct manager *m, struct varlink_conn *c)
{
	return manager_caller_may_change(m, c) ? PLAN_TO_SHOW : PLAN_TO_SHOW_CACHED;
}

static int method_get(struct varlink_conn *c, json_object *params, unsigned flags, void *userdata)
{
	static const struct json_field fields[] = {
		{ "address", JSON_FIELD_STRING, JSON_FIELD_MANDATORY, 0 },
		{}
	};
	struct manager *m = userdata;
	const char *address = NULL, *bad = NULL;
	json_object *d = NULL;
	struct pcidev *dev;
	int r;

	if (json_dispatch(params, fields, &address, &bad) < 0)
		return invalid(c, bad);
	if (!pci_addr_is_valid(address))
		return invalid(c, "address");
	dev = model_find(&m->model, address);
	if (!dev) {
		json_object *p = json_object_new_object();

		if (!p || json_add_str(p, "address", address) < 0) {
			(void)json_object_put(p);
			return -ENOMEM;
		}
		return varlink_error(c, ERROR_NO_SUCH_DEVICE, p);
	}
	r = manager_device_json(m, dev, &d);
	if (r >= 0)
		r = manager_inspect_json(m, dev, show_purpose(m, c), d);
	if (r < 0) {
		(void)json_object_put(d);
		return r;
	}
	return reply_one(c, "device", d);
}

static const char *driver_now(const struct pcidev *d, void *userdata)
{
	return d->driver;
}

static int group_to_json(const struct model *model, bool dma_ownership, const struct iommu_group *g,
			 json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object(), *members = NULL;
	_cleanup_free_ char *why = NULL;
	bool viable;
	int r;

	members = json_object_new_array();
	if (!o || !members)
		return -ENOMEM;
	for (size_t i = 0; i < g->n_members; i++)
		if (json_object_array_add(members, json_object_new_string(g->members[i])) < 0)
			return -ENOMEM;
	r = json_add_int(o, "id", g->id);
	if (r >= 0)
		r = json_add_str(o, "type", g->type);
	if (r >= 0)
		r = json_add(o, "members", TAKE_PTR(members));
	/* What VFIO_GROUP_GET_STATUS would say if vfio held the group now. */
	viable = group_viable(model, g, dma_ownership, driver_now, NULL, &why);
	if (r >= 0)
		r = json_add_bool(o, "viable", viable);
	if (r >= 0 && why)
		r = json_add_str(o, "not_viable_because", why);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

/* The group's lease, if it has one. */
static int group_add_lease(const struct manager *m, int64_t group, json_object *o)
{
	json_object *l = NULL;
	int r = manager_group_lease_json(m, group, &l);

	if (r < 0)
		return r;
	return l ? json_add(o, "lease", l) : json_add_null(o, "lease");
}

static int method_list_groups(struct varlink_conn *c, json_object *params, unsigned flags,
			      void *userdata)
{
	struct manager *m = userdata;
	_cleanup_(host_facts_done) struct host_facts h = HOST_FACTS_INIT;
	_cleanup_json_ json_object *groups = json_object_new_array();
	const char *bad = NULL;

	if (json_dispatch(params, (const struct json_field[]){ {} }, NULL, &bad) < 0)
		return invalid(c, bad);
	if (!groups)
		return -ENOMEM;
	if (model_read_types(&m->model, m->sysfs) < 0)
		return -ENOMEM;
	(void)host_facts_read(m->sysfs, &h);
	for (size_t i = 0; i < m->model.n_groups; i++) {
		json_object *g = NULL;
		int r = group_to_json(&m->model, h.dma_ownership, &m->model.groups[i], &g);

		if (r >= 0)
			r = group_add_lease(m, m->model.groups[i].id, g);
		if (r < 0) {
			(void)json_object_put(g);
			return r;
		}
		if (json_object_array_add(groups, g) < 0) {
			(void)json_object_put(g);
			return -ENOMEM;
		}
	}
	return reply_one(c, "groups", TAKE_PTR(groups));
}

static int status_group_types(const struct model_counts *counts, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object();

	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < counts->n_types; i++) {
		int r = json_add_int(o, counts->types[i].type, (int64_t)counts->types[i].n);

		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(o);
	return 0;
}

static int policy_state_json(struct manager *m, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object(), *rules = json_object_new_array(),
				   *dirs = strv_to_json(m->policy_dirs);
	int r;

	if (!o || !rules || !dirs)
		return -ENOMEM;
	for (size_t i = 0; i < m->policy.n_rules; i++)
		if (json_object_array_add(rules, json_object_new_string(m->policy.rules[i]->path)) < 0)
			return -ENOMEM;
	r = json_add(o, "rules", TAKE_PTR(rules));
	if (r >= 0)
		r = json_add(o, "dirs", TAKE_PTR(dirs));
	if (r >= 0)
		r = m->policy_error ? json_add_str(o, "error", m->policy_error) : json_add_null(o, "error");
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

static int problem_add(json_object *a, const char *code, const char *message, const char *remedy)
{
	json_object *o = json_object_new_object();
	int r;

	if (!o || json_object_array_add(a, o) < 0) {
		(void)json_object_put(o);
		return -ENOMEM;
	}
	r = json_add_str(o, "code", code);
	if (r >= 0)
		r = json_add_str(o, "message", message);
	if (r >= 0)
		r = json_add_str(o, "remedy", remedy);
	return r;
}

/* A target driver whose module is not there: which rules it stops. */
static int problem_add_module(struct manager *m, json_object *a, const char *driver)
{
	_cleanup_free_ char *message = NULL, *rules = NULL;
	size_t size = 0, rules_size = 0, n = 0;
	FILE *f = open_memstream(&rules, &rules_size);

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < m->policy.n_rules; i++)
		if (streq(m->policy.rules[i]->driver, driver))
			fprintf(f, "%s%s", n++ ? ", " : "", m->policy.rules[i]->name);
	if (fclose(f) != 0 || !rules)
		return -ENOMEM;
	f = open_memstream(&message, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, "the %s driver is neither built in nor an installed module for this kernel: ",
		driver);
	if (n)
		fprintf(f, "the %s %s cannot be carried out", n == 1 ? "rule" : "rules", rules);
	else
		fputs("no function can be passed through to it", f);
	if (fclose(f) != 0 || !message)
		return -ENOMEM;
	return problem_add(a, "module-missing", message,
			   "install the module for the running kernel (its modules package, or the "
			   "driver's own package for an out-of-tree driver), or change the rules "
			   "that name it");
}

/*
 * host_readiness()'s problems, and two more: AllowUnsafeInterrupts=yes on a host that needs
 * it while vfio_iommu_type1's own opt-out is off, and a target driver's module missing.
 */
static int problems_json(struct manager *m, const struct host_facts *h, const struct facts *f,
			 json_object **ret)
{
	_cleanup_json_ json_object *a = json_object_new_array();
	struct readiness_problem *p = NULL;
	size_t n = 0;
	int r;

	if (!a)
		return -ENOMEM;
	r = host_readiness(h, &m->config, &p, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++)
		r = problem_add(a, p[i].code, p[i].message, p[i].remedy);
	readiness_free(p, n);
	if (r >= 0 && h->n_iommu_units > 0 && h->interrupt_remapping == 0 &&
	    m->config.allow_unsafe_interrupts && h->unsafe_interrupts == 0)
		r = problem_add(a, "unsafe-interrupts-off",
				"AllowUnsafeInterrupts=yes, but vfio_iommu_type1's "
				"allow_unsafe_interrupts is off: without interrupt remapping vfio "
				"refuses to attach a group to a container, so no guest can use it",
				"echo 1 >/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"
				", and 'options vfio_iommu_type1 allow_unsafe_interrupts=1' in "
				"/etc/modprobe.d for the next boot (guests can then forge interrupts)");
	for (size_t i = 0; i < f->n_modules && r >= 0; i++)
		if (f->modules[i].available == 0)
			r = problem_add_module(m, a, f->modules[i].driver);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(a);
	return 0;
}

/* vfio-pci's and every passthrough driver's module the policy names: 1 there, 0 not, -1
 * cannot tell (module_fact). */
static int modules_json(const struct facts *f, json_object **ret)
{
	_cleanup_json_ json_object *a = json_object_new_array();

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < f->n_modules; i++) {
		json_object *o = json_object_new_object();
		int r;

		if (!o || json_object_array_add(a, o) < 0) {
			(void)json_object_put(o);
			return -ENOMEM;
		}
		r = json_add_str(o, "driver", f->modules[i].driver);
		if (r >= 0)
			r = f->modules[i].available < 0 ? json_add_null(o, "available") :
				json_add_bool(o, "available", f->modules[i].available);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(a);
	return 0;
}

static size_t groups_of_type(const struct model_counts *counts, const char *type)
{
	for (size_t i = 0; i < counts->n_types; i++)
		if (streq(counts->types[i].type, type))
			return counts->types[i].n;
	return 0;
}

/*
 * Whether vfio needs allow_unsafe_interrupts to assign devices: with an IOMMU that does not
 * remap interrupts. -1: cannot tell.
 */
static int unsafe_interrupts_needed(const struct host_facts *h)
{
	if (h->n_iommu_units == 0)
		return 0;	/* no IOMMU: vfio_iommu_type1 is not what assigns them */
	return h->interrupt_remapping < 0 ? -1 : !h->interrupt_remapping;
}

static const char *status_verdict(const struct manager *m, json_object *problems)
{
	if (m->disabled)
		return "disabled";
	return json_object_array_length(problems) > 0 ? "problems" : "ready";
}

static int status_to_json(struct manager *m, const struct host_facts *h, const struct facts *f,
			  json_object **ret)
{
	_cleanup_json_ json_object *problems = NULL, *policy = NULL, *modules = NULL;
	_cleanup_json_ json_object *o = json_object_new_object(), *units = NULL, *types = NULL;
	const struct model_counts *counts;
	int r;

	units = json_object_new_array();
	if (!o || !units)
		return -ENOMEM;
	for (size_t i = 0; i < h->n_iommu_units; i++)
		if (json_object_array_add(units, json_object_new_string(h->iommu_units[i])) < 0)
			return -ENOMEM;
	r = model_read_types(&m->model, m->sysfs);
	if (r < 0)
		return r;
	counts = model_counts(&m->model);
	r = status_group_types(counts, &types);
	if (r < 0)
		return r;

	r = json_add_str(o, "version", PACKAGE_VERSION);
	if (r >= 0)
		r = json_add_str(o, "kernel", h->kernel);
	if (r >= 0)
		r = json_add_str(o, "sysfs_root", m->sysfs_root);
	if (r >= 0)
		r = json_add_bool(o, "read_only", m->read_only);
	if (r >= 0)
		r = json_add_bool(o, "iommu_present", h->n_iommu_units > 0);
	if (r >= 0)
		r = json_add(o, "iommu_units", TAKE_PTR(units));
	if (r >= 0)
		r = json_add_int(o, "iommu_groups", (int64_t)m->model.n_groups);
	if (r >= 0)
		r = json_add(o, "group_types", TAKE_PTR(types));
	if (r >= 0)
		r = h->noiommu < 0 ? json_add_null(o, "noiommu_mode") :
				     json_add_bool(o, "noiommu_mode", h->noiommu);
	if (r >= 0)
		r = json_add_str(o, "lockdown", h->lockdown);
	if (r >= 0)
		r = json_add_bool(o, "dma_ownership", h->dma_ownership);
	if (r >= 0)
		r = json_add_int(o, "devices", (int64_t)m->model.n_devs);
	if (r >= 0)
		r = json_add_int(o, "bound_devices", (int64_t)counts->bound);
	if (r >= 0)
		r = json_add_int(o, "monitors", (int64_t)m->n_monitors);
	if (r >= 0) {
		size_t unprivileged, all = varlink_server_buffer_memory(m->varlink, &unprivileged);

		r = json_add_int(o, "connections", (int64_t)varlink_server_connections(m->varlink));
		if (r >= 0)
			r = json_add_int(o, "client_buffers", (int64_t)all);
		if (r >= 0)
			r = json_add_int(o, "unprivileged_client_buffers", (int64_t)unprivileged);
	}
	if (r >= 0)
		r = json_add_int(o, "scans", (int64_t)m->n_scans);
	if (r >= 0)
		r = json_add_int(o, "uevents", (int64_t)m->n_uevents);
	if (r >= 0)
		r = h->interrupt_remapping < 0 ? json_add_null(o, "interrupt_remapping") :
			json_add_bool(o, "interrupt_remapping", h->interrupt_remapping);
	if (r >= 0)
		r = h->unsafe_interrupts < 0 ? json_add_null(o, "allow_unsafe_interrupts") :
			json_add_bool(o, "allow_unsafe_interrupts", h->unsafe_interrupts);
	if (r >= 0) {
		int needed = unsafe_interrupts_needed(h);

		r = needed < 0 ? json_add_null(o, "unsafe_interrupts_needed") :
			json_add_bool(o, "unsafe_interrupts_needed", needed);
	}
	if (r >= 0)
		r = json_add_int(o, "identity_groups", (int64_t)groups_of_type(counts, "identity"));
	if (r >= 0)
		r = modules_json(f, &modules);
	if (r >= 0)
		r = json_add(o, "modules", TAKE_PTR(modules));
	if (r >= 0)
		r = problems_json(m, h, f, &problems);
	if (r >= 0)
		r = json_add_str(o, "verdict", status_verdict(m, problems));
	if (r >= 0)
		r = json_add(o, "problems", TAKE_PTR(problems));
	if (r >= 0)
		r = json_add_bool(o, "disabled", m->disabled);
	if (r >= 0)
		r = json_add_int(o, "claims", m->binder ? (int64_t)binder_n_claims(m->binder) : 0);
	if (r >= 0)
		r = json_add_int(o, "leases", (int64_t)manager_leases_count(m));
	if (r >= 0)
		r = json_add_int(o, "queued", (int64_t)manager_jobs_queued(m));
	if (r >= 0)
		r = manager_status_transactions_json(m, o);
	if (r >= 0) {
		const struct txn *t = m->binder ? binder_running(m->binder) : NULL;
		json_object *tj = NULL;

		r = t ? txn_to_json(t, &tj) : 0;
		if (r >= 0)
			r = tj ? json_add(o, "transaction", tj) : json_add_null(o, "transaction");
	}
	if (r >= 0)
		r = policy_state_json(m, &policy);
	if (r >= 0)
		r = json_add(o, "policy", TAKE_PTR(policy));
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

/* The host's and the target modules' facts, as GetStatus shows them, kept a little while. */
static int readiness_read(struct manager *m)
{
	_cleanup_(host_facts_done) struct host_facts h = HOST_FACTS_INIT;
	_cleanup_(facts_done) struct facts f = {};
	const struct model no_functions = {};
	uint64_t now = now_usec();
	int r;

	if (m->readiness_usec && now - m->readiness_usec <= READINESS_MAX_USEC)
		return 0;
	r = host_facts_read(m->sysfs, &h);
	if (r < 0)
		return r;
	/* The target drivers' modules, as the planner sees them: on a model without functions,
	 * facts_gather() asks about nothing else. */
	r = facts_gather(&no_functions, &m->policy, m->sysfs, m->dev_root, m->proc_root, NULL,
			 m->kmod, NULL, &f);
	if (r < 0)
		return r;
	host_facts_done(&m->readiness_host);
	facts_done(&m->readiness_modules);
	m->readiness_host = h;
	m->readiness_modules = f;
	h = (struct host_facts)HOST_FACTS_INIT;
	f = (struct facts){};
	m->readiness_usec = now ?: 1;
	return 0;
}

static int method_get_status(struct varlink_conn *c, json_object *params, unsigned flags,
			     void *userdata)
{
	struct manager *m = userdata;
	json_object *status = NULL;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, (const struct json_field[]){ {} }, NULL, &bad) < 0)
		return invalid(c, bad);
	r = readiness_read(m);
	if (r < 0)
		return r;
	r = status_to_json(m, &m->readiness_host, &m->readiness_modules, &status);
	if (r < 0)
		return r;
	return reply_one(c, "status", status);
}

static int method_plan(struct varlink_conn *c, json_object *params, unsigned flags, void *userdata)
{
	static const struct json_field fields[] = {
		{ "address", JSON_FIELD_STRING, 0, 0 },
		{}
	};
	struct manager *m = userdata;
	_cleanup_json_ json_object *plan = NULL;
	const char *address = NULL, *bad = NULL;
	int r;

	if (json_dispatch(params, fields, &address, &bad) < 0)
		return invalid(c, bad);
	if (address && !pci_addr_is_valid(address))
		return invalid(c, "address");
	r = manager_plan(m, address, show_purpose(m, c), &plan);
	if (r == -ENODEV) {
		json_object *p = json_object_new_object();

		if (!p || json_add_str(p, "address", address) < 0) {
			(void)json_object_put(p);
			return -ENOMEM;
		}
		return varlink_error(c, ERROR_NO_SUCH_DEVICE, p);
	}
	if (r < 0)
		return r;
	return varlink_reply(c, TAKE_PTR(plan));
}

static int policy_invalid(struct varlink_conn *c, const struct policy_error *e)
{
	_cleanup_free_ char *msg = policy_error_format(e);
	json_object *p = json_object_new_object();
	int r;

	if (!p || !msg)
		goto oom;
	r = json_add_str(p, "file", e->file ?: "");
	if (r >= 0)
		r = e->line > 0 ? json_add_int(p, "line", e->line) : json_add_null(p, "line");
	if (r >= 0)
		r = json_add_str(p, "reason", e->reason ?: "");
	if (r >= 0)
		r = json_add_str(p, "message", msg);
	if (r < 0)
		goto oom;
	return varlink_error(c, ERROR_POLICY_INVALID, p);
oom:
	(void)json_object_put(p);
	return -ENOMEM;
}

static int method_validate_policy(struct varlink_conn *c, json_object *params, unsigned flags,
				  void *userdata)
{
	struct {
		const char *text, *name;
	} p = {};
	static const struct json_field fields[] = {
		{ "text", JSON_FIELD_STRING, JSON_FIELD_MANDATORY, 0 },
		{ "name", JSON_FIELD_STRING, 0, sizeof(const char *) },
		{}
	};
	_cleanup_(policy_error_done) struct policy_error err = {};
	struct policy_rule *rule = NULL;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return invalid(c, bad);
	if (!p.name)
		p.name = "input.policy";
	if (strchr(p.name, '/'))
		return invalid(c, "name");
	r = policy_rule_parse(p.name, p.name, p.text, strlen(p.text), &rule, &err);
	if (r == -EINVAL)
		return policy_invalid(c, &err);
	if (r < 0)
		return r;
	policy_rule_free(rule);
	return varlink_reply(c, NULL);
}

static int method_reload(struct varlink_conn *c, json_object *params, unsigned flags, void *userdata)
{
	_cleanup_(policy_error_done) struct policy_error err = {};
	struct manager *m = userdata;
	json_object *state = NULL;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, (const struct json_field[]){ {} }, NULL, &bad) < 0)
		return invalid(c, bad);
	if (!manager_caller_may_change(m, c))
		return varlink_error(c, ERROR_PERMISSION_DENIED, NULL);
	r = manager_rescan(m);
	if (r >= 0)
		manager_monitor_send(m, "rescan", NULL, NULL, NULL, NULL, 0);
	r = manager_load_policy(m, &err);
	if (r == -EINVAL)
		return policy_invalid(c, &err);
	if (r < 0)
		return r;
	manager_check_blocked(m);
	r = policy_state_json(m, &state);
	if (r < 0)
		return r;
	return reply_one(c, "policy", state);
}

static void monitor_on_close(struct varlink_conn *c, void *userdata)
{
	struct manager *m = userdata;

	for (size_t i = 0; i < m->n_monitors; i++) {
		if (m->monitors[i] != c)
			continue;
		memmove(&m->monitors[i], &m->monitors[i + 1],
			(m->n_monitors - i - 1) * sizeof(*m->monitors));
		m->n_monitors--;
		varlink_conn_unref(c);
		return;
	}
}

static int event_json(const char *action, const char *subsystem, const char *address,
		      json_object *device, const char *devname, uint64_t seqnum, json_object **ret)
{
	_cleanup_json_ json_object *ev = json_object_new_object(), *p = json_object_new_object();
	int r;

	if (!ev || !p) {
		(void)json_object_put(device);
		return -ENOMEM;
	}
	r = json_add_str(ev, "action", action);
	if (r >= 0)
		r = json_add_str(ev, "subsystem", subsystem);
	if (r >= 0)
		r = json_add_str(ev, "address", address);
	if (r >= 0)
		r = json_add(ev, "device", device);
	else
		(void)json_object_put(device);
	if (r >= 0)
		r = json_add_str(ev, "devname", devname);
	if (r >= 0)
		r = seqnum ? json_add_int(ev, "seqnum", (int64_t)seqnum) : json_add_null(ev, "seqnum");
	if (r >= 0)
		r = json_add(p, "event", TAKE_PTR(ev));
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p);
	return 0;
}

void manager_monitor_send_event(struct manager *m, json_object *event)
{
	_cleanup_json_ json_object *p = json_object_new_object();

	if (!p || json_add(p, "event", event) < 0) {
		(void)json_object_put(event);
		return;
	}
	for (size_t i = m->n_monitors; i > 0; i--)
		(void)varlink_notify(m->monitors[i - 1], json_object_get(p));
}

void manager_monitor_send(struct manager *m, const char *action, const char *subsystem,
			  const char *address, struct pcidev *device, const char *devname,
			  uint64_t seqnum)
{
	_cleanup_json_ json_object *p = NULL;
	json_object *d = NULL;

	if (m->n_monitors == 0)
		return;
	if (device && manager_device_json(m, device, &d) < 0)
		return;
	if (event_json(action, subsystem, address, d, devname, seqnum, &p) < 0)
		return;
	/* Iterate backwards: a failed send closes the connection, which removes it. */
	for (size_t i = m->n_monitors; i > 0; i--)
		(void)varlink_notify(m->monitors[i - 1], json_object_get(p));
}

static int method_monitor(struct varlink_conn *c, json_object *params, unsigned flags,
			  void *userdata)
{
	static const struct json_field fields[] = {
		{ "initial", JSON_FIELD_BOOL, 0, 0 },
		{}
	};
	struct manager *m = userdata;
	struct varlink_conn **a;
	const char *bad = NULL;
	int initial;

	if (json_dispatch(params, fields, &initial, &bad) < 0)
		return invalid(c, bad);
	if (!(flags & VARLINK_CALL_MORE))
		return varlink_error(c, VARLINK_ERROR_EXPECTED_MORE, NULL);

	for (size_t i = 0; initial > 0 && i < m->model.n_devs; i++) {
		json_object *d = NULL, *p = NULL;
		struct pcidev *dev = m->model.devs[i];
		int r = manager_device_json(m, dev, &d);

		if (r >= 0)
			r = event_json("present", "pci", dev->address, d, NULL, 0, &p);
		if (r >= 0)
			r = varlink_notify(c, p);
		if (r < 0)
			return r;
	}

	a = reallocarray_safe(m->monitors, m->n_monitors + 1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	m->monitors = a;
	m->monitors[m->n_monitors++] = varlink_conn_ref(c);
	varlink_conn_set_close_callback(c, monitor_on_close, m);
	/* The call stays open: events follow as varlink_notify(). */
	return 0;
}

/* --- who may change things ------------------------------------------------------------------ */

/*
 * Root, the daemon's own user, or a member of SocketGroup=: from the credentials the kernel
 * recorded when the peer connected, never from /proc (a pid may be reused by another process).
 */
static bool creds_may_change(const struct peer_creds *creds, void *userdata)
{
	const struct manager *m = userdata;

	return creds->uid == 0 || creds->uid == geteuid() ||
	       (m->socket_gid_valid && peer_creds_in_group(creds, m->socket_gid));
}

bool manager_caller_may_change(struct manager *m, struct varlink_conn *c)
{
	return creds_may_change(varlink_conn_creds(c), m);
}

void manager_caller_of(struct varlink_conn *c, struct audit_caller *ret)
{
	const struct peer_creds *creds = varlink_conn_creds(c);
	char path[64];
	FILE *f;

	*ret = (struct audit_caller){ .pid = creds->pid, .uid = creds->uid };
	snprintf(path, sizeof(path), "/proc/%" PRIi64 "/comm", ret->pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(ret->comm, sizeof(ret->comm), f))
			ret->comm[strcspn(ret->comm, "\n")] = '\0';
		fclose(f);
	}
}

/* Refuses a mutating call: not allowed, read-only, disabled. 1 when the caller may go on. */
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

/* --- Claim, Release, Apply: the domain operation answers the call when it has ended ---------- */

static void reply_when_done(void *userdata, const char *error, json_object *params)
{
	struct varlink_conn *c = userdata;

	if (varlink_conn_is_closed(c))
		(void)json_object_put(params);
	else if (error)
		(void)varlink_error(c, error, params);
	else
		(void)varlink_reply(c, params);
	varlink_conn_unref(c);
}

static int call_request(struct manager *m, struct varlink_conn *c, struct manager_request *req)
{
	int r;

	if (!req->dry_run && (r = may_mutate(m, c)) <= 0)
		return r;
	req->cached = show_purpose(m, c) == PLAN_TO_SHOW_CACHED;
	manager_caller_of(c, &req->caller);
	r = manager_request(m, req, reply_when_done, varlink_conn_ref(c));
	if (r < 0)
		varlink_conn_unref(c);
	return r;
}

static int method_claim(struct varlink_conn *c, json_object *params, unsigned flags, void *userdata)
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
	const char *bad = NULL;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return invalid(c, bad);
	if (!pci_addr_is_valid(p.address))
		return invalid(c, "address");
	if (!p.driver)
		p.driver = "vfio-pci";
	if (passthrough_driver_target(p.driver) < 0)
		return invalid(c, "driver");
	return call_request(userdata, c, &(struct manager_request){
		.address = (char *)p.address, .driver = (char *)p.driver, .group = p.group == 1,
		.force = p.force == 1, .dry_run = p.dry_run == 1,
	});
}

static int method_release(struct varlink_conn *c, json_object *params, unsigned flags,
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
	const char *bad = NULL;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return invalid(c, bad);
	if (!pci_addr_is_valid(p.address))
		return invalid(c, "address");
	return call_request(userdata, c, &(struct manager_request){
		.address = (char *)p.address, .release = true, .dry_run = p.dry_run == 1,
	});
}

static int method_apply(struct varlink_conn *c, json_object *params, unsigned flags, void *userdata)
{
	struct manager *m = userdata;
	struct audit_caller caller;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, (const struct json_field[]){ {} }, NULL, &bad) < 0)
		return invalid(c, bad);
	r = may_mutate(m, c);
	if (r <= 0)
		return r;
	manager_caller_of(c, &caller);
	r = manager_apply(m, NULL, &caller, reply_when_done, varlink_conn_ref(c));
	if (r < 0)
		varlink_conn_unref(c);
	return r;
}

/* --- leases ---------------------------------------------------------------------------------- */

#define LEASE_ADDRESSES_MAX	64

/* A JSON array of distinct valid PCI addresses (1 to max), sorted, into *ret (borrowed). */
static int addresses_parse(json_object *a, size_t max, char ***ret)
{
	size_t n = a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
	_cleanup_free_ char **v = NULL;

	if (n == 0 || n > max)
		return -EINVAL;
	v = new0(char *, n + 1);
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);

		if (!json_object_is_type(e, json_type_string) ||
		    strlen(json_object_get_string(e)) != (size_t)json_object_get_string_len(e) ||
		    !pci_addr_is_valid(json_object_get_string(e)))
			return -EINVAL;
		v[i] = (char *)json_object_get_string(e);
	}
	qsort(v, n, sizeof(*v), pci_addr_compare_ptr);
	for (size_t i = 1; i < n; i++)
		if (streq(v[i - 1], v[i]))
			return -EINVAL;
	*ret = TAKE_PTR(v);
	return 0;
}

static int method_acquire_lease(struct varlink_conn *c, json_object *params, unsigned flags,
				void *userdata)
{
	struct {
		const char *owner, *pool;
		json_object *addresses;
		struct json_opt_int count, uid, gid, pid, numa_node;
		int iommufd;
	} p = { .iommufd = -1 };
	static const struct json_field fields[] = {
		{ "owner", JSON_FIELD_STRING, JSON_FIELD_MANDATORY, offsetof(typeof(p), owner) },
		{ "pool", JSON_FIELD_STRING, 0, offsetof(typeof(p), pool) },
		{ "addresses", JSON_FIELD_ANY, 0, offsetof(typeof(p), addresses) },
		{ "count", JSON_FIELD_INT, 0, offsetof(typeof(p), count), 1, 64 },
		{ "uid", JSON_FIELD_INT, 0, offsetof(typeof(p), uid), 0, UINT32_MAX - 1 },
		{ "gid", JSON_FIELD_INT, 0, offsetof(typeof(p), gid), 0, UINT32_MAX - 1 },
		{ "pid", JSON_FIELD_INT, 0, offsetof(typeof(p), pid), 1, INT32_MAX },
		{ "numa_node", JSON_FIELD_INT, 0, offsetof(typeof(p), numa_node), 0, 65535 },
		{ "iommufd", JSON_FIELD_BOOL, 0, offsetof(typeof(p), iommufd) },
		{}
	};
	struct manager *m = userdata;
	_cleanup_free_ char **addresses = NULL;
	struct audit_caller caller;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return invalid(c, bad);
	if (!lease_owner_valid(p.owner))
		return invalid(c, "owner");
	/* A pool or addresses, not both. */
	if (!p.pool == !p.addresses)
		return invalid(c, p.pool ? "addresses" : "pool");
	if (p.addresses && (r = addresses_parse(p.addresses, LEASE_ADDRESSES_MAX, &addresses)) < 0)
		return r == -ENOMEM ? r : invalid(c, "addresses");
	if (p.addresses && p.count.set)
		return invalid(c, "count");
	r = may_mutate(m, c);
	if (r <= 0)
		return r;
	manager_caller_of(c, &caller);
	r = manager_lease_acquire(m, &(struct lease_request){
		.owner = p.owner, .pool = p.pool, .addresses = addresses,
		.count = p.count.set ? (unsigned)p.count.value : 1,
		.uid = p.uid.set ? (uint32_t)p.uid.value : 0,
		.gid = p.gid.set ? (uint32_t)p.gid.value : 0,
		.pid = p.pid.set ? p.pid.value : 0,
		.numa_node = p.numa_node.set ? (int)p.numa_node.value : -1,
		.iommufd = p.iommufd == 1, .caller = caller,
	}, reply_when_done, varlink_conn_ref(c));
	if (r < 0)
		varlink_conn_unref(c);
	return r;
}

static int method_release_lease(struct varlink_conn *c, json_object *params, unsigned flags,
				void *userdata)
{
	struct {
		const char *id, *owner;
	} p = {};
	static const struct json_field fields[] = {
		{ "id", JSON_FIELD_STRING, 0, offsetof(typeof(p), id) },
		{ "owner", JSON_FIELD_STRING, 0, offsetof(typeof(p), owner) },
		{}
	};
	struct manager *m = userdata;
	struct audit_caller caller;
	json_object *ended = NULL;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return invalid(c, bad);
	if (!p.id && !p.owner)
		return invalid(c, "id");
	r = may_mutate(m, c);
	if (r <= 0)
		return r;
	manager_caller_of(c, &caller);
	r = manager_lease_release(m, p.id, p.owner, &caller, &ended);
	if (r == -ESRCH) {
		json_object *e = json_object_new_object();

		if (!e || json_add_str(e, "id", p.id) < 0 || json_add_str(e, "owner", p.owner) < 0) {
			(void)json_object_put(e);
			return -ENOMEM;
		}
		return varlink_error(c, ERROR_NO_SUCH_LEASE, e);
	}
	if (r < 0)
		return r;
	return reply_one(c, "leases", ended);
}

static int method_list_leases(struct varlink_conn *c, json_object *params, unsigned flags,
			      void *userdata)
{
	json_object *leases = NULL;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, (const struct json_field[]){ {} }, NULL, &bad) < 0)
		return invalid(c, bad);
	r = manager_leases_json(userdata, &leases);
	if (r < 0)
		return r;
	return reply_one(c, "leases", leases);
}

static int method_list_pools(struct varlink_conn *c, json_object *params, unsigned flags,
			     void *userdata)
{
	json_object *pools = NULL;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, (const struct json_field[]){ {} }, NULL, &bad) < 0)
		return invalid(c, bad);
	r = manager_pools_json(userdata, &pools);
	if (r < 0)
		return r;
	return reply_one(c, "pools", pools);
}

static int method_get_vm_arguments(struct varlink_conn *c, json_object *params, unsigned flags,
				   void *userdata)
{
	struct {
		json_object *addresses;
		int iommufd;
	} p = { .iommufd = -1 };
	static const struct json_field fields[] = {
		{ "addresses", JSON_FIELD_ANY, JSON_FIELD_MANDATORY, offsetof(typeof(p), addresses) },
		{ "iommufd", JSON_FIELD_BOOL, 0, offsetof(typeof(p), iommufd) },
		{}
	};
	struct manager *m = userdata;
	_cleanup_json_ json_object *o = NULL;
	_cleanup_free_ char **addresses = NULL;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return invalid(c, bad);
	r = addresses_parse(p.addresses, LEASE_ADDRESSES_MAX, &addresses);
	if (r < 0)
		return r == -ENOMEM ? r : invalid(c, "addresses");
	for (char **a = addresses; *a; a++) {
		const struct pcidev *d = model_find(&m->model, *a);
		json_object *e;

		if (d && driver_is_vfio(d->driver))
			continue;
		e = json_object_new_object();
		if (!e || json_add_str(e, "address", *a) < 0 ||
		    (d && json_add_str(e, "driver", d->driver) < 0)) {
			(void)json_object_put(e);
			return -ENOMEM;
		}
		return varlink_error(c, d ? ERROR_NOT_PASSED_THROUGH : ERROR_NO_SUCH_DEVICE, e);
	}
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	r = manager_vm_args_json(m, addresses, p.iommufd == 1, o);
	if (r == -EOPNOTSUPP)
		return invalid(c, "iommufd");	/* a function without a vfio cdev */
	if (r < 0)
		return r;
	return varlink_reply(c, TAKE_PTR(o));
}

static int method_dump_rom(struct varlink_conn *c, json_object *params, unsigned flags,
			   void *userdata)
{
	struct {
		const char *address;
		int force;
	} p = { .force = -1 };
	static const struct json_field fields[] = {
		{ "address", JSON_FIELD_STRING, JSON_FIELD_MANDATORY, offsetof(typeof(p), address) },
		{ "force", JSON_FIELD_BOOL, 0, offsetof(typeof(p), force) },
		{}
	};
	struct manager *m = userdata;
	const char *bad = NULL;
	int r;

	if (json_dispatch(params, fields, &p, &bad) < 0)
		return invalid(c, bad);
	if (!pci_addr_is_valid(p.address))
		return invalid(c, "address");
	/* Enabling the attribute is a write, and what comes back is the device's firmware: for
	 * root alone, not the daemon's own user or SocketGroup= as the other mutating calls. */
	if (varlink_conn_uid(c) != 0)
		return varlink_error(c, ERROR_PERMISSION_DENIED, NULL);
	if (m->read_only)
		return varlink_error(c, ERROR_READ_ONLY, NULL);
	if (m->disabled)
		return varlink_error(c, ERROR_DISABLED, NULL);
	r = manager_dump_rom(m, p.address, p.force == 1, reply_when_done, varlink_conn_ref(c));
	if (r < 0)
		varlink_conn_unref(c);
	return r;
}

static const struct varlink_method io_pcipass_methods[] = {
	{ "List", method_list },
	{ "Get", method_get },
	{ "ListGroups", method_list_groups },
	{ "GetStatus", method_get_status },
	{ "Monitor", method_monitor },
	{ "Plan", method_plan },
	{ "ValidatePolicy", method_validate_policy },
	{ "Reload", method_reload },
	{ "Claim", method_claim },
	{ "Release", method_release },
	{ "Apply", method_apply },
	{ "DumpRom", method_dump_rom },
	{ "AcquireLease", method_acquire_lease },
	{ "ReleaseLease", method_release_lease },
	{ "ListLeases", method_list_leases },
	{ "ListPools", method_list_pools },
	{ "GetVmArguments", method_get_vm_arguments },
	{}
};

static const struct varlink_interface io_pcipass = {
	.name = "io.pcipass",
	.description = io_pcipass_varlink,
	.methods = io_pcipass_methods,
};

int manager_varlink_start(struct manager *m, int listen_fd)
{
	static const struct varlink_server_info info = {
		.vendor = "pcipass",
		.product = "pcipassd",
		.version = PACKAGE_VERSION,
		.url = PACKAGE_URL,
		.errno_error = ERROR_SYSTEM,
	};
	int r;

	r = varlink_server_new(m->event, &info, m, &m->varlink);
	if (r < 0)
		return log_error_errno(r, "Failed to create Varlink server: %m");
	r = varlink_server_add_interface(m->varlink, &io_pcipass);
	if (r < 0)
		return log_error_errno(r, "Failed to add interface: %m");
	/* Who may change things is also who is served whatever the unprivileged hold. */
	varlink_server_set_privileged(m->varlink, creds_may_change, m);

	if (listen_fd >= 0) {
		r = varlink_server_listen_fd(m->varlink, listen_fd);
		if (r < 0)
			return log_error_errno(r, "Failed to use the socket passed by systemd: %m");
		log_debug("Listening on the socket passed by systemd");
		return 0;
	}
	{
		_cleanup_free_ char *dir = strdup(m->socket_path);
		char *slash = dir ? strrchr(dir, '/') : NULL;

		if (!dir)
			return -ENOMEM;
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0755) < 0 && errno != EEXIST)
				return log_error_errno(errno, "Failed to create '%s': %m", dir);
		}
	}
	/* Reading is open to every local user; changing anything will check the peer. */
	r = varlink_server_listen_path(m->varlink, m->socket_path, 0666);
	if (r < 0)
		return log_error_errno(r, "Failed to listen on '%s': %m", m->socket_path);
	m->socket_owned = true;
	log_debug("Listening on %s", m->socket_path);
	return 0;
}

void manager_varlink_stop(struct manager *m)
{
	/* A socket of our own making goes with us; systemd's stays with systemd. */
	if (m->varlink && m->socket_owned)
		(void)unlink(m->socket_path);
	/* Freeing the server closes every connection, which ends every Monitor. */
	m->varlink = varlink_server_free(m->varlink);
	for (size_t i = 0; i < m->n_monitors; i++)
		varlink_conn_unref(m->monitors[i]);
	m->monitors = mfree(m->monitors);
	m->n_monitors = 0;
}
