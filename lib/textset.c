/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An open-addressed hash set (linear probing, deletion by shifting back, so no tombstones) of
 * text atoms, kept at most half full.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "lib/textset.h"

struct textset {
	pthread_mutex_t lock;	/* devices' texts are built on several threads */
	struct text_atom **slots;
	size_t n_slots;	/* a power of two, or 0 */
	size_t n_atoms;
};

/* FNV-1a over eight bytes at a time, then the rest: no adversary gains from collisions beyond
 * slower interning. */
static uint32_t text_hash(const char *p, size_t n)
{
	uint64_t h = UINT64_C(14695981039346656037);
	size_t i = 0;

	for (; n - i >= 8; i += 8) {
		uint64_t v;

		memcpy(&v, p + i, 8);
		h = (h ^ v) * UINT64_C(1099511628211);
	}
	for (; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * UINT64_C(1099511628211);
	/* A multiply carries upwards only: mix the high bits down into the slot's (fmix64). */
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	return (uint32_t)h;
}

struct textset *textset_new(void)
{
	struct textset *s = new0(struct textset, 1);

	if (s)
		(void)pthread_mutex_init(&s->lock, NULL);
	return s;
}

struct textset *textset_free(struct textset *s)
{
	if (!s)
		return NULL;
	/* Atoms still held are orphaned rather than freed under their holders. */
	for (size_t i = 0; i < s->n_slots; i++)
		if (s->slots[i])
			s->slots[i]->set = NULL;
	free(s->slots);
	(void)pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

size_t textset_size(const struct textset *s)
{
	return s ? s->n_atoms : 0;
}

static int textset_grow(struct textset *s)
{
	size_t n = s->n_slots ? s->n_slots * 2 : 64;
	struct text_atom **slots = new0(struct text_atom *, n);

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_slots; i++) {
		struct text_atom *a = s->slots[i];
		size_t j;

		if (!a)
			continue;
		for (j = a->hash & (n - 1); slots[j]; j = (j + 1) & (n - 1))
			;
		slots[j] = a;
	}
	free(s->slots);
	s->slots = slots;
	s->n_slots = n;
	return 0;
}

static struct text_atom *intern_locked(struct textset *s, const char *p, size_t n, uint32_t h)
{
	struct text_atom *a;
	size_t i;

	if ((s->n_atoms + 1) * 2 > s->n_slots && textset_grow(s) < 0)
		return NULL;
	for (i = h & (s->n_slots - 1); (a = s->slots[i]); i = (i + 1) & (s->n_slots - 1))
		if (a->hash == h && a->len == n && memcmp(a->text, p, n) == 0) {
			a->n_ref++;
			return a;
		}
	a = malloc(sizeof(*a) + n + 1);
	if (!a)
		return NULL;
	*a = (struct text_atom){ .set = s, .n_ref = 1, .hash = h, .len = n };
	memcpy(a->text, p, n);
	a->text[n] = 0;
	s->slots[i] = a;
	s->n_atoms++;
	return a;
}

struct text_atom *textset_intern(struct textset *s, const char *p, size_t n)
{
	uint32_t h = text_hash(p, n);	/* outside the lock */
	struct text_atom *a;

	(void)pthread_mutex_lock(&s->lock);
	a = intern_locked(s, p, n, h);
	(void)pthread_mutex_unlock(&s->lock);
	return a;
}

static void textset_remove(struct textset *s, struct text_atom *a)
{
	size_t mask = s->n_slots - 1, i, j;

	for (i = a->hash & mask; s->slots[i] != a; i = (i + 1) & mask)
		;
	/* Shift back whatever in the run after i would not be found past the hole. */
	for (j = (i + 1) & mask; s->slots[j]; j = (j + 1) & mask) {
		size_t home = s->slots[j]->hash & mask;

		/* home is cyclically in (i, j]: it stays; else it moves into the hole. */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		s->slots[i] = s->slots[j];
		i = j;
	}
	s->slots[i] = NULL;
	s->n_atoms--;
}

struct text_atom *text_atom_unref(struct text_atom *a)
{
	struct textset *s = a ? a->set : NULL;
	bool last;

	if (!a)
		return NULL;
	if (s)
		(void)pthread_mutex_lock(&s->lock);
	last = --a->n_ref == 0;
	if (last && s)
		textset_remove(s, a);
	if (s)
		(void)pthread_mutex_unlock(&s->lock);
	if (last)
		free(a);
	return NULL;
}
