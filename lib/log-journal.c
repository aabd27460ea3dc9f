/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Structured records for the journal (sd-journal), apart from lib/log.c so that a program
 * that only prints to stderr does not need libsystemd. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <systemd/sd-journal.h>

#include "lib/log.h"
#include "lib/macro.h"

bool log_stderr_is_journal(void)
{
	static int cached = -1;
	const char *e;
	struct stat st;
	unsigned long long dev, ino;

	if (cached >= 0)
		return cached;
	e = getenv("JOURNAL_STREAM");
	cached = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
		 (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	return cached;
}

void log_record(int level, char *const *fields)
{
	char priority[16];
	struct iovec iov[LOG_RECORD_FIELDS_MAX + 1];
	size_t n = 0;

	if (level > log_get_max_level() || !fields || !fields[0] || strncmp(fields[0], "MESSAGE=", 8) != 0)
		return;
	if (!log_stderr_is_journal()) {
		log_internal(level, 0, __FILE__, __LINE__, __func__, "%s", fields[0] + 8);
		return;
	}
	snprintf(priority, sizeof(priority), "PRIORITY=%d", level);
	iov[n++] = (struct iovec){ .iov_base = priority, .iov_len = strlen(priority) };
	for (; *fields && n < ELEMENTSOF(iov); fields++)
		iov[n++] = (struct iovec){ .iov_base = *fields, .iov_len = strlen(*fields) };
	if (sd_journal_sendv(iov, (int)n) < 0)
		log_internal(level, 0, __FILE__, __LINE__, __func__, "%s", iov[1].iov_base ? (char *)iov[1].iov_base + 8 : "");
}
