/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pcipassctl monitor */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client/ctl.h"
#include "client/output.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/varlink.h"

static void print_event(json_object *ev)
{
	json_object *dev = json_get(ev, "device"), *txn = json_get(ev, "transaction");
	const char *address = json_get_str(ev, "address");
	const char *devname = json_get_str(ev, "devname");
	char when[16];
	time_t now = time(NULL);
	struct tm tm;

	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&now, &tm));
	if (txn) {
		/* "transaction #3 claim group 14 step: probe 0000:06:00.0" */
		printf("%s %-11s #%lld %s", when, "transaction", json_get_int(txn, "id"),
		       json_get_str(txn, "kind") ?: "?");
		if (json_get_int(txn, "iommu_group") >= 0)
			printf(" group %lld", json_get_int(txn, "iommu_group"));
		printf(" %s", json_get_str(ev, "progress") ?: json_get_str(txn, "state") ?: "?");
		if (json_get_str(txn, "step"))
			printf(": %s", json_get_str(txn, "step"));
		if (json_get_bool(txn, "stuck") == 1)
			printf(" (stuck: past its deadline)");
		if (json_get_str(txn, "error_member") || json_get_str(txn, "error_step"))
			printf(": %s at %s", json_get_str(txn, "error_member") ?: "the group",
			       json_get_str(txn, "error_step") ?: "?");
		if (json_get_str(txn, "message"))
			printf(": %s", json_get_str(txn, "message"));
		if (json_get_str(txn, "rollback_error"))
			printf("; putting it back failed: %s", json_get_str(txn, "rollback_error"));
		putchar('\n');
		fflush(stdout);
		return;
	}
	if (streq(json_get_str(ev, "action"), "blocked")) {
		/* "blocked group 4 0000:00:05.0: pin-mismatch: 0000:00:05.0 holds …" */
		json_object *b = json_get(ev, "blocker");

		printf("%s %-11s", when, "blocked");
		if (json_get(ev, "iommu_group"))
			printf(" group %lld", json_get_int(ev, "iommu_group"));
		printf(" %s: %s: %s\n", address ?: "-", json_get_str(b, "code") ?: "?",
		       json_get_str(b, "message") ?: "?");
		fflush(stdout);
		return;
	}
	printf("%s %-8s %-8s %-14s", when, json_get_str(ev, "action") ?: "?",
	       json_get_str(ev, "subsystem") ?: "-", address ?: "-");
	if (dev) {
		char id[16];

		ctl_format_id(dev, id, sizeof(id));
		printf(" %s driver=%s", id, json_get_str(dev, "driver") ?: "(none)");
		if (json_get_int(dev, "iommu_group") >= 0)
			printf(" group=%lld", json_get_int(dev, "iommu_group"));
	} else if (address) {
		printf(" (gone)");
	}
	if (devname)
		printf(" %s", devname);
	putchar('\n');
	fflush(stdout);
}

int verb_monitor(struct ctl *c, int argc, char *argv[])
{
	_cleanup_json_ json_object *params = json_object_new_object();
	int r;

	if (!params || (c->initial && json_add_bool(params, "initial", true) < 0))
		return CTL_EXIT_FAILURE;
	if (ctl_connect(c) < 0)
		return CTL_EXIT_FAILURE;
	r = varlink_client_send(c->client, "io.pcipass.Monitor", params, VARLINK_CALL_MORE);
	if (r < 0) {
		fprintf(stderr, "pcipassctl: cannot send to %s: %s\n", c->socket, strerror(-r));
		return CTL_EXIT_FAILURE;
	}
	for (;;) {
		_cleanup_json_ json_object *reply = NULL;
		const char *error;
		json_object *p;

		r = varlink_client_recv(c->client, -1, &reply);
		if (r == -ECONNRESET) {
			fprintf(stderr, "pcipassctl: pcipassd closed the connection\n");
			return CTL_EXIT_FAILURE;
		}
		if (r < 0) {
			fprintf(stderr, "pcipassctl: monitor failed: %s\n", strerror(-r));
			return CTL_EXIT_FAILURE;
		}
		error = varlink_reply_error(reply);
		p = varlink_reply_params(reply);
		if (error) {
			fprintf(stderr, "pcipassctl: pcipassd answered %s\n", error);
			return CTL_EXIT_FAILURE;
		}
		/* One line of JSON per event, so that scripts can read the stream line by line. */
		if (c->json ? json_print(p, false) < 0 : (print_event(json_get(p, "event")), 0))
			return CTL_EXIT_FAILURE;
		if (!varlink_reply_continues(reply))
			return CTL_EXIT_OK;
	}
}
