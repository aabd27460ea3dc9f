/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Attributes, cleanup helpers and ownership macros shared by pcipassd, pcipassctl and the tests.
 */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f)		__attribute__((cleanup(f)))
#define _unused_		__attribute__((unused))
#define _must_check_		__attribute__((warn_unused_result))
#define _printf_(a, b)		__attribute__((format(printf, a, b)))
#define _nonnull_(...)		__attribute__((nonnull(__VA_ARGS__)))
#define _noreturn_		__attribute__((noreturn))
#define _likely_(x)		__builtin_expect(!!(x), 1)
#define _unlikely_(x)		__builtin_expect(!!(x), 0)
#define _section_(s)		__attribute__((section(s)))
#define _used_			__attribute__((used))

#define ELEMENTSOF(a)		(sizeof(a) / sizeof((a)[0]))
#define STRLEN(s)		(sizeof(s) - 1)
#define MIN(a, b)		((a) < (b) ? (a) : (b))
#define MAX(a, b)		((a) > (b) ? (a) : (b))

/* Enough room for any integer of type t printed in decimal, sign and NUL included. */
#define DECIMAL_STR_MAX(t)	(2 + (sizeof(t) <= 1 ? 3 : sizeof(t) <= 2 ? 5 : sizeof(t) <= 4 ? 10 : 20))

/* Move ownership out of a cleanup variable. */
#define TAKE_GENERIC(var, type, nullvalue)			\
	({							\
		type *_pvar_ = &(var);				\
		type _var_ = *_pvar_;				\
		*_pvar_ = (nullvalue);				\
		_var_;						\
	})
#define TAKE_PTR(p)		TAKE_GENERIC((p), typeof(p), NULL)
#define TAKE_FD(fd)		TAKE_GENERIC((fd), int, -EBADF)

/* Log-free errno helpers: make a libc "-1 and errno" result a negative errno. */
#define RET_NERRNO(expr)					\
	({							\
		typeof(expr) _r_ = (expr);			\
		_r_ < 0 ? -errno : _r_;				\
	})
#define NEG_ERRNO()		(errno > 0 ? -errno : -EIO)

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)			\
	static inline void func##p(type *p)			\
	{							\
		if (*p)						\
			func(*p);				\
	}

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_		_cleanup_(freep)

static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;

		(void)close(fd);
		errno = saved;
	}
	return -EBADF;
}

static inline void closep(int *fd)
{
	*fd = safe_close(*fd);
}
#define _cleanup_close_		_cleanup_(closep)

static inline void fclosep(FILE **f)
{
	if (*f)
		(void)fclose(*f);
}
#define _cleanup_fclose_	_cleanup_(fclosep)

static inline void closedirp(DIR **d)
{
	if (*d)
		(void)closedir(*d);
}
#define _cleanup_closedir_	_cleanup_(closedirp)

static inline void *mfree(void *p)
{
	free(p);
	return NULL;
}

/* Free a NULL-terminated array of strings. */
static inline char **strv_free(char **l)
{
	if (l)
		for (char **s = l; *s; s++)
			free(*s);
	free(l);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free)

static inline size_t strv_length(char *const *l)
{
	size_t n = 0;

	while (l && l[n])
		n++;
	return n;
}
#define _cleanup_strv_free_	_cleanup_(strv_freep)

static inline bool streq(const char *a, const char *b)
{
	return a == b || (a && b && __builtin_strcmp(a, b) == 0);
}

static inline bool endswith(const char *s, const char *suffix)
{
	size_t n = __builtin_strlen(s), k = __builtin_strlen(suffix);

	return n >= k && __builtin_memcmp(s + n - k, suffix, k) == 0;
}

static inline bool isempty(const char *s)
{
	return !s || !*s;
}

/* Overflow-checked array allocation. */
static inline void *reallocarray_safe(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return realloc(p, n * size != 0 ? n * size : 1);
}

#define newa0(t, n)		((t *)calloc((n), sizeof(t)))
#define new0(t, n)		((t *)calloc((n), sizeof(t)))
