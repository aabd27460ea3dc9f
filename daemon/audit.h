/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The audit trail: one journal record per claim, release, application of the start-up rules,
 * lease and forced guard, each with a MESSAGE_ID of pcipass's own (journalctl
 * MESSAGE_ID=...), so that "who moved what, when, by which rule" is one query.
 */

#include <stdint.h>

#include "lib/macro.h"

#define PCIPASS_MESSAGE_CLAIM	"7114569848cb41b6a5e58f9aa4f14bb1"
#define PCIPASS_MESSAGE_RELEASE	"a81f8fce63d940edb2e51b20549630f6"
#define PCIPASS_MESSAGE_APPLY	"0e913451e13f4c6c97c6050ad0dfdf3f"
#define PCIPASS_MESSAGE_LEASE	"17cd6a5dc6ad40b78897db612f70ea36"
#define PCIPASS_MESSAGE_FORCED	"26203f379bf249a581e753dcd6f7a0d3"

/* Who asked: from the socket's peer credentials; pid 0: pcipassd itself (start-up, hotplug). */
struct audit_caller {
	int64_t pid;
	uint32_t uid;
	char comm[16];
};

/* A record being built: its fields, "KEY=value". An allocation failure drops the field. */
struct audit {
	char *fields[128];
	size_t n;
};

void audit_add(struct audit *a, const char *format, ...) _printf_(2, 3);
/* PCIPASS_CALLER_UID=, _PID=, _COMM=, when a caller (not pcipassd itself) asked. */
void audit_add_caller(struct audit *a, const struct audit_caller *c);
/* Logs it (log_record(): the journal, or stderr) with MESSAGE= first and MESSAGE_ID= (none when
 * NULL), and frees the fields. */
void audit_emit(struct audit *a, int level, const char *message_id, const char *format, ...)
	_printf_(4, 5);
/* "by uid U pid P (comm)" or "by pcipassd" into buf. */
const char *audit_caller_string(const struct audit_caller *c, char *buf, size_t size);
