/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * How deep arrays and objects may nest, so that what passes json-c also parses: its tokener
 * takes 32 levels only when the deepest is empty, 31 with anything in them.
 */
#define JSON_CHECK_DEPTH_MAX	31U

/*
 * The length of the UTF-8 sequence at s (n > 0 bytes there), by RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF; 0 when it is not one.
 */
size_t utf8_char_len(const uint8_t *s, size_t n);

/*
 * 0 when the n bytes at p are one JSON value (RFC 8259), with whitespace around it and nothing
 * else; -EBADMSG otherwise. Strings must be UTF-8 without raw control characters, and an object
 * key may not hold "\u0000" (json-c would cut the key there). Nothing is built: this is the
 * check alone, for text that is passed on as it came; json_tokener builds what is read.
 */
int json_text_check(const char *p, size_t n);
