/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What systemd is told: READY=1 once the start-up rules' transactions have ended (or at the
 * StartupTimeout= deadline), and a STATUS= line kept current after every change.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include <json-c/json.h>

#include "lib/json-util.h"
#include "lib/log.h"
#include "lib/util.h"
#include "manager.h"

/* A group the start-up rules wanted to move but could not: why, for STATUS. */
struct status_blocked {
	int64_t group;
	char *why;
};

void manager_status_blocked(struct manager *m, int64_t group, const char *why)
{
	size_t i;

	for (i = 0; i < m->n_blocked && m->blocked[i].group != group; i++)
		;
	if (i < m->n_blocked) {
		free(m->blocked[i].why);
		if (!why) {
			m->blocked[i] = m->blocked[--m->n_blocked];
			return;
		}
	} else {
		struct status_blocked *b;

		if (!why)
			return;
		b = reallocarray_safe(m->blocked, m->n_blocked + 1, sizeof(*b));
		if (!b)
			return;	/* STATUS leaves it out; the journal has it */
		m->blocked = b;
		m->blocked[m->n_blocked++].group = group;
	}
	m->blocked[i].why = strdup(why);
	if (!m->blocked[i].why)
		m->blocked[i] = m->blocked[--m->n_blocked];
}

void manager_status_blocked_clear(struct manager *m)
{
	for (size_t i = 0; i < m->n_blocked; i++)
		free(m->blocked[i].why);
	m->blocked = mfree(m->blocked);
	m->n_blocked = 0;
}

/* The STATUS= line: one line, what an operator wants first. */
static void status_write(struct manager *m, FILE *f)
{
	const struct txn *t = m->binder ? binder_running(m->binder) : NULL;
	size_t queued = manager_jobs_queued(m), leases = manager_leases_count(m);

	if (!m->startup_applied)
		fputs(m->ready ? "Start-up rules still not carried out at the deadline; "
			       : "Starting: carrying out the start-up rules; ", f);
	fprintf(f, "%zu PCI functions in %zu IOMMU groups", m->model.n_devs, m->model.n_groups);
	if (m->read_only)
		fputs(" (read-only)", f);
	else if (m->disabled)
		fputs(" (pcipass.disable=1: touching nothing)", f);
	if (m->binder)
		fprintf(f, ", %zu claimed", binder_n_claims(m->binder));
	if (leases)
		fprintf(f, ", %zu %s", leases, leases == 1 ? "lease" : "leases");
	if (t) {
		fprintf(f, "; IOMMU group %" PRIi64 ": %s", t->group, txn_kind_to_string(t->kind));
		if (t->stuck && t->step < t->n_steps)
			fprintf(f, " stuck in '%s' for %" PRIu64 " s", t->steps[t->step].path,
				(now_usec() - t->step_started_usec) / 1000000U);
	}
	if (queued)
		fprintf(f, "; %zu queued", queued);
	if (m->n_blocked) {
		fprintf(f, "; blocked: IOMMU group %" PRIi64 ": %s", m->blocked[0].group,
			m->blocked[0].why);
		if (m->n_blocked > 1)
			fprintf(f, " (and %zu more %s)", m->n_blocked - 1,
				m->n_blocked == 2 ? "group" : "groups");
	}
	if (m->udev_rules_error)
		fprintf(f, "; udev rule %s not written: %s", m->udev_rules,
			strerror(-m->udev_rules_error));
	if (m->policy_error)
		fprintf(f, "; policy refused, the last good one in force: %s", m->policy_error);
}

static void status_send(struct manager *m)
{
	_cleanup_free_ char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		return;
	status_write(m, f);
	if (fclose(f) != 0 || !text)
		return;
	/* One line: a path or a policy error may carry a newline. */
	for (char *p = text; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (m->status_sent && streq(m->status_sent, text))
		return;
	(void)sd_notifyf(false, "STATUS=%s", text);
	free(m->status_sent);
	m->status_sent = TAKE_PTR(text);
}

static int on_status_defer(sd_event_source *s, void *userdata)
{
	status_send(userdata);
	return 0;
}

/* Once per turn of the loop, after whatever changed has settled (a lease ended and is gone). */
void manager_status_update(struct manager *m)
{
	if (!m->status_defer &&
	    sd_event_add_defer(m->event, &m->status_defer, on_status_defer, m) < 0) {
		status_send(m);
		return;
	}
	(void)sd_event_source_set_enabled(m->status_defer, SD_EVENT_ONESHOT);
}

static void send_ready(struct manager *m)
{
	if (m->ready)
		return;
	m->ready = true;
	m->startup_timer = sd_event_source_disable_unref(m->startup_timer);
	status_send(m);
	(void)sd_notify(false, "READY=1");
}

static int on_startup_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	log_warning("The start-up rules are not carried out %" PRIu64 " s after the start: "
		    "reporting ready anyway (StartupTimeout=)",
		    m->config.startup_timeout_usec / 1000000U);
	send_ready(m);
	return 0;
}

void manager_startup_applied(struct manager *m)
{
	if (m->startup_applied)
		return;
	m->startup_applied = true;
	if (m->started)
		send_ready(m);
	else
		manager_status_update(m);
}

int manager_startup_wait(struct manager *m)
{
	int r;

	m->started = true;
	if (m->startup_applied || m->config.startup_timeout_usec == 0) {
		send_ready(m);
		return 0;
	}
	manager_status_update(m);
	r = sd_event_add_time_relative(m->event, &m->startup_timer, CLOCK_MONOTONIC,
				       m->config.startup_timeout_usec, 0, on_startup_timeout, m);
	if (r < 0) {
		send_ready(m);
		return log_warning_errno(r, "Failed to arm the start-up deadline, ready now: %m");
	}
	return 0;
}

void manager_status_done(struct manager *m)
{
	m->startup_timer = sd_event_source_disable_unref(m->startup_timer);
	m->status_defer = sd_event_source_disable_unref(m->status_defer);
	manager_status_blocked_clear(m);
	m->status_sent = mfree(m->status_sent);
}

int manager_status_transactions_json(const struct manager *m, json_object *o)
{
	_cleanup_json_ json_object *by_kind = json_object_new_object();
	int r = by_kind ? 0 : -ENOMEM;

	for (size_t k = 0; r >= 0 && k < ELEMENTSOF(m->n_transactions); k++) {
		json_object *counts = json_object_new_object();

		if (!counts)
			return -ENOMEM;
		r = json_add(by_kind, txn_kind_to_string((enum txn_kind)k), counts);
		if (r >= 0)
			r = json_add_int(counts, "done", (int64_t)m->n_transactions[k][0]);
		if (r >= 0)
			r = json_add_int(counts, "failed", (int64_t)m->n_transactions[k][1]);
	}
	if (r < 0)
		return r;
	return json_add(o, "transactions_ended", TAKE_PTR(by_kind));
}
