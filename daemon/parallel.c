/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "lib/macro.h"
#include "parallel.h"

size_t parallel_parts(size_t n, size_t min)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t k = MIN(MAX(cpus, 1L), PARALLEL_MAX);

	return MAX(MIN(k, n / MAX(min, (size_t)1)), (size_t)1);
}

void parallel_run(void *parts, size_t size, size_t n, void *(*run)(void *))
{
	pthread_t threads[PARALLEL_MAX];
	bool started[PARALLEL_MAX] = {};

	assert(n >= 1 && n <= PARALLEL_MAX);
	for (size_t i = 1; i < n; i++)
		started[i] = pthread_create(&threads[i], NULL, run, (char *)parts + i * size) == 0;
	(void)run(parts);
	for (size_t i = 1; i < n; i++)
		if (started[i])
			(void)pthread_join(threads[i], NULL);
		else
			(void)run((char *)parts + i * size);
}
