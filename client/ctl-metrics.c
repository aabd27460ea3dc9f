/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcipassctl metrics: the daemon's state in the Prometheus text exposition format 0.0.4, for
 * node_exporter's textfile collector (-o FILE, replaced as a whole) or anything that reads it.
 *
 * Everything is asked for first and printed at the end: when a call fails, nothing is printed
 * (a collector must never see half a file). Families come in the order of their names, each
 * with one HELP and one TYPE line, even when it has no sample; samples in the order of their
 * labels (numbers in them by value). Only the daemon's own figures go in: GetStatus, ListLeases,
 * Plan, and ListPools for what a lease would find in each pool.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/ctl.h"
#include "client/ctl-rom.h"
#include "client/output.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/util.h"
#include "lib/varlink.h"

enum family {
	F_BLOCKED_GROUPS,
	F_CLIENT_BUFFER_BYTES,
	F_CLIENT_CONNECTIONS,
	F_DEVICES,
	F_DEVICES_BOUND,
	F_DEVICES_CLAIMED,
	F_DEVICES_LEASED,
	F_DISABLED,
	F_INFO,
	F_IOMMU_GROUPS,
	F_LEASE_GROUPS,
	F_LEASES,
	F_MONITOR_CLIENTS,
	F_POLICY_LOAD_FAILED,
	F_POLICY_RULES,
	F_POOL_BLOCKED_GROUPS,
	F_POOL_FREE_GROUPS,
	F_POOL_GROUPS,
	F_POOL_LEASED_GROUPS,
	F_PROBLEM,
	F_PROBLEMS,
	F_READ_ONLY,
	F_READY,
	F_SCANS,
	F_STUCK_STEPS,
	F_TRANSACTION_RUNNING,
	F_TRANSACTIONS,
	F_TRANSACTIONS_QUEUED,
	F_UEVENTS,
	_F_MAX,
};

/* HELP texts hold no backslash and no newline: they are printed as they are. */
static const struct {
	const char *name, *type, *help;
} families[_F_MAX] = {
	[F_BLOCKED_GROUPS] = { "pcipass_blocked_groups", "gauge",
		"IOMMU groups a start-up rule (Apply=boot) wants to move that a blocker keeps from "
		"it, by the first blocker's code." },
	[F_CLIENT_BUFFER_BYTES] = { "pcipass_client_buffer_bytes", "gauge",
		"Bytes of buffers pcipassd holds for its clients (input not yet handled, replies "
		"not yet read)." },
	[F_CLIENT_CONNECTIONS] = { "pcipass_client_connections", "gauge",
		"Clients connected to pcipassd, this one included." },
	[F_DEVICES] = { "pcipass_devices", "gauge", "PCI functions on the host." },
	[F_DEVICES_BOUND] = { "pcipass_devices_bound", "gauge",
		"PCI functions bound to a driver." },
	[F_DEVICES_CLAIMED] = { "pcipass_devices_claimed", "gauge",
		"PCI functions pcipass has moved to a passthrough driver." },
	[F_DEVICES_LEASED] = { "pcipass_devices_leased", "gauge",
		"PCI functions in granted leases (bridges stay with the host)." },
	[F_DISABLED] = { "pcipass_disabled", "gauge",
		"1 when pcipass.disable=1 is on the kernel command line: pcipassd changes nothing." },
	[F_INFO] = { "pcipass_info", "gauge", "pcipassd's version, as a label; always 1." },
	[F_IOMMU_GROUPS] = { "pcipass_iommu_groups", "gauge", "IOMMU groups on the host." },
	[F_LEASE_GROUPS] = { "pcipass_lease_groups", "gauge",
		"IOMMU groups of each lease, granted or being granted (pool empty: groups named by address)." },
	[F_LEASES] = { "pcipass_leases", "gauge", "Leases granted." },
	[F_MONITOR_CLIENTS] = { "pcipass_monitor_clients", "gauge",
		"Clients following Monitor." },
	[F_POLICY_LOAD_FAILED] = { "pcipass_policy_load_failed", "gauge",
		"1 when the last policy load was refused: the policy before it stays in force." },
	[F_POLICY_RULES] = { "pcipass_policy_rules", "gauge", "Policy rules in force." },
	[F_POOL_BLOCKED_GROUPS] = { "pcipass_pool_blocked_groups", "gauge",
		"IOMMU groups of a pool that are neither free nor leased, by the code a lease "
		"refused for them would name." },
	[F_POOL_FREE_GROUPS] = { "pcipass_pool_free_groups", "gauge",
		"IOMMU groups of a pool that a lease could take now." },
	[F_POOL_GROUPS] = { "pcipass_pool_groups", "gauge",
		"IOMMU groups of a pool: those with a function that the pool's rule decides for." },
	[F_POOL_LEASED_GROUPS] = { "pcipass_pool_leased_groups", "gauge",
		"IOMMU groups of a pool held by a lease, granted or being granted." },
	[F_PROBLEM] = { "pcipass_problem", "gauge",
		"Readiness problems with this code (pcipassctl status says what each means)." },
	[F_PROBLEMS] = { "pcipass_problems", "gauge",
		"Readiness problems: what keeps this host from passing devices through." },
	[F_READ_ONLY] = { "pcipass_read_only", "gauge",
		"1 when pcipassd runs --read-only." },
	[F_READY] = { "pcipass_ready", "gauge",
		"1 when nothing stands in the way of passthrough (no problem, not disabled)." },
	[F_SCANS] = { "pcipass_scans_total", "counter",
		"Full re-reads of sysfs since pcipassd started (the first, one per reload or SIGHUP, one per lost-event overflow)." },
	[F_STUCK_STEPS] = { "pcipass_stuck_steps", "gauge",
		"Transaction steps past their deadline, still waiting for the kernel." },
	[F_TRANSACTION_RUNNING] = { "pcipass_transaction_running", "gauge",
		"1 while a transaction runs." },
	[F_TRANSACTIONS] = { "pcipass_transactions_total", "counter",
		"Transactions ended since pcipassd started, by kind and result (done, or failed and put back)." },
	[F_TRANSACTIONS_QUEUED] = { "pcipass_transactions_queued", "gauge",
		"Requests and applications waiting for their turn." },
	[F_UEVENTS] = { "pcipass_uevents_total", "counter",
		"udev events pcipassd has received since it started." },
};

struct sample {
	char *labels;		/* as printed: {name="value",...}, or "" */
	long long value;
};

struct metrics {
	struct sample *samples[_F_MAX];
	size_t n_samples[_F_MAX];
};

static void metrics_done(struct metrics *m)
{
	for (size_t f = 0; f < _F_MAX; f++) {
		for (size_t i = 0; i < m->n_samples[f]; i++)
			free(m->samples[f][i].labels);
		free(m->samples[f]);
	}
}

/* A label value as the format wants it: backslash, double quote and newline escaped. */
static void label_value_print(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* The labels of a sample: name, value pairs ending with a NULL name (a NULL value is ""). */
#define LABELS(...)	((const char *const[]){ __VA_ARGS__, NULL })

/* {name="value",...}, or "" without labels. */
static int labels_format(const char *const *labels, char **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; labels && labels[i]; i += 2) {
		fprintf(f, "%s%s=\"", i ? "," : "{", labels[i]);
		label_value_print(f, labels[i + 1] ?: "");
		fputc('"', f);
	}
	if (labels && labels[0])
		fputc('}', f);
	if (fclose(f) != 0 || !buf)
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	return 0;
}

/*
 * Adds value to the sample of family f with these labels (LABELS(), or NULL for none), which is
 * made (from 0) when there is none: adding 0 makes a series exist.
 */
static int metric_add(struct metrics *m, enum family f, long long value, const char *const *labels)
{
	_cleanup_free_ char *text = NULL;
	struct sample *s;
	int r;

	r = labels_format(labels, &text);
	if (r < 0)
		return r;
	for (size_t i = 0; i < m->n_samples[f]; i++)
		if (streq(m->samples[f][i].labels, text)) {
			m->samples[f][i].value += value;
			return 0;
		}
	s = reallocarray_safe(m->samples[f], m->n_samples[f] + 1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	m->samples[f] = s;
	s[m->n_samples[f]++] = (struct sample){ .labels = TAKE_PTR(text), .value = value };
	return 0;
}

static int family_cmp(const void *a, const void *b)
{
	return strcmp(families[*(const enum family *)a].name, families[*(const enum family *)b].name);
}

static int sample_cmp(const void *a, const void *b)
{
	/* strverscmp: lease="2" before lease="10". */
	return strverscmp(((const struct sample *)a)->labels, ((const struct sample *)b)->labels);
}

static int metrics_format(struct metrics *m, char **ret, size_t *ret_size)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0;
	enum family order[_F_MAX];
	FILE *f;

	for (size_t i = 0; i < _F_MAX; i++)
		order[i] = (enum family)i;
	qsort(order, _F_MAX, sizeof(order[0]), family_cmp);
	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < _F_MAX; i++) {
		enum family k = order[i];

		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", families[k].name, families[k].help,
			families[k].name, families[k].type);
		if (m->n_samples[k] > 1)
			qsort(m->samples[k], m->n_samples[k], sizeof(struct sample), sample_cmp);
		for (size_t j = 0; j < m->n_samples[k]; j++)
			fprintf(f, "%s%s %lld\n", families[k].name, m->samples[k][j].labels,
				m->samples[k][j].value);
	}
	if (fclose(f) != 0 || !buf)
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

static int bad_reply(const char *method, const char *what)
{
	fprintf(stderr, "pcipassctl: unexpected reply to %s from pcipassd: %s\n", method, what);
	return -EBADMSG;
}

/* o[key] as a count (an integer, not negative). */
static int reply_count(const char *method, json_object *o, const char *key, long long *ret)
{
	json_object *v = json_get(o, key);

	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return bad_reply(method, key);
	*ret = json_object_get_int64(v);
	return 0;
}

/* o[key] as an array; NULL (after saying so) when it is not one. */
static json_object *reply_array(const char *method, json_object *o, const char *key)
{
	json_object *v = json_get(o, key);

	if (!json_object_is_type(v, json_type_array)) {
		(void)bad_reply(method, key);
		return NULL;
	}
	return v;
}

/* The counts and flags of GetStatus, one gauge or counter each. */
static int status_counts(struct metrics *m, json_object *s)
{
	static const struct {
		const char *key;
		enum family f;
	} counts[] = {
		{ "devices", F_DEVICES },
		{ "bound_devices", F_DEVICES_BOUND },
		{ "claims", F_DEVICES_CLAIMED },
		{ "iommu_groups", F_IOMMU_GROUPS },
		{ "leases", F_LEASES },
		{ "monitors", F_MONITOR_CLIENTS },
		{ "connections", F_CLIENT_CONNECTIONS },
		{ "client_buffers", F_CLIENT_BUFFER_BYTES },
		{ "scans", F_SCANS },
		{ "uevents", F_UEVENTS },
		{ "queued", F_TRANSACTIONS_QUEUED },
	};
	static const struct {
		const char *key;
		enum family f;
	} flags[] = {
		{ "read_only", F_READ_ONLY },
		{ "disabled", F_DISABLED },
	};
	int r;

	for (size_t i = 0; i < ELEMENTSOF(counts); i++) {
		long long v;

		r = reply_count("GetStatus", s, counts[i].key, &v);
		if (r < 0)
			return r;
		r = metric_add(m, counts[i].f, v, NULL);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < ELEMENTSOF(flags); i++) {
		int b = json_get_bool(s, flags[i].key);

		if (b < 0)
			return bad_reply("GetStatus", flags[i].key);
		r = metric_add(m, flags[i].f, b, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The readiness problems: how many, and how many of each code. */
static int status_problems(struct metrics *m, json_object *s)
{
	json_object *problems = reply_array("GetStatus", s, "problems");
	size_t n;
	int r;

	if (!problems)
		return -EBADMSG;
	n = json_len(problems);
	r = metric_add(m, F_PROBLEMS, (long long)n, NULL);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const char *code = json_get_str(json_at(problems, i), "code");

		if (!code)
			return bad_reply("GetStatus", "problems[].code");
		r = metric_add(m, F_PROBLEM, 1, LABELS("code", code));
	}
	if (r >= 0)
		r = metric_add(m, F_READY, streq(json_get_str(s, "verdict"), "ready"), NULL);
	return r;
}

/* The transaction running now (its step stuck or not), and those ended, by kind and result. */
static int status_transactions(struct metrics *m, json_object *s)
{
	json_object *t = json_get(s, "transaction"), *ended = json_get(s, "transactions_ended");
	int r;

	r = metric_add(m, F_TRANSACTION_RUNNING, t != NULL, NULL);
	if (r >= 0)
		r = metric_add(m, F_STUCK_STEPS, t && json_get_bool(t, "stuck") == 1, NULL);
	if (r < 0 || !ended)
		return r;	/* a daemon from before transactions_ended: no samples */
	if (!json_object_is_type(ended, json_type_object))
		return bad_reply("GetStatus", "transactions_ended");
	json_object_object_foreach(ended, kind, counts) {
		static const char *const results[] = { "done", "failed" };

		for (size_t i = 0; i < ELEMENTSOF(results); i++) {
			long long v;

			r = reply_count("GetStatus", counts, results[i], &v);
			if (r >= 0)
				r = metric_add(m, F_TRANSACTIONS, v,
					       LABELS("kind", kind, "result", results[i]));
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int gather_status(struct ctl *c, struct metrics *m)
{
	_cleanup_json_ json_object *reply = NULL;
	json_object *s, *policy, *rules;
	int r;

	r = ctl_call(c, "io.pcipass.GetStatus", NULL, &reply);
	if (r < 0)
		return r;
	s = json_get(reply, "status");
	policy = json_get(s, "policy");
	rules = reply_array("GetStatus", policy, "rules");
	if (!rules)
		return -EBADMSG;
	if (!json_get_str(s, "version"))
		return bad_reply("GetStatus", "version");
	r = status_counts(m, s);
	if (r >= 0)
		r = status_problems(m, s);
	if (r >= 0)
		r = status_transactions(m, s);
	if (r >= 0)
		r = metric_add(m, F_INFO, 1, LABELS("version", json_get_str(s, "version")));
	if (r >= 0)
		r = metric_add(m, F_POLICY_RULES, (long long)json_len(rules), NULL);
	if (r >= 0)
		r = metric_add(m, F_POLICY_LOAD_FAILED, json_get_str(policy, "error") != NULL, NULL);
	return r;
}

/* Each lease's groups, and the functions of the granted ones. */
static int gather_leases(struct ctl *c, struct metrics *m)
{
	_cleanup_json_ json_object *reply = NULL;
	json_object *leases;
	long long n_devices = 0;
	int r;

	r = ctl_call(c, "io.pcipass.ListLeases", NULL, &reply);
	if (r < 0)
		return r;
	leases = reply_array("ListLeases", reply, "leases");
	if (!leases)
		return -EBADMSG;
	for (size_t i = 0; i < json_len(leases); i++) {
		json_object *l = json_at(leases, i);
		json_object *groups = reply_array("ListLeases", l, "groups");
		json_object *devices = reply_array("ListLeases", l, "devices");

		if (!groups || !devices || !json_get_str(l, "id") || !json_get_str(l, "owner"))
			return -EBADMSG;
		r = metric_add(m, F_LEASE_GROUPS, (long long)json_len(groups),
			       LABELS("lease", json_get_str(l, "id"), "owner", json_get_str(l, "owner"),
				      "pool", json_get_str(l, "pool")));
		if (r < 0)
			return r;
		if (json_get_bool(l, "granted") == 1)
			n_devices += (long long)json_len(devices);
	}
	return metric_add(m, F_DEVICES_LEASED, n_devices, NULL);
}

/*
 * The first blocker of a plan group as pcipassd names it (its STATUS= line, Apply): the
 * members' that are not overridden, then the group's own.
 */
static const char *plan_group_blocker(json_object *g)
{
	json_object *members = json_get(g, "members"), *blockers;

	for (size_t i = 0; i < json_len(members); i++) {
		blockers = json_get(json_at(members, i), "blockers");
		for (size_t j = 0; j < json_len(blockers); j++) {
			json_object *b = json_at(blockers, j);

			if (json_get_bool(b, "overridden") != 1 && json_get_str(b, "code"))
				return json_get_str(b, "code");
		}
	}
	blockers = json_get(g, "blockers");
	if (json_len(blockers) > 0)
		return json_get_str(json_at(blockers, 0), "code") ?: "blocked";
	return "blocked";
}

/* Whether a start-up rule wants to move a member of the blocked plan group g (not as a
 * companion): then the daemon reports the group blocked at start, reload and Apply. */
static bool plan_group_blocked_at_boot(json_object *g)
{
	json_object *members = json_get(g, "members");

	if (json_get_bool(g, "blocked") != 1)
		return false;
	for (size_t i = 0; i < json_len(members); i++) {
		json_object *pm = json_at(members, i);
		const char *action = json_get_str(pm, "action");

		if (json_get(pm, "rule") && json_get_bool(pm, "companion") != 1 &&
		    streq(json_get_str(pm, "apply"), "boot") && action &&
		    !streq(action, "leave") && !streq(action, "deny"))
			return true;
	}
	return false;
}

static int plan_blocked(struct metrics *m, json_object *groups)
{
	for (size_t i = 0; i < json_len(groups); i++) {
		json_object *g = json_at(groups, i);
		int r;

		if (!plan_group_blocked_at_boot(g))
			continue;
		r = metric_add(m, F_BLOCKED_GROUPS, 1, LABELS("reason", plan_group_blocker(g)));
		if (r < 0)
			return r;
	}
	return 0;
}

/* --- pools ------------------------------------------------------------------------------------ */

/* Each pool's groups as AcquireLease judges them now (ListPools): free, leased, or blocked by
 * the code a refused lease would name. A pool without groups has its zeros, so that an alert
 * on it fires. */
static int gather_pools(struct ctl *c, struct metrics *m)
{
	_cleanup_json_ json_object *reply = NULL;
	json_object *pools;
	int r;

	r = ctl_call(c, "io.pcipass.ListPools", NULL, &reply);
	if (r < 0)
		return r;
	pools = reply_array("ListPools", reply, "pools");
	if (!pools)
		return -EBADMSG;
	for (size_t i = 0; r >= 0 && i < json_len(pools); i++) {
		json_object *p = json_at(pools, i);
		json_object *groups = json_get(p, "groups");
		const char *name = json_get_str(p, "name");

		if (!name || !json_object_is_type(groups, json_type_array))
			return bad_reply("ListPools", "pools[].name, pools[].groups");
		r = metric_add(m, F_POOL_GROUPS, (long long)json_len(groups),
			       LABELS("pool", name));
		if (r >= 0)
			r = metric_add(m, F_POOL_FREE_GROUPS, 0, LABELS("pool", name));
		if (r >= 0)
			r = metric_add(m, F_POOL_LEASED_GROUPS, 0, LABELS("pool", name));
		for (size_t k = 0; r >= 0 && k < json_len(groups); k++) {
			json_object *g = json_at(groups, k);
			const char *code = json_get_str(g, "code");

			if (json_get_bool(g, "available") == 1)
				r = metric_add(m, F_POOL_FREE_GROUPS, 1, LABELS("pool", name));
			else if (streq(code, "leased"))
				r = metric_add(m, F_POOL_LEASED_GROUPS, 1, LABELS("pool", name));
			else
				r = metric_add(m, F_POOL_BLOCKED_GROUPS, 1,
					       LABELS("pool", name, "reason", code ?: "blocked"));
		}
	}
	return r;
}

static int gather_plan(struct ctl *c, struct metrics *m)
{
	_cleanup_json_ json_object *reply = NULL;
	json_object *groups;
	int r;

	r = ctl_call(c, "io.pcipass.Plan", NULL, &reply);
	if (r < 0)
		return r;
	groups = reply_array("Plan", reply, "groups");
	if (!groups)
		return -EBADMSG;
	return plan_blocked(m, groups);
}

/* -o FILE: replaced as a whole (a temporary file next to it, synced, renamed over it). */
static int output_file(const char *path, const char *text, size_t n)
{
	struct stat st;
	int r;

	/* Renaming over a device node or a symlink (we may run as root) would replace it. */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		fprintf(stderr, "pcipassctl: %s is not a regular file: it is replaced as a whole, "
				"so only a regular file (or none) can be there\n", path);
		return -EINVAL;
	}
	/* Readable by the collector (node_exporter runs as its own user). */
	r = write_file_atomic(path, text, n, 0644, false);
	if (r < 0)
		fprintf(stderr, "pcipassctl: cannot write %s: %s\n", path, strerror(-r));
	return r;
}

int verb_metrics(struct ctl *c, int argc, char *argv[])
{
	_cleanup_(metrics_done) struct metrics m = {};
	_cleanup_free_ char *text = NULL;
	size_t n = 0;
	int r;

	if (c->json)
		return ctl_usage_error("metrics prints the Prometheus text format, not JSON");
	r = gather_status(c, &m);
	if (r >= 0)
		r = gather_leases(c, &m);
	if (r >= 0)
		r = gather_plan(c, &m);
	if (r >= 0)
		r = gather_pools(c, &m);
	if (r == -ENOMEM)
		fprintf(stderr, "pcipassctl: out of memory\n");
	if (r < 0)
		return CTL_EXIT_FAILURE;
	if (metrics_format(&m, &text, &n) < 0) {
		fprintf(stderr, "pcipassctl: out of memory\n");
		return CTL_EXIT_FAILURE;
	}
	if (arg_rom_output)
		return output_file(arg_rom_output, text, n) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
	if (fwrite(text, 1, n, stdout) != n || fflush(stdout) != 0) {
		fprintf(stderr, "pcipassctl: cannot write the metrics: %s\n", strerror(errno));
		return CTL_EXIT_FAILURE;
	}
	return CTL_EXIT_OK;
}
