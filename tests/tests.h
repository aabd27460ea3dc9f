/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A small test harness that prints TAP. Each TEST(name) registers itself in an ELF section;
 * DEFINE_TEST_MAIN runs them all in order, one "ok"/"not ok" line each. An ASSERT_* failure
 * prints file:line and the expression and fails that test (the process continues with the
 * next one: each test runs in a forked child, so a crash fails one test, not the run).
 * Exit status: 0 all passed, 1 some failed, 77 all skipped.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#define EXIT_TEST_SKIP 77

struct test {
	const char *name;
	void (*fn)(void);
	unsigned line;
};

#define TEST(n)									\
	static void test_##n(void);						\
	static const struct test test_entry_##n					\
		__attribute__((used, section("pcipass_tests"), aligned(8))) = {	\
			.name = #n, .fn = test_##n, .line = __LINE__,		\
		};								\
	static void test_##n(void)

extern const struct test __start_pcipass_tests[];
extern const struct test __stop_pcipass_tests[];

/* A test calls this to say it cannot run here, and why. */
#define SKIP_TEST(...)								\
	do {									\
		printf("# skip: ");						\
		printf(__VA_ARGS__);						\
		printf("\n");							\
		fflush(stdout);							\
		_exit(EXIT_TEST_SKIP);						\
	} while (0)

#define TEST_FAIL(...)								\
	do {									\
		fprintf(stdout, "# %s:%d: ", __FILE__, __LINE__);		\
		fprintf(stdout, __VA_ARGS__);					\
		fprintf(stdout, "\n");						\
		fflush(stdout);							\
		abort();							\
	} while (0)

#define ASSERT_TRUE(expr)							\
	do {									\
		if (!(expr))							\
			TEST_FAIL("expected true: %s", #expr);			\
	} while (0)
#define ASSERT_FALSE(expr)							\
	do {									\
		if (expr)							\
			TEST_FAIL("expected false: %s", #expr);			\
	} while (0)
#define ASSERT_OK(expr)								\
	do {									\
		long long _r = (long long)(expr);				\
		if (_r < 0)							\
			TEST_FAIL("%s failed: %s", #expr, strerror((int)-_r));	\
	} while (0)
#define ASSERT_ERROR(expr, err)							\
	do {									\
		long long _r = (long long)(expr);				\
		if (_r != -(long long)(err))					\
			TEST_FAIL("%s = %lld, expected -%s", #expr, _r, #err);	\
	} while (0)
#define ASSERT_EQ(a, b)								\
	do {									\
		long long _a = (long long)(a), _b = (long long)(b);		\
		if (_a != _b)							\
			TEST_FAIL("%s == %s: %lld != %lld", #a, #b, _a, _b);	\
	} while (0)
#define ASSERT_STREQ(a, b)							\
	do {									\
		const char *_a = (a), *_b = (b);				\
		if (!(_a == _b || (_a && _b && strcmp(_a, _b) == 0)))		\
			TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,		\
				  _a ? _a : "(null)", _b ? _b : "(null)");	\
	} while (0)
#define ASSERT_NULL(p)		ASSERT_TRUE((p) == NULL)
#define ASSERT_NOT_NULL(p)	ASSERT_TRUE((p) != NULL)

static inline int test_compare(const void *a, const void *b)
{
	const struct test *x = *(const struct test *const *)a, *y = *(const struct test *const *)b;

	return (x->line > y->line) - (x->line < y->line);
}

/* Runs the tests in the order the file defines them (the linker's order is not that). */
static inline int test_run_all(void)
{
	/* The section's bounds, as addresses: they delimit one array the linker made. */
	size_t n = ((uintptr_t)__stop_pcipass_tests - (uintptr_t)__start_pcipass_tests) /
		   sizeof(struct test);
	const struct test **order = calloc(n + 1, sizeof(*order));
	unsigned failed = 0, skipped = 0;

	if (!order) {
		printf("Bail out! out of memory\n");
		return 99;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = &__start_pcipass_tests[i];
	qsort(order, n, sizeof(*order), test_compare);

	printf("1..%zu\n", n);
	fflush(stdout);
	for (size_t i = 0; i < n; i++) {
		const struct test *t = order[i];
		int status = 0;
		pid_t pid = fork();

		if (pid < 0) {
			printf("Bail out! fork: %s\n", strerror(errno));
			return 99;
		}
		if (pid == 0) {
			t->fn();
			fflush(stdout);
			/* _exit() skips LeakSanitizer's check at exit: ask for it here, once the
			 * test's _cleanup_ variables have run. */
#ifdef __SANITIZE_ADDRESS__
			if (__lsan_do_recoverable_leak_check() != 0) {
				printf("# memory leaked (LeakSanitizer report above)\n");
				fflush(stdout);
				_exit(1);
			}
#endif
			_exit(0);
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_TEST_SKIP) {
			printf("ok %zu - %s # SKIP\n", i + 1, t->name);
			skipped++;
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("ok %zu - %s\n", i + 1, t->name);
		} else {
			printf("not ok %zu - %s\n", i + 1, t->name);
			failed++;
		}
		fflush(stdout);
	}
	free(order);
	if (failed)
		return 1;
	return skipped == n && n > 0 ? EXIT_TEST_SKIP : 0;
}

#define DEFINE_TEST_MAIN							\
	int main(void)								\
	{									\
		return test_run_all();						\
	}
