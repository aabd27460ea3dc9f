/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Output for pcipassctl: aligned tables for people, and the one JSON path for scripts.
 */

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

struct table;

/* columns: the header names; the last column is not padded. */
struct table *table_new(const char *const *columns, size_t n_columns);
struct table *table_free(struct table *t);
/* Adds one row of n_columns cells (NULL prints "-"); copies the strings. */
int table_add_row(struct table *t, const char *const *cells);
/* Makes column the one that gives way when the table is wider than the terminal (only when
 * standard output is a terminal, or $COLUMNS says a width): its cells' short forms are taken,
 * and cut with "…" if that is not enough. A cell "LONG" TABLE_SHORT "SHORT" has a short form. */
#define TABLE_SHORT "\x1f"
void table_set_shrink(struct table *t, size_t column);
/* Prints the table, with the header unless legend is false (cutting the shrinking column's
 * cells to fit). */
int table_print(struct table *t, bool legend);

static inline void table_freep(struct table **t)
{
	if (*t)
		(void)table_free(*t);
}

/* Makes s safe to print on a terminal, in place: control characters (C0, DEL, C1) and the
 * bidirectional overrides become "?", so that text from firmware, the kernel or another
 * client cannot move the cursor, retitle the window or reorder what is shown. */
char *text_terminal_safe(char *s);

/* Prints one JSON value and a newline: pretty (indented) or compact. */
int json_print(json_object *o, bool pretty);
/* Prints text[0, n) and a newline: JSON text as it came, already validated. */
int json_print_text(const char *text, size_t n);

/* Small accessors for reply objects: absent or null read as NULL / -1 / false. */
const char *json_get_str(json_object *o, const char *key);
long long json_get_int(json_object *o, const char *key);
int json_get_bool(json_object *o, const char *key);	/* -1 absent */
json_object *json_get(json_object *o, const char *key);
/* The length of an array, and its element i; 0 and NULL for what is not an array (a reply
 * that lacks the key: json-c asserts on those). */
size_t json_len(json_object *a);
json_object *json_at(json_object *a, size_t i);
