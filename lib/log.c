/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "lib/log.h"

static int max_level = LOG_INFO;
static int use_prefix = -1;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg",	 [LOG_ALERT] = "alert",	  [LOG_CRIT] = "crit",
	[LOG_ERR] = "err",	 [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",	 [LOG_DEBUG] = "debug",
};

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

int log_level_from_string(const char *s)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcasecmp(s, "error") == 0)
		return LOG_ERR;
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	return -EINVAL;
}

const char *log_level_to_string(int level)
{
	if (level < 0 || (size_t)level >= ELEMENTSOF(level_names))
		return NULL;
	return level_names[level];
}

int log_internal(int level, int error, const char *file, int line, const char *func,
		 const char *format, ...)
{
	int saved = errno;
	va_list ap;

	if (error < 0)
		error = -error;
	if (use_prefix < 0)
		use_prefix = !isatty(STDERR_FILENO);

	/* "%m" in the format prints the error we were given, not whatever errno happens to be. */
	errno = error;
	flockfile(stderr);
	if (use_prefix)
		fprintf(stderr, "<%d>", level);
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
	if (max_level >= LOG_DEBUG) {
		const char *base = strrchr(file, '/');

		fprintf(stderr, " (%s:%d %s)", base ? base + 1 : file, line, func);
	}
	fputc('\n', stderr);
	funlockfile(stderr);
	errno = saved;

	return -error;
}

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

	if (level > max_level || !fields || !fields[0] || strncmp(fields[0], "MESSAGE=", 8) != 0)
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
