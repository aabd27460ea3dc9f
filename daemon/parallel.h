/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/*
 * Work on many functions split over the CPUs: sysfs reads are path lookups in the kernel, and
 * building texts is json-c's work on objects of one thread's own; both run in parallel.
 */
#define PARALLEL_MAX 4

/* Into how many parts n items are split: one per CPU, at most PARALLEL_MAX, none smaller
 * than min items (at least one part). */
size_t parallel_parts(size_t n, size_t min);

/*
 * run() on each of n parts (size bytes apart), all but the first on threads of their own,
 * and back when all are done. A part whose thread cannot start is run here after the first.
 */
void parallel_run(void *parts, size_t size, size_t n, void *(*run)(void *));
