/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What goes over the wire is JSON text: what the Varlink server and client both need. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json-check.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/varlink-wire.h"
#include "lib/varlink.h"

int buf_reserve(char **buf, size_t *size, size_t need)
{
	size_t n;
	char *p;

	if (need <= *size)
		return 0;
	n = MAX(need, *size * 2);
	n = MAX(n, (size_t)4096);
	p = realloc(*buf, n);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*size = n;
	return 0;
}

/* Where the first byte that is not valid UTF-8 is, n when there is none. */
size_t utf8_valid_prefix(const char *p, size_t n)
{
	const uint8_t *s = (const uint8_t *)p;
	size_t i = 0;

	while (i < n) {
		uint64_t v;
		size_t k;

		/* ASCII, which is most, eight bytes at a time. */
		if (n - i >= 8 && (memcpy(&v, s + i, 8), (v & UINT64_C(0x8080808080808080)) == 0)) {
			i += 8;
			continue;
		}
		k = utf8_char_len(s + i, n - i);
		if (k == 0)
			return i;
		i += k;
	}
	return n;
}

/*
 * A copy of the n bytes at p with every byte that is not part of valid UTF-8 replaced by
 * U+FFFD. json-c writes out the bytes of strings as they are, and some come from sysfs or
 * files, never checked; a reply must still be valid JSON text. NUL-terminated.
 */
char *utf8_sanitize(const char *p, size_t n, size_t *ret_len)
{
	const uint8_t *s = (const uint8_t *)p;
	char *out;
	size_t o = 0;

	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	out = malloc(n * 3 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_char_len(s + i, n - i);

		if (k == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(out + o, p + i, k);
		o += k;
		i += k;
	}
	out[o] = 0;
	*ret_len = o;
	return out;
}

/*
 * Parses one received message, the n bytes at p: -EBADMSG unless it is valid JSON text
 * (RFC 8259, UTF-8) with no "\u0000" in an object key (json-c would cut "method\u0000x" to
 * "method"). json_text_check() decides; json-c builds what passed.
 */
int message_parse(const char *p, size_t n, json_object **ret)
{
	json_object *o;
	struct json_tokener *tok;
	int r;

	if (n > INT32_MAX)
		return -E2BIG;
	r = json_text_check(p, n);
	if (r < 0)
		return r;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, p, (int)n);
	if (!o && json_tokener_get_error(tok) == json_tokener_continue)
		o = json_tokener_parse_ex(tok, "", 1);	/* a number at the end has ended */
	/* A bare null parses to NULL: no message is one. */
	r = o && json_tokener_get_error(tok) == json_tokener_success ? 0 : -EBADMSG;
	json_tokener_free(tok);
	if (r < 0) {
		/* What passed the check and still failed: no memory. (An integer beyond 64 bits
		 * is not a failure: json-c clamps it.) */
		(void)json_object_put(o);
		return r;
	}
	*ret = o;
	return 0;
}

bool varlink_text_valid(const char *text, size_t n)
{
	return utf8_valid_prefix(text, n) == n;
}

int varlink_text_sanitize(char **text, size_t *n)
{
	char *fixed;

	if (utf8_valid_prefix(*text, *n) == *n)
		return 0;
	fixed = utf8_sanitize(*text, *n, n);
	if (!fixed)
		return -ENOMEM;
	free(*text);
	*text = fixed;
	return 0;
}
