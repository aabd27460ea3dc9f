/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "lib/json-build.h"
#include "lib/json-util.h"

struct json_build json_build_new(void)
{
	json_object *o = json_object_new_object();

	return (struct json_build){ .o = o, .r = o ? 0 : -ENOMEM };
}

/*
 * Every key is a string literal (the header's macros see to it), added once to the new
 * object: json-c keeps it as it is instead of a copy, and does not look for it first.
 */
static void build_put(struct json_build *b, const char *key, json_object *v)
{
	if (b->r >= 0 && json_object_object_add_ex(b->o, key, v, JSON_C_OBJECT_ADD_KEY_IS_NEW |
							     JSON_C_OBJECT_ADD_CONSTANT_KEY) >= 0)
		return;
	(void)json_object_put(v);
	if (b->r >= 0)
		b->r = -ENOMEM;
}

/* A value made for key, or NULL for a null; made NULL is out of memory. */
static void build_made(struct json_build *b, const char *key, json_object *v)
{
	if (!v && b->r >= 0)
		b->r = -ENOMEM;
	build_put(b, key, v);
}

void (json_build_add)(struct json_build *b, const char *key, json_object *v)
{
	build_put(b, key, v);
}

void (json_build_str)(struct json_build *b, const char *key, const char *s)
{
	if (b->r < 0)
		return;
	if (s)
		build_made(b, key, json_object_new_string(s));
	else
		build_put(b, key, NULL);
}

void (json_build_int)(struct json_build *b, const char *key, int64_t v)
{
	if (b->r >= 0)
		build_made(b, key, json_object_new_int64(v));
}

void (json_build_bool)(struct json_build *b, const char *key, bool v)
{
	if (b->r >= 0)
		build_made(b, key, json_object_new_boolean(v));
}

void (json_build_opt_int)(struct json_build *b, const char *key, int64_t v)
{
	if (v < 0)
		build_put(b, key, NULL);
	else
		(json_build_int)(b, key, v);
}

void (json_build_opt_bool)(struct json_build *b, const char *key, int v)
{
	if (v < 0)
		build_put(b, key, NULL);
	else
		(json_build_bool)(b, key, v);
}

void (json_build_strv)(struct json_build *b, const char *key, char *const *l, bool null_if_absent)
{
	if (b->r < 0)
		return;
	if (!l && null_if_absent)
		build_put(b, key, NULL);
	else
		build_made(b, key, strv_to_json(l));
}

int json_build_done(struct json_build *b, json_object **ret)
{
	int r = b->r;

	if (r < 0) {
		(void)json_object_put(b->o);
		b->o = NULL;
		return r;
	}
	*ret = b->o;
	b->o = NULL;
	return 0;
}
