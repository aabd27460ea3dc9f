/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Inside lib/: the Varlink server's and client's common ground (lib/varlink-wire.c). */
#pragma once

#include <stddef.h>

#include <json-c/json.h>

#define READ_CHUNK (64U * 1024U)

/* Grows *buf to at least need bytes (doubling); -ENOMEM leaves it as it was. */
int buf_reserve(char **buf, size_t *size, size_t need);
/* Where the first byte that is not valid UTF-8 is, n when there is none. */
size_t utf8_valid_prefix(const char *p, size_t n);
/* A NUL-terminated copy of p[0, n) with each byte that is not valid UTF-8 as U+FFFD. */
char *utf8_sanitize(const char *p, size_t n, size_t *ret_len);
/* One received message: -EBADMSG unless it is valid JSON text with no NUL in a key. */
int message_parse(const char *p, size_t n, json_object **ret);
