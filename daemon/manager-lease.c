/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Leases: whole IOMMU groups given to one owner (a VM) from a pool or by address. Granting
 * claims the members not yet on their passthrough driver (one transaction per group, through
 * the job queue like any claim), checks the group viable, and gives its device nodes to the
 * lease's uid/gid. A lease ends when released (by id or owner), when the process it is tied to
 * exits (a pidfd), or when its devices go; then the nodes are root's again and the group stays
 * or goes back to the host as the pool's rule says (AfterLease=). Leases are kept in
 * STATE_DIR/leases.json, so that a restarted daemon keeps them; a reboot ends them all.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "errors.h"
#include "host.h"
#include "lib/json-util.h"
#include "lib/log.h"
#include "lib/varlink.h"
#include "lib/vmargs.h"
#include "manager.h"
#include "sysfs.h"

#define LEASES_FILE "leases.json"
#define LEASE_SETTLE_USEC (10U * 1000U * 1000U)

struct lease {
	struct manager *m;
	uint64_t id;
	char *owner, *pool;
	uint32_t uid, gid;		/* the device nodes' owner during the lease */
	uint32_t *groups;
	size_t n_groups;
	int64_t pid;			/* 0: not tied to a process */
	uint64_t pid_start;		/* its start time (/proc/PID/stat), against pid reuse */
	sd_event_source *pid_source;	/* the pidfd */
	uint64_t since_usec;		/* CLOCK_REALTIME */
	bool iommufd;			/* the QEMU arguments in the iommufd form */
	struct audit_caller caller;	/* who asked for it */
	bool granted;			/* else still claiming its groups */

	/* A group claimed while granting has a new device node, which udev gives root, mode
	 * 0600, once it has handled its event: the lease is granted after that event (or
	 * LEASE_SETTLE_USEC), so that the owner it sets is the last. */
	bool *claimed_now, *node_seen;	/* per group */
	sd_event_source *settle_timer;

	/* While granting. */
	unsigned pending;
	char *error;
	json_object *error_params;
	manager_done_fn done;
	void *userdata;
};

static struct lease *lease_free(struct lease *l)
{
	if (!l)
		return NULL;
	sd_event_source_disable_unref(l->pid_source);
	sd_event_source_disable_unref(l->settle_timer);
	free(l->claimed_now);
	free(l->node_seen);
	(void)json_object_put(l->error_params);
	free(l->error);
	free(l->owner);
	free(l->pool);
	free(l->groups);
	free(l);
	return NULL;
}

void manager_leases_free(struct manager *m)
{
	for (size_t i = 0; i < m->n_leases; i++) {
		struct lease *l = m->leases[i];

		/* A grant still claiming: its caller is told by the jobs' own shutdown. */
		if (!l->granted && l->done)
			l->done(l->userdata, ERROR_SYSTEM, NULL);
		lease_free(l);
	}
	m->leases = mfree(m->leases);
	m->n_leases = 0;
	free(m->boot_id);
	m->boot_id = NULL;
}

const struct lease *manager_group_lease(const struct manager *m, int64_t group)
{
	for (size_t i = 0; group >= 0 && i < m->n_leases; i++)
		for (size_t k = 0; k < m->leases[i]->n_groups; k++)
			if (m->leases[i]->groups[k] == group)
				return m->leases[i];
	return NULL;
}

bool lease_owner_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > LEASE_OWNER_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

const char *lease_owner(const struct lease *l)
{
	return l->owner;
}

uint64_t lease_id(const struct lease *l)
{
	return l->id;
}

static void lease_remove(struct manager *m, struct lease *l)
{
	for (size_t i = 0; i < m->n_leases; i++)
		if (m->leases[i] == l) {
			memmove(&m->leases[i], &m->leases[i + 1],
				(m->n_leases - i - 1) * sizeof(*m->leases));
			m->n_leases--;
			return;
		}
}

/* --- the process a lease is tied to ---------------------------------------------------------- */

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
static int proc_start_time(int64_t pid, uint64_t *ret)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%" PRIi64 "/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	/* The name (field 2) may hold anything, ")" too: fields resume after the last ")". */
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	for (unsigned field = 2; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EIO;
	}
	return sscanf(p + 1, "%" SCNu64, ret) == 1 ? 0 : -EIO;
}

static void lease_end(struct manager *m, struct lease *l, const char *reason,
		      const struct audit_caller *caller);

/* {"parameter": name}, InvalidParameter's parameters. */
static json_object *json_param(const char *name)
{
	return json_object_new_str_pair("parameter", name);
}

static void lease_refuse(struct lease *l, const char *error, json_object *params);

static int on_pid_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct lease *l = userdata;

	log_debug("Lease %" PRIu64 ": process %" PRIi64 " exited", l->id, l->pid);
	if (l->granted) {
		lease_end(l->m, l, "process-exited", NULL);
		return 0;
	}
	/* While it waited for udev: the caller is told, the groups go back. */
	l->pid_source = sd_event_source_disable_unref(l->pid_source);
	lease_refuse(l, VARLINK_ERROR_INVALID_PARAMETER, json_param("pid"));
	return 0;
}

/* Watches l's process through a pidfd: -ESRCH when it is gone (or its pid is another's now). */
static int lease_watch_pid(struct lease *l)
{
	uint64_t start;
	int fd, r;

	fd = (int)syscall(SYS_pidfd_open, (pid_t)l->pid, 0);
	if (fd < 0)
		return -errno;
	/* Opened first, compared after: the pidfd is of the process that started then. */
	r = proc_start_time(l->pid, &start);
	if (r >= 0 && start != l->pid_start)
		r = -ESRCH;
	if (r >= 0)
		r = sd_event_add_io(l->m->event, &l->pid_source, fd, EPOLLIN, on_pid_exit, l);
	if (r < 0) {
		(void)close(fd);
		return r;
	}
	(void)sd_event_source_set_io_fd_own(l->pid_source, true);
	return 0;
}

/* --- device nodes ---------------------------------------------------------------------------- */

/* The nodes of a group a VM opens: /dev/vfio/N (or noiommu-N), each member's vfio cdev, and
 * the uio nodes of members on uio_pci_generic. */
static int group_nodes(struct manager *m, uint32_t group, char ***nodes, size_t *n)
{
	const struct iommu_group *g = model_find_group(&m->model, group);
	char *path = NULL;
	int r;

	for (unsigned noiommu = 0; noiommu < 2 && !path; noiommu++) {
		if (asprintf(&path, noiommu ? "%s/vfio/noiommu-%u" : "%s/vfio/%u", m->dev_root,
			     group) < 0)
			return -ENOMEM;
		if (!path_exists(path))
			path = mfree(path);
	}
	if (path && (r = strv_push(nodes, n, path)) < 0)
		return r;
	for (size_t i = 0; g && i < g->n_members; i++) {
		const struct pcidev *d = model_find(&m->model, g->members[i]);
		_cleanup_strv_free_ char **names = NULL;
		_cleanup_close_ int dir = -EBADF;
		const char *sub = d && driver_is_vfio(d->driver) ? "vfio-dev" :
				  d && driver_is_uio(d->driver) ? "uio" : NULL;

		if (!sub)
			continue;
		dir = sysfs_pci_open(m->sysfs, d->address, sub);
		if (dir < 0 || sysfs_list_at(dir, ".", &names, NULL) < 0)
			continue;
		for (char **k = names; *k; k++) {
			if (asprintf(&path, streq(sub, "uio") ? "%s/%s" : "%s/vfio/devices/%s",
				     m->dev_root, *k) < 0)
				return -ENOMEM;
			/* Linux 6.1 lists vfio-dev in sysfs, but has the cdev only from 6.6
			 * (CONFIG_VFIO_DEVICE_CDEV): a node that is not there is not named. */
			if (!path_exists(path)) {
				path = mfree(path);
				continue;
			}
			r = strv_push(nodes, n, path);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int lease_nodes(struct lease *l, char ***ret)
{
	char **nodes = new0(char *, 1);
	size_t n = 0;
	int r = nodes ? 0 : -ENOMEM;

	for (size_t i = 0; r >= 0 && i < l->n_groups; i++)
		r = group_nodes(l->m, l->groups[i], &nodes, &n);
	if (r < 0) {
		strv_free(nodes);
		return r;
	}
	*ret = nodes;
	return 0;
}

/*
 * Gives a device node to uid:gid with mode, through one O_PATH descriptor so that what is
 * checked is what is changed: never through a symlink, never a directory. (The fake kernel's
 * nodes are regular files; a real /dev/vfio holds character devices only.)
 */
static int node_own(const char *path, uint32_t uid, uint32_t gid, mode_t mode)
{
	_cleanup_close_ int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	char proc[STRLEN("/proc/self/fd/") + DECIMAL_STR_MAX(int)];
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	if (!S_ISCHR(st.st_mode) && !S_ISREG(st.st_mode))
		return -ENOTTY;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0 || chmod(proc, mode) < 0)
		return -errno;
	return 0;
}

/* The lease's nodes to its user (granted) or back to root, mode 0600. */
static void lease_own_nodes(struct lease *l, bool give)
{
	_cleanup_strv_free_ char **nodes = NULL;

	if (lease_nodes(l, &nodes) < 0)
		return;
	for (char **p = nodes; *p; p++) {
		int r = give ? node_own(*p, l->uid, l->gid, 0660) : node_own(*p, 0, 0, 0600);

		if (r < 0 && r != -ENOENT)
			log_warning_errno(r, "Lease %" PRIu64 ": failed to give %s to %s: %m", l->id, *p,
					  give ? "the lease's user" : "root");
	}
}

/* --- the state file -------------------------------------------------------------------------- */

static int read_boot_id(char **ret)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	char buf[64];

	if (!f || !fgets(buf, sizeof(buf), f))
		return -errno ?: -EIO;
	*ret = strdup(strstrip_trailing(buf));
	return *ret ? 0 : -ENOMEM;
}

static int lease_record_json(const struct lease *l, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object(), *groups = json_object_new_array();
	char id[24];
	int r;

	if (!o || !groups)
		return -ENOMEM;
	for (size_t i = 0; i < l->n_groups; i++)
		if (json_object_array_add(groups, json_object_new_int64(l->groups[i])) < 0)
			return -ENOMEM;
	snprintf(id, sizeof(id), "%" PRIu64, l->id);
	r = json_add_str(o, "id", id);
	if (r >= 0)
		r = json_add_str(o, "owner", l->owner);
	if (r >= 0)
		r = json_add_str(o, "pool", l->pool);
	if (r >= 0)
		r = json_add(o, "groups", TAKE_PTR(groups));
	if (r >= 0)
		r = json_add_int(o, "uid", l->uid);
	if (r >= 0)
		r = json_add_int(o, "gid", l->gid);
	if (r >= 0)
		r = l->pid ? json_add_int(o, "pid", l->pid) : json_add_null(o, "pid");
	if (r >= 0)
		r = json_add_int(o, "since_usec", (int64_t)l->since_usec);
	if (r >= 0)
		r = json_add_bool(o, "iommufd", l->iommufd);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

/* Writes every granted lease to STATE_DIR/leases.json (atomically). */
static int leases_save(struct manager *m)
{
	_cleanup_json_ json_object *o = json_object_new_object(), *a = json_object_new_array();
	_cleanup_free_ char *path = NULL;
	const char *text;
	int r;

	if (!o || !a || asprintf(&path, "%s/" LEASES_FILE, m->state_dir) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_leases; i++) {
		const struct lease *l = m->leases[i];
		json_object *lj = NULL;

		if (!l->granted)
			continue;
		r = lease_record_json(l, &lj);
		if (r >= 0 && l->pid)
			r = json_add_int(lj, "pid_start", (int64_t)l->pid_start);
		if (r < 0 || json_object_array_add(a, lj) < 0) {
			(void)json_object_put(lj);
			return r < 0 ? r : -ENOMEM;
		}
	}
	r = json_add_str(o, "boot_id", m->boot_id);
	if (r >= 0)
		r = json_add_int(o, "next_id", (int64_t)m->next_lease_id);
	if (r >= 0)
		r = json_add(o, "leases", TAKE_PTR(a));
	if (r < 0)
		return r;
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text)
		return -ENOMEM;
	r = write_file_atomic(path, text, strlen(text), 0600, false);
	if (r < 0)
		log_error_errno(r, "Failed to write the leases to '%s': %m", path);
	return r;
}

/* --- what a lease looks like to its user -------------------------------------------------------- */

/* The passed-through functions of the groups (bridges stay behind), sorted. */
static int lease_functions(struct manager *m, const uint32_t *groups, size_t n_groups,
			   char ***ret)
{
	char **v = new0(char *, 1);
	size_t n = 0;
	int r = v ? 0 : -ENOMEM;

	for (size_t i = 0; r >= 0 && i < n_groups; i++) {
		const struct iommu_group *g = model_find_group(&m->model, groups[i]);

		for (size_t k = 0; r >= 0 && g && k < g->n_members; k++) {
			const struct pcidev *d = model_find(&m->model, g->members[k]);
			char *a;

			if (!d || d->header == PCI_HEADER_BRIDGE)
				continue;
			a = strdup(d->address);
			r = a ? strv_push(&v, &n, a) : -ENOMEM;
		}
	}
	if (r < 0) {
		strv_free(v);
		return r;
	}
	qsort(v, n, sizeof(char *), pci_addr_compare_ptr);
	*ret = v;
	return 0;
}

int manager_vm_args_json(struct manager *m, char *const *addresses, bool iommufd, json_object *o)
{
	size_t n = strv_length(addresses);
	_cleanup_free_ struct vm_function *f = new0(struct vm_function, n ?: 1);
	_cleanup_strv_free_ char **qemu = NULL, **cdevs = NULL;
	_cleanup_free_ char *libvirt = NULL, *proxmox = NULL;
	json_object *a;
	int r;

	cdevs = new0(char *, n + 1);
	if (!f || !cdevs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		_cleanup_strv_free_ char **names = NULL;
		_cleanup_close_ int dir = sysfs_pci_open(m->sysfs, addresses[i], "vfio-dev");
		size_t in_slot = 0, listed = 0;

		/* The iommufd form opens /dev/vfio/devices/vfioX: only where the node exists. */
		if (dir >= 0 && sysfs_list_at(dir, ".", &names, NULL) >= 0 && names[0]) {
			_cleanup_free_ char *node = NULL;

			if (asprintf(&node, "%s/vfio/devices/%s", m->dev_root, names[0]) < 0)
				return -ENOMEM;
			if (path_exists(node) && !(cdevs[i] = strdup(names[0])))
				return -ENOMEM;
		}
		/* Every function of the host device listed: Proxmox may name the device. */
		for (size_t k = 0; k < m->model.n_devs; k++)
			if (streq(m->model.devs[k]->address, addresses[i]) ||
			    pci_addr_same_slot(m->model.devs[k]->address, addresses[i]))
				in_slot++;
		for (size_t k = 0; k < n; k++)
			if (streq(addresses[k], addresses[i]) ||
			    pci_addr_same_slot(addresses[k], addresses[i]))
				listed++;
		f[i] = (struct vm_function){ .address = addresses[i], .cdev = cdevs[i],
					     .whole_device = listed == in_slot };
	}
	r = vm_args_qemu(f, n, iommufd, &qemu);
	if (r >= 0)
		r = vm_args_libvirt(f, n, &libvirt);
	if (r >= 0)
		r = vm_args_proxmox(f, n, &proxmox);
	if (r < 0)
		return r;
	a = strv_to_json(qemu);
	if (!a)
		return -ENOMEM;
	r = json_add(o, "qemu", a);
	if (r >= 0)
		r = json_add_str(o, "libvirt", libvirt);
	if (r >= 0)
		r = json_add_str(o, "proxmox", proxmox);
	return r;
}

/* The Lease type: the record, the devices and nodes as they are now, and the VM arguments. */
static int lease_to_json(struct lease *l, bool with_args, json_object **ret)
{
	struct manager *m = l->m;
	_cleanup_json_ json_object *o = NULL, *devices = json_object_new_array(), *nodes = NULL;
	_cleanup_strv_free_ char **functions = NULL, **node_paths = NULL;
	const struct policy_rule *rule = NULL;
	int r;

	if (!devices)
		return -ENOMEM;
	r = lease_record_json(l, &o);
	if (r >= 0)
		r = lease_functions(m, l->groups, l->n_groups, &functions);
	if (r >= 0)
		r = lease_nodes(l, &node_paths);
	for (char **p = functions; r >= 0 && *p; p++) {
		const struct pcidev *d = model_find(&m->model, *p);
		json_object *dj = json_object_new_object();

		if (!dj || json_object_array_add(devices, dj) < 0) {
			(void)json_object_put(dj);
			return -ENOMEM;
		}
		rule = rule ?: policy_match(&m->policy, d);
		r = json_add_str(dj, "address", d->address);
		if (r >= 0)
			r = json_add_int(dj, "vendor_id", d->vendor);
		if (r >= 0)
			r = json_add_int(dj, "device_id", d->device);
		if (r >= 0)
			r = json_add_int(dj, "class", d->class);
		if (r >= 0)
			r = json_add_str(dj, "driver", d->driver);
		if (r >= 0)
			r = json_add_int(dj, "iommu_group", d->iommu_group);
	}
	if (r >= 0)
		r = json_add(o, "devices", TAKE_PTR(devices));
	if (r >= 0) {
		nodes = strv_to_json(node_paths);
		r = nodes ? json_add(o, "device_nodes", TAKE_PTR(nodes)) : -ENOMEM;
	}
	if (r >= 0)
		r = json_add_str(o, "after", policy_after_lease_to_string(
					 rule && rule->pool ? rule->after_lease : POLICY_AFTER_LEASE_KEEP));
	if (r >= 0)
		r = json_add_bool(o, "granted", l->granted);
	if (r >= 0 && with_args) {
		/* Only functions on vfio go to QEMU (a uio lease has its nodes, and no QEMU). */
		_cleanup_strv_free_ char **vfio = new0(char *, strv_length(functions) + 1);
		size_t n = 0;

		if (!vfio)
			return -ENOMEM;
		for (char **p = functions; *p; p++)
			if (driver_is_vfio(model_find(&m->model, *p)->driver) && !(vfio[n++] = strdup(*p)))
				return -ENOMEM;
		r = manager_vm_args_json(m, vfio, l->iommufd, o);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

/* --- logging and events ---------------------------------------------------------------------- */

static void lease_log(const struct lease *l, int priority, const char *what, const char *reason,
		      const struct audit_caller *caller)
{
	char groups[256] = "", by[96];
	struct audit a = {};
	size_t off = 0;

	for (size_t i = 0; i < l->n_groups && off < sizeof(groups) - 12; i++) {
		off += (size_t)snprintf(groups + off, sizeof(groups) - off, "%s%u", i ? " " : "",
					l->groups[i]);
		audit_add(&a, "IOMMU_GROUP=%u", l->groups[i]);
	}
	for (size_t i = 0; i < l->n_groups; i++) {
		const struct iommu_group *g = model_find_group(&l->m->model, l->groups[i]);

		for (size_t k = 0; g && k < g->n_members; k++)
			audit_add(&a, "PCI_SLOT_NAME=%s", g->members[k]);
	}
	audit_add(&a, "PCIPASS_ACTION=lease-%s", what);
	audit_add(&a, "PCIPASS_LEASE=%" PRIu64, l->id);
	audit_add(&a, "PCIPASS_OWNER=%s", l->owner);
	if (l->pool)
		audit_add(&a, "PCIPASS_POOL=%s", l->pool);
	audit_add(&a, "PCIPASS_LEASE_UID=%" PRIu32, l->uid);
	audit_add(&a, "PCIPASS_LEASE_GID=%" PRIu32, l->gid);
	if (reason)
		audit_add(&a, "PCIPASS_REASON=%s", reason);
	audit_add_caller(&a, caller);
	audit_emit(&a, priority, PCIPASS_MESSAGE_LEASE,
		   "Lease %" PRIu64 " of %s for %s: %s (IOMMU groups %s, uid %" PRIu32 ", gid %" PRIu32
		   ", %s%s%s)", l->id, l->pool ?: "addresses", l->owner, what, groups, l->uid, l->gid,
		   audit_caller_string(caller, by, sizeof(by)), reason ? "; " : "", reason ?: "");
}

static void lease_event(struct lease *l, const char *progress, const char *reason)
{
	struct manager *m = l->m;
	_cleanup_json_ json_object *ev = NULL;
	json_object *lj = NULL;

	manager_status_update(m);
	if (m->n_monitors == 0)
		return;
	ev = json_object_new_object();
	if (!ev || lease_to_json(l, false, &lj) < 0)
		return;
	if (json_add_str(ev, "action", "lease") < 0 || json_add_str(ev, "progress", progress) < 0 ||
	    json_add(ev, "lease", lj) < 0 || json_add_str(ev, "reason", reason) < 0)
		return;
	manager_monitor_send_event(m, TAKE_PTR(ev));
}

/* --- ending ---------------------------------------------------------------------------------- */

static void after_release_done(void *userdata, const char *error, json_object *params)
{
	if (error)
		log_warning("Returning a group to the host after its lease failed: %s", error);
	(void)json_object_put(params);
}

/* What AfterLease= says for a group: the pool rule of its members. */
static enum policy_after_lease group_after(struct manager *m, uint32_t group, const char **first)
{
	const struct iommu_group *g = model_find_group(&m->model, group);

	*first = NULL;
	for (size_t i = 0; g && i < g->n_members; i++) {
		const struct pcidev *d = model_find(&m->model, g->members[i]);
		const struct policy_rule *r = d ? policy_match(&m->policy, d) : NULL;

		if (d && !*first && d->header != PCI_HEADER_BRIDGE)
			*first = d->address;
		if (r && r->pool)
			return r->after_lease;
	}
	return POLICY_AFTER_LEASE_KEEP;
}

/* Ends a granted lease: nodes back to root, the state file, the event, AfterLease=. */
static void lease_end(struct manager *m, struct lease *l, const char *reason,
		      const struct audit_caller *caller)
{
	lease_own_nodes(l, false);
	lease_remove(m, l);
	(void)leases_save(m);
	lease_log(l, LOG_INFO, "ended", reason, caller);
	lease_event(l, "ended", reason);
	for (size_t i = 0; i < l->n_groups; i++) {
		const char *first;

		if (group_after(m, l->groups[i], &first) != POLICY_AFTER_LEASE_RELEASE || !first ||
		    m->read_only || m->disabled)
			continue;
		if (manager_request(m, &(struct manager_request){
					    .address = (char *)first, .release = true,
					    .caller = caller ? *caller : (struct audit_caller){} },
				    after_release_done, NULL) < 0)
			log_warning("Lease %" PRIu64 ": failed to queue the release of group %u",
				    l->id, l->groups[i]);
	}
	lease_free(l);
}

int manager_lease_release(struct manager *m, const char *id, const char *owner,
			  const struct audit_caller *caller, json_object **ret)
{
	_cleanup_json_ json_object *a = json_object_new_array();
	int r;

	if (!a)
		return -ENOMEM;
	for (size_t i = m->n_leases; i > 0; i--) {
		struct lease *l = m->leases[i - 1];
		char lid[24];
		json_object *lj = NULL;

		snprintf(lid, sizeof(lid), "%" PRIu64, l->id);
		if (!l->granted || (id && !streq(id, lid)) || (owner && !streq(owner, l->owner)))
			continue;
		r = lease_to_json(l, false, &lj);
		if (r >= 0 && json_object_array_add(a, lj) < 0)
			r = -ENOMEM;
		if (r < 0) {
			(void)json_object_put(lj);
			return r;
		}
		lease_end(m, l, "released", caller);
	}
	if (json_object_array_length(a) == 0)
		return -ESRCH;
	*ret = TAKE_PTR(a);
	return 0;
}

void manager_leases_check(struct manager *m)
{
	for (size_t i = m->n_leases; i > 0; i--) {
		struct lease *l = m->leases[i - 1];
		bool gone = false;

		for (size_t k = 0; l->granted && k < l->n_groups; k++) {
			const struct iommu_group *g = model_find_group(&m->model, l->groups[k]);

			gone = gone || !g || g->n_members == 0;
		}
		if (gone)
			lease_end(m, l, "device-removed", NULL);
	}
}

/* --- granting -------------------------------------------------------------------------------- */

/* Why a group of the request is not available, or that it is (code NULL). */
struct candidate {
	uint32_t group;
	const char *first;		/* its first non-bridge member: the claim's address */
	const struct policy_rule *rule;	/* its pool rule, NULL for a group named by address */
	bool claimed;			/* every member in place already */
	int numa_node;
	const char *code;		/* NULL: available */
	char *reason;
	const struct lease *leased;
};

static void candidates_free(struct candidate *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].reason);
	free(c);
}

static int candidate_refuse(struct candidate *c, const char *code, const char *fmt, ...)
	_printf_(3, 4);
static int candidate_refuse(struct candidate *c, const char *code, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vasprintf(&c->reason, fmt, ap);
	va_end(ap);
	if (k < 0) {
		c->reason = NULL;
		return -ENOMEM;
	}
	c->code = code;
	return 0;
}

/* Decides whether c's group can be leased now: not leased, pins hold, its claim plan is not
 * blocked, and nobody holds it open. */
static int candidate_check(struct manager *m, struct candidate *c, enum plan_purpose purpose)
{
	_cleanup_(manager_plan_done) struct manager_plan mp = {};
	const struct iommu_group *g = model_find_group(&m->model, c->group);
	const struct plan_group *pg;
	const char *driver = c->rule && c->rule->driver ? c->rule->driver : "vfio-pci";
	int r;

	c->leased = manager_group_lease(m, c->group);
	if (c->leased)
		return candidate_refuse(c, "leased", "leased to %s (lease %" PRIu64 ")",
					c->leased->owner, c->leased->id);
	if (!c->first)
		return candidate_refuse(c, "no-function", "group %u has no function to pass through",
					c->group);
	for (size_t i = 0; g && i < g->n_members; i++) {
		const struct pcidev *d = model_find(&m->model, g->members[i]);
		const struct policy_rule *pr = d ? policy_match(&m->policy, d) : NULL;

		if (pr && pr->pinned &&
		    (pr->pin.vendor != (int32_t)d->vendor || pr->pin.device != (int32_t)d->device))
			return candidate_refuse(c, "pin-mismatch",
						"%s holds %04x:%04x, but %s pins %04x:%04x there: "
						"the hardware moved", d->address, d->vendor, d->device,
						pr->name, (unsigned)pr->pin.vendor,
						(unsigned)pr->pin.device);
	}
	r = manager_request_plan(m, &(struct manager_request){ .address = (char *)c->first,
							       .driver = (char *)driver, .group = true },
				 purpose, &mp);
	if (r < 0)
		return r;
	pg = &mp.plan.groups[0];
	for (size_t i = 0; pg->blocked && i <= pg->n_members; i++) {
		const struct plan_blocker *b = i < pg->n_members ? pg->members[i].blockers : pg->blockers;

		if ((i < pg->n_members ? pg->members[i].n_blockers : pg->n_blockers) > 0)
			return candidate_refuse(c, b[0].code, "%s", b[0].message);
	}
	for (size_t i = 0; i < pg->n_members; i++) {
		const struct device_facts *f = device_facts_find(mp.facts.devs, mp.facts.n_devs,
								 pg->members[i].address);

		if (f && f->open_by)
			return candidate_refuse(c, "device-open", "%s is in use: %s",
						pg->members[i].address, f->open_by);
	}
	c->claimed = !pg->acts && pg->viable_after;
	if (!pg->acts && !pg->viable_after)
		return candidate_refuse(c, "not-viable", "%s", pg->not_viable_after ?: "not viable");
	return 0;
}

static int candidate_cmp(const void *a, const void *b, void *userdata)
{
	const struct candidate *x = a, *y = b;
	const int *numa = userdata;

	if (!x->code != !y->code)
		return x->code ? 1 : -1;		/* available first */
	if (x->claimed != y->claimed)
		return x->claimed ? -1 : 1;		/* no rebinding at VM start */
	if (*numa >= 0 && (x->numa_node == *numa) != (y->numa_node == *numa))
		return x->numa_node == *numa ? -1 : 1;
	return pci_addr_compare(x->first ?: "", y->first ?: "");
}

static int candidate_add(struct manager *m, struct candidate **v, size_t *n, uint32_t group,
			 const struct policy_rule *rule)
{
	const struct iommu_group *g = model_find_group(&m->model, group);
	struct candidate *a;

	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].group == group)
			return 0;
	a = reallocarray_safe(*v, *n + 1, sizeof(**v));
	if (!a)
		return -ENOMEM;
	*v = a;
	a[*n] = (struct candidate){ .group = group, .rule = rule, .numa_node = -1 };
	for (size_t i = 0; g && i < g->n_members; i++) {
		const struct pcidev *d = model_find(&m->model, g->members[i]);

		if (d && d->header != PCI_HEADER_BRIDGE && !a[*n].first) {
			a[*n].first = d->address;
			a[*n].numa_node = d->numa_node;
		}
	}
	(*n)++;
	return 0;
}

/* The pool's groups: those with a member whose deciding rule names the pool. */
static int pool_candidates(struct manager *m, const char *pool, struct candidate **ret,
			   size_t *ret_n)
{
	struct candidate *v = NULL;
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < m->model.n_devs; i++) {
		const struct pcidev *d = m->model.devs[i];
		const struct policy_rule *rule = policy_match(&m->policy, d);

		if (rule && streq(rule->pool, pool) && d->iommu_group >= 0)
			r = candidate_add(m, &v, &n, (uint32_t)d->iommu_group, rule);
	}
	if (r < 0) {
		candidates_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int candidates_json(const struct candidate *c, size_t n, const struct manager *m,
			   json_object **ret)
{
	_cleanup_json_ json_object *a = json_object_new_array();
	int r = a ? 0 : -ENOMEM;

	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct iommu_group *g = model_find_group(&m->model, c[i].group);
		json_object *o = json_object_new_object(), *members = json_object_new_array();

		if (!o || !members || json_object_array_add(a, o) < 0) {
			(void)json_object_put(o);
			(void)json_object_put(members);
			return -ENOMEM;
		}
		for (size_t k = 0; g && k < g->n_members; k++)
			if (json_object_array_add(members, json_object_new_string(g->members[k])) < 0)
				r = -ENOMEM;
		if (r >= 0)
			r = json_add_int(o, "iommu_group", c[i].group);
		if (r >= 0)
			r = json_add(o, "members", members);
		else
			(void)json_object_put(members);
		if (r >= 0)
			r = json_add_bool(o, "available", !c[i].code);
		if (r >= 0)
			r = json_add_str(o, "code", c[i].code);
		if (r >= 0)
			r = json_add_str(o, "reason", c[i].reason);
		if (r >= 0)
			r = json_add_str(o, "leased_by", c[i].leased ? c[i].leased->owner : NULL);
		if (r >= 0 && c[i].leased) {
			char id[24];

			snprintf(id, sizeof(id), "%" PRIu64, c[i].leased->id);
			r = json_add_str(o, "lease", id);
		} else if (r >= 0)
			r = json_add_null(o, "lease");
		if (r >= 0)
			r = c[i].numa_node >= 0 ? json_add_int(o, "numa_node", c[i].numa_node) :
						  json_add_null(o, "numa_node");
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(a);
	return 0;
}

static void lease_grant(struct lease *l);

/*
 * A lease that is not granted after all: its reservation ends, the groups it claimed for
 * itself go back to the host (the host had them before it asked), and the caller is told.
 * Takes params; frees l.
 */
static void lease_refuse(struct lease *l, const char *error, json_object *params)
{
	struct manager *m = l->m;
	manager_done_fn done = TAKE_PTR(l->done);

	l->settle_timer = sd_event_source_disable_unref(l->settle_timer);
	lease_remove(m, l);
	lease_log(l, LOG_NOTICE, "refused", error, &l->caller);
	for (size_t i = 0; i < l->n_groups && !m->read_only && !m->disabled; i++) {
		const struct iommu_group *g = l->claimed_now[i] ?
					      model_find_group(&m->model, l->groups[i]) : NULL;

		for (size_t k = 0; g && k < g->n_members; k++) {
			const struct pcidev *d = model_find(&m->model, g->members[k]);

			if (!d || d->header == PCI_HEADER_BRIDGE)
				continue;
			if (manager_request(m, &(struct manager_request){
						    .address = (char *)d->address, .release = true,
						    .caller = l->caller },
					    after_release_done, NULL) < 0)
				log_warning("Lease %" PRIu64 ": failed to queue the release of group %u",
					    l->id, l->groups[i]);
			break;
		}
	}
	if (done)
		done(l->userdata, error, params);
	else
		(void)json_object_put(params);
	lease_free(l);
}

static int on_settle_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct lease *l = userdata;

	log_warning("Lease %" PRIu64 ": udev did not report the new device nodes within %u s; "
		    "granting it all the same", l->id, LEASE_SETTLE_USEC / 1000000U);
	lease_grant(l);
	return 0;
}

void manager_lease_node_event(struct manager *m, int64_t group)
{
	struct lease *l = (struct lease *)manager_group_lease(m, group);
	bool all = true;

	if (!l)
		return;
	for (size_t i = 0; i < l->n_groups; i++) {
		if (l->groups[i] == group)
			l->node_seen[i] = true;
		all = all && (!l->claimed_now[i] || l->node_seen[i]);
	}
	if (l->granted)
		lease_own_nodes(l, true);	/* udev set the node's mode: set ours again */
	else if (l->settle_timer && all)
		lease_grant(l);
}

/* Every claim of the grant has ended (or there were none): check, then grant. */
static void lease_finish(struct lease *l)
{
	struct manager *m = l->m;
	_cleanup_(host_facts_done) struct host_facts h = HOST_FACTS_INIT;
	manager_done_fn done = l->done;
	void *userdata = l->userdata;
	int r = 0;

	l->done = NULL;
	(void)host_facts_read(m->sysfs, &h);
	/* Every member on its passthrough driver, and a vfio group viable by the kernel's rule,
	 * as sysfs shows it now. */
	for (size_t i = 0; !l->error && i < l->n_groups; i++) {
		const struct iommu_group *g = model_find_group(&m->model, l->groups[i]);
		_cleanup_free_ char *why = NULL;
		json_object *p;

		for (size_t k = 0; g && k < g->n_members && !why; k++) {
			const struct pcidev *d = model_find(&m->model, g->members[k]);

			if (d && d->header != PCI_HEADER_BRIDGE &&
			    !driver_is_vfio(d->driver) && !driver_is_uio(d->driver) &&
			    asprintf(&why, "%s is %s%s, not on a passthrough driver", d->address,
				     d->driver ? "on " : "", d->driver ?: "unbound") < 0)
				why = NULL;
		}
		if (!g)
			why = strdup("the group is gone");
		else if (!why && !group_viable(&m->model, g, h.dma_ownership, NULL, NULL, &why))
			why = why ?: strdup("not viable");
		if (!why)
			continue;
		p = json_object_new_object();
		if (p && (json_add_int(p, "iommu_group", l->groups[i]) < 0 ||
			  json_add_str(p, "reason", why) < 0)) {
			(void)json_object_put(p);
			p = NULL;
		}
		l->error = strdup(ERROR_NOT_VIABLE);
		l->error_params = p;
	}
	if (!l->error && l->pid) {
		r = lease_watch_pid(l);
		if (r < 0) {
			l->error = strdup(VARLINK_ERROR_INVALID_PARAMETER);
			l->error_params = json_param("pid");
		}
	}
	l->done = done;
	l->userdata = userdata;
	if (l->error) {
		_cleanup_free_ char *error = TAKE_PTR(l->error);

		lease_refuse(l, error, TAKE_PTR(l->error_params));
		return;
	}
	for (size_t i = 0; i < l->n_groups; i++)
		if (l->claimed_now[i] && !l->node_seen[i]) {
			/* udev has yet to handle the new node: grant when it has. */
			r = sd_event_add_time_relative(m->event, &l->settle_timer, CLOCK_MONOTONIC,
						       LEASE_SETTLE_USEC, 0, on_settle_timeout, l);
			if (r >= 0)
				return;
			break;
		}
	lease_grant(l);
}

static void lease_grant(struct lease *l)
{
	struct manager *m = l->m;
	manager_done_fn done = TAKE_PTR(l->done);
	void *userdata = l->userdata;
	json_object *lj = NULL, *p;
	int r;

	l->settle_timer = sd_event_source_disable_unref(l->settle_timer);
	/* Its devices may have gone while it waited for udev. */
	for (size_t i = 0; i < l->n_groups; i++)
		if (!model_find_group(&m->model, l->groups[i])) {
			l->done = done;
			p = json_object_new_object();
			if (p && (json_add_int(p, "iommu_group", l->groups[i]) < 0 ||
				  json_add_str(p, "reason", "the group is gone") < 0))
				p = (json_object_put(p), NULL);
			lease_refuse(l, ERROR_NOT_VIABLE, p);
			return;
		}
	l->granted = true;
	l->since_usec = now_realtime_usec();
	/* The reply first: what it cannot say (the iommufd form without vfio cdevs, too many
	 * guest slots) refuses the lease rather than granting one its caller never hears of. */
	r = lease_to_json(l, true, &lj);
	if (r < 0) {
		l->granted = false;
		l->done = done;
		lease_refuse(l, r == -ENOMEM ? ERROR_SYSTEM : VARLINK_ERROR_INVALID_PARAMETER,
			     r == -ENOMEM ? NULL : json_param(l->iommufd ? "iommufd" : "addresses"));
		return;
	}
	lease_own_nodes(l, true);
	(void)leases_save(m);
	lease_log(l, LOG_INFO, "granted", NULL, &l->caller);
	lease_event(l, "granted", NULL);
	p = done ? json_object_new_object() : NULL;
	if (p && json_add(p, "lease", lj) >= 0)
		done(userdata, NULL, p);
	else {
		(void)json_object_put(p);
		if (done)
			done(userdata, ERROR_SYSTEM, NULL);
		else
			(void)json_object_put(lj);
	}
}

static void on_grant_claim_done(void *userdata, const char *error, json_object *params)
{
	struct lease *l = userdata;

	if (error && !l->error) {
		l->error = strdup(error);
		l->error_params = params;
	} else
		(void)json_object_put(params);
	if (--l->pending == 0)
		lease_finish(l);
}

int manager_lease_acquire(struct manager *m, const struct lease_request *req, manager_done_fn done,
			  void *userdata)
{
	struct candidate *c = NULL;
	size_t n = 0, available = 0;
	struct lease *l = NULL;
	struct lease **a;
	json_object *p = NULL;
	uint64_t start = 0;
	int numa = req->numa_node, r = 0;

	if (req->pid > 0) {
		r = proc_start_time(req->pid, &start);
		if (r < 0) {
			done(userdata, VARLINK_ERROR_INVALID_PARAMETER, json_param("pid"));
			return 0;
		}
	}
	if (req->pool) {
		bool known = false;

		for (size_t i = 0; i < m->policy.n_rules; i++)
			known = known || streq(m->policy.rules[i]->pool, req->pool);
		if (!known) {
			p = json_object_new_object();
			if (p && json_add_str(p, "pool", req->pool) < 0)
				p = (json_object_put(p), NULL);
			done(userdata, ERROR_NO_SUCH_POOL, p);
			return 0;
		}
		r = pool_candidates(m, req->pool, &c, &n);
	}
	for (char *const *ad = req->addresses; r >= 0 && ad && *ad; ad++) {
		const struct pcidev *d = model_find(&m->model, *ad);

		if (!d || d->iommu_group < 0) {
			candidates_free(c, n);
			p = json_object_new_object();
			if (p && json_add_str(p, "address", *ad) < 0)
				p = (json_object_put(p), NULL);
			/* A function without a group cannot be leased: vfio-pci cannot take it. */
			if (p && d && json_add_str(p, "reason", "in no IOMMU group") < 0)
				p = (json_object_put(p), NULL);
			done(userdata, d ? ERROR_NOT_VIABLE : ERROR_NO_SUCH_DEVICE, p);
			return 0;
		}
		if (!req->pool)
			r = candidate_add(m, &c, &n, (uint32_t)d->iommu_group, policy_match(&m->policy, d));
	}
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = candidate_check(m, &c[i], i == 0 ? PLAN_TO_RUN : PLAN_TO_SHOW_CACHED);
		available += r >= 0 && !c[i].code;
	}
	if (r < 0) {
		candidates_free(c, n);
		return r;
	}
	if (n > 0)
		qsort_r(c, n, sizeof(*c), candidate_cmp, &numa);
	/* Named addresses: every one of their groups, or nothing. */
	if (req->addresses && !req->pool ? available < n : available < req->count) {
		json_object *cj = NULL;

		p = json_object_new_object();
		r = p && candidates_json(c, n, m, &cj) >= 0 ? 0 : -ENOMEM;
		if (r >= 0)
			r = json_add_str(p, "pool", req->pool);
		if (r >= 0)
			r = json_add_int(p, "wanted", req->addresses && !req->pool ? (int64_t)n :
							     (int64_t)req->count);
		if (r >= 0)
			r = json_add(p, "candidates", cj);
		else
			(void)json_object_put(cj);
		candidates_free(c, n);
		if (r < 0) {
			(void)json_object_put(p);
			return r;
		}
		done(userdata, ERROR_NO_FREE_GROUP, p);
		return 0;
	}

	l = new0(struct lease, 1);
	a = reallocarray_safe(m->leases, m->n_leases + 1, sizeof(*a));
	if (a)
		m->leases = a;
	if (!l || !a || !(l->owner = strdup(req->owner)) ||
	    (req->pool && !(l->pool = strdup(req->pool))) ||
	    !(l->groups = new0(uint32_t, n)) || !(l->claimed_now = new0(bool, n)) ||
	    !(l->node_seen = new0(bool, n))) {
		candidates_free(c, n);
		lease_free(l);
		return -ENOMEM;
	}
	l->m = m;
	l->id = m->next_lease_id++;
	l->uid = req->uid;
	l->gid = req->gid;
	l->pid = req->pid;
	l->pid_start = start;
	l->iommufd = req->iommufd;
	l->caller = req->caller;
	l->done = done;
	l->userdata = userdata;
	l->n_groups = req->addresses && !req->pool ? n : req->count;
	for (size_t i = 0; i < l->n_groups; i++)
		l->groups[i] = c[i].group;
	/* Reserved from here: another grant sees these groups leased. */
	m->leases[m->n_leases++] = l;

	/* One claim per group not yet in place; the lease is granted when all have ended. */
	l->pending = 1;
	for (size_t i = 0; i < l->n_groups; i++) {
		const char *driver = c[i].rule && c[i].rule->driver ? c[i].rule->driver : "vfio-pci";

		if (c[i].claimed)
			continue;
		l->claimed_now[i] = true;
		l->pending++;
		r = manager_request(m, &(struct manager_request){ .address = (char *)c[i].first,
								  .driver = (char *)driver,
								  .group = true, .lease = true,
								  .caller = l->caller },
				    on_grant_claim_done, l);
		if (r < 0) {
			l->pending--;
			if (!l->error)
				l->error = strdup(ERROR_SYSTEM);
		}
	}
	candidates_free(c, n);
	on_grant_claim_done(l, NULL, NULL);
	return 0;
}

/* One pool: its groups as a lease would judge them now, available first. */
static int pool_json(struct manager *m, const char *pool, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	json_object *groups = NULL;
	struct candidate *c = NULL;
	size_t n = 0;
	int numa = -1, r;

	if (!o)
		return -ENOMEM;
	r = pool_candidates(m, pool, &c, &n);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = candidate_check(m, &c[i], PLAN_TO_SHOW_CACHED);
	if (r >= 0) {
		if (n > 1)
			qsort_r(c, n, sizeof(*c), candidate_cmp, &numa);
		r = candidates_json(c, n, m, &groups);
	}
	candidates_free(c, n);
	if (r >= 0)
		r = json_add_str(o, "name", pool);
	if (r >= 0)
		r = json_add(o, "groups", groups);
	else
		(void)json_object_put(groups);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

int manager_pools_json(struct manager *m, json_object **ret)
{
	_cleanup_json_ json_object *a = json_object_new_array();
	int r = a ? 0 : -ENOMEM;

	for (size_t i = 0; r >= 0 && i < m->policy.n_rules; i++) {
		const char *pool = m->policy.rules[i]->pool;
		json_object *o = NULL;
		bool seen = false;

		for (size_t k = 0; pool && k < i; k++)
			seen = seen || streq(m->policy.rules[k]->pool, pool);
		if (!pool || seen)
			continue;
		r = pool_json(m, pool, &o);
		if (r >= 0 && json_object_array_add(a, o) < 0) {
			(void)json_object_put(o);
			r = -ENOMEM;
		}
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(a);
	return 0;
}

int manager_leases_json(struct manager *m, json_object **ret)
{
	_cleanup_json_ json_object *a = json_object_new_array();

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_leases; i++) {
		json_object *lj = NULL;
		int r = lease_to_json(m->leases[i], true, &lj);

		if (r < 0)
			return r;
		if (json_object_array_add(a, lj) < 0) {
			(void)json_object_put(lj);
			return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(a);
	return 0;
}

size_t manager_leases_count(const struct manager *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_leases; i++)
		n += m->leases[i]->granted;
	return n;
}

int manager_group_lease_json(const struct manager *m, int64_t group, json_object **ret)
{
	const struct lease *l = manager_group_lease(m, group);
	json_object *o;
	char id[24];

	*ret = NULL;
	if (!l)
		return 0;
	o = json_object_new_object();
	snprintf(id, sizeof(id), "%" PRIu64, l->id);
	if (!o || json_add_str(o, "id", id) < 0 || json_add_str(o, "owner", l->owner) < 0 ||
	    json_add_bool(o, "granted", l->granted) < 0) {
		(void)json_object_put(o);
		return -ENOMEM;
	}
	*ret = o;
	return 0;
}

/* --- start-up: the leases of the daemon that ran before -------------------------------------- */

/* 1 to 64 distinct group numbers. */
static bool groups_ok(json_object *a)
{
	size_t n = json_object_array_length(a);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		json_object *g = json_object_array_get_idx(a, i);

		if (!json_object_is_type(g, json_type_int) || json_object_get_int64(g) < 0 ||
		    json_object_get_int64(g) > UINT32_MAX)
			return false;
		for (size_t k = 0; k < i; k++)
			if (json_object_get_int64(json_object_array_get_idx(a, k)) ==
			    json_object_get_int64(g))
				return false;
	}
	return true;
}

/* An id as we write it: a decimal string (or number) from 1 to 2^53; else 0. */
static uint64_t lease_id_of(json_object *v)
{
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
	uint64_t id = 0;

	if (json_object_is_type(v, json_type_int))
		id = json_object_get_int64(v) > 0 ? (uint64_t)json_object_get_int64(v) : 0;
	else if (s && *s && strlen(s) <= 16 && strspn(s, "0123456789") == strlen(s))
		id = strtoull(s, NULL, 10);
	return id <= (UINT64_C(1) << 53) ? id : 0;
}

/* A uid or gid as we write it: a number below (uid_t)-1. */
static bool id_field(json_object *e, const char *key, uint32_t *ret)
{
	json_object *v;

	if (!json_object_object_get_ex(e, key, &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 || json_object_get_int64(v) >= UINT32_MAX)
		return false;
	*ret = (uint32_t)json_object_get_int64(v);
	return true;
}

/* The nodes of a dropped entry's groups that no kept lease holds go back to root. */
static void groups_disown(struct manager *m, json_object *groups)
{
	for (size_t k = 0; json_object_is_type(groups, json_type_array) &&
			   k < json_object_array_length(groups); k++) {
		json_object *g = json_object_array_get_idx(groups, k);
		_cleanup_strv_free_ char **nodes = NULL;
		size_t n = 0;

		if (!json_object_is_type(g, json_type_int) || json_object_get_int64(g) < 0 ||
		    json_object_get_int64(g) > UINT32_MAX ||
		    manager_group_lease(m, (uint32_t)json_object_get_int64(g)) ||
		    group_nodes(m, (uint32_t)json_object_get_int64(g), &nodes, &n) < 0)
			continue;
		for (char **p = nodes; p && *p; p++)
			(void)node_own(*p, 0, 0, 0600);
	}
}

static const struct lease *lease_by_id(const struct manager *m, uint64_t id)
{
	for (size_t i = 0; i < m->n_leases; i++)
		if (m->leases[i]->id == id)
			return m->leases[i];
	return NULL;
}

int manager_leases_load(struct manager *m)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_object *o = NULL;
	json_object *a = NULL, *v = NULL;
	const char *boot;
	int r;

	m->next_lease_id = 1;
	if (m->read_only)
		return 0;	/* grants nothing, and leaves the state file to the daemon that may */
	r = read_boot_id(&m->boot_id);
	if (r < 0)
		return log_error_errno(r, "Failed to read the boot id: %m");
	if (asprintf(&path, "%s/" LEASES_FILE, m->state_dir) < 0)
		return -ENOMEM;
	if (!path_exists(path))
		return errno == ENOENT ? 0 : -errno;
	o = json_object_from_file(path);
	if (!o || !json_object_is_type(o, json_type_object)) {
		_cleanup_free_ char *aside = NULL;

		log_error("Leases '%s' are unreadable; keeping them aside and starting without", path);
		if (asprintf(&aside, "%s.broken", path) >= 0)
			(void)rename(path, aside);
		return 0;
	}
	if (json_object_object_get_ex(o, "next_id", &v) && lease_id_of(v) > 0)
		m->next_lease_id = lease_id_of(v);
	boot = json_object_object_get_ex(o, "boot_id", &v) &&
	       json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
	if (json_object_object_get_ex(o, "leases", &a) && !json_object_is_type(a, json_type_array)) {
		_cleanup_free_ char *aside = NULL;

		log_error("Leases '%s': \"leases\" is not a list; keeping the file aside and "
			  "starting without", path);
		if (asprintf(&aside, "%s.broken", path) >= 0)
			(void)rename(path, aside);
		return leases_save(m);
	}
	if (!boot || !streq(boot, m->boot_id)) {
		/* Every VM of the last boot is gone, and the nodes were made afresh. */
		if (a && json_object_array_length(a) > 0)
			log_notice("%zu leases of a previous boot have ended",
				   json_object_array_length(a));
		return leases_save(m);
	}
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i), *groups = NULL, *f = NULL, *of = NULL;
		struct lease *l = new0(struct lease, 1);
		struct lease **la = reallocarray_safe(m->leases, m->n_leases + 1, sizeof(*la));
		const char *owner = json_object_is_type(e, json_type_object) &&
				    json_object_object_get_ex(e, "owner", &of) &&
				    json_object_is_type(of, json_type_string) ?
				    json_object_get_string(of) : NULL;
		uint32_t uid = 0, gid = 0;
		bool taken = false;

		if (la)
			m->leases = la;
		if (json_object_is_type(e, json_type_object))
			json_object_object_get_ex(e, "groups", &groups);
		if (!json_object_is_type(groups, json_type_array))
			groups = NULL;
		/* An entry that is not one we wrote (edited by hand) is dropped, not trusted. */
		for (size_t k = 0; groups && k < json_object_array_length(groups); k++)
			taken = taken || manager_group_lease(m, json_object_get_int64(
						json_object_array_get_idx(groups, k)));
		if (l && la && (!lease_owner_valid(owner) || taken || !groups || !groups_ok(groups) ||
				!id_field(e, "uid", &uid) || !id_field(e, "gid", &gid))) {
			log_warning("%s: lease %zu is malformed, dropping it", path, i);
			groups_disown(m, groups);
			lease_free(l);
			continue;
		}
		if (!l || !la || !(l->owner = strdup(owner)) ||
		    !(l->groups = new0(uint32_t, json_object_array_length(groups) + 1)) ||
		    !(l->claimed_now = new0(bool, json_object_array_length(groups) + 1)) ||
		    !(l->node_seen = new0(bool, json_object_array_length(groups) + 1))) {
			lease_free(l);
			return -ENOMEM;
		}
		l->m = m;
		l->granted = true;
		l->id = json_object_object_get_ex(e, "id", &f) ? lease_id_of(f) : 0;
		if (json_object_object_get_ex(e, "pool", &f) && json_object_is_type(f, json_type_string))
			l->pool = strdup(json_object_get_string(f));
		for (size_t k = 0; k < json_object_array_length(groups); k++)
			l->groups[l->n_groups++] = (uint32_t)json_object_get_int64(
				json_object_array_get_idx(groups, k));
		l->uid = uid;
		l->gid = gid;
		l->pid = json_object_object_get_ex(e, "pid", &f) ? json_object_get_int64(f) : 0;
		l->pid_start = json_object_object_get_ex(e, "pid_start", &f) ?
			       (uint64_t)json_object_get_int64(f) : 0;
		l->since_usec = json_object_object_get_ex(e, "since_usec", &f) ?
				(uint64_t)json_object_get_int64(f) : 0;
		l->iommufd = json_object_object_get_ex(e, "iommufd", &f) && json_object_get_boolean(f);
		if (l->id == 0 || lease_by_id(m, l->id))
			l->id = m->next_lease_id++;
		m->leases[m->n_leases++] = l;
		if (l->id >= m->next_lease_id)
			m->next_lease_id = l->id + 1;
	}
	/* Each kept lease: its process still the one it was, its devices still there. */
	for (size_t i = m->n_leases; i > 0; i--) {
		struct lease *l = m->leases[i - 1];

		if (l->pid && lease_watch_pid(l) < 0) {
			lease_end(m, l, "process-exited", NULL);
			continue;
		}
		lease_own_nodes(l, true);
		lease_log(l, LOG_INFO, "kept", NULL, NULL);
	}
	manager_leases_check(m);
	return leases_save(m);
}
