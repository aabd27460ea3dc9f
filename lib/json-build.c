/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "lib/json-build.h"
#include "lib/json-util.h"

struct json_build json_build_new(void)
{
	json_object *o = json_object_new_object();

	return (struct json_build){ .o = o, .r = o ? 0 : -ENOMEM };
}

void json_build_add(struct json_build *b, const char *key, json_object *v)
{
	if (b->r < 0) {
		(void)json_object_put(v);
		return;
	}
	b->r = json_add(b->o, key, v);
}

void json_build_str(struct json_build *b, const char *key, const char *s)
{
	if (b->r >= 0)
		b->r = json_add_str(b->o, key, s);
}

void json_build_int(struct json_build *b, const char *key, int64_t v)
{
	if (b->r >= 0)
		b->r = json_add_int(b->o, key, v);
}

void json_build_bool(struct json_build *b, const char *key, bool v)
{
	if (b->r >= 0)
		b->r = json_add_bool(b->o, key, v);
}

void json_build_opt_int(struct json_build *b, const char *key, int64_t v)
{
	if (b->r >= 0)
		b->r = v < 0 ? json_add_null(b->o, key) : json_add_int(b->o, key, v);
}

void json_build_opt_bool(struct json_build *b, const char *key, int v)
{
	if (b->r >= 0)
		b->r = v < 0 ? json_add_null(b->o, key) : json_add_bool(b->o, key, v);
}

void json_build_strv(struct json_build *b, const char *key, char *const *l, bool null_if_absent)
{
	json_object *a;

	if (b->r < 0)
		return;
	if (!l && null_if_absent) {
		b->r = json_add_null(b->o, key);
		return;
	}
	a = strv_to_json(l);
	b->r = a ? json_add(b->o, key, a) : -ENOMEM;
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
