/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * Texts kept once however many hold them: a set of reference-counted, immutable strings, found
 * by their bytes. A text leaves its set when its last holder lets go. Several threads may
 * intern and let go at once; the set is freed, and its textset_size() read, on one alone.
 */
struct textset;

struct text_atom {
	struct textset *set;
	unsigned n_ref;
	uint32_t hash;
	size_t len;
	char text[];	/* len bytes and a NUL */
};

struct textset *textset_new(void);
/* Every atom must have been let go. */
struct textset *textset_free(struct textset *s);
/* The atom of the n bytes at p, a new reference; NULL without memory. */
struct text_atom *textset_intern(struct textset *s, const char *p, size_t n);
struct text_atom *text_atom_unref(struct text_atom *a);	/* NULL */
size_t textset_size(const struct textset *s);	/* how many atoms */
