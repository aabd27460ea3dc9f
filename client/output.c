/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/output.h"
#include "lib/json-util.h"
#include "lib/macro.h"

struct table {
	size_t n_columns;
	char **cells;		/* row-major, header first */
	size_t n_rows;		/* including the header */
};

struct table *table_new(const char *const *columns, size_t n_columns)
{
	struct table *t = new0(struct table, 1);

	if (!t)
		return NULL;
	t->n_columns = n_columns;
	if (table_add_row(t, columns) < 0)
		return table_free(t);
	return t;
}

struct table *table_free(struct table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	return NULL;
}

int table_add_row(struct table *t, const char *const *cells)
{
	char **a = reallocarray_safe(t->cells, (t->n_rows + 1) * t->n_columns, sizeof(char *));

	if (!a)
		return -ENOMEM;
	t->cells = a;
	for (size_t i = 0; i < t->n_columns; i++) {
		a[t->n_rows * t->n_columns + i] = strdup(cells[i] ?: "-");
		if (!a[t->n_rows * t->n_columns + i]) {
			for (size_t j = 0; j < i; j++)
				free(a[t->n_rows * t->n_columns + j]);
			return -ENOMEM;
		}
	}
	t->n_rows++;
	return 0;
}

/* Columns a UTF-8 string takes on a terminal (continuation bytes take none). */
static size_t text_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

int table_print(const struct table *t, bool legend)
{
	_cleanup_free_ size_t *width = new0(size_t, t->n_columns);

	if (!width)
		return -ENOMEM;
	for (size_t r = legend ? 0 : 1; r < t->n_rows; r++)
		for (size_t c = 0; c < t->n_columns; c++)
			width[c] = MAX(width[c], text_width(t->cells[r * t->n_columns + c]));
	for (size_t r = legend ? 0 : 1; r < t->n_rows; r++) {
		const char *const *row = (const char *const *)t->cells + r * t->n_columns;
		size_t last = t->n_columns;

		/* No padding after the last non-empty cell. */
		while (last > 1 && !*row[last - 1])
			last--;
		for (size_t c = 0; c + 1 < last; c++)
			printf("%s%*s  ", row[c], (int)(width[c] - text_width(row[c])), "");
		printf("%s\n", row[last - 1]);
	}
	return fflush(stdout) == 0 ? 0 : -errno;
}

int json_print(json_object *o, bool pretty)
{
	int flags = pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN;
	const char *s = json_object_to_json_string_ext(o, flags | JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!s)
		return -ENOMEM;
	puts(s);
	return fflush(stdout) == 0 ? 0 : -errno;
}

int json_print_text(const char *text, size_t n)
{
	if (fwrite(text, 1, n, stdout) != n || putchar('\n') == EOF)
		return -EIO;
	return fflush(stdout) == 0 ? 0 : -errno;
}

json_object *json_get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

const char *json_get_str(json_object *o, const char *key)
{
	json_object *v = json_get(o, key);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

long long json_get_int(json_object *o, const char *key)
{
	json_object *v = json_get(o, key);

	return json_object_is_type(v, json_type_int) ? (long long)json_object_get_int64(v) : -1;
}

int json_get_bool(json_object *o, const char *key)
{
	json_object *v = json_get(o, key);

	return json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : -1;
}
