/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fnmatch.h>
#include <stdarg.h>
#include <string.h>

#include "lib/json-build.h"
#include "lib/json-util.h"
#include "names.h"
#include "planner.h"
#include "sysfs.h"

#define HOST_DRIVER "(host driver)"	/* after a release: whichever driver the kernel picks */

static const char *const action_names[] = {
	[PLAN_LEAVE] = "leave",
	[PLAN_KEEP] = "keep",
	[PLAN_BIND] = "bind",
	[PLAN_RELEASE] = "release",
	[PLAN_DENY] = "deny",
};

const char *plan_action_to_string(enum plan_action a)
{
	return (size_t)a < ELEMENTSOF(action_names) ? action_names[a] : NULL;
}

/* --- the kernel's rule --------------------------------------------------------------------- */

bool driver_is_vfio(const char *driver)
{
	/* vfio-pci and its variants: mlx5_vfio_pci, hisi_acc_vfio_pci, xe-vfio-pci, … */
	return driver && strstr(driver, "vfio");
}

bool driver_is_uio(const char *driver)
{
	return streq(driver, "uio_pci_generic") || streq(driver, "igb_uio");
}

bool driver_manages_dma(const char *driver)
{
	return driver_is_vfio(driver) || streq(driver, "pci-stub") || streq(driver, "pcieport");
}

static bool member_keeps_viable(const struct viability_member *v, bool dma_ownership)
{
	if (!v->driver)
		return true;
	if (dma_ownership)
		return driver_manages_dma(v->driver);
	/* Before 5.19: pci-stub, a vfio driver, or any bridge whatever its driver (§2.3). */
	return streq(v->driver, "pci-stub") || driver_is_vfio(v->driver) ||
	       (v->header != PCI_HEADER_ENDPOINT && v->header != _PCI_HEADER_INVALID);
}

bool viability_check(const struct viability_member *members, size_t n, bool dma_ownership,
		     char **ret_why)
{
	for (size_t i = 0; i < n; i++) {
		const struct viability_member *v = &members[i];
		int r;

		if (v->pci && member_keeps_viable(v, dma_ownership))
			continue;
		if (!ret_why)
			return false;
		if (!v->pci)
			r = asprintf(ret_why, "%s is not a PCI function pcipass can judge", v->address);
		else
			r = asprintf(ret_why, "%s is bound to %s", v->address, v->driver);
		if (r < 0)
			*ret_why = NULL;
		return false;
	}
	return true;
}

bool group_viable(const struct model *m, const struct iommu_group *g, bool dma_ownership,
		  plan_driver_fn driver_of, void *userdata, char **ret_why)
{
	_cleanup_free_ struct viability_member *v = new0(struct viability_member, g->n_members + 1);

	if (!v)
		return false;
	for (size_t i = 0; i < g->n_members; i++) {
		const struct pcidev *d = model_find(m, g->members[i]);

		v[i] = (struct viability_member){
			.address = g->members[i], .pci = d,
			.driver = !d ? NULL : driver_of ? driver_of(d, userdata) : d->driver,
			.header = d ? d->header : _PCI_HEADER_INVALID,
		};
	}
	return viability_check(v, g->n_members, dma_ownership, ret_why);
}

static const char *driver_now(const struct pcidev *d, void *userdata)
{
	return d->driver;
}

/* --- host readiness ----------------------------------------------------------------------- */

void readiness_free(struct readiness_problem *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].message);
		free(p[i].remedy);
	}
	free(p);
}

static int readiness_add(struct readiness_problem **a, size_t *n, const char *code,
			 const char *message, const char *remedy)
{
	struct readiness_problem *p = reallocarray_safe(*a, *n + 1, sizeof(**a));

	if (!p)
		return -ENOMEM;
	*a = p;
	p[*n] = (struct readiness_problem){
		.code = code, .message = strdup(message), .remedy = strdup(remedy),
	};
	if (!p[*n].message || !p[*n].remedy) {
		free(p[*n].message);
		free(p[*n].remedy);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

int host_readiness(const struct host_facts *h, const struct daemon_config *c,
		   struct readiness_problem **ret, size_t *ret_n)
{
	struct readiness_problem *a = NULL;
	size_t n = 0;
	int r = 0;

	if (h->n_iommu_units == 0) {
		r = readiness_add(&a, &n, "no-iommu",
				  "no IOMMU is active: vfio-pci cannot isolate devices from the host",
				  "enable VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the firmware setup and "
				  "boot with intel_iommu=on (Intel) or amd_iommu=on (AMD)");
		if (r >= 0 && c->allow_noiommu && h->noiommu != 1)
			r = readiness_add(&a, &n, "noiommu-off",
					  "AllowNoIommu=yes, but vfio's unsafe no-IOMMU mode is off",
					  "modprobe vfio enable_unsafe_noiommu_mode=1 (taints the kernel; "
					  "guests get no DMA isolation)");
	} else if (h->interrupt_remapping == 0 && !c->allow_unsafe_interrupts)
		r = readiness_add(&a, &n, "no-interrupt-remapping",
				  "the IOMMU does not remap interrupts: vfio refuses to attach devices, "
				  "since a guest could forge MSIs",
				  "enable interrupt remapping (x2APIC / VT-d IR) in the firmware and do "
				  "not boot with intremap=off; or, trusting every guest, set "
				  "AllowUnsafeInterrupts=yes and "
				  "vfio_iommu_type1.allow_unsafe_interrupts=1");
	if (r >= 0 && h->noiommu == 1)
		r = readiness_add(&a, &n, "noiommu-on",
				  "vfio's unsafe no-IOMMU mode is on: devices given to guests are not "
				  "isolated and the kernel is tainted",
				  "modprobe -r vfio-pci vfio, or boot without "
				  "vfio.enable_unsafe_noiommu_mode=1, once an IOMMU is available");
	if (r >= 0 && h->lockdown && !streq(h->lockdown, "none"))
		r = readiness_add(&a, &n, "lockdown",
				  "the kernel is locked down: uio_pci_generic is unusable (config-space "
				  "writes and BAR mmap are refused); vfio-pci works",
				  "use vfio-pci for user-space drivers (DPDK, SPDK)");
	if (r >= 0 && h->kernel && !h->dma_ownership)
		r = readiness_add(&a, &n, "old-kernel",
				  "the kernel predates 5.19: groups are judged by the older rule, and a "
				  "host driver binding into a group in use crashes the kernel",
				  "upgrade to Linux 5.19 or later");
	if (r < 0) {
		readiness_free(a, n);
		return r;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

/* --- building ----------------------------------------------------------------------------- */

static void blockers_free(struct plan_blocker *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(b[i].message);
	free(b);
}

static void member_done(struct plan_member *m)
{
	free(m->address);
	blockers_free(m->blockers, m->n_blockers);
	plan_steps_free(m->steps, m->n_steps);
	strv_free(m->warnings);
}

_printf_(2, 3)
static int warn(struct plan_member *m, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return strv_push(&m->warnings, &m->n_warnings, s);
}

/* Function-level reset methods as the kernel's reset_method attribute names them. */
static bool reset_is_function_level(const char *method)
{
	return streq(method, "flr") || streq(method, "af_flr") || streq(method, "pm") ||
	       streq(method, "device_specific") || streq(method, "acpi");
}

/*
 * How a function given to a VM is reset (vfio-pci resets it when the VM opens and releases
 * it, with the first of its reset methods that works): warned about when it has no reset at
 * all, none at function level, or only a bus reset, which resets every function on the bus —
 * named when some are outside its IOMMU group.
 */
static int reset_warnings(const struct plan_env *env, const struct plan_group *g,
			  struct plan_member *m)
{
	const struct pcidev *d = m->dev;
	_cleanup_free_ char *others = NULL;
	size_t len = 0;
	bool fl = false, bus = false;

	if (!d->reset_methods)
		return warn(m, "%s offers no reset (no reset_method attribute): a VM gets it in the "
			    "state the last user left it", d->address);
	for (char **r = d->reset_methods; *r; r++) {
		fl = fl || reset_is_function_level(*r);
		bus = bus || streq(*r, "bus") || streq(*r, "cxl_bus");
	}
	if (fl)
		return 0;
	if (!bus)
		return warn(m, "%s has no function-level reset (reset methods: %s)", d->address,
			    d->reset_methods[0] ?: "none");
	/* A secondary bus reset: every function behind the same bridge. */
	for (size_t i = 0; i < env->model->n_devs; i++) {
		const struct pcidev *o = env->model->devs[i];
		bool in_group = false;
		char *s;

		if (o == d || !streq(o->parent, d->parent) || !pci_addr_same_bus(o->address, d->address))
			continue;
		for (size_t k = 0; k < g->n_members; k++)
			in_group = in_group || streq(g->members[k].address, o->address);
		if (in_group)
			continue;
		if (asprintf(&s, "%s%s%s", others ?: "", others ? ", " : "", o->address) < 0)
			return -ENOMEM;
		free(others);
		others = s;
		len++;
	}
	if (len)
		return warn(m, "%s has no function-level reset; its only reset is a bus reset, which "
			    "also resets %s, outside IOMMU group %" PRIi64, d->address, others, g->id);
	return warn(m, "%s has no function-level reset; vfio-pci resets it with a bus reset",
		    d->address);
}

static void group_done(struct plan_group *g)
{
	for (size_t i = 0; i < g->n_members; i++)
		member_done(&g->members[i]);
	free(g->members);
	blockers_free(g->blockers, g->n_blockers);
	free(g->not_viable_now);
	free(g->not_viable_after);
}

void plan_done(struct plan *p)
{
	for (size_t i = 0; i < p->n_groups; i++)
		group_done(&p->groups[i]);
	free(p->groups);
	plan_steps_free(p->host_steps, p->n_host_steps);
	*p = (struct plan){};
}

_printf_(5, 6)
static int block(struct plan_blocker **a, size_t *n, const char *code, bool forceable,
		 const char *fmt, ...)
{
	struct plan_blocker *b = reallocarray_safe(*a, *n + 1, sizeof(**a));
	va_list ap;
	int r;

	if (!b)
		return -ENOMEM;
	*a = b;
	b[*n] = (struct plan_blocker){ .code = code, .forceable = forceable };
	va_start(ap, fmt);
	r = vasprintf(&b[*n].message, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* --- the one step builder --------------------------------------------------------------------- */

void plan_steps_free(struct plan_step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].path);
		free(s[i].value);
	}
	free(s);
}

/* Appends a step, taking path (may be NULL) and copying value. */
static int step_add(struct plan_step **steps, size_t *n, enum plan_step_op op, char *path,
		    const char *value)
{
	struct plan_step *a = reallocarray_safe(*steps, *n + 1, sizeof(**steps));
	char *v = strdup(value);

	if (!a || !v) {
		free(path);
		free(v);
		if (a)
			*steps = a;
		return -ENOMEM;
	}
	*steps = a;
	a[(*n)++] = (struct plan_step){ .op = op, .path = path, .value = v };
	return 0;
}

/* A write to ATTR of a function (or, with driver set, of that driver). */
static int step_write(struct plan_step **steps, size_t *n, const char *address, const char *driver,
		      const char *attr, const char *value)
{
	char *path = NULL;
	int r = driver ? sysfs_driver_attr_path(driver, attr, &path)
		       : sysfs_pci_attr_path(address, attr, &path);

	if (r < 0)
		return r;
	return step_add(steps, n, PLAN_STEP_WRITE, path, value);
}

int plan_move_steps(const struct plan_move *mv, struct plan_step **steps, size_t *n_steps)
{
	int r = 0;

	if (mv->to_driver && streq(mv->driver, mv->to_driver) && streq(mv->override, mv->to_override))
		return 0;
	const char *via = mv->by_override && mv->to_driver ? mv->to_driver : mv->to_override;

	if (mv->load_module && mv->to_driver)
		r = step_add(steps, n_steps, PLAN_STEP_LOAD_MODULE, NULL, mv->to_driver);
	/* The override first: once it is unbound, nothing but the wanted driver can take it. */
	if (r >= 0 && !streq(mv->override, via))
		r = step_write(steps, n_steps, mv->address, NULL, "driver_override", via ?: "\n");
	if (r < 0 || (mv->to_driver && streq(mv->driver, mv->to_driver)))
		return r;
	if (mv->driver)
		r = step_write(steps, n_steps, NULL, mv->driver, "unbind", mv->address);
	if (r >= 0)
		r = step_add(steps, n_steps, PLAN_STEP_WRITE, strdup(SYSFS_DRIVERS_PROBE), mv->address);
	if (r >= 0 && !streq(via, mv->to_override))
		r = step_write(steps, n_steps, mv->address, NULL, "driver_override",
			       mv->to_override ?: "\n");
	return r;
}

int plan_step_describe(const struct plan_step *s, char **ret)
{
	if (s->op == PLAN_STEP_LOAD_MODULE)
		return asprintf(ret, "load module %s", s->value) < 0 ? -ENOMEM : 0;
	return asprintf(ret, "write %s %s", s->path, streq(s->value, "\n") ? "\\n" : s->value) < 0 ?
		-ENOMEM : 0;
}

const struct claim *plan_env_claim(const struct plan_env *env, const char *address)
{
	for (size_t i = 0; i < env->n_claims; i++)
		if (streq(env->claims[i].address, address))
			return &env->claims[i];
	return NULL;
}

static const char *facts_address(const void *elem)
{
	return ((const struct device_facts *)elem)->address;
}

const struct device_facts *device_facts_find(const struct device_facts *v, size_t n,
					     const char *address)
{
	bool found;
	size_t i = pci_addr_search(v, n, sizeof(*v), facts_address, address, &found);

	return found ? &v[i] : NULL;
}

static const struct device_facts *facts_find(const struct plan_env *env, const char *address)
{
	return device_facts_find(env->facts, env->n_facts, address);
}

static int module_available(const struct plan_env *env, const char *driver)
{
	for (size_t i = 0; i < env->n_modules; i++)
		if (streq(env->modules[i].driver, driver))
			return env->modules[i].available;
	return -1;	/* not asked: cannot tell */
}

static bool is_host_bridge(const struct pcidev *d)
{
	return (d->class >> 8) == 0x0600;
}

static const char *rule_where(const struct policy_rule *r, char *buf, size_t size)
{
	/* A request's rule has no file. */
	if (r->line > 0)
		snprintf(buf, size, "%s:%u", r->name, r->line);
	else
		snprintf(buf, size, "the %s", r->name);
	return buf;
}

/*
 * NumVfs= on a PF: it must have SR-IOV and room for them; and since the kernel changes a count
 * only through 0, VFs that are passed through (or leased: they are on vfio-pci) keep it.
 */
static int num_vfs_blockers(const struct plan_env *env, struct plan_member *m)
{
	const struct pcidev *d = m->dev;
	unsigned want = m->rule->num_vfs;

	if (d->sriov_totalvfs <= 0)
		return block(&m->blockers, &m->n_blockers, "not-sriov", false,
			     "%s has no SR-IOV capability: NumVfs=%u cannot make VFs", d->address, want);
	if (want > (unsigned)d->sriov_totalvfs)
		return block(&m->blockers, &m->n_blockers, "numvfs-too-many", false,
			     "%s can have at most %d VFs; NumVfs=%u", d->address, d->sriov_totalvfs,
			     want);
	if (d->sriov_numvfs <= 0 || (unsigned)d->sriov_numvfs == want)
		return 0;
	for (char **v = d->virtfns; v && *v; v++) {
		const struct pcidev *vf = model_find(env->model, *v);

		if (vf && (driver_is_vfio(vf->driver) || driver_is_uio(vf->driver)))
			return block(&m->blockers, &m->n_blockers, "vfs-in-use", false,
				     "%s has %d VFs and NumVfs=%u: the kernel changes the count through "
				     "0, removing every VF, and %s is on %s", d->address,
				     d->sriov_numvfs, want, vf->address, vf->driver);
	}
	return 0;
}

/* The blockers of moving one function to its target, from the host, the kernel and safety. */
static int member_blockers(const struct plan_env *env, struct plan_member *m)
{
	const struct pcidev *d = m->dev;
	const struct host_facts *h = env->host;
	const struct device_facts *f = facts_find(env, d->address);
	bool vfio = driver_is_vfio(m->target);
	bool uio = driver_is_uio(m->target);
	/* Only uio_pci_generic masks INTx; igb_uio can use MSI-X instead. */
	bool uio_generic = streq(m->target, "uio_pci_generic");
	struct plan_blocker **b = &m->blockers;
	size_t *n = &m->n_blockers;
	int avail, r = 0;

	if (m->action == PLAN_RELEASE) {
		/* Unbinding a vfio device that a process holds blocks in the kernel until it lets go. */
		if (f && f->open_by)
			r = block(b, n, "device-open", false,
				  "%s is in use (%s): releasing it now would hang until it is closed",
				  d->address, f->open_by);
		return r;
	}
	/* A pin holds for what a rule keeps as for what it moves: a function already on vfio-pci
	 * whose hardware no longer matches is blocked (and left where it is), not "in place". */
	if ((m->action == PLAN_BIND || m->action == PLAN_KEEP) && m->rule && m->rule->pinned &&
	    (m->rule->pin.vendor != (int32_t)d->vendor || m->rule->pin.device != (int32_t)d->device))
		r = block(b, n, "pin-mismatch", false,
			  "%s holds %04x:%04x, but the rule pins %04x:%04x there: the hardware moved",
			  d->address, d->vendor, d->device, (unsigned)m->rule->pin.vendor,
			  (unsigned)m->rule->pin.device);
	if (r >= 0 && m->rule && m->rule->sets_num_vfs)
		r = num_vfs_blockers(env, m);
	if (m->action != PLAN_BIND)
		return r;

	if (r >= 0 && (vfio || uio) && d->header != PCI_HEADER_ENDPOINT)
		r = block(b, n, "bridge", false,
			  "%s is a bridge (header type %s): %s does not drive bridges", d->address,
			  pci_header_to_string(d->header) ?: "unknown", m->target);
	if (r >= 0 && vfio && d->sriov_numvfs > 0)
		r = block(b, n, "pf-with-vfs", false,
			  "%s has %d virtual functions enabled: vfio-pci refuses a PF with VFs "
			  "(set sriov_numvfs to 0 first, or pass the VFs through)",
			  d->address, d->sriov_numvfs);
	if (r >= 0 && vfio) {
		if (h->n_iommu_units == 0 && !env->config->allow_noiommu)
			r = block(b, n, "no-iommu", false,
				  "no IOMMU is active, and the unsafe no-IOMMU mode is not allowed "
				  "(AllowNoIommu= in pcipassd.conf)");
		else if (h->n_iommu_units == 0 && h->noiommu != 1)
			r = block(b, n, "noiommu-off", false,
				  "no IOMMU is active and vfio's no-IOMMU mode is off "
				  "(vfio.enable_unsafe_noiommu_mode=1)");
		else if (h->n_iommu_units == 0 && h->lockdown && !streq(h->lockdown, "none"))
			r = block(b, n, "lockdown", false,
				  "the unsafe no-IOMMU mode is not used while the kernel is locked down");
		else if (h->n_iommu_units > 0 && d->iommu_group < 0)
			r = block(b, n, "no-iommu-group", false,
				  "%s is in no IOMMU group: vfio-pci cannot take it", d->address);
		else if (h->n_iommu_units > 0 && h->interrupt_remapping == 0 &&
			 !env->config->allow_unsafe_interrupts)
			r = block(b, n, "no-interrupt-remapping", false,
				  "the IOMMU does not remap interrupts, and AllowUnsafeInterrupts= is off");
		else if (h->n_iommu_units > 0 && h->interrupt_remapping == 0 &&
			 h->unsafe_interrupts == 0)
			r = block(b, n, "unsafe-interrupts-off", false,
				  "the IOMMU does not remap interrupts and vfio_iommu_type1's "
				  "allow_unsafe_interrupts is off: vfio would refuse the device "
				  "(AllowUnsafeInterrupts= allows it here; the module option must too)");
	}
	if (r >= 0 && uio && h->lockdown && !streq(h->lockdown, "none"))
		r = block(b, n, "lockdown", false,
			  "the kernel is locked down (%s): %s cannot be used; use vfio-pci",
			  h->lockdown, m->target);
	if (r >= 0 && uio_generic && f && f->intx_maskable == 0)
		r = block(b, n, "intx-unmaskable", false,
			  "%s cannot serve uio_pci_generic, whose interrupt handler masks the legacy "
			  "interrupt: %s; use vfio-pci", d->address,
			  f->no_intx ?: "it cannot mask its legacy interrupt (PCI 2.3 INTx disable)");
	avail = module_available(env, m->target);
	if (r >= 0 && avail == 0)
		r = block(b, n, "module-missing", false,
			  "the %s driver is neither built in nor an installed module", m->target);

	/* Safety guards: Force=yes overrides them (and the binder logs it). */
	if (r >= 0 && d->boot_vga == 1)
		r = block(b, n, "boot-vga", true,
			  "%s is the boot VGA device: the console would go dark", d->address);
	if (r >= 0 && f && f->block_in_use)
		r = block(b, n, "block-in-use", true, "%s serves %s", d->address, f->block_in_use);
	if (r >= 0 && f && f->net_in_use)
		r = block(b, n, "net-in-use", true, "%s is %s", d->address, f->net_in_use);
	/* Off a vfio driver, as a release: the kernel's unbind waits for the holder to let go,
	 * holding the device's lock meanwhile (journald, reading its uevent for the kernel's
	 * message about it, waits too). Force cannot make that safe. */
	if (r >= 0 && f && f->open_by && driver_is_vfio(d->driver))
		r = block(b, n, "device-open", false,
			  "%s is in use (%s): unbinding %s now would hang until it is closed",
			  d->address, f->open_by, d->driver);
	else if (r >= 0 && f && f->open_by)
		r = block(b, n, "device-open", true, "%s is in use: %s", d->address, f->open_by);
	return r;
}

static bool member_blocked(const struct plan_member *m)
{
	for (size_t i = 0; i < m->n_blockers; i++)
		if (!(m->blockers[i].forceable && m->forced))
			return true;
	return false;
}

/* The writes that carry out the i-th member's bind or release, in order. */
static int member_steps(struct plan_group *g, size_t i)
{
	struct plan_member *m = &g->members[i];
	bool loaded = false;

	if (m->action != PLAN_BIND && m->action != PLAN_RELEASE)
		return 0;
	/* A driver's module is loaded once per group, before the first member that goes to it
	 * (on a release: the driver it returns to may have been unloaded meanwhile). */
	for (size_t j = 0; j < i; j++)
		loaded = loaded || ((g->members[j].action == PLAN_BIND ||
				     g->members[j].action == PLAN_RELEASE) &&
				    streq(g->members[j].target, m->target));
	return plan_move_steps(&(struct plan_move){
		.address = m->address, .driver = m->dev->driver, .override = m->dev->driver_override,
		.to_driver = m->target, .to_override = m->target_override, .load_module = !loaded,
		/* A VF back to its VF driver: VF autoprobe may be off (pcipass turns it off). */
		.by_override = m->action == PLAN_RELEASE && m->dev->physfn,
	}, &m->steps, &m->n_steps);
}

/* What one function's own rule wants. */
static void member_intent(struct plan_member *m)
{
	const struct policy_rule *r = m->rule;
	const struct pcidev *d = m->dev;

	m->target = m->driver;
	if (!r || !d) {
		m->action = PLAN_LEAVE;
		return;
	}
	switch (r->target) {
	case POLICY_TARGET_DENY:
		m->action = PLAN_DENY;
		break;
	case POLICY_TARGET_HOST:
		if (driver_is_vfio(d->driver) || driver_is_uio(d->driver) ||
		    driver_is_vfio(d->driver_override) || driver_is_uio(d->driver_override)) {
			m->action = PLAN_RELEASE;
			m->target = NULL;
		} else
			m->action = PLAN_KEEP;
		break;
	case POLICY_TARGET_VFIO:
	case POLICY_TARGET_UIO:
		m->target = r->driver;
		m->action = streq(d->driver, r->driver) ? PLAN_KEEP : PLAN_BIND;
		break;
	}
	m->forced = r->force;
}

static const char *driver_after(const struct pcidev *d, void *userdata)
{
	const struct plan_group *g = userdata;

	for (size_t i = 0; i < g->n_members; i++)
		if (g->members[i].dev == d)
			return g->members[i].action == PLAN_RELEASE && !g->members[i].target ?
				HOST_DRIVER : g->members[i].target;
	return d->driver;
}

/* Claims the group's other members for a rule with Group=claim. */
static int claim_companions(const struct plan_env *env, struct plan_group *g,
			    const struct plan_member *owner)
{
	int r = 0;

	for (size_t i = 0; i < g->n_members && r >= 0; i++) {
		struct plan_member *c = &g->members[i];

		if (c == owner || !c->dev)
			continue;
		if (c->rule && c->rule != owner->rule) {
			if (c->rule->target != owner->rule->target ||
			    (c->rule->driver && !driver_is_vfio(c->rule->driver)))
				r = block(&g->blockers, &g->n_blockers, "companion-conflict", false,
					  "%s claims IOMMU group %lld, but %s has its own rule (%s:%u) "
					  "that says %s", owner->address, (long long)g->id, c->address,
					  c->rule->name, c->rule->line,
					  c->rule->driver ?: policy_target_to_string(c->rule->target));
			continue;
		}
		if (c->action != PLAN_LEAVE)
			continue;
		/* Bridges stay: pcieport keeps the group viable, and vfio-pci refuses bridges. */
		if (c->dev->header != PCI_HEADER_ENDPOINT)
			continue;
		if (is_host_bridge(c->dev)) {
			if (c->driver)
				r = block(&g->blockers, &g->n_blockers, "host-bridge", false,
					  "IOMMU group %lld holds host bridge %s (bound to %s): it "
					  "cannot be passed through", (long long)g->id, c->address,
					  c->driver);
			continue;
		}
		c->rule = owner->rule;
		c->companion = true;
		c->forced = owner->forced;
		c->target = c->target_override = owner->target;
		c->action = streq(c->driver, owner->target) ? PLAN_KEEP : PLAN_BIND;
	}
	return r;
}

static int plan_group_build(const struct plan_env *env, struct plan_group *g, int64_t id,
			    char *const *members, size_t n_members)
{
	const struct iommu_group *ig = id >= 0 ? model_find_group(env->model, (uint32_t)id) : NULL;
	bool wants_vfio = false, viable_required = false;
	const struct policy_rule *claim_rule = NULL;
	char where[512];
	int r = 0;

	g->id = id;
	g->members = new0(struct plan_member, n_members);
	if (!g->members)
		return -ENOMEM;
	for (size_t i = 0; i < n_members; i++) {
		struct plan_member *m = &g->members[g->n_members++];

		m->address = strdup(members[i]);
		if (!m->address)
			return -ENOMEM;
		m->dev = model_find(env->model, members[i]);
		m->driver = m->dev ? m->dev->driver : NULL;
		m->rule = m->dev ? policy_match(env->policy, m->dev) : NULL;
		member_intent(m);
		if (m->action == PLAN_BIND)
			m->target_override = m->target;
		else if (m->action == PLAN_RELEASE) {
			/* Back to what the claim recorded; without one, the kernel's choice. */
			const struct claim *c = plan_env_claim(env, m->address);

			m->target = c ? c->original_driver : NULL;
			m->target_override = c ? c->original_override : NULL;
		}
	}

	for (size_t i = 0; i < g->n_members && r >= 0; i++) {
		const struct plan_member *m = &g->members[i];

		if (m->rule && !m->companion && m->rule->target == POLICY_TARGET_VFIO &&
		    (m->action == PLAN_BIND || m->action == PLAN_KEEP) &&
		    m->rule->group == POLICY_GROUP_CLAIM && ig)
			r = claim_companions(env, g, m);
	}
	for (size_t i = 0; i < g->n_members && r >= 0; i++) {
		struct plan_member *m = &g->members[i];

		if (m->dev)
			r = member_blockers(env, m);
		if (r >= 0 && m->dev && driver_is_vfio(m->target) &&
		    (m->action == PLAN_BIND || m->action == PLAN_KEEP))
			r = reset_warnings(env, g, m);
		if (m->rule && m->rule->target == POLICY_TARGET_VFIO &&
		    (m->action == PLAN_BIND || m->action == PLAN_KEEP)) {
			wants_vfio = true;
			if (m->rule->group != POLICY_GROUP_ANY) {
				viable_required = true;
				if (!claim_rule || m->rule->group == POLICY_GROUP_CLAIM)
					claim_rule = m->rule;
			}
		}
	}
	if (r < 0)
		return r;

	if (ig) {
		g->viable_now = group_viable(env->model, ig, env->host->dma_ownership, driver_now,
					     NULL, &g->not_viable_now);
		g->viable_after = group_viable(env->model, ig, env->host->dma_ownership,
					       driver_after, g, &g->not_viable_after);
		/* What to change, in the words of where the claim came from: a policy file, or
		 * a request (pcipassctl claim, the Claim call). */
		if (wants_vfio && viable_required && !g->viable_after)
			r = block(&g->blockers, &g->n_blockers, "group-not-viable", false,
				  "IOMMU group %lld would not be viable: %s (%s wants the group "
				  "viable; %s)", (long long)id,
				  g->not_viable_after ?: "a member keeps a host driver",
				  rule_where(claim_rule, where, sizeof(where)),
				  claim_rule->line > 0 ?
				  "Group=claim moves the other members along, Group=any accepts a "
				  "group that is not" :
				  "claim the whole group: pcipassctl claim --group, or \"group\": true "
				  "in the Claim call");
	}
	if (r < 0)
		return r;

	g->blocked = g->n_blockers > 0;
	for (size_t i = 0; i < g->n_members; i++) {
		g->blocked = g->blocked || member_blocked(&g->members[i]);
		g->acts = g->acts || g->members[i].action == PLAN_BIND ||
			  g->members[i].action == PLAN_RELEASE;
	}
	/* The writes, only for a group that would be carried out. */
	for (size_t i = 0; i < g->n_members && !g->blocked && r >= 0; i++)
		if (g->members[i].dev)
			r = member_steps(g, i);
	return r;
}

static int plan_add_group(struct plan *p, const struct plan_env *env, int64_t id,
			  char *const *members, size_t n_members)
{
	struct plan_group *a = reallocarray_safe(p->groups, p->n_groups + 1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	p->groups = a;
	a[p->n_groups] = (struct plan_group){};
	r = plan_group_build(env, &a[p->n_groups], id, members, n_members);
	p->n_groups++;	/* freed by plan_done either way */
	return r;
}

/* Whether a start-up rule passes d's VFs through (VirtualFunctionOf= names d). */
static bool vfs_passed_through_at_boot(const struct policy *p, const struct pcidev *d)
{
	for (size_t k = 0; k < p->n_rules; k++) {
		const struct policy_rule *rule = p->rules[k];

		if (!rule->vf_of || rule->apply != POLICY_APPLY_BOOT ||
		    (rule->target != POLICY_TARGET_VFIO && rule->target != POLICY_TARGET_UIO))
			continue;
		for (char **g = rule->vf_of; *g; g++)
			if (fnmatch(*g, d->address, 0) == 0)
				return true;
	}
	return false;
}

static const struct plan_member *plan_member_find(const struct plan *p, const char *address,
						   const struct plan_group **ret_group)
{
	for (size_t i = 0; i < p->n_groups; i++)
		for (size_t k = 0; k < p->groups[i].n_members; k++)
			if (streq(p->groups[i].members[k].address, address)) {
				*ret_group = &p->groups[i];
				return &p->groups[i].members[k];
			}
	return NULL;
}

/* The VFs a start-up rule's NumVfs= wants on PF d, when that changes its count; else -1. */
static int num_vfs_wanted(const struct plan *p, const struct pcidev *d)
{
	const struct plan_group *g = NULL;
	const struct plan_member *pm = plan_member_find(p, d->address, &g);

	if (!pm || !pm->rule || !pm->rule->sets_num_vfs || pm->rule->apply != POLICY_APPLY_BOOT ||
	    pm->action != PLAN_KEEP || g->blocked || d->sriov_numvfs == pm->rule->num_vfs)
		return -1;	/* no such rule, the PF not on its driver, blocked, or in place */
	return pm->rule->num_vfs;
}

/*
 * The host's steps, PF by PF: VF autoprobe off where start-up rules pass its VFs through, then
 * the VF count NumVfs= wants (through 0 when it had others), so that no VF ever meets the host's
 * VF driver.
 */
static int host_steps_build(const struct plan_env *env, const char *only_address, struct plan *p)
{
	const struct model *m = env->model;
	int r = 0;

	for (size_t i = 0; i < m->n_devs && r >= 0; i++) {
		const struct pcidev *d = m->devs[i];
		int want;
		char n[8];

		if (only_address && !streq(only_address, d->address))
			continue;
		if (d->sriov_autoprobe == 1 && vfs_passed_through_at_boot(env->policy, d))
			r = step_write(&p->host_steps, &p->n_host_steps, d->address, NULL,
				       "sriov_drivers_autoprobe", "0");
		want = d->sriov_totalvfs > 0 ? num_vfs_wanted(p, d) : -1;
		if (r >= 0 && want >= 0 && d->sriov_numvfs > 0)
			r = step_write(&p->host_steps, &p->n_host_steps, d->address, NULL,
				       "sriov_numvfs", "0");
		if (r >= 0 && want > 0) {
			snprintf(n, sizeof(n), "%d", want);
			r = step_write(&p->host_steps, &p->n_host_steps, d->address, NULL,
				       "sriov_numvfs", n);
		}
	}
	return r;
}

int plan_build(const struct plan_env *env, const char *only_address, struct plan *ret)
{
	_cleanup_(plan_done) struct plan p = {};
	const struct model *m = env->model;
	int r = 0;

	if (only_address) {
		const struct pcidev *d = model_find(m, only_address);
		const struct iommu_group *g;

		if (!d)
			return -ENODEV;
		g = d->iommu_group >= 0 ? model_find_group(m, (uint32_t)d->iommu_group) : NULL;
		if (g)
			r = plan_add_group(&p, env, g->id, g->members, g->n_members);
		else
			r = plan_add_group(&p, env, -1, (char *const[]){ (char *)d->address }, 1);
	} else {
		for (size_t i = 0; i < m->n_groups && r >= 0; i++)
			r = plan_add_group(&p, env, m->groups[i].id, m->groups[i].members,
					   m->groups[i].n_members);
		for (size_t i = 0; i < m->n_devs && r >= 0; i++) {
			const struct pcidev *d = m->devs[i];

			if (d->iommu_group >= 0 && model_find_group(m, (uint32_t)d->iommu_group))
				continue;
			r = plan_add_group(&p, env, -1, (char *const[]){ (char *)d->address }, 1);
		}
	}
	if (r >= 0)
		r = host_steps_build(env, only_address, &p);
	if (r < 0)
		return r;
	*ret = p;
	p = (struct plan){};
	return 0;
}

/* --- JSON --------------------------------------------------------------------------------- */

static int blockers_to_json(const struct plan_blocker *b, size_t n, bool forced, json_object **ret)
{
	_cleanup_json_ json_object *a = json_object_new_array();

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		int r;

		if (!o || json_object_array_add(a, o) < 0) {
			(void)json_object_put(o);
			return -ENOMEM;
		}
		r = json_add_str(o, "code", b[i].code);
		if (r >= 0)
			r = json_add_str(o, "message", b[i].message);
		if (r >= 0)
			r = json_add_bool(o, "forceable", b[i].forceable);
		if (r >= 0)
			r = json_add_bool(o, "overridden", b[i].forceable && forced);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(a);
	return 0;
}

static int steps_to_json(const struct plan_step *steps, size_t n, json_object **ret)
{
	_cleanup_json_ json_object *a = json_object_new_array();
	int r;

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_new_object();

		if (!s || json_object_array_add(a, s) < 0) {
			(void)json_object_put(s);
			return -ENOMEM;
		}
		if (steps[i].op == PLAN_STEP_LOAD_MODULE) {
			r = json_add_str(s, "op", "load_module");
			if (r >= 0)
				r = json_add_str(s, "module", steps[i].value);
		} else {
			r = json_add_str(s, "op", "write");
			if (r >= 0)
				r = json_add_str(s, "path", steps[i].path);
			if (r >= 0)
				r = json_add_str(s, "value", steps[i].value);
		}
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(a);
	return 0;
}

static int rule_to_json(const struct policy_rule *rule, json_object **ret)
{
	struct json_build b = json_build_new();

	json_build_str(&b, "file", rule->path);
	json_build_int(&b, "line", rule->line);
	json_build_str(&b, "name", rule->name);
	json_build_str(&b, "description", rule->description);
	return json_build_done(&b, ret);
}

static int member_to_json(const struct plan_member *m, json_object **ret)
{
	struct json_build b = json_build_new();
	json_object *rule = NULL, *blockers = NULL, *steps = NULL;
	const struct pci_names *names = m->dev ? m->dev->names : NULL;

	json_build_str(&b, "address", m->address);
	json_build_opt_int(&b, "vendor_id", m->dev ? (int64_t)m->dev->vendor : -1);
	json_build_opt_int(&b, "device_id", m->dev ? (int64_t)m->dev->device : -1);
	json_build_str(&b, "vendor_name", names ? names->vendor : NULL);
	json_build_str(&b, "device_name", names ? names->device : NULL);
	json_build_str(&b, "driver", m->driver);
	json_build_str(&b, "target", m->target);
	json_build_str(&b, "action", plan_action_to_string(m->action));
	json_build_bool(&b, "companion", m->companion);
	if (b.r >= 0 && m->rule)
		b.r = rule_to_json(m->rule, &rule);
	json_build_add(&b, "rule", rule);
	json_build_str(&b, "apply", m->rule ? policy_apply_to_string(m->rule->apply) : NULL);
	json_build_str(&b, "pool", m->rule ? m->rule->pool : NULL);
	json_build_bool(&b, "force", m->rule && m->rule->force);
	if (b.r >= 0)
		b.r = blockers_to_json(m->blockers, m->n_blockers, m->forced, &blockers);
	json_build_add(&b, "blockers", blockers);
	if (b.r >= 0)
		b.r = steps_to_json(m->steps, m->n_steps, &steps);
	json_build_add(&b, "steps", steps);
	json_build_strv(&b, "reset_methods", m->dev ? m->dev->reset_methods : NULL, true);
	json_build_strv(&b, "warnings", m->warnings, false);
	return json_build_done(&b, ret);
}

static int group_to_json(const struct plan_group *g, json_object **ret)
{
	struct json_build jb = json_build_new();
	_cleanup_json_ json_object *o = NULL, *members = NULL;
	json_object *blockers = NULL;
	bool grouped = g->id >= 0;
	int r;

	if (grouped)
		json_build_int(&jb, "iommu_group", g->id);
	else
		json_build_add(&jb, "iommu_group", NULL);
	json_build_opt_bool(&jb, "viable", grouped ? g->viable_now : -1);
	json_build_opt_bool(&jb, "viable_after", grouped ? g->viable_after : -1);
	json_build_str(&jb, "not_viable_because", grouped ? g->not_viable_now : NULL);
	json_build_str(&jb, "not_viable_after_because", grouped ? g->not_viable_after : NULL);
	json_build_bool(&jb, "acts", g->acts);
	json_build_bool(&jb, "blocked", g->blocked);
	if (jb.r >= 0)
		jb.r = blockers_to_json(g->blockers, g->n_blockers, false, &blockers);
	json_build_add(&jb, "blockers", blockers);
	r = json_build_done(&jb, &o);
	if (r < 0)
		return r;
	members = json_object_new_array();
	if (!members)
		return -ENOMEM;
	for (size_t i = 0; i < g->n_members; i++) {
		json_object *m = NULL;

		r = member_to_json(&g->members[i], &m);
		if (r < 0)
			return r;
		if (json_object_array_add(members, m) < 0) {
			(void)json_object_put(m);
			return -ENOMEM;
		}
	}
	r = json_add(o, "members", TAKE_PTR(members));
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

int plan_to_json(const struct plan *p, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object(), *groups = json_object_new_array();
	_cleanup_json_ json_object *steps = NULL;
	int r;

	if (!o || !groups)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_groups; i++) {
		json_object *g = NULL;

		r = group_to_json(&p->groups[i], &g);
		if (r < 0)
			return r;
		if (json_object_array_add(groups, g) < 0) {
			(void)json_object_put(g);
			return -ENOMEM;
		}
	}
	r = json_add(o, "groups", TAKE_PTR(groups));
	if (r >= 0)
		r = steps_to_json(p->host_steps, p->n_host_steps, &steps);
	if (r >= 0)
		r = json_add(o, "host_steps", TAKE_PTR(steps));
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}
