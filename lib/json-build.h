/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Building a JSON object key by key without an error check after each: the first failure
 * (-ENOMEM) sticks, later adds are skipped, and json_build_done() returns it.
 *
 *	struct json_build b = json_build_new();
 *	json_build_str(&b, "address", d->address);
 *	json_build_opt_int(&b, "numa_node", d->numa_node);
 *	return json_build_done(&b, ret);
 *
 * Keys are string literals, each added once: json-c keeps them, uncopied, unlooked-for. The
 * macros below refuse anything else at compile time.
 */

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

struct json_build {
	json_object *o;
	int r;
};

struct json_build json_build_new(void);
/* Takes v (NULL: a null). */
void (json_build_add)(struct json_build *b, const char *key, json_object *v);
/* NULL is a null. */
void (json_build_str)(struct json_build *b, const char *key, const char *s);
void (json_build_int)(struct json_build *b, const char *key, int64_t v);
void (json_build_bool)(struct json_build *b, const char *key, bool v);
/* The "-1 or negative: absent" convention of the snapshots: null when v < 0. */
void (json_build_opt_int)(struct json_build *b, const char *key, int64_t v);
void (json_build_opt_bool)(struct json_build *b, const char *key, int v);
/* A string list as an array; NULL is [] or, with null_if_absent, a null. */
void (json_build_strv)(struct json_build *b, const char *key, char *const *l, bool null_if_absent);
/* The object in *ret, or the first error (nothing in *ret, the object freed). */
int json_build_done(struct json_build *b, json_object **ret);

#define json_build_add(b, key, v)	(json_build_add)(b, "" key, v)
#define json_build_str(b, key, s)	(json_build_str)(b, "" key, s)
#define json_build_int(b, key, v)	(json_build_int)(b, "" key, v)
#define json_build_bool(b, key, v)	(json_build_bool)(b, "" key, v)
#define json_build_opt_int(b, key, v)	(json_build_opt_int)(b, "" key, v)
#define json_build_opt_bool(b, key, v)	(json_build_opt_bool)(b, "" key, v)
#define json_build_strv(b, key, l, n)	(json_build_strv)(b, "" key, l, n)
