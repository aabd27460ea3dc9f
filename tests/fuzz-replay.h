/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plain-build main() of a fuzz target: replays every file of a corpus directory (argv[1],
 * default $top_srcdir/FUZZ_CORPUS) through LLVMFuzzerTestOneInput(), whole and, for small
 * files, cut at every length; one TAP line per file. Included by one fuzz target's .c file,
 * after it defines FUZZ_CORPUS, when it is not built with a fuzzing engine.
 */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/macro.h"


#define REPLAY_MAX (1024U * 1024U)	/* bytes read of one corpus file */
#define PREFIXES_MAX 4096U		/* files up to this size are also fed cut short */

static int read_all(const char *path, char **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	size_t n = 0;

	if (fd < 0)
		return -errno;
	buf = malloc(REPLAY_MAX);
	if (!buf)
		return -ENOMEM;
	while (n < REPLAY_MAX) {
		ssize_t k = read(fd, buf + n, REPLAY_MAX - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		n += (size_t)k;
	}
	*ret = TAKE_PTR(buf);
	*ret_size = n;
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The corpus files' names, sorted. */
static int list_corpus(const char *dir, char ***ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	_cleanup_strv_free_ char **names = NULL;
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return -errno;
	names = new0(char *, 1);
	if (!names)
		return -ENOMEM;
	while ((de = readdir(d))) {
		char **a;

		if (de->d_name[0] == '.')
			continue;
		a = reallocarray_safe(names, n + 2, sizeof(*a));
		if (!a)
			return -ENOMEM;
		names = a;
		names[n] = strdup(de->d_name);
		names[++n] = NULL;
		if (!names[n - 1])
			return -ENOMEM;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), compare_names);
	*ret = TAKE_PTR(names);
	*ret_n = n;
	return 0;
}

int main(int argc, char *argv[])
{
	_cleanup_strv_free_ char **names = NULL;
	_cleanup_free_ char *fallback = NULL;
	const char *dir, *top = getenv("top_srcdir");
	unsigned failed = 0;
	size_t n = 0;
	int r;

	if (argc > 2) {
		fprintf(stderr, "Usage: %s [CORPUS-DIR]\n", argv[0]);
		return 2;
	}
	if (argc == 2)
		dir = argv[1];
	else {
		if (asprintf(&fallback, "%s/" FUZZ_CORPUS, isempty(top) ? "." : top) < 0)
			return 99;
		dir = fallback;
	}

	r = list_corpus(dir, &names, &n);
	if (r < 0) {
		printf("Bail out! %s: %s\n", dir, strerror(-r));
		return 99;
	}
	if (n == 0) {
		printf("Bail out! %s: no corpus files\n", dir);
		return 99;
	}

	printf("1..%zu\n", n);
	fflush(stdout);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL, *data = NULL;
		size_t size = 0;

		if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
			return 99;
		r = read_all(path, &data, &size);
		if (r < 0) {
			printf("not ok %zu - %s # %s\n", i + 1, names[i], strerror(-r));
			failed++;
			continue;
		}
		(void)LLVMFuzzerTestOneInput((const uint8_t *)data, size);
		for (size_t cut = 0; size <= PREFIXES_MAX && cut < size; cut++)
			(void)LLVMFuzzerTestOneInput((const uint8_t *)data, cut);
		printf("ok %zu - %s\n", i + 1, names[i]);
		fflush(stdout);
	}
	return failed ? 1 : 0;
}

