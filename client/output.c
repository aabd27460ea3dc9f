/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "client/output.h"
#include "lib/json-util.h"
#include "lib/macro.h"

struct table {
	size_t n_columns;
	size_t shrink;		/* the column that gives way; n_columns: none */
	char **cells;		/* row-major, header first */
	size_t n_rows;		/* including the header */
};

struct table *table_new(const char *const *columns, size_t n_columns)
{
	struct table *t = new0(struct table, 1);

	if (!t)
		return NULL;
	t->n_columns = n_columns;
	t->shrink = n_columns;
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

char *text_terminal_safe(char *s)
{
	unsigned char *r = (unsigned char *)s, *w = r;

	while (*r) {
		size_t skip = 0;

		if (*r < 0x20 || *r == 0x7f)
			skip = 1;
		else if (r[0] == 0xc2 && r[1] >= 0x80 && r[1] <= 0x9f)
			skip = 2;	/* C1: U+0080 … U+009F */
		else if (r[0] == 0xe2 && r[1] == 0x80 && r[2] >= 0xaa && r[2] <= 0xae)
			skip = 3;	/* U+202A … U+202E: embeddings and overrides */
		else if (r[0] == 0xe2 && r[1] == 0x81 && r[2] >= 0xa6 && r[2] <= 0xa9)
			skip = 3;	/* U+2066 … U+2069: isolates */
		if (skip) {
			*w++ = '?';
			r += skip;
		} else
			*w++ = *r++;
	}
	*w = '\0';
	return s;
}

/* The same for a cell, whose short form (after TABLE_SHORT) is kept apart. */
static void cell_terminal_safe(char *s)
{
	char *sep = strchr(s, TABLE_SHORT[0]);
	size_t n;

	if (!sep) {
		text_terminal_safe(s);
		return;
	}
	*sep = '\0';
	text_terminal_safe(s);
	text_terminal_safe(sep + 1);
	n = strlen(s);
	s[n] = TABLE_SHORT[0];
	memmove(s + n + 1, sep + 1, strlen(sep + 1) + 1);
}

int table_add_row(struct table *t, const char *const *cells)
{
	char **a = reallocarray_safe(t->cells, (t->n_rows + 1) * t->n_columns, sizeof(char *));

	if (!a)
		return -ENOMEM;
	t->cells = a;
	for (size_t i = 0; i < t->n_columns; i++) {
		a[t->n_rows * t->n_columns + i] = strdup(cells[i] ?: "-");
		if (a[t->n_rows * t->n_columns + i])
			cell_terminal_safe(a[t->n_rows * t->n_columns + i]);
		if (!a[t->n_rows * t->n_columns + i]) {
			for (size_t j = 0; j < i; j++)
				free(a[t->n_rows * t->n_columns + j]);
			return -ENOMEM;
		}
	}
	t->n_rows++;
	return 0;
}

/* Columns a UTF-8 string takes on a terminal (continuation bytes take none); a cell's short
 * form (after TABLE_SHORT) does not count. */
static size_t text_width(const char *s)
{
	size_t n = 0;

	for (; *s && *s != TABLE_SHORT[0]; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Keeps the long form of the shrinking column's cells, or the short one (when there is one). */
static void cells_choose(struct table *t, bool short_form)
{
	for (size_t r = 0; r < t->n_rows; r++) {
		char *s = t->cells[r * t->n_columns + t->shrink], *sep = strchr(s, TABLE_SHORT[0]);

		if (sep && short_form)
			memmove(s, sep + 1, strlen(sep + 1) + 1);
		else if (sep)
			*sep = '\0';
	}
}

void table_set_shrink(struct table *t, size_t column)
{
	t->shrink = MIN(column, t->n_columns);
}

/* The terminal's width in columns; 0: not a terminal, no limit. */
static size_t terminal_width(void)
{
	struct winsize ws;
	const char *e = getenv("COLUMNS");
	char *end;
	unsigned long n;

	if (e && *e) {
		errno = 0;
		n = strtoul(e, &end, 10);
		if (errno == 0 && !*end && n > 0 && n < 100000)
			return n;
	}
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 0;
}

/* Cuts *s to at most width (≥ 1) terminal columns, its last one "…" when it was longer. */
static int text_cut(char **s, size_t width)
{
	size_t n = 0, len;
	char *p, *cut;

	if (text_width(*s) <= width)
		return 0;
	for (p = *s; *p; p++)
		if (((unsigned char)*p & 0xc0) != 0x80 && n++ == width - 1)
			break;
	len = (size_t)(p - *s);
	cut = malloc(len + sizeof("…"));
	if (!cut)
		return -ENOMEM;
	memcpy(cut, *s, len);
	memcpy(cut + len, "…", sizeof("…"));
	free(*s);
	*s = cut;
	return 0;
}

/* The width the shrinking column may have for the table to fit (at least its header's, or
 * 20), or SIZE_MAX when it fits or there is no limit. */
static size_t shrink_width(const struct table *t, const size_t *width)
{
	size_t limit = terminal_width(), total = 0, floor;

	if (t->shrink >= t->n_columns || limit == 0)
		return SIZE_MAX;
	for (size_t c = 0; c < t->n_columns; c++)
		total += width[c] + (c + 1 < t->n_columns ? 2 : 0);
	if (total <= limit)
		return SIZE_MAX;
	floor = MAX(text_width(t->cells[t->shrink]), (size_t)20);
	return MAX(floor, width[t->shrink] > total - limit ? width[t->shrink] - (total - limit) : 0);
}

int table_print(struct table *t, bool legend)
{
	_cleanup_free_ size_t *width = new0(size_t, t->n_columns);
	size_t cut;

	if (!width)
		return -ENOMEM;
	for (size_t r = legend ? 0 : 1; r < t->n_rows; r++)
		for (size_t c = 0; c < t->n_columns; c++)
			width[c] = MAX(width[c], text_width(t->cells[r * t->n_columns + c]));
	/* The shrinking column: its short forms when the table does not fit, then cut. */
	if (t->shrink < t->n_columns) {
		size_t *w = &width[t->shrink];

		cut = shrink_width(t, width);
		cells_choose(t, cut < *w);
		if (cut < *w) {
			*w = 0;
			for (size_t r = legend ? 0 : 1; r < t->n_rows; r++)
				*w = MAX(*w, text_width(t->cells[r * t->n_columns + t->shrink]));
			cut = shrink_width(t, width);
		}
		if (cut < *w) {
			for (size_t r = 0; r < t->n_rows; r++)
				if (text_cut(&t->cells[r * t->n_columns + t->shrink], cut) < 0)
					return -ENOMEM;
			*w = cut;
		}
	}
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

size_t json_len(json_object *a)
{
	return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

json_object *json_at(json_object *a, size_t i)
{
	return i < json_len(a) ? json_object_array_get_idx(a, i) : NULL;
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
