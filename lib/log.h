/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "lib/macro.h"

/*
 * Logging to stderr. When stderr is not a terminal (journald, a pipe) each line carries the
 * "<N>" syslog prefix that journald turns into the message priority.
 * The _errno forms set errno for "%m" and return the (negative) error they were given.
 */
void log_set_max_level(int level);
int log_get_max_level(void);
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);

int log_internal(int level, int error, const char *file, int line, const char *func,
		 const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...)					\
	({									\
		int _l_ = (level), _e_ = (error);				\
		_l_ <= log_get_max_level() ?					\
			log_internal(_l_, _e_, __FILE__, __LINE__, __func__, __VA_ARGS__) : \
			(_e_ > 0 ? -_e_ : _e_);					\
	})
#define log_full(level, ...)	(void)log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...)		log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)		log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)		log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...)	log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)		log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...)		log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...)		log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_notice_errno(e, ...)	log_full_errno(LOG_NOTICE, (e), __VA_ARGS__)
#define log_warning_errno(e, ...)	log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...)		log_full_errno(LOG_ERR, (e), __VA_ARGS__)

/*
 * A structured record: fields are "KEY=value" strings (journal field names), the first
 * "MESSAGE=…", NULL-terminated. When stderr is the journal's stream (JOURNAL_STREAM names it,
 * as systemd sets it for a service), the record goes to the journal with all of its fields
 * and PRIORITY=, and not to stderr; otherwise its message is logged as by log_full(). Either
 * way it is logged once.
 */
#define LOG_RECORD_FIELDS_MAX 512
void log_record(int level, char *const *fields);
/* Whether stderr is the journal's stream. */
bool log_stderr_is_journal(void);

/* Marks an error code the program made up itself (as opposed to one from the kernel). */
#define SYNTHETIC_ERRNO(e)	(-(e))
