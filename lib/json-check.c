/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A strict JSON check that builds nothing. json-c has no such mode: its tokener makes an object
 * for every value, which for a large reply costs ten times what receiving it does, and in
 * strict mode it still takes NaN, "1." and raw control characters. This follows RFC 8259's
 * grammar one byte at a time, with a bit per level for whether it is in an object or an array.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "lib/json-check.h"

size_t utf8_char_len(const uint8_t *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))
			return 0;
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

static bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(uint8_t c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end)
{
	while (p < end && is_ws(*p))
		p++;
	return p;
}

#define BYTES(b) (UINT64_C(0x0101010101010101) * (b))

/*
 * The bytes of v (in memory order) below 0x20, at or above 0x80, a quote or a backslash, as
 * their top bits. Above the first of them a byte may be marked that is none (a borrow), never
 * below it: the first is exact.
 */
static uint64_t word_specials(uint64_t v)
{
	uint64_t quote = v ^ BYTES('"'), backslash = v ^ BYTES('\\');

	return (v | (v - BYTES(0x20)) | ((quote - BYTES(1)) & ~quote) |
		((backslash - BYTES(1)) & ~backslash)) & BYTES(0x80);
}

/*
 * The first byte from p on that is not printable ASCII or is a quote or a backslash, end when
 * there is none: the bulk of a string, sixteen or eight bytes at a time.
 */
static const uint8_t *skip_plain(const uint8_t *p, const uint8_t *end)
{
#ifdef __SSE2__
	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* Signed bytes: those at or above 0x80 are below 0x20. */
		unsigned special = (unsigned)_mm_movemask_epi8(_mm_or_si128(
			_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
				     _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
			_mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));

		if (special)
			return p + __builtin_ctz(special);
		p += 16;
	}
#endif
	while (end - p >= 8) {
		uint64_t v, special;

		memcpy(&v, p, 8);
		special = word_specials(v);
		if (special) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			p += __builtin_ctzll(special) / 8;
#endif
			break;
		}
		p += 8;
	}
	while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
		p++;
	return p;
}

/* p is past the opening quote; returns what follows the closing one, NULL when there is none. */
static const uint8_t *scan_string(const uint8_t *p, const uint8_t *end, bool key)
{
	for (;;) {
		size_t k;

		p = skip_plain(p, end);
		if (p == end)
			return NULL;
		if (*p == '"')
			return p + 1;
		if (*p < 0x20)
			return NULL;
		if (*p == '\\') {
			if (end - p < 2)
				return NULL;
			if (p[1] != 'u') {
				if (p[1] == 0 || !strchr("\"\\/bfnrt", p[1]))
					return NULL;
				p += 2;
				continue;
			}
			if (end - p < 6 || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) ||
			    !is_hex(p[5]))
				return NULL;
			if (key && memcmp(p + 2, "0000", 4) == 0)
				return NULL;
			p += 6;
			continue;
		}
		k = utf8_char_len(p, (size_t)(end - p));
		if (k == 0)
			return NULL;
		p += k;
	}
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; NULL when p holds no such number. */
static const uint8_t *scan_number(const uint8_t *p, const uint8_t *end)
{
	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		while (p < end && is_digit(*p))
			p++;
	else
		return NULL;
	if (p < end && *p == '.') {
		if (++p == end || !is_digit(*p))
			return NULL;
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !is_digit(*p))
			return NULL;
		while (p < end && is_digit(*p))
			p++;
	}
	return p;
}

static const uint8_t *scan_word(const uint8_t *p, const uint8_t *end, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

int json_text_check(const char *text, size_t n)
{
	const uint8_t *p = (const uint8_t *)text, *end = p + n;
	uint64_t in_object = 0;	/* bit d: level d + 1 is an object */
	unsigned depth = 0;

	p = skip_ws(p, end);
value:
	if (p == end)
		return -EBADMSG;
	switch (*p) {
	case '{':
	case '[':
		if (depth == JSON_CHECK_DEPTH_MAX)
			return -EBADMSG;
		if (*p == '{')
			in_object |= UINT64_C(1) << depth;
		else
			in_object &= ~(UINT64_C(1) << depth);
		depth++;
		p = skip_ws(p + 1, end);
		if (p < end && *p == (in_object >> (depth - 1) & 1 ? '}' : ']')) {
			p++;
			depth--;
			goto next;
		}
		if (in_object >> (depth - 1) & 1)
			goto key;
		goto value;
	case '"':
		p = scan_string(p + 1, end, false);
		break;
	case 't':
		p = scan_word(p, end, "true");
		break;
	case 'f':
		p = scan_word(p, end, "false");
		break;
	case 'n':
		p = scan_word(p, end, "null");
		break;
	default:
		p = scan_number(p, end);
		break;
	}
	if (!p)
		return -EBADMSG;
next:
	/* A value has ended: what may follow it depends on what holds it. */
	p = skip_ws(p, end);
	if (depth == 0)
		return p == end ? 0 : -EBADMSG;
	if (p == end)
		return -EBADMSG;
	if (*p == ',') {
		p = skip_ws(p + 1, end);
		if (in_object >> (depth - 1) & 1)
			goto key;
		goto value;
	}
	if (*p != (in_object >> (depth - 1) & 1 ? '}' : ']'))
		return -EBADMSG;
	p++;
	depth--;
	goto next;
key:
	if (p == end || *p != '"' || !(p = scan_string(p + 1, end, true)))
		return -EBADMSG;
	p = skip_ws(p, end);
	if (p == end || *p != ':')
		return -EBADMSG;
	p = skip_ws(p + 1, end);
	goto value;
}
