/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An independent check that text is one JSON value (RFC 8259, UTF-8 by RFC 3629), written
 * plainly by recursive descent, for the tests to hold lib/json-check.c and the server's replies
 * against. Header-only: each test takes the rules it needs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>


struct json_oracle_rules {
	unsigned depth_max;	/* arrays and objects nest this deep at most */
	bool lone_surrogates;	/* "\ud800" alone is valid (RFC 8259 allows it) */
	bool key_nul;		/* "\u0000" may be in an object key */
};

struct jcheck {
	const uint8_t *p, *end;
	unsigned depth;
	const struct json_oracle_rules *rules;
};

static void ws(struct jcheck *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool lit(struct jcheck *j, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, s, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool digits(struct jcheck *j)
{
	const uint8_t *start = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > start;
}

static bool number(struct jcheck *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!(j->p < j->end && *j->p >= '1' && *j->p <= '9') || !digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!digits(j))
			return false;
	}
	return true;
}

static bool hex4(struct jcheck *j, unsigned *ret)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++, j->p++) {
		uint8_t c;

		if (j->p >= j->end)
			return false;
		c = *j->p;
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return false;
	}
	*ret = v;
	return true;
}

/* One UTF-8 character, strictly: no overlong forms, surrogates, or values past U+10FFFF. */
static bool utf8_char(struct jcheck *j)
{
	const uint8_t *s = j->p;
	size_t left = (size_t)(j->end - j->p);
	unsigned cp, n;

	if (s[0] < 0x80)
		n = 1, cp = s[0];
	else if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07;
	else
		return false;
	if (left < n)
		return false;
	for (unsigned i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return false;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	j->p += n;
	return true;
}

static bool string(struct jcheck *j, bool key)
{
	if (!lit(j, "\""))
		return false;
	while (j->p < j->end) {
		uint8_t c = *j->p;
		unsigned u;

		if (c == '"') {
			j->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c != '\\') {
			if (!utf8_char(j))
				return false;
			continue;
		}
		j->p++;
		if (j->p >= j->end)
			return false;
		c = *j->p++;
		if (strchr("\"\\/bfnrt", c) && c)
			continue;
		if (c != 'u' || !hex4(j, &u))
			return false;
		if (u >= 0xd800 && u <= 0xdfff && !j->rules->lone_surrogates)
			return false;
		if (u == 0 && key && !j->rules->key_nul)
			return false;
	}
	return false;
}

static bool value(struct jcheck *j);

static bool members(struct jcheck *j, bool object)
{
	if (++j->depth > j->rules->depth_max)
		return false;
	j->p++;
	ws(j);
	if (j->p < j->end && *j->p == (object ? '}' : ']')) {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		if (object) {
			ws(j);
			if (!string(j, true))
				return false;
			ws(j);
			if (!lit(j, ":"))
				return false;
		}
		if (!value(j))
			return false;
		ws(j);
		if (lit(j, ","))
			continue;
		if (!lit(j, object ? "}" : "]"))
			return false;
		j->depth--;
		return true;
	}
}

static bool value(struct jcheck *j)
{
	ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{':
		return members(j, true);
	case '[':
		return members(j, false);
	case '"':
		return string(j, false);
	case 't':
		return lit(j, "true");
	case 'f':
		return lit(j, "false");
	case 'n':
		return lit(j, "null");
	default:
		return number(j);
	}
}

static inline bool json_oracle_valid(const char *p, size_t n, const struct json_oracle_rules *rules)
{
	struct jcheck j = { .p = (const uint8_t *)p, .end = (const uint8_t *)p + n, .rules = rules };

	if (!value(&j))
		return false;
	ws(&j);
	return j.p == j.end;
}
