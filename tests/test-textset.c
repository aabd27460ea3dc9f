/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lib/textset: one atom per distinct text, held by count, gone with its last holder. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "lib/textset.h"
#include "tests.h"

TEST(same_bytes_same_atom)
{
	struct textset *s = textset_new();
	struct text_atom *a, *b, *c, *z;

	ASSERT_NOT_NULL(s);
	a = textset_intern(s, "\"link\":null", 11);
	b = textset_intern(s, "\"link\":null,x", 11);	/* the same 11 bytes */
	c = textset_intern(s, "\"link\":nulL", 11);
	z = textset_intern(s, "", 0);
	ASSERT_TRUE(a == b);
	ASSERT_TRUE(a != c);
	ASSERT_EQ(a->n_ref, 2u);
	ASSERT_EQ(a->len, 11u);
	ASSERT_STREQ(a->text, "\"link\":null");
	ASSERT_EQ(z->len, 0u);
	ASSERT_EQ(textset_size(s), 3u);

	text_atom_unref(a);
	ASSERT_EQ(textset_size(s), 3u);	/* b still holds it */
	text_atom_unref(b);
	ASSERT_EQ(textset_size(s), 2u);
	text_atom_unref(c);
	text_atom_unref(z);
	ASSERT_EQ(textset_size(s), 0u);
	textset_free(s);
}

/* An atom held past its set's end stays valid, and goes with its last holder. */
TEST(atoms_outlive_their_set)
{
	struct textset *s = textset_new();
	struct text_atom *a = textset_intern(s, "abc", 3);

	textset_free(s);
	ASSERT_STREQ(a->text, "abc");
	text_atom_unref(a);
}

/*
 * Random interning and letting go against a plain table: every text is always found as the
 * atom it was, through growth and through removals that shift runs of the probe sequence back.
 */
TEST(agrees_with_a_plain_table)
{
	enum { TEXTS = 600, HOLDS = 8 };
	struct textset *s = textset_new();
	struct text_atom *held[TEXTS][HOLDS] = {};
	unsigned n_held[TEXTS] = {};
	uint64_t x = 88172645463325252ull;

	for (unsigned step = 0; step < 200000; step++) {
		char text[32];
		unsigned t, live = 0;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		t = (unsigned)(x % TEXTS);
		snprintf(text, sizeof(text), "t%u", t);
		if ((x >> 32) % 2 && n_held[t] < HOLDS) {
			struct text_atom *a = textset_intern(s, text, strlen(text));

			ASSERT_NOT_NULL(a);
			ASSERT_STREQ(a->text, text);
			if (n_held[t] > 0)
				ASSERT_TRUE(a == held[t][0]);
			held[t][n_held[t]++] = a;
		} else if (n_held[t] > 0)
			text_atom_unref(held[t][--n_held[t]]);
		if (step % 1000 == 0) {
			for (unsigned i = 0; i < TEXTS; i++) {
				live += n_held[i] > 0;
				if (n_held[i] > 0)
					ASSERT_EQ(held[i][0]->n_ref, n_held[i]);
			}
			ASSERT_EQ(textset_size(s), live);
		}
	}
	for (unsigned i = 0; i < TEXTS; i++)
		while (n_held[i] > 0)
			text_atom_unref(held[i][--n_held[i]]);
	ASSERT_EQ(textset_size(s), 0u);
	textset_free(s);
}

/* Devices' texts are made on several threads (manager_texts_make()): interning and letting go
 * at once on the same texts leaves the counts and the set as one thread alone would. */
enum { SHARED_TEXTS = 64, SHARED_HOLDS = 4 };

struct holder {
	struct textset *set;
	uint64_t x;
	struct text_atom *held[SHARED_TEXTS][SHARED_HOLDS];
	unsigned n_held[SHARED_TEXTS];
	unsigned wrong;
};

static void *hold_and_let_go(void *userdata)
{
	struct holder *h = userdata;

	for (unsigned step = 0; step < 300000; step++) {
		char text[16];
		unsigned t;

		h->x ^= h->x << 13, h->x ^= h->x >> 7, h->x ^= h->x << 17;
		t = (unsigned)(h->x % SHARED_TEXTS);
		snprintf(text, sizeof(text), "s%u", t);
		if ((h->x >> 32) % 2 && h->n_held[t] < SHARED_HOLDS) {
			struct text_atom *a = textset_intern(h->set, text, strlen(text));

			h->wrong += !a || strcmp(a->text, text) != 0;
			if (a)
				h->held[t][h->n_held[t]++] = a;
		} else if (h->n_held[t] > 0)
			text_atom_unref(h->held[t][--h->n_held[t]]);
	}
	return NULL;
}

TEST(threads_intern_and_let_go_at_once)
{
	struct textset *s = textset_new();
	struct holder h[2] = { { .set = s, .x = 88172645463325252ull }, { .set = s, .x = 7ull } };
	pthread_t other;
	unsigned live = 0;

	ASSERT_NOT_NULL(s);
	ASSERT_EQ(pthread_create(&other, NULL, hold_and_let_go, &h[1]), 0);
	(void)hold_and_let_go(&h[0]);
	ASSERT_EQ(pthread_join(other, NULL), 0);
	ASSERT_EQ(h[0].wrong + h[1].wrong, 0u);
	for (unsigned t = 0; t < SHARED_TEXTS; t++) {
		unsigned holds = h[0].n_held[t] + h[1].n_held[t];
		struct text_atom *a = h[0].n_held[t] ? h[0].held[t][0] : h[1].n_held[t] ? h[1].held[t][0] : NULL;

		live += holds > 0;
		if (a)
			ASSERT_EQ(a->n_ref, holds);
		if (h[0].n_held[t] && h[1].n_held[t])
			ASSERT_TRUE(h[0].held[t][0] == h[1].held[t][0]);
	}
	ASSERT_EQ(textset_size(s), live);
	for (unsigned i = 0; i < 2; i++)
		for (unsigned t = 0; t < SHARED_TEXTS; t++)
			while (h[i].n_held[t] > 0)
				text_atom_unref(h[i].held[t][--h[i].n_held[t]]);
	ASSERT_EQ(textset_size(s), 0u);
	textset_free(s);
}

DEFINE_TEST_MAIN
