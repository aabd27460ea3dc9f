/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "lib/macro.h"

/* json_object_put() returns int, so it cannot be a DEFINE_TRIVIAL_CLEANUP_FUNC target directly. */
static inline void json_object_putp(json_object **o)
{
	if (*o)
		(void)json_object_put(*o);
}
#define _cleanup_json_		_cleanup_(json_object_putp)

/* Compact, with "/" left alone: what goes on the wire and into files. */
#define JSON_FLAGS_WIRE		(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Adders that never fail silently: a NULL string or an absent value becomes JSON null. */
int json_add_str(json_object *o, const char *key, const char *s);
int json_add_int(json_object *o, const char *key, int64_t v);
int json_add_bool(json_object *o, const char *key, bool b);
int json_add_null(json_object *o, const char *key);
int json_add(json_object *o, const char *key, json_object *v);	/* takes v */
/* {key: value}, e.g. an error's parameters; NULL without memory. */
json_object *json_object_new_str_pair(const char *key, const char *value);
/* A string list as a JSON array (NULL: empty); NULL without memory. */
json_object *strv_to_json(char *const *l);

/*
 * Parses exactly the n bytes at p as one JSON value: trailing whitespace is allowed, trailing
 * garbage ("{} x") is not (json-c alone would accept it).
 */
int json_parse_exact(const char *p, size_t n, json_object **ret);

/* An optional integer input. */
struct json_opt_int {
	bool set;
	int64_t value;
};

enum json_field_type {
	JSON_FIELD_STRING,	/* const char *, borrowed from the object; no NUL inside */
	JSON_FIELD_INT,		/* struct json_opt_int, within [min, max] */
	JSON_FIELD_BOOL,	/* int: -1 absent, 0, 1 */
	JSON_FIELD_ANY,		/* json_object *, borrowed */
};

enum {
	JSON_FIELD_MANDATORY = 1 << 0,	/* absent or null is an error */
};

struct json_field {
	const char *name;
	enum json_field_type type;
	unsigned flags;
	size_t offset;
	/*
	 * JSON_FIELD_INT only: the accepted range, both ends included. Both 0 (a descriptor that
	 * names neither) means any int64 json-c can represent exactly: INT64_MIN + 1 to
	 * INT64_MAX. INT64_MIN itself is never accepted, because json-c clamps every smaller
	 * number to it without telling (and every number above INT64_MAX to a uint64, which is
	 * refused as out of range).
	 */
	int64_t min, max;
};

/*
 * Fills the struct at dest from the object o (which may be NULL: absent parameters) following
 * fields (terminated by a NULL name). Unknown keys, wrong types, strings with a NUL inside
 * ("\u0000": a C reader would see a shorter string than the peer sent), integers outside the
 * field's range and missing mandatory keys fail with -EINVAL and *reterr_field set to the
 * offending key. Absent and null are the same.
 */
int json_dispatch(json_object *o, const struct json_field *fields, void *dest,
		  const char **reterr_field);
