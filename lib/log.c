/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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
