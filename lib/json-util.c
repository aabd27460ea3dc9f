/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "lib/json-util.h"

int json_add(json_object *o, const char *key, json_object *v)
{
	/* Always consumes v: json-c leaves it with the caller when adding fails. */
	if (!o || json_object_object_add(o, key, v) < 0) {
		(void)json_object_put(v);
		return o ? -ENOMEM : -EINVAL;
	}
	return 0;
}

json_object *json_object_new_str_pair(const char *key, const char *value)
{
	json_object *o = json_object_new_object();

	if (o && json_add_str(o, key, value) < 0) {
		(void)json_object_put(o);
		return NULL;
	}
	return o;
}

json_object *strv_to_json(char *const *l)
{
	json_object *a = json_object_new_array();

	for (char *const *s = l; a && s && *s; s++) {
		json_object *v = json_object_new_string(*s);

		if (!v || json_object_array_add(a, v) < 0) {
			(void)json_object_put(v);
			(void)json_object_put(a);
			return NULL;
		}
	}
	return a;
}

int json_add_str(json_object *o, const char *key, const char *s)
{
	json_object *v = NULL;

	if (s) {
		v = json_object_new_string(s);
		if (!v)
			return -ENOMEM;
	}
	return json_add(o, key, v);
}

int json_add_int(json_object *o, const char *key, int64_t i)
{
	json_object *v = json_object_new_int64(i);

	if (!v)
		return -ENOMEM;
	return json_add(o, key, v);
}

int json_add_bool(json_object *o, const char *key, bool b)
{
	json_object *v = json_object_new_boolean(b);

	if (!v)
		return -ENOMEM;
	return json_add(o, key, v);
}

int json_add_null(json_object *o, const char *key)
{
	return json_add(o, key, NULL);
}

int json_parse_exact(const char *p, size_t n, json_object **ret)
{
	struct json_tokener *tok;
	json_object *o;
	size_t end;

	if (n > INT32_MAX)
		return -E2BIG;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, p, (int)n);
	if (!o && json_tokener_get_error(tok) == json_tokener_continue)
		/* Incomplete input: flush the tokener with an empty final chunk. */
		o = json_tokener_parse_ex(tok, "", 1);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		json_tokener_free(tok);
		(void)json_object_put(o);
		return -EBADMSG;
	}
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	for (; end < n; end++)
		if (!isspace((unsigned char)p[end])) {
			(void)json_object_put(o);
			return -EBADMSG;
		}
	*ret = o;
	return 0;
}

static const struct json_field *field_find(const struct json_field *fields, const char *name)
{
	for (const struct json_field *f = fields; f->name; f++)
		if (streq(f->name, name))
			return f;
	return NULL;
}

static int field_store(const struct json_field *f, json_object *v, void *dest)
{
	char *p = (char *)dest + f->offset;

	switch (f->type) {
	case JSON_FIELD_STRING: {
		const char *str;

		if (!json_object_is_type(v, json_type_string))
			return -EINVAL;
		str = json_object_get_string(v);
		/* json-c keeps "a\u0000b" whole; every C string function would stop at the NUL
		 * and act on "a": a different value than the one the peer sent. */
		if (strlen(str) != (size_t)json_object_get_string_len(v))
			return -EINVAL;
		*(const char **)p = str;
		return 0;
	}
	case JSON_FIELD_INT: {
		int64_t min = f->min, max = f->max, i;

		/* json-c parses 1.0 as a double; Varlink ints are whole numbers. */
		if (!json_object_is_type(v, json_type_int))
			return -EINVAL;
		if (min == 0 && max == 0) {
			min = INT64_MIN + 1;
			max = INT64_MAX;
		}
		errno = 0;
		i = json_object_get_int64(v);
		if (errno == ERANGE)
			return -EINVAL;
		/* Above INT64_MAX json-c keeps a uint64 and get_int64() says INT64_MAX; below
		 * INT64_MIN it stores INT64_MIN: neither is the number the peer sent. */
		if (i == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX)
			return -EINVAL;
		if (i == INT64_MIN || i < min || i > max)
			return -EINVAL;
		((struct json_opt_int *)p)->value = i;
		((struct json_opt_int *)p)->set = true;
		return 0;
	}
	case JSON_FIELD_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return -EINVAL;
		*(int *)p = json_object_get_boolean(v);
		return 0;
	case JSON_FIELD_ANY:
		*(json_object **)p = v;
		return 0;
	}
	return -EINVAL;
}

int json_dispatch(json_object *o, const struct json_field *fields, void *dest,
		  const char **reterr_field)
{
	if (o && !json_object_is_type(o, json_type_object)) {
		*reterr_field = "parameters";
		return -EINVAL;
	}

	/* Defaults first, so that absent and null look the same to the caller. */
	for (const struct json_field *f = fields; f->name; f++) {
		char *p = (char *)dest + f->offset;

		switch (f->type) {
		case JSON_FIELD_STRING:
			*(const char **)p = NULL;
			break;
		case JSON_FIELD_INT:
			*(struct json_opt_int *)p = (struct json_opt_int){};
			break;
		case JSON_FIELD_BOOL:
			*(int *)p = -1;
			break;
		case JSON_FIELD_ANY:
			*(json_object **)p = NULL;
			break;
		}
	}

	if (o) {
		json_object_object_foreach(o, key, v) {
			const struct json_field *f = field_find(fields, key);

			if (!f || (v && field_store(f, v, dest) < 0)) {
				*reterr_field = f ? f->name : key;
				return -EINVAL;
			}
		}
	}

	for (const struct json_field *f = fields; f->name; f++) {
		json_object *v = NULL;

		if (!(f->flags & JSON_FIELD_MANDATORY))
			continue;
		if (!o || !json_object_object_get_ex(o, f->name, &v) || !v) {
			*reterr_field = f->name;
			return -EINVAL;
		}
	}
	return 0;
}
