/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json_text_check(), the check that builds nothing, against RFC 8259 case by case, against the
 * plain recursive-descent oracle of tests/json-oracle.h on random mutations of JSON texts, and
 * against json-c: whatever passes, json-c parses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "lib/json-check.h"
#include "lib/macro.h"
#include "tests.h"
#include "tests/json-oracle.h"

static const struct json_oracle_rules rules = {
	.depth_max = JSON_CHECK_DEPTH_MAX,
	.lone_surrogates = true,
};

static void print_text(const char *p, size_t n)
{
	printf("# text (%zu bytes): ", n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			putchar(c);
		else
			printf("\\x%02x", c);
	}
	putchar('\n');
}

/* Parses exactly the n bytes, strictly, as the Varlink code does after the check. */
static bool json_c_parses(const char *p, size_t n)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;
	bool ok;

	ASSERT_NOT_NULL(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, p, (int)n);
	if (!o && json_tokener_get_error(tok) == json_tokener_continue) {
		o = json_tokener_parse_ex(tok, "", 1);	/* the end: all of it was taken */
		n = 0;
	}
	ok = json_tokener_get_error(tok) == json_tokener_success;	/* null is NULL */
	if (ok)
		for (size_t end = json_tokener_get_parse_end(tok); end < n; end++)
			if (!strchr(" \t\n\r", p[end]) || p[end] == 0)
				ok = false;
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

static char *nested(unsigned depth, bool objects)
{
	char *s = malloc(depth * 6 + 2);
	size_t n = 0;

	ASSERT_NOT_NULL(s);
	for (unsigned i = 0; i < depth; i++)
		n += (size_t)sprintf(s + n, "%s", objects ? "{\"a\":" : "[");
	s[n++] = '1';
	for (unsigned i = 0; i < depth; i++)
		s[n++] = objects ? '}' : ']';
	s[n] = 0;
	return s;
}

TEST(rfc8259_values_pass)
{
	static const char *const good[] = {
		"0", "-0", "1.5e+3", "-12.25E-7", "1e400", "123456789012345678", " [ ] ", "{}",
		"\t{\r\n}\n", "true", "false", "null", "\"\"",
		"{\"a\":[1,{\"b\":null}],\"c\":\"\\u00e9\\ud83d\\ude00\",\"d\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
		"\"\\ud800\"",				/* a lone surrogate is valid JSON */
		"\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"",
		"\"\\u0000\"", "{\"a\":\"\\u0000\"}",	/* a NUL in a value */
		"{\"\\\\u0000\":1}",			/* a backslash, then "u0000" */
		"[1,[2,[3]],{\"x\":{}}]",
	};

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		printf("# %s\n", good[i]);
		ASSERT_OK(json_text_check(good[i], strlen(good[i])));
		ASSERT_TRUE(json_c_parses(good[i], strlen(good[i])));
	}
}

TEST(what_is_not_json_fails)
{
	static const char *const bad[] = {
		"", " ", "01", "-01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "NaN", "Infinity",
		"-Infinity", "nan", "[1,]", "[,1]", "{\"a\":1,}", "{'a':1}", "\"a\tb\"", "\"a\nb\"",
		"\"\x1f\"", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\U0041\"", "\"\\'\"", "tru",
		"truex", "True", "nul", "[1 2]", "{\"a\" 1}", "{\"a\"}", "{1:2}", "{\"a\":}",
		"\"\xc0\x80\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xff\"", "\"\xc3\"",
		"\"\xe2\x82\"", "\"\x80\"", "{} x", "{}{}", "[", "]", "[[]", "[]]", "{\"a\":1",
		"\"abc", "\"abc\\\"", "/* c */ 1", "1 // c", "[1]\v",
		"{\"n\\u0000x\":1}", "{\"\\u0000\":1}",	/* json-c would cut the key */
	};
	static const char nul[] = "[1,\0 2]";
	_cleanup_free_ char *deep = nested(JSON_CHECK_DEPTH_MAX + 1, false);
	_cleanup_free_ char *deep_objects = nested(JSON_CHECK_DEPTH_MAX + 1, true);
	_cleanup_free_ char *ok = nested(JSON_CHECK_DEPTH_MAX, false);
	_cleanup_free_ char *ok_objects = nested(JSON_CHECK_DEPTH_MAX, true);

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		printf("# %s\n", bad[i]);
		ASSERT_ERROR(json_text_check(bad[i], strlen(bad[i])), EBADMSG);
	}
	ASSERT_ERROR(json_text_check(nul, sizeof(nul) - 1), EBADMSG);
	ASSERT_ERROR(json_text_check(deep, strlen(deep)), EBADMSG);
	ASSERT_ERROR(json_text_check(deep_objects, strlen(deep_objects)), EBADMSG);
	/* json-c's own depth: what passes at the limit, json-c still parses. */
	ASSERT_OK(json_text_check(ok, strlen(ok)));
	ASSERT_TRUE(json_c_parses(ok, strlen(ok)));
	ASSERT_OK(json_text_check(ok_objects, strlen(ok_objects)));
	ASSERT_TRUE(json_c_parses(ok_objects, strlen(ok_objects)));
	ASSERT_FALSE(json_c_parses(deep, strlen(deep)));
}

/* xorshift64: the same sequence on every run, so that a failure can be replayed. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* One edit of buf (length *n, room for size): a byte replaced, inserted or dropped, a slice
 * repeated, or the end cut. Bytes come mostly from what JSON is made of. */
static void mutate(char *buf, size_t *n, size_t size)
{
	static const char interesting[] = "{}[],:\"\\ u0123456789eE.+-tfnrlasb\t\n/*'\x1f\x7f"
					  "\x80\xbf\xc0\xc3\xa9\xe2\xed\xa0\xf0\xf4\x90\xff";
	char c = rnd() % 4 ? interesting[rnd() % (sizeof(interesting) - 1)] : (char)rnd();
	size_t at = *n ? (size_t)(rnd() % *n) : 0;

	switch (rnd() % 6) {
	case 0:
	case 1:
		if (*n)
			buf[at] = c;
		break;
	case 2:
		if (*n + 1 <= size) {
			memmove(buf + at + 1, buf + at, *n - at);
			buf[at] = c;
			(*n)++;
		}
		break;
	case 3:
		if (*n) {
			memmove(buf + at, buf + at + 1, *n - at - 1);
			(*n)--;
		}
		break;
	case 4: {
		size_t len = *n - at < 8 ? *n - at : (size_t)(rnd() % 8);

		if (*n + len <= size) {
			memmove(buf + at + len, buf + at, *n - at);
			(*n) += len;
		}
		break;
	}
	default:
		*n = at;
		break;
	}
}

TEST(agrees_with_the_oracle_and_json_c_parses_what_passes)
{
	static const char *const seeds[] = {
		"{\"devices\":[{\"address\":\"0000:00:00.0\",\"vendor_id\":32902,\"vendor_name\":"
		"\"Intel Corporation\",\"name\":\"caf\xc3\xa9 \\u00e9 \xf0\x9f\x98\x80\",\"link\":"
		"{\"speed_gts\":8.0,\"width\":16},\"ok\":true,\"x\":null,\"e\":-1.5e-3,\"l\":[],"
		"\"o\":{}}]}",
		"[[[[[\"\\ud83d\\ude00\",\"\\ud800\"]]]]]",
		"{\"a\":\"\\\\u0000\",\"b\\\"\":[0,-0,1E+2,false],\"\\u0000\":\"\\u0000\"}",
		" [ 1 , { \"k\" : \"v\" } ] ",
		"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
		/* Strings long enough to be looked at 16 and 8 bytes at a time. */
		"[\"0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\","
		"\"0123456789abcde caf\xc3\xa9 0123456789abcdef\\n0123456789abcdef\\u00e9 0123\"]",
	};
	_cleanup_free_ char *deep = nested(JSON_CHECK_DEPTH_MAX, false);
	unsigned passed = 0, lax = 0, total = 0;
	char buf[1024];

	for (size_t s = 0; s <= ELEMENTSOF(seeds); s++) {
		const char *seed = s < ELEMENTSOF(seeds) ? seeds[s] : deep;

		for (unsigned round = 0; round < 30000; round++) {
			size_t n = strlen(seed);
			unsigned edits = 1 + (unsigned)(rnd() % 3);
			bool check, oracle;

			ASSERT_TRUE(n <= sizeof(buf));
			memcpy(buf, seed, n);
			for (unsigned e = 0; e < edits; e++)
				mutate(buf, &n, sizeof(buf));
			check = json_text_check(buf, n) == 0;
			oracle = json_oracle_valid(buf, n, &rules);
			if (check != oracle) {
				print_text(buf, n);
				TEST_FAIL("json_text_check says %s, the oracle %s", check ? "valid" : "invalid",
					  oracle ? "valid" : "invalid");
			}
			if (check && !json_c_parses(buf, n)) {
				print_text(buf, n);
				TEST_FAIL("passed the check, but json-c does not parse it");
			}
			if (!check && json_c_parses(buf, n))
				lax++;	/* json-c's laxness: what the check is for */
			passed += check;
			total++;
		}
	}
	printf("# %u texts, %u valid, %u more that json-c alone would take\n", total, passed, lax);
	/* The mutations must reach both verdicts, or the comparison says nothing. */
	ASSERT_TRUE(passed > total / 20 && passed < total - total / 20);
	ASSERT_TRUE(lax > 0);
}

DEFINE_TEST_MAIN
