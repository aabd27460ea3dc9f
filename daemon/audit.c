/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "lib/log.h"
#include "lib/util.h"

void audit_add(struct audit *a, const char *format, ...)
{
	va_list ap;
	char *s = NULL;
	int r;

	if (a->n >= ELEMENTSOF(a->fields) - 2)	/* room for MESSAGE= and the terminator */
		return;
	va_start(ap, format);
	r = vasprintf(&s, format, ap);
	va_end(ap);
	if (r >= 0)
		a->fields[a->n++] = s;	/* on failure s is not ours to free */
}

void audit_add_caller(struct audit *a, const struct audit_caller *c)
{
	if (!c || c->pid <= 0)
		return;
	audit_add(a, "PCIPASS_CALLER_UID=%" PRIu32, c->uid);
	audit_add(a, "PCIPASS_CALLER_PID=%" PRIi64, c->pid);
	if (c->comm[0])
		audit_add(a, "PCIPASS_CALLER_COMM=%s", c->comm);
}

const char *audit_caller_string(const struct audit_caller *c, char *buf, size_t size)
{
	if (!c || c->pid <= 0)
		snprintf(buf, size, "by pcipassd");
	else
		snprintf(buf, size, "by uid %" PRIu32 " pid %" PRIi64 " (%s)", c->uid, c->pid,
			 c->comm[0] ? c->comm : "?");
	return buf;
}

void audit_emit(struct audit *a, int level, const char *message_id, const char *format, ...)
{
	char *fields[ELEMENTSOF(a->fields) + 2], *message = NULL, *msg_field = NULL, *id_field = NULL;
	va_list ap;
	size_t n = 0;
	int r;

	va_start(ap, format);
	r = vasprintf(&message, format, ap);
	va_end(ap);
	if (r < 0)
		message = NULL;
	if (message && asprintf(&msg_field, "MESSAGE=%s", message) < 0)
		msg_field = NULL;
	if (msg_field && message_id && asprintf(&id_field, "MESSAGE_ID=%s", message_id) < 0)
		id_field = NULL;
	if (msg_field && (id_field || !message_id)) {
		fields[n++] = msg_field;
		if (id_field)
			fields[n++] = id_field;
		for (size_t i = 0; i < a->n; i++)
			fields[n++] = a->fields[i];
		fields[n] = NULL;
		log_record(level, fields);
	} else
		log_error("Out of memory for a journal record");
	free(message);
	free(msg_field);
	free(id_field);
	for (size_t i = 0; i < a->n; i++)
		free(a->fields[i]);
	a->n = 0;
}
