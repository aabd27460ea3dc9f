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
	case JSON_FIELD_STRING:
		if (!json_object_is_type(v, json_type_string))
			return -EINVAL;
		*(const char **)p = json_object_get_string(v);
		return 0;
	case JSON_FIELD_INT:
		/* json-c parses 1.0 as a double; Varlink ints are whole numbers. */
		if (!json_object_is_type(v, json_type_int))
			return -EINVAL;
		errno = 0;
		((struct json_opt_int *)p)->value = json_object_get_int64(v);
		if (errno == ERANGE)
			return -EINVAL;
		((struct json_opt_int *)p)->set = true;
		return 0;
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
